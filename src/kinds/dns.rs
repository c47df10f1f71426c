//! What the custom domain's kinds share (certificate, certificate-validation, domain-name,
//! base-path-mapping, domain-records): their keys, the hosted zone found from the file's
//! `zone`, a Route53 change waited on until INSYNC, and the checks deploy makes before a
//! domain's first call or wait (docs/domain.md, "Before any call").

use std::time::Duration;

use crate::aws::{poll, Caller};
use crate::domain::{dns, DomainSpec, ZoneRef};
use crate::error::UsageError;
use crate::resources::domain::{self as aws_domain, ZoneInfo};
use crate::stack::StackSpec;
use crate::state::StackState;

pub fn certificate_key(name: &str) -> String {
    format!("certificate:{name}")
}
pub fn validation_key(name: &str) -> String {
    format!("certificate-validation:{name}")
}
pub fn domain_key(name: &str) -> String {
    format!("domain-name:{name}")
}
pub fn mapping_key(name: &str) -> String {
    format!("base-path-mapping:{name}")
}
pub fn records_key(name: &str) -> String {
    format!("domain-records:{name}")
}

/// The Route53 calls the validation records and the alias records make.
pub const ROUTE53_GRANTS: [super::Grant; 5] = {
    use super::Scope;
    [
        (
            "ListHostedZonesByName",
            "route53:ListHostedZonesByName",
            Scope::HostedZoneList,
        ),
        ("GetHostedZone", "route53:GetHostedZone", Scope::HostedZones),
        (
            "ChangeResourceRecordSets",
            "route53:ChangeResourceRecordSets",
            Scope::HostedZones,
        ),
        (
            "ListResourceRecordSets",
            "route53:ListResourceRecordSets",
            Scope::HostedZones,
        ),
        ("GetChange", "route53:GetChange", Scope::DnsChanges),
    ]
};

/// The stack's domain (every domain kind's node has it).
pub fn domain_of(spec: &StackSpec) -> anyhow::Result<&DomainSpec> {
    spec.domain
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the model has no [domain]"))
}

/// For plan, when the file names another domain than the one recorded: which one this
/// deploy replaces, and how (a certificate and a domain name are each made for one name).
pub fn replaces_note(state: &StackState, d: &DomainSpec) -> Option<String> {
    let old = state
        .all::<super::domain_name::DomainRecord>()
        .into_iter()
        .map(|(_, r)| r.id)
        .find(|id| *id != d.name)?;
    Some(format!(
        "replaces {old}'s: a certificate and a domain name are each made for one name, so the new name gets its own, and deploy removes {old}'s records, mapping, domain name and certificate after the new ones are up"
    ))
}

/// The hosted zone the file names, read (its name servers too); an error that says what to
/// fix when there is none, or only a private one.
pub async fn zone(c: &Caller, d: &DomainSpec) -> anyhow::Result<ZoneInfo> {
    let id = match &d.zone {
        ZoneRef::Id(id) => id.clone(),
        ZoneRef::Name(name) => {
            let found = c
                .call("domain", || aws_domain::zones_named(&c.aws, name))
                .await?;
            match found.iter().find(|z| !z.private) {
                Some(z) => z.id.clone(),
                None if !found.is_empty() => {
                    return Err(UsageError(format!(
                        "[domain] zone: the hosted zone {name} in this account is private (it answers inside its VPCs only); ACM and the public reach names through a public zone: create one (aws route53 create-hosted-zone --name {name} --caller-reference $(date +%s)) and delegate to it. Nothing was changed"
                    ))
                    .into())
                }
                None => {
                    return Err(UsageError(format!(
                        "[domain] zone: this account has no Route53 hosted zone named {name}; create it (aws route53 create-hosted-zone --name {name} --caller-reference $(date +%s)) and delegate the name to its name servers at your registrar, or name the zone that holds '{}'. Nothing was changed",
                        d.name
                    ))
                    .into())
                }
            }
        }
    };
    let z = c.call("domain", || aws_domain::zone(&c.aws, &id)).await?;
    let Some(z) = z else {
        return Err(UsageError(format!(
            "[domain] zone_id: this account has no hosted zone {id}; check the id (aws route53 list-hosted-zones). Nothing was changed"
        ))
        .into());
    };
    if z.private {
        return Err(UsageError(format!(
            "[domain] zone_id: hosted zone {id} ({}) is private; ACM and the public reach names through a public zone. Nothing was changed",
            z.name
        ))
        .into());
    }
    if !crate::domain::is_under(&d.name, &z.name) {
        return Err(UsageError(format!(
            "[domain] name: '{}' is not in hosted zone {id} ({}): a zone holds records for its own name and the names below it only. Nothing was changed",
            d.name, z.name
        ))
        .into());
    }
    Ok(z)
}

/// Waits until a Route53 change has reached every name server (bounded by `limit`).
pub async fn wait_in_sync(c: &Caller, change: &str, limit: Duration) -> anyhow::Result<()> {
    if change.is_empty() {
        return Ok(());
    }
    let done = poll(
        limit,
        Duration::from_millis(200),
        Duration::from_secs(5),
        || async {
            let sync = c
                .call("domain", || aws_domain::change_in_sync(&c.aws, change))
                .await?;
            Ok(sync.then_some(()))
        },
    )
    .await?;
    match done {
        Some(()) => Ok(()),
        None => anyhow::bail!(
            "Route53 change {change} did not reach every name server within {} s; run deploy again to keep waiting",
            limit.as_secs()
        ),
    }
}

/// The checks before any call that changes something or waits (deploy runs them first):
/// the zone exists and is public and holds the name; against AWS, the public DNS delegates the
/// zone to its name servers (not asked of an emulator, whose zones no public DNS serves); a
/// brought certificate is ISSUED and covers the name; the endpoint is the one the recorded
/// domain name has. Each refusal says what to fix; nothing is changed.
pub async fn preflight(
    c: &Caller,
    spec: &StackSpec,
    state: &StackState,
    against_aws: bool,
) -> anyhow::Result<()> {
    let Some(d) = spec.domain.as_ref() else {
        return Ok(());
    };
    if let Some(rec) = state.get::<super::domain_name::DomainRecord>(&domain_key(&d.name)) {
        if rec.endpoint != d.endpoint.as_api() {
            return Err(UsageError(format!(
                "[domain] endpoint: the domain name {} is {}, and the file now says {}; a domain's endpoint and its certificate's region go together here: remove [domain], deploy (the domain is removed), then add it back with endpoint = \"{}\". Nothing was changed",
                d.name,
                rec.endpoint.to_ascii_lowercase(),
                d.endpoint.word(),
                d.endpoint.word()
            ))
            .into());
        }
    }
    let z = zone(c, d).await?;
    records_free(c, d, &z, state).await?;
    if against_aws {
        delegation(&z)?;
    } else {
        c.progress.line(&format!(
            "domain: the DNS delegation of {} is not checked against an emulator endpoint",
            z.name
        ));
    }
    if let Some(arn) = &d.certificate_arn {
        let edge = d.endpoint == crate::domain::DomainEndpoint::Edge;
        let cert = c
            .call("domain", || aws_domain::certificate(&c.aws, edge, arn))
            .await?;
        let Some(cert) = cert else {
            return Err(UsageError(format!(
                "[domain] certificate_arn: there is no certificate {arn}; check the ARN, or drop certificate_arn and let deploy request one. Nothing was changed"
            ))
            .into());
        };
        if !cert.is_issued() {
            return Err(UsageError(format!(
                "[domain] certificate_arn: the certificate is {}, not ISSUED; API Gateway takes issued certificates only: finish its validation (or drop certificate_arn and let deploy request one). Nothing was changed",
                cert.status
            ))
            .into());
        }
        if !crate::domain::covers(cert.names.iter().map(String::as_str), &d.name) {
            return Err(UsageError(format!(
                "[domain] certificate_arn: the certificate covers {}, not {}; bring one that names it (or *.{}), or drop certificate_arn. Nothing was changed",
                cert.names.join(", "),
                d.name,
                d.name.split_once('.').map_or("", |(_, r)| r)
            ))
            .into());
        }
    }
    Ok(())
}

/// Before the stack has written its records: a record of the name that someone else wrote
/// (pointing anywhere but the stack's own domain name) is refused now, not after the
/// certificate and the domain name were made.
async fn records_free(
    c: &Caller,
    d: &DomainSpec,
    z: &ZoneInfo,
    state: &StackState,
) -> anyhow::Result<()> {
    if state.has(&records_key(&d.name)) {
        return Ok(());
    }
    let ours = state
        .get::<super::domain_name::DomainRecord>(&domain_key(&d.name))
        .map(|r| crate::domain::normal(&r.target));
    for ty in ["A", "AAAA", "CNAME"] {
        let found = c
            .call("domain", || {
                aws_domain::records_of(&c.aws, &z.id, &d.name, ty)
            })
            .await?;
        let theirs: Vec<&str> = found
            .iter()
            .filter(|r| Some(&r.value) != ours.as_ref())
            .map(|r| r.value.as_str())
            .collect();
        if !theirs.is_empty() {
            return Err(crate::error::OwnerConflict(format!(
                "DNS record {} {ty} already exists in zone {} and points to {}; serverless-cli will not overwrite a record it did not write. Remove it, or use another [domain] name. Nothing was changed",
                d.name,
                z.name,
                theirs.join(", ")
            ))
            .into());
        }
    }
    Ok(())
}

/// The public DNS must send the zone's name to the zone's name servers, or ACM never sees the
/// validation record: refused with the records to set, instead of an hour's wait.
fn delegation(z: &ZoneInfo) -> anyhow::Result<()> {
    let Some(resolver) = dns::system_resolver() else {
        return Ok(());
    };
    let servers_to_set = z
        .name_servers
        .iter()
        .map(|n| format!("  {} NS {n}.", z.name))
        .collect::<Vec<_>>()
        .join("\n");
    let found = dns::name_servers(resolver, &z.name, Duration::from_secs(3));
    let problem = match found {
        Ok(dns::Delegation::Servers(s)) => {
            if z.name_servers.is_empty() || s.iter().any(|n| z.name_servers.contains(n)) {
                return Ok(());
            }
            format!(
                "the public DNS sends {} to {}, not to this zone's name servers",
                z.name,
                s.join(", ")
            )
        }
        Ok(dns::Delegation::NoSuchName) => format!(
            "the public DNS does not know {} (no delegation to it)",
            z.name
        ),
        Ok(dns::Delegation::NoServers) => {
            format!("the public DNS has no NS records for {}", z.name)
        }
        // The resolver could not be asked: ACM's own wait will tell.
        Err(_) => return Ok(()),
    };
    Err(UsageError(format!(
        "[domain] zone: {problem}, so ACM could not validate the certificate and deploy would wait in vain. Set these NS records where {} is delegated (its registrar, or the parent zone), then deploy again:\n{servers_to_set}\nNothing was changed",
        z.name
    ))
    .into())
}
