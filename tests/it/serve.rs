//! `serve` and `try` against a real emulator: the stack deployed, its API served on
//! 127.0.0.1 with the real handler in Node.js, requests over real HTTP.

use crate::support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use support::serve::{fixture, get, handler_dir, http, post};
use support::{block_on, World};

/// Every uid in the stack's table.
fn uids(w: &World) -> BTreeSet<String> {
    let out = block_on(w.aws().dynamodb.scan().table_name("user-prod").send()).unwrap();
    out.items()
        .iter()
        .filter_map(|i| i.get("uid").and_then(|v| v.as_s().ok()).cloned())
        .collect()
}

/// Pids of a process's children (Linux /proc).
fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
                    let rest = &stat[stat.rfind(')')? + 2..];
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let rest = &stat[stat.rfind(')')? + 2..];
            rest.split_whitespace().next().map(|state| state != "Z")
        })
        .unwrap_or(false)
}

fn deployed() -> World {
    let w = World::new();
    w.run(&["deploy"]).ok();
    w
}

#[test]
fn post_then_get_returns_the_same_item_and_bad_requests_write_nothing() {
    let w = deployed();
    let s = w.serve(&[]);
    assert_eq!(s.banner["table"], "user-prod");
    assert!(
        s.url.starts_with("http://127.0.0.1:") && s.url.ends_with("/prod"),
        "{}",
        s.url
    );

    let r = post(
        &s.url,
        r#"{"uid":"u 1/é","username":"Ada","email":"ada@example.com"}"#,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.json(),
        serde_json::json!({"message": "Put user Ada with email ada@example.com to DynamoDB."})
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(
        r.header("x-amzn-RequestId")
            .is_some_and(|id| id.len() == 36),
        "{r:?}"
    );

    // The uid goes in the path percent-encoded, through the request template and back.
    let r = get(&s.url, "u%201%2F%C3%A9");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.json(),
        serde_json::json!({"uid": "u 1/é", "username": "Ada", "email": "ada@example.com"})
    );

    let r = get(&s.url, "nobody");
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.json()["message"], "NotFound: no user with uid \"nobody\"");

    // A malformed uid in the path: a control character.
    let r = get(&s.url, "a%07b");
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("BadRequest: "));

    let before = uids(&w);
    let bad = [
        // Not JSON, not an object, or naming the GET route's operation: the body model
        // refuses them before the function runs, as API Gateway's validator does.
        (r#"{"uid": "x", "#, "Invalid request body"),
        (r#"[{"uid": "x"}]"#, "Invalid request body"),
        (r#""just a string""#, "Invalid request body"),
        (
            r#"{"uid": "x", "operation": "getUser"}"#,
            "Invalid request body",
        ),
        // The function's own checks: missing uid, wrong types.
        (r#"{"username": "no uid"}"#, "BadRequest: uid is required"),
        (
            r#"{"uid": 42}"#,
            "BadRequest: uid must be a non-empty string",
        ),
        (
            r#"{"uid": "x", "email": ["a"]}"#,
            "BadRequest: email must be a string",
        ),
    ];
    for (body, message) in bad {
        let r = post(&s.url, body);
        assert_eq!(r.status, 400, "{body}: {r:?}");
        assert_eq!(r.json()["message"], message, "{body}");
    }
    assert_eq!(uids(&w), before, "a bad request wrote something");

    // What the API does not have: API Gateway's 403; GET with a body type it has no template
    // for: 415.
    assert_eq!(
        http("DELETE", &format!("{}/user/x", s.url), None, "").status,
        403
    );
    assert_eq!(
        http("POST", &format!("{}/users", s.url), None, "{}").status,
        403
    );
    let r = http("GET", &format!("{}/user/x", s.url), Some("text/plain"), "");
    assert_eq!(r.status, 415, "{r:?}");

    let (code, stderr) = s.interrupt();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");
    w.run(&["teardown", "--yes"]).ok();
}

#[test]
fn a_throwing_a_crashing_and_a_hanging_handler_are_answered_and_the_next_request_succeeds() {
    let w = deployed();
    let code = fixture("faulty-handler");
    let s = w.serve(&[
        "--code",
        code.to_str().unwrap(),
        "--timeout",
        "2",
        "--workers",
        "1",
    ]);

    // An error no selection pattern matches: API Gateway's default response, the error
    // document passed through.
    let r = post(&s.url, r#"{"uid":"throw"}"#);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.json()["errorMessage"],
        "boom: an error no selection pattern knows"
    );
    assert_eq!(post(&s.url, r#"{"uid":"after-throw"}"#).status, 200);

    // The process exits mid-request: 502, and a new worker takes the next request.
    let r = post(&s.url, r#"{"uid":"crash"}"#);
    assert_eq!(r.status, 502, "{r:?}");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("runtime exited"),
        "{r:?}"
    );
    let r = post(&s.url, r#"{"uid":"after-crash","username":"Bo"}"#);
    assert_eq!(r.status, 200, "{r:?}");

    // Past the timeout: 504, the worker is killed and replaced.
    let r = post(&s.url, r#"{"uid":"hang"}"#);
    assert_eq!(r.status, 504, "{r:?}");
    assert!(
        r.json()["message"].as_str().unwrap().contains("timeout"),
        "{r:?}"
    );
    let r = post(&s.url, r#"{"uid":"after-hang"}"#);
    assert_eq!(r.status, 200, "{r:?}");

    let stored = uids(&w);
    for uid in ["after-throw", "after-crash", "after-hang"] {
        assert!(stored.contains(uid), "{uid} missing from {stored:?}");
    }
    assert!(!stored.contains("crash") && !stored.contains("hang") && !stored.contains("throw"));
    let (code, stderr) = s.interrupt();
    assert_eq!(code, 0, "{stderr}");
    for status in [" -> 502 ", " -> 504 "] {
        assert!(stderr.contains(status), "{status}: {stderr}");
    }
    w.run(&["teardown", "--yes"]).ok();
}

#[test]
fn handler_logs_go_to_stderr_labelled_as_logs_prints_them() {
    let w = deployed();
    let code = fixture("faulty-handler");
    let s = w.serve(&["--code", code.to_str().unwrap()]);
    let r = post(&s.url, r#"{"uid":"log"}"#);
    assert_eq!(r.status, 200, "{r:?}");
    let id = r.header("x-amzn-RequestId").unwrap().to_string();
    let (_, stderr, stdout) = s.interrupt_with_stdout();
    // Nothing of the handler's reaches stdout: after the banner, it is empty.
    assert_eq!(stdout, "", "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("hello from"))
        .unwrap_or_else(|| panic!("no handler log line:\n{stderr}"));
    // `logs`' form: time, function, request id (its first 8 characters), level, message.
    let fields: Vec<&str> = line.splitn(5, ' ').collect();
    assert_eq!(fields.len(), 5, "{line}");
    assert!(fields[0].ends_with('Z'), "{line}");
    assert_eq!(fields[1], "putitem", "{line}");
    assert_eq!(fields[2], &id[..8], "{line}");
    assert_eq!(fields[3], "INFO", "{line}");
    assert_eq!(fields[4], format!("hello from {id}"));
    w.run(&["teardown", "--yes"]).ok();
}

/// The AWS SDK's Node.js support notice is said once, in one line, by serve (only when the
/// local Node.js is older than the deployed runtime's 22), never per worker; the handler's
/// own warnings are kept, one WARN line each.
#[test]
fn the_sdks_node_notice_is_said_once_and_the_handlers_warnings_are_kept() {
    let w = deployed();
    let code = fixture("faulty-handler");
    let s = w.serve(&["--code", code.to_str().unwrap(), "--workers", "3"]);
    let r = post(&s.url, r#"{"uid":"warn"}"#);
    assert_eq!(r.status, 200, "{r:?}");
    let id = r.header("x-amzn-RequestId").unwrap().to_string();
    let (_, stderr, _) = s.interrupt_with_stdout();
    assert!(!stderr.contains("NodeVersionSupportWarning"), "{stderr}");
    let major = support::serve::node_major();
    let notes = stderr
        .matches("the deployed function on nodejs22.x")
        .count();
    assert_eq!(notes, usize::from(major < 22), "{stderr}");
    let warn = stderr
        .lines()
        .find(|l| l.contains("a warning of the handler's own"))
        .unwrap_or_else(|| panic!("no WARN line:\n{stderr}"));
    let fields: Vec<&str> = warn.splitn(5, ' ').collect();
    assert_eq!(fields[2], &id[..8], "{warn}");
    assert_eq!(fields[3], "WARN", "{warn}");
    w.run(&["teardown", "--yes"]).ok();
}

/// The function's environment: the table, and DynamoDB where the user points it: the
/// emulator (the global endpoint), or AWS by region and profile.
#[test]
fn the_worker_gets_the_table_and_the_region_profile_or_endpoint_the_user_chose() {
    let w = deployed();
    let code = fixture("faulty-handler");
    let code = code.to_str().unwrap();
    let s = w.serve(&["--code", code]);
    let env = post(&s.url, r#"{"uid":"env"}"#).json();
    assert_eq!(env["TABLE_NAME"], "user-prod");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_ENDPOINT_URL_DYNAMODB"], w.proxy.url.as_str());
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "putitem-prod");
    drop(s);

    // A stack on AWS (no state here, no endpoint): region, profile and table as given.
    let mut cmd = w.command(&[
        "--stack",
        "other",
        "--region",
        "eu-west-1",
        "--profile",
        "team",
        "serve",
        "--port",
        "0",
        "--output",
        "json",
        "--code",
        code,
        "--table-name",
        "people",
    ]);
    cmd.env_remove("SERVERLESS_CLI_ENDPOINT_URL");
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let banner: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(banner["endpoint"], serde_json::Value::Null);
    let env = post(banner["url"].as_str().unwrap(), r#"{"uid":"env"}"#).json();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(env["TABLE_NAME"], "people");
    assert_eq!(env["AWS_REGION"], "eu-west-1");
    assert_eq!(env["AWS_PROFILE"], "team");
    assert_eq!(env["AWS_ENDPOINT_URL_DYNAMODB"], serde_json::Value::Null);
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "putitem-other");
    w.run(&["teardown", "--yes"]).ok();
}

#[test]
fn fifty_concurrent_requests_are_all_answered_and_all_stored() {
    let w = deployed();
    let s = w.serve(&[]);
    let url = s.url.clone();
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                post(
                    &url,
                    &format!(
                        r#"{{"uid":"c-{i}","username":"user {i}","email":"u{i}@example.com"}}"#
                    ),
                )
            })
        })
        .collect();
    let replies: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(r.status, 200, "request {i}: {r:?}");
        assert_eq!(
            r.json()["message"],
            format!("Put user user {i} with email u{i}@example.com to DynamoDB.")
        );
    }
    let ids: BTreeSet<_> = replies
        .iter()
        .map(|r| r.header("x-amzn-RequestId").unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 50, "request ids are unique");
    let want: BTreeSet<String> = (0..50).map(|i| format!("c-{i}")).collect();
    assert_eq!(uids(&w), want);
    // Each one reads back.
    for i in [0, 17, 49] {
        let r = get(&url, &format!("c-{i}"));
        assert_eq!(r.json()["username"], format!("user {i}"));
    }
    s.interrupt();
    w.run(&["teardown", "--yes"]).ok();
}

#[test]
fn ctrl_c_lets_the_request_in_flight_finish_then_stops() {
    let w = deployed();
    let code = fixture("faulty-handler");
    let s = w.serve(&["--code", code.to_str().unwrap()]);
    let url = s.url.clone();
    // "slow" answers after 1.5 s; the interrupt comes while it runs.
    let slow = std::thread::spawn(move || post(&url, r#"{"uid":"slow"}"#));
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !s.stderr().contains("slow started") {
        assert!(
            std::time::Instant::now() < end,
            "the slow request never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let workers = children_of(s.pid());
    assert_eq!(workers.len(), 4, "the default 4 workers: {workers:?}");
    let (code, stderr) = s.interrupt();
    let r = slow.join().unwrap();
    // Nothing is left running: each worker process is gone (or a zombie awaiting its reaper).
    std::thread::sleep(std::time::Duration::from_millis(200));
    for pid in workers {
        assert!(
            !is_running(pid),
            "worker {pid} still runs after serve stopped"
        );
    }
    assert_eq!(r.status, 200, "{r:?}\n{stderr}");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("finishing the requests in flight"),
        "{stderr}"
    );
    assert!(uids(&w).contains("slow"));
    w.run(&["teardown", "--yes"]).ok();
}

#[test]
fn missing_node_a_taken_port_and_a_handler_that_does_not_load_are_clear_errors() {
    let w = deployed();
    let handler = handler_dir();
    let code = handler.to_str().unwrap();

    let run = w.run(&[
        "serve",
        "--port",
        "0",
        "--code",
        code,
        "--node",
        "/nonexistent/node",
    ]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    assert!(
        run.stderr
            .contains("cannot run Node.js (/nonexistent/node)"),
        "{run}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let run = w.run(&["serve", "--port", &port, "--code", code]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    assert!(
        run.stderr
            .contains(&format!("port {port} on 127.0.0.1 is in use")),
        "{run}"
    );

    let broken = fixture("broken-handler");
    let run = w.run(&["serve", "--port", "0", "--code", broken.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    assert!(
        run.stderr.contains("the handler does not load")
            && run.stderr.contains("this module fails while it loads"),
        "{run}"
    );

    for (args, says) in [
        (vec!["--code", "/nonexistent"], "no such folder"),
        (vec!["--code", "/"], "no index.mjs"),
        (vec!["--workers", "0"], "--workers 0"),
        (vec!["--timeout", "0"], "--timeout"),
    ] {
        let mut all = vec!["serve", "--port", "0"];
        if !args.contains(&"--code") {
            all.extend(["--code", code]);
        }
        all.extend(args.iter().copied());
        let run = w.run(&all);
        assert_eq!(run.code, 2, "{run}");
        assert!(run.stderr.contains(says), "{says}: {run}");
    }
    w.run(&["teardown", "--yes"]).ok();
}

#[test]
fn try_against_serve_passes_every_check_and_reports_latencies() {
    let w = deployed();
    let s = w.serve(&[]);
    let run = w.run(&["try", "--url", &s.url, "--output", "json"]).ok();
    let doc = run.json();
    assert_eq!(doc["ok"], true, "{doc:#}");
    let checks = doc["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["post", "get", "get-unknown", "invalid-body"]);
    for c in checks {
        assert_eq!(c["ok"], true, "{c}");
        assert_eq!(c["status"], c["expected_status"], "{c}");
        assert!(c["latency_ms"].as_f64().unwrap() > 0.0, "{c}");
    }
    // The posted user is in the table; the invalid body wrote nothing else.
    let uid = doc["uid"].as_str().unwrap().to_string();
    assert_eq!(uids(&w), BTreeSet::from([uid]));

    // --data, and a trailing /user on the URL; the text form.
    let run = w
        .run(&[
            "try",
            "--url",
            &format!("{}/user/", s.url),
            "--data",
            r#"{"uid":"mine","username":"Me","email":"me@example.com"}"#,
        ])
        .ok();
    assert!(run.stdout.contains("4 of 4 checks passed"), "{run}");
    assert!(uids(&w).contains("mine"));

    // A server whose answers are wrong: try fails, exit 1, and names the check.
    let code = fixture("faulty-handler");
    let faulty = w.serve(&["--code", code.to_str().unwrap()]);
    let run = w.run(&["try", "--url", &faulty.url, "--data", r#"{"uid":"throw"}"#]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("FAIL  POST /user -> 200"), "{run}");
    assert!(run.stdout.contains("of 4 checks passed"), "{run}");
    drop(faulty);

    // Nothing listening: every check fails with "no answer".
    let gone = s.url.clone();
    s.interrupt();
    let run = w.run(&[
        "try",
        "--url",
        &gone,
        "--output",
        "json",
        "--request-timeout",
        "5",
    ]);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    assert_eq!(doc["passed"], 0);
    assert!(doc["checks"][0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("no answer"));
    // The same over HTTPS (the TLS client is set up; nothing answers).
    let https = gone.replacen("http://", "https://", 1);
    let run = w.run(&[
        "try",
        "--url",
        &https,
        "--output",
        "json",
        "--request-timeout",
        "5",
    ]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.json()["passed"], 0, "{run}");
    w.run(&["teardown", "--yes"]).ok();
}

#[test]
fn try_refuses_bad_input_without_a_request() {
    let w = World::new();
    for (args, says) in [
        (vec!["try"], "has no state file"),
        (vec!["try", "--url", "ftp://x/prod"], "http:// or https://"),
        (vec!["try", "--url", "not a url"], "not a URL"),
        (
            vec!["try", "--url", "http://ada:hunter2@127.0.0.1:9/prod"],
            "carries credentials",
        ),
        (
            vec!["try", "--url", "http://127.0.0.1:9/prod?x=1"],
            "query or fragment",
        ),
        (
            vec!["try", "--url", "http://127.0.0.1:9/prod#top"],
            "query or fragment",
        ),
        (
            vec!["try", "--url", "http://127.0.0.1:9/prod", "--data", "{"],
            "--data is not valid JSON",
        ),
        (
            vec!["try", "--url", "http://127.0.0.1:9/prod", "--data", "[1]"],
            "JSON object",
        ),
        (
            vec![
                "try",
                "--url",
                "http://127.0.0.1:9/prod",
                "--data",
                r#"{"uid":5}"#,
            ],
            "string uid",
        ),
        (
            vec![
                "try",
                "--url",
                "http://127.0.0.1:9/prod",
                "--data",
                r#"{"uid":"a","email":1}"#,
            ],
            "email must be a string",
        ),
    ] {
        let run = w.run(&args);
        assert_eq!(run.code, 2, "{args:?}: {run}");
        assert!(run.stderr.contains(says), "{says}: {run}");
        assert!(
            !run.stderr.contains("hunter2"),
            "a password was printed: {run}"
        );
    }
    // A stack on the emulator: its API URL is not served there; try says to use serve.
    w.run(&["deploy"]).ok();
    let run = w.run(&["try"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("run `serverless-cli serve`"), "{run}");
    assert!(w
        .proxy
        .calls()
        .iter()
        .all(|c| !c.name().contains("PutItem")));
    // A stack on AWS: try goes to its invoke URL, from the state file. (Nothing answers here:
    // this machine reaches no AWS.)
    let state_path = w.state_file("prod");
    let mut state = support::read_state(&state_path);
    let saved = std::fs::read(&state_path).unwrap();
    state["endpoint"] = serde_json::Value::Null;
    std::fs::write(&state_path, state.to_string()).unwrap();
    let run = w.run(&["try", "--output", "json", "--request-timeout", "2"]);
    assert_eq!(run.code, 1, "{run}");
    let api = state["resources"]["rest-api"]["id"].as_str().unwrap();
    assert_eq!(
        run.json()["url"],
        format!("https://{api}.execute-api.us-east-1.amazonaws.com/prod")
    );
    std::fs::write(&state_path, saved).unwrap();
    w.run(&["teardown", "--yes"]).ok();
}

/// An answer that never ends is read up to a limit, not into memory without bound: each check
/// fails with the reason, and try ends.
#[test]
fn try_reads_an_endless_answer_only_up_to_a_limit() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(8) {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
                );
                let chunk = format!("{:x}\r\n{}\r\n", 65536, "x".repeat(65536));
                // Until try hangs up (bounded: 64 MiB at most).
                for _ in 0..1024 {
                    if conn.write_all(chunk.as_bytes()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let w = World::new();
    let url = format!("http://{addr}/prod");
    let run = w.run(&["try", "--url", &url, "--output", "json"]);
    assert_eq!(run.code, 1, "{run}");
    let doc = run.json();
    let first = &doc["checks"][0];
    assert_eq!(first["ok"], false, "{doc}");
    assert!(
        first["detail"]
            .as_str()
            .unwrap()
            .contains("longer than 1048576 bytes"),
        "{doc}"
    );
}

/// Sends raw bytes, ignoring a write the server cut short, and returns the status line's code.
fn raw_status(url: &str, request: &[u8]) -> u16 {
    use std::io::{Read, Write};
    let host = url
        .strip_prefix("http://")
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let _ = s.write_all(request);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Lambda's 6 MB payload limit (413 before the function runs), DynamoDB's 400 KB item limit
/// (the caller's error: 400), and a half-sent request that does not hold its connection for
/// ever while other requests are answered.
#[test]
fn serve_bounds_big_bodies_big_items_and_half_sent_requests() {
    use std::io::{Read, Write};
    let w = deployed();
    let s = w.serve(&["--workers", "1"]);
    let huge = format!(
        r#"{{"uid":"huge","username":"{}"}}"#,
        "x".repeat(7 * 1024 * 1024)
    );
    let mut req = format!(
        "POST /prod/user HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        huge.len()
    )
    .into_bytes();
    req.extend_from_slice(huge.as_bytes());
    assert_eq!(raw_status(&s.url, &req), 413);

    let big = format!(r#"{{"uid":"big","username":"{}"}}"#, "x".repeat(410 * 1024));
    let r = post(&s.url, &big);
    assert_eq!(r.status, 400, "{r:?}");
    assert!(
        r.json()["message"].as_str().unwrap().contains("400 KB"),
        "{r:?}"
    );
    // Another content type does not skip the body model (the deployed API names it for
    // `$default` too): the GET route's event cannot be forged through POST as text/plain.
    let r = http(
        "POST",
        &format!("{}/user", s.url),
        Some("text/plain"),
        r#"{"operation":"getUser","uid":"forged"}"#,
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["message"], "Invalid request body");
    let stored = uids(&w);
    assert!(
        !stored.contains("huge") && !stored.contains("big"),
        "{stored:?}"
    );

    // Headers never finished: the connection is closed after the header time-out (10 s),
    // and meanwhile the server answers others.
    let host = s
        .url
        .strip_prefix("http://")
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let mut half = std::net::TcpStream::connect(host).unwrap();
    half.write_all(b"POST /prod/user HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    let r = post(&s.url, r#"{"uid":"meanwhile"}"#);
    assert_eq!(r.status, 200, "{r:?}");
    half.set_read_timeout(Some(Duration::from_secs(40)))
        .unwrap();
    let mut buf = [0u8; 1024];
    let read = half.read(&mut buf);
    assert!(
        matches!(read, Ok(_) | Err(_)) && started.elapsed() < Duration::from_secs(35),
        "the half-sent request held its connection for {:?}: {read:?}",
        started.elapsed()
    );
    assert!(
        !matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut),
        "the connection was still open after 40 s"
    );
}

/// CPU time (user + system) a process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

/// Out of file descriptors, the accept loop waits instead of spinning at 100% CPU, and serves
/// again once connections close.
#[test]
fn out_of_file_descriptors_serve_waits_instead_of_spinning() {
    use std::os::unix::process::CommandExt;
    let w = deployed();
    let s = w.serve_with(&["--workers", "1"], |cmd| unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    });
    let host = s
        .url
        .strip_prefix("http://")
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    // Far more idle connections than serve has descriptors left.
    let held: Vec<_> = (0..120)
        .filter_map(|_| std::net::TcpStream::connect(&host).ok())
        .collect();
    assert!(held.len() > 64, "{}", held.len());
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_time(s.pid());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_time(s.pid()) - before;
    assert!(
        used < Duration::from_millis(600),
        "serve used {used:?} of CPU in 2 s while out of descriptors"
    );
    assert!(
        s.stderr().contains("cannot accept a connection"),
        "{}",
        s.stderr()
    );
    drop(held);
    // Descriptors free again: requests are answered.
    let end = Instant::now() + Duration::from_secs(20);
    let r = loop {
        let r = post(&s.url, r#"{"uid":"after-emfile"}"#);
        if r.status == 200 || Instant::now() > end {
            break r;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(r.status, 200, "{r:?}");
}

/// Right after a deploy the function can answer 500 for a few seconds (its new role policy
/// has not reached Lambda): try retries a 500 within its --settle window, says so, and passes;
/// with --settle 0 the same answers fail the check.
#[test]
fn try_waits_out_a_function_that_fails_for_its_first_seconds() {
    let w = deployed();
    let code = fixture("settling-handler");
    let s = w.serve(&["--code", code.to_str().unwrap(), "--workers", "1"]);
    let run = w.run(&["try", "--url", &s.url, "--output", "json"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.stderr.matches("answered 500").count(), 2, "{run}");
    assert_eq!(run.json()["passed"], 4, "{run}");
    drop(s);
    let s = w.serve(&["--code", code.to_str().unwrap(), "--workers", "1"]);
    let run = w.run(&["try", "--url", &s.url, "--settle", "0"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(!run.stderr.contains("answered 500"), "{run}");
}

/// Installed anywhere, serve runs the built-in handler: unpacked once into the user's cache
/// folder with its locked packages (said on one line), found ready the next time.
#[test]
fn serve_runs_the_built_in_handler_from_any_folder() {
    let w = deployed();
    assert!(!w.dir.path().join("handler").exists());
    let cache = tempfile::tempdir().unwrap();
    let with_cache = |cmd: &mut std::process::Command| {
        cmd.env("XDG_CACHE_HOME", cache.path());
    };
    let s = w.serve_raw(&["--workers", "1"], with_cache);
    let r = post(&s.url, r#"{"uid":"from-anywhere","username":"Ada"}"#);
    assert_eq!(r.status, 200, "{r:?}\n{}", s.stderr());
    let (_, stderr, _) = s.interrupt_with_stdout();
    assert_eq!(
        stderr.matches("first use of the built-in handler").count(),
        1,
        "{stderr}"
    );
    let installed: Vec<_> = std::fs::read_dir(cache.path().join("serverless-cli"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(installed.len(), 1, "{installed:?}");
    assert!(installed[0].starts_with("handler-"), "{installed:?}");

    let s = w.serve_raw(&["--workers", "1"], with_cache);
    let r = get(&s.url, "from-anywhere");
    assert_eq!(r.status, 200, "{r:?}");
    let (_, stderr, _) = s.interrupt_with_stdout();
    assert!(!stderr.contains("first use"), "{stderr}");
    w.run(&["teardown", "--yes"]).ok();
}

/// serve's note about the local Node.js names the runtime the stack file deploys (not the
/// built-in stack's).
#[test]
fn the_node_note_names_the_runtime_the_file_deploys() {
    let w = World::new();
    let dir = w.dir.path().join("runtime");
    std::fs::create_dir_all(dir.join("code")).unwrap();
    std::fs::write(
        dir.join("code/index.mjs"),
        "export const handler = async () => ({ ok: true });\n",
    )
    .unwrap();
    let file = dir.join("serverless-cli.toml");
    std::fs::write(
        &file,
        "[functions.api]\ncode = \"code\"\nruntime = \"nodejs24.x\"\n\n[[routes]]\nmethod = \"GET\"\npath = \"/ping\"\nfunction = \"api\"\n",
    )
    .unwrap();
    let s = w.serve_raw(&["--file", file.to_str().unwrap()], |_| {});
    let (_, stderr, _) = s.interrupt_with_stdout();
    let major = support::serve::node_major();
    assert!(!stderr.contains("nodejs22.x"), "{stderr}");
    assert_eq!(
        stderr.contains("the deployed function on nodejs24.x"),
        major != 24,
        "{stderr}"
    );
}
