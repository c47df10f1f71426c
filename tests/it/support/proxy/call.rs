//! Naming a call: its service and AWS operation, from the request alone.

use super::*;

/// One call the proxy saw.
#[derive(Debug, Clone)]
pub struct Call {
    /// `dynamodb`, `iam`, `sts`, `lambda`, `apigateway`, `logs`.
    pub service: String,
    /// The AWS operation name, e.g. `CreateTable`.
    pub operation: String,
    pub method: String,
    pub path: String,
    /// The access key id the call was signed with.
    pub access_key: String,
    /// The region of its signature's scope.
    pub region: String,
    /// Its headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// When the proxy received it.
    pub at: Instant,
}

impl Call {
    /// `service:Operation`.
    pub fn name(&self) -> String {
        format!("{}:{}", self.service, self.operation)
    }

    /// The IAM action that authorises the call: `service:Operation`, or for API Gateway the
    /// HTTP verb (`apigateway:GET`), as AWS names them.
    pub fn iam_action(&self) -> String {
        if self.service == "apigateway" {
            format!("apigateway:{}", self.method)
        } else if self.service == "s3" {
            // S3's actions are not all named after their operations.
            let action = match self.operation.as_str() {
                "ListObjectsV2" | "HeadBucket" => "ListBucket",
                "GetBucketEncryption" => "GetEncryptionConfiguration",
                "PutBucketEncryption" => "PutEncryptionConfiguration",
                "GetPublicAccessBlock" => "GetBucketPublicAccessBlock",
                "PutPublicAccessBlock" => "PutBucketPublicAccessBlock",
                "HeadObject" => "GetObject",
                op => op,
            };
            format!("s3:{action}")
        } else {
            self.name()
        }
    }

    /// Does the call change anything?
    pub fn is_mutating(&self) -> bool {
        const READS: [&str; 6] = ["Get", "List", "Describe", "Query", "GET ", "Head"];
        !READS.iter().any(|p| self.operation.starts_with(p))
    }
}

/// Names the AWS operation of a request.
pub(crate) fn identify(parts: &hyper::http::request::Parts, body: &Bytes) -> Call {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    // SigV4 credential scope: Credential=AKID/date/region/SERVICE/aws4_request
    let auth = header("authorization");
    let scope = auth.split("Credential=").nth(1).unwrap_or("");
    let service = scope.split('/').nth(3).unwrap_or("unknown").to_string();
    let access_key = scope.split('/').next().unwrap_or("").to_string();
    let region = scope.split('/').nth(2).unwrap_or("").to_string();
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_string();
    let target = header("x-amz-target");
    let operation = if service == "s3" {
        s3_operation(&method, &path, parts.uri.query().unwrap_or(""))
    } else if let Some(op) = target.split('.').nth(1) {
        op.to_string()
    } else if let Some(action) = String::from_utf8_lossy(body)
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
    {
        action.to_string()
    } else {
        rest_operation(&service, &method, &path)
    };
    Call {
        service,
        operation,
        method,
        path,
        access_key,
        region,
        headers,
        at: Instant::now(),
    }
}

/// S3's operations (path-style: `/bucket` and `/bucket/key`), by method, path and query.
pub(crate) fn s3_operation(method: &str, path: &str, query: &str) -> String {
    let has_key = path
        .trim_start_matches('/')
        .split_once('/')
        .is_some_and(|(_, key)| !key.is_empty());
    let sub = |name: &str| {
        query
            .split('&')
            .any(|kv| kv.split('=').next() == Some(name))
    };
    let op = match (method, has_key) {
        ("PUT", true) => "PutObject",
        ("GET", true) => "GetObject",
        ("DELETE", true) => "DeleteObject",
        ("HEAD", true) => "HeadObject",
        ("HEAD", false) => "HeadBucket",
        ("GET", false) if sub("versioning") => "GetBucketVersioning",
        ("GET", false) if sub("encryption") => "GetBucketEncryption",
        ("GET", false) if sub("publicAccessBlock") => "GetPublicAccessBlock",
        ("GET", false) => "ListObjectsV2",
        ("PUT", false) if sub("versioning") => "PutBucketVersioning",
        ("PUT", false) if sub("encryption") => "PutBucketEncryption",
        ("PUT", false) if sub("publicAccessBlock") => "PutPublicAccessBlock",
        ("PUT", false) if sub("tagging") => "PutBucketTagging",
        ("PUT", false) => "CreateBucket",
        _ => return format!("{method} {path}"),
    };
    op.to_string()
}

/// Lambda's and API Gateway's REST operations, by method and path shape.
pub(crate) fn rest_operation(service: &str, method: &str, path: &str) -> String {
    // The segment after a collection name is an id.
    const COLLECTIONS: [&str; 22] = [
        "domainnames",
        "basepathmappings",
        "hostedzone",
        "change",
        "authorizers",
        "apikeys",
        "usageplans",
        "keys",
        "functions",
        "gatewayresponses",
        "tags",
        "models",
        "requestvalidators",
        "restapis",
        "resources",
        "methods",
        "responses",
        "stages",
        "deployments",
        "policy",
        "aliases",
        "versions",
    ];
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let shape: Vec<&str> = segs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if i > 0 && COLLECTIONS.contains(&segs[i - 1]) {
                "{}"
            } else {
                s
            }
        })
        .collect();
    let key = format!("{method} /{}", shape.join("/"));
    let op = match (service, key.as_str()) {
        ("lambda", "POST /2015-03-31/functions") => "CreateFunction",
        ("lambda", "GET /2015-03-31/functions") => "ListFunctions",
        ("lambda", "GET /2015-03-31/functions/{}") => "GetFunction",
        ("lambda", "DELETE /2015-03-31/functions/{}") => "DeleteFunction",
        ("lambda", "PUT /2015-03-31/functions/{}/code") => "UpdateFunctionCode",
        ("lambda", "PUT /2015-03-31/functions/{}/configuration") => "UpdateFunctionConfiguration",
        ("lambda", "GET /2015-03-31/functions/{}/configuration") => "GetFunctionConfiguration",
        ("lambda", "POST /2015-03-31/functions/{}/policy") => "AddPermission",
        ("lambda", "GET /2015-03-31/functions/{}/policy") => "GetPolicy",
        ("lambda", "DELETE /2015-03-31/functions/{}/policy/{}") => "RemovePermission",
        ("lambda", "POST /2015-03-31/functions/{}/versions") => "PublishVersion",
        ("lambda", "GET /2015-03-31/functions/{}/versions") => "ListVersionsByFunction",
        ("lambda", "POST /2015-03-31/functions/{}/aliases") => "CreateAlias",
        ("lambda", "GET /2015-03-31/functions/{}/aliases") => "ListAliases",
        ("lambda", "GET /2015-03-31/functions/{}/aliases/{}") => "GetAlias",
        ("lambda", "PUT /2015-03-31/functions/{}/aliases/{}") => "UpdateAlias",
        ("lambda", "DELETE /2015-03-31/functions/{}/aliases/{}") => "DeleteAlias",
        ("lambda", "POST /2017-03-31/tags/{}") => "TagResource",
        ("lambda", "DELETE /2017-03-31/tags/{}") => "UntagResource",
        ("lambda", "GET /2017-03-31/tags/{}") => "ListTags",
        ("apigateway", "POST /restapis") => "CreateRestApi",
        ("apigateway", "GET /restapis") => "GetRestApis",
        ("apigateway", "GET /restapis/{}") => "GetRestApi",
        ("apigateway", "DELETE /restapis/{}") => "DeleteRestApi",
        ("apigateway", "PUT /restapis/{}") => "PutRestApi",
        ("apigateway", "GET /restapis/{}/models") => "GetModels",
        ("apigateway", "DELETE /restapis/{}/models/{}") => "DeleteModel",
        ("apigateway", "DELETE /restapis/{}/requestvalidators/{}") => "DeleteRequestValidator",
        ("apigateway", "DELETE /restapis/{}/resources/{}/methods/{}/integration/responses/{}") => {
            "DeleteIntegrationResponse"
        }
        ("apigateway", "GET /restapis/{}/resources") => "GetResources",
        ("apigateway", "POST /restapis/{}/resources/{}") => "CreateResource",
        ("apigateway", "PUT /restapis/{}/resources/{}/methods/{}") => "PutMethod",
        ("apigateway", "GET /restapis/{}/resources/{}/methods/{}") => "GetMethod",
        ("apigateway", "PUT /restapis/{}/resources/{}/methods/{}/responses/{}") => {
            "PutMethodResponse"
        }
        ("apigateway", "GET /restapis/{}/resources/{}/methods/{}/responses/{}") => {
            "GetMethodResponse"
        }
        ("apigateway", "PUT /restapis/{}/resources/{}/methods/{}/integration") => "PutIntegration",
        ("apigateway", "GET /restapis/{}/resources/{}/methods/{}/integration") => "GetIntegration",
        ("apigateway", "PUT /restapis/{}/resources/{}/methods/{}/integration/responses/{}") => {
            "PutIntegrationResponse"
        }
        ("apigateway", "POST /restapis/{}/deployments") => "CreateDeployment",
        ("apigateway", "POST /restapis/{}/models") => "CreateModel",
        ("apigateway", "PATCH /restapis/{}/models/{}") => "UpdateModel",
        ("apigateway", "GET /restapis/{}/requestvalidators") => "GetRequestValidators",
        ("apigateway", "POST /restapis/{}/requestvalidators") => "CreateRequestValidator",
        ("apigateway", "DELETE /restapis/{}/resources/{}/methods/{}") => "DeleteMethod",
        ("apigateway", "DELETE /restapis/{}/resources/{}") => "DeleteResource",
        ("apigateway", "GET /restapis/{}/stages/{}") => "GetStage",
        ("apigateway", "PATCH /restapis/{}/stages/{}") => "UpdateStage",
        ("apigateway", "PUT /restapis/{}/gatewayresponses/{}") => "PutGatewayResponse",
        ("apigateway", "GET /restapis/{}/gatewayresponses/{}") => "GetGatewayResponse",
        ("apigateway", "DELETE /restapis/{}/gatewayresponses/{}") => "DeleteGatewayResponse",
        ("apigateway", "POST /restapis/{}/authorizers") => "CreateAuthorizer",
        ("apigateway", "GET /restapis/{}/authorizers") => "GetAuthorizers",
        ("apigateway", "GET /restapis/{}/authorizers/{}") => "GetAuthorizer",
        ("apigateway", "PATCH /restapis/{}/authorizers/{}") => "UpdateAuthorizer",
        ("apigateway", "DELETE /restapis/{}/authorizers/{}") => "DeleteAuthorizer",
        ("apigateway", "POST /apikeys") => "CreateApiKey",
        ("apigateway", "GET /apikeys") => "GetApiKeys",
        ("apigateway", "GET /apikeys/{}") => "GetApiKey",
        ("apigateway", "PATCH /apikeys/{}") => "UpdateApiKey",
        ("apigateway", "DELETE /apikeys/{}") => "DeleteApiKey",
        ("apigateway", "POST /usageplans") => "CreateUsagePlan",
        ("apigateway", "GET /usageplans") => "GetUsagePlans",
        ("apigateway", "GET /usageplans/{}") => "GetUsagePlan",
        ("apigateway", "PATCH /usageplans/{}") => "UpdateUsagePlan",
        ("apigateway", "DELETE /usageplans/{}") => "DeleteUsagePlan",
        ("apigateway", "POST /usageplans/{}/keys") => "CreateUsagePlanKey",
        ("apigateway", "GET /usageplans/{}/keys") => "GetUsagePlanKeys",
        ("apigateway", "DELETE /usageplans/{}/keys/{}") => "DeleteUsagePlanKey",
        ("apigateway", "PUT /tags/{}") => "TagResource",
        ("apigateway", "DELETE /tags/{}") => "UntagResource",
        ("apigateway", "GET /tags/{}") => "GetTags",
        ("apigateway", "POST /domainnames") => "CreateDomainName",
        ("apigateway", "GET /domainnames/{}") => "GetDomainName",
        ("apigateway", "PATCH /domainnames/{}") => "UpdateDomainName",
        ("apigateway", "DELETE /domainnames/{}") => "DeleteDomainName",
        ("apigateway", "POST /domainnames/{}/basepathmappings") => "CreateBasePathMapping",
        ("apigateway", "GET /domainnames/{}/basepathmappings/{}") => "GetBasePathMapping",
        ("apigateway", "DELETE /domainnames/{}/basepathmappings/{}") => "DeleteBasePathMapping",
        ("route53", "GET /2013-04-01/hostedzonesbyname") => "ListHostedZonesByName",
        ("route53", "GET /2013-04-01/hostedzone/{}") => "GetHostedZone",
        ("route53", "POST /2013-04-01/hostedzone/{}/rrset") => "ChangeResourceRecordSets",
        ("route53", "POST /2013-04-01/hostedzone/{}/rrset/") => "ChangeResourceRecordSets",
        ("route53", "GET /2013-04-01/hostedzone/{}/rrset") => "ListResourceRecordSets",
        ("route53", "GET /2013-04-01/change/{}") => "GetChange",
        _ => return format!("{method} {path}"),
    };
    op.to_string()
}
