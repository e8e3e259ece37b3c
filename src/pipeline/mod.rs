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

mod stop;
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

/// What the fetch stage brings.
struct Market {
    history: History,
    quotes: Vec<Quote>,
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

    /// The outcome of reading a sealed file, reported: a file restored from its backup is
    /// used; a damaged one with no good backup is moved aside and `(None, true)` returned, so
    /// that the caller rebuilds it from the broker (`rebuild` says how, for the message).
    fn read_or_rebuild<T>(
        &self,
        path: &std::path::Path,
        read: crate::error::Result<Sealed<T>>,
        rebuild: &str,
    ) -> Result<(Option<T>, bool), Stop> {
        match read {
            Ok(Sealed::Missing) => Ok((None, false)),
            Ok(Sealed::Good(value)) => Ok((Some(value), false)),
            Ok(Sealed::Restored {
                value,
                from,
                problem,
            }) => {
                self.report.warn(&format!(
                    "{} was damaged ({problem}): restored from {}",
                    path.display(),
                    from.display()
                ));
                Ok((Some(value), false))
            }
            Err(crate::error::Error::Corrupt { problem, .. }) => {
                let aside = set_aside(path)?;
                self.report.warn(&format!(
                    "{} is damaged ({problem}) and has no good backup: moved to {aside}; {rebuild}",
                    path.display()
                ));
                Ok((None, true))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `--as-of` may replay the last completed session (a no-op) or go forward, never back:
    /// a run for an earlier session would rewrite the mode's history.
    fn refuse_rewriting_history(&self, today: NaiveDate) -> Result<(), Stop> {
        let last = match State::load(&self.paths.state_file()) {
            Ok(Sealed::Good(state) | Sealed::Restored { value: state, .. }) => state.last_session,
            // A missing state has no history; a damaged one is dealt with in preflight.
            _ => None,
        };
        match last {
            Some(last) if today < last => Err(Stop::usage(format!(
                "--as-of {today} is before {last}, the last session the {} account completed: \
                 a run can only repeat that session or go forward",
                self.options.mode.as_str()
            ))),
            _ => Ok(()),
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

    fn fetch(&self, data: &dyn MarketData, today: NaiveDate) -> Result<Market, Stop> {
        let c = &self.loaded.config;
        let symbols = c.strategy.parameters.all_symbols();
        let mut history = History::default();
        let expected = calendar::previous_session(today);
        for symbol in &symbols {
            let bars = data.daily_bars(symbol, c.data.history_start)?;
            let last = bars.last().map(|b| b.date);
            let must_be_current = *symbol == c.strategy.parameters.signal_symbol
                || *symbol == c.strategy.parameters.treasury_trend_symbol;
            if must_be_current && last != Some(expected) {
                let hint =
                    if c.data.source == DataSource::Local && last.is_some_and(|l| l < expected) {
                        format!(
                            "; the local bars in {} end there: to trade today, set \
                         `data.source: schwab` (quotes and history from Schwab, orders still on \
                         the simulator in paper mode), or replay a bundled session with --as-of",
                            self.loaded.data_dir().display()
                        )
                    } else {
                        String::new()
                    };
                return Err(Stop::preflight(format!(
                    "{symbol} history ends {}, not on the previous session {expected}{hint}",
                    last.map_or("nowhere (no bars)".into(), |d| d.to_string())
                )));
            }
            history.series.insert(symbol.clone(), bars);
        }
        let quotes = data.quotes(&symbols)?;
        let now = self.clock.now_utc();
        let max_age = chrono::Duration::seconds(c.execution.max_quote_age_s as i64);
        for q in &quotes {
            if now - q.time > max_age {
                return Err(Stop::preflight(format!(
                    "{} quote is stale: taken {} s ago, over execution.max_quote_age_s ({})",
                    q.symbol,
                    (now - q.time).num_seconds(),
                    c.execution.max_quote_age_s
                )));
            }
            if q.last <= Decimal::ZERO {
                return Err(Stop::preflight(format!(
                    "{} quote has no positive price",
                    q.symbol
                )));
            }
            if let (Some(bid), Some(ask)) = (q.bid, q.ask) {
                if bid > ask {
                    return Err(Stop::preflight(format!(
                        "{} quote is crossed: bid {bid} > ask {ask}",
                        q.symbol
                    )));
                }
            }
        }
        Ok(Market { history, quotes })
    }

    fn reconcile(
        &self,
        state: Option<&State>,
        positions: &BTreeMap<String, i64>,
        account: &Account,
        legs: &[String; LEGS],
        prices: &[Option<Decimal>; LEGS],
    ) -> Result<(Mark, String), Stop> {
        let Some(state) = state.filter(|s| s.targets_of(legs).is_some()) else {
            return Ok((
                Mark::Ok,
                format!(
                    "first run: the broker holds {} with {:.2} cash",
                    describe_positions(positions),
                    account.cash
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
                    "broker matches the state: {}, cash {:.2}",
                    describe_positions(positions),
                    account.cash
                ),
            ));
        }
        let equity = account.liquidation_value.max(Decimal::ONE);
        let drift_pct = drift_value / equity * Decimal::ONE_HUNDRED;
        let explained = state.last_outcome.as_deref() == Some("incomplete")
            || self.resumed
            || self.rebuild_journal;
        let limit = self.loaded.config.risk.max_drift_pct;
        if drift_pct > limit && !explained {
            return Err(Stop::preflight(format!(
                "the broker's positions differ from the state by {drift_pct:.2}% of equity ({}), over risk.max_drift_pct {limit}: \
                 manual trades? Review, then raise risk.max_drift_pct for one run or move {} aside to adopt the broker's positions",
                differences.join(", "),
                self.paths.state_file().display()
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

    /// Sends the plan: reductions, then a fresh look at the account, then increases. Every
    /// order is journaled PENDING before it is sent.
    fn execute_plan(
        &mut self,
        broker: &dyn Broker,
        plan: &plan::Approved<Plan>,
        quotes: &[Quote],
        costs: &Costs,
    ) -> Result<(), Stop> {
        let c = &self.loaded.config;
        let since = self
            .ledger
            .as_ref()
            .map_or(self.clock.now_utc(), |l| l.started_at)
            - chrono::Duration::minutes(1);
        for phase in [Phase::Reduce, Phase::Increase] {
            let orders: Vec<&PlannedOrder> =
                plan.orders.iter().filter(|o| o.phase == phase).collect();
            if orders.is_empty() {
                continue;
            }
            let mut account = broker.account()?;
            for planned in orders {
                let quote = quotes.iter().find(|q| q.symbol == planned.symbol);
                let reference = quote.map_or(planned.price, |q| q.reference(planned.side));
                let mut quantity = planned.quantity;
                match planned.side {
                    Side::Sell => {
                        let held = whole_shares(account.quantity(&planned.symbol))?;
                        quantity = quantity.min(held);
                    }
                    Side::Buy => {
                        let keep = Decimal::ONE_HUNDRED - c.execution.max_buying_power_pct;
                        let reserve =
                            account.buying_power.min(account.cash) * keep / Decimal::ONE_HUNDRED;
                        let available =
                            (account.cash.min(account.buying_power) - reserve).max(Decimal::ZERO);
                        let unit = reference * (Decimal::ONE + costs.slippage)
                            + costs.commission_per_share;
                        let affordable = if unit > Decimal::ZERO {
                            whole_shares(available / unit)?
                        } else {
                            0
                        };
                        quantity = quantity.min(affordable);
                    }
                }
                if quantity <= 0 {
                    self.report.warn(&format!(
                        "{} {} skipped: nothing left to trade",
                        planned.side.as_str(),
                        planned.symbol
                    ));
                    continue;
                }
                self.send_with_retries(broker, planned, quantity, reference, since)?;
                account = broker.account()?;
            }
            if phase == Phase::Reduce {
                crate::fault::kill_point("after-sells");
            }
        }
        Ok(())
    }

    fn send_with_retries(
        &mut self,
        broker: &dyn Broker,
        planned: &PlannedOrder,
        quantity: i64,
        reference: Decimal,
        since: DateTime<Utc>,
    ) -> Result<(), Stop> {
        let c = &self.loaded.config;
        let mut remaining = quantity;
        let mut attempt = 0;
        while remaining > 0 {
            let filled = self.send_one(
                broker, planned, remaining, quantity, reference, since, attempt,
            )?;
            remaining -= filled;
            if remaining == 0 {
                break;
            }
            if attempt >= c.execution.max_order_retries {
                return Err(Stop::incomplete(format!(
                    "{} {} {}: {remaining} of {quantity} shares still unfilled after {} retries",
                    planned.side.as_str(),
                    quantity,
                    planned.symbol,
                    attempt
                )));
            }
            attempt += 1;
            self.report.warn(&format!(
                "{} {}: {remaining} shares unfilled, retry {attempt}",
                planned.side.as_str(),
                planned.symbol
            ));
        }
        Ok(())
    }

    /// Sends one order and follows it to a final state; returns the shares filled.
    /// `intended` is what this plan line trades in this run after the buying-power cap
    /// (`quantity` is less on a retry of the remainder).
    #[allow(clippy::too_many_arguments)]
    fn send_one(
        &mut self,
        broker: &dyn Broker,
        planned: &PlannedOrder,
        quantity: i64,
        intended: i64,
        reference: Decimal,
        since: DateTime<Utc>,
        attempt: u32,
    ) -> Result<i64, Stop> {
        let c = &self.loaded.config;
        let seq = self.ledger.as_ref().map_or(0, |l| l.orders.len());
        let entry = LedgerOrder {
            intended: Some(intended),
            ..LedgerOrder::pending(
                seq,
                (&planned.symbol, planned.side, quantity),
                reference,
                self.clock.now_utc(),
                (attempt > 0).then(|| format!("retry {attempt} of the unfilled remainder")),
            )
        };
        self.update_order(entry.clone())?;
        crate::fault::kill_point("before-send");
        let request = OrderRequest {
            symbol: planned.symbol.clone(),
            side: planned.side,
            quantity: u64::try_from(quantity).map_err(|_| {
                Stop::preflight(format!("an order of {quantity} shares cannot be sent"))
            })?,
            order_type: OrderType::Market,
        };
        let placed = broker.place_order(&request);
        crate::fault::kill_point("after-send");
        let id = match placed {
            Ok(Placement::Placed(id)) => id,
            Ok(Placement::Unknown(why)) => {
                // Settle by listing the broker's orders, never by sending again.
                let listed = broker.orders_since(since)?;
                let claimed = self.ledger.as_ref().map_or(Vec::new(), Ledger::claimed_ids);
                match entry.find_in(&listed, &claimed) {
                    Some(order) => order.id.clone(),
                    None => {
                        let mut e = entry.clone();
                        e.apply(OrderEvent::AnswerLost)?;
                        e.note = Some(why.clone());
                        self.update_order(e)?;
                        return Err(Stop::incomplete(format!(
                                "{} {quantity} {}: outcome unknown ({why}) and not found among the broker's orders; check the account before running again",
                                request.side.as_str(),
                                request.symbol
                            )));
                    }
                }
            }
            Err(e) => {
                // Refused at placement (a 4xx such as a 429 or a validation error, or no
                // connection): the broker holds no such order.
                let mut refused = entry.clone();
                refused.apply(OrderEvent::NeverPlaced)?;
                refused.note = Some(format!("refused at placement, nothing placed: {e}"));
                self.update_order(refused)?;
                // Nothing placed: exit 3, unless earlier orders went out (the rule in Stop).
                return Err(Stop::preflight(format!(
                    "{} {quantity} {}: {e}",
                    request.side.as_str(),
                    request.symbol
                )));
            }
        };
        let mut e = entry.clone();
        e.apply(OrderEvent::Placed)?;
        e.broker_id = Some(id.clone());
        self.update_order(e.clone())?;

        let order = self.follow(broker, &id)?;
        let filled = whole_shares(order.filled_quantity)?;
        e.record_report(&order)?;
        let slippage = order
            .average_fill_price
            .map(|fill| adverse_slippage_pct(planned.side, reference, fill));
        e.slippage_pct = slippage;
        self.update_order(e.clone())?;
        if !order.status.is_final() {
            // A cancel is only a request: while the order lives, it may still fill, so no
            // remainder is sent beside it.
            return Err(Stop::incomplete(format!(
                "{} {quantity} {}: order {id} is still live at the broker ({:?}, {} filled) after \
                 the cancel request; nothing more is sent for {} while it lives",
                request.side.as_str(),
                request.symbol,
                order.status,
                order.filled_quantity,
                request.symbol
            )));
        }
        if let OrderStatus::Rejected(why) = &order.status {
            return Err(Stop::incomplete(format!(
                "{} {quantity} {} was rejected: {why}",
                request.side.as_str(),
                request.symbol
            )));
        }
        if let Some(slip) = slippage {
            let ex = &c.execution;
            let text = format!(
                "{} {} {}: filled at {} vs {reference}, slippage {slip:.3}%",
                request.side.as_str(),
                filled,
                request.symbol,
                order.average_fill_price.unwrap_or_default()
            );
            if slip >= ex.slippage_abort_pct {
                return Err(Stop::incomplete(format!(
                    "{text}, at or over execution.slippage_abort_pct ({}): no further orders",
                    ex.slippage_abort_pct
                )));
            } else if slip >= ex.slippage_error_pct {
                tracing::error!("{text}");
                self.report.warn(&format!(
                    "{text} (over the error level {})",
                    ex.slippage_error_pct
                ));
            } else if slip >= ex.slippage_warn_pct {
                tracing::warn!("{text}");
                self.report.warn(&text);
            } else {
                self.report.detail(&text);
            }
        }
        Ok(filled)
    }

    /// Follows an order to a final state; one still open at the timeout is canceled and
    /// followed again (see [`follow_order`]). The order returned may still be live.
    fn follow(&self, broker: &dyn Broker, id: &str) -> Result<crate::broker::Order, Stop> {
        let polls = self.loaded.config.execution.order_timeout_s.max(1) as u32;
        Ok(follow_order(broker, self.clock.as_ref(), id, polls)?)
    }

    /// Settles the journal of an earlier run of the session against the broker: every order
    /// not known to be final is looked up (by id, else by symbol, side and quantity among the
    /// orders entered since the run began) and followed to its end; one the broker never
    /// received is marked NOT_SENT. With a rebuilt ledger, the broker's orders of the day
    /// become the journal. Nothing is ever sent here.
    fn settle(
        &mut self,
        broker: &dyn Broker,
        since: DateTime<Utc>,
        legs: &[String; LEGS],
    ) -> Result<String, Stop> {
        let listed: Vec<crate::broker::Order> = broker
            .orders_since(since)?
            .into_iter()
            .filter(|o| legs.contains(&o.symbol))
            .collect();
        let mut journal = self
            .ledger
            .as_ref()
            .map(|l| l.orders.clone())
            .unwrap_or_default();
        let mut claimed: Vec<String> = self.ledger.as_ref().map_or(Vec::new(), Ledger::claimed_ids);
        let (mut settled, not_sent) = settle_entries(&mut journal, &listed, &mut claimed, |id| {
            self.follow(broker, id)
        })?;
        if self.rebuild_journal {
            for o in listed.iter().filter(|o| !claimed.contains(&o.id)) {
                let order = self.follow(broker, &o.id)?;
                let mut entry = LedgerOrder {
                    seq: journal.len(),
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
                journal.push(entry);
                settled += 1;
            }
        }
        if let Some(ledger) = self.ledger.as_mut() {
            ledger.orders = journal;
        }
        self.save_ledger()?;
        Ok(format!(
            "earlier orders settled with the broker: {settled} found, {not_sent} never placed; nothing resent"
        ))
    }

    fn update_order(&mut self, order: LedgerOrder) -> Result<(), Stop> {
        if let Some(ledger) = self.ledger.as_mut() {
            ledger.put(&order);
        }
        self.save_ledger()
    }

    fn trade_rows(&self, reason: &str) -> Vec<TradeRow> {
        self.ledger
            .as_ref()
            .map_or(Vec::new(), |l| trades::rows_of(l, reason))
    }
}

/// Settles the unfinished entries of a journal with the broker, sending nothing: each entry
/// not known to be final is looked up (by its id, else by symbol, side and quantity among
/// `listed`, the broker's orders entered since the run began, each claimed once) and
/// followed with `follow`; one the broker never received becomes NOT_SENT. Returns how many
/// were found and how many were never placed.
pub(crate) fn settle_entries<E: From<JournalError>>(
    journal: &mut [LedgerOrder],
    listed: &[crate::broker::Order],
    claimed: &mut Vec<String>,
    mut follow: impl FnMut(&str) -> Result<crate::broker::Order, E>,
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
                if let Some(fill) = order.average_fill_price {
                    entry.slippage_pct = Some(adverse_slippage_pct(
                        entry.side,
                        entry.reference_price,
                        fill,
                    ));
                }
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

/// What is left of `plan` after the orders in `journal`: each planned order less the shares
/// already filled for its symbol and side. Once a plan line was sent, its size is what was
/// sent after the buying-power cap (`intended`), so a resumed run ends where an uninterrupted
/// one would and never tops a capped order up.
fn remainder(plan: &Plan, journal: &[LedgerOrder]) -> Plan {
    let mut left = plan.clone();
    left.orders = plan
        .orders
        .iter()
        .filter_map(|o| {
            let sent: Vec<&LedgerOrder> = journal
                .iter()
                .filter(|j| j.symbol == o.symbol && j.side == o.side)
                .filter(|j| j.state != OrderState::NotSent)
                .collect();
            let filled: Decimal = sent.iter().map(|j| j.filled).sum();
            let size = sent
                .iter()
                .filter_map(|j| j.intended)
                .max()
                .map_or(o.quantity, |intended| intended.min(o.quantity));
            // A journal filled beyond any share count would have failed when recorded.
            let remaining = size - whole_shares(filled).unwrap_or(Shares::MAX);
            (remaining > 0).then(|| PlannedOrder {
                quantity: remaining,
                ..o.clone()
            })
        })
        .collect();
    left
}

/// Moves a damaged file aside (`<name>.damaged`) and returns where it went.
fn set_aside(path: &std::path::Path) -> Result<String, Stop> {
    let mut name = path.as_os_str().to_owned();
    name.push(".damaged");
    let aside = std::path::PathBuf::from(name);
    std::fs::rename(path, &aside)
        .map_err(|e| Stop::preflight(format!("moving {} aside: {e}", path.display())))?;
    Ok(aside.display().to_string())
}

/// Adverse slippage in percent: buys above the reference, sells below it. Favourable
/// fills count as zero.
pub fn adverse_slippage_pct(side: Side, reference: Decimal, fill: Decimal) -> Decimal {
    if reference <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    let signed = match side {
        Side::Buy => fill - reference,
        Side::Sell => reference - fill,
    };
    (signed / reference * Decimal::ONE_HUNDRED).max(Decimal::ZERO)
}

/// Today's bars built from the quotes: open = high = low = close = last, volume = the day's
/// cumulative volume when given, else 0. A jump from yesterday's close that looks like a
/// split or bad data stops the run for review.
fn synthetic_bars(market: &Market, today: NaiveDate) -> Result<Vec<(String, Bar)>, Stop> {
    let mut out = Vec::new();
    for q in &market.quotes {
        if let Some(prev) = market.history.bars(&q.symbol).last() {
            let ratio = crate::bars::decimal_to_f64(q.last) / prev.close_f64;
            if !(1.0 / MAX_DAY_RATIO..=MAX_DAY_RATIO).contains(&ratio) {
                return Err(Stop::preflight(format!(
                    "{} moved from {} to {} ({:+.1}%) since {}: a split or bad data? The history must be split-adjusted before trading",
                    q.symbol,
                    prev.close,
                    q.last,
                    (ratio - 1.0) * 100.0,
                    prev.date
                )));
            }
        }
        let p = q.last;
        let volume = q.day_volume.and_then(|v| v.to_f64()).unwrap_or(0.0);
        out.push((q.symbol.clone(), Bar::new(today, p, p, p, p, volume)));
    }
    Ok(out)
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

fn describe_positions(positions: &BTreeMap<String, i64>) -> String {
    if positions.is_empty() {
        return "no positions".into();
    }
    positions
        .iter()
        .map(|(s, q)| format!("{q} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_decision(d: &Decision, legs: &[String; LEGS]) -> String {
    let mut targets: Vec<String> = legs
        .iter()
        .zip(d.weights.legs.iter())
        .filter(|(_, w)| !w.is_zero())
        .map(|(s, w)| format!("{s} {:.1}%", (*w * Decimal::ONE_HUNDRED).round_dp(1)))
        .collect();
    if !d.weights.cash.is_zero() {
        targets.push(format!(
            "cash {:.1}%",
            (d.weights.cash * Decimal::ONE_HUNDRED).round_dp(1)
        ));
    }
    format!(
        "cell {} ({}, vol {}{}), T_norm {:.3}, z {:.3}, bonds {}; targets {}",
        d.cell,
        d.trend,
        d.vol_state,
        if d.vol_crush { ", vol crush" } else { "" },
        d.t_norm.round_dp(3),
        d.z_score,
        d.bond.map_or("n/a".into(), |b| b.trend.to_string()),
        targets.join(", ")
    )
}

fn describe_plan(plan: &Plan) -> String {
    match &plan.trigger {
        None => "no trade: target unchanged and positions as recorded".into(),
        Some(t) => format!(
            "rebalance ({}{}): {} order(s) on equity {:.2}",
            t.reason(),
            match t {
                plan::Trigger::TargetChanged(d) => format!(", change {:.3}", d),
                plan::Trigger::PositionsDrifted(s) => format!(": {}", s.join(", ")),
                plan::Trigger::FirstRun => String::new(),
            },
            plan.orders.len(),
            plan.equity
        ),
    }
}
