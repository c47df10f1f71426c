//! The stack's desired shape: resource names, the REST API's route, the policy documents.
//!
//! One description that deploy, status and teardown share, so the three never disagree about
//! what the stack is. Everything here is pure: no AWS call, no I/O.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Tag key on every taggable resource; its value is the stack's identity, [`owner_id`]:
/// `project/stack`, or the bare stack name for a stack of no named project.
pub const OWNER_TAG: &str = "serverless-cli:stack";

/// The owner tag's value for a stack: `project/stack`. A stack of no named project (the
/// built-in tutorial stack, or one whose state an earlier release wrote) keeps the bare stack
/// name it was always tagged with, so nothing it deployed changes hands. Two projects that
/// both have a stack `dev` are two owners: neither adopts, updates or deletes the other's.
pub fn owner_id(project: Option<&str>, stack: &str) -> String {
    match project {
        Some(p) => format!("{p}/{stack}"),
        None => stack.to_string(),
    }
}

/// The name the state is kept under: `project.stack` (a `.` is in neither name), or the bare
/// stack name for a stack of no named project (where earlier releases kept it).
pub fn state_name(project: Option<&str>, stack: &str) -> String {
    match project {
        Some(p) => format!("{p}.{stack}"),
        None => stack.to_string(),
    }
}

/// Longest project name: it is part of every default resource name, which must stay within
/// Lambda's and IAM's 64 characters.
pub const MAX_PROJECT: usize = 24;

/// A project name: lower-case letters, digits and '-', starting with a letter, at most 24
/// characters. It is part of IAM role names (unique in an account ignoring case, so lower
/// case only), of Lambda function names (`[a-zA-Z0-9_-]`), of tag values and of the state's
/// key.
pub fn validate_project_name(name: &str) -> Result<(), String> {
    let fix = "set `name = \"...\"` at the top of the stack file: lower-case letters, digits and '-', starting with a letter, at most 24 characters";
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if name.is_empty()
        || name.len() > MAX_PROJECT
        || !ok_chars
        || !name.starts_with(|c: char| c.is_ascii_lowercase())
        || name.ends_with('-')
    {
        return Err(format!("invalid project name '{name}': {fix}"));
    }
    Ok(())
}

/// The project name a folder gives when the file names none: its name lower-cased, every run
/// of other characters turned into one '-', leading characters up to the first letter and
/// trailing '-' dropped, cut to 24 characters. `None` when nothing is left (`/`, `123`).
pub fn project_from_folder(folder: &str) -> Option<String> {
    let mut out = String::new();
    for c in folder.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if out.is_empty() && !c.is_ascii_lowercase() {
                continue;
            }
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(MAX_PROJECT);
    let out = out.trim_end_matches('-').to_string();
    (!out.is_empty()).then_some(out)
}

/// A default name that fits AWS's limit: the name itself when short enough, else its first
/// characters and a hash of the whole, so two long names stay apart.
pub fn fit_name(name: String, max: usize) -> String {
    if name.chars().count() <= max {
        return name;
    }
    let hash = &fingerprint(&[&name])[..8];
    let keep: String = name.chars().take(max - 9).collect();
    format!("{}-{hash}", keep.trim_end_matches('-'))
}
/// The tutorial's stage.
pub const STAGE: &str = "prod";
/// The route's path part under the API root: `/user`.
pub const PATH_PART: &str = "user";
/// Lambda handler entry point of the built-in code.
pub const HANDLER: &str = "index.handler";
/// Name of the least-privilege inline policy on the role (the tutorial file's, as earlier
/// releases named it).
#[cfg(test)]
pub const INLINE_POLICY_NAME: &str = "putitem-least-privilege";
/// Statement id of the one permission that lets the stack's API invoke a function, whatever
/// its routes (docs/aws.md, "One invoke permission per function").
pub const INVOKE_SID: &str = "serverless-cli-apigateway-invoke";
/// The statement ids releases before it gave the tutorial's routes, one per route. Only the
/// fingerprints state formats 1 and 2 recorded still hash them.
const LEGACY_SIDS: [(&str, &str); 3] = [
    ("POST /user", "serverless-cli-apigateway-post-user"),
    ("GET /user/{uid}", "serverless-cli-apigateway-get-user"),
    (
        "DELETE /user/{uid}",
        "serverless-cli-apigateway-delete-user",
    ),
];
/// Matches the handler's validation errors (examples/tutorial/handler/index.mjs, BAD_REQUEST).
pub const BAD_REQUEST_PATTERN: &str = "BadRequest:.*";
/// Managed policies the tutorial attaches (`--managed-policies`).
pub const TUTORIAL_MANAGED_POLICIES: [&str; 2] = [
    "service-role/AWSLambdaBasicExecutionRole",
    "AmazonDynamoDBFullAccess",
];
/// Runtimes the built-in handler (an ES module using the AWS SDK v3) runs on.
pub const SUPPORTED_RUNTIMES: [&str; 3] = ["nodejs20.x", "nodejs22.x", "nodejs24.x"];

/// Names of the stack's resources, fixed at the first deploy and kept in the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Names {
    pub table: String,
    pub role: String,
    pub function: String,
    pub api: String,
}

impl Names {
    /// The defaults for a stack: the tutorial's names, made unique by the stack's name.
    pub fn defaults(stack: &str) -> Self {
        Names {
            table: format!("user-{stack}"),
            role: format!("putitem-{stack}-role"),
            function: format!("putitem-{stack}"),
            api: format!("serverless-backend-{stack}"),
        }
    }

    /// Checks every name against AWS's own rules.
    pub fn validate(&self) -> Result<(), String> {
        validate_table_name(&self.table)?;
        validate_role_name(&self.role)?;
        validate_function_name(&self.function)?;
        validate_api_name(&self.api)
    }

    /// As [`Names::validate`], for the names a state records: an empty one is a part the
    /// stack does not have (a stack file with no table, or no function).
    pub fn validate_recorded(&self) -> Result<(), String> {
        let given = |n: &str, check: fn(&str) -> Result<(), String>| {
            if n.is_empty() {
                Ok(())
            } else {
                check(n)
            }
        };
        given(&self.table, validate_table_name)?;
        given(&self.role, validate_role_name)?;
        given(&self.function, validate_function_name)?;
        given(&self.api, validate_api_name)
    }
}

fn check_chars(
    what: &str,
    flag: &str,
    name: &str,
    len: std::ops::RangeInclusive<usize>,
    allowed: impl Fn(char) -> bool,
    allowed_text: &str,
) -> Result<(), String> {
    let n = name.chars().count();
    if !len.contains(&n) {
        return Err(format!(
            "invalid {what} '{name}': it must be {} to {} characters long (it has {n}); choose another with {flag}",
            len.start(),
            len.end()
        ));
    }
    if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "invalid {what} '{name}': '{bad}' is not allowed ({allowed_text}); choose another with {flag}"
        ));
    }
    Ok(())
}

/// A stack name: letters, digits and hyphens, starting with a letter, at most 32 characters
/// (it becomes part of every resource name and of the state file's name).
pub fn validate_stack_name(name: &str) -> Result<(), String> {
    check_chars(
        "stack name",
        "--stack",
        name,
        1..=32,
        |c| c.is_ascii_alphanumeric() || c == '-',
        "use letters, digits and '-'",
    )?;
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(format!(
            "invalid stack name '{name}': it must start with a letter; choose another with --stack"
        ));
    }
    // IAM names ignore case: stacks 'Prod' and 'prod' would share one role on AWS.
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "invalid stack name '{name}': use lower case ('{}'); IAM role names ignore case, so stacks that differ only by case would share a role",
            name.to_ascii_lowercase()
        ));
    }
    Ok(())
}

/// DynamoDB: 3-255 characters of `[a-zA-Z0-9_.-]`.
pub fn validate_table_name(name: &str) -> Result<(), String> {
    check_chars(
        "table name",
        "--table-name",
        name,
        3..=255,
        |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'),
        "use letters, digits, '_', '.' and '-'",
    )
}

/// IAM: 1-64 characters of `[\w+=,.@-]`.
pub fn validate_role_name(name: &str) -> Result<(), String> {
    check_chars(
        "role name",
        "--role-name",
        name,
        1..=64,
        |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-'),
        "use letters, digits and _+=,.@-",
    )
}

/// Lambda: 1-64 characters of `[a-zA-Z0-9_-]`.
pub fn validate_function_name(name: &str) -> Result<(), String> {
    check_chars(
        "function name",
        "--function-name",
        name,
        1..=64,
        |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'),
        "use letters, digits, '_' and '-'",
    )
}

/// API Gateway: any printable name; we keep it to 1-128 characters without control characters.
pub fn validate_api_name(name: &str) -> Result<(), String> {
    check_chars(
        "API name",
        "--api-name",
        name,
        1..=128,
        |c| !c.is_control(),
        "control characters are not allowed",
    )
}

/// A region name such as `us-east-1`.
pub fn validate_region(region: &str) -> Result<(), String> {
    let ok = (4..=32).contains(&region.len())
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && region.contains('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid region '{region}': expected a region name such as us-east-1; set --region or AWS_REGION"
        ))
    }
}

pub fn validate_runtime(runtime: &str) -> Result<(), String> {
    if SUPPORTED_RUNTIMES.contains(&runtime) {
        Ok(())
    } else {
        Err(format!(
            "unsupported runtime '{runtime}': the handler is an ES module for Node.js; use one of {}",
            SUPPORTED_RUNTIMES.join(", ")
        ))
    }
}

/// AWS partition of a region (ARNs differ in China and GovCloud).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The table's billing mode.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Billing {
    /// Provisioned capacity, 5 read and 5 write units, as in the tutorial.
    Provisioned,
    /// Pay per request.
    OnDemand,
}

/// How the role gets its permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyMode {
    /// One inline policy with exactly the actions the function needs.
    LeastPrivilege,
    /// The tutorial's two AWS managed policies.
    Managed,
}

/// One response of a route: the method response and the integration response that feeds it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ResponseSpec {
    pub status: String,
    /// Regex on the Lambda error message (API Gateway matches it against the whole
    /// `errorMessage`, Java syntax); `None` for the default response.
    pub selection_pattern: Option<String>,
    /// Mapping template for `application/json`; `None` passes the body through. Never empty:
    /// API Gateway returns an empty template as null, which the Rust SDK cannot parse.
    pub template: Option<String>,
    /// Response headers, by name, each an API Gateway mapping expression: `'value'` (a fixed
    /// value, quoted), `integration.response.header.X` or `integration.response.body.x`.
    /// Left out of the serialized form when empty (the fingerprints of earlier releases).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
}

/// A fixed header value as a mapping expression: `'value'`.
pub fn quoted(value: &str) -> String {
    format!("'{value}'")
}

/// The stack's CORS rules (`[api.cors]`): deploy makes each path's OPTIONS preflight, puts
/// the headers on every mapping route's responses and on API Gateway's own 4XX and 5XX
/// answers; serve does the same from this description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsSpec {
    /// One origin, or `*`.
    pub allow_origin: String,
    /// `None`: each path's own methods (and OPTIONS).
    pub allow_methods: Option<Vec<String>>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub allow_credentials: bool,
    pub max_age_secs: Option<u32>,
}

/// The request headers a browser may send by default (the Serverless Framework's and API
/// Gateway console's list).
pub const CORS_DEFAULT_HEADERS: [&str; 5] = [
    "Content-Type",
    "X-Amz-Date",
    "Authorization",
    "X-Api-Key",
    "X-Amz-Security-Token",
];

impl CorsSpec {
    /// The headers every answer carries, as mapping expressions.
    pub fn response_headers(&self) -> Vec<(String, String)> {
        let mut h = vec![(
            "Access-Control-Allow-Origin".to_string(),
            quoted(&self.allow_origin),
        )];
        if !self.expose_headers.is_empty() {
            h.push((
                "Access-Control-Expose-Headers".into(),
                quoted(&self.expose_headers.join(",")),
            ));
        }
        if self.allow_credentials {
            h.push(("Access-Control-Allow-Credentials".into(), quoted("true")));
        }
        h
    }

    /// The preflight's headers for a path whose routes have these methods.
    pub fn preflight_headers(&self, path_methods: &[String]) -> Vec<(String, String)> {
        let methods = match &self.allow_methods {
            Some(m) => m.clone(),
            None if path_methods.iter().any(|m| m == "ANY") => {
                strings(&["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"])
            }
            None => {
                let mut m: Vec<String> = path_methods.to_vec();
                m.push("OPTIONS".into());
                m.sort();
                m.dedup();
                m
            }
        };
        let mut h = self.response_headers();
        h.push((
            "Access-Control-Allow-Methods".into(),
            quoted(&methods.join(",")),
        ));
        h.push((
            "Access-Control-Allow-Headers".into(),
            quoted(&self.allow_headers.join(",")),
        ));
        if let Some(age) = self.max_age_secs {
            h.push(("Access-Control-Max-Age".into(), quoted(&age.to_string())));
        }
        h
    }

    /// Every path's OPTIONS preflight route (a MOCK integration answering 200 with the
    /// preflight headers), for the paths with routes that have no OPTIONS route of their own.
    pub fn preflight_routes(&self, routes: &[RouteSpec]) -> Vec<RouteSpec> {
        let mut paths: Vec<&str> = routes.iter().map(|r| r.path.as_str()).collect();
        paths.sort_unstable();
        paths.dedup();
        paths
            .into_iter()
            .filter(|p| {
                !routes
                    .iter()
                    .any(|r| r.path == *p && r.http_method == "OPTIONS")
            })
            .map(|path| {
                let methods: Vec<String> = routes
                    .iter()
                    .filter(|r| r.path == path)
                    .map(|r| r.http_method.clone())
                    .collect();
                RouteSpec {
                    http_method: "OPTIONS".into(),
                    path: path.to_string(),
                    // The path's parameters (an OpenAPI operation declares each).
                    path_params: routes
                        .iter()
                        .find(|r| r.path == path)
                        .map(|r| r.path_params.clone())
                        .unwrap_or_default(),
                    request_model: None,
                    request_template: Some(MOCK_TEMPLATE.into()),
                    table_actions: Vec::new(),
                    function: String::new(),
                    integration: IntegrationKind::Mock,
                    responses: vec![ResponseSpec {
                        status: "200".into(),
                        selection_pattern: None,
                        template: None,
                        headers: self.preflight_headers(&methods),
                    }],
                    // A browser's preflight carries no credentials: API Gateway's CORS
                    // preflight is always open.
                    auth: Default::default(),
                }
            })
            .collect()
    }
}

/// One of API Gateway's own answers as the stack sets it (a gateway response): its type,
/// the headers it carries (mapping expressions) and its body template, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewayResponseSpec {
    /// `DEFAULT_4XX`, `DEFAULT_5XX` or `UNSUPPORTED_MEDIA_TYPE`.
    pub kind: &'static str,
    pub headers: Vec<(String, String)>,
    /// The `application/json` body template; `None` keeps API Gateway's.
    pub template: Option<String>,
}

/// The gateway response types this tool sets.
pub const GATEWAY_RESPONSE_TYPES: [&str; 3] =
    ["DEFAULT_4XX", "DEFAULT_5XX", "UNSUPPORTED_MEDIA_TYPE"];

/// What a route with a request template answers a request of another content type: 415, and
/// the type it takes (the tool writes `application/json` templates only).
pub const UNSUPPORTED_MEDIA_TYPE_BODY: &str = r#"{"message": "Unsupported Media Type: this route takes application/json; send Content-Type: application/json"}"#;

/// A MOCK integration's request template: the status its integration response is chosen by.
pub const MOCK_TEMPLATE: &str = r#"{"statusCode": 200}"#;

/// A resource of the REST API under its root.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ResourceSpec {
    /// Full path, e.g. `/user/{uid}`.
    pub path: String,
    /// Path of the parent resource (`/` is the API's root).
    pub parent: String,
    pub path_part: String,
}

/// One route of the REST API: method, integration and responses.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RouteSpec {
    pub http_method: String,
    /// Path of the route's resource.
    pub path: String,
    /// Path parameters the method declares as required.
    pub path_params: Vec<String>,
    /// Request body model the method validates against (a request validator checks the
    /// body); `None` for a method without a body.
    pub request_model: Option<String>,
    /// Request mapping template for `application/json`; `None` passes the JSON body through.
    pub request_template: Option<String>,
    /// What the function does to the table for this route (the built-in stack's role grants
    /// exactly these, over all routes). Not serialized: the route's JSON is what format 2
    /// hashed.
    #[serde(skip_serializing)]
    pub table_actions: Vec<String>,
    /// The function the route invokes (its logical name). Not serialized, as above.
    #[serde(skip_serializing)]
    pub function: String,
    /// How API Gateway hands the request to the function. Not serialized, as above.
    #[serde(skip_serializing)]
    pub integration: IntegrationKind,
    /// The mapping-template integration's responses; none for a proxy route (the function's
    /// answer is the response).
    pub responses: Vec<ResponseSpec>,
    /// What the caller must show. Not serialized, as above: the method's props carry it.
    #[serde(skip_serializing)]
    pub auth: crate::auth::RouteAuth,
}

/// A DynamoDB key attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAttr {
    pub name: String,
    /// `S`, `N` or `B`.
    pub ty: String,
}

impl KeyAttr {
    /// `uid (S)`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.name, self.ty)
    }
}

/// Provisioned read and write capacity units.
pub const TUTORIAL_CAPACITY: (i64, i64) = (5, 5);

/// One DynamoDB table of the stack.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    /// Its logical name (`user`): the key `table:user`, what functions name it by.
    pub logical: String,
    pub name: String,
    pub hash_key: KeyAttr,
    pub range_key: Option<KeyAttr>,
    pub billing: Billing,
    /// Read and write capacity units (provisioned billing; its global indexes get the same).
    pub capacity: (i64, i64),
    /// Secondary indexes, by name order.
    pub indexes: Vec<IndexSpec>,
}

/// A secondary index of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub hash_key: KeyAttr,
    pub range_key: Option<KeyAttr>,
    pub projection: Projection,
    /// A local index (the table's partition key, another sort key): made with the table
    /// only, as DynamoDB allows.
    pub local: bool,
}

/// What an index holds besides the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    All,
    KeysOnly,
    Include(Vec<String>),
}

impl Projection {
    /// `all`, `keys`, `include a, b`.
    pub fn describe(&self) -> String {
        match self {
            Projection::All => "all".into(),
            Projection::KeysOnly => "keys".into(),
            Projection::Include(a) => {
                let mut a = a.clone();
                a.sort();
                format!("include {}", a.join(", "))
            }
        }
    }
}

impl IndexSpec {
    /// `list (S), createdAt (S), all` (and `, local`): what status compares.
    pub fn describe(&self) -> String {
        let mut out = self.hash_key.describe();
        if let Some(r) = &self.range_key {
            out.push_str(&format!(", {}", r.describe()));
        }
        out.push_str(&format!(", {}", self.projection.describe()));
        if self.local {
            out.push_str(", local");
        }
        out
    }
}

/// What a function may do to a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableUse {
    /// The table's logical name.
    pub table: String,
    /// `dynamodb:PutItem`, ...
    pub actions: Vec<String>,
}

/// One Lambda function of the stack, with its own role and log group.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    /// Its logical name (`putitem`): the keys `function:putitem`, `role:putitem`, ...
    pub logical: String,
    pub name: String,
    pub role: String,
    /// Its code, a folder or a zip; `None`: the built-in handler (or deploy's `--code`).
    pub code: Option<std::path::PathBuf>,
    pub handler: String,
    pub runtime: String,
    pub memory_mb: i32,
    pub timeout_secs: i32,
    /// Environment variables, names resolved (`TABLE_NAME` = the table's real name).
    pub env: Vec<(String, String)>,
    pub log_retention_days: i32,
    pub tables: Vec<TableUse>,
    /// Name of its least-privilege inline policy.
    pub policy_name: String,
}

impl FunctionSpec {
    pub fn log_group_name(&self) -> String {
        format!("/aws/lambda/{}", self.name)
    }
}

/// A request body model: JSON Schema draft 4.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    pub name: String,
    pub schema: String,
}

/// The REST API itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiSpec {
    pub name: String,
    pub stage: String,
    /// `REGIONAL` or `EDGE`.
    pub endpoint_type: String,
    /// How deploy builds the routes.
    pub build: ApiBuild,
    /// `[api.cors]`, if set.
    pub cors: Option<CorsSpec>,
    /// How many deployments the state keeps to roll back to (`keep_deployments`).
    pub keep_deployments: usize,
}

/// The alias API Gateway invokes every function through: `rollback` points it at an earlier
/// version without touching the API (docs/aws.md, "Versions and the live alias").
pub const LIVE_ALIAS: &str = "live";

/// Deployments kept to roll back to, unless the stack file says otherwise.
pub const KEEP_DEPLOYMENTS: usize = 5;

/// The ARN of a function's `live` alias.
pub fn alias_arn(function_arn: &str) -> String {
    format!("{function_arn}:{LIVE_ALIAS}")
}

/// How deploy builds the REST API's routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiBuild {
    /// A call per part of each route (CreateResource, PutMethod, PutMethodResponse per status,
    /// PutIntegration, PutIntegrationResponse per status): about 14 API Gateway calls a route.
    Calls,
    /// One `PutRestApi` (mode overwrite) of the whole API as an OpenAPI document
    /// (built by the `openapi` module): a handful of calls for any number of routes, under
    /// API Gateway's account quotas (docs/aws.md, "API Gateway's account quotas").
    Document,
}

/// API Gateway's account-wide burst of control-plane calls; past it every call waits on the
/// shared refill of 10 a second (API Gateway quotas; docs/aws.md, "The OpenAPI document").
pub const API_GATEWAY_BURST: usize = 40;

/// The API Gateway calls a per-call build of these routes makes on a new API: CreateRestApi,
/// a CreateResource per path, a CreateModel per model and one CreateRequestValidator when
/// any route has a model, per route PutMethod and PutIntegration and a PutMethodResponse and
/// PutIntegrationResponse per response, and CreateDeployment.
pub fn per_call_calls(routes: &[RouteSpec], models: usize) -> usize {
    let validator = usize::from(routes.iter().any(|r| r.request_model.is_some()));
    2 + resources_for(routes).len()
        + models
        + validator
        + routes
            .iter()
            .map(|r| 2 + 2 * r.responses.len())
            .sum::<usize>()
}

impl ApiBuild {
    /// What `auto` picks: the per-call build (the article's own sequence of calls) while its
    /// calls fit the account's burst, else one document, which takes a handful of calls for
    /// any number of routes.
    pub fn auto(routes: &[RouteSpec], models: usize) -> ApiBuild {
        if per_call_calls(routes, models) > API_GATEWAY_BURST {
            ApiBuild::Document
        } else {
            ApiBuild::Calls
        }
    }

    /// The rule, in words, for plan.
    pub fn explain(self, routes: &[RouteSpec], models: usize) -> String {
        let n = per_call_calls(routes, models);
        let how = match self {
            ApiBuild::Calls => "a call per part",
            ApiBuild::Document => "one OpenAPI document (PutRestApi)",
        };
        format!(
            "routes built with {how}: a per-call build makes {n} API Gateway calls, {} the account's burst of {API_GATEWAY_BURST} (build = \"auto\" builds per call within it; [api] build chooses)",
            if n > API_GATEWAY_BURST { "past" } else { "within" }
        )
    }
}

impl RouteSpec {
    /// `POST /user`.
    pub fn label(&self) -> String {
        format!("{} {}", self.http_method, self.path)
    }
}

/// The API's resources the routes need, parents first: every prefix of every route's path
/// (`/user/{uid}` needs `/user` and itself).
pub fn resources_for(routes: &[RouteSpec]) -> Vec<ResourceSpec> {
    let mut out: Vec<ResourceSpec> = Vec::new();
    for route in routes {
        let mut parent = "/".to_string();
        for part in route.path.split('/').filter(|p| !p.is_empty()) {
            let path = if parent == "/" {
                format!("/{part}")
            } else {
                format!("{parent}/{part}")
            };
            if !out.iter().any(|r| r.path == path) {
                out.push(ResourceSpec {
                    path: path.clone(),
                    parent: parent.clone(),
                    path_part: part.to_string(),
                });
            }
            parent = path;
        }
    }
    // Parents first: a parent's path is shorter than its children's.
    out.sort_by_key(|r| r.path.matches('/').count());
    out
}

/// Name of the POST body model (API Gateway model names are alphanumeric).
pub const USER_MODEL: &str = "UserBody";
/// The POST body model, JSON Schema draft 4 as API Gateway takes it: a JSON object that does not
/// name an `operation` (that key marks the GET route's event, see `GET_USER_TEMPLATE`). Field
/// checks are the handler's, so their messages are specific.
pub const USER_MODEL_SCHEMA: &str = r#"{"$schema":"http://json-schema.org/draft-04/schema#","title":"UserBody","type":"object","not":{"required":["operation"]}}"#;
/// Name of the request validator that checks request bodies against their model.
pub const VALIDATOR_NAME: &str = "serverless-cli-body";
/// The event the GET route hands the function: the path parameter, URL-encoded so that any uid
/// gives valid JSON (the handler decodes it).
pub const GET_USER_TEMPLATE: &str =
    r#"{"operation": "getUser", "uid": "$util.urlEncode($input.params('uid'))"}"#;
/// Body of a mapped error response: the function's error message.
pub const ERROR_TEMPLATE: &str = r#"{"message": $input.json('$.errorMessage')}"#;
/// Matches the handler's "no such item" errors (examples/tutorial/handler/index.mjs, NOT_FOUND).
pub const NOT_FOUND_PATTERN: &str = "NotFound:.*";
/// Matches the handler's unexpected failures (examples/tutorial/handler/index.mjs, INTERNAL).
pub const INTERNAL_PATTERN: &str = "Internal:.*";
/// Matches what Lambda reports when the function's process exits mid-request
/// (`RequestId: <id> Error: Runtime exited with error: exit status 1`).
pub const RUNTIME_EXITED_PATTERN: &str = r"(?s)RequestId: \S+ Error: Runtime exited.*";
/// Matches what Lambda reports when the function runs past its timeout
/// (`<time> <id> Task timed out after 10.00 seconds`).
pub const TIMED_OUT_PATTERN: &str = r"(?s).*Task timed out after .*";
/// The selection pattern of a route's catch-all response: every non-empty error message
/// that none of `others` matches as a whole. API Gateway matches selection patterns with
/// Java's regular expressions against the whole error message (a successful answer has
/// none, so `.+` never takes it): the negative lookahead refuses a message one of the others
/// takes from its start to its end (`\z`), so the two never select one message
/// (docs/aws.md, "Errors no pattern selects").
pub fn unmatched_pattern(others: &[&str]) -> String {
    if others.is_empty() {
        return "(?s).+".into();
    }
    let union: Vec<String> = others.iter().map(|p| format!("(?:{p})")).collect();
    format!("(?s)(?!(?:{})\\z).+", union.join("|"))
}

/// The function's timeout, in seconds (`serve` uses it too).
pub const FUNCTION_TIMEOUT_SECS: i32 = 10;

fn response(status: &str, pattern: &str, template: &str) -> ResponseSpec {
    ResponseSpec {
        status: status.to_string(),
        selection_pattern: Some(pattern.to_string()),
        template: Some(template.to_string()),
        headers: Vec::new(),
    }
}

fn error_responses(not_found: bool) -> Vec<ResponseSpec> {
    let mut v = vec![response("400", BAD_REQUEST_PATTERN, ERROR_TEMPLATE)];
    if not_found {
        v.push(response("404", NOT_FOUND_PATTERN, ERROR_TEMPLATE));
    }
    v.extend([
        response("500", INTERNAL_PATTERN, ERROR_TEMPLATE),
        response(
            "502",
            RUNTIME_EXITED_PATTERN,
            r#"{"message": "the function's runtime exited; see its log"}"#,
        ),
        response(
            "504",
            TIMED_OUT_PATTERN,
            r#"{"message": "the function ran past its timeout"}"#,
        ),
    ]);
    v
}

fn success() -> ResponseSpec {
    ResponseSpec {
        status: "200".to_string(),
        selection_pattern: None,
        template: None,
        headers: Vec::new(),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The tutorial's route: `POST /user` with the JSON body passed through as the event.
pub fn post_user_route() -> RouteSpec {
    let mut responses = vec![success()];
    responses.extend(error_responses(false));
    RouteSpec {
        http_method: "POST".into(),
        path: "/user".into(),
        path_params: Vec::new(),
        request_model: Some(USER_MODEL.into()),
        request_template: None,
        table_actions: strings(&["dynamodb:PutItem"]),
        function: TUTORIAL_FUNCTION.into(),
        integration: IntegrationKind::Aws,
        responses,
        auth: Default::default(),
    }
}

/// The tutorial's suggested next step: `GET /user/{uid}` reads the item back.
pub fn get_user_route() -> RouteSpec {
    let mut responses = vec![success()];
    responses.extend(error_responses(true));
    RouteSpec {
        http_method: "GET".into(),
        path: "/user/{uid}".into(),
        path_params: strings(&["uid"]),
        request_model: None,
        request_template: Some(GET_USER_TEMPLATE.into()),
        table_actions: strings(&["dynamodb:GetItem"]),
        function: TUTORIAL_FUNCTION.into(),
        integration: IntegrationKind::Aws,
        responses,
        auth: Default::default(),
    }
}

#[cfg(test)]
/// The event a DELETE /user/{uid} route hands the function (examples/tutorial/handler/index.mjs, DELETE_USER).
pub const DELETE_USER_TEMPLATE: &str =
    r#"{"operation": "deleteUser", "uid": "$util.urlEncode($input.params('uid'))"}"#;

/// A third route, `DELETE /user/{uid}`: not in the tutorial's stack; unit tests add it to
/// show that a route is one entry of data.
#[cfg(test)]
pub fn delete_user_route() -> RouteSpec {
    let mut responses = vec![success()];
    responses.extend(error_responses(true));
    RouteSpec {
        http_method: "DELETE".into(),
        path: "/user/{uid}".into(),
        path_params: strings(&["uid"]),
        request_model: None,
        request_template: Some(DELETE_USER_TEMPLATE.into()),
        table_actions: strings(&["dynamodb:DeleteItem"]),
        function: TUTORIAL_FUNCTION.into(),
        integration: IntegrationKind::Aws,
        responses,
        auth: Default::default(),
    }
}

/// A stack file's route without `responses`: success, and the handler conventions' errors.
pub fn default_responses() -> Vec<ResponseSpec> {
    let mut responses = vec![success()];
    responses.extend(error_responses(true));
    responses
}

/// The tutorial's two routes (the test fixture's, and what `try` recognises as the tutorial's).
pub fn routes() -> Vec<RouteSpec> {
    vec![post_user_route(), get_user_route()]
}

/// How API Gateway calls a route's function ([`StackSpec::integration`]).
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationSpec {
    pub kind: IntegrationKind,
    /// The method API Gateway calls Lambda's invoke API with.
    pub http_method: &'static str,
    pub uri: String,
    /// The request template for `application/json`, if the route has one.
    pub request_template: Option<String>,
    /// What happens to a content type no template names; `None` for a proxy route, which
    /// hands every request over as it came.
    pub passthrough: Option<Passthrough>,
}

/// API Gateway's integration types this tool makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IntegrationKind {
    /// A Lambda call through mapping templates (the tutorial's): the function gets what the
    /// request template makes, and its answer goes through the integration responses.
    #[default]
    Aws,
    /// Lambda proxy integration: the function gets the whole request as API Gateway's proxy
    /// event and answers `{statusCode, headers, body}`, which is the response (docs/aws.md,
    /// "Lambda proxy integration").
    Proxy,
    /// No backend: API Gateway answers from the integration response (a CORS preflight).
    Mock,
}

impl IntegrationKind {
    /// As the API names it (`PutIntegration`'s `type`, what GetIntegration answers).
    pub fn api_name(self) -> &'static str {
        match self {
            IntegrationKind::Aws => "AWS",
            IntegrationKind::Proxy => "AWS_PROXY",
            IntegrationKind::Mock => "MOCK",
        }
    }

    /// As an OpenAPI document's `x-amazon-apigateway-integration` names it.
    pub fn document_name(self) -> &'static str {
        match self {
            IntegrationKind::Aws => "aws",
            IntegrationKind::Proxy => "aws_proxy",
            IntegrationKind::Mock => "mock",
        }
    }
}

/// What API Gateway does with a request whose content type no request template names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passthrough {
    /// The body passes through when the route has no template; with one, a request of
    /// another content type is refused (415) rather than handed over unmapped.
    WhenNoTemplates,
}

impl Passthrough {
    pub fn api_name(self) -> &'static str {
        match self {
            Passthrough::WhenNoTemplates => "WHEN_NO_TEMPLATES",
        }
    }

    pub fn document_name(self) -> &'static str {
        match self {
            Passthrough::WhenNoTemplates => "when_no_templates",
        }
    }
}

/// Everything a deploy wants the stack to be.
#[derive(Debug, Clone)]
pub struct StackSpec {
    pub stack: String,
    /// Its owner tag's value: [`owner_id`] of its project (`None` for the built-in stack and a
    /// state from an earlier release) and `stack`.
    pub owner_tag: String,
    pub region: String,
    pub account: String,
    pub policy_mode: PolicyMode,
    pub tables: Vec<TableSpec>,
    pub functions: Vec<FunctionSpec>,
    pub api: ApiSpec,
    pub models: Vec<ModelSpec>,
    pub routes: Vec<RouteSpec>,
    /// API keys, usage plans and authorizers (empty for the built-in stack).
    pub auth: crate::auth::AuthSpec,
    /// The stack's own domain (`[domain]`).
    pub domain: Option<crate::domain::DomainSpec>,
}

/// The function's memory (MB) in the tutorial's stack.
pub const FUNCTION_MEMORY_MB: i32 = 128;

/// The built-in stack's options (deploy's flags).
#[derive(Debug, Clone)]
pub struct Tutorial {
    pub billing: Billing,
    pub policy_mode: PolicyMode,
    pub runtime: String,
    pub log_retention_days: i32,
    pub memory_mb: i32,
    pub timeout_secs: i32,
}

impl Default for Tutorial {
    fn default() -> Self {
        Tutorial {
            billing: Billing::Provisioned,
            policy_mode: PolicyMode::LeastPrivilege,
            runtime: "nodejs22.x".into(),
            log_retention_days: 14,
            memory_mb: FUNCTION_MEMORY_MB,
            timeout_secs: FUNCTION_TIMEOUT_SECS,
        }
    }
}

/// The built-in stack's logical names (the tutorial file's).
#[cfg(test)]
pub const TUTORIAL_TABLE: &str = "user";
pub const TUTORIAL_FUNCTION: &str = "putitem";

impl StackSpec {
    pub fn table(&self, logical: &str) -> Option<&TableSpec> {
        self.tables.iter().find(|t| t.logical == logical)
    }

    pub fn function(&self, logical: &str) -> Option<&FunctionSpec> {
        self.functions.iter().find(|f| f.logical == logical)
    }

    pub fn model(&self, name: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The function a route invokes.
    pub fn route_function(&self, route: &RouteSpec) -> Option<&FunctionSpec> {
        self.function(&route.function)
    }

    pub fn partition(&self) -> &'static str {
        partition(&self.region)
    }

    /// The API's resources the routes live on, parents first.
    pub fn resources(&self) -> Vec<ResourceSpec> {
        resources_for(&self.routes)
    }

    pub fn table_arn(&self, name: &str) -> String {
        format!(
            "arn:{}:dynamodb:{}:{}:table/{name}",
            self.partition(),
            self.region,
            self.account,
        )
    }

    pub fn role_arn(&self, f: &FunctionSpec) -> String {
        format!(
            "arn:{}:iam::{}:role/{}",
            self.partition(),
            self.account,
            f.role
        )
    }

    pub fn function_arn(&self, f: &FunctionSpec) -> String {
        format!(
            "arn:{}:lambda:{}:{}:function:{}",
            self.partition(),
            self.region,
            self.account,
            f.name
        )
    }

    pub fn log_group_arn(&self, f: &FunctionSpec) -> String {
        format!(
            "arn:{}:logs:{}:{}:log-group:{}",
            self.partition(),
            self.region,
            self.account,
            f.log_group_name()
        )
    }

    pub fn managed_policy_arns(&self) -> Vec<String> {
        TUTORIAL_MANAGED_POLICIES
            .iter()
            .map(|p| format!("arn:{}:iam::aws:policy/{p}", self.partition()))
            .collect()
    }

    /// Trust policy: only the Lambda service may assume the role.
    pub fn trust_policy(&self) -> String {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole"
            }]
        })
        .to_string()
    }

    /// Least privilege: what the function does to each of its tables, write its own logs.
    pub fn inline_policy(&self, f: &FunctionSpec) -> String {
        let log_group = self.log_group_arn(f);
        let mut statements: Vec<serde_json::Value> = Vec::new();
        for (i, u) in f.tables.iter().enumerate() {
            let name = self.table(&u.table).map_or(u.table.as_str(), |t| &t.name);
            let sid = if i == 0 {
                "TableItems".to_string()
            } else {
                format!("TableItems{}", i + 1)
            };
            // A Query or Scan may name one of the table's indexes: their ARNs too (only then,
            // so that a table without indexes keeps the policy it always had).
            let reads_indexes = self.table(&u.table).is_some_and(|t| !t.indexes.is_empty())
                && u.actions
                    .iter()
                    .any(|a| a == "dynamodb:Query" || a == "dynamodb:Scan");
            let resource = if reads_indexes {
                json!([
                    self.table_arn(name),
                    format!("{}/index/*", self.table_arn(name))
                ])
            } else {
                json!(self.table_arn(name))
            };
            statements.push(json!({
                "Sid": sid,
                "Effect": "Allow",
                "Action": u.actions,
                "Resource": resource
            }));
        }
        statements.push(json!({
            "Sid": "OwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [log_group.clone(), format!("{log_group}:*")]
        }));
        json!({"Version": "2012-10-17", "Statement": statements}).to_string()
    }

    /// The built-in stack's function (state formats 1 and 2 knew only it).
    fn tutorial_function(&self) -> Option<&FunctionSpec> {
        self.functions.first()
    }

    /// The fingerprint state format 1 and 2 recorded for the role's permissions.
    pub fn legacy_policy_fingerprint(&self) -> String {
        match self.policy_mode {
            PolicyMode::LeastPrivilege => match self.tutorial_function() {
                Some(f) => fingerprint(&["inline", &self.inline_policy(f)]),
                None => String::new(),
            },
            PolicyMode::Managed => {
                let arns = self.managed_policy_arns();
                let mut parts = vec!["managed"];
                parts.extend(arns.iter().map(String::as_str));
                fingerprint(&parts)
            }
        }
    }

    /// The fingerprint state format 1 and 2 recorded for the function's configuration.
    pub fn legacy_function_config_fingerprint(&self, role_arn: &str) -> String {
        let Some(f) = self.tutorial_function() else {
            return String::new();
        };
        let mut parts = vec![f.runtime.as_str(), f.handler.as_str(), role_arn];
        for (k, v) in &f.env {
            parts.push(k);
            parts.push(v);
        }
        fingerprint(&parts)
    }

    /// How API Gateway calls a route's function (`function_arn`): the one description the
    /// per-call build, the OpenAPI document and the status checks all read.
    pub fn integration(&self, route: &RouteSpec, function_arn: &str) -> IntegrationSpec {
        let proxy = route.integration == IntegrationKind::Proxy;
        let mock = route.integration == IntegrationKind::Mock;
        IntegrationSpec {
            kind: route.integration,
            // Lambda's Invoke API is a POST, whatever the route's own method.
            http_method: if mock { "" } else { "POST" },
            uri: if mock {
                String::new()
            } else {
                self.integration_uri(function_arn)
            },
            request_template: route.request_template.clone().filter(|_| !proxy),
            passthrough: (!proxy).then_some(Passthrough::WhenNoTemplates),
        }
    }

    /// API Gateway's own answers as the stack sets them: with `[api.cors]`, its 4XX and 5XX
    /// carry the CORS headers; with a request template on a route, a request of another
    /// content type is answered 415 with a message that names the one the route takes (API
    /// Gateway's own names none). Deploy puts these, status checks them, serve answers with
    /// them.
    pub fn gateway_responses(&self) -> Vec<GatewayResponseSpec> {
        let cors = self
            .api
            .cors
            .as_ref()
            .map(|c| c.response_headers())
            .unwrap_or_default();
        let mut out = Vec::new();
        if !cors.is_empty() {
            for kind in ["DEFAULT_4XX", "DEFAULT_5XX"] {
                out.push(GatewayResponseSpec {
                    kind,
                    headers: cors.clone(),
                    template: None,
                });
            }
        }
        let templated = self
            .routes
            .iter()
            .any(|r| r.integration == IntegrationKind::Aws && r.request_template.is_some());
        if templated {
            // A type set on its own does not take DEFAULT_4XX's headers: it carries them.
            out.push(GatewayResponseSpec {
                kind: "UNSUPPORTED_MEDIA_TYPE",
                headers: cors,
                template: Some(UNSUPPORTED_MEDIA_TYPE_BODY.into()),
            });
        }
        out
    }

    /// The URI API Gateway invokes a function by: a route's Lambda integration and a Lambda
    /// authorizer's `authorizerUri` alike. It names the function's `live` alias, so that a
    /// rollback moves what every route runs without a change to the API.
    pub fn integration_uri(&self, function_arn: &str) -> String {
        self.unqualified_uri(&alias_arn(function_arn))
    }

    /// The URI of `arn` as it is (releases before the live alias invoked the function itself).
    fn unqualified_uri(&self, arn: &str) -> String {
        format!(
            "arn:{}:apigateway:{}:lambda:path/2015-03-31/functions/{arn}/invocations",
            self.partition(),
            self.region
        )
    }

    /// The source of a function's one invoke statement: the stage's routes, or, for a
    /// function that answers an authorizer, the whole API (`{api}/*`, which covers
    /// `{api}/authorizers/{id}` as well as the routes): still one statement per function.
    pub fn invoke_source_arn_of(&self, api_id: &str, function: &str) -> String {
        if self
            .auth
            .authorizers
            .iter()
            .any(|a| a.kind.function() == Some(function))
        {
            format!(
                "arn:{}:execute-api:{}:{}:{api_id}/*",
                self.partition(),
                self.region,
                self.account
            )
        } else {
            self.invoke_source_arn(api_id)
        }
    }

    /// The source of the one invoke permission a function gets: every method and path of
    /// this API's stage. The verb is `*` (API Gateway invokes an ANY route with the request's
    /// own verb) and the last `*` matches the rest of the path, `/` included (docs/aws.md,
    /// "One invoke permission per function").
    pub fn invoke_source_arn(&self, api_id: &str) -> String {
        format!(
            "arn:{}:execute-api:{}:{}:{api_id}/{}/*/*",
            self.partition(),
            self.region,
            self.account,
            self.api.stage
        )
    }

    /// The fingerprint state format 1 and 2 recorded for both routes' methods and responses.
    pub fn legacy_method_fingerprint(&self) -> String {
        fingerprint(&[
            "method",
            &legacy_routes_json(&self.routes),
            USER_MODEL_SCHEMA,
            // Body models for application/json and $default (every other content type).
            "models: application/json, $default",
        ])
    }

    /// The fingerprint state format 1 and 2 recorded for both routes' integrations.
    pub fn legacy_integration_fingerprint(&self, function_arn: &str) -> String {
        // A method made again loses its integration: the method's fingerprint is part of it.
        fingerprint(&[
            "integration",
            &self.legacy_method_fingerprint(),
            &self.unqualified_uri(function_arn),
        ])
    }
}

/// The routes as state formats 1 and 2 hashed them: each with the statement id of its own
/// invoke permission, in the fields' order of that time.
fn legacy_routes_json(routes: &[RouteSpec]) -> String {
    #[derive(Serialize)]
    struct LegacyRoute<'a> {
        http_method: &'a str,
        path: &'a str,
        path_params: &'a [String],
        request_model: &'a Option<String>,
        request_template: &'a Option<String>,
        permission_sid: &'a str,
        responses: &'a [ResponseSpec],
    }
    let legacy: Vec<LegacyRoute> = routes
        .iter()
        .map(|r| {
            let label = r.label();
            LegacyRoute {
                http_method: &r.http_method,
                path: &r.path,
                path_params: &r.path_params,
                request_model: &r.request_model,
                request_template: &r.request_template,
                permission_sid: LEGACY_SIDS
                    .iter()
                    .find(|(l, _)| *l == label)
                    .map_or("", |(_, sid)| sid),
                responses: &r.responses,
            }
        })
        .collect();
    serde_json::to_string(&legacy).unwrap_or_default()
}

/// The stage's base URL; routes hang under it (`{base}/user`, `{base}/user/{uid}`).
/// (An emulator does not serve execute-api URLs; the AWS form is printed all the same.)
pub fn stage_url(api_id: &str, region: &str, stage: &str) -> String {
    let suffix = if partition(region) == "aws-cn" {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://{api_id}.execute-api.{region}.{suffix}/{stage}")
}

/// The URL the tutorial's "Try out" posts to.
pub fn invoke_url(api_id: &str, region: &str) -> String {
    format!("{}/{PATH_PART}", stage_url(api_id, region, STAGE))
}

/// A ready-to-paste curl line for the URL.
pub fn curl_line(url: &str) -> String {
    format!(
        "curl -sS -X POST '{url}' -H 'Content-Type: application/json' -d '{{\"uid\":\"1\",\"username\":\"Ada\",\"email\":\"ada@example.com\"}}'"
    )
}

/// Short, stable hash of some parts (hex SHA-256 of the parts joined by NUL).
pub fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
pub mod tests_support {
    use super::*;

    /// The tutorial's stack written out by hand, as the releases before stack files built it:
    /// what the embedded tutorial file must still give (`stackfile`'s test compares them).
    pub fn tutorial(
        stack: &str,
        region: &str,
        account: &str,
        names: &Names,
        t: Tutorial,
    ) -> StackSpec {
        let routes = routes();
        let mut actions: Vec<String> = Vec::new();
        for a in routes.iter().flat_map(|r| r.table_actions.iter()) {
            if !actions.contains(a) {
                actions.push(a.clone());
            }
        }
        StackSpec {
            stack: stack.to_string(),
            owner_tag: owner_id(None, stack),
            region: region.to_string(),
            account: account.to_string(),
            policy_mode: t.policy_mode,
            tables: vec![TableSpec {
                logical: TUTORIAL_TABLE.into(),
                name: names.table.clone(),
                hash_key: KeyAttr {
                    name: "uid".into(),
                    ty: "S".into(),
                },
                range_key: None,
                billing: t.billing,
                capacity: TUTORIAL_CAPACITY,
                indexes: Vec::new(),
            }],
            functions: vec![FunctionSpec {
                logical: TUTORIAL_FUNCTION.into(),
                name: names.function.clone(),
                role: names.role.clone(),
                code: None,
                handler: HANDLER.into(),
                runtime: t.runtime,
                memory_mb: t.memory_mb,
                timeout_secs: t.timeout_secs,
                env: vec![("TABLE_NAME".to_string(), names.table.clone())],
                log_retention_days: t.log_retention_days,
                tables: vec![TableUse {
                    table: TUTORIAL_TABLE.into(),
                    actions,
                }],
                policy_name: INLINE_POLICY_NAME.into(),
            }],
            api: ApiSpec {
                name: names.api.clone(),
                stage: STAGE.into(),
                endpoint_type: "REGIONAL".into(),
                build: ApiBuild::Calls,
                cors: None,
                keep_deployments: KEEP_DEPLOYMENTS,
            },
            models: vec![ModelSpec {
                name: USER_MODEL.into(),
                schema: USER_MODEL_SCHEMA.into(),
            }],
            routes,
            auth: Default::default(),
            domain: None,
        }
    }

    /// The tutorial's stack as deploy builds it by default.
    pub fn spec() -> StackSpec {
        tutorial(
            "prod",
            "eu-west-1",
            "123456789012",
            &Names::defaults("prod"),
            Tutorial::default(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::spec;
    use super::*;

    #[test]
    fn default_names_are_unique_per_stack_and_valid() {
        let a = Names::defaults("prod");
        let b = Names::defaults("dev");
        assert_ne!(a.table, b.table);
        assert_ne!(a.function, b.function);
        assert_ne!(a.role, b.role);
        assert_ne!(a.api, b.api);
        a.validate().unwrap();
        // The longest stack name still gives valid resource names.
        Names::defaults(&"a".repeat(32)).validate().unwrap();
    }

    #[test]
    fn names_follow_aws_rules() {
        assert!(validate_table_name("ab").is_err());
        assert!(validate_table_name("user table").is_err());
        assert!(validate_table_name(&"t".repeat(256)).is_err());
        assert!(validate_table_name("user_v1.2-x").is_ok());
        assert!(validate_function_name(&"f".repeat(65)).is_err());
        assert!(validate_function_name("put.item").is_err());
        assert!(validate_role_name("role/x").is_err());
        assert!(validate_role_name("a+b=c,d.e@f-g_h").is_ok());
        assert!(validate_api_name("").is_err());
        assert!(validate_api_name("line\nbreak").is_err());
        assert!(validate_stack_name("1abc").is_err());
        assert!(validate_stack_name("a_b").is_err());
        assert!(validate_stack_name(&"s".repeat(33)).is_err());
        assert!(validate_stack_name("prod-2").is_ok());
        let msg = validate_table_name("x").unwrap_err();
        assert!(msg.contains("--table-name"), "{msg}");
    }

    #[test]
    fn least_privilege_policy_has_no_wildcards() {
        let doc: serde_json::Value =
            serde_json::from_str(&spec().inline_policy(&spec().functions[0])).unwrap();
        let text = doc.to_string();
        assert!(!text.contains("\"*\""), "{text}");
        assert!(!text.contains(":*\","), "{text}");
        let stmts = doc["Statement"].as_array().unwrap();
        assert_eq!(
            stmts[0]["Resource"],
            "arn:aws:dynamodb:eu-west-1:123456789012:table/user-prod"
        );
        assert_eq!(
            stmts[0]["Action"],
            json!(["dynamodb:PutItem", "dynamodb:GetItem"])
        );
        assert_eq!(
            stmts[1]["Resource"][0],
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/putitem-prod"
        );
    }

    #[test]
    fn one_source_arn_covers_every_route_and_verb_of_the_stage() {
        let s = spec();
        assert_eq!(
            s.invoke_source_arn("abc123"),
            "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/*/*"
        );
    }

    #[test]
    fn the_fingerprints_old_states_recorded_still_come_out_the_same() {
        // Values the release before one permission per function computed: a state of
        // format 1 or 2 whose routes did not change keeps its records.
        let s = spec();
        assert_eq!(s.legacy_method_fingerprint(), "31d70377dc593b7eaa44c682");
        let mut three = s.clone();
        three.routes.push(delete_user_route());
        assert_eq!(
            three.legacy_method_fingerprint(),
            "71d38aa9db7917b5c8a56b1b"
        );
    }

    #[test]
    fn project_names_from_folders_and_names_within_limits() {
        assert_eq!(
            project_from_folder("My API_v2").as_deref(),
            Some("my-api-v2")
        );
        assert_eq!(project_from_folder("2048-game").as_deref(), Some("game"));
        assert_eq!(project_from_folder("123"), None);
        assert_eq!(
            project_from_folder("a-very-long-folder-name-that-goes-on").as_deref(),
            Some("a-very-long-folder-name")
        );
        for n in ["my-api", "a", "shop2"] {
            assert!(validate_project_name(n).is_ok(), "{n}");
        }
        for n in ["My-Api", "-x", "x-", "1x", "x_y", "", "a.b"] {
            assert!(validate_project_name(n).is_err(), "{n}");
        }
        assert_eq!(owner_id(Some("shop"), "dev"), "shop/dev");
        assert_eq!(owner_id(None, "dev"), "dev");
        assert_eq!(state_name(Some("shop"), "dev"), "shop.dev");
        let long = fit_name(format!("{}-create-dev-role", "p".repeat(24)), 64);
        assert!(long.len() <= 64);
        let short = fit_name("shop-create-dev".into(), 64);
        assert_eq!(short, "shop-create-dev");
        let a = fit_name("x".repeat(70), 64);
        let b = fit_name(format!("{}y", "x".repeat(69)), 64);
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }

    #[test]
    fn fingerprints_change_with_their_inputs() {
        let s = spec();
        let mut t = spec();
        t.policy_mode = PolicyMode::Managed;
        assert_ne!(s.legacy_policy_fingerprint(), t.legacy_policy_fingerprint());
        assert_ne!(
            s.legacy_function_config_fingerprint("arn:a"),
            s.legacy_function_config_fingerprint("arn:b")
        );
        assert_ne!(
            s.legacy_integration_fingerprint("arn:a"),
            s.legacy_integration_fingerprint("arn:b")
        );
        assert_eq!(
            s.legacy_method_fingerprint(),
            spec().legacy_method_fingerprint()
        );
    }

    #[test]
    fn the_apis_resources_are_every_prefix_of_every_route_parents_first() {
        let mut deep = get_user_route();
        deep.path = "/user/{uid}/orders/{oid}".into();
        let r = resources_for(&[deep, post_user_route()]);
        let paths: Vec<(&str, &str, &str)> = r
            .iter()
            .map(|r| (r.path.as_str(), r.parent.as_str(), r.path_part.as_str()))
            .collect();
        assert_eq!(
            paths,
            [
                ("/user", "/", "user"),
                ("/user/{uid}", "/user", "{uid}"),
                ("/user/{uid}/orders", "/user/{uid}", "orders"),
                ("/user/{uid}/orders/{oid}", "/user/{uid}/orders", "{oid}"),
            ]
        );
        // The tutorial's: exactly its two resources.
        assert_eq!(spec().resources().len(), 2);
    }

    #[test]
    fn partitions_and_urls() {
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(
            invoke_url("abc", "us-east-1"),
            "https://abc.execute-api.us-east-1.amazonaws.com/prod/user"
        );
        assert!(validate_region("us-east-1").is_ok());
        assert!(validate_region("Mars").is_err());
    }

    #[test]
    fn runtimes() {
        assert!(validate_runtime("nodejs22.x").is_ok());
        assert!(validate_runtime("python3.12").is_err());
    }
}
