//! The lines `logs` prints and `serve` writes for its local runs: one log event each, labelled
//! with its function and request id, in time order (docs/logs.md).
//!
//! `fetch` reads a time range from every group (FilterLogEvents, each group's pages followed
//! through empty ones) and merges it; `follow` keeps printing new events, from a live tail
//! session when CloudWatch gives one and by polling otherwise.

pub mod follow;

use std::collections::HashSet;
use std::io::IsTerminal;

use serde_json::json;

use crate::aws::{AwsError, Caller};
use crate::resources::log_group::{self, LogEvent};

/// One function's log group.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The function's name in the stack file (the label).
    pub function: String,
    pub group: String,
    /// The group's ARN without `:*` (a live tail names groups by ARN).
    pub arn: String,
}

/// Pages read from one group in one range at most: a range that has more is cut there, and
/// `logs` says so (ask for a shorter `--since`, or a `--filter`).
const MAX_PAGES: usize = 1000;

/// An event with the function it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub function: String,
    pub event: LogEvent,
}

impl Line {
    /// The Lambda request id the message carries: `START RequestId: ID ...`, `END` and
    /// `REPORT` lines, and the runtime's `TIME\tID\tLEVEL\tmessage` lines.
    pub fn request_id(&self) -> Option<&str> {
        request_id(&self.event.message)
    }
}

pub fn request_id(message: &str) -> Option<&str> {
    let id_like = |s: &str| {
        (8..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
    };
    for head in ["START RequestId: ", "END RequestId: ", "REPORT RequestId: "] {
        if let Some(rest) = message.strip_prefix(head) {
            let id = rest.split([' ', '\t', '\n']).next().unwrap_or_default();
            return id_like(id).then_some(id);
        }
    }
    let mut parts = message.splitn(3, '\t');
    let (Some(time), Some(id)) = (parts.next(), parts.next()) else {
        return None;
    };
    (time.len() >= 20 && time.as_bytes().get(4) == Some(&b'-') && id_like(id)).then_some(id)
}

/// The time of a line in the Node.js runtime's form (`TIME\tREQUEST ID\tLEVEL\tmessage`, as
/// Lambda's runtime and serve's write it), in milliseconds; `None` for any other line.
pub fn runtime_line(text: &str) -> Option<i64> {
    let time = text.split('\t').next()?;
    request_id(text)?;
    (time.ends_with('Z') && time.len() <= 30)
        .then(|| parse_utc(time))
        .flatten()
}

/// A `--since`/`--until` value, in milliseconds since 1970: `now`, a duration back from now
/// (`90s`, `10m`, `2h`, `7d`, `1w`), or a UTC time (`2026-12-04`, `2026-12-04T10:00`,
/// `2026-12-04T10:00:05Z`, `2026-12-04 10:00:05.250+01:00`).
pub fn parse_when(text: &str, now_ms: i64) -> Result<i64, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "'{}' is not a time: give a duration back from now (90s, 10m, 2h, 7d, 1w), `now`, or a UTC time such as 2026-12-04T10:00:00Z",
            crate::report::printable(t)
        )
    };
    if t.eq_ignore_ascii_case("now") {
        return Ok(now_ms);
    }
    if let Some(unit) = t.chars().last().filter(|c| c.is_ascii_alphabetic()) {
        let digits = &t[..t.len() - 1];
        if !digits.is_empty() && digits.len() <= 9 && digits.chars().all(|c| c.is_ascii_digit()) {
            let n: i64 = digits.parse().map_err(|_| bad())?;
            let unit_ms = match unit.to_ascii_lowercase() {
                's' => 1_000,
                'm' => 60_000,
                'h' => 3_600_000,
                'd' => 86_400_000,
                'w' => 7 * 86_400_000,
                _ => return Err(bad()),
            };
            return Ok(now_ms - n * unit_ms);
        }
    }
    parse_utc(t).ok_or_else(bad)
}

/// `YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|±HH:MM]`, UTC unless an offset says otherwise.
fn parse_utc(t: &str) -> Option<i64> {
    let num = |s: &str| -> Option<i64> {
        (!s.is_empty() && s.len() <= 4 && s.chars().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (date, rest) = match t.find(['T', 't', ' ']) {
        Some(i) => (&t[..i], &t[i + 1..]),
        None => (t, ""),
    };
    let mut d = date.split('-');
    let (y, mo, da) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    if d.next().is_some() || date.len() != 10 || !(1..=12).contains(&mo) || !(1..=31).contains(&da)
    {
        return None;
    }
    let (clock, offset_ms) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (c, off) = (&rest[..i], &rest[i..]);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        let (oh, om) = (num(oh)?, num(om)?);
        if oh > 23 || om > 59 {
            return None;
        }
        (c, sign * (oh * 3600 + om * 60) * 1000)
    } else {
        (rest, 0)
    };
    let mut ms = 0;
    if !clock.is_empty() {
        let (hms, frac) = match clock.split_once('.') {
            Some((a, f)) => (a, Some(f)),
            None => (clock, None),
        };
        let mut p = hms.split(':');
        let h = num(p.next()?)?;
        let m = num(p.next()?)?;
        let s = match p.next() {
            Some(s) => num(s)?,
            None => 0,
        };
        if p.next().is_some() || h > 23 || m > 59 || s > 60 {
            return None;
        }
        ms = (h * 3600 + m * 60 + s) * 1000;
        if let Some(f) = frac {
            if f.is_empty() || f.len() > 9 || !f.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            ms += format!("{f:0<3}")[..3].parse::<i64>().ok()?;
        }
    } else if !rest.is_empty() && offset_ms == 0 && !rest.eq_ignore_ascii_case("z") {
        return None;
    }
    let days = crate::auth::sigv4::days_from_civil(y, mo, da);
    Some(days * 86_400_000 + ms - offset_ms)
}

/// `2026-12-04T10:00:00.123Z` of milliseconds since 1970.
pub fn iso(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, mo, d) = crate::gateway::proxy::civil_date(days);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// How lines are written: JSON lines, or text (coloured only on a terminal without
/// `NO_COLOR`).
#[derive(Debug, Clone)]
pub struct Printer {
    pub json: bool,
    pub colour: bool,
    /// The label column's width (the longest function name).
    pub width: usize,
    /// The functions in their order (each its colour).
    pub functions: Vec<String>,
}

impl Printer {
    pub fn new(json: bool, functions: Vec<String>) -> Printer {
        let colour = !json
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Printer {
            json,
            colour,
            width: functions.iter().map(|f| f.len()).max().unwrap_or(0),
            functions,
        }
    }

    /// For serve's stderr: text, coloured only when stderr is a terminal.
    pub fn for_stderr(functions: Vec<String>) -> Printer {
        Printer {
            json: false,
            colour: std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            width: functions.iter().map(|f| f.len()).max().unwrap_or(0),
            functions,
        }
    }

    /// One line, without its newline. Text never carries a control character of the message
    /// (a terminal escape is shown escaped); JSON carries the message as it is, quoted.
    pub fn line(&self, line: &Line) -> String {
        let e = &line.event;
        let id = line.request_id();
        if self.json {
            return json!({
                "time": iso(e.timestamp),
                "timestamp": e.timestamp,
                "function": line.function,
                "request_id": id,
                "message": e.message.trim_end_matches(['\n', '\r']),
                "log_group": e.group,
                "log_stream": e.stream,
                "event_id": e.id,
            })
            .to_string();
        }
        // The runtime's own prefix (time and request id) is in the label already.
        let mut message = e.message.trim_end_matches(['\n', '\r']);
        if let Some(id) = id {
            let mut parts = message.splitn(3, '\t');
            if let (Some(_), Some(i), Some(rest)) = (parts.next(), parts.next(), parts.next()) {
                if i == id {
                    message = rest;
                }
            }
        }
        let message = crate::report::printable(message)
            .replace('\t', " ")
            .replace('\n', "\n    ");
        let short = id.map(|i| &i[..8.min(i.len())]).unwrap_or("-");
        let function = crate::report::printable(&line.function);
        let label = format!("{function:<w$}", w = self.width);
        if self.colour {
            let n = self
                .functions
                .iter()
                .position(|f| *f == line.function)
                .unwrap_or(0);
            let colour = [36, 33, 35, 32, 34, 31][n % 6];
            format!(
                "\x1b[2m{}\x1b[0m \x1b[{colour}m{label}\x1b[0m \x1b[2m{short:<8}\x1b[0m {message}",
                iso(e.timestamp)
            )
        } else {
            format!("{} {label} {short:<8} {message}", iso(e.timestamp))
        }
    }
}

/// Sorts lines in time order (then by function and stream, so equal times print the same way
/// each run) and drops events already `seen` (by event id).
pub fn merge(mut lines: Vec<Line>, seen: &mut HashSet<String>) -> Vec<Line> {
    lines.retain(|l| match &l.event.id {
        Some(id) => seen.insert(id.clone()),
        None => true,
    });
    lines.sort_by(|a, b| {
        (a.event.timestamp, &a.function, &a.event.stream).cmp(&(
            b.event.timestamp,
            &b.function,
            &b.event.stream,
        ))
    });
    lines
}

/// What a read found: the lines, merged, and the groups that were cut or could not be read
/// (each with why).
pub struct Read {
    pub lines: Vec<Line>,
    pub notes: Vec<String>,
}

/// Every group's events from `start` to `end` (milliseconds), read side by side and merged.
/// A group that does not exist yet (no invocation since it was made by hand, say) is noted,
/// not an error; any other error stops the read.
pub async fn fetch(
    c: &Caller,
    sources: &[Source],
    range: (i64, Option<i64>),
    pattern: Option<&str>,
    seen: &mut HashSet<String>,
) -> Result<Read, AwsError> {
    let reads = sources.iter().map(|s| read_group(c, s, range, pattern));
    let mut lines = Vec::new();
    let mut notes = Vec::new();
    for (source, read) in sources.iter().zip(futures::future::join_all(reads).await) {
        match read {
            Ok((events, cut)) => {
                if cut {
                    notes.push(format!(
                        "{}: more than {MAX_PAGES} pages in this range; the rest is left out (ask for a shorter --since, or a --filter)",
                        source.group
                    ));
                }
                lines.extend(events.into_iter().map(|event| Line {
                    function: source.function.clone(),
                    event,
                }));
            }
            Err(e) if e.kind == crate::aws::ErrorKind::NotFound => {
                notes.push(format!(
                    "{}: no such log group (the function has not logged yet, or it was deleted by hand; deploy makes it again)",
                    source.group
                ));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Read {
        lines: merge(lines, seen),
        notes,
    })
}

/// One group's events in a range, every page (through empty ones) up to [`MAX_PAGES`];
/// `true` when it was cut there.
async fn read_group(
    c: &Caller,
    source: &Source,
    range: (i64, Option<i64>),
    pattern: Option<&str>,
) -> Result<(Vec<LogEvent>, bool), AwsError> {
    let mut events = Vec::new();
    let mut token = None;
    for _ in 0..MAX_PAGES {
        let (page, next) = c
            .call("logs", || {
                log_group::filter_page(&c.aws, &source.group, range, pattern, token.clone())
            })
            .await?;
        events.extend(page);
        match next {
            // A token that does not move on would loop for ever.
            Some(n) if token.as_deref() != Some(n.as_str()) => token = Some(n),
            _ => return Ok((events, false)),
        }
    }
    Ok((events, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(function: &str, ts: i64, id: Option<&str>, message: &str) -> Line {
        Line {
            function: function.into(),
            event: LogEvent {
                group: format!("/aws/lambda/{function}"),
                stream: "s".into(),
                timestamp: ts,
                id: id.map(Into::into),
                message: message.into(),
            },
        }
    }

    #[test]
    fn request_ids_come_from_lambdas_lines_and_the_runtimes() {
        let id = "8f5c2a1b-0c3d-4e5f-9a8b-7c6d5e4f3a2b";
        for m in [
            format!("START RequestId: {id} Version: $LATEST"),
            format!("END RequestId: {id}"),
            format!("REPORT RequestId: {id}\tDuration: 2.00 ms"),
            format!("2026-12-04T10:00:00.000Z\t{id}\tINFO\thello"),
        ] {
            assert_eq!(request_id(&m), Some(id), "{m}");
        }
        for m in [
            "INIT_START Runtime Version: nodejs:22",
            "plain text",
            "a\tb\tc",
        ] {
            assert_eq!(request_id(m), None, "{m}");
        }
    }

    #[test]
    fn the_runtimes_lines_are_told_from_others() {
        let id = "8f5c2a1b-0c3d-4e5f-9a8b-7c6d5e4f3a2b";
        assert_eq!(
            runtime_line(&format!("1970-01-01T00:00:01.500Z\t{id}\tINFO\thi")),
            Some(1_500)
        );
        assert_eq!(
            runtime_line("    at Object.<anonymous> (index.mjs:3:9)"),
            None
        );
        assert_eq!(runtime_line(&format!("not a time\t{id}\tINFO\thi")), None);
    }

    #[test]
    fn times_are_durations_back_from_now_or_utc() {
        let now = 1_800_000_000_000;
        assert_eq!(parse_when("10m", now), Ok(now - 600_000));
        assert_eq!(parse_when("2h", now), Ok(now - 7_200_000));
        assert_eq!(parse_when("now", now), Ok(now));
        assert_eq!(parse_when("2026-12-04", now), Ok(1_796_342_400_000));
        assert_eq!(
            parse_when("2026-12-04T10:00:05.25Z", now),
            Ok(1_796_342_400_000 + 36_005_250)
        );
        assert_eq!(
            parse_when("2026-12-04 11:00+01:00", now),
            Ok(1_796_342_400_000 + 36_000_000)
        );
        assert_eq!(
            iso(1_796_342_400_000 + 36_005_250),
            "2026-12-04T10:00:05.250Z"
        );
        for bad in [
            "",
            "10",
            "10x",
            "yesterday",
            "2026-13-01",
            "2026-12-04T25:00",
            "99999999999m",
        ] {
            let e = parse_when(bad, now).unwrap_err();
            assert!(e.contains("is not a time"), "{bad}: {e}");
        }
    }

    #[test]
    fn lines_merge_in_time_order_without_repeats_and_escape_the_terminal() {
        let mut seen = HashSet::new();
        let merged = merge(
            vec![
                line("b", 2, Some("e2"), "second"),
                line("a", 1, Some("e1"), "first"),
                line("a", 3, Some("e1"), "again"),
            ],
            &mut seen,
        );
        let messages: Vec<&str> = merged.iter().map(|l| l.event.message.as_str()).collect();
        assert_eq!(messages, ["first", "second"]);
        assert!(merge(vec![line("a", 1, Some("e2"), "x")], &mut seen).is_empty());

        let p = Printer {
            json: false,
            colour: false,
            width: 7,
            functions: vec!["putitem".into()],
        };
        let id = "8f5c2a1b-0c3d-4e5f-9a8b-7c6d5e4f3a2b";
        let text = p.line(&line(
            "putitem",
            0,
            None,
            &format!("1970-01-01T00:00:00.000Z\t{id}\tINFO\tbad \x1b]0;title\x07 end\n"),
        ));
        assert_eq!(
            text,
            "1970-01-01T00:00:00.000Z putitem 8f5c2a1b INFO bad \\u{1b}]0;title\\u{7} end"
        );
        let json = Printer { json: true, ..p }.line(&line("putitem", 0, Some("e"), "m\n"));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["function"], "putitem");
        assert_eq!(v["message"], "m");
        assert_eq!(v["event_id"], "e");
    }
}
