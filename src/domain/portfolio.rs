//! The portfolio arithmetic of the original backtest (spec section 5.3), in decimals: whole
//! shares truncated toward zero, commission per share, slippage as a fraction of the price,
//! buys capped by cash, cash never negative, no shorting.
//!
//! This is the one sizing function: the backtest uses it, and the live planner sizes orders
//! with the same [`shares_for_target`].

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A count of whole shares: the one integer type for share counts in plans, journals and
/// states.
pub type Shares = i64;

/// A share count too large to hold (the broker or a file reported nonsense).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0} shares is beyond any real position: refusing to count it")]
pub struct TooManyShares(pub Decimal);

/// The whole shares in `quantity` (toward zero: 12.7 -> 12, -3.5 -> -3), or an error when
/// it does not fit: never silently 0.
pub fn whole_shares(quantity: Decimal) -> Result<Shares, TooManyShares> {
    use rust_decimal::prelude::ToPrimitive;
    quantity.trunc().to_i64().ok_or(TooManyShares(quantity))
}

/// Adverse slippage in percent: buys above the reference, sells below it. Favourable
/// fills count as zero.
pub fn adverse_slippage_pct(side: Side, reference: Decimal, fill: Decimal) -> Decimal {
    if reference <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    let signed = match side {
        Side::Buy => fill - reference,
        Side::Sell => reference - fill,
    };
    (signed / reference * Decimal::ONE_HUNDRED).max(Decimal::ZERO)
}

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Side {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

impl Side {
    /// `BUY` or `SELL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

/// Money to the cent as text: rounded half away from zero first (formatting a decimal with
/// `{:.2}` alone cuts the digits off instead).
pub fn cents(amount: Decimal) -> String {
    format!("{:.2}", round_cents(amount))
}

/// Money rounded to the cent, half away from zero (as printed, and as a broker credits a
/// dividend or cash in lieu).
pub fn round_cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

/// `x` rounded to `dp` decimals, half away from zero: the one rule for every printed number
/// (rust_decimal's `{:.2}` would cut the digits off instead).
pub fn rounded(x: Decimal, dp: u32) -> Decimal {
    x.round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

/// Commission and slippage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Costs {
    /// Dollars per share.
    pub commission_per_share: Decimal,
    /// Fraction of the price (0.001 = 0.1 %).
    pub slippage: Decimal,
}

impl Costs {
    /// Fill price of a buy or sell at reference price `p`.
    pub fn fill_price(&self, side: Side, p: Decimal) -> Decimal {
        match side {
            Side::Buy => p * (Decimal::ONE + self.slippage),
            Side::Sell => p * (Decimal::ONE - self.slippage),
        }
    }

    /// Every problem of a cost model read from the configuration section `prefix`
    /// (`sim`, `backtest`): the simulator and the backtest share this one model.
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.commission_per_share < Decimal::ZERO {
            out.push(format!(
                "{prefix}.commission_per_share ({}) must not be negative",
                self.commission_per_share
            ));
        }
        let pct = (self.slippage * Decimal::ONE_HUNDRED).normalize();
        if pct < Decimal::ZERO || pct > Decimal::TEN {
            out.push(format!(
                "{prefix}.slippage_pct ({pct}) must be between 0 and 10"
            ));
        }
        out
    }
}

/// A simulated fill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// Symbol.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Whole shares.
    pub quantity: i64,
    /// Price per share including slippage.
    pub price: Decimal,
    /// Commission paid.
    pub commission: Decimal,
}

/// What a sizing decision asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sizing {
    /// Nothing to do.
    None,
    /// Buy this many shares.
    Buy(i64),
    /// Sell this many shares.
    Sell(i64),
}

/// Shares to trade to move a position of `held` shares at price `p` toward `target` of the
/// portfolio value `pv`, given `cash` (section 5.3). A target of zero sells everything.
pub fn shares_for_target(
    target: Decimal,
    held: i64,
    p: Decimal,
    pv: Decimal,
    cash: Decimal,
    costs: &Costs,
) -> Sizing {
    let buy_cost = p * (Decimal::ONE + costs.slippage) + costs.commission_per_share;
    if target.is_zero() {
        return if held > 0 {
            Sizing::Sell(held)
        } else {
            Sizing::None
        };
    }
    if held != 0 {
        let current = Decimal::from(held.abs()) * p / pv;
        let delta = target - current;
        let amount = pv * delta;
        if delta > Decimal::ZERO {
            let n = whole(amount.min(cash) / buy_cost);
            if n >= 1 {
                return Sizing::Buy(n);
            }
        } else {
            let n = whole(amount / (p * (Decimal::ONE - costs.slippage)));
            if n <= -1 {
                return Sizing::Sell((-n).min(held.max(0)));
            }
        }
        return Sizing::None;
    }
    let n = whole((pv * target).min(cash) / buy_cost);
    if n > 0 {
        Sizing::Buy(n)
    } else {
        Sizing::None
    }
}

/// Truncation toward zero to a whole number of shares.
fn whole(x: Decimal) -> i64 {
    i64::try_from(x.trunc()).unwrap_or(0)
}

/// A cash account with whole-share long positions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Portfolio {
    /// Cash.
    pub cash: Decimal,
    /// Shares per symbol (zero positions are removed).
    pub positions: BTreeMap<String, i64>,
}

impl Portfolio {
    /// An account holding only cash.
    pub fn new(cash: Decimal) -> Self {
        Portfolio {
            cash,
            positions: BTreeMap::new(),
        }
    }

    /// Shares held of a symbol.
    pub fn quantity(&self, symbol: &str) -> i64 {
        self.positions.get(symbol).copied().unwrap_or(0)
    }

    /// Cash plus every position at `price_of` (a position without a price counts zero).
    pub fn value(&self, price_of: impl Fn(&str) -> Option<Decimal>) -> Decimal {
        self.cash
            + self
                .positions
                .iter()
                .map(|(s, q)| price_of(s).map_or(Decimal::ZERO, |p| p * Decimal::from(*q)))
                .sum::<Decimal>()
    }

    /// Moves `symbol` toward `target` of the portfolio value at reference price `p`
    /// (section 5.3), returning the fill if any.
    pub fn rebalance_to(
        &mut self,
        symbol: &str,
        target: Decimal,
        p: Decimal,
        price_of: impl Fn(&str) -> Option<Decimal>,
        costs: &Costs,
    ) -> Option<Fill> {
        let pv = self.value(price_of);
        let held = self.quantity(symbol);
        match shares_for_target(target, held, p, pv, self.cash, costs) {
            Sizing::None => None,
            Sizing::Buy(n) => self.apply(symbol, Side::Buy, n, p, costs),
            Sizing::Sell(n) => self.apply(symbol, Side::Sell, n, p, costs),
        }
    }

    /// Applies a fill of `n` shares at reference price `p`; refuses a buy that costs more
    /// than the cash and a sell of more than is held.
    pub fn apply(
        &mut self,
        symbol: &str,
        side: Side,
        n: i64,
        p: Decimal,
        costs: &Costs,
    ) -> Option<Fill> {
        if n <= 0 {
            return None;
        }
        let price = costs.fill_price(side, p);
        let commission = costs.commission_per_share * Decimal::from(n);
        let gross = price * Decimal::from(n);
        let held = self.quantity(symbol);
        match side {
            Side::Buy => {
                if gross + commission > self.cash {
                    return None;
                }
                self.cash -= gross + commission;
                self.positions.insert(symbol.to_string(), held + n);
            }
            Side::Sell => {
                if n > held {
                    return None;
                }
                self.cash += gross - commission;
                if held == n {
                    self.positions.remove(symbol);
                } else {
                    self.positions.insert(symbol.to_string(), held - n);
                }
            }
        }
        Some(Fill {
            symbol: symbol.to_string(),
            side,
            quantity: n,
            price,
            commission,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden() -> Costs {
        Costs {
            commission_per_share: Decimal::new(1, 2),
            slippage: Decimal::new(1, 3),
        }
    }

    #[test]
    fn first_golden_trade() {
        // 2010-01-11: QQQ 40 % of 10 000 at 46.36 -> 86 shares at 46.40636, commission 0.86.
        let mut pf = Portfolio::new(Decimal::new(10_000, 0));
        let p = Decimal::new(4636, 2);
        let fill = pf
            .rebalance_to("QQQ", Decimal::new(4, 1), p, |_| Some(p), &golden())
            .unwrap();
        assert_eq!(fill.quantity, 86);
        assert_eq!(fill.price, Decimal::new(4640636, 5));
        assert_eq!(fill.commission, Decimal::new(86, 2));
        assert_eq!(pf.cash, Decimal::new(600819304, 5));
    }

    #[test]
    fn never_sells_more_than_held_or_spends_more_than_cash() {
        let mut pf = Portfolio::new(Decimal::new(100, 0));
        let c = golden();
        assert!(pf
            .apply("X", Side::Buy, 2, Decimal::new(60, 0), &c)
            .is_none());
        assert!(pf
            .apply("X", Side::Sell, 1, Decimal::new(60, 0), &c)
            .is_none());
        assert_eq!(pf.cash, Decimal::new(100, 0));
    }
}
