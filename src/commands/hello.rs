//! `jutsu hello`: a smoke test of the configured sources: token state, one quote per
//! symbol, and the account summary.

use crate::brokers::schwab::auth::TokenFile;
use crate::brokers::sources::{self, SharedClock};
use crate::config::{DataSource, Loaded, Mode};
use crate::domain::portfolio::cents;
use crate::support::error::{exit, Result};

pub(super) fn run(loaded: &Loaded, clock: SharedClock) -> Result<u8> {
    let c = &loaded.config;
    let symbols = c.strategy.parameters.all_symbols();
    println!("jutsu hello (mode {})", c.mode.as_str());

    if c.uses_schwab(c.mode) {
        let path = loaded.resolve(&c.schwab.token_file);
        let token = TokenFile::load(&path)?;
        let now = clock.now_utc().timestamp();
        let hours = token.refresh_seconds_left(now) as f64 / 3600.0;
        println!(
            "  token         {:.1} h left on the refresh token ({})",
            hours,
            path.display()
        );
    } else {
        println!("  token         not needed: no Schwab calls in this configuration");
    }

    // On the bundled bars, the account's own clock (the close of its last session), as
    // status and the next run see it; on Schwab data, now.
    let clock = crate::pipeline::dates::account_clock(loaded, c.mode, None, clock)?;
    let as_of = sources::quote_instant(loaded, clock.as_ref())?;
    let data = sources::market_data(loaded, clock.clone(), as_of)?;
    match c.data.source {
        DataSource::Local => println!(
            "  market data   local bars in {}, quotes as of {} ET",
            loaded.data_dir().display(),
            as_of
                .with_timezone(&chrono_tz::America::New_York)
                .format("%Y-%m-%d %H:%M")
        ),
        DataSource::Schwab => println!("  market data   Schwab ({})", c.schwab.marketdata_base_url),
    }
    show_quotes(&data.quotes(&symbols)?);

    let trades_at_schwab =
        c.mode == Mode::Live || (c.mode == Mode::DryRun && c.data.source == DataSource::Schwab);
    if trades_at_schwab {
        linked_accounts(loaded, clock.clone())?;
    }
    // Read only: the simulated account is read, never written (its actions applied in
    // memory, as of the account's clock, not the machine's date).
    let account = sources::account_read_only(loaded, c.mode, &data, clock)?;
    match c.mode {
        Mode::Live => println!("  broker        Schwab ({})", c.schwab.trader_base_url),
        _ if c.data.source == DataSource::Local || c.mode == Mode::Paper => println!(
            "  broker        simulator ({})",
            sources::sim_account_path(loaded).display()
        ),
        _ => println!("  broker        Schwab, read only"),
    }
    println!(
        "  account       value {}  cash {}  buying power {}",
        cents(account.liquidation_value),
        cents(account.cash),
        cents(account.buying_power)
    );
    if account.positions.is_empty() {
        println!("    no positions");
    }
    for p in &account.positions {
        println!(
            "    {:<5} {:>8} shares  {}",
            p.symbol,
            p.quantity,
            p.market_value
                .map_or(String::new(), |v| format!("value {}", cents(v)))
        );
    }
    println!("OK");
    Ok(exit::OK)
}

/// Every account linked to the Schwab login, masked, with its type, and the one jutsu uses
/// marked. With several and no `schwab.account_number`, the list is shown and the command
/// stops (exit 2) before any request on an account.
fn linked_accounts(loaded: &Loaded, clock: SharedClock) -> Result<()> {
    let client = sources::schwab_client(loaded, clock)?;
    let list = client.account_numbers()?;
    let kinds = client.linked_accounts().unwrap_or_default();
    let chosen = client.chosen_account();
    println!("  accounts      {} linked to this login", list.len());
    for a in &list {
        let kind = kinds
            .iter()
            .find(|k| k.number == a.account_number)
            .and_then(|k| k.kind.clone())
            .unwrap_or_else(|| "type not given".into());
        let used = match &chosen {
            Ok(c) if c.account_number == a.account_number => "  <- used",
            _ => "",
        };
        println!(
            "    {:<9} {kind}{used}",
            crate::brokers::schwab::masked(&a.account_number)
        );
    }
    chosen?;
    Ok(())
}

/// One line a quote: last, bid, ask and the day's volume.
fn show_quotes(quotes: &[crate::brokers::Quote]) {
    // Prices to the cent, as everywhere.
    let show = |p: Option<rust_decimal::Decimal>| p.map_or("-".to_string(), cents);
    for q in quotes {
        println!(
            "    {:<5} last {:>10}  bid {:>10}  ask {:>10}  volume {}",
            q.symbol,
            cents(q.last),
            show(q.bid),
            show(q.ask),
            q.day_volume.map_or("-".into(), |v| v.round().to_string())
        );
    }
}
