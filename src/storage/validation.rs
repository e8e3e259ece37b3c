//! The validation log, `logs/validation.csv`: one row a validated session (or NO_RUN).

use std::path::Path;

use chrono::NaiveDate;

use crate::domain::validate::{Row, Validation};
use crate::error::{Error, Result};
use crate::storage::fsutil;

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

/// Appends one validation (or a NO_RUN row when `validation` is None).
pub fn append(
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
    let header: Vec<&str> = HEADER.split(',').collect();
    fsutil::append_csv(path, &header, [row])
}
