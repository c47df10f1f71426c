//! API Gateway's account quotas, which moto does not have, put back by the proxy's quota mode
//! (docs/aws.md, "API Gateway's account quotas"): the proxy refuses what AWS would refuse, and the tool waits out
//! every 429 it meets, alone and beside another run in the same account.

use crate::support;

use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use support::{block_on, World};

/// An API Gateway client through the proxy with the SDK's retries off: every 429 is seen.
fn apigateway_via_proxy(w: &World) -> aws_sdk_apigateway::Client {
    aws_sdk_apigateway::Client::from_conf(
        aws_sdk_apigateway::config::Builder::from(&support::sdk_config(&w.proxy.url))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build(),
    )
}

/// (answered, refused with 429, the Retry-After of the refusals) for `n` calls sent at once.
fn burst<F, Fut, T, E>(n: usize, call: F) -> (usize, usize, Vec<String>)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
{
    block_on(async {
        let answers = futures::future::join_all((0..n).map(|_| call())).await;
        let (mut ok, mut refused, mut after) = (0, 0, Vec::new());
        for a in answers {
            match a {
                Ok(_) => ok += 1,
                Err(e) => {
                    let raw = e.raw_response().expect("an answer");
                    assert_eq!(raw.status().as_u16(), 429);
                    refused += 1;
                    after.push(raw.headers().get("retry-after").unwrap_or("").to_string());
                }
            }
        }
        (ok, refused, after)
    })
}

/// Drains the account's shared bucket, as another tool in the account would.
fn drain(c: &aws_sdk_apigateway::Client) {
    let (ok, _, _) = burst(60, || c.get_rest_apis().send());
    assert!(ok >= 40, "the burst of 40 answered first ({ok})");
}

#[test]
fn the_proxy_enforces_api_gateways_account_quotas() {
    let w = World::new();
    w.proxy.enforce_quotas(1.0);
    let c = apigateway_via_proxy(&w);

    // The shared bucket: a burst of 40, then 10 a second; the refusals ask for a second.
    let (ok, refused, after) = burst(50, || c.get_rest_apis().send());
    assert!(
        (40..=44).contains(&ok),
        "answered {ok} (a burst of 40, and 10 a second while the 50 arrive)"
    );
    assert_eq!(ok + refused, 50);
    assert!(refused >= 6 && after.iter().all(|a| a == "1"), "{after:?}");
    // A refused call is not forwarded, and costs no token: what passed is what the emulator
    // saw.
    assert_eq!(w.proxy.throttled()["GetRestApis"], refused);
    assert_eq!(w.proxy.admitted()["GetRestApis"], ok);

    // An operation with a quota of its own: CreateRestApi, 1 per 3 s.
    let (ok, refused, after) = burst(3, || c.create_rest_api().name("q").send());
    assert_eq!((ok, refused), (1, 2));
    assert!(after.iter().all(|a| a == "3"), "{after:?}");
    let apis = block_on(w.aws().apigateway.get_rest_apis().send()).unwrap();
    assert_eq!(apis.items().len(), 1, "the refused creates were not made");
    let id = apis.items()[0].id().unwrap().to_string();
    // CreateDeployment, 1 per 5 s (the API needs a method first).
    let root = block_on(c.get_resources().rest_api_id(&id).send())
        .unwrap()
        .items()[0]
        .id()
        .unwrap()
        .to_string();
    std::thread::sleep(Duration::from_millis(1100)); // the shared bucket refills
    block_on(
        c.put_method()
            .rest_api_id(&id)
            .resource_id(&root)
            .http_method("GET")
            .authorization_type("NONE")
            .send(),
    )
    .unwrap();
    block_on(
        c.put_integration()
            .rest_api_id(&id)
            .resource_id(&root)
            .http_method("GET")
            .r#type(aws_sdk_apigateway::types::IntegrationType::Mock)
            .send(),
    )
    .unwrap();
    let (ok, refused, after) = burst(2, || c.create_deployment().rest_api_id(&id).send());
    assert_eq!((ok, refused), (1, 1));
    assert_eq!(after, ["5"]);
}

/// Two runs deploy two stacks in one account at once, in an account whose burst another tool
/// has just spent: every 429 (the shared bucket, CreateRestApi's 1 per 3 s, CreateDeployment's
/// 1 per 5 s) is waited out as `Retry-After` says, and none reaches the user.
#[test]
fn two_deploys_in_one_account_wait_out_every_429() {
    let w = World::new();
    w.proxy.enforce_quotas(1.0);
    let c = apigateway_via_proxy(&w);
    drain(&c);
    // AWS's real waits: the tool's retry scale at 1.
    let env = [("SERVERLESS_CLI_RETRY_SCALE", "1")];
    let spawn = |stack: &str| {
        let mut cmd = w.command(&["--stack", stack, "deploy"]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.spawn().unwrap()
    };
    let (a, b) = (spawn("qa"), spawn("qb"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(a.status.success(), "{}", text(&a));
    assert!(b.status.success(), "{}", text(&b));
    let throttled = w.proxy.throttled();
    assert!(
        throttled.get("CreateRestApi").copied().unwrap_or(0) >= 1,
        "{throttled:?}"
    );
    assert!(throttled.values().sum::<usize>() >= 2, "{throttled:?}");
    let waits = format!("{}{}", text(&a), text(&b));
    assert!(
        waits.contains("Retry-After 3"),
        "the CreateRestApi wait said: {waits}"
    );
    for stack in ["qa", "qb"] {
        let status = w.run_env(&env, &["--stack", stack, "status"]);
        assert_eq!(status.code, 0, "{status}");
    }
    // Torn down without the quotas (DeleteRestApi's 1 per 30 s is not what this tests).
    w.proxy.stop_quotas();
    for stack in ["qa", "qb"] {
        w.run(&["--stack", stack, "teardown", "--yes"]).ok();
    }
    w.assert_nothing_left("two deploys under the quotas");
}

/// Status (and the round of reads a deploy starts with) reads every route's method and
/// integration with one GetResources?embed=methods instead of a GetMethod and a
/// GetIntegration per route: one round for any number of routes. A route drifted behind the
/// stack's back is still found, and named.
#[test]
fn status_of_a_big_api_reads_it_once_and_still_finds_a_drifted_route() {
    let w = World::new();
    let dir = w.dir.path().join("ten");
    // Built a call per part (an API of 10 routes is built from its document by default).
    let file = support::gen_stack_with(10, &dir, &["--build", "calls"]);
    let file = file.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["--stack", "ten", "--file", file];
        all.extend_from_slice(args);
        w.run(&all)
    };
    run(&["deploy"]).ok();
    w.proxy.clear();
    let status = run(&["status"]);
    assert_eq!(status.code, 0, "{status}");
    assert_eq!(w.proxy.count("apigateway:GetMethod"), 0);
    assert_eq!(w.proxy.count("apigateway:GetIntegration"), 0);
    assert!(
        w.proxy.count("apigateway:GetResources") <= 2,
        "{:?}",
        w.proxy.calls()
    );

    // One route's integration response deleted by hand: drifted, and named.
    let aws = w.aws();
    let api = aws.only_api();
    let r2 = aws.resource_ids(&api)["/r2/{uid}"].clone();
    block_on(async {
        aws.apigateway
            .delete_integration_response()
            .rest_api_id(&api)
            .resource_id(&r2)
            .http_method("DELETE")
            .status_code("404")
            .send()
            .await
            .unwrap();
    });
    let drifted = run(&["status"]);
    assert_eq!(drifted.code, 3, "{drifted}");
    assert!(drifted.stdout.contains("DELETE /r2/{uid}"), "{drifted}");
    run(&["deploy"]).ok();
    assert_eq!(run(&["status"]).code, 0);
    run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("a big API's status");
}
