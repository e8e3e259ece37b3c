//! Benchmarks: the whole 2010-2025 backtest (CSV loading included) and the per-day decision
//! cost. Run with `cargo bench`; prints median and best of repeated runs.
// Tests and benchmarks may unwrap: a failure there is a failed test, not a lost order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use jutsu::domain::backtest::{self, Engine, Settings};
use jutsu::domain::bars::History;
use jutsu::domain::portfolio::Costs;
use jutsu::domain::strategy::params::StrategyParams;
use rust_decimal::Decimal;

/// The bundled bars.
fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn settings() -> Settings {
    Settings {
        params: StrategyParams::default(),
        costs: Costs {
            commission_per_share: Decimal::new(1, 2),
            slippage: Decimal::new(1, 3),
        },
        initial_cash: Decimal::new(10_000, 0),
        history_start: NaiveDate::from_ymd_opt(2009, 2, 26).unwrap(),
        trading_start: NaiveDate::from_ymd_opt(2010, 1, 1).unwrap(),
        end: NaiveDate::from_ymd_opt(2025, 12, 31),
    }
}

fn measure(name: &str, runs: usize, mut f: impl FnMut() -> usize) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "{name:<44} median {:>9.3} ms   best {:>9.3} ms   ({runs} runs)",
        times[runs / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3
    );
}

fn main() {
    let dir = data_dir();
    let symbols = StrategyParams::default().all_symbols();
    let settings = settings();

    measure("load 6 CSVs", 20, || {
        History::load_dir(&dir, &symbols).unwrap().series.len()
    });
    measure("backtest 2010-2025 incl. CSV loading", 20, || {
        let history = History::load_dir(&dir, &symbols).unwrap();
        backtest::run(&history, &settings).unwrap().days.len()
    });
    // The history a trade reads: from the CSV files, or from the bar store (data.store).
    let store_dir = std::env::temp_dir().join(format!("jutsu-bench-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store_dir);
    let mut store = jutsu::storage::store::BarStore::open(&store_dir.join("bars.sqlite")).unwrap();
    for s in &symbols {
        let bars = jutsu::storage::bars::load_csv(&dir.join(format!("{s}.csv"))).unwrap();
        store.put(s, &bars, chrono::Utc::now(), true).unwrap();
    }
    let start = NaiveDate::from_ymd_opt(2009, 2, 26).unwrap();
    measure("trade's history: 6 symbols from CSV", 20, || {
        symbols
            .iter()
            .map(|s| {
                jutsu::storage::bars::load_csv(&dir.join(format!("{s}.csv")))
                    .unwrap()
                    .into_iter()
                    .filter(|b| b.date >= start)
                    .count()
            })
            .sum()
    });
    measure("trade's history: 6 symbols from the store", 20, || {
        symbols
            .iter()
            .map(|s| store.bars(s, start).unwrap().len())
            .sum()
    });
    let _ = std::fs::remove_dir_all(&store_dir);
    let history = History::load_dir(&dir, &symbols).unwrap();
    measure("backtest 2010-2025, bars in memory", 20, || {
        backtest::run(&history, &settings).unwrap().days.len()
    });

    // Per-day decision: the strategy's step on one signal bar (Kalman, SMAs, volatility,
    // latch, cell, overlay, weights, rebalance test) over every day of the history.
    let qqq = history.bars("QQQ");
    let tlt = history.bars("TLT");
    let days = qqq.len();
    let runs = 20;
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let mut strategy =
            jutsu::domain::strategy::Strategy::new(StrategyParams::default()).unwrap();
        let t = Instant::now();
        for (q, b) in qqq.iter().zip(tlt) {
            strategy.on_bond_close(b.close_f64);
            std::hint::black_box(strategy.on_signal_bar(q.close_f64, q.volume));
        }
        best = best.min(t.elapsed());
    }
    println!(
        "{:<44} {:>9.3} us per day ({days} days, best of {runs})",
        "strategy decision",
        best.as_secs_f64() * 1e6 / days as f64
    );

    // The live path: state at D-1, then one day's bars through the shared engine.
    let mut engine = Engine::new(&settings).unwrap();
    let date = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap();
    backtest::replay(&mut engine, &history, &settings, date.pred_opt().unwrap());
    let today: Vec<(String, jutsu::domain::bars::Bar)> = symbols
        .iter()
        .filter_map(|s| history.bars(s).last().map(|b| (s.clone(), *b)))
        .collect();
    let n = 2000;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(engine.decide_next(date, &today));
    }
    println!(
        "{:<44} {:>9.3} us per call (engine clone + step)",
        "live decide_next from saved state",
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    );
    let outcome = backtest::run(&history, &settings).unwrap();
    measure("statistics and buy and hold, 2010-2025", 20, || {
        let stats =
            backtest::statistics(&outcome.days, settings.initial_cash, &settings.costs).unwrap();
        let closes: Vec<_> = history
            .bars("QQQ")
            .iter()
            .filter(|b| b.date >= settings.trading_start)
            .map(|b| (b.date, b.close))
            .collect();
        let held = jutsu::domain::statistics::buy_and_hold(
            settings.initial_cash,
            &closes,
            &settings.costs,
        );
        stats.fills + held.len()
    });
    measure("history digest (SHA-256 of every bar)", 20, || {
        history.digest().len()
    });
    // The cached path: the engine saved the day before, read back from JSON.
    let before = History {
        series: history
            .series
            .iter()
            .map(|(s, b)| {
                (
                    s.clone(),
                    b.iter().filter(|b| b.date < date).copied().collect(),
                )
            })
            .collect(),
    };
    let digest = before.digest();
    let first =
        jutsu::domain::resume::decide_day_resumed(&before, date, &today, &settings, None, &digest)
            .unwrap();
    let text = serde_json::to_string(&first.saved).unwrap();
    measure("decision resumed from the saved engine", 20, || {
        let saved = serde_json::from_str(&text).unwrap();
        jutsu::domain::resume::decide_day_resumed(
            &before,
            date,
            &today,
            &settings,
            Some(saved),
            &digest,
        )
        .unwrap()
        .record
        .quantities[0] as usize
    });
    trade_process();
    status_process();
    measure("live decide_day from raw history", 10, || {
        backtest::decide_day(&history, date, &today, &settings)
            .unwrap()
            .quantities[0] as usize
    });
}

/// One `jutsu trade` process on the embedded default, from start to exit, each on a fresh
/// state folder so that every run does the whole day (a first run with orders).
fn trade_process() {
    let exe = env!("CARGO_BIN_EXE_jutsu");
    let data = data_dir();
    let mut times = Vec::new();
    for run in 0..15 {
        let dir = std::env::temp_dir().join(format!("jutsu-bench-{}-{run}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("jutsu.yaml");
        std::fs::write(
            &config,
            format!(
                "paths:\n  state_dir: state\n  logs_dir: logs\ndata:\n  dir: {}\n",
                data.display()
            ),
        )
        .unwrap();
        let t = Instant::now();
        let status = std::process::Command::new(exe)
            .args([
                "-c",
                config.to_str().unwrap(),
                "-q",
                "trade",
                "--as-of",
                "2025-12-12T15:55",
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        times.push(t.elapsed());
        assert!(status.success());
        let _ = std::fs::remove_dir_all(&dir);
    }
    times.sort();
    println!(
        "{:<44} median {:>9.3} ms   best {:>9.3} ms   (15 runs)",
        "trade process, embedded default, first run",
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3
    );
}

/// `jutsu status` on an account after one trade run (the cache in place), 15 runs.
fn status_process() {
    let exe = env!("CARGO_BIN_EXE_jutsu");
    let dir = std::env::temp_dir().join(format!("jutsu-bench-status-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("jutsu.yaml");
    std::fs::write(
        &config,
        format!(
            "paths:\n  state_dir: state\n  logs_dir: logs\ndata:\n  dir: {}\n",
            data_dir().display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let t = Instant::now();
        let status = std::process::Command::new(exe)
            .args(["-c", config.to_str().unwrap(), "-q"])
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        t.elapsed()
    };
    run(&["trade", "--as-of", "2025-12-12T15:55"]);
    let mut times: Vec<Duration> = (0..15).map(|_| run(&["status"])).collect();
    times.sort();
    println!(
        "{:<44} median {:>9.3} ms   best {:>9.3} ms   (15 runs)",
        "status process, after a trade run",
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3
    );
    let _ = std::fs::remove_dir_all(&dir);
}
