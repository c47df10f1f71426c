//! `try`'s end-to-end checks over HTTP: the tutorial's "Try out" (post a user, read it back,
//! an unknown uid, a bad body) and a stack file's `[[try]]` requests, each with its verdict.
//! A 500 right after a deploy is tried again within one settle window.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::http_client::{Client, Reply};
use crate::stack::{self, PATH_PART};

/// The fields the handler stores.
const FIELDS: [&str; 3] = ["uid", "username", "email"];

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub request: String,
    pub expected_status: u16,
    pub status: Option<u16>,
    pub ok: bool,
    pub latency_ms: Option<f64>,
    /// What was wrong, or what was seen.
    pub detail: String,
}

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
pub struct Settle {
    pub until: std::time::Instant,
    pub pause: std::time::Duration,
}

impl Settle {
    async fn send(
        &self,
        client: &Client,
        method: &str,
        url: &str,
        body: Option<&str>,
    ) -> Result<Reply, String> {
        self.send_with(client, method, url, &[], body).await
    }

    async fn send_with(
        &self,
        client: &Client,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<Reply, String> {
        loop {
            let reply = client.send_with(method, url, headers, body).await;
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

/// Whether a model's routes are the tutorial's (the tutorial's checks apply to them): its
/// routes with its templates, or the same routes with Lambda proxy integration (`init
/// --proxy`, whose handler answers the same).
pub fn has_tutorial_routes(spec: &stack::StackSpec) -> bool {
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
    let proxied = spec
        .routes
        .iter()
        .all(|r| r.integration == stack::IntegrationKind::Proxy);
    let labels =
        |v: &[(String, Option<String>)]| v.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>();
    want == have || (proxied && labels(&want) == labels(&have))
}

/// What `[[try]]` requests send as a caller: API keys' values by logical name, and each
/// signed-in user's header and tokens. Held in memory for the run; never printed.
#[derive(Default)]
pub struct Callers {
    pub keys: std::collections::HashMap<String, String>,
    pub users: std::collections::HashMap<String, SignedIn>,
}

/// A `[try_users]` user's tokens, and the header its authorizer reads them from.
pub struct SignedIn {
    pub header: String,
    pub id_token: String,
    pub access_token: String,
}

/// The headers a request sends as its caller, and the words the report says of them (the
/// key's and the user's names, never a value).
fn caller_headers(
    t: &crate::stackfile::TryDoc,
    callers: &Callers,
) -> (Vec<(String, String)>, String) {
    let mut headers = Vec::new();
    let mut who = Vec::new();
    if let Some(value) = t.api_key.as_ref().and_then(|k| callers.keys.get(k)) {
        headers.push(("x-api-key".to_string(), value.clone()));
        who.push(format!("key {}", t.api_key.as_deref().unwrap_or_default()));
    }
    if let Some(u) = t.user.as_ref().and_then(|u| callers.users.get(u)) {
        let access = t.token == Some(crate::stackfile::auth::TokenUse::Access);
        let token = if access { &u.access_token } else { &u.id_token };
        headers.push((u.header.clone(), token.clone()));
        who.push(format!(
            "{} token of {}",
            if access { "access" } else { "ID" },
            t.user.as_deref().unwrap_or_default()
        ));
    }
    let said = if who.is_empty() {
        String::new()
    } else {
        format!(" (as {})", who.join(", "))
    };
    (headers, said)
}

/// Signs a user in to a Cognito user pool (`InitiateAuth`, USER_PASSWORD_AUTH: an unsigned
/// call, as apps make it) at `endpoint` (Cognito's in the pool's region, or the emulator):
/// (ID token, access token). The error names Cognito's reason, never the password.
pub async fn sign_in(
    client: &Client,
    endpoint: &str,
    client_id: &str,
    username: &str,
    password: &str,
) -> Result<(String, String), String> {
    let body = json!({
        "AuthFlow": "USER_PASSWORD_AUTH",
        "ClientId": client_id,
        "AuthParameters": {"USERNAME": username, "PASSWORD": password},
    })
    .to_string();
    let reply = client
        .send_with(
            "POST",
            endpoint,
            &[
                ("content-type", "application/x-amz-json-1.1"),
                (
                    "x-amz-target",
                    "AWSCognitoIdentityProviderService.InitiateAuth",
                ),
            ],
            Some(&body),
        )
        .await?;
    let v: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    if reply.status != 200 {
        let kind = v["__type"].as_str().unwrap_or("an error");
        let why = v["message"].as_str().unwrap_or_default();
        return Err(crate::report::printable(&format!(
            "Cognito answered {} {kind}{}{why}",
            reply.status,
            if why.is_empty() { "" } else { ": " }
        ))
        .into_owned());
    }
    if v["ChallengeName"].is_string() {
        return Err(format!(
            "Cognito asks for the {} challenge (e.g. a new password or MFA); sign the user in once by hand, then try again",
            crate::report::printable(v["ChallengeName"].as_str().unwrap_or_default())
        ));
    }
    let r = &v["AuthenticationResult"];
    match (r["IdToken"].as_str(), r["AccessToken"].as_str()) {
        (Some(id), Some(access)) => Ok((id.to_string(), access.to_string())),
        _ => Err("Cognito's answer holds no tokens".to_string()),
    }
}

/// The stack file's `[[try]]` requests, in order; `${run}` is an id new to this run.
pub async fn file_checks(
    client: &Client,
    settle: &Settle,
    base: &str,
    tries: &[crate::stackfile::TryDoc],
    callers: &Callers,
    checks: &mut Vec<Check>,
) {
    let run_id = crate::ids::request_id()[..8].to_string();
    let fill = |s: &str| s.replace("${run}", &run_id);
    for (i, t) in tries.iter().enumerate() {
        let method = t.method.to_ascii_uppercase();
        let path = fill(&t.path);
        let body = t.body.as_deref().map(fill);
        let url = format!("{base}{path}");
        let (headers, said) = caller_headers(t, callers);
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let reply = settle
            .send_with(client, &method, &url, &headers, body.as_deref())
            .await;
        let name = t.name.clone().unwrap_or_else(|| format!("try[{i}]"));
        let expect = t.expect.as_deref().map(fill);
        checks.push(check(
            &name,
            format!("{method} {path}{said}"),
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
pub async fn tutorial_checks(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("a b/c%é"), "a%20b%2Fc%25%C3%A9");
        assert_eq!(path_segment("try-1.x_~"), "try-1.x_~");
    }
}
