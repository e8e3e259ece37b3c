//! `logs/trades.csv`: append-only, one row per fill.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::config::Mode;
use crate::error::Result;
use crate::portfolio::Side;

/// The header of trades.csv.
pub const HEADER: &str = "session,time,symbol,side,quantity,reference_price,fill_price,slippage_pct,notional,reason,mode,order_id";

/// One fill.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeRow {
    /// Session.
    pub session: NaiveDate,
    /// When the order was sent.
    pub time: DateTime<Utc>,
    /// Symbol.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Shares filled.
    pub quantity: Decimal,
    /// Reference price.
    pub reference_price: Decimal,
    /// Average fill price.
    pub fill_price: Decimal,
    /// Adverse slippage in percent.
    pub slippage_pct: Decimal,
    /// Shares x fill price.
    pub notional: Decimal,
    /// Why (first run, target change, drift, exit).
    pub reason: String,
    /// Mode.
    pub mode: Mode,
    /// The broker's order id.
    pub order_id: String,
}

/// Appends rows (and the header to a new file), synced.
pub fn append(path: &Path, rows: &[TradeRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{},{},{},{},{},{},{},{:.4},{:.2},{},{},{}",
                r.session,
                r.time.format("%Y-%m-%dT%H:%M:%SZ"),
                r.symbol,
                r.side.as_str(),
                r.quantity.normalize(),
                r.reference_price.normalize(),
                r.fill_price.normalize(),
                r.slippage_pct,
                r.notional,
                r.reason,
                r.mode.as_str(),
                r.order_id
            )
        })
        .collect();
    crate::fsutil::append_csv(path, HEADER, &lines)
}
