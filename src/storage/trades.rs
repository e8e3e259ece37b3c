//! `logs/trades.csv`: append-only, one row per fill.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::config::Mode;
use crate::domain::portfolio::Side;
use crate::error::Result;

/// The header of trades.csv.
pub const HEADER: [&str; 12] = [
    "session",
    "time",
    "symbol",
    "side",
    "quantity",
    "reference_price",
    "fill_price",
    "slippage_pct",
    "notional",
    "reason",
    "mode",
    "order_id",
];

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

/// The rows of a run's journal: one per order with shares filled, once it is final (a live
/// order may fill more, and is written by the run that settles it).
pub fn rows_of(ledger: &crate::domain::journal::Ledger, reason: &str) -> Vec<TradeRow> {
    ledger
        .orders
        .iter()
        .filter(|o| o.filled > Decimal::ZERO && o.state.is_final())
        .map(|o| {
            let fill = o.average_price.unwrap_or_default();
            TradeRow {
                session: ledger.session,
                time: o.sent_at.unwrap_or(ledger.started_at),
                symbol: o.symbol.clone(),
                side: o.side,
                quantity: o.filled,
                reference_price: o.reference_price,
                fill_price: fill,
                slippage_pct: o.slippage_pct.unwrap_or_default(),
                notional: o.filled * fill,
                reason: reason.to_string(),
                mode: ledger.mode,
                order_id: o.broker_id.clone().unwrap_or_default(),
            }
        })
        .collect()
}

/// Appends the rows whose order is not in the file yet (one row per order, whatever number
/// of runs record it: a resumed run sees the earlier run's fills again) and returns them.
pub fn append_new(path: &Path, rows: Vec<TradeRow>) -> Result<Vec<TradeRow>> {
    let recorded = recorded_orders(path)?;
    let fresh: Vec<TradeRow> = rows
        .into_iter()
        .filter(|r| r.order_id.is_empty() || !recorded.contains(&r.order_id))
        .collect();
    append(path, &fresh)?;
    Ok(fresh)
}

/// The order ids that have a row in the file.
fn recorded_orders(path: &Path) -> Result<std::collections::HashSet<String>> {
    if !path.exists() {
        return Ok(Default::default());
    }
    let unreadable = |e: csv::Error| {
        crate::error::Error::Other(format!(
            "reading {}: {e}; it must stay a CSV file with its header",
            path.display()
        ))
    };
    let mut reader = csv::Reader::from_path(path).map_err(unreadable)?;
    let column = reader
        .headers()
        .map_err(unreadable)?
        .iter()
        .position(|h| h == "order_id");
    let Some(column) = column else {
        return Ok(Default::default());
    };
    Ok(reader
        .records()
        .flatten()
        .filter_map(|r| r.get(column).map(str::to_string))
        .filter(|id| !id.is_empty())
        .collect())
}

/// Appends rows (and the header to a new file), synced.
pub fn append(path: &Path, rows: &[TradeRow]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let records = rows.iter().map(|r| {
        [
            r.session.to_string(),
            r.time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            r.symbol.clone(),
            r.side.as_str().to_string(),
            r.quantity.normalize().to_string(),
            r.reference_price.normalize().to_string(),
            r.fill_price.normalize().to_string(),
            format!("{:.4}", r.slippage_pct),
            format!("{:.2}", r.notional),
            r.reason.clone(),
            r.mode.as_str().to_string(),
            r.order_id.clone(),
        ]
    });
    crate::storage::fsutil::append_csv(path, &HEADER, records)
}
