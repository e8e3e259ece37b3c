//! `jutsu review` on 20 paper sessions of the bundled bars: the week's figures against an
//! independent computation from the ledgers, the month's attribution adding up to the cent,
//! the page and the alert.

use std::path::Path;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::common;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn ledger(dir: &Path, day: &str) -> Value {
    let path = dir.join(format!("state/paper/runs/{day}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn dec(v: &Value) -> Decimal {
    match v {
        Value::String(s) => d(s),
        Value::Number(n) => d(&n.to_string()),
        other => panic!("not a number: {other}"),
    }
}

/// 20 paper sessions, 2025-11-03 .. 2025-12-01, each validated.
fn paper_month() -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, config) = common::paper_config("");
    for day in jutsu::domain::calendar::sessions(
        "2025-11-03".parse().unwrap(),
        "2025-12-01".parse().unwrap(),
    ) {
        let day = day.to_string();
        let (code, out, err) = common::trade_at(&config, &day);
        assert_eq!(code, 0, "{out}{err}");
        let (code, out, err) = common::run(
            common::jutsu()
                .arg("-c")
                .arg(&config)
                .args(["validate", "--date", &day]),
        );
        assert_eq!(code, 0, "{out}{err}");
    }
    (dir, config)
}

fn review(config: &Path, args: &[&str]) -> String {
    let (code, out, err) = common::run(
        common::jutsu()
            .arg("-c")
            .arg(config)
            .arg("review")
            .args(args),
    );
    assert_eq!(code, 0, "{out}{err}");
    out
}

/// The percentage after `label` on the line that starts with `line`.
fn figure(text: &str, line: &str, label: &str) -> Decimal {
    let l = text
        .lines()
        .find(|l| l.starts_with(line))
        .unwrap_or_else(|| panic!("no line {line}: {text}"));
    let rest = &l[l.find(label).unwrap_or_else(|| panic!("{label}: {l}")) + label.len()..];
    d(rest
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches('%'))
}

#[test]
fn the_week_and_the_month_agree_with_the_ledgers() {
    let (dir, config) = paper_month();
    let days = |from: &str, to: &str| -> Vec<String> {
        jutsu::domain::calendar::sessions(from.parse().unwrap(), to.parse().unwrap())
            .map(|d| d.to_string())
            .collect()
    };

    // Week 45 is the account's first: from its value before the first run. It traded.
    let w45 = review(&config, &["--week", "2025-W45"]);
    let mut previous = dec(&ledger(dir.path(), "2025-11-03")["equity_before"]);
    let mut growth = Decimal::ONE;
    let (mut ordered, mut filled, mut slips) = (Decimal::ZERO, Decimal::ZERO, Vec::new());
    for day in days("2025-11-03", "2025-11-07") {
        let l = ledger(dir.path(), &day);
        let after = dec(&l["equity_after"]);
        growth *= after / previous;
        previous = after;
        for o in l["orders"].as_array().unwrap() {
            ordered += dec(&o["quantity"]);
            filled += dec(&o["filled"]);
            slips.push(dec(&o["slippage_pct"]));
        }
    }
    let account = ((growth - Decimal::ONE) * Decimal::ONE_HUNDRED).round_dp(2);
    assert_eq!(figure(&w45, "return", "account"), account, "{w45}");
    assert!(!slips.is_empty());
    let mean: Decimal = slips.iter().sum::<Decimal>() / Decimal::from(slips.len());
    assert_eq!(figure(&w45, "slippage", "mean"), mean.round_dp(3), "{w45}");
    assert_eq!(
        figure(&w45, "fill rate", "fill rate"),
        (filled / ordered * Decimal::ONE_HUNDRED).round_dp(2),
        "{w45}"
    );
    assert_eq!(
        figure(&w45, "logic match", "logic match"),
        d("100"),
        "{w45}"
    );
    assert!(w45.contains("backtest "), "{w45}");
    assert!(w45.contains("tracking error "), "{w45}");
    assert!(w45.contains("GO: nothing needs attention"), "{w45}");

    // Week 47 starts from the close of the Friday before.
    let w47 = review(&config, &["--week", "2025-W47"]);
    let start = dec(&ledger(dir.path(), "2025-11-14")["equity_after"]);
    let end = dec(&ledger(dir.path(), "2025-11-21")["equity_after"]);
    assert_eq!(
        figure(&w47, "return", "account"),
        ((end / start - Decimal::ONE) * Decimal::ONE_HUNDRED).round_dp(2),
        "{w47}"
    );
    assert!(w47.starts_with("week 2025-W47: 5 sessions"), "{w47}");

    // The month: the account's change from the ledgers, and the parts add up to the gap.
    let month = review(&config, &["--month", "2025-11"]);
    let before = dec(&ledger(dir.path(), "2025-11-03")["equity_before"]);
    let after = dec(&ledger(dir.path(), "2025-11-28")["equity_after"]);
    let first = month.lines().next().unwrap();
    assert!(
        first.contains(&format!(
            "account {}",
            jutsu::domain::portfolio::cents(after - before)
        )),
        "{month}"
    );
    let amounts: Vec<Decimal> = month
        .lines()
        .skip(1)
        .map(|l| d(l.split_whitespace().last().unwrap()))
        .collect();
    assert_eq!(amounts.len(), 8, "{month}");
    let gap = d(first.rsplit("gap ").next().unwrap());
    assert_eq!(amounts[..7].iter().sum::<Decimal>(), gap, "{month}");
    assert_eq!(amounts[7], gap, "{month}");
    // The simulator charges commission and slippage: both show, against the account.
    assert!(
        amounts[0] < Decimal::ZERO && amounts[4] < Decimal::ZERO,
        "{month}"
    );

    // --json says the same: the week's figures and verdict, the month's parts in cents.
    let json: Value = serde_json::from_str(&review(&config, &["--week", "2025-W45", "--json"]))
        .expect("review --json prints one JSON object");
    assert_eq!(json["week"], "2025-W45", "{json}");
    assert_eq!(json["mode"], "paper", "{json}");
    assert_eq!(json["go"], true, "{json}");
    assert_eq!(json["sessions"], 5, "{json}");
    assert_eq!(
        dec(&json["account_return_pct"]).round_dp(2),
        account,
        "{json}"
    );
    let json: Value = serde_json::from_str(&review(&config, &["--month", "2025-11", "--json"]))
        .expect("review --month --json prints one JSON object");
    let parts = &json["attribution"];
    let part = |key: &str| {
        let text = parts[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key}: {json}"));
        assert_eq!(
            text.split_once('.').map(|(_, c)| c.len()),
            Some(2),
            "{key}: {text}"
        );
        d(text)
    };
    assert_eq!(
        part("account_change"),
        jutsu::domain::portfolio::round_cents(after - before),
        "{json}"
    );
    let sum: Decimal = [
        "slippage",
        "timing",
        "logic",
        "rounding",
        "commissions",
        "dividends",
        "flows",
    ]
    .map(part)
    .iter()
    .sum();
    assert_eq!(sum, gap, "{json}");
    assert_eq!(part("total"), gap, "{json}");
    let json: Value = serde_json::from_str(&review(&config, &["--month", "2025-06", "--json"]))
        .expect("a month without runs is JSON too");
    assert_eq!(json["note"], "no completed run", "{json}");
}

#[test]
fn the_review_is_a_page_and_an_alert_and_needs_attention_on_a_bad_week() {
    let (dir, config) = paper_month();
    // A validation that was not GREEN is a warning of its week, with its date.
    let csv = dir.path().join("logs/validation.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    std::fs::write(
        &csv,
        text.replace("2025-11-25,paper,GREEN,100", "2025-11-25,paper,RED,90"),
    )
    .unwrap();
    let hook = dir.path().join("hook.txt");
    let page = dir.path().join("review.html");
    let (server, url) = common_hook(&hook);
    std::fs::write(
        &config,
        format!(
            "{}alerts:\n  webhook_url: {url}\n",
            std::fs::read_to_string(&config).unwrap()
        ),
    )
    .unwrap();
    let out = review(
        &config,
        &[
            "--week",
            "2025-W48",
            "--html",
            page.to_str().unwrap(),
            "--send",
        ],
    );
    assert!(out.contains("2025-11-25 warning: validate RED"), "{out}");
    assert!(out.contains("NEEDS ATTENTION: logic match"), "{out}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<pre>week 2025-W48"), "{html}");
    let posted = server.join().unwrap();
    assert!(posted.contains("review"), "{posted}");
    assert!(posted.contains("NEEDS ATTENTION"), "{posted}");
}

/// A one-shot HTTP server that answers 200 and returns what was posted.
fn common_hook(_file: &Path) -> (std::thread::JoinHandle<String>, String) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = stream.read(&mut buf).unwrap_or(0);
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).to_string();
            if n == 0 || body_complete(&text) {
                break;
            }
        }
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        String::from_utf8_lossy(&got).into_owned()
    });
    (handle, url)
}

fn body_complete(text: &str) -> bool {
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    body.len() >= length
}
