//! The backtest engine with "synced" feed semantics: on day D every symbol's D bar is visible
//! before the strategy decides on the signal symbol's D bar, and day D's orders fill at D's
//! closes. The live decision ([`decide_day`]) replays history through the same engine.

use chrono::{Duration, NaiveDate};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::domain::bars::{Bar, History};
use crate::domain::portfolio::{Costs, Fill, Portfolio};
use crate::domain::statistics::{DayStat, FillStat, Statistics};
use crate::domain::strategy::params::StrategyParams;
use crate::domain::strategy::{weight_f64, Decision, Strategy, LEGS};
use crate::domain::DomainError;

type Result<T> = std::result::Result<T, DomainError>;

/// What a backtest needs besides the bars.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Strategy parameters.
    pub params: StrategyParams,
    /// Commission and slippage.
    pub costs: Costs,
    /// Starting cash.
    pub initial_cash: Decimal,
    /// First bar fed to the strategy.
    pub history_start: NaiveDate,
    /// First day of the trading period (earlier orders are warmup and discarded).
    pub trading_start: NaiveDate,
    /// Last day (inclusive); the last bar when absent.
    pub end: Option<NaiveDate>,
}

impl Settings {
    /// The original's default history start: `trading_start - int(1.4 x warmup)` days.
    pub fn default_history_start(params: &StrategyParams, trading_start: NaiveDate) -> NaiveDate {
        let days = (1.4 * params.warmup_bars() as f64) as i64;
        trading_start - Duration::days(days)
    }
}

/// One day of the trading period.
#[derive(Debug, Clone)]
pub struct DayRecord {
    /// Session date.
    pub date: NaiveDate,
    /// Close of the signal symbol.
    pub signal_close: Decimal,
    /// The decision (None before the warmup is complete).
    pub decision: Option<Decision>,
    /// Fills of the day, in execution order.
    pub fills: Vec<Fill>,
    /// End-of-day portfolio value.
    pub portfolio_value: Decimal,
    /// End-of-day cash.
    pub cash: Decimal,
    /// End-of-day shares per leg.
    pub quantities: [i64; LEGS],
}

/// A finished backtest.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// One record per session of the trading period.
    pub days: Vec<DayRecord>,
    /// The engine after the last bar (strategy state and portfolio).
    pub engine: Engine,
}

/// What an [`Engine`] carries from one day to the next (the strategy's state, the simulated
/// portfolio, the latest closes): saved at the end of a session, it lets the next day's
/// decision start there instead of at the first bar. Doubles round-trip exactly through
/// serde_json (`float_roundtrip`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EngineState {
    strategy: crate::domain::strategy::StrategyState,
    portfolio: Portfolio,
    trading: bool,
    latest: Vec<Option<Decimal>>,
    last_date: Option<NaiveDate>,
}

/// The backtest engine: the strategy, the simulated portfolio and the latest closes. Step it
/// one day at a time; clone it to try a day without committing to it.
#[derive(Debug, Clone)]
pub struct Engine {
    strategy: Strategy,
    portfolio: Portfolio,
    costs: Costs,
    trading_start: NaiveDate,
    trading: bool,
    /// Every symbol the strategy reads, signal first.
    symbols: Vec<String>,
    /// Index into `symbols` of each leg.
    legs: [usize; LEGS],
    /// Index into `symbols` of the treasury trend symbol.
    bond: Option<usize>,
    latest: Vec<Option<Decimal>>,
    last_date: Option<NaiveDate>,
}

impl Engine {
    /// A new engine with cash only.
    pub fn new(settings: &Settings) -> Result<Self> {
        let strategy = Strategy::new(settings.params.clone()).map_err(|problems| {
            DomainError::Invalid(format!("bad strategy parameters: {}", problems.join("; ")))
        })?;
        let params = &settings.params;
        let symbols = params.all_symbols();
        let index = |name: &str| symbols.iter().position(|s| s == name);
        let legs = params
            .traded_symbols()
            .map(|leg| index(leg).unwrap_or(usize::MAX));
        let bond = index(&params.treasury_trend_symbol);
        Ok(Engine {
            latest: vec![None; symbols.len()],
            strategy,
            portfolio: Portfolio::new(settings.initial_cash),
            costs: settings.costs,
            trading_start: settings.trading_start,
            trading: false,
            symbols,
            legs,
            bond,
            last_date: None,
        })
    }

    /// The symbols the engine reads, signal first.
    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// The strategy.
    pub fn strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// The simulated portfolio.
    pub fn portfolio(&self) -> &Portfolio {
        &self.portfolio
    }

    /// The last day stepped.
    pub fn last_date(&self) -> Option<NaiveDate> {
        self.last_date
    }

    /// Processes day `date` with `bars[i]` the bar of `symbols()[i]` (None when it has none):
    /// every other symbol first, then the signal symbol's decision, rebalance and fills at the
    /// day's closes. Returns the day's record in the trading period.
    pub fn step(&mut self, date: NaiveDate, bars: &[Option<Bar>]) -> Option<DayRecord> {
        self.last_date = Some(date);
        for (i, bar) in bars.iter().enumerate().skip(1) {
            let Some(bar) = bar else { continue };
            self.latest[i] = Some(bar.close);
            self.strategy.count_bar();
            if Some(i) == self.bond {
                self.strategy.on_bond_close(bar.close_f64);
            }
        }
        let bar = bars.first().copied().flatten()?;
        self.latest[0] = Some(bar.close);
        self.strategy.count_bar();
        if !self.trading && date >= self.trading_start {
            self.trading = true;
            self.strategy.reset_remembered();
        }
        let out = self.strategy.on_signal_bar(bar.close_f64, bar.volume);
        let mut fills = Vec::new();
        if let Some(decision) = out.decision.filter(|d| d.rebalance) {
            let prices = self.legs.map(|i| self.latest.get(i).copied().flatten());
            let equity = self.value();
            let orders = self.strategy.emit_orders(&decision, equity, &prices);
            if self.trading {
                for order in orders {
                    let Some(p) = prices[order.leg] else { continue };
                    let symbol = &self.symbols[self.legs[order.leg]];
                    let (symbols, latest) = (&self.symbols, &self.latest);
                    let price_of = |s: &str| price_in(symbols, latest, s);
                    if let Some(fill) =
                        self.portfolio
                            .rebalance_to(symbol, order.target, p, price_of, &self.costs)
                    {
                        fills.push(fill);
                    }
                }
            }
        }
        if !self.trading {
            return None;
        }
        Some(DayRecord {
            date,
            signal_close: bar.close,
            decision: out.decision,
            fills,
            portfolio_value: self.value(),
            cash: self.portfolio.cash,
            quantities: self.leg_quantities(),
        })
    }

    /// The shares held of each leg: the positions (a few) matched against the legs, rather
    /// than a map lookup per leg (a tenth of the replay's own work). A symbol that is two
    /// legs gives both its shares, as a lookup would.
    fn leg_quantities(&self) -> [i64; LEGS] {
        let mut quantities = [0; LEGS];
        for (symbol, &shares) in &self.portfolio.positions {
            for (quantity, &leg) in quantities.iter_mut().zip(&self.legs) {
                if self.symbols.get(leg) == Some(symbol) {
                    *quantity = shares;
                }
            }
        }
        quantities
    }

    /// [`Engine::step`] with bars named by symbol (symbols the engine does not read are
    /// ignored).
    pub fn step_named(&mut self, date: NaiveDate, bars: &[(String, Bar)]) -> Option<DayRecord> {
        let mut row = vec![None; self.symbols.len()];
        for (symbol, bar) in bars {
            if let Some(i) = self.symbols.iter().position(|s| s == symbol) {
                row[i] = Some(*bar);
            }
        }
        self.step(date, &row)
    }

    /// The decision a day with `bars` would bring, leaving the engine as it is.
    pub fn decide_next(&self, date: NaiveDate, bars: &[(String, Bar)]) -> Option<DayRecord> {
        self.clone().step_named(date, bars)
    }

    /// Everything the engine carries from one day to the next, to save.
    pub fn saved(&self) -> EngineState {
        EngineState {
            strategy: self.strategy.state.clone(),
            portfolio: self.portfolio.clone(),
            trading: self.trading,
            latest: self.latest.clone(),
            last_date: self.last_date,
        }
    }

    /// A new engine with `settings` carrying on from a saved state; None when the state
    /// cannot be one of this engine's (another number of symbols).
    pub fn resume(settings: &Settings, saved: EngineState) -> Result<Option<Self>> {
        let mut engine = Engine::new(settings)?;
        if saved.latest.len() != engine.symbols.len() {
            return Ok(None);
        }
        engine.strategy.restore(saved.strategy);
        engine.portfolio = saved.portfolio;
        engine.trading = saved.trading;
        engine.latest = saved.latest;
        engine.last_date = saved.last_date;
        Ok(Some(engine))
    }

    fn value(&self) -> Decimal {
        self.portfolio
            .value(|s| price_in(&self.symbols, &self.latest, s))
    }
}

fn price_in(symbols: &[String], latest: &[Option<Decimal>], symbol: &str) -> Option<Decimal> {
    symbols
        .iter()
        .position(|x| x == symbol)
        .and_then(|i| latest[i])
}

/// Feeds `history` from `settings.history_start` to `until` (inclusive) into `engine`,
/// one day at a time, and returns the records of the trading period.
pub fn replay(
    engine: &mut Engine,
    history: &History,
    settings: &Settings,
    until: NaiveDate,
) -> Vec<DayRecord> {
    replay_between(engine, history, settings.history_start, until)
}

/// [`replay`] of the days from `start` to `until` (both included) only: the rest of a
/// history after a saved engine's last day.
pub fn replay_between(
    engine: &mut Engine,
    history: &History,
    start: NaiveDate,
    until: NaiveDate,
) -> Vec<DayRecord> {
    let signal = engine
        .symbols()
        .first()
        .map_or(&[][..], |s| history.bars(s));
    // At most one record a signal bar: reserved at once, the records are written once
    // instead of copied at every doubling.
    let bars_left = signal.len() - signal.partition_point(|b| b.date < start);
    let mut days = Vec::with_capacity(bars_left);
    advance(engine, history, start, until, |day| days.push(day));
    days
}

/// [`replay_between`] handing each record to `on_day` instead of keeping them (a trade
/// run needs only the engine at the end); the last date it stepped, if any.
pub fn advance(
    engine: &mut Engine,
    history: &History,
    start: NaiveDate,
    until: NaiveDate,
    mut on_day: impl FnMut(DayRecord),
) -> Option<NaiveDate> {
    let series: Vec<&[Bar]> = engine.symbols().iter().map(|s| history.bars(s)).collect();
    let mut cursor: Vec<usize> = series
        .iter()
        .map(|bars| bars.partition_point(|b| b.date < start))
        .collect();
    let mut row = vec![None; series.len()];
    let mut last: Option<NaiveDate> = None;
    // The union of the series' dates, in order, by merging them (each is ascending): a
    // date steps once, with the bar of every series that has it.
    loop {
        for (bars, at) in series.iter().zip(cursor.iter_mut()) {
            while bars
                .get(*at)
                .is_some_and(|b| last.is_some_and(|l| b.date <= l))
            {
                *at += 1; // a repeated date: its first bar has stepped
            }
        }
        let next = series
            .iter()
            .zip(&cursor)
            .filter_map(|(bars, &at)| bars.get(at).map(|b| b.date))
            .min();
        let Some(date) = next.filter(|d| *d <= until) else {
            break;
        };
        for ((slot, bars), at) in row.iter_mut().zip(&series).zip(cursor.iter_mut()) {
            *slot = bars.get(*at).filter(|b| b.date == date).copied();
            if slot.is_some() {
                *at += 1;
            }
        }
        if let Some(day) = engine.step(date, &row) {
            on_day(day);
        }
        last = Some(date);
    }
    last
}

/// Runs the strategy over `history` with `settings`.
pub fn run(history: &History, settings: &Settings) -> Result<Outcome> {
    let mut engine = Engine::new(settings)?;
    if history.bars(&settings.params.signal_symbol).is_empty() {
        return Err(DomainError::Invalid(format!(
            "no bars for the signal symbol {}",
            settings.params.signal_symbol
        )));
    }
    let days = replay(
        &mut engine,
        history,
        settings,
        settings.end.unwrap_or(NaiveDate::MAX),
    );
    Ok(Outcome { days, engine })
}

/// The decision for day `date`: the strategy replayed over every bar of `history` before
/// `date`, then `today` (the synthetic bars built from live quotes), through the same engine
/// as the backtest. It equals the backtest's decision for `date` whenever `today` holds the
/// real bars.
pub fn decide_day(
    history: &History,
    date: NaiveDate,
    today: &[(String, Bar)],
    settings: &Settings,
) -> Result<DayRecord> {
    if let Some((symbol, bar)) = today.iter().find(|(_, b)| b.date != date) {
        return Err(DomainError::Invalid(format!(
            "today's {symbol} bar is dated {}, not {date}",
            bar.date
        )));
    }
    let mut engine = Engine::new(settings)?;
    let yesterday = date.pred_opt().unwrap_or(date);
    replay(&mut engine, history, settings, yesterday);
    engine.decide_next(date, today).ok_or_else(|| {
        DomainError::Invalid(format!(
            "no decision for {date}: it is before the trading start ({}) or today has no {} bar",
            settings.trading_start, settings.params.signal_symbol
        ))
    })
}

/// The sessions of a run as the statistics read them: the value at each close, invested
/// when a share is held, rebalanced when something filled.
pub fn day_stats(days: &[DayRecord]) -> Vec<DayStat> {
    days.iter()
        .map(|d| DayStat {
            date: d.date,
            value: d.portfolio_value,
            flow: Decimal::ZERO,
            invested: d.quantities.iter().any(|q| *q != 0),
            rebalanced: !d.fills.is_empty(),
        })
        .collect()
}

/// The statistics of a run (see [`crate::domain::statistics`]), with the fills' costs
/// under `costs`.
pub fn statistics(days: &[DayRecord], initial: Decimal, costs: &Costs) -> Option<Statistics> {
    let series = day_stats(days);
    let fills: Vec<FillStat> = days
        .iter()
        .flat_map(|d| &d.fills)
        .map(|fill| {
            let shares = Decimal::from(fill.quantity);
            // The fill price carries the slippage: the reference is price / (1 +- s).
            let reference = match fill.side {
                crate::domain::portfolio::Side::Buy => fill.price / (Decimal::ONE + costs.slippage),
                crate::domain::portfolio::Side::Sell => {
                    fill.price / (Decimal::ONE - costs.slippage)
                }
            };
            FillStat {
                notional: shares * fill.price,
                commission: fill.commission,
                slippage: (shares * (fill.price - reference)).abs(),
            }
        })
        .collect();
    crate::domain::statistics::statistics(initial, &series, &fills)
}

/// A double as Python's `repr` writes it (`1.0`, `0.25`, `1e-05`), the reference's format.
pub fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    let abs = x.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        let s = format!("{x:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let s = x.to_string();
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

fn dec_float(d: Decimal) -> String {
    py_float(d.to_f64().unwrap_or(f64::NAN))
}

/// The reference's daily columns, in its order.
pub const DAILY_HEADER: &str = "date,phase,qqq_close,T_norm,z_score,vol_state,trend_state,cell,\
sma_fast,sma_slow,vol_crush,bond_sma_fast,bond_sma_slow,bond_trend,w_TQQQ,w_QQQ,w_PSQ,w_TMF,\
w_TMV,w_CASH,rebalance,portfolio_value,cash,qty_TQQQ,qty_QQQ,qty_PSQ,qty_TMF,qty_TMV";

/// The daily table in the reference's columns, as CSV text.
pub fn daily_csv(days: &[DayRecord]) -> String {
    let mut out = csv::Writer::from_writer(Vec::with_capacity(days.len() * 300));
    let header: Vec<&str> = DAILY_HEADER.split(',').collect();
    let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    rows.extend(days.iter().map(daily_row));
    for row in rows {
        // Writing to memory cannot fail; a failure would only drop the row.
        let _ = out.write_record(&row);
    }
    text_of(out)
}

fn daily_row(day: &DayRecord) -> Vec<String> {
    let flag = |b: bool| if b { "1.0" } else { "0.0" };
    let mut row: Vec<String> = vec![
        day.date.to_string(),
        "trading".into(),
        dec_float(day.signal_close),
    ];
    match &day.decision {
        Some(d) => {
            row.extend([
                dec_float(d.t_norm),
                py_float(d.z_score),
                d.vol_state.to_string(),
                d.trend.to_string(),
                py_float(f64::from(d.cell)),
                py_float(d.sma_fast),
                py_float(d.sma_slow),
                flag(d.vol_crush).into(),
            ]);
            match &d.bond {
                Some(b) => row.extend([
                    py_float(b.sma_fast),
                    py_float(b.sma_slow),
                    b.trend.to_string(),
                ]),
                None => row.extend([String::new(), String::new(), String::new()]),
            }
            row.extend(d.weights.legs.iter().map(|w| py_float(weight_f64(*w))));
            row.push(py_float(weight_f64(d.weights.cash)));
            row.push(flag(d.rebalance).into());
        }
        None => row.extend(std::iter::repeat_n(String::new(), 18)),
    }
    row.push(dec_float(day.portfolio_value));
    row.push(dec_float(day.cash));
    row.extend(day.quantities.iter().map(|q| py_float(*q as f64)));
    row
}

/// Every fill as CSV text: `timestamp,symbol,direction,quantity,fill_price,commission`.
pub fn fills_csv(days: &[DayRecord]) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    let _ = out.write_record([
        "timestamp",
        "symbol",
        "direction",
        "quantity",
        "fill_price",
        "commission",
    ]);
    for day in days {
        for f in &day.fills {
            let _ = out.write_record([
                day.date.to_string(),
                f.symbol.clone(),
                f.side.as_str().to_string(),
                f.quantity.to_string(),
                dec_float(f.price),
                dec_float(f.commission),
            ]);
        }
    }
    text_of(out)
}

fn text_of(out: csv::Writer<Vec<u8>>) -> String {
    let bytes = out.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_repr() {
        assert_eq!(py_float(1.0), "1.0");
        assert_eq!(py_float(0.25), "0.25");
        assert_eq!(py_float(1e-5), "1e-05");
        assert_eq!(py_float(-0.3), "-0.3");
        assert_eq!(py_float(86.0), "86.0");
    }
}
