//! AWS as it really is, put back by the fault-injecting proxy: role propagation, throttling,
//! transient faults and dropped connections on every call, intermediate states, crashes at
//! every call, lost state, Ctrl-C. Every test ends with nothing left behind.

use crate::support;

use std::time::Duration;

use serde_json::json;
use support::proxy::Fault;
use support::{read_state, report, World};

const ROLE_NOT_READY: &str = "The role defined for the function cannot be assumed by Lambda.";

#[test]
fn role_propagation_is_waited_out_and_a_timeout_resumes() {
    let w = World::new();
    // Refused for 3 s from the moment the role exists (as IAM propagation behaves), however
    // long the machine takes to get there.
    w.proxy.fault_after(
        "iam:CreateRole",
        "lambda:CreateFunction",
        Fault::error(400, "InvalidParameterValueException", ROLE_NOT_READY),
        Duration::from_secs(3),
    );
    let run = w.run(&["deploy", "--role-wait", "30"]).ok();
    assert!(
        run.stderr
            .contains("waiting for the new IAM role to reach Lambda"),
        "{run}"
    );
    assert!(
        w.proxy.count("lambda:CreateFunction") >= 3,
        "{:?}",
        w.operations()
    );
    report(
        "fault",
        json!({"fault": "role not assumable for 3 s", "survived": true}),
    );
    w.run(&["teardown", "--yes"]).ok();

    // Past the limit: a clear error, then the next deploy resumes.
    w.proxy.fault_always(
        "lambda:CreateFunction",
        Fault::error(400, "InvalidParameterValueException", ROLE_NOT_READY),
    );
    let run = w.run(&["deploy", "--role-wait", "1"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr
            .contains("Lambda still cannot assume the new IAM role"),
        "{run}"
    );
    assert!(run.stderr.contains("run deploy again to resume"), "{run}");
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1,
        "{run}"
    );
    w.proxy.clear_faults();
    w.run(&["deploy"]).ok();
    w.assert_one_of_each("after a role timeout");
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("role propagation");
}

#[test]
fn throttling_and_concurrent_modification_are_waited_out_honouring_retry_after() {
    let w = World::new();
    w.proxy
        .fault_times("apigateway:CreateRestApi", Fault::throttle(Some(3)), 2);
    w.proxy
        .fault_times("apigateway:CreateDeployment", Fault::throttle(None), 2);
    let conflict = Fault::error(
        409,
        "ConflictException",
        "Unable to complete operation due to concurrent modification. Please try again later.",
    );
    for op in [
        "apigateway:PutMethod",
        "apigateway:PutIntegration",
        "apigateway:CreateResource",
    ] {
        w.proxy.fault_times(op, conflict.clone(), 2);
    }
    let run = w.run(&["deploy"]).ok();
    // The tests shorten every wait twentyfold (SERVERLESS_CLI_RETRY_SCALE=0.05): 3 s -> 0.15 s.
    assert!(
        run.stderr.contains("CreateRestApi answered TooManyRequestsException with Retry-After 3 s; retrying in 0.1 s")
            || run.stderr.contains("CreateRestApi answered TooManyRequestsException with Retry-After 3 s; retrying in 0.2 s"),
        "{run}"
    );
    assert!(
        run.stderr
            .contains("CreateDeployment answered TooManyRequestsException; retrying"),
        "{run}"
    );
    assert!(
        run.stderr
            .contains("PutMethod answered ConflictException; retrying"),
        "{run}"
    );
    assert_eq!(w.proxy.count("apigateway:CreateRestApi"), 3);
    for f in w.proxy.injected() {
        report("fault", json!({"fault": f, "survived": true}));
    }
    w.assert_one_of_each("throttled deploy");

    w.proxy
        .fault_times("apigateway:DeleteRestApi", Fault::throttle(Some(30)), 2);
    let down = w.run(&["teardown", "--yes"]).ok();
    assert!(down.stderr.contains("DeleteRestApi answered TooManyRequestsException with Retry-After 30 s; retrying in 1.5 s"), "{down}");
    report(
        "fault",
        json!({"fault": "apigateway:DeleteRestApi 429 Retry-After 30", "survived": true}),
    );
    w.assert_nothing_left("throttling");

    // ConflictException on every API Gateway call that deploy, status and teardown make.
    w.proxy.clear();
    w.run(&["deploy"]).ok();
    w.run(&["status"]).ok();
    w.run(&["teardown", "--yes"]).ok();
    let apigateway_ops: Vec<String> = w
        .operations()
        .into_iter()
        .filter(|op| op.starts_with("apigateway:"))
        .collect();
    assert!(apigateway_ops.len() >= 10, "{apigateway_ops:?}");
    let before = w.proxy.injected().len();
    for cmd in [&["deploy"][..], &["status"], &["teardown", "--yes"]] {
        w.proxy.clear_faults();
        for op in &apigateway_ops {
            w.proxy.fault_times(op, conflict.clone(), 1);
        }
        let run = w.run(cmd);
        assert_eq!(
            run.code, 0,
            "ConflictException on every API Gateway call of {cmd:?}:\n{run}"
        );
    }
    let injected = w.proxy.injected();
    assert!(
        injected.len() - before >= apigateway_ops.len(),
        "{injected:?}"
    );
    for f in &injected[before..] {
        report("fault", json!({"fault": f, "survived": true}));
    }
    w.assert_nothing_left("ConflictException on every API Gateway call");
}

/// For every operation that deploy, status and teardown make, in turn: the fault on the first
/// call of it in each command, and the three commands still finish correctly.
fn every_operation_survives(fault: Fault, label: &str) {
    let w = World::new();
    // Learn the operations from a clean run.
    w.run(&["deploy"]).ok();
    w.run(&["status"]).ok();
    w.run(&["teardown", "--yes"]).ok();
    let ops = w.operations();
    assert!(ops.len() >= 25, "{ops:?}");
    let mut survived = 0;
    let mut reported = w.proxy.injected().len();
    for op in &ops {
        for cmd in [&["deploy"][..], &["status"], &["teardown", "--yes"]] {
            w.proxy.clear_faults();
            w.proxy.fault_times(op, fault.clone(), 1);
            let run = w.run(cmd);
            assert_eq!(run.code, 0, "{label} on {op} during {cmd:?}:\n{run}");
            if cmd == ["deploy"] {
                w.assert_one_of_each(&format!("{label} on {op} during deploy"));
            }
        }
        w.assert_nothing_left(&format!("{label} on {op}"));
        survived += 1;
        // Every fault the proxy injected for this operation (one per command that made it).
        let injected = w.proxy.injected();
        for f in &injected[reported..] {
            report("fault", json!({"fault": f, "survived": true}));
        }
        reported = injected.len();
    }
    assert_eq!(survived, ops.len());
}

#[test]
fn a_500_on_every_operation_is_survived() {
    every_operation_survives(
        Fault::error(500, "InternalFailure", "internal error"),
        "500 InternalFailure",
    );
}

#[test]
fn a_503_on_every_operation_is_survived() {
    every_operation_survives(
        Fault::error(503, "ServiceUnavailable", "Service Unavailable"),
        "503 ServiceUnavailable",
    );
}

#[test]
fn a_dropped_connection_on_every_operation_is_survived() {
    every_operation_survives(
        Fault::Drop {
            after_forward: false,
        },
        "dropped connection",
    );
}

#[test]
fn a_lost_answer_on_every_operation_is_survived() {
    // The call is carried out, the answer never arrives: the retry must not duplicate.
    every_operation_survives(
        Fault::Drop {
            after_forward: true,
        },
        "answer lost",
    );
}

#[test]
fn intermediate_states_are_waited_for() {
    let w = World::new();
    w.proxy.fault_times(
        "dynamodb:DescribeTable",
        Fault::set_json(&["Table", "TableStatus"], json!("CREATING")),
        3,
    );
    w.proxy.fault_times(
        "lambda:GetFunction",
        Fault::set_json(&["Configuration", "State"], json!("Pending")),
        3,
    );
    let run = w.run(&["deploy"]).ok();
    assert!(run.stderr.contains("waiting: table is CREATING"), "{run}");
    assert!(run.stderr.contains("waiting: state Pending"), "{run}");
    assert!(w.proxy.count("dynamodb:DescribeTable") >= 4);
    assert!(w.proxy.count("lambda:GetFunction") >= 4);
    assert!(read_state(&w.state_file("prod"))["resources"]["table:user"]["attrs"]["ready"] == true);

    // An update in progress is waited for too.
    let code = w.dir.path().join("code");
    std::fs::create_dir(&code).unwrap();
    std::fs::write(
        code.join("index.mjs"),
        "export const handler = async () => ({});\n",
    )
    .unwrap();
    w.proxy.clear();
    w.proxy.fault_times(
        "lambda:GetFunction",
        Fault::set_json(&["Configuration", "LastUpdateStatus"], json!("InProgress")),
        4,
    );
    let run = w.run(&["deploy", "--code", code.to_str().unwrap()]).ok();
    assert!(run.stderr.contains("last update InProgress"), "{run}");
    for f in w.proxy.injected() {
        report("fault", json!({"fault": f, "survived": true}));
    }
    w.proxy.clear_faults();
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("states");
}

#[test]
fn a_failed_function_and_a_wait_past_its_limit_are_clear_errors_and_resume() {
    let w = World::new();
    w.proxy.fault_always(
        "lambda:GetFunction",
        Fault::set_json(&["Configuration", "State"], json!("Failed")),
    );
    let run = w.run(&["deploy"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("is in state Failed"), "{run}");
    w.proxy.clear_faults();
    w.run(&["deploy"]).ok();
    w.run(&["teardown", "--yes"]).ok();

    // CREATING for a minute: far longer than --ready-wait.
    w.proxy.fault_for(
        "dynamodb:DescribeTable",
        Fault::set_json(&["Table", "TableStatus"], json!("CREATING")),
        Duration::from_secs(60),
    );
    let run = w.run(&["deploy", "--ready-wait", "1"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr
            .contains("was not ACTIVE after 1 s; run deploy again"),
        "{run}"
    );
    w.proxy.clear_faults();
    w.run(&["deploy"]).ok();
    w.assert_one_of_each("after a wait past its limit");
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("failed states");
}

/// Kills the process (SIGKILL) while `op` is in flight, lets the call complete at the
/// emulator, then runs the same command again.
fn kill_then_rerun(w: &World, cmd: &[&str], op: &str) -> bool {
    let hold = w.proxy.hold(op);
    let mut child = w.command(cmd).spawn().unwrap();
    let reached = w.proxy.wait_for(op, Duration::from_secs(60));
    child.kill().unwrap();
    let _ = child.wait();
    hold.release();
    std::thread::sleep(Duration::from_millis(100));
    reached
}

#[test]
fn a_crash_at_every_call_of_deploy_and_teardown_is_recovered() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let deploy_ops = w.operations();
    w.proxy.clear();
    w.run(&["teardown", "--yes"]).ok();
    let teardown_ops = w.operations();
    let total = deploy_ops.len() + teardown_ops.len();
    let mut survived = 0;

    for op in &deploy_ops {
        w.proxy.clear();
        assert!(
            kill_then_rerun(&w, &["deploy"], op),
            "deploy never called {op}"
        );
        w.run(&["deploy"]).ok();
        w.assert_one_of_each(&format!("deploy killed during {op}"));
        assert_eq!(
            w.run(&["status"]).code,
            0,
            "after deploy killed during {op}"
        );
        w.run(&["teardown", "--yes"]).ok();
        w.assert_nothing_left(&format!("deploy killed during {op}"));
        survived += 1;
        report(
            "crash",
            json!({"command": "deploy", "call": op, "survived": true}),
        );
    }
    for op in &teardown_ops {
        w.run(&["deploy"]).ok();
        w.proxy.clear();
        assert!(
            kill_then_rerun(&w, &["teardown", "--yes"], op),
            "teardown never called {op}"
        );
        w.run(&["teardown", "--yes"]).ok();
        w.assert_nothing_left(&format!("teardown killed during {op}"));
        assert!(!w.state_file("prod").exists());
        survived += 1;
        report(
            "crash",
            json!({"command": "teardown", "call": op, "survived": true}),
        );
    }
    assert_eq!(survived, total);
    assert!(total >= 35, "{deploy_ops:?} {teardown_ops:?}");
}

#[test]
fn a_lost_state_file_is_recovered_by_tags() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let api_id = read_state(&w.state_file("prod"))["resources"]["rest-api"]["id"].clone();
    std::fs::remove_file(w.state_file("prod")).unwrap();

    // deploy adopts the tagged resources instead of duplicating them.
    let doc = w.run(&["deploy", "--output", "json"]).ok().json();
    let action = |step: &str| {
        doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == step)
            .unwrap()["action"]
            .clone()
    };
    for step in ["table", "role", "function", "api", "resource", "log-group"] {
        assert_eq!(action(step), "adopted", "{step}: {doc:#}");
    }
    assert_eq!(doc["resources"]["api"]["id"], api_id);
    w.assert_one_of_each("deploy after a lost state");
    assert_eq!(w.run(&["status"]).code, 0);

    // teardown without a state file finds the tagged resources, lists them, removes them.
    std::fs::remove_file(w.state_file("prod")).unwrap();
    let refused = w.run(&["teardown"]);
    assert_eq!(refused.code, 2, "{refused}");
    let run = w.run(&["teardown", "--yes"]).ok();
    assert!(
        run.stderr
            .contains("looking for resources tagged serverless-cli:stack=prod"),
        "{run}"
    );
    assert!(
        run.stderr.contains("found DynamoDB table user-prod"),
        "{run}"
    );
    assert!(
        run.stderr
            .contains("found REST API serverless-backend-prod"),
        "{run}"
    );
    w.assert_nothing_left("teardown after a lost state");
    assert!(!w.state_file("prod").exists());
}

#[test]
fn a_lost_state_teardown_leaves_other_stacks_alone() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    w.run(&["--stack", "other", "deploy"]).ok();
    std::fs::remove_file(w.state_file("prod")).unwrap();
    w.run(&["teardown", "--yes"]).ok();
    let inv = w.aws().inventory();
    assert_eq!(inv.tables, ["user-other"]);
    assert_eq!(inv.functions, ["putitem-other"]);
    assert_eq!(inv.apis, ["serverless-backend-other"]);
    w.run(&["--stack", "other", "teardown", "--yes"]).ok();
    w.assert_nothing_left("other stacks");
}

#[test]
fn teardown_refuses_a_resource_the_state_points_at_but_another_stack_owns() {
    let w = World::new();
    w.run(&["--stack", "other", "deploy"]).ok();
    w.run(&["deploy"]).ok();
    // Someone edits prod's state to point at other's table.
    let path = w.state_file("prod");
    let edited = std::fs::read_to_string(&path)
        .unwrap()
        .replace("user-prod", "user-other");
    std::fs::write(&path, edited).unwrap();
    let run = w.run(&["teardown", "--yes"]);
    assert_eq!(run.code, 5, "{run}");
    assert!(
        run.stderr
            .contains("table user-other already exists and belongs to stack 'other'"),
        "{run}"
    );
    let inv = w.aws().inventory();
    assert!(inv.tables.contains(&"user-other".to_string()), "{inv:?}");
    // Everything else of prod is gone; its real table is still recorded nowhere, so remove it
    // by its own name.
    assert!(
        !inv.functions.contains(&"putitem-prod".to_string()),
        "{inv:?}"
    );
    w.run(&["--stack", "other", "teardown", "--yes"]).ok();
    std::fs::remove_file(&path).unwrap();
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("edited state");
}

#[cfg(unix)]
fn interrupt(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[cfg(unix)]
#[test]
fn ctrl_c_lets_the_call_in_flight_finish_saves_state_and_deploy_resumes() {
    let w = World::new();
    let hold = w.proxy.hold("apigateway:CreateRestApi");
    let child = w.command(&["deploy"]).spawn().unwrap();
    assert!(w
        .proxy
        .wait_for("apigateway:CreateRestApi", Duration::from_secs(60)));
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(300));
    hold.release();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("Interrupted: starting nothing new"),
        "{stderr}"
    );
    assert!(stderr.contains("deploy interrupted"), "{stderr}");
    // The call in flight finished and was recorded; nothing after it was started.
    let state = read_state(&w.state_file("prod"));
    assert!(
        state["resources"]["rest-api"]["id"].is_string(),
        "{state:#}"
    );
    assert!(state["resources"]["path:/user"].is_null(), "{state:#}");
    w.run(&["deploy"]).ok();
    w.assert_one_of_each("after Ctrl-C");
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("Ctrl-C");
}

#[cfg(unix)]
#[test]
fn a_second_ctrl_c_stops_at_once_and_deploy_resumes() {
    let w = World::new();
    let hold = w.proxy.hold("apigateway:CreateRestApi");
    let child = w.command(&["deploy"]).spawn().unwrap();
    assert!(w
        .proxy
        .wait_for("apigateway:CreateRestApi", Duration::from_secs(60)));
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(200));
    interrupt(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The abandoned call completes at AWS after the process is gone.
    hold.release();
    std::thread::sleep(Duration::from_millis(200));
    w.run(&["deploy"]).ok();
    w.assert_one_of_each("after a second Ctrl-C");
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("second Ctrl-C");
}

#[test]
fn iam_eventual_consistency_is_waited_out() {
    let w = World::new();
    // Right after CreateRole, IAM may not know the role yet; right after the policies come
    // off, DeleteRole may still see them.
    w.proxy.fault_times(
        "iam:PutRolePolicy",
        Fault::error(
            404,
            "NoSuchEntity",
            "The role with name putitem-prod-role cannot be found.",
        ),
        2,
    );
    let run = w.run(&["deploy"]).ok();
    assert!(
        run.stderr
            .contains("PutRolePolicy answered NoSuchEntity; retrying"),
        "{run}"
    );
    w.proxy.fault_times(
        "iam:DeleteRole",
        Fault::error(
            409,
            "DeleteConflict",
            "Cannot delete entity, must detach all policies first.",
        ),
        2,
    );
    let down = w.run(&["teardown", "--yes"]).ok();
    assert!(
        down.stderr
            .contains("DeleteRole answered DeleteConflict; retrying"),
        "{down}"
    );
    for f in w.proxy.injected() {
        report("fault", json!({"fault": f, "survived": true}));
    }
    w.assert_nothing_left("IAM eventual consistency");
}
