//! The `alerts` section: email over SMTP, SMS through Twilio's REST API, a webhook and a
//! dead-man's switch.

use serde::{Deserialize, Serialize};

use super::rules::{check_url, env_name, is_loopback_host};

/// Transport security of the SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS.
    Starttls,
    /// Implicit TLS (usually port 465).
    Tls,
    /// No encryption: allowed only to a loopback host.
    Plain,
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A routine summary.
    Info,
    /// The run went through, but something needs doing soon (the login is about to end, a
    /// fill slipped).
    Warning,
    /// It went wrong: someone should look now.
    Critical,
}

/// Alert channels.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Alerts {
    /// Email over SMTP.
    pub email: Email,
    /// SMS through Twilio's REST API (or a provider that speaks it).
    pub sms: Sms,
    /// A POST to a URL, for chat tools and push services (in `webhook_format`).
    pub webhook_url: Option<String>,
    /// Environment variable holding the webhook URL instead, for URLs that carry a token
    /// (Slack, Discord, Telegram): the URL is then a secret, redacted everywhere.
    pub webhook_url_env: Option<String>,
    /// The body the webhook takes: `json` (jutsu's own), `slack`, `discord`, `ntfy`, `telegram`.
    pub webhook_format: WebhookFormat,
    /// Telegram's `chat_id` (with `webhook_format: telegram`).
    pub telegram_chat_id: Option<String>,
    /// A dead-man's switch in the healthchecks convention: `URL/start` when a trade run
    /// starts, `URL` when it ends with exit 0, `URL/fail` otherwise.
    pub deadman_url: Option<String>,
    /// Which runs send an alert: `all`, `trades` (the default) or `problems`.
    pub notify: Notify,
}

/// The body a webhook takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// jutsu's own JSON: level, kind, mode, date, subject, summary, body.
    #[default]
    Json,
    /// A Slack incoming webhook: `{"text": ...}`.
    Slack,
    /// A Discord webhook: `{"content": ...}` (2000 characters at most).
    Discord,
    /// An ntfy topic URL: the text as the body, `Title` and `Priority` headers.
    Ntfy,
    /// Telegram's `sendMessage`: `{"chat_id": ..., "text": ...}`.
    Telegram,
}

/// Which runs alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Notify {
    /// Every run, the quiet no-ops too (a start outside the run window, a weekend).
    All,
    /// Runs that sent orders, failed, stopped or warned, and every validation (the default).
    #[default]
    Trades,
    /// Only failures, stops, halts, warnings and RED validations.
    Problems,
}

/// What a run or a validation came to, as far as alerting is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Orders were sent.
    pub traded: bool,
    /// A failure, a stop, a halt, or a warning (slippage, the login about to expire, ...).
    pub problem: bool,
    /// A validation (not a trade run).
    pub validation: bool,
}

impl Notify {
    /// Whether an outcome alerts at this level.
    pub fn wants(self, outcome: Outcome) -> bool {
        match self {
            Notify::All => true,
            Notify::Trades => outcome.traded || outcome.problem || outcome.validation,
            Notify::Problems => outcome.problem,
        }
    }
}

/// Email over SMTP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Email {
    /// Send email at all.
    pub enabled: bool,
    /// SMTP server.
    pub smtp_host: String,
    /// SMTP port.
    pub smtp_port: u16,
    /// `starttls`, `tls`, or `plain` (loopback only).
    pub security: SmtpSecurity,
    /// SMTP user name; no login when absent.
    pub username: Option<String>,
    /// Environment variable holding the SMTP password.
    pub password_env: Option<String>,
    /// Sender address.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
}

impl Default for Email {
    fn default() -> Self {
        Email {
            enabled: false,
            smtp_host: String::new(),
            smtp_port: 587,
            security: SmtpSecurity::Starttls,
            username: None,
            password_env: None,
            from: String::new(),
            to: Vec::new(),
        }
    }
}

/// SMS through Twilio's REST API: `POST {api_url}/2010-04-01/Accounts/{account_sid}/
/// Messages.json`, HTTP basic auth with the account SID and the auth token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Sms {
    /// Send SMS at all.
    pub enabled: bool,
    /// The API's base URL: Twilio's, or a provider that speaks its API.
    pub api_url: String,
    /// The account SID (`AC...`): the user name of the basic auth, and part of the path.
    pub account_sid: String,
    /// Environment variable holding the auth token (never in the file).
    pub auth_token_env: String,
    /// The sending number (E.164, `+15551234567`) or sender id; or `messaging_service_sid`.
    pub from: Option<String>,
    /// A Messaging Service (`MG...`) that picks the sender, instead of `from`.
    pub messaging_service_sid: Option<String>,
    /// The numbers to text (E.164), each its own message.
    pub to: Vec<String>,
    /// The alert levels sent by SMS: `critical` only by default.
    pub levels: Vec<Level>,
}

impl Default for Sms {
    fn default() -> Self {
        Sms {
            enabled: false,
            api_url: "https://api.twilio.com".into(),
            account_sid: String::new(),
            auth_token_env: "TWILIO_AUTH_TOKEN".into(),
            from: None,
            messaging_service_sid: None,
            to: Vec::new(),
            levels: vec![Level::Critical],
        }
    }
}

impl Sms {
    /// Every problem of this section, each with its key path under `prefix`.
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        env_name(
            &mut out,
            &format!("{prefix}.auth_token_env"),
            &self.auth_token_env,
        );
        if let Err(problem) = check_url(&self.api_url) {
            out.push(format!("{prefix}.api_url ({}) {problem}", self.api_url));
        }
        if !self.enabled {
            return out;
        }
        let sid_ok = !self.account_sid.is_empty()
            && self.account_sid.chars().all(|c| c.is_ascii_alphanumeric());
        if !sid_ok {
            out.push(format!(
                "{prefix}.account_sid is required when sms is enabled (letters and digits, AC...)"
            ));
        }
        match (&self.from, &self.messaging_service_sid) {
            (Some(_), Some(_)) => out.push(format!(
                "{prefix}.from and {prefix}.messaging_service_sid are both set: keep one"
            )),
            (None, None) => out.push(format!(
                "{prefix}.from or {prefix}.messaging_service_sid is required when sms is enabled"
            )),
            _ => {}
        }
        if self.to.is_empty() {
            out.push(format!("{prefix}.to must list at least one number"));
        }
        for (i, to) in self.to.iter().enumerate() {
            if !is_e164(to) {
                out.push(format!(
                    "{prefix}.to[{i}] ({to}) must be a number in E.164 form (+15551234567)"
                ));
            }
        }
        if self.levels.is_empty() {
            out.push(format!(
                "{prefix}.levels must list at least one level (critical, warning, info)"
            ));
        }
        out
    }
}

/// `+` then 8 to 15 digits: a phone number as Twilio takes it.
fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit())
    })
}

impl Alerts {
    /// Every problem of this section, each with its key path under `prefix`.
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut out = self.email.problems(&format!("{prefix}.email"));
        out.extend(self.sms.problems(&format!("{prefix}.sms")));
        if let Some(name) = &self.webhook_url_env {
            env_name(&mut out, &format!("{prefix}.webhook_url_env"), name);
            if self.webhook_url.is_some() {
                out.push(format!(
                    "{prefix}.webhook_url and {prefix}.webhook_url_env are both set: keep one"
                ));
            }
        }
        let has_webhook = self.webhook_url.is_some() || self.webhook_url_env.is_some();
        if self.webhook_format == WebhookFormat::Telegram
            && has_webhook
            && self.telegram_chat_id.as_deref().is_none_or(str::is_empty)
        {
            out.push(format!(
                "{prefix}.telegram_chat_id is required with {prefix}.webhook_format telegram"
            ));
        }
        for (key, url) in [
            ("webhook_url", &self.webhook_url),
            ("deadman_url", &self.deadman_url),
        ] {
            if let Some(Err(problem)) = url.as_deref().map(check_url) {
                out.push(format!("{prefix}.{key} {problem}"));
            }
        }
        out
    }
}

impl Email {
    /// Every problem of this section, each with its key path under `prefix`.
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(name) = &self.password_env {
            env_name(&mut out, &format!("{prefix}.password_env"), name);
        }
        if !self.enabled {
            return out;
        }
        if self.smtp_host.is_empty() {
            out.push(format!(
                "{prefix}.smtp_host is required when email is enabled"
            ));
        }
        if !self.from.contains('@') {
            out.push(format!(
                "{prefix}.from ({}) must be an email address",
                self.from
            ));
        }
        if self.to.is_empty() {
            out.push(format!("{prefix}.to must list at least one recipient"));
        }
        for (i, to) in self.to.iter().enumerate() {
            if !to.contains('@') {
                out.push(format!("{prefix}.to[{i}] ({to}) must be an email address"));
            }
        }
        if self.security == SmtpSecurity::Plain && !is_loopback_host(&self.smtp_host) {
            out.push(format!(
                "{prefix}.security plain is allowed only to a loopback host, not {}",
                self.smtp_host
            ));
        }
        if self.username.is_some() && self.password_env.is_none() {
            out.push(format!(
                "{prefix}.password_env is required with {prefix}.username"
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_needs_a_sender_numbers_and_https() {
        assert!(Sms::default().problems("alerts.sms").is_empty());
        let sms = Sms {
            enabled: true,
            api_url: "http://sms.example.com".into(),
            to: vec!["5551234".into()],
            ..Sms::default()
        };
        let problems = sms.problems("alerts.sms");
        for needle in [
            "alerts.sms.api_url (http://sms.example.com) must use https",
            "alerts.sms.account_sid is required",
            "alerts.sms.from or alerts.sms.messaging_service_sid is required",
            "alerts.sms.to[0] (5551234) must be a number in E.164 form",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(needle)),
                "{needle}: {problems:?}"
            );
        }
        let good = Sms {
            enabled: true,
            api_url: "http://127.0.0.1:9".into(),
            account_sid: "AC0123".into(),
            from: Some("+15550001111".into()),
            to: vec!["+15552223333".into()],
            ..Sms::default()
        };
        assert!(good.problems("alerts.sms").is_empty());
    }
}
