//! SMS through Twilio's REST API: `POST {api_url}/2010-04-01/Accounts/{sid}/Messages.json`
//! with the form fields `To`, `From` (or `MessagingServiceSid`) and `Body`, HTTP basic auth
//! with the account SID and the auth token. A 201 answers with the message's `sid`; an
//! error answers JSON with `code` and `message`.
//!
//! One message of at most 160 characters: the subject (level, mode, session, command,
//! headline), then what to do. It is kept to plain ASCII, because a single character outside
//! the GSM alphabet makes the whole message UCS-2, where one segment holds 70 characters.

use std::time::Duration;

use super::{Alert, AlertFailure, Alerter, ATTEMPTS};
use crate::support::clock::{self, Attempt};

/// One SMS segment of the GSM alphabet.
pub const MAX_CHARS: usize = 160;

/// What marks a cut.
const CUT: &str = "...";

/// The message of `alert`: its subject on the first line, what to do on the second, at most
/// [`MAX_CHARS`] characters of ASCII. What to do is cut at a word when it does not fit; the
/// subject only when it alone is too long.
pub fn sms_body(alert: &Alert) -> String {
    let head = ascii(&alert.subject());
    let advice = alert
        .summary
        .iter()
        .find(|line| line.starts_with("What to do:"))
        .map(|line| ascii(&for_a_text(line)));
    let Some(advice) = advice else {
        return cut_at_word(&head, MAX_CHARS);
    };
    if head.chars().count() + 1 + CUT.len() + 10 > MAX_CHARS {
        return cut_at_word(&head, MAX_CHARS);
    }
    let room = MAX_CHARS - head.chars().count() - 1;
    format!("{head}\n{}", cut_at_word(&advice, room))
}

/// Advice written for the email, for a text message: it has no checklist below it, and
/// no code formatting.
fn for_a_text(line: &str) -> String {
    line.replace(" in the checklist below", " in the log")
        .replace(" below", " in the log")
        .replace('`', "")
}

/// `text` in plain ASCII: the few typographic characters jutsu writes spelled out, any
/// other character outside ASCII a `?`.
fn ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '…' => out.push_str("..."),
            '→' => out.push_str("->"),
            '–' | '—' | '−' => out.push('-'),
            '×' => out.push('x'),
            '‘' | '’' => out.push('\''),
            '“' | '”' => out.push('"'),
            '\n' | '\t' => out.push(' '),
            c if c.is_ascii() => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// `text` if it fits in `max` characters, else as many whole words as fit before `...`.
fn cut_at_word(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let keep = max.saturating_sub(CUT.len());
    let head: String = text.chars().take(keep).collect();
    let head = match head.rfind(' ') {
        Some(space) if space > keep / 2 => &head[..space],
        _ => head.as_str(),
    };
    format!("{}{CUT}", head.trim_end_matches([' ', ',', ';', ':', '.']))
}

/// Why one attempt failed, and whether another could go better.
struct Failed {
    message: String,
    /// The provider refused the request itself (a bad number, a bad login): sending the
    /// same again cannot succeed.
    permanent: bool,
}

impl Alerter<'_> {
    /// Texts `alert` to every number when its level is one `alerts.sms.levels` sends; the
    /// numbers whose message failed, each once.
    pub(super) fn sms(&self, alert: &Alert) -> Vec<AlertFailure> {
        let sms = &self.config.sms;
        if !sms.enabled || !sms.levels.contains(&alert.level) {
            return Vec::new();
        }
        let body = sms_body(alert);
        sms.to
            .iter()
            .filter_map(|to| {
                self.text_with_retries(to, &body)
                    .err()
                    .map(|error| AlertFailure {
                        channel: "sms".into(),
                        error: format!("to {to}: {error}"),
                    })
            })
            .collect()
    }

    /// One message, tried like the other channels (3 times with backoff) unless the
    /// provider refused it for good.
    fn text_with_retries(&self, to: &str, body: &str) -> Result<String, String> {
        let outcome = clock::retry(self.clock, ATTEMPTS - 1, |n| match self.text(to, body) {
            Ok(sid) => Attempt::Done(sid),
            Err(f) if f.permanent => Attempt::Fail(crate::support::secret::redact(&f.message)),
            Err(f) => Attempt::Again {
                error: crate::support::secret::redact(&f.message),
                wait: Duration::from_secs(2u64.pow(n)),
            },
        });
        outcome.map_err(|(last, tries)| match tries {
            1 => format!("{last} (refused: not retried)"),
            _ => format!("{last} (after {tries} attempts)"),
        })
    }

    /// Sends one message; the provider's message sid.
    fn text(&self, to: &str, body: &str) -> Result<String, Failed> {
        let sms = &self.config.sms;
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            sms.api_url.trim_end_matches('/'),
            sms.account_sid
        );
        let sender = match (&sms.messaging_service_sid, &sms.from) {
            (Some(service), _) => ("MessagingServiceSid", service.as_str()),
            (None, from) => ("From", from.as_deref().unwrap_or_default()),
        };
        let form = [("To", to), sender, ("Body", body)];
        let token = self.sms_token.as_ref().map(|t| t.expose().to_string());
        let response = self
            .http()
            .post(&url)
            .basic_auth(&sms.account_sid, token)
            .form(&form)
            .send()
            .map_err(|e| Failed {
                message: e.without_url().to_string(),
                permanent: false,
            })?;
        let status = response.status();
        let answer: serde_json::Value = response.json().unwrap_or_default();
        if status.is_success() {
            return match answer["sid"].as_str() {
                Some(sid) => Ok(sid.to_string()),
                None => Err(Failed {
                    message: format!("HTTP {} without a message sid", status.as_u16()),
                    permanent: false,
                }),
            };
        }
        let said = match (answer["code"].as_i64(), answer["message"].as_str()) {
            (Some(code), Some(message)) => format!(": error {code}: {message}"),
            (None, Some(message)) => format!(": {message}"),
            _ => String::new(),
        };
        Err(Failed {
            message: format!("HTTP {}{said}", status.as_u16()),
            permanent: status.is_client_error() && status.as_u16() != 429,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Level;

    fn alert(headline: &str, advice: &str) -> Alert {
        Alert {
            level: Level::Critical,
            kind: "trade".into(),
            mode: "live".into(),
            date: chrono::NaiveDate::from_ymd_opt(2025, 12, 12).unwrap(),
            headline: headline.into(),
            summary: vec![
                format!("Outcome: {headline}"),
                format!("What to do: {advice}"),
            ],
            details: String::new(),
        }
    }

    #[test]
    fn the_text_is_the_subject_then_what_to_do_for_a_phone() {
        let a = alert(
            "FAILED at plan",
            "read the failed stage below, fix it, and run `jutsu trade` again.",
        );
        assert_eq!(
            sms_body(&a),
            "[jutsu CRITICAL] live 2025-12-12 trade FAILED at plan\n\
             What to do: read the failed stage in the log, fix it, and run jutsu trade again."
        );
    }

    #[test]
    fn a_long_alert_is_cut_at_a_word_to_160_ascii_characters() {
        let a = alert(
            "INCOMPLETE at execute → 3 orders sent",
            &"check the orders at the broker – the next run settles them ".repeat(4),
        );
        let text = sms_body(&a);
        assert!(text.chars().count() <= MAX_CHARS, "{text}");
        assert!(text.is_ascii(), "{text}");
        assert!(
            text.starts_with("[jutsu CRITICAL] live 2025-12-12 trade INCOMPLETE at execute -> 3"),
            "{text}"
        );
        // Cut after a whole word of what to do.
        let full = ascii(&for_a_text(&a.summary[1]));
        let kept = text.lines().nth(1).unwrap().strip_suffix("...").unwrap();
        assert!(full.starts_with(kept), "{kept:?} of {full:?}");
        assert_eq!(full.as_bytes()[kept.len()], b' ', "{kept:?}");
        let long = alert(&"x".repeat(300), "nothing.");
        let text = sms_body(&long);
        assert_eq!(text.chars().count(), MAX_CHARS);
        assert!(text.ends_with("..."));
    }
}
