//! Status: every resource of the graph checked against AWS at once, one round of concurrent
//! reads (reads that several checks need are made once), plus the checks of the stack as a
//! whole: routes and policy statements the stack does not have, and lost owner tags.

use futures::future::join_all;
use serde::Serialize;

use crate::aws::Caller;
use crate::graph::Graph;
use crate::kinds::{Check, CheckCx};
use crate::resources::{api, Owner};
use crate::stack::StackSpec;
use crate::state::{ApiRecord, StackState};

/// One line of the status table.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Row {
    pub resource: &'static str,
    pub id: String,
    pub status: Health,
    /// Why it is not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Only on its way to ready (CREATING, Pending, InProgress): waiting will mend it.
    #[serde(skip)]
    pub transitional: bool,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Ok,
    Missing,
    Drifted,
    /// The check itself failed (an AWS error).
    Unknown,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Missing => "missing",
            Health::Drifted => "drifted",
            Health::Unknown => "unknown",
        }
    }
}

/// One resource's check, with the key it is about (empty for a check of the whole stack) and
/// the status row it is shown in.
#[derive(Debug, Clone)]
pub struct KeyCheck {
    pub key: String,
    pub row: &'static str,
    pub check: Check,
}

/// The rows of the status table, in the order the stack is built.
pub const ROWS: [&str; 16] = [
    "table",
    "role",
    "role-policy",
    "function",
    "api",
    "routes",
    "resource",
    FOREIGN_ROUTES_ROW,
    "method",
    "method-responses",
    "integration",
    "integration-responses",
    "stage",
    OWNER_TAGS_ROW,
    "permission",
    "log-group",
];

/// Every check of the stack: each node of the graph, and the stack-wide ones.
pub async fn check_keys(
    c: &Caller,
    spec: &StackSpec,
    graph: &Graph,
    state: &StackState,
) -> Vec<KeyCheck> {
    let cx = CheckCx::new(c, spec, state);
    let cx = &cx;
    let per_key = join_all(graph.nodes.iter().map(|node| async move {
        node.kind.check(cx, node).await.map(|check| KeyCheck {
            key: node.key.clone(),
            row: node.kind.row(),
            check,
        })
    }));
    let (per_key, routes, tags, statements) = tokio::join!(
        per_key,
        check_foreign_routes(cx),
        check_owner_tags(c, state),
        check_foreign_statements(cx)
    );
    let mut out: Vec<KeyCheck> = per_key.into_iter().flatten().collect();
    let whole = |row: &'static str, check: Check| KeyCheck {
        key: String::new(),
        row,
        check,
    };
    out.push(whole(FOREIGN_ROUTES_ROW, routes));
    out.push(whole(OWNER_TAGS_ROW, tags));
    for s in statements {
        out.push(whole("permission", s));
    }
    out
}

/// Folds the checks into the status table's rows: missing or drifted if any part is, with
/// every part's reason.
pub fn rows(checks: &[KeyCheck]) -> Vec<Row> {
    ROWS.iter()
        .filter_map(|row| {
            let parts: Vec<&Check> = checks
                .iter()
                .filter(|k| k.row == *row)
                .map(|k| &k.check)
                .collect();
            if parts.is_empty() {
                return None;
            }
            let worst = [Health::Unknown, Health::Missing, Health::Drifted]
                .into_iter()
                .find(|h| parts.iter().any(|p| p.health == *h))
                .unwrap_or(Health::Ok);
            let reasons: Vec<&str> = parts.iter().filter_map(|p| p.reason.as_deref()).collect();
            let mut ids: Vec<&str> = Vec::new();
            for p in &parts {
                if !ids.contains(&p.id.as_str()) {
                    ids.push(&p.id);
                }
            }
            let bad: Vec<&&Check> = parts.iter().filter(|p| p.is_bad()).collect();
            Some(Row {
                resource: row,
                id: ids.join(", "),
                status: worst,
                reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
                transitional: !bad.is_empty() && bad.iter().all(|p| p.transitional),
            })
        })
        .collect()
}

/// Routes of the API that the stack does not have: one added by hand would be published by
/// deploy's next deployment.
async fn check_foreign_routes(cx: &CheckCx<'_>) -> Check {
    let Some(api_rec) = cx.state.get::<ApiRecord>(crate::graph::key::REST_API) else {
        return Check::missing("REST API", crate::kinds::NOT_DEPLOYED);
    };
    let label = format!("REST API {}", api_rec.id);
    match crate::kinds::path::read_all(cx).await {
        Ok(None) => Check::missing(label, "the REST API does not exist"),
        Ok(Some(all)) => {
            let foreign = foreign_routes(&all, cx.spec, cx.state);
            if foreign.is_empty() {
                Check::ok(label)
            } else {
                Check::drifted(
                    label,
                    format!(
                        "routes not in the stack, which the next deployment would publish: {}",
                        foreign
                            .iter()
                            .map(|(_, path, method)| match method {
                                Some(m) => format!("{m} {path}"),
                                None => format!("{path} (resource)"),
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            }
        }
        Err(e) => Check::failed(label, e),
    }
}

/// Statements in each function's policy that the stack did not put (they let others invoke
/// it); none for a function while nothing to compare with is recorded.
async fn check_foreign_statements(cx: &CheckCx<'_>) -> Vec<Check> {
    join_all(
        cx.spec
            .functions
            .iter()
            .map(|f| check_foreign_statements_of(cx, &f.logical)),
    )
    .await
    .into_iter()
    .flatten()
    .collect()
}

async fn check_foreign_statements_of(cx: &CheckCx<'_>, function: &str) -> Option<Check> {
    let routed = cx.spec.routes.iter().any(|r| r.function == function);
    let label = if routed { crate::stack::INVOKE_SID } else { "" };
    match crate::kinds::permission::read_policy(cx, function).await? {
        Err(e) => Some(Check::failed(label, e)),
        Ok(statements) => {
            let foreign =
                crate::kinds::permission::foreign_sids(&statements, cx.spec, cx.state, function);
            Some(if foreign.is_empty() {
                Check::ok(label)
            } else {
                Check::drifted(
                    label,
                    format!(
                        "{} (they let others invoke the function): {}",
                        crate::kinds::permission::FOREIGN_STATEMENTS,
                        foreign.join(", ")
                    ),
                )
            })
        }
    }
}

/// The status row of routes the stack does not have.
pub const FOREIGN_ROUTES_ROW: &str = "extra-routes";

/// What the API has beyond the stack, as (resource id, path, method): a resource of a path the
/// stack does not have (`None`: the whole resource, its methods and children with it), or a
/// method the stack does not have on one of its paths (the root included).
pub fn foreign_routes(
    all: &[api::ResourceInfo],
    spec: &StackSpec,
    state: &StackState,
) -> Vec<(String, String, Option<String>)> {
    let resources = spec.resources();
    // What the state records is the stack's too: what the model no longer has is removed by
    // deploy as such (plan's "delete"), not as someone else's addition.
    let recorded_paths: Vec<String> = state
        .all::<crate::state::ResourceRecord>()
        .into_iter()
        .map(|(_, r)| r.path)
        .collect();
    let recorded_methods: Vec<String> = state
        .resources
        .values()
        .filter(|r| r.kind == "method")
        .map(|r| r.id.clone())
        .collect();
    let ours: Vec<&str> = std::iter::once("/")
        .chain(resources.iter().map(|r| r.path.as_str()))
        .chain(recorded_paths.iter().map(String::as_str))
        .collect();
    let mut out = Vec::new();
    for r in all {
        if !ours.contains(&r.path.as_str()) {
            // Only the topmost foreign resource: deleting it takes its children.
            let parent_foreign = all.iter().any(|p| {
                !ours.contains(&p.path.as_str()) && r.path.starts_with(&format!("{}/", p.path))
            });
            if !parent_foreign {
                out.push((r.id.clone(), r.path.clone(), None));
            }
            continue;
        }
        for m in &r.methods {
            let wanted = spec
                .routes
                .iter()
                .any(|route| route.path == r.path && route.http_method == *m)
                || recorded_methods.contains(&format!("{m} {}", r.path));
            if !wanted {
                out.push((r.id.clone(), r.path.clone(), Some(m.clone())));
            }
        }
    }
    out
}

/// The status row of the stack's owner tags.
pub const OWNER_TAGS_ROW: &str = "owner-tags";

/// A recorded resource whose owner tag is not this stack's.
pub struct WrongTag {
    /// Its key in the state (what deploy tags again).
    pub key: String,
    /// Its kind's status row: `table`, `role`, `function`, `api`, `log-group`.
    pub kind: &'static str,
    /// How it is named to a person.
    pub name: String,
    pub owner: Owner,
}

/// The owner tag of every recorded resource whose kind carries one (`Kind::owner`: every
/// record, not the first of each), read at once: a tag removed by hand would make the
/// resource look like nobody's (teardown would refuse it, a lost state could not find it).
/// Deploy puts a missing tag back; a tag naming another stack is reported, never overwritten.
pub async fn owner_tags(c: &Caller, state: &StackState) -> Vec<WrongTag> {
    let stack = &state.owner();
    let reads = state.resources.iter().filter_map(|(key, rec)| {
        let kind = crate::kinds::by_name(&rec.kind)?;
        let read = kind.owner(c, rec, stack)?;
        Some(async move {
            read.await.map(|found| {
                found.map(|(name, owner)| WrongTag {
                    key: key.clone(),
                    kind: kind.row(),
                    name,
                    owner,
                })
            })
        })
    });
    // A resource that is gone, or whose tags cannot be read, is another row's business.
    join_all(reads)
        .await
        .into_iter()
        .filter_map(|x| x.ok().flatten())
        .filter(|w| !matches!(w.owner, Owner::Us | Owner::Unknown(_)))
        .collect()
}

async fn check_owner_tags(c: &Caller, state: &StackState) -> Check {
    let label = format!("{}={}", crate::stack::OWNER_TAG, state.owner());
    let wrong = owner_tags(c, state).await;
    if wrong.is_empty() {
        return Check::ok(label);
    }
    Check::drifted(
        label,
        wrong
            .iter()
            .map(|w| match &w.owner {
                Owner::Untagged => format!("{} {} has lost its owner tag", w.kind, w.name),
                other => format!(
                    "{} {}: owner tag now says {}",
                    w.kind,
                    w.name,
                    other.describe()
                ),
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}
