//! One journaled send, for the trade run and the emergency exit alike.
//!
//! The sequence that keeps money safe lives here once: the entry is journaled PENDING
//! before the order leaves; the process may die at the named kill points around the send
//! (tests only); an answer with an id makes the entry SUBMITTED with that id; a lost answer
//! is settled by listing the broker's orders, never by sending again (UNKNOWN when the
//! order is not found); a refusal means nothing was placed (NOT_SENT). Each outcome is in
//! the journal before this returns.

use chrono::{DateTime, Utc};

use crate::brokers::{Broker, BrokerError, OrderRequest, Placement};
use crate::domain::journal::{LedgerOrder, OrderEvent};
use crate::storage::ledger::Journal;

/// Where a test may kill the process around one send.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KillPoints {
    /// After the entry is journaled, before the order is sent.
    pub(crate) before: &'static str,
    /// Right after the broker answered (or did not).
    pub(crate) after: &'static str,
}

/// The trade run's kill points.
pub(crate) const TRADE: KillPoints = KillPoints {
    before: "before-send",
    after: "after-send",
};

/// The emergency exit's kill points.
pub(crate) const EXIT: KillPoints = KillPoints {
    before: "exit-before-send",
    after: "exit-after-send",
};

/// One order to send.
pub(crate) struct Outgoing<'a> {
    /// The PENDING entry to journal first.
    pub(crate) entry: LedgerOrder,
    /// What the broker is sent.
    pub(crate) request: &'a OrderRequest,
    /// A lost answer is looked for among the orders entered since then.
    pub(crate) since: DateTime<Utc>,
    /// Where a test may kill the process.
    pub(crate) kill: KillPoints,
}

/// What one send came to; the entry is as the journal now holds it.
pub(crate) enum Settled {
    /// The broker has the order: the entry is SUBMITTED with its id.
    Placed(LedgerOrder),
    /// The answer was lost and the order is not among the broker's: the entry is UNKNOWN
    /// (the next run settles it before sending anything), with why.
    Lost(LedgerOrder, String),
    /// Refused at placement: nothing was placed (the entry is NOT_SENT).
    Refused(LedgerOrder, BrokerError),
}

/// Journals `out.entry`, sends `out.request` once, and journals what the broker said.
pub(crate) fn send_journaled(
    journal: &mut Journal,
    broker: &dyn Broker,
    out: Outgoing<'_>,
) -> crate::support::error::Result<Settled> {
    let mut entry = out.entry;
    journal.update(|l| l.put(&entry))?;
    crate::support::fault::kill_point(out.kill.before);
    let placed = broker.place_order(out.request);
    crate::support::fault::kill_point(out.kill.after);
    let settled = match placed {
        Ok(Placement::Placed(id)) => {
            entry.apply(OrderEvent::Placed(id))?;
            Settled::Placed(entry)
        }
        Ok(Placement::Unknown(why)) => {
            let listed = broker.orders_since(out.since)?;
            let claimed = journal.ledger().claimed_ids();
            match entry.find_in(&listed, &claimed).map(|o| o.id.clone()) {
                Some(id) => {
                    entry.apply(OrderEvent::Placed(id))?;
                    entry.note = Some(join(
                        entry.note.take(),
                        &format!("found at the broker after: {why}"),
                    ));
                    Settled::Placed(entry)
                }
                None => {
                    entry.apply(OrderEvent::AnswerLost)?;
                    entry.note = Some(why.clone());
                    Settled::Lost(entry, why)
                }
            }
        }
        Err(e) => {
            // Refused at placement (a 4xx such as a 429 or a validation error, or no
            // connection): the broker holds no such order.
            entry.apply(OrderEvent::NeverPlaced)?;
            entry.note = Some(format!("refused at placement, nothing placed: {e}"));
            Settled::Refused(entry, e)
        }
    };
    let now = match &settled {
        Settled::Placed(e) | Settled::Lost(e, _) | Settled::Refused(e, _) => e,
    };
    // Not fsynced: lost to a power loss, the entry is as journaled before the send, which
    // the next run settles with the broker (as after a kill at `kill.after`); the fill's
    // record, the next send's journal entry or the run's end syncs it.
    journal.record(|l| l.put(now))?;
    Ok(settled)
}

fn join(note: Option<String>, more: &str) -> String {
    match note {
        Some(n) if !n.is_empty() => format!("{n}; {more}"),
        _ => more.to_string(),
    }
}
