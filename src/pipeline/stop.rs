//! Why a trade run stopped, and the one rule that gives its exit code: once anything may
//! have reached the broker, a stop is "incomplete" (exit 4), whatever stopped it.

use crate::domain::summary::Outcome;
use crate::support::error::exit;

/// Why a run stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// A usage or configuration problem (exit 2).
    Usage(String),
    /// Stopped before anything was sent (exit 3).
    NothingSent(String),
    /// Stopped after orders were sent, or may have been (exit 4).
    Incomplete(String),
    /// The halt flag is set (exit 5).
    Halted(String),
}

impl Stop {
    /// Stopped before sending anything (exit 3).
    pub(crate) fn preflight(message: impl Into<String>) -> Self {
        Stop::NothingSent(message.into())
    }

    /// Stopped after orders were sent (exit 4).
    pub(crate) fn incomplete(message: impl Into<String>) -> Self {
        Stop::Incomplete(message.into())
    }

    /// A usage problem (exit 2).
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Stop::Usage(message.into())
    }

    /// The process exit code.
    pub(crate) fn code(&self) -> u8 {
        match self {
            Stop::Usage(_) => exit::USAGE,
            Stop::NothingSent(_) => exit::PREFLIGHT,
            Stop::Incomplete(_) => exit::INCOMPLETE,
            Stop::Halted(_) => exit::HALTED,
        }
    }

    /// What happened.
    pub(crate) fn message(&self) -> &str {
        match self {
            Stop::Usage(m) | Stop::NothingSent(m) | Stop::Incomplete(m) | Stop::Halted(m) => m,
        }
    }

    /// The same stop with more said.
    pub(crate) fn with_message(self, message: String) -> Self {
        match self {
            Stop::Usage(_) => Stop::Usage(message),
            Stop::NothingSent(_) => Stop::NothingSent(message),
            Stop::Incomplete(_) => Stop::Incomplete(message),
            Stop::Halted(_) => Stop::Halted(message),
        }
    }

    /// The rule: once anything may have been sent (`sent`), a stop is incomplete.
    pub(crate) fn given_sent(self, sent: bool) -> Self {
        match self {
            Stop::Halted(_) | Stop::Incomplete(_) => self,
            other if sent => Stop::Incomplete(other.message().to_string()),
            other => other,
        }
    }

    /// The summary's outcome word and the verdict's opening.
    pub(crate) fn verdict_words(&self) -> (Outcome, &'static str) {
        match self {
            Stop::Halted(_) => (Outcome::Halted, "HALTED"),
            Stop::Incomplete(_) => (
                Outcome::Incomplete,
                "INCOMPLETE: orders were sent and the run stopped; a human must look",
            ),
            Stop::NothingSent(_) => (Outcome::Failed, "FAILED before sending anything"),
            Stop::Usage(_) => (Outcome::Failed, "FAILED: usage or configuration"),
        }
    }
}

impl From<crate::support::error::Error> for Stop {
    fn from(e: crate::support::error::Error) -> Self {
        match e.exit_code() {
            exit::USAGE => Stop::Usage(e.to_string()),
            // Any other failure of the run: nothing sent, unless the rule says otherwise.
            _ => Stop::NothingSent(e.to_string()),
        }
    }
}

impl From<crate::domain::DomainError> for Stop {
    fn from(e: crate::domain::DomainError) -> Self {
        Stop::usage(e.to_string())
    }
}

impl From<crate::domain::journal::JournalError> for Stop {
    fn from(e: crate::domain::journal::JournalError) -> Self {
        Stop::preflight(format!("the order journal refused an update: {e}"))
    }
}

impl From<crate::domain::portfolio::TooManyShares> for Stop {
    fn from(e: crate::domain::portfolio::TooManyShares) -> Self {
        Stop::preflight(e.to_string())
    }
}

impl From<crate::brokers::BrokerError> for Stop {
    fn from(e: crate::brokers::BrokerError) -> Self {
        match e {
            // A bad row in the local bars is the user's file to fix (exit 2 everywhere).
            crate::brokers::BrokerError::BadData(_) | crate::brokers::BrokerError::Setup(_) => {
                Stop::usage(e.to_string())
            }
            _ => Stop::preflight(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_anything_may_have_been_sent_every_stop_is_incomplete() {
        let before = Stop::preflight("quote stale");
        assert_eq!(before.clone().given_sent(false).code(), exit::PREFLIGHT);
        assert_eq!(before.given_sent(true).code(), exit::INCOMPLETE);
        assert_eq!(Stop::usage("x").given_sent(true).code(), exit::INCOMPLETE);
        assert_eq!(
            Stop::Halted("h".into()).given_sent(true).code(),
            exit::HALTED
        );
        let e = crate::support::error::Error::Io {
            action: "writing",
            path: "state.json".into(),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(Stop::from(e).code(), exit::PREFLIGHT);
    }
}
