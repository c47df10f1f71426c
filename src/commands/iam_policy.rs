//! `serverless-cli iam-policy`: the deploying identity's least-privilege policy, printed.

use crate::aws;
use crate::cli::GlobalArgs;
use crate::error::UsageError;
use crate::iam_policy::{document, Target};
use crate::stack::{self, Names};
use crate::state::StateStore;

pub async fn run(global: &GlobalArgs) -> anyhow::Result<i32> {
    stack::validate_stack_name(&global.stack).map_err(UsageError)?;
    let profile = super::profile(global);
    let region = aws::resolve_region(global.region.as_deref(), profile.as_deref()).await;
    stack::validate_region(&region).map_err(UsageError)?;
    let state = StateStore::new(&global.state_dir, &global.stack).load()?;
    let names = state
        .as_ref()
        .map(|s| s.names.clone())
        .unwrap_or_else(|| Names::defaults(&global.stack));
    let account = state
        .as_ref()
        .and_then(|s| s.account.clone())
        .unwrap_or_else(|| "*".to_string());
    let doc = document(
        &names,
        &Target {
            partition: stack::partition(&region),
            region: &region,
            account: &account,
        },
    );
    // The document is the result in either output format.
    crate::report::emit(crate::cli::OutputFormat::Json, &doc, "");
    Ok(0)
}
