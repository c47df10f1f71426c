//! API Gateway's part of a request, as the deployed REST API does it, for `serve`.
//!
//! Everything here reads the routes and models deploy puts into API Gateway (the stack file's,
//! or the built-in stack's): which route a path matches, the body model POST validates against, the
//! request template that makes GET's event, and the integration responses whose selection
//! patterns turn a function error into 400 / 404 / 500 / 502 / 504. Pure: no I/O.
//!
//! The mapping-template language (Velocity) is not implemented in general: only the
//! expressions the stack's templates use. A unit test renders every template of the
//! description, so a template that needs more fails the tests, not a user's request.

pub mod proxy;
pub mod vtl;

use regex_lite::Regex;
use serde_json::Value;

use crate::stack::{ModelSpec, RouteSpec};

/// An HTTP answer: status, headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// A JSON body.
    pub fn json(status: u16, body: String) -> Self {
        Answer {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into_bytes(),
        }
    }

    /// API Gateway's own answers: `{"message": ...}`.
    pub fn message(status: u16, message: &str) -> Self {
        Answer::json(
            status,
            serde_json::json!({ "message": message }).to_string(),
        )
    }

    /// The body as text.
    #[cfg(test)]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Who the caller turned out to be: what the integration is told.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// `requestContext.authorizer` (`principalId` and the context, or `claims`).
    pub authorizer: Option<serde_json::Map<String, Value>>,
    /// The API key's value and id, when the route takes one.
    pub api_key: Option<(String, String)>,
    /// The access key that signed the request (IAM).
    pub access_key: Option<String>,
}

/// A request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path as sent, stage first: `/prod/items/42`.
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
    /// Header names in lower case, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub source_ip: String,
    pub request_id: String,
    /// When it arrived, in epoch milliseconds.
    pub time_ms: u128,
    /// The Host header.
    pub host: String,
    /// The account the stack is in (the proxy event's `requestContext.accountId`).
    pub account: String,
    /// Who the caller is, once serve's guard let it through.
    pub caller: Caller,
}

impl Request {
    /// The last value of a header (names without regard to case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a mapping template reads of a request besides its body and path parameters: the
/// query string, the headers and `$context`.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub context: Vec<(&'static str, String)>,
    /// `$context.authorizer.<name>` (and `.claims.<name>`): what the authorizer handed on.
    pub authorizer: Vec<(String, String)>,
}

impl Incoming {
    pub fn of(req: &Request, m: &Matched, stage: &str) -> Self {
        let user_agent = req.header("user-agent").unwrap_or_default().to_string();
        Incoming {
            query: proxy::parse_query(&req.query),
            headers: req.headers.clone(),
            context: vec![
                ("requestId", req.request_id.clone()),
                ("extendedRequestId", req.request_id.clone()),
                ("stage", stage.to_string()),
                ("httpMethod", req.method.clone()),
                ("resourcePath", m.route.path.clone()),
                ("path", req.path.clone()),
                ("accountId", req.account.clone()),
                ("apiId", "local".to_string()),
                ("domainName", req.host.clone()),
                ("requestTimeEpoch", req.time_ms.to_string()),
                ("identity.sourceIp", req.source_ip.clone()),
                ("identity.userAgent", user_agent),
            ],
            authorizer: authorizer_vars(req),
        }
    }

    fn vars<'a>(&'a self, body: &'a [u8], path_params: &'a [(String, String)]) -> vtl::Vars<'a> {
        vtl::Vars {
            body,
            path_params,
            query: &self.query,
            headers: &self.headers,
            context: &self.context,
            authorizer: &self.authorizer,
        }
    }
}

/// The authorizer's values as `$context.authorizer.x` names them (`claims.sub` for a Cognito
/// token's claims).
fn authorizer_vars(req: &Request) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(a) = &req.caller.authorizer else {
        return out;
    };
    for (k, v) in a {
        match v {
            Value::Object(claims) => {
                for (c, x) in claims {
                    let x = x.as_str().map_or_else(|| x.to_string(), str::to_string);
                    out.push((format!("{k}.{c}"), x));
                }
            }
            Value::String(s) => out.push((k.clone(), s.clone())),
            other => out.push((k.clone(), other.to_string())),
        }
    }
    out
}

/// What API Gateway answers for a path or method the API does not have.
pub fn missing_route() -> Answer {
    Answer::message(403, "Missing Authentication Token")
}

/// A request that matched a route: the route and its path parameters (decoded).
#[derive(Debug, Clone)]
pub struct Matched {
    pub route: RouteSpec,
    pub params: Vec<(String, String)>,
}

/// Finds the route for a method and a request path (`/prod/user/42`; the stage comes first,
/// as in the deployed URL). `None` is API Gateway's 403. Of the routes whose path matches and
/// whose method is the request's or ANY, the most specific wins: segment by segment a fixed
/// name before a `{param}` before a greedy `{param+}`, then the request's own method before
/// ANY. A `{param}` takes one non-empty segment, decoded; a `{param+}` the rest of the path
/// (one segment at least).
pub fn match_route(routes: &[RouteSpec], stage: &str, method: &str, path: &str) -> Option<Matched> {
    let rest = path.strip_prefix('/')?.strip_prefix(stage)?;
    let segs: Vec<&str> = match rest {
        "" | "/" => Vec::new(),
        _ => rest.strip_prefix('/')?.split('/').collect(),
    };
    let mut best: Option<(Vec<u8>, u8, Matched)> = None;
    for route in routes {
        let exact = route.http_method == method;
        if !exact && route.http_method != "ANY" {
            continue;
        }
        let Some((rank, params)) = fit(&route.path, &segs) else {
            continue;
        };
        let better = match &best {
            None => true,
            Some((r, e, _)) => (&rank, u8::from(exact)) > (r, *e),
        };
        if better {
            best = Some((
                rank,
                u8::from(exact),
                Matched {
                    route: route.clone(),
                    params,
                },
            ));
        }
    }
    best.map(|(_, _, m)| m)
}

/// A route's fit to a request: its rank (per segment, 2 for a fixed name, 1 for a
/// parameter, 0 for a greedy one) and the parameters, decoded.
type Fit = (Vec<u8>, Vec<(String, String)>);

/// Whether a route's path fits the request's segments, and how.
fn fit(route_path: &str, segs: &[&str]) -> Option<Fit> {
    let want: Vec<&str> = route_path.split('/').filter(|p| !p.is_empty()).collect();
    let mut rank = Vec::new();
    let mut params = Vec::new();
    for (i, w) in want.iter().enumerate() {
        let name = w.strip_prefix('{').and_then(|w| w.strip_suffix('}'));
        match name {
            Some(greedy) if greedy.ends_with('+') => {
                let rest = segs.get(i..).filter(|r| !r.is_empty())?;
                if rest.iter().any(|s| s.is_empty()) {
                    return None;
                }
                let value = percent_decode(&rest.join("/"))?;
                params.push((greedy.trim_end_matches('+').to_string(), value));
                rank.push(0);
                return Some((rank, params));
            }
            Some(name) => {
                let v = percent_decode(segs.get(i)?)?;
                if v.is_empty() {
                    return None;
                }
                params.push((name.to_string(), v));
                rank.push(1);
            }
            None => {
                if segs.get(i) != Some(w) {
                    return None;
                }
                rank.push(2);
            }
        }
    }
    (want.len() == segs.len()).then_some((rank, params))
}

/// Decodes `%XX` escapes of a URL path segment; `None` if they are not valid UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Java's `URLEncoder.encode(s, "UTF-8")`, which `$util.urlEncode` is: letters, digits and
/// `.-*_` stay, a space becomes `+`, every other byte `%XX`.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Whether a request's Content-Type selects the `application/json` model and template
/// (API Gateway takes a request without one as `application/json`).
pub fn is_json_content_type(content_type: Option<&str>) -> bool {
    match content_type {
        None => true,
        Some(ct) => {
            let media = ct.split(';').next().unwrap_or_default().trim();
            media.is_empty() || media.eq_ignore_ascii_case("application/json")
        }
    }
}

/// Builds the event the function receives for a matched request, or the answer API Gateway
/// gives without invoking it (an invalid body, an unsupported media type).
pub fn request_event(
    m: &Matched,
    models: &[ModelSpec],
    content_type: Option<&str>,
    body: &[u8],
    incoming: &Incoming,
) -> Result<Value, Answer> {
    let json_type = is_json_content_type(content_type);
    if let Some(template) = &m.route.request_template {
        // WHEN_NO_TEMPLATES: with a template, another content type is refused.
        if !json_type {
            return Err(Answer::message(415, "Unsupported Media Type"));
        }
        validate_body(m, models, body)?;
        let text = vtl::render(template, &incoming.vars(body, &m.params))
            .map_err(|e| Answer::message(500, &format!("Internal server error: {e}")))?;
        return serde_json::from_str(&text)
            .map_err(|_| Answer::message(500, "Internal server error"));
    }
    // Passthrough: the body is the event, once it passed the model (when the route has one).
    validate_body(m, models, body)?;
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    parsed.ok_or_else(|| Answer::message(400, "Invalid request body"))
}

/// The request validator's body check: with a model, every body (the model covers
/// `$default`, every content type) must be JSON the model accepts, before the function runs.
pub fn validate_body(m: &Matched, models: &[ModelSpec], body: &[u8]) -> Result<(), Answer> {
    let Some(model) = &m.route.request_model else {
        return Ok(());
    };
    let schema = model_schema(models, model);
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if parsed
        .as_ref()
        .is_some_and(|v| crate::draft4::accepts(&schema, v))
    {
        Ok(())
    } else {
        Err(Answer::message(400, "Invalid request body"))
    }
}

/// The JSON schema of a model of the description.
fn model_schema(models: &[ModelSpec], name: &str) -> Value {
    models
        .iter()
        .find(|m| m.name == name)
        .and_then(|m| serde_json::from_str(&m.schema).ok())
        .unwrap_or(Value::Null)
}

/// What the function gave back: a result, or an error as Lambda reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Result(Value),
    /// `{"errorMessage", "errorType", "stackTrace"}`.
    Error(Value),
}

/// Whether a selection pattern matches the whole error message (Java's `String.matches`).
pub fn pattern_matches(pattern: &str, message: &str) -> bool {
    // A catch-all ([`crate::stack::unmatched_pattern`]): Java's negative lookahead, which
    // this engine lacks, read for what it says: a non-empty message none of the others
    // matches whole.
    if let Some(union) = pattern
        .strip_prefix("(?s)(?!(?:")
        .and_then(|p| p.strip_suffix(")\\z).+"))
    {
        return !message.is_empty() && !pattern_matches(union, message);
    }
    Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|re| re.is_match(message))
}

/// The method response for the function's outcome, as the route's integration responses
/// select it: a result takes the default response; an error the response whose pattern
/// matches its message, or the default one when none does (API Gateway then passes the error
/// document through, with the default's status).
pub fn respond(route: &RouteSpec, outcome: &Outcome, incoming: &Incoming) -> Answer {
    let default = route
        .responses
        .iter()
        .find(|r| r.selection_pattern.is_none());
    let (chosen, payload) = match outcome {
        Outcome::Result(v) => (default, v),
        Outcome::Error(e) => {
            let message = e
                .get("errorMessage")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let hit = route.responses.iter().find(|r| {
                r.selection_pattern
                    .as_ref()
                    .is_some_and(|p| pattern_matches(p, message))
            });
            (hit.or(default), e)
        }
    };
    let Some(chosen) = chosen else {
        return Answer::message(500, "Internal server error");
    };
    let status = chosen.status.parse().unwrap_or(500);
    let text = payload.to_string();
    let body = match &chosen.template {
        Some(t) => match vtl::render(t, &incoming.vars(text.as_bytes(), &[])) {
            Ok(b) => b,
            Err(_) => return Answer::message(500, "Internal server error"),
        },
        None => text,
    };
    let mut a = Answer::json(status, body);
    a.headers.extend(response_headers(&chosen.headers, payload));
    a
}

/// A MOCK integration's answer (a CORS preflight): its default response, headers and no
/// body.
pub fn mock(route: &RouteSpec) -> Answer {
    let Some(r) = route
        .responses
        .iter()
        .find(|r| r.selection_pattern.is_none())
    else {
        return Answer::message(500, "Internal server error");
    };
    Answer {
        status: r.status.parse().unwrap_or(500),
        headers: response_headers(&r.headers, &Value::Null),
        body: Vec::new(),
    }
}

/// What Lambda's invoke answer carries that `integration.response.header.<name>` can map.
const LAMBDA_HEADERS: [(&str, &str); 2] = [
    ("X-Amz-Executed-Version", "$LATEST"),
    ("Content-Type", "application/json"),
];

/// A response's headers from their mapping expressions: a fixed `'value'`, a field of the
/// function's result (`integration.response.body.x`: text as it is, other JSON as JSON), a
/// header of Lambda's invoke answer. A mapping that finds nothing sends no header, as API
/// Gateway does.
pub fn response_headers(headers: &[(String, String)], payload: &Value) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(name, expr)| {
            let value =
                if let Some(fixed) = expr.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
                    fixed.to_string()
                } else if let Some(field) = expr.strip_prefix("integration.response.body.") {
                    match payload.get(field)? {
                        Value::String(s) => s.clone(),
                        Value::Null => return None,
                        other => other.to_string(),
                    }
                } else if let Some(h) = expr.strip_prefix("integration.response.header.") {
                    LAMBDA_HEADERS
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(h))?
                        .1
                        .to_string()
                } else {
                    return None;
                };
            Some((name.clone(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn routes() -> Vec<RouteSpec> {
        crate::stack::routes()
    }

    fn models() -> Vec<ModelSpec> {
        crate::stack::tests_support::spec().models
    }

    #[test]
    fn unique_items_are_checked_in_one_pass_over_a_large_body() {
        let schema = json!({"type": "array", "uniqueItems": true});
        let mut items: Vec<Value> = (0..100_000).map(|i| json!({"n": i})).collect();
        assert!(crate::draft4::accepts(
            &schema,
            &Value::Array(items.clone())
        ));
        items.push(json!({"n": 5}));
        assert!(!crate::draft4::accepts(&schema, &Value::Array(items)));
    }

    #[test]
    fn paths_match_the_deployed_urls() {
        let r = routes();
        assert_eq!(
            match_route(&r, "prod", "POST", "/prod/user")
                .unwrap()
                .route
                .http_method,
            "POST"
        );
        let m = match_route(&r, "prod", "GET", "/prod/user/a%20b%2Fc").unwrap();
        assert_eq!(m.params, vec![("uid".to_string(), "a b/c".to_string())]);
        for (method, path) in [
            ("GET", "/prod/user"),
            ("POST", "/prod/user/1"),
            ("GET", "/prod/user/"),
            ("GET", "/prod/user/1/2"),
            ("POST", "/user"),
            ("POST", "/production/user"),
            ("DELETE", "/prod/user/1"),
            ("GET", "/prod/user/%ZZ"),
        ] {
            assert!(
                match_route(&r, "prod", method, path).is_none(),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn url_encode_is_javas_url_encoder() {
        assert_eq!(url_encode("a b+c/é*~"), "a+b%2Bc%2F%C3%A9*%7E");
        assert_eq!(url_encode("Az09.-_"), "Az09.-_");
    }

    #[test]
    fn every_template_of_the_description_renders() {
        let path = [("uid".to_string(), "a\"b c".to_string())];
        let none = Incoming::default();
        for route in routes() {
            if let Some(t) = route.request_template {
                let out = vtl::render(&t, &none.vars(b"", &path)).unwrap();
                let v: Value = serde_json::from_str(&out).unwrap();
                assert_eq!(v["uid"], "a%22b+c", "{out}");
                assert_eq!(v["operation"], "getUser");
            }
            for r in &route.responses {
                if let Some(t) = &r.template {
                    let error = json!({"errorMessage": "BadRequest: \"x\"", "errorType": "E"});
                    let text = error.to_string();
                    let out = vtl::render(t, &none.vars(text.as_bytes(), &[])).unwrap();
                    let v: Value = serde_json::from_str(&out).unwrap();
                    assert!(v["message"].is_string(), "{out}");
                }
            }
        }
        assert!(vtl::render("$context.identity.caller", &none.vars(b"", &[])).is_err());
    }

    #[test]
    fn every_model_uses_only_keywords_serve_checks() {
        for m in models() {
            let schema: Value = serde_json::from_str(&m.schema).unwrap();
            assert!(
                crate::draft4::unchecked_keywords(&schema).is_empty(),
                "model {}",
                m.name
            );
        }
        let odd = json!({"type": "object", "properties": {"a": {"$ref": "#/x"}}});
        assert_eq!(crate::draft4::unchecked_keywords(&odd), ["$ref"]);
    }

    #[test]
    fn draft_4_keywords_are_checked() {
        let schema = json!({
            "type": "object",
            "required": ["sku", "qty"],
            "additionalProperties": false,
            "properties": {
                "sku": {"type": "string", "minLength": 3, "pattern": "^[A-Z]"},
                "qty": {"type": "integer", "minimum": 1, "maximum": 99},
                "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "uniqueItems": true}
            }
        });
        assert!(crate::draft4::accepts(
            &schema,
            &json!({"sku": "ABC", "qty": 2, "tags": ["a"]})
        ));
        for bad in [
            json!({"sku": "ABC"}),
            json!({"sku": "AB", "qty": 2}),
            json!({"sku": "abc", "qty": 2}),
            json!({"sku": "ABC", "qty": 0}),
            json!({"sku": "ABC", "qty": 1.5}),
            json!({"sku": "ABC", "qty": 2, "x": 1}),
            json!({"sku": "ABC", "qty": 2, "tags": ["c"]}),
            json!({"sku": "ABC", "qty": 2, "tags": ["a", "a"]}),
            json!([1]),
        ] {
            assert!(!crate::draft4::accepts(&schema, &bad), "{bad}");
        }
        let one = json!({"oneOf": [{"type": "string"}, {"minLength": 2}]});
        assert!(crate::draft4::accepts(&one, &json!("a")));
        assert!(!crate::draft4::accepts(&one, &json!("ab")));
    }

    #[test]
    fn the_post_model_takes_objects_without_an_operation() {
        let m = match_route(&routes(), "prod", "POST", "/prod/user").unwrap();
        let ok =
            request_event(&m, &models(), None, br#"{"uid":"1"}"#, &Incoming::default()).unwrap();
        assert_eq!(ok, json!({"uid": "1"}));
        for bad in [
            &b"{\"uid\":"[..],
            b"[1]",
            b"\"s\"",
            b"",
            b"{\"operation\":\"getUser\"}",
        ] {
            assert_eq!(
                request_event(
                    &m,
                    &models(),
                    Some("application/json; charset=utf-8"),
                    bad,
                    &Incoming::default()
                )
                .unwrap_err(),
                Answer::message(400, "Invalid request body")
            );
        }
    }

    #[test]
    fn get_hands_the_template_event_and_refuses_other_media_types() {
        let m = match_route(&routes(), "prod", "GET", "/prod/user/u%201").unwrap();
        assert_eq!(
            request_event(&m, &models(), None, b"", &Incoming::default()).unwrap(),
            json!({"operation": "getUser", "uid": "u+1"})
        );
        assert_eq!(
            request_event(&m, &models(), Some("text/plain"), b"", &Incoming::default())
                .unwrap_err()
                .status,
            415
        );
    }

    #[test]
    fn errors_map_through_the_selection_patterns() {
        let get = crate::stack::get_user_route();
        let err = |m: &str| {
            Outcome::Error(json!({"errorMessage": m, "errorType": "Error", "stackTrace": []}))
        };
        let cases = [
            ("BadRequest: uid is required", 400),
            ("NotFound: no user with uid \"x\"", 404),
            ("Internal: the request failed", 500),
            (
                "RequestId: 8f5a Error: Runtime exited with error: exit status 1",
                502,
            ),
            (
                "2026-11-27T10:00:00.000Z 8f5a Task timed out after 10.00 seconds",
                504,
            ),
        ];
        for (message, status) in cases {
            let a = respond(&get, &err(message), &Incoming::default());
            assert_eq!(a.status, status, "{message}");
            let v: Value = serde_json::from_slice(&a.body).unwrap();
            assert!(v["message"].is_string(), "{}", a.text());
        }
        // The message itself is what 400 / 404 / 500 return.
        assert_eq!(
            respond(&get, &err("NotFound: no user"), &Incoming::default()).text(),
            r#"{"message": "NotFound: no user"}"#
        );
        // An error no pattern selects: the default response, the error passed through.
        let a = respond(&get, &err("boom"), &Incoming::default());
        assert_eq!(a.status, 200);
        assert_eq!(
            serde_json::from_slice::<Value>(&a.body).unwrap()["errorMessage"],
            "boom"
        );
        // The patterns match whole messages only.
        assert_eq!(
            respond(&get, &err("x BadRequest: y"), &Incoming::default()).status,
            200
        );
        // A result passes through.
        let ok = respond(
            &get,
            &Outcome::Result(json!({"uid": "1"})),
            &Incoming::default(),
        );
        assert_eq!((ok.status, ok.text().as_str()), (200, r#"{"uid":"1"}"#));
        // POST has no 404.
        assert_eq!(
            respond(
                &crate::stack::post_user_route(),
                &err("NotFound: x"),
                &Incoming::default()
            )
            .status,
            200
        );
    }

    #[test]
    fn the_most_specific_route_wins_and_any_and_greedy_paths_are_served() {
        let r = |method: &str, path: &str| {
            let mut x = crate::stack::post_user_route();
            x.http_method = method.into();
            x.path = path.into();
            x
        };
        let routes = [
            r("ANY", "/{proxy+}"),
            r("GET", "/"),
            r("POST", "/"),
            r("GET", "/items/{id}"),
            r("ANY", "/items/{id}"),
            r("GET", "/items/special"),
        ];
        let at = |method: &str, path: &str| {
            match_route(&routes, "prod", method, path).map(|m| (m.route.label(), m.params))
        };
        let p = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert_eq!(at("GET", "/prod"), Some(("GET /".into(), vec![])));
        assert_eq!(at("POST", "/prod/"), Some(("POST /".into(), vec![])));
        // Nothing else takes DELETE on the root: the greedy path needs a segment.
        assert_eq!(at("DELETE", "/prod"), None);
        assert_eq!(
            at("GET", "/prod/items/special"),
            Some(("GET /items/special".into(), vec![]))
        );
        assert_eq!(
            at("GET", "/prod/items/7"),
            Some(("GET /items/{id}".into(), p("id", "7")))
        );
        assert_eq!(
            at("PATCH", "/prod/items/7"),
            Some(("ANY /items/{id}".into(), p("id", "7")))
        );
        assert_eq!(
            at("PUT", "/prod/a/b%20c/d"),
            Some(("ANY /{proxy+}".into(), p("proxy", "a/b c/d")))
        );
        assert_eq!(
            at("GET", "/prod/items/7/x"),
            Some(("ANY /{proxy+}".into(), p("proxy", "items/7/x")))
        );
        assert_eq!(at("GET", "/prod/a//b"), None);
        assert_eq!(at("GET", "/other/items/7"), None);
    }

    #[test]
    fn a_catch_all_takes_every_error_the_others_do_not() {
        let others = [
            crate::stack::BAD_REQUEST_PATTERN,
            crate::stack::TIMED_OUT_PATTERN,
        ];
        let c = crate::stack::unmatched_pattern(&others);
        assert_eq!(
            c,
            r"(?s)(?!(?:(?:BadRequest:.*)|(?:(?s).*Task timed out after .*))\z).+"
        );
        for (m, caught) in [
            ("Cannot read properties of undefined", true),
            ("line one\nline two", true),
            ("BadRequest: no uid", false),
            (
                "2026-01-01T00:00:00.000Z id Task timed out after 3.00 seconds",
                false,
            ),
            ("x BadRequest: no uid", true),
            // A successful answer has no error message: never the catch-all's.
            ("", false),
        ] {
            assert_eq!(pattern_matches(&c, m), caught, "{m:?}");
            let other = others.iter().any(|p| pattern_matches(p, m));
            assert!(!(caught && other), "{m:?} is selected twice");
        }
    }

    #[test]
    fn no_two_patterns_of_a_route_select_the_same_message() {
        let samples = [
            "BadRequest: x",
            "NotFound: x",
            "Internal: x",
            "RequestId: 1 Error: Runtime exited with error: signal: killed",
            "2026-01-01T00:00:00.000Z 1 Task timed out after 1.00 seconds",
        ];
        for route in routes() {
            for s in samples {
                let hits = route
                    .responses
                    .iter()
                    .filter(|r| {
                        r.selection_pattern
                            .as_ref()
                            .is_some_and(|p| pattern_matches(p, s))
                    })
                    .count();
                assert!(hits <= 1, "{} {s}", route.label());
            }
        }
    }
}
