//! `serverless-cli iam-policy`: the deploying identity's least-privilege policy, printed.

use crate::aws;
use crate::cli::GlobalArgs;
use crate::error::UsageError;
use crate::iam_policy::{document, Target};
use crate::stack::{self, Names};

pub async fn run(global: &GlobalArgs) -> anyhow::Result<i32> {
    let mut file = crate::session::stack_file(global)?;
    let profile = crate::session::profile(global);
    let region = aws::resolve_region(global.region.as_deref(), profile.as_deref()).await;
    stack::validate_region(&region).map_err(UsageError)?;
    // The state's account and names (a state in S3 is read there).
    let (project, state) = crate::session::peek(global).await?;
    if let Some(f) = &mut file {
        f.project = project;
    }
    let names = state
        .as_ref()
        .map(|s| s.names.clone())
        .unwrap_or_else(|| Names::defaults(&global.stack));
    let account = state
        .as_ref()
        .and_then(|s| s.account.clone())
        .unwrap_or_else(|| "*".to_string());
    // A stack file names every table, role and function; the policy covers them all.
    let names = match &file {
        Some(f) => crate::iam_policy::StackNames::from(&f.spec(&global.stack, &region, &account)),
        None => crate::iam_policy::StackNames::from(&names),
    };
    let mut doc = document(
        &names,
        &Target {
            partition: stack::partition(&region),
            region: &region,
            account: &account,
        },
    );
    if let crate::store::Location::S3 { bucket, prefix } = crate::session::location(global)? {
        crate::iam_policy::add_state_bucket(
            &mut doc,
            stack::partition(&region),
            &bucket,
            &prefix,
            &global.stack,
        );
    }
    // The document is the result in either output format.
    crate::report::emit(crate::cli::OutputFormat::Json, &doc, "");
    Ok(0)
}
