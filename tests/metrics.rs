//! `metrics.textfile`: the Prometheus file after each command that acts, checked by
//! `promtool check metrics` (Debian's prometheus package; `.ci/run` installs it), and the
//! Grafana dashboard in deploy/ reading only metrics that jutsu writes.

use crate::common;
use crate::common::fake_schwab::FakeSchwab;
use crate::common::{jutsu, run};

/// `promtool check metrics`, when promtool is here: without it a test says once that it
/// skips the check (`common::have`) and makes the rest of its assertions.
struct Promtool(bool);

impl Promtool {
    fn here() -> Self {
        Promtool(common::have(&common::PROMTOOL, "the promtool check"))
    }

    /// Asserts that promtool accepts `text` as a metrics file, with nothing to say about it.
    fn accepts(&self, text: &str) {
        use std::io::Write;
        if !self.0 {
            return;
        }
        let mut child = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && said.trim().is_empty(),
            "promtool: {said}\n{text}"
        );
    }
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#')).collect()
}

#[test]
fn paper_trade_and_validate_write_a_file_promtool_accepts() {
    let promtool = Promtool::here();
    let (dir, config) = common::paper_config("metrics:\n  textfile: metrics/jutsu.prom\n");
    let cfg = config.to_str().unwrap();
    let file = dir.path().join("metrics/jutsu.prom");
    let (code, stdout, _) = run(jutsu().env("JUTSU_NOW", "2025-12-12T20:55:00Z").args([
        "-c",
        cfg,
        "trade",
        "--as-of",
        "2025-12-12T15:55",
    ]));
    assert_eq!(code, 0, "{stdout}");
    let text = std::fs::read_to_string(&file).unwrap();
    promtool.accepts(&text);
    let samples = lines(&text);
    for expected in [
        "jutsu_command_last_run_timestamp_seconds{command=\"trade\",mode=\"paper\"} 1765572900",
        "jutsu_command_last_exit_code{command=\"trade\",mode=\"paper\"} 0",
        "jutsu_command_last_outcome{command=\"trade\",mode=\"paper\",outcome=\"OK\"} 1",
        "jutsu_equity_dollars{mode=\"paper\"} 9990.19",
        "jutsu_cash_dollars{mode=\"paper\"} 672.41",
        "jutsu_position_shares{mode=\"paper\",symbol=\"QQQ\"} 12",
        "jutsu_position_value_dollars{mode=\"paper\",symbol=\"TQQQ\"} 1954.34",
        "jutsu_last_fill_slippage_ratio{mode=\"paper\",symbol=\"QQQ\",side=\"BUY\"} 0.001",
        "jutsu_missed_sessions{mode=\"paper\"} 0",
        "jutsu_halted{mode=\"paper\"} 0",
    ] {
        assert!(samples.contains(&expected), "{expected} missing:\n{text}");
    }
    // No validation yet, no Schwab login in paper: those series are absent, not zero.
    assert!(!text.contains("jutsu_last_validation_verdict{"), "{text}");
    assert!(!text.contains("jutsu_schwab_login"), "{text}");

    let (code, stdout, _) = run(jutsu().env("JUTSU_NOW", "2025-12-12T22:00:00Z").args([
        "-c",
        cfg,
        "validate",
        "--date",
        "2025-12-12",
    ]));
    assert_eq!(code, 0, "{stdout}");
    let text = std::fs::read_to_string(&file).unwrap();
    promtool.accepts(&text);
    let samples = lines(&text);
    for expected in [
        // The trade run's line is kept beside the validation's.
        "jutsu_command_last_exit_code{command=\"trade\",mode=\"paper\"} 0",
        "jutsu_command_last_exit_code{command=\"validate\",mode=\"paper\"} 0",
        "jutsu_last_validation_verdict{mode=\"paper\",verdict=\"GREEN\"} 1",
        "jutsu_last_validation_verdict{mode=\"paper\",verdict=\"RED\"} 0",
        "jutsu_last_validation_logic_match_ratio{mode=\"paper\"} 1",
    ] {
        assert!(samples.contains(&expected), "{expected} missing:\n{text}");
    }
    // Nothing but the file itself in its folder (the temporary file was renamed).
    let names: Vec<_> = std::fs::read_dir(dir.path().join("metrics"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["jutsu.prom"]);
}

#[test]
fn a_failed_run_and_missed_sessions_show_in_the_file() {
    let promtool = Promtool::here();
    let (dir, config) = common::paper_config("metrics:\n  textfile: jutsu.prom\n");
    let cfg = config.to_str().unwrap();
    assert_eq!(
        run(jutsu().args(["-c", cfg, "trade", "--as-of", "2025-12-10"])).0,
        0
    );
    // 2025-12-11 is skipped (missed); 2025-12-12's run fails at the risk gate (as of that
    // run, its own session is not missed yet).
    std::fs::write(
        &config,
        std::fs::read_to_string(&config).unwrap() + "risk:\n  max_position_pct: 50\n",
    )
    .unwrap();
    let (code, stdout, _) = run(jutsu().args(["-c", cfg, "trade", "--as-of", "2025-12-12"]));
    assert_eq!(code, 3, "{stdout}");
    let text = std::fs::read_to_string(dir.path().join("jutsu.prom")).unwrap();
    promtool.accepts(&text);
    let samples = lines(&text);
    for expected in [
        "jutsu_command_last_exit_code{command=\"trade\",mode=\"paper\"} 3",
        "jutsu_command_last_outcome{command=\"trade\",mode=\"paper\",outcome=\"FAILED\"} 1",
        "jutsu_missed_sessions{mode=\"paper\"} 1",
    ] {
        assert!(samples.contains(&expected), "{expected} missing:\n{text}");
    }
}

#[test]
fn a_textfile_that_node_exporter_would_not_read_is_refused() {
    let (_dir, config) = common::paper_config("metrics:\n  textfile: jutsu.txt\n");
    let (code, _, stderr) = run(jutsu().args(["-c", config.to_str().unwrap(), "config", "check"]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("metrics.textfile (jutsu.txt) must end in .prom"),
        "{stderr}"
    );
}

/// Every `jutsu_*` name in the dashboard's queries.
fn dashboard_metrics() -> Vec<String> {
    let text = std::fs::read_to_string("deploy/grafana/jutsu-dashboard.json").unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut names = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(at) = rest.find("jutsu_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                names.push(name);
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

#[test]
fn a_live_run_writes_the_login_and_the_dashboard_reads_only_written_metrics() {
    let promtool = Promtool::here();
    const NOW: &str = "2025-06-10T19:55:00Z";
    let fake = FakeSchwab::start("2025-06-10", NOW, 20_000.0, &[], "A-secret-value-3");
    let dir = tempfile::tempdir().unwrap();
    let config = common::live_at(
        dir.path(),
        &fake.url,
        NOW,
        "A-secret-value-3",
        "metrics:\n  textfile: jutsu.prom\n",
    );
    let (code, stdout, stderr) = common::run_live(&config, NOW, &["trade"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let text = std::fs::read_to_string(dir.path().join("jutsu.prom")).unwrap();
    promtool.accepts(&text);
    // The 7-day refresh token is a day old.
    assert!(
        lines(&text).contains(&"jutsu_schwab_login_remaining_seconds 518400"),
        "{text}"
    );
    assert!(!text.contains("secret-value"), "{text}");
    // With a paper day validated beside it, every series the dashboard reads is written.
    let (paper, config) = common::paper_config("metrics:\n  textfile: jutsu.prom\n");
    let cfg = config.to_str().unwrap();
    assert_eq!(
        run(jutsu().args(["-c", cfg, "trade", "--as-of", "2025-12-12"])).0,
        0
    );
    assert_eq!(
        run(jutsu().env("JUTSU_NOW", "2025-12-12T22:00:00Z").args([
            "-c",
            cfg,
            "validate",
            "--date",
            "2025-12-12"
        ]))
        .0,
        0
    );
    let both = text + &std::fs::read_to_string(paper.path().join("jutsu.prom")).unwrap();
    for name in dashboard_metrics() {
        assert!(
            both.contains(&format!("\n{name}{{")) || both.contains(&format!("\n{name} ")),
            "the dashboard reads {name}, which jutsu does not write:\n{both}"
        );
    }
}

/// `metrics::a_failed_run_and_missed_sessions_show_in_the_file` alone, in this test binary,
/// on a PATH where no program is found: (exit code, stdout and stderr).
fn run_without_tools(require: bool) -> (i32, String) {
    let empty = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "metrics::a_failed_run_and_missed_sessions_show_in_the_file",
        "--exact",
    ])
    .env("PATH", empty.path())
    .env_remove("JUTSU_TEST_REQUIRE_TOOLS");
    if require {
        cmd.env("JUTSU_TEST_REQUIRE_TOOLS", "1");
    }
    let (code, stdout, stderr) = run(&mut cmd);
    (code, stdout + &stderr)
}

#[test]
fn without_promtool_a_test_says_on_one_line_what_it_skipped_unless_tools_are_required() {
    let (code, said) = run_without_tools(false);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("test result: ok. 1 passed"), "{said}");
    let skips: Vec<&str> = said.lines().filter(|l| l.contains("skipped")).collect();
    assert_eq!(
        skips,
        [
            "skipped the promtool check in metrics::a_failed_run_and_missed_sessions_show_in_the_file: \
             promtool is not on PATH; install the Debian package prometheus, or set \
             JUTSU_TEST_REQUIRE_TOOLS=1 to make this a failure"
        ],
        "{said}"
    );
    let (code, said) = run_without_tools(true);
    assert_ne!(code, 0, "{said}");
    assert!(
        said.contains("test result: FAILED. 0 passed; 1 failed"),
        "{said}"
    );
    assert!(
        said.contains("promtool is not on PATH: the promtool check in metrics::"),
        "{said}"
    );
}
