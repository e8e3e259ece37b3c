//! Daily bar files: `<SYMBOL>.csv` in a folder (the bundled data, `data.dir`), read into the
//! core's [`Bar`]s and [`History`].

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;

use crate::domain::bars::{covers, parse_csv_text, series_problems_on, Bar, History};
use crate::domain::calendar;
use crate::domain::events::{Actions, Dividend, Split};
use crate::domain::DomainError;
use crate::support::error::Result;

/// Reads and validates one CSV file of daily bars. A bad row is an error naming the file,
/// the line and the problem; so is a series with a session missing, a date that is not a
/// session, or a day without volume ([`crate::domain::bars::series_problems`]): nothing is
/// skipped silently, and no decision is taken on a hole in the history.
pub fn load_csv(path: &Path) -> Result<Vec<Bar>> {
    BarReader::default().load(path)
}

/// Reads bar files one after the other as [`load_csv`] does, reusing what the files have in
/// common: one buffer for their text and one walk of the calendar for their series (the
/// six files of a run span the same years). Each fresh buffer of a file's size cost a
/// hundred page faults; each walk of seventeen years of sessions, a tenth of a load.
#[derive(Debug, Default)]
pub struct BarReader {
    text: Vec<u8>,
    /// Ascending NYSE sessions spanning every series read so far (rebuilt when one is not
    /// covered).
    calendar: Vec<NaiveDate>,
}

impl BarReader {
    /// The bars of `path`, checked as [`load_csv`] checks them. A bad row or series says
    /// what to do about it.
    pub fn load(&mut self, path: &Path) -> Result<Vec<Bar>> {
        Ok(self.checked(path).map_err(with_fix)?)
    }

    fn checked(&mut self, path: &Path) -> std::result::Result<Vec<Bar>, DomainError> {
        let bars = self.read(path)?;
        if let (Some(first), Some(last), false) =
            (bars.first(), bars.last(), covers(&self.calendar, &bars))
        {
            let from = self
                .calendar
                .first()
                .map_or(first.date, |d| first.date.min(*d));
            let to = self
                .calendar
                .last()
                .map_or(last.date, |d| last.date.max(*d));
            self.calendar = calendar::sessions(from, to).collect();
        }
        match series_problems_on(&bars, &self.calendar).into_iter().next() {
            None => Ok(bars),
            Some((index, problem)) => Err(DomainError::Data {
                path: path.to_path_buf(),
                line: index as u64 + 2,
                problem,
            }),
        }
    }

    /// The bars of one file, each row checked, the series not yet.
    fn read(&mut self, path: &Path) -> std::result::Result<Vec<Bar>, DomainError> {
        use std::io::Read;
        let cannot = |e: std::io::Error| DomainError::Data {
            path: path.to_path_buf(),
            line: 0,
            problem: format!("cannot read the file: {e}"),
        };
        let mut file = std::fs::File::open(path).map_err(cannot)?;
        let size = file.metadata().map_or(0, |m| m.len());
        self.text.clear();
        self.text
            .reserve(usize::try_from(size).unwrap_or(0).saturating_add(1));
        file.read_to_end(&mut self.text).map_err(cannot)?;
        parse_csv_text(&self.text, path)
    }
}

/// A bad line of a bar file (not a file that cannot be read), with what to do about it.
fn with_fix(error: DomainError) -> DomainError {
    match error {
        DomainError::Data {
            path,
            line,
            problem,
        } if line > 0 => DomainError::Data {
            path,
            line,
            problem: format!("{problem}; fix the file (or `jutsu data check` lists every problem)"),
        },
        other => other,
    }
}

impl History {
    /// Loads `<dir>/<SYMBOL>.csv` for every symbol, each checked as [`load_csv`] checks it
    /// (in the same order), through one [`BarReader`].
    pub fn load_dir(dir: &Path, symbols: &[String]) -> Result<Self> {
        let mut reader = BarReader::default();
        let mut series = BTreeMap::new();
        for symbol in symbols {
            let bars = reader.load(&dir.join(format!("{symbol}.csv")))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A bar file of every session from `from` to `to`, less the sessions in `missing`.
    fn write_bars(path: &Path, from: NaiveDate, to: NaiveDate, missing: &[NaiveDate]) {
        let mut text = String::from("date,open,high,low,close,volume\n");
        for date in calendar::sessions(from, to).filter(|d| !missing.contains(d)) {
            text.push_str(&format!("{date},10,11,9,10.5,1000\n"));
        }
        std::fs::write(path, text).unwrap();
    }

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn files_read_through_one_reader_are_read_as_each_alone() {
        // The second file starts earlier and ends later than the first (the shared calendar
        // must grow to it), and has a hole outside the first file's years; the third is
        // good and shorter; the fourth has a hole inside the first's years.
        let dir = tempfile::tempdir().unwrap();
        let files = [
            ("A.csv", d("2020-01-02"), d("2020-06-30"), vec![]),
            (
                "B.csv",
                d("2019-06-03"),
                d("2021-01-29"),
                vec![d("2019-07-08")],
            ),
            ("C.csv", d("2020-03-02"), d("2020-03-31"), vec![]),
            (
                "D.csv",
                d("2020-01-02"),
                d("2020-06-30"),
                vec![d("2020-04-13")],
            ),
        ];
        for (name, from, to, missing) in &files {
            write_bars(&dir.path().join(name), *from, *to, missing);
        }
        let mut reader = BarReader::default();
        for (name, ..) in &files {
            let path = dir.path().join(name);
            let shared = reader.load(&path).map_err(|e| e.to_string());
            let alone = load_csv(&path).map_err(|e| e.to_string());
            assert_eq!(shared, alone, "{name}");
        }
        let b = load_csv(&dir.path().join("B.csv")).unwrap_err().to_string();
        assert!(b.contains("2019-07-08"), "{b}");
        let d = load_csv(&dir.path().join("D.csv")).unwrap_err().to_string();
        assert!(d.contains("2020-04-13"), "{d}");
    }
}
