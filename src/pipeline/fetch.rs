//! Stage 2 and 3: daily bars and quotes, checked, and the synthetic bar of today.

use super::*;

/// The market data source the run fetched from (shared with the simulator's prices).
pub(super) type Data = Arc<dyn MarketData + Send + Sync>;

impl Run<'_> {
    /// Stage 2: every symbol's daily bars and the quotes, checked.
    pub(super) fn fetch_stage(
        &mut self,
        session: &Session,
        journal: &mut Journal,
    ) -> Result<(Data, Market), Stop> {
        self.stage = Stage::Fetch;
        let t = Instant::now();
        let data = sources::market_data(self.loaded, self.clock.clone(), self.clock.now_utc())?;
        let market = self.fetch(data.as_ref(), session.today)?;
        for q in &market.quotes {
            let show = |p: Option<Decimal>| p.map_or("-".to_string(), |p| p.to_string());
            tracing::info!(
                target: crate::support::report::RUN,
                symbol = %q.symbol,
                last = %q.last,
                bid = %show(q.bid),
                ask = %show(q.ask),
                mark = %show(q.mark),
                at = %q.time,
                "quote"
            );
        }
        let quotes = market.quotes.iter().map(|q| (q.symbol.clone(), q.last));
        let basis = market
            .quotes
            .iter()
            .filter(|q| q.history_basis != Decimal::ONE)
            .map(|q| (q.symbol.clone(), q.history_basis));
        let volumes = market
            .quotes
            .iter()
            .filter_map(|q| Some((q.symbol.clone(), q.day_volume?)));
        let digest = market.digest.clone();
        journal.record(|ledger| {
            ledger.quotes = quotes.collect();
            ledger.quote_basis = basis.collect();
            ledger.quote_volumes = volumes.collect();
            ledger.history_digest = Some(digest);
        })?;
        let signal = &self.loaded.config.strategy.parameters.signal_symbol;
        let bars = market.history.bars(signal);
        self.record(
            journal,
            Mark::Ok,
            format!(
                "{} bars of {signal} to {}, {} quotes",
                bars.len(),
                bars.last().map_or(String::new(), |b| b.date.to_string()),
                market.quotes.len()
            ),
            t,
        )?;
        Ok((data, market))
    }

    /// Stage 3: today's bars from the quotes.
    pub(super) fn synthetic_bar_stage(
        &mut self,
        session: &Session,
        journal: &mut Journal,
        market: &Market,
    ) -> Result<Vec<(String, Bar)>, Stop> {
        self.stage = Stage::SyntheticBar;
        let t = Instant::now();
        let today_bars = synthetic_bars(&market.quotes, session.today);
        let signal = &self.loaded.config.strategy.parameters.signal_symbol;
        let quote = market.quote(signal);
        self.record(
            journal,
            Mark::Ok,
            format!(
                "{signal} {} (volume {}) at {}",
                crate::domain::portfolio::cents(quote.map_or(Decimal::ZERO, |q| q.last)),
                quote
                    .and_then(|q| q.day_volume)
                    .map_or("0".into(), |v| v.round().to_string()),
                self.clock.now_et().format("%H:%M ET")
            ),
            t,
        )?;
        Ok(today_bars)
    }

    /// Quote sanity before anything is planned: each quote inside its own bid/ask band, its
    /// spread, its mark, and its move from the previous close within the limits of
    /// `execution`. Every failure is named; the run stops with nothing sent.
    fn check_quotes(
        &self,
        history: &History,
        quotes: &[Quote],
        today: NaiveDate,
    ) -> Result<(), Stop> {
        let execution = &self.loaded.config.execution;
        let problems: Vec<String> = quotes
            .iter()
            .flat_map(|q| {
                let previous = history
                    .bars(&q.symbol)
                    .last()
                    .filter(|b| b.date < today)
                    .map(|b| b.close);
                crate::domain::market::quote_problems(
                    q,
                    previous,
                    &execution.quote_limits(&q.symbol),
                )
            })
            .collect();
        if problems.is_empty() {
            return Ok(());
        }
        Err(Stop::preflight(problems.join("; ")))
    }

    pub(super) fn fetch(&self, data: &dyn MarketData, today: NaiveDate) -> Result<Market, Stop> {
        let c = &self.loaded.config;
        let symbols = c.strategy.parameters.all_symbols();
        let mut history = History::default();
        let expected = calendar::previous_session(today);
        for symbol in &symbols {
            let bars = data.daily_bars(symbol, c.data.history_start)?;
            let last = bars.last().map(|b| b.date);
            let must_be_current = *symbol == c.strategy.parameters.signal_symbol
                || *symbol == c.strategy.parameters.treasury_trend_symbol;
            if must_be_current && last != Some(expected) {
                let hint =
                    if c.data.source == DataSource::Local && last.is_some_and(|l| l < expected) {
                        format!(
                            "; the local bars in {} end there: to trade today, set \
                         `data.source: schwab` (quotes and history from Schwab, orders still on \
                         the simulator in paper mode), or replay a bundled session with --as-of",
                            self.loaded.data_dir().display()
                        )
                    } else {
                        String::new()
                    };
                return Err(Stop::preflight(format!(
                    "{symbol} history ends {}, not on the previous session {expected}{hint}",
                    last.map_or("nowhere (no bars)".into(), |d| d.to_string())
                )));
            }
            history.series.insert(symbol.clone(), bars);
        }
        let quotes = data.quotes(&symbols)?;
        let now = self.clock.now_utc();
        let max_age = chrono::Duration::seconds(c.execution.max_quote_age_s as i64);
        for q in &quotes {
            if now - q.time > max_age {
                return Err(Stop::preflight(format!(
                    "{} quote is stale: taken {} s ago, over execution.max_quote_age_s ({})",
                    q.symbol,
                    (now - q.time).num_seconds(),
                    c.execution.max_quote_age_s
                )));
            }
            if q.last <= Decimal::ZERO {
                return Err(Stop::preflight(format!(
                    "{} quote has no positive price",
                    q.symbol
                )));
            }
        }
        self.check_quotes(&history, &quotes, today)?;
        let digest = history.digest();
        Ok(Market {
            history,
            quotes,
            digest,
        })
    }
}

/// Today's bars built from the quotes: open = high = low = close = last, volume = the day's
/// cumulative volume when given, else 0. (A jump from yesterday's close was stopped by the
/// quote checks of the fetch stage.) `jutsu status` previews with the same bars.
pub fn synthetic_bars(quotes: &[Quote], today: NaiveDate) -> Vec<(String, Bar)> {
    quotes
        .iter()
        .map(|q| {
            // The bar joins the split-adjusted history: on its basis, price and volume alike.
            let p = q.on_history_basis();
            let volume = q
                .day_volume
                .and_then(|v| (v * q.history_basis).to_f64())
                .unwrap_or(0.0);
            (q.symbol.clone(), Bar::new(today, p, p, p, p, volume))
        })
        .collect()
}

/// What the fetch stage brings.
pub(super) struct Market {
    pub(super) history: History,
    pub(super) quotes: Vec<Quote>,
    /// `history.digest()`, recorded in the ledger and keying the saved engine.
    pub(super) digest: String,
}

impl Market {
    /// The quote of a symbol.
    pub(super) fn quote(&self, symbol: &str) -> Option<&Quote> {
        self.quotes.iter().find(|q| q.symbol == symbol)
    }

    /// The last price of each leg, in leg order.
    pub(super) fn prices(&self, legs: &[String; LEGS]) -> [Option<Decimal>; LEGS] {
        legs.clone().map(|s| self.quote(&s).map(|q| q.last))
    }
}
