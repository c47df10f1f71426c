//! An authorizer of the REST API (`[authorizers.NAME]`): a Cognito user pool's, or a Lambda
//! function of the stack's (TOKEN or REQUEST) with its identity sources and result TTL. It
//! lives in the REST API (removed with it); the function's invoke permission covers it (the
//! permission kind widens the function's one statement to the API when it answers an
//! authorizer). In the document build the document's `securitySchemes` make them instead
//! ([`crate::openapi`]).

use anyhow::Context;
use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::{Check, CheckCx, Kind, Repair, Want, NOT_DEPLOYED};
use crate::auth::AuthorizerSpec;
use crate::engine::{Action, StepResult};
use crate::kinds::context::{DeployCtx, Health};
use crate::kinds::function::FunctionRecord;
use crate::kinds::graph::{key, Node};
use crate::kinds::rest_api::ApiRecord;
use crate::resources::access;
use crate::stack::StackSpec;

crate::named_record!(AuthorizerRecord, "authorizer");

/// `authorizer:users`.
pub fn key_of(logical: &str) -> String {
    format!("authorizer:{logical}")
}

pub struct Authorizer;

fn spec_of<'a>(spec: &'a StackSpec, node: &Node) -> Option<&'a AuthorizerSpec> {
    spec.auth.authorizer(node.item.as_deref()?)
}

/// The function's invocation URI, once the function is recorded (`None` for Cognito).
fn uri_of(w: &Want, a: &AuthorizerSpec) -> Option<Option<String>> {
    match a.kind.function() {
        None => Some(None),
        Some(f) => {
            let rec: FunctionRecord = w.state.get(&key::function(f))?;
            Some(Some(w.spec.integration_uri(&rec.arn)))
        }
    }
}

impl Kind for Authorizer {
    fn name(&self) -> &'static str {
        "authorizer"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("CreateAuthorizer", "apigateway:POST", Scope::RestApis),
            ("GetAuthorizers", "apigateway:GET", Scope::RestApis),
            ("UpdateAuthorizer", "apigateway:PATCH", Scope::RestApis),
            ("DeleteAuthorizer", "apigateway:DELETE", Scope::RestApis),
        ]
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(17)
    }
    fn step(&self) -> &'static str {
        "authorizer"
    }
    fn doing(&self) -> &'static str {
        "creating the authorizers"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<AuthorizerRecord>(rec)
    }
    fn goes_with_container(&self) -> bool {
        true
    }
    /// None in the document build: the document's security schemes make the authorizers.
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        if super::api_document::applies(spec) {
            return Vec::new();
        }
        spec.auth
            .authorizers
            .iter()
            .map(|a| {
                let mut n = Node::new(&Authorizer, key_of(&a.logical))
                    .lives_in(key::REST_API)
                    .for_item(&a.logical);
                if let Some(f) = a.kind.function() {
                    n = n.needs(key::function(f));
                }
                n
            })
            .collect()
    }
    fn props(&self, w: &Want, node: &Node) -> Option<Value> {
        let a = spec_of(w.spec, node)?;
        let uri = uri_of(w, a)?;
        Some(json!({"authorizer": a, "uri": uri}))
    }
    fn label(&self, w: &Want, node: &Node) -> String {
        spec_of(w.spec, node).map_or_else(
            || node.key.clone(),
            |a| format!("{} ({})", a.name, a.kind.api_name()),
        )
    }
    fn repair(&self, node: &Node, check: &Check) -> Repair {
        match check.health {
            Health::Missing => Repair::Recreate(vec![node.key.clone()]),
            _ => Repair::Update,
        }
    }
    fn remove<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        _: &'a str,
        rec: &'a crate::state::Record,
    ) -> BoxFuture<'a, anyhow::Result<Option<StepResult>>> {
        Box::pin(async move {
            let a: AuthorizerRecord = rec.typed().map_err(anyhow::Error::msg)?;
            let state = ctx.snapshot().await;
            let Some(api) = state.get::<ApiRecord>(key::REST_API) else {
                return Ok(Some(StepResult::new(Action::Gone, a.name)));
            };
            let removed = ctx
                .call("authorizer", || {
                    access::delete_authorizer(ctx.aws(), &api.id, &a.id)
                })
                .await
                .with_context(|| format!("removing authorizer {}", a.name))?;
            Ok(Some(StepResult::new(
                if removed {
                    Action::Deleted
                } else {
                    Action::Gone
                },
                a.name,
            )))
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
            let label = Authorizer.label(&w, node);
            let Some(rec) = cx.state.get::<AuthorizerRecord>(&node.key) else {
                return Some(Check::missing(label, NOT_DEPLOYED));
            };
            let want = spec_of(cx.spec, node)?;
            let api = cx.state.get::<ApiRecord>(key::REST_API)?;
            let all = all_in(cx, &api.id).await;
            Some(match all {
                Err(e) => Check::failed(label, e),
                Ok(all) => match all.iter().find(|a| a.id == rec.id) {
                    None => Check::missing(label, "the authorizer does not exist"),
                    Some(have) => {
                        let uri = uri_of(&w, want).flatten();
                        let changes = access::authorizer_changes(have, want, uri.as_deref());
                        if changes.is_empty() {
                            Check::ok(label)
                        } else {
                            Check::drifted(
                                label,
                                format!("{} differ from the stack's", fields_of(&changes)),
                            )
                        }
                    }
                },
            })
        })
    }
}

/// The fields a patch changes, by name: `authorizerResultTtlInSeconds, identitySource`.
fn fields_of(changes: &[aws_sdk_apigateway::types::PatchOperation]) -> String {
    let fields: Vec<&str> = changes
        .iter()
        .filter_map(|o| o.path())
        .map(|p| p.trim_start_matches('/'))
        .collect();
    fields.join(", ")
}

/// The REST API's authorizers, read once per status run (for every authorizer's check, or
/// for the document's).
pub async fn all_in(
    cx: &CheckCx<'_>,
    api_id: &str,
) -> Result<Vec<access::AuthorizerInfo>, crate::aws::AwsError> {
    let c = cx.c;
    let api_id = api_id.to_string();
    cx.memo
        .get(format!("authorizers:{api_id}"), || async move {
            c.call("status", || access::authorizers(&c.aws, &api_id))
                .await
        })
        .await
}

/// Why the API's authorizers are not the stack's, by name (the document build, where the
/// import makes them), with each one's id for the methods to name.
pub fn drift_by_name(
    spec: &StackSpec,
    have: &[access::AuthorizerInfo],
) -> (Vec<String>, std::collections::HashMap<String, String>) {
    let mut why = Vec::new();
    let mut ids = std::collections::HashMap::new();
    for want in &spec.auth.authorizers {
        let Some(a) = have.iter().find(|a| a.name == want.name) else {
            why.push(format!("authorizer {} does not exist", want.name));
            continue;
        };
        ids.insert(want.logical.clone(), a.id.clone());
        let uri = want
            .kind
            .function()
            .and_then(|f| spec.function(f))
            .map(|f| spec.integration_uri(&spec.function_arn(f)));
        let changes = access::authorizer_changes(a, want, uri.as_deref());
        if !changes.is_empty() {
            why.push(format!(
                "authorizer {}: {} differ from the stack's",
                want.name,
                fields_of(&changes)
            ));
        }
    }
    (why, ids)
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let w = Want {
        spec: &ctx.spec,
        state: &state,
    };
    let want = spec_of(&ctx.spec, node)
        .context("the model has no such authorizer")?
        .clone();
    let label = Authorizer.label(&w, node);
    let recorded: Option<AuthorizerRecord> = state.get(&node.key);
    if recorded
        .as_ref()
        .is_some_and(|r| super::is_current(&r.fingerprint, &w, node))
    {
        return Ok(StepResult::new(Action::Unchanged, label));
    }
    let props = Authorizer
        .props(&w, node)
        .context("the authorizer's function is not recorded")?;
    let uri = uri_of(&w, &want).flatten();
    let api = super::rest_api::recorded_id(&state)?;
    // Found by its name in the API (the API is this stack's: so is what is in it).
    let all = if ctx.fresh_api.load(std::sync::atomic::Ordering::SeqCst) && recorded.is_none() {
        Vec::new()
    } else {
        ctx.call("authorizer", || access::authorizers(ctx.aws(), &api))
            .await?
    };
    let existing = match &recorded {
        Some(r) => all.iter().find(|a| a.id == r.id),
        None => all.iter().find(|a| a.name == want.name),
    };
    let (id, action) = match existing {
        Some(have) => {
            let ops = access::authorizer_changes(have, &want, uri.as_deref());
            if !ops.is_empty() {
                ctx.call("authorizer", || {
                    access::update_authorizer(ctx.aws(), &api, &have.id, ops.clone())
                })
                .await
                .with_context(|| format!("updating authorizer {}", want.name))?;
            }
            (
                have.id.clone(),
                if recorded.is_some() {
                    Action::Updated
                } else {
                    Action::Adopted
                },
            )
        }
        None => {
            let id = ctx
                .call("authorizer", || {
                    access::create_authorizer(ctx.aws(), &api, &want, uri.as_deref())
                })
                .await
                .with_context(|| format!("creating authorizer {}", want.name))?;
            (id, Action::Created)
        }
    };
    let rec = AuthorizerRecord {
        id,
        name: want.name.clone(),
        fingerprint: super::fingerprint_of("authorizer", &props),
    };
    ctx.record(|s| s.put_applied(&node.key, &rec, props))
        .await?;
    Ok(StepResult::new(action, label))
}
