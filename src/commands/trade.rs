//! `jutsu trade`: the pipeline, then one summary alert and the dead-man's-switch ping.

use std::collections::BTreeMap;

use crate::alert::{Alert, AlertFailure, Alerter, Level, Ping};
use crate::brokers::sources::SharedClock;
use crate::commands::cli::TradeArgs;
use crate::config::{Loaded, Mode, Outcome};
use crate::domain::journal::Ledger;
use crate::domain::summary::{self as run_summary, RunFacts};
use crate::pipeline::{self, RunSummary, TradeOptions};
use crate::storage::ledger::{equity_record, Journal};
use crate::storage::state::{State, StatePaths};
use crate::support::error::{exit, Error, Result};

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
    // Every line this run logs carries its mode; the first says what starts.
    let _span = tracing::info_span!("trade", mode = mode.as_str()).entered();
    tracing::info!(
        target: crate::support::report::RUN,
        version = env!("CARGO_PKG_VERSION"),
        as_of = %args.as_of.map_or("now".to_string(), |a| match a.time {
            Some(t) => format!("{}T{}", a.date, t.format("%H:%M")),
            None => a.date.to_string(),
        }),
        plan_only = options.plan_only,
        "jutsu trade starts"
    );
    let alerter = Alerter::new(&config.alerts, secrets, clock.as_ref());
    let mut failures: Vec<AlertFailure> = alerter.ping(Ping::Start, "").into_iter().collect();
    let summary = pipeline::trade(loaded, &options, clock.clone());
    let ledger = summary
        .ledger
        .as_deref()
        .and_then(|path| Ledger::load(path).ok().flatten());
    if alerter.any()
        && config
            .alerts
            .notify
            .wants(outcome_of(&summary, ledger.as_ref()))
    {
        failures.extend(alerter.send(&alert_of(&summary, ledger.as_ref(), loaded, mode)));
    }
    let end = if summary.code == exit::OK {
        Ping::Success
    } else {
        Ping::Fail
    };
    failures.extend(alerter.ping(end, &summary.transcript));
    record_failures(&summary, &failures);
    let ran = super::metrics::Ran {
        command: "trade",
        code: summary.code,
        outcome: summary.outcome.as_str(),
    };
    super::metrics::record(loaded, mode, ran, &clock);
    Ok(summary.code)
}

/// A run for `alerts.notify`: it traded when its journal holds an order that reached the
/// broker; a problem is a non-zero exit, a critical run or a warning line.
fn outcome_of(summary: &RunSummary, ledger: Option<&Ledger>) -> Outcome {
    Outcome {
        traded: ledger.is_some_and(|l| l.anything_sent()),
        problem: summary.code != exit::OK || summary.critical || warned(summary),
        validation: false,
    }
}

fn warned(summary: &RunSummary) -> bool {
    summary.warnings > 0
}

/// The run's alert: the summary (from its journal and the state it left) over the checklist.
fn alert_of(summary: &RunSummary, ledger: Option<&Ledger>, loaded: &Loaded, mode: Mode) -> Alert {
    let paths = StatePaths::new(loaded, mode);
    let state = State::load(&paths.state_file())
        .ok()
        .and_then(|s| s.into_value());
    let date = summary.session.unwrap_or(summary.today);
    let previous_equity = equity_record(&paths, date).ok().and_then(|r| r.previous);
    let (no_positions, no_targets) = (BTreeMap::new(), BTreeMap::new());
    let facts = RunFacts {
        outcome: summary.outcome,
        code: summary.code,
        failed_stage: summary.failed_stage.map(pipeline::Stage::name),
        ledger,
        positions: state.as_ref().map_or(&no_positions, |s| &s.positions),
        targets: state
            .as_ref()
            .and_then(|s| s.targets.as_ref())
            .unwrap_or(&no_targets),
        previous_equity,
        token_hours: summary.token_hours,
        warned: warned(summary),
    };
    let level = match (summary.code, summary.critical || facts.warned) {
        (exit::OK, false) => Level::Info,
        (exit::OK, true) => Level::Warning,
        _ => Level::Critical,
    };
    Alert {
        level,
        kind: "trade".into(),
        mode: mode.as_str().into(),
        date,
        headline: run_summary::headline(&facts),
        summary: run_summary::trade_summary(&facts),
        details: run_summary::alert_checklist(&summary.transcript),
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
    match Journal::resume(path.clone()) {
        Ok(Some(mut journal)) => {
            let recorded =
                journal.update(|ledger| ledger.alert_failures.extend(failures.iter().cloned()));
            if let Err(e) = recorded {
                println!("warning: could not record the alert failure in the ledger: {e}");
            }
        }
        Ok(None) => {}
        Err(e) => println!("warning: could not record the alert failure: {e}"),
    }
}
