//! The teardown plan: everything in reverse dependency order.
//!
//! ```text
//! permission ──┬── api
//!              └── function ──┬── role (policies, then the role)
//!                             └── log-group
//! table (alone; kept with --keep-table)
//! ```
//!
//! Resources are found by their recorded IDs and, for those a crash left unrecorded, by the
//! stack's names (and, for the REST API, by name and owner tag). A resource is deleted only
//! when its owner tag names this stack. "Not found" means already gone. Each removal is
//! recorded at once, so a second teardown finishes what an interrupted one began.

use std::sync::Arc;

use anyhow::Context;
use futures::future::BoxFuture;

use crate::aws::poll;
use crate::engine::{Action, Step, StepResult};
use crate::error::not_ours;
use crate::ops::Run;
use crate::resources::{api, function, log_group, role, table, Owner};
use crate::stack::{GET_PERMISSION_SID, PERMISSION_SID};

/// The permission statements a stack may have, one per route.
const SIDS: [&str; 2] = [PERMISSION_SID, GET_PERMISSION_SID];

pub struct TeardownCtx {
    pub run: Run,
    pub stack: String,
    pub keep_table: bool,
}

impl std::ops::Deref for TeardownCtx {
    type Target = Run;
    fn deref(&self) -> &Run {
        &self.run
    }
}

type StepFut = BoxFuture<'static, anyhow::Result<StepResult>>;

pub fn steps() -> Vec<Step<TeardownCtx>> {
    fn s(
        name: &'static str,
        doing: &'static str,
        deps: &'static [&'static str],
        run: fn(Arc<TeardownCtx>) -> StepFut,
    ) -> Step<TeardownCtx> {
        Step {
            name,
            doing,
            deps,
            run,
        }
    }
    vec![
        s("permission", "removing the invoke permission", &[], |c| {
            Box::pin(remove_permission(c))
        }),
        s("api", "deleting the REST API", &["permission"], |c| {
            Box::pin(delete_api(c))
        }),
        s(
            "function",
            "deleting the Lambda function",
            &["permission"],
            |c| Box::pin(delete_function(c)),
        ),
        s(
            "role",
            "deleting the IAM role and its policies",
            &["function"],
            |c| Box::pin(delete_role(c)),
        ),
        s(
            "log-group",
            "deleting the function's log group",
            &["function"],
            |c| Box::pin(delete_log_group(c)),
        ),
        s("table", "deleting the DynamoDB table", &[], |c| {
            Box::pin(delete_table(c))
        }),
    ]
}

/// A resource found under the stack's name whose owner tag is not this stack: an error when the
/// state claims it (someone pointed the state at another's resource), left alone otherwise.
fn foreign(recorded: bool, kind: &str, name: &str, owner: &Owner) -> anyhow::Result<StepResult> {
    if recorded {
        let fix = if *owner == Owner::Untagged {
            "It was left in place. If it is this stack's and only its tag was removed, run deploy (it puts the tag back), then teardown; otherwise fix or remove the state file's entry."
        } else {
            "It was left in place; fix or remove the state file's entry."
        };
        Err(not_ours(kind, name, owner, fix).into())
    } else {
        Ok(StepResult::new(Action::Skipped, name.to_string())
            .with_detail(format!("{kind} belongs to {}", owner.describe())))
    }
}

/// The function's owner, or `None` when it is gone. A function whose tags cannot be read
/// (no `lambda:ListTags`) is ours when the state records it by the same ARN: this run's stack
/// made it.
async fn function_owner(
    ctx: &TeardownCtx,
    state: &crate::state::StackState,
    name: &str,
) -> anyhow::Result<Option<Owner>> {
    let recorded = state.function.as_ref().map(|f| f.arn.as_str());
    Ok(ctx
        .call("function", || function::get(&ctx.aws, name, &ctx.stack))
        .await?
        .map(|f| match f.owner {
            Owner::Unknown(_) if recorded == Some(f.arn.as_str()) => Owner::Us,
            owner => owner,
        }))
}

async fn remove_permission(ctx: Arc<TeardownCtx>) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let name = state.names.function.clone();
    let action = match function_owner(&ctx, &state, &name).await? {
        // The permission lives in the function's policy: no function, no permission.
        None => Action::Gone,
        Some(Owner::Us) => {
            // One statement per route, one after the other: they change the same policy.
            let mut any = false;
            for sid in SIDS {
                let removed = ctx
                    .call("permission", || {
                        function::remove_permission(&ctx.aws, &name, sid)
                    })
                    .await
                    .with_context(|| {
                        format!("removing the invoke permission {sid} of function {name}")
                    })?;
                any |= removed;
                ctx.record(|s| crate::ops::deploy::set_permission_record(s, sid, None))
                    .await?;
            }
            if any {
                Action::Deleted
            } else {
                Action::Gone
            }
        }
        Some(other) => return foreign(state.function.is_some(), "Lambda function", &name, &other),
    };
    ctx.record(|s| {
        s.permission = None;
        s.get_permission = None;
    })
    .await?;
    Ok(StepResult::new(action, SIDS.join(", ")))
}

async fn delete_api(ctx: Arc<TeardownCtx>) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let name = state.names.api.clone();
    // The recorded API, and any API of this name tagged with this stack that a crash left
    // unrecorded.
    let mut ids: Vec<String> = state.api.iter().map(|a| a.id.clone()).collect();
    let found = ctx
        .call("api", || api::find_by_name(&ctx.aws, &name, &ctx.stack))
        .await?;
    for a in found {
        if a.owner == Owner::Us && !ids.contains(&a.id) {
            ids.push(a.id);
        }
    }
    let mut action = Action::Gone;
    for id in &ids {
        // Read before every attempt: a delete whose answer was lost is not sent again (the
        // emulator answers 500, not NotFound, for a missing API).
        let deleted = ctx
            .call("api", || async {
                match api::get(&ctx.aws, id, &ctx.stack).await? {
                    None => Ok(Ok(false)),
                    Some(a) if a.owner == Owner::Us => api::delete(&ctx.aws, id).await.map(Ok),
                    Some(a) => Ok(Err(a)),
                }
            })
            .await
            .with_context(|| format!("deleting REST API {id}"))?;
        match deleted {
            Ok(true) => action = Action::Deleted,
            Ok(false) => {}
            Err(a) => {
                return Err(not_ours(
                    "REST API",
                    &format!("{} ({id})", a.name),
                    &a.owner,
                    "It was left in place; fix or remove the state file's entry.",
                )
                .into())
            }
        }
    }
    ctx.record(|s| {
        s.api = None;
        s.resource = None;
        s.item_resource = None;
        s.request_validator = None;
        s.method = None;
        s.method_responses = None;
        s.integration = None;
        s.integration_responses = None;
        s.deployment = None;
    })
    .await?;
    Ok(StepResult::new(
        action,
        if ids.is_empty() {
            name
        } else {
            format!("{name} ({})", ids.join(", "))
        },
    ))
}

async fn delete_function(ctx: Arc<TeardownCtx>) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let name = state.names.function.clone();
    let action = match function_owner(&ctx, &state, &name).await? {
        None => Action::Gone,
        Some(Owner::Us) => {
            let deleted = ctx
                .call("function", || function::delete(&ctx.aws, &name))
                .await
                .with_context(|| format!("deleting function {name}"))?;
            if deleted {
                Action::Deleted
            } else {
                Action::Gone
            }
        }
        Some(other) => return foreign(state.function.is_some(), "Lambda function", &name, &other),
    };
    ctx.record(|s| {
        s.function = None;
        s.permission = None;
        s.get_permission = None;
    })
    .await?;
    Ok(StepResult::new(action, name))
}

async fn delete_role(ctx: Arc<TeardownCtx>) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let name = state.names.role.clone();
    let owner = ctx
        .call("role", || role::owner(&ctx.aws, &name, &ctx.stack))
        .await?;
    let action = match owner {
        None => Action::Gone,
        Some(Owner::Us) => {
            // DeleteRole fails with DeleteConflict until every policy is off the role.
            let inline = ctx
                .call("role", || role::inline_policy_names(&ctx.aws, &name))
                .await?;
            for p in &inline {
                ctx.call("role", || role::delete_inline_policy(&ctx.aws, &name, p))
                    .await
                    .with_context(|| format!("deleting inline policy {p} of role {name}"))?;
            }
            let attached = ctx
                .call("role", || role::attached_policy_arns(&ctx.aws, &name))
                .await?;
            for arn in &attached {
                ctx.call("role", || role::detach_policy(&ctx.aws, &name, arn))
                    .await
                    .with_context(|| format!("detaching {arn} from role {name}"))?;
            }
            ctx.record(|s| s.role_policy = None).await?;
            let deleted = ctx
                .call("role", || role::delete(&ctx.aws, &name))
                .await
                .with_context(|| format!("deleting IAM role {name}"))?;
            if deleted {
                Action::Deleted
            } else {
                Action::Gone
            }
        }
        Some(other) => return foreign(state.role.is_some(), "IAM role", &name, &other),
    };
    ctx.record(|s| {
        s.role_policy = None;
        s.role = None;
    })
    .await?;
    Ok(StepResult::new(action, name))
}

async fn delete_table(ctx: Arc<TeardownCtx>) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let name = state.names.table.clone();
    if ctx.keep_table {
        return Ok(StepResult::new(Action::Kept, name).with_detail("--keep-table"));
    }
    let info = ctx
        .call("table", || table::describe(&ctx.aws, &name))
        .await?;
    let action = match info {
        None => Action::Gone,
        Some(info) => {
            let owner = ctx
                .call("table", || table::owner(&ctx.aws, &info.arn, &ctx.stack))
                .await?;
            if owner != Owner::Us {
                return foreign(state.table.is_some(), "table", &name, &owner);
            }
            let deleted = ctx
                .call("table", || table::delete(&ctx.aws, &name))
                .await
                .with_context(|| format!("deleting table {name}"))?;
            // Wait until it is really gone, so "nothing left" holds when teardown returns.
            let t = ctx.timing;
            let gone = poll(t.ready_wait, t.poll_first, t.poll_max, || async {
                let still = ctx
                    .call("table", || table::describe(&ctx.aws, &name))
                    .await?;
                if let Some(i) = &still {
                    ctx.progress
                        .note("table", &format!("waiting: table is {}", i.status));
                }
                Ok(still.is_none().then_some(()))
            })
            .await?;
            gone.with_context(|| {
                format!(
                    "table {name} was still being deleted after {} s; run teardown again",
                    t.ready_wait.as_secs()
                )
            })?;
            if deleted {
                Action::Deleted
            } else {
                Action::Gone
            }
        }
    };
    ctx.record(|s| s.table = None).await?;
    Ok(StepResult::new(action, name))
}

async fn delete_log_group(ctx: Arc<TeardownCtx>) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let name = format!("/aws/lambda/{}", state.names.function);
    let info = ctx
        .call("log-group", || log_group::describe(&ctx.aws, &name))
        .await?;
    let action = match info {
        None => Action::Gone,
        Some(info) => {
            let owner = ctx
                .call("log-group", || {
                    log_group::owner(&ctx.aws, &info.arn, &ctx.stack)
                })
                .await?;
            if owner != Owner::Us {
                return foreign(state.log_group.is_some(), "log group", &name, &owner);
            }
            let deleted = ctx
                .call("log-group", || log_group::delete(&ctx.aws, &name))
                .await
                .with_context(|| format!("deleting log group {name}"))?;
            if deleted {
                Action::Deleted
            } else {
                Action::Gone
            }
        }
    };
    ctx.record(|s| s.log_group = None).await?;
    Ok(StepResult::new(action, name))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_plan_is_a_valid_graph() {
        crate::engine::check_graph(&super::steps()).unwrap();
    }
}
