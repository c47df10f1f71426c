//! The function's CloudWatch log group, `/aws/lambda/<function>`, made by deploy with a
//! retention so that logs do not pile up forever, and removed by teardown. (Left to Lambda, it
//! would be made on first use, without retention, and outlive the stack.)

use crate::aws::{Aws, AwsError, ErrorKind};
use crate::stack::OWNER_TAG;

use super::Owner;

/// Retention values CloudWatch Logs accepts, in days.
pub const RETENTION_DAYS: [i32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

#[derive(Debug, Clone)]
pub struct LogGroupInfo {
    pub arn: String,
    pub retention_days: Option<i32>,
}

/// CreateLogGroup, tagged with the stack.
pub async fn create(aws: &Aws, name: &str, stack: &str) -> Result<(), AwsError> {
    aws.logs
        .create_log_group()
        .log_group_name(name)
        .tags(OWNER_TAG, stack)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateLogGroup", e))?;
    Ok(())
}

pub async fn set_retention(aws: &Aws, name: &str, days: i32) -> Result<(), AwsError> {
    aws.logs
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(days)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("PutRetentionPolicy", e))?;
    Ok(())
}

/// DescribeLogGroups by prefix, keeping the exact name; `None` when there is no such group.
pub async fn describe(aws: &Aws, name: &str) -> Result<Option<LogGroupInfo>, AwsError> {
    let out = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeLogGroups", e))?;
    Ok(out
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name))
        .map(|g| LogGroupInfo {
            arn: g
                .arn()
                .unwrap_or_default()
                .trim_end_matches(":*")
                .to_string(),
            retention_days: g.retention_in_days(),
        }))
}

/// The log group's owner, from its tags.
pub async fn owner(aws: &Aws, arn: &str, stack: &str) -> Result<Owner, AwsError> {
    let out = aws
        .logs
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListTagsForResource", e))?;
    Ok(Owner::from_tag(
        out.tags()
            .and_then(|t| t.get(OWNER_TAG))
            .map(String::as_str),
        stack,
    ))
}

/// DeleteLogGroup; `false` when it was already gone.
pub async fn delete(aws: &Aws, name: &str) -> Result<bool, AwsError> {
    match aws
        .logs
        .delete_log_group()
        .log_group_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) => match AwsError::from_sdk("DeleteLogGroup", e) {
            e if e.is(ErrorKind::NotFound) => Ok(false),
            e => Err(e),
        },
    }
}

/// TagResource: puts the stack's owner tag back on the log group.
pub async fn tag(aws: &Aws, arn: &str, stack: &str) -> Result<(), AwsError> {
    aws.logs
        .tag_resource()
        .resource_arn(arn.trim_end_matches(":*"))
        .tags(OWNER_TAG, stack)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("TagResource", e))
}
