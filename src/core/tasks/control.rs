//! Control of a running task (see docs/upstream.md#control): pause and resume at checkpoints,
//! cancel, and the stored control state.

use serde::{Deserialize, Serialize};

use super::Executor;
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::run::RunControl;
use crate::core::run::lifecycle::{self, Ended, EventType, Outcome, TaskEnd, TaskStatus};
use crate::core::store;
pub use crate::core::store::task_reads::ControlState;
use crate::core::{Core, time};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ControlResponse {
    pub success: bool,
    pub message: String,
    pub task_id: String,
}

impl Core {
    /// Whether the caller's task is paused or cancelled, when, by whom and why.
    pub async fn get_control_state(&self, caller: &Caller, id: &str) -> Result<ControlState> {
        let row = self.owned_task(caller, id).await?;
        let wf = row.workflow_id;
        self.store()
            .read(move |c| Ok(store::task_reads::control_state(c, &wf)?.unwrap_or_default()))
            .await
    }

    /// Pauses a running task at once: no further delta reaches subscribers after this returns, a
    /// model answer still streaming is held (and journaled when it ends), and WORKFLOW_PAUSED follows
    /// without waiting for the model.
    pub async fn pause_task(
        &self,
        caller: &Caller,
        id: &str,
        reason: Option<String>,
    ) -> Result<ControlResponse> {
        self.set_paused(caller, id, true, reason).await
    }

    /// Resumes a paused task: WORKFLOW_RESUMED, then the held model text, then the run continues.
    /// `invalid_state` when the task is not paused, has ended, or runs in no live process.
    pub async fn resume_task(
        &self,
        caller: &Caller,
        id: &str,
        reason: Option<String>,
    ) -> Result<ControlResponse> {
        self.set_paused(caller, id, false, reason).await
    }

    /// Pause and resume: the cloud's state checks, the persisted control state and task status,
    /// the announcing event, then the signal to the run.
    async fn set_paused(
        &self,
        caller: &Caller,
        id: &str,
        pause: bool,
        reason: Option<String>,
    ) -> Result<ControlResponse> {
        let verb = if pause { "pause" } else { "resume" };
        let row = self.owned_task(caller, id).await?;
        if let Executor::Remote(profile) = row.executor()? {
            let verb = if pause { "pause" } else { "resume" };
            return self
                .control_remote(caller, &row, &profile, verb, reason)
                .await;
        }
        if row.status.is_terminal() {
            return Err(ShannonError::InvalidState(format!(
                "cannot {verb} {} task",
                row.status.word()
            )));
        }
        let control = self.run_control_or_err(&row.workflow_id)?;
        match (pause, *control.pause.borrow()) {
            (true, true) => {
                return Err(ShannonError::InvalidState("task is already paused".into()));
            }
            (false, false) => return Err(ShannonError::InvalidState("task is not paused".into())),
            _ => {}
        }
        let reason = clean_reason(reason);
        let (wf, by, r) = (
            row.workflow_id.clone(),
            caller.user_id.clone(),
            reason.clone(),
        );
        self.store()
            .write(move |tx| {
                let now = time::now();
                if pause {
                    store::tasks::mark_paused(tx, &wf, &now, &r, &by)?;
                    let from = [TaskStatus::Queued, TaskStatus::Running];
                    lifecycle::move_status(tx, &wf, &from, TaskStatus::Paused, &now)?;
                } else {
                    store::tasks::clear_paused(tx, &wf, &now)?;
                    let from = [TaskStatus::Paused];
                    lifecycle::move_status(tx, &wf, &from, TaskStatus::Running, &now)?;
                }
                Ok(())
            })
            .await?;
        let hub = &self.engine().hub;
        let wf = row.workflow_id.as_str();
        if pause {
            // From here on nothing but control events reaches subscribers; what the provider still
            // streams waits in the hold.
            hub.hold(wf);
            let text = with_reason("Pausing", &reason);
            hub.emit(
                wf,
                EventType::WorkflowPausing,
                Some("orchestrator"),
                Some(text),
                None,
            );
            control.pause.send_replace(true);
            // Everything emitted before the hold is visible before the caller hears back.
            hub.settle(wf).await;
        } else {
            let text = with_reason("Resuming", &reason);
            hub.emit(
                wf,
                EventType::WorkflowResumed,
                Some("orchestrator"),
                Some(text),
                None,
            );
            // The held text comes first, then whatever the run emits next.
            hub.release(wf);
            control.pause.send_replace(false);
        }
        let message = if pause {
            "Pause signal sent"
        } else {
            "Resume signal sent"
        };
        self.notify_task_status(
            &caller.user_id,
            &row.workflow_id,
            if pause {
                TaskStatus::Paused
            } else {
                TaskStatus::Running
            },
        );
        Ok(ControlResponse {
            success: true,
            message: message.into(),
            task_id: row.workflow_id,
        })
    }

    /// Cancels a running or paused task; it stops at its next checkpoint or between streamed chunks.
    /// A finished task is left alone and the answer says so (`success: false`), as the cloud.
    pub async fn cancel_task(
        &self,
        caller: &Caller,
        id: &str,
        reason: Option<String>,
    ) -> Result<ControlResponse> {
        let row = self.owned_task(caller, id).await?;
        if let Executor::Remote(profile) = row.executor()? {
            return self
                .control_remote(caller, &row, &profile, "cancel", reason)
                .await;
        }
        if row.status.is_terminal() {
            return Ok(already_ended(row.workflow_id, row.status));
        }
        let reason = clean_reason(reason);
        let (wf, by, r) = (
            row.workflow_id.clone(),
            caller.user_id.clone(),
            reason.clone(),
        );
        self.store()
            .write(move |tx| {
                store::tasks::mark_cancelled(tx, &wf, &r, &by, &time::now())?;
                Ok(())
            })
            .await?;
        match self.engine().run_control(&row.workflow_id) {
            Some(control) => {
                self.engine().hub.emit(
                    &row.workflow_id,
                    EventType::WorkflowCancelling,
                    Some("orchestrator"),
                    Some(with_reason("Cancelling", &reason)),
                    None,
                );
                control.cancel.cancel();
            }
            None => {
                // No live run (it ended just now, or never restarted): settle the row directly.
                let end = TaskEnd {
                    workflow_id: row.workflow_id.clone(),
                    user_id: caller.user_id.clone(),
                    ..Default::default()
                };
                let cancelled = Outcome::Cancelled {
                    checkpoint: "not_running".into(),
                    was_paused: None,
                };
                if let Ended::Already(status) = lifecycle::finish(self, &end, cancelled).await? {
                    return Ok(already_ended(row.workflow_id, status));
                }
            }
        }
        Ok(ControlResponse {
            success: true,
            message: "Task cancelled successfully".into(),
            task_id: row.workflow_id,
        })
    }

    /// Ends a task that outlived its time limit: a live run stops at its next checkpoint or between
    /// streamed chunks and ends TIMEOUT; a task with no live run ends TIMEOUT at once.
    pub async fn time_out_task(
        &self,
        caller: &Caller,
        id: &str,
        limit: std::time::Duration,
    ) -> Result<()> {
        let row = self.owned_task(caller, id).await?;
        if row.status.is_terminal() {
            return Ok(());
        }
        let message = format!("timeout: the run exceeded its {} s limit", limit.as_secs());
        match self.engine().run_control(&row.workflow_id) {
            Some(control) => {
                let _ = control.timed_out.set(message);
                control.cancel.cancel();
            }
            None => {
                let end = TaskEnd {
                    workflow_id: row.workflow_id,
                    user_id: caller.user_id.clone(),
                    ..Default::default()
                };
                lifecycle::finish(self, &end, Outcome::TimedOut { message }).await?;
            }
        }
        Ok(())
    }

    fn run_control_or_err(&self, workflow_id: &str) -> Result<RunControl> {
        self.engine()
            .run_control(workflow_id)
            .ok_or_else(|| ShannonError::InvalidState("task is not running in this process".into()))
    }
}

pub(crate) fn clean_reason(reason: Option<String>) -> String {
    reason
        .map(|r| r.trim().chars().take(500).collect())
        .unwrap_or_default()
}

fn with_reason(verb: &str, reason: &str) -> String {
    if reason.is_empty() {
        verb.to_string()
    } else {
        format!("{verb}: {reason}")
    }
}

/// The cloud's answer to a cancel of a finished task: still accepted, `success: false`.
fn already_ended(task_id: String, status: TaskStatus) -> ControlResponse {
    ControlResponse {
        success: false,
        message: format!("Failed to cancel task: task is already {}", status.word()),
        task_id,
    }
}
