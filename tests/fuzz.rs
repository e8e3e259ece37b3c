//! Property-based fuzzing: the config parser, the bar loader and the Schwab response parsers
//! never panic, whatever they are given; bad input is an error, never a guess. Each property
//! runs `JUTSU_FUZZ_CASES` inputs (default 400; the closing note reports longer runs).

use crate::common;

use std::path::Path;

use jutsu::brokers::schwab::model;
use proptest::prelude::*;
use serde_json::Value;

fn cases() -> u32 {
    std::env::var("JUTSU_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, a few levels deep, with numbers that include the awkward ones.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            any::<f64>(),
            Just(1e300),
            Just(-0.0),
            Just(f64::MIN_POSITIVE)
        ]
        .prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("securitiesAccount".to_string()),
                    Just("positions".to_string()),
                    Just("currentBalances".to_string()),
                    Just("orderId".to_string()),
                    Just("status".to_string()),
                    Just("quantity".to_string()),
                    Just("orderLegCollection".to_string()),
                    Just("orderActivityCollection".to_string()),
                    Just("executionLegs".to_string()),
                    Just("candles".to_string()),
                    Just("quote".to_string()),
                    Just("equity".to_string()),
                    Just("errors".to_string()),
                    ".{0,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn fixture(path: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(common::fixtures().join("schwab").join(path)).unwrap(),
    )
    .unwrap()
}

/// Replaces the value at the `n`-th leaf (in a walk of the tree) with `with`.
fn mutate(value: &mut Value, n: &mut usize, with: &Value) -> bool {
    match value {
        Value::Object(map) => map.values_mut().any(|v| mutate(v, n, with)),
        Value::Array(items) => items.iter_mut().any(|v| mutate(v, n, with)),
        leaf => {
            if *n == 0 {
                *leaf = with.clone();
                true
            } else {
                *n -= 1;
                false
            }
        }
    }
}

fn parse_everything(v: &Value) {
    let _ = model::parse_account(v.clone());
    let _ = model::parse_order(v.clone());
    let _ = model::parse_quotes(v.clone(), &["QQQ".to_string(), "TLT".to_string()]);
    let _ = model::parse_daily_candles(v.clone());
    let _ = model::parse_market_hours(v.clone());
    let _ = model::error_message(v.to_string().as_bytes());
}

const FIXTURES: [&str; 8] = [
    "trader/account_margin_with_positions.json",
    "trader/account_cash_with_positions.json",
    "trader/order_filled_two_executions.json",
    "trader/order_canceled_after_partial_fill.json",
    "marketdata/quotes_qqq_tlt_tqqq_tmf_tmv.json",
    "marketdata/pricehistory_qqq_daily.json",
    "marketdata/markets_equity_open_day.json",
    "marketdata/markets_equity_holiday.json",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn schwab_parsers_never_panic_on_any_json(v in json_value()) {
        parse_everything(&v);
    }

    #[test]
    fn schwab_parsers_never_panic_on_mutated_fixtures(
        which in 0..FIXTURES.len(),
        leaf in 0usize..400,
        with in json_value(),
    ) {
        let mut v = fixture(FIXTURES[which]);
        let mut n = leaf;
        mutate(&mut v, &mut n, &with);
        parse_everything(&v);
        // What parses is still sane: no negative or zero quote, no negative order quantity.
        if let Ok(quotes) = model::parse_quotes(v.clone(), &["QQQ".to_string()]) {
            prop_assert!(quotes.iter().all(|q| q.last > rust_decimal::Decimal::ZERO));
        }
        if let Ok(order) = model::parse_order(v.clone()) {
            prop_assert!(order.quantity > rust_decimal::Decimal::ZERO);
            prop_assert!(order.filled_quantity <= order.quantity);
        }
        if let Ok(account) = model::parse_account(v) {
            prop_assert!(account.liquidation_value >= rust_decimal::Decimal::ZERO);
            prop_assert!(account.positions.iter().all(|p| !p.quantity.is_zero()));
        }
    }

    #[test]
    fn error_bodies_of_any_bytes_give_a_message(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = model::error_message(&bytes);
    }

    #[test]
    fn config_parser_never_panics_on_any_text(text in ".{0,400}") {
        let _ = jutsu::config::parse(&text);
    }

    #[test]
    fn config_parser_never_panics_on_plausible_yaml(
        section in prop_oneof![Just("schedule"), Just("execution"), Just("risk"), Just("strategy"), Just("alerts"), Just("data"), Just("mode"), Just("schwab")],
        key in prop_oneof![
            prop::sample::select(vec!["parameters", "minutes_before_close", "min_trade_pct", "email", "sma_fast", "history_start", "max_total_leverage", "request_timeout_s"]).prop_map(String::from),
            "[a-z_]{1,12}",
        ],
        value in prop_oneof![Just("-1".to_string()), Just("1e400".to_string()), Just(".nan".to_string()), Just("[1, 2]".to_string()), Just("{a: 1}".to_string()), Just("~".to_string()), "[ -~]{0,20}"],
    ) {
        let text = format!("{section}:\n  {key}: {value}\n");
        let _ = jutsu::config::parse(&text);
        let nested = format!("strategy:\n  parameters:\n    {key}: {value}\n");
        let _ = jutsu::config::parse(&nested);
    }

    #[test]
    fn bar_loader_never_panics_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut text = b"date,open,high,low,close,volume\n".to_vec();
        text.extend(bytes);
        let _ = jutsu::domain::bars::parse_csv(text.as_slice(), Path::new("fuzz.csv"));
    }

    #[test]
    fn bar_loader_accepts_only_consistent_rows(
        rows in prop::collection::vec(
            (1u32..28, prop_oneof![Just("-1".to_string()), Just("0".to_string()), Just("1e30".to_string()), Just("NaN".to_string()), "[0-9]{1,4}(\\.[0-9]{1,3})?"], "[0-9]{1,4}(\\.[0-9]{1,3})?", "[0-9]{1,4}", prop_oneof![Just("-5".to_string()), "[0-9]{1,9}"]),
            1..20,
        ),
    ) {
        let mut text = String::from("date,open,high,low,close,volume\n");
        for (day, open, close, spread, volume) in &rows {
            text.push_str(&format!("2025-01-{day:02},{open},{close}{spread},{close},{close},{volume}\n"));
        }
        match jutsu::domain::bars::parse_csv(text.as_bytes(), Path::new("fuzz.csv")) {
            Ok(bars) => {
                for pair in bars.windows(2) {
                    prop_assert!(pair[0].date < pair[1].date);
                }
                for b in &bars {
                    prop_assert!(b.problem().is_none());
                }
            }
            Err(e) => {
                let text = e.to_string();
                prop_assert!(text.starts_with("fuzz.csv:"), "{}", text);
            }
        }
    }
}
