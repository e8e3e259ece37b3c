//! The `oauth2` crate, behind one small module: the client with Schwab's endpoints, a
//! blocking HTTP shim that remembers the token endpoint's status (the crate does not say
//! it), the two grants, and the one place the token endpoint's errors are mapped: Schwab
//! refusing the credentials is a dead login; anything else is an outage.

use std::cell::Cell;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse,
    RedirectUrl, RefreshToken, RequestTokenError, TokenResponse, TokenUrl,
};

use super::auth::{excerpt, OAuthSettings};
use crate::brokers::BrokerError;

/// What a grant gave, in plain types.
#[derive(Debug, Clone)]
pub(super) struct Granted {
    pub(super) access_token: String,
    pub(super) refresh_token: Option<String>,
    pub(super) expires_in: Option<std::time::Duration>,
    pub(super) scope: Option<String>,
}

impl Granted {
    fn of(response: &oauth2::basic::BasicTokenResponse) -> Self {
        Granted {
            access_token: response.access_token().secret().clone(),
            refresh_token: response.refresh_token().map(|r| r.secret().clone()),
            expires_in: response.expires_in(),
            scope: response.scopes().map(|s| {
                s.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
        }
    }
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

/// The authorization-code grant.
pub(super) fn code_grant(
    s: &OAuthSettings,
    http: &reqwest::blocking::Client,
    code: &str,
) -> Result<Granted, BrokerError> {
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
    Ok(Granted::of(&response))
}

/// The refresh grant.
pub(super) fn refresh_grant(
    s: &OAuthSettings,
    http: &reqwest::blocking::Client,
    refresh_token: &str,
) -> Result<Granted, BrokerError> {
    let status = Cell::new(0u16);
    let send = recording(http, &status);
    let refresh = RefreshToken::new(refresh_token.to_string());
    let response = oauth_client(s)?
        .exchange_refresh_token(&refresh)
        .request(&send)
        .map_err(|e| token_error(e, status.get(), "Schwab refused the refresh token"))?;
    Ok(Granted::of(&response))
}

/// Why the token endpoint could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportFailure(String);

/// How a message about the network starts when Schwab could not be reached at all (no DNS,
/// connection refused, TLS), as opposed to Schwab answering badly (an outage).
pub const UNREACHABLE: &str = "Schwab could not be reached from this machine";

/// A `SyncHttpClient` that remembers the HTTP status of the token endpoint's answer.
fn recording<'a>(
    http: &'a reqwest::blocking::Client,
    status: &'a Cell<u16>,
) -> impl Fn(HttpRequest) -> Result<HttpResponse, TransportFailure> + 'a {
    move |request: HttpRequest| {
        let response = oauth2::SyncHttpClient::call(http, request).map_err(|e| match e {
            // The crate's own text for it is only "client error": say what happened.
            oauth2::HttpClientError::Reqwest(inner) => {
                let connect = inner.is_connect();
                let text = inner.without_url().to_string();
                TransportFailure(match connect {
                    true => format!("{UNREACHABLE} (DNS, connection refused or TLS: {text})"),
                    false => text,
                })
            }
            other => TransportFailure(other.to_string()),
        })?;
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
