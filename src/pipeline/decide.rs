//! Stage 4: the strategy over the history plus today's synthetic bar, with the backtest's
//! own engine: carried on from the engine the previous run saved when the history up to
//! its day is the same (`domain::resume`), else replayed from the first bar.

use super::*;
use crate::domain::resume;
use crate::storage::fsutil;

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
        let cache = self.paths.engine_cache();
        let saved = fsutil::read_sealed_if_intact(&cache);
        let resumed = resume::decide_day_resumed(
            &market.history,
            session.today,
            today_bars,
            &settings,
            saved,
            &market.digest,
        )?;
        let from = match resumed.start {
            resume::Start::Resumed(day) => Some(day),
            resume::Start::Replayed => None,
        };
        // Only a shortcut for the next run: a cache that cannot be written is a warning,
        // and it is not fsynced (one lost to a power loss, or torn, is replayed in full).
        // A run that only plans writes nothing, the cache included.
        if !self.options.plan_only {
            if let Err(e) = fsutil::write_sealed_unsynced(&cache, &resumed.saved) {
                tracing::warn!(file = %cache.display(), "the strategy's state was not cached: {e}");
            }
        }
        let decision = resumed.record.decision.ok_or_else(|| {
            Stop::preflight(
                "not enough history for a decision (221 bars of the signal symbol are needed)",
            )
        })?;
        journal.record(|ledger| {
            ledger.decision = Some(decision);
            ledger.resumed_from = from;
        })?;
        self.record(
            journal,
            Mark::Ok,
            describe_decision(&decision, &session.legs),
            t,
        )?;
        Ok(decision)
    }
}
