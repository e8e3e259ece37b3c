//! Reconciliation: what the broker holds against what jutsu recorded (pure functions).
//!
//! `trade`, `status` and `emergency-exit` all call these, so that they tell one story.
//! The rules they keep:
//!
//! 1. **The broker is the truth.** The positions compared are the broker's whole shares of
//!    the strategy's symbols; the state only explains them, and a journal entry only says
//!    what was sent.
//! 2. **Every share change is a fill, a split or drift.** Fills are settled from the
//!    journal first; a change by an exact ratio that the prices confirm is a split (the
//!    record is adjusted, nothing is traded because of it); anything else is drift, named,
//!    and over `risk.max_drift_pct` of equity it stops the run unless the last run was
//!    incomplete.
//! 3. **A cash flow never changes the share comparison.** Deposits, dividends and cash in
//!    lieu move cash only.
//! 4. **A fraction of a share counts in equity and is never traded.**
//! 5. **Settling sends nothing, and a broker order is claimed by one entry at most.**
//! 6. **What is left of a plan never exceeds what the plan asked for**, and a line once
//!    sent is sized by what was sent (the buying-power cap is never topped up).

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::domain::bars::History;
use crate::domain::events::{recognise_split, FoundSplit, PriceMark};
use crate::domain::journal::{JournalError, LedgerOrder, OrderEvent, OrderState};
use crate::domain::market::{Account, Order, Quote};
use crate::domain::plan::{Plan, PlannedOrder};
use crate::domain::portfolio::{cents, whole_shares, Shares, TooManyShares};
use crate::domain::strategy::LEGS;

/// What the state recorded after its last run: the share counts of the last rebalance and
/// each position's as-traded price at that run.
#[derive(Debug, Clone, Copy)]
pub struct Recorded<'a> {
    /// Shares per symbol after the last executed rebalance.
    pub positions: &'a BTreeMap<String, Shares>,
    /// As-traded price and session of each position at the last completed run.
    pub marks: &'a BTreeMap<String, PriceMark>,
}

/// The market a reconciliation reads: the split-adjusted history and the run's quotes.
#[derive(Debug, Clone, Copy)]
pub struct MarketView<'a> {
    /// Daily bars (split-adjusted) up to the previous session.
    pub history: &'a History,
    /// The run's quotes (as traded, with their basis).
    pub quotes: &'a [Quote],
}

/// The broker's account seen against the record.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciliation {
    /// The broker's whole shares of each strategy symbol held.
    pub positions: BTreeMap<String, Shares>,
    /// Share changes the prices confirm as splits.
    pub splits: Vec<FoundSplit>,
    /// The record with the splits applied (positions, and marks on the new basis).
    pub recorded: Option<(BTreeMap<String, Shares>, BTreeMap<String, PriceMark>)>,
    /// What still differs after the splits.
    pub drift: Drift,
    /// The value of the fractions beyond whole shares, and a line naming each.
    pub fractions: (Decimal, Vec<String>),
}

/// Share counts that differ from the record (after splits), and their value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Drift {
    /// `TQQQ 40 -> 38`, per symbol that differs.
    pub differences: Vec<String>,
    /// The value of the differing shares at the last prices.
    pub value: Decimal,
}

impl Drift {
    /// The drift in percent of `equity`.
    pub fn pct_of(&self, equity: Decimal) -> Decimal {
        self.value / equity.max(Decimal::ONE) * Decimal::ONE_HUNDRED
    }
}

/// The broker's account against `recorded` (none before a first rebalance), with the
/// split-adjusted `history` and the `quotes` of the run: splits first, then drift, then
/// fractions.
pub fn reconcile(
    legs: &[String; LEGS],
    account: &Account,
    recorded: Option<Recorded<'_>>,
    market: MarketView<'_>,
) -> Result<Reconciliation, TooManyShares> {
    let quotes = market.quotes;
    let positions = whole_positions(account, legs)?;
    let prices: [Option<Decimal>; LEGS] = legs
        .clone()
        .map(|s| quotes.iter().find(|q| q.symbol == s).map(|q| q.last));
    let fractions = fractions(account, legs, &prices);
    let Some(record) = recorded else {
        return Ok(Reconciliation {
            positions,
            splits: Vec::new(),
            recorded: None,
            drift: Drift::default(),
            fractions,
        });
    };
    let splits = find_splits(legs, &positions, record, market);
    let (mut after, mut marks) = (record.positions.clone(), record.marks.clone());
    for split in &splits {
        after.insert(split.symbol.clone(), split.after);
        if let Some(mark) = marks.get_mut(&split.symbol) {
            mark.price /= split.ratio;
        }
    }
    let drift = drift(legs, &after, &positions, &prices);
    Ok(Reconciliation {
        positions,
        splits,
        recorded: Some((after, marks)),
        drift,
        fractions,
    })
}

/// The share changes since the record that are splits: an exact ratio of the recorded
/// shares, confirmed by the as-traded price mark against the split-adjusted history's
/// close of the mark's session (brought to the quote's basis).
fn find_splits(
    legs: &[String; LEGS],
    held: &BTreeMap<String, Shares>,
    record: Recorded<'_>,
    MarketView { history, quotes }: MarketView<'_>,
) -> Vec<FoundSplit> {
    legs.iter()
        .filter_map(|symbol| {
            let recorded = record.positions.get(symbol).copied().unwrap_or(0);
            let now = held.get(symbol).copied().unwrap_or(0);
            if recorded == now {
                return None;
            }
            let ratio = record.marks.get(symbol).and_then(|mark| {
                let bars = history.bars(symbol);
                let i = bars.binary_search_by_key(&mark.date, |b| b.date).ok()?;
                let basis = quotes
                    .iter()
                    .find(|q| q.symbol == *symbol)
                    .map_or(Decimal::ONE, |q| q.history_basis);
                let close = bars[i].close * basis;
                (close > Decimal::ZERO).then(|| mark.price / close)
            });
            recognise_split(symbol, recorded, now, ratio)
        })
        .collect()
}

/// The symbols whose broker shares differ from `recorded`, and the value of the
/// difference at `prices`. Cash plays no part.
pub fn drift(
    legs: &[String; LEGS],
    recorded: &BTreeMap<String, Shares>,
    held: &BTreeMap<String, Shares>,
    prices: &[Option<Decimal>; LEGS],
) -> Drift {
    let mut out = Drift::default();
    for (leg, symbol) in legs.iter().enumerate() {
        let was = recorded.get(symbol).copied().unwrap_or(0);
        let now = held.get(symbol).copied().unwrap_or(0);
        if was != now {
            out.differences.push(format!("{symbol} {was} -> {now}"));
            out.value += Decimal::from((now - was).abs()) * prices[leg].unwrap_or_default();
        }
    }
    out
}

/// The broker's whole shares of each strategy symbol held.
pub fn whole_positions(
    account: &Account,
    legs: &[String; LEGS],
) -> Result<BTreeMap<String, Shares>, TooManyShares> {
    let mut out = BTreeMap::new();
    for s in legs {
        let q = whole_shares(account.quantity(s))?;
        if q != 0 {
            out.insert(s.clone(), q);
        }
    }
    Ok(out)
}

/// The value at `prices` of what `account` holds of the strategy's symbols beyond whole
/// shares, and a line naming each fraction.
pub fn fractions(
    account: &Account,
    legs: &[String; LEGS],
    prices: &[Option<Decimal>; LEGS],
) -> (Decimal, Vec<String>) {
    let mut value = Decimal::ZERO;
    let mut lines = Vec::new();
    for p in &account.positions {
        let Some(leg) = legs.iter().position(|l| *l == p.symbol) else {
            continue;
        };
        let fraction = p.fraction();
        if fraction <= Decimal::ZERO {
            continue;
        }
        let worth = fraction * prices[leg].unwrap_or_default();
        value += worth;
        lines.push(format!(
            "{} {} shares: {} of a share (a reinvested dividend?) worth {} counts in equity; \
             orders stay whole shares",
            p.symbol,
            p.quantity.normalize(),
            fraction.normalize(),
            cents(worth)
        ));
    }
    (value, lines)
}

/// `40 TQQQ, 16 QQQ`, or `no positions`.
pub fn describe_positions(positions: &BTreeMap<String, Shares>) -> String {
    if positions.is_empty() {
        return "no positions".into();
    }
    positions
        .iter()
        .map(|(s, q)| format!("{q} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Settles the unfinished entries of a journal with the broker, sending nothing: each entry
/// not known to be final is looked up (by its id, else by symbol, side and quantity among
/// `listed`, the broker's orders entered since the run began, each claimed once) and
/// followed with `follow`; one the broker never received becomes NOT_SENT. Returns how many
/// were found and how many were never placed.
pub fn settle_entries<E: From<JournalError>>(
    journal: &mut [LedgerOrder],
    listed: &[Order],
    claimed: &mut Vec<String>,
    mut follow: impl FnMut(&str) -> Result<Order, E>,
) -> Result<(usize, usize), E> {
    let (mut settled, mut not_sent) = (0, 0);
    for entry in journal.iter_mut().filter(|o| !o.state().is_final()) {
        let found = match &entry.broker_id {
            Some(id) => Some(id.clone()),
            None => entry.find_in(listed, claimed).map(|o| o.id.clone()),
        };
        match found {
            Some(id) => {
                claimed.push(id.clone());
                let order = follow(&id)?;
                if *entry.state() != OrderState::Submitted {
                    entry.apply(OrderEvent::Placed(id))?;
                }
                entry.record_report(&order)?;
                settled += 1;
            }
            None => {
                entry.apply(OrderEvent::NeverPlaced)?;
                entry.note = Some("not found at the broker: it was never placed".into());
                not_sent += 1;
            }
        }
    }
    Ok((settled, not_sent))
}

/// What is left of `plan` after the orders in `journal`: each planned order less the shares
/// already filled for its symbol and side. Once a plan line was sent, its size is what was
/// sent after the buying-power cap (`intended`), so a resumed run ends where an uninterrupted
/// one would and never tops a capped order up.
pub fn remainder(plan: &Plan, journal: &[LedgerOrder]) -> Plan {
    let mut left = plan.clone();
    left.orders = plan
        .orders
        .iter()
        .filter_map(|o| {
            let sent: Vec<&LedgerOrder> = journal
                .iter()
                .filter(|j| j.symbol == o.symbol && j.side == o.side)
                .filter(|j| *j.state() != OrderState::NotSent)
                .collect();
            let filled: Decimal = sent.iter().map(|j| j.filled).sum();
            let size = sent
                .iter()
                .filter_map(|j| j.intended)
                .max()
                .map_or(o.quantity, |intended| intended.min(o.quantity));
            // A journal filled beyond any share count would have failed when recorded.
            let remaining = size - whole_shares(filled).unwrap_or(Shares::MAX);
            (remaining > 0).then(|| PlannedOrder {
                quantity: remaining,
                ..o.clone()
            })
        })
        .collect();
    left
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::bars::Bar;
    use crate::domain::market::{AccountKind, Position};
    use crate::domain::plan::Phase;
    use crate::domain::portfolio::{Portfolio, Side};
    use chrono::NaiveDate;
    use proptest::prelude::*;

    fn legs() -> [String; LEGS] {
        ["TQQQ", "QQQ", "PSQ", "TMF", "TMV"].map(String::from)
    }

    fn account(positions: &[(&str, Decimal)], cash: Decimal) -> Account {
        Account {
            positions: positions
                .iter()
                .map(|(s, q)| Position {
                    symbol: s.to_string(),
                    quantity: *q,
                    average_price: None,
                    market_value: None,
                    asset_type: None,
                    instrument_type: None,
                })
                .collect(),
            cash,
            buying_power: cash,
            liquidation_value: cash,
            kind: AccountKind::Unknown,
        }
    }

    fn quote(symbol: &str, last: Decimal) -> Quote {
        Quote {
            symbol: symbol.into(),
            last,
            bid: None,
            ask: None,
            time: chrono::DateTime::UNIX_EPOCH,
            day_volume: None,
            mark: None,
            history_basis: Decimal::ONE,
            previous_close: None,
            security_status: None,
            realtime: true,
            no_bid_ask: false,
        }
    }

    fn view<'a>(history: &'a History, quotes: &'a [Quote]) -> MarketView<'a> {
        MarketView { history, quotes }
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// TQQQ closed at `close` on 2025-11-19 in the split-adjusted history.
    fn history(close: Decimal) -> History {
        let bar = Bar::new(day("2025-11-19"), close, close, close, close, 1e6);
        History {
            series: [("TQQQ".to_string(), vec![bar])].into(),
        }
    }

    #[test]
    fn a_doubling_confirmed_by_the_prices_is_a_split_and_no_drift() {
        let recorded = BTreeMap::from([("TQQQ".to_string(), 33)]);
        // The mark was 100 as traded; the adjusted history says 50: the shares doubled.
        let marks = BTreeMap::from([(
            "TQQQ".to_string(),
            PriceMark {
                price: Decimal::from(100),
                date: day("2025-11-19"),
            },
        )]);
        let record = Recorded {
            positions: &recorded,
            marks: &marks,
        };
        let a = account(&[("TQQQ", Decimal::from(66))], Decimal::from(10));
        let quotes = [quote("TQQQ", Decimal::from(51))];
        let r = reconcile(
            &legs(),
            &a,
            Some(record),
            view(&history(Decimal::from(50)), &quotes),
        )
        .unwrap();
        assert_eq!(r.splits.len(), 1);
        assert_eq!(r.splits[0].describe(), "TQQQ split 2:1: 33 -> 66 shares");
        assert!(r.drift.differences.is_empty(), "{:?}", r.drift);
        let (after, marks) = r.recorded.unwrap();
        assert_eq!(after["TQQQ"], 66);
        assert_eq!(marks["TQQQ"].price, Decimal::from(50));
        // The same doubling with the price unchanged: a purchase by hand, drift.
        let r = reconcile(
            &legs(),
            &a,
            Some(record),
            view(&history(Decimal::from(100)), &quotes),
        )
        .unwrap();
        assert!(r.splits.is_empty());
        assert_eq!(r.drift.differences, ["TQQQ 33 -> 66"]);
        assert_eq!(r.drift.value, Decimal::from(33 * 51));
    }

    #[test]
    fn a_fraction_is_named_and_counted_never_a_whole_share() {
        let a = account(&[("TMF", "650.4172".parse().unwrap())], Decimal::ZERO);
        let quotes = [quote("TMF", Decimal::from(40))];
        let r = reconcile(&legs(), &a, None, view(&History::default(), &quotes)).unwrap();
        assert_eq!(r.positions["TMF"], 650);
        assert_eq!(r.fractions.0, "16.688".parse::<Decimal>().unwrap());
        assert!(r.fractions.1[0].starts_with("TMF 650.4172 shares: 0.4172 of a share"));
    }

    fn plan_of(lines: &[(&str, Side, i64)]) -> Plan {
        Plan {
            trigger: None,
            validated: [Decimal::ZERO; LEGS],
            equity: Decimal::ZERO,
            orders: lines
                .iter()
                .map(|(s, side, q)| PlannedOrder {
                    symbol: s.to_string(),
                    side: *side,
                    quantity: *q,
                    price: Decimal::ONE,
                    target: Decimal::ZERO,
                    phase: Phase::Increase,
                    full_exit: false,
                })
                .collect(),
            dropped: Vec::new(),
            projected: Portfolio::new(Decimal::ZERO),
        }
    }

    fn sent(symbol: &str, side: Side, quantity: i64, filled: i64, intended: i64) -> LedgerOrder {
        let mut e = LedgerOrder::pending(
            0,
            symbol,
            side,
            quantity,
            Decimal::ONE,
            chrono::DateTime::UNIX_EPOCH,
            None,
        );
        e.intended = Some(intended);
        e.filled = Decimal::from(filled);
        e
    }

    proptest! {
        /// Rule 1 and 4: whole shares are the broker's, toward zero, never more.
        #[test]
        fn whole_positions_are_the_broker_shares_without_the_fraction(
            q in 0i64..1_000_000, frac in 0u32..10_000,
        ) {
            let quantity = Decimal::from(q) + Decimal::new(i64::from(frac), 4);
            let a = account(&[("QQQ", quantity)], Decimal::ZERO);
            let w = whole_positions(&a, &legs()).unwrap();
            let held = w.get("QQQ").copied().unwrap_or(0);
            prop_assert_eq!(held, q);
            let (value, lines) = fractions(&a, &legs(), &[None, Some(Decimal::ONE), None, None, None]);
            prop_assert_eq!(value, quantity - Decimal::from(q));
            prop_assert_eq!(lines.len(), usize::from(frac > 0));
        }

        /// Rule 3: cash has no part in the share comparison.
        #[test]
        fn a_flow_never_changes_the_share_comparison(
            recorded in 0i64..10_000, held in 0i64..10_000, cash in -1_000_000i64..1_000_000,
        ) {
            let record = BTreeMap::from([("TQQQ".to_string(), recorded)]);
            let marks = BTreeMap::new();
            let quotes = [quote("TQQQ", Decimal::from(50))];
            let without = account(&[("TQQQ", Decimal::from(held))], Decimal::ZERO);
            let with = account(&[("TQQQ", Decimal::from(held))], Decimal::from(cash));
            let r = |a: &Account| reconcile(
                &legs(), a, Some(Recorded { positions: &record, marks: &marks }),
                view(&History::default(), &quotes),
            ).unwrap();
            prop_assert_eq!(r(&without).drift, r(&with).drift);
            prop_assert_eq!(r(&without).drift.differences.is_empty(), recorded == held);
        }

        /// Rule 2: a split's share counts are an exact ratio of the record.
        #[test]
        fn a_recognised_split_is_an_exact_ratio(recorded in 1i64..5_000, n in 2i64..12, forward: bool) {
            let (held, price_ratio) = if forward {
                (recorded * n, Decimal::from(n))
            } else {
                (recorded / n, Decimal::ONE / Decimal::from(n))
            };
            if let Some(split) = recognise_split("TQQQ", recorded, held, Some(price_ratio)) {
                prop_assert_eq!(split.before, recorded);
                prop_assert_eq!(split.after, held);
                if forward {
                    prop_assert_eq!(Decimal::from(recorded) * split.ratio, Decimal::from(held));
                } else {
                    prop_assert_eq!(recorded / n, held);
                }
            } else {
                // Only a reverse split to nothing is not recognised.
                prop_assert!(!forward && held == 0);
            }
        }

        /// Rule 6: what is left never exceeds what the plan asked for, nor what was sent.
        #[test]
        fn the_remainder_never_exceeds_the_plan(
            planned in 1i64..1_000, intended in 1i64..1_000, filled_pct in 0i64..=100,
        ) {
            let intended = intended.min(planned);
            let filled = intended * filled_pct / 100;
            let plan = plan_of(&[("QQQ", Side::Buy, planned)]);
            let journal = [sent("QQQ", Side::Buy, intended, filled, intended)];
            let left = remainder(&plan, &journal);
            let rest = left.orders.first().map_or(0, |o| o.quantity);
            prop_assert!(rest <= planned);
            prop_assert_eq!(rest, intended - filled);
        }

        /// Rule 5: settling claims each broker order once and sends nothing.
        #[test]
        fn settling_claims_each_broker_order_once(entries in 1usize..6, listed in 0usize..6) {
            let mut journal: Vec<LedgerOrder> = (0..entries)
                .map(|i| {
                    let mut e = sent("QQQ", Side::Buy, 10, 0, 10);
                    e.seq = i;
                    e
                })
                .collect();
            let orders: Vec<Order> = (0..listed)
                .map(|i| Order {
                    id: format!("{}", 100 + i),
                    symbol: "QQQ".into(),
                    side: Side::Buy,
                    quantity: Decimal::from(10),
                    filled_quantity: Decimal::from(10),
                    average_fill_price: Some(Decimal::ONE),
                    status: crate::domain::market::OrderStatus::Filled,
                    entered_time: None,
                    instruction: None,
                })
                .collect();
            let mut claimed = Vec::new();
            let (found, never) = settle_entries::<JournalError>(&mut journal, &orders, &mut claimed, |id| {
                Ok(orders.iter().find(|o| o.id == id).cloned().unwrap())
            }).unwrap();
            prop_assert_eq!(found, entries.min(listed));
            prop_assert_eq!(never, entries.saturating_sub(listed));
            let mut ids = claimed.clone();
            ids.sort();
            ids.dedup();
            prop_assert_eq!(ids.len(), claimed.len());
        }
    }
}
