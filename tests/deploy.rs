//! Deployment files, completions and the man page, and `jutsu report`.

use crate::common;

use crate::common::{jutsu, run};
use chrono::{NaiveTime, Timelike};

/// The trade lines of deploy/crontab: (minute, hours, weekdays, command).
fn crontab_trade_lines() -> Vec<(u32, Vec<u32>, String, String)> {
    let text = std::fs::read_to_string("deploy/crontab").unwrap();
    assert!(
        text.lines().any(|l| l.trim() == "CRON_TZ=America/New_York"),
        "{text}"
    );
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.contains('='))
        .filter(|l| l.contains("jutsu trade"))
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            assert!(fields.len() > 5, "{l}");
            let minute: u32 = fields[0].parse().unwrap();
            let hours: Vec<u32> = fields[1].split(',').map(|h| h.parse().unwrap()).collect();
            assert_eq!((fields[2], fields[3]), ("*", "*"), "{l}");
            (minute, hours, fields[4].to_string(), fields[5..].join(" "))
        })
        .collect()
}

#[test]
fn crontab_starts_inside_the_run_window_of_every_session_2000_to_2035() {
    let lines = crontab_trade_lines();
    assert_eq!(lines.len(), 1);
    let (minute, hours, weekdays, command) = &lines[0];
    assert_eq!(weekdays, "1-5");
    assert!(command.contains("./jutsu trade"), "{command}");
    let config = jutsu::config::parse("").unwrap();
    let s = &config.schedule;
    let starts: Vec<NaiveTime> = hours
        .iter()
        .map(|h| NaiveTime::from_hms_opt(*h, *minute, 0).unwrap())
        .collect();
    let mut checked = 0;
    for day in jutsu::domain::calendar::sessions(
        "2000-01-01".parse().unwrap(),
        "2035-12-31".parse().unwrap(),
    ) {
        let hours = jutsu::domain::calendar::session_hours(day).unwrap();
        let run_at = hours.run_at(s.minutes_before_close);
        let opens = (run_at - chrono::Duration::minutes(s.early_tolerance_minutes.into())).time();
        let due = run_at.time();
        assert!(
            starts.iter().any(|t| *t >= opens && *t <= due),
            "{day}: no cron start between {opens} and {due}"
        );
        checked += 1;
    }
    assert!(checked > 9000);
    // And a start on a regular day at 12:49 is simply too early (exit 0, nothing done).
    assert!(starts.iter().any(|t| t.hour() == 12));
}

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
