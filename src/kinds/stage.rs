//! The stage `prod` and the deployment it serves: a snapshot of every route, made again
//! whenever a route changed since the last one.

use anyhow::Context;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Check, CheckCx, Kind, Want, NOT_DEPLOYED};
use crate::engine::{Action, StepResult};
use crate::kinds::context::DeployCtx;
use crate::kinds::graph::{key, Node};
use crate::kinds::rest_api::ApiRecord;
use crate::resources::api;
use crate::stack::StackSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentRecord {
    pub id: String,
    pub stage: String,
    /// Fingerprint of the routes this deployment published.
    pub fingerprint: String,
}

impl crate::state::Typed for DeploymentRecord {
    const KIND: &'static str = "stage";
}

pub struct Stage;

/// The route kinds a deployment publishes.
const PUBLISHED: [&str; 6] = [
    "api-document",
    "gateway-responses",
    "method",
    "method-responses",
    "integration",
    "integration-responses",
];

impl Kind for Stage {
    fn name(&self) -> &'static str {
        "stage"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("CreateDeployment", "apigateway:POST", Scope::RestApis),
            ("GetStage", "apigateway:GET", Scope::RestApis),
        ]
    }
    fn shown(&self) -> Option<super::Shown> {
        Some(super::Shown::One("deployment"))
    }
    fn show(&self, rec: &crate::state::Record) -> Value {
        rec.typed::<DeploymentRecord>().map_or(
            Value::Null,
            |d| serde_json::json!({"id": d.id, "stage": d.stage}),
        )
    }
    fn removal_rank(&self) -> Option<u8> {
        None // the stack always has its stage: it goes only with teardown (or with the REST API)
    }
    fn step(&self) -> &'static str {
        "deployment"
    }
    fn row(&self) -> &'static str {
        "stage"
    }
    fn doing(&self) -> &'static str {
        "deploying to stage prod"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<DeploymentRecord>(rec)
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        // Lives in every route's last parts: a route made again needs a new deployment.
        let mut n = Node::new(&Stage, key::stage(&spec.api.stage)).lives_in(key::REST_API);
        // Gateway responses reach clients with the next deployment too.
        if !spec.gateway_responses().is_empty() {
            n = n.lives_in(key::GATEWAY_RESPONSES);
        }
        if super::api_document::applies(spec) {
            return vec![n.lives_in(key::API_DOCUMENT)];
        }
        for route in &spec.routes {
            n = if super::method_responses::has_responses(route) {
                n.lives_in(key::route("integration-responses", route))
                    .lives_in(key::route("method-responses", route))
            } else {
                // A proxy route's last part is its integration.
                n.lives_in(key::route("integration", route))
            };
        }
        vec![n]
    }
    /// What the deployment publishes: the fingerprint of every route's parts.
    fn props(&self, w: &Want, _: &Node) -> Option<Value> {
        let graph = crate::kinds::graph::Graph::new(w.spec);
        let mut routes = serde_json::Map::new();
        for n in &graph.nodes {
            if PUBLISHED.contains(&n.kind.name()) {
                routes.insert(n.key.clone(), super::wanted_fingerprint(w, n)?.into());
            }
        }
        Some(json!({"stage": w.spec.api.stage, "routes": routes}))
    }
    fn label(&self, w: &Want, node: &Node) -> String {
        match w.state.get::<DeploymentRecord>(&node.key) {
            Some(d) => format!("{} ({})", w.spec.api.stage, d.id),
            None => w.spec.api.stage.clone(),
        }
    }
    fn legacy_fingerprint(&self, w: &Want, _: &Node) -> Option<String> {
        // What that release published: a part this release publishes and the state does not
        // record (the gateway responses it adds) was not in its deployment, which is made
        // again after it.
        let graph = crate::kinds::graph::Graph::new(w.spec);
        if graph
            .nodes
            .iter()
            .any(|n| PUBLISHED.contains(&n.kind.name()) && !w.state.has(&n.key))
        {
            return None;
        }
        let f = w
            .state
            .get::<crate::kinds::function::FunctionRecord>(&key::function(
                crate::stack::TUTORIAL_FUNCTION,
            ))?;
        let m = w.spec.legacy_method_fingerprint();
        let i = w.spec.legacy_integration_fingerprint(&f.arn);
        Some(crate::stack::fingerprint(&[&m, &m, &i, &i]))
    }
    fn goes_with_container(&self) -> bool {
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
        Box::pin(async move {
            let c = cx.c;
            let (Some(api_rec), Some(dep)) = (
                cx.state.get::<ApiRecord>(key::REST_API),
                cx.state.get::<DeploymentRecord>(&node.key),
            ) else {
                return Some(Check::missing(&cx.spec.api.stage, NOT_DEPLOYED));
            };
            let stage = dep.stage.clone();
            let label = format!("{stage} ({})", dep.id);
            Some(
                match c
                    .call("status", || {
                        api::stage_deployment(&c.aws, &api_rec.id, &stage)
                    })
                    .await
                {
                    Ok(None) => Check::missing(label, "the stage does not exist"),
                    Ok(Some(id)) if id != dep.id => Check::drifted(
                        label,
                        format!(
                            "stage serves deployment {id}, not the latest one ({})",
                            dep.id
                        ),
                    ),
                    Ok(Some(_)) => Check::ok(label),
                    Err(e) => Check::failed(label, e),
                },
            )
        })
    }
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let w = Want {
        spec: &ctx.spec,
        state: &state,
    };
    let api_id = super::rest_api::recorded_id(&state)?;
    let stage = ctx.spec.api.stage.as_str();
    let recorded: Option<DeploymentRecord> = state.get(&node.key);
    if let Some(d) = &recorded {
        if super::is_current(&d.fingerprint, &w, node)
            && !super::path::routes_to_prune(&ctx.findings)
        {
            return Ok(StepResult::new(
                Action::Unchanged,
                format!("stage {stage} ({})", d.id),
            ));
        }
    }
    let props = Stage
        .props(&w, node)
        .context("a route is not recorded yet")?;
    let fingerprint = super::fingerprint_of("stage", &props);
    // Routes added by hand would be published by this deployment: removed first.
    // (An API built from its document was put again instead: the overwrite removed them.)
    let removed = if super::path::routes_to_prune(&ctx.findings)
        && !super::api_document::applies(&ctx.spec)
    {
        super::path::remove_foreign_routes(ctx).await?
    } else {
        Vec::new()
    };
    let description = format!("serverless-cli {fingerprint}");
    let id = ctx
        .call("deployment", || {
            api::deploy(ctx.aws(), &api_id, stage, &description)
        })
        .await
        .with_context(|| format!("deploying REST API {api_id} to stage {stage}"))?;
    let action = if recorded.is_some() {
        Action::Updated
    } else {
        Action::Created
    };
    let rec = DeploymentRecord {
        id: id.clone(),
        stage: stage.to_string(),
        fingerprint,
    };
    ctx.record(|s| s.put_applied(&node.key, &rec, props))
        .await?;
    let result = StepResult::new(action, format!("stage {stage} ({id})"));
    Ok(if removed.is_empty() {
        result
    } else {
        result.with_detail(format!("removed {}", removed.join(", ")))
    })
}
