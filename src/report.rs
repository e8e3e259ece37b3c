//! The run's output for a person: a checklist of stages with their result and timing,
//! warnings in their own colour on a terminal, and a final one-line verdict.

use std::io::{IsTerminal, Write};
use std::time::Duration;

/// How a stage went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Passed.
    Ok,
    /// Passed with something to look at.
    Warn,
    /// Failed.
    Fail,
    /// Not run.
    Skip,
}

/// Writes the checklist to stdout (redacted like every other output).
pub struct Report {
    color: bool,
}

impl Default for Report {
    fn default() -> Self {
        Report {
            color: std::io::stdout().is_terminal(),
        }
    }
}

impl Report {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn emit(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", crate::secret::redact(line));
    }

    /// One stage line: mark, name, summary, time.
    pub fn stage(&self, mark: Mark, name: &str, summary: &str, took: Duration) {
        let (symbol, code) = match mark {
            Mark::Ok => ("ok  ", "32"),
            Mark::Warn => ("warn", "33"),
            Mark::Fail => ("FAIL", "31"),
            Mark::Skip => ("--  ", "2"),
        };
        self.emit(&format!(
            "[{}] {:<14} {}  ({} ms)",
            self.paint(code, symbol),
            name,
            summary,
            took.as_millis()
        ));
    }

    /// An indented detail line under a stage.
    pub fn detail(&self, text: &str) {
        self.emit(&format!("       {text}"));
    }

    /// A warning line.
    pub fn warn(&self, text: &str) {
        self.emit(&format!(
            "       {}",
            self.paint("33", &format!("warning: {text}"))
        ));
    }

    /// A plain line.
    pub fn line(&self, text: &str) {
        self.emit(text);
    }

    /// The final verdict.
    pub fn verdict(&self, ok: bool, text: &str) {
        let code = if ok { "1;32" } else { "1;31" };
        self.emit(&self.paint(code, text));
    }
}
