//! `serverless-cli teardown`.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use serde_json::json;

use crate::cli::{GlobalArgs, TeardownArgs};
use crate::engine::Action;
use crate::error::UsageError;
use crate::report::{self, Progress};

/// `teardown --dry-run`: the steps teardown would take, in order, from the state file (no AWS
/// call) and nothing changed. Without a state file, teardown would look for tagged resources:
/// say so.
async fn dry_run(global: &GlobalArgs, args: &TeardownArgs) -> anyhow::Result<i32> {
    let mut file = crate::session::stack_file(global)?;
    let session = crate::session::open(global, None).await?;
    session.fit(&mut file);
    let Some(state) = session.state.clone() else {
        let text = format!(
            "Stack '{}' has no state file ({}): teardown would look for resources tagged {}={} in every service and delete those.\n",
            session.stack,
            session.store.describe(),
            crate::stack::OWNER_TAG,
            crate::stack::owner_id(session.project.as_deref(), &session.stack)
        );
        let doc = json!({"command": "teardown", "dry_run": true, "stack": session.stack, "state_file": false, "steps": []});
        report::emit(global.output, &doc, &text);
        return Ok(0);
    };
    let account = state.account.clone().unwrap_or_default();
    let spec = crate::session::recorded_spec(file.as_ref(), &state, &account);
    let planned = crate::ops::teardown::dry_run(&state, args.keep_table, &spec);
    let mut lines = Vec::new();
    for (i, p) in planned.iter().enumerate() {
        let mut line = format!("{:>2}. {}: {}, {}", i + 1, p.key, p.does, p.resource);
        if !p.recorded {
            line.push_str(" (not recorded: looked for by name)");
        }
        if !p.with.is_empty() {
            line.push_str(&format!("; with it: {}", p.with.join(", ")));
        }
        if p.deletes_data {
            line.push_str("; DELETES DATA: every item is lost");
        }
        lines.push(line);
    }
    let docs: Vec<_> = planned
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut v = serde_json::to_value(p).unwrap_or_default();
            v["order"] = (i + 1).into();
            v
        })
        .collect();
    let text = format!(
        "teardown would, for stack '{}' in {} (nothing was changed):\n{}\nthen remove the state file {}.\n",
        state.stack,
        state.region,
        lines.join("\n"),
        session.store.describe()
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
    let mut file = crate::session::stack_file(global)?;
    let mut session =
        crate::session::open_with(global, crate::session::Locking::Now("teardown")).await?;
    session.fit(&mut file);
    // Its one write to the state is the final delete, conditional on what it read: a state
    // written meanwhile by another run is not removed (teardown says to run again).
    session.trust_read();
    let progress = Progress::for_stderr();
    let timing = crate::session::timing(Duration::ZERO, Duration::from_secs(300));
    // Asked before any AWS call; asked again should the confirmed state differ.
    let asked = match (&session.state, args.yes) {
        (Some(state), false) => {
            if !confirm(
                &state.stack,
                &crate::kinds::inventory(state, args.keep_table),
            )? {
                return Err(
                    UsageError("teardown not confirmed; nothing was changed".into()).into(),
                );
            }
            Some(state.clone())
        }
        _ => None,
    };
    // The identity call, and the read that confirms a state in S3: one round.
    let connected = crate::session::connect(&mut session).await?;
    let (state, aws) = match session.state.clone() {
        Some(state) => {
            if !args.yes
                && asked.as_ref() != Some(&state)
                && !confirm(
                    &state.stack,
                    &crate::kinds::inventory(&state, args.keep_table),
                )?
            {
                return Err(
                    UsageError("teardown not confirmed; nothing was changed".into()).into(),
                );
            }
            (state, connected)
        }
        None => {
            // The state file is gone: find what carries the stack's tag.
            let Some((state, found)) = crate::session::teardown::from_tags(
                &session,
                file.as_ref(),
                &connected,
                &timing,
                &progress,
            )
            .await?
            else {
                let text = format!(
                    "Stack '{}' has no state file and nothing tagged with it: nothing to tear down.\n",
                    session.stack
                );
                let doc = json!({"command": "teardown", "ok": true, "stack": session.stack, "steps": [], "state_file_removed": false});
                report::emit(global.output, &doc, &text);
                return Ok(0);
            };
            let aws = connected;
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
    let spec = crate::session::recorded_spec(file.as_ref(), &state, &aws.account);
    let mut report = crate::ops::teardown::run(
        aws,
        session.store.clone(),
        state.clone(),
        args.keep_table,
        timing,
        &progress,
        Some(crate::session::stop(interrupts)),
        spec,
    )
    .await;
    if let Some(err) = crate::session::stopped(&mut report, "teardown", &session.store) {
        return Err(err);
    }
    session.store.remove().await?;
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
        session.store.describe()
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
