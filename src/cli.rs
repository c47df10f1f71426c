//! Command-line types: the commands and their flags, parsed by clap.
//!
//! Only data lives here; `commands::*` turns these into work. The doc comments are the help.

use std::path::PathBuf;
use std::time::Duration;

pub use crate::report::OutputFormat;
pub use crate::stack::Billing;
use clap::{Args, Parser, Subcommand};

/// Deploy the API Gateway -> Lambda -> DynamoDB tutorial stack in one command.
#[derive(Debug, Parser)]
#[command(name = "serverless-cli", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Name of the stack: the unit that deploy, status and teardown act on. Two stacks never
    /// share a resource.
    #[arg(
        long,
        global = true,
        env = "SERVERLESS_CLI_STACK",
        default_value = "prod"
    )]
    pub stack: String,

    /// AWS region [default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, us-east-1].
    #[arg(long, global = true, env = "SERVERLESS_CLI_REGION")]
    pub region: Option<String>,

    /// Named profile from the shared AWS config and credentials files. Given here, it wins
    /// over access keys in the environment (as the AWS CLI's --profile does); AWS_PROFILE is
    /// honoured the SDK's way (access keys in the environment come first).
    #[arg(long, global = true)]
    pub profile: Option<String>,

    /// Send every AWS call to this endpoint (a local emulator, say). AWS_ENDPOINT_URL is
    /// honoured too.
    #[arg(long, global = true, env = "SERVERLESS_CLI_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,

    /// The stack file [default: ./serverless-cli.toml if there is one, else the built-in
    /// tutorial stack].
    #[arg(long, global = true, env = "SERVERLESS_CLI_FILE", value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Where the state lives: a folder, or s3://BUCKET[/PREFIX] for a team and its CI runners
    /// (the stack's state is PREFIX/<stack>.json, its lock PREFIX/<stack>.lock) [default:
    /// --state-dir].
    #[arg(
        long,
        global = true,
        env = "SERVERLESS_CLI_STATE",
        value_name = "LOCATION"
    )]
    pub state: Option<String>,

    /// How long to wait for a stack another run holds (e.g. 90, 90s, 5m, 1h) before giving up
    /// with exit 4 [default: 0, give up at once].
    #[arg(long, global = true, env = "SERVERLESS_CLI_LOCK_TIMEOUT", value_name = "DURATION", value_parser = parse_duration, default_value = "0")]
    pub lock_timeout: Duration,

    /// Folder that holds <stack>.json state files (the same as --state FOLDER).
    #[arg(
        long,
        global = true,
        env = "SERVERLESS_CLI_STATE_DIR",
        default_value = "state"
    )]
    pub state_dir: PathBuf,

    /// Result format on stdout.
    #[arg(long, global = true, env = "SERVERLESS_CLI_OUTPUT", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Say more: AWS request ids and the full error chain.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update the whole stack; resumes an interrupted deploy.
    Deploy(DeployArgs),
    /// Show what deploy would do now (create, update, replace, delete, adopt), and change
    /// nothing. Exit code 0: nothing to do; 3: deploy would change something.
    Plan(DeployArgs),
    /// Check every resource of the stack against AWS and report drift.
    Status,
    /// Remove every resource of the stack, in reverse dependency order.
    Teardown(TeardownArgs),
    /// Serve the stack's API on 127.0.0.1, running the handler locally in Node.js.
    ///
    /// Requests are answered as the deployed API answers them (the same routes, body model,
    /// request template and status mapping), by the real handler in long-lived Node.js workers,
    /// against the stack's table (or the emulator's). Ctrl-C stops it.
    Serve(ServeArgs),
    /// Check the API end to end: post a user, read it back, expect 404 and 400.
    ///
    /// Posts a user, reads it back, expects 404 for an unknown uid and 400 for an invalid
    /// body. Exit code 0 only if every check passed.
    Try(TryArgs),
    /// Print the least-privilege IAM policy that the identity running deploy, status and
    /// teardown needs for this stack (its names from the state file, else the defaults).
    ///
    /// One JSON policy document on stdout, scoped to the stack's table, role, function, log
    /// group and REST APIs in this region (and account, once the state records it; `*`
    /// before). Makes no AWS call.
    IamPolicy,
    /// Print the stack's REST API as one OpenAPI 3.0 document with API Gateway's extensions
    /// (integrations, selection patterns, templates, models, request validator).
    ///
    /// The same API deploy builds: importable with PutRestApi, readable by OpenAPI tools. The
    /// function ARNs need the account: the state's, or --account. Makes no AWS call.
    Openapi(OpenapiArgs),
    /// Print the value of one of the stack's API keys (`[api_keys.NAME]`), read from API
    /// Gateway: for a person to hand to a caller. It is never written to the state, the journal
    /// or a log. With --output json the value is included only with --value.
    ApiKey(ApiKeyArgs),
    /// Print the stack's functions' log events, merged in time order, each line labelled with
    /// its function and request id.
    ///
    /// Reads every function's log group by default (--function picks some). With --follow it
    /// keeps printing new events (CloudWatch Logs Live Tail, else polling) until Ctrl-C. With
    /// --output json each event is one JSON line. Lines are coloured only on a terminal
    /// (NO_COLOR turns colour off).
    Logs(LogsArgs),
    /// Put the stage back on an earlier kept deployment and every function's live alias back
    /// on that deployment's version, together, in one round of calls; nothing is rebuilt.
    ///
    /// Without --to: the deployment before the live one (or, after a rollback that was
    /// interrupted, that rollback's). status then says the stack differs from its file, and
    /// deploy rolls forward. --list prints the kept deployments ([api] keep_deployments,
    /// default 5) and changes nothing.
    Rollback(RollbackArgs),
    /// Write the tutorial's stack as a stack file you edit: serverless-cli.toml, its JSON
    /// Schema and the handler (index.mjs, package.json, package-lock.json, tests) into DIR.
    /// Refuses to overwrite anything. Then `deploy` there deploys the built-in stack.
    Init(InitArgs),
    /// The state where it lives: show it, list the stacks of a location, remove a dead lock,
    /// prepare an S3 bucket, move a state between a folder and S3.
    #[command(subcommand)]
    State(StateCommand),
    /// Print the JSON Schema of serverless-cli.toml (editors such as Taplo and VS Code's Even
    /// Better TOML complete and check the file with it).
    Schema,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Print the stack's state (JSON).
    Show,
    /// The stacks in the state location, with their last update and lock.
    List,
    /// Remove the stack's lock LOCK_ID (as a busy run names it), only if it is still that lock.
    Unlock { lock_id: String },
    /// Create an S3 bucket for shared state (versioning, default encryption, public access
    /// blocked, tagged), or check an existing one and say what it lacks.
    Init {
        /// s3://BUCKET[/PREFIX]
        location: String,
    },
    /// Move the stack's state to another location (folder <-> S3), holding both locks;
    /// refuses to overwrite a newer state there.
    Migrate {
        #[arg(long, value_name = "LOCATION")]
        to: String,
    },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to write into (made if missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Write the tutorial's stack with Lambda proxy integration (its handler gets the whole
    /// request and answers {statusCode, headers, body}) instead of mapping templates.
    #[arg(long)]
    pub proxy: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, env = "SERVERLESS_CLI_PORT", default_value_t = 3000)]
    pub port: u16,

    /// Folder of the handler code; its entry point is index.handler (index.mjs, index.js or
    /// index.cjs), with its node_modules [default: ./handler when it holds the handler, else
    /// the built-in handler, unpacked once into the user's cache folder with its locked
    /// packages].
    #[arg(long, value_name = "DIR")]
    pub code: Option<PathBuf>,

    /// Seconds a request may run before it is stopped with a 504 and its worker replaced
    /// [default: the function's timeout, 10].
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,

    /// Node.js workers, each a long-lived process that takes one request at a time.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,

    /// The Node.js executable.
    #[arg(long, env = "SERVERLESS_CLI_NODE", default_value = "node")]
    pub node: PathBuf,

    /// DynamoDB table the handler writes to [default: the stack's, from its state file, else
    /// user-<stack>].
    #[arg(long)]
    pub table_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct TryArgs {
    /// Base URL of the API's stage, e.g. http://127.0.0.1:3000/prod from serve [default: the
    /// deployed stack's invoke URL, from its state file].
    #[arg(long)]
    pub url: Option<String>,

    /// The user to post, as a JSON object with a string uid (and username, email) [default: a
    /// new sample user].
    #[arg(long, value_name = "JSON")]
    pub data: Option<String>,

    /// Seconds each request may take.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    pub request_timeout: Duration,

    /// For how long a 500 is retried (once a second): right after a deploy, a new role policy
    /// takes a few seconds to reach Lambda. 0: never retry.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    pub settle: Duration,
}

#[derive(Debug, Args)]
pub struct ApiKeyArgs {
    /// The key's logical name in the stack file (`partner` for `[api_keys.partner]`).
    pub name: String,
    /// With --output json: include the value.
    #[arg(long)]
    pub value: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// A function's name in the stack file (repeat for more) [default: every function].
    #[arg(long = "function", value_name = "NAME")]
    pub functions: Vec<String>,
    /// From when: a duration back from now (90s, 10m, 2h, 7d) or a UTC time
    /// (2026-12-04T10:00:00Z; an offset such as +01:00 is taken).
    #[arg(long, value_name = "WHEN", default_value = "10m")]
    pub since: String,
    /// Until when (the same forms) [default: now; with --follow, for ever].
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Only events that match this CloudWatch Logs filter pattern (e.g. ERROR, "timed out",
    /// ?ERROR ?WARN).
    #[arg(long, value_name = "PATTERN")]
    pub filter: Option<String>,
    /// Keep printing new events until Ctrl-C (exit 0).
    #[arg(long, short = 'f', conflicts_with = "until")]
    pub follow: bool,
    /// With --follow, when live tail is not available: seconds between polls.
    #[arg(long, value_name = "SECONDS", default_value = "2", value_parser = parse_seconds, hide = true)]
    pub poll_every: Duration,
}

#[derive(Debug, Args)]
pub struct OpenapiArgs {
    /// The AWS account the stack's functions live in (default: the one its state records).
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Table billing mode of the built-in stack [default: provisioned]. (A stack file sets it
    /// per table.)
    #[arg(long, value_enum)]
    pub billing: Option<Billing>,

    /// Attach AWSLambdaBasicExecutionRole and AmazonDynamoDBFullAccess, exactly as the tutorial
    /// does, instead of the least-privilege inline policy.
    #[arg(long)]
    pub managed_policies: bool,

    /// Lambda runtime of the built-in stack's function [default: nodejs22.x].
    #[arg(long)]
    pub runtime: Option<String>,

    /// Deploy this code (a folder or a .zip) instead of the built-in handler. Its entry point
    /// must be index.handler (index.mjs, index.js or index.cjs).
    #[arg(long, value_name = "DIR|ZIP")]
    pub code: Option<PathBuf>,

    /// How long to keep retrying while a new IAM role cannot yet be assumed by Lambda.
    #[arg(long, value_name = "SECONDS", default_value = "120", value_parser = parse_seconds)]
    pub role_wait: Duration,

    /// How long to wait for the table to be ACTIVE and the function to be Active.
    #[arg(long, value_name = "SECONDS", default_value = "300", value_parser = parse_seconds)]
    pub ready_wait: Duration,

    /// How long to wait for ACM to issue the certificate of a [domain] (DNS validation).
    /// An interrupted wait resumes on the next deploy; no second certificate is requested.
    #[arg(long, value_name = "SECONDS", default_value = "1800", value_parser = parse_seconds)]
    pub certificate_wait: Duration,

    /// Do not wait for a [domain]'s certificate: make its DNS validation record and finish the
    /// rest of the stack; the next deploy (once ACM has issued it) makes the domain.
    #[arg(long)]
    pub no_wait: bool,

    /// Days the built-in stack's log group keeps its logs (one of CloudWatch's values: 1, 3,
    /// 5, 7, 14, 30, 60, 90, ...) [default: 14].
    #[arg(long, value_name = "DAYS")]
    pub log_retention_days: Option<i32>,

    /// DynamoDB table name [default: user-<stack>].
    #[arg(long)]
    pub table_name: Option<String>,

    /// Lambda function name [default: putitem-<stack>].
    #[arg(long)]
    pub function_name: Option<String>,

    /// IAM role name [default: putitem-<stack>-role].
    #[arg(long)]
    pub role_name: Option<String>,

    /// REST API name [default: serverless-backend-<stack>].
    #[arg(long)]
    pub api_name: Option<String>,

    /// Let deploy delete tables (with their items): one removed from the stack file, or one
    /// whose key changed.
    #[arg(long)]
    pub allow_data_loss: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The kept deployment to go to: its number (`3` or `#3`, see --list) or its API
    /// deployment id [default: the one before the live one].
    #[arg(long, value_name = "N|ID")]
    pub to: Option<String>,

    /// List the kept deployments (newest first, the live one starred) and change nothing.
    #[arg(long, conflicts_with = "to")]
    pub list: bool,
}

#[derive(Debug, Args)]
pub struct TeardownArgs {
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Keep the DynamoDB table and its data.
    #[arg(long)]
    pub keep_table: bool,

    /// List what teardown would delete, in order, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `90`, `90s`, `5m`, `1h`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = match s
        .trim()
        .char_indices()
        .find(|(_, c)| c.is_ascii_alphabetic())
    {
        Some((i, _)) => s.trim().split_at(i),
        None => (s.trim(), "s"),
    };
    let factor = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "'{s}': give seconds, or a number with s, m or h (90s, 5m)"
            ))
        }
    };
    parse_seconds(num).map(|d| d.mul_f64(factor)).and_then(|d| {
        if d > Duration::from_secs(86_400) {
            Err(format!("'{s}' is more than a day"))
        } else {
            Ok(d)
        }
    })
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("'{s}' must be between 0 and 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn seconds_parse_and_reject() {
        assert_eq!(parse_seconds("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("abc").is_err());
    }
}
