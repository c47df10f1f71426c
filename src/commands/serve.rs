//! `serverless-cli serve`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::cli::{GlobalArgs, ServeArgs};
use crate::error::UsageError;
use crate::serve::functions::{code_dir, entry_file, file_functions, node_version_note, Served};
use crate::serve::pool::{Pool, PoolConfig, RUNTIME_JS};
use crate::serve::{self, Server};
use crate::stack::{self, Names, HANDLER};

/// After Ctrl-C, how long the requests in flight may take.
const STOP_GRACE: Duration = Duration::from_secs(15);

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

pub async fn run(
    global: &GlobalArgs,
    args: &ServeArgs,
    interrupts: crate::signal::Interrupts,
) -> anyhow::Result<i32> {
    let given = check_args(args)?;
    let mut file = crate::session::stack_file(global)?;
    if let Some(f) = &file {
        if args.code.is_some() || args.table_name.is_some() {
            return Err(UsageError(format!(
                "--code and --table-name apply to the built-in stack; this run reads the stack file {}, which names each function's code and tables",
                f.path.display()
            ))
            .into());
        }
    }
    let session = crate::session::open(global, None).await?;
    session.fit(&mut file);
    let names = session
        .state
        .as_ref()
        .map(|s| s.names.clone())
        .unwrap_or_else(|| Names::defaults(&session.stack));
    let region = session.target.region.clone();
    let account = session
        .state
        .as_ref()
        .and_then(|s| s.account.clone())
        .unwrap_or_else(|| "000000000000".into());
    let (spec, functions, table) = match &file {
        Some(f) => {
            let spec = f.spec(&session.stack, &region, &account);
            let functions = file_functions(f, &spec, args.timeout)?;
            (spec, functions, None)
        }
        None => {
            let spec = crate::stackfile::builtin_spec(
                &session.stack,
                &region,
                &account,
                &names,
                &stack::Tutorial::default(),
            );
            let code_dir = code_dir(given, &args.node).await?;
            let table = args.table_name.clone().unwrap_or(names.table.clone());
            let served = Served {
                logical: stack::TUTORIAL_FUNCTION.to_string(),
                name: names.function.clone(),
                code_dir,
                handler: HANDLER.to_string(),
                env: vec![("TABLE_NAME".to_string(), table.clone())],
                timeout: args
                    .timeout
                    .unwrap_or(Duration::from_secs(stack::FUNCTION_TIMEOUT_SECS as u64)),
                memory_mb: stack::FUNCTION_MEMORY_MB,
            };
            (spec, vec![served], Some(table))
        }
    };
    for m in &spec.models {
        let schema: serde_json::Value = serde_json::from_str(&m.schema).unwrap_or_default();
        let unchecked = crate::draft4::unchecked_keywords(&schema);
        if !unchecked.is_empty() {
            eprintln!(
                "note: serve does not check {} of model {} (API Gateway does)",
                unchecked.join(", "),
                m.name
            );
        }
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

    let guard = guard_of(&session, &spec).await?;

    let listener = serve::bind(args.port).await?;
    let addr = listener.local_addr()?;
    let scratch = tempfile::tempdir()?;
    let runtime_script = scratch.path().join("runtime.mjs");
    std::fs::write(&runtime_script, RUNTIME_JS)?;
    let mut pools = std::collections::BTreeMap::new();
    for f in &functions {
        // The function's environment: its own, the region, and where DynamoDB is.
        // Credentials are the SDK's own chain in the worker (this process's environment, or
        // --profile).
        let mut env = f.env.clone();
        env.extend([
            ("AWS_REGION".to_string(), region.clone()),
            ("AWS_LAMBDA_FUNCTION_NAME".to_string(), f.name.clone()),
            (
                "AWS_LAMBDA_FUNCTION_TIMEOUT".to_string(),
                format!("{}", f.timeout.as_secs().max(1)),
            ),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".to_string(),
                f.memory_mb.to_string(),
            ),
        ]);
        if let Some(endpoint) = &session.target.endpoint {
            env.push(("AWS_ENDPOINT_URL_DYNAMODB".to_string(), endpoint.clone()));
        }
        if let Some(profile) = &session.target.profile {
            env.push(("AWS_PROFILE".to_string(), profile.clone()));
        }
        let pool = Pool::start(
            PoolConfig {
                node: args.node.clone(),
                runtime_script: runtime_script.clone(),
                code_dir: f.code_dir.clone(),
                handler: f.handler.clone(),
                function_name: f.name.clone(),
                label: f.logical.clone(),
                env,
                env_remove: env_remove.clone(),
                timeout: f.timeout,
            },
            args.workers,
        )
        .await?;
        pools.insert(f.logical.clone(), pool);
    }
    // Only once the server is up: a failed start stays one line.
    let runtimes: Vec<String> = spec.functions.iter().map(|f| f.runtime.clone()).collect();
    node_version_note(&args.node, &runtimes).await;

    let url = format!("http://{addr}/{}", spec.api.stage);
    let route_list: Vec<String> = spec.routes.iter().map(|r| r.label()).collect();
    let where_ = session
        .target
        .endpoint
        .as_deref()
        .map_or_else(|| format!("AWS, {region}"), |e| e.to_string());
    let timeout = functions.first().map_or(Duration::ZERO, |f| f.timeout);
    let doc = json!({
        "command": "serve",
        "url": url,
        "routes": route_list,
        "table": table,
        "functions": functions.iter().map(|f| json!({"function": f.logical, "code": f.code_dir, "handler": f.handler})).collect::<Vec<_>>(),
        "region": region,
        "endpoint": session.target.endpoint,
        "code": functions.first().map(|f| f.code_dir.clone()),
        "workers": args.workers,
        "timeout_seconds": timeout.as_secs_f64(),
    });
    let detail = match &table {
        Some(table) => format!(
            "Table {table} ({where_}), handler {} in {}, {} workers, timeout {} s.",
            HANDLER,
            functions[0].code_dir.display(),
            args.workers,
            timeout.as_secs_f64()
        ),
        None => {
            let lines: Vec<String> = functions
                .iter()
                .map(|f| {
                    format!(
                        "function {}: {} in {}, {} workers, timeout {} s",
                        f.logical,
                        f.handler,
                        f.code_dir.display(),
                        args.workers,
                        f.timeout.as_secs_f64()
                    )
                })
                .collect();
            format!("AWS calls go to {where_}.\n{}", lines.join("\n"))
        }
    };
    let text = format!(
        "Serving stack '{}' at {url}\n  {}\n{detail}\nTry it: serverless-cli try --url {url}\nCtrl-C stops it.\n",
        session.stack,
        route_list.join("\n  "),
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

    let server = Arc::new(Server {
        stage: spec.api.stage.clone(),
        account: account.clone(),
        routes: spec.routes.clone(),
        models: spec.models.clone(),
        pools,
        gateway_responses: spec.gateway_responses(),
        guard,
    });
    serve::run(listener, server, interrupts, STOP_GRACE).await?;
    drop(scratch);
    eprintln!("stopped");
    Ok(0)
}

/// API Gateway's checks of callers for this stack: the deployed keys' values (read from API
/// Gateway, held in memory only), the credentials SigV4 requests must be signed with, and the
/// deployed API's id for the method ARNs a Lambda authorizer is given.
async fn guard_of(
    session: &crate::session::Session,
    spec: &stack::StackSpec,
) -> anyhow::Result<crate::serve::guard::Guard> {
    use crate::kinds::api_key::{key_of, ApiKeyRecord};
    let iam = spec
        .routes
        .iter()
        .any(|r| r.auth.authorizer == Some(crate::auth::Authorizing::Iam));
    let needs_aws = iam || !spec.auth.api_keys.is_empty();
    let aws = if needs_aws {
        Some(crate::aws::Aws::clients(&session.target, Duration::from_secs(5)).await?)
    } else {
        None
    };
    let mut keys = Vec::new();
    for k in &spec.auth.api_keys {
        let rec = session
            .state
            .as_ref()
            .and_then(|s| s.get::<ApiKeyRecord>(&key_of(&k.logical)));
        let (Some(rec), Some(aws)) = (rec, &aws) else {
            eprintln!(
                "note: API key {} is not deployed: serve refuses its routes (403) until deploy makes it",
                k.logical
            );
            continue;
        };
        match crate::resources::access::key_value(aws, &rec.id).await {
            Ok(Some((value, enabled))) => keys.push(crate::serve::guard::LocalKey {
                logical: k.logical.clone(),
                id: rec.id.clone(),
                value,
                enabled,
            }),
            Ok(None) => eprintln!(
                "note: API key {} is recorded but gone from API Gateway; run deploy",
                k.logical
            ),
            Err(e) => {
                return Err(UsageError(format!(
                    "cannot read API key {}'s value from API Gateway ({}); serve checks x-api-key against the deployed keys",
                    k.logical,
                    e.message
                ))
                .into())
            }
        }
    }
    let credentials = match &aws {
        Some(a) if iam => a
            .signing_credentials()
            .await
            .map(|c| crate::auth::sigv4::Credentials {
                access_key: c.access_key_id().to_string(),
                secret: c.secret_access_key().to_string(),
                session_token: c.session_token().map(str::to_string),
            }),
        _ => None,
    };
    if iam && credentials.is_none() {
        eprintln!("note: no AWS credentials: serve refuses every IAM route (403), as it cannot check a signature");
    }
    let api_id = session
        .state
        .as_ref()
        .and_then(|s| {
            s.get::<crate::kinds::rest_api::ApiRecord>(crate::kinds::graph::key::REST_API)
        })
        .map_or_else(|| "local".to_string(), |a| a.id);
    crate::serve::guard::Guard::new(
        spec.auth.clone(),
        spec.api.stage.clone(),
        spec.region.clone(),
        spec.account.clone(),
        api_id,
        keys,
        session.target.endpoint.clone(),
        credentials,
    )
}
