//! The state in S3 (the emulator's), shared by runs in different folders as CI runners are:
//! one lock across them, a lease that a killed run cannot leave stuck, a paused run that
//! cannot write after its lock was taken over, and `state` show / list / unlock / init /
//! migrate. The proxy puts back what moto lacks (409 ConditionalRequestConflict, errors).

use crate::support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::proxy::Fault;
use support::{Run, World};

const BUCKET: &str = "team-state";
const STATE: &str = "s3://team-state/ci";

/// Runs the binary in another working folder (a CI runner of its own).
fn run_in(w: &World, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    std::fs::create_dir_all(dir).unwrap();
    let mut cmd = w.command(args);
    cmd.current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn spawn_in(w: &World, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Child {
    std::fs::create_dir_all(dir).unwrap();
    let mut cmd = w.command(args);
    cmd.current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn finish(child: Child) -> Run {
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn s3(w: &World) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&support::sdk_config(&w.emulator.url))
            .force_path_style(true)
            .build(),
    )
}

fn object(w: &World, key: &str) -> Option<(Vec<u8>, Option<String>)> {
    let c = s3(w);
    let key = key.to_string();
    support::block_on(async move {
        let out = c.get_object().bucket(BUCKET).key(&key).send().await.ok()?;
        let sse = out.server_side_encryption().map(|s| s.as_str().to_string());
        let body = out.body.collect().await.ok()?.into_bytes().to_vec();
        Some((body, sse))
    })
}

fn put_object(w: &World, key: &str, body: &str) {
    let c = s3(w);
    let (key, body) = (key.to_string(), body.to_string());
    support::block_on(async move {
        c.put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(body.into_bytes().into())
            .send()
            .await
            .unwrap();
    });
}

/// From the next lock on, every write of an S3 object fails: the connection is cut before S3
/// sees it (the lock itself, the first PutObject, goes through).
fn fail_state_writes(w: &World) {
    w.proxy.fault_after(
        "s3:PutObject",
        "s3:PutObject",
        Fault::Drop {
            after_forward: false,
        },
        Duration::from_secs(600),
    );
}

fn init_bucket(w: &World) {
    let made = w.run(&["state", "init", STATE, "--output", "json"]);
    assert_eq!(made.code, 0, "{made}");
    assert_eq!(made.json()["created"], true);
}

/// Waits until the lock object exists (a run holds the stack).
fn wait_for_lock(w: &World) -> bool {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if object(w, "ci/prod.lock").is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_team_shares_one_state_in_s3_from_any_folder() {
    let w = World::new();
    init_bucket(&w);
    // A bucket that has it all is said so, and changes nothing.
    let again = w.run(&["state", "init", STATE, "--output", "json"]);
    assert_eq!(again.code, 0, "{again}");
    assert_eq!(again.json()["missing"], serde_json::json!([]));

    let runner_a = w.dir.path().join("runner-a");
    let runner_b = w.dir.path().join("runner-b");
    let runner_c = w.dir.path().join("runner-c");
    // From here on, every run holds exactly what `iam-policy` prints for this location.
    let printed = run_in(&w, &runner_a, &[], &["iam-policy", "--state", STATE]).ok();
    assert!(
        printed
            .stdout
            .contains("arn:aws:s3:::team-state/ci/prod.json")
            && printed
                .stdout
                .contains("arn:aws:s3:::team-state/ci/prod.lock"),
        "{printed}"
    );
    let policy: serde_json::Value = serde_json::from_str(&printed.stdout).unwrap();
    let allowed: Vec<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    w.proxy.enforce_actions(allowed);
    run_in(&w, &runner_a, &[], &["deploy", "--state", STATE]).ok();
    assert!(!runner_a.join("state").exists(), "no local state file");
    let (body, sse) = object(&w, "ci/prod.json").expect("the state is in S3");
    assert_eq!(sse.as_deref(), Some("AES256"));
    let state: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(state["resources"]["function:putitem"].is_object());
    assert!(object(&w, "ci/prod.lock").is_none(), "the lock is released");
    w.assert_one_of_each("after a deploy with S3 state");

    // Another runner: the environment variable, status, plan, show, list, serve's table.
    let env = [("SERVERLESS_CLI_STATE", STATE)];
    run_in(&w, &runner_b, &env, &["status"]).ok();
    let plan = run_in(&w, &runner_b, &env, &["plan"]);
    assert_eq!(plan.code, 0, "{plan}");
    let shown = run_in(&w, &runner_b, &env, &["state", "show"]).ok();
    let shown: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(shown["resources"], state["resources"]);
    let listed = run_in(&w, &runner_b, &env, &["state", "list", "--output", "json"]).ok();
    let listed = listed.json();
    assert_eq!(listed["stacks"][0]["stack"], "prod", "{listed}");
    assert_eq!(listed["stacks"][0]["lock"], "free", "{listed}");
    let served = {
        let mut cmd = w.command(&[
            "serve", "--port", "0", "--output", "json", "--state", STATE, "--code",
        ]);
        cmd.arg(support::serve::handler_dir())
            .current_dir(&runner_b);
        let out = cmd.stdout(Stdio::piped()).spawn().unwrap();
        let mut out = out;
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(out.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let _ = out.kill();
        let _ = out.wait();
        serde_json::from_str::<serde_json::Value>(&line).unwrap()
    };
    assert_eq!(served["table"], "user-prod", "{served}");

    // A third runner tears it down from the S3 state alone.
    run_in(&w, &runner_c, &env, &["teardown", "--yes"]).ok();
    assert!(w.proxy.denied().is_empty(), "{:?}", w.proxy.denied());
    w.assert_nothing_left("after teardown from a third folder");
    assert!(object(&w, "ci/prod.json").is_none(), "the state is removed");
}

#[test]
fn two_deploys_at_once_from_two_runners_make_one_of_each() {
    let w = World::new();
    init_bucket(&w);
    // Each call takes a little while, so the two runs overlap.
    w.proxy.set_latency(Duration::from_millis(15));
    let env = [("SERVERLESS_CLI_STATE", STATE)];
    let a = spawn_in(&w, &w.dir.path().join("a"), &env, &["deploy"]);
    assert!(wait_for_lock(&w));
    let b = finish(spawn_in(&w, &w.dir.path().join("b"), &env, &["deploy"]));
    let a = finish(a);
    assert_eq!(a.code, 0, "{a}");
    assert_eq!(b.code, 4, "{b}");
    assert!(
        b.stderr.contains("in use by another serverless-cli run") && b.stderr.contains("deploy"),
        "{b}"
    );
    w.assert_one_of_each("after two deploys at once, one refused");

    // With --lock-timeout the second waits its turn and finds nothing to do. (The first runs
    // in a new runner's folder: a deploy from a folder whose last deploy of the same inputs
    // completed looks before it locks, and takes no lock when nothing changes.)
    let a = spawn_in(&w, &w.dir.path().join("a2"), &env, &["deploy"]);
    assert!(wait_for_lock(&w));
    let b = finish(spawn_in(
        &w,
        &w.dir.path().join("b"),
        &env,
        &["deploy", "--lock-timeout", "2m"],
    ));
    let a = finish(a);
    assert_eq!(a.code, 0, "{a}");
    assert_eq!(b.code, 0, "{b}");
    w.assert_one_of_each("after two deploys at once, one waiting");
    run_in(&w, &w.dir.path().join("a"), &env, &["teardown", "--yes"]).ok();
    w.assert_nothing_left("two runners");
}

#[test]
fn a_killed_holder_is_refused_then_taken_over_once_its_lease_runs_out() {
    let w = World::new();
    init_bucket(&w);
    let env = [
        ("SERVERLESS_CLI_STATE", STATE),
        ("SERVERLESS_CLI_LOCK_LEASE", "6"),
    ];
    // The first run is held at CreateFunction, then killed: its lock stays behind.
    let hold = w.proxy.hold("lambda:CreateFunction");
    let mut first = spawn_in(&w, &w.dir.path().join("a"), &env, &["deploy"]);
    assert!(w
        .proxy
        .wait_for("lambda:CreateFunction", Duration::from_secs(30)));
    first.kill().unwrap();
    let _ = first.wait();
    hold.release();
    assert!(
        object(&w, "ci/prod.lock").is_some(),
        "the killed run's lock is left"
    );

    // At once: refused, naming the holder, nothing changed.
    w.proxy.clear();
    let refused = run_in(&w, &w.dir.path().join("b"), &env, &["deploy"]);
    assert_eq!(refused.code, 4, "{refused}");
    assert!(
        refused.stderr.contains("(deploy)") && refused.stderr.contains("not running on this host"),
        "{refused}"
    );
    assert!(
        w.mutating_calls()
            .iter()
            .all(|c| !c.starts_with("lambda") && !c.starts_with("dynamodb")),
        "{:?}",
        w.mutating_calls()
    );
    // Waiting: once the lease has run out it is taken over, and the stack is finished without
    // duplicates.
    let took = run_in(
        &w,
        &w.dir.path().join("b"),
        &env,
        &["deploy", "--lock-timeout", "60"],
    );
    assert_eq!(took.code, 0, "{took}");
    assert!(took.stderr.contains("took over the stale lock"), "{took}");
    w.assert_one_of_each("after a takeover");
    run_in(&w, &w.dir.path().join("b"), &env, &["teardown", "--yes"]).ok();
    w.assert_nothing_left("takeover");
}

#[test]
fn a_paused_run_whose_lock_was_taken_over_cannot_write_the_state() {
    let w = World::new();
    init_bucket(&w);
    let env = [
        ("SERVERLESS_CLI_STATE", STATE),
        ("SERVERLESS_CLI_LOCK_LEASE", "6"),
    ];
    // The first run is stopped right after it took the lock, while it waits for the state
    // (its request answered, nothing of its own half-sent).
    let hold = w.proxy.hold("s3:GetObject");
    // Its calls are told apart by their access key.
    let mut paused_env = env.to_vec();
    paused_env.push(("AWS_ACCESS_KEY_ID", "paused-runner"));
    let paused = spawn_in(&w, &w.dir.path().join("a"), &paused_env, &["deploy"]);
    assert!(w.proxy.wait_for("s3:GetObject", Duration::from_secs(30)));
    // The lock is taken in the same round trip as the state is read: stopped only once it
    // holds the lock.
    assert!(wait_for_lock(&w));
    let pid = paused.id() as i32;
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    hold.release();
    // Another runner takes over after the lease, and deploys the whole stack.
    let other = run_in(
        &w,
        &w.dir.path().join("b"),
        &env,
        &["deploy", "--lock-timeout", "60"],
    );
    assert_eq!(other.code, 0, "{other}");
    let newer = object(&w, "ci/prod.json").unwrap().0;
    // The paused run wakes up: it stops without writing anything, and without any call to
    // AWS but S3's (its lease ran out while it was stopped; its lock is another's).
    let woke_at = Instant::now();
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let woke = finish(paused);
    let after: Vec<String> = w
        .proxy
        .calls()
        .iter()
        .filter(|c| c.access_key == "paused-runner" && c.at >= woke_at && c.service != "s3")
        .map(|c| c.name())
        .collect();
    assert!(after.is_empty(), "calls after waking: {after:?}");
    support::report(
        "fault",
        serde_json::json!({"fault": "lock holder stopped (SIGSTOP) past its lease, taken over, resumed", "survived": true}),
    );
    assert_eq!(woke.code, 4, "{woke}");
    assert!(
        woke.stderr.contains("taken over") || woke.stderr.contains("written by another run"),
        "{woke}"
    );
    assert_eq!(
        object(&w, "ci/prod.json").unwrap().0,
        newer,
        "the newer state stands"
    );
    w.assert_one_of_each("after the paused run woke");
    let plan = run_in(&w, &w.dir.path().join("b"), &env, &["plan"]);
    assert_eq!(plan.code, 0, "{plan}");
    run_in(&w, &w.dir.path().join("b"), &env, &["teardown", "--yes"]).ok();
    w.assert_nothing_left("pause");
}

#[test]
fn migrate_both_ways_unlock_and_every_error() {
    let w = World::new();
    init_bucket(&w);
    w.run(&["deploy"]).ok();
    // Folder -> S3.
    let moved = w.run(&["state", "migrate", "--to", "s3://team-state/m"]);
    assert_eq!(moved.code, 0, "{moved}");
    assert!(!w.state_file("prod").exists());
    assert!(w.state_dir().join("prod.json.migrated").exists());
    w.run(&["status", "--state", "s3://team-state/m"]).ok();
    // S3 -> folder.
    let back = w.run(&[
        "state",
        "migrate",
        "--state",
        "s3://team-state/m",
        "--to",
        "state2",
    ]);
    assert_eq!(back.code, 0, "{back}");
    assert!(object(&w, "m/prod.json").is_none());
    w.run(&["status", "--state-dir", "state2"]).ok();
    // Never over a newer state.
    let newer = std::fs::read_to_string(w.dir.path().join("state2/prod.json"))
        .unwrap()
        .replace("\"updated_at\": ", "\"updated_at\": 9");
    put_object(&w, "m/prod.json", &newer);
    let refused = w.run(&[
        "state",
        "migrate",
        "--state",
        "state2",
        "--to",
        "s3://team-state/m",
    ]);
    assert_eq!(refused.code, 2, "{refused}");
    assert!(refused.stderr.contains("newer state"), "{refused}");
    assert!(w.dir.path().join("state2/prod.json").exists());

    // A concurrent conditional write (409) is tried again.
    w.proxy.fault_times(
        "s3:PutObject",
        Fault::error(409, "ConditionalRequestConflict", "try again"),
        2,
    );
    let retried = w.run(&["deploy", "--state", "s3://team-state/r"]);
    assert_eq!(retried.code, 0, "{retried}");
    assert!(w.proxy.injected().len() >= 2);

    // Errors, each with its fix, nothing changed.
    let none = w.run(&["status", "--state", "s3://no-such-bucket/x"]);
    assert_eq!(none.code, 2, "{none}");
    assert!(none.stderr.contains("state init"), "{none}");
    put_object(&w, "bad/prod.json", "this is not a state");
    let bad = w.run(&["status", "--state", "s3://team-state/bad"]);
    assert_eq!(bad.code, 2, "{bad}");
    assert!(bad.stderr.contains("not valid"), "{bad}");
    // A state object past a state's size is a bad state too: exit 2, never read whole.
    put_object(&w, "big/prod.json", &" ".repeat(17 * 1024 * 1024));
    let big = w.run(&["status", "--state", "s3://team-state/big"]);
    assert_eq!(big.code, 2, "{big}");
    assert!(
        big.stderr.contains("larger than a state file can be"),
        "{big}"
    );
    w.proxy.fault_always(
        "s3:GetObject",
        Fault::error(403, "AccessDenied", "Access Denied"),
    );
    let denied = w.run(&["status", "--state", "s3://team-state/r"]);
    w.proxy.clear_faults();
    assert_eq!(denied.code, 2, "{denied}");
    assert!(denied.stderr.contains("s3:GetObject"), "{denied}");
    let bad_loc = w.run(&["status", "--state", "s3://Bad_Bucket"]);
    assert_eq!(bad_loc.code, 2, "{bad_loc}");

    // A lock of a dead process of this host: refused with the way out; unlock removes
    // exactly it.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let lock = serde_json::json!({"id": "dead-lock-1", "stack": "prod", "host": host, "user": "ci",
        "pid": 999_999_999u32, "command": "deploy", "started_at": now, "renewed_at": now, "lease_secs": 600});
    put_object(&w, "r/prod.lock", &lock.to_string());
    let busy = w.run(&["deploy", "--state", "s3://team-state/r"]);
    assert_eq!(busy.code, 4, "{busy}");
    assert!(
        busy.stderr.contains("not running on this host")
            && busy.stderr.contains("state unlock dead-lock-1"),
        "{busy}"
    );
    let wrong = w.run(&[
        "state",
        "unlock",
        "other-id",
        "--state",
        "s3://team-state/r",
    ]);
    assert_eq!(wrong.code, 2, "{wrong}");
    assert!(object(&w, "r/prod.lock").is_some());
    w.run(&[
        "state",
        "unlock",
        "dead-lock-1",
        "--state",
        "s3://team-state/r",
    ])
    .ok();
    assert!(object(&w, "r/prod.lock").is_none());

    // A bucket without versioning: deploy warns.
    let c = s3(&w);
    support::block_on(async move {
        c.create_bucket()
            .bucket("plain-bucket")
            .send()
            .await
            .unwrap();
    });
    let warned = w.run(&["deploy", "--state", "s3://plain-bucket", "--stack", "plain"]);
    assert_eq!(warned.code, 0, "{warned}");
    assert!(warned.stderr.contains("keeps no versions"), "{warned}");
    let checked = w.run(&["state", "init", "s3://plain-bucket"]);
    assert_eq!(checked.code, 3, "{checked}");
    assert!(checked.stdout.contains("versioning is off"), "{checked}");

    w.run(&[
        "teardown",
        "--yes",
        "--state",
        "s3://plain-bucket",
        "--stack",
        "plain",
    ])
    .ok();
    w.run(&["teardown", "--yes", "--state", "s3://team-state/r"])
        .ok();
    w.run(&["teardown", "--yes", "--state-dir", "state2"]).ok();
    w.assert_nothing_left("migrate and errors");
}

/// The journal this machine keeps of a state in S3 (`.serverless-cli/` in the runner's
/// folder): a record is durable here at once and reaches S3 behind. S3 failing in the middle
/// of a deploy stops it, with the records it made kept here; the next run from this folder
/// sends them and finishes the stack without remaking anything, and a run from another
/// folder (another machine) finishes it by adopting what carries the stack's tags.
#[test]
fn records_s3_has_not_taken_yet_are_kept_and_taken_up() {
    let w = World::new();
    init_bucket(&w);
    let here = w.dir.path().join("runner-a");
    let journal_dir = here.join(".serverless-cli").join("s3-journal");
    let journal = || -> serde_json::Value {
        let entry = std::fs::read_dir(&journal_dir)
            .expect("a journal folder")
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "json"))
            .expect("a journal file");
        serde_json::from_slice(&std::fs::read(entry).unwrap()).unwrap()
    };
    // A deploy shorter than SERVERLESS_CLI_S3_UPLOAD_AFTER (2 s by default; 600 here, so
    // that a loaded machine's slower run is too) sends its state once, at the end: the failure
    // is met there. With 0, every record starts an upload, and the failure stops the run at
    // its next record.
    for (round, rerun_in, upload_after) in [
        ("same runner", "runner-a", "600"),
        ("another runner", "runner-b", "0"),
    ] {
        let env = [
            ("SERVERLESS_CLI_STATE", STATE),
            ("SERVERLESS_CLI_S3_UPLOAD_AFTER", upload_after),
        ];
        // The lock is taken; then every write of the state object fails (the connection is
        // cut before S3 sees it).
        w.proxy.clear_faults();
        w.proxy.clear();
        fail_state_writes(&w);
        let failed = run_in(&w, &here, &env, &["deploy"]);
        assert_ne!(failed.code, 0, "{round}: {failed}");
        // With uploads at once, the failed upload stops the run at its next record, or, when
        // the remaining steps all finish while the upload is still being retried, at the final
        // flush: either way the run fails and says the journal keeps what it made.
        let stopped = failed.stderr.contains("deploy stopped");
        let unrecorded = failed.stderr.contains("could not record them");
        let says = failed.stderr.contains("journal")
            && if upload_after == "0" {
                stopped || unrecorded
            } else {
                unrecorded
            };
        assert!(says, "{round}: {failed}");
        assert!(
            object(&w, "ci/prod.json").is_none(),
            "{round}: S3 holds no state"
        );
        assert!(
            object(&w, "ci/prod.lock").is_none(),
            "{round}: the lock is released"
        );
        let kept = journal();
        assert_eq!(kept["in_sync"], false, "{round}: {kept}");
        let made: Vec<String> = kept["state"]["resources"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert!(
            !made.is_empty(),
            "{round}: the journal holds what was made: {kept}"
        );

        w.proxy.clear_faults();
        w.proxy.clear();
        let rerun = run_in(&w, &w.dir.path().join(rerun_in), &env, &["deploy"]);
        assert_eq!(rerun.code, 0, "{round}: {rerun}");
        let took_up = rerun
            .stderr
            .contains("taking up what this machine recorded");
        assert_eq!(took_up, rerun_in == "runner-a", "{round}: {rerun}");
        if rerun_in == "runner-a" {
            // What the journal recorded is not made, or looked for, again.
            for (prefix, op) in [
                ("table:", "dynamodb:CreateTable"),
                ("role:", "iam:CreateRole"),
                ("function:", "lambda:CreateFunction"),
                ("rest-api", "apigateway:GetRestApis"),
            ] {
                if made.iter().any(|k| k.starts_with(prefix)) {
                    assert_eq!(w.proxy.count(op), 0, "{round}: {op}");
                }
            }
            let synced = journal();
            assert_eq!(synced["in_sync"], true, "{round}: {synced}");
        }
        w.assert_one_of_each(round);
        let state: serde_json::Value =
            serde_json::from_slice(&object(&w, "ci/prod.json").unwrap().0).unwrap();
        assert!(state["resources"]["stage:prod"].is_object(), "{round}");

        // The same inputs again from the same folder: nothing to change, so no lock is taken
        // and nothing is written; S3 is asked only whether the state is still this
        // machine's copy.
        w.proxy.clear();
        let again = run_in(&w, &w.dir.path().join(rerun_in), &env, &["deploy"]);
        assert_eq!(again.code, 0, "{round}: {again}");
        assert!(again.stdout.contains("up to date"), "{round}: {again}");
        let s3_writes: Vec<String> = w
            .proxy
            .calls()
            .iter()
            .filter(|c| c.service == "s3" && c.is_mutating())
            .map(|c| c.name())
            .collect();
        assert!(s3_writes.is_empty(), "{round}: {s3_writes:?}");
        // A changed input takes the lock and writes.
        w.proxy.clear();
        let changed = run_in(
            &w,
            &w.dir.path().join(rerun_in),
            &env,
            &["deploy", "--log-retention-days", "30"],
        );
        assert_eq!(changed.code, 0, "{round}: {changed}");
        assert!(
            w.proxy.count("s3:PutObject") >= 2,
            "{round}: lock and state"
        );
        assert!(object(&w, "ci/prod.lock").is_none(), "{round}: released");

        run_in(
            &w,
            &w.dir.path().join(rerun_in),
            &env,
            &["teardown", "--yes"],
        )
        .ok();
        w.assert_nothing_left(round);
        assert!(
            object(&w, "ci/prod.json").is_none(),
            "{round}: state removed"
        );
        let _ = std::fs::remove_dir_all(&journal_dir);
    }
}

/// Teardown does not confirm the state it read with the lock (it reads it in the lock's round
/// trip): its one write, the final delete of the state, is conditional on what it read. A
/// state another run wrote meanwhile is therefore not removed, and teardown says so (exit 4).
#[test]
fn a_teardown_never_removes_a_state_written_while_it_ran() {
    let w = World::new();
    init_bucket(&w);
    let env = [("SERVERLESS_CLI_STATE", STATE)];
    let here = w.dir.path().join("runner");
    run_in(&w, &here, &env, &["deploy"]).ok();
    let hold = w.proxy.hold("lambda:DeleteFunction");
    let teardown = spawn_in(&w, &here, &env, &["teardown", "--yes"]);
    assert!(w
        .proxy
        .wait_for("lambda:DeleteFunction", Duration::from_secs(30)));
    // Another run's write (a hand edit, a run that ignored the lock): the state changes.
    let (body, _) = object(&w, "ci/prod.json").unwrap();
    let mut state: serde_json::Value = serde_json::from_slice(&body).unwrap();
    state["updated_at"] = serde_json::json!(1);
    put_object(&w, "ci/prod.json", &state.to_string());
    hold.release();
    let done = finish(teardown);
    assert_eq!(done.code, 4, "{done}");
    assert!(done.stderr.contains("run teardown again"), "{done}");
    let (kept, _) = object(&w, "ci/prod.json").expect("the newer state stands");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&kept).unwrap(),
        state
    );
    assert!(object(&w, "ci/prod.lock").is_none(), "the lock is released");
}

/// Records this machine never sent, while another runner has since changed the state in S3:
/// this machine's journal is not taken up over the newer state. It is set aside with a
/// warning naming the file, and the run goes on from S3's state (what the journal named is
/// found again by its owner tags), leaving one of each.
#[test]
fn unsent_records_are_set_aside_when_another_runner_wrote_since() {
    let w = World::new();
    init_bucket(&w);
    let env = [("SERVERLESS_CLI_STATE", STATE)];
    let a = w.dir.path().join("runner-a");
    let b = w.dir.path().join("runner-b");
    run_in(&w, &a, &env, &["deploy"]).ok();
    // A change from runner A whose writes to S3 all fail: its journal is ahead of S3.
    fail_state_writes(&w);
    let failed = run_in(&w, &a, &env, &["deploy", "--log-retention-days", "30"]);
    assert_ne!(failed.code, 0, "{failed}");
    w.proxy.clear_faults();
    // Runner B changes the state in S3 meanwhile.
    run_in(&w, &b, &env, &["deploy", "--log-retention-days", "60"]).ok();
    // Runner A again: its unsent records are set aside, not written over B's state.
    let again = run_in(&w, &a, &env, &["deploy", "--log-retention-days", "60"]);
    assert_eq!(again.code, 0, "{again}");
    assert!(
        again.stderr.contains("never reached") && again.stderr.contains("unsent-"),
        "{again}"
    );
    assert!(!again.stderr.contains("taking up"), "{again}");
    let aside = std::fs::read_dir(a.join(".serverless-cli").join("s3-journal"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("unsent-"))
        .count();
    assert_eq!(aside, 1, "the unsent journal is kept aside");
    w.assert_one_of_each("after the journal was set aside");
    let state: serde_json::Value =
        serde_json::from_slice(&object(&w, "ci/prod.json").unwrap().0).unwrap();
    assert_eq!(
        state["resources"]["log-group:putitem"]["props"]["retention_days"], 60,
        "{}",
        state["resources"]["log-group:putitem"]
    );
    run_in(&w, &a, &env, &["teardown", "--yes"]).ok();
    w.assert_nothing_left("set aside");
}

/// A lock's age is measured on S3's clock (the answer's `Date` less the object's
/// Last-Modified): a runner whose clock is two minutes ahead does not take a live lock, and one
/// two minutes behind takes a dead one as soon as its lease has run out on S3's clock.
#[test]
fn a_runner_whose_clock_is_minutes_off_neither_takes_a_live_lock_nor_misses_a_dead_one() {
    let w = World::new();
    init_bucket(&w);
    let env = [
        ("SERVERLESS_CLI_STATE", STATE),
        ("SERVERLESS_CLI_LOCK_LEASE", "6"),
    ];
    let with_clock = |offset: &'static str| {
        let mut e = env.to_vec();
        e.push(("SERVERLESS_CLI_TEST_CLOCK_OFFSET", offset));
        e
    };
    // A live holder, held at CreateFunction and renewing its lock.
    let hold = w.proxy.hold("lambda:CreateFunction");
    let mut holder = spawn_in(&w, &w.dir.path().join("a"), &env, &["deploy"]);
    assert!(w
        .proxy
        .wait_for("lambda:CreateFunction", Duration::from_secs(30)));
    let ahead = run_in(
        &w,
        &w.dir.path().join("b"),
        &with_clock("120"),
        &["deploy", "--lock-timeout", "3"],
    );
    assert_eq!(ahead.code, 4, "{ahead}");
    assert!(!ahead.stderr.contains("took over"), "{ahead}");
    assert!(ahead.stderr.contains("(deploy)"), "{ahead}");

    // The holder dies; its lock stays. Once it is older than its lease on S3's clock, a
    // runner two minutes behind takes it over at once (watching it for a lease would take
    // longer than its --lock-timeout).
    holder.kill().unwrap();
    let _ = holder.wait();
    hold.release();
    std::thread::sleep(Duration::from_secs(9));
    let behind = run_in(
        &w,
        &w.dir.path().join("c"),
        &with_clock("-120"),
        &["deploy", "--lock-timeout", "2"],
    );
    assert_eq!(behind.code, 0, "{behind}");
    assert!(
        behind.stderr.contains("took over the stale lock"),
        "{behind}"
    );
    w.assert_one_of_each("after a takeover by a runner whose clock is behind");
    for f in [
        "runner clock 120 s ahead, beside a live S3 lock",
        "runner clock 120 s behind, a dead S3 lock past its lease",
    ] {
        support::report("fault", serde_json::json!({"fault": f, "survived": true}));
    }
    run_in(&w, &w.dir.path().join("c"), &env, &["teardown", "--yes"]).ok();
    w.assert_nothing_left("clock skew");
}

/// A lock PUT and a state PUT whose answers are lost after S3 applied them: each retry meets
/// this run's own object (412), knows it by the lock's id or the state's writer token, and the
/// run goes on as the owner.
#[test]
fn writes_whose_answers_were_lost_are_known_for_the_runs_own() {
    let w = World::new();
    init_bucket(&w);
    let env = [("SERVERLESS_CLI_STATE", STATE)];
    let lost = Fault::Drop {
        after_forward: true,
    };
    w.proxy
        .fault_times_on("s3:PutObject", "/prod.lock", lost.clone(), 1);
    w.proxy
        .fault_times_on("s3:PutObject", "/prod.json", lost, 1);
    let run = run_in(&w, &w.dir.path().join("a"), &env, &["deploy"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(w.proxy.injected().len(), 2, "{:?}", w.proxy.injected());
    assert!(object(&w, "ci/prod.lock").is_none(), "the lock is released");
    let state: serde_json::Value =
        serde_json::from_slice(&object(&w, "ci/prod.json").unwrap().0).unwrap();
    assert!(state["resources"]["function:putitem"].is_object());
    let plan = run_in(&w, &w.dir.path().join("b"), &env, &["plan"]);
    assert_eq!(plan.code, 0, "{plan}");
    for f in w.proxy.injected() {
        support::report("fault", serde_json::json!({"fault": f, "survived": true}));
    }
    run_in(&w, &w.dir.path().join("b"), &env, &["teardown", "--yes"]).ok();
    w.assert_nothing_left("lost answers");
}

/// The lock is released while a renewal is in flight (S3 took it; its answer is still on the
/// way): release waits for that renewal and deletes the lock by the ETag it gave, so no lock
/// is left behind to block the next run.
#[test]
fn release_racing_a_renewal_leaves_no_lock() {
    let w = World::new();
    init_bucket(&w);
    let env = [
        ("SERVERLESS_CLI_STATE", STATE),
        ("SERVERLESS_CLI_LOCK_LEASE", "12"),
        // The state goes to S3 once, when the run ends.
        ("SERVERLESS_CLI_S3_UPLOAD_AFTER", "600"),
    ];
    // Each write of the lock is answered 2 s after S3 took it; renewals come every 4 s. A
    // renewal is confirmed (from when it was sent) before the last one's lease, less its
    // margin, ends: 4 + 2 + 2 s < 0.9 x 12 s, so the lease holds however late the run saves.
    w.proxy.fault_times_on(
        "s3:PutObject",
        "/prod.lock",
        Fault::SlowAnswer(Duration::from_secs(2)),
        1000,
    );
    // The run's last upload of the state waits until a renewal is in flight.
    let hold = w.proxy.hold_on("s3:PutObject", "/prod.json");
    let run = spawn_in(&w, &w.dir.path().join("a"), &env, &["deploy"]);
    let lock_puts = || {
        w.proxy
            .calls()
            .iter()
            .filter(|c| c.operation == "PutObject" && c.path.ends_with("/prod.lock"))
            .count()
    };
    let end = Instant::now() + Duration::from_secs(60);
    while lock_puts() < 2 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(lock_puts(), 2, "no renewal came");
    std::thread::sleep(Duration::from_millis(300));
    hold.release();
    let run = finish(run);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        object(&w, "ci/prod.lock").is_none(),
        "the lock was left: {run}"
    );
    support::report(
        "fault",
        serde_json::json!({"fault": "s3:PutObject of the lock (a renewal) in flight at release", "survived": true}),
    );
    run_in(&w, &w.dir.path().join("a"), &env, &["teardown", "--yes"]).ok();
    w.assert_nothing_left("release racing a renewal");
}

/// No PUT names an encryption (the bucket's default applies; a header would override a KMS
/// default), and a bucket in another region than the stack's is followed where S3 says it is.
#[test]
fn no_encryption_header_and_a_bucket_of_another_region_is_followed() {
    let w = World::new();
    init_bucket(&w);
    w.proxy.bucket_in_region(BUCKET, "eu-west-1");
    let env = [("SERVERLESS_CLI_STATE", STATE)];
    let run = run_in(&w, &w.dir.path().join("a"), &env, &["deploy"]);
    assert_eq!(run.code, 0, "{run}");
    let listed = run_in(
        &w,
        &w.dir.path().join("b"),
        &env,
        &["state", "list", "--output", "json"],
    );
    assert_eq!(listed.code, 0, "{listed}");
    assert_eq!(listed.json()["stacks"][0]["lock"], "free", "{listed}");
    let calls = w.proxy.calls();
    let s3: Vec<_> = calls.iter().filter(|c| c.service == "s3").collect();
    let put = s3
        .iter()
        .filter(|c| c.method == "PUT" && c.region == "eu-west-1")
        .count();
    assert!(put >= 2, "the lock and the state went to eu-west-1: {s3:?}");
    // Sent on once per call in flight before the first answer (a run starts with three at
    // once); every call after that goes where the bucket is.
    let redirected = w
        .proxy
        .injected()
        .iter()
        .filter(|i| i.contains("301"))
        .count();
    assert!((1..=6).contains(&redirected), "{:?}", w.proxy.injected());
    for c in s3.iter().filter(|c| c.method == "PUT") {
        assert!(
            !c.headers
                .iter()
                .any(|(k, _)| k.starts_with("x-amz-server-side-encryption")),
            "{} {} names an encryption",
            c.method,
            c.path
        );
    }
    run_in(&w, &w.dir.path().join("b"), &env, &["teardown", "--yes"]).ok();
    w.assert_nothing_left("a bucket in another region");
    support::report(
        "fault",
        serde_json::json!({"fault": "s3 301 PermanentRedirect, bucket in eu-west-1", "survived": true}),
    );
}

/// A GitLab job URL with its token in it (`https://gitlab-ci-token:...@host/...`) names the
/// holder of a lock: the lock object, `state list` and a refused run's message carry the job,
/// never the token.
#[test]
fn a_ci_job_url_with_credentials_is_never_written_or_shown() {
    let w = World::new();
    init_bucket(&w);
    let secret = "glcbt-64_SECRETSECRET";
    let job = format!("https://gitlab-ci-token:{secret}@gitlab.example.com/g/p/-/jobs/7");
    let env = [("SERVERLESS_CLI_STATE", STATE)];
    let mut ci = env.to_vec();
    ci.extend([
        ("GITHUB_ACTIONS", ""),
        ("GITLAB_CI", "true"),
        ("CI_JOB_URL", job.as_str()),
    ]);
    let hold = w.proxy.hold("lambda:CreateFunction");
    let holder = spawn_in(&w, &w.dir.path().join("a"), &ci, &["deploy"]);
    assert!(w
        .proxy
        .wait_for("lambda:CreateFunction", Duration::from_secs(30)));
    let lock = String::from_utf8(object(&w, "ci/prod.lock").unwrap().0).unwrap();
    assert!(lock.contains("gitlab.example.com/g/p/-/jobs/7"), "{lock}");
    let listed = run_in(&w, &w.dir.path().join("b"), &env, &["state", "list"]);
    let refused = run_in(
        &w,
        &w.dir.path().join("b"),
        &env,
        &["deploy", "--lock-timeout", "1"],
    );
    hold.release();
    finish(holder).ok();
    assert_eq!(refused.code, 4, "{refused}");
    assert!(refused.stderr.contains("gitlab.example.com"), "{refused}");
    for (what, text) in [
        ("lock", lock),
        ("state list", listed.stdout.clone()),
        ("refusal", refused.stderr.clone()),
    ] {
        assert!(!text.contains(secret), "{what}: {text}");
    }
    run_in(&w, &w.dir.path().join("b"), &env, &["teardown", "--yes"]).ok();
}

/// Under the printed least-privilege policy another stack's objects are out of reach: `state
/// list` says so for that stack and lists the rest; and the policy covers `state init`.
#[test]
fn state_list_goes_on_past_a_lock_it_may_not_read() {
    let w = World::new();
    init_bucket(&w);
    let printed = w.run(&["iam-policy", "--state", STATE]).ok();
    for action in [
        "s3:CreateBucket",
        "s3:PutBucketVersioning",
        "s3:PutEncryptionConfiguration",
    ] {
        assert!(printed.stdout.contains(action), "{action}: {printed}");
    }
    let env = [("SERVERLESS_CLI_STATE", STATE)];
    run_in(&w, &w.dir.path().join("a"), &env, &["deploy"]).ok();
    put_object(&w, "ci/other.json", "{}");
    put_object(&w, "ci/other.lock", "{}");
    w.proxy.fault_times_on(
        "s3:GetObject",
        "/other.lock",
        Fault::error(403, "AccessDenied", "Access Denied"),
        10,
    );
    let listed = run_in(
        &w,
        &w.dir.path().join("b"),
        &env,
        &["state", "list", "--output", "json"],
    );
    assert_eq!(listed.code, 0, "{listed}");
    let stacks = listed.json()["stacks"].clone();
    let lock_of = |name: &str| {
        stacks
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stack"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {stacks}"))["lock"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(lock_of("prod"), "free");
    let other = lock_of("other");
    assert!(
        other.starts_with("unknown") && other.contains("AccessDenied"),
        "{other}"
    );
    run_in(&w, &w.dir.path().join("b"), &env, &["teardown", "--yes"]).ok();
}
