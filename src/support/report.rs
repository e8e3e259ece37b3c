//! The run's output for a person: a checklist of stages with their result and timing,
//! warnings in their own colour on a terminal, and a final one-line verdict. A plain copy
//! of every line is kept for the summary email.

use std::cell::RefCell;
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

/// The log target of the checklist's lines: they go to the log file, and the terminal's
/// log layer leaves them out (stdout has them already).
pub const RUN: &str = "jutsu::run";

/// Writes the checklist to stdout (redacted like every other output).
pub struct Report {
    color: bool,
    transcript: RefCell<Vec<String>>,
    warnings: std::cell::Cell<usize>,
}

impl Default for Report {
    fn default() -> Self {
        Report {
            color: std::io::stdout().is_terminal(),
            transcript: RefCell::new(Vec::new()),
            warnings: std::cell::Cell::new(0),
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

    fn emit(&self, plain: String, painted: String) {
        // A closed pipe (`jutsu trade | head`) must not stop a run that is sending orders:
        // output errors are ignored.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", hinted(&crate::support::secret::redact(&painted)));
        self.transcript
            .borrow_mut()
            .push(hinted(&crate::support::secret::redact(&plain)));
    }

    /// How many warnings the run gave.
    pub fn warnings(&self) -> usize {
        self.warnings.get()
    }

    /// Everything written so far, uncoloured.
    pub fn transcript(&self) -> String {
        self.transcript.borrow().join("\n")
    }

    /// One stage line: mark, name, summary, time.
    pub fn stage(&self, mark: Mark, name: &str, summary: &str, took: Duration) {
        let ms = took.as_millis() as u64;
        match mark {
            Mark::Fail => tracing::error!(target: RUN, stage = name, ms, "{summary}"),
            Mark::Warn => tracing::warn!(target: RUN, stage = name, ms, "{summary}"),
            Mark::Ok | Mark::Skip => tracing::info!(target: RUN, stage = name, ms, "{summary}"),
        }
        let (symbol, code) = match mark {
            Mark::Ok => ("ok  ", "32"),
            Mark::Warn => ("warn", "33"),
            Mark::Fail => ("FAIL", "31"),
            Mark::Skip => ("--  ", "2"),
        };
        let line = |s: &str| format!("[{s}] {name:<14} {summary}  ({} ms)", took.as_millis());
        self.emit(line(symbol), line(&self.paint(code, symbol)));
    }

    /// An indented detail line under a stage.
    pub fn detail(&self, text: &str) {
        tracing::info!(target: RUN, "{text}");
        let line = format!("       {text}");
        self.emit(line.clone(), line);
    }

    /// A warning line.
    pub fn warn(&self, text: &str) {
        self.warnings.set(self.warnings.get() + 1);
        tracing::warn!(target: RUN, "{text}");
        let plain = format!("warning: {text}");
        let painted = self.paint("33", &plain);
        self.emit(format!("       {plain}"), format!("       {painted}"));
    }

    /// A plain line.
    pub fn line(&self, text: &str) {
        tracing::info!(target: RUN, "{text}");
        self.emit(text.to_string(), text.to_string());
    }

    /// The final verdict.
    pub fn verdict(&self, ok: bool, text: &str) {
        match ok {
            true => tracing::info!(target: RUN, verdict = true, "{text}"),
            false => tracing::error!(target: RUN, verdict = true, "{text}"),
        }
        let code = if ok { "1;32" } else { "1;31" };
        self.emit(text.to_string(), self.paint(code, text));
    }
}

/// The `-c PATH` the command line named, once known ([`set_hint_flag`]).
static HINT_FLAG: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Sets, once per process, the `-c PATH` that the commands a message suggests must carry
/// (`None` when the configuration came from the default or `JUTSU_CONFIG`).
pub fn set_hint_flag(flag: Option<String>) {
    let _ = HINT_FLAG.set(flag);
}

/// `text` with every suggested command (`` run `jutsu state accept F` ``) carrying the
/// command line's `-c PATH`, so that it can be pasted as it is. A command named as what
/// happened (`` adopted by `jutsu state adopt` ``, `` runs `jutsu trade` ``) is left alone.
pub fn hinted(text: &str) -> String {
    let Some(flag) = HINT_FLAG.get().and_then(Option::as_deref) else {
        return text.to_string();
    };
    const COMMAND: &str = "`jutsu ";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(COMMAND) {
        let before = &rest[..at];
        out.push_str(before);
        out.push_str(COMMAND);
        let described = before.ends_with("by ") || before.ends_with("runs ");
        if !described {
            out.push_str(flag);
            out.push(' ');
        }
        rest = &rest[at + COMMAND.len()..];
    }
    out.push_str(rest);
    out
}

/// Prints one line on stdout, redacted, ignoring a closed pipe: commands that move money use
/// it, so that `| head` cannot panic them between two orders.
pub fn say(line: &str) {
    let _ = writeln!(
        std::io::stdout().lock(),
        "{}",
        hinted(&crate::support::secret::redact(line))
    );
}
