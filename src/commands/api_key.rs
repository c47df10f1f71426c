//! `serverless-cli api-key NAME`: one deployed API key's value, read from API Gateway for a
//! person. The only place the tool shows it; it is never written to the state, the journal or
//! a log.

use serde_json::json;

use crate::cli::{ApiKeyArgs, GlobalArgs, OutputFormat};
use crate::error::UsageError;
use crate::kinds::api_key::{key_of, ApiKeyRecord};

pub async fn run(global: &GlobalArgs, args: &ApiKeyArgs) -> anyhow::Result<i32> {
    let Some(file) = crate::session::stack_file(global)? else {
        return Err(UsageError(
            "the built-in stack has no API keys; add [api_keys.NAME] to a stack file (serverless-cli init makes one)".into(),
        )
        .into());
    };
    if !file.doc.api_keys.contains_key(&args.name) {
        let known: Vec<String> = file.doc.api_keys.keys().map(|k| format!("'{k}'")).collect();
        return Err(UsageError(format!(
            "the stack file has no API key '{}' (it has {}); name one of [api_keys]",
            crate::report::printable(&args.name),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
        .into());
    }
    if args.value && global.output != OutputFormat::Json {
        return Err(UsageError(
            "--value applies to --output json (the text output is the value itself)".into(),
        )
        .into());
    }
    let mut values = values_of(global, &[args.name.as_str()]).await?;
    let (rec, value, enabled) = values.remove(0);
    // An API Gateway key is printable ASCII; anything else is not echoed to a terminal.
    let value = crate::report::printable(&value);
    match global.output {
        OutputFormat::Json => {
            let mut doc = json!({
                "command": "api-key",
                "name": args.name,
                "id": rec.id,
                "api_key_name": rec.name,
                "enabled": enabled,
            });
            if args.value {
                doc["value"] = json!(value);
            }
            println!("{doc}");
        }
        _ => {
            if !enabled {
                eprintln!(
                    "note: API key {} is disabled: API Gateway refuses it",
                    rec.name
                );
            }
            println!("{value}");
        }
    }
    Ok(0)
}

/// The deployed keys' values (with their records and whether each is enabled), read from
/// API Gateway: for `api-key`, and for `try`'s requests that send a key.
pub async fn values_of(
    global: &GlobalArgs,
    names: &[&str],
) -> anyhow::Result<Vec<(ApiKeyRecord, String, bool)>> {
    let (_, state) = crate::session::peek(global).await?;
    let mut recs = Vec::new();
    for name in names {
        let Some(rec) = state
            .as_ref()
            .and_then(|s| s.get::<ApiKeyRecord>(&key_of(name)))
        else {
            return Err(UsageError(format!(
                "API key '{name}' is not deployed in stack '{}'; run deploy first",
                global.stack
            ))
            .into());
        };
        recs.push((name.to_string(), rec));
    }
    let target = crate::session::target(global).await?;
    let aws = crate::aws::Aws::clients(&target, std::time::Duration::from_secs(5)).await?;
    let mut out = Vec::new();
    for (name, rec) in recs {
        let Some((value, enabled)) = crate::resources::access::key_value(&aws, &rec.id)
            .await
            .map_err(|e| anyhow::anyhow!("reading API key {}: {}", rec.name, e))?
        else {
            return Err(UsageError(format!(
                "API key '{name}' ({}) is recorded but gone from API Gateway; run deploy to make it again",
                rec.id
            ))
            .into());
        };
        out.push((rec, value, enabled));
    }
    Ok(out)
}
