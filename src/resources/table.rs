//! A DynamoDB table of the stack.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction,
    DeleteGlobalSecondaryIndexAction, GlobalSecondaryIndex, GlobalSecondaryIndexUpdate,
    KeySchemaElement, KeyType, LocalSecondaryIndex, Projection as DdbProjection, ProjectionType,
    ProvisionedThroughput, ScalarAttributeType, TableStatus, Tag,
};

use crate::aws::{Aws, AwsError, ErrorKind};
use crate::stack::Billing;
use crate::stack::{IndexSpec, KeyAttr, Projection, TableSpec, OWNER_TAG};

use super::Owner;

/// What DescribeTable tells us.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub arn: String,
    pub status: String,
    pub billing: Billing,
    /// Its secondary indexes: name, what [`IndexSpec::describe`] says of it, its status
    /// (`ACTIVE`, `CREATING`, ...; a local index is always `ACTIVE`).
    pub indexes: Vec<(String, String, String)>,
}

impl TableInfo {
    /// The table and every index ACTIVE: ready for the next change.
    pub fn settled(&self) -> bool {
        is_active(&self.status) && self.indexes.iter().all(|(_, _, s)| s == "ACTIVE")
    }
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
    for def in attribute_definitions(t, t.indexes.iter())? {
        req = req.attribute_definitions(def);
    }
    for key in key_schema(&t.hash_key, t.range_key.as_ref())? {
        req = req.key_schema(key);
    }
    for x in &t.indexes {
        if x.local {
            req = req.local_secondary_indexes(
                LocalSecondaryIndex::builder()
                    .index_name(&x.name)
                    .set_key_schema(Some(key_schema(&x.hash_key, x.range_key.as_ref())?))
                    .projection(projection(&x.projection))
                    .build()
                    .map_err(|e| local(e.to_string()))?,
            );
        } else {
            req = req.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(&x.name)
                    .set_key_schema(Some(key_schema(&x.hash_key, x.range_key.as_ref())?))
                    .projection(projection(&x.projection))
                    .set_provisioned_throughput(match t.billing {
                        Billing::Provisioned => Some(throughput(t.capacity)?),
                        Billing::OnDemand => None,
                    })
                    .build()
                    .map_err(|e| local(e.to_string()))?,
            );
        }
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

/// The key attributes of the table and of these indexes, each once.
fn attribute_definitions<'a>(
    t: &TableSpec,
    indexes: impl Iterator<Item = &'a IndexSpec>,
) -> Result<Vec<AttributeDefinition>, AwsError> {
    let mut seen: Vec<&KeyAttr> = Vec::new();
    let table_keys = std::iter::once(&t.hash_key).chain(t.range_key.iter());
    let index_keys: Vec<&KeyAttr> = indexes
        .flat_map(|x| std::iter::once(&x.hash_key).chain(x.range_key.iter()))
        .collect();
    for k in table_keys.chain(index_keys) {
        if !seen.iter().any(|s| s.name == k.name) {
            seen.push(k);
        }
    }
    seen.into_iter()
        .map(|k| {
            AttributeDefinition::builder()
                .attribute_name(&k.name)
                .attribute_type(scalar(&k.ty))
                .build()
                .map_err(|e| local(e.to_string()))
        })
        .collect()
}

fn key_schema(hash: &KeyAttr, range: Option<&KeyAttr>) -> Result<Vec<KeySchemaElement>, AwsError> {
    std::iter::once((hash, KeyType::Hash))
        .chain(range.map(|r| (r, KeyType::Range)))
        .map(|(attr, key_type)| {
            KeySchemaElement::builder()
                .attribute_name(&attr.name)
                .key_type(key_type)
                .build()
                .map_err(|e| local(e.to_string()))
        })
        .collect()
}

fn projection(p: &Projection) -> DdbProjection {
    match p {
        Projection::All => DdbProjection::builder()
            .projection_type(ProjectionType::All)
            .build(),
        Projection::KeysOnly => DdbProjection::builder()
            .projection_type(ProjectionType::KeysOnly)
            .build(),
        Projection::Include(a) => DdbProjection::builder()
            .projection_type(ProjectionType::Include)
            .set_non_key_attributes(Some(a.clone()))
            .build(),
    }
}

/// UpdateTable adding one global index (DynamoDB takes one index change per call, and none
/// while another is being made). The attribute definitions name the keys of the table, of
/// the indexes it keeps (`kept`) and of the new one: what its key schemas use after the
/// change.
pub async fn create_index(
    aws: &Aws,
    t: &TableSpec,
    kept: &[&IndexSpec],
    x: &IndexSpec,
) -> Result<(), AwsError> {
    let action = CreateGlobalSecondaryIndexAction::builder()
        .index_name(&x.name)
        .set_key_schema(Some(key_schema(&x.hash_key, x.range_key.as_ref())?))
        .projection(projection(&x.projection))
        .set_provisioned_throughput(match t.billing {
            Billing::Provisioned => Some(throughput(t.capacity)?),
            Billing::OnDemand => None,
        })
        .build()
        .map_err(|e| local(e.to_string()))?;
    aws.dynamodb
        .update_table()
        .table_name(&t.name)
        .set_attribute_definitions(Some(attribute_definitions(
            t,
            kept.iter().copied().chain(std::iter::once(x)),
        )?))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().create(action).build(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("UpdateTable", e))
}

/// UpdateTable removing one global index.
pub async fn delete_index(aws: &Aws, table: &str, index: &str) -> Result<(), AwsError> {
    let action = DeleteGlobalSecondaryIndexAction::builder()
        .index_name(index)
        .build()
        .map_err(|e| local(e.to_string()))?;
    aws.dynamodb
        .update_table()
        .table_name(table)
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().delete(action).build(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("UpdateTable", e))
}

/// How DescribeTable's index reads in [`IndexSpec::describe`]'s words.
fn describe_index(
    keys: &[KeySchemaElement],
    defs: &[AttributeDefinition],
    p: Option<&DdbProjection>,
    local: bool,
) -> String {
    let ty = |name: &str| {
        defs.iter()
            .find(|d| d.attribute_name() == name)
            .map_or("?".to_string(), |d| d.attribute_type().as_str().to_string())
    };
    let mut out: Vec<String> = keys
        .iter()
        .map(|k| format!("{} ({})", k.attribute_name(), ty(k.attribute_name())))
        .collect();
    let projection = match p.and_then(|p| p.projection_type()) {
        Some(ProjectionType::All) => "all".to_string(),
        Some(ProjectionType::Include) => {
            let mut a: Vec<String> = p
                .map(|p| p.non_key_attributes().to_vec())
                .unwrap_or_default();
            a.sort();
            format!("include {}", a.join(", "))
        }
        _ => "keys".to_string(),
    };
    out.push(projection);
    if local {
        out.push("local".into());
    }
    out.join(", ")
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
            let defs = t.map(|t| t.attribute_definitions()).unwrap_or_default();
            let mut indexes: Vec<(String, String, String)> = t
                .map(|t| t.global_secondary_indexes())
                .unwrap_or_default()
                .iter()
                .map(|x| {
                    (
                        x.index_name().unwrap_or_default().to_string(),
                        describe_index(x.key_schema(), defs, x.projection(), false),
                        x.index_status()
                            .map_or("ACTIVE".to_string(), |s| s.as_str().to_string()),
                    )
                })
                .collect();
            indexes.extend(
                t.map(|t| t.local_secondary_indexes())
                    .unwrap_or_default()
                    .iter()
                    .map(|x| {
                        (
                            x.index_name().unwrap_or_default().to_string(),
                            describe_index(x.key_schema(), defs, x.projection(), true),
                            "ACTIVE".to_string(),
                        )
                    }),
            );
            Ok(Some(TableInfo {
                indexes,
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
