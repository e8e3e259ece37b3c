//! `health` checks that something will start the next run: a line of this user's crontab or
//! of a file in /etc/cron.d that runs `jutsu trade` with this config, or an enabled
//! `jutsu-trade.timer`. The probes are the real programs found on PATH: each test puts its
//! own `crontab` and `systemctl` (small shell scripts) in a folder and runs health with only
//! that folder on PATH; /etc/cron.d is a folder of the test (`JUTSU_TEST_CRON_D`).

use std::path::{Path, PathBuf};

use crate::common::{self, jutsu, run};

/// A jutsu installation in a temporary folder as `schedule crontab --dir` expects it: the
/// config at `config/jutsu.yaml`, and folders for the fake programs and cron.d.
struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["config", "bin", "cron.d"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::write(
            dir.path().join("config/jutsu.yaml"),
            format!(
                "mode: paper\npaths:\n  state_dir: ../state\n  logs_dir: ../logs\ndata:\n  dir: {}\n",
                common::bars_dir().display()
            ),
        )
        .unwrap();
        Machine { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn config(&self) -> PathBuf {
        self.path("config/jutsu.yaml")
    }

    /// A program `name` on the test's PATH that prints `out` and exits with `code`
    /// (shell builtins only: nothing else is on that PATH).
    fn program(&self, name: &str, out: &str, err: &str, code: i32) {
        let data = self.path(&format!("bin/{name}.out"));
        let out = if out.is_empty() || out.ends_with('\n') {
            out.to_string()
        } else {
            format!("{out}\n")
        };
        std::fs::write(&data, out).unwrap();
        let script = format!(
            "#!/bin/sh\nwhile IFS= read -r line; do printf '%s\\n' \"$line\"; done < '{}'\n\
             printf '%s\\n' '{err}' >&2\nexit {code}\n",
            data.display()
        );
        let file = self.path(&format!("bin/{name}"));
        std::fs::write(&file, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// `jutsu health` with only the test's programs on PATH: (exit code, the scheduler line).
    fn health(&self) -> (i32, String) {
        let (code, stdout, stderr) = run(jutsu()
            .env("PATH", self.path("bin"))
            .env("JUTSU_TEST_CRON_D", self.path("cron.d"))
            .env("JUTSU_CONFIG", self.config())
            .arg("health"));
        let line = stdout
            .lines()
            .find(|l| l.contains("] scheduler "))
            .unwrap_or_else(|| panic!("no scheduler line: {stdout}{stderr}"))
            .to_string();
        (code, line)
    }
}

/// What `jutsu schedule crontab --zone UTC --dir DIR` prints.
fn crontab_for(dir: &Path) -> String {
    let (code, stdout, stderr) = run(jutsu().args([
        "schedule",
        "crontab",
        "--zone",
        "UTC",
        "--dir",
        dir.to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{stderr}");
    stdout
}

const NOTHING: &str = "nothing found that starts the next run: ";
const ADVICE: &str = ". `jutsu schedule crontab` prints the lines for cron, `deploy/install.sh` \
                      installs the systemd timers";

#[test]
fn without_cron_or_systemd_the_scheduler_is_a_warning_naming_the_fixes() {
    let m = Machine::new();
    let (code, line) = m.health();
    assert_eq!(
        line,
        format!(
            "  [warn] scheduler {NOTHING}crontab is not installed; no file in {} runs `jutsu \
             trade` with this config; systemctl is not installed (jutsu-trade.timer unknown){ADVICE}",
            m.path("cron.d").display()
        )
    );
    // A warning, as the other health warnings: it does not fail health.
    assert_eq!(code, 0, "{line}");
}

#[test]
fn the_lines_of_schedule_crontab_in_this_users_crontab_are_found() {
    let m = Machine::new();
    let lines = crontab_for(m.dir.path());
    let trade_lines = lines
        .lines()
        .filter(|l| l.contains("./jutsu trade"))
        .count();
    assert!(trade_lines >= 2, "{lines}");
    m.program("crontab", &lines, "", 0);
    m.program(
        "systemctl",
        "",
        "Failed to get unit file state for jutsu-trade.timer: No such file or directory",
        1,
    );
    let (code, line) = m.health();
    assert_eq!(
        line,
        format!(
            "  [ok  ] scheduler the crontab of this user runs `jutsu trade` with this config ({trade_lines} lines)"
        )
    );
    assert_eq!(code, 0);
}

#[test]
fn a_crontab_for_another_config_or_none_at_all_is_not_a_scheduler() {
    let m = Machine::new();
    let elsewhere = tempfile::tempdir().unwrap();
    m.program("crontab", &crontab_for(elsewhere.path()), "", 0);
    m.program("systemctl", "disabled", "", 1);
    let (_, line) = m.health();
    let other = std::fs::canonicalize(elsewhere.path())
        .unwrap()
        .join("config/jutsu.yaml");
    assert!(
        line.starts_with(&format!("  [warn] scheduler {NOTHING}")),
        "{line}"
    );
    assert!(
        line.contains(&format!(
            "no line of this user's crontab runs `jutsu trade` with this config (it runs with {})",
            other.display()
        )),
        "{line}"
    );
    assert!(line.contains("jutsu-trade.timer is disabled"), "{line}");
    assert!(line.ends_with(ADVICE), "{line}");
    // A user without a crontab.
    m.program("crontab", "", "no crontab for jutsu", 1);
    let (_, line) = m.health();
    assert!(
        line.contains("no line of this user's crontab runs `jutsu trade` with this config;"),
        "{line}"
    );
}

#[test]
fn a_file_in_cron_d_or_an_enabled_timer_is_found() {
    let m = Machine::new();
    m.program("crontab", "", "no crontab for jutsu", 1);
    m.program("systemctl", "disabled", "", 1);
    let file = m.path("cron.d/jutsu");
    std::fs::write(
        &file,
        format!(
            "# jutsu\n49 15 * * 1-5 jutsu /opt/jutsu/jutsu -c {} trade >> /tmp/cron.log 2>&1\n",
            m.config().display()
        ),
    )
    .unwrap();
    let (_, line) = m.health();
    assert_eq!(
        line,
        format!(
            "  [ok  ] scheduler {} runs `jutsu trade` with this config (1 line)",
            file.display()
        )
    );
    std::fs::remove_file(&file).unwrap();
    m.program("systemctl", "enabled", "", 0);
    let (_, line) = m.health();
    assert_eq!(line, "  [ok  ] scheduler jutsu-trade.timer is enabled");
    // health --json carries the same check.
    let (_, json, _) = run(jutsu()
        .env("PATH", m.path("bin"))
        .env("JUTSU_TEST_CRON_D", m.path("cron.d"))
        .arg("-c")
        .arg(m.config())
        .args(["health", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "scheduler")
        .unwrap()
        .clone();
    assert_eq!(check["status"], "ok");
}
