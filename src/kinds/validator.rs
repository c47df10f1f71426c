//! The request body model and the request validator that checks bodies against it (API
//! Gateway answers 400 before the function is invoked). The methods' check covers them.

use anyhow::Context;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Check, CheckCx, Kind, Want};
use crate::engine::{Action, StepResult};
use crate::kinds::context::DeployCtx;
use crate::kinds::graph::{key, Node};
use crate::kinds::rest_api::ApiRecord;
use crate::resources::api;
use crate::stack::{self, StackSpec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorRecord {
    pub id: String,
    pub name: String,
    /// The body model the methods name.
    pub model: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
}

impl crate::state::Typed for ValidatorRecord {
    const KIND: &'static str = "validator";
}

pub struct Validator;

impl Kind for Validator {
    fn name(&self) -> &'static str {
        "validator"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("GetRequestValidators", "apigateway:GET", Scope::RestApis),
            ("CreateRequestValidator", "apigateway:POST", Scope::RestApis),
            ("CreateModel", "apigateway:POST", Scope::RestApis),
            ("UpdateModel", "apigateway:PATCH", Scope::RestApis),
            ("GetModels", "apigateway:GET", Scope::RestApis),
        ]
    }
    fn shown(&self) -> Option<super::Shown> {
        Some(super::Shown::One("request_validator"))
    }
    fn show(&self, rec: &crate::state::Record) -> Value {
        rec.typed::<ValidatorRecord>().map_or(
            Value::Null,
            |v| serde_json::json!({"id": v.id, "name": v.name, "model": v.model}),
        )
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(7)
    }
    fn step(&self) -> &'static str {
        "request-validation"
    }
    /// It has no check of its own: each method's check reads the validator it names.
    fn row(&self) -> &'static str {
        "method"
    }
    fn doing(&self) -> &'static str {
        "creating the request body model and validator"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<ValidatorRecord>(rec)
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        if spec.routes.iter().any(|r| r.request_model.is_some()) {
            vec![Node::new(&Validator, key::VALIDATOR).lives_in(key::REST_API)]
        } else {
            Vec::new()
        }
    }
    fn props(&self, w: &Want, _: &Node) -> Option<Value> {
        Some(props_of(w.spec))
    }
    fn label(&self, w: &Want, _: &Node) -> String {
        label_of(w.spec)
    }
    fn updatable(&self) -> bool {
        false
    }
    fn goes_with_container(&self) -> bool {
        true
    }

    fn find<'a>(
        &'a self,
        cx: &'a CheckCx<'a>,
        _: &'a Node,
        _: &'a crate::kinds::context::Before,
    ) -> BoxFuture<'a, Option<crate::resources::Owner>> {
        Box::pin(async move {
            let api = cx.state.get::<ApiRecord>(key::REST_API)?;
            let c = cx.c;
            c.call("plan", || {
                api::find_validator(&c.aws, &api.id, stack::VALIDATOR_NAME)
            })
            .await
            .ok()?
            .map(|_| crate::resources::Owner::Us)
        })
    }
    fn ensure<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(ensure(ctx, node))
    }

    fn check<'a>(&'a self, _: &'a CheckCx<'a>, _: &'a Node) -> BoxFuture<'a, Option<Check>> {
        Box::pin(async { None })
    }
}

/// The models the routes name, and the one validator. The tutorial's single model hashes as
/// it always did.
fn props_of(spec: &StackSpec) -> Value {
    let used = used_models(spec);
    match used.as_slice() {
        [m] => json!({"validator": stack::VALIDATOR_NAME, "model": m.name, "schema": m.schema}),
        _ => {
            let models: serde_json::Map<String, Value> = used
                .iter()
                .map(|m| (m.name.clone(), m.schema.clone().into()))
                .collect();
            json!({"validator": stack::VALIDATOR_NAME, "models": models})
        }
    }
}

/// The models some route names, in name order.
fn used_models(spec: &StackSpec) -> Vec<&stack::ModelSpec> {
    let mut used: Vec<&stack::ModelSpec> = spec
        .models
        .iter()
        .filter(|m| {
            spec.routes
                .iter()
                .any(|r| r.request_model.as_deref() == Some(m.name.as_str()))
        })
        .collect();
    used.sort_by(|a, b| a.name.cmp(&b.name));
    used
}

fn label_of(spec: &StackSpec) -> String {
    let names: Vec<&str> = used_models(spec).iter().map(|m| m.name.as_str()).collect();
    format!("{} ({})", stack::VALIDATOR_NAME, names.join(", "))
}

/// Creates (or updates) every model the routes name, at once.
async fn put_models(ctx: &DeployCtx, api_id: &str) -> anyhow::Result<()> {
    let puts = used_models(&ctx.spec).into_iter().map(|m| async move {
        ctx.call("request-validation", || {
            api::create_model(ctx.aws(), api_id, &m.name, &m.schema)
        })
        .await
        .with_context(|| format!("creating the request body model {}", m.name))
    });
    for r in futures::future::join_all(puts).await {
        r?;
    }
    Ok(())
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let label = label_of(&ctx.spec);
    let props = props_of(&ctx.spec);
    if let Some(rec) = state.resources.get(&node.key) {
        // A model's schema changed in the stack file: put the models again. (A record of an
        // older release keeps no props: its one model is the tutorial's.)
        let changed = rec.props.as_ref().is_some_and(|p| *p != props);
        if !changed {
            return Ok(StepResult::new(Action::Unchanged, label));
        }
        let api_id = state
            .get::<ApiRecord>(key::REST_API)
            .context("the REST API is not recorded")?
            .id;
        put_models(ctx, &api_id).await?;
        let mut rec: ValidatorRecord = state.get(&node.key).context("unreadable record")?;
        rec.model = used_models(&ctx.spec)
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(",");
        ctx.record(|s| s.put_applied(&node.key, &rec, props))
            .await?;
        return Ok(StepResult::new(Action::Updated, label));
    }
    let api_id = state
        .get::<ApiRecord>(key::REST_API)
        .context("the REST API is not recorded")?
        .id;
    let api_id = &api_id;
    let model = put_models(ctx, api_id);
    // CreateRequestValidator accepts duplicate names: look before making one (but not on
    // the first attempt in an API this run created: it has none yet).
    let mut look = !ctx.fresh_api.load(std::sync::atomic::Ordering::SeqCst);
    let validator = ctx.call("request-validation", || {
        let look_now = look;
        look = true;
        async move {
            if look_now {
                if let Some(id) =
                    api::find_validator(ctx.aws(), api_id, stack::VALIDATOR_NAME).await?
                {
                    return Ok((id, Action::Adopted));
                }
            }
            let id = api::create_validator(ctx.aws(), api_id, stack::VALIDATOR_NAME).await?;
            Ok((id, Action::Created))
        }
    });
    let (model, validator) = tokio::join!(model, validator);
    model?;
    let (id, action) = validator.context("creating the request validator")?;
    let rec = ValidatorRecord {
        id,
        name: stack::VALIDATOR_NAME.to_string(),
        model: used_models(&ctx.spec)
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(","),
        fingerprint: String::new(),
    };
    ctx.record(|s| s.put_applied(&node.key, &rec, props))
        .await?;
    Ok(StepResult::new(action, label))
}
