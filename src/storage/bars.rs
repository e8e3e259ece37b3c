//! Daily bar files: `<SYMBOL>.csv` in a folder (the bundled data, `data.dir`), read into the
//! core's [`Bar`]s and [`History`].

use std::collections::BTreeMap;
use std::path::Path;

use crate::domain::bars::{parse_csv, Bar, History};
use crate::domain::DomainError;
use crate::error::Result;

/// Reads and validates one CSV file of daily bars. A bad row is an error naming the file,
/// the line and the problem; nothing is skipped silently.
pub fn load_csv(path: &Path) -> Result<Vec<Bar>> {
    let file = std::fs::File::open(path).map_err(|e| DomainError::Data {
        path: path.to_path_buf(),
        line: 0,
        problem: format!("cannot read the file: {e}"),
    })?;
    Ok(parse_csv(std::io::BufReader::new(file), path)?)
}

impl History {
    /// Loads `<dir>/<SYMBOL>.csv` for every symbol.
    pub fn load_dir(dir: &Path, symbols: &[String]) -> Result<Self> {
        let mut series = BTreeMap::new();
        for symbol in symbols {
            let path = dir.join(format!("{symbol}.csv"));
            series.insert(symbol.clone(), load_csv(&path)?);
        }
        Ok(History { series })
    }
}
