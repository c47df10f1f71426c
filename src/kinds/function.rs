//! The Lambda function: its code and its configuration, which are updated separately.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Check, CheckCx, Kind, Removal, Repair, Want, NOT_DEPLOYED};
use crate::aws::{poll, AwsError, ErrorKind};
use crate::engine::{Action, StepResult};
use crate::error::not_ours;
use crate::kinds::context::DeployCtx;
use crate::kinds::context::Health;
use crate::kinds::context::{foreign, forget_with_contents, TeardownCtx};
use crate::kinds::graph::{key, Node};
use crate::kinds::role::RoleRecord;
use crate::resources::function::FunctionConfig;
use crate::resources::{function, Owner};
use crate::stack::StackSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionRecord {
    #[serde(rename = "id")]
    pub name: String,
    pub arn: String,
    /// Base64 SHA-256 of the deployed zip, as Lambda reports it (`CodeSha256`).
    pub code_sha256: String,
    pub runtime: String,
    /// Fingerprint of the configuration (not the code).
    #[serde(rename = "fingerprint")]
    pub config_fingerprint: String,
    /// Active and Successful were seen after the last create or update.
    pub ready: bool,
}

impl crate::state::Typed for FunctionRecord {
    const KIND: &'static str = "function";
}

pub struct Function;

impl Kind for Function {
    fn name(&self) -> &'static str {
        "function"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("CreateFunction", "lambda:CreateFunction", Scope::Function),
            ("GetFunction", "lambda:GetFunction", Scope::Function),
            (
                "UpdateFunctionCode",
                "lambda:UpdateFunctionCode",
                Scope::Function,
            ),
            (
                "UpdateFunctionConfiguration",
                "lambda:UpdateFunctionConfiguration",
                Scope::Function,
            ),
            ("DeleteFunction", "lambda:DeleteFunction", Scope::Function),
            ("TagResource", "lambda:TagResource", Scope::Function),
        ]
    }
    fn inventory(&self, state: &crate::state::StackState, _keep_data: bool) -> Vec<String> {
        super::inventory_lines(
            state,
            |f: FunctionRecord| f.name,
            state.names.function.clone(),
            |f| format!("Lambda function {f}"),
        )
    }
    fn shown(&self) -> Option<super::Shown> {
        Some(super::Shown::ByName {
            section: "functions",
            first: "function",
        })
    }
    fn show(&self, rec: &crate::state::Record) -> Value {
        rec.typed::<FunctionRecord>().map_or(
            Value::Null,
            |f| serde_json::json!({"name": f.name, "arn": f.arn, "code_sha256": f.code_sha256}),
        )
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(8)
    }
    fn owner<'a>(
        &'a self,
        c: &'a crate::aws::Caller,
        rec: &'a crate::state::Record,
        owner: &'a str,
    ) -> Option<super::OwnerRead<'a>> {
        let f: FunctionRecord = rec.typed().ok()?;
        Some(Box::pin(async move {
            let i = c
                .call("status", || {
                    crate::resources::function::get(&c.aws, &f.name, owner)
                })
                .await?;
            Ok(i.map(|i| (f.name.clone(), i.owner)))
        }))
    }
    fn retag<'a>(
        &'a self,
        c: &'a crate::aws::Caller,
        rec: &'a crate::state::Record,
        state: &'a crate::state::StackState,
    ) -> Option<BoxFuture<'a, Result<(), crate::aws::AwsError>>> {
        let f: FunctionRecord = rec.typed().ok()?;
        let stack = state.owner();
        Some(Box::pin(async move {
            c.call("tags", || {
                crate::resources::function::tag(&c.aws, &f.arn, &stack)
            })
            .await
        }))
    }
    fn step(&self) -> &'static str {
        "function"
    }
    fn doing(&self) -> &'static str {
        "creating the Lambda function"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<FunctionRecord>(rec)
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        // The log group first: the function's first lines land in a group with a retention.
        spec.functions
            .iter()
            .map(|f| {
                Node::new(&Function, key::function(&f.logical))
                    .for_item(&f.logical)
                    .needs(key::role(&f.logical))
                    .needs(key::log_group(&f.logical))
            })
            .collect()
    }
    /// The configuration (the code is compared by its SHA-256 on its own).
    fn props(&self, w: &Want, node: &Node) -> Option<Value> {
        let f = super::function_of(w.spec, node).ok()?;
        let role = w.state.get::<RoleRecord>(&key::role(&f.logical))?;
        let env: serde_json::Map<String, Value> = f
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        Some(json!({
            "name": f.name,
            "runtime": f.runtime,
            "handler": f.handler,
            "role": role.arn,
            "memory_mb": f.memory_mb,
            "timeout_secs": f.timeout_secs,
            "environment": env,
        }))
    }
    fn label(&self, w: &Want, node: &Node) -> String {
        super::function_of(w.spec, node).map_or_else(|_| node.key.clone(), |f| f.name.clone())
    }
    fn legacy_fingerprint(&self, w: &Want, node: &Node) -> Option<String> {
        let f = super::function_of(w.spec, node).ok()?;
        let role = w.state.get::<RoleRecord>(&key::role(&f.logical))?;
        Some(w.spec.legacy_function_config_fingerprint(&role.arn))
    }
    fn invalidate(&self, rec: &mut crate::state::Record) {
        rec.fingerprint.clear();
        rec.props = None;
        rec.attrs.insert("code_sha256".into(), "".into());
        rec.attrs.insert("ready".into(), false.into());
    }
    fn repair(&self, node: &Node, check: &Check) -> Repair {
        match check.health {
            Health::Missing => Repair::Recreate(vec![node.key.clone()]),
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
            let (c, name) = (cx.c, &super::function_of(cx.spec, node).ok()?.name);
            c.call("plan", || function::get(&c.aws, name, &cx.spec.owner_tag))
                .await
                .ok()?
                .map(|f| f.owner)
        })
    }
    fn predict(
        &self,
        spec: &StackSpec,
        node: &Node,
        code: &super::CodeShas,
    ) -> Option<crate::state::Record> {
        let f = super::function_of(spec, node).ok()?;
        let sha = code.get(&f.logical).cloned().unwrap_or_default();
        Some(super::predicted(
            self.name(),
            f.name.clone(),
            spec.function_arn(f),
            json!({"code_sha256": sha, "runtime": f.runtime, "ready": true}),
        ))
    }
    fn other_change(
        &self,
        node: &Node,
        rec: &crate::state::Record,
        code: &super::CodeShas,
    ) -> Option<(&'static str, Value, Value)> {
        let sha = code.get(node.item.as_deref()?)?;
        let old = rec.attrs.get("code_sha256").cloned().unwrap_or(Value::Null);
        (old.as_str() != Some(sha.as_str())).then(|| ("code_sha256", old, sha.as_str().into()))
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
            let state = ctx.snapshot().await;
            let removal = remove_named(&ctx.run, &ctx.spec.owner_tag, &state, &rec.id).await?;
            Ok(Some(removal.into_result("Lambda function", rec.id.clone())))
        })
    }
    fn deleting(&self) -> &'static str {
        "deleting the Lambda function"
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a TeardownCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(delete_function(ctx, &node.key))
    }
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let spec = &ctx.spec;
    let f = super::function_of(spec, node)?;
    let name = f.name.clone();
    let state = ctx.snapshot().await;
    let w = Want {
        spec,
        state: &state,
    };
    let role_arn = state
        .get::<RoleRecord>(&key::role(&f.logical))
        .map(|r| r.arn)
        .context("the role is not recorded; run deploy again")?;
    let props = Function
        .props(&w, node)
        .context("the role is not recorded; run deploy again")?;
    let want_config = super::fingerprint_of("function", &props);
    let cfg = FunctionConfig {
        name: &name,
        runtime: &f.runtime,
        role_arn: &role_arn,
        handler: &f.handler,
        env: &f.env,
        memory_mb: f.memory_mb,
        timeout_secs: f.timeout_secs,
        stack: &spec.owner_tag,
    };
    let code = ctx.code_of(&f.logical)?;
    let save = |rec: &FunctionRecord, props: Option<&Value>| {
        let (rec, props) = (rec.clone(), props.cloned());
        let key = node.key.clone();
        move |s: &mut crate::state::StackState| match props {
            Some(p) => s.put_applied(&key, &rec, p),
            None => s.put(&key, &rec),
        }
    };

    let (mut rec, mut action) = match state.get::<FunctionRecord>(&node.key) {
        Some(rec) => (rec, Action::Unchanged),
        None => create(ctx, node, &cfg, code, &want_config, &props).await?,
    };
    let mut details = Vec::new();
    if !rec.ready {
        wait_ready(ctx, &name).await?;
        rec.ready = true;
        ctx.record(save(&rec, None)).await?;
    }
    if rec.code_sha256 != code.sha256 {
        let zip = code.zip().map_err(anyhow::Error::msg)?;
        let sha = ctx
            .call("function", || function::update_code(ctx.aws(), &name, zip))
            .await
            .with_context(|| format!("updating the code of function {name}"))?;
        rec.code_sha256 = if sha.is_empty() {
            code.sha256.clone()
        } else {
            sha
        };
        rec.ready = false;
        ctx.record(save(&rec, None)).await?;
        wait_ready(ctx, &name).await?;
        rec.ready = true;
        ctx.record(save(&rec, None)).await?;
        details.push("code updated");
    }
    if rec.config_fingerprint != want_config {
        while_role_propagates(ctx, cfg.role_arn, || {
            ctx.call("function", || function::update_config(ctx.aws(), &cfg))
        })
        .await?
        .with_context(|| format!("updating the configuration of function {name}"))?;
        rec.config_fingerprint = want_config.clone();
        rec.runtime = f.runtime.clone();
        rec.ready = false;
        ctx.record(save(&rec, Some(&props))).await?;
        wait_ready(ctx, &name).await?;
        rec.ready = true;
        ctx.record(save(&rec, None)).await?;
        details.push("configuration updated");
    }
    if !details.is_empty() && action == Action::Unchanged {
        action = Action::Updated;
    }
    let result = StepResult::new(action, name);
    Ok(if details.is_empty() {
        result
    } else {
        result.with_detail(details.join(", "))
    })
}

/// CreateFunction, retrying while the new role cannot yet be assumed; adopts a function of
/// this stack that already exists.
async fn create(
    ctx: &DeployCtx,
    node: &Node,
    cfg: &FunctionConfig<'_>,
    code: &crate::code::CodePackage,
    want_config: &str,
    props: &Value,
) -> anyhow::Result<(FunctionRecord, Action)> {
    let zip = code.zip().map_err(anyhow::Error::msg)?;
    let res = while_role_propagates(ctx, cfg.role_arn, || {
        ctx.call("function", || function::create(ctx.aws(), cfg, zip))
    })
    .await?;
    match res {
        Ok((arn, sha)) => {
            let rec = FunctionRecord {
                name: cfg.name.to_string(),
                arn,
                code_sha256: if sha.is_empty() {
                    code.sha256.clone()
                } else {
                    sha
                },
                runtime: cfg.runtime.to_string(),
                config_fingerprint: want_config.to_string(),
                ready: false,
            };
            let p = props.clone();
            ctx.record(|s| s.put_applied(&node.key, &rec, p)).await?;
            Ok((rec, Action::Created))
        }
        Err(e) if e.is(ErrorKind::AlreadyExists) => {
            let info = ctx
                .call("function", || function::get(ctx.aws(), cfg.name, cfg.stack))
                .await?
                .with_context(|| format!("function {} vanished while being adopted", cfg.name))?;
            if info.owner != Owner::Us {
                return Err(not_ours(
                        "Lambda function",
                        cfg.name,
                        &info.owner,
                        "Choose another name with --function-name, or deploy that stack with its own --stack.",
                    )
                    .into());
            }
            // Its code and configuration are whatever they are; the caller compares them.
            let rec = FunctionRecord {
                name: cfg.name.to_string(),
                arn: info.arn,
                code_sha256: info.code_sha256,
                runtime: info.runtime,
                config_fingerprint: String::new(),
                ready: false,
            };
            ctx.record(|s| s.put(&node.key, &rec)).await?;
            Ok((rec, Action::Adopted))
        }
        Err(e) => Err(e).context(format!("creating Lambda function {}", cfg.name)),
    }
}

/// Runs `call` again while Lambda cannot assume the role yet ("The role defined for the
/// function cannot be assumed by Lambda", "... does not have permissions"): a new or re-made
/// role takes seconds to reach Lambda, for CreateFunction and UpdateFunctionConfiguration
/// alike (docs/aws.md, "Eventual consistency and concurrent changes"). Bounded by --role-wait; any other answer is returned.
async fn while_role_propagates<T, F, Fut>(
    ctx: &DeployCtx,
    role_arn: &str,
    mut call: F,
) -> anyhow::Result<Result<T, AwsError>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let started = Instant::now();
    let mut attempt = 0u32;
    loop {
        match call().await {
            Err(e) if e.is(ErrorKind::RoleNotAssumable) => {
                let waited = started.elapsed();
                // Propagation takes seconds: poll each second after a quick start, so the
                // call succeeds at most a second after the role becomes usable.
                let pause = role_retry_pause(attempt);
                if waited + pause > ctx.timing.role_wait {
                    anyhow::bail!(
                        "Lambda still cannot assume the new IAM role {role_arn} after {:.0} s (IAM is slow to propagate); run deploy again to resume, or raise --role-wait",
                        waited.as_secs_f64()
                    );
                }
                ctx.progress.note(
                    "function",
                    &format!(
                        "waiting for the new IAM role to reach Lambda ({:.0} s so far, up to {} s)",
                        waited.as_secs_f64(),
                        ctx.timing.role_wait.as_secs()
                    ),
                );
                tokio::time::sleep(pause).await;
                attempt += 1;
            }
            other => return Ok(other),
        }
    }
}

/// 250 ms, 500 ms, then every second.
pub(crate) fn role_retry_pause(attempt: u32) -> Duration {
    match attempt {
        0 => Duration::from_millis(250),
        1 => Duration::from_millis(500),
        _ => Duration::from_secs(1),
    }
}

/// Polls GetFunction until Active and not mid-update; a Failed state stops at once.
async fn wait_ready(ctx: &DeployCtx, name: &str) -> anyhow::Result<()> {
    let t = &ctx.timing;
    let stack = ctx.spec.owner_tag.clone();
    let ready = poll(t.ready_wait, t.poll_first, t.poll_max, || async {
        let info = ctx
            .call("function", || function::get(ctx.aws(), name, &stack))
            .await?
            .ok_or_else(|| {
                AwsError::local(
                    ErrorKind::NotFound,
                    format!("function {name} disappeared while waiting for it to become Active"),
                )
            })?;
        if let Some(why) = info.failure() {
            return Err(AwsError::local(
                ErrorKind::Other,
                format!("function {name}: {why}"),
            ));
        }
        if info.is_ready() {
            Ok(Some(()))
        } else {
            ctx.progress.note(
                "function",
                &format!(
                    "waiting: state {}, last update {}",
                    info.state, info.last_update_status
                ),
            );
            Ok(None)
        }
    })
    .await?;
    ready.with_context(|| {
        format!(
            "function {name} was not Active after {} s; run deploy again to keep waiting",
            t.ready_wait.as_secs()
        )
    })
}

async fn check(cx: &CheckCx<'_>, node: &Node) -> Check {
    let (c, spec) = (cx.c, cx.spec);
    let Ok(f) = super::function_of(spec, node) else {
        return Check::missing(&node.key, "not in the model");
    };
    let Some(rec) = cx.state.get::<FunctionRecord>(&node.key) else {
        return Check::missing(&f.name, NOT_DEPLOYED);
    };
    let info = match c
        .call("status", || {
            function::get(&c.aws, &rec.name, &spec.owner_tag)
        })
        .await
    {
        Ok(Some(i)) => i,
        Ok(None) => return Check::missing(&rec.name, "the function does not exist"),
        Err(e) => return Check::failed(&rec.name, e),
    };
    let mut why = Vec::new();
    let settling_only = info.failure().is_none() && !info.is_ready();
    if let Some(f) = info.failure() {
        why.push(f);
    } else if !info.is_ready() {
        why.push(format!(
            "state {}, last update {}",
            info.state, info.last_update_status
        ));
    }
    if info.code_sha256 != rec.code_sha256 {
        why.push("code SHA-256 differs from the deployed one".to_string());
    }
    let applied = cx
        .state
        .resources
        .get(&node.key)
        .and_then(|r| r.props.clone());
    let handler = applied
        .as_ref()
        .and_then(|p| p.get("handler"))
        .and_then(Value::as_str)
        .unwrap_or(&f.handler);
    if info.handler != handler {
        why.push(format!(
            "handler is {}, deployed as {handler}",
            info.handler
        ));
    }
    if info.runtime != rec.runtime {
        why.push(format!(
            "runtime is {}, deployed as {}",
            info.runtime, rec.runtime
        ));
    }
    if let Some(role) = cx.state.get::<RoleRecord>(&key::role(&f.logical)) {
        if info.role != role.arn {
            why.push(format!("execution role is {}", info.role));
        }
    }
    // Memory and timeout as recorded when the configuration was last applied.
    if let Some(p) = applied {
        let want = |k: &str| p.get(k).and_then(Value::as_i64);
        if want("memory_mb").is_some_and(|m| m != i64::from(info.memory_mb)) {
            why.push(format!("memory is {} MB", info.memory_mb));
        }
        if want("timeout_secs").is_some_and(|t| t != i64::from(info.timeout_secs)) {
            why.push(format!("timeout is {} s", info.timeout_secs));
        }
    }
    let mut want_env = f.env.clone();
    want_env.sort();
    if info.env != want_env {
        why.push("environment variables changed".to_string());
    }
    if why.is_empty() {
        Check::ok(&rec.name)
    } else if settling_only && why.len() == 1 {
        Check::settling(&rec.name, why.join("; "))
    } else {
        Check::drifted(&rec.name, why.join("; "))
    }
}

async fn delete_function(ctx: &TeardownCtx, node_key: &str) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let name = ctx.name_of::<FunctionRecord>(&state, node_key, |r| r.name)?;
    let action = match remove_named(&ctx.run, &ctx.owner, &state, &name).await? {
        Removal::Gone => Action::Gone,
        Removal::Deleted => Action::Deleted,
        Removal::Foreign(other) => {
            return foreign(state.has(node_key), "Lambda function", &name, &other)
        }
    };
    forget_with_contents(ctx, node_key).await?;
    Ok(StepResult::new(action, name))
}

/// Deletes the function of this name if it is this stack's.
pub async fn remove_named(
    run: &crate::kinds::context::Run,
    stack: &str,
    state: &crate::state::StackState,
    name: &str,
) -> anyhow::Result<Removal> {
    Ok(match function_owner(run, stack, state, name).await? {
        None => Removal::Gone,
        Some(Owner::Us) => {
            let deleted = run
                .call("function", || function::delete(&run.aws, name))
                .await
                .with_context(|| format!("deleting function {name}"))?;
            if deleted {
                Removal::Deleted
            } else {
                Removal::Gone
            }
        }
        Some(other) => Removal::Foreign(other),
    })
}
/// The function's owner, or `None` when it is gone. A function whose tags cannot be read
/// (no `lambda:ListTags`) is ours when the state records it by the same ARN: this run's stack
/// made it.
pub async fn function_owner(
    run: &crate::kinds::context::Run,
    stack: &str,
    state: &crate::state::StackState,
    name: &str,
) -> anyhow::Result<Option<Owner>> {
    let recorded = state
        .all::<crate::kinds::function::FunctionRecord>()
        .into_iter()
        .find(|(_, f)| f.name == name)
        .map(|(_, f)| f.arn);
    let recorded = recorded.as_deref();
    Ok(run
        .call("function", || function::get(&run.aws, name, stack))
        .await?
        .map(|f| match f.owner {
            Owner::Unknown(_) if recorded == Some(f.arn.as_str()) => Owner::Us,
            owner => owner,
        }))
}
