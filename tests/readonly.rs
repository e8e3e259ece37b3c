//! A command that only reads writes nothing under state/: the folder is the same, byte for
//! byte and file for file, before and after each.

use crate::common;

#[test]
fn reading_commands_write_nothing_under_state() {
    let (dir, config) = common::paper_config("");
    let cfg = config.to_str().unwrap();
    let run = |args: &[&str], now: &str| {
        common::run(
            common::jutsu()
                .env("JUTSU_NOW", now)
                .args(["-c", cfg])
                .args(args),
        )
    };
    assert_eq!(
        run(
            &["trade", "--as-of", "2025-12-10T15:55"],
            "2025-12-10T21:00:00Z"
        )
        .0,
        0
    );
    let (code, out, err) = run(
        &["validate", "--date", "2025-12-10"],
        "2025-12-10T22:00:00Z",
    );
    assert!(code <= 1, "{out}{err}");
    let state = dir.path().join("state");
    let before = common::snapshot(&state);
    // Read a week later by the machine's clock: nothing may be credited or dated by it.
    let now = "2025-12-17T22:00:00Z";
    for args in [
        &["hello"][..],
        &["status"],
        &["status", "--json"],
        &["health"],
        &["report"],
        &["readiness"],
        &["readiness", "--json", "--mode", "dry_run"],
        &["review"],
        &["review", "--month", "2025-12"],
        &["replay", "2025-12-10"],
        &["replay", "2025-12-10", "--json"],
        &["report", "--json"],
        &["config", "check"],
        &["config", "show"],
        &["calendar"],
        &["data", "check"],
        &["data", "check", "--json"],
        &["backtest", "--from", "2025-06-02", "--to", "2025-12-10"],
    ] {
        let logs_before = common::snapshot(&dir.path().join("logs"));
        let (code, stdout, stderr) = run(args, now);
        assert!(code <= 1, "{args:?} exit {code}: {stdout}{stderr}");
        // Nor a daily log: the logs are those of the commands that act (`hello` tries the
        // broker, and says so in the log).
        if args != ["hello"] {
            let logs_after = common::snapshot(&dir.path().join("logs"));
            assert!(logs_after == logs_before, "{args:?} wrote to logs/");
        }
        let after = common::snapshot(&state);
        let changed: Vec<&String> = after
            .iter()
            .filter(|(k, v)| before.get(*k) != Some(v))
            .map(|(k, _)| k)
            .chain(before.keys().filter(|k| !after.contains_key(*k)))
            .collect();
        assert!(changed.is_empty(), "{args:?} wrote {changed:?}");
    }
}

/// The cash `hello`, `status` and the next run each give, on the bundled bars with their
/// dividends: the account's own date, never the machine's (no future dividend is counted).
#[test]
fn hello_status_and_the_next_run_tell_the_same_cash() {
    let (_dir, config) = common::as_traded_paper_config();
    let (code, out, err) = common::trade_at(&config, "2025-12-12T15:55");
    assert_eq!(code, 0, "{out}{err}");
    let cash_line = |text: &str| {
        let at = text.find("cash ").unwrap() + 5;
        text[at..].split_whitespace().next().unwrap().to_string()
    };
    let after_run = cash_line(out.split("holdings after the run").nth(1).unwrap());
    let cmd = |args: &[&str]| {
        let (code, out, err) = common::run(common::jutsu().arg("-c").arg(&config).args(args));
        assert_eq!(code, 0, "{out}{err}");
        out
    };
    let hello = cmd(&["hello"]);
    assert_eq!(
        cash_line(hello.split("account").last().unwrap()),
        after_run,
        "{hello}"
    );
    let status = cmd(&["status"]);
    assert_eq!(cash_line(&status), after_run, "{status}");
    // The dividends of 2025-12-23/24 are the account's future: the next session's run
    // lists none of them.
    let (code, out, _) = common::trade_at(&config, "2025-12-15T15:55");
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("dividend"), "{out}");
}
