//! The weekly review and the monthly attribution of `jutsu review`: the account against the
//! backtest over the same days. Pure arithmetic over what the shell read from the ledgers,
//! the validation rows and the bars.

use std::fmt::Write as _;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::domain::portfolio::{cents, rounded, Side};

/// One valuation of the week: the account after a session's run and the backtest after the
/// same session. The first point is the baseline (the session before the period).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The session.
    pub date: NaiveDate,
    /// The account's value after the run.
    pub account: Decimal,
    /// Deposits less withdrawals recorded by this run (not returns).
    pub flow: Decimal,
    /// The backtest's value after the session.
    pub backtest: Option<Decimal>,
}

/// The orders and checks of one session of the period.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Activity {
    /// Shares ordered.
    pub ordered: Decimal,
    /// Shares filled.
    pub filled: Decimal,
    /// Adverse slippage of each fill, percent.
    pub slippages: Vec<Decimal>,
    /// The validation's logic match.
    pub logic_match_pct: Option<Decimal>,
    /// Warnings and errors of the session's run and validation.
    pub issues: Vec<String>,
}

/// The week's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Week {
    /// The period's name (`2025-W50`).
    pub label: String,
    /// Sessions of the period with a completed run.
    pub sessions: usize,
    /// The account's time-weighted return, percent.
    pub account_return_pct: Decimal,
    /// The backtest's return over the same days, percent.
    pub backtest_return_pct: Option<Decimal>,
    /// The sample standard deviation of the daily return differences, percent.
    pub tracking_error_pct: Option<Decimal>,
    /// Mean adverse slippage of the fills.
    pub mean_slippage_pct: Option<Decimal>,
    /// Worst adverse slippage.
    pub worst_slippage_pct: Option<Decimal>,
    /// Filled over ordered shares.
    pub fill_rate_pct: Option<Decimal>,
    /// Mean logic match of the validated sessions.
    pub logic_match_pct: Option<Decimal>,
    /// Every warning and error, with its date.
    pub issues: Vec<String>,
    /// Why it needs attention (empty: go).
    pub reasons: Vec<String>,
}

/// What the review's go / needs-attention line holds the week to.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// |account - backtest| return, points.
    pub max_gap_pct: Decimal,
    /// Mean slippage.
    pub max_mean_slippage_pct: Decimal,
    /// Fill rate.
    pub min_fill_rate_pct: Decimal,
    /// Logic match.
    pub min_logic_match_pct: Decimal,
}

fn mean(v: &[Decimal]) -> Option<Decimal> {
    (!v.is_empty()).then(|| v.iter().sum::<Decimal>() / Decimal::from(v.len()))
}

/// The daily returns of consecutive points, (account, backtest), as fractions.
pub fn daily_returns(points: &[Point]) -> Vec<(Decimal, Option<Decimal>)> {
    points
        .windows(2)
        .map(|w| {
            let a = match w[0].account.is_zero() {
                true => Decimal::ZERO,
                false => (w[1].account - w[1].flow) / w[0].account - Decimal::ONE,
            };
            let b = match (w[0].backtest, w[1].backtest) {
                (Some(p), Some(n)) if !p.is_zero() => Some(n / p - Decimal::ONE),
                _ => None,
            };
            (a, b)
        })
        .collect()
}

fn chained(returns: impl Iterator<Item = Decimal>) -> Decimal {
    returns.fold(Decimal::ONE, |g, r| g * (Decimal::ONE + r)) - Decimal::ONE
}

fn sample_std(x: &[Decimal]) -> Option<Decimal> {
    if x.len() < 2 {
        return None;
    }
    let m = mean(x)?;
    let ss: Decimal = x.iter().map(|v| (v - m) * (v - m)).sum();
    let var = ss / Decimal::from(x.len() - 1);
    use rust_decimal::MathematicalOps;
    var.sqrt()
}

/// The week's figures from its points (baseline first) and its sessions' activity.
pub fn week(label: &str, points: &[Point], days: &[(NaiveDate, Activity)], bar: &Bar) -> Week {
    let returns = daily_returns(points);
    let hundred = Decimal::ONE_HUNDRED;
    let account = chained(returns.iter().map(|r| r.0)) * hundred;
    let complete = !returns.is_empty() && returns.iter().all(|r| r.1.is_some());
    let backtest = complete.then(|| chained(returns.iter().filter_map(|r| r.1)) * hundred);
    let diffs: Vec<Decimal> = returns
        .iter()
        .filter_map(|(a, b)| Some((a - (*b)?) * hundred))
        .collect();
    let slips: Vec<Decimal> = days.iter().flat_map(|d| d.1.slippages.clone()).collect();
    let ordered: Decimal = days.iter().map(|d| d.1.ordered).sum();
    let filled: Decimal = days.iter().map(|d| d.1.filled).sum();
    let logic: Vec<Decimal> = days.iter().filter_map(|d| d.1.logic_match_pct).collect();
    let mut w = Week {
        label: label.to_string(),
        sessions: returns.len(),
        account_return_pct: account.round_dp(4),
        backtest_return_pct: backtest.map(|b| b.round_dp(4)),
        tracking_error_pct: sample_std(&diffs).map(|t| t.round_dp(4)),
        mean_slippage_pct: mean(&slips).map(|s| s.round_dp(4)),
        worst_slippage_pct: slips.iter().copied().max(),
        fill_rate_pct: (!ordered.is_zero()).then(|| (filled / ordered * hundred).round_dp(4)),
        logic_match_pct: mean(&logic).map(|l| l.round_dp(4)),
        issues: days
            .iter()
            .flat_map(|(d, a)| a.issues.iter().map(move |i| format!("{d} {i}")))
            .collect(),
        reasons: Vec::new(),
    };
    w.reasons = reasons(&w, bar);
    w
}

fn reasons(w: &Week, bar: &Bar) -> Vec<String> {
    let mut out = Vec::new();
    if w.sessions == 0 {
        out.push("no completed run in the week".to_string());
    }
    if let Some(b) = w.backtest_return_pct {
        let gap = w.account_return_pct - b;
        if gap.abs() > bar.max_gap_pct {
            out.push(format!(
                "the account's return is {:+.2} points from the backtest's (more than {})",
                rounded(gap, 2),
                bar.max_gap_pct.normalize()
            ));
        }
    }
    if let Some(s) = w
        .mean_slippage_pct
        .filter(|s| *s >= bar.max_mean_slippage_pct)
    {
        out.push(format!(
            "mean slippage {:.3}% (at least {}%)",
            rounded(s, 3),
            bar.max_mean_slippage_pct.normalize()
        ));
    }
    if let Some(f) = w.fill_rate_pct.filter(|f| *f < bar.min_fill_rate_pct) {
        out.push(format!(
            "fill rate {:.2}% (under {}%)",
            rounded(f, 2),
            bar.min_fill_rate_pct.normalize()
        ));
    }
    if let Some(l) = w.logic_match_pct.filter(|l| *l < bar.min_logic_match_pct) {
        out.push(format!(
            "logic match {:.2}% (under {}%)",
            rounded(l, 2),
            bar.min_logic_match_pct.normalize()
        ));
    }
    if !w.issues.is_empty() {
        out.push(format!("{} warning(s) or error(s)", w.issues.len()));
    }
    out
}

fn opt_pct(x: Option<Decimal>, dp: u32) -> String {
    x.map_or("-".into(), |v| format!("{}%", rounded(v, dp)))
}

/// The week as text.
pub fn week_text(w: &Week) -> String {
    let mut s = format!("week {}: {} sessions\n", w.label, w.sessions);
    let _ = writeln!(
        s,
        "return        account {:.2}%  backtest {}",
        rounded(w.account_return_pct, 2),
        opt_pct(w.backtest_return_pct, 2)
    );
    let _ = writeln!(
        s,
        "tracking error {} (stdev of daily return differences)",
        opt_pct(w.tracking_error_pct, 3)
    );
    let _ = writeln!(
        s,
        "slippage      mean {}  worst {}",
        opt_pct(w.mean_slippage_pct, 3),
        opt_pct(w.worst_slippage_pct, 3)
    );
    let _ = writeln!(s, "fill rate     {}", opt_pct(w.fill_rate_pct, 2));
    let _ = writeln!(s, "logic match   {}", opt_pct(w.logic_match_pct, 2));
    if w.issues.is_empty() {
        s.push_str("warnings and errors: none\n");
    } else {
        s.push_str("warnings and errors:\n");
        for i in &w.issues {
            let _ = writeln!(s, "  {i}");
        }
    }
    match w.reasons.is_empty() {
        true => s.push_str("GO: nothing needs attention\n"),
        false => {
            let _ = writeln!(s, "NEEDS ATTENTION: {}", w.reasons.join("; "));
        }
    }
    s
}

/// One fill, as the attribution reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct FillPart {
    /// Buy or sell.
    pub side: Side,
    /// Shares filled.
    pub shares: Decimal,
    /// The average fill price.
    pub fill: Decimal,
    /// The 15:55 quote it was sized on (the journal's reference price).
    pub quote: Decimal,
    /// The session's close the backtest uses, in the quote's terms.
    pub close: Decimal,
}

/// One session of the month for the attribution.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributionDay {
    /// The session.
    pub date: NaiveDate,
    /// The account after the previous session.
    pub account_before: Decimal,
    /// The account after this session's run.
    pub account_after: Decimal,
    /// The backtest's return of the session (a fraction; fills at the close, no costs).
    pub backtest_return: Decimal,
    /// The account's fills.
    pub fills: Vec<FillPart>,
    /// Commissions and fees paid.
    pub commissions: Decimal,
    /// Dividends, interest and cash in lieu received.
    pub dividends: Decimal,
    /// Deposits less withdrawals.
    pub flows: Decimal,
    /// The run's decision differed from the backtest's on the close.
    pub decision_differed: bool,
}

/// The gap between the account and the backtest over a month, and its parts (each in
/// dollars: positive helped the account against the backtest).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Attribution {
    /// The account's change in value.
    pub account_change: Decimal,
    /// The backtest's change, from the account's starting value.
    pub backtest_change: Decimal,
    /// account - backtest.
    pub total: Decimal,
    /// Fills against the 15:55 quote.
    pub slippage: Decimal,
    /// The 15:55 quote against the close the backtest trades at.
    pub timing: Decimal,
    /// What is left on the days the decision differed.
    pub logic: Decimal,
    /// What is left on the days it matched: whole shares and the cash they leave.
    pub rounding: Decimal,
    /// Commissions and fees.
    pub commissions: Decimal,
    /// Dividends and interest (the backtest receives none).
    pub dividends: Decimal,
    /// Deposits and withdrawals.
    pub flows: Decimal,
}

impl Attribution {
    /// The parts, named, in the order they are shown.
    pub fn parts(&self) -> [(&'static str, Decimal); 7] {
        [
            ("slippage (fill vs the 15:55 quote)", self.slippage),
            ("timing (15:55 quote vs the close)", self.timing),
            ("logic (days the decision differed)", self.logic),
            ("whole-share rounding (cash drag)", self.rounding),
            ("commissions and fees", self.commissions),
            ("dividends and interest", self.dividends),
            ("flows (deposits, withdrawals)", self.flows),
        ]
    }
}

fn signed(side: Side) -> Decimal {
    match side {
        Side::Buy => Decimal::ONE,
        Side::Sell => Decimal::NEGATIVE_ONE,
    }
}

/// The month's attribution. The backtest starts from the account's value before the first
/// session and compounds its own returns, receiving no flow. Each session's gap (the
/// account's change less the backtest's) is split: slippage and timing of each fill,
/// commissions, dividends and flows as recorded; what is left is the logic part on a day
/// the decision differed and the rounding part on a day it matched. The parts add up to
/// the total exactly.
pub fn attribute(days: &[AttributionDay]) -> Attribution {
    let mut a = Attribution::default();
    let Some(first) = days.first() else {
        return a;
    };
    let mut backtest = first.account_before;
    for d in days {
        let bt_change = backtest * d.backtest_return;
        // The backtest receives the day's deposits and withdrawals in cash, as `report`'s
        // backtest column does: what they earn afterwards is then in both, not in the gap.
        backtest += bt_change + d.flows;
        let gap = (d.account_after - d.account_before) - bt_change;
        let slippage: Decimal = d
            .fills
            .iter()
            .map(|f| -signed(f.side) * f.shares * (f.fill - f.quote))
            .sum();
        let timing: Decimal = d
            .fills
            .iter()
            .map(|f| -signed(f.side) * f.shares * (f.quote - f.close))
            .sum();
        let known = slippage + timing - d.commissions + d.dividends + d.flows;
        let rest = gap - known;
        a.slippage += slippage;
        a.timing += timing;
        a.commissions -= d.commissions;
        a.dividends += d.dividends;
        a.flows += d.flows;
        match d.decision_differed {
            true => a.logic += rest,
            false => a.rounding += rest,
        }
        a.account_change += d.account_after - d.account_before;
        a.backtest_change += bt_change;
    }
    a.total = a.account_change - a.backtest_change;
    a
}

/// The attribution in cents: the total rounded, and the parts rounded so that they add up
/// to it exactly (the cents lost or gained by rounding go to the parts that rounding moved
/// the most, one cent each).
pub fn in_cents(a: &Attribution) -> Attribution {
    let cent = Decimal::new(1, 2);
    let r = |x: Decimal| rounded(x, 2);
    let exact = [
        a.slippage,
        a.timing,
        a.logic,
        a.rounding,
        a.commissions,
        a.dividends,
        a.flows,
    ];
    let mut parts = exact.map(r);
    let total = r(a.total);
    let mut diff = total - parts.iter().sum::<Decimal>();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    while !diff.is_zero() {
        let step = if diff > Decimal::ZERO { cent } else { -cent };
        // The part whose rounding moved it furthest against the step.
        order.sort_by_key(|i| -(exact[*i] - parts[*i]) * step / cent);
        let Some(i) = order.first().copied() else {
            break;
        };
        parts[i] += step;
        diff -= step;
    }
    Attribution {
        account_change: r(a.account_change),
        backtest_change: total_backtest(r(a.account_change), total),
        total,
        slippage: parts[0],
        timing: parts[1],
        logic: parts[2],
        rounding: parts[3],
        commissions: parts[4],
        dividends: parts[5],
        flows: parts[6],
    }
}

fn total_backtest(account: Decimal, total: Decimal) -> Decimal {
    account - total
}

/// The attribution as text, each part in cents (rounded by [`in_cents`], so that they add
/// up to the total), and their sum against the total.
pub fn attribution_text(label: &str, a: &Attribution) -> String {
    let a = &in_cents(a);
    let mut s = format!(
        "month {label}: account {} against the backtest {}: gap {}\n",
        cents(a.account_change),
        cents(a.backtest_change),
        cents(a.total)
    );
    for (name, value) in a.parts() {
        let _ = writeln!(s, "  {name:<38} {:>12}", cents(value));
    }
    let sum: Decimal = a.parts().iter().map(|p| p.1).sum();
    let _ = writeln!(s, "  {:<38} {:>12}", "sum of the parts", cents(sum));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn day(n: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 11, n).unwrap()
    }

    /// A month of three sessions where every part is known by construction.
    #[test]
    fn each_part_of_a_built_month_is_found_and_they_add_up_to_the_gap() {
        // Day 1: both flat; the account buys 100 shares quoted at 50.00, filled at 50.02,
        // closing at 49.90; commission 1.00. The account is down slippage 2.00, timing
        // 10.00 (it paid the quote, the backtest the close), commission 1.00; then 100
        // shares × (49.90 - 50.02) = -12 on the fill, which is the slippage and timing
        // again: the account's value after is 10000 - 2 - 10 - 1 = 9987.
        // Day 2: backtest +1 %, the account gets +1 % on its 9987 (99.87) plus a dividend
        // of 5.00 and a deposit of 1000; the rest (99.87 - 100 = -0.13) is rounding.
        // Day 3: the decision differed: backtest +2 % on its 10100 and the deposit it
        // received too (11100), account flat: the rest is logic.
        let days = vec![
            AttributionDay {
                date: day(3),
                account_before: d("10000"),
                account_after: d("9987"),
                backtest_return: Decimal::ZERO,
                fills: vec![FillPart {
                    side: Side::Buy,
                    shares: d("100"),
                    fill: d("50.02"),
                    quote: d("50.00"),
                    close: d("49.90"),
                }],
                commissions: d("1"),
                dividends: Decimal::ZERO,
                flows: Decimal::ZERO,
                decision_differed: false,
            },
            AttributionDay {
                date: day(4),
                account_before: d("9987"),
                account_after: d("11091.87"),
                backtest_return: d("0.01"),
                fills: Vec::new(),
                commissions: Decimal::ZERO,
                dividends: d("5"),
                flows: d("1000"),
                decision_differed: false,
            },
            AttributionDay {
                date: day(5),
                account_before: d("11091.87"),
                account_after: d("11091.87"),
                backtest_return: d("0.02"),
                fills: Vec::new(),
                commissions: Decimal::ZERO,
                dividends: Decimal::ZERO,
                flows: Decimal::ZERO,
                decision_differed: true,
            },
        ];
        let a = attribute(&days);
        assert_eq!(a.slippage, d("-2"));
        assert_eq!(a.timing, d("-10"));
        assert_eq!(a.commissions, d("-1"));
        assert_eq!(a.dividends, d("5"));
        assert_eq!(a.flows, d("1000"));
        assert_eq!(a.rounding, d("-0.13"));
        // The backtest: 10000, 10100 (+1000 deposited), then +2 % of 11100 = 222.
        assert_eq!(a.backtest_change, d("322"));
        assert_eq!(a.logic, d("-222"));
        let sum: Decimal = a.parts().iter().map(|p| p.1).sum();
        assert_eq!(sum, a.total);
        assert_eq!(a.total, d("1091.87") - d("322"));
        // Thirds of a cent each: rounded one by one they would miss the total by a cent.
        let thirds = Attribution {
            total: d("0.02"),
            slippage: d("0.006666"),
            timing: d("0.006667"),
            logic: d("0.006667"),
            ..Attribution::default()
        };
        let c = in_cents(&thirds);
        let sum: Decimal = c.parts().iter().map(|p| p.1).sum();
        assert_eq!(sum, d("0.02"));
    }

    #[test]
    fn the_week_chains_returns_without_flows_and_measures_tracking() {
        let p = |n: u32, account: &str, flow: &str, bt: &str| Point {
            date: day(n),
            account: d(account),
            flow: d(flow),
            backtest: Some(d(bt)),
        };
        let points = vec![
            p(7, "1000", "0", "1000"),
            p(10, "1110", "100", "1010"),
            p(11, "1110", "0", "1010"),
        ];
        let bar = Bar {
            max_gap_pct: d("5"),
            max_mean_slippage_pct: d("0.3"),
            min_fill_rate_pct: d("99"),
            min_logic_match_pct: d("98"),
        };
        let w = week("2025-W46", &points, &[], &bar);
        // +1 % then 0: the deposit is not a return.
        assert_eq!(w.account_return_pct, d("1"));
        assert_eq!(w.backtest_return_pct, Some(d("1")));
        assert_eq!(w.tracking_error_pct, Some(d("0")));
        assert!(w.reasons.is_empty(), "{:?}", w.reasons);
    }
}
