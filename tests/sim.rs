//! The simulated broker and the local-bars market data.

use crate::common;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use jutsu::brokers::local_data::LocalMarketData;
use jutsu::brokers::sim::{Faults, SimAccount, SimBroker};
use jutsu::brokers::{
    Broker, BrokerError, MarketData, OrderRequest, OrderStatus, OrderType, Placement, Quote, Side,
};
use jutsu::config::LocalQuote;
use jutsu::domain::portfolio::Costs;
use jutsu::support::clock::FixedClock;
use rust_decimal::Decimal;

fn d(x: &str) -> Decimal {
    x.parse().unwrap()
}

/// Fixed quotes: QQQ with a spread, TMV with a last price only.
struct Fixed;

impl MarketData for Fixed {
    fn daily_bars(
        &self,
        _: &str,
        _: chrono::NaiveDate,
    ) -> Result<Vec<jutsu::domain::bars::Bar>, BrokerError> {
        Ok(Vec::new())
    }
    fn quotes(&self, symbols: &[String]) -> Result<Vec<Quote>, BrokerError> {
        symbols
            .iter()
            .map(|s| {
                let (last, bid, ask) = match s.as_str() {
                    "QQQ" => (d("500.00"), Some(d("499.98")), Some(d("500.02"))),
                    "TMV" => (d("33.37"), None, None),
                    other => return Err(BrokerError::Rejected(format!("no quote for {other}"))),
                };
                Ok(Quote {
                    symbol: s.clone(),
                    last,
                    bid,
                    ask,
                    time: Utc.with_ymd_and_hms(2025, 12, 12, 20, 55, 0).unwrap(),
                    day_volume: None,
                    mark: None,
                    history_basis: d("1"),
                    previous_close: None,
                    security_status: None,
                    realtime: true,
                    no_bid_ask: false,
                })
            })
            .collect()
    }
}

fn costs() -> Costs {
    Costs {
        commission_per_share: d("0.01"),
        slippage: d("0.001"),
    }
}

fn open(path: &std::path::Path) -> SimBroker {
    SimBroker::open(
        path.to_path_buf(),
        SimAccount::new(d("10000")),
        costs(),
        Arc::new(Fixed),
        Arc::new(FixedClock(
            Utc.with_ymd_and_hms(2025, 12, 12, 20, 55, 0).unwrap(),
        )),
    )
    .unwrap()
}

fn market(symbol: &str, side: Side, quantity: u64) -> OrderRequest {
    OrderRequest {
        symbol: symbol.into(),
        side,
        quantity,
        order_type: OrderType::Market,
    }
}

fn placed_id(p: Placement) -> String {
    match p {
        Placement::Placed(id) => id,
        other => panic!("{other:?}"),
    }
}

#[test]
fn fills_at_ask_bid_or_last_plus_costs_exact_to_the_cent_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim/account.json");
    let broker = open(&path);
    let id = placed_id(broker.place_order(&market("QQQ", Side::Buy, 10)).unwrap());
    let o = broker.order(&id).unwrap();
    assert_eq!(o.status, OrderStatus::Filled);
    // ask 500.02 x 1.001 = 500.52002; 10 shares + 0.10 commission
    assert_eq!(o.average_fill_price, Some(d("500.52002")));
    let id = placed_id(broker.place_order(&market("TMV", Side::Buy, 100)).unwrap());
    assert_eq!(
        broker.order(&id).unwrap().average_fill_price,
        Some(d("33.40337"))
    );
    let id = placed_id(broker.place_order(&market("QQQ", Side::Sell, 4)).unwrap());
    // bid 499.98 x 0.999 = 499.48002
    assert_eq!(
        broker.order(&id).unwrap().average_fill_price,
        Some(d("499.48002"))
    );
    // 10000 - 5005.2002 - 0.10 - 3340.337 - 1.00 + 1997.92008 - 0.04
    let want_cash = d("3651.24288");
    let account = broker.account().unwrap();
    assert_eq!(account.cash, want_cash);
    assert_eq!(account.quantity("QQQ"), d("6"));
    assert_eq!(account.quantity("TMV"), d("100"));
    assert_eq!(account.liquidation_value, want_cash + d("3000") + d("3337"));
    let before = broker.snapshot();
    drop(broker);

    let again = open(&path);
    assert_eq!(again.snapshot(), before);
    assert_eq!(again.account().unwrap().cash, want_cash);
    assert_eq!(again.snapshot().fills.len(), 3);
}

#[test]
fn never_spends_more_than_the_cash_or_sells_more_than_held() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(&dir.path().join("a.json"));
    let id = placed_id(broker.place_order(&market("QQQ", Side::Buy, 20)).unwrap());
    match broker.order(&id).unwrap().status {
        OrderStatus::Rejected(why) => assert!(why.contains("but the cash is 10000"), "{why}"),
        other => panic!("{other:?}"),
    }
    let id = placed_id(broker.place_order(&market("TMV", Side::Sell, 1)).unwrap());
    assert!(
        matches!(broker.order(&id).unwrap().status, OrderStatus::Rejected(ref w) if w.contains("only 0 are held"))
    );
    assert_eq!(broker.account().unwrap().cash, d("10000"));
    assert!(broker.place_order(&market("QQQ", Side::Buy, 0)).is_err());
}

fn with_faults(path: &std::path::Path, faults: Faults) -> SimBroker {
    drop(open(path));
    let mut account: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    account["faults"] = serde_json::to_value(faults).unwrap();
    account.as_object_mut().unwrap().remove("checksum");
    std::fs::write(path, account.to_string()).unwrap();
    open(path)
}

#[test]
fn partial_fill_then_cancel_keeps_what_filled() {
    let dir = tempfile::tempdir().unwrap();
    let broker = with_faults(
        &dir.path().join("a.json"),
        Faults {
            fill_ratio: Some(d("0.5")),
            ..Faults::default()
        },
    );
    let id = placed_id(broker.place_order(&market("TMV", Side::Buy, 101)).unwrap());
    let o = broker.order(&id).unwrap();
    assert_eq!(o.status, OrderStatus::Open("WORKING".into()));
    assert_eq!(o.filled_quantity, d("50"));
    assert_eq!(broker.open_orders().unwrap().len(), 1);
    broker.cancel_order(&id).unwrap();
    let o = broker.order(&id).unwrap();
    assert_eq!(o.status, OrderStatus::Canceled);
    assert_eq!(o.filled_quantity, d("50"));
    assert_eq!(broker.account().unwrap().quantity("TMV"), d("50"));
    assert!(
        broker.cancel_order(&id).is_err(),
        "a final order cannot be canceled"
    );
}

#[test]
fn delayed_rejected_and_lost_answers() {
    let dir = tempfile::tempdir().unwrap();
    let broker = with_faults(
        &dir.path().join("a.json"),
        Faults {
            polls_until_fill: 2,
            reject_symbols: vec!["TMV".into()],
            lose_placement_answer: true,
            ..Faults::default()
        },
    );
    let since = Utc.with_ymd_and_hms(2025, 12, 12, 0, 0, 0).unwrap();
    assert!(matches!(
        broker.place_order(&market("QQQ", Side::Buy, 2)).unwrap(),
        Placement::Unknown(_)
    ));
    // The order is in all the same: listing finds it.
    let listed = broker.orders_since(since).unwrap();
    assert_eq!(listed.len(), 1);
    let id = listed[0].id.clone();
    assert!(!broker.order(&id).unwrap().status.is_final());
    assert_eq!(broker.order(&id).unwrap().status, OrderStatus::Filled);
    broker.place_order(&market("TMV", Side::Buy, 1)).unwrap();
    let tmv = broker.orders_since(since).unwrap().pop().unwrap();
    assert!(matches!(tmv.status, OrderStatus::Rejected(_)));
}

#[test]
fn identical_runs_write_identical_accounts() {
    let run = || {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        let b = open(&path);
        b.place_order(&market("QQQ", Side::Buy, 7)).unwrap();
        b.place_order(&market("TMV", Side::Buy, 3)).unwrap();
        b.place_order(&market("QQQ", Side::Sell, 2)).unwrap();
        std::fs::read_to_string(&path).unwrap()
    };
    assert_eq!(run(), run());
}

#[test]
fn local_bars_quote_the_close_at_the_as_of_instant_and_history_ends_the_day_before() {
    let as_of = Utc.with_ymd_and_hms(2025, 12, 12, 20, 55, 0).unwrap(); // 15:55 ET
    let data = LocalMarketData::new(common::data_dir(), as_of, LocalQuote::Close);
    let q = data
        .quotes(&["QQQ".to_string(), "TLT".to_string()])
        .unwrap();
    let qqq_bars = jutsu::storage::bars::load_csv(&common::data_dir().join("QQQ.csv")).unwrap();
    let today = qqq_bars
        .iter()
        .find(|b| b.date.to_string() == "2025-12-12")
        .unwrap();
    assert_eq!(q[0].last, today.close);
    assert_eq!(q[0].time, as_of);
    assert_eq!(q[0].day_volume, Decimal::from_f64_retain(today.volume));
    let history = data
        .daily_bars("QQQ", "2025-12-01".parse().unwrap())
        .unwrap();
    assert_eq!(history.first().unwrap().date.to_string(), "2025-12-01");
    assert_eq!(history.last().unwrap().date.to_string(), "2025-12-11");

    let open = LocalMarketData::new(common::data_dir(), as_of, LocalQuote::Open);
    assert_eq!(
        open.quotes(&["QQQ".to_string()]).unwrap()[0].last,
        today.open
    );

    let saturday = Utc.with_ymd_and_hms(2025, 12, 13, 20, 55, 0).unwrap();
    let closed = LocalMarketData::new(common::data_dir(), saturday, LocalQuote::Close);
    let err = closed.quotes(&["QQQ".to_string()]).unwrap_err().to_string();
    assert!(err.contains("no bar for QQQ on 2025-12-13"), "{err}");
}

fn limit(symbol: &str, side: Side, quantity: u64, price: &str) -> OrderRequest {
    OrderRequest {
        order_type: OrderType::Limit(d(price)),
        ..market(symbol, side, quantity)
    }
}

#[test]
fn limits_are_honoured_against_the_quote() {
    let dir = tempfile::tempdir().unwrap();
    let broker = open(&dir.path().join("sim/account.json"));
    // Ask 500.02: a buy limited at 500.00 is not reached; it rests until canceled.
    let id = placed_id(
        broker
            .place_order(&limit("QQQ", Side::Buy, 10, "500.00"))
            .unwrap(),
    );
    let o = broker.order(&id).unwrap();
    assert_eq!(o.status, OrderStatus::Open("WORKING".into()));
    assert_eq!(o.filled_quantity, Decimal::ZERO);
    assert_eq!(broker.account().unwrap().cash, d("10000"));
    broker.cancel_order(&id).unwrap();
    assert_eq!(broker.order(&id).unwrap().status, OrderStatus::Canceled);
    // A buy limited at 500.30 is reached; the market with slippage (500.52002) is worse
    // than the limit, so it fills at the limit, never above.
    let id = placed_id(
        broker
            .place_order(&limit("QQQ", Side::Buy, 10, "500.30"))
            .unwrap(),
    );
    let o = broker.order(&id).unwrap();
    assert_eq!(o.status, OrderStatus::Filled);
    assert_eq!(o.average_fill_price, Some(d("500.30")));
    // A limit well over the market fills at the market.
    let id = placed_id(
        broker
            .place_order(&limit("QQQ", Side::Buy, 1, "510"))
            .unwrap(),
    );
    assert_eq!(
        broker.order(&id).unwrap().average_fill_price,
        Some(d("500.52002"))
    );
    // Bid 499.98: a sell limited at 500.10 rests; one at 499.90 fills at 499.90 (the market
    // with slippage, 499.48002, is below it).
    let id = placed_id(
        broker
            .place_order(&limit("QQQ", Side::Sell, 5, "500.10"))
            .unwrap(),
    );
    assert_eq!(broker.order(&id).unwrap().filled_quantity, Decimal::ZERO);
    let id = placed_id(
        broker
            .place_order(&limit("QQQ", Side::Sell, 5, "499.90"))
            .unwrap(),
    );
    assert_eq!(
        broker.order(&id).unwrap().average_fill_price,
        Some(d("499.90"))
    );
}
