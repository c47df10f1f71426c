//! serverless-cli: the API Gateway -> Lambda -> DynamoDB tutorial stack in one command.
//!
//! `main` parses, runs the command, and maps the outcome to an exit code; nothing else.

mod aws;
mod cli;
mod code;
mod commands;
mod engine;
mod error;
mod gateway;
mod http_client;
mod ops;
mod package;
mod report;
mod resources;
mod serve;
mod signal;
mod stack;
mod state;

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
    let cli = Cli::parse();
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
        let hard_stop = if matches!(cli.command, Command::Status | Command::Try(_)) {
            1
        } else {
            2
        };
        let mut watcher = interrupts.clone();
        let command = async {
            match &cli.command {
                Command::Deploy(args) => commands::deploy::run(&cli.global, args, interrupts).await,
                Command::Status => commands::status::run(&cli.global).await,
                Command::Teardown(args) => {
                    commands::teardown::run(&cli.global, args, interrupts).await
                }
                Command::Serve(args) => commands::serve::run(&cli.global, args, interrupts).await,
                Command::Try(args) => commands::try_it::run(&cli.global, args).await,
            }
        };
        tokio::select! {
            r = command => r,
            _ = watcher.wait_for(|n| *n >= hard_stop) => Err(anyhow::Error::new(signal::Interrupted)
                .context("stopped by a signal; the state file holds everything made so far")),
        }
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
        if let Some(s) = cause.downcast_ref::<StateError>() {
            return match s {
                StateError::Locked { .. } => exit::LOCKED,
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
    eprintln!("error: {message}");
    if cli.global.verbose > 0 {
        for cause in err.chain() {
            if let Some(a) = cause.downcast_ref::<aws::AwsError>() {
                eprintln!("  aws: {}", a.detail());
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
