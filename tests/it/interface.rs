//! The options a user or a CI job sets: --keep-table, --state-dir and its variable,
//! AWS_ENDPOINT_URL, --profile, --region, -v.

use crate::support;

use support::proxy::Fault;
use support::{block_on, read_state, World};

#[test]
fn keep_table_keeps_the_table_and_its_items_and_a_later_deploy_adopts_it() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let aws = w.aws();
    block_on(
        aws.dynamodb
            .put_item()
            .table_name("user-prod")
            .item(
                "uid",
                aws_sdk_dynamodb::types::AttributeValue::S("u1".into()),
            )
            .send(),
    )
    .unwrap();

    let down = w.run(&["teardown", "--yes", "--keep-table"]).ok();
    assert!(down.stdout.contains("Kept: table user-prod"), "{down}");
    assert!(!w.state_file("prod").exists());
    let inv = aws.inventory();
    assert_eq!(inv.tables, ["user-prod"]);
    assert!(
        inv.functions.is_empty() && inv.roles.is_empty() && inv.apis.is_empty(),
        "{inv:?}"
    );
    let count = block_on(aws.dynamodb.scan().table_name("user-prod").send())
        .unwrap()
        .count();
    assert_eq!(count, 1, "the item survived");

    // The kept table still carries the stack's tag: the next deploy adopts it.
    let doc = w.run(&["deploy", "--output", "json"]).ok().json();
    let table = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "table")
        .unwrap()
        .clone();
    assert_eq!(table["action"], "adopted", "{doc:#}");
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("keep-table");
}

#[test]
fn state_dir_flag_and_variable_place_the_state_file() {
    let w = World::new();
    let custom = w.dir.path().join("elsewhere");
    w.run(&["--state-dir", custom.to_str().unwrap(), "deploy"])
        .ok();
    assert!(custom.join("prod.json").exists());
    assert!(
        !w.state_file("prod").exists(),
        "the default folder was not used"
    );
    let status = {
        let mut cmd = w.command(&["status"]);
        cmd.env("SERVERLESS_CLI_STATE_DIR", &custom);
        cmd.output().unwrap()
    };
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    w.run(&["--state-dir", custom.to_str().unwrap(), "teardown", "--yes"])
        .ok();
    assert!(!custom.join("prod.json").exists());
    w.assert_nothing_left("state-dir");
}

#[test]
fn the_sdks_aws_endpoint_url_is_honoured_and_recorded() {
    let w = World::new();
    let run = |args: &[&str]| {
        let mut cmd = w.command(args);
        cmd.env_remove("SERVERLESS_CLI_ENDPOINT_URL")
            .env("AWS_ENDPOINT_URL", &w.proxy.url);
        let out = cmd.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["deploy"]);
    assert!(
        w.proxy.count("dynamodb:CreateTable") == 1,
        "the calls went through the proxy"
    );
    assert_eq!(
        read_state(&w.state_file("prod"))["endpoint"],
        w.proxy.url.as_str()
    );
    run(&["teardown", "--yes"]);
    w.assert_nothing_left("AWS_ENDPOINT_URL");
}

#[test]
fn a_named_profile_supplies_the_credentials() {
    let w = World::new();
    let creds = w.dir.path().join("credentials");
    std::fs::write(
        &creds,
        "[ci]\naws_access_key_id = fromprofile\naws_secret_access_key = fromprofile\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut cmd = w.command(args);
        cmd.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("AWS_SHARED_CREDENTIALS_FILE", &creds);
        cmd.output().unwrap()
    };
    let out = run(&["--profile", "ci", "deploy"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let missing = run(&["--profile", "nope", "status"]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("AWS credentials"), "{stderr}");
    assert!(run(&["--profile", "ci", "teardown", "--yes"])
        .status
        .success());
    w.assert_nothing_left("profile");
}

#[test]
fn region_flag_places_the_stack_and_its_url() {
    let w = World::new();
    let doc = w
        .run(&["--region", "eu-west-1", "deploy", "--output", "json"])
        .ok()
        .json();
    assert_eq!(doc["region"], "eu-west-1");
    assert!(doc["url"]
        .as_str()
        .unwrap()
        .contains(".execute-api.eu-west-1.amazonaws.com/prod/user"));
    assert!(doc["resources"]["table"]["arn"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:dynamodb:eu-west-1:"));
    w.run(&["--region", "eu-west-1", "teardown", "--yes"]).ok();
}

#[test]
fn verbose_adds_the_aws_error_code_and_request_id() {
    let w = World::new();
    w.proxy.fault_always(
        "dynamodb:CreateTable",
        Fault::error(
            400,
            "ValidationException",
            "One or more parameter values were invalid",
        ),
    );
    let quiet = w.run(&["deploy"]);
    assert_eq!(quiet.code, 1, "{quiet}");
    assert!(
        quiet
            .stderr
            .contains("CreateTable: One or more parameter values were invalid"),
        "{quiet}"
    );
    assert!(!quiet.stderr.contains("request id"), "{quiet}");
    let verbose = w.run(&["-v", "deploy"]);
    assert_eq!(verbose.code, 1, "{verbose}");
    assert!(
        verbose
            .stderr
            .contains("code ValidationException, HTTP 400, request id proxy-fault-0000"),
        "{verbose}"
    );
    w.proxy.clear_faults();
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("verbose");
}

/// The AWS CLI's order: a profile named on the command line wins over access keys in the
/// environment, and a profile that does not exist stops the run before any call. A deploy
/// must never go silently to the account the environment names.
#[test]
fn a_profile_on_the_command_line_wins_over_keys_in_the_environment() {
    let w = World::new();
    let creds = w.dir.path().join("credentials");
    std::fs::write(
        &creds,
        "[ci]\naws_access_key_id = FROMPROFILE\naws_secret_access_key = fromprofile\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut cmd = w.command(args);
        cmd.env("AWS_ACCESS_KEY_ID", "FROMENVIRONMENT")
            .env("AWS_SHARED_CREDENTIALS_FILE", &creds);
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(&["--profile", "ci", "deploy"]);
    assert_eq!(code, Some(0), "{stderr}");
    let keys: std::collections::BTreeSet<String> = w
        .proxy
        .calls()
        .iter()
        .map(|c| c.access_key.clone())
        .collect();
    assert_eq!(
        keys.into_iter().collect::<Vec<_>>(),
        ["FROMPROFILE"],
        "every call must be signed with the named profile's key"
    );

    w.proxy.clear();
    let (code, stderr) = run(&["--profile", "nosuch", "deploy"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("profile 'nosuch'"), "{stderr}");
    assert!(w.proxy.calls().is_empty(), "{:?}", w.proxy.calls());

    // Without --profile, the environment's keys are used, as the SDK does.
    w.proxy.clear();
    let (code, stderr) = run(&["status"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(w
        .proxy
        .calls()
        .iter()
        .all(|c| c.access_key == "FROMENVIRONMENT"));
    let (code, stderr) = run(&["--profile", "ci", "teardown", "--yes"]);
    assert_eq!(code, Some(0), "{stderr}");
    w.assert_nothing_left("profile precedence");
}
