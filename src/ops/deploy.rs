//! The deploy plan: fourteen steps, each idempotent and resumable.
//!
//! ```text
//! table, log-group (on their own)
//! role ──┬── role-policy
//!        └── function ───────────────────┬── integration ──┬── integration-responses ── deployment
//! api ──┬── resource ──────────┬── method ┴── method-responses ┘
//!       ├── request-validation ┘
//!       └──────────────────────────────── permission (function + api)
//! ```
//!
//! The route steps (resource, method, integration, their responses, permission) cover both
//! routes, POST /user and GET /user/{uid}, from `stack::routes()`. The routes run
//! concurrently; the calls on one route's method (PutMethod, PutMethodResponse per status,
//! PutIntegration, PutIntegrationResponse per status) run one after another, because AWS
//! refuses a Put* on a method while another is in flight ([`MethodLocks`]). The function needs
//! the role, not its policy. So the longest chain is on the API's side: STS, CreateRestApi,
//! CreateResource /user, CreateResource /user/{uid}, then GET's method with its six method
//! responses, its integration and six integration responses, then CreateDeployment. The
//! lookup that guards against a second REST API runs beside the STS call.
//!
//! A step does nothing when the state records its resource with the wanted fingerprint. A
//! create that answers "already exists" adopts the resource only when its owner tag names this
//! stack. Every ID is recorded the moment AWS returns it, before the next call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::future::BoxFuture;

use crate::aws::{poll, AwsError, ErrorKind, RetryPolicy};
use crate::code::CodePackage;
use crate::engine::{Action, Step, StepResult};
use crate::error::not_ours;
use crate::ops::Run;
use crate::resources::function::FunctionConfig;
use crate::resources::{api, function, log_group, role, table, Owner};
use crate::stack::{
    self, PolicyMode, StackSpec, HANDLER, INLINE_POLICY_NAME, PERMISSION_SID, STAGE,
};
use crate::state::{
    ApiRecord, DeploymentRecord, FingerprintRecord, FunctionRecord, LogGroupRecord,
    PermissionRecord, PolicyRecord, ResourceRecord, RoleRecord, StackState, TableRecord,
    ValidatorRecord,
};

/// Time limits, passed in so tests can shorten them.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long "the role cannot be assumed by Lambda" is retried.
    pub role_wait: Duration,
    /// How long to wait for ACTIVE / Active / Successful.
    pub ready_wait: Duration,
    pub retry: RetryPolicy,
    /// First and longest interval of readiness polls.
    pub poll_first: Duration,
    pub poll_max: Duration,
}

/// Everything the steps share.
pub struct DeployCtx {
    pub run: Run,
    pub spec: StackSpec,
    pub code: CodePackage,
    /// REST APIs of the stack's API name, listed while the identity call ran (so the lookup
    /// before CreateRestApi costs no time on the critical path); used by the first attempt.
    pub api_lookup: std::sync::Mutex<Option<Vec<api::ApiInfo>>>,
    /// The REST API was created by this run: it has no /user resource yet to look for.
    pub fresh_api: std::sync::atomic::AtomicBool,
    /// One lock per method: AWS refuses a Put* on a method while another is in flight.
    pub method_locks: MethodLocks,
    /// The role was created by this run: it holds no policy that the stack did not put.
    pub fresh_role: std::sync::atomic::AtomicBool,
    /// Status found routes in the API that the stack does not have: removed before the next
    /// deployment publishes them.
    pub prune_routes: bool,
    /// Status found statements in the function's policy that the stack did not put: removed.
    pub prune_permissions: bool,
}

/// The method is the unit of concurrency in API Gateway: PutMethodResponse,
/// PutIntegration and PutIntegrationResponse on one method are refused with
/// ConflictException while another of them is in flight (aws-facts.md, section 1; Terraform
/// holds one global lock for the same reason). Calls on one method go one at a time, in the
/// order they ask; calls on different methods still run at once.
#[derive(Default)]
pub struct MethodLocks {
    locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl MethodLocks {
    /// Runs `call` while holding the lock of `route`'s method.
    pub async fn on<T>(
        &self,
        route: &crate::stack::RouteSpec,
        call: impl std::future::Future<Output = T>,
    ) -> T {
        let lock = self
            .locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(route.label())
            .or_default()
            .clone();
        let _held = lock.lock().await;
        call.await
    }
}

impl std::ops::Deref for DeployCtx {
    type Target = Run;
    fn deref(&self) -> &Run {
        &self.run
    }
}

type StepFut = BoxFuture<'static, anyhow::Result<StepResult>>;

/// The steps of a deploy.
pub fn steps() -> Vec<Step<DeployCtx>> {
    fn s(
        name: &'static str,
        doing: &'static str,
        deps: &'static [&'static str],
        run: fn(Arc<DeployCtx>) -> StepFut,
    ) -> Step<DeployCtx> {
        Step {
            name,
            doing,
            deps,
            run,
        }
    }
    vec![
        s("table", "creating the DynamoDB table", &[], |c| {
            Box::pin(ensure_table(c))
        }),
        s("role", "creating the IAM role", &[], |c| {
            Box::pin(ensure_role(c))
        }),
        s(
            "role-policy",
            "granting the role its permissions",
            &["role"],
            |c| Box::pin(ensure_role_policy(c)),
        ),
        s("function", "creating the Lambda function", &["role"], |c| {
            Box::pin(ensure_function(c))
        }),
        s("log-group", "creating the function's log group", &[], |c| {
            Box::pin(ensure_log_group(c))
        }),
        s("api", "creating the REST API", &[], |c| {
            Box::pin(ensure_api(c))
        }),
        s(
            "resource",
            "creating the /user and /user/{uid} resources",
            &["api"],
            |c| Box::pin(ensure_resource(c)),
        ),
        s(
            "request-validation",
            "creating the request body model and validator",
            &["api"],
            |c| Box::pin(ensure_request_validation(c)),
        ),
        s(
            "method",
            "creating the POST and GET methods",
            &["resource", "request-validation"],
            |c| Box::pin(ensure_method(c)),
        ),
        s(
            "method-responses",
            "declaring the method's responses",
            &["method"],
            |c| Box::pin(ensure_method_responses(c)),
        ),
        s(
            "integration",
            "wiring POST and GET to the function",
            &["method", "function"],
            |c| Box::pin(ensure_integration(c)),
        ),
        s(
            "integration-responses",
            "mapping the function's answers to responses",
            &["integration", "method-responses"],
            |c| Box::pin(ensure_integration_responses(c)),
        ),
        s(
            "permission",
            "letting API Gateway invoke the function",
            &["function", "api"],
            |c| Box::pin(ensure_permission(c)),
        ),
        s(
            "deployment",
            "deploying to stage prod",
            &["integration-responses"],
            |c| Box::pin(ensure_deployment(c)),
        ),
    ]
}

async fn ensure_table(ctx: Arc<DeployCtx>) -> anyhow::Result<StepResult> {
    let spec = &ctx.spec;
    let name = spec.names.table.clone();
    let recorded = ctx.snapshot().await.table;
    let mut action = Action::Unchanged;
    let rec = match recorded {
        Some(rec) => rec,
        None => {
            let created = ctx
                .call("table", || {
                    table::create(ctx.aws(), &name, spec.billing, &spec.stack)
                })
                .await;
            let (arn, billing) = match created {
                Ok(arn) => {
                    action = Action::Created;
                    (arn, spec.billing)
                }
                Err(e) if e.is(ErrorKind::AlreadyExists) => {
                    let info = ctx
                        .call("table", || table::describe(ctx.aws(), &name))
                        .await?
                        .with_context(|| format!("table {name} exists but cannot be described"))?;
                    let owner = ctx
                        .call("table", || table::owner(ctx.aws(), &info.arn, &spec.stack))
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
            };
            ctx.record(|s| s.table = Some(rec.clone())).await?;
            rec
        }
    };
    let mut rec = rec;
    if rec.billing != spec.billing {
        wait_table_active(&ctx, &name).await?;
        ctx.call("table", || {
            table::update_billing(ctx.aws(), &name, spec.billing)
        })
        .await
        .with_context(|| format!("changing the billing mode of table {name}"))?;
        rec.billing = spec.billing;
        rec.ready = false;
        ctx.record(|s| s.table = Some(rec.clone())).await?;
        if action == Action::Unchanged {
            action = Action::Updated;
        }
    }
    if !rec.ready {
        let arn = wait_table_active(&ctx, &name).await?;
        if rec.arn.is_empty() {
            rec.arn = arn;
        }
        rec.ready = true;
        ctx.record(|s| s.table = Some(rec.clone())).await?;
    }
    Ok(StepResult::new(action, name))
}

/// Polls DescribeTable until ACTIVE. Returns the ARN.
async fn wait_table_active(ctx: &DeployCtx, name: &str) -> anyhow::Result<String> {
    let t = &ctx.timing;
    let found = poll(t.ready_wait, t.poll_first, t.poll_max, || async {
        let info = ctx
            .call("table", || table::describe(ctx.aws(), name))
            .await?;
        match info {
            Some(i) if table::is_active(&i.status) => Ok(Some(i.arn)),
            Some(i) => {
                ctx.progress
                    .note("table", &format!("waiting: table is {}", i.status));
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
            "table {name} was not ACTIVE after {} s; run deploy again to keep waiting",
            t.ready_wait.as_secs()
        )
    })
}

async fn ensure_role(ctx: Arc<DeployCtx>) -> anyhow::Result<StepResult> {
    let spec = &ctx.spec;
    let name = spec.names.role.clone();
    if ctx.snapshot().await.role.is_some() {
        return Ok(StepResult::new(Action::Unchanged, name));
    }
    let trust = spec.trust_policy();
    let (arn, action) = match ctx
        .call("role", || {
            role::create(ctx.aws(), &name, &trust, &spec.stack)
        })
        .await
    {
        Ok(arn) => {
            ctx.fresh_role
                .store(true, std::sync::atomic::Ordering::SeqCst);
            (arn, Action::Created)
        }
        Err(e) if e.is(ErrorKind::AlreadyExists) => {
            let owner = ctx
                .call("role", || role::owner(ctx.aws(), &name, &spec.stack))
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
    };
    ctx.record(|s| s.role = Some(rec)).await?;
    Ok(StepResult::new(action, name))
}

async fn ensure_role_policy(ctx: Arc<DeployCtx>) -> anyhow::Result<StepResult> {
    let spec = &ctx.spec;
    let role_name = spec.names.role.clone();
    let fingerprint = spec.policy_fingerprint();
    let previous = ctx.snapshot().await.role_policy;
    if previous
        .as_ref()
        .is_some_and(|p| p.fingerprint == fingerprint)
    {
        return Ok(StepResult::new(Action::Unchanged, role_name));
    }
    let record = match spec.policy_mode {
        PolicyMode::LeastPrivilege => {
            let doc = spec.inline_policy();
            ctx.call("role-policy", || {
                role::put_inline_policy(ctx.aws(), &role_name, INLINE_POLICY_NAME, &doc)
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
                mode: PolicyMode::LeastPrivilege,
                inline_policy: Some(INLINE_POLICY_NAME.to_string()),
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
                    role::delete_inline_policy(ctx.aws(), &role_name, INLINE_POLICY_NAME)
                })
                .await
                .with_context(|| format!("removing the inline policy of role {role_name}"))?;
            }
            PolicyRecord {
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
    let removed = if ctx.fresh_role.load(std::sync::atomic::Ordering::SeqCst) {
        Vec::new()
    } else {
        remove_foreign_policies(&ctx, &role_name, &record).await?
    };
    ctx.record(|s| s.role_policy = Some(record)).await?;
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

async fn ensure_function(ctx: Arc<DeployCtx>) -> anyhow::Result<StepResult> {
    let spec = &ctx.spec;
    let name = spec.names.function.clone();
    let state = ctx.snapshot().await;
    let role_arn = state
        .role
        .as_ref()
        .map(|r| r.arn.clone())
        .context("the role is not recorded; run deploy again")?;
    let env = spec.function_env();
    let cfg = FunctionConfig {
        name: &name,
        runtime: &spec.runtime,
        role_arn: &role_arn,
        handler: HANDLER,
        env: &env,
        stack: &spec.stack,
    };
    let want_config = spec.function_config_fingerprint(&role_arn);
    let code = &ctx.code;

    let (mut rec, mut action) = match state.function {
        Some(rec) => (rec, Action::Unchanged),
        None => create_function(&ctx, &cfg, &want_config).await?,
    };
    let mut details = Vec::new();
    if !rec.ready {
        wait_function_ready(&ctx, &name).await?;
        rec.ready = true;
        ctx.record(|s| s.function = Some(rec.clone())).await?;
    }
    if rec.code_sha256 != code.sha256 {
        let sha = ctx
            .call("function", || {
                function::update_code(ctx.aws(), &name, &code.zip)
            })
            .await
            .with_context(|| format!("updating the code of function {name}"))?;
        rec.code_sha256 = if sha.is_empty() {
            code.sha256.clone()
        } else {
            sha
        };
        rec.ready = false;
        ctx.record(|s| s.function = Some(rec.clone())).await?;
        wait_function_ready(&ctx, &name).await?;
        rec.ready = true;
        ctx.record(|s| s.function = Some(rec.clone())).await?;
        details.push("code updated");
    }
    if rec.config_fingerprint != want_config {
        while_role_propagates(&ctx, cfg.role_arn, || {
            ctx.call("function", || function::update_config(ctx.aws(), &cfg))
        })
        .await?
        .with_context(|| format!("updating the configuration of function {name}"))?;
        rec.config_fingerprint = want_config.clone();
        rec.runtime = spec.runtime.clone();
        rec.ready = false;
        ctx.record(|s| s.function = Some(rec.clone())).await?;
        wait_function_ready(&ctx, &name).await?;
        rec.ready = true;
        ctx.record(|s| s.function = Some(rec.clone())).await?;
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
async fn create_function(
    ctx: &DeployCtx,
    cfg: &FunctionConfig<'_>,
    want_config: &str,
) -> anyhow::Result<(FunctionRecord, Action)> {
    let res = while_role_propagates(ctx, cfg.role_arn, || {
        ctx.call("function", || {
            function::create(ctx.aws(), cfg, &ctx.code.zip)
        })
    })
    .await?;
    match res {
        Ok((arn, sha)) => {
            let rec = FunctionRecord {
                name: cfg.name.to_string(),
                arn,
                code_sha256: if sha.is_empty() {
                    ctx.code.sha256.clone()
                } else {
                    sha
                },
                runtime: cfg.runtime.to_string(),
                config_fingerprint: want_config.to_string(),
                ready: false,
            };
            ctx.record(|s| s.function = Some(rec.clone())).await?;
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
            ctx.record(|s| s.function = Some(rec.clone())).await?;
            Ok((rec, Action::Adopted))
        }
        Err(e) => Err(e).context(format!("creating Lambda function {}", cfg.name)),
    }
}

/// Runs `call` again while Lambda cannot assume the role yet ("The role defined for the
/// function cannot be assumed by Lambda", "... does not have permissions"): a new or re-made
/// role takes seconds to reach Lambda, for CreateFunction and UpdateFunctionConfiguration
/// alike (aws-facts.md, section 1). Bounded by --role-wait; any other answer is returned.
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
fn role_retry_pause(attempt: u32) -> Duration {
    match attempt {
        0 => Duration::from_millis(250),
        1 => Duration::from_millis(500),
        _ => Duration::from_secs(1),
    }
}

/// Polls GetFunction until Active and not mid-update; a Failed state stops at once.
async fn wait_function_ready(ctx: &DeployCtx, name: &str) -> anyhow::Result<()> {
    let t = &ctx.timing;
    let stack = ctx.spec.stack.clone();
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

async fn ensure_api(ctx: Arc<DeployCtx>) -> anyhow::Result<StepResult> {
    let spec = &ctx.spec;
    let name = spec.names.api.clone();
    if let Some(rec) = ctx.snapshot().await.api {
        return Ok(StepResult::new(
            Action::Unchanged,
            format!("{name} ({})", rec.id),
        ));
    }
    // CreateRestApi accepts duplicate names, so a create whose answer was lost (a crash, a
    // dropped connection) is found by name and owner tag before creating again.
    let (id, root, action) = ctx
        .call("api", || async {
            let prefetched = ctx.api_lookup.lock().ok().and_then(|mut l| l.take());
            let found = match prefetched {
                Some(found) => found,
                None => api::find_by_name(ctx.aws(), &name, &spec.stack).await?,
            };
            if let Some(ours) = found.into_iter().find(|a| a.owner == Owner::Us) {
                return Ok((ours.id, ours.root_resource_id, Action::Adopted));
            }
            let (id, root) = api::create(ctx.aws(), &name, &spec.stack).await?;
            Ok((id, root, Action::Created))
        })
        .await
        .with_context(|| format!("creating REST API {name}"))?;
    let root = match root {
        Some(r) if !r.is_empty() => r,
        _ => {
            let resources = ctx
                .call("api", || api::resources(ctx.aws(), &id))
                .await?
                .with_context(|| format!("REST API {id} vanished after it was created"))?;
            resources
                .into_iter()
                .find(|(_, path)| path == "/")
                .map(|(rid, _)| rid)
                .with_context(|| format!("REST API {id} has no root resource"))?
        }
    };
    if action == Action::Created {
        ctx.fresh_api
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
    let rec = ApiRecord {
        id: id.clone(),
        name: name.clone(),
        root_resource_id: root,
    };
    ctx.record(|s| s.api = Some(rec)).await?;
    Ok(StepResult::new(action, format!("{name} ({id})")))
}

async fn ensure_resource(ctx: Arc<DeployCtx>) -> anyhow::Result<StepResult> {
    let mut labels = Vec::new();
    let mut action = Action::Unchanged;
    // Parents first: `/user/{uid}` is made under `/user`.
    for res in stack::RESOURCES {
        let (a, label) = ensure_one_resource(&ctx, res).await?;
        labels.push(label);
        action = strongest(action, a);
    }
    let result = StepResult::new(action, labels.join(", "));
    if !ctx.prune_routes {
        return Ok(result);
    }
    let removed = remove_foreign_routes(&ctx).await?;
    Ok(if removed.is_empty() {
        result
    } else {
        result.with_detail(format!("removed {}", removed.join(", ")))
    })
}

/// Deletes the routes of the API that the stack does not have (added by hand: the next
/// deployment would publish them). Returns what was removed, to say so.
async fn remove_foreign_routes(ctx: &DeployCtx) -> anyhow::Result<Vec<String>> {
    let api_id = route_api_id(&ctx.snapshot().await)?;
    let all = ctx
        .call("resource", || {
            api::resources_with_methods(ctx.aws(), &api_id, true)
        })
        .await?
        .unwrap_or_default();
    let mut removed = Vec::new();
    for (id, path, method) in crate::ops::status::foreign_routes(&all, &ctx.spec) {
        match &method {
            Some(m) => {
                ctx.call("resource", || {
                    api::delete_method(ctx.aws(), &api_id, &id, m)
                })
                .await
                .with_context(|| format!("removing {m} {path}"))?;
                removed.push(format!("{m} {path}"));
            }
            None => {
                ctx.call("resource", || api::delete_resource(ctx.aws(), &api_id, &id))
                    .await
                    .with_context(|| format!("removing resource {path}"))?;
                removed.push(path);
            }
        }
    }
    Ok(removed)
}

/// The id of a resource: the API's root, or one recorded by this step.
fn resource_id(state: &StackState, path: &str) -> anyhow::Result<String> {
    if path == "/" {
        return Ok(state
            .api
            .as_ref()
            .context("the REST API is not recorded")?
            .root_resource_id
            .clone());
    }
    Ok(state
        .resource_at(path)
        .with_context(|| format!("the {path} resource is not recorded"))?
        .id
        .clone())
}

async fn ensure_one_resource(
    ctx: &DeployCtx,
    res: stack::ResourceSpec,
) -> anyhow::Result<(Action, String)> {
    let state = ctx.snapshot().await;
    let path = res.path.to_string();
    if let Some(rec) = state.resource_at(res.path) {
        return Ok((Action::Unchanged, format!("{} ({})", rec.path, rec.id)));
    }
    let api_rec = state
        .api
        .clone()
        .context("the REST API is not recorded; run deploy again")?;
    let parent = resource_id(&state, res.parent)?;
    // Listed again before every attempt: a create whose answer was lost is found, not made
    // twice (AWS refuses a duplicate path part; the emulator would accept it).
    // An API this run created has none of our resources yet: the first attempt need not look.
    let mut look = !ctx.fresh_api.load(std::sync::atomic::Ordering::SeqCst);
    let (api_rec, path_ref, parent) = (&api_rec, &path, &parent);
    let (id, action) = ctx
        .call("resource", || {
            let look_now = look;
            look = true;
            async move {
                if look_now {
                    let existing =
                        api::resources(ctx.aws(), &api_rec.id)
                            .await?
                            .ok_or_else(|| {
                                AwsError::local(
                                    ErrorKind::NotFound,
                                    format!(
                                        "REST API {} no longer exists; run deploy again",
                                        api_rec.id
                                    ),
                                )
                            })?;
                    if let Some((id, _)) = existing.into_iter().find(|(_, p)| p == path_ref) {
                        return Ok((id, Action::Adopted));
                    }
                }
                let id =
                    api::create_resource(ctx.aws(), &api_rec.id, parent, res.path_part).await?;
                Ok((id, Action::Created))
            }
        })
        .await
        .with_context(|| format!("creating resource {path}"))?;
    let rec = ResourceRecord {
        id: id.clone(),
        path: path.clone(),
    };
    ctx.record(|s| s.set_resource_at(res.path, Some(rec)))
        .await?;
    Ok((action, format!("{path} ({id})")))
}

/// The body model and the request validator that makes POST /user refuse a body that is not a
/// JSON object (API Gateway answers 400 before the function is invoked).
async fn ensure_request_validation(ctx: Arc<DeployCtx>) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let label = format!("{} ({})", stack::VALIDATOR_NAME, stack::USER_MODEL);
    if state.request_validator.is_some() {
        return Ok(StepResult::new(Action::Unchanged, label));
    }
    let api_id = state.api.context("the REST API is not recorded")?.id;
    let (api_id, ctx) = (&api_id, &*ctx);
    let model = ctx.call("request-validation", || {
        api::create_model(
            ctx.aws(),
            api_id,
            stack::USER_MODEL,
            stack::USER_MODEL_SCHEMA,
        )
    });
    // CreateRequestValidator accepts duplicate names: look before making one (but not on
    // the first attempt in an API this run created: it has none yet).
    let mut look = !ctx.fresh_api.load(std::sync::atomic::Ordering::SeqCst);
    let validator = ctx.call("request-validation", || {
        let look_now = look;
        look = true;
        async move {
            if look_now {
                if let Some(id) =
                    api::find_validator(ctx.aws(), api_id, stack::VALIDATOR_NAME).await?
                {
                    return Ok((id, Action::Adopted));
                }
            }
            let id = api::create_validator(ctx.aws(), api_id, stack::VALIDATOR_NAME).await?;
            Ok((id, Action::Created))
        }
    });
    let (model, validator) = tokio::join!(model, validator);
    model.context("creating the request body model")?;
    let (id, action) = validator.context("creating the request validator")?;
    let rec = ValidatorRecord {
        id,
        name: stack::VALIDATOR_NAME.to_string(),
        model: stack::USER_MODEL.to_string(),
    };
    ctx.record(|s| s.request_validator = Some(rec)).await?;
    Ok(StepResult::new(action, label))
}

/// What a step that made several resources reports: the most telling of their actions.
fn strongest(a: Action, b: Action) -> Action {
    let rank = |x: &Action| match x {
        Action::Created => 3,
        Action::Updated => 2,
        Action::Adopted => 1,
        _ => 0,
    };
    if rank(&b) > rank(&a) {
        b
    } else {
        a
    }
}

async fn ensure_method(ctx: Arc<DeployCtx>) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let label = ctx.spec.routes_label();
    let fingerprint = ctx.spec.method_fingerprint();
    if state
        .method
        .as_ref()
        .is_some_and(|m| m.fingerprint == fingerprint)
    {
        return Ok(StepResult::new(Action::Unchanged, label));
    }
    let api_id = state
        .api
        .as_ref()
        .context("the REST API is not recorded")?
        .id
        .clone();
    let validator = state.request_validator.as_ref().map(|v| v.id.as_str());
    let puts = ctx.spec.routes.iter().map(|route| {
        let (api_id, state, ctx) = (&api_id, &state, &ctx);
        async move {
            let resource_id = resource_id(state, route.path)?;
            ctx.method_locks
                .on(
                    route,
                    ctx.call("method", || {
                        api::put_method(ctx.aws(), api_id, &resource_id, route, validator)
                    }),
                )
                .await
                .with_context(|| format!("creating method {}", route.label()))
        }
    });
    futures::future::try_join_all(puts).await?;
    let action = if state.method.is_some() {
        Action::Updated
    } else {
        Action::Created
    };
    ctx.record(|s| s.method = Some(FingerprintRecord { fingerprint }))
        .await?;
    Ok(StepResult::new(action, label))
}

async fn ensure_integration(ctx: Arc<DeployCtx>) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let function_arn = state
        .function
        .as_ref()
        .context("the function is not recorded")?
        .arn
        .clone();
    let label = format!("{} -> {}", ctx.spec.routes_label(), ctx.spec.names.function);
    let fingerprint = ctx.spec.integration_fingerprint(&function_arn);
    if state
        .integration
        .as_ref()
        .is_some_and(|m| m.fingerprint == fingerprint)
    {
        return Ok(StepResult::new(Action::Unchanged, label));
    }
    let api_id = state
        .api
        .as_ref()
        .context("the REST API is not recorded")?
        .id
        .clone();
    let uri = ctx.spec.integration_uri(&function_arn);
    let puts = ctx.spec.routes.iter().map(|route| {
        let (api_id, state, ctx, uri) = (&api_id, &state, &ctx, &uri);
        async move {
            let resource_id = resource_id(state, route.path)?;
            ctx.method_locks
                .on(
                    route,
                    ctx.call("integration", || {
                        api::put_integration(ctx.aws(), api_id, &resource_id, route, uri)
                    }),
                )
                .await
                .with_context(|| format!("creating the integration of {}", route.label()))
        }
    });
    futures::future::try_join_all(puts).await?;
    let action = if state.integration.is_some() {
        Action::Updated
    } else {
        Action::Created
    };
    ctx.record(|s| s.integration = Some(FingerprintRecord { fingerprint }))
        .await?;
    Ok(StepResult::new(action, label))
}

async fn ensure_method_responses(ctx: Arc<DeployCtx>) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let api_id = route_api_id(&state)?;
    put_each_response(
        &ctx,
        &state,
        "method-responses",
        "method responses",
        ctx.spec.method_fingerprint(),
        state.method_responses.clone(),
        |resource_id, route, r| {
            let (ctx, api_id) = (&ctx, &api_id);
            async move {
                api::put_method_response(ctx.aws(), api_id, &resource_id, route.http_method, r)
                    .await
            }
        },
        |s, rec| s.method_responses = Some(rec),
    )
    .await
}

async fn ensure_integration_responses(ctx: Arc<DeployCtx>) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let api_id = route_api_id(&state)?;
    let function_arn = &state
        .function
        .as_ref()
        .context("the function is not recorded")?
        .arn;
    put_each_response(
        &ctx,
        &state,
        "integration-responses",
        "integration responses",
        ctx.spec.integration_fingerprint(function_arn),
        state.integration_responses.clone(),
        |resource_id, route, r| {
            let (ctx, api_id) = (&ctx, &api_id);
            async move {
                api::put_integration_response(ctx.aws(), api_id, &resource_id, route.http_method, r)
                    .await
            }
        },
        |s, rec| s.integration_responses = Some(rec),
    )
    .await
}

/// The REST API's id, as recorded.
fn route_api_id(state: &StackState) -> anyhow::Result<String> {
    Ok(state
        .api
        .as_ref()
        .context("the REST API is not recorded")?
        .id
        .clone())
}

/// One call per route and response status, unless the state records the same fingerprint:
/// the routes at once, each route's statuses one after another (see [`MethodLocks`]).
#[allow(clippy::too_many_arguments)]
async fn put_each_response<'a, P, Fut>(
    ctx: &'a DeployCtx,
    state: &StackState,
    step: &'static str,
    what: &str,
    fingerprint: String,
    recorded: Option<FingerprintRecord>,
    put: P,
    save: impl FnOnce(&mut StackState, FingerprintRecord),
) -> anyhow::Result<StepResult>
where
    P: Fn(String, &'a crate::stack::RouteSpec, &'a crate::stack::ResponseSpec) -> Fut,
    Fut: std::future::Future<Output = Result<(), AwsError>>,
{
    let label = ctx
        .spec
        .routes
        .iter()
        .map(|route| {
            let statuses: Vec<&str> = route.responses.iter().map(|r| r.status).collect();
            format!("{} {}", route.label(), statuses.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ");
    if recorded
        .as_ref()
        .is_some_and(|m| m.fingerprint == fingerprint)
    {
        return Ok(StepResult::new(Action::Unchanged, label));
    }
    let mut calls = Vec::new();
    for route in &ctx.spec.routes {
        let resource_id = resource_id(state, route.path)?;
        for r in &route.responses {
            let (put, resource_id) = (&put, resource_id.clone());
            calls.push(async move {
                ctx.method_locks
                    .on(route, ctx.call(step, || put(resource_id.clone(), route, r)))
                    .await
            });
        }
    }
    futures::future::try_join_all(calls)
        .await
        .with_context(|| format!("creating the {what} of {label}"))?;
    let action = if recorded.is_some() {
        Action::Updated
    } else {
        Action::Created
    };
    ctx.record(|s| save(s, FingerprintRecord { fingerprint }))
        .await?;
    Ok(StepResult::new(action, label))
}

fn permission_record(state: &StackState, sid: &str) -> Option<PermissionRecord> {
    if sid == PERMISSION_SID {
        state.permission.clone()
    } else {
        state.get_permission.clone()
    }
}

pub(crate) fn set_permission_record(
    state: &mut StackState,
    sid: &str,
    rec: Option<PermissionRecord>,
) {
    if sid == PERMISSION_SID {
        state.permission = rec
    } else {
        state.get_permission = rec
    }
}

/// One permission per route, each scoped to its method and path. Added one after the other:
/// they change the same function policy.
async fn ensure_permission(ctx: Arc<DeployCtx>) -> anyhow::Result<StepResult> {
    let mut action = Action::Unchanged;
    let mut labels = Vec::new();
    for route in &ctx.spec.routes {
        let (a, arn) = ensure_one_permission(&ctx, route).await?;
        action = strongest(action, a);
        labels.push(arn);
    }
    let result = StepResult::new(action, labels.join(", "));
    if !ctx.prune_permissions {
        return Ok(result);
    }
    // Statements someone else added let others invoke the function: one at a time, as
    // AddPermission and RemovePermission on one function must be.
    let name = ctx
        .snapshot()
        .await
        .function
        .context("the function is not recorded")?
        .name;
    let statements = ctx
        .call("permission", || {
            function::policy_statements(ctx.aws(), &name)
        })
        .await?;
    let mut removed = Vec::new();
    for sid in crate::ops::status::foreign_sids(&statements, &ctx.spec) {
        ctx.call("permission", || {
            function::remove_permission(ctx.aws(), &name, &sid)
        })
        .await
        .with_context(|| format!("removing statement {sid} from function {name}'s policy"))?;
        removed.push(format!("statement {sid}"));
    }
    Ok(if removed.is_empty() {
        result
    } else {
        result.with_detail(format!("removed {}", removed.join(", ")))
    })
}

async fn ensure_one_permission(
    ctx: &DeployCtx,
    route: &stack::RouteSpec,
) -> anyhow::Result<(Action, String)> {
    let state = ctx.snapshot().await;
    let sid = route.permission_sid;
    let function = state
        .function
        .clone()
        .context("the function is not recorded")?;
    let api_id = route_api_id(&state)?;
    let source_arn = ctx.spec.permission_source_arn(&api_id, route);
    let want = PermissionRecord {
        statement_id: sid.to_string(),
        source_arn: source_arn.clone(),
        function_arn: function.arn.clone(),
    };
    let recorded = permission_record(&state, sid);
    if recorded.as_ref() == Some(&want) {
        return Ok((Action::Unchanged, source_arn));
    }
    let name = &function.name;
    let added = ctx
        .call("permission", || {
            function::add_permission(ctx.aws(), name, sid, &source_arn)
        })
        .await;
    let action = match added {
        Ok(()) => {
            if recorded.is_some() {
                Action::Updated
            } else {
                Action::Created
            }
        }
        Err(e) if e.is(ErrorKind::AlreadyExists) => {
            // The statement id is taken: keep it if it is exactly ours, replace it otherwise.
            let current = ctx
                .call("permission", || {
                    function::permission_source_arn(ctx.aws(), name, sid)
                })
                .await?;
            if current.as_deref() == Some(source_arn.as_str()) {
                Action::Adopted
            } else {
                ctx.call("permission", || {
                    function::remove_permission(ctx.aws(), name, sid)
                })
                .await?;
                // The removal takes a moment to show: adding the statement id again before it
                // is gone is refused (Terraform waits the same way).
                let t = &ctx.timing;
                let gone = poll(t.ready_wait, t.poll_first, t.poll_max, || async {
                    let still = ctx
                        .call("permission", || {
                            function::permission_source_arn(ctx.aws(), name, sid)
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
                    function::add_permission(ctx.aws(), name, sid, &source_arn)
                })
                .await
                .context("replacing the invoke permission")?;
                Action::Updated
            }
        }
        Err(e) => {
            return Err(e).context(format!("adding the invoke permission to function {name}"))
        }
    };
    ctx.record(|s| set_permission_record(s, sid, Some(want)))
        .await?;
    Ok((action, source_arn))
}

async fn ensure_deployment(ctx: Arc<DeployCtx>) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let api_id = state.api.context("the REST API is not recorded")?.id;
    let fingerprint = stack::fingerprint(&[
        &state.method.map(|m| m.fingerprint).unwrap_or_default(),
        &state
            .method_responses
            .map(|m| m.fingerprint)
            .unwrap_or_default(),
        &state.integration.map(|m| m.fingerprint).unwrap_or_default(),
        &state
            .integration_responses
            .map(|m| m.fingerprint)
            .unwrap_or_default(),
    ]);
    if let Some(d) = &state.deployment {
        if d.fingerprint == fingerprint {
            return Ok(StepResult::new(
                Action::Unchanged,
                format!("stage {STAGE} ({})", d.id),
            ));
        }
    }
    let description = format!("serverless-cli {fingerprint}");
    let id = ctx
        .call("deployment", || {
            api::deploy(ctx.aws(), &api_id, STAGE, &description)
        })
        .await
        .with_context(|| format!("deploying REST API {api_id} to stage {STAGE}"))?;
    let action = if state.deployment.is_some() {
        Action::Updated
    } else {
        Action::Created
    };
    let rec = DeploymentRecord {
        id: id.clone(),
        stage: STAGE.to_string(),
        fingerprint,
    };
    ctx.record(|s| s.deployment = Some(rec)).await?;
    Ok(StepResult::new(action, format!("stage {STAGE} ({id})")))
}

/// How status says that a method has responses the stack does not.
pub const EXTRA_RESPONSES: &str = "not in the stack";

/// Forgets, in the state, whatever the status check found missing or drifted, together with
/// what was built on it, so that the steps make it again. Returns what will be repaired.
pub fn forget_drifted(state: &mut StackState, rows: &[crate::ops::status::Row]) -> Vec<String> {
    use crate::ops::status::Health;
    let mut repaired = Vec::new();
    for row in rows {
        if !matches!(row.status, Health::Missing | Health::Drifted) {
            continue;
        }
        let recorded = match row.resource {
            "table" => state.table.is_some(),
            "role" => state.role.is_some(),
            "role-policy" => state.role_policy.is_some(),
            "function" => state.function.is_some(),
            "api" => state.api.is_some(),
            "resource" => state.resource.is_some() || state.item_resource.is_some(),
            "method" => state.method.is_some(),
            "method-responses" => state.method_responses.is_some(),
            "integration" => state.integration.is_some(),
            "integration-responses" => state.integration_responses.is_some(),
            "stage" => state.deployment.is_some(),
            "permission" => state.permission.is_some() || state.get_permission.is_some(),
            crate::ops::status::FOREIGN_ROUTES_ROW => state.api.is_some(),
            // Put back by restore_owner_tags; nothing to forget.
            crate::ops::status::OWNER_TAGS_ROW => true,
            "log-group" => state.log_group.is_some(),
            _ => false,
        };
        if !recorded {
            continue; // never made: the steps make it anyway
        }
        repaired.push(format!(
            "{} {}{}",
            row.resource,
            row.status.as_str(),
            row.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ));
        let missing = row.status == Health::Missing;
        if row.transitional {
            // On its way to ready: wait for it, do not make it again.
            match row.resource {
                "table" => {
                    if let Some(t) = state.table.as_mut() {
                        t.ready = false;
                    }
                }
                "function" => {
                    if let Some(f) = state.function.as_mut() {
                        f.ready = false;
                    }
                }
                _ => {}
            }
            continue;
        }
        match row.resource {
            "table" if missing => state.table = None,
            "table" => {
                if let Some(t) = state.table.as_mut() {
                    t.ready = false;
                }
            }
            "role" => {
                state.role = None;
                state.role_policy = None;
            }
            "role-policy" => state.role_policy = None,
            "function" if missing => {
                state.function = None;
                state.permission = None;
                state.get_permission = None;
                state.integration = None;
                state.integration_responses = None;
            }
            "function" => {
                if let Some(f) = state.function.as_mut() {
                    f.code_sha256.clear();
                    f.config_fingerprint.clear();
                    f.ready = false;
                }
            }
            "api" => {
                state.api = None;
                state.resource = None;
                state.item_resource = None;
                state.request_validator = None;
                state.get_permission = None;
                state.method = None;
                state.method_responses = None;
                state.integration = None;
                state.integration_responses = None;
                state.deployment = None;
                state.permission = None;
            }
            "resource" => {
                state.resource = None;
                state.item_resource = None;
                state.method = None;
                state.method_responses = None;
                state.integration = None;
                state.integration_responses = None;
                state.deployment = None;
            }
            // Responses the stack does not have are removed with the method: it is made
            // again (DeleteMethod, PutMethod) with exactly the stack's responses.
            "method" | "method-responses" | "integration-responses"
                if row.resource == "method"
                    || row
                        .reason
                        .as_deref()
                        .is_some_and(|r| r.contains(EXTRA_RESPONSES)) =>
            {
                // A method that stopped validating its body: the validator may be gone too
                // (found again by name, or made again).
                state.request_validator = None;
                state.method = None;
                state.method_responses = None;
                state.integration = None;
                state.integration_responses = None;
                state.deployment = None;
            }
            "method-responses" => {
                state.method_responses = None;
                state.integration_responses = None;
                state.deployment = None;
            }
            "integration-responses" => {
                state.integration_responses = None;
                state.deployment = None;
            }
            "integration" => {
                state.integration = None;
                state.integration_responses = None;
                state.deployment = None;
            }
            "stage" => state.deployment = None,
            // The resource step removes them (DeployCtx::prune_routes); then a new deployment.
            crate::ops::status::FOREIGN_ROUTES_ROW => state.deployment = None,
            "permission" => {
                // Only the statements the check named: the others are in place.
                let reason = row.reason.as_deref().unwrap_or_default();
                for sid in [stack::PERMISSION_SID, stack::GET_PERMISSION_SID] {
                    if reason.contains(sid) {
                        set_permission_record(state, sid, None);
                    }
                }
            }
            "log-group" if missing => state.log_group = None,
            "log-group" => {
                if let Some(l) = state.log_group.as_mut() {
                    l.retention_days = 0;
                }
            }
            _ => {}
        }
    }
    repaired
}

async fn ensure_log_group(ctx: Arc<DeployCtx>) -> anyhow::Result<StepResult> {
    let spec = &ctx.spec;
    let name = spec.log_group_name();
    let days = spec.log_retention_days;
    let recorded = ctx.snapshot().await.log_group;
    if let Some(r) = &recorded {
        if r.retention_days == days {
            return Ok(StepResult::new(Action::Unchanged, name));
        }
    }
    let (arn, action) = match recorded {
        Some(r) => (r.arn, Action::Updated),
        None => match ctx
            .call("log-group", || {
                log_group::create(ctx.aws(), &name, &spec.stack)
            })
            .await
        {
            // Its ARN is known without asking: no read after the create.
            Ok(()) => (spec.log_group_arn(), Action::Created),
            Err(e) if e.is(ErrorKind::AlreadyExists) => {
                let info = ctx
                    .call("log-group", || log_group::describe(ctx.aws(), &name))
                    .await?
                    .with_context(|| format!("log group {name} exists but cannot be described"))?;
                let owner = ctx
                    .call("log-group", || {
                        log_group::owner(ctx.aws(), &info.arn, &spec.stack)
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
    };
    ctx.record(|s| s.log_group = Some(rec.clone())).await?;
    ctx.call("log-group", || {
        log_group::set_retention(ctx.aws(), &name, days)
    })
    .await
    .with_context(|| format!("setting the retention of log group {name}"))?;
    rec.retention_days = days;
    ctx.record(|s| s.log_group = Some(rec)).await?;
    Ok(StepResult::new(action, name).with_detail(format!("retention {days} days")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_a_valid_graph_with_the_documented_overlap() {
        let steps = steps();
        crate::engine::check_graph(&steps).unwrap();
        let roots: Vec<_> = steps
            .iter()
            .filter(|s| s.deps.is_empty())
            .map(|s| s.name)
            .collect();
        assert_eq!(roots, vec!["table", "role", "log-group", "api"]);
        let function = steps.iter().find(|s| s.name == "function").unwrap();
        assert_eq!(function.deps, ["role"]);
    }

    #[test]
    fn role_retries_poll_each_second_after_a_quick_start() {
        let pauses: Vec<_> = (0..5).map(role_retry_pause).collect();
        assert_eq!(pauses[0], Duration::from_millis(250));
        assert!(pauses[2..].iter().all(|p| *p == Duration::from_secs(1)));
    }
}

#[cfg(test)]
mod repair_tests {
    use super::*;
    use crate::ops::status::{Health, Row};
    use crate::stack::Names;

    fn full_state() -> StackState {
        let mut s = StackState::new("prod", "us-east-1", None, Names::defaults("prod"));
        s.api = Some(ApiRecord {
            id: "a".into(),
            name: "n".into(),
            root_resource_id: "r".into(),
        });
        s.resource = Some(ResourceRecord {
            id: "res".into(),
            path: "/user".into(),
        });
        s.method = Some(FingerprintRecord {
            fingerprint: "m".into(),
        });
        s.integration = Some(FingerprintRecord {
            fingerprint: "i".into(),
        });
        s.deployment = Some(DeploymentRecord {
            id: "d".into(),
            stage: "prod".into(),
            fingerprint: "x".into(),
        });
        s.permission = Some(PermissionRecord {
            statement_id: "s".into(),
            source_arn: "arn".into(),
            function_arn: "f".into(),
        });
        s
    }

    fn row(resource: &'static str, status: Health) -> Row {
        Row {
            resource,
            id: String::new(),
            status,
            reason: None,
            transitional: false,
        }
    }

    #[test]
    fn a_missing_api_forgets_everything_built_on_it() {
        let mut s = full_state();
        let fixed = forget_drifted(
            &mut s,
            &[row("api", Health::Missing), row("table", Health::Ok)],
        );
        assert_eq!(fixed, vec!["api missing".to_string()]);
        assert!(s.api.is_none() && s.resource.is_none() && s.method.is_none());
        assert!(s.integration.is_none() && s.deployment.is_none() && s.permission.is_none());
    }

    #[test]
    fn a_drifted_stage_only_forgets_the_deployment() {
        let mut s = full_state();
        forget_drifted(
            &mut s,
            &[
                row("stage", Health::Drifted),
                row("permission", Health::Unknown),
            ],
        );
        assert!(s.deployment.is_none());
        assert!(s.integration.is_some() && s.permission.is_some());
    }
}

/// Puts the stack's owner tag back on each recorded resource that lost it (a tag naming
/// another stack is left alone: status reports it). Returns what was tagged, to say so.
pub async fn restore_owner_tags(
    c: &crate::aws::Caller,
    state: &StackState,
) -> anyhow::Result<Vec<String>> {
    let lost = crate::ops::status::owner_tags(c, state).await;
    let mut restored = Vec::new();
    for (kind, name, owner) in lost {
        if owner != Owner::Untagged {
            continue;
        }
        let aws = &c.aws;
        let stack = &state.stack;
        let done = match kind {
            "table" => match &state.table {
                Some(t) => c.call("tags", || table::tag(aws, &t.arn, stack)).await,
                None => continue,
            },
            "role" => c.call("tags", || role::tag(aws, &name, stack)).await,
            "function" => match &state.function {
                Some(f) => c.call("tags", || function::tag(aws, &f.arn, stack)).await,
                None => continue,
            },
            "api" => {
                c.call("tags", || api::tag(aws, &state.region, &name, stack))
                    .await
            }
            "log-group" => match &state.log_group {
                Some(g) => c.call("tags", || log_group::tag(aws, &g.arn, stack)).await,
                None => continue,
            },
            _ => continue,
        };
        done.with_context(|| format!("putting the owner tag back on {kind} {name}"))?;
        restored.push(format!("{kind} {name}"));
    }
    Ok(restored)
}
