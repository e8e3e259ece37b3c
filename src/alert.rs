//! Alerts that arrive: email over SMTP (lettre), a JSON webhook, and a dead-man's-switch ping.
//!
//! Sending is retried with backoff. A failure to alert never hides the run's own outcome:
//! the caller records it in the run ledger, shows it, and keeps the run's exit code.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message as Email, SmtpTransport, Transport};
use serde::Serialize;

use crate::clock::{self, Attempt, Clock};
use crate::config::{Alerts, SmtpSecurity};
use crate::secret::Secret;

/// Attempts per channel.
const ATTEMPTS: u32 = 3;

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A routine summary.
    Info,
    /// Someone should look now.
    Critical,
}

/// One alert, as every channel sends it.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// Routine or critical.
    pub level: Level,
    /// What sent it: trade, validate, emergency-exit.
    pub kind: String,
    /// One line: the verdict.
    pub subject: String,
    /// The full text.
    pub body: String,
}

pub use crate::domain::journal::AlertFailure;

/// The configured channels and the secrets they need.
pub struct Alerter<'a> {
    config: &'a Alerts,
    smtp_password: Option<Secret>,
    clock: &'a dyn Clock,
    http: reqwest::blocking::Client,
}

impl<'a> Alerter<'a> {
    /// The alerter of a configuration.
    pub fn new(config: &'a Alerts, smtp_password: Option<Secret>, clock: &'a dyn Clock) -> Self {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap_or_else(|_| reqwest::blocking::Client::new());
        Alerter {
            config,
            smtp_password,
            clock,
            http,
        }
    }

    /// True when any alert channel is configured.
    pub fn any(&self) -> bool {
        self.config.email.enabled || self.config.webhook_url.is_some()
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
        if let Some(url) = &self.config.webhook_url {
            if let Err(error) = self.retry(|| self.post(url, alert)) {
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

    /// Pings the dead-man's switch (a GET) after a completed run.
    pub fn ping(&self) -> Option<AlertFailure> {
        let url = self.config.deadman_url.as_ref()?;
        let result = self.retry(|| {
            let response = self.http.get(url).send().map_err(|e| e.to_string())?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(format!("HTTP {}", response.status().as_u16()))
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
                error: crate::secret::redact(&e),
                wait: Duration::from_secs(2u64.pow(n)),
            },
        });
        outcome.map_err(|(last, tries)| format!("{last} (after {tries} attempts)"))
    }

    fn post(&self, url: &str, alert: &Alert) -> Result<(), String> {
        let response = self
            .http
            .post(url)
            .json(alert)
            .send()
            .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", response.status().as_u16()))
        }
    }

    fn email(&self, alert: &Alert) -> Result<(), String> {
        let m = &self.config.email;
        let prefix = match alert.level {
            Level::Critical => "[jutsu CRITICAL]",
            Level::Info => "[jutsu]",
        };
        let mut builder = Email::builder()
            .from(
                m.from
                    .parse()
                    .map_err(|e| format!("from {}: {e}", m.from))?,
            )
            .subject(format!("{prefix} {}", alert.subject))
            .header(ContentType::TEXT_PLAIN);
        for to in &m.to {
            builder = builder.to(to.parse().map_err(|e| format!("to {to}: {e}"))?);
        }
        let message = builder
            .body(crate::secret::redact(&alert.body))
            .map_err(|e| e.to_string())?;
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
