//! The stage `prod` and the deployment it serves: a snapshot of every route, made again
//! whenever a route changed since the last one.
//!
//! Its record also keeps the stack's last deployments (`[api] keep_deployments`), each the
//! API deployment the stage served and the version every function's live alias pointed to:
//! what `rollback` moves the stage and the aliases back to, together ([`roll_back`]). After a
//! deploy's stage is in place the step removes what the new deployment no longer needs: the
//! functions' own invoke statements of releases before the alias, and the versions no kept
//! deployment names.

use anyhow::Context;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Check, CheckCx, Kind, Want, NOT_DEPLOYED};
use crate::engine::{Action, StepResult};
use crate::kinds::context::DeployCtx;
use crate::kinds::graph::{key, Node};
use crate::kinds::rest_api::ApiRecord;
use crate::resources::api;
use crate::stack::StackSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentRecord {
    pub id: String,
    pub stage: String,
    /// Fingerprint of the routes this deployment published.
    pub fingerprint: String,
    /// The deployments kept to roll back to, oldest first; the last is the newest deploy's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<Release>,
    /// Written by `rollback` before its first call; deploy rolls forward and clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackMark>,
}

/// One kept deployment: what the stage served and what every alias pointed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// 1, 2, 3 ... in the order deploys made them (`rollback --to N`).
    pub number: u32,
    /// The API deployment's id.
    pub deployment: String,
    /// Function (logical name) -> the version its live alias pointed to.
    pub versions: std::collections::BTreeMap<String, String>,
    /// When deploy made it (seconds since the epoch).
    pub at: u64,
}

/// A rollback: the release the stage and aliases go to, and whether every move answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackMark {
    pub to: u32,
    pub done: bool,
}

impl DeploymentRecord {
    pub fn release(&self, number: u32) -> Option<&Release> {
        self.releases.iter().find(|r| r.number == number)
    }
    /// The release the stage serves as the state says: the rollback's, else the newest.
    pub fn live(&self) -> Option<&Release> {
        match self.rollback {
            Some(m) => self.release(m.to),
            None => self.releases.last(),
        }
    }
}

impl crate::state::Typed for DeploymentRecord {
    const KIND: &'static str = "stage";
}

pub struct Stage;

/// The route kinds a deployment publishes.
const PUBLISHED: [&str; 6] = [
    "api-document",
    "gateway-responses",
    "method",
    "method-responses",
    "integration",
    "integration-responses",
];

impl Kind for Stage {
    fn name(&self) -> &'static str {
        "stage"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("CreateDeployment", "apigateway:POST", Scope::RestApis),
            ("GetStage", "apigateway:GET", Scope::RestApis),
            // rollback and deploy's roll forward: the stage back on a kept deployment.
            ("UpdateStage", "apigateway:PATCH", Scope::RestApis),
        ]
    }
    fn shown(&self) -> Option<super::Shown> {
        Some(super::Shown::One("deployment"))
    }
    fn show(&self, rec: &crate::state::Record) -> Value {
        rec.typed::<DeploymentRecord>().map_or(Value::Null, |d| {
            serde_json::json!({
                "id": d.id,
                "stage": d.stage,
                "release": d.releases.last().map(|r| r.number),
                "kept": d.releases.iter().map(|r| r.number).collect::<Vec<_>>(),
            })
        })
    }
    fn removal_rank(&self) -> Option<u8> {
        None // the stack always has its stage: it goes only with teardown (or with the REST API)
    }
    fn step(&self) -> &'static str {
        "deployment"
    }
    fn row(&self) -> &'static str {
        "stage"
    }
    fn doing(&self) -> &'static str {
        "deploying to stage prod"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<DeploymentRecord>(rec)
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        // Lives in every route's last parts: a route made again needs a new deployment.
        let mut n = Node::new(&Stage, key::stage(&spec.api.stage)).lives_in(key::REST_API);
        // Gateway responses reach clients with the next deployment too.
        if !spec.gateway_responses().is_empty() {
            n = n.lives_in(key::GATEWAY_RESPONSES);
        }
        // A deployment invokes the functions' live aliases: each alias, and its invoke
        // statement, is in place before the stage serves it (no moment the API cannot invoke
        // a function).
        for f in &spec.functions {
            n = n.needs(key::alias(&f.logical));
        }
        for p in super::permission::Permission.nodes(spec) {
            n = n.needs(p.key);
        }
        if super::api_document::applies(spec) {
            return vec![n.lives_in(key::API_DOCUMENT)];
        }
        for route in &spec.routes {
            n = if super::method_responses::has_responses(route) {
                n.lives_in(key::route("integration-responses", route))
                    .lives_in(key::route("method-responses", route))
            } else {
                // A proxy route's last part is its integration.
                n.lives_in(key::route("integration", route))
            };
        }
        vec![n]
    }
    /// What the deployment publishes: the fingerprint of every route's parts.
    fn props(&self, w: &Want, _: &Node) -> Option<Value> {
        let graph = crate::kinds::graph::Graph::new(w.spec);
        let mut routes = serde_json::Map::new();
        for n in &graph.nodes {
            if PUBLISHED.contains(&n.kind.name()) {
                routes.insert(n.key.clone(), super::wanted_fingerprint(w, n)?.into());
            }
        }
        Some(json!({"stage": w.spec.api.stage, "routes": routes}))
    }
    fn label(&self, w: &Want, node: &Node) -> String {
        match w.state.get::<DeploymentRecord>(&node.key) {
            Some(d) => match d.live() {
                Some(r) => format!("{} ({}, #{})", w.spec.api.stage, r.deployment, r.number),
                None => format!("{} ({})", w.spec.api.stage, d.id),
            },
            None => w.spec.api.stage.clone(),
        }
    }
    /// After a rollback: deploy points the stage back at the newest deployment.
    fn other_change(
        &self,
        _node: &Node,
        rec: &crate::state::Record,
        _code: &super::CodeShas,
    ) -> Option<(&'static str, Value, Value)> {
        let d: DeploymentRecord = rec.typed().ok()?;
        let m = d.rollback?;
        let from = d.release(m.to).map_or(Value::Null, |r| {
            format!("#{} ({})", r.number, r.deployment).into()
        });
        let to = d.releases.last().map_or_else(
            || d.id.clone(),
            |r| format!("#{} ({})", r.number, r.deployment),
        );
        Some((
            "live deployment",
            from,
            format!("{to}: rolled forward").into(),
        ))
    }
    fn repair(&self, _node: &Node, _check: &Check) -> super::Repair {
        // The record keeps the deployments to roll back to: updated, never forgotten.
        super::Repair::Update
    }
    fn invalidate(&self, rec: &mut crate::state::Record) {
        // After a rollback the newest deployment is still right: the stage is pointed back at
        // it. Otherwise a new deployment is made.
        let rolled_back = rec.attrs.get("rollback").is_some_and(|m| !m.is_null());
        if !rolled_back {
            rec.fingerprint.clear();
            rec.props = None;
        }
    }
    fn legacy_fingerprint(&self, w: &Want, _: &Node) -> Option<String> {
        // What that release published: a part this release publishes and the state does not
        // record (the gateway responses it adds) was not in its deployment, which is made
        // again after it.
        let graph = crate::kinds::graph::Graph::new(w.spec);
        if graph
            .nodes
            .iter()
            .any(|n| PUBLISHED.contains(&n.kind.name()) && !w.state.has(&n.key))
        {
            return None;
        }
        let f = w
            .state
            .get::<crate::kinds::function::FunctionRecord>(&key::function(
                crate::stack::TUTORIAL_FUNCTION,
            ))?;
        let m = w.spec.legacy_method_fingerprint();
        let i = w.spec.legacy_integration_fingerprint(&f.arn);
        Some(crate::stack::fingerprint(&[&m, &m, &i, &i]))
    }
    fn goes_with_container(&self) -> bool {
        true
    }
    fn outlives(&self, container: &str) -> bool {
        // The kept deployments are the REST API's: they go with it.
        container != "rest-api"
    }

    fn ensure<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(ensure(ctx, node))
    }

    fn check<'a>(&'a self, cx: &'a CheckCx<'a>, node: &'a Node) -> BoxFuture<'a, Option<Check>> {
        Box::pin(async move {
            let c = cx.c;
            let (Some(api_rec), Some(dep)) = (
                cx.state.get::<ApiRecord>(key::REST_API),
                cx.state.get::<DeploymentRecord>(&node.key),
            ) else {
                return Some(Check::missing(&cx.spec.api.stage, NOT_DEPLOYED));
            };
            let stage = dep.stage.clone();
            let read = c
                .call("status", || {
                    api::stage_deployment(&c.aws, &api_rec.id, &stage)
                })
                .await;
            Some(match read {
                Ok(None) => {
                    Check::missing(format!("{stage} ({})", dep.id), "the stage does not exist")
                }
                Ok(Some(id)) => served(&dep, &id),
                Err(e) => Check::failed(format!("{stage} ({})", dep.id), e),
            })
        })
    }
}

/// What status says of a stage that serves deployment `id`: which kept deployment that is,
/// and how it differs from the newest deploy's.
fn served(dep: &DeploymentRecord, id: &str) -> Check {
    let stage = &dep.stage;
    // The kept deployment a deployment id is: the rollback's when it went there (two kept
    // ones share an id when only a function changed), else the newest with it.
    let number = |d: &str| {
        let rolled = dep
            .rollback
            .and_then(|m| dep.release(m.to))
            .filter(|r| r.deployment == d);
        rolled
            .or_else(|| dep.releases.iter().rev().find(|r| r.deployment == d))
            .map(|r| format!("#{} ", r.number))
            .unwrap_or_default()
    };
    let label = format!(
        "{stage} ({id}{})",
        number(id).trim_end().replace('#', ", #")
    );
    let newest = match dep.releases.last() {
        Some(r) => format!("#{} (deployment {})", r.number, r.deployment),
        None => format!("deployment {}", dep.id),
    };
    match dep.rollback {
        Some(m) if !m.done => Check::drifted(
            label,
            format!(
                "a rollback to #{} was interrupted (the stage serves {}deployment {id}): run rollback to finish it, or deploy to roll forward to {newest}",
                m.to,
                number(id)
            ),
        ),
        Some(m) => match dep.release(m.to) {
            Some(r) if r.deployment == id => Check::drifted(
                label,
                format!(
                    "rolled back to #{} (deployment {id}, deployed {}): the stack file's is {newest}; deploy rolls forward",
                    r.number,
                    crate::logs::iso(r.at.saturating_mul(1000) as i64),
                ),
            ),
            _ => Check::drifted(
                label,
                format!("stage serves deployment {id}, not #{}'s the rollback moved it to; deploy rolls forward to {newest}", m.to),
            ),
        },
        None if id != dep.id => Check::drifted(
            label,
            format!("stage serves {}deployment {id}, not the latest one ({})", number(id), dep.id),
        ),
        None => Check::ok(label),
    }
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let w = Want {
        spec: &ctx.spec,
        state: &state,
    };
    let api_id = super::rest_api::recorded_id(&state)?;
    let stage = ctx.spec.api.stage.as_str();
    let recorded: Option<DeploymentRecord> = state.get(&node.key);
    let current = recorded.as_ref().is_some_and(|d| {
        super::is_current(&d.fingerprint, &w, node) && !super::path::routes_to_prune(&ctx.findings)
    });
    let mut details = Vec::new();
    let (mut rec, action) = match recorded.clone() {
        Some(mut d) if current && d.rollback.is_some() => {
            // After a rollback: the stage back on the newest deployment, nothing rebuilt.
            let pointed = ctx
                .call("deployment", || {
                    api::point_stage(ctx.aws(), &api_id, stage, &d.id)
                })
                .await;
            match pointed {
                Ok(()) => {
                    d.rollback = None;
                    ctx.record(|s| s.put(&node.key, &d)).await?;
                    details.push(format!("rolled forward to deployment {}", d.id));
                    (d, Action::Updated)
                }
                Err(e) if e.is(crate::aws::ErrorKind::NotFound) => {
                    deploy(ctx, node, &api_id, stage, recorded.as_ref(), &mut details).await?
                }
                Err(e) => {
                    return Err(e).context(format!(
                        "pointing stage {stage} back at deployment {}",
                        d.id
                    ))
                }
            }
        }
        Some(d) if current => (d, Action::Unchanged),
        _ => deploy(ctx, node, &api_id, stage, recorded.as_ref(), &mut details).await?,
    };
    // The stage now invokes the aliases: the functions' own statements of releases before
    // them can go.
    let removed = super::permission::remove_unqualified(ctx).await?;
    let changed = !removed.is_empty();
    details.extend(removed.into_iter().map(|r| format!("removed {r}")));
    // The deployment kept to roll back to (bookkeeping: no call), and the versions no kept
    // one names.
    keep_release(ctx, node, &mut rec).await?;
    let pruned = super::alias::prune(ctx, &kept_versions(&rec)).await?;
    let changed = changed || !pruned.is_empty();
    if !pruned.is_empty() {
        details.push(format!("deleted {}", pruned.join(", ")));
    }
    let live = rec
        .releases
        .last()
        .map(|r| format!(", #{}", r.number))
        .unwrap_or_default();
    let result = StepResult::new(
        if action == Action::Unchanged && changed {
            Action::Updated
        } else {
            action
        },
        format!("stage {stage} ({}{live})", rec.id),
    );
    Ok(if details.is_empty() {
        result
    } else {
        result.with_detail(details.join("; "))
    })
}

/// CreateDeployment to the stage (routes added by hand removed first); the record keeps the
/// deployments before it.
async fn deploy(
    ctx: &DeployCtx,
    node: &Node,
    api_id: &str,
    stage: &str,
    recorded: Option<&DeploymentRecord>,
    details: &mut Vec<String>,
) -> anyhow::Result<(DeploymentRecord, Action)> {
    let state = ctx.snapshot().await;
    let w = Want {
        spec: &ctx.spec,
        state: &state,
    };
    let props = Stage
        .props(&w, node)
        .context("a route is not recorded yet")?;
    let fingerprint = super::fingerprint_of("stage", &props);
    // Routes added by hand would be published by this deployment: removed first.
    // (An API built from its document was put again instead: the overwrite removed them.)
    if super::path::routes_to_prune(&ctx.findings) && !super::api_document::applies(&ctx.spec) {
        let removed = super::path::remove_foreign_routes(ctx).await?;
        if !removed.is_empty() {
            details.push(format!("removed {}", removed.join(", ")));
        }
    }
    let description = format!("serverless-cli {fingerprint}");
    let id = ctx
        .call("deployment", || {
            api::deploy(ctx.aws(), api_id, stage, &description)
        })
        .await
        .with_context(|| format!("deploying REST API {api_id} to stage {stage}"))?;
    let action = if recorded.is_some() {
        Action::Updated
    } else {
        Action::Created
    };
    let rec = DeploymentRecord {
        id,
        stage: stage.to_string(),
        fingerprint,
        releases: recorded.map(|d| d.releases.clone()).unwrap_or_default(),
        rollback: None,
    };
    ctx.record(|s| s.put_applied(&node.key, &rec, props))
        .await?;
    Ok((rec, action))
}

/// Adds the deployment the stage now serves, with the version every alias points to, to the
/// kept ones when it differs from the newest, and forgets the oldest past
/// `keep_deployments`.
async fn keep_release(
    ctx: &DeployCtx,
    node: &Node,
    rec: &mut DeploymentRecord,
) -> anyhow::Result<()> {
    let state = ctx.snapshot().await;
    let versions: std::collections::BTreeMap<String, String> = ctx
        .spec
        .functions
        .iter()
        .filter_map(|f| {
            let a = state.get::<super::alias::AliasRecord>(&key::alias(&f.logical))?;
            (!a.version.is_empty()).then(|| (f.logical.clone(), a.version))
        })
        .collect();
    let same = rec
        .releases
        .last()
        .is_some_and(|r| r.deployment == rec.id && r.versions == versions);
    if same {
        return Ok(());
    }
    let number = rec.releases.last().map_or(1, |r| r.number + 1);
    rec.releases.push(Release {
        number,
        deployment: rec.id.clone(),
        versions,
        at: crate::state::now_secs(),
    });
    let keep = ctx.spec.api.keep_deployments.max(1);
    if rec.releases.len() > keep {
        let extra = rec.releases.len() - keep;
        rec.releases.drain(..extra);
    }
    let r = rec.clone();
    ctx.record(|s| s.put(&node.key, &r)).await
}

/// Function (logical name) -> the versions the kept deployments name.
fn kept_versions(rec: &DeploymentRecord) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut kept: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in &rec.releases {
        for (f, v) in &r.versions {
            kept.entry(f.clone()).or_default().push(v.clone());
        }
    }
    kept
}

/// Where `rollback` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTo {
    /// The kept deployment before the live one (or, after an interrupted rollback, that
    /// rollback's).
    Previous,
    /// A kept deployment's number (`#3`).
    Number(u32),
    /// An API deployment id.
    Deployment(String),
}

impl RollbackTo {
    /// `--to`: a number (with or without `#`) or a deployment id.
    pub fn parse(s: &str) -> RollbackTo {
        let t = s.trim().trim_start_matches('#');
        match t.parse::<u32>() {
            Ok(n) => RollbackTo::Number(n),
            Err(_) => RollbackTo::Deployment(s.trim().to_string()),
        }
    }
}

/// What a rollback will do, worked out from the state alone (no call).
#[derive(Debug, Clone)]
pub struct RollbackPlan {
    pub stage_key: String,
    pub api_id: String,
    pub stage: String,
    /// The release the state says is live now.
    pub from: Option<Release>,
    pub to: Release,
    /// (alias key, function name, version) of every alias to point.
    pub aliases: Vec<(String, String, String)>,
    /// Functions of the stack the target release does not name (added after it): left as
    /// they are.
    pub untouched: Vec<String>,
    /// It finishes a rollback that was interrupted.
    pub resumes: bool,
    /// The target is the newest deployment: the stack is back as deployed.
    pub newest: bool,
}

/// Works out a rollback from the state, or says why there is none to make (nothing is called
/// or changed).
pub fn rollback_plan(
    state: &crate::state::StackState,
    to: &RollbackTo,
) -> Result<RollbackPlan, crate::error::UsageError> {
    use crate::error::UsageError;
    let api_id = state
        .get::<ApiRecord>(key::REST_API)
        .map(|a| a.id)
        .ok_or_else(|| UsageError("the stack's state records no REST API: nothing is deployed to roll back; run deploy first".into()))?;
    let Some((stage_key, dep)) = state.all::<DeploymentRecord>().into_iter().next() else {
        return Err(UsageError(
            "the stack's state records no deployment: nothing to roll back; run deploy first"
                .into(),
        ));
    };
    let kept = || {
        dep.releases
            .iter()
            .map(|r| format!("#{} ({})", r.number, r.deployment))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let none_earlier = || {
        UsageError(format!(
            "no earlier deployment is kept to roll back to (kept: {}); rollback needs one from before the live one: deploy a change first (each deploy that changes something is kept, up to [api] keep_deployments)",
            if dep.releases.is_empty() { "none yet".to_string() } else { kept() }
        ))
    };
    let interrupted = dep.rollback.filter(|m| !m.done);
    let live = dep.live().cloned();
    let target = match to {
        RollbackTo::Previous => match interrupted {
            Some(m) => dep.release(m.to).cloned().ok_or_else(none_earlier)?,
            None => {
                let live_number = live.as_ref().map(|r| r.number).ok_or_else(none_earlier)?;
                dep.releases
                    .iter()
                    .rev()
                    .find(|r| r.number < live_number)
                    .cloned()
                    .ok_or_else(none_earlier)?
            }
        },
        // (A deployment id can be all digits: tried as one when no kept number matches.)
        RollbackTo::Number(n) => dep
            .release(*n)
            .or_else(|| {
                dep.releases
                    .iter()
                    .rev()
                    .find(|r| r.deployment == n.to_string())
            })
            .cloned()
            .ok_or_else(|| {
                UsageError(format!(
                    "no kept deployment is numbered #{n}; the kept ones are {}: give one of those to --to",
                    kept()
                ))
            })?,
        RollbackTo::Deployment(id) => dep
            .releases
            .iter()
            .rev()
            .find(|r| r.deployment == *id)
            .cloned()
            .ok_or_else(|| {
                UsageError(format!(
                    "no kept deployment has the id '{}'; the kept ones are {}: give one of those to --to",
                    crate::report::printable(id),
                    kept()
                ))
            })?,
    };
    let mut aliases = Vec::new();
    let mut untouched = Vec::new();
    for (alias_key, a) in state.all::<super::alias::AliasRecord>() {
        let logical = alias_key
            .strip_prefix("alias:")
            .unwrap_or(&alias_key)
            .to_string();
        match target.versions.get(&logical) {
            None => untouched.push(a.function.clone()),
            Some(v) if !a.versions.contains(v) => {
                return Err(UsageError(format!(
                    "#{}'s version {v} of function {} is no longer kept (it was deleted, or the function was made again since); roll back to a later deployment: {}",
                    target.number,
                    a.function,
                    kept()
                )))
            }
            Some(v) => aliases.push((alias_key.clone(), a.function.clone(), v.clone())),
        }
    }
    let newest = dep.releases.last().map(|r| r.number) == Some(target.number);
    Ok(RollbackPlan {
        stage_key,
        api_id,
        stage: dep.stage.clone(),
        from: live,
        resumes: interrupted.is_some_and(|m| m.to == target.number),
        newest,
        to: target,
        aliases,
        untouched,
    })
}

/// Moves the stage to the plan's deployment and every alias to its version, in one round of
/// concurrent calls. Before the first call the state records where they go and that the
/// aliases' versions are in flight, so a crash part way is finished by the next rollback or
/// rolled forward by the next deploy.
pub async fn roll_back(
    run: &crate::kinds::context::Run,
    plan: &RollbackPlan,
) -> anyhow::Result<()> {
    let mark = (!plan.newest).then_some(RollbackMark {
        to: plan.to.number,
        done: false,
    });
    run.record(|s| {
        if let Some(mut d) = s.get::<DeploymentRecord>(&plan.stage_key) {
            d.rollback = Some(RollbackMark {
                to: plan.to.number,
                done: false,
            });
            s.put(&plan.stage_key, &d);
        }
        for (k, _, _) in &plan.aliases {
            if let Some(mut a) = s.get::<super::alias::AliasRecord>(k) {
                a.version.clear();
                s.put(k, &a);
            }
        }
    })
    .await?;
    let stage = async {
        run.call("rollback", || {
            api::point_stage(&run.aws, &plan.api_id, &plan.stage, &plan.to.deployment)
        })
        .await
        .with_context(|| {
            format!(
                "pointing stage {} at deployment {}",
                plan.stage, plan.to.deployment
            )
        })
    };
    let aliases = futures::future::join_all(plan.aliases.iter().map(|(k, name, v)| async move {
        let info = super::alias::point(run, name, v, false).await?;
        run.record(|s| {
            if let Some(mut a) = s.get::<super::alias::AliasRecord>(k) {
                a.version = v.clone();
                a.arn = info.arn.clone();
                s.put(k, &a);
            }
        })
        .await
    }));
    let (stage, aliases) = tokio::join!(stage, aliases);
    stage?;
    for a in aliases {
        a?;
    }
    run.record(|s| {
        if let Some(mut d) = s.get::<DeploymentRecord>(&plan.stage_key) {
            d.rollback = mark.map(|m| RollbackMark { done: true, ..m });
            s.put(&plan.stage_key, &d);
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(number: u32, deployment: &str, version: &str) -> Release {
        Release {
            number,
            deployment: deployment.into(),
            versions: [("putitem".to_string(), version.to_string())].into(),
            at: 0,
        }
    }

    /// Two kept deployments share an API deployment when only a function changed: status
    /// names the one the rollback went to, and the newest as the file's.
    #[test]
    fn status_names_the_kept_deployment_the_rollback_went_to() {
        let mut dep = DeploymentRecord {
            id: "d1".into(),
            stage: "prod".into(),
            fingerprint: "f".into(),
            releases: vec![release(1, "d1", "1"), release(2, "d1", "2")],
            rollback: None,
        };
        assert_eq!(served(&dep, "d1"), Check::ok("prod (d1, #2)"));
        dep.rollback = Some(RollbackMark { to: 1, done: true });
        let c = served(&dep, "d1");
        assert_eq!(c.id, "prod (d1, #1)");
        let why = c.reason.unwrap();
        assert!(why.starts_with("rolled back to #1 (deployment d1"), "{why}");
        assert!(
            why.contains("the stack file's is #2 (deployment d1)"),
            "{why}"
        );
        dep.rollback = Some(RollbackMark { to: 1, done: false });
        assert!(served(&dep, "d1").reason.unwrap().contains("interrupted"));
        // Moved by hand to a deployment nothing keeps.
        dep.rollback = None;
        let c = served(&dep, "d9");
        assert_eq!(c.id, "prod (d9)");
        assert!(c.reason.unwrap().contains("not the latest one (d1)"));
    }

    #[test]
    fn rollback_goes_to_the_kept_deployment_before_the_live_one() {
        let mut s = crate::state::StackState::new(
            "prod",
            "us-east-1",
            None,
            crate::stack::Names::defaults("prod"),
        );
        s.put(
            key::REST_API,
            &ApiRecord {
                id: "api".into(),
                name: "n".into(),
                root_resource_id: "r".into(),
                fingerprint: String::new(),
            },
        );
        let mut dep = DeploymentRecord {
            id: "d3".into(),
            stage: "prod".into(),
            fingerprint: "f".into(),
            releases: vec![
                release(1, "d1", "1"),
                release(2, "400812", "2"),
                release(3, "d3", "3"),
            ],
            rollback: None,
        };
        s.put("stage:prod", &dep);
        let plan = rollback_plan(&s, &RollbackTo::Previous).unwrap();
        assert_eq!((plan.to.number, plan.newest), (2, false));
        // After a rollback to #2, the next goes to #1; an interrupted one is finished first.
        dep.rollback = Some(RollbackMark { to: 2, done: true });
        s.put("stage:prod", &dep);
        assert_eq!(
            rollback_plan(&s, &RollbackTo::Previous).unwrap().to.number,
            1
        );
        dep.rollback = Some(RollbackMark { to: 2, done: false });
        s.put("stage:prod", &dep);
        let plan = rollback_plan(&s, &RollbackTo::Previous).unwrap();
        assert_eq!((plan.to.number, plan.resumes), (2, true));
        assert_eq!(RollbackTo::parse("#3"), RollbackTo::Number(3));
        assert_eq!(
            RollbackTo::parse("abc"),
            RollbackTo::Deployment("abc".into())
        );
        let latest = rollback_plan(&s, &RollbackTo::Number(3)).unwrap();
        assert!(latest.newest);
        assert!(rollback_plan(&s, &RollbackTo::Number(9))
            .unwrap_err()
            .0
            .contains("#1 (d1), #2 (400812), #3 (d3)"));
        // A deployment id of digits only.
        let by_id = rollback_plan(&s, &RollbackTo::parse("400812")).unwrap();
        assert_eq!(by_id.to.number, 2);
    }
}
