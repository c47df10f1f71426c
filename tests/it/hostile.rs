//! What a hostile or unusual folder, file or flag can do: nothing. Links are not followed for
//! the state and its lock, FIFOs and devices are refused at once (never read until memory runs
//! out, never waited on), code that reaches outside its folder or past Lambda's limits is
//! refused before any AWS call, and the state file is left byte-for-byte as it was.

use crate::support;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::World;

/// Runs `args` with a time limit: exit code 2, the message, no AWS call, state unchanged.
#[track_caller]
fn refused(w: &World, args: &[&str], says: &str) {
    let path = w.state_file("prod");
    // The test itself must not read a FIFO or device: only a regular file's bytes are kept.
    let snapshot = |p: &Path| {
        std::fs::symlink_metadata(p)
            .ok()
            .filter(|m| m.is_file())
            .and_then(|_| std::fs::read(p).ok())
    };
    let before = snapshot(&path);
    w.proxy.clear();
    let mut child = w
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            panic!("{args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}\n{stderr}");
    assert!(
        stderr.contains(says),
        "{args:?}: expected '{says}' in\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.lines().filter(|l| !l.trim().is_empty()).count() <= 2,
        "{args:?}: the error should fit in two lines\n{stderr}"
    );
    assert!(w.proxy.calls().is_empty(), "{args:?} made AWS calls");
    assert_eq!(snapshot(&path), before, "{args:?} changed the state file");
    support::report(
        "bad_input",
        serde_json::json!({"args": args, "refused_cleanly": true}),
    );
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, data) in entries {
        z.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
}

#[test]
fn state_and_lock_links_fifos_and_devices_are_refused() {
    let w = World::new();
    let state_dir = w.state_dir();
    std::fs::create_dir_all(&state_dir).unwrap();
    let victim = w.dir.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();

    // The lock file is a link to another file: not followed, not overwritten.
    let lock = state_dir.join("prod.lock");
    std::os::unix::fs::symlink(&victim, &lock).unwrap();
    refused(&w, &["deploy"], "symbolic link");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    std::fs::remove_file(&lock).unwrap();

    // The state file is a link.
    let state = w.state_file("prod");
    std::os::unix::fs::symlink(&victim, &state).unwrap();
    refused(&w, &["status"], "symbolic link");
    refused(&w, &["deploy"], "symbolic link");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    std::fs::remove_file(&state).unwrap();

    // A FIFO as state file: refused at once, never waited on.
    mkfifo(&state);
    refused(&w, &["status"], "not a regular file");
    refused(&w, &["teardown", "--yes"], "not a regular file");
    std::fs::remove_file(&state).unwrap();

    // A device as state file: never read until memory runs out.
    std::os::unix::fs::symlink("/dev/zero", &state).unwrap();
    refused(&w, &["status"], "symbolic link");
    std::fs::remove_file(&state).unwrap();

    // A FIFO as lock file (in place of the one the runs above left).
    let _ = std::fs::remove_file(&lock);
    mkfifo(&lock);
    refused(&w, &["deploy"], "not a regular file");
    std::fs::remove_file(&lock).unwrap();

    // With nothing hostile left, the stack deploys and goes.
    w.run(&["deploy"]).ok();
    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("hostile state");
}

#[test]
fn hostile_code_is_refused_before_any_call() {
    let w = World::new();
    w.run(&["deploy"]).ok();
    let d = w.dir.path();

    // Devices and FIFOs as --code.
    refused(&w, &["deploy", "--code", "/dev/zero"], "not a regular file");
    let fifo = d.join("code.zip");
    mkfifo(&fifo);
    refused(
        &w,
        &["deploy", "--code", fifo.to_str().unwrap()],
        "not a regular file",
    );

    // package.json's `files` reaching outside through a linked folder.
    let outside = d.join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.js"), "secret").unwrap();
    let code = d.join("code");
    std::fs::create_dir(&code).unwrap();
    std::fs::write(code.join("index.mjs"), "export const handler = 1;").unwrap();
    std::fs::write(
        code.join("package.json"),
        r#"{"files": ["index.mjs", "lib/secret.js"]}"#,
    )
    .unwrap();
    std::os::unix::fs::symlink(&outside, code.join("lib")).unwrap();
    refused(
        &w,
        &["deploy", "--code", code.to_str().unwrap()],
        "symbolic link",
    );
    std::fs::write(code.join("package.json"), r#"{"files": ["/etc/passwd"]}"#).unwrap();
    refused(
        &w,
        &["deploy", "--code", code.to_str().unwrap()],
        "absolute path",
    );
    std::fs::remove_file(code.join("lib")).unwrap();
    std::fs::remove_file(code.join("package.json")).unwrap();

    // A file name that is not UTF-8 (two such names would collide into one).
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"data-\xff.json");
        std::fs::write(code.join(name), "{}").unwrap();
    }
    refused(
        &w,
        &["deploy", "--code", code.to_str().unwrap()],
        "not valid UTF-8",
    );

    // Zips whose entries leave the folder, or that unzip past Lambda's 250 MB.
    let escape = d.join("escape.zip");
    write_zip(&escape, &[("index.mjs", b"x"), ("../../evil.js", b"x")]);
    refused(
        &w,
        &["deploy", "--code", escape.to_str().unwrap()],
        "outside the folder",
    );
    let absolute = d.join("absolute.zip");
    write_zip(&absolute, &[("index.mjs", b"x"), ("/etc/cron.d/x", b"x")]);
    refused(
        &w,
        &["deploy", "--code", absolute.to_str().unwrap()],
        "outside the folder",
    );
    let bomb = d.join("bomb.zip");
    let zeros = vec![0u8; 251 * 1024 * 1024];
    write_zip(&bomb, &[("index.mjs", b"x"), ("zeros.bin", &zeros)]);
    drop(zeros);
    refused(&w, &["deploy", "--code", bomb.to_str().unwrap()], "250");

    // Just over the real inline limit: base64 of 50 MiB does not fit Lambda's request.
    let big = d.join("big.zip");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(50 * 1024 * 1024 - 4 * 1024).unwrap();
    refused(&w, &["deploy", "--code", big.to_str().unwrap()], "limit");

    w.run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("hostile code");
}

/// An OS error is said once, in one line, with the path and what to fix.
#[test]
fn an_os_error_is_printed_once() {
    let w = World::new();
    let not_a_dir = w.dir.path().join("plain-file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let run = w.run(&["--state-dir", not_a_dir.to_str().unwrap(), "deploy"]);
    assert_ne!(run.code, 0, "{run}");
    assert_eq!(run.stderr.matches("(os error").count(), 1, "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    assert!(w.proxy.calls().is_empty());
}

/// A name carrying terminal escape sequences is refused with the escape shown, never sent to
/// the terminal raw.
#[test]
fn escape_sequences_in_a_stack_file_are_printed_escaped() {
    let w = World::new();
    let file = w.dir.path().join("serverless-cli.toml");
    std::fs::write(
        &file,
        "[functions.\"x\\u001b]0;owned\\u0007\\u001b[31m\"]\ncode = \"code\"\n",
    )
    .unwrap();
    let run = w.run(&["plan"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(!run.stderr.contains('\u{1b}'), "{run:?}");
    assert!(!run.stderr.contains('\u{7}'), "{run:?}");
    assert!(run.stderr.contains("\\u{1b}"), "{run}");
    assert!(w.proxy.calls().is_empty());
    support::report(
        "bad_input",
        serde_json::json!({"args": ["plan", "(a name with escape sequences)"], "refused_cleanly": true}),
    );
}

/// `init DIR` whose `DIR/handler` is a link out of the folder writes nothing, there or here.
#[test]
fn init_never_writes_through_a_linked_folder() {
    let w = World::new();
    let app = w.dir.path().join("app");
    let elsewhere = w.dir.path().join("elsewhere");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, app.join("handler")).unwrap();
    let run = w.run(&["init", app.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("symbolic link"), "{run}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(&app).unwrap().count(), 1);
    support::report(
        "bad_input",
        serde_json::json!({"args": ["init", "(a folder whose handler/ is a link)"], "refused_cleanly": true}),
    );
}

/// A password in an environment value's URL is never printed by plan, and the warning says
/// where secrets belong.
#[test]
fn a_password_in_a_url_is_never_printed() {
    let w = World::new();
    std::fs::create_dir_all(w.dir.path().join("code")).unwrap();
    std::fs::write(
        w.dir.path().join("code/index.mjs"),
        "export const handler = 1;\n",
    )
    .unwrap();
    std::fs::write(
        w.dir.path().join("serverless-cli.toml"),
        "[functions.api]\ncode = \"code\"\nenvironment = { DB_URL = \"postgres://app:hunter2@db.example.com:5432/app\" }\n\n[[routes]]\nmethod = \"GET\"\npath = \"/x\"\nfunction = \"api\"\n",
    )
    .unwrap();
    for output in ["text", "json"] {
        let run = w.run(&["plan", "--output", output]);
        assert_eq!(run.code, 3, "{run}");
        assert!(!run.stdout.contains("hunter2"), "{run}");
        assert!(!run.stderr.contains("hunter2"), "{run}");
        if output == "json" {
            assert!(
                run.stdout.contains("postgres://***@db.example.com"),
                "{run}"
            );
        }
        assert!(run.stderr.contains("Secrets Manager"), "{run}");
    }
}
