//! Teardown: the graph reversed. Each kind that AWS deletes on its own (the table, the role
//! with its policies, the function, its log group, the REST API with everything in it, each
//! invoke permission) is one step, started once everything that depends on it is gone:
//!
//! ```text
//! permission:f ──┬── rest-api (its paths, methods, validator and stage with it)
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

use crate::engine::Step;
use crate::kinds::context::Run;
use crate::kinds::context::TeardownCtx;
use crate::kinds::graph::{Graph, Node};
use crate::state::StackState;

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

#[allow(clippy::too_many_arguments)]
/// Runs teardown on the stack a state describes: the graph of its model, reversed. The
/// report's outcomes are one per kind.
pub async fn run(
    aws: crate::aws::Aws,
    store: std::sync::Arc<crate::store::Store>,
    state: StackState,
    keep_table: bool,
    timing: crate::kinds::context::Timing,
    progress: &crate::report::Progress,
    stop: Option<crate::engine::Stop>,
    spec: crate::stack::StackSpec,
) -> crate::engine::RunReport {
    let graph = Graph::new(&spec);
    let steps = steps(&graph);
    let ctx = Arc::new(TeardownCtx {
        run: Run::new(aws, store, state.clone(), progress.clone(), timing),
        owner: state.owner(),
        keep_table,
        spec,
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
pub fn dry_run(
    state: &StackState,
    keep_table: bool,
    spec: &crate::stack::StackSpec,
) -> Vec<Planned> {
    let graph = Graph::new(spec);
    let steps = steps(&graph);
    let w = crate::kinds::Want { spec, state };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::graph::key;

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
        let permissions = ["permission:putitem"];
        assert_eq!(deps(key::REST_API), permissions);
        assert_eq!(deps(key::FUNCTION), permissions);
        // After the function, and so after what had to go before it.
        let after_function = [key::FUNCTION, "permission:putitem"];
        assert_eq!(deps(key::ROLE), after_function);
        assert_eq!(deps(key::LOG_GROUP), after_function);
        assert!(deps(key::TABLE).is_empty());
        assert_eq!(steps.len(), 6);
    }
}
