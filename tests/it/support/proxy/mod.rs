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

mod acm;
mod alias_policy;
mod call;
mod faults;
mod import;
mod quotas;
mod rules;

use call::identify;
pub use call::Call;
pub use faults::Fault;
use faults::{arm, error_response, set_json, take_fault, Hold, Rule};
pub use quotas::Quotas;
use rules::{method_put_key, policy_limit, MethodGuard};

#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) calls: Mutex<Vec<Call>>,
    pub(crate) holds: Mutex<Vec<Hold>>,
    pub(crate) rules: Mutex<Vec<Rule>>,
    /// Faults injected, as `service:Operation fault`.
    pub(crate) injected: Mutex<Vec<String>>,
    /// Added to every call before it is forwarded.
    pub(crate) latency: Mutex<Duration>,
    /// AWS's per-method rule: a Put* on a method while another is in flight is refused.
    pub(crate) method_rule: Mutex<bool>,
    /// Methods with a Put* in flight, by `/restapis/{id}/resources/{id}/methods/{verb}`.
    pub(crate) methods_busy: Mutex<std::collections::HashSet<String>>,
    /// Put* calls refused by the per-method rule.
    pub(crate) method_refusals: Mutex<usize>,
    /// When set, the IAM actions allowed: any other call is refused with AccessDenied.
    pub(crate) policy: Mutex<Option<std::collections::HashSet<String>>>,
    /// The actions the policy refused, as `service:Action`.
    pub(crate) denied: Mutex<Vec<String>>,
    /// When set, API Gateway's account quotas, enforced.
    pub(crate) quotas: Mutex<Option<Quotas>>,
    /// What API Gateway's import keeps and moto's drops, by REST API (see [`import`]).
    pub(crate) imports: Mutex<std::collections::HashMap<String, import::Kept>>,
    /// Each authorizer's identityValidationExpression, which moto drops: put back in its
    /// answers (by API id and authorizer id).
    pub(crate) validations: Mutex<std::collections::HashMap<(String, String), String>>,
    /// Each usage plan's per-method throttles by API stage, which moto neither updates nor
    /// lets a stage that has them be removed: kept here, as AWS keeps them (by plan id, then
    /// `api:stage`, then `/path/METHOD`).
    pub(crate) stage_throttles: Mutex<std::collections::HashMap<String, import::StageThrottles>>,
    /// ACM's DNS validation as AWS runs it (see [`acm`]).
    pub(crate) validation: Mutex<acm::Validation>,
    /// Lambda's per-alias resource policies (see [`alias_policy`]).
    pub(crate) alias_policies: Mutex<alias_policy::AliasPolicies>,
    /// Buckets that live in another region than the proxy's callers may think.
    pub(crate) bucket_regions: Mutex<std::collections::HashMap<String, String>>,
}

pub struct Proxy {
    pub url: String,
    pub(crate) shared: Arc<Shared>,
    pub(crate) shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    pub(crate) thread: Option<std::thread::JoinHandle<()>>,
}

/// Releases a held call when told to (or when dropped).
pub struct Release {
    pub(crate) tx: watch::Sender<bool>,
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
    // What moto's import cannot take of a document AWS takes (a MOCK integration without a
    // URI): the body moto gets is adjusted; `sent` stays what the tool sent.
    let original = body.clone();
    let body = if call.service == "apigateway" && call.operation == "PutRestApi" {
        import::before_put(&body).unwrap_or(body)
    } else if call.service == "apigateway"
        && matches!(
            call.operation.as_str(),
            "CreateUsagePlan" | "UpdateUsagePlan"
        )
    {
        import::stage_throttles_out(&body).unwrap_or(body)
    } else {
        body
    };
    let resized = body.len() != original.len();
    let mut builder = Request::builder().method(parts.method.clone()).uri(uri);
    for (k, v) in parts.headers.iter() {
        if k != hyper::header::HOST && !(resized && k == hyper::header::CONTENT_LENGTH) {
            builder = builder.header(k, v);
        }
    }
    let sent = original;
    if matches!(
        call.name().as_str(),
        "acm:DeleteCertificate" | "apigateway:DeleteDomainName"
    ) {
        let moto_headers = apigateway_headers(&call.region);
        let to_moto = import::Upstream {
            client: &client,
            base: &upstream,
            headers: &moto_headers,
        };
        if call.operation == "DeleteDomainName" {
            acm::before_domain_delete(&shared, &to_moto, &call.path).await;
        } else if let Some(message) = acm::certificate_in_use(&shared, &to_moto, &sent).await {
            shared
                .injected
                .lock()
                .unwrap()
                .push(format!("{} ResourceInUseException", call.name()));
            return Ok(error_response(
                &call,
                400,
                "ResourceInUseException",
                &message,
                None,
            ));
        }
    }
    // Lambda's policy of an alias, which moto folds into the function's own.
    let query = parts.uri.query().unwrap_or("").to_string();
    if let Some(key) = alias_policy::aliased(&call, &query) {
        let to_moto = import::Upstream {
            client: &client,
            base: &upstream,
            headers: &request_headers,
        };
        let resp = alias_policy::answer(&shared, &call, key, &sent, &to_moto).await;
        // The faults that act on an answer act on this one as on moto's.
        if resp.status().is_success() {
            arm(&shared, &call.name());
        }
        match &fault {
            Some(Fault::Drop {
                after_forward: true,
            }) => return Err(std::io::Error::other("proxy: answer dropped")),
            Some(Fault::SlowAnswer(d)) => tokio::time::sleep(*d).await,
            Some(Fault::Stale(stale)) => {
                return Ok(Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(stale.to_string())))
                    .unwrap())
            }
            _ => {}
        }
        return Ok(resp);
    }
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
                alias_policy::forget(&shared, &call, &query);
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
            // AWS answers NotFoundException for a base path nothing is mapped at; moto 5.2.5
            // fails (500) on a domain name that never had a mapping.
            if parts.status.as_u16() == 500
                && matches!(
                    call.operation.as_str(),
                    "GetBasePathMapping" | "DeleteBasePathMapping"
                )
            {
                return Ok(error_response(
                    &call,
                    404,
                    "NotFoundException",
                    "Invalid base path mapping identifier specified",
                    None,
                ));
            }
            // ACM issues a certificate once its validation CNAME is in the zone, and may
            // describe it before it lists that record.
            if parts.status.is_success() {
                if call.name() == "route53:ChangeResourceRecordSets" {
                    acm::note_change(&shared, &sent);
                } else if call.name() == "acm:DescribeCertificate" {
                    if let Some(b) = acm::describe_answer(&shared, &body) {
                        body = b;
                        parts.headers.remove(hyper::header::CONTENT_LENGTH);
                    }
                }
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
                } else if parts.status.is_success() {
                    if let Some(b) = import::authorizer_validation(&shared, &call, &sent, &body)
                        .or_else(|| import::stage_throttles_in(&shared, &call, &sent, &body))
                    {
                        body = b;
                        parts.headers.remove(hyper::header::CONTENT_LENGTH);
                    }
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

/// Percent-decoding (a path or query part, an IAM policy document). Here rather than in the
/// test support, which uses it too: the proxy is also built alone (examples/fault-proxy.rs).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Headers for a call the proxy makes to moto's API Gateway itself: moto routes a request by
/// the service its signature's credential scope names, and checks no signature.
fn apigateway_headers(region: &str) -> hyper::HeaderMap {
    let mut h = hyper::HeaderMap::new();
    let region = if region.is_empty() {
        "us-east-1"
    } else {
        region
    };
    if let Ok(v) = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/apigateway/aws4_request, SignedHeaders=host, Signature=0"
    )
    .parse()
    {
        h.insert("authorization", v);
    }
    h
}
