//! The bars a decision is taken on are checked first: `jutsu data check` lists every
//! problem, and the loader of `trade` and `backtest` refuses a file with a hole in it,
//! naming the date (exit 2).

use crate::common;
use crate::common::{jutsu, run};

/// A change to a file's lines.
type Edit = dyn Fn(Vec<String>) -> Vec<String>;

/// A copy of the bundled bars in a scratch folder, each edit applied to its symbol's lines.
fn bars_with(edits: &[(&str, &Edit)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for symbol in ["QQQ", "TLT", "TQQQ", "TMF", "TMV", "PSQ"] {
        let text = std::fs::read_to_string(format!("data/{symbol}.csv")).unwrap();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        for (s, edit) in edits {
            if *s == symbol {
                lines = edit(lines);
            }
        }
        std::fs::write(
            dir.path().join(format!("{symbol}.csv")),
            lines.join("\n") + "\n",
        )
        .unwrap();
    }
    dir
}

/// Replaces the row of `date` with `f(row)`, or drops it when `f` gives None.
fn row_of(
    date: &'static str,
    f: fn(&str) -> Option<String>,
) -> impl Fn(Vec<String>) -> Vec<String> {
    move |lines| {
        lines
            .into_iter()
            .filter_map(|l| if l.starts_with(date) { f(&l) } else { Some(l) })
            .collect()
    }
}

#[test]
fn a_missing_session_stops_trade_and_backtest_naming_the_date() {
    let drop = row_of("2024-03-15", |_| None);
    let bars = bars_with(&[("QQQ", &drop)]);
    let (dir, config) = common::paper_config("");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &common::bars_dir().display().to_string(),
        &bars.path().display().to_string(),
    );
    std::fs::write(&config, text).unwrap();
    let (code, stdout, stderr) = common::trade_at(&config, "2025-12-12");
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stdout.contains("the session 2024-03-15 is missing"),
        "{stdout}"
    );
    assert!(!dir.path().join("state/sim").exists(), "nothing traded");
    let (code, _, stderr) = run(jutsu().arg("-c").arg(&config).args(["backtest"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("QQQ.csv") && stderr.contains("2024-03-15"),
        "{stderr}"
    );
}

#[test]
fn data_check_finds_each_kind_of_bad_bar() {
    let missing = row_of("2024-03-15", |_| None);
    let duplicate = row_of("2024-03-15", |l| Some(format!("{l}\n{l}")));
    let zero_price = row_of("2024-03-15", |l| {
        let mut f: Vec<&str> = l.split(',').collect();
        f[4] = "0";
        Some(f.join(","))
    });
    let broken_ohlc = row_of("2024-03-15", |l| {
        let f: Vec<&str> = l.split(',').collect();
        // The high under the close.
        Some(format!(
            "{},{},{},{},{},{}",
            f[0], f[1], f[3], f[3], f[4], f[5]
        ))
    });
    // A close doubled (and its high with it): sound, but a move to look at.
    let jump = row_of("2024-03-15", |l| {
        let mut f: Vec<String> = l.split(',').map(String::from).collect();
        for i in [2, 4] {
            f[i] = (f[i].parse::<f64>().unwrap() * 2.0).to_string();
        }
        Some(f.join(","))
    });
    let zero_volume = row_of("2024-03-15", |l| {
        let mut f: Vec<&str> = l.split(',').collect();
        f[5] = "0";
        Some(f.join(","))
    });
    let bars = bars_with(&[
        ("QQQ", &missing),
        ("TLT", &duplicate),
        ("TQQQ", &zero_price),
        ("TMF", &broken_ohlc),
        ("PSQ", &zero_volume),
        ("TMV", &jump),
    ]);
    let (_dir, config) = common::paper_config("");
    let (code, stdout, _) = run(jutsu()
        .arg("-c")
        .arg(&config)
        .args(["data", "check", "--dir"])
        .arg(bars.path()));
    assert_eq!(code, 1, "{stdout}");
    for expected in [
        "the session 2024-03-15 is missing (between 2024-03-14 and 2024-03-18)",
        "2024-03-15 appears twice",
        "2024-03-15: prices must be positive",
        "2024-03-15: high",
        "2024-03-15: a day with zero volume",
        "[ok  ] TMV",
        "one-day moves over 40 % to review: 2024-03-15 +",
        "5 of 6 symbols have problems",
    ] {
        assert!(stdout.contains(expected), "{expected} missing:\n{stdout}");
    }
}

#[test]
fn the_bundled_bars_are_sound_with_no_move_to_review() {
    let (code, stdout, _) = run(jutsu().args(["data", "check"]));
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("all 6 symbols' bars are sound"), "{stdout}");
    // Each symbol's largest day is inside its quote-check limit (TQQQ 35 % of 40, QQQ 12 %
    // of 20, TLT 7.5 % of 15): nothing to review.
    assert!(!stdout.contains("to review"), "{stdout}");
}

#[test]
fn replay_finds_the_recorded_decision_and_notices_other_bars() {
    let bars = bars_with(&[]);
    let (_dir, config) = common::paper_config("");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &common::bars_dir().display().to_string(),
        &bars.path().display().to_string(),
    );
    std::fs::write(&config, text).unwrap();
    assert_eq!(common::trade_at(&config, "2025-12-12").0, 0);
    let (code, stdout, _) = run(jutsu()
        .arg("-c")
        .arg(&config)
        .args(["replay", "2025-12-12"]));
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("  cell ") && l.ends_with(" 3  =")),
        "{stdout}"
    );
    assert!(stdout.contains("history        the same bars"), "{stdout}");
    // A close of the history changed afterwards: the digest says the bars differ.
    let path = bars.path().join("TLT.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("2025-12-10"))
        .unwrap()
        .to_string();
    let mut f: Vec<&str> = line.split(',').collect();
    let close = format!("{}1", f[4]);
    f[4] = &close;
    std::fs::write(&path, text.replace(&line, &f.join(","))).unwrap();
    let (code, stdout, _) = run(jutsu()
        .arg("-c")
        .arg(&config)
        .args(["replay", "2025-12-12"]));
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("history        DIFFERS"), "{stdout}");
    assert!(stdout.contains("NOT the same decision"), "{stdout}");
}
