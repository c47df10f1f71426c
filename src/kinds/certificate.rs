//! The ACM certificate a `[domain]` without `certificate_arn` gets: requested with DNS
//! validation, tagged, in the API's region (regional) or us-east-1 (edge). Its ARN is recorded
//! the moment ACM answers, so an interrupted deploy never asks for a second one; the request's
//! idempotency token does the same for a crash before the record (ACM answers the same
//! certificate to the same token within an hour). The wait for ISSUED is the validation's.

use anyhow::Context;
use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::dns::{certificate_key, domain_of};
use super::{Check, CheckCx, Kind, Want, NOT_DEPLOYED};
use crate::engine::{Action, StepResult};
use crate::kinds::context::{foreign, forget_with_contents, DeployCtx, Health, TeardownCtx};
use crate::kinds::graph::Node;
use crate::resources::domain as aws_domain;
use crate::resources::Owner;
use crate::stack::StackSpec;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateRecord {
    /// The name it covers.
    pub id: String,
    pub arn: String,
    /// Where it is: us-east-1 for an edge domain.
    pub region: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
}

impl crate::state::Typed for CertificateRecord {
    const KIND: &'static str = "certificate";
}

impl CertificateRecord {
    /// In us-east-1 for an edge domain while the API is elsewhere: read with that client.
    pub fn edge_client(&self, api_region: &str) -> bool {
        self.region != api_region
    }
}

pub struct Certificate;

/// The token that makes a repeated request answer the same certificate: the stack's identity
/// and the name, hashed to ACM's 32 word characters.
fn idempotency_token(owner: &str, name: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("certificate\0{owner}\0{name}").as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a read certificate is one to adopt (not failed, expired or revoked).
fn usable(c: &aws_domain::CertInfo) -> bool {
    !c.is_final_failure()
}

impl Kind for Certificate {
    fn name(&self) -> &'static str {
        "certificate"
    }
    fn noun(&self) -> &'static str {
        "ACM certificate"
    }
    fn step(&self) -> &'static str {
        "certificate"
    }
    fn doing(&self) -> &'static str {
        "requesting the domain's certificate"
    }
    fn deleting(&self) -> &'static str {
        "deleting the domain's certificate"
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(22)
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            (
                "RequestCertificate",
                "acm:RequestCertificate",
                Scope::CertificateRequests,
            ),
            (
                "ListCertificates",
                "acm:ListCertificates",
                Scope::CertificateRequests,
            ),
            (
                "DescribeCertificate",
                "acm:DescribeCertificate",
                Scope::Certificates,
            ),
            (
                "ListTagsForCertificate",
                "acm:ListTagsForCertificate",
                Scope::Certificates,
            ),
            (
                "DeleteCertificate",
                "acm:DeleteCertificate",
                Scope::Certificates,
            ),
        ]
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<CertificateRecord>(rec)
    }
    fn inventory(&self, state: &crate::state::StackState, _keep_data: bool) -> Vec<String> {
        let lines: Vec<String> = state
            .all::<CertificateRecord>()
            .into_iter()
            .map(|(_, r)| format!("{} for {} ({})", self.noun(), r.id, r.arn))
            .collect();
        if lines.is_empty() {
            vec![format!("the domain's {} (none recorded)", self.noun())]
        } else {
            lines
        }
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        match &spec.domain {
            Some(d) if d.certificate_arn.is_none() => {
                vec![Node::new(&Certificate, certificate_key(&d.name)).for_item(&d.name)]
            }
            _ => Vec::new(),
        }
    }
    fn props(&self, w: &Want, _node: &Node) -> Option<Value> {
        let d = domain_of(w.spec).ok()?;
        Some(json!({"name": d.name, "region": d.certificate_region(&w.spec.region)}))
    }
    fn create_note(&self, w: &Want, _node: &Node) -> Option<String> {
        let d = domain_of(w.spec).ok()?;
        let region = d.certificate_region(&w.spec.region);
        let made = match d.endpoint {
            crate::domain::DomainEndpoint::Edge => format!(
                "requested from ACM in {region}: an edge domain's certificate must be there, whatever the API's region"
            ),
            crate::domain::DomainEndpoint::Regional => {
                format!("requested from ACM in {region}, the API's region: the domain is regional")
            }
        };
        Some(match super::dns::replaces_note(w.state, d) {
            Some(replaces) => format!("{made}; {replaces}"),
            None => made,
        })
    }
    fn label(&self, w: &Want, node: &Node) -> String {
        match w.state.get::<CertificateRecord>(&node.key) {
            Some(r) => r.arn,
            None => format!(
                "certificate for {}",
                node.item.as_deref().unwrap_or_default()
            ),
        }
    }
    fn replaced_on(&self, before: &Value, after: &Value) -> Option<String> {
        (before["region"] != after["region"]).then(|| {
            format!(
                "a certificate stays in its region ({} -> {})",
                before["region"], after["region"]
            )
        })
    }
    fn owner<'a>(
        &'a self,
        c: &'a crate::aws::Caller,
        rec: &'a crate::state::Record,
        owner: &'a str,
    ) -> Option<super::OwnerRead<'a>> {
        let r: CertificateRecord = rec.typed().ok()?;
        Some(Box::pin(async move {
            let edge = r.region != c.aws.region();
            let whose = c
                .call("status", || {
                    aws_domain::certificate_owner(&c.aws, edge, &r.arn, owner)
                })
                .await?;
            Ok(whose.map(|o| (r.arn.clone(), o)))
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
            let w = Want {
                spec: cx.spec,
                state: cx.state,
            };
            let Some(rec) = cx.state.get::<CertificateRecord>(&node.key) else {
                return Some(Check::missing(self.label(&w, node), NOT_DEPLOYED));
            };
            let c = cx.c;
            let edge = rec.edge_client(&cx.spec.region);
            Some(
                match c
                    .call("status", || aws_domain::certificate(&c.aws, edge, &rec.arn))
                    .await
                {
                    Ok(None) => Check::missing(&rec.arn, "the certificate does not exist"),
                    Ok(Some(cert)) => status_of(&rec.arn, &cert),
                    Err(e) => Check::failed(&rec.arn, e),
                },
            )
        })
    }
    fn repair(&self, node: &Node, check: &Check) -> super::Repair {
        match check.health {
            // Pending validation: the validation step waits for it.
            Health::Drifted if check.transitional => super::Repair::Wait,
            _ => super::Repair::Recreate(vec![node.key.clone()]),
        }
    }
    fn remove<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        _: &'a str,
        rec: &'a crate::state::Record,
    ) -> BoxFuture<'a, anyhow::Result<Option<StepResult>>> {
        Box::pin(async move {
            let r: CertificateRecord = rec.typed().map_err(anyhow::Error::msg)?;
            let removal = delete_ours(&ctx.run, &r, &ctx.spec.owner_tag, &ctx.spec.region).await?;
            Ok(Some(removal.into_result(self.noun(), r.arn)))
        })
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a TeardownCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(async move {
            let state = ctx.snapshot().await;
            let rec = match state.get::<CertificateRecord>(&node.key) {
                Some(r) => r,
                // A crash between the request and its record: the one of this name that is
                // this stack's.
                None => {
                    let Ok(d) = domain_of(&ctx.spec) else {
                        return Ok(StepResult::new(Action::Gone, node.key.clone()));
                    };
                    let region = d.certificate_region(&ctx.spec.region).to_string();
                    let edge = region != ctx.spec.region;
                    let found = ctx
                        .call("certificate", || {
                            aws_domain::find_certificates(ctx.aws(), edge, &d.name, &ctx.owner)
                        })
                        .await?;
                    match found.into_iter().find(|(_, o)| *o == Owner::Us) {
                        Some((arn, _)) => CertificateRecord {
                            arn,
                            id: d.name.clone(),
                            region,
                            fingerprint: String::new(),
                        },
                        None => return Ok(StepResult::new(Action::Gone, d.name.clone())),
                    }
                }
            };
            let action = match delete_ours(&ctx.run, &rec, &ctx.owner, &ctx.spec.region).await? {
                super::Removal::Deleted => Action::Deleted,
                super::Removal::Gone => Action::Gone,
                super::Removal::Foreign(owner) => {
                    return foreign(state.has(&node.key), self.noun(), &rec.arn, &owner)
                }
            };
            forget_with_contents(ctx, &node.key).await?;
            Ok(StepResult::new(action, rec.arn))
        })
    }
}

/// What status says of a certificate: its status, and its expiry once issued.
fn status_of(arn: &str, cert: &aws_domain::CertInfo) -> Check {
    match cert.status.as_str() {
        "ISSUED" => {
            let expires = cert
                .not_after
                .map(|t| {
                    let (y, m, d) = crate::gateway::proxy::civil_date(t.div_euclid(86_400));
                    format!(", expires {y:04}-{m:02}-{d:02}")
                })
                .unwrap_or_default();
            Check::ok(format!("{arn} (ISSUED{expires})"))
        }
        "PENDING_VALIDATION" => Check::settling(
            arn,
            "pending validation: ACM is waiting to see the DNS validation record; deploy waits for it",
        ),
        other => Check::drifted(
            arn,
            format!(
                "the certificate is {other}{}; deploy requests a new one",
                cert.failure
                    .as_deref()
                    .map(|f| format!(" ({f})"))
                    .unwrap_or_default()
            ),
        ),
    }
}

/// Deletes the recorded certificate if its tag says it is this stack's.
async fn delete_ours(
    run: &crate::kinds::context::Run,
    r: &CertificateRecord,
    owner: &str,
    api_region: &str,
) -> anyhow::Result<super::Removal> {
    let edge = r.edge_client(api_region);
    let Some(whose) = run
        .call("certificate", || {
            aws_domain::certificate_owner(&run.aws, edge, &r.arn, owner)
        })
        .await?
    else {
        return Ok(super::Removal::Gone);
    };
    if whose != Owner::Us {
        return Ok(super::Removal::Foreign(whose));
    }
    let deleted = run
        .call("certificate", || {
            aws_domain::delete_certificate(&run.aws, edge, &r.arn)
        })
        .await
        .with_context(|| format!("deleting certificate {}", r.arn))?;
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
    let props = Certificate.props(&w, node).unwrap_or_default();
    let region = d.certificate_region(&ctx.spec.region).to_string();
    let edge = region != ctx.spec.region;
    if let Some(r) = state.get::<CertificateRecord>(&node.key) {
        if r.region == region {
            // Recorded (requested by an earlier run, issued or not): never asked for again.
            if !super::is_current(&r.fingerprint, &w, node) {
                let rec = CertificateRecord {
                    fingerprint: super::fingerprint_of("certificate", &props),
                    ..r.clone()
                };
                ctx.record(|s| s.put_applied(&node.key, &rec, props))
                    .await?;
            }
            return Ok(StepResult::new(Action::Unchanged, r.arn));
        }
    }
    let owner = &ctx.spec.owner_tag;
    // A crash between the request and its record: this stack's certificate for the name.
    let found = ctx
        .call("certificate", || {
            aws_domain::find_certificates(ctx.aws(), edge, &d.name, owner)
        })
        .await?;
    let mut adopted = None;
    for (arn, whose) in found.iter().filter(|(_, o)| *o == Owner::Us) {
        let cert = ctx
            .call("certificate", || {
                aws_domain::certificate(ctx.aws(), edge, arn)
            })
            .await?;
        if cert.as_ref().is_some_and(usable) {
            adopted = Some(arn.clone());
            let _ = whose;
            break;
        }
    }
    let (arn, action) = match adopted {
        Some(arn) => (arn, Action::Adopted),
        None => {
            let token = idempotency_token(owner, &d.name);
            let arn = ctx
                .call("certificate", || {
                    aws_domain::request_certificate(ctx.aws(), edge, &d.name, &token, owner)
                })
                .await
                .with_context(|| format!("requesting a certificate for {}", d.name))?;
            (arn, Action::Created)
        }
    };
    let rec = CertificateRecord {
        arn: arn.clone(),
        id: d.name.clone(),
        region: region.clone(),
        fingerprint: super::fingerprint_of("certificate", &props),
    };
    ctx.record(|s| s.put_applied(&node.key, &rec, props))
        .await?;
    Ok(StepResult::new(action, arn).with_detail(format!(
        "in {region}{}",
        if edge {
            " (an edge domain's certificate is read by CloudFront there)"
        } else {
            ""
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_token_is_acms_form_and_the_stacks_own() {
        let t = idempotency_token("shop/prod", "api.example.com");
        assert_eq!(t.len(), 32);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(t, idempotency_token("shop/prod", "api.example.com"));
        assert_ne!(t, idempotency_token("shop/dev", "api.example.com"));
    }
}
