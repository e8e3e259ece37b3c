//! `jutsu state accept|restore [FILE]`: what to do with a file jutsu refused because it was
//! edited by hand (its content is valid, its checksum is not). Either action is recorded in
//! `<state_dir>/audit.csv`, and neither runs while another jutsu run holds the lock.

use std::path::{Path, PathBuf};

use crate::brokers::sim::SimAccount;
use crate::cli::{StateAction, StateFileArgs};
use crate::config::Loaded;
use crate::domain::journal::Ledger;
use crate::error::{exit, Error, Result};
use crate::sources::SharedClock;
use crate::storage::fsutil;
use crate::storage::lock::RunLock;
use crate::storage::state::{State, StatePaths};

/// Backups looked at by `restore` (the most any sealed file keeps).
const BACKUPS: usize = 5;

/// The kinds of sealed file, told apart by name.
enum Kind {
    State,
    SimAccount,
    Ledger,
}

impl Kind {
    fn of(path: &Path) -> Result<Kind> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let in_runs = path
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|d| d == "runs");
        match name {
            "state.json" => Ok(Kind::State),
            "account.json" => Ok(Kind::SimAccount),
            _ if in_runs && name.ends_with(".json") => Ok(Kind::Ledger),
            _ => Err(Error::Usage(format!(
                "{} is not a file jutsu seals: name a state.json, a simulated account.json or \
                 a ledger in runs/",
                path.display()
            ))),
        }
    }
}

pub(super) fn run(action: &StateAction, loaded: &Loaded, clock: SharedClock) -> Result<u8> {
    let (args, accept) = match action {
        StateAction::Accept(a) => (a, true),
        StateAction::Restore(a) => (a, false),
    };
    let path = target(loaded, args);
    if !path.exists() {
        return Err(Error::Usage(format!("{} does not exist", path.display())));
    }
    let paths = StatePaths::new(loaded, loaded.config.mode);
    let _lock = RunLock::acquire(&paths.lock_file(), "state")?;
    let kind = Kind::of(&path)?;
    let intact = match kind {
        Kind::State => fsutil::is_intact::<State>(&path),
        Kind::SimAccount => fsutil::is_intact::<SimAccount>(&path),
        Kind::Ledger => fsutil::is_intact::<Ledger>(&path),
    };
    if intact && !args.force {
        return Err(Error::Usage(format!(
            "{} is intact (its checksum matches): there is no edit to {}. Pass --force to {}",
            path.display(),
            if accept { "accept" } else { "undo" },
            if accept {
                "seal it again anyway"
            } else {
                "replace it with its newest backup anyway"
            }
        )));
    }
    let detail = if accept {
        match kind {
            Kind::State => fsutil::accept_sealed::<State>(&path).map(|_| ())?,
            Kind::SimAccount => fsutil::accept_sealed::<SimAccount>(&path).map(|_| ())?,
            Kind::Ledger => fsutil::accept_sealed::<Ledger>(&path).map(|_| ())?,
        }
        "the edit was checked and sealed".to_string()
    } else {
        let from = match kind {
            Kind::State => fsutil::restore_sealed::<State>(&path, BACKUPS)?,
            Kind::SimAccount => fsutil::restore_sealed::<SimAccount>(&path, BACKUPS)?,
            Kind::Ledger => fsutil::restore_sealed::<Ledger>(&path, BACKUPS)?,
        };
        format!(
            "restored from {}; the edited file is kept as {}.edited",
            from.display(),
            path.display()
        )
    };
    let verb = if accept { "accept" } else { "restore" };
    let audit = paths.shared.join("audit.csv");
    fsutil::append_csv(
        &audit,
        &["time", "action", "file", "detail"],
        [[
            clock.now_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            verb.to_string(),
            path.display().to_string(),
            detail.clone(),
        ]],
    )?;
    tracing::warn!(file = %path.display(), "state {verb}: {detail}");
    println!(
        "{}: {detail} (recorded in {})",
        path.display(),
        audit.display()
    );
    Ok(exit::OK)
}

/// The named file (relative to the working folder), or the mode's state.json.
fn target(loaded: &Loaded, args: &StateFileArgs) -> PathBuf {
    match &args.file {
        Some(file) => file.clone(),
        None => {
            let mode = args.mode.map_or(loaded.config.mode, Into::into);
            StatePaths::new(loaded, mode).state_file()
        }
    }
}
