//! One truth across commands (#24): one name for each flag (the old one a hidden alias),
//! `--json` with documented shapes, replay as a table, prices to the cent, stale quotes
//! warned of, and no line with a run of spaces inside its text.

use crate::common;

fn jutsu_at(config: &std::path::Path, now: &str, args: &[&str]) -> (i32, String, String) {
    common::run(
        common::jutsu()
            .env("JUTSU_NOW", now)
            .arg("-c")
            .arg(config)
            .args(args),
    )
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// A paper account with two runs on the bundled bars, 2025-12-10 and 2025-12-11.
fn two_runs() -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, config) = common::paper_config("");
    for day in ["2025-12-10T15:55", "2025-12-11T15:55"] {
        let (code, out, err) = common::trade_at(&config, day);
        assert_eq!(code, 0, "{out}{err}");
    }
    (dir, config)
}

#[test]
fn help_shows_the_new_flag_names_and_the_old_ones_still_work() {
    let (_dir, config) = two_runs();
    let now = "2025-12-11T22:00:00Z";
    for (command, new, old) in [
        (&["validate"][..], "--as-of", "--date"),
        (&["data", "check"], "--data-dir", "--dir"),
        (&["backtest"], "--csv", "--out"),
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let (_, help, _) = jutsu_at(&config, now, &args);
        assert!(help.contains(new), "{command:?} --help: {help}");
        assert!(
            !help.contains(&format!("{old} ")) && !help.contains(&format!("{old}=")),
            "{command:?} --help names the old {old}: {help}"
        );
    }
    let (a, out_a, _) = jutsu_at(&config, now, &["validate", "--as-of", "2025-12-11"]);
    let (b, out_b, _) = jutsu_at(&config, now, &["validate", "--date", "2025-12-11"]);
    assert_eq!((a, b), (0, 0), "{out_a}{out_b}");
    assert_eq!(out_a, out_b);
    let bars = common::bars_dir();
    let bars = bars.to_str().unwrap();
    let (a, out_a, _) = jutsu_at(&config, now, &["data", "check", "--data-dir", bars]);
    let (b, out_b, _) = jutsu_at(&config, now, &["data", "check", "--dir", bars]);
    assert_eq!((a, b, &out_a), (0, 0, &out_b));
    let csv = config.with_file_name("daily.csv");
    let old = config.with_file_name("daily-old.csv");
    let range = ["--from", "2025-06-02", "--to", "2025-06-30"];
    for (flag, path) in [("--csv", &csv), ("--out", &old)] {
        let mut args = vec!["backtest", flag, path.to_str().unwrap()];
        args.extend(range);
        let (code, out, err) = jutsu_at(&config, now, &args);
        assert_eq!(code, 0, "{out}{err}");
    }
    assert_eq!(std::fs::read(&csv).unwrap(), std::fs::read(&old).unwrap());
}

#[test]
fn validate_report_backtest_and_data_check_print_json_with_the_documented_shape() {
    let (_dir, config) = two_runs();
    let now = "2025-12-11T22:00:00Z";
    let (code, out, _) = jutsu_at(
        &config,
        now,
        &["validate", "--as-of", "2025-12-11", "--json"],
    );
    assert_eq!(code, 0, "{out}");
    let v = json(&out);
    assert_eq!(v["verdict"], "GREEN", "{v}");
    assert_eq!(v["session"], "2025-12-11");
    assert_eq!(v["cell"]["run"], v["cell"]["close"]);
    assert!(
        v["drift_pct"]["QQQ"].is_string() && v["rolling"]["sessions"].is_u64(),
        "{v}"
    );

    let (code, out, _) = jutsu_at(&config, now, &["report", "--json"]);
    assert_eq!(code, 0, "{out}");
    let r = json(&out);
    let sessions = r["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{r}");
    assert_eq!(sessions[1]["date"], "2025-12-11");
    // Money to the cent, as the text prints it.
    let equity = sessions[1]["equity"].as_str().unwrap();
    assert_eq!(equity.split('.').nth(1).map(str::len), Some(2), "{equity}");
    assert!(
        r["statistics"]["paper account"]["final_value"].is_string(),
        "{r}"
    );
    assert!(r["statistics"]["backtest"]["sharpe"].is_number(), "{r}");

    let range = ["--from", "2025-06-02", "--to", "2025-06-30", "--json"];
    let mut args = vec!["backtest"];
    args.extend(range);
    let (code, out, _) = jutsu_at(&config, now, &args);
    assert_eq!(code, 0, "{out}");
    let b = json(&out);
    assert_eq!(b["from"], "2025-06-02");
    assert_eq!(
        b["statistics"]["strategy"]["initial_value"], "10000.00",
        "{b}"
    );
    assert!(b["statistics"]["QQQ buy and hold"]["max_drawdown"]["depth_pct"].is_number());

    let (code, out, _) = jutsu_at(&config, now, &["data", "check", "--json"]);
    assert_eq!(code, 0, "{out}");
    let d = json(&out);
    assert_eq!(d["ok"], true);
    assert_eq!(d["symbols"].as_array().unwrap().len(), 6, "{d}");
    assert_eq!(d["symbols"][0]["problems"], serde_json::json!([]));
}

#[test]
fn replay_prints_a_table_with_the_weights_by_symbol_and_json_on_request() {
    let (_dir, config) = two_runs();
    let now = "2025-12-11T22:00:00Z";
    let (code, out, _) = jutsu_at(&config, now, &["replay", "2025-12-10"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains("\"legs\"") && !out.contains('{'),
        "raw JSON: {out}"
    );
    let header = out.lines().nth(1).unwrap();
    assert!(
        header.contains("recorded") && header.contains("replayed"),
        "{out}"
    );
    let tqqq = out.lines().find(|l| l.contains("TQQQ weight")).unwrap();
    assert!(tqqq.contains("60.0%") && tqqq.ends_with(" ="), "{out}");
    assert!(out.contains("the same decision"), "{out}");
    let (code, out, _) = jutsu_at(&config, now, &["replay", "2025-12-10", "--json"]);
    assert_eq!(code, 0, "{out}");
    let r = json(&out);
    assert_eq!(r["same_decision"], true, "{r}");
    let weights = r["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "weights")
        .unwrap();
    assert_eq!(weights["recorded"], weights["replayed"]);
}

#[test]
fn status_prints_prices_to_the_cent() {
    let (_dir, config) = two_runs();
    // A month after the bundled bars end, by the machine's clock: status stands at the
    // account's last session all the same, its quotes that session's closes.
    let (code, out, err) = jutsu_at(&config, "2026-02-02T20:00:00Z", &["status"]);
    assert!(code <= 1, "{out}{err}");
    let qqq = out
        .lines()
        .find(|l| l.trim_start().starts_with("QQQ"))
        .unwrap();
    let price = qqq
        .split(" x ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    assert_eq!(price.split('.').nth(1).map(str::len), Some(2), "{qqq}");
    assert!(
        !out.contains("WARNING: the quotes are"),
        "the account's own quotes: {out}"
    );
}

/// The text of a line a person reads as a sentence, without the layout around it: a
/// checklist line without its mark, stage name and timing; a warning or an error whole.
/// Tables (aligned columns) are neither.
fn sentence(line: &str) -> Option<&str> {
    let text = line.trim();
    if let Some(rest) = text.strip_prefix('[').and_then(|t| t.split_once("] ")) {
        let summary = rest.1.trim_start();
        let summary = summary.split_once(' ').map_or("", |(_, s)| s.trim_start());
        return Some(summary.rsplit_once("  (").map_or(summary, |(s, _)| s));
    }
    let lower = text.to_ascii_lowercase();
    (lower.starts_with("warning") || lower.starts_with("error") || lower.starts_with("what to do"))
        .then_some(text)
}

#[test]
fn no_warning_or_sentence_printed_has_a_run_of_spaces_inside_its_text() {
    let (_dir, config) = two_runs();
    let now = "2025-12-19T20:00:00Z";
    let mut seen = Vec::new();
    for args in [
        &["trade", "--as-of", "2025-12-12T15:55"][..],
        &["status"],
        &["health"],
        &["report"],
        &["validate", "--as-of", "2025-12-11"],
    ] {
        let (_, out, err) = jutsu_at(&config, now, args);
        for line in out.lines().chain(err.lines()) {
            if sentence(line).is_some_and(|s| s.contains("   ")) {
                seen.push(format!("{args:?}: {line:?}"));
            }
        }
    }
    assert!(seen.is_empty(), "{seen:#?}");
}

/// A tick value is round: 1, 2 or 5 times a power of ten, or a multiple of such a step.
fn round_value(v: f64) -> bool {
    let v = v.abs();
    v == 0.0 || {
        let power = 10f64.powf(v.log10().floor());
        let m = v / power;
        (m - m.round()).abs() < 1e-6
    }
}

#[test]
fn a_sixteen_year_backtest_page_has_a_log_axis_with_round_ticks_and_no_validation() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bt.html");
    let (code, out, err) = common::run(common::jutsu().current_dir(dir.path()).args([
        "backtest",
        "--data-dir",
        common::bars_dir().to_str().unwrap(),
        "--from",
        "2010-01-04",
        "--html",
        page.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let html = std::fs::read_to_string(&page).unwrap();
    let equity = &html[html.find("id=\"equity\"").unwrap()..html.find("id=\"drawdown\"").unwrap()];
    assert!(equity.contains(">log scale</text>"), "no log axis");
    let labels: Vec<f64> = equity
        .split("text-anchor=\"end\">")
        .skip(1)
        .filter_map(|t| t.split('<').next())
        .filter_map(|t| t.strip_prefix('$'))
        .map(|t| t.replace(',', "").parse().unwrap())
        .collect();
    assert!(labels.len() >= 3, "{labels:?}");
    assert!(labels.iter().all(|v| round_value(*v)), "{labels:?}");
    assert!(
        labels.contains(&10_000.0) && labels.contains(&100_000.0),
        "{labels:?}"
    );
    let drawdown = &html[html.find("id=\"drawdown\"").unwrap()..];
    let pcts: Vec<f64> = drawdown
        .split("text-anchor=\"end\">")
        .skip(1)
        .filter_map(|t| t.split(" %<").next())
        .filter_map(|t| t.parse().ok())
        .collect();
    assert!(
        pcts.len() >= 3 && pcts.iter().all(|v| round_value(*v) && v % 5.0 == 0.0),
        "{pcts:?}"
    );
    assert!(
        equity.contains("cell 3: sideways, low volatility"),
        "regime legend"
    );
    assert!(
        !html.contains("id=\"validation\""),
        "a backtest has no validation"
    );
}
