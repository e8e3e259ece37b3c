//! The NYSE trading calendar in America/New_York.
//!
//! Written from the exchange's published rules rather than a table, so it holds for any year:
//! the nine regular holidays with their weekend observance rules (Juneteenth from 2022), the
//! one-off closures since 2000, and the 13:00 early closes (the day before Independence Day,
//! the day after Thanksgiving, Christmas Eve) with their historical exceptions. Checked
//! against published NYSE lists from 2000 to 2035 in the tests.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Weekday};
use chrono_tz::America::New_York;
use chrono_tz::Tz;

/// Closures that no rule explains (national days of mourning, weather, 9/11).
const SPECIAL_CLOSURES: [(i32, u32, u32); 10] = [
    (2001, 9, 11),
    (2001, 9, 12),
    (2001, 9, 13),
    (2001, 9, 14),
    (2004, 6, 11),  // President Reagan
    (2007, 1, 2),   // President Ford
    (2012, 10, 29), // Hurricane Sandy
    (2012, 10, 30),
    (2018, 12, 5), // President G. H. W. Bush
    (2025, 1, 9),  // President Carter
];

/// Early closes that no rule explains.
const SPECIAL_EARLY_CLOSES: [(i32, u32, u32); 1] = [
    (2003, 12, 26), // the Friday after Christmas 2003
];

/// What kind of day a date is for the NYSE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind {
    /// Saturday or Sunday.
    Weekend,
    /// A weekday on which the exchange is closed; the name says why.
    Holiday(&'static str),
    /// A full session, 09:30 to 16:00.
    Regular,
    /// A session that closes at 13:00.
    EarlyClose,
}

/// Open and close of one session, in America/New_York.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionHours {
    /// The session's date.
    pub date: NaiveDate,
    /// The opening bell.
    pub open: DateTime<Tz>,
    /// The closing bell (13:00 on early-close days).
    pub close: DateTime<Tz>,
}

impl SessionHours {
    /// The instant the daily run should happen: `minutes_before_close` before the close.
    pub fn run_at(&self, minutes_before_close: u32) -> DateTime<Tz> {
        self.close - Duration::minutes(i64::from(minutes_before_close))
    }
}

/// Classifies `date`.
pub fn day_kind(date: NaiveDate) -> DayKind {
    if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        return DayKind::Weekend;
    }
    if let Some(name) = holiday_name(date) {
        return DayKind::Holiday(name);
    }
    if is_early_close(date) {
        DayKind::EarlyClose
    } else {
        DayKind::Regular
    }
}

/// True when the exchange holds a session on `date`.
pub fn is_session(date: NaiveDate) -> bool {
    matches!(day_kind(date), DayKind::Regular | DayKind::EarlyClose)
}

/// Open and close of the session on `date`, or `None` when there is none.
pub fn session_hours(date: NaiveDate) -> Option<SessionHours> {
    let close = match day_kind(date) {
        DayKind::Regular => NaiveTime::from_hms_opt(16, 0, 0)?,
        DayKind::EarlyClose => NaiveTime::from_hms_opt(13, 0, 0)?,
        DayKind::Weekend | DayKind::Holiday(_) => return None,
    };
    let open = NaiveTime::from_hms_opt(9, 30, 0)?;
    // Sessions never straddle a DST change (those happen at 02:00 on Sundays), so the local
    // times always exist and are unambiguous.
    let at = |t: NaiveTime| New_York.from_local_datetime(&date.and_time(t)).single();
    Some(SessionHours {
        date,
        open: at(open)?,
        close: at(close)?,
    })
}

/// The first session strictly after `date`.
pub fn next_session(date: NaiveDate) -> NaiveDate {
    let mut d = date;
    loop {
        d = d.succ_opt().unwrap_or(d);
        if is_session(d) {
            return d;
        }
    }
}

/// The last session strictly before `date`.
pub fn previous_session(date: NaiveDate) -> NaiveDate {
    let mut d = date;
    loop {
        d = d.pred_opt().unwrap_or(d);
        if is_session(d) {
            return d;
        }
    }
}

/// Every session from `from` to `to`, both included.
pub fn sessions(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    let mut year = YearHolidays {
        year: i32::MIN,
        closed: Vec::new(),
    };
    from.iter_days()
        .take_while(move |d| *d <= to)
        .filter(move |d| year.is_session(*d))
}

fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    // Callers only pass valid dates (fixed days of the month, or computed in range).
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or(NaiveDate::MIN)
}

/// The `n`-th (1-based) `weekday` of a month.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n as u8).unwrap_or(NaiveDate::MIN)
}

/// The last `weekday` of a month.
fn last_weekday(year: i32, month: u32, weekday: Weekday) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, 5)
        .unwrap_or_else(|| nth_weekday(year, month, weekday, 4))
}

/// Easter Sunday (Gregorian), by the anonymous "Meeus/Jones/Butcher" algorithm.
fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    ymd(year, month as u32, day as u32)
}

/// A fixed-date holiday moved off the weekend: Saturday to Friday, Sunday to Monday.
fn observed(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Sat => date - Duration::days(1),
        Weekday::Sun => date + Duration::days(1),
        _ => date,
    }
}

/// The name of the holiday that closes the exchange on the weekday `date`, if any.
fn holiday_name(date: NaiveDate) -> Option<&'static str> {
    holidays_of(date.year())
        .into_iter()
        .find(|(_, day)| *day == date)
        .map(|(name, _)| name)
}

/// The weekdays of `y` on which the exchange is closed, with their names: every date
/// [`holiday_name`] can name lies in its own year (the observed days never cross a year:
/// a Saturday New Year is not observed on the Friday before).
fn holidays_of(y: i32) -> Vec<(&'static str, NaiveDate)> {
    let mut out: Vec<(&'static str, NaiveDate)> = SPECIAL_CLOSURES
        .iter()
        .filter(|(year, _, _)| *year == y)
        .map(|&(_, m, d)| ("special closure", ymd(y, m, d)))
        .collect();
    let new_year = ymd(y, 1, 1);
    if new_year.weekday() != Weekday::Sat {
        out.push(("New Year's Day", observed(new_year)));
    }
    let fixed: [(&'static str, NaiveDate, bool); 3] = [
        ("Juneteenth", ymd(y, 6, 19), y >= 2022),
        ("Independence Day", ymd(y, 7, 4), true),
        ("Christmas Day", ymd(y, 12, 25), true),
    ];
    out.extend(
        fixed
            .into_iter()
            .filter(|(_, _, in_force)| *in_force)
            .map(|(name, day, _)| (name, observed(day))),
    );
    out.extend([
        (
            "Martin Luther King Jr. Day",
            nth_weekday(y, 1, Weekday::Mon, 3),
        ),
        ("Washington's Birthday", nth_weekday(y, 2, Weekday::Mon, 3)),
        ("Good Friday", easter_sunday(y) - Duration::days(2)),
        ("Memorial Day", last_weekday(y, 5, Weekday::Mon)),
        ("Labor Day", nth_weekday(y, 9, Weekday::Mon, 1)),
        ("Thanksgiving Day", nth_weekday(y, 11, Weekday::Thu, 4)),
    ]);
    out
}

/// The sessions of one year at a time, the year's holidays computed once (the walk of
/// [`sessions`] over many years, as every bar file's check makes it).
struct YearHolidays {
    year: i32,
    closed: Vec<NaiveDate>,
}

impl YearHolidays {
    fn is_session(&mut self, date: NaiveDate) -> bool {
        if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            return false;
        }
        if date.year() != self.year {
            self.year = date.year();
            self.closed = holidays_of(self.year).into_iter().map(|(_, d)| d).collect();
        }
        !self.closed.contains(&date)
    }
}

/// True when the session on the weekday `date` (not a holiday) closes at 13:00.
fn is_early_close(date: NaiveDate) -> bool {
    let y = date.year();
    let july4 = ymd(y, 7, 4);
    let before_independence = match july4.weekday() {
        // July 3 closes early when it is a Monday, Tuesday or Thursday.
        Weekday::Tue | Weekday::Wed | Weekday::Fri => date == ymd(y, 7, 3),
        // With July 4 on a Thursday: Friday July 5 before 2013, Wednesday July 3 since.
        Weekday::Thu if y < 2013 => date == ymd(y, 7, 5),
        Weekday::Thu => date == ymd(y, 7, 3),
        _ => false,
    };
    let after_thanksgiving = date == nth_weekday(y, 11, Weekday::Thu, 4) + Duration::days(1);
    // Christmas Eve on a Monday to Thursday (on a Friday it is the observed holiday).
    let christmas_eve = date == ymd(y, 12, 24);
    let special = SPECIAL_EARLY_CLOSES.contains(&(y, date.month(), date.day()));
    before_independence || after_thanksgiving || christmas_eve || special
}

/// The sessions after `last_done` whose run instant (plus the late tolerance) has passed at
/// `now`: each one a run should have traded and did not. None without a completed session.
pub fn missed_sessions(
    last_done: Option<NaiveDate>,
    now: DateTime<Tz>,
    minutes_before_close: u32,
    late_tolerance_minutes: u32,
) -> Vec<NaiveDate> {
    let mut missed = Vec::new();
    let Some(from) = last_done else {
        return missed;
    };
    let mut day = next_session(from);
    while day <= now.date_naive() && missed.len() < 1000 {
        let due = session_hours(day).map(|h| {
            h.run_at(minutes_before_close)
                + chrono::Duration::minutes(late_tolerance_minutes.into())
        });
        if due.is_some_and(|t| t < now) {
            missed.push(day);
        }
        day = next_session(day);
    }
    missed
}

/// Hours of margin wanted between the end of the Schwab login and the run it must serve.
pub const LOGIN_MARGIN_HOURS: i64 = 2;

/// The next run instant at `now`: today's if it is still ahead, else the next session's.
pub fn next_run(now: DateTime<Tz>, minutes_before_close: u32) -> Option<DateTime<Tz>> {
    let today = now.date_naive();
    let day = match session_hours(today) {
        Some(h) if h.run_at(minutes_before_close) > now => today,
        _ => next_session(today),
    };
    session_hours(day).map(|h| h.run_at(minutes_before_close))
}

/// True when a login ending at `login_ends` would not serve the run at `run` with
/// [`LOGIN_MARGIN_HOURS`] to spare.
pub fn login_ends_before(login_ends: DateTime<Tz>, run: DateTime<Tz>) -> bool {
    login_ends < run + Duration::hours(LOGIN_MARGIN_HOURS)
}

/// Where a plain cron (one that knows only the machine's zone) must fire so that a start
/// lands `lead_minutes` before the run of every session from `first` to `last`: each local
/// wall-clock time, with the local weekdays (0 = Sunday, as cron counts) it is needed on.
/// The US and the machine's zone change their clocks on different days, so a time appears
/// for each offset between them; jutsu itself decides which start is the run.
pub fn local_fire_times(
    zone: Tz,
    first: NaiveDate,
    last: NaiveDate,
    minutes_before_close: u32,
    lead_minutes: u32,
) -> std::collections::BTreeMap<NaiveTime, std::collections::BTreeSet<u32>> {
    let mut out: std::collections::BTreeMap<NaiveTime, std::collections::BTreeSet<u32>> =
        Default::default();
    for day in sessions(first, last) {
        let Some(hours) = session_hours(day) else {
            continue;
        };
        let start =
            hours.run_at(minutes_before_close) - chrono::Duration::minutes(lead_minutes.into());
        let local = start.with_timezone(&zone);
        out.entry(local.time())
            .or_default()
            .insert(local.weekday().num_days_from_sunday());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn easter_matches_known_dates() {
        for (year, easter) in [
            (2000, "2000-04-23"),
            (2008, "2008-03-23"),
            (2011, "2011-04-24"),
            (2019, "2019-04-21"),
            (2024, "2024-03-31"),
            (2025, "2025-04-20"),
            (2035, "2035-03-25"),
        ] {
            assert_eq!(easter_sunday(year), d(easter), "{year}");
        }
    }

    #[test]
    fn last_monday_of_may() {
        assert_eq!(last_weekday(2025, 5, Weekday::Mon), d("2025-05-26"));
        assert_eq!(last_weekday(2021, 5, Weekday::Mon), d("2021-05-31"));
        assert_eq!(last_weekday(2022, 5, Weekday::Mon), d("2022-05-30"));
    }
}
