//! `metrics.textfile`: after every command that acts, a Prometheus textfile-collector file
//! with the state the command left: each command's last run and exit code, the account
//! (equity, cash, positions, exposure), the last fills' slippage, the login's time left, the
//! last validation and the missed sessions. Written atomically (node_exporter reads
//! `*.prom` only, and the temporary file is not one).

use std::collections::BTreeMap;
use std::path::Path;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::brokers::sources::SharedClock;
use crate::config::{Loaded, Mode};
use crate::domain::journal::{Ledger, RunStatus};
use crate::domain::metrics::{render, Family};
use crate::storage::fsutil;
use crate::storage::state::{State, StatePaths};
use crate::support::error::{exit, Result};

/// What a command's last run came to, kept between commands (`state/metrics-runs.json`) so
/// that the file shows every command, not only the last one.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LastRun {
    command: String,
    mode: String,
    at: i64,
    code: u8,
    outcome: String,
}

/// The outcome word of an exit code, for commands that have no outcome of their own.
pub(super) fn outcome_of_code(code: u8) -> &'static str {
    match code {
        exit::OK => "OK",
        exit::USAGE => "USAGE",
        exit::INCOMPLETE => "INCOMPLETE",
        exit::HALTED => "HALTED",
        _ => "FAILED",
    }
}

/// Writes the textfile after `command` ran in `mode` with `code` and `outcome`, when
/// `metrics.textfile` is set. A failure is printed; it never changes the command's exit code.
/// A command that ran: its name, its exit code and its outcome word.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ran<'a> {
    /// `trade`, `validate`, ...
    pub(super) command: &'a str,
    /// The exit code.
    pub(super) code: u8,
    /// OK, FAILED, ...
    pub(super) outcome: &'a str,
}

pub(super) fn record(loaded: &Loaded, mode: Mode, ran: Ran<'_>, clock: &SharedClock) {
    let Some(file) = &loaded.config.metrics.textfile else {
        return;
    };
    let file = loaded.resolve(file);
    if let Err(e) = write(loaded, mode, &file, ran, clock) {
        crate::support::report::say(&format!(
            "warning: the metrics file {} was not written: {e}",
            file.display()
        ));
    }
}

fn write(
    loaded: &Loaded,
    mode: Mode,
    file: &Path,
    Ran {
        command,
        code,
        outcome,
    }: Ran<'_>,
    clock: &SharedClock,
) -> Result<()> {
    let paths = StatePaths::new(loaded, mode);
    let runs_file = paths.shared.join("metrics-runs.json");
    let mut runs: Vec<LastRun> = std::fs::read(&runs_file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    runs.retain(|r| !(r.command == command && r.mode == mode.as_str()));
    runs.push(LastRun {
        command: command.into(),
        mode: mode.as_str().into(),
        at: clock.now_utc().timestamp(),
        code,
        outcome: outcome.into(),
    });
    runs.sort_by(|a, b| (&a.command, &a.mode).cmp(&(&b.command, &b.mode)));
    let json = serde_json::to_vec_pretty(&runs)
        .map_err(|e| crate::support::error::Error::Other(e.to_string()))?;
    fsutil::write_atomic(&runs_file, &json, false)?;
    let mut families = command_families(&runs);
    families.extend(account_families(&paths, mode));
    families.extend(other_families(loaded, &paths, mode, clock));
    fsutil::write_atomic(file, render(&families).as_bytes(), false)
}

fn command_families(runs: &[LastRun]) -> Vec<Family> {
    let mut at = Family::new(
        "jutsu_command_last_run_timestamp_seconds",
        "When the command last ran (Unix time).",
    );
    let mut code = Family::new(
        "jutsu_command_last_exit_code",
        "Exit code of the command's last run (0 done, 1 failed check, 2 usage, 3 nothing sent, 4 incomplete, 5 halted).",
    );
    let mut outcome = Family::new(
        "jutsu_command_last_outcome",
        "Outcome of the command's last run: 1 on its outcome's series.",
    );
    for r in runs {
        let labels = [("command", r.command.as_str()), ("mode", r.mode.as_str())];
        at = at.sample(&labels, r.at);
        code = code.sample(&labels, r.code);
        outcome = outcome.sample(&[labels[0], labels[1], ("outcome", r.outcome.as_str())], 1);
    }
    vec![at, code, outcome]
}

/// A decimal as Prometheus reads it.
fn num(d: Decimal) -> String {
    d.normalize().to_string()
}

/// The account after the newest run that recorded one: equity, cash, positions at that
/// run's quotes, exposure; and the slippage of the newest run's fills.
fn account_families(paths: &StatePaths, mode: Mode) -> Vec<Family> {
    let m = mode.as_str();
    let ledgers: Vec<Ledger> = paths
        .ledger_files()
        .iter()
        .filter_map(|p| Ledger::load(p).ok().flatten())
        .collect();
    let positions = State::load(&paths.state_file())
        .ok()
        .and_then(|s| s.into_value())
        .map(|s| s.positions)
        .unwrap_or_default();
    let mut shares = Family::new("jutsu_position_shares", "Shares held after the last run.");
    for (symbol, n) in &positions {
        shares = shares.sample(&[("mode", m), ("symbol", symbol)], n);
    }
    let mut out = vec![shares];
    let valued = ledgers
        .iter()
        .rev()
        .find(|l| l.equity_after.or(l.equity_before).is_some() && !l.quotes.is_empty());
    if let Some(l) = valued {
        out.extend(value_families(l, &positions, m));
    }
    let filled = ledgers
        .iter()
        .rev()
        .find(|l| l.orders.iter().any(|o| o.slippage_pct.is_some()));
    let mut slip = Family::new(
        "jutsu_last_fill_slippage_ratio",
        "Slippage of each fill of the newest run that filled, against its reference quote (positive is worse).",
    );
    for o in filled.iter().flat_map(|l| &l.orders) {
        if let Some(pct) = o.slippage_pct {
            slip = slip.sample(
                &[
                    ("mode", m),
                    ("symbol", &o.symbol),
                    ("side", o.side.as_str()),
                ],
                num(pct / Decimal::ONE_HUNDRED),
            );
        }
    }
    out.push(slip);
    let done = ledgers.iter().rev().find(|l| l.status == RunStatus::Done);
    out.push(
        Family::new(
            "jutsu_last_completed_run_timestamp_seconds",
            "Start of the newest completed trade run (Unix time).",
        )
        .sample_opt(&[("mode", m)], done.map(|l| l.started_at.timestamp())),
    );
    out
}

fn value_families(l: &Ledger, positions: &BTreeMap<String, i64>, m: &str) -> Vec<Family> {
    let equity = l.equity_after.or(l.equity_before).unwrap_or_default();
    let price = |s: &str| l.quotes.iter().find(|(q, _)| q == s).map(|(_, p)| *p);
    let mut value = Family::new(
        "jutsu_position_value_dollars",
        "Value of each position at the last run's quotes.",
    );
    let mut invested = Decimal::ZERO;
    let mut gross = Decimal::ZERO;
    for (symbol, n) in positions {
        if let Some(p) = price(symbol) {
            let v = p * Decimal::from(*n);
            invested += v;
            gross += v.abs();
            value = value.sample(&[("mode", m), ("symbol", symbol)], num(v.round_dp(2)));
        }
    }
    let exposure = match equity > Decimal::ZERO {
        true => (gross / equity).round_dp(6),
        false => Decimal::ZERO,
    };
    vec![
        Family::new("jutsu_equity_dollars", "Account value after the last run.")
            .sample(&[("mode", m)], num(equity.round_dp(2))),
        Family::new("jutsu_cash_dollars", "Cash after the last run.")
            .sample(&[("mode", m)], num((equity - invested).round_dp(2))),
        value,
        Family::new(
            "jutsu_gross_exposure_ratio",
            "Sum of the positions' absolute values over the account value.",
        )
        .sample(&[("mode", m)], num(exposure)),
    ]
}

/// The login, the last validation, the missed sessions and the halt flag.
fn other_families(
    loaded: &Loaded,
    paths: &StatePaths,
    mode: Mode,
    clock: &SharedClock,
) -> Vec<Family> {
    let m = mode.as_str();
    let token_path = loaded.resolve(&loaded.config.schwab.token_file);
    let login = crate::brokers::schwab::auth::TokenFile::load(&token_path)
        .ok()
        .filter(|_| loaded.config.uses_schwab(mode))
        .map(|t| t.refresh_seconds_left(clock.now_utc().timestamp()).max(0));
    let rows = crate::storage::validation::read_rows(&loaded.logs_dir().join("validation.csv"))
        .unwrap_or_default();
    let last = rows.iter().filter(|r| r.mode == m).max_by_key(|r| r.date);
    let mut verdict = Family::new(
        "jutsu_last_validation_verdict",
        "Verdict of the newest validation: 1 on its verdict's series, 0 on the others.",
    );
    let mut matched = Family::new(
        "jutsu_last_validation_logic_match_ratio",
        "Logic match of the newest validation (1 is the same decision as on the close).",
    );
    let mut session = Family::new(
        "jutsu_last_validation_session_timestamp_seconds",
        "Session of the newest validation (midnight UTC of its date, Unix time).",
    );
    if let Some(row) = last {
        for v in ["GREEN", "YELLOW", "RED", "NO_RUN"] {
            verdict = verdict.sample(&[("mode", m), ("verdict", v)], u8::from(row.verdict == v));
        }
        if let Some(pct) = row.logic_match_pct {
            matched = matched.sample(&[("mode", m)], num(pct / Decimal::ONE_HUNDRED));
        }
        let midnight = row
            .date
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp());
        session = session.sample_opt(&[("mode", m)], midnight);
    }
    let missed = super::health::missed_sessions(loaded, paths, clock).len();
    vec![
        Family::new(
            "jutsu_schwab_login_remaining_seconds",
            "Time left on the Schwab refresh token (7 days from the login).",
        )
        .sample_opt(&[], login),
        verdict,
        matched,
        session,
        Family::new(
            "jutsu_missed_sessions",
            "Sessions since the first run whose run time passed without a completed run.",
        )
        .sample(&[("mode", m)], missed),
        Family::new("jutsu_halted", "1 while the halt flag stops trading.")
            .sample(&[("mode", m)], u8::from(paths.halt_flag().exists())),
        Family::new(
            "jutsu_metrics_written_timestamp_seconds",
            "When this file was written (Unix time).",
        )
        .sample(&[], clock.now_utc().timestamp()),
    ]
}
