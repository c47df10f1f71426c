//! The stack's desired shape: resource names, the REST API's route, the policy documents.
//!
//! One description that deploy, status and teardown share, so the three never disagree about
//! what the stack is. Everything here is pure: no AWS call, no I/O.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::cli::Billing;

/// Tag key on every taggable resource; its value is the stack name.
pub const OWNER_TAG: &str = "serverless-cli:stack";
/// The tutorial's stage.
pub const STAGE: &str = "prod";
/// The route's path part under the API root: `/user`.
pub const PATH_PART: &str = "user";
/// Lambda handler entry point of the built-in code.
pub const HANDLER: &str = "index.handler";
/// Name of the least-privilege inline policy on the role.
pub const INLINE_POLICY_NAME: &str = "putitem-least-privilege";
/// Statement id of the permission that lets API Gateway invoke the function.
pub const PERMISSION_SID: &str = "serverless-cli-apigateway-post-user";
/// Matches the handler's validation errors (handler/index.mjs, BAD_REQUEST).
pub const BAD_REQUEST_PATTERN: &str = "BadRequest:.*";
/// Managed policies the tutorial attaches (`--managed-policies`).
pub const TUTORIAL_MANAGED_POLICIES: [&str; 2] = [
    "service-role/AWSLambdaBasicExecutionRole",
    "AmazonDynamoDBFullAccess",
];
/// Runtimes the built-in handler (an ES module using the AWS SDK v3) runs on.
pub const SUPPORTED_RUNTIMES: [&str; 3] = ["nodejs20.x", "nodejs22.x", "nodejs24.x"];

/// Names of the stack's resources, fixed at the first deploy and kept in the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Names {
    pub table: String,
    pub role: String,
    pub function: String,
    pub api: String,
}

impl Names {
    /// The defaults for a stack: the tutorial's names, made unique by the stack's name.
    pub fn defaults(stack: &str) -> Self {
        Names {
            table: format!("user-{stack}"),
            role: format!("putitem-{stack}-role"),
            function: format!("putitem-{stack}"),
            api: format!("serverless-backend-{stack}"),
        }
    }

    /// Checks every name against AWS's own rules.
    pub fn validate(&self) -> Result<(), String> {
        validate_table_name(&self.table)?;
        validate_role_name(&self.role)?;
        validate_function_name(&self.function)?;
        validate_api_name(&self.api)
    }
}

fn check_chars(
    what: &str,
    flag: &str,
    name: &str,
    len: std::ops::RangeInclusive<usize>,
    allowed: impl Fn(char) -> bool,
    allowed_text: &str,
) -> Result<(), String> {
    let n = name.chars().count();
    if !len.contains(&n) {
        return Err(format!(
            "invalid {what} '{name}': it must be {} to {} characters long (it has {n}); choose another with {flag}",
            len.start(),
            len.end()
        ));
    }
    if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "invalid {what} '{name}': '{bad}' is not allowed ({allowed_text}); choose another with {flag}"
        ));
    }
    Ok(())
}

/// A stack name: letters, digits and hyphens, starting with a letter, at most 32 characters
/// (it becomes part of every resource name and of the state file's name).
pub fn validate_stack_name(name: &str) -> Result<(), String> {
    check_chars(
        "stack name",
        "--stack",
        name,
        1..=32,
        |c| c.is_ascii_alphanumeric() || c == '-',
        "use letters, digits and '-'",
    )?;
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(format!(
            "invalid stack name '{name}': it must start with a letter; choose another with --stack"
        ));
    }
    Ok(())
}

/// DynamoDB: 3-255 characters of `[a-zA-Z0-9_.-]`.
pub fn validate_table_name(name: &str) -> Result<(), String> {
    check_chars(
        "table name",
        "--table-name",
        name,
        3..=255,
        |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'),
        "use letters, digits, '_', '.' and '-'",
    )
}

/// IAM: 1-64 characters of `[\w+=,.@-]`.
pub fn validate_role_name(name: &str) -> Result<(), String> {
    check_chars(
        "role name",
        "--role-name",
        name,
        1..=64,
        |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-'),
        "use letters, digits and _+=,.@-",
    )
}

/// Lambda: 1-64 characters of `[a-zA-Z0-9_-]`.
pub fn validate_function_name(name: &str) -> Result<(), String> {
    check_chars(
        "function name",
        "--function-name",
        name,
        1..=64,
        |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'),
        "use letters, digits, '_' and '-'",
    )
}

/// API Gateway: any printable name; we keep it to 1-128 characters without control characters.
pub fn validate_api_name(name: &str) -> Result<(), String> {
    check_chars(
        "API name",
        "--api-name",
        name,
        1..=128,
        |c| !c.is_control(),
        "control characters are not allowed",
    )
}

/// A region name such as `us-east-1`.
pub fn validate_region(region: &str) -> Result<(), String> {
    let ok = (4..=32).contains(&region.len())
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && region.contains('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid region '{region}': expected a region name such as us-east-1; set --region or AWS_REGION"
        ))
    }
}

pub fn validate_runtime(runtime: &str) -> Result<(), String> {
    if SUPPORTED_RUNTIMES.contains(&runtime) {
        Ok(())
    } else {
        Err(format!(
            "unsupported runtime '{runtime}': the handler is an ES module for Node.js; use one of {}",
            SUPPORTED_RUNTIMES.join(", ")
        ))
    }
}

/// AWS partition of a region (ARNs differ in China and GovCloud).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// How the role gets its permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyMode {
    /// One inline policy with exactly the actions the function needs.
    LeastPrivilege,
    /// The tutorial's two AWS managed policies.
    Managed,
}

/// One response of the route: the method response and the integration response that feeds it.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseSpec {
    pub status: &'static str,
    /// Regex on the Lambda error message; `None` for the default response.
    pub selection_pattern: Option<&'static str>,
    /// Mapping template for `application/json`; `None` passes the body through. Never empty:
    /// API Gateway returns an empty template as null, which the Rust SDK cannot parse.
    pub template: Option<&'static str>,
}

/// The REST API's one route.
#[derive(Debug, Clone, Serialize)]
pub struct RouteSpec {
    pub path_part: &'static str,
    pub http_method: &'static str,
    pub responses: Vec<ResponseSpec>,
}

/// The route the tutorial builds: `POST /user`, 200 on success, 400 on a validation error.
pub fn post_user_route() -> RouteSpec {
    RouteSpec {
        path_part: PATH_PART,
        http_method: "POST",
        responses: vec![
            ResponseSpec {
                status: "200",
                selection_pattern: None,
                template: None,
            },
            ResponseSpec {
                status: "400",
                selection_pattern: Some(BAD_REQUEST_PATTERN),
                template: Some("{\"message\": $input.json('$.errorMessage')}"),
            },
        ],
    }
}

/// Everything a deploy wants the stack to be.
#[derive(Debug, Clone)]
pub struct StackSpec {
    pub stack: String,
    pub region: String,
    pub account: String,
    pub names: Names,
    pub billing: Billing,
    pub policy_mode: PolicyMode,
    pub runtime: String,
    /// Retention of the function's log group, in days.
    pub log_retention_days: i32,
    pub route: RouteSpec,
}

impl StackSpec {
    pub fn partition(&self) -> &'static str {
        partition(&self.region)
    }

    pub fn table_arn(&self) -> String {
        format!(
            "arn:{}:dynamodb:{}:{}:table/{}",
            self.partition(),
            self.region,
            self.account,
            self.names.table
        )
    }

    pub fn log_group_name(&self) -> String {
        format!("/aws/lambda/{}", self.names.function)
    }

    pub fn log_group_arn(&self) -> String {
        format!(
            "arn:{}:logs:{}:{}:log-group:{}",
            self.partition(),
            self.region,
            self.account,
            self.log_group_name()
        )
    }

    pub fn managed_policy_arns(&self) -> Vec<String> {
        TUTORIAL_MANAGED_POLICIES
            .iter()
            .map(|p| format!("arn:{}:iam::aws:policy/{p}", self.partition()))
            .collect()
    }

    /// Trust policy: only the Lambda service may assume the role.
    pub fn trust_policy(&self) -> String {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole"
            }]
        })
        .to_string()
    }

    /// Least privilege: write and read this table, write this function's own logs.
    pub fn inline_policy(&self) -> String {
        let log_group = self.log_group_arn();
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "TableItems",
                    "Effect": "Allow",
                    "Action": ["dynamodb:PutItem", "dynamodb:GetItem"],
                    "Resource": self.table_arn()
                },
                {
                    "Sid": "OwnLogs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": [log_group.clone(), format!("{log_group}:*")]
                }
            ]
        })
        .to_string()
    }

    /// Fingerprint of the role's permissions: changes when the policy must be re-applied.
    pub fn policy_fingerprint(&self) -> String {
        match self.policy_mode {
            PolicyMode::LeastPrivilege => fingerprint(&["inline", &self.inline_policy()]),
            PolicyMode::Managed => {
                let arns = self.managed_policy_arns();
                let mut parts = vec!["managed"];
                parts.extend(arns.iter().map(String::as_str));
                fingerprint(&parts)
            }
        }
    }

    /// Environment the function runs with.
    pub fn function_env(&self) -> Vec<(String, String)> {
        vec![("TABLE_NAME".to_string(), self.names.table.clone())]
    }

    /// Fingerprint of the function's configuration (not its code).
    pub fn function_config_fingerprint(&self, role_arn: &str) -> String {
        let mut parts = vec![self.runtime.as_str(), HANDLER, role_arn];
        let env = self.function_env();
        for (k, v) in &env {
            parts.push(k);
            parts.push(v);
        }
        fingerprint(&parts)
    }

    pub fn integration_uri(&self, function_arn: &str) -> String {
        format!(
            "arn:{}:apigateway:{}:lambda:path/2015-03-31/functions/{function_arn}/invocations",
            self.partition(),
            self.region
        )
    }

    /// Exactly this API, stage, method and path may invoke the function.
    pub fn permission_source_arn(&self, api_id: &str) -> String {
        format!(
            "arn:{}:execute-api:{}:{}:{api_id}/{STAGE}/{}/{}",
            self.partition(),
            self.region,
            self.account,
            self.route.http_method,
            self.route.path_part
        )
    }

    /// Fingerprint of the method and its method responses.
    pub fn method_fingerprint(&self) -> String {
        fingerprint(&[
            "method",
            &serde_json::to_string(&self.route).unwrap_or_default(),
        ])
    }

    /// Fingerprint of the integration and its responses, which point at the function.
    pub fn integration_fingerprint(&self, function_arn: &str) -> String {
        fingerprint(&[
            "integration",
            &serde_json::to_string(&self.route).unwrap_or_default(),
            &self.integration_uri(function_arn),
        ])
    }
}

/// The URL the tutorial's "Try out" posts to.
/// (An emulator does not serve execute-api URLs; the AWS form is printed all the same.)
pub fn invoke_url(api_id: &str, region: &str) -> String {
    let suffix = if partition(region) == "aws-cn" {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://{api_id}.execute-api.{region}.{suffix}/{STAGE}/{PATH_PART}")
}

/// A ready-to-paste curl line for the URL.
pub fn curl_line(url: &str) -> String {
    format!(
        "curl -sS -X POST '{url}' -H 'Content-Type: application/json' -d '{{\"uid\":\"1\",\"username\":\"Ada\",\"email\":\"ada@example.com\"}}'"
    )
}

/// Short, stable hash of some parts (hex SHA-256 of the parts joined by NUL).
pub fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> StackSpec {
        StackSpec {
            stack: "prod".into(),
            region: "eu-west-1".into(),
            account: "123456789012".into(),
            names: Names::defaults("prod"),
            billing: Billing::Provisioned,
            policy_mode: PolicyMode::LeastPrivilege,
            runtime: "nodejs22.x".into(),
            log_retention_days: 14,
            route: post_user_route(),
        }
    }

    #[test]
    fn default_names_are_unique_per_stack_and_valid() {
        let a = Names::defaults("prod");
        let b = Names::defaults("dev");
        assert_ne!(a.table, b.table);
        assert_ne!(a.function, b.function);
        assert_ne!(a.role, b.role);
        assert_ne!(a.api, b.api);
        a.validate().unwrap();
        // The longest stack name still gives valid resource names.
        Names::defaults(&"a".repeat(32)).validate().unwrap();
    }

    #[test]
    fn names_follow_aws_rules() {
        assert!(validate_table_name("ab").is_err());
        assert!(validate_table_name("user table").is_err());
        assert!(validate_table_name(&"t".repeat(256)).is_err());
        assert!(validate_table_name("user_v1.2-x").is_ok());
        assert!(validate_function_name(&"f".repeat(65)).is_err());
        assert!(validate_function_name("put.item").is_err());
        assert!(validate_role_name("role/x").is_err());
        assert!(validate_role_name("a+b=c,d.e@f-g_h").is_ok());
        assert!(validate_api_name("").is_err());
        assert!(validate_api_name("line\nbreak").is_err());
        assert!(validate_stack_name("1abc").is_err());
        assert!(validate_stack_name("a_b").is_err());
        assert!(validate_stack_name(&"s".repeat(33)).is_err());
        assert!(validate_stack_name("prod-2").is_ok());
        let msg = validate_table_name("x").unwrap_err();
        assert!(msg.contains("--table-name"), "{msg}");
    }

    #[test]
    fn least_privilege_policy_has_no_wildcards() {
        let doc: serde_json::Value = serde_json::from_str(&spec().inline_policy()).unwrap();
        let text = doc.to_string();
        assert!(!text.contains("\"*\""), "{text}");
        assert!(!text.contains(":*\","), "{text}");
        let stmts = doc["Statement"].as_array().unwrap();
        assert_eq!(
            stmts[0]["Resource"],
            "arn:aws:dynamodb:eu-west-1:123456789012:table/user-prod"
        );
        assert_eq!(
            stmts[0]["Action"],
            json!(["dynamodb:PutItem", "dynamodb:GetItem"])
        );
        assert_eq!(
            stmts[1]["Resource"][0],
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/putitem-prod"
        );
    }

    #[test]
    fn source_arn_names_api_stage_method_and_path() {
        assert_eq!(
            spec().permission_source_arn("abc123"),
            "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/POST/user"
        );
    }

    #[test]
    fn fingerprints_change_with_their_inputs() {
        let s = spec();
        let mut t = spec();
        t.policy_mode = PolicyMode::Managed;
        assert_ne!(s.policy_fingerprint(), t.policy_fingerprint());
        assert_ne!(
            s.function_config_fingerprint("arn:a"),
            s.function_config_fingerprint("arn:b")
        );
        assert_ne!(
            s.integration_fingerprint("arn:a"),
            s.integration_fingerprint("arn:b")
        );
        assert_eq!(s.method_fingerprint(), spec().method_fingerprint());
    }

    #[test]
    fn partitions_and_urls() {
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(
            invoke_url("abc", "us-east-1"),
            "https://abc.execute-api.us-east-1.amazonaws.com/prod/user"
        );
        assert!(validate_region("us-east-1").is_ok());
        assert!(validate_region("Mars").is_err());
    }

    #[test]
    fn runtimes() {
        assert!(validate_runtime("nodejs22.x").is_ok());
        assert!(validate_runtime("python3.12").is_err());
    }
}
