//! `jutsu data check`: the bars a decision is taken on, checked before one is. The loader
//! refuses the first problem of a file; this lists every problem of every symbol, and the
//! one-day moves a person should look at.

use std::path::{Path, PathBuf};

use crate::config::Loaded;
use crate::domain::bars::{big_moves, parse_rows, series_problems};
use crate::error::{exit, Result};

/// Checks `<dir>/<SYMBOL>.csv` of every symbol of the strategy; exit 1 when one has a
/// problem (the moves for review do not fail it).
pub(super) fn check(loaded: &Loaded, dir: Option<&PathBuf>) -> Result<u8> {
    let dir = dir.cloned().unwrap_or_else(|| loaded.data_dir());
    let symbols = loaded.config.strategy.parameters.all_symbols();
    let mut failed = 0;
    for symbol in &symbols {
        let path = dir.join(format!("{symbol}.csv"));
        let limit = loaded.config.execution.quote_limits(symbol).max_move_pct;
        let (problems, review, rows) = check_file(&path, limit);
        let mark = if problems.is_empty() { "ok  " } else { "FAIL" };
        println!("[{mark}] {symbol:<5} {} ({rows} bars)", path.display());
        for p in &problems {
            println!("       {p}");
        }
        if !review.is_empty() {
            println!(
                "       one-day moves over {limit} % to review: {}",
                review.join(", ")
            );
        }
        failed += usize::from(!problems.is_empty());
    }
    match failed {
        0 => {
            println!("all {} symbols' bars are sound", symbols.len());
            Ok(exit::OK)
        }
        n => {
            println!(
                "{n} of {} symbols have problems: no run decides on them until fixed",
                symbols.len()
            );
            Ok(exit::FAILURE)
        }
    }
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
