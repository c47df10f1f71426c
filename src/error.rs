//! Errors whose kind decides the exit code. Everything else is an `anyhow` chain.

/// Bad input: nothing was changed, no AWS call was made. Exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A resource exists but belongs to another stack (or to nobody we know). Exit code 5.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OwnerConflict(pub String);

/// Builds the message for a resource that is not ours.
pub fn not_ours(
    kind: &str,
    name: &str,
    owner: &crate::resources::Owner,
    fix: &str,
) -> OwnerConflict {
    OwnerConflict(format!(
        "{kind} {name} already exists and belongs to {}; serverless-cli will not touch it. {fix}",
        owner.describe()
    ))
}
