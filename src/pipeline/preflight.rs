//! Stage 1: may this run trade now? The clock (`--as-of`), the lock, the halt flag, the
//! session and its run window, the session's ledger (done, or to be resumed), the state,
//! the disk and the Schwab login.

use super::*;

/// What preflight establishes for the rest of the run.
pub(super) struct Session {
    /// The session (New York date).
    pub(super) today: NaiveDate,
    /// Its hours.
    pub(super) hours: calendar::SessionHours,
    /// The state as the last run left it (`None` before the first run, or when rebuilt).
    pub(super) state: Option<State>,
    /// The strategy's traded symbols, in leg order.
    pub(super) legs: [String; LEGS],
    /// This run resumes an earlier run of the session that sent orders.
    pub(super) resumed: bool,
    /// The session's ledger was damaged beyond repair: its journal is rebuilt from the
    /// broker's orders of the day.
    pub(super) rebuilt_journal: bool,
    /// Held for the whole run: one run at a time.
    _lock: RunLock,
}

/// The run goes on with its session and the session's journal, or there is nothing to do
/// (with the exit code).
pub(super) enum Preflight {
    Run(Box<(Session, Journal)>),
    NothingToDo(u8),
}

/// The fixed clock of `--as-of`: that New York date at `time`, or at the session's run time
/// (15:55 on a day that is not a session). `trade` and `status` share it.
pub fn as_of_clock(
    loaded: &Loaded,
    date: NaiveDate,
    time: Option<NaiveTime>,
) -> Result<FixedClock, String> {
    let minutes = loaded.config.schedule.minutes_before_close;
    let time = time.unwrap_or_else(|| {
        calendar::session_hours(date)
            .map(|h| h.run_at(minutes).time())
            .unwrap_or_else(|| NaiveTime::from_hms_opt(15, 55, 0).unwrap_or_default())
    });
    FixedClock::at_et(date.and_time(time))
        .ok_or_else(|| format!("{date} {time} does not exist in New York (DST gap)"))
}

impl Run<'_> {
    pub(super) fn preflight(&mut self) -> Result<Preflight, Stop> {
        let t = Instant::now();
        self.set_clock()?;
        self.refuse_parameter_creep()?;
        let lock = RunLock::acquire(&self.paths.lock_file(), "trade")?;
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
        let Some(hours) = self.session_hours(today)? else {
            return Ok(Preflight::NothingToDo(exit::OK));
        };
        let ledger_path = self.paths.ledger(today);
        let (previous, rebuilt) = self.read_or_rebuild(
            &ledger_path,
            Ledger::load_checked(&ledger_path),
            "its journal is rebuilt from the broker's orders",
        )?;
        if let Some(done) = previous.as_ref().filter(|l| l.status == RunStatus::Done) {
            return Ok(Preflight::NothingToDo(self.already_done(done, today)));
        }
        if !self.in_run_window(&hours, today)? {
            return Ok(Preflight::NothingToDo(exit::OK));
        }
        self.live_gate()?;
        let state = self.read_state()?;
        if let Ok(free) = fs4::available_space(&self.paths.shared) {
            if free < MIN_FREE_BYTES {
                return Err(Stop::preflight(format!(
                    "only {} MB free on the state disk",
                    free / 1024 / 1024
                )));
            }
        }
        let token_note = self.check_login()?;
        let resume = previous.filter(|l| l.anything_sent());
        let resumed = resume.is_some();
        let mut journal = self.open_ledger(resume, today)?;
        if let Err(stop) = self.record_preflight(&mut journal, &hours, today, &token_note, t) {
            return Err(self.close_stopped(&mut journal, stop));
        }
        crate::support::fault::kill_point("preflight");
        let session = Session {
            today,
            hours,
            state,
            resumed,
            rebuilt_journal: rebuilt,
            legs: self
                .loaded
                .config
                .strategy
                .parameters
                .traded_symbols()
                .map(String::from),
            _lock: lock,
        };
        Ok(Preflight::Run(Box::new((session, journal))))
    }

    /// With `strategy.expect: titan`, a live run refuses parameters that differ from the
    /// published v3.5b set (exit 2, each named with both values); nothing is read or sent.
    fn refuse_parameter_creep(&self) -> Result<(), Stop> {
        let strategy = &self.loaded.config.strategy;
        if strategy.creep_problems(self.options.mode).is_empty() {
            return Ok(());
        }
        let listed: Vec<String> = strategy.creep().iter().map(ToString::to_string).collect();
        Err(Stop::usage(format!(
            "strategy.expect titan: the strategy parameters differ from the published v3.5b \
             (Titan) set, and a live run refuses that: {}",
            listed.join(", ")
        )))
    }

    /// The gate before live: the first live run of an account (no live ledger yet) refuses
    /// (exit 3, nothing read from the broker, nothing sent) unless the paper criteria pass or
    /// `readiness.waive_reason` is set; a waiver used by the first run is recorded in
    /// audit.csv, and every live run under it says so while the paper criteria fail.
    fn live_gate(&mut self) -> Result<(), Stop> {
        if self.options.mode != Mode::Live {
            return Ok(());
        }
        let first = crate::storage::records::last_session(&self.paths).is_none();
        let waiver = self.loaded.config.readiness.waive_reason.clone();
        if !first && waiver.is_none() {
            return Ok(());
        }
        let verdict = crate::storage::records::verdict(self.loaded, Mode::Paper)?;
        if verdict.passed {
            return Ok(());
        }
        let failing = crate::storage::records::failing(&verdict);
        let Some(reason) = waiver else {
            return Err(Stop::preflight(format!(
                "the first live run of this account needs the paper phase to pass (`jutsu \
                 readiness --mode paper`), and it does not: {failing}. Trade paper until it \
                 passes, or set readiness.waive_reason to go live without it"
            )));
        };
        if first && !self.options.plan_only {
            self.paths.audit(
                self.clock.now_utc(),
                "readiness waiver",
                &self.paths.state_file(),
                &format!("first live run without paper readiness: {reason}; failing: {failing}"),
            )?;
        }
        self.report.line(&format!(
            "live trading under a readiness waiver ({reason}): the paper criteria do not pass: \
             {failing}"
        ));
        Ok(())
    }

    /// `--as-of`: the run's clock is fixed at that New York moment (offline data only).
    fn set_clock(&mut self) -> Result<(), Stop> {
        let c = &self.loaded.config;
        let Some((date, time)) = self.options.as_of else {
            return Ok(());
        };
        if self.options.mode == Mode::Live {
            return Err(Stop::usage(
                "--as-of is refused in live mode: live orders happen now",
            ));
        }
        if c.data.source != DataSource::Local {
            return Err(Stop::usage(
                "--as-of needs offline data (data.source: local)",
            ));
        }
        super::dates::refuse_future(date, &self.clock)?;
        super::dates::refuse_past_bars(self.loaded, date, &self.clock)?;
        self.clock = Arc::new(as_of_clock(self.loaded, date, time).map_err(Stop::usage)?);
        // The run's log file is named by the day it runs as, not by the machine's.
        crate::support::logging::name_day(date);
        Ok(())
    }

    /// The session's hours, or `None` (reported) on a weekend or holiday.
    fn session_hours(&mut self, today: NaiveDate) -> Result<Option<calendar::SessionHours>, Stop> {
        match calendar::day_kind(today) {
            DayKind::Weekend => {
                self.nothing_to_do(&format!("{today} is a weekend day: not a session"));
                Ok(None)
            }
            DayKind::Holiday(name) => {
                self.nothing_to_do(&format!(
                    "{today} is a market holiday ({name}): not a session"
                ));
                Ok(None)
            }
            _ => calendar::session_hours(today)
                .map(Some)
                .ok_or_else(|| Stop::preflight("no session hours")),
        }
    }

    /// The session's run is done: say why there is nothing to do.
    fn already_done(&mut self, done: &Ledger, today: NaiveDate) -> u8 {
        if self.paths.exit_ledger(today).exists() {
            return self.nothing_to_do(&format!(
                "the {} session {today} ended with the emergency exit (see {}); the next \
                 session's run rebalances to the strategy's targets",
                done.mode.as_str(),
                self.paths.exit_ledger(today).display()
            ));
        }
        self.nothing_to_do(&format!(
            "the {} run of {today} is already done ({}); nothing to do",
            done.mode.as_str(),
            done.message.clone().unwrap_or_default()
        ))
    }

    /// True when the run may go on now: too early is a no-op (reported), too late is a
    /// stop, and a run started early waits for the run time.
    fn in_run_window(
        &mut self,
        hours: &calendar::SessionHours,
        today: NaiveDate,
    ) -> Result<bool, Stop> {
        let schedule = &self.loaded.config.schedule;
        let now = self.clock.now_et();
        let run_at = hours.run_at(schedule.minutes_before_close);
        let opens = run_at - chrono::Duration::minutes(schedule.early_tolerance_minutes.into());
        let closes = run_at + chrono::Duration::minutes(schedule.late_tolerance_minutes.into());
        if now < opens {
            self.nothing_to_do(&format!(
                "too early: the run window of {today} opens at {} ET (run at {})",
                opens.format("%H:%M"),
                run_at.format("%H:%M")
            ));
            return Ok(false);
        }
        if now > closes {
            // On the bundled bars a day can be run at its own time (an early close's 12:55).
            let offline = self.loaded.config.data.source == crate::config::DataSource::Local;
            let hint = match offline {
                true => format!(" (`--as-of {today}` runs it at its run time)"),
                false => String::new(),
            };
            return Err(Stop::preflight(format!(
                "missed the run window of {today}: the run was due at {} ET and it is {}{hint}",
                run_at.format("%H:%M"),
                now.format("%H:%M")
            )));
        }
        if now < run_at {
            self.report
                .line(&format!("waiting until {} ET", run_at.format("%H:%M")));
            let wait = (run_at - now).to_std().unwrap_or_default();
            self.clock.pause(wait);
            // A stopped clock (`--as-of`, a test's fixed clock) does not move while it
            // waits: the run goes on at the run time, so the synthetic bar, the quotes and
            // the ledger all say the one time it announced.
            if self.clock.now_et() < run_at {
                self.clock = Arc::new(FixedClock(run_at.with_timezone(&chrono::Utc)));
            }
        }
        Ok(true)
    }

    /// The state, restored or rebuilt if damaged, with a version-1 file labelled.
    fn read_state(&mut self) -> Result<Option<State>, Stop> {
        let state_path = self.paths.state_file();
        let (mut state, _) = self.read_or_rebuild(
            &state_path,
            State::load(&state_path),
            "rebuilt from the broker's positions (this run rebalances as a first run)",
        )?;
        let legs = self
            .loaded
            .config
            .strategy
            .parameters
            .traded_symbols()
            .map(String::from);
        if let Some(s) = state.as_mut() {
            s.migrate(&legs);
        }
        Ok(state)
    }

    /// The Schwab login, when this mode uses Schwab: dead is a stop, under 48 h a warning.
    fn check_login(&mut self) -> Result<String, Stop> {
        let c = &self.loaded.config;
        if !c.uses_schwab(self.options.mode) {
            return Ok(String::new());
        }
        let token = crate::brokers::schwab::auth::TokenFile::load(
            &self.loaded.resolve(&c.schwab.token_file),
        )?;
        let hours_left = token.refresh_seconds_left(self.clock.now_utc().timestamp()) / 3600;
        self.token_hours = Some(hours_left);
        if hours_left <= 0 {
            return Err(Stop::preflight(
                "the Schwab refresh token has expired: run `jutsu auth login`",
            ));
        }
        // The run after this one must find a live login: warn now, not when it fails.
        let now = self.clock.now_et();
        let ends = now + chrono::Duration::seconds(token.refresh_seconds_left(now.timestamp()));
        let next = calendar::next_session(now.date_naive());
        let next_run =
            calendar::session_hours(next).map(|h| h.run_at(c.schedule.minutes_before_close));
        let before_next = next_run.filter(|run| calendar::login_ends_before(ends, *run));
        if hours_left < 48 || before_next.is_some() {
            self.critical = true;
            self.report.warn(&format!(
                "the Schwab login expires in {hours_left} h ({}){}: run `jutsu auth login`",
                ends.format("%a %Y-%m-%d %H:%M ET"),
                before_next.map_or(String::new(), |run| format!(
                    ", before the next run ({})",
                    run.format("%a %Y-%m-%d %H:%M ET")
                ))
            ));
        }
        Ok(format!(", token {hours_left} h left"))
    }

    /// The run's ledger: the earlier run of the session when it sent orders (resumed), else
    /// a new one.
    fn open_ledger(&mut self, resume: Option<Ledger>, today: NaiveDate) -> Result<Journal, Stop> {
        let path = self.paths.ledger(today);
        if self.options.plan_only {
            // A plan writes nothing: not the session's ledger, not a backup of an earlier one.
            let ledger = resume
                .unwrap_or_else(|| Ledger::new(today, self.options.mode, self.clock.now_utc()));
            return Ok(Journal::unsaved(ledger));
        }
        let ledger = match resume {
            Some(mut earlier) => {
                Ledger::backup(&path)?;
                self.report.warn(&format!(
                    "an earlier run of {today} sent orders and stopped ({:?}): resuming it",
                    earlier.status
                ));
                earlier.status = RunStatus::Running;
                earlier.message = Some("resumed".into());
                earlier
            }
            None => Ledger::new(today, self.options.mode, self.clock.now_utc()),
        };
        let journal = Journal::open(ledger, path.clone())?;
        self.ledger_path = Some(path);
        Ok(journal)
    }

    fn record_preflight(
        &mut self,
        journal: &mut Journal,
        hours: &calendar::SessionHours,
        today: NaiveDate,
        token_note: &str,
        t: Instant,
    ) -> Result<(), Stop> {
        let kind = if calendar::day_kind(today) == DayKind::EarlyClose {
            "early close"
        } else {
            "regular"
        };
        let run_at = hours.run_at(self.loaded.config.schedule.minutes_before_close);
        self.record(
            journal,
            Mark::Ok,
            format!(
                "{mode} session {today} ({kind}, close {}, run at {} ET){token_note}",
                hours.close.format("%H:%M"),
                run_at.format("%H:%M"),
                mode = self.options.mode.as_str()
            ),
            t,
        )
    }
}
