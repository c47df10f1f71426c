//! Teardown: the graph reversed. Each kind that AWS deletes on its own (the table, the role
//! with its policies, the function, its log group, the REST API with everything in it, each
//! invoke permission) is one step, started once everything that depends on it is gone:
//!
//! ```text
//! permission:* ──┬── rest-api (its paths, methods, validator and stage with it)
//!                └── function ──┬── role (policies, then the role)
//!                               └── log-group
//! table (alone; kept with --keep-table)
//! ```
//!
//! Resources are found by their recorded IDs and, for those a crash left unrecorded, by the
//! stack's names (and, for the REST API, by name and owner tag). A resource is deleted only
//! when its owner tag names this stack. "Not found" means already gone. Each removal is
//! recorded at once (with everything that lived in it), so a second teardown finishes what an
//! interrupted one began. A failed step stops only what depends on it.

use std::sync::Arc;

use anyhow::Context;

use crate::aws::poll;
use crate::engine::{Action, Step, StepResult};
use crate::error::not_ours;
use crate::graph::{key, Graph, Node};
use crate::ops::deploy::MethodLocks;
use crate::ops::Run;
use crate::resources::{api, function, log_group, role, table, Owner};
use crate::state::{ApiRecord, StackState};

pub struct TeardownCtx {
    pub run: Run,
    pub stack: String,
    pub keep_table: bool,
    pub graph: Graph,
    /// Changes to one function's policy go one at a time.
    pub locks: MethodLocks,
}

impl std::ops::Deref for TeardownCtx {
    type Target = Run;
    fn deref(&self) -> &Run {
        &self.run
    }
}

/// The nodes teardown deletes, in the order it may: each after every node that depends on it
/// (directly, or through what lives in it).
pub fn steps(graph: &Graph) -> Vec<Step<TeardownCtx>> {
    let deletable: Vec<&Node> = graph
        .nodes
        .iter()
        .filter(|n| !n.kind.goes_with_container())
        .collect();
    deletable
        .iter()
        .rev()
        .map(|node| {
            let key = node.key.clone();
            let after: Vec<String> = deletable
                .iter()
                .filter(|other| other.key != node.key && depends_on(graph, &other.key, &node.key))
                .map(|other| other.key.clone())
                .collect();
            Step {
                name: node.key.clone(),
                group: node.kind.step(),
                doing: node.kind.deleting(),
                deps: after,
                run: Box::new(move |ctx: Arc<TeardownCtx>| {
                    let key = key.clone();
                    Box::pin(async move {
                        let node = ctx
                            .graph
                            .node(&key)
                            .with_context(|| format!("{key} is not in the stack"))?;
                        node.kind.delete(&ctx, node).await
                    })
                }),
            }
        })
        .collect()
}

/// Runs teardown on the stack a state describes: the graph of its model, reversed. The
/// report's outcomes are one per kind.
pub async fn run(
    aws: crate::aws::Aws,
    store: crate::state::StateStore,
    state: StackState,
    keep_table: bool,
    timing: crate::ops::deploy::Timing,
    progress: &crate::report::Progress,
    stop: Option<crate::engine::Stop>,
) -> crate::engine::RunReport {
    let spec = crate::stack::StackSpec::from_state(&state, &aws.account);
    let graph = Graph::new(&spec);
    let steps = steps(&graph);
    let ctx = Arc::new(TeardownCtx {
        run: Run {
            aws,
            store,
            state: tokio::sync::Mutex::new(state.clone()),
            progress: progress.clone(),
            timing,
        },
        stack: state.stack.clone(),
        keep_table,
        graph,
        locks: Default::default(),
    });
    let mut report = crate::engine::run(
        ctx,
        steps,
        progress,
        stop,
        crate::engine::OnFailure::FinishIndependent,
    )
    .await;
    report.outcomes = crate::engine::by_group(&report.outcomes);
    report
}

/// One step of `teardown --dry-run`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Planned {
    pub key: String,
    pub kind: &'static str,
    pub does: &'static str,
    pub resource: String,
    pub recorded: bool,
    /// What goes with it (lives in it), as recorded.
    pub with: Vec<String>,
    pub deletes_data: bool,
}

/// What teardown would do, in the order it would start each step. No AWS call.
pub fn dry_run(state: &StackState, keep_table: bool) -> Vec<Planned> {
    let account = state.account.clone().unwrap_or_default();
    let spec = crate::stack::StackSpec::from_state(state, &account);
    let graph = Graph::new(&spec);
    let steps = steps(&graph);
    let w = crate::kinds::Want { spec: &spec, state };
    let mut done: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut out = Vec::new();
    while done.len() < steps.len() {
        let ready: Vec<&Step<TeardownCtx>> = steps
            .iter()
            .filter(|s| !done.contains(s.name.as_str()))
            .filter(|s| s.deps.iter().all(|d| done.contains(d.as_str())))
            .collect();
        if ready.is_empty() {
            break;
        }
        for step in ready {
            done.insert(&step.name);
            let Some(node) = graph.node(&step.name) else {
                continue;
            };
            let kept = node.kind.holds_data() && keep_table;
            out.push(Planned {
                key: node.key.clone(),
                kind: node.kind.name(),
                does: if kept {
                    "keeping (--keep-table)"
                } else {
                    node.kind.deleting()
                },
                resource: node.kind.label(&w, node),
                recorded: state.has(&node.key),
                with: graph
                    .with_contents(&node.key)
                    .into_iter()
                    .filter(|k| *k != node.key && state.has(k))
                    .collect(),
                deletes_data: node.kind.holds_data() && !kept,
            });
        }
    }
    out
}

/// Whether `a` depends on `b`, directly or through other nodes.
fn depends_on(graph: &Graph, a: &str, b: &str) -> bool {
    let mut todo = graph.deps_of(a);
    let mut seen = std::collections::HashSet::new();
    while let Some(k) = todo.pop() {
        if k == b {
            return true;
        }
        if seen.insert(k.clone()) {
            todo.extend(graph.deps_of(&k));
        }
    }
    false
}

/// Forgets `key` and everything that lives in it.
async fn forget_with_contents(ctx: &TeardownCtx, key: &str) -> anyhow::Result<()> {
    let gone = ctx.graph.with_contents(key);
    ctx.record(|s| {
        for k in &gone {
            s.forget(k);
        }
    })
    .await
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
    state: &StackState,
    name: &str,
) -> anyhow::Result<Option<Owner>> {
    let recorded = state
        .get::<crate::state::FunctionRecord>(key::FUNCTION)
        .map(|f| f.arn);
    let recorded = recorded.as_deref();
    Ok(ctx
        .call("function", || function::get(&ctx.aws, name, &ctx.stack))
        .await?
        .map(|f| match f.owner {
            Owner::Unknown(_) if recorded == Some(f.arn.as_str()) => Owner::Us,
            owner => owner,
        }))
}

/// Removes one route's statement from the function's policy.
pub async fn remove_permission(ctx: &TeardownCtx, node: &Node) -> anyhow::Result<StepResult> {
    let sid = node.route()?.permission_sid;
    let state = ctx.snapshot().await;
    let name = state.names.function.clone();
    let lock = crate::kinds::permission::policy_lock(&name);
    let action = match function_owner(ctx, &state, &name).await? {
        // The permission lives in the function's policy: no function, no permission.
        None => Action::Gone,
        Some(Owner::Us) => {
            let removed = ctx
                .locks
                .on(
                    &lock,
                    ctx.call("permission", || {
                        function::remove_permission(&ctx.aws, &name, sid)
                    }),
                )
                .await
                .with_context(|| {
                    format!("removing the invoke permission {sid} of function {name}")
                })?;
            if removed {
                Action::Deleted
            } else {
                Action::Gone
            }
        }
        Some(other) => return foreign(state.has(key::FUNCTION), "Lambda function", &name, &other),
    };
    forget_with_contents(ctx, &node.key).await?;
    Ok(StepResult::new(action, sid))
}

pub async fn delete_api(ctx: &TeardownCtx, node_key: &str) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let name = state.names.api.clone();
    // The recorded API, and any API of this name tagged with this stack that a crash left
    // unrecorded.
    let mut ids: Vec<String> = state
        .get::<ApiRecord>(node_key)
        .map(|a| a.id)
        .into_iter()
        .collect();
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
    forget_with_contents(ctx, node_key).await?;
    Ok(StepResult::new(
        action,
        if ids.is_empty() {
            name
        } else {
            format!("{name} ({})", ids.join(", "))
        },
    ))
}

pub async fn delete_function(ctx: &TeardownCtx, node_key: &str) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let name = state.names.function.clone();
    let action = match function_owner(ctx, &state, &name).await? {
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
        Some(other) => return foreign(state.has(node_key), "Lambda function", &name, &other),
    };
    forget_with_contents(ctx, node_key).await?;
    Ok(StepResult::new(action, name))
}

pub async fn delete_role(ctx: &TeardownCtx, node_key: &str) -> anyhow::Result<StepResult> {
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
            ctx.record(|s| {
                s.forget(key::ROLE_POLICY);
            })
            .await?;
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
        Some(other) => return foreign(state.has(node_key), "IAM role", &name, &other),
    };
    forget_with_contents(ctx, node_key).await?;
    Ok(StepResult::new(action, name))
}

pub async fn delete_table(ctx: &TeardownCtx, node_key: &str) -> anyhow::Result<StepResult> {
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
                return foreign(state.has(node_key), "table", &name, &owner);
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
    forget_with_contents(ctx, node_key).await?;
    Ok(StepResult::new(action, name))
}

pub async fn delete_log_group(ctx: &TeardownCtx, node_key: &str) -> anyhow::Result<StepResult> {
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
                return foreign(state.has(node_key), "log group", &name, &owner);
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
    forget_with_contents(ctx, node_key).await?;
    Ok(StepResult::new(action, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teardown_is_the_graph_reversed() {
        let graph = Graph::new(&crate::stack::tests_support::spec());
        let steps = steps(&graph);
        crate::engine::check_graph(&steps).unwrap();
        let deps = |k: &str| {
            let mut d = steps.iter().find(|s| s.name == k).unwrap().deps.clone();
            d.sort();
            d
        };
        let permissions = ["permission:GET /user/{uid}", "permission:POST /user"];
        assert_eq!(deps(key::REST_API), permissions);
        assert_eq!(deps(key::FUNCTION), permissions);
        // After the function, and so after what had to go before it.
        let after_function = [
            key::FUNCTION,
            "permission:GET /user/{uid}",
            "permission:POST /user",
        ];
        assert_eq!(deps(key::ROLE), after_function);
        assert_eq!(deps(key::LOG_GROUP), after_function);
        assert!(deps(key::TABLE).is_empty());
        assert_eq!(steps.len(), 7);
    }
}
