//! Schwab OAuth: the token file in schwab-py's format and the authorization-code and
//! refresh grants (the `oauth2` crate is kept behind [`super::oauth`]).
//!
//! The access token lives 30 minutes and is refreshed 5 minutes before it expires. The
//! refresh token dies 7 days after the interactive login however often it is used, so its
//! age is counted from `creation_timestamp`, which refreshes never change.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::oauth;
pub use super::oauth::authorize_url;

use crate::brokers::BrokerError;
use crate::storage::fsutil;
use crate::support::secret::{self, Secret};

/// Life of a refresh token from the interactive login.
pub const REFRESH_TOKEN_LIFE_S: i64 = 7 * 24 * 3600;
/// Refresh the access token this long before it expires.
pub const ACCESS_LEEWAY_S: i64 = 300;

/// The token file, as schwab-py writes it: `{"creation_timestamp": .., "token": {..}}`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenFile {
    /// Unix seconds of the interactive login (never changed by refreshes).
    pub creation_timestamp: i64,
    /// The OAuth response plus `expires_at`.
    pub token: Token,
}

/// The OAuth token response as stored (unknown keys are kept, so a file round-trips).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// Access-token life in seconds (1800).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    /// "Bearer".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// "api".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The refresh token.
    pub refresh_token: String,
    /// The access token.
    pub access_token: String,
    /// OpenID token, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Unix seconds when the access token expires.
    pub expires_at: i64,
    /// Anything else the file holds.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenFile")
            .field("creation_timestamp", &self.creation_timestamp)
            .field("expires_at", &self.token.expires_at)
            .field("tokens", &secret::REDACTED)
            .finish()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(secret::REDACTED)
    }
}

impl TokenFile {
    /// Reads a token file, first making it private (0600) if group or others could read it
    /// (refused when its mode cannot be changed). Its tokens are registered for redaction.
    pub fn load(path: &Path) -> Result<Self, BrokerError> {
        if !path.exists() {
            return Err(BrokerError::NotLoggedIn(format!(
                "no Schwab login yet (no token file at {})",
                path.display()
            )));
        }
        // schwab-py writes its file with the default umask (0644): tighten it, and say so once.
        if fsutil::tighten_private(path).map_err(|e| BrokerError::Storage(e.to_string()))? {
            tracing::warn!(
                "{} was readable by other users: its mode is now 0600. If others use this \
                 machine, they may have read the tokens: run `jutsu auth login` to replace them",
                path.display()
            );
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| BrokerError::Storage(format!("reading {}: {e}", path.display())))?;
        let file: TokenFile = serde_json::from_str(&text).map_err(|e| {
            BrokerError::Auth(format!(
                "{} is not a token file in schwab-py's format ({e})",
                path.display()
            ))
        })?;
        file.register_secrets();
        Ok(file)
    }

    /// Writes the file atomically with mode 0600, in schwab-py's compact form.
    pub fn save(&self, path: &Path) -> Result<(), BrokerError> {
        let text = serde_json::to_string(self)
            .map_err(|e| BrokerError::Storage(format!("encoding the token file: {e}")))?;
        fsutil::write_atomic(path, text.as_bytes(), true)
            .map_err(|e| BrokerError::Storage(e.to_string()))
    }

    fn register_secrets(&self) {
        secret::register(&self.token.access_token);
        secret::register(&self.token.refresh_token);
        if let Some(id) = &self.token.id_token {
            secret::register(id);
        }
    }

    /// Seconds left on the refresh token at `now` (negative once it has died).
    pub fn refresh_seconds_left(&self, now: i64) -> i64 {
        self.creation_timestamp + REFRESH_TOKEN_LIFE_S - now
    }

    /// True when the access token must be refreshed at `now`.
    pub fn access_expiring(&self, now: i64) -> bool {
        now >= self.token.expires_at - ACCESS_LEEWAY_S
    }
}

/// What the OAuth calls need.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// e.g. `https://api.schwabapi.com/v1/oauth` (authorize and token live below it).
    pub base_url: String,
    /// The registered callback URL.
    pub callback_url: String,
    /// App key.
    pub app_key: Secret,
    /// App secret.
    pub app_secret: Secret,
}

/// The authorization code from the URL the browser was sent to (URL-decoded), checking the
/// state when one was sent.
pub fn code_from_callback(
    callback: &str,
    expected_state: Option<&str>,
) -> Result<String, BrokerError> {
    let invalid = |message: String| BrokerError::Auth(message);
    let url = url::Url::parse(callback.trim())
        .map_err(|e| invalid(format!("the pasted text is not the redirected URL ({e})")))?;
    let mut code = None;
    let mut state = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "state" => state = Some(v.into_owned()),
            _ => {}
        }
    }
    if let (Some(expected), Some(got)) = (expected_state, state.as_deref()) {
        if expected != got {
            return Err(invalid(
                "the redirected URL belongs to another login attempt (state mismatch)".into(),
            ));
        }
    }
    code.filter(|c| !c.is_empty())
        .ok_or_else(|| invalid("the redirected URL has no `code` parameter".into()))
}

/// Exchanges an authorization code for tokens; `now` becomes the login time.
pub fn exchange_code(
    s: &OAuthSettings,
    http: &reqwest::blocking::Client,
    code: &str,
    now: i64,
) -> Result<TokenFile, BrokerError> {
    let granted = oauth::code_grant(s, http, code)?;
    Ok(token_file(&granted, now, None, now))
}

/// Refreshes the access token, keeping the login time and any refresh token not replaced.
pub fn refresh(
    s: &OAuthSettings,
    http: &reqwest::blocking::Client,
    current: &TokenFile,
    now: i64,
) -> Result<TokenFile, BrokerError> {
    let granted = oauth::refresh_grant(s, http, &current.token.refresh_token)?;
    Ok(token_file(
        &granted,
        current.creation_timestamp,
        Some(current),
        now,
    ))
}

fn token_file(
    granted: &oauth::Granted,
    creation_timestamp: i64,
    previous: Option<&TokenFile>,
    now: i64,
) -> TokenFile {
    let expires_in = granted
        .expires_in
        .map_or(1800, |d| i64::try_from(d.as_secs()).unwrap_or(1800));
    let refresh_token = granted
        .refresh_token
        .clone()
        .or_else(|| previous.map(|p| p.token.refresh_token.clone()))
        .unwrap_or_default();
    let file = TokenFile {
        creation_timestamp,
        token: Token {
            expires_in: Some(expires_in),
            token_type: Some("Bearer".into()),
            scope: granted.scope.clone().or_else(|| Some("api".into())),
            refresh_token,
            access_token: granted.access_token.clone(),
            id_token: previous.and_then(|p| p.token.id_token.clone()),
            expires_at: now + expires_in,
            extra: previous.map(|p| p.token.extra.clone()).unwrap_or_default(),
        },
    };
    file.register_secrets();
    file
}

/// True for a failure of the token endpoint that says nothing about the login: a 5xx, a
/// 429, an edge's page, or no answer at all. Retry those; anything else is Schwab refusing
/// the credentials.
pub fn is_outage(e: &BrokerError) -> bool {
    matches!(e, BrokerError::Transport { .. } | BrokerError::Http { .. })
}

/// The start of a response body, on one line, for error messages.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line.chars().take(200).collect()
}
