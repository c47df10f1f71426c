//! An API key (`[api_keys.NAME]`). API Gateway makes its value; the record keeps the key's id
//! and name only: the value is read when a person asks (`serverless-cli api-key NAME`) or
//! serve starts, and is never written to the state, the journal or a log.

use anyhow::Context;
use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::tagged::{self, Found, Tagged};
use super::{Check, CheckCx, Kind, Repair, Want, NOT_DEPLOYED};
use crate::aws::{Aws, AwsError};
use crate::engine::{Action, StepResult};
use crate::kinds::context::{DeployCtx, Health, TeardownCtx};
use crate::kinds::graph::Node;
use crate::resources::{access, Owner};
use crate::stack::StackSpec;

crate::named_record!(ApiKeyRecord, "api-key");

/// `api-key:partner`.
pub fn key_of(logical: &str) -> String {
    format!("api-key:{logical}")
}

pub struct ApiKey;

fn spec_of<'a>(spec: &'a StackSpec, node: &Node) -> anyhow::Result<&'a crate::auth::ApiKeySpec> {
    let logical = node.item()?;
    spec.auth
        .api_key(logical)
        .ok_or_else(|| anyhow::anyhow!("the model has no API key '{logical}'"))
}

impl Kind for ApiKey {
    fn name(&self) -> &'static str {
        "api-key"
    }
    fn noun(&self) -> &'static str {
        "API key"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("CreateApiKey", "apigateway:POST", Scope::ApiKeys),
            ("GetApiKeys", "apigateway:GET", Scope::ApiKeys),
            ("GetApiKey", "apigateway:GET", Scope::ApiKeys),
            ("UpdateApiKey", "apigateway:PATCH", Scope::ApiKeys),
            ("DeleteApiKey", "apigateway:DELETE", Scope::ApiKeys),
        ]
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(16)
    }
    fn step(&self) -> &'static str {
        "api-key"
    }
    fn doing(&self) -> &'static str {
        "creating the API keys"
    }
    fn deleting(&self) -> &'static str {
        "deleting the API keys"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<ApiKeyRecord>(rec)
    }
    fn inventory(&self, state: &crate::state::StackState, _keep_data: bool) -> Vec<String> {
        tagged::inventory::<ApiKeyRecord>(state, self.noun())
    }
    fn shown(&self) -> Option<super::Shown> {
        Some(super::Shown::List("api_keys"))
    }
    fn show(&self, rec: &crate::state::Record) -> Value {
        rec.typed::<ApiKeyRecord>()
            .map_or(Value::Null, |k| json!({"id": k.id, "name": k.name}))
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        spec.auth
            .api_keys
            .iter()
            .map(|k| Node::new(&ApiKey, key_of(&k.logical)).for_item(&k.logical))
            .collect()
    }
    fn props(&self, w: &Want, node: &Node) -> Option<Value> {
        let k = spec_of(w.spec, node).ok()?;
        Some(json!({"name": k.name, "enabled": k.enabled}))
    }
    fn label(&self, w: &Want, node: &Node) -> String {
        match w.state.get::<ApiKeyRecord>(&node.key) {
            Some(r) => r.name,
            None => spec_of(w.spec, node).map_or_else(|_| node.key.clone(), |k| k.name.clone()),
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
        tagged::owner_read::<_, ApiKeyRecord>(self, c, rec, owner)
    }
    fn find<'a>(
        &'a self,
        cx: &'a CheckCx<'a>,
        node: &'a Node,
        _: &'a crate::kinds::context::Before,
    ) -> BoxFuture<'a, Option<Owner>> {
        Box::pin(async move {
            let k = spec_of(cx.spec, node).ok()?;
            tagged::found_owner(cx.c, self, &k.name, &cx.spec.owner_tag).await
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
            let Some(rec) = cx.state.get::<ApiKeyRecord>(&node.key) else {
                return Some(Check::missing(ApiKey.label(&w, node), NOT_DEPLOYED));
            };
            let want = spec_of(cx.spec, node).ok()?;
            let c = cx.c;
            Some(
                match c
                    .call("status", || {
                        access::key(&c.aws, &rec.id, &cx.spec.owner_tag)
                    })
                    .await
                {
                    Ok(None) => Check::missing(&rec.name, "the API key does not exist"),
                    Ok(Some(k)) if k.enabled != want.enabled => Check::drifted(
                        &rec.name,
                        format!(
                            "the key is {}, the stack says {}",
                            if k.enabled { "enabled" } else { "disabled" },
                            if want.enabled { "enabled" } else { "disabled" }
                        ),
                    ),
                    Ok(Some(_)) => Check::ok(&rec.name),
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
        Box::pin(tagged::remove_recorded::<_, ApiKeyRecord>(ctx, self, rec))
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a TeardownCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(tagged::teardown::<_, ApiKeyRecord>(ctx, self, node))
    }
}

impl Tagged for ApiKey {
    fn find_named<'a>(
        &'a self,
        aws: &'a Aws,
        name: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Found>, AwsError>> {
        Box::pin(async move {
            Ok(access::find_keys(aws, name, owner)
                .await?
                .into_iter()
                .map(|k| Found {
                    id: k.id,
                    owner: k.owner,
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
        Box::pin(async move { Ok(access::key(aws, id, owner).await?.map(|k| k.owner)) })
    }
    fn delete_id<'a>(
        &'a self,
        aws: &'a Aws,
        id: &'a str,
        _owner: &'a str,
    ) -> BoxFuture<'a, Result<bool, AwsError>> {
        Box::pin(access::delete_key(aws, id))
    }
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let want = spec_of(&ctx.spec, node)?.clone();
    let state = ctx.snapshot().await;
    let w = Want {
        spec: &ctx.spec,
        state: &state,
    };
    let props = ApiKey.props(&w, node).unwrap_or_default();
    let recorded: Option<ApiKeyRecord> = state.get(&node.key);
    if let Some(r) = &recorded {
        if super::is_current(&r.fingerprint, &w, node) {
            return Ok(StepResult::new(Action::Unchanged, &want.name));
        }
    }
    let owner = &ctx.spec.owner_tag;
    let (id, action) = match recorded {
        // A changed wish (enabled): updated in place.
        Some(r) => {
            ctx.call("api-key", || {
                access::set_key_enabled(ctx.aws(), &r.id, want.enabled)
            })
            .await
            .with_context(|| format!("updating API key {}", want.name))?;
            (r.id, Action::Updated)
        }
        None => match tagged::look_up(
            ctx,
            &ApiKey,
            &want.name,
            "Rename this stack's key (name = \"...\" under [api_keys]), or delete the other one.",
        )
        .await?
        {
            // Found by name and tag (a crash between the create and its record): adopted,
            // and enabled as the stack says.
            Some(id) => {
                ctx.call("api-key", || {
                    access::set_key_enabled(ctx.aws(), &id, want.enabled)
                })
                .await?;
                (id, Action::Adopted)
            }
            None => {
                let id = ctx
                    .call("api-key", || {
                        access::create_key(ctx.aws(), &want.name, want.enabled, owner)
                    })
                    .await
                    .with_context(|| format!("creating API key {}", want.name))?;
                (id, Action::Created)
            }
        },
    };
    let rec = ApiKeyRecord {
        id,
        name: want.name.clone(),
        fingerprint: super::fingerprint_of("api-key", &props),
    };
    ctx.record(|s| s.put_applied(&node.key, &rec, props))
        .await?;
    Ok(StepResult::new(action, want.name).with_detail(format!(
        "read its value with: serverless-cli api-key {}",
        node.item().unwrap_or_default()
    )))
}
