//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod fake_schwab;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's bars (`data/`): the six symbols 2009-2025, split-adjusted, and beside
/// them the as-traded `*.raw.csv` files (data/PROVENANCE.md).
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// The repository's six bar files without `data/actions.csv`, in a folder under the target
/// directory: a data folder of one's own, on which the simulator knows no corporate action
/// (the split-adjusted world of the backtest). Tests that run jutsu on bars use this one;
/// `tests/as_traded.rs` uses `data/` with its actions.
pub fn bars_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bars-without-actions");
        std::fs::create_dir_all(&dir).expect("bars folder");
        for symbol in ["QQQ", "TLT", "TQQQ", "TMF", "TMV", "PSQ"] {
            let name = format!("{symbol}.csv");
            let bars = std::fs::read(data_dir().join(&name)).expect("bundled bars");
            if std::fs::read(dir.join(&name)).is_ok_and(|old| old == bars) {
                continue;
            }
            // Written aside and renamed: another test process reads a whole file, old or new.
            let aside = dir.join(format!(".{name}.{}", std::process::id()));
            std::fs::write(&aside, &bars).expect("bars copied");
            std::fs::rename(&aside, dir.join(&name)).expect("bars in place");
        }
        dir
    })
    .clone()
}

/// The test fixtures (`tests/fixtures`): `reference/` (the original implementation's outputs)
/// and `schwab/` (API bodies), each with a README saying where it comes from.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// An outside program some tests drive, and how to get it.
pub struct Tool {
    /// A command that succeeds when the program is there.
    probe: &'static [&'static str],
    /// What is missing when the probe fails.
    missing: &'static str,
    /// How to get it.
    install: &'static str,
}

/// Python's SMTP server, for the email tests.
pub const AIOSMTPD: Tool = Tool {
    probe: &["python3", "-c", "import aiosmtpd"],
    missing: "python3 with aiosmtpd is not on PATH",
    install: "install it with `python3 -m pip install aiosmtpd`",
};

/// `promtool check metrics`, for the metrics textfile.
pub const PROMTOOL: Tool = Tool {
    probe: &["promtool", "--version"],
    missing: "promtool is not on PATH",
    install: "install the Debian package prometheus",
};

/// A terminal multiplexer, for `status --watch` in a real pseudo-terminal.
pub const TMUX: Tool = Tool {
    probe: &["tmux", "-V"],
    missing: "tmux is not on PATH",
    install: "install the Debian package tmux",
};

/// Whether `tool` is there. When it is not, the calling test prints one line saying that it
/// skips `what` and how to enable it, and goes on without (false); with
/// `JUTSU_TEST_REQUIRE_TOOLS=1` (as `.ci/run` sets) the missing tool fails the test instead.
pub fn have(tool: &Tool, what: &str) -> bool {
    let found = Command::new(tool.probe[0])
        .args(&tool.probe[1..])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return true;
    }
    // The harness names each test's thread after the test.
    let test = std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .map_or(String::new(), |name| format!(" in {name}"));
    if std::env::var("JUTSU_TEST_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
        panic!(
            "{}: {what}{test} needs it and JUTSU_TEST_REQUIRE_TOOLS=1 is set; {}",
            tool.missing, tool.install
        );
    }
    // Straight to stderr, past the test harness's capture, so that the skip shows in a
    // passing run.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipped {what}{test}: {}; {}, or set JUTSU_TEST_REQUIRE_TOOLS=1 to make this a failure",
        tool.missing,
        tool.install
    );
    false
}

/// The jutsu binary with a clean environment for config lookup.
pub fn jutsu() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jutsu"));
    cmd.env_remove("JUTSU_CONFIG").env_remove("RUST_LOG");
    cmd
}

/// A paper-mode configuration in a new temporary folder, on [`bars_dir`], with state and logs
/// inside the folder; `extra` is appended (whole YAML sections).
pub fn paper_config(extra: &str) -> (tempfile::TempDir, PathBuf) {
    paper_config_on(&bars_dir(), extra)
}

/// A paper-mode configuration in a new temporary folder on the repository's `data/`, whose
/// corporate actions (`data/actions.csv`: the TQQQ split of 2025-11-20, the dividends) the
/// simulator applies, the as-traded world a real account lives in.
pub fn as_traded_paper_config() -> (tempfile::TempDir, PathBuf) {
    paper_config_on(&data_dir(), "")
}

/// A paper-mode configuration in a new temporary folder on the bars in `data`, state and
/// logs inside the folder, `extra` appended.
fn paper_config_on(data: &Path, extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("jutsu.yaml");
    std::fs::write(
        &config,
        format!(
            "mode: paper\npaths:\n  state_dir: state\n  logs_dir: logs\ndata:\n  dir: {}\n{extra}",
            data.display()
        ),
    )
    .expect("config written");
    (dir, config)
}

/// Runs a command and returns (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("jutsu runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// Rows of a CSV file as header-keyed maps.
pub fn read_csv(path: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut rdr = csv::Reader::from_path(path).expect("csv opens");
    let headers = rdr.headers().unwrap().clone();
    rdr.records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// |a - b| <= tol * |a| (with a floor so that exact zeros compare).
pub fn close_rel(a: f64, b: f64, tol: f64) -> bool {
    a == b || (a - b).abs() <= tol * a.abs().max(f64::MIN_POSITIVE)
}

/// The waiver of the live gate every [`live_config`] holds.
pub const LIVE_WAIVER: &str = "readiness:\n  waive_reason: a test account without a paper phase\n";

/// A live configuration in `dir` against a (fake) Schwab at `url`: `execution` lines go in
/// the execution section (after `order_timeout_s` when given), `schwab` lines in the schwab
/// section, and `sections` after it all. Secrets come from `T_APP_KEY` and `T_APP_SECRET`.
/// It waives the live gate (`readiness.waive_reason`, [`LIVE_WAIVER`]): these accounts
/// have no paper phase; the gate's own tests take the line out.
pub fn live_config(
    dir: &std::path::Path,
    url: &str,
    execution: &str,
    schwab: &str,
    sections: &str,
) -> PathBuf {
    let config = dir.join("jutsu.yaml");
    let execution = if execution.is_empty() {
        String::new()
    } else {
        format!("execution:\n{execution}")
    };
    std::fs::write(
        &config,
        format!(
            "mode: live\npaths:\n  state_dir: state\n  logs_dir: logs\ndata:\n  source: schwab\n{execution}\
             schwab:\n  app_key_env: T_APP_KEY\n  app_secret_env: T_APP_SECRET\n{schwab}\
             \x20 oauth_base_url: {url}/v1/oauth\n  trader_base_url: {url}/trader/v1\n\
             \x20 marketdata_base_url: {url}/marketdata/v1\n  token_file: state/token.json\n{LIVE_WAIVER}{sections}"
        ),
    )
    .expect("config written");
    config
}

/// A schwab-py token file in `dir/state`: logged in at `login_s`, the access token
/// `access` valid until `access_until_s`.
pub fn token_file(
    dir: &std::path::Path,
    login_s: i64,
    (refresh, access): (&str, &str),
    access_until_s: i64,
) {
    std::fs::create_dir_all(dir.join("state")).expect("state folder");
    jutsu::storage::fsutil::write_atomic(
        &dir.join("state/token.json"),
        format!(
            r#"{{"creation_timestamp": {login_s}, "token": {{"refresh_token": "{refresh}", "access_token": "{access}", "expires_at": {access_until_s}}}}}"#
        )
        .as_bytes(),
        true,
    )
    .expect("token written");
}

/// `jutsu -c CONFIG trade --as-of AS_OF`: (exit code, stdout, stderr).
pub fn trade_at(config: &std::path::Path, as_of: &str) -> (i32, String, String) {
    run(jutsu()
        .arg("-c")
        .arg(config)
        .args(["trade", "--as-of", as_of]))
}

/// A live account in `dir` on the (fake) Schwab at `url` at the instant `now` (RFC 3339):
/// the configuration (with `sections`), and a token from a login a day earlier whose
/// access token `access` is good for 20 more minutes.
pub fn live_at(
    dir: &std::path::Path,
    url: &str,
    now: &str,
    access: &str,
    sections: &str,
) -> PathBuf {
    let config = live_config(dir, url, "", "", sections);
    let now_s = chrono::DateTime::parse_from_rfc3339(now)
        .expect("an RFC 3339 instant")
        .timestamp();
    token_file(
        dir,
        now_s - 86_400,
        ("R-secret-refresh", access),
        now_s + 1200,
    );
    config
}

/// `jutsu -c CONFIG ARGS` at `now` with the Schwab app key and secret of [`live_config`].
pub fn run_live(config: &std::path::Path, now: &str, args: &[&str]) -> (i32, String, String) {
    run(jutsu()
        .env("JUTSU_NOW", now)
        .env("T_APP_KEY", "APPKEY0123456789")
        .env("T_APP_SECRET", "APPSECRET0123456")
        .arg("-c")
        .arg(config)
        .args(args))
}

/// Every file under `dir` with its bytes (to show that a command wrote nothing).
pub fn snapshot(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().to_string();
                out.insert(rel, std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    out
}
