//! The DNS records that send `[domain]`'s name to API Gateway: alias A and AAAA records in the
//! hosted zone, to the domain name's target (the regional domain name and its region's zone,
//! or the CloudFront distribution and CloudFront's zone). Records carry no tags: the stack
//! writes over a record of its name only when it wrote it (its state says so) or it already
//! points at the stack's target, and deletes only what still points there.

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::dns::{domain_key, domain_of, records_key, wait_in_sync};
use super::domain_name::DomainRecord;
use super::{Check, CheckCx, Kind, Want, NOT_DEPLOYED};
use crate::engine::{Action, StepResult};
use crate::error::OwnerConflict;
use crate::kinds::context::{forget_with_contents, DeployCtx, TeardownCtx};
use crate::kinds::graph::Node;
use crate::resources::domain::{self as aws_domain, Record as DnsRecord};
use crate::stack::StackSpec;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsRecord {
    /// The hosted zone.
    pub id: String,
    pub records: Vec<DnsRecord>,
    /// The URL the stage answers on once they are in place.
    pub url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
}

impl crate::state::Typed for RecordsRecord {
    const KIND: &'static str = "domain-records";
}

pub struct DomainRecords;

/// The URL of the stack's own domain, once its records are made (`None` without a domain).
pub fn url_of(state: &crate::state::StackState) -> Option<String> {
    state.first::<RecordsRecord>().map(|r| r.url)
}

/// The alias records for a domain name's target.
fn wanted(name: &str, domain: &DomainRecord) -> Vec<DnsRecord> {
    ["A", "AAAA"]
        .into_iter()
        .map(|ty| DnsRecord {
            name: crate::domain::normal(name),
            ty: ty.into(),
            value: crate::domain::normal(&domain.target),
            alias_zone: domain.target_zone.clone(),
        })
        .collect()
}

impl Kind for DomainRecords {
    fn name(&self) -> &'static str {
        "domain-records"
    }
    fn noun(&self) -> &'static str {
        "DNS records"
    }
    fn step(&self) -> &'static str {
        "domain-records"
    }
    fn doing(&self) -> &'static str {
        "pointing the domain's DNS records at API Gateway"
    }
    fn deleting(&self) -> &'static str {
        "deleting the domain's DNS records"
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(18)
    }
    fn iam(&self) -> &'static [super::Grant] {
        &super::dns::ROUTE53_GRANTS
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<RecordsRecord>(rec)
    }
    fn inventory(&self, state: &crate::state::StackState, _keep_data: bool) -> Vec<String> {
        let lines: Vec<String> = state
            .all::<RecordsRecord>()
            .into_iter()
            .flat_map(|(_, r)| {
                r.records
                    .into_iter()
                    .map(|d| format!("DNS record {} {} (alias to {})", d.name, d.ty, d.value))
            })
            .collect();
        if lines.is_empty() {
            vec!["the domain's DNS records (none recorded)".into()]
        } else {
            lines
        }
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        let Some(d) = &spec.domain else {
            return Vec::new();
        };
        vec![Node::new(&DomainRecords, records_key(&d.name))
            .needs(domain_key(&d.name))
            .for_item(&d.name)]
    }
    fn props(&self, w: &Want, _node: &Node) -> Option<Value> {
        let d = domain_of(w.spec).ok()?;
        let domain = w.state.get::<DomainRecord>(&domain_key(&d.name))?;
        Some(json!({"zone": d.zone, "records": wanted(&d.name, &domain), "url": d.url()}))
    }
    fn label(&self, _w: &Want, node: &Node) -> String {
        format!("{} A, AAAA", node.item.as_deref().unwrap_or_default())
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
            let Some(rec) = cx.state.get::<RecordsRecord>(&node.key) else {
                return Some(Check::missing(label, NOT_DEPLOYED));
            };
            let c = cx.c;
            for r in &rec.records {
                match c
                    .call("status", || {
                        aws_domain::records_of(&c.aws, &rec.id, &r.name, &r.ty)
                    })
                    .await
                {
                    Ok(found) if found.contains(r) => {}
                    Ok(found) if found.is_empty() => {
                        return Some(Check::missing(
                            label,
                            format!("the {} record of {} is gone from the zone", r.ty, r.name),
                        ))
                    }
                    Ok(found) => {
                        return Some(Check::drifted(
                            label,
                            format!(
                                "the {} record of {} points to {}, not to the domain name's {}",
                                r.ty,
                                r.name,
                                found
                                    .iter()
                                    .map(|f| f.value.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", "),
                                r.value
                            ),
                        ))
                    }
                    Err(e) => return Some(Check::failed(label, e)),
                }
            }
            Some(Check::ok(format!(
                "{label} -> {}",
                rec.records.first().map_or("", |r| r.value.as_str())
            )))
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
            let r: RecordsRecord = rec.typed().map_err(anyhow::Error::msg)?;
            let deleted = delete_ours(&ctx.run, &r).await?;
            Ok(Some(StepResult::new(
                if deleted {
                    Action::Deleted
                } else {
                    Action::Gone
                },
                r.records
                    .first()
                    .map_or_else(String::new, |d| d.name.clone()),
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
            let Some(r) = state.get::<RecordsRecord>(&node.key) else {
                return Ok(StepResult::new(Action::Gone, node.key.clone()));
            };
            let deleted = delete_ours(&ctx.run, &r).await?;
            forget_with_contents(ctx, &node.key).await?;
            Ok(StepResult::new(
                if deleted {
                    Action::Deleted
                } else {
                    Action::Gone
                },
                r.records
                    .first()
                    .map_or_else(String::new, |d| d.name.clone()),
            ))
        })
    }
}

/// Deletes the recorded records that still point where the stack pointed them.
async fn delete_ours(run: &crate::kinds::context::Run, r: &RecordsRecord) -> anyhow::Result<bool> {
    let mut ours = Vec::new();
    for d in &r.records {
        match run
            .call("domain-records", || {
                aws_domain::records_of(&run.aws, &r.id, &d.name, &d.ty)
            })
            .await
        {
            Ok(found) if found.contains(d) => ours.push(d.clone()),
            Ok(_) => {}
            Err(e) if e.is(crate::aws::ErrorKind::NotFound) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
    if ours.is_empty() {
        return Ok(false);
    }
    run.call("domain-records", || {
        aws_domain::change_records(
            &run.aws,
            &r.id,
            false,
            &ours,
            "serverless-cli: domain removed",
        )
    })
    .await?;
    Ok(true)
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let d = domain_of(&ctx.spec)?.clone();
    let state = ctx.snapshot().await;
    let w = Want {
        spec: &ctx.spec,
        state: &state,
    };
    let label = DomainRecords.label(&w, node);
    let Some(props) = DomainRecords.props(&w, node) else {
        return Ok(
            StepResult::new(Action::Unchanged, label).with_detail("waits for the domain name")
        );
    };
    let recorded: Option<RecordsRecord> = state.get(&node.key);
    if let Some(r) = &recorded {
        if super::is_current(&r.fingerprint, &w, node) {
            return Ok(StepResult::new(Action::Unchanged, label));
        }
    }
    let domain: DomainRecord = state
        .get(&domain_key(&d.name))
        .ok_or_else(|| anyhow::anyhow!("the domain name is not recorded"))?;
    let want = wanted(&d.name, &domain);
    let caller = crate::aws::Caller {
        aws: ctx.aws().clone(),
        policy: ctx.timing.retry,
        progress: ctx.progress.clone(),
    };
    let zone = super::dns::zone(&caller, &d).await?;
    // A record of the name the stack did not write, pointing elsewhere: someone's.
    for r in &want {
        let found = ctx
            .call("domain-records", || {
                aws_domain::records_of(ctx.aws(), &zone.id, &r.name, &r.ty)
            })
            .await?;
        let written_by_us = recorded
            .as_ref()
            .is_some_and(|rec| rec.records.iter().any(|x| x.ty == r.ty));
        if !found.is_empty() && !found.contains(r) && !written_by_us {
            return Err(OwnerConflict(format!(
                "DNS record {} {} already exists in zone {} and points to {}; serverless-cli will not overwrite a record it did not write. Remove it (or point it at {} yourself), or use another [domain] name",
                r.name,
                r.ty,
                zone.name,
                found.iter().map(|f| f.value.as_str()).collect::<Vec<_>>().join(", "),
                r.value
            ))
            .into());
        }
    }
    let change = ctx
        .call("domain-records", || {
            aws_domain::change_records(ctx.aws(), &zone.id, true, &want, "serverless-cli: domain")
        })
        .await?;
    let rec = RecordsRecord {
        id: zone.id.clone(),
        records: want,
        url: d.url(),
        fingerprint: String::new(),
    };
    // Recorded before the wait: they are the stack's from this moment.
    ctx.record(|s| s.put_applied(&node.key, &rec, props.clone()))
        .await?;
    wait_in_sync(
        &caller,
        &change,
        ctx.timing
            .ready_wait
            .max(std::time::Duration::from_secs(60)),
    )
    .await?;
    let rec = RecordsRecord {
        fingerprint: super::fingerprint_of("domain-records", &props),
        ..rec
    };
    ctx.record(|s| s.put_applied(&node.key, &rec, props))
        .await?;
    Ok(StepResult::new(
        if recorded.is_some() {
            Action::Updated
        } else {
            Action::Created
        },
        label,
    )
    .with_detail(format!("{} answers there", d.url())))
}
