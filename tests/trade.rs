//! `jutsu trade` end to end on the simulator with local bars: the daily scenarios a user
//! meets, through the real binary.

use crate::common;

use std::path::PathBuf;

use crate::common::{jutsu, run};
use jutsu::domain::journal::{Ledger, OrderState, RunStatus};

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn new(extra: &str) -> Env {
        let (dir, config) = common::paper_config(extra);
        Env { dir, config }
    }

    fn trade(&self, as_of: &str, extra: &[&str]) -> (i32, String, String) {
        let mut cmd = jutsu();
        cmd.args([
            "-c",
            self.config.to_str().unwrap(),
            "trade",
            "--as-of",
            as_of,
        ]);
        cmd.args(extra);
        run(&mut cmd)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn ledger(&self, mode: &str, session: &str) -> Ledger {
        let root = if mode == "live" {
            "state".to_string()
        } else {
            format!("state/{mode}")
        };
        Ledger::load(&self.path(&format!("{root}/runs/{session}.json")))
            .unwrap()
            .unwrap()
    }

    fn account(&self) -> jutsu::brokers::sim::SimAccount {
        jutsu::brokers::sim::SimAccount::read(&self.path("state/sim/account.json")).unwrap()
    }

    fn set_faults(&self, faults: serde_json::Value) {
        let path = self.path("state/sim/account.json");
        let mut account: serde_json::Value = if path.exists() {
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
        } else {
            serde_json::json!({"cash": "10000", "positions": {}, "orders": [], "fills": [], "next_id": 1})
        };
        account["faults"] = faults;
        // A hand edit drops the checksum (a file without one is taken as written by hand).
        account.as_object_mut().unwrap().remove("checksum");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, account.to_string()).unwrap();
    }
}

fn trades_csv(env: &Env) -> Vec<String> {
    std::fs::read_to_string(env.path("logs/trades.csv"))
        .map(|t| t.lines().map(String::from).collect())
        .unwrap_or_default()
}

#[test]
fn first_run_buys_the_targets_and_prints_the_whole_day() {
    let env = Env::new("");
    let (code, stdout, stderr) = env.trade("2025-12-12T15:55", &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    for needle in [
        "preflight      paper session 2025-12-12 (regular, close 16:00, run at 15:55 ET)",
        "decide         cell 3 (Sideways, vol Low)",
        "targets TQQQ 20.0%, QQQ 80.0%",
        "reconcile      first run: the broker holds no positions with 10000.00 cash",
        "rebalance (first run): 2 order(s)",
        "BUY 37 TQQQ at ~52.82",
        "BUY 12 QQQ at ~613.62",
        "slippage 0.100%",
        "holdings after the run:",
        "OK: rebalanced (first run), 2 order(s) filled",
        "Next run 2025-12-15 at 15:55 ET.",
    ] {
        assert!(stdout.contains(needle), "missing `{needle}` in\n{stdout}");
    }
    let ledger = env.ledger("paper", "2025-12-12");
    assert_eq!(ledger.status, RunStatus::Done);
    let names: Vec<&str> = ledger.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "preflight",
            "fetch",
            "synthetic bar",
            "decide",
            "reconcile",
            "plan",
            "execute",
            "record"
        ]
    );
    assert!(ledger
        .orders
        .iter()
        .all(|o| *o.state() == OrderState::Filled && o.broker_id.is_some()));
    let rows = trades_csv(&env);
    assert_eq!(rows[0], jutsu::storage::trades::HEADER.join(","));
    assert_eq!(rows.len(), 3);
    assert!(
        rows[1].starts_with(
            "2025-12-12,2025-12-12T20:55:00Z,2025-12-12T15:55:00-05:00,TQQQ,BUY,37,52.82,52.87282,0.1000,1956.29,0.37,,"
        ),
        "{}",
        rows[1]
    );
    assert!(rows[1].ends_with(",first run,paper,1"), "{}", rows[1]);
    assert!(env.path("state/paper/state.json").exists());
    assert!(
        !env.path("state/state.json").exists(),
        "paper never writes live state"
    );
}

#[test]
fn same_session_again_is_a_no_op_that_says_so() {
    let env = Env::new("");
    assert_eq!(env.trade("2025-12-12T15:55", &[]).0, 0);
    let orders_before = env.account().orders.len();
    let (code, stdout, _) = env.trade("2025-12-12T15:56", &[]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("NO-OP: the paper run of 2025-12-12 is already done"),
        "{stdout}"
    );
    assert_eq!(env.account().orders.len(), orders_before);
}

#[test]
fn steady_day_trades_nothing() {
    let env = Env::new("");
    assert_eq!(env.trade("2025-06-17", &[]).0, 0);
    let (code, stdout, stderr) = env.trade("2025-06-18", &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("no trade: target unchanged and positions as recorded"),
        "{stdout}"
    );
    assert!(stdout.contains("broker matches the state"), "{stdout}");
    assert!(stdout.contains("OK: no trade"), "{stdout}");
    assert_eq!(env.account().orders.len(), 2);
}

#[test]
fn cell_change_sells_before_it_buys() {
    let env = Env::new("");
    assert_eq!(env.trade("2025-02-13", &[]).0, 0);
    let (code, stdout, stderr) = env.trade("2025-02-14", &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("cell 1 (BullStrong"), "{stdout}");
    assert!(stdout.contains("rebalance (target change"), "{stdout}");
    let ledger = env.ledger("paper", "2025-02-14");
    let sides: Vec<(String, &str)> = ledger
        .orders
        .iter()
        .map(|o| (o.symbol.clone(), o.side.as_str()))
        .collect();
    assert_eq!(
        sides,
        [("QQQ".to_string(), "SELL"), ("TQQQ".to_string(), "BUY")]
    );
    let rows = trades_csv(&env);
    assert!(
        rows.iter().skip(3).all(|r| r.contains(",target change,")),
        "{rows:?}"
    );
}

#[test]
fn bond_flip_swaps_tmf_for_tmv() {
    let env = Env::new("");
    assert_eq!(env.trade("2025-04-16", &[]).0, 0);
    assert!(env.account().positions.contains_key("TMF"));
    let (code, stdout, stderr) = env.trade("2025-04-17", &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("bonds Bear"), "{stdout}");
    let account = env.account();
    assert!(!account.positions.contains_key("TMF"), "{account:?}");
    assert!(account.positions.contains_key("TMV"), "{account:?}");
    let ledger = env.ledger("paper", "2025-04-17");
    assert_eq!(ledger.orders[0].symbol, "TMF");
    assert_eq!(ledger.orders[0].side.as_str(), "SELL");
}

#[test]
fn partial_fills_are_retried_a_bounded_number_of_times_then_reported() {
    let env = Env::new("");
    env.set_faults(serde_json::json!({"fill_ratio": "0.5"}));
    let (code, stdout, stderr) = env.trade("2025-12-12", &[]);
    assert_eq!(code, 4, "{stdout}{stderr}");
    assert!(stdout.contains("INCOMPLETE"), "{stdout}");
    assert!(
        stdout.contains("still unfilled after 3 retries"),
        "{stdout}"
    );
    let ledger = env.ledger("paper", "2025-12-12");
    assert_eq!(ledger.status, RunStatus::Incomplete);
    // The first order and three retries of its remainder, each half filled.
    let tqqq: Vec<_> = ledger
        .orders
        .iter()
        .filter(|o| o.symbol == "TQQQ")
        .collect();
    assert_eq!(tqqq.len(), 4);
    assert!(tqqq
        .iter()
        .all(|o| *o.state() == OrderState::PartiallyFilled));
    assert_eq!(
        tqqq.iter().map(|o| o.quantity).collect::<Vec<_>>(),
        [37, 19, 10, 5]
    );
    // The state remembers the plan, so the next session sees what is missing.
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("state/paper/state.json")).unwrap())
            .unwrap();
    assert_eq!(state["last_outcome"], "incomplete");
    // Once the broker fills normally again, a rerun of the session resumes: it settles the
    // journal with the broker, sends only what is missing, and ends where a clean run ends.
    env.set_faults(serde_json::json!({}));
    let (code, stdout, stderr) = env.trade("2025-12-12T15:56", &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "an earlier run of 2025-12-12 sent orders and stopped (Incomplete): resuming it"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("nothing resent"), "{stdout}");
    let clean = Env::new("");
    assert_eq!(clean.trade("2025-12-12", &[]).0, 0);
    assert_eq!(env.account().positions, clean.account().positions);
    let ledger = env.ledger("paper", "2025-12-12");
    assert_eq!(ledger.status, RunStatus::Done);
    let mut ids: Vec<&str> = ledger
        .orders
        .iter()
        .filter_map(|o| o.broker_id.as_deref())
        .collect();
    let journaled = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), journaled, "no broker order twice in the journal");
    assert_eq!(
        env.account().orders.len(),
        journaled,
        "every broker order is in the journal"
    );
}

#[test]
fn slippage_over_the_abort_level_stops_further_orders() {
    let env = Env::new("sim:\n  slippage_pct: 1.5\n");
    let (code, stdout, stderr) = env.trade("2025-12-12", &[]);
    assert_eq!(code, 4, "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "slippage 1.500%, at or over execution.slippage_abort_pct (1.0): no further orders"
        ),
        "{stdout}"
    );
    assert_eq!(env.account().orders.len(), 1);
}

#[test]
fn halted_trading_exits_5_and_resume_clears_it() {
    let env = Env::new("");
    std::fs::create_dir_all(env.path("state")).unwrap();
    std::fs::write(env.path("state/halt"), "emergency exit 2025-12-11").unwrap();
    let (code, stdout, _) = env.trade("2025-12-12", &[]);
    assert_eq!(code, 5, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "trading is halted (emergency exit 2025-12-11); `jutsu -c {} resume` clears the flag",
            env.config.display()
        )),
        "{stdout}"
    );
    let (code, _, stderr) = run(jutsu().args(["-c", env.config.to_str().unwrap(), "resume"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(!env.path("state/halt").exists());
    assert_eq!(env.trade("2025-12-12", &[]).0, 0);
}

#[test]
fn weekends_and_holidays_are_not_sessions() {
    let env = Env::new("");
    let (code, stdout, _) = env.trade("2025-12-13", &[]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("NO-OP: 2025-12-13 is a weekend day: not a session"),
        "{stdout}"
    );
    let (code, stdout, _) = env.trade("2025-12-25", &[]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("market holiday (Christmas Day)"),
        "{stdout}"
    );
    assert!(
        !env.path("state/sim/account.json").exists(),
        "nothing was touched"
    );
}

#[test]
fn early_close_day_runs_at_12_55_and_not_at_15_55() {
    let env = Env::new("");
    let (code, stdout, _) = env.trade("2025-12-24T12:30", &[]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("too early: the run window of 2025-12-24 opens at 12:45 ET (run at 12:55)"),
        "{stdout}"
    );
    let (code, stdout, _) = env.trade("2025-12-24T15:55", &[]);
    assert_eq!(code, 3);
    assert!(
        stdout.contains("missed the run window of 2025-12-24: the run was due at 12:55 ET"),
        "{stdout}"
    );
    let (code, stdout, stderr) = env.trade("2025-12-24", &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("(early close, close 13:00, run at 12:55 ET)"),
        "{stdout}"
    );
}

#[test]
fn dry_run_sends_nothing_and_leaves_paper_state_alone() {
    let env = Env::new("");
    assert_eq!(env.trade("2025-12-11", &[]).0, 0);
    let paper_state = std::fs::read_to_string(env.path("state/paper/state.json")).unwrap();
    let account = std::fs::read_to_string(env.path("state/sim/account.json")).unwrap();
    let (code, stdout, stderr) = env.trade("2025-12-12", &["--mode", "dry_run"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("OK (dry run)"), "{stdout}");
    assert!(
        stdout.contains("SELL"),
        "a cell change is planned: {stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(env.path("state/paper/state.json")).unwrap(),
        paper_state
    );
    assert_eq!(
        std::fs::read_to_string(env.path("state/sim/account.json")).unwrap(),
        account
    );
    assert!(!env.path("state/state.json").exists());
    assert_eq!(env.ledger("dry_run", "2025-12-12").orders.len(), 0);
}

#[test]
fn plan_only_prints_the_plan_writes_no_ledger_and_a_later_run_still_trades() {
    let env = Env::new("");
    let (code, stdout, _) = env.trade("2025-12-12", &["--plan-only"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("--plan-only: nothing sent, nothing written"),
        "{stdout}"
    );
    assert!(stdout.contains("2 order(s) planned"), "{stdout}");
    assert!(
        !stdout.contains("Next run"),
        "a plan is not a run: {stdout}"
    );
    assert!(!env.path("state/paper/runs/2025-12-12.json").exists());
    assert!(
        !env.path("state/sim/account.json").exists(),
        "not even the simulated account is opened on disk"
    );
    assert_eq!(env.trade("2025-12-12", &[]).0, 0);
    assert_eq!(env.account().orders.len(), 2);
    // On an account that has run: nothing under state/ changes, the engine cache included.
    let before = common::snapshot(&env.path("state"));
    let (code, stdout, _) = env.trade("2025-12-15", &["--plan-only"]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        common::snapshot(&env.path("state")),
        before,
        "plan-only wrote a file"
    );
}

#[test]
fn as_of_is_refused_in_live_mode() {
    // A live configuration on Schwab data (nothing listens there: no request is made).
    let dir = tempfile::tempdir().unwrap();
    let config = common::live_config(dir.path(), "http://127.0.0.1:9", "", "", "");
    let (code, stdout, stderr) = run(jutsu()
        .env("T_APP_KEY", "key-for-the-test")
        .env("T_APP_SECRET", "secret-for-the-test")
        .args([
            "-c",
            config.to_str().unwrap(),
            "trade",
            "--as-of",
            "2025-12-12",
        ]));
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stdout.contains("--as-of is refused in live mode: live orders happen now"),
        "{stdout}"
    );
    assert!(!dir.path().join("state/state.json").exists());
}

#[test]
fn live_mode_on_the_bundled_bars_is_refused_by_every_command() {
    // The shipped configuration trades on local bars: `--mode live` would place real
    // orders at CSV closes. Every command refuses it before any request, naming the key.
    let env = Env::new("");
    let args: [&[&str]; 5] = [
        &["trade", "--mode", "live"],
        &["emergency-exit", "--mode", "live", "--confirm"],
        &["status", "--mode", "live"],
        &["health", "--mode", "live"],
        &["report", "--mode", "live"],
    ];
    for a in args {
        let (code, stdout, stderr) = run(jutsu()
            .env("SCHWAB_APP_KEY", "key-for-the-test")
            .env("SCHWAB_APP_SECRET", "secret-for-the-test")
            .args(["-c", env.config.to_str().unwrap()])
            .args(a));
        assert_eq!(code, 2, "{a:?}: {stdout}{stderr}");
        assert!(
            stderr.contains("data.source is local (the bundled bars) but the mode is live"),
            "{a:?}: {stdout}{stderr}"
        );
    }
    assert!(!env.path("state/state.json").exists());
    assert!(!env.path("state/halt").exists(), "the exit did nothing");
}

fn exit_cmd(env: &Env, extra: &[&str]) -> (i32, String, String) {
    let mut cmd = jutsu();
    cmd.env("JUTSU_NOW", "2025-12-12T21:00:00Z").args([
        "-c",
        env.config.to_str().unwrap(),
        "emergency-exit",
    ]);
    cmd.args(extra);
    run(&mut cmd)
}

#[test]
fn emergency_exit_lists_first_obeys_dry_run_and_asks_before_selling() {
    let env = Env::new("");
    assert_eq!(env.trade("2025-12-12", &[]).0, 0);
    let before = env.account();
    // Dry run: the exact orders, nothing canceled or sent, no halt (the flag would stop
    // every mode).
    let (code, stdout, stderr) = exit_cmd(&env, &["--mode", "dry_run", "--confirm"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("SELL 37 at the market"), "{stdout}");
    assert!(stdout.contains("SELL 12 at the market"), "{stdout}");
    assert!(
        stdout.contains("DRY RUN: nothing was canceled or sent"),
        "{stdout}"
    );
    assert_eq!(env.account().positions, before.positions);
    assert_eq!(env.account().orders.len(), before.orders.len());
    assert!(!env.path("state/halt").exists());
    // Without --confirm and without a typed EXIT: the list, then nothing.
    let (code, stdout, stderr) = exit_cmd(&env, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stdout.contains("TQQQ") && stdout.contains("37 shares"),
        "{stdout}"
    );
    assert!(
        stderr.contains("not confirmed: nothing was done"),
        "{stderr}"
    );
    assert!(!env.path("state/halt").exists());
    assert_eq!(env.account().positions, before.positions);
}

#[test]
fn emergency_exit_keeps_the_books_and_resume_leads_to_a_normal_run() {
    let env = Env::new("");
    assert_eq!(env.trade("2025-12-12", &[]).0, 0);
    let (code, stdout, stderr) = exit_cmd(&env, &["--confirm"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("SELL 37 TQQQ: order"), "{stdout}");
    assert!(stdout.contains("SELL 12 QQQ: order"), "{stdout}");
    assert!(
        stdout.contains("FLAT: every strategy position sold"),
        "{stdout}"
    );
    assert!(env.account().positions.is_empty());
    assert!(env.path("state/halt").exists());
    // Its own ledger, journaled like a trade.
    let exit = Ledger::load(&env.path("state/paper/runs/2025-12-12.exit.json"))
        .unwrap()
        .unwrap();
    assert_eq!(exit.status, RunStatus::Done);
    assert_eq!(exit.orders.len(), 2);
    assert!(exit.orders.iter().all(|o| *o.state() == OrderState::Filled));
    // One row per fill in trades.csv, reason emergency-exit.
    let rows = common::read_csv(&env.path("logs/trades.csv"));
    let exits: Vec<_> = rows
        .iter()
        .filter(|r| r["reason"] == "emergency-exit")
        .collect();
    assert_eq!(exits.len(), 2, "{rows:?}");
    assert!(exits.iter().all(|r| r["side"] == "SELL"));
    // The state is what the broker holds.
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("state/paper/state.json")).unwrap())
            .unwrap();
    assert_eq!(state["positions"], serde_json::json!({}));
    assert_eq!(state["last_outcome"], "emergency-exit");
    // Halted until resume; then an ordinary run that rebalances, no drift stop.
    let (code, stdout, _) = env.trade("2025-12-15", &[]);
    assert_eq!(code, 5, "{stdout}");
    let (code, stdout, _) = run(jutsu().args(["-c", env.config.to_str().unwrap(), "resume"]));
    assert_eq!(code, 0);
    assert!(stdout.contains("next run rebalances"), "{stdout}");
    let (code, stdout, stderr) = env.trade("2025-12-15", &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("OK: rebalanced"), "{stdout}");
    assert!(!stdout.contains("differ from the state"), "{stdout}");
    assert!(!env.account().positions.is_empty());
    // An exit run again on a flat account sells nothing and records nothing twice.
    let (code, stdout, _) = exit_cmd(&env, &["--confirm"]);
    assert_eq!(code, 0, "{stdout}");
    let ids: Vec<String> = common::read_csv(&env.path("logs/trades.csv"))
        .iter()
        .map(|r| r["order_id"].clone())
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ids.len(),
        "an order twice in trades.csv: {ids:?}"
    );
}

#[test]
fn health_names_missed_sessions_but_not_weekends_or_holidays() {
    let env = Env::new("");
    assert_eq!(env.trade("2025-12-19", &[]).0, 0);
    // Friday 2025-12-26 at 17:00: 22, 23, 24 (early close) and 26 were missed; the weekend
    // and Christmas were not sessions.
    let health = |now: &str, json: bool| {
        let mut cmd = jutsu();
        cmd.env("JUTSU_NOW", now)
            .args(["-c", env.config.to_str().unwrap(), "health"]);
        if json {
            cmd.arg("--json");
        }
        run(&mut cmd)
    };
    let (code, stdout, _) = health("2025-12-26T22:00:00Z", true);
    assert_eq!(code, 1, "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(
        report["missed_sessions"],
        serde_json::json!(["2025-12-22", "2025-12-23", "2025-12-24", "2025-12-26"])
    );
    assert_eq!(report["next_run"], "2025-12-29 15:55 ET");
    // Right after the Friday run, before Monday's: nothing missed.
    let (code, stdout, _) = health("2025-12-19T22:00:00Z", false);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("[ok  ] sessions  no missed session"),
        "{stdout}"
    );
    assert!(stdout.contains("next run 2025-12-22 15:55 ET"), "{stdout}");
    std::fs::write(env.path("state/halt"), "test").unwrap();
    let (code, stdout, _) = health("2025-12-19T22:00:00Z", false);
    assert_eq!(code, 1);
    assert!(stdout.contains("[fail] halt"), "{stdout}");
}

#[test]
fn as_of_before_the_last_completed_session_is_refused_and_changes_nothing() {
    let env = Env::new("");
    assert_eq!(env.trade("2025-12-12", &[]).0, 0);
    assert_eq!(env.trade("2025-12-15", &[]).0, 0);
    let state = std::fs::read_to_string(env.path("state/paper/state.json")).unwrap();
    let account = env.account();
    // A one-digit slip (2025-12-11 for 2025-12-16) must not rewrite the paper history.
    let (code, stdout, _) = env.trade("2025-12-11", &[]);
    assert_eq!(code, 2, "{stdout}");
    assert!(
        stdout.contains(
            "--as-of 2025-12-11 is before 2025-12-15, the last session the paper account completed"
        ),
        "{stdout}"
    );
    assert!(!env.path("state/paper/runs/2025-12-11.json").exists());
    assert_eq!(
        std::fs::read_to_string(env.path("state/paper/state.json")).unwrap(),
        state
    );
    assert_eq!(env.account(), account);
    // The last session itself may be repeated (a no-op), and the next one runs.
    let (code, stdout, _) = env.trade("2025-12-15", &[]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("NO-OP"), "{stdout}");
    assert_eq!(env.trade("2025-12-16", &[]).0, 0);
}

/// Replaces `from` by `to` in a file, leaving its checksum line as it was (a hand edit).
fn hand_edit(path: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {text}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn state_cmd(env: &Env, args: &[&str]) -> (i32, String, String) {
    let mut cmd = jutsu();
    cmd.args(["-c", env.config.to_str().unwrap(), "state"])
        .args(args);
    run(&mut cmd)
}

#[test]
fn a_hand_edited_state_stops_the_run_until_it_is_accepted_or_restored() {
    let env = Env::new("");
    assert_eq!(env.trade("2025-12-12", &[]).0, 0);
    let state = env.path("state/paper/state.json");
    hand_edit(&state, "\"TQQQ\": 37", "\"TQQQ\": 38");
    let edited = std::fs::read_to_string(&state).unwrap();
    let (code, stdout, _) = env.trade("2025-12-15", &[]);
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("was edited by hand"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "`jutsu -c {} state accept {}",
            env.config.display(),
            state.display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("state restore"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        edited,
        "never silently undone"
    );
    // Restore: the backup of the start of the last run comes back.
    let (code, stdout, stderr) = state_cmd(&env, &["restore", state.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("restored from"), "{stdout}");
    assert!(env.path("state/paper/state.json.edited").exists());
    let audit = std::fs::read_to_string(env.path("state/audit.csv")).unwrap();
    assert!(audit.contains(",restore,"), "{audit}");
    let (code, stdout, _) = env.trade("2025-12-15", &[]);
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn a_hand_edited_simulated_account_is_refused_until_accepted() {
    let env = Env::new("");
    assert_eq!(env.trade("2025-12-12", &[]).0, 0);
    let account = env.path("state/sim/account.json");
    let cash = env.account().cash.to_string();
    hand_edit(
        &account,
        &format!("\"cash\": \"{cash}\""),
        "\"cash\": \"5000\"",
    );
    let (code, stdout, _) = env.trade("2025-12-15", &[]);
    assert_eq!(code, 3, "{stdout}");
    assert!(
        stdout.contains("account.json was edited by hand"),
        "{stdout}"
    );
    // A nonsense edit cannot be accepted, and an intact file is not touched.
    let (code, _, stderr) = state_cmd(&env, &["accept", "README.md"]);
    assert_eq!(code, 2, "{stderr}");
    let state = env.path("state/paper/state.json");
    let before = std::fs::read_to_string(&state).unwrap();
    let (code, _, stderr) = state_cmd(&env, &["restore", state.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("is intact (its checksum matches)"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&state).unwrap(), before);
    let (code, stdout, stderr) = state_cmd(&env, &["accept", account.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("sealed"), "{stdout}");
    assert_eq!(env.account().cash.to_string(), "5000");
    let (code, stdout, _) = env.trade("2025-12-15", &[]);
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn state_accept_refuses_values_no_account_can_have() {
    let env = Env::new("");
    assert_eq!(env.trade("2025-12-12", &[]).0, 0);
    let state = env.path("state/paper/state.json");
    hand_edit(&state, "\"TQQQ\": 37", "\"TQQQ\": -12");
    let edited = std::fs::read_to_string(&state).unwrap();
    let (code, stdout, stderr) = state_cmd(&env, &["accept", state.to_str().unwrap()]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("positions.TQQQ is -12: a share count is never negative"),
        "{stderr}"
    );
    assert!(stderr.contains("was not sealed"), "{stderr}");
    // Not sealed: the file is as edited, and the run still refuses it.
    assert_eq!(std::fs::read_to_string(&state).unwrap(), edited);
    assert_eq!(env.trade("2025-12-15", &[]).0, 3);
    // A fractional share in the simulated account is refused too.
    let account = env.path("state/sim/account.json");
    let text = std::fs::read_to_string(&account).unwrap();
    let held = env.account().positions["TQQQ"].to_string();
    let fractional = text.replacen(&format!("\"TQQQ\": \"{held}\""), "\"TQQQ\": \"37.5\"", 1);
    assert_ne!(fractional, text, "the edit applies");
    std::fs::write(&account, fractional).unwrap();
    let (code, _, stderr) = state_cmd(&env, &["accept", account.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the simulator holds whole shares"),
        "{stderr}"
    );
}

#[test]
fn backups_are_distinct_states_and_closed_ledgers_keep_none() {
    let env = Env::new("");
    assert_eq!(env.trade("2025-12-12", &[]).0, 0);
    let account = env.path("state/sim/account.json");
    let modified = || std::fs::metadata(&account).unwrap().modified().unwrap();
    let before = modified();
    std::thread::sleep(std::time::Duration::from_millis(20));
    // hello, a dry run and a no-op rerun change nothing: no rewrite, no new backups.
    let (code, _, _) = run(jutsu().env("JUTSU_NOW", "2025-12-12T21:00:00Z").args([
        "-c",
        env.config.to_str().unwrap(),
        "hello",
    ]));
    assert_eq!(code, 0);
    assert_eq!(env.trade("2025-12-12", &[]).0, 0);
    assert_eq!(env.trade("2025-12-15", &["--mode", "dry_run"]).0, 0);
    assert_eq!(
        modified(),
        before,
        "the account was rewritten without a change"
    );
    let backups = |base: &str| {
        (1..=5)
            .filter(|n| env.path(&format!("{base}.{n}")).exists())
            .count()
    };
    // The simulated account's newest backup is the account as it last was (kept after each
    // change, so a lost file loses nothing); the state's backups are starts of runs.
    assert!(backups("state/sim/account.json") >= 1);
    assert_eq!(
        std::fs::read(env.path("state/sim/account.json.1")).unwrap(),
        std::fs::read(&account).unwrap(),
        "the newest backup is the account as it is"
    );
    // Every backup is a different state.
    assert_eq!(env.trade("2025-12-15", &[]).0, 0);
    assert_eq!(env.trade("2025-12-16", &[]).0, 0);
    let texts: Vec<String> = (1..=3)
        .filter_map(|n| {
            std::fs::read_to_string(env.path(&format!("state/sim/account.json.{n}"))).ok()
        })
        .collect();
    let mut unique = texts.clone();
    unique.dedup();
    assert_eq!(
        unique.len(),
        texts.len(),
        "two backups hold the same content"
    );
    // Done sessions keep one ledger file each.
    assert_eq!(backups("state/paper/runs/2025-12-12.json"), 0);
    assert_eq!(backups("state/paper/runs/2025-12-15.json"), 0);
}

#[test]
fn state_json_labels_its_targets_and_a_version_1_file_is_migrated() {
    let env = Env::new("");
    assert_eq!(env.trade("2025-12-12", &[]).0, 0);
    let path = env.path("state/paper/state.json");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(state["version"], 2);
    assert_eq!(state["targets"]["TQQQ"], "0.2", "{state}");
    assert_eq!(state["targets"]["QQQ"], "0.8", "{state}");
    assert_eq!(state["targets"]["TMF"], "0", "{state}");
    assert!(state.get("remembered").is_none(), "{state}");
    // The unlabelled array of version 1 (leg order TQQQ, QQQ, PSQ, TMF, TMV), written by
    // hand without a checksum, is read and labelled.
    let mut v1 = state.clone();
    let map = v1.as_object_mut().unwrap();
    map.remove("targets");
    map.remove("checksum");
    map.insert("version".into(), 1.into());
    map.insert(
        "remembered".into(),
        serde_json::json!(["0.2", "0.8", "0", "0", "0"]),
    );
    std::fs::write(&path, v1.to_string()).unwrap();
    let (code, stdout, _) = env.trade("2025-12-15", &[]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("broker matches the state"), "{stdout}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(state["version"], 2, "{state}");
    assert_eq!(state["targets"]["QQQ"], "0.8", "{state}");
}

#[test]
fn report_validate_and_health_take_mode_like_trade() {
    let env = Env::new("");
    assert_eq!(env.trade("2025-12-12", &[]).0, 0);
    let cmd = |args: &[&str]| {
        let mut c = jutsu();
        c.env("JUTSU_NOW", "2025-12-12T22:00:00Z")
            .args(["-c", env.config.to_str().unwrap()])
            .args(args);
        run(&mut c)
    };
    let (code, stdout, _) = cmd(&["report", "--mode", "dry_run"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("no completed dry_run runs"), "{stdout}");
    let (_, stdout, _) = cmd(&["report"]);
    assert!(stdout.contains("2025-12-12"), "{stdout}");
    let (_, stdout, _) = cmd(&["validate", "--date", "2025-12-12", "--mode", "dry_run"]);
    assert!(stdout.contains("NO_RUN: no dry_run run ledger"), "{stdout}");
    let (_, stdout, _) = cmd(&["validate", "--date", "2025-12-12", "--mode", "paper"]);
    assert!(stdout.contains("GREEN"), "{stdout}");
    let (_, stdout, _) = cmd(&["health", "--mode", "dry_run"]);
    assert!(stdout.contains("jutsu health (mode dry_run)"), "{stdout}");
    assert!(stdout.contains("no state yet"), "{stdout}");
}

#[test]
fn usage_slips_are_refused_with_exit_2_in_every_command() {
    let env = Env::new("");
    // One hour digit: refused, not read as 03:55.
    let (code, _, stderr) = env.trade("2025-12-12T3:55", &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("two-digit hour"), "{stderr}");
    assert!(!env.path("state/paper/runs").exists(), "nothing ran");
    assert_eq!(env.trade("2025-12-12", &[]).0, 0);
    // report: --from after --to; the first day's loss is a drawdown.
    let report = |args: &[&str]| {
        let mut c = jutsu();
        c.args(["-c", env.config.to_str().unwrap(), "report"])
            .args(args);
        run(&mut c)
    };
    let (code, _, stderr) = report(&["--from", "2025-12-15", "--to", "2025-12-12"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--from 2025-12-15 is after --to 2025-12-12"),
        "{stderr}"
    );
    let (code, stdout, _) = report(&["--csv", env.path("r.csv").to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    let rows = common::read_csv(&env.path("r.csv"));
    assert_eq!(rows[0]["return_pct"], rows[0]["drawdown_pct"], "{rows:?}");
    assert!(rows[0]["drawdown_pct"].starts_with('-'), "{rows:?}");
    // A bad data row: exit 2 naming the file and line, in every command that reads bars.
    let data = env.path("data");
    std::fs::create_dir_all(&data).unwrap();
    for entry in std::fs::read_dir(common::bars_dir()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|x| x == "csv") {
            std::fs::copy(&p, data.join(p.file_name().unwrap())).unwrap();
        }
    }
    let qqq = data.join("QQQ.csv");
    let text = std::fs::read_to_string(&qqq).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[3000] = "2020-01-02,abc,1,1,1,100";
    std::fs::write(&qqq, lines.join("\n") + "\n").unwrap();
    let config = std::fs::read_to_string(&env.config).unwrap();
    let dir_line = config
        .lines()
        .find(|l| l.trim_start().starts_with("dir:"))
        .unwrap();
    std::fs::write(
        &env.config,
        config.replace(dir_line, &format!("  dir: {}", data.display())),
    )
    .unwrap();
    for args in [
        vec!["trade", "--as-of", "2025-12-15"],
        vec!["backtest"],
        vec!["report"],
        vec!["validate", "--date", "2025-12-12"],
        vec!["hello"],
        vec!["emergency-exit", "--mode", "dry_run"],
    ] {
        let mut c = jutsu();
        c.env("JUTSU_NOW", "2025-12-15T22:00:00Z")
            .args(["-c", env.config.to_str().unwrap()])
            .args(&args);
        let (code, stdout, stderr) = run(&mut c);
        assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
        assert!(
            format!("{stdout}{stderr}").contains("QQQ.csv:3001: open `abc` is not a number"),
            "{args:?}: {stdout}{stderr}"
        );
    }
}

/// Half the cash stays uninvested, so that cash can be taken out without a debt.
const HALF_INVESTED: &str = "execution:\n  max_buying_power_pct: 50\n";

impl Env {
    /// Takes `amount` of cash out of the simulated account behind jutsu's back (a loss the
    /// next run finds).
    fn lose_cash(&self, amount: i64) {
        let path = self.path("state/sim/account.json");
        let mut account: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let cash: rust_decimal::Decimal = account["cash"].as_str().unwrap().parse().unwrap();
        account["cash"] =
            serde_json::json!((cash - rust_decimal::Decimal::from(amount)).to_string());
        account.as_object_mut().unwrap().remove("checksum");
        std::fs::write(&path, account.to_string()).unwrap();
    }
}

#[test]
fn a_daily_loss_past_the_limit_halts_with_nothing_sent() {
    let env = Env::new(&format!("{HALF_INVESTED}risk:\n  daily_loss_halt_pct: 5\n"));
    assert_eq!(env.trade("2025-12-10", &[]).0, 0);
    let before = env.account();
    // 10 % of the account gone overnight.
    env.lose_cash(1000);
    let rows = trades_csv(&env);
    let (code, stdout, _) = env.trade("2025-12-11", &[]);
    assert_eq!(code, 5, "{stdout}");
    assert!(stdout.contains("below the previous run's"), "{stdout}");
    assert!(
        stdout.contains("over risk.daily_loss_halt_pct (5)"),
        "{stdout}"
    );
    assert!(stdout.contains("HALTED"), "{stdout}");
    let flag = std::fs::read_to_string(env.path("state/halt")).unwrap();
    assert!(flag.contains("loss halt on 2025-12-11"), "{flag}");
    assert_eq!(
        env.account().orders.len(),
        before.orders.len(),
        "nothing sent"
    );
    assert_eq!(trades_csv(&env), rows);
    // health names it; the next run stays halted until resume.
    let (code, stdout, _) = run(jutsu().args(["-c", env.config.to_str().unwrap(), "health"]));
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("trading is halted (loss halt on 2025-12-11"),
        "{stdout}"
    );
    assert_eq!(env.trade("2025-12-12", &[]).0, 5);
}

#[test]
fn a_drawdown_past_the_limit_halts_and_health_shows_how_close_it_is() {
    let env = Env::new(&format!(
        "{HALF_INVESTED}risk:\n  max_drawdown_halt_pct: 12\n"
    ));
    assert_eq!(env.trade("2025-12-10", &[]).0, 0);
    env.lose_cash(1000);
    // About 10 % below the peak: under 12 %, the run goes on, and health warns (over 80 %
    // of the limit).
    let (code, stdout, _) = env.trade("2025-12-11", &[]);
    assert_eq!(code, 0, "{stdout}");
    let (_, health, _) = run(jutsu().args(["-c", env.config.to_str().unwrap(), "health"]));
    assert!(health.contains("[warn] losses    drawdown"), "{health}");
    assert!(health.contains("of 12% allowed"), "{health}");
    let (code, status, _) = run(jutsu().args([
        "-c",
        env.config.to_str().unwrap(),
        "status",
        "--json",
        "--as-of",
        "2025-12-11T16:00",
    ]));
    assert_eq!(code, 0, "{status}");
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let halts = status["loss_halts"][0].as_str().unwrap();
    assert!(
        halts.starts_with("drawdown ") && halts.ends_with("of 12% allowed"),
        "{halts}"
    );
    env.lose_cash(500);
    let (code, stdout, _) = env.trade("2025-12-12", &[]);
    assert_eq!(code, 5, "{stdout}");
    assert!(
        stdout.contains("below the peak of the recorded runs"),
        "{stdout}"
    );
    assert!(env.path("state/halt").exists());
}

#[test]
fn health_takes_a_withdrawal_for_no_loss_as_the_run_does() {
    let env = Env::new(&format!("{HALF_INVESTED}risk:\n  daily_loss_halt_pct: 5\n"));
    assert_eq!(env.trade("2025-12-10", &[]).0, 0);
    let (code, out, err) = run(jutsu().args([
        "-c",
        env.config.to_str().unwrap(),
        "sim",
        "withdraw",
        "1500",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let (code, stdout, _) = env.trade("2025-12-11", &[]);
    assert_eq!(
        code, 0,
        "the run takes the withdrawal for no loss: {stdout}"
    );
    let (_, health, _) = run(jutsu().args(["-c", env.config.to_str().unwrap(), "health"]));
    let line = health.lines().find(|l| l.contains("losses")).unwrap();
    assert!(line.contains("[ok  ] losses"), "{health}");
}

#[test]
fn with_the_halts_off_the_same_losses_trade_on() {
    let env = Env::new(HALF_INVESTED);
    assert_eq!(env.trade("2025-12-10", &[]).0, 0);
    env.lose_cash(1500);
    let (code, stdout, _) = env.trade("2025-12-11", &[]);
    assert_eq!(code, 0, "{stdout}");
    assert!(!env.path("state/halt").exists());
}

#[test]
fn health_fails_on_a_hand_edited_simulated_account_and_names_the_stage_a_run_failed_at() {
    let env = Env::new("");
    assert_eq!(env.trade("2025-12-12T15:55", &[]).0, 0);
    let health = || {
        let (code, stdout, _) = run(jutsu().env("JUTSU_NOW", "2025-12-12T22:00:00Z").args([
            "-c",
            env.config.to_str().unwrap(),
            "health",
        ]));
        (code, stdout)
    };
    let (code, stdout) = health();
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("[ok  ] account   "), "{stdout}");

    // A hand edit: health fails as the next trade would (exit 3), naming both ways out.
    let account = env.path("state/sim/account.json");
    let text = std::fs::read_to_string(&account).unwrap();
    let edited = text.replacen("\"cash\": \"", "\"cash\": \"1", 1);
    assert_ne!(edited, text);
    std::fs::write(&account, &edited).unwrap();
    let (code, stdout) = health();
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("[fail] account   ")
            && stdout.contains("was edited by hand")
            && stdout.contains("state accept"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(&account).unwrap(),
        edited,
        "health wrote nothing"
    );
    assert_eq!(
        env.trade("2025-12-15T15:55", &[]).0,
        3,
        "the trade agrees: it stops"
    );

    // Truncated: the backup is good, so health warns and the next run restores it.
    std::fs::write(&account, &text[..text.len() / 2]).unwrap();
    let (code, stdout) = health();
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("[warn] account   ") && stdout.contains("the next run restores it"),
        "{stdout}"
    );
    assert_eq!(env.trade("2025-12-15T15:55", &[]).0, 0, "{stdout}");

    // A run that fails while fetching bars is named as failing at fetch (not preflight).
    let bars = env.path("bars");
    std::fs::create_dir_all(&bars).unwrap();
    for symbol in ["QQQ", "TLT", "TQQQ", "TMF", "TMV"] {
        let name = format!("{symbol}.csv");
        std::fs::copy(common::bars_dir().join(&name), bars.join(&name)).unwrap();
    }
    let (dir2, config2) = common::paper_config("");
    let text = std::fs::read_to_string(&config2).unwrap();
    let text = text.replace(
        &common::bars_dir().display().to_string(),
        &bars.display().to_string(),
    );
    std::fs::write(&config2, text).unwrap();
    let (code, _, _) = common::trade_at(&config2, "2025-12-12T15:55");
    assert_ne!(code, 0);
    let (_, stdout, _) = run(jutsu().env("JUTSU_NOW", "2025-12-12T22:00:00Z").args([
        "-c",
        config2.to_str().unwrap(),
        "health",
    ]));
    assert!(stdout.contains("2025-12-12 failed at fetch: "), "{stdout}");
    drop(dir2);
}

#[test]
fn health_names_a_failed_run_with_its_stage_and_is_green_after_a_replay_on_bundled_bars() {
    // A run the risk gate refuses fails at plan: health names it and the session it missed.
    let env = Env::new("risk:\n  max_total_leverage: 0.1\n");
    let (code, _, _) = env.trade("2025-12-12", &[]);
    assert_eq!(code, 3);
    let (code, stdout, _) = run(jutsu().env("JUTSU_NOW", "2025-12-12T22:00:00Z").args([
        "-c",
        env.config.to_str().unwrap(),
        "health",
    ]));
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("[warn] failures  2025-12-12 failed at plan: "),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 missed session(s): 2025-12-12"),
        "{stdout}"
    );

    // A replay of a bundled session, then health today (past the bars' end): judged as of
    // that run, all green, and the bars reach the next run.
    let env = Env::new("");
    assert_eq!(env.trade("2025-12-12T15:55", &[]).0, 0);
    let (code, stdout, _) = run(jutsu().args(["-c", env.config.to_str().unwrap(), "health"]));
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("[ok  ] sessions  no missed session"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[ok  ] bars      local bars reach 2025-12-31"),
        "{stdout}"
    );
}
