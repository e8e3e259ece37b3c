//! What jutsu remembers between runs (`state.json`), and where each mode keeps its files.
//! The broker is the truth for positions and cash; the state keeps only what jutsu alone
//! knows: the targets of the last executed rebalance and the share counts it left.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::{Loaded, Mode};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::strategy::LEGS;

/// Backups kept of state.json.
const BACKUPS: usize = 5;

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

    /// The ledger of a session.
    pub fn ledger(&self, session: NaiveDate) -> PathBuf {
        self.root.join("runs").join(format!("{session}.json"))
    }

    /// The ledgers folder.
    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// The halt flag (shared by every mode).
    pub fn halt_flag(&self) -> PathBuf {
        self.shared.join("halt")
    }

    /// The run lock (shared by every mode: one run at a time).
    pub fn lock_file(&self) -> PathBuf {
        self.shared.join("jutsu.lock")
    }
}

/// The state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Format version.
    pub version: u32,
    /// The mode that wrote it.
    pub mode: Mode,
    /// Validated targets of the last executed rebalance (leg order).
    pub remembered: Option<[Decimal; LEGS]>,
    /// The broker's share counts after the last executed rebalance.
    pub positions: BTreeMap<String, i64>,
    /// The last session a run completed.
    pub last_session: Option<NaiveDate>,
    /// How that run ended.
    pub last_outcome: Option<String>,
    /// When the file was written.
    pub updated_at: DateTime<Utc>,
}

impl State {
    /// The state of a mode that never ran.
    pub fn empty(mode: Mode, now: DateTime<Utc>) -> Self {
        State {
            version: 1,
            mode,
            remembered: None,
            positions: BTreeMap::new(),
            last_session: None,
            last_outcome: None,
            updated_at: now,
        }
    }

    /// Reads the state; `None` when the file does not exist. An unreadable file is an error:
    /// jutsu never trades on state it could not read.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        serde_json::from_str(&text).map(Some).map_err(|e| {
            Error::Other(format!(
                "{} cannot be read ({e}); nothing was traded. Restore it from {}.1 (the newest \
                 backup) or move it aside to rebuild from the broker's positions",
                path.display(),
                path.display()
            ))
        })
    }

    /// Writes the state atomically after backing up the previous one.
    pub fn save(&self, path: &Path) -> Result<()> {
        fsutil::rotate_backups(path, BACKUPS)?;
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Other(format!("encoding the state: {e}")))?;
        fsutil::write_atomic(path, text.as_bytes(), false)
    }
}
