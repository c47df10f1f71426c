//! What the kinds that stand alone in the account share (an API key, a usage plan; a custom
//! domain next): a name the stack gives, its owner tag, and a record of its id and name. Such
//! a resource is found again by name and tag (after a crash between its create and its
//! record), adopted only when the tag says it is this stack's, and removed, by deploy or
//! teardown, only then.

use anyhow::Context;
use futures::future::BoxFuture;

use super::context::{foreign, forget_with_contents, DeployCtx, Run, TeardownCtx};
use super::graph::Node;
use super::{Kind, Removal};
use crate::aws::Aws;
use crate::aws::{AwsError, Caller};
use crate::engine::{Action, StepResult};
use crate::error::not_ours;
use crate::resources::Owner;

/// The record of such a resource: its id and name.
#[macro_export]
macro_rules! named_record {
    ($name:ident, $kind:literal) => {
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            pub id: String,
            pub name: String,
            #[serde(default, skip_serializing_if = "String::is_empty")]
            pub fingerprint: String,
        }

        impl $crate::state::Typed for $name {
            const KIND: &'static str = $kind;
        }

        impl $crate::kinds::tagged::Named for $name {
            fn id(&self) -> &str {
                &self.id
            }
            fn name(&self) -> &str {
                &self.name
            }
        }
    };
}

/// A record with an id and a name.
pub trait Named: crate::state::Typed + Send + Sync {
    fn id(&self) -> &str;
    fn name(&self) -> &str;
}

/// One found by name: its id, and whose its tag says it is.
pub struct Found {
    pub id: String,
    pub owner: Owner,
}

/// The calls that differ from one such kind to the next.
pub trait Tagged: Kind {
    /// Those of this name, with their owners.
    fn find_named<'a>(
        &'a self,
        aws: &'a Aws,
        name: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Found>, AwsError>>;
    /// Whose one is (`None`: gone).
    fn owner_of<'a>(
        &'a self,
        aws: &'a Aws,
        id: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<Option<Owner>, AwsError>>;
    /// Deletes one (`false`: already gone).
    fn delete_id<'a>(
        &'a self,
        aws: &'a Aws,
        id: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<bool, AwsError>>;
}

/// Before a create: the one of this name that is this stack's (adopted), `None` when there is
/// none (make it), an error when the name is someone else's (`fix` says what to do).
pub async fn look_up<T: Tagged>(
    ctx: &DeployCtx,
    kind: &T,
    name: &str,
    fix: &str,
) -> anyhow::Result<Option<String>> {
    let owner = &ctx.spec.owner_tag;
    let found = ctx
        .call(kind.step(), || kind.find_named(ctx.aws(), name, owner))
        .await?;
    if let Some(ours) = found.iter().find(|f| f.owner == Owner::Us) {
        return Ok(Some(ours.id.clone()));
    }
    match found.first() {
        Some(other) => Err(not_ours(kind.noun(), name, &other.owner, fix).into()),
        None => Ok(None),
    }
}

/// For plan: whose the one of this name is, when there is one.
pub async fn found_owner<T: Tagged>(
    c: &Caller,
    kind: &T,
    name: &str,
    owner: &str,
) -> Option<Owner> {
    let found = c
        .call("plan", || kind.find_named(&c.aws, name, owner))
        .await
        .ok()?;
    found
        .iter()
        .find(|f| f.owner == Owner::Us)
        .or(found.first())
        .map(|f| f.owner.clone())
}

/// Deletes one if its tag says it is this stack's.
pub async fn remove<T: Tagged>(
    run: &Run,
    kind: &T,
    owner: &str,
    id: &str,
    name: &str,
) -> anyhow::Result<Removal> {
    let Some(whose) = run
        .call(kind.step(), || kind.owner_of(&run.aws, id, owner))
        .await?
    else {
        return Ok(Removal::Gone);
    };
    if whose != Owner::Us {
        return Ok(Removal::Foreign(whose));
    }
    let deleted = run
        .call(kind.step(), || kind.delete_id(&run.aws, id, owner))
        .await
        .with_context(|| format!("deleting {} {name}", kind.noun()))?;
    Ok(if deleted {
        Removal::Deleted
    } else {
        Removal::Gone
    })
}

/// Deploy's removal of a recorded one the stack no longer has.
pub async fn remove_recorded<T: Tagged, R: Named>(
    ctx: &DeployCtx,
    kind: &T,
    rec: &crate::state::Record,
) -> anyhow::Result<Option<StepResult>> {
    let r: R = rec.typed().map_err(anyhow::Error::msg)?;
    let removal = remove(&ctx.run, kind, &ctx.spec.owner_tag, r.id(), r.name()).await?;
    Ok(Some(removal.into_result(kind.noun(), r.name().to_string())))
}

/// Teardown's removal: the recorded one, or (nothing recorded, as after a crash) the one of
/// its name that is this stack's. Forgets it, with what lives in it.
pub async fn teardown<T: Tagged, R: Named>(
    ctx: &TeardownCtx,
    kind: &T,
    node: &Node,
) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let (id, name) = match state.get::<R>(&node.key) {
        Some(r) => (r.id().to_string(), r.name().to_string()),
        None => {
            let name = ctx.name_of::<R>(&state, &node.key, |r| r.name().to_string())?;
            let found = ctx
                .call(kind.step(), || {
                    kind.find_named(ctx.aws(), &name, &ctx.owner)
                })
                .await?;
            match found.into_iter().find(|f| f.owner == Owner::Us) {
                Some(f) => (f.id, name),
                None => return Ok(StepResult::new(Action::Gone, name)),
            }
        }
    };
    let action = match remove(&ctx.run, kind, &ctx.owner, &id, &name).await? {
        Removal::Deleted => Action::Deleted,
        Removal::Gone => Action::Gone,
        Removal::Foreign(owner) => {
            return foreign(state.has(&node.key), kind.noun(), &name, &owner)
        }
    };
    forget_with_contents(ctx, &node.key).await?;
    Ok(StepResult::new(action, name))
}

/// Status's read of a recorded one's owner tag.
pub fn owner_read<'a, T: Tagged, R: Named + 'a>(
    kind: &'a T,
    c: &'a Caller,
    rec: &'a crate::state::Record,
    owner: &'a str,
) -> Option<super::OwnerRead<'a>> {
    let r: R = rec.typed().ok()?;
    Some(Box::pin(async move {
        let whose = c
            .call("status", || kind.owner_of(&c.aws, r.id(), owner))
            .await?;
        Ok(whose.map(|o| (r.name().to_string(), o)))
    }))
}

/// Teardown's confirmation lines: each recorded one, else that none is recorded.
pub fn inventory<R: Named>(state: &crate::state::StackState, noun: &str) -> Vec<String> {
    let lines: Vec<String> = state
        .all::<R>()
        .into_iter()
        .map(|(_, r)| format!("{noun} {} ({})", r.name(), r.id()))
        .collect();
    if lines.is_empty() {
        vec![format!("the stack's {noun}s (none recorded)")]
    } else {
        lines
    }
}
