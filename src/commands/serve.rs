//! `serverless-cli serve`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::cli::{GlobalArgs, ServeArgs};
use crate::error::UsageError;
use crate::serve::pool::{Pool, PoolConfig, RUNTIME_JS};
use crate::serve::{self, Server};
use crate::stack::{self, Names, HANDLER, STAGE};

/// After Ctrl-C, how long the requests in flight may take.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// The handler's module file in a code folder, if there is one.
fn entry_file(dir: &Path) -> Option<std::path::PathBuf> {
    let module = HANDLER.split('.').next().unwrap_or("index");
    ["mjs", "js", "cjs"]
        .iter()
        .map(|ext| dir.join(format!("{module}.{ext}")))
        .find(|p| p.is_file())
}

fn check_args(args: &ServeArgs) -> Result<Option<std::path::PathBuf>, UsageError> {
    if !(1..=64).contains(&args.workers) {
        return Err(UsageError(format!(
            "--workers {} is out of range; use 1 to 64",
            args.workers
        )));
    }
    if args.timeout.is_some_and(|t| t.is_zero()) {
        return Err(UsageError(
            "--timeout must be more than 0 seconds".to_string(),
        ));
    }
    if let Some(t) = &args.table_name {
        stack::validate_table_name(t).map_err(UsageError)?;
    }
    let Some(dir) = &args.code else {
        return Ok(None);
    };
    if !dir.is_dir() {
        return Err(UsageError(format!(
            "--code {}: no such folder; give the folder of the handler (or leave --code out for the built-in one)",
            dir.display()
        )));
    }
    if entry_file(dir).is_none() {
        return Err(UsageError(format!(
            "--code {}: no index.mjs, index.js or index.cjs in it (the entry point is {HANDLER})",
            dir.display()
        )));
    }
    dir.canonicalize()
        .map(Some)
        .map_err(|e| UsageError(format!("--code {}: {e}", dir.display())))
}

/// The code to serve: `--code`, else ./handler when it holds the handler (the project
/// folder), else the built-in handler from the cache.
async fn code_dir(
    given: Option<std::path::PathBuf>,
    node: &Path,
) -> anyhow::Result<std::path::PathBuf> {
    if let Some(dir) = given {
        return Ok(dir);
    }
    let local = Path::new("handler");
    if local.is_dir() && entry_file(local).is_some() {
        return Ok(local.canonicalize()?);
    }
    // npm sits beside node (SERVERLESS_CLI_NODE / --node), or on the PATH.
    let npm = node
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.join("npm"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| std::path::PathBuf::from("npm"));
    crate::code::builtin_handler_dir(&npm)
        .await
        .map_err(anyhow::Error::msg)
}

/// The deployed function runs nodejs22.x; an older Node.js here makes the AWS SDK print a
/// support notice in every worker (left out there): said once, in one line, with what it
/// means. Nothing when Node.js is 22 or later, or cannot be asked (the pool reports that).
async fn node_version_note(node: &Path) {
    let Ok(Ok(out)) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::process::Command::new(node)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    else {
        return;
    };
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let major: Option<u32> = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok());
    if major.is_some_and(|m| m < 22) {
        eprintln!(
            "note: the handler runs on Node.js {version} here, the deployed function on nodejs22.x; the AWS SDK supports Node.js 22 and later (its notice is not repeated per worker)"
        );
    }
}

pub async fn run(
    global: &GlobalArgs,
    args: &ServeArgs,
    interrupts: crate::signal::Interrupts,
) -> anyhow::Result<i32> {
    let given = check_args(args)?;
    let session = super::open(global, None).await?;
    let code_dir = code_dir(given, &args.node).await?;
    let names = session
        .state
        .as_ref()
        .map(|s| s.names.clone())
        .unwrap_or_else(|| Names::defaults(&session.stack));
    let table = args.table_name.clone().unwrap_or(names.table);
    let timeout = args
        .timeout
        .unwrap_or(Duration::from_secs(stack::FUNCTION_TIMEOUT_SECS as u64));

    // The function's environment: the table, the region, and where DynamoDB is. Credentials
    // are the SDK's own chain in the worker (this process's environment, or --profile).
    let mut env = vec![
        ("TABLE_NAME".to_string(), table.clone()),
        ("AWS_REGION".to_string(), session.target.region.clone()),
        (
            "AWS_LAMBDA_FUNCTION_NAME".to_string(),
            names.function.clone(),
        ),
        (
            "AWS_LAMBDA_FUNCTION_TIMEOUT".to_string(),
            format!("{}", timeout.as_secs().max(1)),
        ),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".to_string(),
            "128".to_string(),
        ),
    ];
    if let Some(endpoint) = &session.target.endpoint {
        env.push(("AWS_ENDPOINT_URL_DYNAMODB".to_string(), endpoint.clone()));
    }
    if let Some(profile) = &session.target.profile {
        env.push(("AWS_PROFILE".to_string(), profile.clone()));
    }
    // A profile named with --profile wins over access keys in this process's environment, in
    // the workers too (the SDK for JavaScript also takes those keys first).
    let env_remove = if session.target.profile_is_explicit {
        [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        ]
        .map(String::from)
        .to_vec()
    } else {
        Vec::new()
    };

    let listener = serve::bind(args.port).await?;
    let addr = listener.local_addr()?;
    let scratch = tempfile::tempdir()?;
    let runtime_script = scratch.path().join("runtime.mjs");
    std::fs::write(&runtime_script, RUNTIME_JS)?;
    let pool = Pool::start(
        PoolConfig {
            node: args.node.clone(),
            runtime_script,
            code_dir: code_dir.clone(),
            handler: HANDLER.to_string(),
            function_name: names.function.clone(),
            env,
            env_remove,
            timeout,
        },
        args.workers,
    )
    .await?;
    // Only once the server is up: a failed start stays one line.
    node_version_note(&args.node).await;

    let routes = stack::routes();
    let url = format!("http://{addr}/{STAGE}");
    let route_list: Vec<String> = routes.iter().map(|r| r.label()).collect();
    let doc = json!({
        "command": "serve",
        "url": url,
        "routes": route_list,
        "table": table,
        "region": session.target.region,
        "endpoint": session.target.endpoint,
        "code": code_dir,
        "workers": args.workers,
        "timeout_seconds": timeout.as_secs_f64(),
    });
    let text = format!(
        "Serving stack '{}' at {url}\n  {}\nTable {table} ({}), handler {} in {}, {} workers, timeout {} s.\nTry it: serverless-cli try --url {url}\nCtrl-C stops it.\n",
        session.stack,
        route_list.join("\n  "),
        session
            .target
            .endpoint
            .as_deref()
            .map_or_else(|| format!("AWS, {}", session.target.region), |e| e.to_string()),
        HANDLER,
        code_dir.display(),
        args.workers,
        timeout.as_secs_f64()
    );
    // The banner goes to stdout at once (one JSON line with --output json), so a script can
    // read the URL while the server runs.
    if global.output == crate::cli::OutputFormat::Json {
        println!("{doc}");
    } else {
        print!("{text}");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let server = Arc::new(Server { routes, pool });
    serve::run(listener, server, interrupts, STOP_GRACE).await?;
    drop(scratch);
    eprintln!("stopped");
    Ok(0)
}
