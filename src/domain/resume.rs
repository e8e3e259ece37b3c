//! The daily decision without replaying the whole history: the engine saved at the end of
//! the last completed session, keyed by the SHA-256 digest of the history it consumed and of
//! the settings it ran with. A run whose history up to that session has the same digest
//! carries on from the saved engine and replays only the days after it (one, on a daily
//! schedule); any mismatch (other bars, other parameters, another version) replays the whole
//! history, exactly as [`backtest::decide_day`]. Both paths step the same engine over the
//! same bars, so they decide the same (the tests compare them on every session).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::backtest::{self, DayRecord, Engine, EngineState, Settings};
use crate::domain::bars::{Bar, History};
use crate::domain::DomainError;

/// The version of [`SavedEngine`]'s form; a saved engine of another version is not used.
pub const VERSION: u32 = 1;

/// An engine saved at the end of a session, and what it was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedEngine {
    /// [`VERSION`] when it was saved.
    pub version: u32,
    /// [`settings_key`] of the settings it ran with.
    pub settings: String,
    /// The last session fed to it (the date of the last bar it stepped): it consumed every
    /// bar dated up to and including this day.
    pub through: NaiveDate,
    /// [`History::digest_through`] `through` of the history it consumed.
    pub history_digest: String,
    /// The engine.
    pub engine: EngineState,
}

/// How the engine that decided was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Carried on from the engine saved at the end of this day.
    Resumed(NaiveDate),
    /// Replayed from the first bar (no saved engine, or one that does not fit).
    Replayed,
}

/// A decision and the engine to save for the next one.
#[derive(Debug, Clone)]
pub struct Resumed {
    /// The day's record, as [`backtest::decide_day`] gives it.
    pub record: DayRecord,
    /// The engine at the end of the day before, to save.
    pub saved: SavedEngine,
    /// How the engine was made.
    pub start: Start,
}

/// The SHA-256 digest (hex) of what an engine's path depends on besides the bars: the
/// strategy parameters, the costs, the starting cash, the history and trading starts.
pub fn settings_key(settings: &Settings) -> String {
    use sha2::Digest;
    let text = serde_json::json!({
        "params": settings.params,
        "costs": settings.costs,
        "initial_cash": settings.initial_cash,
        "history_start": settings.history_start,
        "trading_start": settings.trading_start,
    })
    .to_string();
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The digest of `history` through `last`, from `full` (its [`History::digest`]) when no bar
/// is later.
fn digest_through(history: &History, last: NaiveDate, full: &str) -> String {
    if history.last_date().is_none_or(|d| d <= last) {
        full.to_string()
    } else {
        history.digest_through(last)
    }
}

/// The saved engine, resumed, when it fits: this version, these settings, a day before
/// `date` and not before the history's start, and the same history up to that day.
fn usable(
    saved: Option<SavedEngine>,
    history: &History,
    settings: &Settings,
    date: NaiveDate,
    full_digest: &str,
) -> Result<Option<(Engine, NaiveDate)>, DomainError> {
    let Some(saved) = saved else {
        return Ok(None);
    };
    let fits = saved.version == VERSION
        && saved.through < date
        && saved.through >= settings.history_start
        && saved.settings == settings_key(settings)
        && saved.history_digest == digest_through(history, saved.through, full_digest);
    if !fits {
        return Ok(None);
    }
    let through = saved.through;
    Ok(Engine::resume(settings, saved.engine)?.map(|engine| (engine, through)))
}

/// [`backtest::decide_day`], carrying on from `saved` when it fits (see [`usable`]).
/// `full_digest` must be `history.digest()` (the run has it already for its ledger).
pub fn decide_day_resumed(
    history: &History,
    date: NaiveDate,
    today: &[(String, Bar)],
    settings: &Settings,
    saved: Option<SavedEngine>,
    full_digest: &str,
) -> Result<Resumed, DomainError> {
    if let Some((symbol, bar)) = today.iter().find(|(_, b)| b.date != date) {
        return Err(DomainError::Invalid(format!(
            "today's {symbol} bar is dated {}, not {date}",
            bar.date
        )));
    }
    let yesterday = date.pred_opt().unwrap_or(date);
    let (mut engine, first, start) = match usable(saved, history, settings, date, full_digest)? {
        Some((engine, through)) => (
            engine,
            through.succ_opt().unwrap_or(through),
            Start::Resumed(through),
        ),
        None => (
            Engine::new(settings)?,
            settings.history_start,
            Start::Replayed,
        ),
    };
    // The engine has consumed every bar up to yesterday; it is saved as of the last session
    // among them (Friday's, for a Monday), the day the ledger says it resumed from.
    let stepped = backtest::advance(&mut engine, history, first, yesterday, drop);
    let through = match (stepped, start) {
        (Some(day), _) | (None, Start::Resumed(day)) => day,
        (None, Start::Replayed) => yesterday,
    };
    let record = engine.decide_next(date, today).ok_or_else(|| {
        DomainError::Invalid(format!(
            "no decision for {date}: it is before the trading start ({}) or today has no {} bar",
            settings.trading_start, settings.params.signal_symbol
        ))
    })?;
    let saved = SavedEngine {
        version: VERSION,
        settings: settings_key(settings),
        through,
        history_digest: digest_through(history, through, full_digest),
        engine: engine.saved(),
    };
    Ok(Resumed {
        record,
        saved,
        start,
    })
}
