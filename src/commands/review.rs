//! `jutsu review`: the week against the backtest (return, tracking error, slippage, fill
//! rate, logic match, the warnings and errors, go or needs attention), or with `--month` the
//! attribution of the month's gap. Reads only; its date is the account's last session.

use std::path::PathBuf;

use chrono::{Datelike, Duration, NaiveDate};
use rust_decimal::Decimal;

use crate::config::{Level, Loaded, Mode};
use crate::domain::backtest::{self, Outcome};
use crate::domain::bars::History;
use crate::domain::calendar;
use crate::domain::journal::{Ledger, RunStatus};
use crate::domain::portfolio::Costs;
use crate::domain::review::{self, Activity, AttributionDay, FillPart, Point};
use crate::domain::validate::Row;
use crate::storage::records;
use crate::storage::state::StatePaths;
use crate::storage::{fsutil, validation};
use crate::support::clock::Clock;
use crate::support::error::{exit, Error, Result};

/// What the command line asked.
pub(super) struct Args<'a> {
    /// The Monday of the week.
    pub(super) week: Option<NaiveDate>,
    /// The first of the month.
    pub(super) month: Option<NaiveDate>,
    /// The page to write.
    pub(super) html: Option<&'a PathBuf>,
    /// Send it as an alert.
    pub(super) send: bool,
    /// Print one JSON object instead of the text.
    pub(super) json: bool,
}

/// The completed runs of the mode (any checksum: this only reads), by session, each
/// session's emergency exit folded in as `report` has it.
fn completed(paths: &StatePaths) -> Vec<Ledger> {
    crate::storage::ledger::sessions(paths, records::read_any, Ledger::completed)
        .unwrap_or_default()
}

/// The backtest from the first ledger's session and value through `to`, with `costs` (the
/// mode's, or none); and the bars. `None` when the bars cannot be read.
fn replay(
    loaded: &Loaded,
    first: &Ledger,
    to: NaiveDate,
    costs: Option<Costs>,
) -> Option<(Outcome, History)> {
    let c = &loaded.config;
    let mut settings = c.backtest_settings(first.session);
    settings.trading_start = first.session;
    settings.end = Some(to);
    settings.initial_cash = first.equity_before.unwrap_or(settings.initial_cash);
    settings.costs = match (costs, c.mode) {
        (Some(costs), _) => costs,
        (None, Mode::Paper) => c.sim.costs(),
        (None, _) => settings.costs,
    };
    let history = History::load_dir(&loaded.data_dir(), &settings.params.all_symbols()).ok()?;
    Some((backtest::run(&history, &settings).ok()?, history))
}

fn value_on(outcome: Option<&Outcome>, date: NaiveDate) -> Option<Decimal> {
    outcome?
        .days
        .iter()
        .find(|d| d.date == date)
        .map(|d| d.portfolio_value)
}

/// Prints the week or the month; writes the page and sends the alert when asked.
pub(super) fn run(loaded: &Loaded, args: &Args, clock: &dyn Clock) -> Result<u8> {
    let mode = loaded.config.mode;
    let paths = StatePaths::new(loaded, mode);
    let ledgers = completed(&paths);
    let Some(last) = records::last_session(&paths) else {
        let note = format!(
            "no {} runs to review in {}",
            mode.as_str(),
            paths.runs_dir().display()
        );
        match args.json {
            true => super::print_json(&serde_json::json!({ "mode": mode.as_str(), "note": note }))?,
            false => println!("{note}"),
        }
        return Ok(exit::OK);
    };
    let rows = validation::read_rows(&loaded.logs_dir().join("validation.csv"))?;
    let (title, text, go, date, json) = match args.month {
        Some(first) => {
            let label = first.format("%Y-%m").to_string();
            let (text, json) = match month(loaded, &ledgers, first) {
                Ok(a) => (
                    review::attribution_text(&label, &a),
                    serde_json::json!({ "attribution": attribution_json(&a) }),
                ),
                Err(note) => (
                    format!("month {label}: {note}\n"),
                    serde_json::json!({ "note": note }),
                ),
            };
            let mut json = json;
            json["mode"] = mode.as_str().into();
            json["month"] = label.into();
            (
                format!("{} {}", mode.as_str(), first.format("%Y-%m")),
                text,
                true,
                last,
                json,
            )
        }
        None => {
            let monday = args.week.unwrap_or_else(|| monday_of(last));
            let w = week(loaded, &ledgers, &rows, monday);
            let date = w.1.min(last);
            let go = w.0.reasons.is_empty();
            let mut json = serde_json::to_value(&w.0).map_err(|e| Error::Other(e.to_string()))?;
            json["mode"] = mode.as_str().into();
            json["go"] = go.into();
            if let Some(fields) = json.as_object_mut() {
                fields.remove("label");
            }
            json["week"] = w.0.label.clone().into();
            (w.0.label.clone(), review::week_text(&w.0), go, date, json)
        }
    };
    match args.json {
        true => super::print_json(&json)?,
        false => print!("{text}"),
    }
    if let Some(path) = args.html {
        fsutil::write_atomic(path, page(&title, &text).as_bytes(), false)?;
        println!("review written to {}", path.display());
    }
    if args.send {
        let alert = crate::alert::Alert {
            level: if go { Level::Info } else { Level::Warning },
            kind: "review".into(),
            mode: mode.as_str().into(),
            date,
            headline: format!("{title}: {}", if go { "GO" } else { "NEEDS ATTENTION" }),
            summary: text.lines().rev().take(1).map(String::from).collect(),
            details: text.clone(),
        };
        super::send_alert(loaded, clock, &alert);
    }
    Ok(exit::OK)
}

/// The attribution in cents as the text shows it (parts that add up to the total), each
/// amount with its two decimals.
fn attribution_json(a: &review::Attribution) -> serde_json::Value {
    let mut json = serde_json::to_value(review::in_cents(a)).unwrap_or_default();
    if let Some(fields) = json.as_object_mut() {
        for value in fields.values_mut() {
            if let Some(amount) = value.as_str().and_then(|v| v.parse::<Decimal>().ok()) {
                *value = crate::domain::portfolio::cents(amount).into();
            }
        }
    }
    json
}

fn monday_of(date: NaiveDate) -> NaiveDate {
    date - Duration::days(date.weekday().num_days_from_monday().into())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn page(title: &str, text: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>jutsu review {}</title>\
         </head>\n<body><h1>jutsu review {}</h1>\n<pre>{}</pre></body></html>\n",
        escape(title),
        escape(title),
        escape(text)
    )
}

/// The week of `monday`: its figures and its last day.
fn week(
    loaded: &Loaded,
    ledgers: &[Ledger],
    rows: &[Row],
    monday: NaiveDate,
) -> (review::Week, NaiveDate) {
    let sunday = monday + Duration::days(6);
    let iso = monday.iso_week();
    let label = format!("{}-W{:02}", iso.year(), iso.week());
    let inside: Vec<&Ledger> = ledgers
        .iter()
        .filter(|l| l.session >= monday && l.session <= sunday)
        .collect();
    let c = &loaded.config;
    let bar = review::Bar {
        max_gap_pct: c.readiness.paper.max_return_gap_pct,
        max_mean_slippage_pct: c.readiness.paper.max_mean_slippage_pct,
        min_fill_rate_pct: c.readiness.paper.min_fill_rate_pct,
        min_logic_match_pct: c.readiness.paper.min_logic_match_pct,
    };
    let Some(first) = ledgers.first() else {
        return (review::week(&label, &[], &[], &bar), sunday);
    };
    let replayed = replay(loaded, first, sunday, None);
    let outcome = replayed.as_ref().map(|r| &r.0);
    let points = week_points(ledgers, &inside, monday, first, outcome);
    let mut days: Vec<(NaiveDate, Activity)> = inside
        .iter()
        .map(|l| (l.session, activity(l, rows)))
        .collect();
    days.extend(missed(loaded, ledgers, rows, monday, sunday));
    days.sort_by_key(|d| d.0);
    (review::week(&label, &points, &days, &bar), sunday)
}

/// The baseline (the last completed run before the week, else the first run's value
/// before it) and each completed run of the week, with the backtest beside them.
fn week_points(
    ledgers: &[Ledger],
    inside: &[&Ledger],
    monday: NaiveDate,
    first: &Ledger,
    outcome: Option<&Outcome>,
) -> Vec<Point> {
    let mut points = Vec::new();
    match ledgers.iter().rev().find(|l| l.session < monday) {
        Some(before) => points.push(Point {
            date: before.session,
            account: before.equity_after.unwrap_or_default(),
            flow: Decimal::ZERO,
            backtest: value_on(outcome, before.session),
        }),
        None => {
            if let Some(start) = inside.first() {
                points.push(Point {
                    date: calendar::previous_session(start.session),
                    account: start.equity_before.unwrap_or_default(),
                    flow: Decimal::ZERO,
                    backtest: outcome.and(first.equity_before),
                });
            }
        }
    }
    for l in inside {
        points.push(Point {
            date: l.session,
            account: l.equity_after.unwrap_or_default(),
            flow: match points.len() {
                0 => Decimal::ZERO,
                _ => crate::domain::performance::external_flow(l),
            },
            backtest: value_on(outcome, l.session),
        });
    }
    points
}

/// The week's sessions without a completed run, each with what its ledger says (or that
/// there is none), up to the account's last session.
fn missed(
    loaded: &Loaded,
    ledgers: &[Ledger],
    rows: &[Row],
    monday: NaiveDate,
    sunday: NaiveDate,
) -> Vec<(NaiveDate, Activity)> {
    let paths = StatePaths::new(loaded, loaded.config.mode);
    let last = records::last_session(&paths).unwrap_or(sunday).min(sunday);
    calendar::sessions(monday, last)
        .filter(|d| !ledgers.iter().any(|l| l.session == *d))
        .map(|d| {
            let mut a = match records::read_ledger(&paths.ledger(d)) {
                Some((l, _)) => activity(&l, rows),
                None => Activity::default(),
            };
            a.issues.insert(0, "error: no completed run".into());
            (d, a)
        })
        .collect()
}

/// A session's orders, its validation and its warnings and errors: failed stages, a run
/// that did not complete, alert channels that failed, a validation that is not GREEN.
fn activity(l: &Ledger, rows: &[Row]) -> Activity {
    let (ordered, filled, slippages) = records::order_figures(l);
    let row = rows
        .iter()
        .find(|r| r.date == l.session && r.mode == l.mode.as_str());
    let mut issues: Vec<String> = l
        .stages
        .iter()
        .filter(|s| !s.ok)
        .map(|s| format!("error: {} failed: {}", s.name, s.summary))
        .collect();
    if l.status != RunStatus::Done {
        issues.push(format!(
            "error: the run ended {:?}: {}",
            l.status,
            l.message.clone().unwrap_or_default()
        ));
    }
    issues.extend(
        l.alert_failures
            .iter()
            .map(|f| format!("warning: the {} alert failed: {}", f.channel, f.error)),
    );
    if let Some(r) = row.filter(|r| r.verdict != "GREEN") {
        issues.push(format!(
            "warning: validate {} (logic match {}, max drift {})",
            r.verdict,
            r.logic_match_pct
                .map_or("-".into(), |v| v.normalize().to_string()),
            r.max_drift_pct
                .map_or("-".into(), |v| v.normalize().to_string())
        ));
    }
    Activity {
        ordered,
        filled,
        slippages,
        logic_match_pct: row.and_then(|r| r.logic_match_pct),
        issues,
    }
}

/// The attribution of the month beginning `first`, or why there is none.
fn month(
    loaded: &Loaded,
    ledgers: &[Ledger],
    first: NaiveDate,
) -> std::result::Result<review::Attribution, String> {
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(NaiveDate::MAX);
    let inside: Vec<&Ledger> = ledgers
        .iter()
        .filter(|l| l.session >= first && l.session < next)
        .collect();
    let (Some(start), Some(end)) = (ledgers.first(), inside.last()) else {
        return Err("no completed run".into());
    };
    // The backtest the attribution compares with fills at the close and pays nothing.
    let Some((outcome, history)) = replay(
        loaded,
        start,
        end.session,
        Some(Costs {
            commission_per_share: Decimal::ZERO,
            slippage: Decimal::ZERO,
        }),
    ) else {
        return Err(format!(
            "no backtest (the bars of {} cannot be read)",
            loaded.data_dir().display()
        ));
    };
    let days: Vec<AttributionDay> = inside
        .iter()
        .map(|l| attribution_day(loaded, ledgers, l, &outcome, &history))
        .collect();
    Ok(review::attribute(&days))
}

fn attribution_day(
    loaded: &Loaded,
    ledgers: &[Ledger],
    l: &Ledger,
    outcome: &Outcome,
    history: &History,
) -> AttributionDay {
    let previous = ledgers.iter().rev().find(|p| p.session < l.session);
    let account_before = previous
        .and_then(|p| p.equity_after)
        .or(l.equity_before)
        .unwrap_or_default();
    let bt_before = match previous {
        Some(p) => value_on(Some(outcome), p.session),
        None => l.equity_before,
    };
    let bt_after = value_on(Some(outcome), l.session);
    let backtest_return = match (bt_before, bt_after) {
        (Some(b), Some(a)) if !b.is_zero() => a / b - Decimal::ONE,
        _ => Decimal::ZERO,
    };
    let commission = match loaded.config.mode {
        Mode::Paper => loaded.config.sim.commission_per_share,
        _ => Decimal::ZERO,
    };
    let close_of = |symbol: &str| {
        history
            .bars(symbol)
            .iter()
            .find(|b| b.date == l.session)
            .map(|b| b.close * l.basis_of(symbol))
    };
    let filled: Vec<_> = l.orders.iter().filter(|o| !o.filled.is_zero()).collect();
    let fills = filled
        .iter()
        .map(|o| FillPart {
            side: o.side,
            shares: o.filled,
            fill: o.average_price.unwrap_or(o.reference_price),
            quote: o.reference_price,
            close: close_of(&o.symbol).unwrap_or(o.reference_price),
        })
        .collect();
    let [dividends, in_lieu, deposits, withdrawals] =
        crate::domain::performance::flow_totals(std::slice::from_ref(l));
    let backtest_decision = outcome
        .days
        .iter()
        .find(|d| d.date == l.session)
        .and_then(|d| d.decision.as_ref());
    AttributionDay {
        date: l.session,
        account_before,
        account_after: l.equity_after.unwrap_or_default(),
        backtest_return,
        fills,
        commissions: filled.iter().map(|o| o.filled * commission).sum(),
        dividends: dividends + in_lieu,
        flows: deposits + withdrawals,
        decision_differed: match (l.decision.as_ref(), backtest_decision) {
            (Some(a), Some(b)) => a.cell != b.cell || a.weights != b.weights,
            _ => false,
        },
    }
}
