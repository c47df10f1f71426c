//! `state init`: a bucket fit for shared state, made, or checked.

use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
    VersioningConfiguration,
};

use super::s3::S3Error;

/// Tag on a bucket `state init` made.
pub const STATE_TAG: &str = "serverless-cli:state";

/// Creates the bucket: versioning on, default encryption, public access blocked, tagged.
pub async fn create(s3: &aws_sdk_s3::Client, bucket: &str, region: &str) -> anyhow::Result<()> {
    let mut req = s3.create_bucket().bucket(bucket);
    // us-east-1 takes no location constraint (and refuses one).
    if region != "us-east-1" {
        req = req.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    req.send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", S3Error::from_sdk_pub("CreateBucket", e)))?;
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", S3Error::from_sdk_pub("PutBucketVersioning", e)))?;
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::Aes256)
        .build()?;
    s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(by_default)
                        .build(),
                )
                .build()?,
        )
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", S3Error::from_sdk_pub("PutBucketEncryption", e)))?;
    s3.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", S3Error::from_sdk_pub("PutPublicAccessBlock", e)))?;
    s3.put_bucket_tagging()
        .bucket(bucket)
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key(STATE_TAG).value("true").build()?)
                .build()?,
        )
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", S3Error::from_sdk_pub("PutBucketTagging", e)))?;
    Ok(())
}

/// What an existing bucket lacks for shared state, in words.
pub async fn missing(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let versioning = s3
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", S3Error::from_sdk_pub("GetBucketVersioning", e)))?;
    if versioning.status() != Some(&BucketVersioningStatus::Enabled) {
        out.push("versioning is off".to_string());
    }
    match s3.get_bucket_encryption().bucket(bucket).send().await {
        Ok(o) => {
            let rules = o
                .server_side_encryption_configuration()
                .map(|c| c.rules().len())
                .unwrap_or(0);
            if rules == 0 {
                out.push("no default encryption".to_string());
            }
        }
        Err(_) => out.push("no default encryption".to_string()),
    }
    match s3.get_public_access_block().bucket(bucket).send().await {
        Ok(o) => {
            let c = o.public_access_block_configuration();
            let all = c.is_some_and(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            });
            if !all {
                out.push("public access is not fully blocked".to_string());
            }
        }
        Err(_) => out.push("public access is not blocked".to_string()),
    }
    Ok(out)
}
