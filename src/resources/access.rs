//! API Gateway's access resources: API keys, usage plans (with their API stages and per-method
//! throttles) and their keys, and a REST API's authorizers. A key and a plan carry the owner
//! tag; an authorizer lives in the REST API (which does). docs/auth.md, "Deploying".

use std::collections::HashMap;

use aws_sdk_apigateway::types::{
    ApiStage, AuthorizerType, Op, PatchOperation, QuotaPeriodType, QuotaSettings, ThrottleSettings,
};

use crate::auth::{AuthorizerKind, AuthorizerSpec, Throttle, UsagePlanSpec};
use crate::aws::{Aws, AwsError, ErrorKind};
use crate::stack::OWNER_TAG;

use super::api::{every_page, not_found_is_none};
use super::Owner;

/// A delete's answer: `false` when it was already gone.
fn gone_is_ok(r: Result<(), AwsError>) -> Result<bool, AwsError> {
    not_found_is_none(r).map(|o| o.is_some())
}

/// Whose a key or plan is, by its tags.
fn owner_of(tags: Option<&HashMap<String, String>>, owner: &str) -> Owner {
    Owner::from_tag(
        tags.and_then(|t| t.get(OWNER_TAG)).map(String::as_str),
        owner,
    )
}

/// An API key as read (never its value: [`key_value`] reads that, for a person).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyInfo {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub owner: Owner,
}

/// CreateApiKey, tagged. Its value is API Gateway's; the answer's is dropped here.
pub async fn create_key(
    aws: &Aws,
    name: &str,
    enabled: bool,
    owner: &str,
) -> Result<String, AwsError> {
    let out = aws
        .apigateway
        .create_api_key()
        .name(name)
        .enabled(enabled)
        .description(format!("serverless-cli {owner}"))
        .tags(OWNER_TAG, owner)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateApiKey", e))?;
    Ok(out.id().unwrap_or_default().to_string())
}

/// GetApiKeys by name, every page.
pub async fn find_keys(aws: &Aws, name: &str, owner: &str) -> Result<Vec<KeyInfo>, AwsError> {
    let all = every_page(|position| async move {
        let out = aws
            .apigateway
            .get_api_keys()
            .name_query(name)
            .limit(500)
            .set_position(position)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetApiKeys", e))?;
        Ok((out.items().to_vec(), out.position().map(str::to_string)))
    })
    .await?
    .unwrap_or_default();
    Ok(all
        .iter()
        .filter(|k| k.name() == Some(name))
        .map(|k| KeyInfo {
            id: k.id().unwrap_or_default().to_string(),
            name: name.to_string(),
            enabled: k.enabled(),
            owner: owner_of(k.tags(), owner),
        })
        .collect())
}

/// GetApiKey without its value; `None` when gone.
pub async fn key(aws: &Aws, id: &str, owner: &str) -> Result<Option<KeyInfo>, AwsError> {
    not_found_is_none(
        aws.apigateway
            .get_api_key()
            .api_key(id)
            .include_value(false)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetApiKey", e)),
    )
    .map(|o| {
        o.map(|k| KeyInfo {
            id: id.to_string(),
            name: k.name().unwrap_or_default().to_string(),
            enabled: k.enabled(),
            owner: owner_of(k.tags(), owner),
        })
    })
}

/// GetApiKey with its value (for a person, or serve); `None` when gone.
pub async fn key_value(aws: &Aws, id: &str) -> Result<Option<(String, bool)>, AwsError> {
    not_found_is_none(
        aws.apigateway
            .get_api_key()
            .api_key(id)
            .include_value(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetApiKey", e)),
    )
    .map(|o| o.map(|k| (k.value().unwrap_or_default().to_string(), k.enabled())))
}

fn replace(path: &str, value: impl Into<String>) -> PatchOperation {
    PatchOperation::builder()
        .op(Op::Replace)
        .path(path)
        .value(value)
        .build()
}

/// UpdateApiKey: enabled or not.
pub async fn set_key_enabled(aws: &Aws, id: &str, enabled: bool) -> Result<(), AwsError> {
    aws.apigateway
        .update_api_key()
        .api_key(id)
        .patch_operations(replace("/enabled", enabled.to_string()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("UpdateApiKey", e))
}

/// DeleteApiKey; `false` when already gone.
pub async fn delete_key(aws: &Aws, id: &str) -> Result<bool, AwsError> {
    gone_is_ok(
        aws.apigateway
            .delete_api_key()
            .api_key(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("DeleteApiKey", e)),
    )
}

/// A plan's API stage: (API id, stage, per-method throttles by `/path/METHOD`).
pub type PlanStage = (String, String, Vec<(String, Throttle)>);

/// A usage plan as read.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInfo {
    pub id: String,
    pub name: String,
    pub throttle: Option<Throttle>,
    pub quota: Option<(i32, String, i32)>,
    pub stages: Vec<PlanStage>,
    pub owner: Owner,
}

fn throttle_settings(t: &Throttle) -> ThrottleSettings {
    ThrottleSettings::builder()
        .rate_limit(t.rate)
        .burst_limit(t.burst)
        .build()
}

fn throttle_of(t: &ThrottleSettings) -> Throttle {
    Throttle {
        rate: t.rate_limit(),
        burst: t.burst_limit(),
    }
}

/// The plan's stage with its method throttles (`/orders/GET`).
fn api_stage(plan: &UsagePlanSpec, api: &str, stage: &str) -> ApiStage {
    let throttles: HashMap<String, ThrottleSettings> = plan
        .method_throttles
        .iter()
        .filter_map(|(route, t)| Some((UsagePlanSpec::throttle_path(route)?, throttle_settings(t))))
        .collect();
    ApiStage::builder()
        .api_id(api)
        .stage(stage)
        .set_throttle((!throttles.is_empty()).then_some(throttles))
        .build()
}

/// CreateUsagePlan on one API stage, tagged.
pub async fn create_plan(
    aws: &Aws,
    plan: &UsagePlanSpec,
    api: &str,
    stage: &str,
    owner: &str,
) -> Result<String, AwsError> {
    let mut req = aws
        .apigateway
        .create_usage_plan()
        .name(&plan.name)
        .description(format!("serverless-cli {owner}"))
        .api_stages(api_stage(plan, api, stage))
        .tags(OWNER_TAG, owner);
    if let Some(t) = &plan.throttle {
        req = req.throttle(throttle_settings(t));
    }
    if let Some(q) = &plan.quota {
        req = req.quota(
            QuotaSettings::builder()
                .limit(q.limit)
                .offset(q.offset)
                .period(QuotaPeriodType::from(q.period.api_name()))
                .build(),
        );
    }
    let out = req
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateUsagePlan", e))?;
    Ok(out.id().unwrap_or_default().to_string())
}

fn plan_info(
    id: &str,
    name: Option<&str>,
    throttle: Option<&ThrottleSettings>,
    quota: Option<&QuotaSettings>,
    stages: &[ApiStage],
    tags: Option<&HashMap<String, String>>,
    owner: &str,
) -> PlanInfo {
    PlanInfo {
        id: id.to_string(),
        name: name.unwrap_or_default().to_string(),
        throttle: throttle.map(throttle_of),
        quota: quota.map(|q| {
            (
                q.limit(),
                q.period()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
                q.offset(),
            )
        }),
        stages: stages
            .iter()
            .map(|s| {
                let mut t: Vec<(String, Throttle)> = s
                    .throttle()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), throttle_of(v))).collect())
                    .unwrap_or_default();
                t.sort_by(|a, b| a.0.cmp(&b.0));
                (
                    s.api_id().unwrap_or_default().to_string(),
                    s.stage().unwrap_or_default().to_string(),
                    t,
                )
            })
            .collect(),
        owner: owner_of(tags, owner),
    }
}

/// GetUsagePlan; `None` when gone.
pub async fn plan(aws: &Aws, id: &str, owner: &str) -> Result<Option<PlanInfo>, AwsError> {
    not_found_is_none(
        aws.apigateway
            .get_usage_plan()
            .usage_plan_id(id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetUsagePlan", e)),
    )
    .map(|o| {
        o.map(|p| {
            plan_info(
                id,
                p.name(),
                p.throttle(),
                p.quota(),
                p.api_stages(),
                p.tags(),
                owner,
            )
        })
    })
}

/// GetUsagePlans, every page: those of this name.
pub async fn find_plans(aws: &Aws, name: &str, owner: &str) -> Result<Vec<PlanInfo>, AwsError> {
    let all = every_page(|position| async move {
        let out = aws
            .apigateway
            .get_usage_plans()
            .limit(500)
            .set_position(position)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetUsagePlans", e))?;
        Ok((out.items().to_vec(), out.position().map(str::to_string)))
    })
    .await?
    .unwrap_or_default();
    Ok(all
        .iter()
        .filter(|p| p.name() == Some(name))
        .map(|p| {
            plan_info(
                p.id().unwrap_or_default(),
                p.name(),
                p.throttle(),
                p.quota(),
                p.api_stages(),
                p.tags(),
                owner,
            )
        })
        .collect())
}

/// UpdateUsagePlan with these operations (API Gateway allows one such call per 20 s an
/// account: the caller sends every change of a plan in one).
pub async fn update_plan(aws: &Aws, id: &str, ops: Vec<PatchOperation>) -> Result<(), AwsError> {
    if ops.is_empty() {
        return Ok(());
    }
    aws.apigateway
        .update_usage_plan()
        .usage_plan_id(id)
        .set_patch_operations(Some(ops))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("UpdateUsagePlan", e))
}

/// The operations that make a plan as read into the plan wished for on `api`'s `stage`.
pub fn plan_changes(
    have: &PlanInfo,
    want: &UsagePlanSpec,
    api: &str,
    stage: &str,
) -> Vec<PatchOperation> {
    let mut ops = Vec::new();
    let op = |o: Op, path: &str, value: Option<String>| {
        PatchOperation::builder()
            .op(o)
            .path(path)
            .set_value(value)
            .build()
    };
    match (&have.throttle, &want.throttle) {
        (h, Some(w)) if h.as_ref() != Some(w) => {
            ops.push(op(
                Op::Replace,
                "/throttle/rateLimit",
                Some(w.rate.to_string()),
            ));
            ops.push(op(
                Op::Replace,
                "/throttle/burstLimit",
                Some(w.burst.to_string()),
            ));
        }
        (Some(_), None) => ops.push(op(Op::Remove, "/throttle", None)),
        _ => {}
    }
    let want_quota = want
        .quota
        .map(|q| (q.limit, q.period.api_name().to_string(), q.offset));
    match (&have.quota, &want_quota) {
        (h, Some(w)) if h.as_ref() != Some(w) => {
            ops.push(op(Op::Replace, "/quota/limit", Some(w.0.to_string())));
            ops.push(op(Op::Replace, "/quota/period", Some(w.1.clone())));
            ops.push(op(Op::Replace, "/quota/offset", Some(w.2.to_string())));
        }
        (Some(_), None) => ops.push(op(Op::Remove, "/quota", None)),
        _ => {}
    }
    let here = format!("{api}:{stage}");
    let has_stage = have.stages.iter().find(|(a, s, _)| a == api && s == stage);
    // Stages of another API of this plan (an API made again): removed.
    for (a, s, _) in &have.stages {
        if !(a == api && s == stage) {
            ops.push(op(Op::Remove, "/apiStages", Some(format!("{a}:{s}"))));
        }
    }
    if has_stage.is_none() {
        ops.push(op(Op::Add, "/apiStages", Some(here.clone())));
    }
    let have_t: Vec<(String, Throttle)> = has_stage.map(|(_, _, t)| t.clone()).unwrap_or_default();
    let mut want_t: Vec<(String, Throttle)> = want
        .method_throttles
        .iter()
        .filter_map(|(r, t)| Some((UsagePlanSpec::throttle_path(r)?, *t)))
        .collect();
    want_t.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, t) in &want_t {
        if have_t.iter().any(|(p, x)| p == path && x == t) {
            continue;
        }
        // `/apiStages/API:STAGE/throttle/PATH` (the path's `/` written `~1`).
        let at = format!(
            "/apiStages/{here}/throttle/{}",
            path.replace('~', "~0").replace('/', "~1")
        );
        ops.push(op(
            Op::Replace,
            &format!("{at}/rateLimit"),
            Some(t.rate.to_string()),
        ));
        ops.push(op(
            Op::Replace,
            &format!("{at}/burstLimit"),
            Some(t.burst.to_string()),
        ));
    }
    for (path, _) in &have_t {
        if !want_t.iter().any(|(p, _)| p == path) {
            let at = format!(
                "/apiStages/{here}/throttle/{}",
                path.replace('~', "~0").replace('/', "~1")
            );
            ops.push(op(Op::Remove, &at, None));
        }
    }
    ops
}

/// Removes every API stage from a plan (API Gateway refuses to delete a plan that has one),
/// then deletes it; `false` when already gone.
pub async fn delete_plan(aws: &Aws, id: &str, owner: &str) -> Result<bool, AwsError> {
    let Some(p) = plan(aws, id, owner).await? else {
        return Ok(false);
    };
    let ops: Vec<PatchOperation> = p
        .stages
        .iter()
        .map(|(a, s, _)| {
            PatchOperation::builder()
                .op(Op::Remove)
                .path("/apiStages")
                .value(format!("{a}:{s}"))
                .build()
        })
        .collect();
    update_plan(aws, id, ops).await?;
    gone_is_ok(
        aws.apigateway
            .delete_usage_plan()
            .usage_plan_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("DeleteUsagePlan", e)),
    )
}

/// CreateUsagePlanKey; a key already in the plan is fine.
pub async fn add_plan_key(aws: &Aws, plan: &str, key: &str) -> Result<(), AwsError> {
    match aws
        .apigateway
        .create_usage_plan_key()
        .usage_plan_id(plan)
        .key_id(key)
        .key_type("API_KEY")
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateUsagePlanKey", e))
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.is(ErrorKind::AlreadyExists)
                && plan_keys(aws, plan).await?.iter().any(|k| k == key) =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// GetUsagePlanKeys, every page: the key ids.
pub async fn plan_keys(aws: &Aws, plan: &str) -> Result<Vec<String>, AwsError> {
    let all = every_page(|position| async move {
        let out = aws
            .apigateway
            .get_usage_plan_keys()
            .usage_plan_id(plan)
            .limit(500)
            .set_position(position)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetUsagePlanKeys", e))?;
        Ok((out.items().to_vec(), out.position().map(str::to_string)))
    })
    .await?
    .unwrap_or_default();
    Ok(all
        .iter()
        .filter_map(|k| k.id().map(str::to_string))
        .collect())
}

/// DeleteUsagePlanKey; `false` when already gone (or the plan is).
pub async fn remove_plan_key(aws: &Aws, plan: &str, key: &str) -> Result<bool, AwsError> {
    gone_is_ok(
        aws.apigateway
            .delete_usage_plan_key()
            .usage_plan_id(plan)
            .key_id(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("DeleteUsagePlanKey", e)),
    )
}

/// An authorizer as read.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizerInfo {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub provider_arns: Vec<String>,
    pub uri: Option<String>,
    pub identity_source: Option<String>,
    pub validation: Option<String>,
    pub ttl_secs: Option<i32>,
}

/// CreateAuthorizer.
pub async fn create_authorizer(
    aws: &Aws,
    api: &str,
    a: &AuthorizerSpec,
    uri: Option<&str>,
) -> Result<String, AwsError> {
    let mut req = aws
        .apigateway
        .create_authorizer()
        .rest_api_id(api)
        .name(&a.name)
        .r#type(AuthorizerType::from(a.kind.api_name()))
        .identity_source(&a.identity_source)
        .authorizer_result_ttl_in_seconds(a.ttl_secs)
        .set_authorizer_uri(uri.map(str::to_string));
    match &a.kind {
        AuthorizerKind::Cognito { user_pools } => {
            for p in user_pools {
                req = req.provider_arns(p);
            }
        }
        AuthorizerKind::Token { validation, .. } => {
            req = req.set_identity_validation_expression(validation.clone());
        }
        AuthorizerKind::Request { .. } => {}
    }
    let out = req
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateAuthorizer", e))?;
    Ok(out.id().unwrap_or_default().to_string())
}

/// GetAuthorizers, every page.
pub async fn authorizers(aws: &Aws, api: &str) -> Result<Vec<AuthorizerInfo>, AwsError> {
    let all = every_page(|position| async move {
        let out = aws
            .apigateway
            .get_authorizers()
            .rest_api_id(api)
            .limit(500)
            .set_position(position)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetAuthorizers", e))?;
        Ok((out.items().to_vec(), out.position().map(str::to_string)))
    })
    .await?
    .unwrap_or_default();
    Ok(all
        .iter()
        .map(|a| AuthorizerInfo {
            id: a.id().unwrap_or_default().to_string(),
            name: a.name().unwrap_or_default().to_string(),
            kind: a
                .r#type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            provider_arns: a.provider_arns().to_vec(),
            uri: a.authorizer_uri().map(str::to_string),
            identity_source: a.identity_source().map(str::to_string),
            validation: a.identity_validation_expression().map(str::to_string),
            ttl_secs: a.authorizer_result_ttl_in_seconds(),
        })
        .collect())
}

/// DeleteAuthorizer; `false` when already gone.
pub async fn delete_authorizer(aws: &Aws, api: &str, id: &str) -> Result<bool, AwsError> {
    gone_is_ok(
        aws.apigateway
            .delete_authorizer()
            .rest_api_id(api)
            .authorizer_id(id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("DeleteAuthorizer", e)),
    )
}

/// The operations that make an authorizer as read into the one wished for.
pub fn authorizer_changes(
    have: &AuthorizerInfo,
    want: &AuthorizerSpec,
    uri: Option<&str>,
) -> Vec<PatchOperation> {
    let mut ops = Vec::new();
    let rep = |path: &str, v: String| replace(path, v);
    if have.kind != want.kind.api_name() {
        ops.push(rep("/type", want.kind.api_name().to_string()));
    }
    if have.identity_source.as_deref() != Some(want.identity_source.as_str()) {
        ops.push(rep("/identitySource", want.identity_source.clone()));
    }
    if have.ttl_secs.unwrap_or(300) != want.ttl_secs {
        ops.push(rep(
            "/authorizerResultTtlInSeconds",
            want.ttl_secs.to_string(),
        ));
    }
    if have.uri.as_deref() != uri {
        if let Some(u) = uri {
            ops.push(rep("/authorizerUri", u.to_string()));
        }
    }
    let validation = match &want.kind {
        AuthorizerKind::Token { validation, .. } => validation.clone(),
        _ => None,
    };
    if have.validation != validation {
        ops.push(rep(
            "/identityValidationExpression",
            validation.unwrap_or_default(),
        ));
    }
    if let AuthorizerKind::Cognito { user_pools } = &want.kind {
        for p in user_pools {
            if !have.provider_arns.contains(p) {
                ops.push(
                    PatchOperation::builder()
                        .op(Op::Add)
                        .path("/providerARNs")
                        .value(p)
                        .build(),
                );
            }
        }
        for p in &have.provider_arns {
            if !user_pools.contains(p) {
                ops.push(
                    PatchOperation::builder()
                        .op(Op::Remove)
                        .path("/providerARNs")
                        .value(p)
                        .build(),
                );
            }
        }
    }
    ops
}

/// UpdateAuthorizer.
pub async fn update_authorizer(
    aws: &Aws,
    api: &str,
    id: &str,
    ops: Vec<PatchOperation>,
) -> Result<(), AwsError> {
    aws.apigateway
        .update_authorizer()
        .rest_api_id(api)
        .authorizer_id(id)
        .set_patch_operations(Some(ops))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("UpdateAuthorizer", e))
}
