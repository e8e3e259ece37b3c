//! `jutsu emergency-exit` and `jutsu resume`.

use std::io::{BufRead, Write};
use std::sync::Arc;

use crate::alert::{Alert, Level};
use crate::brokers::sources::{self, SharedClock};
use crate::commands::cli::ExitArgs;
use crate::config::{Loaded, Mode};
use crate::domain::journal::{Ledger, RunStatus};
use crate::domain::portfolio::cents;
use crate::pipeline::emergency::{self, ExitFiles, ExitPlan, ExitRequest};
use crate::pipeline::{dates, Stop};
use crate::storage::ledger::Journal;
use crate::storage::lock::RunLock;
use crate::storage::state::{State, StatePaths};
use crate::support::error::{exit, Error, Result};

/// A non-panicking `println!` (see [`crate::support::report::say`]).
macro_rules! say {
    ($($arg:tt)*) => {
        crate::support::report::say(&format!($($arg)*))
    };
}

/// Cancels the strategy's open orders, sells its positions and sets the halt flag; in
/// dry-run mode only prints what it would do. The positions sold and those left are listed
/// before the confirmation question. The question is asked without the run lock (a prompt
/// left open must not block the day's trade); once answered, the lock is taken and the
/// account surveyed again, and what changed in between is shown before anything is done.
pub(super) fn emergency_exit(loaded: &Loaded, args: &ExitArgs, clock: SharedClock) -> Result<u8> {
    let mode = args.mode.map_or(loaded.config.mode, Into::into);
    sources::refuse_live_on_local_bars(loaded, mode)?;
    let paths = StatePaths::new(loaded, mode);
    let as_of = args.as_of.map(|a| dates::AsOfMoment {
        date: a.date,
        time: a.time,
    });
    let clock = dates::account_clock(loaded, mode, as_of, clock)?;
    let request = exit_request(loaded, args, mode);
    let asking = !args.confirm && mode != Mode::DryRun;
    let early_lock = match asking || mode == Mode::DryRun {
        true => None,
        false => Some(RunLock::acquire(&paths.lock_file(), "emergency-exit")?),
    };
    let mut surveyed = Surveyed::read(loaded, mode, &request, &clock)?;
    let broker_name = show_plan(loaded, mode, &surveyed.account, &surveyed.plan);
    warn_good_faith(
        surveyed.broker.as_ref(),
        clock.as_ref(),
        &surveyed.account,
        &surveyed.plan,
    )?;
    if mode == Mode::DryRun {
        say!(
            "DRY RUN: nothing was canceled or sent, and trading is not halted \
             (`--mode paper` or `--mode live` acts)"
        );
        return Ok(exit::OK);
    }
    let _lock = match early_lock {
        Some(lock) => lock,
        None => {
            confirm(broker_name)?;
            let lock = RunLock::acquire(&paths.lock_file(), "emergency-exit")?;
            surveyed = surveyed.again(loaded, mode, &request, &clock)?;
            lock
        }
    };
    let (code, session, subject, body) = carry_out(loaded, &paths, &request, &surveyed, &clock)?;
    let advice = match code {
        exit::OK => "trading stays halted until `jutsu resume`; check the account at the broker.",
        _ => "run `jutsu emergency-exit` again (it settles what was sent first), or sell at the broker.",
    };
    let alert = Alert::brief(
        Level::Critical,
        "emergency-exit",
        mode,
        session,
        format!("EMERGENCY EXIT: {subject}"),
        advice,
        body,
    );
    super::send_alert(loaded, clock.as_ref(), &alert);
    Ok(code)
}

/// The broker, the account and the exit plan, read at one moment.
struct Surveyed {
    broker: Box<dyn crate::brokers::Broker>,
    account: crate::brokers::Account,
    plan: ExitPlan,
    /// The instant of the prices it trades at.
    as_of: chrono::DateTime<chrono::Utc>,
}

impl Surveyed {
    /// Opens the broker (the simulator reads its account file here) and surveys it.
    fn read(
        loaded: &Loaded,
        mode: Mode,
        request: &ExitRequest,
        clock: &SharedClock,
    ) -> Result<Self> {
        let as_of = sources::quote_instant(loaded, clock.as_ref())?;
        let data = sources::market_data(loaded, clock.clone(), as_of)?;
        let broker = sources::broker(loaded, mode, Arc::clone(&data), clock.clone())?;
        let (account, open) = emergency::survey(broker.as_ref())?;
        let plan = ExitPlan::of(&account, &open, &request.legs, request.all_positions);
        Ok(Surveyed {
            broker,
            account,
            plan,
            as_of,
        })
    }

    /// The survey again, under the lock, after the question: a run may have traded while
    /// it waited. What differs from what was shown is shown.
    fn again(
        self,
        loaded: &Loaded,
        mode: Mode,
        request: &ExitRequest,
        clock: &SharedClock,
    ) -> Result<Self> {
        let before = self.plan.describe();
        drop(self);
        let now = Surveyed::read(loaded, mode, request, clock)?;
        let after = now.plan.describe();
        if after != before {
            say!("the account changed while the question waited; the exit now does:");
            for line in &after {
                say!("  {line}");
            }
        }
        Ok(now)
    }
}

/// Sets the halt flag and runs the exit; returns the exit code, the session, the alert's
/// subject and its body.
fn carry_out(
    loaded: &Loaded,
    paths: &StatePaths,
    request: &ExitRequest,
    surveyed: &Surveyed,
    clock: &SharedClock,
) -> Result<(u8, chrono::NaiveDate, &'static str, String)> {
    let reason = format!(
        "emergency exit at {}",
        clock.now_et().format("%Y-%m-%d %H:%M ET")
    );
    crate::storage::fsutil::write_atomic(&paths.halt_flag(), reason.as_bytes(), false)?;
    say!("halt flag set: {}", paths.halt_flag().display());
    tracing::warn!("{reason}");
    let files = ExitFiles {
        paths,
        trades_csv: loaded.logs_dir().join("trades.csv"),
        commission_per_share: match request.mode {
            Mode::Paper => loaded.config.sim.commission_per_share,
            _ => rust_decimal::Decimal::ZERO,
        },
    };
    // The session of the prices it trades at: today on Schwab, the bar's day on local bars.
    let session = surveyed
        .as_of
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive();
    let result = emergency::execute(
        request,
        surveyed.broker.as_ref(),
        clock.as_ref(),
        &files,
        session,
        &surveyed.plan,
    );
    let (code, subject, body) = match result {
        Ok(outcome) if outcome.flat => (exit::OK, "flat", outcome.lines.join("\n")),
        Ok(outcome) => (exit::INCOMPLETE, "NOT flat", outcome.lines.join("\n")),
        Err(e) => stopped(&paths.exit_ledger(session), &e),
    };
    Ok((code, session, subject, body))
}

/// What the exit is asked to do, from the configuration and the command line.
fn exit_request(loaded: &Loaded, args: &ExitArgs, mode: Mode) -> ExitRequest {
    ExitRequest {
        mode,
        legs: loaded
            .config
            .strategy
            .parameters
            .traded_symbols()
            .map(String::from),
        all_positions: args.all_positions,
        timeout: loaded.config.execution.order_timeout(),
    }
}

/// In a cash account, warns (before the question) of each sell that would be a good-faith
/// violation: shares bought today with the unsettled proceeds of today's sales.
fn warn_good_faith(
    broker: &dyn crate::brokers::Broker,
    clock: &dyn crate::support::clock::Clock,
    account: &crate::brokers::Account,
    plan: &ExitPlan,
) -> Result<()> {
    if account.kind != crate::domain::market::AccountKind::Cash {
        return Ok(());
    }
    let midnight = clock
        .today_et()
        .and_hms_opt(0, 0, 0)
        .and_then(|t| {
            t.and_local_timezone(chrono_tz::America::New_York)
                .earliest()
        })
        .map(|t| t.with_timezone(&chrono::Utc));
    let today = match midnight {
        Some(t) => broker.orders_since(t)?,
        None => Vec::new(),
    };
    for warning in emergency::good_faith_warnings(account, &today, plan) {
        say!("  {warning}");
    }
    Ok(())
}

/// Prints the account and every cancel, sell and position left; returns the account's name.
fn show_plan(
    loaded: &Loaded,
    mode: Mode,
    account: &crate::brokers::Account,
    plan: &ExitPlan,
) -> &'static str {
    let schwab = loaded.config.uses_schwab(mode);
    let broker_name = if schwab {
        "the Schwab account"
    } else {
        "the simulated (paper) account"
    };
    let what = match (mode, schwab) {
        (Mode::DryRun, _) => "emergency exit, DRY RUN (nothing is sent)",
        (_, true) => "EMERGENCY EXIT",
        (_, false) => "emergency exit",
    };
    say!(
        "{what} of {broker_name} (value {}, cash {}):",
        cents(account.liquidation_value),
        cents(account.cash)
    );
    for line in plan.describe() {
        say!("  {line}");
    }
    broker_name
}

/// Asks the user to type EXIT; anything else is "not confirmed" (exit 2, nothing done).
fn confirm(broker_name: &str) -> Result<()> {
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
    Ok(())
}

/// An exit that stopped on an error: its ledger says whether anything was sent (exit 4) or
/// not (exit 3), and the message says to run it again.
fn stopped(ledger_path: &std::path::Path, e: &Error) -> (u8, &'static str, String) {
    let sent = Ledger::load(ledger_path)
        .ok()
        .flatten()
        .is_some_and(|l| l.anything_sent());
    let message = crate::support::secret::redact(&format!(
        "the emergency exit stopped: {e}; {}; trading stays halted. Run \
         `jutsu emergency-exit` again: it settles what was sent before selling anything",
        if sent {
            format!("orders were sent (see {})", ledger_path.display())
        } else {
            "nothing was sent".into()
        }
    ));
    if let Ok(Some(mut journal)) = Journal::resume(ledger_path.to_path_buf()) {
        let recorded = journal.update(|ledger| {
            ledger.status = if sent {
                RunStatus::Incomplete
            } else {
                RunStatus::Failed
            };
            ledger.message = Some(message.clone());
        });
        if let Err(e) = recorded {
            say!(
                "warning: could not record the stop in {}: {e}",
                ledger_path.display()
            );
        }
    }
    say!("{message}");
    // The run's own rule: once anything may have been sent, a stop is incomplete.
    let code = Stop::preflight(message.clone()).given_sent(sent).code();
    (code, "STOPPED", message)
}

/// Clears the halt flag.
pub(super) fn resume(loaded: &Loaded, clock: SharedClock) -> Result<u8> {
    let paths = StatePaths::new(loaded, loaded.config.mode);
    let flag = paths.halt_flag();
    if !flag.exists() {
        println!("trading is not halted");
        return Ok(exit::OK);
    }
    // Only for the log's day: the account's, as the halt's own run had it.
    dates::account_clock(loaded, loaded.config.mode, None, clock)?;
    let why = std::fs::read_to_string(&flag).unwrap_or_default();
    std::fs::remove_file(&flag).map_err(|e| Error::io("removing", &flag, e))?;
    let done = format!(
        "halt flag cleared (it said: {}); the next `jutsu trade` runs",
        why.trim()
    );
    tracing::info!(target: crate::support::report::RUN, "{done}");
    println!("{done}");
    if let Some(s) = State::load(&paths.state_file())
        .ok()
        .and_then(|s| s.into_value())
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
