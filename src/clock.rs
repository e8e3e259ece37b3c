//! The injectable clock: every read of "now" goes through [`Clock`], so tests can run any
//! date and time of day (a DST change, a holiday, an early close).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::America::New_York;
use chrono_tz::Tz;

/// A source of the current instant.
pub trait Clock {
    /// The current instant in UTC.
    fn now_utc(&self) -> DateTime<Utc>;

    /// The current instant in America/New_York, the zone of all trading logic.
    fn now_et(&self) -> DateTime<Tz> {
        self.now_utc().with_timezone(&New_York)
    }

    /// Today's date in America/New_York.
    fn today_et(&self) -> NaiveDate {
        self.now_et().date_naive()
    }

    /// Waits `duration` (a stopped clock does not wait).
    fn pause(&self, duration: std::time::Duration) {
        let _ = duration;
    }
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_utc(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn pause(&self, duration: std::time::Duration) {
        std::thread::sleep(duration);
    }
}

/// A clock stopped at one instant.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl FixedClock {
    /// A clock fixed at a wall-clock time in America/New_York. `None` when that local time
    /// does not exist (it falls in the spring-forward gap); the earlier instant is taken when
    /// it is ambiguous (the autumn fall-back hour).
    pub fn at_et(local: NaiveDateTime) -> Option<Self> {
        New_York
            .from_local_datetime(&local)
            .earliest()
            .map(|t| FixedClock(t.with_timezone(&Utc)))
    }
}

impl Clock for FixedClock {
    fn now_utc(&self) -> DateTime<Utc> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_reports_new_york_date_across_utc_midnight() {
        // 2025-03-10 01:30 UTC is still 2025-03-09 in New York (EDT started that morning).
        let clock = FixedClock(Utc.with_ymd_and_hms(2025, 3, 10, 1, 30, 0).unwrap());
        assert_eq!(
            clock.today_et(),
            NaiveDate::from_ymd_opt(2025, 3, 9).unwrap()
        );
    }

    #[test]
    fn at_et_refuses_the_spring_forward_gap() {
        let gap = NaiveDate::from_ymd_opt(2025, 3, 9)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert!(FixedClock::at_et(gap).is_none());
    }
}
