//! Status: every recorded resource checked against AWS at once, one round of concurrent reads.

use futures::future::join_all;
use serde::Serialize;

use crate::aws::{same_json, AwsError, Caller};
use crate::resources::{api, function, log_group, role, table, Owner};
use crate::stack::{PolicyMode, RouteSpec, StackSpec, STAGE};
use crate::state::StackState;

/// One line of the status table.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Row {
    pub resource: &'static str,
    pub id: String,
    pub status: Health,
    /// Why it is not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Only on its way to ready (CREATING, Pending, InProgress): waiting will mend it.
    #[serde(skip)]
    pub transitional: bool,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Ok,
    Missing,
    Drifted,
    /// The check itself failed (an AWS error).
    Unknown,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Missing => "missing",
            Health::Drifted => "drifted",
            Health::Unknown => "unknown",
        }
    }
}

fn row(
    resource: &'static str,
    id: impl Into<String>,
    status: Health,
    reason: Option<String>,
) -> Row {
    Row {
        resource,
        id: id.into(),
        status,
        reason,
        transitional: false,
    }
}

/// Drifted only because it is still on its way to ready.
fn settling(resource: &'static str, id: impl Into<String>, why: String) -> Row {
    Row {
        transitional: true,
        ..drifted(resource, id, why)
    }
}

fn ok(resource: &'static str, id: impl Into<String>) -> Row {
    row(resource, id, Health::Ok, None)
}

fn missing(resource: &'static str, id: impl Into<String>, why: &str) -> Row {
    row(resource, id, Health::Missing, Some(why.to_string()))
}

fn drifted(resource: &'static str, id: impl Into<String>, why: String) -> Row {
    row(resource, id, Health::Drifted, Some(why))
}

fn failed(resource: &'static str, id: impl Into<String>, e: AwsError) -> Row {
    row(resource, id, Health::Unknown, Some(e.to_string()))
}

/// Checks the whole stack. `spec` carries what the state was deployed with.
pub async fn check(c: &Caller, spec: &StackSpec, state: &StackState) -> Vec<Row> {
    let checks: Vec<futures::future::BoxFuture<'_, Row>> = vec![
        Box::pin(check_table(c, state)),
        Box::pin(check_role(c, state)),
        Box::pin(check_role_policy(c, spec, state)),
        Box::pin(check_function(c, spec, state)),
        Box::pin(check_api(c, state)),
        Box::pin(check_stage(c, state)),
        Box::pin(check_owner_tags(c, state)),
        Box::pin(check_permission(c, state, spec)),
        Box::pin(check_log_group(c, state)),
    ];
    // The method and integration reads each give two rows: the thing and its responses.
    let (
        mut rows,
        [resource, extra_routes],
        [method, method_responses],
        [integration, integration_responses],
    ) = tokio::join!(
        join_all(checks),
        check_resource(c, state, spec),
        check_method(c, state, spec),
        check_integration(c, state, spec)
    );
    // In the order the stack is built.
    let at = rows
        .iter()
        .position(|r| r.resource == "stage")
        .unwrap_or(rows.len());
    rows.splice(
        at..at,
        [
            resource,
            extra_routes,
            method,
            method_responses,
            integration,
            integration_responses,
        ],
    );
    rows
}

const NOT_DEPLOYED: &str = "not recorded in the state; run deploy";

async fn check_table(c: &Caller, state: &StackState) -> Row {
    let Some(rec) = &state.table else {
        return missing("table", &state.names.table, NOT_DEPLOYED);
    };
    match c
        .call("status", || table::describe(&c.aws, &rec.name))
        .await
    {
        Ok(None) => missing("table", &rec.name, "the table does not exist"),
        Ok(Some(t)) if !table::is_active(&t.status) => settling(
            "table",
            &rec.name,
            format!("table is {}, not ACTIVE", t.status),
        ),
        Ok(Some(t)) if t.billing != rec.billing => drifted(
            "table",
            &rec.name,
            format!(
                "billing mode is {:?}, deployed as {:?}",
                t.billing, rec.billing
            ),
        ),
        Ok(Some(_)) => ok("table", &rec.name),
        Err(e) => failed("table", &rec.name, e),
    }
}

async fn check_role(c: &Caller, state: &StackState) -> Row {
    let Some(rec) = &state.role else {
        return missing("role", &state.names.role, NOT_DEPLOYED);
    };
    match c.call("status", || role::arn(&c.aws, &rec.name)).await {
        Ok(None) => missing("role", &rec.name, "the role does not exist"),
        Ok(Some(arn)) if arn != rec.arn => drifted(
            "role",
            &rec.name,
            "the role was deleted and made again (its ARN changed)".into(),
        ),
        Ok(Some(_)) => ok("role", &rec.name),
        Err(e) => failed("role", &rec.name, e),
    }
}

async fn check_role_policy(c: &Caller, spec: &StackSpec, state: &StackState) -> Row {
    let Some(rec) = &state.role_policy else {
        return missing("role-policy", &state.names.role, NOT_DEPLOYED);
    };
    let role = &state.names.role;
    // The reads at once (the inline document is only used in least-privilege mode).
    let (attached, inline, inline_names) = tokio::join!(
        c.call("status", || role::attached_policy_arns(&c.aws, role)),
        c.call("status", || {
            role::inline_policy(&c.aws, role, crate::stack::INLINE_POLICY_NAME)
        }),
        c.call("status", || role::inline_policy_names(&c.aws, role))
    );
    let attached = match attached {
        Ok(a) => a,
        Err(e) if e.is(crate::aws::ErrorKind::NotFound) => {
            return missing("role-policy", role, "the role does not exist")
        }
        Err(e) => return failed("role-policy", role, e),
    };
    // Any inline policy the stack did not put widens what the function may do.
    let foreign_inline: Vec<String> = match inline_names {
        Ok(names) => names
            .into_iter()
            .filter(|n| rec.inline_policy.as_deref() != Some(n.as_str()))
            .collect(),
        Err(e) if e.is(crate::aws::ErrorKind::NotFound) => Vec::new(),
        Err(e) => return failed("role-policy", role, e),
    };
    if !foreign_inline.is_empty() {
        return drifted(
            "role-policy",
            role,
            format!(
                "inline policies not put by the stack (they widen what the function may do): {}",
                foreign_inline.join(", ")
            ),
        );
    }
    match rec.mode {
        PolicyMode::LeastPrivilege => {
            let extra: Vec<_> = attached
                .iter()
                .filter(|a| !rec.managed_arns.contains(a))
                .collect();
            match inline {
                Ok(None) => missing("role-policy", role, "the inline policy is gone"),
                Ok(Some(doc)) if !same_json(&doc, &spec.inline_policy()) => {
                    drifted("role-policy", role, "the inline policy was changed".into())
                }
                Ok(Some(_)) if !extra.is_empty() => drifted(
                    "role-policy",
                    role,
                    format!(
                        "extra managed policies attached: {}",
                        extra
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                Ok(Some(_)) => ok("role-policy", format!("{role} (least privilege)")),
                Err(e) => failed("role-policy", role, e),
            }
        }
        PolicyMode::Managed => {
            let lacking: Vec<_> = rec
                .managed_arns
                .iter()
                .filter(|a| !attached.contains(a))
                .collect();
            let extra: Vec<&str> = attached
                .iter()
                .filter(|a| !rec.managed_arns.contains(a))
                .map(String::as_str)
                .collect();
            if !extra.is_empty() {
                drifted(
                    "role-policy",
                    role,
                    format!("extra managed policies attached: {}", extra.join(", ")),
                )
            } else if lacking.is_empty() {
                ok("role-policy", format!("{role} (managed policies)"))
            } else {
                drifted(
                    "role-policy",
                    role,
                    format!(
                        "managed policies detached: {}",
                        lacking
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            }
        }
    }
}

async fn check_function(c: &Caller, spec: &StackSpec, state: &StackState) -> Row {
    let Some(rec) = &state.function else {
        return missing("function", &state.names.function, NOT_DEPLOYED);
    };
    let info = match c
        .call("status", || function::get(&c.aws, &rec.name, &spec.stack))
        .await
    {
        Ok(Some(i)) => i,
        Ok(None) => return missing("function", &rec.name, "the function does not exist"),
        Err(e) => return failed("function", &rec.name, e),
    };
    let mut why = Vec::new();
    let settling_only = info.failure().is_none() && !info.is_ready();
    if let Some(f) = info.failure() {
        why.push(f);
    } else if !info.is_ready() {
        why.push(format!(
            "state {}, last update {}",
            info.state, info.last_update_status
        ));
    }
    if info.code_sha256 != rec.code_sha256 {
        why.push("code SHA-256 differs from the deployed one".to_string());
    }
    if info.handler != crate::stack::HANDLER {
        why.push(format!(
            "handler is {}, deployed as {}",
            info.handler,
            crate::stack::HANDLER
        ));
    }
    if info.runtime != rec.runtime {
        why.push(format!(
            "runtime is {}, deployed as {}",
            info.runtime, rec.runtime
        ));
    }
    if let Some(role) = &state.role {
        if info.role != role.arn {
            why.push(format!("execution role is {}", info.role));
        }
    }
    let mut want_env = spec.function_env();
    want_env.sort();
    if info.env != want_env {
        why.push("environment variables changed".to_string());
    }
    if why.is_empty() {
        ok("function", &rec.name)
    } else if settling_only && why.len() == 1 {
        settling("function", &rec.name, why.join("; "))
    } else {
        drifted("function", &rec.name, why.join("; "))
    }
}

async fn check_api(c: &Caller, state: &StackState) -> Row {
    let Some(rec) = &state.api else {
        return missing("api", &state.names.api, NOT_DEPLOYED);
    };
    let label = format!("{} ({})", rec.name, rec.id);
    match c
        .call("status", || api::get(&c.aws, &rec.id, &state.stack))
        .await
    {
        Ok(None) => missing("api", label, "the REST API does not exist"),
        Ok(Some(_)) => ok("api", label),
        Err(e) => failed("api", label, e),
    }
}

/// Folds one result per part of a row (each route, each resource) into the row: missing or
/// drifted if any part is, with every part's reason.
fn fold(resource: &'static str, label: String, parts: Vec<(Health, Option<String>)>) -> Row {
    let worst = [Health::Unknown, Health::Missing, Health::Drifted]
        .into_iter()
        .find(|h| parts.iter().any(|(p, _)| p == h))
        .unwrap_or(Health::Ok);
    let reasons: Vec<String> = parts.into_iter().filter_map(|(_, r)| r).collect();
    let reason = (!reasons.is_empty()).then(|| reasons.join("; "));
    row(resource, label, worst, reason)
}

/// The stack's resources, and (a second row from the same read) any route of the API that the
/// stack does not have: one added by hand would be published by deploy's next deployment.
async fn check_resource(c: &Caller, state: &StackState, spec: &StackSpec) -> [Row; 2] {
    let paths: Vec<&str> = crate::stack::RESOURCES.iter().map(|r| r.path).collect();
    let recs = [&state.resource, &state.item_resource];
    let (Some(api_rec), [Some(_), Some(_)]) = (&state.api, recs) else {
        return [
            missing("resource", paths.join(", "), NOT_DEPLOYED),
            missing(FOREIGN_ROUTES_ROW, "REST API", NOT_DEPLOYED),
        ];
    };
    let recs: Vec<_> = recs.into_iter().flatten().collect();
    let label = recs
        .iter()
        .map(|r| format!("{} ({})", r.path, r.id))
        .collect::<Vec<_>>()
        .join(", ");
    let routes_label = format!("REST API {}", api_rec.id);
    match c
        .call("status", || {
            api::resources_with_methods(&c.aws, &api_rec.id, true)
        })
        .await
    {
        Ok(None) => [
            missing("resource", label, "the REST API does not exist"),
            missing(
                FOREIGN_ROUTES_ROW,
                routes_label,
                "the REST API does not exist",
            ),
        ],
        Ok(Some(all)) => {
            let parts = recs
                .iter()
                .map(|rec| match all.iter().find(|r| r.path == rec.path) {
                    None => (
                        Health::Missing,
                        Some(format!("{} does not exist", rec.path)),
                    ),
                    Some(r) if r.id != rec.id => (
                        Health::Drifted,
                        Some(format!("{} was made again (id {})", rec.path, r.id)),
                    ),
                    Some(_) => (Health::Ok, None),
                })
                .collect();
            let foreign = foreign_routes(&all, spec);
            let routes = if foreign.is_empty() {
                ok(FOREIGN_ROUTES_ROW, routes_label)
            } else {
                drifted(
                    FOREIGN_ROUTES_ROW,
                    routes_label,
                    format!(
                        "routes not in the stack, which the next deployment would publish: {}",
                        foreign
                            .iter()
                            .map(|(_, path, method)| match method {
                                Some(m) => format!("{m} {path}"),
                                None => format!("{path} (resource)"),
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            };
            [fold("resource", label, parts), routes]
        }
        Err(e) => [
            failed("resource", label, e.clone()),
            failed(FOREIGN_ROUTES_ROW, routes_label, e),
        ],
    }
}

/// The status row of routes the stack does not have.
pub const FOREIGN_ROUTES_ROW: &str = "extra-routes";

/// What the API has beyond the stack, as (resource id, path, method): a resource of a path the
/// stack does not have (`None`: the whole resource, its methods and children with it), or a
/// method the stack does not have on one of its paths (the root included).
pub fn foreign_routes(
    all: &[api::ResourceInfo],
    spec: &StackSpec,
) -> Vec<(String, String, Option<String>)> {
    let ours: Vec<&str> = std::iter::once("/")
        .chain(crate::stack::RESOURCES.iter().map(|r| r.path))
        .collect();
    let mut out = Vec::new();
    for r in all {
        if !ours.contains(&r.path.as_str()) {
            // Only the topmost foreign resource: deleting it takes its children.
            let parent_foreign = all.iter().any(|p| {
                !ours.contains(&p.path.as_str()) && r.path.starts_with(&format!("{}/", p.path))
            });
            if !parent_foreign {
                out.push((r.id.clone(), r.path.clone(), None));
            }
            continue;
        }
        for m in &r.methods {
            let wanted = spec
                .routes
                .iter()
                .any(|route| route.path == r.path && route.http_method == m);
            if !wanted {
                out.push((r.id.clone(), r.path.clone(), Some(m.clone())));
            }
        }
    }
    out
}

/// Runs `check` for each route on its recorded resource and folds the answers into two rows
/// (a thing and its responses, read by one call).
async fn per_route<'a, F, Fut>(
    resources: [&'static str; 2],
    label: String,
    state: &'a StackState,
    spec: &'a StackSpec,
    check: F,
) -> [Row; 2]
where
    F: Fn(&'a RouteSpec, &'a str) -> Fut,
    Fut: std::future::Future<Output = [(Health, Option<String>); 2]>,
{
    let check = &check;
    let checks = spec.routes.iter().map(|route| async move {
        match state.resource_at(route.path) {
            None => {
                let why = Some(format!("{} has no recorded resource", route.label()));
                [(Health::Missing, why.clone()), (Health::Missing, why)]
            }
            Some(res) => check(route, &res.id).await,
        }
    });
    let (first, second): (Vec<_>, Vec<_>) = join_all(checks)
        .await
        .into_iter()
        .map(|[a, b]| (a, b))
        .unzip();
    [
        fold(resources[0], label.clone(), first),
        fold(resources[1], label, second),
    ]
}

/// The responses a route wants, by status, against those AWS has: what is missing or extra.
fn compare_statuses<'a>(
    route: &RouteSpec,
    what: &str,
    have: impl Iterator<Item = &'a String>,
) -> Vec<String> {
    let have: std::collections::BTreeSet<&str> = have.map(String::as_str).collect();
    let want: std::collections::BTreeSet<&str> = route.responses.iter().map(|r| r.status).collect();
    let mut why = Vec::new();
    let lacking: Vec<&str> = want.difference(&have).copied().collect();
    if !lacking.is_empty() {
        why.push(format!(
            "{} lacks the {what} {}",
            route.label(),
            lacking.join(", ")
        ));
    }
    let extra: Vec<&str> = have.difference(&want).copied().collect();
    if !extra.is_empty() {
        why.push(format!(
            "{} has {what} {}: {}",
            route.label(),
            crate::ops::deploy::EXTRA_RESPONSES,
            extra.join(", ")
        ));
    }
    why
}

fn part(why: Vec<String>, missing: bool) -> (Health, Option<String>) {
    match (why.is_empty(), missing) {
        (true, _) => (Health::Ok, None),
        (false, true) => (Health::Missing, Some(why.join("; "))),
        (false, false) => (Health::Drifted, Some(why.join("; "))),
    }
}

async fn check_method(c: &Caller, state: &StackState, spec: &StackSpec) -> [Row; 2] {
    const ROWS: [&str; 2] = ["method", "method-responses"];
    let label = spec.routes_label();
    let (Some(api_rec), Some(_)) = (&state.api, &state.method) else {
        return ROWS.map(|r| missing(r, label.clone(), NOT_DEPLOYED));
    };
    let responses_recorded = state.method_responses.is_some();
    let validator = state.request_validator.as_ref().map(|v| v.id.clone());
    per_route(ROWS, label, state, spec, |route, resource_id| {
        let validator = &validator;
        async move {
            let found = c
                .call("status", || {
                    api::method(&c.aws, &api_rec.id, resource_id, route.http_method)
                })
                .await;
            let m = match found {
                Err(e) => {
                    let why = Some(e.to_string());
                    return [(Health::Unknown, why.clone()), (Health::Unknown, why)];
                }
                Ok(None) => {
                    let why = Some(format!("{} does not exist", route.label()));
                    return [(Health::Missing, why.clone()), (Health::Missing, why)];
                }
                Ok(Some(m)) => m,
            };
            let method = match route.request_model {
                Some(model) => {
                    let unchecked: Vec<&str> = ["application/json", api::DEFAULT_CONTENT_TYPE]
                        .into_iter()
                        .filter(|ct| m.models.get(*ct).map(String::as_str) != Some(model))
                        .collect();
                    if m.validator_id != *validator || !unchecked.is_empty() {
                        (
                            Health::Drifted,
                            Some(format!(
                                "{} no longer validates its body with model {model}{}",
                                route.label(),
                                if unchecked.is_empty() {
                                    String::new()
                                } else {
                                    format!(" for {}", unchecked.join(" and "))
                                }
                            )),
                        )
                    } else {
                        (Health::Ok, None)
                    }
                }
                None => (Health::Ok, None),
            };
            let responses = if responses_recorded {
                let why = compare_statuses(route, "method responses", m.responses.iter());
                let none_left = m.responses.is_empty();
                part(why, none_left)
            } else {
                (Health::Missing, Some(NOT_DEPLOYED.to_string()))
            };
            [method, responses]
        }
    })
    .await
}

async fn check_integration(c: &Caller, state: &StackState, spec: &StackSpec) -> [Row; 2] {
    const ROWS: [&str; 2] = ["integration", "integration-responses"];
    let label = spec.routes_label();
    let (Some(api_rec), Some(_), Some(f)) = (&state.api, &state.integration, &state.function)
    else {
        return ROWS.map(|r| missing(r, label.clone(), NOT_DEPLOYED));
    };
    let responses_recorded = state.integration_responses.is_some();
    let want = spec.integration_uri(&f.arn);
    per_route(ROWS, label, state, spec, |route, resource_id| {
        let want = &want;
        async move {
            let i = match c
                .call("status", || {
                    api::integration(&c.aws, &api_rec.id, resource_id, route.http_method)
                })
                .await
            {
                Ok(None) => {
                    let why = Some(format!(
                        "the integration of {} does not exist",
                        route.label()
                    ));
                    return [(Health::Missing, why.clone()), (Health::Missing, why)];
                }
                Err(e) => {
                    let why = Some(e.to_string());
                    return [(Health::Unknown, why.clone()), (Health::Unknown, why)];
                }
                Ok(Some(i)) => i,
            };
            let integration = if i.kind != "AWS" || i.uri != *want {
                (
                    Health::Drifted,
                    Some(format!(
                        "{} is integrated with {} {}, not the function",
                        route.label(),
                        i.kind,
                        i.uri
                    )),
                )
            } else {
                (Health::Ok, None)
            };
            if !responses_recorded {
                return [
                    integration,
                    (Health::Missing, Some(NOT_DEPLOYED.to_string())),
                ];
            }
            let mut why = compare_statuses(route, "integration responses", i.responses.keys());
            for r in &route.responses {
                let Some((pattern, template)) = i.responses.get(r.status) else {
                    continue;
                };
                let pattern = pattern.as_deref().filter(|p| !p.is_empty());
                if pattern != r.selection_pattern {
                    why.push(format!(
                        "{} {}: selection pattern is {:?}, not {:?}",
                        route.label(),
                        r.status,
                        pattern.unwrap_or(""),
                        r.selection_pattern.unwrap_or("")
                    ));
                }
                let template = template.as_deref().filter(|t| !t.is_empty());
                if template != r.template {
                    why.push(format!(
                        "{} {}: the response template was changed",
                        route.label(),
                        r.status
                    ));
                }
            }
            let none_left = i.responses.is_empty();
            [integration, part(why, none_left)]
        }
    })
    .await
}

async fn check_stage(c: &Caller, state: &StackState) -> Row {
    let (Some(api_rec), Some(dep)) = (&state.api, &state.deployment) else {
        return missing("stage", STAGE, NOT_DEPLOYED);
    };
    let label = format!("{STAGE} ({})", dep.id);
    match c
        .call("status", || {
            api::stage_deployment(&c.aws, &api_rec.id, STAGE)
        })
        .await
    {
        Ok(None) => missing("stage", label, "the stage does not exist"),
        Ok(Some(id)) if id != dep.id => drifted(
            "stage",
            label,
            format!(
                "stage serves deployment {id}, not the latest one ({})",
                dep.id
            ),
        ),
        Ok(Some(_)) => ok("stage", label),
        Err(e) => failed("stage", label, e),
    }
}

async fn check_permission(c: &Caller, state: &StackState, spec: &StackSpec) -> Row {
    let sids: Vec<&str> = spec.routes.iter().map(|r| r.permission_sid).collect();
    let label = sids.join(", ");
    let recs: Vec<_> = [&state.permission, &state.get_permission]
        .into_iter()
        .flatten()
        .collect();
    let Some(f) = state.function.as_ref().filter(|_| recs.len() == sids.len()) else {
        return missing("permission", label, NOT_DEPLOYED);
    };
    // One read of the whole policy: the stack's statements, and any other.
    let statements = match c
        .call("status", || function::policy_statements(&c.aws, &f.name))
        .await
    {
        Ok(s) => s,
        Err(e) => return failed("permission", label, e),
    };
    let mut parts: Vec<(Health, Option<String>)> = recs
        .into_iter()
        .map(|rec| {
            let sid = &rec.statement_id;
            match statements.iter().find(|(s, _)| s == sid) {
                None => (
                    Health::Missing,
                    Some(format!("{sid} is missing from the function's policy")),
                ),
                Some((_, arn)) if *arn != rec.source_arn => (
                    Health::Drifted,
                    Some(format!("{sid}: SourceArn is {arn}, not {}", rec.source_arn)),
                ),
                Some(_) => (Health::Ok, None),
            }
        })
        .collect();
    let foreign = foreign_sids(&statements, spec);
    if !foreign.is_empty() {
        parts.push((
            Health::Drifted,
            Some(format!(
                "{FOREIGN_STATEMENTS} (they let others invoke the function): {}",
                foreign.join(", ")
            )),
        ));
    }
    fold("permission", label, parts)
}

/// How status names statements of the function's policy that the stack did not put.
pub const FOREIGN_STATEMENTS: &str = "statements not put by the stack";

/// The statement ids of the function's policy that the stack did not put.
pub fn foreign_sids(statements: &[(String, String)], spec: &StackSpec) -> Vec<String> {
    statements
        .iter()
        .map(|(sid, _)| sid)
        .filter(|sid| !spec.routes.iter().any(|r| r.permission_sid == sid.as_str()))
        .cloned()
        .collect()
}

async fn check_log_group(c: &Caller, state: &StackState) -> Row {
    let Some(rec) = &state.log_group else {
        return missing(
            "log-group",
            format!("/aws/lambda/{}", state.names.function),
            NOT_DEPLOYED,
        );
    };
    match c
        .call("status", || log_group::describe(&c.aws, &rec.name))
        .await
    {
        Ok(None) => missing("log-group", &rec.name, "the log group does not exist"),
        Ok(Some(g)) if g.retention_days != Some(rec.retention_days) => drifted(
            "log-group",
            &rec.name,
            format!(
                "retention is {}, deployed as {} days",
                g.retention_days
                    .map(|d| format!("{d} days"))
                    .unwrap_or_else(|| "never expire".into()),
                rec.retention_days
            ),
        ),
        Ok(Some(_)) => ok("log-group", &rec.name),
        Err(e) => failed("log-group", &rec.name, e),
    }
}

/// The status row of the stack's owner tags.
pub const OWNER_TAGS_ROW: &str = "owner-tags";

/// The owner tag of every recorded resource that carries one, read at once: a tag removed by
/// hand would make the resource look like nobody's (teardown would refuse it, a lost state
/// could not find it). Deploy puts a missing tag back; a tag naming another stack is reported,
/// never overwritten.
pub async fn owner_tags(c: &Caller, state: &StackState) -> Vec<(&'static str, String, Owner)> {
    let stack = &state.stack;
    let table = async {
        match &state.table {
            Some(t) => c
                .call("status", || table::owner(&c.aws, &t.arn, stack))
                .await
                .map(|o| Some(("table", t.name.clone(), o))),
            None => Ok(None),
        }
    };
    let role = async {
        match &state.role {
            Some(r) => c
                .call("status", || role::owner(&c.aws, &r.name, stack))
                .await
                .map(|o| o.map(|o| ("role", r.name.clone(), o))),
            None => Ok(None),
        }
    };
    let function = async {
        match &state.function {
            Some(f) => c
                .call("status", || function::get(&c.aws, &f.name, stack))
                .await
                .map(|i| i.map(|i| ("function", f.name.clone(), i.owner))),
            None => Ok(None),
        }
    };
    let rest_api = async {
        match &state.api {
            Some(a) => c
                .call("status", || api::get(&c.aws, &a.id, stack))
                .await
                .map(|i| i.map(|i| ("api", a.id.clone(), i.owner))),
            None => Ok(None),
        }
    };
    let group = async {
        match &state.log_group {
            Some(g) => c
                .call("status", || log_group::owner(&c.aws, &g.arn, stack))
                .await
                .map(|o| Some(("log-group", g.name.clone(), o))),
            None => Ok(None),
        }
    };
    let (t, r, f, a, g) = tokio::join!(table, role, function, rest_api, group);
    // A resource that is gone, or whose tags cannot be read, is another row's business.
    [t, r, f, a, g]
        .into_iter()
        .filter_map(|x| x.ok().flatten())
        .filter(|(_, _, o)| !matches!(o, Owner::Us | Owner::Unknown(_)))
        .collect()
}

async fn check_owner_tags(c: &Caller, state: &StackState) -> Row {
    let label = format!("{}={}", crate::stack::OWNER_TAG, state.stack);
    let wrong = owner_tags(c, state).await;
    if wrong.is_empty() {
        return ok(OWNER_TAGS_ROW, label);
    }
    drifted(
        OWNER_TAGS_ROW,
        label,
        wrong
            .iter()
            .map(|(kind, name, owner)| match owner {
                Owner::Untagged => format!("{kind} {name} has lost its owner tag"),
                other => format!("{kind} {name}: owner tag now says {}", other.describe()),
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}
