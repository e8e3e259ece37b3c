//! Stage 6: the plan (rebalance or not, whole shares, sells first) and the risk gate. A
//! resumed run finishes the session's original plan instead.

use super::*;

/// The approved plan and the costs it was sized with.
pub(super) struct Planned {
    /// What to send.
    pub(super) plan: plan::Approved<Plan>,
    /// Commission and slippage assumed (the simulator's in paper mode, none live).
    pub(super) costs: Costs,
}

/// What the planner is given: the decision's weights against the state's targets and the
/// broker's holdings, with the mode's costs (the simulator's in paper, none otherwise).
/// `jutsu status` previews with the same input.
pub fn plan_input(
    c: &crate::config::Config,
    mode: Mode,
    decision: &Decision,
    state: Option<&State>,
    legs: &[String; LEGS],
    reconciled: &Reconciled,
) -> (PlanInput, Costs) {
    let costs = match mode {
        Mode::Paper => c.sim.costs(),
        _ => Costs {
            commission_per_share: Decimal::ZERO,
            slippage: Decimal::ZERO,
        },
    };
    let input = PlanInput {
        weights: decision.weights,
        remembered: state.and_then(|s| s.targets_of(legs)),
        recorded_positions: state
            .filter(|s| s.targets_of(legs).is_some())
            .map(|s| s.positions.clone()),
        symbols: legs.clone(),
        positions: reconciled.positions.clone(),
        cash: reconciled.account.cash,
        buying_power: reconciled.account.buying_power,
        prices: reconciled.prices,
        threshold: crate::domain::strategy::decimal_from_f64(
            c.strategy.parameters.rebalance_threshold,
        ),
        costs,
        max_buying_power_pct: c.execution.max_buying_power_pct,
        min_trade_pct: c.execution.min_trade_pct,
        rebalance_cash: state.and_then(|s| s.rebalance_cash),
        rebalance_on_flow_pct: c.execution.rebalance_on_flow_pct,
        rebalance_due: state.and_then(|s| s.rebalance_due.clone()),
        fraction_value: reconciled.fraction_value,
    };
    (input, costs)
}

impl Run<'_> {
    pub(super) fn plan_stage(
        &mut self,
        session: &Session,
        journal: &mut Journal,
        decision: &Decision,
        reconciled: &Reconciled,
    ) -> Result<Planned, Stop> {
        self.stage = Stage::Plan;
        let t = Instant::now();
        let c = &self.loaded.config;
        let (input, costs) = plan_input(
            c,
            self.options.mode,
            decision,
            session.state.as_ref(),
            &session.legs,
            reconciled,
        );
        let plan = self.this_runs_plan(journal, session.resumed, plan::plan(&input))?;
        let plan = match plan::approve(plan, &input, &c.risk) {
            Ok(approved) => approved,
            Err(refusal) => {
                self.record(journal, Mark::Fail, "refused by the risk gate".into(), t)?;
                return Err(Stop::preflight(refusal.to_string()));
            }
        };
        self.record(journal, Mark::Ok, describe_plan(&plan), t)?;
        crate::support::fault::kill_point("plan");
        self.show_plan(&plan, session);
        Ok(Planned { plan, costs })
    }

    /// A resumed run finishes the session's original plan: only what is not yet filled.
    /// A new run's plan is written to the ledger.
    fn this_runs_plan(
        &mut self,
        journal: &mut Journal,
        resumed: bool,
        fresh: Plan,
    ) -> Result<Plan, Stop> {
        let ledger = journal.ledger();
        if let Some(original) = ledger.plan.as_ref().filter(|_| resumed) {
            let left = remainder(original, &ledger.orders);
            self.report.detail(&format!(
                "finishing the plan of the earlier run: {} order(s) left",
                left.orders.len()
            ));
            return Ok(left);
        }
        if !resumed {
            journal.record(|ledger| ledger.plan = Some(fresh.clone()))?;
        }
        Ok(fresh)
    }

    fn show_plan(&self, plan: &Plan, session: &Session) {
        if let Some(why) = plan.trigger.as_ref().and_then(|t| t.explain()) {
            self.report.detail(&why);
        }
        // An adoption folded into the strategy's own rebalance is still said.
        let adopted = !matches!(plan.trigger, Some(plan::Trigger::Adopted(_)) | None);
        let due = session
            .state
            .as_ref()
            .and_then(|s| s.rebalance_due.as_ref());
        if let Some(reason) = due.filter(|_| adopted) {
            self.report.detail(&format!(
                "the positions adopted by `jutsu state adopt` ({reason}) are rebalanced with it"
            ));
        }
        for o in &plan.orders {
            self.report.detail(&format!(
                "{} {} {} at ~{} (target {:.1}%){}",
                o.side.as_str(),
                o.quantity,
                o.symbol,
                crate::domain::portfolio::cents(o.price),
                (o.target * Decimal::ONE_HUNDRED).round_dp(1),
                if o.full_exit { ", full exit" } else { "" }
            ));
        }
        for d in &plan.dropped {
            self.report
                .detail(&format!("left out {}: {}", d.symbol, d.reason));
        }
    }

    /// `--plan-only` and dry runs end here: the plan is written, nothing is sent. Returns
    /// the exit code when the run ends.
    pub(super) fn stop_before_sending(
        &mut self,
        session: &Session,
        journal: &mut Journal,
        plan: &Plan,
    ) -> Result<Option<u8>, Stop> {
        let dry_run = self.options.mode == Mode::DryRun;
        if !self.options.plan_only && !dry_run {
            return Ok(None);
        }
        let why = if self.options.plan_only {
            "--plan-only"
        } else {
            "dry run"
        };
        let message = if self.options.plan_only {
            "--plan-only: nothing sent, nothing written".to_string()
        } else {
            format!("{why}: plan written, nothing sent")
        };
        let status = if dry_run && !self.options.plan_only {
            RunStatus::Done
        } else {
            RunStatus::Skipped
        };
        journal.update(|ledger| {
            ledger.status = status;
            ledger.message = Some(message.clone());
        })?;
        self.report
            .stage(Mark::Skip, Stage::Execute.name(), &message, Duration::ZERO);
        // A plan is not a run: the next run is whichever would have come anyway.
        let next = if self.options.plan_only {
            String::new()
        } else {
            format!(" {}", self.next_run(session.today))
        };
        self.report.verdict(
            true,
            &format!(
                "OK ({why}): {} order(s) planned, none sent.{next}",
                plan.orders.len()
            ),
        );
        Ok(Some(exit::OK))
    }
}
