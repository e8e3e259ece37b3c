//! `jutsu trade --mode live` against the fake Schwab (tests/common/fake_schwab.rs, the same
//! fake the fault suite uses): the orders sent are exactly the plan, sells go before buys,
//! and the ledger and state match the broker afterwards.

use crate::common;
use crate::common::fake_schwab::FakeSchwab;

use jutsu::domain::journal::{Ledger, OrderState, RunStatus};
use serde_json::Value;

const SESSION: &str = "2025-06-10";
const NOW: &str = "2025-06-10T19:55:00Z"; // 15:55 ET

#[test]
fn live_run_sends_exactly_the_plan_sells_first_and_ends_matching_the_broker() {
    let fake = FakeSchwab::start(
        SESSION,
        NOW,
        20_000.0,
        &[("TMF", 650.0)],
        "A-secret-value-1",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = common::live_config(dir.path(), &fake.url, "", "", "");
    let now_s = chrono::DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .timestamp();
    common::token_file(
        dir.path(),
        now_s - 86_400,
        ("R-secret-value-1", "A-secret-value-1"),
        now_s + 1200,
    );
    let (code, stdout, stderr) = common::run_live(&config, NOW, &["trade"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("preflight      live session 2025-06-10"),
        "{stdout}"
    );
    assert!(stdout.contains(", token 144 h left"), "{stdout}");

    let ledger = Ledger::load(&dir.path().join(format!("state/runs/{SESSION}.json")))
        .unwrap()
        .unwrap();
    assert_eq!(ledger.status, RunStatus::Done);
    let plan = ledger.plan.clone().unwrap();
    let orders = fake.orders();
    // Exactly the plan, in order, each sent once.
    let sent: Vec<(String, String, i64)> = orders
        .iter()
        .map(|o| (o.symbol.clone(), o.instruction.clone(), o.quantity as i64))
        .collect();
    let planned: Vec<(String, String, i64)> = plan
        .orders
        .iter()
        .map(|o| (o.symbol.clone(), o.side.as_str().to_string(), o.quantity))
        .collect();
    assert_eq!(sent, planned);
    assert!(sent.len() >= 3, "{sent:?}");
    let first_buy = sent.iter().position(|o| o.1 == "BUY").unwrap();
    assert!(sent[..first_buy].iter().all(|o| o.1 == "SELL"));
    assert!(
        sent[first_buy..].iter().all(|o| o.1 == "BUY"),
        "sells before buys: {sent:?}"
    );
    assert_eq!(sent[0], ("TMF".to_string(), "SELL".to_string(), 650));
    // The ledger's journal is what the broker did.
    assert_eq!(ledger.orders.len(), orders.len());
    for (entry, order) in ledger.orders.iter().zip(orders.iter()) {
        assert_eq!(*entry.state(), OrderState::Filled);
        assert_eq!(
            entry.broker_id.as_deref(),
            Some(order.id.to_string().as_str())
        );
        assert_eq!(
            entry.filled,
            rust_decimal::Decimal::from(order.quantity as i64)
        );
    }
    // The live state records the broker's positions.
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("state/state.json")).unwrap(),
    )
    .unwrap();
    let held = fake.positions();
    assert!(!held.is_empty());
    for (symbol, q) in held.iter().filter(|(_, q)| **q > 0) {
        assert_eq!(state["positions"][symbol].as_i64(), Some(*q), "{symbol}");
    }
    assert!(fake.world.lock().unwrap().cash >= 0.0);
    let all = format!("{stdout}{stderr}");
    assert!(!all.contains("secret-value"), "{all}");
}

#[test]
fn a_live_run_with_the_login_ending_soon_alerts_as_a_warning_with_the_hours_left() {
    let fake = FakeSchwab::start(SESSION, NOW, 20_000.0, &[], "A-secret-value-2");
    let mut hook_server = mockito::Server::new();
    let hook = hook_server
        .mock("POST", "/hook")
        .match_body(mockito::Matcher::AllOf(vec![
            mockito::Matcher::PartialJson(serde_json::json!({
                "level": "warning",
                "mode": "live",
                "subject": "[jutsu WARNING] live 2025-06-10 trade OK: 2 order(s), 2 filled, with warnings",
            })),
            mockito::Matcher::Regex("Schwab login: 30 h left".into()),
        ]))
        .expect(1)
        .create();
    let dir = tempfile::tempdir().unwrap();
    let alerts = format!("alerts:\n  webhook_url: {}/hook\n", hook_server.url());
    let config = common::live_config(dir.path(), &fake.url, "", "", &alerts);
    let now_s = chrono::DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .timestamp();
    // Logged in 138 h ago: the 7-day refresh token has 30 h left.
    common::token_file(
        dir.path(),
        now_s - 138 * 3600,
        ("R-secret-value-2", "A-secret-value-2"),
        now_s + 1200,
    );
    let (code, stdout, stderr) = common::run_live(&config, NOW, &["trade"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("the Schwab login expires in 30 h"),
        "{stdout}"
    );
    hook.assert();
}
