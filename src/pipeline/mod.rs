//! The daily `jutsu trade` run: preflight, fetch, synthetic bar, decide, reconcile, plan,
//! execute, check, record. One straight pass; each stage is recorded in the run ledger as it
//! completes, and the first failure stops the run with the exit code that says what it left.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::backtest::{self, Settings};
use crate::bars::{Bar, History};
use crate::broker::{
    follow_order, Account, Broker, MarketData, OrderRequest, OrderStatus, OrderType, Placement,
    Quote,
};
use crate::calendar::{self, DayKind};
use crate::clock::FixedClock;
use crate::config::{DataSource, Loaded, Mode};
use crate::error::exit;
use crate::fsutil::Sealed;
use crate::ledger::{
    JournalError, Ledger, LedgerOrder, OrderEvent, OrderState, RunStatus, StageRecord,
};
use crate::lock::RunLock;
use crate::plan::{self, Phase, Plan, PlanInput, PlannedOrder};
use crate::portfolio::{whole_shares, Costs, Shares, Side, TooManyShares};
use crate::report::{Mark, Report};
use crate::sources::{self, SharedClock};
use crate::state::{State, StatePaths};
use crate::strategy::{Decision, LEGS};
use crate::trades::{self, TradeRow};

mod describe;
mod execute;
mod fetch;
mod files;
mod reconcile;
mod stop;

use describe::{describe_decision, describe_plan};
pub use execute::adverse_slippage_pct;
use execute::remainder;
use fetch::synthetic_bars;
pub(crate) use reconcile::{settle_entries, whole_positions};
use stop::Stop;

/// Free disk space needed to run.
const MIN_FREE_BYTES: u64 = 50 * 1024 * 1024;
/// A one-day move beyond these ratios is not trusted without review (a split or bad data).
const MAX_DAY_RATIO: f64 = 1.6;

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
    /// OK, NO-OP, SKIPPED, FAILED, INCOMPLETE or HALTED.
    pub outcome: &'static str,
    /// The session, when one was determined.
    pub session: Option<NaiveDate>,
    /// The stage that failed.
    pub failed_stage: Option<&'static str>,
    /// The last line.
    pub verdict: String,
    /// Everything the run printed.
    pub transcript: String,
    /// The run ledger, when one was written.
    pub ledger: Option<std::path::PathBuf>,
    /// Someone should look now (failure, partial execution, the login about to expire).
    pub critical: bool,
}

/// Runs `jutsu trade`; the summary carries the exit code.
pub fn trade(loaded: &Loaded, options: &TradeOptions, clock: SharedClock) -> RunSummary {
    let report = Report::default();
    let mut run = Run {
        loaded,
        options,
        clock,
        report: &report,
        ledger: None,
        paths: StatePaths::new(loaded, options.mode),
        started: Instant::now(),
        stage: "preflight",
        session: None,
        outcome: "OK",
        verdict: String::new(),
        critical: false,
        resumed: false,
        rebuild_journal: false,
    };
    let result = run.execute();
    let ledger = run.ledger.as_ref().map(|l| run.paths.ledger(l.session));
    match result {
        Ok(code) => RunSummary {
            code,
            outcome: run.outcome,
            session: run.session,
            failed_stage: None,
            verdict: run.verdict.clone(),
            transcript: report.transcript(),
            ledger,
            critical: run.critical,
        },
        Err(stop) => {
            let sent = run.ledger.as_ref().is_some_and(|l| l.anything_sent());
            let mut stop = stop.given_sent(sent);
            let unsettled: Vec<String> = run.ledger.as_ref().map_or(Vec::new(), |l| {
                l.orders
                    .iter()
                    .filter(|o| !o.state.is_final())
                    .map(|o| {
                        format!(
                            "{} {} {} ({:?}{})",
                            o.side.as_str(),
                            o.quantity,
                            o.symbol,
                            o.state,
                            o.broker_id
                                .as_deref()
                                .map_or(String::new(), |id| format!(", order {id}"))
                        )
                    })
                    .collect()
            });
            if !unsettled.is_empty() {
                let message = format!(
                    "{}; not yet settled: {}; the next run settles them with the broker before anything else",
                    stop.message(),
                    unsettled.join(", ")
                );
                stop = stop.with_message(message);
            }
            if let Some(ledger) = run.ledger.as_mut() {
                if ledger.status == RunStatus::Running {
                    ledger.status = if matches!(stop, Stop::Incomplete(_)) {
                        RunStatus::Incomplete
                    } else {
                        RunStatus::Failed
                    };
                }
                ledger.message = Some(stop.message().to_string());
                let path = run.paths.ledger(ledger.session);
                if let Err(e) = ledger.save(&path) {
                    report.warn(&format!("could not write the ledger: {e}"));
                }
            }
            let code = stop.code();
            tracing::error!(code, stage = run.stage, "{}", stop.message());
            let (outcome, what) = stop.verdict_words();
            let verdict = format!("{what} at {}: {} (exit {code})", run.stage, stop.message());
            report.verdict(false, &verdict);
            RunSummary {
                code,
                outcome,
                session: run.session,
                failed_stage: Some(run.stage),
                verdict,
                transcript: report.transcript(),
                ledger,
                critical: !matches!(stop, Stop::Halted(_)) || run.critical,
            }
        }
    }
}

struct Run<'a> {
    loaded: &'a Loaded,
    options: &'a TradeOptions,
    clock: SharedClock,
    report: &'a Report,
    ledger: Option<Ledger>,
    paths: StatePaths,
    started: Instant,
    stage: &'static str,
    session: Option<NaiveDate>,
    outcome: &'static str,
    verdict: String,
    critical: bool,
    /// This run resumes an earlier run of the session that sent orders.
    resumed: bool,
    /// The session's ledger was damaged beyond repair: rebuild its journal from the broker.
    rebuild_journal: bool,
}

impl Run<'_> {
    fn record(
        &mut self,
        mark: Mark,
        name: &str,
        summary: String,
        since: Instant,
    ) -> Result<(), Stop> {
        let took = since.elapsed();
        self.report.stage(mark, name, &summary, took);
        if let Some(ledger) = self.ledger.as_mut() {
            ledger.stages.push(StageRecord {
                name: name.to_string(),
                ok: mark != Mark::Fail,
                summary,
                millis: took.as_millis() as u64,
            });
            ledger.save(&self.paths.ledger(ledger.session))?;
        }
        Ok(())
    }

    fn save_ledger(&self) -> Result<(), Stop> {
        if let Some(ledger) = &self.ledger {
            ledger.save(&self.paths.ledger(ledger.session))?;
        }
        Ok(())
    }

    fn execute(&mut self) -> Result<u8, Stop> {
        let c = &self.loaded.config;
        let mode = self.options.mode;
        let t = Instant::now();

        // 1. Preflight.
        if self.options.as_of.is_some() {
            if mode == Mode::Live {
                return Err(Stop::usage(
                    "--as-of is refused in live mode: live orders happen now",
                ));
            }
            if c.data.source != DataSource::Local {
                return Err(Stop::usage(
                    "--as-of needs offline data (data.source: local)",
                ));
            }
        }
        if let Some((date, time)) = self.options.as_of {
            let time = time.unwrap_or_else(|| {
                calendar::session_hours(date)
                    .map(|h| h.run_at(c.schedule.minutes_before_close).time())
                    .unwrap_or_else(|| NaiveTime::from_hms_opt(15, 55, 0).unwrap_or_default())
            });
            let fixed = FixedClock::at_et(date.and_time(time)).ok_or_else(|| {
                Stop::usage(format!(
                    "{date} {time} does not exist in New York (DST gap)"
                ))
            })?;
            self.clock = Arc::new(fixed);
        }
        let _lock = RunLock::acquire(&self.paths.lock_file(), "trade")?;
        // Backups are taken here, before this run changes anything: a restore brings back
        // the state of the start of a run, never a half-finished rebalance.
        State::backup(&self.paths.state_file())?;
        let halt = self.paths.halt_flag();
        if halt.exists() {
            let why = std::fs::read_to_string(&halt).unwrap_or_default();
            return Err(Stop::Halted(format!(
                "trading is halted ({}); `jutsu resume` clears the flag",
                why.trim()
            )));
        }
        let now = self.clock.now_et();
        let today = now.date_naive();
        if self.options.as_of.is_some() {
            self.refuse_rewriting_history(today)?;
        }
        self.session = Some(today);
        let hours = match calendar::day_kind(today) {
            DayKind::Weekend => {
                return Ok(self.nothing_to_do(&format!("{today} is a weekend day: not a session")))
            }
            DayKind::Holiday(name) => {
                return Ok(self.nothing_to_do(&format!(
                    "{today} is a market holiday ({name}): not a session"
                )))
            }
            _ => {
                calendar::session_hours(today).ok_or_else(|| Stop::preflight("no session hours"))?
            }
        };
        let run_at = hours.run_at(c.schedule.minutes_before_close);
        let opens = run_at - chrono::Duration::minutes(c.schedule.early_tolerance_minutes.into());
        let closes = run_at + chrono::Duration::minutes(c.schedule.late_tolerance_minutes.into());
        let ledger_path = self.paths.ledger(today);
        let (previous, rebuilt) = self.read_or_rebuild(
            &ledger_path,
            Ledger::load_checked(&ledger_path),
            "its journal is rebuilt from the broker's orders",
        )?;
        self.rebuild_journal = rebuilt;
        if let Some(done) = previous.as_ref().filter(|l| l.status == RunStatus::Done) {
            if self.paths.exit_ledger(today).exists() {
                return Ok(self.nothing_to_do(&format!(
                    "the {} session {today} ended with the emergency exit (see {}); the next \
                     session's run rebalances to the strategy's targets",
                    done.mode.as_str(),
                    self.paths.exit_ledger(today).display()
                )));
            }
            return Ok(self.nothing_to_do(&format!(
                "the {} run of {today} is already done ({}); nothing to do",
                done.mode.as_str(),
                done.message.clone().unwrap_or_default()
            )));
        }
        let resume = previous.filter(|l| l.anything_sent());
        if now < opens {
            return Ok(self.nothing_to_do(&format!(
                "too early: the run window of {today} opens at {} ET (run at {})",
                opens.format("%H:%M"),
                run_at.format("%H:%M")
            )));
        }
        if now > closes {
            return Err(Stop::preflight(format!(
                "missed the run window of {today}: the run was due at {} ET and it is {}",
                run_at.format("%H:%M"),
                now.format("%H:%M")
            )));
        }
        if now < run_at {
            self.report
                .line(&format!("waiting until {} ET", run_at.format("%H:%M")));
            let wait = (run_at - now).to_std().unwrap_or_default();
            self.clock.pause(wait);
        }
        let state_path = self.paths.state_file();
        let (mut state, _) = self.read_or_rebuild(
            &state_path,
            State::load(&state_path),
            "rebuilt from the broker's positions (this run rebalances as a first run)",
        )?;
        let legs = c.strategy.parameters.traded_symbols().map(String::from);
        if let Some(s) = state.as_mut() {
            s.migrate(&legs);
        }
        if let Ok(free) = fs4::available_space(&self.paths.shared) {
            if free < MIN_FREE_BYTES {
                return Err(Stop::preflight(format!(
                    "only {} MB free on the state disk",
                    free / 1024 / 1024
                )));
            }
        }
        let mut token_note = String::new();
        if c.uses_schwab(mode) {
            let token =
                crate::schwab::auth::TokenFile::load(&self.loaded.resolve(&c.schwab.token_file))?;
            let hours_left = token.refresh_seconds_left(self.clock.now_utc().timestamp()) / 3600;
            if hours_left <= 0 {
                return Err(Stop::preflight(
                    "the Schwab refresh token has expired: run `jutsu auth login`",
                ));
            }
            token_note = format!(", token {hours_left} h left");
            if hours_left < 48 {
                self.critical = true;
                self.report.warn(&format!(
                    "the Schwab login expires in {hours_left} h: run `jutsu auth login`"
                ));
            }
        }
        self.ledger = Some(match resume {
            Some(mut earlier) => {
                Ledger::backup(&ledger_path)?;
                self.resumed = true;
                self.report.warn(&format!(
                    "an earlier run of {today} sent orders and stopped ({:?}): resuming it",
                    earlier.status
                ));
                earlier.status = RunStatus::Running;
                earlier.message = Some("resumed".into());
                earlier
            }
            None => Ledger::new(today, mode, self.clock.now_utc()),
        });
        let kind = if calendar::day_kind(today) == DayKind::EarlyClose {
            "early close"
        } else {
            "regular"
        };
        self.record(
            Mark::Ok,
            "preflight",
            format!(
                "{mode} session {today} ({kind}, close {}, run at {} ET){token_note}",
                hours.close.format("%H:%M"),
                run_at.format("%H:%M"),
                mode = mode.as_str()
            ),
            t,
        )?;
        crate::fault::kill_point("preflight");

        // 2. Fetch.
        self.stage = "fetch";
        let t = Instant::now();
        let data = sources::market_data(self.loaded, self.clock.clone(), self.clock.now_utc())?;
        let market = self.fetch(data.as_ref(), today)?;
        if let Some(ledger) = self.ledger.as_mut() {
            ledger.quotes = market
                .quotes
                .iter()
                .map(|q| (q.symbol.clone(), q.last))
                .collect();
        }
        let signal = &c.strategy.parameters.signal_symbol;
        self.record(
            Mark::Ok,
            "fetch",
            format!(
                "{} bars of {signal} to {}, {} quotes",
                market.history.bars(signal).len(),
                market
                    .history
                    .bars(signal)
                    .last()
                    .map_or(String::new(), |b| b.date.to_string()),
                market.quotes.len()
            ),
            t,
        )?;

        // 3. Synthetic bar.
        self.stage = "synthetic bar";
        let t = Instant::now();
        let today_bars = synthetic_bars(&market, today)?;
        let quote_of = |s: &str| market.quotes.iter().find(|q| q.symbol == s);
        self.record(
            Mark::Ok,
            "synthetic bar",
            format!(
                "{signal} {} (volume {}) at {}",
                quote_of(signal).map_or(Decimal::ZERO, |q| q.last),
                quote_of(signal)
                    .and_then(|q| q.day_volume)
                    .map_or("0".into(), |v| v.round().to_string()),
                self.clock.now_et().format("%H:%M ET")
            ),
            t,
        )?;

        // 4. Decide.
        self.stage = "decide";
        let t = Instant::now();
        let settings = Settings::from_config(c, today);
        let record = backtest::decide_day(&market.history, today, &today_bars, &settings)?;
        let decision = record.decision.ok_or_else(|| {
            Stop::preflight(
                "not enough history for a decision (221 bars of the signal symbol are needed)",
            )
        })?;
        if let Some(ledger) = self.ledger.as_mut() {
            ledger.decision = Some(decision);
        }
        self.record(Mark::Ok, "decide", describe_decision(&decision, &legs), t)?;

        // 5. Reconcile.
        self.stage = "reconcile";
        let t = Instant::now();
        let broker = sources::broker(self.loaded, mode, data.clone(), self.clock.clone())?;
        if self.resumed || self.rebuild_journal {
            let since = if self.rebuild_journal {
                hours.open.with_timezone(&Utc)
            } else {
                self.ledger
                    .as_ref()
                    .map_or(hours.open.with_timezone(&Utc), |l| l.started_at)
                    - chrono::Duration::minutes(1)
            };
            let summary = self.settle(broker.as_ref(), since, &legs)?;
            self.record(Mark::Warn, "settle", summary, t)?;
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
        let positions = whole_positions(&account, &legs)?;
        if let Some(ledger) = self.ledger.as_mut() {
            ledger.equity_before = Some(account.liquidation_value);
        }
        let prices: [Option<Decimal>; LEGS] = legs.clone().map(|s| quote_of(&s).map(|q| q.last));
        let (mark, summary) =
            self.reconcile(state.as_ref(), &positions, &account, &legs, &prices)?;
        self.record(mark, "reconcile", summary, t)?;

        // 6. Plan and risk gate.
        self.stage = "plan";
        let t = Instant::now();
        let planning_costs = match mode {
            Mode::Paper => c.sim.costs(),
            _ => Costs {
                commission_per_share: Decimal::ZERO,
                slippage: Decimal::ZERO,
            },
        };
        let input = PlanInput {
            weights: decision.weights,
            remembered: state.as_ref().and_then(|s| s.targets_of(&legs)),
            recorded_positions: state
                .as_ref()
                .filter(|s| s.targets_of(&legs).is_some())
                .map(|s| s.positions.clone()),
            symbols: legs.clone(),
            positions: positions.clone(),
            cash: account.cash,
            buying_power: account.buying_power,
            prices,
            threshold: crate::strategy::decimal_from_f64(c.strategy.parameters.rebalance_threshold),
            costs: planning_costs,
            max_buying_power_pct: c.execution.max_buying_power_pct,
            min_trade_pct: c.execution.min_trade_pct,
        };
        let mut plan = plan::plan(&input);
        // A resumed run finishes the session's original plan: only what is not yet filled.
        let original = self
            .ledger
            .as_ref()
            .and_then(|l| l.plan.clone())
            .filter(|_| self.resumed);
        if let Some(original) = original {
            let journal = self
                .ledger
                .as_ref()
                .map(|l| l.orders.clone())
                .unwrap_or_default();
            plan = remainder(&original, &journal);
            self.report.detail(&format!(
                "finishing the plan of the earlier run: {} order(s) left",
                plan.orders.len()
            ));
        }
        if let Some(ledger) = self.ledger.as_mut() {
            if !self.resumed {
                ledger.plan = Some(plan.clone());
            }
        }
        let plan = match plan::approve(plan, &input, &c.risk) {
            Ok(approved) => approved,
            Err(refusal) => {
                self.record(Mark::Fail, "plan", "refused by the risk gate".into(), t)?;
                return Err(Stop::preflight(refusal.to_string()));
            }
        };
        let plan_summary = describe_plan(&plan);
        self.record(Mark::Ok, "plan", plan_summary, t)?;
        crate::fault::kill_point("plan");
        for o in &plan.orders {
            self.report.detail(&format!(
                "{} {} {} at ~{} (target {:.1}%){}",
                o.side.as_str(),
                o.quantity,
                o.symbol,
                o.price,
                (o.target * Decimal::ONE_HUNDRED).round_dp(1),
                if o.full_exit { ", full exit" } else { "" }
            ));
        }
        for d in &plan.dropped {
            self.report
                .detail(&format!("left out {}: {}", d.symbol, d.reason));
        }

        if self.options.plan_only || mode == Mode::DryRun {
            let why = if self.options.plan_only {
                "--plan-only"
            } else {
                "dry run"
            };
            let message = format!("{why}: plan written, nothing sent");
            if let Some(ledger) = self.ledger.as_mut() {
                ledger.status = if mode == Mode::DryRun && !self.options.plan_only {
                    RunStatus::Done
                } else {
                    RunStatus::Skipped
                };
                ledger.message = Some(message.clone());
            }
            self.save_ledger()?;
            self.report
                .stage(Mark::Skip, "execute", &message, Duration::ZERO);
            self.report.verdict(
                true,
                &format!(
                    "OK ({why}): {} order(s) planned, none sent. {}",
                    plan.orders.len(),
                    self.next_run(today)
                ),
            );
            return Ok(exit::OK);
        }

        // 7 and 8. Execute (reductions, re-read, increases) and check fills.
        self.stage = "execute";
        let t = Instant::now();
        let outcome = self.execute_plan(broker.as_ref(), &plan, &market.quotes, &planning_costs);
        let executed = outcome.is_ok();
        let summary = self
            .ledger
            .as_ref()
            .map(|l| {
                let filled = l
                    .orders
                    .iter()
                    .filter(|o| o.state == OrderState::Filled)
                    .count();
                format!("{} order(s) sent, {filled} filled", l.orders.len())
            })
            .unwrap_or_default();
        self.record(
            if executed { Mark::Ok } else { Mark::Fail },
            "execute",
            summary,
            t,
        )?;
        let reason = plan
            .trigger
            .as_ref()
            .map_or("none", |t| t.reason())
            .to_string();

        // 9. Record: state, trades.csv, ledger, report.
        crate::fault::kill_point("before-record");
        self.stage = "record";
        let t = Instant::now();
        let after = broker.account()?;
        if let Some(ledger) = self.ledger.as_mut() {
            ledger.equity_after = Some(after.liquidation_value);
        }
        let mut new_state = state.unwrap_or_else(|| State::empty(mode, self.clock.now_utc()));
        new_state.mode = mode;
        new_state.updated_at = self.clock.now_utc();
        new_state.last_session = Some(today);
        if plan.trigger.is_some() {
            new_state.set_targets(&legs, plan.validated);
            // Complete: what the broker holds. Incomplete: what the plan meant to hold, so
            // that the next run sees the difference and finishes the job.
            new_state.positions = if executed {
                whole_positions(&after, &legs)?
            } else {
                plan.projected.positions.clone()
            };
        }
        new_state.last_outcome = Some(if executed {
            "done".into()
        } else {
            "incomplete".into()
        });
        new_state.save(&self.paths.state_file())?;
        crate::fault::kill_point("after-state");
        let rows = self.trade_rows(&reason);
        let rows = trades::append_new(&self.loaded.logs_dir().join("trades.csv"), rows)?;
        self.record(
            Mark::Ok,
            "record",
            format!(
                "state {}, {} fill(s) in trades.csv",
                self.paths.state_file().display(),
                rows.len()
            ),
            t,
        )?;
        self.report.line("holdings after the run:");
        for p in after.positions.iter().filter(|p| legs.contains(&p.symbol)) {
            let price = quote_of(&p.symbol).map_or(Decimal::ZERO, |q| q.last);
            self.report.detail(&format!(
                "{:<5} {:>8} shares  {:>12.2}",
                p.symbol,
                p.quantity,
                p.quantity * price
            ));
        }
        self.report.detail(&format!("cash  {:>21.2}", after.cash));
        self.report
            .detail(&format!("value {:>21.2}", after.liquidation_value));

        match outcome {
            Ok(()) => {
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
                if let Some(ledger) = self.ledger.as_mut() {
                    ledger.status = RunStatus::Done;
                    ledger.message = Some(message.clone());
                }
                self.save_ledger()?;
                // A completed run leaves a consistent state: keep it as the newest backup.
                State::backup(&self.paths.state_file())?;
                tracing::info!(session = %today, "{message}");
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
            Err(stop) => {
                // The state and trades are recorded; the run stopped in execution.
                self.stage = "execute";
                Err(stop)
            }
        }
    }

    fn nothing_to_do(&mut self, why: &str) -> u8 {
        tracing::info!("{why}");
        self.outcome = "NO-OP";
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

    fn trade_rows(&self, reason: &str) -> Vec<TradeRow> {
        self.ledger
            .as_ref()
            .map_or(Vec::new(), |l| trades::rows_of(l, reason))
    }
}
