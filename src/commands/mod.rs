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
mod report;
mod schedule;
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
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let text = crate::support::secret::redact(&format!("error: {e}"));
            let _ = writeln!(std::io::stderr(), "{text}");
            e.exit_code()
        }
    }
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

/// Loads the configuration for a command that acts, with daily log files.
fn acting(cli: &Cli, path: &Path) -> Result<Loaded> {
    let loaded = cfg::load(path)?;
    logging::init(
        cli.log_format,
        cli.verbose,
        cli.quiet,
        Some(&loaded.logs_dir()),
    );
    Ok(loaded)
}

/// Loads the configuration for a command that only reads, logging to the terminal.
fn reading(cli: &Cli, path: &Path) -> Result<Loaded> {
    let loaded = cfg::load(path)?;
    logging::init(cli.log_format, cli.verbose, cli.quiet, None);
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

/// `jutsu trade`: it needs its secrets, and a missing one is listed with the file's problems.
fn trade_command(cli: &Cli, path: &Path, args: &crate::commands::cli::TradeArgs) -> Result<u8> {
    let env = |name: &str| std::env::var(name).ok();
    let mode = args.mode.map(crate::config::Mode::from);
    let loaded = cfg::load_with_secrets(path, mode, &env)?;
    crate::brokers::sources::refuse_live_on_local_bars(
        &loaded,
        mode.unwrap_or(loaded.config.mode),
    )?;
    logging::init(
        cli.log_format,
        cli.verbose,
        cli.quiet,
        Some(&loaded.logs_dir()),
    );
    trade::run(args, &loaded, system_clock())
}

fn dispatch(cli: Cli) -> Result<u8> {
    let path = config_path(&cli);
    let explicit = cli.config.is_some();
    match &cli.command {
        Command::Completions { .. } | Command::Man => generated(&cli.command),
        Command::Schedule {
            action: crate::commands::cli::ScheduleAction::Crontab { zone, dir },
        } => {
            let loaded = load_or_default(&path, explicit)?;
            schedule::crontab(&loaded, zone.as_deref(), dir, system_clock().today_et())
        }
        Command::Replay { session, mode } => {
            replay(&with_mode(reading(&cli, &path)?, *mode)?, *session)
        }
        Command::Data { action } => data::run(action, &acting(&cli, &path)?, system_clock()),
        Command::Calendar(args) => {
            logging::init(cli.log_format, cli.verbose, cli.quiet, None);
            let loaded = load_or_default(&path, explicit)?;
            calendar::run(args, &loaded.config, &crate::support::clock::SystemClock)
        }
        Command::Config { action } => {
            logging::init(cli.log_format, cli.verbose, cli.quiet, None);
            config::run(action, &path)
        }
        Command::Backtest(args) => {
            let loaded = load_or_default(&path, explicit)?;
            let logs = loaded.logs_dir();
            logging::init(cli.log_format, cli.verbose, cli.quiet, Some(&logs));
            backtest::run(args, &loaded)
        }
        Command::Trade(args) => trade_command(&cli, &path, args),
        Command::Validate { .. }
        | Command::Hello
        | Command::Auth { .. }
        | Command::EmergencyExit(_)
        | Command::Resume
        | Command::State { .. }
        | Command::Sim { .. } => acting_command(&cli, &path),
        Command::Health { json, mode } => health::health(
            &with_mode(reading(&cli, &path)?, *mode)?,
            *json,
            system_clock(),
        ),
        Command::Status {
            json,
            watch,
            mode,
            as_of,
        } => {
            let loaded = with_mode(reading(&cli, &path)?, *mode)?;
            let clock = status::clock_for(&loaded, *as_of, system_clock())?;
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
        } => report::run(
            &with_mode(reading(&cli, &path)?, *mode)?,
            *from,
            *to,
            csv.as_ref(),
            html.as_ref(),
        ),
    }
}

/// The commands that act besides `trade`: each writes the metrics file after it.
fn acting_command(cli: &Cli, path: &Path) -> Result<u8> {
    let loaded = acting(cli, path)?;
    match &cli.command {
        Command::Validate { date, mode } => {
            let loaded = with_mode(loaded, *mode)?;
            acted(&loaded, None, "validate", |l| {
                validate::run(*date, l, system_clock())
            })
        }
        Command::Hello => acted(&loaded, None, "hello", |l| hello::run(l, system_clock())),
        Command::Auth { action } => acted(&loaded, None, "auth", |l| {
            auth::run(action, l, system_clock())
        }),
        Command::EmergencyExit(args) => {
            let mode = args.mode.map(Into::into);
            acted(&loaded, mode, "emergency-exit", |l| {
                ops::emergency_exit(l, args, system_clock())
            })
        }
        Command::Resume => acted(&loaded, None, "resume", ops::resume),
        Command::State { action } => acted(&loaded, None, "state", |l| {
            state::run(action, l, system_clock())
        }),
        Command::Sim { action } => acted(&loaded, Some(crate::config::Mode::Paper), "sim", |l| {
            sim::run(action, l, system_clock())
        }),
        _ => Ok(exit::USAGE),
    }
}

/// `jutsu replay SESSION`: each field of the decision, recorded and replayed.
fn replay(loaded: &Loaded, session: chrono::NaiveDate) -> Result<u8> {
    let mode = loaded.config.mode;
    let r = crate::pipeline::replay::replay(loaded, mode, session)?;
    println!("replay of the {} run of {session}:", mode.as_str());
    for f in &r.fields {
        let mark = if f.recorded == f.replayed {
            "="
        } else {
            "DIFFERS"
        };
        match f.recorded == f.replayed {
            true => println!("  {:<10} {mark} {}", f.name, f.recorded),
            false => println!(
                "  {:<10} {mark}: recorded {}, replayed {}",
                f.name, f.recorded, f.replayed
            ),
        }
    }
    match r.same_history() {
        Some(true) => println!("  history    = the same bars (digest {})", &r.digest[..16]),
        Some(false) => println!(
            "  history    DIFFERS: the run decided on other bars (digest {} then, {} now)",
            r.recorded_digest.as_deref().map_or("", |d| &d[..16]),
            &r.digest[..16]
        ),
        None => println!("  history    not recorded in this ledger (written before digests)"),
    }
    let same = r.same_decision() && r.same_history() != Some(false);
    println!(
        "{}",
        if same {
            "the same decision"
        } else {
            "NOT the same decision"
        }
    );
    Ok(if same { exit::OK } else { exit::FAILURE })
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
