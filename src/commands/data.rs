//! `jutsu data check|update|import|export`. `check`: the bars a decision is taken on,
//! checked before one is (the loader refuses the first problem of a file; this lists every
//! problem of every symbol, and the one-day moves a person should look at). The others move
//! bars between Schwab, the local store (`data.store`) and CSV files.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::brokers::sources::{self, SharedClock};
use crate::brokers::stored::sync;
use crate::commands::cli::DataAction;
use crate::config::Loaded;
use crate::domain::bars::{big_moves, parse_rows, series_problems};
use crate::storage::fsutil;
use crate::storage::lock::RunLock;
use crate::storage::state::StatePaths;
use crate::storage::store::BarStore;
use crate::support::error::{exit, Error, Result};

pub(super) fn run(action: &DataAction, loaded: &Loaded, clock: SharedClock) -> Result<u8> {
    match action {
        DataAction::Check {
            data_dir,
            store,
            json,
        } => check(loaded, data_dir.as_ref(), *store, *json),
        DataAction::Update { from } => update(loaded, *from, clock),
        DataAction::Import { dir } => import(loaded, dir, clock),
        DataAction::Export { dir } => export(loaded, dir),
    }
}

/// The store of `data.store`, or a usage error saying how to set one.
fn store_of(loaded: &Loaded) -> Result<BarStore> {
    sources::bar_store(loaded)?.ok_or_else(|| {
        Error::Usage(format!(
            "no bar store: set `data.store` in {} (e.g. `store: ../state/bars.sqlite` under data)",
            loaded.path.display()
        ))
    })
}

/// `data update`: each symbol brought up to the last complete session from Schwab.
fn update(loaded: &Loaded, from: Option<NaiveDate>, clock: SharedClock) -> Result<u8> {
    let mut store = store_of(loaded)?;
    let paths = StatePaths::new(loaded, loaded.config.mode);
    let _lock = RunLock::acquire(&paths.lock_file(), "data update")?;
    let client = sources::schwab_client(loaded, clock.clone())?;
    let start = from.unwrap_or(loaded.config.data.history_start);
    let mode = match from {
        Some(_) => crate::brokers::stored::Mode::Force,
        None => crate::brokers::stored::Mode::Missing,
    };
    for symbol in loaded.config.strategy.parameters.all_symbols() {
        let synced = sync(
            &mut store,
            client.as_ref(),
            &symbol,
            start,
            mode,
            clock.now_utc(),
        )?;
        let last = store
            .last_date(&symbol)?
            .map_or("-".into(), |d| d.to_string());
        println!("{symbol:<5} {} (last bar {last})", synced.describe());
        tracing::info!(target: crate::support::report::RUN, symbol, "bar store: {}", synced.describe());
    }
    println!("store {}", store.path().display());
    Ok(exit::OK)
}

/// `data import DIR`: each strategy symbol's CSV, checked as the loader checks it, replaces
/// the symbol's stored bars.
fn import(loaded: &Loaded, dir: &Path, clock: SharedClock) -> Result<u8> {
    let mut store = store_of(loaded)?;
    let mut files = Vec::new();
    for symbol in loaded.config.strategy.parameters.all_symbols() {
        let path = dir.join(format!("{symbol}.csv"));
        files.push((symbol, crate::storage::bars::load_csv(&path)?, path));
    }
    for (symbol, bars, path) in files {
        store.put(&symbol, &bars, clock.now_utc(), true)?;
        println!(
            "{symbol:<5} {} bars imported from {}",
            bars.len(),
            path.display()
        );
    }
    Ok(exit::OK)
}

/// `data export DIR`: the stored bars of every symbol as CSV files, written atomically.
fn export(loaded: &Loaded, dir: &Path) -> Result<u8> {
    let store = store_of(loaded)?;
    for symbol in store.symbols()? {
        let bars = store.bars(&symbol, NaiveDate::MIN)?;
        let mut text = String::from("date,open,high,low,close,volume\n");
        for b in &bars {
            text.push_str(&format!(
                "{},{},{},{},{},{}\n",
                b.date, b.open, b.high, b.low, b.close, b.volume
            ));
        }
        let path = dir.join(format!("{symbol}.csv"));
        fsutil::write_atomic(&path, text.as_bytes(), false)?;
        println!(
            "{symbol:<5} {} bars exported to {}",
            bars.len(),
            path.display()
        );
    }
    Ok(exit::OK)
}

/// One symbol's check.
struct Checked {
    symbol: String,
    source: String,
    bars: usize,
    problems: Vec<String>,
    review: Vec<String>,
    limit: rust_decimal::Decimal,
}

/// Checks `<dir>/<SYMBOL>.csv` (or the store) of every symbol of the strategy; exit 1 when
/// one has a problem (the moves for review do not fail it).
fn check(loaded: &Loaded, dir: Option<&PathBuf>, in_store: bool, json: bool) -> Result<u8> {
    let checked = check_all(loaded, dir, in_store)?;
    let failed = checked.iter().filter(|c| !c.problems.is_empty()).count();
    match json {
        true => print_check_json(&checked, failed)?,
        false => print_check(&checked, failed),
    }
    Ok(if failed == 0 { exit::OK } else { exit::FAILURE })
}

/// `data check --json`.
fn print_check_json(checked: &[Checked], failed: usize) -> Result<()> {
    let symbols: Vec<_> = checked
        .iter()
        .map(|c| {
            serde_json::json!({
                "symbol": c.symbol,
                "source": c.source,
                "bars": c.bars,
                "ok": c.problems.is_empty(),
                "problems": c.problems,
                "moves_to_review": c.review,
                "max_move_pct": c.limit,
            })
        })
        .collect();
    let value = serde_json::json!({"ok": failed == 0, "failed": failed, "symbols": symbols});
    let text = serde_json::to_string_pretty(&value).map_err(|e| Error::Other(e.to_string()))?;
    println!("{text}");
    Ok(())
}

fn print_check(checked: &[Checked], failed: usize) {
    for c in checked {
        let mark = if c.problems.is_empty() {
            "ok  "
        } else {
            "FAIL"
        };
        println!("[{mark}] {:<5} {} ({} bars)", c.symbol, c.source, c.bars);
        for p in &c.problems {
            println!("       {p}");
        }
        if !c.review.is_empty() {
            println!(
                "       one-day moves over {} % to review: {}",
                c.limit,
                c.review.join(", ")
            );
        }
    }
    match failed {
        0 => println!("all {} symbols' bars are sound", checked.len()),
        n => println!(
            "{n} of {} symbols have problems: no run decides on them until fixed",
            checked.len()
        ),
    }
}

/// Every symbol of the strategy, checked.
fn check_all(loaded: &Loaded, dir: Option<&PathBuf>, in_store: bool) -> Result<Vec<Checked>> {
    let dir = dir.cloned().unwrap_or_else(|| loaded.data_dir());
    let store = match in_store {
        true => Some(store_of(loaded)?),
        false => None,
    };
    let mut out = Vec::new();
    for symbol in loaded.config.strategy.parameters.all_symbols() {
        let limit = loaded.config.execution.quote_limits(&symbol).max_move_pct;
        let (source, (problems, review, bars)) = match &store {
            Some(store) => (
                format!("{} (store)", store.path().display()),
                check_bars(store.bars(&symbol, NaiveDate::MIN)?, Vec::new(), limit),
            ),
            None => {
                let path = dir.join(format!("{symbol}.csv"));
                (path.display().to_string(), check_file(&path, limit))
            }
        };
        out.push(Checked {
            symbol,
            source,
            bars,
            problems,
            review,
            limit,
        });
    }
    Ok(out)
}

/// A file's problems (each with its line), its moves to review, and how many bars it has.
fn check_file(path: &Path, limit: rust_decimal::Decimal) -> (Vec<String>, Vec<String>, usize) {
    let (bars, rows) = match std::fs::File::open(path) {
        Err(e) => return (vec![format!("cannot read the file: {e}")], Vec::new(), 0),
        Ok(file) => match parse_rows(std::io::BufReader::new(file), path) {
            Ok(parsed) => parsed,
            Err(e) => return (vec![e.to_string()], Vec::new(), 0),
        },
    };
    check_bars(bars, rows, limit)
}

/// The problems of a series (its bad rows first), its moves to review, its length.
fn check_bars(
    bars: Vec<crate::domain::bars::Bar>,
    rows: Vec<(u64, String)>,
    limit: rust_decimal::Decimal,
) -> (Vec<String>, Vec<String>, usize) {
    if bars.is_empty() && rows.is_empty() {
        return (vec!["no bars".into()], Vec::new(), 0);
    }
    // The series checks run on the good rows: a bad row is reported once, as itself.
    let mut problems: Vec<String> = rows
        .into_iter()
        .map(|(line, p)| format!("line {line}: {p}"))
        .collect();
    if problems.is_empty() {
        problems.extend(
            series_problems(&bars)
                .into_iter()
                .map(|(i, p)| format!("line {}: {p}", i + 2)),
        );
    }
    (problems, big_moves(&bars, limit), bars.len())
}
