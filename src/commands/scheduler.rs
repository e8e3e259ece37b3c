//! `health`'s scheduler check: will something start the next run? A line of this user's
//! crontab (`crontab -l`) or of a file in /etc/cron.d that runs `jutsu trade` with this
//! configuration, or an enabled `jutsu-trade.timer` (`systemctl is-enabled`). A probe whose
//! program is not installed is unknown, not an error.
//!
//! A cron line's configuration is the one `jutsu` would read there: `-c FILE`, `--config
//! FILE` or `JUTSU_CONFIG=FILE` on the line, else `config/jutsu.yaml`, relative to the
//! folder the line `cd`s into (else the home folder, where cron starts).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::config::Loaded;

/// The systemd timer `deploy/install.sh` installs.
const TIMER: &str = "jutsu-trade.timer";

/// What the check says: `ok` or `warn`, and why.
pub(super) struct Verdict {
    /// `ok` when something starts the next run, `warn` otherwise.
    pub(super) status: &'static str,
    /// What was found, or what was looked at.
    pub(super) detail: String,
}

/// What one place that could start the run says.
enum Probe {
    /// It starts `jutsu trade` with this configuration.
    Found(String),
    /// It does not.
    Absent(String),
    /// It could not be asked (the program is not installed, or failed).
    Unknown(String),
}

/// Looks at the user's crontab, /etc/cron.d and the systemd timer.
pub(super) fn check(loaded: &Loaded) -> Verdict {
    let config = canonical(&loaded.path);
    let probes = [
        crontab_probe(&config),
        cron_d_probe(&cron_d_dir(), &config),
        timer_probe(),
    ];
    if let Some(Probe::Found(detail)) = probes.iter().find(|p| matches!(p, Probe::Found(_))) {
        return Verdict {
            status: "ok",
            detail: detail.clone(),
        };
    }
    let said: Vec<&str> = probes
        .iter()
        .map(|p| match p {
            Probe::Found(s) | Probe::Absent(s) | Probe::Unknown(s) => s.as_str(),
        })
        .collect();
    Verdict {
        status: "warn",
        detail: format!(
            "nothing found that starts the next run: {}. `jutsu schedule crontab` prints the \
             lines for cron, `deploy/install.sh` installs the systemd timers",
            said.join("; ")
        ),
    }
}

/// /etc/cron.d; test builds take another folder from `JUTSU_TEST_CRON_D`.
fn cron_d_dir() -> PathBuf {
    #[cfg(feature = "test-hooks")]
    if let Some(dir) = std::env::var_os("JUTSU_TEST_CRON_D") {
        return PathBuf::from(dir);
    }
    PathBuf::from("/etc/cron.d")
}

/// `crontab -l` of the user running health.
fn crontab_probe(config: &Path) -> Probe {
    let output = match Command::new("crontab")
        .arg("-l")
        .stdin(Stdio::null())
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Probe::Unknown("crontab is not installed".into())
        }
        Err(e) => return Probe::Unknown(format!("crontab -l failed: {e}")),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() && !stderr.contains("no crontab for") {
        return Probe::Unknown(format!("crontab -l failed: {}", first_line(&stderr)));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let found = scan(&text, false, &|_| home.clone(), config);
    found.probe("the crontab of this user", "no line of this user's crontab")
}

/// Every file in `dir` (cron's system table format: a user field after the schedule).
fn cron_d_probe(dir: &Path, config: &Path) -> Probe {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Probe::Absent(format!("there is no {}", dir.display()))
        }
        Err(e) => return Probe::Unknown(format!("{} cannot be read: {e}", dir.display())),
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    let mut others = Scan::default();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let found = scan(&text, true, &home_of, config);
        if found.this > 0 {
            return found.probe(&file.display().to_string(), "");
        }
        others.other.extend(found.other);
    }
    others.probe("", &format!("no file in {}", dir.display()))
}

/// `systemctl is-enabled jutsu-trade.timer`.
fn timer_probe() -> Probe {
    let output = match Command::new("systemctl")
        .args(["is-enabled", TIMER])
        .stdin(Stdio::null())
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Probe::Unknown(format!("systemctl is not installed ({TIMER} unknown)"))
        }
        Err(e) => return Probe::Unknown(format!("systemctl failed: {e}")),
    };
    let state = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&output.stderr);
    match state.as_str() {
        "enabled" | "enabled-runtime" => Probe::Found(format!("{TIMER} is enabled")),
        "" if stderr.contains("No such file") || stderr.contains("not found") => {
            Probe::Absent(format!("{TIMER} is not installed"))
        }
        "" => Probe::Unknown(format!(
            "systemctl is-enabled {TIMER} failed ({}): {}",
            output.status,
            first_line(&stderr)
        )),
        other => Probe::Absent(format!("{TIMER} is {other}")),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim()
}

/// The home folder of `user`, from /etc/passwd.
fn home_of(user: &str) -> Option<PathBuf> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&user) && fields.len() > 5)
        .map(|fields| PathBuf::from(fields[5]))
}

/// `path` with symbolic links and `..` resolved when it exists, else as given.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// What a crontab's lines come to: how many run `jutsu trade` with this configuration, and
/// the other configurations lines run it with.
#[derive(Debug, Default, PartialEq)]
struct Scan {
    this: usize,
    other: Vec<PathBuf>,
}

impl Scan {
    /// The probe: found in `place`, or `none` (with the other configurations named).
    fn probe(mut self, place: &str, none: &str) -> Probe {
        if self.this > 0 {
            let lines = if self.this == 1 { "line" } else { "lines" };
            return Probe::Found(format!(
                "{place} runs `jutsu trade` with this config ({} {lines})",
                self.this
            ));
        }
        self.other.sort();
        self.other.dedup();
        if self.other.is_empty() {
            return Probe::Absent(format!("{none} runs `jutsu trade` with this config"));
        }
        let named: Vec<String> = self.other.iter().map(|p| p.display().to_string()).collect();
        Probe::Absent(format!(
            "{none} runs `jutsu trade` with this config (it runs with {})",
            named.join(", ")
        ))
    }
}

/// The lines of a crontab (`system`: /etc/cron.d's format, with a user field) that run
/// `jutsu trade`, by configuration; `home` gives a user's home folder (`""` for the user of a
/// personal crontab).
fn scan(text: &str, system: bool, home: &dyn Fn(&str) -> Option<PathBuf>, config: &Path) -> Scan {
    let mut out = Scan::default();
    for line in text.lines() {
        let Some(entry) = entry_of(line, system) else {
            continue;
        };
        let start = home(entry.user).unwrap_or_else(|| PathBuf::from("/"));
        for used in trade_configs(&words(entry.command), &start) {
            if canonical(&used) == config {
                out.this += 1;
            } else {
                out.other.push(used);
            }
        }
    }
    out
}

/// A crontab entry: its user (system tables only) and its command.
struct Entry<'a> {
    user: &'a str,
    command: &'a str,
}

/// The entry of a crontab line; `None` for a comment, a blank or a variable (`SHELL=...`).
fn entry_of(line: &str, system: bool) -> Option<Entry<'_>> {
    let line = line.trim();
    let first = line.split_whitespace().next()?;
    if first.starts_with('#') || (first.contains('=') && !first.starts_with('@')) {
        return None;
    }
    let fields = if first.starts_with('@') { 1 } else { 5 };
    let mut rest = line;
    for _ in 0..fields {
        rest = rest.trim_start();
        rest = &rest[rest.find(char::is_whitespace)?..];
    }
    let mut user = "";
    if system {
        rest = rest.trim_start();
        let end = rest.find(char::is_whitespace)?;
        user = &rest[..end];
        rest = &rest[end..];
    }
    Some(Entry {
        user,
        command: rest.trim(),
    })
}

/// A shell command line as words, quotes removed; `&&`, `||`, `;` and `|` are words of their
/// own (they separate commands).
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = command.chars().peekable();
    let flush = |word: &mut String, out: &mut Vec<String>| {
        if !word.is_empty() {
            out.push(std::mem::take(word));
        }
    };
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => quote = Some(c),
            (None, '\\') => word.extend(chars.next()),
            (None, c) if c.is_whitespace() => flush(&mut word, &mut out),
            (None, ';') => {
                flush(&mut word, &mut out);
                out.push(";".into());
            }
            (None, '&' | '|') if chars.peek() == Some(&c) || c == '|' => {
                flush(&mut word, &mut out);
                if chars.peek() == Some(&c) {
                    chars.next();
                }
                out.push(if c == '&' { "&&".into() } else { "||".into() });
            }
            (None, c) => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The configuration of every `jutsu trade` in `words`, resolved against the folder the
/// commands before it `cd` into (from `start`).
fn trade_configs(words: &[String], start: &Path) -> Vec<PathBuf> {
    let mut cwd = start.to_path_buf();
    let mut env_config: Option<String> = None;
    let mut out = Vec::new();
    for command in words.split(|w| matches!(w.as_str(), "&&" | "||" | ";")) {
        let mut rest = command;
        while let Some((first, tail)) = rest.split_first() {
            match first.as_str() {
                "env" | "exec" | "nice" | "nohup" | "export" => rest = tail,
                w if w.starts_with("JUTSU_CONFIG=") => {
                    env_config = Some(w["JUTSU_CONFIG=".len()..].to_string());
                    rest = tail;
                }
                w if w.contains('=') && !w.starts_with('-') => rest = tail,
                _ => break,
            }
        }
        let Some((program, args)) = rest.split_first() else {
            continue;
        };
        if program == "cd" {
            cwd = match args.first().map(String::as_str) {
                None | Some("~") => start.to_path_buf(),
                Some(dir) => cwd.join(dir.strip_prefix("~/").map_or(dir, |d| d)),
            };
        } else if Path::new(program).file_name().is_some_and(|n| n == "jutsu") {
            if let Some(given) = trade_config(args) {
                let file = given
                    .or(env_config.clone())
                    .unwrap_or_else(|| crate::config::DEFAULT_CONFIG_PATH.to_string());
                out.push(cwd.join(file));
            }
        }
    }
    out
}

/// When `args` (after `jutsu`) run `trade`: the `-c` / `--config` they give, if any.
fn trade_config(args: &[String]) -> Option<Option<String>> {
    let mut config = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-c" | "--config" => config = args.next().cloned(),
            "--log-format" => {
                args.next();
            }
            a if a.starts_with("--config=") => config = Some(a["--config=".len()..].into()),
            a if a.starts_with("-c") && a.len() > 2 && !a.starts_with("--") => {
                config = Some(a[2..].into())
            }
            a if a.starts_with('-') => {}
            "trade" => {
                // Options after the subcommand may still name the config (-c is global).
                while let Some(a) = args.next() {
                    if a == "-c" || a == "--config" {
                        config = args.next().cloned();
                    } else if let Some(v) = a.strip_prefix("--config=") {
                        config = Some(v.into());
                    }
                }
                return Some(config);
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(line: &str, system: bool) -> Vec<PathBuf> {
        let entry = entry_of(line, system).map(|e| e.command.to_string());
        entry.map_or(Vec::new(), |c| {
            trade_configs(&words(&c), Path::new("/home/u"))
        })
    }

    #[test]
    fn a_line_from_schedule_crontab_runs_the_config_of_its_folder() {
        let line = "50 16 * * 1-5 cd /opt/jutsu && set -a && . /etc/jutsu/jutsu.env && set +a \
                    && ./jutsu trade >> logs/cron.log 2>&1";
        assert_eq!(
            configs(line, false),
            [PathBuf::from("/opt/jutsu/config/jutsu.yaml")]
        );
        // A quoted folder with a space, as schedule crontab writes it.
        let quoted = "50 20 * * 1-5 cd '/opt/my jutsu' && ./jutsu trade";
        assert_eq!(
            configs(quoted, false),
            [PathBuf::from("/opt/my jutsu/config/jutsu.yaml")]
        );
    }

    #[test]
    fn the_config_comes_from_c_or_the_environment_else_the_home_folder() {
        assert_eq!(
            configs("@daily jutsu -c /etc/j.yaml trade --mode live", true),
            Vec::<PathBuf>::new(),
            "a system line needs its user field: here 'jutsu' is the user"
        );
        assert_eq!(
            configs(
                "49 15 * * 1-5 jutsu /usr/bin/jutsu -c /etc/j.yaml trade",
                true
            ),
            [PathBuf::from("/etc/j.yaml")]
        );
        assert_eq!(
            configs(
                "49 15 * * 1-5 /usr/bin/jutsu trade --config=/etc/k.yaml",
                false
            ),
            [PathBuf::from("/etc/k.yaml")]
        );
        assert_eq!(
            configs("49 15 * * 1-5 JUTSU_CONFIG=/srv/c.yaml jutsu trade", false),
            [PathBuf::from("/srv/c.yaml")]
        );
        assert_eq!(
            configs("49 15 * * 1-5 jutsu trade", false),
            [PathBuf::from("/home/u/config/jutsu.yaml")]
        );
    }

    #[test]
    fn other_commands_comments_and_variables_are_not_a_trade_run() {
        for line in [
            "# 50 16 * * 1-5 cd /opt/jutsu && ./jutsu trade",
            "SHELL=/bin/bash",
            "0 18 * * 0 cd /opt/jutsu && ./jutsu auth status",
            "0 16 * * 1-5 cd /opt/jutsu && ./jutsu validate",
            "0 16 * * 1-5 echo jutsu trade",
            "",
        ] {
            assert!(configs(line, false).is_empty(), "{line}");
        }
    }

    #[test]
    fn scan_counts_the_lines_of_this_config_and_names_the_others() {
        let text = "SHELL=/bin/bash\n\
                    50 16 * * 1-5 cd /opt/jutsu && ./jutsu trade\n\
                    50 20 * * 1-5 cd /opt/jutsu && ./jutsu trade\n\
                    50 20 * * 1-5 cd /srv/other && ./jutsu trade\n";
        let found = scan(
            text,
            false,
            &|_| None,
            Path::new("/opt/jutsu/config/jutsu.yaml"),
        );
        assert_eq!(
            found,
            Scan {
                this: 2,
                other: vec![PathBuf::from("/srv/other/config/jutsu.yaml")]
            }
        );
    }
}
