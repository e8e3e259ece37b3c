//! The NYSE calendar against published holiday and early-close lists, and against the
//! session dates of the bundled market data (checked against XNYS in its provenance).

use crate::common;

use chrono::{NaiveDate, Timelike, Utc};
use jutsu::domain::calendar::{self, DayKind};

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

#[test]
fn known_holidays_are_closed() {
    let holidays = [
        ("2000-01-17", "Martin Luther King Jr. Day"),
        ("2000-04-21", "Good Friday"),
        ("2001-09-11", "special closure"),
        ("2001-09-14", "special closure"),
        ("2004-06-11", "special closure"),
        ("2004-12-24", "Christmas Day"), // Saturday Christmas observed on Friday
        ("2007-01-02", "special closure"),
        ("2008-03-21", "Good Friday"),
        ("2009-07-03", "Independence Day"), // Saturday July 4
        ("2010-12-24", "Christmas Day"),
        ("2012-01-02", "New Year's Day"), // Sunday New Year observed Monday
        ("2012-10-29", "special closure"),
        ("2012-10-30", "special closure"),
        ("2015-04-03", "Good Friday"),
        ("2015-07-03", "Independence Day"),
        ("2017-01-02", "New Year's Day"),
        ("2018-12-05", "special closure"),
        ("2020-05-25", "Memorial Day"),
        ("2021-07-05", "Independence Day"), // Sunday July 4 observed Monday
        ("2021-12-24", "Christmas Day"),
        ("2022-06-20", "Juneteenth"), // Sunday Juneteenth observed Monday
        ("2022-12-26", "Christmas Day"),
        ("2023-01-02", "New Year's Day"),
        ("2023-06-19", "Juneteenth"),
        ("2024-03-29", "Good Friday"),
        ("2025-01-09", "special closure"),
        ("2025-01-20", "Martin Luther King Jr. Day"),
        ("2025-02-17", "Washington's Birthday"),
        ("2025-09-01", "Labor Day"),
        ("2025-11-27", "Thanksgiving Day"),
        ("2026-04-03", "Good Friday"),
        ("2026-07-03", "Independence Day"),
        ("2027-06-18", "Juneteenth"), // Saturday Juneteenth observed Friday
        ("2027-12-24", "Christmas Day"),
        ("2033-04-15", "Good Friday"),
        ("2035-11-22", "Thanksgiving Day"),
    ];
    for (date, name) in holidays {
        assert_eq!(
            calendar::day_kind(d(date)),
            DayKind::Holiday(name),
            "{date}"
        );
        assert!(!calendar::is_session(d(date)));
        assert!(calendar::session_hours(d(date)).is_none());
    }
}

#[test]
fn days_that_look_like_holidays_but_are_sessions() {
    for date in [
        "2004-12-31", // New Year 2005 was a Saturday: not observed on the Friday
        "2010-12-31", // same for 2011
        "2021-12-31", // same for 2022
        "2021-06-18", // Juneteenth before 2022
        "2015-07-02", // Thursday before a Friday-observed July 4: a full day
        "2021-07-02", // Friday before a Monday-observed July 4: a full day
        "2010-12-23", // Thursday before a Friday-observed Christmas: a full day
        "2002-07-03", // before 2013, a Thursday July 4 shortened Friday July 5 instead
    ] {
        assert_eq!(calendar::day_kind(d(date)), DayKind::Regular, "{date}");
    }
    assert_eq!(calendar::day_kind(d("2025-12-13")), DayKind::Weekend);
    assert_eq!(calendar::day_kind(d("2025-12-14")), DayKind::Weekend);
}

#[test]
fn known_early_closes_end_at_13_00_and_run_at_12_55() {
    for date in [
        "2000-07-03",
        "2001-12-24",
        "2002-07-05",
        "2003-12-26",
        "2006-07-03",
        "2008-07-03",
        "2012-07-03",
        "2013-07-03",
        "2015-12-24",
        "2017-11-24",
        "2019-07-03",
        "2020-11-27",
        "2023-07-03",
        "2024-07-03",
        "2024-12-24",
        "2025-07-03",
        "2025-11-28",
        "2025-12-24",
        "2026-11-27",
        "2030-07-03",
        "2035-12-24",
    ] {
        assert_eq!(calendar::day_kind(d(date)), DayKind::EarlyClose, "{date}");
        let hours = calendar::session_hours(d(date)).unwrap();
        assert_eq!(hours.close.format("%H:%M").to_string(), "13:00", "{date}");
        assert_eq!(
            hours.run_at(5).format("%H:%M").to_string(),
            "12:55",
            "{date}"
        );
    }
}

#[test]
fn early_closes_of_2010_to_2026_are_exactly_the_published_list() {
    let published = [
        "2010-11-26",
        "2011-11-25",
        "2012-07-03",
        "2012-11-23",
        "2012-12-24",
        "2013-07-03",
        "2013-11-29",
        "2013-12-24",
        "2014-07-03",
        "2014-11-28",
        "2014-12-24",
        "2015-11-27",
        "2015-12-24",
        "2016-11-25",
        "2017-07-03",
        "2017-11-24",
        "2018-07-03",
        "2018-11-23",
        "2018-12-24",
        "2019-07-03",
        "2019-11-29",
        "2019-12-24",
        "2020-11-27",
        "2020-12-24",
        "2021-11-26",
        "2022-11-25",
        "2023-07-03",
        "2023-11-24",
        "2024-07-03",
        "2024-11-29",
        "2024-12-24",
        "2025-07-03",
        "2025-11-28",
        "2025-12-24",
        "2026-11-27",
        "2026-12-24",
    ];
    let ours: Vec<String> = calendar::sessions(d("2010-01-01"), d("2026-12-31"))
        .filter(|s| calendar::day_kind(*s) == DayKind::EarlyClose)
        .map(|s| s.to_string())
        .collect();
    assert_eq!(ours, published);
}

#[test]
fn sessions_equal_the_trading_days_of_the_bundled_data_2009_to_2025() {
    let bars = jutsu::storage::bars::load_csv(&common::data_dir().join("QQQ.csv")).unwrap();
    let data_days: Vec<NaiveDate> = bars.iter().map(|b| b.date).collect();
    let ours: Vec<NaiveDate> = calendar::sessions(d("2009-01-01"), d("2025-12-31")).collect();
    assert_eq!(ours.len(), data_days.len());
    assert_eq!(ours, data_days);
}

#[test]
fn open_and_close_follow_daylight_saving_time() {
    let utc_hour = |date: &str| {
        let h = calendar::session_hours(d(date)).unwrap();
        (
            h.open.with_timezone(&Utc).hour(),
            h.close.with_timezone(&Utc).hour(),
        )
    };
    assert_eq!(utc_hour("2025-03-07"), (14, 21)); // EST
    assert_eq!(utc_hour("2025-03-10"), (13, 20)); // first session after the spring change
    assert_eq!(utc_hour("2025-10-31"), (13, 20)); // EDT
    assert_eq!(utc_hour("2025-11-03"), (14, 21)); // first session after the autumn change
    assert_eq!(utc_hour("2007-03-12"), (13, 20)); // 2007: DST moved to March
}

#[test]
fn next_and_previous_session_skip_weekends_and_holidays() {
    assert_eq!(calendar::next_session(d("2025-12-24")), d("2025-12-26"));
    assert_eq!(calendar::next_session(d("2025-07-03")), d("2025-07-07"));
    assert_eq!(calendar::previous_session(d("2025-01-21")), d("2025-01-17"));
    assert_eq!(calendar::previous_session(d("2025-01-10")), d("2025-01-08"));
    assert_eq!(calendar::next_session(d("2012-10-26")), d("2012-10-31"));
    assert_eq!(calendar::previous_session(d("2026-01-01")), d("2025-12-31"));
}

#[test]
fn calendar_command_prints_csv_with_run_times() {
    let (code, stdout, stderr) = common::run(common::jutsu().args([
        "calendar",
        "--from",
        "2025-12-22",
        "--to",
        "2025-12-29",
        "--format",
        "csv",
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "date,open,close,run_at\n\
         2025-12-22,09:30,16:00,15:55\n\
         2025-12-23,09:30,16:00,15:55\n\
         2025-12-24,09:30,13:00,12:55\n\
         2025-12-26,09:30,16:00,15:55\n\
         2025-12-29,09:30,16:00,15:55\n"
    );
}

#[test]
fn calendar_command_refuses_reversed_range() {
    let (code, _, stderr) = common::run(common::jutsu().args([
        "calendar",
        "--from",
        "2025-12-22",
        "--to",
        "2025-12-01",
    ]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--to (2025-12-01) is before --from (2025-12-22)"),
        "{stderr}"
    );
}
