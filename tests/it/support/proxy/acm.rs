//! ACM's DNS validation as AWS runs it, where moto's is kinder (docs/domain.md, "What the
//! tests put back"): moto issues a certificate `MOTO_ACM_VALIDATION_WAIT` seconds after it was
//! requested whatever DNS holds, and lists its validation record at once. AWS issues it only
//! once the validation CNAME it asked for can be found, and may describe a new certificate
//! before that record is chosen. So the proxy
//! - remembers the CNAMEs written through Route53's ChangeResourceRecordSets (and forgets the
//!   deleted ones), and answers a certificate whose validation record is not among them as
//!   still `PENDING_VALIDATION`, whatever moto's clock says;
//! - leaves the validation record out of the first DescribeCertificate of each pending
//!   certificate, so the tool must ask again;
//! - refuses DeleteCertificate (ResourceInUseException) while a domain name uses the
//!   certificate, and once more just after that domain name was deleted (API Gateway takes a
//!   moment to let go of it), where moto deletes it whatever uses it.

use super::*;

#[derive(Default)]
pub(crate) struct Validation {
    /// The CNAME names in the zones (lower case, without the final dot).
    written: std::collections::HashSet<String>,
    /// Certificates described once already.
    described: std::collections::HashSet<String>,
    /// Certificates answered as issued: they stay so (AWS does not take a certificate back
    /// when its validation record is deleted; it fails to renew it months later).
    issued: std::collections::HashSet<String>,
    /// Certificates of domain names just deleted: the next DeleteCertificate of each is
    /// refused as in use.
    releasing: std::collections::HashSet<String>,
}

/// Every domain name's certificates, read from moto (signed, as moto routes by the
/// credential scope's service, for API Gateway).
async fn domain_certificates(to_moto: &super::import::Upstream<'_>) -> Vec<(String, String)> {
    let Some(list) = to_moto.call("GET", "/domainnames", None).await else {
        return Vec::new();
    };
    list["item"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|d| {
            let name = d["domainName"].as_str().unwrap_or_default().to_string();
            ["certificateArn", "regionalCertificateArn"]
                .iter()
                .filter_map(|k| d[*k].as_str())
                .map(|arn| (name.clone(), arn.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Before DeleteDomainName is forwarded: its certificate is being let go of.
pub(crate) async fn before_domain_delete(
    shared: &Shared,
    to_moto: &super::import::Upstream<'_>,
    path: &str,
) {
    let Some(name) = path.strip_prefix("/domainnames/") else {
        return;
    };
    let name = name.trim_end_matches('/');
    let certs: Vec<String> = domain_certificates(to_moto)
        .await
        .into_iter()
        .filter(|(d, _)| d == name)
        .map(|(_, arn)| arn)
        .collect();
    shared.validation.lock().unwrap().releasing.extend(certs);
}

/// Before DeleteCertificate is forwarded: `Some(message)` when AWS would refuse it as in use.
pub(crate) async fn certificate_in_use(
    shared: &Shared,
    to_moto: &super::import::Upstream<'_>,
    sent: &[u8],
) -> Option<String> {
    let arn = serde_json::from_slice::<serde_json::Value>(sent).ok()?["CertificateArn"]
        .as_str()?
        .to_string();
    if let Some((domain, _)) = domain_certificates(to_moto)
        .await
        .into_iter()
        .find(|(_, a)| *a == arn)
    {
        return Some(format!(
            "Certificate {arn} in account 123456789012 is in use by {domain}"
        ));
    }
    shared
        .validation
        .lock()
        .unwrap()
        .releasing
        .remove(&arn)
        .then(|| format!("Certificate {arn} in account 123456789012 is in use"))
}

fn plain(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The text between `<tag>` and `</tag>` in `xml`, the first time.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..start + end])
}

/// Notes what a carried-out ChangeResourceRecordSets did to CNAME records.
pub(crate) fn note_change(shared: &Shared, sent: &[u8]) {
    let text = String::from_utf8_lossy(sent);
    let mut v = shared.validation.lock().unwrap();
    for change in text.split("<Change>").skip(1) {
        let (Some(action), Some(name), Some(ty)) = (
            element(change, "Action"),
            element(change, "Name"),
            element(change, "Type"),
        ) else {
            continue;
        };
        if ty.trim() != "CNAME" {
            continue;
        }
        match action.trim() {
            "CREATE" | "UPSERT" => {
                v.written.insert(plain(name));
            }
            "DELETE" => {
                v.written.remove(&plain(name));
            }
            _ => {}
        }
    }
}

/// DescribeCertificate's answer as AWS would give it, when it differs from moto's.
pub(crate) fn describe_answer(shared: &Shared, body: &[u8]) -> Option<Bytes> {
    let mut doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let cert = doc.get_mut("Certificate")?.as_object_mut()?;
    if cert.get("Type").and_then(|t| t.as_str()) != Some("AMAZON_ISSUED") {
        return None;
    }
    let arn = cert.get("CertificateArn")?.as_str()?.to_string();
    let mut v = shared.validation.lock().unwrap();
    let mut changed = false;
    let names: Vec<String> = cert
        .get("DomainValidationOptions")
        .and_then(|o| o.as_array())
        .map(|opts| {
            opts.iter()
                .filter_map(|o| o.pointer("/ResourceRecord/Name").and_then(|n| n.as_str()))
                .map(plain)
                .collect()
        })
        .unwrap_or_default();
    let validated = v.issued.contains(&arn)
        || (!names.is_empty() && names.iter().all(|n| v.written.contains(n)));
    if cert.get("Status").and_then(|s| s.as_str()) == Some("ISSUED") && !validated {
        cert.insert("Status".into(), "PENDING_VALIDATION".into());
        for key in ["IssuedAt", "NotBefore", "NotAfter"] {
            cert.remove(key);
        }
        if let Some(opts) = cert
            .get_mut("DomainValidationOptions")
            .and_then(|o| o.as_array_mut())
        {
            for o in opts {
                o["ValidationStatus"] = "PENDING_VALIDATION".into();
            }
        }
        changed = true;
    } else if cert.get("Status").and_then(|s| s.as_str()) == Some("ISSUED") {
        v.issued.insert(arn.clone());
    }
    let pending = cert.get("Status").and_then(|s| s.as_str()) == Some("PENDING_VALIDATION");
    if pending && v.described.insert(arn) {
        if let Some(opts) = cert
            .get_mut("DomainValidationOptions")
            .and_then(|o| o.as_array_mut())
        {
            for o in opts.iter_mut().filter_map(|o| o.as_object_mut()) {
                o.remove("ResourceRecord");
            }
        }
        changed = true;
    }
    changed.then(|| Bytes::from(doc.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_is_issued_only_once_its_cname_is_written() {
        let shared = Shared::default();
        let moto = serde_json::json!({"Certificate": {
            "CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/1",
            "Type": "AMAZON_ISSUED", "Status": "ISSUED", "NotAfter": 1.0,
            "DomainValidationOptions": [{"DomainName": "api.example.com",
                "ValidationStatus": "SUCCESS",
                "ResourceRecord": {"Name": "_x.api.example.com.", "Type": "CNAME", "Value": "_y.acm-validations.aws."}}]
        }})
        .to_string();
        // First: pending, and no record yet.
        let first: serde_json::Value =
            serde_json::from_slice(&describe_answer(&shared, moto.as_bytes()).unwrap()).unwrap();
        assert_eq!(first["Certificate"]["Status"], "PENDING_VALIDATION");
        assert!(first["Certificate"]["DomainValidationOptions"][0]
            .get("ResourceRecord")
            .is_none());
        assert!(first["Certificate"].get("NotAfter").is_none());
        // Then the record, still pending.
        let second: serde_json::Value =
            serde_json::from_slice(&describe_answer(&shared, moto.as_bytes()).unwrap()).unwrap();
        assert_eq!(second["Certificate"]["Status"], "PENDING_VALIDATION");
        assert_eq!(
            second["Certificate"]["DomainValidationOptions"][0]["ResourceRecord"]["Name"],
            "_x.api.example.com."
        );
        // The CNAME written: moto's answer stands.
        note_change(
            &shared,
            b"<ChangeBatch><Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>_X.api.example.com</Name><Type>CNAME</Type></ResourceRecordSet></Change></Changes></ChangeBatch>",
        );
        assert!(describe_answer(&shared, moto.as_bytes()).is_none());
        // Deleted again: an issued certificate stays issued.
        note_change(
            &shared,
            b"<Change><Action>DELETE</Action><ResourceRecordSet><Name>_x.api.example.com.</Name><Type>CNAME</Type></ResourceRecordSet></Change>",
        );
        assert!(describe_answer(&shared, moto.as_bytes()).is_none());
        // Another certificate for the same name, requested after the deletion, waits.
        let other = moto.replace("certificate/1", "certificate/2");
        let answer: serde_json::Value =
            serde_json::from_slice(&describe_answer(&shared, other.as_bytes()).unwrap()).unwrap();
        assert_eq!(answer["Certificate"]["Status"], "PENDING_VALIDATION");
    }
}
