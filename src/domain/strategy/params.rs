//! Strategy parameters, under the original implementation's names so that a block from its
//! configuration can be pasted into `strategy.parameters`.

use serde::{Deserialize, Serialize};

/// When in the day the original took its signal price. Only `close` is implemented: the
/// intraday modes of the original leak the same day's close (spec section 8) and are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutionTime {
    /// At the open.
    #[serde(rename = "open")]
    Open,
    /// Fifteen minutes after the open.
    #[serde(rename = "15min_after_open")]
    FifteenAfterOpen,
    /// Fifteen minutes before the close.
    #[serde(rename = "15min_before_close")]
    FifteenBeforeClose,
    /// At the close (the golden run, and the only mode jutsu runs).
    #[serde(rename = "close")]
    Close,
}

/// Every parameter of Hierarchical Adaptive v3.5b (spec section 2). Defaults are the golden
/// values of `shared/reference/golden_params.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(non_snake_case)]
pub struct StrategyParams {
    /// Base Kalman measurement noise R0.
    pub measurement_noise: f64,
    /// Kalman process noise Q[0,0].
    pub process_noise_1: f64,
    /// Kalman process noise Q[1,1].
    pub process_noise_2: f64,
    /// WMA length of the trend oscillator (capped at 20).
    pub osc_smoothness: usize,
    /// Residuals needed before the oscillator starts; second WMA length with double smoothing.
    pub strength_smoothness: usize,
    /// Normaliser of the trend strength.
    pub T_max: f64,
    /// Symmetric volume rule for R (true) or the asymmetric one (false).
    pub symmetric_volume_adjustment: bool,
    /// A second WMA pass over the trend strength.
    pub double_smoothing: bool,
    /// Fast SMA of the signal symbol.
    pub sma_fast: usize,
    /// Slow SMA of the signal symbol.
    pub sma_slow: usize,
    /// T_norm above this (with a structural bull) is BullStrong.
    pub t_norm_bull_thresh: f64,
    /// T_norm below this (with a structural bear) is BearStrong.
    pub t_norm_bear_thresh: f64,
    /// Returns per realised-volatility estimate.
    pub realized_vol_window: usize,
    /// Volatility history for the z-score.
    pub vol_baseline_window: usize,
    /// The latch goes High when z is above this.
    pub upper_thresh_z: f64,
    /// The latch goes Low when z is below this.
    pub lower_thresh_z: f64,
    /// Relative volatility change that triggers the vol-crush override.
    pub vol_crush_threshold: f64,
    /// Bars between the two volatility readings of the vol-crush test.
    pub vol_crush_lookback: usize,
    /// Multiplies the TQQQ, QQQ and PSQ weights before normalisation.
    pub leverage_scalar: f64,
    /// PSQ in cell 6.
    pub use_inverse_hedge: bool,
    /// Cap on the PSQ weight.
    pub w_PSQ_max: f64,
    /// The treasury overlay (TMF/TMV in cells 4, 5, 6).
    pub allow_treasury: bool,
    /// Fast SMA of the treasury trend symbol.
    pub bond_sma_fast: usize,
    /// Slow SMA of the treasury trend symbol.
    pub bond_sma_slow: usize,
    /// Cap on the TMF/TMV weight.
    pub max_bond_weight: f64,
    /// Target-change threshold of the rebalance rule.
    pub rebalance_threshold: f64,
    /// Signal timing; only `close` runs.
    pub execution_time: ExecutionTime,
    /// Regime signals.
    pub signal_symbol: String,
    /// The 1x long asset.
    pub core_long_symbol: String,
    /// The 3x long asset.
    pub leveraged_long_symbol: String,
    /// The -1x asset.
    pub inverse_hedge_symbol: String,
    /// Bond-trend signal.
    pub treasury_trend_symbol: String,
    /// 3x long bonds.
    pub bull_bond_symbol: String,
    /// 3x short bonds.
    pub bear_bond_symbol: String,
}

impl Default for StrategyParams {
    fn default() -> Self {
        StrategyParams {
            measurement_noise: 3000.0,
            process_noise_1: 0.01,
            process_noise_2: 0.01,
            osc_smoothness: 10,
            strength_smoothness: 15,
            T_max: 50.0,
            symmetric_volume_adjustment: true,
            double_smoothing: false,
            sma_fast: 40,
            sma_slow: 140,
            t_norm_bull_thresh: 0.05,
            t_norm_bear_thresh: -0.3,
            realized_vol_window: 21,
            vol_baseline_window: 200,
            upper_thresh_z: 1.0,
            lower_thresh_z: 0.2,
            vol_crush_threshold: -0.15,
            vol_crush_lookback: 5,
            leverage_scalar: 1.0,
            use_inverse_hedge: false,
            w_PSQ_max: 0.5,
            allow_treasury: true,
            bond_sma_fast: 20,
            bond_sma_slow: 60,
            max_bond_weight: 0.4,
            rebalance_threshold: 0.025,
            execution_time: ExecutionTime::Close,
            signal_symbol: "QQQ".into(),
            core_long_symbol: "QQQ".into(),
            leveraged_long_symbol: "TQQQ".into(),
            inverse_hedge_symbol: "PSQ".into(),
            treasury_trend_symbol: "TLT".into(),
            bull_bond_symbol: "TMF".into(),
            bear_bond_symbol: "TMV".into(),
        }
    }
}

/// One strategy parameter whose value differs from the published set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamDifference {
    /// The parameter, under the original's name (`osc_smoothness`).
    pub name: String,
    /// The value in use.
    pub value: String,
    /// The published set's value.
    pub published: String,
}

impl std::fmt::Display for ParamDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} (published {})",
            self.name, self.value, self.published
        )
    }
}

/// A parameter's value as the configuration file writes it.
fn shown(value: &serde_norway::Value) -> String {
    match value {
        serde_norway::Value::String(s) => s.clone(),
        other => serde_norway::to_string(other)
            .map(|s| s.trim_end().to_string())
            .unwrap_or_default(),
    }
}

impl StrategyParams {
    /// The published v3.5b set, "Titan": the golden run's values (spec section 2), which are
    /// also the defaults.
    pub fn titan() -> Self {
        StrategyParams::default()
    }

    /// Every parameter whose value differs from `published`, in the struct's order, with
    /// both values. The names come from the serialized parameters, never from a list kept
    /// by hand, so a parameter added later is compared too.
    pub fn differences(&self, published: &StrategyParams) -> Vec<ParamDifference> {
        let (Ok(ours), Ok(theirs)) = (
            serde_norway::to_value(self),
            serde_norway::to_value(published),
        ) else {
            return Vec::new();
        };
        let (serde_norway::Value::Mapping(ours), serde_norway::Value::Mapping(theirs)) =
            (ours, theirs)
        else {
            return Vec::new();
        };
        ours.iter()
            .filter_map(|(key, value)| {
                let other = theirs
                    .get(key)
                    .cloned()
                    .unwrap_or(serde_norway::Value::Null);
                (*value != other).then(|| ParamDifference {
                    name: shown(key),
                    value: shown(value),
                    published: shown(&other),
                })
            })
            .collect()
    }

    /// Bars of the signal symbol kept for the SMA and volatility arrays (221 golden).
    pub fn closes_window(&self) -> usize {
        (self.sma_slow + 10).max(self.vol_baseline_window + self.realized_vol_window)
    }

    /// Bars needed before the first decision (spec section 6).
    pub fn warmup_bars(&self) -> usize {
        let bonds = if self.allow_treasury {
            self.bond_sma_slow
        } else {
            0
        };
        self.closes_window().max(bonds)
    }

    /// The traded symbols in the strategy's leg order: leveraged long, core long, inverse,
    /// bull bond, bear bond.
    pub fn traded_symbols(&self) -> [&str; 5] {
        [
            &self.leveraged_long_symbol,
            &self.core_long_symbol,
            &self.inverse_hedge_symbol,
            &self.bull_bond_symbol,
            &self.bear_bond_symbol,
        ]
    }

    /// Every symbol whose bars the strategy needs, signal first, without repeats.
    pub fn all_symbols(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let candidates = [
            self.signal_symbol.as_str(),
            self.core_long_symbol.as_str(),
            self.leveraged_long_symbol.as_str(),
            self.inverse_hedge_symbol.as_str(),
            self.treasury_trend_symbol.as_str(),
            self.bull_bond_symbol.as_str(),
            self.bear_bond_symbol.as_str(),
        ];
        for s in candidates {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
        out
    }

    /// Every problem with these parameters, each prefixed by `prefix` (the key path).
    /// The rules are the original constructor's (spec section 2) plus the bounds any
    /// window or noise needs to be meaningful.
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut bad = |key: &str, msg: String| out.push(format!("{prefix}.{key} {msg}"));
        self.threshold_problems(&mut bad);
        self.window_problems(&mut bad);
        out
    }

    /// Every real-valued parameter is a finite number.
    fn finite_problems(&self, bad: &mut impl FnMut(&str, String)) {
        for (key, value) in [
            ("measurement_noise", self.measurement_noise),
            ("process_noise_1", self.process_noise_1),
            ("process_noise_2", self.process_noise_2),
            ("T_max", self.T_max),
            ("t_norm_bull_thresh", self.t_norm_bull_thresh),
            ("t_norm_bear_thresh", self.t_norm_bear_thresh),
            ("upper_thresh_z", self.upper_thresh_z),
            ("lower_thresh_z", self.lower_thresh_z),
            ("vol_crush_threshold", self.vol_crush_threshold),
            ("leverage_scalar", self.leverage_scalar),
            ("w_PSQ_max", self.w_PSQ_max),
            ("max_bond_weight", self.max_bond_weight),
            ("rebalance_threshold", self.rebalance_threshold),
        ] {
            if !value.is_finite() {
                bad(key, format!("({value}) must be a finite number"));
            }
        }
    }

    /// Each threshold on its side, each pair in order.
    fn threshold_problems(&self, bad: &mut impl FnMut(&str, String)) {
        self.finite_problems(bad);
        if self.sma_fast >= self.sma_slow {
            bad(
                "sma_fast",
                format!("({}) must be < sma_slow ({})", self.sma_fast, self.sma_slow),
            );
        }
        if self.t_norm_bear_thresh >= 0.0 {
            bad(
                "t_norm_bear_thresh",
                format!("({}) must be < 0", self.t_norm_bear_thresh),
            );
        }
        if self.t_norm_bull_thresh <= 0.0 {
            bad(
                "t_norm_bull_thresh",
                format!("({}) must be > 0", self.t_norm_bull_thresh),
            );
        }
        if self.upper_thresh_z <= self.lower_thresh_z {
            bad(
                "upper_thresh_z",
                format!(
                    "({}) must be > lower_thresh_z ({})",
                    self.upper_thresh_z, self.lower_thresh_z
                ),
            );
        }
        if self.vol_crush_threshold >= 0.0 {
            bad(
                "vol_crush_threshold",
                format!("({}) must be < 0", self.vol_crush_threshold),
            );
        }
        if !(0.5..=1.5).contains(&self.leverage_scalar) {
            bad(
                "leverage_scalar",
                format!("({}) must be between 0.5 and 1.5", self.leverage_scalar),
            );
        }
        if self.w_PSQ_max <= 0.0 || self.w_PSQ_max > 1.0 {
            bad(
                "w_PSQ_max",
                format!("({}) must be > 0 and <= 1", self.w_PSQ_max),
            );
        }
        if self.rebalance_threshold <= 0.0 {
            bad(
                "rebalance_threshold",
                format!("({}) must be > 0", self.rebalance_threshold),
            );
        }
        if self.bond_sma_fast >= self.bond_sma_slow {
            bad(
                "bond_sma_fast",
                format!(
                    "({}) must be < bond_sma_slow ({})",
                    self.bond_sma_fast, self.bond_sma_slow
                ),
            );
        }
        if !(0.0..=1.0).contains(&self.max_bond_weight) {
            bad(
                "max_bond_weight",
                format!("({}) must be between 0 and 1", self.max_bond_weight),
            );
        }
    }

    /// The execution time, the positive noise terms and the windows (whole bars).
    fn window_problems(&self, bad: &mut impl FnMut(&str, String)) {
        if self.execution_time != ExecutionTime::Close {
            bad(
                "execution_time",
                "must be close: the intraday modes of the original leak the same day's close \
                 and are not implemented"
                    .to_string(),
            );
        }
        for (key, value) in [
            ("measurement_noise", self.measurement_noise),
            ("process_noise_1", self.process_noise_1),
            ("process_noise_2", self.process_noise_2),
            ("T_max", self.T_max),
        ] {
            if value <= 0.0 {
                bad(key, format!("({value}) must be positive"));
            }
        }
        for (key, value) in [
            ("osc_smoothness", self.osc_smoothness),
            ("strength_smoothness", self.strength_smoothness),
            ("sma_fast", self.sma_fast),
            ("bond_sma_fast", self.bond_sma_fast),
            ("vol_crush_lookback", self.vol_crush_lookback),
        ] {
            if value == 0 {
                bad(key, "must be at least 1".to_string());
            }
        }
        if self.realized_vol_window < 2 {
            bad(
                "realized_vol_window",
                format!("({}) must be at least 2", self.realized_vol_window),
            );
        }
        if self.vol_baseline_window < 2 {
            bad(
                "vol_baseline_window",
                format!("({}) must be at least 2", self.vol_baseline_window),
            );
        }
        if self.vol_crush_lookback >= self.vol_baseline_window {
            bad(
                "vol_crush_lookback",
                format!(
                    "({}) must be < vol_baseline_window ({})",
                    self.vol_crush_lookback, self.vol_baseline_window
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_each_changed_parameter_with_both_values() {
        assert!(StrategyParams::default()
            .differences(&StrategyParams::titan())
            .is_empty());
        let mut crept = StrategyParams::titan();
        crept.osc_smoothness = 15;
        crept.t_norm_bull_thresh = 0.2;
        crept.symmetric_volume_adjustment = false;
        crept.bull_bond_symbol = "UBT".into();
        let shown: Vec<String> = crept
            .differences(&StrategyParams::titan())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            [
                "osc_smoothness 15 (published 10)",
                "symmetric_volume_adjustment false (published true)",
                "t_norm_bull_thresh 0.2 (published 0.05)",
                "bull_bond_symbol UBT (published TMF)",
            ]
        );
    }
}
