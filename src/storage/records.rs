//! A mode's records as `readiness`, `review` and the live gate read them: its run ledgers,
//! its validation rows, the audit file and the backtest over the same sessions. Reading
//! only: a damaged or hand-edited file is reported, never restored here.

use std::path::Path;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::config::{Loaded, Mode};
use crate::domain::backtest;
use crate::domain::bars::History;
use crate::domain::calendar;
use crate::domain::journal::Ledger;
use crate::domain::readiness::{Records, SessionRecord, Validated};
use crate::domain::validate::Row;
use crate::storage::fsutil;
use crate::storage::state::{AuditRow, State, StatePaths};
use crate::support::error::Result;

/// A ledger as it reads, checksum or not, and whether its checksum holds; `None` when the
/// file is absent or does not read as a ledger.
pub fn read_ledger(path: &Path) -> Option<(Ledger, bool)> {
    let text = std::fs::read_to_string(path).ok()?;
    let ledger: Ledger = serde_json::from_str(&text).ok()?;
    Some((ledger, fsutil::is_intact::<Ledger>(path)))
}

/// [`read_ledger`] without the checksum's verdict, as [`crate::storage::ledger::sessions`]
/// reads: what the file says, or `None`.
pub fn read_any(path: &Path) -> Result<Option<Ledger>> {
    Ok(read_ledger(path).map(|(l, _)| l))
}

/// The mode's last session with a run ledger.
pub fn last_session(paths: &StatePaths) -> Option<NaiveDate> {
    paths
        .ledger_files()
        .iter()
        .filter_map(|p| p.file_stem()?.to_str()?.parse().ok())
        .max()
}

/// The `n` sessions up to `last`, oldest first.
pub fn sessions_up_to(last: NaiveDate, n: usize) -> Vec<NaiveDate> {
    let mut out = Vec::with_capacity(n);
    let mut d = last;
    if !calendar::is_session(d) {
        d = calendar::previous_session(d);
    }
    while out.len() < n {
        out.push(d);
        d = calendar::previous_session(d);
    }
    out.reverse();
    out
}

/// The position drift the reconcile stage recorded, % of equity ("2 difference(s), 3.10%
/// of equity"); 0 when the broker matched the state or it was a first run.
fn position_drift(ledger: &Ledger) -> Option<Decimal> {
    let stage = ledger.stages.iter().find(|s| s.name == "reconcile")?;
    match stage.summary.find("% of equity") {
        Some(end) => {
            let head = &stage.summary[..end];
            let start = head.rfind(' ').map_or(0, |i| i + 1);
            head[start..].parse().ok()
        }
        None => Some(Decimal::ZERO),
    }
}

/// Shares ordered (the first order of each symbol and side: a retry of what is left is not
/// counted again) and filled, and the slippage of each fill.
pub fn order_figures(ledger: &Ledger) -> (Decimal, Decimal, Vec<Decimal>) {
    let mut seen: Vec<(String, &str)> = Vec::new();
    let mut ordered = Decimal::ZERO;
    for o in &ledger.orders {
        let key = (o.symbol.clone(), o.side.as_str());
        if !seen.contains(&key) {
            seen.push(key);
            ordered += Decimal::from(o.quantity);
        }
    }
    let filled = ledger.orders.iter().map(|o| o.filled).sum();
    let slips = ledger
        .orders
        .iter()
        .filter(|o| !o.filled.is_zero())
        .filter_map(|o| o.slippage_pct)
        .collect();
    (ordered, filled, slips)
}

/// A validation row as readiness reads it: the mean |drift| of its symbols too.
pub fn validated(row: &Row) -> Validated {
    let drifts: Vec<Decimal> = row
        .drift
        .split(';')
        .filter_map(|p| p.split_once(':')?.1.parse::<Decimal>().ok())
        .map(|d| d.abs())
        .collect();
    Validated {
        verdict: row.verdict.clone(),
        logic_match_pct: row.logic_match_pct,
        mean_drift_pct: (!drifts.is_empty())
            .then(|| drifts.iter().sum::<Decimal>() / Decimal::from(drifts.len())),
        max_drift_pct: row.max_drift_pct,
    }
}

fn session_record(paths: &StatePaths, date: NaiveDate, rows: &[Row], mode: Mode) -> SessionRecord {
    let read = read_ledger(&paths.ledger(date));
    let (ordered, filled, slippages) = read
        .as_ref()
        .map(|(l, _)| order_figures(l))
        .unwrap_or_default();
    SessionRecord {
        date,
        status: read.as_ref().map(|(l, _)| l.status),
        intact: read.as_ref().is_none_or(|(_, ok)| *ok) && !unreadable(paths, date),
        ordered,
        filled,
        slippages,
        position_drift_pct: read.as_ref().and_then(|(l, _)| position_drift(l)),
        validation: rows
            .iter()
            .find(|r| r.date == date && r.mode == mode.as_str())
            .map(validated),
        manual: Vec::new(),
    }
}

/// A ledger file that is there but does not read as a ledger at all.
fn unreadable(paths: &StatePaths, date: NaiveDate) -> bool {
    let path = paths.ledger(date);
    path.exists() && read_ledger(&path).is_none()
}

/// The hand-made changes to the books (accept, restore, adopt) credited to the session on
/// or after which they were made.
fn credit_manual(sessions: &mut [SessionRecord], audit: &[AuditRow]) {
    for row in audit {
        let action = row.action.as_str();
        if !matches!(action, "accept" | "restore" | "adopt") {
            continue;
        }
        let day = row
            .time
            .with_timezone(&chrono_tz::America::New_York)
            .date_naive();
        if let Some(s) = sessions.iter_mut().rev().find(|s| s.date <= day) {
            s.manual.push(format!("state {action} ({})", row.detail));
        }
    }
}

/// Everything the criteria of `mode`'s phase read, over its last `n` sessions up to the
/// mode's last session with a ledger.
pub fn readiness_records(loaded: &Loaded, mode: Mode, n: usize) -> Result<Records> {
    let paths = StatePaths::new(loaded, mode);
    let rows = crate::storage::validation::read_rows(&loaded.logs_dir().join("validation.csv"))?;
    let dates = last_session(&paths).map_or(Vec::new(), |last| sessions_up_to(last, n));
    let mut sessions: Vec<SessionRecord> = dates
        .iter()
        .map(|date| session_record(&paths, *date, &rows, mode))
        .collect();
    // The return against the backtest over the same sessions as `report` has them, each
    // session's emergency exit folded in.
    let ledgers = crate::storage::ledger::sessions(&paths, read_any, |l| {
        dates.contains(&l.session) && l.completed()
    })?;
    credit_manual(&mut sessions, &paths.audit_rows());
    let state = paths.state_file();
    let return_gap_pct = match mode {
        Mode::DryRun => None,
        _ => return_gap(loaded, mode, &ledgers),
    };
    Ok(Records {
        mode,
        sessions,
        state_intact: !state.exists() || fsutil::is_intact::<State>(&state),
        return_gap_pct,
    })
}

/// The backtest over the ledgers' sessions, from the first one's value, on local bars (the
/// simulator's costs in paper mode); `None` when the bars cannot be read.
pub fn backtest_over(loaded: &Loaded, mode: Mode, ledgers: &[Ledger]) -> Option<backtest::Outcome> {
    let (first, last) = (ledgers.first()?, ledgers.last()?);
    let c = &loaded.config;
    let mut settings = c.backtest_settings(first.session);
    settings.trading_start = first.session;
    settings.end = Some(last.session);
    settings.initial_cash = first.equity_before.unwrap_or(settings.initial_cash);
    if mode == Mode::Paper {
        settings.costs = c.sim.costs();
    }
    let history = History::load_dir(&loaded.data_dir(), &settings.params.all_symbols()).ok()?;
    backtest::run(&history, &settings).ok()
}

/// The account's time-weighted return over the ledgers less the backtest's, in points.
fn return_gap(loaded: &Loaded, mode: Mode, ledgers: &[Ledger]) -> Option<Decimal> {
    let outcome = backtest_over(loaded, mode, ledgers)?;
    let values: Vec<_> = outcome
        .days
        .iter()
        .map(|d| (d.date, d.portfolio_value))
        .collect();
    crate::domain::performance::rows(ledgers, &values)
        .last()?
        .tracking_pct
}

/// The verdict of `mode`'s phase over its records.
pub fn verdict(loaded: &Loaded, mode: Mode) -> Result<crate::domain::readiness::Verdict> {
    let r = &loaded.config.readiness;
    let n = match mode {
        Mode::DryRun => r.dry_run.sessions,
        _ => r.paper.sessions,
    };
    let records = readiness_records(loaded, mode, n)?;
    Ok(crate::domain::readiness::evaluate(&records, r))
}

/// The criteria of a verdict that fail, by name.
pub fn failing(v: &crate::domain::readiness::Verdict) -> String {
    v.criteria
        .iter()
        .filter(|c| !c.pass)
        .map(|c| format!("{} {} (needs {})", c.name, c.value, c.threshold))
        .collect::<Vec<_>>()
        .join("; ")
}

/// With `readiness.waive_reason` set, while the paper criteria fail: the line that says
/// live trading goes on under the waiver (for `health` and every live run's alert).
pub fn waiver_note(loaded: &Loaded) -> Result<Option<String>> {
    let Some(reason) = &loaded.config.readiness.waive_reason else {
        return Ok(None);
    };
    let v = verdict(loaded, Mode::Paper)?;
    Ok((!v.passed).then(|| {
        format!(
            "live trading under a readiness waiver ({reason}): the paper criteria do not pass: {}",
            failing(&v)
        )
    }))
}
