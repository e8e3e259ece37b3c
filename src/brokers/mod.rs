//! The two interfaces the pipeline talks to, so it never knows which implementation is
//! behind them: [`MarketData`] (daily bars, live quotes) and [`Broker`] (account, orders).
//! Implementations: the Schwab client, the simulator, and local bars.

pub mod local_data;
pub mod schwab;
pub mod sim;
pub mod sim_recovery;
pub mod sources;
pub mod stored;

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::bars::Bar;
pub use crate::domain::events::CashFlow;
pub use crate::domain::market::{
    Account, Finding, Order, OrderRequest, OrderStatus, OrderType, Placement, Position, Preview,
    Quote,
};
pub use crate::domain::portfolio::Side;
use crate::support::clock::{self, Clock};
pub use crate::support::error::BrokerError;

/// Reads of an order after a cancel request before it is reported as still live.
const CANCEL_POLLS: u32 = 10;
/// Time between two reads of an order (on a real clock).
const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Daily bars and quotes.
pub trait MarketData {
    /// Daily bars of `symbol` from `since` (inclusive) to the last complete session.
    fn daily_bars(&self, symbol: &str, since: NaiveDate) -> Result<Vec<Bar>, BrokerError>;
    /// Quotes for `symbols`, in the same order; an unknown symbol is an error.
    fn quotes(&self, symbols: &[String]) -> Result<Vec<Quote>, BrokerError>;
    /// The corporate actions the quotes are as traded under (local bars as traded); None
    /// for quotes that need none (a broker's, or split-adjusted bars). The simulator
    /// applies the same actions to its account, so the two never disagree.
    fn corporate_actions(&self) -> Option<std::sync::Arc<crate::domain::events::Actions>> {
        None
    }
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
    /// Cash that moved without a trade after the instant `since` (the last run's read of
    /// them) up to now: dividends, interest, deposits, withdrawals, cash in lieu. A flow
    /// the broker dates only by day counts from the day after `since`'s New York date. A
    /// broker that keeps no such record finds none.
    fn cash_flows(&self, since: DateTime<Utc>) -> Result<Vec<CashFlow>, BrokerError> {
        let _ = since;
        Ok(Vec::new())
    }
    /// What the broker would say of `order`, without placing it. A broker with no preview
    /// (the simulator) finds nothing.
    fn preview_order(&self, order: &OrderRequest) -> Result<Preview, BrokerError> {
        let _ = order;
        Ok(Preview::default())
    }
}

/// A shared broker is a broker (one Schwab client serves the market data and the account).
impl<T: Broker + ?Sized> Broker for std::sync::Arc<T> {
    fn account(&self) -> Result<Account, BrokerError> {
        (**self).account()
    }
    fn open_orders(&self) -> Result<Vec<Order>, BrokerError> {
        (**self).open_orders()
    }
    fn place_order(&self, order: &OrderRequest) -> Result<Placement, BrokerError> {
        (**self).place_order(order)
    }
    fn order(&self, id: &str) -> Result<Order, BrokerError> {
        (**self).order(id)
    }
    fn orders_since(&self, since: DateTime<Utc>) -> Result<Vec<Order>, BrokerError> {
        (**self).orders_since(since)
    }
    fn cancel_order(&self, id: &str) -> Result<(), BrokerError> {
        (**self).cancel_order(id)
    }
    fn cash_flows(&self, since: DateTime<Utc>) -> Result<Vec<CashFlow>, BrokerError> {
        (**self).cash_flows(since)
    }
    fn preview_order(&self, order: &OrderRequest) -> Result<Preview, BrokerError> {
        (**self).preview_order(order)
    }
}

/// A broker that only reads: what a dry run on Schwab data gets, so that "a dry run sends
/// nothing" is a type, not the order of the stages. Every order, cancel and preview is
/// refused before it leaves the process.
pub struct ReadOnly<B>(pub B);

impl<B: Broker> ReadOnly<B> {
    fn refused(what: &str) -> BrokerError {
        BrokerError::Rejected(format!("dry run: jutsu sends no {what} in dry_run mode"))
    }
}

impl<B: Broker> Broker for ReadOnly<B> {
    fn account(&self) -> Result<Account, BrokerError> {
        self.0.account()
    }
    fn open_orders(&self) -> Result<Vec<Order>, BrokerError> {
        self.0.open_orders()
    }
    fn place_order(&self, _: &OrderRequest) -> Result<Placement, BrokerError> {
        Err(Self::refused("order"))
    }
    fn order(&self, id: &str) -> Result<Order, BrokerError> {
        self.0.order(id)
    }
    fn orders_since(&self, since: DateTime<Utc>) -> Result<Vec<Order>, BrokerError> {
        self.0.orders_since(since)
    }
    fn cancel_order(&self, _: &str) -> Result<(), BrokerError> {
        Err(Self::refused("cancel"))
    }
    fn cash_flows(&self, since: DateTime<Utc>) -> Result<Vec<CashFlow>, BrokerError> {
        self.0.cash_flows(since)
    }
    fn preview_order(&self, _: &OrderRequest) -> Result<Preview, BrokerError> {
        Err(Self::refused("order preview"))
    }
}

/// Follows an order for up to `timeout` (a read every second) until it is final; one still
/// live then is canceled and followed again. A cancel is only a request: the order passes
/// through PENDING_CANCEL and may still fill, so the order returned is the broker's last
/// word, and may still be live (the caller must not send anything beside it). A zero
/// timeout reads once before the cancel.
pub fn follow_order(
    broker: &dyn Broker,
    clock: &dyn Clock,
    id: &str,
    timeout: std::time::Duration,
) -> Result<Order, BrokerError> {
    let read = || broker.order(id);
    let is_final = |o: &Order| o.status.is_final();
    let polls = u32::try_from(timeout.as_millis() / POLL_INTERVAL.as_millis()).unwrap_or(u32::MAX);
    let order = clock::poll(clock, POLL_INTERVAL, polls, read, is_final)?;
    if order.status.is_final() {
        return Ok(order);
    }
    if let Err(e) = broker.cancel_order(id) {
        // It may have ended meanwhile (a cancel of a final order is refused): read it again.
        tracing::warn!(order = id, error = %e, "the cancel request failed");
    }
    clock::poll(clock, POLL_INTERVAL, CANCEL_POLLS - 1, read, is_final)
}
