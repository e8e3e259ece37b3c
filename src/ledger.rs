//! The run ledger (`runs/<session>.json`): every stage as it completes, the decision and the
//! plan, and the order journal. Each order is written PENDING before it is sent, SUBMITTED
//! with the broker's id, then with its final state, so that a later run knows exactly what
//! was sent.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::Mode;
use crate::error::Result;
use crate::fsutil::{self, Sealed};

/// Backups kept of each ledger.
const BACKUPS: usize = 2;
use crate::plan::Plan;
use crate::portfolio::Side;
use crate::strategy::Decision;

/// How a run ended (or that it is under way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// Under way (or killed while under way).
    Running,
    /// Completed: the plan was executed, or there was nothing to trade.
    Done,
    /// Stopped before sending anything.
    Skipped,
    /// Some orders were sent and the run stopped.
    Incomplete,
    /// Failed before sending anything.
    Failed,
}

/// Where an order of the journal stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderState {
    /// Written, not yet sent (or sent and the process died before recording it).
    Pending,
    /// Accepted by the broker.
    Submitted,
    /// The broker's answer was lost: settle by listing orders, never by sending again.
    Unknown,
    /// Completely filled.
    Filled,
    /// Ended with part of it filled.
    PartiallyFilled,
    /// Ended with nothing filled (canceled, expired).
    Unfilled,
    /// Refused.
    Rejected,
    /// Written but never placed (not found at the broker after a crash).
    NotSent,
}

impl OrderState {
    /// True once nothing more can happen to the order.
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            OrderState::Pending | OrderState::Submitted | OrderState::Unknown
        )
    }
}

/// One order of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerOrder {
    /// Position in the journal.
    pub seq: usize,
    /// Symbol.
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Shares sent.
    pub quantity: i64,
    /// Reference price (ask for buys, bid for sells, else last).
    pub reference_price: Decimal,
    /// State.
    pub state: OrderState,
    /// The broker's id.
    pub broker_id: Option<String>,
    /// Shares filled.
    pub filled: Decimal,
    /// Average fill price.
    pub average_price: Option<Decimal>,
    /// Adverse slippage in percent (favourable counts as 0).
    pub slippage_pct: Option<Decimal>,
    /// When it was sent.
    pub sent_at: Option<DateTime<Utc>>,
    /// Anything worth knowing (rejection reason, retry of seq N, ...).
    pub note: Option<String>,
    /// The shares its plan line was to trade in this run after the buying-power cap: the
    /// first order's size (a retry sends what is left of it). A resumed run finishes this,
    /// not the uncapped plan.
    #[serde(default)]
    pub intended: Option<i64>,
}

impl LedgerOrder {
    /// The entry written just before an order is sent (PENDING: it may reach the broker).
    pub fn pending(
        seq: usize,
        (symbol, side, quantity): (&str, Side, i64),
        reference_price: Decimal,
        now: DateTime<Utc>,
        note: Option<String>,
    ) -> Self {
        LedgerOrder {
            seq,
            symbol: symbol.to_string(),
            side,
            quantity,
            reference_price,
            state: OrderState::Pending,
            broker_id: None,
            filled: Decimal::ZERO,
            average_price: None,
            slippage_pct: None,
            sent_at: Some(now),
            note,
            intended: Some(quantity),
        }
    }

    /// The broker order this entry stands for, found among `listed` by symbol, side and
    /// quantity, skipping orders already `claimed` by other entries.
    pub fn find_in<'a>(
        &self,
        listed: &'a [crate::broker::Order],
        claimed: &[String],
    ) -> Option<&'a crate::broker::Order> {
        listed.iter().find(|o| {
            o.symbol == self.symbol
                && o.side == self.side
                && o.quantity == Decimal::from(self.quantity)
                && !claimed.contains(&o.id)
        })
    }
}

/// One completed stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// Stage name.
    pub name: String,
    /// Passed.
    pub ok: bool,
    /// What it found.
    pub summary: String,
    /// Milliseconds it took.
    pub millis: u64,
}

/// The ledger of one session's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// Session.
    pub session: NaiveDate,
    /// Mode.
    pub mode: Mode,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// Status.
    pub status: RunStatus,
    /// Stages in order.
    pub stages: Vec<StageRecord>,
    /// Quotes used (symbol, price).
    pub quotes: Vec<(String, Decimal)>,
    /// The decision.
    pub decision: Option<Decision>,
    /// The plan.
    pub plan: Option<Plan>,
    /// The order journal.
    pub orders: Vec<LedgerOrder>,
    /// The final message.
    pub message: Option<String>,
    /// Account value before the run (at the run's quotes).
    #[serde(default)]
    pub equity_before: Option<Decimal>,
    /// Account value after the run.
    #[serde(default)]
    pub equity_after: Option<Decimal>,
    /// Alert channels that failed to deliver this run's summary.
    #[serde(default)]
    pub alert_failures: Vec<crate::alert::AlertFailure>,
}

impl Ledger {
    /// A new ledger for a run starting now.
    pub fn new(session: NaiveDate, mode: Mode, now: DateTime<Utc>) -> Self {
        Ledger {
            session,
            mode,
            started_at: now,
            status: RunStatus::Running,
            stages: Vec::new(),
            quotes: Vec::new(),
            decision: None,
            plan: None,
            orders: Vec::new(),
            message: None,
            equity_before: None,
            equity_after: None,
            alert_failures: Vec::new(),
        }
    }

    /// Reads a ledger, restoring a damaged one from its backup (see [`fsutil::read_sealed`]).
    pub fn load_checked(path: &Path) -> Result<Sealed<Self>> {
        fsutil::read_sealed(path, BACKUPS)
    }

    /// Reads a ledger; `None` when absent. A damaged one is restored from its backup when
    /// possible (a warning is logged), else it is an error.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        Ok(match Self::load_checked(path)? {
            Sealed::Missing => None,
            Sealed::Good(l) | Sealed::Restored { value: l, .. } => Some(l),
        })
    }

    /// Writes the ledger atomically with a checksum. A closed session's ledger (done) keeps
    /// no backups: no run will change it again.
    pub fn save(&self, path: &Path) -> Result<()> {
        fsutil::write_sealed(path, self)?;
        if self.status == RunStatus::Done {
            fsutil::remove_backups(path, BACKUPS)?;
        }
        Ok(())
    }

    /// Backs up the ledger before a run takes it up again (a resumed session).
    pub fn backup(path: &Path) -> Result<()> {
        fsutil::backup_sealed::<Self>(path, BACKUPS)
    }

    /// Writes a journal entry in its place (by `seq`), or adds it.
    pub fn put(&mut self, entry: &LedgerOrder) {
        match self.orders.iter_mut().find(|o| o.seq == entry.seq) {
            Some(slot) => *slot = entry.clone(),
            None => self.orders.push(entry.clone()),
        }
    }

    /// The broker ids the journal already holds.
    pub fn claimed_ids(&self) -> Vec<String> {
        self.orders
            .iter()
            .filter_map(|o| o.broker_id.clone())
            .collect()
    }

    /// True when some order of the journal reached the broker, or may have: a PENDING entry
    /// is written just before sending, so a crash can leave one that was sent.
    pub fn anything_sent(&self) -> bool {
        self.orders.iter().any(|o| o.state != OrderState::NotSent)
    }
}
