//! Whose clock a command runs on. Every command takes its date from the account, never from
//! the machine when the two differ: `--as-of` (offline bars only) names the moment, it may
//! not be after the machine's own date (a date that has not happened has no prices), and a
//! command that changes an account may not go back before the last session the account
//! completed (that would rewrite its history). Without `--as-of`, a paper account on the
//! bundled bars lives at the close of its last completed session: that is where its clock
//! stopped.

use std::sync::Arc;

use chrono::{NaiveDate, NaiveTime, Utc};

use crate::brokers::sources::SharedClock;
use crate::config::{DataSource, Loaded, Mode};
use crate::domain::calendar;
use crate::storage::fsutil;
use crate::storage::state::{State, StatePaths};
use crate::support::clock::FixedClock;
use crate::support::error::{Error, Result};

/// A moment asked for with `--as-of`: a New York date, and a time when one was given.
#[derive(Debug, Clone, Copy)]
pub struct AsOfMoment {
    /// The date.
    pub date: NaiveDate,
    /// The time of day, when given (else the session's run time).
    pub time: Option<NaiveTime>,
}

/// The last session the account of `paths` completed, by its state.json (a damaged or
/// missing state has none; the commands that need it say so in their own words).
/// Only reads: a damaged state is taken as its newest good backup, as the next run will.
pub fn last_session(paths: &StatePaths) -> Option<NaiveDate> {
    fsutil::read_sealed_only::<State>(&paths.state_file(), crate::storage::state::BACKUPS)
        .ok()
        .flatten()
        .and_then(|state| state.last_session)
}

/// The session an account's clock stands at: its last completed session by state.json,
/// else (a mode whose runs keep no state, a dry run) its newest completed run's.
fn clock_session(paths: &StatePaths) -> Option<NaiveDate> {
    last_session(paths).or_else(|| {
        paths
            .ledger_files()
            .iter()
            .rev()
            .filter_map(|p| crate::domain::journal::Ledger::read_only(p).ok().flatten())
            .find(|l| l.status == crate::domain::journal::RunStatus::Done)
            .map(|l| l.session)
    })
}

/// `--as-of` may not name a date after the machine's: the bars of a day that has not
/// happened do not exist, and a run dated there would block every real one after it.
pub fn refuse_future(date: NaiveDate, clock: &SharedClock) -> Result<()> {
    let today = clock.today_et();
    if date > today {
        return Err(Error::Usage(format!(
            "--as-of {date} is after today ({today} in New York): a date that has not \
             happened has no prices"
        )));
    }
    Ok(())
}

/// On the local bars (without a bar store), `--as-of` may not name a date after their last
/// bar: a run needs that day's bar for its quotes. Said once, the same for every date and
/// before anything is written (when the bars cannot be read, the stage that reads them
/// says why).
pub fn refuse_past_bars(loaded: &Loaded, date: NaiveDate, clock: &SharedClock) -> Result<()> {
    let c = &loaded.config;
    if c.data.source != DataSource::Local || c.data.store.is_some() {
        return Ok(());
    }
    let signal = &c.strategy.parameters.signal_symbol;
    let last = crate::brokers::sources::local_data(loaded, clock.now_utc())
        .ok()
        .and_then(|data| data.last_date(signal).ok());
    match last {
        Some(last) if date > last => Err(Error::Usage(format!(
            "--as-of {date} is after the last local bar ({signal} ends {last} in {}): there \
             are no prices for that day; use a session up to {last}, or set `data.source: \
             schwab` for today's",
            loaded.data_dir().display()
        ))),
        _ => Ok(()),
    }
}

/// A command that changes the account of `mode` may repeat its last session or go
/// forward, never back.
pub fn refuse_going_back(paths: &StatePaths, mode: Mode, date: NaiveDate) -> Result<()> {
    match last_session(paths) {
        Some(last) if date < last => Err(Error::Usage(format!(
            "--as-of {date} is before {last}, the last session the {} account completed: \
             its history only goes forward",
            mode.as_str()
        ))),
        _ => Ok(()),
    }
}

/// The clock of a command that changes the account of `mode` (the emergency exit, a
/// simulated deposit): `--as-of` when given (checked as above), else on the bundled bars
/// the close of the account's last completed session (before its first run, the newest
/// moment the bars can price), else `clock`. Its day names the command's log file
/// ([`crate::support::logging::name_day`]).
pub fn account_clock(
    loaded: &Loaded,
    mode: Mode,
    as_of: Option<AsOfMoment>,
    clock: SharedClock,
) -> Result<SharedClock> {
    let paths = StatePaths::new(loaded, mode);
    let offline = loaded.config.data.source == DataSource::Local;
    let clock: SharedClock = match as_of {
        Some(moment) => {
            if mode == Mode::Live {
                return Err(Error::Usage(
                    "--as-of is refused in live mode: live orders happen now".into(),
                ));
            }
            if !offline {
                return Err(Error::Usage(
                    "--as-of needs offline data (data.source: local)".into(),
                ));
            }
            refuse_future(moment.date, &clock)?;
            refuse_past_bars(loaded, moment.date, &clock)?;
            refuse_going_back(&paths, mode, moment.date)?;
            let fixed =
                super::as_of_clock(loaded, moment.date, moment.time).map_err(Error::Usage)?;
            Arc::new(fixed)
        }
        None if offline => {
            let at = match clock_session(&paths).and_then(calendar::session_hours) {
                Some(hours) => hours.close.with_timezone(&Utc),
                // No run yet: the newest moment the bars can price.
                None => crate::brokers::sources::quote_instant(loaded, clock.as_ref())?,
            };
            Arc::new(FixedClock(at))
        }
        None => clock,
    };
    // The command's log file is named by this day, not by the machine's.
    crate::support::logging::name_day(clock.today_et());
    Ok(clock)
}
