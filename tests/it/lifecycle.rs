//! deploy -> status -> deploy (no change) -> code change -> deploy -> teardown, against a real
//! emulator, with every AWS call the binary makes recorded by the proxy.

use crate::support;

use support::{block_on, read_state, status_row, World, OWNER_TAG};

fn handler_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tutorial/handler")
}

#[test]
fn full_lifecycle_creates_checks_updates_and_removes_everything() {
    let w = World::new();

    // deploy: every resource, each created once.
    let run = w.run(&["deploy", "--output", "json"]).ok();
    let doc = run.json();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["changed"], true);
    let steps = doc["steps"].as_array().unwrap();
    // 15 kinds (the function's live alias among them), and the gateway response that names
    // 415's content type.
    assert_eq!(steps.len(), 16);
    assert!(steps.iter().all(|s| s["action"] == "created"), "{steps:#?}");
    let api_id = support::id(&doc, "api");
    assert_eq!(
        doc["url"],
        format!("https://{api_id}.execute-api.us-east-1.amazonaws.com/prod/user")
    );
    assert!(doc["curl"].as_str().unwrap().starts_with("curl "));
    // Progress went to stderr, one line per step.
    assert_eq!(
        run.stderr.lines().filter(|l| l.starts_with("ok ")).count(),
        16,
        "{run}"
    );
    let mut creates: Vec<String> = w
        .mutating_calls()
        .into_iter()
        .filter(|c| c.contains(":Create"))
        .collect();
    creates.sort();
    assert_eq!(
        creates,
        [
            "apigateway:CreateDeployment",
            "apigateway:CreateModel",
            "apigateway:CreateRequestValidator",
            "apigateway:CreateResource",
            "apigateway:CreateResource",
            "apigateway:CreateRestApi",
            "dynamodb:CreateTable",
            "iam:CreateRole",
            "lambda:CreateAlias",
            "lambda:CreateFunction",
            "logs:CreateLogGroup",
        ]
    );

    // What was made is what the tutorial makes, with least privilege and exact scoping.
    let aws = w.aws();
    let state = read_state(&w.state_file("prod"));
    let via_proxy = w.aws_via_proxy();
    block_on(async {
        let t = aws
            .dynamodb
            .describe_table()
            .table_name("user-prod")
            .send()
            .await
            .unwrap();
        let t = t.table().unwrap();
        assert_eq!(t.key_schema()[0].attribute_name(), "uid");
        let tp = t.provisioned_throughput().unwrap();
        assert_eq!(
            (tp.read_capacity_units(), tp.write_capacity_units()),
            (Some(5), Some(5))
        );
        let tags = aws
            .dynamodb
            .list_tags_of_resource()
            .resource_arn(t.table_arn().unwrap())
            .send()
            .await
            .unwrap();
        assert!(tags
            .tags()
            .iter()
            .any(|t| t.key() == OWNER_TAG && t.value() == "prod"));

        let role = aws
            .iam
            .get_role()
            .role_name("putitem-prod-role")
            .send()
            .await
            .unwrap();
        let trust = role
            .role()
            .unwrap()
            .assume_role_policy_document()
            .unwrap_or_default()
            .to_string();
        assert!(trust.contains("lambda.amazonaws.com"), "{trust}");
        let attached = aws
            .iam
            .list_attached_role_policies()
            .role_name("putitem-prod-role")
            .send()
            .await
            .unwrap();
        assert!(
            attached.attached_policies().is_empty(),
            "least privilege attaches no managed policy"
        );
        let policy = aws
            .iam
            .get_role_policy()
            .role_name("putitem-prod-role")
            .policy_name("putitem-least-privilege")
            .send()
            .await
            .unwrap();
        let doc = policy.policy_document();
        let doc = support::percent_decode(doc);
        let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
        for stmt in doc["Statement"].as_array().unwrap() {
            for action in stmt["Action"].as_array().unwrap() {
                assert!(!action.as_str().unwrap().contains('*'), "{doc}");
            }
            let resources = match &stmt["Resource"] {
                serde_json::Value::Array(a) => a.clone(),
                r => vec![r.clone()],
            };
            for r in resources {
                assert_ne!(r, "*", "{doc}");
            }
        }
        assert_eq!(
            doc["Statement"][0]["Resource"],
            "arn:aws:dynamodb:us-east-1:123456789012:table/user-prod"
        );

        let f = aws
            .lambda
            .get_function()
            .function_name("putitem-prod")
            .send()
            .await
            .unwrap();
        let c = f.configuration().unwrap();
        assert_eq!(c.runtime().unwrap().as_str(), "nodejs22.x");
        assert_eq!(c.handler(), Some("index.handler"));
        assert_eq!(
            c.environment()
                .unwrap()
                .variables()
                .unwrap()
                .get("TABLE_NAME")
                .map(String::as_str),
            Some("user-prod")
        );
        assert_eq!(
            f.tags().unwrap().get(OWNER_TAG).map(String::as_str),
            Some("prod")
        );
        assert_eq!(
            c.code_sha256(),
            state["resources"]["function:putitem"]["attrs"]["code_sha256"].as_str()
        );

        // One invoke permission for the function, for every route of the stage.
        assert_eq!(
            support::policy_statements(&via_proxy, "putitem-prod").await,
            [(
                "serverless-cli-apigateway-invoke".to_string(),
                format!("arn:aws:execute-api:us-east-1:123456789012:{api_id}/prod/*/*")
            )]
        );

        let api = aws
            .apigateway
            .get_rest_api()
            .rest_api_id(&api_id)
            .send()
            .await
            .unwrap();
        assert_eq!(api.name(), Some("serverless-backend-prod"));
        assert_eq!(
            api.endpoint_configuration().unwrap().types()[0].as_str(),
            "REGIONAL"
        );
        assert_eq!(
            api.tags().unwrap().get(OWNER_TAG).map(String::as_str),
            Some("prod")
        );
        let resource_id = state["resources"]["path:/user"]["id"].as_str().unwrap();
        let integ = aws
            .apigateway
            .get_integration()
            .rest_api_id(&api_id)
            .resource_id(resource_id)
            .http_method("POST")
            .send()
            .await
            .unwrap();
        assert_eq!(integ.r#type().unwrap().as_str(), "AWS");
        assert_eq!(integ.http_method(), Some("POST"));
        assert!(integ
            .uri()
            .unwrap()
            .ends_with(":function:putitem-prod:live/invocations"));
        let bad = aws
            .apigateway
            .get_integration_response()
            .rest_api_id(&api_id)
            .resource_id(resource_id)
            .http_method("POST")
            .status_code("400")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.selection_pattern(), Some("BadRequest:.*"));
        for status in ["200", "400", "500", "502", "504"] {
            aws.apigateway
                .get_method_response()
                .rest_api_id(&api_id)
                .resource_id(resource_id)
                .http_method("POST")
                .status_code(status)
                .send()
                .await
                .unwrap_or_else(|e| panic!("method response {status}: {e:?}"));
        }
        // POST validates its body against the model, through the recorded validator.
        let post = aws
            .apigateway
            .get_method()
            .rest_api_id(&api_id)
            .resource_id(resource_id)
            .http_method("POST")
            .send()
            .await
            .unwrap();
        assert_eq!(
            post.request_validator_id(),
            state["resources"]["validator:body"]["id"].as_str()
        );
        assert_eq!(
            post.request_models()
                .unwrap()
                .get("application/json")
                .map(String::as_str),
            Some("UserBody")
        );
        let model = aws
            .apigateway
            .get_model()
            .rest_api_id(&api_id)
            .model_name("UserBody")
            .send()
            .await
            .unwrap();
        let schema: serde_json::Value = serde_json::from_str(model.schema().unwrap()).unwrap();
        assert_eq!(schema["type"], "object");

        // GET /user/{uid}: its own resource, the path parameter required, a request template
        // that hands the uid to the same function, and a 404 for NotFound.
        let item_id = state["resources"]["path:/user/{uid}"]["id"]
            .as_str()
            .unwrap();
        assert_eq!(
            state["resources"]["path:/user/{uid}"]["attrs"]["path"],
            "/user/{uid}"
        );
        let get = aws
            .apigateway
            .get_method()
            .rest_api_id(&api_id)
            .resource_id(item_id)
            .http_method("GET")
            .send()
            .await
            .unwrap();
        assert_eq!(
            get.request_parameters()
                .unwrap()
                .get("method.request.path.uid"),
            Some(&true)
        );
        let integ = aws
            .apigateway
            .get_integration()
            .rest_api_id(&api_id)
            .resource_id(item_id)
            .http_method("GET")
            .send()
            .await
            .unwrap();
        assert_eq!(integ.http_method(), Some("POST"));
        assert!(integ
            .uri()
            .unwrap()
            .ends_with(":function:putitem-prod:live/invocations"));
        let template = integ
            .request_templates()
            .unwrap()
            .get("application/json")
            .unwrap();
        assert!(template.contains("$input.params('uid')"), "{template}");
        let not_found = aws
            .apigateway
            .get_integration_response()
            .rest_api_id(&api_id)
            .resource_id(item_id)
            .http_method("GET")
            .status_code("404")
            .send()
            .await
            .unwrap();
        assert_eq!(not_found.selection_pattern(), Some("NotFound:.*"));
        let stage = aws
            .apigateway
            .get_stage()
            .rest_api_id(&api_id)
            .stage_name("prod")
            .send()
            .await
            .unwrap();
        assert_eq!(
            stage.deployment_id(),
            state["resources"]["stage:prod"]["id"].as_str()
        );
    });

    // status: all ok, exit 0.
    let status = w.run(&["status", "--output", "json"]).ok().json();
    assert_eq!(status["in_sync"], true);
    let rows = status["resources"].as_array().unwrap();
    assert_eq!(rows.len(), 17); // (the live alias among them)
    assert!(rows.iter().all(|r| r["status"] == "ok"), "{rows:#?}");

    // deploy again: no call that changes anything, and it says so.
    w.proxy.clear();
    let again = w.run(&["deploy"]).ok();
    assert!(
        again
            .stdout
            .contains("up to date: nothing was created or updated"),
        "{again}"
    );
    assert_eq!(w.mutating_calls(), Vec::<String>::new());

    // Changed handler code: only the code is updated.
    let code = w.dir.path().join("code");
    std::fs::create_dir(&code).unwrap();
    let src = std::fs::read_to_string(handler_dir().join("index.mjs")).unwrap();
    std::fs::write(code.join("index.mjs"), format!("{src}\n// v2\n")).unwrap();
    w.proxy.clear();
    let doc = w
        .run(&[
            "deploy",
            "--code",
            code.to_str().unwrap(),
            "--output",
            "json",
        ])
        .ok()
        .json();
    // The code, and a version of it for the live alias.
    assert_eq!(
        w.mutating_calls(),
        [
            "lambda:UpdateFunctionCode",
            "lambda:PublishVersion",
            "lambda:UpdateAlias"
        ]
    );
    let changed: Vec<_> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "unchanged")
        .collect();
    assert_eq!(changed.len(), 2, "{changed:#?}");
    assert_eq!(changed[0]["step"], "function");
    assert_eq!(changed[0]["detail"], "code updated");
    assert_eq!(changed[1]["step"], "alias");
    assert_eq!(
        changed[1]["detail"],
        "version 2 published, live -> version 2"
    );
    let new_sha = read_state(&w.state_file("prod"))["resources"]["function:putitem"]["attrs"]
        ["code_sha256"]
        .clone();
    assert_ne!(
        new_sha,
        state["resources"]["function:putitem"]["attrs"]["code_sha256"]
    );
    let live = block_on(
        aws.lambda
            .get_function()
            .function_name("putitem-prod")
            .send(),
    )
    .unwrap();
    assert_eq!(
        live.configuration().unwrap().code_sha256(),
        new_sha.as_str()
    );

    // Going back to the built-in handler changes the code back (a new version of it for the
    // alias), nothing else.
    w.proxy.clear();
    w.run(&["deploy"]).ok();
    assert_eq!(
        w.mutating_calls(),
        [
            "lambda:UpdateFunctionCode",
            "lambda:PublishVersion",
            "lambda:UpdateAlias"
        ]
    );
    assert_eq!(w.run(&["status"]).ok().code, 0);

    // teardown: nothing of the stack is left in any service, and the state file is gone.
    let down = w
        .run(&["teardown", "--yes", "--output", "json"])
        .ok()
        .json();
    assert_eq!(down["state_file_removed"], true);
    assert!(!w.state_file("prod").exists());
    let left = aws.inventory();
    assert!(left.is_empty(), "left behind: {left:?}");

    // A second teardown finds nothing to do.
    let again = w.run(&["teardown", "--yes"]).ok();
    assert!(again.stdout.contains("nothing to tear down"), "{again}");
}

#[test]
fn tutorial_mode_attaches_managed_policies_and_on_demand_billing_works() {
    let w = World::new();
    w.run(&["deploy", "--managed-policies", "--billing", "on-demand"])
        .ok();
    let aws = w.aws();
    block_on(async {
        let attached = aws
            .iam
            .list_attached_role_policies()
            .role_name("putitem-prod-role")
            .send()
            .await
            .unwrap();
        let mut names: Vec<_> = attached
            .attached_policies()
            .iter()
            .map(|p| p.policy_name().unwrap().to_string())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["AWSLambdaBasicExecutionRole", "AmazonDynamoDBFullAccess"]
        );
        let inline = aws
            .iam
            .list_role_policies()
            .role_name("putitem-prod-role")
            .send()
            .await
            .unwrap();
        assert!(inline.policy_names().is_empty());
        let t = aws
            .dynamodb
            .describe_table()
            .table_name("user-prod")
            .send()
            .await
            .unwrap();
        assert_eq!(
            t.table()
                .unwrap()
                .billing_mode_summary()
                .unwrap()
                .billing_mode()
                .unwrap()
                .as_str(),
            "PAY_PER_REQUEST"
        );
    });
    assert_eq!(w.run(&["status"]).ok().code, 0);

    // Back to least privilege: the managed policies come off, the inline policy goes on.
    w.proxy.clear();
    w.run(&["deploy", "--billing", "on-demand"]).ok();
    let mut calls = w.mutating_calls();
    calls.sort();
    assert_eq!(
        calls,
        [
            "iam:DetachRolePolicy",
            "iam:DetachRolePolicy",
            "iam:PutRolePolicy"
        ]
    );
    w.run(&["teardown", "--yes"]).ok();
    assert!(aws.inventory().is_empty(), "{:?}", aws.inventory());
}

#[test]
fn status_reports_drift_and_deploy_repairs_it() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let aws = w.aws();
    let state = read_state(&w.state_file("prod"));
    // Someone removes the invoke permission and changes the policy by hand.
    // The statement is in the live alias's policy, kept by the proxy as Lambda does.
    let via_proxy = w.aws_via_proxy();
    block_on(async {
        via_proxy
            .lambda
            .remove_permission()
            .function_name("putitem-prod")
            .qualifier("live")
            .statement_id("serverless-cli-apigateway-invoke")
            .send()
            .await
            .unwrap();
        aws.iam
            .put_role_policy()
            .role_name("putitem-prod-role")
            .policy_name("putitem-least-privilege")
            .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#)
            .send()
            .await
            .unwrap();
        aws.apigateway
            .create_deployment()
            .rest_api_id(state["resources"]["rest-api"]["id"].as_str().unwrap())
            .stage_name("prod")
            .send()
            .await
            .unwrap();
    });
    let run = w.run(&["status", "--output", "json"]);
    assert_eq!(run.code, 3, "{run}");
    let doc = run.json();
    let by_name = |n: &str| status_row(&doc, n);
    assert_eq!(by_name("permission")["status"], "missing");
    assert_eq!(by_name("role-policy")["status"], "drifted");
    assert!(by_name("role-policy")["reason"]
        .as_str()
        .unwrap()
        .contains("changed"));
    assert_eq!(by_name("stage")["status"], "drifted");
    assert!(by_name("stage")["reason"]
        .as_str()
        .unwrap()
        .contains("not the latest"));
    assert_eq!(by_name("table")["status"], "ok");
    // The text form names them too.
    let text = w.run(&["status"]);
    assert_eq!(text.code, 3);
    assert!(
        text.stdout.contains("3 of 17 resources are not ok"),
        "{text}"
    );

    // deploy puts back exactly what drifted, and status is clean again.
    w.proxy.clear();
    let fix = w.run(&["deploy"]).ok();
    assert!(fix.stderr.contains("Repairing: "), "{fix}");
    let mut calls = w.mutating_calls();
    calls.sort();
    assert_eq!(
        calls,
        [
            "apigateway:CreateDeployment",
            "iam:PutRolePolicy",
            "lambda:AddPermission"
        ]
    );
    assert_eq!(w.run(&["status"]).ok().code, 0);
    w.run(&["teardown", "--yes"]).ok();
    assert!(aws.inventory().is_empty());
}

/// On a terminal, progress is drawn with spinners; the run still ends with the same result.
/// `script` (util-linux, part of the base system) gives the binary a real pseudo-terminal.
#[cfg(target_os = "linux")]
#[test]
fn on_a_terminal_progress_uses_spinners_and_the_run_completes() {
    let w = World::new();
    let bin = env!("CARGO_BIN_EXE_serverless-cli");
    let mut cmd = w.command(&[]);
    cmd.env_remove("CI");
    let line = format!("{bin} deploy; echo exit=$?");
    let out = cmd
        .get_envs()
        .fold(std::process::Command::new("script"), |mut c, (k, v)| {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
            c
        })
        .current_dir(w.dir.path())
        .args(["-qec", &line, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script runs");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("exit=0"), "{screen}");
    assert!(screen.contains("Stack 'prod' deployed"), "{screen}");
    // indicatif redraws lines with cursor movement escapes on a terminal.
    assert!(screen.contains("\u{1b}["), "no terminal drawing:\n{screen}");
    w.run(&["teardown", "--yes"]).ok();
}

#[test]
fn a_changed_api_is_put_back_and_gets_a_new_deployment() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let before = read_state(&w.state_file("prod"));
    let api_id = support::id(&before, "rest-api");
    let resource_id = support::id(&before, "path:/user");
    block_on(
        w.aws()
            .apigateway
            .delete_integration()
            .rest_api_id(&api_id)
            .resource_id(&resource_id)
            .http_method("POST")
            .send(),
    )
    .unwrap();
    let status = w.run(&["status", "--output", "json"]);
    assert_eq!(status.code, 3, "{status}");
    let doc = status.json();
    let integration = status_row(&doc, "integration");
    assert_eq!(integration["status"], "missing", "{doc:#}");

    w.proxy.clear();
    w.run(&["deploy"]).ok();
    let mut calls = w.mutating_calls();
    calls.sort();
    // POST's integration is put again with its 5 responses (each route is its own key in
    // the graph: GET's, in place, is not touched), then a new deployment.
    let count = |name: &str| calls.iter().filter(|c| *c == name).count();
    assert_eq!(count("apigateway:PutIntegration"), 1, "{calls:?}");
    assert_eq!(count("apigateway:PutIntegrationResponse"), 5, "{calls:?}");
    assert_eq!(count("apigateway:CreateDeployment"), 1, "{calls:?}");
    assert_eq!(calls.len(), 7, "{calls:?}");
    let after = read_state(&w.state_file("prod"));
    assert_ne!(
        after["resources"]["stage:prod"]["id"],
        before["resources"]["stage:prod"]["id"]
    );
    assert_eq!(w.run(&["status"]).ok().code, 0);
    w.run(&["teardown", "--yes"]).ok();
    assert!(w.aws().inventory().is_empty());
}

/// A stack deployed before GET existed (state format 1, POST only) is brought up to date by
/// one deploy. On AWS, PutMethod over the existing POST method answers ConflictException: the
/// method is made again (the emulator would overwrite it, so the proxy answers as AWS does).
#[test]
fn a_stack_from_before_get_gains_the_route_the_validator_and_the_permission() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let full = read_state(&w.state_file("prod"));
    let api_id = support::id(&full, "rest-api");
    let aws = w.aws();
    // Take the stack back to what the previous release made.
    block_on(async {
        aws.apigateway
            .delete_resource()
            .rest_api_id(&api_id)
            .resource_id(
                full["resources"]["path:/user/{uid}"]["id"]
                    .as_str()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        aws.apigateway
            .delete_request_validator()
            .rest_api_id(&api_id)
            .request_validator_id(full["resources"]["validator:body"]["id"].as_str().unwrap())
            .send()
            .await
            .unwrap();
    });
    // That release's policy: one statement, for POST /user.
    support::per_route_permissions(&w, &api_id);
    block_on(
        aws.lambda
            .remove_permission()
            .function_name("putitem-prod")
            .statement_id("serverless-cli-apigateway-get-user")
            .send(),
    )
    .unwrap();
    let mut v1 = support::v2_state_of(&full);
    let obj = v1.as_object_mut().unwrap();
    for added in ["item_resource", "request_validator", "get_permission"] {
        obj.remove(added);
    }
    obj.insert("version".into(), 1.into());
    std::fs::write(
        w.state_file("prod"),
        serde_json::to_string_pretty(&v1).unwrap(),
    )
    .unwrap();

    w.proxy.fault_times(
        "apigateway:PutMethod",
        support::proxy::Fault::error(
            409,
            "ConflictException",
            "Method already exists for this resource",
        ),
        1,
    );
    w.proxy.clear();
    let run = w.run(&["deploy", "--output", "json"]).ok();
    assert_eq!(run.json()["changed"], true);
    let calls = w.mutating_calls();
    for want in [
        "apigateway:CreateResource",
        "apigateway:CreateRequestValidator",
        "apigateway:DeleteMethod",
        "lambda:AddPermission",
        "lambda:RemovePermission",
        "apigateway:CreateDeployment",
    ] {
        assert!(calls.iter().any(|c| c == want), "{want} missing: {calls:?}");
    }
    // The function's one statement replaced the route's, added before the old one went.
    let at = |op: &str| calls.iter().position(|c| c == op).unwrap();
    assert!(
        at("lambda:AddPermission") < at("lambda:RemovePermission"),
        "{calls:?}"
    );
    assert_eq!(support::policy_of(&w, "putitem-prod").len(), 1);
    let after = read_state(&w.state_file("prod"));
    assert_eq!(after["version"], 3);
    assert_eq!(
        after["resources"]["path:/user/{uid}"]["attrs"]["path"],
        "/user/{uid}"
    );
    let status = w.run(&["status", "--output", "json"]).ok().json();
    assert_eq!(status["in_sync"], true, "{status:#}");
    // The POST method made again validates its body.
    let post = block_on(
        aws.apigateway
            .get_method()
            .rest_api_id(&api_id)
            .resource_id(after["resources"]["path:/user"]["id"].as_str().unwrap())
            .http_method("POST")
            .send(),
    )
    .unwrap();
    assert_eq!(
        post.request_validator_id(),
        after["resources"]["validator:body"]["id"].as_str()
    );
    w.run(&["teardown", "--yes"]).ok();
    assert!(aws.inventory().is_empty());
}

/// GET's parts drift like POST's: a deleted GET method and the function's invoke permission
/// are reported by status, and deploy puts back exactly those.
#[test]
fn a_deleted_get_method_and_the_invoke_permission_are_reported_and_repaired() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let state = read_state(&w.state_file("prod"));
    let api_id = support::id(&state, "rest-api");
    let aws = w.aws();
    // The statement is in the live alias's policy, kept by the proxy as Lambda does.
    let via_proxy = w.aws_via_proxy();
    block_on(async {
        aws.apigateway
            .delete_method()
            .rest_api_id(&api_id)
            .resource_id(
                state["resources"]["path:/user/{uid}"]["id"]
                    .as_str()
                    .unwrap(),
            )
            .http_method("GET")
            .send()
            .await
            .unwrap();
        via_proxy
            .lambda
            .remove_permission()
            .function_name("putitem-prod")
            .qualifier("live")
            .statement_id("serverless-cli-apigateway-invoke")
            .send()
            .await
            .unwrap();
    });
    let run = w.run(&["status", "--output", "json"]);
    assert_eq!(run.code, 3, "{run}");
    let doc = run.json();
    let row = |n: &str| status_row(&doc, n);
    assert_eq!(row("method")["status"], "missing");
    assert!(row("method")["reason"]
        .as_str()
        .unwrap()
        .contains("GET /user/{uid} does not exist"));
    assert_eq!(row("permission")["status"], "missing");
    assert!(row("permission")["reason"]
        .as_str()
        .unwrap()
        .contains("serverless-cli-apigateway-invoke"));

    w.proxy.clear();
    w.run(&["deploy"]).ok();
    let calls = w.mutating_calls();
    let adds: Vec<_> = calls
        .iter()
        .filter(|c| *c == "lambda:AddPermission")
        .collect();
    assert_eq!(
        adds.len(),
        1,
        "only the invoke permission is added: {calls:?}"
    );
    assert!(
        calls.iter().any(|c| c == "apigateway:PutMethod"),
        "{calls:?}"
    );
    assert_eq!(w.run(&["status"]).ok().code, 0);
    w.run(&["teardown", "--yes"]).ok();
}
