//! The least-privilege IAM policy the deploying identity needs for one stack, generated from
//! the list of every AWS operation the tool calls (a unit test reads the SDK layer's sources
//! and fails when a call is in no kind's [`crate::kinds::Kind::iam`] nor [`ACCOUNT_OPERATIONS`], so the policy cannot fall behind the code).

use serde_json::{json, Value};

use crate::stack::Names;

pub use crate::kinds::{Grant, Scope};

/// The operations no kind makes on its own resources: the identity call, and the
/// account-wide lists that find a stack by its tags when its state is lost (`ops::discover`).
pub const ACCOUNT_OPERATIONS: &[Grant] = &[
    ("GetCallerIdentity", "sts:GetCallerIdentity", Scope::Account),
    ("ListTables", "dynamodb:ListTables", Scope::Account),
    ("ListRoles", "iam:ListRoles", Scope::Account),
    ("ListFunctions", "lambda:ListFunctions", Scope::Account),
    (
        "DescribeLogGroups",
        "logs:DescribeLogGroups",
        Scope::LogGroupList,
    ),
    ("GetRestApis", "apigateway:GET", Scope::RestApis),
];

/// Every AWS operation the tool calls (the name its errors carry), the IAM action that
/// authorises it, and its scope: the account's, and each registered kind's own
/// ([`crate::kinds::Kind::iam`]).
pub fn operations() -> Vec<Grant> {
    let mut all: Vec<Grant> = ACCOUNT_OPERATIONS.to_vec();
    for kind in crate::kinds::REGISTRY {
        all.extend(kind.iam().iter().copied());
    }
    all
}

/// Actions no single call names but the calls need (docs/aws.md, "What the deploying identity needs"): tagging on
/// create, passing the role to Lambda, and reading a function's tags.
pub const IMPLIED: &[(&str, Scope, &str)] = &[
    (
        "dynamodb:TagResource",
        Scope::Table,
        "CreateTable with tags",
    ),
    ("iam:TagRole", Scope::Role, "CreateRole with tags"),
    (
        "iam:PassRole",
        Scope::Role,
        "CreateFunction and UpdateFunctionConfiguration hand the role to Lambda",
    ),
    (
        "lambda:TagResource",
        Scope::Function,
        "CreateFunction with tags",
    ),
    (
        "lambda:ListTags",
        Scope::Function,
        "without it GetFunction leaves the tags out",
    ),
    (
        "logs:TagResource",
        Scope::LogGroup,
        "CreateLogGroup with tags",
    ),
    (
        "logs:TagLogGroup",
        Scope::LogGroup,
        "CreateLogGroup with tags (older API)",
    ),
    ("apigateway:POST", Scope::ApiTags, "CreateRestApi with tags"),
];

/// Where the stack lives, for the ARNs. `account` may be `*` (not yet known).
pub struct Target<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
}

/// The names of the stack's tables, roles and functions.
pub struct StackNames {
    pub tables: Vec<String>,
    pub roles: Vec<String>,
    pub functions: Vec<String>,
    /// Its custom domain names (`[domain]`): none, or one.
    pub domains: Vec<String>,
}

impl From<&Names> for StackNames {
    fn from(n: &Names) -> Self {
        StackNames {
            tables: vec![n.table.clone()],
            roles: vec![n.role.clone()],
            functions: vec![n.function.clone()],
            domains: Vec::new(),
        }
    }
}

impl From<&crate::stack::StackSpec> for StackNames {
    fn from(s: &crate::stack::StackSpec) -> Self {
        StackNames {
            tables: s.tables.iter().map(|t| t.name.clone()).collect(),
            roles: s.functions.iter().map(|f| f.role.clone()).collect(),
            functions: s.functions.iter().map(|f| f.name.clone()).collect(),
            domains: s.domain.iter().map(|d| d.name.clone()).collect(),
        }
    }
}

fn resources(scope: Scope, names: &StackNames, t: &Target) -> Vec<String> {
    let (p, r, a) = (t.partition, t.region, t.account);
    match scope {
        Scope::Account => vec!["*".into()],
        Scope::Table => names
            .tables
            .iter()
            .map(|n| format!("arn:{p}:dynamodb:{r}:{a}:table/{n}"))
            .collect(),
        Scope::Role => names
            .roles
            .iter()
            .map(|n| format!("arn:{p}:iam::{a}:role/{n}"))
            .collect(),
        // A call with a qualifier (the live alias, a version) is authorised against the
        // qualified ARN (docs/aws.md, "Versions and the live alias").
        Scope::Function => names
            .functions
            .iter()
            .flat_map(|n| {
                let f = format!("arn:{p}:lambda:{r}:{a}:function:{n}");
                [f.clone(), format!("{f}:*")]
            })
            .collect(),
        Scope::LogGroup => names
            .functions
            .iter()
            .flat_map(|n| {
                let g = format!("arn:{p}:logs:{r}:{a}:log-group:/aws/lambda/{n}");
                [g.clone(), format!("{g}:*")]
            })
            .collect(),
        Scope::LogGroupList => vec![format!("arn:{p}:logs:{r}:{a}:log-group::log-stream:")],
        Scope::RestApis => vec![
            format!("arn:{p}:apigateway:{r}::/restapis"),
            format!("arn:{p}:apigateway:{r}::/restapis/*"),
        ],
        Scope::ApiTags => vec![format!("arn:{p}:apigateway:{r}::/tags/*")],
        Scope::ApiKeys => vec![
            format!("arn:{p}:apigateway:{r}::/apikeys"),
            format!("arn:{p}:apigateway:{r}::/apikeys/*"),
        ],
        Scope::UsagePlans => vec![
            format!("arn:{p}:apigateway:{r}::/usageplans"),
            format!("arn:{p}:apigateway:{r}::/usageplans/*"),
        ],
        // A stack without a domain gets none of these statements.
        Scope::CertificateRequests | Scope::HostedZoneList if names.domains.is_empty() => {
            Vec::new()
        }
        Scope::CertificateRequests | Scope::HostedZoneList => vec!["*".into()],
        // An edge domain's certificate is in us-east-1: any region of the account.
        Scope::Certificates if names.domains.is_empty() => Vec::new(),
        Scope::Certificates => vec![format!("arn:{p}:acm:*:{a}:certificate/*")],
        Scope::HostedZones if names.domains.is_empty() => Vec::new(),
        Scope::HostedZones => vec![format!("arn:{p}:route53:::hostedzone/*")],
        Scope::DnsChanges if names.domains.is_empty() => Vec::new(),
        Scope::DnsChanges => vec![format!("arn:{p}:route53:::change/*")],
        // CreateDomainName is a POST to the collection.
        Scope::DomainNames if names.domains.is_empty() => Vec::new(),
        Scope::DomainNames => std::iter::once(format!("arn:{p}:apigateway:{r}::/domainnames"))
            .chain(names.domains.iter().flat_map(|n| {
                let d = format!("arn:{p}:apigateway:{r}::/domainnames/{n}");
                [d.clone(), format!("{d}/*")]
            }))
            .collect(),
    }
}

/// A statement's condition: Route53 changes only to the domain's own names (its alias records
/// and ACM's `_...` validation CNAMEs below it).
fn condition(scope: Scope, names: &StackNames) -> Option<Value> {
    match scope {
        Scope::HostedZones => Some(json!({"ForAllValues:StringLike": {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames":
                names.domains.iter().flat_map(|n| [n.clone(), format!("_*.{n}")]).collect::<Vec<_>>()
        }})),
        _ => None,
    }
}

fn sid(scope: Scope) -> &'static str {
    match scope {
        Scope::Account => "AccountWideReadsAndIdentity",
        Scope::Table => "StackTable",
        Scope::Role => "StackRole",
        Scope::Function => "StackFunction",
        Scope::LogGroup => "StackLogGroup",
        Scope::LogGroupList => "DescribeLogGroups",
        Scope::RestApis => "RestApis",
        Scope::ApiTags => "RestApiTags",
        Scope::ApiKeys => "ApiKeys",
        Scope::UsagePlans => "UsagePlans",
        Scope::CertificateRequests => "CertificateRequests",
        Scope::Certificates => "Certificates",
        Scope::HostedZoneList => "HostedZoneLookups",
        Scope::HostedZones => "DomainRecordsInTheZone",
        Scope::DnsChanges => "Route53Changes",
        Scope::DomainNames => "DomainNames",
    }
}

/// The policy document: one statement per scope, its actions sorted. `iam:PassRole` gets its
/// own statement, only towards Lambda.
pub fn document(names: &StackNames, target: &Target) -> Value {
    let mut by_scope: std::collections::BTreeMap<Scope, std::collections::BTreeSet<&str>> =
        Default::default();
    for (_, action, scope) in operations() {
        by_scope.entry(scope).or_default().insert(action);
    }
    for (action, scope, _) in IMPLIED {
        if *action != "iam:PassRole" {
            by_scope.entry(*scope).or_default().insert(action);
        }
    }
    let mut statements: Vec<Value> = by_scope
        .into_iter()
        .filter_map(|(scope, actions)| {
            let resources = resources(scope, names, target);
            if resources.is_empty() {
                return None;
            }
            let mut st = json!({
                "Sid": sid(scope),
                "Effect": "Allow",
                "Action": actions.into_iter().collect::<Vec<_>>(),
                "Resource": resources,
            });
            if let Some(c) = condition(scope, names) {
                st["Condition"] = c;
            }
            Some(st)
        })
        .collect();
    statements.push(json!({
        "Sid": "PassTheStackRoleToLambda",
        "Effect": "Allow",
        "Action": ["iam:PassRole"],
        "Resource": resources(Scope::Role, names, target),
        "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
    }));
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// What a state in S3 needs besides: the stack's state and lock objects (read, conditional
/// writes, delete), the listing of its prefix (`state list`), the bucket's versioning setting
/// (the warning when it is off), and what `state init` makes and checks on the bucket (once:
/// the statement `StateBucketSetup` can go once the bucket exists).
pub fn add_state_bucket(doc: &mut Value, partition: &str, bucket: &str, prefix: &str, stack: &str) {
    let key = |ext: &str| crate::store::Location::key(prefix, stack, ext);
    let list_prefix = if prefix.is_empty() {
        "*".to_string()
    } else {
        format!("{prefix}/*")
    };
    if let Some(statements) = doc["Statement"].as_array_mut() {
        statements.push(json!({
            "Sid": "StackStateObjects",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            "Resource": [
                format!("arn:{partition}:s3:::{bucket}/{}", key("json")),
                format!("arn:{partition}:s3:::{bucket}/{}", key("lock")),
            ],
        }));
        statements.push(json!({
            "Sid": "StateBucket",
            "Effect": "Allow",
            "Action": ["s3:GetBucketVersioning", "s3:ListBucket"],
            "Resource": format!("arn:{partition}:s3:::{bucket}"),
            "Condition": {"StringLikeIfExists": {"s3:prefix": [list_prefix]}},
        }));
        statements.push(json!({
            "Sid": "StateBucketSetup",
            "Effect": "Allow",
            "Action": [
                "s3:CreateBucket",
                "s3:GetBucketPublicAccessBlock",
                "s3:GetEncryptionConfiguration",
                "s3:PutBucketPublicAccessBlock",
                "s3:PutBucketTagging",
                "s3:PutBucketVersioning",
                "s3:PutEncryptionConfiguration",
            ],
            "Resource": format!("arn:{partition}:s3:::{bucket}"),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SDK layer's sources: every call names its operation in `AwsError::from_sdk`.
    const SOURCES: &[(&str, &str)] = &[
        ("aws.rs", include_str!("aws.rs")),
        ("resources/api.rs", include_str!("resources/api.rs")),
        (
            "resources/function.rs",
            include_str!("resources/function.rs"),
        ),
        (
            "resources/log_group.rs",
            include_str!("resources/log_group.rs"),
        ),
        ("resources/role.rs", include_str!("resources/role.rs")),
        ("resources/table.rs", include_str!("resources/table.rs")),
        ("resources/access.rs", include_str!("resources/access.rs")),
        ("resources/domain.rs", include_str!("resources/domain.rs")),
        ("ops/discover.rs", include_str!("ops/discover.rs")),
    ];

    fn called_operations() -> Vec<(String, &'static str)> {
        let mut ops = Vec::new();
        for (file, text) in SOURCES {
            for part in text.split("from_sdk(\"").skip(1) {
                let name: String = part.chars().take_while(|c| *c != '"').collect();
                ops.push((name, *file));
            }
        }
        ops
    }

    #[test]
    fn every_call_the_code_makes_is_in_the_policy() {
        let ops = called_operations();
        assert!(ops.len() > 40, "{ops:?}");
        for (op, file) in &ops {
            assert!(
                operations().iter().any(|(o, _, _)| o == op),
                "{file} calls {op}, which the generated IAM policy does not allow: add it to the iam() of the kind that calls it"
            );
        }
        // And nothing in the policy that no call needs.
        for (op, _, _) in operations() {
            assert!(
                ops.iter().any(|(o, _)| *o == op),
                "the policy grants {op}, which no call makes: remove it"
            );
        }
    }

    #[test]
    fn the_document_scopes_each_service_to_the_stacks_names() {
        let names = Names::defaults("prod");
        let doc = document(
            &StackNames::from(&names),
            &Target {
                partition: "aws",
                region: "eu-west-1",
                account: "123456789012",
            },
        );
        let text = doc.to_string();
        for arn in [
            "arn:aws:dynamodb:eu-west-1:123456789012:table/user-prod",
            "arn:aws:iam::123456789012:role/putitem-prod-role",
            "arn:aws:lambda:eu-west-1:123456789012:function:putitem-prod",
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/putitem-prod",
            "arn:aws:logs:eu-west-1:123456789012:log-group::log-stream:",
            "arn:aws:apigateway:eu-west-1::/restapis/*",
        ] {
            assert!(text.contains(arn), "{arn} missing from {text}");
        }
        let statements = doc["Statement"].as_array().unwrap();
        // DescribeLogGroups is never scoped to one log group.
        let describe = statements
            .iter()
            .find(|s| s["Action"].to_string().contains("logs:DescribeLogGroups"))
            .unwrap();
        assert_eq!(describe["Action"].as_array().unwrap().len(), 1);
        // lambda:ListTags is there (GetFunction's tags).
        assert!(text.contains("lambda:ListTags"));
        // PassRole only to Lambda.
        let pass = statements
            .iter()
            .find(|s| s["Sid"] == "PassTheStackRoleToLambda")
            .unwrap();
        assert_eq!(
            pass["Condition"]["StringEquals"]["iam:PassedToService"],
            "lambda.amazonaws.com"
        );
        // Only `*` where an action takes no resource.
        let star = statements.iter().find(|s| s["Resource"][0] == "*").unwrap();
        let star_actions: Vec<&str> = star["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(
            star_actions,
            [
                "dynamodb:ListTables",
                "iam:ListRoles",
                "lambda:ListFunctions",
                "sts:GetCallerIdentity"
            ]
        );
    }
}
