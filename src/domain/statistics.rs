//! Performance statistics of a daily account-value series, one module for `backtest` and
//! `report` alike.
//!
//! Conventions: returns are daily and time-weighted (an external cash flow on a day is not a
//! return: `r = V / (V_prev + flow) - 1`); a year is 252 sessions for volatility, Sharpe and
//! Sortino and 365.25 calendar days for CAGR and turnover; the risk-free rate is zero (the
//! ratios compare the strategy with holding cash at 0 %); volatility uses the sample standard
//! deviation. Ratios are f64 (statistics, not money); money (commissions, slippage) stays
//! decimal.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::domain::portfolio::cents;

/// Sessions in a year, for annualising daily figures.
pub const SESSIONS_PER_YEAR: f64 = 252.0;

/// One session of the series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayStat {
    /// The session.
    pub date: NaiveDate,
    /// Account value at the end of the session.
    pub value: Decimal,
    /// Cash paid in (positive) or taken out (negative) before the session's value.
    pub flow: Decimal,
    /// Some position was held at the end of the session.
    pub invested: bool,
    /// The strategy rebalanced this session.
    pub rebalanced: bool,
}

/// One fill's costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillStat {
    /// Shares x fill price.
    pub notional: Decimal,
    /// Commission paid.
    pub commission: Decimal,
    /// What the adverse slippage cost (shares x |fill - reference| when adverse).
    pub slippage: Decimal,
}

/// The deepest fall from a peak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drawdown {
    /// The fall, as a negative fraction (-0.25 = 25 % below the peak).
    pub depth: f64,
    /// The day of the peak.
    pub peak: NaiveDate,
    /// The day of the bottom.
    pub trough: NaiveDate,
    /// The first day back at the peak's value, if it came.
    pub recovered: Option<NaiveDate>,
    /// Calendar days from the peak to the recovery (or to the last day).
    pub days: i64,
}

/// The figures a trader reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Statistics {
    /// First session.
    pub first: NaiveDate,
    /// Last session.
    pub last: NaiveDate,
    /// Sessions in the series.
    pub sessions: usize,
    /// Value before the first session.
    pub initial: Decimal,
    /// Value after the last.
    pub final_value: Decimal,
    /// Net external flows (deposits less withdrawals).
    pub net_flows: Decimal,
    /// Time-weighted return over the whole series (0.5 = +50 %).
    pub total_return: f64,
    /// Compound annual growth rate of the time-weighted return.
    pub cagr: f64,
    /// Annualised volatility of the daily returns.
    pub volatility: f64,
    /// Annualised mean daily return over volatility (risk-free 0).
    pub sharpe: f64,
    /// Annualised mean daily return over the downside deviation (target 0).
    pub sortino: f64,
    /// The deepest drawdown.
    pub max_drawdown: Drawdown,
    /// The longest stretch below a previous peak, in calendar days.
    pub longest_underwater_days: i64,
    /// Share of sessions that ended with a position.
    pub exposure: f64,
    /// Traded notional per year over the average account value.
    pub turnover_per_year: f64,
    /// Commissions paid.
    pub commissions: Decimal,
    /// Adverse slippage paid.
    pub slippage: Decimal,
    /// Sessions that rebalanced.
    pub rebalances: usize,
    /// Number of fills.
    pub fills: usize,
    /// The best session and its return.
    pub best_day: (NaiveDate, f64),
    /// The worst session and its return.
    pub worst_day: (NaiveDate, f64),
}

/// `1 day`, `12 days`.
fn days(n: i64) -> String {
    match n {
        1 => "1 day".into(),
        n => format!("{n} days"),
    }
}

fn f(d: Decimal) -> f64 {
    crate::domain::bars::decimal_to_f64(d)
}

/// The statistics of `days` (oldest first) starting from `initial` on the day before the
/// first; `None` for an empty series.
pub fn statistics(initial: Decimal, days: &[DayStat], fills: &[FillStat]) -> Option<Statistics> {
    let (first, last) = (days.first()?, days.last()?);
    let returns = daily_returns(initial, days);
    let n = returns.len() as f64;
    let mean = returns.iter().map(|(_, r)| r).sum::<f64>() / n;
    let variance =
        returns.iter().map(|(_, r)| (r - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let volatility = variance.sqrt() * SESSIONS_PER_YEAR.sqrt();
    let downside = (returns.iter().map(|(_, r)| r.min(0.0).powi(2)).sum::<f64>() / n).sqrt()
        * SESSIONS_PER_YEAR.sqrt();
    let annual_mean = mean * SESSIONS_PER_YEAR;
    let ratio = |risk: f64| if risk > 0.0 { annual_mean / risk } else { 0.0 };
    let total_return = returns.iter().fold(1.0, |g, (_, r)| g * (1.0 + r)) - 1.0;
    let years = (last.date - first.date).num_days() as f64 / 365.25;
    let cagr = if years > 0.0 {
        (1.0 + total_return).powf(1.0 / years) - 1.0
    } else {
        0.0
    };
    let by_return = |a: &&(NaiveDate, f64), b: &&(NaiveDate, f64)| a.1.total_cmp(&b.1);
    let best_day = returns
        .iter()
        .max_by(by_return)
        .copied()
        .unwrap_or((first.date, 0.0));
    let worst_day = returns
        .iter()
        .min_by(by_return)
        .copied()
        .unwrap_or((first.date, 0.0));
    let values: Vec<f64> = days.iter().map(|d| f(d.value)).collect();
    let average_value = values.iter().sum::<f64>() / values.len() as f64;
    let traded: Decimal = fills.iter().map(|x| x.notional).sum();
    let turnover_per_year = if years > 0.0 && average_value > 0.0 {
        f(traded) / average_value / years
    } else {
        0.0
    };
    let (max_drawdown, longest_underwater_days) = drawdowns(&returns, days);
    Some(Statistics {
        first: first.date,
        last: last.date,
        sessions: days.len(),
        initial,
        final_value: last.value,
        net_flows: days.iter().map(|d| d.flow).sum(),
        total_return,
        cagr,
        volatility,
        sharpe: ratio(volatility),
        sortino: ratio(downside),
        max_drawdown,
        longest_underwater_days,
        exposure: days.iter().filter(|d| d.invested).count() as f64 / days.len() as f64,
        turnover_per_year,
        commissions: fills.iter().map(|x| x.commission).sum(),
        slippage: fills.iter().map(|x| x.slippage).sum(),
        rebalances: days.iter().filter(|d| d.rebalanced).count(),
        fills: fills.len(),
        best_day,
        worst_day,
    })
}

/// Each session's time-weighted return: `(value - flow) / previous - 1`, the flow (a deposit
/// or withdrawal) having sat in cash until this valuation.
pub fn daily_returns(initial: Decimal, days: &[DayStat]) -> Vec<(NaiveDate, f64)> {
    let mut previous = f(initial);
    days.iter()
        .map(|d| {
            // The flow arrived before this valuation and sat in cash: it comes out of it.
            let base = previous;
            let value = f(d.value);
            previous = value;
            let r = if base > 0.0 {
                (value - f(d.flow)) / base - 1.0
            } else {
                0.0
            };
            (d.date, r)
        })
        .collect()
}

/// The growth of one unit through the daily returns: the value series with the flows taken
/// out, on which drawdowns are measured.
fn wealth(returns: &[(NaiveDate, f64)]) -> Vec<(NaiveDate, f64)> {
    let mut w = 1.0;
    returns
        .iter()
        .map(|&(date, r)| {
            w *= 1.0 + r;
            (date, w)
        })
        .collect()
}

/// The deepest drawdown and the longest time under water, in calendar days.
fn drawdowns(returns: &[(NaiveDate, f64)], days: &[DayStat]) -> (Drawdown, i64) {
    let series = wealth(returns);
    let start = days[0].date;
    let (mut peak, mut peak_day) = (1.0, start);
    let mut deepest = Drawdown {
        depth: 0.0,
        peak: start,
        trough: start,
        recovered: None,
        days: 0,
    };
    let mut longest = 0;
    let mut under_since: Option<NaiveDate> = None;
    for &(date, w) in &series {
        if w >= peak {
            if let Some(since) = under_since.take() {
                longest = longest.max((date - since).num_days());
                if deepest.peak == since && deepest.recovered.is_none() && deepest.depth < 0.0 {
                    deepest.recovered = Some(date);
                    deepest.days = (date - since).num_days();
                }
            }
            peak = w;
            peak_day = date;
            continue;
        }
        under_since.get_or_insert(peak_day);
        let depth = w / peak - 1.0;
        if depth < deepest.depth {
            deepest = Drawdown {
                depth,
                peak: peak_day,
                trough: date,
                recovered: None,
                days: 0,
            };
        }
    }
    let end = series.last().map_or(start, |(d, _)| *d);
    if let Some(since) = under_since {
        longest = longest.max((end - since).num_days());
    }
    if deepest.recovered.is_none() {
        deepest.days = (end - deepest.peak).num_days();
    }
    (deepest, longest)
}

/// Returns by calendar month: (year, month, return), oldest first.
pub fn monthly_returns(initial: Decimal, days: &[DayStat]) -> Vec<(i32, u32, f64)> {
    use chrono::Datelike;
    let mut out: Vec<(i32, u32, f64)> = Vec::new();
    for (date, r) in daily_returns(initial, days) {
        let key = (date.year(), date.month());
        match out.last_mut() {
            Some((y, m, g)) if (*y, *m) == key => *g = (1.0 + *g) * (1.0 + r) - 1.0,
            _ => out.push((key.0, key.1, r)),
        }
    }
    out
}

/// A buy-and-hold benchmark: whole shares of one symbol bought at the first close with the
/// given costs, the rest kept as cash; its value at each close.
pub fn buy_and_hold(
    capital: Decimal,
    closes: &[(NaiveDate, Decimal)],
    costs: &crate::domain::portfolio::Costs,
) -> Vec<(NaiveDate, Decimal)> {
    let Some(&(_, first)) = closes.first() else {
        return Vec::new();
    };
    let unit =
        costs.fill_price(crate::domain::portfolio::Side::Buy, first) + costs.commission_per_share;
    let shares = if unit > Decimal::ZERO {
        (capital / unit).floor()
    } else {
        Decimal::ZERO
    };
    let cash = capital - shares * unit;
    closes
        .iter()
        .map(|&(date, close)| (date, shares * close + cash))
        .collect()
}

/// A period shorter than this (in calendar days) has no meaningful yearly rate: three
/// sessions compounded to a year read as a number with 40 digits.
pub const MIN_DAYS_TO_ANNUALISE: i64 = 91;

impl Statistics {
    /// Whether the period is long enough for yearly rates (CAGR, turnover a year).
    pub fn long_enough_to_annualise(&self) -> bool {
        (self.last - self.first).num_days() >= MIN_DAYS_TO_ANNUALISE
    }

    /// The statistics as (label, value) lines, for the terminal and the HTML page.
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        let pct = |x: f64| format!("{:.2} %", x * 100.0);
        let spread = |text: String| match self.sessions {
            0 | 1 => "n/a with one session".to_string(),
            _ => text,
        };
        let dd = &self.max_drawdown;
        vec![
            (
                "period",
                format!(
                    "{} .. {} ({})",
                    self.first,
                    self.last,
                    crate::domain::text::sessions(self.sessions)
                ),
            ),
            ("initial value", cents(self.initial)),
            ("final value", cents(self.final_value)),
            ("total return", pct(self.total_return)),
            (
                "CAGR",
                match self.long_enough_to_annualise() {
                    true => pct(self.cagr),
                    false => "n/a under 3 months".into(),
                },
            ),
            // One daily return has no spread: its ratios would be noise (a Sortino of -15).
            ("volatility", spread(pct(self.volatility))),
            ("Sharpe", spread(format!("{:.2}", self.sharpe))),
            ("Sortino", spread(format!("{:.2}", self.sortino))),
            (
                "max drawdown",
                format!(
                    "{} ({} .. {}, {})",
                    pct(dd.depth),
                    dd.peak,
                    dd.trough,
                    match dd.recovered {
                        Some(day) => format!("recovered {day}, {}", days(dd.days)),
                        None => format!("not recovered, {} so far", days(dd.days)),
                    }
                ),
            ),
            ("longest under water", days(self.longest_underwater_days)),
            ("exposure", pct(self.exposure)),
            (
                "turnover",
                match self.long_enough_to_annualise() {
                    true => format!("{:.2} x a year", self.turnover_per_year),
                    false => "n/a under 3 months".into(),
                },
            ),
            ("rebalances", self.rebalances.to_string()),
            ("fills", self.fills.to_string()),
            ("commissions", cents(self.commissions)),
            ("slippage paid", cents(self.slippage)),
            (
                "best day",
                format!("{} {}", self.best_day.0, pct(self.best_day.1)),
            ),
            (
                "worst day",
                format!("{} {}", self.worst_day.0, pct(self.worst_day.1)),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(date: &str, value: i64) -> DayStat {
        DayStat {
            date: date.parse().unwrap(),
            value: Decimal::from(value),
            flow: Decimal::ZERO,
            invested: value != 100,
            rebalanced: false,
        }
    }

    #[test]
    fn a_small_series_by_hand() {
        // 100 -> 110 -> 99 -> 121 -> 110: returns +10 %, -10 %, +22.22 %, -9.09 %.
        let days = [
            day("2024-01-02", 110),
            day("2024-01-03", 99),
            day("2024-01-04", 121),
            day("2024-01-05", 110),
        ];
        let s = statistics(Decimal::from(100), &days, &[]).unwrap();
        assert!((s.total_return - 0.10).abs() < 1e-12);
        let r = [0.1, -0.1, 22.0 / 99.0, -1.0 / 11.0];
        let mean = r.iter().sum::<f64>() / 4.0;
        let var = r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 3.0;
        assert!((s.volatility - var.sqrt() * 252f64.sqrt()).abs() < 1e-12);
        assert!((s.sharpe - mean * 252.0 / (var.sqrt() * 252f64.sqrt())).abs() < 1e-12);
        let down = ((0.01 + (1.0f64 / 11.0).powi(2)) / 4.0).sqrt() * 252f64.sqrt();
        assert!((s.sortino - mean * 252.0 / down).abs() < 1e-12);
        // Peak 110 on the 2nd, bottom 99 on the 3rd (-10 %), back above on the 4th.
        let dd = s.max_drawdown;
        assert!((dd.depth + 0.1).abs() < 1e-12);
        assert_eq!(dd.peak.to_string(), "2024-01-02");
        assert_eq!(dd.trough.to_string(), "2024-01-03");
        assert_eq!(
            dd.recovered.map(|d| d.to_string()).as_deref(),
            Some("2024-01-04")
        );
        assert_eq!(dd.days, 2);
        // Under water from the 4th's peak to the end: 1 day; before that 2 days.
        assert_eq!(s.longest_underwater_days, 2);
        assert_eq!(s.best_day.0.to_string(), "2024-01-04");
        assert_eq!(s.worst_day.0.to_string(), "2024-01-03");
        assert!((s.exposure - 1.0).abs() < 1e-12);
    }

    #[test]
    fn three_sessions_have_no_yearly_rate() {
        let days = [
            day("2024-01-02", 110),
            day("2024-01-03", 99),
            day("2024-01-04", 121),
        ];
        let s = statistics(Decimal::from(100), &days, &[]).unwrap();
        let lines = s.lines();
        let value = |label: &str| lines.iter().find(|(l, _)| *l == label).unwrap().1.clone();
        assert_eq!(value("CAGR"), "n/a under 3 months");
        assert_eq!(value("turnover"), "n/a under 3 months");
        let long = [day("2024-01-02", 110), day("2024-06-03", 121)];
        let s = statistics(Decimal::from(100), &long, &[]).unwrap();
        assert!(s
            .lines()
            .iter()
            .any(|(l, v)| *l == "CAGR" && v.ends_with(" %")));
    }

    #[test]
    fn one_session_has_no_spread_and_says_session() {
        let s = statistics(Decimal::from(100), &[day("2024-01-02", 99)], &[]).unwrap();
        let lines = s.lines();
        let value = |label: &str| lines.iter().find(|(l, _)| *l == label).unwrap().1.clone();
        for label in ["volatility", "Sharpe", "Sortino"] {
            assert_eq!(value(label), "n/a with one session", "{label}");
        }
        assert!(
            value("period").ends_with("(1 session)"),
            "{}",
            value("period")
        );
        let two = statistics(
            Decimal::from(100),
            &[day("2024-01-02", 99), day("2024-01-03", 101)],
            &[],
        )
        .unwrap();
        let lines = two.lines();
        let sharpe = lines.iter().find(|(l, _)| *l == "Sharpe").unwrap();
        assert_ne!(sharpe.1, "n/a with one session");
    }

    #[test]
    fn a_deposit_is_not_a_gain() {
        let mut days = [day("2024-01-02", 110), day("2024-01-03", 1110)];
        days[1].flow = Decimal::from(1000);
        let s = statistics(Decimal::from(100), &days, &[]).unwrap();
        // Day 2: (1110 - 1000) / 110 = no change.
        assert!((s.total_return - 0.10).abs() < 1e-12);
        assert_eq!(s.net_flows, Decimal::from(1000));
    }

    #[test]
    fn months_compound_their_days() {
        let days = [
            day("2024-01-30", 110),
            day("2024-01-31", 121),
            day("2024-02-01", 133),
        ];
        let m = monthly_returns(Decimal::from(100), &days);
        assert_eq!(m.len(), 2);
        assert!((m[0].2 - 0.21).abs() < 1e-12);
        assert_eq!((m[1].0, m[1].1), (2024, 2));
    }

    #[test]
    fn buy_and_hold_buys_whole_shares_with_costs() {
        let costs = crate::domain::portfolio::Costs {
            commission_per_share: Decimal::new(1, 2),
            slippage: Decimal::new(1, 3),
        };
        let closes = [
            ("2024-01-02".parse().unwrap(), Decimal::from(400)),
            ("2024-01-03".parse().unwrap(), Decimal::from(410)),
        ];
        let v = buy_and_hold(Decimal::from(10_000), &closes, &costs);
        // unit = 400.4 + 0.01 = 400.41: 24 shares, 390.16 cash.
        assert_eq!(v[0].1, Decimal::new(96_000, 1) + Decimal::new(39016, 2));
        assert_eq!(v[1].1, Decimal::from(24 * 410) + Decimal::new(39016, 2));
    }
}
