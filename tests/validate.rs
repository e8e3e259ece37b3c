//! `jutsu validate` on the embedded default: quote = close gives GREEN at 100 %; quotes
//! shifted by a known amount report exactly that drift.

use crate::common;

use crate::common::{jutsu, run};

/// A paper configuration on the bundled bars (`common::paper_config`); `quote` is `close` or `open`.
fn env(quote: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    common::paper_config(&format!("  local_quote: {quote}\n"))
}

const SESSIONS: [&str; 8] = [
    "2025-12-03",
    "2025-12-04",
    "2025-12-05",
    "2025-12-08",
    "2025-12-09",
    "2025-12-10",
    "2025-12-11",
    "2025-12-12",
];

#[test]
fn every_session_traded_on_the_close_validates_green_at_100_percent() {
    let (dir, config) = env("close");
    let cfg = config.to_str().unwrap();
    for day in SESSIONS {
        let (code, stdout, _) = run(jutsu().args(["-c", cfg, "trade", "--as-of", day]));
        assert_eq!(code, 0, "{day}: {stdout}");
    }
    for day in SESSIONS {
        let (code, stdout, stderr) = run(jutsu().args(["-c", cfg, "validate", "--date", day]));
        assert_eq!(code, 0, "{day}: {stdout}{stderr}");
        assert!(
            stdout.contains(&format!(
                "validate {day} (paper): GREEN  logic match 100%  max drift 0%"
            )),
            "{stdout}"
        );
    }
    let rows =
        jutsu::storage::validation::read_rows(&dir.path().join("logs/validation.csv")).unwrap();
    assert_eq!(rows.len(), SESSIONS.len());
    assert!(rows.iter().all(|r| r.verdict == "GREEN"));
    let (_, stdout, _) = run(jutsu().args(["-c", cfg, "validate", "--date", "2025-12-12"]));
    assert!(
        stdout.contains("last 8 sessions: logic match 100%, drift mean 0% worst 0%"),
        "{stdout}"
    );
    assert!(stdout.contains("sessions with no run 0"), "{stdout}");
    // 2025-12-12 rebalanced (cell 1 to 3): its fills paid the simulator's 0.1 % against the
    // close, buys and sells alike.
    assert!(
        stdout.contains("fill slippage vs close: TQQQ +0.1%, QQQ +0.1% (mean 0.1%)"),
        "{stdout}"
    );
}

#[test]
fn quotes_taken_at_the_open_report_the_open_to_close_drift() {
    let (dir, config) = env("open");
    let cfg = config.to_str().unwrap();
    assert_eq!(
        run(jutsu().args(["-c", cfg, "trade", "--as-of", "2025-12-12"])).0,
        0
    );
    let (_, stdout, stderr) = run(jutsu().args(["-c", cfg, "validate", "--date", "2025-12-12"]));
    let bars = jutsu::storage::bars::load_csv(&common::data_dir().join("QQQ.csv")).unwrap();
    let bar = bars
        .iter()
        .find(|b| b.date.to_string() == "2025-12-12")
        .unwrap();
    let expected =
        ((bar.open - bar.close) / bar.close * rust_decimal::Decimal::ONE_HUNDRED).round_dp(4);
    assert!(
        stdout.contains(&format!("QQQ {:+}%", expected.normalize())),
        "expected QQQ drift {expected}: {stdout}{stderr}"
    );
    let _ = dir;
}

#[test]
fn a_session_without_a_run_is_no_run() {
    let (dir, config) = env("close");
    let (code, stdout, _) = run(jutsu().args([
        "-c",
        config.to_str().unwrap(),
        "validate",
        "--date",
        "2025-12-12",
    ]));
    assert_eq!(code, 1);
    assert!(stdout.contains("NO_RUN"), "{stdout}");
    let rows =
        jutsu::storage::validation::read_rows(&dir.path().join("logs/validation.csv")).unwrap();
    assert_eq!(rows[0].verdict, "NO_RUN");
    let (code, _, stderr) = run(jutsu().args([
        "-c",
        config.to_str().unwrap(),
        "validate",
        "--date",
        "2025-12-13",
    ]));
    assert_eq!(code, 2);
    assert!(stderr.contains("2025-12-13 is not a session"), "{stderr}");
}

#[test]
fn a_session_validated_again_replaces_its_row_and_bad_dates_are_refused() {
    let (dir, config) = env("close");
    let cfg = config.to_str().unwrap();
    for day in ["2025-12-10", "2025-12-11"] {
        assert_eq!(run(jutsu().args(["-c", cfg, "trade", "--as-of", day])).0, 0);
    }
    for day in ["2025-12-11", "2025-12-10", "2025-12-11"] {
        let (code, stdout, stderr) = run(jutsu().args(["-c", cfg, "validate", "--date", day]));
        assert_eq!(code, 0, "{stdout}{stderr}");
    }
    // A dry run's validation of the same day is its own row.
    let (_, stdout, _) = run(jutsu().args([
        "-c",
        cfg,
        "validate",
        "--date",
        "2025-12-11",
        "--mode",
        "dry_run",
    ]));
    assert!(stdout.contains("NO_RUN"), "{stdout}");
    let rows =
        jutsu::storage::validation::read_rows(&dir.path().join("logs/validation.csv")).unwrap();
    let keys: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.date.to_string(), r.mode.clone()))
        .collect();
    let want: Vec<(String, String)> = [
        ("2025-12-10", "paper"),
        ("2025-12-11", "dry_run"),
        ("2025-12-11", "paper"),
    ]
    .iter()
    .map(|(d, m)| (d.to_string(), m.to_string()))
    .collect();
    assert_eq!(keys, want);
    assert_eq!(rows.len(), 3, "{keys:?}");
    // The rolling figures count the paper sessions up to the date, once each.
    let (_, stdout, _) = run(jutsu().args(["-c", cfg, "validate", "--date", "2025-12-10"]));
    assert!(stdout.contains("last 1 sessions"), "{stdout}");
    let (code, _, stderr) = run(jutsu().args(["-c", cfg, "validate", "--date", "2025-12-25"]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("is not a session (a weekend or an NYSE holiday)"),
        "{stderr}"
    );
    let (code, _, stderr) = run(jutsu().env("JUTSU_NOW", "2025-12-12T21:30:00Z").args([
        "-c",
        cfg,
        "validate",
        "--date",
        "2025-12-15",
    ]));
    assert_eq!(code, 2);
    assert!(stderr.contains("2025-12-15 is in the future"), "{stderr}");
}

#[test]
fn validate_without_a_date_takes_the_accounts_last_session_not_the_machines_day() {
    let (dir, config) = env("close");
    let cfg = config.to_str().unwrap();
    assert_eq!(
        run(jutsu().args(["-c", cfg, "trade", "--as-of", "2025-12-11"])).0,
        0
    );
    assert_eq!(
        run(jutsu().args(["-c", cfg, "trade", "--as-of", "2025-12-12"])).0,
        0
    );
    let (code, stdout, stderr) = run(jutsu().args(["-c", cfg, "validate"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("2025-12-12"), "{stdout}");
    let rows = common::read_csv(&dir.path().join("logs/validation.csv"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["date"], "2025-12-12");
    assert_eq!(rows[0]["verdict"], "GREEN");
}

#[test]
fn a_session_the_account_has_not_reached_is_not_recorded_and_validation_is_logged() {
    let (dir, config) = env("close");
    let cfg = config.to_str().unwrap();
    assert_eq!(
        run(jutsu().args(["-c", cfg, "trade", "--as-of", "2025-12-10"])).0,
        0
    );
    let (code, stdout, _) = run(jutsu().args(["-c", cfg, "validate", "--date", "2025-12-10"]));
    assert_eq!(code, 0, "{stdout}");
    // 12-11 is after the account's last run: NO_RUN on the screen, no row in the file.
    let (code, stdout, _) = run(jutsu().args(["-c", cfg, "validate", "--date", "2025-12-11"]));
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("has not reached it"), "{stdout}");
    let rows =
        jutsu::storage::validation::read_rows(&dir.path().join("logs/validation.csv")).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].verdict, "GREEN");
    // Each validation is a line of its session's log.
    let log = std::fs::read_to_string(dir.path().join("logs/jutsu.2025-12-10.log")).unwrap();
    assert!(log.contains("validate 2025-12-10: GREEN"), "{log}");
    let log = std::fs::read_to_string(dir.path().join("logs/jutsu.2025-12-11.log")).unwrap();
    assert!(log.contains("validate 2025-12-11: NO_RUN"), "{log}");
}
