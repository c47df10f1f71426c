//! The built-in stack as a state records it was deployed: for status, teardown and the
//! OpenAPI document without a stack file, which take no deploy flags. The kinds' records say
//! which flags it was deployed with.

use crate::kinds::function::FunctionRecord;
use crate::kinds::log_group::LogGroupRecord;
use crate::kinds::role_policy::PolicyRecord;
use crate::kinds::table::TableRecord;
use crate::stack::{
    Billing, PolicyMode, StackSpec, Tutorial, FUNCTION_MEMORY_MB, FUNCTION_TIMEOUT_SECS,
};
use crate::state::StackState;

/// The stack as a state records it was deployed (for status and teardown without a stack
/// file, which take no deploy options): the recorded billing, policy mode, runtime and
/// retention, and the tutorial's routes.
pub fn builtin(state: &StackState, account: &str) -> StackSpec {
    let applied = |kind: &str, field: &str| {
        state
            .resources
            .values()
            .find(|r| r.kind == kind)
            .and_then(|r| r.props.as_ref())
            .and_then(|p| p.get(field))
            .and_then(serde_json::Value::as_i64)
            .and_then(|v| i32::try_from(v).ok())
    };
    let t = Tutorial {
        billing: state
            .first::<TableRecord>()
            .map(|t| t.billing)
            .unwrap_or(Billing::Provisioned),
        policy_mode: state
            .first::<PolicyRecord>()
            .map(|p| p.mode)
            .unwrap_or(PolicyMode::LeastPrivilege),
        runtime: state
            .first::<FunctionRecord>()
            .map(|f| f.runtime)
            .unwrap_or_default(),
        log_retention_days: state
            .first::<LogGroupRecord>()
            .map(|l| l.retention_days)
            .unwrap_or(14),
        memory_mb: applied("function", "memory_mb").unwrap_or(FUNCTION_MEMORY_MB),
        timeout_secs: applied("function", "timeout_secs").unwrap_or(FUNCTION_TIMEOUT_SECS),
    };
    super::builtin_spec(&state.stack, &state.region, account, &state.names, &t)
}
