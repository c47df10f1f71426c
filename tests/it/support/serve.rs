//! `serverless-cli serve` as a real process for the tests, and a plain HTTP/1.1 client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::World;

/// The project's handler folder (its node_modules come from `npm ci`, which scripts/test runs).
pub fn handler_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/tutorial/handler");
    assert!(
        dir.join("node_modules").join("@aws-sdk").exists(),
        "examples/tutorial/handler/node_modules is missing: run `npm ci` there (scripts/test does)"
    );
    dir
}

/// The major version of the Node.js on the PATH (the one serve runs).
pub fn node_major() -> u32 {
    let version = std::process::Command::new("node")
        .arg("--version")
        .output()
        .expect("node runs");
    String::from_utf8_lossy(&version.stdout)
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .expect("node --version prints vMAJOR.MINOR.PATCH")
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// A running `serve`, stopped (SIGKILL) when dropped.
pub struct Served {
    child: Child,
    pub url: String,
    pub banner: serde_json::Value,
    stderr: Arc<Mutex<String>>,
    stdout: Option<BufReader<std::process::ChildStdout>>,
}

impl World {
    /// Starts `serve --port 0 --output json` with these extra arguments (`--code` defaults to
    /// the project's handler) and waits for the banner with its URL.
    pub fn serve(&self, extra: &[&str]) -> Served {
        self.serve_with(extra, |_| {})
    }

    /// `serve` with its command adjusted first (a resource limit, say).
    pub fn serve_with(
        &self,
        extra: &[&str],
        adjust: impl FnOnce(&mut std::process::Command),
    ) -> Served {
        let code = handler_dir();
        let mut args = vec!["--code", code.to_str().unwrap()];
        if extra.contains(&"--code") {
            args.clear();
        }
        args.extend(extra);
        self.serve_raw(&args, adjust)
    }

    /// `serve` with exactly these arguments (no default `--code`).
    pub fn serve_raw(
        &self,
        extra: &[&str],
        adjust: impl FnOnce(&mut std::process::Command),
    ) -> Served {
        let mut args = vec!["serve", "--port", "0", "--output", "json"];
        args.extend(extra);
        let mut cmd = self.command(&args);
        adjust(&mut cmd);
        let mut child = cmd.spawn().expect("serve starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let err_pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(err_pipe);
            let mut line = String::new();
            while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let banner: serde_json::Value = serde_json::from_str(&first).unwrap_or_else(|e| {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "serve printed no banner ({e}): {first:?}\nstderr:\n{}",
                stderr.lock().unwrap()
            )
        });
        let url = banner["url"].as_str().unwrap().to_string();
        Served {
            child,
            url,
            banner,
            stderr,
            stdout: Some(out),
        }
    }
}

impl Served {
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Ctrl-C, then waits for the exit: (exit code, stderr).
    pub fn interrupt(self) -> (i32, String) {
        let (code, stderr, _) = self.interrupt_with_stdout();
        (code, stderr)
    }

    /// Ctrl-C, then waits for the exit: (exit code, stderr, stdout after the banner).
    pub fn interrupt_with_stdout(mut self) -> (i32, String, String) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let end = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < end, "serve did not stop after SIGINT");
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(50));
        let mut rest = String::new();
        if let Some(mut out) = self.stdout.take() {
            let _ = out.read_to_string(&mut rest);
        }
        (status.code().unwrap_or(-1), self.stderr(), rest)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request over a new connection (`url` is `http://host:port/path`).
pub fn http(method: &str, url: &str, content_type: Option<&str>, body: &str) -> Reply {
    let headers: Vec<(&str, &str)> = content_type
        .map(|ct| ("Content-Type", ct))
        .into_iter()
        .collect();
    http_with(method, url, &headers, body)
}

/// One request with these headers; its answer.
pub fn http_with(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut s = TcpStream::connect(host).expect("serve accepts connections");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

pub fn post(url: &str, body: &str) -> Reply {
    http(
        "POST",
        &format!("{url}/user"),
        Some("application/json"),
        body,
    )
}

pub fn get(url: &str, uid_path: &str) -> Reply {
    http("GET", &format!("{url}/user/{uid_path}"), None, "")
}
