//! What a broker reports and accepts: quotes, positions, the account, orders and their
//! statuses. Plain data shared by the brokers (which produce it) and the core (which plans,
//! journals and reconciles with it).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::portfolio::Side;

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
