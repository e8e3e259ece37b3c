//! Stage 9: the state, `logs/trades.csv`, the ledger, the holdings and the verdict. It runs
//! after an incomplete execution too, so that the next run knows exactly what happened.

use super::*;
use crate::domain::events::PriceMark;
use crate::domain::portfolio::cents;

impl Run<'_> {
    pub(super) fn record_stage(
        &mut self,
        session: &Session,
        journal: &mut Journal,
        broker: &dyn Broker,
        planned: &Planned,
        market: &Market,
        executed: Executed,
    ) -> Result<u8, Stop> {
        let plan = &planned.plan;
        let stopped = executed.stopped;
        let executed = stopped.is_none();
        let reason = plan
            .trigger
            .as_ref()
            .map_or("none", |t| t.reason())
            .to_string();
        crate::support::fault::kill_point("before-record");
        self.stage = Stage::Record;
        let t = Instant::now();
        let after = broker.account()?;
        journal.update(|ledger| ledger.equity_after = Some(after.liquidation_value))?;
        let flows_through = journal.ledger().flows_through;
        self.record_state(session, plan, &after, market, executed, flows_through)?;
        crate::support::fault::kill_point("after-state");
        let rows = self.trade_rows(journal, &reason, &planned.costs);
        let splits = crate::storage::ledger::recorded_splits(&self.paths);
        let rows = trades::append_new(&self.loaded.logs_dir().join("trades.csv"), rows, &splits)?;
        self.record(
            journal,
            Mark::Ok,
            format!(
                "state {}, {} fill(s) in trades.csv",
                self.paths.state_file().display(),
                rows.len()
            ),
            t,
        )?;
        self.show_holdings(&session.legs, &after, market);
        match stopped {
            None => self.done(journal, session.today, plan, &reason),
            Some(stop) => {
                // The state and trades are recorded; the run stopped in execution.
                self.stage = Stage::Execute;
                Err(stop)
            }
        }
    }

    /// `state.json` after the run. Complete: what the broker holds. Incomplete: what the
    /// plan meant to hold, so that the next run sees the difference and finishes the job.
    fn record_state(
        &self,
        session: &Session,
        plan: &Plan,
        after: &Account,
        market: &Market,
        executed: bool,
        flows_through: Option<DateTime<Utc>>,
    ) -> Result<(), Stop> {
        let mode = self.options.mode;
        let mut new_state = session
            .state
            .clone()
            .unwrap_or_else(|| State::empty(mode, self.clock.now_utc()));
        new_state.mode = mode;
        new_state.updated_at = self.clock.now_utc();
        new_state.last_session = Some(session.today);
        if plan.trigger.is_some() {
            new_state.set_targets(&session.legs, plan.validated);
            new_state.positions = if executed {
                whole_positions(after, &session.legs)?
            } else {
                plan.projected.positions.clone()
            };
            new_state.rebalance_due = None;
        }
        // The cash a rebalance left is where moved cash is measured from. A rebalance for
        // moved cash whose orders were all too small keeps counting from the old mark.
        let cash_only = matches!(plan.trigger, Some(plan::Trigger::CashMoved(_)));
        let rebalanced = plan.trigger.is_some() && !(cash_only && plan.orders.is_empty());
        if executed && (rebalanced || new_state.rebalance_cash.is_none()) {
            new_state.rebalance_cash = Some(after.cash);
        }
        if flows_through.is_some() {
            new_state.flows_through = flows_through;
        }
        // Every position's price now, for the next run's split check.
        new_state.marks = new_state
            .positions
            .keys()
            .filter_map(|symbol| {
                let quote = market.quote(symbol)?;
                let mark = PriceMark {
                    price: quote.last,
                    date: session.today,
                };
                Some((symbol.clone(), mark))
            })
            .collect();
        new_state.last_outcome = Some(if executed {
            "done".into()
        } else {
            "incomplete".into()
        });
        new_state.save(&self.paths.state_file())?;
        Ok(())
    }

    fn show_holdings(&self, legs: &[String; LEGS], after: &Account, market: &Market) {
        self.report.line("holdings after the run:");
        for p in after.positions.iter().filter(|p| legs.contains(&p.symbol)) {
            let price = market.quote(&p.symbol).map_or(Decimal::ZERO, |q| q.last);
            self.report.detail(&format!(
                "{:<5} {:>8} shares  {:>12}",
                p.symbol,
                p.quantity,
                cents(p.quantity * price)
            ));
        }
        self.report
            .detail(&format!("cash  {:>21}", cents(after.cash)));
        self.report
            .detail(&format!("value {:>21}", cents(after.liquidation_value)));
    }

    /// The run completed: the ledger says done, the state is backed up, the verdict is OK.
    fn done(
        &mut self,
        journal: &mut Journal,
        today: NaiveDate,
        plan: &Plan,
        reason: &str,
    ) -> Result<u8, Stop> {
        let message = if plan.orders.is_empty() {
            format!(
                "no trade ({})",
                plan.trigger
                    .as_ref()
                    .map_or("target unchanged", |t| t.reason())
            )
        } else {
            format!(
                "rebalanced ({reason}), {} order(s) filled",
                plan.orders.len()
            )
        };
        journal.update(|ledger| {
            ledger.status = RunStatus::Done;
            ledger.message = Some(message.clone());
        })?;
        // A completed run leaves a consistent state: keep it as the newest backup.
        State::backup(&self.paths.state_file())?;
        self.report.verdict(
            true,
            &format!(
                "OK: {message} in {} ms. {}",
                self.started.elapsed().as_millis(),
                self.next_run(today)
            ),
        );
        Ok(exit::OK)
    }
}
