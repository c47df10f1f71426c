//! Securing the API: API keys and usage plans, Cognito and Lambda authorizers and IAM, deployed
//! to the emulator (per call), checked by status and plan, and enforced by serve with API
//! Gateway's answers, with real tokens from the emulator's Cognito and requests signed by
//! botocore (an independent SigV4 signer).

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::support::serve::{fixture, http_with};
use crate::support::{self, block_on, World};

/// One Cognito call to the emulator (JSON protocol; moto reads the region from the scope).
fn cognito(w: &World, target: &str, body: Value) -> Value {
    let r = http_with(
        "POST",
        &format!("{}/", w.emulator.url),
        &[
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", &format!("AWSCognitoIdentityProviderService.{target}")),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20261203/us-east-1/cognito-idp/aws4_request, SignedHeaders=host, Signature=0",
            ),
        ],
        &body.to_string(),
    );
    assert_eq!(r.status, 200, "{target}: {r:?}");
    r.json()
}

/// A user pool with a user; (pool ARN, ID token, access token).
fn user_pool(w: &World) -> (String, String, String) {
    let (arn, _, id, access) = user_pool_and_client(w);
    (arn, id, access)
}

/// A user pool with an app client and a user ("ada", password "Correct-H0rse!"); (pool ARN,
/// client id, ID token, access token).
fn user_pool_and_client(w: &World) -> (String, String, String, String) {
    let pool = cognito(w, "CreateUserPool", json!({"PoolName": "guarded-users"}));
    let pool_id = pool["UserPool"]["Id"].as_str().unwrap().to_string();
    let arn = pool["UserPool"]["Arn"].as_str().unwrap().to_string();
    let client = cognito(
        w,
        "CreateUserPoolClient",
        json!({"UserPoolId": pool_id, "ClientName": "app", "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]}),
    );
    let client_id = client["UserPoolClient"]["ClientId"].as_str().unwrap();
    cognito(
        w,
        "AdminCreateUser",
        json!({"UserPoolId": pool_id, "Username": "ada", "TemporaryPassword": "Temp-Passw0rd!", "MessageAction": "SUPPRESS"}),
    );
    cognito(
        w,
        "AdminSetUserPassword",
        json!({"UserPoolId": pool_id, "Username": "ada", "Password": "Correct-H0rse!", "Permanent": true}),
    );
    let auth = cognito(
        w,
        "InitiateAuth",
        json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id, "AuthParameters": {"USERNAME": "ada", "PASSWORD": "Correct-H0rse!"}}),
    );
    let r = &auth["AuthenticationResult"];
    (
        arn,
        client_id.to_string(),
        r["IdToken"].as_str().unwrap().to_string(),
        r["AccessToken"].as_str().unwrap().to_string(),
    )
}

/// The fixture project with the pool's ARN written in.
fn project(w: &World, pool_arn: &str) -> PathBuf {
    let to = w.dir.path().join("guarded");
    std::fs::create_dir_all(to.join("src")).unwrap();
    let from = fixture("auth-project");
    std::fs::copy(from.join("src/handlers.js"), to.join("src/handlers.js")).unwrap();
    let text = std::fs::read_to_string(from.join("serverless-cli.toml"))
        .unwrap()
        .replace("POOL_ARN", pool_arn);
    std::fs::write(to.join("serverless-cli.toml"), text).unwrap();
    to.join("serverless-cli.toml")
}

/// Headers botocore's SigV4 signer gives a GET of `url` with these credentials.
fn signed_headers(url: &str, key: &str, secret: &str) -> Vec<(String, String)> {
    let python = support::venv().join("bin/python");
    let script = r#"
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
req = AWSRequest(method="GET", url=sys.argv[1])
SigV4Auth(Credentials(sys.argv[2], sys.argv[3]), "execute-api", "us-east-1").add_auth(req)
print(json.dumps(dict(req.headers.items())))
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script, url, key, secret])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

/// A GET method made again without any auth, as a hand edit in the console would.
fn open_by_hand(aws: &support::Inspect, api: &str, resource: &str) {
    block_on(async {
        aws.apigateway
            .delete_method()
            .rest_api_id(api)
            .resource_id(resource)
            .http_method("GET")
            .send()
            .await
            .unwrap();
        aws.apigateway
            .put_method()
            .rest_api_id(api)
            .resource_id(resource)
            .http_method("GET")
            .authorization_type("NONE")
            .send()
            .await
            .unwrap();
    });
}

fn get(url: &str, headers: &[(&str, &str)]) -> crate::support::serve::Reply {
    http_with("GET", url, headers, "")
}

#[test]
fn every_auth_method_is_deployed_checked_and_enforced_by_serve_as_api_gateway_does() {
    let w = World::new();
    let (pool_arn, id_token, access_token) = user_pool(&w);
    let file = project(&w, &pool_arn);
    let f = file.to_str().unwrap();

    // Deploy (the per-call build).
    let d = w.run(&["deploy", "--file", f, "--output", "json"]);
    assert_eq!(d.code, 0, "{}\n{}", d.stdout, d.stderr);
    let state = support::read_state(&w.state_file("prod"));
    for k in [
        "api-key:partner",
        "api-key:intern",
        "usage-plan:basic",
        "usage-plan:small",
        "usage-plan-key:basic/partner",
        "usage-plan-key:small/intern",
        "authorizer:users",
        "authorizer:gate",
        "authorizer:reqgate",
    ] {
        assert!(
            state["resources"].get(k).is_some(),
            "{k} not recorded: {state}"
        );
    }
    // The state never holds a key's value.
    let aws = w.aws();
    let keys = block_on(aws.apigateway.get_api_keys().include_values(true).send()).unwrap();
    assert_eq!(keys.items().len(), 2, "{keys:?}");
    let state_text = std::fs::read_to_string(w.state_file("prod")).unwrap();
    for k in keys.items() {
        let value = k.value().unwrap();
        assert!(!state_text.contains(value), "a key's value is in the state");
        assert!(
            !d.stdout.contains(value) && !d.stderr.contains(value),
            "a key's value was printed by deploy"
        );
    }
    // The methods carry their auth; the plans their stage, throttles and quota.
    let api = aws.only_api();
    let ids = aws.resource_ids(&api);
    let method = |path: &str| {
        block_on(
            aws.apigateway
                .get_method()
                .rest_api_id(&api)
                .resource_id(&ids[path])
                .http_method("GET")
                .send(),
        )
        .unwrap()
    };
    assert_eq!(method("/keyed").api_key_required(), Some(true));
    assert_eq!(
        method("/me").authorization_type(),
        Some("COGNITO_USER_POOLS")
    );
    assert_eq!(
        method("/scoped").authorization_scopes(),
        ["aws.cognito.signin.user.admin"]
    );
    assert_eq!(method("/gated").authorization_type(), Some("CUSTOM"));
    assert_eq!(method("/signed").authorization_type(), Some("AWS_IAM"));
    assert_eq!(method("/open").authorization_type(), Some("NONE"));
    let gate_id = support::id(&state, "authorizer:gate");
    assert_eq!(method("/gated").authorizer_id(), Some(gate_id.as_str()));
    // (Through the proxy: it keeps the per-method throttles moto cannot, as AWS does.)
    let plans = block_on(w.aws_via_proxy().apigateway.get_usage_plans().send()).unwrap();
    let basic = plans
        .items()
        .iter()
        .find(|p| p.name().unwrap().contains("basic"))
        .unwrap();
    assert_eq!(basic.throttle().map(|t| t.burst_limit()), Some(2));
    let stage = &basic.api_stages()[0];
    assert_eq!(
        (stage.api_id(), stage.stage()),
        (Some(api.as_str()), Some("prod"))
    );
    assert!(
        stage.throttle().unwrap().contains_key("/open/GET"),
        "{stage:?}"
    );
    let small = plans
        .items()
        .iter()
        .find(|p| p.name().unwrap().contains("small"))
        .unwrap();
    assert_eq!(small.quota().map(|q| q.limit()), Some(2));
    // The authorizer functions' invoke statement covers the authorizers.
    let statements = support::policy_of(&w, "guarded-gate-prod");
    assert!(
        statements
            .iter()
            .any(|(_, src)| src.ends_with(&format!("{api}/*"))),
        "{statements:?}"
    );

    // status: everything in place (the proxy puts back the validation moto drops).
    let s = w.run(&["status", "--file", f, "--output", "json"]);
    assert_eq!(s.code, 0, "{}\n{}", s.stdout, s.stderr);

    // api-key: the value for a person; JSON only with --value.
    let partner = w
        .run(&["api-key", "partner", "--file", f])
        .ok()
        .stdout
        .trim()
        .to_string();
    assert!(
        keys.items()
            .iter()
            .any(|k| k.value() == Some(partner.as_str())),
        "{partner}"
    );
    let j = w
        .run(&["api-key", "partner", "--file", f, "--output", "json"])
        .ok()
        .json();
    assert!(j.get("value").is_none(), "{j}");
    let j = w
        .run(&[
            "api-key", "partner", "--file", f, "--output", "json", "--value",
        ])
        .ok()
        .json();
    assert_eq!(j["value"], partner.as_str());
    let intern = w
        .run(&["api-key", "intern", "--file", f])
        .ok()
        .stdout
        .trim()
        .to_string();
    let bad = w.run(&["api-key", "nobody", "--file", f]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("no API key 'nobody'"), "{}", bad.stderr);

    // serve enforces each method.
    let served = w.serve_raw(&["--file", f], |_| {});
    let url = &served.url;
    let open = get(&format!("{url}/open"), &[]);
    assert_eq!(open.status, 200, "{open:?}\n{}", served.stderr());

    // API keys: missing or unknown is 403 Forbidden (with the CORS headers); the throttled
    // plan's burst of 2, then 429; the small plan's quota of 2, then Limit Exceeded.
    let none = get(&format!("{url}/keyed"), &[]);
    assert_eq!(
        (none.status, none.body.as_str()),
        (403, r#"{"message":"Forbidden"}"#)
    );
    assert_eq!(
        none.header("Access-Control-Allow-Origin"),
        Some("*"),
        "{none:?}"
    );
    let wrong = get(
        &format!("{url}/keyed"),
        &[("x-api-key", "not-a-key-of-this-stack")],
    );
    assert_eq!(wrong.status, 403);
    for _ in 0..2 {
        let ok = get(&format!("{url}/keyed"), &[("x-api-key", &partner)]);
        assert_eq!(ok.status, 200, "{ok:?}");
        assert_eq!(
            ok.json()["apiKeyId"],
            support::id(&state, "api-key:partner").as_str()
        );
    }
    let throttled = get(&format!("{url}/keyed"), &[("x-api-key", &partner)]);
    assert_eq!(
        (throttled.status, throttled.body.as_str()),
        (429, r#"{"message":"Too Many Requests"}"#)
    );
    for _ in 0..2 {
        assert_eq!(
            get(&format!("{url}/keyed"), &[("x-api-key", &intern)]).status,
            200
        );
    }
    let over = get(&format!("{url}/keyed"), &[("x-api-key", &intern)]);
    assert_eq!(
        (over.status, over.body.as_str()),
        (429, r#"{"message":"Limit Exceeded"}"#)
    );

    // Cognito: the ID token on a route without scopes, its claims to the handler; the access
    // token where scopes are named; anything else 401.
    let unauthorized = r#"{"message":"Unauthorized"}"#;
    let me = get(&format!("{url}/me"), &[("Authorization", &id_token)]);
    assert_eq!(me.status, 200, "{me:?}\n{}", served.stderr());
    assert_eq!(me.json()["authorizer"]["claims"]["cognito:username"], "ada");
    for (token, why) in [
        ("", "no token"),
        (
            access_token.as_str(),
            "an access token where an ID token is taken",
        ),
        ("e30.e30.e30", "a token not signed by the pool"),
    ] {
        let r = get(&format!("{url}/me"), &[("Authorization", token)]);
        assert_eq!((r.status, r.body.as_str()), (401, unauthorized), "{why}");
    }
    // A token whose claims were changed after signing.
    let mut parts: Vec<String> = id_token.split('.').map(str::to_string).collect();
    {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: Value = serde_json::from_slice(&b64.decode(&parts[1]).unwrap()).unwrap();
        claims["cognito:username"] = json!("mallory");
        parts[1] = b64.encode(claims.to_string());
    }
    let forged = get(&format!("{url}/me"), &[("Authorization", &parts.join("."))]);
    assert_eq!(forged.status, 401, "{forged:?}");
    let scoped = get(
        &format!("{url}/scoped"),
        &[("Authorization", &format!("Bearer {access_token}"))],
    );
    assert_eq!(scoped.status, 200, "{scoped:?}\n{}", served.stderr());
    let id_on_scoped = get(&format!("{url}/scoped"), &[("Authorization", &id_token)]);
    assert_eq!(id_on_scoped.status, 401);

    // The TOKEN authorizer: Allow with its context to the handler, Deny, Unauthorized, a
    // token failing the validation regex (the function is not called), and a cached Allow
    // for one route that does not cover another.
    let allowed = get(&format!("{url}/gated"), &[("Authorization", "allow")]);
    assert_eq!(allowed.status, 200, "{allowed:?}\n{}", served.stderr());
    let a = allowed.json();
    assert_eq!(
        (
            a["authorizer"]["principalId"].as_str(),
            a["authorizer"]["tier"].as_str()
        ),
        (Some("user-allow"), Some("gold"))
    );
    let denied = get(&format!("{url}/gated"), &[("Authorization", "deny")]);
    assert_eq!(
        (denied.status, denied.body.as_str()),
        (
            403,
            r#"{"Message":"User is not authorized to access this resource with an explicit deny"}"#
        )
    );
    let nobody = get(&format!("{url}/gated"), &[("Authorization", "who-knows")]);
    assert_eq!((nobody.status, nobody.body.as_str()), (401, unauthorized));
    let invalid = get(
        &format!("{url}/gated"),
        &[("Authorization", "NOT VALID 123")],
    );
    assert_eq!(invalid.status, 401);
    let other = get(&format!("{url}/gated/other"), &[("Authorization", "allow")]);
    assert_eq!(
        (other.status, other.body.as_str()),
        (
            403,
            r#"{"Message":"User is not authorized to access this resource"}"#
        ),
        "the cached Allow names /gated's method ARN only"
    );
    let all = get(
        &format!("{url}/gated/other"),
        &[("Authorization", "allow-all")],
    );
    assert_eq!(all.status, 200, "{all:?}");
    // A mapping route reads the authorizer's values with $context.authorizer.
    let tmpl = http_with(
        "POST",
        &format!("{url}/tmpl"),
        &[
            ("Authorization", "allow-all"),
            ("Content-Type", "application/json"),
        ],
        "{}",
    );
    assert_eq!(tmpl.status, 200, "{tmpl:?}\n{}", served.stderr());
    assert_eq!(tmpl.json(), json!({"who": "user-all", "tier": "silver"}));

    // The REQUEST authorizer gets the query string (no TTL: called every time).
    let alice = get(&format!("{url}/req?user=alice"), &[]);
    assert_eq!(alice.status, 200, "{alice:?}\n{}", served.stderr());
    assert_eq!(alice.json()["authorizer"]["user"], "alice");
    assert_eq!(get(&format!("{url}/req?user=mallory"), &[]).status, 403);
    assert_eq!(get(&format!("{url}/req"), &[]).status, 401);

    // IAM: a request signed with serve's credentials passes; unsigned or signed with another
    // secret does not.
    let signed_url = format!("{url}/signed");
    let unsigned = get(&signed_url, &[]);
    assert_eq!(
        (unsigned.status, unsigned.body.as_str()),
        (403, r#"{"message":"Missing Authentication Token"}"#)
    );
    let good = signed_headers(&signed_url, "testing", "testing");
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = get(&signed_url, &good);
    assert_eq!(r.status, 200, "{r:?}\n{}", served.stderr());
    assert_eq!(r.json()["accessKey"], "testing");
    let bad = signed_headers(&signed_url, "testing", "another-secret");
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = get(&signed_url, &bad);
    assert_eq!(r.status, 403);
    assert!(
        r.body.contains("signature we calculated does not match"),
        "{r:?}"
    );
    let stranger = signed_headers(&signed_url, "AKIDSTRANGER", "testing");
    let stranger: Vec<(&str, &str)> = stranger
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(get(&signed_url, &stranger).status, 403);
    // Serve's log never holds a key's value or a token.
    let log = served.stderr();
    assert!(
        !log.contains(&partner) && !log.contains(&id_token),
        "a secret in serve's log"
    );
    drop(served);

    // Drift: a method that lost its API key requirement by hand widens access.
    open_by_hand(&aws, &api, &ids["/keyed"]);
    let s = w.run(&["status", "--file", f, "--output", "json"]);
    assert_ne!(s.code, 0);
    assert!(
        s.stdout
            .contains("no longer requires an API key (access widened)"),
        "{}",
        s.stdout
    );
    let p = w.run(&["plan", "--file", f]);
    assert_eq!(p.code, 3, "{}\n{}", p.stdout, p.stderr);
    let d = w.run(&["deploy", "--file", f]);
    assert_eq!(d.code, 0, "{}\n{}", d.stdout, d.stderr);
    assert_eq!(method("/keyed").api_key_required(), Some(true));
    assert_eq!(w.run(&["status", "--file", f]).code, 0);

    // plan says a change of access as one.
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "path = \"/open\"\nfunction = \"who\"",
        "path = \"/open\"\nfunction = \"who\"\napi_key = true",
    );
    std::fs::write(&file, text).unwrap();
    let p = w.run(&["plan", "--file", f, "--output", "json"]);
    assert_eq!(p.code, 3, "{}\n{}", p.stdout, p.stderr);
    let changes = p.json()["access_changes"].clone();
    assert_eq!(
        changes,
        json!(["GET /open: open to anyone -> an API key"]),
        "{}",
        p.stdout
    );

    // Teardown removes the keys and plans too (the plans' stages first).
    let t = w.run(&["teardown", "--file", f, "--yes"]);
    assert_eq!(t.code, 0, "{}\n{}", t.stdout, t.stderr);
    assert!(block_on(aws.apigateway.get_api_keys().send())
        .unwrap()
        .items()
        .is_empty());
    assert!(block_on(aws.apigateway.get_usage_plans().send())
        .unwrap()
        .items()
        .is_empty());
}

/// What can be known from the file is refused before any call, naming the entry and the fix.
#[test]
fn auth_mistakes_are_refused_before_any_call() {
    let w = World::new();
    let file = project(
        &w,
        "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc",
    );
    let base = std::fs::read_to_string(&file).unwrap();
    for (from, to, says) in [
        (
            "authorizer = \"users\"\nscopes",
            "authorizer = \"gate\"\nscopes",
            "scopes are checked by a cognito authorizer only",
        ),
        (
            "authorizer = \"iam\"",
            "authorizer = \"nobody\"",
            "no authorizer 'nobody'",
        ),
        (
            "type = \"token\"\nfunction = \"gate\"",
            "type = \"token\"\nfunction = \"nope\"",
            "no function 'nope'",
        ),
        (
            "keys = [\"intern\"]",
            "keys = []",
            "API key 'intern' is in no usage plan",
        ),
        (
            "keys = [\"intern\"]",
            "keys = [\"intern\", \"partner\"]",
            "API key 'partner' is in the usage plans basic and small",
        ),
        (
            "period = \"DAY\" }",
            "period = \"DAY\", offset = 3 }",
            "offset 3 is out of range for DAY",
        ),
        ("burst = 2 }", "burst = -1 }", "burst -1 is out of range"),
        ("ttl_secs = 300", "ttl_secs = 7200", "7200 is out of range"),
        (
            "\"GET /open\" =",
            "\"GET /closed\" =",
            "'GET /closed' is not a route of this file",
        ),
        (
            "userpool/us-east-1_abc",
            "userpool/../x",
            "is not a user pool's ARN",
        ),
        (
            "[api_keys.partner]",
            "[[try]]\nmethod = \"GET\"\npath = \"/keyed\"\nstatus = 200\napi_key = \"nobody\"\n\n[api_keys.partner]",
            "try[0].api_key: no API key 'nobody'",
        ),
        (
            "[api_keys.partner]",
            "[[try]]\nmethod = \"GET\"\npath = \"/me\"\nstatus = 200\nuser = \"bob\"\n\n[api_keys.partner]",
            "no user 'bob' in [try_users]",
        ),
        (
            "[api_keys.partner]",
            "[try_users.ada]\nauthorizer = \"gate\"\nclient_id = \"abc\"\nusername = \"ada\"\npassword_env = \"TRY_PASSWORD\"\n\n[api_keys.partner]",
            "'gate' is not a cognito authorizer of this file (cognito authorizers: users)",
        ),
        (
            "[api_keys.partner]",
            "[try_users.ada]\nauthorizer = \"users\"\nclient_id = \"abc\"\nusername = \"ada\"\npassword_env = \"1-BAD\"\n\n[api_keys.partner]",
            "'1-BAD' is not an environment variable's name",
        ),
    ] {
        assert!(base.contains(from), "{from}");
        std::fs::write(&file, base.replace(from, to)).unwrap();
        let r = w.run(&["deploy", "--file", file.to_str().unwrap()]);
        assert_eq!(r.code, 2, "{to}: {}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(says), "{says}: {}", r.stderr);
    }
    assert!(w.mutating_calls().is_empty(), "{:?}", w.mutating_calls());
}

/// The document build carries the same auth: the security schemes make the authorizers (the
/// proxy puts back what moto's import drops of them and of each method's `security`); status
/// reads them back by name, deploy repairs by putting the document again, plan says access
/// changes, and a move to the per-call build makes them one by one.
#[test]
fn auth_in_the_document_build_is_deployed_checked_repaired_and_moved() {
    let w = World::new();
    let (pool_arn, _, _) = user_pool(&w);
    let file = project(&w, &pool_arn);
    let f = file.to_str().unwrap();
    let calls_build = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        calls_build.replace("build = \"calls\"", "build = \"document\""),
    )
    .unwrap();

    let d = w.run(&["deploy", "--file", f]);
    assert_eq!(d.code, 0, "{}\n{}", d.stdout, d.stderr);
    assert_eq!(w.proxy.count("apigateway:PutRestApi"), 1);
    assert_eq!(w.proxy.count("apigateway:CreateAuthorizer"), 0);
    assert_eq!(w.proxy.count("apigateway:PutMethod"), 0);
    let state = support::read_state(&w.state_file("prod"));
    let recorded: Vec<&String> = state["resources"].as_object().unwrap().keys().collect();
    assert!(
        !recorded.iter().any(|k| k.starts_with("authorizer:")),
        "the document makes the authorizers: {recorded:?}"
    );
    for k in [
        "api-key:partner",
        "usage-plan:basic",
        "usage-plan-key:small/intern",
    ] {
        assert!(recorded.contains(&&k.to_string()), "{k}: {recorded:?}");
    }

    // What AWS's import makes of the schemes (read through the proxy, which puts it back).
    let aws = w.aws_via_proxy();
    let api = aws.only_api();
    let ids = aws.resource_ids(&api);
    let authorizers = block_on(aws.apigateway.get_authorizers().rest_api_id(&api).send()).unwrap();
    let by_name = |n: &str| {
        authorizers
            .items()
            .iter()
            .find(|a| a.name() == Some(n))
            .unwrap_or_else(|| panic!("no authorizer {n}: {authorizers:?}"))
            .clone()
    };
    let (users, gate, reqgate) = (by_name("users"), by_name("gate"), by_name("reqgate"));
    assert_eq!(users.provider_arns(), [pool_arn.as_str()]);
    assert_eq!(
        gate.identity_source(),
        Some("method.request.header.Authorization")
    );
    assert_eq!(gate.identity_validation_expression(), Some("[a-z-]+"));
    assert_eq!(gate.authorizer_result_ttl_in_seconds(), Some(300));
    assert!(
        gate.authorizer_uri()
            .unwrap()
            .ends_with(":function:guarded-gate-prod:live/invocations"),
        "{gate:?}"
    );
    assert_eq!(
        reqgate.identity_source(),
        Some("method.request.querystring.user")
    );
    // (Read by path each time: an overwrite may make the resources anew.)
    let method = |path: &str| {
        block_on(
            aws.apigateway
                .get_method()
                .rest_api_id(&api)
                .resource_id(&aws.resource_ids(&api)[path])
                .http_method(if path == "/tmpl" { "POST" } else { "GET" })
                .send(),
        )
        .unwrap()
    };
    assert_eq!(method("/keyed").api_key_required(), Some(true));
    assert_eq!(method("/open").authorization_type(), Some("NONE"));
    assert_eq!(method("/open").api_key_required(), Some(false));
    assert_eq!(
        method("/me").authorization_type(),
        Some("COGNITO_USER_POOLS")
    );
    assert_eq!(method("/me").authorizer_id(), users.id());
    assert_eq!(
        method("/scoped").authorization_scopes(),
        ["aws.cognito.signin.user.admin"]
    );
    assert_eq!(method("/tmpl").authorizer_id(), gate.id());
    assert_eq!(method("/req").authorization_type(), Some("CUSTOM"));
    assert_eq!(method("/signed").authorization_type(), Some("AWS_IAM"));

    // status: all in place; a second deploy changes nothing.
    let s = w.run(&["status", "--file", f]);
    assert_eq!(s.code, 0, "{}\n{}", s.stdout, s.stderr);
    w.proxy.clear();
    w.run(&["deploy", "--file", f]).ok();
    assert!(w.mutating_calls().is_empty(), "{:?}", w.mutating_calls());

    // Drift behind the stack's back: an authorizer's TTL, and a method that lost its API
    // key requirement (access widened). status names both; deploy puts the document again.
    block_on(
        aws.apigateway
            .update_authorizer()
            .rest_api_id(&api)
            .authorizer_id(gate.id().unwrap())
            .patch_operations(
                aws_sdk_apigateway::types::PatchOperation::builder()
                    .op(aws_sdk_apigateway::types::Op::Replace)
                    .path("/authorizerResultTtlInSeconds")
                    .value("5")
                    .build(),
            )
            .send(),
    )
    .unwrap();
    open_by_hand(&aws, &api, &ids["/keyed"]);
    let s = w.run(&["status", "--file", f, "--output", "json"]);
    assert_eq!(s.code, 3, "{}\n{}", s.stdout, s.stderr);
    let routes = support::status_row(&s.json(), "routes");
    let why = routes["reason"].as_str().unwrap_or_default().to_string();
    for named in [
        "authorizer gate: authorizerResultTtlInSeconds differ",
        "GET /keyed: it no longer requires an API key (access widened)",
    ] {
        assert!(why.contains(named), "{named} not in: {why}");
    }
    assert!(!why.contains("GET /me"), "only what drifted: {why}");
    w.proxy.clear();
    let d = w.run(&["deploy", "--file", f]);
    assert_eq!(d.code, 0, "{}\n{}", d.stdout, d.stderr);
    assert_eq!(w.proxy.count("apigateway:PutRestApi"), 1);
    assert_eq!(method("/keyed").api_key_required(), Some(true));
    let s = w.run(&["status", "--file", f]);
    assert_eq!(s.code, 0, "{}\n{}", s.stdout, s.stderr);

    // serve enforces the same file whichever build deploys it.
    let served = w.serve_raw(&["--file", f], |_| {});
    let none = get(&format!("{}/keyed", served.url), &[]);
    assert_eq!(
        (none.status, none.body.as_str()),
        (403, r#"{"message":"Forbidden"}"#)
    );
    drop(served);

    // plan says a change of access from the document's routes too.
    let text = std::fs::read_to_string(&file).unwrap();
    let opened = text.replace(
        "path = \"/me\"\nfunction = \"who\"\nauthorizer = \"users\"",
        "path = \"/me\"\nfunction = \"who\"",
    );
    assert_ne!(opened, text);
    std::fs::write(&file, &opened).unwrap();
    let p = w.run(&["plan", "--file", f, "--output", "json"]);
    assert_eq!(p.code, 3, "{}\n{}", p.stdout, p.stderr);
    assert_eq!(
        p.json()["access_changes"],
        json!(["GET /me: a Cognito ID token -> open to anyone"]),
        "{}",
        p.stdout
    );
    std::fs::write(&file, &text).unwrap();

    // Back to the per-call build: the document's authorizers go with the emptied API, and
    // each is made (and recorded) by a call of its own.
    std::fs::write(&file, &calls_build).unwrap();
    w.proxy.clear();
    let d = w.run(&["deploy", "--file", f]);
    assert_eq!(d.code, 0, "{}\n{}", d.stdout, d.stderr);
    assert_eq!(w.proxy.count("apigateway:CreateAuthorizer"), 3);
    let state = support::read_state(&w.state_file("prod"));
    assert_ne!(support::id(&state, "authorizer:gate"), gate.id().unwrap());
    let s = w.run(&["status", "--file", f]);
    assert_eq!(s.code, 0, "{}\n{}", s.stdout, s.stderr);

    let t = w.run(&["teardown", "--file", f, "--yes"]);
    assert_eq!(t.code, 0, "{}\n{}", t.stdout, t.stderr);
    assert!(block_on(aws.apigateway.get_rest_apis().send())
        .unwrap()
        .items()
        .is_empty());
    assert!(block_on(aws.apigateway.get_usage_plans().send())
        .unwrap()
        .items()
        .is_empty());
}

/// examples/orders as its owner runs it: its pool's ARN and app client written in, deployed,
/// served, and tried: `try` sends the partner's key (read from API Gateway) and ada's ID and
/// access tokens (signed in to the emulator's Cognito with the password from TRY_PASSWORD),
/// and every check passes; the key's value and the password are never printed.
#[test]
fn the_orders_example_is_tried_with_a_key_and_a_users_tokens() {
    let w = World::new();
    let (pool_arn, client_id, _, _) = user_pool_and_client(&w);
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/orders");
    let to = w.dir.path().join("orders");
    std::fs::create_dir_all(to.join("handler")).unwrap();
    std::fs::copy(
        example.join("handler/orders.mjs"),
        to.join("handler/orders.mjs"),
    )
    .unwrap();
    let text = std::fs::read_to_string(example.join("serverless-cli.toml")).unwrap();
    let placeholder = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_EXAMPLE";
    assert!(text.contains(placeholder) && text.contains("EXAMPLECLIENTID"));
    let file = to.join("serverless-cli.toml");
    std::fs::write(
        &file,
        text.replace(placeholder, &pool_arn)
            .replace("EXAMPLECLIENTID", &client_id),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let d = w.run(&["deploy", "--file", f]);
    assert_eq!(d.code, 0, "{}\n{}", d.stdout, d.stderr);
    let key = w
        .run(&["api-key", "partner", "--file", f])
        .ok()
        .stdout
        .trim()
        .to_string();
    assert!(!key.is_empty());

    let served = w.serve_raw(&["--file", f], |_| {});
    let password = "Correct-H0rse!";
    let tried = w.run_env(
        &[("TRY_PASSWORD", password)],
        &["try", "--url", &served.url, "--file", f, "--output", "json"],
    );
    assert_eq!(
        tried.code,
        0,
        "{}\n{}\n{}",
        tried.stdout,
        tried.stderr,
        served.stderr()
    );
    let doc = tried.json();
    assert_eq!(doc["passed"], 7, "{doc:#}");
    let requests: Vec<&str> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["request"].as_str())
        .collect();
    assert!(
        requests.contains(&"GET /orders (as key partner)")
            && requests.contains(&"POST /orders (as access token of ada)"),
        "{requests:?}"
    );
    for out in [&tried.stdout, &tried.stderr] {
        assert!(
            !out.contains(&key) && !out.contains(password),
            "a secret printed: {out}"
        );
    }

    // No password: refused before any request, naming the variable.
    let before = served.stderr().len();
    let r = w.run(&["try", "--url", &served.url, "--file", f]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("TRY_PASSWORD holds no password"),
        "{}",
        r.stderr
    );
    assert_eq!(served.stderr().len(), before, "a request reached serve");
    // A wrong one: Cognito's reason, not the password.
    let wrong = "Wr0ng-Guess-42";
    let r = w.run_env(
        &[("TRY_PASSWORD", wrong)],
        &["try", "--url", &served.url, "--file", f],
    );
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("NotAuthorizedException"), "{}", r.stderr);
    assert!(!r.stderr.contains(wrong) && !r.stdout.contains(wrong));
}
