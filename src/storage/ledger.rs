//! The order journal on disk: one sealed JSON file a session (`runs/<session>.json`), written
//! before every send and after every answer, so a run killed at any point can be settled by
//! the next one. The journal's types and rules are in [`crate::domain::journal`].

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::domain::journal::{Ledger, RunStatus};
use crate::domain::plan::EquityRecord;
use crate::storage::fsutil::{self, Sealed};
use crate::storage::state::StatePaths;
use crate::support::error::Result;

/// Backups kept of an open session's journal.
pub const BACKUPS: usize = 2;

impl Ledger {
    /// Reads a ledger, restoring a damaged one from its backup (see [`fsutil::read_sealed`]).
    pub fn load_checked(path: &Path) -> Result<Sealed<Self>> {
        fsutil::read_sealed(path, BACKUPS)
    }

    /// Reads a ledger; `None` when absent. A damaged one is restored from its backup when
    /// possible (a warning is logged), else it is an error.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        Ok(Self::load_checked(path)?.into_value())
    }

    /// Writes the ledger atomically with a checksum. A closed session's ledger (done) keeps
    /// no backups: no run will change it again. Only [`Journal`] writes a ledger.
    fn save(&self, path: &Path) -> Result<()> {
        self.save_with(path, true).map(|_| ())
    }

    /// Saves, durably (`sync`) or atomically only ([`fsutil::write_sealed_unsynced`]).
    /// Whether the file was written (false: it held exactly this already).
    fn save_with(&self, path: &Path, sync: bool) -> Result<bool> {
        let written = fsutil::write_sealed_with(path, self, sync)?;
        if self.status == RunStatus::Done {
            fsutil::remove_backups(path, BACKUPS)?;
        }
        Ok(written)
    }

    /// Reads a ledger without changing anything, as the next run will find it: a damaged
    /// one as its newest good backup (left where it is); `None` when absent. A hand edit,
    /// or damage past every backup, is an error naming the file.
    pub fn read_only(path: &Path) -> Result<Option<Self>> {
        fsutil::read_sealed_only(path, BACKUPS)
    }

    /// Backs up the ledger before a run takes it up again (a resumed session).
    pub fn backup(path: &Path) -> Result<()> {
        fsutil::backup_sealed::<Self>(path, BACKUPS)
    }
}

/// A run's ledger bound to its file. Every change goes through [`Journal::update`], which
/// saves the file before it returns: what the ledger says is always what is on disk.
#[derive(Debug)]
pub struct Journal {
    ledger: Ledger,
    /// Where it is saved; `None` for a run that writes nothing (`trade --plan-only`).
    path: Option<PathBuf>,
    /// Whether the file holds a record not yet fsynced ([`Journal::record`]).
    unsynced: bool,
}

impl Journal {
    /// Binds `ledger` to `path` and writes it there.
    pub fn open(ledger: Ledger, path: PathBuf) -> Result<Self> {
        ledger.save(&path)?;
        Ok(Journal {
            ledger,
            path: Some(path),
            unsynced: false,
        })
    }

    /// A journal kept in memory only: a run that only plans (`trade --plan-only`) records
    /// its stages the same way and leaves no file behind.
    pub fn unsaved(ledger: Ledger) -> Self {
        Journal {
            ledger,
            path: None,
            unsynced: false,
        }
    }

    /// The ledger at `path` taken up again as it is on disk (nothing is written); `None`
    /// when there is none.
    pub fn resume(path: PathBuf) -> Result<Option<Self>> {
        Ok(Ledger::load(&path)?.map(|ledger| Journal {
            ledger,
            path: Some(path),
            unsynced: false,
        }))
    }

    /// The ledger as it is on disk.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The file, unless the journal is kept in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Changes the ledger and saves it durably (fsynced); returns what `change` returns.
    pub fn update<T>(&mut self, change: impl FnOnce(&mut Ledger) -> T) -> Result<T> {
        self.change(change, true)
    }

    /// Changes the ledger and saves it atomically but without the fsyncs: for the stage
    /// records before the first send (the quotes, the decision, the equity before, the
    /// flows, the splits, the plan). A killed process leaves them on disk all the same;
    /// a power loss can take the file back to an earlier complete version, until the next
    /// [`Journal::update`], which the send makes before anything is placed (journal before
    /// send), and the run's end makes, syncs every earlier record with it.
    pub fn record<T>(&mut self, change: impl FnOnce(&mut Ledger) -> T) -> Result<T> {
        self.change(change, false)
    }

    fn change<T>(&mut self, change: impl FnOnce(&mut Ledger) -> T, sync: bool) -> Result<T> {
        let out = change(&mut self.ledger);
        if let Some(path) = &self.path {
            let written = self.ledger.save_with(path, sync)?;
            if !sync {
                self.unsynced |= written;
            } else if self.unsynced {
                // Left alone as it was: the earlier unsynced record is made durable now.
                if !written {
                    fsutil::sync_existing(path)?;
                }
                self.unsynced = false;
            }
        }
        Ok(out)
    }
}

/// The sessions as the account lived them, by session: each run ledger of `paths` that
/// `read` gives and `keep` accepts, with the session's emergency exit (one `keep` accepts)
/// folded in: its sales join the session's orders, its flows the session's flows, and its
/// value after the exit is the session's closing value. An exit on a day with no run is a
/// session of its own, valued from the previous one. `report`, `review`, `readiness`,
/// `status`, `health` and the loss halts all read the account through this.
pub fn sessions(
    paths: &StatePaths,
    read: impl Fn(&Path) -> Result<Option<Ledger>>,
    keep: impl Fn(&Ledger) -> bool,
) -> Result<Vec<Ledger>> {
    let mut ledgers = Vec::new();
    for path in paths.ledger_files() {
        ledgers.extend(read(&path)?.filter(&keep));
    }
    let mut exits = Vec::new();
    for path in paths.exit_ledger_files() {
        exits.extend(read(&path)?.filter(&keep));
    }
    ledgers.sort_by_key(|l| l.session);
    for exit in exits {
        match ledgers.iter_mut().find(|l| l.session == exit.session) {
            Some(run) => {
                run.orders.extend(exit.orders);
                run.flows.extend(exit.flows);
                run.equity_after = exit.equity_after.or(run.equity_after);
            }
            None => {
                let mut exit = exit;
                let previous = ledgers
                    .iter()
                    .rev()
                    .find(|l| l.session < exit.session)
                    .and_then(|l| l.equity_after);
                exit.equity_before = exit.equity_before.or(previous).or(exit.equity_after);
                ledgers.push(exit);
                ledgers.sort_by_key(|l| l.session);
            }
        }
    }
    Ok(ledgers)
}

/// The splits the runs of `paths` recognised, each with its session, for the trade log's
/// cost book. A ledger that cannot be read adds none (its run reported it).
pub fn recorded_splits(paths: &StatePaths) -> Vec<crate::storage::trades::BookSplit> {
    paths
        .ledger_files()
        .iter()
        .filter_map(|path| Ledger::read_only(path).ok().flatten())
        .flat_map(|ledger| {
            let session = ledger.session;
            ledger
                .splits
                .into_iter()
                .map(move |split| crate::storage::trades::BookSplit {
                    session,
                    symbol: split.symbol,
                    ratio: split.ratio,
                })
        })
        .collect()
}

/// The loss halts' record: the account value after each session recorded in `paths` before
/// `before` ([`sessions`]: an emergency exit's value is its session's), read only (nothing
/// is restored). As in `report`, the first run's value before it trades is the first peak
/// (a first day's loss is a drawdown too), and the flows its ledger lists are already in
/// that value.
pub fn equity_record(paths: &StatePaths, before: NaiveDate) -> Result<EquityRecord> {
    let ledgers = sessions(paths, Ledger::read_only, |l| {
        l.session < before && l.equity_after.is_some()
    })?;
    let mut runs = Vec::new();
    for (i, ledger) in ledgers.iter().enumerate() {
        let flow = match i {
            0 => {
                runs.extend(ledger.equity_before.map(|v| (v, Decimal::ZERO)));
                Decimal::ZERO
            }
            _ => crate::domain::performance::external_flow(ledger),
        };
        runs.extend(ledger.equity_after.map(|v| (v, flow)));
    }
    Ok(EquityRecord::of_runs(runs))
}
