//! Logging with `tracing`: human text (or JSON lines) on stderr, and daily files
//! `logs/jutsu.<date>.log`. Every byte written passes through the secret redactor.

use std::io::IsTerminal;
use std::path::Path;

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

/// Installs the global subscriber. With `logs_dir`, also writes daily files there: text
/// lines in `jutsu.<date>.log`, or with `--log-format json` JSON lines in
/// `jutsu.<date>.jsonl` (never the two in one file). The run's checklist lines (target
/// [`crate::support::report::RUN`]) go to the file only: the terminal has them on stdout already.
/// A folder that cannot be created only costs the file log (a warning says so), never the
/// run.
pub fn init(format: LogFormat, verbose: u8, quiet: u8, logs_dir: Option<&Path>) {
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
    let file = logs_dir.and_then(|dir| {
        let appender = std::fs::create_dir_all(dir)
            .map_err(|e| e.to_string())
            .and_then(|_| {
                RollingFileAppender::builder()
                    .rotation(Rotation::DAILY)
                    .filename_prefix("jutsu")
                    .filename_suffix(suffix)
                    .build(dir)
                    .map_err(|e| e.to_string())
            });
        match appender {
            Ok(a) => Some(match format {
                LogFormat::Text => tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(Redacting(a))
                    .boxed(),
                LogFormat::Json => tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(Redacting(a))
                    .boxed(),
            }),
            Err(e) => {
                file_problem = Some(format!("{}: {e}", dir.display()));
                None
            }
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
