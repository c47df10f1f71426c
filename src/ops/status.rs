//! Status: every resource of the graph checked against AWS at once, one round of concurrent
//! reads (reads that several checks need are made once), plus the checks of the stack as a
//! whole: routes and policy statements the stack does not have, and lost owner tags.

use futures::future::join_all;
use serde::Serialize;

use crate::aws::Caller;
use crate::kinds::context::{Health, KeyCheck};
use crate::kinds::graph::Graph;
use crate::kinds::{Check, CheckCx};
use crate::resources::Owner;
use crate::stack::StackSpec;
use crate::state::StackState;

/// One line of the status table.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Row {
    pub resource: &'static str,
    /// Its parts' names, joined (`--output json`).
    pub id: String,
    /// The same names, one each (a name may hold ", " itself: the validator's lists its
    /// models), for the table to shorten.
    #[serde(skip)]
    pub ids: Vec<String>,
    pub status: Health,
    /// Why it is not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Only on its way to ready (CREATING, Pending, InProgress): waiting will mend it.
    #[serde(skip)]
    pub transitional: bool,
}

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
    let stack_wide = join_all(
        crate::kinds::REGISTRY
            .iter()
            .filter_map(|kind| kind.stack_checks(cx)),
    );
    let (per_key, stack_wide, tags) = tokio::join!(per_key, stack_wide, check_owner_tags(c, state));
    let mut out: Vec<KeyCheck> = per_key.into_iter().flatten().collect();
    let whole = |(row, check): (&'static str, Check)| KeyCheck {
        key: String::new(),
        row,
        check,
    };
    out.extend(stack_wide.into_iter().flatten().map(whole));
    out.push(whole((OWNER_TAGS_ROW, tags)));
    out
}

/// Folds the checks into the status table's rows: missing or drifted if any part is, with
/// every part's reason.
pub fn rows(checks: &[KeyCheck]) -> Vec<Row> {
    crate::kinds::status_rows(OWNER_TAGS_ROW)
        .into_iter()
        .filter_map(|row| {
            let parts: Vec<&Check> = checks
                .iter()
                .filter(|k| k.row == row)
                .map(|k| &k.check)
                .collect();
            if parts.is_empty() {
                return None;
            }
            let worst = [Health::Unknown, Health::Missing, Health::Drifted]
                .into_iter()
                .find(|h| parts.iter().any(|p| p.health == *h))
                .unwrap_or(Health::Ok);
            // A reason many parts share is said once, with how many (50 routes of an API
            // that is gone do not repeat it 50 times).
            let mut reasons: Vec<(&str, usize)> = Vec::new();
            for r in parts.iter().filter_map(|p| p.reason.as_deref()) {
                match reasons.iter_mut().find(|(seen, _)| *seen == r) {
                    Some((_, n)) => *n += 1,
                    None => reasons.push((r, 1)),
                }
            }
            let reasons: Vec<String> = reasons
                .into_iter()
                .map(|(r, n)| {
                    if n > 1 {
                        format!("{r} (x{n})")
                    } else {
                        r.to_string()
                    }
                })
                .collect();
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
                ids: ids.iter().map(|s| s.to_string()).collect(),
                status: worst,
                reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
                transitional: !bad.is_empty() && bad.iter().all(|p| p.transitional),
            })
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A check in any kind's row, or in a row its stack-wide checks fill, is shown: a row
    /// status left out would hide that kind's resources.
    #[test]
    fn every_kind_s_rows_are_shown() {
        let mut wanted: Vec<&'static str> = Vec::new();
        for kind in crate::kinds::REGISTRY {
            wanted.push(kind.row());
            wanted.extend(kind.extra_rows());
        }
        wanted.push(OWNER_TAGS_ROW);
        let checks: Vec<KeyCheck> = wanted
            .iter()
            .map(|row| KeyCheck {
                key: String::new(),
                row,
                check: Check::drifted(format!("id-{row}"), "changed"),
            })
            .collect();
        let shown = rows(&checks);
        for row in &wanted {
            let r = shown.iter().find(|r| r.resource == *row);
            let r = r.unwrap_or_else(|| panic!("row {row} is not shown"));
            assert_eq!(r.status, Health::Drifted);
            assert!(r.id.contains(&format!("id-{row}")), "{row}: {}", r.id);
        }
        // Owner tags, which every kind's records share, come last.
        assert_eq!(shown.last().map(|r| r.resource), Some(OWNER_TAGS_ROW));
    }

    #[test]
    fn a_reason_many_parts_share_is_said_once_with_a_count() {
        let check = |id: &str, why: &str| KeyCheck {
            key: format!("method:{id}"),
            row: "method",
            check: Check::missing(id.to_string(), why.to_string()),
        };
        let mut checks: Vec<KeyCheck> = (0..50)
            .map(|i| check(&format!("GET /r{i}"), "the REST API does not exist"))
            .collect();
        checks.push(check("POST /x", "deleted by hand"));
        let shown = rows(&checks);
        assert_eq!(
            shown[0].reason.as_deref(),
            Some("the REST API does not exist (x50); deleted by hand")
        );
        assert_eq!(shown[0].status, Health::Missing);
    }
}
