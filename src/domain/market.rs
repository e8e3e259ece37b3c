//! What a broker reports and accepts: quotes, positions, the account, orders and their
//! statuses. Plain data shared by the brokers (which produce it) and the core (which plans,
//! journals and reconciles with it).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::portfolio::Side;

/// A live quote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    /// Symbol.
    pub symbol: String,
    /// Last trade price.
    pub last: Decimal,
    /// Best bid, when known.
    pub bid: Option<Decimal>,
    /// Best ask, when known.
    pub ask: Option<Decimal>,
    /// When the quote was taken.
    pub time: DateTime<Utc>,
    /// Cumulative volume of the day, when known.
    pub day_volume: Option<Decimal>,
    /// The broker's mark (its own fair price), when it gives one.
    #[serde(default)]
    pub mark: Option<Decimal>,
    /// From this quote's price to the basis of the split-adjusted history it is compared
    /// with: history price = `last / history_basis`. 1 on Schwab (its history is adjusted to
    /// today's shares); on bundled bars traded as they traded, the product of the ratios of
    /// the splits still to come.
    #[serde(default = "one")]
    pub history_basis: Decimal,
    /// The broker's close of the previous session, on today's basis (Schwab's
    /// `closePrice`), when it gives one.
    #[serde(default)]
    pub previous_close: Option<Decimal>,
    /// The broker's trading status of the security (Schwab's `securityStatus`: `Normal`,
    /// `Halted`, ...), when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_status: Option<String>,
    /// False when the broker flags the quote as delayed (Schwab's `realtime: false`).
    #[serde(default = "yes")]
    pub realtime: bool,
    /// The broker reported both a bid and an ask of 0: no market is being made (a halt).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_bid_ask: bool,
}

fn yes() -> bool {
    true
}

fn one() -> Decimal {
    Decimal::ONE
}

impl Quote {
    /// The last price on the history's basis.
    pub fn on_history_basis(&self) -> Decimal {
        if self.history_basis == Decimal::ONE || self.history_basis <= Decimal::ZERO {
            self.last
        } else {
            self.last / self.history_basis
        }
    }

    /// The reference price of a side: ask for buys, bid for sells, else last.
    pub fn reference(&self, side: Side) -> Decimal {
        match side {
            Side::Buy => self.ask.unwrap_or(self.last),
            Side::Sell => self.bid.unwrap_or(self.last),
        }
    }
}

/// A position as the broker reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Symbol.
    pub symbol: String,
    /// Shares (negative for a short).
    pub quantity: Decimal,
    /// Average cost per share, when known.
    pub average_price: Option<Decimal>,
    /// Market value, when known.
    pub market_value: Option<Decimal>,
    /// The broker's asset type (Schwab's `instrument.assetType`: `EQUITY`,
    /// `COLLECTIVE_INVESTMENT`, `MUTUAL_FUND`, `OPTION`, ...); `None` from the simulator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_type: Option<String>,
    /// The broker's finer type (`instrument.type`: `EXCHANGE_TRADED_FUND`, ...), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrument_type: Option<String>,
}

impl Position {
    /// Why the position cannot be sold as an equity order, or `None` when it can: stocks and
    /// exchange-traded funds can; money-market and mutual funds, options, bonds and the rest
    /// cannot (the broker refuses them sent as `EQUITY`).
    pub fn not_equity(&self) -> Option<String> {
        let asset = self.asset_type.as_deref().unwrap_or("EQUITY");
        let kind = self.instrument_type.as_deref();
        let exchange_traded = matches!(
            kind,
            Some("EXCHANGE_TRADED_FUND" | "CLOSED_END_FUND" | "UNIT_INVESTMENT_TRUST")
        );
        // Mutual-fund tickers (SWVXX, VFIAX) are five letters ending in X.
        let fund_ticker = self.symbol.len() == 5
            && self.symbol.ends_with('X')
            && self.symbol.chars().all(|c| c.is_ascii_uppercase());
        let what = match asset {
            "EQUITY" => return None,
            "COLLECTIVE_INVESTMENT" if exchange_traded => return None,
            "COLLECTIVE_INVESTMENT" if kind.is_none() && !fund_ticker => return None,
            "COLLECTIVE_INVESTMENT" | "MUTUAL_FUND" => "a fund traded through Schwab's fund orders",
            "CASH_EQUIVALENT" => "a money-market or sweep holding",
            "OPTION" => "an option",
            "FIXED_INCOME" => "a bond or CD",
            _ => "not an equity",
        };
        let kind = kind.map_or(String::new(), |k| format!(" {k}"));
        Some(format!("{what} ({asset}{kind}), not sold by an equity order: sell it in the Schwab app or at schwab.com"))
    }

    /// The fraction of a share in the position (a reinvested dividend), if any.
    pub fn fraction(&self) -> Decimal {
        self.quantity - self.quantity.trunc()
    }
}

/// The kind of account, as the broker says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AccountKind {
    /// A margin account.
    Margin,
    /// A cash account (IRAs are cash accounts): sale proceeds settle the next business day.
    Cash,
    /// Not said (the simulator).
    #[default]
    Unknown,
}

/// The account as the broker reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// Positions (zero positions omitted).
    pub positions: Vec<Position>,
    /// Cash.
    pub cash: Decimal,
    /// Buying power (cash available for trading in a cash account).
    pub buying_power: Decimal,
    /// Total account value.
    pub liquidation_value: Decimal,
    /// Margin or cash.
    #[serde(default)]
    pub kind: AccountKind,
}

impl Account {
    /// Shares held of a symbol.
    pub fn quantity(&self, symbol: &str) -> Decimal {
        self.positions
            .iter()
            .filter(|p| p.symbol == symbol)
            .map(|p| p.quantity)
            .sum()
    }
}

/// Market or limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderType {
    /// At the market.
    Market,
    /// At this price or better.
    Limit(Decimal),
}

/// An equity order to send (DAY, NORMAL session, whole shares).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// Symbol.
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// Whole shares, positive.
    pub quantity: u64,
    /// Market or limit.
    pub order_type: OrderType,
}

/// Where an order stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Accepted and not finished (queued, working, pending ...). May be partly filled.
    Open(String),
    /// Completely filled.
    Filled,
    /// Canceled (possibly after a partial fill).
    Canceled,
    /// Refused by the broker, with its reason.
    Rejected(String),
    /// Expired (possibly after a partial fill).
    Expired,
    /// Replaced by another order.
    Replaced,
}

impl OrderStatus {
    /// True once the order can no longer change.
    pub fn is_final(&self) -> bool {
        !matches!(self, OrderStatus::Open(_))
    }
}

/// An order as the broker reports it. A multi-leg or conditional order (OCO, TRIGGER,
/// an option spread) is reported as one `Order` per leg, each with the order's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The broker's id.
    pub id: String,
    /// Symbol.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Shares ordered.
    pub quantity: Decimal,
    /// Shares filled so far.
    pub filled_quantity: Decimal,
    /// Quantity-weighted average price of the fills, when any.
    pub average_fill_price: Option<Decimal>,
    /// Status.
    pub status: OrderStatus,
    /// When the order was entered.
    pub entered_time: Option<DateTime<Utc>>,
    /// The broker's instruction when it is not a plain BUY or SELL (`BUY_TO_OPEN`,
    /// `SELL_SHORT_EXEMPT`, `EXCHANGE`, ...): an order jutsu never sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
}

/// What placing an order gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Accepted with this id.
    Placed(String),
    /// The order may or may not be in: settle it by listing orders, never by sending again.
    Unknown(String),
}

/// One finding of an order preview: the rule's name and what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule, e.g. `LEVERAGED_ETF_WARNING`.
    pub code: String,
    /// Its message.
    pub message: String,
}

/// What the broker said of an order it was shown but not sent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Preview {
    /// Reasons the broker would refuse the order.
    pub rejects: Vec<Finding>,
    /// Warnings, alerts and review notes: the order would go through.
    pub warnings: Vec<Finding>,
}

impl Preview {
    /// Why the order must not be placed: a reject, or a warning whose code is in `stop_codes`.
    pub fn stops(&self, stop_codes: &[String]) -> Vec<&Finding> {
        let listed = self
            .warnings
            .iter()
            .filter(|w| stop_codes.iter().any(|c| c.eq_ignore_ascii_case(&w.code)));
        self.rejects.iter().chain(listed).collect()
    }
}

/// The price step of a US equity order: a cent from one dollar up, a hundredth of a cent
/// below (SEC Rule 612).
pub fn tick(price: Decimal) -> Decimal {
    if price >= Decimal::ONE {
        Decimal::new(1, 2)
    } else {
        Decimal::new(1, 4)
    }
}

/// The limit of a marketable limit order with a collar of `collar_pct` percent around the
/// side's reference (ask for a buy, bid for a sell): a buy at most `ask x (1 + collar)`, a
/// sell at least `bid x (1 - collar)`, each rounded to the tick towards the reference, so
/// the order never pays more than the collar allows.
pub fn collar_limit(side: Side, reference: Decimal, collar_pct: Decimal) -> Decimal {
    let collar = collar_pct / Decimal::ONE_HUNDRED;
    let raw = match side {
        Side::Buy => reference * (Decimal::ONE + collar),
        Side::Sell => reference * (Decimal::ONE - collar),
    };
    let step = tick(raw);
    let steps = raw / step;
    let whole = match side {
        Side::Buy => steps.floor(),
        Side::Sell => steps.ceil(),
    };
    (whole * step).max(step).normalize()
}

/// How far a quote may be from itself and from the last close before jutsu trades on it.
#[derive(Debug, Clone, PartialEq)]
pub struct QuoteLimits {
    /// The last trade may lie this many percent outside the bid/ask band.
    pub band_pct: Decimal,
    /// The spread, in percent of the mid price, at most.
    pub max_spread_pct: Decimal,
    /// The move of the last trade against the previous close, in percent, at most.
    pub max_move_pct: Decimal,
    /// `lastPrice` and `mark` may differ by this many percent, at most.
    pub max_mark_gap_pct: Decimal,
}

/// Every reason not to trust `quote`, given the previous session's close of its symbol (on
/// the history's basis).
pub fn quote_problems(
    quote: &Quote,
    previous_close: Option<Decimal>,
    limits: &QuoteLimits,
) -> Vec<String> {
    let pct = |a: Decimal, b: Decimal| {
        ((a - b).abs() / b * Decimal::ONE_HUNDRED)
            .round_dp(2)
            .normalize()
    };
    let s = &quote.symbol;
    let last = quote.last;
    let mut out = Vec::new();
    out.extend(trading_problems(quote));
    if let (Some(bid), Some(ask)) = (quote.bid, quote.ask) {
        if ask < bid {
            out.push(format!("{s} quote is crossed: bid {bid} > ask {ask}"));
        } else {
            let mid = (bid + ask) / Decimal::TWO;
            let spread = ((ask - bid) / mid * Decimal::ONE_HUNDRED)
                .round_dp(2)
                .normalize();
            if spread > limits.max_spread_pct {
                out.push(format!(
                    "{s} quote: the spread {bid}-{ask} is {spread}% of the price, over \
                     execution.max_spread_pct ({})",
                    limits.max_spread_pct
                ));
            }
            let band = limits.band_pct / Decimal::ONE_HUNDRED;
            let (lo, hi) = (bid * (Decimal::ONE - band), ask * (Decimal::ONE + band));
            if last < lo || last > hi {
                out.push(format!(
                    "{s} quote: the last trade {last} is outside the bid/ask band {bid}-{ask} \
                     (execution.quote_band_pct {})",
                    limits.band_pct
                ));
            }
        }
    }
    if let Some(mark) = quote.mark.filter(|m| *m > Decimal::ZERO) {
        let gap = pct(last, mark);
        if gap > limits.max_mark_gap_pct {
            out.push(format!(
                "{s} quote: the last trade {last} and the mark {mark} differ by {gap}%, over \
                 execution.max_mark_gap_pct ({})",
                limits.max_mark_gap_pct
            ));
        }
    }
    if let Some(close) = previous_close.filter(|c| *c > Decimal::ZERO) {
        // The previous close is on the history's basis: compare like with like.
        let moved = pct(quote.on_history_basis(), close);
        if moved > limits.max_move_pct {
            out.push(format!(
                "{s} quote: the last trade {last} is {moved}% from the previous close {close}, over \
                 the move limit ({}%): bad data or a split? Check the quote before trading",
                limits.max_move_pct
            ));
        }
    }
    out
}

/// Why `quote` says its security is not trading: a status other than Normal, a bid and an
/// ask of 0 (no market), or a delayed quote.
fn trading_problems(quote: &Quote) -> Vec<String> {
    let s = &quote.symbol;
    let last = quote.last;
    let mut out = Vec::new();
    if let Some(status) = quote
        .security_status
        .as_deref()
        .filter(|st| !st.eq_ignore_ascii_case("normal"))
    {
        out.push(format!(
            "{s} is not trading normally (Schwab's securityStatus is {status}): no order on a \
             halted or suspended security; run again once it trades"
        ));
    }
    if quote.no_bid_ask {
        out.push(format!(
            "{s} quote has a bid and an ask of 0 (last {last}, likely the previous close): \
             no market is being made, the security may be halted; run again once it trades"
        ));
    }
    if !quote.realtime {
        out.push(format!(
            "{s} quote is delayed (Schwab's realtime is false): jutsu trades only on real-time \
             quotes; check the app's market-data entitlement in Schwab's developer portal"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn quote(last: &str, bid: &str, ask: &str) -> Quote {
        Quote {
            symbol: "TQQQ".into(),
            last: d(last),
            bid: Some(d(bid)),
            ask: Some(d(ask)),
            time: DateTime::<Utc>::UNIX_EPOCH,
            day_volume: None,
            mark: None,
            history_basis: Decimal::ONE,
            previous_close: None,
            security_status: Some("Normal".into()),
            realtime: true,
            no_bid_ask: false,
        }
    }

    fn limits() -> QuoteLimits {
        QuoteLimits {
            band_pct: d("0.5"),
            max_spread_pct: d("1"),
            max_move_pct: d("40"),
            max_mark_gap_pct: d("1"),
        }
    }

    #[test]
    fn the_collar_rounds_to_the_tick_towards_the_reference() {
        // 78.55 x 1.005 = 78.94275: a buy may pay up to 78.94, never 78.95.
        assert_eq!(collar_limit(Side::Buy, d("78.55"), d("0.5")), d("78.94"));
        // 78.54 x 0.995 = 78.1473: a sell takes at least 78.15, never 78.14.
        assert_eq!(collar_limit(Side::Sell, d("78.54"), d("0.5")), d("78.15"));
        // Under a dollar the tick is 0.0001.
        assert_eq!(collar_limit(Side::Buy, d("0.5123"), d("1")), d("0.5174"));
        assert_eq!(tick(d("0.9999")), d("0.0001"));
        assert_eq!(tick(d("1")), d("0.01"));
        // On the tick already: unchanged by the rounding.
        assert_eq!(collar_limit(Side::Buy, d("100"), d("1")), d("101"));
    }

    #[test]
    fn a_sane_quote_has_no_problem() {
        let q = quote("78.55", "78.54", "78.56");
        assert!(quote_problems(&q, Some(d("77")), &limits()).is_empty());
        // No bid/ask, no mark, no previous close: nothing to check, nothing wrong.
        let bare = Quote {
            bid: None,
            ask: None,
            ..q
        };
        assert!(quote_problems(&bare, None, &limits()).is_empty());
    }

    #[test]
    fn each_bad_quote_is_named() {
        let crossed = quote_problems(&quote("78.55", "78.60", "78.50"), None, &limits());
        assert_eq!(crossed, ["TQQQ quote is crossed: bid 78.60 > ask 78.50"]);
        let wide = quote_problems(&quote("78.55", "77.00", "80.00"), None, &limits());
        assert!(wide[0].contains("spread 77.00-80.00 is 3.82%"), "{wide:?}");
        let outside = quote_problems(&quote("80.00", "78.54", "78.56"), None, &limits());
        assert!(
            outside[0].contains("outside the bid/ask band"),
            "{outside:?}"
        );
        // Inside the band widened by 0.5 %: fine.
        assert!(quote_problems(&quote("78.90", "78.54", "78.56"), None, &limits()).is_empty());
        let jump = quote_problems(&quote("78.55", "78.54", "78.56"), Some(d("50")), &limits());
        assert!(
            jump[0].contains("57.1% from the previous close 50"),
            "{jump:?}"
        );
        let marked = Quote {
            mark: Some(d("80")),
            ..quote("78.55", "78.54", "78.56")
        };
        let gap = quote_problems(&marked, None, &limits());
        assert!(gap[0].contains("the mark 80 differ by 1.81%"), "{gap:?}");
    }

    #[test]
    fn a_halted_a_marketless_or_a_delayed_quote_is_refused() {
        let halted = Quote {
            security_status: Some("Halted".into()),
            ..quote("78.55", "78.54", "78.56")
        };
        let found = quote_problems(&halted, None, &limits());
        assert!(
            found[0].contains("TQQQ is not trading normally"),
            "{found:?}"
        );
        // Bid and ask of 0 are not prices: the parser drops them and flags the quote.
        let dark = Quote {
            bid: None,
            ask: None,
            no_bid_ask: true,
            ..quote("78.55", "78.54", "78.56")
        };
        let found = quote_problems(&dark, None, &limits());
        assert!(found[0].contains("a bid and an ask of 0"), "{found:?}");
        let delayed = Quote {
            realtime: false,
            ..quote("78.55", "78.54", "78.56")
        };
        let found = quote_problems(&delayed, None, &limits());
        assert!(found[0].contains("quote is delayed"), "{found:?}");
        // No status at all (the simulator, local bars): nothing to say.
        let plain = Quote {
            security_status: None,
            ..quote("78.55", "78.54", "78.56")
        };
        assert!(quote_problems(&plain, None, &limits()).is_empty());
    }

    #[test]
    fn equities_and_etfs_sell_as_equity_funds_and_options_do_not() {
        let position = |symbol: &str, asset: Option<&str>, kind: Option<&str>| Position {
            symbol: symbol.into(),
            quantity: d("10"),
            average_price: None,
            market_value: None,
            asset_type: asset.map(String::from),
            instrument_type: kind.map(String::from),
        };
        assert_eq!(position("AAPL", Some("EQUITY"), None).not_equity(), None);
        let etf = position(
            "TQQQ",
            Some("COLLECTIVE_INVESTMENT"),
            Some("EXCHANGE_TRADED_FUND"),
        );
        assert_eq!(etf.not_equity(), None);
        assert_eq!(position("TQQQ", None, None).not_equity(), None);
        assert_eq!(
            position("QQQ", Some("COLLECTIVE_INVESTMENT"), None).not_equity(),
            None
        );
        for (symbol, asset, kind) in [
            ("SWVXX", Some("MUTUAL_FUND"), None),
            ("SWVXX", Some("COLLECTIVE_INVESTMENT"), None),
            ("SWVXX", Some("COLLECTIVE_INVESTMENT"), Some("MUTUAL_FUND")),
            ("SWVXX", Some("CASH_EQUIVALENT"), Some("MONEY_MARKET_FUND")),
            ("TQQQ  261218C00050000", Some("OPTION"), None),
        ] {
            let why = position(symbol, asset, kind).not_equity();
            assert!(
                why.is_some_and(|w| w.contains("not sold by an equity order")),
                "{symbol} {asset:?}"
            );
        }
        assert_eq!(position("TQQQ", None, None).fraction(), d("0"));
        let mut drip = position("TQQQ", None, None);
        drip.quantity = d("100.4172");
        assert_eq!(drip.fraction(), d("0.4172"));
    }

    #[test]
    fn a_preview_stops_on_rejects_and_on_listed_warnings_only() {
        let finding = |code: &str| Finding {
            code: code.into(),
            message: "m".into(),
        };
        let p = Preview {
            rejects: vec![],
            warnings: vec![finding("LEVERAGED_ETF_WARNING")],
        };
        assert!(p.stops(&[]).is_empty());
        assert_eq!(p.stops(&["leveraged_etf_warning".into()]).len(), 1);
        let rejected = Preview {
            rejects: vec![finding("INSUFFICIENT_FUNDS")],
            warnings: vec![],
        };
        assert_eq!(rejected.stops(&[])[0].code, "INSUFFICIENT_FUNDS");
    }
}
