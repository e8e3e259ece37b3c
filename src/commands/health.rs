//! `jutsu health`: is everything in place for the next run? One function a check, each
//! returning its line; the report is their list.

use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use serde::Serialize;

use rust_decimal::Decimal;

use crate::brokers::sources;
use crate::brokers::sources::SharedClock;
use crate::config::{Loaded, Risk};
use crate::domain::calendar;
use crate::domain::journal::{Ledger, RunStatus};
use crate::storage::fsutil::{self, Inspected};
use crate::storage::lock;
use crate::storage::state::{State, StatePaths};
use crate::support::error::{exit, Error, Result};

/// One line of the report.
#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    status: &'static str,
    detail: String,
}

impl Check {
    fn new(name: &'static str, status: &'static str, detail: impl Into<String>) -> Self {
        Check {
            name,
            status,
            detail: detail.into(),
        }
    }
}

/// The whole report, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Health {
    ok: bool,
    mode: &'static str,
    checks: Vec<Check>,
    next_run: Option<String>,
    missed_sessions: Vec<NaiveDate>,
}

/// Runs every check and prints the report; exit 1 when one failed.
pub(super) fn health(loaded: &Loaded, json: bool, clock: SharedClock) -> Result<u8> {
    let c = &loaded.config;
    let paths = StatePaths::new(loaded, c.mode);
    let ledgers = Ledgers::read(&paths);
    // On local bars, the signal symbol's file is read once for both checks that need it.
    let local_bars = local_bars_end(loaded);
    let now = as_of(&ledgers, &local_bars, &clock);
    let missed = ledgers.missed(now, &c.schedule);
    let mut checks = vec![config_check(loaded), params_check(loaded)];
    if c.uses_schwab(c.mode) {
        checks.push(token_check(loaded, clock.now_utc().timestamp()));
    }
    checks.extend([state_check(&paths)]);
    checks.extend(account_check(loaded));
    checks.extend([
        ledgers.check(),
        ledgers.alerts_check(),
        ledgers.loss_halt_check(&c.risk, &paths),
        disk_check(loaded, &paths),
        lock_check(&paths),
        halt_check(&paths),
        sessions_check(&missed),
        ledgers.failed_check(),
        scheduler_check(loaded),
    ]);
    if let Some(bars) = &local_bars {
        checks.push(bars_check(loaded, now, bars));
    }
    if c.mode == crate::config::Mode::Live {
        checks.extend(waiver_check(loaded));
    }
    let report = Health {
        ok: checks.iter().all(|c| c.status != "fail"),
        mode: c.mode.as_str(),
        checks,
        next_run: calendar::next_run(now, c.schedule.minutes_before_close)
            .map(|t| t.format("%Y-%m-%d %H:%M ET").to_string()),
        missed_sessions: missed,
    };
    print(&report, json)?;
    Ok(if report.ok { exit::OK } else { exit::FAILURE })
}

/// Live trading under `readiness.waive_reason` while the paper criteria fail: a warning
/// naming the reason and what fails.
fn waiver_check(loaded: &Loaded) -> Option<Check> {
    match crate::storage::records::waiver_note(loaded) {
        Ok(Some(note)) => Some(Check::new("readiness", "warn", note)),
        Ok(None) => None,
        Err(e) => Some(Check::new(
            "readiness",
            "warn",
            format!("the paper records could not be read: {e}"),
        )),
    }
}

/// On local bars, the last date of the signal symbol's file (or why it cannot be read);
/// `None` on Schwab data.
fn local_bars_end(loaded: &Loaded) -> Option<std::result::Result<Option<NaiveDate>, String>> {
    let c = &loaded.config;
    (c.data.source == crate::config::DataSource::Local).then(|| {
        let symbol = &c.strategy.parameters.signal_symbol;
        crate::storage::bars::load_csv(&loaded.data_dir().join(format!("{symbol}.csv")))
            .map(|bars| bars.last().map(|b| b.date))
            .map_err(|e| e.to_string())
    })
}

/// The sessions `health` counts as missed in the mode of `paths` (for the metrics file).
pub(super) fn missed_sessions(
    loaded: &Loaded,
    paths: &StatePaths,
    clock: &SharedClock,
) -> Vec<NaiveDate> {
    let ledgers = Ledgers::read(paths);
    let now = as_of(&ledgers, &local_bars_end(loaded), clock);
    ledgers.missed(now, &loaded.config.schedule)
}

fn config_check(loaded: &Loaded) -> Check {
    let env = |name: &str| std::env::var(name).ok();
    match loaded.config.secrets(&env) {
        Ok(_) => Check::new(
            "config",
            "ok",
            format!("{} is valid", loaded.path.display()),
        ),
        Err(problems) => Check::new("config", "fail", problems.join("; ")),
    }
}

/// The strategy parameters against the published v3.5b ("Titan") set: each difference with
/// both values (a warning), an error in live mode with `strategy.expect: titan`.
fn params_check(loaded: &Loaded) -> Check {
    let strategy = &loaded.config.strategy;
    let line = super::config::creep_line(strategy);
    let detail = line.trim_start_matches("strategy parameters: ").to_string();
    if strategy.creep().is_empty() {
        Check::new("params", "ok", detail)
    } else if strategy.creep_problems(loaded.config.mode).is_empty() {
        Check::new("params", "warn", detail)
    } else {
        Check::new(
            "params",
            "fail",
            format!("{detail}; strategy.expect titan refuses them in live mode"),
        )
    }
}

fn token_check(loaded: &Loaded, now: i64) -> Check {
    let path = loaded.resolve(&loaded.config.schwab.token_file);
    match crate::brokers::schwab::auth::TokenFile::load(&path) {
        Ok(token) => {
            let hours = token.refresh_seconds_left(now) / 3600;
            let status = match hours {
                ..24 => "fail",
                24..48 => "warn",
                _ => "ok",
            };
            Check::new(
                "token",
                status,
                format!("{hours} h left on the Schwab refresh token"),
            )
        }
        Err(e) => Check::new("token", "fail", e.to_string()),
    }
}

fn state_check(paths: &StatePaths) -> Check {
    let file = paths.state_file();
    let inspected = fsutil::inspect_sealed::<State>(&file, crate::storage::state::BACKUPS);
    sealed_check("state", &file, inspected, |s| {
        Check::new(
            "state",
            "ok",
            format!(
                "{} readable, last session {}{}",
                file.display(),
                s.last_session.map_or("none".into(), |d| d.to_string()),
                s.adopted.as_ref().map_or(String::new(), |a| format!(
                    "; the broker's positions were adopted {} ({})",
                    a.at.with_timezone(&chrono_tz::America::New_York)
                        .format("%Y-%m-%d %H:%M ET"),
                    a.reason
                ))
            ),
        )
    })
    .unwrap_or_else(|| Check::new("state", "warn", "no state yet: the next run is a first run"))
}

/// The simulated account of a mode that trades on it, as the next run will find it.
fn account_check(loaded: &Loaded) -> Option<Check> {
    if !sources::simulated(loaded, loaded.config.mode) {
        return None;
    }
    use crate::brokers::sim::{SimAccount, BACKUPS};
    let file = sources::sim_account_path(loaded);
    let inspected = fsutil::inspect_sealed::<SimAccount>(&file, BACKUPS);
    let check = sealed_check("account", &file, inspected, |a| {
        let problems = a.problems();
        match problems.is_empty() {
            true => Check::new(
                "account",
                "ok",
                format!(
                    "{} readable: cash {}, {} position(s)",
                    file.display(),
                    crate::domain::portfolio::cents(a.cash),
                    a.positions.values().filter(|q| !q.is_zero()).count()
                ),
            ),
            false => Check::new(
                "account",
                "fail",
                format!(
                    "{}: {}: the next trade stops (exit 3); `jutsu state restore {}` puts \
                     its backup back",
                    file.display(),
                    problems.join("; "),
                    file.display()
                ),
            ),
        }
    });
    Some(check.unwrap_or_else(|| {
        Check::new(
            "account",
            "ok",
            "no simulated account yet: the next run opens one (or recovers a lost one)",
        )
    }))
}

/// A sealed file as the next run will find it (`None` when there is none): a hand edit, or
/// damage with no good backup, fails, since the next trade stops at exit 3; damage with a
/// good backup warns (the next run restores it); an intact file is what `good` says.
fn sealed_check<T>(
    name: &'static str,
    file: &std::path::Path,
    inspected: Inspected<T>,
    good: impl FnOnce(T) -> Check,
) -> Option<Check> {
    let shown = file.display();
    Some(match inspected {
        Inspected::Missing => return None,
        Inspected::Good(value) => good(value),
        Inspected::Edited => Check::new(
            name,
            "fail",
            format!(
                "{shown} was edited by hand: the next trade stops (exit 3); seal the edit with \
                 `jutsu state accept {shown}` or undo it with `jutsu state restore {shown}`"
            ),
        ),
        Inspected::Damaged {
            problem,
            backup: Some(from),
        } => Check::new(
            name,
            "warn",
            format!(
                "{shown} is damaged ({problem}): the next run restores it from {}",
                from.display()
            ),
        ),
        Inspected::Damaged {
            problem,
            backup: None,
        } => Check::new(
            name,
            "fail",
            format!(
                "{shown} is damaged ({problem}) and has no good backup: the next trade stops \
                 (exit 3); move it aside and the next run rebuilds it from the paper ledgers"
            ),
        ),
    })
}

/// What the run ledgers say: the last completed session, the newest run, and every ledger
/// that needs a human (a run stopped with orders sent, an unfinished emergency exit, a
/// damaged file).
struct Ledgers {
    last_done: Option<NaiveDate>,
    /// Every session with a completed run, and the first session with any run.
    done: std::collections::BTreeSet<NaiveDate>,
    first: Option<NaiveDate>,
    /// Runs that failed: session, stage, message.
    failed: Vec<(NaiveDate, String, String)>,
    newest: Option<Ledger>,
    problems: Vec<String>,
}

impl Ledgers {
    fn read(paths: &StatePaths) -> Self {
        let mut out = Ledgers {
            last_done: None,
            done: Default::default(),
            first: None,
            failed: Vec::new(),
            newest: None,
            problems: Vec::new(),
        };
        for path in paths.ledger_files() {
            match Ledger::read_only(&path).map_err(|e| e.to_string()) {
                Ok(Some(l)) => out.add_run(l),
                Ok(None) => {}
                Err(e) => out.problems.push(e),
            }
        }
        for path in paths.exit_ledger_files() {
            match Ledger::read_only(&path).map_err(|e| e.to_string()) {
                Ok(Some(l)) if l.status != RunStatus::Done => out.problems.push(format!(
                    "the emergency exit of {} did not finish ({}): run `jutsu emergency-exit` \
                     again",
                    l.session,
                    l.message.unwrap_or_default()
                )),
                Ok(_) => {}
                Err(e) => out.problems.push(e),
            }
        }
        out
    }

    fn add_run(&mut self, l: Ledger) {
        self.first = Some(self.first.map_or(l.session, |f| f.min(l.session)));
        match l.status {
            RunStatus::Done => {
                self.done.insert(l.session);
            }
            RunStatus::Failed => {
                let stage = l.stopped_stage();
                self.failed
                    .push((l.session, stage, l.message.clone().unwrap_or_default()));
            }
            _ => {}
        }
        if l.status == RunStatus::Done {
            self.last_done = self.last_done.max(Some(l.session));
        }
        if l.status == RunStatus::Incomplete
            || (l.status == RunStatus::Running && l.anything_sent())
        {
            self.problems.push(format!(
                "{} stopped with orders sent ({:?})",
                l.session, l.status
            ));
        }
        if self.newest.as_ref().is_none_or(|n| n.session < l.session) {
            self.newest = Some(l);
        }
    }

    /// Every session from the first recorded run to `now` whose run time (and tolerance)
    /// has passed without a completed run: gaps in the middle as much as at the end.
    fn missed(&self, now: DateTime<Tz>, s: &crate::config::Schedule) -> Vec<NaiveDate> {
        let Some(first) = self.first else {
            return Vec::new();
        };
        let before = calendar::previous_session(first);
        calendar::missed_sessions(
            Some(before),
            now,
            s.minutes_before_close,
            s.late_tolerance_minutes,
        )
        .into_iter()
        .filter(|d| !self.done.contains(d))
        .collect()
    }

    /// Runs that failed, each with its stage and message (a failure is not only a gap).
    fn failed_check(&self) -> Check {
        let later_done = |d: &NaiveDate| self.done.contains(d);
        let open: Vec<String> = self
            .failed
            .iter()
            .filter(|(d, ..)| !later_done(d))
            .map(|(d, stage, message)| format!("{d} failed at {stage}: {message}"))
            .collect();
        if open.is_empty() {
            Check::new("failures", "ok", "no failed run left unfinished")
        } else {
            Check::new("failures", "warn", open.join("; "))
        }
    }

    fn check(&self) -> Check {
        if self.problems.is_empty() {
            Check::new(
                "ledgers",
                "ok",
                format!(
                    "last completed session {}",
                    self.last_done.map_or("none".into(), |d| d.to_string())
                ),
            )
        } else {
            Check::new("ledgers", "fail", self.problems.join("; "))
        }
    }

    fn alerts_check(&self) -> Check {
        match self
            .newest
            .as_ref()
            .filter(|l| !l.alert_failures.is_empty())
        {
            Some(l) => Check::new(
                "alerts",
                "fail",
                format!(
                    "the alerts of the {} run were not delivered: {}",
                    l.session,
                    l.alert_failures
                        .iter()
                        .map(|f| format!("{}: {}", f.channel, f.error))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            ),
            None => Check::new(
                "alerts",
                "ok",
                "the last run's alerts were delivered (or none are configured)",
            ),
        }
    }
}

impl Ledgers {
    /// How close the last recorded account value is to each loss halt.
    /// The loss halts as the newest run met them: its value against the record of the
    /// runs before it, carried forward by its deposits and withdrawals (the record the run
    /// itself and `status` use).
    fn loss_halt_check(&self, risk: &Risk, paths: &StatePaths) -> Check {
        if risk.max_drawdown_halt_pct.is_none() && risk.daily_loss_halt_pct.is_none() {
            return Check::new("losses", "ok", "loss halts off (risk.*_halt_pct)");
        }
        let Some(newest) = &self.newest else {
            return Check::new("losses", "ok", "no recorded run yet");
        };
        // The newest session as the account lived it: after its emergency exit, if any.
        let day = newest.session;
        let lived =
            crate::storage::ledger::sessions(paths, Ledger::read_only, |l| l.session == day)
                .ok()
                .and_then(|mut s| s.pop());
        let session = lived.as_ref().unwrap_or(newest);
        let Some(current) = session.equity_after.or(session.equity_before) else {
            return Check::new("losses", "ok", "no account value recorded yet");
        };
        let flow = crate::domain::performance::external_flow(session);
        let record = match crate::storage::ledger::equity_record(paths, day) {
            Ok(record) => record.with_flow(flow, current),
            Err(e) => return Check::new("losses", "fail", e.to_string()),
        };
        let distances = risk.halt_distances(record.losses(current));
        let status = if distances.iter().any(|d| d.loss_pct > d.limit_pct) {
            "fail"
        } else if distances
            .iter()
            .any(|d| d.loss_pct * Decimal::from(5) >= d.limit_pct * Decimal::from(4))
        {
            "warn"
        } else {
            "ok"
        };
        let parts: Vec<String> = distances.iter().map(ToString::to_string).collect();
        Check::new("losses", status, parts.join(", "))
    }
}

fn disk_check(loaded: &Loaded, paths: &StatePaths) -> Check {
    let free =
        fs4::available_space(&paths.shared).or_else(|_| fs4::available_space(&loaded.base_dir));
    match free {
        Ok(free) if free < 50 * 1024 * 1024 => {
            Check::new("disk", "fail", format!("{} MB free", free / 1024 / 1024))
        }
        Ok(free) => Check::new("disk", "ok", format!("{} MB free", free / 1024 / 1024)),
        Err(e) => Check::new("disk", "warn", format!("free space unknown: {e}")),
    }
}

fn lock_check(paths: &StatePaths) -> Check {
    match lock::holder(&paths.lock_file()) {
        Some(holder) => Check::new("lock", "warn", format!("a run is in progress: {holder}")),
        None => Check::new("lock", "ok", "free"),
    }
}

fn halt_check(paths: &StatePaths) -> Check {
    if !paths.halt_flag().exists() {
        return Check::new("halt", "ok", "not halted");
    }
    let why = std::fs::read_to_string(paths.halt_flag()).unwrap_or_default();
    Check::new(
        "halt",
        "fail",
        format!(
            "trading is halted ({}): `jutsu resume` clears it",
            why.trim()
        ),
    )
}

/// Will something start the next run: a crontab line, a file in /etc/cron.d, the timer.
fn scheduler_check(loaded: &Loaded) -> Check {
    let verdict = super::scheduler::check(loaded);
    Check::new("scheduler", verdict.status, verdict.detail)
}

/// Dates for a line a person reads: all of them up to six, else the first three, the count
/// left out and the last two (`--json` lists every one).
fn summarised(dates: &[NaiveDate]) -> String {
    let named = |ds: &[NaiveDate]| {
        ds.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match dates.len() {
        0..=6 => named(dates),
        n => format!(
            "{} ... ({} more) ... {}",
            named(&dates[..3]),
            n - 5,
            named(&dates[n - 2..])
        ),
    }
}

fn sessions_check(missed: &[NaiveDate]) -> Check {
    if missed.is_empty() {
        return Check::new("sessions", "ok", "no missed session");
    }
    Check::new(
        "sessions",
        "fail",
        format!("{} missed session(s): {}", missed.len(), summarised(missed)),
    )
}

/// The instant health judges: now; but on local bars that end before today (or cannot be
/// read), the newest run's own instant (an `--as-of` replay lives in the bundled period,
/// and no run can be made, or missed, past the bars' end).
/// `local_bars`: `None` on Schwab data; on local bars, the last bar's date if readable.
fn as_of(
    ledgers: &Ledgers,
    local_bars: &Option<std::result::Result<Option<NaiveDate>, String>>,
    clock: &SharedClock,
) -> DateTime<Tz> {
    let now = clock.now_et();
    let Some(bars) = local_bars else {
        return now;
    };
    // Bars that cannot be read (the bars check names why) do not reach today either: the
    // account's clock is then its newest run's too, not the machine's date.
    let bars_end = bars.as_ref().ok().copied().flatten();
    if bars_end.is_some_and(|end| end >= now.date_naive()) {
        return now;
    }
    ledgers
        .newest
        .as_ref()
        .map(|l| l.started_at.with_timezone(&chrono_tz::America::New_York))
        .filter(|t| *t < now)
        .unwrap_or(now)
}

/// On local bars: do the bundled bars (`bars`: the last bar's date, or why the file could
/// not be read) reach the session before the next run?
fn bars_check(
    loaded: &Loaded,
    now: DateTime<Tz>,
    bars: &std::result::Result<Option<NaiveDate>, String>,
) -> Check {
    let c = &loaded.config;
    let Some(next) =
        calendar::next_run(now, c.schedule.minutes_before_close).map(|t| t.date_naive())
    else {
        return Check::new("bars", "warn", "no next session in the calendar");
    };
    let needed = calendar::previous_session(next);
    match bars {
        Ok(last) => match last {
            Some(last) if *last >= needed => Check::new(
                "bars",
                "ok",
                format!("local bars reach {last} (the run of {next} needs {needed})"),
            ),
            last => Check::new(
                "bars",
                "warn",
                format!(
                    "local bars end {}: the run of {next} needs {needed}; replay a bundled session with --as-of, or set data.source: schwab",
                    last.map_or("nowhere".into(), |d| d.to_string())
                ),
            ),
        },
        Err(e) => Check::new("bars", "fail", e.clone()),
    }
}

fn print(report: &Health, json: bool) -> Result<()> {
    if json {
        let text = serde_json::to_string_pretty(report).map_err(|e| Error::Other(e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    println!("jutsu health (mode {})", report.mode);
    for check in &report.checks {
        println!(
            "  [{:<4}] {:<9} {}",
            check.status,
            check.name,
            crate::support::report::hinted(&check.detail)
        );
    }
    if let Some(next) = &report.next_run {
        println!("  next run {next}");
    }
    println!("{}", if report.ok { "OK" } else { "ATTENTION NEEDED" });
    Ok(())
}
