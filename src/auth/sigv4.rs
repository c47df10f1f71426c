//! A SigV4-signed request checked as API Gateway checks a method with AWS_IAM authorization:
//! the signature recomputed with the secret of the access key it names, which must be the
//! credentials serve runs with; the credential scope (date, region, `execute-api`); the
//! request time within five minutes; the session token when the credentials have one. What
//! it does not evaluate: the caller's IAM policies (whether it may `execute-api:Invoke`), which
//! only AWS can. docs/auth.md, "IAM".

use aws_lc_rs::hmac;
use sha2::{Digest, Sha256};

/// The credentials requests must be signed with.
#[derive(Clone)]
pub struct Credentials {
    pub access_key: String,
    pub secret: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// The request as received.
pub struct Signed<'a> {
    pub method: &'a str,
    /// The path as sent (percent-encoded as on the wire).
    pub raw_path: &'a str,
    /// The query as sent.
    pub raw_query: &'a str,
    /// Header names lower-case.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// Why API Gateway refuses it: the message of its 403.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No Authorization header (or not a SigV4 one): "Missing Authentication Token".
    Missing,
    /// Another access key, or a session token that is not the credentials'.
    InvalidToken,
    /// Recomputed, it differs.
    Mismatch,
    /// More than five minutes from now.
    Expired,
    /// The credential scope names another region or service.
    Scope(String),
}

impl Refusal {
    /// API Gateway's message for it.
    pub fn message(&self) -> String {
        match self {
            Refusal::Missing => "Missing Authentication Token".into(),
            Refusal::InvalidToken => "The security token included in the request is invalid.".into(),
            Refusal::Mismatch => "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
            Refusal::Expired => "Signature expired: the request's X-Amz-Date is more than 5 minutes from the server's time.".into(),
            Refusal::Scope(why) => why.clone(),
        }
    }
}

/// The service name in the credential scope.
pub const SERVICE: &str = "execute-api";
/// How far a request's time may be from the server's.
const SKEW_SECS: i64 = 5 * 60;

/// Checks the request; the access key that signed it when it passes.
pub fn verify(
    req: &Signed,
    creds: &Credentials,
    region: &str,
    now_secs: i64,
) -> Result<String, Refusal> {
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let auth = header("authorization").ok_or(Refusal::Missing)?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or(Refusal::Missing)?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or(Refusal::Missing)?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(Refusal::Missing);
    };
    let mut scope = credential.splitn(5, '/');
    let (Some(key_id), Some(date), Some(scope_region), Some(service), Some(terminal)) = (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) else {
        return Err(Refusal::Missing);
    };
    if key_id != creds.access_key {
        return Err(Refusal::InvalidToken);
    }
    if header("x-amz-security-token") != creds.session_token.as_deref() {
        return Err(Refusal::InvalidToken);
    }
    if scope_region != region {
        return Err(Refusal::Scope(format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            crate::report::printable(scope_region)
        )));
    }
    if service != SERVICE || terminal != "aws4_request" {
        return Err(Refusal::Scope(format!(
            "Credential should be scoped to correct service: '{SERVICE}'. "
        )));
    }
    let amz_date = header("x-amz-date").ok_or(Refusal::Missing)?;
    let when = parse_amz_date(amz_date).ok_or(Refusal::Mismatch)?;
    if (when - now_secs).abs() > SKEW_SECS {
        return Err(Refusal::Expired);
    }
    if !amz_date.starts_with(date) {
        return Err(Refusal::Mismatch);
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"host") {
        return Err(Refusal::Mismatch);
    }
    let mut canonical_headers = String::new();
    for n in &names {
        let values: Vec<String> = req
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        canonical_headers.push_str(&format!("{n}:{}\n", values.join(",")));
    }
    let payload = match header("x-amz-content-sha256") {
        Some(h) if h != hex(&Sha256::digest(req.body)) && h != "UNSIGNED-PAYLOAD" => {
            return Err(Refusal::Mismatch)
        }
        Some(h) => h.to_string(),
        None => hex(&Sha256::digest(req.body)),
    };
    let canonical = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{payload}",
        req.method,
        canonical_uri(req.raw_path),
        canonical_query(req.raw_query),
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{scope_region}/{service}/aws4_request\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut k = hmac_of(format!("AWS4{}", creds.secret).as_bytes(), date.as_bytes());
    for part in [scope_region, service, "aws4_request"] {
        k = hmac_of(&k, part.as_bytes());
    }
    let expected = hex(&hmac_of(&k, to_sign.as_bytes()));
    // Compared in constant time.
    let same = expected.len() == signature.len()
        && expected
            .bytes()
            .zip(signature.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(key_id.to_string())
    } else {
        Err(Refusal::Mismatch)
    }
}

fn hmac_of(key: &[u8], data: &[u8]) -> Vec<u8> {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::sign(&k, data).as_ref().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 3986 unreserved characters stay; everything else is %XX (upper case).
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The path as sent, encoded once more (SigV4 encodes each segment twice for every service
/// but S3, and the path on the wire is already encoded once).
fn canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        "/".into()
    } else {
        encode(raw_path, true)
    }
}

/// Each name and value decoded and encoded again, sorted by name then value.
fn canonical_query(raw: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                encode(&crate::aws::url_decode(k), false),
                encode(&crate::aws::url_decode(v), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `20261203T211500Z` as seconds since the epoch.
fn parse_amz_date(s: &str) -> Option<i64> {
    if s.len() != 16 || !s.ends_with('Z') || s.as_bytes()[8] != b'T' {
        return None;
    }
    let n = |a: usize, b: usize| s.get(a..b)?.parse::<i64>().ok();
    let (y, m, d) = (n(0, 4)?, n(4, 6)?, n(6, 8)?);
    let (hh, mm, ss) = (n(9, 11)?, n(11, 13)?, n(13, 15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// The day counted from 1970-01-01 of a calendar date: the inverse of `gateway::proxy::civil_date` (Howard
/// Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's documented example (the IAM ListUsers GET of the SigV4 guide, "Create a signed
    /// request"): its canonical request and signature, recomputed here for `iam`'s scope.
    #[test]
    fn the_signing_key_chain_is_awss() {
        // From the SigV4 test suite (get-vanilla): key AKIDEXAMPLE, the documented secret.
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let mut k = hmac_of(format!("AWS4{secret}").as_bytes(), b"20150830");
        for part in ["us-east-1", "service", "aws4_request"] {
            k = hmac_of(&k, part.as_bytes());
        }
        let canonical = "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        assert_eq!(
            hex(&hmac_of(&k, to_sign.as_bytes())),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn dates_and_queries() {
        assert_eq!(parse_amz_date("19700101T000100Z"), Some(60));
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
        assert_eq!(canonical_query("b=2&a=%7e&a=1&c"), "a=1&a=~&b=2&c=");
        assert_eq!(canonical_uri("/prod/a%20b"), "/prod/a%2520b");
    }
}
