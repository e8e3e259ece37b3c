//! The local bar store, `data.store` (SQLite through rusqlite, its own bundled SQLite, WAL):
//! one table of daily bars by symbol and date with when each was fetched, and a table of
//! the history rewrites found (a split, a correction), each with what changed. Prices are
//! kept as the decimals' own 16-byte form (`Decimal::serialize`), so that a bar read back is
//! the bar written, digit and scale alike, without parsing text.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::Decimal;

use crate::domain::bars::Bar;
use crate::support::error::{Error, Result};

/// A date as the store keys it: days from 0001-01-01 (the date text is kept beside it for
/// people reading the file with `sqlite3`).
fn day_number(date: NaiveDate) -> i32 {
    date.num_days_from_ce()
}

/// The schema this build writes (`PRAGMA user_version`).
const SCHEMA: i64 = 1;

/// A history rewrite found by an update.
#[derive(Debug, Clone, PartialEq)]
pub struct Rewrite {
    /// Symbol.
    pub symbol: String,
    /// When it was found.
    pub at: DateTime<Utc>,
    /// What differed, in words.
    pub detail: String,
}

/// An open store.
pub struct BarStore {
    conn: Connection,
    path: PathBuf,
}

fn failed(path: &Path, what: &str) -> impl Fn(rusqlite::Error) -> Error {
    let (path, what) = (path.display().to_string(), what.to_string());
    move |e| Error::Other(format!("the bar store {path}: {what}: {e}"))
}

impl BarStore {
    /// Opens (creating) the store at `path`, in WAL mode, its schema checked: a store written
    /// by a newer jutsu is refused rather than misread.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
        }
        let conn = Connection::open(path).map_err(failed(path, "opening"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(failed(path, "setting WAL mode"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(failed(path, "setting the busy timeout"))?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(failed(path, "reading the schema version"))?;
        match version {
            0 => conn
                .execute_batch(
                    "CREATE TABLE bars (symbol TEXT NOT NULL, day INTEGER NOT NULL, date TEXT NOT NULL,
                       open BLOB NOT NULL, high BLOB NOT NULL, low BLOB NOT NULL, close BLOB NOT NULL,
                       close_f64 REAL NOT NULL, volume REAL NOT NULL, fetched_at TEXT NOT NULL,
                       PRIMARY KEY (symbol, day)) WITHOUT ROWID;
                     CREATE TABLE rewrites (symbol TEXT NOT NULL, at TEXT NOT NULL, detail TEXT NOT NULL);
                     PRAGMA user_version = 1;",
                )
                .map_err(failed(path, "creating the schema"))?,
            SCHEMA => {}
            newer => {
                return Err(Error::Usage(format!(
                    "the bar store {} has schema {newer}, newer than this jutsu's {SCHEMA}: \
                     use the jutsu that wrote it, or move the file aside",
                    path.display()
                )))
            }
        }
        Ok(BarStore {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bars of `symbol` from `since` on, by date.
    pub fn bars(&self, symbol: &str, since: NaiveDate) -> Result<Vec<Bar>> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT day, open, high, low, close, close_f64, volume FROM bars
                 WHERE symbol = ?1 AND day >= ?2 ORDER BY day",
            )
            .map_err(failed(&self.path, "reading bars"))?;
        let rows = statement
            .query_map(params![symbol, day_number(since)], |r| {
                let price = |i: usize| r.get::<_, [u8; 16]>(i).map(Decimal::deserialize);
                Ok((
                    r.get::<_, i32>(0)?,
                    [price(1)?, price(2)?, price(3)?, price(4)?],
                    (r.get::<_, f64>(5)?, r.get::<_, f64>(6)?),
                ))
            })
            .map_err(failed(&self.path, "reading bars"))?;
        let mut out = Vec::new();
        for row in rows {
            let (day, [open, high, low, close], (close_f64, volume)) =
                row.map_err(failed(&self.path, "reading a bar"))?;
            let date = NaiveDate::from_num_days_from_ce_opt(day).ok_or_else(|| {
                Error::Other(format!(
                    "the bar store {}: {symbol} has a bar on day {day}, not a date",
                    self.path.display()
                ))
            })?;
            out.push(Bar {
                date,
                open,
                high,
                low,
                close,
                volume,
                close_f64,
            });
        }
        Ok(out)
    }

    /// The last stored date of `symbol`.
    pub fn last_date(&self, symbol: &str) -> Result<Option<NaiveDate>> {
        let date: Option<String> = self
            .conn
            .query_row(
                "SELECT date FROM bars WHERE symbol = ?1 ORDER BY day DESC LIMIT 1",
                params![symbol],
                |r| r.get(0),
            )
            .optional()
            .map_err(failed(&self.path, "reading the last date"))?
            .flatten();
        Ok(date.and_then(|d| d.parse().ok()))
    }

    /// Every symbol stored.
    pub fn symbols(&self) -> Result<Vec<String>> {
        let mut statement = self
            .conn
            .prepare("SELECT DISTINCT symbol FROM bars ORDER BY symbol")
            .map_err(failed(&self.path, "listing symbols"))?;
        let rows = statement
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(failed(&self.path, "listing symbols"))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(failed(&self.path, "listing symbols"))
    }

    /// Writes `bars` of `symbol` (a date already stored is replaced), in one transaction.
    /// With `replace_all`, the symbol's other bars go first: a history Schwab rewrote.
    pub fn put(
        &mut self,
        symbol: &str,
        bars: &[Bar],
        fetched_at: DateTime<Utc>,
        replace_all: bool,
    ) -> Result<()> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction()
            .map_err(failed(&path, "starting a write"))?;
        if replace_all {
            tx.execute("DELETE FROM bars WHERE symbol = ?1", params![symbol])
                .map_err(failed(&path, "clearing a symbol"))?;
        }
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO bars (symbol, day, date, open, high, low, close, close_f64, volume,
                       fetched_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT (symbol, day) DO UPDATE SET open = excluded.open,
                       high = excluded.high, low = excluded.low, close = excluded.close,
                       close_f64 = excluded.close_f64, volume = excluded.volume,
                       fetched_at = excluded.fetched_at",
                )
                .map_err(failed(&path, "writing bars"))?;
            let at = fetched_at.to_rfc3339();
            for b in bars {
                insert
                    .execute(params![
                        symbol,
                        day_number(b.date),
                        b.date.to_string(),
                        b.open.serialize(),
                        b.high.serialize(),
                        b.low.serialize(),
                        b.close.serialize(),
                        b.close_f64,
                        b.volume,
                        at
                    ])
                    .map_err(failed(&path, "writing a bar"))?;
            }
        }
        tx.commit().map_err(failed(&path, "committing"))
    }

    /// Records a rewrite of `symbol`'s history.
    pub fn record_rewrite(&self, rewrite: &Rewrite) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO rewrites (symbol, at, detail) VALUES (?1, ?2, ?3)",
                params![rewrite.symbol, rewrite.at.to_rfc3339(), rewrite.detail],
            )
            .map(|_| ())
            .map_err(failed(&self.path, "recording a rewrite"))
    }

    /// The rewrites recorded, oldest first.
    pub fn rewrites(&self) -> Result<Vec<Rewrite>> {
        let mut statement = self
            .conn
            .prepare("SELECT symbol, at, detail FROM rewrites ORDER BY at")
            .map_err(failed(&self.path, "reading rewrites"))?;
        let rows = statement
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(failed(&self.path, "reading rewrites"))?;
        let mut out = Vec::new();
        for row in rows {
            let (symbol, at, detail) = row.map_err(failed(&self.path, "reading a rewrite"))?;
            let at = DateTime::parse_from_rfc3339(&at)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default();
            out.push(Rewrite { symbol, at, detail });
        }
        Ok(out)
    }
}
