//! The few lines a person reads first in a run's alert: the outcome, what was traded and at
//! what slippage, the allocation after the run against the targets, the account's value and
//! the day's P&L, the login's hours, and what to do.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::journal::{Ledger, LedgerOrder, OrderState};
use super::portfolio::{cents, Shares};

/// How a trade run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done (traded, or nothing needed).
    Ok,
    /// Nothing to do: not a session, or the session already done.
    NoOp,
    /// Stopped before anything was sent.
    Failed,
    /// Stopped after orders were sent: a human must look.
    Incomplete,
    /// The halt flag is set.
    Halted,
}

impl Outcome {
    /// The word alerts, metrics and the checklist use.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "OK",
            Outcome::NoOp => "NO-OP",
            Outcome::Failed => "FAILED",
            Outcome::Incomplete => "INCOMPLETE",
            Outcome::Halted => "HALTED",
        }
    }

    /// The run went through (with or without trading).
    pub fn went_through(self) -> bool {
        matches!(self, Outcome::Ok | Outcome::NoOp)
    }
}

/// What a trade run's summary is made of.
#[derive(Debug, Clone, Copy)]
pub struct RunFacts<'a> {
    /// How it ended.
    pub outcome: Outcome,
    /// The exit code.
    pub code: u8,
    /// The stage that failed.
    pub failed_stage: Option<&'a str>,
    /// The run's journal, when the run opened one.
    pub ledger: Option<&'a Ledger>,
    /// The positions recorded after the run.
    pub positions: &'a BTreeMap<String, Shares>,
    /// The last executed target weights (fractions of the account).
    pub targets: &'a BTreeMap<String, Decimal>,
    /// The account value after the previous recorded run.
    pub previous_equity: Option<Decimal>,
    /// Hours left on the Schwab login (live runs and Schwab data).
    pub token_hours: Option<i64>,
    /// The run printed warnings.
    pub warned: bool,
}

/// The order's words: `BUY 37 TQQQ filled at 52.87 (slippage 0.100%)`.
fn order_line(o: &LedgerOrder) -> String {
    let what = format!("{} {} {}", o.side.as_str(), o.quantity, o.symbol);
    let price = o
        .average_price
        .map_or(String::new(), |p| format!(" at {}", cents(p)));
    let slip = o.slippage_pct.map_or(String::new(), |s| {
        format!(" (slippage {:.3}%)", s.round_dp(3))
    });
    match &o.state() {
        OrderState::Filled => format!("{what} filled{price}{slip}"),
        OrderState::PartiallyFilled => format!("{what}: {} filled{price}{slip}", o.filled),
        state => format!("{what}: {state:?}, {} filled", o.filled),
    }
}

/// The headline of a trade run: `OK: 2 orders filled`, `NO-OP`, `FAILED at preflight`.
pub fn headline(f: &RunFacts) -> String {
    if let Some(stage) = f.failed_stage {
        return format!("{} at {stage}", f.outcome.as_str());
    }
    let orders = f.ledger.map_or(&[][..], |l| &l.orders[..]);
    let filled = orders.iter().filter(|o| o.filled > Decimal::ZERO).count();
    let mut text = match (orders.len(), f.outcome) {
        (0, Outcome::Ok) => "OK: nothing to trade".to_string(),
        (0, outcome) => outcome.as_str().to_string(),
        (n, outcome) => format!("{}: {n} order(s), {filled} filled", outcome.as_str()),
    };
    if f.warned {
        text.push_str(", with warnings");
    }
    text
}

/// The allocation after the run, each symbol held or targeted: held % against target %.
fn allocation(f: &RunFacts, ledger: &Ledger, equity: Decimal) -> Vec<String> {
    let price = |s: &str| ledger.quotes.iter().find(|(q, _)| q == s).map(|(_, p)| *p);
    let mut symbols: Vec<&String> = f.positions.keys().chain(f.targets.keys()).collect();
    symbols.sort();
    symbols.dedup();
    let pct = |v: Decimal| (v / equity * Decimal::ONE_HUNDRED).round_dp(1);
    let mut invested = Decimal::ZERO;
    let mut out = vec!["Allocation after the run (held / target):".to_string()];
    for symbol in symbols {
        let shares = f.positions.get(symbol).copied().unwrap_or(0);
        let target =
            (f.targets.get(symbol).copied().unwrap_or_default() * Decimal::ONE_HUNDRED).round_dp(1);
        let Some(p) = price(symbol) else {
            out.push(format!(
                "  {symbol:<5} {shares} shares (no quote) / {target:.1}%"
            ));
            continue;
        };
        let value = p * Decimal::from(shares);
        invested += value;
        out.push(format!(
            "  {symbol:<5} {:>5.1}% / {target:>5.1}%  ({shares} shares, {})",
            pct(value),
            cents(value)
        ));
    }
    let cash_target = (Decimal::ONE_HUNDRED
        - f.targets.values().copied().sum::<Decimal>() * Decimal::ONE_HUNDRED)
        .round_dp(1);
    out.push(format!(
        "  cash  {:>5.1}% / {cash_target:>5.1}%  ({})",
        pct(equity - invested),
        cents(equity - invested)
    ));
    out
}

/// What to do, by outcome.
fn advice(f: &RunFacts) -> &'static str {
    match f.outcome {
        o if o.went_through() && f.warned => {
            "What to do: read the warnings in the checklist below."
        }
        o if o.went_through() => "What to do: nothing.",
        Outcome::Halted => {
            "What to do: look at the account and the reason below; `jutsu resume` clears the halt."
        }
        Outcome::Incomplete => {
            "What to do: check the orders at the broker; the next run settles them before \
             anything else (do not trade by hand meanwhile)."
        }
        _ => "What to do: read the failed stage below, fix it, and run `jutsu trade` again.",
    }
}

/// The summary lines of a trade run.
pub fn trade_summary(f: &RunFacts) -> Vec<String> {
    let mut out = vec![format!("Outcome: {} (exit {})", headline(f), f.code)];
    if let Some(ledger) = f.ledger {
        if ledger.orders.is_empty() {
            out.push("Traded: nothing".into());
        } else {
            out.push("Traded:".into());
            out.extend(ledger.orders.iter().map(|o| format!("  {}", order_line(o))));
        }
        let equity = ledger.equity_after.or(ledger.equity_before);
        if let Some(equity) = equity.filter(|e| *e > Decimal::ZERO) {
            out.extend(allocation(f, ledger, equity));
            out.push(match f.previous_equity {
                Some(previous) => format!(
                    "Equity {}, day P&L {} against the previous run",
                    cents(equity),
                    cents(equity - previous)
                ),
                None => format!("Equity {} (no earlier run to compare)", cents(equity)),
            });
        }
    }
    if let Some(hours) = f.token_hours {
        out.push(format!("Schwab login: {hours} h left"));
    }
    out.push(advice(f).to_string());
    out
}

/// The run's checklist for an alert, without what the summary already states: the fill of
/// each order (the summary's `Traded` lines) and the holdings after the run (its allocation),
/// so that each fact is read once. Warnings stay, a slippage warning with its fill too.
pub fn alert_checklist(transcript: &str) -> String {
    let mut out = Vec::new();
    let mut in_holdings = false;
    for line in transcript.lines() {
        let indented = line.starts_with("  ");
        if line == "holdings after the run:" {
            in_holdings = true;
            continue;
        }
        if in_holdings && indented {
            continue;
        }
        in_holdings = false;
        if indented && is_fill_line(line.trim()) {
            continue;
        }
        out.push(line);
    }
    out.join("\n")
}

/// `BUY 105 TQQQ: filled at 56.71 vs 56.65, slippage 0.100%`.
fn is_fill_line(text: &str) -> bool {
    let mut words = text.split(' ');
    let side = words.next().is_some_and(|w| w == "BUY" || w == "SELL");
    let shares = words
        .next()
        .is_some_and(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()));
    let symbol = words.next().is_some_and(|w| w.ends_with(':'));
    side && shares && symbol && text.contains(": filled at ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Mode;
    use chrono::{NaiveDate, TimeZone, Utc};

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn the_alert_checklist_leaves_out_the_fills_and_holdings_the_summary_states() {
        let transcript = "[ok  ] plan           rebalance: 1 order(s)\n       BUY 6 QQQ at ~627.61 (target 40.0%)\n       BUY 6 QQQ: filled at 628.24 vs 627.61, slippage 0.100%\n[warn] slippage       BUY 6 QQQ: filled at 628.24 vs 627.61, slippage 0.100%\nholdings after the run:\n       QQQ          6 shares       3765.66\n       cash                 275.27\nOK: rebalanced.";
        let text = alert_checklist(transcript);
        assert_eq!(text.matches("filled at").count(), 1, "{text}");
        assert!(text.contains("[warn] slippage"), "{text}");
        assert!(
            !text.contains("holdings") && !text.contains("3765.66"),
            "{text}"
        );
        assert!(text.contains("BUY 6 QQQ at ~627.61") && text.ends_with("OK: rebalanced."));
    }

    #[test]
    fn a_rebalance_reads_as_trades_allocation_equity_and_no_action() {
        let day = NaiveDate::from_ymd_opt(2025, 12, 12).unwrap();
        let mut ledger = Ledger::new(day, Mode::Paper, Utc.timestamp_opt(0, 0).unwrap());
        ledger.quotes = vec![("QQQ".into(), dec("600")), ("TQQQ".into(), dec("50"))];
        ledger.equity_after = Some(dec("10000"));
        let positions = BTreeMap::from([("QQQ".to_string(), 12), ("TQQQ".to_string(), 40)]);
        let targets = BTreeMap::from([
            ("QQQ".to_string(), dec("0.8")),
            ("TQQQ".to_string(), dec("0.2")),
        ]);
        let facts = RunFacts {
            outcome: Outcome::Ok,
            code: 0,
            failed_stage: None,
            ledger: Some(&ledger),
            positions: &positions,
            targets: &targets,
            previous_equity: Some(dec("10100")),
            token_hours: Some(130),
            warned: false,
        };
        let lines = trade_summary(&facts);
        assert_eq!(lines[0], "Outcome: OK: nothing to trade (exit 0)");
        assert!(
            lines.contains(&"  QQQ    72.0% /  80.0%  (12 shares, 7200.00)".to_string()),
            "{lines:#?}"
        );
        assert!(
            lines.contains(&"  cash    8.0% /   0.0%  (800.00)".to_string()),
            "{lines:#?}"
        );
        assert!(lines
            .contains(&"Equity 10000.00, day P&L -100.00 against the previous run".to_string()));
        assert!(lines.contains(&"Schwab login: 130 h left".to_string()));
        assert_eq!(lines.last().unwrap(), "What to do: nothing.");
    }

    #[test]
    fn a_failure_names_its_stage_and_says_what_to_do() {
        let facts = RunFacts {
            outcome: Outcome::Failed,
            code: 3,
            failed_stage: Some("preflight"),
            ledger: None,
            positions: &BTreeMap::new(),
            targets: &BTreeMap::new(),
            previous_equity: None,
            token_hours: None,
            warned: false,
        };
        assert_eq!(headline(&facts), "FAILED at preflight");
        assert!(trade_summary(&facts)
            .last()
            .unwrap()
            .contains("run `jutsu trade` again"));
    }
}
