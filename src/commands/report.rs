//! `jutsu report`: equity, drawdown, turnover, slippage and tracking against the backtest.

use std::path::PathBuf;

use chrono::NaiveDate;

use crate::config::{Loaded, Mode};
use crate::domain::backtest;
use crate::domain::bars::History;
use crate::domain::journal::{Ledger, RunStatus};
use crate::domain::performance;
use crate::domain::DomainError;
use crate::error::{exit, Error, Result};
use crate::storage::state::StatePaths;

/// The ledgers of the completed runs between `from` and `to`, by session.
fn completed_runs(
    paths: &StatePaths,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<Vec<Ledger>> {
    let mut ledgers = Vec::new();
    for path in paths.ledger_files() {
        if let Some(l) = Ledger::load(&path)? {
            let inside = from.is_none_or(|f| l.session >= f) && to.is_none_or(|t| l.session <= t);
            if inside && l.status == RunStatus::Done && l.equity_after.is_some() {
                ledgers.push(l);
            }
        }
    }
    ledgers.sort_by_key(|l| l.session);
    Ok(ledgers)
}

/// Prints the performance table of the completed runs, beside the backtest over the same
/// sessions; writes it as CSV and as an HTML page when asked.
pub(super) fn run(
    loaded: &Loaded,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    csv: Option<&PathBuf>,
    html: Option<&PathBuf>,
) -> Result<u8> {
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
    let backtest_values =
        match History::load_dir(&loaded.data_dir(), &c.strategy.parameters.all_symbols()) {
            Ok(history) => backtest::run(&history, &settings)?
                .days
                .iter()
                .map(|d| (d.date, d.portfolio_value))
                .collect(),
            // A bad row is the user's file to fix (exit 2, as everywhere); only bars that
            // are not there at all (Schwab-only data) leave the comparison out.
            Err(e @ Error::Domain(DomainError::Data { line, .. })) if line > 0 => return Err(e),
            Err(e) => {
                println!("no backtest comparison: {e}");
                Vec::new()
            }
        };
    let rows = performance::rows(&ledgers, &backtest_values);
    print!("{}", performance::table(&rows));
    if let Some(path) = csv {
        std::fs::write(path, performance::csv(&rows)).map_err(|e| Error::io("writing", path, e))?;
        println!("table written to {}", path.display());
    }
    if let Some(path) = html {
        let title = format!(
            "jutsu {} {} .. {}",
            c.mode.as_str(),
            first.session,
            last.session
        );
        std::fs::write(path, performance::html(&rows, &title))
            .map_err(|e| Error::io("writing", path, e))?;
        println!("report written to {}", path.display());
    }
    Ok(exit::OK)
}
