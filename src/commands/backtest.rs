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
    if let Some(path) = &args.csv {
        fsutil::write_atomic(path, backtest::daily_csv(&outcome.days).as_bytes(), false)?;
    }
    if let Some(path) = &args.fills {
        fsutil::write_atomic(path, backtest::fills_csv(&outcome.days).as_bytes(), false)?;
    }
    let Some(stats) = backtest::statistics(&outcome.days, settings.initial_cash, &settings.costs)
    else {
        let symbol = &settings.params.signal_symbol;
        let signal = history.bars(symbol);
        let bars = match (signal.first(), signal.last()) {
            (Some(first), Some(last)) => {
                format!("{symbol}'s bars run from {} to {}", first.date, last.date)
            }
            _ => format!("there are no {symbol} bars"),
        };
        return Err(Error::Usage(format!(
            "no sessions between {trading_start} and {}: {bars}",
            args.to.map_or("the last bar".into(), |d| d.to_string())
        )));
    };
    tracing::info!(
        final_value = %stats.final_value.round_dp(2),
        fills = stats.fills,
        "backtest finished"
    );
    let benchmark = benchmark_of(&history, &settings, &outcome.days);
    if args.json {
        write_page(&outcome.days, &stats, benchmark.as_ref(), &settings, args)?;
        print_json(&stats, benchmark, &settings)?;
        return Ok(exit::OK);
    }
    println!(
        "backtest {} .. {} ({} sessions, history from {history_start})",
        stats.first, stats.last, stats.sessions
    );
    show(&outcome.days, &stats, benchmark.as_ref(), &settings, args)?;
    println!(
        "  elapsed                {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(exit::OK)
}

/// `backtest --json`: the period and the statistics of the strategy and of buy and hold.
fn print_json(stats: &Statistics, benchmark: Option<Benchmark>, settings: &Settings) -> Result<()> {
    let name = format!("{} buy and hold", settings.params.signal_symbol);
    let mut columns = vec![("strategy".to_string(), stats.clone())];
    columns.extend(benchmark.map(|(_, b)| (name, b)));
    let value = serde_json::json!({
        "from": stats.first,
        "to": stats.last,
        "sessions": stats.sessions,
        "history_start": settings.history_start,
        "statistics": statistics_json(&columns),
    });
    let text = serde_json::to_string_pretty(&value).map_err(|e| Error::Other(e.to_string()))?;
    println!("{text}");
    Ok(())
}

type Benchmark = (Vec<(chrono::NaiveDate, rust_decimal::Decimal)>, Statistics);

/// Prints the statistics beside buy and hold's, and writes the page when asked.
fn show(
    days: &[backtest::DayRecord],
    stats: &Statistics,
    benchmark: Option<&Benchmark>,
    settings: &Settings,
    args: &BacktestArgs,
) -> Result<()> {
    let symbol = &settings.params.signal_symbol;
    let bench = benchmark.map(|(_, b)| (format!("{symbol} buy and hold"), b.clone()));
    let columns: Vec<_> = std::iter::once(("strategy".to_string(), stats.clone()))
        .chain(bench)
        .collect();
    print_statistics(&columns);
    if let Some(path) = write_page(days, stats, benchmark, settings, args)? {
        println!("page written to {}", path.display());
    }
    Ok(())
}

/// Writes the page when `--html` asks for one; the path written.
fn write_page<'a>(
    days: &[backtest::DayRecord],
    stats: &Statistics,
    benchmark: Option<&Benchmark>,
    settings: &Settings,
    args: &'a BacktestArgs,
) -> Result<Option<&'a std::path::Path>> {
    let Some(path) = args.html.as_deref() else {
        return Ok(None);
    };
    let page = crate::domain::page::backtest_page(days, stats, benchmark, settings);
    fsutil::write_atomic(path, page.as_bytes(), false)?;
    Ok(Some(path))
}

/// The statistics of each column as JSON (`backtest --json`, `report --json`): money to the
/// cent and returns in percent, as decimal strings; ratios as numbers.
pub(super) fn statistics_json(columns: &[(String, Statistics)]) -> serde_json::Value {
    use crate::domain::portfolio::cents;
    let pct = |x: f64| (x * 100.0 * 1e4).round() / 1e4;
    let two = |x: f64| (x * 100.0).round() / 100.0;
    let each = |s: &Statistics| {
        let dd = &s.max_drawdown;
        serde_json::json!({
            "first": s.first,
            "last": s.last,
            "sessions": s.sessions,
            "initial_value": cents(s.initial),
            "final_value": cents(s.final_value),
            "net_flows": cents(s.net_flows),
            "total_return_pct": pct(s.total_return),
            "cagr_pct": s.long_enough_to_annualise().then(|| pct(s.cagr)),
            "volatility_pct": pct(s.volatility),
            "sharpe": two(s.sharpe),
            "sortino": two(s.sortino),
            "max_drawdown": {
                "depth_pct": pct(dd.depth),
                "peak": dd.peak,
                "trough": dd.trough,
                "recovered": dd.recovered,
                "days": dd.days,
            },
            "longest_under_water_days": s.longest_underwater_days,
            "exposure_pct": pct(s.exposure),
            "turnover_per_year_pct": pct(s.turnover_per_year),
            "commissions": cents(s.commissions),
            "slippage": cents(s.slippage),
            "rebalances": s.rebalances,
            "fills": s.fills,
            "best_day": {"date": s.best_day.0, "return_pct": pct(s.best_day.1)},
            "worst_day": {"date": s.worst_day.0, "return_pct": pct(s.worst_day.1)},
        })
    };
    serde_json::Value::Object(
        columns
            .iter()
            .map(|(name, s)| (name.clone(), each(s)))
            .collect(),
    )
}

/// Buy-and-hold of the signal symbol from the same start and capital, with the same costs.
pub(super) fn benchmark_of(
    history: &History,
    settings: &Settings,
    days: &[backtest::DayRecord],
) -> Option<Benchmark> {
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
    // Each column as wide as its widest value (a drawdown with its recovery is 70
    // characters), so that no value pushes the next column out of line.
    let widths: Vec<usize> = columns
        .iter()
        .zip(&lines)
        .map(|((name, _), values)| {
            let widest = values.iter().map(|(_, v)| v.chars().count()).max();
            widest.unwrap_or(0).max(name.chars().count())
        })
        .collect();
    let mut header = format!("  {:<22}", "");
    for ((name, _), width) in columns.iter().zip(&widths) {
        header.push_str(&format!(" {name:<width$}"));
    }
    println!("{}", header.trim_end());
    for (i, (label, _)) in first.lines().iter().enumerate() {
        let mut line = format!("  {label:<22}");
        for (column, width) in lines.iter().zip(&widths) {
            line.push_str(&format!(" {:<width$}", column[i].1));
        }
        println!("{}", line.trim_end());
    }
}
