//! Every command dates what it does by the account, never by the machine: `--as-of` is
//! never after today and never before the last session the account completed, and without
//! it a paper account on the bundled bars lives at the close of its last session.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::Stdio;

use jutsu::domain::journal::Ledger;

use crate::common;

fn jutsu_in(config: &Path, args: &[&str]) -> (i32, String, String) {
    common::run(
        common::jutsu()
            .args(["-c", config.to_str().unwrap()])
            .args(args),
    )
}

#[test]
fn the_paper_exit_sells_at_the_close_of_the_accounts_last_session_and_history_never_runs_back() {
    let (dir, config) = common::paper_config("");
    assert_eq!(jutsu_in(&config, &["trade", "--as-of", "2025-12-17"]).0, 0);
    let (code, out, err) = jutsu_in(&config, &["emergency-exit", "--confirm"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("emergency exit at 2025-12-17 16:00 ET") || {
            let halt = std::fs::read_to_string(dir.path().join("state/halt")).unwrap();
            halt.contains("2025-12-17 16:00 ET")
        }
    );
    // Its ledger is the session's, started at that session's close, not on the machine's day.
    let exit = Ledger::load(&dir.path().join("state/paper/runs/2025-12-17.exit.json"))
        .unwrap()
        .unwrap();
    let started = exit.started_at.with_timezone(&chrono_tz::America::New_York);
    assert_eq!(
        started.format("%Y-%m-%d %H:%M").to_string(),
        "2025-12-17 16:00"
    );
    let runs: Vec<String> = std::fs::read_dir(dir.path().join("state/paper/runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        runs.iter().all(|r| r.starts_with("2025-12-17")),
        "nothing dated after the account's last session: {runs:?}"
    );
    // The sells are at 2025-12-17's closes (less the simulated slippage of 0.1 %).
    let rows = common::read_csv(&dir.path().join("logs/trades.csv"));
    let sells: Vec<_> = rows
        .iter()
        .filter(|r| r["reason"] == "emergency-exit")
        .collect();
    assert_eq!(sells.len(), 2, "{rows:?}");
    for sell in sells {
        let close = common::read_csv(&common::bars_dir().join(format!("{}.csv", sell["symbol"])))
            .into_iter()
            .find(|b| b["date"] == "2025-12-17")
            .unwrap()["close"]
            .parse::<f64>()
            .unwrap();
        let price: f64 = sell["fill_price"].parse().unwrap();
        assert!(
            (price - close * 0.999).abs() < 0.01,
            "{sell:?} vs close {close}"
        );
    }
    // Going back is refused, for the exit and for a run after `resume`.
    assert_eq!(jutsu_in(&config, &["resume"]).0, 0);
    let (code, _, err) = jutsu_in(
        &config,
        &["emergency-exit", "--confirm", "--as-of", "2025-12-16"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("before 2025-12-17"), "{err}");
    let (code, out, _) = jutsu_in(&config, &["trade", "--as-of", "2025-12-16"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("before 2025-12-17"), "{out}");
    // Forward is an ordinary run that buys back.
    let (code, out, _) = jutsu_in(&config, &["trade", "--as-of", "2025-12-18"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OK: rebalanced"), "{out}");
}

#[test]
fn simulated_transfers_are_dated_by_the_account_and_every_one_is_in_the_report() {
    let (dir, config) = common::paper_config("");
    // Before the first run there is no account date: the starting cash is configured.
    let (code, _, err) = jutsu_in(&config, &["sim", "deposit", "500"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("sim.initial_cash"), "{err}");
    assert!(!dir.path().join("state/sim/account.json").exists());

    assert_eq!(jutsu_in(&config, &["trade", "--as-of", "2025-12-10"]).0, 0);
    // Without --as-of: the account's day, not the machine's (2026 or later).
    let (code, out, err) = jutsu_in(&config, &["sim", "deposit", "500"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("deposit 500.00 on 2025-12-10"), "{out}");
    // Before the last session, or after today: refused, nothing moved.
    let (code, _, err) = jutsu_in(
        &config,
        &["sim", "withdraw", "200", "--as-of", "2025-12-09"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("before 2025-12-10"), "{err}");
    let (code, _, err) = jutsu_in(&config, &["sim", "deposit", "200", "--as-of", "2099-01-02"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("after today"), "{err}");
    let (code, out, err) = jutsu_in(
        &config,
        &["sim", "withdraw", "200", "--as-of", "2025-12-11"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("withdraw 200.00 on 2025-12-11"), "{out}");
    for day in ["2025-12-11", "2025-12-12"] {
        let (code, out, _) = jutsu_in(&config, &["trade", "--as-of", day]);
        assert_eq!(code, 0, "{out}");
    }
    let (code, report, err) = jutsu_in(&config, &["report"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        report.contains("deposits 500.00 and withdrawals 200.00"),
        "{report}"
    );
}

#[test]
fn an_as_of_after_today_is_refused_by_every_command_that_takes_one() {
    let (dir, config) = common::paper_config("");
    assert_eq!(jutsu_in(&config, &["trade", "--as-of", "2025-12-10"]).0, 0);
    let before = common::snapshot(&dir.path().join("state"));
    for args in [
        vec!["trade", "--as-of", "2099-01-02"],
        vec!["status", "--as-of", "2099-01-02"],
        vec!["emergency-exit", "--confirm", "--as-of", "2099-01-02"],
        vec!["sim", "deposit", "10", "--as-of", "2099-01-02"],
    ] {
        let (code, out, err) = jutsu_in(&config, &args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(
            format!("{out}{err}").contains("--as-of 2099-01-02 is after today"),
            "{args:?}: {out}{err}"
        );
    }
    assert_eq!(common::snapshot(&dir.path().join("state")), before);
}

#[test]
fn the_exit_question_holds_no_lock_and_what_changed_before_the_answer_is_shown() {
    let (dir, config) = common::paper_config("");
    assert_eq!(jutsu_in(&config, &["trade", "--as-of", "2025-12-17"]).0, 0);
    // Cash that the day's run will invest while the exit's question waits.
    let (code, _, err) = jutsu_in(
        &config,
        &["sim", "deposit", "5000", "--as-of", "2025-12-18"],
    );
    assert_eq!(code, 0, "{err}");
    let mut exit = common::jutsu()
        .args(["-c", config.to_str().unwrap()])
        .args(["emergency-exit", "--as-of", "2025-12-18"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(exit.stdout.take().unwrap());
    let mut shown = String::new();
    // The plan is listed before the question (the question has no newline).
    while !shown.contains("  sell") {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "{shown}");
        shown.push_str(&line);
    }
    // While it waits, the day's run is not blocked, and it trades.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (code, run, err) = jutsu_in(&config, &["trade", "--as-of", "2025-12-18"]);
    assert_eq!(code, 0, "the prompt held the lock: {run}{err}");
    assert!(run.contains("OK: rebalanced"), "{run}");
    assert!(run.contains("cash moved by"), "{run}");
    exit.stdin.take().unwrap().write_all(b"EXIT\n").unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = exit.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{shown}{rest}");
    assert!(
        rest.contains("the account changed while the question waited"),
        "{shown}{rest}"
    );
    assert!(rest.contains("FLAT"), "{rest}");
    let account =
        jutsu::brokers::sim::SimAccount::read(&dir.path().join("state/sim/account.json")).unwrap();
    assert!(
        account.positions.values().all(|q| q.is_zero()),
        "{:?}",
        account.positions
    );
}

#[test]
fn an_as_of_past_the_bars_end_is_refused_alike_for_every_date_and_health_stays_green() {
    let (dir, config) = common::paper_config("");
    assert_eq!(jutsu_in(&config, &["trade", "--as-of", "2025-12-12"]).0, 0);
    for late in ["2026-01-02", "2026-03-02T15:55"] {
        let (code, out, err) = jutsu_in(&config, &["trade", "--as-of", late]);
        assert_eq!(code, 2, "{out}{err}");
        let said = format!("{out}{err}");
        assert!(
            said.contains("is after the last local bar (QQQ ends 2025-12-31"),
            "{said}"
        );
        let (code, _, err) = jutsu_in(&config, &["status", "--as-of", late]);
        assert_eq!(code, 2, "{err}");
    }
    let runs: Vec<_> = std::fs::read_dir(dir.path().join("state/paper/runs"))
        .unwrap()
        .collect();
    assert_eq!(runs.len(), 1, "a refused date leaves no ledger");
    let (code, out, _) = jutsu_in(&config, &["health"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[ok  ] sessions  no missed session"), "{out}");
}

#[test]
fn a_long_list_of_missed_sessions_is_summarised_with_its_count_and_ends() {
    let (_dir, config) = common::paper_config("");
    assert_eq!(jutsu_in(&config, &["trade", "--as-of", "2025-06-02"]).0, 0);
    assert_eq!(jutsu_in(&config, &["trade", "--as-of", "2025-12-12"]).0, 0);
    let (code, out, _) = jutsu_in(&config, &["health"]);
    assert_eq!(code, 1, "{out}");
    let line = out.lines().find(|l| l.contains("sessions")).unwrap();
    assert!(
        line.contains("134 missed session(s): 2025-06-03, 2025-06-04, 2025-06-05 ... (129 more) ... 2025-12-10, 2025-12-11"),
        "{line}"
    );
    assert!(line.len() < 160, "{line}");
    let (_, json, _) = jutsu_in(&config, &["health", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["missed_sessions"].as_array().unwrap().len(),
        134,
        "JSON lists every one"
    );
}

#[test]
fn a_run_started_early_says_its_run_time_once_and_every_record_carries_it() {
    let (dir, config) = common::paper_config("");
    let (code, out, err) = jutsu_in(&config, &["trade", "--as-of", "2025-12-15T15:50"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("waiting until 15:55 ET"), "{out}");
    assert!(out.contains("at 15:55 ET  ("), "the synthetic bar: {out}");
    assert!(!out.contains("15:50"), "{out}");
    let ledger = Ledger::load(&dir.path().join("state/paper/runs/2025-12-15.json"))
        .unwrap()
        .unwrap();
    assert_eq!(ledger.started_at.to_rfc3339(), "2025-12-15T20:55:00+00:00");
    let trades = common::read_csv(&dir.path().join("logs/trades.csv"));
    assert!(!trades.is_empty());
    assert!(
        trades.iter().all(|t| t["time_new_york"].contains("15:55")),
        "{trades:?}"
    );
}

#[test]
fn health_on_bars_it_cannot_read_still_judges_by_the_accounts_clock() {
    // Own copy of the bars, so that one can be damaged after a good run.
    let dir = tempfile::tempdir().unwrap();
    let bars = dir.path().join("bars");
    std::fs::create_dir(&bars).unwrap();
    for entry in std::fs::read_dir(common::bars_dir()).unwrap().flatten() {
        std::fs::copy(entry.path(), bars.join(entry.file_name())).unwrap();
    }
    let config = dir.path().join("jutsu.yaml");
    let yaml = format!(
        "mode: paper\npaths:\n  state_dir: state\n  logs_dir: logs\ndata:\n  dir: {}\n",
        bars.display()
    );
    std::fs::write(&config, yaml).unwrap();
    assert_eq!(jutsu_in(&config, &["trade", "--as-of", "2025-12-12"]).0, 0);
    let qqq = bars.join("QQQ.csv");
    let text = std::fs::read_to_string(&qqq).unwrap();
    let damaged = text.replacen("\n2025-06-02,", "\n2025-06-02,x", 1);
    assert_ne!(text, damaged, "the row to damage is there");
    std::fs::write(&qqq, damaged).unwrap();

    let (code, out, err) = jutsu_in(&config, &["health"]);
    assert_eq!(code, 1, "{out}{err}");
    let line = |name: &str| out.lines().find(|l| l.contains(name)).unwrap_or_default();
    assert!(line("bars").contains("[fail]"), "{out}");
    assert!(line("bars").contains("QQQ.csv"), "{out}");
    // No session after the account's last run is counted against it, and the next run is
    // the account's next session, not the machine's.
    assert!(line("sessions").contains("no missed session"), "{out}");
    assert!(out.contains("next run 2025-12-15 15:55 ET"), "{out}");
}
