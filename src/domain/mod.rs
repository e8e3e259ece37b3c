//! The functional core: plain data and pure functions over it.
//!
//! Nothing in here reads a file, a clock or the network, and nothing here imports from the
//! shell (`brokers`, `storage`, `pipeline`, `commands`, `config`, ...): every input arrives as
//! an argument and every effect leaves as a return value. That is what makes the strategy
//! bit-exact against the reference and the planner testable without a broker.
//! `tests/main.rs` (module `layout`) checks the rule.

pub mod backtest;
pub mod bars;
pub mod calendar;
pub mod journal;
pub mod market;
pub mod performance;
pub mod plan;
pub mod portfolio;
pub mod strategy;
pub mod validate;
use serde::{Deserialize, Serialize};

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
