//! The state file: `<state-dir>/<stack>.json`, every ID and ARN of the stack.
//!
//! Written atomically (temporary file in the same folder, flushed and synced, renamed over the
//! old one, folder synced) after every step, mode 0600. A run holds an exclusive OS lock on
//! `<stack>.lock` for its whole length; the kernel releases it when the process dies, so a
//! killed run never leaves a stale lock. The format is documented in `state/README.md`.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::cli::Billing;
use crate::stack::{Names, PolicyMode};

/// The format version this build writes.
pub const STATE_VERSION: u32 = 2;
/// Older versions this build reads: version 2 only added records (GET /user/{uid}), so a
/// version 1 file loads as it is and deploy adds the rest.
const READABLE_VERSIONS: [u64; 2] = [1, 2];

/// Everything known about one stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackState {
    pub version: u32,
    pub stack: String,
    pub region: String,
    /// Account id, known after the first call to AWS.
    pub account: Option<String>,
    /// Custom endpoint the stack lives behind (an emulator), if any.
    pub endpoint: Option<String>,
    pub names: Names,
    /// Seconds since the epoch of the last save.
    pub updated_at: u64,
    #[serde(default)]
    pub table: Option<TableRecord>,
    #[serde(default)]
    pub role: Option<RoleRecord>,
    #[serde(default)]
    pub role_policy: Option<PolicyRecord>,
    #[serde(default)]
    pub function: Option<FunctionRecord>,
    #[serde(default)]
    pub api: Option<ApiRecord>,
    /// The `/user` resource.
    #[serde(default)]
    pub resource: Option<ResourceRecord>,
    /// The `/user/{uid}` resource.
    #[serde(default)]
    pub item_resource: Option<ResourceRecord>,
    /// The request validator and body model of POST /user.
    #[serde(default)]
    pub request_validator: Option<ValidatorRecord>,
    #[serde(default)]
    pub method: Option<FingerprintRecord>,
    #[serde(default)]
    pub method_responses: Option<FingerprintRecord>,
    #[serde(default)]
    pub integration: Option<FingerprintRecord>,
    #[serde(default)]
    pub integration_responses: Option<FingerprintRecord>,
    /// Permission for POST /user.
    #[serde(default)]
    pub permission: Option<PermissionRecord>,
    /// Permission for GET /user/{uid}.
    #[serde(default)]
    pub get_permission: Option<PermissionRecord>,
    #[serde(default)]
    pub deployment: Option<DeploymentRecord>,
    #[serde(default)]
    pub log_group: Option<LogGroupRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRecord {
    pub name: String,
    pub arn: String,
    pub billing: Billing,
    /// ACTIVE was seen after the last create or update.
    pub ready: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRecord {
    pub name: String,
    pub arn: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRecord {
    pub mode: PolicyMode,
    /// Inline policy name (least privilege) or managed policy ARNs attached.
    pub inline_policy: Option<String>,
    #[serde(default)]
    pub managed_arns: Vec<String>,
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionRecord {
    pub name: String,
    pub arn: String,
    /// Base64 SHA-256 of the deployed zip, as Lambda reports it (`CodeSha256`).
    pub code_sha256: String,
    pub runtime: String,
    pub config_fingerprint: String,
    /// Active and Successful were seen after the last create or update.
    pub ready: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiRecord {
    pub id: String,
    pub name: String,
    pub root_resource_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceRecord {
    pub id: String,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorRecord {
    pub id: String,
    pub name: String,
    /// The body model the POST method names.
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FingerprintRecord {
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionRecord {
    pub statement_id: String,
    pub source_arn: String,
    pub function_arn: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogGroupRecord {
    pub name: String,
    pub arn: String,
    pub retention_days: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentRecord {
    pub id: String,
    pub stage: String,
    /// Method and integration fingerprints this deployment was made from.
    pub fingerprint: String,
}

impl StackState {
    pub fn new(stack: &str, region: &str, endpoint: Option<&str>, names: Names) -> Self {
        StackState {
            version: STATE_VERSION,
            stack: stack.to_string(),
            region: region.to_string(),
            account: None,
            endpoint: endpoint.map(str::to_string),
            names,
            updated_at: now_secs(),
            table: None,
            role: None,
            role_policy: None,
            function: None,
            api: None,
            resource: None,
            item_resource: None,
            request_validator: None,
            method: None,
            method_responses: None,
            integration: None,
            integration_responses: None,
            permission: None,
            get_permission: None,
            deployment: None,
            log_group: None,
        }
    }

    /// The record of the API resource at `path` (`/user` or `/user/{uid}`).
    pub fn resource_at(&self, path: &str) -> Option<&ResourceRecord> {
        match path {
            "/user" => self.resource.as_ref(),
            "/user/{uid}" => self.item_resource.as_ref(),
            _ => None,
        }
    }

    /// Records (or forgets) the API resource at `path`.
    pub fn set_resource_at(&mut self, path: &str, rec: Option<ResourceRecord>) {
        match path {
            "/user" => self.resource = rec,
            _ => self.item_resource = rec,
        }
    }

    /// Refuses a state that belongs to another region or endpoint.
    pub fn check_target(&self, region: &str, endpoint: Option<&str>) -> Result<(), StateError> {
        if self.region != region {
            return Err(StateError::Mismatch(format!(
                "stack '{}' was deployed to region {}, not {region}; pass --region {} or use another --stack",
                self.stack, self.region, self.region
            )));
        }
        if self.endpoint.as_deref() != endpoint {
            return Err(StateError::Mismatch(format!(
                "stack '{}' was deployed to endpoint {}, not {}; pass the same --endpoint-url or use another --stack",
                self.stack,
                self.endpoint.as_deref().unwrap_or("AWS (no custom endpoint)"),
                endpoint.unwrap_or("AWS (no custom endpoint)")
            )));
        }
        Ok(())
    }

    /// Refuses a state that belongs to another account.
    pub fn check_account(&self, account: &str) -> Result<(), StateError> {
        match &self.account {
            Some(a) if a != account => Err(StateError::Mismatch(format!(
                "stack '{}' belongs to AWS account {a}, but the credentials in use are for account {account}; use that account's credentials (--profile) or another --stack",
                self.stack
            ))),
            _ => Ok(()),
        }
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state file {path} is not valid: {reason}; restore it from a backup, or move it aside and run deploy to adopt the stack's tagged resources")]
    Corrupt { path: PathBuf, reason: String },
    #[error("state file {path} has format version {found}, but this serverless-cli reads versions 1 to {STATE_VERSION}; use a serverless-cli release that matches it")]
    Version { path: PathBuf, found: u64 },
    #[error("{0}")]
    Mismatch(String),
    #[error("{what} {path} cannot be used: {reason}")]
    Refused {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "stack '{stack}' is in use by another serverless-cli run ({holder}); wait for it to finish"
    )]
    Locked { stack: String, holder: String },
    // The source is the next link of the error chain, printed after this one: not repeated.
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A state file is a few KiB; anything this large is not one.
pub const MAX_STATE_BYTES: u64 = 16 * 1024 * 1024;

/// Where one stack's files live.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
    stack: String,
}

impl StateStore {
    pub fn new(dir: &Path, stack: &str) -> Self {
        StateStore {
            dir: dir.to_path_buf(),
            stack: stack.to_string(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.stack))
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.stack))
    }

    /// Reads the state, or `None` when there is no state file. Never writes.
    pub fn load(&self) -> Result<Option<StackState>, StateError> {
        let path = self.path();
        // Never through a link, never a FIFO or device, never more than MAX_STATE_BYTES.
        let bytes = match crate::safe_fs::read_capped(&path, MAX_STATE_BYTES) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Other => {
                return Err(StateError::Refused {
                    what: "state file",
                    path,
                    reason: e.to_string(),
                })
            }
            Err(source) => {
                return Err(StateError::Io {
                    what: "cannot read state file",
                    path,
                    source,
                })
            }
        };
        let text = String::from_utf8(bytes).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            reason: format!("it cannot be read as text ({e})"),
        })?;
        parse_state(&path, &text, &self.stack).map(Some)
    }

    /// Writes the state atomically with mode 0600.
    pub fn save(&self, state: &StackState) -> Result<(), StateError> {
        let path = self.path();
        let io_err = |what: &'static str| {
            let path = path.clone();
            move |source| StateError::Io { what, path, source }
        };
        fs::create_dir_all(&self.dir).map_err(io_err("cannot create state folder for"))?;
        let mut json = serde_json::to_vec_pretty(state).map_err(|e| StateError::Io {
            what: "cannot encode state",
            path: path.clone(),
            source: io::Error::other(e),
        })?;
        json.push(b'\n');
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{}.", self.stack))
            .suffix(".tmp")
            .permissions(mode_0600())
            .tempfile_in(&self.dir)
            .map_err(io_err("cannot create a temporary file beside"))?;
        tmp.write_all(&json)
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(io_err("cannot write state file"))?;
        tmp.persist(&path)
            .map_err(|e| e.error)
            .map_err(io_err("cannot replace state file"))?;
        // Make the rename itself durable.
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Removes the state file (after a complete teardown).
    pub fn remove(&self) -> Result<(), StateError> {
        match fs::remove_file(self.path()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Io {
                what: "cannot remove state file",
                path: self.path(),
                source,
            }),
        }
    }

    /// Takes the stack's lock, or says who holds it. Held until the guard is dropped.
    pub fn lock(&self, command: &str) -> Result<StackLock, StateError> {
        let path = self.lock_path();
        fs::create_dir_all(&self.dir).map_err(|source| StateError::Io {
            what: "cannot create state folder for",
            path: path.clone(),
            source,
        })?;
        // A lock file that is a link (to another file it would overwrite) or a FIFO is refused.
        let mut file = crate::safe_fs::open_regular(&path, true).map_err(|source| {
            if source.kind() == io::ErrorKind::Other {
                StateError::Refused {
                    what: "lock file",
                    path: path.clone(),
                    reason: source.to_string(),
                }
            } else {
                StateError::Io {
                    what: "cannot open lock file",
                    path: path.clone(),
                    source,
                }
            }
        })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = (&file).take(4096).read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(StateError::Locked {
                    stack: self.stack.clone(),
                    holder: if holder.is_empty() {
                        format!("lock file {}", path.display())
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err(fs::TryLockError::Error(source)) => {
                return Err(StateError::Io {
                    what: "cannot lock",
                    path,
                    source,
                })
            }
        }
        let host = fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "this host".to_string());
        let holder = format!(
            "pid {} on {host}, '{command}', since {} (epoch seconds)",
            std::process::id(),
            now_secs()
        );
        // Best effort: the lock itself is what matters, the text only names the holder.
        let _ = file.set_len(0).and_then(|_| {
            file.write_all(holder.as_bytes())?;
            file.sync_all()
        });
        Ok(StackLock { _file: file })
    }
}

/// Holds the stack's lock while alive.
pub struct StackLock {
    _file: File,
}

#[cfg(unix)]
fn mode_0600() -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    fs::Permissions::from_mode(0o600)
}

#[cfg(not(unix))]
fn mode_0600() -> fs::Permissions {
    fs::metadata(".")
        .map(|m| m.permissions())
        .unwrap_or_else(|_| unreachable!())
}

/// Parses and checks a state document.
fn parse_state(path: &Path, text: &str, stack: &str) -> Result<StackState, StateError> {
    let corrupt = |reason: String| StateError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| corrupt(format!("it is not JSON ({e})")))?;
    let version = value
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| corrupt("it has no numeric 'version' field".to_string()))?;
    if !READABLE_VERSIONS.contains(&version) {
        return Err(StateError::Version {
            path: path.to_path_buf(),
            found: version,
        });
    }
    let mut state: StackState =
        serde_json::from_value(value).map_err(|e| corrupt(format!("{e}")))?;
    state.version = STATE_VERSION;
    if state.stack != stack {
        return Err(corrupt(format!(
            "it describes stack '{}', not '{stack}'",
            state.stack
        )));
    }
    state
        .names
        .validate()
        .map_err(|e| corrupt(format!("it records an {e}")))?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StackState {
        StackState::new("prod", "us-east-1", None, Names::defaults("prod"))
    }

    #[test]
    fn save_then_load_round_trips_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), "prod");
        assert!(store.load().unwrap().is_none());
        let mut s = sample();
        s.api = Some(ApiRecord {
            id: "a1".into(),
            name: "n".into(),
            root_resource_id: "r".into(),
        });
        store.save(&s).unwrap();
        assert_eq!(store.load().unwrap().unwrap(), s);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(store.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary file is left beside it.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["prod.json".to_string()]);
    }

    #[test]
    fn corrupt_and_foreign_states_are_refused() {
        let p = Path::new("x.json");
        assert!(matches!(
            parse_state(p, "{\"version\":", "prod"),
            Err(StateError::Corrupt { .. })
        ));
        assert!(matches!(
            parse_state(p, "{\"version\": 99}", "prod"),
            Err(StateError::Version { found: 99, .. })
        ));
        let other = serde_json::to_string(&StackState::new(
            "dev",
            "us-east-1",
            None,
            Names::defaults("dev"),
        ))
        .unwrap();
        assert!(parse_state(p, &other, "prod").is_err());
        let mut v: serde_json::Value = serde_json::to_value(sample()).unwrap();
        v["surprise"] = 1.into();
        assert!(parse_state(p, &v.to_string(), "prod").is_err());
    }

    #[test]
    fn a_version_1_file_loads_and_is_written_as_version_2() {
        let p = Path::new("x.json");
        let mut v: serde_json::Value = serde_json::to_value(sample()).unwrap();
        v["version"] = 1.into();
        for added in ["item_resource", "request_validator", "get_permission"] {
            v.as_object_mut().unwrap().remove(added);
        }
        let loaded = parse_state(p, &v.to_string(), "prod").unwrap();
        assert_eq!(loaded.version, STATE_VERSION);
        assert_eq!(loaded, sample());
    }

    #[test]
    fn target_checks() {
        let s = sample();
        assert!(s.check_target("us-east-1", None).is_ok());
        assert!(s.check_target("eu-west-1", None).is_err());
        assert!(s.check_target("us-east-1", Some("http://x")).is_err());
        let mut s = s;
        s.account = Some("111111111111".into());
        assert!(s.check_account("111111111111").is_ok());
        assert!(s.check_account("222222222222").is_err());
    }

    #[test]
    fn second_lock_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), "prod");
        let guard = store.lock("deploy").unwrap();
        let err = store.lock("teardown").err().unwrap();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("deploy"), "{msg}");
        drop(guard);
        store.lock("teardown").unwrap();
    }
}
