//! Market data through the local bar store (`data.store`): the history comes from the store
//! and only what it lacks is fetched, the last few stored bars fetched again beside it and
//! compared. When they differ, the source rewrote its split-adjusted history (a split, a
//! correction): the symbol is fetched whole again and the rewrite recorded. Quotes always
//! come from the source.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};

use crate::brokers::{BrokerError, MarketData, Quote};
use crate::clock::Clock;
use crate::domain::bars::{rewrite_of, Bar};
use crate::domain::calendar;
use crate::storage::store::{BarStore, Rewrite};

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

/// Brings `symbol` in `store` up to the last complete session from `source`. `from`
/// (history start, or `data update --from`) is where a first fetch begins; `force` fetches
/// from there again whatever is stored.
pub fn sync(
    store: &mut BarStore,
    source: &dyn MarketData,
    symbol: &str,
    (from, force): (NaiveDate, bool),
    now: DateTime<Utc>,
) -> crate::error::Result<Synced> {
    let last = store.last_date(symbol)?;
    let Some(last) = last.filter(|_| !force) else {
        let bars = source.daily_bars(symbol, from)?;
        store.put(symbol, &bars, now, force)?;
        return Ok(Synced::First(bars.len()));
    };
    if last >= last_complete_session(now) {
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
}

impl StoredMarketData {
    /// `source` through `store`; a first fetch starts at `from`.
    pub fn new(
        source: Arc<dyn MarketData + Send + Sync>,
        store: BarStore,
        clock: Arc<dyn Clock + Send + Sync>,
        from: NaiveDate,
    ) -> Self {
        StoredMarketData {
            source,
            store: Mutex::new(store),
            clock,
            from,
        }
    }
}

impl MarketData for StoredMarketData {
    fn daily_bars(&self, symbol: &str, since: NaiveDate) -> Result<Vec<Bar>, BrokerError> {
        let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
        let storage = |e: crate::error::Error| BrokerError::Storage(e.to_string());
        let synced = sync(
            &mut store,
            self.source.as_ref(),
            symbol,
            (self.from.min(since), false),
            self.clock.now_utc(),
        )
        .map_err(storage)?;
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
