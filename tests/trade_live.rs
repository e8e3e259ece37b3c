//! `jutsu trade --mode live` against a mock Schwab server that keeps an account: the orders
//! sent are exactly the plan, sells go before buys, and the ledger and state match the
//! broker afterwards.

use crate::common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::TimeZone;
use chrono_tz::America::Chicago;
use jutsu::domain::journal::{Ledger, OrderState, RunStatus};
use mockito::{Matcher, Server};
use serde_json::{json, Value};

const HASH: &str = "787052755BB0251F930B322BE3C6C6CCF5EFB28B4C0A438C0DBDE35238F91D39";
const SESSION: &str = "2025-06-10";
const NOW: &str = "2025-06-10T19:55:00Z"; // 15:55 ET

#[derive(Default)]
struct Account {
    cash: f64,
    positions: BTreeMap<String, f64>,
    /// (id, symbol, instruction, quantity, price)
    orders: Vec<(u64, String, String, f64, f64)>,
}

fn closes() -> BTreeMap<String, (f64, f64)> {
    ["QQQ", "TLT", "TQQQ", "TMF", "TMV", "PSQ"]
        .iter()
        .map(|s| {
            let bars =
                jutsu::storage::bars::load_csv(&common::shared().join(format!("data/{s}.csv")))
                    .unwrap();
            let bar = bars.iter().find(|b| b.date.to_string() == SESSION).unwrap();
            (s.to_string(), (bar.close_f64, bar.volume))
        })
        .collect()
}

fn candles(symbol: &str) -> String {
    let bars = jutsu::storage::bars::load_csv(&common::shared().join(format!("data/{symbol}.csv")))
        .unwrap();
    let candles: Vec<Value> = bars
        .iter()
        .filter(|b| b.date.to_string().as_str() < SESSION)
        .map(|b| {
            let midnight = Chicago
                .from_local_datetime(&b.date.and_hms_opt(0, 0, 0).unwrap())
                .unwrap()
                .timestamp_millis();
            json!({"open": b.open.to_string().parse::<f64>().unwrap(), "high": b.high.to_string().parse::<f64>().unwrap(),
                   "low": b.low.to_string().parse::<f64>().unwrap(), "close": b.close_f64, "volume": b.volume,
                   "datetime": midnight})
        })
        .collect();
    json!({"candles": candles, "symbol": symbol, "empty": false}).to_string()
}

fn account_json(a: &Account, prices: &BTreeMap<String, (f64, f64)>) -> String {
    let positions: Vec<Value> = a
        .positions
        .iter()
        .filter(|(_, q)| **q > 0.0)
        .map(|(s, q)| json!({"longQuantity": q, "shortQuantity": 0.0, "marketValue": q * prices[s].0,
                             "instrument": {"assetType": "COLLECTIVE_INVESTMENT", "symbol": s, "type": "EXCHANGE_TRADED_FUND"}}))
        .collect();
    let value: f64 = a.cash
        + a.positions
            .iter()
            .map(|(s, q)| q * prices[s].0)
            .sum::<f64>();
    json!({"securitiesAccount": {"type": "MARGIN", "accountNumber": "31415926", "positions": positions,
           "currentBalances": {"cashBalance": (a.cash * 100.0).round() / 100.0, "buyingPower": a.cash * 2.0,
                               "liquidationValue": (value * 100.0).round() / 100.0}}})
    .to_string()
}

fn order_json(o: &(u64, String, String, f64, f64)) -> Value {
    json!({"orderId": o.0, "status": "FILLED", "quantity": o.3, "filledQuantity": o.3, "remainingQuantity": 0.0,
           "enteredTime": "2025-06-10T19:55:01+0000",
           "orderLegCollection": [{"instruction": o.2, "quantity": o.3, "instrument": {"symbol": o.1, "assetType": "EQUITY"}}],
           "orderActivityCollection": [{"activityType": "EXECUTION", "executionType": "FILL",
                                        "executionLegs": [{"quantity": o.3, "price": o.4}]}]})
}

#[test]
fn live_run_sends_exactly_the_plan_sells_first_and_ends_matching_the_broker() {
    let prices = Arc::new(closes());
    let account = Arc::new(Mutex::new(Account {
        cash: 20_000.0,
        positions: BTreeMap::from([("TMF".to_string(), 650.0)]),
        orders: Vec::new(),
    }));
    let mut server = Server::new();
    for symbol in ["QQQ", "TLT", "TQQQ", "TMF", "TMV", "PSQ"] {
        server
            .mock("GET", "/marketdata/v1/pricehistory")
            .match_query(Matcher::UrlEncoded("symbol".into(), symbol.into()))
            .with_body(candles(symbol))
            .create();
    }
    let now_ms = chrono::DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .timestamp_millis();
    let quotes: serde_json::Map<String, Value> = prices
        .iter()
        .map(|(s, (close, volume))| {
            (s.clone(), json!({"assetMainType": "EQUITY", "symbol": s, "quote": {
                "lastPrice": close, "bidPrice": close, "askPrice": close, "quoteTime": now_ms, "totalVolume": volume}}))
        })
        .collect();
    server
        .mock("GET", "/marketdata/v1/quotes")
        .match_query(Matcher::Any)
        .with_body(Value::Object(quotes).to_string())
        .create();
    server
        .mock("GET", "/trader/v1/accounts/accountNumbers")
        .with_body(
            std::fs::read_to_string(
                common::shared().join("schwab/fixtures/trader/account_numbers.json"),
            )
            .unwrap(),
        )
        .create();
    {
        let (account, prices) = (account.clone(), prices.clone());
        server
            .mock("GET", format!("/trader/v1/accounts/{HASH}").as_str())
            .match_query(Matcher::Any)
            .with_body_from_request(move |_| {
                account_json(&account.lock().unwrap(), &prices).into_bytes()
            })
            .create();
    }
    {
        let account = account.clone();
        server
            .mock("GET", format!("/trader/v1/accounts/{HASH}/orders").as_str())
            .match_query(Matcher::Any)
            .with_body_from_request(move |_| {
                let a = account.lock().unwrap();
                Value::Array(a.orders.iter().map(order_json).collect())
                    .to_string()
                    .into_bytes()
            })
            .create();
    }
    for (n, symbol) in ["TQQQ", "QQQ", "PSQ", "TMF", "TMV"].iter().enumerate() {
        let id = 1_004_000_000_000u64 + n as u64;
        let (shared, prices) = (account.clone(), prices.clone());
        let symbol = symbol.to_string();
        server
            .mock(
                "POST",
                format!("/trader/v1/accounts/{HASH}/orders").as_str(),
            )
            .match_body(Matcher::Regex(format!(r#""symbol":"{symbol}""#)))
            .with_status(201)
            .with_header(
                "location",
                &format!("https://api.schwabapi.com/trader/v1/accounts/{HASH}/orders/{id}"),
            )
            .with_body_from_request(move |req| {
                let body: Value = serde_json::from_slice(req.body().unwrap()).unwrap();
                let leg = &body["orderLegCollection"][0];
                let instruction = leg["instruction"].as_str().unwrap().to_string();
                let quantity = leg["quantity"].as_f64().unwrap();
                let price = prices[&symbol].0;
                let mut a = shared.lock().unwrap();
                let held = a.positions.entry(symbol.clone()).or_default();
                if instruction == "BUY" {
                    *held += quantity;
                    a.cash -= quantity * price;
                } else {
                    *held -= quantity;
                    a.cash += quantity * price;
                }
                a.orders
                    .push((id, symbol.clone(), instruction, quantity, price));
                Vec::new()
            })
            .create();
        let account = account.clone();
        server
            .mock(
                "GET",
                format!("/trader/v1/accounts/{HASH}/orders/{id}").as_str(),
            )
            .with_body_from_request(move |_| {
                let a = account.lock().unwrap();
                let order = a.orders.iter().rev().find(|o| o.0 == id).unwrap();
                order_json(order).to_string().into_bytes()
            })
            .create();
    }

    let dir = tempfile::tempdir().unwrap();
    let url = server.url();
    let config = dir.path().join("jutsu.yaml");
    std::fs::write(
        &config,
        format!(
            "mode: live\npaths:\n  state_dir: state\n  logs_dir: logs\ndata:\n  source: schwab\n\
             schwab:\n  app_key_env: T_APP_KEY\n  app_secret_env: T_APP_SECRET\n\
             \x20 oauth_base_url: {url}/v1/oauth\n  trader_base_url: {url}/trader/v1\n\
             \x20 marketdata_base_url: {url}/marketdata/v1\n  token_file: state/token.json\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    let now_s = chrono::DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .timestamp();
    jutsu::storage::fsutil::write_atomic(
        &dir.path().join("state/token.json"),
        format!(r#"{{"creation_timestamp": {}, "token": {{"refresh_token": "R-secret-value-1", "access_token": "A-secret-value-1", "expires_at": {}}}}}"#, now_s - 86_400, now_s + 1200).as_bytes(),
        true,
    )
    .unwrap();
    let (code, stdout, stderr) = common::run(
        common::jutsu()
            .env("JUTSU_NOW", NOW)
            .env("T_APP_KEY", "APPKEY0123456789")
            .env("T_APP_SECRET", "APPSECRET0123456")
            .args(["-c", config.to_str().unwrap(), "trade"]),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("preflight      live session 2025-06-10"),
        "{stdout}"
    );
    assert!(stdout.contains(", token 144 h left"), "{stdout}");

    let a = account.lock().unwrap();
    let ledger = Ledger::load(&dir.path().join(format!("state/runs/{SESSION}.json")))
        .unwrap()
        .unwrap();
    assert_eq!(ledger.status, RunStatus::Done);
    let plan = ledger.plan.clone().unwrap();
    // Exactly the plan, in order, each sent once.
    let sent: Vec<(String, String, i64)> = a
        .orders
        .iter()
        .map(|o| (o.1.clone(), o.2.clone(), o.3 as i64))
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
    for (entry, order) in ledger.orders.iter().zip(a.orders.iter()) {
        assert_eq!(entry.state, OrderState::Filled);
        assert_eq!(
            entry.broker_id.as_deref(),
            Some(order.0.to_string().as_str())
        );
        assert_eq!(entry.filled, rust_decimal::Decimal::from(order.3 as i64));
    }
    // The live state records the broker's positions.
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("state/state.json")).unwrap(),
    )
    .unwrap();
    for (symbol, q) in a.positions.iter().filter(|(_, q)| **q > 0.0) {
        assert_eq!(
            state["positions"][symbol].as_i64(),
            Some(*q as i64),
            "{symbol}"
        );
    }
    assert!(a.cash >= 0.0);
    let all = format!("{stdout}{stderr}");
    assert!(!all.contains("secret-value"), "{all}");
}
