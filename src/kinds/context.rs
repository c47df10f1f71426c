//! What a kind is given to work with: the run (clients, retries, progress, the state it
//! records into), deploy's and teardown's contexts, and what a check finds. They live beside
//! the trait, below the operations that build them: a kind never reaches up into `ops`.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;

use crate::aws::{retry, Aws, AwsError, RetryPolicy};
use crate::code::{CodePackage, Codes};
use crate::engine::{Action, StepResult};
use crate::error::not_ours;
use crate::kinds::graph::Graph;
use crate::kinds::Check;
use crate::report::Progress;
use crate::resources::{api, Owner};
use crate::stack::StackSpec;
use crate::state::StackState;

/// Where a run's records go: the state's store. Every record is durable before anything that
/// depends on it starts (`Run::record`).
pub trait Records: Send + Sync {
    fn record<'a>(&'a self, state: &'a StackState) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// What every step of a deploy or teardown shares: the clients, the retry policy, progress,
/// and the state each step records into (saved atomically on every change).
pub struct Run {
    pub aws: Aws,
    pub store: std::sync::Arc<dyn Records>,
    pub state: tokio::sync::Mutex<StackState>,
    pub progress: Progress,
    pub timing: Timing,
    /// The state's writer: the version of the state last saved. Records made while a save is
    /// in flight go out together in the next one.
    pub saved: tokio::sync::Mutex<u64>,
    /// The version of the state in memory (one more per record).
    pub version: std::sync::atomic::AtomicU64,
}

impl Run {
    pub fn aws(&self) -> &Aws {
        &self.aws
    }

    /// A copy of the state as it is now.
    pub async fn snapshot(&self) -> StackState {
        self.state.lock().await.clone()
    }

    /// A run over a state, saved to `store` on every record.
    pub fn new(
        aws: Aws,
        store: std::sync::Arc<dyn Records>,
        state: StackState,
        progress: Progress,
        timing: Timing,
    ) -> Run {
        Run {
            aws,
            store,
            state: tokio::sync::Mutex::new(state),
            progress,
            timing,
            saved: tokio::sync::Mutex::new(0),
            version: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Changes the state and returns once the store holds the change durably (a folder's
    /// file; for S3, this machine's journal, with the upload behind it): nothing that depends
    /// on the change starts before it is recorded. Changes that come while a save is in flight
    /// share the next save.
    pub async fn record(&self, change: impl FnOnce(&mut StackState)) -> anyhow::Result<()> {
        use std::sync::atomic::Ordering;
        let mine = {
            let mut s = self.state.lock().await;
            change(&mut s);
            s.updated_at = crate::state::now_secs();
            self.version.fetch_add(1, Ordering::SeqCst) + 1
        };
        let mut saved = self.saved.lock().await;
        if *saved >= mine {
            return Ok(());
        }
        let (snapshot, version) = {
            let s = self.state.lock().await;
            (s.clone(), self.version.load(Ordering::SeqCst))
        };
        self.store.record(&snapshot).await?;
        *saved = version;
        Ok(())
    }

    /// One AWS call with retries for throttling, busy resources and transient faults.
    pub async fn call<T, F, Fut>(&self, step: &str, f: F) -> Result<T, AwsError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, AwsError>>,
    {
        // (A run whose lock lease may have run out makes no more calls: `retry` checks.)
        retry(&self.timing.retry, &self.progress, step, f).await
    }
}

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
    /// How long deploy waits for a requested certificate to be ISSUED (`None`: it does not
    /// wait; the next deploy resumes, `--no-wait`).
    pub certificate_wait: Option<Duration>,
}

/// Everything the steps share.
pub struct DeployCtx {
    pub run: Run,
    pub spec: StackSpec,
    pub graph: Graph,
    /// Each function's code, by its logical name.
    pub codes: Codes,
    /// A table may be deleted (removed from the stack file, or its key changed).
    pub allow_data_loss: bool,
    /// REST APIs of the stack's API name, listed while the identity call ran (so the lookup
    /// before CreateRestApi costs no time on the critical path); used by the first attempt.
    pub api_lookup: std::sync::Mutex<Option<Vec<api::ApiInfo>>>,
    /// The REST API was created by this run: it has no resources of ours yet to look for.
    pub fresh_api: AtomicBool,
    /// One lock per method (and per function policy): AWS refuses concurrent changes to them.
    pub method_locks: MethodLocks,
    /// The roles created by this run (their keys): they hold no policy the stack did not put.
    pub fresh_roles: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// What the checks of the stack as a whole found before the run (routes in the API that
    /// the stack does not have, statements in a function's policy it did not put): the kinds
    /// that answer for them act on them ([`crate::kinds::Kind::answer`]).
    pub findings: Vec<KeyCheck>,
}

impl DeployCtx {
    pub fn code_of(&self, function: &str) -> anyhow::Result<&CodePackage> {
        self.codes
            .get(function)
            .ok_or_else(|| anyhow::anyhow!("no code was loaded for function '{function}'"))
    }
}

impl std::ops::Deref for DeployCtx {
    type Target = Run;
    fn deref(&self) -> &Run {
        &self.run
    }
}

/// The method is the unit of concurrency in API Gateway: PutMethodResponse, PutIntegration
/// and PutIntegrationResponse on one method are refused with ConflictException while another
/// of them is in flight (docs/aws.md, "Eventual consistency and concurrent changes"; Terraform holds one global lock for the same
/// reason). Calls on one method go one at a time, in the order they ask; calls on different
/// methods still run at once. The same holds for one function's resource policy.
#[derive(Default)]
pub struct MethodLocks {
    locks: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl MethodLocks {
    /// Runs `call` while holding the lock named `on` (a route's label, a function's policy).
    pub async fn on<T>(&self, on: &str, call: impl std::future::Future<Output = T>) -> T {
        let lock = self
            .locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(on.to_string())
            .or_default()
            .clone();
        let _held = lock.lock().await;
        call.await
    }
}

/// What the round of reads before a deploy found.
pub struct Before {
    pub checks: Option<Vec<KeyCheck>>,
    pub api_lookup: Option<Vec<api::ApiInfo>>,
}

pub struct TeardownCtx {
    pub run: Run,
    /// The stack's identity as its owner tags write it ([`crate::stack::owner_id`]): only what
    /// carries it is removed.
    pub owner: String,
    pub keep_table: bool,
    pub spec: crate::stack::StackSpec,
    pub graph: Graph,
    /// Changes to one function's policy go one at a time.
    pub locks: MethodLocks,
}

impl TeardownCtx {
    /// A resource's name: as recorded, else as the model names it.
    pub fn name_of<T: crate::state::Typed>(
        &self,
        state: &StackState,
        key: &str,
        name: impl Fn(T) -> String,
    ) -> anyhow::Result<String> {
        if let Some(rec) = state.get::<T>(key) {
            return Ok(name(rec));
        }
        let node = self
            .graph
            .node(key)
            .ok_or_else(|| anyhow::anyhow!("{key} is neither recorded nor in the model"))?;
        let w = crate::kinds::Want {
            spec: &self.spec,
            state,
        };
        Ok(node.kind.label(&w, node))
    }
}

impl std::ops::Deref for TeardownCtx {
    type Target = Run;
    fn deref(&self) -> &Run {
        &self.run
    }
}

/// Forgets `key` and everything that lives in it.
pub async fn forget_with_contents(ctx: &TeardownCtx, key: &str) -> anyhow::Result<()> {
    let gone = ctx.graph.with_contents(key);
    ctx.record(|s| {
        for k in &gone {
            s.forget(k);
        }
    })
    .await
}

/// A resource found under the stack's name whose owner tag is not this stack: an error when the
/// state claims it (someone pointed the state at another's resource), left alone otherwise.
pub fn foreign(
    recorded: bool,
    kind: &str,
    name: &str,
    owner: &Owner,
) -> anyhow::Result<StepResult> {
    if recorded {
        let fix = if *owner == Owner::Untagged {
            "It was left in place. If it is this stack's and only its tag was removed, run deploy (it puts the tag back), then teardown; otherwise fix or remove the state file's entry."
        } else {
            "It was left in place; fix or remove the state file's entry."
        };
        Err(not_ours(kind, name, owner, fix).into())
    } else {
        Ok(StepResult::new(Action::Skipped, name.to_string())
            .with_detail(format!("{kind} belongs to {}", owner.describe())))
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Ok,
    Missing,
    Drifted,
    /// The check itself failed (an AWS error).
    Unknown,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Missing => "missing",
            Health::Drifted => "drifted",
            Health::Unknown => "unknown",
        }
    }
}

/// One resource's check, with the key it is about (empty for a check of the whole stack) and
/// the status row it is shown in.
#[derive(Debug, Clone)]
pub struct KeyCheck {
    pub key: String,
    pub row: &'static str,
    pub check: Check,
}
