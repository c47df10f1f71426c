//! serverless-cli: the API Gateway -> Lambda -> DynamoDB tutorial stack in one command.
//!
//! `main` parses, runs the command, and maps the outcome to an exit code; nothing else.

// The deploy's first round of reads is futures within futures (the lock's round trip, the
// identity call, the state's confirmation and every kind's check, joined): computing their
// layout goes deeper than rustc's default limit of 128 on a clean build.
#![recursion_limit = "256"]

mod auth;
mod aws;
mod cli;
mod code;
mod commands;
mod domain;
mod draft4;
mod engine;
mod error;
mod gateway;
mod http_client;
mod iam_policy;
mod ids;
mod kinds;
mod lease;
mod logs;
mod openapi;
mod ops;
mod package;
mod report;
mod resources;
mod safe_fs;
mod serve;
mod session;
mod signal;
mod stack;
mod stackfile;
mod state;
mod store;
mod throttle;
mod trial;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, OutputFormat};
use crate::error::{OwnerConflict, UsageError};
use crate::state::StateError;

/// Exit codes (documented in the README).
mod exit {
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const LOCKED: u8 = 4;
    pub const NOT_OURS: u8 = 5;
    pub const INTERRUPTED: u8 = 130;
}

fn main() -> ExitCode {
    kinds::install();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let result = runtime.block_on(async {
        let interrupts = signal::install();
        // deploy and teardown finish the calls in flight after a first interrupt (see
        // engine::Stop), serve the requests in flight; any command stops at once on the
        // signal after that.
        let hard_stop = if matches!(
            cli.command,
            Command::Status
                | Command::Plan(_)
                | Command::Try(_)
                | Command::IamPolicy
                | Command::Openapi(_)
                | Command::ApiKey(_)
                | Command::Init(_)
                | Command::Schema
                | Command::State(_)
        ) || matches!(&cli.command, Command::Logs(a) if !a.follow)
        {
            1
        } else {
            2
        };
        let mut watcher = interrupts.clone();
        let command = async {
            match &cli.command {
                Command::Deploy(args) => commands::deploy::run(&cli.global, args, interrupts).await,
                Command::Plan(args) => commands::plan::run(&cli.global, args).await,
                Command::Status => commands::status::run(&cli.global).await,
                Command::Teardown(args) => {
                    commands::teardown::run(&cli.global, args, interrupts).await
                }
                Command::Serve(args) => commands::serve::run(&cli.global, args, interrupts).await,
                Command::Try(args) => commands::try_it::run(&cli.global, args).await,
                Command::IamPolicy => commands::iam_policy::run(&cli.global).await,
                Command::Openapi(args) => commands::openapi::run(&cli.global, args).await,
                Command::ApiKey(args) => commands::api_key::run(&cli.global, args).await,
                Command::Logs(args) => commands::logs::run(&cli.global, args, interrupts).await,
                Command::Rollback(args) => commands::rollback::run(&cli.global, args).await,
                Command::Init(args) => commands::init::run(&cli.global, args),
                Command::Schema => commands::init::schema(&cli.global),
                Command::State(c) => commands::state::run(&cli.global, c).await,
            }
        };
        let result = tokio::select! {
            r = command => r,
            _ = watcher.wait_for(|n| *n >= hard_stop) => Err(anyhow::Error::new(signal::Interrupted)
                .context("stopped by a signal; the state file holds everything made so far")),
        };
        store::lock::release_all().await;
        result
    });
    // Do not wait for abandoned calls: whatever they made is adopted by the next run.
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(exit::FAILED)),
        Err(err) => {
            let code = exit_code(&err);
            report_error(&cli, &err, code);
            ExitCode::from(code)
        }
    }
}

/// A command line clap refused: its message on stderr, exit 2, and with `--output json` (or
/// SERVERLESS_CLI_OUTPUT=json) the one JSON document stdout promises for every failure.
/// `--help` and `--version` print as usual.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::from(if e.use_stderr() { exit::USAGE } else { 0 });
    }
    let _ = e.print();
    if wants_json(std::env::args_os().skip(1)) {
        let rendered = e.render().to_string();
        let first = rendered.lines().next().unwrap_or_default();
        let doc = serde_json::json!({
            "ok": false,
            "error": first.trim_start_matches("error: "),
            "exit_code": exit::USAGE,
        });
        report::emit(OutputFormat::Json, &doc, "");
    }
    ExitCode::from(exit::USAGE)
}

/// Did the command line (or the environment) ask for JSON? Read from the raw arguments,
/// since clap refused them.
fn wants_json(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    let mut from_args = None;
    for (i, a) in args.iter().enumerate() {
        if a == "--" {
            break;
        }
        if let Some(v) = a.strip_prefix("--output=") {
            from_args = Some(v.to_string());
        } else if a == "--output" {
            from_args = args.get(i + 1).cloned();
        }
    }
    from_args
        .or_else(|| std::env::var("SERVERLESS_CLI_OUTPUT").ok())
        .is_some_and(|v| v == "json")
}

fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<UsageError>() {
            return exit::USAGE;
        }
        if cause.is::<OwnerConflict>() {
            return exit::NOT_OURS;
        }
        if cause.is::<signal::Interrupted>() {
            return exit::INTERRUPTED;
        }
        if cause
            .downcast_ref::<aws::AwsError>()
            .is_some_and(|e| e.kind == aws::ErrorKind::Fenced)
        {
            return exit::LOCKED;
        }
        if let Some(s) = cause.downcast_ref::<StateError>() {
            return match s {
                StateError::Locked { .. } | StateError::Lost(_) => exit::LOCKED,
                StateError::Io { .. } => exit::FAILED,
                _ => exit::USAGE,
            };
        }
    }
    exit::FAILED
}

/// One or two lines on stderr (and the JSON document on stdout with `--output json`).
fn report_error(cli: &Cli, err: &anyhow::Error, code: u8) {
    let message = format!("{err:#}");
    eprintln!("error: {}", report::printable(&message));
    if cli.global.verbose > 0 {
        for cause in err.chain() {
            if let Some(a) = cause.downcast_ref::<aws::AwsError>() {
                eprintln!("  aws: {}", report::printable(&a.detail()));
            }
        }
    }
    if cli.global.output == OutputFormat::Json {
        let doc = serde_json::json!({
            "ok": false,
            "error": message,
            "exit_code": code,
        });
        report::emit(OutputFormat::Json, &doc, "");
    }
}
