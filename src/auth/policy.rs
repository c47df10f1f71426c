//! A Lambda authorizer's answer, read and evaluated as API Gateway does: `principalId`, a
//! `policyDocument` whose statements allow or deny `execute-api:Invoke` on method ARNs
//! (`arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH`, with `*` and `?` wildcards),
//! and an optional `context` of strings, numbers and booleans handed to the integration. An explicit Deny wins; no Allow is a refusal. docs/auth.md,
//! "Lambda authorizers".

use serde_json::{Map, Value};

/// An authorizer's answer, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub principal_id: String,
    pub statements: Vec<Statement>,
    /// Handed to the integration (`requestContext.authorizer`, `$context.authorizer.x`).
    /// (`usageIdentifierKey` is read by API Gateway only with the AUTHORIZER key source,
    /// which the stack does not set: ignored.)
    pub context: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

/// The verdict on one method ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// A statement denies it (API Gateway: "... with an explicit deny").
    ExplicitDeny,
    /// No statement allows it.
    NotAllowed,
}

/// Reads an authorizer function's answer; `Err` is what API Gateway calls an authorizer
/// configuration error (a 500 to the caller), with the reason for the log.
pub fn parse(answer: &Value) -> Result<Grant, String> {
    let principal_id = match &answer["principalId"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Null => return Err("the answer has no principalId".into()),
        _ => return Err("principalId is not a string".into()),
    };
    let doc = match &answer["policyDocument"] {
        Value::Object(_) => answer["policyDocument"].clone(),
        // A policy as JSON text is taken too.
        Value::String(s) => serde_json::from_str(s)
            .map_err(|_| "policyDocument is text that is not JSON".to_string())?,
        _ => return Err("the answer has no policyDocument".into()),
    };
    let list = match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        Value::Object(_) => vec![doc["Statement"].clone()],
        _ => return Err("policyDocument has no Statement".into()),
    };
    let strings = |v: &Value, what: &str| -> Result<Vec<String>, String> {
        match v {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or(format!("a statement's {what} is not a list of strings")),
            _ => Err(format!("a statement has no {what}")),
        }
    };
    let mut statements = Vec::new();
    for s in &list {
        let allow = match s["Effect"].as_str() {
            Some("Allow") => true,
            Some("Deny") => false,
            _ => return Err("a statement's Effect is neither Allow nor Deny".into()),
        };
        statements.push(Statement {
            allow,
            actions: strings(&s["Action"], "Action")?,
            resources: strings(&s["Resource"], "Resource")?,
        });
    }
    let context = match &answer["context"] {
        Value::Null => Map::new(),
        Value::Object(m) => {
            if m.values()
                .any(|v| !matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_)))
            {
                return Err(
                    "context holds a value that is not a string, number or boolean (API Gateway refuses objects and lists)".into(),
                );
            }
            m.clone()
        }
        _ => return Err("context is not an object".into()),
    };
    Ok(Grant {
        principal_id,
        statements,
        context,
    })
}

impl Grant {
    /// Whether the policy lets the caller invoke `method_arn`.
    pub fn verdict(&self, method_arn: &str) -> Verdict {
        let applies = |s: &Statement| {
            s.actions.iter().any(|a| {
                let a = a.to_ascii_lowercase();
                wildcard(&a, "execute-api:invoke")
            }) && s.resources.iter().any(|r| wildcard(r, method_arn))
        };
        if self.statements.iter().any(|s| !s.allow && applies(s)) {
            Verdict::ExplicitDeny
        } else if self.statements.iter().any(|s| s.allow && applies(s)) {
            Verdict::Allow
        } else {
            Verdict::NotAllowed
        }
    }
}

/// IAM's wildcard match: `*` any run (also across `/` and `:`), `?` one character. At most
/// pattern × text steps (one resumable star, no recursion): a hostile pattern cannot blow up.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The ARN API Gateway gives an authorizer for a request: `arn:aws:execute-api:REGION:
/// ACCOUNT:API_ID/STAGE/METHOD/PATH` (the request's path, without its leading `/`).
pub fn method_arn(
    partition: &str,
    region: &str,
    account: &str,
    api_id: &str,
    stage: &str,
    method: &str,
    path: &str,
) -> String {
    format!(
        "arn:{partition}:execute-api:{region}:{account}:{api_id}/{stage}/{method}/{}",
        path.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/orders/7";

    fn answer(effect: &str, resource: Value) -> Value {
        json!({
            "principalId": "user-1",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
            ]},
            "context": {"tier": "gold", "n": 3, "ok": true}
        })
    }

    #[test]
    fn allow_deny_and_wildcards() {
        let g = parse(&answer("Allow", json!(ARN))).unwrap();
        assert_eq!(g.verdict(ARN), Verdict::Allow);
        assert_eq!(g.context["tier"], "gold");
        // The allow of one route does not cover another.
        assert_eq!(
            g.verdict(&ARN.replace("GET/orders/7", "POST/orders")),
            Verdict::NotAllowed
        );
        let all = parse(&answer(
            "Allow",
            json!(["arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*"]),
        ))
        .unwrap();
        assert_eq!(all.verdict(ARN), Verdict::Allow);
        assert_eq!(
            all.verdict(&ARN.replace("/prod/", "/dev/")),
            Verdict::NotAllowed
        );
        let q = parse(&answer("Allow", json!(ARN.replace("orders/7", "orders/?")))).unwrap();
        assert_eq!(q.verdict(ARN), Verdict::Allow);
        assert_eq!(q.verdict(&format!("{ARN}7")), Verdict::NotAllowed);
        // An explicit deny wins over any allow.
        let mut both = answer("Allow", json!("*"));
        both["policyDocument"]["Statement"]
            .as_array_mut()
            .unwrap()
            .push(json!({"Action": "execute-api:*", "Effect": "Deny", "Resource": [ARN]}));
        assert_eq!(parse(&both).unwrap().verdict(ARN), Verdict::ExplicitDeny);
        // A statement of another action grants nothing.
        let mut other = answer("Allow", json!("*"));
        other["policyDocument"]["Statement"][0]["Action"] = json!("s3:GetObject");
        assert_eq!(parse(&other).unwrap().verdict(ARN), Verdict::NotAllowed);
    }

    #[test]
    fn malformed_answers_are_configuration_errors() {
        for (bad, why) in [
            (json!({}), "principalId"),
            (json!({"principalId": "u"}), "policyDocument"),
            (
                json!({"principalId": "u", "policyDocument": {"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}}),
                "Effect",
            ),
            (
                {
                    let mut a = answer("Allow", json!("*"));
                    a["context"] = json!({"nested": {"a": 1}});
                    a
                },
                "context",
            ),
        ] {
            let e = parse(&bad).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn wildcards_are_bounded_on_hostile_patterns() {
        let p = "*a".repeat(2000) + "b";
        let t = "a".repeat(5000);
        assert!(!wildcard(&p, &t));
        assert!(wildcard("a*b?d", "axxxbcd"));
        assert!(!wildcard("a*b?d", "axxxbd"));
        assert!(wildcard("*", ""));
    }
}
