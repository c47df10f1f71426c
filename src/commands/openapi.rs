//! `serverless-cli openapi`: the stack's REST API as one OpenAPI 3.0 document, printed.

use crate::cli::{GlobalArgs, OpenapiArgs};
use crate::error::UsageError;
use crate::stack::{self, Names};

pub async fn run(global: &GlobalArgs, args: &OpenapiArgs) -> anyhow::Result<i32> {
    let mut file = crate::session::stack_file(global)?;
    let profile = crate::session::profile(global);
    let region = crate::aws::resolve_region(global.region.as_deref(), profile.as_deref()).await;
    stack::validate_region(&region).map_err(UsageError)?;
    if let Some(a) = &args.account {
        if a.len() != 12 || !a.chars().all(|c| c.is_ascii_digit()) {
            return Err(UsageError(format!(
                "--account {a} is not an AWS account id (12 digits)"
            ))
            .into());
        }
    }
    let (project, state) = crate::session::peek(global).await?;
    if let Some(f) = &mut file {
        f.project = project;
    }
    let Some(account) = args
        .account
        .clone()
        .or_else(|| state.as_ref().and_then(|s| s.account.clone()))
    else {
        return Err(UsageError(format!(
            "the document names the functions' ARNs, which need the account: stack '{}' has no state that records one; deploy it first, or pass --account ID",
            global.stack
        ))
        .into());
    };
    let spec = match (&file, &state) {
        (Some(f), _) => f.spec(&global.stack, &region, &account),
        (None, Some(s)) => crate::stackfile::recorded::builtin(s, &account),
        (None, None) => crate::stackfile::builtin_spec(
            &global.stack,
            &region,
            &account,
            &Names::defaults(&global.stack),
            &stack::Tutorial::default(),
        ),
    };
    let doc = crate::openapi::document(&spec);
    crate::report::emit(crate::cli::OutputFormat::Json, &doc, "");
    Ok(0)
}
