//! A recording HTTP proxy between the binary (`--endpoint-url`) and the emulator.
//!
//! It names every call's AWS operation (DynamoDB's target header, the Query protocol's
//! `Action`, Lambda's and API Gateway's method and path), records it, and can hold a call
//! until the test releases it, so a test can kill the binary while that exact call is in
//! flight. It runs on its own runtime thread, so tests stay plain `#[test]` functions.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::watch;

/// One call the proxy saw.
#[derive(Debug, Clone)]
pub struct Call {
    /// `dynamodb`, `iam`, `sts`, `lambda`, `apigateway`.
    pub service: String,
    /// The AWS operation name, e.g. `CreateTable`.
    pub operation: String,
    pub method: String,
    pub path: String,
}

impl Call {
    /// `service:Operation`.
    pub fn name(&self) -> String {
        format!("{}:{}", self.service, self.operation)
    }

    /// Does the call change anything?
    pub fn is_mutating(&self) -> bool {
        const READS: [&str; 5] = ["Get", "List", "Describe", "Query", "GET "];
        !READS.iter().any(|p| self.operation.starts_with(p))
    }
}

struct Hold {
    operation: String,
    released: watch::Receiver<bool>,
}

#[derive(Default)]
struct Shared {
    calls: Mutex<Vec<Call>>,
    holds: Mutex<Vec<Hold>>,
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

    /// Holds the next calls of `service:Operation` until the returned handle releases them.
    pub fn hold(&self, operation: &str) -> Release {
        let (tx, rx) = watch::channel(false);
        self.shared.holds.lock().unwrap().push(Hold {
            operation: operation.to_string(),
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

async fn forward(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    upstream: String,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let call = identify(&parts, &body);
    shared.calls.lock().unwrap().push(call.clone());

    // A held call waits for its release.
    let hold = {
        let holds = shared.holds.lock().unwrap();
        holds
            .iter()
            .find(|h| h.operation == call.name() && !*h.released.borrow())
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
    let mut builder = Request::builder().method(parts.method.clone()).uri(uri);
    for (k, v) in parts.headers.iter() {
        if k != hyper::header::HOST {
            builder = builder.header(k, v);
        }
    }
    let up = builder.body(Full::new(body)).expect("request");
    match client.request(up).await {
        Ok(resp) => {
            let (parts, body) = resp.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok(Response::from_parts(parts, Full::new(body)))
        }
        Err(e) => Ok(Response::builder()
            .status(502)
            .body(Full::new(Bytes::from(format!("proxy: {e}"))))
            .unwrap()),
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
    let service = auth
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown")
        .to_string();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_string();
    let target = header("x-amz-target");
    let operation = if let Some(op) = target.split('.').nth(1) {
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
    }
}

/// Lambda's and API Gateway's REST operations, by method and path shape.
fn rest_operation(service: &str, method: &str, path: &str) -> String {
    // The segment after a collection name is an id.
    const COLLECTIONS: [&str; 8] = [
        "functions",
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
        ("lambda", "GET /2015-03-31/functions/{}") => "GetFunction",
        ("lambda", "DELETE /2015-03-31/functions/{}") => "DeleteFunction",
        ("lambda", "PUT /2015-03-31/functions/{}/code") => "UpdateFunctionCode",
        ("lambda", "PUT /2015-03-31/functions/{}/configuration") => "UpdateFunctionConfiguration",
        ("lambda", "GET /2015-03-31/functions/{}/configuration") => "GetFunctionConfiguration",
        ("lambda", "POST /2015-03-31/functions/{}/policy") => "AddPermission",
        ("lambda", "GET /2015-03-31/functions/{}/policy") => "GetPolicy",
        ("lambda", "DELETE /2015-03-31/functions/{}/policy/{}") => "RemovePermission",
        ("apigateway", "POST /restapis") => "CreateRestApi",
        ("apigateway", "GET /restapis") => "GetRestApis",
        ("apigateway", "GET /restapis/{}") => "GetRestApi",
        ("apigateway", "DELETE /restapis/{}") => "DeleteRestApi",
        ("apigateway", "GET /restapis/{}/resources") => "GetResources",
        ("apigateway", "POST /restapis/{}/resources/{}") => "CreateResource",
        ("apigateway", "PUT /restapis/{}/resources/{}/methods/{}") => "PutMethod",
        ("apigateway", "GET /restapis/{}/resources/{}/methods/{}") => "GetMethod",
        ("apigateway", "PUT /restapis/{}/resources/{}/methods/{}/responses/{}") => {
            "PutMethodResponse"
        }
        ("apigateway", "PUT /restapis/{}/resources/{}/methods/{}/integration") => "PutIntegration",
        ("apigateway", "GET /restapis/{}/resources/{}/methods/{}/integration") => "GetIntegration",
        ("apigateway", "PUT /restapis/{}/resources/{}/methods/{}/integration/responses/{}") => {
            "PutIntegrationResponse"
        }
        ("apigateway", "POST /restapis/{}/deployments") => "CreateDeployment",
        ("apigateway", "GET /restapis/{}/stages/{}") => "GetStage",
        _ => return format!("{method} {path}"),
    };
    op.to_string()
}
