//! A run's session: where the state lives, the stack's identity (its project), the lock,
//! the state read under it, and the clients; the policy every command shares. Commands build
//! one from the global options, then hand over to `ops`. Prints nothing but warnings.

pub mod deploy;
pub mod teardown;

use std::time::Duration;

use crate::aws::{self, Aws, RetryPolicy, Target};
use crate::cli::GlobalArgs;
use crate::error::UsageError;
use crate::kinds::context::Timing;
use crate::stack;
use crate::state::{StackState, StateStore};
use crate::store::{Location, Store};

/// How long credentials may take to resolve before we say there are none.
const CREDENTIALS_LIMIT: Duration = Duration::from_secs(5);

/// What every command works from.
pub struct Session {
    pub stack: String,
    /// The project the stack belongs to: the stack file's (`name`, or its folder's), or `None`
    /// for the built-in stack and for a state an earlier release wrote, which keep their
    /// identity. With `stack`, the stack's identity: its owner tags and its state's key.
    pub project: Option<String>,
    pub target: Target,
    pub store: std::sync::Arc<Store>,
    /// The state. Until `pending` is settled (`connect_with`, `settle`), a state in S3 may be
    /// this machine's copy, or one read before the lock was surely this run's.
    pub state: Option<StackState>,
    /// Clients made early, for a state in S3 (reused by `connect`).
    pub aws: Option<Aws>,
    /// The read of S3 that confirms `state`, run beside the first round of AWS reads.
    pending: Option<Pending>,
    /// This run holds the stack's lock.
    pub locked: bool,
    /// Another run held the stack's lock when this one (which did not take it) looked.
    pub lock_busy: bool,
    lock_timeout: Duration,
    /// The identity call, made in the lock's round trip (a state in S3).
    who: Option<Result<String, aws::AwsError>>,
}

/// The confirmed state, and whether another run holds the stack's lock.
type Pending = std::pin::Pin<
    Box<dyn std::future::Future<Output = anyhow::Result<(Option<StackState>, bool)>> + Send>,
>;

/// When a command takes the stack's lock.
#[derive(Clone, Copy)]
pub enum Locking<'a> {
    /// Never: it only reads.
    No,
    /// Before anything else.
    Now(&'a str),
    /// Now, unless the last deploy from this machine had these inputs (the digest) and S3
    /// still holds what it left: then the run looks first, and takes the lock only if it
    /// finds something to change (a state in S3; a folder's lock costs nothing).
    UnlessUnchanged(&'a str, &'a str),
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

/// The identity a run works under. A stack file's project is `wanted`; but a stack that an
/// earlier release deployed (its state under the bare stack name, with no project in it) keeps
/// that identity, names and owner tags, until it is torn down: nothing is renamed or replaced
/// by upgrading. The state under the project's own key wins when both exist.
async fn identity(
    location: &Location,
    wanted: Option<String>,
    stack: &str,
    target: &Target,
    aws: Option<&Aws>,
) -> anyhow::Result<Option<String>> {
    let Some(project) = wanted else {
        return Ok(None);
    };
    let (Location::S3 { bucket, prefix }, Some(aws)) = (location, aws) else {
        return match location {
            Location::Local(dir) => local_identity(dir, Some(project), stack),
            Location::S3 { .. } => Ok(Some(project)),
        };
    };
    let store = |name: &str| s3_store(aws, bucket, prefix, name, target, &journal_dir());
    let mine = store(&stack::state_name(Some(&project), stack));
    // This machine's journal knows the project's own key: no look needed.
    if matches!(mine.cached(), Some(Some(_))) {
        return Ok(Some(project));
    }
    let old = store(stack);
    let (mine, old) = tokio::join!(mine.load(), old.load());
    Ok(match (mine?, old?) {
        (None, Some(s)) if s.project.is_none() => None,
        _ => Some(project),
    })
}

/// The stack's identity and state for a command that only reads them (no lock, and no region
/// or account check for a state in a folder: nothing is called).
pub async fn peek(global: &GlobalArgs) -> anyhow::Result<(Option<String>, Option<StackState>)> {
    match location(global)? {
        Location::Local(dir) => {
            let wanted = crate::stackfile::project_for(global.file.as_deref())?;
            let project = local_identity(&dir, wanted, &global.stack)?;
            let name = stack::state_name(project.as_deref(), &global.stack);
            Ok((project, StateStore::new(&dir, &name).load()?))
        }
        _ => {
            let session = open(global, None).await?;
            Ok((session.project, session.state))
        }
    }
}

/// [`identity`] for a state in a folder (no call).
fn local_identity(
    dir: &std::path::Path,
    wanted: Option<String>,
    stack: &str,
) -> anyhow::Result<Option<String>> {
    let Some(project) = wanted else {
        return Ok(None);
    };
    let own = stack::state_name(Some(&project), stack);
    if std::fs::symlink_metadata(dir.join(format!("{own}.json"))).is_ok()
        || std::fs::symlink_metadata(dir.join(format!("{stack}.json"))).is_err()
    {
        return Ok(Some(project));
    }
    Ok(match StateStore::new(dir, stack).load()? {
        Some(s) if s.project.is_none() => None,
        _ => Some(project),
    })
}

/// What no function's zip may hold: the state folder (a folder location) and this machine's
/// journal, beside the stack file itself.
pub fn never_packed(global: &GlobalArgs) -> Vec<std::path::PathBuf> {
    let mut out = vec![journal_dir()];
    if let Ok(Location::Local(dir)) = location(global) {
        out.push(dir);
    }
    out
}

/// Where this machine keeps its journal of a state in S3: `.serverless-cli/` in the working
/// folder (a CI runner's own, like `.terraform/`).
pub fn journal_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(".serverless-cli")
}

/// A stack's store at a location (for S3, with the clients it needs, and this machine's
/// journal of it under `journal_dir`).
pub async fn store_at(
    location: &Location,
    stack: &str,
    target: &Target,
    journal_dir: &std::path::Path,
) -> anyhow::Result<(Store, Option<Aws>)> {
    Ok(match location {
        Location::Local(dir) => (Store::Local(StateStore::new(dir, stack)), None),
        Location::S3 { bucket, prefix } => {
            let aws = Aws::clients(target, CREDENTIALS_LIMIT).await?;
            let store = s3_store(&aws, bucket, prefix, stack, target, journal_dir);
            (Store::S3(store), Some(aws))
        }
    })
}

/// The S3 store of the state kept as `name`, with this machine's journal of it.
fn s3_store(
    aws: &Aws,
    bucket: &str,
    prefix: &str,
    name: &str,
    target: &Target,
    journal_dir: &std::path::Path,
) -> crate::store::s3::S3Store {
    crate::store::s3::S3Store::new(
        aws.s3.clone(),
        bucket,
        prefix,
        name,
        Some((journal_dir, target.endpoint.as_deref(), &target.region)),
    )
}

/// Validates the global options, takes the lock (when `command` changes things, waiting up to
/// --lock-timeout) and loads the state. No AWS call for a state in a folder.
pub async fn open(global: &GlobalArgs, command: Option<&str>) -> anyhow::Result<Session> {
    let locking = match command {
        Some(c) => Locking::Now(c),
        None => Locking::No,
    };
    let mut session = open_with(global, locking).await?;
    session.settle().await?;
    Ok(session)
}

/// As `open`, but a state in S3 may still be unconfirmed (`Session::pending`): the command
/// settles it with its first round of reads (`connect_with`), or with `settle`.
pub async fn open_with(global: &GlobalArgs, locking: Locking<'_>) -> anyhow::Result<Session> {
    let target = target(global).await?;
    let location = location(global)?;
    let wanted = crate::stackfile::project_for(global.file.as_deref())?;
    // One set of clients (a state in S3) for the identity's look and the run.
    let aws = match &location {
        Location::S3 { .. } => Some(Aws::clients(&target, CREDENTIALS_LIMIT).await?),
        Location::Local(_) => None,
    };
    let project = identity(&location, wanted, &global.stack, &target, aws.as_ref()).await?;
    let name = stack::state_name(project.as_deref(), &global.stack);
    let store = match (&location, &aws) {
        (Location::S3 { bucket, prefix }, Some(aws)) => Store::S3(s3_store(
            aws,
            bucket,
            prefix,
            &name,
            &target,
            &journal_dir(),
        )),
        (Location::Local(dir), _) => Store::Local(StateStore::new(dir, &name)),
        (Location::S3 { .. }, None) => unreachable!("an S3 location's clients are made above"),
    };
    let store = std::sync::Arc::new(store);
    let lock_now = match locking {
        Locking::No => None,
        Locking::Now(c) => Some(c),
        Locking::UnlessUnchanged(c, digest) => match &*store {
            Store::S3(s) if s.deployed_unchanged(digest) => None,
            _ => Some(c),
        },
    };
    let mut session = Session {
        stack: global.stack.clone(),
        project,
        target,
        store,
        state: None,
        aws,
        pending: None,
        locked: false,
        lock_busy: false,
        lock_timeout: global.lock_timeout,
        who: None,
    };
    match lock_now {
        Some(c) => session.lock(c).await?,
        None => {
            let cached = match &*session.store {
                Store::S3(s) => s.cached(),
                Store::Local(_) => None,
            };
            // A deploy that looks before it locks also looks at the lock: while another run
            // holds it, it takes the lock path (and waits, or is refused naming the holder).
            let probe = matches!(locking, Locking::UnlessUnchanged(..));
            let store = session.store.clone();
            let read = async move {
                let busy = async {
                    match &*store {
                        Store::S3(s) if probe => s.read_lock().await.map(|l| l.is_some()),
                        _ => Ok(false),
                    }
                };
                let (state, busy) = tokio::join!(store.load(), busy);
                Ok((state?, busy?))
            };
            match cached {
                // Reads start from this machine's copy while S3 says whether it is current.
                Some(copy) => {
                    session.state = copy;
                    session.pending = Some(Box::pin(read));
                }
                None => (session.state, session.lock_busy) = read.await?,
            }
        }
    }
    session.check_target()?;
    Ok(session)
}

impl Session {
    /// Takes the stack's lock (waiting up to --lock-timeout). For S3, the state is read and the
    /// bucket's versioning checked in the same round trip; the state read then is confirmed
    /// once the lock is surely this run's (`pending`), since another run may have written it
    /// just before letting the lock go.
    pub async fn lock(&mut self, command: &str) -> anyhow::Result<()> {
        let store = &*self.store;
        // Versioning guards the state's writes; teardown's only write removes it.
        let writes = command != "teardown";
        let versioning = async {
            match store {
                Store::S3(s) if writes => s.versioning_on().await,
                _ => None,
            }
        };
        let early = async {
            match store {
                Store::S3(s) => Some(s.load().await),
                Store::Local(_) => None,
            }
        };
        // The identity call needs nothing of the state: it goes in the same round trip.
        let whoami = async {
            match (store, &self.aws) {
                (Store::S3(_), Some(aws)) => Some(aws.whoami().await),
                _ => None,
            }
        };
        let (held, versioning, early, who) = tokio::join!(
            store.lock(command, self.lock_timeout),
            versioning,
            early,
            whoami
        );
        let held = held?;
        self.who = who;
        if let (Store::S3(s), Some(false)) = (store, versioning) {
            eprintln!(
                "warning: bucket {} keeps no versions: a bad write of the state cannot be undone; turn versioning on (`serverless-cli state init s3://{}` does)",
                s.bucket, s.bucket
            );
        }
        crate::store::lock::keep(held);
        self.locked = true;
        match early {
            Some(early) => {
                self.state = early?;
                let store = self.store.clone();
                self.pending = Some(Box::pin(async move { Ok((store.load().await?, false)) }));
            }
            None => {
                self.state = self.store.load().await?;
                self.pending = None;
            }
        }
        self.check_target()
    }

    /// Takes the state read with the lock as it is, without confirming it: for a command
    /// whose only write is conditional on what it read (teardown's final delete of the state
    /// is refused if another run wrote it meanwhile, and says to run again).
    pub fn trust_read(&mut self) {
        self.pending = None;
    }

    /// Waits for the state's confirmation, if one is pending; `true` if the state changed.
    pub async fn settle(&mut self) -> anyhow::Result<bool> {
        let Some(p) = self.pending.take() else {
            return Ok(false);
        };
        let (confirmed, busy) = p.await?;
        let changed = confirmed != self.state;
        self.state = confirmed;
        self.lock_busy = busy;
        self.check_target()?;
        self.check_held()?;
        Ok(changed)
    }

    fn check_target(&self) -> anyhow::Result<()> {
        if let Some(s) = &self.state {
            s.check_project(self.project.as_deref())?;
            s.check_target(&self.target.region, self.target.endpoint.as_deref())?;
        }
        Ok(())
    }

    /// Gives the run's stack file the identity this session settled on: a stack that an
    /// earlier release deployed from this file keeps the names it was given then.
    pub fn fit(&self, file: &mut Option<crate::stackfile::StackFile>) {
        if let Some(f) = file {
            f.project = self.project.clone();
        }
    }

    /// A run whose S3 lock was taken over (or whose lease ran out while it was paused) stops
    /// here, before it changes anything.
    pub fn check_held(&self) -> anyhow::Result<()> {
        match &*self.store {
            Store::S3(s) if self.locked => s.still_held(),
            _ => Ok(()),
        }
    }
}

/// The profile: `--profile`, else AWS_PROFILE.
pub fn profile(global: &GlobalArgs) -> Option<String> {
    global
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
}

/// Connects and checks that the state belongs to this account (settling the state first).
pub async fn connect(session: &mut Session) -> anyhow::Result<Aws> {
    let (aws, ()) = connect_with(session, |_, _| async {}).await?;
    Ok(aws)
}

/// Connects and runs `reads` at the same time as the identity call (and the read that
/// confirms a state in S3): one round of calls instead of two. `reads` gets clients whose
/// `account` is the state's (empty when the state has none) and the state; the account is
/// checked against the state once the identity call answers. Should the confirmed state
/// differ from the one the reads started from, they are made again from it.
pub async fn connect_with<T, F, Fut>(session: &mut Session, reads: F) -> anyhow::Result<(Aws, T)>
where
    F: Fn(Aws, Option<StackState>) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut aws = match &session.aws {
        Some(a) => a.clone(),
        None => Aws::clients(&session.target, CREDENTIALS_LIMIT).await?,
    };
    let account_of = |state: &Option<StackState>| {
        state
            .as_ref()
            .and_then(|s| s.account.clone())
            .unwrap_or_default()
    };
    aws.account = account_of(&session.state);
    let pending = session.pending.take();
    let early_who = session.who.take();
    let (who, mut found, confirmed) = tokio::join!(
        async {
            match early_who {
                Some(who) => who,
                None => aws.whoami().await,
            }
        },
        reads(aws.clone(), session.state.clone()),
        async {
            match pending {
                Some(p) => Some(p.await),
                None => None,
            }
        }
    );
    let who = who?;
    if let Some(confirmed) = confirmed {
        let (confirmed, busy) = confirmed?;
        session.lock_busy = busy;
        if confirmed != session.state {
            session.state = confirmed;
            session.check_target()?;
            aws.account = account_of(&session.state);
            found = reads(aws.clone(), session.state.clone()).await;
        }
    }
    if let Some(s) = &session.state {
        s.check_account(&who)?;
    }
    session.check_held()?;
    aws.account = who;
    Ok((aws, found))
}

/// How long deploy waits for ACM to issue a certificate by default. With the delegation
/// checked first, DNS validation usually takes minutes (docs/domain.md).
pub const CERTIFICATE_WAIT: Duration = Duration::from_secs(30 * 60);

/// Time limits; `SERVERLESS_CLI_RETRY_SCALE` (a factor, for tests) shortens the retry backoff.
pub fn timing(role_wait: Duration, ready_wait: Duration) -> Timing {
    let scale = aws::retry_scale();
    let base = RetryPolicy::default();
    Timing {
        role_wait,
        ready_wait,
        retry: RetryPolicy {
            max_elapsed: base.max_elapsed,
            max_transient: base.max_transient,
            base: base.base.mul_f64(scale),
            max_backoff: base.max_backoff.mul_f64(scale),
            retry_after_scale: scale,
        },
        poll_first: Duration::from_millis(50),
        poll_max: Duration::from_secs(2),
        certificate_wait: Some(CERTIFICATE_WAIT),
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
    let path = store.records_where();
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
#[derive(Debug)]
pub enum Model {
    Tutorial(crate::stack::Tutorial),
    File(Box<crate::stackfile::StackFile>),
}

/// The run's stack file, read and checked (no AWS call); `None`: the built-in stack.
pub fn stack_file(
    global: &GlobalArgs,
) -> Result<Option<crate::stackfile::StackFile>, crate::error::UsageError> {
    crate::stack::validate_stack_name(&global.stack).map_err(crate::error::UsageError)?;
    let file = crate::stackfile::StackFile::find(global.file.as_deref(), &global.stack)?;
    if let Some(f) = &file {
        for w in crate::stackfile::check::warnings(f) {
            eprintln!(
                "warning: {}: {}",
                f.path.display(),
                crate::report::printable(&w)
            );
        }
    }
    Ok(file)
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
            Model::Tutorial(t) => crate::stackfile::builtin_spec(stack, region, account, names, t),
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
    let spec = match file {
        Some(f) => f.spec(&state.stack, &state.region, account),
        None => crate::stackfile::recorded::builtin(state, account),
    };
    crate::kinds::recorded::cover(spec, state)
}
