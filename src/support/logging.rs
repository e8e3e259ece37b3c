//! Logging with `tracing`: human text (or JSON lines) on stderr, and daily files
//! `logs/jutsu.<date>.log` named by the account's day. Every byte written passes through the
//! secret redactor.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use chrono::NaiveDate;

use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::support::secret::Redactor;

/// Terminal and file log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A `MakeWriter` whose writers redact secrets.
struct Redacting<M>(M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = Redactor<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Redactor::new(self.0.make_writer())
    }
}

/// The level filter: `RUST_LOG` when set, else from `-v`/`-q` counts (default `info`).
fn filter(verbose: u8, quiet: u8) -> EnvFilter {
    if let Ok(env) = EnvFilter::try_from_default_env() {
        return env;
    }
    let level = match i16::from(verbose) - i16::from(quiet) {
        i16::MIN..=-2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    EnvFilter::new(format!("jutsu={level},warn"))
}

/// The day's log file. Its date is the account's day (the `--as-of` date, the last session),
/// which a command knows only once it has read its state; so the lines logged before that
/// wait in memory, and go into `jutsu.<day>.<suffix>` when [`name_day`] is told the day, or
/// at the end of the command ([`finish`]) under New York's date. The machine's UTC date,
/// which a rolling appender would use, is never the name: a run at 20:00 New York time
/// is the same day's.
struct DayFile {
    dir: PathBuf,
    suffix: &'static str,
    /// New York's date on the command's clock at its start: the name when no other day is.
    today: NaiveDate,
    state: Mutex<DayState>,
}

enum DayState {
    /// The day is not known yet: the lines so far.
    Waiting(Vec<u8>),
    /// The file of the day, opened for appending.
    Open(RollingFileAppender),
    /// The file could not be opened (a warning said so): lines go to the terminal only.
    Lost,
}

/// The process's day file, when the command writes one.
static DAY_FILE: OnceLock<DayFile> = OnceLock::new();

/// Lines kept in memory at most while the day is unknown; past that, the file is opened
/// under New York's date rather than hold more.
const WAITING_LIMIT: usize = 1 << 20;

impl DayFile {
    fn lock(&self) -> std::sync::MutexGuard<'_, DayState> {
        // A writer that panicked mid-line leaves the state usable: at worst one torn line.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens the file of `day` (once: the first day named is the command's) and writes the
    /// lines that waited for it; the problem, when it cannot be opened.
    fn open(&self, day: NaiveDate) -> Option<String> {
        let mut state = self.lock();
        let DayState::Waiting(waiting) = &mut *state else {
            return None;
        };
        let waiting = std::mem::take(waiting);
        let opened = RollingFileAppender::builder()
            .rotation(Rotation::NEVER)
            .filename_prefix(format!("jutsu.{day}"))
            .filename_suffix(self.suffix)
            .build(&self.dir)
            .map_err(|e| e.to_string())
            .and_then(|mut file| {
                file.write_all(&waiting).map_err(|e| e.to_string())?;
                Ok(file)
            });
        match opened {
            Ok(file) => {
                *state = DayState::Open(file);
                None
            }
            Err(e) => {
                *state = DayState::Lost;
                Some(format!("{}: {e}", self.dir.display()))
            }
        }
    }
}

/// Names the day of this command's log file: the account's day, once it is known. The
/// first day named holds for the whole command.
pub fn name_day(day: NaiveDate) {
    let problem = DAY_FILE.get().and_then(|file| file.open(day));
    if let Some(problem) = problem {
        tracing::warn!("no log file: {problem}");
    }
}

/// The end of the command: lines still waiting for their day go into the file of the day
/// it started on in New York (the account's day when nothing named another). A command
/// that logged nothing leaves no file.
pub fn finish() {
    let Some(file) = DAY_FILE.get() else {
        return;
    };
    let nothing = matches!(&*file.lock(), DayState::Waiting(lines) if lines.is_empty());
    if !nothing {
        name_day(file.today);
    }
}

/// A writer into the day file, for one event.
struct DayWriter(&'static DayFile);

impl Write for DayWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut state = self.0.lock();
        match &mut *state {
            DayState::Waiting(lines) => {
                lines.extend_from_slice(buf);
                if lines.len() > WAITING_LIMIT {
                    drop(state);
                    if let Some(problem) = self.0.open(self.0.today) {
                        return Err(std::io::Error::other(problem));
                    }
                }
                Ok(buf.len())
            }
            DayState::Open(file) => file.write(buf),
            DayState::Lost => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut *self.0.lock() {
            DayState::Open(file) => file.flush(),
            _ => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for &'static DayFile {
    type Writer = DayWriter;

    fn make_writer(&'a self) -> Self::Writer {
        DayWriter(self)
    }
}

/// Installs the global subscriber. With `logs_dir`, also writes daily files there: text
/// lines in `jutsu.<date>.log`, or with `--log-format json` JSON lines in
/// `jutsu.<date>.jsonl` (never the two in one file); the date is the account's day
/// ([`name_day`]). The run's checklist lines (target
/// [`crate::support::report::RUN`]) go to the file only: the terminal has them on stdout already.
/// A folder that cannot be created only costs the file log (a warning says so), never the
/// run.
pub fn init(format: LogFormat, verbose: u8, quiet: u8, logs_dir: Option<&Path>, today: NaiveDate) {
    let stderr = Redacting(std::io::stderr);
    let not_checklist = filter_fn(|meta| meta.target() != crate::support::report::RUN);
    let terminal = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(stderr)
            .with_target(false)
            .without_time()
            .with_filter(not_checklist)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(stderr)
            .with_filter(not_checklist)
            .boxed(),
    };
    let mut file_problem = None;
    let suffix = match format {
        LogFormat::Text => "log",
        LogFormat::Json => "jsonl",
    };
    let file = logs_dir.and_then(|dir| match std::fs::create_dir_all(dir) {
        Ok(()) => {
            let day_file: &'static DayFile = DAY_FILE.get_or_init(|| DayFile {
                dir: dir.to_path_buf(),
                suffix,
                today,
                state: Mutex::new(DayState::Waiting(Vec::new())),
            });
            Some(match format {
                LogFormat::Text => tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(Redacting(day_file))
                    .boxed(),
                LogFormat::Json => tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(Redacting(day_file))
                    .boxed(),
            })
        }
        Err(e) => {
            file_problem = Some(format!("{}: {e}", dir.display()));
            None
        }
    });
    let _ = tracing_subscriber::registry()
        .with(filter(verbose, quiet))
        .with(terminal)
        .with(file)
        .try_init();
    if let Some(problem) = file_problem {
        tracing::warn!("no log file: {problem}");
    }
}
