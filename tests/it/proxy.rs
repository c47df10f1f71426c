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

    // CORS: the preflight; API Gateway's own errors carry the headers (the 502s above, a
    // 403); a proxy route's answer is its handler's, which sets none here.
    let pre = http("OPTIONS", &format!("{url}/echo/1"), None, "");
    assert_eq!(pre.status, 200);
    assert_eq!(pre.body, "");
    assert_eq!(
        pre.header("Access-Control-Allow-Origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        pre.header("Access-Control-Allow-Methods"),
        Some("GET,OPTIONS,POST")
    );
    assert_eq!(pre.header("Access-Control-Allow-Credentials"), Some("true"));
    let root = http("OPTIONS", url, None, "");
    assert_eq!(
        root.header("Access-Control-Allow-Methods"),
        Some("GET,OPTIONS,POST")
    );
    let greedy = http("OPTIONS", &format!("{url}/files/x/y"), None, "");
    assert_eq!(
        greedy.header("Access-Control-Allow-Methods"),
        Some("DELETE,GET,HEAD,OPTIONS,PATCH,POST,PUT")
    );
    for path in ["broken", "nothing/here"] {
        let r = http("GET", &format!("{url}/{path}"), None, "");
        assert!(r.status >= 400);
        assert_eq!(
            r.header("Access-Control-Allow-Origin"),
            Some("https://app.example.com"),
            "{path}"
        );
        assert_eq!(
            r.header("Access-Control-Expose-Headers"),
            Some("X-Id"),
            "{path}"
        );
    }
    assert_eq!(
        http("GET", &format!("{url}/echo/1"), None, "").header("Access-Control-Allow-Origin"),
        None
    );

    // A mapping route's responses carry their headers: fixed, from the result, CORS's.
    // Its request template reads the query string, a header and $context, as on AWS.
    let m = http("GET", &format!("{url}/mapped/a1?q=z%20y"), None, "");
    assert_eq!(m.status, 200, "{m:?}\n{}", served.stderr());
    let got = m.json();
    assert_eq!(
        (&got["id"], &got["kind"], &got["q"], &got["stage"]),
        (
            &serde_json::json!("a1"),
            &serde_json::json!("plain"),
            &serde_json::json!("z y"),
            &serde_json::json!("prod")
        )
    );
    assert_eq!(
        got["host"],
        url.trim_start_matches("http://").split('/').next().unwrap()
    );
    assert_eq!(
        Some(got["rid"].as_str().unwrap()),
        m.header("x-amzn-RequestId")
    );
    assert_eq!(m.header("Cache-Control"), Some("no-store"));
    assert_eq!(m.header("X-Id"), Some("a1"));
    assert_eq!(
        m.header("Access-Control-Allow-Origin"),
        Some("https://app.example.com")
    );
    let nf = http("GET", &format!("{url}/mapped/none"), None, "");
    assert_eq!(nf.status, 404);
    assert_eq!(nf.json()["message"], "NotFound: no such thing");
    assert_eq!(nf.header("Cache-Control"), None);
    // Another content type than the template's: 415, naming the one it takes, with CORS.
    let wrong = http("GET", &format!("{url}/mapped/a1"), Some("text/plain"), "");
    assert_eq!(wrong.status, 415);
    assert!(
        wrong.json()["message"]
            .as_str()
            .unwrap()
            .contains("takes application/json"),
        "{wrong:?}"
    );
    assert_eq!(
        wrong.header("Access-Control-Allow-Origin"),
        Some("https://app.example.com")
    );
    // An error no pattern names: the catch-all's 500 and short body, not 200 and a stack.
    let boom = http("GET", &format!("{url}/mapped/boom"), None, "");
    assert_eq!(boom.status, 500, "{boom:?}");
    assert_eq!(
        boom.json(),
        serde_json::json!({"message": "Internal server error"})
    );
    assert_eq!(
        nf.header("Access-Control-Allow-Origin"),
        Some("https://app.example.com")
    );
}

/// The id of the API's resource at `path`.
fn resource_id(w: &World, api: &str, path: &str) -> String {
    let resources = support::block_on(
        w.aws()
            .apigateway
            .get_resources()
            .rest_api_id(api)
            .limit(500)
            .send(),
    )
    .unwrap();
    resources
        .items()
        .iter()
        .find(|r| r.path() == Some(path))
        .and_then(|r| r.id())
        .unwrap_or_else(|| panic!("no resource {path}"))
        .to_string()
}

/// The method and integration of a route as the emulator has them.
fn route_parts(w: &World, api: &str, path: &str, method: &str) -> (String, usize, usize) {
    let aws = w.aws();
    let id = resource_id(w, api, path);
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

/// A proxy route as AWS has it: AWS_PROXY, and no method or integration responses.
fn assert_proxy(w: &World, api: &str, path: &str, method: &str) {
    assert_eq!(
        route_parts(w, api, path, method),
        ("AWS_PROXY".into(), 0, 0),
        "{method} {path}"
    );
}

/// An integration response's header mappings.
fn response_parameters(
    w: &World,
    api: &str,
    path: &str,
    method: &str,
    status: &str,
) -> std::collections::HashMap<String, String> {
    let aws = w.aws();
    let id = resource_id(w, api, path);
    let r = support::block_on(
        aws.apigateway
            .get_integration_response()
            .rest_api_id(api)
            .resource_id(&id)
            .http_method(method)
            .status_code(status)
            .send(),
    )
    .unwrap();
    r.response_parameters().cloned().unwrap_or_default()
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
    assert_proxy(&w, &api, "/echo/{id}", "GET");
    assert_proxy(&w, &api, "/", "POST");
    assert_proxy(&w, &api, "/files/{proxy+}", "ANY");
    let status = w.run(&["status", "--file", f]);
    assert_eq!(status.code, 0, "{status}");
    assert_eq!(w.run(&["plan", "--file", f]).code, 0);
    // The mapping route's response headers: declared, and mapped.
    assert_eq!(
        route_parts(&w, &api, "/mapped/{id}", "GET"),
        ("AWS".into(), 3, 3)
    );
    let mapped = response_parameters(&w, &api, "/mapped/{id}", "GET", "200");
    assert_eq!(mapped["method.response.header.Cache-Control"], "'no-store'");
    assert_eq!(
        mapped["method.response.header.X-Id"],
        "integration.response.body.id"
    );
    assert_eq!(
        mapped["method.response.header.Access-Control-Allow-Origin"],
        "'https://app.example.com'"
    );
    // The 415 that names the content type, as a gateway response (with CORS's headers).
    let g = support::block_on(
        w.aws()
            .apigateway
            .get_gateway_response()
            .rest_api_id(&api)
            .response_type(aws_sdk_apigateway::types::GatewayResponseType::UnsupportedMediaType)
            .send(),
    )
    .unwrap();
    assert!(g.response_templates().unwrap()["application/json"].contains("takes application/json"));
    assert_eq!(
        g.response_parameters().unwrap()["gatewayresponse.header.Access-Control-Allow-Origin"],
        "'https://app.example.com'"
    );
    let pre = response_parameters(&w, &api, "/echo/{id}", "OPTIONS", "200");
    assert_eq!(
        pre["method.response.header.Access-Control-Allow-Methods"],
        "'GET,OPTIONS,POST'"
    );
    // A header changed by hand is drift.
    let mapped_id = resource_id(&w, &api, "/mapped/{id}");
    support::block_on(
        w.aws()
            .apigateway
            .put_integration_response()
            .rest_api_id(&api)
            .resource_id(&mapped_id)
            .http_method("GET")
            .status_code("200")
            .response_parameters("method.response.header.Cache-Control", "'public'")
            .send(),
    )
    .unwrap();
    let status = w.run(&["status", "--file", f]);
    assert_ne!(status.code, 0, "{status}");
    assert!(status.stdout.contains("response headers"), "{status}");
    w.run(&["deploy", "--file", f]).ok();
    assert_eq!(
        response_parameters(&w, &api, "/mapped/{id}", "GET", "200")
            ["method.response.header.Cache-Control"],
        "'no-store'"
    );

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
    assert_proxy(&w, &api, "/echo/{id}", "POST");
    assert_eq!(w.run(&["status", "--file", f]).code, 0);
    // ... and back: no responses left over.
    std::fs::write(&file, mapped.replacen("integration = \"mapping\"\n", "", 1)).unwrap();
    w.run(&["deploy", "--file", f]).ok();
    assert_proxy(&w, &api, "/echo/{id}", "GET");
    assert_eq!(w.run(&["status", "--file", f]).code, 0);
    assert_eq!(w.run(&["plan", "--file", f]).code, 0);

    // Someone makes a proxy route a mapping one by hand: status says so, deploy puts it back.
    let aws = w.aws();
    let echo = resource_id(&w, &api, "/echo/{id}");
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
    assert_proxy(&w, &api, "/echo/{id}", "GET");

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

/// The todos example (examples/todos) copied into the world's folder, its handler's
/// node_modules with it (serve runs the handlers).
fn todos(w: &World) -> PathBuf {
    let to = w.dir.path().join("todos");
    let status = std::process::Command::new("cp")
        .arg("-R")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/todos"))
        .arg(&to)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        to.join("handler/node_modules/@aws-sdk").exists(),
        "examples/todos/handler/node_modules is missing: run `npm ci` there (scripts/test does)"
    );
    to.join("serverless-cli.toml")
}

/// DescribeTable, as the emulator answers it.
fn described(
    w: &World,
    table: &str,
) -> aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput {
    support::block_on(w.aws().dynamodb.describe_table().table_name(table).send()).unwrap()
}

/// The table's global indexes as the emulator has them: (name, key attribute names).
fn indexes(w: &World, table: &str) -> Vec<(String, Vec<String>)> {
    let t = described(w, table);
    let mut out: Vec<(String, Vec<String>)> = t
        .table()
        .unwrap()
        .global_secondary_indexes()
        .iter()
        .map(|x| {
            (
                x.index_name().unwrap_or_default().to_string(),
                x.key_schema()
                    .iter()
                    .map(|k| k.attribute_name().to_string())
                    .collect(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_todos_example_deploys_with_cors_and_its_index_and_serves_as_deployed() {
    let w = World::new();
    let file = todos(&w);
    let f = file.to_str().unwrap();
    let original = std::fs::read_to_string(&file).unwrap();
    w.run(&["deploy", "--file", f]).ok();
    let api = api_id(&w, &file);

    // The index, and the list function's grant on it (Query through by_list).
    assert_eq!(
        indexes(&w, "todos-todos-prod"),
        [(
            "by_list".to_string(),
            vec!["list".to_string(), "createdAt".to_string()]
        )]
    );
    let aws = w.aws();
    let policy = support::block_on(
        aws.iam
            .get_role_policy()
            .role_name("todos-list-prod-role")
            .policy_name("list-least-privilege")
            .send(),
    )
    .unwrap();
    let doc = support::percent_decode(policy.policy_document());
    assert!(doc.contains("table/todos-todos-prod/index/*"), "{doc}");
    // Each handler is told the origin CORS allows.
    let env = support::block_on(
        aws.lambda
            .get_function_configuration()
            .function_name("todos-get-prod")
            .send(),
    )
    .unwrap();
    assert_eq!(
        env.environment().unwrap().variables().unwrap()["CORS_ALLOW_ORIGIN"],
        "*"
    );
    // Each path's preflight is a MOCK answering the CORS headers; API Gateway's own errors
    // carry them too.
    assert_eq!(
        route_parts(&w, &api, "/todos", "OPTIONS"),
        ("MOCK".into(), 1, 1)
    );
    assert_eq!(
        route_parts(&w, &api, "/todos/{id}", "OPTIONS"),
        ("MOCK".into(), 1, 1)
    );
    for t in ["DEFAULT_4XX", "DEFAULT_5XX"] {
        let g = support::block_on(
            aws.apigateway
                .get_gateway_response()
                .rest_api_id(&api)
                .response_type(aws_sdk_apigateway::types::GatewayResponseType::from(t))
                .send(),
        )
        .unwrap();
        assert_eq!(
            g.response_parameters().unwrap()["gatewayresponse.header.Access-Control-Allow-Origin"],
            "'*'"
        );
    }
    let status = w.run(&["status", "--file", f]);
    assert_eq!(status.code, 0, "{status}");
    assert_eq!(w.run(&["plan", "--file", f]).code, 0);

    // Served against the emulator's table: the preflight, the file's tries, CORS on a 403.
    let served = w.serve_raw(&["--file", f], |_| {});
    let url = &served.url;
    let pre = http("OPTIONS", &format!("{url}/todos/abc"), None, "");
    assert_eq!(pre.status, 200, "{pre:?}");
    assert_eq!(pre.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(
        pre.header("Access-Control-Allow-Methods"),
        Some("DELETE,GET,OPTIONS,PUT")
    );
    assert_eq!(pre.header("Access-Control-Max-Age"), Some("600"));
    assert!(pre
        .header("Access-Control-Allow-Headers")
        .unwrap()
        .contains("Content-Type"));
    let tried = w.run(&["try", "--url", url, "--file", f, "--output", "json"]);
    assert_eq!(tried.code, 0, "{tried}\nserve: {}", served.stderr());
    assert_eq!(tried.json()["passed"], 4, "{tried}");
    let made = http(
        "POST",
        &format!("{url}/todos"),
        Some("application/json"),
        r#"{"text":"t"}"#,
    );
    assert_eq!(made.status, 201);
    assert_eq!(made.header("Access-Control-Allow-Origin"), Some("*"));
    let missing = http("GET", &format!("{url}/nothing"), None, "");
    assert_eq!(missing.status, 403);
    assert_eq!(missing.header("Access-Control-Allow-Origin"), Some("*"));
    drop(served);

    // A second index, then the first removed: one change at a time, status agrees.
    let two = original.replace(
        "[functions.list]",
        "[tables.todos.indexes.by_checked]\nhash_key = { name = \"checked\", type = \"N\" }\nprojection = \"keys\"\n\n[functions.list]",
    );
    std::fs::write(&file, &two).unwrap();
    let plan = w.run(&["plan", "--file", f]);
    assert_eq!(plan.code, 3, "{plan}");
    // AWS builds an index for a while (moto at once): deploy waits until it is ACTIVE.
    w.proxy.fault_times(
        "dynamodb:DescribeTable",
        support::proxy::Fault::set_json(
            &["Table", "GlobalSecondaryIndexes", "0", "IndexStatus"],
            serde_json::json!("CREATING"),
        ),
        3,
    );
    let run = w.run(&["deploy", "--file", f]).ok();
    assert!(run.stderr.contains("is CREATING"), "{run}");
    assert_eq!(indexes(&w, "todos-todos-prod").len(), 2);
    assert_eq!(w.run(&["status", "--file", f]).code, 0);
    let one = two.replace(
        "[tables.todos.indexes.by_list]\nhash_key = { name = \"list\", type = \"S\" }\nrange_key = { name = \"createdAt\", type = \"S\" }\nprojection = \"all\"\n",
        "",
    );
    assert_ne!(one, two);
    std::fs::write(&file, &one).unwrap();
    w.run(&["deploy", "--file", f]).ok();
    assert_eq!(
        indexes(&w, "todos-todos-prod"),
        [("by_checked".to_string(), vec!["checked".to_string()])]
    );
    assert_eq!(w.run(&["status", "--file", f]).code, 0);
    assert_eq!(w.run(&["plan", "--file", f]).code, 0);

    // An index deleted by hand is drift; deploy makes it again.
    support::block_on(
        aws.dynamodb
            .update_table()
            .table_name("todos-todos-prod")
            .global_secondary_index_updates(
                aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder()
                    .delete(
                        aws_sdk_dynamodb::types::DeleteGlobalSecondaryIndexAction::builder()
                            .index_name("by_checked")
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send(),
    )
    .unwrap();
    let status = w.run(&["status", "--file", f]);
    assert_ne!(status.code, 0, "{status}");
    assert!(
        status.stdout.contains("index by_checked is missing"),
        "{status}"
    );
    w.run(&["deploy", "--file", f]).ok();
    assert_eq!(
        indexes(&w, "todos-todos-prod"),
        [("by_checked".to_string(), vec!["checked".to_string()])]
    );
    assert_eq!(w.run(&["status", "--file", f]).code, 0);

    // Without [api.cors]: the preflights and the gateway responses go.
    let start = one.find("[api.cors]").unwrap();
    let end = one.find("[defaults]").unwrap();
    let plain = format!("{}{}", &one[..start], &one[end..]);
    std::fs::write(&file, &plain).unwrap();
    w.run(&["deploy", "--file", f]).ok();
    let todos_id = resource_id(&w, &api, "/todos");
    let options = support::block_on(
        aws.apigateway
            .get_method()
            .rest_api_id(&api)
            .resource_id(&todos_id)
            .http_method("OPTIONS")
            .send(),
    );
    assert!(options.is_err(), "the preflight is left: {options:?}");
    let status = w.run(&["status", "--file", f]);
    assert_eq!(status.code, 0, "{status}");

    w.run(&["teardown", "--yes", "--file", f]).ok();
    w.assert_nothing_left("todos");
}

#[test]
fn init_proxy_writes_the_tutorial_with_proxy_integration_which_deploys_serves_and_passes_try() {
    let w = World::new();
    let out = w.run(&["init", "--proxy", "app", "--output", "json"]).ok();
    assert_eq!(out.json()["files"].as_array().unwrap().len(), 7, "{out}");
    assert_eq!(out.json()["proxy"], true);
    let app = w.dir.path().join("app");
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/tutorial-proxy");
    let written = std::fs::read_to_string(app.join("serverless-cli.toml")).unwrap();
    let shipped = std::fs::read_to_string(example.join("serverless-cli.toml")).unwrap();
    assert_eq!(
        written.lines().skip(1).collect::<Vec<_>>(),
        shipped.lines().skip(1).collect::<Vec<_>>()
    );
    for f in [
        "index.mjs",
        "package.json",
        "package-lock.json",
        "test/handler.test.mjs",
        "test/emulator.mjs",
    ] {
        assert_eq!(
            std::fs::read(app.join("handler").join(f)).unwrap(),
            std::fs::read(example.join("handler").join(f)).unwrap(),
            "{f}"
        );
    }
    // The handler's packages, where Node.js finds them from the code folder (above it, so
    // nothing of them is packed).
    let modules = example.join("handler/node_modules");
    assert!(
        modules.join("@aws-sdk").exists(),
        "examples/tutorial-proxy/handler/node_modules is missing: run `npm ci` there (scripts/test does)"
    );
    std::os::unix::fs::symlink(&modules, w.dir.path().join("node_modules")).unwrap();

    let file = app.join("serverless-cli.toml");
    let f = file.to_str().unwrap();
    w.run(&["deploy", "--file", f]).ok();
    let api = api_id(&w, &file);
    assert_proxy(&w, &api, "/user", "POST");
    assert_proxy(&w, &api, "/user/{uid}", "GET");
    assert_eq!(w.run(&["status", "--file", f]).code, 0);

    // The tutorial's own four checks pass against the proxy handler, served.
    let served = w.serve_raw(&["--file", f], |_| {});
    let tried = w.run(&["try", "--url", &served.url, "--file", f, "--output", "json"]);
    assert_eq!(tried.code, 0, "{tried}\nserve: {}", served.stderr());
    let tried = tried.json();
    assert_eq!(tried["passed"], 4, "{tried}");
    let names: Vec<&str> = tried["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["post", "get", "get-unknown", "invalid-body"],
        "{tried}"
    );
    drop(served);

    w.run(&["teardown", "--yes", "--file", f]).ok();
    w.assert_nothing_left("init --proxy");
}

#[test]
fn a_local_index_is_made_with_its_table_and_a_change_to_it_replaces_the_table() {
    let w = World::new();
    let app = w.dir.path().join("lsi");
    copy(&fixture("proxy-project").join("cjs"), &app.join("cjs"));
    let file = app.join("serverless-cli.toml");
    let text = r#"name = "lsi"

[tables.orders]
hash_key = { name = "uid", type = "S" }
range_key = { name = "oid", type = "S" }
billing = "on-demand"

[tables.orders.indexes.by_date]
hash_key = { name = "uid", type = "S" }
range_key = { name = "placed", type = "S" }
projection = ["total"]
local = true

[functions.echo]
code = "cjs"
handler = "handler.echo"
tables = { orders = ["dynamodb:Query"] }

[[routes]]
method = "GET"
path = "/"
function = "echo"
integration = "proxy"
"#;
    std::fs::write(&file, text).unwrap();
    let f = file.to_str().unwrap();
    w.run(&["deploy", "--file", f]).ok();
    let t = described(&w, "lsi-orders-prod");
    let lsi = t.table().unwrap().local_secondary_indexes();
    assert_eq!(lsi.len(), 1);
    assert_eq!(lsi[0].index_name(), Some("by_date"));
    assert_eq!(
        lsi[0].projection().unwrap().non_key_attributes(),
        ["total".to_string()]
    );
    assert_eq!(w.run(&["status", "--file", f]).code, 0);
    assert_eq!(w.run(&["plan", "--file", f]).code, 0);

    // A local index cannot change in place: plan says replace, deploy refuses without
    // --allow-data-loss and changes nothing.
    std::fs::write(
        &file,
        text.replace("projection = [\"total\"]", "projection = \"all\""),
    )
    .unwrap();
    let plan = w.run(&["plan", "--file", f, "--output", "json"]);
    assert_eq!(plan.code, 3, "{plan}");
    let planned = plan.json();
    let replaced: Vec<&str> = planned["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "replace")
        .filter_map(|c| c["key"].as_str())
        .collect();
    assert_eq!(replaced, ["table:orders"], "{plan}");
    w.proxy.clear();
    let refused = w.run(&["deploy", "--file", f]);
    assert_ne!(refused.code, 0, "{refused}");
    assert!(refused.stderr.contains("--allow-data-loss"), "{refused}");
    assert!(w.mutating_calls().is_empty(), "{:?}", w.mutating_calls());
    let replaced_run = w.run(&["deploy", "--file", f, "--allow-data-loss"]).ok();
    let t = described(&w, "lsi-orders-prod");
    let lsi = t.table().unwrap().local_secondary_indexes();
    assert_eq!(
        lsi[0]
            .projection()
            .unwrap()
            .projection_type()
            .map(|p| p.as_str()),
        Some("ALL"),
        "{replaced_run}"
    );
    assert_eq!(w.run(&["status", "--file", f]).code, 0);

    // A route on the root is removed from the root, which stays.
    std::fs::write(
        &file,
        text.replace("projection = [\"total\"]", "projection = \"all\"")
            .replace("path = \"/\"", "path = \"/echo\""),
    )
    .unwrap();
    w.run(&["deploy", "--file", f]).ok();
    let api = api_id(&w, &file);
    let root = resource_id(&w, &api, "/");
    let gone = support::block_on(
        w.aws()
            .apigateway
            .get_method()
            .rest_api_id(&api)
            .resource_id(&root)
            .http_method("GET")
            .send(),
    );
    assert!(gone.is_err(), "GET / is left: {gone:?}");
    assert_eq!(route_parts(&w, &api, "/echo", "GET").0, "AWS_PROXY");
    assert_eq!(w.run(&["status", "--file", f]).code, 0);

    w.run(&["teardown", "--yes", "--file", f]).ok();
    w.assert_nothing_left("local index");
}
