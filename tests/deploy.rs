//! Deployment files, completions and the man page, and `jutsu report`.

use crate::common;

use crate::common::{jutsu, run};

#[test]
fn systemd_timer_runs_in_new_york_time_on_weekdays() {
    let timer = std::fs::read_to_string("deploy/systemd/jutsu-trade.timer").unwrap();
    let calendars: Vec<&str> = timer
        .lines()
        .filter(|l| l.starts_with("OnCalendar="))
        .collect();
    assert_eq!(
        calendars,
        [
            "OnCalendar=Mon..Fri 12:49 America/New_York",
            "OnCalendar=Mon..Fri 15:49 America/New_York"
        ]
    );
    let service = std::fs::read_to_string("deploy/systemd/jutsu-trade.service").unwrap();
    assert!(service.contains("EnvironmentFile=/etc/jutsu/jutsu.env"));
    assert!(service.contains("ExecStart=/opt/jutsu/jutsu trade"));
    let env = std::fs::read_to_string("deploy/jutsu.env.example").unwrap();
    assert!(
        env.contains("SCHWAB_APP_KEY=\n") && env.contains("SCHWAB_APP_SECRET=\n"),
        "the example holds no values"
    );
}

#[test]
fn completions_and_man_page_come_from_the_cli_definitions() {
    let (code, stdout, _) = run(jutsu().args(["completions", "bash"]));
    assert_eq!(code, 0);
    for command in [
        "trade",
        "validate",
        "emergency-exit",
        "backtest",
        "calendar",
    ] {
        assert!(stdout.contains(command), "{command}");
    }
    let (code, stdout, _) = run(jutsu().arg("man"));
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with(".ie") || stdout.contains(".TH jutsu"),
        "{}",
        &stdout[..200.min(stdout.len())]
    );
    assert!(stdout.contains("emergency\\-exit"), "roff escapes dashes");
    let (_, help, _) = run(jutsu().arg("--help"));
    assert!(help.contains("4  execution incomplete"), "{help}");
}

#[test]
fn report_tracks_the_backtest_exactly_when_settings_match() {
    // The report's backtest reads data.dir: the shared bars, like the trades.
    let (dir, config) =
        common::paper_config("execution:\n  min_trade_pct: 0\n  max_buying_power_pct: 100\n");
    let cfg = config.to_str().unwrap();
    let days: Vec<String> = jutsu::domain::calendar::sessions(
        "2025-11-03".parse().unwrap(),
        "2025-12-31".parse().unwrap(),
    )
    .map(|d| d.to_string())
    .collect();
    for day in &days {
        assert_eq!(
            run(jutsu().args(["-c", cfg, "-q", "trade", "--as-of", day])).0,
            0,
            "{day}"
        );
    }
    let html = dir.path().join("report.html");
    let csv = dir.path().join("report.csv");
    let (code, stdout, stderr) = run(jutsu().args([
        "-c",
        cfg,
        "report",
        "--html",
        html.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!("{} sessions 2025-11-03 .. 2025-12-31", days.len())),
        "{stdout}"
    );
    assert!(
        stdout.contains("tracking vs backtest +0.00 points"),
        "{stdout}"
    );
    let rows = common::read_csv(&csv);
    assert_eq!(rows.len(), days.len());
    for r in &rows {
        assert_eq!(r["equity"], r["backtest_equity"], "{}", r["date"]);
        assert_eq!(r["tracking_pct"], "0", "{}", r["date"]);
    }
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(
        page.matches("<polyline").count(),
        3,
        "the account, the backtest, buy and hold"
    );
    assert_eq!(page.matches("http").count(), 0, "no URL: nothing to fetch");
    assert!(
        !page.contains("<script") && !page.contains("<link"),
        "no external assets"
    );
}

/// A plain cron in `zone` (no CRON_TZ: Debian's and Ubuntu's cron ignore it), fed the lines
/// `jutsu schedule crontab --zone` prints: for every session 2026-2035, exactly one start lands
/// in its run window (from the early tolerance before the run to the run instant), early
/// closes included.
fn plain_cron_gives_each_session_one_start(zone: &str) {
    use chrono::{Datelike, TimeZone};
    let (code, text, stderr) = run(jutsu()
        .env("JUTSU_NOW", "2026-01-01T12:00:00Z")
        .args(["schedule", "crontab", "--zone", zone]));
    assert_eq!(code, 0, "{stderr}");
    assert!(!text.contains("CRON_TZ"), "{text}");
    let tz: chrono_tz::Tz = zone.parse().unwrap();
    let lines: Vec<(u32, u32, Vec<u32>)> = text
        .lines()
        .filter(|l| l.contains("jutsu trade"))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!((f[2], f[3]), ("*", "*"), "{l}");
            let days: Vec<u32> = match f[4].split_once('-') {
                Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).collect(),
                None => f[4].split(',').map(|d| d.parse().unwrap()).collect(),
            };
            (f[0].parse().unwrap(), f[1].parse().unwrap(), days)
        })
        .collect();
    assert!(!lines.is_empty() && lines.len() <= 8, "{text}");
    // Every start the cron makes over the period, as instants.
    let mut starts = Vec::new();
    let mut day: chrono::NaiveDate = "2025-12-31".parse().unwrap();
    while day <= "2036-01-01".parse().unwrap() {
        for (minute, hour, days) in &lines {
            if days.contains(&day.weekday().num_days_from_sunday()) {
                let local = day.and_hms_opt(*hour, *minute, 0).unwrap();
                if let Some(t) = tz.from_local_datetime(&local).earliest() {
                    starts.push(t.with_timezone(&chrono::Utc));
                }
            }
        }
        day = day.succ_opt().unwrap();
    }
    let s = &jutsu::config::parse("").unwrap().schedule;
    let mut early_closes = 0;
    for session in jutsu::domain::calendar::sessions(
        "2026-01-01".parse().unwrap(),
        "2035-12-31".parse().unwrap(),
    ) {
        let hours = jutsu::domain::calendar::session_hours(session).unwrap();
        let run_at = hours
            .run_at(s.minutes_before_close)
            .with_timezone(&chrono::Utc);
        let opens = run_at - chrono::Duration::minutes(s.early_tolerance_minutes.into());
        let inside = starts
            .iter()
            .filter(|t| **t >= opens && **t <= run_at)
            .count();
        assert_eq!(
            inside, 1,
            "{zone}: {session} gets {inside} starts in its window"
        );
        if hours.close.format("%H:%M").to_string() == "13:00" {
            early_closes += 1;
        }
    }
    assert!(
        early_closes >= 20,
        "early closes are in the period: {early_closes}"
    );
}

#[test]
fn a_plain_cron_in_utc_starts_every_session_once() {
    plain_cron_gives_each_session_one_start("UTC");
}

#[test]
fn a_plain_cron_in_berlin_starts_every_session_once() {
    plain_cron_gives_each_session_one_start("Europe/Berlin");
}

#[test]
fn a_plain_cron_in_tokyo_starts_every_session_once_on_the_next_local_day() {
    // 15:50 in New York is the next morning in Tokyo: the weekdays move to Tuesday..Saturday.
    plain_cron_gives_each_session_one_start("Asia/Tokyo");
}

#[test]
fn the_shipped_crontab_is_the_utc_one() {
    let (_, generated, _) = run(jutsu()
        .env("JUTSU_NOW", "2026-01-01T12:00:00Z")
        .args(["schedule", "crontab", "--zone", "UTC"]));
    let shipped = std::fs::read_to_string("deploy/crontab").unwrap();
    let schedule = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.contains("./jutsu"))
            .map(String::from)
            .collect()
    };
    assert_eq!(
        schedule(&shipped),
        schedule(&generated),
        "regenerate deploy/crontab with `jutsu schedule crontab --zone UTC`"
    );
}
