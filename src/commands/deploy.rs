//! `serverless-cli deploy`.

use std::time::Instant;

use serde_json::json;

use crate::aws::Aws;
use crate::cli::{DeployArgs, GlobalArgs};
use crate::code::CodePackage;
use crate::engine::{self, Action};
use crate::error::UsageError;
use crate::kinds::graph::key;
use crate::kinds::rest_api::ApiRecord;
use crate::report::{self, Progress};
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
    let made = |kinds: &[&str]| {
        state
            .resources
            .values()
            .any(|r| kinds.contains(&r.kind.as_str()))
    };
    let made_table = made(&["table"]);
    let made_role = made(&["role", "role-policy"]);
    let made_function = made(&["function", "log-group", "permission"]);
    let made_api = made(&["rest-api"]);
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

/// What deploy and plan share: the checked options, the session, and the round of reads.
pub struct Prepared {
    pub session: crate::session::Session,
    pub names: Names,
    pub model: crate::session::Model,
    pub codes: crate::code::Codes,
    pub renamed: bool,
    pub timing: crate::kinds::context::Timing,
    pub aws: Aws,
    pub before: crate::kinds::context::Before,
    /// What this deploy is asked to make, as one digest (see `Locking::UnlessUnchanged`).
    pub digest: String,
}

/// Deploy's flags that shape the built-in stack; a stack file says all of that itself.
fn refuse_builtin_flags(args: &DeployArgs, file: &std::path::Path) -> Result<(), UsageError> {
    let given = [
        ("--billing", args.billing.is_some(), "tables.<name>.billing"),
        (
            "--runtime",
            args.runtime.is_some(),
            "functions.<name>.runtime",
        ),
        (
            "--log-retention-days",
            args.log_retention_days.is_some(),
            "functions.<name>.log_retention_days",
        ),
        ("--code", args.code.is_some(), "functions.<name>.code"),
        (
            "--table-name",
            args.table_name.is_some(),
            "tables.<name>.name",
        ),
        (
            "--function-name",
            args.function_name.is_some(),
            "functions.<name>.name",
        ),
        (
            "--role-name",
            args.role_name.is_some(),
            "functions.<name>.role_name",
        ),
        ("--api-name", args.api_name.is_some(), "api.name"),
        (
            "--managed-policies",
            args.managed_policies,
            "functions.<name>.tables (least privilege)",
        ),
    ];
    match given.iter().find(|(_, set, _)| *set) {
        Some((flag, _, entry)) => Err(UsageError(format!(
            "{flag} shapes the built-in stack; this run reads the stack file {}, so set it there ({entry}), or drop the flag",
            file.display()
        ))),
        None => Ok(()),
    }
}

/// The built-in stack's options, from deploy's flags.
pub fn tutorial_of(args: &DeployArgs) -> stack::Tutorial {
    let d = stack::Tutorial::default();
    stack::Tutorial {
        billing: args.billing.unwrap_or(d.billing),
        policy_mode: if args.managed_policies {
            PolicyMode::Managed
        } else {
            PolicyMode::LeastPrivilege
        },
        runtime: args.runtime.clone().unwrap_or(d.runtime),
        log_retention_days: args.log_retention_days.unwrap_or(d.log_retention_days),
        memory_mb: stack::FUNCTION_MEMORY_MB,
        timeout_secs: stack::FUNCTION_TIMEOUT_SECS,
    }
}

impl Prepared {
    /// The model deploy builds.
    pub fn spec(&self, account: &str, names: &Names) -> StackSpec {
        self.model.spec(
            &self.session.stack,
            &self.session.target.region,
            account,
            names,
        )
    }

    /// The SHA-256 of each function's code.
    pub fn code_shas(&self) -> crate::kinds::CodeShas {
        self.codes
            .iter()
            .map(|(f, c)| (f.clone(), c.sha256.clone()))
            .collect()
    }
}

/// Checks every option (no AWS call before that), opens the session (`lock`: deploy takes the
/// stack's lock, plan does not), and makes the round of reads that deploy starts with.
pub async fn prepare(
    global: &GlobalArgs,
    args: &DeployArgs,
    lock: Option<&str>,
    progress: &Progress,
) -> anyhow::Result<Prepared> {
    stack::validate_stack_name(&global.stack).map_err(UsageError)?;
    let (model, names, codes) = match crate::session::stack_file(global)? {
        Some(file) => {
            refuse_builtin_flags(args, &file.path)?;
            let names = file.names(&global.stack);
            // This machine's record of the folders it zipped, beside the journal.
            let mut cache = crate::code::HashCache::open(&crate::session::journal_dir());
            let codes = file.codes(&crate::session::never_packed(global), &mut cache)?;
            cache.save();
            (crate::session::Model::File(Box::new(file)), names, codes)
        }
        None => {
            let names = wanted_names(global, args)?;
            let t = tutorial_of(args);
            stack::validate_runtime(&t.runtime).map_err(UsageError)?;
            if !crate::resources::log_group::RETENTION_DAYS.contains(&t.log_retention_days) {
                return Err(UsageError(format!(
                    "--log-retention-days {} is not a retention CloudWatch Logs accepts; use one of {:?}",
                    t.log_retention_days,
                    crate::resources::log_group::RETENTION_DAYS
                ))
                .into());
            }
            let code = match &args.code {
                Some(p) => CodePackage::load(p).map_err(UsageError)?,
                None => CodePackage::embedded(),
            };
            let codes: crate::code::Codes = [(stack::TUTORIAL_FUNCTION.to_string(), code)]
                .into_iter()
                .collect();
            (crate::session::Model::Tutorial(t), names, codes)
        }
    };

    let digest = crate::store::journal::digest(&[
        &format!("{model:?}"),
        &format!("{names:?}"),
        &format!(
            "{:?}",
            codes
                .iter()
                .map(|(f, c)| (f, &c.sha256))
                .collect::<Vec<_>>()
        ),
        &format!("{args:?}"),
    ]);
    let locking = match lock {
        Some(c) => crate::session::Locking::UnlessUnchanged(c, &digest),
        None => crate::session::Locking::No,
    };
    let mut session = crate::session::open_with(global, locking).await?;
    // The identity the session settled on (a stack an earlier release deployed from this file
    // keeps its names) decides the file's default names.
    let (model, names) = match model {
        crate::session::Model::File(mut file) if file.project != session.project => {
            file.project = session.project.clone();
            let names = file.names(&global.stack);
            (crate::session::Model::File(file), names)
        }
        other => (other, names),
    };
    let timing = crate::session::timing(args.role_wait, args.ready_wait);
    let (aws, before, renamed) =
        read_round(&mut session, &model, &names, &timing, args, progress).await?;
    Ok(Prepared {
        session,
        names,
        model,
        codes,
        renamed,
        timing,
        aws,
        before,
        digest,
    })
}

/// The round of reads deploy starts with (it overlaps the identity call, and the read that
/// confirms a state in S3), and whether the flags rename anything.
async fn read_round(
    session: &mut crate::session::Session,
    model: &crate::session::Model,
    names: &Names,
    timing: &crate::kinds::context::Timing,
    args: &DeployArgs,
    progress: &Progress,
) -> anyhow::Result<(Aws, crate::kinds::context::Before, bool)> {
    // A name the flags change is checked before any AWS call (and again on the state as
    // confirmed, should it differ).
    let mut renamed = match session.state.as_mut() {
        Some(s) => apply_name_changes(args, s)?,
        None => false,
    };
    let stack = session.stack.clone();
    let owner = stack::owner_id(session.project.as_deref(), &stack);
    let region = session.target.region.clone();
    let (aws, before) = crate::session::connect_with(session, |aws: Aws, mut state| {
        if let Some(s) = state.as_mut() {
            // The state as confirmed, renamed as above (a refusal was said already).
            let _ = apply_name_changes(args, s);
        }
        let (stack, region, owner) = (stack.clone(), region.clone(), owner.clone());
        async move {
            // The REST API a first deploy guards against making twice.
            let api_name = match (model, state.as_ref()) {
                (crate::session::Model::File(_), _) | (_, None) => names.api.clone(),
                (_, Some(s)) => s.names.api.clone(),
            };
            crate::ops::deploy::read_before(
                aws,
                state.as_ref(),
                |account, state| model.spec(&stack, &region, account, &state.names),
                &api_name,
                &owner,
                timing,
                progress,
            )
            .await
        }
    })
    .await?;
    if let Some(s) = session.state.as_mut() {
        renamed |= apply_name_changes(args, s)?;
    }
    Ok((aws, before, renamed))
}

impl Prepared {
    /// What deploy would change now (`plan`'s reckoning).
    pub async fn plan(&self, args: &DeployArgs, progress: &Progress) -> crate::ops::plan::Plan {
        let state = self.state();
        let spec = self.spec(&self.aws.account, &state.names);
        let caller = crate::aws::Caller {
            aws: self.aws.clone(),
            policy: self.timing.retry,
            progress: progress.clone(),
        };
        crate::ops::plan::compute(
            &caller,
            &spec,
            &state,
            &self.before,
            &self.code_shas(),
            args.allow_data_loss,
        )
        .await
    }

    /// Makes sure the run holds the stack's lock before it changes anything: a deploy that
    /// looked first (it expected nothing to change, and found otherwise) takes it now, and
    /// reads again should the state have changed meanwhile.
    pub async fn lock(&mut self, args: &DeployArgs, progress: &Progress) -> anyhow::Result<()> {
        if self.session.locked {
            return Ok(());
        }
        self.session.lock("deploy").await?;
        let (aws, before, renamed) = read_round(
            &mut self.session,
            &self.model,
            &self.names,
            &self.timing,
            args,
            progress,
        )
        .await?;
        self.aws = aws;
        self.before = before;
        self.renamed = renamed;
        Ok(())
    }
}

impl Prepared {
    /// The state deploy starts from (a new one for a first deploy), with the account.
    pub fn state(&self) -> StackState {
        let session = &self.session;
        let mut state = session.state.clone().unwrap_or_else(|| {
            let mut s = StackState::new(
                &session.stack,
                &session.target.region,
                session.target.endpoint.as_deref(),
                self.names.clone(),
            );
            s.project = session.project.clone();
            s
        });
        state.account = Some(self.aws.account.clone());
        state
    }
}

pub async fn run(
    global: &GlobalArgs,
    args: &DeployArgs,
    interrupts: crate::signal::Interrupts,
) -> anyhow::Result<i32> {
    let started = Instant::now();
    let progress = Progress::for_stderr();
    let mut prepared = prepare(global, args, Some("deploy"), &progress).await?;
    if !prepared.session.locked {
        // It looked first, expecting nothing to change: it takes the lock if another run
        // holds it, or if there is something to change after all.
        if prepared.session.lock_busy || prepared.plan(args, &progress).await.has_changes() {
            prepared.lock(args, &progress).await?;
        }
    }
    let state = prepared.state();
    let spec = prepared.spec(&prepared.aws.account, &state.names);
    let from_file = matches!(prepared.model, crate::session::Model::File(_));
    let stage = spec.api.stage.clone();
    let route_labels: Vec<String> = spec.routes.iter().map(|r| r.label()).collect();
    let Prepared {
        session,
        codes,
        renamed,
        timing,
        aws,
        before,
        digest,
        ..
    } = prepared;
    let existed = session.state.is_some();
    let save_first = session.state.as_ref().is_none_or(|s| s.account.is_none()) || renamed;
    let input = crate::ops::deploy::DeployInput {
        store: session.store.clone(),
        state,
        existed,
        save_first,
        codes,
        allow_data_loss: args.allow_data_loss,
        timing,
    };
    let (state, mut report) = crate::ops::deploy::apply(
        aws,
        spec,
        input,
        before,
        &progress,
        Some(crate::session::stop(interrupts)),
    )
    .await?;
    if let Some(err) = crate::session::stopped(&mut report, "deploy", &session.store) {
        return Err(err);
    }
    if let crate::store::Store::S3(s) = &*session.store {
        // Kept in this machine's copy with the state.
        s.set_deployed(&digest).await;
    }
    // Everything recorded is in the store before the deploy says it is done.
    session.store.flush().await.map_err(|e| {
        let kept =
            "this machine's journal keeps them, and the next deploy from this folder sends them";
        match e.downcast_ref::<crate::state::StateError>() {
            Some(crate::state::StateError::Lost(_)) => e,
            _ => e.context(format!(
                "deploy made its changes but could not record them in {}; {kept}",
                session.store.describe()
            )),
        }
    })?;

    let api_id = state
        .get::<ApiRecord>(key::REST_API)
        .map(|a| a.id)
        .unwrap_or_default();
    // The tutorial's route and its curl line; a stack file's stage URL (its routes are its
    // own: no curl line is guessed for them).
    let url = if from_file {
        stack::stage_url(&api_id, &state.region, &stage)
    } else {
        stack::invoke_url(&api_id, &state.region)
    };
    let curl = (!from_file).then(|| stack::curl_line(&url));
    let steps = engine::by_group(&report.outcomes);
    let changed: Vec<_> = steps
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
    let text = if from_file {
        let base = stack::stage_url(&api_id, &state.region, &stage);
        format!(
            "{summary}\nStage URL: {base}\n  {}\nCheck it end to end (the stack file's [[try]] requests):\n  {}\n",
            route_labels.join("\n  "),
            if state.endpoint.is_some() {
                format!("serverless-cli serve, then serverless-cli try --url http://127.0.0.1:3000/{stage}")
            } else {
                "serverless-cli try".to_string()
            }
        )
    } else {
        format!(
            "{summary}\nInvoke URL: {url} (and GET {url}/{{uid}})\nTry it:\n  {}\nCheck it end to end:\n  {check}\n",
            curl.as_deref().unwrap_or_default()
        )
    };
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
        "steps": steps,
        "changes": report.outcomes,
        "resources": crate::kinds::records_json(&state),
        "state_file": session.store.describe(),
    });
    report::emit(global.output, &doc, &text);
    Ok(0)
}
