//! Stage 5: the broker is the truth. Earlier orders of the session are settled first; then
//! the broker's positions are compared with what the state recorded.

use super::*;
use crate::domain::events::{recognise_split, CashFlow, FlowKind, FoundSplit};
use crate::domain::portfolio::cents;

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

/// The value at `prices` of what `account` holds of the strategy's symbols beyond whole
/// shares, and a line naming each fraction.
pub(crate) fn fractions(
    account: &Account,
    legs: &[String; LEGS],
    prices: &[Option<Decimal>; LEGS],
) -> (Decimal, Vec<String>) {
    let mut value = Decimal::ZERO;
    let mut lines = Vec::new();
    for p in &account.positions {
        let Some(leg) = legs.iter().position(|l| *l == p.symbol) else {
            continue;
        };
        let fraction = p.fraction();
        if fraction <= Decimal::ZERO {
            continue;
        }
        let worth = fraction * prices[leg].unwrap_or_default();
        value += worth;
        lines.push(format!(
            "{} {} shares: {} of a share (a reinvested dividend?) worth {} counts in equity; \
             orders stay whole shares",
            p.symbol,
            p.quantity.normalize(),
            fraction.normalize(),
            cents(worth)
        ));
    }
    (value, lines)
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
        self.stage = "reconcile";
        let t = Instant::now();
        let legs = &session.legs.clone();
        if session.resumed || session.rebuilt_journal {
            let since = if session.rebuilt_journal {
                session.hours.open.with_timezone(&Utc)
            } else {
                journal.ledger().started_at - chrono::Duration::minutes(1)
            };
            let summary = self.settle(journal, broker, since, (legs, session.rebuilt_journal))?;
            self.record(journal, Mark::Warn, "settle", summary, t)?;
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
        let positions = whole_positions(&account, legs)?;
        journal.update(|ledger| ledger.equity_before = Some(account.liquidation_value))?;
        self.cash_flows(session, journal, broker)?;
        let splits = self.splits(session, &positions, market);
        if !splits.is_empty() {
            self.adopt_splits(session, journal, &splits)?;
        }
        let prices = market.prices(legs);
        let (fraction_value, named) = fractions(&account, legs, &prices);
        for line in &named {
            self.report.detail(line);
        }
        let (mark, summary) = self.reconcile(session, &positions, &account, &prices)?;
        self.record(journal, mark, "reconcile", summary, t)?;
        Ok(Reconciled {
            account,
            positions,
            prices,
            fraction_value,
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
        journal.update(|ledger| {
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

    /// The share changes since the state's record that are splits: an exact ratio of the
    /// recorded shares, confirmed by the as-traded price against the split-adjusted history.
    fn splits(
        &self,
        session: &Session,
        positions: &BTreeMap<String, Shares>,
        market: &Market,
    ) -> Vec<FoundSplit> {
        let Some(state) = &session.state else {
            return Vec::new();
        };
        session
            .legs
            .iter()
            .filter_map(|symbol| {
                let recorded = state.positions.get(symbol).copied().unwrap_or(0);
                let held = positions.get(symbol).copied().unwrap_or(0);
                if recorded == held {
                    return None;
                }
                let ratio = state.marks.get(symbol).and_then(|mark| {
                    let bars = market.history.bars(symbol);
                    let i = bars.binary_search_by_key(&mark.date, |b| b.date).ok()?;
                    let basis = market
                        .quote(symbol)
                        .map_or(Decimal::ONE, |q| q.history_basis);
                    let close = bars[i].close * basis;
                    (close > Decimal::ZERO).then(|| mark.price / close)
                });
                recognise_split(symbol, recorded, held, ratio)
            })
            .collect()
    }

    /// Names each split, records it in the ledger and adjusts the recorded positions (and
    /// their price marks), so that neither this run nor the next takes it for drift. No
    /// order is sent because of a split.
    fn adopt_splits(
        &self,
        session: &mut Session,
        journal: &mut Journal,
        splits: &[FoundSplit],
    ) -> Result<(), Stop> {
        let Some(state) = session.state.as_mut() else {
            return Ok(());
        };
        for split in splits {
            self.report.detail(&split.describe());
            state.positions.insert(split.symbol.clone(), split.after);
            if let Some(mark) = state.marks.get_mut(&split.symbol) {
                mark.price /= split.ratio;
            }
        }
        state.updated_at = self.clock.now_utc();
        state.save(&self.paths.state_file())?;
        journal.update(|ledger| ledger.splits = splits.to_vec())?;
        Ok(())
    }

    pub(super) fn reconcile(
        &self,
        session: &Session,
        positions: &BTreeMap<String, i64>,
        account: &Account,
        prices: &[Option<Decimal>; LEGS],
    ) -> Result<(Mark, String), Stop> {
        let legs = &session.legs;
        let Some(state) = session
            .state
            .as_ref()
            .filter(|s| s.targets_of(legs).is_some())
        else {
            return Ok((
                Mark::Ok,
                format!(
                    "first run: the broker holds {} with {} cash",
                    describe_positions(positions),
                    cents(account.cash)
                ),
            ));
        };
        let mut differences = Vec::new();
        let mut drift_value = Decimal::ZERO;
        for (leg, symbol) in legs.iter().enumerate() {
            let recorded = state.positions.get(symbol).copied().unwrap_or(0);
            let held = positions.get(symbol).copied().unwrap_or(0);
            if recorded != held {
                differences.push(format!("{symbol} {recorded} -> {held}"));
                drift_value +=
                    Decimal::from((held - recorded).abs()) * prices[leg].unwrap_or_default();
            }
        }
        if differences.is_empty() {
            return Ok((
                Mark::Ok,
                format!(
                    "broker matches the state: {}, cash {}",
                    describe_positions(positions),
                    cents(account.cash)
                ),
            ));
        }
        let equity = account.liquidation_value.max(Decimal::ONE);
        let drift_pct = drift_value / equity * Decimal::ONE_HUNDRED;
        let explained = state.last_outcome.as_deref() == Some("incomplete")
            || session.resumed
            || session.rebuilt_journal;
        let limit = self.loaded.config.risk.max_drift_pct;
        if drift_pct > limit && !explained {
            return Err(Stop::preflight(format!(
                "the broker's positions differ from the state by {drift_pct:.2}% of equity ({}), over risk.max_drift_pct {limit}, \
                 and no split explains it: manual trades? Review them, then run `jutsu state adopt --reason \"...\"` \
                 to take the broker's positions as the state (or raise risk.max_drift_pct for one run)",
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
        (legs, rebuilt): (&[String; LEGS], bool),
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
                let mut entry = LedgerOrder {
                    seq: entries.len(),
                    symbol: o.symbol.clone(),
                    side: o.side,
                    quantity: whole_shares(o.quantity)?,
                    reference_price: order.average_fill_price.unwrap_or_default(),
                    state: OrderState::Submitted,
                    broker_id: Some(o.id.clone()),
                    filled: Decimal::ZERO,
                    average_price: None,
                    slippage_pct: None,
                    sent_at: o.entered_time,
                    note: Some("found at the broker (the ledger was rebuilt)".into()),
                    intended: None,
                };
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

/// Settles the unfinished entries of a journal with the broker, sending nothing: each entry
/// not known to be final is looked up (by its id, else by symbol, side and quantity among
/// `listed`, the broker's orders entered since the run began, each claimed once) and
/// followed with `follow`; one the broker never received becomes NOT_SENT. Returns how many
/// were found and how many were never placed.
pub(crate) fn settle_entries<E: From<JournalError>>(
    journal: &mut [LedgerOrder],
    listed: &[crate::brokers::Order],
    claimed: &mut Vec<String>,
    mut follow: impl FnMut(&str) -> Result<crate::brokers::Order, E>,
) -> Result<(usize, usize), E> {
    let (mut settled, mut not_sent) = (0, 0);
    for entry in journal.iter_mut().filter(|o| !o.state.is_final()) {
        let found = match &entry.broker_id {
            Some(id) => Some(id.clone()),
            None => entry.find_in(listed, claimed).map(|o| o.id.clone()),
        };
        match found {
            Some(id) => {
                claimed.push(id.clone());
                let order = follow(&id)?;
                if entry.state != OrderState::Submitted {
                    entry.apply(OrderEvent::Placed)?;
                }
                entry.broker_id = Some(id);
                entry.record_report(&order)?;
                settled += 1;
            }
            None => {
                entry.apply(OrderEvent::NeverPlaced)?;
                entry.note = Some("not found at the broker: it was never placed".into());
                not_sent += 1;
            }
        }
    }
    Ok((settled, not_sent))
}

/// The broker's whole shares of each strategy symbol held.
pub(crate) fn whole_positions(
    account: &Account,
    legs: &[String; LEGS],
) -> Result<BTreeMap<String, Shares>, TooManyShares> {
    let mut out = BTreeMap::new();
    for s in legs {
        let q = whole_shares(account.quantity(s))?;
        if q != 0 {
            out.insert(s.clone(), q);
        }
    }
    Ok(out)
}

pub(crate) fn describe_positions(positions: &BTreeMap<String, i64>) -> String {
    if positions.is_empty() {
        return "no positions".into();
    }
    positions
        .iter()
        .map(|(s, q)| format!("{q} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
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
