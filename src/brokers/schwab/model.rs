//! Schwab JSON shapes and their conversion to the broker types, validating as they go.
//! Nearly every field is optional (Schwab adds and omits fields without notice); what the
//! pipeline needs is checked, and anything surprising is an error, never a guess.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::America::Chicago;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

use crate::brokers::{Account, Finding, Order, OrderStatus, Position, Preview, Quote, Side};
use crate::domain::bars::Bar;
use crate::domain::events::{CashFlow, FlowKind};
use crate::domain::market::AccountKind;
use crate::domain::strategy::decimal_from_f64;

/// A JSON number as a decimal: finite, and within `limit` in absolute value.
fn money(value: Option<f64>, what: &str, limit: f64) -> Result<Option<Decimal>, String> {
    match value {
        None => Ok(None),
        Some(v) if !v.is_finite() || v.abs() > limit => Err(format!("{what} {v} is out of range")),
        Some(v) => Ok(Some(decimal_from_f64(v))),
    }
}

const PRICE_LIMIT: f64 = 1e9;
const QUANTITY_LIMIT: f64 = 1e12;

/// `GET /accounts/accountNumbers` element.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountNumber {
    /// Plain account number.
    pub account_number: String,
    /// The hash used in URLs.
    pub hash_value: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Instrument {
    symbol: Option<String>,
    asset_type: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct PositionDto {
    long_quantity: Option<f64>,
    short_quantity: Option<f64>,
    average_price: Option<f64>,
    market_value: Option<f64>,
    instrument: Instrument,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Balances {
    liquidation_value: Option<f64>,
    cash_balance: Option<f64>,
    buying_power: Option<f64>,
    cash_available_for_trading: Option<f64>,
    total_cash: Option<f64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SecuritiesAccount {
    #[serde(rename = "type")]
    kind: Option<String>,
    account_number: Option<String>,
    positions: Option<Vec<PositionDto>>,
    current_balances: Option<Balances>,
    initial_balances: Option<Balances>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountDto {
    securities_account: SecuritiesAccount,
    #[serde(default)]
    aggregated_balance: Option<Balances>,
}

/// Parses `GET /accounts/{hash}?fields=positions`.
pub fn parse_account(value: Value) -> Result<Account, String> {
    let dto: AccountDto = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let acct = dto.securities_account;
    let current = acct.current_balances.unwrap_or_default();
    let initial = acct.initial_balances.unwrap_or_default();
    let liquidation = current
        .liquidation_value
        .or(dto.aggregated_balance.and_then(|b| b.liquidation_value))
        .or(initial.liquidation_value);
    let cash = current
        .cash_balance
        .or(current.total_cash)
        .or(current.cash_available_for_trading);
    let buying_power = current
        .buying_power
        .or(current.cash_available_for_trading)
        .or(cash);
    // Asked for with `fields=positions`: an answer without the key says nothing about the
    // holdings, and reading it as a flat account would buy on top of them.
    let listed = acct.positions.ok_or(
        "no `positions` in the account although they were asked for (fields=positions): \
         the holdings are unknown",
    )?;
    let mut positions = Vec::new();
    let kind = match acct.kind.as_deref() {
        Some("CASH") => AccountKind::Cash,
        Some("MARGIN") => AccountKind::Margin,
        _ => AccountKind::Unknown,
    };
    for p in listed {
        let symbol = p
            .instrument
            .symbol
            .filter(|s| !s.is_empty())
            .ok_or("a position has no symbol")?;
        let long = money(p.long_quantity, "longQuantity", QUANTITY_LIMIT)?.unwrap_or_default();
        let short = money(p.short_quantity, "shortQuantity", QUANTITY_LIMIT)?.unwrap_or_default();
        if long < Decimal::ZERO || short < Decimal::ZERO {
            return Err(format!("{symbol}: negative position quantity"));
        }
        let quantity = long - short;
        if quantity.is_zero() {
            continue;
        }
        positions.push(Position {
            symbol,
            quantity,
            average_price: money(p.average_price, "averagePrice", PRICE_LIMIT)?,
            market_value: money(p.market_value, "marketValue", PRICE_LIMIT * QUANTITY_LIMIT)?,
            asset_type: p.instrument.asset_type,
            instrument_type: p.instrument.kind,
        });
    }
    let limit = 1e13;
    let cash = money(cash, "cashBalance", limit)?.ok_or("no cash balance in currentBalances")?;
    let liquidation_value = money(liquidation, "liquidationValue", limit)?
        .ok_or("no liquidationValue in the balances")?;
    if liquidation_value < Decimal::ZERO {
        return Err(format!("liquidationValue {liquidation_value} is negative"));
    }
    Ok(Account {
        positions,
        cash,
        buying_power: money(buying_power, "buyingPower", limit)?.unwrap_or(cash),
        liquidation_value,
        kind,
    })
}

/// One linked account as `GET /accounts` describes it: its plain number and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedAccount {
    /// The plain account number.
    pub number: String,
    /// `MARGIN` or `CASH` (IRAs are cash accounts), when said.
    pub kind: Option<String>,
}

/// Parses `GET /accounts` (every linked account, without positions) into numbers and types.
pub fn parse_linked_accounts(value: Value) -> Result<Vec<LinkedAccount>, String> {
    let list: Vec<AccountDto> = serde_json::from_value(value).map_err(|e| e.to_string())?;
    Ok(list
        .into_iter()
        .filter_map(|a| {
            let acct = a.securities_account;
            Some(LinkedAccount {
                number: acct.account_number?,
                kind: acct.kind,
            })
        })
        .collect())
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ExecutionLeg {
    leg_id: Option<i64>,
    quantity: Option<f64>,
    price: Option<f64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Activity {
    execution_type: Option<String>,
    execution_legs: Vec<ExecutionLeg>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Leg {
    leg_id: Option<i64>,
    instruction: Option<String>,
    quantity: Option<f64>,
    instrument: Instrument,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct OrderDto {
    order_id: Option<i64>,
    status: Option<String>,
    status_description: Option<String>,
    quantity: Option<f64>,
    filled_quantity: Option<f64>,
    entered_time: Option<String>,
    order_leg_collection: Vec<Leg>,
    order_activity_collection: Vec<Activity>,
    /// OCO and TRIGGER strategies carry their orders here, often with no legs of their own.
    child_order_strategies: Vec<Value>,
}

/// Parses a Trader timestamp: `2025-06-10T13:45:02+0000`, or RFC 3339.
pub fn parse_trader_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%z")
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Maps a Schwab status; unknown values are treated as not final.
pub fn order_status(status: &str, description: Option<&str>) -> OrderStatus {
    match status {
        "FILLED" => OrderStatus::Filled,
        "CANCELED" => OrderStatus::Canceled,
        "EXPIRED" => OrderStatus::Expired,
        "REPLACED" => OrderStatus::Replaced,
        "REJECTED" => OrderStatus::Rejected(
            description
                .unwrap_or("no reason given by Schwab")
                .to_string(),
        ),
        other => OrderStatus::Open(other.to_string()),
    }
}

/// The side of an instruction, and the instruction itself when it is not a plain BUY or
/// SELL. Every instruction of Schwab's list has a side: buys open or close a long or
/// cover a short; sells, short sales and fund exchanges give shares up.
fn side_of(instruction: Option<&str>) -> Result<(Side, Option<String>), String> {
    let text = instruction.ok_or("a leg has no instruction")?;
    let side = match text {
        "BUY" | "BUY_TO_COVER" | "BUY_TO_OPEN" | "BUY_TO_CLOSE" => Side::Buy,
        "SELL" | "SELL_SHORT" | "SELL_SHORT_EXEMPT" | "SELL_TO_OPEN" | "SELL_TO_CLOSE"
        | "EXCHANGE" => Side::Sell,
        other if other.starts_with("BUY") => Side::Buy,
        other if other.starts_with("SELL") => Side::Sell,
        other => return Err(format!("unknown instruction {other:?}")),
    };
    let foreign = !matches!(text, "BUY" | "SELL");
    Ok((side, foreign.then(|| text.to_string())))
}

/// Parses one Order object of a single leg (what jutsu places, and what `GET
/// .../orders/{id}` answers for it). The average fill price is the quantity-weighted mean
/// over the legs of `FILL` executions only (a cancel adds a zero-price `CANCELED` activity).
pub fn parse_order(value: Value) -> Result<Order, String> {
    let dto: OrderDto = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let id = dto.order_id.ok_or("an order has no orderId")?;
    if dto.order_leg_collection.is_empty() {
        return Err(format!(
            "order {id} has no legs of its own ({} child order(s)): not an order jutsu placed",
            dto.child_order_strategies.len()
        ));
    }
    let mut legs = order_legs(&dto, id)?;
    Ok(legs.remove(0))
}

/// Parses `GET .../orders`: every order of the account in the window, whatever it is.
/// OCO and TRIGGER strategies are walked down their `childOrderStrategies`; a multi-leg
/// order gives one [`Order`] per leg. An element that cannot be read is skipped and
/// described in the second list, so that one odd order never hides the others.
pub fn parse_order_list(items: Vec<Value>) -> (Vec<Order>, Vec<String>) {
    let mut orders = Vec::new();
    let mut skipped = Vec::new();
    let mut stack: Vec<Value> = items.into_iter().rev().collect();
    while let Some(item) = stack.pop() {
        let dto: OrderDto = match serde_json::from_value(item) {
            Ok(dto) => dto,
            Err(e) => {
                skipped.push(format!("an order that is not an Order object ({e})"));
                continue;
            }
        };
        stack.extend(dto.child_order_strategies.iter().rev().cloned());
        if dto.order_leg_collection.is_empty() {
            continue;
        }
        let Some(id) = dto.order_id else {
            skipped.push("an order without orderId".into());
            continue;
        };
        match order_legs(&dto, id) {
            Ok(legs) => orders.extend(legs),
            Err(e) => skipped.push(format!("order {id}: {e}")),
        }
    }
    (orders, skipped)
}

/// One [`Order`] per leg of an order with legs.
fn order_legs(dto: &OrderDto, id: i64) -> Result<Vec<Order>, String> {
    let status = dto
        .status
        .as_deref()
        .ok_or_else(|| format!("order {id} has no status"))?;
    let single = dto.order_leg_collection.len() == 1;
    let mut out = Vec::with_capacity(dto.order_leg_collection.len());
    for leg in &dto.order_leg_collection {
        let symbol = leg
            .instrument
            .symbol
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("order {id} has a leg without a symbol"))?;
        let (side, instruction) =
            side_of(leg.instruction.as_deref()).map_err(|e| format!("order {id}: {e}"))?;
        // A single leg's size is the order's; each leg of a multi-leg order has its own.
        let size = if single {
            dto.quantity.or(leg.quantity)
        } else {
            leg.quantity
        };
        let quantity = money(size, "quantity", QUANTITY_LIMIT)?
            .ok_or_else(|| format!("order {id} has no quantity"))?;
        let (filled, notional) = executions(dto, id, leg.leg_id, single)?;
        let reported = match single {
            true => {
                money(dto.filled_quantity, "filledQuantity", QUANTITY_LIMIT)?.unwrap_or_default()
            }
            false => Decimal::ZERO,
        };
        if quantity <= Decimal::ZERO || reported < Decimal::ZERO || filled > quantity {
            return Err(format!(
                "order {id}: quantity {quantity}, filled {reported} / executions {filled}"
            ));
        }
        out.push(Order {
            id: id.to_string(),
            symbol,
            side,
            quantity,
            // When filledQuantity and the executions disagree (status lag), trust the larger.
            filled_quantity: filled.max(reported).min(quantity),
            average_fill_price: (!filled.is_zero()).then(|| notional / filled),
            status: order_status(status, dto.status_description.as_deref()),
            entered_time: dto.entered_time.as_deref().and_then(parse_trader_time),
            instruction,
        });
    }
    Ok(out)
}

/// The shares filled and their notional over the `FILL` executions of one leg (`leg_id`;
/// every execution leg of a single-leg order).
fn executions(
    dto: &OrderDto,
    id: i64,
    leg_id: Option<i64>,
    single: bool,
) -> Result<(Decimal, Decimal), String> {
    let mut filled = Decimal::ZERO;
    let mut notional = Decimal::ZERO;
    let fills = dto
        .order_activity_collection
        .iter()
        .filter(|a| a.execution_type.as_deref() == Some("FILL"))
        .flat_map(|a| &a.execution_legs)
        .filter(|l| single || (l.leg_id.is_some() && l.leg_id == leg_id));
    for leg in fills {
        let q = money(leg.quantity, "execution quantity", QUANTITY_LIMIT)?.unwrap_or_default();
        let p = money(leg.price, "execution price", PRICE_LIMIT)?.unwrap_or_default();
        if q < Decimal::ZERO || p <= Decimal::ZERO {
            return Err(format!("order {id}: execution of {q} at {p}"));
        }
        filled += q;
        notional += q * p;
    }
    Ok((filled, notional))
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct QuoteBlock {
    last_price: Option<f64>,
    bid_price: Option<f64>,
    ask_price: Option<f64>,
    mark: Option<f64>,
    quote_time: Option<i64>,
    trade_time: Option<i64>,
    total_volume: Option<f64>,
    close_price: Option<f64>,
    security_status: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct QuoteEntry {
    symbol: Option<String>,
    realtime: Option<bool>,
    quote: Option<QuoteBlock>,
}

/// Parses `GET /quotes`: entries keyed by symbol; `errors.invalidSymbols` inside a 200 is
/// an error naming them. Returns quotes in the order of `symbols`.
pub fn parse_quotes(value: Value, symbols: &[String]) -> Result<Vec<Quote>, String> {
    let Value::Object(mut map) = value else {
        return Err("quotes: not a JSON object".into());
    };
    if let Some(errors) = map.remove("errors") {
        let invalid: Vec<String> = ["invalidSymbols", "invalidCusips", "invalidSSIDs"]
            .iter()
            .filter_map(|k| errors.get(*k).and_then(Value::as_array))
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        if !invalid.is_empty() {
            return Err(format!("Schwab does not know {}", invalid.join(", ")));
        }
    }
    let mut out = Vec::with_capacity(symbols.len());
    for symbol in symbols {
        let entry = map
            .remove(symbol)
            .ok_or_else(|| format!("no quote for {symbol}"))?;
        let entry: QuoteEntry =
            serde_json::from_value(entry).map_err(|e| format!("{symbol}: {e}"))?;
        if entry.symbol.as_deref().is_some_and(|s| s != symbol) {
            return Err(format!(
                "asked for {symbol}, got a quote for {}",
                entry.symbol.unwrap_or_default()
            ));
        }
        let q = entry
            .quote
            .ok_or_else(|| format!("{symbol}: no `quote` block"))?;
        let last = money(q.last_price, "lastPrice", PRICE_LIMIT)?
            .filter(|p| *p > Decimal::ZERO)
            .ok_or_else(|| format!("{symbol}: no positive lastPrice"))?;
        let positive = |v: Option<Decimal>| v.filter(|p| *p > Decimal::ZERO);
        let millis = q
            .quote_time
            .or(q.trade_time)
            .ok_or_else(|| format!("{symbol}: no quoteTime"))?;
        let time = Utc
            .timestamp_millis_opt(millis)
            .single()
            .ok_or_else(|| format!("{symbol}: quoteTime {millis} is not a time"))?;
        let volume = money(q.total_volume, "totalVolume", QUANTITY_LIMIT)?;
        let bid = money(q.bid_price, "bidPrice", PRICE_LIMIT)?;
        let ask = money(q.ask_price, "askPrice", PRICE_LIMIT)?;
        if volume.is_some_and(|v| v < Decimal::ZERO) {
            return Err(format!("{symbol}: negative totalVolume"));
        }
        out.push(Quote {
            symbol: symbol.clone(),
            last,
            bid: positive(bid),
            ask: positive(ask),
            time,
            day_volume: volume,
            mark: positive(money(q.mark, "mark", PRICE_LIMIT)?),
            history_basis: Decimal::ONE,
            previous_close: positive(money(q.close_price, "closePrice", PRICE_LIMIT)?),
            security_status: q.security_status,
            realtime: entry.realtime != Some(false),
            no_bid_ask: bid == Some(Decimal::ZERO) && ask == Some(Decimal::ZERO),
        });
    }
    Ok(out)
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ValidationItem {
    validation_rule_name: Option<String>,
    message: Option<String>,
    activity_message: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct ValidationResult {
    rejects: Vec<ValidationItem>,
    warns: Vec<ValidationItem>,
    alerts: Vec<ValidationItem>,
    reviews: Vec<ValidationItem>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct PreviewDto {
    order_validation_result: Option<ValidationResult>,
}

/// Parses `POST /previewOrder`: the rejects, and the warnings, alerts and reviews.
pub fn parse_preview(value: Value) -> Result<Preview, String> {
    let dto: PreviewDto = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let result = dto
        .order_validation_result
        .ok_or("no orderValidationResult in the preview")?;
    let finding = |item: ValidationItem| Finding {
        code: item
            .validation_rule_name
            .unwrap_or_else(|| "UNNAMED".into()),
        message: [item.message, item.activity_message]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" "),
    };
    Ok(Preview {
        rejects: result.rejects.into_iter().map(finding).collect(),
        warnings: result
            .warns
            .into_iter()
            .chain(result.alerts)
            .chain(result.reviews)
            .map(finding)
            .collect(),
    })
}

#[derive(Debug, Deserialize)]
struct Candle {
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
    datetime: i64,
}

#[derive(Debug, Deserialize)]
struct PriceHistory {
    #[serde(default)]
    candles: Vec<Candle>,
}

/// Parses daily candles (stamped at midnight US/Central, epoch ms) into bars dated by session.
pub fn parse_daily_candles(value: Value) -> Result<Vec<Bar>, String> {
    let history: PriceHistory = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let mut bars: Vec<Bar> = Vec::with_capacity(history.candles.len());
    for c in history.candles {
        let date = Utc
            .timestamp_millis_opt(c.datetime)
            .single()
            .map(|t| t.with_timezone(&Chicago).date_naive())
            .ok_or_else(|| format!("candle datetime {} is not a time", c.datetime))?;
        let price =
            |v: f64, what: &str| money(Some(v), what, PRICE_LIMIT).map(|d| d.unwrap_or_default());
        let bar = Bar::new(
            date,
            price(c.open, "open")?,
            price(c.high, "high")?,
            price(c.low, "low")?,
            price(c.close, "close")?,
            c.volume,
        );
        if let Some(problem) = bar.problem() {
            return Err(format!("candle {date}: {problem}"));
        }
        if bars.last().is_some_and(|b| b.date >= date) {
            return Err(format!("candles out of order at {date}"));
        }
        bars.push(bar);
    }
    Ok(bars)
}

/// Regular-session hours of one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketHours {
    /// The open.
    pub open: DateTime<Utc>,
    /// The close (13:00 ET on early-close days).
    pub close: DateTime<Utc>,
}

/// One session's hours from `GET /markets/equity`: `None` when the market is closed.
pub fn parse_market_hours(value: Value) -> Result<Option<MarketHours>, String> {
    let markets: BTreeMap<String, BTreeMap<String, Value>> =
        serde_json::from_value(value).map_err(|e| e.to_string())?;
    let equity = markets
        .get("equity")
        .ok_or("no `equity` market in the answer")?;
    // The inner key is `EQ` on open days and `equity` on closed ones: never index it.
    for product in equity.values() {
        if product.get("isOpen").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let regular = product
            .pointer("/sessionHours/regularMarket/0")
            .ok_or("open day without regularMarket hours")?;
        let at = |k: &str| {
            regular
                .get(k)
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| format!("regularMarket.{k} is not a time"))
        };
        return Ok(Some(MarketHours {
            open: at("start")?,
            close: at("end")?,
        }));
    }
    Ok(None)
}

/// The date of a session's hours in New York.
pub fn session_date(open: DateTime<Utc>) -> NaiveDate {
    open.with_timezone(&chrono_tz::America::New_York)
        .date_naive()
}

/// The message of a Schwab error body, whatever its shape: Trader `{"message", "errors":[..]}`,
/// Market Data `{"errors":[{"title","detail"}]}`, token `{"error","error_description"}`, or
/// plain text / HTML (an excerpt).
pub fn error_message(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return super::auth::excerpt(body);
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(m) = value.get("message").and_then(Value::as_str) {
        parts.push(m.to_string());
    }
    if let Some(e) = value.get("error").and_then(Value::as_str) {
        parts.push(e.to_string());
    }
    if let Some(d) = value.get("error_description").and_then(Value::as_str) {
        parts.push(d.to_string());
    }
    if let Some(errors) = value.get("errors").and_then(Value::as_array) {
        for e in errors {
            match e {
                Value::String(s) => parts.push(s.clone()),
                Value::Object(_) => {
                    let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
                    let text = [field("title"), field("detail")]
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(": ");
                    if !text.is_empty() {
                        parts.push(text);
                    }
                }
                _ => {}
            }
        }
    }
    if parts.is_empty() {
        super::auth::excerpt(body)
    } else {
        parts.join("; ")
    }
}

/// The transaction types that move cash without a trade (`types=` of
/// `GET /accounts/{hash}/transactions`; Schwab wants the parameter on every call).
pub const CASH_TRANSACTION_TYPES: &str = "DIVIDEND_OR_INTEREST,ACH_RECEIPT,ACH_DISBURSEMENT,\
CASH_RECEIPT,CASH_DISBURSEMENT,ELECTRONIC_FUND,WIRE_IN,WIRE_OUT,JOURNAL,RECEIVE_AND_DELIVER";

/// One element of `GET /accounts/{hash}/transactions`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Transaction {
    activity_id: Option<Value>,
    #[serde(rename = "type")]
    kind: String,
    status: Option<String>,
    time: Option<String>,
    trade_date: Option<String>,
    net_amount: Option<f64>,
    description: Option<String>,
    #[serde(default)]
    transfer_items: Vec<TransferItem>,
}

#[derive(Debug, Deserialize)]
struct TransferItem {
    instrument: Option<TransferInstrument>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TransferInstrument {
    symbol: Option<String>,
    asset_type: Option<String>,
}

/// A cash transaction as a cash flow; `None` for what moves no cash (a trade, the share
/// movement of a split) or was canceled. The date is the trade date (New York), else the
/// transaction time's.
pub fn parse_cash_flow(value: Value) -> Result<Option<CashFlow>, String> {
    let t: Transaction = serde_json::from_value(value).map_err(|e| e.to_string())?;
    if t.status
        .as_deref()
        .is_some_and(|s| s != "VALID" && s != "PENDING")
    {
        return Ok(None);
    }
    let amount = money(t.net_amount, "netAmount", PRICE_LIMIT)?.unwrap_or_default();
    if amount.is_zero() {
        return Ok(None);
    }
    let kind = match (t.kind.as_str(), amount > Decimal::ZERO) {
        ("TRADE", _) => return Ok(None),
        ("DIVIDEND_OR_INTEREST", _) => FlowKind::Dividend,
        ("RECEIVE_AND_DELIVER", _) => FlowKind::CashInLieu,
        ("ACH_RECEIPT" | "CASH_RECEIPT" | "WIRE_IN", _) => FlowKind::Deposit,
        ("ACH_DISBURSEMENT" | "CASH_DISBURSEMENT" | "WIRE_OUT", _) => FlowKind::Withdrawal,
        ("JOURNAL" | "ELECTRONIC_FUND", true) => FlowKind::Deposit,
        ("JOURNAL" | "ELECTRONIC_FUND", false) => FlowKind::Withdrawal,
        _ => FlowKind::Other,
    };
    let date = t
        .trade_date
        .as_deref()
        .or(t.time.as_deref())
        .and_then(parse_trader_time)
        .map(|d| d.with_timezone(&chrono_tz::America::New_York).date_naive())
        .ok_or_else(|| format!("transaction {:?} has no readable date", t.activity_id))?;
    let symbol = t
        .transfer_items
        .iter()
        .filter_map(|i| i.instrument.as_ref())
        .filter(|i| i.asset_type.as_deref() != Some("CURRENCY"))
        .find_map(|i| i.symbol.clone());
    let id = t.activity_id.as_ref().map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    Ok(Some(CashFlow {
        date,
        kind,
        amount,
        symbol,
        description: t.description.unwrap_or(t.kind),
        time: t.time.as_deref().and_then(parse_trader_time),
        id,
    }))
}
