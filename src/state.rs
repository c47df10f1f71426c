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

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::stack::Names;

/// The format version this build writes.
pub const STATE_VERSION: u32 = 3;
/// Versions this build reads: 1 and 2 (one named field per resource) are migrated to 3 on load.
const READABLE_VERSIONS: [u64; 3] = [1, 2, 3];

/// Everything known about one stack: a header, and one record per resource key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackState {
    pub version: u32,
    pub stack: String,
    /// The project the stack belongs to (the stack file's `name`, or its folder's); absent in
    /// a state an earlier release wrote and in the built-in stack's, which keep their
    /// identity ([`crate::stack::owner_id`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub region: String,
    /// Account id, known after the first call to AWS.
    pub account: Option<String>,
    /// Custom endpoint the stack lives behind (an emulator), if any.
    pub endpoint: Option<String>,
    pub names: Names,
    /// Seconds since the epoch of the last save.
    pub updated_at: u64,
    /// What exists, by resource key (`table:user`, `method:POST /user`, ...).
    #[serde(default)]
    pub resources: BTreeMap<String, Record>,
}

/// One resource as recorded: its kind, AWS id and ARN, the fingerprint of what was asked for,
/// and whatever else its kind keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub attrs: serde_json::Map<String, serde_json::Value>,
    /// What was asked for when it was last made or updated (the fingerprint hashes it); plan
    /// shows it as "before".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub props: Option<serde_json::Value>,
}

/// A kind's typed view of its record: the fields named `id`, `arn` and `fingerprint` go to
/// the record's own fields, every other field to `attrs`.
pub trait Typed: Serialize + DeserializeOwned {
    const KIND: &'static str;
}

impl Record {
    pub fn from_typed<T: Typed>(value: &T) -> Record {
        let mut attrs = match serde_json::to_value(value) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        let mut take = |k: &str| match attrs.remove(k) {
            Some(serde_json::Value::String(s)) => Some(s),
            _ => None,
        };
        Record {
            kind: T::KIND.to_string(),
            id: take("id").unwrap_or_default(),
            arn: take("arn"),
            fingerprint: take("fingerprint").unwrap_or_default(),
            attrs,
            props: None,
        }
    }

    pub fn typed<T: Typed>(&self) -> Result<T, String> {
        if self.kind != T::KIND {
            return Err(format!("a {} record, not a {}", self.kind, T::KIND));
        }
        let mut m = self.attrs.clone();
        m.insert("id".into(), self.id.clone().into());
        if let Some(arn) = &self.arn {
            m.insert("arn".into(), arn.clone().into());
        }
        m.insert("fingerprint".into(), self.fingerprint.clone().into());
        serde_json::from_value(serde_json::Value::Object(m)).map_err(|e| e.to_string())
    }
}

impl StackState {
    pub fn new(stack: &str, region: &str, endpoint: Option<&str>, names: Names) -> Self {
        StackState {
            version: STATE_VERSION,
            stack: stack.to_string(),
            project: None,
            region: region.to_string(),
            account: None,
            endpoint: endpoint.map(str::to_string),
            names,
            updated_at: now_secs(),
            resources: BTreeMap::new(),
        }
    }

    /// The record of `key`, as its kind's type (`None` when absent or of another kind).
    pub fn get<T: Typed>(&self, key: &str) -> Option<T> {
        self.resources.get(key).and_then(|r| r.typed().ok())
    }

    pub fn has(&self, key: &str) -> bool {
        self.resources.contains_key(key)
    }

    /// Records `value` under `key`, keeping the properties recorded with it.
    pub fn put<T: Typed>(&mut self, key: &str, value: &T) {
        let mut rec = Record::from_typed(value);
        rec.props = self.resources.get(key).and_then(|r| r.props.clone());
        self.resources.insert(key.to_string(), rec);
    }

    /// Records `value` under `key` with the properties it was made or updated from.
    pub fn put_applied<T: Typed>(&mut self, key: &str, value: &T, props: serde_json::Value) {
        let mut rec = Record::from_typed(value);
        rec.props = Some(props);
        self.resources.insert(key.to_string(), rec);
    }

    /// Forgets `key`; returns whether it was recorded.
    pub fn forget(&mut self, key: &str) -> bool {
        self.resources.remove(key).is_some()
    }

    /// The one record of a kind (the tutorial's stack has one table, one function, one API).
    pub fn first<T: Typed>(&self) -> Option<T> {
        self.resources
            .values()
            .find(|r| r.kind == T::KIND)
            .and_then(|r| r.typed().ok())
    }

    /// Every record of a kind, with its key.
    pub fn all<T: Typed>(&self) -> Vec<(String, T)> {
        self.resources
            .iter()
            .filter(|(_, r)| r.kind == T::KIND)
            .filter_map(|(k, r)| r.typed().ok().map(|t| (k.clone(), t)))
            .collect()
    }

    /// Refuses a state that belongs to another region or endpoint.
    /// The owner tag's value for this stack ([`crate::stack::owner_id`]).
    pub fn owner(&self) -> String {
        crate::stack::owner_id(self.project.as_deref(), &self.stack)
    }

    /// Refuses a state kept for another project (a state file copied or renamed by hand).
    pub fn check_project(&self, project: Option<&str>) -> Result<(), StateError> {
        if self.project.as_deref() == project {
            return Ok(());
        }
        Err(StateError::Mismatch(format!(
            "this state belongs to stack '{}' of {}, not of {}; run from that project's folder (or give its --file), or choose another --stack",
            self.stack,
            self.project.as_deref().map_or("no named project".to_string(), |p| format!("project '{p}'")),
            project.map_or("no named project".to_string(), |p| format!("project '{p}'")),
        )))
    }

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
    wall_now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Names a test-only offset of this machine's clock, in seconds, `+` ahead or `-` behind
/// (debug builds): how the tests run a runner whose clock is wrong.
pub const TEST_CLOCK_OFFSET_ENV: &str = "SERVERLESS_CLI_TEST_CLOCK_OFFSET";

/// This machine's wall clock (with the test offset, in debug builds). Nothing that decides
/// who holds a lock reads it: S3's own clock does (docs/aws.md, "The S3 lock").
pub fn wall_now() -> SystemTime {
    let now = SystemTime::now();
    if !cfg!(debug_assertions) {
        return now;
    }
    match std::env::var(TEST_CLOCK_OFFSET_ENV)
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
    {
        Some(s) if s >= 0 => now + std::time::Duration::from_secs(s.unsigned_abs()),
        Some(s) => now - std::time::Duration::from_secs(s.unsigned_abs()),
        None => now,
    }
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
    /// This run's lock was taken over, or the shared state changed under it: it stopped.
    #[error("{0}")]
    Lost(String),
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
        let mut json = serde_json::to_vec_pretty(state).map_err(|e| StateError::Io {
            what: "cannot encode state",
            path: path.clone(),
            source: io::Error::other(e),
        })?;
        json.push(b'\n');
        write_atomic(&path, &json)
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

/// Writes `bytes` to `path` atomically and durably, mode 0600: a temporary file beside it,
/// written and synced, renamed over the old one (a link there is replaced, never followed),
/// then the folder synced so that the rename itself survives a crash.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let io_err = |what: &'static str| {
        let path = path.to_path_buf();
        move |source| StateError::Io { what, path, source }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    fs::create_dir_all(dir).map_err(io_err("cannot create state folder for"))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.trim_end_matches(".json")))
        .suffix(".tmp")
        .permissions(mode_0600())
        .tempfile_in(dir)
        .map_err(io_err("cannot create a temporary file beside"))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(io_err("cannot write state file"))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .map_err(io_err("cannot replace state file"))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
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

/// Parses and checks a state document; versions 1 and 2 are migrated to 3.
/// Whether a record is one a registered kind reads (its kind's record type parses it).
pub type RecordCheck = fn(&Record) -> Result<(), String>;

/// The kinds' check of every record read, installed once at start (`kinds::install`): the
/// state knows records, the kinds know what is in them, and the state stands below the kinds.
static RECORD_CHECK: std::sync::OnceLock<RecordCheck> = std::sync::OnceLock::new();

/// Installs the check every state read applies to each record (the first call wins).
pub fn check_records_with(check: RecordCheck) {
    let _ = RECORD_CHECK.set(check);
}

pub fn parse_state(path: &Path, text: &str, stack: &str) -> Result<StackState, StateError> {
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
    let value = if version < 3 {
        migrate_v2(value).map_err(&corrupt)?
    } else {
        value
    };
    let mut state: StackState =
        serde_json::from_value(value).map_err(|e| corrupt(format!("{e}")))?;
    state.version = STATE_VERSION;
    let kept_as = crate::stack::state_name(state.project.as_deref(), &state.stack);
    if kept_as != stack {
        return Err(corrupt(format!(
            "it describes stack '{kept_as}', not '{stack}'"
        )));
    }
    state
        .names
        .validate_recorded()
        .map_err(|e| corrupt(format!("it records an {e}")))?;
    let check = RECORD_CHECK.get();
    for (key, rec) in &state.resources {
        if let Some(check) = check {
            check(rec).map_err(|e| corrupt(format!("its record '{key}' is not valid: {e}")))?;
        }
        if key.split(':').next() != Some(rec.kind.as_str()) {
            return Err(corrupt(format!(
                "its record '{key}' has kind '{}', which its key does not name",
                rec.kind
            )));
        }
    }
    Ok(state)
}

/// Marks a fingerprint carried over from format 1 or 2, which hashed both routes at once: the
/// kinds accept it while it still equals what that release would have hashed for the same
/// wish (see `kinds::upgrade_legacy`), so an upgrade alone changes nothing in AWS.
pub const LEGACY_PREFIX: &str = "v2:";

/// Versions 1 and 2 kept one named field per resource (`table`, `resource`, `item_resource`,
/// `method`, `permission`, `get_permission`, ...). Each becomes a record under its key; the
/// fields that covered both routes become one record per route.
fn migrate_v2(mut v: serde_json::Value) -> Result<serde_json::Value, String> {
    use serde_json::{json, Value};
    let obj = v
        .as_object_mut()
        .ok_or_else(|| "it is not a JSON object".to_string())?;
    let names: Names = serde_json::from_value(obj.get("names").cloned().unwrap_or(Value::Null))
        .map_err(|e| format!("its 'names' are not valid ({e})"))?;
    let mut resources = serde_json::Map::new();
    let mut put = |key: String, kind: &str, mut rec: Value, id_field: Option<&str>| {
        let Some(m) = rec.as_object_mut() else { return };
        if let Some(f) = id_field {
            if let Some(id) = m.remove(f) {
                m.insert("id".into(), id);
            }
        }
        let mut out = serde_json::Map::new();
        out.insert("kind".into(), kind.into());
        let mut attrs = serde_json::Map::new();
        for (k, val) in std::mem::take(m) {
            match k.as_str() {
                "id" | "arn" | "fingerprint" => {
                    out.insert(k, val);
                }
                "config_fingerprint" => {
                    out.insert("fingerprint".into(), val);
                }
                _ => {
                    attrs.insert(k, val);
                }
            }
        }
        if !attrs.is_empty() {
            out.insert("attrs".into(), Value::Object(attrs));
        }
        resources.insert(key, Value::Object(out));
    };
    let legacy = |rec: &Value| -> Value {
        let mut r = rec.clone();
        if let Some(fp) = r.get("fingerprint").and_then(Value::as_str) {
            r["fingerprint"] = format!("{LEGACY_PREFIX}{fp}").into();
        }
        r
    };
    let known = [
        "version",
        "stack",
        "region",
        "account",
        "endpoint",
        "names",
        "updated_at",
    ];
    let mut out = serde_json::Map::new();
    for (field, rec) in std::mem::take(obj) {
        if known.contains(&field.as_str()) {
            out.insert(field, rec);
            continue;
        }
        if rec.is_null() {
            continue;
        }
        let (post, get) = ("POST /user", "GET /user/{uid}");
        match field.as_str() {
            "table" => put("table:user".into(), "table", rec, Some("name")),
            "role" => put("role:putitem".into(), "role", rec, Some("name")),
            "role_policy" => {
                let mut r = legacy(&rec);
                r["id"] = names.role.clone().into();
                put("role-policy:putitem".into(), "role-policy", r, None)
            }
            "function" => {
                let mut r = rec;
                if let Some(fp) = r.get("config_fingerprint").and_then(Value::as_str) {
                    r["config_fingerprint"] = format!("{LEGACY_PREFIX}{fp}").into();
                }
                put("function:putitem".into(), "function", r, Some("name"))
            }
            "log_group" => put("log-group:putitem".into(), "log-group", rec, Some("name")),
            "api" => put("rest-api".into(), "rest-api", rec, None),
            "resource" => put("path:/user".into(), "path", rec, None),
            "item_resource" => put("path:/user/{uid}".into(), "path", rec, None),
            "request_validator" => put("validator:body".into(), "validator", rec, None),
            "method" | "method_responses" | "integration" | "integration_responses" => {
                let kind = field.replace('_', "-");
                for route in [post, get] {
                    let mut r = legacy(&rec);
                    r["id"] = route.into();
                    put(format!("{kind}:{route}"), &kind, r, None);
                }
            }
            "permission" => put(
                format!("permission:{post}"),
                "permission",
                json!({"statement_id": rec["statement_id"], "source_arn": rec["source_arn"], "function_arn": rec["function_arn"]}),
                Some("statement_id"),
            ),
            "get_permission" => put(
                format!("permission:{get}"),
                "permission",
                json!({"statement_id": rec["statement_id"], "source_arn": rec["source_arn"], "function_arn": rec["function_arn"]}),
                Some("statement_id"),
            ),
            "deployment" => put("stage:prod".into(), "stage", legacy(&rec), None),
            other => return Err(format!("it has an unknown field '{other}'")),
        }
    }
    out.insert("resources".into(), Value::Object(resources));
    out.insert("version".into(), STATE_VERSION.into());
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StackState {
        StackState::new("prod", "us-east-1", None, Names::defaults("prod"))
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
