//! The state in S3, shared by a team and its CI runners.
//!
//! - The state is the object `PREFIX/<stack>.json`. Every write is a compare-and-swap:
//!   `If-Match` on the ETag this run last read or wrote (`If-None-Match: *` for the first), so
//!   a run that lost its lock never overwrites a newer state; it stops at once. Each write
//!   carries this run's token (`x-amz-meta-serverless-cli-write`), so a write whose answer was
//!   lost and whose retry meets its own object (412) is known for this run's. No encryption
//!   header is sent: the bucket's default encryption applies (a header would override a KMS
//!   default and fail under "deny other encryption" policies).
//! - The lock is the object `PREFIX/<stack>.lock`, created with `If-None-Match: *` and naming
//!   its holder. It is a lease: the holder renews it (`If-Match`) every third of the lease. A
//!   lock not renewed for a lease is stale, and is taken over with `If-Match` on its ETag, so
//!   two takers cannot both win. Its age is measured on S3's clock alone (the answer's `Date`
//!   less the object's Last-Modified), or by this run's own watching of an ETag that does not
//!   change: a runner's clock that is minutes off decides nothing.
//! - A bucket in another region than the stack's is followed (`x-amz-bucket-region`).
//! - A concurrent conditional write can answer 409 ConditionalRequestConflict: tried again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::journal::Journal;
use super::lock::{jittered, LockInfo};
use super::Location;
use crate::error::UsageError;
use crate::state::{StackState, StateError, MAX_STATE_BYTES};

/// How long a lock stays valid without renewal (`SERVERLESS_CLI_LOCK_LEASE`, seconds, for
/// tests and slow links).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// S3's `Date` and Last-Modified are whole seconds: a lock is stale once its age on S3's
/// clock passes its lease by more than their rounding.
const S3_CLOCK_ROUNDING: Duration = Duration::from_secs(2);
/// The object metadata that names the run and record that wrote a state object.
const WRITER_META: &str = "serverless-cli-write";
/// Attempts for a write S3 answers 409 ConditionalRequestConflict.
const CONFLICT_ATTEMPTS: u32 = 5;
/// How long a run keeps its first records in this machine's journal alone before it starts
/// sending them to S3 (`SERVERLESS_CLI_S3_UPLOAD_AFTER`, seconds). A deploy shorter than this
/// sends its state once, when it ends; a longer one keeps S3 within this much (and one
/// write) of its journal from then on.
pub const DEFAULT_UPLOAD_AFTER: Duration = Duration::from_secs(2);

fn upload_after() -> Duration {
    std::env::var("SERVERLESS_CLI_S3_UPLOAD_AFTER")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 3600.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_UPLOAD_AFTER)
}

pub fn lease() -> Duration {
    std::env::var("SERVERLESS_CLI_LOCK_LEASE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 1.0 && *s <= 3600.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_LEASE)
}

/// An S3 failure, reduced to what the store acts on.
#[derive(Debug)]
pub struct S3Error {
    pub op: &'static str,
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: String,
    /// `x-amz-bucket-region`, when S3 says the bucket is elsewhere.
    pub bucket_region: Option<String>,
}

impl S3Error {
    pub fn from_sdk_pub<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
        op: &'static str,
        e: SdkError<E, HttpResponse>,
    ) -> S3Error {
        let status = e.raw_response().map(|r| r.status().as_u16());
        let bucket_region = e
            .raw_response()
            .and_then(|r| r.headers().get("x-amz-bucket-region"))
            .map(str::to_string);
        let code = e.code().map(str::to_string);
        let message = e
            .message()
            .map(str::to_string)
            .unwrap_or_else(|| crate::aws::root_cause(&e));
        S3Error {
            op,
            status,
            code,
            message,
            bucket_region,
        }
    }

    fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
    fn precondition_failed(&self) -> bool {
        self.status == Some(412) || self.is("PreconditionFailed")
    }
    fn conflict(&self) -> bool {
        self.status == Some(409) || self.is("ConditionalRequestConflict")
    }
    fn not_found(&self) -> bool {
        self.is("NoSuchKey") || (self.status == Some(404) && !self.is("NoSuchBucket"))
    }
    fn retriable(&self) -> bool {
        self.conflict()
            || matches!(self.status, Some(500 | 502 | 503 | 504))
            || self.is("SlowDown")
            || self.status.is_none()
    }
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.op, self.message)
    }
}

/// A lock object as read: its holder, its ETag, and its age on S3's clock (`None` when the
/// answer had no `Date`).
pub struct LockSeen {
    pub info: LockInfo,
    pub etag: String,
    pub age: Option<Duration>,
}

/// Keeps the `Date` header of one S3 answer: the time on S3's clock when it answered.
#[derive(Debug, Clone, Default)]
struct ServerDate(Arc<std::sync::Mutex<Option<std::time::SystemTime>>>);

impl ServerDate {
    fn get(&self) -> Option<std::time::SystemTime> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Intercept for ServerDate {
    fn name(&self) -> &'static str {
        "ServerDate"
    }
    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let date = context
            .response()
            .headers()
            .get("date")
            .and_then(|d| {
                aws_smithy_types::DateTime::from_str(
                    d,
                    aws_smithy_types::date_time::Format::HttpDate,
                )
                .ok()
            })
            .and_then(|d| std::time::SystemTime::try_from(d).ok());
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = date;
        Ok(())
    }
}

/// One stack's state and lock in a bucket.
pub struct S3Store {
    pub bucket: String,
    pub prefix: String,
    pub stack: String,
    key: String,
    /// The state's writer, shared with the background upload and the lock's release.
    shared: Arc<Shared>,
}

/// What the store, its background upload and its lock share.
struct Shared {
    /// The client, for the bucket's region once S3 has named another.
    client: std::sync::RwLock<aws_sdk_s3::Client>,
    bucket: String,
    /// This run's writer token: each state write carries it with the record's number.
    token: String,
    key: String,
    /// This machine's copy of the state (`None`: no state folder to keep it in; every record
    /// is then uploaded before the run goes on).
    journal: Option<Journal>,
    inner: tokio::sync::Mutex<Writer>,
    /// Told when an upload round ends.
    idle: tokio::sync::Notify,
    /// Set when this run's lock was taken over: nothing more may be written.
    lost: AtomicBool,
    /// Set while this run holds the stack's lock: only then may it write.
    locked: AtomicBool,
    /// When the store was opened: the first records wait `upload_after()` from then.
    opened: Instant,
    /// A delayed upload is scheduled.
    delayed: AtomicBool,
}

/// The write-behind state: what was recorded, what S3 holds, what is on its way.
#[derive(Default)]
struct Writer {
    /// The ETag of the state object as this run last read or wrote it; `None`: there is none.
    etag: Option<String>,
    /// The newest state recorded, and its number (one more per record).
    latest: Option<StackState>,
    version: u64,
    /// The number of the state S3 holds, and its records.
    uploaded: u64,
    uploaded_records: std::collections::BTreeMap<String, crate::state::Record>,
    uploading: bool,
    /// Why uploads stopped (sticky): the run records nothing more.
    failed: Option<Failure>,
    /// The state was removed: nothing more is uploaded.
    removed: bool,
    /// The digest of the deploy that completed (kept in the journal).
    deployed: Option<String>,
    journal_stale: bool,
}

#[derive(Clone)]
enum Failure {
    /// Another run wrote the state, or took the lock over.
    Lost(String),
    Other(String),
}

impl Failure {
    fn error(&self) -> anyhow::Error {
        match self {
            Failure::Lost(m) => StateError::Lost(m.clone()).into(),
            Failure::Other(m) => anyhow::anyhow!("{m}"),
        }
    }
}

/// What a read of the state object found.
enum Fetched {
    /// It is still the object of the ETag asked about (`If-None-Match`).
    NotModified,
    Absent,
    Body(Box<StackState>, String),
}

impl S3Store {
    /// The store of `stack`'s state in `bucket/prefix`; `journal_dir` is where this machine's
    /// copy of it is kept (the run's state folder), `endpoint` and `region` tell copies apart.
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: &str,
        prefix: &str,
        stack: &str,
        journal_dir: Option<(&std::path::Path, Option<&str>, &str)>,
    ) -> S3Store {
        let key = Location::key(prefix, stack, "json");
        let object = format!("s3://{bucket}/{key}");
        let journal = journal_dir
            .map(|(dir, endpoint, region)| Journal::new(dir, endpoint, region, &object, stack));
        S3Store {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            stack: stack.to_string(),
            key: key.clone(),
            shared: Arc::new(Shared {
                client: std::sync::RwLock::new(client),
                bucket: bucket.to_string(),
                token: crate::ids::request_id(),
                key,
                journal,
                inner: tokio::sync::Mutex::new(Writer::default()),
                idle: tokio::sync::Notify::new(),
                lost: AtomicBool::new(false),
                locked: AtomicBool::new(false),
                opened: Instant::now(),
                delayed: AtomicBool::new(false),
            }),
        }
    }

    pub fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    fn lock_key(&self) -> String {
        Location::key(&self.prefix, &self.stack, "lock")
    }

    /// What a failure means for the user: no bucket, no access, another region.
    pub fn explain(&self, e: S3Error) -> anyhow::Error {
        explain(&self.bucket, e)
    }

    /// Reads the state object: unchanged since `if_none_match`, absent, or a state.
    async fn fetch(&self, if_none_match: Option<&str>) -> anyhow::Result<Fetched> {
        let got = self
            .shared
            .get_if(&self.key, if_none_match)
            .await
            .map_err(|e| self.explain(e))?;
        Ok(match got {
            Got::NotModified => Fetched::NotModified,
            Got::Absent => Fetched::Absent,
            Got::Body(bytes, etag, _) => {
                let where_ = std::path::PathBuf::from(self.describe());
                let text = String::from_utf8(bytes).map_err(|e| StateError::Corrupt {
                    path: where_.clone(),
                    reason: format!("it cannot be read as text ({e})"),
                })?;
                Fetched::Body(
                    Box::new(crate::state::parse_state(&where_, &text, &self.stack)?),
                    etag,
                )
            }
        })
    }

    /// The state this machine last knew, read from its copy without asking S3: what a run
    /// starts its reads from while S3 is asked whether it still holds it (`load`).
    /// `None`: no copy; `Some(None)`: the copy says there is no state.
    pub fn cached(&self) -> Option<Option<StackState>> {
        Some(self.shared.journal.as_ref()?.read()?.state)
    }

    /// Whether the last deploy from this machine had these inputs (`digest`) and S3 held its
    /// result when this machine last looked: then a deploy of them most likely changes
    /// nothing, and can look before it takes the lock.
    pub fn deployed_unchanged(&self, digest: &str) -> bool {
        self.shared
            .journal
            .as_ref()
            .and_then(|j| j.read())
            .is_some_and(|c| c.in_sync && c.deployed.as_deref() == Some(digest))
    }

    /// `Err` when this run held the lock and may no longer (taken over, or paused past its
    /// lease): it must stop before it changes anything or says it is done.
    pub fn still_held(&self) -> anyhow::Result<()> {
        self.shared.still_held()
    }

    /// Notes the inputs of a deploy that completed (kept in this machine's copy).
    pub async fn set_deployed(&self, digest: &str) {
        let mut w = self.shared.inner.lock().await;
        w.deployed = Some(digest.to_string());
        w.journal_stale = true;
    }

    /// The state, or `None` when there is none. Asks S3 only whether this machine's copy is
    /// still current (`If-None-Match`), so an unchanged state costs no download. A copy
    /// holding records that never reached S3 (its run crashed) is taken up when S3 still
    /// holds what that run last saw; when S3 has changed since, the copy is set aside with a
    /// warning (what it recorded is found again by its owner tags).
    pub async fn load(&self) -> anyhow::Result<Option<StackState>> {
        let copy = self.shared.journal.as_ref().and_then(|j| j.read());
        let asked = copy.as_ref().and_then(|c| c.etag.clone());
        let fetched = self.fetch(asked.as_deref()).await?;
        let locked = self.shared.locked.load(Ordering::SeqCst);
        let mut w = self.shared.inner.lock().await;
        let (state, etag, replay) = match (fetched, copy) {
            (Fetched::NotModified, Some(c)) => (c.state.clone(), c.etag.clone(), !c.in_sync),
            // Asked with no ETag: never answered "not modified".
            (Fetched::NotModified, None) => (None, None, false),
            (Fetched::Absent, Some(c)) if !c.in_sync && c.etag.is_none() => {
                (c.state.clone(), None, c.state.is_some())
            }
            (Fetched::Absent, c) => {
                self.set_aside_if_unsent(c.as_ref(), locked);
                (None, None, false)
            }
            (Fetched::Body(s, etag), c) => {
                if c.as_ref().and_then(|c| c.state.as_ref()) != Some(&*s) {
                    self.set_aside_if_unsent(c.as_ref(), locked);
                }
                (Some(*s), Some(etag), false)
            }
        };
        w.etag = etag;
        w.failed = None;
        w.removed = false;
        w.uploading = false;
        match (&state, replay) {
            (Some(s), true) => {
                if locked {
                    eprintln!(
                        "taking up what this machine recorded for stack '{}' but had not sent to {} yet (its run stopped before it could)",
                        self.stack,
                        self.describe()
                    );
                }
                w.latest = Some(s.clone());
                w.version = 1;
                w.uploaded = 0;
                w.uploaded_records.clear();
            }
            _ => {
                w.latest = state.clone();
                w.version = 0;
                w.uploaded = 0;
                w.uploaded_records = state
                    .as_ref()
                    .map(|s| s.resources.clone())
                    .unwrap_or_default();
                // A lock holder keeps its copy current for the next run's start.
                w.journal_stale = locked;
            }
        }
        if locked && w.journal_stale {
            self.shared.write_journal(&mut w);
        }
        Ok(state)
    }

    fn set_aside_if_unsent(&self, copy: Option<&super::journal::Copy>, locked: bool) {
        let (Some(c), Some(j)) = (copy, self.shared.journal.as_ref()) else {
            return;
        };
        if c.in_sync || !locked {
            return;
        }
        if let Some(to) = j.set_aside() {
            eprintln!(
                "warning: this machine held records of stack '{}' that never reached {}, and another run has changed that state since; they are kept in {} (deploy adopts what they name by its owner tags)",
                self.stack,
                self.describe(),
                to.display()
            );
        }
    }

    /// Records the state: durably in this machine's journal at once, and in S3 behind it (a
    /// background upload, each a compare-and-swap, coalescing the records that arrive while
    /// one is in flight). A state that adds or changes a record starts an upload, once the
    /// run is `upload_after()` old (earlier ones wait for then, or for the final flush, so a
    /// short run writes S3 once); one that only forgets records (a removal) goes with the
    /// next upload or the final flush: a record of something already gone costs nothing if it
    /// is seen once more. Without a journal, the upload is awaited.
    pub async fn record(&self, state: &StackState) -> anyhow::Result<()> {
        if !self.shared.locked.load(Ordering::SeqCst) {
            return Err(anyhow::anyhow!(
                "internal: stack '{}' was about to be written without its lock; nothing was written",
                self.stack
            ));
        }
        let durable = {
            let mut w = self.shared.inner.lock().await;
            if let Some(f) = &w.failed {
                return Err(f.error());
            }
            if self.shared.lost.load(Ordering::SeqCst) {
                return Err(lost_lock(&self.describe()));
            }
            crate::lease::check_lease().map_err(StateError::Lost)?;
            w.version += 1;
            w.latest = Some(state.clone());
            let adds = state
                .resources
                .iter()
                .any(|(k, r)| w.uploaded_records.get(k) != Some(r));
            let durable = self.shared.write_journal(&mut w);
            if (adds || !durable) && !w.uploading {
                let due = self.shared.opened + upload_after();
                if !durable || Instant::now() >= due {
                    w.uploading = true;
                    tokio::spawn(self.shared.clone().upload());
                } else if !self.shared.delayed.swap(true, Ordering::SeqCst) {
                    // Early records wait, and go together (most often with the final flush).
                    let shared = self.shared.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep_until(due.into()).await;
                        shared.start_upload().await;
                    });
                }
            }
            durable
        };
        if durable {
            Ok(())
        } else {
            self.flush().await
        }
    }

    /// Waits until S3 holds everything recorded (and this machine's copy says so).
    pub async fn flush(&self) -> anyhow::Result<()> {
        self.shared.flush().await
    }

    /// Writes the state and waits until S3 holds it.
    pub async fn save(&self, state: &StackState) -> anyhow::Result<()> {
        self.record(state).await?;
        self.flush().await
    }

    /// Removes the state (after a complete teardown), and with it the lock: both at once, one
    /// round trip. Each is conditional (`If-Match`), so neither removes another run's.
    pub async fn remove(&self) -> anyhow::Result<()> {
        if self.shared.lost.load(Ordering::SeqCst) {
            return Err(lost_lock(&self.describe()));
        }
        // What is on its way lands first; what is left to send is moot.
        self.shared.wait_idle().await;
        let etag = {
            let mut w = self.shared.inner.lock().await;
            if let Some(f) = &w.failed {
                return Err(f.error());
            }
            w.removed = true;
            w.etag.clone()
        };
        let delete = async {
            match etag {
                Some(etag) => match self.shared.delete(&self.key, &etag).await {
                    Err(e) if e.precondition_failed() => Err(StateError::Lost(format!(
                        "another run wrote the state {} while this one removed the stack; it was not removed: run teardown again to remove what that run recorded",
                        self.describe()
                    ))
                    .into()),
                    other => other.map_err(|e| self.explain(e)),
                },
                None => Ok(()),
            }
        };
        let (deleted, ()) = tokio::join!(delete, super::lock::release_all());
        deleted?;
        if let Some(j) = &self.shared.journal {
            j.remove();
        }
        Ok(())
    }

    /// The lock object as it is, or `None`.
    pub async fn read_lock(&self) -> anyhow::Result<Option<LockSeen>> {
        self.shared
            .read_lock(&self.lock_key())
            .await
            .map_err(|e| self.explain(e))?
            .map(|(info, etag, age)| {
                info.map(|info| LockSeen { info, etag, age }).map_err(|e| {
                    anyhow::anyhow!(
                        "s3://{}/{} is not a serverless-cli lock ({e}); remove it if you know it is not in use",
                        self.bucket,
                        self.lock_key()
                    )
                })
            })
            .transpose()
    }

    /// Takes the lock: creates it, or takes over a stale one, or waits up to `wait` for a
    /// busy one (then fails, exit 4, naming the holder).
    pub async fn lock(&self, command: &str, wait: Duration) -> anyhow::Result<S3Lock> {
        let lease = lease();
        let started = Instant::now();
        // The ETag of a busy lock and when this run first saw it: if it does not change for a
        // lease, its holder is not renewing it (a check that needs no clock but this run's).
        let mut watched: Option<(String, Instant)> = None;
        loop {
            let mine = LockInfo::mine(&self.stack, command, lease);
            let body = serde_json::to_vec(&mine)?;
            let sent = crate::lease::boot_now();
            match self
                .shared
                .put(&self.lock_key(), body.clone(), None, None)
                .await
            {
                Ok(etag) => return Ok(self.held(mine, etag, lease, sent)),
                Err(e) if e.precondition_failed() => {}
                Err(e) => return Err(self.explain(e)),
            }
            let Some(seen) = self.read_lock().await? else {
                continue; // released meanwhile: try again at once
            };
            // A create whose answer was lost, retried: the lock it met is this run's own.
            if seen.info.id == mine.id {
                return Ok(self.held(mine, seen.etag, lease, sent));
            }
            let lease_of = Duration::from_secs(seen.info.lease_secs.max(1));
            let by_s3 = seen
                .age
                .is_some_and(|age| age > lease_of + S3_CLOCK_ROUNDING);
            let by_watch = match &watched {
                Some((e, since)) if *e == seen.etag => since.elapsed() > lease_of,
                _ => {
                    watched = Some((seen.etag.clone(), Instant::now()));
                    false
                }
            };
            if by_s3 || by_watch {
                let mine = LockInfo::mine(&self.stack, command, lease);
                let sent = crate::lease::boot_now();
                let taken = self
                    .shared
                    .put(
                        &self.lock_key(),
                        serde_json::to_vec(&mine)?,
                        Some(&seen.etag),
                        None,
                    )
                    .await;
                let taken = match taken {
                    Ok(etag) => Some(etag),
                    // Someone else took it over (or its holder renewed it) first; or this
                    // run's own takeover, whose answer was lost.
                    Err(e) if e.precondition_failed() => match self.read_lock().await? {
                        Some(now) if now.info.id == mine.id => Some(now.etag),
                        _ => None,
                    },
                    Err(e) => return Err(self.explain(e)),
                };
                let Some(new_etag) = taken else { continue };
                eprintln!(
                    "took over the stale {} (its lease of {} s ran out)",
                    seen.info.describe(seen.age.map(|a| a.as_secs())),
                    seen.info.lease_secs
                );
                return Ok(self.held(mine, new_etag, lease, sent));
            }
            if started.elapsed() >= wait {
                let holder = &seen.info;
                let hint = if holder.holder_is_dead_here() {
                    format!(
                        "; pid {} is not running on this host: if no other run uses the stack, remove the lock with `serverless-cli state unlock {}`",
                        holder.pid, holder.id
                    )
                } else {
                    format!(
                        "; wait for it (--lock-timeout), or, if it is dead, it is taken over once its lease of {} s runs out (`serverless-cli state unlock {}` removes it now)",
                        holder.lease_secs, holder.id
                    )
                };
                return Err(StateError::Locked {
                    stack: self.stack.clone(),
                    holder: format!("{}{hint}", holder.describe(seen.age.map(|a| a.as_secs()))),
                }
                .into());
            }
            tokio::time::sleep(jittered(Duration::from_secs(1).min(lease_of / 2))).await;
        }
    }

    fn held(&self, info: LockInfo, etag: String, lease: Duration, sent: Duration) -> S3Lock {
        // Counted from before the put that took it: never longer than the lease S3 saw.
        crate::lease::lease_confirmed(sent, lease);
        let etag = Arc::new(tokio::sync::Mutex::new(etag));
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let renewer = {
            let key = self.lock_key();
            let etag = etag.clone();
            let shared = self.shared.clone();
            let mut info = info.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(lease / 3) => {}
                        _ = stopped.wait_for(|s| *s) => return,
                    }
                    info.renewed_at = crate::state::now_secs();
                    let sent = crate::lease::boot_now();
                    let body = serde_json::to_vec(&info).unwrap_or_default();
                    // Held across the put: release waits for a renewal in flight, and then
                    // deletes the lock by the ETag that renewal gave it.
                    let mut current = etag.lock().await;
                    let put = shared.put(&key, body, Some(current.as_str()), None).await;
                    match put {
                        Ok(new_etag) => {
                            *current = new_etag;
                            crate::lease::lease_confirmed(sent, lease);
                        }
                        Err(e) if e.precondition_failed() || e.not_found() => {
                            // A renewal whose answer was lost meets its own object.
                            if let Ok(Some((Ok(seen), seen_etag, _))) = shared.read_lock(&key).await
                            {
                                if seen.id == info.id {
                                    *current = seen_etag;
                                    crate::lease::lease_confirmed(sent, lease);
                                    continue;
                                }
                            }
                            let why = lost_message(&shared.describe());
                            shared.lost.store(true, Ordering::SeqCst);
                            crate::lease::fence(&why);
                            eprintln!(
                                "this run's lock on stack '{}' was taken over by another run; it makes no more AWS calls and writes nothing more",
                                info.stack
                            );
                            return;
                        }
                        // Anything else: try again at the next third of the lease.
                        Err(_) => {}
                    }
                }
            })
        };
        self.shared.lost.store(false, Ordering::SeqCst);
        self.shared.locked.store(true, Ordering::SeqCst);
        S3Lock {
            id: info.id,
            key: self.lock_key(),
            etag,
            stop,
            renewer: Some(renewer),
            state: self.shared.clone(),
        }
    }

    /// Removes the lock `id`, only if it is still that lock (`state unlock`): its holder, and
    /// its age on S3's clock.
    pub async fn unlock(&self, id: &str) -> anyhow::Result<(LockInfo, Option<Duration>)> {
        let Some(LockSeen {
            info: holder,
            etag,
            age,
        }) = self.read_lock().await?
        else {
            return Err(UsageError(format!(
                "stack '{}' is not locked in s3://{}; nothing was removed",
                self.stack, self.bucket
            ))
            .into());
        };
        if holder.id != id {
            return Err(UsageError(format!(
                "stack '{}' is locked by {}, not by lock {id}; nothing was removed",
                self.stack,
                holder.describe(age.map(|a| a.as_secs()))
            ))
            .into());
        }
        match self.shared.delete(&self.lock_key(), &etag).await {
            Ok(()) => Ok((holder, age)),
            Err(e) if e.precondition_failed() => Err(UsageError(format!(
                "lock {id} changed while it was being removed (its holder renewed it: it is alive); nothing was removed"
            ))
            .into()),
            Err(e) => Err(self.explain(e)),
        }
    }

    /// The stacks in this location: (stack, last modified, size), by listing the prefix.
    pub async fn list(&self) -> anyhow::Result<Vec<(String, Option<std::time::SystemTime>)>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let prefix = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        loop {
            let page = self
                .shared
                .again(|| async {
                    self.shared
                        .client()
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(&prefix)
                        .delimiter("/")
                        .set_continuation_token(token.clone())
                        .send()
                        .await
                        .map_err(|e| S3Error::from_sdk_pub("ListObjectsV2", e))
                })
                .await
                .map_err(|e| self.explain(e))?;
            for o in page.contents() {
                let key = o.key().unwrap_or_default();
                if let Some(stack) = key
                    .strip_prefix(&prefix)
                    .and_then(|k| k.strip_suffix(".json"))
                {
                    let modified = o
                        .last_modified()
                        .and_then(|d| std::time::SystemTime::try_from(*d).ok());
                    out.push((stack.to_string(), modified));
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// Whether the bucket keeps versions (a bad write can then be undone).
    pub async fn versioning_on(&self) -> Option<bool> {
        let out = self
            .shared
            .again(|| async {
                self.shared
                    .client()
                    .get_bucket_versioning()
                    .bucket(&self.bucket)
                    .send()
                    .await
                    .map_err(|e| S3Error::from_sdk_pub("GetBucketVersioning", e))
            })
            .await
            .ok()?;
        Some(out.status() == Some(&aws_sdk_s3::types::BucketVersioningStatus::Enabled))
    }

    /// The client this store uses (for the bucket's own region, once S3 named it).
    pub fn client(&self) -> aws_sdk_s3::Client {
        self.shared.client()
    }
}

/// What a failure means for the user: no bucket, no access, another region.
fn explain(bucket: &str, e: S3Error) -> anyhow::Error {
    let loc = format!("s3://{bucket}");
    // A state object past the size a state can have is a bad state, as a folder's is.
    if e.is("TooLarge") {
        return StateError::Corrupt {
            path: std::path::PathBuf::from(&loc),
            reason: e.message,
        }
        .into();
    }
    if e.is("NoSuchBucket") {
        return UsageError(format!(
            "bucket {bucket} does not exist; create it with `serverless-cli state init {loc}`, or fix --state"
        ))
        .into();
    }
    if e.status == Some(403) || e.is("AccessDenied") {
        let code = e.code.as_deref().unwrap_or("403");
        let kms = code.starts_with("KMS") || e.message.contains("KMS");
        let who = if kms {
            "the bucket's KMS key refuses this identity: its key policy (or the identity) needs kms:GenerateDataKey and kms:Decrypt"
        } else {
            "the identity's policy, the bucket's policy or an organization policy refuses it; the identity needs s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket there (`serverless-cli iam-policy --state ...` prints them)"
        };
        return UsageError(format!(
            "access to {loc} is denied ({}: {code}: {}); {who}",
            e.op, e.message
        ))
        .into();
    }
    if let Some(region) = &e.bucket_region {
        return UsageError(format!(
            "bucket {bucket} is in region {region}, not this run's; pass --region {region} with this --state, or use a bucket in this region"
        ))
        .into();
    }
    if e.status == Some(301) || e.is("PermanentRedirect") {
        return UsageError(format!(
            "bucket {bucket} is in another region than this run's; pass that region with --region"
        ))
        .into();
    }
    anyhow::anyhow!("{e} ({loc})")
}

/// A conditional read's answer: a body with its ETag and its age on S3's clock.
enum Got {
    NotModified,
    Absent,
    Body(Vec<u8>, String, Option<Duration>),
}

impl Shared {
    fn client(&self) -> aws_sdk_s3::Client {
        self.client
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// S3 named the bucket's region (`x-amz-bucket-region`, on a 301 or a 400 to the wrong
    /// one): from now on the client asks there (unless another call of this run already
    /// switched it). `true`: the call should be made again. The Rust SDK does not follow this
    /// itself (docs/aws.md, "The S3 lock").
    fn follow_region(&self, e: &S3Error) -> bool {
        let Some(region) = e.bucket_region.as_deref().filter(|r| {
            !r.is_empty()
                && r.len() <= 32
                && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        }) else {
            return false;
        };
        if !(e.status == Some(301) || e.status == Some(400) || e.is("PermanentRedirect")) {
            return false;
        }
        let mut client = self.client.write().unwrap_or_else(|p| p.into_inner());
        if client.config().region().map(|r| r.as_ref()) == Some(region) {
            return true;
        }
        let conf = client
            .config()
            .to_builder()
            .region(aws_sdk_s3::config::Region::new(region.to_string()))
            .build();
        *client = aws_sdk_s3::Client::from_conf(conf);
        true
    }

    /// Runs an S3 call again on 409 ConditionalRequestConflict and transient faults, and
    /// once in the bucket's own region when S3 names another.
    async fn again<T, F, Fut>(&self, mut call: F) -> Result<T, S3Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, S3Error>>,
    {
        let mut attempt = 0;
        let mut followed = false;
        loop {
            match call().await {
                Err(e) if !followed && self.follow_region(&e) => followed = true,
                Err(e) if e.retriable() && attempt + 1 < CONFLICT_ATTEMPTS => {
                    attempt += 1;
                    let base = Duration::from_millis(100 * 2u64.pow(attempt))
                        .mul_f64(crate::aws::retry_scale());
                    tokio::time::sleep(jittered(base)).await;
                }
                other => return other,
            }
        }
    }

    /// Reads an object: (body, ETag, age on S3's clock), `None` if there is none.
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, String, Option<Duration>)>, S3Error> {
        Ok(match self.get_if(key, None).await? {
            Got::Body(b, e, age) => Some((b, e, age)),
            Got::Absent | Got::NotModified => None,
        })
    }

    /// Reads the lock object: its holder (or why it is not a lock), ETag and age.
    async fn read_lock(
        &self,
        key: &str,
    ) -> Result<
        Option<(
            Result<LockInfo, serde_json::Error>,
            String,
            Option<Duration>,
        )>,
        S3Error,
    > {
        Ok(self
            .get(key)
            .await?
            .map(|(bytes, etag, age)| (serde_json::from_slice(&bytes), etag, age)))
    }

    /// Reads an object unless it is still the one of ETag `if_none_match` (304).
    async fn get_if(&self, key: &str, if_none_match: Option<&str>) -> Result<Got, S3Error> {
        self.again(|| async {
            let date = ServerDate::default();
            let out = match self
                .client()
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .set_if_none_match(if_none_match.map(str::to_string))
                .customize()
                .interceptor(date.clone())
                .send()
                .await
            {
                Ok(o) => o,
                Err(e) => {
                    let e = S3Error::from_sdk_pub("GetObject", e);
                    return if e.status == Some(304) && if_none_match.is_some() {
                        Ok(Got::NotModified)
                    } else if e.not_found() {
                        Ok(Got::Absent)
                    } else {
                        Err(e)
                    };
                }
            };
            if out
                .content_length()
                .is_some_and(|n| n < 0 || n as u64 > MAX_STATE_BYTES)
            {
                return Err(too_large(key));
            }
            let etag = out.e_tag().unwrap_or_default().to_string();
            // Both times are S3's: this machine's clock plays no part.
            let age = out
                .last_modified()
                .and_then(|d| std::time::SystemTime::try_from(*d).ok())
                .zip(date.get())
                .map(|(modified, now)| now.duration_since(modified).unwrap_or_default());
            let body = out.body.collect().await.map_err(|e| S3Error {
                op: "GetObject",
                status: None,
                code: None,
                message: format!("reading {key}: {e}"),
                bucket_region: None,
            })?;
            let bytes = body.into_bytes();
            if bytes.len() as u64 > MAX_STATE_BYTES {
                return Err(too_large(key));
            }
            Ok(Got::Body(bytes.to_vec(), etag, age))
        })
        .await
    }

    /// A conditional put: `if_match` an ETag, or (None) only if there is no such object.
    /// `token` names this write (object metadata): a retry that meets the object this very
    /// write made (its first answer lost) takes it for done.
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        if_match: Option<&str>,
        token: Option<&str>,
    ) -> Result<String, S3Error> {
        let put = self
            .again(|| {
                let body = body.clone();
                async move {
                    let mut req = self
                        .client()
                        .put_object()
                        .bucket(&self.bucket)
                        .key(key)
                        .content_type("application/json")
                        .set_metadata(token.map(|t| {
                            std::collections::HashMap::from([(
                                WRITER_META.to_string(),
                                t.to_string(),
                            )])
                        }))
                        .body(ByteStream::from(body));
                    req = match if_match {
                        Some(etag) => req.if_match(etag),
                        None => req.if_none_match("*"),
                    };
                    let out = req
                        .send()
                        .await
                        .map_err(|e| S3Error::from_sdk_pub("PutObject", e))?;
                    Ok(out.e_tag().unwrap_or_default().to_string())
                }
            })
            .await;
        match (put, token) {
            (Err(e), Some(token)) if e.precondition_failed() => match self.written_by(key).await {
                Some((written, etag)) if written == token => Ok(etag),
                _ => Err(e),
            },
            (other, _) => other,
        }
    }

    /// The writer token and ETag of the object, if it can be read.
    async fn written_by(&self, key: &str) -> Option<(String, String)> {
        let head = self
            .again(|| async {
                self.client()
                    .head_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| S3Error::from_sdk_pub("HeadObject", e))
            })
            .await
            .ok()?;
        let token = head.metadata()?.get(WRITER_META)?.clone();
        Some((token, head.e_tag()?.to_string()))
    }

    async fn delete(&self, key: &str, if_match: &str) -> Result<(), S3Error> {
        self.again(|| async {
            match self
                .client()
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .if_match(if_match)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) => {
                    let e = S3Error::from_sdk_pub("DeleteObject", e);
                    if e.not_found() {
                        Ok(())
                    } else {
                        Err(e)
                    }
                }
            }
        })
        .await
    }

    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// Writes this machine's copy from the writer (called with it locked); `false` when there
    /// is no journal or it cannot be written (the caller then waits for S3 instead).
    fn write_journal(&self, w: &mut Writer) -> bool {
        let Some(j) = &self.journal else {
            return false;
        };
        let in_sync = w.version == w.uploaded;
        match j.write(
            w.etag.as_deref(),
            in_sync,
            w.latest.as_ref(),
            w.deployed.as_deref(),
        ) {
            Ok(()) => {
                w.journal_stale = false;
                true
            }
            Err(e) => {
                eprintln!(
                    "warning: this machine's copy of the state, {}, cannot be written ({e:#}); each record now waits for S3",
                    j.path().display()
                );
                false
            }
        }
    }

    /// The background upload: sends the newest recorded state until S3 holds it, one
    /// compare-and-swap at a time.
    async fn upload(self: Arc<Self>) {
        loop {
            let (version, body, etag, records) = {
                let mut w = self.inner.lock().await;
                let fenced = if self.lost.load(Ordering::SeqCst) {
                    Some(lost_message(&self.describe()))
                } else {
                    crate::lease::check_lease().err()
                };
                if let Some(why) = fenced {
                    w.failed.get_or_insert(Failure::Lost(why));
                }
                let done = w.failed.is_some() || w.removed || w.version <= w.uploaded;
                let body = w.latest.as_ref().and_then(|s| {
                    let mut json = serde_json::to_vec_pretty(s).ok()?;
                    json.push(b'\n');
                    Some(json)
                });
                match body {
                    Some(body) if !done => {
                        let records = w
                            .latest
                            .as_ref()
                            .map(|s| s.resources.clone())
                            .unwrap_or_default();
                        (w.version, body, w.etag.clone(), records)
                    }
                    _ => {
                        w.uploading = false;
                        drop(w);
                        self.idle.notify_waiters();
                        return;
                    }
                }
            };
            let token = format!("{}-{version}", self.token);
            let sent = self
                .put(&self.key, body, etag.as_deref(), Some(&token))
                .await;
            let mut w = self.inner.lock().await;
            match sent {
                Ok(new_etag) => {
                    w.etag = Some(new_etag);
                    w.uploaded = version;
                    // What S3 now holds: a later record is compared with it.
                    w.uploaded_records = records;
                    self.write_journal(&mut w);
                }
                Err(e) if e.precondition_failed() => {
                    self.lost.store(true, Ordering::SeqCst);
                    w.failed = Some(Failure::Lost(format!(
                        "the state {} was written by another run since this one read it (its lock was taken over?); this run stopped without overwriting it: see `serverless-cli state show`, then run again",
                        self.describe()
                    )));
                }
                Err(e) => {
                    w.failed = Some(Failure::Other(format!("{:#}", explain(&self.bucket, e))));
                }
            }
        }
    }

    /// `Err` when this run held the lock and may no longer: it was taken over, or the lease
    /// may have run out while the run was paused.
    fn still_held(&self) -> anyhow::Result<()> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(lost_lock(&self.describe()));
        }
        if self.locked.load(Ordering::SeqCst) {
            crate::lease::check_lease().map_err(StateError::Lost)?;
        }
        Ok(())
    }

    /// Starts an upload unless one runs, or there is nothing to send.
    async fn start_upload(self: &Arc<Self>) {
        let mut w = self.inner.lock().await;
        if !w.uploading && !w.removed && w.failed.is_none() && w.version > w.uploaded {
            w.uploading = true;
            tokio::spawn(self.clone().upload());
        }
    }

    /// Waits for the upload in flight, if any, to end.
    async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.inner.lock().await.uploading {
                return;
            }
            notified.await;
        }
    }

    /// Waits until S3 holds everything recorded; then this machine's copy says so.
    async fn flush(self: &Arc<Self>) -> anyhow::Result<()> {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut w = self.inner.lock().await;
                if let Some(f) = &w.failed {
                    return Err(f.error());
                }
                self.still_held()?;
                if !w.uploading {
                    if w.removed || w.version <= w.uploaded {
                        if w.journal_stale && !w.removed {
                            self.write_journal(&mut w);
                        }
                        return Ok(());
                    }
                    w.uploading = true;
                    tokio::spawn(self.clone().upload());
                }
            }
            notified.await;
        }
    }
}

fn too_large(key: &str) -> S3Error {
    S3Error {
        op: "GetObject",
        status: None,
        code: Some("TooLarge".into()),
        message: format!("{key} is larger than a state file can be"),
        bucket_region: None,
    }
}

fn lost_lock(what: &str) -> anyhow::Error {
    StateError::Lost(lost_message(what)).into()
}

fn lost_message(what: &str) -> String {
    format!(
        "this run's lock was taken over by another run (it was paused or cut off for longer than the lease); it stopped without writing {what}: see `serverless-cli state show`, then run again"
    )
}

/// A held S3 lock: renewed in the background until released.
pub struct S3Lock {
    /// The lock's id: a lock object that names it is this run's.
    id: String,
    key: String,
    etag: Arc<tokio::sync::Mutex<String>>,
    /// Tells the renewer to stop (between renewals, never in the middle of one).
    stop: tokio::sync::watch::Sender<bool>,
    renewer: Option<tokio::task::JoinHandle<()>>,
    /// The state it guards: everything recorded reaches S3 before the lock is given up.
    state: Arc<Shared>,
}

impl S3Lock {
    /// Sends what is still on its way to S3, stops the renewer (waiting for a renewal in
    /// flight), then deletes the lock if it is still ours (`If-Match`, retried; a 412 on a
    /// lock that still names this run is a renewal's new ETag, and is deleted by it). A state
    /// that cannot be sent is said, and stays recorded in this machine's journal for the next
    /// run here.
    pub async fn release(mut self) {
        if let Err(e) = self.state.flush().await {
            let lost = matches!(e.downcast_ref::<StateError>(), Some(StateError::Lost(_)));
            if !lost {
                eprintln!("warning: the last records could not be sent to S3 ({e:#}); this machine's journal keeps them, and the next run from here sends them");
            }
        }
        self.state.locked.store(false, Ordering::SeqCst);
        self.stop.send_replace(true);
        if let Some(renewer) = self.renewer.take() {
            let _ = renewer.await;
        }
        if self.state.lost.load(Ordering::SeqCst) {
            return; // another run's lock now
        }
        for _ in 0..3 {
            let etag = self.etag.lock().await.clone();
            match self.state.delete(&self.key, &etag).await {
                Ok(()) => return,
                Err(e) if e.precondition_failed() => match self.state.read_lock(&self.key).await {
                    Ok(Some((Ok(seen), seen_etag, _))) if seen.id == self.id => {
                        *self.etag.lock().await = seen_etag;
                    }
                    _ => return, // not ours (any more)
                },
                Err(e) => {
                    eprintln!(
                        "warning: this run's lock s3://{}/{} could not be removed ({e}); the next run takes it over once its lease runs out",
                        self.state.bucket, self.key
                    );
                    return;
                }
            }
        }
    }
}

impl Drop for S3Lock {
    fn drop(&mut self) {
        // Not released (an error path): stop renewing, so the lease runs out.
        if let Some(r) = &self.renewer {
            r.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(code: &str, message: &str) -> String {
        let e = S3Error {
            op: "PutObject",
            status: Some(403),
            code: Some(code.to_string()),
            message: message.to_string(),
            bucket_region: None,
        };
        format!("{:#}", explain("team-state", e))
    }

    /// A 403 names S3's own error code, and a refusal by the bucket's KMS key is said to be
    /// the key's, not blamed on the identity's S3 actions.
    #[test]
    fn a_refusal_names_s3s_code_and_who_refuses() {
        let kms = denied(
            "KMS.AccessDeniedException",
            "User is not authorized to perform kms:GenerateDataKey",
        );
        assert!(kms.contains("KMS.AccessDeniedException"), "{kms}");
        assert!(
            kms.contains("KMS key") && kms.contains("kms:GenerateDataKey"),
            "{kms}"
        );
        let plain = denied("AccessDenied", "Access Denied");
        assert!(plain.contains("PutObject: AccessDenied"), "{plain}");
        assert!(plain.contains("bucket's policy"), "{plain}");
    }
}
