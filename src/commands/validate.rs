//! `jutsu validate [--date D]`: the 15:55 decision against the decision on the close.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::alert::{Alert, Alerter, Level};
use crate::config::{DataSource, Loaded};
use crate::domain::backtest;
use crate::domain::bars::{Bar, History};
use crate::domain::calendar;
use crate::domain::journal::Ledger;
use crate::domain::validate::{self, Verdict};
use crate::error::{exit, Error, Result};
use crate::sources::{self, SharedClock};
use crate::storage::state::StatePaths;

pub(super) fn run(date: Option<NaiveDate>, loaded: &Loaded, clock: SharedClock) -> Result<u8> {
    let c = &loaded.config;
    let mode = c.mode;
    let paths = StatePaths::new(loaded, mode);
    let now = clock.now_utc();
    let session = match date {
        Some(d) if !calendar::is_session(d) => {
            return Err(Error::Usage(format!("{d} is not a session")));
        }
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
        return Err(Error::Usage(format!("{session} is not a session")));
    };
    if now < hours.close && c.data.source == DataSource::Schwab {
        return Err(Error::Usage(format!(
            "{session} has not closed yet: validate after {} ET",
            hours.close.format("%H:%M")
        )));
    }
    let csv = loaded.logs_dir().join("validation.csv");
    let ledger = Ledger::load(&paths.ledger(session))?;
    let Some((ledger, at_run)) = ledger.and_then(|l| l.decision.map(|d| (l, d))) else {
        crate::storage::validation::append(&csv, session, mode.as_str(), None)?;
        println!(
            "validate {session}: NO_RUN: no {} run ledger with a decision for {session}",
            mode.as_str()
        );
        return Ok(exit::FAILURE);
    };

    // The official bars: local bars seen after the close, or Schwab's daily candles.
    let as_of = match c.data.source {
        DataSource::Local => hours.close.with_timezone(&chrono::Utc),
        DataSource::Schwab => now,
    };
    let data = sources::market_data(loaded, clock.clone(), as_of)?;
    let symbols = c.strategy.parameters.all_symbols();
    let mut history = History::default();
    let mut today: Vec<(String, Bar)> = Vec::new();
    let mut closes = BTreeMap::new();
    for symbol in &symbols {
        let mut bars = data.daily_bars(symbol, c.data.history_start)?;
        if let Some(last) = bars.last().copied().filter(|b| b.date == session) {
            bars.pop();
            today.push((symbol.clone(), last));
            closes.insert(symbol.clone(), last.close);
        } else if *symbol == c.strategy.parameters.signal_symbol {
            return Err(Error::Other(format!(
                "the official {symbol} bar of {session} is not available yet"
            )));
        }
        history.series.insert(symbol.clone(), bars);
    }
    let settings = c.backtest_settings(session);
    let record = backtest::decide_day(&history, session, &today, &settings)?;
    let at_close = record
        .decision
        .ok_or_else(|| Error::Other(format!("no decision on the close of {session}")))?;
    let v = validate::compare(&ledger, &at_run, &at_close, &closes);
    crate::storage::validation::append(&csv, session, mode.as_str(), Some(&v))?;
    let rows = crate::storage::validation::read_rows(&csv)?;
    let rolling = validate::rolling(&rows, 20);

    let mut out = Vec::new();
    out.push(format!(
        "validate {session} ({}): {}  logic match {}%  max drift {}%",
        mode.as_str(),
        v.verdict.as_str(),
        v.logic_match_pct.normalize(),
        v.max_drift_pct.normalize()
    ));
    out.push(format!(
        "  decision at the run: cell {}{}; on the close: cell {}{}",
        v.cells.0,
        if v.rebalance.0 { " (rebalance)" } else { "" },
        v.cells.1,
        if v.rebalance.1 { " (rebalance)" } else { "" }
    ));
    out.push(format!(
        "  drift (quote vs close): {}",
        v.drifts
            .iter()
            .map(|(s, d)| format!("{s} {:+}%", d.normalize()))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if !v.fill_slippage.is_empty() {
        out.push(format!(
            "  fill slippage vs close: {} (mean {}%)",
            v.fill_slippage
                .iter()
                .map(|(s, d)| format!("{s} {:+}%", d.normalize()))
                .collect::<Vec<_>>()
                .join(", "),
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
    let text = out.join("\n");
    println!("{text}");

    let env = |name: &str| std::env::var(name).ok();
    let secrets = c.secrets(&env).unwrap_or_default();
    let alerter = Alerter::new(&c.alerts, secrets.smtp_password, clock.as_ref());
    if alerter.any() {
        let alert = Alert {
            level: if v.verdict == Verdict::Red {
                Level::Critical
            } else {
                Level::Info
            },
            kind: "validate".into(),
            subject: format!("validate {session}: {}", v.verdict.as_str()),
            body: text,
        };
        for f in alerter.send(&alert) {
            println!(
                "warning: the {} alert was not delivered: {}",
                f.channel, f.error
            );
        }
    }
    Ok(if v.verdict == Verdict::Red {
        exit::FAILURE
    } else {
        exit::OK
    })
}
