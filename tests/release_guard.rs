//! A build without the `test-hooks` feature (what `cargo build --release` makes) honours no
//! test switch: `JUTSU_NOW` does not fix the clock, `JUTSU_TEST_KILL_AT` kills nothing, and a
//! simulator `faults` block is ignored. CI runs this file without the feature:
//! `cargo test --locked --test release_guard`.
#![cfg(not(feature = "test-hooks"))]

use std::path::PathBuf;
use std::process::Command;

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

fn paper_config() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("jutsu.yaml");
    std::fs::write(
        &config,
        format!(
            "mode: paper\npaths:\n  state_dir: state\n  logs_dir: logs\ndata:\n  dir: {}\n",
            shared().join("data").display()
        ),
    )
    .unwrap();
    (dir, config)
}

#[test]
fn a_build_without_test_hooks_ignores_the_fake_clock_and_the_kill_switch() {
    let (_dir, config) = paper_config();
    // With the hooks this would be the 2025-06-10 session's run, killed after preflight.
    let out = Command::new(env!("CARGO_BIN_EXE_jutsu"))
        .env_remove("JUTSU_CONFIG")
        .env("JUTSU_NOW", "2025-06-10T19:55:00Z")
        .env("JUTSU_TEST_KILL_AT", "preflight")
        .args(["-c", config.to_str().unwrap(), "trade"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some(),
        "the process was killed: {stderr}"
    );
    assert!(!stderr.contains("killed at"), "{stderr}");
    assert!(
        !stdout.contains("2025-06-10"),
        "JUTSU_NOW was honoured: {stdout}"
    );
}
