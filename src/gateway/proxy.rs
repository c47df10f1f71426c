//! Lambda proxy integration, as a REST API does it: the event API Gateway builds from a
//! request (payload format 1.0), and the rules that turn the function's answer into the
//! response (docs/aws.md, "Lambda proxy integration"). Pure: no I/O.

use base64::Engine;
use serde_json::{json, Map, Value};

use super::{Answer, Matched, Outcome, Request};

/// The proxy event for a matched request.
pub fn event(m: &Matched, req: &Request, stage: &str) -> Value {
    let mut headers = Map::new();
    let mut multi_headers: Map<String, Value> = Map::new();
    for (name, value) in &req.headers {
        let name = title_case(name);
        headers.insert(name.clone(), json!(value));
        multi_values(&mut multi_headers, name, value);
    }
    let mut query = Map::new();
    let mut multi_query: Map<String, Value> = Map::new();
    for (k, v) in parse_query(&req.query) {
        query.insert(k.clone(), json!(v));
        multi_values(&mut multi_query, k, &v);
    }
    let params: Map<String, Value> = m
        .params
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let object_or_null = |m: Map<String, Value>| {
        if m.is_empty() {
            Value::Null
        } else {
            Value::Object(m)
        }
    };
    // The path under the stage, as the client sent it.
    let path = req
        .path
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(stage))
        .filter(|p| !p.is_empty())
        .unwrap_or("/");
    let body = if req.body.is_empty() {
        Value::Null
    } else {
        // No binary media types are set up: API Gateway hands the body over as text.
        Value::String(String::from_utf8_lossy(&req.body).into_owned())
    };
    let user_agent = req
        .headers
        .iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
        .map(|(_, v)| v.clone());
    json!({
        "resource": m.route.path,
        "path": path,
        "httpMethod": req.method,
        "headers": object_or_null(headers),
        "multiValueHeaders": object_or_null(multi_headers),
        "queryStringParameters": object_or_null(query),
        "multiValueQueryStringParameters": object_or_null(multi_query),
        "pathParameters": object_or_null(params),
        "stageVariables": null,
        "requestContext": {
            "accountId": req.account,
            "apiId": "local",
            "resourceId": "local",
            "resourcePath": m.route.path,
            "httpMethod": req.method,
            "extendedRequestId": req.request_id,
            "requestId": req.request_id,
            "path": req.path,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainName": req.host,
            "domainPrefix": req.host.split('.').next().unwrap_or_default(),
            "requestTimeEpoch": req.time_ms,
            "requestTime": request_time(req.time_ms),
            "authorizer": req.caller.authorizer,
            "identity": {
                "sourceIp": req.source_ip,
                "userAgent": user_agent,
                "accessKey": req.caller.access_key,
                "accountId": req.caller.access_key.as_ref().map(|_| req.account.clone()),
                "apiKey": req.caller.api_key.as_ref().map(|k| k.0.clone()),
                "apiKeyId": req.caller.api_key.as_ref().map(|k| k.1.clone()),
                "caller": null, "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null, "cognitoIdentityId": null,
                "cognitoIdentityPoolId": null, "principalOrgId": null, "user": null,
                "userArn": null,
            },
        },
        "body": body,
        "isBase64Encoded": false,
    })
}

fn multi_values(into: &mut Map<String, Value>, name: String, value: &str) {
    match into.get_mut(&name) {
        Some(Value::Array(list)) => list.push(json!(value)),
        _ => {
            into.insert(name, json!([value]));
        }
    }
}

/// `content-type` as `Content-Type`. The server reads names in lower case; API Gateway hands
/// over the case the client sent, which for most clients is this one (and what AWS SAM's
/// local API gives). Handlers should read headers without regard to case either way.
pub fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        if upper {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        upper = c == '-';
    }
    out
}

/// A query string's parameters in order, `+` and `%XX` decoded (API Gateway decodes them
/// before the integration sees them). A parameter without `=` has an empty value.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

fn form_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    super::percent_decode(&spaced).unwrap_or(spaced)
}

/// `03/Dec/2026:18:16:22 +0000`, the form of `requestContext.requestTime`.
fn request_time(ms: u128) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = (ms / 1000) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_date(days);
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The calendar date (year, month 1-12, day 1-31) of a day counted from 1970-01-01, in the
/// proleptic Gregorian calendar (Howard Hinnant's `civil_from_days`).
pub fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// What API Gateway answers when the function's answer is not a proxy response (or the
/// function failed): 502, and the reason only in its own logs.
pub fn malformed() -> Answer {
    Answer::message(502, "Internal server error")
}

/// The fields a REST API proxy response may have; any other makes it malformed.
const FIELDS: [&str; 5] = [
    "statusCode",
    "headers",
    "multiValueHeaders",
    "body",
    "isBase64Encoded",
];

/// The response for the function's outcome, or why it is malformed (serve logs it, as API
/// Gateway's execution log does, and answers [`malformed`]).
pub fn response(outcome: &Outcome) -> Result<Answer, String> {
    let v = match outcome {
        Outcome::Result(v) => v,
        Outcome::Error(e) => {
            return Err(format!(
                "the function failed: {}",
                e.get("errorMessage")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)")
            ))
        }
    };
    let Value::Object(fields) = v else {
        return Err("the answer is not an object {statusCode, headers, body}".into());
    };
    if let Some(k) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "the answer has a field '{k}' that a REST API proxy response does not (only {})",
            FIELDS.join(", ")
        ));
    }
    let status = match fields.get("statusCode") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|s| (100..=599).contains(s))
    .ok_or("statusCode is missing or not an HTTP status")?;
    let mut headers: Vec<(String, String)> = Vec::new();
    match fields.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (k, v) in h {
                headers.push((
                    k.clone(),
                    scalar(v).ok_or(format!("header '{k}' is not a string"))?,
                ));
            }
        }
        Some(_) => return Err("headers is not an object".into()),
    }
    match fields.get("multiValueHeaders") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (k, v) in h {
                let Value::Array(list) = v else {
                    return Err(format!("multiValueHeaders '{k}' is not a list"));
                };
                // Where both name a header, the multi-value list is what is sent.
                headers.retain(|(name, _)| !name.eq_ignore_ascii_case(k));
                for x in list {
                    headers.push((
                        k.clone(),
                        scalar(x).ok_or(format!(
                            "multiValueHeaders '{k}' holds a value that is not a string"
                        ))?,
                    ));
                }
            }
        }
        Some(_) => return Err("multiValueHeaders is not an object".into()),
    }
    let base64 = match fields.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("isBase64Encoded is not true or false".into()),
    };
    let body = match fields.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if base64 => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|_| "isBase64Encoded is true but body is not base64")?,
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(_) => {
            return Err("body is not a string (JSON.stringify it)".into());
        }
    };
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("Content-Type".into(), "application/json".into()));
    }
    Ok(Answer {
        status: status as u16,
        headers,
        body,
    })
}

/// A header value as API Gateway reads it: a string, or a number or boolean in its JSON
/// form.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::{IntegrationKind, RouteSpec};

    fn route(method: &str, path: &str) -> RouteSpec {
        RouteSpec {
            http_method: method.into(),
            path: path.into(),
            path_params: Vec::new(),
            request_model: None,
            request_template: None,
            table_actions: Vec::new(),
            function: "api".into(),
            integration: IntegrationKind::Proxy,
            responses: Vec::new(),
            auth: Default::default(),
        }
    }

    fn request(method: &str, path: &str, query: &str, body: &str) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-multi".into(), "a".into()),
                ("x-multi".into(), "b".into()),
                ("user-agent".into(), "curl/8".into()),
            ],
            body: body.as_bytes().to_vec(),
            source_ip: "127.0.0.1".into(),
            request_id: "c0ffee00-0000-4000-8000-000000000000".into(),
            time_ms: 1_796_321_782_000,
            host: "127.0.0.1:3000".into(),
            account: "000000000000".into(),
            caller: Default::default(),
        }
    }

    #[test]
    fn the_event_is_api_gateways_version_1_payload() {
        let routes = [route("GET", "/items/{id}"), route("ANY", "/files/{proxy+}")];
        let req = request("GET", "/prod/items/a%20b", "q=1&tag=x&tag=y+z&flag", "");
        let m = super::super::match_route(&routes, "prod", "GET", &req.path).unwrap();
        let e = event(&m, &req, "prod");
        assert_eq!(e["resource"], "/items/{id}");
        assert_eq!(e["path"], "/items/a%20b");
        assert_eq!(e["httpMethod"], "GET");
        assert_eq!(e["pathParameters"], json!({"id": "a b"}));
        assert_eq!(
            e["queryStringParameters"],
            json!({"q": "1", "tag": "y z", "flag": ""})
        );
        assert_eq!(
            e["multiValueQueryStringParameters"]["tag"],
            json!(["x", "y z"])
        );
        assert_eq!(e["headers"]["Content-Type"], "application/json");
        assert_eq!(e["headers"]["X-Multi"], "b");
        assert_eq!(e["multiValueHeaders"]["X-Multi"], json!(["a", "b"]));
        assert_eq!(e["body"], Value::Null);
        assert_eq!(e["isBase64Encoded"], false);
        assert_eq!(e["stageVariables"], Value::Null);
        let rc = &e["requestContext"];
        assert_eq!(rc["stage"], "prod");
        assert_eq!(rc["path"], "/prod/items/a%20b");
        assert_eq!(rc["resourcePath"], "/items/{id}");
        assert_eq!(rc["requestId"], "c0ffee00-0000-4000-8000-000000000000");
        assert_eq!(rc["identity"]["sourceIp"], "127.0.0.1");
        assert_eq!(rc["identity"]["userAgent"], "curl/8");
        assert_eq!(rc["requestTimeEpoch"], 1_796_321_782_000u64);
        assert_eq!(rc["requestTime"], "03/Dec/2026:18:16:22 +0000");

        // A greedy path hands over the rest of the path; the body is text.
        let req = request("PUT", "/prod/files/a/b%2Fc.txt", "", "{\"x\":1}");
        let m = super::super::match_route(&routes, "prod", "PUT", &req.path).unwrap();
        let e = event(&m, &req, "prod");
        assert_eq!(e["pathParameters"], json!({"proxy": "a/b/c.txt"}));
        assert_eq!(e["body"], "{\"x\":1}");
        assert_eq!(e["queryStringParameters"], Value::Null);
    }

    #[test]
    fn the_functions_answer_is_the_response_or_a_502() {
        let ok = |v: Value| response(&Outcome::Result(v));
        let a = ok(json!({"statusCode": 201, "headers": {"Location": "/items/1", "X-N": 3}, "body": "{\"id\":1}"})).unwrap();
        assert_eq!(a.status, 201);
        assert!(a.headers.contains(&("Location".into(), "/items/1".into())));
        assert!(a.headers.contains(&("X-N".into(), "3".into())));
        assert!(a
            .headers
            .contains(&("Content-Type".into(), "application/json".into())));
        assert_eq!(a.body, b"{\"id\":1}");
        let a = ok(json!({"statusCode": "204"})).unwrap();
        assert_eq!((a.status, a.body.len()), (204, 0));
        let a = ok(json!({"statusCode": 200, "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}, "headers": {"Set-Cookie": "c=3", "Content-Type": "text/plain"}, "body": "aGk=", "isBase64Encoded": true})).unwrap();
        let cookies: Vec<&str> = a
            .headers
            .iter()
            .filter(|(k, _)| k == "Set-Cookie")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(a.body, b"hi");
        for (bad, why) in [
            (
                json!({"statusCode": 200, "body": {"a": 1}}),
                "JSON.stringify",
            ),
            (json!({"statusCode": 200, "cookies": ["a=1"]}), "'cookies'"),
            (json!({"body": "x"}), "statusCode"),
            (json!({"statusCode": 99}), "statusCode"),
            (json!("hello"), "not an object"),
            (
                json!({"statusCode": 200, "headers": {"X": {"a": 1}}}),
                "header 'X'",
            ),
            (
                json!({"statusCode": 200, "isBase64Encoded": true, "body": "%%"}),
                "base64",
            ),
        ] {
            let e = ok(bad).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        let failed = response(&Outcome::Error(json!({"errorMessage": "boom"}))).unwrap_err();
        assert!(failed.contains("boom"));
        assert_eq!(malformed().status, 502);
        assert_eq!(malformed().body, br#"{"message":"Internal server error"}"#);
    }
}
