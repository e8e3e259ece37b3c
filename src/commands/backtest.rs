//! `jutsu backtest`: the strategy over local bars, with the reference's output files.

use std::time::Instant;

use crate::cli::BacktestArgs;
use crate::config::Loaded;
use crate::domain::backtest::{self, Settings};
use crate::domain::bars::History;
use crate::error::{exit, Error, Result};
use crate::storage::fsutil;

pub(super) fn run(args: &BacktestArgs, loaded: &Loaded) -> Result<u8> {
    let started = Instant::now();
    let config = &loaded.config;
    let params = config.strategy.parameters.clone();
    let trading_start = args.from.unwrap_or(config.data.trading_start);
    let history_start = args
        .history_start
        .unwrap_or_else(|| Settings::default_history_start(&params, trading_start));
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
    let Some(s) = backtest::summarize(&outcome.days, settings.initial_cash) else {
        return Err(Error::Usage(format!(
            "no sessions between {trading_start} and {}",
            args.to.map_or("the last bar".into(), |d| d.to_string())
        )));
    };
    tracing::info!(
        final_value = %s.final_value.round_dp(2),
        trades = s.trades,
        "backtest finished"
    );
    println!(
        "backtest {} .. {} ({} sessions, history from {history_start})",
        s.first,
        s.last,
        outcome.days.len()
    );
    println!("  initial value  {:>14}", s.initial.round_dp(2));
    println!("  final value    {:>14}", s.final_value.round_dp(2));
    println!("  CAGR           {:>13.2} %", s.cagr * 100.0);
    println!("  Sharpe         {:>14.2}", s.sharpe);
    println!("  max drawdown   {:>13.2} %", s.max_drawdown * 100.0);
    println!("  trades         {:>14}", s.trades);
    println!(
        "  elapsed        {:>11.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(exit::OK)
}
