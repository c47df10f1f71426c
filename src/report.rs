//! Progress on stderr and the final result on stdout.
//!
//! Progress is one line per step with its duration; on a terminal each running step shows an
//! indicatif spinner instead, elsewhere (CI logs) plain lines only. Nothing but the result goes
//! to stdout, so `--output json` is always one parseable document.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where progress goes. Cheap to clone; safe to use from concurrent steps.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    /// Spinners, when stderr is a terminal.
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
    silent: bool,
}

impl Progress {
    /// Progress for a command: spinners on a terminal, plain lines otherwise.
    pub fn for_stderr() -> Self {
        let tty = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        Progress {
            inner: Arc::new(Inner {
                multi: tty.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
                bars: Mutex::new(HashMap::new()),
                silent: false,
            }),
        }
    }

    /// Progress that shows nothing (unit tests).
    #[cfg(test)]
    pub fn silent() -> Self {
        Progress {
            inner: Arc::new(Inner {
                multi: None,
                bars: Mutex::new(HashMap::new()),
                silent: true,
            }),
        }
    }

    fn plain(&self, line: &str) {
        if self.inner.silent {
            return;
        }
        let line = &*printable(line);
        match &self.inner.multi {
            Some(m) => {
                let _ = m.println(line);
            }
            None => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{line}");
            }
        }
    }

    /// A step begins.
    pub fn start(&self, step: &str, what: &str) {
        if let Some(m) = &self.inner.multi {
            let bar = m.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:<12} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(step.to_string());
            bar.set_message(what.to_string());
            bar.enable_steady_tick(Duration::from_millis(100));
            if let Ok(mut bars) = self.inner.bars.lock() {
                bars.insert(step.to_string(), bar);
            }
        }
    }

    /// Something worth knowing while a step runs (a wait, a retry).
    pub fn note(&self, step: &str, msg: &str) {
        let bar = self
            .inner
            .bars
            .lock()
            .ok()
            .and_then(|b| b.get(step).cloned());
        match bar {
            Some(bar) => bar.set_message(msg.to_string()),
            None => self.plain(&format!("  {step}: {msg}")),
        }
    }

    /// A step ended; `outcome` says what it did.
    pub fn finish(&self, step: &str, ok: bool, outcome: &str, elapsed: Duration) {
        let bar = self.inner.bars.lock().ok().and_then(|mut b| b.remove(step));
        if let Some(bar) = bar {
            bar.finish_and_clear();
            if let Some(m) = &self.inner.multi {
                m.remove(&bar);
            }
        }
        let mark = if ok { "ok  " } else { "FAIL" };
        self.plain(&format!(
            "{mark} {step:<12} {outcome} ({:.2} s)",
            elapsed.as_secs_f64()
        ));
    }

    /// A line of its own (headers, summaries).
    pub fn line(&self, msg: &str) {
        self.plain(msg);
    }
}

/// Prints the result: the JSON document, or the text.
/// How results are printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Human-readable lines.
    Text,
    /// One JSON document, and nothing else on stdout.
    Json,
}

pub fn emit(format: OutputFormat, json: &serde_json::Value, text: &str) {
    let mut out = std::io::stdout().lock();
    let res = match format {
        OutputFormat::Json => serde_json::to_writer_pretty(&mut out, json)
            .map_err(std::io::Error::other)
            .and_then(|_| writeln!(out)),
        OutputFormat::Text => write!(out, "{}", printable(text)),
    };
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = res.and_then(|_| out.flush());
}

/// Text for a terminal: every control character but a newline or a tab is shown escaped
/// (`\u{1b}`), so a name read from a stack file, a state or AWS can never move the cursor,
/// recolour the screen or retitle the window when an error or a table quotes it.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(bad) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if bad(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Lays out rows as aligned columns.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut push_row = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push('\n');
    };
    push_row(header.to_vec());
    for row in rows {
        push_row(row.iter().map(String::as_str).collect());
    }
    out
}

/// "1 resource", "2 resources".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let t = table(
            &["resource", "status"],
            &[
                vec!["table".into(), "ok".into()],
                vec!["function".into(), "missing".into()],
            ],
        );
        assert_eq!(t, "resource  status\ntable     ok\nfunction  missing\n");
        assert_eq!(count(1, "resource"), "1 resource");
        assert_eq!(count(0, "resource"), "0 resources");
        assert_eq!(count(14, "resource"), "14 resources");
    }
}
