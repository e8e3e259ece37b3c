//! `logs/trades.csv`: append-only, one row per filled order, for the tax year as much as for
//! the review: the UTC instant and the New York time, the commission, and the realized P&L
//! of each sell against the average cost.
//!
//! Realized P&L, the method: per symbol, in the file's order, a buy adds its shares at its
//! fill price plus its commission to the position's total cost (the average cost is the total
//! cost over the shares); a sell realizes `shares x (fill - average cost) - commission` and
//! takes its shares out at the average cost. A sell of shares the file never saw bought (held
//! before jutsu's first trade) has no known cost: its P&L is left empty.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::config::Mode;
use crate::domain::portfolio::{cents, Side};
use crate::support::error::Result;

/// The header of trades.csv.
pub const HEADER: [&str; 15] = [
    "session",
    "time",
    "time_new_york",
    "symbol",
    "side",
    "quantity",
    "reference_price",
    "fill_price",
    "slippage_pct",
    "notional",
    "commission",
    "realized_pnl",
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
    /// Commission paid.
    pub commission: Decimal,
    /// A sell's realized P&L against the average cost (set when the row is appended).
    pub realized_pnl: Option<Decimal>,
    /// Why (first run, target change, drift, exit).
    pub reason: String,
    /// Mode.
    pub mode: Mode,
    /// The broker's order id.
    pub order_id: String,
}

/// The rows of a run's journal: one per order with shares filled, once it is final (a live
/// order may fill more, and is written by the run that settles it).
/// `commission_per_share` is the broker's (the simulator's; Schwab charges none on ETFs).
pub fn rows_of(
    ledger: &crate::domain::journal::Ledger,
    reason: &str,
    commission_per_share: Decimal,
) -> Vec<TradeRow> {
    ledger
        .orders
        .iter()
        .filter(|o| o.filled > Decimal::ZERO && o.state().is_final())
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
                commission: o.filled * commission_per_share,
                realized_pnl: None,
                reason: reason.to_string(),
                mode: ledger.mode,
                order_id: o.broker_id.clone().unwrap_or_default(),
            }
        })
        .collect()
}

/// A split the account's runs recognised: from `session` on, `ratio` new shares per old.
#[derive(Debug, Clone, PartialEq)]
pub struct BookSplit {
    /// The session whose run found it (before its trades).
    pub session: NaiveDate,
    /// Symbol.
    pub symbol: String,
    /// New shares per old share.
    pub ratio: Decimal,
}

/// Appends the rows whose order is not in the file yet (one row per order, whatever number
/// of runs record it: a resumed run sees the earlier run's fills again) and returns them.
/// A sell's realized P&L is against the average cost the file's rows of the same mode
/// built, carried through `splits` (the share count multiplied, the cost kept).
pub fn append_new(path: &Path, rows: Vec<TradeRow>, splits: &[BookSplit]) -> Result<Vec<TradeRow>> {
    migrate(path)?;
    let recorded = recorded_orders(path)?;
    let mut fresh: Vec<TradeRow> = rows
        .into_iter()
        .filter(|r| r.order_id.is_empty() || !recorded.contains(&r.order_id))
        .collect();
    let Some(mode) = fresh.first().map(|r| r.mode) else {
        return Ok(fresh);
    };
    let mut book = CostBook::of_file(path, mode, splits)?;
    for row in &mut fresh {
        row.realized_pnl = book.record(row);
    }
    append(path, &fresh)?;
    Ok(fresh)
}

/// The average cost of each symbol's position in one mode, as the file's rows built it.
#[derive(Debug, Default)]
pub struct CostBook {
    /// Symbol -> (shares, total cost).
    positions: std::collections::HashMap<String, (Decimal, Decimal)>,
    /// The splits not yet applied, by session.
    splits: std::collections::VecDeque<BookSplit>,
}

impl CostBook {
    /// The book of `mode` after every row of the file, with the splits up to each row.
    fn of_file(path: &Path, mode: Mode, splits: &[BookSplit]) -> Result<Self> {
        let mut sorted = splits.to_vec();
        sorted.sort_by_key(|s| s.session);
        let mut book = CostBook {
            splits: sorted.into(),
            ..CostBook::default()
        };
        if !path.exists() {
            return Ok(book);
        }
        let mut reader = csv::Reader::from_path(path).map_err(|e| unreadable(path, e))?;
        let headers = reader.headers().map_err(|e| unreadable(path, e))?.clone();
        let column = |name: &str| headers.iter().position(|h| h == name);
        let (Some(session), Some(symbol), Some(side), Some(quantity), Some(fill)) = (
            column("session"),
            column("symbol"),
            column("side"),
            column("quantity"),
            column("fill_price"),
        ) else {
            return Ok(book);
        };
        let (commission, row_mode) = (column("commission"), column("mode"));
        for record in reader.records().flatten() {
            let field = |i: Option<usize>| i.and_then(|i| record.get(i));
            let number = |i: Option<usize>| field(i).and_then(|v| v.parse::<Decimal>().ok());
            // A file without the mode column is of one mode.
            if field(row_mode).is_some_and(|m| m != mode.as_str()) {
                continue;
            }
            let side = match field(Some(side)) {
                Some("BUY") => Side::Buy,
                Some("SELL") => Side::Sell,
                _ => continue,
            };
            let (Some(day), Some(q), Some(p)) = (
                field(Some(session)).and_then(|d| d.parse::<NaiveDate>().ok()),
                number(Some(quantity)),
                number(Some(fill)),
            ) else {
                continue;
            };
            let c = number(commission).unwrap_or_default();
            book.split_through(day);
            book.apply(field(Some(symbol)).unwrap_or_default(), side, q, p, c);
        }
        Ok(book)
    }

    /// Applies the splits found up to and including `day`.
    fn split_through(&mut self, day: NaiveDate) {
        while self.splits.front().is_some_and(|s| s.session <= day) {
            let Some(split) = self.splits.pop_front() else {
                break;
            };
            // Whole shares after it, as the broker holds them: the fraction went for cash in
            // lieu, and its cost with it.
            if let Some((shares, cost)) = self.positions.get_mut(&split.symbol) {
                let exact = *shares * split.ratio;
                let whole = exact.trunc();
                if !exact.is_zero() {
                    *cost = *cost * whole / exact;
                }
                *shares = whole;
            }
        }
    }

    /// Records a row; a sell's realized P&L when its cost is known.
    pub fn record(&mut self, row: &TradeRow) -> Option<Decimal> {
        self.split_through(row.session);
        self.apply(
            &row.symbol,
            row.side,
            row.quantity,
            row.fill_price,
            row.commission,
        )
    }

    fn apply(
        &mut self,
        symbol: &str,
        side: Side,
        q: Decimal,
        p: Decimal,
        c: Decimal,
    ) -> Option<Decimal> {
        let (shares, cost) = self.positions.entry(symbol.to_string()).or_default();
        match side {
            Side::Buy => {
                *shares += q;
                *cost += q * p + c;
                None
            }
            Side::Sell if *shares >= q && !shares.is_zero() => {
                let average = *cost / *shares;
                *cost -= average * q;
                *shares -= q;
                Some((q * (p - average) - c).round_dp(2))
            }
            Side::Sell => {
                // Shares held before the file began: no known cost.
                *shares = (*shares - q).max(Decimal::ZERO);
                if shares.is_zero() {
                    *cost = Decimal::ZERO;
                }
                None
            }
        }
    }
}

fn unreadable(path: &Path, e: csv::Error) -> crate::support::error::Error {
    crate::support::error::Error::Other(format!(
        "reading {}: {e}; it must stay a CSV file with its header",
        path.display()
    ))
}

/// A trades.csv of the first format (no New York time, commission or P&L) is kept as
/// `trades.csv.v1` and rewritten in the current one: the new columns of its rows are left
/// empty where they cannot be known (the commission), the New York time filled in.
fn migrate(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let mut reader = csv::Reader::from_path(path).map_err(|e| unreadable(path, e))?;
    let headers = reader.headers().map_err(|e| unreadable(path, e))?.clone();
    if headers.iter().any(|h| h == "time_new_york") {
        return Ok(());
    }
    let mut out = csv::Writer::from_writer(Vec::new());
    let failed = |e: csv::Error| {
        crate::support::error::Error::Other(format!("rewriting {}: {e}", path.display()))
    };
    out.write_record(HEADER).map_err(failed)?;
    for record in reader.records() {
        let record = record.map_err(|e| unreadable(path, e))?;
        let field = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .and_then(|i| record.get(i))
                .unwrap_or_default()
                .to_string()
        };
        let time = field("time");
        let new_york = DateTime::parse_from_rfc3339(&time)
            .map_or(String::new(), |t| new_york(t.with_timezone(&Utc)));
        let row: Vec<String> = HEADER
            .iter()
            .map(|h| match *h {
                "time_new_york" => new_york.clone(),
                "commission" | "realized_pnl" => String::new(),
                other => field(other),
            })
            .collect();
        out.write_record(&row).map_err(failed)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| crate::support::error::Error::Other(e.to_string()))?;
    let old = path.with_extension("csv.v1");
    std::fs::copy(path, &old).map_err(|e| crate::support::error::Error::io("copying", &old, e))?;
    crate::storage::fsutil::write_atomic(path, &bytes, false)?;
    tracing::warn!("{} was in the first format: rewritten with the New York time, commission and realized P&L columns (the original is {})", path.display(), old.display());
    Ok(())
}

/// An instant as New York wall-clock time, with its offset.
fn new_york(t: DateTime<Utc>) -> String {
    t.with_timezone(&chrono_tz::America::New_York)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// The order ids that have a row in the file.
fn recorded_orders(path: &Path) -> Result<std::collections::HashSet<String>> {
    if !path.exists() {
        return Ok(Default::default());
    }
    let mut reader = csv::Reader::from_path(path).map_err(|e| unreadable(path, e))?;
    let column = reader
        .headers()
        .map_err(|e| unreadable(path, e))?
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
            new_york(r.time),
            r.symbol.clone(),
            r.side.as_str().to_string(),
            r.quantity.normalize().to_string(),
            r.reference_price.normalize().to_string(),
            r.fill_price.normalize().to_string(),
            format!("{:.4}", r.slippage_pct),
            cents(r.notional),
            cents(r.commission),
            r.realized_pnl.map_or(String::new(), cents),
            r.reason.clone(),
            r.mode.as_str().to_string(),
            r.order_id.clone(),
        ]
    });
    crate::storage::fsutil::append_csv(path, &HEADER, records)
}
