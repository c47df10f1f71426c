//! A key's place in a usage plan (`keys = [...]` of `[usage_plans.NAME]`): without it API
//! Gateway refuses the key (403). Removed before the key is deleted, and with the plan.

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Check, CheckCx, Kind, Want, NOT_DEPLOYED};
use crate::engine::{Action, StepResult};
use crate::kinds::api_key::ApiKeyRecord;
use crate::kinds::context::DeployCtx;
use crate::kinds::graph::Node;
use crate::kinds::usage_plan::UsagePlanRecord;
use crate::resources::access;
use crate::stack::StackSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsagePlanKeyRecord {
    /// `basic/partner`.
    pub id: String,
    pub plan_id: String,
    pub key_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
}

impl crate::state::Typed for UsagePlanKeyRecord {
    const KIND: &'static str = "usage-plan-key";
}

pub struct UsagePlanKey;

fn parts(node: &Node) -> Option<(&str, &str)> {
    node.item.as_deref()?.split_once('/')
}

impl Kind for UsagePlanKey {
    fn name(&self) -> &'static str {
        "usage-plan-key"
    }
    fn noun(&self) -> &'static str {
        "usage plan key"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("CreateUsagePlanKey", "apigateway:POST", Scope::UsagePlans),
            ("GetUsagePlanKeys", "apigateway:GET", Scope::UsagePlans),
            ("DeleteUsagePlanKey", "apigateway:DELETE", Scope::UsagePlans),
        ]
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(14)
    }
    fn step(&self) -> &'static str {
        "usage-plan"
    }
    fn row(&self) -> &'static str {
        "usage-plan"
    }
    fn doing(&self) -> &'static str {
        "putting the keys in their usage plans"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<UsagePlanKeyRecord>(rec)
    }
    fn goes_with_container(&self) -> bool {
        true
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        spec.auth
            .usage_plans
            .iter()
            .flat_map(|p| {
                p.keys.iter().map(move |k| {
                    Node::new(&UsagePlanKey, format!("usage-plan-key:{}/{k}", p.logical))
                        .lives_in(super::usage_plan::key_of(&p.logical))
                        .needs(super::api_key::key_of(k))
                        .for_item(&format!("{}/{k}", p.logical))
                })
            })
            .collect()
    }
    fn props(&self, w: &Want, node: &Node) -> Option<Value> {
        let (plan, key) = parts(node)?;
        let plan: UsagePlanRecord = w.state.get(&super::usage_plan::key_of(plan))?;
        let key: ApiKeyRecord = w.state.get(&super::api_key::key_of(key))?;
        Some(json!({"plan": plan.id, "key": key.id}))
    }
    fn label(&self, _: &Want, node: &Node) -> String {
        parts(node).map_or_else(|| node.key.clone(), |(p, k)| format!("key {k} in plan {p}"))
    }
    fn remove<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        _: &'a str,
        rec: &'a crate::state::Record,
    ) -> BoxFuture<'a, anyhow::Result<Option<StepResult>>> {
        Box::pin(async move {
            let r: UsagePlanKeyRecord = rec.typed().map_err(anyhow::Error::msg)?;
            let removed = ctx
                .call("usage-plan", || {
                    access::remove_plan_key(ctx.aws(), &r.plan_id, &r.key_id)
                })
                .await?;
            Ok(Some(StepResult::new(
                if removed {
                    Action::Deleted
                } else {
                    Action::Gone
                },
                format!("key {} of plan", r.id),
            )))
        })
    }
    fn ensure<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(async move {
            let state = ctx.snapshot().await;
            let w = Want {
                spec: &ctx.spec,
                state: &state,
            };
            let label = UsagePlanKey.label(&w, node);
            if state
                .resources
                .get(&node.key)
                .is_some_and(|r| super::is_current(&r.fingerprint, &w, node))
            {
                return Ok(StepResult::new(Action::Unchanged, label));
            }
            let props = UsagePlanKey
                .props(&w, node)
                .ok_or_else(|| anyhow::anyhow!("the plan or the key is not recorded"))?;
            let (plan_id, key_id) = (
                props["plan"].as_str().unwrap_or_default().to_string(),
                props["key"].as_str().unwrap_or_default().to_string(),
            );
            ctx.call("usage-plan", || {
                access::add_plan_key(ctx.aws(), &plan_id, &key_id)
            })
            .await?;
            let rec = UsagePlanKeyRecord {
                id: node.item()?.to_string(),
                plan_id,
                key_id,
                fingerprint: super::fingerprint_of("usage-plan-key", &props),
            };
            ctx.record(|s| s.put_applied(&node.key, &rec, props))
                .await?;
            Ok(StepResult::new(Action::Created, label))
        })
    }
    fn check<'a>(&'a self, cx: &'a CheckCx<'a>, node: &'a Node) -> BoxFuture<'a, Option<Check>> {
        Box::pin(async move {
            let label = UsagePlanKey.label(
                &Want {
                    spec: cx.spec,
                    state: cx.state,
                },
                node,
            );
            let Some(rec) = cx.state.get::<UsagePlanKeyRecord>(&node.key) else {
                return Some(Check::missing(label, NOT_DEPLOYED));
            };
            let c = cx.c;
            let plan = rec.plan_id.clone();
            let keys = cx
                .memo
                .get(format!("plan-keys:{plan}"), || async move {
                    c.call("status", || access::plan_keys(&c.aws, &plan)).await
                })
                .await;
            Some(match keys {
                Ok(keys) if keys.contains(&rec.key_id) => Check::ok(label),
                Ok(_) => Check::missing(
                    label,
                    "the key is not in the plan: API Gateway refuses it (403)",
                ),
                Err(e) => Check::failed(label, e),
            })
        })
    }
}
