//! The functions serve runs: each one's code folder (a stack file's, or the built-in handler),
//! handler, environment and limits; and the note when this machine's Node.js is not the
//! deployed runtime.

use std::path::Path;
use std::time::Duration;

use crate::error::UsageError;
use crate::stack::{self, HANDLER};

/// The handler's module file in a code folder, if there is one.
pub fn entry_file(dir: &Path) -> Option<std::path::PathBuf> {
    let module = HANDLER.split('.').next().unwrap_or("index");
    ["mjs", "js", "cjs"]
        .iter()
        .map(|ext| dir.join(format!("{module}.{ext}")))
        .find(|p| p.is_file())
}

/// The code to serve: `--code`, else ./handler when it holds the handler (the project
/// folder), else the built-in handler from the cache.
pub async fn code_dir(
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

/// The Node.js here against the runtimes the served functions are deployed on (`nodejs20.x`
/// ...): said once, in one line, when they differ in major version, and what an older one
/// means for the AWS SDK (it prints a support notice in every worker below 22, left out
/// there). Nothing when Node.js cannot be asked (the pool reports that).
pub async fn node_version_note(node: &Path, runtimes: &[String]) {
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
    let Some(major) = major else { return };
    let deployed: Vec<u32> = runtimes
        .iter()
        .filter_map(|r| r.strip_prefix("nodejs")?.split('.').next()?.parse().ok())
        .collect();
    let differs = deployed.iter().any(|d| *d != major);
    if !differs && major >= 22 {
        return;
    }
    let mut named: Vec<&str> = runtimes.iter().map(String::as_str).collect();
    named.sort_unstable();
    named.dedup();
    let sdk = if major < 22 {
        "; the AWS SDK supports Node.js 22 and later (its notice is not repeated per worker)"
    } else {
        ""
    };
    eprintln!(
        "note: the handler runs on Node.js {version} here, the deployed {} on {}{sdk}",
        if named.len() == 1 {
            "function"
        } else {
            "functions"
        },
        named.join(", ")
    );
}

/// One function served: its workers' configuration.
pub struct Served {
    pub logical: String,
    pub name: String,
    pub code_dir: std::path::PathBuf,
    pub handler: String,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    pub memory_mb: i32,
}

/// The stack file's functions, each from its own code folder with its own environment.
pub fn file_functions(
    file: &crate::stackfile::StackFile,
    spec: &stack::StackSpec,
    timeout: Option<Duration>,
) -> Result<Vec<Served>, UsageError> {
    let mut out = Vec::new();
    for f in &spec.functions {
        let dir = f.code.clone().unwrap_or_default();
        if !dir.is_dir() {
            return Err(UsageError(format!(
                "functions.{}.code ({}) is not a folder: serve runs the code from its folder (unzip it, and name the folder in {})",
                f.logical,
                dir.display(),
                file.path.display()
            )));
        }
        out.push(Served {
            logical: f.logical.clone(),
            name: f.name.clone(),
            code_dir: dir
                .canonicalize()
                .map_err(|e| UsageError(format!("{}: {e}", dir.display())))?,
            handler: f.handler.clone(),
            env: f.env.clone(),
            timeout: timeout.unwrap_or(Duration::from_secs(f.timeout_secs.max(1) as u64)),
            memory_mb: f.memory_mb,
        });
    }
    Ok(out)
}
