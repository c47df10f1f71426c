//! The IAM execution role and its policies.

use aws_sdk_iam::types::Tag;

use crate::aws::{url_decode, Aws, AwsError, ErrorKind};
use crate::stack::OWNER_TAG;

use super::Owner;

fn not_found_is_none<T>(r: Result<T, AwsError>) -> Result<Option<T>, AwsError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is(ErrorKind::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// CreateRole trusted by Lambda, tagged with the stack. Returns the ARN.
pub async fn create(
    aws: &Aws,
    name: &str,
    trust_policy: &str,
    stack: &str,
) -> Result<String, AwsError> {
    let tag = Tag::builder()
        .key(OWNER_TAG)
        .value(stack)
        .build()
        .map_err(|e| AwsError::local(ErrorKind::Other, e.to_string()))?;
    let out = aws
        .iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust_policy)
        .description(format!(
            "Execution role of the serverless-cli stack {stack}"
        ))
        .tags(tag)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateRole", e))?;
    Ok(out.role().map(|r| r.arn().to_string()).unwrap_or_default())
}

/// GetRole: the ARN, or `None` when there is no such role.
pub async fn arn(aws: &Aws, name: &str) -> Result<Option<String>, AwsError> {
    not_found_is_none(
        aws.iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetRole", e))
            .map(|o| o.role().map(|r| r.arn().to_string()).unwrap_or_default()),
    )
}

/// The role's owner, or `None` when there is no such role.
pub async fn owner(aws: &Aws, name: &str, stack: &str) -> Result<Option<Owner>, AwsError> {
    not_found_is_none(
        aws.iam
            .list_role_tags()
            .role_name(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListRoleTags", e))
            .map(|o| Owner::from_pairs(o.tags().iter().map(|t| (t.key(), t.value())), stack)),
    )
}

/// IAM is eventually consistent: right after CreateRole, calls on the role can answer
/// NoSuchEntity for a moment. On a role we just made (or recorded), that means "try again".
fn not_yet_visible(mut e: AwsError) -> AwsError {
    if e.is(ErrorKind::NotFound) {
        e.kind = ErrorKind::Busy;
    }
    e
}

pub async fn put_inline_policy(
    aws: &Aws,
    role: &str,
    policy: &str,
    document: &str,
) -> Result<(), AwsError> {
    aws.iam
        .put_role_policy()
        .role_name(role)
        .policy_name(policy)
        .policy_document(document)
        .send()
        .await
        .map_err(|e| not_yet_visible(AwsError::from_sdk("PutRolePolicy", e)))?;
    Ok(())
}

/// The inline policy's document (decoded), or `None` when it is not there.
pub async fn inline_policy(
    aws: &Aws,
    role: &str,
    policy: &str,
) -> Result<Option<String>, AwsError> {
    not_found_is_none(
        aws.iam
            .get_role_policy()
            .role_name(role)
            .policy_name(policy)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetRolePolicy", e))
            .map(|o| url_decode(o.policy_document())),
    )
}

pub async fn inline_policy_names(aws: &Aws, role: &str) -> Result<Vec<String>, AwsError> {
    let out = aws
        .iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListRolePolicies", e))?;
    Ok(out.policy_names().to_vec())
}

pub async fn delete_inline_policy(aws: &Aws, role: &str, policy: &str) -> Result<(), AwsError> {
    match aws
        .iam
        .delete_role_policy()
        .role_name(role)
        .policy_name(policy)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => match AwsError::from_sdk("DeleteRolePolicy", e) {
            e if e.is(ErrorKind::NotFound) => Ok(()),
            e => Err(e),
        },
    }
}

pub async fn attached_policy_arns(aws: &Aws, role: &str) -> Result<Vec<String>, AwsError> {
    let out = aws
        .iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListAttachedRolePolicies", e))?;
    Ok(out
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect())
}

pub async fn attach_policy(aws: &Aws, role: &str, arn: &str) -> Result<(), AwsError> {
    aws.iam
        .attach_role_policy()
        .role_name(role)
        .policy_arn(arn)
        .send()
        .await
        .map_err(|e| not_yet_visible(AwsError::from_sdk("AttachRolePolicy", e)))?;
    Ok(())
}

pub async fn detach_policy(aws: &Aws, role: &str, arn: &str) -> Result<(), AwsError> {
    match aws
        .iam
        .detach_role_policy()
        .role_name(role)
        .policy_arn(arn)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => match AwsError::from_sdk("DetachRolePolicy", e) {
            e if e.is(ErrorKind::NotFound) => Ok(()),
            e => Err(e),
        },
    }
}

/// DeleteRole; `false` when it was already gone.
pub async fn delete(aws: &Aws, name: &str) -> Result<bool, AwsError> {
    match aws.iam.delete_role().role_name(name).send().await {
        Ok(_) => Ok(true),
        Err(e) => match AwsError::from_sdk("DeleteRole", e) {
            e if e.is(ErrorKind::NotFound) => Ok(false),
            e => Err(e),
        },
    }
}

/// TagRole: puts the stack's owner tag back on the role.
pub async fn tag(aws: &Aws, name: &str, stack: &str) -> Result<(), AwsError> {
    let tag = Tag::builder()
        .key(OWNER_TAG)
        .value(stack)
        .build()
        .map_err(|e| AwsError::local(ErrorKind::Other, e.to_string()))?;
    aws.iam
        .tag_role()
        .role_name(name)
        .tags(tag)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("TagRole", e))
}
