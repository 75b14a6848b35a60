//! The end of a task, written once: the terminal row with its usage totals, the session totals,
//! the status notification, the terminal events, STREAM_END, and the stream's close.

use serde_json::json;

use super::{EventType, TaskStatus};
use crate::core::Core;
use crate::core::error::{Result, ShannonError};
use crate::core::store;
use crate::core::streams::{NewEvent, TaskEvent};
use crate::core::time;

/// How a task ends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Completed {
        answer: String,
    },
    Cancelled {
        checkpoint: String,
        /// Whether it was blocked while paused; `None` reads it from the stored status (no live run).
        was_paused: Option<bool>,
    },
    Failed {
        message: String,
    },
    /// The run outlived its time limit (a schedule's `timeout_seconds`).
    TimedOut {
        message: String,
    },
}

impl Outcome {
    pub fn status(&self) -> TaskStatus {
        match self {
            Outcome::Completed { .. } => TaskStatus::Completed,
            Outcome::Cancelled { .. } => TaskStatus::Cancelled,
            Outcome::Failed { .. } => TaskStatus::Failed,
            Outcome::TimedOut { .. } => TaskStatus::Timeout,
        }
    }
}

/// What the one ending the task knows beyond the stored row.
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskEnd {
    pub workflow_id: String,
    pub user_id: String,
    pub provider: Option<String>,
    /// The model asked for, used when no model call recorded one.
    pub model: Option<String>,
    pub duration_ms: Option<i64>,
    /// Set on the session when it has none yet (a completed turn names its session).
    pub session_title: Option<String>,
    /// Merged into the task's metadata with the end (what a strategy reports of its run).
    pub metadata: Option<serde_json::Value>,
}

/// What [`finish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The task ended now, with this status.
    Now(TaskStatus),
    /// It had already ended with this status; nothing was written or emitted.
    Already(TaskStatus),
}

struct Stored {
    status: TaskStatus,
    cancel_reason: String,
    last_seq: u32,
}

/// Ends a task. What the run emitted is stored first; then the terminal row and the end's events
/// (terminal event, STREAM_END) are written in one transaction, so a crash leaves either a running
/// task with no end or an ended one with its whole end: a finished task's stream always ends. The
/// store error is returned before anyone is told of an end the database does not hold.
pub(crate) async fn finish(core: &Core, end: &TaskEnd, outcome: Outcome) -> Result<Ended> {
    let target = outcome.status();
    let hub = &core.engine().hub;
    let wf = end.workflow_id.as_str();
    // The held text is queued, nothing new is numbered, and all of it is stored before the end.
    hub.release(wf);
    hub.seal(wf);
    hub.settle(wf).await;
    let (e, o) = (end.clone(), outcome.clone());
    let (stored, events) = core
        .store()
        .write(move |tx| {
            let stored = write_end(tx, &e, &o)?;
            if !stored.status.can_become(o.status()) {
                return Ok((stored, Vec::new()));
            }
            let events = end_events(&e.workflow_id, &o, &stored);
            store::events::insert(tx, &events)?;
            Ok((stored, events))
        })
        .await?;
    if !stored.status.can_become(target) {
        hub.close_stream(wf);
        return Ok(Ended::Already(stored.status));
    }
    core.notify_task_status(&end.user_id, &end.workflow_id, target);
    // Stored with the row: visible now, and the stream closes after them.
    hub.adopt(wf, stored.last_seq, events);
    Ok(Ended::Now(target))
}

/// The end's events, numbered after the stored stream.
fn end_events(wf: &str, outcome: &Outcome, stored: &Stored) -> Vec<TaskEvent> {
    let agent = "orchestrator";
    let mut events = Vec::new();
    match outcome {
        Outcome::Completed { .. } => {
            events.push(NewEvent::new(
                EventType::WorkflowCompleted,
                agent,
                "All done",
            ));
        }
        Outcome::Cancelled {
            checkpoint,
            was_paused,
        } => {
            let was_paused = was_paused.unwrap_or(stored.status == TaskStatus::Paused);
            let mut payload = json!({"checkpoint": checkpoint});
            if was_paused {
                payload["was_paused"] = json!(true);
            }
            let message = if stored.cancel_reason.is_empty() {
                "Cancelled".to_string()
            } else {
                format!("Cancelled: {}", stored.cancel_reason)
            };
            events.push(
                NewEvent::new(EventType::WorkflowCancelled, agent, message).with_payload(payload),
            );
        }
        Outcome::Failed { message } | Outcome::TimedOut { message } => {
            events.push(
                NewEvent::new(EventType::ErrorOccurred, agent, message.clone())
                    .with_payload(json!({"error": message})),
            );
            events.push(NewEvent::new(
                EventType::WorkflowFailed,
                agent,
                message.clone(),
            ));
        }
    }
    events.push(NewEvent::new(EventType::StreamEnd, agent, "Done"));
    let now = time::now();
    events
        .into_iter()
        .zip(stored.last_seq + 1..)
        .map(|(e, seq)| e.into_event(wf, seq, None, now.clone()))
        .collect()
}

/// The terminal write, in one transaction; returns the status found before it.
fn write_end(tx: &rusqlite::Transaction<'_>, end: &TaskEnd, outcome: &Outcome) -> Result<Stored> {
    let wf = end.workflow_id.as_str();
    let state = store::task_reads::end_state(tx, wf)?
        .ok_or_else(|| ShannonError::NotFound("Task not found".into()))?;
    let (task_id, status, session_id) = (state.task_id, state.status, state.session_id);
    let status = TaskStatus::from_db(&status)
        .ok_or_else(|| ShannonError::Database(format!("unknown task status {status:?}")))?;
    let found = Stored {
        status,
        cancel_reason: state.cancel_reason,
        last_seq: state.last_seq,
    };
    let target = outcome.status();
    if !status.can_become(target) {
        return Ok(found);
    }
    let now = time::now();
    // Totals come from the token-usage rows, one per completed model call, so a resumed run's
    // earlier calls count exactly once.
    let totals = store::steps::totals(tx, &task_id)?;
    let (result, error) = match outcome {
        Outcome::Completed { answer } => (Some(answer.as_str()), None),
        Outcome::Failed { message } | Outcome::TimedOut { message } => {
            (None, Some(message.as_str()))
        }
        Outcome::Cancelled { .. } => (None, None),
    };
    let model = totals.last_model.or_else(|| end.model.clone());
    store::tasks::mark_finished(
        tx,
        &store::tasks::TerminalRow {
            workflow_id: wf,
            status: target,
            result,
            error,
            provider: end.provider.as_deref(),
            model: model.as_deref(),
            input_tokens: totals.input_tokens,
            output_tokens: totals.output_tokens,
            total_tokens: totals.total_tokens,
            cache_read_tokens: totals.cache_read_tokens,
            cache_creation_tokens: totals.cache_creation_tokens,
            cost_usd: totals.cost_usd,
            now: &now,
            duration_ms: end.duration_ms,
            metadata: end.metadata.as_ref().map(|m| m.to_string()),
        },
    )?;
    store::tasks::clear_paused(tx, wf, &now)?;
    if let Some(session) = session_id {
        let title = end
            .session_title
            .as_deref()
            .filter(|_| target == TaskStatus::Completed);
        store::tasks::add_to_session_totals(
            tx,
            &session,
            totals.total_tokens,
            totals.cost_usd,
            &now,
            title,
        )?;
    }
    // The journal served the run; the task's events and usage rows keep its history.
    store::steps::delete_for_task(tx, &task_id)?;
    Ok(found)
}
