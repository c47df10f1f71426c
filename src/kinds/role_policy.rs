//! What the role may do: one least-privilege inline policy, or the tutorial's managed policies.
//! Anything else on the role is reported and removed: it would widen what the function may do.

use anyhow::Context;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Check, CheckCx, Kind, Want, NOT_DEPLOYED};
use crate::aws::same_json;
use crate::engine::{Action, StepResult};
use crate::kinds::context::DeployCtx;
use crate::kinds::graph::{key, Node};
use crate::resources::role;
use crate::stack::{PolicyMode, StackSpec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRecord {
    /// The role it is on.
    #[serde(rename = "id", default)]
    pub role: String,
    pub mode: PolicyMode,
    /// Inline policy name (least privilege) or managed policy ARNs attached.
    pub inline_policy: Option<String>,
    #[serde(default)]
    pub managed_arns: Vec<String>,
    pub fingerprint: String,
}

impl crate::state::Typed for PolicyRecord {
    const KIND: &'static str = "role-policy";
}

pub struct RolePolicy;

impl Kind for RolePolicy {
    fn name(&self) -> &'static str {
        "role-policy"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("PutRolePolicy", "iam:PutRolePolicy", Scope::Role),
            ("GetRolePolicy", "iam:GetRolePolicy", Scope::Role),
            ("DeleteRolePolicy", "iam:DeleteRolePolicy", Scope::Role),
            ("AttachRolePolicy", "iam:AttachRolePolicy", Scope::Role),
            ("DetachRolePolicy", "iam:DetachRolePolicy", Scope::Role),
            (
                "ListAttachedRolePolicies",
                "iam:ListAttachedRolePolicies",
                Scope::Role,
            ),
        ]
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(10)
    }
    fn step(&self) -> &'static str {
        "role-policy"
    }
    fn doing(&self) -> &'static str {
        "granting the role its permissions"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<PolicyRecord>(rec)
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        spec.functions
            .iter()
            .map(|f| {
                Node::new(&RolePolicy, key::role_policy(&f.logical))
                    .for_item(&f.logical)
                    .lives_in(key::role(&f.logical))
            })
            .collect()
    }
    fn props(&self, w: &Want, node: &Node) -> Option<Value> {
        let f = super::function_of(w.spec, node).ok()?;
        Some(match w.spec.policy_mode {
            PolicyMode::LeastPrivilege => {
                let doc: Value = serde_json::from_str(&w.spec.inline_policy(f)).ok()?;
                json!({"mode": "least-privilege", "inline_policy": f.policy_name, "document": doc})
            }
            PolicyMode::Managed => {
                json!({"mode": "managed", "managed_arns": w.spec.managed_policy_arns()})
            }
        })
    }
    fn label(&self, w: &Want, node: &Node) -> String {
        match w.state.get::<PolicyRecord>(&node.key) {
            Some(r) => r.role,
            None => super::function_of(w.spec, node)
                .map_or_else(|_| node.key.clone(), |f| f.role.clone()),
        }
    }
    fn legacy_fingerprint(&self, w: &Want, _: &Node) -> Option<String> {
        Some(w.spec.legacy_policy_fingerprint())
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

    fn goes_with_container(&self) -> bool {
        true
    }
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let spec = &ctx.spec;
    let f = super::function_of(spec, node)?;
    let role_name = f.role.clone();
    let policy_name = f.policy_name.clone();
    let state = ctx.snapshot().await;
    let w = Want {
        spec,
        state: &state,
    };
    let props = RolePolicy.props(&w, node).unwrap_or_default();
    let fingerprint = super::fingerprint_of("role-policy", &props);
    let previous: Option<PolicyRecord> = state.get(&node.key);
    if previous
        .as_ref()
        .is_some_and(|p| p.fingerprint == fingerprint)
    {
        return Ok(StepResult::new(Action::Unchanged, role_name));
    }
    let record = match spec.policy_mode {
        PolicyMode::LeastPrivilege => {
            let doc = spec.inline_policy(f);
            ctx.call("role-policy", || {
                role::put_inline_policy(ctx.aws(), &role_name, &policy_name, &doc)
            })
            .await
            .with_context(|| format!("putting the inline policy on role {role_name}"))?;
            // Switching from the tutorial's managed policies: take them off.
            for arn in previous.iter().flat_map(|p| p.managed_arns.iter()) {
                ctx.call("role-policy", || {
                    role::detach_policy(ctx.aws(), &role_name, arn)
                })
                .await
                .with_context(|| format!("detaching {arn} from role {role_name}"))?;
            }
            PolicyRecord {
                role: role_name.clone(),
                mode: PolicyMode::LeastPrivilege,
                inline_policy: Some(policy_name.clone()),
                managed_arns: vec![],
                fingerprint,
            }
        }
        PolicyMode::Managed => {
            let arns = spec.managed_policy_arns();
            for arn in &arns {
                ctx.call("role-policy", || {
                    role::attach_policy(ctx.aws(), &role_name, arn)
                })
                .await
                .with_context(|| format!("attaching {arn} to role {role_name}"))?;
            }
            if previous.as_ref().is_some_and(|p| p.inline_policy.is_some()) {
                ctx.call("role-policy", || {
                    role::delete_inline_policy(ctx.aws(), &role_name, &policy_name)
                })
                .await
                .with_context(|| format!("removing the inline policy of role {role_name}"))?;
            }
            PolicyRecord {
                role: role_name.clone(),
                mode: PolicyMode::Managed,
                inline_policy: None,
                managed_arns: arns,
                fingerprint,
            }
        }
    };
    let action = if previous.is_some() {
        Action::Updated
    } else {
        Action::Created
    };
    // Anything else on the role widens what the function may do: the stack's role holds
    // exactly the stack's policies. (A role this run created has nothing else.)
    let fresh = ctx
        .fresh_roles
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&key::role(&f.logical));
    let removed = if fresh {
        Vec::new()
    } else {
        remove_foreign_policies(ctx, &role_name, &record).await?
    };
    ctx.record(|s| s.put_applied(&node.key, &record, props))
        .await?;
    let result = StepResult::new(action, role_name);
    Ok(if removed.is_empty() {
        result
    } else {
        result.with_detail(format!("removed {}", removed.join(", ")))
    })
}

/// Deletes inline policies and detaches managed policies that the stack did not put on its
/// role. Returns what was removed, to say so.
async fn remove_foreign_policies(
    ctx: &DeployCtx,
    role_name: &str,
    wanted: &PolicyRecord,
) -> anyhow::Result<Vec<String>> {
    let (inline, attached) = tokio::join!(
        ctx.call("role-policy", || role::inline_policy_names(
            ctx.aws(),
            role_name
        )),
        ctx.call("role-policy", || role::attached_policy_arns(
            ctx.aws(),
            role_name
        ))
    );
    let mut removed = Vec::new();
    for name in inline? {
        if wanted.inline_policy.as_deref() != Some(name.as_str()) {
            ctx.call("role-policy", || {
                role::delete_inline_policy(ctx.aws(), role_name, &name)
            })
            .await
            .with_context(|| format!("removing inline policy {name} from role {role_name}"))?;
            removed.push(format!("inline policy {name}"));
        }
    }
    for arn in attached? {
        if !wanted.managed_arns.contains(&arn) {
            ctx.call("role-policy", || {
                role::detach_policy(ctx.aws(), role_name, &arn)
            })
            .await
            .with_context(|| format!("detaching {arn} from role {role_name}"))?;
            removed.push(format!("managed policy {arn}"));
        }
    }
    Ok(removed)
}

async fn check(cx: &CheckCx<'_>, node: &Node) -> Check {
    let (c, spec) = (cx.c, cx.spec);
    let Some(rec) = cx.state.get::<PolicyRecord>(&node.key) else {
        let w = Want {
            spec,
            state: cx.state,
        };
        return Check::missing(RolePolicy.label(&w, node), NOT_DEPLOYED);
    };
    let role = &rec.role;
    let inline_name = rec
        .inline_policy
        .clone()
        .or_else(|| {
            super::function_of(spec, node)
                .ok()
                .map(|f| f.policy_name.clone())
        })
        .unwrap_or_default();
    // The reads at once (the inline document is only used in least-privilege mode).
    let (attached, inline, inline_names) = tokio::join!(
        c.call("status", || role::attached_policy_arns(&c.aws, role)),
        c.call("status", || {
            role::inline_policy(&c.aws, role, &inline_name)
        }),
        c.call("status", || role::inline_policy_names(&c.aws, role))
    );
    let attached = match attached {
        Ok(a) => a,
        Err(e) if e.is(crate::aws::ErrorKind::NotFound) => {
            return Check::missing(role, "the role does not exist")
        }
        Err(e) => return Check::failed(role, e),
    };
    // Any inline policy the stack did not put widens what the function may do.
    let foreign_inline: Vec<String> = match inline_names {
        Ok(names) => names
            .into_iter()
            .filter(|n| rec.inline_policy.as_deref() != Some(n.as_str()))
            .collect(),
        Err(e) if e.is(crate::aws::ErrorKind::NotFound) => Vec::new(),
        Err(e) => return Check::failed(role, e),
    };
    if !foreign_inline.is_empty() {
        return Check::drifted(
            role,
            format!(
                "inline policies not put by the stack (they widen what the function may do): {}",
                foreign_inline.join(", ")
            ),
        );
    }
    // What was put (the record's properties); a record of an older release has none: the
    // model's document then.
    let deployed = cx
        .state
        .resources
        .get(&node.key)
        .and_then(|r| r.props.as_ref())
        .and_then(|p| p.get("document"))
        .map(|d| d.to_string())
        .or_else(|| {
            super::function_of(spec, node)
                .ok()
                .map(|f| spec.inline_policy(f))
        })
        .unwrap_or_default();
    let extra: Vec<&str> = attached
        .iter()
        .filter(|a| !rec.managed_arns.contains(a))
        .map(String::as_str)
        .collect();
    match rec.mode {
        PolicyMode::LeastPrivilege => match inline {
            Ok(None) => Check::missing(role, "the inline policy is gone"),
            Ok(Some(doc)) if !same_json(&doc, &deployed) => {
                Check::drifted(role, "the inline policy was changed")
            }
            Ok(Some(_)) if !extra.is_empty() => Check::drifted(
                role,
                format!("extra managed policies attached: {}", extra.join(", ")),
            ),
            Ok(Some(_)) => Check::ok(format!("{role} (least privilege)")),
            Err(e) => Check::failed(role, e),
        },
        PolicyMode::Managed => {
            let lacking: Vec<&str> = rec
                .managed_arns
                .iter()
                .filter(|a| !attached.contains(a))
                .map(String::as_str)
                .collect();
            if !extra.is_empty() {
                Check::drifted(
                    role,
                    format!("extra managed policies attached: {}", extra.join(", ")),
                )
            } else if lacking.is_empty() {
                Check::ok(format!("{role} (managed policies)"))
            } else {
                Check::drifted(
                    role,
                    format!("managed policies detached: {}", lacking.join(", ")),
                )
            }
        }
    }
}
