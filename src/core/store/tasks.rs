//! The write side of the task family: `tasks` rows and their status moves, `workflow_control`,
//! `idempotency_records`, and the session totals a task's end adds to `sessions`. Reads are in
//! [`super::task_reads`].

use rusqlite::params;

use crate::core::error::Result;
use crate::core::run::lifecycle::status::TaskStatus;

/// Statuses as an SQL list of literals, for `status IN (…)`.
pub(crate) fn status_list(statuses: impl IntoIterator<Item = TaskStatus>) -> String {
    statuses
        .into_iter()
        .map(|s| format!("'{}'", s.db()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The statuses from which a task may move to `next`, as an SQL list (`'QUEUED','RUNNING'`)
/// for the guard of the `UPDATE` that makes the move.
pub(crate) fn sources_list(next: TaskStatus) -> String {
    status_list(TaskStatus::ALL.into_iter().filter(|s| s.can_become(next)))
}

/// A new task row.
pub(crate) struct NewTask<'a> {
    pub id: &'a str,
    pub workflow_id: &'a str,
    pub user_id: &'a str,
    pub session_id: Option<&'a str>,
    pub query: &'a str,
    pub mode: &'a str,
    pub status: TaskStatus,
    /// JSON object.
    pub context: &'a str,
    /// JSON object.
    pub metadata: &'a str,
    /// Both `created_at` and `updated_at`.
    pub now: &'a str,
    pub executor: &'a str,
    pub strategy: &'a str,
}

/// Inserts a task row.
pub(crate) fn insert(tx: &rusqlite::Transaction<'_>, t: &NewTask<'_>) -> Result<()> {
    tx.execute(
        "INSERT INTO tasks (id, workflow_id, user_id, session_id, query, mode, status, context, metadata, created_at, updated_at, executor, strategy)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?10, ?7, ?8, ?9, ?9, ?11, ?12)",
        params![
            t.id,
            t.workflow_id,
            t.user_id,
            t.session_id,
            t.query,
            t.mode,
            t.context,
            t.metadata,
            t.now,
            t.status.db(),
            t.executor,
            t.strategy,
        ],
    )?;
    Ok(())
}

/// Inserts a task's control state (not paused, not cancelled).
pub(crate) fn insert_control(
    tx: &rusqlite::Transaction<'_>,
    workflow_id: &str,
    now: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO workflow_control (workflow_id, updated_at) VALUES (?1, ?2)",
        params![workflow_id, now],
    )?;
    Ok(())
}

/// Marks a task paused, by whom and why.
pub(crate) fn mark_paused(
    tx: &rusqlite::Transaction<'_>,
    workflow_id: &str,
    now: &str,
    reason: &str,
    by: &str,
) -> Result<()> {
    tx.execute(
        "UPDATE workflow_control SET is_paused = 1, paused_at = ?2, pause_reason = ?3, paused_by = ?4, updated_at = ?2 WHERE workflow_id = ?1",
        params![workflow_id, now, reason, by],
    )?;
    Ok(())
}

/// Clears a task's pause flag.
pub(crate) fn clear_paused(
    tx: &rusqlite::Transaction<'_>,
    workflow_id: &str,
    now: &str,
) -> Result<()> {
    tx.execute(
        "UPDATE workflow_control SET is_paused = 0, updated_at = ?2 WHERE workflow_id = ?1",
        params![workflow_id, now],
    )?;
    Ok(())
}

/// Marks a task cancelled, by whom and why.
pub(crate) fn mark_cancelled(
    tx: &rusqlite::Transaction<'_>,
    workflow_id: &str,
    reason: &str,
    by: &str,
    now: &str,
) -> Result<()> {
    tx.execute(
        "UPDATE workflow_control SET is_cancelled = 1, cancel_reason = ?2, cancelled_by = ?3, updated_at = ?4 WHERE workflow_id = ?1",
        params![workflow_id, reason, by, now],
    )?;
    Ok(())
}

/// Moves a task to `next` when its status is one of `from`; returns whether it moved.
pub(crate) fn move_status(
    tx: &rusqlite::Transaction<'_>,
    workflow_id: &str,
    from: &[TaskStatus],
    next: TaskStatus,
    now: &str,
) -> Result<bool> {
    let sql = format!(
        "UPDATE tasks SET status = ?2, updated_at = ?3 WHERE workflow_id = ?1 AND status IN ({})",
        status_list(from.iter().copied())
    );
    Ok(tx.execute(&sql, params![workflow_id, next.db(), now])? > 0)
}

/// Sets a task's `started_at` unless it has one.
pub(crate) fn mark_started(
    tx: &rusqlite::Transaction<'_>,
    workflow_id: &str,
    now: &str,
) -> Result<()> {
    tx.execute(
        "UPDATE tasks SET started_at = coalesce(started_at, ?2) WHERE workflow_id = ?1",
        params![workflow_id, now],
    )?;
    Ok(())
}

/// A task's terminal row: its end status, answer or error, usage totals and metadata patch.
pub(crate) struct TerminalRow<'a> {
    pub workflow_id: &'a str,
    pub status: TaskStatus,
    pub result: Option<&'a str>,
    pub error: Option<&'a str>,
    pub provider: Option<&'a str>,
    pub model: Option<&'a str>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_creation_tokens: i64,
    pub cost_usd: f64,
    /// `completed_at` and `updated_at`.
    pub now: &'a str,
    pub duration_ms: Option<i64>,
    /// JSON merged into the stored metadata.
    pub metadata: Option<String>,
}

/// Writes a task's end when its status may still move to the end status; returns the rows changed.
pub(crate) fn mark_finished(tx: &rusqlite::Transaction<'_>, t: &TerminalRow<'_>) -> Result<usize> {
    let sql = format!(
        "UPDATE tasks SET status = ?2, result = coalesce(?3, result), error_message = coalesce(?4, error_message),
            provider = coalesce(?5, provider), model_used = coalesce(?6, model_used),
            input_tokens = ?7, output_tokens = ?8, total_tokens = ?9, cache_read_tokens = ?10,
            cache_creation_tokens = ?11, cost_usd = ?12, completed_at = ?13, updated_at = ?13,
            duration_ms = coalesce(?14, duration_ms),
            metadata = CASE WHEN ?15 IS NULL THEN metadata ELSE json_patch(coalesce(metadata, '{{}}'), ?15) END
         WHERE workflow_id = ?1 AND status IN ({})",
        sources_list(t.status)
    );
    Ok(tx.execute(
        &sql,
        params![
            t.workflow_id,
            t.status.db(),
            t.result,
            t.error,
            t.provider,
            t.model,
            t.input_tokens,
            t.output_tokens,
            t.total_tokens,
            t.cache_read_tokens,
            t.cache_creation_tokens,
            t.cost_usd,
            t.now,
            t.duration_ms,
            t.metadata
        ],
    )?)
}

/// Adds a finished task's tokens and cost to its session, and names the session with `title` when
/// it has no title yet.
pub(crate) fn add_to_session_totals(
    tx: &rusqlite::Transaction<'_>,
    session_id: &str,
    tokens: i64,
    cost_usd: f64,
    now: &str,
    title: Option<&str>,
) -> Result<()> {
    tx.execute(
        "UPDATE sessions SET tokens_used = tokens_used + ?2, total_cost_usd = total_cost_usd + ?3, updated_at = ?4,
                title = coalesce(title, ?5),
                context = CASE WHEN ?5 IS NOT NULL AND json_extract(context, '$.title') IS NULL
                               THEN json_set(context, '$.title', ?5) ELSE context END
             WHERE id = ?1",
        params![session_id, tokens, cost_usd, now, title],
    )?;
    Ok(())
}

/// Deletes the idempotency records that expired by `now`.
pub(crate) fn delete_expired_idempotency(tx: &rusqlite::Transaction<'_>, now: &str) -> Result<()> {
    tx.execute(
        "DELETE FROM idempotency_records WHERE expires_at <= ?1",
        [now],
    )?;
    Ok(())
}

/// Stores (or replaces) the response of a `submit_task` call under its idempotency key.
pub(crate) fn put_submit_idempotency(
    tx: &rusqlite::Transaction<'_>,
    cache_key: &str,
    user_id: &str,
    body: &[u8],
    now: &str,
    expires_at: &str,
) -> Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO idempotency_records (cache_key, user_id, method, path, status_code, body, created_at, expires_at)
                         VALUES (?1, ?2, 'CALL', 'submit_task', 200, ?3, ?4, ?5)",
        params![cache_key, user_id, body, now, expires_at],
    )?;
    Ok(())
}
