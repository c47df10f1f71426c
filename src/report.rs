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
    table_within(header, rows, terminal_width())
}

/// The width of the terminal stdout is, if it is one (a pipe or a file gets whole lines).
fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    #[cfg(unix)]
    {
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one winsize into the pointer it is given.
        if unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) } == 0 && ws.ws_col > 0 {
            return Some(ws.ws_col as usize);
        }
    }
    None
}

/// The table, its last column wrapped at word boundaries to fit `width` (when given and the
/// other columns leave it at least 20 characters), continued lines indented under it.
fn table_within(header: &[&str], rows: &[Vec<String>], width: Option<usize>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let last = header.len().saturating_sub(1);
    let indent: usize = widths[..last].iter().map(|w| w + 2).sum();
    let room = width
        .and_then(|w| w.checked_sub(indent))
        .filter(|r| *r >= 20);
    let mut out = String::new();
    let mut push_row = |cells: Vec<&str>| {
        for (i, cell) in cells.iter().enumerate() {
            if i == last {
                let lines = match room {
                    Some(r) => wrap(cell, r),
                    None => vec![cell.to_string()],
                };
                for (n, line) in lines.iter().enumerate() {
                    if n > 0 {
                        out.push('\n');
                        out.push_str(&" ".repeat(indent));
                    }
                    out.push_str(line);
                }
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

/// Words into lines of at most `width` characters (a longer word gets a line of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
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
    fn the_last_column_wraps_to_the_terminal_and_pipes_get_whole_lines() {
        let rows = vec![vec![
            "method".to_string(),
            "GET /a".to_string(),
            "drifted".to_string(),
            "one two three four five six seven eight nine ten eleven twelve".to_string(),
        ]];
        let header = ["RESOURCE", "NAME / ID", "STATUS", "REASON"];
        let whole = table_within(&header, &rows, None);
        assert_eq!(whole.lines().count(), 2, "{whole}");
        let narrow = table_within(&header, &rows, Some(50));
        assert!(narrow.lines().all(|l| l.chars().count() <= 50), "{narrow}");
        assert!(narrow.lines().count() > 2, "{narrow}");
        // Every word is there, in order; continued lines start under the column.
        let indent = "RESOURCE  NAME / ID  STATUS   ".len();
        let words: Vec<&str> = narrow
            .lines()
            .skip(1)
            .map(|l| l[indent..].trim_end())
            .flat_map(|l| l.split(' '))
            .collect();
        assert_eq!(words.join(" "), rows[0][3]);
        // Too narrow to help: whole lines.
        assert_eq!(table_within(&header, &rows, Some(30)), whole);
    }

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
