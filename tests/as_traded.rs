//! Paper trading as traded: every session from 2023-06-01 to 2025-12-31 in turn on the
//! shipped data with its corporate actions. Every run exits 0, each split of a held position
//! is named on its day and sends nothing, dividends arrive as cash, and the final account
//! value equals a recomputation, independent of the simulator, from the as-traded bars, the
//! fills and the corporate actions file, to the cent.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use jutsu::config::Mode;
use jutsu::domain::journal::Ledger;
use jutsu::pipeline::{self, TradeOptions};
use rust_decimal::{Decimal, RoundingStrategy};

/// `data/actions.csv`, read on its own: (date, symbol, kind, value, close).
fn actions() -> Vec<(NaiveDate, String, String, Decimal, Option<Decimal>)> {
    let mut reader = csv::Reader::from_path("data/actions.csv").unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].parse().unwrap(),
                r[1].to_string(),
                r[2].to_string(),
                r[3].parse().unwrap(),
                r[4].parse().ok(),
            )
        })
        .collect()
}

fn cents(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// The as-traded close of `symbol` on `date`: the split-adjusted bar times the ratios of the
/// later splits (the raw files' `split_factor`).
fn traded_close(symbol: &str, date: NaiveDate, splits: &[(NaiveDate, String, Decimal)]) -> Decimal {
    let bars = jutsu::storage::bars::load_csv(std::path::Path::new(&format!("data/{symbol}.csv")))
        .unwrap();
    let bar = bars.iter().find(|b| b.date == date).unwrap();
    splits
        .iter()
        .filter(|(d, s, _)| s == symbol && *d > date)
        .fold(bar.close, |p, (_, _, r)| p * r)
}

#[test]
fn paper_as_traded_from_2023_06_to_2025_12_meets_every_split_and_dividend_to_the_cent() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("jutsu.yaml");
    let data = std::path::Path::new("data").canonicalize().unwrap();
    std::fs::write(
        &config,
        format!(
            "mode: paper\npaths:\n  state_dir: state\n  logs_dir: logs\ndata:\n  dir: {}\n",
            data.display()
        ),
    )
    .unwrap();
    let loaded = jutsu::config::load(&config).unwrap();
    let paths = jutsu::storage::state::StatePaths::new(&loaded, Mode::Paper);
    let d = |s: &str| s.parse::<NaiveDate>().unwrap();
    let sessions: Vec<NaiveDate> =
        jutsu::domain::calendar::sessions(d("2023-06-01"), d("2025-12-31")).collect();
    let mut transcripts = BTreeMap::new();
    for day in &sessions {
        let options = TradeOptions {
            mode: Mode::Paper,
            as_of: Some((*day, None)),
            plan_only: false,
        };
        let clock: jutsu::brokers::sources::SharedClock =
            Arc::new(jutsu::support::clock::SystemClock);
        let summary = pipeline::trade(&loaded, &options, clock);
        assert_eq!(summary.code, 0, "{day}:\n{}", summary.transcript);
        transcripts.insert(*day, summary.transcript);
    }

    // The recomputation: cash and shares from the fills, the splits and the dividends.
    let account =
        jutsu::brokers::sim::SimAccount::read(&jutsu::brokers::sources::sim_account_path(&loaded))
            .unwrap();
    let actions = actions();
    let splits: Vec<(NaiveDate, String, Decimal)> = actions
        .iter()
        .filter(|a| a.2 == "split")
        .map(|a| (a.0, a.1.clone(), a.3))
        .collect();
    let mut cash = Decimal::from(10_000);
    let mut held: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut split_days = Vec::new();
    let mut dividends = Decimal::ZERO;
    for day in &sessions {
        for (date, symbol, kind, value, close) in actions.iter().filter(|a| a.0 == *day) {
            let shares = held.get(symbol).copied().unwrap_or_default();
            if shares.is_zero() {
                continue;
            }
            if kind == "split" {
                let after = (shares * value).trunc();
                cash += cents((shares * value - after) * close.unwrap());
                held.insert(symbol.clone(), after);
                split_days.push((*date, symbol.clone(), shares, after));
            } else {
                cash += cents(shares * value);
                dividends += cents(shares * value);
            }
        }
        let new_york = |t: chrono::DateTime<chrono::Utc>| {
            t.with_timezone(&chrono_tz::America::New_York).date_naive()
        };
        for fill in account.fills.iter().filter(|f| new_york(f.time) == *day) {
            let signed = match fill.side {
                jutsu::domain::portfolio::Side::Buy => fill.quantity,
                jutsu::domain::portfolio::Side::Sell => -fill.quantity,
            };
            // The fill is at the day's as-traded close plus the simulator's slippage.
            let close = traded_close(&fill.symbol, *day, &splits);
            let expected = match fill.side {
                jutsu::domain::portfolio::Side::Buy => close * Decimal::new(1001, 3),
                jutsu::domain::portfolio::Side::Sell => close * Decimal::new(999, 3),
            };
            assert_eq!(fill.price, expected, "{} on {day}", fill.symbol);
            cash -= signed * fill.price + fill.commission;
            *held.entry(fill.symbol.clone()).or_default() += signed;
        }
    }
    let last = *sessions.last().unwrap();
    let value = cash
        + held
            .iter()
            .map(|(s, q)| *q * traded_close(s, last, &splits))
            .sum::<Decimal>();
    let ledger = Ledger::load(&paths.ledger(last)).unwrap().unwrap();
    assert_eq!(
        cents(value),
        cents(ledger.equity_after.unwrap()),
        "final value"
    );
    assert_eq!(cash, account.cash, "cash");
    assert!(
        dividends > Decimal::from(100),
        "dividends paid: {dividends}"
    );

    // The trade log's realized P&L of every sale is against the average cost of the shares
    // bought before it, carried through the splits: the account began empty in it, and a
    // split multiplies the shares (whole ones; the fraction left for cash in lieu, with its
    // cost) and keeps what they cost.
    let mut log = csv::Reader::from_path(dir.path().join("logs/trades.csv")).unwrap();
    let mut book: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    let mut pending = splits.clone();
    let (mut sales, mut after_a_split) = (0, 0);
    for row in log.deserialize::<BTreeMap<String, String>>() {
        let row = row.unwrap();
        let num = |key: &str| row[key].parse::<Decimal>().unwrap();
        let session = d(&row["session"]);
        pending.retain(|(date, symbol, ratio)| {
            if *date > session {
                return true;
            }
            if let Some((shares, cost)) = book.get_mut(symbol) {
                let exact = *shares * *ratio;
                if !exact.is_zero() {
                    *cost = *cost * exact.trunc() / exact;
                }
                *shares = exact.trunc();
            }
            false
        });
        let (q, p, c) = (num("quantity"), num("fill_price"), num("commission"));
        let (shares, cost) = book.entry(row["symbol"].clone()).or_default();
        if row["side"] == "BUY" {
            *shares += q;
            *cost += q * p + c;
            continue;
        }
        let average = *cost / *shares;
        let expected = (q * (p - average) - c).round_dp(2);
        assert_eq!(num("realized_pnl"), expected, "{row:?}");
        *cost -= average * q;
        *shares -= q;
        sales += 1;
        if splits
            .iter()
            .any(|(date, symbol, _)| *symbol == row["symbol"] && *date <= session)
        {
            after_a_split += 1;
        }
    }
    assert!(
        sales > 10 && after_a_split > 0,
        "{sales} sales, {after_a_split} after a split"
    );

    // Each split of a held position is named on its day and sends nothing of its own.
    assert!(!split_days.is_empty());
    for (date, symbol, before, after) in &split_days {
        let ratio = jutsu::domain::events::ratio_text(*after / *before);
        let named = format!("{symbol} split {ratio}: {before} -> {after} shares");
        let text = &transcripts[date];
        assert!(
            text.contains(&named),
            "{named} not in the run of {date}:\n{text}"
        );
        let ledger = Ledger::load(&paths.ledger(*date)).unwrap().unwrap();
        if !ledger.decision.as_ref().unwrap().rebalance {
            assert!(
                ledger.orders.is_empty(),
                "orders on {date}: {:?}",
                ledger.orders
            );
        }
    }
    eprintln!(
        "as traded on {} sessions: {} split(s) of held positions, {dividends} in dividends, final value {}",
        sessions.len(),
        split_days.len(),
        cents(value)
    );
}

/// `data/actions.csv` is what the raw files beside it say: the splits where the raw
/// `split_factor` changes, the dividends where it is paid; and the recomputed factor gives
/// the raw prices from the adjusted ones on every row.
#[test]
fn the_actions_file_is_the_raw_files_corporate_actions() {
    let actions =
        jutsu::storage::bars::load_actions(std::path::Path::new("data/actions.csv")).unwrap();
    for symbol in ["QQQ", "TLT", "TQQQ", "TMF", "TMV", "PSQ"] {
        let raw =
            crate::common::read_csv(&crate::common::data_dir().join(format!("{symbol}.raw.csv")));
        let bars =
            jutsu::storage::bars::load_csv(std::path::Path::new(&format!("data/{symbol}.csv")))
                .unwrap();
        let mut dividends = 0;
        for (row, bar) in raw.iter().zip(&bars) {
            let date: NaiveDate = row["date"].parse().unwrap();
            assert_eq!(date, bar.date);
            let factor: Decimal = row["split_factor"].parse().unwrap();
            assert_eq!(actions.factor(symbol, date), factor, "{symbol} {date}");
            let close: Decimal = row["close"].parse().unwrap();
            let traded = bar.close * factor;
            assert!(
                ((traded - close) / close).abs() < Decimal::new(2, 6),
                "{symbol} {date}: {traded} vs {close}"
            );
            let dividend: Decimal = row["dividend"].parse().unwrap();
            if dividend > Decimal::ZERO {
                dividends += 1;
                assert!(actions
                    .dividends
                    .iter()
                    .any(|d| d.symbol == symbol && d.date == date && d.per_share == dividend));
            }
        }
        let listed = actions
            .dividends
            .iter()
            .filter(|d| d.symbol == symbol)
            .count();
        assert_eq!(listed, dividends, "{symbol}");
    }
}

#[test]
fn the_simulator_applies_a_reverse_split_with_cash_in_lieu_and_pays_dividends_once() {
    use jutsu::brokers::sim::SimAccount;
    let actions =
        jutsu::storage::bars::load_actions(std::path::Path::new("data/actions.csv")).unwrap();
    let d = |s: &str| s.parse::<NaiveDate>().unwrap();
    let mut account = SimAccount::new(Decimal::from(1000));
    account.positions.insert("TMF".into(), Decimal::from(1005));
    assert!(
        account.catch_up(&actions, d("2023-12-01")),
        "starts the record"
    );
    assert!(account.catch_up(&actions, d("2023-12-04")));
    // 1:10 on 2023-12-04: 100 shares and half a share at that day's close, 53.82.
    assert_eq!(account.positions["TMF"], Decimal::from(100));
    assert_eq!(account.cash, Decimal::from(1000) + Decimal::new(2691, 2));
    assert_eq!(account.splits.len(), 1);
    // TMF's next dividend after the split, once, on its ex-date.
    let next = actions
        .dividends
        .iter()
        .find(|x| x.symbol == "TMF" && x.date > d("2023-12-04"))
        .unwrap();
    let cash = account.cash;
    account.catch_up(&actions, next.date);
    account.catch_up(&actions, next.date);
    assert_eq!(
        account.cash,
        cash + cents(Decimal::from(100) * next.per_share)
    );
    assert_eq!(account.flows.len(), 2, "{:?}", account.flows);
}

#[test]
fn a_deposit_is_not_a_return_and_a_withdrawal_is_refused_past_the_cash() {
    let (dir, config) = crate::common::paper_config("");
    let cfg = config.to_str().unwrap();
    let run =
        |args: &[&str]| crate::common::run(crate::common::jutsu().arg("-c").arg(cfg).args(args));
    assert_eq!(run(&["trade", "--as-of", "2025-12-10"]).0, 0);
    let (code, stdout, stderr) = run(&["sim", "deposit", "5000", "--as-of", "2025-12-11"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("deposit 5000.00 on 2025-12-11"), "{stdout}");
    let (code, stdout, _) = run(&["trade", "--as-of", "2025-12-11"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("deposit +5000.00 on 2025-12-11"),
        "{stdout}"
    );
    assert_eq!(run(&["trade", "--as-of", "2025-12-12"]).0, 0);
    let (code, stdout, _) = run(&["report"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("deposits 5000.00"), "{stdout}");
    // The day of the deposit returns what the positions did, not +50 %.
    let day = stdout
        .lines()
        .find(|l| l.starts_with("2025-12-11"))
        .unwrap();
    let ret: f64 = day
        .split_whitespace()
        .nth(2)
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap();
    assert!(ret.abs() < 5.0, "{day}");
    let (code, _, stderr) = run(&["sim", "withdraw", "1000000"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("error: withdrawing 1000000 but the simulated account holds"),
        "{stderr}"
    );
    let audit = std::fs::read_to_string(dir.path().join("state/audit.csv")).unwrap();
    assert!(audit.contains("sim deposit"), "{audit}");
}
