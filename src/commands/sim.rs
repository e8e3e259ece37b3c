//! `jutsu sim deposit|withdraw AMOUNT [--as-of D]`: cash in or out of the simulated account
//! of paper mode, recorded in the account as a deposit or a withdrawal (the next run's
//! ledger lists it, and `report` takes it out of the returns) and in `audit.csv`.

use chrono::NaiveTime;

use crate::brokers::sources::{self, SharedClock};
use crate::commands::cli::{SimAction, TransferArgs};
use crate::config::{Loaded, Mode};
use crate::domain::portfolio::cents;
use crate::pipeline::dates;
use crate::storage::lock::RunLock;
use crate::storage::state::StatePaths;
use crate::support::error::{exit, Error, Result};

pub(super) fn run(action: &SimAction, loaded: &Loaded, clock: SharedClock) -> Result<u8> {
    let (args, sign, verb) = match action {
        SimAction::Deposit(a) => (a, rust_decimal::Decimal::ONE, "deposit"),
        SimAction::Withdraw(a) => (a, -rust_decimal::Decimal::ONE, "withdraw"),
    };
    if args.amount <= rust_decimal::Decimal::ZERO {
        return Err(Error::Usage(format!(
            "the amount to {verb} must be positive, not {}",
            args.amount
        )));
    }
    // The audit row says when it was done; the flow is dated by the account's clock.
    let done_at = clock.now_utc();
    let clock = dated(loaded, args, clock)?;
    let paths = StatePaths::new(loaded, Mode::Paper);
    let _lock = RunLock::acquire(&paths.lock_file(), "sim")?;
    let prices = sources::market_data(loaded, clock.clone(), clock.now_utc())?;
    let sim = sources::sim_broker(loaded, Mode::Paper, true, prices, clock.clone())?;
    let flow = sim.transfer(sign * args.amount).map_err(|e| match e {
        crate::brokers::BrokerError::Rejected(why) => Error::Usage(why),
        other => other.into(),
    })?;
    let cash = sim.snapshot().cash;
    let detail = format!(
        "{verb} {} on {}: cash {}",
        cents(args.amount),
        flow.date,
        cents(cash)
    );
    paths.audit(
        done_at,
        &format!("sim {verb}"),
        &sources::sim_account_path(loaded),
        &detail,
    )?;
    tracing::info!(target: crate::support::report::RUN, "simulated account: {detail}");
    println!("simulated account: {detail}");
    Ok(exit::OK)
}

/// The clock that dates the transfer: `--as-of` (noon in New York; never before the last
/// session the paper account completed, never after today), else the close of that last
/// session. The transfer is posted after the account's last fill either way, so the next
/// run lists it. Before the account's first run there is nothing to date it by: the
/// starting cash is `sim.initial_cash`.
fn dated(loaded: &Loaded, args: &TransferArgs, clock: SharedClock) -> Result<SharedClock> {
    let paths = StatePaths::new(loaded, Mode::Paper);
    if dates::last_session(&paths).is_none() {
        return Err(Error::Usage(
            "the paper account has not run yet: its starting cash is `sim.initial_cash` in \
             the configuration; deposits and withdrawals come after its first `jutsu trade`"
                .into(),
        ));
    }
    let noon = NaiveTime::from_hms_opt(12, 0, 0);
    let as_of = args.as_of.map(|a| dates::AsOfMoment {
        date: a.date,
        time: a.time.or(noon),
    });
    dates::account_clock(loaded, Mode::Paper, as_of, clock)
}
