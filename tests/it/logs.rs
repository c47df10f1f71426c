//! `logs`: the stack's functions' log events (put into their groups with PutLogEvents) come
//! out merged in time order and labelled; --since, --until, --filter and --function choose;
//! --output json gives one JSON document a line; --follow prints new events (live tail, and
//! the polling it falls back to) and ends on SIGINT with exit 0; mistakes are refused.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::proxy::Fault;
use crate::support::{block_on, World};

const ID_A: &str = "8f5c2a1b-0c3d-4e5f-9a8b-7c6d5e4f3a2b";
const ID_B: &str = "1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9";

/// A two-function project, deployed.
fn deployed(w: &World) -> PathBuf {
    let dir = w.dir.path().join("twofn");
    std::fs::create_dir_all(dir.join("handler")).unwrap();
    std::fs::write(
        dir.join("handler/index.mjs"),
        "export const handler = async () => ({ statusCode: 200, body: 'ok' });\n",
    )
    .unwrap();
    let file = dir.join("serverless-cli.toml");
    std::fs::write(
        &file,
        r#"[api]
integration = "proxy"

[functions.alpha]
code = "handler"
handler = "index.handler"

[functions.beta]
code = "handler"
handler = "index.handler"

[[routes]]
method = "GET"
path = "/a"
function = "alpha"

[[routes]]
method = "GET"
path = "/b"
function = "beta"
"#,
    )
    .unwrap();
    w.run(&["deploy", "--file", file.to_str().unwrap()]).ok();
    file
}

fn group_of(w: &World, function: &str) -> String {
    let out = block_on(w.aws().logs.describe_log_groups().send()).unwrap();
    out.log_groups()
        .iter()
        .filter_map(|g| g.log_group_name())
        .find(|n| n.contains(&format!("-{function}-")))
        .unwrap_or_else(|| panic!("no log group of {function}"))
        .to_string()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Puts events (milliseconds before now, message) into a new stream of the group.
fn put(w: &World, group: &str, stream: &str, events: &[(i64, String)]) {
    let logs = &w.aws().logs;
    block_on(
        logs.create_log_stream()
            .log_group_name(group)
            .log_stream_name(stream)
            .send(),
    )
    .unwrap();
    let now = now_ms();
    let mut req = logs
        .put_log_events()
        .log_group_name(group)
        .log_stream_name(stream);
    // PutLogEvents takes a batch in time order.
    let mut events = events.to_vec();
    events.sort_by_key(|(ago, _)| -ago);
    for (ago, message) in events {
        req = req.log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(now - ago)
                .message(message)
                .build()
                .unwrap(),
        );
    }
    block_on(req.send()).unwrap();
}

fn fill(w: &World) {
    put(
        w,
        &group_of(w, "alpha"),
        "a1",
        &[
            (5_000, format!("START RequestId: {ID_A} Version: $LATEST")),
            (
                3_000,
                format!("2026-12-04T10:00:00.000Z\t{ID_A}\tINFO\talpha says hi"),
            ),
            (1_000, format!("END RequestId: {ID_A}")),
            // An hour ago: outside the default 10 minutes.
            (3_600_000, "an old line".to_string()),
        ],
    );
    put(
        w,
        &group_of(w, "beta"),
        "b1",
        &[
            (4_000, format!("START RequestId: {ID_B} Version: $LATEST")),
            (
                2_000,
                format!("2026-12-04T10:00:00.000Z\t{ID_B}\tERROR\tbeta failed \x1b]0;owned\x07"),
            ),
        ],
    );
}

#[test]
fn logs_of_every_function_come_merged_in_time_order_and_labelled() {
    let w = World::new();
    let file = deployed(&w);
    let f = file.to_str().unwrap();
    fill(&w);

    let run = w.run(&["logs", "--file", f]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{run}");
    let labels: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            let mut p = l.split_whitespace();
            p.next();
            (p.next().unwrap(), p.next().unwrap())
        })
        .collect();
    assert_eq!(
        labels,
        [
            ("alpha", &ID_A[..8]),
            ("beta", &ID_B[..8]),
            ("alpha", &ID_A[..8]),
            ("beta", &ID_B[..8]),
            ("alpha", &ID_A[..8]),
        ],
        "{run}"
    );
    assert!(
        lines[1].contains("INFO alpha says hi") || lines[2].contains("INFO alpha says hi"),
        "{run}"
    );
    // A terminal escape in a message is shown escaped, never sent to the terminal.
    assert!(!run.stdout.contains('\x1b'), "{run}");
    assert!(run.stdout.contains("\\u{1b}]0;owned"), "{run}");
    assert!(!run.stdout.contains("an old line"), "{run}");

    // --since reaches the old line; --until before the recent ones leaves only it.
    let run = w
        .run(&["logs", "--file", f, "--since", "2h", "--until", "30m"])
        .ok();
    assert_eq!(run.stdout.lines().count(), 1, "{run}");
    assert!(run.stdout.contains("an old line"), "{run}");

    // --filter and --function.
    let run = w.run(&["logs", "--file", f, "--filter", "failed"]).ok();
    assert_eq!(run.stdout.lines().count(), 1, "{run}");
    assert!(run.stdout.contains("beta"), "{run}");
    let run = w.run(&["logs", "--file", f, "--function", "beta"]).ok();
    assert_eq!(run.stdout.lines().count(), 2, "{run}");
    assert!(run.stdout.lines().all(|l| l.contains(" beta ")), "{run}");

    // JSON lines, each a document with the event's fields.
    let run = w.run(&["logs", "--file", f, "--output", "json"]).ok();
    let docs: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(docs.len(), 5);
    assert_eq!(docs[0]["function"], "alpha");
    assert_eq!(docs[0]["request_id"], ID_A);
    assert!(docs
        .windows(2)
        .all(|p| p[0]["timestamp"].as_i64() <= p[1]["timestamp"].as_i64()));
    assert!(docs[3]["message"].as_str().unwrap().contains('\x1b'));

    // Mistakes: named, nothing read.
    for (args, says) in [
        (vec!["--function", "gamma"], "no such function"),
        (vec!["--since", "yesterday"], "is not a time"),
        (vec!["--since", "10m", "--until", "20m"], "is not after"),
    ] {
        w.proxy.clear();
        let mut all = vec!["logs", "--file", f];
        all.extend(args);
        let run = w.run(&all);
        assert_eq!(run.code, 2, "{run}");
        assert!(run.stderr.contains(says), "{run}");
        assert_eq!(w.proxy.count("logs:FilterLogEvents"), 0);
    }
}

/// `logs --follow` until SIGINT; what it printed.
fn follow(w: &World, f: &str, then: impl FnOnce()) -> (i32, String, String) {
    let child = w
        .command(&["logs", "--file", f, "--follow", "--poll-every", "0.3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(w
        .proxy
        .wait_for("logs:FilterLogEvents", Duration::from_secs(30)));
    std::thread::sleep(Duration::from_millis(800));
    then();
    std::thread::sleep(Duration::from_secs(3));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn follow_prints_new_events_once_and_ends_cleanly_on_sigint() {
    let w = World::new();
    let file = deployed(&w);
    let f = file.to_str().unwrap();
    fill(&w);

    // Live tail (the emulator answers once, with the stored events), then polling.
    let (code, out, err) = follow(&w, f, || {
        put(&w, &group_of(&w, "beta"), "b2", &[(0, "a new line".into())]);
    });
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(w.proxy.count("logs:StartLiveTail") >= 1);
    assert_eq!(out.lines().count(), 6, "each event once:\n{out}\n{err}");
    assert_eq!(out.matches("a new line").count(), 1, "{out}");

    // Live tail refused (an identity without logs:StartLiveTail): polling from the start.
    w.proxy.clear();
    w.proxy.fault_always(
        "logs:StartLiveTail",
        Fault::Error {
            status: 400,
            code: "AccessDeniedException".into(),
            message: "not authorized to perform: logs:StartLiveTail".into(),
            retry_after: None,
        },
    );
    let (code, out, err) = follow(&w, f, || {
        put(
            &w,
            &group_of(&w, "alpha"),
            "a2",
            &[(0, "polled line".into())],
        );
    });
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("live tail is not available"), "{err}");
    assert_eq!(out.matches("polled line").count(), 1, "{out}\n{err}");
    assert_eq!(out.matches("a new line").count(), 1, "{out}");
}
