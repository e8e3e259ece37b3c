//! The backtest engine with "synced" feed semantics: on day D every symbol's D bar is visible
//! before the strategy decides on the signal symbol's D bar, and day D's orders fill at D's
//! closes. The live decision ([`decide_day`]) replays history through the same engine.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use chrono::{Duration, NaiveDate};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::bars::{decimal_to_f64, Bar, History};
use crate::error::{Error, Result};
use crate::portfolio::{Costs, Fill, Portfolio};
use crate::strategy::params::StrategyParams;
use crate::strategy::{weight_f64, Decision, Strategy, LEGS};

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
    /// The strategy as it stands after the last bar.
    pub strategy: Strategy,
    /// The portfolio after the last bar.
    pub portfolio: Portfolio,
}

/// Runs the strategy over `history` with `settings`.
pub fn run(history: &History, settings: &Settings) -> Result<Outcome> {
    let mut strategy = Strategy::new(settings.params.clone()).map_err(|problems| {
        Error::Usage(format!("bad strategy parameters: {}", problems.join("; ")))
    })?;
    let params = settings.params.clone();
    let symbols = params.all_symbols();
    let signal = 0; // all_symbols() lists the signal symbol first
    let bond = symbols
        .iter()
        .position(|s| *s == params.treasury_trend_symbol);
    let legs: [usize; LEGS] = params
        .traded_symbols()
        .map(|leg| symbols.iter().position(|s| s == leg).unwrap_or(usize::MAX));
    let series: Vec<&[Bar]> = symbols.iter().map(|s| history.bars(s)).collect();
    if series[signal].is_empty() {
        return Err(Error::Usage(format!(
            "no bars for the signal symbol {}",
            params.signal_symbol
        )));
    }
    let end = settings.end.unwrap_or(NaiveDate::MAX);
    let dates: BTreeSet<NaiveDate> = series
        .iter()
        .flat_map(|bars| bars.iter().map(|b| b.date))
        .filter(|d| *d >= settings.history_start && *d <= end)
        .collect();
    let mut cursor: Vec<usize> = series
        .iter()
        .map(|bars| bars.partition_point(|b| b.date < settings.history_start))
        .collect();
    let mut latest: Vec<Option<Decimal>> = vec![None; symbols.len()];
    let mut portfolio = Portfolio::new(settings.initial_cash);
    let mut trading = false;
    let mut days = Vec::new();

    for date in dates {
        // Every other symbol's bar of the day first (synced), then the signal symbol's.
        let mut signal_bar = None;
        for (i, bars) in series.iter().enumerate() {
            let Some(bar) = bars.get(cursor[i]).filter(|b| b.date == date) else {
                continue;
            };
            cursor[i] += 1;
            latest[i] = Some(bar.close);
            if i == signal {
                signal_bar = Some(*bar);
                continue;
            }
            strategy.count_bar();
            if Some(i) == bond {
                strategy.on_bond_close(bar.close_f64);
            }
        }
        let Some(bar) = signal_bar else {
            continue;
        };
        strategy.count_bar();
        if !trading && date >= settings.trading_start {
            trading = true;
            strategy.reset_remembered();
        }
        let out = strategy.on_signal_bar(bar.close_f64, bar.volume);
        let price_of = |s: &str| symbols.iter().position(|x| x == s).and_then(|i| latest[i]);
        let mut fills = Vec::new();
        if let Some(decision) = out.decision.filter(|d| d.rebalance) {
            let prices = legs.map(|i| latest.get(i).copied().flatten());
            let equity = portfolio.value(price_of);
            let orders = strategy.emit_orders(&decision, equity, &prices);
            if trading {
                for order in orders {
                    let symbol = &symbols[legs[order.leg]];
                    let Some(p) = prices[order.leg] else {
                        continue;
                    };
                    if let Some(fill) =
                        portfolio.rebalance_to(symbol, order.target, p, price_of, &settings.costs)
                    {
                        fills.push(fill);
                    }
                }
            }
        }
        if trading {
            days.push(DayRecord {
                date,
                signal_close: bar.close,
                decision: out.decision,
                fills,
                portfolio_value: portfolio.value(price_of),
                cash: portfolio.cash,
                quantities: legs.map(|i| {
                    symbols
                        .get(i)
                        .map_or(0, |symbol| portfolio.quantity(symbol))
                }),
            });
        }
    }
    Ok(Outcome {
        days,
        strategy,
        portfolio,
    })
}

/// The decision for day `today`: the strategy replayed over all of `history` (bars before
/// `today`) plus today's bars (the synthetic bars built from live quotes), through the same
/// engine as the backtest. Equal to the backtest's decision for `today` whenever today's
/// bars equal the real ones.
pub fn decide_day(
    history: &History,
    today: &[(String, Bar)],
    settings: &Settings,
) -> Result<DayRecord> {
    let Some(date) = today.first().map(|(_, b)| b.date) else {
        return Err(Error::Usage("no bars for today".into()));
    };
    let mut extended = History::default();
    for (symbol, bars) in &history.series {
        let before = bars.partition_point(|b| b.date < date);
        extended
            .series
            .insert(symbol.clone(), bars[..before].to_vec());
    }
    for (symbol, bar) in today {
        if bar.date != date {
            return Err(Error::Usage(format!(
                "today's bars disagree on the date: {symbol} is {} not {date}",
                bar.date
            )));
        }
        extended
            .series
            .entry(symbol.clone())
            .or_default()
            .push(*bar);
    }
    let mut settings = settings.clone();
    settings.end = Some(date);
    let outcome = run(&extended, &settings)?;
    outcome
        .days
        .into_iter()
        .last()
        .filter(|d| d.date == date)
        .ok_or_else(|| {
            Error::Usage(format!(
                "no decision for {date}: it is before the trading start or has no {} bar",
                settings.params.signal_symbol
            ))
        })
}

/// Performance figures of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// First day.
    pub first: NaiveDate,
    /// Last day.
    pub last: NaiveDate,
    /// Starting cash.
    pub initial: Decimal,
    /// Final portfolio value.
    pub final_value: Decimal,
    /// Compound annual growth rate (calendar years).
    pub cagr: f64,
    /// Annualised Sharpe ratio of daily returns (no risk-free rate).
    pub sharpe: f64,
    /// Largest peak-to-trough fall of the daily value (negative).
    pub max_drawdown: f64,
    /// Number of fills.
    pub trades: usize,
}

/// Summarises the days of a run.
pub fn summarize(days: &[DayRecord], initial: Decimal) -> Option<Summary> {
    let first = days.first()?;
    let last = days.last()?;
    let values: Vec<f64> = std::iter::once(decimal_to_f64(initial))
        .chain(days.iter().map(|d| decimal_to_f64(d.portfolio_value)))
        .collect();
    let returns: Vec<f64> = values.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let sharpe = if var > 0.0 {
        mean / var.sqrt() * 252f64.sqrt()
    } else {
        0.0
    };
    let mut peak = f64::MIN;
    let mut max_drawdown = 0.0f64;
    for v in &values {
        peak = peak.max(*v);
        max_drawdown = max_drawdown.min(v / peak - 1.0);
    }
    let years = (last.date - first.date).num_days() as f64 / 365.25;
    let growth = values[values.len() - 1] / values[0];
    let cagr = if years > 0.0 {
        growth.powf(1.0 / years) - 1.0
    } else {
        0.0
    };
    Some(Summary {
        first: first.date,
        last: last.date,
        initial,
        final_value: last.portfolio_value,
        cagr,
        sharpe,
        max_drawdown,
        trades: days.iter().map(|d| d.fills.len()).sum(),
    })
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

/// Writes the daily table in the reference's columns.
pub fn write_daily(path: &Path, days: &[DayRecord]) -> Result<()> {
    let mut out = String::with_capacity(days.len() * 300);
    out.push_str(DAILY_HEADER);
    out.push('\n');
    let flag = |b: bool| if b { "1.0" } else { "0.0" };
    for day in days {
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
        out.push_str(&row.join(","));
        out.push('\n');
    }
    std::fs::write(path, out).map_err(|e| Error::io("writing", path, e))
}

/// Writes every fill: `timestamp,symbol,direction,quantity,fill_price,commission`.
pub fn write_fills(path: &Path, days: &[DayRecord]) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|e| Error::io("writing", path, e))?;
    let mut out = std::io::BufWriter::new(file);
    let io = |e| Error::io("writing", path, e);
    writeln!(
        out,
        "timestamp,symbol,direction,quantity,fill_price,commission"
    )
    .map_err(io)?;
    for day in days {
        for f in &day.fills {
            writeln!(
                out,
                "{},{},{},{},{},{}",
                day.date,
                f.symbol,
                f.side.as_str(),
                f.quantity,
                dec_float(f.price),
                dec_float(f.commission)
            )
            .map_err(io)?;
        }
    }
    out.flush().map_err(io)
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
