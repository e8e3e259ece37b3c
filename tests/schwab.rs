//! The Schwab client against a local mock server answering with the fixtures in
//! tests/fixtures/schwab: every endpoint, each error shape, and the token life cycle.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use jutsu::brokers::schwab::auth::{OAuthSettings, TokenFile};
use jutsu::brokers::schwab::{RetryPolicy, SchwabClient, SchwabSettings};
use jutsu::brokers::{
    Broker, BrokerError, MarketData, OrderRequest, OrderStatus, OrderType, Placement, Side,
};
use jutsu::support::clock::FixedClock;
use jutsu::support::secret::Secret;
use mockito::{Matcher, Server, ServerGuard};
use rust_decimal::Decimal;

const HASH: &str = "787052755BB0251F930B322BE3C6C6CCF5EFB28B4C0A438C0DBDE35238F91D39";
/// 2025-06-10 11:02 ET, the fixtures' scenario.
const NOW: i64 = 1_749_567_734;

fn fixture(path: &str) -> String {
    std::fs::read_to_string(common::fixtures().join("schwab").join(path)).unwrap()
}

struct Setup {
    server: ServerGuard,
    client: SchwabClient,
    token_path: PathBuf,
    _dir: tempfile::TempDir,
}

fn write_token(path: &Path, created: i64, expires_at: i64, access: &str) {
    let text = format!(
        r#"{{"creation_timestamp": {created}, "token": {{"expires_in": 1800, "token_type": "Bearer", "scope": "api", "refresh_token": "REFRESH-abc-123", "access_token": "{access}", "expires_at": {expires_at}}}}}"#
    );
    jutsu::storage::fsutil::write_atomic(path, text.as_bytes(), true).unwrap();
}

fn setup_with(created: i64, expires_at: i64) -> Setup {
    let server = Server::new();
    let dir = tempfile::tempdir().unwrap();
    let token_path = dir.path().join("token.json");
    write_token(&token_path, created, expires_at, "ACCESS-ONE");
    let url = server.url();
    let settings = SchwabSettings {
        oauth: OAuthSettings {
            base_url: format!("{url}/v1/oauth"),
            callback_url: "https://127.0.0.1:8182".into(),
            app_key: Secret::new("APPKEY0123456789".into()),
            app_secret: Secret::new("APPSECRET0123456".into()),
        },
        trader_base_url: format!("{url}/trader/v1"),
        marketdata_base_url: format!("{url}/marketdata/v1"),
        token_file: token_path.clone(),
        // The fixture links a brokerage account and an IRA: one must be named.
        account_number: Some("31415926".into()),
        retry: RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        },
        requests_per_minute: 120,
        timeout: Duration::from_secs(5),
    };
    let clock = Arc::new(FixedClock(Utc.timestamp_opt(NOW, 0).unwrap()));
    let client = SchwabClient::new(settings, clock).unwrap();
    Setup {
        server,
        client,
        token_path,
        _dir: dir,
    }
}

fn setup() -> Setup {
    setup_with(NOW - 86_400, NOW + 1500)
}

fn mock_hash(s: &mut Setup) -> mockito::Mock {
    s.server
        .mock("GET", "/trader/v1/accounts/accountNumbers")
        .match_header("authorization", "Bearer ACCESS-ONE")
        .with_header("content-type", "application/json")
        .with_body(fixture("trader/account_numbers.json"))
        .create()
}

fn d(x: &str) -> Decimal {
    x.parse().unwrap()
}

#[test]
fn account_with_positions_uses_the_hash_and_reads_etfs() {
    let mut s = setup();
    let numbers = mock_hash(&mut s);
    let account = s
        .server
        .mock("GET", format!("/trader/v1/accounts/{HASH}").as_str())
        .match_query(Matcher::UrlEncoded("fields".into(), "positions".into()))
        .with_body(fixture("trader/account_margin_with_positions.json"))
        .create();
    let a = s.client.account().unwrap();
    numbers.assert();
    account.assert();
    assert_eq!(a.quantity("TQQQ"), d("420"));
    assert_eq!(a.quantity("TMF"), d("650"));
    assert_eq!(a.quantity("QQQ"), d("25"));
    assert_eq!(a.cash, d("4123.57"));
    assert_eq!(a.liquidation_value, d("76386.9"));
    // The hash is looked up once.
    s.client.account().unwrap();
    numbers.expect(1).assert();
}

#[test]
fn an_account_answer_without_positions_is_an_error_not_a_flat_account() {
    let mut s = setup();
    mock_hash(&mut s);
    s.server
        .mock("GET", format!("/trader/v1/accounts/{HASH}").as_str())
        .match_query(Matcher::Any)
        .with_body(fixture(
            "trader/account_margin_without_positions_field.json",
        ))
        .create();
    let e = s.client.account().unwrap_err().to_string();
    assert!(e.contains("no `positions` in the account"), "{e}");
}

#[test]
fn cash_account_buying_power_is_cash_available_for_trading() {
    let mut s = setup();
    s.client = {
        let mut settings = s.client.settings().clone();
        settings.account_number = Some("27182818".into());
        SchwabClient::new(
            settings,
            Arc::new(FixedClock(Utc.timestamp_opt(NOW, 0).unwrap())),
        )
        .unwrap()
    };
    mock_hash(&mut s);
    s.server
        .mock(
            "GET",
            "/trader/v1/accounts/6CC3E4F2C31ED233A10CEC762C5E1E590133D827C7585E13AB839809D09B80C6",
        )
        .match_query(Matcher::Any)
        .with_body(fixture("trader/account_cash_with_positions.json"))
        .create();
    let a = s.client.account().unwrap();
    assert_eq!(a.buying_power, d("2210.04"));
    assert_eq!(a.liquidation_value, d("16676.74"));
}

#[test]
fn unknown_account_number_is_named_masked() {
    let mut s = setup();
    let mut settings = s.client.settings().clone();
    settings.account_number = Some("99999999".into());
    s.client = SchwabClient::new(
        settings,
        Arc::new(FixedClock(Utc.timestamp_opt(NOW, 0).unwrap())),
    )
    .unwrap();
    mock_hash(&mut s);
    let err = s.client.account().unwrap_err().to_string();
    assert!(err.contains("account ****9999 is not linked"), "{err}");
    assert!(err.contains("****5926, ****2818"), "{err}");
    assert!(!err.contains("31415926"), "{err}");
}

#[test]
fn quotes_for_the_traded_symbols() {
    let mut s = setup();
    s.server
        .mock("GET", "/marketdata/v1/quotes")
        .match_query(Matcher::UrlEncoded(
            "symbols".into(),
            "QQQ,TLT,TQQQ,TMF,TMV".into(),
        ))
        .with_body(fixture("marketdata/quotes_qqq_tlt_tqqq_tmf_tmv.json"))
        .create();
    let symbols: Vec<String> = ["QQQ", "TLT", "TQQQ", "TMF", "TMV"]
        .map(String::from)
        .to_vec();
    let quotes = s.client.quotes(&symbols).unwrap();
    assert_eq!(quotes.len(), 5);
    let qqq = &quotes[0];
    assert_eq!(qqq.symbol, "QQQ");
    assert_eq!(qqq.last, d("527.42"));
    assert_eq!(qqq.bid, Some(d("527.41")));
    assert_eq!(qqq.ask, Some(d("527.43")));
    assert_eq!(qqq.day_volume, Some(d("18734210")));
    assert_eq!(qqq.time.timestamp_millis(), 1_749_567_734_000);
    assert!(quotes.iter().zip(&symbols).all(|(q, s)| &q.symbol == s));
}

#[test]
fn invalid_symbols_inside_a_200_are_an_error_naming_them() {
    let mut s = setup();
    s.server
        .mock("GET", "/marketdata/v1/quotes")
        .match_query(Matcher::Any)
        .with_body(fixture("marketdata/quotes_with_invalid_symbol.json"))
        .create();
    let err = s
        .client
        .quotes(&["QQQ".to_string(), "QQQQ".to_string()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("Schwab does not know QQQQ"), "{err}");
}

#[test]
fn daily_candles_are_dated_by_their_central_time_midnight() {
    let mut s = setup();
    s.server
        .mock("GET", "/marketdata/v1/pricehistory")
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("symbol".into(), "QQQ".into()),
            Matcher::UrlEncoded("frequencyType".into(), "daily".into()),
        ]))
        .with_body(fixture("marketdata/pricehistory_qqq_daily.json"))
        .create();
    let bars = s
        .client
        .daily_bars("QQQ", "2025-05-27".parse().unwrap())
        .unwrap();
    assert_eq!(bars.len(), 10);
    assert_eq!(bars[0].date.to_string(), "2025-05-27");
    assert_eq!(bars[0].close, d("521.2"));
    assert_eq!(bars[9].date.to_string(), "2025-06-09");
    for b in &bars {
        assert!(jutsu::domain::calendar::is_session(b.date), "{}", b.date);
    }
}

#[test]
fn empty_price_history_is_no_bars() {
    let mut s = setup();
    s.server
        .mock("GET", "/marketdata/v1/pricehistory")
        .match_query(Matcher::Any)
        .with_body(fixture("marketdata/pricehistory_empty.json"))
        .create();
    assert!(s
        .client
        .daily_bars("QQQ", "2025-05-27".parse().unwrap())
        .unwrap()
        .is_empty());
}

#[test]
fn market_hours_open_early_close_and_closed_days() {
    let mut s = setup();
    let cases = [
        (
            "2025-06-10",
            "marketdata/markets_equity_open_day.json",
            Some(("13:30", "20:00")),
        ),
        (
            "2025-11-28",
            "marketdata/markets_equity_early_close.json",
            Some(("14:30", "18:00")),
        ),
        ("2025-07-04", "marketdata/markets_equity_holiday.json", None),
        ("2025-06-14", "marketdata/markets_equity_weekend.json", None),
        (
            "2025-12-25",
            "marketdata/markets_equity_holiday_legacy_nulls.json",
            None,
        ),
    ];
    for (date, file, want) in cases {
        let m = s
            .server
            .mock("GET", "/marketdata/v1/markets/equity")
            .match_query(Matcher::UrlEncoded("date".into(), date.into()))
            .with_body(fixture(file))
            .create();
        let got = s.client.market_hours(date.parse().unwrap()).unwrap();
        let got = got.map(|h| {
            (
                h.open.format("%H:%M").to_string(),
                h.close.format("%H:%M").to_string(),
            )
        });
        assert_eq!(
            got,
            want.map(|(o, c)| (o.to_string(), c.to_string())),
            "{date}"
        );
        m.remove();
    }
}

fn order_mock(s: &mut Setup, id: &str, file: &str) -> mockito::Mock {
    s.server
        .mock(
            "GET",
            format!("/trader/v1/accounts/{HASH}/orders/{id}").as_str(),
        )
        .with_body(fixture(file))
        .create()
}

#[test]
fn market_order_is_posted_once_and_the_id_read_from_location() {
    let mut s = setup();
    mock_hash(&mut s);
    let post = s
        .server
        .mock(
            "POST",
            format!("/trader/v1/accounts/{HASH}/orders").as_str(),
        )
        .match_header("content-type", "application/json")
        .match_body(Matcher::Json(
            serde_json::from_str(&fixture("trader/order_request_market_sell.json")).unwrap(),
        ))
        .with_status(201)
        .with_header(
            "location",
            &format!("https://api.schwabapi.com/trader/v1/accounts/{HASH}/orders/1003871654321"),
        )
        .expect(1)
        .create();
    let placed = s
        .client
        .place_order(&OrderRequest {
            symbol: "TMF".into(),
            side: Side::Sell,
            quantity: 400,
            order_type: OrderType::Market,
        })
        .unwrap();
    post.assert();
    assert_eq!(placed, Placement::Placed("1003871654321".into()));
}

#[test]
fn limit_order_body_matches_the_reference_request() {
    let mut s = setup();
    mock_hash(&mut s);
    let post = s
        .server
        .mock(
            "POST",
            format!("/trader/v1/accounts/{HASH}/orders").as_str(),
        )
        .match_body(Matcher::Json(
            serde_json::from_str(&fixture("trader/order_request_limit_buy.json")).unwrap(),
        ))
        .with_status(201)
        .with_header("location", "/trader/v1/accounts/x/orders/77")
        .create();
    let placed = s
        .client
        .place_order(&OrderRequest {
            symbol: "TMV".into(),
            side: Side::Buy,
            quantity: 200,
            order_type: OrderType::Limit(d("42")),
        })
        .unwrap();
    post.assert();
    assert_eq!(placed, Placement::Placed("77".into()));
}

#[test]
fn missing_location_is_an_unknown_outcome_and_nothing_is_sent_again() {
    let mut s = setup();
    mock_hash(&mut s);
    let post = s
        .server
        .mock(
            "POST",
            format!("/trader/v1/accounts/{HASH}/orders").as_str(),
        )
        .with_status(201)
        .expect(1)
        .create();
    let placed = s
        .client
        .place_order(&OrderRequest {
            symbol: "TQQQ".into(),
            side: Side::Buy,
            quantity: 150,
            order_type: OrderType::Market,
        })
        .unwrap();
    post.assert();
    match placed {
        Placement::Unknown(why) => assert!(why.contains("without an order id"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_5xx_on_an_order_is_not_retried_and_is_an_unknown_outcome() {
    let mut s = setup();
    mock_hash(&mut s);
    let post = s
        .server
        .mock(
            "POST",
            format!("/trader/v1/accounts/{HASH}/orders").as_str(),
        )
        .with_status(503)
        .with_body(fixture("errors/trader_503.json"))
        .expect(1)
        .create();
    let placed = s
        .client
        .place_order(&OrderRequest {
            symbol: "TQQQ".into(),
            side: Side::Buy,
            quantity: 1,
            order_type: OrderType::Market,
        })
        .unwrap();
    post.assert();
    assert!(
        matches!(placed, Placement::Unknown(ref m) if m.contains("HTTP 503")),
        "{placed:?}"
    );
}

#[test]
fn order_validation_400_is_a_rejection_with_schwabs_message() {
    let mut s = setup();
    mock_hash(&mut s);
    s.server
        .mock(
            "POST",
            format!("/trader/v1/accounts/{HASH}/orders").as_str(),
        )
        .with_status(400)
        .with_body(fixture("errors/trader_400_order_validation.json"))
        .create();
    let err = s
        .client
        .place_order(&OrderRequest {
            symbol: "QQQ".into(),
            side: Side::Buy,
            quantity: 5,
            order_type: OrderType::Market,
        })
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BrokerError::Rejected(_)), "{text}");
    assert!(text.contains("BUY 5 QQQ: HTTP 400"), "{text}");
    let body: serde_json::Value =
        serde_json::from_str(&fixture("errors/trader_400_order_validation.json")).unwrap();
    assert!(text.contains(body["message"].as_str().unwrap()), "{text}");
}

#[test]
fn fills_statuses_and_average_prices() {
    let mut s = setup();
    mock_hash(&mut s);
    order_mock(&mut s, "1", "trader/order_filled_two_executions.json");
    order_mock(&mut s, "2", "trader/order_partially_filled_working.json");
    order_mock(&mut s, "3", "trader/order_canceled_after_partial_fill.json");
    order_mock(&mut s, "4", "trader/order_rejected.json");
    order_mock(&mut s, "5", "trader/order_working_just_placed.json");
    order_mock(&mut s, "6", "trader/order_pending_activation.json");

    let filled = s.client.order("1").unwrap();
    assert_eq!(filled.status, OrderStatus::Filled);
    assert_eq!(filled.filled_quantity, d("150"));
    // (100 x 78.4101 + 50 x 78.42) / 150
    assert_eq!(filled.average_fill_price, Some(d("78.4134")));
    assert_eq!(filled.side, Side::Buy);
    assert_eq!(
        filled.entered_time.unwrap().to_rfc3339(),
        "2025-06-10T13:45:02+00:00"
    );

    let partial = s.client.order("2").unwrap();
    assert_eq!(partial.status, OrderStatus::Open("WORKING".into()));
    assert!(!partial.status.is_final());
    assert_eq!(partial.filled_quantity, d("250"));
    assert_eq!(partial.quantity, d("400"));

    let canceled = s.client.order("3").unwrap();
    assert_eq!(canceled.status, OrderStatus::Canceled);
    assert_eq!(canceled.filled_quantity, d("60"));
    assert_eq!(canceled.average_fill_price, Some(d("42")));

    let rejected = s.client.order("4").unwrap();
    match rejected.status {
        OrderStatus::Rejected(why) => {
            assert!(why.contains("exceeds available buying power"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(rejected.average_fill_price, None);

    let working = s.client.order("5").unwrap();
    assert_eq!(working.filled_quantity, Decimal::ZERO);
    assert!(!working.status.is_final());
    assert!(!s.client.order("6").unwrap().status.is_final());
}

#[test]
fn orders_since_sends_utc_times_with_millis_and_z() {
    let mut s = setup();
    mock_hash(&mut s);
    let list = s
        .server
        .mock("GET", format!("/trader/v1/accounts/{HASH}/orders").as_str())
        .match_query(Matcher::AllOf(vec![
            Matcher::UrlEncoded("fromEnteredTime".into(), "2025-06-10T00:00:00.000Z".into()),
            Matcher::Regex(r"toEnteredTime=\d{4}-\d\d-\d\dT\d\d%3A\d\d%3A\d\d\.\d{3}Z".into()),
        ]))
        .with_body(fixture("trader/orders_list.json"))
        .create();
    let orders = s
        .client
        .orders_since(Utc.with_ymd_and_hms(2025, 6, 10, 0, 0, 0).unwrap())
        .unwrap();
    list.assert();
    assert_eq!(orders.len(), 4);
    assert_eq!(orders[0].symbol, "TMF");
    s.server
        .mock("GET", format!("/trader/v1/accounts/{HASH}/orders").as_str())
        .match_query(Matcher::UrlEncoded(
            "fromEnteredTime".into(),
            "2025-04-11T15:02:14.000Z".into(),
        ))
        .with_body(fixture("trader/orders_list.json"))
        .create();
    let open = s.client.open_orders().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].id, "1003871654388");
}

#[test]
fn cancel_is_a_delete() {
    let mut s = setup();
    mock_hash(&mut s);
    let del = s
        .server
        .mock(
            "DELETE",
            format!("/trader/v1/accounts/{HASH}/orders/42").as_str(),
        )
        .with_status(200)
        .expect(1)
        .create();
    s.client.cancel_order("42").unwrap();
    del.assert();
}

#[test]
fn error_shapes_become_readable_messages() {
    let cases: [(u16, &str, &str, &str); 7] = [
        (
            400,
            "errors/marketdata_400_bad_request.json",
            "application/json",
            "Bad Request",
        ),
        (
            403,
            "errors/trader_403_forbidden.json",
            "application/json",
            "HTTP 403",
        ),
        (
            404,
            "errors/marketdata_404_symbol_not_found.json",
            "application/json",
            "Not Found",
        ),
        (
            404,
            "errors/gateway_404_route_missing.txt",
            "text/plain",
            "Requested route",
        ),
        (
            403,
            "errors/edge_403_access_denied.html",
            "text/html",
            "Access Denied",
        ),
        (
            400,
            "errors/trader_400_invalid_account_number.json",
            "application/json",
            "Invalid account number",
        ),
        (
            400,
            "errors/trader_400_bad_entered_time.json",
            "application/json",
            "HTTP 400",
        ),
    ];
    for (status, file, content_type, needle) in cases {
        let mut s = setup();
        s.server
            .mock("GET", "/marketdata/v1/quotes")
            .match_query(Matcher::Any)
            .with_status(status.into())
            .with_header("content-type", content_type)
            .with_body(fixture(file))
            .expect(1)
            .create();
        let err = s
            .client
            .quotes(&["QQQ".to_string()])
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{file}: {err}");
        assert!(err.contains(&format!("HTTP {status}")), "{file}: {err}");
    }
}

#[test]
fn reads_retry_429_and_5xx_then_succeed() {
    let mut s = setup();
    let busy = s
        .server
        .mock("GET", "/marketdata/v1/quotes")
        .match_query(Matcher::Any)
        .with_status(429)
        .with_body(fixture("errors/http_429_too_many_requests.json"))
        .expect(1)
        .create();
    let broken = s
        .server
        .mock("GET", "/marketdata/v1/quotes")
        .match_query(Matcher::Any)
        .with_status(500)
        .with_body(fixture("errors/marketdata_500.json"))
        .expect(1)
        .create();
    let ok = s
        .server
        .mock("GET", "/marketdata/v1/quotes")
        .match_query(Matcher::Any)
        .with_body(fixture("marketdata/quote_single_qqq.json"))
        .create();
    let q = s.client.quotes(&["QQQ".to_string()]).unwrap();
    assert_eq!(q[0].symbol, "QQQ");
    busy.assert();
    broken.assert();
    ok.assert();
}

#[test]
fn persistent_5xx_gives_up_after_the_retries_with_the_message() {
    let mut s = setup();
    let m = s
        .server
        .mock("GET", "/marketdata/v1/quotes")
        .match_query(Matcher::Any)
        .with_status(500)
        .with_body(fixture("errors/marketdata_500.json"))
        .expect(4)
        .create();
    let err = s
        .client
        .quotes(&["QQQ".to_string()])
        .unwrap_err()
        .to_string();
    m.assert();
    assert!(err.contains("HTTP 500"), "{err}");
}

fn token_mock(s: &mut Setup, grant: &str, body: &str, status: usize) -> mockito::Mock {
    s.server
        .mock("POST", "/v1/oauth/token")
        .match_header(
            "authorization",
            "Basic QVBQS0VZMDEyMzQ1Njc4OTpBUFBTRUNSRVQwMTIzNDU2", // APPKEY0123456789:APPSECRET0123456
        )
        .match_body(Matcher::UrlEncoded("grant_type".into(), grant.into()))
        .with_status(status)
        .with_header("content-type", "application/json")
        .with_body(body)
        .create()
}

#[test]
fn access_token_is_refreshed_before_it_expires_and_saved() {
    // 100 s left: inside the 5-minute leeway.
    let mut s = setup_with(NOW - 86_400, NOW + 100);
    let refresh = token_mock(
        &mut s,
        "refresh_token",
        &fixture("oauth/token_response_refresh.json"),
        200,
    )
    .expect(1);
    let new_access = "I0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.FIXTUREaccessTOKENvalueTWO0000000000000@";
    let numbers = s
        .server
        .mock("GET", "/trader/v1/accounts/accountNumbers")
        .match_header("authorization", format!("Bearer {new_access}").as_str())
        .with_body(fixture("trader/account_numbers.json"))
        .create();
    assert_eq!(s.client.account_hash().unwrap(), HASH);
    refresh.assert();
    numbers.assert();
    let saved = TokenFile::load(&s.token_path).unwrap();
    assert_eq!(
        saved.creation_timestamp,
        NOW - 86_400,
        "login time must not move"
    );
    assert_eq!(saved.token.access_token, new_access);
    assert_eq!(saved.token.expires_at, NOW + 1800);
}

#[test]
fn a_401_refreshes_once_and_retries_once() {
    let mut s = setup();
    let refused = s
        .server
        .mock("GET", "/trader/v1/accounts/accountNumbers")
        .match_header("authorization", "Bearer ACCESS-ONE")
        .with_status(401)
        .with_body(fixture("errors/trader_401_service_error.json"))
        .expect(1)
        .create();
    let refresh = token_mock(
        &mut s,
        "refresh_token",
        &fixture("oauth/token_response_refresh.json"),
        200,
    )
    .expect(1);
    let accepted = s
        .server
        .mock("GET", "/trader/v1/accounts/accountNumbers")
        .match_header(
            "authorization",
            "Bearer I0.b2F1dGgyLmNkYy5zY2h3YWIuY29t.FIXTUREaccessTOKENvalueTWO0000000000000@",
        )
        .with_body(fixture("trader/account_numbers.json"))
        .expect(1)
        .create();
    assert_eq!(s.client.account_hash().unwrap(), HASH);
    refused.assert();
    refresh.assert();
    accepted.assert();
}

#[test]
fn dead_refresh_token_says_to_log_in_again() {
    // Refused by Schwab.
    let mut s = setup_with(NOW - 86_400, NOW - 10);
    token_mock(
        &mut s,
        "refresh_token",
        &fixture("oauth/token_error_refresh_token_invalid.json"),
        400,
    );
    let err = s.client.account_hash().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BrokerError::Auth(_)), "{text}");
    assert!(text.contains("refresh token invalid"), "{text}");
    assert!(text.contains("run `jutsu auth login`"), "{text}");

    // Revoked by a newer login elsewhere (escaped JSON inside the description).
    let mut s = setup_with(NOW - 86_400, NOW - 10);
    token_mock(
        &mut s,
        "refresh_token",
        &fixture("oauth/token_error_refresh_authentication.json"),
        400,
    );
    let text = s.client.account_hash().unwrap_err().to_string();
    assert!(text.contains("unsupported_token_type"), "{text}");
    assert!(text.contains("run `jutsu auth login`"), "{text}");

    // Older than 7 days: known dead without asking Schwab.
    let mut s = setup_with(NOW - 8 * 86_400, NOW - 10);
    let never = s.server.mock("POST", "/v1/oauth/token").expect(0).create();
    let text = s.client.account_hash().unwrap_err().to_string();
    never.assert();
    assert!(text.contains("refresh token expired at"), "{text}");
    assert!(text.contains("run `jutsu auth login`"), "{text}");
}

#[test]
fn html_from_the_token_endpoint_is_reported_not_parsed() {
    let mut s = setup_with(NOW - 86_400, NOW - 10);
    s.server
        .mock("POST", "/v1/oauth/token")
        .with_status(403)
        .with_header("content-type", "text/html")
        .with_body(fixture("errors/edge_403_access_denied.html"))
        .create();
    let text = s.client.account_hash().unwrap_err().to_string();
    assert!(text.contains("HTTP 403"), "{text}");
    assert!(text.contains("Access Denied"), "{text}");
}

#[cfg(unix)]
#[test]
fn a_token_file_readable_by_others_is_tightened_to_0600() {
    use std::os::unix::fs::PermissionsExt;
    let s = setup();
    // schwab-py writes with the default umask.
    std::fs::set_permissions(&s.token_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let file = TokenFile::load(&s.token_path).unwrap();
    assert!(file.creation_timestamp > 0);
    let mode = std::fs::metadata(&s.token_path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn schwab_py_token_file_round_trips_unchanged_in_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token.json");
    let original = fixture("oauth/schwab_py_token_file.json");
    jutsu::storage::fsutil::write_atomic(&path, original.as_bytes(), true).unwrap();
    let file = TokenFile::load(&path).unwrap();
    assert_eq!(file.creation_timestamp, 1_749_561_125);
    assert_eq!(file.token.expires_at, 1_749_562_925);
    let out = dir.path().join("out.json");
    file.save(&out).unwrap();
    let a: serde_json::Value = serde_json::from_str(&original).unwrap();
    let b: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(a, b);
    // And the debug form never shows a token.
    let shown = format!("{file:?}");
    assert!(
        !shown.contains("fixtureREFRESH") && !shown.contains("FIXTUREaccess"),
        "{shown}"
    );
}

#[test]
fn authorization_code_from_the_pasted_url_is_decoded_and_exchanged() {
    let mut s = setup();
    let callback = fixture("oauth/authorize_request_and_callback.txt")
        .lines()
        .find(|l| l.starts_with("https://127.0.0.1:8182/?code="))
        .unwrap()
        .to_string();
    let code = jutsu::brokers::schwab::auth::code_from_callback(
        &callback,
        Some("Zx81fixtureSTATEvalue0001"),
    )
    .unwrap();
    assert!(code.ends_with('@'), "{code}");
    let err = jutsu::brokers::schwab::auth::code_from_callback(&callback, Some("other-state"))
        .unwrap_err();
    assert!(err.to_string().contains("state mismatch"));

    let exchange = s
        .server
        .mock("POST", "/v1/oauth/token")
        .match_body(Matcher::AllOf(vec![
            Matcher::UrlEncoded("grant_type".into(), "authorization_code".into()),
            Matcher::UrlEncoded("code".into(), code.clone()),
            Matcher::UrlEncoded("redirect_uri".into(), "https://127.0.0.1:8182".into()),
        ]))
        .with_header("content-type", "application/json")
        .with_body(fixture("oauth/token_response_authorization_code.json"))
        .expect(1)
        .create();
    let file = jutsu::brokers::schwab::auth::exchange_code(
        &s.client.settings().oauth,
        s.client.http(),
        &code,
        NOW,
    )
    .unwrap();
    exchange.assert();
    assert_eq!(file.creation_timestamp, NOW);
    assert_eq!(file.refresh_seconds_left(NOW), 7 * 86_400);

    let (url, state) =
        jutsu::brokers::schwab::auth::authorize_url(&s.client.settings().oauth).unwrap();
    assert!(
        url.starts_with(&format!("{}/v1/oauth/authorize?", s.server.url())),
        "{url}"
    );
    assert!(url.contains("client_id=APPKEY0123456789"), "{url}");
    assert!(
        url.contains("redirect_uri=https%3A%2F%2F127.0.0.1%3A8182"),
        "{url}"
    );
    assert!(url.contains(&format!("state={state}")), "{url}");
}

/// A server on 127.0.0.1 that answers the account-number lookup and then leaves every other
/// request unanswered for `silence` (the order was received; the answer is lost). It serves at
/// most `connections` connections and stops by itself.
fn silent_server(
    silence: Duration,
    connections: usize,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let unanswered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = unanswered.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut stream) = stream else { continue };
            let count = count.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let n = stream.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                if head.contains("accountNumbers") {
                    let body = fixture("trader/account_numbers.json");
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                } else {
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    std::thread::sleep(silence);
                }
            });
        }
    });
    (format!("http://{addr}"), unanswered)
}

fn client_at(base: &str, timeout: Duration) -> (SchwabClient, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let token_path = dir.path().join("token.json");
    write_token(&token_path, NOW - 86_400, NOW + 1500, "ACCESS-ONE");
    let settings = SchwabSettings {
        oauth: OAuthSettings {
            base_url: format!("{base}/v1/oauth"),
            callback_url: "https://127.0.0.1:8182".into(),
            app_key: Secret::new("APPKEY0123456789".into()),
            app_secret: Secret::new("APPSECRET0123456".into()),
        },
        trader_base_url: format!("{base}/trader/v1"),
        marketdata_base_url: format!("{base}/marketdata/v1"),
        token_file: token_path,
        account_number: Some("31415926".into()),
        retry: RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        },
        requests_per_minute: 120,
        timeout,
    };
    let clock = Arc::new(FixedClock(Utc.timestamp_opt(NOW, 0).unwrap()));
    (SchwabClient::new(settings, clock).unwrap(), dir)
}

#[test]
fn an_order_whose_answer_times_out_is_unknown_not_failed_and_not_resent() {
    let (base, received) = silent_server(Duration::from_secs(2), 3);
    let (client, _dir) = client_at(&base, Duration::from_millis(300));
    let placed = client
        .place_order(&OrderRequest {
            symbol: "TQQQ".into(),
            side: Side::Buy,
            quantity: 10,
            order_type: OrderType::Market,
        })
        .unwrap();
    match placed {
        Placement::Unknown(why) => assert!(why.contains("no answer within"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        received.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "sent exactly once"
    );
}

#[test]
fn reads_that_time_out_are_retried_then_reported() {
    let (base, received) = silent_server(Duration::from_secs(2), 4);
    let (client, _dir) = client_at(&base, Duration::from_millis(200));
    let err = client.quotes(&["QQQ".to_string()]).unwrap_err().to_string();
    // The first attempt and two retries.
    assert_eq!(received.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert!(err.contains("GET /quotes: no answer within 200ms"), "{err}");
}

#[test]
fn an_order_that_cannot_connect_was_not_placed() {
    // Bind and drop: nothing listens on this port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let (client, _dir) = client_at(&base, Duration::from_millis(300));
    // The hash lookup fails first; with a known hash the POST itself would fail the same way.
    let err = client
        .place_order(&OrderRequest {
            symbol: "TQQQ".into(),
            side: Side::Buy,
            quantity: 10,
            order_type: OrderType::Market,
        })
        .unwrap_err();
    assert!(matches!(err, BrokerError::Transport { .. }), "{err}");
}

#[test]
fn the_preview_fixture_reads_as_one_warning_and_no_reject() {
    let value: serde_json::Value =
        serde_json::from_str(&fixture("trader/order_preview_response.json")).unwrap();
    let preview = jutsu::brokers::schwab::model::parse_preview(value).unwrap();
    assert!(preview.rejects.is_empty());
    assert_eq!(preview.warnings.len(), 1);
    assert_eq!(preview.warnings[0].code, "LEVERAGED_ETF_WARNING");
    assert!(preview.warnings[0].message.contains("leveraged ETF"));
    assert!(
        preview.stops(&[]).is_empty(),
        "a warning alone does not stop the order"
    );
    let rejected = serde_json::json!({"orderValidationResult": {"rejects": [
        {"validationRuleName": "BUYING_POWER", "message": "Not enough buying power."}]}});
    let preview = jutsu::brokers::schwab::model::parse_preview(rejected).unwrap();
    assert_eq!(preview.stops(&[])[0].code, "BUYING_POWER");
    // An answer without a validation result is not taken as "no objection".
    assert!(jutsu::brokers::schwab::model::parse_preview(serde_json::json!({})).is_err());
}
