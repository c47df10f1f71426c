//! Every route of the REST API, built at once from one OpenAPI document
//! ([`crate::openapi::document`]) by a `PutRestApi` in overwrite mode: the kind a stack with
//! `[api] build = "document"` (or more routes than [`crate::stack::DOCUMENT_ABOVE_ROUTES`])
//! has instead of a path, a method, method responses, an integration and integration
//! responses per route and the request validator.
//!
//! Why: API Gateway's control plane allows an account 10 calls a second with a burst of 40,
//! shared by every caller (docs/aws.md, "API Gateway's account quotas"); the per-call build spends about 14 a
//! route, so a 50-route API waits a minute or more on its quota, while one PutRestApi (1 a
//! second of its own) builds any number of routes. Status reads the whole API back in one
//! `GetResources?embed=methods` (with GetModels and GetRequestValidators) and names each route
//! that drifted; deploy repairs by putting the document again; teardown removes it with the
//! REST API.

use anyhow::Context;
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::method::{body_drift, compare_statuses, from_reasons};
use super::{Check, CheckCx, Kind, Want, NOT_DEPLOYED};
use crate::engine::{Action, StepResult};
use crate::kinds::context::DeployCtx;
use crate::kinds::graph::{key, Node};
use crate::kinds::rest_api::ApiRecord;
use crate::resources::api;
use crate::stack::{ApiBuild, StackSpec, VALIDATOR_NAME};

crate::fingerprint_record!(ApiDocumentRecord, "api-document");

pub struct ApiDocument;

/// The kinds a document replaces: a stack that moves to the document build forgets their
/// records (the overwrite removes what they made, authorizers included: it replaces them with
/// the document's) instead of deleting each with a call.
pub const REPLACES: [&str; 7] = [
    "authorizer",
    "path",
    "validator",
    "method",
    "method-responses",
    "integration",
    "integration-responses",
];

/// Whether the model's routes are built from the document.
pub fn applies(spec: &StackSpec) -> bool {
    spec.api.build == ApiBuild::Document
}

impl Kind for ApiDocument {
    fn name(&self) -> &'static str {
        "api-document"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("PutRestApi", "apigateway:PUT", Scope::RestApis),
            ("GetResources", "apigateway:GET", Scope::RestApis),
        ]
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(1)
    }
    fn step(&self) -> &'static str {
        "routes"
    }
    fn doing(&self) -> &'static str {
        "putting every route (one OpenAPI document)"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<ApiDocumentRecord>(rec)
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        if applies(spec) {
            vec![Node::new(&ApiDocument, key::API_DOCUMENT).lives_in(key::REST_API)]
        } else {
            Vec::new()
        }
    }
    /// One property per route (so that plan names the routes that change), the models and the
    /// API's title and endpoint type: everything the document is made from. The function ARNs
    /// follow from the functions' names.
    fn props(&self, w: &Want, _: &Node) -> Option<Value> {
        let spec = w.spec;
        let mut props = Map::new();
        for r in &spec.routes {
            let function = spec.route_function(r).map(|f| spec.function_arn(f));
            let mut route = json!({
                "path_params": r.path_params,
                "request_model": r.request_model,
                "request_template": r.request_template,
                "function": function,
                "responses": r.responses,
            });
            // Mapping routes keep the props earlier releases hashed; so do open routes.
            if r.integration != crate::stack::IntegrationKind::Aws {
                route["integration"] = json!(r.integration.api_name());
            }
            // Shaped as the method kind's, so that plan says access changes alike.
            if !r.auth.is_open() {
                route["authorization"] = json!(r.auth.authorization_type(&spec.auth));
                route["auth"] = json!(r.auth);
            }
            props.insert(r.label(), route);
        }
        let models: Map<String, Value> = spec
            .models
            .iter()
            .map(|m| (m.name.clone(), Value::String(m.schema.clone())))
            .collect();
        props.insert("models".into(), Value::Object(models));
        props.insert(
            "api".into(),
            json!({"title": spec.api.name, "endpoint_type": spec.api.endpoint_type}),
        );
        // The authorizers the document's security schemes make (their functions' ARNs
        // follow from names, as the routes').
        for a in &spec.auth.authorizers {
            props.insert(format!("authorizer {}", a.name), json!(a));
        }
        Some(Value::Object(props))
    }
    fn label(&self, w: &Want, _: &Node) -> String {
        label_of(w.spec)
    }
    fn goes_with_container(&self) -> bool {
        true
    }
    fn replaces(&self) -> &'static [&'static str] {
        &REPLACES
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
    /// A stack that leaves the document build for the per-call one: the API is emptied (one
    /// PutRestApi of a document without paths) so that the per-call build starts from its
    /// root, whose id is read again (the overwrite may have made it anew).
    fn remove<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        _key: &'a str,
        rec: &'a crate::state::Record,
    ) -> BoxFuture<'a, anyhow::Result<Option<StepResult>>> {
        Box::pin(async move {
            let state = ctx.snapshot().await;
            let Some(mut api_rec) = state.get::<ApiRecord>(key::REST_API) else {
                return Ok(Some(StepResult::new(Action::Gone, rec.id.clone())));
            };
            let empty = json!({
                "openapi": "3.0.1",
                "info": {"title": ctx.spec.api.name, "version": "1"},
                "paths": {},
            });
            let body = serde_json::to_vec(&empty)?;
            ctx.call("routes", || {
                api::put_document(ctx.aws(), &api_rec.id, body.clone())
            })
            .await
            .context("emptying the REST API for the per-call build")?;
            if let Some(root) = ctx
                .call("routes", || api::root_id(ctx.aws(), &api_rec.id))
                .await?
            {
                api_rec.root_resource_id = root;
                ctx.record(|s| s.put(key::REST_API, &api_rec)).await?;
            }
            Ok(Some(StepResult::new(Action::Deleted, rec.id.clone())))
        })
    }
}

/// `50 routes (one document)`.
fn label_of(spec: &StackSpec) -> String {
    let n = spec.routes.len();
    format!("{n} route{} (one document)", if n == 1 { "" } else { "s" })
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let label = label_of(&ctx.spec);
    super::route::put_recorded(ctx, node, &label, label.clone(), |state| async move {
        let api_id = super::rest_api::recorded_id(&state)?;
        let body = serde_json::to_vec(&crate::openapi::document(&ctx.spec))?;
        if body.len() > crate::openapi::MAX_DOCUMENT_BYTES {
            anyhow::bail!(
                "the API's OpenAPI document is {} bytes, over the {} PutRestApi takes; build it a call per part instead ([api] build = \"calls\"), or split the stack",
                body.len(),
                crate::openapi::MAX_DOCUMENT_BYTES
            );
        }
        ctx.call("routes", || {
            api::put_document(ctx.aws(), &api_id, body.clone())
        })
        .await
        .with_context(|| format!("putting the OpenAPI document of REST API {api_id}"))
    })
    .await
}

/// Whether two schema texts mean the same model: compared as JSON, without the `$schema`
/// line (a document carries none; API Gateway may add one). A schema with a `$ref` is not
/// compared: API Gateway rewrites references into its own URLs.
fn same_schema(want: &str, have: &str) -> bool {
    let parse = |t: &str| {
        let mut v: Value = serde_json::from_str(t).ok()?;
        if let Value::Object(m) = &mut v {
            m.remove("$schema");
        }
        Some(v)
    };
    if want.contains("\"$ref\"") || have.contains("\"$ref\"") {
        return true;
    }
    match (parse(want), parse(have)) {
        (Some(a), Some(b)) => a == b,
        _ => want == have,
    }
}

/// Reads the API back (its methods and integrations in one paged GetResources, its models,
/// its request validator) and compares every route with the stack, as the per-call kinds'
/// checks do one part at a time.
async fn check(cx: &CheckCx<'_>, node: &Node) -> Check {
    let label = label_of(cx.spec);
    let Some(api_rec) = cx.state.get::<ApiRecord>(key::REST_API) else {
        return Check::missing(label, NOT_DEPLOYED);
    };
    if !cx.state.has(&node.key) {
        return Check::missing(label, NOT_DEPLOYED);
    }
    let c = cx.c;
    let api_id = api_rec.id.as_str();
    let wants_validator = cx.spec.routes.iter().any(|r| r.request_model.is_some());
    let methods = super::route::all_methods(cx, api_id);
    let models = async {
        if cx.spec.models.is_empty() {
            Ok(Some(Default::default()))
        } else {
            c.call("status", || api::models(&c.aws, api_id)).await
        }
    };
    let validator = async {
        if wants_validator {
            c.call("status", || {
                api::find_validator(&c.aws, api_id, VALIDATOR_NAME)
            })
            .await
        } else {
            Ok(None)
        }
    };
    let authorizers = async {
        if cx.spec.auth.authorizers.is_empty() {
            Ok(Vec::new())
        } else {
            super::authorizer::all_in(cx, api_id).await
        }
    };
    let (methods, models, validator, authorizers) =
        tokio::join!(methods, models, validator, authorizers);
    let (methods, models, validator, authorizers) = match (methods, models, validator, authorizers)
    {
        (Ok(Some(m)), Ok(Some(models)), Ok(v), Ok(a)) => (m, models, v, a),
        (Ok(None), _, _, _) | (_, Ok(None), _, _) => {
            return Check::missing(label, format!("REST API {api_id} does not exist"))
        }
        (Err(e), _, _, _) | (_, Err(e), _, _) | (_, _, Err(e), _) | (_, _, _, Err(e)) => {
            return Check::failed(label, e)
        }
    };
    // The authorizers the document's schemes made, by name; each method names one by id.
    let (mut why, authorizer_ids) = super::authorizer::drift_by_name(cx.spec, &authorizers);
    for name in cx
        .spec
        .routes
        .iter()
        .filter_map(|r| r.request_model.as_ref())
    {
        let text = format!("model {name} does not exist");
        if !models.contains_key(name) && !why.contains(&text) {
            why.push(text);
        }
    }
    // Each model's schema, by meaning: the file's against what API Gateway keeps.
    for m in &cx.spec.models {
        if let Some(Some(have)) = models.get(&m.name) {
            if !same_schema(&m.schema, have) {
                why.push(format!("model {}'s schema is not the file's", m.name));
            }
        }
    }
    if wants_validator && validator.is_none() {
        why.push(format!("request validator {VALIDATOR_NAME} does not exist"));
    }
    let mut found = 0;
    for route in &cx.spec.routes {
        let label = route.label();
        let Some((m, integration)) = methods.at(&route.path, &route.http_method) else {
            why.push(format!("{label} does not exist"));
            continue;
        };
        found += 1;
        why.extend(body_drift(route, m, validator.as_deref()));
        let authorizer = match &route.auth.authorizer {
            Some(crate::auth::Authorizing::Named(a)) => authorizer_ids.get(a).cloned(),
            _ => None,
        };
        let auth = super::method::auth_of(cx.spec, route, authorizer);
        why.extend(super::method::auth_drift(route, &auth, m));
        // A proxy route's method responses shape nothing: the function's answer passes.
        if super::method_responses::has_responses(route) {
            why.extend(compare_statuses(
                route,
                "method responses",
                m.responses.iter(),
            ));
        }
        let Some(i) = integration else {
            why.push(format!("the integration of {label} does not exist"));
            continue;
        };
        let want = cx.spec.integration(
            route,
            &cx.spec
                .route_function(route)
                .map(|f| cx.spec.function_arn(f))
                .unwrap_or_default(),
        );
        why.extend(super::integration::target_drift(&label, i, &want));
        why.extend(super::integration_responses::response_drift(route, i));
    }
    from_reasons(label, why, found == 0 && !cx.spec.routes.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(build: ApiBuild) -> StackSpec {
        let mut s = crate::stack::tests_support::spec();
        s.api.build = build;
        s
    }

    #[test]
    fn the_document_build_replaces_every_per_route_part_but_the_permissions() {
        let g = crate::kinds::graph::Graph::new(&spec(ApiBuild::Document));
        g.check().unwrap();
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.kind.name()).collect();
        for k in REPLACES {
            assert!(!kinds.contains(&k), "{k} in {kinds:?}");
        }
        assert!(kinds.contains(&"api-document"));
        // One for the function its two routes invoke.
        assert_eq!(kinds.iter().filter(|k| **k == "permission").count(), 1);
        // Made again with the REST API; a new document is a new deployment.
        let api = g.with_contents(key::REST_API);
        assert!(api.contains(&key::API_DOCUMENT.to_string()));
        assert!(g
            .with_contents(key::API_DOCUMENT)
            .contains(&"stage:prod".to_string()));
        let per_call = crate::kinds::graph::Graph::new(&spec(ApiBuild::Calls));
        assert!(!per_call.contains(key::API_DOCUMENT));
    }

    #[test]
    fn its_properties_name_each_route_so_plan_can() {
        let s = spec(ApiBuild::Document);
        let state = crate::state::StackState::new(
            "demo",
            "us-east-1",
            None,
            crate::stack::Names::defaults("demo"),
        );
        let w = Want {
            spec: &s,
            state: &state,
        };
        let node = Node::new(&ApiDocument, key::API_DOCUMENT);
        let before = ApiDocument.props(&w, &node).unwrap();
        assert!(before.get("POST /user").is_some());
        assert!(before.get("GET /user/{uid}").is_some());
        let mut changed = s.clone();
        changed.routes[1].request_template = Some("{}".into());
        let w2 = Want {
            spec: &changed,
            state: &state,
        };
        let after = ApiDocument.props(&w2, &node).unwrap();
        assert_eq!(before["POST /user"], after["POST /user"]);
        assert_ne!(before["GET /user/{uid}"], after["GET /user/{uid}"]);
    }

    #[test]
    fn auto_builds_from_a_document_past_the_burst() {
        // The tutorial's two routes: 32 calls, within the burst of 40: per call, the
        // article's own sequence.
        let tutorial = crate::stack::tests_support::spec();
        assert_eq!(crate::stack::per_call_calls(&tutorial.routes, 1), 32);
        assert_eq!(ApiBuild::auto(&tutorial.routes, 1), ApiBuild::Calls);
        // A third route with six responses takes it past: one document.
        let mut three = tutorial.routes.clone();
        three.push(crate::stack::delete_user_route());
        assert_eq!(crate::stack::per_call_calls(&three, 1), 46);
        assert_eq!(ApiBuild::auto(&three, 1), ApiBuild::Document);
        assert!(ApiBuild::Document
            .explain(&three, 1)
            .contains("46 API Gateway calls, past"));
    }
}
