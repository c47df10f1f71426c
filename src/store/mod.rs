//! Where a stack's state lives: a local folder (`<dir>/<stack>.json`, an OS lock beside it),
//! or S3 (`s3://BUCKET/PREFIX/<stack>.json`, every write a compare-and-swap, a lease lock
//! object beside it) for a team and its CI runners.

use std::path::PathBuf;
use std::time::Duration;

use crate::state::{StackState, StateError, StateStore};

pub mod init;
pub mod journal;
pub mod lock;
pub mod s3;

/// A state location, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
}

impl Location {
    /// `s3://BUCKET[/PREFIX]`, or a folder.
    pub fn parse(text: &str) -> Result<Location, String> {
        // What the messages echo: a password written into the location is never among it.
        let shown = crate::report::printable(&crate::aws::redact_urls_in(text)).into_owned();
        let Some(rest) = text.strip_prefix("s3://") else {
            if text.is_empty() {
                return Err("--state is empty; give a folder or s3://BUCKET[/PREFIX]".into());
            }
            if text.contains("://") {
                return Err(format!(
                    "--state {shown}: only a folder or s3://BUCKET[/PREFIX] is understood"
                ));
            }
            return Ok(Location::Local(PathBuf::from(text)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric())
            && !bucket.contains("..");
        if !bucket_ok {
            let bucket = match bucket.rfind('@') {
                Some(at) => format!("***@{}", &bucket[at + 1..]),
                None => bucket.to_string(),
            };
            let why = if bucket.contains('@') {
                " (a user or password has no place in it: S3 takes credentials from the AWS profile or environment)"
            } else {
                ""
            };
            return Err(format!(
                "--state {shown}: '{}' is not an S3 bucket name (3 to 63 lower-case letters, digits, '-' and '.'){why}; give s3://BUCKET[/PREFIX]",
                crate::report::printable(&bucket)
            ));
        }
        let prefix = prefix.trim_end_matches('/');
        if prefix.starts_with('/')
            || prefix.split('/').any(|p| p == ".." || p == ".")
            || prefix.contains("//")
            || prefix.chars().any(|c| c.is_control())
            || prefix.len() > 512
        {
            return Err(format!(
                "--state {shown}: the prefix '{}' is not a plain S3 key prefix (no empty, '.' or '..' parts, no control characters)",
                crate::report::printable(prefix)
            ));
        }
        Ok(Location::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The object key of a stack's file under an S3 prefix.
    pub fn key(prefix: &str, stack: &str, ext: &str) -> String {
        if prefix.is_empty() {
            format!("{stack}.{ext}")
        } else {
            format!("{prefix}/{stack}.{ext}")
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// One stack's state, wherever it lives.
pub enum Store {
    Local(StateStore),
    S3(s3::S3Store),
}

impl Store {
    /// Where the state document is: a path, or `s3://bucket/key`.
    pub fn describe(&self) -> String {
        match self {
            Store::Local(s) => s.path().display().to_string(),
            Store::S3(s) => s.describe(),
        }
    }

    /// Where a run's records are kept as it goes, for the message of a run that stopped: the
    /// folder's file, or for S3 this machine's journal with the state object behind it.
    pub fn records_where(&self) -> String {
        match self {
            Store::Local(s) => s.path().display().to_string(),
            Store::S3(s) => format!(
                "this machine's journal of {} (.serverless-cli/ here), which the next run from this folder sends on",
                s.describe()
            ),
        }
    }

    /// The state, or `None` when there is none. Never writes.
    pub async fn load(&self) -> anyhow::Result<Option<StackState>> {
        match self {
            Store::Local(s) => Ok(s.load()?),
            Store::S3(s) => s.load().await,
        }
    }

    /// Writes the state and returns once the store holds it: atomically (a folder), or as a
    /// compare-and-swap on what this run last read or wrote (S3): a run that lost its lock
    /// never overwrites a newer state.
    pub async fn save(&self, state: &StackState) -> anyhow::Result<()> {
        match self {
            Store::Local(s) => Ok(s.save(state)?),
            Store::S3(s) => s.save(state).await,
        }
    }

    /// Records the state durably before the run goes on: the folder's file (as `save`), or
    /// S3's write-ahead journal on this machine with the upload behind it (`flush` waits for
    /// it; releasing the lock flushes).
    pub async fn record(&self, state: &StackState) -> anyhow::Result<()> {
        match self {
            Store::Local(s) => Ok(s.save(state)?),
            Store::S3(s) => s.record(state).await,
        }
    }

    /// Waits until the store holds everything recorded.
    pub async fn flush(&self) -> anyhow::Result<()> {
        match self {
            Store::Local(_) => Ok(()),
            Store::S3(s) => s.flush().await,
        }
    }

    /// Removes the state (after a complete teardown).
    pub async fn remove(&self) -> anyhow::Result<()> {
        match self {
            Store::Local(s) => Ok(s.remove()?),
            Store::S3(s) => s.remove().await,
        }
    }

    /// Takes the stack's lock, waiting up to `wait` for a busy one; held until released (or,
    /// for S3, until its lease runs out).
    pub async fn lock(&self, command: &str, wait: Duration) -> anyhow::Result<lock::Held> {
        match self {
            Store::Local(s) => {
                let started = std::time::Instant::now();
                loop {
                    match s.lock(command) {
                        Ok(l) => return Ok(lock::Held::Local(l)),
                        Err(StateError::Locked { .. }) if started.elapsed() < wait => {
                            tokio::time::sleep(lock::jittered(Duration::from_millis(500))).await
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Store::S3(s) => s.lock(command, wait).await.map(lock::Held::S3),
        }
    }
}

impl crate::kinds::context::Records for Store {
    fn record<'a>(
        &'a self,
        state: &'a StackState,
    ) -> futures::future::BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(Store::record(self, state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_location_is_never_echoed() {
        for bad in [
            "s3://ci:hunter2@team-state/ci",
            "https://ci:hunter2@example.com/state",
        ] {
            let e = Location::parse(bad).unwrap_err();
            assert!(!e.contains("hunter2"), "{e}");
            assert!(e.contains("***@"), "{e}");
        }
    }

    #[test]
    fn locations() {
        assert_eq!(
            Location::parse("s3://team-state/ci/prod").unwrap(),
            Location::S3 {
                bucket: "team-state".into(),
                prefix: "ci/prod".into()
            }
        );
        assert_eq!(
            Location::parse("s3://team-state/").unwrap(),
            Location::S3 {
                bucket: "team-state".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            Location::parse("state").unwrap(),
            Location::Local("state".into())
        );
        for bad in [
            "",
            "s3://",
            "s3://AB",
            "s3://a_b/x",
            "s3://bucket/../x",
            "s3://bucket//x",
            "gs://bucket",
            "s3://-bucket",
        ] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Location::key("", "prod", "json"), "prod.json");
        assert_eq!(Location::key("a/b", "prod", "lock"), "a/b/prod.lock");
    }
}
