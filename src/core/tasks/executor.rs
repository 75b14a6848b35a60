//! Where a task runs: one typed value on the task row (`tasks.executor`), chosen at submission and
//! read back by control, recovery and reads: the embedded engine, or a Shannon cloud deployment
//! (remote mode, `src/core/remote/`), whose submit, control, recovery and reads branch here, and
//! nowhere else.

use serde::{Deserialize, Serialize};

use crate::core::error::{Result, ShannonError};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Executor {
    /// The embedded engine in this process.
    #[default]
    Local,
    /// A Shannon cloud deployment, by profile id; the local row mirrors it.
    Remote(String),
}

const REMOTE_PREFIX: &str = "remote:";

impl Executor {
    /// The stored form: `local` or `remote:<profile id>`.
    pub fn db(&self) -> String {
        match self {
            Self::Local => "local".into(),
            Self::Remote(p) => format!("{REMOTE_PREFIX}{p}"),
        }
    }

    /// Reads the stored form; an executor this build does not know is refused, never run locally
    /// by accident.
    pub fn from_db(text: &str) -> Result<Self> {
        match text {
            "local" => Ok(Self::Local),
            other => match other.strip_prefix(REMOTE_PREFIX) {
                Some(p) if !p.is_empty() => Ok(Self::Remote(p.to_string())),
                _ => Err(ShannonError::Conflict(format!(
                    "the task runs on an executor this build does not know: {other}"
                ))),
            },
        }
    }

    /// The refusal of a task for a session that lives on the backend stored as `on`.
    pub(crate) fn session_elsewhere(session: &str, on: &str) -> ShannonError {
        let backend = match Self::from_db(on) {
            Ok(Self::Remote(p)) => format!("the Shannon cloud profile {p:?}"),
            _ => "this device".into(),
        };
        ShannonError::SessionOnOtherBackend(format!(
            "session {session} runs on {backend}; fork it to continue elsewhere"
        ))
    }

    /// The profile id of a remote executor.
    pub fn profile(&self) -> Option<&str> {
        match self {
            Self::Local => None,
            Self::Remote(p) => Some(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips_and_unknown_is_refused() {
        for e in [Executor::Local, Executor::Remote("team".into())] {
            assert_eq!(Executor::from_db(&e.db()).unwrap(), e);
        }
        assert!(Executor::from_db("shannon-cloud").is_err());
        assert!(Executor::from_db("remote:").is_err());
    }
}
