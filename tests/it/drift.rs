//! Drift that widens what the stack's role may do or what its API exposes: status reports it,
//! and deploy restores the stack's exact shape on its own resources, saying what it removed.

use crate::support;

use support::{block_on, read_state, status_row as row, World};

#[test]
fn policies_added_to_the_role_are_reported_and_removed() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let aws = w.aws();
    block_on(async {
        aws.iam
            .put_role_policy()
            .role_name("putitem-prod-role")
            .policy_name("backdoor")
            .policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
            )
            .send()
            .await
            .unwrap();
        aws.iam
            .attach_role_policy()
            .role_name("putitem-prod-role")
            .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
            .send()
            .await
            .unwrap();
    });
    let status = w.run(&["status", "--output", "json"]);
    assert_eq!(status.code, 3, "{status}");
    let rp = row(&status.json(), "role-policy");
    assert_eq!(rp["status"], "drifted", "{rp}");
    assert!(rp["reason"].as_str().unwrap().contains("backdoor"), "{rp}");

    let fix = w.run(&["deploy"]).ok();
    assert!(
        fix.stderr.contains("removed inline policy backdoor"),
        "{fix}"
    );
    assert!(
        fix.stderr
            .contains("managed policy arn:aws:iam::aws:policy/AdministratorAccess"),
        "{fix}"
    );
    let (inline, attached) = block_on(async {
        let inline = aws
            .iam
            .list_role_policies()
            .role_name("putitem-prod-role")
            .send()
            .await
            .unwrap()
            .policy_names()
            .to_vec();
        let attached = aws
            .iam
            .list_attached_role_policies()
            .role_name("putitem-prod-role")
            .send()
            .await
            .unwrap()
            .attached_policies()
            .len();
        (inline, attached)
    });
    assert_eq!(inline, ["putitem-least-privilege"]);
    assert_eq!(attached, 0);
    assert_eq!(w.run(&["status"]).ok().code, 0);

    // The tutorial's managed mode: a third managed policy is drift too.
    w.run(&["teardown", "--yes"]).ok();
    w.run(&["deploy", "--managed-policies"]).ok();
    block_on(
        aws.iam
            .attach_role_policy()
            .role_name("putitem-prod-role")
            .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
            .send(),
    )
    .unwrap();
    let status = w.run(&["status", "--output", "json"]);
    assert_eq!(status.code, 3, "{status}");
    assert!(row(&status.json(), "role-policy")["reason"]
        .as_str()
        .unwrap()
        .contains("AdministratorAccess"));
    let fix = w.run(&["deploy", "--managed-policies"]).ok();
    assert!(fix.stderr.contains("AdministratorAccess"), "{fix}");
    assert_eq!(w.run(&["status"]).ok().code, 0);
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("role drift");
}

#[test]
fn routes_added_to_the_api_by_hand_are_reported_and_never_published() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let state = read_state(&w.state_file("prod"));
    let api = support::id(&state, "rest-api");
    let user = support::id(&state, "path:/user");
    let root = state["resources"]["rest-api"]["attrs"]["root_resource_id"]
        .as_str()
        .unwrap()
        .to_string();
    let aws = w.aws();
    // By hand: /admin with a method, and DELETE /user.
    block_on(async {
        let admin = aws
            .apigateway
            .create_resource()
            .rest_api_id(&api)
            .parent_id(&root)
            .path_part("admin")
            .send()
            .await
            .unwrap();
        aws.apigateway
            .put_method()
            .rest_api_id(&api)
            .resource_id(admin.id().unwrap())
            .http_method("GET")
            .authorization_type("NONE")
            .send()
            .await
            .unwrap();
        aws.apigateway
            .put_method()
            .rest_api_id(&api)
            .resource_id(&user)
            .http_method("DELETE")
            .authorization_type("NONE")
            .send()
            .await
            .unwrap();
    });
    let status = w.run(&["status", "--output", "json"]);
    assert_eq!(status.code, 3, "{status}");
    let extra = row(&status.json(), "extra-routes");
    assert_eq!(extra["status"], "drifted", "{extra}");
    let why = extra["reason"].as_str().unwrap();
    assert!(why.contains("/admin (resource)"), "{why}");
    assert!(why.contains("DELETE /user"), "{why}");

    w.proxy.clear();
    let fix = w.run(&["deploy"]).ok();
    assert!(
        fix.stderr.contains("removed DELETE /user, /admin")
            || fix.stderr.contains("removed /admin, DELETE /user"),
        "{fix}"
    );
    // Removed before the new deployment.
    let ops: Vec<String> = w.proxy.calls().iter().map(|c| c.name()).collect();
    let last_delete = ops
        .iter()
        .rposition(|o| o == "apigateway:DeleteResource" || o == "apigateway:DeleteMethod")
        .expect("a delete");
    let deployment = ops
        .iter()
        .position(|o| o == "apigateway:CreateDeployment")
        .expect("a new deployment");
    assert!(last_delete < deployment, "{ops:?}");
    let paths: Vec<String> = aws.resource_ids(&api).into_keys().collect();
    assert_eq!(paths, ["/", "/user", "/user/{uid}"]);
    assert_eq!(w.run(&["status"]).ok().code, 0);
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("extra routes");
}

/// An owner tag removed by hand: status names the resource, teardown refuses it (it cannot
/// tell it from someone else's) and says how to go on, deploy puts the tag back, and teardown
/// then removes everything. A tag naming another stack is never overwritten.
#[test]
fn a_removed_owner_tag_is_reported_put_back_and_teardown_then_works() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let state = read_state(&w.state_file("prod"));
    let table_arn = state["resources"]["table:user"]["arn"]
        .as_str()
        .unwrap()
        .to_string();
    let aws = w.aws();
    block_on(async {
        aws.dynamodb
            .untag_resource()
            .resource_arn(&table_arn)
            .tag_keys("serverless-cli:stack")
            .send()
            .await
            .unwrap();
        aws.iam
            .untag_role()
            .role_name("putitem-prod-role")
            .tag_keys("serverless-cli:stack")
            .send()
            .await
            .unwrap();
    });
    let status = w.run(&["status", "--output", "json"]);
    assert_eq!(status.code, 3, "{status}");
    let tags = row(&status.json(), "owner-tags");
    let why = tags["reason"].as_str().unwrap();
    assert!(
        why.contains("table user-prod has lost its owner tag"),
        "{why}"
    );
    assert!(
        why.contains("role putitem-prod-role has lost its owner tag"),
        "{why}"
    );

    let down = w.run(&["teardown", "--yes"]);
    assert_eq!(down.code, 5, "{down}");
    assert!(
        down.stderr.contains("run deploy (it puts the tag back)"),
        "{down}"
    );

    w.proxy.clear();
    let fix = w.run(&["deploy"]).ok();
    assert!(
        fix.stderr
            .contains("Put the owner tag serverless-cli:stack=prod back on"),
        "{fix}"
    );
    // The refused teardown carried on with the rest (API, function, log group): deploy makes
    // those again, and tags the table and the role it kept, without making them again.
    let mutating = w.mutating_calls();
    for call in ["dynamodb:TagResource", "iam:TagRole"] {
        assert!(mutating.contains(&call.to_string()), "{call}: {mutating:?}");
    }
    for call in ["dynamodb:CreateTable", "iam:CreateRole"] {
        assert!(
            !mutating.contains(&call.to_string()),
            "{call}: {mutating:?}"
        );
    }
    assert_eq!(w.run(&["status"]).ok().code, 0);
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("owner tag put back");
}

/// A statement added to the function's policy lets others invoke it: status reports it, and
/// deploy removes it, leaving the stack's own statements.
#[test]
fn a_statement_added_to_the_functions_policy_is_reported_and_removed() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let aws = w.aws_via_proxy();
    // One in the function's own policy, one in its live alias's (which API Gateway invokes).
    for (sid, qualifier) in [
        ("anyone-may-invoke", None),
        ("anyone-via-alias", Some("live")),
    ] {
        block_on(
            aws.lambda
                .add_permission()
                .function_name("putitem-prod")
                .set_qualifier(qualifier.map(str::to_string))
                .statement_id(sid)
                .action("lambda:InvokeFunction")
                .principal("*")
                .send(),
        )
        .unwrap();
    }
    let status = w.run(&["status", "--output", "json"]);
    assert_eq!(status.code, 3, "{status}");
    let p = row(&status.json(), "permission");
    assert_eq!(p["status"], "drifted", "{p}");
    for sid in ["anyone-may-invoke", "anyone-via-alias"] {
        assert!(p["reason"].as_str().unwrap().contains(sid), "{p}");
    }

    let fix = w.run(&["deploy"]).ok();
    assert!(
        fix.stderr.contains("removed statement anyone-may-invoke"),
        "{fix}"
    );
    assert!(fix.stderr.contains("statement anyone-via-alias"), "{fix}");
    // Only the stack's own statement is left, in the alias's policy.
    let sids: Vec<String> = support::policy_of(&w, "putitem-prod")
        .into_iter()
        .map(|(sid, _)| sid)
        .collect();
    assert_eq!(sids, ["serverless-cli-apigateway-invoke"]);
    assert!(support::own_policy_of(&w, "putitem-prod").is_empty());
    assert_eq!(w.run(&["status"]).ok().code, 0);
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("foreign statement");
}

/// Every record of every tagged kind is checked, not the first of each: the shop's two
/// tables, roles, functions and log groups all lose their owner tags; status names all eight,
/// deploy puts all eight back (and its JSON lists every table and function), and status is
/// clean again.
#[test]
fn every_record_of_a_stack_with_two_of_each_is_checked_and_retagged() {
    let w = World::new();
    let shop = w.dir.path().join("shop");
    let copied = std::process::Command::new("cp")
        .arg("-R")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop"))
        .arg(&shop)
        .status()
        .unwrap();
    assert!(copied.success());
    let file = shop.join("serverless-cli.toml");
    let file = file.to_str().unwrap();
    w.run(&["deploy", "--file", file]).ok();
    let state = read_state(&w.state_file("shop.prod"));
    let res = &state["resources"];
    let arn = |key: &str| res[key]["arn"].as_str().unwrap().to_string();
    let aws = w.aws();
    let tag = vec!["serverless-cli:stack".to_string()];
    block_on(async {
        for t in ["users", "orders"] {
            aws.dynamodb
                .untag_resource()
                .resource_arn(arn(&format!("table:{t}")))
                .set_tag_keys(Some(tag.clone()))
                .send()
                .await
                .unwrap();
            aws.iam
                .untag_role()
                .role_name(format!("shop-{t}-prod-role"))
                .set_tag_keys(Some(tag.clone()))
                .send()
                .await
                .unwrap();
            aws.lambda
                .untag_resource()
                .resource(arn(&format!("function:{t}")))
                .set_tag_keys(Some(tag.clone()))
                .send()
                .await
                .unwrap();
            aws.logs
                .untag_resource()
                .resource_arn(arn(&format!("log-group:{t}")).trim_end_matches(":*"))
                .set_tag_keys(Some(tag.clone()))
                .send()
                .await
                .unwrap();
        }
    });
    let status = w.run(&["status", "--file", file, "--output", "json"]);
    assert_eq!(status.code, 3, "{status}");
    let why = row(&status.json(), "owner-tags")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    for lost in [
        "table shop-users-prod",
        "table shop-orders-prod",
        "role shop-users-prod-role",
        "role shop-orders-prod-role",
        "function shop-users-prod",
        "function shop-orders-prod",
        "log-group /aws/lambda/shop-users-prod",
        "log-group /aws/lambda/shop-orders-prod",
    ] {
        assert!(why.contains(&format!("{lost} has lost")), "{lost}: {why}");
    }
    w.proxy.clear();
    let fix = w.run(&["deploy", "--file", file, "--output", "json"]).ok();
    let calls = w.mutating_calls();
    for (call, n) in [
        ("dynamodb:TagResource", 2),
        ("iam:TagRole", 2),
        ("lambda:TagResource", 2),
        ("logs:TagResource", 2),
    ] {
        let made = calls.iter().filter(|c| *c == call).count();
        assert_eq!(made, n, "{call}: {calls:?}");
    }
    let doc = fix.json();
    assert!(doc["url"].as_str().unwrap().ends_with("/prod"), "{doc:#}");
    assert!(doc["curl"].is_null(), "{doc:#}");
    for kind in ["tables", "functions", "roles", "log_groups"] {
        let names: Vec<&String> = doc["resources"][kind].as_object().unwrap().keys().collect();
        assert_eq!(names, ["orders", "users"], "{kind}: {doc:#}");
    }
    let status = w.run(&["status", "--file", file, "--output", "json"]).ok();
    // The stack's own URL: its stage, not the tutorial's route.
    let url = status.json()["url"].as_str().unwrap().to_string();
    assert!(url.ends_with(".amazonaws.com/prod"), "{url}");
    w.run(&["teardown", "--file", file, "--yes"]).ok();
    w.assert_nothing_left("two of each, retagged");
}
