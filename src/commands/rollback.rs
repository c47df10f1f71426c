//! `serverless-cli rollback`: the stage back on a kept deployment and every function's live
//! alias back on that deployment's version, in one round of calls, nothing rebuilt
//! (docs/rollback.md). `--list` prints the kept deployments and calls nothing.

use serde_json::json;

use crate::cli::{GlobalArgs, RollbackArgs};
use crate::error::UsageError;
use crate::kinds::stage::{roll_back, rollback_plan, DeploymentRecord, RollbackTo};
use crate::report::{self, printable, Progress};

pub async fn run(global: &GlobalArgs, args: &RollbackArgs) -> anyhow::Result<i32> {
    let to = match &args.to {
        Some(t) if t.trim().is_empty() || t.len() > 128 || t.chars().any(char::is_control) => {
            return Err(UsageError(
                "--to takes a kept deployment's number (see rollback --list) or its API deployment id".into(),
            )
            .into())
        }
        Some(t) => RollbackTo::parse(t),
        None => RollbackTo::Previous,
    };
    if args.list {
        return list(global).await;
    }
    let started = std::time::Instant::now();
    let mut session = crate::session::open(global, Some("rollback")).await?;
    let Some(state) = session.state.clone() else {
        return Err(UsageError(format!(
            "stack '{}' is not deployed (no state in {}): nothing to roll back; run deploy first",
            session.stack,
            session.store.describe()
        ))
        .into());
    };
    // Every check is made on the state before the first call.
    let plan = rollback_plan(&state, &to)?;
    let aws = crate::session::connect(&mut session).await?;
    let progress = Progress::for_stderr();
    progress.line(&format!(
        "Rolling stack '{}' back to #{} (deployment {}){}",
        state.stack,
        plan.to.number,
        printable(&plan.to.deployment),
        if plan.resumes {
            ": finishing the rollback that was interrupted"
        } else {
            ""
        }
    ));
    let timing = crate::session::timing(
        std::time::Duration::ZERO,
        std::time::Duration::from_secs(300),
    );
    let run = crate::kinds::context::Run::new(aws, session.store.clone(), state, progress, timing);
    let rolled = roll_back(&run, &plan).await;
    // Whatever answered is recorded; the store has it before rollback says anything.
    session.store.flush().await?;
    rolled.map_err(|e| {
        e.context("rollback stopped part way; the state records where it was going: run rollback again to finish it, or deploy to roll forward")
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let moved: Vec<String> = plan
        .aliases
        .iter()
        .map(|(_, f, v)| format!("{f}:{} -> version {v}", crate::stack::LIVE_ALIAS))
        .collect();
    let mut text = format!(
        "Stack '{}' rolled back to #{} (deployment {}, deployed {}) in {seconds:.1} s{}:\n  stage {} -> deployment {}\n",
        run.snapshot().await.stack,
        plan.to.number,
        printable(&plan.to.deployment),
        crate::logs::iso(plan.to.at.saturating_mul(1000) as i64),
        plan.from
            .as_ref()
            .map(|f| format!(", from #{}", f.number))
            .unwrap_or_default(),
        plan.stage,
        printable(&plan.to.deployment),
    );
    for m in &moved {
        text.push_str(&format!("  {}\n", printable(m)));
    }
    for f in &plan.untouched {
        text.push_str(&format!(
            "  {} left as it is (#{} does not have it)\n",
            printable(f),
            plan.to.number
        ));
    }
    text.push_str(if plan.newest {
        "This is the newest deployment: the stack is as deployed.\n"
    } else {
        "status now says the stack differs from its file; deploy rolls forward.\n"
    });
    let doc = json!({
        "command": "rollback",
        "ok": true,
        "stack": global.stack,
        "to": plan.to.number,
        "deployment": plan.to.deployment,
        "from": plan.from.as_ref().map(|f| f.number),
        "aliases": plan.aliases.iter().map(|(_, f, v)| json!({"function": f, "version": v})).collect::<Vec<_>>(),
        "untouched": plan.untouched,
        "resumed": plan.resumes,
        "newest": plan.newest,
        "seconds": seconds,
    });
    report::emit(global.output, &doc, &text);
    Ok(0)
}

/// The kept deployments, newest first, from the state (no lock, no call).
async fn list(global: &GlobalArgs) -> anyhow::Result<i32> {
    let (_, state) = crate::session::peek(global).await?;
    let dep = state
        .as_ref()
        .and_then(|s| s.all::<DeploymentRecord>().into_iter().next())
        .map(|(_, d)| d);
    let Some(dep) = dep else {
        return Err(UsageError(format!(
            "stack '{}' has no deployment recorded: nothing to list; run deploy first",
            global.stack
        ))
        .into());
    };
    let live = dep.live().map(|r| r.number);
    let mut lines = Vec::new();
    for r in dep.releases.iter().rev() {
        let versions: Vec<String> = r
            .versions
            .iter()
            .map(|(f, v)| format!("{f} v{v}"))
            .collect();
        lines.push(format!(
            "{} #{:<3} {}  deployment {}  {}",
            if Some(r.number) == live { "*" } else { " " },
            r.number,
            crate::logs::iso(r.at.saturating_mul(1000) as i64),
            printable(&r.deployment),
            printable(&versions.join(", "))
        ));
    }
    let text = format!(
        "Kept deployments of stack '{}' (* live{}):\n{}\n",
        global.stack,
        if dep.rollback.is_some() {
            ", rolled back"
        } else {
            ""
        },
        lines.join("\n")
    );
    let doc = json!({
        "command": "rollback",
        "list": true,
        "stack": global.stack,
        "live": live,
        "rolled_back": dep.rollback.is_some(),
        "deployments": dep.releases.iter().rev().map(|r| json!({
            "number": r.number,
            "deployment": r.deployment,
            "at": crate::logs::iso(r.at.saturating_mul(1000) as i64),
            "versions": r.versions,
        })).collect::<Vec<_>>(),
    });
    report::emit(global.output, &doc, &text);
    Ok(0)
}
