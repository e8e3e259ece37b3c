//! `jutsu report`: equity, drawdown, turnover, slippage and tracking against the backtest.

use std::path::PathBuf;

use chrono::NaiveDate;

use crate::config::{Loaded, Mode};
use crate::domain::backtest;
use crate::domain::bars::History;
use crate::domain::journal::Ledger;
use crate::domain::portfolio::cents;
use crate::domain::statistics::{self, DayStat, FillStat, Statistics};
use crate::domain::{page, performance, DomainError};
use crate::storage::fsutil;
use crate::storage::state::StatePaths;
use crate::support::error::{exit, Error, Result};

/// The ledgers of the completed runs between `from` and `to`, by session, each session's
/// emergency exit folded in ([`crate::storage::ledger::sessions`]).
fn completed_runs(
    paths: &StatePaths,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<Ledger>> {
    let inside =
        |l: &Ledger| from.is_none_or(|f| l.session >= f) && to.is_none_or(|t| l.session <= t);
    crate::storage::ledger::sessions(paths, Ledger::read_only, |l| inside(l) && l.completed())
}

/// What `report` was asked for.
pub(super) struct Asked<'a> {
    /// First session.
    pub from: Option<NaiveDate>,
    /// Last session.
    pub to: Option<NaiveDate>,
    /// Where to write the table as CSV.
    pub csv: Option<&'a PathBuf>,
    /// Where to write the page.
    pub html: Option<&'a PathBuf>,
    /// One JSON object on stdout instead of the text.
    pub json: bool,
}

/// Prints the performance table and the statistics of the completed runs, beside the
/// backtest over the same sessions and buy-and-hold of the signal symbol; writes the table
/// as CSV and the page as HTML when asked.
pub(super) fn run(loaded: &Loaded, asked: Asked<'_>) -> Result<u8> {
    let Asked {
        from,
        to,
        csv,
        html,
        json,
    } = asked;
    let c = &loaded.config;
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(Error::Usage(format!(
                "--from {from} is after --to {to}: nothing can be in between"
            )));
        }
    }
    let paths = StatePaths::new(loaded, c.mode);
    let ledgers = completed_runs(&paths, from, to)?;
    let (Some(first), Some(last)) = (ledgers.first(), ledgers.last()) else {
        if json {
            super::print_json(&serde_json::json!({"mode": c.mode.as_str(), "sessions": []}))?;
            return Ok(exit::OK);
        }
        println!(
            "no completed {} runs to report in {}",
            c.mode.as_str(),
            paths.runs_dir().display()
        );
        return Ok(exit::OK);
    };
    // The backtest over the same sessions from the same starting value, on local bars.
    let mut settings = c.backtest_settings(first.session);
    settings.trading_start = first.session;
    settings.end = Some(last.session);
    settings.initial_cash = first.equity_before.unwrap_or(settings.initial_cash);
    if c.mode == Mode::Paper {
        settings.costs = c.sim.costs();
    }
    let replay = replay(loaded, &settings)?;
    let backtest_values = values_of(replay.as_ref());
    let rows = performance::rows(&ledgers, &backtest_values);
    let commission = match c.mode {
        Mode::Paper => c.sim.commission_per_share,
        _ => rust_decimal::Decimal::ZERO,
    };
    let (columns, lines) = compare(c.mode, &ledgers, &settings, replay.as_ref(), commission);
    let say = |text: String| {
        if !json {
            println!("{text}");
        }
    };
    if json {
        super::print_json(&as_json(c.mode, &rows, &ledgers, &columns))?;
    } else {
        print!("{}", performance::table(&rows));
        print_flows(&ledgers);
        super::backtest::print_statistics(&columns);
    }
    if let Some(path) = csv {
        fsutil::write_atomic(path, performance::csv(&rows).as_bytes(), false)?;
        say(format!("table written to {}", path.display()));
    }
    if let Some(path) = html {
        let mut page = page::Page {
            title: format!(
                "jutsu {} {} .. {}",
                c.mode.as_str(),
                first.session,
                last.session
            ),
            lines,
            statistics: columns,
            ..page::Page::default()
        };
        fill_page(&mut page, loaded, &ledgers, &settings, commission)?;
        fsutil::write_atomic(path, page::render(&page).as_bytes(), false)?;
        say(format!("report written to {}", path.display()));
    }
    Ok(exit::OK)
}

/// The backtest's value after each session, when there is one.
fn values_of(
    replay: Option<&(backtest::Outcome, History)>,
) -> Vec<(NaiveDate, rust_decimal::Decimal)> {
    replay
        .map(|(outcome, _)| {
            outcome
                .days
                .iter()
                .map(|d| (d.date, d.portfolio_value))
                .collect()
        })
        .unwrap_or_default()
}

/// `report --json`: the per-session rows, the cash flows and the statistics columns.
fn as_json(
    mode: Mode,
    rows: &[performance::SessionRow],
    ledgers: &[Ledger],
    columns: &[(String, Statistics)],
) -> serde_json::Value {
    let [dividends, in_lieu, deposits, withdrawals] = performance::flow_totals(ledgers);
    let sessions: Vec<_> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "date": r.date,
                "equity": cents(r.equity),
                "return_pct": r.return_pct,
                "drawdown_pct": r.drawdown_pct,
                "turnover_pct": r.turnover_pct,
                "slippage_pct": r.slippage_pct,
                "backtest_equity": r.backtest_equity.map(cents),
                "tracking_pct": r.tracking_pct,
            })
        })
        .collect();
    serde_json::json!({
        "mode": mode.as_str(),
        "sessions": sessions,
        "flows": {
            "dividends": cents(dividends),
            "cash_in_lieu": cents(in_lieu),
            "deposits": cents(deposits),
            "withdrawals": cents(withdrawals.abs()),
        },
        "statistics": super::backtest::statistics_json(columns),
    })
}

/// The cash that moved without a trade, on its own lines: dividends are part of the
/// account's return (the backtest has none, which is most of the tracking difference);
/// deposits and withdrawals are taken out of the returns.
fn print_flows(ledgers: &[Ledger]) {
    let [dividends, in_lieu, deposits, withdrawals] = performance::flow_totals(ledgers);
    if [dividends, in_lieu, deposits, withdrawals]
        .iter()
        .all(|d| d.is_zero())
    {
        return;
    }
    println!(
        "dividends and interest {} and cash in lieu {} are in the account's return (the backtest \
         receives none); deposits {} and withdrawals {} are not returns",
        cents(dividends),
        cents(in_lieu),
        cents(deposits),
        // Withdrawals are negative flows; the sentence names their size.
        cents(withdrawals.abs())
    );
    if !(deposits.is_zero() && withdrawals.is_zero()) {
        println!(
            "the table's backtest column receives the deposits and withdrawals on the same days; \
             the backtest's statistics below are of the strategy alone, from the initial value, \
             without them"
        );
    }
}

/// The statistics columns and the chart lines: the account, the backtest over its sessions
/// and buy-and-hold of the signal symbol.
fn compare(
    mode: Mode,
    ledgers: &[Ledger],
    settings: &backtest::Settings,
    replay: Option<&(backtest::Outcome, History)>,
    commission: rust_decimal::Decimal,
) -> (Vec<(String, Statistics)>, Vec<page::Line>) {
    let name = format!("{} account", mode.as_str());
    let account: Vec<_> = ledgers
        .iter()
        .filter_map(|l| Some((l.session, l.equity_after?)))
        .collect();
    let mut columns: Vec<(String, Statistics)> = Vec::new();
    columns.extend(
        account_statistics(ledgers, settings.initial_cash, commission).map(|s| (name.clone(), s)),
    );
    let mut lines = vec![page::line_of(&name, &account)];
    let Some((outcome, history)) = replay else {
        return (columns, lines);
    };
    if let Some(stats) = backtest::statistics(&outcome.days, settings.initial_cash, &settings.costs)
    {
        let values: Vec<_> = outcome
            .days
            .iter()
            .map(|d| (d.date, d.portfolio_value))
            .collect();
        columns.push(("backtest".into(), stats));
        lines.push(page::line_of("backtest", &values));
    }
    if let Some((values, stats)) = super::backtest::benchmark_of(history, settings, &outcome.days) {
        let name = format!("{} buy and hold", settings.params.signal_symbol);
        lines.push(page::line_of(&name, &values));
        columns.push((name, stats));
    }
    (columns, lines)
}

/// The backtest over the report's sessions, on local bars; `None` (said) when there are none.
fn replay(
    loaded: &Loaded,
    settings: &backtest::Settings,
) -> Result<Option<(backtest::Outcome, History)>> {
    match History::load_dir(&loaded.data_dir(), &settings.params.all_symbols()) {
        Ok(history) => Ok(Some((backtest::run(&history, settings)?, history))),
        // A bad row is the user's file to fix (exit 2, as everywhere); only bars that are
        // not there at all (Schwab-only data) leave the comparison out.
        Err(e @ Error::Domain(DomainError::Data { line, .. })) if line > 0 => Err(e),
        Err(e) => {
            // On stderr: stdout stays the table (or the JSON of --json).
            eprintln!("no backtest comparison: {e}");
            Ok(None)
        }
    }
}

/// The account's sessions from its ledgers: the value after each completed run, invested
/// when the decision held anything, rebalanced when an order filled.
fn day_stats(ledgers: &[Ledger]) -> Vec<DayStat> {
    ledgers
        .iter()
        .filter_map(|l| {
            Some(DayStat {
                date: l.session,
                value: l.equity_after?,
                flow: performance::external_flow(l),
                invested: l
                    .decision
                    .is_some_and(|d| d.weights.cash < rust_decimal::Decimal::ONE),
                rebalanced: l.orders.iter().any(|o| !o.filled.is_zero()),
            })
        })
        .collect()
}

/// The statistics of the account from its ledgers: the value after each run, and the fills
/// with their commission (the simulator's; Schwab charges none on these ETFs) and slippage.
fn account_statistics(
    ledgers: &[Ledger],
    initial: rust_decimal::Decimal,
    commission_per_share: rust_decimal::Decimal,
) -> Option<Statistics> {
    let days = day_stats(ledgers);
    let fills: Vec<FillStat> = ledgers
        .iter()
        .flat_map(|l| &l.orders)
        .filter(|o| !o.filled.is_zero())
        .map(|o| {
            let price = o.average_price.unwrap_or(o.reference_price);
            FillStat {
                notional: o.filled * price,
                commission: o.filled * commission_per_share,
                slippage: (o.filled * (price - o.reference_price)).abs()
                    * if o
                        .slippage_pct
                        .is_some_and(|s| s > rust_decimal::Decimal::ZERO)
                    {
                        rust_decimal::Decimal::ONE
                    } else {
                        rust_decimal::Decimal::ZERO
                    },
            }
        })
        .collect();
    statistics::statistics(initial, &days, &fills)
}

/// The page's regime shading, weights, monthly returns, trades and verdicts.
fn fill_page(
    page: &mut page::Page,
    loaded: &Loaded,
    ledgers: &[Ledger],
    settings: &backtest::Settings,
    commission_per_share: rust_decimal::Decimal,
) -> Result<()> {
    page::fill_decisions(
        page,
        ledgers.iter().map(|l| (l.session, l.decision.as_ref())),
        settings,
    );
    let days = day_stats(ledgers);
    page.monthly = statistics::monthly_returns(settings.initial_cash, &days);
    page.trades = ledgers
        .iter()
        .flat_map(|l| l.orders.iter().map(move |o| (l.session, o)))
        .filter(|(_, o)| !o.filled.is_zero())
        .map(|(date, o)| page::TradeLine {
            date,
            side: o.side.as_str().to_string(),
            symbol: o.symbol.clone(),
            shares: crate::domain::portfolio::whole_shares(o.filled).unwrap_or_default(),
            reference: cents(o.reference_price),
            fill: o.average_price.map_or(String::new(), cents),
            slippage_pct: o.slippage_pct.map_or(String::new(), |s| format!("{s:.3}")),
            commission: cents(o.filled * commission_per_share),
        })
        .collect();
    let mode = loaded.config.mode.as_str();
    let rows = crate::storage::validation::read_rows(&loaded.logs_dir().join("validation.csv"))?;
    let (first, last) = (
        page.lines[0].points.first().map(|p| p.0),
        page.lines[0].points.last().map(|p| p.0),
    );
    page.verdicts = rows
        .iter()
        .filter(|r| {
            r.mode == mode
                && first.is_some_and(|f| r.date >= f)
                && last.is_some_and(|l| r.date <= l)
        })
        .map(|r| page::VerdictLine {
            date: r.date.to_string(),
            verdict: r.verdict.clone(),
            logic_match: r
                .logic_match_pct
                .map_or(String::new(), |v| v.normalize().to_string()),
            max_drift: r
                .max_drift_pct
                .map_or(String::new(), |v| v.normalize().to_string()),
        })
        .collect();
    Ok(())
}
