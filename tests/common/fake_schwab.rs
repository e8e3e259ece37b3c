//! A stateful fake of the Schwab API on 127.0.0.1 for the fault-injection suite: OAuth
//! token endpoint, accounts, orders that fill, partly fill or get rejected, quotes and
//! daily history from the bundled bars, with switches for the failures the real service
//! shows. It stops when dropped.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeZone;
use chrono_tz::America::Chicago;
use serde_json::{json, Value};

pub const HASH: &str = "787052755BB0251F930B322BE3C6C6CCF5EFB28B4C0A438C0DBDE35238F91D39";

/// One order at the fake broker.
#[derive(Debug, Clone)]
pub struct FakeOrder {
    pub id: u64,
    pub symbol: String,
    pub instruction: String,
    pub quantity: f64,
    pub filled: f64,
    pub price: f64,
    pub status: String,
    /// Reads of this order by id so far.
    pub reads: usize,
    /// The first reads show it as just placed (WORKING, nothing filled): statuses lag.
    pub lag: usize,
    /// PENDING_CANCEL: reads left before the rest fills after all (`None`: it never ends).
    pub cancel_fills_in: Option<usize>,
    /// A limit order's price.
    pub limit: Option<f64>,
    /// When it was entered (epoch ms): lists honour `fromEnteredTime` and `toEnteredTime`.
    pub entered_ms: i64,
    /// `DAY` or `GOOD_TILL_CANCEL`.
    pub duration: String,
}

/// Failure switches.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// (path fragment, HTTP status, how many times).
    pub fail: Vec<(String, u16, usize)>,
    /// Answer these paths with broken JSON.
    pub malformed: Vec<String>,
    /// The next N order POSTs are placed but answered only after the client gave up.
    pub post_timeouts: usize,
    /// The next N order POSTs answer 201 without a Location header.
    pub post_no_location: usize,
    /// Fill this fraction of each order at once; the rest stays WORKING.
    pub partial_ratio: Option<f64>,
    /// Reject orders for this symbol.
    pub reject_symbol: Option<String>,
    /// After this many authorised API requests, the current access token stops working.
    pub expire_token_after: Option<usize>,
    /// The refresh token is dead.
    pub dead_refresh: bool,
    /// Delay of every answer.
    pub slow_ms: u64,
    /// Quotes are this many seconds old.
    pub quote_age_s: i64,
    /// The QQQ quote is crossed (bid above ask).
    pub crossed: bool,
    /// The quote for QQQ comes back labelled with another symbol.
    pub wrong_symbol: bool,
    /// Orders report WORKING with nothing filled for this many reads after placement,
    /// although they filled at once (Schwab's statuses lag).
    pub status_lag_reads: usize,
    /// A cancel answers 200, the order goes PENDING_CANCEL and, after this many reads, the
    /// rest fills after all (a cancel is only a request).
    pub cancel_fills_after_reads: Option<usize>,
    /// A cancel answers 200 and the order stays PENDING_CANCEL until the test settles it.
    pub cancel_never_settles: bool,
    /// Buys fill this fraction above the quote (0.004 = 0.4 %).
    pub buy_premium: f64,
    /// Sells fill this fraction below the quote.
    pub sell_discount: f64,
    /// The account answer has no `positions` key.
    pub omit_positions: bool,
    /// The token endpoint answers with these statuses, in turn (each once), before it works.
    pub token_fail: Vec<u16>,
    /// The token endpoint drops this many connections without an answer.
    pub token_drop: usize,
    /// The next order POSTs answer with these statuses, nothing placed (e.g. 429).
    pub post_fail: Vec<u16>,
    /// The next N reads of an order by id are garbled JSON.
    pub garbled_order_reads: usize,
    /// Answers to paths containing this fragment come after this many milliseconds.
    pub slow_path: Option<(String, u64)>,
    /// Fields of a symbol's `quote` block replaced (e.g. `{"bidPrice": 1.0}`).
    pub quote_override: BTreeMap<String, Value>,
    /// previewOrder rejects orders for this symbol with this (rule, message).
    pub preview_reject: Option<(String, String, String)>,
    /// The token endpoint answers with these statuses and an empty body, in turn (an
    /// edge's 502 or 503).
    pub token_fail_empty: Vec<u16>,
    /// Fields of a symbol's quote entry replaced (e.g. `{"realtime": false}`).
    pub entry_override: BTreeMap<String, Value>,
    /// The next N order POSTs answer with a Location naming another order (the account's
    /// first order).
    pub location_other: usize,
    /// A `Retry-After` header (seconds) on the answers of `fail`.
    pub retry_after: Option<u64>,
}

/// The fake's whole state.
#[derive(Debug, Default)]
pub struct World {
    pub cash: f64,
    pub positions: BTreeMap<String, f64>,
    pub orders: Vec<FakeOrder>,
    pub prices: BTreeMap<String, (f64, f64)>,
    pub candles: BTreeMap<String, String>,
    pub faults: Faults,
    pub valid_tokens: Vec<String>,
    pub token_grants: usize,
    pub authorised_requests: usize,
    pub order_posts: usize,
    pub cancels: usize,
    /// previewOrder calls, and the bodies of the order POSTs.
    pub previews: usize,
    pub posted: Vec<Value>,
    pub now_ms: i64,
    /// Asset types of holdings other than the ETFs (COLLECTIVE_INVESTMENT by default).
    pub asset_types: BTreeMap<String, String>,
    /// The account's transactions (`GET .../transactions`), as Schwab shapes them.
    pub transactions: Vec<Value>,
    /// The `types` and `startDate` of each transactions request.
    pub transaction_queries: Vec<(Option<String>, Option<String>)>,
    /// The symbol and `startDate` (epoch ms) of each price-history request.
    pub history_requests: Vec<(String, i64)>,
    /// Every account linked to the login: (plain number, hash, MARGIN or CASH). The first
    /// is the account the fake keeps; the others answer as empty accounts.
    pub accounts: Vec<(String, String, String)>,
    /// Requests on an account (a path under `/accounts/{hash}`), by path.
    pub account_requests: Vec<String>,
    /// Orders in Schwab's shapes that jutsu never placed (options, OCO and TRIGGER
    /// strategies, ...), listed by `GET .../orders` when their `enteredTime` is in the
    /// window; a child order can be canceled.
    pub foreign_orders: Vec<Value>,
    /// Asset type and `instrument.type` of holdings, by symbol, when not an ETF.
    pub instrument_types: BTreeMap<String, String>,
    /// The `fromEnteredTime` of each order-list request (epoch ms).
    pub order_list_from: Vec<i64>,
    /// Order POSTs refused because the instrument is not an equity.
    pub refused_posts: Vec<String>,
}

/// Moves `quantity` of an order into the account at the order's price.
fn book_fill(w: &mut World, index: usize, quantity: f64) {
    let (symbol, sign, price) = {
        let o = &w.orders[index];
        (
            o.symbol.clone(),
            if o.instruction == "BUY" { 1.0 } else { -1.0 },
            o.price,
        )
    };
    *w.positions.entry(symbol).or_default() += sign * quantity;
    w.cash -= sign * quantity * price;
    let o = &mut w.orders[index];
    o.filled += quantity;
    if o.filled >= o.quantity {
        o.status = "FILLED".into();
    }
}

/// Fills what is left of an order.
fn fill_rest(w: &mut World, index: usize) {
    let rest = w.orders[index].quantity - w.orders[index].filled;
    book_fill(w, index, rest);
}

pub struct FakeSchwab {
    pub url: String,
    pub world: Arc<Mutex<World>>,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl Drop for FakeSchwab {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn bars_of(symbol: &str) -> Vec<jutsu::domain::bars::Bar> {
    jutsu::storage::bars::load_csv(&super::data_dir().join(format!("{symbol}.csv"))).unwrap()
}

impl FakeSchwab {
    /// A fake whose market is the session `session` at `now` (RFC 3339), with an account
    /// holding `cash` and `positions`; `access` is the access token the client starts with.
    pub fn start(
        session: &str,
        now: &str,
        cash: f64,
        positions: &[(&str, f64)],
        access: &str,
    ) -> Self {
        let mut world = World {
            accounts: vec![("31415926".into(), HASH.into(), "MARGIN".into())],
            cash,
            positions: positions.iter().map(|(s, q)| (s.to_string(), *q)).collect(),
            valid_tokens: vec![access.to_string()],
            now_ms: chrono::DateTime::parse_from_rfc3339(now)
                .unwrap()
                .timestamp_millis(),
            ..World::default()
        };
        for symbol in ["QQQ", "TLT", "TQQQ", "TMF", "TMV", "PSQ"] {
            let bars = bars_of(symbol);
            let today = bars.iter().find(|b| b.date.to_string() == session).unwrap();
            world
                .prices
                .insert(symbol.into(), (today.close_f64, today.volume));
            let candles: Vec<Value> = bars
                .iter()
                .filter(|b| b.date.to_string().as_str() < session)
                .map(|b| {
                    let ms = Chicago
                        .from_local_datetime(&b.date.and_hms_opt(0, 0, 0).unwrap())
                        .unwrap()
                        .timestamp_millis();
                    let f = |d: rust_decimal::Decimal| d.to_string().parse::<f64>().unwrap();
                    json!({"open": f(b.open), "high": f(b.high), "low": f(b.low), "close": b.close_f64,
                           "volume": b.volume, "datetime": ms})
                })
                .collect();
            world.candles.insert(
                symbol.into(),
                json!({"candles": candles, "symbol": symbol, "empty": false}).to_string(),
            );
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let world = Arc::new(Mutex::new(world));
        let stop = Arc::new(AtomicBool::new(false));
        let (w, st) = (world.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let w = w.clone();
                std::thread::spawn(move || serve(stream, &w));
            }
        });
        FakeSchwab {
            url: format!("http://127.0.0.1:{port}"),
            world,
            stop,
            port,
        }
    }

    pub fn faults(&self, f: impl FnOnce(&mut Faults)) {
        f(&mut self.world.lock().unwrap().faults);
    }

    pub fn orders(&self) -> Vec<FakeOrder> {
        self.world.lock().unwrap().orders.clone()
    }

    /// Ends every PENDING_CANCEL order: the rest fills (`fill`) or it is canceled.
    pub fn settle_pending_cancels(&self, fill: bool) {
        let mut w = self.world.lock().unwrap();
        let pending: Vec<usize> = (0..w.orders.len())
            .filter(|i| w.orders[*i].status == "PENDING_CANCEL")
            .collect();
        for i in pending {
            if fill {
                fill_rest(&mut w, i);
            } else {
                w.orders[i].status = "CANCELED".into();
            }
            w.orders[i].cancel_fills_in = None;
        }
    }

    /// Counts order POSTs and DELETEs the fake received.
    pub fn order_calls(&self) -> (usize, usize) {
        let w = self.world.lock().unwrap();
        (w.order_posts, w.cancels)
    }

    /// Adds a holding outside the strategy (a money-market sweep, a stock) with its price.
    pub fn hold(&self, symbol: &str, quantity: f64, price: f64) {
        let mut w = self.world.lock().unwrap();
        w.positions.insert(symbol.into(), quantity);
        w.prices.insert(symbol.into(), (price, 0.0));
        w.asset_types.insert(
            symbol.into(),
            if symbol.ends_with("XX") {
                "CASH_EQUIVALENT"
            } else {
                "EQUITY"
            }
            .into(),
        );
    }

    /// A working order placed outside this run (as if by hand).
    pub fn working_order(&self, symbol: &str, instruction: &str, quantity: f64) -> u64 {
        let mut w = self.world.lock().unwrap();
        let id = 1_005_000_000_000 + w.orders.len() as u64;
        let price = w.prices[symbol].0;
        let now_ms = w.now_ms;
        w.orders.push(FakeOrder {
            id,
            symbol: symbol.into(),
            instruction: instruction.into(),
            quantity,
            filled: 0.0,
            price,
            status: "WORKING".into(),
            reads: 0,
            lag: 0,
            cancel_fills_in: None,
            limit: None,
            entered_ms: now_ms,
            duration: "DAY".into(),
        });
        id
    }

    /// A good-till-canceled order entered `days_ago` days before now, still `status`.
    pub fn old_order(
        &self,
        symbol: &str,
        instruction: &str,
        quantity: f64,
        days_ago: i64,
        status: &str,
    ) -> u64 {
        let id = self.working_order(symbol, instruction, quantity);
        let mut w = self.world.lock().unwrap();
        let o = w.orders.last_mut().unwrap();
        o.entered_ms -= days_ago * 86_400_000;
        o.duration = "GOOD_TILL_CANCEL".into();
        o.status = status.into();
        id
    }

    /// Links another account to the login (`CASH` or `MARGIN`).
    pub fn link_account(&self, number: &str, hash: &str, kind: &str) {
        let mut w = self.world.lock().unwrap();
        w.accounts.push((number.into(), hash.into(), kind.into()));
    }

    /// The kept account's type: `CASH` (balances without buying power) or `MARGIN`.
    pub fn account_type(&self, kind: &str) {
        self.world.lock().unwrap().accounts[0].2 = kind.into();
    }

    /// An order in Schwab's shape that jutsu never placed (its `enteredTime` decides
    /// whether a list shows it).
    pub fn foreign_order(&self, order: Value) {
        self.world.lock().unwrap().foreign_orders.push(order);
    }

    /// A holding of another asset type (`MUTUAL_FUND`, `OPTION`, `EQUITY`, ...) with its
    /// `instrument.type` when given: an order sending it as `EQUITY` is refused unless it
    /// is an equity or an ETF.
    pub fn hold_instrument(
        &self,
        symbol: &str,
        quantity: f64,
        price: f64,
        (asset, kind): (&str, Option<&str>),
    ) {
        self.hold(symbol, quantity, price);
        let mut w = self.world.lock().unwrap();
        w.asset_types.insert(symbol.into(), asset.into());
        if let Some(kind) = kind {
            w.instrument_types.insert(symbol.into(), kind.into());
        }
    }

    /// Cash posted at `time` (RFC 3339), with its transaction, as [`Self::cash_transaction`].
    pub fn cash_transaction_at(&self, kind: &str, amount: f64, time: &str) {
        let t = chrono::DateTime::parse_from_rfc3339(time).unwrap();
        let mut w = self.world.lock().unwrap();
        w.cash += amount;
        let id = 80_000 + w.transactions.len();
        w.transactions.push(json!({
            "activityId": id, "type": kind, "status": "VALID",
            "time": t.format("%Y-%m-%dT%H:%M:%S+0000").to_string(),
            "tradeDate": t.with_timezone(&chrono_tz::America::New_York).format("%Y-%m-%dT04:00:00+0000").to_string(),
            "netAmount": amount,
            "transferItems": [{"instrument": {"symbol": "CURRENCY_USD", "assetType": "CURRENCY"}, "amount": amount}]
        }));
    }

    /// A split of `symbol` effective before this session, as Schwab shows it: the shares
    /// times `ratio` (whole shares; the fraction paid in cash, listed as a RECEIVE_AND_DELIVER
    /// transaction), the quote and the whole price history on the new basis.
    pub fn split(&self, symbol: &str, ratio: f64) {
        let mut w = self.world.lock().unwrap();
        let held = w.positions.get(symbol).copied().unwrap_or(0.0);
        let shares = held * ratio;
        let whole = (shares + 1e-9).floor();
        let price = w.prices[symbol].0 / ratio;
        if shares - whole > 1e-9 {
            let cash = ((shares - whole) * price * 100.0).round() / 100.0;
            w.cash += cash;
            let day = chrono::DateTime::from_timestamp_millis(w.now_ms).unwrap();
            w.transactions.push(json!({
                "activityId": 90001, "type": "RECEIVE_AND_DELIVER", "status": "VALID",
                "time": day.format("%Y-%m-%dT13:30:00+0000").to_string(),
                "netAmount": cash, "description": "CASH IN LIEU",
                "transferItems": [{"instrument": {"symbol": symbol, "assetType": "COLLECTIVE_INVESTMENT"}, "amount": shares - whole}]
            }));
        }
        w.positions.insert(symbol.into(), whole);
        let entry = w.prices.get_mut(symbol).unwrap();
        entry.0 = price;
        entry.1 *= ratio;
        let mut candles: Value = serde_json::from_str(&w.candles[symbol]).unwrap();
        for c in candles["candles"].as_array_mut().unwrap() {
            for k in ["open", "high", "low", "close"] {
                c[k] = json!(c[k].as_f64().unwrap() / ratio);
            }
            c["volume"] = json!(c["volume"].as_f64().unwrap() * ratio);
        }
        w.candles.insert(symbol.into(), candles.to_string());
    }

    /// Cash that arrives (positive) or leaves without a trade, with its transaction.
    pub fn cash_transaction(&self, kind: &str, amount: f64, symbol: Option<&str>) {
        let mut w = self.world.lock().unwrap();
        w.cash += amount;
        let id = 80_000 + w.transactions.len();
        let day = chrono::DateTime::from_timestamp_millis(w.now_ms).unwrap();
        let mut items = vec![
            json!({"instrument": {"symbol": "CURRENCY_USD", "assetType": "CURRENCY"}, "amount": amount}),
        ];
        if let Some(symbol) = symbol {
            items.push(
                json!({"instrument": {"symbol": symbol, "assetType": "COLLECTIVE_INVESTMENT"}}),
            );
        }
        w.transactions.push(json!({
            "activityId": id, "type": kind, "status": "VALID",
            "time": day.format("%Y-%m-%dT12:00:00+0000").to_string(),
            "tradeDate": day.format("%Y-%m-%dT04:00:00+0000").to_string(),
            "netAmount": amount, "transferItems": items
        }));
    }

    /// Shares that appear (or go) as if traded by hand, at no cost.
    pub fn shares_by_hand(&self, symbol: &str, quantity: f64) {
        let mut w = self.world.lock().unwrap();
        *w.positions.entry(symbol.into()).or_default() += quantity;
    }

    /// The cash the fake account holds.
    pub fn cash(&self) -> f64 {
        self.world.lock().unwrap().cash
    }

    pub fn positions(&self) -> BTreeMap<String, i64> {
        self.world
            .lock()
            .unwrap()
            .positions
            .iter()
            .filter(|(_, q)| **q > 0.0)
            .map(|(s, q)| (s.clone(), *q as i64))
            .collect()
    }
}

struct Request {
    method: String,
    path: String,
    query: String,
    auth: Option<String>,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target, String::new()),
    };
    let mut length = 0;
    let mut auth = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header == "\r\n" {
            break;
        }
        let (k, v) = header.split_once(':')?;
        match k.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = v.trim().parse().unwrap_or(0),
            "authorization" => auth = Some(v.trim().to_string()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        query,
        auth,
        body,
    })
}

fn respond(mut stream: TcpStream, status: u16, headers: &[(&str, String)], body: &str) {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Error",
    };
    let mut text = format!("HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n", body.len());
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    let _ = stream.write_all(text.as_bytes());
}

fn query_param(query: &str, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// A Trader time parameter (`2025-06-10T19:55:00.000Z`) in epoch ms.
fn query_time(query: &str, key: &str) -> Option<i64> {
    let text = query_param(query, key)?;
    chrono::DateTime::parse_from_rfc3339(&text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Both ends of a window (epoch ms), when both are given and readable.
fn window(query: &str, from: &str, to: &str) -> Option<(i64, i64)> {
    Some((query_time(query, from)?, query_time(query, to)?))
}

/// The 400 Schwab gives a list asked without both ends of its window.
fn refuse_window(stream: TcpStream, keys: &str) {
    let body = json!({"message": format!("{keys} are required in yyyy-MM-dd'T'HH:mm:ss.SSSZ")});
    respond(stream, 400, &[], &body.to_string());
}

/// An order's `enteredTime` (`+0000` form) in epoch ms.
fn entered_ms(order: &Value) -> i64 {
    order["enteredTime"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%z").ok())
        .map_or(0, |t| t.timestamp_millis())
}

/// The order with `id` among `orders` and their child strategies.
fn find_foreign(orders: &mut [Value], id: u64) -> Option<&mut Value> {
    for o in orders.iter_mut() {
        if o["orderId"].as_u64() == Some(id) {
            return Some(o);
        }
        if let Some(children) = o["childOrderStrategies"].as_array_mut() {
            if let Some(found) = find_foreign(children, id) {
                return Some(found);
            }
        }
    }
    None
}

fn ms_to_trader(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S+0000")
        .to_string()
}

fn order_json(o: &FakeOrder) -> Value {
    if o.reads <= o.lag && o.status != "REJECTED" {
        // Just placed, as far as the status says.
        let status = if o.reads == 0 {
            "PENDING_ACKNOWLEDGEMENT"
        } else {
            "WORKING"
        };
        let lagged = FakeOrder {
            filled: 0.0,
            status: status.into(),
            lag: 0,
            reads: 1,
            ..o.clone()
        };
        return order_json(&lagged);
    }
    let mut activities = Vec::new();
    if o.filled > 0.0 {
        activities.push(json!({"activityType": "EXECUTION", "executionType": "FILL",
                               "executionLegs": [{"quantity": o.filled, "price": o.price}]}));
    }
    let mut order = json!({"orderId": o.id, "status": o.status, "quantity": o.quantity, "filledQuantity": o.filled,
           "orderType": "MARKET", "enteredTime": ms_to_trader(o.entered_ms), "duration": o.duration,
           "session": "NORMAL", "orderStrategyType": "SINGLE", "accountNumber": 31415926,
           "statusDescription": if o.status == "REJECTED" { "rejected by the fake broker" } else { "" },
           "orderLegCollection": [{"instruction": o.instruction, "quantity": o.quantity,
                                   "instrument": {"symbol": o.symbol, "assetType": "EQUITY"}}],
           "orderActivityCollection": activities});
    if let Some(limit) = o.limit {
        order["orderType"] = json!("LIMIT");
        order["price"] = json!(limit);
    }
    order
}

fn serve(stream: TcpStream, world: &Mutex<World>) {
    let Some(req) = read_request(&stream) else {
        return;
    };
    let (slow, slow_path) = {
        let w = world.lock().unwrap();
        (w.faults.slow_ms, w.faults.slow_path.clone())
    };
    if slow > 0 {
        std::thread::sleep(Duration::from_millis(slow));
    }
    if let Some((fragment, ms)) = slow_path {
        if req.path.contains(&fragment) {
            std::thread::sleep(Duration::from_millis(ms));
        }
    }
    // The token endpoint.
    if req.path == "/v1/oauth/token" {
        let mut w = world.lock().unwrap();
        if w.faults.token_drop > 0 {
            w.faults.token_drop -= 1;
            return; // the connection closes without an answer
        }
        if !w.faults.token_fail_empty.is_empty() {
            let status = w.faults.token_fail_empty.remove(0);
            drop(w);
            return respond(stream, status, &[], "");
        }
        if !w.faults.token_fail.is_empty() {
            let status = w.faults.token_fail.remove(0);
            drop(w);
            let body = if status == 403 {
                "<html><head><title>Access Denied</title></head><body>Access Denied</body></html>"
            } else {
                r#"{"error":"server_error","error_description":"temporarily unavailable"}"#
            };
            return respond(stream, status, &[], body);
        }
        if w.faults.dead_refresh {
            drop(w);
            return respond(
                stream,
                400,
                &[],
                r#"{"error":"invalid_client","error_description":"refresh token invalid"}"#,
            );
        }
        w.token_grants += 1;
        let token = format!("AT-secret-access-{}", w.token_grants);
        w.valid_tokens.push(token.clone());
        drop(w);
        return respond(
            stream,
            200,
            &[],
            &json!({"expires_in": 1800, "token_type": "Bearer", "scope": "api",
            "refresh_token": "RT-secret-refresh-value", "access_token": token})
            .to_string(),
        );
    }
    let mut w = world.lock().unwrap();
    let bearer = req
        .auth
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_string();
    if !w.valid_tokens.contains(&bearer) {
        drop(w);
        return respond(
            stream,
            401,
            &[],
            r#"{"errors":[{"status":401,"title":"Unauthorized","detail":"Client not authorized"}]}"#,
        );
    }
    w.authorised_requests += 1;
    if req.path.starts_with("/trader/v1/accounts/")
        && req.path != "/trader/v1/accounts/accountNumbers"
    {
        w.account_requests.push(req.path.clone());
    }
    if let Some(limit) = w.faults.expire_token_after {
        if w.authorised_requests > limit {
            w.valid_tokens.retain(|t| *t != bearer);
            w.faults.expire_token_after = None;
            drop(w);
            return respond(
                stream,
                401,
                &[],
                r#"{"message":"Client not authorized","errors":["The access token supplied is invalid or expired."]}"#,
            );
        }
    }
    if let Some(i) = w
        .faults
        .fail
        .iter()
        .position(|(p, _, n)| req.path.contains(p.as_str()) && *n > 0)
    {
        w.faults.fail[i].2 -= 1;
        let status = w.faults.fail[i].1;
        let headers: Vec<(&str, String)> = w
            .faults
            .retry_after
            .map(|s| vec![("retry-after", s.to_string())])
            .unwrap_or_default();
        drop(w);
        return respond(
            stream,
            status,
            &headers,
            r#"{"errors":[{"status":"500","title":"Internal Server Error"}]}"#,
        );
    }
    if w.faults
        .malformed
        .iter()
        .any(|p| req.path.contains(p.as_str()))
    {
        drop(w);
        return respond(
            stream,
            200,
            &[],
            r#"{"securitiesAccount": {"positions": [ {"longQuantity": "#,
        );
    }
    let orders_path = format!("/trader/v1/accounts/{HASH}/orders");
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/trader/v1/accounts/accountNumbers") => {
            let list: Vec<Value> = w
                .accounts
                .iter()
                .map(|(number, hash, _)| json!({"accountNumber": number, "hashValue": hash}))
                .collect();
            drop(w);
            respond(stream, 200, &[], &Value::Array(list).to_string())
        }
        ("GET", "/trader/v1/accounts") => {
            let list: Vec<Value> = w
                .accounts
                .iter()
                .map(|(number, _, kind)| {
                    json!({"securitiesAccount": {"type": kind, "accountNumber": number,
                    "currentBalances": {"cashBalance": 0.0, "liquidationValue": 0.0}}})
                })
                .collect();
            drop(w);
            respond(stream, 200, &[], &Value::Array(list).to_string())
        }
        ("GET", p) if p == format!("/trader/v1/accounts/{HASH}") => {
            let etf = |s: &str| !w.asset_types.contains_key(s);
            let positions: Vec<Value> = w
                .positions
                .iter()
                .filter(|(_, q)| **q > 0.0)
                .map(|(s, q)| {
                    let mut instrument = json!({"assetType": w.asset_types.get(s).map_or("COLLECTIVE_INVESTMENT", String::as_str), "symbol": s});
                    if etf(s) {
                        instrument["type"] = json!("EXCHANGE_TRADED_FUND");
                    } else if let Some(kind) = w.instrument_types.get(s) {
                        instrument["type"] = json!(kind);
                    }
                    json!({"longQuantity": q, "shortQuantity": 0.0, "marketValue": q * w.prices[s].0,
                           "instrument": instrument})
                })
                .collect();
            let value = w.cash
                + w.positions
                    .iter()
                    .map(|(s, q)| q * w.prices[s].0)
                    .sum::<f64>();
            let kind = w.accounts[0].2.clone();
            let cash = (w.cash * 100.0).round() / 100.0;
            let liquidation = (value * 100.0).round() / 100.0;
            // A cash account has no buying power: it trades its available cash.
            let balances = if kind == "CASH" {
                json!({"cashBalance": cash, "cashAvailableForTrading": cash, "totalCash": cash,
                       "unsettledCash": 0.0, "liquidationValue": liquidation})
            } else {
                json!({"cashBalance": cash, "buyingPower": w.cash * 2.0, "liquidationValue": liquidation})
            };
            let mut body = json!({"securitiesAccount": {"type": kind, "accountNumber": "31415926", "positions": positions,
                "currentBalances": balances}});
            if w.faults.omit_positions {
                body["securitiesAccount"]
                    .as_object_mut()
                    .unwrap()
                    .remove("positions");
            }
            drop(w);
            respond(stream, 200, &[], &body.to_string())
        }
        ("GET", p) if p == orders_path => {
            // Both times are required; Schwab lists at most 60 days back.
            let Some((from, to)) = window(&req.query, "fromEnteredTime", "toEnteredTime") else {
                drop(w);
                return refuse_window(stream, "fromEnteredTime and toEnteredTime");
            };
            w.order_list_from.push(from);
            if from < w.now_ms - 60 * 86_400_000 - 3_600_000 {
                drop(w);
                return respond(
                    stream,
                    400,
                    &[],
                    r#"{"message":"fromEnteredTime must be within 60 days from today"}"#,
                );
            }
            let within = |ms: i64| ms >= from && ms <= to;
            let mut list: Vec<Value> = w
                .orders
                .iter()
                .filter(|o| within(o.entered_ms))
                .map(order_json)
                .collect();
            list.extend(
                w.foreign_orders
                    .iter()
                    .filter(|o| within(entered_ms(o)))
                    .cloned(),
            );
            drop(w);
            respond(stream, 200, &[], &Value::Array(list).to_string())
        }
        ("GET", p) if p.starts_with("/trader/v1/accounts/") && !p.contains(HASH) => {
            // Another linked account: empty.
            drop(w);
            respond(
                stream,
                200,
                &[],
                &json!({"securitiesAccount": {"type": "CASH", "positions": [],
                "currentBalances": {"cashBalance": 0.0, "liquidationValue": 0.0}}})
                .to_string(),
            )
        }
        ("POST", p) if p == format!("/trader/v1/accounts/{HASH}/previewOrder") => {
            w.previews += 1;
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let symbol = body["orderLegCollection"][0]["instrument"]["symbol"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let mut result = json!({});
            if ["TQQQ", "TMF", "TMV"].contains(&symbol.as_str()) {
                result["warns"] = json!([{"validationRuleName": "LEVERAGED_ETF_WARNING",
                    "message": "This security is a leveraged ETF.", "originalSeverity": "ALERT"}]);
            }
            if let Some((s, rule, message)) = &w.faults.preview_reject {
                if *s == symbol {
                    result["rejects"] = json!([{"validationRuleName": rule, "message": message}]);
                }
            }
            drop(w);
            let answer =
                json!({"orderId": 0, "orderStrategy": body, "orderValidationResult": result});
            respond(stream, 200, &[], &answer.to_string())
        }
        ("POST", p) if p == orders_path => {
            w.order_posts += 1;
            if !w.faults.post_fail.is_empty() {
                let status = w.faults.post_fail.remove(0);
                drop(w);
                return respond(
                    stream,
                    status,
                    &[],
                    r#"{"message":"Too many requests: the order was not accepted"}"#,
                );
            }
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let leg = &body["orderLegCollection"][0];
            let symbol = leg["instrument"]["symbol"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let instruction = leg["instruction"].as_str().unwrap_or("").to_string();
            let quantity = leg["quantity"].as_f64().unwrap_or(0.0);
            // A fund or an option sent as EQUITY is refused, as Schwab does.
            let asset = w.asset_types.get(&symbol).cloned();
            let kind = w.instrument_types.get(&symbol).cloned();
            let equity_like = match asset.as_deref() {
                None | Some("EQUITY") => true,
                Some("COLLECTIVE_INVESTMENT") => kind.as_deref() == Some("EXCHANGE_TRADED_FUND"),
                _ => false,
            };
            if leg["instrument"]["assetType"] == "EQUITY" && !equity_like {
                w.refused_posts.push(symbol.clone());
                drop(w);
                return respond(
                    stream,
                    400,
                    &[],
                    &format!(
                        r#"{{"message":"Order rejected: {symbol} is not an equity","errors":["The instrument type does not match the security"]}}"#
                    ),
                );
            }
            let quote = w.prices.get(&symbol).map_or(0.0, |p| p.0);
            let market = if instruction == "BUY" {
                quote * (1.0 + w.faults.buy_premium)
            } else {
                quote * (1.0 - w.faults.sell_discount)
            };
            let limit = (body["orderType"] == "LIMIT").then(|| {
                body["price"]
                    .as_str()
                    .and_then(|p| p.parse::<f64>().ok())
                    .or_else(|| body["price"].as_f64())
                    .unwrap_or(0.0)
            });
            // A limit the market does not reach rests, unfilled; one it reaches fills at the
            // market, never worse than the limit.
            let rests = limit.is_some_and(|l| {
                if instruction == "BUY" {
                    market > l
                } else {
                    market < l
                }
            });
            w.posted.push(body.clone());
            let id = 1_005_000_000_000 + w.orders.len() as u64;
            let order = FakeOrder {
                id,
                symbol: symbol.clone(),
                instruction: instruction.clone(),
                quantity,
                filled: 0.0,
                price: market,
                status: "WORKING".into(),
                reads: 0,
                lag: w.faults.status_lag_reads,
                cancel_fills_in: None,
                limit,
                entered_ms: w.now_ms,
                duration: body["duration"].as_str().unwrap_or("DAY").to_string(),
            };
            let rejected = w.faults.reject_symbol.as_deref() == Some(symbol.as_str());
            w.orders.push(order);
            let index = w.orders.len() - 1;
            if rejected {
                w.orders[index].status = "REJECTED".into();
            } else {
                let fill = match w.faults.partial_ratio {
                    _ if rests => 0.0,
                    Some(r) => (quantity * r).floor(),
                    None => quantity,
                };
                book_fill(&mut w, index, fill);
            }
            let lose = w.faults.post_timeouts > 0;
            let no_location = w.faults.post_no_location > 0;
            let other = w.faults.location_other > 0 && !lose && !no_location;
            if other {
                w.faults.location_other -= 1;
            }
            let named = if other { w.orders[0].id } else { id };
            if lose {
                w.faults.post_timeouts -= 1;
            } else if no_location {
                w.faults.post_no_location -= 1;
            }
            drop(w);
            if lose {
                // Placed, and the answer comes after the client has given up.
                std::thread::sleep(Duration::from_millis(2500));
                return;
            }
            let headers = if no_location {
                vec![]
            } else {
                vec![(
                    "location",
                    format!("https://api.schwabapi.com{orders_path}/{named}"),
                )]
            };
            respond(stream, 201, &headers, "")
        }
        ("GET", p) if p.starts_with(&format!("{orders_path}/")) => {
            let id: u64 = p
                .rsplit('/')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if w.faults.garbled_order_reads > 0 {
                w.faults.garbled_order_reads -= 1;
                drop(w);
                return respond(stream, 200, &[], r#"{"orderId": 10050, "status": "FIL"#);
            }
            let index = w.orders.iter().position(|o| o.id == id);
            if let Some(i) = index {
                w.orders[i].reads += 1;
                if w.orders[i].status == "PENDING_CANCEL" {
                    match w.orders[i].cancel_fills_in {
                        Some(0) => {
                            fill_rest(&mut w, i);
                            w.orders[i].cancel_fills_in = None;
                        }
                        Some(n) => w.orders[i].cancel_fills_in = Some(n - 1),
                        None => {}
                    }
                }
            }
            let body = index
                .map(|i| order_json(&w.orders[i]))
                .or_else(|| find_foreign(&mut w.foreign_orders, id).map(|o| o.clone()));
            drop(w);
            match body {
                Some(b) => respond(stream, 200, &[], &b.to_string()),
                None => respond(stream, 404, &[], r#"{"message":"Order not found"}"#),
            }
        }
        ("DELETE", p) if p.starts_with(&format!("{orders_path}/")) => {
            let id: u64 = p
                .rsplit('/')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            w.cancels += 1;
            let (fills_after, never) = (
                w.faults.cancel_fills_after_reads,
                w.faults.cancel_never_settles,
            );
            if let Some(foreign) = find_foreign(&mut w.foreign_orders, id) {
                let live = !["FILLED", "CANCELED", "REJECTED", "EXPIRED", "REPLACED"]
                    .contains(&foreign["status"].as_str().unwrap_or(""));
                if live {
                    foreign["status"] = json!("CANCELED");
                }
                drop(w);
                return match live {
                    true => respond(stream, 200, &[], ""),
                    false => respond(
                        stream,
                        400,
                        &[],
                        r#"{"message":"The order cannot be canceled in its current state"}"#,
                    ),
                };
            }
            let Some(o) = w.orders.iter_mut().find(|o| o.id == id) else {
                drop(w);
                return respond(stream, 404, &[], r#"{"message":"Order not found"}"#);
            };
            if o.status != "WORKING" {
                drop(w);
                return respond(
                    stream,
                    400,
                    &[],
                    r#"{"message":"The order cannot be canceled in its current state"}"#,
                );
            }
            if fills_after.is_some() || never {
                o.status = "PENDING_CANCEL".into();
                o.cancel_fills_in = fills_after;
            } else {
                o.status = "CANCELED".into();
            }
            drop(w);
            respond(stream, 200, &[], "")
        }
        ("GET", p) if p == format!("/trader/v1/accounts/{HASH}/transactions") => {
            let types = query_param(&req.query, "types");
            let start = query_param(&req.query, "startDate");
            w.transaction_queries.push((types.clone(), start));
            let Some(types) = types else {
                drop(w);
                return respond(stream, 400, &[], r#"{"message":"types is required"}"#);
            };
            let Some((from, to)) = window(&req.query, "startDate", "endDate") else {
                drop(w);
                return refuse_window(stream, "startDate and endDate");
            };
            if to - from > 365 * 86_400_000 {
                drop(w);
                return respond(
                    stream,
                    400,
                    &[],
                    r#"{"message":"the date range may not exceed one year"}"#,
                );
            }
            let wanted: Vec<&str> = types.split(',').collect();
            // Listed by the instant Schwab posted them.
            let list: Vec<Value> = w
                .transactions
                .iter()
                .filter(|t| wanted.contains(&t["type"].as_str().unwrap_or("")))
                .filter(|t| {
                    let at = t["time"]
                        .as_str()
                        .and_then(|x| {
                            chrono::DateTime::parse_from_str(x, "%Y-%m-%dT%H:%M:%S%z").ok()
                        })
                        .map_or(0, |x| x.timestamp_millis());
                    at >= from && at <= to
                })
                .cloned()
                .collect();
            drop(w);
            respond(stream, 200, &[], &Value::Array(list).to_string())
        }
        ("GET", "/marketdata/v1/pricehistory") => {
            let symbol = query_param(&req.query, "symbol").unwrap_or_default();
            // Candles from startDate on, as Schwab answers.
            let start: i64 = query_param(&req.query, "startDate")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            w.history_requests.push((symbol.clone(), start));
            let body = w.candles.get(&symbol).map(|text| {
                let mut v: Value = serde_json::from_str(text).unwrap();
                if let Some(list) = v["candles"].as_array_mut() {
                    list.retain(|c| c["datetime"].as_i64().unwrap_or(0) >= start);
                }
                v.to_string()
            });
            drop(w);
            match body {
                Some(b) => respond(stream, 200, &[], &b),
                None => respond(
                    stream,
                    404,
                    &[],
                    r#"{"errors":[{"status":"404","title":"Not Found"}]}"#,
                ),
            }
        }
        ("GET", "/marketdata/v1/quotes") => {
            let symbols = query_param(&req.query, "symbols").unwrap_or_default();
            let time = w.now_ms - w.faults.quote_age_s * 1000;
            let mut map = serde_json::Map::new();
            for s in symbols.split(',') {
                let Some((close, volume)) = w.prices.get(s) else {
                    continue;
                };
                let (bid, ask) = if w.faults.crossed && s == "QQQ" {
                    (close + 1.0, close - 1.0)
                } else {
                    (*close, *close)
                };
                let label = if w.faults.wrong_symbol && s == "QQQ" {
                    "QQQM"
                } else {
                    s
                };
                // Schwab's closePrice: the previous session's close, on today's basis.
                let previous = w.candles.get(s).and_then(|text| {
                    let v: Value = serde_json::from_str(text).ok()?;
                    v["candles"].as_array()?.last()?["close"].as_f64()
                });
                let mut quote = json!({"lastPrice": close, "bidPrice": bid, "askPrice": ask,
                    "mark": close, "quoteTime": time, "totalVolume": volume, "closePrice": previous,
                    "securityStatus": "Normal"});
                if let Some(Value::Object(fields)) = w.faults.quote_override.get(s) {
                    for (k, v) in fields {
                        quote[k] = v.clone();
                    }
                }
                let mut entry = json!({"assetMainType": "EQUITY", "assetSubType": "ETF",
                    "quoteType": "NBBO", "realtime": true, "symbol": label, "quote": quote});
                if let Some(Value::Object(fields)) = w.faults.entry_override.get(s) {
                    for (k, v) in fields {
                        entry[k] = v.clone();
                    }
                }
                map.insert(s.to_string(), entry);
            }
            drop(w);
            respond(stream, 200, &[], &Value::Object(map).to_string())
        }
        _ => {
            drop(w);
            respond(
                stream,
                404,
                &[],
                "404 Not Found: Requested route does not exist.",
            )
        }
    }
}
