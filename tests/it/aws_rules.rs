//! Rules that AWS enforces and the emulator does not, put back by the proxy: one Put* at a
//! time on an API Gateway method, "already exists" answers that are not true, throttling with
//! `Retry-After: 0`, tags that are absent without `lambda:ListTags`.

use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use support::proxy::Fault;
use support::{block_on, read_state, report, World};

/// Status codes of every method response and integration response, by route, as the emulator
/// has them.
fn responses(w: &World) -> Vec<(String, BTreeSet<String>, BTreeSet<String>)> {
    let state = read_state(&w.state_file("prod"));
    let api = support::id(&state, "rest-api");
    let aws = w.aws();
    block_on(async {
        let res = aws
            .apigateway
            .get_resources()
            .rest_api_id(&api)
            .send()
            .await
            .unwrap();
        let mut out = Vec::new();
        for r in res.items() {
            for verb in ["POST", "GET"] {
                let Ok(m) = aws
                    .apigateway
                    .get_method()
                    .rest_api_id(&api)
                    .resource_id(r.id().unwrap())
                    .http_method(verb)
                    .send()
                    .await
                else {
                    continue;
                };
                let method: BTreeSet<String> = m
                    .method_responses()
                    .map(|h| h.keys().cloned().collect())
                    .unwrap_or_default();
                let integration: BTreeSet<String> = m
                    .method_integration()
                    .and_then(|i| i.integration_responses())
                    .map(|h| h.keys().cloned().collect())
                    .unwrap_or_default();
                out.push((format!("{verb} {}", r.path().unwrap()), method, integration));
            }
        }
        out.sort();
        out
    })
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn expected() -> Vec<(String, BTreeSet<String>, BTreeSet<String>)> {
    let get = set(&["200", "400", "404", "500", "502", "504"]);
    let post = set(&["200", "400", "500", "502", "504"]);
    vec![
        ("GET /user/{uid}".into(), get.clone(), get),
        ("POST /user".into(), post.clone(), post),
    ]
}

#[test]
fn one_put_at_a_time_on_each_method_and_already_exists_is_read_back() {
    let w = World::new();
    w.proxy
        .refuse_concurrent_method_puts(Duration::from_millis(30));
    let run = w.run(&["deploy"]).ok();
    assert_eq!(
        w.proxy.method_refusals(),
        0,
        "deploy sent a Put* on a method while another was in flight:\n{run}"
    );
    assert_eq!(responses(&w), expected(), "{run}");
    assert_eq!(w.run(&["status"]).ok().code, 0);
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("per-method rule");
}

#[test]
fn an_already_exists_that_is_not_true_is_retried_not_recorded() {
    let w = World::new();
    let untrue = Fault::error(
        409,
        "ConflictException",
        "Response already exists for this resource",
    );
    // The first answers of both kinds of response call claim a response that is not there.
    w.proxy
        .fault_times("apigateway:PutMethodResponse", untrue.clone(), 3);
    w.proxy
        .fault_times("apigateway:PutIntegrationResponse", untrue, 3);
    let run = w.run(&["deploy"]).ok();
    assert!(
        run.stderr
            .contains("PutMethodResponse answered ConflictException; retrying"),
        "{run}"
    );
    assert!(w.proxy.count("apigateway:GetMethod") >= 3, "{run}");
    assert_eq!(responses(&w), expected(), "{run}");
    for f in w.proxy.injected() {
        report("fault", json!({"fault": f, "survived": true}));
    }
    assert_eq!(w.run(&["status"]).ok().code, 0);
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("untrue already-exists");
}

#[test]
fn missing_changed_and_extra_responses_are_reported_and_repaired() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let state = read_state(&w.state_file("prod"));
    let api = support::id(&state, "rest-api");
    let post = support::id(&state, "path:/user");
    let item = support::id(&state, "path:/user/{uid}");
    let aws = w.aws();
    // By hand: POST loses its 500 method response, GET's 404 maps another pattern, and GET
    // gains a 418 it never had.
    block_on(async {
        aws.apigateway
            .delete_integration_response()
            .rest_api_id(&api)
            .resource_id(&post)
            .http_method("POST")
            .status_code("500")
            .send()
            .await
            .unwrap();
        aws.apigateway
            .delete_method_response()
            .rest_api_id(&api)
            .resource_id(&post)
            .http_method("POST")
            .status_code("500")
            .send()
            .await
            .unwrap();
        aws.apigateway
            .put_integration_response()
            .rest_api_id(&api)
            .resource_id(&item)
            .http_method("GET")
            .status_code("404")
            .selection_pattern(".*")
            .response_templates("application/json", "{}")
            .send()
            .await
            .unwrap();
        aws.apigateway
            .put_method_response()
            .rest_api_id(&api)
            .resource_id(&item)
            .http_method("GET")
            .status_code("418")
            .send()
            .await
            .unwrap();
    });
    let run = w.run(&["status", "--output", "json"]);
    assert_eq!(run.code, 3, "{run}");
    let doc = run.json();
    let row = |name: &str| support::status_row(&doc, name);
    let mr = row("method-responses");
    assert_eq!(mr["status"], "drifted", "{mr}");
    let why = mr["reason"].as_str().unwrap();
    assert!(
        why.contains("POST /user lacks the method responses 500"),
        "{why}"
    );
    assert!(why.contains("418"), "{why}");
    let ir = row("integration-responses");
    assert_eq!(ir["status"], "drifted", "{ir}");
    let why = ir["reason"].as_str().unwrap();
    assert!(
        why.contains("GET /user/{uid} 404: selection pattern"),
        "{why}"
    );
    assert!(
        why.contains("POST /user lacks the integration responses 500"),
        "{why}"
    );

    let fix = w.run(&["deploy"]).ok();
    assert!(fix.stderr.contains("Repairing: "), "{fix}");
    assert_eq!(responses(&w), expected(), "{fix}");
    assert_eq!(w.run(&["status"]).ok().code, 0);
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("drifted responses");
}

/// GetFunction's answer to a caller without `lambda:ListTags`: no tags, a TagsError.
fn tags_left_out() -> Fault {
    Fault::set_json_all(&[
        (&["Tags"], json!(null)),
        (
            &["TagsError"],
            json!({"ErrorCode": "AccessDeniedException", "Message": "not authorized to perform lambda:ListTags"}),
        ),
    ])
}

/// Without `lambda:ListTags`, GetFunction answers without the tags and with a TagsError. That
/// is "cannot tell", never "untagged": status does not call the function drifted, and teardown
/// removes the function the state records (by its ARN) instead of refusing.
#[test]
fn tags_left_out_for_want_of_list_tags_are_unknown_not_untagged() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    w.proxy.fault_always("lambda:GetFunction", tags_left_out());
    let status = w.run(&["status", "--output", "json"]);
    assert_eq!(status.code, 0, "{status}");
    assert!(!status.stdout.contains("owner tag"), "{status}");
    let down = w.run(&["teardown", "--yes"]);
    assert_eq!(down.code, 0, "{down}");
    assert!(w.proxy.count("lambda:DeleteFunction") == 1, "{down}");
    w.assert_nothing_left("tags left out");
}

/// A function found by name whose tags cannot be read is not adopted on faith: deploy stops,
/// says why and what permission to grant.
#[test]
fn a_function_whose_tags_cannot_be_read_is_not_adopted() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    // The state is lost; the function's tags cannot be read.
    std::fs::remove_file(w.state_file("prod")).unwrap();
    w.proxy.fault_always("lambda:GetFunction", tags_left_out());
    let run = w.run(&["deploy"]);
    assert_eq!(run.code, 5, "{run}");
    assert!(run.stderr.contains("lambda:ListTags"), "{run}");
    w.proxy.clear_faults();
    w.run(&["deploy"]).ok();
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("tags unreadable on adoption");
}

/// The run's API Gateway calls go through one rate limiter sized from AWS's quotas:
/// CreateDeployment is allowed once per 5 s per account, so its retry after a fault waits for
/// its next token, and a burst of other calls is not held up. (Real time: no wait is scaled
/// down in this test. A lower bound only, which a loaded machine cannot break.)
#[test]
fn api_gateway_calls_keep_to_the_documented_quotas() {
    let w = World::new();
    w.proxy.fault_times(
        "apigateway:CreateDeployment",
        Fault::error(503, "ServiceUnavailableException", "try later"),
        1,
    );
    let mut cmd = w.command(&["deploy"]);
    cmd.env("SERVERLESS_CLI_RETRY_SCALE", "1");
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deployments: Vec<_> = w
        .proxy
        .calls()
        .into_iter()
        .filter(|c| c.name() == "apigateway:CreateDeployment")
        .map(|c| c.at)
        .collect();
    assert_eq!(deployments.len(), 2);
    let gap = deployments[1] - deployments[0];
    assert!(
        gap >= Duration::from_millis(4900),
        "CreateDeployment retried after {gap:?}, sooner than AWS's 1 call per 5 s"
    );
    report(
        "fault",
        json!({"fault": "apigateway:CreateDeployment 503, retried within the 1 per 5 s quota", "survived": true}),
    );
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("quota");
}

/// `Retry-After: 0` on every API Gateway call for a while: the run waits a floor between
/// attempts rather than hammering, and finishes.
#[test]
fn retry_after_zero_is_not_taken_as_no_wait() {
    let w = World::new();
    w.proxy.fault_after(
        "apigateway:CreateRestApi",
        "apigateway:CreateModel",
        Fault::throttle(Some(0)),
        Duration::from_millis(600),
    );
    let run = w.run(&["deploy"]).ok();
    // Scaled twentyfold down in tests, the floor is 10 ms (plus up to 10 ms of jitter): about
    // 40 attempts in 0.6 s. Without it the only brake is the rate limiter (scaled to 200 per
    // second after a burst of 40): well over 100.
    let attempts = w.proxy.count("apigateway:CreateModel");
    assert!(attempts >= 2, "{run}");
    assert!(
        attempts <= 80,
        "{attempts} attempts in 0.6 s: no floor under Retry-After: 0"
    );
    report(
        "fault",
        json!({"fault": "apigateway:CreateModel 429 Retry-After 0 for 0.6 s", "survived": true}),
    );
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("Retry-After 0");
}

/// A function left idle for weeks is `Inactive`: present, woken by its next invocation. Not
/// missing, not on its way to ready: status is in sync and deploy has nothing to wait for.
#[test]
fn an_inactive_function_is_idle_not_missing_or_unready() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    w.proxy.fault_always(
        "lambda:GetFunction",
        Fault::set_json(&["Configuration", "State"], json!("Inactive")),
    );
    let status = w.run(&["status"]);
    assert_eq!(status.code, 0, "{status}");
    w.proxy.clear();
    let again = w.run(&["deploy", "--ready-wait", "5"]).ok();
    assert!(
        w.mutating_calls().is_empty(),
        "{again}\n{:?}",
        w.mutating_calls()
    );
    w.proxy.clear_faults();
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("inactive function");
}

/// A role made again by a repair takes seconds to reach Lambda for UpdateFunctionConfiguration
/// too: waited out like CreateFunction's.
#[test]
fn role_propagation_is_waited_out_on_update_function_configuration() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    // The role is deleted behind the tool's back and the function's configuration changed:
    // the repair makes the role again and puts the function's configuration back, pointing at
    // it, while Lambda cannot assume it yet.
    let aws = w.aws();
    block_on(async {
        aws.lambda
            .update_function_configuration()
            .function_name("putitem-prod")
            .environment(
                aws_sdk_lambda::types::Environment::builder()
                    .variables("TABLE_NAME", "someone-elses")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        aws.iam
            .delete_role_policy()
            .role_name("putitem-prod-role")
            .policy_name("putitem-least-privilege")
            .send()
            .await
            .unwrap();
        aws.iam
            .delete_role()
            .role_name("putitem-prod-role")
            .send()
            .await
            .unwrap();
    });
    w.proxy.fault_after(
        "iam:CreateRole",
        "lambda:UpdateFunctionConfiguration",
        Fault::error(
            400,
            "InvalidParameterValueException",
            "The role defined for the function cannot be assumed by Lambda.",
        ),
        Duration::from_secs(2),
    );
    let run = w.run(&["deploy", "--role-wait", "30"]).ok();
    assert!(
        run.stderr
            .contains("waiting for the new IAM role to reach Lambda"),
        "{run}"
    );
    assert!(
        w.proxy.count("lambda:UpdateFunctionConfiguration") >= 2,
        "{run}"
    );
    report(
        "fault",
        json!({"fault": "role not assumable on UpdateFunctionConfiguration for 2 s", "survived": true}),
    );
    assert_eq!(w.run(&["status"]).ok().code, 0);
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("role propagation on update");
}

/// Replacing a statement whose SourceArn was changed by hand: RemovePermission takes a moment
/// to show, and AddPermission of the same statement id before then is refused. Deploy waits
/// until the old statement is gone.
#[test]
fn a_replaced_permission_is_added_only_once_the_old_one_is_gone() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    // The statement is in the live alias's policy, which the proxy keeps as Lambda does.
    let aws = w.aws_via_proxy();
    let sid = "serverless-cli-apigateway-invoke";
    // By hand: the statement now lets any API invoke the function.
    let stale_policy = block_on(async {
        aws.lambda
            .remove_permission()
            .function_name("putitem-prod")
            .qualifier("live")
            .statement_id(sid)
            .send()
            .await
            .unwrap();
        aws.lambda
            .add_permission()
            .function_name("putitem-prod")
            .qualifier("live")
            .statement_id(sid)
            .action("lambda:InvokeFunction")
            .principal("apigateway.amazonaws.com")
            .source_arn("arn:aws:execute-api:us-east-1:123456789012:*/*/*/*")
            .send()
            .await
            .unwrap();
        let policy = aws
            .lambda
            .get_policy()
            .function_name("putitem-prod")
            .qualifier("live")
            .send()
            .await
            .unwrap();
        json!({"Policy": policy.policy().unwrap(), "RevisionId": policy.revision_id().unwrap()})
    });
    w.proxy.clear();
    // For a second after the removal, GetPolicy still shows the old statement (the emulator
    // would answer that the policy is gone: it held one statement) and AddPermission of that
    // id is refused, as AWS does while the change spreads.
    w.proxy.fault_after(
        "lambda:RemovePermission",
        "lambda:GetPolicy",
        Fault::Stale(stale_policy),
        Duration::from_secs(1),
    );
    w.proxy.fault_after(
        "lambda:RemovePermission",
        "lambda:AddPermission",
        Fault::error(
            409,
            "ResourceConflictException",
            "The statement id (serverless-cli-apigateway-invoke) provided already exists. Please provide a new statement id, or remove the existing statement.",
        ),
        Duration::from_secs(1),
    );
    // AWS refuses a second statement with the same id (the emulator accepts it).
    w.proxy.fault_times(
        "lambda:AddPermission",
        Fault::error(
            409,
            "ResourceConflictException",
            "The statement id (serverless-cli-apigateway-invoke) provided already exists. Please provide a new statement id, or remove the existing statement.",
        ),
        1,
    );
    let run = w.run(&["deploy"]).ok();
    assert!(run.stderr.contains("Repairing: "), "{run}");
    assert_eq!(w.proxy.count("lambda:RemovePermission"), 1, "{run}");
    assert_eq!(w.run(&["status"]).ok().code, 0);
    report(
        "fault",
        json!({"fault": "lambda:AddPermission refused for 1 s after RemovePermission", "survived": true}),
    );
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("replaced permission");
}

/// API Gateway validates a body only for the content types its method names a model for: the
/// POST route names its model for `application/json` and for `$default` (every other type), so
/// a text/plain body cannot skip it. Status reports a method that lost one; deploy puts it back.
#[test]
fn the_body_model_covers_every_content_type() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let state = read_state(&w.state_file("prod"));
    let api = support::id(&state, "rest-api");
    let post = support::id(&state, "path:/user");
    let aws = w.aws();
    let models = || {
        block_on(async {
            let m = aws
                .apigateway
                .get_method()
                .rest_api_id(&api)
                .resource_id(&post)
                .http_method("POST")
                .send()
                .await
                .unwrap();
            m.request_models()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>()
        })
    };
    let want: std::collections::BTreeMap<String, String> = [
        ("$default".to_string(), "UserBody".to_string()),
        ("application/json".to_string(), "UserBody".to_string()),
    ]
    .into();
    assert_eq!(models(), want);
    // By hand: the method is put again with a JSON-only model.
    let validator = support::id(&state, "validator:body");
    block_on(async {
        aws.apigateway
            .put_method()
            .rest_api_id(&api)
            .resource_id(&post)
            .http_method("POST")
            .authorization_type("NONE")
            .request_models("application/json", "UserBody")
            .request_validator_id(&validator)
            .send()
            .await
            .unwrap();
    });
    let status = w.run(&["status", "--output", "json"]);
    assert_eq!(status.code, 3, "{status}");
    assert!(status.stdout.contains("for $default"), "{status}");
    w.run(&["deploy"]).ok();
    assert_eq!(models(), want);
    assert_eq!(w.run(&["status"]).ok().code, 0);
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("$default model");
}
