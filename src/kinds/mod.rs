//! One module per kind of resource, each implementing [`Kind`]: its nodes in the graph, the
//! properties it is made from (hashed into its fingerprint), ensure (create, adopt by owner
//! tag, update), check (ok, missing or drifted, with the reason), how a drift is repaired, and
//! delete. The operations (`ops/`) are generic over them.
//!
//! Adding a kind: a new file here implementing [`Kind`], and one line in [`REGISTRY`].

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde_json::Value;

use crate::aws::{AwsError, Caller};
use crate::engine::StepResult;
use crate::graph::Node;
use crate::ops::deploy::DeployCtx;
use crate::ops::status::Health;
use crate::ops::teardown::TeardownCtx;
use crate::stack::StackSpec;
use crate::state::{StackState, LEGACY_PREFIX};

pub mod api_document;
pub mod function;
pub mod integration;
pub mod integration_responses;
pub mod log_group;
pub mod method;
pub mod method_responses;
pub mod path;
pub mod permission;
pub mod rest_api;
pub mod role;
pub mod role_policy;
pub mod route;
pub mod stage;
pub mod table;
pub mod validator;

/// Every kind, in the order their nodes are listed (the graph then orders them by their
/// dependencies).
pub static REGISTRY: &[&dyn Kind] = &[
    &table::Table,
    &role::Role,
    &role_policy::RolePolicy,
    &function::Function,
    &log_group::LogGroup,
    &rest_api::RestApi,
    &api_document::ApiDocument,
    &path::Path,
    &validator::Validator,
    &method::Method,
    &method_responses::MethodResponses,
    &integration::Integration,
    &integration_responses::IntegrationResponses,
    &permission::Permission,
    &stage::Stage,
];

/// The record of a method, its responses, its integration or its integration responses: API
/// Gateway gives them no id of their own; the record says what was put.
#[macro_export]
macro_rules! fingerprint_record {
    ($name:ident, $kind:literal) => {
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// The route, `POST /user`.
            #[serde(default)]
            pub id: String,
            pub fingerprint: String,
        }

        impl $crate::state::Typed for $name {
            const KIND: &'static str = $kind;
        }
    };
}

/// Checks that a record parses as its kind's type.
pub fn check_record(rec: &crate::state::Record) -> Result<(), String> {
    match by_name(&rec.kind) {
        Some(kind) => kind.check_record(rec),
        None => Err(format!("unknown kind '{}'", rec.kind)),
    }
}

/// A kind's `check_record`: the record parses as `T`.
pub fn parses_as<T: crate::state::Typed>(rec: &crate::state::Record) -> Result<(), String> {
    rec.typed::<T>().map(|_| ())
}

/// The kind registered under `name`.
pub fn by_name(name: &str) -> Option<&'static dyn Kind> {
    REGISTRY.iter().copied().find(|k| k.name() == name)
}

/// What removing a resource by name found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    Deleted,
    /// Already gone.
    Gone,
    /// It belongs to someone else: left in place.
    Foreign(crate::resources::Owner),
}

impl Removal {
    /// Deploy's removal of what the stack file no longer has: a resource of someone else's
    /// under the recorded name is left alone (and the record forgotten).
    pub fn into_result(self, kind: &str, name: String) -> StepResult {
        use crate::engine::Action;
        match self {
            Removal::Deleted => StepResult::new(Action::Deleted, name),
            Removal::Gone => StepResult::new(Action::Gone, name),
            Removal::Foreign(owner) => StepResult::new(Action::Skipped, name).with_detail(format!(
                "{kind} belongs to {}; left in place",
                owner.describe()
            )),
        }
    }
}

/// For a kind's `predict`: the record a resource whose IDs follow from its name will have
/// (props and fingerprint are set by plan).
pub fn predicted(kind: &str, id: String, arn: String, attrs: Value) -> crate::state::Record {
    crate::state::Record {
        kind: kind.to_string(),
        id,
        arn: Some(arn),
        fingerprint: String::new(),
        attrs: match attrs {
            Value::Object(m) => m,
            _ => Default::default(),
        },
        props: None,
    }
}

/// The table a table's node is.
pub fn table_of<'a>(
    spec: &'a crate::stack::StackSpec,
    node: &Node,
) -> anyhow::Result<&'a crate::stack::TableSpec> {
    let logical = node.item()?;
    spec.table(logical)
        .ok_or_else(|| anyhow::anyhow!("the model has no table '{logical}'"))
}

/// The function a function's, role's, role policy's or log group's node belongs to.
pub fn function_of<'a>(
    spec: &'a crate::stack::StackSpec,
    node: &Node,
) -> anyhow::Result<&'a crate::stack::FunctionSpec> {
    let logical = node.item()?;
    spec.function(logical)
        .ok_or_else(|| anyhow::anyhow!("the model has no function '{logical}'"))
}

/// The function a route's node invokes.
pub fn route_function<'a>(
    spec: &'a crate::stack::StackSpec,
    node: &Node,
) -> anyhow::Result<&'a crate::stack::FunctionSpec> {
    let route = node.route()?;
    spec.route_function(route).ok_or_else(|| {
        anyhow::anyhow!(
            "route {} names no function of the model ('{}')",
            route.label(),
            route.function
        )
    })
}

/// The SHA-256 (base64, as Lambda reports it) of each function's code, by logical name.
pub type CodeShas = std::collections::BTreeMap<String, String>;

/// What the wish is resolved against: the model, and the IDs recorded so far.
pub struct Want<'a> {
    pub spec: &'a StackSpec,
    pub state: &'a StackState,
}

/// The result of checking one resource against AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub health: Health,
    /// Name or id, for the status table.
    pub id: String,
    pub reason: Option<String>,
    /// Only on its way to ready (CREATING, Pending, InProgress): waiting will mend it.
    pub transitional: bool,
}

impl Check {
    pub fn ok(id: impl Into<String>) -> Self {
        Check {
            health: Health::Ok,
            id: id.into(),
            reason: None,
            transitional: false,
        }
    }
    pub fn missing(id: impl Into<String>, why: impl Into<String>) -> Self {
        Check {
            health: Health::Missing,
            reason: Some(why.into()),
            ..Check::ok(id)
        }
    }
    pub fn drifted(id: impl Into<String>, why: impl Into<String>) -> Self {
        Check {
            health: Health::Drifted,
            reason: Some(why.into()),
            ..Check::ok(id)
        }
    }
    /// Drifted only because it is still on its way to ready.
    pub fn settling(id: impl Into<String>, why: impl Into<String>) -> Self {
        Check {
            transitional: true,
            ..Check::drifted(id, why)
        }
    }
    pub fn failed(id: impl Into<String>, e: AwsError) -> Self {
        Check {
            health: Health::Unknown,
            reason: Some(e.to_string()),
            ..Check::ok(id)
        }
    }
    pub fn is_bad(&self) -> bool {
        matches!(self.health, Health::Missing | Health::Drifted)
    }
}

/// What status says of a resource the state does not record.
pub const NOT_DEPLOYED: &str = "not recorded in the state; run deploy";

/// How deploy puts a missing or drifted resource right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// Forget these keys and everything that lives in them: they are made again (or found
    /// again by name and owner tag).
    Recreate(Vec<String>),
    /// Keep the record but forget what it was made from: ensure updates it in place.
    Update,
    /// On its way to ready: ensure waits for it.
    Wait,
}

/// Reads several checks share (one GetPolicy for every permission, one GetMethod for a
/// method and its responses), made once per round.
#[derive(Default)]
pub struct Memo {
    cells: Mutex<HashMap<String, Arc<Cell>>>,
}

/// One shared read's answer, whatever its type.
type Cell = tokio::sync::OnceCell<Arc<dyn Any + Send + Sync>>;

impl Memo {
    pub async fn get<T, F, Fut>(&self, key: String, read: F) -> T
    where
        T: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let cell = self
            .cells
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default()
            .clone();
        let v = cell
            .get_or_init(|| async move { Arc::new(read().await) as Arc<dyn Any + Send + Sync> })
            .await
            .clone();
        match v.downcast_ref::<T>() {
            Some(t) => t.clone(),
            None => unreachable!("a memo key is read with one type"),
        }
    }
}

/// What a check may read.
pub struct CheckCx<'a> {
    pub c: &'a Caller,
    pub spec: &'a StackSpec,
    pub state: &'a StackState,
    pub memo: Memo,
}

impl<'a> CheckCx<'a> {
    pub fn new(c: &'a Caller, spec: &'a StackSpec, state: &'a StackState) -> Self {
        CheckCx {
            c,
            spec,
            state,
            memo: Memo::default(),
        }
    }
}

/// A kind's read of one resource's owner tag: (how it is named to a person, whose its tag
/// says it is), `None` when the resource is gone.
pub type OwnerRead<'a> = BoxFuture<'a, Result<Option<(String, crate::resources::Owner)>, AwsError>>;

/// One kind of resource.
pub trait Kind: Sync + Send {
    /// The kind's name: the first part of its keys and the `kind` of its records.
    fn name(&self) -> &'static str;
    /// The deploy step (the progress line, the report) and status row that cover this kind's
    /// resources together.
    fn step(&self) -> &'static str;
    /// The status row (by default the step). It must be one of `ops::status::ROWS` (a
    /// test walks the registry).
    fn row(&self) -> &'static str {
        self.step()
    }
    /// Where deploy removes a resource of this kind that the model no longer has, in the
    /// order of removal (what depends on others first: a permission and a method before
    /// their path, a function before its role); `None`: deploy does not remove one and
    /// stops before any change instead. Every kind says (no default).
    fn removal_rank(&self) -> Option<u8>;
    /// What the progress line says while it is made.
    fn doing(&self) -> &'static str;
    /// Whether a record read from a state file is one of this kind's (it parses as the kind's
    /// record type).
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String>;
    /// Its nodes for a model.
    fn nodes(&self, spec: &StackSpec) -> Vec<Node>;
    /// The properties it is made from, resolved against the recorded IDs of what it needs
    /// (`None` while one is not recorded: known after deploy).
    fn props(&self, w: &Want, node: &Node) -> Option<Value>;
    /// Its name or id for status and plan, recorded or not.
    fn label(&self, w: &Want, node: &Node) -> String;
    /// Makes it so: create (or adopt one found by name and owner tag), or update.
    fn ensure<'a>(
        &'a self,
        cx: &'a DeployCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>>;
    /// Reads it back; `None` for a kind that another kind's check covers.
    fn check<'a>(&'a self, cx: &'a CheckCx<'a>, node: &'a Node) -> BoxFuture<'a, Option<Check>>;
    /// How a bad check is repaired.
    fn repair(&self, node: &Node, check: &Check) -> Repair {
        let _ = check;
        Repair::Recreate(vec![node.key.clone()])
    }
    /// The properties a record written by state format 1 or 2 says it was made from, for kinds
    /// whose record kept them (the table's billing, the log group's retention).
    fn props_from_record(&self, w: &Want, node: &Node) -> Option<Value> {
        let _ = (w, node);
        None
    }
    /// Whether a changed wish is applied to the resource in place; kinds that only ever get
    /// made (the role, the REST API, a path) are current as long as they exist.
    fn updatable(&self) -> bool {
        true
    }
    /// The fingerprint a release writing state format 1 or 2 recorded for the same wish.
    fn legacy_fingerprint(&self, w: &Want, node: &Node) -> Option<String> {
        let _ = (w, node);
        None
    }
    /// Forgets what a recorded resource was made from, so ensure updates it in place.
    fn invalidate(&self, rec: &mut crate::state::Record) {
        rec.fingerprint.clear();
        rec.props = None;
        if rec.attrs.contains_key("ready") {
            rec.attrs.insert("ready".into(), false.into());
        }
    }
    /// For plan, when nothing records it: whether a resource of its name exists, and whose
    /// (deploy adopts one that is this stack's). `None`: none found, or deploy never looks.
    fn find<'a>(
        &'a self,
        cx: &'a CheckCx<'a>,
        node: &'a Node,
        before: &'a crate::ops::deploy::Before,
    ) -> BoxFuture<'a, Option<crate::resources::Owner>> {
        let _ = (cx, node, before);
        Box::pin(async { None })
    }
    /// Deploy's removal of a recorded resource the model no longer has (plan's `delete`); the
    /// record is forgotten after it. By default it goes with what it lives in (the parts of
    /// a method go with the method). Kinds that can stand alone say how they are deleted.
    fn remove<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        key: &'a str,
        rec: &'a crate::state::Record,
    ) -> BoxFuture<'a, anyhow::Result<Option<StepResult>>> {
        let _ = (ctx, key, rec);
        Box::pin(async { Ok(None) })
    }
    /// For plan: the record it will have once deploy makes it, when its IDs follow from its
    /// name (`None`: AWS picks them, known after deploy). Props and fingerprint are set by plan.
    fn predict(
        &self,
        spec: &StackSpec,
        node: &Node,
        code: &CodeShas,
    ) -> Option<crate::state::Record> {
        let _ = (spec, node, code);
        None
    }
    /// For plan: a change deploy makes besides its props (the function's code), as (field in
    /// `attrs`, recorded, wished).
    fn other_change(
        &self,
        node: &Node,
        rec: &crate::state::Record,
        code: &CodeShas,
    ) -> Option<(&'static str, Value, Value)> {
        let _ = (node, rec, code);
        None
    }
    /// For plan: why a change from `before` to `after` (its props) replaces it instead of
    /// updating it in place (a table's key); `None`: updated in place.
    fn replaced_on(&self, before: &Value, after: &Value) -> Option<String> {
        let _ = (before, after);
        None
    }
    /// The owner tag of one recorded resource of this kind, read: (how it is named to a
    /// person, whose its tag says it is), `Ok(None)` when it is gone. `None`: the kind carries
    /// no owner tag of its own (it lives in a resource that does).
    fn owner<'a>(
        &'a self,
        _c: &'a Caller,
        _rec: &'a crate::state::Record,
        _owner: &'a str,
    ) -> Option<OwnerRead<'a>> {
        None
    }
    /// Puts this stack's owner tag back on one recorded resource of this kind (every kind
    /// with `owner` has it).
    fn retag<'a>(
        &'a self,
        _c: &'a Caller,
        _rec: &'a crate::state::Record,
        _state: &'a StackState,
    ) -> Option<BoxFuture<'a, Result<(), AwsError>>> {
        None
    }
    /// Deleting it loses data (plan and teardown say so).
    fn holds_data(&self) -> bool {
        false
    }
    /// Removed together with the resource it lives in: teardown has no step of its own for it.
    fn goes_with_container(&self) -> bool {
        false
    }
    /// Teardown's removal; kinds that go with their container never get here.
    fn delete<'a>(
        &'a self,
        cx: &'a TeardownCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        let _ = cx;
        Box::pin(async move { anyhow::bail!("{} is removed with what it lives in", node.key) })
    }
    /// What teardown's progress line says.
    fn deleting(&self) -> &'static str {
        "deleting"
    }
}

/// Short, stable hash of a kind's properties.
pub fn fingerprint_of(kind: &str, props: &Value) -> String {
    crate::stack::fingerprint(&[kind, &props.to_string()])
}

/// The fingerprint of a node's wish, if it can be resolved now.
pub fn wanted_fingerprint(w: &Want, node: &Node) -> Option<String> {
    node.kind
        .props(w, node)
        .map(|p| fingerprint_of(node.kind.name(), &p))
}

/// Rewrites fingerprints carried over from state format 1 or 2 (marked `v2:`) to this format's,
/// where they still equal what that release hashed for the same wish: an upgrade alone
/// changes nothing in AWS. Others are cleared, so the resource is brought up to date.
/// Returns whether anything changed.
pub fn upgrade_legacy(
    state: &mut StackState,
    spec: &StackSpec,
    graph: &crate::graph::Graph,
) -> bool {
    let mut changed = false;
    for node in &graph.nodes {
        let Some(rec) = state.resources.get(&node.key) else {
            continue;
        };
        if rec.props.is_some() {
            continue;
        }
        let w = Want { spec, state };
        let (fingerprint, props) = if let Some(p) = node.kind.props_from_record(&w, node) {
            (fingerprint_of(node.kind.name(), &p), Some(p))
        } else if let Some(old) = rec.fingerprint.strip_prefix(LEGACY_PREFIX) {
            if node.kind.legacy_fingerprint(&w, node).as_deref() == Some(old) {
                let p = node.kind.props(&w, node);
                let fp = p
                    .as_ref()
                    .map(|p| fingerprint_of(node.kind.name(), p))
                    .unwrap_or_default();
                (fp, p)
            } else {
                (String::new(), None)
            }
        } else {
            continue;
        };
        if let Some(rec) = state.resources.get_mut(&node.key) {
            rec.fingerprint = fingerprint;
            rec.props = props;
            changed = true;
        }
    }
    changed
}

/// Whether a recorded fingerprint is the wish's.
pub fn is_current(recorded: &str, w: &Want, node: &Node) -> bool {
    !recorded.is_empty() && wanted_fingerprint(w, node).as_deref() == Some(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry is the list of kinds: each kind says everything the operations ask of
    /// it, so a kind added with a part forgotten fails here, not silently in status or deploy.
    #[test]
    fn every_registered_kind_is_complete() {
        let mut names = std::collections::BTreeSet::new();
        let mut ranks = std::collections::BTreeSet::new();
        for kind in REGISTRY {
            let name = kind.name();
            assert!(names.insert(name), "two kinds are named {name}");
            assert_eq!(by_name(name).map(|k| k.name()), Some(name));
            // Its status row is one status shows (a row not listed there would vanish).
            assert!(
                crate::ops::status::ROWS.contains(&kind.row()),
                "{name}: status row '{}' is not in ops::status::ROWS",
                kind.row()
            );
            assert!(
                !kind.step().is_empty() && !kind.doing().is_empty(),
                "{name}"
            );
            // Deploy's removal order has one place for each kind it removes.
            if let Some(rank) = kind.removal_rank() {
                assert!(ranks.insert(rank), "{name} shares removal rank {rank}");
                assert!(crate::ops::deploy::removable(name), "{name}");
            }
            // What teardown and plan say of it.
            if !kind.goes_with_container() {
                assert!(!kind.deleting().is_empty(), "{name}: no teardown line");
            }
        }
        // Dependents before what they depend on.
        let rank = |k: &str| by_name(k).and_then(|k| k.removal_rank()).unwrap();
        assert!(rank("permission") < rank("function"));
        assert!(rank("method") < rank("path"));
        assert!(rank("function") < rank("role"));
        assert!(rank("role-policy") < rank("role"));
    }
}
