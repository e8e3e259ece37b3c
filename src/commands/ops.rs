//! `jutsu emergency-exit`, `jutsu resume` and `jutsu health`.

use std::io::{BufRead, Write};
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use serde::Serialize;

use crate::alert::{Alert, Alerter, Level};
use crate::cli::ExitArgs;
use crate::config::{Loaded, Mode};
use crate::domain::calendar;
use crate::domain::journal::{Ledger, RunStatus};
use crate::emergency::{self, ExitFiles, ExitPlan, ExitRequest};
use crate::error::{exit, Error, Result};
use crate::sources::{self, SharedClock};
use crate::storage::lock::{self, RunLock};
use crate::storage::state::{State, StatePaths};

/// A non-panicking `println!` (see [`crate::report::say`]).
macro_rules! say {
    ($($arg:tt)*) => {
        crate::report::say(&format!($($arg)*))
    };
}

/// Cancels the strategy's open orders, sells its positions and sets the halt flag; in
/// dry-run mode only prints what it would do. The positions sold and those left are listed
/// before the confirmation question.
pub(super) fn emergency_exit(loaded: &Loaded, args: &ExitArgs, clock: SharedClock) -> Result<u8> {
    let mode = args.mode.map_or(loaded.config.mode, Into::into);
    let paths = StatePaths::new(loaded, mode);
    let _lock = RunLock::acquire(&paths.lock_file(), "emergency-exit")?;
    let as_of = sources::quote_instant(loaded, clock.as_ref())?;
    let data = sources::market_data(loaded, clock.clone(), as_of)?;
    let broker = sources::broker(loaded, mode, Arc::clone(&data), clock.clone())?;
    let request = ExitRequest {
        mode,
        legs: loaded
            .config
            .strategy
            .parameters
            .traded_symbols()
            .map(String::from),
        all_positions: args.all_positions,
        polls: loaded.config.execution.order_timeout_s.max(1) as u32,
    };
    let (account, open) = emergency::survey(broker.as_ref())?;
    let plan = ExitPlan::of(&account, &open, &request.legs, request.all_positions);
    let (what, broker_name) = match (mode, loaded.config.uses_schwab(mode)) {
        (Mode::DryRun, true) => (
            "emergency exit, DRY RUN (nothing is sent)",
            "the Schwab account",
        ),
        (Mode::DryRun, false) => (
            "emergency exit, DRY RUN (nothing is sent)",
            "the simulated account",
        ),
        (_, true) => ("EMERGENCY EXIT", "the Schwab account"),
        (_, false) => ("emergency exit", "the simulated (paper) account"),
    };
    say!(
        "{what} of {broker_name} (value {:.2}, cash {:.2}):",
        account.liquidation_value,
        account.cash
    );
    for line in plan.describe() {
        say!("  {line}");
    }
    if mode == Mode::DryRun {
        say!(
            "DRY RUN: nothing was canceled or sent, and trading is not halted \
             (`--mode paper` or `--mode live` acts)"
        );
        return Ok(exit::OK);
    }
    if !args.confirm {
        let mut out = std::io::stdout().lock();
        write!(
            out,
            "Type EXIT to cancel and sell the above in {broker_name} and halt trading: "
        )
        .and_then(|_| out.flush())
        .map_err(|e| Error::io("writing", "stdout", e))?;
        drop(out);
        let mut line = String::new();
        let read = std::io::stdin().lock().read_line(&mut line).unwrap_or(0);
        if read == 0 || line.trim() != "EXIT" {
            return Err(Error::Usage(
                "not confirmed: nothing was done (pass --confirm to skip the question)".into(),
            ));
        }
    }
    let reason = format!(
        "emergency exit at {}",
        clock.now_et().format("%Y-%m-%d %H:%M ET")
    );
    crate::storage::fsutil::write_atomic(&paths.halt_flag(), reason.as_bytes(), false)?;
    say!("halt flag set: {}", paths.halt_flag().display());
    tracing::warn!("{reason}");
    let files = ExitFiles {
        paths: &paths,
        trades_csv: loaded.logs_dir().join("trades.csv"),
    };
    // The session of the prices it trades at: today on Schwab, the bar's day on local bars.
    let session = as_of
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive();
    let (code, subject, body) = match emergency::execute(
        &request,
        broker.as_ref(),
        clock.as_ref(),
        &files,
        session,
        &plan,
    ) {
        Ok(outcome) => (
            if outcome.flat {
                exit::OK
            } else {
                exit::INCOMPLETE
            },
            if outcome.flat { "flat" } else { "NOT flat" },
            outcome.lines.join("\n"),
        ),
        Err(e) => {
            let ledger_path = paths.exit_ledger(session);
            let sent = Ledger::load(&ledger_path)
                .ok()
                .flatten()
                .is_some_and(|l| l.anything_sent());
            let message = crate::secret::redact(&format!(
                "the emergency exit stopped: {e}; {}; trading stays halted. Run \
                     `jutsu emergency-exit` again: it settles what was sent before selling \
                     anything",
                if sent {
                    format!("orders were sent (see {})", ledger_path.display())
                } else {
                    "nothing was sent".into()
                }
            ));
            if let Ok(Some(mut ledger)) = Ledger::load(&ledger_path) {
                ledger.status = if sent {
                    RunStatus::Incomplete
                } else {
                    RunStatus::Failed
                };
                ledger.message = Some(message.clone());
                let _ = ledger.save(&ledger_path);
            }
            say!("{message}");
            (
                if sent {
                    exit::INCOMPLETE
                } else {
                    exit::PREFLIGHT
                },
                "STOPPED",
                message,
            )
        }
    };
    let env = |name: &str| std::env::var(name).ok();
    let secrets = loaded.config.secrets(&env).unwrap_or_default();
    let alerter = Alerter::new(&loaded.config.alerts, secrets.smtp_password, clock.as_ref());
    if alerter.any() {
        let alert = Alert {
            level: Level::Critical,
            kind: "emergency-exit".into(),
            subject: format!("EMERGENCY EXIT {}: {subject}", mode.as_str()),
            body,
        };
        for f in alerter.send(&alert) {
            say!(
                "warning: the {} alert was not delivered: {}",
                f.channel,
                f.error
            );
        }
    }
    Ok(code)
}

/// Clears the halt flag.
pub(super) fn resume(loaded: &Loaded) -> Result<u8> {
    let paths = StatePaths::new(loaded, loaded.config.mode);
    let flag = paths.halt_flag();
    if !flag.exists() {
        println!("trading is not halted");
        return Ok(exit::OK);
    }
    let why = std::fs::read_to_string(&flag).unwrap_or_default();
    std::fs::remove_file(&flag).map_err(|e| Error::io("removing", &flag, e))?;
    println!(
        "halt flag cleared (it said: {}); the next `jutsu trade` runs",
        why.trim()
    );
    let state = State::load(&paths.state_file());
    if let Ok(
        crate::storage::fsutil::Sealed::Good(s)
        | crate::storage::fsutil::Sealed::Restored { value: s, .. },
    ) = state
    {
        if s.last_outcome.as_deref() == Some(emergency::REASON) {
            println!(
                "the {} account's state records the emergency exit: the next run rebalances to \
                 the strategy's targets",
                loaded.config.mode.as_str()
            );
        }
    }
    Ok(exit::OK)
}

#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    status: &'static str,
    detail: String,
}

#[derive(Debug, Serialize)]
struct Health {
    ok: bool,
    mode: &'static str,
    checks: Vec<Check>,
    next_run: Option<String>,
    missed_sessions: Vec<NaiveDate>,
}

/// Is everything in place for the next run?
pub(super) fn health(loaded: &Loaded, json: bool, clock: SharedClock) -> Result<u8> {
    let c = &loaded.config;
    let mode = c.mode;
    let paths = StatePaths::new(loaded, mode);
    let mut checks = Vec::new();
    let mut add = |name, status, detail: String| {
        checks.push(Check {
            name,
            status,
            detail,
        })
    };

    let env = |name: &str| std::env::var(name).ok();
    match c.secrets(&env) {
        Ok(_) => add(
            "config",
            "ok",
            format!("{} is valid", loaded.path.display()),
        ),
        Err(problems) => add("config", "fail", problems.join("; ")),
    }
    if c.uses_schwab(mode) {
        match crate::brokers::schwab::auth::TokenFile::load(&loaded.resolve(&c.schwab.token_file)) {
            Ok(token) => {
                let hours = token.refresh_seconds_left(clock.now_utc().timestamp()) / 3600;
                let status = if hours < 24 {
                    "fail"
                } else if hours < 48 {
                    "warn"
                } else {
                    "ok"
                };
                add(
                    "token",
                    status,
                    format!("{hours} h left on the Schwab refresh token"),
                );
            }
            Err(e) => add("token", "fail", e.to_string()),
        }
    }
    let state = State::load(&paths.state_file());
    match &state {
        Ok(
            crate::storage::fsutil::Sealed::Good(s)
            | crate::storage::fsutil::Sealed::Restored { value: s, .. },
        ) => add(
            "state",
            "ok",
            format!(
                "{} readable, last session {}",
                paths.state_file().display(),
                s.last_session.map_or("none".into(), |d| d.to_string())
            ),
        ),
        Ok(crate::storage::fsutil::Sealed::Missing) => add(
            "state",
            "warn",
            "no state yet: the next run is a first run".into(),
        ),
        Err(e) => add("state", "fail", e.to_string()),
    }
    let mut last_done: Option<NaiveDate> = None;
    let mut bad_ledgers = Vec::new();
    let mut newest: Option<Ledger> = None;
    {
        for path in paths.ledger_files() {
            match Ledger::load(&path) {
                Ok(Some(l)) => {
                    if newest.as_ref().is_none_or(|n| n.session < l.session) {
                        newest = Some(l.clone());
                    }
                    if l.status == RunStatus::Done {
                        last_done = last_done.max(Some(l.session));
                    }
                    if l.status == RunStatus::Incomplete
                        || (l.status == RunStatus::Running && l.anything_sent())
                    {
                        bad_ledgers.push(format!(
                            "{} stopped with orders sent ({:?})",
                            l.session, l.status
                        ));
                    }
                }
                Ok(None) => {}
                Err(e) => bad_ledgers.push(e.to_string()),
            }
        }
    }
    for path in paths.exit_ledger_files() {
        match Ledger::load(&path) {
            Ok(Some(l)) if l.status != RunStatus::Done => bad_ledgers.push(format!(
                "the emergency exit of {} did not finish ({}): run `jutsu emergency-exit` again",
                l.session,
                l.message.unwrap_or_default()
            )),
            Ok(_) => {}
            Err(e) => bad_ledgers.push(e.to_string()),
        }
    }
    if bad_ledgers.is_empty() {
        add(
            "ledgers",
            "ok",
            format!(
                "last completed session {}",
                last_done.map_or("none".into(), |d| d.to_string())
            ),
        );
    } else {
        add("ledgers", "fail", bad_ledgers.join("; "));
    }
    match newest.as_ref().filter(|l| !l.alert_failures.is_empty()) {
        Some(l) => add(
            "alerts",
            "fail",
            format!(
                "the alerts of the {} run were not delivered: {}",
                l.session,
                l.alert_failures
                    .iter()
                    .map(|f| format!("{}: {}", f.channel, f.error))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ),
        None => add(
            "alerts",
            "ok",
            "the last run's alerts were delivered (or none are configured)".into(),
        ),
    }
    match fs4::available_space(&paths.shared).or_else(|_| fs4::available_space(&loaded.base_dir)) {
        Ok(free) if free < 50 * 1024 * 1024 => {
            add("disk", "fail", format!("{} MB free", free / 1024 / 1024))
        }
        Ok(free) => add("disk", "ok", format!("{} MB free", free / 1024 / 1024)),
        Err(e) => add("disk", "warn", format!("free space unknown: {e}")),
    }
    match lock::holder(&paths.lock_file()) {
        Some(holder) => add("lock", "warn", format!("a run is in progress: {holder}")),
        None => add("lock", "ok", "free".into()),
    }
    if paths.halt_flag().exists() {
        let why = std::fs::read_to_string(paths.halt_flag()).unwrap_or_default();
        add(
            "halt",
            "fail",
            format!(
                "trading is halted ({}): `jutsu resume` clears it",
                why.trim()
            ),
        );
    } else {
        add("halt", "ok", "not halted".into());
    }
    // Missed sessions: sessions after the last completed one whose run time has passed.
    let now = clock.now_et();
    let mut missed = Vec::new();
    if let Some(from) = last_done {
        let mut day = calendar::next_session(from);
        while day <= now.date_naive() && missed.len() < 1000 {
            let due = calendar::session_hours(day).map(|h| {
                h.run_at(c.schedule.minutes_before_close)
                    + Duration::minutes(c.schedule.late_tolerance_minutes.into())
            });
            if due.is_some_and(|t| t < now) {
                missed.push(day);
            }
            day = calendar::next_session(day);
        }
    }
    if missed.is_empty() {
        add("sessions", "ok", "no missed session".into());
    } else {
        let shown: Vec<String> = missed.iter().take(10).map(|d| d.to_string()).collect();
        add(
            "sessions",
            "fail",
            format!(
                "{} missed session(s): {}{}",
                missed.len(),
                shown.join(", "),
                if missed.len() > 10 { ", ..." } else { "" }
            ),
        );
    }
    let today = now.date_naive();
    let next_day = match calendar::session_hours(today) {
        Some(h) if h.run_at(c.schedule.minutes_before_close) > now => today,
        _ => calendar::next_session(today),
    };
    let next_run = calendar::session_hours(next_day).map(|h| {
        h.run_at(c.schedule.minutes_before_close)
            .format("%Y-%m-%d %H:%M ET")
            .to_string()
    });
    let ok = checks.iter().all(|c| c.status != "fail");
    let report = Health {
        ok,
        mode: mode.as_str(),
        checks,
        next_run: next_run.clone(),
        missed_sessions: missed,
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| Error::Other(e.to_string()))?
        );
    } else {
        println!("jutsu health (mode {})", report.mode);
        for check in &report.checks {
            println!("  [{:<4}] {:<9} {}", check.status, check.name, check.detail);
        }
        if let Some(next) = &next_run {
            println!("  next run {next}");
        }
        println!("{}", if ok { "OK" } else { "ATTENTION NEEDED" });
    }
    Ok(if ok { exit::OK } else { exit::FAILURE })
}
