//! Stage 5: the broker is the truth. Earlier orders of the session are settled first; then
//! the broker's positions are compared with what the state recorded.

use super::*;
use crate::domain::events::{CashFlow, FlowKind};
use crate::domain::portfolio::cents;
use crate::domain::reconcile::{
    describe_positions, settle_entries, MarketView, Reconciliation, Recorded,
};
use crate::domain::{self};

/// What the broker holds once earlier orders of the session are settled.
pub struct Reconciled {
    /// The account.
    pub account: Account,
    /// Whole shares of each strategy symbol held.
    pub positions: BTreeMap<String, Shares>,
    /// The last price of each leg.
    pub prices: [Option<Decimal>; LEGS],
    /// The value of the fractions of a share held beyond the whole shares (reinvested
    /// dividends): counted in equity, never traded.
    pub fraction_value: Decimal,
}

/// The broker's `account` against the state's record, with the run's history and quotes:
/// the one reconciliation `trade` and `status` share (see [`crate::domain::reconcile`]).
pub fn observe(
    state: Option<&State>,
    legs: &[String; LEGS],
    account: &Account,
    market: MarketView<'_>,
) -> Result<Reconciliation, TooManyShares> {
    let recorded = state.map(|s| Recorded {
        positions: &s.positions,
        marks: &s.marks,
    });
    domain::reconcile::reconcile(legs, account, recorded, market)
}

/// The state as the run sees it after the splits `seen` found (in memory: the trade run
/// saves it, `status` only previews with it).
pub fn with_splits(state: Option<&State>, seen: &Reconciliation) -> Option<State> {
    let mut state = state.cloned()?;
    if let (false, Some((positions, marks))) = (seen.splits.is_empty(), &seen.recorded) {
        state.positions = positions.clone();
        state.marks = marks.clone();
    }
    Some(state)
}

impl Run<'_> {
    /// Stage 5: settle what an earlier run of the session sent, then compare the broker's
    /// positions with the state. Open orders for the strategy's symbols stop the run.
    pub(super) fn reconcile_stage(
        &mut self,
        session: &mut Session,
        journal: &mut Journal,
        broker: &dyn Broker,
        market: &Market,
    ) -> Result<Reconciled, Stop> {
        self.stage = Stage::Reconcile;
        let t = Instant::now();
        let legs = &session.legs.clone();
        if session.resumed || session.rebuilt_journal {
            let since = if session.rebuilt_journal {
                session.hours.open.with_timezone(&Utc)
            } else {
                journal.ledger().started_at - chrono::Duration::minutes(1)
            };
            self.stage = Stage::Settle;
            let summary = self.settle(journal, broker, since, legs, session.rebuilt_journal)?;
            self.record(journal, Mark::Warn, summary, t)?;
            self.stage = Stage::Reconcile;
        }
        let account = broker.account()?;
        let open: Vec<_> = broker
            .open_orders()?
            .into_iter()
            .filter(|o| legs.contains(&o.symbol))
            .collect();
        if !open.is_empty() {
            return Err(Stop::preflight(format!(
                "open orders at the broker for {}: cancel them or wait, then run again",
                open.iter()
                    .map(|o| format!("{} {} {}", o.side.as_str(), o.quantity, o.symbol))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        journal.record(|ledger| ledger.equity_before = Some(account.liquidation_value))?;
        self.cash_flows(session, journal, broker)?;
        let seen = observe(
            session.state.as_ref(),
            legs,
            &account,
            MarketView {
                history: &market.history,
                quotes: &market.quotes,
            },
        )?;
        if !seen.splits.is_empty() {
            self.adopt_splits(session, journal, &seen)?;
        }
        for line in &seen.fractions.1 {
            self.report.detail(line);
        }
        let (mark, summary) = self.judge(session, &seen, &account)?;
        self.record(journal, mark, summary, t)?;
        Ok(Reconciled {
            prices: market.prices(legs),
            fraction_value: seen.fractions.0,
            positions: seen.positions,
            account,
        })
    }

    /// The cash that moved without a trade since the last completed run read it, named and
    /// recorded in the ledger with the instant read up to (the next run starts there: a
    /// dividend posted the evening after a run is not lost). It changes cash and equity,
    /// never the share comparison. A broker that cannot say costs a warning, not the run.
    fn cash_flows(
        &self,
        session: &Session,
        journal: &mut Journal,
        broker: &dyn Broker,
    ) -> Result<(), Stop> {
        let since = flows_since(session.state.as_ref(), session.today);
        let read_at = self.clock.now_utc();
        let flows = match broker.cash_flows(since) {
            Ok(flows) => flows,
            Err(e) => {
                self.report.warn(&format!(
                    "the account's cash movements since {} could not be read ({e}); they are not in \
                     this run's ledger (the next run reads them again)",
                    since
                        .with_timezone(&chrono_tz::America::New_York)
                        .format("%Y-%m-%d %H:%M ET")
                ));
                return Ok(());
            }
        };
        for f in &flows {
            self.report.detail(&describe_flow(f));
        }
        // A resumed run of the session adds what is new to what the earlier run listed.
        journal.record(|ledger| {
            for f in flows {
                let known = ledger.flows.iter().any(|g| match (&g.id, &f.id) {
                    (Some(a), Some(b)) => a == b,
                    _ => *g == f,
                });
                if !known {
                    ledger.flows.push(f);
                }
            }
            ledger.flows_through = Some(read_at);
        })?;
        Ok(())
    }

    /// Names each split, records it in the ledger and saves the state with the record
    /// adjusted (positions and price marks), so that neither this run nor the next takes it
    /// for drift. No order is sent because of a split.
    fn adopt_splits(
        &self,
        session: &mut Session,
        journal: &mut Journal,
        seen: &Reconciliation,
    ) -> Result<(), Stop> {
        let Some(mut state) = with_splits(session.state.as_ref(), seen) else {
            return Ok(());
        };
        for split in &seen.splits {
            self.report.detail(&split.describe());
        }
        state.updated_at = self.clock.now_utc();
        state.save(&self.paths.state_file())?;
        session.state = Some(state);
        journal.record(|ledger| ledger.splits = seen.splits.clone())?;
        Ok(())
    }

    /// The verdict on the share comparison: a first run, a match, or drift (a warning, or
    /// over `risk.max_drift_pct` of equity a stop, unless the last run was incomplete).
    fn judge(
        &self,
        session: &Session,
        seen: &Reconciliation,
        account: &Account,
    ) -> Result<(Mark, String), Stop> {
        let holds = describe_positions(&seen.positions);
        let Some(state) = session
            .state
            .as_ref()
            .filter(|s| s.targets_of(&session.legs).is_some())
        else {
            return Ok((
                Mark::Ok,
                format!(
                    "first run: the broker holds {holds} with {} cash",
                    cents(account.cash)
                ),
            ));
        };
        let differences = &seen.drift.differences;
        if differences.is_empty() {
            return Ok((
                Mark::Ok,
                format!(
                    "broker matches the state: {holds}, cash {}",
                    cents(account.cash)
                ),
            ));
        }
        let drift_pct = seen.drift.pct_of(account.liquidation_value);
        let explained = state.last_outcome.as_deref() == Some("incomplete")
            || session.resumed
            || session.rebuilt_journal;
        let limit = self.loaded.config.risk.max_drift_pct;
        if drift_pct > limit && !explained {
            return Err(Stop::preflight(format!(
                "the broker's positions differ from the state by {drift_pct:.2}% of equity ({}), \
                 over risk.max_drift_pct {limit}, and no split explains it: manual trades? Review \
                 them, then run `jutsu state adopt --reason \"...\"` to take the broker's \
                 positions as the state (or raise risk.max_drift_pct for one run)",
                differences.join(", ")
            )));
        }
        self.report.warn(&format!(
            "positions differ from the state: {}",
            differences.join(", ")
        ));
        Ok((
            Mark::Warn,
            format!(
                "{} difference(s), {drift_pct:.2}% of equity{}",
                differences.len(),
                if explained {
                    " (the last run was incomplete)"
                } else {
                    ""
                }
            ),
        ))
    }

    /// Settles the journal of an earlier run of the session against the broker: every order
    /// not known to be final is looked up (by id, else by symbol, side and quantity among the
    /// orders entered since the run began) and followed to its end; one the broker never
    /// received is marked NOT_SENT. With a rebuilt ledger, the broker's orders of the day
    /// become the journal. Nothing is ever sent here.
    pub(super) fn settle(
        &mut self,
        journal: &mut Journal,
        broker: &dyn Broker,
        since: DateTime<Utc>,
        legs: &[String; LEGS],
        rebuilt: bool,
    ) -> Result<String, Stop> {
        let listed: Vec<crate::brokers::Order> = broker
            .orders_since(since)?
            .into_iter()
            .filter(|o| legs.contains(&o.symbol))
            .collect();
        let mut entries = journal.ledger().orders.clone();
        let mut claimed: Vec<String> = journal.ledger().claimed_ids();
        let (mut settled, not_sent) = settle_entries(&mut entries, &listed, &mut claimed, |id| {
            self.follow(broker, id)
        })?;
        if rebuilt {
            for o in listed.iter().filter(|o| !claimed.contains(&o.id)) {
                let order = self.follow(broker, &o.id)?;
                let mut entry = LedgerOrder::found_at_broker(
                    entries.len(),
                    o,
                    "found at the broker (the ledger was rebuilt)",
                )?;
                entry.record_report(&order)?;
                // Found only at the broker: no reference price is known to measure against.
                entry.slippage_pct = None;
                entries.push(entry);
                settled += 1;
            }
        }
        journal.update(|ledger| ledger.orders = entries)?;
        Ok(format!(
            "earlier orders settled with the broker: {settled} found, {not_sent} never placed; nothing resent"
        ))
    }
}

/// Where the reading of cash movements starts: where the last completed run stopped
/// reading, else (a state written before that was recorded) the instant the state was
/// written, else (a first run) the start of `today` in New York.
pub(crate) fn flows_since(state: Option<&State>, today: NaiveDate) -> DateTime<Utc> {
    match state {
        Some(s) => s.flows_through.unwrap_or(s.updated_at),
        None => today
            .and_hms_opt(0, 0, 0)
            .and_then(|t| {
                t.and_local_timezone(chrono_tz::America::New_York)
                    .earliest()
            })
            .map_or(DateTime::<Utc>::UNIX_EPOCH, |t| t.with_timezone(&Utc)),
    }
}

/// `dividend TQQQ +12.34 on 2025-12-23 (120 x 0.1028 per share)`.
pub(super) fn describe_flow(f: &CashFlow) -> String {
    let what = match f.kind {
        FlowKind::Deposit => "deposit",
        FlowKind::Withdrawal => "withdrawal",
        FlowKind::Dividend => "dividend",
        FlowKind::CashInLieu => "cash in lieu",
        FlowKind::Other => "cash movement",
    };
    let symbol = f
        .symbol
        .as_deref()
        .map_or(String::new(), |s| format!(" {s}"));
    let sign = if f.amount > Decimal::ZERO { "+" } else { "" };
    let note = match f.description.is_empty() {
        true => String::new(),
        false => format!(" ({})", f.description),
    };
    format!(
        "{what}{symbol} {sign}{} on {}{note}",
        cents(f.amount),
        f.date
    )
}
