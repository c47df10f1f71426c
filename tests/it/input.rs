//! Bad input is refused with a clear message, before any AWS call, with the state file
//! byte-for-byte unchanged.

use crate::support;

use support::World;

/// Runs `args` and checks: exit code, a message containing `says`, no AWS call, state intact.
#[track_caller]
fn refused(w: &World, args: &[&str], code: i32, says: &str) {
    let path = w.state_file("prod");
    let before = std::fs::read(&path).ok();
    w.proxy.clear();
    let run = w.run(args);
    assert_eq!(run.code, code, "{args:?}\n{run}");
    assert!(
        run.stderr.contains(says),
        "{args:?}: expected '{says}' in\n{run}"
    );
    assert!(
        run.stderr.lines().filter(|l| !l.trim().is_empty()).count() <= 2,
        "{args:?}: the error should fit in two lines\n{run}"
    );
    assert!(!run.stderr.contains("panicked"), "{run}");
    assert_eq!(
        w.proxy.calls().iter().map(|c| c.name()).collect::<Vec<_>>(),
        Vec::<String>::new(),
        "{args:?} made AWS calls"
    );
    assert_eq!(
        std::fs::read(&path).ok(),
        before,
        "{args:?} changed the state file"
    );
    assert!(run.stdout.is_empty(), "{args:?} printed a result:\n{run}");
    support::report(
        "bad_input",
        serde_json::json!({"args": args, "refused_cleanly": true}),
    );
}

#[test]
fn bad_input_changes_nothing_and_calls_nothing() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let state = w.state_file("prod");
    let good = std::fs::read(&state).unwrap();
    let dir = w.dir.path();

    // Names, flags, code.
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--stack".into(), "bad_name".into(), "deploy".into()],
            "invalid stack name 'bad_name'",
        ),
        (
            vec!["--stack".into(), "9lives".into(), "status".into()],
            "must start with a letter",
        ),
        // IAM role names ignore case: 'Prod' and 'prod' would share a role on AWS.
        (
            vec!["--stack".into(), "Prod".into(), "deploy".into()],
            "use lower case ('prod')",
        ),
        (
            vec!["--stack".into(), "s".repeat(33), "deploy".into()],
            "1 to 32 characters",
        ),
        (
            vec!["deploy".into(), "--table-name".into(), "a b".into()],
            "invalid table name",
        ),
        (
            vec!["deploy".into(), "--table-name".into(), "ab".into()],
            "3 to 255 characters",
        ),
        (
            vec!["deploy".into(), "--function-name".into(), "f".repeat(65)],
            "invalid function name",
        ),
        (
            vec!["deploy".into(), "--function-name".into(), "put.item".into()],
            "invalid function name",
        ),
        (
            vec!["deploy".into(), "--role-name".into(), "role/x".into()],
            "invalid role name",
        ),
        (
            vec!["deploy".into(), "--api-name".into(), "".into()],
            "invalid API name",
        ),
        (
            vec!["deploy".into(), "--runtime".into(), "python3.12".into()],
            "unsupported runtime",
        ),
        (
            vec!["deploy".into(), "--code".into(), "/no/such/dir".into()],
            "no such file or folder",
        ),
        (
            vec!["--region".into(), "Mars".into(), "deploy".into()],
            "invalid region 'Mars'",
        ),
        (
            vec![
                "--endpoint-url".into(),
                "localhost:4566".into(),
                "deploy".into(),
            ],
            "invalid endpoint URL",
        ),
        // A password in the endpoint URL: refused, never stored in the state or printed.
        (
            vec![
                "--endpoint-url".into(),
                "http://admin:hunter2@127.0.0.1:4566".into(),
                "deploy".into(),
            ],
            "carries credentials (user:password@)",
        ),
        (
            vec![
                "--endpoint-url".into(),
                "http://127.0.0.1:4566/?token=x".into(),
                "status".into(),
            ],
            "no query or fragment",
        ),
        // Renaming a deployed resource in place.
        (
            vec![
                "deploy".into(),
                "--table-name".into(),
                "user-renamed".into(),
            ],
            "a name cannot change in place",
        ),
        // Another region than the state's.
        (
            vec!["--region".into(), "eu-west-1".into(), "deploy".into()],
            "was deployed to region us-east-1",
        ),
        (
            vec!["--region".into(), "eu-west-1".into(), "status".into()],
            "was deployed to region us-east-1",
        ),
        (
            vec![
                "--region".into(),
                "eu-west-1".into(),
                "teardown".into(),
                "--yes".into(),
            ],
            "was deployed to region us-east-1",
        ),
        // Teardown without --yes and without a terminal.
        (vec!["teardown".into()], "needs --yes"),
    ];
    for (args, says) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&w, &args, 2, says);
    }

    // Code that cannot be deployed.
    let empty = dir.join("empty-code");
    std::fs::create_dir(&empty).unwrap();
    refused(
        &w,
        &["deploy", "--code", empty.to_str().unwrap()],
        2,
        "holds no files",
    );
    let no_entry = dir.join("no-entry");
    std::fs::create_dir(&no_entry).unwrap();
    std::fs::write(no_entry.join("main.js"), "x").unwrap();
    refused(
        &w,
        &["deploy", "--code", no_entry.to_str().unwrap()],
        2,
        "index.handler",
    );
    let not_zip = dir.join("code.zip");
    std::fs::write(&not_zip, b"PK not really").unwrap();
    refused(
        &w,
        &["deploy", "--code", not_zip.to_str().unwrap()],
        2,
        "not a valid zip file",
    );
    let empty_zip = dir.join("empty.zip");
    // An empty zip archive: just the end-of-central-directory record.
    let mut eocd = vec![0x50, 0x4b, 0x05, 0x06];
    eocd.extend([0u8; 18]);
    std::fs::write(&empty_zip, &eocd).unwrap();
    refused(
        &w,
        &["deploy", "--code", empty_zip.to_str().unwrap()],
        2,
        "holds no files",
    );
    // Over Lambda's 50 MB limit for a zip uploaded directly.
    let big = dir.join("big.zip");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(51 * 1024 * 1024).unwrap();
    refused(
        &w,
        &["deploy", "--code", big.to_str().unwrap()],
        2,
        // 50 MiB less the base64 growth and the request around it (docs/aws.md, "Lambda code size").
        "over Lambda's 52416510 byte limit",
    );
    refused(
        &w,
        &["deploy", "--log-retention-days", "10"],
        2,
        "not a retention CloudWatch Logs accepts",
    );

    // Broken state files, for every command.
    let broken: Vec<(Vec<u8>, &str)> = vec![
        (
            good[..good.len() / 2].to_vec(),
            "is not valid: it is not JSON",
        ),
        (b"not json at all".to_vec(), "is not JSON"),
        (b"".to_vec(), "is not JSON"),
        (
            b"{\"version\": 4, \"stack\": \"prod\"}".to_vec(),
            "has format version 4",
        ),
        (b"{\"stack\": \"prod\"}".to_vec(), "no numeric 'version'"),
        (
            String::from_utf8(good.clone())
                .unwrap()
                .replacen("\"version\": 3,", "\"version\": 3, \"extra\": true,", 1)
                .into_bytes(),
            "unknown field `extra`",
        ),
        (
            String::from_utf8(good.clone())
                .unwrap()
                .replace("\"stack\": \"prod\"", "\"stack\": \"dev\"")
                .into_bytes(),
            "describes stack 'dev'",
        ),
        (
            String::from_utf8(good.clone())
                .unwrap()
                .replace("\"table\": \"user-prod\"", "\"table\": \"a b\"")
                .into_bytes(),
            "invalid table name",
        ),
    ];
    for (content, says) in &broken {
        std::fs::write(&state, content).unwrap();
        for args in [&["deploy"][..], &["status"], &["teardown", "--yes"]] {
            refused(&w, args, 2, says);
        }
    }

    // A state file of another endpoint.
    let other = String::from_utf8(good.clone())
        .unwrap()
        .replace(&w.proxy.url, "http://127.0.0.1:1");
    std::fs::write(&state, other).unwrap();
    refused(
        &w,
        &["deploy"],
        2,
        "was deployed to endpoint http://127.0.0.1:1",
    );

    // The good state still works, and a stack with no state has nothing to report.
    std::fs::write(&state, &good).unwrap();
    assert_eq!(w.run(&["status"]).ok().code, 0);
    let none = w.run(&["--stack", "nothing", "status"]);
    assert_eq!(none.code, 2, "{none}");
    assert!(none.stderr.contains("has no state file"), "{none}");
    w.run(&["teardown", "--yes"]).ok();
}

#[test]
fn a_state_of_another_account_is_refused_and_nothing_changes() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let state = w.state_file("prod");
    let other = std::fs::read_to_string(&state).unwrap().replace(
        "\"account\": \"123456789012\"",
        "\"account\": \"999999999999\"",
    );
    std::fs::write(&state, &other).unwrap();
    w.proxy.clear();
    let run = w.run(&["deploy"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains("belongs to AWS account 999999999999"),
        "{run}"
    );
    // The identity call finds it; the reads that overlap it change nothing.
    assert!(w.proxy.count("sts:GetCallerIdentity") == 1);
    assert_eq!(w.mutating_calls(), Vec::<String>::new());
    assert_eq!(std::fs::read_to_string(&state).unwrap(), other);
    let status = w.run(&["status"]);
    assert_eq!(status.code, 2, "{status}");
    assert!(status.stdout.is_empty(), "{status}");
}

#[test]
fn json_output_is_one_document_on_success_and_on_failure() {
    let w = World::new();
    let ok = w.run(&["deploy", "--output", "json"]).ok();
    assert_eq!(ok.json()["command"], "deploy");
    let status = w.run(&["status", "--output", "json"]).ok();
    assert_eq!(status.json()["in_sync"], true);
    let bad = w.run(&["--output", "json", "deploy", "--runtime", "java21"]);
    assert_eq!(bad.code, 2);
    let doc = bad.json();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["exit_code"], 2);
    assert!(doc["error"]
        .as_str()
        .unwrap()
        .contains("unsupported runtime"));
    // A value clap itself refuses, an unknown flag, a missing command: still one document.
    w.proxy.clear();
    for args in [
        vec!["--output", "json", "deploy", "--billing", "free"],
        vec!["deploy", "--output=json", "--no-such-flag"],
        vec!["--output", "json"],
    ] {
        let bad = w.run(&args);
        assert_eq!(bad.code, 2, "{args:?}\n{bad}");
        let doc = bad.json();
        assert_eq!(doc["ok"], false, "{args:?}");
        assert_eq!(doc["exit_code"], 2, "{args:?}");
        assert!(!doc["error"].as_str().unwrap().is_empty(), "{args:?}");
        assert!(bad.stderr.contains("error"), "{args:?}\n{bad}");
    }
    let mut env_json = w.command(&["deploy", "--billing", "free"]);
    env_json.env("SERVERLESS_CLI_OUTPUT", "json");
    let out = env_json.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["error"].as_str().unwrap().contains("free"), "{doc}");
    assert!(w.proxy.calls().is_empty());
    let down = w.run(&["teardown", "--yes", "--output", "json"]).ok();
    assert_eq!(down.json()["state_file_removed"], true);
}

#[test]
fn missing_credentials_and_unreachable_endpoints_fail_fast_and_clearly() {
    let w = World::new();
    // No credentials anywhere (no env, no files; instance metadata is not reachable here).
    let run = {
        let mut cmd = w.command(&["deploy"]);
        cmd.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY");
        let out = cmd.output().unwrap();
        support::Run {
            code: out.status.code().unwrap(),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    };
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("AWS credentials"), "{run}");
    assert!(run.stderr.contains("AWS_PROFILE"), "{run}");
    assert!(w.proxy.calls().is_empty());
    assert!(
        !run.stderr.contains("DispatchFailure"),
        "raw SDK dump:\n{run}"
    );

    // An endpoint where nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = w.run(&[
        "--endpoint-url",
        &format!("http://127.0.0.1:{port}"),
        "deploy",
    ]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr
            .contains(&format!("cannot reach endpoint http://127.0.0.1:{port}")),
        "{run}"
    );
    assert!(
        !run.stderr.contains("DispatchFailure"),
        "raw SDK dump:\n{run}"
    );
}
