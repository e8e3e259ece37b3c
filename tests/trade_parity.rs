//! Live = backtest: `trade` in paper mode on the simulator for every session of 2024 and
//! 2025 in turn (quote = that day's close, the backtest's costs, min_trade_pct 0,
//! max_buying_power_pct 100, `sim.prices: adjusted`) makes the backtest's decision and holds
//! the backtest's share counts every day.

use crate::common;

use std::sync::Arc;

use chrono::NaiveDate;
use jutsu::config::Mode;
use jutsu::domain::backtest::{self, Settings};
use jutsu::domain::bars::History;
use jutsu::domain::journal::Ledger;
use jutsu::domain::portfolio::Costs;
use jutsu::domain::strategy::params::StrategyParams;
use jutsu::pipeline::{self, TradeOptions};
use rust_decimal::Decimal;

#[test]
fn paper_trading_every_session_of_2024_and_2025_equals_the_backtest() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("jutsu.yaml");
    std::fs::write(
        &config,
        format!(
            "mode: paper\npaths:\n  state_dir: state\n  logs_dir: logs\n\
             data:\n  dir: {}\n  history_start: 2009-02-26\n  trading_start: 2024-01-01\n\
             execution:\n  min_trade_pct: 0\n  max_buying_power_pct: 100\n\
             sim:\n  initial_cash: 10000\n  commission_per_share: 0.01\n  slippage_pct: 0.1\n\
             \x20 prices: adjusted\n",
            // The shipped data, corporate actions included: `adjusted` leaves them out.
            std::path::Path::new("data")
                .canonicalize()
                .unwrap()
                .display()
        ),
    )
    .unwrap();
    let loaded = jutsu::config::load(&config).unwrap();

    let params = StrategyParams::default();
    let history = History::load_dir(&common::data_dir(), &params.all_symbols()).unwrap();
    let d = |s: &str| s.parse::<NaiveDate>().unwrap();
    let settings = Settings {
        params: params.clone(),
        costs: Costs {
            commission_per_share: Decimal::new(1, 2),
            slippage: Decimal::new(1, 3),
        },
        initial_cash: Decimal::new(10_000, 0),
        history_start: d("2009-02-26"),
        trading_start: d("2024-01-01"),
        end: Some(d("2025-12-31")),
    };
    let reference = backtest::run(&history, &settings).unwrap();

    let paths = jutsu::storage::state::StatePaths::new(&loaded, Mode::Paper);
    let account_path = jutsu::brokers::sources::sim_account_path(&loaded);
    let legs = params.traded_symbols();
    let mut compared = 0;
    let mut trading_days = 0;
    let mut previous: Option<NaiveDate> = None;
    for day in &reference.days {
        let options = TradeOptions {
            mode: Mode::Paper,
            as_of: Some((day.date, None)),
            plan_only: false,
        };
        let clock: jutsu::brokers::sources::SharedClock =
            Arc::new(jutsu::support::clock::SystemClock);
        let code = pipeline::trade(&loaded, &options, clock).code;
        assert_eq!(code, 0, "{}", day.date);

        let ledger = Ledger::load(&paths.ledger(day.date)).unwrap().unwrap();
        assert_eq!(ledger.decision, day.decision, "decision on {}", day.date);
        // The first run replays the whole history; every later one carries on from the
        // engine the run before saved (#28), and decides as the backtest all the same. That
        // engine had consumed the sessions before the previous run's: it is named by the last
        // of them, a session (Friday's for a Monday run), never a weekend or holiday.
        assert_eq!(
            ledger.resumed_from,
            previous.map(jutsu::domain::calendar::previous_session),
            "resumed on {}",
            day.date
        );
        previous = Some(day.date);
        // `jutsu replay` derives the same decision from the ledger, on the same bars.
        let replayed = jutsu::pipeline::replay::replay(&loaded, Mode::Paper, day.date).unwrap();
        assert!(
            replayed.same_decision(),
            "replay of {}: {:?}",
            day.date,
            replayed.fields
        );
        assert_eq!(
            replayed.same_history(),
            Some(true),
            "history of {}",
            day.date
        );
        let account = jutsu::brokers::sim::SimAccount::read(&account_path).unwrap();
        for (leg, symbol) in legs.iter().enumerate() {
            let held = account.positions.get(*symbol).copied().unwrap_or_default();
            assert_eq!(
                held,
                Decimal::from(day.quantities[leg]),
                "{symbol} on {}",
                day.date
            );
        }
        assert_eq!(account.cash, day.cash, "cash on {}", day.date);
        if !day.fills.is_empty() {
            trading_days += 1;
        }
        compared += 1;
    }
    let sessions = jutsu::domain::calendar::sessions(d("2024-01-01"), d("2025-12-31")).count();
    assert_eq!(compared, sessions);
    assert!(trading_days > 10, "only {trading_days} days traded");
    eprintln!("live = backtest on {compared} sessions ({trading_days} with trades), shares and cash equal every day");
}

/// A damaged or hand-edited engine cache is never an error: the run replays the whole
/// history and decides as a run that never had one (#28), and writes a good cache again.
#[test]
fn a_damaged_or_edited_engine_cache_is_ignored_and_replaced() {
    let ledger_of = |dir: &std::path::Path, day: &str| -> Ledger {
        Ledger::load(&dir.join(format!("state/paper/runs/{day}.json")))
            .unwrap()
            .unwrap()
    };
    // The reference: a fresh account's run on 2025-12-11, nothing cached.
    let (fresh, fresh_config) = common::paper_config("");
    assert_eq!(common::trade_at(&fresh_config, "2025-12-11T15:55").0, 0);
    let want = ledger_of(fresh.path(), "2025-12-11");
    assert_eq!(want.resumed_from, None);

    type Damage = fn(&str) -> String;
    let damages: [(&str, Damage); 3] = [
        ("torn", |text| text[..text.len() / 2].to_string()),
        ("not JSON", |_| "garbage".to_string()),
        // Valid content, a figure changed by hand: the checksum no longer matches.
        ("edited", |text| {
            text.replacen("\"bars_stored\": ", "\"bars_stored\": 1", 1)
        }),
    ];
    for (what, damage) in damages {
        let (dir, config) = common::paper_config("");
        assert_eq!(common::trade_at(&config, "2025-12-10T15:55").0, 0);
        let cache = dir.path().join("state/paper/engine_cache.json");
        let text = std::fs::read_to_string(&cache).unwrap();
        std::fs::write(&cache, damage(&text)).unwrap();
        let (code, out, err) = common::trade_at(&config, "2025-12-11T15:55");
        assert_eq!(code, 0, "{what}: {out}{err}");
        let got = ledger_of(dir.path(), "2025-12-11");
        assert_eq!(got.resumed_from, None, "{what}: replayed in full");
        assert_eq!(got.decision, want.decision, "{what}");
        assert!(
            jutsu::storage::fsutil::is_intact::<jutsu::domain::resume::SavedEngine>(&cache),
            "{what}: a good cache written again"
        );
        // And the next run carries on from it.
        assert_eq!(common::trade_at(&config, "2025-12-12T15:55").0, 0);
        assert_eq!(
            ledger_of(dir.path(), "2025-12-12").resumed_from,
            Some("2025-12-10".parse().unwrap()),
            "{what}"
        );
    }
}
