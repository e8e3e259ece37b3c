//! The run ledger (`runs/<session>.json`): every stage as it completes, the decision and the
//! plan, and the order journal. Each order is written PENDING before it is sent, SUBMITTED
//! with the broker's id, then with its final state, so that a later run knows exactly what
//! was sent. The file side is in `storage::ledger`.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::market::{Order, OrderStatus};
use crate::domain::plan::Plan;
use crate::domain::portfolio::{adverse_slippage_pct, whole_shares, Shares, Side, TooManyShares};
use crate::domain::strategy::Decision;
use crate::domain::Mode;

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

    /// The state after `event`, or an error for a move that cannot happen: a final entry
    /// never changes, only a placed order reports fills, and an order still live at the
    /// broker is never final (a cancel is only a request).
    pub fn transition(&self, event: &OrderEvent) -> Result<OrderState, IllegalTransition> {
        use OrderEvent::{AnswerLost, NeverPlaced, Placed, Reported};
        use OrderState::*;
        let next = match (self, event) {
            (Pending | Unknown, Placed(_)) => Submitted,
            (Pending, AnswerLost) => Unknown,
            (Pending | Unknown, NeverPlaced) => NotSent,
            (Submitted, Reported(r)) if r.rejected => Rejected,
            (Submitted, Reported(r)) if r.filled >= r.quantity => Filled,
            (Submitted, Reported(r)) if r.live => Submitted,
            (Submitted, Reported(r)) if r.filled > 0 => PartiallyFilled,
            (Submitted, Reported(_)) => Unfilled,
            (from, event) => {
                return Err(IllegalTransition {
                    from: from.clone(),
                    event: event.clone(),
                })
            }
        };
        Ok(next)
    }
}

/// What the broker said of a placed order, in the journal's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Whole shares filled so far.
    pub filled: Shares,
    /// Shares the entry sent.
    pub quantity: Shares,
    /// Still live at the broker (working, pending cancel, ...).
    pub live: bool,
    /// Refused by the broker.
    pub rejected: bool,
}

/// What happens to a journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEvent {
    /// The broker has the order under this id (it answered with it, or it was found
    /// there).
    Placed(String),
    /// The answer to the placement was lost: the order may be in.
    AnswerLost,
    /// The broker holds no such order (refused at placement, or never sent).
    NeverPlaced,
    /// The broker reported where the order stands.
    Reported(Report),
}

/// A move of the order state machine that cannot happen.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("a {from:?} journal entry cannot take {event:?}")]
pub struct IllegalTransition {
    /// The state.
    pub from: OrderState,
    /// The event refused.
    pub event: OrderEvent,
}

/// A journal update that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The order state machine refused the move.
    #[error("order {symbol} (journal entry {seq}): {source}")]
    Illegal {
        /// The entry.
        seq: usize,
        /// Its symbol.
        symbol: String,
        /// The refusal.
        source: IllegalTransition,
    },
    /// A share count that does not fit.
    #[error(transparent)]
    Shares(#[from] TooManyShares),
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
    pub quantity: Shares,
    /// Reference price (ask for buys, bid for sells, else last).
    pub reference_price: Decimal,
    /// State.
    state: OrderState,
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
    pub intended: Option<Shares>,
    /// A limit order's price (none for a market order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<Decimal>,
}

impl LedgerOrder {
    /// The entry written just before an order is sent (PENDING: it may reach the broker).
    pub fn pending(
        seq: usize,
        symbol: &str,
        side: Side,
        quantity: Shares,
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
            limit_price: None,
        }
    }

    /// An entry for an order found only at the broker (a rebuilt journal): SUBMITTED with
    /// its id, sized as the broker says, with no reference price to measure against.
    pub fn found_at_broker(seq: usize, order: &Order, note: &str) -> Result<Self, JournalError> {
        let mut entry = LedgerOrder::pending(
            seq,
            &order.symbol,
            order.side,
            whole_shares(order.quantity)?,
            order.average_fill_price.unwrap_or_default(),
            order.entered_time.unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
            Some(note.to_string()),
        );
        entry.sent_at = order.entered_time;
        entry.intended = None;
        entry.apply(OrderEvent::Placed(order.id.clone()))?;
        Ok(entry)
    }

    /// Where the entry stands. Only [`LedgerOrder::apply`] moves it.
    pub fn state(&self) -> &OrderState {
        &self.state
    }

    /// Moves the entry's state by `event` (see [`OrderState::transition`]); a placement
    /// records the broker's id with it.
    pub fn apply(&mut self, event: OrderEvent) -> Result<(), JournalError> {
        let next = self
            .state
            .transition(&event)
            .map_err(|source| JournalError::Illegal {
                seq: self.seq,
                symbol: self.symbol.clone(),
                source,
            })?;
        if let OrderEvent::Placed(id) = event {
            self.broker_id = Some(id);
        }
        self.state = next;
        Ok(())
    }

    /// Records where the broker says the order stands: its fills, the state they mean, and
    /// the adverse slippage of the average fill against the entry's reference price.
    pub fn record_report(&mut self, order: &Order) -> Result<(), JournalError> {
        let report = Report {
            filled: whole_shares(order.filled_quantity)?,
            quantity: self.quantity,
            live: !order.status.is_final(),
            rejected: matches!(order.status, OrderStatus::Rejected(_)),
        };
        self.apply(OrderEvent::Reported(report))?;
        self.filled = order.filled_quantity;
        self.average_price = order.average_fill_price;
        self.slippage_pct = order
            .average_fill_price
            .map(|fill| adverse_slippage_pct(self.side, self.reference_price, fill));
        if let OrderStatus::Rejected(why) = &order.status {
            self.note = Some(why.clone());
        }
        Ok(())
    }

    /// The broker order this entry stands for, found among `listed` by symbol, side and
    /// quantity, skipping orders already `claimed` by other entries.
    pub fn find_in<'a>(&self, listed: &'a [Order], claimed: &[String]) -> Option<&'a Order> {
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

/// An alert channel that could not deliver a run's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertFailure {
    /// email, webhook or deadman.
    pub channel: String,
    /// The last error.
    pub error: String,
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
    /// The quotes whose history basis is not 1 (bundled bars traded as they traded): the
    /// history's price is the quote divided by it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quote_basis: Vec<(String, Decimal)>,
    /// The day's volume of each quote (the synthetic bars' volume).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quote_volumes: Vec<(String, Decimal)>,
    /// The SHA-256 digest of the history the decision was taken on (`History::digest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_digest: Option<String>,
    /// The last session of the saved engine the decision resumed from (the state of the
    /// strategy cached by the previous run); absent when it replayed the whole history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<NaiveDate>,
    /// Splits recognised at reconcile (`TQQQ split 2:1: 340 -> 680 shares`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub splits: Vec<crate::domain::events::FoundSplit>,
    /// Cash that moved without a trade since the state's last run (dividends, deposits,
    /// withdrawals, cash in lieu), as the broker reported it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<crate::domain::events::CashFlow>,
    /// The instant up to which the broker's cash movements were read (the next run reads
    /// from there), when they could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flows_through: Option<DateTime<Utc>>,
    /// The decision.
    pub decision: Option<Decision>,
    /// The plan.
    pub plan: Option<Plan>,
    /// The order journal.
    pub orders: Vec<LedgerOrder>,
    /// The final message.
    pub message: Option<String>,
    /// The stage a stopped run stopped in (`fetch`, `reconcile`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_stage: Option<String>,
    /// Account value before the run (at the run's quotes).
    #[serde(default)]
    pub equity_before: Option<Decimal>,
    /// Account value after the run.
    #[serde(default)]
    pub equity_after: Option<Decimal>,
    /// Alert channels that failed to deliver this run's summary.
    #[serde(default)]
    pub alert_failures: Vec<AlertFailure>,
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
            quote_basis: Vec::new(),
            quote_volumes: Vec::new(),
            history_digest: None,
            resumed_from: None,
            splits: Vec::new(),
            flows: Vec::new(),
            flows_through: None,
            decision: None,
            plan: None,
            orders: Vec::new(),
            message: None,
            failed_stage: None,
            equity_before: None,
            equity_after: None,
            alert_failures: Vec::new(),
        }
    }

    /// The history basis of a symbol's quote (1 unless recorded otherwise).
    pub fn basis_of(&self, symbol: &str) -> Decimal {
        self.quote_basis
            .iter()
            .find(|(s, _)| s == symbol)
            .map_or(Decimal::ONE, |(_, b)| *b)
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

    /// The stage a failed or incomplete run stopped in: as recorded, else its last failed
    /// stage, else the stage after its last completed one (a ledger written before the
    /// stage was recorded).
    pub fn stopped_stage(&self) -> String {
        if let Some(stage) = &self.failed_stage {
            return stage.clone();
        }
        if let Some(failed) = self.stages.iter().rev().find(|st| !st.ok) {
            return failed.name.clone();
        }
        self.stages.last().map_or("preflight".into(), |st| {
            format!("the stage after {}", st.name)
        })
    }

    /// A run that completed, with the account's value after it: a session of the record.
    pub fn completed(&self) -> bool {
        self.status == RunStatus::Done && self.equity_after.is_some()
    }

    /// True when some order of the journal reached the broker, or may have: a PENDING entry
    /// is written just before sending, so a crash can leave one that was sent.
    pub fn anything_sent(&self) -> bool {
        self.orders.iter().any(|o| o.state != OrderState::NotSent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(filled: Shares, live: bool) -> OrderEvent {
        OrderEvent::Reported(Report {
            filled,
            quantity: 10,
            live,
            rejected: false,
        })
    }

    #[test]
    fn an_order_moves_from_pending_to_its_end_and_never_back() {
        let s = OrderState::Pending;
        let s = s.transition(&OrderEvent::Placed("1005".into())).unwrap();
        assert_eq!(s, OrderState::Submitted);
        // Part-filled and still working (or pending cancel): not final.
        assert_eq!(
            s.transition(&report(4, true)).unwrap(),
            OrderState::Submitted
        );
        assert_eq!(
            s.transition(&report(4, false)).unwrap(),
            OrderState::PartiallyFilled
        );
        assert_eq!(
            s.transition(&report(0, false)).unwrap(),
            OrderState::Unfilled
        );
        // Everything filled is final even if the status lags.
        assert_eq!(s.transition(&report(10, true)).unwrap(), OrderState::Filled);
        let rejected = OrderEvent::Reported(Report {
            filled: 0,
            quantity: 10,
            live: false,
            rejected: true,
        });
        assert_eq!(s.transition(&rejected).unwrap(), OrderState::Rejected);
        for end in [
            OrderState::Filled,
            OrderState::PartiallyFilled,
            OrderState::Unfilled,
            OrderState::Rejected,
            OrderState::NotSent,
        ] {
            for event in [
                OrderEvent::Placed("1005".into()),
                OrderEvent::AnswerLost,
                OrderEvent::NeverPlaced,
                report(10, false),
            ] {
                assert!(end.transition(&event).is_err(), "{end:?} took {event:?}");
            }
        }
    }

    #[test]
    fn only_a_placed_order_reports_and_only_an_unplaced_one_is_not_sent() {
        assert!(OrderState::Pending.transition(&report(10, false)).is_err());
        assert!(OrderState::Unknown.transition(&report(10, false)).is_err());
        assert!(OrderState::Submitted
            .transition(&OrderEvent::NeverPlaced)
            .is_err());
        assert!(OrderState::Submitted
            .transition(&OrderEvent::AnswerLost)
            .is_err());
        assert_eq!(
            OrderState::Pending
                .transition(&OrderEvent::AnswerLost)
                .unwrap(),
            OrderState::Unknown
        );
        assert_eq!(
            OrderState::Unknown
                .transition(&OrderEvent::Placed("1005".into()))
                .unwrap(),
            OrderState::Submitted
        );
        assert_eq!(
            OrderState::Unknown
                .transition(&OrderEvent::NeverPlaced)
                .unwrap(),
            OrderState::NotSent
        );
    }

    #[test]
    fn whole_shares_fails_loudly_instead_of_reading_zero() {
        assert_eq!(whole_shares(Decimal::new(127, 1)).unwrap(), 12);
        assert_eq!(whole_shares(Decimal::new(-35, 1)).unwrap(), -3);
        assert!(whole_shares(Decimal::MAX).is_err());
    }
}
