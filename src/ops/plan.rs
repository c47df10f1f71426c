//! Plan: what deploy would do now, key by key, from the same round of reads deploy makes
//! first and no mutating call.
//!
//! The plan walks the same graph as deploy, on a copy of the state that goes through the same
//! repair deploy does (what the checks found missing or drifted is forgotten, with what lives
//! in it). Each node's action follows from its record: none recorded is a create (or an adopt,
//! when a resource of its name and owner tag exists); a record forgotten by the repair is a
//! replace (or a create, when AWS no longer has it); a record whose fingerprint is not the
//! wish's is an update. The simulated state then records what the node will be after deploy —
//! IDs that AWS picks are unknown, IDs that follow from names are known — so that the nodes
//! built on it are judged as deploy will judge them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::aws::Caller;
use crate::kinds::context::Before;
use crate::kinds::context::{Health, KeyCheck};
use crate::kinds::graph::{Graph, Node};
use crate::kinds::{self, CheckCx, Want};
use crate::ops::deploy::repair;
use crate::resources::Owner;
use crate::stack::StackSpec;
use crate::state::{Record, StackState};

/// The version of the JSON plan document (`format_version`).
pub const FORMAT_VERSION: &str = "1.0";

/// What deploy will do to one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanAction {
    Create,
    Adopt,
    Update,
    Replace,
    Delete,
    /// Nothing: it is as wished.
    None,
}

impl PlanAction {
    pub fn symbol(self) -> &'static str {
        match self {
            PlanAction::Create => "+",
            PlanAction::Adopt => "<",
            PlanAction::Update => "~",
            PlanAction::Replace => "-/+",
            PlanAction::Delete => "-",
            PlanAction::None => " ",
        }
    }
}

/// One key's planned change.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub key: String,
    pub kind: String,
    pub action: PlanAction,
    /// Why (`null` when there is nothing to say: an unchanged resource, a plain create).
    pub reason: Option<String>,
    /// What it was made from (as recorded), and what it will be made from (`null` where it
    /// depends on IDs only AWS will pick).
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// The properties that change, for an update (empty for every other action).
    pub changed: Vec<String>,
    /// Deleting or replacing it loses data (a table's items).
    pub deletes_data: bool,
}

/// The whole plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// IAM changes in words: actions or resources the role's policy gains or loses.
    pub iam: Vec<String>,
    /// Who may call which route, where it changes.
    pub access: Vec<String>,
    /// Routes or policy statements the stack does not have, which deploy removes.
    pub removals: Vec<String>,
    /// Owner tags deploy puts back.
    pub tags: Vec<String>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != PlanAction::None)
            || !self.removals.is_empty()
            || !self.tags.is_empty()
    }

    pub fn count(&self, action: PlanAction) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }
}

/// What stands for an ID that AWS picks when deploy makes the resource.
pub const KNOWN_AFTER_DEPLOY: &str = "(known after deploy)";

/// Works out the plan. `state` is the loaded state (or a new one), `before` the reads deploy
/// makes first, `code` the SHA-256 of each function's code deploy would upload.
pub async fn compute(
    c: &Caller,
    spec: &StackSpec,
    state: &StackState,
    before: &Before,
    code: &kinds::CodeShas,
    allow_data_loss: bool,
) -> Plan {
    let graph = Graph::new(spec);
    let mut original = state.clone();
    kinds::upgrade_legacy(&mut original, spec, &graph);
    let checks: Vec<KeyCheck> = before.checks.clone().unwrap_or_default();
    let mut sim = original.clone();
    repair(&mut sim, &graph, &checks);
    let remade = crate::ops::deploy::remade_when_changed(&mut sim, spec, &graph);
    let whole = |row: &'static str| {
        checks
            .iter()
            .filter(move |k| k.key.is_empty() && k.row == row)
    };
    let mut removals = Vec::new();
    let findings: Vec<KeyCheck> = checks
        .iter()
        .filter(|k| k.key.is_empty())
        .cloned()
        .collect();
    for kind in kinds::REGISTRY {
        let answer = kind.answer(&findings, spec);
        for (key, _) in &answer.redo {
            sim.forget(key);
        }
        removals.extend(answer.removes);
    }
    let tags: Vec<String> = whole(crate::ops::status::OWNER_TAGS_ROW)
        .filter(|k| k.check.health == Health::Drifted)
        .filter_map(|k| k.check.reason.clone())
        .collect();
    let found = lookups(c, spec, &graph, &sim, before).await;

    let mut changes = Vec::new();
    for node in &graph.nodes {
        let change = plan_node(
            spec,
            node,
            &original,
            &mut sim,
            &checks,
            &found,
            code,
            allow_data_loss,
            (&remade, &graph),
        );
        changes.push(change);
    }
    // Recorded, but no longer in the stack.
    let orphans = crate::ops::deploy::orphans(&original, &graph);
    let after_run = crate::ops::deploy::removed_after_run(&original, &graph, &orphans);
    for (k, rec) in &original.resources {
        if !graph.contains(k) {
            let holds_data = kinds::by_name(&rec.kind).is_some_and(|kind| kind.holds_data());
            changes.push(Change {
                key: k.clone(),
                kind: rec.kind.clone(),
                action: PlanAction::Delete,
                reason: Some(if let Some((_, why)) = after_run.iter().find(|(o, _)| o == k) {
                    why.to_string()
                } else if holds_data && !allow_data_loss {
                    "recorded, but no longer in the stack: deploy deletes it, with every item in it, only with --allow-data-loss; without it, deploy stops before any change".into()
                } else if crate::ops::deploy::removable(&rec.kind) {
                    "recorded, but no longer in the stack".into()
                } else {
                    format!(
                        "recorded, but no longer in the stack; deploy does not delete a {} and will stop before any change",
                        rec.kind
                    )
                }),
                before: rec.props.clone(),
                after: None,
                changed: Vec::new(),
                deletes_data: holds_data,
            });
        }
    }
    let iam = iam_changes(&changes);
    let access = access_changes(&changes);
    Plan {
        changes,
        iam,
        access,
        removals,
        tags,
    }
}

/// Who may call a method, in words, from its props: `open`, or what it takes.
fn access_of(props: &Value) -> String {
    let mut parts = Vec::new();
    if props.pointer("/auth/api_key") == Some(&Value::Bool(true)) {
        parts.push("an API key".to_string());
    }
    match props["authorization"].as_str().unwrap_or("NONE") {
        "AWS_IAM" => parts.push("a SigV4 signature (IAM)".into()),
        "COGNITO_USER_POOLS" => {
            let scopes: Vec<&str> = props
                .pointer("/auth/scopes")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            parts.push(if scopes.is_empty() {
                "a Cognito ID token".into()
            } else {
                format!("a Cognito access token with {}", scopes.join(" or "))
            });
        }
        "CUSTOM" => parts.push("a Lambda authorizer's Allow".into()),
        _ => {}
    }
    if parts.is_empty() {
        "open to anyone".into()
    } else {
        parts.join(" and ")
    }
}

/// The routes whose access changes, in words ("GET /orders: open to anyone -> an API key"):
/// from each method's props, or from the document's props of each route.
fn access_changes(changes: &[Change]) -> Vec<String> {
    let mut out = Vec::new();
    let mut routes: Vec<(String, Option<&Value>, Option<&Value>, PlanAction)> = Vec::new();
    for c in changes {
        if c.kind == "method" {
            let route = c.key.strip_prefix("method:").unwrap_or(&c.key);
            routes.push((
                route.to_string(),
                c.before.as_ref(),
                c.after.as_ref(),
                c.action,
            ));
        } else if c.kind == "api-document" {
            // A route's entry is keyed by its label (`GET /orders`); it is new or gone with
            // the route.
            let labels: std::collections::BTreeSet<&String> = [&c.before, &c.after]
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .flat_map(|m| m.keys())
                .filter(|k| k.contains(" /"))
                .collect();
            for label in labels {
                let before = c.before.as_ref().and_then(|v| v.get(label));
                let after = c.after.as_ref().and_then(|v| v.get(label));
                let action = match (before, after, c.action) {
                    (_, _, PlanAction::None) => PlanAction::None,
                    (None, Some(_), _) => PlanAction::Create,
                    (Some(_), None, _) => PlanAction::Delete,
                    (_, _, a) => a,
                };
                routes.push((label.clone(), before, after, action));
            }
        }
    }
    for (route, before, after, action) in routes {
        let before = before.map(access_of);
        let after = after.map(access_of);
        match (before, after, action) {
            (_, _, PlanAction::None) => {}
            (Some(b), Some(a), _) if b != a => out.push(format!("{route}: {b} -> {a}")),
            (None, Some(a), PlanAction::Create) if a != "open to anyone" => {
                out.push(format!("{route} (new): {a}"))
            }
            (Some(b), None, PlanAction::Delete) => out.push(format!("{route}: removed (was {b})")),
            _ => {}
        }
    }
    out
}

fn reason_of(checks: &[KeyCheck], key: &str) -> Option<(Health, String)> {
    checks
        .iter()
        .find(|k| k.key == key && k.check.is_bad())
        .map(|k| (k.check.health, k.check.reason.clone().unwrap_or_default()))
}

#[allow(clippy::too_many_arguments)]
fn plan_node(
    spec: &StackSpec,
    node: &Node,
    original: &StackState,
    sim: &mut StackState,
    checks: &[KeyCheck],
    found: &BTreeMap<String, Owner>,
    code: &kinds::CodeShas,
    allow_data_loss: bool,
    (remade, graph): (&[String], &Graph),
) -> Change {
    let kind = node.kind;
    let after = kind.props(&Want { spec, state: sim }, node);
    let before = original
        .resources
        .get(&node.key)
        .and_then(|r| r.props.clone());
    let mut change = Change {
        key: node.key.clone(),
        kind: kind.name().to_string(),
        action: PlanAction::None,
        reason: None,
        before: before.clone(),
        after: after.clone(),
        changed: Vec::new(),
        deletes_data: false,
    };
    match sim.resources.get(&node.key).cloned() {
        None => {
            if original.has(&node.key) {
                match reason_of(checks, &node.key) {
                    Some((Health::Missing, why)) => {
                        change.action = PlanAction::Create;
                        change.reason = Some(format!("deleted outside serverless-cli: {why}"));
                    }
                    Some((_, why)) => {
                        change.action = PlanAction::Replace;
                        change.reason = Some(format!("drifted: {why}"));
                    }
                    None => {
                        change.action = PlanAction::Replace;
                        change.reason = Some(container_reason(node, checks, remade, graph));
                    }
                }
                change.deletes_data = kind.holds_data() && change.action == PlanAction::Replace;
            } else {
                match found.get(&node.key) {
                    Some(Owner::Us) => {
                        change.action = PlanAction::Adopt;
                        change.reason = Some("found by name and this stack's owner tag".into());
                    }
                    Some(other) => {
                        change.action = PlanAction::Create;
                        change.reason = Some(format!(
                            "its name is taken by a resource of {}: deploy will stop here",
                            other.describe()
                        ));
                    }
                    None => {
                        change.action = PlanAction::Create;
                        change.reason = kind.create_note(&Want { spec, state: sim }, node);
                    }
                }
            }
            sim.resources.insert(
                node.key.clone(),
                predicted(spec, node, None, after.clone(), code),
            );
        }
        Some(rec) => {
            let w = Want { spec, state: sim };
            let current = !kind.updatable() || kinds::is_current(&rec.fingerprint, &w, node);
            let other = kind.other_change(node, &rec, code);
            if !current || other.is_some() {
                change.action = PlanAction::Update;
                change.changed = changed_props(before.as_ref(), after.as_ref());
                if let Some((field, old, new)) = other.clone() {
                    change.changed.push(field.into());
                    change.before = Some(with_field(change.before.take(), field, old));
                    change.after = Some(with_field(change.after.take(), field, new));
                }
                change.reason = Some(match reason_of(checks, &node.key) {
                    Some((_, why)) => format!("drifted: {why}"),
                    None if after.is_none() => {
                        "it is built on resources this deploy makes again".to_string()
                    }
                    None if before.is_none() => {
                        "recorded by an older release, or its settings were changed: applied again"
                            .to_string()
                    }
                    None if change.changed.is_empty() => "its settings changed".to_string(),
                    None => format!("changed: {}", change.changed.join(", ")),
                });
                if let (Some(b), Some(a)) = (before.as_ref(), after.as_ref()) {
                    if let Some(why) = kind.replaced_on(b, a) {
                        change.action = PlanAction::Replace;
                        change.deletes_data = kind.holds_data();
                        change.reason = Some(if kind.holds_data() && !allow_data_loss {
                            format!("{why}; this deletes its data, which deploy does only with --allow-data-loss (without it, it stops before any change)")
                        } else {
                            why
                        });
                    }
                }
                sim.resources.insert(
                    node.key.clone(),
                    predicted(spec, node, Some(&rec), after.clone(), code),
                );
            } else if let Some((_, why)) = reason_of(checks, &node.key) {
                // On its way to ready: deploy waits for it.
                change.reason = Some(format!("deploy waits for it: {why}"));
            }
        }
    }
    change
}

/// Why a key that was fine is made again: what it lives in is.
fn container_reason(node: &Node, checks: &[KeyCheck], remade: &[String], graph: &Graph) -> String {
    if remade.contains(&node.key) {
        return "its settings changed, and AWS makes it again rather than update it".into();
    }
    if let Some(k) = remade
        .iter()
        .find(|k| graph.with_contents(k).contains(&node.key))
    {
        return format!("made again with {k}, whose settings changed");
    }
    for (dep, edge) in &node.deps {
        if *edge == crate::kinds::graph::Edge::LivesIn {
            if let Some((_, why)) = reason_of(checks, dep) {
                return format!("made again with {dep} ({why})");
            }
        }
    }
    let bad: Vec<&str> = checks
        .iter()
        .filter(|k| k.check.is_bad() && !k.key.is_empty())
        .map(|k| k.key.as_str())
        .collect();
    format!("made again with what it lives in ({})", bad.join(", "))
}

fn with_field(v: Option<Value>, field: &str, x: Value) -> Value {
    let mut v = v.unwrap_or_else(|| json!({}));
    if let Some(m) = v.as_object_mut() {
        m.insert(field.into(), x);
    }
    v
}

/// The top-level properties that differ.
fn changed_props(before: Option<&Value>, after: Option<&Value>) -> Vec<String> {
    let (Some(Value::Object(b)), Some(Value::Object(a))) = (before, after) else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| b.get(*k) != a.get(*k))
        .cloned()
        .collect()
}

/// The record a node will have after deploy: the IDs it keeps (an update), the IDs that follow
/// from its name (its kind's prediction), and [`KNOWN_AFTER_DEPLOY`] for those AWS picks.
fn predicted(
    spec: &StackSpec,
    node: &Node,
    current: Option<&Record>,
    props: Option<Value>,
    code: &kinds::CodeShas,
) -> Record {
    let kind = node.kind;
    let mut rec = match current {
        Some(rec) => {
            let mut rec = rec.clone();
            if let Some((field, _, new)) = kind.other_change(node, &rec, code) {
                rec.attrs.insert(field.into(), new);
            }
            rec
        }
        None => kind.predict(spec, node, code).unwrap_or_else(|| Record {
            kind: kind.name().to_string(),
            id: KNOWN_AFTER_DEPLOY.to_string(),
            arn: None,
            fingerprint: String::new(),
            attrs: Default::default(),
            props: None,
        }),
    };
    rec.fingerprint = props
        .as_ref()
        .map(|p| kinds::fingerprint_of(kind.name(), p))
        .unwrap_or_default();
    rec.props = props;
    rec
}

/// For the keys nothing records, whether a resource of that name exists, and whose it is:
/// deploy adopts what is this stack's.
pub async fn lookups(
    c: &Caller,
    spec: &StackSpec,
    graph: &Graph,
    state: &StackState,
    before: &Before,
) -> BTreeMap<String, Owner> {
    let cx = CheckCx::new(c, spec, state);
    let cx = &cx;
    let found = futures::future::join_all(
        graph
            .nodes
            .iter()
            .filter(|n| !state.has(&n.key))
            .map(|n| async move { (n.key.clone(), n.kind.find(cx, n, before).await) }),
    )
    .await;
    found
        .into_iter()
        .filter_map(|(k, o)| o.map(|o| (k, o)))
        .collect()
}

/// The actions and resources the role's policy gains or loses, in words.
fn iam_changes(changes: &[Change]) -> Vec<String> {
    let mut out = Vec::new();
    for c in changes.iter().filter(|c| c.kind == "role-policy") {
        if c.action == PlanAction::None {
            continue;
        }
        let grants = |v: &Option<Value>| -> std::collections::BTreeSet<String> {
            let Some(v) = v else {
                return Default::default();
            };
            let mut set = std::collections::BTreeSet::new();
            if let Some(arns) = v.get("managed_arns").and_then(Value::as_array) {
                for a in arns.iter().filter_map(Value::as_str) {
                    set.insert(format!("managed policy {a}"));
                }
            }
            let statements = v
                .pointer("/document/Statement")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for s in statements {
                let list = |x: Option<&Value>| -> Vec<String> {
                    match x {
                        Some(Value::String(s)) => vec![s.clone()],
                        Some(Value::Array(a)) => a
                            .iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect(),
                        _ => Vec::new(),
                    }
                };
                for action in list(s.get("Action")) {
                    for resource in list(s.get("Resource")) {
                        set.insert(format!("{action} on {resource}"));
                    }
                }
            }
            set
        };
        let (b, a) = (grants(&c.before), grants(&c.after));
        for g in a.difference(&b) {
            out.push(format!("{} grants {g}", c.key));
        }
        for g in b.difference(&a) {
            out.push(format!("{} no longer grants {g}", c.key));
        }
        if c.before.is_none() && c.action != PlanAction::Create {
            out.push(format!("{} is put again as shown", c.key));
        }
    }
    out
}
