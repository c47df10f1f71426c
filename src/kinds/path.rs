//! A resource (path) of the REST API: `/user`, `/user/{uid}`.

use anyhow::Context;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Check, CheckCx, Kind, Want, NOT_DEPLOYED};
use crate::aws::{AwsError, ErrorKind};
use crate::engine::{Action, StepResult};
use crate::kinds::context::{DeployCtx, KeyCheck};
use crate::kinds::graph::{key, Node};
use crate::kinds::rest_api::ApiRecord;
use crate::resources::api;
use crate::stack::{ResourceSpec, StackSpec};
use crate::state::StackState;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceRecord {
    pub id: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
}

impl crate::state::Typed for ResourceRecord {
    const KIND: &'static str = "path";
}

pub struct Path;

impl Kind for Path {
    fn name(&self) -> &'static str {
        "path"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("GetResources", "apigateway:GET", Scope::RestApis),
            ("CreateResource", "apigateway:POST", Scope::RestApis),
            ("DeleteResource", "apigateway:DELETE", Scope::RestApis),
            ("DeleteMethod", "apigateway:DELETE", Scope::RestApis),
        ]
    }
    fn shown(&self) -> Option<super::Shown> {
        Some(super::Shown::List("resources"))
    }
    fn show(&self, rec: &crate::state::Record) -> Value {
        rec.typed::<ResourceRecord>().map_or(
            Value::Null,
            |r| serde_json::json!({"id": r.id, "path": r.path}),
        )
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(6)
    }
    fn step(&self) -> &'static str {
        "resource"
    }
    fn extra_rows(&self) -> &'static [&'static str] {
        &[FOREIGN_ROUTES_ROW]
    }
    fn answer(&self, findings: &[KeyCheck], spec: &StackSpec) -> super::Answer {
        // Routes added by hand would be published by the next deployment: the stage is
        // deployed again after they are removed, and a document build is put again (its
        // overwrite removes them).
        if !routes_to_prune(findings) {
            return super::Answer::default();
        }
        let why = "routes not in the stack";
        super::Answer {
            redo: vec![
                (super::graph::key::API_DOCUMENT.to_string(), why),
                (super::graph::key::stage(&spec.api.stage), why),
            ],
            removes: findings
                .iter()
                .filter(|k| k.row == FOREIGN_ROUTES_ROW)
                .filter_map(|k| k.check.reason.clone())
                .collect(),
        }
    }
    fn stack_checks<'a>(
        &'a self,
        cx: &'a CheckCx<'a>,
    ) -> Option<BoxFuture<'a, Vec<(&'static str, Check)>>> {
        Some(Box::pin(async move {
            vec![(FOREIGN_ROUTES_ROW, check_foreign_routes(cx).await)]
        }))
    }
    fn doing(&self) -> &'static str {
        "creating the API's resources"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<ResourceRecord>(rec)
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        spec.resources()
            .into_iter()
            .map(|r| {
                let parent = if r.parent == "/" {
                    key::REST_API.to_string()
                } else {
                    key::path(&r.parent)
                };
                let mut n = Node::new(&Path, key::path(&r.path)).lives_in(parent);
                n.path = Some(r);
                n
            })
            .collect()
    }
    fn props(&self, _: &Want, node: &Node) -> Option<Value> {
        let r = node.path.as_ref()?;
        Some(json!({"path": r.path, "parent": r.parent, "path_part": r.path_part}))
    }
    fn label(&self, w: &Want, node: &Node) -> String {
        let path = node
            .path
            .as_ref()
            .map(|p| p.path.clone())
            .unwrap_or_default();
        match w.state.get::<ResourceRecord>(&node.key) {
            Some(rec) => format!("{path} ({})", rec.id),
            None => path.to_string(),
        }
    }
    fn updatable(&self) -> bool {
        false
    }
    fn goes_with_container(&self) -> bool {
        true
    }

    fn find<'a>(
        &'a self,
        cx: &'a CheckCx<'a>,
        node: &'a Node,
        _: &'a crate::kinds::context::Before,
    ) -> BoxFuture<'a, Option<crate::resources::Owner>> {
        Box::pin(async move {
            let path = &node.path.as_ref()?.path;
            let all = read_all(cx).await.ok()??;
            all.iter()
                .any(|r| r.path == *path)
                .then_some(crate::resources::Owner::Us)
        })
    }
    fn remove<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        _: &'a str,
        rec: &'a crate::state::Record,
    ) -> BoxFuture<'a, anyhow::Result<Option<StepResult>>> {
        Box::pin(async move {
            let api_id = super::rest_api::recorded_id(&ctx.snapshot().await)?;
            ctx.call("resource", || {
                api::delete_resource(ctx.aws(), &api_id, &rec.id)
            })
            .await
            .with_context(|| format!("removing resource {}", rec.id))?;
            Ok(Some(StepResult::new(Action::Deleted, rec.id.clone())))
        })
    }
    fn ensure<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(async move {
            let res = node.path.clone().context("a path node without its path")?;
            let (action, label) = ensure(ctx, node, res).await?;
            Ok(StepResult::new(action, label))
        })
    }

    fn check<'a>(&'a self, cx: &'a CheckCx<'a>, node: &'a Node) -> BoxFuture<'a, Option<Check>> {
        Box::pin(async move { Some(check(cx, node).await) })
    }
}

/// The id of a resource: the API's root, or one recorded.
pub fn resource_id(state: &StackState, path: &str) -> anyhow::Result<String> {
    if path == "/" {
        return Ok(state
            .get::<ApiRecord>(key::REST_API)
            .context("the REST API is not recorded")?
            .root_resource_id);
    }
    Ok(state
        .get::<ResourceRecord>(&key::path(path))
        .with_context(|| format!("the {path} resource is not recorded"))?
        .id)
}

async fn ensure(
    ctx: &DeployCtx,
    node: &Node,
    res: ResourceSpec,
) -> anyhow::Result<(Action, String)> {
    let state = ctx.snapshot().await;
    let path = res.path.to_string();
    if let Some(rec) = state.get::<ResourceRecord>(&node.key) {
        return Ok((Action::Unchanged, format!("{} ({})", rec.path, rec.id)));
    }
    let api_rec: ApiRecord = state
        .get(key::REST_API)
        .context("the REST API is not recorded; run deploy again")?;
    let parent = resource_id(&state, &res.parent)?;
    // Listed again before every attempt: a create whose answer was lost is found, not made
    // twice (AWS refuses a duplicate path part; the emulator would accept it).
    // An API this run created has none of our resources yet: the first attempt need not look.
    let mut look = !ctx.fresh_api.load(std::sync::atomic::Ordering::SeqCst);
    let (api_rec, path_ref, parent) = (&api_rec, &path, &parent);
    let path_part = &res.path_part;
    let (id, action) = ctx
        .call("resource", || {
            let look_now = look;
            look = true;
            async move {
                if look_now {
                    let existing =
                        api::resources(ctx.aws(), &api_rec.id)
                            .await?
                            .ok_or_else(|| {
                                AwsError::local(
                                    ErrorKind::NotFound,
                                    format!(
                                        "REST API {} no longer exists; run deploy again",
                                        api_rec.id
                                    ),
                                )
                            })?;
                    if let Some((id, _)) = existing.into_iter().find(|(_, p)| p == path_ref) {
                        return Ok((id, Action::Adopted));
                    }
                }
                let id = api::create_resource(ctx.aws(), &api_rec.id, parent, path_part).await?;
                Ok((id, Action::Created))
            }
        })
        .await
        .with_context(|| format!("creating resource {path}"))?;
    let rec = ResourceRecord {
        id: id.clone(),
        path: path.clone(),
        fingerprint: String::new(),
    };
    ctx.record(|s| s.put(&node.key, &rec)).await?;
    Ok((action, format!("{path} ({id})")))
}

/// Every resource of the API with its methods: one read per status round, shared by the path
/// checks and the check for routes the stack does not have.
pub async fn read_all(cx: &CheckCx<'_>) -> Result<Option<Vec<api::ResourceInfo>>, AwsError> {
    let Some(api_rec) = cx.state.get::<ApiRecord>(key::REST_API) else {
        return Ok(None);
    };
    let c = cx.c;
    cx.memo
        .get("GetResources".into(), || async {
            c.call("status", || {
                api::resources_with_methods(&c.aws, &api_rec.id, true)
            })
            .await
        })
        .await
}

async fn check(cx: &CheckCx<'_>, node: &Node) -> Check {
    let path = node
        .path
        .as_ref()
        .map(|p| p.path.clone())
        .unwrap_or_default();
    let (Some(_), Some(rec)) = (
        cx.state.get::<ApiRecord>(key::REST_API),
        cx.state.get::<ResourceRecord>(&node.key),
    ) else {
        return Check::missing(path, NOT_DEPLOYED);
    };
    let label = format!("{} ({})", rec.path, rec.id);
    match read_all(cx).await {
        Ok(None) => Check::missing(label, "the REST API does not exist"),
        Ok(Some(all)) => match all.iter().find(|r| r.path == rec.path) {
            None => Check::missing(label, format!("{} does not exist", rec.path)),
            Some(r) if r.id != rec.id => {
                Check::drifted(label, format!("{} was made again (id {})", rec.path, r.id))
            }
            Some(_) => Check::ok(label),
        },
        Err(e) => Check::failed(label, e),
    }
}
/// The status row of routes the stack does not have.
pub const FOREIGN_ROUTES_ROW: &str = "extra-routes";

/// What the API has beyond the stack, as (resource id, path, method): a resource of a path the
/// stack does not have (`None`: the whole resource, its methods and children with it), or a
/// method the stack does not have on one of its paths (the root included).
pub fn foreign_routes(
    all: &[api::ResourceInfo],
    spec: &StackSpec,
    state: &StackState,
) -> Vec<(String, String, Option<String>)> {
    let resources = spec.resources();
    // What the state records is the stack's too: what the model no longer has is removed by
    // deploy as such (plan's "delete"), not as someone else's addition.
    let recorded_paths: Vec<String> = state
        .all::<crate::kinds::path::ResourceRecord>()
        .into_iter()
        .map(|(_, r)| r.path)
        .collect();
    let recorded_methods: Vec<String> = state
        .resources
        .values()
        .filter(|r| r.kind == "method")
        .map(|r| r.id.clone())
        .collect();
    let ours: Vec<&str> = std::iter::once("/")
        .chain(resources.iter().map(|r| r.path.as_str()))
        .chain(recorded_paths.iter().map(String::as_str))
        .collect();
    let mut out = Vec::new();
    for r in all {
        if !ours.contains(&r.path.as_str()) {
            // Only the topmost foreign resource: deleting it takes its children.
            let parent_foreign = all.iter().any(|p| {
                !ours.contains(&p.path.as_str()) && r.path.starts_with(&format!("{}/", p.path))
            });
            if !parent_foreign {
                out.push((r.id.clone(), r.path.clone(), None));
            }
            continue;
        }
        for m in &r.methods {
            let wanted = spec
                .routes
                .iter()
                .any(|route| route.path == r.path && route.http_method == *m)
                || recorded_methods.contains(&format!("{m} {}", r.path));
            if !wanted {
                out.push((r.id.clone(), r.path.clone(), Some(m.clone())));
            }
        }
    }
    out
}

/// Routes of the API that the stack does not have: one added by hand would be published by
/// deploy's next deployment.
pub async fn check_foreign_routes(cx: &CheckCx<'_>) -> Check {
    let Some(api_rec) = cx
        .state
        .get::<ApiRecord>(crate::kinds::graph::key::REST_API)
    else {
        return Check::missing("REST API", super::NOT_DEPLOYED);
    };
    let label = format!("REST API {}", api_rec.id);
    match read_all(cx).await {
        Ok(None) => Check::missing(label, "the REST API does not exist"),
        Ok(Some(all)) => {
            let foreign = foreign_routes(&all, cx.spec, cx.state);
            if foreign.is_empty() {
                Check::ok(label)
            } else {
                Check::drifted(
                    label,
                    format!(
                        "routes not in the stack, which the next deployment would publish: {}",
                        foreign
                            .iter()
                            .map(|(_, path, method)| match method {
                                Some(m) => format!("{m} {path}"),
                                None => format!("{path} (resource)"),
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            }
        }
        Err(e) => Check::failed(label, e),
    }
}

/// Deletes the routes of the API that the stack does not have (added by hand: the next
/// deployment would publish them). Returns what was removed, to say so.
pub async fn remove_foreign_routes(ctx: &DeployCtx) -> anyhow::Result<Vec<String>> {
    let state = ctx.snapshot().await;
    let api_id = super::rest_api::recorded_id(&state)?;
    let all = ctx
        .call("resource", || {
            api::resources_with_methods(ctx.aws(), &api_id, true)
        })
        .await?
        .unwrap_or_default();
    let mut removed = Vec::new();
    for (id, path, method) in foreign_routes(&all, &ctx.spec, &state) {
        match &method {
            Some(m) => {
                ctx.call("resource", || {
                    api::delete_method(ctx.aws(), &api_id, &id, m)
                })
                .await
                .with_context(|| format!("removing {m} {path}"))?;
                removed.push(format!("{m} {path}"));
            }
            None => {
                ctx.call("resource", || api::delete_resource(ctx.aws(), &api_id, &id))
                    .await
                    .with_context(|| format!("removing resource {path}"))?;
                removed.push(path);
            }
        }
    }
    Ok(removed)
}
/// Whether the checks before the run found routes the stack does not have.
pub fn routes_to_prune(findings: &[KeyCheck]) -> bool {
    findings
        .iter()
        .any(|k| k.row == FOREIGN_ROUTES_ROW && k.check.health == super::context::Health::Drifted)
}
