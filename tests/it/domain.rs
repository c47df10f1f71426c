//! The stack's own domain: certificate, validation records, domain name, base path mapping
//! and alias records deployed to the emulator (its ACM issues after MOTO_ACM_VALIDATION_WAIT
//! seconds whatever DNS says), checked for drift part by part, resumed after a kill during the
//! certificate wait, torn down to nothing, and the mistakes refused before any change.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::{self, block_on, Emulator, World};

const NAME: &str = "api.example.com";

/// A one-route project with `[domain]` (extra lines appended to it).
fn project(w: &World, domain: &str) -> PathBuf {
    let dir = w.dir.path().join("shopfront");
    std::fs::create_dir_all(dir.join("handler")).unwrap();
    std::fs::write(
        dir.join("handler/index.mjs"),
        "export const handler = async () => ({ statusCode: 200, body: 'hello' });\n",
    )
    .unwrap();
    let file = dir.join("serverless-cli.toml");
    std::fs::write(
        &file,
        format!(
            r#"[api]
integration = "proxy"

[functions.hello]
code = "handler"
handler = "index.handler"

[[routes]]
method = "GET"
path = "/hello"
function = "hello"

[domain]
{domain}
"#
        ),
    )
    .unwrap();
    file
}

struct Dns {
    route53: aws_sdk_route53::Client,
    acm: aws_sdk_acm::Client,
}

fn dns(w: &World) -> Dns {
    dns_at(&w.emulator.url)
}

/// Clients at `url` (the proxy's: what AWS would answer where the proxy puts its rules back).
fn dns_at(url: &str) -> Dns {
    let config = support::sdk_config(url);
    Dns {
        route53: aws_sdk_route53::Client::new(&config),
        acm: aws_sdk_acm::Client::new(&config),
    }
}

impl Dns {
    /// A public (or private) hosted zone; its id.
    fn zone(&self, name: &str, private: bool) -> String {
        let mut req = self
            .route53
            .create_hosted_zone()
            .name(name)
            .caller_reference(format!("{name}-{private}"));
        if private {
            req = req
                .vpc(
                    aws_sdk_route53::types::Vpc::builder()
                        .vpc_id("vpc-12345678")
                        .vpc_region(aws_sdk_route53::types::VpcRegion::UsEast1)
                        .build(),
                )
                .hosted_zone_config(
                    aws_sdk_route53::types::HostedZoneConfig::builder()
                        .private_zone(true)
                        .build(),
                );
        }
        let out = block_on(req.send()).unwrap();
        out.hosted_zone()
            .unwrap()
            .id()
            .trim_start_matches("/hostedzone/")
            .to_string()
    }

    /// Every record of the zone but its SOA and NS: (name, type, value or alias target,
    /// alias zone).
    fn records(&self, zone: &str) -> Vec<(String, String, String, String)> {
        let out = block_on(
            self.route53
                .list_resource_record_sets()
                .hosted_zone_id(zone)
                .send(),
        )
        .unwrap();
        out.resource_record_sets()
            .iter()
            .filter(|s| !matches!(s.r#type().as_str(), "SOA" | "NS"))
            .map(|s| {
                let (value, alias_zone) = match s.alias_target() {
                    Some(a) => (a.dns_name().to_string(), a.hosted_zone_id().to_string()),
                    None => (
                        s.resource_records()
                            .first()
                            .map(|r| r.value().to_string())
                            .unwrap_or_default(),
                        String::new(),
                    ),
                };
                (
                    s.name().trim_end_matches('.').to_string(),
                    s.r#type().as_str().to_string(),
                    value.trim_end_matches('.').to_string(),
                    alias_zone,
                )
            })
            .collect()
    }

    fn certificates(&self) -> Vec<(String, String)> {
        let out = block_on(self.acm.list_certificates().send()).unwrap();
        out.certificate_summary_list()
            .iter()
            .map(|c| {
                (
                    c.certificate_arn().unwrap_or_default().to_string(),
                    c.domain_name().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Deletes or changes one record by hand.
    fn change(
        &self,
        zone: &str,
        action: &str,
        name: &str,
        ty: &str,
        value: &str,
        alias_zone: &str,
    ) {
        use aws_sdk_route53::types::*;
        let mut set = ResourceRecordSet::builder()
            .name(name)
            .r#type(RrType::from(ty));
        set = if alias_zone.is_empty() {
            set.ttl(300)
                .resource_records(ResourceRecord::builder().value(value).build().unwrap())
        } else {
            set.alias_target(
                AliasTarget::builder()
                    .hosted_zone_id(alias_zone)
                    .dns_name(value)
                    .evaluate_target_health(false)
                    .build()
                    .unwrap(),
            )
        };
        let change = Change::builder()
            .action(ChangeAction::from(action))
            .resource_record_set(set.build().unwrap())
            .build()
            .unwrap();
        block_on(
            self.route53
                .change_resource_record_sets()
                .hosted_zone_id(zone)
                .change_batch(ChangeBatch::builder().changes(change).build().unwrap())
                .send(),
        )
        .unwrap();
    }
}

fn status_row<'a>(status: &'a serde_json::Value, key_part: &str) -> &'a serde_json::Value {
    status["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r.to_string().contains(key_part))
        .unwrap_or_else(|| panic!("no status row about {key_part}: {status}"))
}

#[test]
fn a_domain_is_deployed_checked_repaired_and_torn_down() {
    let w = World::with_emulator(Emulator::start_with(&[("MOTO_ACM_VALIDATION_WAIT", "1")]));
    let d = dns(&w);
    let zone = d.zone("example.com", false);
    let file = project(
        &w,
        "name = \"api.example.com\"\nzone = \"example.com\"\nbase_path = \"v1\"",
    );
    let f = file.to_str().unwrap();

    let plan = w.run(&["plan", "--file", f, "--output", "json"]);
    assert_eq!(plan.code, 3, "{plan}");
    for key in [
        "certificate:api.example.com",
        "certificate-validation:api.example.com",
        "domain-name:api.example.com",
        "base-path-mapping:api.example.com",
        "domain-records:api.example.com",
    ] {
        assert!(plan.stdout.contains(key), "plan names {key}: {plan}");
    }

    let run = w.run(&["deploy", "--file", f, "--output", "json"]).ok();
    let doc = run.json();
    assert_eq!(doc["url"], "https://api.example.com/v1", "{doc}");
    assert!(
        run.stderr.contains("not checked against an emulator"),
        "{run}"
    );

    // One certificate, for the name, tagged as this stack's.
    let certs = d.certificates();
    assert_eq!(certs.len(), 1, "{certs:?}");
    assert_eq!(certs[0].1, NAME);
    let tags = block_on(
        d.acm
            .list_tags_for_certificate()
            .certificate_arn(&certs[0].0)
            .send(),
    )
    .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == "serverless-cli:stack" && t.value() == Some("shopfront/prod")),
        "{tags:?}"
    );
    // The domain name: regional, TLS 1.2, with the certificate; the stage at /v1.
    let apigw = w.aws().apigateway;
    let dn = block_on(apigw.get_domain_name().domain_name(NAME).send()).unwrap();
    assert_eq!(dn.regional_certificate_arn(), Some(certs[0].0.as_str()));
    assert_eq!(dn.security_policy().map(|p| p.as_str()), Some("TLS_1_2"));
    let target = dn.regional_domain_name().unwrap().to_string();
    let api = w.aws().only_api();
    let m = block_on(
        apigw
            .get_base_path_mapping()
            .domain_name(NAME)
            .base_path("v1")
            .send(),
    )
    .unwrap();
    assert_eq!(m.rest_api_id(), Some(api.as_str()));
    assert_eq!(m.stage(), Some("prod"));
    // The records: ACM's CNAME, and A and AAAA aliases to the domain name in us-east-1's zone
    // for API Gateway (AWS's id, not the one moto answers for every region).
    let records = d.records(&zone);
    let cname = records
        .iter()
        .find(|r| r.1 == "CNAME")
        .expect("the validation CNAME");
    assert!(
        cname.0.ends_with(NAME) && cname.0.starts_with('_'),
        "{records:?}"
    );
    for ty in ["A", "AAAA"] {
        assert!(
            records.contains(&(
                NAME.to_string(),
                ty.to_string(),
                target.clone(),
                "Z1UJRXOUMOOFQ8".to_string()
            )),
            "{ty}: {records:?}"
        );
    }

    // status: in sync, the certificate's status and expiry shown.
    let st = w.run(&["status", "--file", f, "--output", "json"]);
    assert_eq!(st.code, 0, "{st}");
    let status = st.json();
    assert!(
        status["url"]
            .as_str()
            .unwrap_or_default()
            .contains("api.example.com/v1"),
        "{status}"
    );
    assert!(
        status_row(&status, "ISSUED")
            .to_string()
            .contains("expires"),
        "{status}"
    );

    // Drift, part by part: an alias pointing elsewhere; the mapping moved to another API.
    d.change(
        &zone,
        "UPSERT",
        NAME,
        "A",
        "elsewhere.example.net",
        "Z1UJRXOUMOOFQ8",
    );
    let other = block_on(apigw.create_rest_api().name("not-ours").send()).unwrap();
    let other_id = other.id().unwrap();
    let root = block_on(apigw.get_resources().rest_api_id(other_id).send()).unwrap();
    let root_id = root.items()[0].id().unwrap().to_string();
    block_on(
        apigw
            .put_method()
            .rest_api_id(other_id)
            .resource_id(&root_id)
            .http_method("GET")
            .authorization_type("NONE")
            .send(),
    )
    .unwrap();
    block_on(
        apigw
            .put_integration()
            .rest_api_id(other_id)
            .resource_id(&root_id)
            .http_method("GET")
            .r#type(aws_sdk_apigateway::types::IntegrationType::Mock)
            .send(),
    )
    .unwrap();
    block_on(
        apigw
            .create_deployment()
            .rest_api_id(other_id)
            .stage_name("live")
            .send(),
    )
    .unwrap();
    block_on(
        apigw
            .delete_base_path_mapping()
            .domain_name(NAME)
            .base_path("v1")
            .send(),
    )
    .unwrap();
    block_on(
        apigw
            .create_base_path_mapping()
            .domain_name(NAME)
            .base_path("v1")
            .rest_api_id(other_id)
            .stage("live")
            .send(),
    )
    .unwrap();
    let st = w.run(&["status", "--file", f, "--output", "json"]);
    assert_eq!(st.code, 3, "{st}");
    let text = st.stdout.clone();
    assert!(text.contains("points to elsewhere.example.net"), "{text}");
    assert!(
        text.contains(&format!("maps API {other_id} stage live")),
        "{text}"
    );
    w.run(&["deploy", "--file", f]).ok();
    let st = w.run(&["status", "--file", f]);
    assert_eq!(st.code, 0, "repaired: {st}");
    let m = block_on(
        apigw
            .get_base_path_mapping()
            .domain_name(NAME)
            .base_path("v1")
            .send(),
    )
    .unwrap();
    assert_eq!(m.rest_api_id(), Some(api.as_str()));

    // A validation record deleted by hand is missing, and written again.
    d.change(&zone, "DELETE", &cname.0, "CNAME", &cname.2, "");
    let st = w.run(&["status", "--file", f]);
    assert_eq!(st.code, 3, "{st}");
    assert!(st.stdout.contains("is gone from the zone"), "{st}");
    w.run(&["deploy", "--file", f]).ok();
    assert!(
        d.records(&zone).iter().any(|r| r.1 == "CNAME"),
        "written again"
    );
    assert_eq!(d.certificates().len(), 1, "no second certificate");

    // Teardown leaves no record, mapping, domain name or certificate; the certificate, still
    // in use for a moment after its domain name is deleted (the proxy answers as AWS does),
    // is deleted once API Gateway lets go of it.
    w.run(&["teardown", "--file", f, "--yes"]).ok();
    assert!(
        w.proxy
            .injected()
            .contains(&"acm:DeleteCertificate ResourceInUseException".to_string()),
        "{:?}",
        w.proxy.injected()
    );
    assert_eq!(d.records(&zone), Vec::new());
    assert!(block_on(apigw.get_domain_name().domain_name(NAME).send()).is_err());
    assert_eq!(d.certificates(), Vec::new());
    // The other API's own things are left alone.
    assert!(block_on(apigw.get_rest_api().rest_api_id(other_id).send()).is_ok());
}

#[test]
fn a_killed_certificate_wait_resumes_on_the_same_certificate() {
    let w = World::with_emulator(Emulator::start_with(&[("MOTO_ACM_VALIDATION_WAIT", "6")]));
    let d = dns(&w);
    let zone = d.zone("example.com", false);
    let file = project(&w, "name = \"api.example.com\"\nzone = \"example.com\"");
    let f = file.to_str().unwrap();

    // --no-wait: the validation record is made, the rest of the stack deployed, the domain
    // left for later.
    let run = w.run(&["deploy", "--file", f, "--no-wait"]).ok();
    assert!(run.stderr.contains("pending validation"), "{run}");
    assert!(d.records(&zone).iter().any(|r| r.1 == "CNAME"));
    let st = w.run(&["status", "--file", f]);
    assert_eq!(st.code, 3, "{st}");
    assert!(st.stdout.contains("pending validation"), "{st}");
    assert!(block_on(
        w.aws()
            .apigateway
            .get_domain_name()
            .domain_name(NAME)
            .send()
    )
    .is_err());
    let plan = w.run(&["plan", "--file", f]);
    assert_eq!(plan.code, 3, "deploy would continue: {plan}");
    assert!(
        plan.stdout
            .contains("certificate-validation:api.example.com"),
        "{plan}"
    );

    // A deploy killed while it waits for ACM.
    let mut child = w.command(&["deploy", "--file", f]).spawn().unwrap();
    assert!(w
        .proxy
        .wait_for("acm:DescribeCertificate", Duration::from_secs(60)));
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    let _ = child.wait();
    assert!(block_on(
        w.aws()
            .apigateway
            .get_domain_name()
            .domain_name(NAME)
            .send()
    )
    .is_err());

    // The next deploy waits for the same certificate and finishes the domain.
    let run = w.run(&["deploy", "--file", f]).ok();
    assert!(
        run.stderr.contains("waiting for ACM to issue it") || run.stderr.contains("issued"),
        "{run}"
    );
    let certs = d.certificates();
    assert_eq!(certs.len(), 1, "one certificate, not two: {certs:?}");
    assert!(block_on(
        w.aws()
            .apigateway
            .get_domain_name()
            .domain_name(NAME)
            .send()
    )
    .is_ok());
    assert_eq!(w.run(&["status", "--file", f]).code, 0);
    assert_eq!(w.proxy.count("acm:RequestCertificate"), 1);

    w.run(&["teardown", "--file", f, "--yes"]).ok();
    assert_eq!(d.records(&zone), Vec::new());
    assert_eq!(d.certificates(), Vec::new());
}

#[test]
fn domain_mistakes_are_refused_before_any_change() {
    let w = World::new();
    let d = dns(&w);
    d.zone("example.com", false);
    d.zone("internal.example", true);
    let cases: &[(&str, &str)] = &[
        // Name outside the zone (the file's own check: no call at all).
        ("name = \"api.example.org\"\nzone = \"example.com\"", "is not in the zone example.com"),
        // No zone of that name in the account.
        ("name = \"api.example.net\"\nzone = \"example.net\"", "has no Route53 hosted zone named example.net"),
        // A private zone.
        ("name = \"api.internal.example\"\nzone = \"internal.example\"", "is private"),
        // A brought certificate in the wrong region (regional: the API's).
        (
            "name = \"api.example.com\"\nzone = \"example.com\"\ncertificate_arn = \"arn:aws:acm:eu-west-1:123456789012:certificate/abc\"",
            "a regional domain needs it in the API's region, us-east-1",
        ),
        // An edge domain's certificate outside us-east-1.
        (
            "name = \"api.example.com\"\nzone = \"example.com\"\nendpoint = \"edge\"\ncertificate_arn = \"arn:aws:acm:eu-west-1:123456789012:certificate/abc\"",
            "an edge domain needs it in us-east-1",
        ),
        // A brought certificate that does not exist.
        (
            "name = \"api.example.com\"\nzone = \"example.com\"\ncertificate_arn = \"arn:aws:acm:us-east-1:123456789012:certificate/0000\"",
            "there is no certificate",
        ),
        // Zone given twice; a base path with a slash.
        ("name = \"api.example.com\"\nzone = \"example.com\"\nzone_id = \"Z123\"", "give the hosted zone once"),
        ("name = \"api.example.com\"\nzone = \"example.com\"\nbase_path = \"/v1\"", "is one path segment"),
    ];
    for (domain, message) in cases {
        w.proxy.clear();
        let file = project(&w, domain);
        let run = w.run(&["deploy", "--file", file.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{domain}: {run}");
        assert!(run.stderr.contains(message), "{domain}: {run}");
        assert_eq!(w.mutating_calls(), Vec::<String>::new(), "{domain}");
        assert!(
            !w.state_dir().exists()
                || std::fs::read_dir(w.state_dir()).unwrap().all(|e| !e
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".json")),
            "{domain}: no state written"
        );
    }
    // The file's own checks and the region's need no call at all.
    for domain in [cases[0].0, cases[3].0, cases[4].0] {
        w.proxy.clear();
        let file = project(&w, domain);
        let run = w.run(&["deploy", "--file", file.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{run}");
        assert_eq!(w.proxy.calls().len(), 0, "{domain}: {:?}", w.proxy.calls());
    }
    // Someone else's record of the name: refused before the certificate is asked for.
    let zone = block_on(
        d.route53
            .list_hosted_zones_by_name()
            .dns_name("example.com")
            .send(),
    )
    .unwrap()
    .hosted_zones()[0]
        .id()
        .trim_start_matches("/hostedzone/")
        .to_string();
    d.change(&zone, "UPSERT", NAME, "CNAME", "someone.example.net", "");
    let file = project(&w, "name = \"api.example.com\"\nzone = \"example.com\"");
    w.proxy.clear();
    let run = w.run(&["deploy", "--file", file.to_str().unwrap()]);
    assert_eq!(run.code, 5, "{run}");
    assert!(
        run.stderr
            .contains("will not overwrite a record it did not write"),
        "{run}"
    );
    assert_eq!(w.mutating_calls(), Vec::<String>::new());
    assert!(
        d.records(&zone)
            .iter()
            .any(|r| r.2 == "someone.example.net"),
        "left alone"
    );
    assert_eq!(d.certificates(), Vec::new());
    d.change(&zone, "DELETE", NAME, "CNAME", "someone.example.net", "");

    // A brought certificate still pending validation is refused, by name.
    let pending = block_on(
        d.acm
            .request_certificate()
            .domain_name(NAME)
            .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
            .send(),
    )
    .unwrap();
    let arn = pending.certificate_arn().unwrap();
    let file = project(
        &w,
        &format!("name = \"api.example.com\"\nzone = \"example.com\"\ncertificate_arn = \"{arn}\""),
    );
    w.proxy.clear();
    let run = w.run(&["deploy", "--file", file.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stderr.contains("PENDING_VALIDATION, not ISSUED"),
        "{run}"
    );
    assert_eq!(w.mutating_calls(), Vec::<String>::new());
}

#[test]
fn a_brought_certificate_is_used_and_never_removed() {
    let w = World::with_emulator(Emulator::start_with(&[("MOTO_ACM_VALIDATION_WAIT", "0")]));
    let d = dns(&w);
    let zone = d.zone("example.com", false);
    // The user's own certificate, validated by the user's own CNAME, through the proxy (which
    // issues a certificate only once its CNAME is written, and lists that record only from
    // the second description on).
    let mine = dns_at(&w.proxy.url);
    let requested = block_on(
        mine.acm
            .request_certificate()
            .domain_name(NAME)
            .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
            .send(),
    )
    .unwrap();
    let arn = requested.certificate_arn().unwrap().to_string();
    let describe = || {
        block_on(mine.acm.describe_certificate().certificate_arn(&arn).send())
            .unwrap()
            .certificate
            .unwrap()
    };
    let first = describe();
    assert!(first.domain_validation_options()[0]
        .resource_record()
        .is_none());
    let second = describe();
    assert_eq!(second.status().unwrap().as_str(), "PENDING_VALIDATION");
    let record = second.domain_validation_options()[0]
        .resource_record()
        .unwrap()
        .clone();
    mine.change(&zone, "UPSERT", record.name(), "CNAME", record.value(), "");
    assert_eq!(describe().status().unwrap().as_str(), "ISSUED");

    let file = project(
        &w,
        &format!("name = \"api.example.com\"\nzone = \"example.com\"\ncertificate_arn = \"{arn}\""),
    );
    let f = file.to_str().unwrap();
    w.proxy.clear();
    w.run(&["deploy", "--file", f]).ok();
    assert_eq!(w.proxy.count("acm:RequestCertificate"), 0);
    let dn = block_on(
        w.aws()
            .apigateway
            .get_domain_name()
            .domain_name(NAME)
            .send(),
    )
    .unwrap();
    assert_eq!(dn.regional_certificate_arn(), Some(arn.as_str()));
    assert_eq!(w.run(&["status", "--file", f]).code, 0);

    w.run(&["teardown", "--file", f, "--yes"]).ok();
    assert!(block_on(
        w.aws()
            .apigateway
            .get_domain_name()
            .domain_name(NAME)
            .send()
    )
    .is_err());
    // The certificate and its CNAME are the user's: both still there.
    assert_eq!(d.certificates(), vec![(arn.clone(), NAME.to_string())]);
    let left = d.records(&zone);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].1, "CNAME");
}

#[test]
fn a_new_name_replaces_the_domain_and_its_certificate() {
    let w = World::with_emulator(Emulator::start_with(&[("MOTO_ACM_VALIDATION_WAIT", "0")]));
    let d = dns(&w);
    let zone = d.zone("example.com", false);
    let file = project(&w, "name = \"api.example.com\"\nzone = \"example.com\"");
    let f = file.to_str().unwrap();
    w.run(&["deploy", "--file", f]).ok();
    let old_cert = d.certificates();
    assert_eq!(old_cert.len(), 1);

    let file = project(&w, "name = \"www.example.com\"\nzone = \"example.com\"");
    let plan = w.run(&["plan", "--file", f, "--output", "json"]);
    assert_eq!(plan.code, 3, "{plan}");
    let plan = plan.json();
    let change = |key: &str| {
        plan["resource_changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == key)
            .unwrap_or_else(|| panic!("no change of {key}: {plan}"))
            .clone()
    };
    for key in ["certificate:www.example.com", "domain-name:www.example.com"] {
        let c = change(key);
        assert_eq!(c["action"], "create", "{c}");
        assert!(
            c["reason"]
                .as_str()
                .unwrap()
                .contains("replaces api.example.com's"),
            "{c}"
        );
    }
    for key in [
        "certificate:api.example.com",
        "certificate-validation:api.example.com",
        "domain-name:api.example.com",
        "base-path-mapping:api.example.com",
        "domain-records:api.example.com",
    ] {
        assert_eq!(change(key)["action"], "delete", "{key}: {plan}");
    }

    w.run(&["deploy", "--file", file.to_str().unwrap()]).ok();
    let apigw = &w.aws().apigateway;
    assert!(block_on(
        apigw
            .get_domain_name()
            .domain_name("www.example.com")
            .send()
    )
    .is_ok());
    assert!(block_on(apigw.get_domain_name().domain_name(NAME).send()).is_err());
    let certs = d.certificates();
    assert_eq!(certs.len(), 1, "{certs:?}");
    assert_eq!(certs[0].1, "www.example.com");
    assert!(
        d.records(&zone).iter().all(|r| !r.0.ends_with(NAME)),
        "api.example.com's records are gone: {:?}",
        d.records(&zone)
    );
    assert_eq!(w.run(&["status", "--file", f]).code, 0);

    // The endpoint of a deployed domain changed: refused with the steps, nothing changed.
    project(
        &w,
        "name = \"www.example.com\"\nzone = \"example.com\"\nendpoint = \"edge\"",
    );
    w.proxy.clear();
    let run = w.run(&["deploy", "--file", f]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("[domain] endpoint"), "{run}");
    assert_eq!(w.mutating_calls(), Vec::<String>::new());
    project(&w, "name = \"www.example.com\"\nzone = \"example.com\"");

    w.run(&["teardown", "--file", f, "--yes"]).ok();
    assert_eq!(d.records(&zone), Vec::new());
    assert_eq!(d.certificates(), Vec::new());
}
