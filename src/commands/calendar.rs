//! `jutsu calendar`: NYSE sessions with their open, close and run time.

use std::io::Write;

use chrono::Duration;

use crate::commands::cli::{CalendarArgs, CalendarFormat};
use crate::config::Config;
use crate::domain::calendar;
use crate::support::clock::Clock;
use crate::support::error::{exit, Error, Result};

pub(super) fn run(args: &CalendarArgs, config: &Config, clock: &dyn Clock) -> Result<u8> {
    let from = args.from.unwrap_or_else(|| clock.today_et());
    let to = args.to.unwrap_or(from + Duration::days(30));
    if to < from {
        return Err(Error::Usage(format!(
            "--to ({to}) is before --from ({from})"
        )));
    }
    let minutes = config.schedule.minutes_before_close;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let write_err = |e| Error::io("writing", "stdout", e);
    match args.format {
        CalendarFormat::Csv => writeln!(out, "date,open,close,run_at").map_err(write_err)?,
        CalendarFormat::Table => {
            writeln!(out, "date        day  open   close  run_at  note").map_err(write_err)?
        }
    }
    for date in calendar::sessions(from, to) {
        let Some(hours) = calendar::session_hours(date) else {
            continue;
        };
        let (open, close, run_at) = (
            hours.open.format("%H:%M"),
            hours.close.format("%H:%M"),
            hours.run_at(minutes).format("%H:%M"),
        );
        match args.format {
            CalendarFormat::Csv => writeln!(out, "{date},{open},{close},{run_at}"),
            CalendarFormat::Table => {
                let note = if calendar::day_kind(date) == calendar::DayKind::EarlyClose {
                    "early close"
                } else {
                    ""
                };
                writeln!(
                    out,
                    "{date}  {}  {open}  {close}  {run_at}   {note}",
                    date.format("%a")
                )
            }
        }
        .map_err(write_err)?;
    }
    out.flush().map_err(write_err)?;
    Ok(exit::OK)
}
