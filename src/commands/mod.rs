//! Commands: check the input, take the lock, load the state, connect, hand over to `ops`.
//!
//! Every check of the user's input happens before the first AWS call, so bad input changes
//! nothing.

pub mod deploy;
pub mod iam_policy;
pub mod init;
pub mod plan;
pub mod serve;
pub mod state;
pub mod status;
pub mod teardown;
pub mod try_it;

use std::time::Duration;

use crate::aws::{self, Aws, RetryPolicy, Target};
use crate::cli::GlobalArgs;
use crate::error::UsageError;
use crate::ops::deploy::Timing;
use crate::stack;
use crate::state::{StackState, StateStore};
use crate::store::{Location, Store};

/// How long credentials may take to resolve before we say there are none.
const CREDENTIALS_LIMIT: Duration = Duration::from_secs(5);

/// What every command works from.
pub struct Session {
    pub stack: String,
    pub target: Target,
    pub store: std::sync::Arc<Store>,
    pub state: Option<StackState>,
    /// Clients made early, for a state in S3 (reused by `connect`).
    pub aws: Option<Aws>,
}

/// The state location the options name: `--state`, else `--state-dir`.
pub fn location(global: &GlobalArgs) -> Result<Location, UsageError> {
    match &global.state {
        Some(s) => Location::parse(s).map_err(UsageError),
        None => Ok(Location::Local(global.state_dir.clone())),
    }
}

/// Where the run's AWS calls go.
pub async fn target(global: &GlobalArgs) -> Result<Target, UsageError> {
    stack::validate_stack_name(&global.stack).map_err(UsageError)?;
    let endpoint = aws::resolve_endpoint(global.endpoint_url.as_deref()).map_err(UsageError)?;
    let profile = profile(global);
    let region = aws::resolve_region(global.region.as_deref(), profile.as_deref()).await;
    stack::validate_region(&region).map_err(UsageError)?;
    Ok(Target {
        region,
        endpoint,
        profile,
        profile_is_explicit: global.profile.is_some(),
    })
}

/// A stack's store at a location (for S3, with the clients it needs).
pub async fn store_at(
    location: &Location,
    stack: &str,
    target: &Target,
) -> anyhow::Result<(Store, Option<Aws>)> {
    Ok(match location {
        Location::Local(dir) => (Store::Local(StateStore::new(dir, stack)), None),
        Location::S3 { bucket, prefix } => {
            let aws = Aws::clients(target, CREDENTIALS_LIMIT).await?;
            let store = crate::store::s3::S3Store::new(aws.s3.clone(), bucket, prefix, stack);
            (Store::S3(store), Some(aws))
        }
    })
}

/// Validates the global options, takes the lock (when `command` changes things, waiting up to
/// --lock-timeout) and loads the state. No AWS call for a state in a folder.
pub async fn open(global: &GlobalArgs, command: Option<&str>) -> anyhow::Result<Session> {
    let target = target(global).await?;
    let location = location(global)?;
    let (store, aws) = store_at(&location, &global.stack, &target).await?;
    if let Some(c) = command {
        // The bucket's versioning is read while the lock is taken: no extra round trip.
        let versioning = async {
            match &store {
                Store::S3(s) => s.versioning_on().await,
                Store::Local(_) => None,
            }
        };
        let (held, versioning) = tokio::join!(store.lock(c, global.lock_timeout), versioning);
        let held = held?;
        if let (Store::S3(s), Some(false)) = (&store, versioning) {
            eprintln!(
                "warning: bucket {} keeps no versions: a bad write of the state cannot be undone; turn versioning on (`serverless-cli state init s3://{}` does)",
                s.bucket, s.bucket
            );
        }
        crate::store::lock::keep(held);
    }
    let state = store.load().await?;
    if let Some(s) = &state {
        s.check_target(&target.region, target.endpoint.as_deref())?;
    }
    Ok(Session {
        stack: global.stack.clone(),
        target,
        store: std::sync::Arc::new(store),
        state,
        aws,
    })
}

/// The profile: `--profile`, else AWS_PROFILE.
pub fn profile(global: &GlobalArgs) -> Option<String> {
    global
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
}

/// Connects and checks that the state belongs to this account.
pub async fn connect(session: &Session) -> anyhow::Result<Aws> {
    let (aws, ()) = connect_with(session, |_| async {}).await?;
    Ok(aws)
}

/// Connects and runs `reads` at the same time as the identity call: one round of calls
/// instead of two. `reads` gets clients whose `account` is the state's (empty when the state
/// has none); the account is checked against the state once the identity call answers.
pub async fn connect_with<T, F, Fut>(session: &Session, reads: F) -> anyhow::Result<(Aws, T)>
where
    F: FnOnce(Aws) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut aws = match &session.aws {
        Some(a) => a.clone(),
        None => Aws::clients(&session.target, CREDENTIALS_LIMIT).await?,
    };
    aws.account = session
        .state
        .as_ref()
        .and_then(|s| s.account.clone())
        .unwrap_or_default();
    let (who, found) = tokio::join!(aws.whoami(), reads(aws.clone()));
    let who = who?;
    if let Some(s) = &session.state {
        s.check_account(&who)?;
    }
    aws.account = who;
    Ok((aws, found))
}

/// Time limits; `SERVERLESS_CLI_RETRY_SCALE` (a factor, for tests) shortens the retry backoff.
pub fn timing(role_wait: Duration, ready_wait: Duration) -> Timing {
    let scale = aws::retry_scale();
    let base = RetryPolicy::default();
    Timing {
        role_wait,
        ready_wait,
        retry: RetryPolicy {
            max_elapsed: base.max_elapsed,
            base: base.base.mul_f64(scale),
            max_backoff: base.max_backoff.mul_f64(scale),
            retry_after_scale: scale,
        },
        poll_first: Duration::from_millis(50),
        poll_max: Duration::from_secs(2),
    }
}

/// After a first Ctrl-C, how long the calls in flight may take before they are abandoned.
const INTERRUPT_GRACE: Duration = Duration::from_secs(10);

pub fn stop(interrupts: crate::signal::Interrupts) -> crate::engine::Stop {
    crate::engine::Stop {
        interrupts,
        grace: INTERRUPT_GRACE,
    }
}

/// An interrupted or failed run as the error to report: where it stopped, that the state
/// holds everything made so far, and how to go on. `None` when the run completed.
pub fn stopped(
    report: &mut crate::engine::RunReport,
    command: &str,
    store: &Store,
) -> Option<anyhow::Error> {
    let path = store.describe();
    if report.interrupted {
        return Some(anyhow::Error::new(crate::signal::Interrupted).context(format!(
            "{command} interrupted; everything done so far is recorded in {path}, run {command} again to resume"
        )));
    }
    let (step, err) = report.error.take()?;
    let skipped = if report.skipped.is_empty() {
        String::new()
    } else {
        format!(" (not started: {})", report.skipped.join(", "))
    };
    Some(err.context(format!(
        "{command} stopped at step {step}{skipped}; everything done so far is recorded in {path}, run {command} again to finish"
    )))
}

/// Where the stack's model comes from: the built-in tutorial stack (deploy's flags), or a
/// stack file.
pub enum Model {
    Tutorial(crate::stack::Tutorial),
    File(Box<crate::stackfile::StackFile>),
}

/// The run's stack file, read and checked (no AWS call); `None`: the built-in stack.
pub fn stack_file(
    global: &GlobalArgs,
) -> Result<Option<crate::stackfile::StackFile>, crate::error::UsageError> {
    crate::stack::validate_stack_name(&global.stack).map_err(crate::error::UsageError)?;
    crate::stackfile::StackFile::find(global.file.as_deref(), &global.stack)
}

impl Model {
    /// The model, for this stack, region and account. `names`: the names a state records
    /// (the built-in stack keeps them; a stack file names its own).
    pub fn spec(
        &self,
        stack: &str,
        region: &str,
        account: &str,
        names: &crate::stack::Names,
    ) -> crate::stack::StackSpec {
        match self {
            Model::Tutorial(t) => {
                crate::stack::StackSpec::tutorial(stack, region, account, names, t.clone())
            }
            Model::File(f) => f.spec(stack, region, account),
        }
    }
}

/// The stack as status and teardown see it: the stack file's model (else the built-in stack as
/// the state records it was deployed), plus whatever else the state records.
pub fn recorded_spec(
    file: Option<&crate::stackfile::StackFile>,
    state: &StackState,
    account: &str,
) -> crate::stack::StackSpec {
    match file {
        Some(f) => f.spec(&state.stack, &state.region, account),
        None => crate::stack::StackSpec::from_state(state, account),
    }
    .cover_state(state)
}
