//! `jutsu emergency-exit`, `jutsu resume` and `jutsu health`.

use std::io::{BufRead, Write};
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use crate::alert::{Alert, Alerter, Level};
use crate::broker::{OrderRequest, OrderType, Placement, Side};
use crate::calendar;
use crate::config::Loaded;
use crate::error::{exit, Error, Result};
use crate::ledger::{Ledger, RunStatus};
use crate::lock::{self, RunLock};
use crate::sources::{self, SharedClock};
use crate::state::{State, StatePaths};

/// Polls of an exit order before it is reported as not flat.
const EXIT_POLLS: u32 = 30;

/// Cancels open orders, sells every position the broker reports and sets the halt flag.
pub(super) fn emergency_exit(loaded: &Loaded, confirm: bool, clock: SharedClock) -> Result<u8> {
    let mode = loaded.config.mode;
    let paths = StatePaths::new(loaded, mode);
    if !confirm {
        print!(
            "This cancels every open order and sells every position of the {} account, then halts \
             trading.\nType EXIT to go on: ",
            mode.as_str()
        );
        std::io::stdout()
            .flush()
            .map_err(|e| Error::io("writing", "stdout", e))?;
        let mut line = String::new();
        let read = std::io::stdin().lock().read_line(&mut line).unwrap_or(0);
        if read == 0 || line.trim() != "EXIT" {
            return Err(Error::Usage(
                "not confirmed: nothing was done (pass --confirm to skip the question)".into(),
            ));
        }
    }
    let _lock = RunLock::acquire(&paths.lock_file(), "emergency-exit")?;
    let mut lines: Vec<String> = Vec::new();
    macro_rules! say {
        ($($arg:tt)*) => {{
            let line = format!($($arg)*);
            println!("{line}");
            lines.push(line);
        }};
    }
    let reason = format!(
        "emergency exit at {}",
        clock.now_et().format("%Y-%m-%d %H:%M ET")
    );
    crate::fsutil::write_atomic(&paths.halt_flag(), reason.as_bytes(), false)?;
    say!("halt flag set: {}", paths.halt_flag().display());
    tracing::warn!("{reason}");

    let as_of = sources::quote_instant(loaded, clock.as_ref())?;
    let data = sources::market_data(loaded, clock.clone(), as_of)?;
    let broker = sources::broker(loaded, mode, Arc::clone(&data), clock.clone())?;
    for order in broker.open_orders()? {
        match broker.cancel_order(&order.id) {
            Ok(()) => say!(
                "canceled order {} ({} {} {})",
                order.id,
                order.side.as_str(),
                order.quantity,
                order.symbol
            ),
            Err(e) => say!("could not cancel order {}: {e}", order.id),
        }
    }
    let account = broker.account()?;
    let mut problems = Vec::new();
    for position in &account.positions {
        let shares = position.quantity.trunc().to_u64().unwrap_or(0);
        if shares == 0 {
            problems.push(format!(
                "{}: {} shares cannot be sold here",
                position.symbol, position.quantity
            ));
            continue;
        }
        let request = OrderRequest {
            symbol: position.symbol.clone(),
            side: Side::Sell,
            quantity: shares,
            order_type: OrderType::Market,
        };
        match broker.place_order(&request) {
            Ok(Placement::Placed(id)) => {
                let mut order = broker.order(&id)?;
                let mut polls = 0;
                while !order.status.is_final() && polls < EXIT_POLLS {
                    clock.pause(std::time::Duration::from_secs(1));
                    order = broker.order(&id)?;
                    polls += 1;
                }
                say!(
                    "SELL {shares} {}: {:?}, filled {}{}",
                    position.symbol,
                    order.status,
                    order.filled_quantity,
                    order
                        .average_fill_price
                        .map_or(String::new(), |p| format!(" at {p}"))
                );
            }
            Ok(Placement::Unknown(why)) => problems.push(format!(
                "SELL {shares} {}: outcome unknown ({why})",
                position.symbol
            )),
            Err(e) => problems.push(format!("SELL {shares} {}: {e}", position.symbol)),
        }
    }
    let after = broker.account()?;
    let left: Vec<String> = after
        .positions
        .iter()
        .filter(|p| !p.quantity.is_zero())
        .map(|p| format!("{} {}", p.quantity, p.symbol))
        .collect();
    for p in &problems {
        say!("problem: {p}");
    }
    say!(
        "cash {:.2}, value {:.2}",
        after.cash,
        after.liquidation_value
    );
    let flat = left.is_empty();
    if flat {
        say!("FLAT: every position sold; trading halted until `jutsu resume`");
    } else {
        say!(
            "NOT FLAT: still held: {}; trading halted until `jutsu resume`",
            left.join(", ")
        );
    }
    let env = |name: &str| std::env::var(name).ok();
    let secrets = loaded.config.secrets(&env).unwrap_or_default();
    let alerter = Alerter::new(&loaded.config.alerts, secrets.smtp_password, clock.as_ref());
    if alerter.any() {
        let alert = Alert {
            level: Level::Critical,
            kind: "emergency-exit".into(),
            subject: format!(
                "EMERGENCY EXIT {}: {}",
                mode.as_str(),
                if flat { "flat" } else { "NOT flat" }
            ),
            body: lines.join("\n"),
        };
        for f in alerter.send(&alert) {
            println!(
                "warning: the {} alert was not delivered: {}",
                f.channel, f.error
            );
        }
    }
    Ok(if flat { exit::OK } else { exit::INCOMPLETE })
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
        match crate::schwab::auth::TokenFile::load(&loaded.resolve(&c.schwab.token_file)) {
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
        Ok(crate::fsutil::Sealed::Good(s) | crate::fsutil::Sealed::Restored { value: s, .. }) => {
            add(
                "state",
                "ok",
                format!(
                    "{} readable, last session {}",
                    paths.state_file().display(),
                    s.last_session.map_or("none".into(), |d| d.to_string())
                ),
            )
        }
        Ok(crate::fsutil::Sealed::Missing) => add(
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
