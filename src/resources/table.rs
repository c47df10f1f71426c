//! A DynamoDB table of the stack.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ProvisionedThroughput,
    ScalarAttributeType, TableStatus, Tag,
};

use crate::aws::{Aws, AwsError, ErrorKind};
use crate::stack::Billing;
use crate::stack::{TableSpec, OWNER_TAG};

use super::Owner;

/// What DescribeTable tells us.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub arn: String,
    pub status: String,
    pub billing: Billing,
}

fn local(msg: String) -> AwsError {
    AwsError::local(ErrorKind::Other, msg)
}

fn scalar(ty: &str) -> ScalarAttributeType {
    match ty {
        "N" => ScalarAttributeType::N,
        "B" => ScalarAttributeType::B,
        _ => ScalarAttributeType::S,
    }
}

/// CreateTable with the table's key schema, billing and the owner tag. Returns the ARN.
pub async fn create(aws: &Aws, t: &TableSpec, stack: &str) -> Result<String, AwsError> {
    let tag = Tag::builder()
        .key(OWNER_TAG)
        .value(stack)
        .build()
        .map_err(|e| local(e.to_string()))?;
    let mut req = aws.dynamodb.create_table().table_name(&t.name).tags(tag);
    let keys = std::iter::once((&t.hash_key, KeyType::Hash))
        .chain(t.range_key.iter().map(|r| (r, KeyType::Range)));
    for (attr, key_type) in keys {
        let def = AttributeDefinition::builder()
            .attribute_name(&attr.name)
            .attribute_type(scalar(&attr.ty))
            .build()
            .map_err(|e| local(e.to_string()))?;
        let key = KeySchemaElement::builder()
            .attribute_name(&attr.name)
            .key_type(key_type)
            .build()
            .map_err(|e| local(e.to_string()))?;
        req = req.attribute_definitions(def).key_schema(key);
    }
    req = match t.billing {
        Billing::Provisioned => req
            .billing_mode(BillingMode::Provisioned)
            .provisioned_throughput(throughput(t.capacity)?),
        Billing::OnDemand => req.billing_mode(BillingMode::PayPerRequest),
    };
    let out = req
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateTable", e))?;
    Ok(out
        .table_description()
        .and_then(|t| t.table_arn())
        .unwrap_or_default()
        .to_string())
}

fn throughput((read, write): (i64, i64)) -> Result<ProvisionedThroughput, AwsError> {
    ProvisionedThroughput::builder()
        .read_capacity_units(read)
        .write_capacity_units(write)
        .build()
        .map_err(|e| local(e.to_string()))
}

/// DescribeTable; `None` when there is no such table.
pub async fn describe(aws: &Aws, name: &str) -> Result<Option<TableInfo>, AwsError> {
    match aws.dynamodb.describe_table().table_name(name).send().await {
        Ok(out) => {
            let t = out.table();
            let billing = match t
                .and_then(|t| t.billing_mode_summary())
                .and_then(|b| b.billing_mode())
            {
                Some(BillingMode::PayPerRequest) => Billing::OnDemand,
                _ => Billing::Provisioned,
            };
            Ok(Some(TableInfo {
                arn: t
                    .and_then(|t| t.table_arn())
                    .unwrap_or_default()
                    .to_string(),
                status: t
                    .and_then(|t| t.table_status())
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "UNKNOWN".to_string()),
                billing,
            }))
        }
        Err(e) => {
            let e = AwsError::from_sdk("DescribeTable", e);
            if e.is(ErrorKind::NotFound) {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// True when the status is ACTIVE.
pub fn is_active(status: &str) -> bool {
    status == TableStatus::Active.as_str()
}

/// The table's owner, from its tags.
pub async fn owner(aws: &Aws, arn: &str, stack: &str) -> Result<Owner, AwsError> {
    let out = aws
        .dynamodb
        .list_tags_of_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListTagsOfResource", e))?;
    Ok(Owner::from_pairs(
        out.tags().iter().map(|t| (t.key(), t.value())),
        stack,
    ))
}

/// Switches the billing mode (and sets the provisioned capacity).
pub async fn update_billing(
    aws: &Aws,
    name: &str,
    billing: Billing,
    capacity: (i64, i64),
) -> Result<(), AwsError> {
    let req = aws.dynamodb.update_table().table_name(name);
    let req = match billing {
        Billing::Provisioned => req
            .billing_mode(BillingMode::Provisioned)
            .provisioned_throughput(throughput(capacity)?),
        Billing::OnDemand => req.billing_mode(BillingMode::PayPerRequest),
    };
    req.send()
        .await
        .map_err(|e| AwsError::from_sdk("UpdateTable", e))?;
    Ok(())
}

/// DeleteTable; `false` when it was already gone.
pub async fn delete(aws: &Aws, name: &str) -> Result<bool, AwsError> {
    match aws.dynamodb.delete_table().table_name(name).send().await {
        Ok(_) => Ok(true),
        Err(e) => {
            let mut e = AwsError::from_sdk("DeleteTable", e);
            match e.kind {
                ErrorKind::NotFound => Ok(false),
                // ResourceInUseException here means CREATING or UPDATING: try again shortly.
                ErrorKind::AlreadyExists => {
                    e.kind = ErrorKind::Busy;
                    Err(e)
                }
                _ => Err(e),
            }
        }
    }
}

/// TagResource: puts the stack's owner tag back on the table.
pub async fn tag(aws: &Aws, arn: &str, stack: &str) -> Result<(), AwsError> {
    let tag = Tag::builder()
        .key(OWNER_TAG)
        .value(stack)
        .build()
        .map_err(|e| local(e.to_string()))?;
    aws.dynamodb
        .tag_resource()
        .resource_arn(arn)
        .tags(tag)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("TagResource", e))
}
