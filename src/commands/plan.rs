//! `serverless-cli plan`: what deploy would do now, and no change.

use serde_json::json;

use crate::cli::{DeployArgs, GlobalArgs};
use crate::ops::plan::{Change, Plan, PlanAction, FORMAT_VERSION};
use crate::report::{self, Progress};

/// Exit code when deploy would change something (0: nothing to do).
pub const EXIT_CHANGES: i32 = 3;

pub async fn run(global: &GlobalArgs, args: &DeployArgs) -> anyhow::Result<i32> {
    let progress = Progress::for_stderr();
    let prepared = crate::session::deploy::prepare(global, args, None, &progress).await?;
    let state = prepared.state();
    let plan = prepared.plan(args, &progress).await;
    let code = if plan.has_changes() { EXIT_CHANGES } else { 0 };
    let spec = prepared.spec(&prepared.aws.account, &state.names);
    let build = spec.api.build.explain(&spec.routes, spec.models.len());
    let summary = json!({
        "create": plan.count(PlanAction::Create),
        "adopt": plan.count(PlanAction::Adopt),
        "update": plan.count(PlanAction::Update),
        "replace": plan.count(PlanAction::Replace),
        "delete": plan.count(PlanAction::Delete),
        "none": plan.count(PlanAction::None),
    });
    let mut doc = json!({
        "format_version": FORMAT_VERSION,
        "command": "plan",
        "stack": state.stack,
        "region": state.region,
        "account": state.account,
        "endpoint": state.endpoint,
        "code_sha256": code_field(&prepared.code_shas()),
        "changes": plan.has_changes(),
        "summary": summary,
        "resource_changes": plan.changes,
        "iam_changes": plan.iam,
        "access_changes": plan.access,
        "removals": plan.removals,
        "owner_tags": plan.tags,
        "api_build": build,
        "exit_code": code,
    });
    // A password in a URL (an environment value's, say) is never printed.
    crate::aws::redact_urls_json(&mut doc);
    let text = text(&state.stack, &state.region, &plan) + &format!("  {build}\n");
    report::emit(global.output, &doc, &crate::aws::redact_urls_in(&text));
    Ok(code)
}

fn text(stack: &str, region: &str, plan: &Plan) -> String {
    let mut out = format!("Plan for stack '{stack}' in {region}:\n");
    let shown: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action != PlanAction::None)
        .collect();
    let width = shown.iter().map(|c| c.key.len()).max().unwrap_or(0);
    for c in &shown {
        let action = format!("{:?}", c.action).to_lowercase();
        out.push_str(&format!(
            "  {:<3} {:<width$}  {action}",
            c.action.symbol(),
            c.key
        ));
        if let Some(r) = &c.reason {
            out.push_str(&format!(" ({r})"));
        }
        out.push('\n');
        for p in &c.changed {
            let get = |v: &Option<serde_json::Value>| {
                v.as_ref()
                    .and_then(|v| v.get(p))
                    .map_or_else(|| "null".to_string(), |x| short(&x.to_string()))
            };
            out.push_str(&format!(
                "        {p}: {} -> {}\n",
                get(&c.before),
                get(&c.after)
            ));
        }
        if c.deletes_data {
            out.push_str(&format!(
                "        DELETES DATA: every item of {} is lost\n",
                c.key
            ));
        }
    }
    for line in &plan.iam {
        out.push_str(&format!("  IAM: {line}\n"));
    }
    for line in &plan.access {
        out.push_str(&format!("  access: {line}\n"));
    }
    for line in &plan.removals {
        out.push_str(&format!("  removes: {line}\n"));
    }
    for line in &plan.tags {
        out.push_str(&format!("  owner tag put back: {line}\n"));
    }
    if plan.has_changes() {
        out.push_str(&format!(
            "Plan: {} to create, {} to adopt, {} to update, {} to replace, {} to delete; {} unchanged.\n",
            plan.count(PlanAction::Create),
            plan.count(PlanAction::Adopt),
            plan.count(PlanAction::Update),
            plan.count(PlanAction::Replace),
            plan.count(PlanAction::Delete),
            plan.count(PlanAction::None),
        ));
    } else {
        out.push_str(&format!(
            "No changes: all {} resources are as the stack wants them.\n",
            plan.changes.len()
        ));
    }
    out
}

/// A value cut to a line's length.
fn short(s: &str) -> String {
    const MAX: usize = 100;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(MAX).collect::<String>())
    }
}

/// The code's SHA-256: one string for one function, else by function.
fn code_field(shas: &crate::kinds::CodeShas) -> serde_json::Value {
    match shas.values().collect::<Vec<_>>().as_slice() {
        [one] => json!(one),
        _ => json!(shas),
    }
}
