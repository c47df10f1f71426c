//! The statement in a function's resource policy that lets the stack's API invoke it: one per
//! function, whatever its routes, scoped to the API and its stage (`{api}/{stage}/*/*`). One
//! statement per route would fill Lambda's 20 KB policy at about 50 routes on one function,
//! and its AddPermission calls were most of a big deploy (docs/aws.md, "One invoke permission
//! per function"). Stacks deployed with one statement per route keep those records until the
//! function's statement is in place; deploy then removes them (`ops::deploy::apply`).
//! AddPermission and RemovePermission on one function go one at a time: they change the same
//! policy.
//!
//! The statement is in the policy of the function's `live` alias, which every route and
//! authorizer invokes (each alias has a policy of its own). A stack deployed before the alias
//! has its statement in the function's own policy: that one stays until the stage serves a
//! deployment that invokes the alias, then the release step removes it
//! ([`remove_unqualified`]), so the API can invoke the function at every moment.

use anyhow::Context;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Check, CheckCx, Kind, Want, NOT_DEPLOYED};
use crate::aws::{poll, ErrorKind};
use crate::engine::{Action, StepResult};
use crate::kinds::context::DeployCtx;
use crate::kinds::context::KeyCheck;
use crate::kinds::context::{foreign, forget_with_contents, TeardownCtx};
use crate::kinds::function::function_owner;
use crate::kinds::function::FunctionRecord;
use crate::kinds::graph::{key, Graph, Node};
use crate::kinds::rest_api::ApiRecord;
use crate::resources::{function, Owner};
use crate::stack::{StackSpec, INVOKE_SID};
use crate::state::StackState;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionRecord {
    #[serde(rename = "id")]
    pub statement_id: String,
    pub source_arn: String,
    pub function_arn: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
    /// The alias whose policy holds the statement (`live`); empty: the function's own policy
    /// (releases before the alias).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub qualifier: String,
    /// The statement of releases before the alias is still in the function's own policy: it
    /// goes once the stage serves a deployment that invokes the alias.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unqualified_left: bool,
}

impl PermissionRecord {
    /// The policy the statement is in: the alias's, or the function's own.
    pub fn qualifier(&self) -> Option<&str> {
        (!self.qualifier.is_empty()).then_some(self.qualifier.as_str())
    }
}

/// The function's name and qualifier in a function (or alias) ARN,
/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`.
pub fn name_and_qualifier(arn: &str) -> Option<(String, Option<String>)> {
    let rest = arn.split_once(":function:")?.1;
    let mut parts = rest.splitn(2, ':');
    let name = parts.next().filter(|n| !n.is_empty())?.to_string();
    Some((name, parts.next().map(str::to_string)))
}

impl crate::state::Typed for PermissionRecord {
    const KIND: &'static str = "permission";
}

pub struct Permission;

/// The lock that keeps changes to one function's policy one at a time.
pub fn policy_lock(function: &str) -> String {
    format!("policy of {function}")
}

impl Kind for Permission {
    fn name(&self) -> &'static str {
        "permission"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("AddPermission", "lambda:AddPermission", Scope::Function),
            (
                "RemovePermission",
                "lambda:RemovePermission",
                Scope::Function,
            ),
            ("GetPolicy", "lambda:GetPolicy", Scope::Function),
        ]
    }
    fn inventory(&self, state: &crate::state::StackState, _keep_data: bool) -> Vec<String> {
        let recorded: Vec<String> = state
            .all::<PermissionRecord>()
            .into_iter()
            .map(|(_, p)| {
                let function = name_and_qualifier(&p.function_arn)
                    .map(|(name, _)| name)
                    .unwrap_or_default();
                format!(
                    "invoke permission {} on Lambda function {function}",
                    p.statement_id
                )
            })
            .collect();
        if recorded.is_empty() {
            return vec![format!(
                "API Gateway's invoke permission on Lambda function {}",
                state.names.function
            )];
        }
        recorded
    }
    fn shown(&self) -> Option<super::Shown> {
        Some(super::Shown::List("permissions"))
    }
    fn show(&self, rec: &crate::state::Record) -> Value {
        rec.typed::<PermissionRecord>().map_or(
            Value::Null,
            |p| serde_json::json!({"statement_id": p.statement_id, "source_arn": p.source_arn}),
        )
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(0)
    }
    fn step(&self) -> &'static str {
        "permission"
    }
    fn answer(&self, findings: &[KeyCheck], _spec: &StackSpec) -> super::Answer {
        super::Answer {
            redo: Vec::new(),
            removes: findings
                .iter()
                .filter(|k| k.row == "permission" && k.check.is_bad())
                .filter_map(|k| k.check.reason.clone())
                .collect(),
        }
    }
    fn removed_after_run(
        &self,
        state: &StackState,
        graph: &Graph,
        orphans: &[String],
    ) -> Vec<(String, &'static str)> {
        // The orphaned statements whose function keeps (or gets) the stack's one statement:
        // the per-route statements of releases before it. Removed first, the API could not
        // invoke the function in between.
        let kept: Vec<String> = graph
            .nodes
            .iter()
            .filter(|n| n.kind.name() == "permission")
            .filter_map(|n| {
                let f = state
                    .get::<FunctionRecord>(&super::graph::key::function(n.item.as_deref()?))?;
                Some(f.arn)
            })
            .collect();
        orphans
            .iter()
            .filter(|k| {
                state
                    .get::<PermissionRecord>(k)
                    .is_some_and(|p| kept.contains(&p.function_arn))
            })
            .map(|k| (k.clone(), "one route's statement, of releases before one invoke permission per function: deploy removes it once the function's own statement is in place"))
            .collect()
    }
    fn stack_checks<'a>(
        &'a self,
        cx: &'a CheckCx<'a>,
    ) -> Option<BoxFuture<'a, Vec<(&'static str, Check)>>> {
        Some(Box::pin(async move {
            let found = check_foreign_statements(cx).await;
            found.into_iter().map(|c| ("permission", c)).collect()
        }))
    }
    fn doing(&self) -> &'static str {
        "letting API Gateway invoke the function"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<PermissionRecord>(rec)
    }
    /// One for each function some route invokes.
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        spec.functions
            .iter()
            .filter(|f| {
                spec.routes.iter().any(|r| r.function == f.logical)
                    || spec
                        .auth
                        .authorizers
                        .iter()
                        .any(|a| a.kind.function() == Some(f.logical.as_str()))
            })
            .map(|f| {
                Node::new(&Permission, key::permission(&f.logical))
                    .lives_in(key::function(&f.logical))
                    // The statement is in the alias's policy: the alias first.
                    .needs(key::alias(&f.logical))
                    .needs(key::REST_API)
                    .for_item(&f.logical)
            })
            .collect()
    }
    fn props(&self, w: &Want, node: &Node) -> Option<Value> {
        let api = w.state.get::<ApiRecord>(key::REST_API)?;
        let f = w
            .state
            .get::<FunctionRecord>(&key::function(node.item.as_deref()?))?;
        Some(json!({
            "statement_id": INVOKE_SID,
            "principal": "apigateway.amazonaws.com",
            "source_arn": w.spec.invoke_source_arn_of(&api.id, node.item.as_deref()?),
            "function_arn": crate::stack::alias_arn(&f.arn),
            "qualifier": crate::stack::LIVE_ALIAS,
        }))
    }
    fn props_from_record(&self, w: &Want, node: &Node) -> Option<Value> {
        let rec: PermissionRecord = w.state.get(&node.key)?;
        Some(json!({
            "statement_id": rec.statement_id,
            "principal": "apigateway.amazonaws.com",
            "source_arn": rec.source_arn,
            "function_arn": rec.function_arn,
        }))
    }
    fn label(&self, w: &Want, node: &Node) -> String {
        match w.state.get::<PermissionRecord>(&node.key) {
            Some(rec) => rec.source_arn,
            None => INVOKE_SID.to_string(),
        }
    }

    fn remove<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        _: &'a str,
        rec: &'a crate::state::Record,
    ) -> BoxFuture<'a, anyhow::Result<Option<StepResult>>> {
        Box::pin(async move {
            let sid = rec.id.clone();
            let (name, qualifier) = rec
                .attrs
                .get("function_arn")
                .and_then(Value::as_str)
                .and_then(name_and_qualifier)
                .with_context(|| format!("the record of permission {sid} names no function"))?;
            let removed = ctx
                .method_locks
                .on(
                    &policy_lock(&name),
                    ctx.call("permission", || {
                        function::remove_permission(ctx.aws(), &name, qualifier.as_deref(), &sid)
                    }),
                )
                .await
                .with_context(|| {
                    format!("removing statement {sid} from function {name}'s policy")
                })?;
            Ok(Some(StepResult::new(
                if removed {
                    Action::Deleted
                } else {
                    Action::Gone
                },
                sid,
            )))
        })
    }
    fn ensure<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(async move {
            let name = function_name(&ctx.spec, node)?;
            ctx.method_locks
                .on(&policy_lock(&name), ensure(ctx, node))
                .await
        })
    }

    fn check<'a>(&'a self, cx: &'a CheckCx<'a>, node: &'a Node) -> BoxFuture<'a, Option<Check>> {
        Box::pin(async move { Some(check(cx, node).await) })
    }

    fn deleting(&self) -> &'static str {
        "removing the invoke permission"
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a TeardownCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(remove_permission(ctx, node))
    }
}

/// The deployed name of the permission's function.
fn function_name(spec: &StackSpec, node: &Node) -> anyhow::Result<String> {
    let logical = node.item()?;
    spec.functions
        .iter()
        .find(|f| f.logical == logical)
        .map(|f| f.name.clone())
        .ok_or_else(|| anyhow::anyhow!("{} names no function of the model", node.key))
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let logical = node.item()?.to_string();
    let state = ctx.snapshot().await;
    let w = Want {
        spec: &ctx.spec,
        state: &state,
    };
    let sid = INVOKE_SID;
    let function = state
        .get::<FunctionRecord>(&key::function(&logical))
        .context("the function is not recorded")?;
    let api_id = super::rest_api::recorded_id(&state)?;
    let props = Permission
        .props(&w, node)
        .context("the function or the REST API is not recorded")?;
    let fingerprint = super::fingerprint_of("permission", &props);
    let source_arn = ctx.spec.invoke_source_arn_of(&api_id, &logical);
    let recorded: Option<PermissionRecord> = state.get(&node.key);
    let want = PermissionRecord {
        statement_id: sid.to_string(),
        source_arn: source_arn.clone(),
        function_arn: crate::stack::alias_arn(&function.arn),
        fingerprint: fingerprint.clone(),
        qualifier: crate::stack::LIVE_ALIAS.to_string(),
        // The function's own statement (releases before the alias) stays until the stage
        // invokes the alias.
        unqualified_left: recorded
            .as_ref()
            .is_some_and(|r| r.qualifier.is_empty() || r.unqualified_left),
    };
    let mut result = if recorded.as_ref() == Some(&want) {
        StepResult::new(Action::Unchanged, source_arn)
    } else {
        let action = add(
            ctx,
            &function.name,
            Some(crate::stack::LIVE_ALIAS),
            sid,
            &source_arn,
            recorded.is_some(),
        )
        .await?;
        ctx.record(|s| s.put_applied(&node.key, &want, props))
            .await?;
        StepResult::new(action, source_arn)
    };
    // Statements someone else added let others invoke the function: removed (under the same
    // lock as every other change to the policy).
    if statements_to_prune(&ctx.findings) {
        let removed = remove_foreign(ctx, &function.name).await?;
        if !removed.is_empty() {
            result = result.with_detail(format!("removed {}", removed.join(", ")));
        }
    }
    Ok(result)
}

/// AddPermission; a statement id that is taken is kept if it is exactly ours and replaced
/// otherwise.
async fn add(
    ctx: &DeployCtx,
    name: &str,
    qualifier: Option<&str>,
    sid: &str,
    source_arn: &str,
    was_recorded: bool,
) -> anyhow::Result<Action> {
    let added = ctx
        .call("permission", || {
            function::add_permission(ctx.aws(), name, qualifier, sid, source_arn)
        })
        .await;
    match added {
        Ok(()) => Ok(if was_recorded {
            Action::Updated
        } else {
            Action::Created
        }),
        Err(e) if e.is(ErrorKind::AlreadyExists) => {
            let current = ctx
                .call("permission", || {
                    function::permission_source_arn(ctx.aws(), name, qualifier, sid)
                })
                .await?;
            if current.as_deref() == Some(source_arn) {
                return Ok(Action::Adopted);
            }
            ctx.call("permission", || {
                function::remove_permission(ctx.aws(), name, qualifier, sid)
            })
            .await?;
            // The removal takes a moment to show: adding the statement id again before it is
            // gone is refused (Terraform waits the same way).
            let t = &ctx.timing;
            let gone = poll(t.ready_wait, t.poll_first, t.poll_max, || async {
                let still = ctx
                    .call("permission", || {
                        function::permission_source_arn(ctx.aws(), name, qualifier, sid)
                    })
                    .await?;
                Ok(still.is_none().then_some(()))
            })
            .await?;
            gone.with_context(|| {
                format!(
                    "the old invoke permission {sid} was still in function {name}'s policy after {} s; run deploy again",
                    t.ready_wait.as_secs()
                )
            })?;
            ctx.call("permission", || {
                function::add_permission(ctx.aws(), name, qualifier, sid, source_arn)
            })
            .await
            .context("replacing the invoke permission")?;
            Ok(Action::Updated)
        }
        Err(e) => Err(e).context(format!("adding the invoke permission to function {name}")),
    }
}

/// The policies a function's statements can be in: its own, and its live alias's.
const POLICIES: [Option<&str>; 2] = [None, Some(crate::stack::LIVE_ALIAS)];

/// How a person names one of a function's policies.
fn policy_name(name: &str, qualifier: Option<&str>) -> String {
    match qualifier {
        Some(q) => format!("alias {name}:{q}'s policy"),
        None => format!("function {name}'s policy"),
    }
}

/// Removes the statements of the function's policies that the stack did not put.
async fn remove_foreign(ctx: &DeployCtx, name: &str) -> anyhow::Result<Vec<String>> {
    let mut removed = Vec::new();
    for qualifier in POLICIES {
        let statements = ctx
            .call("permission", || {
                function::policy_statements(ctx.aws(), name, qualifier)
            })
            .await?;
        let state = ctx.snapshot().await;
        for sid in foreign_sids(&statements, &state, qualifier) {
            ctx.call("permission", || {
                function::remove_permission(ctx.aws(), name, qualifier, &sid)
            })
            .await
            .with_context(|| {
                format!(
                    "removing statement {sid} from {}",
                    policy_name(name, qualifier)
                )
            })?;
            removed.push(format!("statement {sid}"));
        }
    }
    Ok(removed)
}

/// Once the stage serves a deployment that invokes the functions' live aliases: removes the
/// statement each function still has in its own policy from releases before the alias, and
/// records that it is gone. Returns what was removed.
pub async fn remove_unqualified(ctx: &DeployCtx) -> anyhow::Result<Vec<String>> {
    let mut removed = Vec::new();
    for (key, rec) in ctx.snapshot().await.all::<PermissionRecord>() {
        if !rec.unqualified_left {
            continue;
        }
        let Some((name, _)) = name_and_qualifier(&rec.function_arn) else {
            continue;
        };
        let sid = rec.statement_id.clone();
        ctx.method_locks
            .on(
                &policy_lock(&name),
                ctx.call("permission", || {
                    function::remove_permission(ctx.aws(), &name, None, &sid)
                }),
            )
            .await
            .with_context(|| {
                format!("removing statement {sid} of releases before the live alias from function {name}'s own policy")
            })?;
        ctx.record(|s| {
            if let Some(mut r) = s.get::<PermissionRecord>(&key) {
                r.unqualified_left = false;
                s.put(&key, &r);
            }
        })
        .await?;
        removed.push(format!("{name}'s own statement {sid}"));
    }
    Ok(removed)
}

/// How status names statements of the function's policy that the stack did not put.
pub const FOREIGN_STATEMENTS: &str = "statements not put by the stack";

/// The statement ids of one of a function's policies (its own: `qualifier` None; its live
/// alias's) that the stack did not put. What the state records is the stack's: a statement
/// of an earlier layout (one per route, or the function's own before the alias) is removed by
/// deploy as such, not as someone else's addition.
pub fn foreign_sids(
    statements: &[(String, String)],
    state: &crate::state::StackState,
    qualifier: Option<&str>,
) -> Vec<String> {
    let records: Vec<PermissionRecord> = state
        .all::<PermissionRecord>()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let ours = |sid: &str| match qualifier {
        Some(q) => {
            sid == INVOKE_SID
                || records
                    .iter()
                    .any(|r| r.statement_id == sid && r.qualifier == q)
        }
        None => records
            .iter()
            .any(|r| r.statement_id == sid && (r.qualifier.is_empty() || r.unqualified_left)),
    };
    statements
        .iter()
        .map(|(sid, _)| sid)
        .filter(|sid| !ours(sid))
        .cloned()
        .collect()
}

/// One of a function's policies (statement id, source ARN), read once per status round.
pub async fn read_policy(
    cx: &CheckCx<'_>,
    function: &str,
    qualifier: Option<&str>,
) -> Option<Result<Vec<(String, String)>, crate::aws::AwsError>> {
    let f = cx.state.get::<FunctionRecord>(&key::function(function))?;
    let c = cx.c;
    Some(
        cx.memo
            .get(
                format!("GetPolicy {function}:{}", qualifier.unwrap_or("")),
                || async {
                    c.call("status", || {
                        function::policy_statements(&c.aws, &f.name, qualifier)
                    })
                    .await
                },
            )
            .await,
    )
}

async fn check(cx: &CheckCx<'_>, node: &Node) -> Check {
    let sid = INVOKE_SID;
    let Some(rec) = cx.state.get::<PermissionRecord>(&node.key) else {
        return Check::missing(sid, NOT_DEPLOYED);
    };
    let function = node.item.as_deref().unwrap_or("");
    let statements = match read_policy(cx, function, rec.qualifier()).await {
        None => return Check::missing(sid, NOT_DEPLOYED),
        Some(Err(e)) => return Check::failed(sid, e),
        Some(Ok(s)) => s,
    };
    let name = name_and_qualifier(&rec.function_arn).map_or_else(
        || function.to_string(),
        |(n, _)| policy_name(&n, rec.qualifier()),
    );
    match statements.iter().find(|(s, _)| *s == rec.statement_id) {
        None => Check::missing(sid, format!("{sid} is missing from {name}")),
        Some((_, arn)) if *arn != rec.source_arn => Check::drifted(
            sid,
            format!("{sid}: SourceArn is {arn}, not {}", rec.source_arn),
        ),
        Some(_) => Check::ok(sid),
    }
}

/// Removes the function's statement from its policy.
async fn remove_permission(ctx: &TeardownCtx, node: &Node) -> anyhow::Result<StepResult> {
    let sid = INVOKE_SID.to_string();
    let state = ctx.snapshot().await;
    let function_key = key::function(node.item()?);
    let name = match state.get::<FunctionRecord>(&function_key) {
        Some(f) => f.name,
        None => function_name(&ctx.spec, node)?,
    };
    let rec = state.get::<PermissionRecord>(&node.key);
    // The alias's statement, and the function's own while it is left (or nothing records
    // which: a crash before the record).
    let qualifiers: Vec<Option<&str>> = match &rec {
        Some(r) if r.unqualified_left => vec![r.qualifier(), None],
        Some(r) => vec![r.qualifier()],
        None => POLICIES.to_vec(),
    };
    let lock = crate::kinds::permission::policy_lock(&name);
    let action = match function_owner(&ctx.run, &ctx.owner, &state, &name).await? {
        // The permission lives in the function's policy: no function, no permission.
        None => Action::Gone,
        Some(Owner::Us) => {
            let mut any = false;
            for qualifier in qualifiers {
                any |= ctx
                    .locks
                    .on(
                        &lock,
                        ctx.call("permission", || {
                            function::remove_permission(&ctx.aws, &name, qualifier, &sid)
                        }),
                    )
                    .await
                    .with_context(|| {
                        format!(
                            "removing the invoke permission {sid} from {}",
                            policy_name(&name, qualifier)
                        )
                    })?;
            }
            if any {
                Action::Deleted
            } else {
                Action::Gone
            }
        }
        Some(other) => return foreign(state.has(&function_key), "Lambda function", &name, &other),
    };
    forget_with_contents(ctx, &node.key).await?;
    Ok(StepResult::new(action, sid))
}
/// Statements in each function's policies that the stack did not put (they let others
/// invoke it); none for a function while nothing to compare with is recorded.
pub async fn check_foreign_statements(cx: &CheckCx<'_>) -> Vec<Check> {
    futures::future::join_all(
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
    // Only a function with its alias recorded has an alias policy to read.
    let aliased = cx.state.resources.contains_key(&key::alias(function));
    let mut foreign = Vec::new();
    for qualifier in POLICIES {
        if qualifier.is_some() && !aliased {
            continue;
        }
        match read_policy(cx, function, qualifier).await? {
            Err(e) => return Some(Check::failed(label, e)),
            Ok(statements) => foreign.extend(foreign_sids(&statements, cx.state, qualifier)),
        }
    }
    Some(if foreign.is_empty() {
        Check::ok(label)
    } else {
        Check::drifted(
            label,
            format!(
                "{} (they let others invoke the function): {}",
                FOREIGN_STATEMENTS,
                foreign.join(", ")
            ),
        )
    })
}
/// Whether the checks before the run found statements the stack did not put.
pub fn statements_to_prune(findings: &[KeyCheck]) -> bool {
    findings.iter().any(|k| {
        k.row == "permission"
            && k.check
                .reason
                .as_deref()
                .is_some_and(|why| why.contains(FOREIGN_STATEMENTS))
    })
}
