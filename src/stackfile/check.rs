//! Everything about a stack file that can be known before an AWS call: references, routes
//! API Gateway would refuse, models, patterns, names and limits, code folders. Each problem
//! names its entry (`routes[2].function`), its line and column, and the fix.

use std::collections::{BTreeMap, BTreeSet};

use super::{module_of, StackFile, MEMORY_MB, TABLE_ACTIONS, TIMEOUT_SECS};
use crate::stack;

/// One step of the way to an entry of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(s: &str) -> Self {
        Seg::Key(s.to_string())
    }
}
impl From<&String> for Seg {
    fn from(s: &String) -> Self {
        Seg::Key(s.clone())
    }
}
impl From<usize> for Seg {
    fn from(i: usize) -> Self {
        Seg::Index(i)
    }
}

/// A problem of the file: where, and what to do.
#[derive(Debug, Clone)]
pub struct Problem {
    pub at: Vec<Seg>,
    pub message: String,
}

macro_rules! at {
    ($($s:expr),* $(,)?) => { vec![$(Seg::from($s)),*] };
}

/// Where a function's field is written: under `[defaults]` when it came from there.
fn fn_at(file: &StackFile, logical: &str, field: &str) -> Vec<Seg> {
    let mut at = if file.takes_default(logical, field) {
        at!["defaults"]
    } else {
        at!["functions", logical]
    };
    at.extend(field.splitn(2, '.').map(|s| Seg::Key(s.to_string())));
    at
}

/// `routes[2].function`.
pub fn dotted(at: &[Seg]) -> String {
    let mut out = String::new();
    for s in at {
        match s {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The problems, one per line: `file:line:col: entry: message`.
pub fn render(problems: &[Problem], file: &str, text: &str) -> String {
    let doc = text.parse::<toml_edit::ImDocument<String>>().ok();
    let mut lines = Vec::new();
    for p in problems.iter().take(20) {
        let (line, col) = doc
            .as_ref()
            .and_then(|d| span_of(d, &p.at))
            .map(|s| super::line_col(text, s))
            .unwrap_or((1, 1));
        lines.push(format!(
            "{file}:{line}:{col}: {}: {}",
            dotted(&p.at),
            p.message
        ));
    }
    if problems.len() > 20 {
        lines.push(format!("... and {} more", problems.len() - 20));
    }
    lines.join("\n")
}

/// Where an entry starts in the text: the deepest part of the way that the document has.
fn span_of(doc: &toml_edit::ImDocument<String>, at: &[Seg]) -> Option<usize> {
    let mut item: &toml_edit::Item = doc.as_item();
    let mut best = None;
    for seg in at {
        let next = match seg {
            Seg::Key(k) => {
                if let Some(t) = item.as_table_like() {
                    if let Some((key, _)) = t.get_key_value(k) {
                        if let Some(s) = key.span() {
                            best = Some(s.start);
                        }
                    }
                }
                item.get(k.as_str())
            }
            Seg::Index(i) => item.get(*i),
        };
        match next {
            Some(n) => {
                if let Some(s) = n.span() {
                    best = Some(s.start);
                }
                if let Some(t) = n.as_table() {
                    if let Some(s) = t.span() {
                        best = Some(s.start);
                    }
                }
                item = n;
            }
            None => break,
        }
    }
    best
}

/// API Gateway's HTTP methods.
pub const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
];

/// Every problem of the file.
pub fn check(file: &StackFile, stack_name: &str) -> Vec<Problem> {
    let mut out = checks(file, stack_name);
    // A bad value in [defaults] is found once per function that takes it: said once.
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|p| seen.insert((dotted(&p.at), p.message.clone())));
    out
}

fn checks(file: &StackFile, stack_name: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    let doc = &file.doc;
    let mut p = |at: Vec<Seg>, message: String| out.push(Problem { at, message });
    // The overlap walks of every route's patterns share one bound: a file of patterns built
    // to be expensive is answered at once, never after minutes.
    let mut walk_budget = WALK_BUDGET;

    if doc.routes.is_empty() {
        p(
            at!["routes"],
            "the API has no routes; add at least one [[routes]] entry (method, path, function)"
                .into(),
        );
    }
    // Logical names: part of keys and of default resource names.
    for (kind, names) in [
        ("tables", doc.tables.keys().collect::<Vec<_>>()),
        ("functions", doc.functions.keys().collect::<Vec<_>>()),
    ] {
        for n in names {
            if !logical_ok(n) {
                p(at![kind, n], format!("'{n}' is not a usable name: use 1 to 24 lower-case letters, digits, '-' or '_', starting with a letter"));
            }
        }
    }
    if let Some(n) = &doc.name {
        if let Err(e) = stack::validate_project_name(n) {
            p(at!["name"], plain(&e));
        }
    }
    let spec = file.spec(stack_name, "us-east-1", "000000000000");
    super::auth::check(doc, &spec, &mut out);
    if let Some(d) = &doc.domain {
        super::domain::check(d, &mut out);
    }
    let mut p = |at: Vec<Seg>, message: String| out.push(Problem { at, message });

    // The API.
    if let Err(e) = stack::validate_api_name(&spec.api.name) {
        p(at!["api", "name"], plain(&e));
    }
    let stage = &doc.api.stage;
    if stage.is_empty()
        || stage.len() > 128
        || !stage
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        p(at!["api", "stage"], format!("stage name '{stage}' is not one API Gateway accepts: use 1 to 128 letters, digits, '-' or '_'"));
    }
    let keep = doc.api.keep_deployments;
    if !(2..=50).contains(&keep) {
        p(at!["api", "keep_deployments"], format!("keep_deployments {keep} is outside 2 to 50: rollback needs the live deployment and at least one before it, and each kept one keeps a version of every function; choose a value in that range"));
    }
    // API Gateway's quotas a whole import (or a build) fails on: 300 resources an API, and a
    // PutRestApi body of 6,000,000 bytes. Said here, before the table, role and function
    // would be made in vain. docs/aws.md, "The OpenAPI document".
    let resources = stack::resources_for(&spec.routes).len();
    if resources > crate::openapi::MAX_RESOURCES {
        p(at!["routes"], format!("the routes need {resources} API resources (paths), over API Gateway's {} an API; split the stack, or ask AWS for a higher quota and set fewer paths until then", crate::openapi::MAX_RESOURCES));
    } else if spec.api.build == stack::ApiBuild::Document {
        let bytes = crate::openapi::document_bytes(&spec);
        if bytes > crate::openapi::MAX_DOCUMENT_BYTES {
            p(at!["api", "build"], format!("the API's OpenAPI document would be {bytes} bytes, over the {} a PutRestApi takes; set build = \"calls\", or split the stack", crate::openapi::MAX_DOCUMENT_BYTES));
        }
    }

    // Tables.
    let mut real_tables: BTreeMap<String, String> = BTreeMap::new();
    for (logical, t) in &doc.tables {
        let name = spec
            .table(logical)
            .map(|t| t.name.clone())
            .unwrap_or_default();
        if let Err(e) = stack::validate_table_name(&name) {
            p(at!["tables", logical, "name"], plain(&e));
        }
        if let Some(other) = real_tables.insert(name.clone(), logical.clone()) {
            p(at!["tables", logical, "name"], format!("table name '{name}' is also the name of tables.{other}; give each table its own name"));
        }
        for (what, k) in std::iter::once(("hash_key", &t.hash_key))
            .chain(t.range_key.iter().map(|r| ("range_key", r)))
        {
            if k.name.is_empty() || k.name.len() > 255 {
                p(
                    at!["tables", logical, what, "name"],
                    "a key attribute's name must be 1 to 255 characters".into(),
                );
            }
        }
        if let Some(r) = &t.range_key {
            if r.name == t.hash_key.name {
                p(
                    at!["tables", logical, "range_key", "name"],
                    format!(
                        "the range key '{}' is also the hash key; give it another attribute",
                        r.name
                    ),
                );
            }
        }
        check_indexes(logical, t, &mut p);
        match t.billing {
            stack::Billing::OnDemand => {
                if t.read_capacity.is_some() || t.write_capacity.is_some() {
                    p(at!["tables", logical, "billing"], "read_capacity and write_capacity are for provisioned billing; remove them, or set billing = \"provisioned\"".into());
                }
            }
            stack::Billing::Provisioned => {
                for (what, v) in [
                    ("read_capacity", t.read_capacity),
                    ("write_capacity", t.write_capacity),
                ] {
                    if let Some(v) = v {
                        if !(1..=40_000).contains(&v) {
                            p(at!["tables", logical, what], format!("{what} {v} is outside DynamoDB's 1 to 40000 per table; choose a value in that range"));
                        }
                    }
                }
            }
        }
    }

    // Functions.
    let mut real_functions: BTreeMap<String, String> = BTreeMap::new();
    // IAM role names are unique in an account ignoring case: two functions whose roles differ
    // only by case would share one role, each deploy deleting the other's policy.
    let mut real_roles: BTreeMap<String, String> = BTreeMap::new();
    for (logical, f) in &doc.functions {
        let Some(fs) = spec.function(logical) else {
            continue;
        };
        if let Err(e) = stack::validate_function_name(&fs.name) {
            p(at!["functions", logical, "name"], plain(&e));
        }
        if let Err(e) = stack::validate_role_name(&fs.role) {
            p(at!["functions", logical, "role_name"], plain(&e));
        }
        if let Some(other) = real_roles.insert(fs.role.to_ascii_lowercase(), logical.clone()) {
            p(at!["functions", logical, "role_name"], format!("role name '{}' is the role of functions.{other} too (IAM role names ignore case); give each function a role name of its own", fs.role));
        }
        if let Some(other) = real_functions.insert(fs.name.clone(), logical.clone()) {
            p(at!["functions", logical, "name"], format!("function name '{}' is also the name of functions.{other}; give each function its own name", fs.name));
        }
        if let Err(e) = stack::validate_runtime(&f.runtime) {
            p(fn_at(file, logical, "runtime"), e);
        }
        if !MEMORY_MB.contains(&f.memory_mb) {
            p(
                fn_at(file, logical, "memory_mb"),
                format!(
                    "memory_mb {} is outside Lambda's {} to {} MB; choose a value in that range",
                    f.memory_mb,
                    MEMORY_MB.start(),
                    MEMORY_MB.end()
                ),
            );
        }
        if !TIMEOUT_SECS.contains(&f.timeout_secs) {
            p(fn_at(file, logical, "timeout_secs"), format!("timeout_secs {} is outside Lambda's {} to {} seconds; choose a value in that range", f.timeout_secs, TIMEOUT_SECS.start(), TIMEOUT_SECS.end()));
        }
        if !crate::resources::log_group::RETENTION_DAYS.contains(&f.log_retention_days) {
            p(fn_at(file, logical, "log_retention_days"), format!("log_retention_days {} is not a retention CloudWatch Logs accepts; use one of {:?}", f.log_retention_days, crate::resources::log_group::RETENTION_DAYS));
        }
        match module_of(&f.handler) {
            None => p(at!["functions", logical, "handler"], format!("handler '{}' is not module.export (index.handler runs the handler export of index.mjs)", f.handler)),
            Some(module) => check_code(file, logical, f, module, &mut p),
        }
        // Lambda counts its 4 KB on the values as deployed: references resolved.
        let env_bytes: usize = fs.env.iter().map(|(k, v)| k.len() + v.len()).sum();
        for (k, v) in &f.environment {
            let ok_name = k.len() >= 2
                && k.starts_with(|c: char| c.is_ascii_alphabetic())
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok_name {
                p(fn_at(file, logical, &format!("environment.{k}")), format!("'{k}' is not a valid variable name: at least two letters, digits and '_', starting with a letter"));
            } else if RESERVED_ENV.contains(&k.as_str()) {
                p(
                    fn_at(file, logical, &format!("environment.{k}")),
                    format!("{k} is set by Lambda itself and cannot be set; use another name"),
                );
            }
            if looks_like_aws_key(v) {
                p(fn_at(file, logical, &format!("environment.{k}")), "this value looks like an AWS access key; secrets do not belong in the stack file (it is meant to be committed): keep them in AWS Secrets Manager or SSM Parameter Store and read them at run time".into());
            }
            let known = super::resolve_refs(v, |r| match r {
                "stack" | "region" | "project" => Some(String::new()),
                _ => {
                    let (t, field) = r.strip_prefix("tables.")?.rsplit_once('.')?;
                    (doc.tables.contains_key(t) && matches!(field, "name" | "arn"))
                        .then(String::new)
                }
            });
            if known.is_none() {
                p(fn_at(file, logical, &format!("environment.{k}")), format!("'{v}' names something the file does not define; use ${{tables.<table>.name}}, ${{tables.<table>.arn}}, ${{stack}} or ${{region}}"));
            }
        }
        if env_bytes > 4096 {
            p(at!["functions", logical, "environment"], format!("the variables take {env_bytes} bytes, over Lambda's 4 KB; move large values elsewhere"));
        }
        for (t, actions) in &f.tables {
            if !doc.tables.contains_key(t) {
                p(
                    at!["functions", logical, "tables", t],
                    format!(
                        "no table '{t}' is defined; define [tables.{t}] or use one of: {}",
                        names_of(doc.tables.keys())
                    ),
                );
            }
            if actions.is_empty() {
                p(at!["functions", logical, "tables", t], "no actions listed; list what the function does to the table, e.g. [\"dynamodb:GetItem\"]".into());
            }
            for (i, a) in actions.iter().enumerate() {
                if !TABLE_ACTIONS.contains(&a.as_str()) {
                    let hint = TABLE_ACTIONS
                        .iter()
                        .find(|x| x.ends_with(&format!(":{a}")))
                        .map(|x| format!(" (did you mean {x}?)"))
                        .unwrap_or_default();
                    p(
                        at!["functions", logical, "tables", t, i],
                        format!(
                            "'{a}' is not an item action this tool grants{hint}; use one of {}",
                            TABLE_ACTIONS.join(", ")
                        ),
                    );
                }
            }
        }
    }

    // Models.
    for (name, m) in &doc.models {
        if name.is_empty() || name.len() > 128 || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            p(at!["models", name], format!("model name '{name}' is not one API Gateway accepts: use 1 to 128 letters and digits"));
        }
        // API Gateway's own models: a document's `Empty` is silently replaced by the built-in.
        if crate::openapi::RESERVED_MODELS.contains(&name.as_str()) {
            p(at!["models", name], format!("'{name}' is one of API Gateway's built-in models ({}); give this model another name", crate::openapi::RESERVED_MODELS.join(", ")));
        }
        match serde_json::from_str::<serde_json::Value>(&m.schema) {
            Err(e) => p(
                at!["models", name, "schema"],
                format!("not valid JSON ({e}); write the schema as JSON text"),
            ),
            Ok(v) => {
                if let Err(e) = crate::draft4::check(&v) {
                    p(
                        at!["models", name, "schema"],
                        format!("not a valid JSON Schema draft 4 (what API Gateway takes): {e}"),
                    );
                } else if spec.api.build == stack::ApiBuild::Document {
                    let names: Vec<&str> = doc.models.keys().map(String::as_str).collect();
                    for e in crate::draft4::oas30_problems(&v, &names) {
                        p(at!["models", name, "schema"], format!("{e}; this stack's routes are built from one OpenAPI 3.0 document, which cannot carry it: write it the OpenAPI 3.0 way, or set [api] build = \"calls\""));
                    }
                }
            }
        }
    }

    // Secrets: a value shaped like an AWS key is refused wherever the file would send it
    // (the message never repeats it).
    let secret = "this looks like an AWS access key; secrets do not belong in the stack file (it is meant to be committed): keep them in AWS Secrets Manager or SSM Parameter Store and read them at run time";
    for (name, m) in &doc.models {
        if looks_like_aws_key(&m.schema) {
            p(at!["models", name, "schema"], secret.into());
        }
    }
    for (i, r) in doc.routes.iter().enumerate() {
        if r.request_template
            .as_deref()
            .is_some_and(looks_like_aws_key)
        {
            p(at!["routes", i, "request_template"], secret.into());
        }
        for (j, x) in r.responses.iter().flatten().enumerate() {
            if x.template.as_deref().is_some_and(looks_like_aws_key) {
                p(at!["routes", i, "responses", j, "template"], secret.into());
            }
        }
    }
    for (i, t) in doc.tries.iter().enumerate() {
        for (what, v) in [
            ("path", Some(&t.path)),
            ("body", t.body.as_ref()),
            ("expect", t.expect.as_ref()),
        ] {
            if v.is_some_and(|v| looks_like_aws_key(v)) {
                p(at!["try", i, what], secret.into());
            }
        }
    }

    // Routes.
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    // The parameter name each parent path's parameter child has.
    let mut params: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for (i, r) in doc.routes.iter().enumerate() {
        let method = r.method.to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            p(
                at!["routes", i, "method"],
                format!(
                    "'{}' is not an API Gateway method; use one of {}",
                    r.method,
                    METHODS.join(", ")
                ),
            );
        }
        if !doc.functions.contains_key(&r.function) {
            p(
                at!["routes", i, "function"],
                format!(
                    "no function '{}' is defined; define [functions.{}] or use one of: {}",
                    r.function,
                    r.function,
                    names_of(doc.functions.keys())
                ),
            );
        }
        if let Some(m) = &r.model {
            if !doc.models.contains_key(m) {
                p(
                    at!["routes", i, "model"],
                    format!(
                        "no model '{m}' is defined; define [models.{m}] or use one of: {}",
                        names_of(doc.models.keys())
                    ),
                );
            }
        }
        if r.request_template
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            p(
                at!["routes", i, "request_template"],
                "an empty template sends an empty event; remove it to pass the body through".into(),
            );
        }
        match check_path(&r.path) {
            Err(e) => p(at!["routes", i, "path"], e),
            Ok(()) => {
                let mut parent = String::new();
                for seg in r.path.split('/').filter(|s| !s.is_empty()) {
                    if seg.starts_with('{') {
                        if let Some((other, j)) = params.get(&parent) {
                            if other != seg {
                                p(at!["routes", i, "path"], format!("{seg} and {other} (routes[{j}]) are both parameters under '{}'; API Gateway allows one parameter name per level: use the same name in both", if parent.is_empty() { "/" } else { &parent }));
                            }
                        } else {
                            params.insert(parent.clone(), (seg.to_string(), i));
                        }
                    }
                    parent = format!("{parent}/{seg}");
                }
            }
        }
        if let Some(j) = seen.insert((method.clone(), r.path.clone()), i) {
            p(
                at!["routes", i],
                format!(
                    "{method} {} is also routes[{j}]; each method and path once",
                    r.path
                ),
            );
        }
        let proxy = r.integration.unwrap_or(doc.api.integration) == super::Integration::Proxy;
        if proxy {
            // The function's answer is the response, and the whole request is its event.
            for (field, given) in [
                ("request_template", r.request_template.is_some()),
                ("responses", r.responses.is_some()),
            ] {
                if given {
                    p(
                        at!["routes", i, field],
                        format!("a proxy route hands the whole request to the function and answers with its {{statusCode, headers, body}}, so it has no {field}; remove it, or set integration = \"mapping\" on the route"),
                    );
                }
            }
        } else if let Some(list) = &r.responses {
            check_responses(i, list, &mut walk_budget, &mut p);
        }
    }

    // Templates: only what serve renders as API Gateway does (one renderer, one check).
    for (i, r) in doc.routes.iter().enumerate() {
        if let Some(t) = &r.request_template {
            if let Err(e) = crate::gateway::vtl::check(t) {
                p(at!["routes", i, "request_template"], e);
            }
        }
        for (j, x) in r.responses.iter().flatten().enumerate() {
            if let Some(t) = &x.template {
                if let Err(e) = crate::gateway::vtl::check(t) {
                    p(at!["routes", i, "responses", j, "template"], e);
                }
            }
        }
    }

    // Response headers and CORS.
    for (i, r) in doc.routes.iter().enumerate() {
        for (j, x) in r.responses.iter().flatten().enumerate() {
            for (name, value) in &x.headers {
                if let Err(e) = check_header(name, value) {
                    p(at!["routes", i, "responses", j, "headers", name], e);
                }
            }
        }
    }
    if let Some(c) = &doc.api.cors {
        check_cors(c, &mut p);
    }

    // try.
    for (i, t) in doc.tries.iter().enumerate() {
        if !METHODS.contains(&t.method.to_ascii_uppercase().as_str())
            || t.method.eq_ignore_ascii_case("ANY")
        {
            p(at!["try", i, "method"], format!("'{}' is not an HTTP method try can send; use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS", t.method));
        }
        if !t.path.starts_with('/') {
            p(
                at!["try", i, "path"],
                format!("'{}' must start with '/' (it is under the stage)", t.path),
            );
        }
        if !(100..=599).contains(&t.status) {
            p(
                at!["try", i, "status"],
                format!("{} is not an HTTP status", t.status),
            );
        }
        if let Some(b) = &t.body {
            if serde_json::from_str::<serde_json::Value>(&b.replace("${run}", "x")).is_err() {
                p(
                    at!["try", i, "body"],
                    "not valid JSON; write the body as JSON text".into(),
                );
            }
        }
    }
    out
}

/// Lambda's reserved environment variables.
const RESERVED_ENV: [&str; 16] = [
    "_HANDLER",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_ACCESS_KEY",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_RUNTIME_DIR",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAMBDA_TASK_ROOT",
];

/// An access key id (AKIA.../ASIA...) or something shaped like a secret access key.
pub fn looks_like_aws_key(v: &str) -> bool {
    let key_id = |w: &str| {
        w.len() == 20
            && (w.starts_with("AKIA") || w.starts_with("ASIA"))
            && w.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    };
    let secret = |w: &str| {
        w.len() == 40
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '/' || c == '+')
            && w.chars().any(|c| c.is_ascii_digit())
            && w.chars().any(|c| c.is_ascii_uppercase())
            && w.chars().any(|c| c.is_ascii_lowercase())
    };
    v.split(|c: char| !(c.is_ascii_alphanumeric() || c == '/' || c == '+'))
        .any(|w| key_id(w) || secret(w))
}

/// Whether a logical name (a table's, a function's, a key's...) is usable: part of keys and of
/// default resource names.
pub(super) fn logical_ok(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 24
        && n.starts_with(|c: char| c.is_ascii_lowercase())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The names a reference could have named, for its message.
pub(super) fn names_of<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = names.map(String::as_str).collect();
    if v.is_empty() {
        "(none defined)".into()
    } else {
        v.join(", ")
    }
}

/// A stack's own messages name a flag to fix it; here the fix is the file's entry.
/// Runtimes past their end of life: Lambda blocks creating, then updating, functions on them
/// (Lambda runtimes page: nodejs20.x ended on 2026-04-30).
const ENDED_RUNTIMES: [&str; 1] = ["nodejs20.x"];
/// API Gateway's default integration timeout, in seconds: a REST API answers 504 at 29 s
/// whatever the function's own timeout (API Gateway quotas).
pub const API_TIMEOUT_SECS: i32 = 29;

/// What the file may mean but will not get: said on every run, never refused.
pub fn warnings(file: &StackFile) -> Vec<String> {
    let mut out = Vec::new();
    for (logical, f) in &file.doc.functions {
        if ENDED_RUNTIMES.contains(&f.runtime.as_str()) {
            out.push(format!("functions.{logical}.runtime: {} has reached its end of life; Lambda first refuses new functions on it, then updates: move to nodejs22.x or nodejs24.x", f.runtime));
        }
        for (k, v) in &f.environment {
            if crate::aws::redact_urls_in(v) != v.as_str() {
                out.push(format!("functions.{logical}.environment.{k}: the URL carries a password, which would be kept in Lambda's configuration, the state and this file; keep it in AWS Secrets Manager or SSM Parameter Store and read it at run time (serverless-cli never prints it)"));
            }
        }
        let routed = file.doc.routes.iter().any(|r| &r.function == logical);
        if routed && f.timeout_secs > API_TIMEOUT_SECS {
            out.push(format!("functions.{logical}.timeout_secs: {} s, but API Gateway answers its routes 504 after {API_TIMEOUT_SECS} s while the function runs on; keep a routed function within {API_TIMEOUT_SECS} s, or hand long work to another function", f.timeout_secs));
        }
    }
    out
}

/// DynamoDB's limits on a table's indexes: at most 20 global and 5 local, names of 3 to
/// 255 characters of `[a-zA-Z0-9_.-]`, a local index on the table's partition key with a
/// sort key of its own, one type for each attribute, at most 100 projected attributes.
fn check_indexes(logical: &str, t: &super::TableDoc, p: &mut impl FnMut(Vec<Seg>, String)) {
    let mut types: BTreeMap<&str, super::AttrType> = BTreeMap::new();
    for k in std::iter::once(&t.hash_key).chain(t.range_key.iter()) {
        types.insert(&k.name, k.ty);
    }
    let (locals, globals): (Vec<_>, Vec<_>) = t.indexes.iter().partition(|(_, x)| x.local);
    if globals.len() > 20 {
        p(
            at!["tables", logical, "indexes"],
            format!(
                "{} global indexes, over DynamoDB's 20 a table",
                globals.len()
            ),
        );
    }
    if locals.len() > 5 {
        p(
            at!["tables", logical, "indexes"],
            format!("{} local indexes, over DynamoDB's 5 a table", locals.len()),
        );
    }
    let mut projected = 0;
    for (name, x) in &t.indexes {
        let here = |field: &str| at!["tables", logical, "indexes", name, field];
        let name_ok = (3..=255).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !name_ok {
            p(
                at!["tables", logical, "indexes", name],
                format!("index name '{name}': 3 to 255 letters, digits, '_', '.' or '-'"),
            );
        }
        for (field, k) in std::iter::once(("hash_key", &x.hash_key))
            .chain(x.range_key.iter().map(|r| ("range_key", r)))
        {
            match types.get(k.name.as_str()) {
                Some(ty) if *ty != k.ty => p(here(field), format!("attribute '{}' is {:?} here and {:?} elsewhere in the table's keys; DynamoDB gives an attribute one type", k.name, k.ty, ty)),
                _ => {
                    types.insert(&k.name, k.ty);
                }
            }
        }
        if x.range_key
            .as_ref()
            .is_some_and(|r| r.name == x.hash_key.name)
        {
            p(
                here("range_key"),
                "the index's sort key is also its partition key; give it another attribute".into(),
            );
        }
        if x.local {
            if x.hash_key.name != t.hash_key.name {
                p(here("hash_key"), format!("a local index has the table's partition key, '{}'; use it, or make the index global (remove local = true)", t.hash_key.name));
            }
            if x.range_key.is_none() {
                p(
                    here("range_key"),
                    "a local index needs a sort key of its own".into(),
                );
            }
        }
        if let super::ProjectionDoc::Attributes(a) = &x.projection {
            if a.is_empty() {
                p(
                    here("projection"),
                    "no attributes listed; list some, or use \"keys\"".into(),
                );
            }
            projected += a.len();
        }
    }
    if projected > 100 {
        p(
            at!["tables", logical, "indexes"],
            format!("the indexes project {projected} attributes, over DynamoDB's 100 a table"),
        );
    }
}

/// An HTTP header name: a token (letters, digits and ``!#$%&'*+-.^_`|~``).
fn header_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// A response header of a route: its name, and a fixed value API Gateway can carry (in
/// single quotes, which it cannot escape) or a mapping of the function's answer.
fn check_header(name: &str, value: &str) -> Result<(), String> {
    if !header_name_ok(name) {
        return Err(format!(
            "'{name}' is not an HTTP header name (letters, digits and -)"
        ));
    }
    if let Some(field) = value.strip_prefix("integration.response.body.") {
        if field.is_empty() || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("'{value}': name one top-level field of the function's result (letters, digits and _)"));
        }
        return Ok(());
    }
    if let Some(h) = value.strip_prefix("integration.response.header.") {
        if !header_name_ok(h) {
            return Err(format!("'{value}': '{h}' is not an HTTP header name"));
        }
        return Ok(());
    }
    if value.contains('\'') || value.chars().any(char::is_control) {
        return Err("a fixed header value cannot hold ' or control characters (API Gateway quotes it in single quotes)".into());
    }
    Ok(())
}

/// `[api.cors]`: one origin API Gateway can answer from its fixed headers, methods it knows,
/// header names, and no credentials with every origin.
fn check_cors(c: &super::CorsDoc, p: &mut impl FnMut(Vec<Seg>, String)) {
    match c.allow_origins.as_slice() {
        [o] if o == "*" => {
            if c.allow_credentials {
                p(at!["api", "cors", "allow_credentials"], "browsers refuse credentials from an API that allows every origin ('*'); name the origin in allow_origins".into());
            }
        }
        [o] => {
            let ok = o
                .split_once("://")
                .is_some_and(|(scheme, host)| {
                    matches!(scheme, "http" | "https")
                        && !host.is_empty()
                        && !host.contains(['/', '\'', ' '])
                        && !host.chars().any(char::is_control)
                });
            if !ok {
                p(at!["api", "cors", "allow_origins"], format!("'{o}' is not an origin; write scheme and host, as a browser sends them: \"https://app.example.com\" (no path, no trailing '/'), or \"*\""));
            }
        }
        list => p(at!["api", "cors", "allow_origins"], format!("{} origins: API Gateway answers one fixed Access-Control-Allow-Origin from a preflight, a mapping route and its own errors; list one origin, or \"*\"", list.len())),
    }
    for (j, m) in c.allow_methods.iter().flatten().enumerate() {
        let upper = m.to_ascii_uppercase();
        if !METHODS.contains(&upper.as_str()) || upper == "ANY" {
            p(at!["api", "cors", "allow_methods", j], format!("'{m}' is not an HTTP method API Gateway serves; use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS"));
        }
    }
    for (field, list) in [
        (
            "allow_headers",
            c.allow_headers.as_deref().unwrap_or_default(),
        ),
        ("expose_headers", c.expose_headers.as_slice()),
    ] {
        for (j, h) in list.iter().enumerate() {
            if !header_name_ok(h) || h.contains('\'') {
                p(
                    at!["api", "cors", field, j],
                    format!("'{h}' is not an HTTP header name (letters, digits and -)"),
                );
            }
        }
    }
}

fn plain(msg: &str) -> String {
    match msg.split_once("; choose another with") {
        Some((head, _)) => format!("{head}; choose another name in the file"),
        None => msg.to_string(),
    }
}

/// A path API Gateway accepts: `/`-separated parts of `[A-Za-z0-9._:-]`, or `{param}` (one
/// whole part; `{param+}` only last).
pub fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("'{path}' must start with '/'"));
    }
    if path == "/" {
        // A route on the API's root: the root resource comes with the API.
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(format!("'{path}' ends with '/'; remove it"));
    }
    let parts: Vec<&str> = path[1..].split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            return Err(format!("'{path}' has an empty segment ('//'); remove it"));
        }
        if let Some(inner) = part.strip_prefix('{') {
            let Some(name) = inner.strip_suffix('}') else {
                return Err(format!(
                    "'{part}' in '{path}': a parameter must be a whole segment, '{{name}}'"
                ));
            };
            let (name, greedy) = match name.strip_suffix('+') {
                Some(n) => (n, true),
                None => (name, false),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "'{part}' in '{path}': a parameter name is letters, digits and '_'"
                ));
            }
            if greedy && i + 1 != parts.len() {
                return Err(format!(
                    "'{part}' in '{path}': a greedy parameter must be the last segment"
                ));
            }
            continue;
        }
        if part.contains(['{', '}']) {
            return Err(format!("'{part}' in '{path}': a parameter must be a whole segment, '{{name}}', not part of one"));
        }
        if let Some(bad) = part
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
        {
            return Err(format!("'{bad}' in '{path}' is not allowed in an API Gateway path; use letters, digits, '.', '_', ':' and '-'"));
        }
    }
    Ok(())
}

fn check_responses(
    i: usize,
    list: &[super::ResponseDoc],
    budget: &mut usize,
    p: &mut impl FnMut(Vec<Seg>, String),
) {
    let defaults: Vec<usize> = (0..list.len())
        .filter(|&j| list[j].pattern.is_none() && list[j].on.is_none())
        .collect();
    if defaults.len() != 1 {
        p(
            at!["routes", i, "responses"],
            format!(
                "{} responses have no pattern; exactly one must (the default, for success)",
                defaults.len()
            ),
        );
    }
    if list
        .iter()
        .filter(|r| r.on == Some(super::LambdaFailure::Unmatched))
        .count()
        > 1
    {
        p(
            at!["routes", i, "responses"],
            "more than one response is on = \"unmatched\"; one takes every error the others do not"
                .into(),
        );
    }
    let mut statuses = BTreeSet::new();
    // Lambda's own failures are compared by the messages Lambda really writes for them (a
    // timeout's starts with a timestamp, a runtime exit's with "RequestId:"): their patterns
    // are looser than that, and would match an invented message such as
    // "BadRequest: Task timed out after".
    let mut compiled: Vec<(usize, regex_automata::dfa::dense::DFA<Vec<u32>>)> = Vec::new();
    for (j, r) in list.iter().enumerate() {
        if !(100..=599).contains(&r.status) {
            p(
                at!["routes", i, "responses", j, "status"],
                format!("{} is not an HTTP status", r.status),
            );
        }
        if !statuses.insert(r.status) {
            p(
                at!["routes", i, "responses", j, "status"],
                format!(
                    "status {} is listed twice; one response per status",
                    r.status
                ),
            );
        }
        if r.template.as_deref().is_some_and(|t| t.trim().is_empty()) {
            p(
                at!["routes", i, "responses", j, "template"],
                "an empty template; remove it to pass the body through".into(),
            );
        }
        if r.pattern.is_some() && r.on.is_some() {
            p(
                at!["routes", i, "responses", j, "on"],
                "give either pattern or on, not both".into(),
            );
        }
        // In the document, the success response is the one keyed "default": a pattern
        // "default" would take its place.
        if r.pattern.as_deref() == Some("default") {
            p(
                at!["routes", i, "responses", j, "pattern"],
                "'default' is how the document names the response without a pattern; write the pattern another way (e.g. \"(default)\" or \"default$\")".into(),
            );
        }
        let pat = r
            .pattern
            .clone()
            .or_else(|| r.on.and_then(|f| f.shape()).map(str::to_string));
        if let Some(pat) = pat {
            match whole_match_dfa(&pat) {
                Err(e) => p(
                    at!["routes", i, "responses", j, "pattern"],
                    format!("'{pat}' is not a valid regex ({e})"),
                ),
                Ok(dfa) => {
                    for (k, other) in &compiled {
                        match common_match(other, &dfa, budget) {
                            Overlap::Both(example) => p(at!["routes", i, "responses", j, "pattern"], format!("this pattern and responses[{k}]'s both match the message {example:?}; API Gateway would pick either: make them exclusive")),
                            Overlap::Undecided => p(at!["routes", i, "responses", j, "pattern"], format!("whether this pattern and responses[{k}]'s can match one message could not be decided within the check's bound ({WALK_BUDGET} states for the whole file); write simpler patterns (a fixed prefix such as \"BadRequest:.*\" each)")),
                            Overlap::Disjoint => {}
                        }
                    }
                    compiled.push((j, dfa));
                }
            }
        }
    }
}

/// A DFA that matches exactly the messages a selection pattern matches: API Gateway matches
/// the whole error message.
fn whole_match_dfa(pattern: &str) -> Result<regex_automata::dfa::dense::DFA<Vec<u32>>, String> {
    use regex_automata::dfa::dense;
    use regex_automata::util::syntax;
    dense::Builder::new()
        .syntax(syntax::Config::new().unicode(false).utf8(false))
        .configure(
            dense::Config::new()
                .start_kind(regex_automata::dfa::StartKind::Anchored)
                .dfa_size_limit(Some(4 << 20))
                .determinize_size_limit(Some(4 << 20)),
        )
        .build(&format!(r"(?:{pattern})\z"))
        .map_err(|e| {
            let s = e.to_string();
            s.lines().last().unwrap_or(&s).trim().to_string()
        })
}

/// Product states the overlap walks of one file may visit, all routes together.
const WALK_BUDGET: usize = 200_000;

/// What the walk of two patterns' product found.
enum Overlap {
    /// A message both match.
    Both(String),
    Disjoint,
    /// The budget ran out first.
    Undecided,
}

/// A message both DFAs match, if there is one (a breadth-first walk of their product, each
/// state visited taking one from `budget`).
fn common_match(
    a: &regex_automata::dfa::dense::DFA<Vec<u32>>,
    b: &regex_automata::dfa::dense::DFA<Vec<u32>>,
    budget: &mut usize,
) -> Overlap {
    use regex_automata::dfa::Automaton;
    use regex_automata::{Anchored, Input};
    let input = Input::new("").anchored(Anchored::Yes);
    let (Ok(sa), Ok(sb)) = (a.start_state_forward(&input), b.start_state_forward(&input)) else {
        return Overlap::Undecided;
    };
    // One byte for each pair of the two DFAs' byte classes: the others lead where it does.
    let mut reps: Vec<u8> = Vec::new();
    let mut classes = BTreeSet::new();
    for byte in 0..=255u8 {
        if classes.insert((a.byte_classes().get(byte), b.byte_classes().get(byte))) {
            reps.push(byte);
        }
    }
    let mut seen = BTreeSet::new();
    let mut queue = std::collections::VecDeque::new();
    seen.insert((sa, sb));
    queue.push_back((sa, sb, Vec::<u8>::new()));
    while let Some((x, y, path)) = queue.pop_front() {
        if *budget == 0 {
            return Overlap::Undecided;
        }
        *budget -= 1;
        let (ex, ey) = (a.next_eoi_state(x), b.next_eoi_state(y));
        if a.is_match_state(ex) && b.is_match_state(ey) {
            return Overlap::Both(String::from_utf8_lossy(&path).into_owned());
        }
        for &byte in &reps {
            let (nx, ny) = (a.next_state(x, byte), b.next_state(y, byte));
            if a.is_dead_state(nx) || b.is_dead_state(ny) {
                continue;
            }
            if seen.insert((nx, ny)) {
                let mut p = path.clone();
                p.push(byte);
                queue.push_back((nx, ny, p));
            }
        }
    }
    Overlap::Disjoint
}

fn check_code(
    file: &StackFile,
    logical: &str,
    f: &super::FunctionDoc,
    module: &str,
    p: &mut impl FnMut(Vec<Seg>, String),
) {
    let path = file.code_path(&f.code);
    let at = fn_at(file, logical, "code");
    if f.code.is_empty() {
        p(
            at,
            "no code: give the function's code folder or .zip here, or one for every function in [defaults]".into(),
        );
        return;
    }
    // Inside the file's folder, as it is on disk: `..`, an absolute path or a link that leads
    // out is refused unless the file says so.
    if !f.allow_code_outside {
        let inside = match (
            std::fs::canonicalize(&file.dir),
            std::fs::canonicalize(&path),
        ) {
            (Ok(dir), Ok(code)) => code.starts_with(&dir),
            _ => {
                !std::path::Path::new(&f.code).is_absolute()
                    && !f.code.split(['/', '\\']).any(|s| s == "..")
            }
        };
        if !inside {
            p(
                at,
                format!(
                    "{} is outside the stack file's folder (through '..', an absolute path or a symbolic link); move the code into the folder, or set allow_code_outside = true on this function if it is meant to be packed from there",
                    path.display()
                ),
            );
            return;
        }
    }
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(_) => {
            p(
                at,
                format!(
                    "{} does not exist; give a folder or a .zip relative to the stack file",
                    path.display()
                ),
            );
            return;
        }
    };
    if meta.is_dir() {
        match crate::package::collect_files_skipping(&path, &file.skip(f, &[])) {
            Err(e) => p(at, e),
            Ok(files) => {
                let entries = crate::package::entry_files(module);
                if !files.iter().any(|(name, _)| entries.contains(name)) {
                    p(
                        at,
                        format!(
                            "{} has no {} for the handler; add it, or change the handler",
                            path.display(),
                            entries.join(" or ")
                        ),
                    );
                }
            }
        }
    }
    // A zip is checked whole when it is loaded.
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[tables.user]
hash_key = { name = "uid", type = "S" }

[functions.api]
code = "code"
tables = { user = ["dynamodb:GetItem"] }
environment = { TABLE = "${tables.user.name}" }

[models.Body]
schema = '{"type": "object"}'

[[routes]]
method = "GET"
path = "/user/{uid}"
function = "api"

[[routes]]
method = "POST"
path = "/user"
function = "api"
model = "Body"
"#;

    /// Loads BASE changed by `edit` (a text replaced, or appended when `from` is empty).
    fn load(from: &str, to: &str) -> Result<super::super::StackFile, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("code")).unwrap();
        std::fs::write(
            dir.path().join("code/index.mjs"),
            "export const handler = 1;",
        )
        .unwrap();
        let text = if from.is_empty() {
            format!("{BASE}\n{to}\n")
        } else {
            assert!(BASE.contains(from), "{from}");
            BASE.replacen(from, to, 1)
        };
        let p = dir.path().join("serverless-cli.toml");
        std::fs::write(&p, text).unwrap();
        super::super::StackFile::load(&p, "prod").map_err(|e| e.0)
    }

    #[test]
    fn the_base_is_valid() {
        load("", "").unwrap();
    }

    /// `[defaults]` fills what a function leaves out; what a function sets stays its own, and
    /// environment variables merge (the function's win).
    #[test]
    fn defaults_fill_what_a_function_leaves_out() {
        let f = load(
            "[tables.user]",
            "[defaults]\nruntime = \"nodejs24.x\"\nmemory_mb = 512\ntimeout_secs = 20\nlog_retention_days = 30\ncode = \"code\"\nexclude = [\"*.test.mjs\"]\nenvironment = { STAGE = \"${stack}\", TABLE = \"default\" }\n\n[functions.worker]\nmemory_mb = 1024\n\n[tables.user]",
        )
        .unwrap();
        let spec = f.spec("prod", "eu-west-1", "123456789012");
        let api = spec.function("api").unwrap();
        let worker = spec.function("worker").unwrap();
        assert_eq!((api.runtime.as_str(), api.memory_mb), ("nodejs24.x", 512));
        assert_eq!(
            (worker.runtime.as_str(), worker.memory_mb),
            ("nodejs24.x", 1024)
        );
        assert_eq!((api.timeout_secs, api.log_retention_days), (20, 30));
        assert_eq!(worker.code, Some(f.dir.join("code")));
        assert_eq!(f.doc.functions["worker"].exclude, ["*.test.mjs"]);
        let env = |s: &crate::stack::FunctionSpec| -> Vec<(String, String)> { s.env.clone() };
        // The function's own TABLE wins; STAGE comes from the defaults, resolved.
        assert!(
            env(api).contains(&("STAGE".into(), "prod".into())),
            "{:?}",
            api.env
        );
        assert!(
            env(api).iter().any(|(k, v)| k == "TABLE" && v != "default"),
            "{:?}",
            api.env
        );
        assert!(
            env(worker).contains(&("TABLE".into(), "default".into())),
            "{:?}",
            worker.env
        );
        assert!(f.takes_default("worker", "code") && !f.takes_default("worker", "memory_mb"));
        // A bad default that two functions take is said once, where it is written.
        let err = load(
            "[tables.user]",
            "[defaults]\nmemory_mb = 64\n\n[functions.b]\ncode = \"code\"\n\n[tables.user]",
        )
        .unwrap_err();
        assert_eq!(err.matches("defaults.memory_mb").count(), 1, "{err}");
        assert!(!err.contains("functions.api.memory_mb"), "{err}");
    }

    /// Every refused file: the entry it names, a word of the message (with the fix), and a
    /// line number.
    #[test]
    fn refused_files_name_the_entry_the_line_and_the_fix() {
        let cases: &[(&str, &str, &str, &str)] = &[
            // References.
            ("function = \"api\"\n\n[[routes]]", "function = \"nope\"\n\n[[routes]]", "routes[0].function", "no function 'nope' is defined"),
            ("tables = { user =", "tables = { users =", "functions.api.tables.users", "no table 'users'"),
            ("model = \"Body\"", "model = \"Missing\"", "routes[1].model", "no model 'Missing'"),
            ("${tables.user.name}", "${tables.orders.name}", "functions.api.environment.TABLE", "names something the file does not define"),
            // Routes.
            ("method = \"POST\"\npath = \"/user\"\n", "method = \"GET\"\npath = \"/user/{uid}\"\n", "routes[1]", "also routes[0]"),
            ("path = \"/user\"\n", "path = \"user\"\n", "routes[1].path", "must start with '/'"),
            ("path = \"/user\"\n", "path = \"/us er\"\n", "routes[1].path", "not allowed in an API Gateway path"),
            ("path = \"/user\"\n", "path = \"/user{id}\"\n", "routes[1].path", "whole segment"),
            ("path = \"/user\"\n", "path = \"/user/{id}/x\"\n", "routes[1].path", "one parameter name per level"),
            ("path = \"/user\"\n", "path = \"/user/\"\n", "routes[1].path", "ends with '/'"),
            ("path = \"/user\"\n", "path = \"/a//b\"\n", "routes[1].path", "empty segment"),
            ("path = \"/user\"\n", "path = \"/{p+}/x\"\n", "routes[1].path", "greedy"),
            ("method = \"POST\"", "method = \"FETCH\"", "routes[1].method", "not an API Gateway method"),
            ("", "[[routes]]\nmethod = \"GET\"\npath = \"/x\"\nfunction = \"api\"\nrequest_template = \" \"", "routes[2].request_template", "empty template"),
            // Models.
            ("'{\"type\": \"object\"}'", "'{\"type\": \"object\"'", "models.Body.schema", "not valid JSON"),
            ("'{\"type\": \"object\"}'", "'{\"type\": \"objekt\"}'", "models.Body.schema", "draft 4"),
            ("'{\"type\": \"object\"}'", "'{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\"}'", "models.Body.schema", "draft-04"),
            ("[models.Body]", "[models.\"Bo-dy\"]", "models.Bo-dy", "letters and digits"),
            ("[models.Body]", "[models.Empty]", "models.Empty", "built-in models"),
            ("'{\"type\": \"object\"}'", "'{\"type\": [\"object\", \"null\"]}'\n\n[api]\nbuild = \"document\"", "models.Body.schema", "OpenAPI 3.0 takes one type"),
            ("'{\"type\": \"object\"}'", "'{\"type\": \"object\", \"patternProperties\": {\"^x\": {\"type\": \"string\"}}}'\n\n[api]\nbuild = \"document\"", "models.Body.schema", "not a keyword of OpenAPI 3.0"),
            ("'{\"type\": \"object\"}'", "'{\"definitions\": {\"a\": {}}, \"properties\": {\"a\": {\"$ref\": \"#/definitions/a\"}}}'\n\n[api]\nbuild = \"document\"", "models.Body.schema", "resolves $ref against itself"),
            ("model = \"Body\"", "model = \"Body\"\nresponses = [{ status = 200 }, { status = 400, pattern = \"default\" }]", "routes[1].responses[1].pattern", "'default' is how the document"),
            // Responses.
            ("model = \"Body\"", "model = \"Body\"\nresponses = [{ status = 200 }, { status = 400, pattern = \"(Bad\" }]", "routes[1].responses[1].pattern", "not a valid regex"),
            ("model = \"Body\"", "model = \"Body\"\nresponses = [{ status = 200 }, { status = 400, pattern = \"Bad.*\" }, { status = 409, pattern = \"BadRequest:.*\" }]", "routes[1].responses[2].pattern", "both match the message \"BadRequest:\""),
            ("model = \"Body\"", "model = \"Body\"\nresponses = [{ status = 200 }, { status = 500, pattern = \".*\" }, { status = 504, on = \"timeout\" }]", "routes[1].responses[2].pattern", "both match"),
            ("model = \"Body\"", "model = \"Body\"\nresponses = [{ status = 200 }, { status = 201 }]", "routes[1].responses", "exactly one must"),
            ("model = \"Body\"", "model = \"Body\"\nresponses = [{ status = 200 }, { status = 200, pattern = \"x\" }]", "routes[1].responses[1].status", "listed twice"),
            ("model = \"Body\"", "model = \"Body\"\nresponses = [{ status = 700 }]", "routes[1].responses[0].status", "not an HTTP status"),
            // Names and limits.
            ("[tables.user]", "[tables.user]\nname = \"t\"", "tables.user.name", "3 to 255"),
            ("code = \"code\"", "code = \"code\"\nname = \"fn.with.dots\"", "functions.api.name", "not allowed"),
            ("code = \"code\"", "code = \"code\"\nrole_name = \"role/x\"", "functions.api.role_name", "not allowed"),
            ("", "[api]\nname = \"bad\\u0007name\"", "api.name", "control characters"),
            ("", "[api]\nstage = \"pr od\"", "api.stage", "stage name"),
            ("[functions.api]", "[functions.Api]", "functions.Api", "not a usable name"),
            ("[functions.api]", "[functions.b]\ncode = \"code\"\nrole_name = \"Shared-Role\"\n\n[functions.api]\nrole_name = \"shared-role\"", "functions.b.role_name", "IAM role names ignore case"),
            ("[functions.api]", "[functions.b]\ncode = \"code\"\nrole_name = \"same\"\n\n[functions.api]\nrole_name = \"same\"", "functions.b.role_name", "role of functions.api too"),
            ("[tables.user]", "name = \"My_App\"\n[tables.user]", "name", "invalid project name"),
            ("[tables.user]", "name = \"a-very-long-project-name-over-24\"\n[tables.user]", "name", "at most 24"),
            // Code.
            ("code = \"code\"", "code = \"nowhere\"", "functions.api.code", "does not exist"),
            ("code = \"code\"", "code = \"code/../..\"", "functions.api.code", "allow_code_outside = true"),
            ("code = \"code\"", "code = \"/usr/lib\"", "functions.api.code", "outside the stack file's folder"),
            ("code = \"code\"", "code = \"code\"\nexclude = [\"index.mjs\"]", "functions.api.code", "has no index.mjs"),
            ("code = \"code\"", "code = \"code\"\nhandler = \"main.handler\"", "functions.api.code", "main.mjs"),
            ("code = \"code\"", "code = \"code\"\nhandler = \"handler\"", "functions.api.handler", "module.export"),
            // Lambda's ranges.
            ("code = \"code\"", "code = \"code\"\nmemory_mb = 64", "functions.api.memory_mb", "128 to 10240"),
            ("code = \"code\"", "code = \"code\"\nmemory_mb = 20000", "functions.api.memory_mb", "128 to 10240"),
            ("code = \"code\"", "code = \"code\"\ntimeout_secs = 0", "functions.api.timeout_secs", "1 to 900"),
            ("code = \"code\"", "code = \"code\"\ntimeout_secs = 901", "functions.api.timeout_secs", "1 to 900"),
            ("code = \"code\"", "code = \"code\"\nlog_retention_days = 15", "functions.api.log_retention_days", "retention"),
            ("code = \"code\"", "code = \"code\"\nruntime = \"python3.12\"", "functions.api.runtime", "unsupported runtime"),
            // Environment and secrets.
            ("TABLE =", "\"1TABLE\" =", "functions.api.environment.1TABLE", "not a valid variable name"),
            ("TABLE =", "AWS_REGION =", "functions.api.environment.AWS_REGION", "set by Lambda itself"),
            ("TABLE =", "LAMBDA_RUNTIME_DIR =", "functions.api.environment.LAMBDA_RUNTIME_DIR", "set by Lambda itself"),
            ("TABLE =", "T =", "functions.api.environment.T", "at least two"),
            ("TABLE = \"${tables.user.name}\"", "TABLE = \"${tables.user.name}\", KEY = \"AKIAIOSFODNN7EXAMPLE\"", "functions.api.environment.KEY", "secrets do not belong"),
            ("[\"dynamodb:GetItem\"]", "[\"GetItem\"]", "functions.api.tables.user[0]", "did you mean dynamodb:GetItem"),
            ("[\"dynamodb:GetItem\"]", "[]", "functions.api.tables.user", "no actions listed"),
            // Tables.
            ("type = \"S\" }", "type = \"S\" }\nrange_key = { name = \"uid\", type = \"N\" }", "tables.user.range_key.name", "also the hash key"),
            ("type = \"S\" }", "type = \"S\" }\nbilling = \"on-demand\"\nread_capacity = 5", "tables.user.billing", "provisioned billing"),
            ("type = \"S\" }", "type = \"S\" }\nread_capacity = 0", "tables.user.read_capacity", "1 to 40000"),
            // [defaults]: a bad value is named where it is written, once for every function.
            ("[tables.user]", "[defaults]\nmemory_mb = 64\n\n[functions.b]\ncode = \"code\"\n\n[tables.user]", "defaults.memory_mb", "128 to 10240"),
            ("[tables.user]", "[defaults]\nruntime = \"python3.12\"\n\n[tables.user]", "defaults.runtime", "unsupported runtime"),
            ("[tables.user]", "[defaults]\nenvironment = { AWS_REGION = \"x\" }\n\n[tables.user]", "defaults.environment.AWS_REGION", "set by Lambda itself"),
            ("[tables.user]", "[defaults]\ncode = \"nowhere\"\n\n[functions.b]\n\n[tables.user]", "defaults.code", "does not exist"),
            ("code = \"code\"\n", "", "functions.api.code", "no code"),
            // try.
            ("", "[[try]]\nmethod = \"GET\"\npath = \"user\"\nstatus = 200", "try[0].path", "must start with '/'"),
            ("", "[[try]]\nmethod = \"POST\"\npath = \"/user\"\nbody = \"{nope\"\nstatus = 200", "try[0].body", "not valid JSON"),
            ("", "[[try]]\nmethod = \"POST\"\npath = \"/user\"\nbody = '{\"k\": \"AKIAIOSFODNN7EXAMPLE\"}'\nstatus = 200", "try[0].body", "secrets do not belong"),
            ("'{\"type\": \"object\"}'", "'{\"type\": \"object\", \"default\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"}'", "models.Body.schema", "secrets do not belong"),
            ("model = \"Body\"", "model = \"Body\"\nrequest_template = '{\"k\": \"AKIAIOSFODNN7EXAMPLE\"}'", "routes[1].request_template", "secrets do not belong"),
            ("model = \"Body\"", "model = \"Body\"\nintegration = \"proxy\"\nresponses = [{ status = 200 }]", "routes[1].responses", "a proxy route hands the whole request"),
            ("model = \"Body\"", "model = \"Body\"\nrequest_template = '#set($x = 1){\"a\": $x}'", "routes[1].request_template", "no directives"),
            ("model = \"Body\"", "model = \"Body\"\nresponses = [{ status = 200 }, { status = 500, on = \"unmatched\" }, { status = 502, on = \"unmatched\" }]", "routes[1].responses", "more than one response is on = \"unmatched\""),
            ("model = \"Body\"", "model = \"Body\"\nresponses = [{ status = 200, template = '{\"who\": \"$context.identity.caller\"}' }]", "routes[1].responses[0].template", "$context.identity.caller"),
            ("[tables.user]", "[api.cors]\nallow_origins = [\"https://a.example\", \"https://b.example\"]\n\n[tables.user]", "api.cors.allow_origins", "list one origin"),
            ("hash_key = { name = \"uid\", type = \"S\" }", "hash_key = { name = \"uid\", type = \"S\" }\nindexes.by_x = { hash_key = { name = \"uid\", type = \"N\" } }", "tables.user.indexes.by_x.hash_key", "one type"),
            ("hash_key = { name = \"uid\", type = \"S\" }", "hash_key = { name = \"uid\", type = \"S\" }\nindexes.by_x = { hash_key = { name = \"email\", type = \"S\" }, local = true }", "tables.user.indexes.by_x.hash_key", "the table's partition key"),
            ("hash_key = { name = \"uid\", type = \"S\" }", "hash_key = { name = \"uid\", type = \"S\" }\nindexes.x = { hash_key = { name = \"email\", type = \"S\" } }", "tables.user.indexes.x", "3 to 255"),
            ("hash_key = { name = \"uid\", type = \"S\" }", "hash_key = { name = \"uid\", type = \"S\" }\nindexes.by_x = { hash_key = { name = \"email\", type = \"S\" }, projection = [] }", "tables.user.indexes.by_x.projection", "no attributes listed"),
            ("[tables.user]", "[api.cors]\nallow_origins = [\"https://a.example/\"]\n\n[tables.user]", "api.cors.allow_origins", "is not an origin"),
            ("[tables.user]", "[api.cors]\nallow_credentials = true\n\n[tables.user]", "api.cors.allow_credentials", "browsers refuse credentials"),
            ("[tables.user]", "[api.cors]\nallow_methods = [\"GET\", \"ANY\"]\n\n[tables.user]", "api.cors.allow_methods[1]", "not an HTTP method"),
            ("[tables.user]", "[api.cors]\nallow_headers = [\"X Y\"]\n\n[tables.user]", "api.cors.allow_headers[0]", "not an HTTP header name"),
            ("model = \"Body\"", "model = \"Body\"\nresponses = [{ status = 200, headers = { \"Cache-Control\" = \"it's\" } }]", "routes[1].responses[0].headers.Cache-Control", "cannot hold '"),
            ("model = \"Body\"", "model = \"Body\"\nresponses = [{ status = 200, headers = { \"Bad Name\" = \"x\" } }]", "routes[1].responses[0].headers.Bad Name", "not an HTTP header name"),
            ("model = \"Body\"", "model = \"Body\"\nresponses = [{ status = 200, headers = { \"Location\" = \"integration.response.body.a.b\" } }]", "routes[1].responses[0].headers.Location", "one top-level field"),
            ("model = \"Body\"", "model = \"Body\"\nintegration = \"proxy\"\nrequest_template = '{}'", "routes[1].request_template", "set integration = \"mapping\""),
        ];
        assert!(cases.len() >= 30);
        for (from, to, entry, word) in cases {
            let err = match load(from, to) {
                Ok(_) => panic!("accepted: {to}"),
                Err(e) => e,
            };
            assert!(
                err.contains(&format!(": {entry}: ")),
                "{entry} not named in: {err}"
            );
            assert!(err.contains(word), "'{word}' not in: {err}");
            let line: usize = err
                .split(':')
                .nth(1)
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            assert!(line > 1, "no line in: {err}");
        }
    }

    #[test]
    fn a_refused_secret_is_never_repeated() {
        for (from, to) in [
            ("TABLE = \"${tables.user.name}\"", "TABLE = \"${tables.user.name}\", KEY = \"AKIAIOSFODNN7EXAMPLE\""),
            ("", "[[try]]\nmethod = \"POST\"\npath = \"/user\"\nbody = '{\"k\": \"AKIAIOSFODNN7EXAMPLE\"}'\nstatus = 200"),
        ] {
            let err = load(from, to).expect_err("refused");
            assert!(err.contains("secrets do not belong"), "{err}");
            assert!(!err.contains("AKIAIOSFODNN7EXAMPLE"), "{err}");
        }
    }

    #[test]
    fn an_ended_runtime_and_a_routed_timeout_past_api_gateways_are_warned_of() {
        let quiet = load("", "").unwrap();
        assert!(warnings(&quiet).is_empty(), "{:?}", warnings(&quiet));
        let f = load(
            "code = \"code\"",
            "code = \"code\"\nruntime = \"nodejs20.x\"\ntimeout_secs = 60",
        )
        .unwrap();
        let w = warnings(&f);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("end of life"), "{w:?}");
        assert!(w[1].contains("504 after 29 s"), "{w:?}");
    }

    #[test]
    fn parse_errors_say_where() {
        let cases = [
            (
                "code = \"code\"",
                "code = \"code\"\nmemory = 256",
                "unknown field `memory`",
            ),
            (
                "code = \"code\"",
                "code = \"code\"\nmemory_mb = \"big\"",
                "invalid type",
            ),
            ("[[routes]]", "[[routes]\n", "expected"),
            (
                "",
                "[api]\nendpoint = \"private\"",
                "unknown variant `private`",
            ),
            (
                "type = \"S\"",
                "type = \"string\"",
                "unknown variant `string`",
            ),
        ];
        for (from, to, word) in cases {
            let err = load(from, to).unwrap_err();
            assert!(err.contains(word), "'{word}' not in: {err}");
            let line: usize = err
                .split(':')
                .nth(1)
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            assert!(line > 1, "no line in: {err}");
        }
        let err = load("", "").map(|_| ()).and_then(|_| {
            super::super::StackFile::load(std::path::Path::new("/no/such/file.toml"), "prod")
                .map(|_| ())
                .map_err(|e| e.0)
        });
        assert!(err.unwrap_err().contains("no such file"));
    }

    #[test]
    fn paths() {
        assert!(check_path("/user/{uid}").is_ok());
        assert!(check_path("/a.b/c:d/e-f/{p+}").is_ok());
        // The API's root holds routes too (AWS SAM's quick start lists and creates there).
        assert!(check_path("/").is_ok());
        for bad in [
            "user",
            "/user/",
            "//x",
            "/user{id}",
            "/u/{id",
            "/u v",
            "/{a+}/b",
            "/{}",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn overlapping_patterns_are_found_with_an_example() {
        let m = |x: &regex_automata::dfa::dense::DFA<Vec<u32>>,
                 y: &regex_automata::dfa::dense::DFA<Vec<u32>>| {
            match common_match(x, y, &mut WALK_BUDGET.clone()) {
                Overlap::Both(s) => Some(s),
                Overlap::Disjoint => None,
                Overlap::Undecided => panic!("undecided within the bound"),
            }
        };
        let a = whole_match_dfa("BadRequest:.*").unwrap();
        let b = whole_match_dfa("NotFound:.*").unwrap();
        let c = whole_match_dfa("Bad.*").unwrap();
        assert_eq!(m(&a, &b), None);
        assert_eq!(m(&a, &c).as_deref(), Some("BadRequest:"));
        let t = whole_match_dfa(stack::TIMED_OUT_PATTERN).unwrap();
        let r = whole_match_dfa(stack::RUNTIME_EXITED_PATTERN).unwrap();
        // The tutorial's two Lambda patterns can both match one (invented) message; the
        // messages Lambda writes cannot.
        assert!(m(&t, &r).is_some());
        let ts = whole_match_dfa(super::super::LambdaFailure::Timeout.shape().unwrap()).unwrap();
        let rs =
            whole_match_dfa(super::super::LambdaFailure::RuntimeExit.shape().unwrap()).unwrap();
        assert_eq!(m(&ts, &rs), None);
        assert_eq!(m(&a, &ts), None);
        // Each shape is within its pattern: a real message is mapped as the file says.
        let all = whole_match_dfa(".*").unwrap();
        assert!(m(&all, &ts).is_some());
        assert!(m(&t, &ts).is_some() && m(&r, &rs).is_some());
        assert!(whole_match_dfa("(unclosed").is_err());
    }

    #[test]
    fn patterns_built_to_be_expensive_are_answered_at_once() {
        // Pairwise exclusive patterns (each ends in its own number of c's) whose products are
        // large (each remembers a different window of the message): the walks share one
        // bound, and what it leaves undecided is said.
        let responses: String = (0..10)
            .map(|k| {
                format!(
                    ", {{ status = {}, pattern = \"[ab]*a[ab]{{{}}}c{{{}}}\" }}",
                    400 + k,
                    6 + k,
                    k + 1
                )
            })
            .collect();
        let err = load(
            "model = \"Body\"",
            &format!("model = \"Body\"\nresponses = [{{ status = 200 }}{responses}]"),
        )
        .expect_err("refused");
        assert!(err.contains("could not be decided"), "{err}");
        assert!(!err.contains("both match"), "{err}");
    }

    #[test]
    fn aws_keys() {
        assert!(looks_like_aws_key("AKIAIOSFODNN7EXAMPLE"));
        assert!(looks_like_aws_key(
            "key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        ));
        assert!(!looks_like_aws_key("user-prod"));
        assert!(!looks_like_aws_key("${tables.user.name}"));
    }
}
