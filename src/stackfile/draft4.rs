//! Checks that a model is a JSON Schema draft 4 document, as API Gateway takes it: every
//! keyword of the draft has the type the draft's meta-schema gives it, recursively. (The
//! emulator's API Gateway keeps a model as text and checks nothing; AWS refuses a model it
//! cannot parse as draft 4.)

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
