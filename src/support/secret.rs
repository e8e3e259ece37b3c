//! Secrets: values that must never reach a log, an error message, a ledger or an email.
//!
//! A [`Secret`] prints as `[REDACTED]`. As a second line of defence every secret value read
//! at start-up is registered with the process-wide [`Redactor`], and everything jutsu writes
//! to the terminal or its log files passes through [`redact`].

use std::fmt;
use std::sync::{OnceLock, RwLock};

/// The text that replaces a secret wherever it would be shown.
pub const REDACTED: &str = "[REDACTED]";

/// A secret string. `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value and registers it for redaction.
    pub fn new(value: String) -> Self {
        register(&value);
        Secret(value)
    }

    /// The value itself, for the one place that must send it (an HTTP header, SMTP login).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

fn registry() -> &'static RwLock<Vec<String>> {
    static SECRETS: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| RwLock::new(Vec::new()))
}

/// Remembers a value so that [`redact`] hides it. Values shorter than four characters are
/// not registered: hiding every "a" or "1" would garble output and protect nothing.
pub fn register(value: &str) {
    if value.len() < 4 {
        return;
    }
    if let Ok(mut list) = registry().write() {
        if !list.iter().any(|v| v == value) {
            list.push(value.to_string());
            // Longest first, so that a secret containing another is hidden whole.
            list.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }
}

/// `text` with every registered secret replaced by [`REDACTED`].
pub fn redact(text: &str) -> String {
    let Ok(list) = registry().read() else {
        return text.to_string();
    };
    let mut out = text.to_string();
    for secret in list.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), REDACTED);
        }
    }
    out
}

/// A writer that redacts registered secrets from everything written through it, line by line.
pub struct Redactor<W: std::io::Write> {
    inner: W,
}

impl<W: std::io::Write> Redactor<W> {
    /// Wraps a writer.
    pub fn new(inner: W) -> Self {
        Redactor { inner }
    }
}

impl<W: std::io::Write> std::io::Write for Redactor<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.inner.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_displays_its_value() {
        let s = Secret::new("hunter2-very-secret".into());
        assert_eq!(format!("{s} {s:?}"), "[REDACTED] [REDACTED]");
        assert_eq!(s.expose(), "hunter2-very-secret");
    }

    #[test]
    fn redact_hides_registered_values_anywhere_in_text() {
        register("abcd-token-xyz");
        assert_eq!(
            redact("Authorization: Bearer abcd-token-xyz!"),
            "Authorization: Bearer [REDACTED]!"
        );
    }
}
