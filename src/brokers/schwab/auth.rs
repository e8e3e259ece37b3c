//! Schwab OAuth: the token file in schwab-py's format and the authorization-code and
//! refresh grants (through the `oauth2` crate).
//!
//! The access token lives 30 minutes and is refreshed 5 minutes before it expires. The
//! refresh token dies 7 days after the interactive login however often it is used, so its
//! age is counted from `creation_timestamp`, which refreshes never change.

use std::cell::Cell;
use std::fmt;
use std::path::Path;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse,
    RedirectUrl, RefreshToken, RequestTokenError, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};

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
            return Err(BrokerError::Auth(format!(
                "no Schwab token file at {}",
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

/// An oauth2 client with the authorize and token endpoints set.
type ConfiguredClient = BasicClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

fn oauth_client(s: &OAuthSettings) -> Result<ConfiguredClient, BrokerError> {
    let bad = |what: &str, e: url::ParseError| BrokerError::Invalid {
        endpoint: "oauth".into(),
        message: format!("bad {what} URL: {e}"),
    };
    let base = s.base_url.trim_end_matches('/');
    Ok(
        BasicClient::new(ClientId::new(s.app_key.expose().to_string()))
            .set_client_secret(ClientSecret::new(s.app_secret.expose().to_string()))
            .set_auth_uri(
                AuthUrl::new(format!("{base}/authorize")).map_err(|e| bad("authorize", e))?,
            )
            .set_token_uri(TokenUrl::new(format!("{base}/token")).map_err(|e| bad("token", e))?)
            .set_redirect_uri(
                RedirectUrl::new(s.callback_url.clone()).map_err(|e| bad("callback", e))?,
            ),
    )
}

/// The URL to open in a browser, and the state value the callback must carry back.
pub fn authorize_url(s: &OAuthSettings) -> Result<(String, String), BrokerError> {
    let (url, state) = oauth_client(s)?.authorize_url(CsrfToken::new_random).url();
    Ok((url.to_string(), state.secret().clone()))
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
    let status = Cell::new(0u16);
    let send = recording(http, &status);
    let response = oauth_client(s)?
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .request(&send)
        .map_err(|e| {
            token_error(
                e,
                status.get(),
                "Schwab refused the authorization code (it is single-use and expires in about \
                 30 seconds: paste the redirected URL at once)",
            )
        })?;
    Ok(token_file(&response, now, None, now))
}

/// Refreshes the access token, keeping the login time and any refresh token not replaced.
pub fn refresh(
    s: &OAuthSettings,
    http: &reqwest::blocking::Client,
    current: &TokenFile,
    now: i64,
) -> Result<TokenFile, BrokerError> {
    let status = Cell::new(0u16);
    let send = recording(http, &status);
    let refresh = RefreshToken::new(current.token.refresh_token.clone());
    let response = oauth_client(s)?
        .exchange_refresh_token(&refresh)
        .request(&send)
        .map_err(|e| token_error(e, status.get(), "Schwab refused the refresh token"))?;
    Ok(token_file(
        &response,
        current.creation_timestamp,
        Some(current),
        now,
    ))
}

fn token_file(
    response: &oauth2::basic::BasicTokenResponse,
    creation_timestamp: i64,
    previous: Option<&TokenFile>,
    now: i64,
) -> TokenFile {
    let expires_in = response
        .expires_in()
        .map_or(1800, |d| i64::try_from(d.as_secs()).unwrap_or(1800));
    let refresh_token = response
        .refresh_token()
        .map(|r| r.secret().clone())
        .or_else(|| previous.map(|p| p.token.refresh_token.clone()))
        .unwrap_or_default();
    let file = TokenFile {
        creation_timestamp,
        token: Token {
            expires_in: Some(expires_in),
            token_type: Some("Bearer".into()),
            scope: response
                .scopes()
                .map(|s| {
                    s.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .or_else(|| Some("api".into())),
            refresh_token,
            access_token: response.access_token().secret().clone(),
            id_token: previous.and_then(|p| p.token.id_token.clone()),
            expires_at: now + expires_in,
            extra: previous.map(|p| p.token.extra.clone()).unwrap_or_default(),
        },
    };
    file.register_secrets();
    file
}

/// Why the token endpoint could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportFailure(String);

/// A `SyncHttpClient` that remembers the HTTP status of the token endpoint's answer.
fn recording<'a>(
    http: &'a reqwest::blocking::Client,
    status: &'a Cell<u16>,
) -> impl Fn(HttpRequest) -> Result<HttpResponse, TransportFailure> + 'a {
    move |request: HttpRequest| {
        let response = oauth2::SyncHttpClient::call(http, request)
            .map_err(|e| TransportFailure(e.to_string()))?;
        status.set(response.status().as_u16());
        Ok(response)
    }
}

fn token_error<RE: std::error::Error + 'static>(
    e: RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
    status: u16,
    refused: &str,
) -> BrokerError {
    let endpoint = "POST /v1/oauth/token".to_string();
    match e {
        // An OAuth error body on a throttled or failing endpoint is an outage, not a verdict
        // on the credentials.
        RequestTokenError::ServerResponse(err) if status == 429 || status >= 500 => {
            BrokerError::Http {
                endpoint,
                status,
                message: err.error().to_string(),
            }
        }
        RequestTokenError::ServerResponse(err) => {
            let description = err.error_description().cloned().unwrap_or_default();
            BrokerError::Auth(format!(
                "{refused} ({}{}{})",
                err.error(),
                if description.is_empty() { "" } else { ": " },
                description
            ))
        }
        RequestTokenError::Request(inner) => BrokerError::Transport {
            endpoint,
            message: inner.to_string(),
        },
        // Anything that is not an OAuth answer (an edge's HTML or plain-text page, an
        // empty body, JSON of another shape) is not Schwab's token service judging the
        // login: an outage, retried like one.
        RequestTokenError::Parse(_, body) => BrokerError::Http {
            endpoint,
            status,
            message: if body.is_empty() {
                "an empty answer".into()
            } else {
                excerpt(&body)
            },
        },
        // The oauth2 crate's word for an answer it could not take (an empty error body on a
        // 502, say): an outage too, never a verdict on the login.
        RequestTokenError::Other(message) => BrokerError::Http {
            endpoint,
            status,
            message,
        },
    }
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
