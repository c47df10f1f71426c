//! Lambda proxy integration: handlers shaped like the Serverless Framework's and AWS SAM's
//! (tests/fixtures/proxy-project) run unchanged through serve, and both builds deploy their
//! routes as AWS_PROXY, with nothing of a mapping route left over when a route changes kind.

use std::path::{Path, PathBuf};

use crate::support::serve::{fixture, http};
use crate::support::{self, World};

/// The fixture project copied into the world's folder (deploy writes state beside the file).
fn project(w: &World) -> PathBuf {
    let to = w.dir.path().join("proxied");
    copy(&fixture("proxy-project"), &to);
    to.join("serverless-cli.toml")
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn serve_hands_proxy_events_to_commonjs_and_esm_handlers_and_sends_their_answers() {
    let w = World::new();
    let file = project(&w);
    let served = w.serve_raw(&["--file", file.to_str().unwrap()], |_| {});
    let url = &served.url;

    // CommonJS callback handler: path parameters, query strings, headers and the body as text
    // reach it; its status and headers reach the client.
    let r = http(
        "POST",
        &format!("{url}/echo/a%20b?x=1&tag=p&tag=q+r"),
        Some("application/json"),
        r#"{"n": 1}"#,
    );
    assert_eq!(r.status, 200, "{r:?}\n{}", served.stderr());
    assert_eq!(r.header("X-Handler"), Some("cjs-callback"));
    let e = r.json();
    assert_eq!(e["style"], "cjs-callback");
    assert_eq!(e["resource"], "/echo/{id}");
    assert_eq!(e["path"], "/echo/a%20b");
    assert_eq!(e["method"], "POST");
    assert_eq!(e["params"], serde_json::json!({"id": "a b"}));
    assert_eq!(e["query"], serde_json::json!({"x": "1", "tag": "q r"}));
    assert_eq!(e["multiQuery"]["tag"], serde_json::json!(["p", "q r"]));
    assert_eq!(e["body"], r#"{"n": 1}"#);
    assert_eq!(e["base64"], false);
    assert_eq!(e["contentType"], "application/json");
    assert_eq!(e["stage"], "prod");
    assert_eq!(e["sourceIp"], "127.0.0.1");
    assert_eq!(e["functionName"], "proxied-echo-prod");
    assert_eq!(
        Some(e["requestId"].as_str().unwrap()),
        r.header("x-amzn-RequestId")
    );
    // No query string, no body: null, as API Gateway gives.
    let e = http("GET", &format!("{url}/echo/7"), None, "").json();
    assert_eq!(e["query"], serde_json::Value::Null);
    assert_eq!(e["body"], serde_json::Value::Null);

    // ESM async handler on the API's root: list and create.
    let created = http(
        "POST",
        &format!("{url}/"),
        Some("application/json"),
        r#"{"name":"a"}"#,
    );
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.header("Location"), Some("/1"));
    assert_eq!(created.json()["name"], "a");
    let bad = http("POST", url, Some("application/json"), "not json");
    assert_eq!(bad.status, 400);
    let listed = http("GET", &format!("{url}?limit=5"), None, "");
    assert_eq!(listed.status, 200);
    assert_eq!(
        listed.json(),
        serde_json::json!({"items": [], "limit": "5"})
    );
    let cookies: Vec<&str> = listed
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies, ["seen=1", "style=esm"]);
    assert_eq!(listed.header("Content-Type"), Some("application/json"));

    // A greedy path takes any method and the rest of the path.
    for method in ["GET", "DELETE", "PATCH"] {
        let r = http(method, &format!("{url}/files/a/b/c.txt"), None, "");
        assert_eq!(
            (r.status, r.body.as_str()),
            (200, format!("{method} a/b/c.txt").as_str())
        );
        assert_eq!(r.header("Content-Type"), Some("text/plain"));
    }
    // ... but not the bare prefix, nor a method no route has.
    assert_eq!(http("GET", &format!("{url}/files"), None, "").status, 403);
    assert_eq!(http("DELETE", url, None, "").status, 403);

    // A base64 answer is decoded.
    let bytes = http("GET", &format!("{url}/bytes"), None, "");
    assert_eq!(bytes.status, 200);
    assert_eq!(bytes.header("Content-Length"), Some("4"));

    // A malformed answer and a failed function: API Gateway's 502, the reason in the log.
    for path in ["broken", "failing"] {
        let r = http("GET", &format!("{url}/{path}"), None, "");
        assert_eq!(r.status, 502, "{path}: {r:?}");
        assert_eq!(
            r.json(),
            serde_json::json!({"message": "Internal server error"})
        );
    }
    let log = served.stderr();
    assert!(
        log.contains("Malformed Lambda proxy response: body is not a string"),
        "{log}"
    );
    assert!(log.contains("the database is down"), "{log}");
}

/// The method and integration of a route as the emulator has them.
fn route_parts(w: &World, api: &str, path: &str, method: &str) -> (String, usize, usize) {
    let aws = w.aws();
    let resources = support::block_on(
        aws.apigateway
            .get_resources()
            .rest_api_id(api)
            .limit(500)
            .send(),
    )
    .unwrap();
    let id = resources
        .items()
        .iter()
        .find(|r| r.path() == Some(path))
        .and_then(|r| r.id())
        .unwrap_or_else(|| panic!("no resource {path}"))
        .to_string();
    let m = support::block_on(
        aws.apigateway
            .get_method()
            .rest_api_id(api)
            .resource_id(&id)
            .http_method(method)
            .send(),
    )
    .unwrap();
    let i = m.method_integration().expect("an integration");
    (
        // Upper case: moto keeps an imported document's spelling (`aws_proxy`), AWS answers
        // `AWS_PROXY`.
        i.r#type()
            .map(|t| t.as_str().to_ascii_uppercase())
            .unwrap_or_default(),
        m.method_responses().map_or(0, |r| r.len()),
        i.integration_responses().map_or(0, |r| r.len()),
    )
}

fn api_id(w: &World, file: &Path) -> String {
    let state = w.run(&[
        "state",
        "show",
        "--file",
        file.to_str().unwrap(),
        "--output",
        "json",
    ]);
    state.json()["resources"]["rest-api"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no API id: {state}"))
        .to_string()
}

#[test]
fn proxy_routes_deploy_per_call_and_as_a_document_and_change_kind_cleanly() {
    let w = World::new();
    let file = project(&w);
    let f = file.to_str().unwrap();
    let original = std::fs::read_to_string(&file).unwrap();

    // Per call: AWS_PROXY, no method or integration responses; a route on the root.
    std::fs::write(
        &file,
        original.replace(
            "integration = \"proxy\"",
            "integration = \"proxy\"\nbuild = \"calls\"",
        ),
    )
    .unwrap();
    w.run(&["deploy", "--file", f]).ok();
    let api = api_id(&w, &file);
    assert_eq!(
        route_parts(&w, &api, "/echo/{id}", "GET"),
        ("AWS_PROXY".into(), 0, 0)
    );
    assert_eq!(
        route_parts(&w, &api, "/", "POST"),
        ("AWS_PROXY".into(), 0, 0)
    );
    assert_eq!(
        route_parts(&w, &api, "/files/{proxy+}", "ANY"),
        ("AWS_PROXY".into(), 0, 0)
    );
    let status = w.run(&["status", "--file", f]);
    assert_eq!(status.code, 0, "{status}");
    assert_eq!(w.run(&["plan", "--file", f]).code, 0);

    // One route becomes a mapping route: the tutorial's responses, nothing left of the proxy.
    let mapped = std::fs::read_to_string(&file).unwrap().replace(
        "path = \"/echo/{id}\"\nfunction = \"echo\"\n\n[[routes]]\nmethod = \"POST\"",
        "path = \"/echo/{id}\"\nfunction = \"echo\"\nintegration = \"mapping\"\n\n[[routes]]\nmethod = \"POST\"",
    );
    std::fs::write(&file, &mapped).unwrap();
    let plan = w.run(&["plan", "--file", f]);
    assert_eq!(plan.code, 3, "{plan}");
    assert!(plan.stdout.contains("GET /echo/{id}"), "{plan}");
    w.run(&["deploy", "--file", f]).ok();
    assert_eq!(
        route_parts(&w, &api, "/echo/{id}", "GET"),
        ("AWS".into(), 6, 6)
    );
    assert_eq!(
        route_parts(&w, &api, "/echo/{id}", "POST"),
        ("AWS_PROXY".into(), 0, 0)
    );
    assert_eq!(w.run(&["status", "--file", f]).code, 0);
    // ... and back: no responses left over.
    std::fs::write(&file, mapped.replace("integration = \"mapping\"\n", "")).unwrap();
    w.run(&["deploy", "--file", f]).ok();
    assert_eq!(
        route_parts(&w, &api, "/echo/{id}", "GET"),
        ("AWS_PROXY".into(), 0, 0)
    );
    assert_eq!(w.run(&["status", "--file", f]).code, 0);
    assert_eq!(w.run(&["plan", "--file", f]).code, 0);

    // Someone makes a proxy route a mapping one by hand: status says so, deploy puts it back.
    let aws = w.aws();
    let resources =
        support::block_on(aws.apigateway.get_resources().rest_api_id(&api).send()).unwrap();
    let echo = resources
        .items()
        .iter()
        .find(|r| r.path() == Some("/echo/{id}"))
        .and_then(|r| r.id())
        .unwrap()
        .to_string();
    support::block_on(
        aws.apigateway
            .put_integration()
            .rest_api_id(&api)
            .resource_id(&echo)
            .http_method("GET")
            .r#type(aws_sdk_apigateway::types::IntegrationType::Aws)
            .integration_http_method("POST")
            .uri("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:other/invocations")
            .send(),
    )
    .unwrap();
    let status = w.run(&["status", "--file", f]);
    assert_ne!(status.code, 0, "{status}");
    assert!(status.stdout.contains("GET /echo/{id}"), "{status}");
    w.run(&["deploy", "--file", f]).ok();
    assert_eq!(
        route_parts(&w, &api, "/echo/{id}", "GET"),
        ("AWS_PROXY".into(), 0, 0)
    );

    // The whole API as one document: the same routes, AWS_PROXY. (Less the ANY route: moto's
    // import makes a method named after the any-method extension; docs/aws.md, "ANY routes".)
    let any = "[[routes]]\nmethod = \"ANY\"\npath = \"/files/{proxy+}\"\nfunction = \"app\"\n";
    assert!(original.contains(any));
    std::fs::write(
        &file,
        original.replace(any, "").replace(
            "integration = \"proxy\"",
            "integration = \"proxy\"\nbuild = \"document\"",
        ),
    )
    .unwrap();
    w.run(&["deploy", "--file", f]).ok();
    assert_eq!(route_parts(&w, &api, "/echo/{id}", "GET").0, "AWS_PROXY");
    assert_eq!(route_parts(&w, &api, "/", "GET").0, "AWS_PROXY");
    let status = w.run(&["status", "--file", f]);
    assert_eq!(status.code, 0, "{status}");
    assert_eq!(w.run(&["plan", "--file", f]).code, 0);

    w.run(&["teardown", "--yes", "--file", f]).ok();
    w.assert_nothing_left("proxied");
}
