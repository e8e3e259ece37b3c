//! A closed pipe ends a command quietly: `jutsu backtest | head -1` and the like exit 0
//! with nothing on stderr, never a panic (exit 101) or an error (exit 1).

use crate::common;

use std::io::Read;
use std::process::Stdio;

/// Runs `args` with its stdout a pipe whose reader is already gone (as `| head` leaves it,
/// deterministically), and returns (code, stderr).
fn head(args: &[&str]) -> (i32, String) {
    let (_dir, config) = common::paper_config("");
    let mut child = common::jutsu()
        .args(["-c", config.to_str().unwrap()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code().unwrap_or(-1), err)
}

#[test]
fn a_closed_pipe_ends_every_printing_command_quietly() {
    for args in [
        &["backtest", "--from", "2010-01-01", "--to", "2025-12-31"][..],
        &["completions", "bash"],
        &["calendar", "--from", "2020-01-01", "--to", "2025-12-31"],
        &["man"],
        &["config", "show"],
    ] {
        let (code, err) = head(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
    }
}
