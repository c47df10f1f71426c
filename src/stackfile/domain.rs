//! `[domain]`: the file form of the stack's own domain, the model it makes
//! ([`crate::domain::DomainSpec`]), and the checks that need no call.

use schemars::JsonSchema;
use serde::Deserialize;

use super::check::{Problem, Seg};
use crate::domain::{self, DomainEndpoint, DomainSpec, ZoneRef};

macro_rules! at {
    ($($s:expr),* $(,)?) => { vec![$(Seg::from($s)),*] };
}

/// `[domain]`: the stack's stage served on a name of yours, with a certificate, DNS records and
/// an API Gateway domain name made and checked by deploy. docs/domain.md.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainDoc {
    /// The name, `api.example.com`: lower case, in the hosted zone.
    pub name: String,
    /// The Route53 public hosted zone that holds the name's records, by its name
    /// (`example.com`). Give this or `zone_id`.
    pub zone: Option<String>,
    /// The hosted zone by its id (`Z0123456789ABC`), instead of `zone`.
    pub zone_id: Option<String>,
    /// `regional` (the default: served from the API's region, certificate there) or `edge`
    /// (through CloudFront; certificate in us-east-1).
    #[serde(default)]
    pub endpoint: EndpointDoc,
    /// `""` (the default) maps the stage at the root; `"v1"` at `/v1`.
    #[serde(default)]
    pub base_path: String,
    /// A certificate of yours (ISSUED, covering the name, in the region the endpoint needs)
    /// instead of one the stack requests. The stack never deletes it.
    pub certificate_arn: Option<String>,
}

/// `endpoint` of `[domain]`.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EndpointDoc {
    #[default]
    Regional,
    Edge,
}

/// The model `[domain]` makes (names compared in lower case, without a trailing dot).
pub fn spec(doc: &DomainDoc) -> DomainSpec {
    DomainSpec {
        name: doc.name.clone(),
        zone: match (&doc.zone, &doc.zone_id) {
            (_, Some(id)) => ZoneRef::Id(id.trim().to_string()),
            (Some(n), None) => ZoneRef::Name(domain::normal(n)),
            (None, None) => ZoneRef::Name(String::new()),
        },
        endpoint: match doc.endpoint {
            EndpointDoc::Regional => DomainEndpoint::Regional,
            EndpointDoc::Edge => DomainEndpoint::Edge,
        },
        base_path: doc.base_path.clone(),
        certificate_arn: doc.certificate_arn.clone(),
    }
}

/// The checks of `[domain]` that need no call: the name, the zone named once, the name under
/// the zone, the base path, a brought certificate's ARN and region.
pub fn check(doc: &DomainDoc, out: &mut Vec<Problem>) {
    let mut p = |at: Vec<Seg>, message: String| out.push(Problem { at, message });
    if let Some(why) = domain::name_problem(&doc.name) {
        p(
            at!["domain", "name"],
            format!(
                "'{}' is not a domain name API Gateway takes: it {why}",
                doc.name
            ),
        );
    }
    match (&doc.zone, &doc.zone_id) {
        (None, None) => p(
            at!["domain"],
            "name the Route53 hosted zone that holds the records: zone = \"example.com\" (or zone_id = \"Z...\")".into(),
        ),
        (Some(_), Some(_)) => p(
            at!["domain", "zone_id"],
            "give the hosted zone once: zone (its name) or zone_id, not both".into(),
        ),
        (Some(z), None) => {
            if domain::name_problem(&domain::normal(z)).is_some() {
                p(at!["domain", "zone"], format!("'{z}' is not a zone name (example.com)"));
            } else if !domain::is_under(&doc.name, z) {
                p(
                    at!["domain", "name"],
                    format!(
                        "'{}' is not in the zone {}: a zone holds records for its own name and the names below it only; use a name ending in .{} or the zone that holds '{}'",
                        doc.name,
                        domain::normal(z),
                        domain::normal(z),
                        doc.name
                    ),
                );
            }
        }
        (None, Some(id)) => {
            let id = id.trim().trim_start_matches("/hostedzone/");
            if id.is_empty()
                || id.len() > 32
                || !id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            {
                p(
                    at!["domain", "zone_id"],
                    format!("'{id}' is not a hosted zone id (Z followed by upper-case letters and digits)"),
                );
            }
        }
    }
    if let Some(why) = domain::base_path_problem(&doc.base_path) {
        p(
            at!["domain", "base_path"],
            format!("base path '{}' {why}", doc.base_path),
        );
    }
    if let Some(arn) = &doc.certificate_arn {
        let model = spec(doc);
        match domain::arn_region(arn) {
            None => p(
                at!["domain", "certificate_arn"],
                "not an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)".into(),
            ),
            // A regional domain's region is the run's: checked with it (region_problem).
            Some(_) if model.endpoint == DomainEndpoint::Regional => {}
            Some(_) => {
                if let Some(why) = region_problem(&model, domain::EDGE_CERTIFICATE_REGION) {
                    p(at!["domain", "certificate_arn"], why);
                }
            }
        }
    }
}

/// Why a brought certificate is in the wrong region for the domain's endpoint, the API being
/// in `api_region`; `None` when it fits (or the stack requests its own).
pub fn region_problem(model: &DomainSpec, api_region: &str) -> Option<String> {
    let arn = model.certificate_arn.as_deref()?;
    let r = domain::arn_region(arn)?;
    let wanted = model.certificate_region(api_region);
    if r == wanted {
        return None;
    }
    Some(match model.endpoint {
        DomainEndpoint::Edge => format!("[domain] certificate_arn: the certificate is in {r}, and an edge domain needs it in {wanted} (CloudFront reads certificates from us-east-1 only); request or import it there, or drop certificate_arn and let deploy request one"),
        DomainEndpoint::Regional => format!("[domain] certificate_arn: the certificate is in {r}, and a regional domain needs it in the API's region, {wanted}; request or import it there, deploy to {r}, or drop certificate_arn and let deploy request one"),
    })
}
