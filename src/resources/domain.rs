//! A custom domain's resources: the ACM certificate (in the API's region, or us-east-1 for an
//! edge domain), the Route53 hosted zone and its records, API Gateway's domain name and base
//! path mapping. A certificate and a domain name carry the owner tag; DNS records cannot, so
//! they are changed only when they are the ones this stack wrote (docs/domain.md).

use aws_sdk_acm::types::{CertificateStatus, Tag as AcmTag, ValidationMethod};
use aws_sdk_apigateway::types::{EndpointConfiguration, EndpointType, SecurityPolicy};
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord,
    ResourceRecordSet, RrType,
};

use crate::aws::{Aws, AwsError, ErrorKind};
use crate::stack::OWNER_TAG;

use super::api::not_found_is_none;
use super::Owner;

fn acm(aws: &Aws, edge: bool) -> &aws_sdk_acm::Client {
    if edge {
        &aws.acm_edge
    } else {
        &aws.acm
    }
}

fn built<T, E: std::fmt::Display>(op: &'static str, r: Result<T, E>) -> Result<T, AwsError> {
    r.map_err(|e| AwsError::local(ErrorKind::Other, format!("{op}: {e}")))
}

/// A certificate as read.
#[derive(Debug, Clone, PartialEq)]
pub struct CertInfo {
    pub arn: String,
    pub domain: String,
    /// Every name it covers (its domain and alternative names).
    pub names: Vec<String>,
    /// ACM's status: PENDING_VALIDATION, ISSUED, FAILED, VALIDATION_TIMED_OUT, ...
    pub status: String,
    /// Expiry, seconds since the epoch (issued certificates).
    pub not_after: Option<i64>,
    /// The DNS records ACM validates with: (name, value), CNAMEs. Empty while ACM is still
    /// making them (the first seconds after the request).
    pub validation: Vec<(String, String)>,
    /// Why it failed, when it did.
    pub failure: Option<String>,
}

impl CertInfo {
    pub fn is_issued(&self) -> bool {
        self.status == CertificateStatus::Issued.as_str()
    }
    /// A status it never leaves by itself (failed, expired, revoked, timed out).
    pub fn is_final_failure(&self) -> bool {
        !matches!(
            self.status.as_str(),
            "ISSUED" | "PENDING_VALIDATION" | "INACTIVE"
        )
    }
}

/// RequestCertificate with DNS validation, tagged. The idempotency token makes a repeat within
/// the hour (a crash before the ARN was recorded) answer the same certificate.
pub async fn request_certificate(
    aws: &Aws,
    edge: bool,
    name: &str,
    token: &str,
    owner: &str,
) -> Result<String, AwsError> {
    let tag = built(
        "RequestCertificate",
        AcmTag::builder().key(OWNER_TAG).value(owner).build(),
    )?;
    let out = acm(aws, edge)
        .request_certificate()
        .domain_name(name)
        .validation_method(ValidationMethod::Dns)
        .idempotency_token(token)
        .tags(tag)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("RequestCertificate", e))?;
    Ok(out.certificate_arn().unwrap_or_default().to_string())
}

/// DescribeCertificate; `None` when it is gone.
pub async fn certificate(aws: &Aws, edge: bool, arn: &str) -> Result<Option<CertInfo>, AwsError> {
    let out = not_found_is_none(
        acm(aws, edge)
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeCertificate", e)),
    )?;
    Ok(out.and_then(|o| {
        let c = o.certificate()?;
        let mut names: Vec<String> = c.subject_alternative_names().to_vec();
        let domain = c.domain_name().unwrap_or_default().to_string();
        if !names.contains(&domain) {
            names.push(domain.clone());
        }
        Some(CertInfo {
            arn: arn.to_string(),
            domain,
            names,
            status: c
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            not_after: c.not_after().map(|t| t.secs()),
            validation: c
                .domain_validation_options()
                .iter()
                .filter_map(|v| v.resource_record())
                .map(|r| (r.name().to_string(), r.value().to_string()))
                .collect(),
            failure: c.failure_reason().map(|f| f.as_str().to_string()),
        })
    }))
}

/// The certificates for `name` (ListCertificates, every page), with whose each one is
/// (ListTagsForCertificate).
pub async fn find_certificates(
    aws: &Aws,
    edge: bool,
    name: &str,
    owner: &str,
) -> Result<Vec<(String, Owner)>, AwsError> {
    let arns = certificates_named(aws, edge, name).await?;
    let mut out = Vec::new();
    for arn in arns {
        if let Some(o) = certificate_owner(aws, edge, &arn, owner).await? {
            out.push((arn, o));
        }
    }
    Ok(out)
}

/// The ARNs of the account's certificates whose domain is `name`, whatever their status.
pub async fn certificates_named(
    aws: &Aws,
    edge: bool,
    name: &str,
) -> Result<Vec<String>, AwsError> {
    let mut arns = Vec::new();
    let mut next: Option<String> = None;
    // Bounded: 1,000 pages of 1,000 is far past ACM's quota of certificates.
    for _ in 0..1000 {
        let out = acm(aws, edge)
            .list_certificates()
            .set_next_token(next.clone())
            .max_items(1000)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListCertificates", e))?;
        for c in out.certificate_summary_list() {
            if c.domain_name()
                .is_some_and(|d| crate::domain::normal(d) == crate::domain::normal(name))
            {
                arns.push(c.certificate_arn().unwrap_or_default().to_string());
            }
        }
        match out.next_token() {
            Some(t) if !t.is_empty() && Some(t) != next.as_deref() => next = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(arns)
}

/// Whose a certificate is, by its tags; `None` when it is gone.
pub async fn certificate_owner(
    aws: &Aws,
    edge: bool,
    arn: &str,
    owner: &str,
) -> Result<Option<Owner>, AwsError> {
    let out = not_found_is_none(
        acm(aws, edge)
            .list_tags_for_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListTagsForCertificate", e)),
    )?;
    Ok(out.map(|o| {
        Owner::from_pairs(
            o.tags()
                .iter()
                .map(|t| (t.key(), t.value().unwrap_or_default())),
            owner,
        )
    }))
}

/// DeleteCertificate; `false` when it was gone. ACM refuses one still in use by a domain name
/// (ResourceInUseException, which API Gateway takes a moment to let go of): retried as busy.
pub async fn delete_certificate(aws: &Aws, edge: bool, arn: &str) -> Result<bool, AwsError> {
    let r = acm(aws, edge)
        .delete_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DeleteCertificate", e));
    match r {
        Err(mut e) if e.code.as_deref() == Some("ResourceInUseException") => {
            e.kind = ErrorKind::Busy;
            Err(e)
        }
        r => not_found_is_none(r).map(|o| o.is_some()),
    }
}

/// A hosted zone as read.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneInfo {
    /// Without the `/hostedzone/` prefix.
    pub id: String,
    /// Lower case, no trailing dot.
    pub name: String,
    pub private: bool,
    /// Its name servers (GetHostedZone's delegation set), lower case, sorted.
    pub name_servers: Vec<String>,
}

fn bare_zone_id(id: &str) -> String {
    id.trim_start_matches("/hostedzone/").to_string()
}

/// The public and private zones of exactly this name (ListHostedZonesByName starts at it).
pub async fn zones_named(aws: &Aws, name: &str) -> Result<Vec<ZoneInfo>, AwsError> {
    let out = aws
        .route53
        .list_hosted_zones_by_name()
        .dns_name(name)
        .max_items(100)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListHostedZonesByName", e))?;
    let want = crate::domain::normal(name);
    Ok(out
        .hosted_zones()
        .iter()
        .filter(|z| crate::domain::normal(z.name()) == want)
        .map(|z| ZoneInfo {
            id: bare_zone_id(z.id()),
            name: want.clone(),
            private: z.config().is_some_and(|c| c.private_zone()),
            name_servers: Vec::new(),
        })
        .collect())
}

/// GetHostedZone, with its name servers; `None` when there is none of that id.
pub async fn zone(aws: &Aws, id: &str) -> Result<Option<ZoneInfo>, AwsError> {
    let out = not_found_is_none(
        aws.route53
            .get_hosted_zone()
            .id(bare_zone_id(id))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetHostedZone", e)),
    )?;
    Ok(out.and_then(|o| {
        let z = o.hosted_zone()?;
        let mut servers: Vec<String> = o
            .delegation_set()
            .map(|d| {
                d.name_servers()
                    .iter()
                    .map(|n| crate::domain::normal(n))
                    .collect()
            })
            .unwrap_or_default();
        servers.sort();
        Some(ZoneInfo {
            id: bare_zone_id(z.id()),
            name: crate::domain::normal(z.name()),
            private: z.config().is_some_and(|c| c.private_zone()),
            name_servers: servers,
        })
    }))
}

/// One DNS record the stack writes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// Lower case, no trailing dot.
    pub name: String,
    /// `CNAME`, `A`, `AAAA`.
    #[serde(rename = "type")]
    pub ty: String,
    /// A CNAME's value, or an alias's target DNS name.
    pub value: String,
    /// An alias's target hosted zone (empty for a CNAME).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub alias_zone: String,
}

fn record_set(r: &Record) -> Result<ResourceRecordSet, AwsError> {
    let op = "ChangeResourceRecordSets";
    let mut b = ResourceRecordSet::builder()
        .name(&r.name)
        .r#type(RrType::from(r.ty.as_str()));
    if r.alias_zone.is_empty() {
        let rr = built(op, ResourceRecord::builder().value(&r.value).build())?;
        b = b.ttl(300).resource_records(rr);
    } else {
        let target = built(
            op,
            AliasTarget::builder()
                .hosted_zone_id(&r.alias_zone)
                .dns_name(&r.value)
                .evaluate_target_health(false)
                .build(),
        )?;
        b = b.alias_target(target);
    }
    built(op, b.build())
}

/// ChangeResourceRecordSets: one batch, applied as a whole; returns the change's id.
pub async fn change_records(
    aws: &Aws,
    zone: &str,
    upsert: bool,
    records: &[Record],
    comment: &str,
) -> Result<String, AwsError> {
    let op = "ChangeResourceRecordSets";
    let mut batch = ChangeBatch::builder().comment(comment);
    for r in records {
        let change = built(
            op,
            Change::builder()
                .action(if upsert {
                    ChangeAction::Upsert
                } else {
                    ChangeAction::Delete
                })
                .resource_record_set(record_set(r)?)
                .build(),
        )?;
        batch = batch.changes(change);
    }
    let out = aws
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(bare_zone_id(zone))
        .change_batch(built(op, batch.build())?)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ChangeResourceRecordSets", e))?;
    Ok(out
        .change_info()
        .map(|c| c.id().trim_start_matches("/change/").to_string())
        .unwrap_or_default())
}

/// Whether a Route53 change has reached every name server (GetChange INSYNC). A change
/// Route53 no longer knows (it keeps them for a while) is long done.
pub async fn change_in_sync(aws: &Aws, id: &str) -> Result<bool, AwsError> {
    let out = not_found_is_none(
        aws.route53
            .get_change()
            .id(id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetChange", e)),
    )?;
    Ok(match out {
        None => true,
        Some(o) => o
            .change_info()
            .is_some_and(|c| *c.status() == ChangeStatus::Insync),
    })
}

/// The zone's records of `name` and `ty` (ListResourceRecordSets from that name).
pub async fn records_of(
    aws: &Aws,
    zone: &str,
    name: &str,
    ty: &str,
) -> Result<Vec<Record>, AwsError> {
    let out = aws
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(bare_zone_id(zone))
        .start_record_name(name)
        .start_record_type(RrType::from(ty))
        .max_items(10)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListResourceRecordSets", e))?;
    let want = crate::domain::normal(name);
    Ok(out
        .resource_record_sets()
        .iter()
        .filter(|s| crate::domain::normal(s.name()) == want && s.r#type().as_str() == ty)
        .flat_map(|s| match s.alias_target() {
            Some(a) => vec![Record {
                name: want.clone(),
                ty: ty.to_string(),
                value: crate::domain::normal(a.dns_name()),
                alias_zone: a.hosted_zone_id().to_string(),
            }],
            None => s
                .resource_records()
                .iter()
                .map(|r| Record {
                    name: want.clone(),
                    ty: ty.to_string(),
                    value: crate::domain::normal(r.value()),
                    alias_zone: String::new(),
                })
                .collect(),
        })
        .collect())
}

/// An API Gateway domain name as read.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainInfo {
    pub name: String,
    /// REGIONAL or EDGE.
    pub endpoint: String,
    pub certificate_arn: String,
    /// Where its alias records point: the regional domain name, or the CloudFront
    /// distribution's.
    pub target: String,
    /// That target's hosted zone, as API Gateway reports it.
    pub target_zone: String,
    /// AVAILABLE, UPDATING, PENDING, PENDING_CERTIFICATE_REIMPORT, ...
    pub status: String,
    pub owner: Owner,
}

fn domain_info(
    name: &str,
    endpoint: Option<&EndpointConfiguration>,
    fields: [Option<&str>; 7],
    tags: Option<&std::collections::HashMap<String, String>>,
    owner: &str,
) -> DomainInfo {
    let [regional_cert, edge_cert, regional, regional_zone, distribution, distribution_zone, status] =
        fields;
    let edge = endpoint
        .map(|e| e.types().contains(&EndpointType::Edge))
        .unwrap_or(false)
        || (regional.is_none() && distribution.is_some());
    DomainInfo {
        name: name.to_string(),
        endpoint: if edge { "EDGE" } else { "REGIONAL" }.into(),
        certificate_arn: if edge { edge_cert } else { regional_cert }
            .unwrap_or_default()
            .to_string(),
        target: crate::domain::normal(
            if edge { distribution } else { regional }.unwrap_or_default(),
        ),
        target_zone: if edge {
            distribution_zone
        } else {
            regional_zone
        }
        .unwrap_or_default()
        .to_string(),
        status: status.unwrap_or_default().to_string(),
        owner: Owner::from_tag(
            tags.and_then(|t| t.get(OWNER_TAG)).map(String::as_str),
            owner,
        ),
    }
}

/// The fields [`domain_info`] reads, from CreateDomainName's or GetDomainName's answer (two
/// types with the same accessors).
macro_rules! domain_fields {
    ($o:expr) => {
        [
            $o.regional_certificate_arn(),
            $o.certificate_arn(),
            $o.regional_domain_name(),
            $o.regional_hosted_zone_id(),
            $o.distribution_domain_name(),
            $o.distribution_hosted_zone_id(),
            $o.domain_name_status().map(|s| s.as_str()),
        ]
    };
}

/// CreateDomainName (TLS 1.2, tagged) for a certificate in the region the endpoint needs.
pub async fn create_domain(
    aws: &Aws,
    name: &str,
    edge: bool,
    certificate_arn: &str,
    owner: &str,
) -> Result<DomainInfo, AwsError> {
    let mut req = aws
        .apigateway
        .create_domain_name()
        .domain_name(name)
        .endpoint_configuration(
            EndpointConfiguration::builder()
                .types(if edge {
                    EndpointType::Edge
                } else {
                    EndpointType::Regional
                })
                .build(),
        )
        .security_policy(SecurityPolicy::Tls12)
        .tags(OWNER_TAG, owner);
    req = if edge {
        req.certificate_arn(certificate_arn)
    } else {
        req.regional_certificate_arn(certificate_arn)
    };
    let o = req
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateDomainName", e))?;
    Ok(domain_info(
        name,
        o.endpoint_configuration(),
        domain_fields!(o),
        o.tags(),
        owner,
    ))
}

/// GetDomainName; `None` when there is none of that name.
pub async fn domain(aws: &Aws, name: &str, owner: &str) -> Result<Option<DomainInfo>, AwsError> {
    let out = not_found_is_none(
        aws.apigateway
            .get_domain_name()
            .domain_name(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetDomainName", e)),
    )?;
    Ok(out.map(|o| {
        domain_info(
            name,
            o.endpoint_configuration(),
            domain_fields!(o),
            o.tags(),
            owner,
        )
    }))
}

/// DeleteDomainName (1 per 30 s per account: the rate limiter spaces them); `false` when it
/// was gone.
pub async fn delete_domain(aws: &Aws, name: &str) -> Result<bool, AwsError> {
    not_found_is_none(
        aws.apigateway
            .delete_domain_name()
            .domain_name(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DeleteDomainName", e)),
    )
    .map(|o| o.is_some())
}

/// API Gateway's name for the empty base path.
fn path_key(base_path: &str) -> &str {
    if base_path.is_empty() {
        "(none)"
    } else {
        base_path
    }
}

/// CreateBasePathMapping: the stage of the API at the base path.
pub async fn create_mapping(
    aws: &Aws,
    domain: &str,
    base_path: &str,
    api: &str,
    stage: &str,
) -> Result<(), AwsError> {
    let mut req = aws
        .apigateway
        .create_base_path_mapping()
        .domain_name(domain)
        .rest_api_id(api)
        .stage(stage);
    if !base_path.is_empty() {
        req = req.base_path(base_path);
    }
    req.send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateBasePathMapping", e))?;
    Ok(())
}

/// GetBasePathMapping: (API id, stage); `None` when nothing is mapped there.
pub async fn mapping(
    aws: &Aws,
    domain: &str,
    base_path: &str,
) -> Result<Option<(String, String)>, AwsError> {
    let out = not_found_is_none(
        aws.apigateway
            .get_base_path_mapping()
            .domain_name(domain)
            .base_path(path_key(base_path))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetBasePathMapping", e)),
    )?;
    Ok(out.map(|o| {
        (
            o.rest_api_id().unwrap_or_default().to_string(),
            o.stage().unwrap_or_default().to_string(),
        )
    }))
}

/// DeleteBasePathMapping; `false` when it was gone.
pub async fn delete_mapping(aws: &Aws, domain: &str, base_path: &str) -> Result<bool, AwsError> {
    not_found_is_none(
        aws.apigateway
            .delete_base_path_mapping()
            .domain_name(domain)
            .base_path(path_key(base_path))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DeleteBasePathMapping", e)),
    )
    .map(|o| o.is_some())
}
