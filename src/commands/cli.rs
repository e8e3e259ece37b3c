//! The command line: every command of the product, declared once with clap. Help, the man
//! page and shell completions all come from these definitions.

use std::path::PathBuf;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Mode;
use crate::support::logging::LogFormat;

const EXIT_CODES: &str = "\
Exit codes:
  0  done, or nothing to do (not a session, already done today)
  1  any other failure
  2  usage or configuration error
  3  preflight failed, nothing sent
  4  execution incomplete: some orders were sent and the run stopped (a human must look)
  5  halted (the halt flag is set; `jutsu resume` clears it)";

/// Trade the Hierarchical Adaptive v3.5b strategy once a day in a Schwab account.
#[derive(Debug, Parser)]
#[command(name = "jutsu", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Configuration file [default: config/jutsu.yaml, or $JUTSU_CONFIG]
    #[arg(short = 'c', long = "config", global = true, env = "JUTSU_CONFIG")]
    pub config: Option<PathBuf>,

    /// Log format on the terminal and in the log files.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// More detail in the logs (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Less detail in the logs (-q warnings only, -qq errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The daily pipeline: preflight, fetch, decide, reconcile, plan, execute, record, alert.
    Trade(TradeArgs),
    /// Post-market check of a session's 15:55 decision against the official close.
    Validate {
        /// The session to validate [default: the last one that has closed].
        #[arg(long = "as-of", alias = "date", value_parser = parse_date)]
        as_of: Option<NaiveDate>,
        /// The mode whose run to validate [default: the config's].
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// One JSON object (the shape is in the README) instead of the text.
        #[arg(long)]
        json: bool,
    },
    /// Smoke test: token, one quote per traded symbol, account summary.
    Hello,
    /// Schwab OAuth: log in, show the token's remaining life, refresh it.
    Auth {
        /// What to do with the token.
        #[command(subcommand)]
        action: AuthAction,
    },
    /// Cancel the strategy's open orders, sell its positions, set the halt flag (dry_run:
    /// only print what it would do).
    EmergencyExit(ExitArgs),
    /// Clear the halt flag so that `trade` runs again.
    Resume,
    /// The phase criteria (dry run, paper), each with its value, threshold and PASS/FAIL;
    /// exit 0 only when all pass.
    Readiness {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// The phase to judge [default: the config's mode].
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
    },
    /// The weekly review against the backtest, or the monthly attribution (`--month`).
    Review {
        /// The ISO week, e.g. 2025-W50 [default: the week of the account's last session].
        #[arg(long, value_parser = parse_week, conflicts_with = "month")]
        week: Option<NaiveDate>,
        /// The month to attribute, e.g. 2025-12.
        #[arg(long, value_parser = parse_month)]
        month: Option<NaiveDate>,
        /// The mode whose records to review [default: the config's].
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// Also write the review as an HTML page.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Send the review through the configured alert channels.
        #[arg(long)]
        send: bool,
        /// One JSON object (the shape is in the README) instead of the text.
        #[arg(long)]
        json: bool,
    },
    /// Is everything in place for the next run? Non-zero exit when something needs attention.
    Health {
        /// Machine-readable output for monitors.
        #[arg(long)]
        json: bool,
        /// The mode whose files to check [default: the config's].
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
    },
    /// Where the account stands and what the strategy would decide at the current quote
    /// (read-only: it sends nothing and takes no lock).
    Status {
        /// Machine-readable output for scripts.
        #[arg(long)]
        json: bool,
        /// A full-screen view, redrawn every second (q quits).
        #[arg(long, conflicts_with = "json")]
        watch: bool,
        /// The mode whose account to show [default: the config's].
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// As of this New York date and time (offline data only), e.g. 2025-12-12T15:50.
        #[arg(long, value_parser = parse_as_of)]
        as_of: Option<AsOf>,
    },
    /// Scheduling: `schedule crontab` prints crontab lines for this machine's cron.
    Schedule {
        /// What to print.
        #[command(subcommand)]
        action: ScheduleAction,
    },
    /// NYSE sessions: date, open and close (America/New_York) and the run time.
    Calendar(CalendarArgs),
    /// Run the strategy over local daily bars.
    Backtest(BacktestArgs),
    /// Equity, drawdown, turnover, slippage and tracking against the backtest.
    Report {
        /// First session.
        #[arg(long, value_parser = parse_date)]
        from: Option<NaiveDate>,
        /// Last session.
        #[arg(long, value_parser = parse_date)]
        to: Option<NaiveDate>,
        /// Also write the per-session table as CSV.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Also write a self-contained HTML page with the charts.
        #[arg(long)]
        html: Option<PathBuf>,
        /// The mode whose runs to report [default: the config's].
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// One JSON object (the shape is in the README) instead of the text.
        #[arg(long)]
        json: bool,
    },
    /// Check the configuration (every problem at once) or show it with secrets redacted.
    Config {
        /// `check` or `show`.
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Settle a file jutsu refused as edited by hand: seal the edit, or restore the backup.
    State {
        /// `accept` or `restore`.
        #[command(subcommand)]
        action: StateAction,
    },
    /// Derive a past session's decision again from its ledger's quotes and the history as
    /// of that run, and compare it with the recorded one, field by field (exit 1 if not equal).
    Replay {
        /// The session, YYYY-MM-DD.
        #[arg(value_parser = parse_date)]
        session: NaiveDate,
        /// The mode whose ledger is replayed [default: the config's].
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
        /// One JSON object (the shape is in the README) instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// The daily bars: the local store (update from Schwab, import, export) and checks.
    Data {
        /// `update`, `check`, `import` or `export`.
        #[command(subcommand)]
        action: DataAction,
    },
    /// The simulated account of paper mode: move cash in or out, as a deposit or a
    /// withdrawal would at a real broker.
    Sim {
        /// `deposit` or `withdraw`.
        #[command(subcommand)]
        action: SimAction,
    },
    /// Shell completions on stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// The man page (roff) on stdout, from the same definitions as --help: `jutsu man |
    /// man -l -`
    Man,
}

/// Arguments of `jutsu trade`.
#[derive(Debug, Args)]
pub struct TradeArgs {
    /// Overrides the config's `mode`.
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// Run as if it were that moment, YYYY-MM-DD[THH:MM] in New York (offline sources only;
    /// refused in live mode).
    #[arg(long, value_parser = parse_as_of)]
    pub as_of: Option<AsOf>,
    /// Stop after planning: write the plan, send nothing.
    #[arg(long)]
    pub plan_only: bool,
}

/// Arguments of `jutsu emergency-exit`.
#[derive(Debug, Args)]
pub struct ExitArgs {
    /// Overrides the config's `mode` (dry_run prints the orders and sends none).
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub confirm: bool,
    /// Sell every position the broker reports (a money-market sweep too), not only the
    /// strategy's traded symbols.
    #[arg(long)]
    pub all_positions: bool,
    /// Paper on offline data: exit at this New York date and time [default: the close of
    /// the account's last completed session]; never before that session, never after today.
    #[arg(long, value_parser = parse_as_of)]
    pub as_of: Option<AsOf>,
}

/// `--mode` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// No orders.
    #[value(name = "dry_run")]
    DryRun,
    /// The simulated broker.
    Paper,
    /// Real orders.
    Live,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::DryRun => Mode::DryRun,
            ModeArg::Paper => Mode::Paper,
            ModeArg::Live => Mode::Live,
        }
    }
}

/// `jutsu auth` actions.
#[derive(Debug, Subcommand)]
pub enum AuthAction {
    /// Print the authorize URL, then read the redirected URL and store the tokens.
    Login {
        /// The URL the browser was redirected to (read from stdin when absent).
        #[arg(long)]
        callback_url: Option<String>,
    },
    /// Hours left on the refresh token; non-zero exit when expired or under 24 h.
    Status,
    /// Refresh the access token now.
    Refresh,
}

/// `jutsu config` actions.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate the file and the environment it names; exit 2 on any problem.
    Check,
    /// Print the effective configuration with secrets redacted.
    Show,
}

/// What `jutsu state` does with a hand-edited file.
#[derive(Debug, Subcommand)]
pub enum StateAction {
    /// Keep the edit: check that the file reads as a valid file of its kind and seal it.
    Accept(StateFileArgs),
    /// Undo the edit: put the newest good backup back (the edited file is kept as `.edited`).
    Restore(StateFileArgs),
    /// Record the broker's current positions as the state (after trades made by hand), so
    /// that the next run plans from them instead of stopping on drift.
    Adopt(AdoptArgs),
}

/// Arguments of `jutsu state adopt`.
#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// Why (recorded in the state, in audit.csv and shown by `health`).
    #[arg(long)]
    pub reason: String,
    /// The mode whose state is replaced [default: the config's].
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
}

/// `jutsu data`.
#[derive(Debug, Subcommand)]
pub enum DataAction {
    /// Every problem of the local bars of the strategy's symbols: a bad row, dates out of
    /// order or repeated, a session missing, a date that is not a session, a day without
    /// volume (exit 1); and one-day moves over the quote checks' limit, for review.
    Check {
        /// The folder of `<SYMBOL>.csv` files [default: data.dir].
        #[arg(long = "data-dir", alias = "dir", conflicts_with = "store")]
        data_dir: Option<PathBuf>,
        /// Check the bar store (`data.store`) instead of the CSV files.
        #[arg(long)]
        store: bool,
        /// One JSON object (the shape is in the README) instead of the text.
        #[arg(long)]
        json: bool,
    },
    /// Fetch from Schwab what the store (`data.store`) lacks, with an overlap compared
    /// against what is stored; a history Schwab rewrote is fetched whole again.
    Update {
        /// Fetch every bar from this date again.
        #[arg(long, value_parser = parse_date)]
        from: Option<NaiveDate>,
    },
    /// Put the `<SYMBOL>.csv` files of DIR into the store (checked first; a symbol's stored
    /// bars are replaced).
    Import {
        /// The folder.
        dir: PathBuf,
    },
    /// Write the store's bars to `<SYMBOL>.csv` files in DIR
    /// (`date,open,high,low,close,volume`), e.g. for `backtest --data-dir`.
    Export {
        /// The folder.
        dir: PathBuf,
    },
}

/// `jutsu sim deposit|withdraw`.
#[derive(Debug, Subcommand)]
pub enum SimAction {
    /// Pay cash into the simulated account.
    Deposit(TransferArgs),
    /// Take cash out of the simulated account.
    Withdraw(TransferArgs),
}

/// An amount of cash and its date.
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// The amount, in dollars (cents at most).
    pub amount: rust_decimal::Decimal,
    /// Date it, YYYY-MM-DD in New York [default: today].
    #[arg(long, value_parser = parse_as_of)]
    pub as_of: Option<AsOf>,
}

/// The file `jutsu state` works on.
#[derive(Debug, Args)]
pub struct StateFileArgs {
    /// A state.json, a simulated account (account.json) or a run ledger (runs/*.json)
    /// [default: the mode's state.json].
    pub file: Option<PathBuf>,
    /// The mode whose state.json is meant when no file is named.
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// Act on a file that is intact too (restore replaces it with its newest backup).
    #[arg(long)]
    pub force: bool,
}

/// Output formats of `jutsu calendar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CalendarFormat {
    /// Aligned columns.
    Table,
    /// `date,open,close,run_at`.
    Csv,
}

/// Arguments of `jutsu calendar`.
#[derive(Debug, Args)]
pub struct CalendarArgs {
    /// First date [default: today in New York].
    #[arg(long, value_parser = parse_date)]
    pub from: Option<NaiveDate>,
    /// Last date [default: 30 days after --from].
    #[arg(long, value_parser = parse_date)]
    pub to: Option<NaiveDate>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: CalendarFormat,
}

/// Arguments of `jutsu backtest`.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// First day of the trading period [default: the config's data.trading_start].
    #[arg(long, value_parser = parse_date)]
    pub from: Option<NaiveDate>,
    /// Last day [default: the last bar].
    #[arg(long, value_parser = parse_date)]
    pub to: Option<NaiveDate>,
    /// First bar fed to the strategy [default: the config's data.history_start, as `trade`
    /// uses; the original's rule is --from minus int(1.4 x warmup bars) days].
    #[arg(long, value_parser = parse_date)]
    pub history_start: Option<NaiveDate>,
    /// Folder of <SYMBOL>.csv daily bars [default: the config's data.dir].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Write the daily table (the reference's columns) to this CSV file.
    #[arg(long = "csv", alias = "out")]
    pub csv: Option<PathBuf>,
    /// Write every fill to this CSV file.
    #[arg(long)]
    pub fills: Option<PathBuf>,
    /// Write the report page (statistics, charts, monthly returns, trades) to this HTML file.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// One JSON object (the shape is in the README) instead of the text.
    #[arg(long)]
    pub json: bool,
}

/// `--as-of`: a New York date, with a wall-clock time or (date only) the session's run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsOf {
    /// The date.
    pub date: NaiveDate,
    /// The time of day, when given.
    pub time: Option<NaiveTime>,
}

fn parse_as_of(s: &str) -> Result<AsOf, String> {
    let refused = || format!("`{s}` is not YYYY-MM-DD or YYYY-MM-DDTHH:MM (two-digit hour, 24 h)");
    // chrono takes `T3:55` as 03:55; a time written with one hour digit is more likely a
    // slip (15:55 typed short), so the exact shape is required.
    if let Some((_, time)) = s.split_once('T') {
        let shaped = time.len() == 5
            && time.as_bytes()[2] == b':'
            && time
                .bytes()
                .enumerate()
                .all(|(i, b)| i == 2 || b.is_ascii_digit());
        if !shaped {
            return Err(refused());
        }
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M") {
        return Ok(AsOf {
            date: t.date(),
            time: Some(t.time()),
        });
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|date| AsOf { date, time: None })
        .map_err(|_| {
            // A date of the right shape that does not exist says which part is wrong.
            let date = s.split_once('T').map_or(s, |(date, _)| date);
            match NaiveDate::parse_from_str(date, "%Y-%m-%d") {
                Err(_) if date.split('-').count() == 3 => date_problem(date),
                _ => refused(),
            }
        })
}

/// `jutsu schedule` subcommands.
#[derive(Debug, Subcommand)]
pub enum ScheduleAction {
    /// Crontab lines that start `jutsu trade` on a cron that knows only the machine's zone
    /// (no CRON_TZ needed): one line per local time the run can fall on.
    Crontab {
        /// The machine's zone [default: TZ, /etc/timezone or /etc/localtime].
        #[arg(long)]
        zone: Option<String>,
        /// The folder jutsu is installed in (the lines `cd` there).
        #[arg(long, default_value = "/opt/jutsu")]
        dir: String,
    },
}

/// A date argument, `YYYY-MM-DD`, refused with what is wrong with it (chrono alone says
/// "input is out of range").
fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| date_problem(text))
}

/// Why `text` is not a date: a month or day that does not exist, or the wrong shape.
fn date_problem(text: &str) -> String {
    let parts: Vec<&str> = text.split('-').collect();
    let numbers: Vec<u32> = parts.iter().filter_map(|p| p.parse().ok()).collect();
    let &[year, month, day] = numbers.as_slice() else {
        return format!("`{text}` is not a date: write it YYYY-MM-DD, e.g. 2025-12-12");
    };
    let Some(name) = u8::try_from(month)
        .ok()
        .and_then(|m| chrono::Month::try_from(m).ok())
    else {
        return format!("`{text}` is not a date: there is no month {month} (01 to 12)");
    };
    let year = i32::try_from(year).unwrap_or(i32::MAX);
    let days = (28..=31)
        .rev()
        .find(|d| NaiveDate::from_ymd_opt(year, month, *d).is_some());
    match days {
        Some(days) if day > days || day == 0 => format!(
            "`{text}` is not a date: {} {year} has days 01 to {days}",
            name.name()
        ),
        _ => format!("`{text}` is not a date: write it YYYY-MM-DD, e.g. 2025-12-12"),
    }
}

/// `YYYY-Www`: the Monday of that ISO week.
fn parse_week(text: &str) -> Result<NaiveDate, String> {
    let bad = || format!("{text}: expected an ISO week like 2025-W50");
    let (year, week) = text.split_once("-W").ok_or_else(bad)?;
    let year: i32 = year.parse().map_err(|_| bad())?;
    let week: u32 = week.parse().map_err(|_| bad())?;
    NaiveDate::from_isoywd_opt(year, week, chrono::Weekday::Mon).ok_or_else(bad)
}

/// `YYYY-MM`: the first day of that month.
fn parse_month(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
        .map_err(|_| format!("{text}: expected a month like 2025-12"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_that_does_not_exist_is_refused_saying_which_part_is_wrong() {
        let refused = |text: &str| parse_date(text).unwrap_err();
        assert!(refused("2025-13-01").contains("there is no month 13"));
        assert!(refused("2025-02-30").contains("February 2025 has days 01 to 28"));
        assert!(refused("2024-02-30").contains("February 2024 has days 01 to 29"));
        assert!(refused("2025-04-00").contains("April 2025 has days 01 to 30"));
        assert!(refused("12/01/2025").contains("write it YYYY-MM-DD"));
        assert_eq!(
            parse_date("2024-02-29"),
            NaiveDate::from_ymd_opt(2024, 2, 29).ok_or(String::new())
        );
        // --as-of says the same of its date, and keeps its own words for a bad time.
        assert!(parse_as_of("2025-13-01")
            .unwrap_err()
            .contains("no month 13"));
        assert!(parse_as_of("2025-02-30T15:55")
            .unwrap_err()
            .contains("has days 01 to 28"));
        assert!(parse_as_of("2025-12-12T25:00")
            .unwrap_err()
            .contains("two-digit hour"));
        assert_eq!(
            parse_as_of("2025-12-12T15:55").map(|a| a.date),
            NaiveDate::from_ymd_opt(2025, 12, 12).ok_or(String::new())
        );
    }
}
