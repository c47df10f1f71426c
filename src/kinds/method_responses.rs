//! The responses a route's method declares (one per status it can answer).

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::method::{compare_statuses, from_reasons, read, route_label};
use super::{Check, CheckCx, Kind, Repair, Want, NOT_DEPLOYED};
use crate::engine::StepResult;
use crate::kinds::context::DeployCtx;
use crate::kinds::graph::{key, Node};
use crate::resources::api;
use crate::stack::StackSpec;

crate::fingerprint_record!(MethodResponsesRecord, "method-responses");

pub struct MethodResponses;

impl Kind for MethodResponses {
    fn name(&self) -> &'static str {
        "method-responses"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("PutMethodResponse", "apigateway:PUT", Scope::RestApis),
            ("GetMethod", "apigateway:GET", Scope::RestApis),
        ]
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(4)
    }
    fn step(&self) -> &'static str {
        "method-responses"
    }
    fn doing(&self) -> &'static str {
        "declaring the methods' responses"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<MethodResponsesRecord>(rec)
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        spec.routes
            .iter()
            .filter(|r| has_responses(r))
            .map(|route| {
                Node::new(&MethodResponses, key::route("method-responses", route))
                    .lives_in(key::route("method", route))
                    .for_route(route)
            })
            .collect()
    }
    fn props(&self, _: &Want, node: &Node) -> Option<Value> {
        let route = node.route.as_ref()?;
        let statuses: Vec<&str> = route.responses.iter().map(|r| r.status.as_str()).collect();
        let mut props = json!({"statuses": statuses, "models": {"application/json": "Empty"}});
        // Only when set: the props of earlier releases stay.
        let headers: Vec<(&str, Vec<&str>)> = route
            .responses
            .iter()
            .filter(|r| !r.headers.is_empty())
            .map(|r| {
                (
                    r.status.as_str(),
                    r.headers.iter().map(|(k, _)| k.as_str()).collect(),
                )
            })
            .collect();
        if !headers.is_empty() {
            props["headers"] = json!(headers);
        }
        Some(props)
    }
    fn label(&self, _: &Want, node: &Node) -> String {
        let Some(route) = node.route.as_ref() else {
            return node.key.clone();
        };
        let statuses: Vec<&str> = route.responses.iter().map(|r| r.status.as_str()).collect();
        format!("{} {}", route.label(), statuses.join(", "))
    }
    fn legacy_fingerprint(&self, w: &Want, _: &Node) -> Option<String> {
        Some(w.spec.legacy_method_fingerprint())
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
            let label = MethodResponses.label(
                &Want {
                    spec: &ctx.spec,
                    state: &ctx.snapshot().await,
                },
                node,
            );
            put_each(
                ctx,
                node,
                "method-responses",
                &label,
                |api_id, resource_id, r| {
                    let (api_id, resource_id) = (api_id.to_string(), resource_id.to_string());
                    async move {
                        api::put_method_response(
                            ctx.aws(),
                            &api_id,
                            &resource_id,
                            &route.http_method,
                            r,
                        )
                        .await
                    }
                },
            )
            .await
        })
    }

    fn check<'a>(&'a self, cx: &'a CheckCx<'a>, node: &'a Node) -> BoxFuture<'a, Option<Check>> {
        Box::pin(async move {
            let route = node.route.as_ref()?;
            let label = route_label(node);
            if !cx.state.has(&key::route("method", route)) || !cx.state.has(&node.key) {
                return Some(Check::missing(label, NOT_DEPLOYED));
            }
            Some(match read(cx, route).await {
                None => Check::missing(label.clone(), format!("{label} has no recorded resource")),
                Some(Err(e)) => Check::failed(label, e),
                Some(Ok(None)) => Check::missing(label.clone(), format!("{label} does not exist")),
                Some(Ok(Some(m))) => {
                    let why = compare_statuses(route, "method responses", m.responses.iter());
                    from_reasons(label, why, m.responses.is_empty())
                }
            })
        })
    }
}

/// Whether a route has responses of its own to declare and map: a proxy route's response is
/// what the function answers.
pub fn has_responses(route: &crate::stack::RouteSpec) -> bool {
    route.integration != crate::stack::IntegrationKind::Proxy
}

/// One call per response status, one after another on the route's method.
pub async fn put_each<'a, P, Fut>(
    ctx: &'a DeployCtx,
    node: &'a Node,
    step: &'static str,
    label: &str,
    put: P,
) -> anyhow::Result<StepResult>
where
    P: Fn(String, String, &'a crate::stack::ResponseSpec) -> Fut,
    Fut: std::future::Future<Output = Result<(), crate::aws::AwsError>>,
{
    let route = node.route()?;
    let what = format!("the {}", step.replace('-', " "));
    super::route::put_part(
        ctx,
        node,
        label,
        &what,
        |api_id, resource_id, _| async move {
            for r in &route.responses {
                ctx.call(step, || put(api_id.clone(), resource_id.clone(), r))
                    .await?;
            }
            Ok(())
        },
    )
    .await
}
