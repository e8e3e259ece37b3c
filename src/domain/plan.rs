//! Turning target weights into whole-share orders, and the risk gate (pure functions).
//!
//! The plan uses the backtest's own pieces: the strategy's order emission (section 5.2) and
//! the portfolio sizing function (section 5.3), applied one order after another to a copy
//! of the broker's account, so that with the backtest's costs and settings the live account
//! holds exactly the backtest's share counts.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::portfolio::{shares_for_target, Costs, Portfolio, Side, Sizing};
use crate::domain::strategy::{emit_orders, target_deviation, OrderIntent, Weights, LEGS};

/// Why the plan rebalances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Trigger {
    /// No earlier executed rebalance is recorded.
    FirstRun,
    /// The target moved by more than the strategy's threshold (the deviation is given).
    TargetChanged(Decimal),
    /// The broker's share counts differ from those recorded after the last rebalance.
    PositionsDrifted(Vec<String>),
    /// The positions were adopted from the broker (`jutsu state adopt`, with its reason):
    /// every leg goes back to its target from them.
    Adopted(String),
    /// Cash moved without a trade since the last rebalance (a deposit, a withdrawal,
    /// dividends) by this many percent of equity, over `execution.rebalance_on_flow_pct`:
    /// the money is invested (or raised) at the current targets.
    CashMoved(Decimal),
}

impl Trigger {
    /// A short reason for reports and trades.csv.
    pub fn reason(&self) -> &'static str {
        match self {
            Trigger::FirstRun => "first run",
            Trigger::TargetChanged(_) => "target change",
            Trigger::PositionsDrifted(_) => "drift",
            Trigger::Adopted(_) => "adopted positions",
            Trigger::CashMoved(_) => "cash moved",
        }
    }

    /// Why it trades, in a sentence for the checklist, when the reason is not the
    /// strategy's own (the decision is the same; only share counts change).
    pub fn explain(&self) -> Option<String> {
        match self {
            Trigger::Adopted(reason) => Some(format!(
                "rebalancing to the current targets from the positions adopted by `jutsu state \
                 adopt` ({reason})"
            )),
            Trigger::CashMoved(pct) => Some(format!(
                "rebalancing to the current targets: cash moved by {}% of equity since the last \
                 rebalance (deposits, withdrawals, dividends), over \
                 execution.rebalance_on_flow_pct",
                pct.round_dp(2).normalize()
            )),
            Trigger::PositionsDrifted(symbols) => Some(format!(
                "rebalancing: the broker's share counts differ from the last rebalance's ({})",
                symbols.join(", ")
            )),
            Trigger::FirstRun | Trigger::TargetChanged(_) => None,
        }
    }
}

/// Reduce orders go first; increases after the account is re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Closing or shrinking legs.
    Reduce,
    /// Opening or growing legs.
    Increase,
}

/// One order of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedOrder {
    /// Symbol.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Whole shares.
    pub quantity: i64,
    /// The price the order was sized at (the quote).
    pub price: Decimal,
    /// Target fraction of equity for the leg.
    pub target: Decimal,
    /// Phase.
    pub phase: Phase,
    /// Sells the whole position.
    pub full_exit: bool,
}

/// An order the plan left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    /// Symbol.
    pub symbol: String,
    /// Why.
    pub reason: String,
}

/// What the planner needs, all plain data.
#[derive(Debug, Clone)]
pub struct PlanInput {
    /// The decision's targets.
    pub weights: Weights,
    /// Validated targets of the last executed rebalance (None: first run).
    pub remembered: Option<[Decimal; LEGS]>,
    /// Share counts recorded after the last executed rebalance.
    pub recorded_positions: Option<BTreeMap<String, i64>>,
    /// The leg symbols in leg order.
    pub symbols: [String; LEGS],
    /// The broker's whole-share positions.
    pub positions: BTreeMap<String, i64>,
    /// The broker's cash.
    pub cash: Decimal,
    /// The broker's buying power.
    pub buying_power: Decimal,
    /// Quote per leg.
    pub prices: [Option<Decimal>; LEGS],
    /// The strategy's rebalance threshold.
    pub threshold: Decimal,
    /// Costs assumed when sizing.
    pub costs: Costs,
    /// At most this percentage of buying power is used.
    pub max_buying_power_pct: Decimal,
    /// Orders under this percentage of equity are dropped, except full exits.
    pub min_trade_pct: Decimal,
    /// The broker's cash right after the last executed rebalance, when recorded.
    pub rebalance_cash: Option<Decimal>,
    /// Cash moved since then by more than this percentage of equity rebalances (0: never).
    pub rebalance_on_flow_pct: Decimal,
    /// The reason of a `jutsu state adopt` not yet followed by a rebalance.
    pub rebalance_due: Option<String>,
    /// The value of what the broker holds of the strategy's symbols beyond whole shares
    /// (fractions from reinvested dividends): counted in equity, never traded.
    pub fraction_value: Decimal,
}

/// The plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Why it trades (None: nothing to do).
    pub trigger: Option<Trigger>,
    /// Targets after the one-share affordability filter (remembered once executed).
    pub validated: [Decimal; LEGS],
    /// Equity the plan was sized on (cash plus leg positions at the quotes).
    pub equity: Decimal,
    /// Orders in execution order: reductions, then increases.
    pub orders: Vec<PlannedOrder>,
    /// Orders left out.
    pub dropped: Vec<Dropped>,
    /// The account as the plan expects it afterwards.
    pub projected: Portfolio,
}

fn price_of(input: &PlanInput, symbol: &str) -> Option<Decimal> {
    input
        .symbols
        .iter()
        .position(|s| s == symbol)
        .and_then(|i| input.prices[i])
}

/// Decides whether to trade and sizes the orders.
pub fn plan(input: &PlanInput) -> Plan {
    let account = account_of(input);
    let equity = account.value(|s| price_of(input, s)) + input.fraction_value;
    let (trigger, remembered) = trigger_of(input, &account, equity);
    let (validated, intents) = emit_orders(&input.weights, &remembered, equity, &input.prices);
    let mut result = Plan {
        trigger: trigger.clone(),
        validated,
        equity,
        orders: Vec::new(),
        dropped: Vec::new(),
        projected: account.clone(),
    };
    let intents = match trigger {
        None => return result,
        // Drift, an adoption or moved cash: every leg goes back to its target, reductions
        // first, from the holdings (a withdrawal that needs cash sells pro rata).
        Some(Trigger::PositionsDrifted(_) | Trigger::Adopted(_) | Trigger::CashMoved(_)) => {
            let held: [i64; LEGS] = std::array::from_fn(|l| account.quantity(&input.symbols[l]));
            drift_intents(&validated, &held, &input.prices, equity)
        }
        // The strategy's own emission, as in the backtest.
        Some(_) => phased(intents, &remembered),
    };
    size_orders(input, &account, intents, &mut result);
    result
}

/// The account the plan starts from: cash and the strategy's symbols held.
fn account_of(input: &PlanInput) -> Portfolio {
    let mut account = Portfolio::new(input.cash);
    for (symbol, q) in &input.positions {
        if *q != 0 && input.symbols.contains(symbol) {
            account.positions.insert(symbol.clone(), *q);
        }
    }
    account
}

/// Why the plan trades (none: it does not), and the targets it trades from: a first run,
/// targets that moved past the threshold, holdings that differ from the recorded ones,
/// an adoption, or cash that moved since the last rebalance.
fn trigger_of(
    input: &PlanInput,
    account: &Portfolio,
    equity: Decimal,
) -> (Option<Trigger>, [Decimal; LEGS]) {
    let Some(remembered) = input.remembered else {
        return (Some(Trigger::FirstRun), [Decimal::ZERO; LEGS]);
    };
    let deviation = target_deviation(&input.weights, &remembered);
    if deviation > input.threshold {
        return (Some(Trigger::TargetChanged(deviation)), remembered);
    }
    let drifted: Vec<String> = match &input.recorded_positions {
        Some(recorded) => input
            .symbols
            .iter()
            .filter(|s| recorded.get(*s).copied().unwrap_or(0) != account.quantity(s))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    if !drifted.is_empty() {
        return (Some(Trigger::PositionsDrifted(drifted)), remembered);
    }
    if let Some(reason) = &input.rebalance_due {
        return (Some(Trigger::Adopted(reason.clone())), remembered);
    }
    (
        cash_moved(input, equity).map(Trigger::CashMoved),
        remembered,
    )
}

/// The cash moved since the last rebalance in percent of equity, when it is over
/// `rebalance_on_flow_pct` (and that is not 0).
fn cash_moved(input: &PlanInput, equity: Decimal) -> Option<Decimal> {
    let at_rebalance = input.rebalance_cash?;
    if input.rebalance_on_flow_pct <= Decimal::ZERO || equity <= Decimal::ZERO {
        return None;
    }
    let moved = (input.cash - at_rebalance).abs() / equity * Decimal::ONE_HUNDRED;
    (moved > input.rebalance_on_flow_pct).then_some(moved)
}

/// Every leg back to its validated target: the legs above it (or to close) first.
fn drift_intents(
    validated: &[Decimal; LEGS],
    held: &[i64; LEGS],
    prices: &[Option<Decimal>; LEGS],
    equity: Decimal,
) -> Vec<(Phase, OrderIntent)> {
    let current = |leg: usize| match prices[leg] {
        Some(p) if !equity.is_zero() => Decimal::from(held[leg]) * p / equity,
        _ => Decimal::ZERO,
    };
    let intent = |phase, leg: usize| {
        (
            phase,
            OrderIntent {
                leg,
                target: validated[leg],
            },
        )
    };
    let reduce = (0..LEGS)
        .filter(|&l| validated[l].is_zero() || current(l) > validated[l])
        .map(|l| intent(Phase::Reduce, l));
    let increase = (0..LEGS)
        .filter(|&l| !validated[l].is_zero() && current(l) < validated[l])
        .map(|l| intent(Phase::Increase, l));
    reduce.chain(increase).collect()
}

/// The strategy's emitted orders, each marked reduce or increase against the targets it
/// trades from.
fn phased(intents: Vec<OrderIntent>, remembered: &[Decimal; LEGS]) -> Vec<(Phase, OrderIntent)> {
    intents
        .into_iter()
        .map(|i| {
            let phase = if i.target.is_zero() || i.target < remembered[i.leg] {
                Phase::Reduce
            } else {
                Phase::Increase
            };
            (phase, i)
        })
        .collect()
}

/// The buying power held back: `100 - max_buying_power_pct` percent of the cash (or of
/// the buying power, when smaller), never below zero. The one rule for the planner and for
/// the fresh look at the account before each buy.
pub fn reserve(buying_power: Decimal, cash: Decimal, max_buying_power_pct: Decimal) -> Decimal {
    let keep = Decimal::ONE_HUNDRED - max_buying_power_pct;
    (buying_power.min(cash) * keep / Decimal::ONE_HUNDRED).max(Decimal::ZERO)
}

/// What a buy may spend now: the cash (or buying power, when smaller) less the reserve.
pub fn spendable(buying_power: Decimal, cash: Decimal, max_buying_power_pct: Decimal) -> Decimal {
    let reserve = reserve(buying_power, cash, max_buying_power_pct);
    (cash.min(buying_power) - reserve).max(Decimal::ZERO)
}

/// Sizes each intent in whole shares on a copy of the account, in order, dropping (with
/// the reason) what has no quote, is under the minimum trade or does not fit.
fn size_orders(
    input: &PlanInput,
    account: &Portfolio,
    intents: Vec<(Phase, OrderIntent)>,
    result: &mut Plan,
) {
    let prices = |s: &str| price_of(input, s);
    // Buying power held back; it still counts in the value the targets apply to.
    let reserve = reserve(input.buying_power, input.cash, input.max_buying_power_pct);
    let mut sim = account.clone();
    sim.cash -= reserve;
    let min_notional = result.equity * input.min_trade_pct / Decimal::ONE_HUNDRED;
    for (phase, intent) in intents {
        let symbol = &input.symbols[intent.leg];
        let mut drop = |reason: String| {
            result.dropped.push(Dropped {
                symbol: symbol.clone(),
                reason,
            })
        };
        let Some(p) = input.prices[intent.leg] else {
            drop("no quote".into());
            continue;
        };
        let held = sim.quantity(symbol);
        let pv = sim.value(prices) + reserve + input.fraction_value;
        let (side, n) = match shares_for_target(intent.target, held, p, pv, sim.cash, &input.costs)
        {
            Sizing::None => continue,
            Sizing::Buy(n) => (Side::Buy, n),
            Sizing::Sell(n) => (Side::Sell, n),
        };
        let full_exit = side == Side::Sell && n == held && intent.target.is_zero();
        let notional = Decimal::from(n) * p;
        if !full_exit && notional < min_notional {
            drop(format!(
                "{} {n} is {notional:.2}, under execution.min_trade_pct ({}% of equity = {min_notional:.2})",
                side.as_str(),
                input.min_trade_pct
            ));
            continue;
        }
        if sim.apply(symbol, side, n, p, &input.costs).is_none() {
            drop(format!(
                "{} {n} does not fit the cash or holdings",
                side.as_str()
            ));
            continue;
        }
        result.orders.push(PlannedOrder {
            symbol: symbol.clone(),
            side,
            quantity: n,
            price: p,
            target: intent.target,
            phase,
            full_exit,
        });
    }
    sim.cash += reserve;
    result.projected = sim;
}

/// The risk gate every plan passes before anything is sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Risk {
    /// Gross exposure over equity, at most.
    pub max_total_leverage: Decimal,
    /// One position over equity, at most (percent).
    pub max_position_pct: Decimal,
    /// Cash kept after the plan, at least (percent of equity).
    pub min_cash_pct: Decimal,
    /// Unexplained difference between broker and state that stops the run (percent of equity).
    pub max_drift_pct: Decimal,
    /// Halt when the account is this many percent below the peak of the recorded runs
    /// (off when absent).
    pub max_drawdown_halt_pct: Option<Decimal>,
    /// Halt when the account is this many percent below the previous run's (off when absent).
    pub daily_loss_halt_pct: Option<Decimal>,
}

impl Default for Risk {
    fn default() -> Self {
        Risk {
            max_total_leverage: Decimal::ONE,
            max_position_pct: Decimal::new(100, 0),
            min_cash_pct: Decimal::ZERO,
            max_drift_pct: Decimal::new(5, 0),
            max_drawdown_halt_pct: None,
            daily_loss_halt_pct: None,
        }
    }
}

impl Risk {
    /// Every problem of these limits, each with its key path under `prefix`.
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.max_total_leverage <= Decimal::ZERO || self.max_total_leverage > Decimal::TWO {
            out.push(format!(
                "{prefix}.max_total_leverage ({}) must be > 0 and <= 2",
                self.max_total_leverage
            ));
        }
        for (key, value, lo) in [
            ("max_position_pct", self.max_position_pct, Decimal::ONE),
            ("min_cash_pct", self.min_cash_pct, Decimal::ZERO),
            ("max_drift_pct", self.max_drift_pct, Decimal::ZERO),
        ] {
            if value < lo || value > Decimal::ONE_HUNDRED {
                out.push(format!(
                    "{prefix}.{key} ({value}) must be between {lo} and {}",
                    Decimal::ONE_HUNDRED
                ));
            }
        }
        for (key, value) in [
            ("max_drawdown_halt_pct", self.max_drawdown_halt_pct),
            ("daily_loss_halt_pct", self.daily_loss_halt_pct),
        ] {
            if let Some(v) = value.filter(|v| *v <= Decimal::ZERO || *v >= Decimal::ONE_HUNDRED) {
                out.push(format!("{prefix}.{key} ({v}) must be > 0 and < 100"));
            }
        }
        out
    }

    /// Why the account must stop trading now, if it must: `equity` against the peak of the
    /// recorded runs and against the previous run's. `None` with the halts off.
    pub fn loss_halt(&self, equity: Decimal, record: &EquityRecord) -> Option<String> {
        let losses = record.losses(equity);
        let drawdown = self
            .max_drawdown_halt_pct
            .zip(losses.drawdown_pct)
            .filter(|(limit, dd)| dd > limit)
            .map(|(limit, dd)| {
                format!(
                    "the account ({equity:.2}) is {dd:.2}% below the peak of the recorded runs \
                     ({:.2}), over risk.max_drawdown_halt_pct ({limit})",
                    record.peak.unwrap_or_default()
                )
            });
        let daily = self
            .daily_loss_halt_pct
            .zip(losses.day_loss_pct)
            .filter(|(limit, loss)| loss > limit)
            .map(|(limit, loss)| {
                format!(
                    "the account ({equity:.2}) is {loss:.2}% below the previous run's ({:.2}), \
                     over risk.daily_loss_halt_pct ({limit})",
                    record.previous.unwrap_or_default()
                )
            });
        drawdown.or(daily)
    }
}

/// One configured loss halt against the account's loss, both in percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaltDistance {
    /// `drawdown` or `day loss`.
    pub name: &'static str,
    /// The loss (0 for a gain).
    pub loss_pct: Decimal,
    /// The configured limit.
    pub limit_pct: Decimal,
}

impl std::fmt::Display for HaltDistance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:.2}% of {}% allowed",
            self.name, self.loss_pct, self.limit_pct
        )
    }
}

impl Risk {
    /// Each configured loss halt against `losses` (empty with the halts off).
    pub fn halt_distances(&self, losses: Losses) -> Vec<HaltDistance> {
        [
            ("drawdown", self.max_drawdown_halt_pct, losses.drawdown_pct),
            ("day loss", self.daily_loss_halt_pct, losses.day_loss_pct),
        ]
        .into_iter()
        .filter_map(|(name, limit, loss)| {
            limit.map(|limit_pct| HaltDistance {
                name,
                loss_pct: loss.unwrap_or_default().max(Decimal::ZERO),
                limit_pct,
            })
        })
        .collect()
    }
}

/// The account values of the recorded runs that the loss halts compare with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EquityRecord {
    /// The highest account value after a recorded run.
    pub peak: Option<Decimal>,
    /// The account value after the previous run.
    pub previous: Option<Decimal>,
}

/// How far an account value is below the record (positive: a loss), in percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Losses {
    /// Below the peak.
    pub drawdown_pct: Option<Decimal>,
    /// Below the previous run.
    pub day_loss_pct: Option<Decimal>,
}

impl EquityRecord {
    /// The record of a series of account values after runs, oldest first.
    pub fn of(values: impl IntoIterator<Item = Decimal>) -> Self {
        values
            .into_iter()
            .fold(EquityRecord::default(), |r, v| EquityRecord {
                peak: Some(r.peak.map_or(v, |p| p.max(v))),
                previous: Some(v),
            })
    }

    /// The record of runs given as (value after the run, deposits less withdrawals the run
    /// listed, which arrived before that value), time-weighted as `report`'s drawdown and
    /// returns are: each flow carries the record forward ([`EquityRecord::with_flow`]), so
    /// a withdrawal is not a loss and a deposit hides none.
    pub fn of_runs(runs: impl IntoIterator<Item = (Decimal, Decimal)>) -> Self {
        runs.into_iter()
            .fold(EquityRecord::default(), |r, (value, flow)| {
                let r = r.with_flow(flow, value);
                EquityRecord {
                    peak: Some(r.peak.map_or(value, |p| p.max(value))),
                    previous: Some(value),
                }
            })
    }

    /// The record carried forward by `flow` (deposits less withdrawals) that arrived after
    /// the last recorded value and sat in cash until the account was worth `equity`, as
    /// `report` takes it: the strategy's own result is `equity - flow`, so the record is
    /// scaled by `equity / (equity - flow)` and the percent below the peak and below the
    /// previous run are the report's drawdown and day return. When nothing would be left
    /// without the flow (`equity <= flow`), the record moves by the flow in money instead.
    pub fn with_flow(self, flow: Decimal, equity: Decimal) -> Self {
        if flow.is_zero() {
            return self;
        }
        let own = equity - flow;
        let carry = |v: Decimal| match own > Decimal::ZERO {
            true => v * equity / own,
            false => v + flow,
        };
        EquityRecord {
            peak: self.peak.map(carry),
            previous: self.previous.map(carry),
        }
    }

    /// `equity` against the record.
    pub fn losses(&self, equity: Decimal) -> Losses {
        let below = |base: Option<Decimal>| {
            base.filter(|b| *b > Decimal::ZERO)
                .map(|b| ((b - equity) / b * Decimal::ONE_HUNDRED).round_dp(2))
        };
        // The peak includes the value now: at a new high the drawdown is 0, never negative.
        Losses {
            drawdown_pct: below(self.peak.map(|p| p.max(equity))),
            day_loss_pct: below(self.previous),
        }
    }
}

/// A value the risk gate let through. Only [`approve`] makes one, and only an approved plan
/// can be executed.
#[derive(Debug, Clone, PartialEq)]
pub struct Approved<T>(T);

impl<T> std::ops::Deref for Approved<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Why the risk gate refused a plan: every problem found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the risk gate refused the plan: {}", .0.join("; "))]
pub struct Refusal(pub Vec<String>);

/// The risk gate: the plan approved, or every problem of the projected account. Nothing is
/// sent unless this passes.
pub fn approve(plan: Plan, input: &PlanInput, risk: &Risk) -> Result<Approved<Plan>, Refusal> {
    risk_check(&plan, input, risk).map_err(Refusal)?;
    Ok(Approved(plan))
}

fn risk_check(plan: &Plan, input: &PlanInput, risk: &Risk) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let prices = |s: &str| price_of(input, s);
    let value = plan.projected.value(prices);
    if value <= Decimal::ZERO {
        return Err(vec![format!("the projected account value is {value:.2}")]);
    }
    let hundred = Decimal::ONE_HUNDRED;
    let gross: Decimal = plan
        .projected
        .positions
        .iter()
        .map(|(s, q)| prices(s).unwrap_or_default() * Decimal::from(*q).abs())
        .sum();
    let leverage = gross / value;
    if leverage > risk.max_total_leverage {
        problems.push(format!(
            "gross exposure {:.4} x equity is over risk.max_total_leverage {}",
            leverage, risk.max_total_leverage
        ));
    }
    for (symbol, q) in &plan.projected.positions {
        let pct = prices(symbol).unwrap_or_default() * Decimal::from(*q) / value * hundred;
        if pct > risk.max_position_pct {
            problems.push(format!(
                "{symbol} would be {pct:.2}% of equity, over risk.max_position_pct {}",
                risk.max_position_pct
            ));
        }
        if *q < 0 {
            problems.push(format!("{symbol} would be short ({q} shares)"));
        }
    }
    let cash_pct = plan.projected.cash / value * hundred;
    if plan.projected.cash < Decimal::ZERO || cash_pct < risk.min_cash_pct {
        problems.push(format!(
            "cash would be {:.2} ({cash_pct:.2}% of equity), under risk.min_cash_pct {}",
            plan.projected.cash, risk.min_cash_pct
        ));
    }
    for o in &plan.orders {
        if !input.symbols.contains(&o.symbol) {
            problems.push(format!("{} is not a traded symbol", o.symbol));
        }
        if o.quantity <= 0 {
            problems.push(format!("{} order of {} shares", o.symbol, o.quantity));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_halts_trigger_past_their_limits_and_stay_off_by_default() {
        let record = EquityRecord::of([d("10000"), d("12000"), d("11000")]);
        assert_eq!(record.peak, Some(d("12000")));
        assert_eq!(record.previous, Some(d("11000")));
        let losses = record.losses(d("10200"));
        assert_eq!(losses.drawdown_pct, Some(d("15")));
        assert_eq!(losses.day_loss_pct, Some(d("7.27")));
        assert_eq!(
            Risk::default().loss_halt(d("1"), &record),
            None,
            "off by default"
        );
        let drawdown = Risk {
            max_drawdown_halt_pct: Some(d("15")),
            ..Risk::default()
        };
        assert_eq!(
            drawdown.loss_halt(d("10200"), &record),
            None,
            "at the limit: no halt"
        );
        let why = drawdown.loss_halt(d("10100"), &record).unwrap();
        assert!(why.contains("15.83% below the peak"), "{why}");
        let daily = Risk {
            daily_loss_halt_pct: Some(d("5")),
            ..Risk::default()
        };
        let why = daily.loss_halt(d("10200"), &record).unwrap();
        assert!(
            why.contains("7.27% below the previous run's (11000.00)"),
            "{why}"
        );
        assert_eq!(daily.loss_halt(d("12500"), &record), None, "a gain");
        assert_eq!(
            daily.loss_halt(d("1"), &EquityRecord::default()),
            None,
            "no record yet"
        );
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn a_withdrawal_is_not_a_loss_and_a_deposit_hides_none() {
        // 10 000, then 15 000 after a 5 000 deposit, then 5 000 withdrawn and 9 500 left:
        // the 15 000 lost 500 (3.33 %), as `report`'s day return has it.
        let record = EquityRecord::of_runs([(d("10000"), d("0")), (d("15000"), d("5000"))]);
        assert_eq!(record.peak, Some(d("15000")));
        let now = record.with_flow(d("-5000"), d("9500"));
        let losses = now.losses(d("9500"));
        assert_eq!(losses.drawdown_pct, Some(d("3.33")));
        assert_eq!(losses.day_loss_pct, Some(d("3.33")));
        // A deposit of 5 000 that arrives with the 10 000 down to 8 500: a 15 % loss, which
        // the deposit does not dilute (it sat in cash), where 13 500 of 15 000 would say 10.
        let hid = EquityRecord::of_runs([(d("10000"), d("0"))]).with_flow(d("5000"), d("13500"));
        assert_eq!(hid.losses(d("13500")).drawdown_pct, Some(d("15")));
        // The same through the runs: a gain, a deposit, a loss, a deposit with a loss.
        let runs = [
            (d("10000"), d("0")),
            (d("11000"), d("0")),
            (d("16500"), d("5000")),
            (d("20000"), d("5000")),
        ];
        let record = EquityRecord::of_runs(runs);
        // Growth 1.1, then 1.1 * 11500/11000 = 1.15, then 1.15 * 15000/16500: the peak is
        // 1.15 of the start and the account is 15000/16500 of it, 9.09 % below.
        assert_eq!(record.losses(d("20000")).drawdown_pct, Some(d("9.09")));
        // Everything lost, then a deposit: the record moves by the deposit in money.
        let broke = EquityRecord::of_runs([(d("100"), d("0"))]).with_flow(d("500"), d("500"));
        assert_eq!(broke.peak, Some(d("600")));
    }

    #[test]
    fn a_new_high_is_no_drawdown_and_a_fall_from_it_is_positive() {
        let record = EquityRecord {
            peak: Some(d("10000")),
            previous: Some(d("10000")),
        };
        let high = record.losses(d("12100"));
        assert_eq!(high.drawdown_pct, Some(d("0")));
        // A gain is a negative day loss (the day P&L says it); the drawdown is never below 0.
        assert_eq!(high.day_loss_pct, Some(d("-21")));
        assert_eq!(record.losses(d("9500")).drawdown_pct, Some(d("5")));
    }

    fn input(weights: [&str; 5], remembered: Option<[&str; 5]>) -> PlanInput {
        let w = weights.map(d);
        let cash = Decimal::ONE - w.iter().copied().sum::<Decimal>();
        PlanInput {
            weights: Weights { legs: w, cash },
            remembered: remembered.map(|r| r.map(d)),
            recorded_positions: None,
            symbols: ["TQQQ", "QQQ", "PSQ", "TMF", "TMV"].map(String::from),
            positions: BTreeMap::new(),
            cash: d("10000"),
            buying_power: d("10000"),
            prices: [
                Some(d("50")),
                Some(d("500")),
                Some(d("30")),
                Some(d("40")),
                Some(d("35")),
            ],
            threshold: d("0.025"),
            costs: Costs {
                commission_per_share: d("0.01"),
                slippage: d("0.001"),
            },
            max_buying_power_pct: d("100"),
            min_trade_pct: d("0"),
            rebalance_cash: None,
            rebalance_on_flow_pct: d("2.5"),
            rebalance_due: None,
            fraction_value: d("0"),
        }
    }

    /// A settled account: 40 TQQQ and 16 QQQ at the targets 20 / 80, with `cash` and the
    /// cash left by the last rebalance.
    fn settled(cash: &str, at_rebalance: &str) -> PlanInput {
        let mut i = input(
            ["0.2", "0.8", "0", "0", "0"],
            Some(["0.2", "0.8", "0", "0", "0"]),
        );
        i.positions = BTreeMap::from([("TQQQ".into(), 40), ("QQQ".into(), 16)]);
        i.recorded_positions = Some(i.positions.clone());
        i.cash = d(cash);
        i.buying_power = d(cash);
        i.rebalance_cash = Some(d(at_rebalance));
        i
    }

    fn orders_of(p: &Plan) -> Vec<(String, Side, i64)> {
        p.orders
            .iter()
            .map(|o| (o.symbol.clone(), o.side, o.quantity))
            .collect()
    }

    #[test]
    fn a_deposit_over_the_flow_threshold_is_invested_at_the_targets() {
        // 10 000 in positions and 2 000 deposited: 16.7 % of 12 000 moved.
        let p = plan(&settled("2010", "10"));
        let Some(Trigger::CashMoved(pct)) = p.trigger.clone() else {
            panic!("{:?}", p.trigger);
        };
        assert_eq!(pct.round_dp(2), d("16.65"));
        assert!(p
            .trigger
            .as_ref()
            .unwrap()
            .explain()
            .unwrap()
            .contains("cash moved by 16.65%"));
        // 20 % of 12 010 in TQQQ at 50 (48 shares) and 80 % in QQQ at 500 (19): buys of
        // both, in proportion to the targets.
        assert_eq!(
            orders_of(&p),
            vec![("TQQQ".into(), Side::Buy, 8), ("QQQ".into(), Side::Buy, 3)]
        );
        // Under the threshold (1 % of equity), nothing is traded.
        let small = plan(&settled("110", "10"));
        assert_eq!(small.trigger, None);
        // The threshold at 0 turns the rule off.
        let mut off = settled("2010", "10");
        off.rebalance_on_flow_pct = d("0");
        assert_eq!(plan(&off).trigger, None);
        // No cash recorded at the last rebalance (a state from before the rule): nothing.
        let mut unknown = settled("2010", "10");
        unknown.rebalance_cash = None;
        assert_eq!(plan(&unknown).trigger, None);
    }

    #[test]
    fn a_withdrawal_that_needs_cash_sells_every_leg_pro_rata() {
        // 1 500 withdrawn from 1 600 of cash after margin use left the cash at -1 400.
        let p = plan(&settled("-1400", "100"));
        assert!(
            matches!(p.trigger, Some(Trigger::CashMoved(_))),
            "{:?}",
            p.trigger
        );
        let orders = orders_of(&p);
        assert!(
            orders.iter().all(|(_, side, _)| *side == Side::Sell),
            "{orders:?}"
        );
        assert_eq!(orders.len(), 2, "both legs give up their share: {orders:?}");
        // Whole shares nearest the targets: what is still borrowed is under one QQQ share.
        assert!(p.projected.cash > d("-500"), "{:?}", p.projected);
        assert!(
            p.projected.cash > d("-1400") + d("1000"),
            "{:?}",
            p.projected
        );
    }

    #[test]
    fn an_adoption_rebalances_from_the_adopted_positions() {
        // A manual sale of 20 TQQQ, adopted: the state records what the broker holds.
        let mut i = settled("1010", "10");
        i.positions = BTreeMap::from([("TQQQ".into(), 20), ("QQQ".into(), 16)]);
        i.recorded_positions = Some(i.positions.clone());
        i.rebalance_cash = Some(d("1010"));
        i.rebalance_due = Some("sold 20 TQQQ by hand".into());
        let p = plan(&i);
        assert_eq!(
            p.trigger,
            Some(Trigger::Adopted("sold 20 TQQQ by hand".into()))
        );
        assert_eq!(orders_of(&p), vec![("TQQQ".into(), Side::Buy, 20)]);
    }

    #[test]
    fn first_run_buys_the_targets_with_whole_shares() {
        let p = plan(&input(["0.6", "0.4", "0", "0", "0"], None));
        assert_eq!(p.trigger, Some(Trigger::FirstRun));
        let q: Vec<(String, i64)> = p
            .orders
            .iter()
            .map(|o| (o.symbol.clone(), o.quantity))
            .collect();
        // 6000 / (50.05 + 0.01) = 119.85 -> 119; then 40 % of the value left for QQQ.
        assert_eq!(q, vec![("TQQQ".into(), 119), ("QQQ".into(), 7)]);
        assert!(p.projected.cash >= Decimal::ZERO);
    }

    #[test]
    fn unchanged_target_and_positions_do_nothing() {
        let mut i = input(
            ["0.2", "0.8", "0", "0", "0"],
            Some(["0.2", "0.8", "0", "0", "0"]),
        );
        i.positions = BTreeMap::from([("TQQQ".into(), 40), ("QQQ".into(), 16)]);
        i.recorded_positions = Some(i.positions.clone());
        let p = plan(&i);
        assert_eq!(p.trigger, None);
        assert!(p.orders.is_empty());
    }

    #[test]
    fn manual_trade_is_drift_and_rebalances_back() {
        let mut i = input(
            ["0.2", "0.8", "0", "0", "0"],
            Some(["0.2", "0.8", "0", "0", "0"]),
        );
        i.recorded_positions = Some(BTreeMap::from([("TQQQ".into(), 40), ("QQQ".into(), 16)]));
        // TQQQ 2000 of 10000 is on target; QQQ 5000 is under its 80 %.
        i.positions = BTreeMap::from([("TQQQ".into(), 40), ("QQQ".into(), 10)]);
        i.cash = d("3000");
        let p = plan(&i);
        assert_eq!(
            p.trigger,
            Some(Trigger::PositionsDrifted(vec!["QQQ".into()]))
        );
        assert_eq!(p.orders.len(), 1);
        assert_eq!(
            (p.orders[0].symbol.as_str(), p.orders[0].side),
            ("QQQ", Side::Buy)
        );
    }

    #[test]
    fn small_orders_are_dropped_but_full_exits_are_kept() {
        let mut i = input(
            ["0", "1", "0", "0", "0"],
            Some(["0.2", "0.8", "0", "0", "0"]),
        );
        i.prices[1] = Some(d("100"));
        i.positions = BTreeMap::from([("TQQQ".into(), 2), ("QQQ".into(), 95)]);
        i.cash = d("400");
        i.min_trade_pct = d("5");
        let p = plan(&i);
        // TQQQ 2 shares (100) is a full exit: kept. QQQ +4 shares (400) is 4 %: dropped.
        assert_eq!(p.orders.len(), 1, "{:?}", p.orders);
        assert!(p.orders[0].full_exit);
        assert_eq!(p.dropped.len(), 1);
        assert!(p.dropped[0]
            .reason
            .contains("under execution.min_trade_pct"));
    }

    #[test]
    fn buying_power_reserve_is_left_unspent() {
        let mut i = input(["0", "1", "0", "0", "0"], None);
        i.max_buying_power_pct = d("90");
        let p = plan(&i);
        assert!(p.projected.cash >= d("1000"), "{}", p.projected.cash);
    }

    #[test]
    fn risk_gate_refuses_concentration_and_low_cash() {
        let i = input(["0", "1", "0", "0", "0"], None);
        let p = plan(&i);
        let risk = Risk {
            max_total_leverage: d("1"),
            max_position_pct: d("60"),
            min_cash_pct: d("5"),
            max_drift_pct: d("5"),
            ..Risk::default()
        };
        let Refusal(problems) = approve(p.clone(), &i, &risk).unwrap_err();
        assert!(
            problems.iter().any(|m| m.contains("QQQ would be")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|m| m.contains("under risk.min_cash_pct 5")),
            "{problems:?}"
        );
        assert_eq!(*approve(p.clone(), &i, &Risk::default()).unwrap(), p);
    }
}
