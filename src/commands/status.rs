//! `serverless-cli status`.

use std::time::Duration;

use serde_json::json;

use crate::aws::{Aws, Caller};
use crate::report::Progress;

use crate::cli::Billing;
use crate::cli::GlobalArgs;
use crate::error::UsageError;
use crate::ops::status::{check, Health};
use crate::report;
use crate::stack::{self, PolicyMode, StackSpec};

/// Exit code when anything is missing or drifted.
pub const EXIT_DRIFT: i32 = 3;

pub async fn run(global: &GlobalArgs) -> anyhow::Result<i32> {
    let session = super::open(global, None).await?;
    let Some(state) = session.state.clone() else {
        return Err(UsageError(format!(
            "stack '{}' has no state file ({}); deploy it first, or pass the --stack and --state-dir it was deployed with",
            session.stack,
            session.store.path().display()
        ))
        .into());
    };
    let spec_for = |account: &str| StackSpec {
        stack: state.stack.clone(),
        region: state.region.clone(),
        account: account.to_string(),
        names: state.names.clone(),
        billing: state
            .table
            .as_ref()
            .map(|t| t.billing)
            .unwrap_or(Billing::Provisioned),
        policy_mode: state
            .role_policy
            .as_ref()
            .map(|p| p.mode)
            .unwrap_or(PolicyMode::LeastPrivilege),
        runtime: state
            .function
            .as_ref()
            .map(|f| f.runtime.clone())
            .unwrap_or_default(),
        log_retention_days: state
            .log_group
            .as_ref()
            .map(|l| l.retention_days)
            .unwrap_or(14),
        routes: stack::routes(),
    };
    let progress = Progress::for_stderr();
    let policy = super::timing(Duration::ZERO, Duration::ZERO).retry;
    let state_ref = &state;
    let checks = |aws: Aws| {
        let spec = spec_for(&aws.account);
        let caller = Caller {
            aws,
            policy,
            progress: progress.clone(),
        };
        async move { check(&caller, &spec, state_ref).await }
    };
    // The reads overlap the identity call: one round of calls in all.
    let known = state.account.is_some();
    let rows = match super::connect_with(&session, |aws| async move {
        if known {
            Some(checks(aws).await)
        } else {
            None
        }
    })
    .await?
    {
        (_, Some(rows)) => rows,
        // A state without an account: the checks need it for ARNs, so they run after.
        (aws, None) => checks(aws).await,
    };
    let in_sync = rows.iter().all(|r| r.status == Health::Ok);
    let unknown = rows.iter().any(|r| r.status == Health::Unknown);
    let url = state
        .api
        .as_ref()
        .map(|a| stack::invoke_url(&a.id, &state.region));

    let table = report::table(
        &["RESOURCE", "NAME / ID", "STATUS", "REASON"],
        &rows
            .iter()
            .map(|r| {
                vec![
                    r.resource.to_string(),
                    r.id.clone(),
                    r.status.as_str().to_string(),
                    r.reason.clone().unwrap_or_default(),
                ]
            })
            .collect::<Vec<_>>(),
    );
    let verdict = if in_sync {
        format!("Stack '{}' is in sync.", state.stack)
    } else {
        let bad = rows.iter().filter(|r| r.status != Health::Ok).count();
        format!(
            "Stack '{}': {bad} of {} {} not ok; run deploy to repair.",
            state.stack,
            crate::report::count(rows.len(), "resource"),
            if bad == 1 { "is" } else { "are" }
        )
    };
    let mut text = format!("{table}\n{verdict}\n");
    if let Some(u) = &url {
        text.push_str(&format!("Invoke URL: {u}\n"));
    }
    let code = if unknown {
        1
    } else if in_sync {
        0
    } else {
        EXIT_DRIFT
    };
    let doc = json!({
        "command": "status",
        "ok": code == 0,
        "stack": state.stack,
        "region": state.region,
        "in_sync": in_sync,
        "exit_code": code,
        "resources": rows,
        "url": url,
    });
    report::emit(global.output, &doc, &text);
    Ok(code)
}
