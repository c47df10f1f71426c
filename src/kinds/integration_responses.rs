//! How a route's integration maps the function's answers to responses: the selection pattern
//! on the error message and the response template of each status.

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::method::{compare_statuses, from_reasons, route_label};
use super::{Check, CheckCx, Kind, Repair, Want, NOT_DEPLOYED};
use crate::engine::StepResult;
use crate::kinds::context::DeployCtx;
use crate::kinds::function::FunctionRecord;
use crate::kinds::graph::{key, Node};
use crate::resources::api;
use crate::stack::{RouteSpec, StackSpec};

crate::fingerprint_record!(IntegrationResponsesRecord, "integration-responses");

pub struct IntegrationResponses;

impl Kind for IntegrationResponses {
    fn name(&self) -> &'static str {
        "integration-responses"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("PutIntegrationResponse", "apigateway:PUT", Scope::RestApis),
            ("GetIntegration", "apigateway:GET", Scope::RestApis),
        ]
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(2)
    }
    fn step(&self) -> &'static str {
        "integration-responses"
    }
    fn doing(&self) -> &'static str {
        "mapping the function's answers to responses"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<IntegrationResponsesRecord>(rec)
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        spec.routes
            .iter()
            .filter(|r| super::method_responses::has_responses(r))
            .map(|route| {
                Node::new(
                    &IntegrationResponses,
                    key::route("integration-responses", route),
                )
                .lives_in(key::route("integration", route))
                .lives_in(key::route("method-responses", route))
                .for_route(route)
            })
            .collect()
    }
    fn props(&self, _: &Want, node: &Node) -> Option<Value> {
        let route = node.route.as_ref()?;
        let responses: Vec<Value> = route
            .responses
            .iter()
            .map(|r| {
                let mut x = json!({"status": r.status, "selection_pattern": r.selection_pattern, "template": r.template});
                // Only when set: the props of earlier releases stay.
                if !r.headers.is_empty() {
                    x["headers"] = json!(r.headers);
                }
                x
            })
            .collect();
        Some(json!({ "responses": responses }))
    }
    fn label(&self, _: &Want, node: &Node) -> String {
        let Some(route) = node.route.as_ref() else {
            return node.key.clone();
        };
        let statuses: Vec<&str> = route.responses.iter().map(|r| r.status.as_str()).collect();
        format!("{} {}", route.label(), statuses.join(", "))
    }
    fn legacy_fingerprint(&self, w: &Want, _: &Node) -> Option<String> {
        let function = w
            .state
            .get::<FunctionRecord>(&key::function(crate::stack::TUTORIAL_FUNCTION))?;
        Some(w.spec.legacy_integration_fingerprint(&function.arn))
    }
    fn repair(&self, node: &Node, check: &Check) -> Repair {
        super::method::repair_responses(node, check)
    }
    fn goes_with_container(&self) -> bool {
        true
    }

    fn ensure<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(async move {
            let route = node.route()?;
            let label = IntegrationResponses.label(
                &Want {
                    spec: &ctx.spec,
                    state: &ctx.snapshot().await,
                },
                node,
            );
            super::method_responses::put_each(
                ctx,
                node,
                "integration-responses",
                &label,
                |api_id, resource_id, r| async move {
                    api::put_integration_response(
                        ctx.aws(),
                        &api_id,
                        &resource_id,
                        &route.http_method,
                        r,
                    )
                    .await
                },
            )
            .await
        })
    }

    fn check<'a>(&'a self, cx: &'a CheckCx<'a>, node: &'a Node) -> BoxFuture<'a, Option<Check>> {
        Box::pin(async move {
            let route = node.route.as_ref()?;
            let label = route_label(node);
            if !cx.state.has(&key::route("integration", route))
                || !cx.state.has(&node.key)
                || super::integration::function_of(route)
                    .is_some_and(|f| !cx.state.has(&key::function(f)))
            {
                return Some(Check::missing(label, NOT_DEPLOYED));
            }
            Some(match super::integration::read(cx, route).await {
                None => Check::missing(label.clone(), format!("{label} has no recorded resource")),
                Some(Err(e)) => Check::failed(label, e),
                Some(Ok(None)) => Check::missing(
                    label.clone(),
                    format!("the integration of {label} does not exist"),
                ),
                Some(Ok(Some(i))) => {
                    let why = response_drift(route, &i);
                    from_reasons(label, why, i.responses.is_empty())
                }
            })
        })
    }
}

/// What differs between a route's integration responses and the stack's: statuses missing or
/// extra, selection patterns, templates.
pub fn response_drift(route: &RouteSpec, i: &api::IntegrationInfo) -> Vec<String> {
    let mut why = compare_statuses(route, "integration responses", i.responses.keys());
    for r in &route.responses {
        let Some((pattern, template, headers)) = i.responses.get(&r.status) else {
            continue;
        };
        let want: std::collections::BTreeMap<String, String> = r
            .headers
            .iter()
            .map(|(k, v)| (format!("method.response.header.{k}"), v.clone()))
            .collect();
        if *headers != want {
            why.push(format!(
                "{} {}: its response headers are not the stack's",
                route.label(),
                r.status
            ));
        }
        let pattern = pattern.as_deref().filter(|p| !p.is_empty());
        if pattern != r.selection_pattern.as_deref() {
            why.push(format!(
                "{} {}: selection pattern is {:?}, not {:?}",
                route.label(),
                r.status,
                pattern.unwrap_or(""),
                r.selection_pattern.as_deref().unwrap_or("")
            ));
        }
        let template = template.as_deref().filter(|t| !t.is_empty());
        if template != r.template.as_deref() {
            why.push(format!(
                "{} {}: the response template was changed",
                route.label(),
                r.status
            ));
        }
    }
    why
}
