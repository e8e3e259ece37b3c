//! `jutsu trade`: the pipeline, then one summary alert and the dead-man's-switch ping.

use crate::alert::{Alert, AlertFailure, Alerter, Level};
use crate::cli::TradeArgs;
use crate::config::{Loaded, Outcome};
use crate::domain::journal::Ledger;
use crate::error::{exit, Error, Result};
use crate::pipeline::{self, RunSummary, TradeOptions};
use crate::sources::SharedClock;

pub(super) fn run(args: &TradeArgs, loaded: &Loaded, clock: SharedClock) -> Result<u8> {
    let mode = args.mode.map_or(loaded.config.mode, Into::into);
    let mut config = loaded.config.clone();
    config.mode = mode;
    let env = |name: &str| std::env::var(name).ok();
    let secrets = config.secrets(&env).map_err(|problems| Error::Config {
        path: loaded.path.clone(),
        problems,
    })?;
    let options = TradeOptions {
        mode,
        as_of: args.as_of.map(|a| (a.date, a.time)),
        plan_only: args.plan_only,
    };
    let summary = pipeline::trade(loaded, &options, clock.clone());
    let alerter = Alerter::new(&config.alerts, secrets.smtp_password, clock.as_ref());
    let mut failures = Vec::new();
    if alerter.any() && config.alerts.notify.wants(outcome_of(&summary)) {
        failures = alerter.send(&alert_of(&summary, mode.as_str()));
    }
    if summary.code == exit::OK {
        failures.extend(alerter.ping());
    }
    record_failures(&summary, &failures);
    Ok(summary.code)
}

/// A run for `alerts.notify`: it traded when its journal holds an order that reached the
/// broker; a problem is a non-zero exit, a critical run or a warning line.
fn outcome_of(summary: &RunSummary) -> Outcome {
    let traded = summary
        .ledger
        .as_deref()
        .and_then(|path| Ledger::load(path).ok().flatten())
        .is_some_and(|l| l.anything_sent());
    Outcome {
        traded,
        problem: summary.code != exit::OK
            || summary.critical
            || summary
                .transcript
                .lines()
                .any(|l| l.trim_start().starts_with("warning:")),
        validation: false,
    }
}

fn alert_of(summary: &RunSummary, mode: &str) -> Alert {
    let session = summary
        .session
        .map_or_else(|| "-".to_string(), |d| d.to_string());
    let what = summary
        .failed_stage
        .map_or(String::new(), |stage| format!(" at {stage}"));
    Alert {
        level: if summary.critical {
            Level::Critical
        } else {
            Level::Info
        },
        kind: "trade".into(),
        subject: format!("{} {mode} {session}{what}", summary.outcome),
        body: format!(
            "{}\n\n{}\n(exit code {})",
            summary.verdict, summary.transcript, summary.code
        ),
    }
}

/// Shows alert failures and writes them to the run ledger; the exit code stays the run's.
fn record_failures(summary: &RunSummary, failures: &[AlertFailure]) {
    if failures.is_empty() {
        return;
    }
    for f in failures {
        println!(
            "warning: the {} alert was not delivered: {}",
            f.channel, f.error
        );
    }
    let Some(path) = &summary.ledger else { return };
    match Ledger::load(path) {
        Ok(Some(mut ledger)) => {
            ledger.alert_failures.extend(failures.iter().cloned());
            if let Err(e) = ledger.save(path) {
                println!("warning: could not record the alert failure in the ledger: {e}");
            }
        }
        Ok(None) => {}
        Err(e) => println!("warning: could not record the alert failure: {e}"),
    }
}
