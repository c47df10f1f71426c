//! `[api_keys]`, `[usage_plans]`, `[authorizers]` and the routes' `api_key`, `authorizer` and
//! `scopes`: their file form, the model they make ([`crate::auth`]), and their checks.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::check::{Problem, Seg};
use super::FileDoc;
use crate::auth::{
    self, ApiKeySpec, AuthSpec, AuthorizerKind, AuthorizerSpec, Authorizing, Period, Quota,
    RouteAuth, Throttle, UsagePlanSpec,
};

/// `[api_keys.NAME]`: an API key API Gateway makes. Its value is AWS's: read it with
/// `serverless-cli api-key NAME`; it is never written to the state, the journal or a log.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyDoc {
    /// Its name in API Gateway; `${stack}` and `${project}` are replaced. Default
    /// `<project>-<NAME>-<stack>`.
    pub name: Option<String>,
    /// A disabled key is refused (403) as an unknown one is. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// Requests per second, and the burst (a token bucket).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThrottleDoc {
    pub rate: f64,
    pub burst: i32,
}

/// How many requests a key may make in a period.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaDoc {
    pub limit: i32,
    pub period: Period,
    /// Days the period starts after its first (WEEK 0-6, MONTH 0-27; DAY 0). Default 0.
    #[serde(default)]
    pub offset: i32,
}

/// `[usage_plans.NAME]`: its keys' throttle and quota on this stack's stage.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsagePlanDoc {
    /// Its name in API Gateway; `${stack}` and `${project}` are replaced. Default
    /// `<project>-<NAME>-<stack>`.
    pub name: Option<String>,
    pub throttle: Option<ThrottleDoc>,
    pub quota: Option<QuotaDoc>,
    /// The keys (of `[api_keys]`) it meters.
    #[serde(default)]
    pub keys: Vec<String>,
    /// A throttle of its own for some routes: `{ "GET /orders" = { rate = 1, burst = 2 } }`.
    #[serde(default)]
    pub method_throttles: BTreeMap<String, ThrottleDoc>,
}

/// `cognito`, `token` or `request`.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthorizerType {
    Cognito,
    Token,
    Request,
}

/// `[authorizers.NAME]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizerDoc {
    /// `cognito` (a user pool's tokens), `token` (a function of this file given the token),
    /// or `request` (a function given the request's headers, query and more).
    #[serde(rename = "type")]
    pub kind: AuthorizerType,
    /// cognito: the user pool's ARN (`arn:aws:cognito-idp:REGION:ACCOUNT:userpool/ID`).
    pub user_pool_arn: Option<String>,
    /// cognito: several pools instead of one.
    pub user_pool_arns: Option<Vec<String>>,
    /// token, request: the function (of `[functions]`) that answers.
    pub function: Option<String>,
    /// Where the identity is: `method.request.header.Authorization` (the default for
    /// cognito and token); for request a comma-separated list of
    /// `method.request.header.X`, `method.request.querystring.x`, `stageVariables.x` or
    /// `context.x`. A request missing one is refused 401 without calling the function.
    pub identity_source: Option<String>,
    /// token: a regex the token must match (whole), else 401 without calling the function.
    pub identity_validation: Option<String>,
    /// How long an answer is kept, by identity source (0-3600; 0: not kept). Default 300.
    pub ttl_secs: Option<i32>,
}

/// The default identity source.
pub const AUTHORIZATION_HEADER: &str = "method.request.header.Authorization";
/// API Gateway's default result TTL.
pub const DEFAULT_TTL_SECS: i32 = 300;

/// `[try_users.NAME]`: a user of a cognito authorizer's pool that `try` signs in as
/// (Cognito's `InitiateAuth`, USER_PASSWORD_AUTH, with the app client named here). The
/// password is read from an environment variable at run time: never in the file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TryUserDoc {
    /// The cognito authorizer (of `[authorizers]`) whose pool the user is in; the token goes
    /// in its header.
    pub authorizer: String,
    /// The pool's app client that allows USER_PASSWORD_AUTH (an app client id is not a
    /// secret: apps ship it). A client with a secret cannot be used.
    pub client_id: String,
    pub username: String,
    /// The environment variable holding the password (e.g. `TRY_USER_PASSWORD`).
    pub password_env: String,
}

/// Which token of a signed-in user a `[[try]]` request sends.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TokenUse {
    #[default]
    Id,
    Access,
}

/// The model of the file's keys, plans and authorizers (`named` gives a resource's name from
/// its `name` field or the default for a logical name).
pub fn spec(doc: &FileDoc, named: impl Fn(&Option<String>, &str) -> String) -> AuthSpec {
    let throttle = |t: &ThrottleDoc| Throttle {
        rate: t.rate,
        burst: t.burst,
    };
    AuthSpec {
        api_keys: doc
            .api_keys
            .iter()
            .map(|(logical, k)| ApiKeySpec {
                logical: logical.clone(),
                name: named(&k.name, logical),
                enabled: k.enabled,
            })
            .collect(),
        usage_plans: doc
            .usage_plans
            .iter()
            .map(|(logical, u)| {
                let mut keys = u.keys.clone();
                keys.sort();
                keys.dedup();
                UsagePlanSpec {
                    logical: logical.clone(),
                    name: named(&u.name, logical),
                    throttle: u.throttle.as_ref().map(throttle),
                    quota: u.quota.map(|q| Quota {
                        limit: q.limit,
                        period: q.period,
                        offset: q.offset,
                    }),
                    keys,
                    method_throttles: u
                        .method_throttles
                        .iter()
                        .map(|(r, t)| (route_label(r), throttle(t)))
                        .collect(),
                }
            })
            .collect(),
        authorizers: doc
            .authorizers
            .iter()
            .map(|(logical, a)| AuthorizerSpec {
                logical: logical.clone(),
                name: logical.clone(),
                kind: match a.kind {
                    AuthorizerType::Cognito => AuthorizerKind::Cognito {
                        user_pools: a
                            .user_pool_arn
                            .iter()
                            .chain(a.user_pool_arns.iter().flatten())
                            .cloned()
                            .collect(),
                    },
                    AuthorizerType::Token => AuthorizerKind::Token {
                        function: a.function.clone().unwrap_or_default(),
                        validation: a.identity_validation.clone(),
                    },
                    AuthorizerType::Request => AuthorizerKind::Request {
                        function: a.function.clone().unwrap_or_default(),
                    },
                },
                identity_source: a
                    .identity_source
                    .clone()
                    .unwrap_or_else(|| AUTHORIZATION_HEADER.to_string())
                    .split(',')
                    .map(str::trim)
                    .collect::<Vec<_>>()
                    .join(", "),
                ttl_secs: a.ttl_secs.unwrap_or(DEFAULT_TTL_SECS),
            })
            .collect(),
    }
}

/// `get  /orders` as `GET /orders`.
fn route_label(r: &str) -> String {
    let mut parts = r.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(m), Some(p)) => format!("{} {p}", m.to_ascii_uppercase()),
        _ => r.to_string(),
    }
}

/// A route's demands.
pub fn route_auth(r: &super::RouteDoc) -> RouteAuth {
    RouteAuth {
        api_key: r.api_key,
        authorizer: r.authorizer.as_ref().map(|a| {
            if a == auth::IAM {
                Authorizing::Iam
            } else {
                Authorizing::Named(a.clone())
            }
        }),
        scopes: r.scopes.clone(),
    }
}

macro_rules! at {
    ($($s:expr),* $(,)?) => { vec![$(Seg::from($s)),*] };
}

/// What API Gateway would refuse, or what could never let a request through.
pub fn check(doc: &FileDoc, spec: &crate::stack::StackSpec, out: &mut Vec<Problem>) {
    let mut p = |at: Vec<Seg>, message: String| out.push(Problem { at, message });
    for (section, list) in [
        ("api_keys", doc.api_keys.keys().collect::<Vec<_>>()),
        ("usage_plans", doc.usage_plans.keys().collect()),
        ("authorizers", doc.authorizers.keys().collect()),
    ] {
        for n in list {
            if !super::check::logical_ok(n) || n == auth::IAM {
                p(at![section, n], format!("'{n}' is not a usable name: use 1 to 24 lower-case letters, digits, '-' or '_', starting with a letter{}", if n == auth::IAM { " ('iam' means IAM authorization on a route)" } else { "" }));
            }
        }
    }
    for k in &spec.auth.api_keys {
        if k.name.is_empty() || k.name.len() > 128 || k.name.chars().any(|c| c.is_control()) {
            p(
                at!["api_keys", &k.logical, "name"],
                "an API key's name is 1 to 128 characters, none of them control characters".into(),
            );
        }
        let plans: Vec<&str> = spec
            .auth
            .usage_plans
            .iter()
            .filter(|u| u.keys.contains(&k.logical))
            .map(|u| u.logical.as_str())
            .collect();
        if plans.is_empty() {
            p(at!["api_keys", &k.logical], format!("API key '{}' is in no usage plan, so API Gateway would refuse it on every route; add it to a plan's keys (keys = [\"{}\"])", k.logical, k.logical));
        }
        // Every plan of the stack is on its one stage, and API Gateway takes a key in one
        // plan per stage (CreateUsagePlanKey answers a conflict for the second).
        if plans.len() > 1 {
            p(at!["api_keys", &k.logical], format!("API key '{}' is in the usage plans {}, and a key can be in one plan of a stage only (API Gateway refuses the second); keep it in one plan's keys", k.logical, plans.join(" and ")));
        }
    }
    for (logical, u) in &doc.usage_plans {
        let at_plan = |field: &str| at!["usage_plans", logical, field];
        if spec.routes.is_empty() {
            p(at!["usage_plans", logical], "a usage plan meters a stage, and this stack has none (no routes); add routes or remove the plan".into());
        }
        for (i, k) in u.keys.iter().enumerate() {
            if !doc.api_keys.contains_key(k) {
                p(at!["usage_plans", logical, "keys", i], format!("no API key '{k}' in [api_keys] (defined: {}); add [api_keys.{k}] or fix the name", super::check::names_of(doc.api_keys.keys())));
            }
        }
        if let Some(t) = &u.throttle {
            for why in throttle_problems(t) {
                p(at_plan("throttle"), why);
            }
        }
        for (route, t) in &u.method_throttles {
            let label = route_label(route);
            if !spec.routes.iter().any(|r| r.label() == label) {
                let routes: Vec<String> = spec
                    .routes
                    .iter()
                    .filter(|r| r.http_method != "OPTIONS")
                    .map(|r| r.label())
                    .collect();
                p(
                    at!["usage_plans", logical, "method_throttles", route],
                    format!(
                        "'{route}' is not a route of this file; name one as \"METHOD /path\" ({})",
                        routes.join(", ")
                    ),
                );
            }
            for why in throttle_problems(t) {
                p(at!["usage_plans", logical, "method_throttles", route], why);
            }
        }
        if let Some(q) = &u.quota {
            if q.limit <= 0 {
                p(
                    at!["usage_plans", logical, "quota", "limit"],
                    format!(
                        "limit {} is out of range: at least 1 request a period",
                        q.limit
                    ),
                );
            }
            let max_offset = match q.period {
                Period::Day => 0,
                Period::Week => 6,
                Period::Month => 27,
            };
            if !(0..=max_offset).contains(&q.offset) {
                p(
                    at!["usage_plans", logical, "quota", "offset"],
                    format!(
                        "offset {} is out of range for {}: 0 to {max_offset}",
                        q.offset,
                        q.period.api_name()
                    ),
                );
            }
        }
    }
    for (logical, a) in &doc.authorizers {
        let at_a = |field: &str| at!["authorizers", logical, field];
        let function_needed = a.kind != AuthorizerType::Cognito;
        match (&a.function, function_needed) {
            (Some(f), true) if !doc.functions.contains_key(f) => p(at_a("function"), format!("no function '{f}' in [functions] (defined: {}); add [functions.{f}] or fix the name", super::check::names_of(doc.functions.keys()))),
            (None, true) => p(at_a("function"), format!("a {} authorizer runs a function of this file; add function = \"NAME\"", if a.kind == AuthorizerType::Token { "token" } else { "request" })),
            (Some(_), false) => p(at_a("function"), "a cognito authorizer checks the user pool's tokens itself; remove function (or use type = \"token\")".into()),
            _ => {}
        }
        if a.kind == AuthorizerType::Cognito {
            let pools: Vec<&String> = a
                .user_pool_arn
                .iter()
                .chain(a.user_pool_arns.iter().flatten())
                .collect();
            if pools.is_empty() {
                p(at!["authorizers", logical], "a cognito authorizer names its user pool: add user_pool_arn = \"arn:aws:cognito-idp:REGION:ACCOUNT:userpool/ID\"".into());
            }
            for arn in pools {
                if auth::user_pool_of(arn).is_none() {
                    p(at_a("user_pool_arn"), format!("'{}' is not a user pool's ARN; give arn:aws:cognito-idp:REGION:ACCOUNT:userpool/REGION_ID", crate::report::printable(arn)));
                }
            }
        } else if a.user_pool_arn.is_some() || a.user_pool_arns.is_some() {
            p(
                at_a("user_pool_arn"),
                "only a cognito authorizer names a user pool; remove it or use type = \"cognito\""
                    .into(),
            );
        }
        if a.identity_validation.is_some() && a.kind != AuthorizerType::Token {
            p(at_a("identity_validation"), "only a token authorizer checks the token against a regex; remove identity_validation".into());
        }
        if let Some(re) = &a.identity_validation {
            if re.len() > 1024 || regex_lite::Regex::new(re).is_err() {
                p(
                    at_a("identity_validation"),
                    "not a regex this tool can check (at most 1024 characters, standard syntax)"
                        .into(),
                );
            }
        }
        if let Some(src) = &a.identity_source {
            let sources: Vec<&str> = src.split(',').map(str::trim).collect();
            if a.kind != AuthorizerType::Request
                && (sources.len() != 1 || !sources[0].starts_with("method.request.header."))
            {
                p(
                    at_a("identity_source"),
                    "a cognito or token authorizer reads one header: method.request.header.NAME"
                        .into(),
                );
            }
            for s in &sources {
                if !identity_source_ok(s) {
                    p(at_a("identity_source"), format!("'{}' is not an identity source: use method.request.header.NAME, method.request.querystring.NAME, stageVariables.NAME or context.NAME, separated by commas", crate::report::printable(s)));
                }
            }
        }
        if let Some(t) = a.ttl_secs {
            if !(0..=3600).contains(&t) {
                p(
                    at_a("ttl_secs"),
                    format!("{t} is out of range: 0 to 3600 seconds (0: answers are not kept)"),
                );
            }
        }
    }
    for (i, r) in doc.routes.iter().enumerate() {
        match &r.authorizer {
            Some(a) if a != auth::IAM && !doc.authorizers.contains_key(a) => p(at!["routes", i, "authorizer"], format!("no authorizer '{a}' in [authorizers] (defined: {}); add [authorizers.{a}], fix the name, or use \"iam\"", super::check::names_of(doc.authorizers.keys()))),
            _ => {}
        }
        if !r.scopes.is_empty() {
            let cognito = r
                .authorizer
                .as_ref()
                .and_then(|a| doc.authorizers.get(a))
                .is_some_and(|a| a.kind == AuthorizerType::Cognito);
            if !cognito {
                p(at!["routes", i, "scopes"], "scopes are checked by a cognito authorizer only; remove scopes, or name a cognito authorizer".into());
            }
            for s in &r.scopes {
                if s.is_empty()
                    || s.len() > 256
                    || s.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    p(
                        at!["routes", i, "scopes"],
                        "a scope is 1 to 256 characters without spaces (resource-server/scope)"
                            .into(),
                    );
                }
            }
        }
        if r.api_key && doc.usage_plans.is_empty() {
            p(at!["routes", i, "api_key"], "this route takes an API key, and no usage plan makes one valid; add [api_keys.NAME] and [usage_plans.NAME] with keys = [\"NAME\"]".into());
        }
    }
    check_try(doc, &mut p);
}

/// `[try_users]` and the `[[try]]` requests' `api_key`, `user` and `token`.
fn check_try(doc: &FileDoc, p: &mut impl FnMut(Vec<Seg>, String)) {
    for (name, u) in &doc.try_users {
        let at_u = |field: &str| at!["try_users", name, field];
        if !super::check::logical_ok(name) {
            p(at!["try_users", name], format!("'{}' is not a usable name: use 1 to 24 lower-case letters, digits, '-' or '_', starting with a letter", crate::report::printable(name)));
        }
        let cognito = doc
            .authorizers
            .get(&u.authorizer)
            .is_some_and(|a| a.kind == AuthorizerType::Cognito);
        if !cognito {
            let cognitos: Vec<&String> = doc
                .authorizers
                .iter()
                .filter(|(_, a)| a.kind == AuthorizerType::Cognito)
                .map(|(n, _)| n)
                .collect();
            p(at_u("authorizer"), format!("'{}' is not a cognito authorizer of this file (cognito authorizers: {}); name the one whose pool the user is in", crate::report::printable(&u.authorizer), super::check::names_of(cognitos.into_iter())));
        }
        // Cognito's ClientId: 1-128 word characters and '+'.
        if u.client_id.is_empty()
            || u.client_id.len() > 128
            || !u
                .client_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '+')
        {
            p(at_u("client_id"), "not an app client id: 1 to 128 letters, digits, '_' or '+' (the pool's app client that allows USER_PASSWORD_AUTH)".into());
        }
        if u.username.is_empty()
            || u.username.len() > 128
            || u.username.chars().any(char::is_control)
        {
            p(
                at_u("username"),
                "a user name is 1 to 128 characters, none of them control characters".into(),
            );
        }
        let env_ok = !u.password_env.is_empty()
            && u.password_env.len() <= 128
            && u.password_env
                .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && u.password_env
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !env_ok {
            p(at_u("password_env"), format!("'{}' is not an environment variable's name (letters, digits and '_'); name the variable that holds the password, e.g. TRY_USER_PASSWORD", crate::report::printable(&u.password_env)));
        }
    }
    for (i, t) in doc.tries.iter().enumerate() {
        if let Some(k) = &t.api_key {
            if !doc.api_keys.contains_key(k) {
                p(
                    at!["try", i, "api_key"],
                    format!(
                        "no API key '{}' in [api_keys] (defined: {}); name one of them",
                        crate::report::printable(k),
                        super::check::names_of(doc.api_keys.keys())
                    ),
                );
            }
        }
        if let Some(u) = &t.user {
            if !doc.try_users.contains_key(u) {
                p(at!["try", i, "user"], format!("no user '{}' in [try_users] (defined: {}); add [try_users.{}] (authorizer, client_id, username, password_env)", crate::report::printable(u), super::check::names_of(doc.try_users.keys()), crate::report::printable(u)));
            }
        } else if t.token.is_some() {
            p(at!["try", i, "token"], "token picks which of a user's tokens to send; add user = \"NAME\" (of [try_users]) or remove token".into());
        }
    }
}

fn throttle_problems(t: &ThrottleDoc) -> Vec<String> {
    let mut out = Vec::new();
    if !(t.rate.is_finite() && t.rate > 0.0 && t.rate <= 10_000.0) {
        out.push(format!("rate {} is out of range: requests per second, more than 0 and at most 10000 (the account's own limit)", t.rate));
    }
    if !(0..=5000).contains(&t.burst) {
        out.push(format!(
            "burst {} is out of range: 0 to 5000 (the account's own limit)",
            t.burst
        ));
    }
    out
}

fn identity_source_ok(s: &str) -> bool {
    let name = [
        "method.request.header.",
        "method.request.querystring.",
        "stageVariables.",
        "context.",
    ]
    .iter()
    .find_map(|p| s.strip_prefix(p));
    name.is_some_and(|n| {
        !n.is_empty()
            && n.len() <= 128
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    })
}
