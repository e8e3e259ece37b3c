//! One module per command. [`run`] dispatches a parsed command line and returns the exit code.

mod auth;
mod backtest;
mod calendar;
pub mod cli;
mod config;
mod data;
mod health;
mod hello;
mod metrics;
mod ops;
mod readiness;
mod replay;
mod report;
mod review;
mod schedule;
mod scheduler;
mod sim;
mod state;
mod status;
mod trade;
mod validate;
mod watch;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::commands::cli::{Cli, Command};
use crate::config::{self as cfg, Loaded};
use crate::support::error::{exit, Result};
use crate::support::logging;

/// Runs the command line and returns the process exit code. Errors are printed here, once,
/// with secrets redacted.
pub fn run(cli: Cli) -> u8 {
    crate::support::report::set_hint_flag(config_flag(&cli));
    let result = dispatch(cli);
    logging::finish();
    match result {
        Ok(code) => code,
        // The reader of stdout went away (`jutsu calendar | head`): nothing to say.
        Err(crate::support::error::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            exit::OK
        }
        Err(e) => {
            let text = crate::support::report::hinted(&format!("error: {e}"));
            let text = crate::support::secret::redact(&text);
            let _ = writeln!(std::io::stderr(), "{text}");
            e.exit_code()
        }
    }
}

/// `-c PATH` as the user gave it (shell-quoted when needed), when the configuration came
/// from `-c` rather than from `JUTSU_CONFIG` or the default: the commands a message tells
/// the user to run must read the same file.
fn config_flag(cli: &Cli) -> Option<String> {
    let path = cli.config.as_ref()?;
    let from_env =
        std::env::var_os("JUTSU_CONFIG").is_some_and(|v| Path::new(&v) == path.as_path());
    if from_env {
        return None;
    }
    let text = path.display().to_string();
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c));
    Some(match plain {
        true => format!("-c {text}"),
        false => format!("-c '{}'", text.replace('\'', "'\\''")),
    })
}

fn config_path(cli: &Cli) -> PathBuf {
    cli.config
        .clone()
        .unwrap_or_else(|| PathBuf::from(cfg::DEFAULT_CONFIG_PATH))
}

/// Loads the configuration; without `-c`, a missing default file gives the defaults (for
/// commands that can run without one).
fn load_or_default(path: &Path, explicit: bool) -> Result<Loaded> {
    if !explicit && !path.exists() {
        return Ok(Loaded {
            config: cfg::Config::default(),
            path: path.to_path_buf(),
            base_dir: PathBuf::from("."),
        });
    }
    cfg::load(path)
}

/// The clock of a real run: the operating system's. Test builds (the `test-hooks` feature)
/// also take `JUTSU_NOW` (RFC 3339) to fix it, for commands that have no `--as-of`; a build
/// without the feature never reads it.
fn system_clock() -> crate::brokers::sources::SharedClock {
    #[cfg(feature = "test-hooks")]
    if let Some(t) = std::env::var("JUTSU_NOW")
        .ok()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok())
    {
        return std::sync::Arc::new(crate::support::clock::FixedClock(
            t.with_timezone(&chrono::Utc),
        ));
    }
    std::sync::Arc::new(crate::support::clock::SystemClock)
}

/// What a command needs before it runs: the configuration (or its defaults when the file
/// may be absent), the secrets it names, and where its logs go. Declared once per command
/// by [`needs`] and loaded once by [`prepare`].
#[derive(Debug, Clone, Copy)]
enum Needs {
    /// Nothing: completions and the man page; `config` reads the file itself, to list
    /// every problem of it.
    Nothing,
    /// The file when there is one, else the defaults; logs to the files or the terminal.
    ConfigOrDefault { log_files: bool },
    /// The file; logs to the files (a command that acts) or to the terminal (one that reads).
    Config { log_files: bool },
    /// The file and the secrets it needs in `mode`, checked together (`trade`).
    ConfigAndSecrets { mode: Option<crate::config::Mode> },
}

/// What each command needs.
fn needs(command: &Command) -> Needs {
    match command {
        Command::Completions { .. } | Command::Man | Command::Config { .. } => Needs::Nothing,
        // A backtest only reads: like `status`, it writes no daily log (the README's logs
        // are those of the commands that act); its files are the ones it is asked for.
        Command::Schedule { .. } | Command::Calendar(_) | Command::Backtest(_) => {
            Needs::ConfigOrDefault { log_files: false }
        }
        Command::Trade(args) => Needs::ConfigAndSecrets {
            mode: args.mode.map(crate::config::Mode::from),
        },
        Command::Replay { .. }
        | Command::Readiness { .. }
        | Command::Review { send: false, .. }
        | Command::Health { .. }
        | Command::Status { .. }
        | Command::Report { .. }
        | Command::Data {
            action: crate::commands::cli::DataAction::Check { .. },
        } => Needs::Config { log_files: false },
        Command::Data { .. }
        | Command::Review { .. }
        | Command::Validate { .. }
        | Command::Hello
        | Command::Auth { .. }
        | Command::EmergencyExit(_)
        | Command::Resume
        | Command::State { .. }
        | Command::Sim { .. } => Needs::Config { log_files: true },
    }
}

/// Loads what `needs` asks for and sets up the logs; the defaults when nothing is needed.
fn prepare(cli: &Cli, path: &Path, needs: Needs) -> Result<Loaded> {
    let explicit = cli.config.is_some();
    let loaded = match needs {
        // The file is not read: `config check` lists its problems itself.
        Needs::Nothing => Loaded {
            config: cfg::Config::default(),
            path: path.to_path_buf(),
            base_dir: PathBuf::from("."),
        },
        Needs::ConfigOrDefault { .. } => load_or_default(path, explicit)?,
        Needs::Config { .. } => cfg::load(path)?,
        Needs::ConfigAndSecrets { mode } => {
            let env = |name: &str| std::env::var(name).ok();
            let loaded = cfg::load_with_secrets(path, mode, &env)?;
            crate::brokers::sources::refuse_live_on_local_bars(
                &loaded,
                mode.unwrap_or(loaded.config.mode),
            )?;
            loaded
        }
    };
    let log_files = match needs {
        Needs::Nothing => false,
        Needs::ConfigOrDefault { log_files } | Needs::Config { log_files } => log_files,
        Needs::ConfigAndSecrets { .. } => true,
    };
    let logs = log_files.then(|| loaded.logs_dir());
    let today = system_clock().today_et();
    logging::init(
        cli.log_format,
        cli.verbose,
        cli.quiet,
        logs.as_deref(),
        today,
    );
    Ok(loaded)
}

/// The configuration with `--mode` in place of its own mode, for commands that read a mode's
/// files. Live mode on the bundled bars is refused here, as everywhere.
fn with_mode(mut loaded: Loaded, mode: Option<crate::commands::cli::ModeArg>) -> Result<Loaded> {
    if let Some(mode) = mode {
        loaded.config.mode = mode.into();
    }
    crate::brokers::sources::refuse_live_on_local_bars(&loaded, loaded.config.mode)?;
    Ok(loaded)
}

/// `value` as pretty JSON on stdout: the `--json` of every command.
fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| crate::support::error::Error::Other(e.to_string()))?;
    println!("{text}");
    Ok(())
}

/// Shell completions or the man page, on stdout.
fn generated(command: &Command) -> Result<u8> {
    match command {
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "jutsu", &mut std::io::stdout());
        }
        _ => clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .map_err(|e| crate::support::error::Error::io("writing", "stdout", e))?,
    }
    Ok(exit::OK)
}

/// One match: each command with what [`needs`] loaded for it. Commands that act write the
/// metrics file after them ([`acted`]).
fn dispatch(cli: Cli) -> Result<u8> {
    use crate::config::Mode;
    let path = config_path(&cli);
    let loaded = prepare(&cli, &path, needs(&cli.command))?;
    let clock = system_clock();
    let l = &loaded;
    match &cli.command {
        Command::Completions { .. } | Command::Man => generated(&cli.command),
        Command::Config { action } => config::run(action, &path),
        Command::Schedule {
            action: crate::commands::cli::ScheduleAction::Crontab { zone, dir },
        } => schedule::crontab(l, zone.as_deref(), dir, clock.today_et()),
        Command::Calendar(args) => {
            calendar::run(args, &l.config, &crate::support::clock::SystemClock)
        }
        Command::Backtest(args) => backtest::run(args, l),
        Command::Trade(args) => trade::run(args, l, clock),
        Command::Replay {
            session,
            mode,
            json,
        } => replay::run(&with_mode(loaded, *mode)?, *session, *json),
        Command::Readiness { json, mode } => readiness::run(&with_mode(loaded, *mode)?, *json),
        Command::Review { .. } => review_command(loaded, &cli.command, clock.as_ref()),
        Command::Health { json, mode } => health::health(&with_mode(loaded, *mode)?, *json, clock),
        Command::Status {
            json,
            watch,
            mode,
            as_of,
        } => {
            let loaded = with_mode(loaded, *mode)?;
            let clock = status::clock_for(&loaded, *as_of, clock)?;
            match *watch {
                true => watch::run(&loaded, clock),
                false => status::run(&loaded, *json, clock),
            }
        }
        Command::Report {
            from,
            to,
            csv,
            html,
            mode,
            json,
        } => report::run(
            &with_mode(loaded, *mode)?,
            report::Asked {
                from: *from,
                to: *to,
                csv: csv.as_ref(),
                html: html.as_ref(),
                json: *json,
            },
        ),
        Command::Data { action } => data::run(action, l, clock),
        Command::Validate { as_of, mode, json } => {
            let loaded = with_mode(loaded, *mode)?;
            acted(&loaded, None, "validate", |l| {
                validate::run(*as_of, *json, l, clock)
            })
        }
        Command::Hello => acted(l, None, "hello", |l| hello::run(l, clock)),
        Command::Auth { action } => acted(l, None, "auth", |l| auth::run(action, l, clock)),
        Command::EmergencyExit(args) => {
            let mode = args.mode.map(Into::into);
            acted(l, mode, "emergency-exit", |l| {
                ops::emergency_exit(l, args, clock)
            })
        }
        Command::Resume => acted(l, None, "resume", |l| ops::resume(l, clock.clone())),
        Command::State { action } => acted(l, None, "state", |l| state::run(action, l, clock)),
        Command::Sim { action } => {
            acted(l, Some(Mode::Paper), "sim", |l| sim::run(action, l, clock))
        }
    }
}

/// `jutsu review` with its arguments.
fn review_command(
    loaded: Loaded,
    command: &Command,
    clock: &dyn crate::support::clock::Clock,
) -> Result<u8> {
    let Command::Review {
        week,
        month,
        mode,
        html,
        send,
        json,
    } = command
    else {
        return Ok(exit::OK);
    };
    let args = review::Args {
        week: *week,
        month: *month,
        html: html.as_ref(),
        send: *send,
        json: *json,
    };
    review::run(&with_mode(loaded, *mode)?, &args, clock)
}

/// Runs a command that acts and writes the metrics file after it, whatever its outcome.
fn acted(
    loaded: &Loaded,
    mode: Option<crate::config::Mode>,
    command: &str,
    body: impl FnOnce(&Loaded) -> Result<u8>,
) -> Result<u8> {
    let result = body(loaded);
    let code = match &result {
        Ok(code) => *code,
        Err(e) => e.exit_code(),
    };
    let mode = mode.unwrap_or(loaded.config.mode);
    let outcome = metrics::outcome_of_code(code);
    let ran = metrics::Ran {
        command,
        code,
        outcome,
    };
    metrics::record(loaded, mode, ran, &system_clock());
    result
}

/// Sends `alert` on every configured channel; a channel that fails is named on stdout (the
/// command's own outcome does not change).
fn send_alert(
    loaded: &Loaded,
    clock: &dyn crate::support::clock::Clock,
    alert: &crate::alert::Alert,
) {
    let env = |name: &str| std::env::var(name).ok();
    let secrets = loaded.config.secrets(&env).unwrap_or_default();
    let alerter = crate::alert::Alerter::new(&loaded.config.alerts, secrets, clock);
    if !alerter.any() {
        return;
    }
    for f in alerter.send(alert) {
        crate::support::report::say(&format!(
            "warning: the {} alert was not delivered: {}",
            f.channel, f.error
        ));
    }
}
