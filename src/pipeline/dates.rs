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
use crate::storage::fsutil::Sealed;
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
pub fn last_session(paths: &StatePaths) -> Option<NaiveDate> {
    match State::load(&paths.state_file()) {
        Ok(Sealed::Good(state) | Sealed::Restored { value: state, .. }) => state.last_session,
        _ => None,
    }
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
/// moment the bars can price), else `clock`.
pub fn account_clock(
    loaded: &Loaded,
    mode: Mode,
    as_of: Option<AsOfMoment>,
    clock: SharedClock,
) -> Result<SharedClock> {
    let paths = StatePaths::new(loaded, mode);
    let offline = loaded.config.data.source == DataSource::Local;
    match as_of {
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
            refuse_going_back(&paths, mode, moment.date)?;
            let fixed =
                super::as_of_clock(loaded, moment.date, moment.time).map_err(Error::Usage)?;
            Ok(Arc::new(fixed))
        }
        None if offline => {
            let at = match last_session(&paths).and_then(calendar::session_hours) {
                Some(hours) => hours.close.with_timezone(&Utc),
                // No run yet: the newest moment the bars can price.
                None => crate::brokers::sources::quote_instant(loaded, clock.as_ref())?,
            };
            Ok(Arc::new(FixedClock(at)))
        }
        None => Ok(clock),
    }
}
