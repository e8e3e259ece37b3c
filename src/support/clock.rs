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

/// What one attempt of a [`retry`] came to.
#[derive(Debug)]
pub enum Attempt<T, E> {
    /// Done: the value.
    Done(T),
    /// Failed in a way worth trying again after `wait`.
    Again {
        /// The failure, returned if no retry is left.
        error: E,
        /// How long to wait before the next attempt.
        wait: std::time::Duration,
    },
    /// Failed for good.
    Fail(E),
}

/// The one retry loop of jutsu: calls `attempt(n)` (n = 0, 1, ...) until it is done, fails
/// for good, or asks again when `max_retries` retries were made; waits through `clock`
/// between attempts. A failure comes back with the number of attempts made.
pub fn retry<T, E>(
    clock: &dyn Clock,
    max_retries: u32,
    mut attempt: impl FnMut(u32) -> Attempt<T, E>,
) -> Result<T, (E, u32)> {
    let mut n = 0;
    loop {
        match attempt(n) {
            Attempt::Done(value) => return Ok(value),
            Attempt::Again { error: _, wait } if n < max_retries => {
                clock.pause(wait);
                n += 1;
            }
            Attempt::Again { error, .. } | Attempt::Fail(error) => return Err((error, n + 1)),
        }
    }
}

/// The one polling loop of jutsu: reads with `read` until `done` says the value is final or
/// `polls` more reads were made, waiting `interval` through `clock` between reads. Returns
/// the last value read (final or not); a failed read ends the poll with its error.
pub fn poll<T, E>(
    clock: &dyn Clock,
    interval: std::time::Duration,
    polls: u32,
    mut read: impl FnMut() -> Result<T, E>,
    done: impl Fn(&T) -> bool,
) -> Result<T, E> {
    let mut value = read()?;
    for _ in 0..polls {
        if done(&value) {
            break;
        }
        clock.pause(interval);
        value = read()?;
    }
    Ok(value)
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

    /// A clock that counts its pauses.
    struct Counting(std::cell::Cell<u32>);

    impl Clock for Counting {
        fn now_utc(&self) -> DateTime<Utc> {
            DateTime::<Utc>::UNIX_EPOCH
        }
        fn pause(&self, _: std::time::Duration) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn retry_stops_at_the_limit_and_waits_between_attempts_only() {
        let clock = Counting(std::cell::Cell::new(0));
        let again = |_| Attempt::<(), _>::Again {
            error: "busy",
            wait: std::time::Duration::from_secs(1),
        };
        assert_eq!(retry(&clock, 3, again), Err(("busy", 4)));
        assert_eq!(clock.0.get(), 3);
        let second = |n| {
            if n == 1 {
                Attempt::Done(n)
            } else {
                Attempt::Again {
                    error: "busy",
                    wait: std::time::Duration::ZERO,
                }
            }
        };
        assert_eq!(retry(&clock, 3, second), Ok(1));
        assert_eq!(
            retry(&clock, 3, |_| Attempt::<(), _>::Fail("no")),
            Err(("no", 1))
        );
    }

    #[test]
    fn poll_reads_until_final_or_out_of_polls() {
        let clock = Counting(std::cell::Cell::new(0));
        let mut reads = 0;
        let value = poll(
            &clock,
            std::time::Duration::from_secs(1),
            10,
            || -> Result<u32, ()> {
                reads += 1;
                Ok(reads)
            },
            |v| *v == 3,
        );
        assert_eq!(value, Ok(3));
        assert_eq!(clock.0.get(), 2);
        let mut reads = 0;
        let value = poll(
            &clock,
            std::time::Duration::ZERO,
            2,
            || -> Result<u32, ()> {
                reads += 1;
                Ok(reads)
            },
            |_| false,
        );
        assert_eq!(value, Ok(3), "the first read and two polls");
    }
}
