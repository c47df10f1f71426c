//! A fault-injecting, recording HTTP proxy between the binary (`--endpoint-url`) and the
//! emulator, which puts back what the emulator spares us (docs/aws.md, "The emulator compared with AWS").
//!
//! It names every call's AWS operation (DynamoDB's target header, the Query protocol's
//! `Action`, Lambda's and API Gateway's method and path) and records it. Scripted rules answer
//! an AWS error (status, code, message, `Retry-After`) the first N times or for a while, drop
//! the connection (before the call reaches the emulator, or after, losing the answer of a call
//! that was carried out), add latency, or rewrite a field of the answer (`TableStatus:
//! CREATING`, `State: Pending`). A call can be held until the test releases it, so a test can
//! kill the binary while that exact call is in flight. It runs on its own runtime thread, so
//! tests stay plain `#[test]` functions.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::watch;

/// One call the proxy saw.
#[derive(Debug, Clone)]
pub struct Call {
    /// `dynamodb`, `iam`, `sts`, `lambda`, `apigateway`, `logs`.
    pub service: String,
    /// The AWS operation name, e.g. `CreateTable`.
    pub operation: String,
    pub method: String,
    pub path: String,
    /// The access key id the call was signed with.
    pub access_key: String,
    /// The region of its signature's scope.
    pub region: String,
    /// Its headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// When the proxy received it.
    pub at: Instant,
}

impl Call {
    /// `service:Operation`.
    pub fn name(&self) -> String {
        format!("{}:{}", self.service, self.operation)
    }

    /// The IAM action that authorises the call: `service:Operation`, or for API Gateway the
    /// HTTP verb (`apigateway:GET`), as AWS names them.
    pub fn iam_action(&self) -> String {
        if self.service == "apigateway" {
            format!("apigateway:{}", self.method)
        } else if self.service == "s3" {
            // S3's actions are not all named after their operations.
            let action = match self.operation.as_str() {
                "ListObjectsV2" | "HeadBucket" => "ListBucket",
                "GetBucketEncryption" => "GetEncryptionConfiguration",
                "PutBucketEncryption" => "PutEncryptionConfiguration",
                "GetPublicAccessBlock" => "GetBucketPublicAccessBlock",
                "PutPublicAccessBlock" => "PutBucketPublicAccessBlock",
                "HeadObject" => "GetObject",
                op => op,
            };
            format!("s3:{action}")
        } else {
            self.name()
        }
    }

    /// Does the call change anything?
    pub fn is_mutating(&self) -> bool {
        const READS: [&str; 6] = ["Get", "List", "Describe", "Query", "GET ", "Head"];
        !READS.iter().any(|p| self.operation.starts_with(p))
    }
}

/// What a rule does to a matching call.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer an AWS error without forwarding.
    Error {
        status: u16,
        code: String,
        message: String,
        retry_after: Option<u32>,
    },
    /// Close the connection without an answer; with `after_forward`, only once the emulator
    /// has carried the call out (the answer is lost, the change is made).
    Drop { after_forward: bool },
    /// Wait this long, then forward.
    Latency(Duration),
    /// Forward, then set fields of the JSON answer (each a path of keys) to values; a null
    /// value removes the field.
    SetJson {
        edits: Vec<(Vec<String>, serde_json::Value)>,
    },
    /// Forward, then answer this success instead of the emulator's: a read that still shows
    /// what a change just removed, as AWS's reads do while the change spreads.
    Stale(serde_json::Value),
    /// Forward at once, then wait this long before answering: the change is made while its
    /// caller still waits.
    SlowAnswer(Duration),
}

impl Fault {
    pub fn error(status: u16, code: &str, message: &str) -> Fault {
        Fault::Error {
            status,
            code: code.to_string(),
            message: message.to_string(),
            retry_after: None,
        }
    }

    pub fn throttle(retry_after: Option<u32>) -> Fault {
        Fault::Error {
            status: 429,
            code: "TooManyRequestsException".into(),
            message: "Too Many Requests".into(),
            retry_after,
        }
    }

    pub fn set_json(path: &[&str], value: serde_json::Value) -> Fault {
        Fault::set_json_all(&[(path, value)])
    }

    pub fn set_json_all(edits: &[(&[&str], serde_json::Value)]) -> Fault {
        Fault::SetJson {
            edits: edits
                .iter()
                .map(|(p, v)| (p.iter().map(|s| s.to_string()).collect(), v.clone()))
                .collect(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Fault::Error { status, code, .. } => format!("{status} {code}"),
            Fault::Drop {
                after_forward: false,
            } => "dropped connection".into(),
            Fault::Drop {
                after_forward: true,
            } => "answer lost after the call was made".into(),
            Fault::Latency(d) => format!("latency {d:?}"),
            Fault::Stale(_) => "the answer before the last change".into(),
            Fault::SlowAnswer(d) => format!("answer held {d:?} after the change"),
            Fault::SetJson { edits } => edits
                .iter()
                .map(|(path, value)| format!("{} = {value}", path.join(".")))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// A fault for an operation (`service:Operation`, or `*` for every call), applied the first
/// `times` times and/or until `until`.
struct Rule {
    operation: String,
    /// Only calls whose path ends so (`.lock`: the lock object, not the state).
    path_suffix: Option<String>,
    fault: Fault,
    times: Option<usize>,
    until: Option<Instant>,
    applied: usize,
    /// Inactive until a call of this operation succeeds; then active for `period`.
    armed_by: Option<(String, Duration)>,
}

struct Hold {
    operation: String,
    path_suffix: String,
    released: watch::Receiver<bool>,
}

#[derive(Default)]
struct Shared {
    calls: Mutex<Vec<Call>>,
    holds: Mutex<Vec<Hold>>,
    rules: Mutex<Vec<Rule>>,
    /// Faults injected, as `service:Operation fault`.
    injected: Mutex<Vec<String>>,
    /// Added to every call before it is forwarded.
    latency: Mutex<Duration>,
    /// AWS's per-method rule: a Put* on a method while another is in flight is refused.
    method_rule: Mutex<bool>,
    /// Methods with a Put* in flight, by `/restapis/{id}/resources/{id}/methods/{verb}`.
    methods_busy: Mutex<std::collections::HashSet<String>>,
    /// Put* calls refused by the per-method rule.
    method_refusals: Mutex<usize>,
    /// When set, the IAM actions allowed: any other call is refused with AccessDenied.
    policy: Mutex<Option<std::collections::HashSet<String>>>,
    /// The actions the policy refused, as `service:Action`.
    denied: Mutex<Vec<String>>,
    /// When set, API Gateway's account quotas, enforced.
    quotas: Mutex<Option<Quotas>>,
    /// What API Gateway's import keeps and moto's drops, by REST API (see [`import`]).
    imports: Mutex<std::collections::HashMap<String, import::Kept>>,
    /// Buckets that live in another region than the proxy's callers may think.
    bucket_regions: Mutex<std::collections::HashMap<String, String>>,
}

/// API Gateway's control-plane quotas per account (docs/aws.md, "API Gateway's account quotas"; AWS never raises
/// them): token buckets for the operations with a quota of their own, and one bucket of 10
/// per second with a burst of 40 shared by every other call. A call that finds its bucket
/// empty is answered 429 TooManyRequestsException with `Retry-After` (whole seconds, rounded
/// up), is not forwarded, and costs no token. One proxy serves every tool process that talks
/// through it, so concurrent runs share the account's quota as they would at AWS.
pub struct Quotas {
    /// Time runs this much faster than real time (1.0: AWS's own figures; tests compress it,
    /// with the tool's `SERVERLESS_CLI_RETRY_SCALE` set to `1 / speed` so both agree).
    speed: f64,
    shared: QuotaBucket,
    own: Vec<(&'static str, QuotaBucket)>,
    /// Calls answered 429, by operation.
    refused: std::collections::BTreeMap<String, usize>,
    /// Calls let through, by operation.
    passed: std::collections::BTreeMap<String, usize>,
}

struct QuotaBucket {
    burst: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl QuotaBucket {
    fn new(burst: f64, per_second: f64) -> QuotaBucket {
        QuotaBucket {
            burst,
            per_second,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes a token, or says how long until one is there (taking nothing).
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / self.per_second,
            ))
        }
    }
}

/// (operation, burst, calls per second): the operations with a quota of their own. Written
/// out here apart from the tool's own table (src/throttle.rs) on purpose: the proxy stands
/// for AWS, so a mistake in the tool's table shows against it instead of being shared.
pub const OWN_QUOTAS: [(&str, f64, f64); 7] = [
    ("CreateRestApi", 1.0, 1.0 / 3.0),
    ("ImportRestApi", 1.0, 1.0 / 3.0),
    ("DeleteRestApi", 1.0, 1.0 / 30.0),
    ("CreateDeployment", 1.0, 1.0 / 5.0),
    ("PutRestApi", 1.0, 1.0),
    ("CreateResource", 5.0, 5.0),
    ("GetResources", 5.0, 2.5),
];

impl Quotas {
    fn new(speed: f64) -> Quotas {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        Quotas {
            speed,
            shared: QuotaBucket::new(40.0, 10.0 * speed),
            own: OWN_QUOTAS
                .iter()
                .map(|(op, burst, rate)| (*op, QuotaBucket::new(*burst, rate * speed)))
                .collect(),
            refused: Default::default(),
            passed: Default::default(),
        }
    }

    /// `Ok` for a call within its quota; else the `Retry-After` to answer, in AWS's seconds.
    fn admit(&mut self, operation: &str, now: Instant) -> Result<(), u32> {
        let bucket = match self.own.iter_mut().find(|(o, _)| *o == operation) {
            Some((_, b)) => b,
            None => &mut self.shared,
        };
        match bucket.take(now) {
            Ok(()) => {
                *self.passed.entry(operation.to_string()).or_default() += 1;
                Ok(())
            }
            Err(wait) => {
                *self.refused.entry(operation.to_string()).or_default() += 1;
                Err((wait.as_secs_f64() * self.speed).ceil().max(1.0) as u32)
            }
        }
    }
}

pub struct Proxy {
    pub url: String,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Releases a held call when told to (or when dropped).
pub struct Release {
    tx: watch::Sender<bool>,
}

impl Release {
    pub fn release(&self) {
        let _ = self.tx.send(true);
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        self.release();
    }
}

impl Proxy {
    pub fn start(upstream: &str) -> Proxy {
        let shared = Arc::new(Shared::default());
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let upstream = upstream.trim_end_matches('/').to_string();
        let shared2 = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(serve(upstream, shared2, addr_tx, stop_rx));
        });
        let addr: SocketAddr = addr_rx.recv().expect("proxy bound");
        Proxy {
            url: format!("http://{addr}"),
            shared,
            shutdown: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Every call seen so far.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.shared.calls.lock().unwrap().clear();
    }

    /// How many calls of `service:Operation` were seen.
    pub fn count(&self, operation: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.name() == operation)
            .count()
    }

    /// Holds the next calls of `service:Operation` until the returned handle releases them.
    pub fn hold(&self, operation: &str) -> Release {
        self.hold_on(operation, "")
    }

    /// [`Proxy::hold`], for the calls on a path ending in `suffix` only.
    pub fn hold_on(&self, operation: &str, suffix: &str) -> Release {
        let (tx, rx) = watch::channel(false);
        self.shared.holds.lock().unwrap().push(Hold {
            operation: operation.to_string(),
            path_suffix: suffix.to_string(),
            released: rx,
        });
        Release { tx }
    }

    /// Waits until a call of `service:Operation` has been seen.
    pub fn wait_for(&self, operation: &str, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if self.calls().iter().any(|c| c.name() == operation) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Applies `fault` to the first `times` calls of `operation`.
    pub fn fault_times(&self, operation: &str, fault: Fault, times: usize) {
        self.add_rule(operation, fault, Some(times), None);
    }

    /// Applies `fault` to the first `times` calls of `operation` on a path ending in
    /// `suffix` (`s3:PutObject` of `.lock`).
    pub fn fault_times_on(&self, operation: &str, suffix: &str, fault: Fault, times: usize) {
        self.shared.rules.lock().unwrap().push(Rule {
            operation: operation.to_string(),
            path_suffix: Some(suffix.to_string()),
            fault,
            times: Some(times),
            until: None,
            applied: 0,
            armed_by: None,
        });
    }

    /// S3's answer for a bucket of another region: a call to `bucket` signed for any other
    /// region than `region` is answered 301 PermanentRedirect with `x-amz-bucket-region`.
    pub fn bucket_in_region(&self, bucket: &str, region: &str) {
        self.shared
            .bucket_regions
            .lock()
            .unwrap()
            .insert(bucket.to_string(), region.to_string());
    }

    /// Applies `fault` to every call of `operation` for `period` from now.
    pub fn fault_for(&self, operation: &str, fault: Fault, period: Duration) {
        self.add_rule(operation, fault, None, Some(Instant::now() + period));
    }

    /// Applies `fault` to every call of `operation` until the rules are cleared.
    pub fn fault_always(&self, operation: &str, fault: Fault) {
        self.add_rule(operation, fault, None, None);
    }

    /// Applies `fault` to every call of `operation` for `period` after a call of `trigger`
    /// succeeds (CreateFunction refused for 8 s after CreateRole, say).
    pub fn fault_after(&self, trigger: &str, operation: &str, fault: Fault, period: Duration) {
        self.shared.rules.lock().unwrap().push(Rule {
            operation: operation.to_string(),
            path_suffix: None,
            fault,
            times: None,
            until: None,
            applied: 0,
            armed_by: Some((trigger.to_string(), period)),
        });
    }

    /// Puts back AWS's per-method rule (docs/aws.md, "Eventual consistency and concurrent changes"): a PutMethod,
    /// PutMethodResponse, PutIntegration or PutIntegrationResponse on a method while another
    /// Put* on the same method is in flight is refused with 409 ConflictException, unforwarded;
    /// every other refusal says "Response already exists for this resource", as AWS sometimes
    /// does although nothing was made. Each Put* is held for `hold` so that overlaps show.
    pub fn refuse_concurrent_method_puts(&self, hold: Duration) {
        *self.shared.method_rule.lock().unwrap() = true;
        self.fault_always("apigateway:PutMethodResponse", Fault::Latency(hold));
        self.fault_always("apigateway:PutIntegrationResponse", Fault::Latency(hold));
        self.fault_always("apigateway:PutIntegration", Fault::Latency(hold));
        self.fault_always("apigateway:PutMethod", Fault::Latency(hold));
    }

    /// Authorises every call against these IAM actions, as AWS would for an identity that
    /// holds only them: a call whose action is not among them is refused with 403
    /// AccessDenied, unforwarded. (Actions only: resources are not checked here.)
    pub fn enforce_actions(&self, allowed: impl IntoIterator<Item = String>) {
        *self.shared.policy.lock().unwrap() = Some(allowed.into_iter().collect());
    }

    /// The actions refused so far.
    pub fn denied(&self) -> Vec<String> {
        self.shared.denied.lock().unwrap().clone()
    }

    /// How many Put* calls the per-method rule refused.
    pub fn method_refusals(&self) -> usize {
        *self.shared.method_refusals.lock().unwrap()
    }

    /// Enforces API Gateway's account quotas from now on (see `Quotas`), `speed` times
    /// faster than AWS's real ones.
    pub fn enforce_quotas(&self, speed: f64) {
        *self.shared.quotas.lock().unwrap() = Some(Quotas::new(speed));
    }

    /// Stops enforcing the quotas.
    pub fn stop_quotas(&self) {
        *self.shared.quotas.lock().unwrap() = None;
    }

    /// The API Gateway calls the quotas refused (429), by operation.
    pub fn throttled(&self) -> std::collections::BTreeMap<String, usize> {
        self.shared
            .quotas
            .lock()
            .unwrap()
            .as_ref()
            .map(|q| q.refused.clone())
            .unwrap_or_default()
    }

    /// The API Gateway calls the quotas let through, by operation.
    pub fn admitted(&self) -> std::collections::BTreeMap<String, usize> {
        self.shared
            .quotas
            .lock()
            .unwrap()
            .as_ref()
            .map(|q| q.passed.clone())
            .unwrap_or_default()
    }

    /// Adds `latency` to every call (a real region's round trip, say).
    pub fn set_latency(&self, latency: Duration) {
        *self.shared.latency.lock().unwrap() = latency;
    }

    fn add_rule(
        &self,
        operation: &str,
        fault: Fault,
        times: Option<usize>,
        until: Option<Instant>,
    ) {
        self.shared.rules.lock().unwrap().push(Rule {
            operation: operation.to_string(),
            path_suffix: None,
            fault,
            times,
            until,
            applied: 0,
            armed_by: None,
        });
    }

    pub fn clear_faults(&self) {
        self.shared.rules.lock().unwrap().clear();
    }

    /// The faults injected so far, as `service:Operation fault`.
    pub fn injected(&self) -> Vec<String> {
        self.shared.injected.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    upstream: String,
    shared: Arc<Shared>,
    addr_tx: std::sync::mpsc::Sender<SocketAddr>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    addr_tx.send(listener.local_addr().unwrap()).unwrap();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                let client = client.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        forward(req, shared.clone(), client.clone(), upstream.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }
    }
}

/// Starts the rules armed by a successful call of `name`.
fn arm(shared: &Shared, name: &str) {
    let now = Instant::now();
    for r in shared.rules.lock().unwrap().iter_mut() {
        if let Some((trigger, period)) = &r.armed_by {
            if trigger == name {
                r.until = Some(now + *period);
                r.armed_by = None;
            }
        }
    }
}

/// `GET /__proxy/calls`: the calls seen, as JSON; `POST /__proxy/clear` forgets them. For
/// scripts that drive the proxy from outside (scripts/bench).
fn control(parts: &hyper::http::request::Parts, shared: &Shared) -> Option<Response<Full<Bytes>>> {
    let body = match (parts.method.as_str(), parts.uri.path()) {
        ("GET", "/__proxy/calls") => {
            let names: Vec<String> = shared
                .calls
                .lock()
                .unwrap()
                .iter()
                .map(Call::name)
                .collect();
            serde_json::to_string(&names).unwrap()
        }
        ("GET", "/__proxy/timeline") => {
            // Each call with its path and when it came, in ms after the first.
            let calls = shared.calls.lock().unwrap();
            let start = calls.first().map(|c| c.at);
            let rows: Vec<serde_json::Value> = calls
                .iter()
                .map(|c| {
                    let ms = start.map_or(0, |s| c.at.duration_since(s).as_millis() as u64);
                    serde_json::json!([c.name(), c.path, ms])
                })
                .collect();
            serde_json::to_string(&rows).unwrap()
        }
        ("POST", "/__proxy/clear") => {
            shared.calls.lock().unwrap().clear();
            if let Some(q) = shared.quotas.lock().unwrap().as_mut() {
                q.refused.clear();
                q.passed.clear();
            }
            "[]".to_string()
        }
        ("GET", "/__proxy/throttled") => {
            let q = shared.quotas.lock().unwrap();
            serde_json::to_string(&q.as_ref().map(|q| &q.refused)).unwrap()
        }
        _ => return None,
    };
    Some(
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap(),
    )
}

/// The first rule that applies to the call, counted as applied.
fn take_fault(shared: &Shared, call: &Call) -> Option<Fault> {
    let mut rules = shared.rules.lock().unwrap();
    let now = Instant::now();
    let name = call.name();
    let rule = rules.iter_mut().find(|r| {
        r.armed_by.is_none()
            && (r.operation == name || r.operation == "*")
            && r.path_suffix
                .as_deref()
                .is_none_or(|p| call.path.ends_with(p))
            && r.times.is_none_or(|t| r.applied < t)
            && r.until.is_none_or(|u| now < u)
    })?;
    rule.applied += 1;
    let fault = rule.fault.clone();
    if !matches!(fault, Fault::Latency(_)) {
        shared
            .injected
            .lock()
            .unwrap()
            .push(format!("{name} {}", fault.describe()));
    }
    Some(fault)
}

/// An AWS error in the service's protocol: XML for the Query protocol (IAM, STS), JSON with
/// `x-amzn-errortype` for the JSON and REST-JSON ones.
fn error_response(
    call: &Call,
    status: u16,
    code: &str,
    message: &str,
    retry_after: Option<u32>,
) -> Response<Full<Bytes>> {
    let mut b = Response::builder()
        .status(status)
        .header("x-amzn-requestid", "proxy-fault-0000");
    if let Some(s) = retry_after {
        b = b.header("retry-after", s.to_string());
    }
    let body = if call.service == "s3" {
        b = b.header("content-type", "application/xml");
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>proxy-fault-0000</RequestId></Error>"
        )
    } else if matches!(call.service.as_str(), "iam" | "sts") {
        b = b.header("content-type", "text/xml");
        format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>proxy-fault-0000</RequestId></ErrorResponse>"
        )
    } else {
        b = b
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amzn-errortype", code);
        serde_json::json!({"__type": code, "message": message, "Message": message}).to_string()
    };
    b.body(Full::new(Bytes::from(body))).unwrap()
}

fn set_json(body: &Bytes, path: &[String], value: &serde_json::Value) -> Option<Bytes> {
    let mut doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut cur = &mut doc;
    for key in &path[..path.len().saturating_sub(1)] {
        cur = cur.get_mut(key)?;
    }
    let obj = cur.as_object_mut()?;
    if value.is_null() {
        obj.remove(path.last()?);
    } else {
        obj.insert(path.last()?.clone(), value.clone());
    }
    Some(Bytes::from(doc.to_string()))
}

async fn forward(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: String,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if let Some(resp) = control(&parts, &shared) {
        return Ok(resp);
    }
    let call = identify(&parts, &body);
    shared.calls.lock().unwrap().push(call.clone());
    let latency = *shared.latency.lock().unwrap();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    // A bucket of another region: S3 sends the caller there.
    if call.service == "s3" {
        let bucket = call
            .path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("");
        let home = shared.bucket_regions.lock().unwrap().get(bucket).cloned();
        if let Some(home) = home.filter(|h| *h != call.region) {
            shared
                .injected
                .lock()
                .unwrap()
                .push(format!("{} 301 (bucket in {home})", call.name()));
            return Ok(Response::builder()
                .status(301)
                .header("x-amz-bucket-region", home.as_str())
                .header("content-type", "application/xml")
                .body(Full::new(Bytes::from(format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.</Message><Bucket>{bucket}</Bucket><Endpoint>{bucket}.s3.{home}.amazonaws.com</Endpoint></Error>"
                ))))
                .unwrap());
        }
    }
    // An identity that holds only the policy's actions.
    if let Some(allowed) = shared.policy.lock().unwrap().as_ref() {
        let action = call.iam_action();
        if action != "sts:GetCallerIdentity" && !allowed.contains(&action) {
            shared.denied.lock().unwrap().push(action.clone());
            let code = if matches!(call.service.as_str(), "iam" | "sts") {
                "AccessDenied"
            } else {
                "AccessDeniedException"
            };
            return Ok(error_response(
                &call,
                403,
                code,
                &format!("User: arn:aws:iam::123456789012:user/deployer is not authorized to perform: {action}"),
                None,
            ));
        }
    }
    // API Gateway's account quotas: a call over them is answered 429 with Retry-After.
    if call.service == "apigateway" {
        let verdict = shared
            .quotas
            .lock()
            .unwrap()
            .as_mut()
            .map(|q| q.admit(&call.operation, Instant::now()));
        if let Some(Err(retry_after)) = verdict {
            return Ok(error_response(
                &call,
                429,
                "TooManyRequestsException",
                "Too Many Requests",
                Some(retry_after),
            ));
        }
    }
    // AWS's per-method rule: the method is taken before any latency, so that calls overlap
    // as they would at AWS; a refused call is not forwarded.
    let method_key = method_put_key(&call).filter(|_| *shared.method_rule.lock().unwrap());
    let _method_guard = match method_key {
        Some(key) => {
            if !shared.methods_busy.lock().unwrap().insert(key.clone()) {
                let n = {
                    let mut n = shared.method_refusals.lock().unwrap();
                    *n += 1;
                    *n
                };
                let message = if n % 2 == 0 {
                    "Response already exists for this resource"
                } else {
                    "Unable to complete operation due to concurrent modification. Please try again later."
                };
                shared.injected.lock().unwrap().push(format!(
                    "{} 409 ConflictException (another Put* on the method in flight)",
                    call.name()
                ));
                return Ok(error_response(
                    &call,
                    409,
                    "ConflictException",
                    message,
                    None,
                ));
            }
            Some(MethodGuard {
                shared: shared.clone(),
                key,
            })
        }
        None => None,
    };
    let fault = take_fault(&shared, &call);
    match &fault {
        Some(Fault::Error {
            status,
            code,
            message,
            retry_after,
        }) => return Ok(error_response(&call, *status, code, message, *retry_after)),
        Some(Fault::Drop {
            after_forward: false,
        }) => return Err(std::io::Error::other("proxy: connection dropped")),
        Some(Fault::Latency(d)) => tokio::time::sleep(*d).await,
        _ => {}
    }

    // A held call waits for its release.
    let hold = {
        let holds = shared.holds.lock().unwrap();
        holds
            .iter()
            .find(|h| {
                h.operation == call.name()
                    && call.path.ends_with(&h.path_suffix)
                    && !*h.released.borrow()
            })
            .map(|h| h.released.clone())
    };
    if let Some(mut rx) = hold {
        while !*rx.borrow() {
            if rx.changed().await.is_err() {
                break;
            }
        }
    }

    let uri = format!(
        "{upstream}{}",
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let request_headers = parts.headers.clone();
    let mut builder = Request::builder().method(parts.method.clone()).uri(uri);
    for (k, v) in parts.headers.iter() {
        if k != hyper::header::HOST {
            builder = builder.header(k, v);
        }
    }
    let sent = body.clone();
    let up = builder.body(Full::new(body)).expect("request");
    match client.request(up).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            let mut body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            if parts.status.is_success() {
                arm(&shared, &call.name());
            }
            match &fault {
                Some(Fault::Drop {
                    after_forward: true,
                }) => return Err(std::io::Error::other("proxy: answer dropped")),
                Some(Fault::SlowAnswer(d)) => tokio::time::sleep(*d).await,
                Some(Fault::Stale(stale)) => {
                    parts.status = hyper::StatusCode::OK;
                    parts.headers.remove(hyper::header::CONTENT_LENGTH);
                    parts.headers.remove("x-amzn-errortype");
                    body = Bytes::from(stale.to_string());
                }
                Some(Fault::SetJson { edits }) => {
                    for (path, value) in edits {
                        if let Some(b) = set_json(&body, path, value) {
                            body = b;
                            parts.headers.remove(hyper::header::CONTENT_LENGTH);
                        }
                    }
                }
                _ => {}
            }
            // AWS's answer where moto's differs: moto 5.2.5 names GetBucketVersioning's root
            // element GetBucketVersioningResponse; S3 (and the Rust SDK's parser) say
            // VersioningConfiguration.
            if call.name() == "s3:GetBucketVersioning" {
                let text = String::from_utf8_lossy(&body)
                    .replace("GetBucketVersioningResponse", "VersioningConfiguration");
                body = Bytes::from(text);
                parts.headers.remove(hyper::header::CONTENT_LENGTH);
            }
            // Lambda's 20 KB resource policy, which moto does not limit: a statement that
            // takes the policy past it is taken back out, and the call refused as AWS does.
            if parts.status.is_success()
                && call.service == "lambda"
                && call.operation == "AddPermission"
            {
                let to_moto = import::Upstream {
                    client: &client,
                    base: &upstream,
                    headers: &request_headers,
                };
                if let Some(refusal) = policy_limit(&to_moto, &call, &sent).await {
                    return Ok(refusal);
                }
            }
            // AWS's import where moto's drops parts of the document.
            if call.service == "apigateway" {
                if parts.status.is_success() && call.operation == "PutRestApi" {
                    let to_moto = import::Upstream {
                        client: &client,
                        base: &upstream,
                        headers: &request_headers,
                    };
                    import::after_put(&shared, &to_moto, &call.path, &sent).await;
                } else if let Some(b) = import::patch_answer(&shared, &call, &body) {
                    body = b;
                    parts.headers.remove(hyper::header::CONTENT_LENGTH);
                }
            }
            Ok(Response::from_parts(parts, Full::new(body)))
        }
        Err(e) => Ok(Response::builder()
            .status(502)
            .body(Full::new(Bytes::from(format!("proxy: {e}"))))
            .unwrap()),
    }
}

/// Lambda's limit on a function's resource-based policy (Lambda quotas: 20 KB).
pub const POLICY_LIMIT: usize = 20 * 1024;

/// After moto added a statement: the policy over [`POLICY_LIMIT`] takes it back out and
/// answers PolicyLengthExceededException (Lambda checks before it adds; the effect is the same).
async fn policy_limit(
    moto: &import::Upstream<'_>,
    call: &Call,
    sent: &Bytes,
) -> Option<Response<Full<Bytes>>> {
    let policy = moto.call("GET", &call.path, None).await?;
    let size = policy["Policy"].as_str()?.len();
    if size <= POLICY_LIMIT {
        return None;
    }
    let sid = serde_json::from_slice::<serde_json::Value>(sent).ok()?["StatementId"]
        .as_str()?
        .to_string();
    moto.call("DELETE", &format!("{}/{sid}", call.path), None)
        .await;
    Some(error_response(
        call,
        400,
        "PolicyLengthExceededException",
        &format!("The final policy size ({size}) is bigger than the limit ({POLICY_LIMIT})."),
        None,
    ))
}

/// The method a Put* call changes: `/restapis/{id}/resources/{id}/methods/{verb}`.
fn method_put_key(call: &Call) -> Option<String> {
    const PUTS: [&str; 4] = [
        "PutMethod",
        "PutMethodResponse",
        "PutIntegration",
        "PutIntegrationResponse",
    ];
    if call.service != "apigateway" || !PUTS.contains(&call.operation.as_str()) {
        return None;
    }
    let segs: Vec<&str> = call.path.trim_matches('/').split('/').collect();
    (segs.len() >= 6).then(|| segs[..6].join("/"))
}

/// Frees the method when its call is done (answered, dropped or failed).
struct MethodGuard {
    shared: Arc<Shared>,
    key: String,
}

impl Drop for MethodGuard {
    fn drop(&mut self) {
        self.shared.methods_busy.lock().unwrap().remove(&self.key);
    }
}

/// Names the AWS operation of a request.
fn identify(parts: &hyper::http::request::Parts, body: &Bytes) -> Call {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    // SigV4 credential scope: Credential=AKID/date/region/SERVICE/aws4_request
    let auth = header("authorization");
    let scope = auth.split("Credential=").nth(1).unwrap_or("");
    let service = scope.split('/').nth(3).unwrap_or("unknown").to_string();
    let access_key = scope.split('/').next().unwrap_or("").to_string();
    let region = scope.split('/').nth(2).unwrap_or("").to_string();
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_string();
    let target = header("x-amz-target");
    let operation = if service == "s3" {
        s3_operation(&method, &path, parts.uri.query().unwrap_or(""))
    } else if let Some(op) = target.split('.').nth(1) {
        op.to_string()
    } else if let Some(action) = String::from_utf8_lossy(body)
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
    {
        action.to_string()
    } else {
        rest_operation(&service, &method, &path)
    };
    Call {
        service,
        operation,
        method,
        path,
        access_key,
        region,
        headers,
        at: Instant::now(),
    }
}

/// S3's operations (path-style: `/bucket` and `/bucket/key`), by method, path and query.
fn s3_operation(method: &str, path: &str, query: &str) -> String {
    let has_key = path
        .trim_start_matches('/')
        .split_once('/')
        .is_some_and(|(_, key)| !key.is_empty());
    let sub = |name: &str| {
        query
            .split('&')
            .any(|kv| kv.split('=').next() == Some(name))
    };
    let op = match (method, has_key) {
        ("PUT", true) => "PutObject",
        ("GET", true) => "GetObject",
        ("DELETE", true) => "DeleteObject",
        ("HEAD", true) => "HeadObject",
        ("HEAD", false) => "HeadBucket",
        ("GET", false) if sub("versioning") => "GetBucketVersioning",
        ("GET", false) if sub("encryption") => "GetBucketEncryption",
        ("GET", false) if sub("publicAccessBlock") => "GetPublicAccessBlock",
        ("GET", false) => "ListObjectsV2",
        ("PUT", false) if sub("versioning") => "PutBucketVersioning",
        ("PUT", false) if sub("encryption") => "PutBucketEncryption",
        ("PUT", false) if sub("publicAccessBlock") => "PutPublicAccessBlock",
        ("PUT", false) if sub("tagging") => "PutBucketTagging",
        ("PUT", false) => "CreateBucket",
        _ => return format!("{method} {path}"),
    };
    op.to_string()
}

/// Lambda's and API Gateway's REST operations, by method and path shape.
fn rest_operation(service: &str, method: &str, path: &str) -> String {
    // The segment after a collection name is an id.
    const COLLECTIONS: [&str; 11] = [
        "functions",
        "tags",
        "models",
        "requestvalidators",
        "restapis",
        "resources",
        "methods",
        "responses",
        "stages",
        "deployments",
        "policy",
    ];
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let shape: Vec<&str> = segs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if i > 0 && COLLECTIONS.contains(&segs[i - 1]) {
                "{}"
            } else {
                s
            }
        })
        .collect();
    let key = format!("{method} /{}", shape.join("/"));
    let op = match (service, key.as_str()) {
        ("lambda", "POST /2015-03-31/functions") => "CreateFunction",
        ("lambda", "GET /2015-03-31/functions") => "ListFunctions",
        ("lambda", "GET /2015-03-31/functions/{}") => "GetFunction",
        ("lambda", "DELETE /2015-03-31/functions/{}") => "DeleteFunction",
        ("lambda", "PUT /2015-03-31/functions/{}/code") => "UpdateFunctionCode",
        ("lambda", "PUT /2015-03-31/functions/{}/configuration") => "UpdateFunctionConfiguration",
        ("lambda", "GET /2015-03-31/functions/{}/configuration") => "GetFunctionConfiguration",
        ("lambda", "POST /2015-03-31/functions/{}/policy") => "AddPermission",
        ("lambda", "GET /2015-03-31/functions/{}/policy") => "GetPolicy",
        ("lambda", "DELETE /2015-03-31/functions/{}/policy/{}") => "RemovePermission",
        ("lambda", "POST /2017-03-31/tags/{}") => "TagResource",
        ("lambda", "DELETE /2017-03-31/tags/{}") => "UntagResource",
        ("lambda", "GET /2017-03-31/tags/{}") => "ListTags",
        ("apigateway", "POST /restapis") => "CreateRestApi",
        ("apigateway", "GET /restapis") => "GetRestApis",
        ("apigateway", "GET /restapis/{}") => "GetRestApi",
        ("apigateway", "DELETE /restapis/{}") => "DeleteRestApi",
        ("apigateway", "PUT /restapis/{}") => "PutRestApi",
        ("apigateway", "GET /restapis/{}/models") => "GetModels",
        ("apigateway", "DELETE /restapis/{}/models/{}") => "DeleteModel",
        ("apigateway", "DELETE /restapis/{}/requestvalidators/{}") => "DeleteRequestValidator",
        ("apigateway", "DELETE /restapis/{}/resources/{}/methods/{}/integration/responses/{}") => {
            "DeleteIntegrationResponse"
        }
        ("apigateway", "GET /restapis/{}/resources") => "GetResources",
        ("apigateway", "POST /restapis/{}/resources/{}") => "CreateResource",
        ("apigateway", "PUT /restapis/{}/resources/{}/methods/{}") => "PutMethod",
        ("apigateway", "GET /restapis/{}/resources/{}/methods/{}") => "GetMethod",
        ("apigateway", "PUT /restapis/{}/resources/{}/methods/{}/responses/{}") => {
            "PutMethodResponse"
        }
        ("apigateway", "GET /restapis/{}/resources/{}/methods/{}/responses/{}") => {
            "GetMethodResponse"
        }
        ("apigateway", "PUT /restapis/{}/resources/{}/methods/{}/integration") => "PutIntegration",
        ("apigateway", "GET /restapis/{}/resources/{}/methods/{}/integration") => "GetIntegration",
        ("apigateway", "PUT /restapis/{}/resources/{}/methods/{}/integration/responses/{}") => {
            "PutIntegrationResponse"
        }
        ("apigateway", "POST /restapis/{}/deployments") => "CreateDeployment",
        ("apigateway", "POST /restapis/{}/models") => "CreateModel",
        ("apigateway", "PATCH /restapis/{}/models/{}") => "UpdateModel",
        ("apigateway", "GET /restapis/{}/requestvalidators") => "GetRequestValidators",
        ("apigateway", "POST /restapis/{}/requestvalidators") => "CreateRequestValidator",
        ("apigateway", "DELETE /restapis/{}/resources/{}/methods/{}") => "DeleteMethod",
        ("apigateway", "DELETE /restapis/{}/resources/{}") => "DeleteResource",
        ("apigateway", "GET /restapis/{}/stages/{}") => "GetStage",
        ("apigateway", "PUT /tags/{}") => "TagResource",
        ("apigateway", "DELETE /tags/{}") => "UntagResource",
        ("apigateway", "GET /tags/{}") => "GetTags",
        _ => return format!("{method} {path}"),
    };
    op.to_string()
}

/// What API Gateway's OpenAPI import keeps and moto 5.2.5's drops (docs/aws.md, "The Lambda integration and the OpenAPI import"):
/// the models under `components/schemas`, the request validators of
/// `x-amazon-apigateway-request-validators`, and each method's request models, validator and
/// path parameters. After a PutRestApi that moto accepted, the proxy makes the models and the
/// validators in moto (CreateModel, CreateRequestValidator: moto keeps those) and remembers
/// each imported method's three fields, which it puts back into the methods GetResources and
/// GetMethod answer, until a PutMethod, a DeleteMethod or a DeleteResource through the proxy
/// changes that method, or the API is put again or deleted. Calls made to moto directly
/// (tests that change the API behind the tool's back) bypass it, as hand edits bypass the tool.
mod import {
    use super::*;
    use serde_json::{json, Value};

    /// By (resource id, HTTP verb): the fields moto's import dropped.
    pub type Kept = std::collections::HashMap<(String, String), Value>;

    /// How the proxy calls moto itself: the PutRestApi's own signature headers (moto checks
    /// no signature; it reads the service from the credential scope).
    pub struct Upstream<'a> {
        pub client: &'a Client<HttpConnector, Full<Bytes>>,
        pub base: &'a str,
        pub headers: &'a hyper::HeaderMap,
    }

    impl Upstream<'_> {
        pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Option<Value> {
            let mut b = Request::builder()
                .method(method)
                .uri(format!("{}{path}", self.base));
            for name in ["authorization", "x-amz-date", "x-amz-security-token"] {
                if let Some(v) = self.headers.get(name) {
                    b = b.header(name, v);
                }
            }
            let bytes = body.map(|v| Bytes::from(v.to_string())).unwrap_or_default();
            let req = b
                .header("content-type", "application/json")
                .body(Full::new(bytes))
                .ok()?;
            let resp = self.client.request(req).await.ok()?;
            let ok = resp.status().is_success();
            let body = resp.into_body().collect().await.ok()?.to_bytes();
            ok.then(|| serde_json::from_slice(&body).unwrap_or(Value::Null))
        }
    }

    fn api_of(path: &str) -> Option<&str> {
        path.strip_prefix("/restapis/")?.split('/').next()
    }

    /// After moto accepted a PutRestApi of `document` on the API at `path`.
    pub async fn after_put(shared: &Shared, moto: &Upstream<'_>, path: &str, document: &Bytes) {
        let (Some(api), Ok(doc)) = (api_of(path), serde_json::from_slice::<Value>(document)) else {
            return;
        };
        let api = api.to_string();
        for (name, schema) in doc["components"]["schemas"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let _ = moto
                .call("DELETE", &format!("/restapis/{api}/models/{name}"), None)
                .await;
            let body = json!({"name": name, "contentType": "application/json",
                              "schema": schema.to_string()});
            let _ = moto
                .call("POST", &format!("/restapis/{api}/models"), Some(body))
                .await;
        }
        let existing = moto
            .call("GET", &format!("/restapis/{api}/requestvalidators"), None)
            .await
            .unwrap_or(Value::Null);
        let mut validators: std::collections::HashMap<String, String> = existing["item"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| {
                Some((
                    v["name"].as_str()?.to_string(),
                    v["id"].as_str()?.to_string(),
                ))
            })
            .collect();
        for (name, v) in doc["x-amazon-apigateway-request-validators"]
            .as_object()
            .into_iter()
            .flatten()
        {
            if validators.contains_key(name) {
                continue;
            }
            let body = json!({"name": name,
                "validateRequestBody": v["validateRequestBody"].as_bool().unwrap_or(false),
                "validateRequestParameters": v["validateRequestParameters"].as_bool().unwrap_or(false)});
            if let Some(made) = moto
                .call(
                    "POST",
                    &format!("/restapis/{api}/requestvalidators"),
                    Some(body),
                )
                .await
            {
                if let Some(id) = made["id"].as_str() {
                    validators.insert(name.clone(), id.to_string());
                }
            }
        }
        let resources = moto
            .call("GET", &format!("/restapis/{api}/resources"), None)
            .await
            .unwrap_or(Value::Null);
        let ids: std::collections::HashMap<&str, &str> = resources["item"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| Some((r["path"].as_str()?, r["id"].as_str()?)))
            .collect();
        let default_validator = doc["x-amazon-apigateway-request-validator"].as_str();
        let mut kept = Kept::new();
        for (path, ops) in doc["paths"].as_object().into_iter().flatten() {
            let Some(id) = ids.get(path.as_str()) else {
                continue;
            };
            for (verb, op) in ops.as_object().into_iter().flatten() {
                let mut fields = serde_json::Map::new();
                let models: serde_json::Map<String, Value> = op["requestBody"]["content"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(ct, c)| {
                        let model = c["schema"]["$ref"].as_str()?.rsplit('/').next()?;
                        Some((ct.clone(), json!(model)))
                    })
                    .collect();
                if !models.is_empty() {
                    fields.insert("requestModels".into(), Value::Object(models));
                }
                let validator = op["x-amazon-apigateway-request-validator"]
                    .as_str()
                    .or(default_validator);
                if let Some(id) = validator.and_then(|n| validators.get(n)) {
                    fields.insert("requestValidatorId".into(), json!(id));
                }
                let params: serde_json::Map<String, Value> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| {
                        let place = match p["in"].as_str()? {
                            "path" => "path",
                            "query" => "querystring",
                            "header" => "header",
                            _ => return None,
                        };
                        let name = p["name"].as_str()?;
                        Some((
                            format!("method.request.{place}.{name}"),
                            json!(p["required"].as_bool().unwrap_or(false)),
                        ))
                    })
                    .collect();
                if !params.is_empty() {
                    fields.insert("requestParameters".into(), Value::Object(params));
                }
                if !fields.is_empty() {
                    kept.insert(
                        ((*id).to_string(), verb.to_ascii_uppercase()),
                        Value::Object(fields),
                    );
                }
            }
        }
        shared.imports.lock().unwrap().insert(api, kept);
    }

    /// The answer with the kept fields put back (GetResources, GetMethod), or `None`; a call
    /// that changes a method or deletes the API forgets what was kept of it.
    pub fn patch_answer(shared: &Shared, call: &Call, body: &Bytes) -> Option<Bytes> {
        let segs: Vec<&str> = call.path.trim_matches('/').split('/').collect();
        let api = segs.get(1)?.to_string();
        let mut imports = shared.imports.lock().unwrap();
        match call.operation.as_str() {
            "DeleteRestApi" => {
                imports.remove(&api);
                return None;
            }
            "PutMethod" | "DeleteMethod" => {
                let (rid, verb) = (segs.get(3)?, segs.get(5)?);
                imports
                    .get_mut(&api)?
                    .remove(&(rid.to_string(), verb.to_ascii_uppercase()));
                return None;
            }
            "DeleteResource" => {
                let rid = segs.get(3)?;
                imports.get_mut(&api)?.retain(|(r, _), _| r != rid);
                return None;
            }
            _ => {}
        }
        let kept = imports.get(&api)?;
        let merge = |method: &mut Value, fields: &Value| {
            if let (Some(m), Some(f)) = (method.as_object_mut(), fields.as_object()) {
                for (k, v) in f {
                    m.insert(k.clone(), v.clone());
                }
            }
        };
        let mut v: Value = serde_json::from_slice(body).ok()?;
        match call.operation.as_str() {
            "GetResources" => {
                for r in v["item"].as_array_mut()? {
                    let id = r["id"].as_str().unwrap_or_default().to_string();
                    for (verb, m) in r["resourceMethods"].as_object_mut().into_iter().flatten() {
                        // Only methods embedded whole (`embed=methods`).
                        if m.get("httpMethod").is_none() {
                            continue;
                        }
                        if let Some(fields) = kept.get(&(id.clone(), verb.clone())) {
                            merge(m, fields);
                        }
                    }
                }
            }
            "GetMethod" => {
                let (rid, verb) = (segs.get(3)?, segs.get(5)?);
                merge(
                    &mut v,
                    kept.get(&(rid.to_string(), verb.to_ascii_uppercase()))?,
                );
            }
            _ => return None,
        }
        Some(Bytes::from(v.to_string()))
    }
}
