//! The stack's lock: who holds it (host, user, pid, command, start, the CI job), and the
//! handle a run keeps while it holds it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The lock a run holds.
pub enum Held {
    Local(crate::state::StackLock),
    S3(super::s3::S3Lock),
}

impl Held {
    /// Gives the lock up (S3: deletes the lock object if it is still ours).
    pub async fn release(self) {
        match self {
            Held::Local(l) => drop(l),
            Held::S3(l) => l.release().await,
        }
    }
}

/// The locks this process holds, released when the command ends (whatever its outcome): a
/// lock held by a process that is gone is the one complaint this design answers.
static HELD: std::sync::Mutex<Vec<Held>> = std::sync::Mutex::new(Vec::new());

pub fn keep(held: Held) {
    HELD.lock().unwrap_or_else(|p| p.into_inner()).push(held);
}

pub async fn release_all() {
    let all = std::mem::take(&mut *HELD.lock().unwrap_or_else(|p| p.into_inner()));
    for h in all {
        h.release().await;
    }
}

/// Until when this process's S3 lease is surely its own, by this machine's monotonic clock
/// (`None`: no lease in force). A run paused past it (SIGSTOP, a suspended VM) may have been
/// taken over: it makes no more AWS calls.
static LEASE_UNTIL: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);

/// The lease was (re)confirmed at `at`: it is ours until `at + lease`, less a margin.
pub fn lease_confirmed(at: std::time::Instant, lease: Duration) {
    let until = at + lease.mul_f64(0.9);
    let mut l = LEASE_UNTIL.lock().unwrap_or_else(|p| p.into_inner());
    if l.is_none_or(|u| u < until) {
        *l = Some(until);
    }
}

/// `Err` when this process holds a lease that may have run out.
pub fn check_lease() -> Result<(), String> {
    match *LEASE_UNTIL.lock().unwrap_or_else(|p| p.into_inner()) {
        Some(until) if std::time::Instant::now() > until => Err(
            "this run's lock lease ran out (the run was paused or cut off for longer than the lease): its lock may have been taken over by another run, so it stops before making any more changes. Run again"
                .to_string(),
        ),
        _ => Ok(()),
    }
}

/// What a lock object says about its holder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Names this lock (for `serverless-cli state unlock ID`).
    pub id: String,
    pub stack: String,
    pub host: String,
    pub user: String,
    pub pid: u32,
    pub command: String,
    /// Epoch seconds, by the holder's clock.
    pub started_at: u64,
    pub renewed_at: u64,
    /// The holder renews well within this; a lock not renewed for this long is stale.
    pub lease_secs: u64,
    /// The CI job holding it, where the environment says (a URL, or an id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_job: Option<String>,
}

impl LockInfo {
    /// This process's lock, new.
    pub fn mine(stack: &str, command: &str, lease: Duration) -> LockInfo {
        let now = crate::state::now_secs();
        LockInfo {
            id: crate::serve::request_id(),
            stack: stack.to_string(),
            host: hostname(),
            user: std::env::var("USER")
                .or_else(|_| std::env::var("USERNAME"))
                .unwrap_or_else(|_| "?".into()),
            pid: std::process::id(),
            command: command.to_string(),
            started_at: now,
            renewed_at: now,
            lease_secs: lease.as_secs().max(1),
            ci_job: ci_job(),
        }
    }

    /// `pid 41 of ada on build-7 (deploy, CI job https://...), started 12 s ago, renewed 3 s ago`.
    pub fn describe(&self, now: u64) -> String {
        let ago = |t: u64| now.saturating_sub(t);
        format!(
            "lock {} held by pid {} of {} on {} ({}{}), started {} s ago, last renewed {} s ago",
            self.id,
            self.pid,
            self.user,
            self.host,
            self.command,
            self.ci_job
                .as_deref()
                .map(|j| format!(", CI job {j}"))
                .unwrap_or_default(),
            ago(self.started_at),
            ago(self.renewed_at)
        )
    }

    /// Held by a process of this host that is no longer running.
    pub fn holder_is_dead_here(&self) -> bool {
        self.host == hostname()
            && self.pid != std::process::id()
            && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
            && std::path::Path::new("/proc/self").exists()
    }
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this host".to_string())
}

/// The CI job this process runs in, from the variables each CI system sets.
pub fn ci_job() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if var("GITHUB_ACTIONS").is_some() {
        let run = match (
            var("GITHUB_SERVER_URL"),
            var("GITHUB_REPOSITORY"),
            var("GITHUB_RUN_ID"),
        ) {
            (Some(s), Some(r), Some(id)) => format!("{s}/{r}/actions/runs/{id}"),
            (_, _, Some(id)) => format!("GitHub Actions run {id}"),
            _ => "GitHub Actions".into(),
        };
        return Some(run);
    }
    if var("GITLAB_CI").is_some() {
        return var("CI_JOB_URL").or_else(|| var("CI_JOB_ID").map(|j| format!("GitLab job {j}")));
    }
    if var("BUILDKITE").is_some() {
        return var("BUILDKITE_BUILD_URL")
            .or_else(|| var("BUILDKITE_JOB_ID").map(|j| format!("Buildkite job {j}")));
    }
    if var("CIRCLECI").is_some() {
        return var("CIRCLE_BUILD_URL");
    }
    if var("JENKINS_URL").is_some() {
        return var("BUILD_URL").or_else(|| var("BUILD_TAG"));
    }
    None
}

/// A pause of about `d`, jittered (+-25%) so that waiting runs do not knock in step.
pub fn jittered(d: Duration) -> Duration {
    let r = crate::serve::request_id();
    let n = u64::from_str_radix(&r[..4], 16).unwrap_or(0x8000);
    d.mul_f64(0.75 + (n as f64 / 65535.0) * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_names_its_holder_and_ci_job() {
        let mut l = LockInfo::mine("prod", "deploy", Duration::from_secs(60));
        l.ci_job = Some("https://ci.example/job/7".into());
        let d = l.describe(l.renewed_at + 5);
        assert!(
            d.contains("deploy") && d.contains("job/7") && d.contains("5 s ago"),
            "{d}"
        );
        assert!(!l.holder_is_dead_here(), "this very process is alive");
        l.pid = u32::MAX - 1;
        assert!(l.holder_is_dead_here());
        let j = jittered(Duration::from_secs(1));
        assert!(j >= Duration::from_millis(750) && j <= Duration::from_millis(1250));
    }
}
