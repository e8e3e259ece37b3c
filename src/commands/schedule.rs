//! `jutsu schedule crontab`: crontab lines that start `jutsu trade` at the right moment on a
//! cron that knows only the machine's zone (Debian's and Ubuntu's cron ignore `CRON_TZ`).
//! The lines fire at every local time the run can fall on over the next ten years; each start
//! decides for itself, and every start outside the run window is a quiet no-op (exit 0).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Timelike};
use chrono_tz::Tz;

use crate::config::Loaded;
use crate::domain::calendar;
use crate::support::error::{exit, Error, Result};

/// Minutes before the run instant a start is placed: the run waits for its instant.
const LEAD_MINUTES: u32 = 5;

/// Prints the crontab for `zone` (else the machine's).
pub(super) fn crontab(
    loaded: &Loaded,
    zone: Option<&str>,
    dir: &str,
    today: NaiveDate,
) -> Result<u8> {
    let (zone, source) = match zone {
        Some(name) => (parse_zone(name)?, "--zone".to_string()),
        None => machine_zone(),
    };
    let s = &loaded.config.schedule;
    let last = NaiveDate::from_ymd_opt(today.year() + 10, 12, 31).unwrap_or(today);
    let times = calendar::local_fire_times(zone, today, last, s.minutes_before_close, LEAD_MINUTES);
    println!("# jutsu for a cron in {zone} ({source}), from `jutsu schedule crontab`.");
    println!(
        "# The run is {} minutes before the close in New York (15:55, 12:55 on early closes).",
        s.minutes_before_close
    );
    println!(
        "# A plain cron knows only this machine's zone, and the US and {zone} change their clocks"
    );
    println!("# on different days: these lines start jutsu at each local time the run can fall on");
    println!("# until {last}; each start decides, and a start outside the window exits 0 doing");
    println!("# nothing. Regenerate after moving the machine to another zone.");
    println!("SHELL=/bin/bash");
    let env = "set -a && . /etc/jutsu/jutsu.env && set +a";
    let dir = shell_quoted(dir);
    for line in lines(&times) {
        println!("{line} cd {dir} && {env} && ./jutsu trade >> logs/cron.log 2>&1");
    }
    println!(
        "# Sunday evening: warn when the weekly Schwab login is due (exit 1 under 24 h left)."
    );
    println!("0 18 * * 0 cd {dir} && {env} && ./jutsu auth status >> logs/cron.log 2>&1");
    println!("# Sunday evening: the weekly review of the account against the backtest, sent.");
    println!("0 19 * * 0 cd {dir} && {env} && ./jutsu review --send >> logs/cron.log 2>&1");
    Ok(exit::OK)
}

/// The schedule fields (`minute hour * * weekdays`), one line per local time. Every line
/// takes all the weekdays any start falls on (Monday to Friday, or Tuesday to Saturday east
/// of UTC+8): an extra start is a quiet no-op, a missing one a missed session.
fn lines(times: &BTreeMap<chrono::NaiveTime, std::collections::BTreeSet<u32>>) -> Vec<String> {
    let days: std::collections::BTreeSet<u32> = times.values().flatten().copied().collect();
    let (first, last) = (days.first().copied(), days.last().copied());
    let contiguous =
        matches!((first, last), (Some(a), Some(b)) if (b - a) as usize + 1 == days.len());
    let days = match (first, last) {
        (Some(a), Some(b)) if contiguous && a != b => format!("{a}-{b}"),
        _ => days
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
    };
    times
        .keys()
        .map(|t| format!("{} {} * * {days}", t.minute(), t.hour()))
        .collect()
}

fn parse_zone(name: &str) -> Result<Tz> {
    name.trim().parse::<Tz>().map_err(|_| {
        Error::Usage(format!(
            "{name} is not a time zone name (e.g. UTC, Europe/Berlin)"
        ))
    })
}

/// The machine's zone: `TZ`, else /etc/timezone, else the target of /etc/localtime, else UTC.
fn machine_zone() -> (Tz, String) {
    if let Some(tz) = std::env::var("TZ")
        .ok()
        .and_then(|v| v.trim_start_matches(':').parse().ok())
    {
        return (tz, "TZ".into());
    }
    if let Some(tz) = std::fs::read_to_string("/etc/timezone")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return (tz, "/etc/timezone".into());
    }
    let link = std::fs::read_link("/etc/localtime").ok();
    if let Some(tz) = link
        .as_ref()
        .and_then(|p| p.to_str())
        .and_then(|p| p.split("zoneinfo/").nth(1))
        .and_then(|name| name.parse().ok())
    {
        return (tz, "/etc/localtime".into());
    }
    (
        Tz::UTC,
        "no zone found on this machine: UTC assumed; pass --zone".into(),
    )
}

/// `text` as one word for a POSIX shell: in single quotes, each `'` written as `'\''`, so
/// a folder with spaces or quotes (`/opt/my jutsu`) stays one argument of `cd`.
fn shell_quoted(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c))
    {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::shell_quoted;

    #[test]
    fn a_folder_with_spaces_or_quotes_is_one_shell_word() {
        assert_eq!(shell_quoted("/opt/jutsu"), "/opt/jutsu");
        assert_eq!(shell_quoted("/opt/my jutsu"), "'/opt/my jutsu'");
        assert_eq!(shell_quoted("/opt/it's"), "'/opt/it'\\''s'");
    }
}
