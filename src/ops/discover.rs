//! Finds a stack's resources by their owner tag, for a teardown whose state file is gone.
//!
//! Every service is listed and every candidate's tags are read (IAM roles and DynamoDB tables
//! cannot be filtered by tag in the list call), eight reads at a time. It is a recovery path:
//! thorough rather than cheap.

use futures::stream::{self, StreamExt, TryStreamExt};

use crate::aws::{AwsError, Caller};
use crate::resources::{api, function, log_group, table, Owner};
use crate::stack::Names;
use crate::state::StackState;

/// Names of the resources tagged with the stack, per kind.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Found {
    pub tables: Vec<String>,
    pub roles: Vec<String>,
    pub functions: Vec<String>,
    /// (id, name)
    pub apis: Vec<(String, String)>,
    pub log_groups: Vec<String>,
}

impl Found {
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
            && self.roles.is_empty()
            && self.functions.is_empty()
            && self.apis.is_empty()
            && self.log_groups.is_empty()
    }

    /// One line per resource, for the confirmation prompt.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(
            self.apis
                .iter()
                .map(|(id, n)| format!("REST API {n} ({id})")),
        );
        out.extend(
            self.functions
                .iter()
                .map(|n| format!("Lambda function {n}")),
        );
        out.extend(self.log_groups.iter().map(|n| format!("log group {n}")));
        out.extend(
            self.roles
                .iter()
                .map(|n| format!("IAM role {n} and its policies")),
        );
        out.extend(
            self.tables
                .iter()
                .map(|n| format!("DynamoDB table {n} and all its items")),
        );
        out
    }
}

const AT_ONCE: usize = 8;

async fn keep_ours<F, Fut>(names: Vec<String>, owner: F) -> Result<Vec<String>, AwsError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<(String, Owner)>, AwsError>>,
{
    let checked: Vec<Option<(String, Owner)>> = stream::iter(names.into_iter().map(owner))
        .buffer_unordered(AT_ONCE)
        .try_collect()
        .await?;
    let mut ours: Vec<String> = checked
        .into_iter()
        .flatten()
        .filter(|(_, o)| *o == Owner::Us)
        .map(|(n, _)| n)
        .collect();
    ours.sort();
    Ok(ours)
}

/// Lists every service and keeps what is tagged `serverless-cli:stack=<stack>`.
pub async fn by_tag(c: &Caller, stack: &str) -> Result<Found, AwsError> {
    let aws = &c.aws;
    let tables = async {
        let names = c.call("discover", || list_tables(c)).await?;
        keep_ours(names, |name| async move {
            let Some(info) = c.call("discover", || table::describe(aws, &name)).await? else {
                return Ok(None);
            };
            let owner = c
                .call("discover", || table::owner(aws, &info.arn, stack))
                .await?;
            Ok(Some((name, owner)))
        })
        .await
    };
    let roles = async {
        let names = c.call("discover", || list_roles(c)).await?;
        keep_ours(names, |name| async move {
            let owner = c
                .call("discover", || {
                    crate::resources::role::owner(aws, &name, stack)
                })
                .await?;
            Ok(owner.map(|o| (name, o)))
        })
        .await
    };
    let functions = async {
        let names = c.call("discover", || list_functions(c)).await?;
        keep_ours(names, |name| async move {
            let info = c
                .call("discover", || function::get(aws, &name, stack))
                .await?;
            Ok(info.map(|i| (name, i.owner)))
        })
        .await
    };
    let apis = async {
        let all = c.call("discover", || api::list(aws, stack)).await?;
        Ok::<_, AwsError>(
            all.into_iter()
                .filter(|a| a.owner == Owner::Us)
                .map(|a| (a.id, a.name))
                .collect::<Vec<_>>(),
        )
    };
    let log_groups = async {
        let groups = c.call("discover", || list_log_groups(c)).await?;
        let checked: Vec<Option<String>> =
            stream::iter(groups.into_iter().map(|(name, arn)| async move {
                let owner = c
                    .call("discover", || log_group::owner(aws, &arn, stack))
                    .await?;
                Ok::<_, AwsError>((owner == Owner::Us).then_some(name))
            }))
            .buffer_unordered(AT_ONCE)
            .try_collect()
            .await?;
        let mut ours: Vec<String> = checked.into_iter().flatten().collect();
        ours.sort();
        Ok::<_, AwsError>(ours)
    };
    let (tables, roles, functions, apis, log_groups) =
        tokio::try_join!(tables, roles, functions, apis, log_groups)?;
    Ok(Found {
        tables,
        roles,
        functions,
        apis,
        log_groups,
    })
}

async fn list_tables(c: &Caller) -> Result<Vec<String>, AwsError> {
    let mut names = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let out = c
            .aws
            .dynamodb
            .list_tables()
            .set_exclusive_start_table_name(start.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListTables", e))?;
        names.extend(out.table_names().iter().cloned());
        match out.last_evaluated_table_name() {
            Some(n) if Some(n) != start.as_deref() => start = Some(n.to_string()),
            _ => return Ok(names),
        }
    }
}

async fn list_roles(c: &Caller) -> Result<Vec<String>, AwsError> {
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = c
            .aws
            .iam
            .list_roles()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListRoles", e))?;
        names.extend(
            out.roles()
                .iter()
                .filter(|r| !r.path().starts_with("/aws-service-role/"))
                .map(|r| r.role_name().to_string()),
        );
        match (out.is_truncated(), out.marker()) {
            (true, Some(m)) if Some(m) != marker.as_deref() => marker = Some(m.to_string()),
            _ => return Ok(names),
        }
    }
}

async fn list_functions(c: &Caller) -> Result<Vec<String>, AwsError> {
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = c
            .aws
            .lambda
            .list_functions()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListFunctions", e))?;
        names.extend(
            out.functions()
                .iter()
                .filter_map(|f| f.function_name().map(str::to_string)),
        );
        match out.next_marker() {
            Some(m) if !m.is_empty() && Some(m) != marker.as_deref() => {
                marker = Some(m.to_string())
            }
            _ => return Ok(names),
        }
    }
}

/// Log groups under /aws/lambda/, as (name, ARN).
async fn list_log_groups(c: &Caller) -> Result<Vec<(String, String)>, AwsError> {
    let mut groups = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = c
            .aws
            .logs
            .describe_log_groups()
            .log_group_name_prefix("/aws/lambda/")
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeLogGroups", e))?;
        groups.extend(out.log_groups().iter().filter_map(|g| {
            Some((
                g.log_group_name()?.to_string(),
                g.arn()?.trim_end_matches(":*").to_string(),
            ))
        }));
        match out.next_token() {
            Some(t) if !t.is_empty() && Some(t) != token.as_deref() => token = Some(t.to_string()),
            _ => return Ok(groups),
        }
    }
}

/// A state for the resources found by tag, so teardown can run its usual steps on them.
pub fn state_from_found(
    stack: &str,
    region: &str,
    endpoint: Option<&str>,
    account: &str,
    found: &Found,
) -> anyhow::Result<StackState> {
    fn one<'a>(kind: &str, stack: &str, names: &'a [String]) -> anyhow::Result<Option<&'a String>> {
        if names.len() > 1 {
            anyhow::bail!(
                "more than one {kind} is tagged with stack '{stack}' ({}); delete the extra ones by hand, then run teardown again",
                names.join(", ")
            );
        }
        Ok(names.first())
    }
    let d = Names::defaults(stack);
    let api_names: Vec<String> = found.apis.iter().map(|(_, n)| n.clone()).collect();
    let mut api_names_unique = api_names.clone();
    api_names_unique.dedup();
    let from_log_group = found
        .log_groups
        .first()
        .and_then(|g| g.strip_prefix("/aws/lambda/"))
        .map(str::to_string);
    let names = Names {
        table: one("table", stack, &found.tables)?
            .cloned()
            .unwrap_or(d.table),
        role: one("IAM role", stack, &found.roles)?
            .cloned()
            .unwrap_or(d.role),
        function: one("function", stack, &found.functions)?
            .cloned()
            .or(from_log_group)
            .unwrap_or(d.function),
        api: one("REST API name", stack, &api_names_unique)?
            .cloned()
            .unwrap_or(d.api),
    };
    let mut state = StackState::new(stack, region, endpoint, names);
    state.account = Some(account.to_string());
    Ok(state)
}
