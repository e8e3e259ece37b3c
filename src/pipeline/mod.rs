//! The daily `jutsu trade` run: preflight, fetch, synthetic bar, decide, reconcile, plan,
//! execute, check, record. One straight pass; each stage is recorded in the run ledger as it
//! completes, and the first failure stops the run with the exit code that says what it left.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::brokers::sources::{self, SharedClock};
use crate::brokers::{
    follow_order, Account, Broker, MarketData, OrderRequest, OrderStatus, OrderType, Quote,
};
use crate::config::{DataSource, Loaded, Mode, OrderKind};
use crate::domain::bars::{Bar, History};
use crate::domain::calendar::{self, DayKind};
use crate::domain::journal::{Ledger, LedgerOrder, OrderState, RunStatus, StageRecord};
use crate::domain::plan::{self, Phase, Plan, PlanInput, PlannedOrder};
use crate::domain::portfolio::{whole_shares, Costs, Shares, Side, TooManyShares};
use crate::domain::strategy::{Decision, LEGS};
pub use crate::domain::summary::Outcome;
use crate::storage::fsutil::Sealed;
use crate::storage::ledger::Journal;
use crate::storage::lock::RunLock;
use crate::storage::state::{State, StatePaths};
use crate::storage::trades::{self, TradeRow};
use crate::support::clock::FixedClock;
use crate::support::error::exit;
use crate::support::report::{Mark, Report};

pub mod dates;
mod decide;
mod describe;
pub mod emergency;
mod execute;
mod fetch;
mod files;
mod halts;
mod planning;
mod preflight;
mod reconcile;
mod record;
pub mod replay;
mod send;
mod stage;
mod stop;

use crate::domain::reconcile::{remainder, whole_positions};
use describe::{describe_decision, describe_plan};
use execute::Executed;
pub use fetch::synthetic_bars;
use fetch::Market;
pub use planning::plan_input;
use planning::Planned;
pub use preflight::as_of_clock;
use preflight::{Preflight, Session};
pub use reconcile::{observe, with_splits, Reconciled};
pub use stage::Stage;
pub(crate) use stop::Stop;

/// Free disk space needed to run.
const MIN_FREE_BYTES: u64 = 50 * 1024 * 1024;

/// How `jutsu trade` was asked to run.
#[derive(Debug, Clone)]
pub struct TradeOptions {
    /// Mode.
    pub mode: Mode,
    /// Run as of this New York date and time (offline sources only).
    pub as_of: Option<(NaiveDate, Option<NaiveTime>)>,
    /// Stop after planning.
    pub plan_only: bool,
}

/// How a run ended, for the summary alert.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The exit code.
    pub code: u8,
    /// How it ended.
    pub outcome: Outcome,
    /// The session, when one was determined.
    pub session: Option<NaiveDate>,
    /// The stage that failed.
    pub failed_stage: Option<Stage>,
    /// The last line.
    pub verdict: String,
    /// Everything the run printed.
    pub transcript: String,
    /// How many warnings it gave.
    pub warnings: usize,
    /// The run ledger, when one was written.
    pub ledger: Option<std::path::PathBuf>,
    /// Someone should look now (failure, partial execution, the login about to expire).
    pub critical: bool,
    /// Hours left on the Schwab login, when the run read it.
    pub token_hours: Option<i64>,
    /// The New York date the run ran on (its clock, `--as-of` included).
    pub today: NaiveDate,
}

/// Runs `jutsu trade`; the summary carries the exit code.
pub fn trade(loaded: &Loaded, options: &TradeOptions, clock: SharedClock) -> RunSummary {
    let report = Report::default();
    let mut run = Run {
        loaded,
        options,
        clock,
        report: &report,
        ledger_path: None,
        paths: StatePaths::new(loaded, options.mode),
        started: Instant::now(),
        stage: Stage::Preflight,
        session: None,
        outcome: Outcome::Ok,
        verdict: String::new(),
        critical: false,
        token_hours: None,
    };
    let result = run.execute();
    let ledger = run.ledger_path.clone();
    match result {
        Ok(code) => RunSummary {
            code,
            outcome: run.outcome,
            session: run.session,
            failed_stage: None,
            verdict: run.verdict.clone(),
            transcript: report.transcript(),
            warnings: report.warnings(),
            ledger,
            critical: run.critical,
            token_hours: run.token_hours,
            today: run.clock.today_et(),
        },
        Err(stop) => {
            let code = stop.code();
            let (outcome, what) = stop.verdict_words();
            let verdict = format!(
                "{what} at {}: {} (exit {code})",
                run.stage.name(),
                stop.message()
            );
            report.verdict(false, &verdict);
            RunSummary {
                code,
                outcome,
                session: run.session,
                failed_stage: Some(run.stage),
                verdict,
                transcript: report.transcript(),
                warnings: report.warnings(),
                ledger,
                critical: !matches!(stop, Stop::Halted(_)) || run.critical,
                token_hours: run.token_hours,
                today: run.clock.today_et(),
            }
        }
    }
}

struct Run<'a> {
    loaded: &'a Loaded,
    options: &'a TradeOptions,
    clock: SharedClock,
    report: &'a Report,
    /// The session's ledger file, once the run opened it.
    ledger_path: Option<std::path::PathBuf>,
    paths: StatePaths,
    started: Instant,
    stage: Stage,
    session: Option<NaiveDate>,
    outcome: Outcome,
    verdict: String,
    critical: bool,
    token_hours: Option<i64>,
}

impl Run<'_> {
    /// A stage's line in the transcript and its record in the ledger.
    fn record(
        &mut self,
        journal: &mut Journal,
        mark: Mark,
        summary: String,
        since: Instant,
    ) -> Result<(), Stop> {
        let name = self.stage.name();
        let took = since.elapsed();
        self.report.stage(mark, name, &summary, took);
        journal.update(|ledger| {
            ledger.stages.push(StageRecord {
                name: name.to_string(),
                ok: mark != Mark::Fail,
                summary,
                millis: took.as_millis() as u64,
            })
        })?;
        Ok(())
    }

    /// Preflight, then the stages that need its session and the session's journal; a stop
    /// after preflight closes the journal first.
    fn execute(&mut self) -> Result<u8, Stop> {
        let (mut session, mut journal) = match self.preflight()? {
            Preflight::Run(started) => *started,
            Preflight::NothingToDo(code) => return Ok(code),
        };
        self.stages(&mut session, &mut journal)
            .map_err(|stop| self.close_stopped(&mut journal, stop))
    }

    /// The eight stages after preflight, top to bottom; each takes what the earlier ones
    /// established.
    fn stages(&mut self, session: &mut Session, journal: &mut Journal) -> Result<u8, Stop> {
        let (data, market) = self.fetch_stage(session, journal)?;
        let today_bars = self.synthetic_bar_stage(session, journal, &market)?;
        let decision = self.decide_stage(session, journal, &market, &today_bars)?;
        // Opening the broker (the simulated account's file, the Schwab client) belongs to
        // reconcile: a failure there is named as that stage's.
        self.stage = Stage::Reconcile;
        let broker = sources::broker_writing(
            self.loaded,
            self.options.mode,
            !self.options.plan_only,
            data.clone(),
            self.clock.clone(),
        )?;
        let reconciled = self.reconcile_stage(session, journal, broker.as_ref(), &market)?;
        let session = &*session;
        self.loss_halt_stage(session, journal, &reconciled)?;
        let planned = self.plan_stage(session, journal, &decision, &reconciled)?;
        if let Some(code) = self.stop_before_sending(session, journal, &planned.plan)? {
            return Ok(code);
        }
        let executed = self.execute_stage(journal, broker.as_ref(), &planned, &market)?;
        self.record_stage(
            session,
            journal,
            broker.as_ref(),
            &planned,
            &market,
            executed,
        )
    }

    /// A stopped run: the exit-code rule applied, the orders not yet settled named, and the
    /// ledger closed as incomplete or failed.
    fn close_stopped(&mut self, journal: &mut Journal, stop: Stop) -> Stop {
        let ledger = journal.ledger();
        let mut stop = stop.given_sent(ledger.anything_sent());
        let unsettled: Vec<String> = ledger
            .orders
            .iter()
            .filter(|o| !o.state().is_final())
            .map(|o| {
                format!(
                    "{} {} {} ({:?}{})",
                    o.side.as_str(),
                    o.quantity,
                    o.symbol,
                    o.state(),
                    o.broker_id
                        .as_deref()
                        .map_or(String::new(), |id| format!(", order {id}"))
                )
            })
            .collect();
        if !unsettled.is_empty() {
            let message = format!(
                "{}; not yet settled: {}; the next run settles them with the broker before anything else",
                stop.message(),
                unsettled.join(", ")
            );
            stop = stop.with_message(message);
        }
        let incomplete = matches!(stop, Stop::Incomplete(_));
        let message = stop.message().to_string();
        let stage = self.stage.name().to_string();
        let closed = journal.update(|ledger| {
            ledger.failed_stage = Some(stage);
            if ledger.status == RunStatus::Running {
                ledger.status = if incomplete {
                    RunStatus::Incomplete
                } else {
                    RunStatus::Failed
                };
            }
            ledger.message = Some(message);
        });
        if let Err(e) = closed {
            self.report
                .warn(&format!("could not write the ledger: {e}"));
        }
        stop
    }

    fn nothing_to_do(&mut self, why: &str) -> u8 {
        self.outcome = Outcome::NoOp;
        self.verdict = format!("NO-OP: {why}");
        self.report.verdict(true, &self.verdict);
        exit::OK
    }

    fn next_run(&self, today: NaiveDate) -> String {
        let next = calendar::next_session(today);
        calendar::session_hours(next).map_or(String::new(), |h| {
            format!(
                "Next run {} at {} ET.",
                next,
                h.run_at(self.loaded.config.schedule.minutes_before_close)
                    .format("%H:%M")
            )
        })
    }

    fn trade_rows(&self, journal: &Journal, reason: &str, costs: &Costs) -> Vec<TradeRow> {
        trades::rows_of(journal.ledger(), reason, costs.commission_per_share)
    }
}
