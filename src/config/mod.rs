//! The configuration file (`config/jutsu.yaml`): typed, with documented defaults, unknown
//! keys rejected, and every problem reported at once with its key path.
//!
//! One file a section: each section's struct has its defaults and checks itself with
//! `problems(prefix)`; [`Config::problems`] adds the rules that span sections. Relative paths in
//! the file are relative to the directory of the file itself, so the same file works whatever
//! directory cron starts jutsu in. Secrets are never in the file: `*_env` keys name environment
//! variables that hold them.

mod alerts;
mod parse;
mod rules;
mod schwab;
mod sections;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use self::alerts::{Alerts, Email, Level, Notify, Outcome, Sms, SmtpSecurity, WebhookFormat};
pub use self::parse::parse;
pub use self::schwab::Schwab;
pub use self::sections::{
    Backtest, Data, DataSource, Execution, ExpectedSet, LocalQuote, Metrics, OrderKind, Paths,
    Schedule, Sim, SimPrices, Strategy, Watch,
};
pub use crate::domain::plan::Risk;
pub use crate::domain::readiness::Readiness;
pub use crate::domain::Mode;
use crate::support::error::{Error, Result};
use crate::support::secret::Secret;

/// The default configuration file, relative to the working directory.
pub const DEFAULT_CONFIG_PATH: &str = "config/jutsu.yaml";

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
    /// Email, SMS, webhook and dead-man's switch.
    pub alerts: Alerts,
    /// The strategy and its parameters.
    pub strategy: Strategy,
    /// `jutsu status --watch`.
    pub watch: Watch,
    /// The Prometheus textfile.
    pub metrics: Metrics,
    /// The phase criteria of `jutsu readiness` and the live gate's waiver.
    pub readiness: Readiness,
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
    /// The webhook URL, when it comes from the environment (`alerts.webhook_url_env`).
    pub webhook_url: Option<Secret>,
    /// The SMS provider's auth token (`alerts.sms.auth_token_env`).
    pub sms_token: Option<Secret>,
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
    load_checked(path, &|config: &Config| {
        let mut config = config.clone();
        if let Some(mode) = mode {
            config.mode = mode;
        }
        let mut problems = config.secrets(lookup).err().unwrap_or_default();
        problems.extend(config.live_on_local_problem(config.mode));
        match problems.is_empty() {
            true => Ok(()),
            false => Err(problems),
        }
    })
}

impl Config {
    /// Live orders on the bundled bars: refused, since live orders need live quotes.
    pub fn live_on_local_problem(&self, mode: Mode) -> Option<String> {
        (mode == Mode::Live && self.data.source == DataSource::Local).then(|| {
            "data.source is local (the bundled bars) but the mode is live: live orders need \
             live quotes. Set data.source: schwab for live trading, or run with --mode paper \
             or --mode dry_run"
                .to_string()
        })
    }
}

/// What `config check` checks: [`load_with_secrets`] in the file's mode, and the strategy
/// parameters against the published set when `strategy.expect` names it and the mode is
/// live; every problem listed at once.
pub fn load_for_check(path: &Path, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Loaded> {
    let base = Loaded {
        config: Config::default(),
        path: path.to_path_buf(),
        base_dir: base_dir(path),
    };
    load_checked(path, &|config: &Config| {
        let mut problems = config.secrets(lookup).err().unwrap_or_default();
        problems.extend(config.strategy.creep_problems(config.mode));
        problems.extend(data_dir_problem(config, &base));
        problems.extend(config.live_on_local_problem(config.mode));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    })
}

/// On local bars (without a bar store), `data.dir` must be a folder holding the signal
/// symbol's bars: a run would stop at fetch otherwise.
fn data_dir_problem(config: &Config, base: &Loaded) -> Option<String> {
    if config.data.source != DataSource::Local || config.data.store.is_some() {
        return None;
    }
    let dir = base.resolve(&config.data.dir);
    let signal = &config.strategy.parameters.signal_symbol;
    let file = dir.join(format!("{signal}.csv"));
    if !dir.is_dir() {
        Some(format!(
            "data.dir: {} is not a folder (data.source is local: the bars are read from there)",
            dir.display()
        ))
    } else if !file.is_file() {
        Some(format!(
            "data.dir: {} holds no {signal}.csv (the signal symbol's daily bars)",
            dir.display()
        ))
    } else {
        None
    }
}

/// The folder relative paths of the file at `path` resolve against.
fn base_dir(path: &Path) -> PathBuf {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf())
}

/// Loads the file and adds the problems `more` finds in it (in the configuration as far as
/// it reads, when the file has problems of its own).
fn load_checked(
    path: &Path,
    more: &dyn Fn(&Config) -> std::result::Result<(), Vec<String>>,
) -> Result<Loaded> {
    match load(path) {
        Ok(loaded) => match more(&loaded.config) {
            Ok(_) => Ok(loaded),
            Err(problems) => Err(Error::Config {
                path: path.to_path_buf(),
                problems,
            }),
        },
        Err(Error::Config { path, mut problems }) => {
            // The file's text, read as far as it goes, still names the variables.
            if let Ok(text) = std::fs::read_to_string(&path) {
                if let Some(partial) = parse::parse_lenient(&text) {
                    if let Err(missing) = more(&partial) {
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
    Ok(Loaded {
        config,
        path: path.to_path_buf(),
        base_dir: base_dir(path),
    })
}

impl Config {
    /// The backtest settings the live decision uses for `today`: the configured strategy,
    /// history and trading start, and the backtest's costs.
    pub fn backtest_settings(&self, today: chrono::NaiveDate) -> crate::domain::backtest::Settings {
        crate::domain::backtest::Settings {
            params: self.strategy.parameters.clone(),
            costs: self.backtest.costs(),
            initial_cash: self.backtest.initial_capital,
            history_start: self.data.history_start,
            trading_start: self.data.trading_start.min(today),
            end: None,
        }
    }

    /// Every semantic problem of a structurally valid configuration: each section's, and
    /// the rules that span sections.
    pub fn problems(&self) -> Vec<String> {
        let mut out = self.strategy.parameters.problems("strategy.parameters");
        if self.mode == Mode::Live && self.data.source == DataSource::Local {
            out.push(
                "data.source (local) must be schwab when mode is live: live orders need live quotes"
                    .into(),
            );
        }
        out.extend(self.data.problems("data"));
        out.extend(self.schedule.problems("schedule"));
        out.extend(self.execution.problems("execution"));
        out.extend(self.risk.problems("risk"));
        out.extend(self.sim.problems("sim"));
        out.extend(self.backtest.problems("backtest"));
        out.extend(self.schwab.problems("schwab"));
        out.extend(self.alerts.problems("alerts"));
        out.extend(self.watch.problems("watch"));
        out.extend(self.metrics.problems("metrics"));
        out.extend(self.readiness.problems("readiness"));
        out
    }

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
        if let Some(name) = &self.alerts.webhook_url_env {
            secrets.webhook_url = fetch("alerts.webhook_url_env", name);
        }
        if self.alerts.sms.enabled {
            secrets.sms_token = fetch("alerts.sms.auth_token_env", &self.alerts.sms.auth_token_env);
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
    use rust_decimal::Decimal;

    use super::*;
    use crate::domain::strategy::params::StrategyParams;

    #[test]
    fn empty_file_gives_documented_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.mode, Mode::Paper);
        assert_eq!(c.schedule.minutes_before_close, 5);
        assert_eq!(c.execution.min_trade_pct, Decimal::new(5, 0));
        assert_eq!(c.strategy.parameters, StrategyParams::default());
    }

    #[test]
    fn the_protections_check_their_values() {
        let problems = parse(
            "execution:\n  order_type: limit\n  limit_collar_pct: 0\n  max_spread_pct: -1\n  \
             max_move_pct_by_symbol: {QQQ: 0}\nrisk:\n  daily_loss_halt_pct: 100\n",
        )
        .unwrap_err();
        for needle in [
            "execution.limit_collar_pct (0) must be > 0 and <= 5",
            "execution.max_spread_pct (-1) must be > 0 and <= 10",
            "execution.max_move_pct_by_symbol.QQQ (0) must be > 0 and <= 100",
            "risk.daily_loss_halt_pct (100) must be > 0 and < 100",
        ] {
            assert!(
                problems.iter().any(|p| p == needle),
                "{needle}: {problems:?}"
            );
        }
        let c =
            parse("execution:\n  order_type: limit\nrisk:\n  max_drawdown_halt_pct: 25\n").unwrap();
        assert_eq!(c.execution.order_type, OrderKind::Limit);
        assert_eq!(c.risk.max_drawdown_halt_pct, Some(Decimal::new(25, 0)));
        assert_eq!(
            c.execution.quote_limits("TLT").max_move_pct,
            Decimal::new(15, 0)
        );
        assert_eq!(
            c.execution.quote_limits("TQQQ").max_move_pct,
            Decimal::new(40, 0)
        );
    }

    #[test]
    fn the_defaults_have_no_problem() {
        assert_eq!(Config::default().problems(), Vec::<String>::new());
    }
}
