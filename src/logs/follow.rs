//! `logs --follow`: new events as they come, until Ctrl-C.
//!
//! CloudWatch Logs Live Tail first (StartLiveTail: at most 10 log groups per session, so one
//! session per 10 functions; a session ends after 3 hours and is opened again; above 500
//! events a second CloudWatch sends a sample, and `logs` says so once). Where live tail is not
//! available (an identity without `logs:StartLiveTail`, a region or endpoint without it) or a
//! session ends early, polling FilterLogEvents every few seconds, over a window that reaches
//! back a minute for events that arrive late, each event printed once (by event id).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{fetch, merge, Line, Printer, Source};
use crate::aws::Caller;
use crate::resources::log_group::{self, LogEvent, Tail};

/// Log groups one live tail session may watch.
const GROUPS_PER_SESSION: usize = 10;
/// A session ends after 3 hours; one that ends near then is opened again.
const SESSION_LIMIT: Duration = Duration::from_secs(3 * 3600 - 120);
/// How far back each poll reads, for events that reach CloudWatch late.
const LOOKBACK_MS: i64 = 60_000;

/// What ends a follow: the first interrupt.
pub struct Follow<'a> {
    pub caller: &'a Caller,
    pub sources: &'a [Source],
    pub pattern: Option<&'a str>,
    pub printer: &'a Printer,
    /// Events before this (milliseconds) are not shown.
    pub start: i64,
    pub poll_every: Duration,
    /// Lines already printed (the history `logs` showed first), so a live tail that replays
    /// them does not print them twice.
    pub printed: Vec<Line>,
}

/// An event's identity where it has no id (a live tail's).
fn fingerprint(e: &LogEvent) -> String {
    format!("{}\n{}\n{}\n{}", e.group, e.stream, e.timestamp, e.message)
}

impl Follow<'_> {
    /// Runs until the first interrupt; `Ok` then (exit 0).
    pub async fn run(self, mut interrupts: crate::signal::Interrupts) -> anyhow::Result<()> {
        let mut shown = Shown::default();
        for l in &self.printed {
            shown.insert(&l.event);
        }
        let mut cursor = self
            .printed
            .iter()
            .map(|l| l.event.timestamp)
            .max()
            .unwrap_or(self.start);
        let start_count = *interrupts.borrow();
        let stopped = |i: &crate::signal::Interrupts| *i.borrow() > start_count;
        match self.live(&mut interrupts, &mut shown, &mut cursor, start_count).await {
            Live::Stopped => return Ok(()),
            Live::Unavailable(why) => eprintln!(
                "note: live tail is not available ({}); polling FilterLogEvents every {} s instead",
                crate::report::printable(&why),
                self.poll_every.as_secs_f64()
            ),
            Live::EndedEarly(why) => eprintln!(
                "note: the live tail session ended early ({}); polling FilterLogEvents every {} s from here",
                crate::report::printable(&why),
                self.poll_every.as_secs_f64()
            ),
        }
        // Polling.
        loop {
            if stopped(&interrupts) {
                return Ok(());
            }
            let from = (cursor - LOOKBACK_MS).max(self.start);
            let mut none = HashSet::new();
            let read = fetch(
                self.caller,
                self.sources,
                (from, None),
                self.pattern,
                &mut none,
            )
            .await
            .map_err(|e| anyhow::anyhow!("reading the log groups: {e}"))?;
            let fresh: Vec<Line> = read
                .lines
                .into_iter()
                .filter(|l| shown.insert(&l.event))
                .collect();
            self.print(&fresh);
            if let Some(t) = fresh.iter().map(|l| l.event.timestamp).max() {
                cursor = cursor.max(t);
            }
            shown.forget_before(cursor - 2 * LOOKBACK_MS);
            tokio::select! {
                _ = tokio::time::sleep(self.poll_every) => {}
                _ = interrupts.changed() => return Ok(()),
            }
        }
    }

    fn print(&self, lines: &[Line]) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for l in lines {
            let _ = writeln!(out, "{}", self.printer.line(l));
        }
        let _ = out.flush();
    }

    /// Live tail sessions over every group, until an interrupt, or until a session cannot be
    /// had or ends early.
    async fn live(
        &self,
        interrupts: &mut crate::signal::Interrupts,
        shown: &mut Shown,
        cursor: &mut i64,
        start_count: u32,
    ) -> Live {
        let chunks: Vec<Vec<String>> = self
            .sources
            .chunks(GROUPS_PER_SESSION)
            .map(|c| c.iter().map(|s| s.arn.clone()).collect())
            .collect();
        let function_of: HashMap<&str, &str> = self
            .sources
            .iter()
            .map(|s| (s.group.as_str(), s.function.as_str()))
            .collect();
        let (tx, mut rx) = mpsc::channel::<(usize, Tail)>(64);
        let mut opened = Vec::new();
        for (i, groups) in chunks.iter().enumerate() {
            match self.open(groups).await {
                Ok(session) => opened.push((i, session)),
                Err(why) => return Live::Unavailable(why),
            }
        }
        let mut started = vec![Instant::now(); chunks.len()];
        let mut tasks = Vec::new();
        for (i, session) in opened {
            tasks.push(tokio::spawn(pump(i, session, tx.clone())));
        }
        let mut said_sampled = false;
        let outcome = loop {
            if *interrupts.borrow() > start_count {
                break Live::Stopped;
            }
            let item = tokio::select! {
                item = rx.recv() => item,
                _ = interrupts.changed() => break Live::Stopped,
            };
            let Some((i, tail)) = item else {
                break Live::EndedEarly("every session closed".into());
            };
            match tail {
                Tail::Events { events, sampled } => {
                    if sampled && !said_sampled {
                        said_sampled = true;
                        eprintln!("note: CloudWatch is sending a sample of these log events (above 500 a second); `logs` without --follow reads them all");
                    }
                    let lines: Vec<Line> = events
                        .into_iter()
                        .filter(|e| e.timestamp >= self.start && shown.insert(e))
                        .map(|event| Line {
                            function: function_of
                                .get(event.group.as_str())
                                .map(|f| f.to_string())
                                .unwrap_or_else(|| event.group.clone()),
                            event,
                        })
                        .collect();
                    let lines = merge(lines, &mut HashSet::new());
                    if let Some(t) = lines.iter().map(|l| l.event.timestamp).max() {
                        *cursor = (*cursor).max(t);
                    }
                    self.print(&lines);
                }
                Tail::Nothing => {}
                Tail::Ended { timeout, why } => {
                    if timeout || started[i].elapsed() >= SESSION_LIMIT {
                        match self.open(&chunks[i]).await {
                            Ok(session) => {
                                started[i] = Instant::now();
                                tasks.push(tokio::spawn(pump(i, session, tx.clone())));
                            }
                            Err(why) => break Live::EndedEarly(why),
                        }
                    } else {
                        break Live::EndedEarly(
                            why.unwrap_or_else(|| "closed by the service".into()),
                        );
                    }
                }
            }
        };
        for t in tasks {
            t.abort();
        }
        outcome
    }

    async fn open(&self, groups: &[String]) -> Result<log_group::LiveTail, String> {
        log_group::live_tail(&self.caller.aws, groups, self.pattern)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Forwards a session's items until it ends.
async fn pump(i: usize, mut session: log_group::LiveTail, tx: mpsc::Sender<(usize, Tail)>) {
    loop {
        let item = session.next().await;
        let end = matches!(item, Tail::Ended { .. });
        if tx.send((i, item)).await.is_err() || end {
            return;
        }
    }
}

enum Live {
    Stopped,
    Unavailable(String),
    EndedEarly(String),
}

/// The events printed, by id or fingerprint, with their times (so old ones are forgotten).
#[derive(Default)]
struct Shown {
    keys: HashMap<String, i64>,
}

impl Shown {
    /// `true` when the event was not shown before (it is now recorded as shown).
    fn insert(&mut self, e: &LogEvent) -> bool {
        let fp = fingerprint(e);
        if self.keys.contains_key(&fp) || e.id.as_ref().is_some_and(|id| self.keys.contains_key(id))
        {
            return false;
        }
        self.keys.insert(fp, e.timestamp);
        if let Some(id) = &e.id {
            self.keys.insert(id.clone(), e.timestamp);
        }
        true
    }

    fn forget_before(&mut self, ms: i64) {
        self.keys.retain(|_, t| *t >= ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_shown_once_by_id_or_by_content() {
        let e = LogEvent {
            group: "g".into(),
            stream: "s".into(),
            timestamp: 10,
            id: None,
            message: "m".into(),
        };
        let mut shown = Shown::default();
        assert!(shown.insert(&e));
        // The same event polled later, now with an id.
        let polled = LogEvent {
            id: Some("e1".into()),
            ..e.clone()
        };
        assert!(!shown.insert(&polled));
        assert!(shown.insert(&LogEvent {
            message: "other".into(),
            id: Some("e2".into()),
            ..e.clone()
        }));
        assert!(!shown.insert(&LogEvent {
            message: "changed text, same id".into(),
            id: Some("e2".into()),
            ..e.clone()
        }));
        shown.forget_before(11);
        assert!(shown.insert(&e));
    }
}
