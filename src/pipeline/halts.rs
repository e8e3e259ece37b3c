//! Between reconcile and plan: the loss halts. With `risk.max_drawdown_halt_pct` or
//! `risk.daily_loss_halt_pct` set, an account too far below the peak of the recorded runs,
//! or below the previous run's, sets the halt flag and the run sends nothing (exit 5).

use super::*;

impl Run<'_> {
    pub(super) fn loss_halt_stage(
        &mut self,
        session: &Session,
        journal: &mut Journal,
        reconciled: &Reconciled,
    ) -> Result<(), Stop> {
        let risk = &self.loaded.config.risk;
        if risk.max_drawdown_halt_pct.is_none() && risk.daily_loss_halt_pct.is_none() {
            return Ok(());
        }
        self.stage = Stage::LossHalts;
        let t = Instant::now();
        // Carried forward by this run's deposits and withdrawals: neither is a gain or a loss.
        let flow = crate::domain::performance::external_flow(journal.ledger());
        let equity = reconciled.account.liquidation_value;
        let record = crate::storage::ledger::equity_record(&self.paths, session.today)?
            .with_flow(flow, equity);
        let Some(why) = risk.loss_halt(equity, &record) else {
            let losses = record.losses(equity);
            let drawdown = losses
                .drawdown_pct
                .map_or("-".into(), |v| format!("{v:.2}%"));
            let day = match losses.day_loss_pct {
                None => "- below".to_string(),
                Some(v) if v < Decimal::ZERO => format!("{:.2}% above", -v),
                Some(v) => format!("{v:.2}% below"),
            };
            let summary =
                format!("within the limits: {drawdown} below the peak, {day} the previous run");
            return self.record(journal, Mark::Ok, summary, t);
        };
        let reason = format!("loss halt on {}: {why}", session.today);
        crate::storage::fsutil::write_atomic(&self.paths.halt_flag(), reason.as_bytes(), false)?;
        self.critical = true;
        self.record(journal, Mark::Fail, reason.clone(), t)?;
        Err(Stop::Halted(format!(
            "{reason}; the halt flag is set and nothing was sent. Review the account, then \
             `jutsu resume` clears the flag"
        )))
    }
}
