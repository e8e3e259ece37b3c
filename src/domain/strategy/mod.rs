//! Hierarchical Adaptive v3.5b: the regime model, the six-cell allocation and the
//! target-change rebalance rule, reproduced from `shared/spec/strategy-v3_5b.md`.
//!
//! Pure code: no I/O, no clock, no globals. [`Strategy`] holds the parameters and a plain,
//! serialisable [`StrategyState`]; the backtest and the live decision drive it through the
//! same calls, bar by bar.

pub mod kalman;
pub mod params;
mod shortest;
pub mod stats;

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use self::kalman::{KalmanParams, KalmanState, KalmanStep};
use self::params::StrategyParams;

/// Legs in the strategy's order: leveraged long, core long, inverse, bull bond, bear bond.
pub const LEGS: usize = 5;
/// Index of the leveraged long leg (TQQQ).
pub const LEVERAGED: usize = 0;
/// Index of the core long leg (QQQ).
pub const CORE: usize = 1;
/// Index of the inverse leg (PSQ).
pub const INVERSE: usize = 2;
/// Index of the bull bond leg (TMF).
pub const BULL_BOND: usize = 3;
/// Index of the bear bond leg (TMV).
pub const BEAR_BOND: usize = 4;

/// sqrt(252), the annualisation of daily volatility.
const SQRT_252: f64 = 15.874507866387544;

/// The latched volatility regime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum VolState {
    /// Low volatility (the initial state).
    #[default]
    Low,
    /// High volatility.
    High,
}

/// The trend regime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trend {
    /// Strong positive trend and a structural bull.
    BullStrong,
    /// Neither strong bull nor strong bear.
    Sideways,
    /// Strong negative trend and a structural bear.
    BearStrong,
}

/// The bond trend of the treasury overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BondTrend {
    /// Fast SMA above slow: long bonds (TMF).
    Bull,
    /// Otherwise: short bonds (TMV).
    Bear,
}

impl fmt::Display for VolState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
impl fmt::Display for Trend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
impl fmt::Display for BondTrend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Target weights: the five legs in [`LEGS`] order, and cash. They sum to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Weights {
    /// Leg weights (TQQQ, QQQ, PSQ, TMF, TMV with the golden symbols).
    pub legs: [Decimal; LEGS],
    /// Cash weight.
    pub cash: Decimal,
}

/// The treasury trend signal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BondSignal {
    /// Fast SMA of the treasury trend symbol.
    pub sma_fast: f64,
    /// Slow SMA.
    pub sma_slow: f64,
    /// Bull when fast > slow.
    pub trend: BondTrend,
}

/// One day's decision: the regime, its indicators and the target weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Normalised trend strength in [-1, 1] (a decimal, as in the original).
    pub t_norm: Decimal,
    /// Volatility z-score.
    pub z_score: f64,
    /// Fast SMA of the signal symbol.
    pub sma_fast: f64,
    /// Slow SMA.
    pub sma_slow: f64,
    /// Latched volatility state after the vol-crush override.
    pub vol_state: VolState,
    /// Trend classification.
    pub trend: Trend,
    /// Cell 1..6.
    pub cell: u8,
    /// The vol-crush override fired on this bar.
    pub vol_crush: bool,
    /// The bond trend, when the overlay is on and enough treasury bars exist.
    pub bond: Option<BondSignal>,
    /// Normalised target weights (before the one-share affordability filter).
    pub weights: Weights,
    /// The target differs from the remembered one by more than the threshold.
    pub rebalance: bool,
}

/// An order the strategy asks for: move leg `leg` to `target` of equity (0 = close it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderIntent {
    /// Leg index.
    pub leg: usize,
    /// Target fraction of equity.
    pub target: Decimal,
}

/// Everything the strategy remembers between bars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StrategyState {
    /// The Kalman filter.
    pub kalman: KalmanState,
    /// The last `closes_window()` closes of the signal symbol.
    pub closes: VecDeque<f64>,
    /// Annualised realised volatility of the most recent bars, oldest first.
    pub sigmas: VecDeque<f64>,
    /// The last closes of the treasury trend symbol.
    pub bond_closes: VecDeque<f64>,
    /// Latched volatility state.
    pub vol_state: VolState,
    /// Validated targets of the last rebalance (the "remembered weights").
    pub remembered: [Decimal; LEGS],
    /// Bars of every symbol stored so far (the original's day-one latch rule counts them).
    pub bars_stored: u64,
}

/// What one signal bar produced.
#[derive(Debug, Clone, Copy)]
pub struct SignalOutput {
    /// The Kalman update (for traces).
    pub kalman: KalmanStep,
    /// T_norm from this bar's strength.
    pub t_norm: Decimal,
    /// The decision, once enough bars exist.
    pub decision: Option<Decision>,
}

/// Parameters converted once to the forms the hot path needs.
#[derive(Debug, Clone)]
struct Prepared {
    kalman: KalmanParams,
    t_max: Decimal,
    bull: Decimal,
    bear: Decimal,
    rebalance_threshold: Decimal,
    leverage: Decimal,
    psq_weight: Decimal,
    max_bond_weight: Decimal,
    sigmas_kept: usize,
}

/// The strategy: parameters plus state.
#[derive(Debug, Clone)]
pub struct Strategy {
    params: StrategyParams,
    prepared: Prepared,
    /// The state; save it, and put a saved one back with [`Strategy::restore`] (which
    /// also forgets the log returns kept beside the closes).
    pub state: StrategyState,
    returns: LogReturns,
    /// The weights of cells 1 to 6, with no bond trend, bull bonds, bear bonds.
    weights: [[Weights; 3]; 6],
}

/// The log returns of the newest closes, kept beside them so that a bar computes one `ln`
/// instead of `realized_vol_window` of them: each is the same expression of the same two
/// closes, so the same double. Not part of the saved state: rebuilt from the closes when
/// it does not end at the close before the newest (a new strategy, a restored state).
#[derive(Debug, Clone, Default)]
struct LogReturns {
    values: VecDeque<f64>,
    /// The bits of the close the newest value ends at.
    ends_at: Option<u64>,
}

/// The decimal whose text is the shortest repr of `x` (Python's `Decimal(str(x))`).
pub fn decimal_from_f64(x: f64) -> Decimal {
    shortest::shortest_decimal(x).unwrap_or_else(|| decimal_from_f64_text(x))
}

/// [`decimal_from_f64`] through `f64`'s text, for what [`shortest`] leaves.
fn decimal_from_f64_text(x: f64) -> Decimal {
    Decimal::from_str(&x.to_string())
        .or_else(|_| Decimal::from_scientific(&format!("{x:e}")))
        .unwrap_or(Decimal::ZERO)
}

impl Strategy {
    /// A new strategy; the parameters must pass [`StrategyParams::problems`].
    pub fn new(params: StrategyParams) -> Result<Self, Vec<String>> {
        let problems = params.problems("strategy.parameters");
        if !problems.is_empty() {
            return Err(problems);
        }
        let prepared = Prepared {
            kalman: KalmanParams {
                measurement_noise: params.measurement_noise,
                process_noise_1: params.process_noise_1,
                process_noise_2: params.process_noise_2,
                osc_smoothness: params.osc_smoothness,
                strength_smoothness: params.strength_smoothness,
                symmetric_volume: params.symmetric_volume_adjustment,
                double_smoothing: params.double_smoothing,
            },
            t_max: decimal_from_f64(params.T_max),
            bull: decimal_from_f64(params.t_norm_bull_thresh),
            bear: decimal_from_f64(params.t_norm_bear_thresh),
            rebalance_threshold: decimal_from_f64(params.rebalance_threshold),
            leverage: decimal_from_f64(params.leverage_scalar),
            psq_weight: Decimal::new(5, 1).min(decimal_from_f64(params.w_PSQ_max)),
            max_bond_weight: decimal_from_f64(params.max_bond_weight),
            sigmas_kept: params
                .vol_baseline_window
                .max(params.vol_crush_lookback + 1),
        };
        let trends = [None, Some(BondTrend::Bull), Some(BondTrend::Bear)];
        let weights = std::array::from_fn(|i| {
            trends.map(|bond| cell_weights(&params, &prepared, i as u8 + 1, bond))
        });
        Ok(Strategy {
            params,
            prepared,
            weights,
            state: StrategyState::default(),
            returns: LogReturns::default(),
        })
    }

    /// The same strategy resumed from a saved state.
    pub fn with_state(mut self, state: StrategyState) -> Self {
        self.restore(state);
        self
    }

    /// Carries on from a saved state.
    pub fn restore(&mut self, state: StrategyState) {
        self.state = state;
        self.returns = LogReturns::default();
    }

    /// The parameters.
    pub fn params(&self) -> &StrategyParams {
        &self.params
    }

    /// Counts a stored bar of any symbol (call once per bar, before the signal bar's step).
    pub fn count_bar(&mut self) {
        self.state.bars_stored += 1;
    }

    /// Records a close of the treasury trend symbol.
    pub fn on_bond_close(&mut self, close: f64) {
        let cap = self.params.bond_sma_slow + 10;
        push_capped(&mut self.state.bond_closes, close, cap);
    }

    /// Forgets the remembered weights, forcing an allocation at the next decision (the
    /// original does this on the first bar of the trading period).
    pub fn reset_remembered(&mut self) {
        self.state.remembered = [Decimal::ZERO; LEGS];
    }

    /// Processes one bar of the signal symbol (spec section 3, steps 1-12).
    pub fn on_signal_bar(&mut self, close: f64, volume: f64) -> SignalOutput {
        let kalman = self
            .state
            .kalman
            .update(&self.prepared.kalman, close, volume);
        let t_norm = self.t_norm(kalman.strength);
        let p = &self.params;
        let (rvw, sma_slow, baseline) = (p.realized_vol_window, p.sma_slow, p.vol_baseline_window);
        push_capped(&mut self.state.closes, close, p.closes_window());
        let n = self.state.closes.len();
        if n > rvw {
            let sigma = self.latest_sigma();
            push_capped(&mut self.state.sigmas, sigma, self.prepared.sigmas_kept);
        }
        let decision = if n >= sma_slow && n >= baseline + rvw {
            Some(self.decide(t_norm))
        } else {
            None
        };
        SignalOutput {
            kalman,
            t_norm,
            decision,
        }
    }

    /// `clip(Decimal(str(strength)) / Decimal(T_max), -1, 1)`.
    fn t_norm(&self, strength: f64) -> Decimal {
        let s = decimal_from_f64(strength);
        let t = s.checked_div(self.prepared.t_max).unwrap_or(Decimal::ZERO);
        t.clamp(Decimal::NEGATIVE_ONE, Decimal::ONE)
    }

    /// Annualised sample std of the last `realized_vol_window` log returns.
    fn latest_sigma(&mut self) -> f64 {
        let rvw = self.params.realized_vol_window;
        let closes = &self.state.closes;
        let n = closes.len();
        let (newest, before) = (closes[n - 1], closes[n - 2]);
        let cache = &mut self.returns;
        if cache.ends_at == Some(before.to_bits()) && cache.values.len() == rvw {
            push_capped(&mut cache.values, (newest / before).ln(), rvw);
        } else {
            let start = n - rvw - 1;
            cache.values.clear();
            cache
                .values
                .extend((start..n - 1).map(|i| (closes[i + 1] / closes[i]).ln()));
        }
        cache.ends_at = Some(newest.to_bits());
        stats::sample_std(cache.values.make_contiguous()) * SQRT_252
    }

    fn decide(&mut self, t_norm: Decimal) -> Decision {
        let p = &self.params;
        let closes = &self.state.closes;
        let sma_fast = stats::window_mean(closes, p.sma_fast);
        let sma_slow = stats::window_mean(closes, p.sma_slow);

        // Volatility z-score against the last vol_baseline_window sigmas (current included).
        let sigmas = self.state.sigmas.make_contiguous();
        let baseline = &sigmas[sigmas.len() - p.vol_baseline_window..];
        let current = sigmas[sigmas.len() - 1];
        let (mean, sd) = stats::mean_and_sample_std(baseline);
        let z = if sd == 0.0 {
            0.0
        } else {
            (current - mean) / sd
        };

        // Hysteresis latch, or the original's day-one rule (counts every symbol's bars).
        let day_one = (p.sma_slow.max(p.vol_baseline_window) + 20) as u64;
        if self.state.bars_stored == day_one {
            self.state.vol_state = if z > 0.0 {
                VolState::High
            } else {
                VolState::Low
            };
        } else if z > p.upper_thresh_z {
            self.state.vol_state = VolState::High;
        } else if z < p.lower_thresh_z {
            self.state.vol_state = VolState::Low;
        }

        // Vol-crush override: a sharp fall of volatility forces Low, persistently.
        let earlier = sigmas[sigmas.len() - 1 - p.vol_crush_lookback];
        let vol_crush = earlier != 0.0 && (current - earlier) / earlier < p.vol_crush_threshold;
        if vol_crush {
            self.state.vol_state = VolState::Low;
        }

        let bull = sma_fast > sma_slow;
        let mut trend = if t_norm > self.prepared.bull && bull {
            Trend::BullStrong
        } else if t_norm < self.prepared.bear && !bull {
            Trend::BearStrong
        } else {
            Trend::Sideways
        };
        if vol_crush && trend == Trend::BearStrong {
            trend = Trend::Sideways;
        }
        let vol_state = self.state.vol_state;
        let cell = cell_of(trend, vol_state);
        let bond = if p.allow_treasury {
            self.bond_signal()
        } else {
            None
        };
        let weights = self.weights(cell, bond.map(|b| b.trend));
        let deviation = target_deviation(&weights, &self.state.remembered);
        Decision {
            t_norm,
            z_score: z,
            sma_fast,
            sma_slow,
            vol_state,
            trend,
            cell,
            vol_crush,
            bond,
            weights,
            rebalance: deviation > self.prepared.rebalance_threshold,
        }
    }

    fn bond_signal(&self) -> Option<BondSignal> {
        let p = &self.params;
        let closes = &self.state.bond_closes;
        let n = closes.len();
        if n < p.bond_sma_slow {
            return None;
        }
        let fast = stats::window_mean(closes, p.bond_sma_fast);
        let slow = stats::window_mean(closes, p.bond_sma_slow);
        Some(BondSignal {
            sma_fast: fast,
            sma_slow: slow,
            trend: if fast > slow {
                BondTrend::Bull
            } else {
                BondTrend::Bear
            },
        })
    }

    /// The weights of `cell` under the bond trend `bond`, from the table [`Strategy::new`]
    /// computed ([`cell_weights`] of every cell and trend: they depend on nothing else, and
    /// their seven decimal divisions were a tenth of a day's work).
    fn weights(&self, cell: u8, bond: Option<BondTrend>) -> Weights {
        let trend = match bond {
            None => 0,
            Some(BondTrend::Bull) => 1,
            Some(BondTrend::Bear) => 2,
        };
        match usize::from(cell)
            .checked_sub(1)
            .and_then(|i| self.weights.get(i))
        {
            Some(row) => row[trend],
            None => cell_weights(&self.params, &self.prepared, cell, bond),
        }
    }

    /// The rebalance threshold as a decimal.
    pub fn rebalance_threshold(&self) -> Decimal {
        self.prepared.rebalance_threshold
    }

    /// Turns a rebalancing decision into orders (section 5.2) and remembers the validated
    /// targets.
    pub fn emit_orders(
        &mut self,
        decision: &Decision,
        equity: Decimal,
        prices: &[Option<Decimal>; LEGS],
    ) -> Vec<OrderIntent> {
        let (validated, orders) =
            emit_orders(&decision.weights, &self.state.remembered, equity, prices);
        self.state.remembered = validated;
        orders
    }
}

/// Section 5.2 as a pure function: legs that cannot buy one share (`equity * w < price`, or
/// no price yet) are zeroed; then, in leg order, reductions (target 0 or below the
/// remembered weight) and then increases. Returns the validated targets and the orders.
pub fn emit_orders(
    weights: &Weights,
    remembered: &[Decimal; LEGS],
    equity: Decimal,
    prices: &[Option<Decimal>; LEGS],
) -> ([Decimal; LEGS], Vec<OrderIntent>) {
    let mut validated = weights.legs;
    for (leg, w) in validated.iter_mut().enumerate() {
        let affordable = match prices[leg] {
            Some(price) if price > Decimal::ZERO && *w > Decimal::ZERO => equity * *w >= price,
            _ => false,
        };
        if !affordable {
            *w = Decimal::ZERO;
        }
    }
    let mut orders = Vec::new();
    for leg in 0..LEGS {
        let target = validated[leg];
        if target.is_zero() || target < remembered[leg] {
            orders.push(OrderIntent { leg, target });
        }
    }
    for leg in 0..LEGS {
        if validated[leg] > remembered[leg] {
            orders.push(OrderIntent {
                leg,
                target: validated[leg],
            });
        }
    }
    (validated, orders)
}

/// The rebalance rule's measure: the summed absolute difference between the targets and the
/// remembered weights over the five legs (cash excluded).
pub fn target_deviation(weights: &Weights, remembered: &[Decimal; LEGS]) -> Decimal {
    weights
        .legs
        .iter()
        .zip(remembered.iter())
        .map(|(w, r)| (*r - *w).abs())
        .sum()
}

/// Cell weights, the treasury overlay, the leverage scalar and normalisation (section 4).
fn cell_weights(
    params: &StrategyParams,
    prepared: &Prepared,
    cell: u8,
    bond: Option<BondTrend>,
) -> Weights {
    let d = |units: i64, scale: u32| Decimal::new(units, scale);
    let mut legs = [Decimal::ZERO; LEGS];
    let mut cash = Decimal::ZERO;
    let psq = params.use_inverse_hedge;
    match cell {
        1 => {
            legs[LEVERAGED] = d(6, 1);
            legs[CORE] = d(4, 1);
        }
        2 => legs[CORE] = d(10, 1),
        3 => {
            legs[LEVERAGED] = d(2, 1);
            legs[CORE] = d(8, 1);
        }
        4 => cash = d(10, 1),
        5 => {
            legs[CORE] = d(5, 1);
            cash = d(5, 1);
        }
        _ if psq => {
            legs[INVERSE] = prepared.psq_weight;
            cash = Decimal::ONE - prepared.psq_weight;
        }
        _ => cash = d(10, 1),
    }
    let overlay = params.allow_treasury && (cell == 4 || cell == 5 || (cell == 6 && !psq));
    if overlay {
        let defensive = if cell == 5 { d(5, 1) } else { d(10, 1) };
        if let Some(trend) = bond {
            let bond_weight = (d(4, 1) * defensive).min(prepared.max_bond_weight);
            let leg = match trend {
                BondTrend::Bull => BULL_BOND,
                BondTrend::Bear => BEAR_BOND,
            };
            legs[leg] = bond_weight;
            cash = defensive - bond_weight;
        }
    }
    for leg in [LEVERAGED, CORE, INVERSE] {
        legs[leg] *= prepared.leverage;
    }
    let total: Decimal = legs.iter().copied().sum::<Decimal>() + cash;
    if total.is_zero() {
        return Weights { legs, cash };
    }
    Weights {
        legs: legs.map(|w| w / total),
        cash: cash / total,
    }
}

/// The cell of a trend and volatility state (section 4.1).
pub fn cell_of(trend: Trend, vol: VolState) -> u8 {
    match (trend, vol) {
        (Trend::BullStrong, VolState::Low) => 1,
        (Trend::BullStrong, VolState::High) => 2,
        (Trend::Sideways, VolState::Low) => 3,
        (Trend::Sideways, VolState::High) => 4,
        (Trend::BearStrong, VolState::Low) => 5,
        (Trend::BearStrong, VolState::High) => 6,
    }
}

fn push_capped(buf: &mut VecDeque<f64>, value: f64, cap: usize) {
    buf.push_back(value);
    if buf.len() > cap {
        buf.pop_front();
    }
}

/// A decimal weight as a double, for reports.
pub fn weight_f64(w: Decimal) -> f64 {
    w.to_f64().unwrap_or(f64::NAN)
}
