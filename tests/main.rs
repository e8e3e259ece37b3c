//! The integration tests, in one binary so that reqwest, lettre and the rest are linked
//! once, not once per suite. Each module is a suite; run one with its name as the filter,
//! e.g. `cargo test --test main faults::` (the fault-injection suite).
// Tests and benchmarks may unwrap: a failure there is a failed test, not a lost order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod accounts;
mod alerts;
mod as_traded;
mod calendar;
mod commands_schwab;
mod config;
mod data;
mod dates;
mod deploy;
mod events;
mod faults;
mod flags;
mod fuzz;
mod layout;
mod logs;
mod metrics;
mod one_story;
mod params_creep;
mod pipes;
mod readiness;
mod readonly;
mod recovery;
mod reports;
mod review;
mod scheduler;
mod schwab;
mod shell;
mod sim;
mod sms;
mod status;
mod store;
mod strategy_conformance;
mod strategy_params;
mod trade;
mod trade_live;
mod trade_parity;
mod validate;
