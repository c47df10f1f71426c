//! `serverless-cli openapi`: the stack's REST API as one OpenAPI 3.0 document. It is checked
//! two ways, since neither alone covers it: against the OpenAPI 3.0 schema (the
//! openapi-spec-validator package, pinned in the emulator's venv), and by importing it into the
//! emulator (PutRestApi, mode=overwrite) and reading the API back: every path, method,
//! integration (type, URI, request template, passthrough), integration response (status,
//! selection pattern, template) and method response equals what the per-call deploy built.
//! (The emulator's import drops models, validators and method parameters, so those are checked
//! in the document itself.)

use crate::support;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use support::{block_on, World};

/// An API as the emulator holds it: path -> method -> what matters.
fn read_api(w: &World, api: &str) -> BTreeMap<String, Value> {
    let aws = w.aws();
    block_on(async {
        let res = aws
            .apigateway
            .get_resources()
            .rest_api_id(api)
            .embed("methods")
            .limit(500)
            .send()
            .await
            .unwrap();
        let mut out = BTreeMap::new();
        for r in res.items() {
            for (verb, m) in r.resource_methods().cloned().unwrap_or_default() {
                let i = m.method_integration().expect("an integration");
                let responses: BTreeMap<String, Value> = i
                    .integration_responses()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(status, x)| {
                        let template = x
                            .response_templates()
                            .and_then(|t| t.get("application/json").cloned());
                        (
                            status,
                            json!({"pattern": x.selection_pattern(), "template": template}),
                        )
                    })
                    .collect();
                let mut statuses: Vec<String> = m
                    .method_responses()
                    .cloned()
                    .unwrap_or_default()
                    .into_keys()
                    .collect();
                statuses.sort();
                out.insert(
                    format!("{verb} {}", r.path().unwrap_or_default()),
                    json!({
                        "type": i.r#type().map(|t| t.as_str().to_lowercase()),
                        "http_method": i.http_method(),
                        "uri": i.uri(),
                        "passthrough": i.passthrough_behavior().map(str::to_lowercase),
                        "request_template": i.request_templates().and_then(|t| t.get("application/json").cloned()),
                        "integration_responses": responses,
                        "method_responses": statuses,
                    }),
                );
            }
        }
        out
    })
}

/// Imports a document into a new REST API of the emulator; its id.
fn import(w: &World, doc: &str) -> String {
    let aws = w.aws();
    let doc = doc.to_string();
    block_on(async move {
        let id = aws
            .apigateway
            .create_rest_api()
            .name("imported")
            .send()
            .await
            .unwrap()
            .id()
            .unwrap()
            .to_string();
        aws.apigateway
            .put_rest_api()
            .rest_api_id(&id)
            .mode(aws_sdk_apigateway::types::PutMode::Overwrite)
            .body(aws_smithy_types::Blob::new(doc.into_bytes()))
            .send()
            .await
            .unwrap();
        id
    })
}

/// The document is OpenAPI 3.0 by the schema (openapi-spec-validator).
fn assert_valid_openapi(w: &World, doc: &str) {
    let file = w.dir.path().join("openapi.json");
    std::fs::write(&file, doc).unwrap();
    let python = support::venv().join("bin").join("python");
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))\nprint('valid')",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("valid"),
        "not OpenAPI 3.0: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_document_is_openapi_and_builds_the_api_deploy_builds() {
    let w = World::new();
    // Without an account there is no document (the function ARNs need one), and no call.
    let no_account = w.run(&["openapi"]);
    assert_eq!(no_account.code, 2, "{no_account}");
    assert!(no_account.stderr.contains("--account"), "{no_account}");
    assert!(w.proxy.calls().is_empty());
    let bad = w.run(&["openapi", "--account", "12ab"]);
    assert_eq!(bad.code, 2, "{bad}");

    w.run(&["deploy"]).ok();
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(w.state_file("prod")).unwrap()).unwrap();
    let deployed_api = state["resources"]["rest-api"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    w.proxy.clear();
    let printed = w.run(&["openapi"]).ok();
    assert!(w.proxy.calls().is_empty(), "openapi makes no AWS call");
    let doc: Value = serde_json::from_str(&printed.stdout).unwrap();
    assert_valid_openapi(&w, &printed.stdout);
    // What the import cannot keep, in the document itself.
    let post = &doc["paths"]["/user"]["post"];
    assert_eq!(
        post["x-amazon-apigateway-request-validator"],
        "serverless-cli-body"
    );
    assert!(doc["components"]["schemas"]["UserBody"]["not"].is_object());
    assert_eq!(
        doc["paths"]["/user/{uid}"]["get"]["parameters"][0]["required"],
        true
    );

    let imported = import(&w, &printed.stdout);
    let built = read_api(&w, &deployed_api);
    let from_doc = read_api(&w, &imported);
    assert_eq!(built.len(), 2, "{built:?}");
    assert_eq!(
        from_doc, built,
        "the imported document is the API deploy built"
    );

    // A 50-route stack file: valid, and every route is there once imported.
    let big = w.dir.path().join("big");
    let file = support::gen_stack(50, &big);
    let printed = w
        .run(&[
            "--stack",
            "big",
            "--file",
            file.to_str().unwrap(),
            "openapi",
            "--account",
            "123456789012",
        ])
        .ok();
    assert_valid_openapi(&w, &printed.stdout);
    let imported = read_api(&w, &import(&w, &printed.stdout));
    assert_eq!(imported.len(), 50, "{:?}", imported.keys());
    let doc: Value = serde_json::from_str(&printed.stdout).unwrap();
    for (route, got) in &imported {
        let (verb, path) = route.split_once(' ').unwrap();
        let want = &doc["paths"][path][verb.to_lowercase()]["x-amazon-apigateway-integration"];
        assert_eq!(got["uri"], want["uri"], "{route}");
        assert_eq!(
            got["integration_responses"].as_object().unwrap().len(),
            want["responses"].as_object().unwrap().len(),
            "{route}"
        );
    }
    w.run(&["teardown", "--yes"]).ok();
}
