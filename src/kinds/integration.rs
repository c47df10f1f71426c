//! A route's integration: the Lambda function behind the method, and the request template.

use anyhow::Context;
use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::method::route_label;
use super::{Check, CheckCx, Kind, Want, NOT_DEPLOYED};
use crate::aws::AwsError;
use crate::engine::StepResult;
use crate::kinds::context::DeployCtx;
use crate::kinds::function::FunctionRecord;
use crate::kinds::graph::{key, Node};
use crate::resources::api;
use crate::stack::{RouteSpec, StackSpec};

crate::fingerprint_record!(IntegrationRecord, "integration");

pub struct Integration;

impl Kind for Integration {
    fn name(&self) -> &'static str {
        "integration"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("PutIntegration", "apigateway:PUT", Scope::RestApis),
            ("GetIntegration", "apigateway:GET", Scope::RestApis),
        ]
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(3)
    }
    fn step(&self) -> &'static str {
        "integration"
    }
    fn doing(&self) -> &'static str {
        "wiring the routes to the function"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<IntegrationRecord>(rec)
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        spec.routes
            .iter()
            .map(|route| {
                let n = Node::new(&Integration, key::route("integration", route))
                    .lives_in(key::route("method", route))
                    .for_route(route);
                match function_of(route) {
                    Some(f) => n.lives_in(key::function(f)),
                    None => n,
                }
            })
            .collect()
    }
    fn props(&self, w: &Want, node: &Node) -> Option<Value> {
        let route = node.route.as_ref()?;
        let arn = match function_of(route) {
            Some(f) => w.state.get::<FunctionRecord>(&key::function(f))?.arn,
            None => String::new(),
        };
        let i = w.spec.integration(route, &arn);
        Some(json!({
            "type": i.kind.api_name(),
            "uri": i.uri,
            "request_template": i.request_template,
            "passthrough": i.passthrough.map(|p| p.api_name()),
        }))
    }
    fn label(&self, w: &Want, node: &Node) -> String {
        let f = super::route_function(w.spec, node).map_or("mock", |f| f.name.as_str());
        format!("{} -> {f}", route_label(node))
    }
    /// None: releases writing state format 1 or 2 invoked the function itself, and this one
    /// invokes its live alias, so their integration is put again (the fingerprint they
    /// recorded no longer describes the wish).
    fn legacy_fingerprint(&self, _: &Want, _: &Node) -> Option<String> {
        None
    }
    fn goes_with_container(&self) -> bool {
        true
    }
    /// PutIntegration over an integration replaces it and drops its integration responses
    /// (docs/aws.md, "The Lambda integration and the OpenAPI import"): a changed one is put
    /// with its responses again.
    fn remade_when_changed(&self) -> bool {
        true
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

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let route = node.route()?;
    let label = Integration.label(
        &Want {
            spec: &ctx.spec,
            state: &ctx.snapshot().await,
        },
        node,
    );
    super::route::put_part(
        ctx,
        node,
        &label,
        "the integration",
        |api_id, resource_id, state| async move {
            let arn = match function_of(route) {
                Some(f) => {
                    state
                        .get::<FunctionRecord>(&key::function(f))
                        .context("the function is not recorded")?
                        .arn
                }
                None => String::new(),
            };
            let wanted = ctx.spec.integration(route, &arn);
            ctx.call("integration", || {
                api::put_integration(
                    ctx.aws(),
                    &api_id,
                    &resource_id,
                    &route.http_method,
                    &wanted,
                )
            })
            .await?;
            Ok(())
        },
    )
    .await
}

/// The function a route invokes; `None` for a MOCK route (a CORS preflight).
pub fn function_of(route: &RouteSpec) -> Option<&str> {
    (route.integration != crate::stack::IntegrationKind::Mock).then_some(route.function.as_str())
}

/// GetIntegration of a route, read once per status round for the integration and its
/// responses.
pub async fn read(
    cx: &CheckCx<'_>,
    route: &RouteSpec,
) -> Option<Result<Option<api::IntegrationInfo>, AwsError>> {
    let c = cx.c;
    super::route::read_part(
        cx,
        route,
        "GetIntegration",
        |(_, i)| i.clone(),
        |api_id, resource_id| async move {
            c.call("status", || {
                api::integration(&c.aws, &api_id, &resource_id, &route.http_method)
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
    let arn = match function_of(route) {
        Some(f) => match cx.state.get::<FunctionRecord>(&key::function(f)) {
            Some(f) => f.arn,
            None => return Check::missing(label, NOT_DEPLOYED),
        },
        None => String::new(),
    };
    if !cx.state.has(&node.key) {
        return Check::missing(label, NOT_DEPLOYED);
    }
    let want = cx.spec.integration(route, &arn);
    match read(cx, route).await {
        None => Check::missing(label.clone(), format!("{label} has no recorded resource")),
        Some(Err(e)) => Check::failed(label, e),
        Some(Ok(None)) => Check::missing(
            label.clone(),
            format!("the integration of {label} does not exist"),
        ),
        Some(Ok(Some(i))) => match target_drift(&label, &i, &want) {
            Some(why) => Check::drifted(label, why),
            None => Check::ok(label),
        },
    }
}

/// Why a route's integration no longer invokes its function as `want` says. The type is
/// compared without case: an OpenAPI import names it `aws` (AWS answers `AWS`, moto what the
/// document said).
pub fn target_drift(
    label: &str,
    i: &api::IntegrationInfo,
    want: &crate::stack::IntegrationSpec,
) -> Option<String> {
    (!i.kind.eq_ignore_ascii_case(want.kind.api_name()) || i.uri != want.uri).then(|| {
        let wanted = if want.uri.is_empty() {
            want.kind.api_name()
        } else {
            "the function"
        };
        format!(
            "{label} is integrated with {} {}, not {wanted}",
            i.kind, i.uri
        )
    })
}
