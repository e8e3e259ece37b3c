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
    assert!(
        help.lines().any(|l| l.trim_start().starts_with("man ")),
        "--help lists man: {help}"
    );
}

#[test]
fn report_tracks_the_backtest_exactly_when_settings_match() {
    // The report's backtest reads data.dir: the bundled bars, like the trades.
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

/// `deploy/install.sh` of the tests' binary (built with test hooks, so it takes
/// `--allow-test-hooks` in `options` to be installed) into a scratch root, as the current user
/// (no useradd, no systemctl).
fn install_into(root: &std::path::Path, options: &[&str]) -> (i32, String, String) {
    let user = String::from_utf8(
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    run(std::process::Command::new("bash")
        .arg("deploy/install.sh")
        .args([
            "--root",
            root.to_str().unwrap(),
            "--user",
            user.trim(),
            "--no-useradd",
        ])
        .args(["--binary", env!("CARGO_BIN_EXE_jutsu")])
        .args(options))
}

#[test]
fn a_binary_built_with_test_hooks_is_refused_by_the_release_guard_and_install_sh() {
    // The tests' jutsu has the test-hooks feature, like the target/release/jutsu that
    // `cargo test --release` leaves behind: it obeys JUTSU_TEST_KILL_AT.
    let refusal =
        "this binary was built with test hooks; rebuild with cargo build --release --locked";
    let (code, stdout, stderr) = run(std::process::Command::new("bash")
        .args(["deploy/release-guard", env!("CARGO_BIN_EXE_jutsu")]));
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("honours JUTSU_TEST_KILL_AT: {refusal}")),
        "{stderr}"
    );
    let root = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = install_into(root.path(), &[]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains(refusal), "{stderr}");
    assert!(stderr.contains("install.sh: nothing installed"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(root.path()).unwrap().count(),
        0,
        "nothing is written under the root"
    );
}

#[cfg(unix)]
#[test]
fn install_sh_lays_out_the_server_and_the_installed_tree_trades() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = install_into(root.path(), &["--allow-test-hooks"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let mode = |p: &str| {
        std::fs::metadata(root.path().join(p))
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(
        mode("etc/jutsu/jutsu.env"),
        0o600,
        "the secrets file is the user's only"
    );
    assert_eq!(mode("opt/jutsu/state"), 0o700);
    assert_eq!(mode("opt/jutsu/logs"), 0o700);
    assert_eq!(mode("opt/jutsu/config/jutsu.yaml"), 0o640);
    assert_eq!(mode("opt/jutsu/jutsu"), 0o755);
    for unit in [
        "jutsu-trade.timer",
        "jutsu-validate.timer",
        "jutsu-auth-check.timer",
        "jutsu-review.timer",
    ] {
        assert!(
            root.path().join("etc/systemd/system").join(unit).exists(),
            "{unit}"
        );
    }
    // The installed tree runs the embedded default on its own copy of the bars (the
    // as-traded files the tests check them against stay in the checkout).
    let opt = root.path().join("opt/jutsu");
    assert!(opt.join("data/QQQ.csv").exists() && opt.join("data/actions.csv").exists());
    assert!(!opt.join("data/QQQ.raw.csv").exists());
    let (code, stdout, _) = run(std::process::Command::new(opt.join("jutsu"))
        .current_dir(&opt)
        .args(["trade", "--as-of", "2025-12-12"]));
    assert_eq!(code, 0, "{stdout}");
    assert!(opt.join("state/paper/state.json").exists());
    assert!(stdout.contains("OK: rebalanced (first run)"), "{stdout}");
    // Installing again keeps the secrets and the configuration a user has filled in.
    std::fs::write(
        root.path().join("etc/jutsu/jutsu.env"),
        "SCHWAB_APP_KEY=mine\n",
    )
    .unwrap();
    std::fs::write(opt.join("config/jutsu.yaml"), "mode: dry_run\n").unwrap();
    assert_eq!(install_into(root.path(), &["--allow-test-hooks"]).0, 0);
    assert_eq!(
        std::fs::read_to_string(root.path().join("etc/jutsu/jutsu.env")).unwrap(),
        "SCHWAB_APP_KEY=mine\n"
    );
    assert_eq!(
        std::fs::read_to_string(opt.join("config/jutsu.yaml")).unwrap(),
        "mode: dry_run\n"
    );
}

#[test]
fn every_systemd_unit_runs_the_installed_binary_as_the_service_user() {
    let dir = std::path::Path::new("deploy/systemd");
    let mut timers = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if let Some(stem) = name.strip_suffix(".timer") {
            timers += 1;
            assert!(
                dir.join(format!("{stem}.service")).exists(),
                "{name} has no service"
            );
            assert!(
                text.contains("America/New_York"),
                "{name} runs in New York time"
            );
        } else {
            assert!(text.contains("ExecStart=/opt/jutsu/jutsu "), "{name}");
            assert!(text.contains("User=jutsu\n"), "{name}");
            assert!(
                text.contains("EnvironmentFile=/etc/jutsu/jutsu.env\n"),
                "{name}"
            );
            assert!(text.contains("ProtectSystem=strict\n"), "{name}");
        }
    }
    assert_eq!(timers, 4);
    let review = std::fs::read_to_string(dir.join("jutsu-review.timer")).unwrap();
    assert!(
        review.contains("OnCalendar=Sun 19:00 America/New_York\n"),
        "{review}"
    );
    let service = std::fs::read_to_string(dir.join("jutsu-review.service")).unwrap();
    assert!(
        service.contains("ExecStart=/opt/jutsu/jutsu review --send\n"),
        "{service}"
    );
    let auth = std::fs::read_to_string(dir.join("jutsu-auth-check.timer")).unwrap();
    assert!(
        auth.contains("OnCalendar=Sun 18:00 America/New_York\n"),
        "{auth}"
    );
    let service = std::fs::read_to_string(dir.join("jutsu-auth-check.service")).unwrap();
    assert!(
        service.contains("ExecStart=/opt/jutsu/jutsu auth status\n"),
        "{service}"
    );
}

#[test]
fn the_dockerfile_copies_files_that_exist_and_runs_unprivileged() {
    let text = std::fs::read_to_string("Dockerfile").unwrap();
    let mut copies = 0;
    for line in text
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        for source in &words[1..words.len() - 1] {
            assert!(
                std::path::Path::new(source).exists(),
                "COPY {source}: no such file"
            );
            copies += 1;
        }
    }
    assert!(copies >= 6, "{text}");
    let (build_stage, last_stage) = text.split_at(text.rfind("\nFROM ").unwrap());
    // The binary the image gets is the one the release guard accepted.
    let built = build_stage.find("\nRUN cargo build --release --locked\n");
    let guarded = build_stage.find("\nRUN bash deploy/release-guard target/release/jutsu\n");
    assert!(built.is_some() && guarded > built, "{build_stage}");
    assert!(
        last_stage.contains("\nCOPY --from=build /src/target/release/jutsu /opt/jutsu/jutsu\n"),
        "{last_stage}"
    );
    assert!(
        last_stage.contains("\nUSER jutsu\n"),
        "the image does not run as root"
    );
    assert!(
        last_stage.contains("ENTRYPOINT [\"/opt/jutsu/jutsu\"]"),
        "{last_stage}"
    );
    // The toolchain of the build stage is the pinned one.
    let pinned = std::fs::read_to_string("rust-toolchain.toml").unwrap();
    let channel = pinned.split('"').nth(1).unwrap();
    let minor = channel.rsplit_once('.').unwrap().0;
    assert!(
        text.contains(&format!("FROM rust:{minor}-bookworm AS build")),
        "{channel}"
    );
}
