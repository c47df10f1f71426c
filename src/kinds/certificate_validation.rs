//! The DNS validation of the stack's certificate: ACM's CNAME records written into the hosted
//! zone (UPSERT, then GetChange until INSYNC), and the wait until ACM has ISSUED it. Both are
//! recorded as they happen: the records the moment Route53 takes them, `issued` once ACM says
//! so. An interrupted wait (Ctrl-C, a killed CI job, `--no-wait`) leaves `issued` false, and
//! the next deploy resumes the wait on the same certificate.

use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::certificate::CertificateRecord;
use super::dns::{certificate_key, domain_of, validation_key, wait_in_sync};
use super::{Check, CheckCx, Kind, Want, NOT_DEPLOYED};
use crate::aws::poll;
use crate::engine::{Action, StepResult};
use crate::kinds::context::{forget_with_contents, DeployCtx, TeardownCtx};
use crate::kinds::graph::Node;
use crate::resources::domain::{self as aws_domain, Record as DnsRecord};
use crate::stack::StackSpec;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationRecord {
    /// The hosted zone the records are in.
    pub id: String,
    /// The certificate they validate.
    pub certificate: String,
    pub records: Vec<DnsRecord>,
    /// ACM has issued the certificate.
    pub issued: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
}

impl crate::state::Typed for ValidationRecord {
    const KIND: &'static str = "certificate-validation";
}

pub struct CertificateValidation;

/// How long ACM may take to show a new certificate's validation records (seconds, usually).
const RECORDS_APPEAR: Duration = Duration::from_secs(120);

impl Kind for CertificateValidation {
    fn name(&self) -> &'static str {
        "certificate-validation"
    }
    fn noun(&self) -> &'static str {
        "certificate validation records"
    }
    fn step(&self) -> &'static str {
        "certificate-validation"
    }
    fn doing(&self) -> &'static str {
        "validating the domain's certificate"
    }
    fn deleting(&self) -> &'static str {
        "deleting the certificate's validation records"
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(21)
    }
    fn iam(&self) -> &'static [super::Grant] {
        const GRANTS: [super::Grant; 6] = {
            let r = super::dns::ROUTE53_GRANTS;
            [
                (
                    "DescribeCertificate",
                    "acm:DescribeCertificate",
                    super::Scope::Certificates,
                ),
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
            ]
        };
        &GRANTS
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<ValidationRecord>(rec)
    }
    fn inventory(&self, state: &crate::state::StackState, _keep_data: bool) -> Vec<String> {
        let lines: Vec<String> = state
            .all::<ValidationRecord>()
            .into_iter()
            .flat_map(|(_, r)| {
                r.records
                    .into_iter()
                    .map(|d| format!("DNS record {} {} (certificate validation)", d.name, d.ty))
            })
            .collect();
        if lines.is_empty() {
            vec!["the certificate's DNS validation records (none recorded)".into()]
        } else {
            lines
        }
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        match &spec.domain {
            Some(d) if d.certificate_arn.is_none() => {
                vec![Node::new(&CertificateValidation, validation_key(&d.name))
                    .lives_in(certificate_key(&d.name))
                    .for_item(&d.name)]
            }
            _ => Vec::new(),
        }
    }
    fn props(&self, w: &Want, _node: &Node) -> Option<Value> {
        let d = domain_of(w.spec).ok()?;
        let cert = w
            .state
            .get::<CertificateRecord>(&certificate_key(&d.name))?;
        Some(json!({"certificate": cert.arn, "zone": d.zone}))
    }
    fn label(&self, _w: &Want, node: &Node) -> String {
        format!("validation of {}", node.item.as_deref().unwrap_or_default())
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
            let Some(rec) = cx.state.get::<ValidationRecord>(&node.key) else {
                return Some(Check::missing(label, NOT_DEPLOYED));
            };
            let c = cx.c;
            for r in &rec.records {
                match c
                    .call("status", || aws_domain::records_of(&c.aws, &rec.id, &r.name, &r.ty))
                    .await
                {
                    Ok(found) if found.iter().any(|f| f.value == crate::domain::normal(&r.value)) => {}
                    Ok(found) if found.is_empty() => {
                        return Some(Check::missing(
                            label,
                            format!("the validation record {} {} is gone from the zone (ACM renews with it)", r.name, r.ty),
                        ))
                    }
                    Ok(found) => {
                        return Some(Check::drifted(
                            label,
                            format!(
                                "the validation record {} points to {}, not {}",
                                r.name,
                                found.iter().map(|f| f.value.as_str()).collect::<Vec<_>>().join(", "),
                                r.value
                            ),
                        ))
                    }
                    Err(e) => return Some(Check::failed(label, e)),
                }
            }
            Some(if rec.issued {
                Check::ok(format!(
                    "{label} ({} record{} in the zone)",
                    rec.records.len(),
                    if rec.records.len() == 1 { "" } else { "s" }
                ))
            } else {
                Check::settling(label, "pending validation: deploy resumes the wait for ACM")
            })
        })
    }
    fn repair(&self, node: &Node, check: &Check) -> super::Repair {
        if check.transitional {
            super::Repair::Wait
        } else {
            // Written again (invalidate forgets which records are in the zone).
            let _ = node;
            super::Repair::Update
        }
    }
    fn invalidate(&self, rec: &mut crate::state::Record) {
        rec.fingerprint.clear();
        rec.props = None;
        // The records are written again even when ACM asks for the same ones.
        rec.attrs.insert("records".into(), Value::Array(Vec::new()));
    }
    fn remove<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        _: &'a str,
        rec: &'a crate::state::Record,
    ) -> BoxFuture<'a, anyhow::Result<Option<StepResult>>> {
        Box::pin(async move {
            let r: ValidationRecord = rec.typed().map_err(anyhow::Error::msg)?;
            let gone = delete_records(&ctx.run, &r).await?;
            Ok(Some(StepResult::new(
                if gone { Action::Deleted } else { Action::Gone },
                format!("{} validation record(s)", r.records.len()),
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
            let Some(r) = state.get::<ValidationRecord>(&node.key) else {
                return Ok(StepResult::new(Action::Gone, node.key.clone()));
            };
            let deleted = delete_records(&ctx.run, &r).await?;
            forget_with_contents(ctx, &node.key).await?;
            Ok(StepResult::new(
                if deleted {
                    Action::Deleted
                } else {
                    Action::Gone
                },
                format!("{} validation record(s)", r.records.len()),
            ))
        })
    }
}

/// Deletes the recorded validation records still in the zone as they were written (a DELETE
/// must match the record exactly; one changed by hand is someone's: left alone). Returns
/// whether any was deleted.
async fn delete_records(
    run: &crate::kinds::context::Run,
    r: &ValidationRecord,
) -> anyhow::Result<bool> {
    let mut ours = Vec::new();
    for d in &r.records {
        let found = run
            .call("certificate-validation", || {
                aws_domain::records_of(&run.aws, &r.id, &d.name, &d.ty)
            })
            .await;
        match found {
            Ok(found) => {
                if found
                    .iter()
                    .any(|f| f.value == crate::domain::normal(&d.value))
                {
                    ours.push(d.clone());
                }
            }
            // The zone itself is gone: so are its records.
            Err(e) if e.is(crate::aws::ErrorKind::NotFound) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
    if ours.is_empty() {
        return Ok(false);
    }
    let change = run
        .call("certificate-validation", || {
            aws_domain::change_records(
                &run.aws,
                &r.id,
                false,
                &ours,
                "serverless-cli: certificate validation removed",
            )
        })
        .await?;
    let _ = change;
    Ok(true)
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let d = domain_of(&ctx.spec)?.clone();
    let state = ctx.snapshot().await;
    let w = Want {
        spec: &ctx.spec,
        state: &state,
    };
    let props = CertificateValidation.props(&w, node).unwrap_or_default();
    let cert: CertificateRecord = state
        .get(&certificate_key(&d.name))
        .ok_or_else(|| anyhow::anyhow!("the certificate of {} is not recorded", d.name))?;
    let edge = cert.edge_client(&ctx.spec.region);
    let recorded: Option<ValidationRecord> = state.get(&node.key);
    if let Some(r) = &recorded {
        if r.issued && super::is_current(&r.fingerprint, &w, node) {
            return Ok(StepResult::new(
                Action::Unchanged,
                format!("{} issued", cert.arn),
            ));
        }
    }
    let caller = crate::aws::Caller {
        aws: ctx.aws().clone(),
        policy: ctx.timing.retry,
        progress: ctx.progress.clone(),
    };
    // The records ACM asks for: there within seconds of the request, absent before.
    let t = ctx.timing;
    let info = poll(RECORDS_APPEAR, t.poll_first, t.poll_max, || async {
        let c = ctx
            .call("certificate-validation", || {
                aws_domain::certificate(ctx.aws(), edge, &cert.arn)
            })
            .await?;
        Ok(match c {
            None => Some(None),
            Some(c) if c.is_issued() || !c.validation.is_empty() => Some(Some(c)),
            Some(_) => None,
        })
    })
    .await?;
    let info = match info {
        Some(Some(c)) => c,
        Some(None) => anyhow::bail!(
            "certificate {} is gone; run deploy again to request a new one",
            cert.arn
        ),
        None => anyhow::bail!(
            "ACM gave no DNS validation record for {} within {} s; run deploy again",
            cert.arn,
            RECORDS_APPEAR.as_secs()
        ),
    };
    if info.is_final_failure() {
        anyhow::bail!(
            "ACM says certificate {} is {}{}; delete it from the state's view with `serverless-cli deploy` after removing it in ACM, or check the zone's delegation",
            cert.arn,
            info.status,
            info.failure.as_deref().map(|f| format!(" ({f})")).unwrap_or_default()
        );
    }
    let zone = super::dns::zone(&caller, &d).await?;
    let mut wanted: Vec<DnsRecord> = info
        .validation
        .iter()
        .map(|(name, value)| DnsRecord {
            name: crate::domain::normal(name),
            ty: "CNAME".into(),
            value: crate::domain::normal(value),
            alias_zone: String::new(),
        })
        .collect();
    wanted.sort_by(|a, b| a.name.cmp(&b.name));
    wanted.dedup();
    let same = recorded
        .as_ref()
        .is_some_and(|r| r.id == zone.id && r.records == wanted && r.certificate == cert.arn);
    let mut action = if recorded.is_some() {
        Action::Updated
    } else {
        Action::Created
    };
    if !same && !wanted.is_empty() {
        let change = ctx
            .call("certificate-validation", || {
                aws_domain::change_records(
                    ctx.aws(),
                    &zone.id,
                    true,
                    &wanted,
                    "serverless-cli: certificate validation",
                )
            })
            .await?;
        // Recorded before the wait: teardown finds them whatever happens next.
        let rec = ValidationRecord {
            id: zone.id.clone(),
            certificate: cert.arn.clone(),
            records: wanted.clone(),
            issued: false,
            fingerprint: String::new(),
        };
        ctx.record(|s| s.put_applied(&node.key, &rec, props.clone()))
            .await?;
        wait_in_sync(&caller, &change, t.ready_wait.max(Duration::from_secs(60))).await?;
    } else if recorded.is_none() {
        action = Action::Unchanged;
    }
    let issued = if info.is_issued() {
        true
    } else {
        match t.certificate_wait {
            None => false,
            Some(limit) => {
                ctx.progress.line(&format!(
                    "certificate for {}: waiting for ACM to issue it (it checks the DNS validation record; at most {} min; Ctrl-C or a killed run resumes the wait on the next deploy)",
                    d.name,
                    limit.as_secs().div_ceil(60)
                ));
                let every =
                    Duration::from_secs(10).min(t.poll_max.max(Duration::from_millis(500)) * 5);
                let done = poll(limit, t.poll_first, every, || async {
                    let c = ctx
                        .call("certificate-validation", || {
                            aws_domain::certificate(ctx.aws(), edge, &cert.arn)
                        })
                        .await?;
                    Ok(match c {
                        Some(c) if c.is_issued() => Some(Ok(())),
                        Some(c) if c.is_final_failure() => Some(Err(format!(
                            "{}{}",
                            c.status,
                            c.failure.map(|f| format!(" ({f})")).unwrap_or_default()
                        ))),
                        None => Some(Err("deleted".to_string())),
                        Some(_) => None,
                    })
                })
                .await?;
                match done {
                    Some(Ok(())) => true,
                    Some(Err(why)) => anyhow::bail!(
                        "ACM did not issue certificate {}: it is {why}; run deploy again to request a new one",
                        cert.arn
                    ),
                    None => anyhow::bail!(
                        "certificate {} is still pending validation after {} min; ACM needs to see {} in public DNS. Run deploy again to keep waiting (no new certificate is requested)",
                        cert.arn,
                        limit.as_secs().div_ceil(60),
                        wanted.first().map_or_else(String::new, |r| format!("{} CNAME {}", r.name, r.value))
                    ),
                }
            }
        }
    };
    let rec = ValidationRecord {
        id: zone.id.clone(),
        certificate: cert.arn.clone(),
        records: wanted,
        issued,
        fingerprint: if issued {
            super::fingerprint_of("certificate-validation", &props)
        } else {
            String::new()
        },
    };
    ctx.record(|s| s.put_applied(&node.key, &rec, props))
        .await?;
    Ok(if issued {
        StepResult::new(action, format!("{} issued", cert.arn))
    } else {
        StepResult::new(action, cert.arn.clone()).with_detail(
            "pending validation; --no-wait: run deploy again once ACM has issued it to make the domain",
        )
    })
}
