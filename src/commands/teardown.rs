//! `serverless-cli teardown`.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use serde_json::json;

use crate::cli::{GlobalArgs, TeardownArgs};
use crate::engine::{self, Action};
use crate::error::UsageError;
use crate::ops::teardown::{steps, TeardownCtx};
use crate::report::{self, Progress};
use crate::state::StackState;

/// What the confirmation prompt lists.
fn inventory(state: &StackState, keep_table: bool) -> Vec<String> {
    let n = &state.names;
    let mut items = vec![];
    if let Some(a) = &state.api {
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

pub async fn run(
    global: &GlobalArgs,
    args: &TeardownArgs,
    interrupts: crate::signal::Interrupts,
) -> anyhow::Result<i32> {
    let interactive = std::io::stdin().is_terminal();
    if !args.yes && !interactive {
        return Err(UsageError(
            "teardown deletes the stack and needs --yes when stdin is not a terminal; nothing was changed".into(),
        )
        .into());
    }
    let session = super::open(global, Some("teardown")).await?;
    let Some(state) = session.state.clone() else {
        let text = format!(
            "Stack '{}' has no state file ({}): nothing to tear down.\n",
            session.stack,
            session.store.path().display()
        );
        let doc = json!({"command": "teardown", "ok": true, "stack": session.stack, "steps": [], "state_file_removed": false});
        report::emit(global.output, &doc, &text);
        return Ok(0);
    };
    if !args.yes && !confirm(&state.stack, &inventory(&state, args.keep_table))? {
        return Err(UsageError("teardown not confirmed; nothing was changed".into()).into());
    }
    let aws = super::connect(&session).await?;
    let progress = Progress::for_stderr();
    progress.line(&format!(
        "Tearing down stack '{}' in {}",
        state.stack, state.region
    ));
    let ctx = Arc::new(TeardownCtx {
        aws,
        stack: state.stack.clone(),
        keep_table: args.keep_table,
        store: session.store.clone(),
        state: tokio::sync::Mutex::new(state.clone()),
        progress: progress.clone(),
        timing: super::timing(
            std::time::Duration::ZERO,
            std::time::Duration::from_secs(300),
        ),
    });
    let report = engine::run(
        ctx.clone(),
        steps(),
        &progress,
        Some(super::stop(interrupts)),
    )
    .await;
    if report.interrupted {
        return Err(
            anyhow::Error::new(crate::signal::Interrupted).context(format!(
            "teardown interrupted; what is left is recorded in {}, run teardown again to finish",
            session.store.path().display()
        )),
        );
    }
    if let Some((step, err)) = report.error {
        return Err(err.context(format!(
            "teardown stopped at step {step}; what is left is recorded in {}, run teardown again to finish",
            session.store.path().display()
        )));
    }
    session.store.remove()?;
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
        "Stack '{}' torn down: {deleted} resources deleted; state file {} removed.\n",
        state.stack,
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
