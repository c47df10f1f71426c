//! A function's `live` alias, which every route and authorizer invokes, and the versions
//! deploy publishes for it: a deploy that changed the function's code or configuration
//! publishes a version and points the alias at it; `rollback` points it at an earlier one
//! without touching the function (docs/aws.md, "Versions and the live alias").
//!
//! Every version is recorded the moment PublishVersion answers, before the alias points at
//! it, so that pruning (the stage's step, which knows which deployments are kept) finds each.
//! The alias and its versions go with the function: DeleteFunction removes them all.

use anyhow::Context;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{Check, CheckCx, Kind, Repair, Want, NOT_DEPLOYED};
use crate::aws::ErrorKind;
use crate::engine::{Action, StepResult};
use crate::kinds::context::DeployCtx;
use crate::kinds::function::FunctionRecord;
use crate::kinds::graph::{key, Node};
use crate::resources::function::{self, AliasInfo};
use crate::stack::{StackSpec, LIVE_ALIAS};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasRecord {
    /// The function's name.
    #[serde(rename = "id")]
    pub function: String,
    /// The alias's ARN (`...:function:NAME:live`).
    pub arn: String,
    /// The version the alias points to; empty while a move is in flight (a crash there leaves
    /// it unknown, and the next deploy or rollback points it again).
    pub version: String,
    /// The newest version deploy published, and what it was published from (the function's
    /// code SHA-256 and configuration fingerprint).
    pub published: String,
    pub published_from: String,
    /// Every version this stack published and has not deleted, oldest first.
    pub versions: Vec<String>,
    #[serde(default)]
    pub fingerprint: String,
}

impl crate::state::Typed for AliasRecord {
    const KIND: &'static str = "alias";
}

impl AliasRecord {
    /// Versions are numbers: ordered as such.
    pub fn sort_versions(&mut self) {
        self.versions
            .sort_by_key(|v| (v.parse::<u64>().unwrap_or(u64::MAX), v.clone()));
        self.versions.dedup();
    }
}

pub struct Alias;

/// What a function's version is published from: its code and its configuration.
fn published_from(f: &FunctionRecord) -> String {
    format!("{}|{}", f.code_sha256, f.config_fingerprint)
}

impl Kind for Alias {
    fn name(&self) -> &'static str {
        "alias"
    }
    fn noun(&self) -> &'static str {
        "Lambda alias"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("PublishVersion", "lambda:PublishVersion", Scope::Function),
            ("GetAlias", "lambda:GetAlias", Scope::Function),
            ("CreateAlias", "lambda:CreateAlias", Scope::Function),
            ("UpdateAlias", "lambda:UpdateAlias", Scope::Function),
            // A version beyond the kept deployments: DeleteFunction with its number.
            ("DeleteFunction", "lambda:DeleteFunction", Scope::Function),
        ]
    }
    fn removal_rank(&self) -> Option<u8> {
        // Goes with its function (DeleteFunction removes the aliases and versions).
        Some(23)
    }
    fn goes_with_container(&self) -> bool {
        true
    }
    fn step(&self) -> &'static str {
        "alias"
    }
    fn doing(&self) -> &'static str {
        "publishing a version and pointing the live alias at it"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<AliasRecord>(rec)
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        spec.functions
            .iter()
            .map(|f| {
                Node::new(&Alias, key::alias(&f.logical))
                    .for_item(&f.logical)
                    .lives_in(key::function(&f.logical))
            })
            .collect()
    }
    /// The alias and the function's configuration (a changed one is published as a version;
    /// changed code is [`Kind::other_change`]).
    fn props(&self, w: &Want, node: &Node) -> Option<Value> {
        let f = super::function_of(w.spec, node).ok()?;
        let fnode =
            Node::new(&super::function::Function, key::function(&f.logical)).for_item(&f.logical);
        let config = super::function::Function.props(w, &fnode)?;
        Some(json!({
            "function": f.name,
            "alias": LIVE_ALIAS,
            "configuration": super::fingerprint_of("function", &config),
        }))
    }
    fn label(&self, w: &Want, node: &Node) -> String {
        let name =
            super::function_of(w.spec, node).map_or_else(|_| node.key.clone(), |f| f.name.clone());
        match w.state.get::<AliasRecord>(&node.key) {
            Some(a) if !a.version.is_empty() => {
                format!("{name}:{LIVE_ALIAS} (version {})", a.version)
            }
            _ => format!("{name}:{LIVE_ALIAS}"),
        }
    }
    fn other_change(
        &self,
        node: &Node,
        rec: &crate::state::Record,
        code: &super::CodeShas,
    ) -> Option<(&'static str, Value, Value)> {
        let sha = code.get(node.item.as_deref()?)?;
        let from = rec.attrs.get("published_from").and_then(Value::as_str)?;
        let published = rec.attrs.get("published").cloned().unwrap_or(Value::Null);
        (from.split('|').next() != Some(sha.as_str())).then(|| {
            (
                "version",
                published,
                "a new version of the changed code".into(),
            )
        })
    }
    fn repair(&self, _node: &Node, _check: &Check) -> Repair {
        // Pointed again (made again if it is gone); the record keeps the published versions,
        // which pruning needs.
        Repair::Update
    }
    fn invalidate(&self, rec: &mut crate::state::Record) {
        rec.fingerprint.clear();
        rec.props = None;
        rec.attrs.insert("version".into(), "".into());
    }
    fn ensure<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(ensure(ctx, node))
    }
    fn check<'a>(&'a self, cx: &'a CheckCx<'a>, node: &'a Node) -> BoxFuture<'a, Option<Check>> {
        Box::pin(async move { Some(check(cx, node).await) })
    }
}

async fn ensure(ctx: &DeployCtx, node: &Node) -> anyhow::Result<StepResult> {
    let state = ctx.snapshot().await;
    let logical = node.item()?;
    let f = state
        .get::<FunctionRecord>(&key::function(logical))
        .context("the function is not recorded; run deploy again")?;
    let w = Want {
        spec: &ctx.spec,
        state: &state,
    };
    let props = Alias
        .props(&w, node)
        .context("the function's role is not recorded; run deploy again")?;
    let fingerprint = super::fingerprint_of("alias", &props);
    let recorded: Option<AliasRecord> = state.get(&node.key);
    let mut rec = recorded.clone().unwrap_or_else(|| AliasRecord {
        function: f.name.clone(),
        arn: crate::stack::alias_arn(&f.arn),
        version: String::new(),
        published: String::new(),
        published_from: String::new(),
        versions: Vec::new(),
        fingerprint: String::new(),
    });
    let mut details = Vec::new();
    let from = published_from(&f);
    if rec.published.is_empty() || rec.published_from != from {
        let description = format!(
            "serverless-cli {} code {}",
            ctx.spec.owner_tag, f.code_sha256
        );
        let version = ctx
            .call("alias", || {
                function::publish_version(ctx.aws(), &f.name, &f.code_sha256, &description)
            })
            .await
            .with_context(|| format!("publishing a version of function {}", f.name))?;
        rec.published = version.clone();
        rec.published_from = from;
        rec.versions.push(version.clone());
        rec.sort_versions();
        ctx.record(|s| s.put(&node.key, &rec)).await?;
        details.push(format!("version {version} published"));
    }
    if rec.version != rec.published || rec.fingerprint != fingerprint {
        let target = rec.published.clone();
        let info = point(&ctx.run, &f.name, &target, recorded.is_none()).await?;
        rec.arn = info.arn;
        rec.version = target.clone();
        rec.fingerprint = fingerprint;
        ctx.record(|s| s.put_applied(&node.key, &rec, props))
            .await?;
        details.push(format!("{LIVE_ALIAS} -> version {target}"));
    }
    let action = match (&recorded, details.is_empty()) {
        (_, true) => Action::Unchanged,
        (None, false) => Action::Created,
        (Some(_), false) => Action::Updated,
    };
    let result = StepResult::new(action, format!("{}:{LIVE_ALIAS}", f.name));
    Ok(if details.is_empty() {
        result
    } else {
        result.with_detail(details.join(", "))
    })
}

/// Points the function's live alias at `version`: UpdateAlias, or CreateAlias when there is
/// none (and UpdateAlias again when one appeared meanwhile: a crash after CreateAlias).
/// `new`: nothing records the alias, so CreateAlias is tried first.
pub async fn point(
    run: &crate::kinds::context::Run,
    function_name: &str,
    version: &str,
    new: bool,
) -> anyhow::Result<AliasInfo> {
    let update = || {
        run.call("alias", || {
            function::update_alias(&run.aws, function_name, LIVE_ALIAS, version)
        })
    };
    let pointing = || format!("pointing alias {function_name}:{LIVE_ALIAS} at version {version}");
    if !new {
        match update().await {
            Err(e) if e.is(ErrorKind::NotFound) => {}
            other => return other.with_context(pointing),
        }
    }
    let description = "the version API Gateway invokes (serverless-cli)";
    match run
        .call("alias", || {
            function::create_alias(&run.aws, function_name, LIVE_ALIAS, version, description)
        })
        .await
    {
        // Made by a run that crashed before recording it, or meanwhile: pointed.
        Err(e) if e.is(ErrorKind::AlreadyExists) => update().await.with_context(pointing),
        other => other.with_context(pointing),
    }
}

async fn check(cx: &CheckCx<'_>, node: &Node) -> Check {
    let c = cx.c;
    let Some(rec) = cx.state.get::<AliasRecord>(&node.key) else {
        let label = Alias.label(
            &Want {
                spec: cx.spec,
                state: cx.state,
            },
            node,
        );
        return Check::missing(label, NOT_DEPLOYED);
    };
    let label = format!("{}:{LIVE_ALIAS}", rec.function);
    match c
        .call("status", || {
            function::get_alias(&c.aws, &rec.function, LIVE_ALIAS)
        })
        .await
    {
        Err(e) => Check::failed(label, e),
        Ok(None) => Check::missing(label, format!("alias {LIVE_ALIAS} does not exist")),
        Ok(Some(a)) => {
            let label = format!("{label} (version {})", a.version);
            if rec.version.is_empty() {
                Check::drifted(
                    label,
                    format!(
                        "a move of the alias was interrupted (it serves version {}): run rollback to finish it, or deploy to roll forward",
                        a.version
                    ),
                )
            } else if a.version != rec.version {
                Check::drifted(
                    label,
                    format!(
                        "alias serves version {}, not version {} as deployed",
                        a.version, rec.version
                    ),
                )
            } else if rec.version != rec.published {
                Check::drifted(
                    label,
                    format!(
                        "rolled back: serves version {}; the deployed code is version {} (deploy rolls forward)",
                        a.version, rec.published
                    ),
                )
            } else {
                Check::ok(label)
            }
        }
    }
}

/// Deletes the published versions of every alias that no kept deployment names and that the
/// alias does not serve; each is forgotten the moment it is gone. Returns what was deleted.
pub async fn prune(
    ctx: &DeployCtx,
    kept: &std::collections::BTreeMap<String, Vec<String>>,
) -> anyhow::Result<Vec<String>> {
    let mut deleted = Vec::new();
    for (alias_key, rec) in ctx.snapshot().await.all::<AliasRecord>() {
        let Some(logical) = alias_key.strip_prefix("alias:") else {
            continue;
        };
        let keep = kept.get(logical).cloned().unwrap_or_default();
        let stale: Vec<String> = rec
            .versions
            .iter()
            .filter(|v| !keep.contains(v) && **v != rec.version && **v != rec.published)
            .cloned()
            .collect();
        for v in stale {
            ctx.call("alias", || {
                function::delete_version(ctx.aws(), &rec.function, &v)
            })
            .await
            .with_context(|| format!("deleting version {v} of function {}", rec.function))?;
            ctx.record(|s| {
                if let Some(mut a) = s.get::<AliasRecord>(&alias_key) {
                    a.versions.retain(|x| *x != v);
                    s.put(&alias_key, &a);
                }
            })
            .await?;
            deleted.push(format!("{} version {v}", rec.function));
        }
    }
    Ok(deleted)
}
