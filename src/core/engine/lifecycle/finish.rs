//! The end of a task, written once: the terminal row with its usage totals, the session totals,
//! the status notification, the terminal events, STREAM_END, and the stream's close.

use rusqlite::{OptionalExtension, params};
use serde_json::json;

use super::{EventType, TaskStatus};
use crate::core::Core;
use crate::core::engine::events::{NewEvent, TaskEvent, insert_events};
use crate::core::error::{Result, ShannonError};
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
            insert_events(tx, &events)?;
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
        .map(|(e, seq)| TaskEvent {
            workflow_id: wf.to_string(),
            event_type: e.event_type.as_str().to_string(),
            agent_id: e.agent_id,
            message: e.message,
            payload: e.payload,
            timestamp: now.clone(),
            seq,
            stream_id: None,
        })
        .collect()
}

/// The terminal write, in one transaction; returns the status found before it.
fn write_end(tx: &rusqlite::Transaction<'_>, end: &TaskEnd, outcome: &Outcome) -> Result<Stored> {
    let wf = end.workflow_id.as_str();
    let (task_id, status, session_id, cancel_reason, last_seq): (
        String,
        String,
        Option<String>,
        String,
        u32,
    ) = tx
        .query_row(
            "SELECT t.id, t.status, t.session_id, coalesce(w.cancel_reason, ''),
                    (SELECT coalesce(max(seq), 0) FROM task_events e WHERE e.workflow_id = t.workflow_id)
             FROM tasks t LEFT JOIN workflow_control w ON w.workflow_id = t.workflow_id
             WHERE t.workflow_id = ?1",
            [wf],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?
        .ok_or_else(|| ShannonError::NotFound("Task not found".into()))?;
    let status = TaskStatus::from_db(&status)
        .ok_or_else(|| ShannonError::Database(format!("unknown task status {status:?}")))?;
    let found = Stored {
        status,
        cancel_reason,
        last_seq,
    };
    let target = outcome.status();
    if !status.can_become(target) {
        return Ok(found);
    }
    let now = time::now();
    // Totals come from the token-usage rows, one per completed model call, so a resumed run's
    // earlier calls count exactly once.
    let (input, output, total, cache_read, cache_creation, cost, last_model): (
        i64,
        i64,
        i64,
        i64,
        i64,
        f64,
        Option<String>,
    ) = tx.query_row(
        "SELECT coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), coalesce(sum(total_tokens), 0),
                coalesce(sum(cache_read_tokens), 0), coalesce(sum(cache_creation_tokens), 0), coalesce(sum(cost_usd), 0),
                (SELECT model FROM token_usage u WHERE u.task_id = ?1 ORDER BY id DESC LIMIT 1)
         FROM token_usage WHERE task_id = ?1",
        [&task_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
    )?;
    let (result, error) = match outcome {
        Outcome::Completed { answer } => (Some(answer.as_str()), None),
        Outcome::Failed { message } | Outcome::TimedOut { message } => {
            (None, Some(message.as_str()))
        }
        Outcome::Cancelled { .. } => (None, None),
    };
    let model = last_model.or_else(|| end.model.clone());
    let sql = format!(
        "UPDATE tasks SET status = ?2, result = coalesce(?3, result), error_message = coalesce(?4, error_message),
            provider = coalesce(?5, provider), model_used = coalesce(?6, model_used),
            input_tokens = ?7, output_tokens = ?8, total_tokens = ?9, cache_read_tokens = ?10,
            cache_creation_tokens = ?11, cost_usd = ?12, completed_at = ?13, updated_at = ?13,
            duration_ms = coalesce(?14, duration_ms),
            metadata = CASE WHEN ?15 IS NULL THEN metadata ELSE json_patch(coalesce(metadata, '{{}}'), ?15) END
         WHERE workflow_id = ?1 AND status IN ({})",
        TaskStatus::sources_sql(target)
    );
    tx.execute(
        &sql,
        params![
            wf,
            target.db(),
            result,
            error,
            end.provider,
            model,
            input,
            output,
            total,
            cache_read,
            cache_creation,
            cost,
            now,
            end.duration_ms,
            end.metadata.as_ref().map(|m| m.to_string())
        ],
    )?;
    tx.execute(
        "UPDATE workflow_control SET is_paused = 0, updated_at = ?2 WHERE workflow_id = ?1",
        params![wf, now],
    )?;
    if let Some(session) = session_id {
        let title = end
            .session_title
            .as_deref()
            .filter(|_| target == TaskStatus::Completed);
        tx.execute(
            "UPDATE sessions SET tokens_used = tokens_used + ?2, total_cost_usd = total_cost_usd + ?3, updated_at = ?4,
                title = coalesce(title, ?5),
                context = CASE WHEN ?5 IS NOT NULL AND json_extract(context, '$.title') IS NULL
                               THEN json_set(context, '$.title', ?5) ELSE context END
             WHERE id = ?1",
            params![session, total, cost, now, title],
        )?;
    }
    // The journal served the run; the task's events and usage rows keep its history.
    tx.execute("DELETE FROM task_steps WHERE task_id = ?1", [&task_id])?;
    Ok(found)
}
