//! The Schwab Trader and Market Data client (blocking reqwest with rustls).
//!
//! Reads are retried with exponential backoff and jitter on 429, 5xx and timeouts; order
//! submissions never are. Requests are paced to at most 120 a minute. The access token is
//! refreshed five minutes before it expires, and once more on a 401. A dead refresh token
//! is an error that says to run `jutsu auth login`.

pub mod auth;
pub mod model;
mod oauth;

use crate::brokers::CashFlow;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::America::Chicago;
use rand::Rng;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use self::auth::{OAuthSettings, TokenFile};
use crate::brokers::{
    Account, Broker, BrokerError, MarketData, Order, OrderRequest, OrderType, Placement, Preview,
    Quote, Side,
};
use crate::domain::bars::Bar;
use crate::support::clock::{self, Attempt, Clock};

/// Backoff of retried reads.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Delay before the first retry (doubled each time, with jitter).
    pub base_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// Everything the client needs.
#[derive(Debug, Clone)]
pub struct SchwabSettings {
    /// OAuth endpoints and app credentials.
    pub oauth: OAuthSettings,
    /// e.g. `https://api.schwabapi.com/trader/v1`.
    pub trader_base_url: String,
    /// e.g. `https://api.schwabapi.com/marketdata/v1`.
    pub marketdata_base_url: String,
    /// The token file (schwab-py format, mode 0600).
    pub token_file: PathBuf,
    /// The plain account number to trade; the first linked account when absent.
    pub account_number: Option<String>,
    /// Read retries.
    pub retry: RetryPolicy,
    /// Client-side request limit per minute.
    pub requests_per_minute: usize,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// The Schwab client; implements [`Broker`] and [`MarketData`].
pub struct SchwabClient {
    settings: SchwabSettings,
    http: Client,
    clock: Arc<dyn Clock + Send + Sync>,
    token: Mutex<Option<TokenFile>>,
    account_hash: Mutex<Option<String>>,
    sent: Mutex<RateLimiter>,
}

/// At most `limit` requests in any `window`: remembers when the recent ones were sent.
#[derive(Debug)]
pub struct RateLimiter {
    limit: usize,
    window: Duration,
    sent: VecDeque<Instant>,
}

impl RateLimiter {
    /// A limiter of `limit` requests per `window`.
    pub fn new(limit: usize, window: Duration) -> Self {
        RateLimiter {
            limit: limit.max(1),
            window,
            sent: VecDeque::new(),
        }
    }

    /// Records a request about to be sent at `now` and returns how long it must wait first.
    pub fn admit(&mut self, now: Instant) -> Duration {
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.sent.pop_front();
        }
        let wait = if self.sent.len() >= self.limit {
            self.sent.front().map_or(Duration::ZERO, |first| {
                self.window.saturating_sub(now.duration_since(*first))
            })
        } else {
            Duration::ZERO
        };
        if !wait.is_zero() {
            self.sent.pop_front();
        }
        self.sent.push_back(now + wait);
        wait
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How far back Schwab lists orders (`fromEnteredTime`): a GTC order entered earlier that
/// still works is invisible to the API.
pub const ORDER_LOOKBACK_DAYS: i64 = 60;

/// The longest window of one transactions request: Schwab's docs say a year, schwab-py's
/// say 60 days; longer gaps are read in windows of this size.
pub const TRANSACTION_WINDOW_DAYS: i64 = 60;

/// The last four characters of an account number, for messages.
pub fn masked(number: &str) -> String {
    let tail: String = number
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("****{tail}")
}

impl SchwabClient {
    /// A client; nothing is sent until the first call.
    pub fn new(
        settings: SchwabSettings,
        clock: Arc<dyn Clock + Send + Sync>,
    ) -> Result<Self, BrokerError> {
        let http = Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| BrokerError::Transport {
                endpoint: "client".into(),
                message: e.to_string(),
            })?;
        let limiter = RateLimiter::new(settings.requests_per_minute, Duration::from_secs(60));
        Ok(SchwabClient {
            sent: Mutex::new(limiter),
            settings,
            http,
            clock,
            token: Mutex::new(None),
            account_hash: Mutex::new(None),
        })
    }

    /// The HTTP client (shared with the OAuth calls).
    pub fn http(&self) -> &Client {
        &self.http
    }

    /// The settings.
    pub fn settings(&self) -> &SchwabSettings {
        &self.settings
    }

    /// The token file as loaded (and refreshed) by this client.
    pub fn token(&self) -> Result<TokenFile, BrokerError> {
        let mut guard = lock(&self.token);
        if guard.is_none() {
            *guard = Some(TokenFile::load(&self.settings.token_file)?);
        }
        guard
            .clone()
            .ok_or_else(|| BrokerError::Auth("no token".into()))
    }

    /// A valid access token, refreshing it when it is about to expire.
    fn access_token(&self, force_refresh: bool) -> Result<String, BrokerError> {
        let now = self.clock.now_utc().timestamp();
        let mut guard = lock(&self.token);
        if guard.is_none() {
            *guard = Some(TokenFile::load(&self.settings.token_file)?);
        }
        let Some(file) = guard.as_mut() else {
            return Err(BrokerError::Auth("no token".into()));
        };
        let left = file.refresh_seconds_left(now);
        if left <= 0 {
            let died = Utc
                .timestamp_opt(file.creation_timestamp + auth::REFRESH_TOKEN_LIFE_S, 0)
                .single()
                .map_or_else(String::new, |t| {
                    format!(" at {}", t.format("%Y-%m-%d %H:%M UTC"))
                });
            return Err(BrokerError::Auth(format!(
                "the Schwab refresh token expired{died} (it lives 7 days from the login)"
            )));
        }
        if force_refresh || file.access_expiring(now) {
            let fresh = self.refresh_with_retries(file, now)?;
            fresh.save(&self.settings.token_file)?;
            tracing::info!(
                hours_left = left / 3600,
                "refreshed the Schwab access token"
            );
            *file = fresh;
        }
        Ok(file.token.access_token.clone())
    }

    /// Refreshes the access token. The token endpoint has outages (5xx, 429, dropped
    /// connections, an edge's HTML page): those are retried with backoff like any read, and
    /// if they last, the error says so. Only Schwab's refusal of the refresh token itself is
    /// a dead login.
    fn refresh_with_retries(&self, file: &TokenFile, now: i64) -> Result<TokenFile, BrokerError> {
        self.retrying(
            "the token endpoint failed, retrying",
            || auth::refresh(&self.settings.oauth, &self.http, file, now),
            auth::is_outage,
        )
        .map_err(|(e, attempts)| {
            if !auth::is_outage(&e) {
                return e;
            }
            if e.to_string().contains(oauth::UNREACHABLE) {
                return BrokerError::Transport {
                    endpoint: "POST /v1/oauth/token".into(),
                    message: format!(
                        "{e}, after {attempts} attempts: check this machine's network (DNS, \
                         firewall, proxy); the login stays valid and the next run tries again"
                    ),
                };
            }
            BrokerError::Transport {
                endpoint: "POST /v1/oauth/token".into(),
                message: format!(
                    "Schwab's token endpoint is unavailable after {attempts} attempts ({e}): an \
                     outage at Schwab, not a dead login; the login stays valid and the next run \
                     tries again"
                ),
            }
        })
    }

    /// Calls `call` until it succeeds, fails with an error `retryable` refuses, or the
    /// retries run out, waiting with backoff (through the clock) between attempts and
    /// logging `what` each time. The error comes back with the number of attempts made.
    fn retrying<T>(
        &self,
        what: &str,
        mut call: impl FnMut() -> Result<T, BrokerError>,
        retryable: impl Fn(&BrokerError) -> bool,
    ) -> Result<T, (BrokerError, u32)> {
        clock::retry(
            self.clock.as_ref(),
            self.settings.retry.max_retries,
            |attempt| match call() {
                Ok(value) => Attempt::Done(value),
                Err(e) if retryable(&e) => {
                    let wait = self.backoff(attempt);
                    tracing::warn!(error = %e, attempt, ?wait, "{what}");
                    Attempt::Again { error: e, wait }
                }
                Err(e) => Attempt::Fail(e),
            },
        )
    }

    /// Waits as needed to stay under the per-minute request limit.
    fn pace(&self) {
        let wait = lock(&self.sent).admit(Instant::now());
        if !wait.is_zero() {
            tracing::debug!(?wait, "request limit reached, waiting");
            self.clock.pause(wait);
        }
    }

    /// The wait before retry `attempt`: exponential with jitter, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let policy = self.settings.retry;
        let exp = policy
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(policy.max_delay);
        let jitter = rand::rng().random_range(0.5..=1.0);
        exp.mul_f64(jitter)
    }

    /// How long a `Retry-After` may make this client wait: until a minute before today's
    /// close while the market is open (a trade must finish in its session), two minutes
    /// otherwise.
    fn retry_after_slack(&self) -> Duration {
        let now = self.clock.now_utc();
        let today = self.clock.today_et();
        match crate::domain::calendar::session_hours(today) {
            Some(h) if now < h.close => {
                (h.close.with_timezone(&Utc) - now - chrono::Duration::minutes(1))
                    .to_std()
                    .unwrap_or(Duration::ZERO)
            }
            _ => Duration::from_secs(120),
        }
    }

    /// A throttled or failing answer's `Retry-After` (seconds, or an HTTP date).
    fn retry_after(&self, response: &Response) -> Option<Duration> {
        let text = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)?
            .to_str()
            .ok()?
            .trim();
        if let Ok(seconds) = text.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        let at = DateTime::parse_from_rfc2822(text).ok()?.with_timezone(&Utc);
        Some(
            (at - self.clock.now_utc())
                .to_std()
                .unwrap_or(Duration::ZERO),
        )
    }

    /// Sends one request. Reads (`retry` true) are retried on 429, 5xx and transport
    /// failures. Any request is sent again once after a 401 and a token refresh: a 401 means
    /// the request was refused at authentication, before anything was done.
    fn send(
        &self,
        endpoint: &str,
        build: impl Fn(&Client) -> RequestBuilder,
        retry: bool,
    ) -> Result<Response, SendError> {
        let max_retries = if retry {
            self.settings.retry.max_retries
        } else {
            0
        };
        let refreshed = std::cell::Cell::new(false);
        clock::retry(self.clock.as_ref(), max_retries, |attempt| loop {
            let this = Try {
                attempt,
                retries_left: attempt < max_retries,
            };
            let tried = self.send_once(endpoint, &build, this, !refreshed.get());
            if let Some(outcome) = tried {
                return outcome;
            }
            tracing::warn!(endpoint, "401 from Schwab: refreshing the token once");
            if let Err(e) = self.access_token(true) {
                return Attempt::Fail(SendError::Broker(e));
            }
            refreshed.set(true);
        })
        .map_err(|(e, _)| e)
    }

    /// One try of a request. `None` when Schwab answered 401 and `may_refresh`: the caller
    /// refreshes the token and tries again. A transport failure, a 429 and a 5xx are worth
    /// another attempt; any other error status is final.
    fn send_once(
        &self,
        endpoint: &str,
        build: &impl Fn(&Client) -> RequestBuilder,
        this: Try,
        may_refresh: bool,
    ) -> Option<Attempt<Response, SendError>> {
        let Try {
            attempt,
            retries_left,
        } = this;
        let then = if retries_left { ", retrying" } else { "" };
        let token = match self.access_token(false) {
            Ok(token) => token,
            Err(e) => return Some(Attempt::Fail(SendError::Broker(e))),
        };
        self.pace();
        let correlation: u128 = rand::rng().random();
        let started = std::time::Instant::now();
        let result = build(&self.http)
            .bearer_auth(&token)
            .header(reqwest::header::ACCEPT, "application/json")
            .header("Schwab-Client-CorrelId", format!("{correlation:032x}"))
            .send()
            // The error's text would carry the URL, and with it the account hash.
            .map_err(reqwest::Error::without_url);
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(endpoint, error = %e, attempt, "request failed{then}");
                let error = SendError::Transport {
                    connect: e.is_connect(),
                    error: BrokerError::Transport {
                        endpoint: endpoint.to_string(),
                        message: if e.is_timeout() {
                            format!("no answer within {:?}", self.settings.timeout)
                        } else if e.is_connect() {
                            format!(
                                "{} (DNS, connection refused or TLS: {e})",
                                oauth::UNREACHABLE
                            )
                        } else {
                            e.to_string()
                        },
                    },
                };
                let wait = self.backoff(attempt);
                return Some(Attempt::Again { error, wait });
            }
        };
        let status = response.status();
        // At -v: each request, by its endpoint (never the URL: it holds the account hash),
        // with its status, time and the correlation id Schwab's support asks for.
        tracing::debug!(
            endpoint,
            status = status.as_u16(),
            ms = started.elapsed().as_millis() as u64,
            attempt,
            correlation = %format!("{correlation:032x}"),
            "Schwab request"
        );
        if status.is_success() {
            return Some(Attempt::Done(response));
        }
        if status == StatusCode::UNAUTHORIZED && may_refresh {
            return None;
        }
        Some(self.failed_answer(endpoint, response, this))
    }

    /// What an error answer means: a 429 or a 5xx is worth another attempt after its
    /// `Retry-After` (when the run can wait that long) or the backoff; any other status is
    /// final.
    fn failed_answer(
        &self,
        endpoint: &str,
        response: Response,
        Try {
            attempt,
            retries_left,
        }: Try,
    ) -> Attempt<Response, SendError> {
        let status = response.status();
        let then = if retries_left { ", retrying" } else { "" };
        let transient = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
        let asked = self.retry_after(&response);
        let wait = asked.unwrap_or_else(|| self.backoff(attempt));
        let slack = self.retry_after_slack();
        let message = model::error_message(&response.bytes().unwrap_or_default());
        let http = |message: String| BrokerError::Http {
            endpoint: endpoint.to_string(),
            status: status.as_u16(),
            message,
        };
        if status == StatusCode::UNAUTHORIZED {
            return Attempt::Fail(SendError::Broker(BrokerError::Auth(format!(
                "Schwab refuses the access token even after a refresh ({message})"
            ))));
        }
        if !transient {
            return Attempt::Fail(SendError::Broker(http(message)));
        }
        if retries_left && asked.is_some_and(|a| a > slack) {
            // Schwab asks for a longer pause than the run can afford: say so now.
            return Attempt::Fail(SendError::Broker(http(format!(
                "{message}; Schwab asks to wait {} s (Retry-After), longer than the {} s this \
                 run can wait",
                wait.as_secs(),
                slack.as_secs()
            ))));
        }
        tracing::warn!(endpoint, %status, attempt, ?wait, "transient error{then}");
        Attempt::Again {
            error: SendError::Broker(http(message)),
            wait,
        }
    }

    fn get_json(
        &self,
        endpoint: &str,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<Value, BrokerError> {
        let response = self
            .send(endpoint, |c| c.get(url).query(query), true)
            .map_err(SendError::into_broker)?;
        response.json::<Value>().map_err(|e| BrokerError::Invalid {
            endpoint: endpoint.to_string(),
            message: format!("not JSON ({e})"),
        })
    }

    fn invalid(endpoint: &str) -> impl Fn(String) -> BrokerError + '_ {
        move |message| BrokerError::Invalid {
            endpoint: endpoint.to_string(),
            message,
        }
    }

    /// Every account linked to this login (`GET /accounts/accountNumbers`), in Schwab's
    /// order, which is not documented.
    pub fn account_numbers(&self) -> Result<Vec<model::AccountNumber>, BrokerError> {
        let endpoint = "GET /accounts/accountNumbers";
        let url = format!("{}/accounts/accountNumbers", self.trader());
        serde_json::from_value(self.get_json(endpoint, &url, &[])?)
            .map_err(|e| Self::invalid(endpoint)(e.to_string()))
    }

    /// The number and type of every linked account (`GET /accounts`, no positions), for
    /// messages; `None` when Schwab does not say.
    pub fn linked_accounts(&self) -> Option<Vec<model::LinkedAccount>> {
        let endpoint = "GET /accounts";
        let url = format!("{}/accounts", self.trader());
        let value = self.get_json(endpoint, &url, &[]).ok()?;
        model::parse_linked_accounts(value).ok()
    }

    /// `****1234 (MARGIN), ****5678 (CASH)`: the linked accounts, masked, with their types
    /// when Schwab gives them.
    pub fn describe_accounts(&self, list: &[model::AccountNumber]) -> String {
        let kinds = self.linked_accounts().unwrap_or_default();
        list.iter()
            .map(|a| {
                let kind = kinds
                    .iter()
                    .find(|k| k.number == a.account_number)
                    .and_then(|k| k.kind.clone())
                    .map_or(String::new(), |k| format!(" ({k})"));
                format!("{}{kind}", masked(&a.account_number))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The account this client trades: `schwab.account_number`, or the only linked one.
    /// With several linked accounts and none named, nothing is asked of any account: the
    /// error lists them and names the key to set (exit 2).
    pub fn chosen_account(&self) -> Result<model::AccountNumber, BrokerError> {
        let list = self.account_numbers()?;
        let chosen = match &self.settings.account_number {
            Some(number) => list.iter().find(|a| &a.account_number == number).ok_or_else(|| {
                BrokerError::Setup(format!(
                    "account {} is not linked to this login (schwab.account_number); linked: {}. \
                     Set schwab.account_number to one of them, or log in again with \
                     `jutsu auth login` and tick it",
                    masked(number),
                    self.describe_accounts(&list)
                ))
            })?,
            None if list.len() > 1 => {
                return Err(BrokerError::Setup(format!(
                    "{} accounts are linked to this Schwab login: {}. Schwab lists them in no \
                     documented order, so jutsu does not guess: set schwab.account_number in \
                     the configuration to the plain number of the account to trade (`jutsu \
                     hello` lists them)",
                    list.len(),
                    self.describe_accounts(&list)
                )))
            }
            None => list
                .first()
                .ok_or_else(|| BrokerError::Setup("no account is linked to this Schwab login: log in again with `jutsu auth login` and tick the account to trade".into()))?,
        };
        Ok(model::AccountNumber {
            account_number: chosen.account_number.clone(),
            hash_value: chosen.hash_value.clone(),
        })
    }

    /// The account hash used in URLs (looked up once).
    pub fn account_hash(&self) -> Result<String, BrokerError> {
        if let Some(hash) = lock(&self.account_hash).clone() {
            return Ok(hash);
        }
        let chosen = self.chosen_account()?;
        *lock(&self.account_hash) = Some(chosen.hash_value.clone());
        Ok(chosen.hash_value)
    }

    fn trader(&self) -> &str {
        self.settings.trader_base_url.trim_end_matches('/')
    }

    fn marketdata(&self) -> &str {
        self.settings.marketdata_base_url.trim_end_matches('/')
    }

    /// Regular-session open and close on `date`, or `None` when the market is closed.
    pub fn market_hours(&self, date: NaiveDate) -> Result<Option<model::MarketHours>, BrokerError> {
        let endpoint = "GET /markets/equity";
        let url = format!("{}/markets/equity", self.marketdata());
        let value = self.get_json(endpoint, &url, &[("date", date.to_string())])?;
        model::parse_market_hours(value).map_err(Self::invalid(endpoint))
    }

    /// Trust but verify: the id in a `Location` header is checked on a first read of the
    /// order against what was sent (symbol, side, quantity). An order that does not match
    /// is an unknown outcome, settled by listing orders: someone else's order is never
    /// recorded as ours. One that cannot be read now is taken as placed and followed.
    fn confirm_placed(&self, sent: &OrderRequest, id: String) -> Placement {
        let order = match self.order(&id) {
            Ok(order) => order,
            // Nothing says the id is wrong: it is followed (and read again) as placed.
            Err(e) => {
                tracing::warn!(order = %id, error = %e, "the placed order could not be read to confirm it");
                return Placement::Placed(id);
            }
        };
        let same = order.symbol == sent.symbol
            && order.side == sent.side
            && order.quantity == Decimal::from(sent.quantity);
        if same {
            return Placement::Placed(id);
        }
        tracing::warn!(
            order = %id,
            "the Location header names an order that is not the one sent"
        );
        Placement::Unknown(format!(
            "the Location header named order {id}, which is {} {} {}, not the {} {} {} sent",
            order.side.as_str(),
            order.quantity.normalize(),
            order.symbol,
            sent.side.as_str(),
            sent.quantity,
            sent.symbol
        ))
    }

    fn order_body(order: &OrderRequest) -> Value {
        let instruction = match order.side {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        };
        let mut body = json!({
            "orderType": "MARKET",
            "session": "NORMAL",
            "duration": "DAY",
            "orderStrategyType": "SINGLE",
            "orderLegCollection": [{
                "instruction": instruction,
                "quantity": order.quantity,
                "instrument": {"symbol": order.symbol, "assetType": "EQUITY"}
            }]
        });
        if let OrderType::Limit(price) = order.order_type {
            // Two decimals, four below one dollar, as Schwab accepts; the pipeline's collar
            // is already on the tick, so nothing is cut off here.
            let dp = if price < Decimal::ONE { 4 } else { 2 };
            body["orderType"] = json!("LIMIT");
            body["price"] = json!(format!("{:.*}", dp as usize, price.trunc_with_scale(dp)));
        }
        body
    }
}

/// One attempt of a request: its number (0 first) and whether another may follow.
#[derive(Debug, Clone, Copy)]
struct Try {
    attempt: u32,
    retries_left: bool,
}

/// A failed send: transport failures say whether the connection was never made.
enum SendError {
    Transport { connect: bool, error: BrokerError },
    Broker(BrokerError),
}

impl SendError {
    fn into_broker(self) -> BrokerError {
        match self {
            SendError::Transport { error, .. } | SendError::Broker(error) => error,
        }
    }
}

fn schwab_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl Broker for SchwabClient {
    fn account(&self) -> Result<Account, BrokerError> {
        let endpoint = "GET /accounts/{hash}";
        let url = format!("{}/accounts/{}", self.trader(), self.account_hash()?);
        let value = self.get_json(endpoint, &url, &[("fields", "positions".into())])?;
        model::parse_account(value).map_err(Self::invalid(endpoint))
    }

    fn open_orders(&self) -> Result<Vec<Order>, BrokerError> {
        // As far back as Schwab lists: a GTC order of three weeks ago still works.
        let since = self.clock.now_utc() - chrono::Duration::days(ORDER_LOOKBACK_DAYS);
        Ok(self
            .orders_since(since)?
            .into_iter()
            .filter(|o| !o.status.is_final())
            .collect())
    }

    fn place_order(&self, order: &OrderRequest) -> Result<Placement, BrokerError> {
        if order.quantity == 0 {
            return Err(BrokerError::Rejected("an order of 0 shares".into()));
        }
        let endpoint = "POST /accounts/{hash}/orders";
        let url = format!("{}/accounts/{}/orders", self.trader(), self.account_hash()?);
        let body = Self::order_body(order);
        match self.send(endpoint, |c| c.post(&url).json(&body), false) {
            Ok(response) => {
                let id = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|loc| loc.trim_end_matches('/').rsplit('/').next())
                    .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()))
                    .map(String::from);
                Ok(match id {
                    Some(id) => self.confirm_placed(order, id),
                    None => Placement::Unknown(format!(
                        "Schwab answered {} without an order id (no Location header)",
                        response.status().as_u16()
                    )),
                })
            }
            // The request never reached Schwab: nothing was placed.
            Err(SendError::Transport {
                connect: true,
                error,
            }) => Err(error),
            // It may have been placed and the answer lost.
            Err(SendError::Transport { error, .. }) => Ok(Placement::Unknown(error.to_string())),
            Err(SendError::Broker(BrokerError::Http {
                status, message, ..
            })) if (400..500).contains(&status) => Err(BrokerError::Rejected(format!(
                "{} {} {}: HTTP {status}: {message}",
                order.side.as_str(),
                order.quantity,
                order.symbol
            ))),
            Err(SendError::Broker(BrokerError::Http {
                status, message, ..
            })) => Ok(Placement::Unknown(format!(
                "HTTP {status} from Schwab: {message}"
            ))),
            Err(SendError::Broker(e)) => Err(e),
        }
    }

    fn order(&self, id: &str) -> Result<Order, BrokerError> {
        let endpoint = "GET /accounts/{hash}/orders/{id}";
        let url = format!(
            "{}/accounts/{}/orders/{id}",
            self.trader(),
            self.account_hash()?
        );
        // A garbled status answer says nothing about the order: read it again before
        // giving up (the order itself is unaffected by a read).
        self.retrying(
            &format!("unreadable order status, reading again (order {id})"),
            || {
                self.get_json(endpoint, &url, &[])
                    .and_then(|v| model::parse_order(v).map_err(Self::invalid(endpoint)))
            },
            |e| matches!(e, BrokerError::Invalid { .. }),
        )
        .map_err(|(e, _)| e)
    }

    fn orders_since(&self, since: DateTime<Utc>) -> Result<Vec<Order>, BrokerError> {
        let endpoint = "GET /accounts/{hash}/orders";
        let url = format!("{}/accounts/{}/orders", self.trader(), self.account_hash()?);
        let now = self.clock.now_utc();
        let since = since.max(now - chrono::Duration::days(ORDER_LOOKBACK_DAYS));
        let to = now + chrono::Duration::days(1);
        let value = self.get_json(
            endpoint,
            &url,
            &[
                ("fromEnteredTime", schwab_time(since)),
                ("toEnteredTime", schwab_time(to)),
                ("maxResults", "3000".into()),
            ],
        )?;
        let Value::Array(items) = value else {
            return Err(Self::invalid(endpoint)("not a list of orders".into()));
        };
        let (orders, skipped) = model::parse_order_list(items);
        for what in &skipped {
            tracing::warn!(
                endpoint,
                "an order of the account could not be read: {what}"
            );
        }
        for o in orders.iter().filter(|o| o.instruction.is_some()) {
            tracing::debug!(
                endpoint,
                order = %o.id,
                symbol = %o.symbol,
                instruction = o.instruction.as_deref().unwrap_or(""),
                "an order jutsu does not place"
            );
        }
        Ok(orders)
    }

    fn cash_flows(&self, since: DateTime<Utc>) -> Result<Vec<CashFlow>, BrokerError> {
        let endpoint = "GET /accounts/{hash}/transactions";
        let url = format!(
            "{}/accounts/{}/transactions",
            self.trader(),
            self.account_hash()?
        );
        let now = self.clock.now_utc();
        // From the last run's instant (a dividend posted the evening after it counts), in
        // windows Schwab accepts, a year back at most.
        let mut start = since.max(now - chrono::Duration::days(364));
        let mut flows: Vec<CashFlow> = Vec::new();
        while start < now {
            let end = (start + chrono::Duration::days(TRANSACTION_WINDOW_DAYS)).min(now);
            let value = self.get_json(
                endpoint,
                &url,
                &[
                    ("startDate", schwab_time(start)),
                    ("endDate", schwab_time(end)),
                    ("types", model::CASH_TRANSACTION_TYPES.into()),
                ],
            )?;
            let Value::Array(items) = value else {
                return Err(Self::invalid(endpoint)("not a list of transactions".into()));
            };
            for item in items {
                let Some(flow) = model::parse_cash_flow(item).map_err(Self::invalid(endpoint))?
                else {
                    continue;
                };
                let seen = flow.id.is_some() && flows.iter().any(|f| f.id == flow.id);
                if !seen {
                    flows.push(flow);
                }
            }
            start = end;
        }
        let since_day = since
            .with_timezone(&chrono_tz::America::New_York)
            .date_naive();
        flows.retain(|f| match f.time {
            Some(t) => t > since,
            None => f.date > since_day,
        });
        flows.sort_by_key(|f| (f.date, f.time));
        Ok(flows)
    }

    fn cancel_order(&self, id: &str) -> Result<(), BrokerError> {
        let endpoint = "DELETE /accounts/{hash}/orders/{id}";
        let url = format!(
            "{}/accounts/{}/orders/{id}",
            self.trader(),
            self.account_hash()?
        );
        self.send(endpoint, |c| c.request(Method::DELETE, &url), false)
            .map(|_| ())
            .map_err(SendError::into_broker)
    }

    fn preview_order(&self, order: &OrderRequest) -> Result<Preview, BrokerError> {
        let endpoint = "POST /accounts/{hash}/previewOrder";
        let url = format!(
            "{}/accounts/{}/previewOrder",
            self.trader(),
            self.account_hash()?
        );
        let body = Self::order_body(order);
        // A preview places nothing: it may be retried like a read.
        let response = self
            .send(endpoint, |c| c.post(&url).json(&body), true)
            .map_err(SendError::into_broker)?;
        let value = response.json::<Value>().map_err(|e| BrokerError::Invalid {
            endpoint: endpoint.to_string(),
            message: format!("not JSON ({e})"),
        })?;
        model::parse_preview(value).map_err(Self::invalid(endpoint))
    }
}

impl MarketData for SchwabClient {
    fn daily_bars(&self, symbol: &str, since: NaiveDate) -> Result<Vec<Bar>, BrokerError> {
        let endpoint = "GET /pricehistory";
        let url = format!("{}/pricehistory", self.marketdata());
        let start = Chicago
            .from_local_datetime(&since.and_hms_opt(0, 0, 0).unwrap_or_default())
            .earliest()
            .map_or(0, |t| t.timestamp_millis());
        let now = self.clock.now_utc();
        let value = self.get_json(
            endpoint,
            &url,
            &[
                ("symbol", symbol.to_string()),
                ("periodType", "year".into()),
                ("frequencyType", "daily".into()),
                ("frequency", "1".into()),
                ("startDate", start.to_string()),
                ("endDate", now.timestamp_millis().to_string()),
            ],
        )?;
        let today = self.clock.today_et();
        let closed = crate::domain::calendar::session_hours(today).is_some_and(|h| now >= h.close);
        let bars = model::parse_daily_candles(value)
            .map_err(|e| Self::invalid(endpoint)(format!("{symbol}: {e}")))?;
        // Before today's close its candle is a partial day: history ends with the previous
        // session. After the close it is the official bar.
        Ok(bars
            .into_iter()
            .filter(|b| b.date < today || (closed && b.date == today))
            .collect())
    }

    fn quotes(&self, symbols: &[String]) -> Result<Vec<Quote>, BrokerError> {
        let endpoint = "GET /quotes";
        let url = format!("{}/quotes", self.marketdata());
        let value = self.get_json(
            endpoint,
            &url,
            &[
                ("symbols", symbols.join(",")),
                ("fields", "quote".into()),
                ("indicative", "false".into()),
            ],
        )?;
        model::parse_quotes(value, symbols).map_err(Self::invalid(endpoint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_allows_the_limit_then_spaces_requests_by_the_window() {
        let mut limiter = RateLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(limiter.admit(t0), Duration::ZERO);
        assert_eq!(limiter.admit(t0 + Duration::from_secs(1)), Duration::ZERO);
        assert_eq!(limiter.admit(t0 + Duration::from_secs(2)), Duration::ZERO);
        // The fourth within the minute waits until the first is a minute old.
        assert_eq!(
            limiter.admit(t0 + Duration::from_secs(10)),
            Duration::from_secs(50)
        );
        // Later requests queue behind it, one window after each earlier one.
        assert_eq!(
            limiter.admit(t0 + Duration::from_secs(10)),
            Duration::from_secs(51)
        );
        // After a quiet minute nothing waits.
        assert_eq!(limiter.admit(t0 + Duration::from_secs(200)), Duration::ZERO);
    }

    #[test]
    fn limit_price_text_has_two_decimals_or_four_below_a_dollar() {
        let order = |price: &str| OrderRequest {
            symbol: "X".into(),
            side: Side::Buy,
            quantity: 1,
            order_type: OrderType::Limit(price.parse().unwrap()),
        };
        assert_eq!(SchwabClient::order_body(&order("42"))["price"], "42.00");
        assert_eq!(SchwabClient::order_body(&order("42.129"))["price"], "42.12");
        assert_eq!(
            SchwabClient::order_body(&order("0.23456"))["price"],
            "0.2345"
        );
    }
}
