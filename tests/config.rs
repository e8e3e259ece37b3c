//! Configuration: every problem at once with its key path, secrets only from the
//! environment and never shown.

use crate::common;

use std::path::Path;

use crate::common::{jutsu, run};

fn write(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("jutsu.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn shipped_config_is_valid() {
    let (code, stdout, stderr) = run(jutsu().args(["config", "check"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("OK (mode paper"), "{stdout}");
}

#[test]
fn shipped_strategy_parameters_are_the_golden_ones() {
    let loaded = jutsu::config::load(Path::new("config/jutsu.yaml")).unwrap();
    let golden: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(common::fixtures().join("reference/golden_params.yaml")).unwrap(),
    )
    .unwrap();
    let ours = serde_norway::to_value(&loaded.config.strategy.parameters).unwrap();
    for (key, value) in golden["strategy"].as_mapping().unwrap() {
        let ours = &ours[key.as_str().unwrap()];
        let same = match (value.as_f64(), ours.as_f64()) {
            (Some(a), Some(b)) => a == b,
            _ => value == ours,
        };
        assert!(same, "{key:?}: golden {value:?}, shipped {ours:?}");
    }
}

#[test]
fn every_problem_is_reported_at_once_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "mode: livee\nbogus: 1\nschedule:\n  tolerance: 3\nexecution:\n  min_trade_pct: 150\n\
         schwab:\n  trader_base_url: http://api.schwabapi.com/trader/v1\n\
         strategy:\n  parameters:\n    sma_fast: 140\n    sma_slow: 40\n    osc_smoothness: ten\n\
         \x20   leverage_scalar: 2.0\n    w_psq_max: 0.5\n",
    );
    let (code, _, stderr) = run(jutsu().args(["-c", path.to_str().unwrap(), "config", "check"]));
    assert_eq!(code, 2, "{stderr}");
    for needle in [
        "bogus: unknown key",
        "mode: unknown variant `livee`",
        "schedule.tolerance: unknown key",
        "execution.min_trade_pct (150) must be between 0 and 100",
        "schwab.trader_base_url (http://api.schwabapi.com/trader/v1) must use https",
        "strategy.parameters.sma_fast (140) must be < sma_slow (40)",
        "strategy.parameters.osc_smoothness: invalid type: string \"ten\"",
        "strategy.parameters.leverage_scalar (2) must be between 0.5 and 1.5",
        "strategy.parameters.w_psq_max: unknown key (did you mean w_PSQ_max?)",
        "data.dir: ",
        "10 configuration problem(s)",
    ] {
        assert!(stderr.contains(needle), "missing `{needle}` in:\n{stderr}");
    }
}

#[test]
fn strategy_rules_of_the_original_constructor() {
    let cases = [
        (
            "t_norm_bull_thresh: -0.1",
            "t_norm_bull_thresh (-0.1) must be > 0",
        ),
        (
            "t_norm_bear_thresh: 0.1",
            "t_norm_bear_thresh (0.1) must be < 0",
        ),
        (
            "upper_thresh_z: 0.1",
            "upper_thresh_z (0.1) must be > lower_thresh_z (0.2)",
        ),
        (
            "vol_crush_threshold: 0.2",
            "vol_crush_threshold (0.2) must be < 0",
        ),
        ("w_PSQ_max: 0", "w_PSQ_max (0) must be > 0 and <= 1"),
        (
            "rebalance_threshold: 0",
            "rebalance_threshold (0) must be > 0",
        ),
        (
            "bond_sma_fast: 80",
            "bond_sma_fast (80) must be < bond_sma_slow (60)",
        ),
        (
            "max_bond_weight: 1.5",
            "max_bond_weight (1.5) must be between 0 and 1",
        ),
        (
            "execution_time: 5min_before_close",
            "unknown variant `5min_before_close`",
        ),
        (
            "execution_time: 15min_after_open",
            "execution_time must be close",
        ),
    ];
    for (line, needle) in cases {
        let text = format!("strategy:\n  parameters:\n    {line}\n");
        let problems = jutsu::config::parse(&text).unwrap_err();
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "{line}: {problems:?}"
        );
    }
}

#[test]
fn missing_secret_variable_is_named_and_no_value_is_ever_shown() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "mode: live\ndata:\n  source: schwab\nschwab:\n  app_key_env: JUTSU_TEST_KEY\n  app_secret_env: JUTSU_TEST_SECRET\n",
    );
    let cfg = path.to_str().unwrap();
    let (code, _, stderr) = run(jutsu()
        .args(["-c", cfg, "config", "check"])
        .env_remove("JUTSU_TEST_KEY")
        .env_remove("JUTSU_TEST_SECRET"));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("environment variable JUTSU_TEST_KEY is not set"),
        "{stderr}"
    );
    assert!(
        stderr.contains("environment variable JUTSU_TEST_SECRET is not set"),
        "{stderr}"
    );

    let key = "k3y-VALUE-that-must-not-leak";
    let secret = "s3cret-VALUE-that-must-not-leak";
    for args in [
        vec!["-c", cfg, "-vv", "config", "check"],
        vec!["-c", cfg, "-vv", "--log-format", "json", "config", "check"],
        vec!["-c", cfg, "-vv", "config", "show"],
    ] {
        let (code, stdout, stderr) = run(jutsu()
            .args(&args)
            .env("JUTSU_TEST_KEY", key)
            .env("JUTSU_TEST_SECRET", secret));
        assert_eq!(code, 0, "{args:?}: {stderr}");
        let all = format!("{stdout}{stderr}");
        assert!(
            !all.contains(key) && !all.contains(secret),
            "{args:?} leaked:\n{all}"
        );
        assert!(all.contains("[REDACTED]"), "{args:?}: {all}");
    }
}

#[test]
fn secret_pasted_into_an_env_key_is_refused_without_echoing_it() {
    let problems =
        jutsu::config::parse("schwab:\n  app_secret_env: \"xY9+/secret==\"\n").unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("schwab.app_secret_env must name an environment variable"));
    assert!(!problems[0].contains("xY9"));
}

#[test]
fn unreadable_or_malformed_files_are_usage_errors() {
    let (code, _, stderr) = run(jutsu().args(["-c", "/nonexistent/jutsu.yaml", "config", "check"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("/nonexistent/jutsu.yaml: 1 configuration problem(s)"),
        "{stderr}"
    );
    assert!(stderr.contains("cannot read the file"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "mode: [unclosed\n");
    let (code, _, stderr) = run(jutsu().args(["-c", path.to_str().unwrap(), "config", "check"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("not valid YAML"), "{stderr}");
}

#[test]
fn acting_commands_write_daily_log_files_in_json_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let data = common::bars_dir();
    let path = write(
        dir.path(),
        &format!(
            "paths:\n  logs_dir: {}\ndata:\n  dir: {}\n",
            logs.display(),
            data.display()
        ),
    );
    let in_json = |args: &[&str]| {
        run(jutsu()
            .args(["-c", path.to_str().unwrap(), "--log-format", "json"])
            .args(args))
    };
    let (code, stdout, stderr) = in_json(&["trade", "--as-of", "2024-03-15"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let files: Vec<_> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "trades.csv"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        name.starts_with("jutsu.") && name.ends_with(".jsonl"),
        "{name}"
    );
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["fields"]["message"], "jutsu trade starts");
    for line in text.lines() {
        let _: serde_json::Value = serde_json::from_str(line).unwrap();
    }
    // A backtest only reads: it writes no daily log (nor in text: tests/readonly.rs).
    let (code, _, stderr) = in_json(&["backtest", "--from", "2024-01-01", "--to", "2024-03-31"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read_to_string(&files[0]).unwrap(), text);
    assert!(stderr.contains("\"backtest finished\""), "{stderr}");
}

#[test]
fn unknown_keys_get_the_nearest_known_key_and_missing_secrets_come_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "mode: live\ndata:\n  source: schwab\nrisk:\n  max_drfit_pct: 5\n\
         strategy:\n  parameters:\n    sma_fastt: 40\nexectuion:\n  order_timeout_s: 5\n\
         schwab:\n  app_key_env: T_KEY_MISSING\n  app_secret_env: T_SECRET_MISSING\n",
    );
    let (code, _, stderr) = run(jutsu()
        .env_remove("T_KEY_MISSING")
        .env_remove("T_SECRET_MISSING")
        .args(["-c", path.to_str().unwrap(), "config", "check"]));
    assert_eq!(code, 2, "{stderr}");
    for needle in [
        "risk.max_drfit_pct: unknown key (did you mean max_drift_pct?)",
        "strategy.parameters.sma_fastt: unknown key (did you mean sma_fast?)",
        "exectuion: unknown key (did you mean execution?)",
        "environment variable T_KEY_MISSING is not set",
        "environment variable T_SECRET_MISSING is not set",
        "5 configuration problem(s)",
    ] {
        assert!(stderr.contains(needle), "missing `{needle}` in\n{stderr}");
    }
    // `trade` lists the same problems at once.
    let (code, _, stderr) = run(jutsu()
        .env_remove("T_KEY_MISSING")
        .env_remove("T_SECRET_MISSING")
        .args(["-c", path.to_str().unwrap(), "trade"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("5 configuration problem(s)"), "{stderr}");
    // A key far from every known one gets no guess.
    let path = write(dir.path(), "risk:\n  banana: 1\n");
    let (_, _, stderr) = run(jutsu().args(["-c", path.to_str().unwrap(), "config", "check"]));
    assert!(
        stderr.contains("risk.banana: unknown key\n")
            || stderr.trim_end().ends_with("risk.banana: unknown key"),
        "{stderr}"
    );
}

#[test]
fn a_type_error_hides_no_range_error_of_its_section_and_a_missing_data_folder_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "mode: paper\ndata:\n  dir: nowhere\nexecution:\n  max_quote_age_s: abc\n  \
         max_buying_power_pct: 150\n  min_trade_pct: -1\n  slippage_warn_pct: -2\n  \
         max_order_retries: -3\n  limit_collar_pct: -1\n  max_spread_pct: -1\n",
    );
    let (code, stdout, stderr) = run(jutsu().arg("-c").arg(&config).args(["config", "check"]));
    assert_eq!(code, 2, "{stdout}{stderr}");
    for expected in [
        "execution.max_quote_age_s: invalid type",
        "execution.max_order_retries: invalid value",
        "execution.max_buying_power_pct (150) must be between 1 and 100",
        "execution.min_trade_pct (-1)",
        "execution.slippage_warn_pct (-2)",
        "execution.limit_collar_pct (-1)",
        "execution.max_spread_pct (-1)",
        "data.dir: ",
    ] {
        assert_eq!(stderr.matches(expected).count(), 1, "{expected}: {stderr}");
    }
    assert!(stderr.contains("8 configuration problem(s)"), "{stderr}");
    assert!(stderr.contains("nowhere is not a folder"), "{stderr}");
}

#[test]
fn live_on_the_bundled_bars_is_listed_with_the_missing_secrets() {
    let (code, _, stderr) = run(jutsu()
        .env_remove("SCHWAB_APP_KEY")
        .env_remove("SCHWAB_APP_SECRET")
        .args(["trade", "--mode", "live"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("3 configuration problem(s)"), "{stderr}");
    assert!(stderr.contains("SCHWAB_APP_KEY is not set"), "{stderr}");
    assert!(
        stderr.contains("data.source is local (the bundled bars) but the mode is live"),
        "{stderr}"
    );
}
