//! Stage 4: the strategy over the whole history plus today's synthetic bar, with the
//! backtest's own engine.

use super::*;

impl Run<'_> {
    pub(super) fn decide_stage(
        &mut self,
        session: &Session,
        journal: &mut Journal,
        market: &Market,
        today_bars: &[(String, Bar)],
    ) -> Result<Decision, Stop> {
        self.stage = Stage::Decide;
        let t = Instant::now();
        let settings = self.loaded.config.backtest_settings(session.today);
        let record = backtest::decide_day(&market.history, session.today, today_bars, &settings)?;
        let decision = record.decision.ok_or_else(|| {
            Stop::preflight(
                "not enough history for a decision (221 bars of the signal symbol are needed)",
            )
        })?;
        journal.update(|ledger| ledger.decision = Some(decision))?;
        self.record(
            journal,
            Mark::Ok,
            describe_decision(&decision, &session.legs),
            t,
        )?;
        Ok(decision)
    }
}
