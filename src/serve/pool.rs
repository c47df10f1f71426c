//! Long-lived Node.js workers that run the handler, one request at a time each, as Lambda's
//! sandboxes do. A worker whose process exits mid-request, or that runs past the timeout, is
//! answered for the way Lambda answers (an error document API Gateway then maps to 502 / 504),
//! killed, and replaced before its next request.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::gateway::Outcome;

/// The runtime script the workers run (written to a temporary folder at start).
pub const RUNTIME_JS: &str = include_str!("runtime.mjs");

/// How long a worker may take to load the handler.
const LOAD_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub node: PathBuf,
    pub runtime_script: PathBuf,
    pub code_dir: PathBuf,
    pub handler: String,
    pub function_name: String,
    /// The function's name in the stack file: the label of its log lines.
    pub label: String,
    /// Environment of the function (on top of this process's own).
    pub env: Vec<(String, String)>,
    /// Variables of this process's own environment the function must not see.
    pub env_remove: Vec<String>,
    pub timeout: Duration,
}

/// Why the workers could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot run Node.js ({node}): {reason}; install Node.js 20 or later, or point --node (SERVERLESS_CLI_NODE) at it")]
    NoNode { node: String, reason: String },
    #[error("the handler does not load: {0}")]
    Load(String),
}

struct Job {
    request_id: String,
    event: Value,
    reply: oneshot::Sender<Outcome>,
}

/// The workers, behind one queue.
pub struct Pool {
    tx: mpsc::Sender<Job>,
}

impl Pool {
    /// Starts `size` workers and waits until every one has loaded the handler.
    pub async fn start(cfg: PoolConfig, size: usize) -> Result<Pool, StartError> {
        let cfg = Arc::new(cfg);
        let spawned = futures::future::join_all((0..size).map(|_| Worker::spawn(&cfg))).await;
        let mut workers = Vec::with_capacity(size);
        for w in spawned {
            workers.push(w?);
        }
        let (tx, rx) = mpsc::channel::<Job>(1024);
        let rx = Arc::new(Mutex::new(rx));
        for w in workers {
            tokio::spawn(serve_jobs(Some(w), cfg.clone(), rx.clone()));
        }
        Ok(Pool { tx })
    }

    /// Runs the handler on one event; always answers (a worker that fails is an error
    /// document, as Lambda reports it).
    pub async fn invoke(&self, request_id: String, event: Value) -> Outcome {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            request_id: request_id.clone(),
            event,
            reply,
        };
        if self.tx.send(job).await.is_err() {
            return Outcome::Error(service_error(&request_id, "the workers have stopped"));
        }
        answer
            .await
            .unwrap_or_else(|_| Outcome::Error(service_error(&request_id, "the worker stopped")))
    }
}

fn service_error(request_id: &str, why: &str) -> Value {
    json!({
        "errorType": "Runtime.Unknown",
        "errorMessage": format!("RequestId: {request_id} Error: {why}"),
        "stackTrace": [],
    })
}

/// One worker's loop: take a job, make sure the process is alive, run it.
async fn serve_jobs(
    mut worker: Option<Worker>,
    cfg: Arc<PoolConfig>,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
) {
    loop {
        let job = {
            let mut rx = rx.lock().await;
            rx.recv().await
        };
        let Some(job) = job else { break };
        // A process that exited while idle (an unhandled rejection after its last answer,
        // say) is replaced before it gets the request.
        if let Some(w) = worker.as_mut() {
            if !matches!(w.child.try_wait(), Ok(None)) {
                worker = None;
            }
        }
        if worker.is_none() {
            match Worker::spawn(&cfg).await {
                Ok(w) => worker = Some(w),
                Err(e) => {
                    let doc = json!({
                        "errorType": "Runtime.ImportModuleError",
                        "errorMessage": e.to_string(),
                        "stackTrace": [],
                    });
                    let _ = job.reply.send(Outcome::Error(doc));
                    continue;
                }
            }
        }
        let Some(w) = worker.as_mut() else { continue };
        let (outcome, alive) = w.run(&job.request_id, &job.event, cfg.timeout).await;
        if !alive {
            if let Some(mut dead) = worker.take() {
                let _ = dead.child.start_kill();
                let _ = dead.child.wait().await;
            }
        }
        let _ = job.reply.send(outcome);
    }
}

/// The longest line of a handler's output relayed whole; the rest of a longer one follows as
/// further lines.
const LINE_LIMIT: u64 = 256 * 1024;

/// Writes a worker's output on serve's stderr in `logs`' form (time, function, request id,
/// level, message: docs/logs.md); lines not in the runtime's form (a stack trace's later
/// lines, Node's own messages) as they are, control characters escaped.
async fn relay(stderr: tokio::process::ChildStderr, label: String) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let printer = crate::logs::Printer::for_stderr(vec![label.clone()]);
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut reader)
            .take(LINE_LIMIT)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim_end_matches(['\n', '\r']);
        let out = match crate::logs::runtime_line(text) {
            Some(timestamp) => printer.line(&crate::logs::Line {
                function: label.clone(),
                event: crate::resources::log_group::LogEvent {
                    group: String::new(),
                    stream: String::new(),
                    timestamp,
                    id: None,
                    message: text.to_string(),
                },
            }),
            None => crate::report::printable(text).into_owned(),
        };
        eprintln!("{out}");
    }
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    async fn spawn(cfg: &PoolConfig) -> Result<Worker, StartError> {
        let mut cmd = Command::new(&cfg.node);
        for k in &cfg.env_remove {
            cmd.env_remove(k);
        }
        cmd.arg(&cfg.runtime_script)
            .arg(&cfg.code_dir)
            .arg(&cfg.handler)
            .arg(&cfg.function_name)
            .envs(cfg.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Its own process group: a Ctrl-C at the terminal reaches serve, which finishes the
        // requests in flight before it stops the workers.
        #[cfg(unix)]
        cmd.process_group(0);
        let mut child = cmd.spawn().map_err(|e| StartError::NoNode {
            node: cfg.node.display().to_string(),
            reason: if e.kind() == std::io::ErrorKind::NotFound {
                "not found".to_string()
            } else {
                e.to_string()
            },
        })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(StartError::Load("the worker has no pipes".into()));
        };
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(relay(stderr, cfg.label.clone()));
        }
        let mut stdout = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(LOAD_LIMIT, stdout.next_line()).await;
        let line =
            match first {
                Ok(Ok(Some(line))) => line,
                Ok(Ok(None)) | Ok(Err(_)) => {
                    let status = child.wait().await.ok();
                    return Err(StartError::Load(format!(
                    "Node.js exited before it loaded the handler ({}); is it Node.js 20 or later?",
                    status.map(describe_exit).unwrap_or_else(|| "no status".into())
                )));
                }
                Err(_) => {
                    return Err(StartError::Load(format!(
                        "it took longer than {} s to load",
                        LOAD_LIMIT.as_secs()
                    )))
                }
            };
        let msg: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        match msg["type"].as_str() {
            Some("ready") => Ok(Worker {
                child,
                stdin,
                stdout,
            }),
            Some("load-error") => Err(StartError::Load(format!(
                "{} in {}: {}",
                msg["errorType"].as_str().unwrap_or("Error"),
                cfg.code_dir.display(),
                msg["errorMessage"].as_str().unwrap_or_default()
            ))),
            _ => Err(StartError::Load(format!("unexpected first line {line:?}"))),
        }
    }

    /// Runs one request. The second value is false when the process must be replaced.
    async fn run(&mut self, request_id: &str, event: &Value, timeout: Duration) -> (Outcome, bool) {
        let deadline = now_millis() + timeout.as_millis() as u64;
        let line = json!({"id": request_id, "event": event, "deadline": deadline}).to_string();
        let sent = async {
            self.stdin.write_all(line.as_bytes()).await?;
            self.stdin.write_all(b"\n").await?;
            self.stdin.flush().await
        }
        .await;
        if sent.is_err() {
            return (self.exited(request_id).await, false);
        }
        let answer = tokio::time::timeout(timeout, async {
            loop {
                match self.stdout.next_line().await {
                    Ok(Some(l)) => {
                        let v: Value = serde_json::from_str(&l).unwrap_or(Value::Null);
                        if v["type"] == "result" && v["id"] == request_id {
                            return Some(v);
                        }
                    }
                    _ => return None,
                }
            }
        })
        .await;
        match answer {
            Ok(Some(v)) => match v.get("error") {
                Some(e) => (Outcome::Error(e.clone()), true),
                None => (Outcome::Result(v["ok"].clone()), true),
            },
            Ok(None) => (self.exited(request_id).await, false),
            Err(_) => {
                let _ = self.child.start_kill();
                let doc = json!({
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": format!(
                        "{} {request_id} Task timed out after {:.2} seconds",
                        iso8601_now(),
                        timeout.as_secs_f64()
                    ),
                });
                (Outcome::Error(doc), false)
            }
        }
    }

    /// What Lambda reports when the runtime process exits mid-request.
    async fn exited(&mut self, request_id: &str) -> Outcome {
        let status = self.child.wait().await.ok();
        let how = status
            .map(describe_exit)
            .unwrap_or_else(|| "unknown".into());
        Outcome::Error(json!({
            "errorType": "Runtime.ExitError",
            "errorMessage": format!("RequestId: {request_id} Error: Runtime exited with error: {how}"),
        }))
    }
}

/// `exit status 1` / `signal: killed`, as Lambda words it.
fn describe_exit(status: std::process::ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            let name = match sig {
                9 => "killed".to_string(),
                6 => "aborted".to_string(),
                11 => "segmentation fault".to_string(),
                15 => "terminated".to_string(),
                n => format!("{n}"),
            };
            return format!("signal: {name}");
        }
    }
    "unknown".into()
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// The current UTC time as `2026-11-27T10:00:00.000Z`.
pub fn iso8601_now() -> String {
    iso8601(now_millis())
}

fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = crate::gateway::proxy::civil_date(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_iso8601() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_795_780_800_123), "2026-11-27T12:00:00.123Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
