//! The validation log, `logs/validation.csv`: one row a validated session (or NO_RUN).

use std::path::Path;

use chrono::NaiveDate;

use crate::domain::validate::{Row, Validation};
use crate::storage::fsutil;
use crate::support::error::{Error, Result};

/// The header of validation.csv.
pub const HEADER: &str = "date,mode,verdict,logic_match_pct,max_drift_pct,drift,avg_fill_slippage_pct,cell_run,cell_close,rebalance_run,rebalance_close";

/// Reads validation.csv (empty when absent).
pub fn read_rows(path: &Path) -> Result<Vec<Row>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut rdr = csv::Reader::from_path(path)
        .map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
    rdr.deserialize()
        .map(|r| r.map_err(|e| Error::Other(format!("{}: {e}", path.display()))))
        .collect()
}

/// Records one validation (or a NO_RUN row when `validation` is None): a session validated
/// again in the same mode replaces its row; the file stays sorted by session and mode
/// (atomic write).
pub fn record(
    path: &Path,
    date: NaiveDate,
    mode: &str,
    validation: Option<&Validation>,
) -> Result<()> {
    let row: Vec<String> = match validation {
        Some(v) => vec![
            date.to_string(),
            mode.to_string(),
            v.verdict.as_str().to_string(),
            v.logic_match_pct.normalize().to_string(),
            v.max_drift_pct.normalize().to_string(),
            v.drifts
                .iter()
                .map(|(s, d)| format!("{s}:{}", d.normalize()))
                .collect::<Vec<_>>()
                .join(";"),
            v.avg_fill_slippage_pct
                .map_or(String::new(), |s| s.normalize().to_string()),
            v.cells.0.to_string(),
            v.cells.1.to_string(),
            u8::from(v.rebalance.0).to_string(),
            u8::from(v.rebalance.1).to_string(),
        ],
        None => {
            let mut row = vec![date.to_string(), mode.to_string(), "NO_RUN".to_string()];
            row.resize(11, String::new());
            row
        }
    };
    let mut rows = raw_rows(path)?;
    rows.retain(|r| !(r.first().map(String::as_str) == Some(&row[0]) && r.get(1) == Some(&row[1])));
    rows.push(row);
    rows.sort_by(|a, b| (a.first(), a.get(1)).cmp(&(b.first(), b.get(1))));
    let mut out = csv::Writer::from_writer(Vec::new());
    let failed = |e: csv::Error| Error::Other(format!("writing {}: {e}", path.display()));
    out.write_record(HEADER.split(',')).map_err(failed)?;
    for r in &rows {
        out.write_record(r).map_err(failed)?;
    }
    let bytes = out.into_inner().map_err(|e| Error::Other(e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
    }
    fsutil::write_atomic(path, &bytes, false)
}

/// Every row of the file as text fields (none when absent).
fn raw_rows(path: &Path) -> Result<Vec<Vec<String>>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut rdr = csv::Reader::from_path(path)
        .map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
    rdr.records()
        .map(|r| {
            r.map(|r| r.iter().map(String::from).collect())
                .map_err(|e| Error::Other(format!("{}: {e}", path.display())))
        })
        .collect()
}
