//! Account events between two live sessions against the fake Schwab: a 2:1 split, a 1:10
//! reverse split with cash in lieu, a dividend and a deposit each let the next session run
//! (exit 0) and are named; a share change no split explains still stops the run, and
//! `jutsu state adopt` takes the broker's positions so that the next run goes on.

use crate::common;
use crate::common::fake_schwab::FakeSchwab;

use jutsu::domain::journal::Ledger;

const FIRST: (&str, &str) = ("2025-06-10", "2025-06-10T19:55:00Z");
const NEXT: (&str, &str) = ("2025-06-11", "2025-06-11T19:55:00Z");

/// An account in one folder, traded live on a fake Schwab per session.
struct Account {
    dir: tempfile::TempDir,
}

impl Account {
    fn new() -> Self {
        Account {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Points the configuration and the token at `fake` for a session at `now`.
    fn at(&self, fake: &FakeSchwab, now: &str, access: &str) -> std::path::PathBuf {
        common::live_at(self.dir.path(), &fake.url, now, access, "")
    }

    fn run(&self, config: &std::path::Path, now: &str, args: &[&str]) -> (i32, String, String) {
        common::run_live(config, now, args)
    }

    fn ledger(&self, session: &str) -> Ledger {
        Ledger::load(&self.dir.path().join(format!("state/runs/{session}.json")))
            .unwrap()
            .unwrap()
    }
}

/// The first session's run (it buys its targets), then the fake of the next session holding
/// what the first left, for the test to change before the next run.
fn two_sessions() -> (Account, FakeSchwab) {
    let account = Account::new();
    let first = FakeSchwab::start(FIRST.0, FIRST.1, 20_000.0, &[], "A-secret-events-1");
    let config = account.at(&first, FIRST.1, "A-secret-events-1");
    let (code, stdout, stderr) = account.run(&config, FIRST.1, &["trade"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let held: Vec<(String, f64)> = first
        .positions()
        .into_iter()
        .map(|(s, q)| (s, q as f64))
        .collect();
    let held: Vec<(&str, f64)> = held.iter().map(|(s, q)| (s.as_str(), *q)).collect();
    let next = FakeSchwab::start(NEXT.0, NEXT.1, first.cash(), &held, "A-secret-events-2");
    (account, next)
}

/// The next session's run.
fn next_run(account: &Account, fake: &FakeSchwab) -> (i32, String, String) {
    let config = account.at(fake, NEXT.1, "A-secret-events-2");
    account.run(&config, NEXT.1, &["trade"])
}

/// The symbol the first run bought most shares of.
fn biggest(fake: &FakeSchwab) -> (String, i64) {
    fake.positions()
        .into_iter()
        .max_by_key(|(_, q)| *q)
        .expect("the first run bought something")
}

#[test]
fn a_forward_split_between_sessions_is_named_and_sends_nothing() {
    let (account, fake) = two_sessions();
    let (symbol, shares) = biggest(&fake);
    fake.split(&symbol, 2.0);
    let (code, stdout, stderr) = next_run(&account, &fake);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let named = format!("{symbol} split 2:1: {shares} -> {} shares", shares * 2);
    assert!(stdout.contains(&named), "{named} not in:\n{stdout}");
    assert!(stdout.contains("broker matches the state"), "{stdout}");
    // Nothing is sent because of the split (the next session's targets are unchanged).
    let ledger = account.ledger(NEXT.0);
    assert_eq!(ledger.splits.len(), 1);
    assert_eq!(ledger.splits[0].after, shares * 2);
    assert!(
        fake.orders().iter().all(|o| o.symbol != symbol),
        "{:?}",
        fake.orders()
    );
    // The state took the split: the session after sees no difference either.
    let state = std::fs::read_to_string(account.dir.path().join("state/state.json")).unwrap();
    assert!(
        state.contains(&format!("\"{symbol}\": {}", shares * 2)),
        "{state}"
    );
}

#[test]
fn a_reverse_split_with_cash_in_lieu_is_named_and_its_cash_recorded() {
    let (account, fake) = two_sessions();
    let (symbol, shares) = biggest(&fake);
    fake.split(&symbol, 0.1);
    let (code, stdout, stderr) = next_run(&account, &fake);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let after = shares / 10;
    let named = format!("{symbol} split 1:10: {shares} -> {after} shares");
    assert!(stdout.contains(&named), "{named} not in:\n{stdout}");
    let ledger = account.ledger(NEXT.0);
    if shares % 10 != 0 {
        assert!(
            stdout.contains(&format!("cash in lieu {symbol} +")),
            "{stdout}"
        );
        assert_eq!(ledger.flows.len(), 1, "{:?}", ledger.flows);
    }
    let queries = fake.world.lock().unwrap().transaction_queries.clone();
    assert!(
        queries.iter().all(|(types, _)| types
            .as_deref()
            .is_some_and(|t| t.contains("DIVIDEND_OR_INTEREST"))),
        "types on every call: {queries:?}"
    );
}

#[test]
fn a_dividend_and_a_deposit_are_cash_not_drift() {
    let (account, fake) = two_sessions();
    let (symbol, _) = biggest(&fake);
    fake.cash_transaction("DIVIDEND_OR_INTEREST", 12.34, Some(&symbol));
    fake.cash_transaction("ACH_RECEIPT", 1000.0, None);
    let (code, stdout, stderr) = next_run(&account, &fake);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("dividend {symbol} +12.34 on {}", NEXT.0)),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("deposit +1000.00 on {}", NEXT.0)),
        "{stdout}"
    );
    let flows = account.ledger(NEXT.0).flows;
    assert_eq!(flows.len(), 2, "{flows:?}");
    assert!(!stdout.contains("positions differ"), "{stdout}");
}

#[test]
fn a_share_change_no_split_explains_stops_and_adopt_lets_the_next_run_go_on() {
    let (account, fake) = two_sessions();
    let (symbol, shares) = biggest(&fake);
    // Doubled by hand, the price unchanged: not a split.
    fake.shares_by_hand(&symbol, shares as f64);
    let (code, stdout, stderr) = next_run(&account, &fake);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(stdout.contains("no split explains it"), "{stdout}");
    assert!(stdout.contains("state adopt --reason"), "{stdout}");
    assert_eq!(fake.order_calls().0, 0, "nothing sent");

    let config = account.at(&fake, NEXT.1, "A-secret-events-2");
    let (code, stdout, stderr) = account.run(
        &config,
        NEXT.1,
        &["state", "adopt", "--reason", "bought by hand on the phone"],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("adopted the broker's positions: ")
            && stdout.contains(&format!("{} {symbol}", shares * 2)),
        "{stdout}"
    );
    let audit = std::fs::read_to_string(account.dir.path().join("state/audit.csv")).unwrap();
    assert!(audit.contains("bought by hand on the phone"), "{audit}");
    let (code, stdout, _) = account.run(&config, "2025-06-11T22:00:00Z", &["health"]);
    assert!(
        stdout.contains("the broker's positions were adopted"),
        "{code} {stdout}"
    );
    assert!(stdout.contains("bought by hand on the phone"), "{stdout}");
    // The failed session runs again from the adopted positions.
    let (code, stdout, stderr) = account.run(&config, NEXT.1, &["trade"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("broker matches the state"), "{stdout}");
}

#[test]
fn transactions_schwab_cannot_list_cost_a_warning_not_the_run() {
    let (account, fake) = two_sessions();
    fake.cash_transaction("DIVIDEND_OR_INTEREST", 12.34, None);
    // The transactions endpoint answers 500 on every try.
    fake.faults(|f| f.fail.push(("transactions".into(), 500, 100)));
    let (code, stdout, stderr) = next_run(&account, &fake);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("the account's cash movements since 2025-06-10 15:55 ET could not be read"),
        "{stdout}"
    );
    assert!(account.ledger(NEXT.0).flows.is_empty());
    assert!(stdout.contains("broker matches the state"), "{stdout}");
}
