//! `jutsu state accept|restore [FILE]`: what to do with a file jutsu refused because it was
//! edited by hand (its content is valid, its checksum is not). Either action is recorded in
//! `<state_dir>/audit.csv`, and neither runs while another jutsu run holds the lock.

use std::path::{Path, PathBuf};

use crate::brokers::sim::SimAccount;
use crate::brokers::sources::SharedClock;
use crate::commands::cli::{StateAction, StateFileArgs};
use crate::config::Loaded;
use crate::domain::journal::Ledger;
use crate::storage::fsutil;
use crate::storage::lock::RunLock;
use crate::storage::state::{State, StatePaths};
use crate::support::error::{exit, Error, Result};

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
        StateAction::Adopt(a) => return adopt(loaded, a, clock),
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
            Kind::State => fsutil::accept_sealed(&path, State::problems).map(|_| ())?,
            Kind::SimAccount => fsutil::accept_sealed(&path, SimAccount::problems).map(|_| ())?,
            Kind::Ledger => fsutil::accept_sealed(&path, |_: &Ledger| Vec::new()).map(|_| ())?,
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
    let audit = paths.audit(clock.now_utc(), verb, &path, &detail)?;
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

/// `jutsu state adopt --reason R`: the broker's positions of the strategy's symbols become
/// the state's, each with its price mark, after trades made by hand. The targets of the last
/// rebalance stay, and the next run rebalances from the adopted positions toward them.
fn adopt(
    loaded: &Loaded,
    args: &crate::commands::cli::AdoptArgs,
    clock: SharedClock,
) -> Result<u8> {
    let reason = args.reason.trim();
    if reason.is_empty() {
        return Err(Error::Usage(
            "say why with --reason (it is recorded and shown by `jutsu health`)".into(),
        ));
    }
    let mode = args.mode.map_or(loaded.config.mode, Into::into);
    let paths = StatePaths::new(loaded, mode);
    let _lock = RunLock::acquire(&paths.lock_file(), "state adopt")?;
    // The audit row says when it was done (the machine's clock, as every audit row); the
    // account is read at its own clock (on the bundled bars, the close of its last session).
    let done_at = clock.now_utc();
    let clock = crate::pipeline::dates::account_clock(loaded, mode, None, clock)?;
    let at = crate::brokers::sources::quote_instant(loaded, clock.as_ref())?;
    let data = crate::brokers::sources::market_data(loaded, clock.clone(), at)?;
    // The broker is only read: the simulated account is never advanced or saved by an
    // adoption (its actions are applied in memory, as of that clock).
    let account = crate::brokers::sources::account_read_only(loaded, mode, &data, clock.clone())?;
    let legs = loaded
        .config
        .strategy
        .parameters
        .traded_symbols()
        .map(String::from);
    let positions = crate::domain::reconcile::whole_positions(&account, &legs)
        .map_err(crate::domain::journal::JournalError::from)?;
    let marks = price_marks(data.as_ref(), &positions, at)?;
    let file = paths.state_file();
    let mut state = State::load(&file)?
        .into_value()
        .unwrap_or_else(|| State::empty(mode, clock.now_utc()));
    let before = std::mem::replace(&mut state.positions, positions.clone());
    state.marks = marks;
    state.adopted = Some(crate::storage::state::Adoption {
        at: clock.now_utc(),
        reason: reason.to_string(),
        before: before.clone(),
    });
    // The next run rebalances from the adopted positions toward the targets.
    state.rebalance_due = Some(reason.to_string());
    state.updated_at = clock.now_utc();
    State::backup(&file)?;
    state.save(&file)?;
    let detail = format!(
        "adopted the broker's positions: {} (the state had {}): {reason}",
        crate::domain::reconcile::describe_positions(&positions),
        crate::domain::reconcile::describe_positions(&before)
    );
    paths.audit(done_at, "adopt", &file, &detail)?;
    tracing::warn!(target: crate::support::report::RUN, file = %file.display(), "{detail}");
    println!("{}: {detail}", file.display());
    Ok(exit::OK)
}

/// Each held position's price now, dated by the session it belongs to (the last session on
/// a weekend or holiday), for the next run's split check.
fn price_marks(
    data: &dyn crate::brokers::MarketData,
    positions: &std::collections::BTreeMap<String, i64>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<std::collections::BTreeMap<String, crate::domain::events::PriceMark>> {
    let held: Vec<String> = positions.keys().cloned().collect();
    if held.is_empty() {
        return Ok(Default::default());
    }
    let today = at.with_timezone(&chrono_tz::America::New_York).date_naive();
    let date = match crate::domain::calendar::is_session(today) {
        true => today,
        false => crate::domain::calendar::previous_session(today),
    };
    Ok(data
        .quotes(&held)?
        .into_iter()
        .map(|q| {
            let mark = crate::domain::events::PriceMark {
                price: q.last,
                date,
            };
            (q.symbol, mark)
        })
        .collect())
}
