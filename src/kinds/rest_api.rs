//! The REST API. CreateRestApi accepts duplicate names, so a create whose answer was lost is
//! found by name and owner tag before another is made.

use anyhow::Context;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Check, CheckCx, Kind, Want, NOT_DEPLOYED};
use crate::engine::{Action, StepResult};
use crate::error::not_ours;
use crate::kinds::context::DeployCtx;
use crate::kinds::context::{forget_with_contents, TeardownCtx};
use crate::kinds::graph::{key, Node};
use crate::resources::{api, Owner};
use crate::stack::StackSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiRecord {
    pub id: String,
    pub name: String,
    pub root_resource_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
}

impl crate::state::Typed for ApiRecord {
    const KIND: &'static str = "rest-api";
}

pub struct RestApi;

impl Kind for RestApi {
    fn name(&self) -> &'static str {
        "rest-api"
    }
    fn noun(&self) -> &'static str {
        "REST API"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("CreateRestApi", "apigateway:POST", Scope::RestApis),
            ("GetRestApis", "apigateway:GET", Scope::RestApis),
            ("GetRestApi", "apigateway:GET", Scope::RestApis),
            ("DeleteRestApi", "apigateway:DELETE", Scope::RestApis),
            ("TagResource", "apigateway:PUT", Scope::ApiTags),
        ]
    }
    fn inventory(&self, state: &crate::state::StackState, _keep_data: bool) -> Vec<String> {
        vec![match state.get::<ApiRecord>(super::graph::key::REST_API) {
            Some(a) => format!("REST API {} ({}) with its stage and routes", a.name, a.id),
            None => format!("REST API {} (if a crash left one)", state.names.api),
        }]
    }
    fn shown(&self) -> Option<super::Shown> {
        Some(super::Shown::One("api"))
    }
    fn show(&self, rec: &crate::state::Record) -> Value {
        rec.typed::<ApiRecord>().map_or(
            Value::Null,
            |a| serde_json::json!({"id": a.id, "name": a.name}),
        )
    }
    fn removal_rank(&self) -> Option<u8> {
        None // the stack always has its REST API: it goes only with teardown
    }
    fn owner<'a>(
        &'a self,
        c: &'a crate::aws::Caller,
        rec: &'a crate::state::Record,
        owner: &'a str,
    ) -> Option<super::OwnerRead<'a>> {
        let a: ApiRecord = rec.typed().ok()?;
        Some(Box::pin(async move {
            let i = c
                .call("status", || {
                    crate::resources::api::get(&c.aws, &a.id, owner)
                })
                .await?;
            Ok(i.map(|i| (a.id.clone(), i.owner)))
        }))
    }
    fn retag<'a>(
        &'a self,
        c: &'a crate::aws::Caller,
        rec: &'a crate::state::Record,
        state: &'a crate::state::StackState,
    ) -> Option<BoxFuture<'a, Result<(), crate::aws::AwsError>>> {
        let a: ApiRecord = rec.typed().ok()?;
        let stack = state.owner();
        Some(Box::pin(async move {
            c.call("tags", || {
                crate::resources::api::tag(&c.aws, &state.region, &a.id, &stack)
            })
            .await
        }))
    }
    fn step(&self) -> &'static str {
        "api"
    }
    fn doing(&self) -> &'static str {
        "creating the REST API"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<ApiRecord>(rec)
    }
    fn nodes(&self, _: &StackSpec) -> Vec<Node> {
        vec![Node::new(&RestApi, key::REST_API)]
    }
    fn props(&self, w: &Want, _: &Node) -> Option<Value> {
        Some(json!({"name": w.spec.api.name, "endpoint_type": w.spec.api.endpoint_type}))
    }
    fn label(&self, w: &Want, node: &Node) -> String {
        match w.state.get::<ApiRecord>(&node.key) {
            Some(rec) => format!("{} ({})", rec.name, rec.id),
            None => w.spec.api.name.clone(),
        }
    }
    fn updatable(&self) -> bool {
        false
    }

    fn find<'a>(
        &'a self,
        _: &'a CheckCx<'a>,
        _: &'a Node,
        before: &'a crate::kinds::context::Before,
    ) -> BoxFuture<'a, Option<Owner>> {
        // CreateRestApi takes duplicate names: only one of this stack's is adopted.
        let ours = before
            .api_lookup
            .as_ref()
            .is_some_and(|found| found.iter().any(|a| a.owner == Owner::Us));
        Box::pin(async move { ours.then_some(Owner::Us) })
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
            let Some(rec) = cx.state.get::<ApiRecord>(&node.key) else {
                return Some(Check::missing(&cx.spec.api.name, NOT_DEPLOYED));
            };
            let label = format!("{} ({})", rec.name, rec.id);
            Some(
                match c
                    .call("status", || api::get(&c.aws, &rec.id, &cx.spec.owner_tag))
                    .await
                {
                    Ok(None) => Check::missing(label, "the REST API does not exist"),
                    Ok(Some(_)) => Check::ok(label),
                    Err(e) => Check::failed(label, e),
                },
            )
        })
    }

    fn deleting(&self) -> &'static str {
        "deleting the REST API"
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a TeardownCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(delete_api(ctx, &node.key))
    }
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let spec = &ctx.spec;
    let name = spec.api.name.clone();
    if let Some(rec) = ctx.snapshot().await.get::<ApiRecord>(&node.key) {
        return Ok(StepResult::new(
            Action::Unchanged,
            format!("{name} ({})", rec.id),
        ));
    }
    let (id, root, action) = ctx
        .call("api", || async {
            let prefetched = ctx.api_lookup.lock().ok().and_then(|mut l| l.take());
            let found = match prefetched {
                Some(found) => found,
                None => api::find_by_name(ctx.aws(), &name, &spec.owner_tag).await?,
            };
            if let Some(ours) = found.into_iter().find(|a| a.owner == Owner::Us) {
                return Ok((ours.id, ours.root_resource_id, Action::Adopted));
            }
            let (id, root) =
                api::create(ctx.aws(), &name, &spec.api.endpoint_type, &spec.owner_tag).await?;
            Ok((id, root, Action::Created))
        })
        .await
        .with_context(|| format!("creating REST API {name}"))?;
    let root = match root {
        Some(r) if !r.is_empty() => r,
        _ => {
            let resources = ctx
                .call("api", || api::resources(ctx.aws(), &id))
                .await?
                .with_context(|| format!("REST API {id} vanished after it was created"))?;
            resources
                .into_iter()
                .find(|(_, path)| path == "/")
                .map(|(rid, _)| rid)
                .with_context(|| format!("REST API {id} has no root resource"))?
        }
    };
    if action == Action::Created {
        ctx.fresh_api
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
    let rec = ApiRecord {
        id: id.clone(),
        name: name.clone(),
        root_resource_id: root,
        fingerprint: String::new(),
    };
    ctx.record(|s| s.put(&node.key, &rec)).await?;
    Ok(StepResult::new(action, format!("{name} ({id})")))
}

/// The REST API's id, as recorded.
pub fn recorded_id(state: &crate::state::StackState) -> anyhow::Result<String> {
    Ok(state
        .get::<ApiRecord>(key::REST_API)
        .context("the REST API is not recorded")?
        .id)
}

async fn delete_api(ctx: &TeardownCtx, node_key: &str) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let name = match state.get::<ApiRecord>(node_key) {
        Some(r) => r.name,
        None => ctx.spec.api.name.clone(),
    };
    // The recorded API, and any API of this name tagged with this stack that a crash left
    // unrecorded.
    let mut ids: Vec<String> = state
        .get::<ApiRecord>(node_key)
        .map(|a| a.id)
        .into_iter()
        .collect();
    let found = ctx
        .call("api", || api::find_by_name(&ctx.aws, &name, &ctx.owner))
        .await?;
    for a in found {
        if a.owner == Owner::Us && !ids.contains(&a.id) {
            ids.push(a.id);
        }
    }
    let mut action = Action::Gone;
    for id in &ids {
        // Read before every attempt: a delete whose answer was lost is not sent again (the
        // emulator answers 500, not NotFound, for a missing API).
        let deleted = ctx
            .call("api", || async {
                match api::get(&ctx.aws, id, &ctx.owner).await? {
                    None => Ok(Ok(false)),
                    Some(a) if a.owner == Owner::Us => api::delete(&ctx.aws, id).await.map(Ok),
                    Some(a) => Ok(Err(a)),
                }
            })
            .await
            .with_context(|| format!("deleting REST API {id}"))?;
        match deleted {
            Ok(true) => action = Action::Deleted,
            Ok(false) => {}
            Err(a) => {
                return Err(not_ours(
                    "REST API",
                    &format!("{} ({id})", a.name),
                    &a.owner,
                    "It was left in place; fix or remove the state file's entry.",
                )
                .into())
            }
        }
    }
    forget_with_contents(ctx, node_key).await?;
    Ok(StepResult::new(
        action,
        if ids.is_empty() {
            name
        } else {
            format!("{name} ({})", ids.join(", "))
        },
    ))
}
