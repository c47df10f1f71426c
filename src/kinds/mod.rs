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
use crate::kinds::context::Health;
use crate::kinds::context::TeardownCtx;
use crate::kinds::context::{DeployCtx, KeyCheck};
use crate::kinds::graph::{Graph, Node};
use crate::stack::StackSpec;
use crate::state::{StackState, LEGACY_PREFIX};

pub mod alias;
pub mod api_document;
pub mod api_key;
pub mod authorizer;
pub mod base_path_mapping;
pub mod certificate;
pub mod certificate_validation;
pub mod context;
pub mod dns;
pub mod domain_name;
pub mod domain_records;
pub mod function;
pub mod gateway_responses;
pub mod graph;
pub mod integration;
pub mod integration_responses;
pub mod log_group;
pub mod method;
pub mod method_responses;
pub mod path;
pub mod permission;
pub mod recorded;
pub mod rest_api;
pub mod role;
pub mod role_policy;
pub mod route;
pub mod stage;
pub mod table;
pub mod tagged;
pub mod usage_plan;
pub mod usage_plan_key;
pub mod validator;

/// Every kind, in the order their nodes are listed (the graph then orders them by their
/// dependencies).
pub static REGISTRY: &[&dyn Kind] = &[
    &table::Table,
    &role::Role,
    &role_policy::RolePolicy,
    &function::Function,
    &alias::Alias,
    &log_group::LogGroup,
    &rest_api::RestApi,
    &api_document::ApiDocument,
    &gateway_responses::GatewayResponses,
    &path::Path,
    &validator::Validator,
    &method::Method,
    &method_responses::MethodResponses,
    &integration::Integration,
    &integration_responses::IntegrationResponses,
    &permission::Permission,
    &authorizer::Authorizer,
    &stage::Stage,
    &api_key::ApiKey,
    &usage_plan::UsagePlan,
    &usage_plan_key::UsagePlanKey,
    &certificate::Certificate,
    &certificate_validation::CertificateValidation,
    &domain_name::DomainName,
    &base_path_mapping::BasePathMapping,
    &domain_records::DomainRecords,
];

/// The status table's rows in order: each kind's row and extra rows in the registry's order,
/// then `last` (the owner tags, which every kind's records share).
pub fn status_rows(last: &'static str) -> Vec<&'static str> {
    let mut rows = Vec::new();
    for kind in REGISTRY {
        for row in std::iter::once(kind.row()).chain(kind.extra_rows().iter().copied()) {
            if !rows.contains(&row) {
                rows.push(row);
            }
        }
    }
    rows.push(last);
    rows
}

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

/// Makes every state read check its records against the registry ([`check_record`]). Called
/// by `main` before any command, and by the tests that read states.
pub fn install() {
    crate::state::check_records_with(check_record);
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

/// What a statement of the deploying identity's IAM policy covers (`iam-policy` writes one
/// statement per scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Actions that take no resource (`*`): the identity call, and the account-wide lists that
    /// find a stack by its tags when the state is lost.
    Account,
    Table,
    Role,
    Function,
    LogGroup,
    /// `logs:DescribeLogGroups` is authorised against `log-group::log-stream:`, not one log
    /// group's ARN (docs/aws.md, "What the deploying identity needs").
    LogGroupList,
    /// API Gateway's REST paths: `/restapis` and everything below it.
    RestApis,
    /// API Gateway's tagging path (tags on create).
    ApiTags,
    /// API keys: `/apikeys` and below.
    ApiKeys,
    /// Usage plans and their keys: `/usageplans` and below.
    UsagePlans,
    /// ACM calls that take no certificate ARN (a request, the list): `*`, granted only to a
    /// stack with a `[domain]`.
    CertificateRequests,
    /// The account's certificates (their ARNs are ACM's choice).
    Certificates,
    /// Route53 reads of zones (by name: no id known beforehand).
    HostedZoneList,
    /// Route53 hosted zones: their records (changes limited to the domain's names).
    HostedZones,
    /// Route53 changes, waited on.
    DnsChanges,
    /// API Gateway's domain names of the stack: `/domainnames/NAME` and below.
    DomainNames,
}

/// An AWS operation (the name its errors carry), the IAM action that authorises it, and the
/// scope of the statement that grants it.
pub type Grant = (&'static str, &'static str, Scope);

/// What deploy does about a finding of the stack as a whole ([`Kind::answer`]).
#[derive(Debug, Default)]
pub struct Answer {
    /// Records forgotten so that their steps make them again, each with why.
    pub redo: Vec<(String, &'static str)>,
    /// What the run removes besides, in words (plan lists it).
    pub removes: Vec<String>,
}

/// Where deploy's JSON (`resources`) puts a kind's records.
#[derive(Debug, Clone, Copy)]
pub enum Shown {
    /// A map by logical name (`tables: {user: ...}`), and the first under `first` (the field
    /// from before stack files had several).
    ByName {
        section: &'static str,
        first: &'static str,
    },
    /// A list of every record.
    List(&'static str),
    /// The one record (null when none).
    One(&'static str),
}

/// Deploy's JSON of what the state records, each kind as it says ([`Kind::shown`]).
pub fn records_json(state: &StackState) -> Value {
    let mut out = serde_json::Map::new();
    for kind in REGISTRY {
        let Some(shown) = kind.shown() else { continue };
        let mine: Vec<(&String, &crate::state::Record)> = state
            .resources
            .iter()
            .filter(|(_, r)| r.kind == kind.name())
            .collect();
        match shown {
            Shown::ByName { section, first } => {
                let by_name: serde_json::Map<String, Value> = mine
                    .iter()
                    .map(|(key, rec)| {
                        let logical = key.split_once(':').map_or(key.as_str(), |(_, l)| l);
                        (logical.to_string(), kind.show(rec))
                    })
                    .collect();
                out.insert(section.into(), by_name.into());
                let one = mine.first().map_or(Value::Null, |(_, rec)| kind.show(rec));
                out.insert(first.into(), one);
            }
            Shown::List(section) => {
                let all: Vec<Value> = mine.iter().map(|(_, rec)| kind.show(rec)).collect();
                out.insert(section.into(), all.into());
            }
            Shown::One(section) => {
                let one = mine.first().map_or(Value::Null, |(_, rec)| kind.show(rec));
                out.insert(section.into(), one);
            }
        }
    }
    out.into()
}

/// Teardown's confirmation lines for a kind: `line` of each recorded name (`name_of` a
/// record), else of `fallback` (what a crash may have left unrecorded).
pub fn inventory_lines<T: crate::state::Typed>(
    state: &StackState,
    name_of: impl Fn(T) -> String,
    fallback: String,
    line: impl Fn(&str) -> String,
) -> Vec<String> {
    let mut names: Vec<String> = state
        .all::<T>()
        .into_iter()
        .map(|(_, r)| name_of(r))
        .collect();
    if names.is_empty() {
        names.push(fallback);
    }
    names.iter().map(|n| line(n)).collect()
}

/// Teardown's confirmation: what each kind would remove.
pub fn inventory(state: &StackState, keep_data: bool) -> Vec<String> {
    REGISTRY
        .iter()
        .flat_map(|kind| kind.inventory(state, keep_data))
        .collect()
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
    /// The status row (by default the step). Rows are shown in the registry's order.
    fn row(&self) -> &'static str {
        self.step()
    }
    /// The status rows of this kind's checks of the stack as a whole ([`Kind::stack_checks`])
    /// besides its own row, shown right after it.
    fn extra_rows(&self) -> &'static [&'static str] {
        &[]
    }
    /// Checks of the stack as a whole that this kind answers for, each with its status row
    /// (what the REST API has beyond the stack; statements in a function's policy the stack
    /// did not put). `None`: it has none.
    fn stack_checks<'a>(
        &'a self,
        cx: &'a CheckCx<'a>,
    ) -> Option<BoxFuture<'a, Vec<(&'static str, Check)>>> {
        let _ = cx;
        None
    }
    /// What deploy must learn from the account before it changes or waits for anything
    /// (a domain's hosted zone, its delegation, a brought certificate); an error stops the
    /// deploy with nothing changed. `against_aws`: the endpoint is AWS's own, not an
    /// emulator's. `None`: the kind has nothing to check first.
    fn preflight<'a>(
        &'a self,
        _c: &'a Caller,
        _spec: &'a StackSpec,
        _state: &'a StackState,
        _against_aws: bool,
    ) -> Option<BoxFuture<'a, anyhow::Result<()>>> {
        None
    }
    /// Where deploy removes a resource of this kind that the model no longer has, in the
    /// order of removal (what depends on others first: a permission and a method before
    /// their path, a function before its role); `None`: deploy does not remove one and
    /// stops before any change instead. Every kind says (no default).
    fn removal_rank(&self) -> Option<u8>;
    /// What the progress line says while it is made.
    fn doing(&self) -> &'static str;
    /// Every AWS operation its calls make (create, read, update, delete, tag), with the IAM
    /// action that authorises each: `iam-policy` grants exactly these. Every kind says (no
    /// default); a unit test fails when a call the code makes is granted by none.
    fn iam(&self) -> &'static [Grant];
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
        before: &'a crate::kinds::context::Before,
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
    /// For plan: what a person should know about making it (where it is made, when it is
    /// not where the rest of the stack is); `None`: nothing.
    fn create_note(&self, w: &Want, node: &Node) -> Option<String> {
        let _ = (w, node);
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
    /// Whether a changed wish makes the resource again rather than updating it in place, so
    /// that what lives in it is made again too (a method: PutMethod over one is refused, so
    /// it is deleted and put, and its responses and integration go with it).
    fn remade_when_changed(&self) -> bool {
        false
    }
    /// Whether its record is kept, told it is out of date ([`Kind::invalidate`]), when a
    /// resource of kind `container` that it lives in is made again, rather than forgotten
    /// (the stage's record keeps the deployments to roll back to, which outlive a route made
    /// again but not the REST API).
    fn outlives(&self, container: &str) -> bool {
        let _ = container;
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
    /// How a person names one (`IAM role`, `REST API`); by default the kind's name.
    fn noun(&self) -> &'static str {
        self.name()
    }
    /// The kinds whose records this kind makes obsolete when the model has it: forgotten
    /// before the run instead of removed one call each (the document build puts every path,
    /// method and response at once).
    fn replaces(&self) -> &'static [&'static str] {
        &[]
    }
    /// Records of this kind that the model no longer has and that deploy removes only after a
    /// successful run (what takes their place must be in place first), each with plan's reason.
    fn removed_after_run(
        &self,
        state: &StackState,
        graph: &Graph,
        orphans: &[String],
    ) -> Vec<(String, &'static str)> {
        let _ = (state, graph, orphans);
        Vec::new()
    }
    /// What deploy does, before its steps, about what this kind's checks of the stack as a
    /// whole found ([`Kind::stack_checks`]); plan says the same.
    fn answer(&self, findings: &[KeyCheck], spec: &StackSpec) -> Answer {
        let _ = (findings, spec);
        Answer::default()
    }
    /// What teardown's progress line says.
    fn deleting(&self) -> &'static str {
        "deleting"
    }
    /// What teardown's confirmation lists for this kind: each recorded resource, else (nothing
    /// recorded, as after a crash) what the state's names say may exist. Empty for a kind that
    /// goes with its container; a unit test fails for a kind with its own teardown step that
    /// lists nothing.
    fn inventory(&self, state: &crate::state::StackState, keep_data: bool) -> Vec<String> {
        let _ = (state, keep_data);
        Vec::new()
    }
    /// How deploy's JSON shows this kind's records (`None`: it does not), and one record.
    fn shown(&self) -> Option<Shown> {
        None
    }
    fn show(&self, rec: &crate::state::Record) -> Value {
        let _ = rec;
        Value::Null
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
    graph: &crate::kinds::graph::Graph,
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

    /// What a list of kinds leaves out: each kind must say everything the operations ask of
    /// it. The trait's required methods are the compiler's to check; these are the parts a
    /// default would otherwise hide.
    fn problems(kinds: &[&dyn Kind]) -> Vec<String> {
        let mut out = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        let mut ranks = std::collections::BTreeMap::new();
        let empty = StackState::new(
            "prod",
            "us-east-1",
            None,
            crate::stack::Names::defaults("prod"),
        );
        for kind in kinds {
            let name = kind.name();
            if !names.insert(name) {
                out.push(format!("two kinds are named {name}"));
            }
            // Its status rows are named (ops::status's test shows every one is shown).
            if kind.row().is_empty() || kind.extra_rows().iter().any(|r| r.is_empty()) {
                out.push(format!("{name}: a status row without a name"));
            }
            if kind.step().is_empty() || kind.doing().is_empty() {
                out.push(format!("{name}: no progress line"));
            }
            // Deploy's removal order has one place for each kind it removes.
            if let Some(rank) = kind.removal_rank() {
                if let Some(other) = ranks.insert(rank, name) {
                    out.push(format!("{name} shares removal rank {rank} with {other}"));
                }
            }
            // The deploying identity's policy grants its calls.
            if kind.iam().is_empty() {
                out.push(format!(
                    "{name}: no IAM actions (iam-policy would not grant its calls)"
                ));
            }
            // A record of another kind is not one of its.
            let other = crate::state::Record {
                kind: "not-a-kind".into(),
                id: "x".into(),
                arn: None,
                fingerprint: String::new(),
                attrs: Default::default(),
                props: None,
            };
            if kind.check_record(&other).is_ok() {
                out.push(format!("{name}: its record check takes any record"));
            }
            // What teardown says of it: its progress line, and its confirmation's line,
            // recorded or not.
            if !kind.goes_with_container() {
                if kind.deleting().is_empty() {
                    out.push(format!("{name}: no teardown line"));
                }
                if kind.inventory(&empty, false).is_empty() {
                    out.push(format!("{name}: teardown's confirmation would not list it"));
                }
            }
        }
        out
    }

    /// The registry is the list of kinds: a kind added with a part forgotten fails here, not
    /// silently in status, deploy, teardown or the IAM policy.
    #[test]
    fn every_registered_kind_is_complete() {
        assert_eq!(problems(REGISTRY), Vec::<String>::new());
        for kind in REGISTRY {
            assert_eq!(by_name(kind.name()).map(|k| k.name()), Some(kind.name()));
        }
        // Deploy's JSON keeps every field it had when the list was written by hand.
        let empty = StackState::new(
            "prod",
            "us-east-1",
            None,
            crate::stack::Names::defaults("prod"),
        );
        let doc = records_json(&empty);
        let fields: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert_eq!(
            fields,
            [
                "api",
                "api_keys",
                "deployment",
                "domain",
                "function",
                "functions",
                "log_group",
                "log_groups",
                "permissions",
                "request_validator",
                "resources",
                "role",
                "roles",
                "table",
                "tables",
                "usage_plans",
            ]
        );
        // Dependents before what they depend on.
        let rank = |k: &str| by_name(k).and_then(|k| k.removal_rank()).unwrap();
        assert!(rank("permission") < rank("function"));
        assert!(rank("method") < rank("path"));
        assert!(rank("function") < rank("role"));
        assert!(rank("role-policy") < rank("role"));
    }

    /// Teardown's confirmation names every recorded table (the shop has two), says which are
    /// kept, and falls back on the state's names when nothing is recorded.
    #[test]
    fn teardown_lists_every_recorded_resource_of_each_kind() {
        let mut s = StackState::new(
            "prod",
            "us-east-1",
            None,
            crate::stack::Names::defaults("prod"),
        );
        for name in ["shop-users-prod", "shop-orders-prod"] {
            let logical = name.trim_start_matches("shop-").trim_end_matches("-prod");
            s.put(
                &format!("table:{logical}"),
                &table::TableRecord {
                    name: name.into(),
                    arn: format!("arn:aws:dynamodb:us-east-1:1:table/{name}"),
                    billing: crate::stack::Billing::OnDemand,
                    ready: true,
                    fingerprint: String::new(),
                },
            );
        }
        let lines = inventory(&s, true);
        assert!(
            lines.contains(&"(kept) DynamoDB table shop-users-prod".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"(kept) DynamoDB table shop-orders-prod".to_string()),
            "{lines:?}"
        );
        // Nothing recorded of the others: what the state's names say may exist.
        let function = crate::stack::Names::defaults("prod").function;
        assert!(
            lines.contains(&format!("Lambda function {function}")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("REST API ")),
            "{lines:?}"
        );
    }

    /// A kind written with its parts left out (what the trait lets default): the registry's
    /// test names each one.
    struct Forgetful;

    impl Kind for Forgetful {
        fn name(&self) -> &'static str {
            "forgetful"
        }
        fn step(&self) -> &'static str {
            ""
        }
        fn removal_rank(&self) -> Option<u8> {
            table::Table.removal_rank()
        }
        fn doing(&self) -> &'static str {
            "making it"
        }
        fn iam(&self) -> &'static [Grant] {
            &[]
        }
        fn check_record(&self, _rec: &crate::state::Record) -> Result<(), String> {
            Ok(())
        }
        fn nodes(&self, _spec: &StackSpec) -> Vec<Node> {
            Vec::new()
        }
        fn props(&self, _w: &Want, _node: &Node) -> Option<Value> {
            None
        }
        fn label(&self, _w: &Want, node: &Node) -> String {
            node.key.clone()
        }
        fn ensure<'a>(
            &'a self,
            _cx: &'a DeployCtx,
            _node: &'a Node,
        ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
            Box::pin(async { anyhow::bail!("not made") })
        }
        fn check<'a>(
            &'a self,
            _cx: &'a CheckCx<'a>,
            _node: &'a Node,
        ) -> BoxFuture<'a, Option<Check>> {
            Box::pin(async { None })
        }
    }

    #[test]
    fn a_kind_with_a_part_left_out_is_named() {
        let mut kinds: Vec<&dyn Kind> = REGISTRY.to_vec();
        kinds.push(&Forgetful);
        let found = problems(&kinds);
        for part in [
            "forgetful: a status row without a name",
            "forgetful: no progress line",
            "forgetful shares removal rank",
            "forgetful: no IAM actions",
            "forgetful: its record check takes any record",
            "forgetful: teardown's confirmation would not list it",
        ] {
            assert!(
                found.iter().any(|p| p.starts_with(part)),
                "{part}: {found:?}"
            );
        }
        assert_eq!(found.len(), 6, "{found:?}");
    }
}
