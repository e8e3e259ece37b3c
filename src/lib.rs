//! jutsu: trades the Hierarchical Adaptive v3.5b regime-allocation strategy once a day.
//!
//! The library is a functional core (calendar, strategy, portfolio arithmetic, planning,
//! reconciliation: pure functions over plain data) inside an imperative shell (clock, files,
//! brokers, email behind traits). The modules below are the layers, bottom first; each uses
//! only the ones before it (`tests/layout.rs` checks the order). The `jutsu` binary is a
//! thin wrapper around [`commands::run`].

#![deny(missing_docs)]

// The functional core: plain data and pure functions.
pub mod domain;

// The bottom of the shell: errors, clock, secrets, transcript, logs, test hooks.
pub mod support;

// The configuration file.
pub mod config;

// jutsu's own files: state, ledgers, trades, bars.
pub mod storage;

// The broker and market-data sources, and which one a configuration gets.
pub mod brokers;

// Alerts: email, SMS, webhooks, dead-man pings.
pub mod alert;

// The trade run and the emergency exit.
pub mod pipeline;

// One module a command, and the command line.
pub mod commands;
