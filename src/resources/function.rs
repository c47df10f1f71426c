//! The Lambda function and the permission that lets API Gateway invoke it.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, LastUpdateStatus, Runtime, State};

use crate::aws::{Aws, AwsError, ErrorKind};
use crate::stack::OWNER_TAG;

use super::Owner;

/// What we need to know about a deployed function.
#[derive(Debug, Clone)]
pub struct FunctionInfo {
    pub arn: String,
    pub code_sha256: String,
    pub runtime: String,
    pub role: String,
    pub handler: String,
    pub env: Vec<(String, String)>,
    pub memory_mb: i32,
    pub timeout_secs: i32,
    pub state: String,
    pub state_reason: Option<String>,
    pub last_update_status: String,
    pub last_update_reason: Option<String>,
    pub owner: Owner,
}

impl FunctionInfo {
    /// Ready for the next call: Active (or Inactive: idle for weeks, present, and woken by
    /// the next invocation or update; waiting would never make it Active) and not mid-update.
    pub fn is_ready(&self) -> bool {
        (self.state == State::Active.as_str()
            || self.state == State::Inactive.as_str()
            || self.state.is_empty())
            && (self.last_update_status == LastUpdateStatus::Successful.as_str()
                || self.last_update_status.is_empty())
    }

    /// The function will not become ready by waiting.
    pub fn failure(&self) -> Option<String> {
        if self.state == State::Failed.as_str() {
            return Some(format!(
                "the function is in state Failed: {}",
                self.state_reason.as_deref().unwrap_or("no reason given")
            ));
        }
        if self.last_update_status == LastUpdateStatus::Failed.as_str() {
            return Some(format!(
                "the function's last update failed: {}",
                self.last_update_reason
                    .as_deref()
                    .unwrap_or("no reason given")
            ));
        }
        None
    }
}

/// What CreateFunction needs.
pub struct FunctionConfig<'a> {
    pub name: &'a str,
    pub runtime: &'a str,
    pub role_arn: &'a str,
    pub handler: &'a str,
    pub env: &'a [(String, String)],
    pub memory_mb: i32,
    pub timeout_secs: i32,
    pub stack: &'a str,
}

fn environment(env: &[(String, String)]) -> Environment {
    let mut b = Environment::builder();
    for (k, v) in env {
        b = b.variables(k, v);
    }
    b.build()
}

/// CreateFunction. Returns (ARN, CodeSha256).
pub async fn create(
    aws: &Aws,
    cfg: &FunctionConfig<'_>,
    zip: &[u8],
) -> Result<(String, String), AwsError> {
    let out = aws
        .lambda
        .create_function()
        .function_name(cfg.name)
        .runtime(Runtime::from(cfg.runtime))
        .role(cfg.role_arn)
        .handler(cfg.handler)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip.to_vec()))
                .build(),
        )
        .environment(environment(cfg.env))
        .description(format!("putitem of the serverless-cli stack {}", cfg.stack))
        .timeout(cfg.timeout_secs)
        .memory_size(cfg.memory_mb)
        .tags(OWNER_TAG, cfg.stack)
        .customize()
        .config_override(upload_timeout(zip.len()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateFunction", e))?;
    Ok((
        out.function_arn().unwrap_or_default().to_string(),
        out.code_sha256().unwrap_or_default().to_string(),
    ))
}

/// GetFunction: configuration and owner, or `None` when there is no such function.
pub async fn get(aws: &Aws, name: &str, stack: &str) -> Result<Option<FunctionInfo>, AwsError> {
    let out = match aws.lambda.get_function().function_name(name).send().await {
        Ok(o) => o,
        Err(e) => {
            let e = AwsError::from_sdk("GetFunction", e);
            return if e.is(ErrorKind::NotFound) {
                Ok(None)
            } else {
                Err(e)
            };
        }
    };
    let c = out.configuration();
    // Without lambda:ListTags, GetFunction answers without the tags and with a TagsError
    // (docs/aws.md, "What the deploying identity needs"): the owner is unknown, not "untagged".
    let owner = match (out.tags(), out.tags_error()) {
        (None, Some(e)) => Owner::Unknown(format!("{}: {}", e.error_code(), e.message())),
        (tags, _) => Owner::from_tag(
            tags.and_then(|t| t.get(OWNER_TAG)).map(String::as_str),
            stack,
        ),
    };
    let mut env: Vec<(String, String)> = c
        .and_then(|c| c.environment())
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    env.sort();
    Ok(Some(FunctionInfo {
        arn: c
            .and_then(|c| c.function_arn())
            .unwrap_or_default()
            .to_string(),
        code_sha256: c
            .and_then(|c| c.code_sha256())
            .unwrap_or_default()
            .to_string(),
        runtime: c
            .and_then(|c| c.runtime())
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        role: c.and_then(|c| c.role()).unwrap_or_default().to_string(),
        handler: c.and_then(|c| c.handler()).unwrap_or_default().to_string(),
        env,
        memory_mb: c.and_then(|c| c.memory_size()).unwrap_or_default(),
        timeout_secs: c.and_then(|c| c.timeout()).unwrap_or_default(),
        state: c
            .and_then(|c| c.state())
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        state_reason: c.and_then(|c| c.state_reason()).map(str::to_string),
        last_update_status: c
            .and_then(|c| c.last_update_status())
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        last_update_reason: c
            .and_then(|c| c.last_update_status_reason())
            .map(str::to_string),
        owner,
    }))
}

/// UpdateFunctionCode. Returns the new CodeSha256.
pub async fn update_code(aws: &Aws, name: &str, zip: &[u8]) -> Result<String, AwsError> {
    let out = aws
        .lambda
        .update_function_code()
        .function_name(name)
        .zip_file(Blob::new(zip.to_vec()))
        .customize()
        .config_override(upload_timeout(zip.len()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("UpdateFunctionCode", e))?;
    Ok(out.code_sha256().unwrap_or_default().to_string())
}

/// UpdateFunctionConfiguration: runtime, role, handler, memory, timeout, environment.
pub async fn update_config(aws: &Aws, cfg: &FunctionConfig<'_>) -> Result<(), AwsError> {
    aws.lambda
        .update_function_configuration()
        .function_name(cfg.name)
        .runtime(Runtime::from(cfg.runtime))
        .role(cfg.role_arn)
        .handler(cfg.handler)
        .memory_size(cfg.memory_mb)
        .timeout(cfg.timeout_secs)
        .environment(environment(cfg.env))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("UpdateFunctionConfiguration", e))?;
    Ok(())
}

/// DeleteFunction; `false` when it was already gone.
pub async fn delete(aws: &Aws, name: &str) -> Result<bool, AwsError> {
    match aws
        .lambda
        .delete_function()
        .function_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) => match AwsError::from_sdk("DeleteFunction", e) {
            e if e.is(ErrorKind::NotFound) => Ok(false),
            e => Err(e),
        },
    }
}

/// AddPermission for API Gateway, scoped to one source ARN, in the policy of the function
/// itself (`qualifier` None) or of one alias: each alias has a resource policy of its own, and
/// a call through the alias is allowed by the alias's (docs/aws.md, "Versions and the live
/// alias").
pub async fn add_permission(
    aws: &Aws,
    function: &str,
    qualifier: Option<&str>,
    sid: &str,
    source_arn: &str,
) -> Result<(), AwsError> {
    aws.lambda
        .add_permission()
        .function_name(function)
        .set_qualifier(qualifier.map(str::to_string))
        .statement_id(sid)
        .action("lambda:InvokeFunction")
        .principal("apigateway.amazonaws.com")
        .source_arn(source_arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("AddPermission", e))?;
    Ok(())
}

/// The SourceArn of the statement `sid` in the function's resource policy; `Ok(None)` when the
/// function or the statement is not there.
pub async fn permission_source_arn(
    aws: &Aws,
    function: &str,
    qualifier: Option<&str>,
    sid: &str,
) -> Result<Option<String>, AwsError> {
    Ok(policy_statements(aws, function, qualifier)
        .await?
        .into_iter()
        .find(|(s, _)| s == sid)
        .map(|(_, arn)| arn))
}

/// GetPolicy: every statement of the function's resource policy, as (statement id, its
/// `AWS:SourceArn` condition or ""); empty when the function (or alias) has no policy or is
/// gone. `qualifier`: an alias's own policy.
pub async fn policy_statements(
    aws: &Aws,
    function: &str,
    qualifier: Option<&str>,
) -> Result<Vec<(String, String)>, AwsError> {
    let out = match aws
        .lambda
        .get_policy()
        .function_name(function)
        .set_qualifier(qualifier.map(str::to_string))
        .send()
        .await
    {
        Ok(o) => o,
        Err(e) => {
            let e = AwsError::from_sdk("GetPolicy", e);
            return if e.is(ErrorKind::NotFound) {
                Ok(Vec::new())
            } else {
                Err(e)
            };
        }
    };
    let doc: serde_json::Value =
        serde_json::from_str(out.policy().unwrap_or("{}")).unwrap_or_default();
    let statements = doc["Statement"].as_array().cloned().unwrap_or_default();
    Ok(statements
        .iter()
        // Each policy holds only statements on its own ARN (the function's, or the alias's);
        // an emulator that keeps one policy for a function and its aliases lists them all
        // together, so a statement on another qualifier is not this policy's.
        .filter(|s| {
            s["Resource"]
                .as_str()
                .is_none_or(|r| resource_qualifier(r) == qualifier)
        })
        .map(|s| {
            (
                s["Sid"].as_str().unwrap_or_default().to_string(),
                s["Condition"]["ArnLike"]["AWS:SourceArn"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect())
}

/// The qualifier a statement's `Resource` names: `live` of `...:function:NAME:live`, `None`
/// for the function itself.
fn resource_qualifier(resource: &str) -> Option<&str> {
    resource
        .split_once(":function:")
        .and_then(|(_, rest)| rest.split_once(':'))
        .map(|(_, q)| q)
        .filter(|q| !q.is_empty())
}

/// RemovePermission; `false` when it (or the function) was already gone.
pub async fn remove_permission(
    aws: &Aws,
    function: &str,
    qualifier: Option<&str>,
    sid: &str,
) -> Result<bool, AwsError> {
    match aws
        .lambda
        .remove_permission()
        .function_name(function)
        .set_qualifier(qualifier.map(str::to_string))
        .statement_id(sid)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) => match AwsError::from_sdk("RemovePermission", e) {
            e if e.is(ErrorKind::NotFound) => Ok(false),
            e => Err(e),
        },
    }
}

/// PublishVersion: a version of the function's current code and configuration, only if its
/// code is still `code_sha256` (Lambda refuses otherwise). Lambda publishes nothing new when
/// neither changed since the last version and answers with that version: a retry after a
/// lost answer gets the same number. Returns the version.
pub async fn publish_version(
    aws: &Aws,
    name: &str,
    code_sha256: &str,
    description: &str,
) -> Result<String, AwsError> {
    let out = aws
        .lambda
        .publish_version()
        .function_name(name)
        .set_code_sha256((!code_sha256.is_empty()).then(|| code_sha256.to_string()))
        .description(description)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("PublishVersion", e))?;
    Ok(out.version().unwrap_or_default().to_string())
}

/// An alias: its ARN and the version it points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasInfo {
    pub arn: String,
    pub version: String,
}

fn alias_info(arn: Option<&str>, version: Option<&str>) -> AliasInfo {
    AliasInfo {
        arn: arn.unwrap_or_default().to_string(),
        version: version.unwrap_or_default().to_string(),
    }
}

/// GetAlias, or `None` when the alias (or the function) does not exist.
pub async fn get_alias(aws: &Aws, name: &str, alias: &str) -> Result<Option<AliasInfo>, AwsError> {
    match aws
        .lambda
        .get_alias()
        .function_name(name)
        .name(alias)
        .send()
        .await
    {
        Ok(o) => Ok(Some(alias_info(o.alias_arn(), o.function_version()))),
        Err(e) => match AwsError::from_sdk("GetAlias", e) {
            e if e.is(ErrorKind::NotFound) => Ok(None),
            e => Err(e),
        },
    }
}

/// CreateAlias pointing at `version`.
pub async fn create_alias(
    aws: &Aws,
    name: &str,
    alias: &str,
    version: &str,
    description: &str,
) -> Result<AliasInfo, AwsError> {
    let o = aws
        .lambda
        .create_alias()
        .function_name(name)
        .name(alias)
        .function_version(version)
        .description(description)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateAlias", e))?;
    Ok(alias_info(o.alias_arn(), o.function_version()))
}

/// UpdateAlias: points it at `version` (NotFound when there is no such alias).
pub async fn update_alias(
    aws: &Aws,
    name: &str,
    alias: &str,
    version: &str,
) -> Result<AliasInfo, AwsError> {
    let o = aws
        .lambda
        .update_alias()
        .function_name(name)
        .name(alias)
        .function_version(version)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("UpdateAlias", e))?;
    Ok(alias_info(o.alias_arn(), o.function_version()))
}

/// DeleteFunction of one published version; `false` when it was already gone. Lambda refuses
/// to delete a version an alias points to.
pub async fn delete_version(aws: &Aws, name: &str, version: &str) -> Result<bool, AwsError> {
    match aws
        .lambda
        .delete_function()
        .function_name(name)
        .qualifier(version)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) => match AwsError::from_sdk("DeleteFunction", e) {
            e if e.is(ErrorKind::NotFound) => Ok(false),
            e => Err(e),
        },
    }
}

/// TagResource: puts the stack's owner tag back on the function.
pub async fn tag(aws: &Aws, arn: &str, stack: &str) -> Result<(), AwsError> {
    aws.lambda
        .tag_resource()
        .resource(arn)
        .tags(OWNER_TAG, stack)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("TagResource", e))
}

/// The attempt time-out for an upload of `zip_len` bytes: the usual 60 s, plus one second per
/// 256 KiB of base64 (a slow link: 50 MiB takes about 4.5 minutes at 1 Mbit/s). A large zip on
/// a slow link is not cut off and sent again and again.
fn upload_timeout(zip_len: usize) -> aws_sdk_lambda::config::Builder {
    aws_sdk_lambda::config::Builder::default().timeout_config(
        aws_config::timeout::TimeoutConfig::builder()
            .operation_attempt_timeout(upload_attempt_limit(zip_len))
            .build(),
    )
}

pub fn upload_attempt_limit(zip_len: usize) -> std::time::Duration {
    let base64_len = zip_len.div_ceil(3) * 4;
    std::time::Duration::from_secs(60 + (base64_len / (256 * 1024)) as u64)
}

#[cfg(test)]
mod upload_tests {
    #[test]
    fn a_statement_belongs_to_the_policy_of_the_qualifier_its_resource_names() {
        use super::resource_qualifier;
        let arn = "arn:aws:lambda:us-east-1:1:function:putitem-prod";
        assert_eq!(resource_qualifier(arn), None);
        assert_eq!(resource_qualifier(&format!("{arn}:live")), Some("live"));
        assert_eq!(resource_qualifier(&format!("{arn}:3")), Some("3"));
        assert_eq!(resource_qualifier("*"), None);
    }

    #[test]
    fn the_upload_time_out_grows_with_the_zip() {
        assert_eq!(super::upload_attempt_limit(10_000).as_secs(), 60);
        let big = super::upload_attempt_limit(crate::package::MAX_INLINE_ZIP_BYTES).as_secs();
        assert!((320..=330).contains(&big), "{big}");
    }
}
