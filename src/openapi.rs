//! The stack's REST API as one OpenAPI 3.0 document with API Gateway's extensions: every
//! route's method, path parameters, body model and validator, its Lambda integration
//! (`x-amazon-apigateway-integration`: URI, request template, passthrough, and each
//! response's selection pattern and template), the models under `components/schemas` and
//! the request validator (`x-amazon-apigateway-request-validators`), and who may call each
//! route (`security`, with the API key, IAM and the authorizers as `securitySchemes`).
//!
//! It describes exactly what the per-call deploy builds (`src/kinds/`: the same routes, the
//! same templates, the same function ARNs), so one `PutRestApi` of it makes the same API: what
//! a big API needs under API Gateway's account quotas (docs/aws.md, "API Gateway's account quotas" and "The Lambda integration and the OpenAPI import").
//! `serverless-cli openapi` prints it.

use serde_json::{json, Map, Value};

use crate::auth::{AuthorizerKind, Authorizing};
use crate::stack::{RouteSpec, StackSpec, VALIDATOR_NAME};

/// The content type whose model covers every other (docs/aws.md, "The Lambda integration and the OpenAPI import").
const ANY_CONTENT: &str = "$default";

/// The document. `function_arn` gives each route's function ARN (from the model: ARNs follow
/// from names).
pub fn document(spec: &StackSpec) -> Value {
    // operationIds must be unique in a document; the readable form of two routes can be one
    // (`/a-b` and `/a_b`, `/x/{id}` and `/x/id`): those routes add a hash of their own label,
    // so each id still depends on its route alone and on which ids it shares.
    let mut taken: std::collections::HashMap<String, usize> = Default::default();
    for r in &spec.routes {
        *taken
            .entry(operation_id(&r.http_method, &r.path))
            .or_default() += 1;
    }
    let mut paths = Map::new();
    for r in &spec.routes {
        let mut id = operation_id(&r.http_method, &r.path);
        if taken[&id] > 1 {
            id = format!("{id}_{}", &crate::stack::fingerprint(&[&r.label()])[..8]);
        }
        let mut op = operation(spec, r);
        op["operationId"] = json!(id);
        let entry = paths
            .entry(r.path.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(methods) = entry {
            methods.insert(operation_key(&r.http_method), op);
        }
    }
    let schemas: Map<String, Value> = spec
        .models
        .iter()
        .map(|m| (m.name.clone(), schema_object(&m.schema)))
        .chain(std::iter::once((
            "Empty".to_string(),
            json!({"title": "Empty", "type": "object"}),
        )))
        .collect();
    let mut doc = json!({
        "openapi": "3.0.1",
        "info": {
            "title": spec.api.name,
            "version": "1",
            "description": format!("The REST API of serverless-cli stack '{}'.", spec.stack),
        },
        "paths": paths,
        "components": {"schemas": schemas},
        "x-amazon-apigateway-endpoint-configuration": {"types": [spec.api.endpoint_type]},
    });
    if spec.routes.iter().any(|r| r.request_model.is_some()) {
        doc["x-amazon-apigateway-request-validators"] = json!({
            VALIDATOR_NAME: {"validateRequestBody": true, "validateRequestParameters": false}
        });
    }
    let schemes = security_schemes(spec);
    if !schemes.is_empty() {
        doc["components"]["securitySchemes"] = Value::Object(schemes);
        // An overwrite resets what the document leaves out: say where keys are read.
        doc["x-amazon-apigateway-api-key-source"] = json!("HEADER");
    }
    doc
}

/// The scheme a route names for `api_key = true`, and for `authorizer = "iam"`. Authorizers'
/// schemes are named after them (lower case: a stack's names are), so neither can be taken.
pub const API_KEY_SCHEME: &str = "ApiKey";
pub const SIGV4_SCHEME: &str = "SigV4";

/// `components/securitySchemes`: the API key, IAM, and each authorizer with its
/// `x-amazon-apigateway-authorizer` (an import makes an authorizer of each, named after the
/// scheme, and an overwrite replaces the API's authorizers with them). docs/auth.md, "The
/// document build".
fn security_schemes(spec: &StackSpec) -> Map<String, Value> {
    let mut out = Map::new();
    if spec.routes.iter().any(|r| r.auth.api_key) {
        out.insert(
            API_KEY_SCHEME.into(),
            json!({"type": "apiKey", "name": "x-api-key", "in": "header"}),
        );
    }
    if spec
        .routes
        .iter()
        .any(|r| r.auth.authorizer == Some(Authorizing::Iam))
    {
        out.insert(
            SIGV4_SCHEME.into(),
            json!({"type": "apiKey", "name": "Authorization", "in": "header",
                   "x-amazon-apigateway-authtype": "awsSigv4"}),
        );
    }
    for a in &spec.auth.authorizers {
        // A cognito or token authorizer reads one header (the file's check): the scheme's.
        let header = a
            .identity_source
            .strip_prefix("method.request.header.")
            .unwrap_or("Unused");
        let uri = |f: &str| {
            spec.function(f)
                .map(|x| spec.integration_uri(&spec.function_arn(x)))
        };
        let (authtype, authorizer) = match &a.kind {
            AuthorizerKind::Cognito { user_pools } => (
                "cognito_user_pools",
                json!({"type": "cognito_user_pools", "providerARNs": user_pools}),
            ),
            AuthorizerKind::Token {
                function,
                validation,
            } => {
                let mut t = json!({"type": "token", "authorizerUri": uri(function),
                                   "authorizerResultTtlInSeconds": a.ttl_secs});
                if let Some(v) = validation {
                    t["identityValidationExpression"] = json!(v);
                }
                ("custom", t)
            }
            AuthorizerKind::Request { function } => (
                "custom",
                json!({"type": "request", "authorizerUri": uri(function),
                       "identitySource": a.identity_source,
                       "authorizerResultTtlInSeconds": a.ttl_secs}),
            ),
        };
        out.insert(
            a.name.clone(),
            json!({"type": "apiKey", "name": header, "in": "header",
                   "x-amazon-apigateway-authtype": authtype,
                   "x-amazon-apigateway-authorizer": authorizer}),
        );
    }
    out
}

/// An operation's `security`: one requirement naming every scheme the route needs (all
/// must pass: the authorizer, with its scopes, and the API key). `None`: open to anyone.
fn security(spec: &StackSpec, r: &RouteSpec) -> Option<Value> {
    let mut requirement = Map::new();
    match &r.auth.authorizer {
        None => {}
        Some(Authorizing::Iam) => {
            requirement.insert(SIGV4_SCHEME.into(), json!([]));
        }
        Some(Authorizing::Named(n)) => {
            let name = spec.auth.authorizer(n).map_or(n.as_str(), |a| &a.name);
            requirement.insert(name.to_string(), json!(r.auth.scopes));
        }
    }
    if r.auth.api_key {
        requirement.insert(API_KEY_SCHEME.into(), json!([]));
    }
    (!requirement.is_empty()).then(|| json!([requirement]))
}

/// A route's key in its path item: the verb in lower case, and for ANY API Gateway's
/// `x-amazon-apigateway-any-method` (an OpenAPI path item has no `any` operation; an import
/// refuses one). docs/aws.md, "ANY routes".
pub fn operation_key(method: &str) -> String {
    if method.eq_ignore_ascii_case("ANY") {
        "x-amazon-apigateway-any-method".to_string()
    } else {
        method.to_ascii_lowercase()
    }
}

/// One route's operation.
fn operation(spec: &StackSpec, r: &RouteSpec) -> Value {
    let function_arn = spec
        .route_function(r)
        .map(|f| spec.function_arn(f))
        .unwrap_or_default();
    let mut op = Map::new();
    if let Some(security) = security(spec, r) {
        op.insert("security".into(), security);
    }
    if !r.path_params.is_empty() {
        let params: Vec<Value> = r
            .path_params
            .iter()
            .map(|p| {
                json!({"name": p.trim_end_matches('+'), "in": "path", "required": true,
                       "schema": {"type": "string"}})
            })
            .collect();
        op.insert("parameters".into(), Value::Array(params));
    }
    if let Some(model) = &r.request_model {
        let schema = json!({"$ref": format!("#/components/schemas/{model}")});
        op.insert(
            "requestBody".into(),
            json!({"required": true, "content": {
                "application/json": {"schema": schema},
                ANY_CONTENT: {"schema": schema},
            }}),
        );
        op.insert(
            "x-amazon-apigateway-request-validator".into(),
            json!(VALIDATOR_NAME),
        );
    }
    let responses: Map<String, Value> = r
        .responses
        .iter()
        .map(|x| {
            let mut response = json!({
                "description": format!("{} {}", x.status, x.selection_pattern.as_deref().unwrap_or("(default)")),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Empty"}}},
            });
            if !x.headers.is_empty() {
                let headers: Map<String, Value> = x
                    .headers
                    .iter()
                    .map(|(k, _)| (k.clone(), json!({"schema": {"type": "string"}})))
                    .collect();
                response["headers"] = Value::Object(headers);
            }
            (x.status.clone(), response)
        })
        .collect();
    let mut responses = responses;
    if responses.is_empty() {
        // A proxy route: the function's answer is the response, whatever its status.
        // OpenAPI wants one response at least (an import refuses `{}`); its method
        // response shapes nothing.
        responses.insert(
            "200".into(),
            json!({"description": "the function's answer (Lambda proxy integration)"}),
        );
    }
    op.insert("responses".into(), Value::Object(responses));
    let integration_responses: Map<String, Value> = r
        .responses
        .iter()
        .map(|x| {
            let mut out = json!({"statusCode": x.status});
            if let Some(t) = x.template.as_ref().filter(|t| !t.is_empty()) {
                out["responseTemplates"] = json!({"application/json": t});
            }
            if !x.headers.is_empty() {
                let params: Map<String, Value> = x
                    .headers
                    .iter()
                    .map(|(k, v)| (format!("method.response.header.{k}"), json!(v)))
                    .collect();
                out["responseParameters"] = Value::Object(params);
            }
            // The default response is the one without a pattern.
            (
                x.selection_pattern
                    .clone()
                    .unwrap_or_else(|| "default".into()),
                out,
            )
        })
        .collect();
    let i = spec.integration(r, &function_arn);
    let mut integration = json!({"type": i.kind.document_name()});
    // A MOCK integration (a CORS preflight) calls nothing.
    if !i.uri.is_empty() {
        integration["httpMethod"] = json!(i.http_method);
        integration["uri"] = json!(i.uri);
    }
    if let Some(p) = i.passthrough {
        integration["passthroughBehavior"] = json!(p.document_name());
    }
    // A proxy route has none: the function's answer is the response.
    if !integration_responses.is_empty() {
        integration["responses"] = Value::Object(integration_responses);
    }
    if let Some(t) = &i.request_template {
        integration["requestTemplates"] = json!({"application/json": t});
    }
    op.insert("x-amazon-apigateway-integration".into(), integration);
    Value::Object(op)
}

/// `post_user_uid`: letters, digits and `_` (OpenAPI wants operation ids unique).
/// API Gateway's built-in model names (a document's own `Empty` is replaced by the built-in).
pub const RESERVED_MODELS: [&str; 2] = ["Empty", "Error"];
/// Resources (paths) an API may hold, by default (API Gateway quotas).
pub const MAX_RESOURCES: usize = 300;
/// The largest body PutRestApi takes: 6 MB, counted in bytes (API Gateway's API reference).
pub const MAX_DOCUMENT_BYTES: usize = 6_000_000;

/// The size of the stack's document as deploy sends it.
pub fn document_bytes(spec: &StackSpec) -> usize {
    serde_json::to_vec(&document(spec)).map_or(0, |b| b.len())
}

fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_ascii_lowercase();
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c);
        } else if !id.ends_with('_') && c != '}' {
            id.push('_');
        }
    }
    id.trim_end_matches('_').to_string()
}

/// A model's JSON Schema (draft 4, as API Gateway takes it) as an OpenAPI schema object:
/// `$schema` is not a keyword there.
fn schema_object(schema: &str) -> Value {
    let mut v: Value = serde_json::from_str(schema).unwrap_or_else(|_| json!({}));
    if let Value::Object(m) = &mut v {
        m.remove("$schema");
    }
    v
}

#[cfg(test)]
mod tests {
    /// An ANY route is API Gateway's any-method extension (the one source ARN of the stage
    /// covers it: `stack`'s test); the other verbs are OpenAPI's operations.
    #[test]
    fn any_is_the_any_method_extension() {
        assert_eq!(
            super::operation_key("ANY"),
            "x-amazon-apigateway-any-method"
        );
        assert_eq!(super::operation_key("GET"), "get");
    }

    use super::*;

    fn tutorial() -> StackSpec {
        crate::stack::tests_support::spec()
    }

    #[test]
    fn the_tutorial_stack_as_one_document() {
        let spec = tutorial();
        let doc = document(&spec);
        assert_eq!(doc["openapi"], "3.0.1");
        let post = &doc["paths"]["/user"]["post"];
        assert_eq!(
            post["x-amazon-apigateway-request-validator"],
            VALIDATOR_NAME
        );
        assert_eq!(
            post["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/UserBody"
        );
        assert_eq!(
            post["requestBody"]["content"]["$default"]["schema"]["$ref"],
            "#/components/schemas/UserBody"
        );
        let integ = &post["x-amazon-apigateway-integration"];
        assert_eq!(integ["type"], "aws");
        assert_eq!(integ["httpMethod"], "POST");
        let arn = spec.function_arn(spec.route_function(&spec.routes[0]).unwrap());
        assert_eq!(integ["uri"], spec.integration_uri(&arn));
        assert_eq!(integ["responses"]["default"]["statusCode"], "200");
        assert_eq!(integ["responses"]["BadRequest:.*"]["statusCode"], "400");
        assert!(
            integ.get("requestTemplates").is_none(),
            "POST passes its body through"
        );
        let get = &doc["paths"]["/user/{uid}"]["get"];
        assert_eq!(get["parameters"][0]["name"], "uid");
        assert_eq!(get["parameters"][0]["in"], "path");
        assert_eq!(
            get["x-amazon-apigateway-integration"]["requestTemplates"]["application/json"],
            crate::stack::GET_USER_TEMPLATE
        );
        assert_eq!(
            get["x-amazon-apigateway-integration"]["responses"]["NotFound:.*"]["statusCode"],
            "404"
        );
        // Every route's responses: one method response per integration response.
        for r in &spec.routes {
            let op = &doc["paths"][&r.path][operation_key(&r.http_method)];
            assert_eq!(
                op["responses"].as_object().unwrap().len(),
                op["x-amazon-apigateway-integration"]["responses"]
                    .as_object()
                    .unwrap()
                    .len()
            );
        }
        let schema = &doc["components"]["schemas"]["UserBody"];
        assert!(schema.get("$schema").is_none());
        assert_eq!(schema["type"], "object");
        assert_eq!(
            doc["x-amazon-apigateway-request-validators"][VALIDATOR_NAME]["validateRequestBody"],
            true
        );
        assert_eq!(
            doc["x-amazon-apigateway-endpoint-configuration"]["types"][0],
            "REGIONAL"
        );
    }

    #[test]
    fn operation_ids_are_unique_and_plain() {
        // Routes whose readable ids would be one get their own hash.
        let mut spec = tutorial();
        let mut a = spec.routes[0].clone();
        a.path = "/a-b".into();
        let mut b = a.clone();
        b.path = "/a_b".into();
        let mut c = a.clone();
        c.path = "/x/{id}".into();
        let mut d = a.clone();
        d.path = "/x/id".into();
        spec.routes = vec![a, b, c, d];
        let doc = document(&spec);
        let mut ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|m| m.as_object().unwrap().values())
            .map(|op| op["operationId"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 4);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 4, "{ids:?}");
        assert!(ids
            .iter()
            .all(|i| i.starts_with("post_a_b_") || i.starts_with("post_x_id_")));
        assert_eq!(operation_id("GET", "/user/{uid}"), "get_user_uid");
        assert_eq!(operation_id("POST", "/user"), "post_user");
        assert_eq!(operation_id("GET", "/r1/{uid}/copy"), "get_r1_uid_copy");
        let spec = tutorial();
        let doc = document(&spec);
        let mut ids: Vec<String> = Vec::new();
        for (_, methods) in doc["paths"].as_object().unwrap() {
            for (_, op) in methods.as_object().unwrap() {
                ids.push(op["operationId"].as_str().unwrap().to_string());
            }
        }
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    #[test]
    fn who_may_call_each_route_is_its_security_and_the_schemes() {
        use crate::auth::{AuthSpec, AuthorizerSpec, RouteAuth};
        let plain = tutorial();
        let before = document(&plain);
        assert!(before["components"].get("securitySchemes").is_none());
        assert!(before.get("x-amazon-apigateway-api-key-source").is_none());

        let mut spec = tutorial();
        let gate = spec.functions[0].logical.clone();
        spec.auth = AuthSpec {
            authorizers: vec![
                AuthorizerSpec {
                    logical: "users".into(),
                    name: "users".into(),
                    kind: AuthorizerKind::Cognito {
                        user_pools: vec![
                            "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_x"
                                .into(),
                        ],
                    },
                    identity_source: "method.request.header.Authorization".into(),
                    ttl_secs: 300,
                },
                AuthorizerSpec {
                    logical: "gate".into(),
                    name: "gate".into(),
                    kind: AuthorizerKind::Token {
                        function: gate.clone(),
                        validation: Some("^x".into()),
                    },
                    identity_source: "method.request.header.X-Token".into(),
                    ttl_secs: 60,
                },
            ],
            ..Default::default()
        };
        spec.routes[0].auth = RouteAuth {
            api_key: true,
            authorizer: Some(Authorizing::Named("users".into())),
            scopes: vec!["orders/read".into()],
        };
        spec.routes[1].auth = RouteAuth {
            authorizer: Some(Authorizing::Named("gate".into())),
            ..Default::default()
        };
        let doc = document(&spec);
        assert_eq!(doc["x-amazon-apigateway-api-key-source"], "HEADER");
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes[API_KEY_SCHEME]["name"], "x-api-key");
        assert!(schemes.get(SIGV4_SCHEME).is_none(), "no route takes IAM");
        let users = &schemes["users"];
        assert_eq!(users["x-amazon-apigateway-authtype"], "cognito_user_pools");
        assert_eq!(
            users["x-amazon-apigateway-authorizer"]["providerARNs"][0],
            "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_x"
        );
        let token = &schemes["gate"];
        assert_eq!(token["name"], "X-Token");
        assert_eq!(token["x-amazon-apigateway-authtype"], "custom");
        let a = &token["x-amazon-apigateway-authorizer"];
        assert_eq!(a["type"], "token");
        assert_eq!(a["identityValidationExpression"], "^x");
        assert_eq!(a["authorizerResultTtlInSeconds"], 60);
        let f = spec.function(&gate).unwrap();
        assert_eq!(
            a["authorizerUri"],
            spec.integration_uri(&spec.function_arn(f))
        );
        // One requirement per operation: every scheme in it must pass.
        let op = |r: &RouteSpec| &doc["paths"][&r.path][operation_key(&r.http_method)];
        assert_eq!(
            op(&spec.routes[0])["security"],
            json!([{"users": ["orders/read"], API_KEY_SCHEME: []}])
        );
        assert_eq!(op(&spec.routes[1])["security"], json!([{"gate": []}]));
    }
}
