//! API Gateway's checks of a caller, in its order, before a request reaches the
//! integration: the method's authorizer (IAM's SigV4, a Cognito user pool's token, or a Lambda
//! authorizer's policy, kept for its TTL by identity source), then the API key of a usage
//! plan of this stage, then the plan's throttle and quota. Every refusal is API Gateway's own
//! answer (its status, body and `x-amzn-ErrorType`), shaped by the stack's gateway responses
//! like any other (CORS headers included). docs/auth.md says what each check follows and
//! what only AWS can show.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use crate::auth::jwt;
use crate::auth::policy::{self, Verdict};
use crate::auth::sigv4;
use crate::auth::{AuthSpec, AuthorizerKind, AuthorizerSpec, Authorizing, Throttle};
use crate::gateway::{Answer, Caller, Matched, Outcome, Request};

/// A deployed API key, its value read from API Gateway at start.
#[derive(Clone)]
pub struct LocalKey {
    pub logical: String,
    pub id: String,
    pub value: String,
    pub enabled: bool,
}

impl std::fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKey")
            .field("logical", &self.logical)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Runs a function of the stack (an authorizer) with an event.
pub type Invoke<'a> = &'a (dyn Fn(&str, Value) -> BoxFuture<'a, Outcome> + Send + Sync);

pub struct Guard {
    pub spec: AuthSpec,
    pub stage: String,
    pub region: String,
    pub partition: String,
    pub account: String,
    /// The deployed REST API's id (`local` before deploy): part of the method ARN.
    pub api_id: String,
    pub keys: Vec<LocalKey>,
    /// Where a user pool's keys are read: the emulator's endpoint, or Cognito's per region.
    pub endpoint: Option<String>,
    pub credentials: Option<sigv4::Credentials>,
    http: Option<crate::http_client::Client>,
    jwks: tokio::sync::Mutex<HashMap<String, (Instant, Vec<jwt::Key>)>>,
    cache: Mutex<HashMap<String, (Instant, policy::Grant)>>,
    meters: Mutex<HashMap<String, Meter>>,
}

/// A token bucket and a quota count, per plan and key (and route, for a method throttle).
struct Meter {
    tokens: f64,
    last: Instant,
    window: i64,
    used: i64,
}

/// How long fetched user-pool keys are kept before they are read again (a key rotated in
/// the meantime is read at once: an unknown key id fetches again, once a minute at most).
const JWKS_KEEP: Duration = Duration::from_secs(3600);
const JWKS_RETRY: Duration = Duration::from_secs(60);
/// The longest an authorizer's answer may be kept (API Gateway's limit, 3600 s).
const MAX_TTL: Duration = Duration::from_secs(3600);

/// API Gateway's refusals: status, body, error type.
fn refuse(status: u16, body: Value, error_type: &str) -> Answer {
    let mut a = Answer::json(status, body.to_string());
    a.headers
        .push(("x-amzn-ErrorType".into(), error_type.into()));
    a
}

pub fn unauthorized() -> Answer {
    refuse(
        401,
        json!({"message": "Unauthorized"}),
        "UnauthorizedException",
    )
}

fn denied(explicit: bool) -> Answer {
    let m = if explicit {
        "User is not authorized to access this resource with an explicit deny"
    } else {
        "User is not authorized to access this resource"
    };
    refuse(403, json!({"Message": m}), "AccessDeniedException")
}

fn forbidden() -> Answer {
    refuse(403, json!({"message": "Forbidden"}), "ForbiddenException")
}

fn authorizer_error() -> Answer {
    refuse(
        500,
        json!({"message": null}),
        "AuthorizerConfigurationException",
    )
}

impl Guard {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        spec: AuthSpec,
        stage: String,
        region: String,
        account: String,
        api_id: String,
        keys: Vec<LocalKey>,
        endpoint: Option<String>,
        credentials: Option<sigv4::Credentials>,
    ) -> anyhow::Result<Guard> {
        let cognito = spec
            .authorizers
            .iter()
            .any(|a| matches!(a.kind, AuthorizerKind::Cognito { .. }));
        Ok(Guard {
            partition: crate::stack::partition(&region).to_string(),
            spec,
            stage,
            region,
            account,
            api_id,
            keys,
            endpoint,
            credentials,
            http: if cognito {
                Some(crate::http_client::Client::new(Duration::from_secs(10))?)
            } else {
                None
            },
            jwks: Default::default(),
            cache: Default::default(),
            meters: Default::default(),
        })
    }

    /// API Gateway's checks for a matched route: who the caller is, or its refusal.
    pub async fn admit(
        &self,
        m: &Matched,
        req: &Request,
        invoke: Invoke<'_>,
    ) -> Result<Caller, Answer> {
        let auth = &m.route.auth;
        let mut caller = Caller::default();
        match &auth.authorizer {
            None => {}
            Some(Authorizing::Iam) => caller.access_key = Some(self.iam(req)?),
            Some(Authorizing::Named(n)) => {
                let Some(a) = self.spec.authorizer(n) else {
                    return Err(authorizer_error());
                };
                match &a.kind {
                    AuthorizerKind::Cognito { user_pools } => {
                        let claims = self.cognito(a, user_pools, &auth.scopes, req).await?;
                        let mut ctx = Map::new();
                        ctx.insert("claims".into(), claims);
                        caller.authorizer = Some(ctx);
                    }
                    AuthorizerKind::Token { .. } | AuthorizerKind::Request { .. } => {
                        let grant = self.lambda(a, m, req, invoke).await?;
                        let mut ctx = grant.context.clone();
                        ctx.insert("principalId".into(), json!(grant.principal_id));
                        caller.authorizer = Some(ctx);
                    }
                }
            }
        }
        if auth.api_key {
            // The key source is the header (the stack sets no AUTHORIZER source).
            let sent = req.header("x-api-key").unwrap_or_default();
            let Some(key) = self
                .keys
                .iter()
                .find(|k| k.enabled && !sent.is_empty() && k.value == sent)
            else {
                return Err(forbidden());
            };
            let Some(plan) = self
                .spec
                .usage_plans
                .iter()
                .find(|p| p.keys.contains(&key.logical))
            else {
                return Err(forbidden());
            };
            self.meter(plan, &key.logical, &m.route.label())?;
            caller.api_key = Some((key.value.clone(), key.id.clone()));
        }
        Ok(caller)
    }

    /// A usage plan's throttle (its method throttle for the route, when it sets one) and quota.
    fn meter(
        &self,
        plan: &crate::auth::UsagePlanSpec,
        key: &str,
        route: &str,
    ) -> Result<(), Answer> {
        let throttle: Option<(String, Throttle)> = plan
            .method_throttles
            .iter()
            .find(|(r, _)| r == route)
            .map(|(r, t)| (format!("{}/{key}/{r}", plan.logical), *t))
            .or(plan
                .throttle
                .map(|t| (format!("{}/{key}", plan.logical), t)));
        let now = Instant::now();
        let mut meters = self.meters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(q) = plan.quota {
            let window = quota_window(q, unix_now());
            let m = meters
                .entry(format!("{}/{key}#quota", plan.logical))
                .or_insert(Meter {
                    tokens: 0.0,
                    last: now,
                    window,
                    used: 0,
                });
            if m.window != window {
                m.window = window;
                m.used = 0;
            }
            if m.used >= i64::from(q.limit) {
                return Err(refuse(
                    429,
                    json!({"message": "Limit Exceeded"}),
                    "LimitExceededException",
                ));
            }
        }
        if let Some((id, t)) = throttle {
            let m = meters.entry(id).or_insert(Meter {
                tokens: f64::from(t.burst),
                last: now,
                window: 0,
                used: 0,
            });
            let refill = now.duration_since(m.last).as_secs_f64() * t.rate;
            m.tokens = (m.tokens + refill).min(f64::from(t.burst));
            m.last = now;
            if m.tokens < 1.0 {
                return Err(refuse(
                    429,
                    json!({"message": "Too Many Requests"}),
                    "TooManyRequestsException",
                ));
            }
            m.tokens -= 1.0;
        }
        if plan.quota.is_some() {
            if let Some(m) = meters.get_mut(&format!("{}/{key}#quota", plan.logical)) {
                m.used += 1;
            }
        }
        Ok(())
    }

    /// AWS_IAM: the request's SigV4 signature against serve's own credentials.
    fn iam(&self, req: &Request) -> Result<String, Answer> {
        let missing = || {
            refuse(
                403,
                json!({"message": "Missing Authentication Token"}),
                "MissingAuthenticationTokenException",
            )
        };
        let Some(creds) = &self.credentials else {
            // Without credentials nothing can be signed for serve: as an unsigned request.
            return Err(missing());
        };
        let signed = sigv4::Signed {
            method: &req.method,
            raw_path: &req.path,
            raw_query: &req.query,
            headers: &req.headers,
            body: &req.body,
        };
        sigv4::verify(&signed, creds, &self.region, unix_now() as i64).map_err(|r| match r {
            sigv4::Refusal::Missing => missing(),
            sigv4::Refusal::InvalidToken => refuse(
                403,
                json!({"message": r.message()}),
                "UnrecognizedClientException",
            ),
            sigv4::Refusal::Expired => refuse(
                403,
                json!({"message": r.message()}),
                "InvalidSignatureException",
            ),
            _ => refuse(
                403,
                json!({"message": r.message()}),
                "InvalidSignatureException",
            ),
        })
    }

    /// COGNITO_USER_POOLS: the token in the identity source, verified; its claims.
    async fn cognito(
        &self,
        a: &AuthorizerSpec,
        pools: &[String],
        scopes: &[String],
        req: &Request,
    ) -> Result<Value, Answer> {
        let header = a
            .identity_source
            .strip_prefix("method.request.header.")
            .unwrap_or("Authorization");
        let token = req.header(header).unwrap_or_default().trim();
        let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
        if token.is_empty() {
            return Err(unauthorized());
        }
        let mut issuers = Vec::new();
        let mut keys = Vec::new();
        for arn in pools {
            let Some((region, id)) = crate::auth::user_pool_of(arn) else {
                continue;
            };
            issuers.push(jwt::issuer(&region, &id));
            keys.extend(self.pool_keys(&region, &id, token).await?);
        }
        let expect = jwt::Expect {
            issuers: &issuers,
            scopes,
            now: unix_now(),
        };
        match jwt::verify(token, &keys, &expect) {
            Ok(claims) => Ok(claims_as_strings(claims)),
            Err(why) => {
                eprintln!(
                    "{} authorizer {}: token refused: {}",
                    req.request_id, a.logical, why.0
                );
                Err(unauthorized())
            }
        }
    }

    /// A pool's signing keys, fetched once and kept; fetched again for a key id they lack.
    async fn pool_keys(
        &self,
        region: &str,
        id: &str,
        token: &str,
    ) -> Result<Vec<jwt::Key>, Answer> {
        let kid = jwt::key_id(token);
        let mut cache = self.jwks.lock().await;
        if let Some((at, keys)) = cache.get(id) {
            let known = kid
                .as_ref()
                .is_none_or(|k| keys.iter().any(|x| &x.kid == k));
            if at.elapsed() < JWKS_KEEP && (known || at.elapsed() < JWKS_RETRY) {
                return Ok(keys.clone());
            }
        }
        let base = match &self.endpoint {
            Some(e) => e.trim_end_matches('/').to_string(),
            None => format!("https://cognito-idp.{region}.amazonaws.com"),
        };
        let url = format!("{base}/{id}/.well-known/jwks.json");
        let Some(http) = &self.http else {
            return Err(authorizer_error());
        };
        let keys = match http.send("GET", &url, None).await {
            Ok(r) if r.status == 200 => serde_json::from_str::<Value>(&r.body)
                .map(|v| jwt::keys_of(&v))
                .unwrap_or_default(),
            Ok(r) => {
                eprintln!(
                    "cannot read user pool {id}'s keys from {url}: HTTP {}",
                    r.status
                );
                Vec::new()
            }
            Err(e) => {
                eprintln!("cannot read user pool {id}'s keys from {url}: {e}");
                Vec::new()
            }
        };
        if keys.is_empty() {
            return Err(refuse(
                500,
                json!({"message": null}),
                "AuthorizerFailureException",
            ));
        }
        cache.insert(id.to_string(), (Instant::now(), keys.clone()));
        Ok(keys)
    }

    /// TOKEN and REQUEST: the identity sources, the cached answer or the function's, and its
    /// policy for this request's method ARN.
    async fn lambda(
        &self,
        a: &AuthorizerSpec,
        m: &Matched,
        req: &Request,
        invoke: Invoke<'_>,
    ) -> Result<policy::Grant, Answer> {
        let arn = policy::method_arn(
            &self.partition,
            &self.region,
            &self.account,
            &self.api_id,
            &self.stage,
            &req.method,
            req.path
                .strip_prefix('/')
                .and_then(|p| p.strip_prefix(self.stage.as_str()))
                .unwrap_or(&req.path),
        );
        let mut identity = Vec::new();
        for source in a.sources() {
            let value = identity_value(source, m, req).unwrap_or_default();
            // Every identity source present and non-empty, or 401 without calling the
            // function (for REQUEST, only when answers are kept).
            let required = matches!(a.kind, AuthorizerKind::Token { .. }) || a.ttl_secs > 0;
            if value.is_empty() && required {
                return Err(unauthorized());
            }
            identity.push(value);
        }
        if let AuthorizerKind::Token {
            validation: Some(re),
            ..
        } = &a.kind
        {
            let ok = regex_lite::Regex::new(&format!("^(?:{re})$"))
                .is_ok_and(|r| r.is_match(identity.first().map_or("", String::as_str)));
            if !ok {
                return Err(unauthorized());
            }
        }
        let cache_key = format!("{}\u{0}{}", a.logical, identity.join("\u{0}"));
        let ttl = Duration::from_secs(a.ttl_secs.max(0) as u64);
        let cached = if ttl.is_zero() {
            None
        } else {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            // Nothing is kept past the longest TTL an authorizer may have.
            cache.retain(|_, (at, _)| at.elapsed() < MAX_TTL);
            cache
                .get(&cache_key)
                .filter(|(at, _)| at.elapsed() < ttl)
                .map(|(_, g)| g.clone())
        };
        let grant = match cached {
            Some(g) => g,
            None => {
                let event = match &a.kind {
                    AuthorizerKind::Token { .. } => json!({
                        "type": "TOKEN",
                        "authorizationToken": identity.first().cloned().unwrap_or_default(),
                        "methodArn": arn,
                    }),
                    _ => {
                        let mut e = crate::gateway::proxy::event(m, req, &self.stage);
                        if let Some(o) = e.as_object_mut() {
                            o.remove("body");
                            o.remove("isBase64Encoded");
                            o.insert("type".into(), json!("REQUEST"));
                            o.insert("methodArn".into(), json!(arn));
                        }
                        e
                    }
                };
                let function = a.kind.function().unwrap_or_default();
                let grant = match invoke(function, event).await {
                    Outcome::Result(v) => policy::parse(&v).map_err(|why| {
                        eprintln!(
                            "{} authorizer {}: Execution failed due to configuration error: {why}",
                            req.request_id, a.logical
                        );
                        authorizer_error()
                    })?,
                    Outcome::Error(e) => {
                        let message = e["errorMessage"].as_str().unwrap_or_default();
                        if message == "Unauthorized" {
                            return Err(unauthorized());
                        }
                        eprintln!(
                            "{} authorizer {}: the function failed: {}",
                            req.request_id,
                            a.logical,
                            crate::report::printable(message)
                        );
                        return Err(authorizer_error());
                    }
                };
                if !ttl.is_zero() {
                    self.cache
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(cache_key, (Instant::now(), grant.clone()));
                }
                grant
            }
        };
        match grant.verdict(&arn) {
            Verdict::Allow => Ok(grant),
            Verdict::ExplicitDeny => Err(denied(true)),
            Verdict::NotAllowed => Err(denied(false)),
        }
    }
}

/// An identity source's value in the request.
fn identity_value(source: &str, m: &Matched, req: &Request) -> Option<String> {
    if let Some(h) = source.strip_prefix("method.request.header.") {
        return req.header(h).map(str::to_string);
    }
    if let Some(q) = source.strip_prefix("method.request.querystring.") {
        return crate::gateway::proxy::parse_query(&req.query)
            .into_iter()
            .rev()
            .find(|(k, _)| k == q)
            .map(|(_, v)| v);
    }
    if let Some(p) = source.strip_prefix("method.request.path.") {
        return m
            .params
            .iter()
            .find(|(k, _)| k == p)
            .map(|(_, v)| v.clone());
    }
    if let Some(c) = source.strip_prefix("context.") {
        return match c {
            "stage" => Some(req.path.split('/').nth(1).unwrap_or_default().to_string()),
            "httpMethod" => Some(req.method.clone()),
            "identity.sourceIp" => Some(req.source_ip.clone()),
            "resourcePath" => Some(m.route.path.clone()),
            _ => None,
        };
    }
    // Stage variables: the stack sets none.
    None
}

/// API Gateway hands a REST API's integration the claims as strings.
fn claims_as_strings(claims: Value) -> Value {
    match claims {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let s = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, Value::String(s))
                })
                .collect(),
        ),
        other => other,
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Which quota period a moment falls in (UTC): the day; the week starting on Sunday plus
/// the offset; the month starting on its first day plus the offset.
fn quota_window(q: crate::auth::Quota, now: u64) -> i64 {
    let days = (now / 86_400) as i64;
    match q.period {
        crate::auth::Period::Day => days,
        // 1970-01-01 was a Thursday: day 3 is the first Sunday.
        crate::auth::Period::Week => (days - 3 - i64::from(q.offset)).div_euclid(7),
        crate::auth::Period::Month => {
            let (y, m, _) = crate::gateway::proxy::civil_date(days - i64::from(q.offset));
            y * 12 + m
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Period, Quota, UsagePlanSpec};

    fn guard(plan: UsagePlanSpec) -> Guard {
        Guard::new(
            AuthSpec {
                usage_plans: vec![plan],
                ..Default::default()
            },
            "prod".into(),
            "us-east-1".into(),
            "123456789012".into(),
            "local".into(),
            Vec::new(),
            None,
            None,
        )
        .unwrap()
    }

    #[test]
    fn a_plan_throttles_then_counts_its_quota() {
        let g = guard(UsagePlanSpec {
            logical: "basic".into(),
            name: "basic".into(),
            throttle: Some(Throttle {
                rate: 0.001,
                burst: 2,
            }),
            quota: Some(Quota {
                limit: 3,
                period: Period::Day,
                offset: 0,
            }),
            keys: vec!["k".into()],
            method_throttles: vec![(
                "GET /a".into(),
                Throttle {
                    rate: 0.001,
                    burst: 5,
                },
            )],
        });
        let plan = g.spec.usage_plans[0].clone();
        assert!(g.meter(&plan, "k", "GET /b").is_ok());
        assert!(g.meter(&plan, "k", "GET /b").is_ok());
        let t = g.meter(&plan, "k", "GET /b").unwrap_err();
        assert_eq!(
            (t.status, String::from_utf8_lossy(&t.body).to_string()),
            (429, r#"{"message":"Too Many Requests"}"#.to_string())
        );
        // The route with its own throttle has its own bucket; a throttled request did not
        // count against the quota: 2 used, 1 left.
        assert!(g.meter(&plan, "k", "GET /a").is_ok());
        let q = g.meter(&plan, "k", "GET /a").unwrap_err();
        assert_eq!(
            String::from_utf8_lossy(&q.body),
            r#"{"message":"Limit Exceeded"}"#
        );
        // Another key has its own.
        assert!(g.meter(&plan, "other", "GET /a").is_ok());
    }

    #[test]
    fn quota_periods() {
        let q = |period, offset| Quota {
            limit: 1,
            period,
            offset,
        };
        // 2026-12-03 (a Thursday) and 2026-12-06 (a Sunday).
        let thu = 1_796_256_000;
        let sun = thu + 3 * 86_400;
        assert_ne!(
            quota_window(q(Period::Week, 0), thu),
            quota_window(q(Period::Week, 0), sun)
        );
        assert_eq!(
            quota_window(q(Period::Week, 0), sun),
            quota_window(q(Period::Week, 0), sun + 6 * 86_400)
        );
        assert_eq!(
            quota_window(q(Period::Month, 0), thu),
            quota_window(q(Period::Month, 0), sun)
        );
        assert_ne!(
            quota_window(q(Period::Month, 2), thu),
            quota_window(q(Period::Month, 2), thu - 3 * 86_400)
        );
        assert_eq!(
            quota_window(q(Period::Day, 0), thu) + 3,
            quota_window(q(Period::Day, 0), sun)
        );
    }
}
