//! jutsu: trades the Hierarchical Adaptive v3.5b regime-allocation strategy once a day.
//!
//! The library is a functional core (calendar, strategy, portfolio arithmetic: pure functions
//! over plain data) inside an imperative shell (clock, files, brokers, email behind traits).
//! The `jutsu` binary is a thin wrapper around [`commands::run`].

#![deny(missing_docs)]

pub mod alert;
pub mod brokers;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod domain;

pub mod error;
pub mod fault;
pub mod logging;
pub mod pipeline;
pub mod report;
pub mod secret;
pub mod sources;
pub mod storage;
