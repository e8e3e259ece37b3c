//! Daily bar files: `<SYMBOL>.csv` in a folder (the bundled data, `data.dir`), read into the
//! core's [`Bar`]s and [`History`].

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;

use crate::domain::bars::{
    covers, parse_csv_text, series_problems, series_problems_on, Bar, History,
};
use crate::domain::calendar;
use crate::domain::events::{Actions, Dividend, Split};
use crate::domain::DomainError;
use crate::support::error::Result;

/// Reads and validates one CSV file of daily bars. A bad row is an error naming the file,
/// the line and the problem; so is a series with a session missing, a date that is not a
/// session, or a day without volume ([`series_problems`]): nothing is skipped silently, and
/// no decision is taken on a hole in the history.
pub fn load_csv(path: &Path) -> Result<Vec<Bar>> {
    let bars = read_csv(path)?;
    first_series_problem(path, series_problems(&bars))?;
    Ok(bars)
}

/// The bars of one CSV file, each row checked, the series not yet.
fn read_csv(path: &Path) -> Result<Vec<Bar>> {
    let text = std::fs::read(path).map_err(|e| DomainError::Data {
        path: path.to_path_buf(),
        line: 0,
        problem: format!("cannot read the file: {e}"),
    })?;
    Ok(parse_csv_text(&text, path)?)
}

/// The first of a series' problems as the error [`load_csv`] gives.
fn first_series_problem(path: &Path, problems: Vec<(usize, String)>) -> Result<()> {
    match problems.into_iter().next() {
        None => Ok(()),
        Some((index, problem)) => Err(DomainError::Data {
            path: path.to_path_buf(),
            line: index as u64 + 2,
            problem: format!("{problem}; fix the file (or `jutsu data check` lists every problem)"),
        }
        .into()),
    }
}

impl History {
    /// Loads `<dir>/<SYMBOL>.csv` for every symbol, each checked as [`load_csv`] checks it
    /// (in the same order), against one walk of the calendar when their years allow.
    pub fn load_dir(dir: &Path, symbols: &[String]) -> Result<Self> {
        let mut series = BTreeMap::new();
        let mut calendar: Vec<NaiveDate> = Vec::new();
        for symbol in symbols {
            let path = dir.join(format!("{symbol}.csv"));
            let bars = read_csv(&path)?;
            if let (Some(first), Some(last), false) =
                (bars.first(), bars.last(), covers(&calendar, &bars))
            {
                calendar = calendar::sessions(first.date, last.date).collect();
            }
            first_series_problem(&path, series_problems_on(&bars, &calendar))?;
            series.insert(symbol.clone(), bars);
        }
        Ok(History { series })
    }
}

/// Reads the corporate actions file (`date,symbol,kind,value,close`; see
/// data/PROVENANCE.md). A bad row is an error naming the file and the line.
pub fn load_actions(path: &Path) -> Result<Actions> {
    #[derive(serde::Deserialize)]
    struct Row {
        date: chrono::NaiveDate,
        symbol: String,
        kind: String,
        value: rust_decimal::Decimal,
        close: Option<rust_decimal::Decimal>,
    }
    let bad = |line: u64, problem: String| DomainError::Data {
        path: path.to_path_buf(),
        line,
        problem,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| bad(0, e.to_string()))?;
    let mut actions = Actions::default();
    for (i, row) in reader.deserialize::<Row>().enumerate() {
        let line = i as u64 + 2;
        let row = row.map_err(|e| bad(line, e.to_string()))?;
        if row.value <= rust_decimal::Decimal::ZERO {
            return Err(bad(line, format!("{} must be positive", row.kind)).into());
        }
        match row.kind.as_str() {
            "split" => actions.splits.push(Split {
                date: row.date,
                symbol: row.symbol,
                ratio: row.value,
                close: row
                    .close
                    .ok_or_else(|| bad(line, "a split needs its close".into()))?,
            }),
            "dividend" => actions.dividends.push(Dividend {
                date: row.date,
                symbol: row.symbol,
                per_share: row.value,
            }),
            other => {
                return Err(bad(line, format!("unknown kind {other:?} (split or dividend)")).into())
            }
        }
    }
    actions
        .splits
        .sort_by(|a, b| (a.date, &a.symbol).cmp(&(b.date, &b.symbol)));
    actions
        .dividends
        .sort_by(|a, b| (a.date, &a.symbol).cmp(&(b.date, &b.symbol)));
    Ok(actions)
}
