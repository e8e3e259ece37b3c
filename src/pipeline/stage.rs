//! The stages of a trade run, named once.

/// A stage of `jutsu trade`, in the order the run passes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The session, the mode, the lock, the files, the login.
    Preflight,
    /// Daily bars and live quotes.
    Fetch,
    /// Today's bar made of the quotes.
    SyntheticBar,
    /// The strategy's decision.
    Decide,
    /// An earlier run's orders settled with the broker.
    Settle,
    /// The broker against the state.
    Reconcile,
    /// The drawdown and daily-loss halts.
    LossHalts,
    /// Whole-share orders and the risk gate.
    Plan,
    /// Sending and following the orders.
    Execute,
    /// The state, trades.csv and the ledger.
    Record,
}

impl Stage {
    /// The name the checklist, the ledger and the alerts show.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Preflight => "preflight",
            Stage::Fetch => "fetch",
            Stage::SyntheticBar => "synthetic bar",
            Stage::Decide => "decide",
            Stage::Settle => "settle",
            Stage::Reconcile => "reconcile",
            Stage::LossHalts => "loss halts",
            Stage::Plan => "plan",
            Stage::Execute => "execute",
            Stage::Record => "record",
        }
    }
}
