//! The two interfaces the pipeline talks to, so it never knows which implementation is
//! behind them: [`MarketData`] (daily bars, live quotes) and [`Broker`] (account, orders).
//! Implementations: the Schwab client, the simulator, and local bars.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::bars::Bar;
use crate::clock::Clock;
pub use crate::portfolio::Side;

/// Reads of an order after a cancel request before it is reported as still live.
const CANCEL_POLLS: u32 = 10;
/// Time between two reads of an order (on a real clock).
const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Failures of a broker or market-data source.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Not logged in, or the login has expired: a human must run `jutsu auth login`.
    #[error("{0}; run `jutsu auth login` to log in again")]
    Auth(String),
    /// The service answered with an error status.
    #[error("{endpoint}: HTTP {status}: {message}")]
    Http {
        /// Which call.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// What the service said.
        message: String,
    },
    /// The request did not complete (timeout, connection refused, ...).
    #[error("{endpoint}: {message}")]
    Transport {
        /// Which call.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
    /// The answer could not be understood or failed validation.
    #[error("{endpoint}: unexpected response: {message}")]
    Invalid {
        /// Which call.
        endpoint: String,
        /// What was wrong with it.
        message: String,
    },
    /// The order was refused.
    #[error("order refused: {0}")]
    Rejected(String),
    /// A local file of the broker could not be read or written.
    #[error("{0}")]
    Storage(String),
    /// A local data file has a bad row or cannot be read (a usage problem: exit 2).
    #[error("{0}")]
    BadData(String),
}

/// A live quote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    /// Symbol.
    pub symbol: String,
    /// Last trade price.
    pub last: Decimal,
    /// Best bid, when known.
    pub bid: Option<Decimal>,
    /// Best ask, when known.
    pub ask: Option<Decimal>,
    /// When the quote was taken.
    pub time: DateTime<Utc>,
    /// Cumulative volume of the day, when known.
    pub day_volume: Option<Decimal>,
}

impl Quote {
    /// The reference price of a side: ask for buys, bid for sells, else last.
    pub fn reference(&self, side: Side) -> Decimal {
        match side {
            Side::Buy => self.ask.unwrap_or(self.last),
            Side::Sell => self.bid.unwrap_or(self.last),
        }
    }
}

/// A position as the broker reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Symbol.
    pub symbol: String,
    /// Shares (negative for a short).
    pub quantity: Decimal,
    /// Average cost per share, when known.
    pub average_price: Option<Decimal>,
    /// Market value, when known.
    pub market_value: Option<Decimal>,
}

/// The account as the broker reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// Positions (zero positions omitted).
    pub positions: Vec<Position>,
    /// Cash.
    pub cash: Decimal,
    /// Buying power (cash available for trading in a cash account).
    pub buying_power: Decimal,
    /// Total account value.
    pub liquidation_value: Decimal,
}

impl Account {
    /// Shares held of a symbol.
    pub fn quantity(&self, symbol: &str) -> Decimal {
        self.positions
            .iter()
            .filter(|p| p.symbol == symbol)
            .map(|p| p.quantity)
            .sum()
    }
}

/// Market or limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderType {
    /// At the market.
    Market,
    /// At this price or better.
    Limit(Decimal),
}

/// An equity order to send (DAY, NORMAL session, whole shares).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// Symbol.
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// Whole shares, positive.
    pub quantity: u64,
    /// Market or limit.
    pub order_type: OrderType,
}

/// Where an order stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Accepted and not finished (queued, working, pending ...). May be partly filled.
    Open(String),
    /// Completely filled.
    Filled,
    /// Canceled (possibly after a partial fill).
    Canceled,
    /// Refused by the broker, with its reason.
    Rejected(String),
    /// Expired (possibly after a partial fill).
    Expired,
    /// Replaced by another order.
    Replaced,
}

impl OrderStatus {
    /// True once the order can no longer change.
    pub fn is_final(&self) -> bool {
        !matches!(self, OrderStatus::Open(_))
    }
}

/// An order as the broker reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The broker's id.
    pub id: String,
    /// Symbol.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Shares ordered.
    pub quantity: Decimal,
    /// Shares filled so far.
    pub filled_quantity: Decimal,
    /// Quantity-weighted average price of the fills, when any.
    pub average_fill_price: Option<Decimal>,
    /// Status.
    pub status: OrderStatus,
    /// When the order was entered.
    pub entered_time: Option<DateTime<Utc>>,
}

/// What placing an order gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Accepted with this id.
    Placed(String),
    /// The order may or may not be in: settle it by listing orders, never by sending again.
    Unknown(String),
}

/// Daily bars and quotes.
pub trait MarketData {
    /// Daily bars of `symbol` from `since` (inclusive) to the last complete session.
    fn daily_bars(&self, symbol: &str, since: NaiveDate) -> Result<Vec<Bar>, BrokerError>;
    /// Quotes for `symbols`, in the same order; an unknown symbol is an error.
    fn quotes(&self, symbols: &[String]) -> Result<Vec<Quote>, BrokerError>;
}

/// An account at a broker.
pub trait Broker {
    /// Positions, cash, buying power, liquidation value.
    fn account(&self) -> Result<Account, BrokerError>;
    /// Orders not yet final.
    fn open_orders(&self) -> Result<Vec<Order>, BrokerError>;
    /// Sends an order once. Never retried automatically.
    fn place_order(&self, order: &OrderRequest) -> Result<Placement, BrokerError>;
    /// One order by id.
    fn order(&self, id: &str) -> Result<Order, BrokerError>;
    /// Orders entered at or after `since`.
    fn orders_since(&self, since: DateTime<Utc>) -> Result<Vec<Order>, BrokerError>;
    /// Asks to cancel an order (it may still fill; re-read it).
    fn cancel_order(&self, id: &str) -> Result<(), BrokerError>;
}

/// Follows an order for up to `polls` reads until it is final; one still live then is
/// canceled and followed again. A cancel is only a request: the order passes through
/// PENDING_CANCEL and may still fill, so the order returned is the broker's last word, and
/// may still be live (the caller must not send anything beside it).
pub fn follow_order(
    broker: &dyn Broker,
    clock: &dyn Clock,
    id: &str,
    polls: u32,
) -> Result<Order, BrokerError> {
    let mut order = broker.order(id)?;
    let mut n = 0;
    while !order.status.is_final() && n < polls {
        clock.pause(POLL_INTERVAL);
        order = broker.order(id)?;
        n += 1;
    }
    if order.status.is_final() {
        return Ok(order);
    }
    if let Err(e) = broker.cancel_order(id) {
        // It may have ended meanwhile (a cancel of a final order is refused): read it again.
        tracing::warn!(order = id, error = %e, "the cancel request failed");
    }
    for _ in 0..CANCEL_POLLS {
        order = broker.order(id)?;
        if order.status.is_final() {
            break;
        }
        clock.pause(POLL_INTERVAL);
    }
    Ok(order)
}
