//! `serverless-cli teardown`.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use serde_json::json;

use crate::aws::Caller;
use crate::cli::{GlobalArgs, TeardownArgs};
use crate::engine::{self, Action};
use crate::error::UsageError;
use crate::ops::discover::{self, Found};
use crate::ops::teardown::{steps, TeardownCtx};
use crate::ops::Run;
use crate::report::{self, Progress};
use crate::stack::Names;
use crate::state::StackState;

/// `teardown --dry-run`: the steps teardown would take, in order, from the state file (no AWS
/// call) and nothing changed. Without a state file, teardown would look for tagged resources:
/// say so.
async fn dry_run(global: &GlobalArgs, args: &TeardownArgs) -> anyhow::Result<i32> {
    let session = super::open(global, None).await?;
    let Some(state) = session.state.clone() else {
        let text = format!(
            "Stack '{}' has no state file ({}): teardown would look for resources tagged {}={} in every service and delete those.\n",
            session.stack,
            session.store.path().display(),
            crate::stack::OWNER_TAG,
            session.stack
        );
        let doc = json!({"command": "teardown", "dry_run": true, "stack": session.stack, "state_file": false, "steps": []});
        report::emit(global.output, &doc, &text);
        return Ok(0);
    };
    let account = state.account.clone().unwrap_or_default();
    let spec = crate::stack::StackSpec::from_state(&state, &account);
    let graph = crate::graph::Graph::new(&spec);
    let steps = steps(&graph);
    let w = crate::kinds::Want {
        spec: &spec,
        state: &state,
    };
    // The order the engine starts them in: each once everything before it is done.
    let mut done: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut ordered = Vec::new();
    while ordered.len() < steps.len() {
        let ready: Vec<&crate::engine::Step<TeardownCtx>> = steps
            .iter()
            .filter(|s| !done.contains(s.name.as_str()))
            .filter(|s| s.deps.iter().all(|d| done.contains(d.as_str())))
            .collect();
        if ready.is_empty() {
            break;
        }
        for s in &ready {
            done.insert(&s.name);
        }
        ordered.extend(ready);
    }
    let mut lines = Vec::new();
    let mut docs = Vec::new();
    for (i, step) in ordered.iter().enumerate() {
        let Some(node) = graph.node(&step.name) else {
            continue;
        };
        let kept = node.kind.holds_data() && args.keep_table;
        let with: Vec<String> = graph
            .with_contents(&node.key)
            .into_iter()
            .filter(|k| *k != node.key && state.has(k))
            .collect();
        let label = node.kind.label(&w, node);
        let does = if kept {
            "keeping (--keep-table)"
        } else {
            node.kind.deleting()
        };
        let mut line = format!("{:>2}. {}: {does}, {label}", i + 1, node.key);
        if !state.has(&node.key) {
            line.push_str(" (not recorded: looked for by name)");
        }
        if !with.is_empty() {
            line.push_str(&format!("; with it: {}", with.join(", ")));
        }
        if node.kind.holds_data() && !kept {
            line.push_str("; DELETES DATA: every item is lost");
        }
        lines.push(line);
        docs.push(json!({
            "order": i + 1,
            "key": node.key,
            "kind": node.kind.name(),
            "does": does,
            "resource": label,
            "recorded": state.has(&node.key),
            "with": with,
            "deletes_data": node.kind.holds_data() && !kept,
        }));
    }
    let text = format!(
        "teardown would, for stack '{}' in {} (nothing was changed):\n{}\nthen remove the state file {}.\n",
        state.stack,
        state.region,
        lines.join("\n"),
        session.store.path().display()
    );
    let doc = json!({
        "command": "teardown",
        "dry_run": true,
        "stack": state.stack,
        "state_file": true,
        "steps": docs,
    });
    report::emit(global.output, &doc, &text);
    Ok(0)
}

/// What the confirmation prompt lists.
fn inventory(state: &StackState, keep_table: bool) -> Vec<String> {
    let n = &state.names;
    let mut items = vec![];
    if let Some(a) = state.get::<crate::state::ApiRecord>(crate::graph::key::REST_API) {
        items.push(format!(
            "REST API {} ({}) with its stage and routes",
            a.name, a.id
        ));
    } else {
        items.push(format!("REST API {} (if a crash left one)", n.api));
    }
    items.push(format!(
        "Lambda function {} and its invoke permission",
        n.function
    ));
    items.push(format!("IAM role {} and its policies", n.role));
    items.push(format!(
        "CloudWatch log group /aws/lambda/{} and its logs",
        n.function
    ));
    if keep_table {
        items.push(format!("(kept) DynamoDB table {}", n.table));
    } else {
        items.push(format!("DynamoDB table {} and all its items", n.table));
    }
    items
}

fn confirm(stack: &str, items: &[String]) -> anyhow::Result<bool> {
    let mut err = std::io::stderr().lock();
    writeln!(err, "This deletes, from stack '{stack}':")?;
    for i in items {
        writeln!(err, "  - {i}")?;
    }
    write!(err, "Proceed? [y/N] ")?;
    err.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// A state for the resources found by tag, so teardown can run its usual steps on them.
fn state_from_found(
    session: &super::Session,
    account: &str,
    found: &Found,
) -> anyhow::Result<StackState> {
    fn one<'a>(kind: &str, stack: &str, names: &'a [String]) -> anyhow::Result<Option<&'a String>> {
        if names.len() > 1 {
            anyhow::bail!(
                "more than one {kind} is tagged with stack '{stack}' ({}); delete the extra ones by hand, then run teardown again",
                names.join(", ")
            );
        }
        Ok(names.first())
    }
    let stack = &session.stack;
    let d = Names::defaults(stack);
    let api_names: Vec<String> = found.apis.iter().map(|(_, n)| n.clone()).collect();
    let mut api_names_unique = api_names.clone();
    api_names_unique.dedup();
    let from_log_group = found
        .log_groups
        .first()
        .and_then(|g| g.strip_prefix("/aws/lambda/"))
        .map(str::to_string);
    let names = Names {
        table: one("table", stack, &found.tables)?
            .cloned()
            .unwrap_or(d.table),
        role: one("IAM role", stack, &found.roles)?
            .cloned()
            .unwrap_or(d.role),
        function: one("function", stack, &found.functions)?
            .cloned()
            .or(from_log_group)
            .unwrap_or(d.function),
        api: one("REST API name", stack, &api_names_unique)?
            .cloned()
            .unwrap_or(d.api),
    };
    let mut state = StackState::new(
        stack,
        &session.target.region,
        session.target.endpoint.as_deref(),
        names,
    );
    state.account = Some(account.to_string());
    Ok(state)
}

pub async fn run(
    global: &GlobalArgs,
    args: &TeardownArgs,
    interrupts: crate::signal::Interrupts,
) -> anyhow::Result<i32> {
    if args.dry_run {
        return dry_run(global, args).await;
    }
    let interactive = std::io::stdin().is_terminal();
    if !args.yes && !interactive {
        return Err(UsageError(
            "teardown deletes the stack and needs --yes when stdin is not a terminal; nothing was changed".into(),
        )
        .into());
    }
    let session = super::open(global, Some("teardown")).await?;
    let progress = Progress::for_stderr();
    let timing = super::timing(Duration::ZERO, Duration::from_secs(300));
    let (state, aws) = match session.state.clone() {
        Some(state) => {
            if !args.yes && !confirm(&state.stack, &inventory(&state, args.keep_table))? {
                return Err(
                    UsageError("teardown not confirmed; nothing was changed".into()).into(),
                );
            }
            (state, super::connect(&session).await?)
        }
        None => {
            // The state file is gone: find what carries the stack's tag.
            let aws = super::connect(&session).await?;
            progress.line(&format!(
                "Stack '{}' has no state file ({}); looking for resources tagged {}={} in every service",
                session.stack,
                session.store.path().display(),
                crate::stack::OWNER_TAG,
                session.stack
            ));
            let caller = Caller {
                aws: aws.clone(),
                policy: timing.retry,
                progress: progress.clone(),
            };
            let found = discover::by_tag(&caller, &session.stack)
                .await
                .context("looking for the stack's tagged resources")?;
            if found.is_empty() {
                let text = format!(
                    "Stack '{}' has no state file and nothing tagged with it: nothing to tear down.\n",
                    session.stack
                );
                let doc = json!({"command": "teardown", "ok": true, "stack": session.stack, "steps": [], "state_file_removed": false});
                report::emit(global.output, &doc, &text);
                return Ok(0);
            }
            let state = state_from_found(&session, &aws.account, &found)?;
            if args.yes {
                for line in found.lines() {
                    progress.line(&format!("  found {line}"));
                }
            } else if !confirm(&session.stack, &found.lines())? {
                return Err(
                    UsageError("teardown not confirmed; nothing was changed".into()).into(),
                );
            }
            (state, aws)
        }
    };
    progress.line(&format!(
        "Tearing down stack '{}' in {}",
        state.stack, state.region
    ));
    let spec = crate::stack::StackSpec::from_state(&state, &aws.account);
    let graph = crate::graph::Graph::new(&spec);
    let steps = steps(&graph);
    let ctx = Arc::new(TeardownCtx {
        run: Run {
            aws,
            store: session.store.clone(),
            state: tokio::sync::Mutex::new(state.clone()),
            progress: progress.clone(),
            timing,
        },
        stack: state.stack.clone(),
        keep_table: args.keep_table,
        graph,
        locks: Default::default(),
    });
    let mut report = engine::run(
        ctx.clone(),
        steps,
        &progress,
        Some(super::stop(interrupts)),
        engine::OnFailure::FinishIndependent,
    )
    .await;
    if let Some(err) = super::stopped(&mut report, "teardown", &session.store) {
        return Err(err);
    }
    session.store.remove()?;
    report.outcomes = engine::by_group(&report.outcomes);
    let deleted = report
        .outcomes
        .iter()
        .filter(|o| o.action == Action::Deleted)
        .count();
    let kept: Vec<_> = report
        .outcomes
        .iter()
        .filter(|o| o.action == Action::Kept)
        .map(|o| o.resource.clone())
        .collect();
    let mut text = format!(
        "Stack '{}' torn down: {} deleted; state file {} removed.\n",
        state.stack,
        crate::report::count(deleted, "resource"),
        session.store.path().display()
    );
    if !kept.is_empty() {
        text.push_str(&format!("Kept: table {}.\n", kept.join(", ")));
    }
    let skipped: Vec<_> = report
        .outcomes
        .iter()
        .filter(|o| o.action == Action::Skipped)
        .map(|o| {
            format!(
                "{} ({})",
                o.resource,
                o.detail.as_deref().unwrap_or("not ours")
            )
        })
        .collect();
    for s in &skipped {
        text.push_str(&format!("Left alone, not this stack's: {s}.\n"));
    }
    let doc = json!({
        "command": "teardown",
        "ok": true,
        "stack": state.stack,
        "steps": report.outcomes,
        "kept": kept,
        "skipped": skipped,
        "state_file_removed": true,
    });
    report::emit(global.output, &doc, &text);
    Ok(0)
}
