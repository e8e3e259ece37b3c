//! `jutsu status` and `status --watch`: read-only, and the preview equals what `trade
//! --plan-only` plans at the same instant.

use crate::common;
use crate::common::fake_schwab::FakeSchwab;

use serde_json::Value;

fn status_json(config: &std::path::Path, extra: &[&str]) -> Value {
    let (code, stdout, stderr) = common::run(
        common::jutsu()
            .args(["-c", config.to_str().unwrap(), "status", "--json"])
            .args(extra),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// A paper account that traded on 2025-12-10, and what `trade --plan-only` printed at 15:55
/// of 2025-12-11 (a plan writes no ledger).
fn paper_with_plan() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let (dir, config) = common::paper_config("");
    let cfg = config.to_str().unwrap();
    assert_eq!(
        common::run(common::jutsu().args(["-c", cfg, "trade", "--as-of", "2025-12-10"])).0,
        0
    );
    let (code, out, err) = common::run(common::jutsu().args([
        "-c",
        cfg,
        "trade",
        "--as-of",
        "2025-12-11T15:55",
        "--plan-only",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !dir.path().join("state/paper/runs/2025-12-11.json").exists(),
        "a plan writes no ledger"
    );
    (dir, config, out)
}

/// The orders a checklist lists (`BUY 12 TQQQ`).
fn planned_orders(checklist: &str) -> Vec<String> {
    checklist
        .lines()
        .map(str::trim_start)
        .filter(|l| (l.starts_with("BUY ") || l.starts_with("SELL ")) && l.contains(" at ~"))
        .map(|l| l.split(" at ~").next().unwrap().to_string())
        .collect()
}

#[test]
fn status_json_on_paper_shows_the_account_and_previews_the_plan_only_decision() {
    let (dir, config, plan) = paper_with_plan();
    let sim_before = std::fs::read(dir.path().join("state/sim/account.json")).unwrap();
    let lock = dir.path().join("state/jutsu.lock");
    let lock_before = (
        std::fs::read(&lock).ok(),
        std::fs::metadata(&lock).and_then(|m| m.modified()).ok(),
    );
    let s = status_json(&config, &["--as-of", "2025-12-11T15:55"]);
    assert_eq!(s["mode"], "paper");
    let cell = plan
        .split("decide         cell ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap();
    assert_eq!(s["preview"]["cell"].as_u64().unwrap().to_string(), cell);
    let targets = plan
        .split("targets ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    for pair in s["preview"]["weights"].as_array().unwrap() {
        let weight = pair[1].as_f64().unwrap();
        if weight > 0.0 {
            let shown = format!("{} {weight:.1}%", pair[0].as_str().unwrap());
            assert!(targets.contains(&shown), "{shown} in {targets}");
        }
    }
    let previewed: Vec<String> = s["preview"]["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect();
    assert_eq!(previewed, planned_orders(&plan), "{plan}");
    // Equity is cash plus the positions at the quotes.
    let cash: f64 = s["cash"].as_str().unwrap().parse().unwrap();
    let held: f64 = s["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_str().unwrap().parse::<f64>().unwrap())
        .sum();
    let equity: f64 = s["equity"].as_str().unwrap().parse().unwrap();
    assert!((cash + held - equity).abs() < 1e-6);
    // The plan was not a run: the last run is the trade of 2025-12-10.
    assert_eq!(s["last_run"]["session"], "2025-12-10");
    assert_eq!(s["last_run"]["outcome"], "DONE");
    assert_eq!(s["last_run"]["started"], "2025-12-10 15:55 ET");
    // Read-only: the simulated account is untouched, the lock file too.
    assert_eq!(
        std::fs::read(dir.path().join("state/sim/account.json")).unwrap(),
        sim_before
    );
    let lock_after = (
        std::fs::read(&lock).ok(),
        std::fs::metadata(&lock).and_then(|m| m.modified()).ok(),
    );
    assert_eq!(lock_before, lock_after, "status takes no lock");
}

#[test]
fn status_json_against_schwab_reads_and_never_orders() {
    let fake = FakeSchwab::start(
        "2025-06-10",
        "2025-06-10T19:50:00Z",
        20_000.0,
        &[("TMF", 650.0)],
        "A-secret-1",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = common::live_config(dir.path(), &fake.url, "", "", "");
    let now = 1_749_585_000; // 2025-06-10T19:50:00Z
    common::token_file(
        dir.path(),
        now - 86_400,
        ("R-secret-1", "A-secret-1"),
        now + 1200,
    );
    let (code, stdout, stderr) = common::run(
        common::jutsu()
            .env("JUTSU_NOW", "2025-06-10T19:50:00Z")
            .env("T_APP_KEY", "K")
            .env("T_APP_SECRET", "S")
            .args(["-c", config.to_str().unwrap(), "status", "--json"]),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let s: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(s["mode"], "live");
    assert_eq!(s["token_hours_left"].as_i64(), Some(144));
    assert_eq!(s["positions"][0]["symbol"], "TMF");
    assert_eq!(s["positions"][0]["shares"], "650");
    assert!(s["preview"]["cell"].as_u64().is_some(), "{s}");
    assert!(
        !s["preview"]["orders"].as_array().unwrap().is_empty(),
        "a first run would trade"
    );
    assert_eq!(fake.order_calls(), (0, 0), "no order placed or canceled");
    assert!(!stdout.contains("secret"), "{stdout}");
}

#[test]
fn status_warns_of_schwab_quotes_days_old_in_readable_units() {
    // Schwab's quotes stopped at 2025-06-10 19:50Z (a halted feed); it is three days later.
    let fake = FakeSchwab::start(
        "2025-06-10",
        "2025-06-10T19:50:00Z",
        20_000.0,
        &[("TMF", 650.0)],
        "A-secret-1",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = common::live_config(dir.path(), &fake.url, "", "", "");
    let now = 1_749_585_000 + 3 * 86_400;
    common::token_file(
        dir.path(),
        now - 86_400,
        ("R-secret-1", "A-secret-1"),
        now + 1200,
    );
    let (code, stdout, stderr) = common::run(
        common::jutsu()
            .env("JUTSU_NOW", "2025-06-13T19:50:00Z")
            .env("T_APP_KEY", "K")
            .env("T_APP_SECRET", "S")
            .args(["-c", config.to_str().unwrap(), "status"]),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let warning = stdout
        .lines()
        .find(|l| l.contains("WARNING: the quotes are"))
        .unwrap_or_else(|| panic!("no stale-quote warning: {stdout}{stderr}"));
    assert!(
        warning.contains("3 days old") || warning.contains("3.0 days old"),
        "{warning}"
    );
    assert!(!stdout.contains(" s old"), "{stdout}");
}

#[test]
fn watch_draws_the_preview_in_a_terminal_and_q_gives_the_terminal_back() {
    if !common::have(&common::TMUX, "the terminal test") {
        return;
    }
    let (dir, config, ledger) = paper_with_plan(); // `ledger`: the plan it printed
    let session = format!("jutsu-watch-{}", std::process::id());
    let command = format!(
        "{} -c {} status --watch --as-of 2025-12-11T15:55; echo WATCH-EXITED $?; sleep 30",
        env!("CARGO_BIN_EXE_jutsu"),
        config.display()
    );
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .args(args)
            .output()
            .unwrap()
    };
    assert!(tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "120",
        "-y",
        "36",
        "bash",
        "-c",
        &command
    ])
    .status
    .success());
    let screen = || {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session]).stdout).into_owned()
    };
    let mut shown = String::new();
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        shown = screen();
        if shown.contains("regime preview") {
            break;
        }
    }
    let cell = ledger
        .split("decide         cell ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap();
    assert!(shown.contains(&format!("cell {cell}")), "{shown}");
    // The targets the plan printed (`TQQQ 60.0%, QQQ 40.0%`), each in the view.
    let targets = ledger
        .split("targets ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    for target in targets.split(", ") {
        let target = target.split("  (").next().unwrap();
        assert!(shown.contains(target), "{target} in {shown}");
    }
    assert!(shown.contains("heartbeat"), "{shown}");
    // A narrower terminal: the view is drawn again to the new width.
    let widest = |text: &str| text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert_eq!(widest(&shown), 120, "{shown}");
    tmux(&["resize-window", "-t", &session, "-x", "90", "-y", "36"]);
    let mut resized = String::new();
    for _ in 0..30 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        resized = screen();
        if widest(&resized) == 90
            && resized.contains("regime preview")
            && resized.lines().next().is_some_and(|l| l.ends_with('┐'))
        {
            break;
        }
    }
    assert!(
        resized
            .lines()
            .next()
            .is_some_and(|l| l.chars().count() == 90 && l.ends_with('┐')),
        "{resized}"
    );
    tmux(&["send-keys", "-t", &session, "q"]);
    let mut after = String::new();
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        after = screen();
        if after.contains("WATCH-EXITED") {
            break;
        }
    }
    tmux(&["kill-session", "-t", &session]);
    assert!(after.contains("WATCH-EXITED 0"), "{after}");
    assert!(
        !after.contains("regime preview"),
        "the alternate screen is left: {after}"
    );
    drop(dir);
}

#[test]
fn watch_off_a_terminal_refuses_with_a_clear_message() {
    let (_dir, config) = common::paper_config("");
    let (code, _, stderr) = common::run(common::jutsu().args([
        "-c",
        config.to_str().unwrap(),
        "status",
        "--watch",
        "--as-of",
        "2025-12-11",
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("status --watch needs a terminal"),
        "{stderr}"
    );
}

/// The orders `status` previews and `trade --plan-only` plans at `as_of` (`BUY 12 TQQQ`).
fn preview_and_plan(config: &std::path::Path, as_of: &str) -> (Vec<String>, Vec<String>, String) {
    let s = status_json(config, &["--as-of", as_of]);
    let previewed: Vec<String> = s["preview"]["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect();
    let (code, out, err) = common::run(common::jutsu().args([
        "-c",
        config.to_str().unwrap(),
        "trade",
        "--as-of",
        as_of,
        "--plan-only",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let planned = planned_orders(&out);
    (previewed, planned, out)
}

#[test]
fn status_and_plan_only_plan_the_same_orders_on_a_split_day_and_on_a_deposit_day() {
    // TQQQ split 2:1 before the session of 2025-11-20; the account held it the day before.
    let actions = format!(
        "sim:\n  actions_file: {}/data/actions.csv\n",
        env!("CARGO_MANIFEST_DIR")
    );
    let (_dir, config) = common::paper_config(&actions);
    let cfg = config.to_str().unwrap();
    let (code, out, _) =
        common::run(common::jutsu().args(["-c", cfg, "trade", "--as-of", "2025-11-18T15:55"]));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("TQQQ"),
        "the account holds TQQQ before the split: {out}"
    );
    let (previewed, planned, out) = preview_and_plan(&config, "2025-11-20T15:55");
    assert!(out.contains("TQQQ split 2:1"), "{out}");
    assert_eq!(previewed, planned, "{out}");

    // A deposit of a fifth of the account: both invest it the same way.
    let (_dir, config) = common::paper_config("");
    let cfg = config.to_str().unwrap();
    assert_eq!(
        common::run(common::jutsu().args(["-c", cfg, "trade", "--as-of", "2025-12-10T15:55"])).0,
        0
    );
    let (code, out, _) = common::run(common::jutsu().args([
        "-c",
        cfg,
        "sim",
        "deposit",
        "2500",
        "--as-of",
        "2025-12-11",
    ]));
    assert_eq!(code, 0, "{out}");
    let (previewed, planned, out) = preview_and_plan(&config, "2025-12-11T15:55");
    assert!(out.contains("cash moved by"), "{out}");
    assert!(!planned.is_empty(), "{out}");
    assert_eq!(previewed, planned, "{out}");
}

#[test]
fn a_deposit_after_the_last_run_is_no_gain_in_status() {
    let (_dir, config) = common::paper_config("risk:\n  daily_loss_halt_pct: 5\n");
    let cfg = config.to_str().unwrap();
    assert_eq!(common::trade_at(&config, "2025-12-12T15:55").0, 0);
    let before = status_json(&config, &[]);
    let (code, out, err) = common::run(common::jutsu().args(["-c", cfg, "sim", "deposit", "5000"]));
    assert_eq!(code, 0, "{out}{err}");
    let after = status_json(&config, &[]);
    let dec = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<rust_decimal::Decimal>()
            .unwrap()
    };
    assert_eq!(
        dec(&after["cash"]) - dec(&before["cash"]),
        "5000".parse().unwrap()
    );
    assert_eq!(after["day_loss_pct"], before["day_loss_pct"], "{after}");
    assert_eq!(after["drawdown_pct"], before["drawdown_pct"], "{after}");
}

#[test]
fn status_tells_the_day_at_the_close_and_never_goes_back_before_the_last_session() {
    // Two sessions traded; the account's clock stands at the close of the second.
    let (dir, config) = common::paper_config("");
    let cfg = config.to_str().unwrap();
    for day in ["2025-12-10", "2025-12-11"] {
        let (code, out, err) =
            common::run(common::jutsu().args(["-c", cfg, "trade", "--as-of", day]));
        assert_eq!(code, 0, "{out}{err}");
    }
    let state_before = common::snapshot(&dir.path().join("state"));

    // At the close (the account's clock, and --as-of 16:00) the day's P&L is from the
    // previous session's close, as at 15:55: not zero because the history holds today.
    let at_close = status_json(&config, &[]);
    let at_run = status_json(&config, &["--as-of", "2025-12-11T15:55"]);
    let at_four = status_json(&config, &["--as-of", "2025-12-11T16:00"]);
    assert_eq!(at_close["day_pnl"], at_four["day_pnl"], "{at_close}");
    assert_ne!(at_close["day_pnl"], "0.00", "{at_close}");
    assert_eq!(
        at_close["day_pnl"], at_run["day_pnl"],
        "local quotes at 15:55 are the close"
    );

    // Money in JSON to the cent, as on the terminal.
    for key in ["equity", "cash", "day_pnl"] {
        let text = at_close[key].as_str().unwrap();
        assert!(
            text.split_once('.').is_some_and(|(_, c)| c.len() == 2),
            "{key}: {text}"
        );
    }
    for position in at_close["positions"].as_array().unwrap() {
        for key in ["price", "value"] {
            let text = position[key].as_str().unwrap();
            assert!(
                text.split_once('.').is_some_and(|(_, c)| c.len() == 2),
                "{key}: {text}"
            );
        }
    }

    // A day before the last completed session is refused, naming it (exit 2).
    let (code, out, err) =
        common::run(common::jutsu().args(["-c", cfg, "status", "--as-of", "2025-12-10T15:55"]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("before 2025-12-11"), "{err}");
    assert_eq!(
        common::snapshot(&dir.path().join("state")),
        state_before,
        "status wrote"
    );
}

#[test]
fn status_and_report_tell_the_same_day_and_drawdown_after_a_deposit() {
    // Three sessions, 5 000 deposited, two more: the rebalances of the last day change what
    // is held, and the deposit sits in the account.
    let (_dir, config) = common::paper_config("");
    let cfg = config.to_str().unwrap();
    for day in ["2025-12-08", "2025-12-09", "2025-12-10"] {
        assert_eq!(common::trade_at(&config, day).0, 0, "{day}");
    }
    let (code, out, err) = common::run(common::jutsu().args(["-c", cfg, "sim", "deposit", "5000"]));
    assert_eq!(code, 0, "{out}{err}");
    for day in ["2025-12-11", "2025-12-12"] {
        assert_eq!(common::trade_at(&config, day).0, 0, "{day}");
    }
    let (code, out, err) = common::run(common::jutsu().args(["-c", cfg, "report", "--json"]));
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let sessions = report["sessions"].as_array().unwrap();
    let dec = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<rust_decimal::Decimal>()
            .unwrap()
    };
    let (last, before) = (&sessions[sessions.len() - 1], &sessions[sessions.len() - 2]);
    let status = status_json(&config, &[]);
    // The day: what the account made since the previous session's run (no flow on the
    // last day), fills and commissions of the day included.
    assert_eq!(
        dec(&status["day_pnl"]),
        dec(&last["equity"]) - dec(&before["equity"]),
        "{status}"
    );
    // The drawdown: time-weighted in both, the deposit neither a gain nor a dilution.
    assert_eq!(
        dec(&status["drawdown_pct"]),
        -dec(&last["drawdown_pct"]).round_dp(2),
        "{status}"
    );
    assert!(
        dec(&status["drawdown_pct"]) > rust_decimal::Decimal::ZERO,
        "{status}"
    );
}

#[test]
fn after_an_emergency_exit_every_command_counts_the_exits_value_as_the_sessions() {
    let (dir, config) =
        common::paper_config("risk:\n  max_drawdown_halt_pct: 10\n  daily_loss_halt_pct: 5\n");
    let cfg = config.to_str().unwrap();
    let jutsu = |args: &[&str]| {
        let (code, out, err) = common::run(common::jutsu().arg("-c").arg(cfg).args(args));
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        out
    };
    for day in ["2025-12-03", "2025-12-04", "2025-12-05"] {
        assert_eq!(common::trade_at(&config, day).0, 0, "{day}");
    }
    jutsu(&["emergency-exit", "--confirm"]);
    let dec = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<rust_decimal::Decimal>()
            .unwrap()
    };
    let rows = |out: &str| -> Vec<Value> {
        let report: Value = serde_json::from_str(out).unwrap();
        report["sessions"].as_array().unwrap().clone()
    };
    // The day of the exit: its value is the session's in report, and status and health
    // measure from it (the exit sold at a gain: no drawdown, no day loss).
    let sessions = rows(&jutsu(&["report", "--json"]));
    let last = sessions.last().unwrap();
    assert_eq!(last["date"], "2025-12-05");
    let status = status_json(&config, &[]);
    assert_eq!(status["equity"], last["equity"], "{status}");
    assert_eq!(
        dec(&status["drawdown_pct"]),
        -dec(&last["drawdown_pct"]).round_dp(2),
        "{status}"
    );
    // The next session's run, after `resume`: health's day loss is report's day return.
    jutsu(&["resume"]);
    assert_eq!(common::trade_at(&config, "2025-12-08").0, 0);
    let sessions = rows(&jutsu(&["report", "--json"]));
    let last = sessions.last().unwrap();
    let health: Value = serde_json::from_str(&jutsu(&["health", "--json"])).unwrap();
    let losses = health["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "losses")
        .unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_string();
    let day_return = dec(&last["return_pct"]).round_dp(2);
    let expected = match day_return.is_sign_negative() {
        true => format!("day loss {:.2}% of 5% allowed", -day_return),
        false => "day loss 0.00% of 5% allowed".to_string(),
    };
    assert!(losses.contains(&expected), "{losses} against {last}");
    // The resume is in the log of the account's day, and no log is named by the machine's.
    let logs: Vec<String> = std::fs::read_dir(dir.path().join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("jutsu."))
        .collect();
    assert!(
        logs.iter().all(|n| n.starts_with("jutsu.2025-12-")),
        "{logs:?}"
    );
    let exit_day = std::fs::read_to_string(dir.path().join("logs/jutsu.2025-12-05.log")).unwrap();
    assert!(exit_day.contains("halt flag cleared"), "{exit_day}");
}
