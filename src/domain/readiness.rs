//! The phase criteria of `jutsu readiness`: is a dry run ready for paper, a paper account
//! ready for live? Each criterion has its value, its threshold and PASS/FAIL, computed from
//! the mode's own records (run ledgers, validation rows, the audit file), which the shell
//! reads into [`Records`]. Pure: nothing here reads a file.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::journal::RunStatus;
use crate::domain::portfolio::rounded;
use crate::domain::Mode;

/// The dry run's thresholds (`readiness.dry_run`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DryRunCriteria {
    /// Sessions of the phase (the last N sessions up to the account's last).
    pub sessions: usize,
    /// Mean logic match of the validated sessions, at least.
    pub min_logic_match_pct: Decimal,
    /// Mean price drift (15:55 quote against the close, mean |drift| of a session), below.
    pub max_mean_drift_pct: Decimal,
    /// Worst drift of any symbol on any session, below.
    pub max_worst_drift_pct: Decimal,
    /// Sessions validated GREEN, at least.
    pub min_green_sessions: usize,
}

impl Default for DryRunCriteria {
    fn default() -> Self {
        DryRunCriteria {
            sessions: 10,
            min_logic_match_pct: Decimal::new(95, 0),
            max_mean_drift_pct: Decimal::new(3, 1),
            max_worst_drift_pct: Decimal::new(88, 2),
            min_green_sessions: 8,
        }
    }
}

/// The paper phase's thresholds (`readiness.paper`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PaperCriteria {
    /// Sessions of the phase.
    pub sessions: usize,
    /// Filled shares over ordered shares, at least.
    pub min_fill_rate_pct: Decimal,
    /// Mean adverse slippage of the fills, below.
    pub max_mean_slippage_pct: Decimal,
    /// Worst adverse slippage of a fill, below.
    pub max_worst_slippage_pct: Decimal,
    /// Mean logic match of the validated sessions, at least.
    pub min_logic_match_pct: Decimal,
    /// Position drift (state against broker, % of equity) of every session, below.
    pub max_position_drift_pct: Decimal,
    /// |paper return - backtest return| over the phase, in points, below.
    pub max_return_gap_pct: Decimal,
    /// Sessions without manual intervention (adopt, accept, restore, a hand-edited file).
    pub hands_off_sessions: usize,
}

impl Default for PaperCriteria {
    fn default() -> Self {
        PaperCriteria {
            sessions: 20,
            min_fill_rate_pct: Decimal::new(99, 0),
            max_mean_slippage_pct: Decimal::new(3, 1),
            max_worst_slippage_pct: Decimal::new(5, 1),
            min_logic_match_pct: Decimal::new(98, 0),
            max_position_drift_pct: Decimal::new(2, 0),
            max_return_gap_pct: Decimal::new(5, 0),
            hands_off_sessions: 10,
        }
    }
}

/// The `readiness:` section: the thresholds of both phases, and the waiver of the live gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Readiness {
    /// The dry run's criteria.
    pub dry_run: DryRunCriteria,
    /// The paper phase's criteria.
    pub paper: PaperCriteria,
    /// Set, the first live run goes ahead without passing paper readiness; the reason is
    /// recorded in audit.csv and shown by `health` and every live alert until paper passes.
    pub waive_reason: Option<String>,
}

impl Readiness {
    /// Every problem of this section, each with its key path under `prefix`.
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        let d = &self.dry_run;
        let p = &self.paper;
        if d.sessions == 0 || d.min_green_sessions > d.sessions {
            out.push(format!(
                "{prefix}.dry_run.sessions ({}) must be at least 1 and at least \
                 min_green_sessions ({})",
                d.sessions, d.min_green_sessions
            ));
        }
        if p.sessions == 0 || p.hands_off_sessions > p.sessions {
            out.push(format!(
                "{prefix}.paper.sessions ({}) must be at least 1 and at least \
                 hands_off_sessions ({})",
                p.sessions, p.hands_off_sessions
            ));
        }
        if self
            .waive_reason
            .as_deref()
            .is_some_and(|r| r.trim().is_empty())
        {
            out.push(format!(
                "{prefix}.waive_reason must say why (or be left out)"
            ));
        }
        out
    }
}

/// A session's validation row, as far as readiness reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    /// GREEN, YELLOW, RED or NO_RUN.
    pub verdict: String,
    /// Logic match.
    pub logic_match_pct: Option<Decimal>,
    /// Mean |drift| over the symbols.
    pub mean_drift_pct: Option<Decimal>,
    /// Largest |drift|.
    pub max_drift_pct: Option<Decimal>,
}

/// One session of the phase as the records tell it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// The session.
    pub date: NaiveDate,
    /// How its run ended; `None` when it has no ledger.
    pub status: Option<RunStatus>,
    /// Its ledger reads and its checksum matches (true when there is none).
    pub intact: bool,
    /// Shares ordered (the first order of each plan line; retries are not counted twice).
    pub ordered: Decimal,
    /// Shares filled.
    pub filled: Decimal,
    /// The adverse slippage of each fill, percent.
    pub slippages: Vec<Decimal>,
    /// Position drift found at reconcile, % of equity (0 when the broker matched).
    pub position_drift_pct: Option<Decimal>,
    /// The validation row of the session.
    pub validation: Option<Validated>,
    /// Hand-made changes on the session's day or after it before the next (audit rows).
    pub manual: Vec<String>,
}

/// Everything the criteria of a phase read.
#[derive(Debug, Clone, PartialEq)]
pub struct Records {
    /// The mode.
    pub mode: Mode,
    /// The phase's sessions, oldest first, ending at the account's last session.
    pub sessions: Vec<SessionRecord>,
    /// The state file reads and its checksum matches (true when there is none).
    pub state_intact: bool,
    /// The account's return over the phase minus the backtest's, in points, when the
    /// backtest could be run.
    pub return_gap_pct: Option<Decimal>,
}

/// One criterion with its value, threshold and verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Criterion {
    /// What is measured.
    pub name: String,
    /// What the records say.
    pub value: String,
    /// What it must be.
    pub threshold: String,
    /// PASS.
    pub pass: bool,
}

/// The criteria of a phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// dry_run or paper.
    pub mode: String,
    /// The first session of the phase.
    pub from: Option<NaiveDate>,
    /// The last.
    pub to: Option<NaiveDate>,
    /// Each criterion.
    pub criteria: Vec<Criterion>,
    /// Every criterion passed.
    pub passed: bool,
}

fn pct(x: Decimal) -> String {
    format!("{:.3}%", rounded(x, 3))
}

fn mean(values: &[Decimal]) -> Option<Decimal> {
    (!values.is_empty()).then(|| values.iter().sum::<Decimal>() / Decimal::from(values.len()))
}

fn criterion(name: &str, value: String, threshold: String, pass: bool) -> Criterion {
    Criterion {
        name: name.to_string(),
        value,
        threshold,
        pass,
    }
}

/// True when the session's run completed without a critical failure.
fn completed(s: &SessionRecord) -> bool {
    s.status == Some(RunStatus::Done)
}

/// The consecutive sessions with a completed run, counted back from the last, and the
/// first session that broke the run of them.
fn consecutive(sessions: &[SessionRecord]) -> (usize, Option<NaiveDate>) {
    let n = sessions.iter().rev().take_while(|s| completed(s)).count();
    let broke = sessions.iter().rev().nth(n).map(|s| s.date);
    (n, broke)
}

fn consecutive_criterion(sessions: &[SessionRecord], wanted: usize, name: &str) -> Criterion {
    let (n, broke) = consecutive(sessions);
    // Before the mode's first run, a session is not a break: the runs began after it.
    let first_run = sessions.iter().find(|s| s.status.is_some()).map(|s| s.date);
    let value = match broke {
        Some(d) if n < wanted && first_run.is_none_or(|first| d < first) => match first_run {
            Some(first) => format!("{n} (the first run was {first})"),
            None => format!("{n} (no run yet)"),
        },
        Some(d) if n < wanted => match sessions.iter().find(|s| s.date == d) {
            Some(s) if s.status.is_none() => format!("{n} (no run: {d})"),
            _ => format!("{n} (not completed: {d})"),
        },
        _ => n.to_string(),
    };
    criterion(name, value, format!(">= {wanted}"), n >= wanted)
}

fn logic_criterion(sessions: &[SessionRecord], min: Decimal) -> Criterion {
    let matches: Vec<Decimal> = sessions
        .iter()
        .filter_map(|s| s.validation.as_ref()?.logic_match_pct)
        .collect();
    let m = mean(&matches);
    criterion(
        "mean logic match",
        m.map_or("no validated session".into(), |m| {
            format!("{} over {} sessions", pct(m), matches.len())
        }),
        format!(">= {}%", min.normalize()),
        m.is_some_and(|m| m >= min),
    )
}

/// The dry run's criteria over its records.
pub fn dry_run(records: &Records, c: &DryRunCriteria) -> Vec<Criterion> {
    let s = &records.sessions;
    let drifts: Vec<Decimal> = s
        .iter()
        .filter_map(|s| s.validation.as_ref()?.mean_drift_pct)
        .collect();
    let worst = s
        .iter()
        .filter_map(|s| s.validation.as_ref()?.max_drift_pct)
        .max();
    let broken: Vec<String> = s
        .iter()
        .filter(|s| !s.intact)
        .map(|s| s.date.to_string())
        .chain((!records.state_intact).then(|| "state.json".to_string()))
        .collect();
    let green = s
        .iter()
        .filter(|s| s.validation.as_ref().is_some_and(|v| v.verdict == "GREEN"))
        .count();
    let mean_drift = mean(&drifts);
    vec![
        consecutive_criterion(s, c.sessions, "consecutive completed runs"),
        logic_criterion(s, c.min_logic_match_pct),
        criterion(
            "mean price drift (15:55 vs close)",
            mean_drift.map_or("no validated session".into(), pct),
            format!("< {}%", c.max_mean_drift_pct.normalize()),
            mean_drift.is_some_and(|m| m < c.max_mean_drift_pct),
        ),
        criterion(
            "worst price drift",
            worst.map_or("no validated session".into(), pct),
            format!("< {}%", c.max_worst_drift_pct.normalize()),
            worst.is_some_and(|w| w < c.max_worst_drift_pct),
        ),
        criterion(
            "state and ledger files intact",
            if broken.is_empty() {
                "all intact".into()
            } else {
                format!("checksum fails: {}", broken.join(", "))
            },
            "all intact".into(),
            broken.is_empty(),
        ),
        criterion(
            "sessions validated GREEN",
            format!("{green} of {}", s.len()),
            format!(">= {} of {}", c.min_green_sessions, c.sessions),
            green >= c.min_green_sessions,
        ),
    ]
}

/// The paper phase's criteria over its records.
pub fn paper(records: &Records, c: &PaperCriteria) -> Vec<Criterion> {
    let s = &records.sessions;
    let ordered: Decimal = s.iter().map(|s| s.ordered).sum();
    let filled: Decimal = s.iter().map(|s| s.filled).sum();
    let rate = if ordered.is_zero() {
        Decimal::ONE_HUNDRED
    } else {
        filled / ordered * Decimal::ONE_HUNDRED
    };
    let slips: Vec<Decimal> = s.iter().flat_map(|s| s.slippages.clone()).collect();
    let mean_slip = mean(&slips).unwrap_or_default();
    let worst_slip = slips.iter().copied().max().unwrap_or_default();
    vec![
        consecutive_criterion(
            s,
            c.sessions,
            "consecutive sessions without a critical failure",
        ),
        criterion(
            "fill rate (filled / ordered shares)",
            format!("{} ({filled} of {ordered})", pct(rate)),
            format!(">= {}%", c.min_fill_rate_pct.normalize()),
            rate >= c.min_fill_rate_pct,
        ),
        criterion(
            "mean adverse slippage",
            format!("{} over {} fills", pct(mean_slip), slips.len()),
            format!("< {}%", c.max_mean_slippage_pct.normalize()),
            mean_slip < c.max_mean_slippage_pct,
        ),
        criterion(
            "worst adverse slippage",
            pct(worst_slip),
            format!("< {}%", c.max_worst_slippage_pct.normalize()),
            worst_slip < c.max_worst_slippage_pct,
        ),
        logic_criterion(s, c.min_logic_match_pct),
        position_drift_criterion(s, c.max_position_drift_pct),
        return_gap_criterion(records.return_gap_pct, c.max_return_gap_pct),
        hands_off_criterion(s, c.hands_off_sessions),
    ]
}

fn position_drift_criterion(s: &[SessionRecord], max: Decimal) -> Criterion {
    let worst = s
        .iter()
        .filter_map(|s| Some((s.position_drift_pct?, s.date)))
        .max_by_key(|(d, _)| *d);
    criterion(
        "position drift (state vs broker), every session",
        worst.map_or("none recorded".into(), |(d, date)| {
            format!("worst {} ({date})", pct(d))
        }),
        format!("< {}%", max.normalize()),
        worst.is_none_or(|(d, _)| d < max),
    )
}

fn return_gap_criterion(gap: Option<Decimal>, max: Decimal) -> Criterion {
    criterion(
        "paper return against the backtest",
        gap.map_or("no backtest to compare".into(), |g| {
            format!("{:+.2} points", rounded(g, 2))
        }),
        format!("within {} points", max.normalize()),
        gap.is_some_and(|g| g.abs() <= max),
    )
}

fn hands_off_criterion(s: &[SessionRecord], window: usize) -> Criterion {
    let recent = &s[s.len().saturating_sub(window)..];
    let mut found: Vec<String> = Vec::new();
    for r in recent {
        found.extend(r.manual.iter().map(|m| format!("{} {m}", r.date)));
        if !r.intact {
            found.push(format!("{} ledger edited by hand", r.date));
        }
    }
    criterion(
        "manual interventions",
        if found.is_empty() {
            "none".into()
        } else {
            found.join("; ")
        },
        format!("none in the last {window} sessions"),
        found.is_empty(),
    )
}

/// The phase's verdict: its criteria, and whether all passed.
pub fn evaluate(records: &Records, thresholds: &Readiness) -> Verdict {
    let criteria = match records.mode {
        Mode::DryRun => dry_run(records, &thresholds.dry_run),
        _ => paper(records, &thresholds.paper),
    };
    Verdict {
        mode: records.mode.as_str().to_string(),
        from: records.sessions.first().map(|s| s.date),
        to: records.sessions.last().map(|s| s.date),
        passed: criteria.iter().all(|c| c.pass),
        criteria,
    }
}

/// The verdict as text: one line a criterion, then the outcome.
pub fn text(v: &Verdict) -> String {
    use std::fmt::Write as _;
    let mut s = match (v.from, v.to) {
        (Some(from), Some(to)) => format!("{} readiness over {from} .. {to}\n", v.mode),
        _ => format!("{} readiness: no sessions\n", v.mode),
    };
    for c in &v.criteria {
        let _ = writeln!(
            s,
            "{}  {:<48} {:<40} (needs {})",
            if c.pass { "PASS" } else { "FAIL" },
            c.name,
            c.value,
            c.threshold
        );
    }
    let failed = v.criteria.iter().filter(|c| !c.pass).count();
    let _ = writeln!(
        s,
        "{}",
        if v.passed {
            format!("{}: every criterion passes", v.mode)
        } else {
            format!("{}: {failed} of {} criteria fail", v.mode, v.criteria.len())
        }
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn session(day: u32) -> SessionRecord {
        SessionRecord {
            date: NaiveDate::from_ymd_opt(2025, 11, day).unwrap(),
            status: Some(RunStatus::Done),
            intact: true,
            ordered: d("10"),
            filled: d("10"),
            slippages: vec![d("0.1")],
            position_drift_pct: Some(Decimal::ZERO),
            validation: Some(Validated {
                verdict: "GREEN".into(),
                logic_match_pct: Some(d("100")),
                mean_drift_pct: Some(d("0.1")),
                max_drift_pct: Some(d("0.2")),
            }),
            manual: Vec::new(),
        }
    }

    fn records(mode: Mode, n: u32) -> Records {
        Records {
            mode,
            sessions: (1..=n).map(session).collect(),
            state_intact: true,
            return_gap_pct: Some(d("0.5")),
        }
    }

    #[test]
    fn a_fill_rate_counts_shares_and_a_break_names_its_session() {
        let mut r = records(Mode::Paper, 20);
        r.sessions[19].filled = d("9");
        r.sessions[15].status = Some(RunStatus::Incomplete);
        let v = evaluate(&r, &Readiness::default());
        assert!(!v.passed);
        assert_eq!(v.criteria[0].value, "4 (not completed: 2025-11-16)");
        // 199 of 200 shares: 99.5 %, a pass.
        assert!(v.criteria[1].pass, "{:?}", v.criteria[1]);
        assert_eq!(v.criteria[1].value, "99.500% (199 of 200)");
        // A session with no run breaks the count too, and says so; sessions before the
        // first run do not count against it.
        r.sessions[15].status = None;
        let v = evaluate(&r, &Readiness::default());
        assert_eq!(v.criteria[0].value, "4 (no run: 2025-11-16)");
        let mut young = records(Mode::Paper, 20);
        for s in &mut young.sessions[..12] {
            s.status = None;
        }
        let v = evaluate(&young, &Readiness::default());
        assert_eq!(v.criteria[0].value, "8 (the first run was 2025-11-13)");
    }
}
