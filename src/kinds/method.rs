//! A route's method: HTTP method on its path, its path parameters, its body model and
//! validator. API Gateway refuses a Put* on a method while another is in flight, so the
//! calls on one method go one at a time ([`crate::kinds::context::MethodLocks`]).

use anyhow::Context;
use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::{Check, CheckCx, Kind, Repair, Want, NOT_DEPLOYED};
use crate::aws::AwsError;
use crate::engine::{Action, StepResult};
use crate::kinds::context::DeployCtx;
use crate::kinds::graph::{key, Node};
use crate::kinds::validator::ValidatorRecord;
use crate::resources::api;
use crate::stack::{IntegrationKind, RouteSpec, StackSpec};

crate::fingerprint_record!(MethodRecord, "method");

pub struct Method;

/// How status says that a method has responses the stack does not.
pub const EXTRA_RESPONSES: &str = "not in the stack";

impl Kind for Method {
    fn name(&self) -> &'static str {
        "method"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("PutMethod", "apigateway:PUT", Scope::RestApis),
            ("GetMethod", "apigateway:GET", Scope::RestApis),
            ("DeleteMethod", "apigateway:DELETE", Scope::RestApis),
        ]
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(5)
    }
    fn step(&self) -> &'static str {
        "method"
    }
    fn doing(&self) -> &'static str {
        "creating the methods"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<MethodRecord>(rec)
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        spec.routes
            .iter()
            .map(|route| {
                let mut n = Node::new(&Method, key::route("method", route))
                    .lives_in(key::path_or_root(&route.path))
                    .for_route(route);
                if route.request_model.is_some() {
                    n = n.needs(key::VALIDATOR);
                }
                if let Some(crate::auth::Authorizing::Named(a)) = &route.auth.authorizer {
                    n = n.needs(super::authorizer::key_of(a));
                }
                n
            })
            .collect()
    }
    fn props(&self, w: &Want, node: &Node) -> Option<Value> {
        let route = node.route.as_ref()?;
        let validator = match route.request_model {
            Some(_) => Some(w.state.get::<ValidatorRecord>(key::VALIDATOR)?.id),
            None => None,
        };
        let mut props = json!({
            "http_method": route.http_method,
            "path": route.path,
            "authorization": "NONE",
            "path_params": route.path_params,
            "request_model": route.request_model.as_ref().map(|m| json!({
                "name": m,
                "schema": w.spec.model(m).map(|m| m.schema.as_str()),
                "content_types": ["application/json", api::DEFAULT_CONTENT_TYPE],
            })),
            "validator": validator,
        });
        // A route that changes integration type is made again (its responses go with the
        // old method); a mapping route's props stay what earlier releases hashed.
        if route.integration != IntegrationKind::Aws {
            props["integration"] = json!(route.integration.api_name());
        }
        // What the caller must show; an open route's props stay what earlier releases
        // hashed. A change makes the method again (with its parts): moto and AWS both take
        // PutMethod whole, and a method is the unit the stage publishes.
        if !route.auth.is_open() {
            props["authorization"] = json!(route.auth.authorization_type(&w.spec.auth));
            props["auth"] = json!({
                "api_key": route.auth.api_key,
                "authorizer": authorizer_id(w, route)?,
                "scopes": route.auth.scopes,
            });
        }
        Some(props)
    }
    fn remade_when_changed(&self) -> bool {
        // PutMethod over a method is refused (ConflictException): it is deleted and put
        // again, and its responses and integration go with it.
        true
    }
    fn label(&self, _: &Want, node: &Node) -> String {
        route_label(node)
    }
    fn legacy_fingerprint(&self, w: &Want, _: &Node) -> Option<String> {
        Some(w.spec.legacy_method_fingerprint())
    }
    fn repair(&self, node: &Node, _: &Check) -> Repair {
        // A method that stopped validating its body: the validator may be gone too (found
        // again by name, or made again).
        let mut keys = vec![node.key.clone()];
        if node
            .route
            .as_ref()
            .is_some_and(|r| r.request_model.is_some())
        {
            keys.push(key::VALIDATOR.to_string());
        }
        Repair::Recreate(keys)
    }
    fn goes_with_container(&self) -> bool {
        true
    }

    fn remove<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        key: &'a str,
        rec: &'a crate::state::Record,
    ) -> BoxFuture<'a, anyhow::Result<Option<StepResult>>> {
        Box::pin(async move {
            // The record's id is the route: `DELETE /user/{uid}`.
            let (method, path) = rec
                .id
                .split_once(' ')
                .with_context(|| format!("{key} does not name a route"))?;
            let state = ctx.snapshot().await;
            let api_id = super::rest_api::recorded_id(&state)?;
            let Ok(resource_id) = super::path::resource_id(&state, path) else {
                // Its path is gone, and the method with it.
                return Ok(Some(StepResult::new(Action::Gone, rec.id.clone())));
            };
            ctx.method_locks
                .on(
                    &rec.id,
                    ctx.call("method", || {
                        api::delete_method(ctx.aws(), &api_id, &resource_id, method)
                    }),
                )
                .await
                .with_context(|| format!("removing method {}", rec.id))?;
            Ok(Some(StepResult::new(Action::Deleted, rec.id.clone())))
        })
    }
    fn ensure<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(ensure(ctx, node))
    }

    fn check<'a>(&'a self, cx: &'a CheckCx<'a>, node: &'a Node) -> BoxFuture<'a, Option<Check>> {
        Box::pin(async move { Some(check(cx, node).await) })
    }
}

/// The recorded id of the route's authorizer (`Some(None)`: it names none, or IAM; `None`:
/// not recorded yet).
pub fn authorizer_id(w: &Want, route: &RouteSpec) -> Option<Option<String>> {
    match &route.auth.authorizer {
        Some(crate::auth::Authorizing::Named(a)) => Some(Some(
            w.state
                .get::<super::authorizer::AuthorizerRecord>(&super::authorizer::key_of(a))?
                .id,
        )),
        _ => Some(None),
    }
}

/// What the route wants of its method's auth, resolved against the records.
pub fn wanted_auth(w: &Want, route: &RouteSpec) -> Option<api::MethodAuth> {
    Some(auth_of(w.spec, route, authorizer_id(w, route)?))
}

/// What the route wants of its method's auth, its authorizer's id given.
pub fn auth_of(
    spec: &StackSpec,
    route: &RouteSpec,
    authorizer_id: Option<String>,
) -> api::MethodAuth {
    api::MethodAuth {
        authorization_type: route.auth.authorization_type(&spec.auth).to_string(),
        authorizer_id,
        api_key_required: route.auth.api_key,
        scopes: route.auth.scopes.clone(),
    }
}

/// Why a method lets in more (or other) callers than the stack says: a lost authorizer or
/// API key requirement widens access (`None`: as the stack says).
pub fn auth_drift(
    route: &RouteSpec,
    want: &api::MethodAuth,
    m: &api::MethodInfo,
) -> Option<String> {
    let mut why = Vec::new();
    if m.authorization_type != want.authorization_type {
        let widened = m.authorization_type == "NONE";
        why.push(format!(
            "authorization is {}, the stack says {}{}",
            m.authorization_type,
            want.authorization_type,
            if widened {
                " (anyone may call it: access widened)"
            } else {
                ""
            }
        ));
    } else if want.authorizer_id.is_some() && m.authorizer_id != want.authorizer_id {
        why.push("it names another authorizer than the stack's".to_string());
    }
    if m.api_key_required != want.api_key_required {
        why.push(if want.api_key_required {
            "it no longer requires an API key (access widened)".to_string()
        } else {
            "it requires an API key the stack does not".to_string()
        });
    }
    let mut have = m.scopes.clone();
    have.sort();
    let mut wanted = want.scopes.clone();
    wanted.sort();
    if have != wanted {
        why.push(format!(
            "its scopes are [{}], the stack says [{}]",
            have.join(", "),
            wanted.join(", ")
        ));
    }
    (!why.is_empty()).then(|| format!("{}: {}", route.label(), why.join("; ")))
}

/// `POST /user`.
pub fn route_label(node: &Node) -> String {
    node.route
        .as_ref()
        .map(RouteSpec::label)
        .unwrap_or_default()
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let route = node.route()?;
    let label = route.label();
    super::route::put_part(
        ctx,
        node,
        &label,
        "the method",
        |api_id, resource_id, state| async move {
            let validator = state
                .get::<ValidatorRecord>(key::VALIDATOR)
                .map(|v| v.id)
                .filter(|_| route.request_model.is_some());
            let w = Want {
                spec: &ctx.spec,
                state: &state,
            };
            let auth = wanted_auth(&w, route).context("the route's authorizer is not recorded")?;
            ctx.call("method", || {
                api::put_method(
                    ctx.aws(),
                    &api_id,
                    &resource_id,
                    route,
                    validator.as_deref(),
                    &auth,
                )
            })
            .await?;
            Ok(())
        },
    )
    .await
}

/// GetMethod of a route, read once per status round for the method and its responses.
pub async fn read(
    cx: &CheckCx<'_>,
    route: &RouteSpec,
) -> Option<Result<Option<api::MethodInfo>, AwsError>> {
    let c = cx.c;
    super::route::read_part(
        cx,
        route,
        "GetMethod",
        |(m, _)| Some(m.clone()),
        |api_id, resource_id| async move {
            c.call("status", || {
                api::method(&c.aws, &api_id, &resource_id, &route.http_method)
            })
            .await
        },
    )
    .await
}

async fn check(cx: &CheckCx<'_>, node: &Node) -> Check {
    let Some(route) = node.route.as_ref() else {
        return Check::missing(&node.key, NOT_DEPLOYED);
    };
    let label = route.label();
    if !cx.state.has(&node.key) {
        return Check::missing(label, NOT_DEPLOYED);
    }
    let m = match read(cx, route).await {
        None => return Check::missing(label.clone(), format!("{label} has no recorded resource")),
        Some(Err(e)) => return Check::failed(label, e),
        Some(Ok(None)) => return Check::missing(label.clone(), format!("{label} does not exist")),
        Some(Ok(Some(m))) => m,
    };
    let validator = cx
        .state
        .get::<ValidatorRecord>(key::VALIDATOR)
        .map(|v| v.id);
    let w = Want {
        spec: cx.spec,
        state: cx.state,
    };
    let auth = wanted_auth(&w, route).and_then(|a| auth_drift(route, &a, &m));
    match (body_drift(route, &m, validator.as_deref()), auth) {
        (Some(a), Some(b)) => Check::drifted(label, format!("{a}; {b}")),
        (Some(why), None) | (None, Some(why)) => Check::drifted(label, why),
        (None, None) => Check::ok(label),
    }
}

/// Why a route's method no longer validates its body as the stack wants (`None`: it does, or
/// the route takes no body): `validator` is the request validator's id.
pub fn body_drift(
    route: &RouteSpec,
    m: &api::MethodInfo,
    validator: Option<&str>,
) -> Option<String> {
    let model = route.request_model.as_ref()?;
    let unchecked: Vec<&str> = ["application/json", api::DEFAULT_CONTENT_TYPE]
        .into_iter()
        .filter(|ct| m.models.get(*ct).map(String::as_str) != Some(model.as_str()))
        .collect();
    (m.validator_id.as_deref() != validator || !unchecked.is_empty()).then(|| {
        format!(
            "{} no longer validates its body with model {model}{}",
            route.label(),
            if unchecked.is_empty() {
                String::new()
            } else {
                format!(" for {}", unchecked.join(" and "))
            }
        )
    })
}

/// The responses a route wants, by status, against those AWS has: what is missing or extra.
pub fn compare_statuses<'a>(
    route: &RouteSpec,
    what: &str,
    have: impl Iterator<Item = &'a String>,
) -> Vec<String> {
    let have: std::collections::BTreeSet<&str> = have.map(String::as_str).collect();
    let want: std::collections::BTreeSet<&str> =
        route.responses.iter().map(|r| r.status.as_str()).collect();
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
            "{} has {what} {EXTRA_RESPONSES}: {}",
            route.label(),
            extra.join(", ")
        ));
    }
    why
}

/// A check from a list of reasons: ok without any; missing when nothing is left at all.
pub fn from_reasons(label: String, why: Vec<String>, none_left: bool) -> Check {
    match (why.is_empty(), none_left) {
        (true, _) => Check::ok(label),
        (false, true) => Check::missing(label, why.join("; ")),
        (false, false) => Check::drifted(label, why.join("; ")),
    }
}

/// Responses the stack does not have are removed with the method: it is made again
/// (DeleteMethod, PutMethod) with exactly the stack's responses.
pub fn repair_responses(node: &Node, check: &Check) -> Repair {
    let extra = check
        .reason
        .as_deref()
        .is_some_and(|r| r.contains(EXTRA_RESPONSES));
    match (extra, node.route.as_ref()) {
        (true, Some(route)) => {
            let mut keys = vec![key::route("method", route)];
            if route.request_model.is_some() {
                keys.push(key::VALIDATOR.to_string());
            }
            Repair::Recreate(keys)
        }
        _ => Repair::Recreate(vec![node.key.clone()]),
    }
}
