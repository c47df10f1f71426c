//! Teardown's session when the state is gone: the stack found by its owner tag.

use anyhow::Context;

use crate::aws::{Aws, Caller};
use crate::kinds::context::Timing;
use crate::ops::discover;
use crate::report::Progress;
use crate::state::StackState;

/// A stack whose state is gone, as its owner tag finds it in every service: a state to tear
/// down from, and what was found; `None` when nothing carries the tag.
pub async fn from_tags(
    session: &super::Session,
    file: Option<&crate::stackfile::StackFile>,
    aws: &Aws,
    timing: &Timing,
    progress: &Progress,
) -> anyhow::Result<Option<(StackState, discover::Found)>> {
    progress.line(&format!(
        "Stack '{}' has no state file ({}); looking for resources tagged {}={} in every service",
        session.stack,
        session.store.describe(),
        crate::stack::OWNER_TAG,
        crate::stack::owner_id(session.project.as_deref(), &session.stack)
    ));
    let caller = Caller {
        aws: aws.clone(),
        policy: timing.retry,
        progress: progress.clone(),
    };
    let owner = crate::stack::owner_id(session.project.as_deref(), &session.stack);
    let found = discover::by_tag(&caller, &owner)
        .await
        .context("looking for the stack's tagged resources")?;
    if found.is_empty() {
        return Ok(None);
    }
    // With a stack file, its names say what to delete (several tables or functions
    // are expected); without one, the tutorial's names from what was found.
    let state = match &file {
        Some(f) => {
            let mut s = StackState::new(
                &session.stack,
                &session.target.region,
                session.target.endpoint.as_deref(),
                f.names(&session.stack),
            );
            s.project = session.project.clone();
            s.account = Some(aws.account.clone());
            s
        }
        None => {
            let mut s = discover::state_from_found(
                &session.stack,
                &session.target.region,
                session.target.endpoint.as_deref(),
                &aws.account,
                &found,
            )?;
            s.project = session.project.clone();
            s
        }
    };
    Ok(Some((state, found)))
}
