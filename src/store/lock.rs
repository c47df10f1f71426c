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
    // No lease is in force once every lock is given up.
    crate::lease::end();
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
            id: crate::ids::request_id(),
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

    /// `lock 1a2b held by pid 41 of ada on build-7 (deploy, CI job https://...), started 12 s
    /// ago, last renewed 3 s ago`. `renewed_ago`: the lock object's age on S3's clock (its
    /// `Date` less its Last-Modified); without it, this machine's clock against the holder's.
    pub fn describe(&self, renewed_ago: Option<u64>) -> String {
        let renewed =
            renewed_ago.unwrap_or_else(|| crate::state::now_secs().saturating_sub(self.renewed_at));
        // Both times of the lock are the holder's own clock: their difference is sound.
        let started = renewed + self.renewed_at.saturating_sub(self.started_at);
        format!(
            "lock {} held by pid {} of {} on {} ({}{}), started {started} s ago, last renewed {renewed} s ago",
            crate::report::printable(&self.id),
            self.pid,
            crate::report::printable(&self.user),
            crate::report::printable(&self.host),
            crate::report::printable(&self.command),
            self.ci_job
                .as_deref()
                .map(|j| format!(", CI job {}", crate::report::printable(&redact_job(j))))
                .unwrap_or_default(),
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

/// The CI job this process runs in, from the variables each CI system sets, with no
/// credentials: a job URL's user and password (GitLab's `https://user:token@host/...` form)
/// and its query are left out.
pub fn ci_job() -> Option<String> {
    ci_job_raw().map(|j| redact_job(&j))
}

/// A job URL as it may be shown: no user or password, no query or fragment.
pub fn redact_job(job: &str) -> String {
    let cut = job.find(['?', '#']).unwrap_or(job.len());
    crate::aws::redact_urls_in(&job[..cut]).into_owned()
}

fn ci_job_raw() -> Option<String> {
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
    let r = crate::ids::request_id();
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
        l.started_at = l.renewed_at - 40;
        let d = l.describe(Some(5));
        assert!(
            d.contains("deploy") && d.contains("job/7") && d.contains("renewed 5 s ago"),
            "{d}"
        );
        assert!(d.contains("started 45 s ago"), "{d}");
        assert!(!l.holder_is_dead_here(), "this very process is alive");
        l.pid = u32::MAX - 1;
        assert!(l.holder_is_dead_here());
        let j = jittered(Duration::from_secs(1));
        assert!(j >= Duration::from_millis(750) && j <= Duration::from_millis(1250));
    }

    #[test]
    fn a_job_url_is_shown_without_its_credentials() {
        let shown = redact_job(
            "https://gitlab-ci-token:glcbt-SECRET@gitlab.example.com/g/p/-/jobs/9?private_token=T2",
        );
        assert_eq!(shown, "https://***@gitlab.example.com/g/p/-/jobs/9");
        let mut l = LockInfo::mine("prod", "deploy", Duration::from_secs(60));
        l.ci_job = Some("https://u:pw@ci.example/job/7".into());
        let d = l.describe(Some(1));
        assert!(!d.contains("pw"), "{d}");
    }
}
