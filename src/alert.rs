//! Alerts that arrive: email over SMTP (lettre), SMS through Twilio's REST API (`sms`), a
//! webhook in the format a chat tool takes, and a dead-man's switch in the healthchecks
//! convention.
//!
//! Sending is retried with backoff. A failure to alert never hides the run's own outcome:
//! the caller records it in the run ledger, shows it, and keeps the run's exit code.

use std::time::Duration;

use chrono::NaiveDate;
use lettre::message::{header, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message as Email, SmtpTransport, Transport};
use serde::Serialize;

mod sms;

pub use sms::sms_body;

use crate::config::{Alerts, Mode, Secrets, SmtpSecurity, WebhookFormat};
use crate::support::clock::{self, Attempt, Clock};
use crate::support::secret::Secret;

/// Attempts per channel.
const ATTEMPTS: u32 = 3;

/// What every HTTP request of the alerter says it is.
const USER_AGENT: &str = concat!("jutsu/", env!("CARGO_PKG_VERSION"));

pub use crate::config::Level;

impl Level {
    /// The subject's tag.
    fn tag(self) -> &'static str {
        match self {
            Level::Info => "[jutsu]",
            Level::Warning => "[jutsu WARNING]",
            Level::Critical => "[jutsu CRITICAL]",
        }
    }
}

/// One alert, as every channel sends it.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// Routine, warning or critical.
    pub level: Level,
    /// What sent it: trade, validate, emergency-exit, auth.
    pub kind: String,
    /// dry_run, paper or live.
    pub mode: String,
    /// The session (or, when there was none, the New York date of the run).
    pub date: NaiveDate,
    /// The outcome in a few words: `OK: 2 orders filled`, `FAILED at preflight`, `GREEN`.
    pub headline: String,
    /// What a person reads first: outcome, trades, allocation, equity, what to do.
    pub summary: Vec<String>,
    /// The checklist the command printed.
    pub details: String,
}

impl Alert {
    /// `[jutsu] paper 2025-12-12 trade OK: 2 orders filled`.
    pub fn subject(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.level.tag(),
            self.mode,
            self.date,
            self.kind,
            self.headline
        )
    }

    /// An alert whose summary is its outcome and one piece of advice.
    pub fn brief(
        level: Level,
        kind: &str,
        mode: Mode,
        date: NaiveDate,
        headline: String,
        advice: &str,
        details: String,
    ) -> Self {
        Alert {
            level,
            kind: kind.into(),
            mode: mode.as_str().into(),
            date,
            summary: vec![
                format!("Outcome: {headline}"),
                format!("What to do: {advice}"),
            ],
            headline,
            details,
        }
    }

    /// The summary, then the checklist without the lines the summary already has.
    pub fn text(&self) -> String {
        let mut out = self.summary.join("\n");
        let details: Vec<&str> = self
            .details
            .lines()
            .filter(|line| line.trim().is_empty() || !self.summary.iter().any(|s| s == line))
            .collect();
        if !details.iter().all(|l| l.trim().is_empty()) {
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str("Checklist\n");
            out.push_str(details.join("\n").trim_matches('\n'));
        }
        crate::support::secret::redact(&out)
    }
}

pub use crate::domain::journal::AlertFailure;

/// A webhook request: its content type, body and extra headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// `application/json` or `text/plain; charset=utf-8`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
    /// Extra headers (ntfy's title and priority).
    pub headers: Vec<(&'static str, String)>,
}

/// Cuts `text` to at most `max` characters, marking the cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max.saturating_sub(2)).collect();
    format!("{kept}\n…")
}

/// The webhook request of `alert` in `format`. Discord takes 2000 characters, Telegram 4096,
/// ntfy 4096 bytes before it turns a message into an attachment: longer texts are cut there.
pub fn webhook(format: WebhookFormat, alert: &Alert, chat_id: Option<&str>) -> Webhook {
    let subject = alert.subject();
    let text = alert.text();
    let json = |value: serde_json::Value| Webhook {
        content_type: "application/json",
        body: value.to_string(),
        headers: Vec::new(),
    };
    match format {
        WebhookFormat::Json => json(serde_json::json!({
            "level": alert.level,
            "kind": alert.kind,
            "mode": alert.mode,
            "date": alert.date.to_string(),
            "subject": subject,
            "summary": alert.summary,
            "body": text,
        })),
        WebhookFormat::Slack => json(serde_json::json!({ "text": format!("*{subject}*\n{text}") })),
        WebhookFormat::Discord => json(serde_json::json!({
            "username": "jutsu",
            "content": clip(&format!("**{subject}**\n{text}"), 2000),
        })),
        WebhookFormat::Telegram => json(serde_json::json!({
            "chat_id": chat_id.unwrap_or_default(),
            "text": clip(&format!("{subject}\n\n{text}"), 4096),
            "disable_web_page_preview": true,
        })),
        WebhookFormat::Ntfy => Webhook {
            content_type: "text/plain; charset=utf-8",
            body: clip(&text, 3900),
            headers: vec![
                // HTTP header values are ASCII; the subject is.
                ("Title", subject.replace(|c: char| !c.is_ascii(), "?")),
                (
                    "Priority",
                    match alert.level {
                        Level::Info => "default",
                        Level::Warning => "high",
                        Level::Critical => "urgent",
                    }
                    .to_string(),
                ),
                ("Tags", format!("jutsu,{}", alert.kind)),
            ],
        },
    }
}

/// The dead-man's-switch URL for a point of a run: `/start`, the plain URL, or `/fail`.
pub fn deadman_url(base: &str, ping: Ping) -> String {
    let base = base.trim_end_matches('/');
    match ping {
        Ping::Start => format!("{base}/start"),
        Ping::Success => base.to_string(),
        Ping::Fail => format!("{base}/fail"),
    }
}

/// A point of a run that the dead-man's switch hears about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ping {
    /// The run started.
    Start,
    /// It ended with exit 0.
    Success,
    /// It ended with any other code.
    Fail,
}

/// The configured channels and the secrets they need.
pub struct Alerter<'a> {
    config: &'a Alerts,
    smtp_password: Option<Secret>,
    sms_token: Option<Secret>,
    webhook_url: Option<String>,
    clock: &'a dyn Clock,
    /// Built on first use: a blocking client starts a runtime thread, and most runs send
    /// nothing over HTTP (no webhook, no SMS, no dead-man's switch).
    http: std::sync::OnceLock<reqwest::blocking::Client>,
}

impl<'a> Alerter<'a> {
    /// The alerter of a configuration and its secrets.
    pub fn new(config: &'a Alerts, secrets: Secrets, clock: &'a dyn Clock) -> Self {
        let webhook_url = config
            .webhook_url
            .clone()
            .or_else(|| secrets.webhook_url.map(|s| s.expose().to_string()));
        Alerter {
            config,
            smtp_password: secrets.smtp_password,
            sms_token: secrets.sms_token,
            webhook_url,
            clock,
            http: std::sync::OnceLock::new(),
        }
    }

    /// The HTTP client of the webhook, SMS and dead-man's switch requests.
    fn http(&self) -> &reqwest::blocking::Client {
        self.http.get_or_init(|| {
            reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(15))
                .user_agent(USER_AGENT)
                .build()
                .unwrap_or_else(|_| reqwest::blocking::Client::new())
        })
    }

    /// True when any alert channel is configured.
    pub fn any(&self) -> bool {
        self.config.email.enabled || self.config.sms.enabled || self.webhook_url.is_some()
    }

    /// Sends `alert` on every configured channel; returns the channels that failed.
    pub fn send(&self, alert: &Alert) -> Vec<AlertFailure> {
        let mut failures = Vec::new();
        if self.config.email.enabled {
            if let Err(error) = self.retry(|| self.email(alert)) {
                failures.push(AlertFailure {
                    channel: "email".into(),
                    error,
                });
            }
        }
        failures.extend(self.sms(alert));
        if let Some(url) = &self.webhook_url {
            let request = webhook(
                self.config.webhook_format,
                alert,
                self.config.telegram_chat_id.as_deref(),
            );
            if let Err(error) = self.retry(|| self.post(url, &request)) {
                failures.push(AlertFailure {
                    channel: "webhook".into(),
                    error,
                });
            }
        }
        for f in &failures {
            tracing::error!(channel = %f.channel, "alert not delivered: {}", f.error);
        }
        failures
    }

    /// Tells the dead-man's switch about `ping`; `log` (the run's checklist) goes in the body
    /// of the end pings, where healthchecks shows it.
    pub fn ping(&self, ping: Ping, log: &str) -> Option<AlertFailure> {
        let base = self.config.deadman_url.as_ref()?;
        let url = deadman_url(base, ping);
        let result = self.retry(|| {
            let request = match ping {
                Ping::Start => self.http().get(&url),
                Ping::Success | Ping::Fail => self
                    .http()
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                    .body(crate::support::secret::redact(log)),
            };
            let response = request.send().map_err(|e| e.without_url().to_string())?;
            match response.status() {
                s if s.is_success() => Ok(()),
                s => Err(format!("HTTP {}", s.as_u16())),
            }
        });
        result.err().map(|error| AlertFailure {
            channel: "deadman".into(),
            error,
        })
    }

    fn retry(&self, mut attempt: impl FnMut() -> Result<(), String>) -> Result<(), String> {
        let outcome = clock::retry(self.clock, ATTEMPTS - 1, |n| match attempt() {
            Ok(()) => Attempt::Done(()),
            Err(e) => Attempt::Again {
                error: crate::support::secret::redact(&e),
                wait: Duration::from_secs(2u64.pow(n)),
            },
        });
        outcome.map_err(|(last, tries)| format!("{last} (after {tries} attempts)"))
    }

    fn post(&self, url: &str, request: &Webhook) -> Result<(), String> {
        let mut builder = self
            .http()
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, request.content_type)
            .body(request.body.clone());
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        // The URL may carry a token (Slack, Discord, Telegram): errors never show it.
        let response = builder.send().map_err(|e| e.without_url().to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", response.status().as_u16()))
        }
    }

    /// The message: `Date` from the clock, a `Message-ID` on the sender's domain,
    /// `MIME-Version` and a UTF-8 plain-text part.
    fn message(&self, alert: &Alert) -> Result<Email, String> {
        let m = &self.config.email;
        let now = self.clock.now_utc();
        let domain = m.from.rsplit('@').next().unwrap_or("localhost");
        let domain = domain.trim_end_matches('>');
        let id = format!(
            "<jutsu.{}.{}.{}.{}@{domain}>",
            alert.kind,
            alert.date,
            now.timestamp_micros(),
            std::process::id()
        );
        let mut builder = Email::builder()
            .from(
                m.from
                    .parse()
                    .map_err(|e| format!("from {}: {e}", m.from))?,
            )
            .subject(alert.subject())
            .date(now.into())
            .message_id(Some(id))
            .user_agent(USER_AGENT.to_string());
        for to in &m.to {
            builder = builder.to(to.parse().map_err(|e| format!("to {to}: {e}"))?);
        }
        builder
            .singlepart(
                SinglePart::builder()
                    .header(header::ContentType::TEXT_PLAIN)
                    .body(alert.text()),
            )
            .map_err(|e| e.to_string())
    }

    fn email(&self, alert: &Alert) -> Result<(), String> {
        let m = &self.config.email;
        let message = self.message(alert)?;
        let transport = match m.security {
            SmtpSecurity::Starttls => SmtpTransport::starttls_relay(&m.smtp_host),
            SmtpSecurity::Tls => SmtpTransport::relay(&m.smtp_host),
            SmtpSecurity::Plain => Ok(SmtpTransport::builder_dangerous(&m.smtp_host)),
        }
        .map_err(|e| e.to_string())?
        .port(m.smtp_port)
        .timeout(Some(Duration::from_secs(20)));
        let transport = match (&m.username, &self.smtp_password) {
            (Some(user), Some(password)) => transport.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            )),
            _ => transport,
        };
        transport
            .build()
            .send(&message)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(level: Level) -> Alert {
        Alert {
            level,
            kind: "trade".into(),
            mode: "live".into(),
            date: NaiveDate::from_ymd_opt(2025, 12, 12).unwrap(),
            headline: "OK: 2 orders filled".into(),
            summary: vec!["Outcome: OK".into(), "Equity 10000.00".into()],
            details: "[ok  ] preflight x\nEquity 10000.00\nOK: done".into(),
        }
    }

    #[test]
    fn subject_and_text_have_no_line_twice() {
        let a = alert(Level::Info);
        assert_eq!(
            a.subject(),
            "[jutsu] live 2025-12-12 trade OK: 2 orders filled"
        );
        assert_eq!(
            a.text(),
            "Outcome: OK\nEquity 10000.00\n\nChecklist\n[ok  ] preflight x\nOK: done"
        );
    }

    #[test]
    fn each_format_puts_the_text_where_its_tool_reads_it() {
        let a = alert(Level::Critical);
        let body = |f| {
            serde_json::from_str::<serde_json::Value>(&webhook(f, &a, Some("42")).body).unwrap()
        };
        assert!(body(WebhookFormat::Slack)["text"]
            .as_str()
            .unwrap()
            .starts_with("*[jutsu CRITICAL] live"));
        assert!(body(WebhookFormat::Discord)["content"]
            .as_str()
            .unwrap()
            .contains("Outcome: OK"));
        assert_eq!(body(WebhookFormat::Telegram)["chat_id"], "42");
        assert_eq!(body(WebhookFormat::Json)["mode"], "live");
        let ntfy = webhook(WebhookFormat::Ntfy, &a, None);
        assert!(ntfy.body.starts_with("Outcome: OK"));
        assert!(ntfy.headers.contains(&("Priority", "urgent".to_string())));
    }

    #[test]
    fn long_texts_are_cut_to_the_tools_limit() {
        let mut a = alert(Level::Info);
        a.details = "x".repeat(5000);
        let discord = webhook(WebhookFormat::Discord, &a, None);
        let v: serde_json::Value = serde_json::from_str(&discord.body).unwrap();
        assert_eq!(v["content"].as_str().unwrap().chars().count(), 2000);
    }

    #[test]
    fn deadman_urls_follow_the_healthchecks_convention() {
        let base = "https://hc-ping.com/abc/";
        assert_eq!(
            deadman_url(base, Ping::Start),
            "https://hc-ping.com/abc/start"
        );
        assert_eq!(deadman_url(base, Ping::Success), "https://hc-ping.com/abc");
        assert_eq!(
            deadman_url(base, Ping::Fail),
            "https://hc-ping.com/abc/fail"
        );
    }
}
