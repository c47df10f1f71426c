//! `serverless-cli iam-policy` prints the policy the deploying identity needs; deploy, status,
//! a repair and teardown then run as an identity holding exactly that policy's actions: the
//! proxy authorises every call against them (API Gateway by HTTP verb, as AWS does) and
//! refuses anything else with AccessDenied.
//!
//! Why the proxy and not the emulator: moto's IAM enforcement (INITIAL_NO_AUTH_ACTION_COUNT)
//! refuses every API Gateway call with SignatureDoesNotMatch (boto3's too) and the Rust SDK's
//! IAM calls likewise, and it evaluates every call against the resource `*`. So the actions
//! are checked here, end to end; the ARNs each statement is scoped to are checked by the unit
//! tests in src/iam_policy.rs, which also fail when the code makes a call the policy lacks.

use crate::support;

use serde_json::Value;
use support::{block_on, World};

fn actions(policy: &Value) -> Vec<String> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn deploy_status_repair_and_teardown_run_under_the_printed_policy() {
    let w = World::new();
    let printed = w.run(&["iam-policy"]).ok();
    let policy: Value = serde_json::from_str(&printed.stdout).expect("one JSON document");
    assert!(w.proxy.calls().is_empty(), "iam-policy made AWS calls");
    assert!(printed.stdout.contains("table/user-prod"), "{printed}");
    let allowed = actions(&policy);

    // Without one action the deploy needs, it is refused: the check is real.
    w.proxy.enforce_actions(
        allowed
            .iter()
            .filter(|a| *a != "dynamodb:DescribeTable")
            .cloned(),
    );
    let run = w.run(&["deploy"]);
    assert_ne!(run.code, 0, "{run}");
    assert!(
        run.stderr
            .contains("not authorized to perform: dynamodb:DescribeTable"),
        "{run}"
    );

    w.proxy.enforce_actions(allowed.iter().cloned());
    let before = w.proxy.denied().len();
    w.run(&["deploy"]).ok();
    w.run(&["status"]).ok();
    // A repair: the function's permission and a route removed by hand.
    block_on(
        w.aws_via_proxy()
            .lambda
            .remove_permission()
            .function_name("putitem-prod")
            .qualifier("live")
            .statement_id("serverless-cli-apigateway-invoke")
            .send(),
    )
    .unwrap();
    w.run(&["deploy"]).ok();
    w.run(&[
        "deploy",
        "--code",
        support::serve::handler_dir().to_str().unwrap(),
    ])
    .ok();
    w.run(&["teardown", "--yes"]).ok();
    // Lost state: teardown finds the stack by its tags, under the same policy.
    w.run(&["deploy"]).ok();
    std::fs::remove_file(w.state_file("prod")).unwrap();
    w.run(&["teardown", "--yes"]).ok();
    assert_eq!(w.proxy.denied()[before..], [] as [String; 0]);
    w.assert_nothing_left("under the printed policy");
}
