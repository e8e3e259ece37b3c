//! jutsu: trades the Hierarchical Adaptive v3.5b regime-allocation strategy once a day.
//!
//! The library is a functional core (calendar, strategy, portfolio arithmetic: pure functions
//! over plain data) inside an imperative shell (clock, files, brokers, email behind traits).
//! The `jutsu` binary is a thin wrapper around [`commands::run`].

#![deny(missing_docs)]

pub mod alert;
pub mod backtest;
pub mod bars;
pub mod broker;
pub mod calendar;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod emergency;
pub mod error;
pub mod fault;
pub mod fsutil;
pub mod ledger;
pub mod local_data;
pub mod lock;
pub mod logging;
pub mod performance;
pub mod pipeline;
pub mod plan;
pub mod portfolio;
pub mod report;
pub mod schwab;
pub mod secret;
pub mod sim;
pub mod sources;
pub mod state;
pub mod strategy;
pub mod trades;
pub mod validate;
