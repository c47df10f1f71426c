//! `rollback`: every deploy that changes a function publishes a version and points the
//! function's `live` alias at it; the API invokes the alias. The state keeps the last
//! deployments (the API deployment and each alias's version); rollback moves the stage and
//! every alias back together, in one round of calls, nothing rebuilt; status and plan say the
//! stack differs from its file; deploy rolls forward. A crash between the moves is finished
//! by the next rollback or deploy; versions past the kept deployments are deleted; bad
//! requests change nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support;

use support::{block_on, read_state, World};

/// A project `roll` with two proxy functions (`hello` answers `body`), and a third route when
/// `more`; its stack file's path.
fn project(w: &World, body: &str, more: bool, keep: Option<usize>) -> PathBuf {
    let dir = w.dir.path().join("roll");
    for (f, text) in [("hello", body), ("other", "other")] {
        std::fs::create_dir_all(dir.join(f)).unwrap();
        std::fs::write(
            dir.join(f).join("index.mjs"),
            format!(
                "export const handler = async () => ({{ statusCode: 200, body: \"{text}\" }});\n"
            ),
        )
        .unwrap();
    }
    let mut toml = String::from("[api]\nintegration = \"proxy\"\n");
    if let Some(k) = keep {
        toml.push_str(&format!("keep_deployments = {k}\n"));
    }
    toml.push_str(
        "\n[functions.hello]\ncode = \"hello\"\n\n[functions.other]\ncode = \"other\"\n\n[[routes]]\nmethod = \"GET\"\npath = \"/hello\"\nfunction = \"hello\"\n\n[[routes]]\nmethod = \"GET\"\npath = \"/other\"\nfunction = \"other\"\n",
    );
    if more {
        toml.push_str(
            "\n[[routes]]\nmethod = \"GET\"\npath = \"/hello/again\"\nfunction = \"hello\"\n",
        );
    }
    let path = dir.join("serverless-cli.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

fn file(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The stage's deployment and each function's live alias version, read from the emulator.
fn live(w: &World) -> (String, String, String) {
    let aws = w.aws();
    let api = aws.only_api();
    block_on(async {
        let stage = aws
            .apigateway
            .get_stage()
            .rest_api_id(&api)
            .stage_name("prod")
            .send()
            .await
            .unwrap();
        let alias = |f: &'static str| {
            let aws = &aws;
            async move {
                aws.lambda
                    .get_alias()
                    .function_name(f)
                    .name("live")
                    .send()
                    .await
                    .unwrap()
                    .function_version()
                    .unwrap()
                    .to_string()
            }
        };
        (
            stage.deployment_id().unwrap().to_string(),
            alias("roll-hello-prod").await,
            alias("roll-other-prod").await,
        )
    })
}

fn versions(w: &World, function: &str) -> Vec<String> {
    let aws = w.aws();
    block_on(async {
        let out = aws
            .lambda
            .list_versions_by_function()
            .function_name(function)
            .send()
            .await
            .unwrap();
        out.versions()
            .iter()
            .filter_map(|v| v.version())
            .filter(|v| *v != "$LATEST")
            .map(str::to_string)
            .collect()
    })
}

/// Kills (SIGKILL) a `rollback` while `held` is in flight (and after `also` was made), then
/// lets the held call complete at the emulator.
fn kill_rollback_during(w: &World, stack: &Path, held: &str, also: Option<&str>) {
    w.proxy.clear();
    let hold = w.proxy.hold(held);
    let mut child = w
        .command(&["rollback", "--file", file(stack)])
        .spawn()
        .unwrap();
    for op in std::iter::once(held).chain(also) {
        assert!(w.proxy.wait_for(op, Duration::from_secs(60)), "{op}");
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    let _ = child.wait();
    hold.release();
    std::thread::sleep(Duration::from_millis(100));
}

/// Counts a refusal checked above (exit code, message, no mutating call) for
/// scripts/reliability-report.
fn refused(what: &str) {
    support::report(
        "bad_input",
        serde_json::json!({"args": [what], "refused_cleanly": true}),
    );
}

fn stage_record(w: &World) -> serde_json::Value {
    read_state(&w.state_file("prod"))["resources"]["stage:prod"].clone()
}

#[test]
fn rollback_moves_the_stage_and_every_alias_back_together_and_deploy_rolls_forward() {
    let w = World::new();
    let a = project(&w, "A", false, None);
    w.run(&["deploy", "--file", file(&a)]).ok();
    let (dep_a, hello_a, other_a) = live(&w);
    assert_eq!((hello_a.as_str(), other_a.as_str()), ("1", "1"));
    // Every route invokes the function's live alias, whose own policy lets the API do so;
    // the function's own policy has nothing.
    let aws = w.aws();
    let api = aws.only_api();
    let uris: Vec<String> = block_on(async {
        let res = aws
            .apigateway
            .get_resources()
            .rest_api_id(&api)
            .send()
            .await
            .unwrap();
        let mut uris = Vec::new();
        for r in res.items() {
            if r.resource_methods().is_some_and(|m| m.contains_key("GET")) {
                let i = aws
                    .apigateway
                    .get_integration()
                    .rest_api_id(&api)
                    .resource_id(r.id().unwrap())
                    .http_method("GET")
                    .send()
                    .await
                    .unwrap();
                uris.push(i.uri().unwrap().to_string());
            }
        }
        uris
    });
    assert_eq!(uris.len(), 2, "{uris:?}");
    assert!(
        uris.iter().all(|u| u.ends_with(":live/invocations")),
        "{uris:?}"
    );
    assert_eq!(
        support::policy_of(&w, "roll-hello-prod"),
        [(
            "serverless-cli-apigateway-invoke".to_string(),
            format!("arn:aws:execute-api:us-east-1:123456789012:{api}/prod/*/*")
        )]
    );
    assert!(support::own_policy_of(&w, "roll-hello-prod").is_empty());

    // B: hello's code and a route changed; other's code is the same.
    let b = project(&w, "B", true, None);
    w.run(&["deploy", "--file", file(&b)]).ok();
    let (dep_b, hello_b, other_b) = live(&w);
    assert_ne!(dep_a, dep_b);
    assert_eq!((hello_b.as_str(), other_b.as_str()), ("2", "1"));
    let rec = stage_record(&w);
    let kept = rec["attrs"]["releases"].as_array().unwrap().clone();
    assert_eq!(kept.len(), 2, "{rec:#}");
    assert_eq!(kept[0]["deployment"], dep_a.as_str());
    assert_eq!(kept[1]["deployment"], dep_b.as_str());
    assert_eq!(kept[1]["versions"]["hello"], "2");

    // Rollback: one round of calls, the stage and both aliases on A's, nothing rebuilt.
    w.proxy.clear();
    let run = w
        .run(&["rollback", "--file", file(&b), "--output", "json"])
        .ok();
    let doc = run.json();
    assert_eq!(doc["to"], 1, "{doc:#}");
    assert_eq!(doc["from"], 2, "{doc:#}");
    assert_eq!(live(&w), (dep_a.clone(), "1".into(), "1".into()));
    let mut changed = w.mutating_calls();
    changed.sort();
    assert_eq!(
        changed,
        [
            "apigateway:UpdateStage",
            "lambda:UpdateAlias",
            "lambda:UpdateAlias"
        ]
    );

    // status says which deployment is live and that it differs from the file.
    let status = w.run(&["status", "--file", file(&b), "--output", "json"]);
    assert_eq!(status.code, 3, "{status}");
    let stage = support::status_row(&status.json(), "stage");
    assert!(
        stage["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("rolled back to #1 (deployment {dep_a}")),
        "{stage:#}"
    );
    assert!(stage["id"].as_str().unwrap().contains("#1"), "{stage:#}");
    let text = w.run(&["status", "--file", file(&b)]);
    assert!(text.stdout.contains("deploy rolls forward"), "{text}");
    // plan says deploy would roll forward.
    let plan = w.run(&["plan", "--file", file(&b)]);
    assert_eq!(plan.code, 3, "{plan}");
    assert!(plan.stdout.contains("rolled forward"), "{plan}");
    let list = w.run(&["rollback", "--list", "--file", file(&b)]).ok();
    assert!(list.stdout.contains("* #1   "), "{list}");

    // deploy returns to B, again without a rebuild.
    w.proxy.clear();
    w.run(&["deploy", "--file", file(&b)]).ok();
    assert_eq!(live(&w), (dep_b.clone(), "2".into(), "1".into()));
    let changed = w.mutating_calls();
    assert!(
        !changed.iter().any(|c| c == "apigateway:CreateDeployment"
            || c == "lambda:PublishVersion"
            || c == "lambda:UpdateFunctionCode"),
        "{changed:?}"
    );
    assert_eq!(w.run(&["status", "--file", file(&b)]).code, 0);
    assert!(stage_record(&w)["attrs"].get("rollback").is_none());

    // --to by number and by id; the newest is the stack as deployed.
    w.run(&["rollback", "--to", "1", "--file", file(&b)]).ok();
    assert_eq!(live(&w).0, dep_a);
    let back = w
        .run(&["rollback", "--to", &dep_b, "--file", file(&b)])
        .ok();
    assert!(back.stdout.contains("the stack is as deployed"), "{back}");
    assert_eq!(live(&w), (dep_b, "2".into(), "1".into()));
    assert_eq!(w.run(&["status", "--file", file(&b)]).code, 0);

    w.run(&["teardown", "--yes", "--file", file(&b)]).ok();
    w.assert_nothing_left("rollback");
}

#[test]
fn a_rollback_killed_between_the_stage_and_the_aliases_is_finished_by_the_next_rollback_or_deploy()
{
    let w = World::new();
    w.run(&["deploy", "--file", file(&project(&w, "A", false, None))])
        .ok();
    let (dep_a, ..) = live(&w);
    let b = project(&w, "B", true, None);
    w.run(&["deploy", "--file", file(&b)]).ok();
    let (dep_b, ..) = live(&w);

    // Killed while the aliases move: the stage is on A's deployment, the aliases unknown.
    kill_rollback_during(&w, &b, "lambda:UpdateAlias", Some("apigateway:UpdateStage"));
    let mark = stage_record(&w)["attrs"]["rollback"].clone();
    assert_eq!(mark["done"], false, "{mark:#}");
    let status = w.run(&["status", "--file", file(&b)]);
    assert_eq!(status.code, 3, "{status}");
    assert!(status.stdout.contains("interrupted"), "{status}");
    // The next rollback finishes that one (not one further back).
    let again = w.run(&["rollback", "--file", file(&b)]).ok();
    assert!(again.stderr.contains("finishing the rollback"), "{again}");
    assert_eq!(live(&w), (dep_a.clone(), "1".into(), "1".into()));
    support::report(
        "crash",
        serde_json::json!({"command": "rollback", "call": "lambda:UpdateAlias", "survived": true}),
    );

    // Killed while the stage moves; deploy rolls everything forward.
    w.run(&["deploy", "--file", file(&b)]).ok();
    kill_rollback_during(&w, &b, "apigateway:UpdateStage", None);
    w.run(&["deploy", "--file", file(&b)]).ok();
    assert_eq!(live(&w), (dep_b, "2".into(), "1".into()));
    assert_eq!(w.run(&["status", "--file", file(&b)]).code, 0);
    support::report(
        "crash",
        serde_json::json!({"command": "rollback", "call": "apigateway:UpdateStage", "survived": true}),
    );
    w.run(&["teardown", "--yes", "--file", file(&b)]).ok();
    w.assert_nothing_left("rollback crash");
}

#[test]
fn versions_past_the_kept_deployments_are_deleted_and_bad_rollbacks_change_nothing() {
    let w = World::new();
    let a = project(&w, "A", false, Some(2));
    // Nothing deployed yet, then only one deployment: nothing to roll back to.
    let none = w.run(&["rollback", "--file", file(&a)]);
    assert_eq!(none.code, 2, "{none}");
    assert!(none.stderr.contains("run deploy first"), "{none}");
    refused("rollback (nothing deployed)");
    w.run(&["deploy", "--file", file(&a)]).ok();
    w.proxy.clear();
    let first = w.run(&["rollback", "--file", file(&a)]);
    assert_eq!(first.code, 2, "{first}");
    assert!(first.stderr.contains("no earlier deployment"), "{first}");
    let unknown = w.run(&["rollback", "--to", "7", "--file", file(&a)]);
    assert_eq!(unknown.code, 2, "{unknown}");
    assert!(unknown.stderr.contains("#7"), "{unknown}");
    let escape = w.run(&["rollback", "--to", "abc\u{1b}[31m", "--file", file(&a)]);
    assert_eq!(escape.code, 2, "{escape}");
    assert!(!escape.stderr.contains('\u{1b}'), "{escape}");
    assert!(w.mutating_calls().is_empty(), "{:?}", w.mutating_calls());
    for what in [
        "no earlier deployment",
        "--to 7",
        "--to with an escape sequence",
    ] {
        refused(&format!("rollback ({what})"));
    }

    // Two code changes with two deployments kept: hello's version 1 goes. (One more would
    // meet moto 5.2.5 numbering the next version after the count of those left, so reusing
    // 3; Lambda never reuses a number: docs/rollback.md.)
    for body in ["B", "C"] {
        w.run(&["deploy", "--file", file(&project(&w, body, false, Some(2)))])
            .ok();
    }
    assert_eq!(versions(&w, "roll-hello-prod"), ["2", "3"]);
    assert_eq!(versions(&w, "roll-other-prod"), ["1"]);
    let kept: Vec<u64> = stage_record(&w)["attrs"]["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["number"].as_u64().unwrap())
        .collect();
    assert_eq!(kept, [2, 3]);

    // A held lock (a deploy adding a route is in flight): refused, nothing changed.
    w.proxy.clear();
    let hold = w.proxy.hold("apigateway:CreateResource");
    let d = project(&w, "C", true, Some(2));
    let mut child = w.command(&["deploy", "--file", file(&d)]).spawn().unwrap();
    assert!(w
        .proxy
        .wait_for("apigateway:CreateResource", Duration::from_secs(60)));
    let before = std::fs::read(w.state_file("prod")).unwrap();
    w.proxy.clear();
    let busy = w.run(&["rollback", "--file", file(&d)]);
    assert_eq!(
        busy.code,
        4,
        "{busy}\n{:?}",
        std::fs::read_dir(w.state_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect::<Vec<_>>()
    );
    assert!(w.mutating_calls().is_empty(), "{:?}", w.mutating_calls());
    assert_eq!(std::fs::read(w.state_file("prod")).unwrap(), before);
    refused("rollback (lock held)");
    hold.release();
    assert!(child.wait().unwrap().success());

    // Another project's state under this project's name: refused, nothing changed.
    let other_dir = w.dir.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = other_dir.join("serverless-cli.toml");
    std::fs::write(&other, std::fs::read_to_string(&d).unwrap()).unwrap();
    let copied = w.state_dir().join("other.prod.json");
    std::fs::copy(w.state_file("prod"), &copied).unwrap();
    w.proxy.clear();
    let foreign = w.run(&["rollback", "--file", file(&other)]);
    assert_eq!(foreign.code, 2, "{foreign}");
    assert!(
        foreign
            .stderr
            .contains("describes stack 'roll.prod', not 'other.prod'"),
        "{foreign}"
    );
    assert!(w.mutating_calls().is_empty(), "{:?}", w.mutating_calls());
    refused("rollback (another project's state)");
    std::fs::remove_file(&copied).unwrap();

    w.run(&["teardown", "--yes", "--file", file(&d)]).ok();
    w.assert_nothing_left("rollback pruning");
}

/// A stack deployed before the live alias (integrations on the function's own ARN, the
/// statement in the function's own policy) moves to the alias on its next deploy, in an order
/// where the API can invoke the function at every moment: the alias and its statement exist
/// before the deployment that invokes them is on the stage, and the function's own statement
/// goes only after.
#[test]
fn a_stack_deployed_before_the_alias_moves_to_it_without_a_gap() {
    let w = World::new();
    let a = project(&w, "A", false, None);
    w.run(&["deploy", "--file", file(&a)]).ok();
    // Made as a release before the alias left it.
    let aws = w.aws_via_proxy();
    let api = aws.only_api();
    let state_path = w.state_file("prod");
    let mut state = read_state(&state_path);
    block_on(async {
        for f in ["roll-hello-prod", "roll-other-prod"] {
            aws.lambda
                .remove_permission()
                .function_name(f)
                .qualifier("live")
                .statement_id("serverless-cli-apigateway-invoke")
                .send()
                .await
                .unwrap();
            aws.lambda
                .delete_alias()
                .function_name(f)
                .name("live")
                .send()
                .await
                .unwrap();
            aws.lambda
                .add_permission()
                .function_name(f)
                .statement_id("serverless-cli-apigateway-invoke")
                .action("lambda:InvokeFunction")
                .principal("apigateway.amazonaws.com")
                .source_arn(format!(
                    "arn:aws:execute-api:us-east-1:123456789012:{api}/prod/*/*"
                ))
                .send()
                .await
                .unwrap();
        }
        let res = aws
            .apigateway
            .get_resources()
            .rest_api_id(&api)
            .send()
            .await
            .unwrap();
        for r in res.items() {
            if r.resource_methods().is_some_and(|m| m.contains_key("GET")) {
                let f = if r.path() == Some("/hello") {
                    "roll-hello-prod"
                } else {
                    "roll-other-prod"
                };
                aws.apigateway
                    .put_integration()
                    .rest_api_id(&api)
                    .resource_id(r.id().unwrap())
                    .http_method("GET")
                    .r#type(aws_sdk_apigateway::types::IntegrationType::AwsProxy)
                    .integration_http_method("POST")
                    .uri(format!("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:{f}/invocations"))
                    .send()
                    .await
                    .unwrap();
            }
        }
        let d = aws
            .apigateway
            .create_deployment()
            .rest_api_id(&api)
            .stage_name("prod")
            .send()
            .await
            .unwrap();
        state["resources"]["stage:prod"]["id"] = d.id().unwrap().into();
    });
    let resources = state["resources"].as_object_mut().unwrap();
    resources.retain(|k, _| !k.starts_with("alias:"));
    for (k, rec) in resources.iter_mut() {
        if k.starts_with("permission:") {
            let attrs = rec["attrs"].as_object_mut().unwrap();
            attrs.remove("qualifier");
            attrs.remove("unqualified_left");
            let arn = attrs["function_arn"]
                .as_str()
                .unwrap()
                .trim_end_matches(":live")
                .to_string();
            attrs.insert("function_arn".into(), arn.into());
            rec.as_object_mut().unwrap().remove("props");
            rec["fingerprint"] = "".into();
        }
        if k.starts_with("integration:") || k.starts_with("stage:") {
            rec.as_object_mut().unwrap().remove("props");
            rec["fingerprint"] = "old".into();
            if let Some(a) = rec.get_mut("attrs").and_then(|a| a.as_object_mut()) {
                a.remove("releases");
                a.remove("rollback");
            }
        }
    }
    std::fs::write(&state_path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    assert_eq!(support::own_policy_of(&w, "roll-hello-prod").len(), 1);

    w.proxy.clear();
    w.run(&["deploy", "--file", file(&a)]).ok();
    let calls = w.mutating_calls();
    let first = |op: &str| {
        calls
            .iter()
            .position(|c| c == op)
            .unwrap_or_else(|| panic!("{op}: {calls:?}"))
    };
    let last = |op: &str| calls.iter().rposition(|c| c == op).unwrap();
    // Each alias and its statement before the deployment; the old statements after it.
    assert!(
        last("lambda:CreateAlias") < first("apigateway:CreateDeployment"),
        "{calls:?}"
    );
    assert!(
        last("lambda:AddPermission") < first("apigateway:CreateDeployment"),
        "{calls:?}"
    );
    assert!(
        last("apigateway:PutIntegration") < first("apigateway:CreateDeployment"),
        "{calls:?}"
    );
    assert!(
        first("apigateway:CreateDeployment") < first("lambda:RemovePermission"),
        "{calls:?}"
    );
    assert_eq!(
        calls
            .iter()
            .filter(|c| *c == "lambda:RemovePermission")
            .count(),
        2,
        "{calls:?}"
    );
    // Done: the alias's policy has the statement, the function's own has none, and nothing
    // is left to do.
    for f in ["roll-hello-prod", "roll-other-prod"] {
        assert_eq!(support::policy_of(&w, f).len(), 1, "{f}");
        assert!(support::own_policy_of(&w, f).is_empty(), "{f}");
    }
    assert_eq!(w.run(&["status", "--file", file(&a)]).code, 0);
    w.proxy.clear();
    w.run(&["deploy", "--file", file(&a)]).ok();
    assert!(w.mutating_calls().is_empty(), "{:?}", w.mutating_calls());
    w.run(&["teardown", "--yes", "--file", file(&a)]).ok();
    w.assert_nothing_left("rollback migration");
}
