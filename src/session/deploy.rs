//! Deploy's session (plan shares it): the stack file or the built-in stack with deploy's
//! flags, checked before any AWS call; each function's code; the session opened with or
//! without the lock; and the round of reads deploy starts with.

use crate::aws::Aws;
use crate::cli::{DeployArgs, GlobalArgs};
use crate::code::CodePackage;
use crate::error::UsageError;
use crate::report::Progress;
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
            // A brought certificate's region against the run's (the file's checks cannot know
            // it): before any call.
            if let Some(d) = file.doc.domain.as_ref() {
                let target = crate::session::target(global).await?;
                let model = crate::stackfile::domain::spec(d);
                if let Some(why) = crate::stackfile::domain::region_problem(&model, &target.region)
                {
                    return Err(UsageError(format!(
                        "{}: {why}. Nothing was changed",
                        file.path.display()
                    ))
                    .into());
                }
            }
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
    let mut timing = crate::session::timing(args.role_wait, args.ready_wait);
    timing.certificate_wait = (!args.no_wait).then_some(args.certificate_wait);
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

/// What a deploy did, for the command to render.
pub struct Deployed {
    pub state: StackState,
    pub report: crate::engine::RunReport,
    /// The model came from a stack file (not the built-in stack).
    pub from_file: bool,
    pub stage: String,
    /// The model's routes, `POST /user`.
    pub route_labels: Vec<String>,
    /// Where the state is kept, in words.
    pub state_file: String,
}

impl Prepared {
    /// Deploys: takes the lock first if the run looked without it and finds something to
    /// change (or another run holding it), applies the plan, and returns once everything
    /// recorded is in the store.
    pub async fn deploy(
        mut self,
        args: &DeployArgs,
        progress: &Progress,
        stop: crate::engine::Stop,
    ) -> anyhow::Result<Deployed> {
        let progress = progress.clone();
        if !self.session.locked {
            // It looked first, expecting nothing to change: it takes the lock if another run
            // holds it, or if there is something to change after all.
            if self.session.lock_busy || self.plan(args, &progress).await.has_changes() {
                self.lock(args, &progress).await?;
            }
        }
        let state = self.state();
        let spec = self.spec(&self.aws.account, &state.names);
        let from_file = matches!(self.model, crate::session::Model::File(_));
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
        } = self;
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
        let (state, mut report) =
            crate::ops::deploy::apply(aws, spec, input, before, &progress, Some(stop)).await?;
        if let Some(err) = super::stopped(&mut report, "deploy", &session.store) {
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

        Ok(Deployed {
            state,
            report,
            from_file,
            stage,
            route_labels,
            state_file: session.store.describe(),
        })
    }
}
