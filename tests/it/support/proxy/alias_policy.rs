//! Lambda's resource policies per alias, as AWS keeps them, where moto is kinder
//! (docs/rollback.md, "What the tests put back"): each alias of a function has a policy of its
//! own, and a call through the alias is allowed only by the alias's. moto 5.2.5 keeps one
//! policy for a function and all its versions (AddPermission with an alias qualifier lands in
//! the function's own, RemovePermission ignores the qualifier), so a statement put on the
//! function would wrongly show in the alias's policy. The proxy therefore answers
//! AddPermission, GetPolicy and RemovePermission with an alias qualifier itself, from policies
//! it keeps per (function, alias), after asking moto whether the alias exists; DeleteAlias and
//! DeleteFunction take those policies with them.

use super::*;

#[derive(Default)]
pub(crate) struct AliasPolicies {
    /// (function name, alias) -> its statements, in the order they were added.
    policies: std::collections::HashMap<(String, String), Vec<Value>>,
}

use serde_json::Value;

use super::percent_decode as decode;

/// The function's name in `/2015-03-31/functions/{name}/...` (a name or an ARN).
fn function_of(path: &str) -> Option<String> {
    let name = decode(path.trim_matches('/').split('/').nth(2)?);
    Some(match name.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or_default().to_string(),
        None => name,
    })
}

/// The (function, alias) a policy call names with `?Qualifier=ALIAS` (not a version number
/// or `$LATEST`, which moto answers as AWS does).
pub(crate) fn aliased(call: &Call, query: &str) -> Option<(String, String)> {
    if call.service != "lambda"
        || !matches!(
            call.operation.as_str(),
            "AddPermission" | "GetPolicy" | "RemovePermission"
        )
    {
        return None;
    }
    let qualifier = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("Qualifier="))
        .map(decode)?;
    if qualifier.is_empty()
        || qualifier == "$LATEST"
        || qualifier.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    Some((function_of(&call.path)?, qualifier))
}

fn json_response(status: u16, body: Value) -> Response<Full<Bytes>> {
    let b = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", "proxy-alias-policy");
    b.body(Full::new(Bytes::from(if status == 204 {
        String::new()
    } else {
        body.to_string()
    })))
    .unwrap()
}

/// Answers a policy call on an alias as Lambda does.
pub(crate) async fn answer(
    shared: &Shared,
    call: &Call,
    (function, alias): (String, String),
    body: &Bytes,
    to_moto: &super::import::Upstream<'_>,
) -> Response<Full<Bytes>> {
    let exists = to_moto
        .call(
            "GET",
            &format!("/2015-03-31/functions/{function}/aliases/{alias}"),
            None,
        )
        .await;
    let Some(found) = exists else {
        return error_response(
            call,
            404,
            "ResourceNotFoundException",
            &format!("Function not found: {function}:{alias}"),
            None,
        );
    };
    let alias_arn = found["AliasArn"].as_str().unwrap_or_default().to_string();
    let key = (function.clone(), alias.clone());
    let mut all = shared.alias_policies.lock().unwrap();
    let statements = all.policies.entry(key.clone()).or_default();
    match call.operation.as_str() {
        "AddPermission" => {
            let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let sid = req["StatementId"].as_str().unwrap_or_default().to_string();
            if statements.iter().any(|s| s["Sid"] == sid.as_str()) {
                return error_response(
                    call,
                    409,
                    "ResourceConflictException",
                    &format!("The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement."),
                    None,
                );
            }
            let mut statement = serde_json::json!({
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"Service": req["Principal"]},
                "Action": req["Action"],
                "Resource": alias_arn,
            });
            if let Some(source) = req["SourceArn"].as_str() {
                statement["Condition"] = serde_json::json!({"ArnLike": {"AWS:SourceArn": source}});
            }
            statements.push(statement.clone());
            json_response(201, serde_json::json!({"Statement": statement.to_string()}))
        }
        "GetPolicy" => {
            if statements.is_empty() {
                return error_response(
                    call,
                    404,
                    "ResourceNotFoundException",
                    "The resource you requested does not exist.",
                    None,
                );
            }
            let policy = serde_json::json!({"Version": "2012-10-17", "Id": "default", "Statement": statements});
            json_response(
                200,
                serde_json::json!({"Policy": policy.to_string(), "RevisionId": "proxy"}),
            )
        }
        _ => {
            let sid = decode(call.path.rsplit('/').next().unwrap_or_default());
            let before = statements.len();
            statements.retain(|s| s["Sid"] != sid.as_str());
            if statements.len() == before {
                return error_response(
                    call,
                    404,
                    "ResourceNotFoundException",
                    &format!("Statement {sid} is not found in resource policy."),
                    None,
                );
            }
            json_response(204, Value::Null)
        }
    }
}

/// After moto deleted an alias or a whole function: its policies go with it.
pub(crate) fn forget(shared: &Shared, call: &Call, query: &str) {
    if call.service != "lambda" {
        return;
    }
    let Some(function) = function_of(&call.path) else {
        return;
    };
    let mut all = shared.alias_policies.lock().unwrap();
    match call.operation.as_str() {
        "DeleteAlias" => {
            let alias = decode(call.path.rsplit('/').next().unwrap_or_default());
            all.policies.remove(&(function, alias));
        }
        "DeleteFunction" if !query.contains("Qualifier=") => {
            all.policies.retain(|(f, _), _| *f != function);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(op: &str, path: &str) -> Call {
        Call {
            service: "lambda".into(),
            operation: op.into(),
            method: "GET".into(),
            path: path.into(),
            access_key: String::new(),
            region: "us-east-1".into(),
            headers: Vec::new(),
            at: Instant::now(),
        }
    }

    #[test]
    fn only_an_alias_qualifier_is_answered_here() {
        let get = call("GetPolicy", "/2015-03-31/functions/putitem-prod/policy");
        assert_eq!(
            aliased(&get, "Qualifier=live"),
            Some(("putitem-prod".into(), "live".into()))
        );
        assert_eq!(aliased(&get, ""), None);
        assert_eq!(aliased(&get, "Qualifier=3"), None);
        assert_eq!(aliased(&get, "Qualifier=%24LATEST"), None);
        let arn = call(
            "RemovePermission",
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Aputitem-prod/policy/sid",
        );
        assert_eq!(
            aliased(&arn, "Qualifier=live"),
            Some(("putitem-prod".into(), "live".into()))
        );
        assert_eq!(
            aliased(
                &call("GetFunction", "/2015-03-31/functions/x"),
                "Qualifier=live"
            ),
            None
        );
    }
}
