//! Real Schwab accounts as people have them, through the binary against the fake Schwab:
//! several linked accounts, orders jutsu never placed (options, OCO and TRIGGER strategies,
//! short sales, fund exchanges), a GTC order of three weeks ago, a money-market fund and an
//! option in the positions, a fraction of a share, a halted or delayed quote, a token
//! endpoint behind a failing edge, cash posted the evening after a run, a Location header
//! naming another order, and a cash account. In paper mode: a deposit and an adoption are
//! invested at the next run.

use crate::common;

use std::path::PathBuf;

use crate::common::fake_schwab::FakeSchwab;
use jutsu::domain::journal::{Ledger, OrderState};
use serde_json::{json, Value};

const SESSION: &str = "2025-06-10";
const NOW: &str = "2025-06-10T19:55:00Z";
const ACCESS: &str = "AT-secret-accounts-0";
/// The plan of this session sells TMF and buys TQQQ and QQQ.
const START: [(&str, f64); 1] = [("TMF", 650.0)];

/// A live account on a fake Schwab at [`NOW`]; `schwab` lines go in the schwab section.
struct Live {
    fake: FakeSchwab,
    dir: tempfile::TempDir,
    config: PathBuf,
}

fn live(schwab: &str) -> Live {
    live_with(schwab, 1200)
}

/// The access token has `seconds` left (under 300 s, a run refreshes it first).
fn live_with(schwab: &str, seconds: i64) -> Live {
    let fake = FakeSchwab::start(SESSION, NOW, 20_000.0, &START, ACCESS);
    let dir = tempfile::tempdir().unwrap();
    let config = common::live_config(
        dir.path(),
        &fake.url,
        "  order_timeout_s: 2\n",
        &format!("  request_timeout_s: 1\n{schwab}"),
        "",
    );
    let now = chrono::DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .timestamp();
    common::token_file(
        dir.path(),
        now - 86_400,
        ("RT-secret-refresh-accounts", ACCESS),
        now + seconds,
    );
    Live { fake, dir, config }
}

impl Live {
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        common::run_live(&self.config, NOW, args)
    }

    fn ledger(&self) -> Ledger {
        Ledger::load(&self.dir.path().join(format!("state/runs/{SESSION}.json")))
            .unwrap()
            .unwrap()
    }

    fn posts(&self) -> usize {
        self.fake.order_calls().0
    }
}

/// Schwab's Trader time of `NOW` less `minutes`.
fn entered(minutes: i64) -> String {
    (chrono::DateTime::parse_from_rfc3339(NOW).unwrap() - chrono::Duration::minutes(minutes))
        .format("%Y-%m-%dT%H:%M:%S+0000")
        .to_string()
}

/// One order object in Schwab's shape.
fn order(id: u64, status: &str, legs: Value, children: Value) -> Value {
    let quantity = legs[0]["quantity"].as_f64().unwrap_or(1.0);
    let mut o = json!({"orderId": id, "status": status, "enteredTime": entered(90),
        "session": "NORMAL", "duration": "GOOD_TILL_CANCEL", "orderType": "LIMIT", "price": 1.0,
        "orderStrategyType": "SINGLE", "quantity": quantity, "filledQuantity": 0.0, "accountNumber": 31415926,
        "orderLegCollection": legs, "orderActivityCollection": []});
    if children != Value::Null {
        o["orderStrategyType"] = json!("OCO");
        o["childOrderStrategies"] = children;
        o.as_object_mut().unwrap().remove("orderLegCollection");
        o.as_object_mut().unwrap().remove("quantity");
    }
    o
}

fn leg(instruction: &str, symbol: &str, asset: &str, quantity: f64) -> Value {
    json!([{"orderLegType": asset, "legId": 1, "instruction": instruction, "quantity": quantity,
            "positionEffect": "OPENING", "instrument": {"symbol": symbol, "assetType": asset}}])
}

#[test]
fn several_linked_accounts_stop_every_command_until_one_is_named() {
    let a = live("");
    a.fake.link_account(
        "27182818",
        "6CC3E4F2C31ED233A10CEC762C5E1E590133D827C7585E13AB839809D09B80C6",
        "CASH",
    );
    for args in [
        &["trade"][..],
        &["hello"],
        &["emergency-exit", "--confirm"],
        &["status"],
    ] {
        let (code, stdout, stderr) = a.run(args);
        assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
        let all = format!("{stdout}{stderr}");
        assert!(
            all.contains(
                "2 accounts are linked to this Schwab login: ****5926 (MARGIN), ****2818 (CASH)"
            ),
            "{args:?}: {all}"
        );
        assert!(all.contains("set schwab.account_number"), "{args:?}: {all}");
        assert!(!all.contains("31415926"), "never the plain number: {all}");
    }
    // hello lists them before it stops.
    let (_, stdout, _) = a.run(&["hello"]);
    assert!(
        stdout.contains("accounts      2 linked to this login"),
        "{stdout}"
    );
    // No request was made on any account, nothing was sent, the halt flag is not set.
    assert!(
        a.fake.world.lock().unwrap().account_requests.is_empty(),
        "{:?}",
        a.fake.world.lock().unwrap().account_requests
    );
    assert_eq!(a.posts(), 0);
    assert!(!a.dir.path().join("state/halt").exists());

    // Named, the run trades that account, and hello marks it.
    let named = live("  account_number: \"31415926\"\n");
    named.fake.link_account(
        "27182818",
        "6CC3E4F2C31ED233A10CEC762C5E1E590133D827C7585E13AB839809D09B80C6",
        "CASH",
    );
    let (code, stdout, _) = named.run(&["hello"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("****5926  MARGIN  <- used"), "{stdout}");
    assert!(stdout.contains("****2818  CASH\n"), "{stdout}");
    let (code, stdout, stderr) = named.run(&["trade"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(named.posts() >= 2);
}

/// Orders of the account that jutsu never placed, none live on a strategy symbol.
fn foreign_orders(fake: &FakeSchwab) {
    // An option order on a TQQQ call: its symbol is the option's, not the ETF's.
    fake.foreign_order(order(
        2001,
        "WORKING",
        leg("BUY_TO_OPEN", "TQQQ  250620C00080000", "OPTION", 2.0),
        Value::Null,
    ));
    // An OCO with no legs of its own: a take-profit and a stop on AAPL.
    fake.foreign_order(order(
        2002,
        "WORKING",
        Value::Null,
        json!([
            order(
                2003,
                "WORKING",
                leg("SELL", "AAPL", "EQUITY", 10.0),
                Value::Null
            ),
            order(
                2004,
                "AWAITING_STOP_CONDITION",
                leg("SELL", "AAPL", "EQUITY", 10.0),
                Value::Null
            ),
        ]),
    ));
    // A TRIGGER: the parent filled, its child works.
    let mut trigger = order(
        2005,
        "FILLED",
        leg("BUY", "MSFT", "EQUITY", 5.0),
        Value::Null,
    );
    trigger["orderStrategyType"] = json!("TRIGGER");
    trigger["childOrderStrategies"] = json!([order(
        2006,
        "WORKING",
        leg("SELL", "MSFT", "EQUITY", 5.0),
        Value::Null
    )]);
    fake.foreign_order(trigger);
    // Instructions jutsu never sends.
    fake.foreign_order(order(
        2007,
        "FILLED",
        leg("SELL_SHORT_EXEMPT", "XYZ", "EQUITY", 100.0),
        Value::Null,
    ));
    fake.foreign_order(order(
        2008,
        "FILLED",
        leg("EXCHANGE", "SWVXX", "MUTUAL_FUND", 500.0),
        Value::Null,
    ));
    // A vertical spread: two legs in one order.
    let mut spread = order(2009, "CANCELED", Value::Null, Value::Null);
    spread["orderLegCollection"] = json!([
        {"legId": 1, "instruction": "BUY_TO_OPEN", "quantity": 1.0,
         "instrument": {"symbol": "QQQ   250620C00500000", "assetType": "OPTION"}},
        {"legId": 2, "instruction": "SELL_TO_OPEN", "quantity": 1.0,
         "instrument": {"symbol": "QQQ   250620C00510000", "assetType": "OPTION"}}
    ]);
    spread["quantity"] = json!(1.0);
    fake.foreign_order(spread);
}

#[test]
fn orders_jutsu_never_placed_do_not_fail_the_list_and_are_named_at_v() {
    let a = live("");
    foreign_orders(&a.fake);
    // A reinvested dividend left a fraction of a TMF share.
    a.fake.shares_by_hand("TMF", 0.4172);
    let (code, stdout, stderr) = a.run(&["-v", "trade"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("TMF 650.4172 shares: 0.4172 of a share"),
        "the fraction is named: {stdout}"
    );
    for named in [
        "BUY_TO_OPEN",
        "SELL_SHORT_EXEMPT",
        "EXCHANGE",
        "SELL_TO_OPEN",
    ] {
        assert!(
            stderr.contains(named) && stderr.contains("an order jutsu does not place"),
            "{named} named at -v: {stderr}"
        );
    }
    // The plan went through: TMF sold (whole shares only), TQQQ and QQQ bought.
    let ledger = a.ledger();
    assert!(ledger
        .orders
        .iter()
        .all(|o| *o.state() == OrderState::Filled));
    let tmf = ledger.orders.iter().find(|o| o.symbol == "TMF").unwrap();
    assert_eq!(tmf.quantity, 650);
    // None of the foreign orders was touched.
    assert_eq!(a.fake.order_calls().1, 0, "no cancel");
}

#[test]
fn a_working_child_order_on_a_strategy_symbol_stops_the_run_and_the_exit_cancels_it() {
    let a = live("");
    foreign_orders(&a.fake);
    // A stop-loss OCO on the strategy's TMF, entered in the Schwab app.
    a.fake.foreign_order(order(
        3001,
        "WORKING",
        Value::Null,
        json!([
            order(
                3002,
                "WORKING",
                leg("SELL", "TMF", "EQUITY", 650.0),
                Value::Null
            ),
            order(
                3003,
                "AWAITING_STOP_CONDITION",
                leg("SELL", "TMF", "EQUITY", 650.0),
                Value::Null
            ),
        ]),
    ));
    let (code, stdout, stderr) = a.run(&["trade"]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(
        stdout.contains("open orders at the broker for SELL 650 TMF, SELL 650 TMF"),
        "{stdout}"
    );
    assert_eq!(a.posts(), 0, "nothing sent beside a live order");

    let (code, stdout, stderr) = a.run(&["emergency-exit", "--confirm"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("cancel  order 3002 (SELL 650 TMF)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("cancel  order 3003 (SELL 650 TMF)"),
        "{stdout}"
    );
    assert!(stdout.contains("FLAT"), "{stdout}");
    assert!(!a.fake.positions().contains_key("TMF"));
    // The foreign orders on other symbols were left alone.
    let w = a.fake.world.lock().unwrap();
    let oco = w
        .foreign_orders
        .iter()
        .find(|o| o["orderId"] == 2002)
        .unwrap();
    assert_eq!(oco["childOrderStrategies"][0]["status"], "WORKING");
}

#[test]
fn a_gtc_order_entered_three_weeks_ago_is_seen_by_the_guard_and_the_exit() {
    let a = live("");
    let id = a.fake.old_order("TQQQ", "BUY", 50.0, 20, "WORKING");
    // The fake honours fromEnteredTime: a two-day window does not show it.
    let two_days = list_orders(&a, chrono::Duration::days(2));
    assert!(two_days.iter().all(|o| o["orderId"] != id), "{two_days:?}");
    let sixty = list_orders(&a, chrono::Duration::days(60));
    assert!(sixty.iter().any(|o| o["orderId"] == id));

    let (code, stdout, _) = a.run(&["trade"]);
    assert_eq!(code, 3, "{stdout}");
    assert!(
        stdout.contains("open orders at the broker for BUY 50 TQQQ"),
        "{stdout}"
    );
    assert_eq!(a.posts(), 0);
    let (code, stdout, _) = a.run(&["emergency-exit", "--confirm"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains(&format!("cancel  order {id} (BUY 50 TQQQ)")),
        "{stdout}"
    );
    let canceled = a.fake.orders().into_iter().find(|o| o.id == id).unwrap();
    assert_eq!(canceled.status, "CANCELED");
    // Every list asked as far back as Schwab allows.
    let from = a.fake.world.lock().unwrap().order_list_from.clone();
    let now = chrono::DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .timestamp_millis();
    assert!(from.iter().any(|f| now - f >= 59 * 86_400_000), "{from:?}");
}

/// `GET .../orders` straight at the fake, `back` before now.
fn list_orders(a: &Live, back: chrono::Duration) -> Vec<Value> {
    let now = chrono::DateTime::parse_from_rfc3339(NOW).unwrap();
    let t =
        |d: chrono::DateTime<chrono::FixedOffset>| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let url = format!(
        "{}/trader/v1/accounts/{}/orders",
        a.fake.url,
        common::fake_schwab::HASH
    );
    let client = reqwest::blocking::Client::new();
    let body: Value = client
        .get(url)
        .bearer_auth(ACCESS)
        .query(&[
            ("fromEnteredTime", t(now - back)),
            ("toEnteredTime", t(now + chrono::Duration::days(1))),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    body.as_array().unwrap().clone()
}

#[test]
fn a_token_endpoint_502_with_an_empty_body_is_an_outage_retried_then_named() {
    // The access token is about to expire: the run refreshes it first.
    let a = live_with("", 100);
    a.fake.faults(|f| f.token_fail_empty = vec![502; 8]);
    let (code, stdout, stderr) = a.run(&["trade"]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(
        stdout.contains("an outage at Schwab, not a dead login"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("auth login"),
        "not a login problem: {stdout}"
    );
    assert_eq!(a.posts(), 0);
    // One empty 502, then the endpoint answers: the run goes on.
    let b = live_with("", 100);
    b.fake.faults(|f| f.token_fail_empty = vec![502]);
    let (code, stdout, stderr) = b.run(&["trade"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn a_halted_or_delayed_quote_stops_the_run_before_sending() {
    let a = live("");
    a.fake.faults(|f| {
        f.quote_override.insert(
            "TQQQ".into(),
            json!({"securityStatus": "Halted", "bidPrice": 0.0, "askPrice": 0.0}),
        );
    });
    let (code, stdout, _) = a.run(&["trade"]);
    assert_eq!(code, 3, "{stdout}");
    assert!(
        stdout.contains("TQQQ is not trading normally (Schwab's securityStatus is Halted)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("TQQQ quote has a bid and an ask of 0"),
        "{stdout}"
    );
    assert_eq!(a.posts(), 0);

    let b = live("");
    b.fake.faults(|f| {
        f.entry_override
            .insert("QQQ".into(), json!({"realtime": false}));
    });
    let (code, stdout, _) = b.run(&["trade"]);
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("QQQ quote is delayed"), "{stdout}");
    assert_eq!(b.posts(), 0);
}

#[test]
fn an_exit_of_all_positions_sells_equities_and_names_funds_and_options() {
    let a = live("");
    a.fake.hold_instrument(
        "SWVXX",
        2500.0,
        1.0,
        ("COLLECTIVE_INVESTMENT", Some("MUTUAL_FUND")),
    );
    a.fake
        .hold_instrument("TQQQ  250620C00080000", 2.0, 5.5, ("OPTION", None));
    a.fake.hold("AAPL", 10.0, 200.0);
    let (code, stdout, stderr) = a.run(&["emergency-exit", "--confirm", "--all-positions"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Sold: the strategy's ETF and the stock; never sent: the fund and the option.
    let held = a.fake.positions();
    assert!(
        !held.contains_key("TMF") && !held.contains_key("AAPL"),
        "{held:?}"
    );
    assert!(held.contains_key("SWVXX") && held.contains_key("TQQQ  250620C00080000"));
    assert!(a.fake.world.lock().unwrap().refused_posts.is_empty());
    assert!(
        stdout.contains("not touched SWVXX")
            && stdout.contains("a fund traded through Schwab's fund orders"),
        "{stdout}"
    );
    assert!(
        stdout.contains("TQQQ  250620C00080000: 2 not sold: an option"),
        "{stdout}"
    );
    assert!(stdout.contains("sell it in the Schwab app"), "{stdout}");
    assert!(stdout.contains("FLAT"), "{stdout}");
}

#[test]
fn a_deposit_posted_the_evening_after_a_run_is_in_the_next_run_and_invested() {
    const NEXT: (&str, &str) = ("2025-06-11", "2025-06-11T19:55:00Z");
    let a = live("");
    let (code, stdout, _) = a.run(&["trade"]);
    assert_eq!(code, 0, "{stdout}");
    let held: Vec<(String, f64)> = a
        .fake
        .positions()
        .into_iter()
        .map(|(s, q)| (s, q as f64))
        .collect();
    let held: Vec<(&str, f64)> = held.iter().map(|(s, q)| (s.as_str(), *q)).collect();
    let next = FakeSchwab::start(NEXT.0, NEXT.1, a.fake.cash(), &held, "AT-secret-accounts-1");
    // 5 000 posted at 19:30 New York time, after the 15:55 run.
    next.cash_transaction_at("ACH_RECEIPT", 5000.0, "2025-06-10T23:30:00Z");
    let config = common::live_at(a.dir.path(), &next.url, NEXT.1, "AT-secret-accounts-1", "");
    let (code, stdout, stderr) = common::run_live(&config, NEXT.1, &["trade"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("deposit +5000.00 on 2025-06-10"),
        "{stdout}"
    );
    // Read from the instant the first run read up to, not from the next midnight.
    let queries = next.world.lock().unwrap().transaction_queries.clone();
    assert_eq!(
        queries[0].1.as_deref(),
        Some("2025-06-10T19:55:00.000Z"),
        "{queries:?}"
    );
    // The deposit (a fifth of the account) is invested at the targets.
    assert!(
        stdout.contains("rebalancing to the current targets: cash moved by"),
        "{stdout}"
    );
    let ledger = Ledger::load(&a.dir.path().join(format!("state/runs/{}.json", NEXT.0)))
        .unwrap()
        .unwrap();
    assert_eq!(ledger.flows.len(), 1);
    assert!(!ledger.orders.is_empty());
    assert!(ledger
        .orders
        .iter()
        .all(|o| o.side == jutsu::domain::portfolio::Side::Buy));
    assert!(next.cash() < 5000.0 / 2.0, "invested: cash {}", next.cash());
}

#[test]
fn a_location_naming_another_order_is_settled_by_listing_never_recorded_as_ours() {
    let a = live("");
    a.fake.hold("AAPL", 10.0, 200.0);
    // An order of the user's (the account's first), which the next Location names.
    let theirs = a.fake.working_order("AAPL", "SELL", 10.0);
    a.fake.faults(|f| f.location_other = 1);
    let (code, stdout, stderr) = a.run(&["trade"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let ledger = a.ledger();
    let theirs = theirs.to_string();
    assert!(
        ledger
            .orders
            .iter()
            .all(|o| o.broker_id.as_deref() != Some(theirs.as_str())),
        "{:?}",
        ledger.orders
    );
    // Every order of ours is journaled once, with its own id, and filled.
    let ours: Vec<String> = a
        .fake
        .orders()
        .iter()
        .filter(|o| o.symbol != "AAPL")
        .map(|o| o.id.to_string())
        .collect();
    let ids: Vec<String> = ledger
        .orders
        .iter()
        .filter_map(|o| o.broker_id.clone())
        .collect();
    assert_eq!(ids, ours);
    assert!(ledger
        .orders
        .iter()
        .all(|o| *o.state() == OrderState::Filled));
    assert_eq!(a.posts(), 3, "nothing sent twice");
}

#[test]
fn a_cash_account_exit_warns_of_a_good_faith_violation_before_its_question() {
    let a = live("");
    a.fake.account_type("CASH");
    let (code, stdout, _) = a.run(&["trade"]);
    assert_eq!(code, 0, "{stdout}");
    // The exit the same day would sell what the sale of TMF paid for.
    let mut cmd = common::jutsu();
    cmd.env("JUTSU_NOW", NOW)
        .env("T_APP_KEY", "APPKEY0123456789")
        .env("T_APP_SECRET", "APPSECRET0123456")
        .args(["-c", a.config.to_str().unwrap(), "emergency-exit"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"no\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "not confirmed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let warning = stdout.find("good-faith violation").expect("warned");
    let question = stdout.find("Type EXIT").expect("asked");
    assert!(warning < question, "{stdout}");
    assert!(
        stdout.contains("this is a cash account and") && stdout.contains("TQQQ were bought today"),
        "{stdout}"
    );
    assert_eq!(
        a.fake.positions().get("TMF"),
        None,
        "nothing was sold by the exit"
    );
}

/// A paper account in a new folder on the bundled bars.
fn paper() -> (tempfile::TempDir, PathBuf) {
    common::paper_config("")
}

fn paper_run(config: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    common::run(
        common::jutsu()
            .args(["-c", config.to_str().unwrap()])
            .args(args),
    )
}

/// The simulated account's cash and positions.
fn sim_account(dir: &std::path::Path) -> (f64, std::collections::BTreeMap<String, f64>) {
    let text = std::fs::read_to_string(dir.join("state/sim/account.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let num = |v: &Value| v.as_str().unwrap().parse::<f64>().unwrap();
    let positions = v["positions"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(s, q)| (s.clone(), num(q)))
        .collect();
    (num(&v["cash"]), positions)
}

#[test]
fn paper_a_deposit_of_a_fifth_is_invested_at_the_next_run_in_proportion_to_the_targets() {
    let (dir, config) = paper();
    let (code, stdout, _) = paper_run(&config, &["trade", "--as-of", "2025-12-10T15:55"]);
    assert_eq!(code, 0, "{stdout}");
    let (cash_before, held_before) = sim_account(dir.path());
    let (code, stdout, _) = paper_run(
        &config,
        &["sim", "deposit", "2500", "--as-of", "2025-12-11"],
    );
    assert_eq!(code, 0, "{stdout}");
    let (code, stdout, _) = paper_run(&config, &["trade", "--as-of", "2025-12-11T15:55"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("deposit +2500.00 on 2025-12-11"),
        "{stdout}"
    );
    assert!(
        stdout.contains("rebalancing to the current targets: cash moved by"),
        "{stdout}"
    );
    let (cash_after, held_after) = sim_account(dir.path());
    // Invested: what stays in cash is whole-share change (here under one QQQ share), not
    // the deposit.
    assert!(
        cash_after < cash_before + 2500.0 * 0.2,
        "{cash_before} -> {cash_after}\n{stdout}"
    );
    // In proportion: every leg held before grew by about the same fraction.
    let growth: Vec<f64> = held_before.iter().map(|(s, q)| held_after[s] / q).collect();
    for g in &growth {
        assert!(
            (1.15..1.35).contains(g),
            "{held_before:?} -> {held_after:?}"
        );
    }
}

#[test]
fn paper_after_an_adopt_following_a_manual_sale_the_next_run_buys_back() {
    let (dir, config) = paper();
    let (code, stdout, _) = paper_run(&config, &["trade", "--as-of", "2025-12-10T15:55"]);
    assert_eq!(code, 0, "{stdout}");
    // Half of the biggest position sold by hand, at the close, behind jutsu's back.
    let path = dir.path().join("state/sim/account.json");
    let mut account = jutsu::brokers::sim::SimAccount::read(&path).unwrap();
    let (symbol, held) = account
        .positions
        .iter()
        .max_by_key(|(_, q)| **q)
        .map(|(s, q)| (s.clone(), *q))
        .unwrap();
    let sold = (held / rust_decimal::Decimal::TWO).trunc();
    account.positions.insert(symbol.clone(), held - sold);
    account.cash += sold * rust_decimal::Decimal::from(50);
    jutsu::storage::fsutil::write_sealed(&path, &account).unwrap();
    // Adopted that evening (the account's clock, not the machine's).
    let (code, stdout, _) = common::run(
        common::jutsu()
            .env("JUTSU_NOW", "2025-12-10T23:00:00Z")
            .args(["-c", config.to_str().unwrap()])
            .args([
                "state",
                "adopt",
                "--reason",
                "sold half by hand",
                "--mode",
                "paper",
            ]),
    );
    assert_eq!(code, 0, "{stdout}");
    let (code, stdout, _) = paper_run(&config, &["trade", "--as-of", "2025-12-11T15:55"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("from the positions adopted by `jutsu state adopt` (sold half by hand)"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.trim_start().starts_with("BUY") && l.contains(&symbol)),
        "{stdout}"
    );
    let (_, after) = sim_account(dir.path());
    let back = after[&symbol];
    let held: f64 = held.to_string().parse().unwrap();
    assert!(
        back > held * 0.8,
        "bought back toward the target: {held} -> {back}"
    );
}

/// A client of the fake at [`NOW`], as the binary builds it (account named).
fn client_of(a: &Live) -> jutsu::brokers::schwab::SchwabClient {
    use jutsu::brokers::schwab::auth::OAuthSettings;
    use jutsu::brokers::schwab::{RetryPolicy, SchwabClient, SchwabSettings};
    let settings = SchwabSettings {
        oauth: OAuthSettings {
            base_url: format!("{}/v1/oauth", a.fake.url),
            callback_url: "https://127.0.0.1:8182".into(),
            app_key: jutsu::support::secret::Secret::new("APPKEY0123456789".into()),
            app_secret: jutsu::support::secret::Secret::new("APPSECRET0123456".into()),
        },
        trader_base_url: format!("{}/trader/v1", a.fake.url),
        marketdata_base_url: format!("{}/marketdata/v1", a.fake.url),
        token_file: a.dir.path().join("state/token.json"),
        account_number: Some("31415926".into()),
        retry: RetryPolicy {
            max_retries: 1,
            base_delay: std::time::Duration::from_millis(1),
            max_delay: std::time::Duration::from_millis(5),
        },
        requests_per_minute: 120,
        timeout: std::time::Duration::from_secs(2),
    };
    let now = chrono::DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .with_timezone(&chrono::Utc);
    SchwabClient::new(
        settings,
        std::sync::Arc::new(jutsu::support::clock::FixedClock(now)),
    )
    .unwrap()
}

#[test]
fn a_long_gap_between_runs_is_read_in_windows_schwab_accepts_and_nothing_is_dropped() {
    use jutsu::brokers::Broker;
    let a = live("");
    // A dividend 80 days ago, a deposit 10 days ago, one the evening before.
    a.fake
        .cash_transaction_at("DIVIDEND_OR_INTEREST", 12.5, "2025-03-22T15:00:00Z");
    a.fake
        .cash_transaction_at("ACH_RECEIPT", 1000.0, "2025-05-31T14:00:00Z");
    a.fake
        .cash_transaction_at("ACH_RECEIPT", 250.0, "2025-06-09T23:30:00Z");
    let since = chrono::DateTime::parse_from_rfc3339("2025-03-12T19:55:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let flows = client_of(&a).cash_flows(since).unwrap();
    let amounts: Vec<String> = flows.iter().map(|f| f.amount.to_string()).collect();
    assert_eq!(amounts, ["12.5", "1000", "250"], "{flows:?}");
    let queries = a.fake.world.lock().unwrap().transaction_queries.clone();
    assert_eq!(queries.len(), 2, "90 days in two windows: {queries:?}");
    assert_eq!(queries[0].1.as_deref(), Some("2025-03-12T19:55:00.000Z"));
    assert_eq!(queries[1].1.as_deref(), Some("2025-05-11T19:55:00.000Z"));
    // From the evening after the last run: the 19:30 deposit of 06-09 only.
    let evening = chrono::DateTime::parse_from_rfc3339("2025-06-09T19:55:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let flows = client_of(&a).cash_flows(evening).unwrap();
    assert_eq!(flows.len(), 1, "{flows:?}");
    assert_eq!(flows[0].date.to_string(), "2025-06-09");
}

#[test]
fn the_market_data_and_the_trader_side_share_one_client_per_app() {
    let a = live("");
    // A run whose access token needs refreshing: one refresh serves both sides.
    let b = live_with("", 100);
    let (code, stdout, _) = b.run(&["trade"]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(b.fake.world.lock().unwrap().token_grants, 1);
    // In one process, the same configuration and clock give the same client (the app's
    // key and secret read from variables every process has).
    let text = std::fs::read_to_string(&a.config)
        .unwrap()
        .replace("T_APP_KEY", "PATH")
        .replace("T_APP_SECRET", "HOME");
    let config = a.dir.path().join("shared.yaml");
    std::fs::write(&config, text).unwrap();
    let loaded = jutsu::config::load(&config).unwrap();
    let clock: jutsu::brokers::sources::SharedClock =
        std::sync::Arc::new(jutsu::support::clock::FixedClock(
            chrono::DateTime::parse_from_rfc3339(NOW)
                .unwrap()
                .with_timezone(&chrono::Utc),
        ));
    let one = jutsu::brokers::sources::schwab_client(&loaded, clock.clone()).unwrap();
    let two = jutsu::brokers::sources::schwab_client(&loaded, clock.clone()).unwrap();
    assert!(std::sync::Arc::ptr_eq(&one, &two));
    // Another clock (another command in this process) gets its own.
    let other: jutsu::brokers::sources::SharedClock =
        std::sync::Arc::new(jutsu::support::clock::SystemClock);
    let three = jutsu::brokers::sources::schwab_client(&loaded, other).unwrap();
    assert!(!std::sync::Arc::ptr_eq(&one, &three));
}

#[test]
fn a_429_is_retried_after_its_retry_after_unless_the_run_cannot_wait_that_long() {
    // Two throttled quote reads asking for 20 s each: honoured (the run has 4 minutes).
    let a = live("");
    a.fake.faults(|f| {
        f.fail.push(("/marketdata/v1/quotes".into(), 429, 2));
        f.retry_after = Some(20);
    });
    let (code, stdout, stderr) = a.run(&["trade"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Asking for ten minutes at 15:55: more than the run can wait; named, nothing sent.
    let b = live("");
    b.fake.faults(|f| {
        f.fail.push(("/marketdata/v1/quotes".into(), 429, 1));
        f.retry_after = Some(600);
    });
    let (code, stdout, stderr) = b.run(&["trade"]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "Schwab asks to wait 600 s (Retry-After), longer than the 240 s this run can wait"
        ),
        "{stdout}"
    );
    assert_eq!(b.posts(), 0);
}

#[test]
fn no_network_is_named_as_such_and_a_first_login_is_asked_for_plainly() {
    // Nothing listens on port 9: the token endpoint cannot be reached at all.
    let dir = tempfile::tempdir().unwrap();
    let config = common::live_config(
        dir.path(),
        "http://127.0.0.1:9",
        "",
        "  request_timeout_s: 1\n",
        "",
    );
    let (code, stdout, stderr) = common::run_live(&config, NOW, &["auth", "status"]);
    assert_ne!(code, 0);
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("no Schwab login yet"), "{all}");
    assert!(
        all.contains(&format!(
            "run `jutsu -c {} auth login` to log in",
            config.display()
        )),
        "a hint to paste as it is: {all}"
    );
    assert!(!all.contains("log in again"), "{all}");
    let now = chrono::DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .timestamp();
    common::token_file(
        dir.path(),
        now - 86_400,
        ("RT-secret-net", "AT-secret-net"),
        now + 60,
    );
    let (code, stdout, stderr) = common::run_live(&config, NOW, &["trade"]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(
        stdout.contains("Schwab could not be reached from this machine"),
        "{stdout}"
    );
    assert!(stdout.contains("check this machine's network"), "{stdout}");
    assert!(!stdout.contains("outage"), "not Schwab's outage: {stdout}");
}

#[test]
fn paper_a_withdrawal_is_not_a_loss_to_the_halts() {
    let (_dir, config) = common::paper_config(
        "execution:\n  rebalance_on_flow_pct: 0\n  max_buying_power_pct: 50\nrisk:\n  max_drawdown_halt_pct: 25\n  daily_loss_halt_pct: 8\n",
    );
    let cfg = config.to_str().unwrap();
    let run = |args: &[&str]| common::run(common::jutsu().args(["-c", cfg]).args(args));
    assert_eq!(run(&["trade", "--as-of", "2025-12-10T15:55"]).0, 0);
    assert_eq!(
        run(&["sim", "deposit", "5000", "--as-of", "2025-12-11"]).0,
        0
    );
    let (code, out, _) = run(&["trade", "--as-of", "2025-12-11T15:55"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        run(&["sim", "withdraw", "5000", "--as-of", "2025-12-12"]).0,
        0
    );
    // A third of the account left in a withdrawal: no halt, the halts see the market's move.
    let (code, out, _) = run(&["trade", "--as-of", "2025-12-12T15:55"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("loss halts"), "{out}");
    assert!(!out.contains("HALTED"), "{out}");
}
