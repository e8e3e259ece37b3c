//! The log files carry the run: each stage, the quotes, the decision and the orders at info;
//! Schwab's requests (redacted) and their timings at `-v`; JSON lines in a file of their own;
//! a dry run logs like any other; the terminal does not get the checklist twice.

use crate::common;
use crate::common::fake_schwab::{FakeSchwab, HASH};
use crate::common::{jutsu, run};

/// The text of every file in `dir` whose name ends with `suffix`.
fn logs(dir: &std::path::Path, suffix: &str) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(suffix) {
            text += &std::fs::read_to_string(path).unwrap();
        }
    }
    text
}

#[test]
fn a_paper_run_logs_each_stage_the_quotes_the_decision_and_the_orders() {
    let (dir, config) = common::paper_config("");
    let (code, stdout, stderr) = common::trade_at(&config, "2025-12-12");
    assert_eq!(code, 0, "{stdout}");
    let text = logs(&dir.path().join("logs"), ".log");
    for expected in [
        "jutsu trade starts",
        "stage=\"preflight\"",
        "quote symbol=QQQ last=613.62",
        "quote symbol=TMV last=37.27",
        "cell 3 (Sideways, vol Low), T_norm -0.017",
        "stage=\"decide\"",
        "BUY 37 TQQQ at ~52.82 (target 20.0%)",
        "BUY 37 TQQQ: filled at 52.87 vs 52.82, slippage 0.100%",
        "stage=\"record\"",
        "OK: rebalanced (first run), 2 order(s) filled",
    ] {
        assert!(
            text.contains(expected),
            "{expected} missing from the log:\n{text}"
        );
    }
    assert!(
        text.lines().all(|l| l.contains("trade{mode=\"paper\"}")),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "no colour codes in the file");
    // The checklist is on stdout once; stderr does not repeat it.
    assert!(!stderr.contains("rebalanced"), "{stderr}");
    assert_eq!(stdout.matches("OK: rebalanced").count(), 1, "{stdout}");
}

#[test]
fn json_lines_go_to_their_own_file_and_a_dry_run_logs_too() {
    let (dir, config) = common::paper_config("");
    let cfg = config.to_str().unwrap();
    let (code, stdout, _) = run(jutsu().args(["-c", cfg, "trade", "--as-of", "2025-12-12"]));
    assert_eq!(code, 0, "{stdout}");
    let (code, stdout, _) = run(jutsu().args([
        "--log-format",
        "json",
        "-c",
        cfg,
        "trade",
        "--mode",
        "dry_run",
        "--as-of",
        "2025-12-15",
    ]));
    assert_eq!(code, 0, "{stdout}");
    let folder = dir.path().join("logs");
    let json = logs(&folder, ".jsonl");
    let mut stages = Vec::new();
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("every line is JSON");
        if let Some(stage) = v["fields"]["stage"].as_str() {
            stages.push(stage.to_string());
        }
        assert_eq!(v["span"]["mode"], "dry_run", "{line}");
    }
    // A dry run stops after showing what it would send (the execute stage).
    assert_eq!(
        stages,
        [
            "preflight",
            "fetch",
            "synthetic bar",
            "decide",
            "reconcile",
            "plan",
            "execute"
        ],
        "{json}"
    );
    assert!(json.contains("\"dry_run session 2025-12-15"), "{json}");
    // The text file has only the first run's text lines.
    let text = logs(&folder, ".log");
    assert!(text.lines().all(|l| !l.starts_with('{')), "{text}");
    assert!(!text.contains("dry_run"), "{text}");
}

#[test]
fn verbose_logs_show_each_schwab_request_and_no_secret() {
    const NOW: &str = "2025-06-10T19:55:00Z";
    let fake = FakeSchwab::start("2025-06-10", NOW, 20_000.0, &[], "A-secret-value-4");
    let dir = tempfile::tempdir().unwrap();
    let config = common::live_at(dir.path(), &fake.url, NOW, "A-secret-value-4", "");
    let (code, stdout, stderr) = common::run_live(&config, NOW, &["-v", "trade"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let text = logs(&dir.path().join("logs"), ".log");
    for expected in [
        "Schwab request endpoint=\"GET /accounts/{hash}\" status=200",
        "endpoint=\"POST /accounts/{hash}/orders\" status=201",
        "correlation=",
        "stage=\"execute\"",
    ] {
        assert!(text.contains(expected), "{expected} missing:\n{text}");
    }
    for secret in [
        HASH,
        "A-secret-value-4",
        "R-secret-refresh",
        "APPKEY0123456789",
        "APPSECRET0123456",
    ] {
        assert!(!text.contains(secret), "{secret} in the log");
        assert!(!stderr.contains(secret), "{secret} on stderr");
    }
}

/// The names of the log files in `dir`, sorted.
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("jutsu."))
        .collect();
    names.sort();
    names
}

#[test]
fn log_files_are_named_by_the_accounts_day_not_the_machines() {
    let (dir, config) = common::paper_config("");
    let cfg = config.to_str().unwrap();
    let folder = dir.path().join("logs");
    let (code, stdout, _) = common::trade_at(&config, "2025-12-12");
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(names(&folder), ["jutsu.2025-12-12.log"]);
    let (code, stdout, _) = common::trade_at(&config, "2025-12-15T15:55");
    assert_eq!(code, 0, "{stdout}");
    // The emergency exit without --as-of acts at the close of the account's last session:
    // its lines go with that session's, whatever the machine's date.
    let (code, stdout, stderr) = run(jutsu().args(["-c", cfg, "emergency-exit", "--confirm"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        names(&folder),
        ["jutsu.2025-12-12.log", "jutsu.2025-12-15.log"]
    );
    let day = std::fs::read_to_string(folder.join("jutsu.2025-12-15.log")).unwrap();
    assert!(day.contains("jutsu trade starts"), "{day}");
    assert!(day.contains("emergency"), "{day}");
    let first = std::fs::read_to_string(folder.join("jutsu.2025-12-12.log")).unwrap();
    assert!(!first.contains("session 2025-12-15"), "{first}");
    assert!(!first.contains("emergency"), "{first}");
}
