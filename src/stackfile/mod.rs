//! The stack file, `serverless-cli.toml`: the stack its owner edits. Tables, functions, the
//! API and its routes, within this tool's architecture (one REST API -> Lambda functions ->
//! DynamoDB tables), and the requests `try` sends.
//!
//! Read once, bounded and without following a symbolic link, parsed into the serde types
//! below (unknown keys and wrong types refused with line and column), then checked as a whole
//! ([`check`]) before any AWS call. The JSON Schema `serverless-cli schema` prints is generated
//! from the same types.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::UsageError;
use crate::stack::{
    self, ApiSpec, Billing, FunctionSpec, KeyAttr, ModelSpec, Names, PolicyMode, ResponseSpec,
    RouteSpec, StackSpec, TableSpec, TableUse,
};

pub mod auth;
pub mod check;
pub mod domain;
pub mod recorded;

/// The file every command reads from the current folder.
pub const FILE_NAME: &str = "serverless-cli.toml";
/// Names the stack file instead (as `--file` does).
pub const FILE_ENV: &str = "SERVERLESS_CLI_FILE";
/// A stack file is small; anything bigger is not one.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A serverless-cli stack: one REST API whose routes invoke Lambda functions that use
/// DynamoDB tables.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "serverless-cli stack file")]
pub struct FileDoc {
    /// The project's name: part of every stack's identity (its owner tags and its state's key)
    /// and of the default resource names (`{name}-{resource}-{stack}`), so two projects that
    /// both deploy a stack `dev` in one account never take each other's resources. Lower-case
    /// letters, digits and '-', starting with a letter, at most 24 characters. Default: the
    /// file's folder name, lower-cased, every other character run turned into '-'.
    pub name: Option<String>,
    /// The REST API.
    #[serde(default)]
    pub api: ApiDoc,
    /// DynamoDB tables, by logical name (`[tables.user]`).
    #[serde(default)]
    pub tables: BTreeMap<String, TableDoc>,
    /// What every function gets unless it sets its own (`[defaults]`): runtime, memory,
    /// timeout, log retention, code, exclude, and environment variables (merged: a function's
    /// own variable of the same name wins).
    #[serde(default)]
    pub defaults: DefaultsDoc,
    /// Lambda functions, by logical name (`[functions.putitem]`). Each gets its own IAM role
    /// and log group.
    #[serde(default)]
    pub functions: BTreeMap<String, FunctionDoc>,
    /// Request body models, by name (`[models.UserBody]`).
    #[serde(default)]
    pub models: BTreeMap<String, ModelDoc>,
    /// The API's routes (`[[routes]]`).
    #[serde(default)]
    pub routes: Vec<RouteDoc>,
    /// API keys, by logical name (`[api_keys.partner]`): a route with `api_key = true` takes
    /// one that is in a usage plan.
    #[serde(default)]
    pub api_keys: BTreeMap<String, auth::ApiKeyDoc>,
    /// Usage plans, by logical name (`[usage_plans.basic]`): throttle and quota for their keys.
    #[serde(default)]
    pub usage_plans: BTreeMap<String, auth::UsagePlanDoc>,
    /// Authorizers, by logical name (`[authorizers.users]`): a Cognito user pool, or a
    /// function of this file answering a token or request.
    #[serde(default)]
    pub authorizers: BTreeMap<String, auth::AuthorizerDoc>,
    /// Requests `serverless-cli try` sends, in order (`[[try]]`).
    #[serde(default, rename = "try")]
    pub tries: Vec<TryDoc>,
    /// Cognito users `try` signs in as (`[try_users.ada]`), for `[[try]]` requests that name
    /// one with `user`: an existing user of a cognito authorizer's pool.
    #[serde(default)]
    pub try_users: BTreeMap<String, auth::TryUserDoc>,
    /// The stack's own domain (`[domain]`): a name in a Route53 hosted zone, its certificate,
    /// and the stage mapped on it. docs/domain.md.
    pub domain: Option<domain::DomainDoc>,
}

/// The REST API.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiDoc {
    /// Its name; `${stack}` and `${project}` are replaced. Default `<project>-api-${stack}`.
    pub name: Option<String>,
    /// The stage deploy publishes to.
    #[serde(default = "default_stage")]
    pub stage: String,
    /// `regional` (the default) or `edge`.
    #[serde(default)]
    pub endpoint: Endpoint,
    /// How deploy builds the routes: `calls` (a call per part of each route), `document` (the
    /// whole API in one PutRestApi of its OpenAPI document), or `auto` (the default: per call
    /// while those calls fit API Gateway's account burst of 40, `document` past it).
    #[serde(default)]
    pub build: Build,
    /// How every route hands requests to its function unless the route says otherwise:
    /// `mapping` (the default: mapping templates and integration responses, the tutorial's)
    /// or `proxy` (Lambda proxy integration: the function gets the whole request and answers
    /// `{statusCode, headers, body}`, as Serverless, SAM and Chalice handlers expect).
    #[serde(default)]
    pub integration: Integration,
    /// Cross-origin requests from browsers (`[api.cors]`): deploy makes each path's OPTIONS
    /// preflight and puts the headers on every mapping route's responses and on API
    /// Gateway's own 4XX and 5XX answers; proxy routes' handlers answer them (they get the
    /// origin as `CORS_ALLOW_ORIGIN`).
    pub cors: Option<CorsDoc>,
    /// How many deployments the state keeps for `rollback` (each: the API's deployment and
    /// the version every function's `live` alias pointed to); older ones are forgotten and
    /// their function versions deleted. 2 to 50, default 5.
    #[serde(default = "default_keep_deployments")]
    pub keep_deployments: usize,
}

fn default_keep_deployments() -> usize {
    stack::KEEP_DEPLOYMENTS
}

/// `[api.cors]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorsDoc {
    /// The origin allowed: one (`https://app.example.com`) or `["*"]` (the default).
    /// API Gateway answers a fixed value from a preflight, a mapping route and its own
    /// errors, so one is what it can carry.
    #[serde(default = "any_origin")]
    pub allow_origins: Vec<String>,
    /// Default: each path's own methods, and OPTIONS.
    pub allow_methods: Option<Vec<String>>,
    /// Default: Content-Type, X-Amz-Date, Authorization, X-Api-Key, X-Amz-Security-Token.
    pub allow_headers: Option<Vec<String>>,
    /// Response headers a browser's script may read.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// Cookies and credentials allowed (not with the origin `*`).
    #[serde(default)]
    pub allow_credentials: bool,
    /// How long a browser may keep a preflight's answer (seconds).
    pub max_age_secs: Option<u32>,
}

/// The environment variable that tells a proxy route's handler the origin `[api.cors]`
/// allows (it answers `Access-Control-Allow-Origin` itself).
pub const CORS_ORIGIN_VAR: &str = "CORS_ALLOW_ORIGIN";

fn any_origin() -> Vec<String> {
    vec!["*".into()]
}

impl CorsDoc {
    pub fn spec(&self) -> stack::CorsSpec {
        stack::CorsSpec {
            allow_origin: self
                .allow_origins
                .first()
                .cloned()
                .unwrap_or_else(|| "*".into()),
            allow_methods: self
                .allow_methods
                .as_ref()
                .map(|m| m.iter().map(|x| x.to_ascii_uppercase()).collect()),
            allow_headers: self.allow_headers.clone().unwrap_or_else(|| {
                stack::CORS_DEFAULT_HEADERS
                    .iter()
                    .map(|h| h.to_string())
                    .collect()
            }),
            expose_headers: self.expose_headers.clone(),
            allow_credentials: self.allow_credentials,
            max_age_secs: self.max_age_secs,
        }
    }
}

/// How a route hands requests to its function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Integration {
    /// Mapping templates: the request template (or the JSON body) is the event, and the
    /// route's responses map the function's result and errors to statuses.
    #[default]
    Mapping,
    /// Lambda proxy integration: the event is the whole request (method, path, headers,
    /// query string, path parameters, body as text), and the function's
    /// `{statusCode, headers, body}` is the response.
    Proxy,
}

impl Integration {
    pub fn kind(self) -> stack::IntegrationKind {
        match self {
            Integration::Mapping => stack::IntegrationKind::Aws,
            Integration::Proxy => stack::IntegrationKind::Proxy,
        }
    }
}

/// How deploy builds the routes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Build {
    #[default]
    Auto,
    Calls,
    Document,
}

impl Default for ApiDoc {
    fn default() -> Self {
        ApiDoc {
            name: None,
            stage: default_stage(),
            endpoint: Endpoint::default(),
            build: Build::default(),
            integration: Integration::default(),
            cors: None,
            keep_deployments: default_keep_deployments(),
        }
    }
}

fn default_stage() -> String {
    stack::STAGE.to_string()
}

/// The API's endpoint type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    #[default]
    Regional,
    Edge,
}

/// A DynamoDB table.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableDoc {
    /// Its name; `${stack}` and `${project}` are replaced. Default
    /// `<project>-<logical name>-${stack}`.
    pub name: Option<String>,
    /// The partition key.
    pub hash_key: KeyDoc,
    /// The sort key, if any.
    pub range_key: Option<KeyDoc>,
    /// `provisioned` (the default, with `read_capacity` and `write_capacity`, 5 each by
    /// default) or `on-demand`.
    #[serde(default = "default_billing")]
    pub billing: Billing,
    pub read_capacity: Option<i64>,
    pub write_capacity: Option<i64>,
    /// Secondary indexes, by name (`[tables.users.indexes.by_email]`). A global index can be
    /// added, changed and removed later (deploy makes one change at a time, as DynamoDB
    /// allows); a local one (`local = true`) is made with the table only.
    #[serde(default)]
    pub indexes: BTreeMap<String, IndexDoc>,
}

/// A secondary index.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndexDoc {
    /// Its partition key (a local index: the table's own).
    pub hash_key: KeyDoc,
    /// Its sort key (required for a local index).
    pub range_key: Option<KeyDoc>,
    /// What it holds besides the keys: `"all"` (the default), `"keys"`, or a list of
    /// attribute names.
    #[serde(default)]
    pub projection: ProjectionDoc,
    /// A local secondary index: the table's partition key with another sort key, made with
    /// the table (changing it replaces the table).
    #[serde(default)]
    pub local: bool,
}

/// An index's projection.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ProjectionDoc {
    /// `"all"` or `"keys"`.
    Named(ProjectionName),
    /// The attributes it holds besides the keys.
    Attributes(Vec<String>),
}

impl Default for ProjectionDoc {
    fn default() -> Self {
        ProjectionDoc::Named(ProjectionName::All)
    }
}

/// `"all"` or `"keys"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProjectionName {
    All,
    Keys,
}

fn default_billing() -> Billing {
    Billing::Provisioned
}

/// A key attribute.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyDoc {
    pub name: String,
    /// `S` (string), `N` (number) or `B` (binary).
    #[serde(rename = "type")]
    pub ty: AttrType,
}

/// A key attribute's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum AttrType {
    S,
    N,
    B,
}

impl AttrType {
    fn as_str(self) -> &'static str {
        match self {
            AttrType::S => "S",
            AttrType::N => "N",
            AttrType::B => "B",
        }
    }
}

/// A Lambda function, with its own role (least privilege: its tables' actions and its own
/// logs) and log group. Secrets do not belong here: the file is meant to be committed.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionDoc {
    /// Its name; `${stack}` and `${project}` are replaced. Default
    /// `<project>-<logical name>-${stack}`.
    pub name: Option<String>,
    /// Its role's name; `${stack}` and `${project}` are replaced. Default
    /// `<project>-<logical name>-${stack}-role`.
    pub role_name: Option<String>,
    /// Its code: a folder (packaged deterministically) or a .zip, relative to this file and
    /// inside its folder. Hidden files (`.git`, `.serverless-cli`), the state folder and this
    /// file are never packed. Required here or in `[defaults]`.
    #[serde(default)]
    pub code: String,
    /// Files of the code folder left out of the zip: glob patterns relative to it, as in a
    /// .gitignore (`*.test.mjs`, `test/**`, `docs`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Lets `code` name a folder or zip outside this file's folder (`../shared`, an absolute
    /// path): refused unless this says so, so that a copied file cannot pack what it should
    /// not reach.
    #[serde(default)]
    pub allow_code_outside: bool,
    /// `module.export`: `index.handler` runs the `handler` export of index.mjs.
    #[serde(default = "default_handler")]
    pub handler: String,
    #[serde(default = "default_runtime")]
    pub runtime: String,
    /// 128 to 10240.
    #[serde(default = "default_memory")]
    pub memory_mb: i32,
    /// 1 to 900.
    #[serde(default = "default_timeout")]
    pub timeout_secs: i32,
    /// A retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, ...).
    #[serde(default = "default_retention")]
    pub log_retention_days: i32,
    /// Environment variables. A value may name `${tables.<name>.name}`,
    /// `${tables.<name>.arn}`, `${stack}`, `${project}` or `${region}`. No secrets.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// The tables it uses, each with the DynamoDB actions it may take on it
    /// (`user = ["dynamodb:PutItem", "dynamodb:GetItem"]`).
    #[serde(default)]
    pub tables: BTreeMap<String, Vec<String>>,
}

/// Function settings every function takes unless it sets its own (the role of SAM's
/// `Globals` and the Serverless Framework's `provider` block).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultsDoc {
    pub runtime: Option<String>,
    /// 128 to 10240.
    pub memory_mb: Option<i32>,
    /// 1 to 900.
    pub timeout_secs: Option<i32>,
    /// A retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, ...).
    pub log_retention_days: Option<i32>,
    /// A code folder or .zip, relative to this file, for the functions that name none.
    pub code: Option<String>,
    /// Files left out of every function's zip (a function's own `exclude` replaces it).
    pub exclude: Option<Vec<String>>,
    /// Environment variables every function gets; a function's own of the same name wins.
    /// The same references as a function's (`${tables.<name>.name}` ...). No secrets.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
}

/// Gives each function the `[defaults]` it does not set itself (`raw`: the file as parsed,
/// which says what each function set). Returns, per function, the fields that came from the
/// defaults (`environment.NAME` for a variable), so that checks point at `[defaults]`.
fn apply_defaults(doc: &mut FileDoc, raw: &toml::Table) -> BTreeMap<String, Vec<String>> {
    let d = doc.defaults.clone();
    let mut taken = BTreeMap::new();
    for (logical, f) in doc.functions.iter_mut() {
        let set = raw
            .get("functions")
            .and_then(|v| v.get(logical.as_str()))
            .and_then(toml::Value::as_table);
        let has = |k: &str| set.is_some_and(|t| t.contains_key(k));
        let mut from: Vec<String> = Vec::new();
        macro_rules! take {
            ($field:ident, $value:expr) => {
                if let Some(v) = $value {
                    if !has(stringify!($field)) {
                        f.$field = v;
                        from.push(stringify!($field).to_string());
                    }
                }
            };
        }
        take!(runtime, d.runtime.clone());
        take!(memory_mb, d.memory_mb);
        take!(timeout_secs, d.timeout_secs);
        take!(log_retention_days, d.log_retention_days);
        take!(code, d.code.clone());
        take!(exclude, d.exclude.clone());
        for (k, v) in &d.environment {
            if !f.environment.contains_key(k) {
                f.environment.insert(k.clone(), v.clone());
                from.push(format!("environment.{k}"));
            }
        }
        taken.insert(logical.clone(), from);
    }
    taken
}

fn default_handler() -> String {
    stack::HANDLER.to_string()
}
fn default_runtime() -> String {
    "nodejs22.x".to_string()
}
fn default_memory() -> i32 {
    stack::FUNCTION_MEMORY_MB
}
fn default_timeout() -> i32 {
    stack::FUNCTION_TIMEOUT_SECS
}
fn default_retention() -> i32 {
    14
}

/// A request body model.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelDoc {
    /// JSON Schema draft 4 (what API Gateway takes), as JSON text.
    pub schema: String,
}

/// One route: a method on a path, invoking a function.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteDoc {
    /// GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY.
    pub method: String,
    /// `/user/{uid}`: each `{param}` a whole segment.
    pub path: String,
    /// The function it invokes (its logical name).
    pub function: String,
    /// A model (from `[models]`) the request body must match; API Gateway refuses others.
    pub model: Option<String>,
    /// Request mapping template (Velocity) for the event the function gets; without one the
    /// JSON body is the event. Mapping integration only.
    pub request_template: Option<String>,
    /// `mapping` or `proxy`; default: `[api] integration`.
    pub integration: Option<Integration>,
    /// How the function's answers map to statuses: one response without `pattern` (the
    /// default, for success), and one per error pattern. Without this list: 200, and 400,
    /// 404, 500 for errors whose message starts with `BadRequest:`, `NotFound:`, `Internal:`,
    /// 502 when the runtime exits, 504 on timeout. Mapping integration only: a proxy
    /// route's response is what the function answers.
    pub responses: Option<Vec<ResponseDoc>>,
    /// The caller must send an API key (`x-api-key`) of a usage plan of this stage.
    #[serde(default)]
    pub api_key: bool,
    /// An authorizer of `[authorizers]`, or `"iam"` (SigV4-signed requests).
    pub authorizer: Option<String>,
    /// Cognito only: the access token must carry one of these scopes (without scopes the
    /// route takes an ID token).
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// One response of a route.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseDoc {
    /// The HTTP status.
    pub status: u16,
    /// A regex on the function's error message (matched against the whole message, Java
    /// syntax); none for the default response.
    pub pattern: Option<String>,
    /// Instead of `pattern`: a failure Lambda itself reports, whose pattern this tool
    /// supplies: `runtime-exit` (the function's process exited mid-request) or `timeout`;
    /// or `unmatched`: every error no other response's pattern selects (API Gateway would
    /// otherwise answer it with the default response, 200, and the error's stack trace).
    pub on: Option<LambdaFailure>,
    /// Response mapping template for `application/json`; none passes the body through.
    pub template: Option<String>,
    /// Response headers: a fixed value (`"Cache-Control" = "no-store"`), or a mapping of the
    /// function's answer: `integration.response.body.<field>` (a field of its result) or
    /// `integration.response.header.<name>` (a header of Lambda's invoke answer).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// A failure Lambda reports in the error message itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LambdaFailure {
    RuntimeExit,
    Timeout,
    /// Any error the route's other patterns do not select.
    Unmatched,
}

impl LambdaFailure {
    /// The selection pattern that matches it; for `unmatched`, built from the route's
    /// other patterns ([`stack::unmatched_pattern`]).
    pub fn pattern(self, others: &[&str]) -> String {
        match self {
            LambdaFailure::RuntimeExit => stack::RUNTIME_EXITED_PATTERN.into(),
            LambdaFailure::Timeout => stack::TIMED_OUT_PATTERN.into(),
            LambdaFailure::Unmatched => stack::unmatched_pattern(others),
        }
    }

    /// The messages Lambda really writes for it (the pattern is looser): what the file's
    /// other patterns must not match. `None` for `unmatched`, which by construction matches
    /// no message another pattern does.
    pub fn shape(self) -> Option<&'static str> {
        match self {
            LambdaFailure::RuntimeExit => {
                Some(r"RequestId: [0-9a-f-]{36} Error: Runtime exited( with error: [^\n]*)?")
            }
            LambdaFailure::Timeout => Some(
                r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z [0-9a-f-]{36} Task timed out after [0-9]+\.[0-9]{2} seconds",
            ),
            LambdaFailure::Unmatched => None,
        }
    }
}

/// A request `try` sends, and what it expects back.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TryDoc {
    /// What it checks, for the report.
    pub name: Option<String>,
    pub method: String,
    /// Under the stage: `/user/${run}`. `${run}` is replaced by an id new to each run.
    pub path: String,
    /// The body (JSON text); `${run}` is replaced.
    pub body: Option<String>,
    /// The status expected.
    pub status: u16,
    /// Text the response body must contain; `${run}` is replaced.
    pub expect: Option<String>,
    /// An API key of `[api_keys]` to send in `x-api-key` (try reads its value from API
    /// Gateway, as `serverless-cli api-key` does; it is never printed).
    pub api_key: Option<String>,
    /// A user of `[try_users]` whose token to send in the authorizer's header.
    pub user: Option<String>,
    /// Which of the user's tokens: `id` (the default; what a route without scopes takes) or
    /// `access` (what a route with scopes takes).
    pub token: Option<auth::TokenUse>,
}

/// A stack file, read and checked.
#[derive(Debug, Clone)]
pub struct StackFile {
    pub path: PathBuf,
    /// The folder it is in: code paths are relative to it.
    pub dir: PathBuf,
    pub doc: FileDoc,
    /// The project whose stacks this file describes ([`project_of`]); `None` only for a stack
    /// an earlier release deployed from it, which keeps its names (set by the session).
    pub project: Option<String>,
    /// Per function, the fields it took from `[defaults]` (`environment.NAME` for a variable).
    pub defaulted: BTreeMap<String, Vec<String>>,
}

/// The project a stack file names, or its folder's name made into one
/// ([`stack::project_from_folder`]).
pub fn project_of(name: Option<&str>, path: &Path) -> Result<String, String> {
    if let Some(n) = name {
        stack::validate_project_name(n)?;
        return Ok(n.to_string());
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let folder = std::fs::canonicalize(&dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()));
    folder
        .as_deref()
        .and_then(stack::project_from_folder)
        .ok_or_else(|| {
            format!(
                "the stack file's folder gives no project name; set `name = \"my-api\"` at the top of {}",
                path.display()
            )
        })
}

/// The project of the run's stack file (`--file`, else `serverless-cli.toml` here), read
/// without the file's checks (the command has run them, or will); `None` without a file.
pub fn project_for(explicit: Option<&Path>) -> Result<Option<String>, UsageError> {
    let path = match explicit {
        Some(p) => p,
        None if std::fs::symlink_metadata(FILE_NAME).is_ok() => Path::new(FILE_NAME),
        None => return Ok(None),
    };
    let shown = path.display().to_string();
    let bytes = crate::safe_fs::read_capped(path, MAX_FILE_BYTES)
        .map_err(|e| UsageError(format!("{shown}: {}", describe_io(&e))))?;
    let text = String::from_utf8_lossy(&bytes);
    let name = toml::from_str::<toml::Table>(&text)
        .ok()
        .and_then(|t| t.get("name").and_then(|n| n.as_str()).map(str::to_string));
    project_of(name.as_deref(), path)
        .map(Some)
        .map_err(|e| UsageError(format!("{shown}: {e}")))
}

/// Lambda's and CloudWatch Logs' ranges.
pub const MEMORY_MB: std::ops::RangeInclusive<i32> = 128..=10240;
pub const TIMEOUT_SECS: std::ops::RangeInclusive<i32> = 1..=900;

/// The tutorial's stack file: what `init` writes, and (with deploy's flags over it) the
/// built-in stack when there is no stack file.
pub const TUTORIAL_FILE: &str = include_str!("../../examples/tutorial/serverless-cli.toml");

/// The built-in stack: the tutorial's file with deploy's flags over it (`t`). It belongs to
/// no named project: its names are the ones its state records or the flags give (`names`),
/// and its owner tag names the stack alone, as in the releases before stack files. Its code is
/// the handler the binary carries.
pub fn builtin_spec(
    stack: &str,
    region: &str,
    account: &str,
    names: &Names,
    t: &stack::Tutorial,
) -> StackSpec {
    // The embedded file is a constant that the unit tests parse and compare with the
    // tutorial's stack as the earlier releases built it.
    let mut doc: FileDoc =
        toml::from_str(TUTORIAL_FILE).expect("the embedded tutorial file parses (tested)");
    doc.api.name = Some(names.api.clone());
    for table in doc.tables.values_mut() {
        table.name = Some(names.table.clone());
        table.billing = t.billing;
    }
    for f in doc.functions.values_mut() {
        f.name = Some(names.function.clone());
        f.role_name = Some(names.role.clone());
        f.runtime = t.runtime.clone();
        f.memory_mb = t.memory_mb;
        f.timeout_secs = t.timeout_secs;
        f.log_retention_days = t.log_retention_days;
    }
    let file = StackFile {
        path: PathBuf::from(FILE_NAME),
        dir: PathBuf::from("."),
        doc,
        project: None,
        defaulted: BTreeMap::new(),
    };
    let mut spec = file.spec(stack, region, account);
    spec.policy_mode = t.policy_mode;
    for f in &mut spec.functions {
        f.code = None;
    }
    spec
}

impl StackFile {
    /// The stack file of this run: `--file` (or its variable), else `serverless-cli.toml` in
    /// the current folder if there is one; `None`: the built-in tutorial stack.
    pub fn find(explicit: Option<&Path>, stack: &str) -> Result<Option<StackFile>, UsageError> {
        match explicit {
            Some(p) => StackFile::load(p, stack).map(Some),
            None => {
                let p = Path::new(FILE_NAME);
                if std::fs::symlink_metadata(p).is_ok() {
                    StackFile::load(p, stack).map(Some)
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// Reads, parses and checks a stack file (no AWS call).
    pub fn load(path: &Path, stack: &str) -> Result<StackFile, UsageError> {
        let shown = path.display().to_string();
        let bytes = crate::safe_fs::read_capped(path, MAX_FILE_BYTES).map_err(|e| {
            UsageError(format!(
                "{shown}: {}; give a stack file with --file or {FILE_ENV}, or run `serverless-cli init` to write one",
                describe_io(&e)
            ))
        })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| UsageError(format!("{shown}: not UTF-8 text; save it as UTF-8")))?;
        StackFile::parse(path, &text, stack)
    }

    /// Parses and checks a stack file's text (no AWS call); `path` is where it was read.
    fn parse(path: &Path, text: &str, stack: &str) -> Result<StackFile, UsageError> {
        let shown = path.display().to_string();
        let doc: FileDoc = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            UsageError(format!("{shown}:{line}:{col}: {}", e.message().trim_end()))
        })?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut doc = doc;
        // The text parsed above as typed; as a table it says what each function set itself.
        let raw: toml::Table = toml::from_str(text).unwrap_or_default();
        let defaulted = apply_defaults(&mut doc, &raw);
        let project = project_of(doc.name.as_deref(), path);
        let mut file = StackFile {
            path: path.to_path_buf(),
            dir,
            doc,
            project: project.clone().ok(),
            defaulted,
        };
        let problems = check::check(&file, stack);
        if !problems.is_empty() {
            return Err(UsageError(check::render(&problems, &shown, text)));
        }
        file.project = Some(project.map_err(|e| UsageError(format!("{shown}: {e}")))?);
        Ok(file)
    }

    /// Whether a function's field (`memory_mb`, `environment.NAME`) came from `[defaults]`.
    pub fn takes_default(&self, logical: &str, field: &str) -> bool {
        self.defaulted
            .get(logical)
            .is_some_and(|f| f.iter().any(|x| x == field))
    }

    /// A code path of the file, resolved against its folder.
    pub fn code_path(&self, code: &str) -> PathBuf {
        self.dir.join(code)
    }

    /// The names the state file's header records for a stack of this file.
    pub fn names(&self, stack: &str) -> Names {
        let spec = self.spec(stack, "us-east-1", "000000000000");
        Names {
            table: spec
                .tables
                .first()
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            role: spec
                .functions
                .first()
                .map(|f| f.role.clone())
                .unwrap_or_default(),
            function: spec
                .functions
                .first()
                .map(|f| f.name.clone())
                .unwrap_or_default(),
            api: spec.api.name,
        }
    }

    /// What a function's zip leaves out: its `exclude` patterns, this file, and `never` (the
    /// state folder, this machine's journal).
    pub fn skip(&self, f: &FunctionDoc, never: &[PathBuf]) -> crate::package::Skip {
        let mut paths: Vec<PathBuf> = never
            .iter()
            .chain(std::iter::once(&self.path))
            .filter_map(|p| std::fs::canonicalize(p).ok())
            .collect();
        paths.sort();
        paths.dedup();
        crate::package::Skip {
            paths,
            patterns: f.exclude.clone(),
        }
    }

    /// Each function's code, packaged (no AWS call). A folder that several functions share is
    /// read and zipped once.
    pub fn codes(
        &self,
        never: &[PathBuf],
        cache: &mut crate::code::HashCache,
    ) -> Result<crate::code::Codes, UsageError> {
        let mut out = BTreeMap::new();
        let mut made: Vec<(
            (PathBuf, &str, crate::package::Skip),
            crate::code::CodePackage,
        )> = Vec::new();
        for (logical, f) in &self.doc.functions {
            let module = module_of(&f.handler).unwrap_or("index");
            let path = self.code_path(&f.code);
            let skip = self.skip(f, never);
            let id = (
                std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone()),
                module,
                skip.clone(),
            );
            if let Some((_, code)) = made.iter().find(|(k, _)| *k == id) {
                out.insert(logical.clone(), code.clone());
                continue;
            }
            let what = format!("functions.{logical}.code");
            let code = crate::code::CodePackage::load_cached(&path, module, &what, &skip, cache)
                .map_err(UsageError)?;
            made.push((id, code.clone()));
            out.insert(logical.clone(), code);
        }
        Ok(out)
    }

    /// The model the file describes, for a stack, region and account.
    pub fn spec(&self, stack: &str, region: &str, account: &str) -> StackSpec {
        let doc = &self.doc;
        let project = self.project.as_deref();
        let named = |name: &Option<String>, default: String| match name {
            Some(n) => n
                .replace("${stack}", stack)
                .replace("${project}", project.unwrap_or_default()),
            None => default,
        };
        // `{project}-{resource}-{stack}`, within AWS's limits ([`stack::fit_name`]); a stack of
        // no named project keeps the names earlier releases gave (`{resource}-{stack}`).
        let default = |resource: &str, suffix: &str, max: usize| {
            let base = match project {
                Some(p) => format!("{p}-{resource}-{stack}{suffix}"),
                None => format!("{resource}-{stack}{suffix}"),
            };
            stack::fit_name(base, max)
        };
        let partition = stack::partition(region);
        let tables: Vec<TableSpec> = doc
            .tables
            .iter()
            .map(|(logical, t)| TableSpec {
                logical: logical.clone(),
                name: named(&t.name, default(logical, "", 255)),
                hash_key: key_attr(&t.hash_key),
                range_key: t.range_key.as_ref().map(key_attr),
                billing: t.billing,
                capacity: (
                    t.read_capacity.unwrap_or(stack::TUTORIAL_CAPACITY.0),
                    t.write_capacity.unwrap_or(stack::TUTORIAL_CAPACITY.1),
                ),
                indexes: t
                    .indexes
                    .iter()
                    .map(|(name, x)| stack::IndexSpec {
                        name: name.clone(),
                        hash_key: key_attr(&x.hash_key),
                        range_key: x.range_key.as_ref().map(key_attr),
                        projection: match &x.projection {
                            ProjectionDoc::Named(ProjectionName::All) => stack::Projection::All,
                            ProjectionDoc::Named(ProjectionName::Keys) => {
                                stack::Projection::KeysOnly
                            }
                            ProjectionDoc::Attributes(a) => stack::Projection::Include(a.clone()),
                        },
                        local: x.local,
                    })
                    .collect(),
            })
            .collect();
        let table_name = |logical: &str| {
            tables
                .iter()
                .find(|t| t.logical == logical)
                .map(|t| t.name.clone())
                .unwrap_or_default()
        };
        let mut functions: Vec<FunctionSpec> = doc
            .functions
            .iter()
            .map(|(logical, f)| {
                let env = f
                    .environment
                    .iter()
                    .map(|(k, v)| {
                        let v = resolve_refs(v, |r| match r {
                            "stack" => Some(stack.to_string()),
                            "project" => Some(project.unwrap_or_default().to_string()),
                            "region" => Some(region.to_string()),
                            _ => {
                                let rest = r.strip_prefix("tables.")?;
                                let (t, field) = rest.rsplit_once('.')?;
                                let name = table_name(t);
                                match field {
                                    "name" => Some(name),
                                    "arn" => Some(format!(
                                        "arn:{partition}:dynamodb:{region}:{account}:table/{name}"
                                    )),
                                    _ => None,
                                }
                            }
                        });
                        (k.clone(), v.unwrap_or_default())
                    })
                    .collect();
                FunctionSpec {
                    logical: logical.clone(),
                    name: named(&f.name, default(logical, "", 64)),
                    role: named(&f.role_name, default(logical, "-role", 64)),
                    code: Some(self.code_path(&f.code)),
                    handler: f.handler.clone(),
                    runtime: f.runtime.clone(),
                    memory_mb: f.memory_mb,
                    timeout_secs: f.timeout_secs,
                    env,
                    log_retention_days: f.log_retention_days,
                    tables: f
                        .tables
                        .iter()
                        .map(|(t, actions)| TableUse {
                            table: t.clone(),
                            actions: canonical_actions(actions),
                        })
                        .collect(),
                    policy_name: format!("{logical}-least-privilege"),
                }
            })
            .collect();
        let mut routes: Vec<RouteSpec> = doc
            .routes
            .iter()
            .map(|r| route_spec(r, doc.api.integration))
            .collect();
        let cors = doc.api.cors.as_ref().map(CorsDoc::spec);
        if let Some(c) = &cors {
            // Every mapping route's answers carry the headers (a proxy route's handler
            // answers them), and each path gets its preflight.
            for r in &mut routes {
                for x in &mut r.responses {
                    for (k, v) in c.response_headers() {
                        if !x.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(&k)) {
                            x.headers.push((k, v));
                        }
                    }
                }
            }
            let preflights = c.preflight_routes(&routes);
            routes.extend(preflights);
            // A proxy route's handler answers the CORS headers itself: it is told the origin.
            for f in &mut functions {
                let proxied = routes.iter().any(|r| {
                    r.function == f.logical && r.integration == stack::IntegrationKind::Proxy
                });
                if proxied && !f.env.iter().any(|(k, _)| k == CORS_ORIGIN_VAR) {
                    f.env.push((CORS_ORIGIN_VAR.into(), c.allow_origin.clone()));
                }
            }
        }
        StackSpec {
            stack: stack.to_string(),
            owner_tag: stack::owner_id(project, stack),
            region: region.to_string(),
            account: account.to_string(),
            policy_mode: PolicyMode::LeastPrivilege,
            tables,
            functions,
            api: ApiSpec {
                name: named(
                    &doc.api.name,
                    match project {
                        Some(p) => stack::fit_name(format!("{p}-api-{stack}"), 128),
                        None => format!("serverless-backend-{stack}"),
                    },
                ),
                stage: doc.api.stage.clone(),
                endpoint_type: match doc.api.endpoint {
                    Endpoint::Regional => "REGIONAL".into(),
                    Endpoint::Edge => "EDGE".into(),
                },
                build: match doc.api.build {
                    Build::Auto => stack::ApiBuild::auto(&routes, doc.models.len()),
                    Build::Calls => stack::ApiBuild::Calls,
                    Build::Document => stack::ApiBuild::Document,
                },
                cors,
                keep_deployments: doc.api.keep_deployments,
            },
            models: doc
                .models
                .iter()
                .map(|(name, m)| ModelSpec {
                    name: name.clone(),
                    schema: minify_json(&m.schema),
                })
                .collect(),
            routes,
            auth: auth::spec(doc, |name, logical| named(name, default(logical, "", 128))),
            domain: doc.domain.as_ref().map(domain::spec),
        }
    }
}

fn key_attr(k: &KeyDoc) -> KeyAttr {
    KeyAttr {
        name: k.name.clone(),
        ty: k.ty.as_str().to_string(),
    }
}

/// The module a handler names: `index` for `index.handler`.
pub fn module_of(handler: &str) -> Option<&str> {
    let (module, export) = handler.rsplit_once('.')?;
    (!module.is_empty() && !export.is_empty()).then_some(module)
}

/// The DynamoDB actions a function may take on a table, in the order this tool writes
/// policies in (so that reordering them in the file changes nothing).
pub const TABLE_ACTIONS: [&str; 10] = [
    "dynamodb:PutItem",
    "dynamodb:GetItem",
    "dynamodb:DeleteItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
];

fn canonical_actions(actions: &[String]) -> Vec<String> {
    TABLE_ACTIONS
        .iter()
        .filter(|a| actions.iter().any(|x| x == *a))
        .map(|a| a.to_string())
        .collect()
}

fn route_spec(r: &RouteDoc, default: Integration) -> RouteSpec {
    let integration = r.integration.unwrap_or(default).kind();
    let path_params = r
        .path
        .split('/')
        .filter_map(|p| p.strip_prefix('{')?.strip_suffix('}'))
        .map(|p| p.trim_end_matches('+').to_string())
        .collect();
    let responses = match &r.responses {
        // The function's answer is the response (the check refuses responses here).
        _ if integration == stack::IntegrationKind::Proxy => Vec::new(),
        Some(list) => list
            .iter()
            .map(|x| ResponseSpec {
                status: x.status.to_string(),
                selection_pattern: x.pattern.clone().or_else(|| {
                    let others: Vec<String> = list
                        .iter()
                        .filter(|o| o.on != Some(LambdaFailure::Unmatched))
                        .filter_map(|o| o.pattern.clone().or_else(|| o.on.map(|f| f.pattern(&[]))))
                        .collect();
                    let others: Vec<&str> = others.iter().map(String::as_str).collect();
                    x.on.map(|f| f.pattern(&others))
                }),
                template: x.template.clone(),
                headers: x
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), header_mapping(v)))
                    .collect(),
            })
            .collect(),
        None => stack::default_responses(),
    };
    RouteSpec {
        http_method: r.method.to_ascii_uppercase(),
        path: r.path.clone(),
        path_params,
        request_model: r.model.clone(),
        request_template: r.request_template.clone(),
        table_actions: Vec::new(),
        function: r.function.clone(),
        integration,
        responses,
        auth: auth::route_auth(r),
    }
}

/// A response header's value in the file as API Gateway's mapping expression: a mapping of
/// the function's answer as it is, any other value fixed (quoted).
pub fn header_mapping(value: &str) -> String {
    if value.starts_with("integration.response.header.")
        || value.starts_with("integration.response.body.")
    {
        value.to_string()
    } else {
        stack::quoted(value)
    }
}

/// Replaces each `${name}` by what `lookup` gives; `None` if one is unknown.
pub fn resolve_refs(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after.find('}')?;
        out.push_str(&lookup(&after[..end])?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// JSON text without the whitespace between tokens (keys keep their order): a model's schema
/// as API Gateway gets it, the same whatever the file's formatting.
pub fn minify_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        _ => e.to_string(),
    }
}

/// The JSON Schema of the stack file (draft 7, which Taplo and VS Code read).
pub fn json_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<FileDoc>();
    serde_json::to_value(schema).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name)
            .join(FILE_NAME)
    }

    #[test]
    fn the_tutorial_example_is_exactly_the_built_in_stack() {
        let mut f = StackFile::load(&example("tutorial"), "prod").unwrap();
        // Its project is its folder's; a fresh stack of it gets that project's names.
        assert_eq!(f.project.as_deref(), Some("tutorial"));
        assert_eq!(f.names("prod").function, "tutorial-putitem-prod");
        assert_eq!(f.names("prod").role, "tutorial-putitem-prod-role");
        assert_eq!(f.names("prod").api, "tutorial-api-prod");
        // The built-in stack, once deployed, is this file under the identity it was deployed
        // with (no named project), which the session settles on.
        f.project = None;
        let mut a = f.spec("prod", "eu-west-1", "123456789012");
        let b = stack::tests_support::spec();
        for f in &mut a.functions {
            f.code = None;
        }
        assert_same_model(a, b);
        assert_eq!(f.names("prod"), Names::defaults("prod"));
        // The same code, byte for byte: the built-in zip is this folder's.
        let codes = f
            .codes(&[], &mut crate::code::HashCache::default())
            .unwrap();
        assert_eq!(
            codes["putitem"].sha256,
            crate::code::CodePackage::embedded().sha256
        );
    }

    /// The built-in stack is the embedded tutorial file with deploy's flags over it: exactly
    /// what the releases before stack files built, with their flags and without.
    #[test]
    fn the_built_in_stack_is_the_embedded_file_with_the_flags_over_it() {
        use crate::stack::tests_support::tutorial;
        let names = Names::defaults("dev");
        let mut custom = names.clone();
        custom.table = "people".into();
        custom.function = "people-writer".into();
        custom.role = "people-writer-role".into();
        custom.api = "people-api".into();
        let flags = stack::Tutorial {
            billing: stack::Billing::OnDemand,
            policy_mode: PolicyMode::Managed,
            runtime: "nodejs20.x".into(),
            log_retention_days: 30,
            memory_mb: 512,
            timeout_secs: 20,
        };
        for (names, t) in [(names.clone(), stack::Tutorial::default()), (custom, flags)] {
            let a = builtin_spec("dev", "eu-west-1", "123456789012", &names, &t);
            let b = tutorial("dev", "eu-west-1", "123456789012", &names, t);
            assert_eq!(a.owner_tag, b.owner_tag);
            assert_same_model(a, b);
        }
    }

    /// Two models describe the same stack (the routes' table actions aside: the tutorial's
    /// routes carry them, a file's function lists them).
    fn assert_same_model(mut a: StackSpec, mut b: StackSpec) {
        for r in a.routes.iter_mut().chain(b.routes.iter_mut()) {
            r.table_actions.clear();
        }
        assert_eq!(a.tables, b.tables);
        assert_eq!(a.functions, b.functions);
        assert_eq!(a.api, b.api);
        assert_eq!(a.models, b.models);
        assert_eq!(a.routes, b.routes);
        assert_eq!(a.policy_mode, b.policy_mode);
    }

    #[test]
    fn formatting_comments_and_order_change_nothing() {
        let text = std::fs::read_to_string(example("tutorial")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("handler")).unwrap();
        std::fs::write(dir.path().join("handler/index.mjs"), "x").unwrap();
        // Routes swapped, actions reordered, the model re-indented, comments dropped.
        let (head, routes) = text.split_once("[[routes]]").unwrap();
        let (routes, tries) = routes.split_once("[[try]]").unwrap();
        let (post, get) = routes.split_once("[[routes]]").unwrap();
        let head: String = head
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            .replace(
                r#"["dynamodb:PutItem", "dynamodb:GetItem"]"#,
                r#"["dynamodb:GetItem","dynamodb:PutItem"]"#,
            )
            .replace("  \"type\": \"object\",\n", "\"type\":\n\n   \"object\",\n");
        let swapped = format!("{head}[[routes]]{get}\n[[routes]]{post}[[try]]{tries}");
        let p = dir.path().join(FILE_NAME);
        std::fs::write(&p, &swapped).unwrap();
        // The two folders' names differ: give both one project.
        let load = |p: &Path| {
            let mut f = StackFile::load(p, "prod").unwrap();
            f.project = Some("same".into());
            f.spec("prod", "r-1", "1")
        };
        let a = load(&example("tutorial"));
        let b = load(&p);
        let graph = |s: &StackSpec| {
            let mut keys: Vec<String> = crate::kinds::graph::Graph::new(s)
                .nodes
                .iter()
                .map(|n| n.key.clone())
                .collect();
            keys.sort();
            keys
        };
        assert_eq!(graph(&a), graph(&b));
        assert_eq!(a.models, b.models);
        assert_eq!(a.functions[0].tables, b.functions[0].tables);
        assert_eq!(
            a.inline_policy(&a.functions[0]),
            b.inline_policy(&b.functions[0])
        );
        let mut ra = a.routes.clone();
        let mut rb = b.routes.clone();
        ra.sort_by_key(|r| r.label());
        rb.sort_by_key(|r| r.label());
        assert_eq!(ra, rb);
    }

    #[test]
    fn the_schema_describes_the_file() {
        let s = json_schema();
        let text = s.to_string();
        for word in [
            "routes",
            "functions",
            "tables",
            "hash_key",
            "memory_mb",
            "try",
        ] {
            assert!(text.contains(word), "{word}");
        }
        assert_eq!(s["$schema"], "http://json-schema.org/draft-07/schema#");
        // The schema the repository carries (and editors read) is the one the code makes:
        // `serverless-cli schema > serverless-cli.schema.json` after a change to the file.
        let committed: serde_json::Value =
            serde_json::from_str(include_str!("../../serverless-cli.schema.json")).unwrap();
        // (Not assert_eq: the two documents would fill the screen.)
        assert!(
            committed == s,
            "serverless-cli.schema.json is stale: regenerate it (cargo run -q -- schema > serverless-cli.schema.json)"
        );
    }
}
