//! The REST API: the API itself, its resources, the body model and request validator, each
//! route's method with its integration and responses, and the deployment to the stage.

use aws_sdk_apigateway::types::{EndpointConfiguration, EndpointType, IntegrationType};

use crate::aws::{Aws, AwsError, ErrorKind};
use crate::stack::{ResponseSpec, RouteSpec, OWNER_TAG};

use super::Owner;

pub(crate) fn not_found_is_none<T>(r: Result<T, AwsError>) -> Result<Option<T>, AwsError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is(ErrorKind::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The content-type key of a method's request models that covers every content type not
/// named otherwise.
pub const DEFAULT_CONTENT_TYPE: &str = "$default";

/// A REST API as listed.
#[derive(Debug, Clone)]
pub struct ApiInfo {
    pub id: String,
    pub name: String,
    pub root_resource_id: Option<String>,
    pub owner: Owner,
}

impl ApiInfo {
    /// From the fields GetRestApis' items and GetRestApi's answer both carry.
    fn new(
        id: Option<&str>,
        name: Option<&str>,
        root_resource_id: Option<&str>,
        tags: Option<&std::collections::HashMap<String, String>>,
        stack: &str,
    ) -> Self {
        ApiInfo {
            id: id.unwrap_or_default().to_string(),
            name: name.unwrap_or_default().to_string(),
            root_resource_id: root_resource_id.map(str::to_string),
            owner: Owner::from_tag(
                tags.and_then(|t| t.get(OWNER_TAG)).map(String::as_str),
                stack,
            ),
        }
    }
}

/// CreateRestApi, REGIONAL by default (EDGE's create quota is ten times tighter), tagged.
/// Returns (id, root resource id if the answer carries it).
pub async fn create(
    aws: &Aws,
    name: &str,
    endpoint_type: &str,
    stack: &str,
) -> Result<(String, Option<String>), AwsError> {
    let out = aws
        .apigateway
        .create_rest_api()
        .name(name)
        .description(format!("serverless-cli stack {stack}"))
        .endpoint_configuration(
            EndpointConfiguration::builder()
                .types(if endpoint_type == "EDGE" {
                    EndpointType::Edge
                } else {
                    EndpointType::Regional
                })
                .build(),
        )
        .tags(OWNER_TAG, stack)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateRestApi", e))?;
    Ok((
        out.id().unwrap_or_default().to_string(),
        out.root_resource_id().map(str::to_string),
    ))
}

/// GetRestApis, every page: the APIs with this name.
pub async fn find_by_name(aws: &Aws, name: &str, stack: &str) -> Result<Vec<ApiInfo>, AwsError> {
    Ok(list(aws, stack)
        .await?
        .into_iter()
        .filter(|a| a.name == name)
        .collect())
}

/// GetRestApis, every page: every REST API with its owner.
pub async fn list(aws: &Aws, stack: &str) -> Result<Vec<ApiInfo>, AwsError> {
    let mut found = Vec::new();
    let mut position: Option<String> = None;
    loop {
        let out = aws
            .apigateway
            .get_rest_apis()
            .limit(500)
            .set_position(position.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetRestApis", e))?;
        for api in out.items() {
            found.push(ApiInfo::new(
                api.id(),
                api.name(),
                api.root_resource_id(),
                api.tags(),
                stack,
            ));
        }
        match out.position() {
            Some(p) if !p.is_empty() && Some(p) != position.as_deref() => {
                position = Some(p.to_string())
            }
            _ => break,
        }
    }
    Ok(found)
}

/// GetRestApi, or `None` when there is no such API.
pub async fn get(aws: &Aws, id: &str, stack: &str) -> Result<Option<ApiInfo>, AwsError> {
    not_found_is_none(
        aws.apigateway
            .get_rest_api()
            .rest_api_id(id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetRestApi", e))
            .map(|api| {
                ApiInfo::new(
                    api.id(),
                    api.name(),
                    api.root_resource_id(),
                    api.tags(),
                    stack,
                )
            }),
    )
}

/// GetResources: (id, path) of every resource of the API, or `None` when the API is gone.
pub async fn resources(aws: &Aws, api: &str) -> Result<Option<Vec<(String, String)>>, AwsError> {
    Ok(resources_with_methods(aws, api, false)
        .await?
        .map(|all| all.into_iter().map(|r| (r.id, r.path)).collect()))
}

/// A resource of the API and the HTTP methods it has.
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    pub id: String,
    pub path: String,
    /// Only filled when asked for (GetResources with `embed=methods`).
    pub methods: Vec<String>,
}

/// GetResources, every page (500 resources a page), with each resource's methods embedded
/// when `methods` is set; `None` when the API is gone.
async fn all_resources(
    aws: &Aws,
    api: &str,
    methods: bool,
) -> Result<Option<Vec<aws_sdk_apigateway::types::Resource>>, AwsError> {
    every_page(|position| async move {
        let out = aws
            .apigateway
            .get_resources()
            .rest_api_id(api)
            .limit(500)
            .set_position(position)
            .set_embed(methods.then(|| vec!["methods".to_string()]))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetResources", e))?;
        Ok((out.items().to_vec(), out.position().map(str::to_string)))
    })
    .await
}

/// Reads page after page (`page` is given each answer's position) until the position stops
/// moving; `None` when what it lists is gone (the API, a usage plan).
pub(crate) async fn every_page<T, F, Fut>(mut page: F) -> Result<Option<Vec<T>>, AwsError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), AwsError>>,
{
    let mut all = Vec::new();
    let mut position: Option<String> = None;
    loop {
        let Some((items, next)) = not_found_is_none(page(position.clone()).await)? else {
            return Ok(None);
        };
        all.extend(items);
        match next {
            Some(p) if !p.is_empty() && Some(&p) != position.as_ref() => position = Some(p),
            _ => return Ok(Some(all)),
        }
    }
}

/// The API's resources (and, with `methods`, the verbs of each); `None` when the API is gone.
pub async fn resources_with_methods(
    aws: &Aws,
    api: &str,
    methods: bool,
) -> Result<Option<Vec<ResourceInfo>>, AwsError> {
    Ok(all_resources(aws, api, methods).await?.map(|items| {
        items
            .iter()
            .map(|r| {
                let mut verbs: Vec<String> = r
                    .resource_methods()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                verbs.sort();
                ResourceInfo {
                    id: r.id().unwrap_or_default().to_string(),
                    path: r.path().unwrap_or_default().to_string(),
                    methods: verbs,
                }
            })
            .collect()
    }))
}

/// CreateResource under `parent`. Returns its id.
pub async fn create_resource(
    aws: &Aws,
    api: &str,
    parent: &str,
    path_part: &str,
) -> Result<String, AwsError> {
    let out = aws
        .apigateway
        .create_resource()
        .rest_api_id(api)
        .parent_id(parent)
        .path_part(path_part)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateResource", e))?;
    Ok(out.id().unwrap_or_default().to_string())
}

/// PutMethod, no authorization, with the route's path parameters and body model. A method
/// that already exists is deleted and put again (AWS refuses to put over one).
pub async fn put_method(
    aws: &Aws,
    api: &str,
    resource: &str,
    route: &RouteSpec,
    validator_id: Option<&str>,
    auth: &MethodAuth,
) -> Result<(), AwsError> {
    let put = || async {
        let mut req = aws
            .apigateway
            .put_method()
            .rest_api_id(api)
            .resource_id(resource)
            .http_method(&route.http_method)
            .authorization_type(&auth.authorization_type)
            .set_authorizer_id(auth.authorizer_id.clone())
            .api_key_required(auth.api_key_required)
            .set_authorization_scopes((!auth.scopes.is_empty()).then(|| auth.scopes.clone()));
        for p in &route.path_params {
            req = req.request_parameters(format!("method.request.path.{p}"), true);
        }
        if let Some(model) = &route.request_model {
            req = req
                .request_models("application/json", model)
                // Validation applies only to the content types the method names a model for;
                // `$default` covers every other one, so a text/plain body cannot skip the
                // model (docs/aws.md, "The Lambda integration and the OpenAPI import").
                .request_models(DEFAULT_CONTENT_TYPE, model)
                .set_request_validator_id(validator_id.map(str::to_string));
        }
        req.send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("PutMethod", e))
    };
    match put().await {
        // AWS refuses to put a method over an existing one: it is made again (its integration
        // and responses are put again by the steps that follow; the stage serves its own
        // snapshot meanwhile).
        Err(e) if e.is(ErrorKind::AlreadyExists) => {
            delete_method(aws, api, resource, &route.http_method).await?;
            put().await
        }
        other => other,
    }
}

/// DeleteResource (with its methods and child resources); already gone is fine.
pub async fn delete_resource(aws: &Aws, api: &str, resource: &str) -> Result<(), AwsError> {
    let deleted = aws
        .apigateway
        .delete_resource()
        .rest_api_id(api)
        .resource_id(resource)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("DeleteResource", e));
    not_found_is_none(deleted).map(|_| ())
}

/// DeleteMethod; already gone is fine.
pub async fn delete_method(
    aws: &Aws,
    api: &str,
    resource: &str,
    method: &str,
) -> Result<(), AwsError> {
    let deleted = aws
        .apigateway
        .delete_method()
        .rest_api_id(api)
        .resource_id(resource)
        .http_method(method)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("DeleteMethod", e));
    not_found_is_none(deleted).map(|_| ())
}

/// Creates the body model; one that exists already gets this schema.
pub async fn create_model(aws: &Aws, api: &str, name: &str, schema: &str) -> Result<(), AwsError> {
    let created = aws
        .apigateway
        .create_model()
        .rest_api_id(api)
        .name(name)
        .content_type("application/json")
        .schema(schema)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("CreateModel", e));
    match created {
        Err(e) if e.is(ErrorKind::AlreadyExists) => aws
            .apigateway
            .update_model()
            .rest_api_id(api)
            .model_name(name)
            .patch_operations(
                aws_sdk_apigateway::types::PatchOperation::builder()
                    .op(aws_sdk_apigateway::types::Op::Replace)
                    .path("/schema")
                    .value(schema)
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("UpdateModel", e)),
        other => other,
    }
}

/// The id of the request validator with this name, if the API has one.
pub async fn find_validator(aws: &Aws, api: &str, name: &str) -> Result<Option<String>, AwsError> {
    let out = aws
        .apigateway
        .get_request_validators()
        .rest_api_id(api)
        .limit(500)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetRequestValidators", e))?;
    Ok(out
        .items()
        .iter()
        .find(|v| v.name() == Some(name) && v.validate_request_body())
        .and_then(|v| v.id().map(str::to_string)))
}

/// Creates a request validator that checks request bodies (not parameters).
pub async fn create_validator(aws: &Aws, api: &str, name: &str) -> Result<String, AwsError> {
    let out = aws
        .apigateway
        .create_request_validator()
        .rest_api_id(api)
        .name(name)
        .validate_request_body(true)
        .validate_request_parameters(false)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateRequestValidator", e))?;
    Ok(out.id().unwrap_or_default().to_string())
}

/// PutMethodResponse. AWS answers ConflictException "Response already exists for this
/// resource" both when it does and when another Put* on the method was in flight and nothing
/// was made (docs/aws.md, "Eventual consistency and concurrent changes"): the answer is never taken on faith. The response is read
/// back; only one that is really there counts as made, otherwise the call is retried as busy.
pub async fn put_method_response(
    aws: &Aws,
    api: &str,
    resource: &str,
    method: &str,
    r: &ResponseSpec,
) -> Result<(), AwsError> {
    let put = aws
        .apigateway
        .put_method_response()
        .rest_api_id(api)
        .resource_id(resource)
        .http_method(method)
        .status_code(&r.status)
        .response_models("application/json", "Empty")
        .set_response_parameters((!r.headers.is_empty()).then(|| {
            r.headers
                .iter()
                .map(|(k, _)| (format!("method.response.header.{k}"), false))
                .collect()
        }))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("PutMethodResponse", e));
    match put {
        Err(e) if e.is(ErrorKind::AlreadyExists) => {
            if method_response_exists(aws, api, resource, method, &r.status).await? {
                Ok(())
            } else {
                Err(unconfirmed(e))
            }
        }
        other => other,
    }
}

/// An "already exists" that a read-back did not confirm: a concurrent modification, retried.
fn unconfirmed(mut e: AwsError) -> AwsError {
    e.kind = ErrorKind::Busy;
    e.message = format!("{} (not confirmed by reading it back)", e.message);
    e
}

/// Is the response of this status declared? Read with GetMethod, which lists the method's
/// responses (GetMethodResponse would do, but the emulator answers a missing one with a 500
/// rather than AWS's NotFoundException).
pub async fn method_response_exists(
    aws: &Aws,
    api: &str,
    resource: &str,
    method_name: &str,
    status: &str,
) -> Result<bool, AwsError> {
    Ok(method(aws, api, resource, method_name)
        .await?
        .is_some_and(|m| m.responses.contains(status)))
}

/// PutIntegration: the Lambda integration, `AWS` (mapping templates, body passthrough) or
/// `AWS_PROXY`. Overwrites.
pub async fn put_integration(
    aws: &Aws,
    api: &str,
    resource: &str,
    http_method: &str,
    i: &crate::stack::IntegrationSpec,
) -> Result<(), AwsError> {
    aws.apigateway
        .put_integration()
        .rest_api_id(api)
        .resource_id(resource)
        .http_method(http_method)
        .r#type(IntegrationType::from(i.kind.api_name()))
        // A MOCK integration has no backend to call.
        .set_integration_http_method((!i.http_method.is_empty()).then(|| i.http_method.to_string()))
        .set_uri((!i.uri.is_empty()).then(|| i.uri.clone()))
        .set_request_templates(i.request_template.as_ref().map(|t| {
            std::collections::HashMap::from([("application/json".to_string(), t.to_string())])
        }))
        .set_passthrough_behavior(i.passthrough.map(|p| p.api_name().to_string()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("PutIntegration", e))?;
    Ok(())
}

/// PutIntegrationResponse for one status (selection pattern, template). Overwrites.
pub async fn put_integration_response(
    aws: &Aws,
    api: &str,
    resource: &str,
    method: &str,
    r: &ResponseSpec,
) -> Result<(), AwsError> {
    let mut req = aws
        .apigateway
        .put_integration_response()
        .rest_api_id(api)
        .resource_id(resource)
        .http_method(method)
        .status_code(&r.status)
        .set_selection_pattern(r.selection_pattern.clone())
        .set_response_parameters((!r.headers.is_empty()).then(|| {
            r.headers
                .iter()
                .map(|(k, v)| (format!("method.response.header.{k}"), v.clone()))
                .collect()
        }));
    // Never an empty template: it comes back as null and breaks the SDK (docs/aws.md, "The Lambda integration and the OpenAPI import").
    if let Some(t) = r.template.as_ref().filter(|t| !t.is_empty()) {
        req = req.response_templates("application/json", t);
    }
    // PutIntegrationResponse overwrites: an "already exists" can only be a concurrent Put* on
    // the method (docs/aws.md, "Eventual consistency and concurrent changes"), so it is retried, never taken as done.
    req.send()
        .await
        .map_err(|e| AwsError::from_sdk("PutIntegrationResponse", e))
        .map_err(|e| {
            if e.is(ErrorKind::AlreadyExists) {
                unconfirmed(e)
            } else {
                e
            }
        })?;
    Ok(())
}

/// What status checks of a method, from GetMethod's answer or a method embedded in
/// GetResources' (two SDK types with the same accessors).
macro_rules! method_info {
    ($m:expr) => {
        MethodInfo {
            validator_id: $m.request_validator_id().map(str::to_string),
            models: $m
                .request_models()
                .map(|h| h.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            responses: $m
                .method_responses()
                .map(|h| h.keys().cloned().collect())
                .unwrap_or_default(),
            authorization_type: $m.authorization_type().unwrap_or("NONE").to_string(),
            authorizer_id: $m.authorizer_id().map(str::to_string),
            api_key_required: $m.api_key_required().unwrap_or(false),
            scopes: $m.authorization_scopes().to_vec(),
        }
    };
}

/// What status checks of an integration, from GetIntegration's answer or an embedded one.
macro_rules! integration_info {
    ($i:expr) => {
        IntegrationInfo {
            kind: $i
                .r#type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            uri: $i.uri().unwrap_or_default().to_string(),
            responses: integration_responses($i.integration_responses()),
        }
    };
}

/// GetMethod: does the method exist? (`None` when it or the API is gone.)
pub async fn method(
    aws: &Aws,
    api: &str,
    resource: &str,
    method: &str,
) -> Result<Option<MethodInfo>, AwsError> {
    not_found_is_none(
        aws.apigateway
            .get_method()
            .rest_api_id(api)
            .resource_id(resource)
            .http_method(method)
            .send()
            .await
            .map(|m| method_info!(m))
            .map_err(|e| AwsError::from_sdk("GetMethod", e)),
    )
}

/// Every method of an API with its integration, by (resource id, HTTP verb): what one
/// `GetResources?embed=methods` read (one page per 500 resources, GetResources' own quota)
/// tells, instead of a GetMethod and a GetIntegration per route.
#[derive(Debug, Default)]
pub struct ApiMethods {
    pub by_id: std::collections::HashMap<(String, String), (MethodInfo, Option<IntegrationInfo>)>,
    /// Each resource's id, by path.
    pub ids: std::collections::HashMap<String, String>,
}

impl ApiMethods {
    /// The method at `path` (an API built from a document records no resource ids).
    pub fn at(&self, path: &str, verb: &str) -> Option<&(MethodInfo, Option<IntegrationInfo>)> {
        let id = self.ids.get(path)?;
        self.by_id.get(&(id.clone(), verb.to_string()))
    }
}

/// Every method of the API with its integration (`None` when the API is gone).
pub async fn methods_of(
    aws: &Aws,
    api: &str,
) -> Result<Option<std::sync::Arc<ApiMethods>>, AwsError> {
    let Some(items) = all_resources(aws, api, true).await? else {
        return Ok(None);
    };
    let mut all = ApiMethods::default();
    for r in &items {
        let id = r.id().unwrap_or_default().to_string();
        all.ids
            .insert(r.path().unwrap_or_default().to_string(), id.clone());
        for (verb, m) in r.resource_methods().into_iter().flatten() {
            let method = method_info!(m);
            let integration = m
                .method_integration()
                .map(|i| integration_info!(i))
                .filter(|i| !i.kind.is_empty());
            all.by_id
                .insert((id.clone(), verb.clone()), (method, integration));
        }
    }
    Ok(Some(std::sync::Arc::new(all)))
}

/// PutRestApi, mode overwrite: the API becomes exactly the OpenAPI document (every resource,
/// method, integration, response, model and validator it does not name is removed), its id
/// and stages kept. `failonwarnings`: a document API Gateway would import only in part is
/// refused whole (docs/aws.md, "The Lambda integration and the OpenAPI import").
pub async fn put_document(aws: &Aws, api: &str, document: Vec<u8>) -> Result<(), AwsError> {
    aws.apigateway
        .put_rest_api()
        .rest_api_id(api)
        .mode(aws_sdk_apigateway::types::PutMode::Overwrite)
        .fail_on_warnings(true)
        .body(aws_sdk_apigateway::primitives::Blob::new(document))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("PutRestApi", e))
}

/// GetModels: the names of the API's models (`None` when the API is gone).
/// The API's models, by name, with their schema text; `None` when there is no such API.
pub async fn models(
    aws: &Aws,
    api: &str,
) -> Result<Option<std::collections::BTreeMap<String, Option<String>>>, AwsError> {
    let models = every_page(|position| async move {
        let out = aws
            .apigateway
            .get_models()
            .rest_api_id(api)
            .limit(500)
            .set_position(position)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetModels", e))?;
        Ok((out.items().to_vec(), out.position().map(str::to_string)))
    })
    .await?;
    Ok(models.map(|all| {
        all.iter()
            .filter_map(|m| Some((m.name()?.to_string(), m.schema().map(str::to_string))))
            .collect()
    }))
}

/// The id of the API's root resource `/` (PutRestApi in overwrite mode may make it again).
pub async fn root_id(aws: &Aws, api: &str) -> Result<Option<String>, AwsError> {
    Ok(resources(aws, api)
        .await?
        .and_then(|all| all.into_iter().find(|(_, p)| p == "/").map(|(id, _)| id)))
}

/// Status -> (selection pattern, `application/json` template) of integration responses.
fn integration_responses(
    h: Option<&std::collections::HashMap<String, aws_sdk_apigateway::types::IntegrationResponse>>,
) -> std::collections::BTreeMap<String, IntegrationResponseInfo> {
    h.map(|h| {
        h.iter()
            .map(|(status, r)| {
                let template = r
                    .response_templates()
                    .and_then(|t| t.get("application/json"))
                    .cloned();
                let headers = r
                    .response_parameters()
                    .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                (
                    status.clone(),
                    (r.selection_pattern().map(str::to_string), template, headers),
                )
            })
            .collect()
    })
    .unwrap_or_default()
}

/// The method's auth as API Gateway shows it.
pub struct MethodAuth {
    pub authorization_type: String,
    pub authorizer_id: Option<String>,
    pub api_key_required: bool,
    pub scopes: Vec<String>,
}

/// What status checks of a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodInfo {
    pub validator_id: Option<String>,
    /// The request body model of each content type.
    pub models: std::collections::BTreeMap<String, String>,
    /// Status codes of the declared method responses.
    pub responses: std::collections::BTreeSet<String>,
    /// NONE, AWS_IAM, COGNITO_USER_POOLS or CUSTOM.
    pub authorization_type: String,
    pub authorizer_id: Option<String>,
    pub api_key_required: bool,
    pub scopes: Vec<String>,
}

/// What status checks of an integration: its type, its URI and its responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationInfo {
    pub kind: String,
    pub uri: String,
    /// Status -> its selection pattern, template and header mappings.
    pub responses: std::collections::BTreeMap<String, IntegrationResponseInfo>,
}

/// An integration response: (selection pattern, `application/json` response template,
/// `method.response.header.X` -> mapping expression).
pub type IntegrationResponseInfo = (
    Option<String>,
    Option<String>,
    std::collections::BTreeMap<String, String>,
);

/// GetIntegration, with its integration responses (`None` when it, the method or the API is
/// gone).
pub async fn integration(
    aws: &Aws,
    api: &str,
    resource: &str,
    method: &str,
) -> Result<Option<IntegrationInfo>, AwsError> {
    not_found_is_none(
        aws.apigateway
            .get_integration()
            .rest_api_id(api)
            .resource_id(resource)
            .http_method(method)
            .send()
            .await
            .map(|i| integration_info!(i))
            .map_err(|e| AwsError::from_sdk("GetIntegration", e)),
    )
    .map(|found| found.filter(|i| !i.kind.is_empty()))
}

/// PutGatewayResponse: the headers API Gateway's own answers of this type carry and their
/// body template. Overwrites.
pub async fn put_gateway_response(
    aws: &Aws,
    api: &str,
    g: &crate::stack::GatewayResponseSpec,
) -> Result<(), AwsError> {
    aws.apigateway
        .put_gateway_response()
        .rest_api_id(api)
        .response_type(aws_sdk_apigateway::types::GatewayResponseType::from(g.kind))
        .set_response_parameters((!g.headers.is_empty()).then(|| {
            g.headers
                .iter()
                .map(|(k, v)| (format!("gatewayresponse.header.{k}"), v.clone()))
                .collect()
        }))
        .set_response_templates(g.template.as_ref().map(|t| {
            std::collections::HashMap::from([("application/json".to_string(), t.clone())])
        }))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("PutGatewayResponse", e))
}

/// A gateway response as API Gateway has it: its header mappings
/// (`gatewayresponse.header.X` -> expression) and its `application/json` template.
pub type GatewayResponseInfo = (std::collections::BTreeMap<String, String>, Option<String>);

/// GetGatewayResponse: its header mappings (`gatewayresponse.header.X` -> expression), or
/// `None` when it is not set.
pub async fn gateway_response(
    aws: &Aws,
    api: &str,
    response_type: &str,
) -> Result<Option<GatewayResponseInfo>, AwsError> {
    not_found_is_none(
        aws.apigateway
            .get_gateway_response()
            .rest_api_id(api)
            .response_type(aws_sdk_apigateway::types::GatewayResponseType::from(
                response_type,
            ))
            .send()
            .await
            .map(|g| {
                (
                    g.response_parameters()
                        .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                        .unwrap_or_default(),
                    g.response_templates()
                        .and_then(|t| t.get("application/json"))
                        .cloned(),
                )
            })
            .map_err(|e| AwsError::from_sdk("GetGatewayResponse", e)),
    )
}

/// DeleteGatewayResponse (back to API Gateway's default); already gone is fine.
pub async fn delete_gateway_response(
    aws: &Aws,
    api: &str,
    response_type: &str,
) -> Result<(), AwsError> {
    let deleted = aws
        .apigateway
        .delete_gateway_response()
        .rest_api_id(api)
        .response_type(aws_sdk_apigateway::types::GatewayResponseType::from(
            response_type,
        ))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("DeleteGatewayResponse", e));
    not_found_is_none(deleted).map(|_| ())
}

/// CreateDeployment to the stage (made if missing). Returns the deployment id.
pub async fn deploy(
    aws: &Aws,
    api: &str,
    stage: &str,
    description: &str,
) -> Result<String, AwsError> {
    let out = aws
        .apigateway
        .create_deployment()
        .rest_api_id(api)
        .stage_name(stage)
        .description(description)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateDeployment", e))?;
    Ok(out.id().unwrap_or_default().to_string())
}

/// UpdateStage: the stage serves `deployment` (one of the API's earlier deployments) from now
/// on; nothing is rebuilt.
pub async fn point_stage(
    aws: &Aws,
    api: &str,
    stage: &str,
    deployment: &str,
) -> Result<(), AwsError> {
    aws.apigateway
        .update_stage()
        .rest_api_id(api)
        .stage_name(stage)
        .patch_operations(
            aws_sdk_apigateway::types::PatchOperation::builder()
                .op(aws_sdk_apigateway::types::Op::Replace)
                .path("/deploymentId")
                .value(deployment)
                .build(),
        )
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("UpdateStage", e))?;
    Ok(())
}

/// GetStage: the deployment it serves, or `None` when there is no such stage.
pub async fn stage_deployment(
    aws: &Aws,
    api: &str,
    stage: &str,
) -> Result<Option<String>, AwsError> {
    not_found_is_none(
        aws.apigateway
            .get_stage()
            .rest_api_id(api)
            .stage_name(stage)
            .send()
            .await
            .map(|s| s.deployment_id().unwrap_or_default().to_string())
            .map_err(|e| AwsError::from_sdk("GetStage", e)),
    )
}

/// DeleteRestApi; `false` when it was already gone.
pub async fn delete(aws: &Aws, id: &str) -> Result<bool, AwsError> {
    match aws
        .apigateway
        .delete_rest_api()
        .rest_api_id(id)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) => match AwsError::from_sdk("DeleteRestApi", e) {
            e if e.is(ErrorKind::NotFound) => Ok(false),
            e => Err(e),
        },
    }
}

/// TagResource: puts the stack's owner tag back on the REST API.
pub async fn tag(aws: &Aws, region: &str, id: &str, stack: &str) -> Result<(), AwsError> {
    aws.apigateway
        .tag_resource()
        .resource_arn(format!(
            "arn:{}:apigateway:{region}::/restapis/{id}",
            crate::stack::partition(region)
        ))
        .tags(OWNER_TAG, stack)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("TagResource", e))
}
