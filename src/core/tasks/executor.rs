//! Where a task runs: one typed value on the task row (`tasks.executor`), chosen at submission and
//! read back by control, recovery and reads. Today every task runs on the embedded engine
//! ([`Executor::Local`]); running on a Shannon cloud deployment is a further variant whose submit,
//! control, recovery and reads branch here, and nowhere else.

use serde::{Deserialize, Serialize};

use crate::core::error::{Result, ShannonError};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Executor {
    /// The embedded engine in this process.
    #[default]
    Local,
}

impl Executor {
    /// The stored form.
    pub fn db(self) -> &'static str {
        match self {
            Self::Local => "local",
        }
    }

    /// Reads the stored form; an executor this build does not know is refused, never run locally
    /// by accident.
    pub fn from_db(text: &str) -> Result<Self> {
        match text {
            "local" => Ok(Self::Local),
            other => Err(ShannonError::Conflict(format!(
                "the task runs on an executor this build does not know: {other}"
            ))),
        }
    }

    /// Where a new task runs.
    pub fn for_submission() -> Self {
        Self::Local
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips_and_unknown_is_refused() {
        assert_eq!(
            Executor::from_db(Executor::Local.db()).unwrap(),
            Executor::Local
        );
        assert!(Executor::from_db("shannon-cloud").is_err());
    }
}
