//! Account events that are not the strategy's trades: corporate actions (splits, dividends)
//! and external cash flows (deposits, withdrawals, interest). Splits are recognised from the
//! broker's share counts and confirmed by prices; cash flows never count as drift.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::portfolio::Shares;

/// A split: `ratio` new shares per old share, effective on `date` (the first session of the
/// new basis).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// Effective date.
    pub date: NaiveDate,
    /// Symbol.
    pub symbol: String,
    /// New shares per old share: 2 for 2:1, 0.1 for a 1:10 reverse split.
    pub ratio: Decimal,
    /// The as-traded close of that session (cash in lieu of fractional shares).
    pub close: Decimal,
}

/// A cash dividend per share, as traded, on its ex-date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dividend {
    /// Ex-date.
    pub date: NaiveDate,
    /// Symbol.
    pub symbol: String,
    /// Cash per share held at the previous close.
    pub per_share: Decimal,
}

/// The corporate actions of a set of symbols, in date order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Actions {
    /// Splits.
    pub splits: Vec<Split>,
    /// Dividends.
    pub dividends: Vec<Dividend>,
}

impl Actions {
    /// The factor from split-adjusted prices (on the basis after every split listed) to the
    /// prices that traded on `date`: the product of the ratios of the later splits.
    pub fn factor(&self, symbol: &str, date: NaiveDate) -> Decimal {
        self.splits
            .iter()
            .filter(|s| s.symbol == symbol && s.date > date)
            .fold(Decimal::ONE, |f, s| f * s.ratio)
    }

    /// The splits and dividends effective after `after` up to `through`, in date order.
    pub fn between(&self, after: NaiveDate, through: NaiveDate) -> (Vec<&Split>, Vec<&Dividend>) {
        let inside = |d: NaiveDate| d > after && d <= through;
        (
            self.splits.iter().filter(|s| inside(s.date)).collect(),
            self.dividends.iter().filter(|d| inside(d.date)).collect(),
        )
    }
}

/// A ratio the way people write it: `2:1`, `3:1`, `1:10`.
pub fn ratio_text(ratio: Decimal) -> String {
    if ratio >= Decimal::ONE {
        format!("{}:1", ratio.normalize())
    } else if ratio > Decimal::ZERO {
        format!("1:{}", (Decimal::ONE / ratio).round_dp(4).normalize())
    } else {
        ratio.to_string()
    }
}

/// A position's price when the state last recorded it: as traded, and the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceMark {
    /// The as-traded price (the run's quote).
    pub price: Decimal,
    /// The session.
    pub date: NaiveDate,
}

/// A split found between the state's record and the broker's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundSplit {
    /// Symbol.
    pub symbol: String,
    /// New shares per old share.
    pub ratio: Decimal,
    /// Shares the state recorded.
    pub before: Shares,
    /// Shares the broker holds.
    pub after: Shares,
}

impl FoundSplit {
    /// `TQQQ split 2:1: 340 -> 680 shares`.
    pub fn describe(&self) -> String {
        format!(
            "{} split {}: {} -> {} shares",
            self.symbol,
            ratio_text(self.ratio),
            self.before,
            self.after
        )
    }
}

/// How far the prices may disagree with a split ratio and still confirm it: the price ratio
/// is measured between the state's quote and the history's close of that session, which a
/// day's move (at most about 35 % for a 3x ETF) separates from any other ratio.
const PRICE_TOLERANCE: Decimal = Decimal::from_parts(25, 0, 0, false, 2);

/// Whether a change from `recorded` to `held` shares of `symbol` is a split. `price_ratio`
/// is the state's as-traded price at its mark divided by the split-adjusted history's close
/// of that session on today's basis: about 1 when nothing split, about the ratio when it
/// did. The share counts must fit an exact ratio (a forward split multiplies by a whole
/// number; a reverse split divides and may round down, the fraction paid as cash) and the
/// prices must confirm it. Anything else is drift.
pub fn recognise_split(
    symbol: &str,
    recorded: Shares,
    held: Shares,
    price_ratio: Option<Decimal>,
) -> Option<FoundSplit> {
    let price_ratio = price_ratio.filter(|r| *r > Decimal::ZERO)?;
    if recorded <= 0 || held <= 0 || recorded == held {
        return None;
    }
    let ratio = if held > recorded {
        if held % recorded != 0 {
            return None;
        }
        Decimal::from(held / recorded)
    } else {
        // 1:n reverse: n from the prices, checked against the share counts.
        let n = (Decimal::ONE / price_ratio).round();
        let n_shares = n.to_string().parse::<Shares>().ok().filter(|n| *n >= 2)?;
        if recorded / n_shares != held {
            return None;
        }
        Decimal::ONE / n
    };
    let off = (price_ratio / ratio - Decimal::ONE).abs();
    (off <= PRICE_TOLERANCE).then(|| FoundSplit {
        symbol: symbol.to_string(),
        ratio,
        before: recorded,
        after: held,
    })
}

/// What moved cash into or out of the account without a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    /// Money paid in (ACH, wire, check, journal in).
    Deposit,
    /// Money taken out.
    Withdrawal,
    /// A dividend or interest.
    Dividend,
    /// Cash paid for fractional shares after a split.
    CashInLieu,
    /// Anything else that changed cash without a trade (fees, adjustments).
    Other,
}

impl FlowKind {
    /// Whether it comes from outside the strategy's returns (a deposit or a withdrawal):
    /// time-weighted returns take these out; dividends are part of the return.
    pub fn is_external(self) -> bool {
        matches!(self, FlowKind::Deposit | FlowKind::Withdrawal)
    }
}

/// One cash flow: positive into the account, negative out of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashFlow {
    /// The New York date it happened (or was credited).
    pub date: NaiveDate,
    /// What it is.
    pub kind: FlowKind,
    /// Amount, signed.
    pub amount: Decimal,
    /// The symbol, for a dividend or cash in lieu.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// The broker's words or id.
    #[serde(default)]
    pub description: String,
    /// When the broker posted it, when it says (a dividend posted the evening after a run
    /// belongs to the next run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<chrono::DateTime<chrono::Utc>>,
    /// The broker's id of the transaction, when it has one (windows that overlap list it
    /// once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn the_factor_multiplies_the_later_splits() {
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        let split = |date: &str, ratio: &str| Split {
            date: day(date),
            symbol: "TQQQ".into(),
            ratio: d(ratio),
            close: d("1"),
        };
        let a = Actions {
            splits: vec![split("2022-01-13", "2"), split("2025-11-20", "2")],
            dividends: Vec::new(),
        };
        assert_eq!(a.factor("TQQQ", day("2021-06-01")), d("4"));
        assert_eq!(a.factor("TQQQ", day("2025-11-19")), d("2"));
        assert_eq!(a.factor("TQQQ", day("2025-11-20")), d("1"));
        assert_eq!(a.factor("QQQ", day("2021-06-01")), d("1"));
    }

    #[test]
    fn splits_are_told_from_drift_by_shares_and_prices() {
        let found = recognise_split("TQQQ", 340, 680, Some(d("2.01"))).unwrap();
        assert_eq!(found.describe(), "TQQQ split 2:1: 340 -> 680 shares");
        // A 1:10 reverse split rounds down; the fraction is paid in cash.
        let found = recognise_split("TMF", 1005, 100, Some(d("0.098"))).unwrap();
        assert_eq!(found.describe(), "TMF split 1:10: 1005 -> 100 shares");
        // Doubled shares without the price halving: a manual buy, not a split.
        assert_eq!(recognise_split("TQQQ", 340, 680, Some(d("1.02"))), None);
        // Not an exact ratio.
        assert_eq!(recognise_split("TQQQ", 340, 690, Some(d("2.0"))), None);
        assert_eq!(recognise_split("TMF", 1005, 99, Some(d("0.1"))), None);
        // No price record: cannot confirm.
        assert_eq!(recognise_split("TQQQ", 340, 680, None), None);
    }

    #[test]
    fn ratios_read_as_people_write_them() {
        assert_eq!(ratio_text(d("2")), "2:1");
        assert_eq!(ratio_text(d("0.1")), "1:10");
        assert_eq!(ratio_text(d("0.2")), "1:5");
        assert_eq!(ratio_text(d("4")), "4:1");
    }
}
