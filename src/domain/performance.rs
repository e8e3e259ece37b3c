//! Performance of the runs: a per-session table built from the run ledgers, compared with
//! the backtest over the same sessions, as text or CSV (the page is [`crate::domain::page`]).

use std::fmt::Write as _;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::domain::journal::Ledger;
use crate::domain::portfolio::{cents, rounded};

/// One session of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    /// Session.
    pub date: NaiveDate,
    /// Account value after the run.
    pub equity: Decimal,
    /// Return since the previous row (the first row: since before its run).
    pub return_pct: Decimal,
    /// Fall from the highest value so far.
    pub drawdown_pct: Decimal,
    /// Traded value over the value before the run.
    pub turnover_pct: Decimal,
    /// Mean adverse slippage of the session's fills.
    pub slippage_pct: Option<Decimal>,
    /// The backtest's value after the same session, when computed.
    pub backtest_equity: Option<Decimal>,
    /// Cumulative live return minus cumulative backtest return, in points.
    pub tracking_pct: Option<Decimal>,
}

fn pct(x: Decimal) -> Decimal {
    (x * Decimal::ONE_HUNDRED).round_dp(4)
}

/// The external cash flows (deposits less withdrawals) a run's ledger records: they are
/// not returns. Dividends and cash in lieu are, and stay in.
pub fn external_flow(ledger: &Ledger) -> Decimal {
    ledger
        .flows
        .iter()
        .filter(|f| f.kind.is_external())
        .map(|f| f.amount)
        .sum()
}

/// What moved cash without a trade over the ledgers: (dividends and interest, cash in lieu,
/// deposits, withdrawals).
pub fn flow_totals(ledgers: &[Ledger]) -> [Decimal; 4] {
    use crate::domain::events::FlowKind;
    let mut out = [Decimal::ZERO; 4];
    for f in ledgers.iter().flat_map(|l| &l.flows) {
        let slot = match f.kind {
            FlowKind::Dividend | FlowKind::Other => 0,
            FlowKind::CashInLieu => 1,
            FlowKind::Deposit => 2,
            FlowKind::Withdrawal => 3,
        };
        out[slot] += f.amount;
    }
    out
}

/// Rows from the completed ledgers (ascending by session), with the backtest's values after
/// the same sessions when given. Returns are time-weighted: a deposit or withdrawal recorded
/// in a run's ledger arrived after the previous valuation and sat in cash until this one,
/// so the day's return is `(after - flow) / previous - 1` (exact, since idle cash earns
/// nothing); the drawdown and the tracking use the chained returns, and the backtest's
/// value is shown as if it had received the same flows in cash on the same days.
pub fn rows(ledgers: &[Ledger], backtest: &[(NaiveDate, Decimal)]) -> Vec<SessionRow> {
    let mut out: Vec<SessionRow> = Vec::new();
    let start = ledgers.first().and_then(|l| l.equity_before);
    let bt_start = backtest.first().map(|_| start.unwrap_or_default());
    // Growth of one unit, and its highest point (1 before the first session, so that the
    // first day's loss is a drawdown too).
    let (mut growth, mut peak) = (Decimal::ONE, Decimal::ONE);
    let mut scaled: Option<(Decimal, Decimal)> = None; // (backtest value, scaled value)
    for l in ledgers {
        let (Some(before), Some(after)) = (l.equity_before, l.equity_after) else {
            continue;
        };
        let flow = match out.is_empty() {
            true => Decimal::ZERO,
            false => external_flow(l),
        };
        // A flow arrived before this valuation and sat in cash (idle cash earns nothing):
        // it is taken out of the value it is in, exactly.
        let previous = out.last().map_or(before, |r| r.equity);
        let day = if previous.is_zero() {
            Decimal::ZERO
        } else {
            (after - flow) / previous - Decimal::ONE
        };
        growth *= Decimal::ONE + day;
        peak = peak.max(growth);
        let traded: Decimal = l
            .orders
            .iter()
            .filter_map(|o| o.average_price.map(|p| p * o.filled))
            .sum();
        let slips: Vec<Decimal> = l.orders.iter().filter_map(|o| o.slippage_pct).collect();
        let raw = backtest
            .iter()
            .find(|(d, _)| *d == l.session)
            .map(|(_, v)| *v);
        let backtest_equity = raw.map(|bt| {
            let value = match scaled {
                Some((prev_bt, prev)) if !prev_bt.is_zero() => prev * bt / prev_bt + flow,
                _ => bt,
            };
            scaled = Some((bt, value));
            value
        });
        let tracking = match (raw, bt_start) {
            (Some(bt), Some(bs)) if !bs.is_zero() => Some(pct(growth - bt / bs)),
            _ => None,
        };
        out.push(SessionRow {
            date: l.session,
            equity: after,
            return_pct: pct(day),
            drawdown_pct: pct(growth / peak - Decimal::ONE),
            turnover_pct: if before.is_zero() {
                Decimal::ZERO
            } else {
                pct(traded / before)
            },
            slippage_pct: (!slips.is_empty()).then(|| {
                (slips.iter().copied().sum::<Decimal>() / Decimal::from(slips.len())).round_dp(4)
            }),
            backtest_equity: backtest_equity.map(|v| v.round_dp(2)),
            tracking_pct: tracking,
        });
    }
    out
}

fn opt(d: Option<Decimal>) -> String {
    d.map_or(String::new(), |d| d.normalize().to_string())
}

/// The table as CSV.
pub fn csv(rows: &[SessionRow]) -> String {
    let mut s = String::from(
        "date,equity,return_pct,drawdown_pct,turnover_pct,slippage_pct,backtest_equity,tracking_pct\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{}",
            r.date,
            cents(r.equity),
            r.return_pct.normalize(),
            r.drawdown_pct.normalize(),
            r.turnover_pct.normalize(),
            opt(r.slippage_pct),
            r.backtest_equity.map_or(String::new(), cents),
            opt(r.tracking_pct)
        );
    }
    s
}

/// The table for a terminal, with a summary line.
pub fn table(rows: &[SessionRow]) -> String {
    let mut s = String::from(
        "date          equity   return  drawdown  turnover  slippage    backtest  tracking\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{}  {:>10}  {:>6.2}%  {:>7.2}%  {:>7.2}%  {:>8}  {:>10}  {:>8}",
            r.date,
            cents(r.equity),
            rounded(r.return_pct, 2),
            rounded(r.drawdown_pct, 2),
            rounded(r.turnover_pct, 2),
            r.slippage_pct
                .map_or("-".into(), |v| format!("{:.3}%", rounded(v, 3))),
            r.backtest_equity.map_or("-".into(), cents),
            r.tracking_pct
                .map_or("-".into(), |v| format!("{:+.2}", rounded(v, 2))),
        );
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        let worst = rows
            .iter()
            .map(|r| r.drawdown_pct)
            .min()
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{} {} .. {}: value {}, max drawdown {:.2}%, tracking vs backtest {}",
            crate::domain::text::sessions(rows.len()),
            first.date,
            last.date,
            cents(last.equity),
            rounded(worst, 2),
            last.tracking_pct
                .map_or("-".into(), |v| format!("{:+.2} points", rounded(v, 2)))
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::events::{CashFlow, FlowKind};
    use crate::domain::Mode;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn ledger(day: &str, before: &str, after: &str, flows: &[(&str, FlowKind)]) -> Ledger {
        let session: NaiveDate = day.parse().unwrap();
        let mut l = Ledger::new(session, Mode::Paper, chrono::DateTime::UNIX_EPOCH);
        l.equity_before = Some(d(before));
        l.equity_after = Some(d(after));
        l.flows = flows
            .iter()
            .map(|(amount, kind)| CashFlow {
                date: session,
                kind: *kind,
                amount: d(amount),
                symbol: None,
                description: String::new(),
                time: None,
                id: None,
            })
            .collect();
        l
    }

    #[test]
    fn a_flow_that_sat_in_cash_is_taken_out_at_the_valuation_it_arrived_before() {
        // 10 000 invested gains 1 % while a deposit of 1 000 sits in cash: the day is +1 %,
        // exactly, not 11 100 / 11 000 - 1 = 0.909 %.
        let rows = rows(
            &[
                ledger("2025-12-10", "10000", "10000", &[]),
                ledger(
                    "2025-12-11",
                    "11000",
                    "11100",
                    &[("1000", FlowKind::Deposit)],
                ),
                ledger(
                    "2025-12-12",
                    "10100",
                    "9595",
                    &[("-1000", FlowKind::Withdrawal)],
                ),
            ],
            &[],
        );
        assert_eq!(rows[1].return_pct, d("1"));
        // 1 000 of the 11 100 was idle cash that left; the 10 100 invested fell 5 % to
        // 9 595: the day is (9 595 + 1 000) / 11 100 - 1.
        assert_eq!(rows[2].return_pct, d("-4.5495"));
        // A dividend is a return: it stays in.
        let with_dividend = rows_of_dividend();
        assert_eq!(with_dividend[1].return_pct, d("1"));
    }

    fn rows_of_dividend() -> Vec<SessionRow> {
        rows(
            &[
                ledger("2025-12-10", "10000", "10000", &[]),
                ledger(
                    "2025-12-11",
                    "10100",
                    "10100",
                    &[("100", FlowKind::Dividend)],
                ),
            ],
            &[],
        )
    }

    #[test]
    fn the_table_rounds_half_away_from_zero_like_the_statistics() {
        // +5.5578 % is printed 5.56 %, never cut to 5.55 %.
        let rows = rows(
            &[
                ledger("2025-12-10", "10000", "10000", &[]),
                ledger("2025-12-11", "10000", "10555.78", &[]),
            ],
            &[],
        );
        assert_eq!(rows[1].return_pct, d("5.5578"));
        let text = table(&rows);
        assert!(text.contains("  5.56%"), "{text}");
        assert!(!text.contains("5.55%"), "{text}");
    }

    #[test]
    fn the_backtest_column_receives_the_same_flow_in_cash() {
        let rows = rows(
            &[
                ledger("2025-12-10", "10000", "10000", &[]),
                ledger(
                    "2025-12-11",
                    "11000",
                    "11100",
                    &[("1000", FlowKind::Deposit)],
                ),
            ],
            &[
                ("2025-12-10".parse().unwrap(), d("10000")),
                ("2025-12-11".parse().unwrap(), d("10100")),
            ],
        );
        // Up 1 %, plus the deposit in cash.
        assert_eq!(rows[1].backtest_equity, Some(d("11100")));
        assert_eq!(rows[1].tracking_pct, Some(d("0")));
    }
}
