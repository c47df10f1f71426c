//! `serverless-cli status`.

use std::time::Duration;

use serde_json::json;

use crate::aws::{Aws, Caller};
use crate::report::Progress;

use crate::cli::GlobalArgs;
use crate::error::UsageError;
use crate::kinds::context::Health;
use crate::ops::status::{check_keys, rows};
use crate::report;
use crate::stack;

/// Exit code when anything is missing or drifted.
pub const EXIT_DRIFT: i32 = 3;

pub async fn run(global: &GlobalArgs) -> anyhow::Result<i32> {
    let mut file = crate::session::stack_file(global)?;
    let mut session = crate::session::open(global, None).await?;
    session.fit(&mut file);
    let Some(state) = session.state.clone() else {
        return Err(UsageError(format!(
            "stack '{}' has no state file ({}); deploy it first, or pass the --stack and --state-dir it was deployed with",
            session.stack,
            session.store.describe()
        ))
        .into());
    };
    let spec_for = |account: &str| match &file {
        Some(f) => f.spec(&state.stack, &state.region, account),
        None => crate::stackfile::recorded::builtin(&state, account),
    };
    let progress = Progress::for_stderr();
    let policy = crate::session::timing(Duration::ZERO, Duration::ZERO).retry;
    let state_ref = &state;
    let checks = |aws: Aws| {
        let spec = spec_for(&aws.account);
        let caller = Caller {
            aws,
            policy,
            progress: progress.clone(),
        };
        async move {
            let graph = crate::kinds::graph::Graph::new(&spec);
            check_keys(&caller, &spec, &graph, state_ref).await
        }
    };
    // The reads overlap the identity call: one round of calls in all.
    let known = state.account.is_some();
    let checks = match crate::session::connect_with(&mut session, |aws, _| async move {
        if known {
            Some(checks(aws).await)
        } else {
            None
        }
    })
    .await?
    {
        (_, Some(found)) => found,
        // A state without an account: the checks need it for ARNs, so they run after.
        (aws, None) => checks(aws).await,
    };
    let rows = rows(&checks);
    let in_sync = rows.iter().all(|r| r.status == Health::Ok);
    let unknown = rows.iter().any(|r| r.status == Health::Unknown);
    // The stack's own URL: the tutorial's route under its stage, or a file's stage.
    let url = state
        .get::<crate::kinds::rest_api::ApiRecord>(crate::kinds::graph::key::REST_API)
        .map(|a| {
            let spec = spec_for(state.account.as_deref().unwrap_or_default());
            match (&file, crate::kinds::domain_records::url_of(&state)) {
                (None, _) => stack::invoke_url(&a.id, &state.region),
                (Some(_), Some(domain)) => domain.trim_end_matches('/').to_string(),
                (Some(_), None) => stack::stage_url(&a.id, &state.region, &spec.api.stage),
            }
        });

    let table = report::table(
        &["RESOURCE", "NAME / ID", "STATUS", "REASON"],
        &rows
            .iter()
            .map(|r| {
                vec![
                    r.resource.to_string(),
                    id_cell(&r.ids),
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
        "checks": checks
            .iter()
            .filter(|k| !k.key.is_empty())
            .map(|k| json!({
                "key": k.key,
                "row": k.row,
                "id": k.check.id,
                "status": k.check.health,
                "reason": k.check.reason,
            }))
            .collect::<Vec<_>>(),
        "url": url,
    });
    report::emit(global.output, &doc, &text);
    Ok(code)
}
/// A row's names for the table: a few in full, then a count (a stack of 50 routes would
/// otherwise print every route's method in one cell). `--output json` keeps them all.
fn id_cell(ids: &[String]) -> String {
    const SHOWN: usize = 3;
    if ids.len() <= SHOWN + 1 {
        return ids.join(", ");
    }
    format!("{} and {} more", ids[..SHOWN].join(", "), ids.len() - SHOWN)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_row_of_many_names_shows_a_few_and_a_count() {
        let names = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(super::id_cell(&names(&["a", "b"])), "a, b");
        assert_eq!(super::id_cell(&names(&["a", "b", "c", "d"])), "a, b, c, d");
        let fifty: Vec<String> = (0..50).map(|i| format!("GET /r{i}")).collect();
        assert_eq!(
            super::id_cell(&fifty),
            "GET /r0, GET /r1, GET /r2 and 47 more"
        );
        // One name that lists several things is one name, shown whole.
        let validator = names(&["body (UserBody, Order, Item, Note, Tag)"]);
        assert_eq!(super::id_cell(&validator), validator[0]);
    }
}
