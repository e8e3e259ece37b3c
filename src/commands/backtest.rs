//! `jutsu backtest`: the strategy over local bars, with the reference's output files.

use std::time::Instant;

use crate::commands::cli::BacktestArgs;
use crate::config::Loaded;
use crate::domain::backtest::{self, Settings};
use crate::domain::bars::History;
use crate::domain::statistics::{DayStat, Statistics};
use crate::storage::fsutil;
use crate::support::error::{exit, Error, Result};

pub(super) fn run(args: &BacktestArgs, loaded: &Loaded) -> Result<u8> {
    let started = Instant::now();
    let config = &loaded.config;
    let params = config.strategy.parameters.clone();
    let trading_start = args.from.unwrap_or(config.data.trading_start);
    // The same window as `trade`: the history from data.history_start, so one window gives
    // one value in both (the original's own rule is `--history-start` away).
    let history_start = args.history_start.unwrap_or(config.data.history_start);
    if let Some(to) = args.to {
        if to < trading_start {
            return Err(Error::Usage(format!(
                "--to ({to}) is before --from ({trading_start})"
            )));
        }
    }
    if history_start > trading_start {
        return Err(Error::Usage(format!(
            "--history-start ({history_start}) is after --from ({trading_start})"
        )));
    }
    let data_dir = args.data_dir.clone().unwrap_or_else(|| loaded.data_dir());
    let history = History::load_dir(&data_dir, &params.all_symbols())?;
    let settings = Settings {
        params,
        costs: config.backtest.costs(),
        initial_cash: config.backtest.initial_capital,
        history_start,
        trading_start,
        end: args.to,
    };
    tracing::info!(
        %trading_start,
        %history_start,
        data = %data_dir.display(),
        "backtest started"
    );
    let outcome = backtest::run(&history, &settings)?;
    if let Some(path) = &args.out {
        fsutil::write_atomic(path, backtest::daily_csv(&outcome.days).as_bytes(), false)?;
    }
    if let Some(path) = &args.fills {
        fsutil::write_atomic(path, backtest::fills_csv(&outcome.days).as_bytes(), false)?;
    }
    let Some(stats) = backtest::statistics(&outcome.days, settings.initial_cash, &settings.costs)
    else {
        return Err(Error::Usage(format!(
            "no sessions between {trading_start} and {}",
            args.to.map_or("the last bar".into(), |d| d.to_string())
        )));
    };
    tracing::info!(
        final_value = %stats.final_value.round_dp(2),
        fills = stats.fills,
        "backtest finished"
    );
    println!(
        "backtest {} .. {} ({} sessions, history from {history_start})",
        stats.first, stats.last, stats.sessions
    );
    let benchmark = benchmark_of(&history, &settings, &outcome.days);
    show(
        &outcome.days,
        &stats,
        benchmark.as_ref(),
        &settings,
        args.html.as_deref(),
    )?;
    println!(
        "  elapsed                {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(exit::OK)
}

/// Prints the statistics beside buy and hold's, and writes the page when asked.
fn show(
    days: &[backtest::DayRecord],
    stats: &Statistics,
    benchmark: Option<&(Vec<(chrono::NaiveDate, rust_decimal::Decimal)>, Statistics)>,
    settings: &Settings,
    html: Option<&std::path::Path>,
) -> Result<()> {
    let symbol = &settings.params.signal_symbol;
    let bench = benchmark.map(|(_, b)| (format!("{symbol} buy and hold"), b.clone()));
    let columns: Vec<_> = std::iter::once(("strategy".to_string(), stats.clone()))
        .chain(bench)
        .collect();
    print_statistics(&columns);
    if let Some(path) = html {
        let page = crate::domain::page::backtest_page(days, stats, benchmark, settings);
        fsutil::write_atomic(path, page.as_bytes(), false)?;
        println!("page written to {}", path.display());
    }
    Ok(())
}

/// Buy-and-hold of the signal symbol from the same start and capital, with the same costs.
pub(super) fn benchmark_of(
    history: &History,
    settings: &Settings,
    days: &[backtest::DayRecord],
) -> Option<(Vec<(chrono::NaiveDate, rust_decimal::Decimal)>, Statistics)> {
    let symbol = &settings.params.signal_symbol;
    let (first, last) = (days.first()?.date, days.last()?.date);
    let closes: Vec<_> = history
        .bars(symbol)
        .iter()
        .filter(|b| b.date >= first && b.date <= last)
        .map(|b| (b.date, b.close))
        .collect();
    let values =
        crate::domain::statistics::buy_and_hold(settings.initial_cash, &closes, &settings.costs);
    let series: Vec<DayStat> = values
        .iter()
        .map(|&(date, value)| DayStat {
            date,
            value,
            flow: rust_decimal::Decimal::ZERO,
            invested: true,
            rebalanced: false,
        })
        .collect();
    let stats = crate::domain::statistics::statistics(settings.initial_cash, &series, &[])?;
    Some((values, stats))
}

/// The statistics side by side, one column each (`backtest`: the strategy and buy and hold;
/// `report`: the account, the backtest and buy and hold).
pub(super) fn print_statistics(columns: &[(String, Statistics)]) {
    let Some((_, first)) = columns.first() else {
        return;
    };
    let lines: Vec<Vec<(&str, String)>> = columns.iter().map(|(_, s)| s.lines()).collect();
    let mut header = format!("  {:<22}", "");
    for (name, _) in columns {
        header.push_str(&format!(" {name:<44}"));
    }
    println!("{}", header.trim_end());
    for (i, (label, _)) in first.lines().iter().enumerate() {
        let mut line = format!("  {label:<22}");
        for column in &lines {
            line.push_str(&format!(" {:<44}", column[i].1));
        }
        println!("{}", line.trim_end());
    }
}
