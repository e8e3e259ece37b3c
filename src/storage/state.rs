//! What jutsu remembers between runs (`state.json`), and where each mode keeps its files.
//! The broker is the truth for positions and cash; the state keeps only what jutsu alone
//! knows: the targets of the last executed rebalance and the share counts it left.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::{Loaded, Mode};
use crate::domain::strategy::LEGS;
use crate::storage::fsutil::{self, Sealed};
use crate::support::error::Result;

/// The format written.
const VERSION: u32 = 2;

/// Backups kept of state.json.
pub const BACKUPS: usize = 5;

/// Where a mode keeps its state: live in `state/`, paper and dry runs in subfolders, so that
/// they never touch live state.
#[derive(Debug, Clone)]
pub struct StatePaths {
    /// The mode's folder.
    pub root: PathBuf,
    /// The shared state folder (lock, halt flag, token, simulated account).
    pub shared: PathBuf,
}

impl StatePaths {
    /// The folders of `mode` under the configured state folder.
    pub fn new(loaded: &Loaded, mode: Mode) -> Self {
        let shared = loaded.state_dir();
        let root = match mode {
            Mode::Live => shared.clone(),
            Mode::Paper => shared.join("paper"),
            Mode::DryRun => shared.join("dry_run"),
        };
        StatePaths { root, shared }
    }

    /// state.json.
    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// The strategy engine saved at the end of the last session a trade run consumed
    /// (`domain::resume`): read by the next run (and by `status`), written only by `trade`.
    pub fn engine_cache(&self) -> PathBuf {
        self.root.join("engine_cache.json")
    }

    /// The ledger of a session.
    pub fn ledger(&self, session: NaiveDate) -> PathBuf {
        self.root.join("runs").join(format!("{session}.json"))
    }

    /// The ledger of a session's emergency exit, beside the session's own.
    pub fn exit_ledger(&self, session: NaiveDate) -> PathBuf {
        self.root.join("runs").join(format!("{session}.exit.json"))
    }

    /// The ledgers folder.
    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// Every session's trade ledger (`<date>.json`: not backups, not exit ledgers), by
    /// session.
    pub fn ledger_files(&self) -> Vec<PathBuf> {
        self.runs_named(|name| {
            name.strip_suffix(".json")
                .is_some_and(|stem| stem.parse::<NaiveDate>().is_ok())
        })
    }

    /// Every emergency-exit ledger (`<date>.exit.json`), by session.
    pub fn exit_ledger_files(&self) -> Vec<PathBuf> {
        self.runs_named(|name| name.ends_with(".exit.json"))
    }

    /// The files of the ledgers folder whose name passes `keep`, sorted.
    fn runs_named(&self, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.runs_dir())
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&keep))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    /// The halt flag (shared by every mode).
    pub fn halt_flag(&self) -> PathBuf {
        self.shared.join("halt")
    }

    /// The run lock (shared by every mode: one run at a time).
    pub fn lock_file(&self) -> PathBuf {
        self.shared.join("jutsu.lock")
    }

    /// Appends one row to `audit.csv` (`time,action,file,detail`), the record of every
    /// hand-made change to the books (`state accept|restore|adopt`, `sim deposit|withdraw`);
    /// returns the file.
    pub fn audit(
        &self,
        at: DateTime<Utc>,
        action: &str,
        file: &Path,
        detail: &str,
    ) -> Result<PathBuf> {
        let audit = self.shared.join("audit.csv");
        fsutil::append_csv(
            &audit,
            &["time", "action", "file", "detail"],
            [[
                at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                action.to_string(),
                file.display().to_string(),
                detail.to_string(),
            ]],
        )?;
        Ok(audit)
    }
}

/// One row of `audit.csv`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AuditRow {
    /// When it was done (the machine's clock).
    pub time: DateTime<Utc>,
    /// `state accept`, `state restore`, `state adopt`, `sim deposit`, `sim withdraw`,
    /// `readiness waiver`, ...
    pub action: String,
    /// The file it changed.
    pub file: String,
    /// What it did.
    pub detail: String,
}

impl StatePaths {
    /// The rows of `audit.csv`, oldest first (none when there is no file); a row that does
    /// not read is left out with a warning naming it.
    pub fn audit_rows(&self) -> Vec<AuditRow> {
        let path = self.shared.join("audit.csv");
        let Ok(mut reader) = csv::Reader::from_path(&path) else {
            return Vec::new();
        };
        let mut rows = Vec::new();
        for (n, row) in reader.deserialize().enumerate() {
            match row {
                Ok(row) => rows.push(row),
                Err(e) => tracing::warn!("{} row {}: {e}; left out", path.display(), n + 2),
            }
        }
        rows
    }
}

/// The state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Format version (2: targets by symbol).
    pub version: u32,
    /// The mode that wrote it.
    pub mode: Mode,
    /// Validated target weights of the last executed rebalance, by symbol (cash is the rest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<BTreeMap<String, Decimal>>,
    /// Version 1 kept the same targets as an unlabelled array in leg order; kept only until
    /// [`State::migrate`] labels it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remembered: Option<[Decimal; LEGS]>,
    /// The broker's share counts after the last executed rebalance.
    pub positions: BTreeMap<String, i64>,
    /// Each position's as-traded price at the last completed run, and that session: a later
    /// change of share count is a split only if the prices moved by its ratio meanwhile.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub marks: BTreeMap<String, crate::domain::events::PriceMark>,
    /// The last time the broker's positions were adopted as the state (`jutsu state adopt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopted: Option<Adoption>,
    /// The broker's cash right after the last executed rebalance: cash that moved since
    /// (a deposit, a withdrawal, dividends) is invested once it passes
    /// `execution.rebalance_on_flow_pct` of equity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebalance_cash: Option<Decimal>,
    /// Set by `jutsu state adopt`: the next run rebalances to the targets from the adopted
    /// positions (the reason is said in its checklist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebalance_due: Option<String>,
    /// The instant up to which the last completed run read the broker's cash movements: the
    /// next run reads from there, so that nothing posted between two runs is missed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flows_through: Option<DateTime<Utc>>,
    /// The last session a run completed.
    pub last_session: Option<NaiveDate>,
    /// How that run ended.
    pub last_outcome: Option<String>,
    /// When the file was written.
    pub updated_at: DateTime<Utc>,
}

/// A `jutsu state adopt`: when, why, and what the state held before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adoption {
    /// When.
    pub at: DateTime<Utc>,
    /// Why, in the user's words.
    pub reason: String,
    /// The positions the state recorded before.
    pub before: BTreeMap<String, i64>,
}

impl State {
    /// The state of a mode that never ran.
    pub fn empty(mode: Mode, now: DateTime<Utc>) -> Self {
        State {
            version: VERSION,
            mode,
            targets: None,
            remembered: None,
            positions: BTreeMap::new(),
            marks: BTreeMap::new(),
            adopted: None,
            rebalance_cash: None,
            rebalance_due: None,
            flows_through: None,
            last_session: None,
            last_outcome: None,
            updated_at: now,
        }
    }

    /// What is wrong with the values of a file that reads as a state: a negative share
    /// count, a target weight outside 0..1, or targets over the whole account.
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .positions
            .iter()
            .filter(|(_, q)| **q < 0)
            .map(|(s, q)| format!("positions.{s} is {q}: a share count is never negative"))
            .collect();
        if let Some(targets) = &self.targets {
            for (s, w) in targets {
                if *w < Decimal::ZERO || *w > Decimal::ONE {
                    out.push(format!("targets.{s} is {w}: a weight is between 0 and 1"));
                }
            }
            let sum: Decimal = targets.values().copied().sum();
            if sum > Decimal::ONE + Decimal::new(1, 6) {
                out.push(format!(
                    "the targets add up to {sum}, more than the whole account (1)"
                ));
            }
        }
        out
    }

    /// The remembered targets in the order of `legs` (a symbol not listed weighs 0), or
    /// `None` before the first executed rebalance.
    pub fn targets_of(&self, legs: &[String; LEGS]) -> Option<[Decimal; LEGS]> {
        match &self.targets {
            Some(map) => Some(
                legs.clone()
                    .map(|s| map.get(&s).copied().unwrap_or_default()),
            ),
            None => self.remembered,
        }
    }

    /// Labels a version-1 file's targets with the strategy's symbols.
    pub fn migrate(&mut self, legs: &[String; LEGS]) {
        if let (None, Some(old)) = (&self.targets, self.remembered) {
            self.set_targets(legs, old);
        }
    }

    /// Records the targets of an executed rebalance, labelled by symbol.
    pub fn set_targets(&mut self, legs: &[String; LEGS], weights: [Decimal; LEGS]) {
        self.targets = Some(
            legs.iter()
                .zip(weights)
                .map(|(s, w)| (s.clone(), w.normalize()))
                .collect(),
        );
        self.remembered = None;
        self.version = VERSION;
    }

    /// Reads the state. A damaged file is restored from its newest good backup (the result
    /// says so); with no good backup it is an error: jutsu never trades on state it could
    /// not read.
    pub fn load(path: &Path) -> Result<Sealed<Self>> {
        fsutil::read_sealed(path, BACKUPS)
    }

    /// Writes the state atomically, with a checksum (not at all when nothing changed).
    pub fn save(&self, path: &Path) -> Result<()> {
        fsutil::write_sealed(path, self)
    }

    /// Backs up the state at the start of a run, before anything changes it.
    pub fn backup(path: &Path) -> Result<()> {
        fsutil::backup_sealed::<Self>(path, BACKUPS)
    }
}
