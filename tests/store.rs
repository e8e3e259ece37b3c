//! The local bar store against the fake Schwab: the first `data update` fetches everything,
//! the next only what is new (with a compared overlap); a split Schwab adjusted its history
//! for is found and the symbol fetched whole again; a trade after an update asks Schwab for
//! quotes, the account and orders only; import and export move bars between the store and
//! CSV files.

use crate::common;
use crate::common::fake_schwab::FakeSchwab;

const FIRST: (&str, &str) = ("2025-06-10", "2025-06-10T21:00:00Z");
const NEXT: (&str, &str) = ("2025-06-11", "2025-06-11T21:00:00Z");
const STORE: &str = "data:\n  source: schwab\n  store: state/bars.sqlite\n";

fn config_for(
    dir: &std::path::Path,
    fake: &FakeSchwab,
    now: &str,
    access: &str,
) -> std::path::PathBuf {
    let config = common::live_at(dir, &fake.url, now, access, "");
    // The store goes under the data section live_config wrote.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("data:\n  source: schwab\n", STORE);
    std::fs::write(&config, text).unwrap();
    config
}

fn history_requests(fake: &FakeSchwab) -> Vec<(String, i64)> {
    std::mem::take(&mut fake.world.lock().unwrap().history_requests)
}

fn stored(dir: &std::path::Path, symbol: &str) -> Vec<jutsu::domain::bars::Bar> {
    jutsu::storage::store::BarStore::open(&dir.join("state/bars.sqlite"))
        .unwrap()
        .bars(symbol, chrono::NaiveDate::MIN)
        .unwrap()
}

#[test]
fn updates_fetch_everything_once_then_only_the_new_day_and_catch_a_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    // After the close of FIRST: its bar is complete.
    let first = FakeSchwab::start(FIRST.0, FIRST.1, 10_000.0, &[], "A-store-1");
    let config = config_for(dir.path(), &first, FIRST.1, "A-store-1");
    // The fake serves the bars before its session: FIRST's own comes with the next fake.
    let (code, stdout, stderr) = common::run_live(&config, FIRST.1, &["data", "update"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("QQQ   4097 bars fetched (first update) (last bar 2025-06-09)"),
        "{stdout}"
    );
    assert_eq!(history_requests(&first).len(), 6, "one request a symbol");

    let next = FakeSchwab::start(NEXT.0, NEXT.1, 10_000.0, &[], "A-store-2");
    let config = config_for(dir.path(), &next, NEXT.1, "A-store-2");
    let (code, stdout, stderr) = common::run_live(&config, NEXT.1, &["data", "update"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("QQQ   1 new bar(s), the overlap matches (last bar 2025-06-10)"),
        "{stdout}"
    );
    let requests = history_requests(&next);
    assert_eq!(requests.len(), 6, "{requests:?}");
    // Each asked from the fifth-last stored bar on, not from 2009.
    let june_2 = chrono::DateTime::parse_from_rfc3339("2025-06-03T05:00:00Z")
        .unwrap()
        .timestamp_millis();
    assert!(
        requests.iter().all(|(_, start)| *start >= june_2),
        "{requests:?}"
    );
    let qqq = stored(dir.path(), "QQQ");
    assert_eq!(qqq.len(), 4098);

    // Schwab adjusts TQQQ's history for a 2:1 split: the overlap differs.
    let split = FakeSchwab::start(NEXT.0, NEXT.1, 10_000.0, &[], "A-store-3");
    split.split("TQQQ", 2.0);
    let before = stored(dir.path(), "TQQQ");
    let config = config_for(dir.path(), &split, "2025-06-12T21:00:00Z", "A-store-3");
    let (code, stdout, stderr) =
        common::run_live(&config, "2025-06-12T21:00:00Z", &["data", "update"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("TQQQ  the source rewrote its history (2025-06-04: close"),
        "{stdout}"
    );
    assert!(stdout.contains("x2 of the new"), "{stdout}");
    let after = stored(dir.path(), "TQQQ");
    assert_eq!(
        after[100].close * rust_decimal::Decimal::TWO,
        before[100].close
    );
    let rewrites = jutsu::storage::store::BarStore::open(&dir.path().join("state/bars.sqlite"))
        .unwrap()
        .rewrites()
        .unwrap();
    assert_eq!(rewrites.len(), 1);
    assert_eq!(rewrites[0].symbol, "TQQQ");
}

#[test]
fn a_trade_after_an_update_asks_for_no_history_and_decides_as_without_the_store() {
    // Without a store: the whole history each run.
    let plain = tempfile::tempdir().unwrap();
    let fake = FakeSchwab::start(FIRST.0, "2025-06-10T19:55:00Z", 20_000.0, &[], "A-store-4");
    let config = common::live_at(
        plain.path(),
        &fake.url,
        "2025-06-10T19:55:00Z",
        "A-store-4",
        "",
    );
    let (code, stdout, _) =
        common::run_live(&config, "2025-06-10T19:55:00Z", &["trade", "--plan-only"]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(history_requests(&fake).len(), 6);

    // With one, updated the evening before: no history request at the run.
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &fake, "2025-06-09T22:00:00Z", "A-store-5");
    fake.world
        .lock()
        .unwrap()
        .valid_tokens
        .push("A-store-5".into());
    let (code, updated, stderr) =
        common::run_live(&config, "2025-06-09T22:00:00Z", &["data", "update"]);
    assert_eq!(code, 0, "{updated}{stderr}");
    history_requests(&fake);
    let config = config_for(dir.path(), &fake, "2025-06-10T19:55:00Z", "A-store-5");
    let (code, stdout2, _) =
        common::run_live(&config, "2025-06-10T19:55:00Z", &["trade", "--plan-only"]);
    assert_eq!(code, 0, "{stdout2}");
    assert_eq!(
        history_requests(&fake),
        Vec::<(String, i64)>::new(),
        "history from the store: {stdout2}"
    );
    let decision = |s: &str| {
        s.lines()
            .find(|l| l.contains("] decide"))
            .map(|l| l.split("  (").next().unwrap().to_string())
    };
    assert_eq!(decision(&stdout), decision(&stdout2));
}

#[test]
fn import_then_export_gives_back_the_bundled_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("jutsu.yaml");
    std::fs::write(&config, "data:\n  store: bars.sqlite\n").unwrap();
    let data = std::path::Path::new("data").canonicalize().unwrap();
    let (code, stdout, stderr) = common::run(
        common::jutsu()
            .arg("-c")
            .arg(&config)
            .args(["data", "import"])
            .arg(&data),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("QQQ   4276 bars imported"), "{stdout}");
    let out = dir.path().join("export");
    let (code, stdout, stderr) = common::run(
        common::jutsu()
            .arg("-c")
            .arg(&config)
            .args(["data", "export"])
            .arg(&out),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    for symbol in ["QQQ", "TLT", "TQQQ", "TMF", "TMV", "PSQ"] {
        let a = jutsu::storage::bars::load_csv(&data.join(format!("{symbol}.csv"))).unwrap();
        let b = jutsu::storage::bars::load_csv(&out.join(format!("{symbol}.csv"))).unwrap();
        assert_eq!(a, b, "{symbol}");
    }
    let (code, stdout, _) = common::run(
        common::jutsu()
            .arg("-c")
            .arg(&config)
            .args(["data", "check", "--store"]),
    );
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("(store)"), "{stdout}");
}

#[test]
fn on_a_split_morning_the_previous_close_sends_the_run_back_to_schwab_for_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeSchwab::start(FIRST.0, "2025-06-10T19:55:00Z", 20_000.0, &[], "A-store-6");
    let config = config_for(dir.path(), &fake, "2025-06-09T22:00:00Z", "A-store-6");
    let (code, stdout, stderr) =
        common::run_live(&config, "2025-06-09T22:00:00Z", &["data", "update"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    history_requests(&fake);
    // Overnight Schwab adjusts TQQQ for a 2:1 split: its closePrice is half the stored close.
    fake.split("TQQQ", 2.0);
    let config = config_for(dir.path(), &fake, "2025-06-10T19:55:00Z", "A-store-6");
    let (code, stdout, stderr) =
        common::run_live(&config, "2025-06-10T19:55:00Z", &["trade", "--plan-only"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let requests = history_requests(&fake);
    assert_eq!(
        requests.len(),
        2,
        "the overlap, then TQQQ whole: {requests:?}"
    );
    assert!(requests.iter().all(|(s, _)| s == "TQQQ"), "{requests:?}");
    let rewrites = jutsu::storage::store::BarStore::open(&dir.path().join("state/bars.sqlite"))
        .unwrap()
        .rewrites()
        .unwrap();
    assert_eq!(rewrites.len(), 1, "{rewrites:?}");
}
