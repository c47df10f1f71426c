//! `serverless-cli logs`: the deployed stack's functions' log events, merged and labelled
//! (docs/logs.md). Reads the state (without taking the lock) for the functions and their log
//! groups; makes only reads.

use std::collections::HashSet;

use crate::aws::Caller;
use crate::cli::{GlobalArgs, LogsArgs, OutputFormat};
use crate::error::UsageError;
use crate::kinds::function::FunctionRecord;
use crate::kinds::log_group::LogGroupRecord;
use crate::logs::{fetch, follow::Follow, parse_when, Printer, Source};
use crate::state::StackState;

pub async fn run(
    global: &GlobalArgs,
    args: &LogsArgs,
    interrupts: crate::signal::Interrupts,
) -> anyhow::Result<i32> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let start = parse_when(&args.since, now).map_err(|e| UsageError(format!("--since: {e}")))?;
    let end = match &args.until {
        Some(u) => Some(parse_when(u, now).map_err(|e| UsageError(format!("--until: {e}")))?),
        None => None,
    };
    if end.is_some_and(|e| e <= start) {
        return Err(UsageError(format!(
            "--until ({}) is not after --since ({}); give a later --until or an earlier --since",
            crate::logs::iso(end.unwrap_or_default()),
            crate::logs::iso(start)
        ))
        .into());
    }
    if let Some(p) = &args.filter {
        if p.len() > 1024 || p.chars().any(char::is_control) {
            return Err(UsageError(
                "--filter: a CloudWatch Logs filter pattern is at most 1024 characters, without control characters".into(),
            )
            .into());
        }
    }
    let (_, state) = crate::session::peek(global).await?;
    let Some(state) = state else {
        return Err(UsageError(format!(
            "stack '{}' is not deployed (no state); run deploy first",
            global.stack
        ))
        .into());
    };
    let sources = sources_of(&state, &args.functions)?;
    let target = crate::session::target(global).await?;
    let aws = crate::aws::Aws::clients(&target, std::time::Duration::from_secs(5)).await?;
    let caller = Caller {
        aws,
        policy: crate::session::timing(Default::default(), Default::default()).retry,
        progress: crate::report::Progress::for_stderr(),
    };
    let json = global.output == OutputFormat::Json;
    let printer = Printer::new(json, sources.iter().map(|s| s.function.clone()).collect());
    let pattern = args.filter.as_deref();
    // The history first (with --follow, up to now).
    let read = fetch(
        &caller,
        &sources,
        (start, end),
        pattern,
        &mut HashSet::new(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("reading the log groups: {e}"))?;
    for note in &read.notes {
        eprintln!("note: {}", crate::report::printable(note));
    }
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for l in &read.lines {
            let _ = writeln!(out, "{}", printer.line(l));
        }
        let _ = out.flush();
    }
    if args.follow {
        Follow {
            caller: &caller,
            sources: &sources,
            pattern,
            printer: &printer,
            start,
            poll_every: args.poll_every.max(std::time::Duration::from_millis(200)),
            printed: read.lines,
        }
        .run(interrupts)
        .await?;
    }
    Ok(0)
}

/// The log groups of the stack's functions (those `wanted`, or all), in the stack's order.
fn sources_of(state: &StackState, wanted: &[String]) -> Result<Vec<Source>, UsageError> {
    let functions: Vec<(String, FunctionRecord)> = state
        .all::<FunctionRecord>()
        .into_iter()
        .map(|(key, r)| (key.strip_prefix("function:").unwrap_or(&key).to_string(), r))
        .collect();
    if functions.is_empty() {
        return Err(UsageError(format!(
            "stack '{}' has no deployed function; run deploy first",
            state.stack
        )));
    }
    let known: Vec<&str> = functions.iter().map(|(f, _)| f.as_str()).collect();
    for w in wanted {
        if !known.contains(&w.as_str()) {
            return Err(UsageError(format!(
                "--function {}: the stack has no such function (it has {}); name one of them",
                crate::report::printable(w),
                known.join(", ")
            )));
        }
    }
    let account = state.account.clone().unwrap_or_else(|| "*".into());
    Ok(functions
        .into_iter()
        .filter(|(f, _)| wanted.is_empty() || wanted.contains(f))
        .map(|(function, rec)| {
            let group = state
                .get::<LogGroupRecord>(&crate::kinds::graph::key::log_group(&function))
                .map(|g| (g.name, g.arn));
            let (group, arn) = match group {
                Some((name, arn)) if !arn.is_empty() => (name, arn),
                other => {
                    let name = other
                        .map(|(n, _)| n)
                        .unwrap_or_else(|| format!("/aws/lambda/{}", rec.name));
                    let arn = format!(
                        "arn:{}:logs:{}:{account}:log-group:{name}",
                        crate::stack::partition(&state.region),
                        state.region
                    );
                    (name, arn)
                }
            };
            Source {
                function,
                arn: arn.trim_end_matches(":*").to_string(),
                group,
            }
        })
        .collect())
}
