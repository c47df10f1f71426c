//! The stack's own domain (`[domain]`): a name in a Route53 hosted zone, the ACM certificate
//! that covers it, the API Gateway domain name and its base path mapping to the stack's stage,
//! and the alias records that point the name at API Gateway. This module is the model: what the
//! file asks for and AWS's fixed facts about it (which region a certificate must be in, which
//! hosted zone an alias target lives in). It makes no call; `dns` asks the public DNS who
//! serves a zone. docs/domain.md says which of AWS's rules each part follows.

pub mod dns;

use serde::Serialize;

/// `endpoint` of `[domain]`: where API Gateway serves the name.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DomainEndpoint {
    /// Served from the API's region; the certificate is in that region.
    #[default]
    Regional,
    /// Served through CloudFront; the certificate must be in us-east-1.
    Edge,
}

impl DomainEndpoint {
    /// API Gateway's endpoint type.
    pub fn as_api(self) -> &'static str {
        match self {
            DomainEndpoint::Regional => "REGIONAL",
            DomainEndpoint::Edge => "EDGE",
        }
    }
    pub fn word(self) -> &'static str {
        match self {
            DomainEndpoint::Regional => "regional",
            DomainEndpoint::Edge => "edge",
        }
    }
}

/// How the file names the hosted zone.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ZoneRef {
    /// `zone = "example.com"`: found by name (ListHostedZonesByName).
    Name(String),
    /// `zone_id = "Z..."`.
    Id(String),
}

/// The stack's domain, as the file asks for it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DomainSpec {
    /// `api.example.com`, lower case, no trailing dot.
    pub name: String,
    pub zone: ZoneRef,
    pub endpoint: DomainEndpoint,
    /// `""` maps the stage at the root; `v1` at `/v1`.
    pub base_path: String,
    /// A certificate the user brings (never requested, never deleted by the stack).
    pub certificate_arn: Option<String>,
}

/// The region every certificate of an edge domain must be in (CloudFront reads it there).
pub const EDGE_CERTIFICATE_REGION: &str = "us-east-1";

/// The Route53 hosted zone of every CloudFront distribution, and so of every edge domain's
/// target (API Gateway's DomainName `distributionHostedZoneId`).
pub const CLOUDFRONT_ZONE_ID: &str = "Z2FDTNDATAQYW2";

/// The Route53 hosted zone of API Gateway's regional endpoints, per region (AWS General
/// Reference, "Amazon API Gateway endpoints and quotas"). An alias record to a regional domain
/// name must name its region's zone; a region not listed here takes the zone the domain name
/// itself reports.
pub const REGIONAL_ZONE_IDS: &[(&str, &str)] = &[
    ("us-east-1", "Z1UJRXOUMOOFQ8"),
    ("us-east-2", "ZOJJZC49E0EPZ"),
    ("us-west-1", "Z2MUQ32089INYE"),
    ("us-west-2", "Z2OJLYMUO9EFXC"),
    ("ca-central-1", "Z19DQILCV0OWEC"),
    ("sa-east-1", "ZCMLWB8V5SYIT"),
    ("eu-central-1", "Z1U9ULNL0V5AJ3"),
    ("eu-west-1", "ZLY8HYME6SFDD"),
    ("eu-west-2", "ZJ5UAJN8Y3Z2Q"),
    ("eu-west-3", "Z3KY65QIEKYHQQ"),
    ("ap-south-1", "Z3VO1THU9YC4UR"),
    ("ap-northeast-1", "Z1YSHQZHG15GKL"),
    ("ap-northeast-2", "Z20JF4UZKIW1U8"),
    ("ap-southeast-1", "ZL327KTPIQFUL"),
    ("ap-southeast-2", "Z2RPCDW04V8134"),
];

/// The hosted zone an alias to this domain's target names: CloudFront's for an edge domain,
/// the region's for a regional one (else what the domain name reports).
pub fn target_zone_id(endpoint: DomainEndpoint, region: &str, reported: &str) -> String {
    match endpoint {
        DomainEndpoint::Edge => CLOUDFRONT_ZONE_ID.to_string(),
        DomainEndpoint::Regional => REGIONAL_ZONE_IDS
            .iter()
            .find(|(r, _)| *r == region)
            .map_or_else(|| reported.to_string(), |(_, z)| z.to_string()),
    }
}

impl DomainSpec {
    /// The region its certificate is in: the API's for a regional domain, us-east-1 for edge.
    pub fn certificate_region<'a>(&self, api_region: &'a str) -> &'a str {
        match self.endpoint {
            DomainEndpoint::Regional => api_region,
            DomainEndpoint::Edge => EDGE_CERTIFICATE_REGION,
        }
    }

    /// The URL the stage answers on: `https://api.example.com/` or `.../v1/`.
    pub fn url(&self) -> String {
        if self.base_path.is_empty() {
            format!("https://{}/", self.name)
        } else {
            format!("https://{}/{}/", self.name, self.base_path)
        }
    }
}

/// A DNS name as compared: lower case, no trailing dot.
pub fn normal(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `name` is `zone` or below it.
pub fn is_under(name: &str, zone: &str) -> bool {
    let (name, zone) = (normal(name), normal(zone));
    name == zone || name.ends_with(&format!(".{zone}"))
}

/// Whether a certificate for these names covers `name`: an exact name, or a wildcard one
/// level up (`*.example.com` covers `api.example.com`, not `a.b.example.com`).
pub fn covers<'a>(names: impl IntoIterator<Item = &'a str>, name: &str) -> bool {
    let name = normal(name);
    names.into_iter().any(|n| {
        let n = normal(n);
        match n.strip_prefix("*.") {
            Some(parent) => name
                .split_once('.')
                .is_some_and(|(first, rest)| !first.is_empty() && rest == parent),
            None => n == name,
        }
    })
}

/// The region a certificate ARN names (`arn:aws:acm:REGION:ACCOUNT:certificate/ID`).
pub fn arn_region(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "acm", region, _, rest] if rest.starts_with("certificate/") => Some(region),
        _ => None,
    }
}

/// Why a domain name cannot be used (a DNS name API Gateway and ACM take: at most 253
/// characters, labels of letters, digits and '-', not starting or ending with '-', at least
/// two labels); `None` when it can.
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 253 {
        return Some("must be 1 to 253 characters".into());
    }
    if name.ends_with('.') {
        return Some("must not end with a dot".into());
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Some("must have at least two labels (api.example.com)".into());
    }
    for l in &labels {
        if l.is_empty() || l.len() > 63 {
            return Some("each label between dots must be 1 to 63 characters".into());
        }
        if !l
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Some(
                "may hold only lower-case letters, digits, '-' and dots (an internationalised name goes in its xn-- form)"
                    .into(),
            );
        }
        if l.starts_with('-') || l.ends_with('-') {
            return Some("a label must not start or end with '-'".into());
        }
    }
    None
}

/// Why a base path cannot be used; `None` when it can. API Gateway takes one path segment for
/// a REST API's mapping here (letters, digits and `-._~`; no '/').
pub fn base_path_problem(path: &str) -> Option<String> {
    if path.is_empty() {
        return None;
    }
    if path.len() > 128 {
        return Some("must be at most 128 characters".into());
    }
    if path.contains('/') {
        return Some("is one path segment: write \"v1\", not \"/v1\" or \"v1/x\"".into());
    }
    if path == "(none)"
        || !path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        return Some("may hold only letters, digits, '-', '.', '_' and '~'".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's regional hosted zone ids, by table (moto answers one id for every region).
    #[test]
    fn an_alias_names_its_endpoints_hosted_zone() {
        for (region, zone) in [
            ("us-east-1", "Z1UJRXOUMOOFQ8"),
            ("us-east-2", "ZOJJZC49E0EPZ"),
            ("us-west-2", "Z2OJLYMUO9EFXC"),
            ("eu-west-1", "ZLY8HYME6SFDD"),
            ("eu-central-1", "Z1U9ULNL0V5AJ3"),
            ("ap-northeast-1", "Z1YSHQZHG15GKL"),
            ("ap-southeast-2", "Z2RPCDW04V8134"),
            ("sa-east-1", "ZCMLWB8V5SYIT"),
        ] {
            assert_eq!(
                target_zone_id(DomainEndpoint::Regional, region, "Z2FDTNDATAQYW2"),
                zone,
                "{region}"
            );
            assert_eq!(
                target_zone_id(DomainEndpoint::Edge, region, "ZANY"),
                CLOUDFRONT_ZONE_ID
            );
        }
        // A region the table does not know: the domain name's own answer.
        assert_eq!(
            target_zone_id(DomainEndpoint::Regional, "mx-central-1", "ZREPORTED"),
            "ZREPORTED"
        );
        // Every region once.
        let mut regions: Vec<&str> = REGIONAL_ZONE_IDS.iter().map(|(r, _)| *r).collect();
        regions.sort();
        regions.dedup();
        assert_eq!(regions.len(), REGIONAL_ZONE_IDS.len());
    }

    #[test]
    fn names_zones_and_certificates() {
        assert!(is_under("api.example.com", "example.com"));
        assert!(is_under("API.Example.com.", "example.com"));
        assert!(is_under("example.com", "example.com."));
        assert!(!is_under("api.example.org", "example.com"));
        assert!(!is_under("apiexample.com", "example.com"));
        assert!(covers(["api.example.com"], "api.example.com"));
        assert!(covers(["*.example.com"], "api.example.com"));
        assert!(!covers(["*.example.com"], "a.b.example.com"));
        assert!(!covers(["*.example.com"], "example.com"));
        assert!(!covers(["www.example.com"], "api.example.com"));
        assert_eq!(
            arn_region("arn:aws:acm:eu-west-1:123456789012:certificate/abc"),
            Some("eu-west-1")
        );
        assert_eq!(arn_region("arn:aws:iam::1:role/x"), None);
        let d = DomainSpec {
            name: "api.example.com".into(),
            zone: ZoneRef::Name("example.com".into()),
            endpoint: DomainEndpoint::Edge,
            base_path: "v1".into(),
            certificate_arn: None,
        };
        assert_eq!(d.certificate_region("eu-west-1"), "us-east-1");
        assert_eq!(d.url(), "https://api.example.com/v1/");
        assert_eq!(name_problem("api.example.com"), None);
        for bad in [
            "api",
            "API.example.com",
            "-a.example.com",
            "a..b",
            "a.b.",
            "a_b.com",
        ] {
            assert!(name_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(base_path_problem(""), None);
        assert_eq!(base_path_problem("v1"), None);
        for bad in ["/v1", "v1/x", "(none)", "a b"] {
            assert!(base_path_problem(bad).is_some(), "{bad}");
        }
    }
}
