//! What a state records beyond the model: the tables and functions a stack file no longer
//! has, which teardown removes too. (The built-in stack as its state records it deployed is
//! `stackfile::recorded`.)

use crate::stack::{
    Billing, FunctionSpec, KeyAttr, StackSpec, TableSpec, FUNCTION_MEMORY_MB,
    FUNCTION_TIMEOUT_SECS, HANDLER, TUTORIAL_CAPACITY,
};
use crate::state::StackState;

/// Adds the tables and functions a state records that the model does not have (taken out
/// of the stack file since): teardown removes them too. Only their names matter there.
pub fn cover(mut spec: StackSpec, state: &StackState) -> StackSpec {
    for (key, rec) in &state.resources {
        let Some((kind, logical)) = key.split_once(':') else {
            continue;
        };
        match kind {
            "table" if spec.table(logical).is_none() => spec.tables.push(TableSpec {
                logical: logical.to_string(),
                name: rec.id.clone(),
                hash_key: KeyAttr {
                    name: "-".into(),
                    ty: "S".into(),
                },
                range_key: None,
                billing: Billing::OnDemand,
                capacity: TUTORIAL_CAPACITY,
                indexes: Vec::new(),
            }),
            "function" | "role" | "log-group" | "role-policy"
                if spec.function(logical).is_none() =>
            {
                let id = |k: &str| {
                    state
                        .resources
                        .get(&format!("{k}:{logical}"))
                        .map(|r| r.id.clone())
                        .unwrap_or_default()
                };
                let name = id("function");
                spec.functions.push(FunctionSpec {
                    logical: logical.to_string(),
                    role: id("role"),
                    code: None,
                    handler: HANDLER.into(),
                    runtime: String::new(),
                    memory_mb: FUNCTION_MEMORY_MB,
                    timeout_secs: FUNCTION_TIMEOUT_SECS,
                    env: Vec::new(),
                    log_retention_days: 14,
                    tables: Vec::new(),
                    policy_name: format!("{logical}-least-privilege"),
                    name,
                });
            }
            _ => {}
        }
    }
    spec
}

/// States as the kinds read them: what a state file's records must be, and the records the
/// format 1 and 2 migrations make (the state's own tests cannot name a kind: it stands below).
#[cfg(test)]
mod state_tests {
    use std::fs;
    use std::path::Path;

    use crate::kinds::function::FunctionRecord;
    use crate::kinds::method::MethodRecord;
    use crate::kinds::path::ResourceRecord;
    use crate::kinds::permission::PermissionRecord;
    use crate::kinds::rest_api::ApiRecord;
    use crate::kinds::role_policy::PolicyRecord;
    use crate::kinds::table::TableRecord;
    use crate::stack::Names;
    use crate::state::{parse_state, StackState, StateStore, STATE_VERSION};

    fn sample() -> StackState {
        StackState::new("prod", "us-east-1", None, Names::defaults("prod"))
    }

    /// The state file the version 1 release (POST /user only) wrote after a deploy.
    const V1_FILE: &str = include_str!("../../tests/fixtures/state/v1-prod.json");

    /// The state file the version 2 release wrote after a deploy (kept as it was written).
    const V2_FILE: &str = include_str!("../../tests/fixtures/state/v2-prod.json");

    #[test]
    fn save_then_load_round_trips_with_mode_0600() {
        crate::kinds::install();
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), "prod");
        assert!(store.load().unwrap().is_none());
        let mut s = sample();
        s.put(
            "rest-api",
            &ApiRecord {
                id: "a1".into(),
                name: "n".into(),
                root_resource_id: "r".into(),
                fingerprint: String::new(),
            },
        );
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
    fn a_version_2_file_migrates_every_record_to_its_key() {
        crate::kinds::install();
        let p = Path::new("x.json");
        let old: serde_json::Value = serde_json::from_str(V2_FILE).unwrap();
        let s = parse_state(p, V2_FILE, "prod").unwrap();
        assert_eq!(s.version, STATE_VERSION);
        assert_eq!(s.account.as_deref(), Some("123456789012"));
        let keys: Vec<&str> = s.resources.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "function:putitem",
                "integration-responses:GET /user/{uid}",
                "integration-responses:POST /user",
                "integration:GET /user/{uid}",
                "integration:POST /user",
                "log-group:putitem",
                "method-responses:GET /user/{uid}",
                "method-responses:POST /user",
                "method:GET /user/{uid}",
                "method:POST /user",
                "path:/user",
                "path:/user/{uid}",
                "permission:GET /user/{uid}",
                "permission:POST /user",
                "rest-api",
                "role-policy:putitem",
                "role:putitem",
                "stage:prod",
                "table:user",
                "validator:body",
            ]
        );
        let f: FunctionRecord = s.get("function:putitem").unwrap();
        assert_eq!(f.arn, old["function"]["arn"].as_str().unwrap());
        assert_eq!(
            f.code_sha256,
            old["function"]["code_sha256"].as_str().unwrap()
        );
        assert_eq!(
            f.config_fingerprint,
            format!(
                "v2:{}",
                old["function"]["config_fingerprint"].as_str().unwrap()
            )
        );
        let t: TableRecord = s.get("table:user").unwrap();
        assert_eq!(t.name, "user-prod");
        assert!(t.ready);
        let item: ResourceRecord = s.get("path:/user/{uid}").unwrap();
        assert_eq!(item.id, old["item_resource"]["id"].as_str().unwrap());
        let get: PermissionRecord = s.get("permission:GET /user/{uid}").unwrap();
        assert_eq!(
            get.statement_id,
            old["get_permission"]["statement_id"].as_str().unwrap()
        );
        let m: MethodRecord = s.get("method:GET /user/{uid}").unwrap();
        assert_eq!(
            m.fingerprint,
            format!("v2:{}", old["method"]["fingerprint"].as_str().unwrap())
        );
        let policy: PolicyRecord = s.get("role-policy:putitem").unwrap();
        assert_eq!(policy.role, "putitem-prod-role");
        // Written back as version 3, it reads the same.
        let again = parse_state(p, &serde_json::to_string(&s).unwrap(), "prod").unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn a_version_1_file_migrates_too() {
        crate::kinds::install();
        let p = Path::new("x.json");
        let old: serde_json::Value = serde_json::from_str(V1_FILE).unwrap();
        let s = parse_state(p, V1_FILE, "prod").unwrap();
        assert_eq!(s.version, STATE_VERSION);
        assert!(s.has("path:/user") && !s.has("path:/user/{uid}"));
        assert!(s.has("permission:POST /user") && !s.has("permission:GET /user/{uid}"));
        assert!(!s.has("validator:body"));
        let api: ApiRecord = s.get("rest-api").unwrap();
        assert_eq!(api.id, old["api"]["id"].as_str().unwrap());
        let post: PermissionRecord = s.get("permission:POST /user").unwrap();
        assert_eq!(
            post.source_arn,
            old["permission"]["source_arn"].as_str().unwrap()
        );
        // A record a release never wrote is refused, not guessed at.
        let mut v = old.clone();
        v["surprise"] = serde_json::json!({"id": "x"});
        assert!(parse_state(p, &v.to_string(), "prod").is_err());
        let mut bad = old;
        bad["table"]["colour"] = "blue".into();
        assert!(parse_state(p, &bad.to_string(), "prod").is_err());
    }

    #[test]
    fn records_of_an_unknown_kind_or_a_key_of_another_kind_are_refused() {
        crate::kinds::install();
        let p = Path::new("x.json");
        let mut v: serde_json::Value = serde_json::to_value(sample()).unwrap();
        v["resources"]["table:user"] = serde_json::json!({"kind": "rest-api", "id": "a", "attrs": {"name": "n", "root_resource_id": "r"}});
        let e = parse_state(p, &v.to_string(), "prod")
            .unwrap_err()
            .to_string();
        assert!(e.contains("table:user"), "{e}");
        v["resources"] = serde_json::json!({"x:y": {"kind": "x"}});
        assert!(parse_state(p, &v.to_string(), "prod").is_err());
    }
}
