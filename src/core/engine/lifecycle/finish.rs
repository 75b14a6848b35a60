//! The end of a task, written once: the terminal row with its usage totals, the session totals,
//! the status notification, the terminal events, STREAM_END, and the stream's close.

use rusqlite::{OptionalExtension, params};
use serde_json::json;

use super::{EventType, TaskStatus};
use crate::core::Core;
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

/// Ends a task. The store write comes first and its error is returned before anything is emitted, so
/// no client is told of an end the database does not hold.
pub(crate) async fn finish(core: &Core, end: &TaskEnd, outcome: Outcome) -> Result<Ended> {
    let target = outcome.status();
    // What the run emitted (and held, if paused) is stored before its end: the end's events follow
    // it, and a task is never terminal with its last steps still waiting for a failing disk.
    core.engine().hub.release(&end.workflow_id);
    core.engine().hub.settle(&end.workflow_id).await;
    let (e, o) = (end.clone(), outcome.clone());
    let stored = core.store().write(move |tx| write_end(tx, &e, &o)).await?;
    if !stored.status.can_become(target) {
        return Ok(Ended::Already(stored.status));
    }
    core.notify_task_status(&end.user_id, &end.workflow_id, target);
    let hub = &core.engine().hub;
    let wf = end.workflow_id.as_str();
    hub.open_stream(wf, stored.last_seq);
    let agent = Some("orchestrator");
    match outcome {
        Outcome::Completed { .. } => {
            hub.emit(
                wf,
                EventType::WorkflowCompleted,
                agent,
                Some("All done".into()),
                None,
            );
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
            hub.emit(
                wf,
                EventType::WorkflowCancelled,
                agent,
                Some(message),
                Some(payload),
            );
        }
        Outcome::Failed { message } | Outcome::TimedOut { message } => {
            let payload = json!({"error": message});
            hub.emit(
                wf,
                EventType::ErrorOccurred,
                agent,
                Some(message.clone()),
                Some(payload),
            );
            hub.emit(wf, EventType::WorkflowFailed, agent, Some(message), None);
        }
    }
    hub.emit(wf, EventType::StreamEnd, agent, Some("Done".into()), None);
    // Closes once the end's events are stored; subscribers read them first.
    hub.close_stream(wf);
    Ok(Ended::Now(target))
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
            duration_ms = coalesce(?14, duration_ms)
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
            end.duration_ms
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
