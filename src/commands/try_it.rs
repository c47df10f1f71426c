//! `serverless-cli try`: the tutorial's "Try out", as checks with a clear verdict.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::cli::{GlobalArgs, TryArgs};
use crate::error::UsageError;
use crate::http_client::{Client, Reply};
use crate::stack::{self, PATH_PART};

/// The fields the handler stores.
const FIELDS: [&str; 3] = ["uid", "username", "email"];

#[derive(Debug, Serialize)]
struct Check {
    name: String,
    request: String,
    expected_status: u16,
    status: Option<u16>,
    ok: bool,
    latency_ms: Option<f64>,
    /// What was wrong, or what was seen.
    detail: String,
}

/// The stage's base URL: `--url` (a trailing `/user` or `/` is dropped), or the deployed one.
async fn base_url(global: &GlobalArgs, args: &TryArgs, stage: &str) -> anyhow::Result<String> {
    if let Some(raw) = &args.url {
        // Printed only with any credentials left out.
        let url = &crate::aws::redact_url(raw);
        if url != raw {
            return Err(UsageError(format!(
                "--url {url}: carries credentials (user:password@), which try would send in clear text and print; give the URL without them"
            ))
            .into());
        }
        if raw.contains(['?', '#']) {
            return Err(UsageError(format!(
                "--url {url}: has a query or fragment; give the stage's base URL alone, such as http://127.0.0.1:3000/prod"
            ))
            .into());
        }
        let trimmed = raw.trim_end_matches('/');
        let trimmed = trimmed
            .strip_suffix(&format!("/{PATH_PART}"))
            .unwrap_or(trimmed);
        let uri: hyper::Uri = trimmed.parse().map_err(|e| {
            UsageError(format!(
                "--url {url}: not a URL ({e}); give the stage's base URL, such as http://127.0.0.1:3000/prod"
            ))
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(UsageError(format!(
                "--url {url}: give an http:// or https:// URL with a host, such as http://127.0.0.1:3000/prod"
            ))
            .into());
        }
        return Ok(trimmed.to_string());
    }
    // The state where it lives (read only: try calls the API, not AWS's control plane).
    let target = crate::session::target(global).await?;
    let (store, _) = crate::session::store_at(
        &crate::session::location(global)?,
        &global.stack,
        &target,
        &crate::session::journal_dir(),
    )
    .await?;
    let Some(state) = store.load().await? else {
        return Err(UsageError(format!(
            "stack '{}' has no state file ({}); deploy it first, or pass --url (e.g. the URL serve prints)",
            global.stack,
            store.describe()
        ))
        .into());
    };
    if let Some(endpoint) = &state.endpoint {
        return Err(UsageError(format!(
            "stack '{}' lives on the emulator at {endpoint}, which does not serve API URLs; run `serverless-cli serve` and pass the URL it prints with --url",
            state.stack
        ))
        .into());
    }
    match (
        state.get::<crate::kinds::rest_api::ApiRecord>(crate::kinds::graph::key::REST_API),
        state.has(&crate::kinds::graph::key::stage(stage)),
    ) {
        (Some(api), true) => Ok(stack::stage_url(&api.id, &state.region, stage)),
        _ => Err(UsageError(format!(
            "stack '{}' is not fully deployed (no stage yet); run deploy first",
            state.stack
        ))
        .into()),
    }
}

/// The user to post: `--data`, checked, or a new sample.
fn user(args: &TryArgs) -> Result<Map<String, Value>, UsageError> {
    let Some(data) = &args.data else {
        let uid = format!("try-{}", &crate::ids::request_id()[..8]);
        let mut m = Map::new();
        m.insert("uid".into(), json!(uid));
        m.insert("username".into(), json!("Ada Lovelace"));
        m.insert("email".into(), json!("ada@example.com"));
        return Ok(m);
    };
    let v: Value = serde_json::from_str(data)
        .map_err(|e| UsageError(format!("--data is not valid JSON ({e}); give an object such as '{{\"uid\":\"1\",\"username\":\"Ada\",\"email\":\"ada@example.com\"}}'")))?;
    let Value::Object(m) = v else {
        return Err(UsageError(
            "--data must be a JSON object with a string uid".to_string(),
        ));
    };
    match m.get("uid") {
        Some(Value::String(s)) if !s.is_empty() => {}
        _ => {
            return Err(UsageError(
                "--data needs a non-empty string uid: try reads the user back by it".to_string(),
            ))
        }
    }
    for f in ["username", "email"] {
        if m.get(f).is_some_and(|v| !v.is_string() && !v.is_null()) {
            return Err(UsageError(format!("--data: {f} must be a string")));
        }
    }
    Ok(m)
}

/// A path segment with everything but unreserved characters percent-encoded.
fn path_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Right after a deploy a new role policy takes seconds to reach Lambda, and the function
/// answers 500 meanwhile: a 500 is tried again once a second, within one window shared by all
/// the checks (`--settle`), and each retry is said on stderr.
struct Settle {
    until: std::time::Instant,
    pause: std::time::Duration,
}

impl Settle {
    async fn send(
        &self,
        client: &Client,
        method: &str,
        url: &str,
        body: Option<&str>,
    ) -> Result<Reply, String> {
        loop {
            let reply = client.send(method, url, body).await;
            match &reply {
                Ok(r)
                    if r.status == 500 && std::time::Instant::now() + self.pause <= self.until =>
                {
                    eprintln!(
                        "{method} {url} answered 500 (right after a deploy the function's new permissions can take a few seconds to reach Lambda); retrying in {:.0} s",
                        self.pause.as_secs_f64().max(1.0)
                    );
                    tokio::time::sleep(self.pause).await;
                }
                _ => return reply,
            }
        }
    }
}

fn check(
    name: &str,
    request: String,
    expected_status: u16,
    reply: Result<Reply, String>,
    judge: impl FnOnce(&Value) -> Result<String, String>,
) -> Check {
    match reply {
        Err(e) => Check {
            name: name.to_string(),
            request,
            expected_status,
            status: None,
            ok: false,
            latency_ms: None,
            detail: format!("no answer: {e}"),
        },
        Ok(r) => {
            let latency_ms = Some((r.latency.as_secs_f64() * 1e5).round() / 100.0);
            let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            let verdict = if r.status != expected_status {
                Err(format!(
                    "expected {expected_status}, got {}: {}",
                    r.status,
                    r.body.chars().take(300).collect::<String>()
                ))
            } else {
                judge(&body)
            };
            let (ok, detail) = match verdict {
                Ok(d) => (true, d),
                Err(d) => (false, d),
            };
            Check {
                name: name.to_string(),
                request,
                expected_status,
                status: Some(r.status),
                ok,
                latency_ms,
                detail,
            }
        }
    }
}

/// Whether a model's routes are the tutorial's (the tutorial's checks apply to them).
fn has_tutorial_routes(spec: &stack::StackSpec) -> bool {
    let tutorial = stack::routes();
    let label = |r: &stack::RouteSpec| (r.label(), r.request_template.clone());
    let mut want: Vec<_> = tutorial
        .iter()
        .filter(|r| r.http_method != "DELETE")
        .map(label)
        .collect();
    let mut have: Vec<_> = spec.routes.iter().map(label).collect();
    want.sort();
    have.sort();
    want == have
}

pub async fn run(global: &GlobalArgs, args: &TryArgs) -> anyhow::Result<i32> {
    let file = crate::session::stack_file(global)?;
    let user = user(args)?;
    let spec = file
        .as_ref()
        .map(|f| f.spec(&global.stack, "us-east-1", "000000000000"));
    let stage = spec
        .as_ref()
        .map_or_else(|| stack::STAGE.to_string(), |s| s.api.stage.clone());
    let base = base_url(global, args, &stage).await?;
    let client = Client::new(args.request_timeout)?;
    let settle = Settle {
        until: std::time::Instant::now() + args.settle,
        pause: std::time::Duration::from_secs(1).mul_f64(crate::aws::retry_scale()),
    };
    let tutorial = spec.as_ref().is_none_or(has_tutorial_routes);
    let mut checks = Vec::new();
    if tutorial {
        tutorial_checks(&client, &settle, &base, &user, &mut checks).await;
    }
    if let Some(f) = &file {
        file_checks(&client, &settle, &base, &f.doc.tries, &mut checks).await;
    }
    let uid = if tutorial {
        user["uid"].as_str().unwrap_or_default().to_string()
    } else {
        String::new()
    };
    report(global, &base, &uid, &checks)
}

/// The stack file's `[[try]]` requests, in order; `${run}` is an id new to this run.
async fn file_checks(
    client: &Client,
    settle: &Settle,
    base: &str,
    tries: &[crate::stackfile::TryDoc],
    checks: &mut Vec<Check>,
) {
    let run_id = crate::ids::request_id()[..8].to_string();
    let fill = |s: &str| s.replace("${run}", &run_id);
    for (i, t) in tries.iter().enumerate() {
        let method = t.method.to_ascii_uppercase();
        let path = fill(&t.path);
        let body = t.body.as_deref().map(fill);
        let url = format!("{base}{path}");
        let reply = settle.send(client, &method, &url, body.as_deref()).await;
        let name = t.name.clone().unwrap_or_else(|| format!("try[{i}]"));
        let expect = t.expect.as_deref().map(fill);
        checks.push(check(
            &name,
            format!("{method} {path}"),
            t.status,
            reply,
            |b| {
                let text = if b.is_null() {
                    String::new()
                } else {
                    b.to_string()
                };
                match &expect {
                    Some(want) if !text.contains(want.as_str()) => {
                        Err(format!("expected the body to contain {want:?}, got {text}"))
                    }
                    _ => Ok(text.chars().take(200).collect()),
                }
            },
        ));
    }
}

/// The tutorial's "Try out": post a user, read it back, an unknown uid, an invalid body.
async fn tutorial_checks(
    client: &Client,
    settle: &Settle,
    base: &str,
    user: &Map<String, Value>,
    checks: &mut Vec<Check>,
) {
    let uid = user["uid"].as_str().unwrap_or_default().to_string();
    let text = |k: &str| {
        user.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let posted = Value::Object(user.clone()).to_string();
    let users = format!("{base}/{PATH_PART}");

    // 1. The tutorial's POST, and its message.
    let want_message = format!(
        "Put user {} with email {} to DynamoDB.",
        text("username"),
        text("email")
    );
    let reply = settle.send(client, "POST", &users, Some(&posted)).await;
    checks.push(check(
        "post",
        format!("POST /{PATH_PART}"),
        200,
        reply,
        |b| match b["message"].as_str() {
            Some(m) if m == want_message => Ok(m.to_string()),
            _ => Err(format!("expected message {want_message:?}, got {b}")),
        },
    ));

    // 2. Read it back: the same fields.
    let item_url = format!("{users}/{}", path_segment(&uid));
    let reply = settle.send(client, "GET", &item_url, None).await;
    let stored: Map<String, Value> = FIELDS
        .iter()
        .filter_map(|f| match user.get(*f) {
            Some(Value::String(s)) => Some((f.to_string(), json!(s))),
            _ => None,
        })
        .collect();
    checks.push(check(
        "get",
        format!("GET /{PATH_PART}/{}", path_segment(&uid)),
        200,
        reply,
        |b| {
            if *b == Value::Object(stored.clone()) {
                Ok(b.to_string())
            } else {
                Err(format!(
                    "expected the posted user {}, got {b}",
                    Value::Object(stored.clone())
                ))
            }
        },
    ));

    // 3. A uid nobody posted: 404.
    let unknown = format!("{uid}-absent-{}", &crate::ids::request_id()[..8]);
    let reply = settle
        .send(
            client,
            "GET",
            &format!("{users}/{}", path_segment(&unknown)),
            None,
        )
        .await;
    checks.push(check(
        "get-unknown",
        format!("GET /{PATH_PART}/{}", path_segment(&unknown)),
        404,
        reply,
        |b| Ok(b["message"].as_str().unwrap_or_default().to_string()),
    ));

    // 4. An invalid body (no uid): 400, refused by the function's validation.
    let invalid = r#"{"username":"no uid"}"#;
    let reply = settle.send(client, "POST", &users, Some(invalid)).await;
    checks.push(check(
        "invalid-body",
        format!("POST /{PATH_PART} {invalid}"),
        400,
        reply,
        |b| Ok(b["message"].as_str().unwrap_or_default().to_string()),
    ));
}

fn report(global: &GlobalArgs, base: &str, uid: &str, checks: &[Check]) -> anyhow::Result<i32> {
    let passed = checks.iter().filter(|c| c.ok).count();
    let ok = passed == checks.len();
    let mut lines = Vec::new();
    for c in checks {
        lines.push(format!(
            "{:<4}  {} -> {}{}: {}",
            if c.ok { "ok" } else { "FAIL" },
            c.request,
            c.status
                .map_or_else(|| "no answer".to_string(), |s| s.to_string()),
            c.latency_ms
                .map(|l| format!(" in {l:.0} ms"))
                .unwrap_or_default(),
            c.detail
        ));
    }
    lines.push(format!(
        "{passed} of {} checks passed against {base}{}.",
        checks.len(),
        if uid.is_empty() {
            String::new()
        } else {
            format!(" (uid {uid})")
        }
    ));
    let doc = json!({
        "command": "try",
        "ok": ok,
        "url": base,
        "uid": uid,
        "passed": passed,
        "checks": checks,
    });
    crate::report::emit(global.output, &doc, &(lines.join("\n") + "\n"));
    Ok(if ok { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("a b/c%é"), "a%20b%2Fc%25%C3%A9");
        assert_eq!(path_segment("try-1.x_~"), "try-1.x_~");
    }
}
