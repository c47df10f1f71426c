//! `serve`: the stack's REST API on this machine. An HTTP server on 127.0.0.1 does API
//! Gateway's part (`crate::gateway`, from the same route description deploy uses) and hands
//! the event to the real handler in long-lived Node.js workers (`pool`).

pub mod functions;
pub mod guard;
pub mod pool;

use std::convert::Infallible;
use std::net::SocketAddr;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::gateway::{self, Answer};
use crate::stack::{IntegrationKind, ModelSpec, RouteSpec};
use pool::Pool;

/// The largest request a synchronous Lambda invocation takes (6 MB): a larger body is
/// answered 413 before the function runs, as the deployed API cannot hand it over either.
/// (API Gateway itself takes up to 10 MB.)
const MAX_BODY: usize = 6 * 1024 * 1024;
/// How long a client may take to send a request's headers, and then its body: a half-sent
/// request does not hold a connection for ever.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The pause after a failed accept (out of file descriptors, say) before the next one: the
/// loop must not spin while the connections in flight finish and free descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The running server's shared parts.
pub struct Server {
    pub stage: String,
    /// The account the stack is in (the proxy event names it).
    pub account: String,
    pub routes: Vec<RouteSpec>,
    pub models: Vec<ModelSpec>,
    /// One pool of workers per function, by its logical name.
    pub pools: std::collections::BTreeMap<String, Pool>,
    /// API Gateway's own answers as the stack sets them (CORS headers on its 4XX and 5XX,
    /// 415's message): the model deploy puts.
    pub gateway_responses: Vec<crate::stack::GatewayResponseSpec>,
    /// API keys, usage plans and authorizers, enforced as API Gateway does.
    pub guard: guard::Guard,
}

/// Binds the port; a clear message when it is taken.
pub async fn bind(port: u16) -> anyhow::Result<TcpListener> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!(
                "port {port} on 127.0.0.1 is in use; stop what holds it, or pick another with --port"
            )
        } else {
            anyhow::anyhow!("cannot listen on 127.0.0.1:{port}: {e}")
        }
    })
}

/// Serves until the first interrupt, then lets every connection finish the request it is
/// answering, response written, (up to `grace`) and returns. Idle keep-alive connections
/// close at once. Workers stop when the pool is dropped.
pub async fn run(
    listener: TcpListener,
    server: Arc<Server>,
    mut interrupts: crate::signal::Interrupts,
    grace: Duration,
) -> anyhow::Result<()> {
    let start_count = *interrupts.borrow();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut accept_failures: u64 = 0;
    let mut last_said: Option<Instant> = None;
    loop {
        tokio::select! {
            biased;
            _ = interrupts.wait_for(|n| *n > start_count) => break,
            // Reap finished connections as they end.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    // A client that went away before it was accepted: keep serving.
                    Err(e) if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                    ) => continue,
                    // Out of file descriptors (or memory): say so once a second at most, and
                    // wait a little instead of spinning on the error.
                    Err(e) => {
                        accept_failures += 1;
                        if last_said.is_none_or(|t: Instant| t.elapsed() >= Duration::from_secs(1)) {
                            eprintln!("cannot accept a connection ({e}); waiting for connections to close ({accept_failures} so far)");
                            last_said = Some(Instant::now());
                        }
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                let server = server.clone();
                let service = hyper::service::service_fn(move |req| {
                    let server = server.clone();
                    async move { Ok::<_, Infallible>(handle(&server, peer, req).await) }
                });
                let stop = stop_rx.clone();
                connections.spawn(async move {
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(HEADER_READ_TIMEOUT)
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stopping(stop) => {
                            // Finish the request in flight, write its response, then close.
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
        }
    }
    drop(listener);
    eprintln!("stopping: finishing the requests in flight");
    let _ = stop_tx.send(true);
    let all_closed = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, all_closed).await.is_err() {
        eprintln!(
            "stopped with requests still in flight after {} s",
            grace.as_secs()
        );
    }
    Ok(())
}

/// Resolves once the stop flag is set.
async fn stopping(mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

use crate::ids::request_id;

async fn handle(
    server: &Server,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let id = request_id();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = tokio::time::timeout(
        BODY_READ_TIMEOUT,
        Limited::new(req.into_body(), MAX_BODY).collect(),
    )
    .await;
    let answer = match body {
        Err(_) => from_gateway(server, Answer::message(408, "Request Timeout")),
        Ok(Err(_)) => from_gateway(server, Answer::message(413, "Request Too Long")),
        Ok(Ok(body)) => {
            let host = headers
                .iter()
                .find(|(k, _)| k == "host")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let request = gateway::Request {
                method: method.clone(),
                path: path.clone(),
                query,
                headers,
                body: body.to_bytes().to_vec(),
                source_ip: peer.ip().to_string(),
                request_id: id.clone(),
                time_ms: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis()),
                host,
                account: server.account.clone(),
                caller: Default::default(),
            };
            answer(server, &request).await
        }
    };
    eprintln!(
        "{id} {method} {} -> {} ({} ms)",
        crate::report::printable(&path),
        answer.status,
        started.elapsed().as_millis()
    );
    let mut response = Response::builder().status(answer.status);
    for (k, v) in &answer.headers {
        response = response.header(k.as_str(), v.as_str());
    }
    response
        .header("x-amzn-RequestId", &id)
        .body(Full::new(Bytes::from(answer.body)))
        .unwrap_or_else(|_| {
            // A header the function set that HTTP cannot carry: API Gateway's answer to a
            // malformed proxy response.
            let a = gateway::proxy::malformed();
            let mut r = Response::new(Full::new(Bytes::from(a.body)));
            *r.status_mut() = hyper::StatusCode::BAD_GATEWAY;
            r
        })
}

/// API Gateway's own answer, as the stack's gateway responses shape it: the response of its
/// own type when the stack sets one (415's), else DEFAULT_4XX's or DEFAULT_5XX's.
pub fn from_gateway(server: &Server, mut a: Answer) -> Answer {
    let kinds: &[&str] = match a.status {
        415 => &["UNSUPPORTED_MEDIA_TYPE", "DEFAULT_4XX"],
        400..=499 => &["DEFAULT_4XX"],
        _ => &["DEFAULT_5XX"],
    };
    let Some(g) = kinds
        .iter()
        .find_map(|k| server.gateway_responses.iter().find(|g| g.kind == *k))
    else {
        return a;
    };
    if let Some(t) = &g.template {
        a.body = t.clone().into_bytes();
    }
    a.headers.extend(gateway::response_headers(
        &g.headers,
        &serde_json::Value::Null,
    ));
    a
}

async fn answer(server: &Server, req: &gateway::Request) -> Answer {
    let Some(matched) = gateway::match_route(&server.routes, &server.stage, &req.method, &req.path)
    else {
        return from_gateway(server, gateway::missing_route());
    };
    if matched.route.integration == IntegrationKind::Mock {
        return gateway::mock(&matched.route);
    }
    // The method's authorizer, API key and usage plan, before anything else.
    let invoke = |function: &str, event: serde_json::Value| {
        let pool = server.pools.get(function);
        let id = req.request_id.clone();
        Box::pin(async move {
            match pool {
                Some(p) => p.invoke(id, event).await,
                None => gateway::Outcome::Error(
                    serde_json::json!({"errorMessage": "the authorizer's function is not served"}),
                ),
            }
        }) as futures::future::BoxFuture<'_, gateway::Outcome>
    };
    let caller = match server.guard.admit(&matched, req, &invoke).await {
        Ok(c) => c,
        Err(refused) => return from_gateway(server, refused),
    };
    let req = &gateway::Request {
        caller,
        ..req.clone()
    };
    let Some(pool) = server.pools.get(&matched.route.function) else {
        return from_gateway(server, Answer::message(500, "Internal server error"));
    };
    let id = &req.request_id;
    match matched.route.integration {
        IntegrationKind::Proxy => {
            if let Err(refused) = gateway::validate_body(&matched, &server.models, &req.body) {
                return from_gateway(server, refused);
            }
            let event = gateway::proxy::event(&matched, req, &server.stage);
            let outcome = pool.invoke(id.to_string(), event).await;
            match gateway::proxy::response(&outcome) {
                Ok(a) => a,
                Err(why) => {
                    // What API Gateway's execution log says; the client gets its 502.
                    eprintln!(
                        "{id} Execution failed due to configuration error: Malformed Lambda proxy response: {}",
                        crate::report::printable(&why)
                    );
                    from_gateway(server, gateway::proxy::malformed())
                }
            }
        }
        IntegrationKind::Aws => {
            let incoming = gateway::Incoming::of(req, &matched, &server.stage);
            let event = match gateway::request_event(
                &matched,
                &server.models,
                req.header("content-type"),
                &req.body,
                &incoming,
            ) {
                Ok(e) => e,
                Err(refused) => return from_gateway(server, refused),
            };
            let outcome = pool.invoke(id.to_string(), event).await;
            gateway::respond(&matched.route, &outcome, &incoming)
        }
        IntegrationKind::Mock => gateway::mock(&matched.route),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_unique_and_uuid_shaped() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| request_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(5) {
            let parts: Vec<usize> = id.split('-').map(str::len).collect();
            assert_eq!(parts, [8, 4, 4, 4, 12], "{id}");
        }
    }
}
