//! A usage plan (`[usage_plans.NAME]`): its throttle and quota, on this stack's API stage with
//! the per-route throttles. Changes go in one UpdateUsagePlan (API Gateway allows one a 20 s
//! an account); teardown takes the plan's stages off before it deletes the plan, as API
//! Gateway requires.

use anyhow::Context;
use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::tagged::{self, Found, Tagged};
use super::{Check, CheckCx, Kind, Repair, Want, NOT_DEPLOYED};
use crate::aws::{Aws, AwsError};
use crate::engine::{Action, StepResult};
use crate::kinds::context::{DeployCtx, Health, TeardownCtx};
use crate::kinds::graph::{key, Node};
use crate::kinds::rest_api::ApiRecord;
use crate::resources::{access, Owner};
use crate::stack::StackSpec;

crate::named_record!(UsagePlanRecord, "usage-plan");

/// `usage-plan:basic`.
pub fn key_of(logical: &str) -> String {
    format!("usage-plan:{logical}")
}

pub struct UsagePlan;

pub fn spec_of<'a>(
    spec: &'a StackSpec,
    logical: &str,
) -> anyhow::Result<&'a crate::auth::UsagePlanSpec> {
    spec.auth
        .usage_plan(logical)
        .ok_or_else(|| anyhow::anyhow!("the model has no usage plan '{logical}'"))
}

impl Kind for UsagePlan {
    fn name(&self) -> &'static str {
        "usage-plan"
    }
    fn noun(&self) -> &'static str {
        "usage plan"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("CreateUsagePlan", "apigateway:POST", Scope::UsagePlans),
            ("GetUsagePlan", "apigateway:GET", Scope::UsagePlans),
            ("GetUsagePlans", "apigateway:GET", Scope::UsagePlans),
            ("UpdateUsagePlan", "apigateway:PATCH", Scope::UsagePlans),
            ("DeleteUsagePlan", "apigateway:DELETE", Scope::UsagePlans),
        ]
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(15)
    }
    fn step(&self) -> &'static str {
        "usage-plan"
    }
    fn doing(&self) -> &'static str {
        "creating the usage plans"
    }
    fn deleting(&self) -> &'static str {
        "deleting the usage plans"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<UsagePlanRecord>(rec)
    }
    fn inventory(&self, state: &crate::state::StackState, _keep_data: bool) -> Vec<String> {
        tagged::inventory::<UsagePlanRecord>(state, self.noun())
    }
    fn shown(&self) -> Option<super::Shown> {
        Some(super::Shown::List("usage_plans"))
    }
    fn show(&self, rec: &crate::state::Record) -> Value {
        rec.typed::<UsagePlanRecord>()
            .map_or(Value::Null, |p| json!({"id": p.id, "name": p.name}))
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        spec.auth
            .usage_plans
            .iter()
            .map(|p| {
                Node::new(&UsagePlan, key_of(&p.logical))
                    .needs(key::stage(&spec.api.stage))
                    .for_item(&p.logical)
            })
            .collect()
    }
    fn props(&self, w: &Want, node: &Node) -> Option<Value> {
        let p = spec_of(w.spec, node.item.as_deref()?).ok()?;
        let api = w.state.get::<ApiRecord>(key::REST_API)?;
        Some(json!({
            "name": p.name,
            "throttle": p.throttle,
            "quota": p.quota,
            "api": api.id,
            "stage": w.spec.api.stage,
            "method_throttles": p.method_throttles,
        }))
    }
    fn label(&self, w: &Want, node: &Node) -> String {
        match w.state.get::<UsagePlanRecord>(&node.key) {
            Some(r) => r.name,
            None => node
                .item
                .as_deref()
                .and_then(|l| spec_of(w.spec, l).ok())
                .map_or_else(|| node.key.clone(), |p| p.name.clone()),
        }
    }
    fn repair(&self, node: &Node, check: &Check) -> Repair {
        match check.health {
            Health::Missing => Repair::Recreate(vec![node.key.clone()]),
            _ => Repair::Update,
        }
    }
    fn owner<'a>(
        &'a self,
        c: &'a crate::aws::Caller,
        rec: &'a crate::state::Record,
        owner: &'a str,
    ) -> Option<super::OwnerRead<'a>> {
        tagged::owner_read::<_, UsagePlanRecord>(self, c, rec, owner)
    }
    fn find<'a>(
        &'a self,
        cx: &'a CheckCx<'a>,
        node: &'a Node,
        _: &'a crate::kinds::context::Before,
    ) -> BoxFuture<'a, Option<Owner>> {
        Box::pin(async move {
            let p = spec_of(cx.spec, node.item.as_deref()?).ok()?;
            tagged::found_owner(cx.c, self, &p.name, &cx.spec.owner_tag).await
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
        Box::pin(async move {
            let w = Want {
                spec: cx.spec,
                state: cx.state,
            };
            let Some(rec) = cx.state.get::<UsagePlanRecord>(&node.key) else {
                return Some(Check::missing(UsagePlan.label(&w, node), NOT_DEPLOYED));
            };
            let want = spec_of(cx.spec, node.item.as_deref()?).ok()?;
            let api = cx.state.get::<ApiRecord>(key::REST_API)?;
            let c = cx.c;
            Some(
                match c
                    .call("status", || {
                        access::plan(&c.aws, &rec.id, &cx.spec.owner_tag)
                    })
                    .await
                {
                    Ok(None) => Check::missing(&rec.name, "the usage plan does not exist"),
                    Ok(Some(have)) => {
                        let changes =
                            access::plan_changes(&have, want, &api.id, &cx.spec.api.stage);
                        if changes.is_empty() {
                            Check::ok(&rec.name)
                        } else {
                            Check::drifted(&rec.name, drift_words(&changes))
                        }
                    }
                    Err(e) => Check::failed(&rec.name, e),
                },
            )
        })
    }
    fn remove<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        _: &'a str,
        rec: &'a crate::state::Record,
    ) -> BoxFuture<'a, anyhow::Result<Option<StepResult>>> {
        Box::pin(tagged::remove_recorded::<_, UsagePlanRecord>(
            ctx, self, rec,
        ))
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a TeardownCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        // Its keys live in it: forgotten with it.
        Box::pin(tagged::teardown::<_, UsagePlanRecord>(ctx, self, node))
    }
}

impl Tagged for UsagePlan {
    fn find_named<'a>(
        &'a self,
        aws: &'a Aws,
        name: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Found>, AwsError>> {
        Box::pin(async move {
            Ok(access::find_plans(aws, name, owner)
                .await?
                .into_iter()
                .map(|p| Found {
                    id: p.id,
                    owner: p.owner,
                })
                .collect())
        })
    }
    fn owner_of<'a>(
        &'a self,
        aws: &'a Aws,
        id: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<Option<Owner>, AwsError>> {
        Box::pin(async move { Ok(access::plan(aws, id, owner).await?.map(|p| p.owner)) })
    }
    /// Its API stages off first (API Gateway refuses to delete a plan on a stage).
    fn delete_id<'a>(
        &'a self,
        aws: &'a Aws,
        id: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<bool, AwsError>> {
        Box::pin(access::delete_plan(aws, id, owner))
    }
}

/// What a plan's changes say, for status and plan.
fn drift_words(changes: &[aws_sdk_apigateway::types::PatchOperation]) -> String {
    let mut what: Vec<String> = changes
        .iter()
        .map(|o| {
            let path = o.path().unwrap_or_default();
            if path.starts_with("/throttle") {
                "its throttle".to_string()
            } else if path.starts_with("/quota") {
                "its quota".to_string()
            } else if path.contains("/throttle/") {
                "a route's throttle".to_string()
            } else {
                "its API stage".to_string()
            }
        })
        .collect();
    what.dedup();
    format!("{} differ from the stack's", what.join(", "))
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let logical = node.item()?.to_string();
    let want = spec_of(&ctx.spec, &logical)?.clone();
    let state = ctx.snapshot().await;
    let w = Want {
        spec: &ctx.spec,
        state: &state,
    };
    let recorded: Option<UsagePlanRecord> = state.get(&node.key);
    if recorded
        .as_ref()
        .is_some_and(|r| super::is_current(&r.fingerprint, &w, node))
    {
        return Ok(StepResult::new(Action::Unchanged, &want.name));
    }
    let props = UsagePlan
        .props(&w, node)
        .context("the REST API is not recorded")?;
    let api = super::rest_api::recorded_id(&state)?;
    let stage = ctx.spec.api.stage.clone();
    let owner = &ctx.spec.owner_tag;
    let existing = match &recorded {
        Some(r) => ctx
            .call("usage-plan", || access::plan(ctx.aws(), &r.id, owner))
            .await?
            .map(|p| (p, Action::Updated)),
        None => match tagged::look_up(
            ctx,
            &UsagePlan,
            &want.name,
            "Rename this stack's plan (name = \"...\" under [usage_plans]), or delete the other one.",
        )
        .await?
        {
            // Found by name and tag (a crash between the create and its record): read, so
            // that what differs is updated.
            Some(id) => ctx
                .call("usage-plan", || access::plan(ctx.aws(), &id, owner))
                .await?
                .map(|p| (p, Action::Adopted)),
            None => None,
        },
    };
    let (id, action) = match existing {
        Some((have, action)) => {
            // Every change in one call: the account allows one UpdateUsagePlan a 20 s.
            let ops = access::plan_changes(&have, &want, &api, &stage);
            if !ops.is_empty() {
                ctx.call("usage-plan", || {
                    access::update_plan(ctx.aws(), &have.id, ops.clone())
                })
                .await
                .with_context(|| format!("updating usage plan {}", want.name))?;
            }
            (have.id, action)
        }
        None => {
            let id = ctx
                .call("usage-plan", || {
                    access::create_plan(ctx.aws(), &want, &api, &stage, owner)
                })
                .await
                .with_context(|| format!("creating usage plan {}", want.name))?;
            (id, Action::Created)
        }
    };
    let rec = UsagePlanRecord {
        id,
        name: want.name.clone(),
        fingerprint: super::fingerprint_of("usage-plan", &props),
    };
    ctx.record(|s| s.put_applied(&node.key, &rec, props))
        .await?;
    Ok(StepResult::new(action, want.name))
}
