//! The base path mapping of `[domain]`: the stack's stage of its REST API at `base_path` of
//! the domain name (`""` at the root). A mapping to another API or stage on the stack's own
//! domain is drift, put back by deploy.

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::dns::{domain_key, domain_of, mapping_key};
use super::domain_name::DomainRecord;
use super::{Check, CheckCx, Kind, Want, NOT_DEPLOYED};
use crate::engine::{Action, StepResult};
use crate::kinds::context::{forget_with_contents, DeployCtx, TeardownCtx};
use crate::kinds::graph::{key, Node};
use crate::kinds::rest_api::ApiRecord;
use crate::resources::domain as aws_domain;
use crate::stack::StackSpec;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingRecord {
    /// The domain name.
    pub id: String,
    pub base_path: String,
    pub api: String,
    pub stage: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
}

impl crate::state::Typed for MappingRecord {
    const KIND: &'static str = "base-path-mapping";
}

pub struct BasePathMapping;

fn shown_path(base_path: &str) -> String {
    format!("/{base_path}")
}

impl Kind for BasePathMapping {
    fn name(&self) -> &'static str {
        "base-path-mapping"
    }
    fn noun(&self) -> &'static str {
        "base path mapping"
    }
    fn step(&self) -> &'static str {
        "base-path-mapping"
    }
    fn doing(&self) -> &'static str {
        "mapping the stage on the domain"
    }
    fn deleting(&self) -> &'static str {
        "deleting the base path mapping"
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(19)
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            (
                "CreateBasePathMapping",
                "apigateway:POST",
                Scope::DomainNames,
            ),
            ("GetBasePathMapping", "apigateway:GET", Scope::DomainNames),
            (
                "DeleteBasePathMapping",
                "apigateway:DELETE",
                Scope::DomainNames,
            ),
        ]
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<MappingRecord>(rec)
    }
    fn inventory(&self, state: &crate::state::StackState, _keep_data: bool) -> Vec<String> {
        let lines: Vec<String> = state
            .all::<MappingRecord>()
            .into_iter()
            .map(|(_, r)| {
                format!(
                    "{} {}{} -> stage {}",
                    self.noun(),
                    r.id,
                    shown_path(&r.base_path),
                    r.stage
                )
            })
            .collect();
        if lines.is_empty() {
            vec![format!("the domain's {} (none recorded)", self.noun())]
        } else {
            lines
        }
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        let Some(d) = &spec.domain else {
            return Vec::new();
        };
        vec![Node::new(&BasePathMapping, mapping_key(&d.name))
            .lives_in(domain_key(&d.name))
            .needs(key::stage(&spec.api.stage))
            .for_item(&d.name)]
    }
    fn props(&self, w: &Want, _node: &Node) -> Option<Value> {
        let d = domain_of(w.spec).ok()?;
        let api = w.state.get::<ApiRecord>(key::REST_API)?;
        let domain = w.state.get::<DomainRecord>(&domain_key(&d.name))?;
        Some(json!({
            "domain": d.name,
            "target": domain.target,
            "base_path": d.base_path,
            "api": api.id,
            "stage": w.spec.api.stage,
        }))
    }
    fn label(&self, w: &Want, node: &Node) -> String {
        let base = w
            .spec
            .domain
            .as_ref()
            .map_or_else(String::new, |d| shown_path(&d.base_path));
        format!("{}{base}", node.item.as_deref().unwrap_or_default())
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
            let label = self.label(&w, node);
            let Some(rec) = cx.state.get::<MappingRecord>(&node.key) else {
                return Some(Check::missing(label, NOT_DEPLOYED));
            };
            let c = cx.c;
            Some(
                match c
                    .call("status", || aws_domain::mapping(&c.aws, &rec.id, &rec.base_path))
                    .await
                {
                    Ok(None) => Check::missing(label, "nothing is mapped at the base path"),
                    Ok(Some((api, stage))) if api != rec.api || stage != rec.stage => {
                        Check::drifted(
                            label,
                            format!(
                                "the base path maps API {api} stage {stage}, not the stack's API {} stage {}",
                                rec.api, rec.stage
                            ),
                        )
                    }
                    Ok(Some(_)) => Check::ok(format!("{label} -> stage {}", rec.stage)),
                    // The domain name itself is gone: its row says so.
                    Err(e) => Check::failed(label, e),
                },
            )
        })
    }
    fn repair(&self, _node: &Node, _check: &Check) -> super::Repair {
        super::Repair::Update
    }
    fn remove<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        _: &'a str,
        rec: &'a crate::state::Record,
    ) -> BoxFuture<'a, anyhow::Result<Option<StepResult>>> {
        Box::pin(async move {
            let r: MappingRecord = rec.typed().map_err(anyhow::Error::msg)?;
            let action = delete_if_ours(&ctx.run, &r).await?;
            Ok(Some(StepResult::new(
                action,
                format!("{}{}", r.id, shown_path(&r.base_path)),
            )))
        })
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a TeardownCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(async move {
            let state = ctx.snapshot().await;
            let Some(r) = state.get::<MappingRecord>(&node.key) else {
                // Never recorded: the domain name's deletion takes any mapping with it.
                return Ok(StepResult::new(Action::Gone, node.key.clone()));
            };
            let action = delete_if_ours(&ctx.run, &r).await?;
            forget_with_contents(ctx, &node.key).await?;
            Ok(StepResult::new(
                action,
                format!("{}{}", r.id, shown_path(&r.base_path)),
            ))
        })
    }
}

/// Deletes the mapping when it still maps the stack's API (one pointing elsewhere was put
/// there by someone else: left alone).
async fn delete_if_ours(
    run: &crate::kinds::context::Run,
    r: &MappingRecord,
) -> anyhow::Result<Action> {
    let found = run
        .call("base-path-mapping", || {
            aws_domain::mapping(&run.aws, &r.id, &r.base_path)
        })
        .await?;
    match found {
        Some((api, _)) if api == r.api => {
            let gone = run
                .call("base-path-mapping", || {
                    aws_domain::delete_mapping(&run.aws, &r.id, &r.base_path)
                })
                .await?;
            Ok(if gone { Action::Deleted } else { Action::Gone })
        }
        Some(_) => Ok(Action::Skipped),
        None => Ok(Action::Gone),
    }
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let d = domain_of(&ctx.spec)?.clone();
    let state = ctx.snapshot().await;
    let w = Want {
        spec: &ctx.spec,
        state: &state,
    };
    let label = BasePathMapping.label(&w, node);
    let Some(props) = BasePathMapping.props(&w, node) else {
        // No domain name yet (its certificate is pending: --no-wait).
        return Ok(
            StepResult::new(Action::Unchanged, label).with_detail("waits for the domain name")
        );
    };
    let recorded: Option<MappingRecord> = state.get(&node.key);
    if let Some(r) = &recorded {
        if super::is_current(&r.fingerprint, &w, node) {
            return Ok(StepResult::new(Action::Unchanged, label));
        }
    }
    let api: ApiRecord = state
        .get(key::REST_API)
        .ok_or_else(|| anyhow::anyhow!("the REST API is not recorded"))?;
    let stage = ctx.spec.api.stage.clone();
    // A mapping at the recorded base path the file moved away from goes first.
    if let Some(r) = recorded.as_ref().filter(|r| r.base_path != d.base_path) {
        delete_if_ours(&ctx.run, r).await?;
    }
    let found = ctx
        .call("base-path-mapping", || {
            aws_domain::mapping(ctx.aws(), &d.name, &d.base_path)
        })
        .await?;
    let action = match found {
        Some((a, s)) if a == api.id && s == stage => {
            if recorded.is_some() {
                Action::Unchanged
            } else {
                Action::Adopted
            }
        }
        other => {
            // Another API or stage at the stack's base path of the stack's own domain: put
            // back (the domain name is this stack's, by its tag).
            if other.is_some() {
                ctx.call("base-path-mapping", || {
                    aws_domain::delete_mapping(ctx.aws(), &d.name, &d.base_path)
                })
                .await?;
            }
            ctx.call("base-path-mapping", || {
                aws_domain::create_mapping(ctx.aws(), &d.name, &d.base_path, &api.id, &stage)
            })
            .await?;
            if other.is_some() || recorded.is_some() {
                Action::Updated
            } else {
                Action::Created
            }
        }
    };
    let rec = MappingRecord {
        id: d.name.clone(),
        base_path: d.base_path.clone(),
        api: api.id.clone(),
        stage: stage.clone(),
        fingerprint: super::fingerprint_of("base-path-mapping", &props),
    };
    ctx.record(|s| s.put_applied(&node.key, &rec, props))
        .await?;
    Ok(StepResult::new(action, label).with_detail(format!("-> {} stage {stage}", api.id)))
}
