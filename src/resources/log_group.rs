//! The function's CloudWatch log group, `/aws/lambda/<function>`, made by deploy with a
//! retention so that logs do not pile up forever, and removed by teardown. (Left to Lambda, it
//! would be made on first use, without retention, and outlive the stack.)

use crate::aws::{Aws, AwsError, ErrorKind};
use crate::stack::OWNER_TAG;

use super::Owner;

/// Retention values CloudWatch Logs accepts, in days.
pub const RETENTION_DAYS: [i32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

#[derive(Debug, Clone)]
pub struct LogGroupInfo {
    pub arn: String,
    pub retention_days: Option<i32>,
}

/// CreateLogGroup, tagged with the stack.
pub async fn create(aws: &Aws, name: &str, stack: &str) -> Result<(), AwsError> {
    aws.logs
        .create_log_group()
        .log_group_name(name)
        .tags(OWNER_TAG, stack)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateLogGroup", e))?;
    Ok(())
}

pub async fn set_retention(aws: &Aws, name: &str, days: i32) -> Result<(), AwsError> {
    aws.logs
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(days)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("PutRetentionPolicy", e))?;
    Ok(())
}

/// DescribeLogGroups by prefix, keeping the exact name; `None` when there is no such group.
pub async fn describe(aws: &Aws, name: &str) -> Result<Option<LogGroupInfo>, AwsError> {
    let out = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeLogGroups", e))?;
    Ok(out
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name))
        .map(|g| LogGroupInfo {
            arn: g
                .arn()
                .unwrap_or_default()
                .trim_end_matches(":*")
                .to_string(),
            retention_days: g.retention_in_days(),
        }))
}

/// The log group's owner, from its tags.
pub async fn owner(aws: &Aws, arn: &str, stack: &str) -> Result<Owner, AwsError> {
    let out = aws
        .logs
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListTagsForResource", e))?;
    Ok(Owner::from_tag(
        out.tags()
            .and_then(|t| t.get(OWNER_TAG))
            .map(String::as_str),
        stack,
    ))
}

/// DeleteLogGroup; `false` when it was already gone.
pub async fn delete(aws: &Aws, name: &str) -> Result<bool, AwsError> {
    match aws
        .logs
        .delete_log_group()
        .log_group_name(name)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) => match AwsError::from_sdk("DeleteLogGroup", e) {
            e if e.is(ErrorKind::NotFound) => Ok(false),
            e => Err(e),
        },
    }
}

/// TagResource: puts the stack's owner tag back on the log group.
pub async fn tag(aws: &Aws, arn: &str, stack: &str) -> Result<(), AwsError> {
    aws.logs
        .tag_resource()
        .resource_arn(arn.trim_end_matches(":*"))
        .tags(OWNER_TAG, stack)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("TagResource", e))
}

/// One log event as FilterLogEvents or a live tail session gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    /// The log group's name (a live tail names it by ARN: reduced to the name).
    pub group: String,
    pub stream: String,
    /// Milliseconds since 1970-01-01 UTC.
    pub timestamp: i64,
    /// FilterLogEvents' event id (a live tail gives none).
    pub id: Option<String>,
    pub message: String,
}

/// One page of FilterLogEvents on one group, from `start` (inclusive) to `end` (exclusive)
/// in milliseconds: its events and the token of the next page. A page may be empty and still
/// have a next one (the search goes on through the group's streams).
pub async fn filter_page(
    aws: &Aws,
    group: &str,
    (start, end): (i64, Option<i64>),
    pattern: Option<&str>,
    token: Option<String>,
) -> Result<(Vec<LogEvent>, Option<String>), AwsError> {
    let out = aws
        .logs
        .filter_log_events()
        .log_group_name(group)
        .start_time(start)
        .set_end_time(end)
        .set_filter_pattern(pattern.map(str::to_string))
        .set_next_token(token)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("FilterLogEvents", e))?;
    let events = out
        .events()
        .iter()
        .map(|e| LogEvent {
            group: group.to_string(),
            stream: e.log_stream_name().unwrap_or_default().to_string(),
            timestamp: e.timestamp().unwrap_or_default(),
            id: e.event_id().map(str::to_string),
            message: e.message().unwrap_or_default().to_string(),
        })
        .collect();
    Ok((events, out.next_token().map(str::to_string)))
}

/// What a live tail session said next.
#[derive(Debug)]
pub enum Tail {
    /// Events; `sampled`: CloudWatch sent a sample of them (above 500 events a second).
    Events {
        events: Vec<LogEvent>,
        sampled: bool,
    },
    /// The session started (or said something else that carries no event).
    Nothing,
    /// The session ended: `timeout` when CloudWatch ended it at its 3-hour limit, else why.
    Ended { timeout: bool, why: Option<String> },
}

/// An open live tail session.
pub struct LiveTail {
    stream: aws_sdk_cloudwatchlogs::primitives::event_stream::EventReceiver<
        aws_sdk_cloudwatchlogs::types::StartLiveTailResponseStream,
        aws_sdk_cloudwatchlogs::types::error::StartLiveTailResponseStreamError,
    >,
}

/// StartLiveTail on up to 10 log groups (by ARN, without `:*`).
pub async fn live_tail(
    aws: &Aws,
    groups: &[String],
    pattern: Option<&str>,
) -> Result<LiveTail, AwsError> {
    let out = aws
        .logs
        .start_live_tail()
        .set_log_group_identifiers(Some(groups.to_vec()))
        .set_log_event_filter_pattern(pattern.map(str::to_string))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("StartLiveTail", e))?;
    Ok(LiveTail {
        stream: out.response_stream,
    })
}

impl LiveTail {
    pub async fn next(&mut self) -> Tail {
        use aws_sdk_cloudwatchlogs::types::StartLiveTailResponseStream as S;
        match self.stream.recv().await {
            Ok(Some(S::SessionUpdate(u))) => Tail::Events {
                sampled: u.session_metadata().is_some_and(|m| m.sampled()),
                events: u
                    .session_results()
                    .iter()
                    .map(|e| LogEvent {
                        group: group_name(e.log_group_identifier().unwrap_or_default()),
                        stream: e.log_stream_name().unwrap_or_default().to_string(),
                        timestamp: e.timestamp().unwrap_or_default(),
                        id: None,
                        message: e.message().unwrap_or_default().to_string(),
                    })
                    .collect(),
            },
            Ok(Some(_)) => Tail::Nothing,
            Ok(None) => Tail::Ended {
                timeout: false,
                why: None,
            },
            Err(e) => {
                let timeout = e
                    .as_service_error()
                    .is_some_and(|s| s.is_session_timeout_exception());
                let why = match e.as_service_error() {
                    Some(s) => s.to_string(),
                    None => "the connection ended".to_string(),
                };
                Tail::Ended {
                    timeout,
                    why: Some(why),
                }
            }
        }
    }
}

/// A log group's name from the identifier a live tail gives (its ARN, or its name).
fn group_name(identifier: &str) -> String {
    match identifier.split_once(":log-group:") {
        Some((_, rest)) => rest.trim_end_matches(":*").to_string(),
        None => identifier.to_string(),
    }
}
