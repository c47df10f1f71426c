//! Test support: a real AWS emulator (moto's server) per test on a free port, the recording
//! proxy in front of it, the binary run against both, and SDK clients to look at what the
//! binary left behind.

#![allow(dead_code)]

pub mod proxy;
pub mod serve;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use proxy::Proxy;

/// The stack's owner tag key.
pub const OWNER_TAG: &str = "serverless-cli:stack";

pub fn venv() -> PathBuf {
    match std::env::var_os("SERVERLESS_CLI_VENV") {
        Some(v) => PathBuf::from(v),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv"),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// moto's server on a free port, stopped when dropped.
pub struct Emulator {
    child: Child,
    pub url: String,
}

impl Emulator {
    pub fn start() -> Emulator {
        Emulator::start_with(&[])
    }

    /// With more settings in moto's environment (e.g. INITIAL_NO_AUTH_ACTION_COUNT).
    pub fn start_with(env: &[(&str, &str)]) -> Emulator {
        let bin = venv().join("bin").join("moto_server");
        assert!(
            bin.exists(),
            "{} is missing: run scripts/setup-emulator (scripts/test does)",
            bin.display()
        );
        // The port can be taken between our probe and moto's bind: try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("moto_server starts");
            let url = format!("http://127.0.0.1:{port}");
            let end = Instant::now() + Duration::from_secs(30);
            while Instant::now() < end {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Emulator { child, url };
                }
                std::thread::sleep(Duration::from_millis(30));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto_server did not start");
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A runtime for the SDK calls the tests make themselves.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
    .block_on(f)
}

/// One test's world: emulator, proxy, a working folder with the state folder in it.
pub struct World {
    pub emulator: Emulator,
    pub proxy: Proxy,
    pub dir: tempfile::TempDir,
}

/// What a run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout))
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "expected success:\n{self}");
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl World {
    pub fn new() -> World {
        World::with_emulator(Emulator::start())
    }

    pub fn with_emulator(emulator: Emulator) -> World {
        let proxy = Proxy::start(&emulator.url);
        World {
            emulator,
            proxy,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The state file of a stack: `<stack>.json` for the built-in stack, else the one
    /// project's `<project>.<stack>.json` (the project is the stack file's folder's name).
    pub fn state_file(&self, stack: &str) -> PathBuf {
        let bare = self.state_dir().join(format!("{stack}.json"));
        if bare.exists() {
            return bare;
        }
        let suffix = format!(".{stack}.json");
        let mut found: Vec<PathBuf> = std::fs::read_dir(self.state_dir())
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .is_some_and(|n| n.to_string_lossy().ends_with(&suffix))
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert!(found.len() <= 1, "more than one project's state: {found:?}");
        found.pop().unwrap_or(bare)
    }

    /// The binary, set up to talk to the proxy, with nothing from this machine's AWS setup.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_serverless-cli"));
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().to_string();
            if k.starts_with("AWS_") || k.starts_with("SERVERLESS_CLI_") {
                cmd.env_remove(k);
            }
        }
        cmd.current_dir(self.dir.path())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", self.dir.path().join("no-aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.path().join("no-aws-credentials"),
            )
            .env("SERVERLESS_CLI_ENDPOINT_URL", &self.proxy.url)
            .env("SERVERLESS_CLI_RETRY_SCALE", "0.05")
            .env("CI", "true")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs the binary to the end.
    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().expect("the binary runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs the binary to the end with more environment.
    pub fn run_env(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("the binary runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// SDK clients straight to the emulator (not through the proxy).
    pub fn aws(&self) -> Inspect {
        Inspect::at(&self.emulator.url)
    }

    /// SDK clients through the proxy: what AWS would answer where the proxy puts its rules
    /// back.
    pub fn aws_via_proxy(&self) -> Inspect {
        Inspect::at(&self.proxy.url)
    }

    /// The mutating calls the proxy saw, as `service:Operation`.
    pub fn mutating_calls(&self) -> Vec<String> {
        self.proxy
            .calls()
            .iter()
            .filter(|c| c.is_mutating())
            .map(|c| c.name())
            .collect()
    }
}

/// Writes a stack file of `routes` routes into `dir` (scripts/gen-stack); its path.
pub fn gen_stack(routes: usize, dir: &std::path::Path) -> PathBuf {
    gen_stack_with(routes, dir, &[])
}

/// [`gen_stack`] with more of its options (`--build calls`).
pub fn gen_stack_with(routes: usize, dir: &std::path::Path, options: &[&str]) -> PathBuf {
    let out = Command::new("scripts/gen-stack")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg(routes.to_string())
        .arg(dir)
        .args(options)
        .output()
        .expect("scripts/gen-stack runs");
    assert!(
        out.status.success(),
        "scripts/gen-stack: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("serverless-cli.toml")
}

/// The SDK's configuration for the endpoint at `url` (the emulator, or the proxy), with the
/// test credentials.
pub fn sdk_config(url: &str) -> aws_config::SdkConfig {
    let url = url.to_string();
    block_on(async move {
        let creds =
            aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "test");
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(creds)
            .endpoint_url(url)
            .load()
            .await
    })
}

/// Looks at the emulator directly.
pub struct Inspect {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub apigateway: aws_sdk_apigateway::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
}

/// Everything in the emulator, by service, as names.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    pub tables: Vec<String>,
    pub roles: Vec<String>,
    pub functions: Vec<String>,
    pub apis: Vec<String>,
    pub log_groups: Vec<String>,
}

impl Inventory {
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
            && self.roles.is_empty()
            && self.functions.is_empty()
            && self.apis.is_empty()
            && self.log_groups.is_empty()
    }
}

impl Inspect {
    /// Clients of the endpoint at `url`.
    pub fn at(url: &str) -> Inspect {
        let config = sdk_config(url);
        Inspect {
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
            apigateway: aws_sdk_apigateway::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
        }
    }

    /// The id of the one REST API the emulator has.
    pub fn only_api(&self) -> String {
        let apis = block_on(self.apigateway.get_rest_apis().send()).unwrap();
        assert_eq!(apis.items().len(), 1, "{apis:?}");
        apis.items()[0].id().unwrap().to_string()
    }

    /// The resources of a REST API: id by path.
    pub fn resource_ids(&self, api: &str) -> std::collections::BTreeMap<String, String> {
        block_on(self.apigateway.get_resources().rest_api_id(api).send())
            .unwrap()
            .items()
            .iter()
            .map(|r| (r.path().unwrap().to_string(), r.id().unwrap().to_string()))
            .collect()
    }

    /// Lists every service (roles only those not made by AWS itself).
    pub fn inventory(&self) -> Inventory {
        block_on(async {
            let tables = self
                .dynamodb
                .list_tables()
                .send()
                .await
                .unwrap()
                .table_names()
                .to_vec();
            let roles = self
                .iam
                .list_roles()
                .send()
                .await
                .unwrap()
                .roles()
                .iter()
                .filter(|r| !r.path().starts_with("/aws-service-role/"))
                .map(|r| r.role_name().to_string())
                .collect();
            let functions = self
                .lambda
                .list_functions()
                .send()
                .await
                .unwrap()
                .functions()
                .iter()
                .filter_map(|f| f.function_name().map(str::to_string))
                .collect();
            let apis = self
                .apigateway
                .get_rest_apis()
                .send()
                .await
                .unwrap()
                .items()
                .iter()
                .map(|a| a.name().unwrap_or_default().to_string())
                .collect();
            let log_groups = self
                .logs
                .describe_log_groups()
                .send()
                .await
                .unwrap()
                .log_groups()
                .iter()
                .filter_map(|g| g.log_group_name().map(str::to_string))
                .collect();
            Inventory {
                tables,
                roles,
                functions,
                apis,
                log_groups,
            }
        })
    }
}

/// Reads a state file as JSON.
pub fn read_state(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The AWS id a state file records for a resource key (`rest-api`, `path:/user`, ...).
#[track_caller]
pub fn id(state: &serde_json::Value, key: &str) -> String {
    state["resources"][key]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{key} has no recorded id: {state:#}"))
        .to_string()
}

/// The state file the version 2 release wrote after deploying stack `prod` (region us-east-1,
/// the emulator's account): kept as that release wrote it.
pub const V2_STATE: &str = include_str!("../../fixtures/state/v2-prod.json");

/// A version 2 state file for the stack this world deployed: the release's file with this
/// deployment's ids and endpoint put in (its fingerprints hash only names and settings, which a
/// world's stack `prod` shares with the one the release deployed).
pub fn v2_state_of(v3: &serde_json::Value) -> serde_json::Value {
    let mut v2: serde_json::Value = serde_json::from_str(V2_STATE).unwrap();
    let rec = |key: &str| v3["resources"][key].clone();
    v2["endpoint"] = v3["endpoint"].clone();
    v2["updated_at"] = v3["updated_at"].clone();
    v2["table"]["arn"] = rec("table:user")["arn"].clone();
    v2["role"]["arn"] = rec("role:putitem")["arn"].clone();
    v2["function"]["arn"] = rec("function:putitem")["arn"].clone();
    v2["function"]["code_sha256"] = rec("function:putitem")["attrs"]["code_sha256"].clone();
    v2["api"]["id"] = rec("rest-api")["id"].clone();
    v2["api"]["root_resource_id"] = rec("rest-api")["attrs"]["root_resource_id"].clone();
    v2["resource"]["id"] = rec("path:/user")["id"].clone();
    v2["item_resource"]["id"] = rec("path:/user/{uid}")["id"].clone();
    v2["request_validator"]["id"] = rec("validator:body")["id"].clone();
    v2["deployment"]["id"] = rec("stage:prod")["id"].clone();
    // That release gave each route its own invoke permission (see `per_route_permissions`).
    let api = rec("rest-api")["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for (field, (_, source)) in ["permission", "get_permission"]
        .into_iter()
        .zip(PER_ROUTE_STATEMENTS)
    {
        v2[field]["source_arn"] = format!("{ARN_PREFIX}{api}/prod/{source}").into();
        // (The function itself: that release had no alias.)
        v2[field]["function_arn"] = rec("function:putitem")["arn"].clone();
    }
    v2["log_group"]["arn"] = rec("log-group:putitem")["arn"].clone();
    v2
}

/// The execute-api ARNs of the emulator's region and account, up to the API's id.
const ARN_PREFIX: &str = "arn:aws:execute-api:us-east-1:123456789012:";

/// The statements releases before one invoke permission per function put in the tutorial
/// function's policy: (statement id, what follows `{api}/` in its source ARN).
pub const PER_ROUTE_STATEMENTS: [(&str, &str); 2] = [
    ("serverless-cli-apigateway-post-user", "POST/user"),
    ("serverless-cli-apigateway-get-user", "GET/user/*"),
];

/// Makes the deployed tutorial function's policy what releases before one invoke permission
/// per function made: one statement per route, and no statement for the whole stage.
pub fn per_route_permissions(w: &World, api: &str) {
    let aws = w.aws();
    // The stack's statement is in the live alias's policy (kept by the proxy).
    let via_proxy = w.aws_via_proxy();
    block_on(async {
        via_proxy
            .lambda
            .remove_permission()
            .function_name("putitem-prod")
            .qualifier("live")
            .statement_id("serverless-cli-apigateway-invoke")
            .send()
            .await
            .unwrap();
        for (sid, source) in PER_ROUTE_STATEMENTS {
            aws.lambda
                .add_permission()
                .function_name("putitem-prod")
                .statement_id(sid)
                .action("lambda:InvokeFunction")
                .principal("apigateway.amazonaws.com")
                .source_arn(format!("{ARN_PREFIX}{api}/prod/{source}"))
                .send()
                .await
                .unwrap();
        }
    });
}

/// The policy API Gateway's calls are allowed by: the function's live alias's (read through
/// the proxy, which keeps each alias's policy as AWS does): (statement id, source ARN) of each
/// statement, sorted.
pub fn policy_of(w: &World, function: &str) -> Vec<(String, String)> {
    block_on(policy_statements(&w.aws_via_proxy(), function))
}

/// The function's own policy (what releases before the live alias put there), the same way;
/// empty when it has none.
pub fn own_policy_of(w: &World, function: &str) -> Vec<(String, String)> {
    block_on(statements_of(&w.aws(), function, None))
}

/// [`policy_of`], in an async block (`aws` through the proxy).
pub async fn policy_statements(aws: &Inspect, function: &str) -> Vec<(String, String)> {
    statements_of(aws, function, Some("live")).await
}

async fn statements_of(
    aws: &Inspect,
    function: &str,
    qualifier: Option<&str>,
) -> Vec<(String, String)> {
    let policy = match aws
        .lambda
        .get_policy()
        .function_name(function)
        .set_qualifier(qualifier.map(str::to_string))
        .send()
        .await
    {
        Ok(p) => p,
        Err(e) if qualifier.is_none() && format!("{e:?}").contains("ResourceNotFound") => {
            return Vec::new()
        }
        Err(e) => panic!("GetPolicy {function}: {e:?}"),
    };
    let policy: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let mut out: Vec<(String, String)> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stmt| {
            assert_eq!(stmt["Principal"]["Service"], "apigateway.amazonaws.com");
            (
                stmt["Sid"].as_str().unwrap().to_string(),
                stmt["Condition"]["ArnLike"]["AWS:SourceArn"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Decodes IAM's URL-encoded policy documents.
pub use proxy::percent_decode;

/// Appends a figure for scripts/reliability-report (only when SERVERLESS_CLI_REPORT_DIR is
/// set): one JSON object per line.
pub fn report(kind: &str, fields: serde_json::Value) {
    let Some(dir) = std::env::var_os("SERVERLESS_CLI_REPORT_DIR") else {
        return;
    };
    use std::io::Write;
    std::fs::create_dir_all(&dir).unwrap();
    let mut line = serde_json::json!({ "kind": kind });
    if let (Some(obj), serde_json::Value::Object(extra)) = (line.as_object_mut(), fields) {
        obj.extend(extra);
    }
    let path = Path::new(&dir).join(format!("{kind}.jsonl"));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    // One write per line: tests append at the same time, and a line written in pieces (as
    // `writeln!` does) can interleave with another's.
    f.write_all(format!("{line}\n").as_bytes()).unwrap();
}

impl World {
    /// Checks that nothing of any stack is left, and reports the count.
    #[track_caller]
    pub fn assert_nothing_left(&self, context: &str) {
        let left = self.aws().inventory();
        let count = left.tables.len()
            + left.roles.len()
            + left.functions.len()
            + left.apis.len()
            + left.log_groups.len();
        report(
            "leak",
            serde_json::json!({"context": context, "resources": count}),
        );
        assert!(left.is_empty(), "{context}: left behind {left:?}");
    }

    /// Exactly one of each resource of the default stack.
    #[track_caller]
    pub fn assert_one_of_each(&self, context: &str) {
        let inv = self.aws().inventory();
        assert_eq!(inv.tables, ["user-prod"], "{context}: {inv:?}");
        assert_eq!(inv.roles, ["putitem-prod-role"], "{context}: {inv:?}");
        assert_eq!(inv.functions, ["putitem-prod"], "{context}: {inv:?}");
        assert_eq!(inv.apis, ["serverless-backend-prod"], "{context}: {inv:?}");
        assert_eq!(
            inv.log_groups,
            ["/aws/lambda/putitem-prod"],
            "{context}: {inv:?}"
        );
        // Inside the API: each resource once, one request validator.
        let aws = self.aws();
        let (paths, validators) = block_on(async {
            let api = aws.apigateway.get_rest_apis().send().await.unwrap();
            let id = api.items()[0].id().unwrap().to_string();
            let res = aws
                .apigateway
                .get_resources()
                .rest_api_id(&id)
                .send()
                .await
                .unwrap();
            let mut paths: Vec<String> = res
                .items()
                .iter()
                .map(|r| r.path().unwrap_or_default().to_string())
                .collect();
            paths.sort();
            let v = aws
                .apigateway
                .get_request_validators()
                .rest_api_id(&id)
                .send()
                .await
                .unwrap();
            let validators: Vec<String> = v
                .items()
                .iter()
                .map(|v| v.name().unwrap_or_default().to_string())
                .collect();
            (paths, validators)
        });
        assert_eq!(paths, ["/", "/user", "/user/{uid}"], "{context}");
        assert_eq!(validators, ["serverless-cli-body"], "{context}");
    }

    /// Distinct operations, in first-seen order.
    pub fn operations(&self) -> Vec<String> {
        let mut seen = Vec::new();
        for c in self.proxy.calls() {
            let n = c.name();
            if !seen.contains(&n) {
                seen.push(n);
            }
        }
        seen
    }
}

/// The row of `status --output json` for one resource kind.
pub fn status_row(doc: &serde_json::Value, resource: &str) -> serde_json::Value {
    doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == resource)
        .cloned()
        .unwrap_or_else(|| panic!("no {resource} row in {doc:#}"))
}
