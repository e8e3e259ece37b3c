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
pub mod events;
pub mod journal;
pub mod market;
pub mod metrics;
pub mod page;
pub mod performance;
pub mod plan;
pub mod portfolio;
pub mod readiness;
pub mod reconcile;
pub mod resume;
pub mod review;
pub mod statistics;
pub mod strategy;
pub mod summary;
pub mod text;
pub mod validate;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What the core refuses: a bad row of data, or inputs it cannot use. The shell maps both to
/// a usage error (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// A data source has a bad row or cannot be read.
    #[error("{path}:{line}: {problem}")]
    Data {
        /// The file (or source) the data came from.
        path: PathBuf,
        /// 1-based line number (0 when the problem is with the whole source).
        line: u64,
        /// What is wrong.
        problem: String,
    },
    /// Inputs the core cannot use: bad parameters, no bars for the signal symbol, ...
    #[error("{0}")]
    Invalid(String),
}

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
