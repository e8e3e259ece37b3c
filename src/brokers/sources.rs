//! Builds the broker and the market-data source the configuration asks for: the simulator
//! and local bars for the embedded default, Schwab for live trading.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::brokers::local_data::LocalMarketData;
use crate::brokers::schwab::auth::OAuthSettings;
use crate::brokers::schwab::{RetryPolicy, SchwabClient, SchwabSettings};
use crate::brokers::sim::SimBroker;
use crate::brokers::stored::StoredMarketData;
use crate::brokers::{Broker, MarketData};
use crate::config::{DataSource, Loaded, Mode};
use crate::storage::fsutil;
use crate::storage::state::StatePaths;
use crate::support::clock::Clock;
use crate::support::error::{Error, Result};

/// A shareable clock.
pub type SharedClock = Arc<dyn Clock + Send + Sync>;

/// Live trading needs live quotes: with the effective `mode` live (the file's or
/// `--mode`'s) and `data.source: local`, every command stops here, before any request
/// (exit 2). Orders at the bundled closes would be placed at prices of another day.
pub fn refuse_live_on_local_bars(loaded: &Loaded, mode: Mode) -> Result<()> {
    match loaded.config.live_on_local_problem(mode) {
        None => Ok(()),
        Some(problem) => Err(Error::Config {
            path: loaded.path.clone(),
            problems: vec![problem],
        }),
    }
}

/// The clients made in this process, by app, token file, endpoints and clock.
type ClientKey = (String, std::path::PathBuf, String, String, usize);

/// One Schwab client per app in a process: the market-data and the trader side of a run
/// share its token cache (one refresh, one token file write) and its 120-a-minute request
/// limit, which Schwab counts per app, not per connection.
static CLIENTS: std::sync::Mutex<Vec<(ClientKey, Arc<SchwabClient>)>> =
    std::sync::Mutex::new(Vec::new());

/// The Schwab client of this configuration (app key and secret from the environment),
/// shared by every caller of this process with the same app, token file and clock.
pub fn schwab_client(loaded: &Loaded, clock: SharedClock) -> Result<Arc<SchwabClient>> {
    let c = &loaded.config;
    let env = |name: &str| std::env::var(name).ok();
    let app_key = c
        .schwab_secrets(&env)
        .map(|(key, _)| key.expose().to_string())
        .unwrap_or_default();
    let key: ClientKey = (
        app_key,
        loaded.resolve(&c.schwab.token_file),
        c.schwab.trader_base_url.clone(),
        c.schwab.marketdata_base_url.clone(),
        Arc::as_ptr(&clock) as *const () as usize,
    );
    let mut clients = CLIENTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, client)) = clients.iter().find(|(k, _)| *k == key) {
        return Ok(Arc::clone(client));
    }
    let client = Arc::new(new_schwab_client(loaded, clock)?);
    clients.push((key, Arc::clone(&client)));
    Ok(client)
}

/// A new Schwab client of this configuration.
fn new_schwab_client(loaded: &Loaded, clock: SharedClock) -> Result<SchwabClient> {
    let c = &loaded.config;
    let env = |name: &str| std::env::var(name).ok();
    let (app_key, app_secret) = c.schwab_secrets(&env).map_err(|problems| Error::Config {
        path: loaded.path.clone(),
        problems,
    })?;
    let settings = SchwabSettings {
        oauth: OAuthSettings {
            base_url: c.schwab.oauth_base_url.clone(),
            callback_url: c.schwab.callback_url.clone(),
            app_key,
            app_secret,
        },
        trader_base_url: c.schwab.trader_base_url.clone(),
        marketdata_base_url: c.schwab.marketdata_base_url.clone(),
        token_file: loaded.resolve(&c.schwab.token_file),
        account_number: c.schwab.account_number.clone(),
        retry: RetryPolicy::default(),
        requests_per_minute: 120,
        timeout: Duration::from_secs(c.schwab.request_timeout_s),
    };
    Ok(SchwabClient::new(settings, clock)?)
}

/// Local bars seen at `as_of`: quoted as traded when `sim.prices` says so and the
/// corporate actions file is there.
pub fn local_data(loaded: &Loaded, as_of: DateTime<Utc>) -> Result<LocalMarketData> {
    let data = LocalMarketData::new(loaded.data_dir(), as_of, loaded.config.data.local_quote);
    Ok(match actions(loaded)? {
        Some(actions) => data.as_traded(actions),
        None => data,
    })
}

/// The corporate actions the simulator applies: none with `sim.prices: adjusted`, else
/// `sim.actions_file` (default `<data.dir>/actions.csv`). A file that is named but missing
/// is an error; the default one missing means no actions (a data folder of one's own).
pub fn actions(loaded: &Loaded) -> Result<Option<Arc<crate::domain::events::Actions>>> {
    let sim = &loaded.config.sim;
    if sim.prices == crate::config::SimPrices::Adjusted
        || loaded.config.data.source != DataSource::Local
    {
        return Ok(None);
    }
    let path = match &sim.actions_file {
        Some(path) => loaded.resolve(path),
        None => {
            let path = loaded.data_dir().join("actions.csv");
            if !path.exists() {
                return Ok(None);
            }
            path
        }
    };
    Ok(Some(Arc::new(crate::storage::bars::load_actions(&path)?)))
}

/// The market data of this configuration; local bars are seen at `as_of`.
pub fn market_data(
    loaded: &Loaded,
    clock: SharedClock,
    as_of: DateTime<Utc>,
) -> Result<Arc<dyn MarketData + Send + Sync>> {
    Ok(match loaded.config.data.source {
        DataSource::Local => Arc::new(local_data(loaded, as_of)?),
        DataSource::Schwab => {
            let client: Arc<dyn MarketData + Send + Sync> = schwab_client(loaded, clock.clone())?;
            match bar_store(loaded)? {
                Some(store) => Arc::new(StoredMarketData::new(
                    client,
                    store,
                    clock,
                    loaded.config.data.history_start,
                    loaded.config.strategy.parameters.all_symbols(),
                )),
                None => client,
            }
        }
    })
}

/// The bar store of `data.store`, opened, when one is configured.
pub fn bar_store(loaded: &Loaded) -> Result<Option<crate::storage::store::BarStore>> {
    loaded
        .config
        .data
        .store
        .as_ref()
        .map(|path| crate::storage::store::BarStore::open(&loaded.resolve(path)))
        .transpose()
}

/// The simulated broker's account file.
pub fn sim_account_path(loaded: &Loaded) -> std::path::PathBuf {
    loaded.state_dir().join("sim").join("account.json")
}

/// The broker of `mode`: the simulator for paper (and for dry runs on local data), Schwab
/// for live (and for dry runs on Schwab data, read only by the pipeline).
pub fn broker(
    loaded: &Loaded,
    mode: Mode,
    prices: Arc<dyn MarketData + Send + Sync>,
    clock: SharedClock,
) -> Result<Box<dyn Broker>> {
    broker_writing(loaded, mode, true, prices, clock)
}

/// [`broker`], where `writes` false keeps the simulated account in memory whatever the
/// mode (`trade --plan-only`: nothing is written).
pub fn broker_writing(
    loaded: &Loaded,
    mode: Mode,
    writes: bool,
    prices: Arc<dyn MarketData + Send + Sync>,
    clock: SharedClock,
) -> Result<Box<dyn Broker>> {
    refuse_live_on_local_bars(loaded, mode)?;
    if mode == Mode::DryRun && !simulated(loaded, mode) {
        return Ok(Box::new(crate::brokers::ReadOnly(schwab_client(
            loaded, clock,
        )?)));
    }
    if !simulated(loaded, mode) {
        return Ok(Box::new(schwab_client(loaded, clock)?));
    }
    Ok(Box::new(sim_broker(loaded, mode, writes, prices, clock)?))
}

/// The simulated broker, its corporate actions applied up to today. Only paper mode with
/// `writes` saves the account; a dry run (or a run that only plans) keeps what happens in
/// memory.
pub fn sim_broker(
    loaded: &Loaded,
    mode: Mode,
    writes: bool,
    prices: Arc<dyn MarketData + Send + Sync>,
    clock: SharedClock,
) -> Result<SimBroker> {
    let c = &loaded.config;
    let path = sim_account_path(loaded);
    let actions = prices.corporate_actions();
    let fresh = match path.exists() {
        true => crate::brokers::sim::SimAccount::new(c.sim.initial_cash),
        false => missing_sim_account(loaded)?,
    };
    let sim = match writes && mode == Mode::Paper {
        true => SimBroker::open(path, fresh, c.sim.costs(), prices, clock)?,
        false => SimBroker::open_in_memory(path, fresh, c.sim.costs(), prices, clock)?,
    };
    if let Some(actions) = actions {
        sim.catch_up(&actions)?;
    }
    Ok(sim)
}

/// The simulated account when its file is missing, read without writing anything: its
/// newest good backup, else the account the paper ledgers and `audit.csv` describe
/// ([`crate::brokers::sim_recovery`]), else (it never ran) a new one with `sim.initial_cash`.
/// A recovery is said on the terminal and in the log.
fn missing_sim_account(loaded: &Loaded) -> Result<crate::brokers::sim::SimAccount> {
    use crate::brokers::sim::{SimAccount, BACKUPS};
    use crate::brokers::sim_recovery::{self, AuditedTransfer};
    let path = sim_account_path(loaded);
    if let Some((account, from)) = fsutil::newest_backup::<SimAccount>(&path, BACKUPS) {
        let line = format!(
            "the simulated account {} was missing: taken from its backup {}",
            path.display(),
            from.display()
        );
        tracing::warn!("{line}");
        return Ok(account);
    }
    let paper = StatePaths::new(loaded, Mode::Paper);
    let mut ledgers = Vec::new();
    for file in paper
        .ledger_files()
        .iter()
        .chain(&paper.exit_ledger_files())
    {
        ledgers.extend(crate::domain::journal::Ledger::load(file)?);
    }
    let transfers: Vec<AuditedTransfer> = paper
        .audit_rows()
        .iter()
        .filter_map(|r| AuditedTransfer::of_row(&r.action, &r.detail))
        .collect();
    // Ledgers with no fill, flow or split (a first run opening its own, runs that failed
    // early) and no transfer describe a new account.
    let recorded = |l: &crate::domain::journal::Ledger| {
        l.orders.iter().any(|o| !o.filled.is_zero()) || !l.flows.is_empty() || !l.splits.is_empty()
    };
    if !ledgers.iter().any(recorded) && transfers.is_empty() {
        return Ok(SimAccount::new(loaded.config.sim.initial_cash));
    }
    let c = &loaded.config;
    let rebuilt = sim_recovery::rebuild(c.sim.initial_cash, &c.sim.costs(), &ledgers, &transfers);
    let line = sim_recovery::describe(&rebuilt, &path);
    tracing::warn!("{line}");
    Ok(rebuilt.account)
}

/// The deposits less withdrawals the simulated account of `mode` holds after `after` (the
/// instant the newest run read its cash movements up to), which no run has listed yet;
/// zero when the mode does not trade on the simulator or its account cannot be read.
/// Read only.
pub fn unlisted_sim_transfers(
    loaded: &Loaded,
    mode: Mode,
    after: DateTime<Utc>,
) -> rust_decimal::Decimal {
    let path = sim_account_path(loaded);
    if !simulated(loaded, mode) || !path.exists() {
        return rust_decimal::Decimal::ZERO;
    }
    let Ok(account) = crate::brokers::sim::SimAccount::read_only(&path) else {
        return rust_decimal::Decimal::ZERO;
    };
    account
        .flows
        .iter()
        .filter(|f| f.kind.is_external())
        .filter(|f| match f.time {
            Some(t) => t > after,
            None => {
                f.date
                    > after
                        .with_timezone(&chrono_tz::America::New_York)
                        .date_naive()
            }
        })
        .map(|f| f.amount)
        .sum()
}

/// Whether `mode` trades on the simulator: paper always, a dry run on local data.
pub fn simulated(loaded: &Loaded, mode: Mode) -> bool {
    match mode {
        Mode::Paper => true,
        Mode::Live => false,
        Mode::DryRun => loaded.config.data.source == DataSource::Local,
    }
}

/// The account, read without changing anything: the simulated account's file is only
/// read (a missing one is a new account with the configured cash), Schwab's is asked.
pub fn account_read_only(
    loaded: &Loaded,
    mode: Mode,
    prices: &Arc<dyn MarketData + Send + Sync>,
    clock: SharedClock,
) -> Result<crate::brokers::Account> {
    refuse_live_on_local_bars(loaded, mode)?;
    if !simulated(loaded, mode) {
        return Ok(schwab_client(loaded, clock)?.account()?);
    }
    let path = sim_account_path(loaded);
    let mut account = if path.exists() {
        crate::brokers::sim::SimAccount::read(&path)?
    } else {
        missing_sim_account(loaded)?
    };
    // The actions due since the last run, on a copy (nothing is written).
    if let Some(actions) = prices.corporate_actions() {
        account.catch_up(&actions, clock.today_et());
    }
    Ok(crate::brokers::sim::account_of(&account, prices.as_ref())?)
}

/// The instant quotes are taken at. Local bars have no "now" past their last day: the
/// current instant when today has a bar, else the close of the last bundled session.
pub fn quote_instant(loaded: &Loaded, clock: &dyn Clock) -> Result<DateTime<Utc>> {
    let now = clock.now_utc();
    if loaded.config.data.source == DataSource::Schwab {
        return Ok(now);
    }
    let signal = &loaded.config.strategy.parameters.signal_symbol;
    // The last date needs no corporate actions: the bars are read without them.
    let local = LocalMarketData::new(loaded.data_dir(), now, loaded.config.data.local_quote);
    let last = local.last_date(signal)?;
    let today = clock.today_et();
    let day = today.min(last);
    let day = if crate::domain::calendar::is_session(day) {
        day
    } else {
        crate::domain::calendar::previous_session(day)
    };
    Ok(if day == today {
        now
    } else {
        crate::domain::calendar::session_hours(day).map_or(now, |h| h.close.with_timezone(&Utc))
    })
}
