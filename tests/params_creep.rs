//! Parameter creep: `config check` and `health` name every strategy parameter that differs
//! from the published v3.5b ("Titan") set, with both values; with `strategy.expect: titan`
//! a difference is an error in live mode (config check exit 2, a live trade refuses at
//! preflight with exit 2 and sends nothing).

use crate::common;
use crate::common::fake_schwab::FakeSchwab;
use crate::common::{jutsu, run};

const SESSION: &str = "2025-06-10";
const NOW: &str = "2025-06-10T19:55:00Z"; // 15:55 ET

/// Two parameters changed from the published set (10 and 0.05 there).
const CREPT: &str = "  parameters:\n    osc_smoothness: 15\n    t_norm_bull_thresh: 0.2\n";

fn cmd(config: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    run(jutsu().arg("-c").arg(config).args(args))
}

#[test]
fn config_check_and_health_list_each_difference_with_both_values() {
    let (_dir, config) = common::paper_config(&format!("strategy:\n{CREPT}"));
    let (code, stdout, stderr) = cmd(&config, &["config", "check"]);
    assert_eq!(code, 0, "paper mode allows differences: {stdout}{stderr}");
    assert!(
        stdout.contains(
            "strategy parameters: 2 differ from the published v3.5b (Titan) set: \
             osc_smoothness 15 (published 10), t_norm_bull_thresh 0.2 (published 0.05)"
        ),
        "{stdout}"
    );
    let (_, stdout, _) = cmd(&config, &["health"]);
    assert!(
        stdout.contains("[warn] params    2 differ from the published v3.5b (Titan) set: osc_smoothness 15 (published 10), t_norm_bull_thresh 0.2 (published 0.05)"),
        "{stdout}"
    );
    let (_, json, _) = cmd(&config, &["health", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let params = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "params")
        .unwrap();
    assert_eq!(params["status"], "warn");
}

#[test]
fn the_shipped_parameters_are_the_published_set() {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/jutsu.yaml");
    let (code, stdout, stderr) = cmd(&shipped, &["config", "check"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("strategy parameters: the published v3.5b (Titan) set"),
        "{stdout}"
    );
    // The same parameter written with its published value is no difference.
    let (_dir, config) =
        common::paper_config("strategy:\n  expect: titan\n  parameters:\n    osc_smoothness: 10\n");
    let (code, stdout, _) = cmd(&config, &["health"]);
    assert!(
        stdout.contains("[ok  ] params    the published v3.5b (Titan) set"),
        "{code} {stdout}"
    );
}

#[test]
fn expect_titan_makes_a_difference_an_error_in_live_mode_only() {
    // Paper mode: listed, allowed.
    let (_dir, paper) = common::paper_config(&format!("strategy:\n  expect: titan\n{CREPT}"));
    assert_eq!(cmd(&paper, &["config", "check"]).0, 0);
    // Live mode: every difference is a configuration problem, each with its key.
    let dir = tempfile::tempdir().unwrap();
    let live = common::live_config(
        dir.path(),
        "https://api.schwabapi.com",
        "",
        "",
        &format!("strategy:\n  expect: titan\n{CREPT}"),
    );
    let (code, stdout, stderr) = common::run_live(&live, NOW, &["config", "check"]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    for needle in [
        "strategy.parameters.osc_smoothness is 15, the published v3.5b (Titan) set has 10",
        "strategy.parameters.t_norm_bull_thresh is 0.2, the published v3.5b (Titan) set has 0.05",
    ] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    assert!(
        stderr.contains("2 configuration problem(s)"),
        "one per parameter: {stderr}"
    );
    // The same parameters without `expect` are allowed in live mode too.
    let allowed = common::live_config(
        dir.path(),
        "https://api.schwabapi.com",
        "",
        "",
        &format!("strategy:\n{CREPT}"),
    );
    let (code, stdout, stderr) = common::run_live(&allowed, NOW, &["config", "check"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("2 differ"), "{stdout}");
}

#[test]
fn a_live_trade_with_crept_parameters_refuses_at_preflight_and_sends_nothing() {
    let fake = FakeSchwab::start(SESSION, NOW, 20_000.0, &[], "A-creep-access-1");
    let dir = tempfile::tempdir().unwrap();
    let config = common::live_at(
        dir.path(),
        &fake.url,
        NOW,
        "A-creep-access-1",
        &format!("strategy:\n  expect: titan\n{CREPT}"),
    );
    let (code, stdout, stderr) = common::run_live(&config, NOW, &["trade"]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "FAILED: usage or configuration at preflight: strategy.expect titan: the strategy parameters differ from the \
             published v3.5b (Titan) set, and a live run refuses that: osc_smoothness 15 \
             (published 10), t_norm_bull_thresh 0.2 (published 0.05) (exit 2)"
        ),
        "{stdout}"
    );
    assert_eq!(fake.order_calls(), (0, 0), "nothing was sent");
    assert!(fake.orders().is_empty());
    // health says the same in live mode, as an error.
    let (code, stdout, _) = common::run_live(&config, NOW, &["health"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("[fail] params    2 differ from the published v3.5b (Titan) set: osc_smoothness 15 (published 10), t_norm_bull_thresh 0.2 (published 0.05); strategy.expect titan refuses them in live mode"),
        "{stdout}"
    );
    // Paper mode on the same file runs them (the mode decides, not the file).
    let (code, stdout, _) = common::run_live(&config, NOW, &["health", "--mode", "paper"]);
    assert!(stdout.contains("[warn] params"), "{code} {stdout}");
}
