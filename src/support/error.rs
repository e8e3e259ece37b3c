//! Typed errors and the process exit codes they map to.
//!
//! Every failure a user can meet is a variant here, carrying what happened and where. The
//! binary prints the error (with secrets redacted) and exits with [`Error::exit_code`].

use std::path::PathBuf;

/// Exit codes documented in the README and in `jutsu --help`.
pub mod exit {
    /// Done, or nothing to do (not a session, already done today).
    pub const OK: u8 = 0;
    /// Any other failure.
    pub const FAILURE: u8 = 1;
    /// Usage or configuration error.
    pub const USAGE: u8 = 2;
    /// Preflight failed: nothing was sent.
    pub const PREFLIGHT: u8 = 3;
    /// Execution incomplete: some orders were sent and the run stopped (a human must look).
    pub const INCOMPLETE: u8 = 4;
    /// Halted: the halt flag is set.
    pub const HALTED: u8 = 5;
}

/// The library's error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file has one or more problems (all of them are listed).
    #[error("{path}: {count} configuration problem(s):\n{list}", count = .problems.len(), list = bullet_list(.problems))]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// Every problem found, each with its key path.
        problems: Vec<String>,
    },
    /// A command-line value is not acceptable.
    #[error("{0}")]
    Usage(String),
    /// The core refused its inputs: a bad data row or unusable parameters.
    #[error(transparent)]
    Domain(#[from] crate::domain::DomainError),
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What jutsu was doing ("reading", "writing", ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The broker or market-data source failed.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// A file jutsu wrote is damaged and no good backup exists.
    #[error("{path} is damaged ({problem}) and no backup of it is good; nothing was traded. Move it aside to rebuild from the broker")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A file jutsu wrote was edited by hand: it reads as valid, but its checksum does not
    /// match. jutsu acts on no edit that nobody confirmed.
    #[error("{path} was edited by hand: it reads as a valid file but its checksum does not match, and jutsu does not act on an edit nobody confirmed. If the edit is meant, run `jutsu state accept {path}`; to undo it, `jutsu state restore {path}` (the newest good backup comes back, the edit is kept as {path}.edited)", path = .path.display())]
    HandEdited {
        /// The file.
        path: PathBuf,
    },
    /// Another run holds the lock.
    #[error("{0}")]
    Locked(String),
    /// The order journal refused an update, or a share count did not fit.
    #[error(transparent)]
    Journal(#[from] crate::domain::journal::JournalError),
    /// Anything else, with its context.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config { .. }
            | Error::Usage(_)
            | Error::Domain(_)
            | Error::Broker(BrokerError::BadData(_) | BrokerError::Setup(_)) => exit::USAGE,
            Error::Locked(_) | Error::Corrupt { .. } | Error::HandEdited { .. } => exit::PREFLIGHT,
            Error::Io { .. } | Error::Broker(_) | Error::Journal(_) | Error::Other(_) => {
                exit::FAILURE
            }
        }
    }

    /// An I/O error with the file it concerns.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

fn bullet_list(items: &[String]) -> String {
    items
        .iter()
        .map(|item| format!("  - {item}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Result with the library's error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Failures of a broker or market-data source (defined here, beside [`Error`], so that the
/// brokers and the files they keep can both return it without a cycle of modules).
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The login has expired or was refused: a human must run `jutsu auth login`.
    #[error("{0}; run `jutsu auth login` to log in again")]
    Auth(String),
    /// There has been no login on this machine yet (no token file).
    #[error("{0}: run `jutsu auth login` to log in")]
    NotLoggedIn(String),
    /// The service answered with an error status.
    #[error("{endpoint}: HTTP {status}: {message}")]
    Http {
        /// Which call.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// What the service said.
        message: String,
    },
    /// The request did not complete (timeout, connection refused, ...).
    #[error("{endpoint}: {message}")]
    Transport {
        /// Which call.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
    /// The answer could not be understood or failed validation.
    #[error("{endpoint}: unexpected response: {message}")]
    Invalid {
        /// Which call.
        endpoint: String,
        /// What was wrong with it.
        message: String,
    },
    /// The order was refused.
    #[error("order refused: {0}")]
    Rejected(String),
    /// A local file of the broker could not be read or written.
    #[error("{0}")]
    Storage(String),
    /// A local data file has a bad row or cannot be read (a usage problem: exit 2).
    #[error("{0}")]
    BadData(String),
    /// The configuration does not say enough to use the broker (several linked accounts
    /// and no `schwab.account_number`): a usage problem, exit 2, before any request on an
    /// account.
    #[error("{0}")]
    Setup(String),
}
