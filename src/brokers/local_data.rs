//! Market data from local daily bars, for the embedded default and `--as-of` runs: on day D
//! the quote at the as-of instant is D's close (or open), with D's volume as the day volume,
//! and history is the bars before D. With corporate actions (`sim.prices: as_traded`) the
//! quote is the price that traded that day; the history stays split-adjusted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::brokers::{BrokerError, MarketData, Quote};
use crate::config::LocalQuote;
use crate::domain::bars::Bar;
use crate::domain::events::Actions;

/// Bars from `<dir>/<SYMBOL>.csv`, seen from one instant.
pub struct LocalMarketData {
    dir: PathBuf,
    as_of: DateTime<Utc>,
    date: NaiveDate,
    price: LocalQuote,
    cache: Mutex<Cache>,
    actions: Option<Arc<Actions>>,
}

/// The files read so far, and the reader that read them (its buffer and calendar serve the
/// next file).
#[derive(Default)]
struct Cache {
    bars: HashMap<String, Arc<Vec<Bar>>>,
    reader: crate::storage::bars::BarReader,
}

impl LocalMarketData {
    /// Bars of `dir` seen at `as_of` (whose New York date is "today").
    pub fn new(dir: PathBuf, as_of: DateTime<Utc>, price: LocalQuote) -> Self {
        let date = as_of
            .with_timezone(&chrono_tz::America::New_York)
            .date_naive();
        LocalMarketData {
            dir,
            as_of,
            date,
            price,
            cache: Mutex::new(Cache::default()),
            actions: None,
        }
    }

    /// Quotes at the prices that traded on the day (the split-adjusted bar times the ratios
    /// of the splits still to come), the history staying split-adjusted.
    pub fn as_traded(mut self, actions: Arc<Actions>) -> Self {
        self.actions = Some(actions);
        self
    }

    /// The corporate actions the quotes follow, if they are as traded.
    pub fn actions(&self) -> Option<&Arc<Actions>> {
        self.actions.as_ref()
    }

    /// The factor from the history's prices to the prices that traded on `date`.
    pub fn factor(&self, symbol: &str, date: NaiveDate) -> Decimal {
        self.actions
            .as_ref()
            .map_or(Decimal::ONE, |a| a.factor(symbol, date))
    }

    /// All bars of a symbol (loaded once).
    pub fn all_bars(&self, symbol: &str) -> Result<Arc<Vec<Bar>>, BrokerError> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bars) = cache.bars.get(symbol) {
            return Ok(bars.clone());
        }
        let path = self.dir.join(format!("{symbol}.csv"));
        let bars = Arc::new(
            cache
                .reader
                .load(&path)
                .map_err(|e| BrokerError::BadData(e.to_string()))?,
        );
        cache.bars.insert(symbol.to_string(), bars.clone());
        Ok(bars)
    }

    /// The last date with a bar for `symbol`: the date of its file's last row when the
    /// file is not read yet (commands ask it before anything else, and reading 17 years of
    /// bars for one date cost a tenth of a trade run), else its last bar. A file with a bad
    /// row still gives its last row's date here; reading its bars refuses it.
    pub fn last_date(&self, symbol: &str) -> Result<NaiveDate, BrokerError> {
        let read = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .bars
            .contains_key(symbol);
        if !read {
            let path = self.dir.join(format!("{symbol}.csv"));
            let text = std::fs::read(path).ok();
            if let Some(date) = text.as_deref().and_then(crate::domain::bars::last_row_date) {
                return Ok(date);
            }
        }
        self.all_bars(symbol)?
            .last()
            .map(|b| b.date)
            .ok_or_else(|| BrokerError::Storage(format!("no bars for {symbol}")))
    }
}

impl MarketData for LocalMarketData {
    fn corporate_actions(&self) -> Option<Arc<Actions>> {
        self.actions.clone()
    }

    fn daily_bars(&self, symbol: &str, since: NaiveDate) -> Result<Vec<Bar>, BrokerError> {
        let bars = self.all_bars(symbol)?;
        let from = bars.partition_point(|b| b.date < since);
        // Today's bar belongs to history once the session has closed.
        let closed = crate::domain::calendar::session_hours(self.date)
            .is_some_and(|h| self.as_of >= h.close.with_timezone(&Utc));
        let to = bars.partition_point(|b| b.date < self.date || (closed && b.date == self.date));
        Ok(bars[from..to.max(from)].to_vec())
    }

    fn quotes(&self, symbols: &[String]) -> Result<Vec<Quote>, BrokerError> {
        symbols
            .iter()
            .map(|symbol| {
                let bars = self.all_bars(symbol)?;
                let bar = bars
                    .binary_search_by_key(&self.date, |b| b.date)
                    .ok()
                    .map(|i| bars[i])
                    .ok_or_else(|| BrokerError::Invalid {
                        endpoint: format!("{}/{symbol}.csv", self.dir.display()),
                        message: format!(
                            "no bar for {symbol} on {} (not a session, or past the data's end)",
                            self.date
                        ),
                    })?;
                let last = match self.price {
                    LocalQuote::Close => bar.close,
                    LocalQuote::Open => bar.open,
                };
                let factor = self.factor(symbol, self.date);
                Ok(Quote {
                    symbol: symbol.clone(),
                    last: (last * factor).normalize(),
                    bid: None,
                    ask: None,
                    time: self.as_of,
                    day_volume: Decimal::from_f64_retain(bar.volume).map(|v| v / factor),
                    mark: None,
                    history_basis: factor,
                    previous_close: None,
                    security_status: None,
                    realtime: true,
                    no_bid_ask: false,
                })
            })
            .collect()
    }
}
