//! The operations: what deploy, status and teardown do, given a loaded state and clients.

use crate::aws::{retry, Aws, AwsError};
use crate::report::Progress;
use crate::state::{StackState, StateStore};

pub mod deploy;
pub mod discover;
pub mod plan;
pub mod status;
pub mod teardown;

/// What every step of a deploy or teardown shares: the clients, the retry policy, progress,
/// and the state each step records into (saved atomically on every change).
pub struct Run {
    pub aws: Aws,
    pub store: StateStore,
    pub state: tokio::sync::Mutex<StackState>,
    pub progress: Progress,
    pub timing: deploy::Timing,
}

impl Run {
    pub fn aws(&self) -> &Aws {
        &self.aws
    }

    /// A copy of the state as it is now.
    pub async fn snapshot(&self) -> StackState {
        self.state.lock().await.clone()
    }

    /// Changes the state and saves it atomically before returning.
    pub async fn record(&self, change: impl FnOnce(&mut StackState)) -> anyhow::Result<()> {
        let mut s = self.state.lock().await;
        change(&mut s);
        s.updated_at = crate::state::now_secs();
        self.store.save(&s)?;
        Ok(())
    }

    /// One AWS call with retries for throttling, busy resources and transient faults.
    pub async fn call<T, F, Fut>(&self, step: &str, f: F) -> Result<T, AwsError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, AwsError>>,
    {
        retry(&self.timing.retry, &self.progress, step, f).await
    }
}
