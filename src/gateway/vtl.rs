//! The part of API Gateway's mapping-template language (Velocity) this tool renders: the
//! references a template uses to build an event or a response. The stack file's check
//! refuses a template that uses anything else ([`check`]), so every template a stack deploys
//! is one serve renders the same way ([`render`]). Pure: no I/O.
//!
//! Rendered: `$input.json('$')` and `$input.json('$.a.b')` (JSON), `$input.path('$.a')` (a
//! string as it is, other JSON as JSON), `$input.body`, `$input.params('x')` (a path
//! parameter, else a query string parameter, else a header), `$context.<name>` (the names in
//! [`CONTEXT`], and `authorizer.<name>` / `authorizer.claims.<name>`: what the method's
//! authorizer handed on), `$stageVariables.<name>` (none are set: empty), and `$util.urlEncode`,
//! `urlDecode`, `escapeJavaScript`, `base64Encode`, `base64Decode` of one of those.
//! Directives (`#set`, `#if`, `#foreach`) and other references are refused.

use base64::Engine;
use regex_lite::{Captures, Regex};
use serde_json::Value;

/// The `$context` variables rendered.
pub const CONTEXT: [&str; 11] = [
    "requestId",
    "extendedRequestId",
    "stage",
    "httpMethod",
    "resourcePath",
    "path",
    "accountId",
    "apiId",
    "domainName",
    "requestTimeEpoch",
    "identity.sourceIp",
];
/// Also rendered: `$context.identity.userAgent`.
const USER_AGENT: &str = "identity.userAgent";

const UTILS: [&str; 5] = [
    "urlEncode",
    "urlDecode",
    "escapeJavaScript",
    "base64Encode",
    "base64Decode",
];

/// What a template can read.
pub struct Vars<'a> {
    /// The payload `$input` reads: the request's body, or the function's answer (JSON text).
    pub body: &'a [u8],
    /// Path parameters (decoded), the query string's parameters, the headers.
    pub path_params: &'a [(String, String)],
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    /// `$context`'s values, by name.
    pub context: &'a [(&'static str, String)],
    /// `$context.authorizer.<name>` and `$context.authorizer.claims.<name>`.
    pub authorizer: &'a [(String, String)],
}

fn reference() -> Regex {
    Regex::new(concat!(
        r"\$util\.([A-Za-z0-9]+)\(\s*(\$[^()]*(?:\([^()]*\))?)\s*\)",
        r"|\$input\.(json|path|params)\('([^']*)'\)",
        r"|\$input\.body\b",
        r"|\$context\.(authorizer\.(?:claims\.)?[A-Za-z0-9_]+|[A-Za-z]+(?:\.[A-Za-z]+)?)",
        r"|\$stageVariables\.([A-Za-z0-9_]+)",
    ))
    .expect("a valid pattern")
}

/// Why serve cannot render a template the way API Gateway does (`None`: it can).
pub fn check(template: &str) -> Result<(), String> {
    let re = reference();
    let mut problem = None;
    let rest = re.replace_all(template, |c: &Captures| {
        if problem.is_none() {
            problem = known(c).err();
        }
        ""
    });
    if let Some(p) = problem {
        return Err(p);
    }
    let left = Regex::new(r"\$!?\{?[A-Za-z]|#[A-Za-z]").expect("a valid pattern");
    if let Some(m) = left.find(&rest) {
        let tail: String = rest[m.start()..].chars().take(24).collect();
        return Err(format!(
            "the template uses {tail:?}, which serve cannot render as API Gateway does; a template may use $input.json('$...'), $input.path('$...'), $input.body, $input.params('x'), $context.<name>, $stageVariables.<name> and $util.urlEncode/urlDecode/escapeJavaScript/base64Encode/base64Decode of one of those, and no directives (#set, #if, #foreach)"
        ));
    }
    Ok(())
}

/// Whether a matched reference is one this renders.
fn known(c: &Captures) -> Result<(), String> {
    if let Some(util) = c.get(1) {
        if !UTILS.contains(&util.as_str()) {
            return Err(format!(
                "$util.{} is not rendered by serve; use one of {}",
                util.as_str(),
                UTILS.join(", ")
            ));
        }
        let inner = c.get(2).map_or("", |m| m.as_str());
        let re = reference();
        return match re.captures(inner) {
            Some(ic) if ic.get(0).map(|m| m.as_str()) == Some(inner) && ic.get(1).is_none() => {
                known(&ic)
            }
            _ => Err(format!(
                "$util.{}({inner}): its argument must be one $input, $context or $stageVariables reference",
                util.as_str()
            )),
        };
    }
    if let (Some(f), Some(arg)) = (c.get(3), c.get(4)) {
        let arg = arg.as_str();
        return match f.as_str() {
            "params" if !arg.is_empty() => Ok(()),
            "json" | "path" if json_path(arg).is_some() => Ok(()),
            _ => Err(format!(
                "$input.{}('{arg}'): serve renders a JSONPath of fields ('$', '$.a.b') and a named parameter",
                f.as_str()
            )),
        };
    }
    if let Some(name) = c.get(5) {
        let name = name.as_str();
        if !CONTEXT.contains(&name) && name != USER_AGENT && !name.starts_with("authorizer.") {
            return Err(format!(
                "$context.{name} is not rendered by serve; it renders {} and authorizer.<name>",
                CONTEXT.join(", ")
            ));
        }
    }
    Ok(())
}

/// `$.a.b` as its fields (`$`: none).
fn json_path(p: &str) -> Option<Vec<&str>> {
    let rest = p.strip_prefix('$')?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let fields: Vec<&str> = rest.strip_prefix('.')?.split('.').collect();
    fields
        .iter()
        .all(|f| !f.is_empty() && f.chars().all(|c| c.is_alphanumeric() || c == '_'))
        .then_some(fields)
}

/// Renders a template (one [`check`] accepts; anything else is an error).
pub fn render(template: &str, v: &Vars) -> Result<String, String> {
    check(template)?;
    let payload = || -> Value {
        if v.body.iter().all(u8::is_ascii_whitespace) {
            // API Gateway's `$input.json('$')` of an empty body.
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(v.body).unwrap_or(Value::Null)
        }
    };
    let re = reference();
    let mut failed = None;
    let out = re.replace_all(template, |c: &Captures| {
        value_of(c, v, &payload).unwrap_or_else(|e| {
            failed.get_or_insert(e);
            String::new()
        })
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(out.into_owned()),
    }
}

fn value_of(c: &Captures, v: &Vars, payload: &dyn Fn() -> Value) -> Result<String, String> {
    if let (Some(util), Some(inner)) = (c.get(1), c.get(2)) {
        let re = reference();
        let ic = re
            .captures(inner.as_str())
            .ok_or("an argument serve does not render")?;
        let arg = value_of(&ic, v, payload)?;
        return Ok(match util.as_str() {
            "urlEncode" => super::url_encode(&arg),
            "urlDecode" => super::percent_decode(&arg.replace('+', " ")).unwrap_or(arg),
            "escapeJavaScript" => escape_javascript(&arg),
            "base64Encode" => base64::engine::general_purpose::STANDARD.encode(arg),
            "base64Decode" => base64::engine::general_purpose::STANDARD
                .decode(arg.trim())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|_| "$util.base64Decode of text that is not base64")?,
            other => return Err(format!("$util.{other} is not rendered")),
        });
    }
    if let (Some(f), Some(arg)) = (c.get(3), c.get(4)) {
        let arg = arg.as_str();
        return Ok(match f.as_str() {
            "params" => {
                let find = |list: &[(String, String)], ci: bool| {
                    list.iter()
                        .rev()
                        .find(|(k, _)| {
                            if ci {
                                k.eq_ignore_ascii_case(arg)
                            } else {
                                k == arg
                            }
                        })
                        .map(|(_, x)| x.clone())
                };
                find(v.path_params, false)
                    .or_else(|| find(v.query, false))
                    .or_else(|| find(v.headers, true))
                    .unwrap_or_default()
            }
            kind => {
                let mut at = payload();
                for field in json_path(arg).ok_or("a JSONPath serve does not render")? {
                    at = at.get(field).cloned().unwrap_or(Value::Null);
                }
                match (kind, at) {
                    ("path", Value::String(s)) => s,
                    (_, x) => x.to_string(),
                }
            }
        });
    }
    if let Some(name) = c.get(5) {
        let name = name.as_str();
        if let Some(a) = name.strip_prefix("authorizer.") {
            return Ok(v
                .authorizer
                .iter()
                .find(|(k, _)| k == a)
                .map(|(_, x)| x.clone())
                .unwrap_or_default());
        }
        return Ok(v
            .context
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, x)| x.clone())
            .unwrap_or_default());
    }
    if c.get(6).is_some() {
        // The stage has no variables.
        return Ok(String::new());
    }
    // `$input.body`.
    Ok(String::from_utf8_lossy(v.body).into_owned())
}

/// Java's `StringEscapeUtils.escapeJavaScript`, which `$util.escapeJavaScript` is: quotes,
/// backslash and `/` escaped, control characters as `\n`-style or `\uXXXX`, and every
/// character past ASCII as `\uXXXX` (UTF-16).
pub fn escape_javascript(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7f => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(
        body: &'a [u8],
        path: &'a [(String, String)],
        query: &'a [(String, String)],
        headers: &'a [(String, String)],
        context: &'a [(&'static str, String)],
    ) -> Vars<'a> {
        Vars {
            body,
            path_params: path,
            query,
            headers,
            context,
            authorizer: &[],
        }
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_reference_check_accepts_renders() {
        let path = pairs(&[("id", "a b")]);
        let query = pairs(&[("q", "x&y"), ("id", "shadowed")]);
        let headers = pairs(&[("x-trace", "t1")]);
        let context = [
            ("requestId", "r-1".to_string()),
            ("stage", "prod".to_string()),
            ("identity.sourceIp", "127.0.0.1".to_string()),
        ];
        let body = br#"{"user": {"name": "Ada \"L\"", "age": 36}, "tags": ["a"]}"#;
        let v = vars(body, &path, &query, &headers, &context);
        let cases = [
            ("$input.params('id')", "a b"),
            ("$input.params('q')", "x&y"),
            ("$input.params('X-Trace')", "t1"),
            ("$input.params('none')", ""),
            ("$util.urlEncode($input.params('id'))", "a+b"),
            ("$util.urlDecode($input.params('q'))", "x&y"),
            ("$input.json('$.user.name')", r#""Ada \"L\"""#),
            ("$input.json('$.user.age')", "36"),
            ("$input.json('$.missing')", "null"),
            ("$input.path('$.user.name')", "Ada \"L\""),
            ("$input.path('$.tags')", r#"["a"]"#),
            (
                "$util.escapeJavaScript($input.path('$.user.name'))",
                r#"Ada \"L\""#,
            ),
            ("$util.base64Encode($input.params('id'))", "YSBi"),
            ("$context.requestId/$context.stage", "r-1/prod"),
            ("$context.identity.sourceIp", "127.0.0.1"),
            ("[$stageVariables.env]", "[]"),
            ("$input.body", std::str::from_utf8(body).unwrap()),
        ];
        for (t, want) in cases {
            assert!(check(t).is_ok(), "{t}");
            assert_eq!(render(t, &v).unwrap(), want, "{t}");
        }
        // An empty body is `{}` to $input.json('$').
        let empty = vars(b"", &path, &query, &headers, &context);
        assert_eq!(render("$input.json('$')", &empty).unwrap(), "{}");
    }

    #[test]
    fn what_serve_cannot_render_is_refused_by_name() {
        for (t, says) in [
            ("#set($x = 1)$x", "#set"),
            ("#if($input.body)x#end", "#if"),
            ("$context.authorizer", "$context.authorizer"),
            ("$util.parseJson($input.body)", "$util.parseJson"),
            ("$input.json('$.a[0]')", "JSONPath"),
            ("$input.params()", "$input.params()"),
            ("${input.body}", "${input"),
            ("$util.urlEncode('x')", "$util.urlEncode"),
        ] {
            let e = check(t).unwrap_err();
            assert!(e.contains(says), "{t}: {e}");
        }
        // Text that is not a reference passes.
        assert!(check(r##"{"price": "$5", "hash": "#1"}"##).is_ok());
    }

    #[test]
    fn escape_javascript_is_javas() {
        assert_eq!(
            escape_javascript("it's \"a\"/b\\c\n\té"),
            r#"it\'s \"a\"\/b\\c\n\t\u00E9"#
        );
        assert_eq!(escape_javascript("😀"), r"\uD83D\uDE00");
    }
}
