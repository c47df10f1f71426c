//! `serverless-cli state`: show, list, unlock, init (S3), migrate.

use serde_json::json;

use crate::cli::{GlobalArgs, StateCommand};
use crate::error::UsageError;
use crate::report;
use crate::store::{Location, Store};

pub async fn run(global: &GlobalArgs, cmd: &StateCommand) -> anyhow::Result<i32> {
    match cmd {
        StateCommand::Show => show(global).await,
        StateCommand::List => list(global).await,
        StateCommand::Unlock { lock_id } => unlock(global, lock_id).await,
        StateCommand::Init { location } => init(global, location).await,
        StateCommand::Migrate { to } => migrate(global, to).await,
    }
}

async fn show(global: &GlobalArgs) -> anyhow::Result<i32> {
    let session = crate::session::open(global, None).await?;
    let Some(state) = &session.state else {
        return Err(UsageError(format!(
            "stack '{}' has no state at {}; deploy it first, or pass the --stack and --state it was deployed with",
            session.stack,
            session.store.describe()
        ))
        .into());
    };
    // The state document itself, whatever the output format.
    println!("{}", serde_json::to_string_pretty(state)?);
    Ok(0)
}

async fn list(global: &GlobalArgs) -> anyhow::Result<i32> {
    let target = crate::session::target(global).await?;
    let location = crate::session::location(global)?;
    let now = crate::state::now_secs();
    let mut rows = Vec::new();
    match &location {
        Location::Local(dir) => {
            let mut stacks: Vec<String> = match std::fs::read_dir(dir) {
                Ok(entries) => entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().to_string();
                        name.strip_suffix(".json")
                            .filter(|s| !s.starts_with('.'))
                            .map(str::to_string)
                    })
                    .collect(),
                Err(_) => Vec::new(),
            };
            stacks.sort();
            for stack in stacks {
                let store = crate::state::StateStore::new(dir, &stack);
                let (updated, problem) = match store.load() {
                    Ok(Some(s)) => (Some(s.updated_at), None),
                    Ok(None) => (None, None),
                    Err(e) => (None, Some(e.to_string())),
                };
                let lock = match store.lock("state list") {
                    Ok(_) => "free".to_string(),
                    Err(crate::state::StateError::Locked { holder, .. }) => {
                        format!("held by {holder}")
                    }
                    Err(e) => e.to_string(),
                };
                rows.push(json!({"stack": stack, "updated_at": updated, "lock": lock, "problem": problem}));
            }
        }
        Location::S3 { bucket, prefix } => {
            let (store, _) =
                crate::session::store_at(&location, "-", &target, &crate::session::journal_dir())
                    .await?;
            let Store::S3(s3) = &store else {
                unreachable!("an S3 location gives an S3 store")
            };
            for (stack, modified) in s3.list().await? {
                let one = crate::store::s3::S3Store::new(
                    s3.client().clone(),
                    bucket,
                    prefix,
                    &stack,
                    None,
                );
                // A lock this identity may not read (the printed policy grants one stack's
                // objects only) is said for that stack; the listing goes on.
                let lock = match one.read_lock().await {
                    Ok(Some(seen)) => format!(
                        "held: {}",
                        seen.info.describe(seen.age.map(|a| a.as_secs()))
                    ),
                    Ok(None) => "free".to_string(),
                    Err(e) => format!("unknown ({e:#})"),
                };
                let updated = modified
                    .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_secs());
                rows.push(
                    json!({"stack": stack, "updated_at": updated, "lock": lock, "problem": null}),
                );
            }
        }
    }
    // A project's state is kept as `project.stack` (a `.` is in neither name).
    for r in &mut rows {
        let name = r["stack"].as_str().unwrap_or_default().to_string();
        if let Some((project, stack)) = name.split_once('.') {
            r["project"] = json!(project);
            r["stack"] = json!(stack);
        } else {
            r["project"] = json!(null);
        }
    }
    let mut lines = vec![format!("Stacks in {location}:")];
    if rows.is_empty() {
        lines.push("  (none)".into());
    }
    for r in &rows {
        let ago = r["updated_at"]
            .as_u64()
            .map(|t| format!("updated {} s ago", now.saturating_sub(t)))
            .unwrap_or_else(|| "unreadable".into());
        lines.push(format!(
            "  {}{}: {ago}; lock {}{}",
            r["project"]
                .as_str()
                .map(|p| format!("{p} "))
                .unwrap_or_default(),
            r["stack"].as_str().unwrap_or_default(),
            r["lock"].as_str().unwrap_or_default(),
            r["problem"]
                .as_str()
                .map(|p| format!("; {p}"))
                .unwrap_or_default()
        ));
    }
    let doc = json!({"command": "state list", "location": location.to_string(), "stacks": rows});
    report::emit(global.output, &doc, &(lines.join("\n") + "\n"));
    Ok(0)
}

async fn unlock(global: &GlobalArgs, id: &str) -> anyhow::Result<i32> {
    let target = crate::session::target(global).await?;
    let location = crate::session::location(global)?;
    let (store, _) = crate::session::store_at(
        &location,
        &global.stack,
        &target,
        &crate::session::journal_dir(),
    )
    .await?;
    let Store::S3(s3) = &store else {
        return Err(UsageError(
            "a folder's lock is the operating system's: it goes away with the process that holds it, so there is nothing to remove; unlock is for a state in S3".into(),
        )
        .into());
    };
    let (mut holder, age) = s3.unlock(id).await?;
    let text = format!("Removed {}.\n", holder.describe(age.map(|a| a.as_secs())));
    holder.ci_job = holder.ci_job.as_deref().map(crate::store::lock::redact_job);
    let doc =
        json!({"command": "state unlock", "ok": true, "stack": global.stack, "removed": holder});
    report::emit(global.output, &doc, &text);
    Ok(0)
}

/// The bucket settings a state bucket should have, checked or made.
async fn init(global: &GlobalArgs, location: &str) -> anyhow::Result<i32> {
    let target = crate::session::target(global).await?;
    let loc = Location::parse(location).map_err(UsageError)?;
    let Location::S3 { bucket, .. } = &loc else {
        return Err(UsageError(format!(
            "state init prepares an S3 bucket; give s3://BUCKET[/PREFIX], not {loc} (a folder needs nothing)"
        ))
        .into());
    };
    let aws = crate::aws::Aws::clients(&target, std::time::Duration::from_secs(5)).await?;
    let s3 = &aws.s3;
    let exists = match s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => true,
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => false,
        Err(e) => {
            let e = crate::store::s3::S3Error::from_sdk_pub("HeadBucket", e);
            return Err(anyhow::anyhow!("{e} (s3://{bucket})"));
        }
    };
    let (made, missing) = if exists {
        (false, crate::store::init::missing(s3, bucket).await?)
    } else {
        crate::store::init::create(s3, bucket, &target.region).await?;
        (true, Vec::new())
    };
    let text = if made {
        format!("Created bucket {bucket} in {}: versioning on, default encryption (SSE-S3), public access blocked, tagged serverless-cli:state=true.\nUse it with --state {loc} (or SERVERLESS_CLI_STATE={loc}).\n", target.region)
    } else if missing.is_empty() {
        format!("Bucket {bucket} has what shared state needs: versioning, default encryption, public access blocked.\nUse it with --state {loc}.\n")
    } else {
        format!(
            "Bucket {bucket} exists but lacks: {}.\nThe state works without them, but: {}\n",
            missing.join("; "),
            "without versioning a bad write cannot be undone; without encryption and the public access block the state (IDs, ARNs, names) is less protected. Fix them in the S3 console or with the AWS CLI, then run this again."
        )
    };
    let doc = json!({"command": "state init", "ok": missing.is_empty(), "bucket": bucket, "created": made, "missing": missing});
    report::emit(global.output, &doc, &text);
    Ok(if missing.is_empty() { 0 } else { 3 })
}

async fn migrate(global: &GlobalArgs, to: &str) -> anyhow::Result<i32> {
    let target = crate::session::target(global).await?;
    let from_loc = crate::session::location(global)?;
    let to_loc = Location::parse(to).map_err(UsageError)?;
    if from_loc == to_loc {
        return Err(UsageError(format!(
            "the state is already at {to_loc}; give another location with --to"
        ))
        .into());
    }
    let (from, _) = crate::session::store_at(
        &from_loc,
        &global.stack,
        &target,
        &crate::session::journal_dir(),
    )
    .await?;
    let (dest, _) = crate::session::store_at(
        &to_loc,
        &global.stack,
        &target,
        &crate::session::journal_dir(),
    )
    .await?;
    // Both locks, so no run writes either side meanwhile.
    let a = from.lock("state migrate", global.lock_timeout).await?;
    crate::store::lock::keep(a);
    let b = dest.lock("state migrate", global.lock_timeout).await?;
    crate::store::lock::keep(b);
    let Some(state) = from.load().await? else {
        return Err(UsageError(format!(
            "stack '{}' has no state at {}; nothing to migrate",
            global.stack,
            from.describe()
        ))
        .into());
    };
    if let Some(there) = dest.load().await? {
        if there.updated_at > state.updated_at {
            return Err(UsageError(format!(
                "{} holds a newer state of stack '{}' (updated at {}, this one at {}); nothing was changed. Look at both with `state show`, and remove the one you do not want",
                dest.describe(),
                global.stack,
                there.updated_at,
                state.updated_at
            ))
            .into());
        }
    }
    dest.save(&state).await?;
    // The copy is there (read back): the old location no longer holds the stack, so no run
    // can go on from it by mistake. A folder keeps its file aside; S3 keeps a version.
    let back = dest.load().await?;
    anyhow::ensure!(
        back.as_ref().map(|s| &s.resources) == Some(&state.resources),
        "the state read back from {} differs from what was written; the old one at {} is kept",
        dest.describe(),
        from.describe()
    );
    let kept = match &from {
        Store::Local(s) => {
            let aside = s.path().with_extension("json.migrated");
            std::fs::rename(s.path(), &aside)?;
            format!("; the old file is kept as {}", aside.display())
        }
        Store::S3(_) => {
            from.remove().await?;
            String::new()
        }
    };
    let text = format!(
        "Moved the state of stack '{}' from {} to {}{kept}.\nFrom now on pass --state {to_loc} (or SERVERLESS_CLI_STATE={to_loc}).\n",
        global.stack,
        from.describe(),
        dest.describe()
    );
    let doc = json!({"command": "state migrate", "ok": true, "stack": global.stack, "from": from.describe(), "to": dest.describe()});
    report::emit(global.output, &doc, &text);
    Ok(0)
}
