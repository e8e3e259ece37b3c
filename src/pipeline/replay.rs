//! `jutsu replay SESSION`: the session's decision derived again from what its ledger
//! recorded (the quotes, their volumes and history basis) and the history as of that run
//! (the bar store, or the local bars), compared field by field with the recorded one. The
//! ledger's digest of the history it decided on proves, or disproves, that the same bars
//! were used.

use chrono::NaiveDate;
use serde_json::Value;

use crate::config::{Loaded, Mode};
use crate::domain::backtest;
use crate::domain::bars::History;
use crate::domain::journal::Ledger;
use crate::domain::market::Quote;
use crate::storage::state::StatePaths;
use crate::support::error::{Error, Result};

/// One field of the decision, as recorded and as derived again.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// In the ledger.
    pub recorded: Value,
    /// Derived again.
    pub replayed: Value,
}

/// A replayed session.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// The session.
    pub session: NaiveDate,
    /// Every field of the decision.
    pub fields: Vec<Field>,
    /// The digest the ledger recorded (None for a ledger written before digests).
    pub recorded_digest: Option<String>,
    /// The digest of the history used now.
    pub digest: String,
}

impl Replay {
    /// Every field equal.
    pub fn same_decision(&self) -> bool {
        self.fields.iter().all(|f| f.recorded == f.replayed)
    }

    /// The same history, as far as the ledger can say.
    pub fn same_history(&self) -> Option<bool> {
        self.recorded_digest.as_ref().map(|d| *d == self.digest)
    }
}

/// The history of every symbol before `session`, from the store when one is configured,
/// else from the local bars.
fn history_before(loaded: &Loaded, session: NaiveDate) -> Result<History> {
    let c = &loaded.config;
    let symbols = c.strategy.parameters.all_symbols();
    let store = crate::brokers::sources::bar_store(loaded)?;
    if store.is_none() && c.data.source == crate::config::DataSource::Schwab {
        return Err(Error::Usage(
            "the history of a run on Schwab data is not kept without a bar store: set \
             `data.store` (and run `jutsu data update`) to replay Schwab runs"
                .into(),
        ));
    }
    let mut history = match &store {
        Some(store) => {
            let mut history = History::default();
            for symbol in symbols {
                let bars = store.bars(&symbol, c.data.history_start)?;
                history.series.insert(symbol, bars);
            }
            history
        }
        None => History::load_dir(&loaded.data_dir(), &symbols)?,
    };
    for bars in history.series.values_mut() {
        bars.retain(|b| b.date >= c.data.history_start && b.date < session);
    }
    Ok(history)
}

/// The quotes a ledger recorded, with their volume and history basis.
fn recorded_quotes(ledger: &Ledger) -> Vec<Quote> {
    let volume = |s: &str| {
        ledger
            .quote_volumes
            .iter()
            .find(|(v, _)| v == s)
            .map(|(_, d)| *d)
    };
    ledger
        .quotes
        .iter()
        .map(|(symbol, last)| Quote {
            symbol: symbol.clone(),
            last: *last,
            bid: None,
            ask: None,
            time: ledger.started_at,
            day_volume: volume(symbol),
            mark: None,
            history_basis: ledger.basis_of(symbol),
            previous_close: None,
            security_status: None,
            realtime: true,
            no_bid_ask: false,
        })
        .collect()
}

/// Replays the decision of `session` in `mode`.
pub fn replay(loaded: &Loaded, mode: Mode, session: NaiveDate) -> Result<Replay> {
    let path = StatePaths::new(loaded, mode).ledger(session);
    let ledger = Ledger::load(&path)?.ok_or_else(|| {
        Error::Usage(format!(
            "no {} run ledger for {session} at {}",
            mode.as_str(),
            path.display()
        ))
    })?;
    let recorded = ledger.decision.ok_or_else(|| {
        Error::Usage(format!(
            "the run of {session} recorded no decision ({})",
            path.display()
        ))
    })?;
    let history = history_before(loaded, session)?;
    let today = super::synthetic_bars(&recorded_quotes(&ledger), session);
    let settings = loaded.config.backtest_settings(session);
    let replayed = backtest::decide_day(&history, session, &today, &settings)?
        .decision
        .ok_or_else(|| Error::Other(format!("no decision on {session}: not enough history")))?;
    let as_map = |d: &crate::domain::strategy::Decision| match serde_json::to_value(d) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (a, b) = (as_map(&recorded), as_map(&replayed));
    let fields = a
        .into_iter()
        .map(|(name, recorded)| Field {
            replayed: b.get(&name).cloned().unwrap_or(Value::Null),
            name,
            recorded,
        })
        .collect();
    Ok(Replay {
        session,
        fields,
        recorded_digest: ledger.history_digest.clone(),
        digest: history.digest(),
    })
}
