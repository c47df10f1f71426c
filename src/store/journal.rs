//! This machine's copy of a stack's state in S3: the write-ahead journal that lets a run
//! record an ID durably in a few milliseconds (an fsync here) and send it to S3 behind,
//! and the cache that lets the next run start its reads before S3 has answered.
//!
//! One file per state object, `.serverless-cli/s3-journal/<stack>-<hash>.json` in the working
//! folder (the hash of the
//! endpoint, region, bucket and key, so that two buckets or two emulators never share one),
//! mode 0600, written atomically. It holds:
//! - `state`: the newest state this machine knows (what its last run recorded);
//! - `etag`: the ETag of the S3 object this copy was last in step with (`None`: no object);
//! - `in_sync`: whether `state` is exactly what that object holds. `false` means records
//!   that this machine has made durable but not yet uploaded: a run that crashed before its
//!   upload, whose next run on this machine finishes the upload (if S3 still holds `etag`);
//! - `deployed`: the digest of the inputs of the last deploy that completed from here, so a
//!   deploy of the same inputs can expect to change nothing and need no lock.
//!
//! Only a run holding the stack's lock writes the journal; other runs only read it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::state::{StackState, MAX_STATE_BYTES};

const FORMAT: u32 = 1;

/// What the journal file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Copy {
    pub format: u32,
    /// `s3://bucket/key in REGION [via ENDPOINT]`: what this file is a copy of.
    pub object: String,
    pub etag: Option<String>,
    pub in_sync: bool,
    pub state: Option<StackState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed: Option<String>,
}

/// The journal of one state object.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
    object: String,
    stack: String,
}

impl Journal {
    /// The journal of `object` (`s3://bucket/key`) reached through `endpoint` in `region`,
    /// under `dir`.
    pub fn new(
        dir: &Path,
        endpoint: Option<&str>,
        region: &str,
        object: &str,
        stack: &str,
    ) -> Self {
        let mut h = Sha256::new();
        for part in [endpoint.unwrap_or(""), region, object] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        let hash: String = h
            .finalize()
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect();
        // Where the copy came from, for a person, and so a copy of another endpoint's or
        // region's object under this name (copied by hand) is never taken for this one.
        let object = match endpoint {
            Some(e) => format!("{object} in {region} via {e}"),
            None => format!("{object} in {region}"),
        };
        Journal {
            path: dir.join("s3-journal").join(format!("{stack}-{hash}.json")),
            object,
            stack: stack.to_string(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The copy, or `None` when there is none or it cannot be used (a warning says why: a
    /// copy that is not trusted is only a slower start, never a wrong state).
    pub fn read(&self) -> Option<Copy> {
        let bytes = match crate::safe_fs::read_capped(&self.path, MAX_STATE_BYTES * 2) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                eprintln!(
                    "warning: this machine's copy of the state, {}, cannot be read ({e}); starting from S3 alone",
                    self.path.display()
                );
                return None;
            }
        };
        let parsed = serde_json::from_slice::<serde_json::Value>(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|mut v| {
                // The state inside goes through the state file's own checks and migrations.
                let state = match v.get_mut("state").map(serde_json::Value::take) {
                    Some(serde_json::Value::Null) | None => None,
                    Some(s) => Some(
                        crate::state::parse_state(&self.path, &s.to_string(), &self.stack)
                            .map_err(|e| e.to_string())?,
                    ),
                };
                let mut copy: Copy = serde_json::from_value(v).map_err(|e| e.to_string())?;
                copy.state = state;
                Ok(copy)
            });
        match parsed {
            Ok(c) if c.format == FORMAT && c.object == self.object => Some(c),
            Ok(_) => None,
            Err(e) => {
                eprintln!(
                    "warning: this machine's copy of the state, {}, is not one serverless-cli can use ({e}); starting from S3 alone",
                    self.path.display()
                );
                None
            }
        }
    }

    /// Writes the copy atomically and durably.
    pub fn write(
        &self,
        etag: Option<&str>,
        in_sync: bool,
        state: Option<&StackState>,
        deployed: Option<&str>,
    ) -> anyhow::Result<()> {
        #[derive(Serialize)]
        struct Out<'a> {
            format: u32,
            object: &'a str,
            etag: Option<&'a str>,
            in_sync: bool,
            state: Option<&'a StackState>,
            #[serde(skip_serializing_if = "Option::is_none")]
            deployed: Option<&'a str>,
        }
        let mut json = serde_json::to_vec_pretty(&Out {
            format: FORMAT,
            object: &self.object,
            etag,
            in_sync,
            state,
            deployed,
        })?;
        json.push(b'\n');
        if let Some(dir) = self.path.parent() {
            crate::safe_fs::create_private_dir(dir)?;
        }
        crate::state::write_atomic(&self.path, &json)?;
        Ok(())
    }

    /// Removes the copy (the state is gone from S3 too).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }

    /// Moves a copy whose records never reached S3 out of the way, when S3's state has changed
    /// since (another run wrote it): returns where it went.
    pub fn set_aside(&self) -> Option<PathBuf> {
        let to = self
            .path
            .with_extension(format!("unsent-{}.json", crate::state::now_secs()));
        std::fs::rename(&self.path, &to).ok().map(|_| to)
    }
}

/// The digest of what a deploy is asked to make (the same inputs give the same digest).
pub fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    for p in parts {
        h.update([0]);
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StackState {
        StackState::new(
            "prod",
            "us-east-1",
            None,
            crate::stack::Names::defaults("prod"),
        )
    }

    #[cfg(unix)]
    #[test]
    fn a_journal_folder_that_was_open_to_others_is_closed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("s3-journal");
        std::fs::create_dir(&j).unwrap();
        std::fs::set_permissions(&j, std::fs::Permissions::from_mode(0o755)).unwrap();
        crate::safe_fs::create_private_dir(&j).unwrap();
        let mode = std::fs::metadata(&j).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // A link in its place is not followed.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o755)).unwrap();
        let link = dir.path().join("linked");
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        assert!(crate::safe_fs::create_private_dir(&link).is_err());
        let mode = std::fs::metadata(&elsewhere).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn a_copy_round_trips_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path(), None, "us-east-1", "s3://b/prod.json", "prod");
        assert!(j.read().is_none());
        let s = sample();
        j.write(Some("\"e1\""), false, Some(&s), Some("d")).unwrap();
        let c = j.read().unwrap();
        assert_eq!(c.etag.as_deref(), Some("\"e1\""));
        assert!(!c.in_sync);
        assert_eq!(c.state.as_ref(), Some(&s));
        assert_eq!(c.deployed.as_deref(), Some("d"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(j.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dmode = std::fs::metadata(j.path().parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dmode & 0o777, 0o700);
        }
        // Another object (or endpoint) has another journal.
        let other = Journal::new(
            dir.path(),
            Some("http://x"),
            "us-east-1",
            "s3://b/prod.json",
            "prod",
        );
        assert_ne!(other.path(), j.path());
        assert!(other.read().is_none());
        // A copy of another object under this name is not used.
        std::fs::copy(j.path(), other.path()).unwrap();
        assert!(other.read().is_none());
        let aside = j.set_aside().unwrap();
        assert!(aside.exists() && j.read().is_none());
    }

    #[test]
    fn a_broken_or_linked_copy_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path(), None, "us-east-1", "s3://b/prod.json", "prod");
        std::fs::create_dir_all(j.path().parent().unwrap()).unwrap();
        std::fs::write(j.path(), b"{not json").unwrap();
        assert!(j.read().is_none());
        #[cfg(unix)]
        {
            let target = dir.path().join("elsewhere.json");
            j.write(None, true, Some(&sample()), None).unwrap();
            std::fs::rename(j.path(), &target).unwrap();
            std::os::unix::fs::symlink(&target, j.path()).unwrap();
            assert!(j.read().is_none(), "a link is not followed");
        }
    }

    #[test]
    fn digests_follow_their_inputs() {
        assert_eq!(digest(&["a", "b"]), digest(&["a", "b"]));
        assert_ne!(digest(&["a", "b"]), digest(&["ab"]));
        assert_ne!(digest(&["a"]), digest(&["b"]));
    }
}
