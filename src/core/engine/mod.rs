//! The task engine: submission, execution (simple and standard tool loop), control at checkpoints,
//! usage and budgets, sessions, and crash recovery.

pub mod events;
pub mod models;
pub mod progress;
pub mod request;
mod runner;
pub mod schedules;
pub mod sessions;
pub mod subscribe;
pub mod tasks;
pub mod tools;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use events::{EventHub, TaskEvent};
pub use request::SubmitTaskRequest;
pub(crate) use runner::recover as runner_recover;
pub use subscribe::TaskSubscription;

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
    pub provider: String,
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
}

/// Engine state held by the core.
pub struct Engine {
    pub(crate) hub: Arc<EventHub>,
    pub(crate) runs: Mutex<HashMap<String, RunControl>>,
    pub(crate) defaults: RwLock<EngineDefaults>,
    pub(crate) recovery: RecoveryPolicy,
    pub(crate) schedule_limits: schedules::ScheduleLimits,
    /// Wakes the scheduler loop when a schedule changes.
    pub(crate) scheduler_wake: Arc<tokio::sync::Notify>,
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
        schedule_limits: schedules::ScheduleLimits,
    ) -> Self {
        Self {
            hub,
            runs: Mutex::new(HashMap::new()),
            defaults: RwLock::new(defaults),
            recovery,
            schedule_limits,
            scheduler_wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    pub(crate) fn run_control(&self, workflow_id: &str) -> Option<RunControl> {
        self.runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(workflow_id)
            .cloned()
    }
}
