//! The configuration file (`config/jutsu.yaml`): typed, with documented defaults, unknown
//! keys rejected, and every problem reported at once with its key path.
//!
//! Relative paths in the file are relative to the directory of the file itself, so the same
//! file works whatever directory cron starts jutsu in. Secrets are never in the file: `*_env`
//! keys name environment variables that hold them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_norway::Value;

use crate::error::{Error, Result};
use crate::portfolio::Costs;
use crate::secret::Secret;
use crate::strategy::params::StrategyParams;

/// The default configuration file, relative to the working directory.
pub const DEFAULT_CONFIG_PATH: &str = "config/jutsu.yaml";

/// How orders are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Every stage runs but no order is sent; the plan is printed and recorded.
    DryRun,
    /// Orders go to the simulated broker (Schwab has no paper-trading API).
    #[default]
    Paper,
    /// Real orders at Schwab.
    Live,
}

impl Mode {
    /// The name used in the config file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::DryRun => "dry_run",
            Mode::Paper => "paper",
            Mode::Live => "live",
        }
    }
}

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

/// Transport security of the SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS.
    Starttls,
    /// Implicit TLS (usually port 465).
    Tls,
    /// No encryption: allowed only to a loopback host.
    Plain,
}

/// The whole configuration. Every section may be omitted; its defaults apply.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Config {
    /// `dry_run`, `paper` or `live`.
    pub mode: Mode,
    /// Where jutsu keeps its files.
    pub paths: Paths,
    /// When the daily run happens.
    pub schedule: Schedule,
    /// Market data.
    pub data: Data,
    /// Order handling.
    pub execution: Execution,
    /// The risk gate.
    pub risk: Risk,
    /// The simulated broker (paper mode).
    pub sim: Sim,
    /// Costs of `jutsu backtest`.
    pub backtest: Backtest,
    /// The Schwab API.
    pub schwab: Schwab,
    /// Email, webhook and dead-man's switch.
    pub alerts: Alerts,
    /// The strategy and its parameters.
    pub strategy: Strategy,
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
}

impl Default for Data {
    fn default() -> Self {
        Data {
            source: DataSource::Local,
            dir: "../data".into(),
            history_start: NaiveDate::from_ymd_opt(2009, 2, 26).unwrap_or_default(),
            trading_start: NaiveDate::from_ymd_opt(2010, 1, 1).unwrap_or_default(),
            local_quote: LocalQuote::Close,
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
}

impl Default for Execution {
    fn default() -> Self {
        Execution {
            max_quote_age_s: 120,
            max_buying_power_pct: Decimal::new(98, 0),
            min_trade_pct: Decimal::new(5, 0),
            slippage_warn_pct: Decimal::new(3, 1),
            slippage_error_pct: Decimal::new(5, 1),
            slippage_abort_pct: Decimal::new(10, 1),
            max_order_retries: 3,
            order_timeout_s: 60,
        }
    }
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
}

impl Default for Risk {
    fn default() -> Self {
        Risk {
            max_total_leverage: Decimal::ONE,
            max_position_pct: Decimal::new(100, 0),
            min_cash_pct: Decimal::ZERO,
            max_drift_pct: Decimal::new(5, 0),
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

/// The Schwab API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Schwab {
    /// Environment variable holding the app key.
    pub app_key_env: String,
    /// Environment variable holding the app secret.
    pub app_secret_env: String,
    /// The callback URL registered with the app.
    pub callback_url: String,
    /// OAuth endpoints.
    pub oauth_base_url: String,
    /// Trader API.
    pub trader_base_url: String,
    /// Market data API.
    pub marketdata_base_url: String,
    /// Token file (schwab-py format, mode 0600), relative to the config file.
    pub token_file: PathBuf,
    /// Plain account number to trade; the first linked account when absent.
    pub account_number: Option<String>,
    /// Seconds to wait for one answer from Schwab.
    pub request_timeout_s: u64,
}

impl Default for Schwab {
    fn default() -> Self {
        Schwab {
            app_key_env: "SCHWAB_APP_KEY".into(),
            app_secret_env: "SCHWAB_APP_SECRET".into(),
            callback_url: "https://127.0.0.1:8182".into(),
            oauth_base_url: "https://api.schwabapi.com/v1/oauth".into(),
            trader_base_url: "https://api.schwabapi.com/trader/v1".into(),
            marketdata_base_url: "https://api.schwabapi.com/marketdata/v1".into(),
            token_file: "../state/token.json".into(),
            account_number: None,
            request_timeout_s: 30,
        }
    }
}

/// Alert channels.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Alerts {
    /// Email over SMTP.
    pub email: Email,
    /// JSON POST to a URL, for chat tools and push services.
    pub webhook_url: Option<String>,
    /// URL pinged at the end of every completed run.
    pub deadman_url: Option<String>,
}

/// Email over SMTP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Email {
    /// Send email at all.
    pub enabled: bool,
    /// SMTP server.
    pub smtp_host: String,
    /// SMTP port.
    pub smtp_port: u16,
    /// `starttls`, `tls`, or `plain` (loopback only).
    pub security: SmtpSecurity,
    /// SMTP user name; no login when absent.
    pub username: Option<String>,
    /// Environment variable holding the SMTP password.
    pub password_env: Option<String>,
    /// Sender address.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
}

impl Default for Email {
    fn default() -> Self {
        Email {
            enabled: false,
            smtp_host: String::new(),
            smtp_port: 587,
            security: SmtpSecurity::Starttls,
            username: None,
            password_env: None,
            from: String::new(),
            to: Vec::new(),
        }
    }
}

/// The strategy.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Strategy {
    /// The original's parameter names and the golden values by default.
    pub parameters: StrategyParams,
}

/// Secrets read from the environment, as the configuration asks.
#[derive(Debug, Default)]
pub struct Secrets {
    /// Schwab app key.
    pub app_key: Option<Secret>,
    /// Schwab app secret.
    pub app_secret: Option<Secret>,
    /// SMTP password.
    pub smtp_password: Option<Secret>,
}

/// A loaded, validated configuration and the file it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// The file.
    pub path: PathBuf,
    /// Its directory, against which relative paths are resolved.
    pub base_dir: PathBuf,
}

impl Loaded {
    /// `path` resolved against the config file's directory (`..` folded away).
    pub fn resolve(&self, path: &Path) -> PathBuf {
        let joined = if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        };
        let mut out = PathBuf::new();
        for part in joined.components() {
            match part {
                std::path::Component::ParentDir if out.file_name().is_some() => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                other => out.push(other),
            }
        }
        out
    }

    /// The state folder.
    pub fn state_dir(&self) -> PathBuf {
        self.resolve(&self.config.paths.state_dir)
    }

    /// The logs folder.
    pub fn logs_dir(&self) -> PathBuf {
        self.resolve(&self.config.paths.logs_dir)
    }

    /// The folder of local daily bars.
    pub fn data_dir(&self) -> PathBuf {
        self.resolve(&self.config.data.dir)
    }
}

/// Like [`load`], and also checks that every secret the configuration names is in the
/// environment: a missing variable is listed together with the file's other problems.
pub fn load_with_secrets(
    path: &Path,
    mode: Option<Mode>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded> {
    let secrets_of = |config: &Config| {
        let mut config = config.clone();
        if let Some(mode) = mode {
            config.mode = mode;
        }
        config.secrets(lookup).map(|_| ())
    };
    match load(path) {
        Ok(loaded) => match secrets_of(&loaded.config) {
            Ok(_) => Ok(loaded),
            Err(problems) => Err(Error::Config {
                path: path.to_path_buf(),
                problems,
            }),
        },
        Err(Error::Config { path, mut problems }) => {
            // The file's text, read as far as it goes, still names the variables.
            if let Ok(text) = std::fs::read_to_string(&path) {
                if let Some(partial) = parse_lenient(&text) {
                    if let Err(missing) = secrets_of(&partial) {
                        problems.extend(missing);
                    }
                }
            }
            Err(Error::Config { path, problems })
        }
        Err(e) => Err(e),
    }
}

/// Reads, parses and validates the configuration file. Every problem (unknown keys, wrong
/// types, bad values) is reported at once in one [`Error::Config`].
pub fn load(path: &Path) -> Result<Loaded> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        problems: vec![format!(
            "cannot read the file ({e}); pass another with -c or set JUTSU_CONFIG"
        )],
    })?;
    let config = parse(&text).map_err(|problems| Error::Config {
        path: path.to_path_buf(),
        problems,
    })?;
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base_dir = std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
    Ok(Loaded {
        config,
        path: path.to_path_buf(),
        base_dir,
    })
}

/// Parses and validates YAML text; on failure, every problem found.
pub fn parse(text: &str) -> std::result::Result<Config, Vec<String>> {
    let (config, problems) = parse_all(text)?;
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

/// The configuration as far as it can be read (defaults where a section is wrong), or
/// `None` when the text is not a YAML mapping at all.
fn parse_lenient(text: &str) -> Option<Config> {
    parse_all(text).ok().map(|(config, _)| config)
}

/// Parses YAML text into a configuration (defaults where a section is wrong) and every
/// problem found; `Err` only when the text is not a YAML mapping at all.
fn parse_all(text: &str) -> std::result::Result<(Config, Vec<String>), Vec<String>> {
    let mut problems = Vec::new();
    let root: Value = match serde_norway::from_str(text) {
        Ok(Value::Null) => Value::Mapping(Default::default()),
        Ok(v) => v,
        Err(e) => return Err(vec![format!("not valid YAML: {e}")]),
    };
    let Value::Mapping(map) = root else {
        return Err(vec![
            "the file must be a mapping of sections (mode, schedule, ...)".into(),
        ]);
    };
    let mut sections: BTreeMap<String, Value> = BTreeMap::new();
    for (key, value) in map {
        match key {
            Value::String(k) => {
                sections.insert(k, value);
            }
            other => problems.push(format!("{other:?}: keys must be strings")),
        }
    }
    const KNOWN: [&str; 11] = [
        "mode",
        "paths",
        "schedule",
        "data",
        "execution",
        "risk",
        "sim",
        "backtest",
        "schwab",
        "alerts",
        "strategy",
    ];
    for key in sections.keys() {
        if !KNOWN.contains(&key.as_str()) {
            problems.push(match suggest(key, &KNOWN) {
                Some(hint) => format!("{key}: unknown key (did you mean {hint}?)"),
                None => format!("{key}: unknown key (expected one of: {})", KNOWN.join(", ")),
            });
        }
    }
    let mut section = |name: &str| sections.remove(name);
    let config = Config {
        mode: decode(section("mode"), "mode", &mut problems),
        paths: decode(section("paths"), "paths", &mut problems),
        schedule: decode(section("schedule"), "schedule", &mut problems),
        data: decode(section("data"), "data", &mut problems),
        execution: decode(section("execution"), "execution", &mut problems),
        risk: decode(section("risk"), "risk", &mut problems),
        sim: decode(section("sim"), "sim", &mut problems),
        backtest: decode(section("backtest"), "backtest", &mut problems),
        schwab: decode(section("schwab"), "schwab", &mut problems),
        alerts: decode_alerts(section("alerts"), &mut problems),
        strategy: decode_strategy(section("strategy"), &mut problems),
    };
    problems.extend(validate(&config));
    Ok((config, problems))
}

/// The known key closest to a mistyped one: the same but for case, or within two edits
/// (a letter added, dropped, changed or two swapped: `max_drfit_pct` -> `max_drift_pct`).
fn suggest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let key = key.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (strsim::osa_distance(&key, &k.to_ascii_lowercase()), *k))
        .filter(|(d, k)| *d <= 2 && *d < k.len().max(key.len()) / 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The keys a section's struct knows at `path` (dotted, within the section), read from
/// its defaults serialized: the list follows the struct, never a copy kept by hand.
fn keys_at<T: Serialize + Default>(path: &str) -> Vec<String> {
    let Ok(mut value) = serde_norway::to_value(T::default()) else {
        return Vec::new();
    };
    for part in path.split('.').filter(|p| !p.is_empty()) {
        value = match value {
            Value::Mapping(mut m) => m.remove(part).unwrap_or(Value::Null),
            _ => Value::Null,
        };
    }
    match value {
        Value::Mapping(m) => m
            .keys()
            .filter_map(|k| k.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// An unknown key's problem, with a suggestion when one is close.
fn unknown_key<T: Serialize + Default>(prefix: &str, path: &str) -> String {
    let (parent, key) = path.rsplit_once('.').unwrap_or(("", path));
    let known = keys_at::<T>(parent);
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    match suggest(key, &known) {
        Some(hint) => format!("{prefix}.{path}: unknown key (did you mean {hint}?)"),
        None => format!("{prefix}.{path}: unknown key"),
    }
}

/// Decodes one section, recording unknown keys and the first type error with their paths.
fn decode<T: DeserializeOwned + Serialize + Default>(
    value: Option<Value>,
    prefix: &str,
    problems: &mut Vec<String>,
) -> T {
    let Some(value) = value else {
        return T::default();
    };
    if value.is_null() {
        return T::default();
    }
    let mut unknown = Vec::new();
    let mut on_unknown = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let de = serde_ignored::Deserializer::new(value, &mut on_unknown);
    let result: std::result::Result<T, _> = serde_path_to_error::deserialize(de);
    for key in unknown {
        problems.push(unknown_key::<T>(prefix, &key));
    }
    match result {
        Ok(v) => v,
        Err(e) => {
            let path = e.path().to_string();
            let at = if path == "." || path.is_empty() {
                prefix.to_string()
            } else {
                format!("{prefix}.{path}")
            };
            problems.push(format!("{at}: {}", e.into_inner()));
            T::default()
        }
    }
}

/// Splits a mapping section into its keys, reporting unknown ones.
fn split(
    value: Option<Value>,
    prefix: &str,
    known: &[&str],
    problems: &mut Vec<String>,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(map)) => {
            for (k, v) in map {
                let key = match k {
                    Value::String(s) => s,
                    other => format!("{other:?}"),
                };
                if known.contains(&key.as_str()) {
                    out.insert(key, v);
                } else if let Some(hint) = suggest(&key, known) {
                    problems.push(format!(
                        "{prefix}.{key}: unknown key (did you mean {hint}?)"
                    ));
                } else {
                    problems.push(format!("{prefix}.{key}: unknown key"));
                }
            }
        }
        Some(_) => problems.push(format!("{prefix}: must be a mapping")),
    }
    out
}

fn decode_alerts(value: Option<Value>, problems: &mut Vec<String>) -> Alerts {
    let mut parts = split(
        value,
        "alerts",
        &["email", "webhook_url", "deadman_url"],
        problems,
    );
    Alerts {
        email: decode(parts.remove("email"), "alerts.email", problems),
        webhook_url: decode(parts.remove("webhook_url"), "alerts.webhook_url", problems),
        deadman_url: decode(parts.remove("deadman_url"), "alerts.deadman_url", problems),
    }
}

fn decode_strategy(value: Option<Value>, problems: &mut Vec<String>) -> Strategy {
    let mut parts = split(value, "strategy", &["parameters"], problems);
    let params = split(
        parts.remove("parameters"),
        "strategy.parameters",
        &PARAMETER_KEYS,
        problems,
    );
    // Each parameter on its own, so that every bad value is reported, not only the first.
    let mut merged = serde_norway::Mapping::new();
    for (key, value) in params {
        let probe: Value = Value::Mapping(
            [(Value::String(key.clone()), value.clone())]
                .into_iter()
                .collect(),
        );
        let before = problems.len();
        let _: StrategyParams = decode(Some(probe), "strategy.parameters", problems);
        if problems.len() == before {
            merged.insert(Value::String(key), value);
        }
    }
    Strategy {
        parameters: decode(
            Some(Value::Mapping(merged)),
            "strategy.parameters",
            problems,
        ),
    }
}

/// The keys of `strategy.parameters`.
const PARAMETER_KEYS: [&str; 34] = [
    "measurement_noise",
    "process_noise_1",
    "process_noise_2",
    "osc_smoothness",
    "strength_smoothness",
    "T_max",
    "symmetric_volume_adjustment",
    "double_smoothing",
    "sma_fast",
    "sma_slow",
    "t_norm_bull_thresh",
    "t_norm_bear_thresh",
    "realized_vol_window",
    "vol_baseline_window",
    "upper_thresh_z",
    "lower_thresh_z",
    "vol_crush_threshold",
    "vol_crush_lookback",
    "leverage_scalar",
    "use_inverse_hedge",
    "w_PSQ_max",
    "allow_treasury",
    "bond_sma_fast",
    "bond_sma_slow",
    "max_bond_weight",
    "rebalance_threshold",
    "execution_time",
    "signal_symbol",
    "core_long_symbol",
    "leveraged_long_symbol",
    "inverse_hedge_symbol",
    "treasury_trend_symbol",
    "bull_bond_symbol",
    "bear_bond_symbol",
];

/// Every semantic problem of a structurally valid configuration.
pub fn validate(c: &Config) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(c.strategy.parameters.problems("strategy.parameters"));

    if c.mode == Mode::Live && c.data.source == DataSource::Local {
        out.push(
            "data.source (local) must be schwab when mode is live: live orders need live quotes"
                .into(),
        );
    }
    if c.data.history_start >= c.data.trading_start {
        out.push(format!(
            "data.history_start ({}) must be before data.trading_start ({})",
            c.data.history_start, c.data.trading_start
        ));
    }
    if c.schedule.minutes_before_close == 0 || c.schedule.minutes_before_close > 180 {
        out.push(format!(
            "schedule.minutes_before_close ({}) must be between 1 and 180",
            c.schedule.minutes_before_close
        ));
    }
    if c.schedule.late_tolerance_minutes >= c.schedule.minutes_before_close {
        out.push(format!(
            "schedule.late_tolerance_minutes ({}) must be < minutes_before_close ({}): \
             orders must be in before the close",
            c.schedule.late_tolerance_minutes, c.schedule.minutes_before_close
        ));
    }

    let hundred = Decimal::new(100, 0);
    let pct_in = |key: &str, v: Decimal, lo: Decimal, hi: Decimal, out: &mut Vec<String>| {
        if v < lo || v > hi {
            out.push(format!("{key} ({v}) must be between {lo} and {hi}"));
        }
    };
    let e = &c.execution;
    pct_in(
        "execution.max_buying_power_pct",
        e.max_buying_power_pct,
        Decimal::ONE,
        hundred,
        &mut out,
    );
    pct_in(
        "execution.min_trade_pct",
        e.min_trade_pct,
        Decimal::ZERO,
        hundred,
        &mut out,
    );
    if !(Decimal::ZERO < e.slippage_warn_pct
        && e.slippage_warn_pct <= e.slippage_error_pct
        && e.slippage_error_pct <= e.slippage_abort_pct)
    {
        out.push(format!(
            "execution.slippage_warn_pct ({}), slippage_error_pct ({}) and slippage_abort_pct ({}) \
             must be positive and in increasing order",
            e.slippage_warn_pct, e.slippage_error_pct, e.slippage_abort_pct
        ));
    }
    if e.max_quote_age_s == 0 {
        out.push("execution.max_quote_age_s must be at least 1".into());
    }
    if e.max_order_retries > 10 {
        out.push(format!(
            "execution.max_order_retries ({}) must be at most 10",
            e.max_order_retries
        ));
    }

    let r = &c.risk;
    if r.max_total_leverage <= Decimal::ZERO || r.max_total_leverage > Decimal::new(2, 0) {
        out.push(format!(
            "risk.max_total_leverage ({}) must be > 0 and <= 2",
            r.max_total_leverage
        ));
    }
    pct_in(
        "risk.max_position_pct",
        r.max_position_pct,
        Decimal::ONE,
        hundred,
        &mut out,
    );
    pct_in(
        "risk.min_cash_pct",
        r.min_cash_pct,
        Decimal::ZERO,
        hundred,
        &mut out,
    );
    pct_in(
        "risk.max_drift_pct",
        r.max_drift_pct,
        Decimal::ZERO,
        hundred,
        &mut out,
    );

    for (key, cash, commission, slippage) in [
        (
            "sim",
            c.sim.initial_cash,
            c.sim.commission_per_share,
            c.sim.slippage_pct,
        ),
        (
            "backtest",
            c.backtest.initial_capital,
            c.backtest.commission_per_share,
            c.backtest.slippage_pct,
        ),
    ] {
        let cash_key = if key == "sim" {
            "initial_cash"
        } else {
            "initial_capital"
        };
        if cash <= Decimal::ZERO {
            out.push(format!("{key}.{cash_key} ({cash}) must be positive"));
        }
        if commission < Decimal::ZERO {
            out.push(format!(
                "{key}.commission_per_share ({commission}) must not be negative"
            ));
        }
        pct_in(
            &format!("{key}.slippage_pct"),
            slippage,
            Decimal::ZERO,
            Decimal::new(10, 0),
            &mut out,
        );
    }

    let s = &c.schwab;
    for (key, url) in [
        ("schwab.oauth_base_url", &s.oauth_base_url),
        ("schwab.trader_base_url", &s.trader_base_url),
        ("schwab.marketdata_base_url", &s.marketdata_base_url),
    ] {
        if let Err(problem) = check_url(url) {
            out.push(format!("{key} ({url}) {problem}"));
        }
    }
    if let Err(problem) = check_url(&s.callback_url) {
        out.push(format!(
            "schwab.callback_url ({}) {problem}",
            s.callback_url
        ));
    }
    for (key, name) in [
        ("schwab.app_key_env", Some(&s.app_key_env)),
        ("schwab.app_secret_env", Some(&s.app_secret_env)),
        (
            "alerts.email.password_env",
            c.alerts.email.password_env.as_ref(),
        ),
    ] {
        if let Some(name) = name {
            if !is_env_name(name) {
                out.push(format!(
                    "{key} must name an environment variable (letters, digits and _), \
                     not hold the secret itself"
                ));
            }
        }
    }
    if !(1..=120).contains(&s.request_timeout_s) {
        out.push(format!(
            "schwab.request_timeout_s ({}) must be between 1 and 120",
            s.request_timeout_s
        ));
    }
    if let Some(n) = &s.account_number {
        if n.is_empty() || !n.chars().all(|ch| ch.is_ascii_digit()) {
            out.push("schwab.account_number must be the plain account number (digits)".into());
        }
    }

    let m = &c.alerts.email;
    if m.enabled {
        if m.smtp_host.is_empty() {
            out.push("alerts.email.smtp_host is required when email is enabled".into());
        }
        if !m.from.contains('@') {
            out.push(format!(
                "alerts.email.from ({}) must be an email address",
                m.from
            ));
        }
        if m.to.is_empty() {
            out.push("alerts.email.to must list at least one recipient".into());
        }
        for (i, to) in m.to.iter().enumerate() {
            if !to.contains('@') {
                out.push(format!(
                    "alerts.email.to[{i}] ({to}) must be an email address"
                ));
            }
        }
        if m.security == SmtpSecurity::Plain && !is_loopback_host(&m.smtp_host) {
            out.push(format!(
                "alerts.email.security plain is allowed only to a loopback host, not {}",
                m.smtp_host
            ));
        }
        if m.username.is_some() && m.password_env.is_none() {
            out.push("alerts.email.password_env is required with alerts.email.username".into());
        }
    }
    for (key, url) in [
        ("alerts.webhook_url", &c.alerts.webhook_url),
        ("alerts.deadman_url", &c.alerts.deadman_url),
    ] {
        if let Some(url) = url {
            if let Err(problem) = check_url(url) {
                out.push(format!("{key} {problem}"));
            }
        }
    }
    out
}

/// `https`, or `http` to a loopback host (tests and local mocks).
fn check_url(text: &str) -> std::result::Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("is not a URL: {e}"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if url.host_str().is_some_and(is_loopback_host) => Ok(()),
        "http" => Err("must use https (plain http is allowed only for loopback)".into()),
        other => Err(format!("has scheme {other}; expected https")),
    }
}

fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Config {
    /// True when running in `mode` talks to Schwab: live orders, or Schwab market data.
    pub fn uses_schwab(&self, mode: Mode) -> bool {
        mode == Mode::Live || self.data.source == DataSource::Schwab
    }

    /// Reads the secrets this configuration needs from the environment (through `lookup`,
    /// so tests can inject one). Schwab keys are needed in live mode or with Schwab data; the
    /// SMTP password when email logs in. A missing variable is an error naming the variable,
    /// never a value.
    pub fn secrets(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> std::result::Result<Secrets, Vec<String>> {
        let mut problems = Vec::new();
        let mut fetch = |key: &str, name: &str| match lookup(name) {
            Some(v) if !v.is_empty() => Some(Secret::new(v)),
            _ => {
                problems.push(format!(
                    "{key}: environment variable {name} is not set (it must hold the secret)"
                ));
                None
            }
        };
        let needs_schwab = self.uses_schwab(self.mode);
        let mut secrets = Secrets::default();
        if needs_schwab {
            secrets.app_key = fetch("schwab.app_key_env", &self.schwab.app_key_env);
            secrets.app_secret = fetch("schwab.app_secret_env", &self.schwab.app_secret_env);
        }
        let email = &self.alerts.email;
        if email.enabled && email.username.is_some() {
            if let Some(name) = &email.password_env {
                secrets.smtp_password = fetch("alerts.email.password_env", name);
            }
        }
        if problems.is_empty() {
            Ok(secrets)
        } else {
            Err(problems)
        }
    }

    /// The Schwab app key and secret, whatever the mode (for `jutsu auth`).
    pub fn schwab_secrets(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> std::result::Result<(Secret, Secret), Vec<String>> {
        let fetch = |key: &str, name: &str| match lookup(name) {
            Some(v) if !v.is_empty() => Ok(Secret::new(v)),
            _ => Err(format!(
                "{key}: environment variable {name} is not set (it must hold the secret)"
            )),
        };
        match (
            fetch("schwab.app_key_env", &self.schwab.app_key_env),
            fetch("schwab.app_secret_env", &self.schwab.app_secret_env),
        ) {
            (Ok(key), Ok(secret)) => Ok((key, secret)),
            (a, b) => Err([a.err(), b.err()].into_iter().flatten().collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_documented_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.mode, Mode::Paper);
        assert_eq!(c.schedule.minutes_before_close, 5);
        assert_eq!(c.execution.min_trade_pct, Decimal::new(5, 0));
        assert_eq!(c.strategy.parameters, StrategyParams::default());
    }

    #[test]
    fn url_rules() {
        assert!(check_url("https://api.schwabapi.com/trader/v1").is_ok());
        assert!(check_url("http://127.0.0.1:9000/x").is_ok());
        assert!(check_url("http://[::1]:9000/x").is_ok());
        assert!(check_url("http://localhost:9000").is_ok());
        assert!(check_url("http://api.schwabapi.com").is_err());
        assert!(check_url("ftp://127.0.0.1").is_err());
    }
}
