//! Market data through the local bar store (`data.store`): the history comes from the store
//! and only what it lacks is fetched, the last few stored bars fetched again beside it and
//! compared. When they differ, the source rewrote its split-adjusted history (a split, a
//! correction): the symbol is fetched whole again and the rewrite recorded. Quotes always
//! come from the source.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};

use crate::brokers::{BrokerError, MarketData, Quote};
use crate::domain::bars::{rewrite_of, Bar};
use crate::domain::calendar;
use crate::storage::store::{BarStore, Rewrite};
use crate::support::clock::Clock;

/// Stored bars fetched again and compared at each update.
const OVERLAP: usize = 5;

/// What an update of one symbol did.
#[derive(Debug, Clone, PartialEq)]
pub enum Synced {
    /// Nothing was missing: no request.
    Current,
    /// The first fetch: every bar from the start.
    First(usize),
    /// New bars after the stored ones (the overlap matched).
    Added(usize),
    /// The overlap differed: the whole history was fetched again.
    Rewritten {
        /// What differed.
        detail: String,
        /// Bars now stored.
        bars: usize,
    },
}

impl Synced {
    /// In words, after the symbol.
    pub fn describe(&self) -> String {
        match self {
            Synced::Current => "up to date (no request)".into(),
            Synced::First(n) => format!("{n} bars fetched (first update)"),
            Synced::Added(0) => "no new bar yet (the overlap matches)".into(),
            Synced::Added(n) => format!("{n} new bar(s), the overlap matches"),
            Synced::Rewritten { detail, bars } => {
                format!(
                    "the source rewrote its history ({detail}): fetched whole again, {bars} bars"
                )
            }
        }
    }
}

/// The last complete session at `now`: today after its close, else the session before.
pub fn last_complete_session(now: DateTime<Utc>) -> NaiveDate {
    let today = now
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive();
    match calendar::session_hours(today) {
        Some(h) if now >= h.close => today,
        _ => calendar::previous_session(today),
    }
}

/// How [`sync`] treats what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Fetch what is missing (nothing when the store is current), with the overlap check.
    Missing,
    /// Check the overlap even when the store is current (the source's previous close
    /// disagrees with the stored one: it may have rewritten its history).
    Recheck,
    /// Fetch everything from `from` again.
    Force,
}

/// Brings `symbol` in `store` up to the last complete session from `source`. `from`
/// (history start, or `data update --from`) is where a first (or forced) fetch begins.
pub fn sync(
    store: &mut BarStore,
    source: &dyn MarketData,
    symbol: &str,
    from: NaiveDate,
    mode: Mode,
    now: DateTime<Utc>,
) -> crate::support::error::Result<Synced> {
    let last = store.last_date(symbol)?;
    let Some(last) = last.filter(|_| mode != Mode::Force) else {
        let bars = source.daily_bars(symbol, from)?;
        store.put(symbol, &bars, now, mode == Mode::Force)?;
        return Ok(Synced::First(bars.len()));
    };
    if last >= last_complete_session(now) && mode == Mode::Missing {
        return Ok(Synced::Current);
    }
    let stored = store.bars(symbol, NaiveDate::MIN)?;
    let tail = &stored[stored.len().saturating_sub(OVERLAP)..];
    let since = tail.first().map_or(last, |b| b.date);
    let fetched = source.daily_bars(symbol, since)?;
    if let Some(detail) = rewrite_of(tail, &fetched) {
        let start = stored.first().map_or(from, |b| b.date).min(from);
        let whole = source.daily_bars(symbol, start)?;
        store.put(symbol, &whole, now, true)?;
        store.record_rewrite(&Rewrite {
            symbol: symbol.to_string(),
            at: now,
            detail: detail.clone(),
        })?;
        tracing::warn!(symbol, "{detail}: the stored history was replaced");
        return Ok(Synced::Rewritten {
            detail,
            bars: whole.len(),
        });
    }
    let new: Vec<Bar> = fetched.into_iter().filter(|b| b.date > last).collect();
    store.put(symbol, &new, now, false)?;
    Ok(Synced::Added(new.len()))
}

/// A source of market data read through the store.
pub struct StoredMarketData {
    source: Arc<dyn MarketData + Send + Sync>,
    store: Mutex<BarStore>,
    clock: Arc<dyn Clock + Send + Sync>,
    from: NaiveDate,
    /// Symbols whose stored last close disagrees with the source's previous close, found
    /// by one quote request before the first history read (None: not looked yet).
    suspect: Mutex<Option<Vec<String>>>,
    symbols: Vec<String>,
}

/// How far the source's previous close may be from the stored close of that session
/// before the stored history is checked again (prices are rounded differently by sources).
const CLOSE_TOLERANCE: rust_decimal::Decimal = rust_decimal::Decimal::from_parts(5, 0, 0, false, 3);

impl StoredMarketData {
    /// `source` through `store` for `symbols`; a first fetch starts at `from`.
    pub fn new(
        source: Arc<dyn MarketData + Send + Sync>,
        store: BarStore,
        clock: Arc<dyn Clock + Send + Sync>,
        from: NaiveDate,
        symbols: Vec<String>,
    ) -> Self {
        StoredMarketData {
            source,
            store: Mutex::new(store),
            clock,
            from,
            suspect: Mutex::new(None),
            symbols,
        }
    }

    /// Whether `symbol`'s stored history must be checked again: on the first history read,
    /// one quote request compares each symbol's previous close (Schwab's `closePrice`, on
    /// today's basis) with the stored close of that session. A split adjusted overnight
    /// shows here before any bar is used. A source without previous closes, or a failed
    /// request, suspects nothing (the quote checks still guard the run).
    fn suspect(&self, store: &BarStore, symbol: &str) -> bool {
        let mut suspect = self.suspect.lock().unwrap_or_else(|p| p.into_inner());
        let list = suspect.get_or_insert_with(|| {
            let Ok(quotes) = self.source.quotes(&self.symbols) else {
                return Vec::new();
            };
            let last = last_complete_session(self.clock.now_utc());
            quotes
                .into_iter()
                .filter(|q| {
                    let Some(previous) = q.previous_close else {
                        return false;
                    };
                    let stored = store
                        .bars(&q.symbol, last)
                        .ok()
                        .and_then(|b| b.last().map(|b| b.close));
                    stored.is_some_and(|c| ((c - previous) / previous).abs() > CLOSE_TOLERANCE)
                })
                .map(|q| q.symbol)
                .collect()
        });
        list.iter().any(|s| s == symbol)
    }
}

impl MarketData for StoredMarketData {
    fn daily_bars(&self, symbol: &str, since: NaiveDate) -> Result<Vec<Bar>, BrokerError> {
        let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        let storage = |e: crate::support::error::Error| BrokerError::Storage(e.to_string());
        let mode = match self.suspect(&store, symbol) {
            true => Mode::Recheck,
            false => Mode::Missing,
        };
        let synced = sync(
            &mut store,
            self.source.as_ref(),
            symbol,
            self.from.min(since),
            mode,
            self.clock.now_utc(),
        )
        .map_err(storage)?;
        if matches!(synced, Synced::Rewritten { .. }) {
            tracing::warn!(target: crate::support::report::RUN, symbol, "bar store: {}", synced.describe());
        }
        tracing::debug!(symbol, "bar store: {}", synced.describe());
        let now = self.clock.now_utc();
        let last = last_complete_session(now);
        Ok(store
            .bars(symbol, since)
            .map_err(storage)?
            .into_iter()
            .filter(|b| b.date <= last)
            .collect())
    }

    fn quotes(&self, symbols: &[String]) -> Result<Vec<Quote>, BrokerError> {
        self.source.quotes(symbols)
    }
}
