//! A REST API built from one OpenAPI document (`[api] build = "document"`, the default past 8
//! routes): one PutRestApi instead of ~14 calls a route; status reading every route back and
//! naming each that drifted; deploy putting the document again to repair; plan naming the
//! routes that change; teardown; and a stack moving between the two builds.
//!
//! moto's import drops models, request validators and method parameters; the proxy puts back
//! what AWS's import keeps (tests/it/support/proxy/import.rs), so status's checks of them
//! run against the emulator as they would against AWS.

use crate::support;

use std::collections::BTreeMap;

use serde_json::Value;
use support::{block_on, status_row, World};

/// The API Gateway calls the proxy saw, by operation.
fn gateway_calls(w: &World) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for c in w.proxy.calls() {
        if c.service == "apigateway" {
            *out.entry(c.operation.clone()).or_default() += 1;
        }
    }
    out
}

/// The stack's API as the emulator has it: (api id, resource id by path).
fn api_of(w: &World) -> (String, BTreeMap<String, String>) {
    let aws = w.aws();
    let api = aws.only_api();
    let ids = aws.resource_ids(&api);
    (api, ids)
}

struct Stack<'a> {
    w: &'a World,
    file: String,
}

impl<'a> Stack<'a> {
    fn run(&self, args: &[&str]) -> support::Run {
        let mut all = vec!["--stack", "doc", "--file", &self.file];
        all.extend_from_slice(args);
        self.w.run(&all)
    }
    /// A stack file of `routes` routes (scripts/gen-stack) in the folder `folder`.
    fn generated(w: &'a World, folder: &str, routes: usize) -> Stack<'a> {
        let file = support::gen_stack(routes, &w.dir.path().join(folder));
        Stack {
            w,
            file: file.to_str().unwrap().to_string(),
        }
    }

    fn status(&self) -> (i32, Value) {
        let s = self.run(&["status", "--output", "json"]);
        (s.code, s.json())
    }
}

#[test]
fn a_big_api_is_one_put_and_its_routes_are_checked_and_repaired_one_by_one() {
    let w = World::new();
    let s = Stack::generated(&w, "twelve", 12);

    // Plan before anything: the routes as one key, each route named.
    let plan = s.run(&["plan", "--output", "json"]);
    assert_eq!(plan.code, 3, "{plan}");
    let plan = plan.json();
    let doc = plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "api-document")
        .unwrap_or_else(|| panic!("no api-document in {plan:#}"))
        .clone();
    assert_eq!(doc["action"], "create", "{doc:#}");
    assert!(
        !plan["resource_changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "method" || c["kind"] == "path"),
        "{plan:#}"
    );

    s.run(&["deploy"]).ok();
    let calls = gateway_calls(&w);
    assert_eq!(calls.get("PutRestApi"), Some(&1), "{calls:?}");
    for per_route in [
        "CreateResource",
        "PutMethod",
        "PutMethodResponse",
        "PutIntegration",
        "PutIntegrationResponse",
        "CreateModel",
        "CreateRequestValidator",
    ] {
        assert_eq!(calls.get(per_route), None, "{per_route}: {calls:?}");
    }
    let total: usize = calls.values().sum();
    assert!(total <= 6, "a first deploy of 12 routes made {calls:?}");
    // One invoke permission for the function of the twelve routes.
    assert_eq!(w.proxy.count("lambda:AddPermission"), 1);

    // Every route is there, integrated with the function, and status says so.
    let (api, ids) = api_of(&w);
    assert!(ids.contains_key("/r3/{uid}"), "{ids:?}");
    let aws = w.aws();
    let integ = block_on(
        aws.apigateway
            .get_integration()
            .rest_api_id(&api)
            .resource_id(&ids["/r2/{uid}"])
            .http_method("PUT")
            .send(),
    )
    .unwrap();
    assert!(
        integ
            .uri()
            .unwrap()
            .contains(":function:twelve-api-doc:live/invocations"),
        "{integ:?}"
    );
    let (code, doc) = s.status();
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(status_row(&doc, "routes")["status"], "ok", "{doc:#}");
    assert_eq!(status_row(&doc, "stage")["status"], "ok", "{doc:#}");

    // A no-op: nothing put, nothing deployed, one round of reads.
    w.proxy.clear();
    s.run(&["deploy"]).ok();
    assert!(w.mutating_calls().is_empty(), "{:?}", w.mutating_calls());

    // Behind the stack's back: an integration response deleted, the validator deleted, a
    // method deleted. Status names each route, and the validator.
    block_on(async {
        aws.apigateway
            .delete_integration_response()
            .rest_api_id(&api)
            .resource_id(&ids["/r2/{uid}"])
            .http_method("DELETE")
            .status_code("404")
            .send()
            .await
            .unwrap();
        aws.apigateway
            .delete_method()
            .rest_api_id(&api)
            .resource_id(&ids["/r1/{uid}/copy"])
            .http_method("GET")
            .send()
            .await
            .unwrap();
        let v = aws
            .apigateway
            .get_request_validators()
            .rest_api_id(&api)
            .send()
            .await
            .unwrap();
        assert_eq!(v.items().len(), 1, "the import's validator: {v:?}");
        aws.apigateway
            .delete_request_validator()
            .rest_api_id(&api)
            .request_validator_id(v.items()[0].id().unwrap())
            .send()
            .await
            .unwrap();
    });
    let (code, doc) = s.status();
    assert_eq!(code, 3, "{doc:#}");
    let routes = status_row(&doc, "routes");
    let why = routes["reason"].as_str().unwrap_or_default();
    assert_eq!(routes["status"], "drifted", "{doc:#}");
    for named in [
        "DELETE /r2/{uid} lacks the integration responses 404",
        "GET /r1/{uid}/copy does not exist",
        "request validator serverless-cli-body does not exist",
    ] {
        assert!(why.contains(named), "{named} not in: {why}");
    }
    // The POST routes lost their validator with it; the others are not named.
    assert!(
        why.contains("POST /r3 no longer validates its body"),
        "{why}"
    );
    for fine in ["GET /r3/{uid}", "PUT /r1/{uid}", "GET /r2/{uid}/copy"] {
        assert!(!why.contains(fine), "only what drifted is named: {why}");
    }

    // Deploy repairs by putting the document again, and publishes it.
    w.proxy.clear();
    s.run(&["deploy"]).ok();
    assert_eq!(w.proxy.count("apigateway:PutRestApi"), 1);
    assert_eq!(w.proxy.count("apigateway:CreateDeployment"), 1);
    assert_eq!(w.proxy.count("apigateway:PutMethod"), 0);
    let (code, doc) = s.status();
    assert_eq!(code, 0, "{doc:#}");

    // A route added by hand: extra, and gone after the next deploy (put again, overwrite).
    let (api, ids) = api_of(&w);
    block_on(
        aws.apigateway
            .put_method()
            .rest_api_id(&api)
            .resource_id(&ids["/r1"])
            .http_method("PATCH")
            .authorization_type("NONE")
            .send(),
    )
    .unwrap();
    let (code, doc) = s.status();
    assert_eq!(code, 3, "{doc:#}");
    assert_eq!(status_row(&doc, "extra-routes")["status"], "drifted");
    s.run(&["deploy"]).ok();
    let (code, doc) = s.status();
    assert_eq!(code, 0, "{doc:#}");

    // One route changed in the file: plan names it (and only it), deploy puts once.
    let text = std::fs::read_to_string(&s.file).unwrap();
    let changed = text.replacen("\"deleteUser\"", "\"deleteUser\", \"soft\": true", 1);
    assert_ne!(text, changed);
    std::fs::write(&s.file, changed).unwrap();
    let plan = s.run(&["plan", "--output", "json"]).json();
    let doc_change = plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "api-document")
        .unwrap()
        .clone();
    assert_eq!(doc_change["action"], "update", "{doc_change:#}");
    assert_eq!(
        doc_change["changed"],
        serde_json::json!(["DELETE /r1/{uid}"]),
        "{doc_change:#}"
    );
    w.proxy.clear();
    s.run(&["deploy"]).ok();
    assert_eq!(w.proxy.count("apigateway:PutRestApi"), 1);
    assert_eq!(w.proxy.count("apigateway:CreateDeployment"), 1);
    assert_eq!(w.proxy.count("lambda:AddPermission"), 0);
    assert_eq!(s.status().0, 0);

    s.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("an API built from its document");
}

/// A stack that grows past the per-call build moves to the document without a call per old
/// part (their records are forgotten: the overwrite replaces what they made), and back.
#[test]
fn a_stack_moves_between_the_two_builds() {
    let w = World::new();
    let dir = w.dir.path().join("five");
    let file = support::gen_stack_with(5, &dir, &["--build", "calls"]);
    let s = Stack {
        w: &w,
        file: file.to_str().unwrap().to_string(),
    };
    s.run(&["deploy"]).ok();
    assert!(w.proxy.count("apigateway:PutMethod") >= 5);
    assert_eq!(w.proxy.count("apigateway:PutRestApi"), 0);
    let kinds = |w: &World| -> Vec<String> {
        let state = support::read_state(&w.state_file("doc"));
        state["resources"]
            .as_object()
            .unwrap()
            .values()
            .map(|r| r["kind"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(kinds(&w).contains(&"method".to_string()));

    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("build = \"calls\"", "build = \"document\""),
    )
    .unwrap();
    w.proxy.clear();
    s.run(&["deploy"]).ok();
    assert_eq!(w.proxy.count("apigateway:PutRestApi"), 1);
    for gone in ["DeleteMethod", "DeleteResource"] {
        assert_eq!(w.proxy.count(&format!("apigateway:{gone}")), 0, "{gone}");
    }
    let now = kinds(&w);
    assert!(now.contains(&"api-document".to_string()), "{now:?}");
    for k in ["path", "method", "integration", "validator"] {
        assert!(!now.contains(&k.to_string()), "{k} still recorded: {now:?}");
    }
    assert_eq!(s.status().0, 0, "{:#}", s.status().1);

    std::fs::write(&file, text).unwrap();
    w.proxy.clear();
    s.run(&["deploy"]).ok();
    // Emptied in one put, then built a call per part from the root.
    assert_eq!(w.proxy.count("apigateway:PutRestApi"), 1);
    assert!(w.proxy.count("apigateway:PutMethod") >= 5);
    let now = kinds(&w);
    assert!(!now.contains(&"api-document".to_string()), "{now:?}");
    let (code, doc) = s.status();
    assert_eq!(code, 0, "{doc:#}");
    s.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("a stack that changed builds");
}

/// Killed while the document's PutRestApi is in flight (the API changed, the record not
/// written) and again at its CreateDeployment: the next deploy finishes, nothing twice, and
/// teardown leaves nothing.
#[test]
fn a_deploy_killed_at_the_put_or_the_deployment_is_finished_by_the_next() {
    let w = World::new();
    let s = Stack::generated(&w, "nine", 9);
    for op in ["apigateway:PutRestApi", "apigateway:CreateDeployment"] {
        let hold = w.proxy.hold(op);
        let mut child = w
            .command(&["--stack", "doc", "--file", &s.file, "deploy"])
            .spawn()
            .unwrap();
        assert!(
            w.proxy.wait_for(op, std::time::Duration::from_secs(60)),
            "deploy never called {op}"
        );
        child.kill().unwrap();
        let _ = child.wait();
        hold.release();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let state = support::read_state(&w.state_file("doc"));
        assert!(
            state["resources"]["rest-api"]["id"].is_string(),
            "{state:#}"
        );
        if op.ends_with("PutRestApi") {
            assert!(state["resources"]["api-document"].is_null(), "{state:#}");
        }
        // Touch the file so the second round has something to put again.
        let text = std::fs::read_to_string(&s.file).unwrap();
        std::fs::write(
            &s.file,
            text.replacen("\"getUser\"", "\"getUser\", \"v\": 1", 1),
        )
        .unwrap();
    }
    w.proxy.clear();
    s.run(&["deploy"]).ok();
    assert_eq!(
        w.proxy.count("apigateway:CreateRestApi"),
        0,
        "the API made once"
    );
    let (code, doc) = s.status();
    assert_eq!(code, 0, "{doc:#}");
    let apis = block_on(w.aws().apigateway.get_rest_apis().send()).unwrap();
    assert_eq!(apis.items().len(), 1);
    s.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("a killed document deploy");
}

/// An ANY route on a stack with no table: the function's permission names every verb (API
/// Gateway invokes with the request's own), status is clean, plan settles, and teardown leaves
/// nothing. Built per call: moto 5.2.5's import refuses a plain `any` key (as AWS does) and
/// ignores `x-amazon-apigateway-any-method`, so the document's ANY key is checked by a unit
/// test (stack::tests) only.
#[test]
fn an_any_route_without_a_table_deploys_with_a_permission_for_every_verb() {
    let w = World::new();
    let dir = w.dir.path().join("anyroute");
    std::fs::create_dir_all(dir.join("code")).unwrap();
    std::fs::write(
        dir.join("code/index.mjs"),
        "export const handler = async () => ({});\n",
    )
    .unwrap();
    let file = dir.join("serverless-cli.toml");
    std::fs::write(
        &file,
        r#"[api]
build = "calls"

[functions.api]
code = "code"

[[routes]]
method = "ANY"
path = "/things/{id}"
function = "api"
"#,
    )
    .unwrap();
    let file = file.to_str().unwrap();
    w.run(&["--file", file, "deploy"]).ok();
    let policy = block_on(
        w.aws_via_proxy()
            .lambda
            .get_policy()
            .function_name("anyroute-api-prod")
            .qualifier("live")
            .send(),
    )
    .unwrap();
    let text = policy.policy().unwrap_or_default().to_string();
    assert!(text.contains("/prod/*/*"), "{text}");
    assert!(!text.contains("/ANY/"), "{text}");
    let (_, ids) = api_of(&w);
    let method = block_on(
        w.aws()
            .apigateway
            .get_method()
            .rest_api_id(w.aws().only_api())
            .resource_id(&ids["/things/{id}"])
            .http_method("ANY")
            .send(),
    );
    assert!(method.is_ok(), "{method:?}");
    w.run(&["--file", file, "status"]).ok();
    let plan = w.run(&["--file", file, "plan"]);
    assert_eq!(plan.code, 0, "{plan}");
    w.run(&["--file", file, "teardown", "--yes"]).ok();
    w.assert_nothing_left("after teardown of the ANY stack");
}

/// An API over API Gateway's 300 resources fails as a whole: plan and deploy refuse it before
/// any call, with a short message (not the import's 100,000-character error after the table,
/// role and function were made).
#[test]
fn an_api_over_300_resources_is_refused_before_any_call_in_a_few_words() {
    let w = World::new();
    let dir = w.dir.path().join("huge");
    let file = support::gen_stack(520, &dir);
    let file = file.to_str().unwrap();
    for command in ["plan", "deploy"] {
        let run = w.run(&["--file", file, command]);
        assert_eq!(run.code, 2, "{run}");
        assert!(run.stderr.contains("312 API resources"), "{run}");
        assert!(run.stderr.contains("over API Gateway's 300"), "{run}");
        assert!(run.stderr.len() < 1000, "{} characters", run.stderr.len());
    }
    assert!(w.proxy.calls().is_empty(), "{:?}", w.proxy.calls().len());
    assert!(!w.state_dir().exists() || std::fs::read_dir(w.state_dir()).unwrap().count() == 0);
}

/// A model whose schema was changed behind the stack's back is drift (its name alone is not
/// enough), and deploy puts the file's back.
#[test]
fn a_models_changed_schema_is_drift_and_deploy_repairs_it() {
    let w = World::new();
    let s = Stack::generated(&w, "models", 12);
    s.run(&["deploy"]).ok();
    let aws = w.aws();
    let api = aws.only_api();
    block_on(async {
        aws.apigateway
            .delete_model()
            .rest_api_id(&api)
            .model_name("Item")
            .send()
            .await
            .unwrap();
        aws.apigateway
            .create_model()
            .rest_api_id(&api)
            .name("Item")
            .content_type("application/json")
            .schema(r#"{"type": "object"}"#)
            .send()
            .await
            .unwrap();
    });
    let (code, doc) = s.status();
    assert_eq!(code, 3, "{doc:#}");
    let routes = status_row(&doc, "routes");
    assert!(
        routes["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("model Item's schema is not the file's"),
        "{doc:#}"
    );
    s.run(&["deploy"]).ok();
    let (code, doc) = s.status();
    assert_eq!(code, 0, "{doc:#}");
}

/// Sixty routes on one function: one statement per route would take Lambda's resource policy
/// past its 20 KB (the proxy refuses that as Lambda does, PolicyLengthExceededException); the
/// function's one statement for the stage lets the API invoke every route, and a deploy adds
/// exactly one.
#[test]
fn sixty_routes_on_one_function_need_one_statement_of_its_policy() {
    let w = World::new();
    let s = Stack::generated(&w, "sixty", 60);
    s.run(&["deploy"]).ok();
    assert_eq!(w.proxy.count("lambda:AddPermission"), 1);
    let api = w.aws().only_api();
    assert_eq!(
        support::policy_of(&w, "sixty-api-doc"),
        [(
            "serverless-cli-apigateway-invoke".to_string(),
            format!("arn:aws:execute-api:us-east-1:123456789012:{api}/prod/*/*")
        )]
    );
    assert_eq!(s.status().0, 0);
    s.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("sixty routes");
}

/// The proxy's 20 KB rule, which the test above relies on: statements one per route fill the
/// policy, and the one past the limit is refused and left out, as Lambda does.
#[test]
fn the_proxy_refuses_a_statement_past_lambdas_policy_limit() {
    let w = World::new();
    let s = Stack::generated(&w, "full", 2);
    s.run(&["deploy"]).ok();
    let aws = w.aws_via_proxy();
    let mut refused = None;
    for i in 0..200 {
        let added = block_on(
            aws.lambda
                .add_permission()
                .function_name("full-api-doc")
                .statement_id(format!("route-{i}"))
                .action("lambda:InvokeFunction")
                .principal("apigateway.amazonaws.com")
                .source_arn(format!(
                    "arn:aws:execute-api:us-east-1:123456789012:abcdefghij/doc/GET/r{i}/*"
                ))
                .send(),
        );
        if let Err(e) = added {
            refused = Some((i, format!("{:?}", e.into_service_error())));
            break;
        }
    }
    let (at, error) = refused.expect("200 statements were all taken");
    assert!(error.contains("PolicyLengthExceeded"), "{error}");
    assert!((40..100).contains(&at), "refused at statement {at}");
    // Those accepted, in the function's own policy (the stack's statement is in its live
    // alias's).
    assert_eq!(support::own_policy_of(&w, "full-api-doc").len(), at);
    s.run(&["teardown", "--yes"]).ok();
}
