//! The operations: what deploy, status and teardown do, given a loaded state and clients.

use crate::aws::{retry, Aws, AwsError};
use crate::report::Progress;
use crate::state::StackState;
use crate::store::Store;

pub mod deploy;
pub mod discover;
pub mod plan;
pub mod status;
pub mod teardown;

/// What every step of a deploy or teardown shares: the clients, the retry policy, progress,
/// and the state each step records into (saved atomically on every change).
pub struct Run {
    pub aws: Aws,
    pub store: std::sync::Arc<Store>,
    pub state: tokio::sync::Mutex<StackState>,
    pub progress: Progress,
    pub timing: deploy::Timing,
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
        store: std::sync::Arc<Store>,
        state: StackState,
        progress: Progress,
        timing: deploy::Timing,
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
