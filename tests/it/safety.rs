//! Interruptions, the lock, other stacks' resources: nothing lost, nothing duplicated, nothing
//! of anybody else's touched.

use crate::support;

use std::time::Duration;

use support::{block_on, read_state, World};

/// Kills deploy while `operation` is in flight (the proxy holds it), lets AWS finish the call
/// anyway (the worst case: made but never recorded), then deploys again.
fn kill_during(operation: &str) {
    let w = World::new();
    let hold = w.proxy.hold(operation);
    let mut child = w.command(&["deploy"]).spawn().unwrap();
    assert!(
        w.proxy.wait_for(operation, Duration::from_secs(60)),
        "deploy never called {operation}"
    );
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    hold.release();
    // Let the released call reach the emulator.
    std::thread::sleep(Duration::from_millis(300));

    let run = w.run(&["deploy", "--output", "json"]).ok();
    let doc = run.json();
    assert_eq!(doc["ok"], true);
    let aws = w.aws();
    let inv = aws.inventory();
    assert_eq!(inv.tables, ["user-prod"], "{operation}: {inv:?}");
    assert_eq!(inv.roles, ["putitem-prod-role"], "{operation}: {inv:?}");
    assert_eq!(inv.functions, ["putitem-prod"], "{operation}: {inv:?}");
    assert_eq!(
        inv.apis,
        ["serverless-backend-prod"],
        "{operation}: {inv:?}"
    );
    assert_eq!(
        inv.log_groups,
        ["/aws/lambda/putitem-prod"],
        "{operation}: {inv:?}"
    );
    let status = w.run(&["status"]);
    assert_eq!(status.code, 0, "{operation}: {status}");

    w.run(&["teardown", "--yes"]).ok();
    let left = aws.inventory();
    assert!(left.is_empty(), "{operation}: left behind {left:?}");
}

#[test]
fn killed_during_create_table_then_deploy_finishes() {
    kill_during("dynamodb:CreateTable");
}

#[test]
fn killed_during_create_role_then_deploy_finishes() {
    kill_during("iam:CreateRole");
}

#[test]
fn killed_during_create_rest_api_then_deploy_finds_it_by_tag() {
    kill_during("apigateway:CreateRestApi");
}

#[test]
fn killed_during_create_function_then_deploy_adopts_it() {
    kill_during("lambda:CreateFunction");
}

#[test]
fn killed_during_add_permission_then_deploy_finishes() {
    kill_during("lambda:AddPermission");
}

#[test]
fn killed_during_create_deployment_then_deploy_finishes() {
    kill_during("apigateway:CreateDeployment");
}

#[test]
fn teardown_killed_midway_is_finished_by_the_next_teardown() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let hold = w.proxy.hold("iam:DeleteRole");
    let mut child = w.command(&["teardown", "--yes"]).spawn().unwrap();
    assert!(w.proxy.wait_for("iam:DeleteRole", Duration::from_secs(60)));
    child.kill().unwrap();
    let _ = child.wait();
    // The state recorded each removal made before the kill.
    let state = read_state(&w.state_file("prod"));
    assert!(
        state["resources"]["function:putitem"].is_null(),
        "{state:#}"
    );
    assert!(state["resources"]["rest-api"].is_null(), "{state:#}");
    hold.release();
    w.run(&["teardown", "--yes"]).ok();
    assert!(w.aws().inventory().is_empty());
    assert!(!w.state_file("prod").exists());
}

#[test]
fn a_second_deploy_of_the_same_stack_is_refused_while_the_first_runs() {
    let w = World::new();
    // The first deploy holds the lock and waits on its first AWS calls (the identity call
    // and, beside it, the REST API lookup).
    let hold = w.proxy.hold("sts:GetCallerIdentity");
    let hold_lookup = w.proxy.hold("apigateway:GetRestApis");
    let mut first = w.command(&["deploy"]).spawn().unwrap();
    assert!(w
        .proxy
        .wait_for("sts:GetCallerIdentity", Duration::from_secs(60)));
    assert!(w
        .proxy
        .wait_for("apigateway:GetRestApis", Duration::from_secs(60)));
    let calls_before = w.proxy.calls().len();
    assert_eq!(calls_before, 2);

    let second = w.run(&["deploy"]);
    assert_eq!(second.code, 4, "{second}");
    assert!(
        second
            .stderr
            .contains("in use by another serverless-cli run"),
        "{second}"
    );
    assert!(
        second.stderr.contains(&format!("pid {}", first.id())),
        "{second}"
    );
    let down = w.run(&["teardown", "--yes"]);
    assert_eq!(down.code, 4, "{down}");
    assert!(
        down.stderr.contains("in use by another serverless-cli run"),
        "{down}"
    );
    // Refused before any AWS call.
    assert_eq!(w.proxy.calls().len(), calls_before);

    hold.release();
    hold_lookup.release();
    assert!(first.wait().unwrap().success());
    // Another stack is not blocked by this one's lock.
    w.run(&["--stack", "other", "deploy"]).ok();
    w.run(&["teardown", "--yes"]).ok();
    w.run(&["--stack", "other", "teardown", "--yes"]).ok();
    assert!(w.aws().inventory().is_empty());
}

#[test]
fn a_lock_left_by_a_killed_process_does_not_block() {
    let w = World::new();
    let hold = w.proxy.hold("iam:CreateRole");
    let mut child = w.command(&["deploy"]).spawn().unwrap();
    assert!(w.proxy.wait_for("iam:CreateRole", Duration::from_secs(60)));
    child.kill().unwrap();
    let _ = child.wait();
    drop(hold);
    assert!(w.state_dir().join("prod.lock").exists());
    w.run(&["deploy"]).ok();
    w.run(&["teardown", "--yes"]).ok();
}

#[test]
fn another_stacks_resource_is_neither_adopted_nor_deleted() {
    let w = World::new();
    // Stack "other" owns a table under the name that stack "prod" wants.
    w.run(&["--stack", "other", "deploy", "--table-name", "user-prod"])
        .ok();

    let run = w.run(&["deploy"]);
    assert_eq!(run.code, 5, "{run}");
    assert!(
        run.stderr
            .contains("table user-prod already exists and belongs to stack 'other'"),
        "{run}"
    );
    assert!(run.stderr.contains("--table-name"), "{run}");
    // The table was not recorded as ours.
    // (Refused before any change: no state was written at all.)
    assert!(
        !w.state_file("prod").exists()
            || read_state(&w.state_file("prod"))["resources"]["table:user"].is_null()
    );

    // The advice works when followed: nothing was made under the taken name, so it may change.
    let followed = w.run(&["deploy", "--table-name", "user-prod-b"]).ok();
    assert!(followed.stderr.contains("user-prod-b"), "{followed}");
    assert_eq!(
        read_state(&w.state_file("prod"))["names"]["table"],
        "user-prod-b"
    );
    // Once made, the name is fixed again.
    let again = w.run(&["deploy", "--table-name", "user-prod-c"]);
    assert_eq!(again.code, 2, "{again}");
    assert!(again.stderr.contains("cannot change in place"), "{again}");

    // prod's teardown removes what prod made and leaves other's table alone.
    w.run(&["teardown", "--yes"]).ok();
    let inv = w.aws().inventory();
    assert_eq!(inv.tables, ["user-prod"]);
    assert_eq!(inv.functions, ["putitem-other"]);
    assert_eq!(inv.apis, ["serverless-backend-other"]);

    // A role made by hand (no owner tag) is not adopted either.
    block_on(
        w.aws()
            .iam
            .create_role()
            .role_name("putitem-prod-role")
            .assume_role_policy_document("{}")
            .send(),
    )
    .unwrap();
    let run = w.run(&["deploy", "--table-name", "user-prod-2"]);
    assert_eq!(run.code, 5, "{run}");
    assert!(
        run.stderr
            .contains("IAM role putitem-prod-role already exists and belongs to nobody known"),
        "{run}"
    );
    w.run(&["teardown", "--yes"]).ok();
    let inv = w.aws().inventory();
    assert!(
        inv.roles.contains(&"putitem-prod-role".to_string()),
        "{inv:?}"
    );
    assert!(!inv.tables.contains(&"user-prod-2".to_string()), "{inv:?}");

    w.run(&["--stack", "other", "teardown", "--yes"]).ok();
    assert_eq!(w.aws().inventory().tables, Vec::<String>::new());
}

/// Writes a project folder `dir/<folder>` with a stack file of one table, one function
/// `create` and one route; `extra` is added at the top of the file.
fn project(w: &World, folder: &str, extra: &str) -> String {
    let dir = w.dir.path().join(folder);
    std::fs::create_dir_all(dir.join("code")).unwrap();
    std::fs::write(
        dir.join("code/index.mjs"),
        "export const handler = async () => ({ ok: true });\n",
    )
    .unwrap();
    let file = dir.join("serverless-cli.toml");
    std::fs::write(
        &file,
        format!(
            r#"{extra}
[tables.items]
hash_key = {{ name = "id", type = "S" }}

[functions.create]
code = "code"
tables = {{ items = ["dynamodb:PutItem"] }}

[[routes]]
method = "POST"
path = "/items"
function = "create"
"#
        ),
    )
    .unwrap();
    file.to_str().unwrap().to_string()
}

/// Two projects, each with a stack `dev` and a function `create`, in one account: each gets
/// its own names, owner tags and state; neither adopts, updates nor deletes the other's.
#[test]
fn two_projects_with_the_same_stack_and_function_never_take_each_other_over() {
    let w = World::new();
    let one = project(&w, "one", "");
    let two = project(&w, "Two Things", "");
    w.run(&["--stack", "dev", "--file", &one, "deploy"]).ok();
    w.run(&["--stack", "dev", "--file", &two, "deploy"]).ok();

    let inv = w.aws().inventory();
    assert_eq!(inv.functions, ["one-create-dev", "two-things-create-dev"]);
    assert_eq!(inv.tables, ["one-items-dev", "two-things-items-dev"]);
    assert!(w.state_dir().join("one.dev.json").exists());
    assert!(w.state_dir().join("two-things.dev.json").exists());
    let tags = block_on(
        w.aws()
            .iam
            .list_role_tags()
            .role_name("one-create-dev-role")
            .send(),
    )
    .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "serverless-cli:stack" && t.value() == "one/dev"),
        "{tags:?}"
    );

    // A third project that names one's function as its own: refused before any change, the
    // other owner named, and how to choose another name said.
    let three = project(&w, "three", "");
    let text = std::fs::read_to_string(&three).unwrap().replace(
        "code = \"code\"",
        "code = \"code\"\nname = \"one-create-dev\"",
    );
    std::fs::write(&three, text).unwrap();
    w.proxy.clear();
    let taken = w.run(&["--stack", "dev", "--file", &three, "deploy"]);
    assert_eq!(taken.code, 5, "{taken}");
    assert!(
        taken
            .stderr
            .contains("one-create-dev already exists and belongs to stack 'dev' of project 'one'"),
        "{taken}"
    );
    assert!(taken.stderr.contains("another name"), "{taken}");
    // Stopped before any change: not one call that changes anything, and no state.
    assert!(w.mutating_calls().is_empty(), "{:?}", w.mutating_calls());
    assert!(!w.state_dir().join("three.dev.json").exists());
    support::report(
        "bad_input",
        serde_json::json!({"args": ["deploy", "(a name another project owns)"], "refused_cleanly": true}),
    );

    // Two's teardown removes only two's; one's status is untouched and clean.
    w.run(&["--stack", "dev", "--file", &two, "teardown", "--yes"])
        .ok();
    w.run(&["--stack", "dev", "--file", &three, "teardown", "--yes"])
        .ok();
    let inv = w.aws().inventory();
    assert_eq!(inv.functions, ["one-create-dev"]);
    assert_eq!(inv.tables, ["one-items-dev"]);
    w.run(&["--stack", "dev", "--file", &one, "status"]).ok();
    w.run(&["--stack", "dev", "--file", &one, "teardown", "--yes"])
        .ok();
    w.assert_nothing_left("after both projects' teardowns");
}
