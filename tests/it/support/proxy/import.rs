//! What API Gateway's OpenAPI import keeps and moto 5.2.5's drops (docs/aws.md, "The Lambda integration and the OpenAPI import";
//! docs/auth.md, "The document build"): the models under `components/schemas`, the request
//! validators of `x-amazon-apigateway-request-validators`, the authorizers of
//! `components/securitySchemes`, and each method's request models, validator, path
//! parameters and auth (`security`). After a PutRestApi that moto accepted, the proxy makes
//! the models, the validators and the authorizers in moto (CreateModel,
//! CreateRequestValidator, CreateAuthorizer: moto keeps those; the API's earlier authorizers
//! deleted, as an overwrite replaces them) and remembers each imported method's fields, which it puts back into the methods GetResources and
//! GetMethod answer, until a PutMethod, a DeleteMethod or a DeleteResource through the proxy
//! changes that method, or the API is put again or deleted. Calls made to moto directly
//! (tests that change the API behind the tool's back) bypass it, as hand edits bypass the tool.

use super::*;
use serde_json::{json, Value};

/// By (resource id, HTTP verb): the fields moto's import dropped.
pub type Kept = std::collections::HashMap<(String, String), Value>;

/// How the proxy calls moto itself: the PutRestApi's own signature headers (moto checks
/// no signature; it reads the service from the credential scope).
pub struct Upstream<'a> {
    pub client: &'a Client<HttpConnector, Full<Bytes>>,
    pub base: &'a str,
    pub headers: &'a hyper::HeaderMap,
}

impl Upstream<'_> {
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Option<Value> {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for name in ["authorization", "x-amz-date", "x-amz-security-token"] {
            if let Some(v) = self.headers.get(name) {
                b = b.header(name, v);
            }
        }
        let bytes = body.map(|v| Bytes::from(v.to_string())).unwrap_or_default();
        let req = b
            .header("content-type", "application/json")
            .body(Full::new(bytes))
            .ok()?;
        let resp = self.client.request(req).await.ok()?;
        let ok = resp.status().is_success();
        let body = resp.into_body().collect().await.ok()?.to_bytes();
        ok.then(|| serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
}

fn api_of(path: &str) -> Option<&str> {
    path.strip_prefix("/restapis/")?.split('/').next()
}

/// The document as moto 5.2.5's import can take it: it fails (a TypeError, answered 500) on
/// a `mock` integration without `uri` and `httpMethod`, which AWS needs none of; those get
/// an empty URI (what AWS answers for a MOCK integration) and POST. `None`: nothing to change.
pub fn before_put(document: &Bytes) -> Option<Bytes> {
    let mut doc: Value = serde_json::from_slice(document).ok()?;
    let mut changed = false;
    for (_, ops) in doc["paths"].as_object_mut()?.iter_mut() {
        for (_, op) in ops.as_object_mut().into_iter().flatten() {
            let i = &mut op["x-amazon-apigateway-integration"];
            if i["type"].as_str() == Some("mock") && i.get("uri").is_none() {
                i["uri"] = json!("");
                i["httpMethod"] = json!("POST");
                changed = true;
            }
        }
    }
    changed.then(|| Bytes::from(doc.to_string()))
}

/// After moto accepted a PutRestApi of `document` on the API at `path`.
pub async fn after_put(shared: &Shared, moto: &Upstream<'_>, path: &str, document: &Bytes) {
    let (Some(api), Ok(doc)) = (api_of(path), serde_json::from_slice::<Value>(document)) else {
        return;
    };
    let api = api.to_string();
    for (name, schema) in doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let _ = moto
            .call("DELETE", &format!("/restapis/{api}/models/{name}"), None)
            .await;
        let body = json!({"name": name, "contentType": "application/json",
                          "schema": schema.to_string()});
        let _ = moto
            .call("POST", &format!("/restapis/{api}/models"), Some(body))
            .await;
    }
    let existing = moto
        .call("GET", &format!("/restapis/{api}/requestvalidators"), None)
        .await
        .unwrap_or(Value::Null);
    let mut validators: std::collections::HashMap<String, String> = existing["item"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| {
            Some((
                v["name"].as_str()?.to_string(),
                v["id"].as_str()?.to_string(),
            ))
        })
        .collect();
    for (name, v) in doc["x-amazon-apigateway-request-validators"]
        .as_object()
        .into_iter()
        .flatten()
    {
        if validators.contains_key(name) {
            continue;
        }
        let body = json!({"name": name,
            "validateRequestBody": v["validateRequestBody"].as_bool().unwrap_or(false),
            "validateRequestParameters": v["validateRequestParameters"].as_bool().unwrap_or(false)});
        if let Some(made) = moto
            .call(
                "POST",
                &format!("/restapis/{api}/requestvalidators"),
                Some(body),
            )
            .await
        {
            if let Some(id) = made["id"].as_str() {
                validators.insert(name.clone(), id.to_string());
            }
        }
    }
    let authorizers = put_authorizers(shared, moto, &api, &doc).await;
    let schemes = &doc["components"]["securitySchemes"];
    let resources = moto
        .call("GET", &format!("/restapis/{api}/resources"), None)
        .await
        .unwrap_or(Value::Null);
    let ids: std::collections::HashMap<&str, &str> = resources["item"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| Some((r["path"].as_str()?, r["id"].as_str()?)))
        .collect();
    let default_validator = doc["x-amazon-apigateway-request-validator"].as_str();
    let mut kept = Kept::new();
    for (path, ops) in doc["paths"].as_object().into_iter().flatten() {
        let Some(id) = ids.get(path.as_str()) else {
            continue;
        };
        for (verb, op) in ops.as_object().into_iter().flatten() {
            let mut fields = serde_json::Map::new();
            let models: serde_json::Map<String, Value> = op["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(ct, c)| {
                    let model = c["schema"]["$ref"].as_str()?.rsplit('/').next()?;
                    Some((ct.clone(), json!(model)))
                })
                .collect();
            if !models.is_empty() {
                fields.insert("requestModels".into(), Value::Object(models));
            }
            let validator = op["x-amazon-apigateway-request-validator"]
                .as_str()
                .or(default_validator);
            if let Some(id) = validator.and_then(|n| validators.get(n)) {
                fields.insert("requestValidatorId".into(), json!(id));
            }
            let params: serde_json::Map<String, Value> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    let place = match p["in"].as_str()? {
                        "path" => "path",
                        "query" => "querystring",
                        "header" => "header",
                        _ => return None,
                    };
                    let name = p["name"].as_str()?;
                    Some((
                        format!("method.request.{place}.{name}"),
                        json!(p["required"].as_bool().unwrap_or(false)),
                    ))
                })
                .collect();
            if !params.is_empty() {
                fields.insert("requestParameters".into(), Value::Object(params));
            }
            method_auth(&mut fields, op, schemes, &authorizers);
            kept.insert(
                ((*id).to_string(), verb.to_ascii_uppercase()),
                Value::Object(fields),
            );
        }
    }
    shared.imports.lock().unwrap().insert(api, kept);
}

/// AWS's overwrite replaces the API's authorizers with the document's: one for each security
/// scheme with an `x-amazon-apigateway-authorizer`, named after the scheme, reading the
/// scheme's header unless it names its identity sources (a REQUEST authorizer). moto's import
/// makes none. By name: the ids made.
async fn put_authorizers(
    shared: &Shared,
    moto: &Upstream<'_>,
    api: &str,
    doc: &Value,
) -> std::collections::HashMap<String, String> {
    let old = moto
        .call("GET", &format!("/restapis/{api}/authorizers"), None)
        .await
        .unwrap_or(Value::Null);
    for a in old["item"].as_array().into_iter().flatten() {
        let Some(id) = a["id"].as_str() else { continue };
        let _ = moto
            .call("DELETE", &format!("/restapis/{api}/authorizers/{id}"), None)
            .await;
        shared
            .validations
            .lock()
            .unwrap()
            .remove(&(api.to_string(), id.to_string()));
    }
    let mut ids = std::collections::HashMap::new();
    for (name, scheme) in doc["components"]["securitySchemes"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let a = &scheme["x-amazon-apigateway-authorizer"];
        let kind = match a["type"].as_str() {
            Some("token") => "TOKEN",
            Some("request") => "REQUEST",
            Some("cognito_user_pools") => "COGNITO_USER_POOLS",
            _ => continue,
        };
        let source = a["identitySource"].as_str().map_or_else(
            || {
                format!(
                    "method.request.header.{}",
                    scheme["name"].as_str().unwrap_or("Authorization")
                )
            },
            str::to_string,
        );
        let mut body = json!({"name": name, "type": kind, "identitySource": source});
        for field in [
            "providerARNs",
            "authorizerUri",
            "authorizerResultTtlInSeconds",
        ] {
            if !a[field].is_null() {
                body[field] = a[field].clone();
            }
        }
        let made = moto
            .call("POST", &format!("/restapis/{api}/authorizers"), Some(body))
            .await;
        let Some(id) = made.as_ref().and_then(|m| m["id"].as_str()) else {
            continue;
        };
        if let Some(v) = a["identityValidationExpression"].as_str() {
            shared
                .validations
                .lock()
                .unwrap()
                .insert((api.to_string(), id.to_string()), v.to_string());
        }
        ids.insert(name.clone(), id.to_string());
    }
    ids
}

/// A method's auth from its operation's `security` (every scheme of a requirement applies),
/// as AWS's import sets it: the type (NONE when no scheme names one), the authorizer, its
/// scopes, whether an API key is required.
fn method_auth(
    fields: &mut serde_json::Map<String, Value>,
    op: &Value,
    schemes: &Value,
    authorizers: &std::collections::HashMap<String, String>,
) {
    let mut kind = "NONE";
    let mut api_key = false;
    for requirement in op["security"].as_array().into_iter().flatten() {
        for (name, scopes) in requirement.as_object().into_iter().flatten() {
            let scheme = &schemes[name];
            match scheme["x-amazon-apigateway-authtype"].as_str() {
                Some("awsSigv4") => kind = "AWS_IAM",
                Some(t @ ("cognito_user_pools" | "custom")) => {
                    kind = if t == "custom" {
                        "CUSTOM"
                    } else {
                        "COGNITO_USER_POOLS"
                    };
                    if let Some(id) = authorizers.get(name) {
                        fields.insert("authorizerId".into(), json!(id));
                    }
                    if scopes.as_array().is_some_and(|s| !s.is_empty()) {
                        fields.insert("authorizationScopes".into(), scopes.clone());
                    }
                }
                _ if scheme["type"] == "apiKey" && scheme["name"] == "x-api-key" => api_key = true,
                _ => {}
            }
        }
    }
    fields.insert("authorizationType".into(), json!(kind));
    fields.insert("apiKeyRequired".into(), json!(api_key));
}

/// The answer with the kept fields put back (GetResources, GetMethod), or `None`; a call
/// that changes a method or deletes the API forgets what was kept of it.
pub fn patch_answer(shared: &Shared, call: &Call, body: &Bytes) -> Option<Bytes> {
    let segs: Vec<&str> = call.path.trim_matches('/').split('/').collect();
    let api = segs.get(1)?.to_string();
    let mut imports = shared.imports.lock().unwrap();
    match call.operation.as_str() {
        "DeleteRestApi" => {
            imports.remove(&api);
            return None;
        }
        "PutMethod" | "DeleteMethod" => {
            let (rid, verb) = (segs.get(3)?, segs.get(5)?);
            imports
                .get_mut(&api)?
                .remove(&(rid.to_string(), verb.to_ascii_uppercase()));
            return None;
        }
        "DeleteResource" => {
            let rid = segs.get(3)?;
            imports.get_mut(&api)?.retain(|(r, _), _| r != rid);
            return None;
        }
        _ => {}
    }
    let kept = imports.get(&api)?;
    let merge = |method: &mut Value, fields: &Value| {
        if let (Some(m), Some(f)) = (method.as_object_mut(), fields.as_object()) {
            for (k, v) in f {
                m.insert(k.clone(), v.clone());
            }
        }
    };
    let mut v: Value = serde_json::from_slice(body).ok()?;
    match call.operation.as_str() {
        "GetResources" => {
            for r in v["item"].as_array_mut()? {
                let id = r["id"].as_str().unwrap_or_default().to_string();
                for (verb, m) in r["resourceMethods"].as_object_mut().into_iter().flatten() {
                    // Only methods embedded whole (`embed=methods`).
                    if m.get("httpMethod").is_none() {
                        continue;
                    }
                    if let Some(fields) = kept.get(&(id.clone(), verb.clone())) {
                        merge(m, fields);
                    }
                }
            }
        }
        "GetMethod" => {
            let (rid, verb) = (segs.get(3)?, segs.get(5)?);
            merge(
                &mut v,
                kept.get(&(rid.to_string(), verb.to_ascii_uppercase()))?,
            );
        }
        _ => return None,
    }
    Some(Bytes::from(v.to_string()))
}

/// AWS keeps an authorizer's identityValidationExpression; moto drops it. Kept from
/// CreateAuthorizer and UpdateAuthorizer, and put back in GetAuthorizer(s) answers.
pub fn authorizer_validation(
    shared: &Shared,
    call: &Call,
    sent: &Bytes,
    body: &Bytes,
) -> Option<Bytes> {
    let segs: Vec<&str> = call.path.trim_matches('/').split('/').collect();
    let api = segs.get(1)?.to_string();
    let mut kept = shared.validations.lock().unwrap();
    let mut answer: Value = serde_json::from_slice(body).ok()?;
    match call.operation.as_str() {
        "CreateAuthorizer" => {
            let asked: Value = serde_json::from_slice(sent).ok()?;
            let v = asked["identityValidationExpression"].as_str()?.to_string();
            let id = answer["id"].as_str()?.to_string();
            kept.insert((api, id), v.clone());
            answer["identityValidationExpression"] = Value::String(v);
        }
        "UpdateAuthorizer" => {
            let id = segs.get(3)?.to_string();
            let asked: Value = serde_json::from_slice(sent).ok()?;
            for op in asked["patchOperations"].as_array()? {
                if op["path"] == "/identityValidationExpression" {
                    match op["value"].as_str() {
                        Some(v) if !v.is_empty() => {
                            kept.insert((api.clone(), id.clone()), v.to_string());
                        }
                        _ => {
                            kept.remove(&(api.clone(), id.clone()));
                        }
                    }
                }
            }
            let v = kept.get(&(api, id))?;
            answer["identityValidationExpression"] = Value::String(v.clone());
        }
        "GetAuthorizer" => {
            let id = segs.get(3)?.to_string();
            let v = kept.get(&(api, id))?;
            answer["identityValidationExpression"] = Value::String(v.clone());
        }
        "GetAuthorizers" => {
            for a in answer["item"].as_array_mut()? {
                let id = a["id"].as_str().unwrap_or_default().to_string();
                if let Some(v) = kept.get(&(api.clone(), id)) {
                    a["identityValidationExpression"] = Value::String(v.clone());
                }
            }
        }
        "DeleteAuthorizer" => {
            kept.remove(&(api, segs.get(3)?.to_string()));
            return None;
        }
        _ => return None,
    }
    Some(Bytes::from(answer.to_string()))
}

/// A plan's per-method throttles: by `api:stage`, by `/path/METHOD`.
pub type StageThrottles = std::collections::BTreeMap<String, serde_json::Map<String, Value>>;

/// The body moto gets of a CreateUsagePlan or UpdateUsagePlan: without the API stages'
/// per-method throttles (moto applies a `.../throttle/...` path to the plan's own throttle,
/// and cannot remove a stage that has them). The proxy keeps them ([`stage_throttles_in`]).
pub fn stage_throttles_out(body: &Bytes) -> Option<Bytes> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    if let Some(stages) = v.get_mut("apiStages").and_then(Value::as_array_mut) {
        for s in stages {
            if let Some(o) = s.as_object_mut() {
                o.remove("throttle");
            }
        }
    }
    if let Some(ops) = v.get_mut("patchOperations").and_then(Value::as_array_mut) {
        ops.retain(|o| {
            let path = o["path"].as_str().unwrap_or_default();
            !(path.starts_with("/apiStages/") && path.contains("/throttle"))
        });
    }
    Some(Bytes::from(v.to_string()))
}

/// Keeps what [`stage_throttles_out`] held back from moto and puts it in the answers.
pub fn stage_throttles_in(
    shared: &Shared,
    call: &Call,
    sent: &Bytes,
    body: &Bytes,
) -> Option<Bytes> {
    let mut answer: Value = serde_json::from_slice(body).ok()?;
    let mut kept = shared.stage_throttles.lock().unwrap();
    let unescape = |s: &str| s.replace("~1", "/").replace("~0", "~");
    match call.operation.as_str() {
        "CreateUsagePlan" => {
            let asked: Value = serde_json::from_slice(sent).ok()?;
            let id = answer["id"].as_str()?.to_string();
            let entry = kept.entry(id).or_default();
            for s in asked["apiStages"].as_array()? {
                let at = format!("{}:{}", s["apiId"].as_str()?, s["stage"].as_str()?);
                if let Some(t) = s["throttle"].as_object() {
                    entry.insert(at, t.clone());
                }
            }
        }
        "UpdateUsagePlan" => {
            let asked: Value = serde_json::from_slice(sent).ok()?;
            let id = call.path.trim_matches('/').split('/').nth(1)?.to_string();
            let entry = kept.entry(id).or_default();
            for o in asked["patchOperations"].as_array()? {
                let path = o["path"].as_str().unwrap_or_default();
                let op = o["op"].as_str().unwrap_or_default();
                if path == "/apiStages" && op == "remove" {
                    entry.remove(o["value"].as_str().unwrap_or_default());
                    continue;
                }
                let Some(rest) = path.strip_prefix("/apiStages/") else {
                    continue;
                };
                let mut parts = rest.splitn(4, '/');
                let (Some(at), Some("throttle"), Some(method)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                let method = unescape(method);
                let field = parts.next();
                let stage = entry.entry(at.to_string()).or_default();
                match (op, field) {
                    ("remove", None) => {
                        stage.remove(&method);
                    }
                    (_, Some(f)) => {
                        let t = stage.entry(method).or_insert_with(|| serde_json::json!({}));
                        let n: f64 = o["value"].as_str().unwrap_or("0").parse().unwrap_or(0.0);
                        t[f] = if f == "burstLimit" {
                            serde_json::json!(n as i64)
                        } else {
                            serde_json::json!(n)
                        };
                    }
                    _ => {}
                }
            }
        }
        "GetUsagePlan" | "GetUsagePlans" | "DeleteUsagePlan" => {}
        _ => return None,
    }
    if call.operation == "DeleteUsagePlan" {
        kept.remove(call.path.trim_matches('/').split('/').nth(1)?);
        return None;
    }
    let put_back = |plan: &mut Value| {
        let Some(id) = plan["id"].as_str().map(str::to_string) else {
            return;
        };
        let Some(stages) = kept.get(&id) else { return };
        for s in plan["apiStages"].as_array_mut().into_iter().flatten() {
            let at = format!(
                "{}:{}",
                s["apiId"].as_str().unwrap_or_default(),
                s["stage"].as_str().unwrap_or_default()
            );
            if let Some(t) = stages.get(&at).filter(|t| !t.is_empty()) {
                s["throttle"] = Value::Object(t.clone());
            }
        }
    };
    if call.operation == "GetUsagePlans" {
        for p in answer["item"].as_array_mut()? {
            put_back(p);
        }
    } else {
        put_back(&mut answer);
    }
    Some(Bytes::from(answer.to_string()))
}
