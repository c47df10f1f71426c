//! `serverless-cli try`: the tutorial's "Try out", as checks with a clear verdict.

use serde_json::{json, Map, Value};

use crate::cli::{GlobalArgs, TryArgs};
use crate::error::UsageError;
use crate::http_client::Client;
use crate::stack::{self, PATH_PART};
use crate::trial::{
    file_checks, has_tutorial_routes, sign_in, tutorial_checks, Callers, Check, Settle, SignedIn,
};
use anyhow::Context;

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
        // The stack's own domain, once its records are in place.
        (Some(_), true) if crate::kinds::domain_records::url_of(&state).is_some() => {
            Ok(crate::kinds::domain_records::url_of(&state)
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_string())
        }
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
    let callers = match (&file, &spec) {
        (Some(f), Some(spec)) => callers(global, f, spec, &client).await?,
        _ => Callers::default(),
    };
    let tutorial = spec.as_ref().is_none_or(has_tutorial_routes);
    let mut checks = Vec::new();
    if tutorial {
        tutorial_checks(&client, &settle, &base, &user, &mut checks).await;
    }
    if let Some(f) = &file {
        file_checks(&client, &settle, &base, &f.doc.tries, &callers, &mut checks).await;
    }
    let uid = if tutorial {
        user["uid"].as_str().unwrap_or_default().to_string()
    } else {
        String::new()
    };
    report(global, &base, &uid, &checks)
}

/// The keys and users the file's `[[try]]` requests name: each key's value read from API
/// Gateway, each user signed in to its pool (the password from its environment variable,
/// checked before any request).
async fn callers(
    global: &GlobalArgs,
    file: &crate::stackfile::StackFile,
    spec: &stack::StackSpec,
    client: &Client,
) -> anyhow::Result<Callers> {
    let mut out = Callers::default();
    let named = |pick: fn(&crate::stackfile::TryDoc) -> Option<&str>| -> Vec<&str> {
        let set: std::collections::BTreeSet<&str> =
            file.doc.tries.iter().filter_map(pick).collect();
        set.into_iter().collect()
    };
    let keys = named(|t| t.api_key.as_deref());
    let users = named(|t| t.user.as_deref());
    let mut passwords = Vec::new();
    for name in &users {
        let u = &file.doc.try_users[*name];
        match std::env::var(&u.password_env) {
            Ok(p) if !p.is_empty() => passwords.push(p),
            _ => {
                return Err(UsageError(format!(
                    "[try_users.{name}]: the environment variable {} holds no password; set it to {}'s password (it is never read from the file)",
                    u.password_env,
                    crate::report::printable(&u.username)
                ))
                .into())
            }
        }
    }
    if !keys.is_empty() {
        for (name, (_, value, _)) in keys
            .iter()
            .zip(crate::commands::api_key::values_of(global, &keys).await?)
        {
            out.keys.insert(name.to_string(), value);
        }
    }
    if !users.is_empty() {
        let target = crate::session::target(global).await?;
        for (name, password) in users.iter().zip(passwords) {
            let u = &file.doc.try_users[*name];
            let a = spec
                .auth
                .authorizer(&u.authorizer)
                .context("the user's authorizer is not in the file")?;
            let pool = match &a.kind {
                crate::auth::AuthorizerKind::Cognito { user_pools } => user_pools.first(),
                _ => None,
            };
            let region = pool
                .and_then(|arn| crate::auth::user_pool_of(arn))
                .map(|(region, _)| region)
                .context("the user's authorizer names no user pool")?;
            let endpoint = match &target.endpoint {
                Some(e) => format!("{}/", e.trim_end_matches('/')),
                None => format!("https://cognito-idp.{region}.amazonaws.com/"),
            };
            let (id_token, access_token) =
                sign_in(client, &endpoint, &u.client_id, &u.username, &password)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "signing in [try_users.{name}] ({}) to its pool: {e}",
                            crate::report::printable(&u.username)
                        )
                    })?;
            let header = a
                .identity_source
                .strip_prefix("method.request.header.")
                .unwrap_or("Authorization")
                .to_string();
            out.users.insert(
                name.to_string(),
                SignedIn {
                    header,
                    id_token,
                    access_token,
                },
            );
        }
    }
    Ok(out)
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
