//! The stack file: `init` writes the tutorial's stack, which deploys exactly as the built-in
//! one; the shop example (two tables, two functions, five routes) deploys, serves, answers its
//! `[[try]]` requests, follows every edit of its file, and tears down leaving nothing.

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use support::World;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// The keys a plan gives each action.
fn planned(plan: &serde_json::Value, action: &str) -> BTreeSet<String> {
    plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == action)
        .map(|c| c["key"].as_str().unwrap().to_string())
        .collect()
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

fn count(calls: &[String], name: &str) -> usize {
    calls.iter().filter(|c| *c == name).count()
}

#[test]
fn init_writes_the_tutorial_which_deploys_exactly_as_the_built_in_stack() {
    let w = World::new();
    // A stack deployed before stack files existed: the built-in stack.
    w.run(&["deploy"]).ok();

    let out = w.run(&["init", "app", "--output", "json"]).ok();
    assert_eq!(out.json()["files"].as_array().unwrap().len(), 7, "{out}");
    let app = w.dir.path().join("app");
    let written = std::fs::read_to_string(app.join("serverless-cli.toml")).unwrap();
    let example_file =
        std::fs::read_to_string(example("tutorial").join("serverless-cli.toml")).unwrap();
    assert_eq!(
        written.lines().skip(1).collect::<Vec<_>>(),
        example_file.lines().skip(1).collect::<Vec<_>>()
    );
    assert_eq!(
        written.lines().next(),
        Some("#:schema ./serverless-cli.schema.json")
    );
    for f in [
        "index.mjs",
        "package.json",
        "package-lock.json",
        "test/handler.test.mjs",
    ] {
        assert_eq!(
            std::fs::read(app.join("handler").join(f)).unwrap(),
            std::fs::read(example("tutorial").join("handler").join(f)).unwrap(),
            "{f}"
        );
    }
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(app.join("serverless-cli.schema.json")).unwrap())
            .unwrap();
    assert_eq!(schema["title"], "serverless-cli stack file");

    // Never over anything: refused whole, nothing changed.
    std::fs::write(app.join("serverless-cli.toml"), "# mine\n").unwrap();
    let again = w.run(&["init", "app"]);
    assert_eq!(again.code, 2, "{again}");
    assert!(again.stderr.contains("already exist"), "{again}");
    assert_eq!(
        std::fs::read_to_string(app.join("serverless-cli.toml")).unwrap(),
        "# mine\n"
    );
    std::fs::write(app.join("serverless-cli.toml"), &written).unwrap();

    // The same stack: the deployed built-in stack plans nothing from the file, and deploys
    // with no change at all.
    let file = app.join("serverless-cli.toml");
    let file = file.to_str().unwrap();
    let plan = w.run(&["plan", "--file", file, "--output", "json"]);
    assert_eq!(plan.code, 0, "{plan}");
    assert_eq!(plan.json()["summary"]["none"], 21, "{plan}");
    w.proxy.clear();
    w.run(&["deploy", "--file", file]).ok();
    assert!(w.mutating_calls().is_empty(), "{:?}", w.mutating_calls());
    w.run(&["status", "--file", file]).ok();

    // And for a new stack, the same plan as the built-in one.
    let keys_and_actions = |plan: serde_json::Value| -> Vec<(String, String)> {
        plan["resource_changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["key"].to_string(), c["action"].to_string()))
            .collect()
    };
    let builtin = w.run(&["plan", "--stack", "fresh", "--output", "json"]);
    let from_file = w.run(&[
        "plan", "--stack", "fresh", "--file", file, "--output", "json",
    ]);
    assert_eq!(builtin.code, 3, "{builtin}");
    assert_eq!(
        keys_and_actions(builtin.json()),
        keys_and_actions(from_file.json())
    );

    // The file in the current folder is found without --file; an edit shows.
    let edited = written
        .replace("code = \"handler\"", "code = \"app/handler\"")
        .replace("memory_mb = 128", "memory_mb = 256");
    std::fs::write(w.dir.path().join("serverless-cli.toml"), edited).unwrap();
    let plan = w.run(&["plan", "--output", "json"]);
    assert_eq!(plan.code, 3, "{plan}");
    let plan = plan.json();
    // The memory is configuration: a new version for the live alias too.
    assert_eq!(
        planned(&plan, "update"),
        set(&["alias:putitem", "function:putitem"])
    );
    // The built-in stack's flags are refused with a file: it says all of that itself.
    let flag = w.run(&["deploy", "--billing", "on-demand"]);
    assert_eq!(flag.code, 2, "{flag}");
    assert!(
        flag.stderr.contains("--billing shapes the built-in stack"),
        "{flag}"
    );
    std::fs::remove_file(w.dir.path().join("serverless-cli.toml")).unwrap();

    w.run(&["teardown", "--yes", "--file", file]).ok();
    w.assert_nothing_left("after teardown of the init'd stack");
}

/// Copies a folder (the example, with its installed packages, so serve can run it).
fn copy_dir(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-R")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn the_shop_deploys_serves_answers_its_tries_and_follows_every_edit() {
    let w = World::new();
    let shop = w.dir.path().join("shop");
    copy_dir(&example("shop"), &shop);
    // What follows checks each per-call part of every route; the shop's own file lets `auto`
    // build its five routes from one document (their calls pass the account's burst).
    let file_path = shop.join("serverless-cli.toml");
    let pinned = std::fs::read_to_string(&file_path).unwrap().replacen(
        "[api]\nstage = \"prod\"",
        "[api]\nstage = \"prod\"\nbuild = \"calls\"",
        1,
    );
    std::fs::write(&file_path, pinned).unwrap();
    assert!(
        shop.join("handlers/node_modules/@aws-sdk").exists(),
        "examples/shop/handlers/node_modules is missing: run `npm ci` there (scripts/test does)"
    );
    let file = shop.join("serverless-cli.toml");
    let file_arg = file.to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--file", &file_arg]);
        w.run(&all)
    };

    run(&["deploy"]).ok();
    let inv = w.aws().inventory();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(sorted(inv.tables), ["shop-orders-prod", "shop-users-prod"]);
    assert_eq!(
        sorted(inv.functions),
        ["shop-orders-prod", "shop-users-prod"]
    );
    assert_eq!(
        sorted(inv.roles),
        ["shop-orders-prod-role", "shop-users-prod-role"]
    );
    assert_eq!(inv.apis, ["shop-api-prod"]);
    assert_eq!(run(&["plan"]).code, 0);
    run(&["status"]).ok();

    // Each function its own role: orders may read users and write and query orders, no more.
    let state = support::read_state(&w.state_file("prod"));
    let doc = &state["resources"]["role-policy:orders"]["props"]["document"];
    let grants: Vec<(String, String)> = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Sid"].as_str().unwrap().starts_with("TableItems"))
        .flat_map(|s| {
            let resource = s["Resource"].as_str().unwrap().to_string();
            s["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |a| (a.as_str().unwrap().to_string(), resource.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let table = |t: &str| format!("arn:aws:dynamodb:us-east-1:123456789012:table/{t}");
    assert_eq!(
        grants,
        [
            ("dynamodb:PutItem".to_string(), table("shop-orders-prod")),
            ("dynamodb:Query".to_string(), table("shop-orders-prod")),
            ("dynamodb:GetItem".to_string(), table("shop-users-prod")),
        ]
    );

    // Served locally, each route by its own function, and the file's [[try]] all pass.
    let served = w.serve_raw(&["--file", &file_arg], |_| {});
    let tried = run(&["try", "--url", &served.url, "--output", "json"]);
    assert_eq!(tried.code, 0, "{tried}\nserve: {}", served.stderr());
    let tried = tried.json();
    assert_eq!(tried["passed"], 8, "{tried}");
    assert!(
        tried["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["ok"] == true),
        "{tried}"
    );
    drop(served);

    // Edit the file: a route added, a route removed, a function's memory, a table added (and
    // granted).
    let original = std::fs::read_to_string(&file).unwrap();
    let delete_route = "[[routes]]\nmethod = \"DELETE\"\npath = \"/users/{uid}\"\nfunction = \"users\"\nrequest_template = '''{\"operation\": \"deleteUser\", \"uid\": \"$util.urlEncode($input.params('uid'))\"}'''\n";
    assert!(original.contains(delete_route));
    let edited = original
        .replace(delete_route, "[[routes]]\nmethod = \"GET\"\npath = \"/users\"\nfunction = \"users\"\nrequest_template = '''{\"operation\": \"listUsers\"}'''\n")
        .replace("memory_mb = 256", "memory_mb = 512")
        .replace(
            "[functions.users]",
            "[tables.audit]\nhash_key = { name = \"id\", type = \"S\" }\nbilling = \"on-demand\"\n\n[functions.users]",
        )
        .replace(
            "\"dynamodb:DeleteItem\"] }",
            "\"dynamodb:DeleteItem\"], audit = [\"dynamodb:PutItem\"] }",
        );
    std::fs::write(&file, &edited).unwrap();
    let plan = run(&["plan", "--output", "json"]);
    assert_eq!(plan.code, 3, "{plan}");
    let plan = plan.json();
    let route = |kind: &str, r: &str| format!("{kind}:{r}");
    let parts = |r: &str| -> Vec<String> {
        [
            "method",
            "method-responses",
            "integration",
            "integration-responses",
        ]
        .iter()
        .map(|k| route(k, r))
        .collect()
    };
    let mut creates: BTreeSet<String> = parts("GET /users").into_iter().collect();
    creates.insert("table:audit".into());
    assert_eq!(planned(&plan, "create"), creates, "{plan}");
    assert_eq!(
        planned(&plan, "update"),
        // orders' memory: its configuration, published as a new version for its alias.
        set(&[
            "alias:orders",
            "function:orders",
            "role-policy:users",
            "stage:prod"
        ]),
        "{plan}"
    );
    assert_eq!(
        planned(&plan, "delete"),
        parts("DELETE /users/{uid}").into_iter().collect(),
        "{plan}"
    );
    assert_eq!(planned(&plan, "replace"), set(&[]));
    w.proxy.clear();
    run(&["deploy"]).ok();
    let calls = w.mutating_calls();
    for (name, n) in [
        ("dynamodb:CreateTable", 1),
        ("lambda:UpdateFunctionConfiguration", 1),
        ("iam:PutRolePolicy", 1),
        ("apigateway:PutMethod", 1),
        ("apigateway:PutIntegration", 1),
        ("apigateway:DeleteMethod", 1),
        // The function's one invoke permission covers the route added and stays.
        ("lambda:AddPermission", 0),
        ("lambda:RemovePermission", 0),
        ("apigateway:CreateDeployment", 1),
        ("lambda:UpdateFunctionCode", 0),
        ("lambda:CreateFunction", 0),
        ("iam:CreateRole", 0),
        ("dynamodb:DeleteTable", 0),
        ("apigateway:CreateResource", 0),
    ] {
        assert_eq!(count(&calls, name), n, "{name}: {calls:?}");
    }
    assert_eq!(run(&["plan"]).code, 0);
    let orders = block_config(&w, "shop-orders-prod");
    assert_eq!(orders, 512);

    // The table taken out again: its items would go, so deploy asks for --allow-data-loss
    // and changes nothing without it.
    std::fs::write(&file, &original).unwrap();
    let plan = run(&["plan", "--output", "json"]);
    let plan = plan.json();
    let audit = plan["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "table:audit")
        .unwrap()
        .clone();
    assert_eq!(audit["action"], "delete");
    assert_eq!(audit["deletes_data"], true);
    assert!(
        audit["reason"]
            .as_str()
            .unwrap()
            .contains("--allow-data-loss"),
        "{audit}"
    );
    w.proxy.clear();
    let refused = run(&["deploy"]);
    assert_eq!(refused.code, 2, "{refused}");
    assert!(
        refused.stderr.contains("shop-audit-prod") && refused.stderr.contains("--allow-data-loss"),
        "{refused}"
    );
    assert!(w.mutating_calls().is_empty(), "{:?}", w.mutating_calls());
    run(&["deploy", "--allow-data-loss"]).ok();
    assert_eq!(count(&w.mutating_calls(), "dynamodb:DeleteTable"), 1);
    assert_eq!(
        sorted(w.aws().inventory().tables),
        ["shop-orders-prod", "shop-users-prod"]
    );
    assert_eq!(run(&["plan"]).code, 0);

    run(&["teardown", "--yes"]).ok();
    w.assert_nothing_left("after teardown of the shop");
}

/// A function's memory, as Lambda has it.
fn block_config(w: &World, name: &str) -> i32 {
    let aws = w.aws();
    support::block_on(async {
        aws.lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .unwrap()
            .memory_size()
            .unwrap()
    })
}

#[test]
fn a_bad_stack_file_is_refused_before_any_aws_call_and_changes_nothing() {
    let w = World::new();
    let dir = w.dir.path().join("bad");
    std::fs::create_dir_all(dir.join("code")).unwrap();
    std::fs::write(dir.join("code/index.mjs"), "export const handler = 1;").unwrap();
    let file = dir.join("serverless-cli.toml");
    let base = "[tables.t]\nhash_key = { name = \"id\", type = \"S\" }\n\n[functions.f]\ncode = \"code\"\ntables = { t = [\"dynamodb:GetItem\"] }\n\n[[routes]]\nmethod = \"GET\"\npath = \"/t/{id}\"\nfunction = \"f\"\n";
    std::fs::write(&file, base).unwrap();
    let f = file.to_str().unwrap();
    w.run(&["deploy", "--file", f]).ok();
    let state_before = std::fs::read(w.state_file("prod")).unwrap();
    for (bad, word) in [
        (
            base.replace("function = \"f\"", "function = \"g\""),
            "routes[0].function",
        ),
        (
            format!("{base}\n[api]\nstagee = \"x\"\n"),
            "unknown field `stagee`",
        ),
        (base.replace("/t/{id}", "/t/{id}x"), "whole segment"),
        (
            base.replace("code = \"code\"", "code = \"code\"\nmemory_mb = 1"),
            "memory_mb",
        ),
    ] {
        std::fs::write(&file, &bad).unwrap();
        w.proxy.clear();
        for cmd in [
            &["deploy"][..],
            &["plan"],
            &["status"],
            &["teardown", "--yes"],
        ] {
            let mut args = cmd.to_vec();
            args.extend(["--file", f]);
            let out = w.run(&args);
            assert_eq!(out.code, 2, "{cmd:?}: {out}");
            assert!(out.stderr.contains(word), "{cmd:?}: {out}");
            assert!(out.stderr.contains("serverless-cli.toml:"), "{out}");
        }
        assert!(w.proxy.calls().is_empty(), "{:?}", w.proxy.calls());
        assert_eq!(std::fs::read(w.state_file("prod")).unwrap(), state_before);
    }
    std::fs::write(&file, base).unwrap();
    let missing = w.run(&["plan", "--file", "nowhere.toml"]);
    assert_eq!(missing.code, 2, "{missing}");
    assert!(missing.stderr.contains("no such file"), "{missing}");
    w.run(&["teardown", "--yes", "--file", f]).ok();
    w.assert_nothing_left("after the bad-file test");
}

/// `[defaults]` reaches every function as deployed: the code, the memory and an environment
/// variable come from it, the function's own settings stay its own.
#[test]
fn defaults_reach_the_deployed_function() {
    let w = World::new();
    let handler = example("tutorial").join("handler");
    let tutorial =
        std::fs::read_to_string(example("tutorial").join("serverless-cli.toml")).unwrap();
    let defaults = format!(
        "[defaults]\ncode = \"{}\"\nmemory_mb = 256\nenvironment = {{ STAGE = \"${{stack}}\" }}\n\n[api]",
        handler.display()
    );
    let text = tutorial
        .replacen("code = \"handler\"\n", "allow_code_outside = true\n", 1)
        .replacen("memory_mb = 128\n", "", 1)
        .replacen("[api]", &defaults, 1);
    assert_ne!(text, tutorial);
    let app = w.dir.path().join("app");
    std::fs::create_dir(&app).unwrap();
    let file = app.join("serverless-cli.toml");
    std::fs::write(&file, text).unwrap();
    let file = file.to_str().unwrap();
    w.run(&["deploy", "--file", file]).ok();
    let config = support::block_on(
        w.aws()
            .lambda
            .get_function_configuration()
            .function_name("app-putitem-prod")
            .send(),
    )
    .unwrap();
    assert_eq!(config.memory_size(), Some(256));
    assert_eq!(
        config.timeout(),
        Some(10),
        "the function's own timeout stays"
    );
    let env = config.environment().unwrap().variables().unwrap();
    assert_eq!(env["STAGE"], "prod");
    assert_eq!(env["TABLE_NAME"], "app-user-prod");
    // Deployed as the file says: nothing left to do.
    assert_eq!(w.run(&["plan", "--file", file]).code, 0);
    w.run(&["teardown", "--yes", "--file", file]).ok();
    w.assert_nothing_left("defaults");
}
