//! The task life cycle in one place: the status and its legal moves, the event catalogue, and the
//! one way a task ends ([`finish`]), used by a run, by a cancel with no run and by start-up recovery.
//! No other module writes a status or an event type as a string.

pub(crate) mod event_type;
mod finish;
pub(crate) mod status;

pub use event_type::EventType;
pub(crate) use finish::{Ended, Outcome, TaskEnd, finish};
pub use status::TaskStatus;

use crate::core::error::Result;
use crate::core::store;

/// Moves a task to `next` when its status is one of `from`; returns whether it moved. Each move
/// must be legal ([`TaskStatus::can_become`]).
pub(crate) fn move_status(
    tx: &rusqlite::Transaction<'_>,
    workflow_id: &str,
    from: &[TaskStatus],
    next: TaskStatus,
    now: &str,
) -> Result<bool> {
    debug_assert!(
        from.iter().all(|s| s.can_become(next)),
        "{from:?} -> {next}"
    );
    store::tasks::move_status(tx, workflow_id, from, next, now)
}

/// A run starts (or restarts after a crash): a queued task becomes RUNNING; a paused one stays paused
/// until resumed. Returns the status the task has now.
pub(crate) fn begin_run(
    tx: &rusqlite::Transaction<'_>,
    workflow_id: &str,
    now: &str,
) -> Result<TaskStatus> {
    store::tasks::mark_started(tx, workflow_id, now)?;
    move_status(
        tx,
        workflow_id,
        &[TaskStatus::Queued],
        TaskStatus::Running,
        now,
    )?;
    current(tx, workflow_id)
}

/// The stored status of a task.
pub(crate) fn current(conn: &rusqlite::Connection, workflow_id: &str) -> Result<TaskStatus> {
    let s = store::task_reads::get_status(conn, workflow_id)?;
    TaskStatus::from_db(&s).ok_or_else(|| {
        crate::core::error::ShannonError::Database(format!("unknown task status {s:?}"))
    })
}
