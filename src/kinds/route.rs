//! What the four parts of a route (method, method responses, integration, integration
//! responses) share: their calls go one at a time on the route's method, their record is a
//! fingerprint of what was put, and status reads each method and integration once.

use anyhow::Context;

use super::{CheckCx, Want};
use crate::aws::AwsError;
use crate::engine::{Action, StepResult};
use crate::kinds::context::DeployCtx;
use crate::kinds::graph::{key, Node};
use crate::kinds::rest_api::ApiRecord;
use crate::resources::api::{self, IntegrationInfo, MethodInfo};
use crate::stack::RouteSpec;
use crate::state::StackState;

/// Makes one part of a route, unless the state records the wish's fingerprint: `calls` runs
/// (with the API's and the resource's ids, and the state) while the route's method is held
/// (see [`crate::kinds::context::MethodLocks`]); then the part is recorded.
pub async fn put_part<'a, F, Fut>(
    ctx: &'a DeployCtx,
    node: &'a Node,
    label: &str,
    what: &str,
    calls: F,
) -> anyhow::Result<StepResult>
where
    F: FnOnce(String, String, StackState) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let route = node.route()?;
    put_recorded(ctx, node, label, route.label(), |state| async move {
        let api_id = super::rest_api::recorded_id(&state)?;
        let resource_id = super::path::resource_id(&state, &route.path)?;
        ctx.method_locks
            .on(&route.label(), calls(api_id, resource_id, state.clone()))
            .await
            .with_context(|| format!("creating {what} of {label}"))
    })
    .await
}

/// Makes what API Gateway gives no id of its own (a part of a route, the API's document)
/// unless the state records the wish's fingerprint: `put` runs with the state, then the
/// record (under `id`) says what was put. A crash between the two puts it again.
pub async fn put_recorded<'a, F, Fut>(
    ctx: &'a DeployCtx,
    node: &'a Node,
    label: &str,
    id: String,
    put: F,
) -> anyhow::Result<StepResult>
where
    F: FnOnce(StackState) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let state = ctx.snapshot().await;
    let w = Want {
        spec: &ctx.spec,
        state: &state,
    };
    let recorded = state.resources.get(&node.key);
    if recorded.is_some_and(|r| super::is_current(&r.fingerprint, &w, node)) {
        return Ok(StepResult::new(Action::Unchanged, label));
    }
    let props = node.kind.props(&w, node).with_context(|| {
        format!(
            "{} cannot be resolved yet: what it is built on is not recorded",
            node.key
        )
    })?;
    let action = if recorded.is_some() {
        Action::Updated
    } else {
        Action::Created
    };
    put(state.clone()).await?;
    let rec = crate::state::Record {
        kind: node.kind.name().to_string(),
        id,
        arn: None,
        fingerprint: super::fingerprint_of(node.kind.name(), &props),
        attrs: Default::default(),
        props: Some(props),
    };
    ctx.record(|s| {
        s.resources.insert(node.key.clone(), rec);
    })
    .await?;
    Ok(StepResult::new(action, label))
}

/// A route's method or integration as status reads it (`None` while the API or the route's
/// resource is not recorded). One `GetResources?embed=methods` read of the whole API serves
/// every route's method and integration checks (one round for any number of routes, within
/// GetResources' own quota); should that read fail (an API someone edited to hold an empty
/// template, which the SDK cannot parse: docs/aws.md, "The Lambda integration and the OpenAPI import"), `read` reads the route's
/// part alone, once per status round for the part and its responses.
pub async fn read_part<T, F, Fut>(
    cx: &CheckCx<'_>,
    route: &RouteSpec,
    what: &str,
    pick: fn(&(MethodInfo, Option<IntegrationInfo>)) -> Option<T>,
    read: F,
) -> Option<Result<Option<T>, AwsError>>
where
    T: Clone + Send + Sync + 'static,
    F: FnOnce(String, String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, AwsError>>,
{
    let api_rec = cx.state.get::<ApiRecord>(key::REST_API)?;
    let resource_id = super::path::resource_id(cx.state, &route.path).ok()?;
    match all_methods(cx, &api_rec.id).await {
        Ok(None) => return Some(Ok(None)),
        Ok(Some(methods)) => {
            return Some(Ok(methods
                .by_id
                .get(&(resource_id, route.http_method.clone()))
                .and_then(pick)))
        }
        Err(_) => {}
    }
    Some(
        cx.memo
            .get(format!("{what} {}", route.label()), || {
                read(api_rec.id, resource_id)
            })
            .await,
    )
}

/// Every method of the API with its integration, read once per status round (one paged
/// `GetResources?embed=methods`) for every check that needs one.
pub async fn all_methods(
    cx: &CheckCx<'_>,
    api_id: &str,
) -> Result<Option<std::sync::Arc<api::ApiMethods>>, AwsError> {
    let c = cx.c;
    cx.memo
        .get("GetResources embed=methods".to_string(), || async move {
            c.call("status", || api::methods_of(&c.aws, api_id)).await
        })
        .await
}
