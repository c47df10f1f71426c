//! The function's IAM role (trusted by Lambda only).

use anyhow::Context;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Check, CheckCx, Kind, Removal, Want, NOT_DEPLOYED};
use crate::aws::ErrorKind;
use crate::engine::{Action, StepResult};
use crate::error::not_ours;
use crate::kinds::context::DeployCtx;
use crate::kinds::context::{foreign, forget_with_contents, TeardownCtx};
use crate::kinds::graph::{key, Node};
use crate::resources::{role, Owner};
use crate::stack::StackSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRecord {
    #[serde(rename = "id")]
    pub name: String,
    pub arn: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
}

impl crate::state::Typed for RoleRecord {
    const KIND: &'static str = "role";
}

pub struct Role;

impl Kind for Role {
    fn name(&self) -> &'static str {
        "role"
    }
    fn noun(&self) -> &'static str {
        "IAM role"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("CreateRole", "iam:CreateRole", Scope::Role),
            ("GetRole", "iam:GetRole", Scope::Role),
            ("DeleteRole", "iam:DeleteRole", Scope::Role),
            ("ListRoleTags", "iam:ListRoleTags", Scope::Role),
            ("TagRole", "iam:TagRole", Scope::Role),
            ("ListRolePolicies", "iam:ListRolePolicies", Scope::Role),
            ("DeleteRolePolicy", "iam:DeleteRolePolicy", Scope::Role),
            (
                "ListAttachedRolePolicies",
                "iam:ListAttachedRolePolicies",
                Scope::Role,
            ),
            ("DetachRolePolicy", "iam:DetachRolePolicy", Scope::Role),
        ]
    }
    fn inventory(&self, state: &crate::state::StackState, _keep_data: bool) -> Vec<String> {
        super::inventory_lines(
            state,
            |r: RoleRecord| r.name,
            state.names.role.clone(),
            |r| format!("IAM role {r} and its policies"),
        )
    }
    fn shown(&self) -> Option<super::Shown> {
        Some(super::Shown::ByName {
            section: "roles",
            first: "role",
        })
    }
    fn show(&self, rec: &crate::state::Record) -> Value {
        rec.typed::<RoleRecord>().map_or(
            Value::Null,
            |r| serde_json::json!({"name": r.name, "arn": r.arn}),
        )
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(11)
    }
    fn owner<'a>(
        &'a self,
        c: &'a crate::aws::Caller,
        rec: &'a crate::state::Record,
        owner: &'a str,
    ) -> Option<super::OwnerRead<'a>> {
        let r: RoleRecord = rec.typed().ok()?;
        Some(Box::pin(async move {
            let o = c
                .call("status", || role::owner(&c.aws, &r.name, owner))
                .await?;
            Ok(o.map(|o| (r.name.clone(), o)))
        }))
    }
    fn retag<'a>(
        &'a self,
        c: &'a crate::aws::Caller,
        rec: &'a crate::state::Record,
        state: &'a crate::state::StackState,
    ) -> Option<BoxFuture<'a, Result<(), crate::aws::AwsError>>> {
        let r: RoleRecord = rec.typed().ok()?;
        let stack = state.owner();
        Some(Box::pin(async move {
            c.call("tags", || role::tag(&c.aws, &r.name, &stack)).await
        }))
    }
    fn step(&self) -> &'static str {
        "role"
    }
    fn doing(&self) -> &'static str {
        "creating the IAM role"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<RoleRecord>(rec)
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        spec.functions
            .iter()
            .map(|f| Node::new(&Role, key::role(&f.logical)).for_item(&f.logical))
            .collect()
    }
    fn props(&self, w: &Want, node: &Node) -> Option<Value> {
        let f = super::function_of(w.spec, node).ok()?;
        Some(json!({"name": f.role, "trust": "lambda.amazonaws.com"}))
    }
    fn label(&self, w: &Want, node: &Node) -> String {
        match w.state.get::<RoleRecord>(&node.key) {
            Some(r) => r.name,
            None => super::function_of(w.spec, node)
                .map_or_else(|_| node.key.clone(), |f| f.role.clone()),
        }
    }
    fn updatable(&self) -> bool {
        false
    }

    fn find<'a>(
        &'a self,
        cx: &'a CheckCx<'a>,
        node: &'a Node,
        _: &'a crate::kinds::context::Before,
    ) -> BoxFuture<'a, Option<Owner>> {
        Box::pin(async move {
            let (c, name) = (cx.c, &super::function_of(cx.spec, node).ok()?.role);
            c.call("plan", || role::owner(&c.aws, name, &cx.spec.owner_tag))
                .await
                .ok()?
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
            f.role.clone(),
            spec.role_arn(f),
            json!({}),
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
            let Some(rec) = cx.state.get::<RoleRecord>(&node.key) else {
                return Some(Check::missing(
                    Role.label(
                        &Want {
                            spec: cx.spec,
                            state: cx.state,
                        },
                        node,
                    ),
                    NOT_DEPLOYED,
                ));
            };
            Some(
                match c.call("status", || role::arn(&c.aws, &rec.name)).await {
                    Ok(None) => Check::missing(&rec.name, "the role does not exist"),
                    Ok(Some(arn)) if arn != rec.arn => Check::drifted(
                        &rec.name,
                        "the role was deleted and made again (its ARN changed)",
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
        key: &'a str,
        rec: &'a crate::state::Record,
    ) -> BoxFuture<'a, anyhow::Result<Option<StepResult>>> {
        Box::pin(async move {
            let policy_key = key.replacen("role:", "role-policy:", 1);
            let removal = remove_named(&ctx.run, &ctx.spec.owner_tag, &rec.id, &policy_key).await?;
            Ok(Some(removal.into_result("IAM role", rec.id.clone())))
        })
    }
    fn deleting(&self) -> &'static str {
        "deleting the IAM role and its policies"
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a TeardownCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(delete_role(ctx, &node.key))
    }
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let spec = &ctx.spec;
    let name = super::function_of(spec, node)?.role.clone();
    if ctx.snapshot().await.has(&node.key) {
        return Ok(StepResult::new(Action::Unchanged, name));
    }
    let trust = spec.trust_policy();
    let (arn, action) = match ctx
        .call("role", || {
            role::create(ctx.aws(), &name, &trust, &spec.owner_tag)
        })
        .await
    {
        Ok(arn) => {
            ctx.fresh_roles
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(node.key.clone());
            (arn, Action::Created)
        }
        Err(e) if e.is(ErrorKind::AlreadyExists) => {
            let owner = ctx
                .call("role", || role::owner(ctx.aws(), &name, &spec.owner_tag))
                .await?
                .unwrap_or(Owner::Untagged);
            if owner != Owner::Us {
                return Err(not_ours(
                    "IAM role",
                    &name,
                    &owner,
                    "Choose another name with --role-name, or deploy that stack with its own --stack.",
                )
                .into());
            }
            let arn = ctx
                .call("role", || role::arn(ctx.aws(), &name))
                .await?
                .with_context(|| format!("role {name} vanished while being adopted"))?;
            (arn, Action::Adopted)
        }
        Err(e) => return Err(e).context(format!("creating IAM role {name}")),
    };
    let rec = RoleRecord {
        name: name.clone(),
        arn,
        fingerprint: String::new(),
    };
    ctx.record(|s| s.put(&node.key, &rec)).await?;
    Ok(StepResult::new(action, name))
}

async fn delete_role(ctx: &TeardownCtx, node_key: &str) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let name = ctx.name_of::<RoleRecord>(&state, node_key, |r| r.name)?;
    let policy_key = node_key.replacen("role:", "role-policy:", 1);
    let action = match remove_named(&ctx.run, &ctx.owner, &name, &policy_key).await? {
        Removal::Deleted => Action::Deleted,
        Removal::Gone => Action::Gone,
        Removal::Foreign(other) => return foreign(state.has(node_key), "IAM role", &name, &other),
    };
    forget_with_contents(ctx, node_key).await?;
    Ok(StepResult::new(action, name))
}

/// Deletes the role of this name if it is this stack's: its policies first (DeleteRole fails
/// with DeleteConflict until every policy is off the role), then the role. The record of its
/// policy (`policy_key`) is forgotten once they are off.
pub async fn remove_named(
    run: &crate::kinds::context::Run,
    stack: &str,
    name: &str,
    policy_key: &str,
) -> anyhow::Result<Removal> {
    let owner = run
        .call("role", || role::owner(&run.aws, name, stack))
        .await?;
    match owner {
        None => return Ok(Removal::Gone),
        Some(Owner::Us) => {}
        Some(other) => return Ok(Removal::Foreign(other)),
    }
    let inline = run
        .call("role", || role::inline_policy_names(&run.aws, name))
        .await?;
    for p in &inline {
        run.call("role", || role::delete_inline_policy(&run.aws, name, p))
            .await
            .with_context(|| format!("deleting inline policy {p} of role {name}"))?;
    }
    let attached = run
        .call("role", || role::attached_policy_arns(&run.aws, name))
        .await?;
    for arn in &attached {
        run.call("role", || role::detach_policy(&run.aws, name, arn))
            .await
            .with_context(|| format!("detaching {arn} from role {name}"))?;
    }
    run.record(|s| {
        s.forget(policy_key);
    })
    .await?;
    let deleted = run
        .call("role", || role::delete(&run.aws, name))
        .await
        .with_context(|| format!("deleting IAM role {name}"))?;
    Ok(if deleted {
        Removal::Deleted
    } else {
        Removal::Gone
    })
}
