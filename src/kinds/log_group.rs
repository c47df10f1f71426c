//! The function's CloudWatch log group, made by the stack so its retention is set and
//! teardown removes it.

use anyhow::Context;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Check, CheckCx, Kind, Removal, Repair, Want, NOT_DEPLOYED};
use crate::aws::ErrorKind;
use crate::engine::{Action, StepResult};
use crate::error::not_ours;
use crate::kinds::context::DeployCtx;
use crate::kinds::context::Health;
use crate::kinds::context::{foreign, forget_with_contents, TeardownCtx};
use crate::kinds::graph::{key, Node};
use crate::resources::{log_group, Owner};
use crate::stack::StackSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogGroupRecord {
    #[serde(rename = "id")]
    pub name: String,
    pub arn: String,
    pub retention_days: i32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
}

impl crate::state::Typed for LogGroupRecord {
    const KIND: &'static str = "log-group";
}

pub struct LogGroup;

impl Kind for LogGroup {
    fn name(&self) -> &'static str {
        "log-group"
    }
    fn noun(&self) -> &'static str {
        "log group"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("CreateLogGroup", "logs:CreateLogGroup", Scope::LogGroup),
            (
                "PutRetentionPolicy",
                "logs:PutRetentionPolicy",
                Scope::LogGroup,
            ),
            (
                "ListTagsForResource",
                "logs:ListTagsForResource",
                Scope::LogGroup,
            ),
            ("DeleteLogGroup", "logs:DeleteLogGroup", Scope::LogGroup),
            (
                "DescribeLogGroups",
                "logs:DescribeLogGroups",
                Scope::LogGroupList,
            ),
            ("TagResource", "logs:TagResource", Scope::LogGroup),
            // `logs` reads the groups.
            ("FilterLogEvents", "logs:FilterLogEvents", Scope::LogGroup),
            ("StartLiveTail", "logs:StartLiveTail", Scope::LogGroup),
        ]
    }
    fn inventory(&self, state: &crate::state::StackState, _keep_data: bool) -> Vec<String> {
        super::inventory_lines(
            state,
            |l: LogGroupRecord| l.name,
            format!("/aws/lambda/{}", state.names.function),
            |l| format!("CloudWatch log group {l} and its logs"),
        )
    }
    fn shown(&self) -> Option<super::Shown> {
        Some(super::Shown::ByName {
            section: "log_groups",
            first: "log_group",
        })
    }
    fn show(&self, rec: &crate::state::Record) -> Value {
        rec.typed::<LogGroupRecord>().map_or(
            Value::Null,
            |l| serde_json::json!({"name": l.name, "retention_days": l.retention_days}),
        )
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(9)
    }
    fn owner<'a>(
        &'a self,
        c: &'a crate::aws::Caller,
        rec: &'a crate::state::Record,
        owner: &'a str,
    ) -> Option<super::OwnerRead<'a>> {
        let g: LogGroupRecord = rec.typed().ok()?;
        Some(Box::pin(async move {
            let o = c
                .call("status", || {
                    crate::resources::log_group::owner(&c.aws, &g.arn, owner)
                })
                .await?;
            Ok(Some((g.name.clone(), o)))
        }))
    }
    fn retag<'a>(
        &'a self,
        c: &'a crate::aws::Caller,
        rec: &'a crate::state::Record,
        state: &'a crate::state::StackState,
    ) -> Option<BoxFuture<'a, Result<(), crate::aws::AwsError>>> {
        let g: LogGroupRecord = rec.typed().ok()?;
        let stack = state.owner();
        Some(Box::pin(async move {
            c.call("tags", || {
                crate::resources::log_group::tag(&c.aws, &g.arn, &stack)
            })
            .await
        }))
    }
    fn step(&self) -> &'static str {
        "log-group"
    }
    fn doing(&self) -> &'static str {
        "creating the function's log group"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<LogGroupRecord>(rec)
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        spec.functions
            .iter()
            .map(|f| Node::new(&LogGroup, key::log_group(&f.logical)).for_item(&f.logical))
            .collect()
    }
    fn props(&self, w: &Want, node: &Node) -> Option<Value> {
        let f = super::function_of(w.spec, node).ok()?;
        Some(json!({"name": f.log_group_name(), "retention_days": f.log_retention_days}))
    }
    fn props_from_record(&self, w: &Want, node: &Node) -> Option<Value> {
        let rec: LogGroupRecord = w.state.get(&node.key)?;
        Some(json!({"name": rec.name, "retention_days": rec.retention_days}))
    }
    fn label(&self, w: &Want, node: &Node) -> String {
        match w.state.get::<LogGroupRecord>(&node.key) {
            Some(r) => r.name,
            None => super::function_of(w.spec, node)
                .map_or_else(|_| node.key.clone(), |f| f.log_group_name()),
        }
    }
    fn repair(&self, node: &Node, check: &Check) -> Repair {
        match check.health {
            Health::Missing => Repair::Recreate(vec![node.key.clone()]),
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
            let (c, name) = (
                cx.c,
                super::function_of(cx.spec, node).ok()?.log_group_name(),
            );
            let info = c
                .call("plan", || log_group::describe(&c.aws, &name))
                .await
                .ok()??;
            c.call("plan", || {
                log_group::owner(&c.aws, &info.arn, &cx.spec.owner_tag)
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
        let f = super::function_of(spec, node).ok()?;
        Some(super::predicted(
            self.name(),
            f.log_group_name(),
            spec.log_group_arn(f),
            json!({"retention_days": f.log_retention_days}),
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
        Box::pin(async move {
            let c = cx.c;
            let Some(rec) = cx.state.get::<LogGroupRecord>(&node.key) else {
                let w = Want {
                    spec: cx.spec,
                    state: cx.state,
                };
                return Some(Check::missing(LogGroup.label(&w, node), NOT_DEPLOYED));
            };
            Some(
                match c
                    .call("status", || log_group::describe(&c.aws, &rec.name))
                    .await
                {
                    Ok(None) => Check::missing(&rec.name, "the log group does not exist"),
                    Ok(Some(g)) if g.retention_days != Some(rec.retention_days) => Check::drifted(
                        &rec.name,
                        format!(
                            "retention is {}, deployed as {} days",
                            g.retention_days
                                .map(|d| format!("{d} days"))
                                .unwrap_or_else(|| "never expire".into()),
                            rec.retention_days
                        ),
                    ),
                    Ok(Some(_)) => Check::ok(&rec.name),
                    Err(e) => Check::failed(&rec.name, e),
                },
            )
        })
    }

    fn remove<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        _: &'a str,
        rec: &'a crate::state::Record,
    ) -> BoxFuture<'a, anyhow::Result<Option<StepResult>>> {
        Box::pin(async move {
            let removal = remove_named(&ctx.run, &ctx.spec.owner_tag, &rec.id).await?;
            Ok(Some(removal.into_result("log group", rec.id.clone())))
        })
    }
    fn deleting(&self) -> &'static str {
        "deleting the function's log group"
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a TeardownCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(delete_log_group(ctx, &node.key))
    }
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let spec = &ctx.spec;
    let f = super::function_of(spec, node)?;
    let name = f.log_group_name();
    let days = f.log_retention_days;
    let state = ctx.snapshot().await;
    let w = Want {
        spec,
        state: &state,
    };
    let recorded: Option<LogGroupRecord> = state.get(&node.key);
    if recorded
        .as_ref()
        .is_some_and(|r| super::is_current(&r.fingerprint, &w, node))
    {
        return Ok(StepResult::new(Action::Unchanged, name));
    }
    let props = LogGroup.props(&w, node).unwrap_or_default();
    let (arn, action) = match recorded {
        Some(r) => (r.arn, Action::Updated),
        None => match ctx
            .call("log-group", || {
                log_group::create(ctx.aws(), &name, &spec.owner_tag)
            })
            .await
        {
            // Its ARN is known without asking: no read after the create.
            Ok(()) => (spec.log_group_arn(f), Action::Created),
            Err(e) if e.is(ErrorKind::AlreadyExists) => {
                let info = ctx
                    .call("log-group", || log_group::describe(ctx.aws(), &name))
                    .await?
                    .with_context(|| format!("log group {name} exists but cannot be described"))?;
                let owner = ctx
                    .call("log-group", || {
                        log_group::owner(ctx.aws(), &info.arn, &spec.owner_tag)
                    })
                    .await?;
                if owner != Owner::Us {
                    return Err(not_ours(
                        "log group",
                        &name,
                        &owner,
                        "Delete it, or tag it serverless-cli:stack=<this stack> if it holds this function's logs.",
                    )
                    .into());
                }
                (info.arn, Action::Adopted)
            }
            Err(e) => return Err(e).context(format!("creating log group {name}")),
        },
    };
    let mut rec = LogGroupRecord {
        name: name.clone(),
        arn,
        retention_days: 0,
        fingerprint: String::new(),
    };
    ctx.record(|s| s.put(&node.key, &rec)).await?;
    ctx.call("log-group", || {
        log_group::set_retention(ctx.aws(), &name, days)
    })
    .await
    .with_context(|| format!("setting the retention of log group {name}"))?;
    rec.retention_days = days;
    rec.fingerprint = super::fingerprint_of("log-group", &props);
    ctx.record(|s| s.put_applied(&node.key, &rec, props))
        .await?;
    Ok(StepResult::new(action, name).with_detail(format!("retention {days} days")))
}

async fn delete_log_group(ctx: &TeardownCtx, node_key: &str) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let name = ctx.name_of::<LogGroupRecord>(&state, node_key, |r| r.name)?;
    let action = match remove_named(&ctx.run, &ctx.owner, &name).await? {
        Removal::Deleted => Action::Deleted,
        Removal::Gone => Action::Gone,
        Removal::Foreign(owner) => return foreign(state.has(node_key), "log group", &name, &owner),
    };
    forget_with_contents(ctx, node_key).await?;
    Ok(StepResult::new(action, name))
}

/// Deletes the log group of this name if it is this stack's.
pub async fn remove_named(
    run: &crate::kinds::context::Run,
    stack: &str,
    name: &str,
) -> anyhow::Result<Removal> {
    let info = run
        .call("log-group", || log_group::describe(&run.aws, name))
        .await?;
    let Some(info) = info else {
        return Ok(Removal::Gone);
    };
    let owner = run
        .call("log-group", || log_group::owner(&run.aws, &info.arn, stack))
        .await?;
    if owner != Owner::Us {
        return Ok(Removal::Foreign(owner));
    }
    let deleted = run
        .call("log-group", || log_group::delete(&run.aws, name))
        .await
        .with_context(|| format!("deleting log group {name}"))?;
    Ok(if deleted {
        Removal::Deleted
    } else {
        Removal::Gone
    })
}
