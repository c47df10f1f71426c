//! Scripted faults: AWS errors, dropped connections, latency, rewritten or stale answers,
//! the first N times or for a while; and the error bodies in each protocol.

use super::*;

/// What a rule does to a matching call.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer an AWS error without forwarding.
    Error {
        status: u16,
        code: String,
        message: String,
        retry_after: Option<u32>,
    },
    /// Close the connection without an answer; with `after_forward`, only once the emulator
    /// has carried the call out (the answer is lost, the change is made).
    Drop { after_forward: bool },
    /// Wait this long, then forward.
    Latency(Duration),
    /// Forward, then set fields of the JSON answer (each a path of keys) to values; a null
    /// value removes the field.
    SetJson {
        edits: Vec<(Vec<String>, serde_json::Value)>,
    },
    /// Forward, then answer this success instead of the emulator's: a read that still shows
    /// what a change just removed, as AWS's reads do while the change spreads.
    Stale(serde_json::Value),
    /// Forward at once, then wait this long before answering: the change is made while its
    /// caller still waits.
    SlowAnswer(Duration),
}

impl Fault {
    pub fn error(status: u16, code: &str, message: &str) -> Fault {
        Fault::Error {
            status,
            code: code.to_string(),
            message: message.to_string(),
            retry_after: None,
        }
    }

    pub fn throttle(retry_after: Option<u32>) -> Fault {
        Fault::Error {
            status: 429,
            code: "TooManyRequestsException".into(),
            message: "Too Many Requests".into(),
            retry_after,
        }
    }

    pub fn set_json(path: &[&str], value: serde_json::Value) -> Fault {
        Fault::set_json_all(&[(path, value)])
    }

    pub fn set_json_all(edits: &[(&[&str], serde_json::Value)]) -> Fault {
        Fault::SetJson {
            edits: edits
                .iter()
                .map(|(p, v)| (p.iter().map(|s| s.to_string()).collect(), v.clone()))
                .collect(),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Fault::Error { status, code, .. } => format!("{status} {code}"),
            Fault::Drop {
                after_forward: false,
            } => "dropped connection".into(),
            Fault::Drop {
                after_forward: true,
            } => "answer lost after the call was made".into(),
            Fault::Latency(d) => format!("latency {d:?}"),
            Fault::Stale(_) => "the answer before the last change".into(),
            Fault::SlowAnswer(d) => format!("answer held {d:?} after the change"),
            Fault::SetJson { edits } => edits
                .iter()
                .map(|(path, value)| format!("{} = {value}", path.join(".")))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// A fault for an operation (`service:Operation`, or `*` for every call), applied the first
/// `times` times and/or until `until`.
pub(crate) struct Rule {
    pub(crate) operation: String,
    /// Only calls whose path ends so (`.lock`: the lock object, not the state).
    pub(crate) path_suffix: Option<String>,
    pub(crate) fault: Fault,
    pub(crate) times: Option<usize>,
    pub(crate) until: Option<Instant>,
    pub(crate) applied: usize,
    /// Inactive until a call of this operation succeeds; then active for `period`.
    pub(crate) armed_by: Option<(String, Duration)>,
}

pub(crate) struct Hold {
    pub(crate) operation: String,
    pub(crate) path_suffix: String,
    pub(crate) released: watch::Receiver<bool>,
}

/// Starts the rules armed by a successful call of `name`.
pub(crate) fn arm(shared: &Shared, name: &str) {
    let now = Instant::now();
    for r in shared.rules.lock().unwrap().iter_mut() {
        if let Some((trigger, period)) = &r.armed_by {
            if trigger == name {
                r.until = Some(now + *period);
                r.armed_by = None;
            }
        }
    }
}

/// The first rule that applies to the call, counted as applied.
pub(crate) fn take_fault(shared: &Shared, call: &Call) -> Option<Fault> {
    let mut rules = shared.rules.lock().unwrap();
    let now = Instant::now();
    let name = call.name();
    let rule = rules.iter_mut().find(|r| {
        r.armed_by.is_none()
            && (r.operation == name || r.operation == "*")
            && r.path_suffix
                .as_deref()
                .is_none_or(|p| call.path.ends_with(p))
            && r.times.is_none_or(|t| r.applied < t)
            && r.until.is_none_or(|u| now < u)
    })?;
    rule.applied += 1;
    let fault = rule.fault.clone();
    if !matches!(fault, Fault::Latency(_)) {
        shared
            .injected
            .lock()
            .unwrap()
            .push(format!("{name} {}", fault.describe()));
    }
    Some(fault)
}

/// An AWS error in the service's protocol: XML for the Query protocol (IAM, STS), JSON with
/// `x-amzn-errortype` for the JSON and REST-JSON ones.
pub(crate) fn error_response(
    call: &Call,
    status: u16,
    code: &str,
    message: &str,
    retry_after: Option<u32>,
) -> Response<Full<Bytes>> {
    let mut b = Response::builder()
        .status(status)
        .header("x-amzn-requestid", "proxy-fault-0000");
    if let Some(s) = retry_after {
        b = b.header("retry-after", s.to_string());
    }
    let body = if call.service == "s3" {
        b = b.header("content-type", "application/xml");
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>proxy-fault-0000</RequestId></Error>"
        )
    } else if matches!(call.service.as_str(), "iam" | "sts") {
        b = b.header("content-type", "text/xml");
        format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>proxy-fault-0000</RequestId></ErrorResponse>"
        )
    } else {
        b = b
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amzn-errortype", code);
        serde_json::json!({"__type": code, "message": message, "Message": message}).to_string()
    };
    b.body(Full::new(Bytes::from(body))).unwrap()
}

pub(crate) fn set_json(body: &Bytes, path: &[String], value: &serde_json::Value) -> Option<Bytes> {
    let mut doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut cur = &mut doc;
    for key in &path[..path.len().saturating_sub(1)] {
        // A number names a list's item (`GlobalSecondaryIndexes`, `0`).
        cur = match key.parse::<usize>() {
            Ok(i) if cur.is_array() => cur.get_mut(i)?,
            _ => cur.get_mut(key)?,
        };
    }
    let obj = cur.as_object_mut()?;
    if value.is_null() {
        obj.remove(path.last()?);
    } else {
        obj.insert(path.last()?.clone(), value.clone());
    }
    Some(Bytes::from(doc.to_string()))
}
