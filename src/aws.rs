//! One AWS configuration, the service clients, and what every call shares: error
//! classification, retries that honour `Retry-After`, and polling with backoff.
//!
//! The SDK's own retry is switched off: one layer retries, so every wait can be shown to the
//! user and bounded by time rather than by a count of attempts.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::report::Progress;

/// Region used when nothing is configured, as in the tutorial.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Where the calls go.
#[derive(Debug, Clone)]
pub struct Target {
    pub region: String,
    pub endpoint: Option<String>,
    /// The profile: `--profile`, else AWS_PROFILE.
    pub profile: Option<String>,
    /// The profile was named on the command line: its credentials are the only ones used.
    pub profile_is_explicit: bool,
}

/// Region from the flag, else the environment and the shared config file, else us-east-1.
/// Instance metadata is not asked: it would make every run on a laptop wait for a time-out.
pub async fn resolve_region(flag: Option<&str>, profile: Option<&str>) -> String {
    if let Some(r) = flag {
        return r.to_string();
    }
    let mut file = aws_config::profile::region::ProfileFileRegionProvider::builder();
    if let Some(p) = profile {
        file = file.profile_name(p);
    }
    let chain = RegionProviderChain::first_try(
        aws_config::environment::region::EnvironmentVariableRegionProvider::new(),
    )
    .or_else(file.build())
    .or_else(Region::new(DEFAULT_REGION));
    chain
        .region()
        .await
        .map(|r| r.to_string())
        .unwrap_or_else(|| DEFAULT_REGION.to_string())
}

/// The endpoint: the flag, else AWS_ENDPOINT_URL (which the SDK would use anyway; we read it
/// to record it in the state).
pub fn resolve_endpoint(flag: Option<&str>) -> Result<Option<String>, String> {
    let raw = match flag {
        Some(e) => Some(e.to_string()),
        None => std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|s| !s.is_empty()),
    };
    match raw {
        None => Ok(None),
        Some(e) => {
            let trimmed = e.trim_end_matches('/').to_string();
            let rest = trimmed
                .strip_prefix("http://")
                .or_else(|| trimmed.strip_prefix("https://"));
            let authority = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
            if authority.is_some_and(|a| a.contains('@')) {
                // Never stored in the state, never printed: the credentials are left out.
                return Err(format!(
                    "the endpoint URL '{}' carries credentials (user:password@); give the endpoint without them (credentials come from the profile or the environment), in --endpoint-url or AWS_ENDPOINT_URL",
                    redact_url(&e)
                ));
            }
            match rest {
                Some(host)
                    if !host.is_empty()
                        && !host.contains(char::is_whitespace)
                        && !host.contains(['?', '#']) =>
                {
                    Ok(Some(trimmed))
                }
                _ => Err(format!(
                    "invalid endpoint URL '{}': expected http://host:port or https://host, with no query or fragment; fix --endpoint-url or AWS_ENDPOINT_URL",
                    redact_url(&e)
                )),
            }
        }
    }
}

/// A URL with any `user:password@` replaced by `***@`, fit to print.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Text with every URL in it redacted as [`redact_url`] does (a database URL in an
/// environment value, say), fit to print.
pub fn redact_urls_in(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("://") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at a path, query, fragment, space or quote.
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | '\\') || c.is_whitespace())
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***@");
                out.push_str(&tail[at + 1..end]);
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// [`redact_urls_in`] over every string of a JSON document.
pub fn redact_urls_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            if let std::borrow::Cow::Owned(r) = redact_urls_in(s) {
                *s = r;
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(redact_urls_json),
        serde_json::Value::Object(m) => m.values_mut().for_each(redact_urls_json),
        _ => {}
    }
}

/// The service clients and the identity they act as.
#[derive(Clone)]
pub struct Aws {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub apigateway: aws_sdk_apigateway::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// The shared state's bucket (`--state s3://...`).
    pub s3: aws_sdk_s3::Client,
    /// ACM in the API's region (a regional domain's certificate), and in us-east-1 (an edge
    /// domain's: CloudFront reads certificates there only).
    pub acm: aws_sdk_acm::Client,
    pub acm_edge: aws_sdk_acm::Client,
    /// Route53 (global; the SDK signs for us-east-1).
    pub route53: aws_sdk_route53::Client,
    sts: aws_sdk_sts::Client,
    /// Filled by `whoami` (or taken from the state, and checked against it).
    pub account: String,
    target: Target,
    limit: Duration,
    /// The credentials every client signs with (serve checks SigV4 requests against them).
    credentials: aws_credential_types::provider::SharedCredentialsProvider,
}

impl Aws {
    /// Loads the configuration and resolves credentials (bounded in time); no call to AWS.
    pub async fn clients(target: &Target, limit: Duration) -> Result<Aws, AwsError> {
        let imds = aws_config::imds::Client::builder()
            .connect_timeout(Duration::from_millis(300))
            .read_timeout(Duration::from_millis(500))
            .max_attempts(1)
            .build();
        let mut creds =
            aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                .region(Region::new(target.region.clone()))
                .imds_client(imds);
        if let Some(p) = &target.profile {
            creds = creds.profile_name(p);
        }
        let creds = match (&target.profile, target.profile_is_explicit) {
            // The AWS CLI's order: a profile on the command line before access keys in the
            // environment. A deploy must never go to the account the environment happens to
            // name when the user named another.
            (Some(p), true) => aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_config::profile::ProfileFileCredentialsProvider::builder()
                    .profile_name(p)
                    .build(),
            ),
            _ => {
                aws_credential_types::provider::SharedCredentialsProvider::new(creds.build().await)
            }
        };
        match tokio::time::timeout(limit, creds.provide_credentials()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if target.profile_is_explicit => {
                return Err(AwsError::local(
                    ErrorKind::NoCredentials,
                    format!(
                        "profile '{}' gives no usable AWS credentials ({}); check the name against ~/.aws/config and ~/.aws/credentials (aws configure list-profiles)",
                        target.profile.as_deref().unwrap_or_default(),
                        root_cause(&e)
                    ),
                ))
            }
            Ok(Err(e)) => {
                return Err(AwsError::local(
                    ErrorKind::NoCredentials,
                    format!(
                        "no usable AWS credentials ({}); set AWS_PROFILE (or --profile), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                        root_cause(&e)
                    ),
                ))
            }
            Err(_) => {
                return Err(AwsError::local(
                    ErrorKind::NoCredentials,
                    format!(
                        "no AWS credentials found within {} s; set AWS_PROFILE (or --profile), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                        limit.as_secs_f32()
                    ),
                ))
            }
        }
        let http = default_http_client();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http.clone())
            .region(Region::new(target.region.clone()))
            .credentials_provider(creds.clone())
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(p) = &target.profile {
            loader = loader.profile_name(p);
        }
        if let Some(e) = &target.endpoint {
            loader = loader.endpoint_url(e);
        }
        let config = loader.load().await;
        // Every API Gateway call of this run takes a token from one limiter first.
        let limiter = crate::throttle::Limiter::api_gateway(retry_scale());
        let apigateway = aws_sdk_apigateway::config::Builder::from(&config)
            .http_client(limiter.wrap(http))
            .interceptor(Fence);
        Ok(Aws {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&config)
                    .interceptor(Fence)
                    .build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(&config)
                    .interceptor(Fence)
                    .build(),
            ),
            lambda: aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::config::Builder::from(&config)
                    .interceptor(Fence)
                    .build(),
            ),
            apigateway: aws_sdk_apigateway::Client::from_conf(apigateway.build()),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf({
                let mut logs = aws_sdk_cloudwatchlogs::config::Builder::from(&config);
                logs = logs.interceptor(Fence);
                if target.endpoint.is_some() {
                    logs = logs.interceptor(NoHostPrefix);
                }
                logs.build()
            }),
            // An emulator answers on one host: path-style addressing (AWS takes both).
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&config)
                    .force_path_style(target.endpoint.is_some())
                    .build(),
            ),
            acm: aws_sdk_acm::Client::from_conf(
                aws_sdk_acm::config::Builder::from(&config)
                    .interceptor(Fence)
                    .build(),
            ),
            acm_edge: aws_sdk_acm::Client::from_conf(
                aws_sdk_acm::config::Builder::from(&config)
                    .region(Region::new("us-east-1"))
                    .interceptor(Fence)
                    .build(),
            ),
            route53: aws_sdk_route53::Client::from_conf(
                aws_sdk_route53::config::Builder::from(&config)
                    .interceptor(Fence)
                    .build(),
            ),
            sts: aws_sdk_sts::Client::new(&config),
            account: String::new(),
            target: target.clone(),
            limit,
            credentials: creds,
        })
    }

    /// The region the run's clients call (the stack's).
    pub fn region(&self) -> &str {
        &self.target.region
    }

    /// The credentials the clients sign with, resolved now (`None` when there are none).
    pub async fn signing_credentials(&self) -> Option<aws_credential_types::Credentials> {
        use aws_credential_types::provider::ProvideCredentials;
        tokio::time::timeout(self.limit, self.credentials.provide_credentials())
            .await
            .ok()?
            .ok()
    }

    /// The account id of the credentials in use (STS GetCallerIdentity), with clear messages
    /// for an endpoint that cannot be reached.
    pub async fn whoami(&self) -> Result<String, AwsError> {
        let identity = async {
            // A transient fault or throttling on this first call is retried briefly; a
            // refused connection is not (nothing listens there).
            let mut attempt = 0u32;
            loop {
                match self.sts.get_caller_identity().send().await {
                    Ok(o) => return Ok(o),
                    Err(e) => {
                        let e = AwsError::from_sdk("GetCallerIdentity", e);
                        let retriable =
                            matches!(e.kind, ErrorKind::Transient | ErrorKind::Throttled)
                                && !e.message.contains("Connection refused");
                        if !retriable || attempt >= 3 {
                            return Err(e);
                        }
                        tokio::time::sleep(Duration::from_millis(100 * 2u64.pow(attempt))).await;
                        attempt += 1;
                    }
                }
            }
        };
        let who = tokio::time::timeout(self.limit.max(Duration::from_secs(10)), identity)
            .await
            .map_err(|_| {
                AwsError::local(
                    ErrorKind::Unreachable,
                    format!(
                        "{} did not answer in time; check the network or --endpoint-url",
                        describe_endpoint(&self.target)
                    ),
                )
            })?
            .map_err(|e| match e.kind {
                ErrorKind::Transient | ErrorKind::Unreachable => AwsError::local(
                    ErrorKind::Unreachable,
                    format!(
                        "cannot reach {}: {}; check the network or --endpoint-url",
                        describe_endpoint(&self.target),
                        e.message
                    ),
                ),
                _ => e,
            })?;
        Ok(who.account().unwrap_or_default().to_string())
    }
}

/// What the SDK builds by default (hyper 1, rustls with aws-lc, the proxy settings of the
/// environment), built here so that one client can be shared and one wrapped.
fn default_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::{proxy::ProxyConfig, tls, Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut conn = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        conn.set_connector_settings(settings.cloned());
        if let Some(c) = components {
            conn.set_sleep_impl(c.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::from_env()));
        conn.build()
    })
}

fn describe_endpoint(target: &Target) -> String {
    match &target.endpoint {
        Some(e) => format!("endpoint {e}"),
        None => format!("AWS in {}", target.region),
    }
}

/// What the caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    Throttled,
    /// A concurrent modification or an operation still in progress: try again shortly.
    Busy,
    /// Lambda cannot assume a role that IAM has only just created.
    RoleNotAssumable,
    /// 5xx, time-outs, dropped connections.
    Transient,
    Unreachable,
    NoCredentials,
    AccessDenied,
    /// This run's lock lease ran out: it makes no more calls.
    Fenced,
    Other,
}

/// An AWS error reduced to what we act on and what we show.
#[derive(Debug, Clone)]
pub struct AwsError {
    pub kind: ErrorKind,
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.operation.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.operation, self.message)
        }
    }
}

impl std::error::Error for AwsError {}

/// The innermost cause of an error, by its Display (never Debug): "Connection refused (os
/// error 111)" rather than the SDK's nested dump.
pub fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        last = e.to_string();
        cur = e.source();
    }
    one_line(&last)
}

impl AwsError {
    pub fn local(kind: ErrorKind, message: String) -> Self {
        AwsError {
            kind,
            operation: "",
            code: None,
            message,
            request_id: None,
            status: None,
            retry_after: None,
        }
    }

    pub fn is(&self, kind: ErrorKind) -> bool {
        self.kind == kind
    }

    /// Classifies an SDK error of any operation.
    pub fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let retry_after = err
            .raw_response()
            .and_then(|r| r.headers().get("retry-after"))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(300.0)));
        let request_id = err
            .raw_response()
            .and_then(|r| {
                r.headers()
                    .get("x-amzn-requestid")
                    .or_else(|| r.headers().get("x-amz-request-id"))
            })
            .map(str::to_string);
        match &err {
            SdkError::ServiceError(_) => {
                let code = err.code().map(str::to_string);
                let message = err
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| code.clone().unwrap_or_else(|| "unknown error".into()));
                let kind = classify_for(operation, code.as_deref(), &message, status);
                AwsError {
                    kind,
                    operation,
                    code,
                    message: one_line(&message),
                    request_id,
                    status,
                    retry_after,
                }
            }
            SdkError::TimeoutError(_) => AwsError {
                kind: ErrorKind::Transient,
                operation,
                code: None,
                message: "the call timed out".into(),
                request_id,
                status,
                retry_after,
            },
            SdkError::DispatchFailure(d) => AwsError {
                // A connection refused, reset or closed mid-request: try again. Only a request
                // we could not build (a user error) is final.
                kind: if d.is_user() {
                    ErrorKind::Other
                } else {
                    ErrorKind::Transient
                },
                operation,
                code: None,
                message: format!("the request could not be sent ({})", root_cause(&err)),
                request_id,
                status,
                retry_after,
            },
            SdkError::ResponseError(_) => AwsError {
                // The connection dropped mid-answer, or the answer was unreadable.
                kind: ErrorKind::Transient,
                operation,
                code: None,
                message: format!("the answer could not be read ({})", root_cause(&err)),
                request_id,
                status,
                retry_after,
            },
            _ => AwsError {
                kind: ErrorKind::Other,
                operation,
                code: err.code().map(str::to_string),
                message: root_cause(&err),
                request_id,
                status,
                retry_after,
            },
        }
    }

    /// One line with the request id, for `-v`.
    pub fn detail(&self) -> String {
        format!(
            "{} (code {}, HTTP {}, request id {})",
            self,
            self.code.as_deref().unwrap_or("-"),
            self.status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            self.request_id.as_deref().unwrap_or("-")
        )
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Maps an error code and message to what we do about it (docs/aws.md, "Eventual consistency and concurrent changes" and "Error codes").
pub fn classify(code: Option<&str>, message: &str, status: Option<u16>) -> ErrorKind {
    let lower = message.to_ascii_lowercase();
    match code.unwrap_or("") {
        "ResourceNotFoundException"
        | "NoSuchEntity"
        | "NotFoundException"
        | "NoSuchHostedZone"
        | "NoSuchChange" => ErrorKind::NotFound,
        "ResourceInUseException" => ErrorKind::AlreadyExists,
        "EntityAlreadyExists" | "ResourceAlreadyExistsException" => ErrorKind::AlreadyExists,
        // Route53: a change to the zone is still being applied; ACM: the certificate is still
        // being made.
        "OperationAbortedException" | "PriorRequestNotComplete" | "RequestInProgressException" => {
            ErrorKind::Busy
        }
        "ResourceConflictException" => {
            if lower.contains("in progress") || lower.contains("cannot be performed at this time") {
                ErrorKind::Busy
            } else {
                ErrorKind::AlreadyExists
            }
        }
        "ConflictException" => {
            if lower.contains("concurrent modification") || lower.contains("try again") {
                ErrorKind::Busy
            } else {
                ErrorKind::AlreadyExists
            }
        }
        // DeleteRole right after its policies came off: IAM may not have caught up yet.
        "ConcurrentModification" | "ConcurrentModificationException" | "DeleteConflict" => {
            ErrorKind::Busy
        }
        "TooManyRequestsException"
        | "ThrottlingException"
        | "Throttling"
        | "ThrottledException"
        | "RequestLimitExceeded"
        | "ProvisionedThroughputExceededException"
        | "LimitExceededException" => ErrorKind::Throttled,
        "InvalidParameterValueException"
            if lower.contains("cannot be assumed by lambda")
                || lower.contains("does not have permissions") =>
        {
            ErrorKind::RoleNotAssumable
        }
        "AccessDenied"
        | "AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "SignatureDoesNotMatch" => ErrorKind::AccessDenied,
        "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "InternalFailure"
        | "InternalServerError"
        | "InternalServerErrorException"
        | "ServiceException"
        | "ServiceFailure" => ErrorKind::Transient,
        _ => match status {
            Some(429) => ErrorKind::Throttled,
            Some(500 | 502 | 503 | 504) => ErrorKind::Transient,
            _ => ErrorKind::Other,
        },
    }
}

/// DynamoDB's and CloudWatch Logs' calls, whose `LimitExceededException` is a hard limit (a
/// table switched between billing modes too often in a day, too many log groups), not
/// throttling: retrying it only waits out the policy. API Gateway's is its rate limit.
/// docs/aws.md, "Errors that are final".
const HARD_LIMIT_OPERATIONS: [&str; 11] = [
    // ACM's is the account's number of certificates (a year's quota), not a rate.
    "RequestCertificate",
    "CreateTable",
    "UpdateTable",
    "DeleteTable",
    "DescribeTable",
    "ListTagsOfResource",
    "CreateLogGroup",
    "DeleteLogGroup",
    "DescribeLogGroups",
    "PutRetentionPolicy",
    "ListTagsForResource",
];

/// [`classify`], knowing the operation: a `LimitExceededException` of DynamoDB or CloudWatch
/// Logs is final.
pub fn classify_for(
    operation: &str,
    code: Option<&str>,
    message: &str,
    status: Option<u16>,
) -> ErrorKind {
    if code == Some("LimitExceededException") && HARD_LIMIT_OPERATIONS.contains(&operation) {
        return ErrorKind::Other;
    }
    classify(code, message, status)
}

/// `SERVERLESS_CLI_RETRY_SCALE`: a factor from 0 to 1 that shortens every wait (retry
/// backoff, `Retry-After`, the rate limiter), for tests; 1.0 otherwise.
pub fn retry_scale() -> f64 {
    std::env::var("SERVERLESS_CLI_RETRY_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f > 0.0 && *f <= 1.0)
        .unwrap_or(1.0)
}

/// A random number in [0, 1): enough to spread retries apart (the standard library's
/// randomly keyed hasher, fed the time and a counter; no crate needed).
pub fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// How long and how often to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Give up once this much time has passed since the first attempt.
    pub max_elapsed: Duration,
    /// ... or this much, for a transient fault (an internal error, a 5xx): a service that
    /// fails this long is down, and waiting longer only hides it.
    pub max_transient: Duration,
    /// First backoff; doubles up to `max_backoff`.
    pub base: Duration,
    pub max_backoff: Duration,
    /// Multiplies the waits that AWS asks for with `Retry-After` (1.0; tests shorten it).
    pub retry_after_scale: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_elapsed: Duration::from_secs(180),
            max_transient: Duration::from_secs(30),
            base: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            retry_after_scale: 1.0,
        }
    }
}

impl RetryPolicy {
    /// The longest backoff before attempt `attempt + 1`: doubling, capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(16));
        self.base.saturating_mul(factor).min(self.max_backoff)
    }

    /// The wait before the next attempt, given a random `r` in [0, 1). AWS's `Retry-After`
    /// is honoured with at least `base` (a `Retry-After: 0` is no reason to hammer) plus up to
    /// `base` more; otherwise "equal jitter": half the backoff, plus up to the other half. So
    /// calls throttled together do not retry together.
    pub fn wait(&self, attempt: u32, retry_after: Option<Duration>, r: f64) -> Duration {
        let r = r.clamp(0.0, 1.0);
        match retry_after {
            Some(after) => {
                after.mul_f64(self.retry_after_scale).max(self.base) + self.base.mul_f64(r)
            }
            None => {
                let b = self.backoff(attempt);
                b / 2 + (b / 2).mul_f64(r)
            }
        }
    }
}

/// Runs an AWS call, retrying throttling, busy resources and transient faults until the
/// policy's time runs out. Waits honour `Retry-After` and are reported on `progress`.
pub async fn retry<T, F, Fut>(
    policy: &RetryPolicy,
    progress: &Progress,
    step: &str,
    mut call: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let start = Instant::now();
    let mut attempt = 0u32;
    loop {
        // A run whose lock was taken over, or whose lease may have run out, makes no more
        // calls: checked before every attempt, and a wait ends the moment it is known.
        if let Err(why) = crate::lease::check_lease() {
            return Err(AwsError::local(ErrorKind::Fenced, why));
        }
        match call().await {
            Ok(v) => return Ok(v),
            Err(e)
                if matches!(
                    e.kind,
                    ErrorKind::Throttled | ErrorKind::Busy | ErrorKind::Transient
                ) =>
            {
                let wait = policy.wait(attempt, e.retry_after, jitter());
                let limit = if e.kind == ErrorKind::Transient {
                    policy.max_elapsed.min(policy.max_transient)
                } else {
                    policy.max_elapsed
                };
                if start.elapsed() + wait > limit {
                    return Err(e);
                }
                // The first tries each say so; after that one line in four, with the count,
                // so a long wait reads as one story and not a page of lines.
                if attempt >= 3 && !attempt.is_multiple_of(4) {
                    pause(wait).await;
                    attempt += 1;
                    continue;
                }
                let said = e.code.clone().unwrap_or_else(|| match e.kind {
                    ErrorKind::Transient => format!("a transient fault ({})", e.message),
                    _ => "busy".to_string(),
                });
                let after = e
                    .retry_after
                    .map(|a| format!(" with Retry-After {} s", a.as_secs_f64()))
                    .unwrap_or_default();
                progress.note(
                    step,
                    &format!(
                        "{} answered {said}{after}; retrying in {:.1} s (try {}, {:.0} s so far, giving up after {:.0} s)",
                        e.operation,
                        wait.as_secs_f64(),
                        attempt + 1,
                        start.elapsed().as_secs_f64(),
                        limit.as_secs_f64()
                    ),
                );
                pause(wait).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A retry's wait, cut short when the run's lock is taken over.
async fn pause(wait: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = crate::lease::fenced() => {}
    }
}

/// Refuses to send any call of a service the stack is made of once this run's lock is
/// another's, or its lease may have run out (`lease::check_lease`): every path to AWS,
/// retried or not, stops there. (The state's own S3 client is not fenced: it is how a run
/// learns that it lost its lock, and it writes nothing once it has.)
#[derive(Debug)]
struct Fence;

impl aws_smithy_runtime_api::client::interceptors::Intercept for Fence {
    fn name(&self) -> &'static str {
        "Fence"
    }
    fn read_before_execution(
        &self,
        _: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        _: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        crate::lease::check_lease().map_err(Into::into)
    }
}

/// Leaves out the host prefix an operation's model adds to the endpoint (StartLiveTail's
/// `stream-`) when the endpoint is one the user gave (an emulator's `127.0.0.1`): the prefix
/// is for AWS's own host names, and `stream-127.0.0.1` is no host at all.
#[derive(Debug)]
struct NoHostPrefix;

impl aws_smithy_runtime_api::client::interceptors::Intercept for NoHostPrefix {
    fn name(&self) -> &'static str {
        "NoHostPrefix"
    }
    fn read_after_serialization(
        &self,
        _: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        cfg.interceptor_state()
            .unset::<aws_smithy_runtime_api::client::endpoint::EndpointPrefix>();
        Ok(())
    }
}

/// Makes calls with a retry policy, reporting waits on a progress handle.
#[derive(Clone)]
pub struct Caller {
    pub aws: Aws,
    pub policy: RetryPolicy,
    pub progress: Progress,
}

impl Caller {
    pub async fn call<T, F, Fut>(&self, step: &str, f: F) -> Result<T, AwsError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, AwsError>>,
    {
        retry(&self.policy, &self.progress, step, f).await
    }
}

/// Polls `check` until it answers `Some`, starting at `first` and backing off by half up to
/// `max_interval`, for at most `limit`. A resource ready in 50 ms is not waited on for seconds.
pub async fn poll<T, F, Fut>(
    limit: Duration,
    first: Duration,
    max_interval: Duration,
    mut check: F,
) -> Result<Option<T>, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, AwsError>>,
{
    let start = Instant::now();
    let mut interval = first;
    loop {
        if let Some(v) = check().await? {
            return Ok(Some(v));
        }
        if start.elapsed() + interval > limit {
            return Ok(None);
        }
        tokio::time::sleep(interval).await;
        interval = (interval + interval / 2).min(max_interval);
    }
}

/// Percent-decodes IAM's URL-encoded policy documents.
pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Compares two JSON documents by value (policy documents come back reformatted).
pub fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_documented_errors() {
        assert_eq!(
            classify(
                Some("InvalidParameterValueException"),
                "The role defined for the function cannot be assumed by Lambda.",
                Some(400)
            ),
            ErrorKind::RoleNotAssumable
        );
        assert_eq!(
            classify(
                Some("ConflictException"),
                "Unable to complete operation due to concurrent modification. Please try again later.",
                Some(409)
            ),
            ErrorKind::Busy
        );
        assert_eq!(
            classify(
                Some("ConflictException"),
                "Method already exists for this resource",
                Some(409)
            ),
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            classify(
                Some("ResourceConflictException"),
                "Function already exist: f",
                Some(409)
            ),
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            classify(
                Some("ResourceConflictException"),
                "The operation cannot be performed at this time. An update is in progress",
                Some(409)
            ),
            ErrorKind::Busy
        );
        assert_eq!(
            classify(Some("TooManyRequestsException"), "", Some(429)),
            ErrorKind::Throttled
        );
        assert_eq!(
            classify(Some("NoSuchEntity"), "", Some(404)),
            ErrorKind::NotFound
        );
        assert_eq!(classify(None, "", Some(503)), ErrorKind::Transient);
        // A hard limit of DynamoDB or CloudWatch Logs is final; API Gateway's is its rate.
        for op in ["UpdateTable", "CreateLogGroup"] {
            assert_eq!(
                classify_for(op, Some("LimitExceededException"), "", Some(400)),
                ErrorKind::Other,
                "{op}"
            );
        }
        assert_eq!(
            classify_for("PutMethod", Some("LimitExceededException"), "", Some(429)),
            ErrorKind::Throttled
        );
        assert_eq!(
            classify(Some("ValidationException"), "x", Some(400)),
            ErrorKind::Other
        );
    }

    #[test]
    fn a_transient_fault_is_retried_for_a_bounded_time_and_a_hard_limit_not_at_all() {
        let p = RetryPolicy {
            max_elapsed: Duration::from_secs(180),
            max_transient: Duration::from_millis(300),
            base: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
            retry_after_scale: 1.0,
        };
        let fail = |kind: ErrorKind| AwsError {
            kind,
            operation: "UpdateTable",
            code: None,
            message: "x".into(),
            request_id: None,
            status: None,
            retry_after: None,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let progress = Progress::silent();
        let tries = std::cell::Cell::new(0);
        let started = Instant::now();
        let out: Result<(), AwsError> = rt.block_on(retry(&p, &progress, "t", || {
            tries.set(tries.get() + 1);
            async { Err(fail(ErrorKind::Transient)) }
        }));
        assert!(out.is_err());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(tries.get() > 2, "{}", tries.get());
        tries.set(0);
        let out: Result<(), AwsError> = rt.block_on(retry(&p, &progress, "t", || {
            tries.set(tries.get() + 1);
            async { Err(fail(ErrorKind::Other)) }
        }));
        assert!(out.is_err());
        assert_eq!(tries.get(), 1);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            max_elapsed: Duration::from_secs(1),
            max_transient: Duration::from_secs(1),
            base: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            retry_after_scale: 1.0,
        };
        assert_eq!(p.backoff(0), Duration::from_millis(100));
        assert_eq!(p.backoff(2), Duration::from_millis(400));
        assert_eq!(p.backoff(10), Duration::from_millis(500));
    }

    #[test]
    fn waits_are_jittered_and_retry_after_zero_has_a_floor() {
        let p = RetryPolicy {
            max_elapsed: Duration::from_secs(1),
            max_transient: Duration::from_secs(1),
            base: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            retry_after_scale: 1.0,
        };
        // Equal jitter: between half the backoff and the whole of it.
        assert_eq!(p.wait(2, None, 0.0), Duration::from_millis(400));
        assert!(p.wait(2, None, 0.999_999) < Duration::from_millis(800));
        assert!(p.wait(2, None, 0.999_999) > Duration::from_millis(799));
        // Retry-After is honoured, never below the floor, plus up to one base of spread.
        assert_eq!(
            p.wait(0, Some(Duration::ZERO), 0.0),
            Duration::from_millis(200)
        );
        assert_eq!(
            p.wait(0, Some(Duration::from_secs(3)), 0.5),
            Duration::from_millis(3100)
        );
        // Two callers with different draws wait different times.
        assert_ne!(p.wait(3, None, 0.1), p.wait(3, None, 0.9));
        let draws: Vec<f64> = (0..100).map(|_| jitter()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let distinct: std::collections::BTreeSet<u64> = draws.iter().map(|d| d.to_bits()).collect();
        assert!(distinct.len() > 90);
    }

    #[test]
    fn decodes_iam_policy_documents() {
        assert_eq!(url_decode("%7B%22a%22%3A1%7D"), "{\"a\":1}");
        assert_eq!(url_decode("100%"), "100%");
        assert!(same_json("{\"a\": [1, 2]}", "{\"a\":[1,2]}"));
        assert!(!same_json("{\"a\": 1}", "{\"a\": 2}"));
    }

    #[test]
    fn endpoints_are_checked() {
        assert_eq!(
            resolve_endpoint(Some("http://127.0.0.1:5000/")).unwrap(),
            Some("http://127.0.0.1:5000".to_string())
        );
        assert!(resolve_endpoint(Some("localhost:5000")).is_err());
        let secret = resolve_endpoint(Some("http://user:hunter2@127.0.0.1:5000")).unwrap_err();
        assert!(secret.contains("carries credentials"), "{secret}");
        assert!(!secret.contains("hunter2"), "{secret}");
        assert!(resolve_endpoint(Some("http://127.0.0.1:5000/?x=1")).is_err());
        assert_eq!(
            redact_url("https://a:b@host/p?q=c@d"),
            "https://***@host/p?q=c@d"
        );
        assert_eq!(redact_url("http://host:1/x"), "http://host:1/x");
        assert_eq!(
            redact_urls_in(r#"{"DB": "postgres://app:hunter2@db:5432/x", "U": "https://h/p"}"#),
            r#"{"DB": "postgres://***@db:5432/x", "U": "https://h/p"}"#
        );
        let mut doc = serde_json::json!({"after": {"env": {"DB": "mysql://u:p%40ss@h/x"}}});
        redact_urls_json(&mut doc);
        assert_eq!(doc["after"]["env"]["DB"], "mysql://***@h/x");
        assert!(resolve_endpoint(Some("http://")).is_err());
    }
}
