//! A DynamoDB table: its key schema, its billing.

use anyhow::Context;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Check, CheckCx, Kind, Removal, Repair, Want, NOT_DEPLOYED};
use crate::aws::{poll, AwsError, ErrorKind};
use crate::engine::{Action, StepResult};
use crate::error::not_ours;
use crate::kinds::context::DeployCtx;
use crate::kinds::context::{foreign, forget_with_contents, TeardownCtx};
use crate::kinds::graph::{key, Node};
use crate::resources::{table, Owner};
use crate::stack::{Billing, StackSpec, TableSpec, TUTORIAL_CAPACITY};

/// The properties a table is made from. The range key and the capacity are named only when
/// set apart from the tutorial's (the tutorial's table hashes as it always did).
pub fn props_of(t: &TableSpec) -> Value {
    let mut v = json!({"name": t.name, "hash_key": t.hash_key.describe(), "billing": t.billing});
    if let Some(r) = &t.range_key {
        v["range_key"] = r.describe().into();
    }
    if t.billing == Billing::Provisioned && t.capacity != TUTORIAL_CAPACITY {
        v["capacity"] = json!({"read": t.capacity.0, "write": t.capacity.1});
    }
    // Named only when there are some (a table without indexes hashes as it always did).
    let described = |local: bool| -> serde_json::Map<String, Value> {
        t.indexes
            .iter()
            .filter(|x| x.local == local)
            .map(|x| (x.name.clone(), x.describe().into()))
            .collect()
    };
    let (global, local) = (described(false), described(true));
    if !global.is_empty() {
        v["indexes"] = global.into();
    }
    if !local.is_empty() {
        v["local_indexes"] = local.into();
    }
    v
}

/// What a table cannot change in place: its key schema (`uid (S)`, and the range key if
/// any) and its local indexes.
fn key_schema(props: &Value) -> (Value, Value, Value) {
    (
        props["hash_key"].clone(),
        props["range_key"].clone(),
        props["local_indexes"].clone(),
    )
}

/// The part of a table's props that UpdateTable's billing call sets.
fn billing_of(props: &Value) -> (Value, Value) {
    (props["billing"].clone(), props["capacity"].clone())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRecord {
    #[serde(rename = "id")]
    pub name: String,
    pub arn: String,
    pub billing: Billing,
    /// ACTIVE was seen after the last create or update.
    pub ready: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
}

impl crate::state::Typed for TableRecord {
    const KIND: &'static str = "table";
}

pub struct Table;

impl Kind for Table {
    fn name(&self) -> &'static str {
        "table"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("CreateTable", "dynamodb:CreateTable", Scope::Table),
            ("DescribeTable", "dynamodb:DescribeTable", Scope::Table),
            ("UpdateTable", "dynamodb:UpdateTable", Scope::Table),
            ("DeleteTable", "dynamodb:DeleteTable", Scope::Table),
            (
                "ListTagsOfResource",
                "dynamodb:ListTagsOfResource",
                Scope::Table,
            ),
            ("TagResource", "dynamodb:TagResource", Scope::Table),
        ]
    }
    fn inventory(&self, state: &crate::state::StackState, keep_data: bool) -> Vec<String> {
        let line = |t: &str| match keep_data {
            true => format!("(kept) DynamoDB table {t}"),
            false => format!("DynamoDB table {t} and all its items"),
        };
        super::inventory_lines(
            state,
            |t: TableRecord| t.name,
            state.names.table.clone(),
            line,
        )
    }
    fn shown(&self) -> Option<super::Shown> {
        Some(super::Shown::ByName {
            section: "tables",
            first: "table",
        })
    }
    fn show(&self, rec: &crate::state::Record) -> Value {
        rec.typed::<TableRecord>().map_or(
            Value::Null,
            |t| serde_json::json!({"name": t.name, "arn": t.arn}),
        )
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(12)
    }
    fn owner<'a>(
        &'a self,
        c: &'a crate::aws::Caller,
        rec: &'a crate::state::Record,
        owner: &'a str,
    ) -> Option<super::OwnerRead<'a>> {
        let t: TableRecord = rec.typed().ok()?;
        Some(Box::pin(async move {
            let o = c
                .call("status", || table::owner(&c.aws, &t.arn, owner))
                .await?;
            Ok(Some((t.name.clone(), o)))
        }))
    }
    fn retag<'a>(
        &'a self,
        c: &'a crate::aws::Caller,
        rec: &'a crate::state::Record,
        state: &'a crate::state::StackState,
    ) -> Option<BoxFuture<'a, Result<(), crate::aws::AwsError>>> {
        let t: TableRecord = rec.typed().ok()?;
        let stack = state.owner();
        Some(Box::pin(async move {
            c.call("tags", || table::tag(&c.aws, &t.arn, &stack)).await
        }))
    }
    fn step(&self) -> &'static str {
        "table"
    }
    fn doing(&self) -> &'static str {
        "creating the DynamoDB table"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<TableRecord>(rec)
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        spec.tables
            .iter()
            .map(|t| Node::new(&Table, key::table(&t.logical)).for_item(&t.logical))
            .collect()
    }
    fn props(&self, w: &Want, node: &Node) -> Option<Value> {
        super::table_of(w.spec, node).ok().map(props_of)
    }
    fn label(&self, w: &Want, node: &Node) -> String {
        w.state.get::<TableRecord>(&node.key).map_or_else(
            || {
                super::table_of(w.spec, node)
                    .map(|t| t.name.clone())
                    .unwrap_or_else(|_| node.key.clone())
            },
            |r| r.name,
        )
    }
    fn holds_data(&self) -> bool {
        true
    }
    fn replaced_on(&self, before: &Value, after: &Value) -> Option<String> {
        (key_schema(before) != key_schema(after)).then(|| {
            format!(
                "its key (or a local index) changes from {} to {}, which DynamoDB cannot do in place",
                describe_keys(before),
                describe_keys(after)
            )
        })
    }
    fn props_from_record(&self, w: &Want, node: &Node) -> Option<Value> {
        let rec: TableRecord = w.state.get(&node.key)?;
        Some(json!({"name": rec.name, "hash_key": "uid (S)", "billing": rec.billing}))
    }
    fn repair(&self, node: &Node, check: &Check) -> Repair {
        match check.health {
            crate::kinds::context::Health::Missing => Repair::Recreate(vec![node.key.clone()]),
            _ if check.transitional => Repair::Wait,
            _ => Repair::Update,
        }
    }

    fn find<'a>(
        &'a self,
        cx: &'a CheckCx<'a>,
        node: &'a Node,
        _: &'a crate::kinds::context::Before,
    ) -> BoxFuture<'a, Option<Owner>> {
        Box::pin(async move {
            let (c, name) = (cx.c, &super::table_of(cx.spec, node).ok()?.name);
            let info = c
                .call("plan", || table::describe(&c.aws, name))
                .await
                .ok()??;
            c.call("plan", || {
                table::owner(&c.aws, &info.arn, &cx.spec.owner_tag)
            })
            .await
            .ok()
        })
    }
    fn predict(
        &self,
        spec: &StackSpec,
        node: &Node,
        _: &super::CodeShas,
    ) -> Option<crate::state::Record> {
        let t = super::table_of(spec, node).ok()?;
        Some(super::predicted(
            self.name(),
            t.name.clone(),
            spec.table_arn(&t.name),
            json!({"billing": t.billing, "ready": true}),
        ))
    }
    fn ensure<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(ensure(ctx, node))
    }

    fn check<'a>(&'a self, cx: &'a CheckCx<'a>, node: &'a Node) -> BoxFuture<'a, Option<Check>> {
        Box::pin(async move { Some(check(cx, node).await) })
    }

    fn remove<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        _: &'a str,
        rec: &'a crate::state::Record,
    ) -> BoxFuture<'a, anyhow::Result<Option<StepResult>>> {
        Box::pin(async move {
            // check_orphans refused this without --allow-data-loss, before any change.
            anyhow::ensure!(
                ctx.allow_data_loss,
                "table {} would be deleted; run deploy with --allow-data-loss",
                rec.id
            );
            let removal = remove_named(&ctx.run, &ctx.spec.owner_tag, &rec.id).await?;
            Ok(Some(removal.into_result("table", rec.id.clone())))
        })
    }
    fn deleting(&self) -> &'static str {
        "deleting the DynamoDB table"
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a TeardownCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(delete(ctx, node))
    }
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let spec = &ctx.spec;
    let t = super::table_of(spec, node)?;
    let name = t.name.clone();
    let state = ctx.snapshot().await;
    let w = Want {
        spec,
        state: &state,
    };
    let props = Table.props(&w, node).unwrap_or_default();
    let fingerprint = super::fingerprint_of("table", &props);
    let mut recorded: Option<TableRecord> = state.get(&node.key);
    let mut action = Action::Unchanged;
    let mut replaced = false;
    // A key schema cannot change in place: the table is made again, its items lost.
    let recorded_props = state.resources.get(&node.key).and_then(|r| r.props.clone());
    if let (Some(rec), Some(old)) = (&recorded, &recorded_props) {
        if key_schema(old) != key_schema(&props) {
            if !ctx.allow_data_loss {
                return Err(crate::error::UsageError(format!(
                    "table {name}: its key changes from {} to {}, which DynamoDB cannot do in place; the table would be deleted with its items and made again. Run deploy with --allow-data-loss to do so, or give the new table another name in the stack file",
                    describe_keys(old),
                    describe_keys(&props)
                ))
                .into());
            }
            if let Removal::Foreign(owner) =
                remove_named(&ctx.run, &spec.owner_tag, &rec.name).await?
            {
                return Err(not_ours("table", &rec.name, &owner, "It was left in place.").into());
            }
            ctx.record(|s| {
                s.forget(&node.key);
            })
            .await?;
            recorded = None;
            replaced = true;
        }
    }
    let mut rec = match recorded {
        Some(rec) => rec,
        None => {
            let created = ctx
                .call("table", || table::create(ctx.aws(), t, &spec.owner_tag))
                .await;
            let (arn, billing) = match created {
                Ok(arn) => {
                    action = Action::Created;
                    (arn, t.billing)
                }
                Err(e) if e.is(ErrorKind::AlreadyExists) => {
                    let info = ctx
                        .call("table", || table::describe(ctx.aws(), &name))
                        .await?
                        .with_context(|| format!("table {name} exists but cannot be described"))?;
                    let owner = ctx
                        .call("table", || {
                            table::owner(ctx.aws(), &info.arn, &spec.owner_tag)
                        })
                        .await?;
                    if owner != Owner::Us {
                        return Err(not_ours(
                            "table",
                            &name,
                            &owner,
                            "Choose another name with --table-name, or deploy that stack with its own --stack.",
                        )
                        .into());
                    }
                    action = Action::Adopted;
                    (info.arn, info.billing)
                }
                Err(e) => return Err(e).context(format!("creating table {name}")),
            };
            let rec = TableRecord {
                name: name.clone(),
                arn,
                billing,
                ready: false,
                // Created as wished; adopted as found (compared below).
                fingerprint: if billing == t.billing {
                    fingerprint.clone()
                } else {
                    String::new()
                },
            };
            let applied = props.clone();
            ctx.record(|s| s.put_applied(&node.key, &rec, applied))
                .await?;
            rec
        }
    };
    if rec.fingerprint != fingerprint {
        // Changed in the model, found otherwise when adopted, or changed behind our back.
        let info = wait_active(ctx, &name).await?;
        // UpdateTable refuses a call that changes nothing ("will not change"): billing
        // and capacity are set only when they change (or the table's differs).
        let billing_changed = recorded_props
            .as_ref()
            .is_some_and(|old| billing_of(old) != billing_of(&props))
            || info.billing != t.billing;
        if billing_changed {
            ctx.call("table", || {
                table::update_billing(ctx.aws(), &name, t.billing, t.capacity)
            })
            .await
            .with_context(|| format!("changing the billing mode of table {name}"))?;
        }
        sync_indexes(ctx, t).await?;
        rec.ready = false;
        if action == Action::Unchanged {
            action = Action::Updated;
        }
        rec.billing = t.billing;
        rec.fingerprint = fingerprint.clone();
        let applied = props.clone();
        ctx.record(|s| s.put_applied(&node.key, &rec, applied))
            .await?;
    }
    if !rec.ready {
        let arn = wait_active(ctx, &name).await?.arn;
        if rec.arn.is_empty() {
            rec.arn = arn;
        }
        rec.ready = true;
        ctx.record(|s| s.put(&node.key, &rec)).await?;
    }
    let result = StepResult::new(action, name);
    Ok(if replaced {
        result.with_detail("replaced: its key changed")
    } else {
        result
    })
}

/// Brings the table's global indexes to the model's, one change at a time (DynamoDB takes
/// one index creation or deletion per UpdateTable, and none while one is in progress):
/// first each index the model no longer has, or has otherwise, is deleted, then each
/// missing one is made, each waited for. Every round reads the table again, so a deploy that
/// stopped midway goes on from what is there.
async fn sync_indexes(ctx: &DeployCtx, t: &crate::stack::TableSpec) -> anyhow::Result<()> {
    let wanted: Vec<(&str, String)> = t
        .indexes
        .iter()
        .filter(|x| !x.local)
        .map(|x| (x.name.as_str(), x.describe()))
        .collect();
    // At most one change per index of either side, and a last read.
    for _ in 0..=(wanted.len() + 20) {
        let info = wait_active(ctx, &t.name).await?;
        let have: Vec<&(String, String, String)> = info
            .indexes
            .iter()
            .filter(|(_, d, _)| !d.ends_with(", local"))
            .collect();
        if let Some((gone, _, _)) = have
            .iter()
            .find(|(n, d, _)| !wanted.iter().any(|(w, wd)| w == n && wd == d))
        {
            ctx.progress.note(
                "table",
                &format!("deleting index {gone} of table {}", t.name),
            );
            ctx.call("table", || table::delete_index(ctx.aws(), &t.name, gone))
                .await
                .with_context(|| format!("deleting index {gone} of table {}", t.name))?;
            continue;
        }
        let Some(x) = t
            .indexes
            .iter()
            .find(|x| !x.local && !have.iter().any(|(n, _, _)| *n == x.name))
        else {
            return Ok(());
        };
        let kept: Vec<&crate::stack::IndexSpec> = t
            .indexes
            .iter()
            .filter(|k| k.local || have.iter().any(|(n, _, _)| *n == k.name))
            .collect();
        ctx.progress.note(
            "table",
            &format!("making index {} of table {}", x.name, t.name),
        );
        ctx.call("table", || table::create_index(ctx.aws(), t, &kept, x))
            .await
            .with_context(|| format!("making index {} of table {}", x.name, t.name))?;
    }
    anyhow::bail!(
        "the indexes of table {} did not settle; run deploy again",
        t.name
    )
}

/// Polls DescribeTable until the table and its indexes are ACTIVE. Returns what it read.
async fn wait_active(ctx: &DeployCtx, name: &str) -> anyhow::Result<table::TableInfo> {
    let t = &ctx.timing;
    let found = poll(t.ready_wait, t.poll_first, t.poll_max, || async {
        let info = ctx
            .call("table", || table::describe(ctx.aws(), name))
            .await?;
        match info {
            Some(i) if i.settled() => Ok(Some(i)),
            Some(i) => {
                let busy: Vec<String> = i
                    .indexes
                    .iter()
                    .filter(|(_, _, s)| s != "ACTIVE")
                    .map(|(n, _, s)| format!("index {n} is {s}"))
                    .collect();
                let what = if busy.is_empty() {
                    format!("table is {}", i.status)
                } else {
                    busy.join(", ")
                };
                ctx.progress.note("table", &format!("waiting: {what}"));
                Ok(None)
            }
            None => Err(AwsError::local(
                ErrorKind::NotFound,
                format!("table {name} disappeared while waiting for it to become ACTIVE"),
            )),
        }
    })
    .await?;
    found.with_context(|| {
        format!(
            "table {name} (or an index of it) was not ACTIVE after {} s; run deploy again to keep waiting",
            t.ready_wait.as_secs()
        )
    })
}

async fn check(cx: &CheckCx<'_>, node: &Node) -> Check {
    let c = cx.c;
    let Some(rec) = cx.state.get::<TableRecord>(&node.key) else {
        let name =
            super::table_of(cx.spec, node).map_or_else(|_| node.key.clone(), |t| t.name.clone());
        return Check::missing(name, NOT_DEPLOYED);
    };
    match c
        .call("status", || table::describe(&c.aws, &rec.name))
        .await
    {
        Ok(None) => Check::missing(&rec.name, "the table does not exist"),
        Ok(Some(t)) if !table::is_active(&t.status) => {
            Check::settling(&rec.name, format!("table is {}, not ACTIVE", t.status))
        }
        Ok(Some(t)) if !t.settled() => Check::settling(
            &rec.name,
            t.indexes
                .iter()
                .filter(|(_, _, s)| s != "ACTIVE")
                .map(|(n, _, s)| format!("index {n} is {s}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Ok(Some(t)) if index_drift(cx, node, &t).is_some() => {
            Check::drifted(&rec.name, index_drift(cx, node, &t).unwrap_or_default())
        }
        Ok(Some(t)) if t.billing != rec.billing => Check::drifted(
            &rec.name,
            format!(
                "billing mode is {:?}, deployed as {:?}",
                t.billing, rec.billing
            ),
        ),
        Ok(Some(_)) => Check::ok(&rec.name),
        Err(e) => Check::failed(&rec.name, e),
    }
}

async fn delete(ctx: &TeardownCtx, node: &Node) -> anyhow::Result<StepResult> {
    delete_table(ctx, &node.key).await
}

async fn delete_table(ctx: &TeardownCtx, node_key: &str) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let name = ctx.name_of::<TableRecord>(&state, node_key, |r| r.name)?;
    if ctx.keep_table {
        return Ok(StepResult::new(Action::Kept, name).with_detail("--keep-table"));
    }
    let action = match remove_named(&ctx.run, &ctx.owner, &name).await? {
        Removal::Deleted => Action::Deleted,
        Removal::Gone => Action::Gone,
        Removal::Foreign(owner) => return foreign(state.has(node_key), "table", &name, &owner),
    };
    forget_with_contents(ctx, node_key).await?;
    Ok(StepResult::new(action, name))
}

/// Deletes the table of this name if it is this stack's, and waits until it is really gone
/// (so "nothing left" holds when the command returns, and a table of the same name can be
/// made again).
pub async fn remove_named(
    run: &crate::kinds::context::Run,
    stack: &str,
    name: &str,
) -> anyhow::Result<Removal> {
    let Some(info) = run
        .call("table", || table::describe(&run.aws, name))
        .await?
    else {
        return Ok(Removal::Gone);
    };
    let owner = run
        .call("table", || table::owner(&run.aws, &info.arn, stack))
        .await?;
    if owner != Owner::Us {
        return Ok(Removal::Foreign(owner));
    }
    let deleted = run
        .call("table", || table::delete(&run.aws, name))
        .await
        .with_context(|| format!("deleting table {name}"))?;
    let t = run.timing;
    let gone = poll(t.ready_wait, t.poll_first, t.poll_max, || async {
        let still = run
            .call("table", || table::describe(&run.aws, name))
            .await?;
        if let Some(i) = &still {
            run.progress
                .note("table", &format!("waiting: table is {}", i.status));
        }
        Ok(still.is_none().then_some(()))
    })
    .await?;
    gone.with_context(|| {
        format!(
            "table {name} was still being deleted after {} s; run the command again",
            t.ready_wait.as_secs()
        )
    })?;
    Ok(if deleted {
        Removal::Deleted
    } else {
        Removal::Gone
    })
}

/// How a table's indexes differ from what deploy applied (its record's props; the model's
/// when the record keeps none), in words. A change in the stack file is not drift: plan
/// and deploy apply it (a local index's by replacing the table).
fn index_drift(cx: &CheckCx<'_>, node: &Node, info: &table::TableInfo) -> Option<String> {
    let applied = cx
        .state
        .resources
        .get(&node.key)
        .and_then(|r| r.props.clone());
    let props = match applied {
        Some(p) => p,
        None => props_of(super::table_of(cx.spec, node).ok()?),
    };
    let mut want: Vec<(String, String)> = Vec::new();
    for (field, local) in [("indexes", false), ("local_indexes", true)] {
        for (name, d) in props[field].as_object().into_iter().flatten() {
            let d = d.as_str().unwrap_or_default().to_string();
            // (Records of this release describe a local index with ", local" already.)
            let d = if local && !d.ends_with(", local") {
                format!("{d}, local")
            } else {
                d
            };
            want.push((name.clone(), d));
        }
    }
    let mut why = Vec::new();
    for (name, d) in &want {
        match info.indexes.iter().find(|(n, _, _)| n == name) {
            None => why.push(format!("index {name} is missing")),
            Some((_, have, _)) if have != d => why.push(format!("index {name} is {have}, not {d}")),
            Some(_) => {}
        }
    }
    for (n, _, _) in &info.indexes {
        if !want.iter().any(|(w, _)| w == n) {
            why.push(format!("index {n} is not in the stack"));
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// `uid (S)`, or `uid (S), created (N)`.
fn describe_keys(props: &Value) -> String {
    let (h, r, local) = key_schema(props);
    let keys = match (h.as_str(), r.as_str()) {
        (Some(h), Some(r)) => format!("{h}, {r}"),
        (Some(h), None) => h.to_string(),
        _ => "?".into(),
    };
    match local.as_object() {
        Some(l) if !l.is_empty() => {
            let names: Vec<&str> = l.keys().map(String::as_str).collect();
            format!("{keys} with local indexes {}", names.join(", "))
        }
        _ => keys,
    }
}
