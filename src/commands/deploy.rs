//! `serverless-cli deploy`.

use std::time::Instant;

use serde_json::json;

use crate::cli::{DeployArgs, GlobalArgs};
use crate::engine::{self, Action};
use crate::kinds::graph::key;
use crate::kinds::rest_api::ApiRecord;
use crate::report::{self, Progress};
use crate::session::deploy::{prepare, Deployed};
use crate::stack;

pub async fn run(
    global: &GlobalArgs,
    args: &DeployArgs,
    interrupts: crate::signal::Interrupts,
) -> anyhow::Result<i32> {
    let started = Instant::now();
    let progress = Progress::for_stderr();
    let prepared = prepare(global, args, Some("deploy"), &progress).await?;
    let stop = crate::session::stop(interrupts);
    let Deployed {
        state,
        report,
        from_file,
        stage,
        route_labels,
        state_file,
    } = prepared.deploy(args, &progress, stop).await?;
    let api_id = state
        .get::<ApiRecord>(key::REST_API)
        .map(|a| a.id)
        .unwrap_or_default();
    // The tutorial's route and its curl line; a stack file's stage URL (its routes are its
    // own: no curl line is guessed for them).
    // A stack with its own domain answers there once its records are in place.
    let domain_url = crate::kinds::domain_records::url_of(&state);
    let url = if let Some(d) = domain_url.as_deref().filter(|_| from_file) {
        d.trim_end_matches('/').to_string()
    } else if from_file {
        stack::stage_url(&api_id, &state.region, &stage)
    } else {
        stack::invoke_url(&api_id, &state.region)
    };
    let curl = (!from_file).then(|| stack::curl_line(&url));
    let steps = engine::by_group(&report.outcomes);
    let changed: Vec<_> = steps
        .iter()
        .filter(|o| o.action != Action::Unchanged)
        .collect();
    let seconds = started.elapsed().as_secs_f64();
    let summary = if changed.is_empty() {
        format!(
            "Stack '{}' is up to date: nothing was created or updated.",
            state.stack
        )
    } else {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for o in &changed {
            let word = format!("{:?}", o.action).to_lowercase();
            match counts.iter_mut().find(|(w, _)| *w == word) {
                Some((_, n)) => *n += 1,
                None => counts.push((word, 1)),
            }
        }
        let parts: Vec<_> = counts.iter().map(|(w, n)| format!("{n} {w}")).collect();
        format!(
            "Stack '{}' deployed in {seconds:.1} s: {}.",
            state.stack,
            parts.join(", ")
        )
    };
    let check = if state.endpoint.is_some() {
        // An emulator stores the API but does not serve its URL.
        "serverless-cli serve, then serverless-cli try --url http://127.0.0.1:3000/prod"
    } else {
        "serverless-cli try"
    };
    let text = if from_file {
        let base = stack::stage_url(&api_id, &state.region, &stage);
        format!(
            "{summary}\nStage URL: {base}\n{}  {}\nCheck it end to end (the stack file's [[try]] requests):\n  {}\n",
            domain_url
                .as_deref()
                .map(|d| format!("Domain URL: {d}\n"))
                .unwrap_or_default(),
            route_labels.join("\n  "),
            if state.endpoint.is_some() {
                format!("serverless-cli serve, then serverless-cli try --url http://127.0.0.1:3000/{stage}")
            } else {
                "serverless-cli try".to_string()
            }
        )
    } else {
        format!(
            "{summary}\nInvoke URL: {url} (and GET {url}/{{uid}})\nTry it:\n  {}\nCheck it end to end:\n  {check}\n",
            curl.as_deref().unwrap_or_default()
        )
    };
    let doc = json!({
        "command": "deploy",
        "ok": true,
        "stack": state.stack,
        "region": state.region,
        "account": state.account,
        "endpoint": state.endpoint,
        "changed": !changed.is_empty(),
        "url": url,
        "curl": curl,
        "seconds": seconds,
        "steps": steps,
        "changes": report.outcomes,
        "resources": crate::kinds::records_json(&state),
        "state_file": state_file,
    });
    report::emit(global.output, &doc, &text);
    Ok(0)
}
