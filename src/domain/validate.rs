//! Post-market validation of a session's 15:55 decision against the official close
//! (product.md section 6): logic match, price drift, fill slippage against the close, a
//! GREEN / YELLOW / RED verdict, and rolling 20-session figures from `logs/validation.csv`.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::journal::Ledger;
use crate::domain::portfolio::Side;
use crate::domain::strategy::{Decision, Weights};

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// 100 % logic match and every drift under 0.5 %.
    Green,
    /// At least 95 % match and every drift under 2 %.
    Yellow,
    /// Anything worse.
    Red,
    /// No run was recorded for the session.
    NoRun,
}

impl Verdict {
    /// The word in reports and the CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Green => "GREEN",
            Verdict::Yellow => "YELLOW",
            Verdict::Red => "RED",
            Verdict::NoRun => "NO_RUN",
        }
    }
}

/// `100 - 50 x sum |w_1555 - w_close|` over the five legs and cash.
pub fn logic_match_pct(at_run: &Weights, at_close: &Weights) -> Decimal {
    let diff: Decimal = at_run
        .legs
        .iter()
        .zip(at_close.legs.iter())
        .map(|(a, b)| (*a - *b).abs())
        .sum::<Decimal>()
        + (at_run.cash - at_close.cash).abs();
    Decimal::ONE_HUNDRED - Decimal::new(50, 0) * diff
}

/// GREEN: 100 % and drift < 0.5 %; YELLOW: >= 95 % and drift < 2 %; RED otherwise.
pub fn verdict(logic_match: Decimal, max_abs_drift: Decimal) -> Verdict {
    if logic_match == Decimal::ONE_HUNDRED && max_abs_drift < Decimal::new(5, 1) {
        Verdict::Green
    } else if logic_match >= Decimal::new(95, 0) && max_abs_drift < Decimal::new(2, 0) {
        Verdict::Yellow
    } else {
        Verdict::Red
    }
}

/// One validated session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// Session.
    pub date: NaiveDate,
    /// The verdict.
    pub verdict: Verdict,
    /// Logic match in percent.
    pub logic_match_pct: Decimal,
    /// Price drift per symbol: (quote - close) / close in percent.
    pub drifts: Vec<(String, Decimal)>,
    /// The largest |drift|.
    pub max_drift_pct: Decimal,
    /// Per fill: adverse slippage against the close in percent (negative: better than close).
    pub fill_slippage: Vec<(String, Decimal)>,
    /// Their mean.
    pub avg_fill_slippage_pct: Option<Decimal>,
    /// Cell at the run and at the close.
    pub cells: (u8, u8),
    /// Rebalance flag at the run and at the close.
    pub rebalance: (bool, bool),
}

fn pct(part: Decimal, whole: Decimal) -> Decimal {
    if whole.is_zero() {
        Decimal::ZERO
    } else {
        (part / whole * Decimal::ONE_HUNDRED).round_dp(4)
    }
}

/// Compares a ledger's decision with the decision on the official closes.
pub fn compare(
    ledger: &Ledger,
    at_run: &Decision,
    at_close: &Decision,
    closes: &BTreeMap<String, Decimal>,
) -> Validation {
    let logic = logic_match_pct(&at_run.weights, &at_close.weights);
    // The closes are split-adjusted; the quotes and fills are as traded.
    let traded: BTreeMap<&String, Decimal> = closes
        .iter()
        .map(|(s, c)| (s, *c * ledger.basis_of(s)))
        .collect();
    let closes = &traded;
    let drifts: Vec<(String, Decimal)> = ledger
        .quotes
        .iter()
        .filter_map(|(s, q)| closes.get(s).map(|c| (s.clone(), pct(*q - *c, *c))))
        .collect();
    let max_drift = drifts
        .iter()
        .map(|(_, d)| d.abs())
        .max()
        .unwrap_or(Decimal::ZERO);
    let fill_slippage: Vec<(String, Decimal)> = ledger
        .orders
        .iter()
        .filter_map(|o| {
            let fill = o.average_price?;
            let close = closes.get(&o.symbol)?;
            let adverse = match o.side {
                Side::Buy => fill - *close,
                Side::Sell => *close - fill,
            };
            Some((o.symbol.clone(), pct(adverse, *close)))
        })
        .collect();
    let avg = (!fill_slippage.is_empty()).then(|| {
        (fill_slippage.iter().map(|(_, s)| *s).sum::<Decimal>()
            / Decimal::from(fill_slippage.len()))
        .round_dp(4)
    });
    Validation {
        date: ledger.session,
        verdict: verdict(logic, max_drift),
        logic_match_pct: logic,
        drifts,
        max_drift_pct: max_drift,
        fill_slippage,
        avg_fill_slippage_pct: avg,
        cells: (at_run.cell, at_close.cell),
        rebalance: (at_run.rebalance, at_close.rebalance),
    }
}

/// One row of validation.csv.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Row {
    /// Session.
    pub date: NaiveDate,
    /// Mode.
    pub mode: String,
    /// Verdict.
    pub verdict: String,
    /// Logic match.
    pub logic_match_pct: Option<Decimal>,
    /// Largest |drift|.
    pub max_drift_pct: Option<Decimal>,
    /// `SYM:pct;...`.
    pub drift: String,
    /// Mean fill slippage against the close.
    pub avg_fill_slippage_pct: Option<Decimal>,
    /// Cells.
    pub cell_run: Option<u8>,
    /// Cells.
    pub cell_close: Option<u8>,
    /// Flags.
    pub rebalance_run: Option<u8>,
    /// Flags.
    pub rebalance_close: Option<u8>,
}

/// Rolling figures over the last sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct Rolling {
    /// Sessions counted.
    pub sessions: usize,
    /// Mean logic match of validated sessions.
    pub avg_logic_match: Option<Decimal>,
    /// Mean of the per-session largest drift.
    pub avg_drift: Option<Decimal>,
    /// Largest drift.
    pub worst_drift: Option<Decimal>,
    /// Mean fill slippage against the close.
    pub avg_slippage: Option<Decimal>,
    /// Sessions without a run.
    pub no_run: usize,
}

/// Figures over the last `n` validated sessions of `mode` up to `up_to` (one row a session:
/// the newest if a session was validated twice).
pub fn rolling(rows: &[Row], mode: &str, up_to: NaiveDate, n: usize) -> Rolling {
    let mut latest: BTreeMap<NaiveDate, &Row> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.mode == mode && r.date <= up_to) {
        latest.insert(r.date, r);
    }
    let recent: Vec<&Row> = latest.values().rev().take(n).copied().collect();
    let mean = |values: Vec<Decimal>| {
        (!values.is_empty()).then(|| {
            (values.iter().copied().sum::<Decimal>() / Decimal::from(values.len())).round_dp(4)
        })
    };
    Rolling {
        sessions: recent.len(),
        avg_logic_match: mean(recent.iter().filter_map(|r| r.logic_match_pct).collect()),
        avg_drift: mean(recent.iter().filter_map(|r| r.max_drift_pct).collect()),
        worst_drift: recent.iter().filter_map(|r| r.max_drift_pct).max(),
        avg_slippage: mean(
            recent
                .iter()
                .filter_map(|r| r.avg_fill_slippage_pct)
                .collect(),
        ),
        no_run: recent.iter().filter(|r| r.verdict == "NO_RUN").count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(legs: [&str; 5], cash: &str) -> Weights {
        Weights {
            legs: legs.map(|x| x.parse().unwrap()),
            cash: cash.parse().unwrap(),
        }
    }

    #[test]
    fn logic_match_and_verdicts() {
        let a = w(["0.2", "0.8", "0", "0", "0"], "0");
        let b = w(["0.6", "0.4", "0", "0", "0"], "0");
        assert_eq!(logic_match_pct(&a, &a), Decimal::ONE_HUNDRED);
        assert_eq!(logic_match_pct(&a, &b), Decimal::new(60, 0));
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(verdict(d("100"), d("0.49")), Verdict::Green);
        assert_eq!(verdict(d("100"), d("0.5")), Verdict::Yellow);
        assert_eq!(verdict(d("95"), d("1.99")), Verdict::Yellow);
        assert_eq!(verdict(d("94.9"), d("0")), Verdict::Red);
        assert_eq!(verdict(d("100"), d("2")), Verdict::Red);
    }
}
