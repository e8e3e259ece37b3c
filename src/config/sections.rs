//! The smaller sections: paths, schedule, data, execution, the simulator, the backtest and
//! the strategy. Each checks itself with `problems(prefix)`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::rules::pct_in;
use crate::domain::market::QuoteLimits;
use crate::domain::portfolio::Costs;
use crate::domain::strategy::params::StrategyParams;

/// Where market data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataSource {
    /// Daily bars from CSV files in `data.dir` (the embedded default).
    Local,
    /// Schwab's market data API.
    Schwab,
}

/// Which bar price stands in for a live quote when running on local bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalQuote {
    /// The day's close.
    Close,
    /// The day's open.
    Open,
}

/// Folders, relative to the config file's directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Paths {
    /// State, run ledgers, the simulated account, the halt flag and the token.
    pub state_dir: PathBuf,
    /// Daily log files, `trades.csv`, `validation.csv`.
    pub logs_dir: PathBuf,
}

impl Default for Paths {
    fn default() -> Self {
        Paths {
            state_dir: "../state".into(),
            logs_dir: "../logs".into(),
        }
    }
}

/// When the run happens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Schedule {
    /// The run instant is the close minus this many minutes (5: 15:55, or 12:55 on early closes).
    pub minutes_before_close: u32,
    /// A run started this many minutes before the run instant waits for it.
    pub early_tolerance_minutes: u32,
    /// A run started more than this many minutes after the run instant is refused.
    pub late_tolerance_minutes: u32,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            minutes_before_close: 5,
            early_tolerance_minutes: 10,
            late_tolerance_minutes: 3,
        }
    }
}

/// Market data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Data {
    /// `local` (CSV bars) or `schwab`.
    pub source: DataSource,
    /// Folder of `<SYMBOL>.csv` daily bars for the local source and backtests.
    pub dir: PathBuf,
    /// First bar fed to the strategy (the Kalman filter's state depends on it).
    pub history_start: NaiveDate,
    /// First day of the trading period of the strategy replay (orders before are warmup).
    pub trading_start: NaiveDate,
    /// On local bars, the price that stands in for the live quote.
    pub local_quote: LocalQuote,
    /// The local bar store (SQLite): on Schwab data, the history is read from it and only
    /// what it lacks is fetched. None: every run fetches the whole history.
    pub store: Option<PathBuf>,
}

impl Default for Data {
    fn default() -> Self {
        Data {
            source: DataSource::Local,
            dir: "../data".into(),
            history_start: NaiveDate::from_ymd_opt(2009, 2, 26).unwrap_or_default(),
            trading_start: NaiveDate::from_ymd_opt(2010, 1, 1).unwrap_or_default(),
            local_quote: LocalQuote::Close,
            store: None,
        }
    }
}

/// Order handling.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Execution {
    /// Quotes older than this are refused.
    pub max_quote_age_s: u64,
    /// At most this percentage of buying power is used.
    pub max_buying_power_pct: Decimal,
    /// Orders smaller than this percentage of equity are dropped, except full exits.
    pub min_trade_pct: Decimal,
    /// Cash moved without a trade since the last rebalance (deposits, withdrawals,
    /// dividends) by more than this percentage of equity makes the next run rebalance to
    /// the current targets; 0 turns it off. The default is the strategy's own threshold.
    pub rebalance_on_flow_pct: Decimal,
    /// Slippage (percent, adverse only) that logs a warning.
    pub slippage_warn_pct: Decimal,
    /// Slippage that logs an error.
    pub slippage_error_pct: Decimal,
    /// Slippage that stops further orders.
    pub slippage_abort_pct: Decimal,
    /// Retries for the unfilled remainder of an order.
    pub max_order_retries: u32,
    /// How long to wait for an order to finish.
    pub order_timeout_s: u64,
    /// `market` (the default) or `limit`: a marketable limit order with a price collar.
    pub order_type: OrderKind,
    /// With `order_type: limit`, a buy is limited at ask x (1 + collar), a sell at
    /// bid x (1 - collar), in percent.
    pub limit_collar_pct: Decimal,
    /// A quote whose spread is wider than this (percent of the mid price) stops the run.
    pub max_spread_pct: Decimal,
    /// The last trade may lie this many percent outside the bid/ask band.
    pub quote_band_pct: Decimal,
    /// A quote this many percent or more from the previous close stops the run, unless the
    /// symbol has its own limit in `max_move_pct_by_symbol`.
    pub max_move_pct: Decimal,
    /// Move limits of single symbols (the unleveraged ones move less).
    pub max_move_pct_by_symbol: BTreeMap<String, Decimal>,
    /// Where the broker gives a mark, it and the last trade may differ by this many percent.
    pub max_mark_gap_pct: Decimal,
    /// Live mode: every order is first sent to Schwab's previewOrder; a reject stops it.
    pub preview: bool,
    /// Preview warnings (by rule name, e.g. LEVERAGED_ETF_WARNING) that stop the order too.
    pub preview_stop_codes: Vec<String>,
}

/// How orders are priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// Market orders: they fill, at whatever the market gives.
    #[default]
    Market,
    /// Marketable limit orders with a collar: never worse than the collar, may not fill.
    Limit,
}

impl Execution {
    /// How long an order is followed before it is canceled (`order_timeout_s`, one second
    /// at least).
    pub fn order_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.order_timeout_s.max(1))
    }
}

impl Default for Execution {
    fn default() -> Self {
        Execution {
            max_quote_age_s: 120,
            max_buying_power_pct: Decimal::new(98, 0),
            min_trade_pct: Decimal::new(5, 0),
            rebalance_on_flow_pct: Decimal::new(25, 1),
            slippage_warn_pct: Decimal::new(3, 1),
            slippage_error_pct: Decimal::new(5, 1),
            slippage_abort_pct: Decimal::new(10, 1),
            max_order_retries: 3,
            order_timeout_s: 60,
            order_type: OrderKind::Market,
            limit_collar_pct: Decimal::new(5, 1),
            max_spread_pct: Decimal::ONE,
            quote_band_pct: Decimal::new(5, 1),
            max_move_pct: Decimal::new(40, 0),
            max_move_pct_by_symbol: [("QQQ", 20), ("TLT", 15), ("PSQ", 20)]
                .into_iter()
                .map(|(s, pct)| (s.to_string(), Decimal::new(pct, 0)))
                .collect(),
            max_mark_gap_pct: Decimal::ONE,
            preview: false,
            preview_stop_codes: Vec::new(),
        }
    }
}

/// The simulated broker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Sim {
    /// Cash of a new simulated account.
    pub initial_cash: Decimal,
    /// Commission per share.
    pub commission_per_share: Decimal,
    /// Slippage in percent of the reference price (buys pay more, sells receive less).
    pub slippage_pct: Decimal,
    /// On local bars: `as_traded` (the prices that traded that day, splits applied to the
    /// positions on their dates, dividends paid on their ex-dates) or `adjusted` (the
    /// split-adjusted bars as they are, no corporate action: the backtest's world).
    pub prices: SimPrices,
    /// The corporate actions of the bundled symbols (default `actions.csv` in `data.dir`;
    /// without the file the simulator knows none, the same as `adjusted`).
    pub actions_file: Option<std::path::PathBuf>,
}

/// Which prices the simulator trades at on local bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SimPrices {
    /// The prices that really traded, with splits and dividends as they happened.
    #[default]
    AsTraded,
    /// The split-adjusted bars, with no corporate action (as the backtest trades).
    Adjusted,
}

impl Sim {
    /// The simulator's commission and slippage.
    pub fn costs(&self) -> Costs {
        Costs {
            commission_per_share: self.commission_per_share,
            slippage: self.slippage_pct / Decimal::ONE_HUNDRED,
        }
    }
}

impl Default for Sim {
    fn default() -> Self {
        Sim {
            initial_cash: Decimal::new(10_000, 0),
            commission_per_share: Decimal::new(1, 2),
            slippage_pct: Decimal::new(1, 1),
            prices: SimPrices::AsTraded,
            actions_file: None,
        }
    }
}

/// Costs and capital of `jutsu backtest` (the reference's values by default).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Backtest {
    /// Starting cash.
    pub initial_capital: Decimal,
    /// Commission per share.
    pub commission_per_share: Decimal,
    /// Slippage in percent of the price.
    pub slippage_pct: Decimal,
}

impl Backtest {
    /// The backtest's commission and slippage.
    pub fn costs(&self) -> Costs {
        Costs {
            commission_per_share: self.commission_per_share,
            slippage: self.slippage_pct / Decimal::ONE_HUNDRED,
        }
    }
}

impl Default for Backtest {
    fn default() -> Self {
        Backtest {
            initial_capital: Decimal::new(10_000, 0),
            commission_per_share: Decimal::new(1, 2),
            slippage_pct: Decimal::new(1, 1),
        }
    }
}

/// The strategy.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Strategy {
    /// The original's parameter names and the golden values by default.
    pub parameters: StrategyParams,
    /// The parameter set the account must run: `titan` (the published v3.5b set) makes any
    /// parameter that differs from it an error in live mode. Absent: differences are listed
    /// by `config check` and `health`, and allowed.
    pub expect: Option<ExpectedSet>,
}

/// A published parameter set `strategy.expect` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedSet {
    /// The published v3.5b set ("Titan"): the golden run's values.
    Titan,
}

impl Strategy {
    /// Every parameter that differs from the published v3.5b ("Titan") set, with both values.
    pub fn creep(&self) -> Vec<crate::domain::strategy::params::ParamDifference> {
        self.parameters.differences(&StrategyParams::titan())
    }

    /// The differences from the published set that `mode` refuses: all of them when the
    /// mode is live and `expect` is `titan`, none otherwise. Each names the key and both
    /// values.
    pub fn creep_problems(&self, mode: crate::domain::Mode) -> Vec<String> {
        if mode != crate::domain::Mode::Live || self.expect != Some(ExpectedSet::Titan) {
            return Vec::new();
        }
        self.creep()
            .iter()
            .map(|d| {
                format!(
                    "strategy.parameters.{} is {}, the published v3.5b (Titan) set has {}: \
                     strategy.expect titan refuses any difference in live mode",
                    d.name, d.value, d.published
                )
            })
            .collect()
    }
}

impl Schedule {
    /// Every problem of this section, each with its key path under `prefix`.
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.minutes_before_close == 0 || self.minutes_before_close > 180 {
            out.push(format!(
                "{prefix}.minutes_before_close ({}) must be between 1 and 180",
                self.minutes_before_close
            ));
        }
        if self.late_tolerance_minutes >= self.minutes_before_close {
            out.push(format!(
                "{prefix}.late_tolerance_minutes ({}) must be < minutes_before_close ({}): \
                 orders must be in before the close",
                self.late_tolerance_minutes, self.minutes_before_close
            ));
        }
        out
    }
}

impl Data {
    /// Every problem of this section, each with its key path under `prefix`.
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.history_start >= self.trading_start {
            out.push(format!(
                "{prefix}.history_start ({}) must be before {prefix}.trading_start ({})",
                self.history_start, self.trading_start
            ));
        }
        out
    }
}

impl Execution {
    /// Every problem of this section, each with its key path under `prefix`.
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        let hundred = Decimal::ONE_HUNDRED;
        pct_in(
            &mut out,
            &format!("{prefix}.max_buying_power_pct"),
            self.max_buying_power_pct,
            Decimal::ONE,
            hundred,
        );
        pct_in(
            &mut out,
            &format!("{prefix}.min_trade_pct"),
            self.min_trade_pct,
            Decimal::ZERO,
            hundred,
        );
        pct_in(
            &mut out,
            &format!("{prefix}.rebalance_on_flow_pct"),
            self.rebalance_on_flow_pct,
            Decimal::ZERO,
            hundred,
        );
        if !(Decimal::ZERO < self.slippage_warn_pct
            && self.slippage_warn_pct <= self.slippage_error_pct
            && self.slippage_error_pct <= self.slippage_abort_pct)
        {
            out.push(format!(
                "{prefix}.slippage_warn_pct ({}), slippage_error_pct ({}) and slippage_abort_pct \
                 ({}) must be positive and in increasing order",
                self.slippage_warn_pct, self.slippage_error_pct, self.slippage_abort_pct
            ));
        }
        if self.max_quote_age_s == 0 {
            out.push(format!("{prefix}.max_quote_age_s must be at least 1"));
        }
        let mut bounded: Vec<(String, Decimal, Decimal)> = [
            (
                "limit_collar_pct",
                self.limit_collar_pct,
                Decimal::new(5, 0),
            ),
            ("max_spread_pct", self.max_spread_pct, Decimal::TEN),
            ("max_move_pct", self.max_move_pct, hundred),
            ("max_mark_gap_pct", self.max_mark_gap_pct, Decimal::TEN),
        ]
        .into_iter()
        .map(|(key, value, hi)| (key.to_string(), value, hi))
        .collect();
        bounded.extend(
            self.max_move_pct_by_symbol
                .iter()
                .map(|(symbol, pct)| (format!("max_move_pct_by_symbol.{symbol}"), *pct, hundred)),
        );
        for (key, value, hi) in bounded {
            if value <= Decimal::ZERO || value > hi {
                out.push(format!("{prefix}.{key} ({value}) must be > 0 and <= {hi}"));
            }
        }
        pct_in(
            &mut out,
            &format!("{prefix}.quote_band_pct"),
            self.quote_band_pct,
            Decimal::ZERO,
            Decimal::new(10, 0),
        );
        if self.max_order_retries > 10 {
            out.push(format!(
                "{prefix}.max_order_retries ({}) must be at most 10",
                self.max_order_retries
            ));
        }
        out
    }
}

/// `jutsu status --watch`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Watch {
    /// Seconds between two reads of the quotes (the view redraws every second).
    pub quote_interval_s: u64,
}

impl Default for Watch {
    fn default() -> Self {
        Watch {
            quote_interval_s: 15,
        }
    }
}

impl Watch {
    /// Every problem of this section, each with its key path under `prefix`.
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        if (1..=3600).contains(&self.quote_interval_s) {
            Vec::new()
        } else {
            vec![format!(
                "{prefix}.quote_interval_s ({}) must be between 1 and 3600",
                self.quote_interval_s
            )]
        }
    }
}

impl Execution {
    /// The quote checks for `symbol`.
    pub fn quote_limits(&self, symbol: &str) -> QuoteLimits {
        QuoteLimits {
            band_pct: self.quote_band_pct,
            max_spread_pct: self.max_spread_pct,
            max_move_pct: self
                .max_move_pct_by_symbol
                .get(symbol)
                .copied()
                .unwrap_or(self.max_move_pct),
            max_mark_gap_pct: self.max_mark_gap_pct,
        }
    }
}

impl Sim {
    /// Every problem of this section, each with its key path under `prefix`.
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        positive(
            &mut out,
            &format!("{prefix}.initial_cash"),
            self.initial_cash,
        );
        out.extend(self.costs().problems(prefix));
        out
    }
}

impl Backtest {
    /// Every problem of this section, each with its key path under `prefix`.
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        positive(
            &mut out,
            &format!("{prefix}.initial_capital"),
            self.initial_capital,
        );
        out.extend(self.costs().problems(prefix));
        out
    }
}

fn positive(out: &mut Vec<String>, key: &str, value: Decimal) {
    if value <= Decimal::ZERO {
        out.push(format!("{key} ({value}) must be positive"));
    }
}

/// The Prometheus textfile-collector file.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Metrics {
    /// Where to write it after every command that acts (relative to the configuration's
    /// folder); node_exporter's `--collector.textfile.directory` reads `*.prom` files.
    pub textfile: Option<std::path::PathBuf>,
}

impl Metrics {
    /// Every problem of this section, each with its key path under `prefix`.
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        match &self.textfile {
            Some(path) if path.extension().is_none_or(|e| e != "prom") => vec![format!(
                "{prefix}.textfile ({}) must end in .prom: node_exporter reads only *.prom files",
                path.display()
            )],
            _ => Vec::new(),
        }
    }
}
