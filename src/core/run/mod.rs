//! The task engine: submission, execution (simple and standard tool loop), control at checkpoints,
//! usage and budgets, sessions, the step journal, and crash recovery. The task life cycle (status,
//! event types, the end of a task) lives in [`lifecycle`].

pub(crate) mod budget;
pub mod journal;
pub mod lifecycle;
mod recovery;
pub(crate) mod runner;
pub(crate) mod setup;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::core::streams::EventHub;

pub use lifecycle::{EventType, TaskStatus};
pub(crate) use recovery::recover;

/// What start-up does with tasks a crash or exit left RUNNING or PAUSED.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryPolicy {
    /// Continue from the last completed step (a model call or tool result); a task that was paused
    /// comes back paused.
    #[default]
    Resume,
    /// Mark them FAILED with the reason "interrupted: the app exited while the task was running".
    Fail,
}

/// Provider and model used when a submission names none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineDefaults {
    /// The provider's id (default `demo`, the offline one).
    pub provider: String,
    /// The model; `None` = the provider's default model.
    pub model: Option<String>,
}

impl Default for EngineDefaults {
    fn default() -> Self {
        Self {
            provider: "demo".into(),
            model: None,
        }
    }
}

/// Live control handles of a running task.
#[derive(Clone)]
pub(crate) struct RunControl {
    pub cancel: CancellationToken,
    pub pause: Arc<watch::Sender<bool>>,
    /// Set before `cancel` when the run outlived its time limit: it then ends TIMEOUT, not CANCELLED.
    pub timed_out: Arc<std::sync::OnceLock<String>>,
}

/// Engine state held by the core.
pub struct Engine {
    pub(crate) hub: Arc<EventHub>,
    pub(crate) runs: Mutex<HashMap<String, RunControl>>,
    pub(crate) defaults: RwLock<EngineDefaults>,
    pub(crate) recovery: RecoveryPolicy,
    pub(crate) approval_policy: RwLock<crate::core::hitl::approvals::ApprovalPolicy>,
    /// Ticks when the user answers (an approval, a plan review): waiting runs look at theirs again.
    answers_tick: watch::Sender<u64>,
    /// Cancelled when the app shuts down: every run's cancel token is its child, so runs stop at
    /// their next checkpoint (a model call in flight aborted) and stay resumable.
    pub(crate) shutdown: CancellationToken,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("recovery", &self.recovery)
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub(crate) fn new(
        hub: Arc<EventHub>,
        defaults: EngineDefaults,
        recovery: RecoveryPolicy,
        approval_policy: crate::core::hitl::approvals::ApprovalPolicy,
    ) -> Self {
        Self {
            hub,
            runs: Mutex::new(HashMap::new()),
            defaults: RwLock::new(defaults),
            recovery,
            approval_policy: RwLock::new(approval_policy),
            answers_tick: watch::channel(0).0,
            shutdown: CancellationToken::new(),
        }
    }

    pub(crate) fn answers_changed(&self) {
        self.answers_tick.send_modify(|n| *n += 1);
    }

    pub(crate) fn watch_answers(&self) -> watch::Receiver<u64> {
        self.answers_tick.subscribe()
    }

    pub(crate) fn approval_policy(&self) -> crate::core::hitl::approvals::ApprovalPolicy {
        self.approval_policy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn run_control(&self, workflow_id: &str) -> Option<RunControl> {
        self.runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(workflow_id)
            .cloned()
    }
}
