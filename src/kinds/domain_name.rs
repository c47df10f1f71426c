//! API Gateway's domain name for `[domain]`: CreateDomainName (regional or edge, TLS 1.2,
//! tagged) with the stack's certificate once ACM has issued it, or the one the file brings.
//! CreateDomainName and DeleteDomainName are 1 per 30 s per account: the run's rate limiter
//! spaces them, and throttling is retried with the wait shown.

use anyhow::Context;
use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::certificate::CertificateRecord;
use super::certificate_validation::ValidationRecord;
use super::dns::{certificate_key, domain_key, domain_of, validation_key};
use super::{Check, CheckCx, Kind, Want, NOT_DEPLOYED};
use crate::engine::{Action, StepResult};
use crate::error::not_ours;
use crate::kinds::context::{foreign, forget_with_contents, DeployCtx, TeardownCtx};
use crate::kinds::graph::Node;
use crate::resources::domain as aws_domain;
use crate::resources::Owner;
use crate::stack::StackSpec;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainRecord {
    /// The name (`api.example.com`).
    pub id: String,
    /// REGIONAL or EDGE.
    pub endpoint: String,
    pub certificate: String,
    /// Where its alias records point, and that target's hosted zone.
    pub target: String,
    pub target_zone: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
}

impl crate::state::Typed for DomainRecord {
    const KIND: &'static str = "domain-name";
}

pub struct DomainName;

/// The certificate the domain name uses: the brought one, or the stack's once issued (`None`
/// while it is pending: `--no-wait`).
fn certificate_of(spec: &StackSpec, state: &crate::state::StackState) -> Option<String> {
    let d = spec.domain.as_ref()?;
    if let Some(arn) = &d.certificate_arn {
        return Some(arn.clone());
    }
    let v: ValidationRecord = state.get(&validation_key(&d.name))?;
    let c: CertificateRecord = state.get(&certificate_key(&d.name))?;
    (v.issued && v.certificate == c.arn).then_some(c.arn)
}

impl Kind for DomainName {
    fn name(&self) -> &'static str {
        "domain-name"
    }
    fn noun(&self) -> &'static str {
        "API Gateway domain name"
    }
    fn step(&self) -> &'static str {
        "domain-name"
    }
    fn doing(&self) -> &'static str {
        "creating the domain name"
    }
    fn deleting(&self) -> &'static str {
        "deleting the domain name (1 per 30 s per account)"
    }
    fn preflight<'a>(
        &'a self,
        c: &'a crate::aws::Caller,
        spec: &'a StackSpec,
        state: &'a crate::state::StackState,
        against_aws: bool,
    ) -> Option<BoxFuture<'a, anyhow::Result<()>>> {
        spec.domain.as_ref()?;
        Some(Box::pin(super::dns::preflight(c, spec, state, against_aws)))
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(20)
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("CreateDomainName", "apigateway:POST", Scope::DomainNames),
            ("GetDomainName", "apigateway:GET", Scope::DomainNames),
            ("DeleteDomainName", "apigateway:DELETE", Scope::DomainNames),
        ]
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<DomainRecord>(rec)
    }
    fn inventory(&self, state: &crate::state::StackState, _keep_data: bool) -> Vec<String> {
        let lines: Vec<String> = state
            .all::<DomainRecord>()
            .into_iter()
            .map(|(_, r)| {
                format!(
                    "{} {} ({})",
                    self.noun(),
                    r.id,
                    r.endpoint.to_ascii_lowercase()
                )
            })
            .collect();
        if lines.is_empty() {
            vec![format!("the stack's {} (none recorded)", self.noun())]
        } else {
            lines
        }
    }
    fn shown(&self) -> Option<super::Shown> {
        Some(super::Shown::One("domain"))
    }
    fn show(&self, rec: &crate::state::Record) -> Value {
        rec.typed::<DomainRecord>().map_or(
            Value::Null,
            |d| json!({"name": d.id, "endpoint": d.endpoint, "target": d.target}),
        )
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        let Some(d) = &spec.domain else {
            return Vec::new();
        };
        let mut node = Node::new(&DomainName, domain_key(&d.name)).for_item(&d.name);
        if d.certificate_arn.is_none() {
            node = node.needs(validation_key(&d.name));
        }
        vec![node]
    }
    fn props(&self, w: &Want, _node: &Node) -> Option<Value> {
        let d = domain_of(w.spec).ok()?;
        let cert = certificate_of(w.spec, w.state)?;
        Some(json!({"name": d.name, "endpoint": d.endpoint.as_api(), "certificate": cert}))
    }
    fn create_note(&self, w: &Want, _node: &Node) -> Option<String> {
        super::dns::replaces_note(w.state, domain_of(w.spec).ok()?)
    }
    fn label(&self, _w: &Want, node: &Node) -> String {
        node.item.clone().unwrap_or_default()
    }
    fn owner<'a>(
        &'a self,
        c: &'a crate::aws::Caller,
        rec: &'a crate::state::Record,
        owner: &'a str,
    ) -> Option<super::OwnerRead<'a>> {
        let r: DomainRecord = rec.typed().ok()?;
        Some(Box::pin(async move {
            let found = c
                .call("status", || aws_domain::domain(&c.aws, &r.id, owner))
                .await?;
            Ok(found.map(|d| (r.id.clone(), d.owner)))
        }))
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
            let Some(rec) = cx.state.get::<DomainRecord>(&node.key) else {
                return Some(Check::missing(
                    node.item.clone().unwrap_or_default(),
                    NOT_DEPLOYED,
                ));
            };
            let c = cx.c;
            let owner = &cx.spec.owner_tag;
            Some(
                match c
                    .call("status", || aws_domain::domain(&c.aws, &rec.id, owner))
                    .await
                {
                    Ok(None) => Check::missing(&rec.id, "the domain name does not exist"),
                    Ok(Some(d)) if d.owner != Owner::Us => Check::drifted(
                        &rec.id,
                        format!("the domain name belongs to {}", d.owner.describe()),
                    ),
                    Ok(Some(d)) if d.certificate_arn != rec.certificate => Check::drifted(
                        &rec.id,
                        format!(
                            "the domain name uses certificate {}, the stack's is {}",
                            d.certificate_arn, rec.certificate
                        ),
                    ),
                    Ok(Some(d)) => Check::ok(format!("{} -> {} ({})", rec.id, d.target, d.status)),
                    Err(e) => Check::failed(&rec.id, e),
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
        Box::pin(async move {
            let r: DomainRecord = rec.typed().map_err(anyhow::Error::msg)?;
            let removal = delete_ours(&ctx.run, &r.id, &ctx.spec.owner_tag).await?;
            Ok(Some(removal.into_result(self.noun(), r.id)))
        })
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a TeardownCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(async move {
            let state = ctx.snapshot().await;
            let name = match state.get::<DomainRecord>(&node.key) {
                Some(r) => r.id,
                // A crash before the record: the name is the file's (found by its tag).
                None => node.item.clone().unwrap_or_default(),
            };
            let action = match delete_ours(&ctx.run, &name, &ctx.owner).await? {
                super::Removal::Deleted => Action::Deleted,
                super::Removal::Gone => Action::Gone,
                super::Removal::Foreign(owner) => {
                    return foreign(state.has(&node.key), self.noun(), &name, &owner)
                }
            };
            forget_with_contents(ctx, &node.key).await?;
            Ok(StepResult::new(action, name))
        })
    }
}

/// Deletes the domain name if its tag says it is this stack's.
async fn delete_ours(
    run: &crate::kinds::context::Run,
    name: &str,
    owner: &str,
) -> anyhow::Result<super::Removal> {
    let found = run
        .call("domain-name", || aws_domain::domain(&run.aws, name, owner))
        .await?;
    let Some(d) = found else {
        return Ok(super::Removal::Gone);
    };
    if d.owner != Owner::Us {
        return Ok(super::Removal::Foreign(d.owner));
    }
    let deleted = run
        .call("domain-name", || aws_domain::delete_domain(&run.aws, name))
        .await
        .with_context(|| format!("deleting domain name {name}"))?;
    Ok(if deleted {
        super::Removal::Deleted
    } else {
        super::Removal::Gone
    })
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let d = domain_of(&ctx.spec)?.clone();
    let state = ctx.snapshot().await;
    let w = Want {
        spec: &ctx.spec,
        state: &state,
    };
    let Some(cert) = certificate_of(&ctx.spec, &state) else {
        // --no-wait: the certificate is not issued yet; the next deploy makes the name.
        return Ok(StepResult::new(Action::Unchanged, d.name.clone())
            .with_detail("waits for the certificate: run deploy again once ACM has issued it"));
    };
    let props = DomainName.props(&w, node).unwrap_or_default();
    let recorded: Option<DomainRecord> = state.get(&node.key);
    if let Some(r) = &recorded {
        if super::is_current(&r.fingerprint, &w, node) {
            return Ok(StepResult::new(Action::Unchanged, d.name.clone()));
        }
    }
    let owner = &ctx.spec.owner_tag;
    let edge = d.endpoint == crate::domain::DomainEndpoint::Edge;
    let existing = ctx
        .call("domain-name", || {
            aws_domain::domain(ctx.aws(), &d.name, owner)
        })
        .await?;
    let (info, action) = match existing {
        Some(found) if found.owner != Owner::Us => {
            return Err(not_ours(
                "API Gateway domain name",
                &d.name,
                &found.owner,
                "A domain name is unique in a region of an account: use another [domain] name, or remove the other one.",
            )
            .into())
        }
        // Ours, with another certificate or endpoint (a new certificate, a hand change):
        // made again with the stack's (its mappings and records follow it).
        Some(found) if found.certificate_arn != cert || found.endpoint != d.endpoint.as_api() => {
            ctx.call("domain-name", || aws_domain::delete_domain(ctx.aws(), &d.name))
                .await?;
            let info = ctx
                .call("domain-name", || {
                    aws_domain::create_domain(ctx.aws(), &d.name, edge, &cert, owner)
                })
                .await
                .with_context(|| format!("creating domain name {}", d.name))?;
            (info, Action::Updated)
        }
        Some(found) => (found, if recorded.is_some() { Action::Unchanged } else { Action::Adopted }),
        None => {
            let info = ctx
                .call("domain-name", || {
                    aws_domain::create_domain(ctx.aws(), &d.name, edge, &cert, owner)
                })
                .await
                .with_context(|| format!("creating domain name {}", d.name))?;
            (info, Action::Created)
        }
    };
    let rec = DomainRecord {
        id: d.name.clone(),
        endpoint: info.endpoint.clone(),
        certificate: cert,
        target: info.target.clone(),
        target_zone: crate::domain::target_zone_id(d.endpoint, &ctx.spec.region, &info.target_zone),
        fingerprint: super::fingerprint_of("domain-name", &props),
    };
    ctx.record(|s| s.put_applied(&node.key, &rec, props))
        .await?;
    Ok(StepResult::new(action, d.name.clone()).with_detail(format!("-> {}", info.target)))
}
