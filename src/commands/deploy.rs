//! `serverless-cli deploy`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;

use crate::aws::{Aws, Caller};
use crate::cli::{DeployArgs, GlobalArgs};
use crate::code::CodePackage;
use crate::engine::{self, Action};
use crate::error::UsageError;
use crate::ops::deploy::{forget_drifted, steps, DeployCtx};
use crate::ops::Run;
use crate::report::{self, Progress};
use crate::resources::api;
use crate::stack::{self, Names, PolicyMode, StackSpec};
use crate::state::StackState;

/// Checks every flag before anything else happens.
fn wanted_names(global: &GlobalArgs, args: &DeployArgs) -> Result<Names, UsageError> {
    let d = Names::defaults(&global.stack);
    let names = Names {
        table: args.table_name.clone().unwrap_or(d.table),
        role: args.role_name.clone().unwrap_or(d.role),
        function: args.function_name.clone().unwrap_or(d.function),
        api: args.api_name.clone().unwrap_or(d.api),
    };
    names.validate().map_err(UsageError)?;
    Ok(names)
}

/// A name given on the command line must match the one the stack was deployed with, unless
/// nothing was ever made under the recorded one (a deploy stopped by a name taken by another
/// stack, say): then the new name replaces it, so the advice "choose another name" works when
/// followed. Returns whether a name changed.
fn apply_name_changes(args: &DeployArgs, state: &mut StackState) -> Result<bool, UsageError> {
    let made_table = state.table.is_some();
    let made_role = state.role.is_some() || state.role_policy.is_some();
    let made_function =
        state.function.is_some() || state.log_group.is_some() || state.permission.is_some();
    let made_api = state.api.is_some();
    let stack = state.stack.clone();
    let names = &mut state.names;
    let pairs = [
        (
            "--table-name",
            &args.table_name,
            &mut names.table,
            made_table,
        ),
        ("--role-name", &args.role_name, &mut names.role, made_role),
        (
            "--function-name",
            &args.function_name,
            &mut names.function,
            made_function,
        ),
        ("--api-name", &args.api_name, &mut names.api, made_api),
    ];
    let mut changed = false;
    for (flag, given, recorded, made) in pairs {
        let Some(g) = given else { continue };
        if g == recorded {
            continue;
        }
        if made {
            return Err(UsageError(format!(
                "stack '{stack}' was deployed with {flag} {recorded}; a name cannot change in place. Tear the stack down first, or deploy under another --stack"
            )));
        }
        *recorded = g.clone();
        changed = true;
    }
    Ok(changed)
}

pub async fn run(
    global: &GlobalArgs,
    args: &DeployArgs,
    interrupts: crate::signal::Interrupts,
) -> anyhow::Result<i32> {
    let started = Instant::now();
    stack::validate_stack_name(&global.stack).map_err(UsageError)?;
    let names = wanted_names(global, args)?;
    stack::validate_runtime(&args.runtime).map_err(UsageError)?;
    if !crate::resources::log_group::RETENTION_DAYS.contains(&args.log_retention_days) {
        return Err(UsageError(format!(
            "--log-retention-days {} is not a retention CloudWatch Logs accepts; use one of {:?}",
            args.log_retention_days,
            crate::resources::log_group::RETENTION_DAYS
        ))
        .into());
    }
    let code = match &args.code {
        Some(p) => CodePackage::load(p).map_err(UsageError)?,
        None => CodePackage::embedded(),
    };

    let mut session = super::open(global, Some("deploy")).await?;
    let renamed = match session.state.as_mut() {
        Some(s) => apply_name_changes(args, s)?,
        None => false,
    };
    let progress = Progress::for_stderr();
    let timing = super::timing(args.role_wait, args.ready_wait);
    let spec_for = |account: &str, names: &Names| StackSpec {
        stack: session.stack.clone(),
        region: session.target.region.clone(),
        account: account.to_string(),
        names: names.clone(),
        billing: args.billing,
        policy_mode: if args.managed_policies {
            PolicyMode::Managed
        } else {
            PolicyMode::LeastPrivilege
        },
        runtime: args.runtime.clone(),
        log_retention_days: args.log_retention_days,
        routes: stack::routes(),
    };

    // One round of concurrent reads, overlapping the identity call: on an existing stack, the
    // status checks that find what was deleted or changed behind our back (the steps below
    // make it right); while no REST API is recorded, the lookup that keeps a lost one from
    // being made twice.
    let known = session.state.as_ref().filter(|s| s.account.is_some());
    let need_lookup = session.state.as_ref().is_none_or(|s| s.api.is_none());
    let api_name = session
        .state
        .as_ref()
        .map_or_else(|| names.api.clone(), |s| s.names.api.clone());
    let (stack_name, progress_ref, spec_for_ref) = (&session.stack, &progress, &spec_for);
    let (aws, (rows, api_lookup)) = super::connect_with(&session, |aws: Aws| async move {
        let checks = async {
            match known {
                Some(state) => {
                    let spec = spec_for_ref(&aws.account, &state.names);
                    let caller = Caller {
                        aws: aws.clone(),
                        policy: timing.retry,
                        progress: progress_ref.clone(),
                    };
                    Some(crate::ops::status::check(&caller, &spec, state).await)
                }
                None => None,
            }
        };
        let lookup = async {
            if need_lookup {
                api::find_by_name(&aws, &api_name, stack_name).await.ok()
            } else {
                None
            }
        };
        tokio::join!(checks, lookup)
    })
    .await?;

    let mut state = session.state.clone().unwrap_or_else(|| {
        StackState::new(
            &session.stack,
            &session.target.region,
            session.target.endpoint.as_deref(),
            names,
        )
    });
    if state.account.is_none() || session.state.is_none() || renamed {
        state.account = Some(aws.account.clone());
        // Recorded before the first create: a crash from here on leaves names to find.
        session
            .store
            .save(&state)
            .context("saving the state file")?;
    }
    let spec = spec_for(&aws.account, &state.names);
    // (A state without an account, which only a hand edit makes, gets no repair round; its
    // steps still run from what it records.)
    let prune_routes = rows.as_ref().is_some_and(|rows| {
        rows.iter().any(|r| {
            r.resource == crate::ops::status::FOREIGN_ROUTES_ROW
                && r.status == crate::ops::status::Health::Drifted
        })
    });
    let prune_permissions = rows.as_ref().is_some_and(|rows| {
        rows.iter().any(|r| {
            r.resource == "permission"
                && r.reason
                    .as_deref()
                    .is_some_and(|why| why.contains(crate::ops::status::FOREIGN_STATEMENTS))
        })
    });
    let lost_tags = rows.as_ref().is_some_and(|rows| {
        rows.iter().any(|r| {
            r.resource == crate::ops::status::OWNER_TAGS_ROW
                && r.status == crate::ops::status::Health::Drifted
        })
    });
    if lost_tags {
        let caller = Caller {
            aws: aws.clone(),
            policy: timing.retry,
            progress: progress.clone(),
        };
        let restored = crate::ops::deploy::restore_owner_tags(&caller, &state).await?;
        if !restored.is_empty() {
            progress.line(&format!(
                "Put the owner tag {}={} back on {}",
                crate::stack::OWNER_TAG,
                state.stack,
                restored.join(", ")
            ));
        }
    }
    if let Some(rows) = rows {
        let repairs = forget_drifted(&mut state, &rows);
        if !repairs.is_empty() {
            progress.line(&format!("Repairing: {}", repairs.join("; ")));
            session
                .store
                .save(&state)
                .context("saving the state file")?;
        }
    }
    progress.line(&format!(
        "Deploying stack '{}' ({}, code sha256 {}) to {}{}",
        spec.stack,
        code.origin,
        code.sha256,
        spec.region,
        session
            .target
            .endpoint
            .as_deref()
            .map(|e| format!(" via {e}"))
            .unwrap_or_default()
    ));
    let ctx = Arc::new(DeployCtx {
        run: Run {
            aws,
            store: session.store.clone(),
            state: tokio::sync::Mutex::new(state),
            progress: progress.clone(),
            timing,
        },
        spec,
        code,
        api_lookup: std::sync::Mutex::new(api_lookup),
        fresh_api: std::sync::atomic::AtomicBool::new(false),
        method_locks: Default::default(),
        fresh_role: std::sync::atomic::AtomicBool::new(false),
        prune_routes,
        prune_permissions,
    });
    let mut report = engine::run(
        ctx.clone(),
        steps(),
        &progress,
        Some(super::stop(interrupts)),
        engine::OnFailure::StopStarting,
    )
    .await;
    if let Some(err) = super::stopped(&mut report, "deploy", &session.store) {
        return Err(err);
    }

    let state = ctx.state.lock().await.clone();
    let api_id = state.api.as_ref().map(|a| a.id.clone()).unwrap_or_default();
    let url = stack::invoke_url(&api_id, &state.region);
    let curl = stack::curl_line(&url);
    let changed: Vec<_> = report
        .outcomes
        .iter()
        .filter(|o| o.action != Action::Unchanged)
        .collect();
    let seconds = started.elapsed().as_secs_f64();
    let summary = if changed.is_empty() {
        format!(
            "Stack '{}' is up to date: nothing was created or updated.",
            state.stack
        )
    } else {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for o in &changed {
            let word = format!("{:?}", o.action).to_lowercase();
            match counts.iter_mut().find(|(w, _)| *w == word) {
                Some((_, n)) => *n += 1,
                None => counts.push((word, 1)),
            }
        }
        let parts: Vec<_> = counts.iter().map(|(w, n)| format!("{n} {w}")).collect();
        format!(
            "Stack '{}' deployed in {seconds:.1} s: {}.",
            state.stack,
            parts.join(", ")
        )
    };
    let check = if state.endpoint.is_some() {
        // An emulator stores the API but does not serve its URL.
        "serverless-cli serve, then serverless-cli try --url http://127.0.0.1:3000/prod"
    } else {
        "serverless-cli try"
    };
    let text = format!(
        "{summary}\nInvoke URL: {url} (and GET {url}/{{uid}})\nTry it:\n  {curl}\nCheck it end to end:\n  {check}\n"
    );
    let doc = json!({
        "command": "deploy",
        "ok": true,
        "stack": state.stack,
        "region": state.region,
        "account": state.account,
        "endpoint": state.endpoint,
        "changed": !changed.is_empty(),
        "url": url,
        "curl": curl,
        "seconds": seconds,
        "steps": report.outcomes,
        "resources": resources_json(&state),
        "state_file": session.store.path(),
    });
    report::emit(global.output, &doc, &text);
    Ok(0)
}

/// The IDs of the stack, for JSON output.
pub fn resources_json(state: &StackState) -> serde_json::Value {
    let resources: Vec<_> = [&state.resource, &state.item_resource]
        .into_iter()
        .flatten()
        .map(|r| json!({"id": r.id, "path": r.path}))
        .collect();
    let permissions: Vec<_> = [&state.permission, &state.get_permission]
        .into_iter()
        .flatten()
        .map(|p| json!({"statement_id": p.statement_id, "source_arn": p.source_arn}))
        .collect();
    json!({
        "table": state.table.as_ref().map(|t| json!({"name": t.name, "arn": t.arn})),
        "role": state.role.as_ref().map(|r| json!({"name": r.name, "arn": r.arn})),
        "function": state.function.as_ref().map(|f| json!({"name": f.name, "arn": f.arn, "code_sha256": f.code_sha256})),
        "api": state.api.as_ref().map(|a| json!({"id": a.id, "name": a.name})),
        "resources": resources,
        "request_validator": state.request_validator.as_ref().map(|v| json!({"id": v.id, "name": v.name, "model": v.model})),
        "deployment": state.deployment.as_ref().map(|d| json!({"id": d.id, "stage": d.stage})),
        "permissions": permissions,
        "log_group": state.log_group.as_ref().map(|l| json!({"name": l.name, "retention_days": l.retention_days})),
    })
}
