//! One client-side rate limiter for every API Gateway call of a run, sized from AWS's
//! documented account quotas (docs/aws.md, "API Gateway's account quotas"), so that the calls of one run never
//! spend more than the account allows and never retry in lockstep.
//!
//! It sits in the API Gateway client's HTTP connector: every attempt of every call, retries
//! included, takes a token before it is sent. Calls with their own quota (CreateRestApi,
//! DeleteRestApi, CreateDeployment, CreateResource, GetResources, PutRestApi, ImportRestApi,
//! CreateApiKey, UpdateUsagePlan, CreateDomainName, UpdateDomainName, DeleteDomainName)
//! take it from their own bucket; every other call from the shared one (10 per second, burst
//! 40). Tokens are handed out in order: a caller that finds the bucket empty reserves the next
//! token and sleeps until it is due.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;

/// A token bucket: `burst` tokens at most, refilled at `per_second`.
#[derive(Debug)]
struct Bucket {
    burst: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(burst: f64, per_second: f64) -> Bucket {
        Bucket {
            burst,
            per_second,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes a token now, or reserves the next one: how long to wait before using it.
    fn take(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.per_second)
        }
    }
}

/// The API Gateway control plane's quotas, per account (not raisable).
/// (operation, burst, calls per second)
const OWN_QUOTAS: [(&str, f64, f64); 12] = [
    ("CreateRestApi", 1.0, 1.0 / 3.0),
    ("ImportRestApi", 1.0, 1.0 / 3.0),
    ("DeleteRestApi", 1.0, 1.0 / 30.0),
    ("CreateDeployment", 1.0, 1.0 / 5.0),
    ("PutRestApi", 1.0, 1.0),
    ("CreateResource", 5.0, 5.0),
    ("GetResources", 5.0, 2.5),
    ("CreateApiKey", 5.0, 5.0),
    ("UpdateUsagePlan", 1.0, 1.0 / 20.0),
    ("CreateDomainName", 1.0, 1.0 / 30.0),
    ("UpdateDomainName", 1.0, 1.0 / 30.0),
    ("DeleteDomainName", 1.0, 1.0 / 30.0),
];
/// Every other management call: 10 per second, burst 40.
const SHARED: (f64, f64) = (40.0, 10.0);

/// The buckets of one run.
#[derive(Debug)]
pub struct Limiter {
    shared: Mutex<Bucket>,
    own: Vec<(&'static str, Mutex<Bucket>)>,
}

impl Limiter {
    /// `scale` shortens every wait (tests; 1.0 in real use): the rates are divided by it.
    pub fn api_gateway(scale: f64) -> Arc<Limiter> {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        Arc::new(Limiter {
            shared: Mutex::new(Bucket::new(SHARED.0, SHARED.1 / scale)),
            own: OWN_QUOTAS
                .iter()
                .map(|(op, burst, rate)| (*op, Mutex::new(Bucket::new(*burst, rate / scale))))
                .collect(),
        })
    }

    /// How long the call must wait for its token (the token is taken).
    fn reserve(&self, operation: Option<&str>, now: Instant) -> Duration {
        let bucket = operation
            .and_then(|op| self.own.iter().find(|(o, _)| *o == op))
            .map(|(_, b)| b)
            .unwrap_or(&self.shared);
        bucket.lock().unwrap_or_else(|p| p.into_inner()).take(now)
    }

    pub async fn acquire(&self, operation: Option<&str>) {
        let wait = self.reserve(operation, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Wraps an HTTP client so that every request it sends first waits for its token.
    pub fn wrap(self: &Arc<Self>, inner: SharedHttpClient) -> SharedHttpClient {
        let limiter = self.clone();
        http_client_fn(move |settings, components| {
            SharedHttpConnector::new(Limited {
                inner: inner.http_connector(settings, components),
                limiter: limiter.clone(),
            })
        })
    }
}

#[derive(Debug)]
struct Limited {
    inner: SharedHttpConnector,
    limiter: Arc<Limiter>,
}

impl HttpConnector for Limited {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let op = own_quota_operation(request.method(), request.uri());
        let (inner, limiter) = (self.inner.clone(), self.limiter.clone());
        HttpConnectorFuture::new(async move {
            limiter.acquire(op).await;
            inner.call(request).await
        })
    }
}

/// Which of the operations with their own quota a REST request of API Gateway is, by method
/// and path shape; `None` for every other call.
fn own_quota_operation(method: &str, uri: &str) -> Option<&'static str> {
    let path = uri
        .split("://")
        .nth(1)
        .map(|rest| rest.find('/').map(|i| &rest[i..]).unwrap_or("/"))
        .unwrap_or(uri);
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
        ("POST", ["restapis"]) if query.contains("mode=import") => Some("ImportRestApi"),
        ("POST", ["restapis"]) => Some("CreateRestApi"),
        ("DELETE", ["restapis", _]) => Some("DeleteRestApi"),
        ("PUT", ["restapis", _]) => Some("PutRestApi"),
        ("POST", ["restapis", _, "deployments"]) => Some("CreateDeployment"),
        ("POST", ["restapis", _, "resources", _]) => Some("CreateResource"),
        ("GET", ["restapis", _, "resources"]) => Some("GetResources"),
        ("POST", ["apikeys"]) => Some("CreateApiKey"),
        ("PATCH", ["usageplans", _]) => Some("UpdateUsagePlan"),
        ("POST", ["domainnames"]) => Some("CreateDomainName"),
        ("PATCH", ["domainnames", _]) => Some("UpdateDomainName"),
        ("DELETE", ["domainnames", _]) => Some("DeleteDomainName"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burst_is_free_then_calls_are_spaced_at_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(40.0, 10.0);
        for _ in 0..40 {
            assert_eq!(b.take(t0), Duration::ZERO);
        }
        // The 41st and 42nd reserve the next tokens: 0.1 s and 0.2 s away.
        assert!((b.take(t0).as_secs_f64() - 0.1).abs() < 1e-9);
        assert!((b.take(t0).as_secs_f64() - 0.2).abs() < 1e-9);
        // A second later ten more tokens have come; two were already promised.
        let later = t0 + Duration::from_secs(1);
        for _ in 0..8 {
            assert_eq!(b.take(later), Duration::ZERO);
        }
        assert!(b.take(later) > Duration::ZERO);
    }

    #[test]
    fn operations_with_their_own_quota_are_recognised() {
        let base = "https://apigateway.us-east-1.amazonaws.com";
        let cases = [
            ("POST", "/restapis", Some("CreateRestApi")),
            ("POST", "/restapis?mode=import", Some("ImportRestApi")),
            ("DELETE", "/restapis/abc", Some("DeleteRestApi")),
            ("PUT", "/restapis/abc?mode=overwrite", Some("PutRestApi")),
            (
                "POST",
                "/restapis/abc/deployments",
                Some("CreateDeployment"),
            ),
            ("POST", "/restapis/abc/resources/r1", Some("CreateResource")),
            ("POST", "/apikeys", Some("CreateApiKey")),
            ("PATCH", "/usageplans/p1", Some("UpdateUsagePlan")),
            ("POST", "/domainnames", Some("CreateDomainName")),
            (
                "DELETE",
                "/domainnames/api.example.com",
                Some("DeleteDomainName"),
            ),
            (
                "DELETE",
                "/domainnames/api.example.com/basepathmappings/v1",
                None,
            ),
            ("PATCH", "/usageplans/p1/keys", None),
            (
                "GET",
                "/restapis/abc/resources?limit=500",
                Some("GetResources"),
            ),
            ("PUT", "/restapis/abc/resources/r1/methods/GET", None),
            ("GET", "/restapis", None),
        ];
        for (method, path, want) in cases {
            assert_eq!(
                own_quota_operation(method, &format!("{base}{path}")),
                want,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn delete_rest_api_waits_thirty_seconds_between_calls_and_scale_shortens_it() {
        let l = Limiter::api_gateway(1.0);
        let now = Instant::now();
        assert_eq!(l.reserve(Some("DeleteRestApi"), now), Duration::ZERO);
        let wait = l.reserve(Some("DeleteRestApi"), now);
        assert!((wait.as_secs_f64() - 30.0).abs() < 1e-6, "{wait:?}");
        // Other calls are not held up by it.
        assert_eq!(l.reserve(Some("PutMethod"), now), Duration::ZERO);
        let fast = Limiter::api_gateway(0.05);
        fast.reserve(Some("CreateDeployment"), now);
        let wait = fast.reserve(Some("CreateDeployment"), now);
        assert!((wait.as_secs_f64() - 0.25).abs() < 1e-6, "{wait:?}");
    }
}
