//! The fault-injection suite: `jutsu trade --mode live` against a stateful fake Schwab
//! (tests/common/fake_schwab.rs) with failures switched on, and kill points that abort the
//! process mid-run. Every scenario asserts the exit code, a message a user can act on, that
//! the broker never received more than the plan, and that the broker either holds exactly
//! what a clean run leaves or the ledger accounts for exactly what it holds.
//! Scenarios are listed in docs/fault-injection.md.

use crate::common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use crate::common::fake_schwab::FakeSchwab;
use jutsu::domain::journal::{Ledger, OrderState, RunStatus};
use serde_json::json;

const SESSION: &str = "2025-06-10";
const NOW: &str = "2025-06-10T19:55:00Z";
const START_CASH: f64 = 20_000.0;
const START: [(&str, f64); 1] = [("TMF", 650.0)];
const APP_KEY: &str = "APPKEY-secret-0123456789";
const APP_SECRET: &str = "APPSECRET-secret-0123456";

struct Case {
    fake: FakeSchwab,
    dir: tempfile::TempDir,
    config: PathBuf,
}

fn case() -> Case {
    case_with_access_left(1200)
}

/// A case whose access token has `seconds` left (under 300 s, the run refreshes it first).
fn case_with_access_left(seconds: i64) -> Case {
    case_configured(seconds, "", "")
}

/// A case with more `execution` keys (each line indented two spaces) and more sections.
fn case_with(execution: &str, sections: &str) -> Case {
    case_configured(1200, execution, sections)
}

fn case_configured(seconds: i64, execution: &str, sections: &str) -> Case {
    let fake = FakeSchwab::start(SESSION, NOW, START_CASH, &START, "AT-secret-access-0");
    let dir = tempfile::tempdir().unwrap();
    let config = common::live_config(
        dir.path(),
        &fake.url,
        &format!("  order_timeout_s: 2\n{execution}"),
        "  request_timeout_s: 1\n",
        sections,
    );
    let now = chrono::DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .timestamp();
    common::token_file(
        dir.path(),
        now - 86_400,
        ("RT-secret-refresh-value", "AT-secret-access-0"),
        now + seconds,
    );
    Case { fake, dir, config }
}

impl Case {
    fn trade_with(&self, env: &[(&str, &str)]) -> (i32, String, String) {
        let mut cmd = common::jutsu();
        cmd.env("JUTSU_NOW", NOW)
            .env("T_APP_KEY", APP_KEY)
            .env("T_APP_SECRET", APP_SECRET)
            .env_remove("JUTSU_TEST_KILL_AT")
            .args(["-c", self.config.to_str().unwrap(), "trade"]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        common::run(&mut cmd)
    }

    fn trade(&self) -> (i32, String, String) {
        self.trade_with(&[])
    }

    /// `jutsu emergency-exit` with these arguments (and environment).
    fn exit_with(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let mut cmd = common::jutsu();
        cmd.env("JUTSU_NOW", NOW)
            .env("T_APP_KEY", APP_KEY)
            .env("T_APP_SECRET", APP_SECRET)
            .env_remove("JUTSU_TEST_KILL_AT")
            .args(["-c", self.config.to_str().unwrap(), "emergency-exit"])
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        common::run(&mut cmd)
    }

    fn exit_ledger(&self) -> Option<Ledger> {
        Ledger::load(
            &self
                .dir
                .path()
                .join(format!("state/runs/{SESSION}.exit.json")),
        )
        .unwrap()
    }

    fn trades_csv(&self) -> Vec<std::collections::HashMap<String, String>> {
        let path = self.dir.path().join("logs/trades.csv");
        if path.exists() {
            common::read_csv(&path)
        } else {
            Vec::new()
        }
    }

    /// trades.csv has one row per order, and each row's shares are what the broker filled.
    fn assert_trades_once(&self) {
        let rows = self.trades_csv();
        let mut ids: Vec<&String> = rows.iter().map(|r| &r["order_id"]).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "an order twice in trades.csv: {rows:?}");
        let orders = self.fake.orders();
        for r in &rows {
            let o = orders
                .iter()
                .find(|o| o.id.to_string() == r["order_id"])
                .unwrap_or_else(|| panic!("trades.csv names an unknown order {r:?}"));
            assert_eq!(r["quantity"].parse::<f64>().unwrap(), o.filled, "{r:?}");
        }
    }

    fn killed_at(&self, point: &str) {
        let (code, _, stderr) = self.trade_with(&[("JUTSU_TEST_KILL_AT", point)]);
        assert_ne!(code, 0, "the kill at {point} did not happen: {stderr}");
        assert!(
            stderr.contains(&format!("killed at {}", point.split(':').next().unwrap())),
            "{stderr}"
        );
    }

    fn ledger(&self) -> Option<Ledger> {
        Ledger::load(&self.dir.path().join(format!("state/runs/{SESSION}.json"))).unwrap()
    }

    /// The broker never received more than the plan: per symbol and side, the shares
    /// ordered at the broker are at most the planned shares, and every broker order is in
    /// the journal exactly once.
    fn assert_no_duplicate(&self) {
        let orders = self.fake.orders();
        let planned = baseline_plan();
        let mut sent: BTreeMap<(String, String), f64> = BTreeMap::new();
        for o in &orders {
            *sent
                .entry((o.symbol.clone(), o.instruction.clone()))
                .or_default() += o.filled.max(if o.status == "FILLED" {
                o.quantity
            } else {
                0.0
            });
        }
        for ((symbol, side), filled) in &sent {
            let plan = planned
                .get(&(symbol.clone(), side.clone()))
                .copied()
                .unwrap_or(0);
            assert!(
                *filled as i64 <= plan,
                "{side} {symbol}: {filled} filled at the broker, plan {plan}"
            );
        }
        if let Some(ledger) = self.ledger() {
            let ids: Vec<String> = ledger
                .orders
                .iter()
                .filter_map(|o| o.broker_id.clone())
                .collect();
            let mut unique = ids.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), ids.len(), "an order twice in the journal");
            for o in &orders {
                assert!(
                    ids.contains(&o.id.to_string()),
                    "broker order {} ({} {}) missing from the journal",
                    o.id,
                    o.instruction,
                    o.symbol
                );
            }
        }
    }

    /// A completed run leaves the clean run's positions, and trades.csv has exactly one row
    /// for each order the broker filled.
    fn assert_planned_positions(&self) {
        assert_eq!(self.fake.positions(), *baseline_positions());
        assert_eq!(self.ledger().unwrap().status, RunStatus::Done);
        self.assert_trades_once();
        let filled = self.fake.orders().iter().filter(|o| o.filled > 0.0).count();
        assert_eq!(self.trades_csv().len(), filled, "one row per filled order");
    }

    /// A stopped run's ledger accounts for exactly what the broker holds: the starting
    /// positions plus the fills it journaled, except where an order it lists as not yet
    /// settled (with its size) covers the difference.
    fn assert_ledger_explains_broker(&self) {
        let ledger = self.ledger().unwrap();
        assert!(
            matches!(ledger.status, RunStatus::Incomplete | RunStatus::Failed),
            "{:?}",
            ledger.status
        );
        assert!(ledger.message.as_deref().is_some_and(|m| !m.is_empty()));
        let mut expected: BTreeMap<String, i64> = START
            .iter()
            .map(|(s, q)| (s.to_string(), *q as i64))
            .collect();
        let mut open: BTreeMap<String, i64> = BTreeMap::new();
        for o in &ledger.orders {
            let q: i64 = o.filled.trunc().to_string().parse().unwrap();
            let sign = if o.side.as_str() == "BUY" { 1 } else { -1 };
            *expected.entry(o.symbol.clone()).or_default() += sign * q;
            if !o.state().is_final() {
                *open.entry(o.symbol.clone()).or_default() += o.quantity - q;
            }
        }
        let held = self.fake.positions();
        for symbol in expected.keys().chain(held.keys()) {
            let want = expected.get(symbol).copied().unwrap_or(0);
            let got = held.get(symbol).copied().unwrap_or(0);
            let covered = open.get(symbol).copied().unwrap_or(0);
            assert!(
                (got - want).abs() <= covered,
                "{symbol}: the broker holds {got}, the ledger accounts for {want} (+/- {covered} unsettled)"
            );
        }
        if !open.is_empty() {
            assert!(
                ledger.message.unwrap().contains("not yet settled"),
                "unsettled orders are named"
            );
        }
    }

    /// The run stops with exit 3 naming `needle`, and the broker received nothing.
    fn assert_stops_before_sending(&self, needle: &str) {
        let (code, stdout, _) = self.trade();
        assert_eq!(code, 3, "{stdout}");
        assert!(stdout.contains(needle), "{stdout}");
        self.assert_nothing_sent();
    }

    fn assert_nothing_sent(&self) {
        assert!(self.fake.orders().is_empty(), "{:?}", self.fake.orders());
        assert_eq!(
            self.fake.positions(),
            START
                .iter()
                .map(|(s, q)| (s.to_string(), *q as i64))
                .collect()
        );
    }
}

/// Shares per (symbol, side).
type Planned = BTreeMap<(String, String), i64>;

/// What a clean run does: its final positions and its planned quantities.
fn baseline() -> &'static (BTreeMap<String, i64>, Planned) {
    static BASE: OnceLock<(BTreeMap<String, i64>, Planned)> = OnceLock::new();
    BASE.get_or_init(|| {
        let c = case();
        let (code, stdout, stderr) = c.trade();
        assert_eq!(code, 0, "the clean run must pass: {stdout}{stderr}");
        let plan = c.ledger().unwrap().plan.unwrap();
        let mut planned = BTreeMap::new();
        for o in plan.orders {
            *planned
                .entry((o.symbol, o.side.as_str().to_string()))
                .or_default() += o.quantity;
        }
        (c.fake.positions(), planned)
    })
}

fn baseline_positions() -> &'static BTreeMap<String, i64> {
    &baseline().0
}

fn baseline_plan() -> Planned {
    baseline().1.clone()
}

// ---------------------------------------------------------------------------- scenarios

#[test]
fn f01_clean_run_sells_first_and_reaches_the_plan() {
    let c = case();
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("OK: rebalanced (first run)"), "{stdout}");
    c.assert_no_duplicate();
    c.assert_planned_positions();
    assert_eq!(c.fake.orders()[0].instruction, "SELL");
    assert!(baseline_plan().len() >= 3);
}

#[test]
fn f02_a_burst_of_500s_on_quotes_is_retried() {
    let c = case();
    c.fake.faults(|f| f.fail.push(("quotes".into(), 500, 2)));
    let (code, stdout, stderr) = c.trade();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("transient error, retrying"), "{stderr}");
    c.assert_no_duplicate();
    c.assert_planned_positions();
}

#[test]
fn f03_a_burst_of_429s_on_history_is_retried() {
    let c = case();
    c.fake
        .faults(|f| f.fail.push(("pricehistory".into(), 429, 3)));
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 0, "{stdout}");
    c.assert_planned_positions();
}

#[test]
fn f04_persistent_500s_stop_the_run_before_any_order() {
    let c = case();
    c.fake.faults(|f| f.fail.push(("quotes".into(), 500, 50)));
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 3, "{stdout}");
    assert!(
        stdout.contains("FAILED before sending anything at fetch"),
        "{stdout}"
    );
    assert!(stdout.contains("GET /quotes: HTTP 500"), "{stdout}");
    c.assert_nothing_sent();
}

#[test]
fn f05_malformed_quotes_stop_the_run_before_any_order() {
    let c = case();
    c.fake.faults(|f| f.malformed.push("quotes".into()));
    c.assert_stops_before_sending("GET /quotes: unexpected response: not JSON");
}

#[test]
fn f06_a_malformed_account_stops_the_run_before_any_order() {
    let c = case();
    c.fake.faults(|f| {
        f.malformed
            .push(format!("/accounts/{}", common::fake_schwab::HASH))
    });
    c.assert_stops_before_sending("at reconcile");
}

#[test]
fn f07_an_order_placed_whose_answer_is_lost_is_settled_not_resent() {
    let c = case();
    c.fake.faults(|f| f.post_timeouts = 1);
    let (code, stdout, stderr) = c.trade();
    assert_eq!(code, 0, "{stdout}{stderr}");
    c.assert_no_duplicate();
    c.assert_planned_positions();
    assert_eq!(c.fake.orders().len(), baseline_plan().len());
}

#[test]
fn f08_a_missing_location_header_is_settled_by_listing_orders() {
    let c = case();
    c.fake.faults(|f| f.post_no_location = 1);
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 0, "{stdout}");
    c.assert_no_duplicate();
    c.assert_planned_positions();
}

#[test]
fn f09_no_location_on_every_order_is_settled_every_time() {
    let c = case();
    c.fake.faults(|f| f.post_no_location = 10);
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 0, "{stdout}");
    c.assert_no_duplicate();
    c.assert_planned_positions();
}

#[test]
fn f10_the_access_token_expiring_mid_run_is_refreshed_once() {
    let c = case();
    c.fake.faults(|f| f.expire_token_after = Some(9));
    let (code, stdout, stderr) = c.trade();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("401 from Schwab: refreshing the token once"),
        "{stderr}"
    );
    assert_eq!(c.fake.world.lock().unwrap().token_grants, 1);
    let token = std::fs::read_to_string(c.dir.path().join("state/token.json")).unwrap();
    assert!(token.contains("AT-secret-access-1"));
    c.assert_no_duplicate();
    c.assert_planned_positions();
}

#[test]
fn f11_a_dead_refresh_token_before_trading_says_to_log_in() {
    let c = case();
    c.fake.faults(|f| {
        f.expire_token_after = Some(3);
        f.dead_refresh = true;
    });
    c.assert_stops_before_sending("auth login`");
}

#[test]
fn f12_a_dead_login_mid_execution_stops_and_a_rerun_finishes_without_resending() {
    let c = case();
    c.fake.faults(|f| {
        // The token dies after the first order (reconcile reads the transactions too).
        f.expire_token_after = Some(13);
        f.dead_refresh = true;
    });
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 4, "{stdout}");
    assert!(stdout.contains("INCOMPLETE"), "{stdout}");
    assert!(stdout.contains("auth login`"), "{stdout}");
    c.assert_no_duplicate();
    c.assert_ledger_explains_broker();
    c.fake.faults(|f| f.dead_refresh = false);
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("resuming it"), "{stdout}");
    c.assert_no_duplicate();
    c.assert_planned_positions();
}

#[test]
fn f13_slow_answers_still_complete() {
    let c = case();
    c.fake.faults(|f| f.slow_ms = 150);
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 0, "{stdout}");
    c.assert_planned_positions();
}

#[test]
fn f14_a_rejected_order_stops_with_the_reason_and_the_ledger_says_what_is_missing() {
    let c = case();
    c.fake.faults(|f| f.reject_symbol = Some("QQQ".into()));
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 4, "{stdout}");
    assert!(
        stdout.contains("was rejected: rejected by the fake broker"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "INCOMPLETE: orders were sent and the run stopped; a human must look at execute"
        ),
        "{stdout}"
    );
    let ledger = c.ledger().unwrap();
    assert!(ledger
        .orders
        .iter()
        .any(|o| o.symbol == "QQQ" && *o.state() == OrderState::Rejected));
    c.assert_no_duplicate();
    c.assert_ledger_explains_broker();
}

#[test]
fn f15_partial_fills_are_retried_a_bounded_number_of_times() {
    let c = case();
    c.fake.faults(|f| f.partial_ratio = Some(0.5));
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 4, "{stdout}");
    assert!(
        stdout.contains("still unfilled after 3 retries"),
        "{stdout}"
    );
    assert!(stdout.contains("must look at execute"), "{stdout}");
    c.assert_no_duplicate();
    c.assert_ledger_explains_broker();
    c.assert_trades_once();
}

#[test]
fn f16_after_partial_fills_a_rerun_finishes_the_plan() {
    let c = case();
    c.fake.faults(|f| f.partial_ratio = Some(0.5));
    assert_eq!(c.trade().0, 4);
    c.fake.faults(|f| f.partial_ratio = None);
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 0, "{stdout}");
    c.assert_no_duplicate();
    c.assert_planned_positions();
}

fn kill_and_rerun(point: &str) -> Case {
    let c = case();
    c.killed_at(point);
    let (code, stdout, stderr) = c.trade();
    assert_eq!(code, 0, "after a kill at {point}: {stdout}{stderr}");
    c.assert_no_duplicate();
    c.assert_planned_positions();
    c
}

#[test]
fn f17_killed_after_preflight() {
    kill_and_rerun("preflight");
}

#[test]
fn f18_killed_after_planning() {
    kill_and_rerun("plan");
}

#[test]
fn f19_killed_after_journaling_but_before_sending_the_first_order() {
    let c = kill_and_rerun("before-send");
    let ledger = c.ledger().unwrap();
    assert!(
        ledger
            .orders
            .iter()
            .any(|o| *o.state() == OrderState::NotSent),
        "the unsent order is marked NOT_SENT"
    );
}

#[test]
fn f20_killed_right_after_the_first_order_was_placed() {
    let c = kill_and_rerun("after-send");
    assert_eq!(
        c.fake.orders().len(),
        baseline_plan().len(),
        "the first order was not sent again"
    );
}

#[test]
fn f21_killed_right_after_the_second_order_was_placed() {
    let c = kill_and_rerun("after-send:2");
    assert_eq!(c.fake.orders().len(), baseline_plan().len());
}

#[test]
fn f22_killed_between_the_sells_and_the_buys() {
    let c = kill_and_rerun("after-sells");
    assert_eq!(c.fake.orders().len(), baseline_plan().len());
}

#[test]
fn f23_killed_before_recording() {
    let c = kill_and_rerun("before-record");
    assert!(c.dir.path().join("state/state.json").exists());
}

#[test]
fn f24_killed_after_the_state_was_written() {
    let c = kill_and_rerun("after-state");
    assert_eq!(c.fake.orders().len(), baseline_plan().len());
}

#[test]
fn f25_a_damaged_state_file_is_restored_from_its_backup() {
    let c = case();
    assert_eq!(c.trade().0, 0);
    let orders = c.fake.orders().len();
    // A backup exists (each save keeps some); then the live file is torn, and the session's
    // ledger is gone, so the run goes all the way to planning on the state.
    let state = c.dir.path().join("state/state.json");
    jutsu::storage::fsutil::rotate_backups(&state, 5).unwrap();
    std::fs::write(&state, "{ torn").unwrap();
    std::fs::remove_file(c.dir.path().join(format!("state/runs/{SESSION}.json"))).unwrap();
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("was damaged (not valid JSON"), "{stdout}");
    assert!(stdout.contains("restored from"), "{stdout}");
    assert!(
        stdout.contains("no trade"),
        "the restored state knows the rebalance happened: {stdout}"
    );
    assert_eq!(c.fake.orders().len(), orders, "nothing was sent again");
    assert_eq!(c.fake.positions(), *baseline_positions());
}

#[test]
fn f26_a_damaged_ledger_without_backup_is_rebuilt_from_the_brokers_orders() {
    let c = case();
    c.killed_at("after-sells");
    let runs = c.dir.path().join("state/runs");
    for entry in std::fs::read_dir(&runs).unwrap() {
        let p = entry.unwrap().path();
        std::fs::write(&p, "garbage").unwrap();
    }
    let (code, stdout, stderr) = c.trade();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("its journal is rebuilt from the broker's orders"),
        "{stdout}"
    );
    c.assert_no_duplicate();
    assert_eq!(c.fake.positions(), *baseline_positions());
}

#[test]
fn f27_stale_quotes_stop_the_run() {
    let c = case();
    c.fake.faults(|f| f.quote_age_s = 600);
    c.assert_stops_before_sending("quote is stale: taken 600 s ago");
}

#[test]
fn f28_a_crossed_quote_stops_the_run() {
    let c = case();
    c.fake.faults(|f| f.crossed = true);
    c.assert_stops_before_sending("QQQ quote is crossed");
}

#[test]
fn f29_a_quote_for_the_wrong_symbol_stops_the_run() {
    let c = case();
    c.fake.faults(|f| f.wrong_symbol = true);
    c.assert_stops_before_sending("asked for QQQ, got a quote for QQQM");
}

#[test]
fn f30_a_second_run_at_the_same_time_is_refused_by_the_lock() {
    let c = case();
    let lock =
        jutsu::storage::lock::RunLock::acquire(&c.dir.path().join("state/jutsu.lock"), "test")
            .unwrap();
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("another jutsu run holds"), "{stdout}");
    assert!(
        stdout.contains(&format!("pid {}", std::process::id())),
        "{stdout}"
    );
    c.assert_nothing_sent();
    drop(lock);
}

#[test]
fn f31_no_secret_reaches_the_output_logs_state_or_ledger() {
    let c = case();
    c.fake.faults(|f| f.expire_token_after = Some(9));
    let (code, stdout, stderr) = c.trade_with(&[("RUST_LOG", "jutsu=trace")]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let secrets = [
        APP_KEY,
        APP_SECRET,
        "RT-secret-refresh-value",
        "AT-secret-access-0",
        "AT-secret-access-1",
    ];
    let mut texts = vec![
        ("stdout".to_string(), stdout),
        ("stderr".to_string(), stderr),
    ];
    let mut stack = vec![c.dir.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() != "token.json" {
                texts.push((
                    p.display().to_string(),
                    std::fs::read_to_string(&p).unwrap_or_default(),
                ));
            }
        }
    }
    assert!(
        texts.len() > 5,
        "{:?}",
        texts.iter().map(|t| &t.0).collect::<Vec<_>>()
    );
    for (name, text) in &texts {
        for s in secrets {
            assert!(!text.contains(s), "{name} contains the secret {s}");
        }
    }
}

// ------------------------------------------------------- orders as Schwab really handles them

#[test]
fn f32_a_cancel_that_still_fills_is_followed_to_its_end_and_nothing_more_is_sent() {
    let c = case();
    c.fake.faults(|f| {
        f.partial_ratio = Some(0.5);
        f.cancel_fills_after_reads = Some(2);
    });
    let (code, stdout, stderr) = c.trade();
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Each order half-filled, was canceled, and filled after all: no remainder was sent.
    assert_eq!(
        c.fake.orders().len(),
        baseline_plan().len(),
        "{:?}",
        c.fake.orders()
    );
    assert!(c.fake.orders().iter().all(|o| o.status == "FILLED"));
    c.assert_no_duplicate();
    c.assert_planned_positions();
}

#[test]
fn f33_an_order_still_live_after_the_cancel_stops_the_run_and_a_rerun_settles_it() {
    let c = case();
    c.fake.faults(|f| {
        f.partial_ratio = Some(0.5);
        f.cancel_never_settles = true;
    });
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 4, "{stdout}");
    assert!(stdout.contains("is still live at the broker"), "{stdout}");
    assert!(stdout.contains("not yet settled"), "{stdout}");
    // Only the first order was sent: no remainder beside a live order.
    assert_eq!(c.fake.orders().len(), 1, "{:?}", c.fake.orders());
    let ledger = c.ledger().unwrap();
    assert_eq!(
        *ledger.orders[0].state(),
        OrderState::Submitted,
        "a live order is not final"
    );
    c.assert_no_duplicate();
    c.assert_ledger_explains_broker();
    c.assert_trades_once();
    // While it is live a rerun sends nothing.
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 4, "{stdout}");
    assert_eq!(c.fake.orders().len(), 1);
    // Then the cancel ends with the rest filled after all; the rerun finishes the plan.
    c.fake.settle_pending_cancels(true);
    c.fake.faults(|f| {
        f.partial_ratio = None;
        f.cancel_never_settles = false;
    });
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 0, "{stdout}");
    c.assert_no_duplicate();
    c.assert_planned_positions();
}

#[test]
fn f34_statuses_that_lag_behind_the_fills_are_followed_not_resent() {
    let c = case();
    c.fake.faults(|f| f.status_lag_reads = 2);
    let (code, stdout, stderr) = c.trade();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(c.fake.orders().len(), baseline_plan().len());
    c.assert_no_duplicate();
    c.assert_planned_positions();
}

/// Shares bought per symbol at the fake.
fn bought(c: &Case) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for o in c.fake.orders().iter().filter(|o| o.instruction == "BUY") {
        *out.entry(o.symbol.clone()).or_default() += o.filled as i64;
    }
    out
}

#[test]
fn f35_a_resumed_run_never_tops_up_an_order_the_buying_power_cap_cut() {
    // Sells fill 0.9 % below the quote and buys 0.9 % above it, so the last buy no longer
    // fits in the buying power and is cut by the cap.
    let worse_fills = |f: &mut common::fake_schwab::Faults| {
        f.buy_premium = 0.009;
        f.sell_discount = 0.009;
    };
    let clean = case();
    clean.fake.faults(worse_fills);
    let (code, stdout, _) = clean.trade();
    assert_eq!(code, 0, "{stdout}");
    let ledger = clean.ledger().unwrap();
    let plan = ledger.plan.clone().unwrap();
    let cut = ledger.orders.iter().any(|o| {
        plan.orders
            .iter()
            .any(|p| p.symbol == o.symbol && p.side == o.side && o.quantity < p.quantity)
    });
    assert!(
        cut,
        "the scenario needs a capped order: {:?}",
        ledger.orders
    );
    // The same day, killed after the orders and before recording, then run again.
    let c = case();
    c.fake.faults(worse_fills);
    c.killed_at("before-record");
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        bought(&c),
        bought(&clean),
        "the resumed run ends where a clean one does"
    );
    assert_eq!(c.fake.orders().len(), clean.fake.orders().len());
    c.assert_trades_once();
}

#[test]
fn f36_an_account_answer_without_positions_stops_before_any_order() {
    let c = case();
    c.fake.faults(|f| f.omit_positions = true);
    c.assert_stops_before_sending("no `positions` in the account");
}

#[test]
fn f37_one_503_from_the_token_endpoint_at_the_daily_refresh_is_retried() {
    let c = case_with_access_left(60);
    c.fake.faults(|f| f.token_fail = vec![503]);
    let (code, stdout, stderr) = c.trade();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("the token endpoint failed, retrying"),
        "{stderr}"
    );
    assert_eq!(c.fake.world.lock().unwrap().token_grants, 1);
    c.assert_planned_positions();
}

#[test]
fn f38_a_token_endpoint_outage_is_not_called_a_dead_login() {
    let c = case_with_access_left(60);
    c.fake
        .faults(|f| f.token_fail = vec![503, 502, 500, 503, 503, 503]);
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("token endpoint is unavailable"), "{stdout}");
    assert!(stdout.contains("not a dead login"), "{stdout}");
    assert!(!stdout.contains("auth login"), "{stdout}");
    c.assert_nothing_sent();
}

#[test]
fn f39_a_dropped_connection_and_an_edge_page_at_the_token_endpoint_are_retried() {
    let c = case_with_access_left(60);
    c.fake.faults(|f| {
        f.token_drop = 1;
        f.token_fail = vec![403];
    });
    let (code, stdout, stderr) = c.trade();
    assert_eq!(code, 0, "{stdout}{stderr}");
    c.assert_planned_positions();
}

#[test]
fn f40_a_429_on_an_order_means_nothing_was_placed() {
    let c = case();
    c.fake.faults(|f| f.post_fail = vec![429]);
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("HTTP 429"), "{stdout}");
    assert!(
        stdout.contains("FAILED before sending anything"),
        "{stdout}"
    );
    c.assert_nothing_sent();
    let ledger = c.ledger().unwrap();
    assert_eq!(*ledger.orders[0].state(), OrderState::NotSent);
    // The next run trades the day once.
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 0, "{stdout}");
    c.assert_no_duplicate();
    c.assert_planned_positions();
}

#[test]
fn f41_a_garbled_order_status_is_read_again() {
    let c = case();
    c.fake.faults(|f| f.garbled_order_reads = 2);
    let (code, stdout, stderr) = c.trade();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("unreadable order status, reading again"),
        "{stderr}"
    );
    c.assert_no_duplicate();
    c.assert_planned_positions();
}

#[test]
fn f42_transport_errors_do_not_show_the_account_hash() {
    let c = case();
    c.fake
        .faults(|f| f.slow_path = Some((common::fake_schwab::HASH.into(), 1500)));
    let (code, stdout, stderr) = c.trade();
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("no answer within"), "{stdout}");
    for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(!text.contains(common::fake_schwab::HASH), "{name}: {text}");
    }
    c.assert_nothing_sent();
}

// ------------------------------------------------------------------------ emergency exit

#[test]
fn f43_a_dry_run_emergency_exit_prints_the_orders_and_sends_none() {
    let c = case();
    assert_eq!(c.trade().0, 0);
    c.fake.hold("SWVXX", 1500.0, 1.0);
    let working = c.fake.working_order("QQQ", "BUY", 3.0);
    let calls = c.fake.order_calls();
    let (code, stdout, stderr) = c.exit_with(&["--mode", "dry_run"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("cancel  order {working}")),
        "{stdout}"
    );
    for (symbol, shares) in baseline_positions() {
        assert!(
            stdout.contains(&format!("(SELL {shares} at the market)")),
            "{symbol}: {stdout}"
        );
    }
    assert!(stdout.contains("not touched SWVXX"), "{stdout}");
    assert!(
        stdout.contains("DRY RUN: nothing was canceled or sent"),
        "{stdout}"
    );
    assert_eq!(c.fake.order_calls(), calls, "no POST, no DELETE");
    assert!(!c.dir.path().join("state/halt").exists());
    // A dry-run configuration does the same without the flag.
    let text = std::fs::read_to_string(&c.config).unwrap();
    std::fs::write(&c.config, text.replace("mode: live", "mode: dry_run")).unwrap();
    let (code, stdout, _) = c.exit_with(&["--confirm"], &[]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("DRY RUN"), "{stdout}");
    assert_eq!(c.fake.order_calls(), calls);
}

#[test]
fn f44_an_emergency_exit_sells_the_strategy_only_and_keeps_the_books() {
    let c = case();
    assert_eq!(c.trade().0, 0);
    c.fake.hold("SWVXX", 1500.0, 1.0);
    c.fake.hold("AAPL", 10.0, 200.0);
    let (code, stdout, stderr) = c.exit_with(&["--confirm"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("not touched SWVXX"), "{stdout}");
    assert!(stdout.contains("not touched AAPL"), "{stdout}");
    assert!(
        stdout.contains("FLAT: every strategy position sold"),
        "{stdout}"
    );
    let held = c.fake.positions();
    assert_eq!(
        held,
        [("AAPL".to_string(), 10), ("SWVXX".to_string(), 1500)].into(),
        "only the sweep and the stock are left"
    );
    let exit = c.exit_ledger().unwrap();
    assert_eq!(exit.status, RunStatus::Done);
    assert_eq!(exit.orders.len(), baseline_positions().len());
    assert!(exit
        .orders
        .iter()
        .all(|o| *o.state() == OrderState::Filled && o.broker_id.is_some()));
    let rows = c.trades_csv();
    assert_eq!(
        rows.iter()
            .filter(|r| r["reason"] == "emergency-exit")
            .count(),
        baseline_positions().len()
    );
    c.assert_trades_once();
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(c.dir.path().join("state/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["positions"], serde_json::json!({}));
    // --all-positions sells the stock too; the sweep fund is not an equity: it is named
    // as not sold, with what to do, and never sent as one.
    let (code, stdout, _) = c.exit_with(&["--confirm", "--all-positions"], &[]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        c.fake.positions(),
        [("SWVXX".to_string(), 1500)].into(),
        "{stdout}"
    );
    assert!(
        stdout.contains("SWVXX: 1500 not sold: a money-market or sweep holding"),
        "{stdout}"
    );
    assert!(c.fake.world.lock().unwrap().refused_posts.is_empty());
    c.assert_trades_once();
}

#[test]
fn f45_an_emergency_exit_killed_after_its_first_sell_never_sells_twice() {
    let c = case();
    assert_eq!(c.trade().0, 0);
    let (code, _, stderr) =
        c.exit_with(&["--confirm"], &[("JUTSU_TEST_KILL_AT", "exit-after-send")]);
    assert_ne!(code, 0);
    assert!(stderr.contains("killed at exit-after-send"), "{stderr}");
    let sells_after_kill = c
        .fake
        .orders()
        .iter()
        .filter(|o| o.instruction == "SELL")
        .count();
    let (code, stdout, stderr) = c.exit_with(&["--confirm"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("settling its orders first"), "{stdout}");
    assert!(stdout.contains("FLAT"), "{stdout}");
    assert!(c.fake.positions().is_empty());
    // One sell per position: the first exit's sell was found, not sent again.
    let sells: Vec<_> = c
        .fake
        .orders()
        .into_iter()
        .filter(|o| o.instruction == "SELL" && o.symbol != "TMF")
        .collect();
    assert_eq!(sells.len(), baseline_positions().len(), "{sells:?}");
    assert!(sells_after_kill >= 2);
    c.assert_trades_once();
}

#[test]
fn f46_an_emergency_exit_follows_a_cancel_that_still_fills_before_selling() {
    let c = case();
    assert_eq!(c.trade().0, 0);
    let working = c.fake.working_order("QQQ", "BUY", 5.0);
    c.fake.faults(|f| f.cancel_fills_after_reads = Some(1));
    let (code, stdout, stderr) = c.exit_with(&["--confirm"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("order {working} (BUY 5 QQQ): Filled")),
        "{stdout}"
    );
    // The 5 shares the canceled order bought are sold too: flat, never short.
    assert!(c.fake.positions().is_empty(), "{:?}", c.fake.positions());
    let world = c.fake.world.lock().unwrap();
    assert!(
        world.positions.values().all(|q| *q >= 0.0),
        "{:?}",
        world.positions
    );
}

#[test]
fn f47_an_exit_that_cannot_sell_everything_says_not_flat_and_health_names_it() {
    let c = case();
    assert_eq!(c.trade().0, 0);
    c.fake.faults(|f| f.reject_symbol = Some("QQQ".into()));
    let (code, stdout, _) = c.exit_with(&["--confirm"], &[]);
    assert_eq!(code, 4, "{stdout}");
    assert!(stdout.contains("NOT FLAT: still held:"), "{stdout}");
    assert!(stdout.contains("QQQ"), "{stdout}");
    assert_eq!(c.exit_ledger().unwrap().status, RunStatus::Incomplete);
    let health = || {
        common::run(common::jutsu().env("JUTSU_NOW", NOW).args([
            "-c",
            c.config.to_str().unwrap(),
            "health",
        ]))
    };
    let (code, stdout, _) = health();
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("did not finish") && stdout.contains("emergency-exit` again"),
        "{stdout}"
    );
    // The broker accepts QQQ again: the exit finishes, selling only QQQ.
    c.fake.faults(|f| f.reject_symbol = None);
    let (code, stdout, _) = c.exit_with(&["--confirm"], &[]);
    assert_eq!(code, 0, "{stdout}");
    assert!(c.fake.positions().is_empty());
    let sells = |symbol: &str| {
        c.fake
            .orders()
            .iter()
            .filter(|o| o.instruction == "SELL" && o.symbol == symbol && o.filled > 0.0)
            .count()
    };
    assert_eq!(sells("TQQQ"), 1, "TQQQ was sold once");
    assert_eq!(sells("QQQ"), 1);
    assert!(!health().1.contains("did not finish"));
    c.assert_trades_once();
}

#[test]
fn f48_an_exit_ends_an_interrupted_trade_of_the_session_which_is_not_resumed_later() {
    let c = case();
    c.killed_at("after-sells");
    let (code, stdout, _) = c.exit_with(&["--confirm"], &[]);
    assert_eq!(code, 0, "{stdout}");
    let session = c.ledger().unwrap();
    assert_eq!(session.status, RunStatus::Done);
    assert!(
        session
            .message
            .unwrap()
            .contains("ended by the emergency exit"),
        "the trade ledger says why it ended"
    );
    // The interrupted trade's sell is in trades.csv, once, beside nothing else of it.
    c.assert_trades_once();
    let filled = c.fake.orders().iter().filter(|o| o.filled > 0.0).count();
    assert_eq!(c.trades_csv().len(), filled, "{:?}", c.trades_csv());
    let orders = c.fake.orders().len();
    let (code, _, _) =
        common::run(common::jutsu().args(["-c", c.config.to_str().unwrap(), "resume"]));
    assert_eq!(code, 0);
    // The same session again buys nothing: the plan of before the exit is not resumed.
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("NO-OP"), "{stdout}");
    assert!(stdout.contains("ended with the emergency exit"), "{stdout}");
    assert_eq!(c.fake.orders().len(), orders);
}

#[test]
fn f49_an_exit_sells_whole_shares_and_names_a_fraction_it_cannot_sell() {
    let c = case();
    assert_eq!(c.trade().0, 0);
    // A fraction left by a split or a reinvested dividend.
    *c.fake
        .world
        .lock()
        .unwrap()
        .positions
        .get_mut("TQQQ")
        .unwrap() += 0.4;
    let (code, stdout, _) = c.exit_with(&["--confirm"], &[]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("TQQQ: 0.4") && stdout.contains("a fraction the API cannot sell"),
        "{stdout}"
    );
    assert!(stdout.contains("FLAT"), "{stdout}");
    let world = c.fake.world.lock().unwrap();
    assert!(
        (world.positions["TQQQ"] - 0.4).abs() < 1e-9,
        "{:?}",
        world.positions
    );
}

#[test]
fn f50_an_exit_sells_a_position_that_a_canceled_order_created_after_the_survey() {
    let c = case();
    assert_eq!(c.trade().0, 0);
    // TMF is not held after the trade; a working buy for it fills after the cancel.
    assert!(!c.fake.positions().contains_key("TMF"));
    c.fake.working_order("TMF", "BUY", 20.0);
    c.fake.faults(|f| f.cancel_fills_after_reads = Some(1));
    let (code, stdout, stderr) = c.exit_with(&["--confirm"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("TMF: held now (a canceled order filled after all)"),
        "{stdout}"
    );
    assert!(c.fake.positions().is_empty(), "{:?}", c.fake.positions());
    c.assert_trades_once();
}

/// The price of the fake's quote for `symbol` (bid = ask = last = the session's close).
fn fake_close(c: &Case, symbol: &str) -> f64 {
    c.fake.world.lock().unwrap().prices[symbol].0
}

/// `collar_limit` recomputed in f64 cents for the check: buys round down, sells up.
fn expected_limit(close: f64, side: &str) -> String {
    let close = rust_decimal::Decimal::try_from(close).unwrap();
    let side = if side == "BUY" {
        jutsu::domain::portfolio::Side::Buy
    } else {
        jutsu::domain::portfolio::Side::Sell
    };
    let limit = jutsu::domain::market::collar_limit(side, close, rust_decimal::Decimal::new(5, 1));
    format!("{limit:.2}")
}

#[test]
fn f51_limit_orders_carry_the_collar_price_and_fill_like_market_orders() {
    let c = case_with("  order_type: limit\n  limit_collar_pct: 0.5\n", "");
    let (code, stdout, stderr) = c.trade();
    assert_eq!(code, 0, "{stdout}{stderr}");
    let posted = c.fake.world.lock().unwrap().posted.clone();
    assert!(posted.len() >= 3, "{posted:?}");
    for body in &posted {
        let leg = &body["orderLegCollection"][0];
        let symbol = leg["instrument"]["symbol"].as_str().unwrap();
        let side = leg["instruction"].as_str().unwrap();
        assert_eq!(body["orderType"], "LIMIT", "{body}");
        let close = fake_close(&c, symbol);
        let want = expected_limit(close, side);
        assert_eq!(
            body["price"].as_str().unwrap(),
            want,
            "{side} {symbol} at {close}"
        );
        let price: f64 = want.parse().unwrap();
        if side == "BUY" {
            assert!(
                price <= close * 1.005 && price > close,
                "{price} vs {close}"
            );
        } else {
            assert!(
                price >= close * 0.995 && price < close,
                "{price} vs {close}"
            );
        }
    }
    c.assert_no_duplicate();
    c.assert_planned_positions();
    // The limit is in the checklist and in the ledger, as sent.
    let ledger = c.ledger().unwrap();
    for (entry, body) in ledger.orders.iter().zip(&posted) {
        let limit = entry.limit_price.expect("a limit entry");
        assert_eq!(format!("{limit:.2}"), body["price"].as_str().unwrap());
        let line = format!(
            "{} {} {}: limit {limit} (",
            entry.side.as_str(),
            entry.quantity,
            entry.symbol
        );
        assert!(stdout.contains(&line), "{line} not in {stdout}");
    }
}

#[test]
fn f52_an_unfilled_limit_is_canceled_reported_and_not_chased() {
    let c = case_with("  order_type: limit\n  limit_collar_pct: 0.5\n", "");
    // The market moved 1 % against the buys: their limits (0.5 % over the ask) rest.
    c.fake.faults(|f| f.buy_premium = 0.01);
    let (code, stdout, stderr) = c.trade();
    assert_eq!(code, 4, "{stdout}{stderr}");
    assert!(stdout.contains("did not fill within execution.order_timeout_s (2 s): canceled, 0 filled; not chased beyond the collar"), "{stdout}");
    let orders = c.fake.orders();
    let buys: Vec<_> = orders.iter().filter(|o| o.instruction == "BUY").collect();
    assert_eq!(buys.len(), 1, "one buy, not chased: {orders:?}");
    assert_eq!(buys[0].status, "CANCELED");
    assert_eq!(buys[0].filled, 0.0);
    let limit = expected_limit(fake_close(&c, &buys[0].symbol), "BUY");
    assert!(
        stdout.contains(&format!("{} at {limit}", buys[0].symbol)),
        "the missed price is named: {stdout}"
    );
    // The sells before it filled; the books say so.
    assert!(orders
        .iter()
        .any(|o| o.instruction == "SELL" && o.status == "FILLED"));
    c.assert_ledger_explains_broker();
    c.assert_trades_once();
}

#[test]
fn f53_a_last_price_outside_its_bid_ask_band_stops_the_run() {
    let c = case();
    let close = fake_close(&c, "QQQ");
    c.fake.faults(|f| {
        f.quote_override.insert(
            "QQQ".into(),
            json!({"lastPrice": close * 1.02, "mark": close * 1.02}),
        );
    });
    c.assert_stops_before_sending("QQQ quote: the last trade");
}

#[test]
fn f54_a_wide_spread_stops_the_run() {
    let c = case();
    let close = fake_close(&c, "TQQQ");
    c.fake.faults(|f| {
        f.quote_override.insert(
            "TQQQ".into(),
            json!({"bidPrice": close * 0.98, "askPrice": close * 1.02}),
        );
    });
    c.assert_stops_before_sending("TQQQ quote: the spread");
}

#[test]
fn f55_a_jump_from_the_previous_close_stops_the_run() {
    let c = case();
    let close = fake_close(&c, "TMF");
    let p = close * 1.5;
    c.fake.faults(|f| {
        f.quote_override.insert(
            "TMF".into(),
            json!({"lastPrice": p, "bidPrice": p, "askPrice": p, "mark": p}),
        );
    });
    c.assert_stops_before_sending("from the previous close");
}

#[test]
fn f56_a_mark_that_disagrees_with_the_last_trade_stops_the_run() {
    let c = case();
    let close = fake_close(&c, "TLT");
    c.fake.faults(|f| {
        f.quote_override
            .insert("TLT".into(), json!({"mark": close * 1.03}));
    });
    c.assert_stops_before_sending("TLT quote: the last trade");
}

#[test]
fn f57_a_preview_reject_stops_the_order_before_it_is_placed() {
    let c = case_with("  preview: true\n", "");
    c.fake.faults(|f| {
        f.preview_reject = Some((
            "TMF".into(),
            "INSUFFICIENT_POSITION".into(),
            "You do not hold enough shares.".into(),
        ))
    });
    let (code, stdout, _) = c.trade();
    assert_eq!(code, 3, "{stdout}");
    assert!(
        stdout.contains("the preview of SELL 650 TMF stops it before it is placed: INSUFFICIENT_POSITION: You do not hold enough shares."),
        "{stdout}"
    );
    let w = c.fake.world.lock().unwrap();
    assert_eq!((w.previews, w.order_posts), (1, 0));
    drop(w);
    c.assert_nothing_sent();
}

#[test]
fn f58_preview_warnings_are_journaled_and_stop_only_when_listed() {
    // Off by default: no preview at all.
    let plain = case();
    assert_eq!(plain.trade().0, 0);
    assert_eq!(plain.fake.world.lock().unwrap().previews, 0);

    let c = case_with("  preview: true\n", "");
    let (code, stdout, stderr) = c.trade();
    assert_eq!(code, 0, "{stdout}{stderr}");
    let posts = c.fake.world.lock().unwrap().order_posts;
    assert_eq!(
        c.fake.world.lock().unwrap().previews,
        posts,
        "one preview per order"
    );
    let ledger = c.ledger().unwrap();
    let tmf = ledger.orders.iter().find(|o| o.symbol == "TMF").unwrap();
    assert!(
        tmf.note
            .as_deref()
            .unwrap_or("")
            .contains("LEVERAGED_ETF_WARNING"),
        "{tmf:?}"
    );
    c.assert_planned_positions();

    let strict = case_with(
        "  preview: true\n  preview_stop_codes: [LEVERAGED_ETF_WARNING]\n",
        "",
    );
    let (code, stdout, _) = strict.trade();
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("LEVERAGED_ETF_WARNING"), "{stdout}");
    strict.assert_nothing_sent();
}
