//! The adaptive Kalman filter and its trend-strength oscillator (spec section 3.1).
//!
//! Volume-adjusted measurement noise, signed output. The arithmetic follows the original's
//! numpy expressions operation by operation (full 2x2 covariance, which is not kept
//! symmetric; the Kalman gain as `P * (1/S)`), so results agree with it to the last bits.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Residuals kept for the normaliser (fixed in the original).
pub const SIGMA_LOOKBACK: usize = 500;
/// Oscillator values kept (fixed in the original).
pub const TREND_LOOKBACK: usize = 20;

/// The filter's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KalmanParams {
    /// Base measurement noise R0.
    pub measurement_noise: f64,
    /// Q[0,0].
    pub process_noise_1: f64,
    /// Q[1,1].
    pub process_noise_2: f64,
    /// WMA length of the oscillator (capped at [`TREND_LOOKBACK`]).
    pub osc_smoothness: usize,
    /// Residuals needed before the oscillator starts; second WMA length.
    pub strength_smoothness: usize,
    /// `R = R0 * prev/v` (true) or `R = R0 * prev/max(prev, v)` (false).
    pub symmetric_volume: bool,
    /// A second WMA pass.
    pub double_smoothing: bool,
}

/// The filter's whole state: a plain value that can be saved and restored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct KalmanState {
    /// Bars seen.
    pub bars: u64,
    /// State [level, slope].
    pub x: [f64; 2],
    /// Covariance, row-major.
    pub p: [[f64; 2]; 2],
    /// Previous bar's volume.
    pub prev_volume: f64,
    /// |innovation| of the last [`SIGMA_LOOKBACK`] bars, oldest first.
    pub abs_innovations: VecDeque<f64>,
    /// Indices into `abs_innovations` (offset by `dropped`) of a decreasing run: the front
    /// is the window's maximum.
    max_candidates: VecDeque<(u64, f64)>,
    /// Residuals dropped from the front of `abs_innovations` so far.
    dropped: u64,
    /// Oscillator values, oldest first (at most [`TREND_LOOKBACK`]).
    pub oscillator: VecDeque<f64>,
    /// First-pass strengths for double smoothing (at most [`TREND_LOOKBACK`]).
    pub smoothed: VecDeque<f64>,
}

/// Everything one update computed (the columns of the reference trace).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KalmanStep {
    /// Measurement noise used (None on the first bar).
    pub r: Option<f64>,
    /// Innovation `c - predicted level` (None on the first bar).
    pub innovation: Option<f64>,
    /// Level after the update.
    pub level: f64,
    /// Slope after the update.
    pub slope: f64,
    /// Covariance after the update.
    pub p: [[f64; 2]; 2],
    /// Largest |innovation| in the window (None on the first bar).
    pub max_abs_innovation: Option<f64>,
    /// This bar's oscillator value, once the oscillator has started.
    pub oscillator: Option<f64>,
    /// The signed trend strength (0 until enough oscillator values exist).
    pub strength: f64,
}

impl KalmanState {
    /// Feeds one bar (close and volume) and returns what the filter computed.
    pub fn update(&mut self, params: &KalmanParams, close: f64, volume: f64) -> KalmanStep {
        if self.bars == 0 {
            self.bars = 1;
            self.x = [close, 0.0];
            self.p = [[1.0, 0.0], [0.0, 1.0]];
            self.prev_volume = volume;
            return KalmanStep {
                r: None,
                innovation: None,
                level: close,
                slope: 0.0,
                p: self.p,
                max_abs_innovation: None,
                oscillator: None,
                strength: 0.0,
            };
        }
        let [x0, x1] = self.x;
        let p = self.p;
        // Prediction: X- = F X, P- = (F P) F' + Q with F = [[1, 1], [0, 1]].
        let xp = [x0 + x1, x1];
        let fp = [[p[0][0] + p[1][0], p[0][1] + p[1][1]], [p[1][0], p[1][1]]];
        let pp = [
            [(fp[0][0] + fp[0][1]) + params.process_noise_1, fp[0][1]],
            [fp[1][0] + fp[1][1], fp[1][1] + params.process_noise_2],
        ];
        // Measurement noise scaled by the volume ratio.
        let r = if volume > 0.0 {
            let denominator = if params.symmetric_volume {
                volume
            } else {
                self.prev_volume.max(volume)
            };
            params.measurement_noise * (self.prev_volume / denominator)
        } else {
            params.measurement_noise
        };
        // Update: S = P-00 + R, K = P- H' inv(S), X = X- + K e, P = (I - K H) P-.
        let s = pp[0][0] + r;
        let inv_s = 1.0 / s;
        let k = [pp[0][0] * inv_s, pp[1][0] * inv_s];
        let innovation = close - xp[0];
        self.x = [xp[0] + k[0] * innovation, xp[1] + k[1] * innovation];
        // (I - K H) = [[1 - k0, 0], [-k1, 1]]; the zero and unit products are exact.
        let a = 1.0 - k[0];
        self.p = [
            [a * pp[0][0], a * pp[0][1]],
            [pp[1][0] - k[1] * pp[0][0], pp[1][1] - k[1] * pp[0][1]],
        ];
        let (max_abs, oscillator, strength) = self.trend_strength(params, innovation);
        self.prev_volume = volume;
        self.bars += 1;
        KalmanStep {
            r: Some(r),
            innovation: Some(innovation),
            level: self.x[0],
            slope: self.x[1],
            p: self.p,
            max_abs_innovation: Some(max_abs),
            oscillator,
            strength,
        }
    }

    /// Pushes |e| into the residual window and returns (window max, oscillator, strength).
    fn trend_strength(&mut self, params: &KalmanParams, e: f64) -> (f64, Option<f64>, f64) {
        let abs = e.abs();
        let index = self.dropped + self.abs_innovations.len() as u64;
        self.abs_innovations.push_back(abs);
        while self.max_candidates.back().is_some_and(|&(_, v)| v <= abs) {
            self.max_candidates.pop_back();
        }
        self.max_candidates.push_back((index, abs));
        if self.abs_innovations.len() > SIGMA_LOOKBACK {
            self.abs_innovations.pop_front();
            self.dropped += 1;
        }
        while self
            .max_candidates
            .front()
            .is_some_and(|&(i, _)| i < self.dropped)
        {
            self.max_candidates.pop_front();
        }
        let max = self.max_candidates.front().map_or(0.0, |&(_, v)| v);
        if self.abs_innovations.len() < params.strength_smoothness {
            return (max, None, 0.0);
        }
        let oscillator = if max > 0.0 { (e / max) * 100.0 } else { 0.0 };
        push_capped(&mut self.oscillator, oscillator, TREND_LOOKBACK);
        let n = params.osc_smoothness.min(TREND_LOOKBACK);
        if self.oscillator.len() < n {
            return (max, Some(oscillator), 0.0);
        }
        let first = wma(&self.oscillator, n);
        if !params.double_smoothing {
            return (max, Some(oscillator), first);
        }
        push_capped(&mut self.smoothed, first, TREND_LOOKBACK);
        let m = params.strength_smoothness;
        let strength = if self.smoothed.len() >= m {
            wma(&self.smoothed, m)
        } else {
            first
        };
        (max, Some(oscillator), strength)
    }
}

fn push_capped(buf: &mut VecDeque<f64>, value: f64, cap: usize) {
    buf.push_back(value);
    if buf.len() > cap {
        buf.pop_front();
    }
}

/// Weighted moving average of the last `n` values, weights 1..n oldest to newest:
/// `sum(k * v_k) / (n (n + 1) / 2)`, summed oldest first.
fn wma(values: &VecDeque<f64>, n: usize) -> f64 {
    let start = values.len() - n;
    let mut dot = 0.0;
    for (k, v) in values.range(start..).enumerate() {
        dot += *v * (k + 1) as f64;
    }
    let weights: f64 = (1..=n).map(|k| k as f64).sum();
    dot / weights
}
