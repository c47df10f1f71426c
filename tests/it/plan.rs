//! `plan` says what deploy will do, and deploy then does exactly that: the proxy's record of
//! deploy's mutating calls, mapped to the kinds of resource they change, matches the plan's
//! changes — for a fresh stack, a no-op, a code change, drift, a resource deleted behind the
//! tool's back, and a state file written by the previous release. Plan itself changes nothing.

use crate::support;

use std::collections::BTreeMap;

use support::{block_on, read_state, World};

/// The kind of resource a mutating call changes (owner tags are not a resource of their own).
fn kind_of(call: &str) -> Option<&'static str> {
    let op = call.split(':').nth(1).unwrap_or_default();
    Some(match op {
        "CreateTable" | "UpdateTable" => "table",
        "CreateRole" => "role",
        "PutRolePolicy" | "AttachRolePolicy" | "DetachRolePolicy" | "DeleteRolePolicy" => {
            "role-policy"
        }
        "CreateFunction" | "UpdateFunctionCode" | "UpdateFunctionConfiguration" => "function",
        "CreateLogGroup" | "PutRetentionPolicy" => "log-group",
        "CreateRestApi" => "rest-api",
        "CreateResource" => "path",
        "CreateModel" | "CreateRequestValidator" => "validator",
        "PutMethod" | "DeleteMethod" => "method",
        "PutMethodResponse" => "method-responses",
        "PutIntegration" => "integration",
        "PutIntegrationResponse" => "integration-responses",
        "AddPermission" | "RemovePermission" => "permission",
        "CreateDeployment" | "UpdateStage" => "stage",
        "PublishVersion" | "CreateAlias" | "UpdateAlias" => "alias",
        "PutGatewayResponse" | "DeleteGatewayResponse" => "gateway-responses",
        _ => return None,
    })
}

/// Kind -> number of keys the plan changes.
fn planned(plan: &serde_json::Value) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for c in plan["resource_changes"].as_array().unwrap() {
        if c["action"] != "none" {
            *out.entry(c["kind"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    out
}

/// Kind -> number of calls deploy made.
fn made(w: &World) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for call in w.mutating_calls() {
        if let Some(k) = kind_of(&call) {
            *out.entry(k.to_string()).or_default() += 1;
        }
    }
    out
}

/// Plans (no mutating call), deploys, and checks that deploy changed exactly the kinds the
/// plan listed, with one call per planned key for the kinds made by one call each.
#[track_caller]
fn plan_then_deploy(w: &World, extra: &[&str]) -> serde_json::Value {
    w.proxy.clear();
    let mut args = vec!["plan", "--output", "json"];
    args.extend(extra);
    let run = w.run(&args);
    assert!(run.code == 0 || run.code == 3, "{run}");
    assert!(
        w.mutating_calls().is_empty(),
        "plan made changes: {:?}",
        w.mutating_calls()
    );
    let plan = run.json();
    assert_eq!(plan["format_version"], "1.0");
    // Every change carries every field docs/commands.md lists.
    for c in plan["resource_changes"].as_array().unwrap() {
        for field in [
            "key",
            "kind",
            "action",
            "reason",
            "before",
            "after",
            "changed",
            "deletes_data",
        ] {
            assert!(c.get(field).is_some(), "{field} missing in {c}");
        }
    }
    assert!(plan["api_build"].as_str().is_some(), "{plan}");
    assert_eq!(run.code == 3, plan["changes"] == true, "{run}");
    let want = planned(&plan);

    let mut args = vec!["deploy"];
    args.extend(extra);
    w.run(&args).ok();
    let got = made(w);
    let kinds = |m: &BTreeMap<String, usize>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        kinds(&got),
        kinds(&want),
        "deploy changed other kinds than the plan said:\nplan {plan:#}\ncalls {:?}",
        w.mutating_calls()
    );
    for one_call in [
        "table",
        "role",
        "rest-api",
        "path",
        "method",
        "integration",
        "permission",
        "stage",
    ] {
        if let Some(n) = want.get(one_call) {
            assert_eq!(
                got.get(one_call),
                Some(n),
                "{one_call}: {:?}",
                w.mutating_calls()
            );
        }
    }
    plan
}

fn change<'a>(plan: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == key)
        .unwrap_or_else(|| panic!("{key} not in the plan: {plan:#}"))
}

#[test]
fn a_fresh_stack_plans_every_create_and_deploy_makes_exactly_those() {
    let w = World::new();
    let plan = plan_then_deploy(&w, &[]);
    // The tutorial's 19 parts, the gateway response that names 415's content type, and the
    // function's live alias.
    assert_eq!(plan["summary"]["create"], 21, "{plan:#}");
    assert_eq!(plan["summary"]["none"], 0, "{plan:#}");
    // The IAM grant is called out on its own line, with the table it is scoped to.
    let iam: Vec<String> = plan["iam_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    assert!(
        iam.iter().any(|l| l.contains(
            "dynamodb:PutItem on arn:aws:dynamodb:us-east-1:123456789012:table/user-prod"
        )),
        "{iam:?}"
    );
    // The text form names each key with its action.
    let text = w.run(&["plan"]);
    assert_eq!(text.code, 0, "{text}");
    assert!(text.stdout.contains("No changes"), "{text}");
    w.run(&["teardown", "--yes"]).ok();
}

#[test]
fn a_deployed_stack_plans_nothing_and_a_code_change_plans_one_update() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let plan = plan_then_deploy(&w, &[]);
    assert_eq!(plan["changes"], false, "{plan:#}");
    assert!(w.mutating_calls().is_empty(), "{:?}", w.mutating_calls());

    // A code change: the function, and only its code.
    let code = w.dir.path().join("code");
    std::fs::create_dir(&code).unwrap();
    std::fs::write(
        code.join("index.mjs"),
        "export const handler = async () => ({ message: 'v2' });\n",
    )
    .unwrap();
    let code_arg = code.to_str().unwrap();
    let text = w.run(&["plan", "--code", code_arg]);
    assert_eq!(text.code, 3, "{text}");
    assert!(text.stdout.contains("function:putitem"), "{text}");
    assert!(text.stdout.contains("code_sha256"), "{text}");
    let plan = plan_then_deploy(&w, &["--code", code_arg]);
    let f = change(&plan, "function:putitem");
    assert_eq!(f["action"], "update", "{plan:#}");
    assert_eq!(f["changed"], serde_json::json!(["code_sha256"]));
    // And the version deploy publishes of it, which the live alias then serves.
    let a = change(&plan, "alias:putitem");
    assert_eq!(a["action"], "update", "{plan:#}");
    assert_eq!(a["changed"], serde_json::json!(["version"]));
    assert_eq!(plan["summary"]["update"], 2, "{plan:#}");
    assert_eq!(
        w.mutating_calls(),
        [
            "lambda:UpdateFunctionCode",
            "lambda:PublishVersion",
            "lambda:UpdateAlias"
        ]
    );
    w.run(&["teardown", "--yes"]).ok();
}

#[test]
fn drift_and_a_deletion_behind_the_tools_back_are_planned_as_deploy_repairs_them() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let state = read_state(&w.state_file("prod"));
    let api = support::id(&state, "rest-api");
    let user = support::id(&state, "path:/user");
    let aws = w.aws();
    // Drift: the log group keeps its logs for another time.
    block_on(
        aws.logs
            .put_retention_policy()
            .log_group_name("/aws/lambda/putitem-prod")
            .retention_in_days(3)
            .send(),
    )
    .unwrap();
    let plan = plan_then_deploy(&w, &[]);
    let lg = change(&plan, "log-group:putitem");
    assert_eq!(lg["action"], "update", "{plan:#}");
    assert!(
        lg["reason"].as_str().unwrap().contains("retention"),
        "{plan:#}"
    );
    assert_eq!(w.mutating_calls(), ["logs:PutRetentionPolicy"]);

    // Deleted: POST's integration.
    block_on(
        aws.apigateway
            .delete_integration()
            .rest_api_id(&api)
            .resource_id(&user)
            .http_method("POST")
            .send(),
    )
    .unwrap();
    let plan = plan_then_deploy(&w, &[]);
    assert_eq!(
        change(&plan, "integration:POST /user")["action"],
        "create",
        "{plan:#}"
    );
    assert_eq!(
        change(&plan, "integration:GET /user/{uid}")["action"],
        "none",
        "{plan:#}"
    );
    // A new deployment (the stage's record, with the deployments kept for rollback, stays).
    assert_eq!(change(&plan, "stage:prod")["action"], "update", "{plan:#}");
    assert_eq!(w.run(&["status"]).code, 0);
    // And the plan after the repair is empty.
    assert_eq!(w.run(&["plan"]).code, 0);
    w.run(&["teardown", "--yes"]).ok();
}

/// A stack the previous release deployed: its state file (format 2) and its function's
/// policy, one statement per route, and no gateway response. Plan names the changes: the
/// invoke permission's move to one statement for the function, and what this release adds
/// (the 415 that names its content type, and the deployment that publishes it); deploy adds
/// the new statement before it removes the two old ones (the API can invoke the function
/// throughout) and changes nothing else.
#[test]
fn a_state_file_of_the_previous_release_plans_the_permission_move_and_the_new_415() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let v3 = read_state(&w.state_file("prod"));
    let api = support::id(&v3, "rest-api");
    support::per_route_permissions(&w, &api);
    // That release set no gateway response (this one names 415's content type).
    block_on(
        w.aws()
            .apigateway
            .delete_gateway_response()
            .rest_api_id(&api)
            .response_type(aws_sdk_apigateway::types::GatewayResponseType::UnsupportedMediaType)
            .send(),
    )
    .unwrap();
    let v2 = support::v2_state_of(&v3);
    std::fs::write(
        w.state_file("prod"),
        serde_json::to_string_pretty(&v2).unwrap(),
    )
    .unwrap();
    let status = w.run(&["status", "--output", "json"]);
    assert_eq!(status.code, 3, "{status}");
    assert_eq!(
        support::status_row(&status.json(), "permission")["status"],
        "missing"
    );
    let plan = plan_then_deploy(&w, &[]);
    assert_eq!(plan["changes"], true, "{plan:#}");
    let changed: Vec<(&str, &str)> = plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "none")
        .map(|c| (c["key"].as_str().unwrap(), c["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        changed,
        [
            // What this release adds: the function's live alias, the 415 that names its
            // content type, the integrations put again (with their responses, which a
            // PutIntegration drops) to invoke the alias, published by a new deployment.
            ("alias:putitem", "create"),
            ("gateway-responses", "create"),
            ("integration:POST /user", "replace"),
            ("integration:GET /user/{uid}", "replace"),
            ("integration-responses:POST /user", "replace"),
            ("integration-responses:GET /user/{uid}", "replace"),
            ("permission:putitem", "create"),
            ("stage:prod", "update"),
            ("permission:GET /user/{uid}", "delete"),
            ("permission:POST /user", "delete"),
        ],
        "{plan:#}"
    );
    assert!(change(&plan, "permission:POST /user")["reason"]
        .as_str()
        .unwrap()
        .contains("once the function's own statement is in place"));
    let mut calls = w.mutating_calls();
    calls.sort();
    assert_eq!(
        calls,
        [
            "apigateway:CreateDeployment",
            "apigateway:PutGatewayResponse",
            "apigateway:PutIntegration",
            "apigateway:PutIntegration",
            "apigateway:PutIntegrationResponse",
            "apigateway:PutIntegrationResponse",
            "apigateway:PutIntegrationResponse",
            "apigateway:PutIntegrationResponse",
            "apigateway:PutIntegrationResponse",
            "apigateway:PutIntegrationResponse",
            "apigateway:PutIntegrationResponse",
            "apigateway:PutIntegrationResponse",
            "apigateway:PutIntegrationResponse",
            "apigateway:PutIntegrationResponse",
            "apigateway:PutIntegrationResponse",
            "lambda:AddPermission",
            // The alias this state does not record is found and pointed at the version
            // published (the same one: nothing changed since).
            "lambda:CreateAlias",
            "lambda:PublishVersion",
            "lambda:RemovePermission",
            "lambda:RemovePermission",
            "lambda:UpdateAlias"
        ]
    );
    // The permission moved before the old statements went.
    let order = w.mutating_calls();
    let at = |c: &str| order.iter().position(|x| x == c).unwrap();
    assert!(
        at("lambda:AddPermission") < at("lambda:RemovePermission"),
        "{order:?}"
    );
    assert_eq!(
        support::policy_of(&w, "putitem-prod"),
        [(
            "serverless-cli-apigateway-invoke".to_string(),
            format!("arn:aws:execute-api:us-east-1:123456789012:{api}/prod/*/*")
        )]
    );
    // Written back as format 3, with the same IDs, and nothing left to do.
    let after = read_state(&w.state_file("prod"));
    assert_eq!(after["version"], 3);
    assert_eq!(after["resources"]["rest-api"]["id"], api.as_str());
    assert!(after["resources"].get("permission:POST /user").is_none());
    let status = w.run(&["status"]);
    assert_eq!(status.code, 0, "{status}");
    assert_eq!(w.run(&["plan"]).code, 0);
    w.run(&["teardown", "--yes"]).ok();
}

#[test]
fn teardown_dry_run_lists_the_order_and_changes_nothing() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    w.proxy.clear();
    let run = w.run(&["teardown", "--dry-run", "--output", "json"]).ok();
    assert!(w.proxy.calls().is_empty(), "{:?}", w.operations());
    let doc = run.json();
    let keys: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    let at = |k: &str| keys.iter().position(|x| *x == k).unwrap();
    assert!(at("permission:putitem") < at("rest-api"), "{keys:?}");
    assert!(
        at("permission:putitem") < at("function:putitem"),
        "{keys:?}"
    );
    assert!(at("function:putitem") < at("role:putitem"), "{keys:?}");
    assert!(at("function:putitem") < at("log-group:putitem"), "{keys:?}");
    let table = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "table:user")
        .unwrap();
    assert_eq!(table["deletes_data"], true);
    let api = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "rest-api")
        .unwrap();
    assert!(api["with"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k == "method:POST /user"));
    assert!(w.state_file("prod").exists());
    let kept = w.run(&["teardown", "--dry-run", "--keep-table"]).ok();
    assert!(kept.stdout.contains("keeping (--keep-table)"), "{kept}");
    assert!(!w.aws().inventory().is_empty());
    w.run(&["teardown", "--yes"]).ok();
}
