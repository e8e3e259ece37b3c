//! The bottom of the shell: typed errors and their exit codes, the injected clock, secrets
//! and their redaction, the run's transcript, the log set-up, and the test-only kill points.
//! Everything above may use these; these use only the core.

pub mod clock;
pub mod error;
pub mod fault;
pub mod logging;
pub mod report;
pub mod secret;
