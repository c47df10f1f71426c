//! Deploy: one step per resource key of the graph, each idempotent and resumable.
//!
//! Every node whose dependencies are done starts at once, so independent work (the table, the
//! role, the API's skeleton, each route) overlaps. The calls on one route's method
//! (PutMethod, PutMethodResponse per status, PutIntegration, PutIntegrationResponse per
//! status) run one after another, because AWS refuses a Put* on a method while another is in
//! flight ([`MethodLocks`]); so do the changes to the function's policy. The longest chain is
//! on the API's side: STS, CreateRestApi, CreateResource /user, CreateResource /user/{uid},
//! then GET's method with its responses and integration, then CreateDeployment. The lookup
//! that guards against a second REST API runs beside the STS call.
//!
//! A step does nothing when the state records its resource with the wish's fingerprint. A
//! create that answers "already exists" adopts the resource only when its owner tag names this
//! stack. Every ID is recorded the moment AWS returns it, before the next call.
//!
//! Before the steps, one round of concurrent reads (the status checks) finds what was deleted
//! or changed behind the tool's back; [`repair`] forgets it in the state (with everything that
//! lives in it), so the steps make it right.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;

use crate::aws::{Aws, Caller, RetryPolicy};
use crate::code::Codes;
use crate::engine::{self, Step};
use crate::kinds::context::Run;
use crate::kinds::context::{Before, DeployCtx, Health, KeyCheck, Timing};
use crate::kinds::graph::{key, Graph};
use crate::kinds::{Check, Repair};
use crate::report::Progress;
use crate::resources::{api, Owner};
use crate::stack::StackSpec;
use crate::state::StackState;

/// One step per node of the graph, depending on the steps of the node's dependencies.
pub fn steps(graph: &Graph) -> Vec<Step<DeployCtx>> {
    graph
        .nodes
        .iter()
        .map(|node| {
            let key = node.key.clone();
            Step {
                name: node.key.clone(),
                group: node.kind.step(),
                doing: node.kind.doing(),
                deps: graph.deps_of(&node.key),
                run: Box::new(move |ctx: Arc<DeployCtx>| {
                    let key = key.clone();
                    Box::pin(async move {
                        let node = ctx
                            .graph
                            .node(&key)
                            .with_context(|| format!("{key} is not in the stack"))?;
                        node.kind.ensure(&ctx, node).await
                    })
                }),
            }
        })
        .collect()
}

/// Forgets, in the state, whatever the checks found missing or drifted, together with what
/// lives in it, so that the steps make it again (or update it in place, or wait for it).
/// Returns what will be repaired, in words.
pub fn repair(state: &mut StackState, graph: &Graph, checks: &[KeyCheck]) -> Vec<String> {
    let mut repaired = Vec::new();
    for kc in checks {
        if !kc.check.is_bad() || !state.has(&kc.key) {
            // Fine, or never made: the steps make it anyway.
            continue;
        }
        let Some(node) = graph.node(&kc.key) else {
            continue;
        };
        repaired.push(describe(&kc.key, &kc.check));
        match node.kind.repair(node, &kc.check) {
            Repair::Recreate(keys) => {
                for k in keys {
                    forget_made_again(state, graph, &k);
                }
            }
            Repair::Update => {
                if let Some(rec) = state.resources.get_mut(&kc.key) {
                    node.kind.invalidate(rec);
                }
            }
            Repair::Wait => {
                // A record that keeps a ready flag (a table, a function) is told it is not
                // ready, so its step waits; others (a certificate pending validation) record
                // what their step waits for themselves.
                if let Some(rec) = state.resources.get_mut(&kc.key) {
                    if rec.attrs.contains_key("ready") {
                        rec.attrs.insert("ready".into(), false.into());
                    }
                }
            }
        }
    }
    repaired
}

/// Forgets, with what lives in them, the recorded resources whose wish changed and whose kind
/// makes them again rather than updating them (a method whose integration type, model or
/// parameters changed: it is deleted and put, and its responses and integration with it), so
/// that every part is put again. Returns the keys of those resources.
pub fn remade_when_changed(state: &mut StackState, spec: &StackSpec, graph: &Graph) -> Vec<String> {
    let changed: Vec<String> = graph
        .nodes
        .iter()
        .filter(|n| n.kind.remade_when_changed())
        .filter(|n| {
            state.resources.get(&n.key).is_some_and(|r| {
                !crate::kinds::is_current(&r.fingerprint, &crate::kinds::Want { spec, state }, n)
            })
        })
        .map(|n| n.key.clone())
        .collect();
    for k in &changed {
        forget_made_again(state, graph, k);
    }
    changed
}

/// Forgets `key` and what lives in it, so that the steps make them again; a record that
/// outlives such a container ([`crate::kinds::Kind::outlives`]) is kept and told it is out of
/// date instead.
fn forget_made_again(state: &mut StackState, graph: &Graph, key: &str) {
    let container = graph.node(key).map(|n| n.kind.name()).unwrap_or_default();
    for gone in graph.with_contents(key) {
        match graph.node(&gone) {
            Some(n) if gone != key && n.kind.outlives(container) => {
                if let Some(rec) = state.resources.get_mut(&gone) {
                    rec.fingerprint.clear();
                    rec.props = None;
                }
            }
            _ => {
                state.forget(&gone);
            }
        }
    }
}

fn describe(key: &str, c: &Check) -> String {
    format!(
        "{key} {}{}",
        c.health.as_str(),
        c.reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    )
}

/// What a deploy is asked to make.
pub struct DeployInput {
    pub store: std::sync::Arc<crate::store::Store>,
    /// The state as loaded (None: a first deploy).
    pub state: StackState,
    /// The state was loaded from the store (not made up for a first deploy).
    pub existed: bool,
    /// Names or account changed: save before anything else.
    pub save_first: bool,
    pub codes: Codes,
    pub allow_data_loss: bool,
    pub timing: Timing,
}

/// The reads that overlap the identity call: on an existing stack, the status checks that find
/// what was deleted or changed behind our back; while no REST API is recorded, the lookup
/// that keeps a lost one from being made twice.
pub async fn read_before(
    aws: Aws,
    state: Option<&StackState>,
    spec_for: impl Fn(&str, &StackState) -> StackSpec,
    api_name: &str,
    owner: &str,
    timing: &Timing,
    progress: &Progress,
) -> Before {
    let known = state.filter(|s| s.account.is_some());
    let need_lookup = state.is_none_or(|s| !s.has(key::REST_API));
    let checks = async {
        match known {
            Some(state) => {
                let spec = spec_for(&aws.account, state);
                let graph = Graph::new(&spec);
                let caller = Caller {
                    aws: aws.clone(),
                    policy: timing.retry,
                    progress: progress.clone(),
                };
                Some(crate::ops::status::check_keys(&caller, &spec, &graph, state).await)
            }
            None => None,
        }
    };
    let lookup = async {
        if need_lookup {
            api::find_by_name(&aws, api_name, owner).await.ok()
        } else {
            None
        }
    };
    let (checks, api_lookup) = tokio::join!(checks, lookup);
    Before { checks, api_lookup }
}

/// Stops before any change when a name this stack would create is taken by a resource of
/// another owner (another project or stack, or nobody known): the same lookups plan makes,
/// for every key nothing records. A resource of this stack's own (a crash before it was
/// recorded) is adopted as before.
async fn check_names_free(
    aws: &Aws,
    spec: &StackSpec,
    graph: &Graph,
    state: &StackState,
    before: &Before,
    policy: RetryPolicy,
    progress: &Progress,
) -> anyhow::Result<()> {
    if graph.nodes.iter().all(|n| state.has(&n.key)) {
        return Ok(());
    }
    let caller = Caller {
        aws: aws.clone(),
        policy,
        progress: progress.clone(),
    };
    let found = crate::ops::plan::lookups(&caller, spec, graph, state, before).await;
    let Some((node, owner)) = graph.nodes.iter().find_map(|n| {
        found
            .get(&n.key)
            .filter(|o| **o != Owner::Us)
            .map(|o| (n, o))
    }) else {
        return Ok(());
    };
    let label = node.kind.label(&crate::kinds::Want { spec, state }, node);
    let what = node.kind.noun();
    let fix = if spec.owner_tag.contains('/') {
        "Give it another name in the stack file (its `name`), or give the project another `name`; nothing was changed."
    } else {
        "Choose another name with --table-name, --role-name, --function-name or --api-name (or --stack); nothing was changed."
    };
    Err(crate::error::not_ours(what, &label, owner, fix).into())
}

/// Applies what the checks found (owner tags put back, drift forgotten), then runs the steps.
pub async fn apply(
    aws: Aws,
    spec: StackSpec,
    input: DeployInput,
    before: Before,
    progress: &Progress,
    stop: Option<engine::Stop>,
) -> anyhow::Result<(StackState, engine::RunReport)> {
    let DeployInput {
        store,
        mut state,
        existed,
        save_first,
        codes,
        allow_data_loss,
        timing,
    } = input;
    let graph = Graph::new(&spec);
    let mut orphans = orphans(&state, &graph);
    let mut dirty = save_first || !existed;
    // A kind that makes others' records obsolete (a stack moving to the document build: the
    // overwrite replaces what the per-call parts made): forgotten rather than removed one
    // call each.
    let replaced: Vec<&str> = graph
        .nodes
        .iter()
        .flat_map(|n| n.kind.replaces().iter().copied())
        .collect();
    if !replaced.is_empty() {
        let superseded: Vec<String> = orphans
            .iter()
            .filter(|k| {
                state
                    .resources
                    .get(*k)
                    .is_some_and(|r| replaced.contains(&r.kind.as_str()))
            })
            .cloned()
            .collect();
        for k in &superseded {
            state.forget(k);
            dirty = true;
        }
        orphans.retain(|k| !superseded.contains(k));
    }
    check_orphans(&state, &orphans, allow_data_loss)?;
    // What goes only once its replacement is in place (a statement of the earlier layout, one
    // per route, on a function that keeps a statement of its own).
    let superseded: Vec<String> = removed_after_run(&state, &graph, &orphans)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    orphans.retain(|k| !superseded.contains(k));
    check_replacements(&state, &spec, &graph, allow_data_loss)?;
    check_names_free(&aws, &spec, &graph, &state, &before, timing.retry, progress).await?;
    // What the kinds must learn from the account first (a domain's zone, delegation and
    // brought certificate), before anything is made or waited for.
    let caller = Caller {
        aws: aws.clone(),
        policy: timing.retry,
        progress: progress.clone(),
    };
    for kind in crate::kinds::REGISTRY {
        if let Some(check) = kind.preflight(&caller, &spec, &state, state.endpoint.is_none()) {
            check.await?;
        }
    }
    if crate::kinds::upgrade_legacy(&mut state, &spec, &graph) {
        dirty = true;
    }
    if !remade_when_changed(&mut state, &spec, &graph).is_empty() {
        dirty = true;
    }
    if dirty {
        // Recorded before the first create: a crash from here on leaves names to find.
        store.record(&state).await.context("saving the state")?;
    }
    // (A state without an account, which only a hand edit makes, gets no repair round; its
    // steps still run from what it records.)
    let checks = before.checks.unwrap_or_default();
    let stack_row = |row: &'static str| checks.iter().filter(move |k| k.row == row);
    let findings: Vec<KeyCheck> = checks
        .iter()
        .filter(|k| k.key.is_empty())
        .cloned()
        .collect();
    let lost_tags =
        stack_row(crate::ops::status::OWNER_TAGS_ROW).any(|k| k.check.health == Health::Drifted);
    if lost_tags {
        let caller = Caller {
            aws: aws.clone(),
            policy: timing.retry,
            progress: progress.clone(),
        };
        let restored = restore_owner_tags(&caller, &state).await?;
        if !restored.is_empty() {
            progress.line(&format!(
                "Put the owner tag {}={} back on {}",
                crate::stack::OWNER_TAG,
                state.stack,
                restored.join(", ")
            ));
        }
    }
    let mut repairs = repair(&mut state, &graph, &checks);
    for kind in crate::kinds::REGISTRY {
        for (key, why) in kind.answer(&findings, &spec).redo {
            if state.forget(&key) {
                repairs.push(format!("{key} ({why})"));
            }
        }
    }
    if !repairs.is_empty() {
        progress.line(&format!("Repairing: {}", repairs.join("; ")));
        store.record(&state).await.context("saving the state")?;
    }
    progress.line(&format!(
        "Deploying stack '{}' ({}) to {}{}",
        spec.stack,
        codes
            .iter()
            .map(|(f, c)| if codes.len() == 1 {
                format!("{}, code sha256 {}", c.origin, c.sha256)
            } else {
                format!("{f}: {}, code sha256 {}", c.origin, c.sha256)
            })
            .collect::<Vec<_>>()
            .join("; "),
        spec.region,
        state
            .endpoint
            .as_deref()
            .map(|e| format!(" via {e}"))
            .unwrap_or_default()
    ));
    let steps = steps(&graph);
    let ctx = Arc::new(DeployCtx {
        run: Run::new(aws, store, state, progress.clone(), timing),
        spec,
        graph,
        codes,
        allow_data_loss,
        api_lookup: std::sync::Mutex::new(before.api_lookup),
        fresh_api: AtomicBool::new(false),
        method_locks: Default::default(),
        fresh_roles: Default::default(),
        findings,
    });
    let removed = remove_orphans(&ctx, &orphans).await?;
    let mut report = engine::run(
        ctx.clone(),
        steps,
        progress,
        stop,
        engine::OnFailure::StopStarting,
    )
    .await;
    report.outcomes.splice(0..0, removed);
    if !superseded.is_empty()
        && report.error.is_none()
        && report.skipped.is_empty()
        && !report.interrupted
    {
        match remove_orphans(&ctx, &superseded).await {
            Ok(done) => report.outcomes.extend(done),
            Err(e) => report.error = Some(("removed".to_string(), e)),
        }
    }
    let state = ctx.state.lock().await.clone();
    Ok((state, report))
}

/// Whether deploy removes a recorded resource of this kind that the model no longer has.
pub fn removable(kind: &str) -> bool {
    crate::kinds::by_name(kind).is_some_and(|k| k.removal_rank().is_some())
}

/// Refuses, before anything is changed, a state that records a resource the model no longer
/// has and deploy does not remove, or a table (its items) without `--allow-data-loss`.
pub fn check_orphans(
    state: &StackState,
    orphans: &[String],
    allow_data_loss: bool,
) -> anyhow::Result<()> {
    for key in orphans {
        let rec = &state.resources[key];
        let kind = &rec.kind;
        if !removable(kind) {
            return Err(crate::error::UsageError(format!(
                "{key} is recorded but no longer in the stack, and deploy does not delete a {kind} it no longer has; put it back, or run teardown to remove the whole stack. Nothing was changed"
            ))
            .into());
        }
        let holds_data = crate::kinds::by_name(kind).is_some_and(|k| k.holds_data());
        if holds_data && !allow_data_loss {
            return Err(crate::error::UsageError(format!(
                "{key} (table {}) is no longer in the stack file: deploy would delete it with every item in it. Run deploy with --allow-data-loss to do so, or put the table back in the file. Nothing was changed",
                rec.id
            ))
            .into());
        }
    }
    Ok(())
}

/// Refuses, before anything is changed, a change that replaces a resource holding data (a
/// table whose key changed) without `--allow-data-loss`.
pub fn check_replacements(
    state: &StackState,
    spec: &StackSpec,
    graph: &Graph,
    allow_data_loss: bool,
) -> anyhow::Result<()> {
    if allow_data_loss {
        return Ok(());
    }
    let w = crate::kinds::Want { spec, state };
    for node in &graph.nodes {
        let kind = node.kind;
        let (Some(before), Some(after)) = (
            state
                .resources
                .get(&node.key)
                .and_then(|r| r.props.as_ref()),
            kind.props(&w, node),
        ) else {
            continue;
        };
        if let Some(why) = kind
            .replaced_on(before, &after)
            .filter(|_| kind.holds_data())
        {
            return Err(crate::error::UsageError(format!(
                "{} ({}): {why}; it would be deleted with every item in it and made again. Run deploy with --allow-data-loss to do so, or give the changed table another name in the stack file. Nothing was changed",
                node.key,
                kind.label(&w, node)
            ))
            .into());
        }
    }
    Ok(())
}

/// The orphans that go only after a successful run, with plan's reason (each kind says which
/// of its records: [`crate::kinds::Kind::removed_after_run`]).
pub fn removed_after_run(
    state: &StackState,
    graph: &Graph,
    orphans: &[String],
) -> Vec<(String, &'static str)> {
    crate::kinds::REGISTRY
        .iter()
        .flat_map(|kind| kind.removed_after_run(state, graph, orphans))
        .collect()
}

/// The recorded keys the model no longer has, in removal order (deepest paths last).
pub fn orphans(state: &StackState, graph: &Graph) -> Vec<String> {
    let mut out: Vec<(u8, usize, String)> = state
        .resources
        .iter()
        .filter(|(k, _)| !graph.contains(k))
        .map(|(k, r)| {
            let rank = crate::kinds::by_name(&r.kind)
                .and_then(|k| k.removal_rank())
                .unwrap_or(u8::MAX);
            // Longer paths (children) before their parents.
            (rank, usize::MAX - k.len(), k.clone())
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, _, k)| k).collect()
}

/// Removes what the model no longer has, one at a time, each record forgotten the moment it
/// is gone; before any step, so the deployment that follows no longer publishes it. A kind
/// that cannot be removed this way (a table, a function: the tutorial's model never drops
/// them) stops the deploy before any change.
async fn remove_orphans(
    ctx: &DeployCtx,
    orphans: &[String],
) -> anyhow::Result<Vec<engine::Outcome>> {
    let mut outcomes = Vec::new();
    for key in orphans {
        let Some(rec) = ctx.snapshot().await.resources.get(key).cloned() else {
            continue;
        };
        let Some(kind) = crate::kinds::by_name(&rec.kind) else {
            continue;
        };
        let started = std::time::Instant::now();
        if let Some(done) = kind.remove(ctx, key, &rec).await? {
            ctx.progress.line(&format!(
                "removed {key} ({}): no longer in the stack",
                done.resource
            ));
            outcomes.push(engine::Outcome {
                step: "removed".to_string(),
                key: key.clone(),
                action: done.action,
                resource: done.resource,
                detail: Some("no longer in the stack".into()),
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        ctx.record(|s| {
            s.forget(key);
        })
        .await?;
    }
    Ok(outcomes)
}

/// Puts the stack's owner tag back on each recorded resource that lost it (a tag naming
/// another stack is left alone: status reports it). Returns what was tagged, to say so.
pub async fn restore_owner_tags(
    c: &crate::aws::Caller,
    state: &StackState,
) -> anyhow::Result<Vec<String>> {
    let lost = crate::ops::status::owner_tags(c, state).await;
    let mut restored = Vec::new();
    for w in lost {
        if w.owner != Owner::Untagged {
            continue;
        }
        let Some(retag) = state.resources.get(&w.key).and_then(|rec| {
            crate::kinds::by_name(&rec.kind).and_then(|kind| kind.retag(c, rec, state))
        }) else {
            continue;
        };
        retag
            .await
            .with_context(|| format!("putting the owner tag back on {} {}", w.kind, w.name))?;
        restored.push(format!("{} {}", w.kind, w.name));
    }
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::path::ResourceRecord;
    use crate::kinds::permission::PermissionRecord;
    use crate::kinds::rest_api::ApiRecord;
    use crate::kinds::stage::DeploymentRecord;
    use crate::kinds::Check;
    use crate::stack::Names;
    use std::time::Duration;

    fn graph() -> Graph {
        Graph::new(&crate::stack::tests_support::spec())
    }

    #[test]
    fn the_steps_are_the_graph_with_the_documented_overlap() {
        let steps = steps(&graph());
        crate::engine::check_graph(&steps).unwrap();
        let roots: Vec<_> = steps
            .iter()
            .filter(|s| s.deps.is_empty())
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(
            roots,
            [key::TABLE, key::ROLE, key::LOG_GROUP, key::REST_API]
        );
        let function = steps.iter().find(|s| s.name == key::FUNCTION).unwrap();
        assert_eq!(function.deps, [key::ROLE, key::LOG_GROUP]);
        let groups: std::collections::BTreeSet<&str> = steps.iter().map(|s| s.group).collect();
        // 15 kinds' steps (the live alias among them), and the gateway response that names
        // 415's content type (the tutorial's GET route has a request template).
        assert_eq!(groups.len(), 16, "{groups:?}");
        assert!(groups.contains("alias"));
        assert!(groups.contains("gateway-responses"));
    }

    #[test]
    fn role_retries_poll_each_second_after_a_quick_start() {
        let pauses: Vec<_> = (0..5)
            .map(crate::kinds::function::role_retry_pause)
            .collect();
        assert_eq!(pauses[0], Duration::from_millis(250));
        assert!(pauses[2..].iter().all(|p| *p == Duration::from_secs(1)));
    }

    fn full_state() -> StackState {
        let mut s = StackState::new("prod", "us-east-1", None, Names::defaults("prod"));
        s.put(
            key::REST_API,
            &ApiRecord {
                id: "a".into(),
                name: "n".into(),
                root_resource_id: "r".into(),
                fingerprint: String::new(),
            },
        );
        s.put(
            "path:/user",
            &ResourceRecord {
                id: "res".into(),
                path: "/user".into(),
                fingerprint: String::new(),
            },
        );
        for k in ["method", "integration"] {
            for r in ["POST /user", "GET /user/{uid}"] {
                s.resources.insert(
                    format!("{k}:{r}"),
                    crate::state::Record {
                        kind: k.into(),
                        id: r.into(),
                        arn: None,
                        fingerprint: "f".into(),
                        attrs: Default::default(),
                        props: None,
                    },
                );
            }
        }
        s.put(
            key::STAGE,
            &DeploymentRecord {
                id: "d".into(),
                stage: "prod".into(),
                fingerprint: "x".into(),
                releases: Vec::new(),
                rollback: None,
            },
        );
        s.put(
            "permission:putitem",
            &PermissionRecord {
                statement_id: "s".into(),
                source_arn: "arn".into(),
                function_arn: "f".into(),
                fingerprint: String::new(),
                qualifier: String::new(),
                unqualified_left: false,
            },
        );
        s
    }

    fn kc(key: &str, check: Check) -> KeyCheck {
        KeyCheck {
            key: key.into(),
            row: "x",
            check,
        }
    }

    #[test]
    fn a_missing_api_forgets_everything_that_lives_in_it() {
        let mut s = full_state();
        let fixed = repair(
            &mut s,
            &graph(),
            &[
                kc(key::REST_API, Check::missing("a", "gone")),
                kc(key::TABLE, Check::ok("t")),
            ],
        );
        assert_eq!(fixed, vec![format!("{} missing (gone)", key::REST_API)]);
        assert!(!s.has(key::REST_API) && !s.has("path:/user") && !s.has("method:POST /user"));
        assert!(!s.has("integration:GET /user/{uid}") && !s.has(key::STAGE));
        // The permission is updated, not forgotten: its fingerprint names the API's id.
        assert!(s.has("permission:putitem"));
    }

    #[test]
    fn a_drifted_stage_only_forgets_the_deployment() {
        let mut s = full_state();
        repair(
            &mut s,
            &graph(),
            &[
                kc(key::STAGE, Check::drifted("prod", "old")),
                kc(
                    "permission:putitem",
                    Check::failed(
                        "p",
                        crate::aws::AwsError::local(crate::aws::ErrorKind::Other, "x".to_string()),
                    ),
                ),
            ],
        );
        // The deployment is made again (its fingerprint forgotten); the record stays, with
        // the deployments kept to roll back to.
        let stage = s
            .resources
            .get(key::STAGE)
            .expect("the stage's record is kept");
        assert!(stage.fingerprint.is_empty() && stage.props.is_none());
        assert!(s.has("integration:POST /user") && s.has("permission:putitem"));
    }

    #[test]
    fn one_drifted_route_forgets_that_route_only() {
        let mut s = full_state();
        repair(
            &mut s,
            &graph(),
            &[kc(
                "method:GET /user/{uid}",
                Check::drifted("GET", "changed"),
            )],
        );
        assert!(!s.has("method:GET /user/{uid}") && !s.has("integration:GET /user/{uid}"));
        assert!(s.has("method:POST /user") && s.has("integration:POST /user"));
        // A new deployment publishes the repaired route: the stage's record is out of date
        // (its kept deployments stay, for rollback).
        let stage = s
            .resources
            .get(key::STAGE)
            .expect("the stage's record is kept");
        assert!(
            stage.fingerprint.is_empty() && stage.props.is_none(),
            "a new deployment publishes the repaired route"
        );
    }

    #[test]
    fn the_kept_deployments_outlive_a_route_made_again_but_not_the_rest_api() {
        let mut s = full_state();
        repair(
            &mut s,
            &graph(),
            &[kc("method:POST /user", Check::missing("POST", "gone"))],
        );
        assert!(s.has(key::STAGE));
        repair(
            &mut s,
            &graph(),
            &[kc(key::REST_API, Check::missing("api", "gone"))],
        );
        assert!(!s.has(key::STAGE));
    }

    #[test]
    fn per_route_statements_of_a_function_that_keeps_one_go_after_the_run() {
        let mut s = full_state();
        s.put(
            key::FUNCTION,
            &crate::kinds::function::FunctionRecord {
                name: "putitem-prod".into(),
                arn: "arn:aws:lambda:us-east-1:1:function:putitem-prod".into(),
                code_sha256: String::new(),
                runtime: "nodejs22.x".into(),
                config_fingerprint: String::new(),
                ready: true,
            },
        );
        let statement = |function: &str| PermissionRecord {
            statement_id: "serverless-cli-apigateway-post-user".into(),
            source_arn: "arn".into(),
            function_arn: format!("arn:aws:lambda:us-east-1:1:function:{function}"),
            fingerprint: String::new(),
            qualifier: String::new(),
            unqualified_left: false,
        };
        s.put("permission:POST /user", &statement("putitem-prod"));
        // A statement of a function the stack no longer has goes before the run, as any
        // orphan does.
        s.put("permission:GET /gone", &statement("gone-prod"));
        let g = graph();
        let orphans = orphans(&s, &g);
        assert!(orphans.contains(&"permission:POST /user".to_string()));
        assert!(!orphans.contains(&"permission:putitem".to_string()));
        assert_eq!(
            removed_after_run(&s, &g, &orphans)
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>(),
            ["permission:POST /user"]
        );
    }
}
