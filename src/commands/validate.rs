//! `jutsu validate [--as-of D] [--json]`: the 15:55 decision against the decision on the
//! close.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::alert::{Alert, Level};
use crate::brokers::sources::{self, SharedClock};
use crate::config::{DataSource, Loaded};
use crate::domain::backtest;
use crate::domain::bars::{Bar, History};
use crate::domain::calendar;
use crate::domain::journal::Ledger;
use crate::domain::validate::{self, Rolling, Validation, Verdict};
use crate::storage::state::StatePaths;
use crate::storage::validation;
use crate::support::error::{exit, Error, Result};

/// Validates one session (the last closed one by default), appends the row to
/// `logs/validation.csv`, prints the comparison (text, or one JSON object) and alerts; exit 1
/// on RED or NO_RUN.
pub(super) fn run(
    date: Option<NaiveDate>,
    json: bool,
    loaded: &Loaded,
    clock: SharedClock,
) -> Result<u8> {
    let c = &loaded.config;
    let mode = c.mode;
    let clock = validation_clock(date, loaded, clock)?;
    let (session, hours) = session_to_validate(date, loaded, clock.as_ref())?;
    let csv = loaded.logs_dir().join("validation.csv");
    let ledger = Ledger::load(&StatePaths::new(loaded, mode).ledger(session))?;
    let Some((ledger, at_run)) = ledger.and_then(|l| l.decision.map(|d| (l, d))) else {
        return no_run(loaded, session, &csv, json);
    };
    let official = official_bars(loaded, clock.clone(), session, &hours)?;
    let settings = c.backtest_settings(session);
    let record = backtest::decide_day(&official.history, session, &official.today, &settings)?;
    let at_close = record
        .decision
        .ok_or_else(|| Error::Other(format!("no decision on the close of {session}")))?;
    let v = validate::compare(&ledger, &at_run, &at_close, &official.closes);
    validation::record(&csv, session, mode.as_str(), Some(&v))?;
    let rolling = validate::rolling(&validation::read_rows(&csv)?, mode.as_str(), session, 20);
    let text = describe(session, mode.as_str(), &v, &rolling);
    tracing::info!(
        target: crate::support::report::RUN,
        "validate {session}: {} (logic match {}%, max drift {}%)",
        v.verdict.as_str(),
        v.logic_match_pct.normalize(),
        v.max_drift_pct.normalize()
    );
    match json {
        true => super::print_json(&as_json(mode.as_str(), &v, &rolling))?,
        false => println!("{text}"),
    }
    let (level, advice) = match v.verdict {
        Verdict::Green => (Level::Info, "nothing."),
        Verdict::Yellow => (Level::Warning, "look at the drifts; one YELLOW day is no cause for action."),
        Verdict::Red | Verdict::NoRun => (
            Level::Critical,
            "compare the 15:55 quotes with the close; RED day after day points at bad quotes or data.",
        ),
    };
    let alert = Alert::brief(
        level,
        "validate",
        mode,
        session,
        format!(
            "{} (logic match {}%)",
            v.verdict.as_str(),
            v.logic_match_pct.normalize()
        ),
        advice,
        text,
    );
    let outcome = crate::config::Outcome {
        traded: false,
        problem: v.verdict == Verdict::Red,
        validation: true,
    };
    if loaded.config.alerts.notify.wants(outcome) {
        super::send_alert(loaded, clock.as_ref(), &alert);
    }
    Ok(if v.verdict == Verdict::Red {
        exit::FAILURE
    } else {
        exit::OK
    })
}

/// A session without a run ledger with a decision: NO_RUN (exit 1), recorded unless the
/// account has not reached it.
fn no_run(loaded: &Loaded, session: NaiveDate, csv: &std::path::Path, json: bool) -> Result<u8> {
    let c = &loaded.config;
    let mode = c.mode;
    // On the bundled bars a session after the account's last run is not missed: the
    // account has not reached it, and a NO_RUN row would outlive the run that comes
    // later. (A mode that never ran records its NO_RUN as before.)
    let paths = StatePaths::new(loaded, mode);
    let ahead = c.data.source == DataSource::Local
        && crate::storage::records::last_session(&paths).is_some_and(|last| session > last);
    let why = match ahead {
        true => format!(
            "no {} run for {session} yet: the account has not reached it (`jutsu trade \
             --as-of {session}` runs it); nothing recorded",
            mode.as_str()
        ),
        false => {
            validation::record(csv, session, mode.as_str(), None)?;
            format!(
                "no {} run ledger with a decision for {session}",
                mode.as_str()
            )
        }
    };
    tracing::info!(target: crate::support::report::RUN, "validate {session}: NO_RUN: {why}");
    match json {
        true => super::print_json(&serde_json::json!({
            "session": session,
            "mode": mode.as_str(),
            "verdict": "NO_RUN",
            "reason": why,
        }))?,
        false => println!("validate {session}: NO_RUN: {why}"),
    }
    Ok(exit::FAILURE)
}

/// The session asked for, or the last one that has closed; refused when it is not a
/// session, or (on Schwab data) has not closed yet.
/// Without a date, the account's clock (on the bundled bars, the close of its last
/// session), never the machine's day; with one, the machine's (to refuse the future).
fn validation_clock(
    date: Option<NaiveDate>,
    loaded: &Loaded,
    clock: SharedClock,
) -> Result<SharedClock> {
    match date {
        Some(day) => {
            // Its log lines belong with the session it validates.
            crate::support::logging::name_day(day);
            Ok(clock)
        }
        None => crate::pipeline::dates::account_clock(loaded, loaded.config.mode, None, clock),
    }
}

fn session_to_validate(
    date: Option<NaiveDate>,
    loaded: &Loaded,
    clock: &dyn crate::support::clock::Clock,
) -> Result<(NaiveDate, calendar::SessionHours)> {
    let now = clock.now_utc();
    let session = match date {
        Some(d) => d,
        None => {
            let today = clock.today_et();
            match calendar::session_hours(today) {
                Some(h) if now >= h.close => today,
                _ => calendar::previous_session(today),
            }
        }
    };
    let Some(hours) = calendar::session_hours(session) else {
        return Err(Error::Usage(format!(
            "{session} is not a session (a weekend or an NYSE holiday)"
        )));
    };
    if session > clock.today_et() {
        return Err(Error::Usage(format!(
            "{session} is in the future: a session can be validated after its close"
        )));
    }
    if now < hours.close && loaded.config.data.source == DataSource::Schwab {
        return Err(Error::Usage(format!(
            "{session} has not closed yet: validate after {} ET",
            hours.close.format("%H:%M")
        )));
    }
    Ok((session, hours))
}

/// The official bars of a session: its close-of-day bars apart, the history before them.
struct Official {
    history: History,
    today: Vec<(String, Bar)>,
    closes: BTreeMap<String, rust_decimal::Decimal>,
}

/// Local bars seen after the close, or Schwab's daily candles.
fn official_bars(
    loaded: &Loaded,
    clock: SharedClock,
    session: NaiveDate,
    hours: &calendar::SessionHours,
) -> Result<Official> {
    let c = &loaded.config;
    let as_of = match c.data.source {
        DataSource::Local => hours.close.with_timezone(&chrono::Utc),
        DataSource::Schwab => clock.now_utc(),
    };
    let data = sources::market_data(loaded, clock, as_of)?;
    let mut official = Official {
        history: History::default(),
        today: Vec::new(),
        closes: BTreeMap::new(),
    };
    for symbol in &c.strategy.parameters.all_symbols() {
        let mut bars = data.daily_bars(symbol, c.data.history_start)?;
        if let Some(last) = bars.last().copied().filter(|b| b.date == session) {
            bars.pop();
            official.today.push((symbol.clone(), last));
            official.closes.insert(symbol.clone(), last.close);
        } else if *symbol == c.strategy.parameters.signal_symbol {
            return Err(Error::Other(format!(
                "the official {symbol} bar of {session} is not available yet"
            )));
        }
        official.history.series.insert(symbol.clone(), bars);
    }
    Ok(official)
}

/// The report a user reads: verdict, decisions, drifts, fills and the rolling figures.
fn describe(session: NaiveDate, mode: &str, v: &Validation, rolling: &Rolling) -> String {
    let pcts = |items: &[(String, rust_decimal::Decimal)]| {
        items
            .iter()
            .map(|(s, d)| format!("{s} {:+}%", d.normalize()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rebalance = |b: bool| if b { " (rebalance)" } else { "" };
    let mut out = vec![
        format!(
            "validate {session} ({mode}): {}  logic match {}%  max drift {}%",
            v.verdict.as_str(),
            v.logic_match_pct.normalize(),
            v.max_drift_pct.normalize()
        ),
        format!(
            "  decision at the run: cell {}{}; on the close: cell {}{}",
            v.cells.0,
            rebalance(v.rebalance.0),
            v.cells.1,
            rebalance(v.rebalance.1)
        ),
        format!("  drift (quote vs close): {}", pcts(&v.drifts)),
    ];
    if !v.fill_slippage.is_empty() {
        out.push(format!(
            "  fill slippage vs close: {} (mean {}%)",
            pcts(&v.fill_slippage),
            v.avg_fill_slippage_pct.unwrap_or_default().normalize()
        ));
    }
    let show =
        |d: Option<rust_decimal::Decimal>| d.map_or("-".into(), |d| format!("{}%", d.normalize()));
    out.push(format!(
        "  last {} sessions: logic match {}, drift mean {} worst {}, fill slippage {}, sessions with no run {}",
        rolling.sessions,
        show(rolling.avg_logic_match),
        show(rolling.avg_drift),
        show(rolling.worst_drift),
        show(rolling.avg_slippage),
        rolling.no_run
    ));
    out.join("\n")
}

/// `validate --json`: the verdict and its figures, percentages as decimal strings.
fn as_json(mode: &str, v: &Validation, rolling: &Rolling) -> serde_json::Value {
    let by_symbol = |items: &[(String, rust_decimal::Decimal)]| {
        items
            .iter()
            .map(|(s, d)| (s.clone(), serde_json::json!(d.normalize())))
            .collect::<serde_json::Map<_, _>>()
    };
    serde_json::json!({
        "session": v.date,
        "mode": mode,
        "verdict": v.verdict.as_str(),
        "logic_match_pct": v.logic_match_pct.normalize(),
        "max_drift_pct": v.max_drift_pct.normalize(),
        "drift_pct": by_symbol(&v.drifts),
        "fill_slippage_pct": by_symbol(&v.fill_slippage),
        "avg_fill_slippage_pct": v.avg_fill_slippage_pct.map(|d| d.normalize()),
        "cell": {"run": v.cells.0, "close": v.cells.1},
        "rebalance": {"run": v.rebalance.0, "close": v.rebalance.1},
        "rolling": {
            "sessions": rolling.sessions,
            "avg_logic_match_pct": rolling.avg_logic_match.map(|d| d.normalize()),
            "avg_drift_pct": rolling.avg_drift.map(|d| d.normalize()),
            "worst_drift_pct": rolling.worst_drift.map(|d| d.normalize()),
            "avg_fill_slippage_pct": rolling.avg_slippage.map(|d| d.normalize()),
            "no_run": rolling.no_run,
        },
    })
}
