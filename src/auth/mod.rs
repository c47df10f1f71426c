//! Who may call the API: API keys and the usage plans that meter them, authorizers (a Cognito
//! user pool, or a Lambda function of the stack answering a TOKEN or REQUEST event), and IAM
//! (SigV4). The model here is what deploy puts on API Gateway and what `serve` enforces, so
//! the two cannot disagree. docs/auth.md says which of API Gateway's rules each part follows.

pub mod jwt;
pub mod policy;
pub mod sigv4;

use serde::Serialize;

/// What a route demands of a caller (`api_key`, `authorizer`, `scopes` in the stack file).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RouteAuth {
    /// A key of a usage plan of this stage in `x-api-key`.
    pub api_key: bool,
    /// An authorizer of the stack (its logical name), or IAM.
    pub authorizer: Option<Authorizing>,
    /// OAuth scopes a Cognito access token must carry one of.
    pub scopes: Vec<String>,
}

impl RouteAuth {
    pub fn is_open(&self) -> bool {
        !self.api_key && self.authorizer.is_none()
    }

    /// API Gateway's `authorizationType` of the method: NONE, AWS_IAM, COGNITO_USER_POOLS or
    /// CUSTOM.
    pub fn authorization_type(&self, spec: &AuthSpec) -> &'static str {
        match &self.authorizer {
            None => "NONE",
            Some(Authorizing::Iam) => "AWS_IAM",
            Some(Authorizing::Named(n)) => match spec.authorizer(n).map(|a| &a.kind) {
                Some(AuthorizerKind::Cognito { .. }) => "COGNITO_USER_POOLS",
                _ => "CUSTOM",
            },
        }
    }
}

/// A route's authorizer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Authorizing {
    /// `authorizer = "iam"`: a SigV4-signed request.
    #[serde(serialize_with = "iam")]
    Iam,
    Named(String),
}

fn iam<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("iam")
}

/// The word `authorizer = "iam"` uses.
pub const IAM: &str = "iam";

/// The stack's keys, plans and authorizers.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct AuthSpec {
    pub api_keys: Vec<ApiKeySpec>,
    pub usage_plans: Vec<UsagePlanSpec>,
    pub authorizers: Vec<AuthorizerSpec>,
}

impl AuthSpec {
    pub fn authorizer(&self, logical: &str) -> Option<&AuthorizerSpec> {
        self.authorizers.iter().find(|a| a.logical == logical)
    }
    pub fn api_key(&self, logical: &str) -> Option<&ApiKeySpec> {
        self.api_keys.iter().find(|a| a.logical == logical)
    }
    pub fn usage_plan(&self, logical: &str) -> Option<&UsagePlanSpec> {
        self.usage_plans.iter().find(|a| a.logical == logical)
    }
}

/// `[api_keys.NAME]`: a key API Gateway makes (its value is AWS's, never in the state).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ApiKeySpec {
    pub logical: String,
    /// Its name in API Gateway.
    pub name: String,
    pub enabled: bool,
}

/// Requests per second and the burst (a token bucket).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Throttle {
    pub rate: f64,
    pub burst: i32,
}

/// `DAY`, `WEEK` or `MONTH`: the period a quota counts over.
#[derive(
    Debug, Clone, Copy, Serialize, serde::Deserialize, schemars::JsonSchema, PartialEq, Eq,
)]
pub enum Period {
    #[serde(rename = "DAY")]
    Day,
    #[serde(rename = "WEEK")]
    Week,
    #[serde(rename = "MONTH")]
    Month,
}

impl Period {
    pub fn api_name(self) -> &'static str {
        match self {
            Period::Day => "DAY",
            Period::Week => "WEEK",
            Period::Month => "MONTH",
        }
    }
}

/// How many requests a key may make in a period.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Quota {
    pub limit: i32,
    pub period: Period,
    /// Days (of the week or month) the period starts after its first.
    pub offset: i32,
}

/// `[usage_plans.NAME]`: throttle and quota for its keys, on this stack's stage.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UsagePlanSpec {
    pub logical: String,
    pub name: String,
    pub throttle: Option<Throttle>,
    pub quota: Option<Quota>,
    /// Its keys (logical names), in name order.
    pub keys: Vec<String>,
    /// Per route (`GET /orders`), a throttle of its own on this stage.
    pub method_throttles: Vec<(String, Throttle)>,
}

impl UsagePlanSpec {
    /// API Gateway's name of a route in a plan's stage throttle: `/orders/GET`.
    pub fn throttle_path(route_label: &str) -> Option<String> {
        let (method, path) = route_label.split_once(' ')?;
        Some(format!("{path}/{method}"))
    }
}

/// `[authorizers.NAME]`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuthorizerSpec {
    pub logical: String,
    /// Its name in the REST API.
    pub name: String,
    pub kind: AuthorizerKind,
    /// `method.request.header.Authorization`; for REQUEST a comma-separated list.
    pub identity_source: String,
    /// How long API Gateway keeps an answer, by identity source (0: not kept).
    pub ttl_secs: i32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub enum AuthorizerKind {
    /// Tokens of these user pools (their ARNs).
    Cognito { user_pools: Vec<String> },
    /// A function of the stack given the token (with a regex the token must match first).
    Token {
        function: String,
        validation: Option<String>,
    },
    /// A function of the stack given the request's identity sources and more.
    Request { function: String },
}

impl AuthorizerKind {
    pub fn api_name(&self) -> &'static str {
        match self {
            AuthorizerKind::Cognito { .. } => "COGNITO_USER_POOLS",
            AuthorizerKind::Token { .. } => "TOKEN",
            AuthorizerKind::Request { .. } => "REQUEST",
        }
    }
    pub fn function(&self) -> Option<&str> {
        match self {
            AuthorizerKind::Cognito { .. } => None,
            AuthorizerKind::Token { function, .. } | AuthorizerKind::Request { function } => {
                Some(function)
            }
        }
    }
}

impl AuthorizerSpec {
    /// The identity sources, one each (`method.request.header.Authorization`).
    pub fn sources(&self) -> Vec<&str> {
        self.identity_source
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// A user pool's id and region from its ARN (`arn:aws:cognito-idp:REGION:ACCOUNT:userpool/ID`).
pub fn user_pool_of(arn: &str) -> Option<(String, String)> {
    let rest = arn.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let _partition = parts.next()?;
    if parts.next()? != "cognito-idp" {
        return None;
    }
    let region = parts.next()?;
    let account = parts.next()?;
    let id = parts.next()?.strip_prefix("userpool/")?;
    let ok = |s: &str, extra: &[char]| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
    };
    if !ok(region, &['-'])
        || account.len() != 12
        || !ok(account, &[])
        || !ok(id, &['_', '-'])
        || id.len() > 55
        || !id.starts_with(region)
    {
        return None;
    }
    Some((region.to_string(), id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_pool_arns() {
        assert_eq!(
            user_pool_of("arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC12"),
            Some(("eu-west-1".into(), "eu-west-1_AbC12".into()))
        );
        for bad in [
            "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/",
            "arn:aws:iam::123456789012:userpool/eu-west-1_x",
            "arn:aws:cognito-idp:eu-west-1:12345:userpool/eu-west-1_x",
            "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/us-east-1_x",
            "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_x/../y",
        ] {
            assert_eq!(user_pool_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn method_authorization_types() {
        let spec = AuthSpec {
            authorizers: vec![
                AuthorizerSpec {
                    logical: "users".into(),
                    name: "users".into(),
                    kind: AuthorizerKind::Cognito { user_pools: vec![] },
                    identity_source: "method.request.header.Authorization".into(),
                    ttl_secs: 300,
                },
                AuthorizerSpec {
                    logical: "gate".into(),
                    name: "gate".into(),
                    kind: AuthorizerKind::Token {
                        function: "gate".into(),
                        validation: None,
                    },
                    identity_source: "method.request.header.Authorization".into(),
                    ttl_secs: 300,
                },
            ],
            ..Default::default()
        };
        let of = |a: Option<Authorizing>| {
            RouteAuth {
                authorizer: a,
                ..Default::default()
            }
            .authorization_type(&spec)
        };
        assert_eq!(of(None), "NONE");
        assert_eq!(of(Some(Authorizing::Iam)), "AWS_IAM");
        assert_eq!(
            of(Some(Authorizing::Named("users".into()))),
            "COGNITO_USER_POOLS"
        );
        assert_eq!(of(Some(Authorizing::Named("gate".into()))), "CUSTOM");
    }
}
