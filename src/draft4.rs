//! JSON Schema draft 4, as API Gateway takes it, in one place: whether a model is a draft 4
//! document (every keyword of the draft has the type the draft's meta-schema gives it,
//! recursively; the stack file's checks), and whether a body is valid against it (serve's
//! request validation). (The emulator's API Gateway keeps a model as text and checks
//! nothing; AWS refuses a model it cannot parse as draft 4.)

use regex_lite::Regex;
use serde_json::Value;

const TYPES: [&str; 7] = [
    "array", "boolean", "integer", "null", "number", "object", "string",
];

/// `Ok` for a valid draft 4 schema; else what is wrong, and where (`properties.age.type`).
pub fn check(schema: &Value) -> Result<(), String> {
    walk(schema, "", true)
}

fn at(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Keywords whose value only has to be of one shape: the check, and what it must be.
type Rule = (fn(&Value) -> bool, &'static str);

fn simple_rule(keyword: &str) -> Option<Rule> {
    Some(match keyword {
        "id" | "$ref" | "title" | "description" | "format" => (Value::is_string, "a string"),
        "multipleOf" => (|x| x.as_f64().is_some_and(|n| n > 0.0), "a number above 0"),
        "maximum" | "minimum" => (Value::is_number, "a number"),
        "exclusiveMaximum" | "exclusiveMinimum" | "uniqueItems" => {
            (Value::is_boolean, "true or false (draft 4)")
        }
        "maxLength" | "minLength" | "maxItems" | "minItems" | "maxProperties" | "minProperties" => {
            (|x| x.as_u64().is_some(), "a whole number, 0 or more")
        }
        "enum" => (
            |x| x.as_array().is_some_and(|a| !a.is_empty()),
            "a non-empty list",
        ),
        _ => return None,
    })
}

fn walk(v: &Value, path: &str, root: bool) -> Result<(), String> {
    let Some(obj) = v.as_object() else {
        return Err(format!(
            "{}: a schema must be a JSON object",
            if path.is_empty() { "the model" } else { path }
        ));
    };
    for (k, x) in obj {
        let here = at(path, k);
        if let Some((ok, want)) = simple_rule(k) {
            if !ok(x) {
                return Err(format!("{here}: must be {want}"));
            }
            continue;
        }
        match k.as_str() {
            "$schema" => {
                let ok = x.as_str().is_some_and(|s| {
                    s.trim_end_matches('#') == "http://json-schema.org/draft-04/schema"
                });
                if !ok || !root {
                    return Err(format!(
                        "{here}: must be \"http://json-schema.org/draft-04/schema#\" (API Gateway takes draft 4), and only at the top"
                    ));
                }
            }
            "pattern" => {
                let s = x.as_str().ok_or_else(|| format!("{here}: must be a string"))?;
                regex_lite::Regex::new(s)
                    .map_err(|e| format!("{here}: '{s}' is not a valid regex ({e})"))?;
            }
            "type" => {
                let one = |t: &Value| t.as_str().is_some_and(|t| TYPES.contains(&t));
                let ok = match x {
                    Value::Array(ts) => !ts.is_empty() && ts.iter().all(one),
                    t => one(t),
                };
                if !ok {
                    return Err(format!(
                        "{here}: must be one of {} (or a list of them)",
                        TYPES.join(", ")
                    ));
                }
            }
            "required" => {
                let ok = x.as_array().is_some_and(|a| {
                    !a.is_empty()
                        && a.iter().all(Value::is_string)
                        && a.iter().filter_map(Value::as_str).collect::<std::collections::BTreeSet<_>>().len() == a.len()
                });
                if !ok {
                    return Err(format!(
                        "{here}: must be a non-empty list of distinct property names"
                    ));
                }
            }
            "additionalProperties" | "additionalItems" if !x.is_boolean() => {
                walk(x, &here, false)?
            }
            "items" => match x {
                Value::Array(list) => {
                    for (i, s) in list.iter().enumerate() {
                        walk(s, &format!("{here}[{i}]"), false)?;
                    }
                }
                _ => walk(x, &here, false)?,
            },
            "properties" | "patternProperties" | "definitions" => {
                let m = x
                    .as_object()
                    .ok_or_else(|| format!("{here}: must be an object of schemas"))?;
                for (name, s) in m {
                    if k == "patternProperties" {
                        regex_lite::Regex::new(name).map_err(|e| {
                            format!("{here}: '{name}' is not a valid regex ({e})")
                        })?;
                    }
                    walk(s, &at(&here, name), false)?;
                }
            }
            "dependencies" => {
                let m = x
                    .as_object()
                    .ok_or_else(|| format!("{here}: must be an object"))?;
                for (name, d) in m {
                    match d {
                        Value::Array(a) if a.iter().all(Value::is_string) => {}
                        Value::Object(_) => walk(d, &at(&here, name), false)?,
                        _ => {
                            return Err(format!(
                                "{}: must be a schema or a list of property names",
                                at(&here, name)
                            ))
                        }
                    }
                }
            }
            "allOf" | "anyOf" | "oneOf" => {
                let a = x
                    .as_array()
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| format!("{here}: must be a non-empty list of schemas"))?;
                for (i, s) in a.iter().enumerate() {
                    walk(s, &format!("{here}[{i}]"), false)?;
                }
            }
            "not" => walk(x, &here, false)?,
            // Keywords of later drafts change meaning or are ignored by draft 4: refused, so
            // a model does not silently check less than its author meant.
            "const" | "contains" | "propertyNames" | "if" | "then" | "else" | "$defs"
            | "examples" | "$id" | "$comment" => {
                return Err(format!(
                    "{here}: '{k}' is not a draft 4 keyword (API Gateway would ignore it); rewrite it in draft 4 terms"
                ))
            }
            // Unknown keywords are allowed by the draft (and ignored).
            _ => {}
        }
    }
    Ok(())
}

/// Draft 4 keywords an OpenAPI 3.0 Schema Object does not have (OpenAPI 3.0.3, "Schema
/// Object"): a document that carries them is refused by API Gateway's import with
/// failonwarnings, or loses them without it.
const NOT_IN_OAS30: [&str; 5] = [
    "patternProperties",
    "dependencies",
    "additionalItems",
    "definitions",
    "id",
];

/// What a draft 4 model holds that an OpenAPI 3.0 document cannot carry, each with where it
/// is (`properties.tags.type`); empty when the model goes into a document as it is. `models`
/// are the file's model names, which a `$ref` to `#/components/schemas/NAME` may name.
pub fn oas30_problems(schema: &Value, models: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    oas30_walk(schema, "", models, &mut out);
    out
}

fn oas30_walk(v: &Value, path: &str, models: &[&str], out: &mut Vec<String>) {
    let Some(obj) = v.as_object() else {
        return;
    };
    for (k, x) in obj {
        let here = at(path, k);
        match k.as_str() {
            k if NOT_IN_OAS30.contains(&k) => out.push(format!(
                "{here}: not a keyword of OpenAPI 3.0's schemas"
            )),
            "type" if x.is_array() => out.push(format!(
                "{here}: OpenAPI 3.0 takes one type (a list of types is draft 4's; use one type, with \"nullable\": true for null)"
            )),
            "type" if x.as_str() == Some("null") => out.push(format!(
                "{here}: \"null\" is not a type in OpenAPI 3.0 (use \"nullable\": true beside the type)"
            )),
            "items" if x.is_array() => out.push(format!(
                "{here}: OpenAPI 3.0 takes one schema for items, not a list"
            )),
            "$ref" => {
                let named = x
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    .is_some_and(|n| models.contains(&n));
                if !named {
                    out.push(format!(
                        "{here}: a document resolves $ref against itself: name another model as #/components/schemas/NAME"
                    ));
                }
            }
            _ => {}
        }
        match x {
            Value::Object(_) if !matches!(k.as_str(), "enum" | "default") => {
                oas30_walk(x, &here, models, out)
            }
            Value::Array(items) if matches!(k.as_str(), "allOf" | "anyOf" | "oneOf" | "items") => {
                for (i, item) in items.iter().enumerate() {
                    oas30_walk(item, &format!("{here}[{i}]"), models, out);
                }
            }
            _ => {}
        }
    }
}

/// The draft 4 keywords serve checks a body against (`SERVE_IGNORES` are annotations).
pub const SCHEMA_KEYWORDS: [&str; 24] = [
    "type",
    "enum",
    "required",
    "properties",
    "patternProperties",
    "additionalProperties",
    "minProperties",
    "maxProperties",
    "items",
    "additionalItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "allOf",
    "anyOf",
    "oneOf",
];
const SERVE_IGNORES: [&str; 6] = [
    "$schema",
    "title",
    "description",
    "id",
    "format",
    "definitions",
];

/// Keywords of a schema that serve does not check (AWS does): said once when serve starts.
pub fn unchecked_keywords(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        let Some(obj) = v.as_object() else { return };
        for (k, sub) in obj {
            if k == "not" {
                walk(sub, out);
            } else if !SCHEMA_KEYWORDS.contains(&k.as_str()) && !SERVE_IGNORES.contains(&k.as_str())
            {
                if !out.contains(k) {
                    out.push(k.clone());
                }
            } else {
                match sub {
                    Value::Object(m)
                        if matches!(k.as_str(), "properties" | "patternProperties") =>
                    {
                        m.values().for_each(|s| walk(s, out))
                    }
                    Value::Object(_) => walk(sub, out),
                    Value::Array(a) => a.iter().for_each(|s| walk(s, out)),
                    _ => {}
                }
            }
        }
    }
    walk(schema, &mut out);
    out
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

/// Whether a value (a request body) is valid against a schema, for the keywords in
/// [`SCHEMA_KEYWORDS`] (serve's check of a method's request model).
pub fn accepts(schema: &Value, v: &Value) -> bool {
    let Some(obj) = schema.as_object() else {
        return false;
    };
    let num = |k: &str| obj.get(k).and_then(Value::as_f64);
    let count = |k: &str| obj.get(k).and_then(Value::as_u64);
    match obj.get("type") {
        Some(Value::String(t)) if !type_ok(t, v) => return false,
        Some(Value::Array(ts)) if !ts.iter().filter_map(Value::as_str).any(|t| type_ok(t, v)) => {
            return false
        }
        _ => {}
    }
    if let Some(e) = obj.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            return false;
        }
    }
    for (k, all) in [("allOf", true), ("anyOf", false)] {
        if let Some(list) = obj.get(k).and_then(Value::as_array) {
            let ok = if all {
                list.iter().all(|s| accepts(s, v))
            } else {
                list.iter().any(|s| accepts(s, v))
            };
            if !ok {
                return false;
            }
        }
    }
    if let Some(list) = obj.get("oneOf").and_then(Value::as_array) {
        if list.iter().filter(|s| accepts(s, v)).count() != 1 {
            return false;
        }
    }
    if let Some(not) = obj.get("not") {
        if accepts(not, v) {
            return false;
        }
    }
    if let Some(s) = v.as_str() {
        let len = s.chars().count() as u64;
        if count("minLength").is_some_and(|m| len < m)
            || count("maxLength").is_some_and(|m| len > m)
        {
            return false;
        }
        if let Some(p) = obj.get("pattern").and_then(Value::as_str) {
            if !Regex::new(p).is_ok_and(|re| re.is_match(s)) {
                return false;
            }
        }
    }
    if let Some(n) = v.as_f64() {
        let excl = |k: &str| obj.get(k).and_then(Value::as_bool).unwrap_or(false);
        if let Some(m) = num("minimum") {
            if n < m || (excl("exclusiveMinimum") && n == m) {
                return false;
            }
        }
        if let Some(m) = num("maximum") {
            if n > m || (excl("exclusiveMaximum") && n == m) {
                return false;
            }
        }
        if let Some(m) = num("multipleOf") {
            if m > 0.0 && ((n / m) - (n / m).round()).abs() > 1e-9 {
                return false;
            }
        }
    }
    if let Some(a) = v.as_array() {
        let len = a.len() as u64;
        if count("minItems").is_some_and(|m| len < m) || count("maxItems").is_some_and(|m| len > m)
        {
            return false;
        }
        // Each item once, by its text (serde_json's maps keep keys sorted, so equal values
        // read alike): linear, where comparing every pair made two large bodies stall every
        // request for seconds.
        if obj.get("uniqueItems").and_then(Value::as_bool) == Some(true) {
            let mut seen = std::collections::HashSet::with_capacity(a.len());
            if !a.iter().all(|x| seen.insert(x.to_string())) {
                return false;
            }
        }
        match obj.get("items") {
            Some(Value::Array(tuple)) => {
                for (i, x) in a.iter().enumerate() {
                    let ok = match tuple.get(i) {
                        Some(s) => accepts(s, x),
                        None => match obj.get("additionalItems") {
                            Some(Value::Bool(b)) => *b,
                            Some(s) => accepts(s, x),
                            None => true,
                        },
                    };
                    if !ok {
                        return false;
                    }
                }
            }
            Some(s) if !a.iter().all(|x| accepts(s, x)) => return false,
            _ => {}
        }
    }
    if let Some(o) = v.as_object() {
        let len = o.len() as u64;
        if count("minProperties").is_some_and(|m| len < m)
            || count("maxProperties").is_some_and(|m| len > m)
        {
            return false;
        }
        if let Some(req) = obj.get("required").and_then(Value::as_array) {
            if !req
                .iter()
                .filter_map(Value::as_str)
                .all(|k| o.contains_key(k))
            {
                return false;
            }
        }
        let props = obj.get("properties").and_then(Value::as_object);
        let patterns: Vec<(Regex, &Value)> = obj
            .get("patternProperties")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(p, s)| Regex::new(p).ok().map(|re| (re, s)))
                    .collect()
            })
            .unwrap_or_default();
        for (k, x) in o {
            let mut covered = false;
            if let Some(sub) = props.and_then(|p| p.get(k)) {
                covered = true;
                if !accepts(sub, x) {
                    return false;
                }
            }
            for (re, sub) in &patterns {
                if re.is_match(k) {
                    covered = true;
                    if !accepts(sub, x) {
                        return false;
                    }
                }
            }
            if !covered {
                match obj.get("additionalProperties") {
                    Some(Value::Bool(false)) => return false,
                    Some(s @ Value::Object(_)) if !accepts(s, x) => return false,
                    _ => {}
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_tutorials_model_is_draft_4() {
        let v: Value = serde_json::from_str(crate::stack::USER_MODEL_SCHEMA).unwrap();
        check(&v).unwrap();
    }

    #[test]
    fn wrong_keywords_are_named() {
        for (bad, word) in [
            (json!({"type": "strng"}), "type"),
            (
                json!({"properties": {"age": {"type": 3}}}),
                "properties.age.type",
            ),
            (json!({"required": []}), "required"),
            (
                json!({"$schema": "https://json-schema.org/draft/2020-12/schema"}),
                "$schema",
            ),
            (json!({"exclusiveMinimum": 3}), "exclusiveMinimum"),
            (json!({"const": 3}), "const"),
            (json!({"items": [{"minLength": -1}]}), "items[0].minLength"),
            (json!([1]), "the model"),
            (json!({"pattern": "("}), "pattern"),
        ] {
            let e = check(&bad).unwrap_err();
            assert!(e.starts_with(word), "{bad}: {e}");
        }
    }
}
