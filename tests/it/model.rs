//! A route is one entry of data: one `[[routes]]` entry added to the tutorial's stack file
//! (`DELETE /user/{uid}`, which the handler already answers) and every operation handles it — deploy makes its method,
//! integration and responses (the function's one invoke permission already covers it); plan
//! then has nothing to do; status checks it;
//! a drift of it alone is repaired alone; serve answers it with the real handler; taken out
//! of the model again, plan says it goes and deploy removes exactly it; teardown removes
//! everything.

use crate::support;

use support::serve::{get, http, post};
use support::{block_on, read_state, status_row, World};

const DELETE: &str = "DELETE /user/{uid}";

/// The tutorial's stack file as a project `model` whose function keeps the built-in stack's
/// names and the tutorial's handler; with `third`, one more route (and the grant it needs).
/// Returns the file's path, for `SERVERLESS_CLI_FILE`.
fn stack_file(w: &World, third: bool) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let handler = root.join("examples/tutorial/handler");
    let tutorial =
        std::fs::read_to_string(root.join("examples/tutorial/serverless-cli.toml")).unwrap();
    let function = format!(
        "code = \"{}\"\nallow_code_outside = true\nname = \"putitem-prod\"\nrole_name = \"putitem-prod-role\"",
        handler.display()
    );
    let mut text = tutorial
        // A call per part of each route, as the built-in stack builds its routes (three
        // routes would go past the burst that makes `auto` choose the document).
        .replacen("[api]", "name = \"model\"\n\n[api]\nbuild = \"calls\"", 1)
        .replacen("code = \"handler\"", &function, 1);
    if third {
        let grant = "tables = { user = [\"dynamodb:PutItem\", \"dynamodb:GetItem\"] }";
        assert!(text.contains(grant));
        text = text.replacen(
            grant,
            "tables = { user = [\"dynamodb:PutItem\", \"dynamodb:GetItem\", \"dynamodb:DeleteItem\"] }",
            1,
        );
        let route = r#"[[routes]]
method = "DELETE"
path = "/user/{uid}"
function = "putitem"
request_template = '''{"operation": "deleteUser", "uid": "$util.urlEncode($input.params('uid'))"}'''

[[try]]"#;
        // The first `[[try]]` table (the header comment names it too).
        text = text.replacen("\n[[try]]\n", &format!("\n{route}\n"), 1);
    }
    let name = if third {
        "with-delete.toml"
    } else {
        "without-delete.toml"
    };
    let path = w.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn a_third_route_from_the_model_is_deployed_planned_checked_repaired_served_and_torn_down() {
    let w = World::new();
    let with = stack_file(&w, true);
    let without = stack_file(&w, false);
    let model = ("SERVERLESS_CLI_FILE", with.as_str());
    let no_model = ("SERVERLESS_CLI_FILE", without.as_str());
    let deploy = w.run_env(&[model], &["deploy", "--output", "json"]).ok();
    // 15 kinds (the function's live alias among them), and the gateway response that names
    // 415's content type.
    assert_eq!(deploy.json()["steps"].as_array().unwrap().len(), 16);
    let state = read_state(&w.state_file("prod"));
    let res = &state["resources"];
    for kind in [
        "method",
        "method-responses",
        "integration",
        "integration-responses",
    ] {
        assert!(
            res[format!("{kind}:{DELETE}")].is_object(),
            "{kind}:{DELETE} not recorded: {state:#}"
        );
    }
    // No statement of its own: the function's one covers every route of the stage.
    assert!(
        res.get(format!("permission:{DELETE}")).is_none(),
        "{state:#}"
    );
    assert_eq!(
        res["permission:putitem"]["id"],
        "serverless-cli-apigateway-invoke"
    );
    let aws = w.aws();
    let api = res["rest-api"]["id"].as_str().unwrap().to_string();
    let item = res["path:/user/{uid}"]["id"].as_str().unwrap().to_string();
    // In AWS: the method, its integration with the request template, the function's one
    // permission, and the role may delete items (and only because a route does).
    let integration = block_on(
        aws.apigateway
            .get_integration()
            .rest_api_id(&api)
            .resource_id(&item)
            .http_method("DELETE")
            .send(),
    )
    .unwrap();
    assert!(integration.request_templates().unwrap()["application/json"].contains("deleteUser"));
    assert_eq!(
        support::policy_of(&w, "putitem-prod"),
        [(
            "serverless-cli-apigateway-invoke".to_string(),
            format!("arn:aws:execute-api:us-east-1:123456789012:{api}/prod/*/*")
        )]
    );
    let inline = block_on(
        aws.iam
            .get_role_policy()
            .role_name("putitem-prod-role")
            .policy_name("putitem-least-privilege")
            .send(),
    )
    .unwrap();
    let doc = support::percent_decode(inline.policy_document());
    assert!(doc.contains("dynamodb:DeleteItem"), "{doc}");
    // The tutorial's stack, without the model, does not grant it.
    assert!(!stack_policy_without_model(&w, no_model).contains("dynamodb:DeleteItem"));

    // Nothing to do, and status checks the third route.
    let plan = w.run_env(&[model], &["plan", "--output", "json"]);
    assert_eq!(plan.code, 0, "{plan}");
    let status = w
        .run_env(&[model], &["status", "--output", "json"])
        .ok()
        .json();
    // (The function's live alias is one of them.)
    assert_eq!(status["resources"].as_array().unwrap().len(), 17);
    assert!(status_row(&status, "method")["id"]
        .as_str()
        .unwrap()
        .contains(DELETE));

    // The DELETE method removed by hand: reported, planned and repaired alone.
    block_on(
        aws.apigateway
            .delete_method()
            .rest_api_id(&api)
            .resource_id(&item)
            .http_method("DELETE")
            .send(),
    )
    .unwrap();
    let status = w.run_env(&[model], &["status", "--output", "json"]);
    assert_eq!(status.code, 3, "{status}");
    let row = status_row(&status.json(), "method");
    assert_eq!(row["status"], "missing", "{row:#}");
    assert!(row["reason"].as_str().unwrap().contains(DELETE), "{row:#}");
    let plan = w.run_env(&[model], &["plan", "--output", "json"]).json();
    let changed: Vec<&str> = plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "none")
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert!(
        changed.contains(&"method:DELETE /user/{uid}"),
        "{changed:?}"
    );
    assert!(
        changed
            .iter()
            .all(|k| k.contains(DELETE) || *k == "stage:prod"),
        "only the third route and the deployment: {changed:?}"
    );
    w.proxy.clear();
    w.run_env(&[model], &["deploy"]).ok();
    let calls = w.mutating_calls();
    let count = |name: &str| calls.iter().filter(|c| *c == name).count();
    assert_eq!(count("apigateway:PutMethod"), 1, "{calls:?}");
    assert_eq!(count("apigateway:PutIntegration"), 1, "{calls:?}");
    assert_eq!(count("apigateway:CreateDeployment"), 1, "{calls:?}");
    assert_eq!(count("lambda:AddPermission"), 0, "{calls:?}");
    assert_eq!(w.run_env(&[model], &["status"]).code, 0);

    // serve answers the route with the real handler's branch.
    let served = w.serve_raw(&[], |cmd| {
        cmd.env(model.0, model.1);
    });
    let r = post(
        &served.url,
        r#"{"uid":"d 1","username":"Dee","email":"dee@example.com"}"#,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = http("DELETE", &format!("{}/user/d%201", served.url), None, "");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["message"], "Deleted user d 1.");
    assert_eq!(get(&served.url, "d%201").status, 404);
    let r = http("DELETE", &format!("{}/user/d%201", served.url), None, "");
    assert_eq!(r.status, 404, "{r:?}");
    drop(served);

    // The route taken out of the model again: plan says what goes, deploy removes exactly
    // that (the method takes its responses and integration along), and the grant goes too;
    // the function's invoke permission stays, for the routes it still has.
    let plan = w.run_env(&[no_model], &["plan", "--output", "json"]);
    assert_eq!(plan.code, 3, "{plan}");
    let plan = plan.json();
    let action = |key: &str| {
        plan["resource_changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == key)
            .map(|c| c["action"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    for kind in [
        "method",
        "method-responses",
        "integration",
        "integration-responses",
    ] {
        assert_eq!(action(&format!("{kind}:{DELETE}")), "delete", "{plan:#}");
    }
    assert_eq!(action("permission:putitem"), "none", "{plan:#}");
    assert_eq!(action("stage:prod"), "update", "{plan:#}");
    assert_eq!(action("role-policy:putitem"), "update", "{plan:#}");
    assert_eq!(action("method:GET /user/{uid}"), "none", "{plan:#}");
    let iam = plan["iam_changes"].to_string();
    assert!(
        iam.contains("no longer grants dynamodb:DeleteItem"),
        "{iam}"
    );
    w.proxy.clear();
    w.run_env(&[no_model], &["deploy"]).ok();
    let mut calls = w.mutating_calls();
    calls.sort();
    assert_eq!(
        calls,
        [
            "apigateway:CreateDeployment",
            "apigateway:DeleteMethod",
            "iam:PutRolePolicy",
        ]
    );
    let state = read_state(&w.state_file("prod"));
    let keys: Vec<&String> = state["resources"].as_object().unwrap().keys().collect();
    assert!(!keys.iter().any(|k| k.contains("DELETE")), "{keys:?}");
    assert_eq!(w.run_env(&[no_model], &["status"]).code, 0);
    assert_eq!(w.run_env(&[no_model], &["plan"]).code, 0);
    let gone = block_on(
        aws.apigateway
            .get_method()
            .rest_api_id(&api)
            .resource_id(&item)
            .http_method("DELETE")
            .send(),
    );
    assert!(gone.is_err(), "the DELETE method is still there");
    for policy in [
        support::policy_of(&w, "putitem-prod"),
        support::own_policy_of(&w, "putitem-prod"),
    ] {
        assert!(
            !policy.iter().any(|(sid, _)| sid.contains("delete-user")),
            "{policy:?}"
        );
    }

    w.run_env(&[no_model], &["teardown", "--yes"]).ok();
    assert!(w.aws().inventory().is_empty());
}

/// The least-privilege document the tutorial's own stack would put (from a plan of the file
/// without the third route: its "after").
fn stack_policy_without_model(w: &World, no_model: (&str, &str)) -> String {
    let plan = w.run_env(&[no_model], &["plan", "--output", "json"]).json();
    plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "role-policy:putitem")
        .unwrap()["after"]
        .to_string()
}
