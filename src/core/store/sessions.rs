//! Sessions: the `sessions` table and its per-user `session_counts` counter, plus the reads of a
//! session's tasks (`tasks`, `task_counts`, `task_events`) that build its summary, history and turns.

use std::sync::LazyLock;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::core::error::Result;
use crate::core::run::lifecycle::event_type::EventType;
use crate::core::run::lifecycle::status::TaskStatus;

/// A session with its task counters, as the summary query reads it.
#[derive(Debug, Clone)]
pub(crate) struct SummaryRow {
    pub id: String,
    pub user_id: String,
    pub title: Option<String>,
    pub token_budget: u32,
    pub tokens_used: u32,
    pub total_cost_usd: f64,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub expires_at: Option<String>,
    /// JSON text.
    pub context: String,
    pub task_count: u32,
    pub successful_tasks: u32,
    pub failed_tasks: u32,
    pub last_activity_at: Option<String>,
    pub latest_task_query: Option<String>,
    pub latest_task_status: Option<String>,
    /// `local` or `remote:<profile id>`.
    pub executor: String,
}

impl SummaryRow {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            user_id: r.get(1)?,
            title: r.get(2)?,
            token_budget: r.get(3)?,
            tokens_used: r.get(4)?,
            total_cost_usd: r.get(5)?,
            created_at: r.get(6)?,
            updated_at: r.get(7)?,
            expires_at: r.get(8)?,
            context: r.get(9)?,
            task_count: r.get(10)?,
            successful_tasks: r.get(11)?,
            failed_tasks: r.get(12)?,
            last_activity_at: r.get(13)?,
            latest_task_query: r.get(14)?,
            latest_task_status: r.get(15)?,
            executor: r.get(16)?,
        })
    }
}

// One task of a session's history, with its event counters (`GET /api/v1/sessions/{id}/history`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct TaskHistory {
    /// Internal task UUID (as the cloud).
    pub task_id: String,
    pub workflow_id: String,
    pub query: String,
    pub status: String,
    pub mode: Option<String>,
    pub result: Option<String>,
    pub error_message: Option<String>,
    pub total_tokens: u32,
    pub total_cost_usd: f64,
    pub duration_ms: Option<u32>,
    pub agents_used: u32,
    pub tools_invoked: u32,
    pub started_at: String,
    pub completed_at: Option<String>,
    pub metadata: Option<Value>,
}

impl TaskHistory {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        let metadata: String = r.get(12)?;
        Ok(Self {
            task_id: r.get(0)?,
            workflow_id: r.get(1)?,
            query: r.get(2)?,
            status: r.get(3)?,
            mode: r.get(4)?,
            result: r.get(5)?,
            error_message: r.get(6)?,
            total_tokens: r.get(7)?,
            total_cost_usd: r.get(8)?,
            duration_ms: r.get(9)?,
            started_at: r.get(10)?,
            completed_at: r.get(11)?,
            metadata: Some(serde_json::from_str(&metadata).unwrap_or_else(|_| json!({}))),
            tools_invoked: r.get(13)?,
            agents_used: r.get(14)?,
        })
    }
}

/// One task of a session as a turn: (task uuid, workflow id, query, result, started, tokens, duration).
#[derive(Debug, Clone)]
pub(crate) struct TurnRow {
    pub task_id: String,
    pub workflow_id: String,
    pub query: String,
    pub result: Option<String>,
    pub started_at: String,
    pub total_tokens: u32,
    pub duration_ms: Option<u32>,
}

impl TurnRow {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            task_id: r.get(0)?,
            workflow_id: r.get(1)?,
            query: r.get(2)?,
            result: r.get(3)?,
            started_at: r.get(4)?,
            total_tokens: r.get(5)?,
            duration_ms: r.get(6)?,
        })
    }
}

/// The id of the user's newest live session with this id or external id.
pub(crate) fn find_live_id(c: &Connection, user: &str, id: &str) -> Result<Option<String>> {
    Ok(c.query_row(
        "SELECT id FROM sessions WHERE user_id = ?1 AND deleted_at IS NULL AND (id = ?2 OR external_id = ?2)
                 ORDER BY created_at DESC LIMIT 1",
        params![user, id],
        |r| r.get::<_, String>(0),
    )
    .optional()?)
}

/// Moves a session's `updated_at` on.
pub(crate) fn touch(tx: &Transaction<'_>, id: &str, now: &str) -> Result<()> {
    tx.execute(
        "UPDATE sessions SET updated_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

/// Whether any session (any user, deleted or not) has this id.
pub(crate) fn id_taken(c: &Connection, id: &str) -> Result<bool> {
    Ok(c.query_row(
        "SELECT EXISTS(SELECT 1 FROM sessions WHERE id = ?1)",
        [id],
        |x| x.get(0),
    )?)
}

/// Inserts a new session; `context` is JSON text.
pub(crate) fn insert(
    tx: &Transaction<'_>,
    id: &str,
    user: &str,
    external_id: Option<&str>,
    context: &str,
    now: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO sessions (id, user_id, external_id, context, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![id, user, external_id, context, now],
    )?;
    Ok(())
}

static SUMMARY_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "
SELECT s.id, s.user_id, s.title, s.token_budget, s.tokens_used, s.total_cost_usd, s.created_at, s.updated_at,
       s.expires_at, s.context,
       (SELECT coalesce(sum(c.n), 0) FROM task_counts c WHERE c.user_id = s.user_id AND c.session_id = s.id),
       (SELECT coalesce(sum(c.n), 0) FROM task_counts c WHERE c.user_id = s.user_id AND c.session_id = s.id
           AND c.status = '{completed}'),
       (SELECT coalesce(sum(c.n), 0) FROM task_counts c WHERE c.user_id = s.user_id AND c.session_id = s.id
           AND c.status IN ({failed})),
       (SELECT max(t.completed_at) FROM tasks t WHERE t.session_id = s.id),
       (SELECT t.query FROM tasks t WHERE t.session_id = s.id ORDER BY t.created_at DESC LIMIT 1),
       (SELECT t.status FROM tasks t WHERE t.session_id = s.id ORDER BY t.created_at DESC LIMIT 1),
       s.executor
FROM sessions s",
        completed = TaskStatus::Completed.db(),
        failed = super::tasks::status_list([TaskStatus::Failed, TaskStatus::Timeout]),
    )
});

/// The user's number of live sessions, from the counter the database maintains (migration 05).
pub(crate) fn count_for_user(c: &Connection, user: &str) -> Result<u32> {
    Ok(c.query_row(
        "SELECT coalesce((SELECT n FROM session_counts WHERE user_id = ?1), 0)",
        [user],
        |r| r.get(0),
    )?)
}

/// A page of the user's live sessions with their counters, newest first.
pub(crate) fn list_for_user(
    c: &Connection,
    user: &str,
    limit: u32,
    offset: u32,
) -> Result<Vec<SummaryRow>> {
    let mut stmt = c.prepare_cached(&format!(
        "{} WHERE s.user_id = ?1 AND s.deleted_at IS NULL
                     ORDER BY s.created_at DESC, s.rowid DESC LIMIT ?2 OFFSET ?3",
        *SUMMARY_SQL
    ))?;
    let rows = stmt
        .query_map(params![user, limit, offset], SummaryRow::from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The user's newest live session with this id or external id, with its counters.
pub(crate) fn get_live(c: &Connection, user: &str, id: &str) -> Result<Option<SummaryRow>> {
    Ok(c.query_row(
        &format!(
            "{} WHERE s.user_id = ?1 AND s.deleted_at IS NULL AND (s.id = ?2 OR s.external_id = ?2)
                         ORDER BY s.created_at DESC LIMIT 1",
            *SUMMARY_SQL
        ),
        params![user, id],
        SummaryRow::from_row,
    )
    .optional()?)
}

/// Every task of the session with its tool and agent counts, oldest first.
pub(crate) fn list_history(c: &Connection, session_id: &str) -> Result<Vec<TaskHistory>> {
    let mut stmt = c.prepare_cached(
        "SELECT t.id, t.workflow_id, t.query, t.status, t.mode, t.result, t.error_message, t.total_tokens,
                            t.cost_usd, t.duration_ms, coalesce(t.started_at, t.created_at), t.completed_at, t.metadata,
                            (SELECT count(*) FROM task_events e WHERE e.workflow_id = t.workflow_id AND e.type = ?2),
                            (SELECT count(DISTINCT e.agent_id) FROM task_events e WHERE e.workflow_id = t.workflow_id
                               AND e.type = ?3)
                     FROM tasks t WHERE t.session_id = ?1 ORDER BY coalesce(t.started_at, t.created_at), t.rowid",
    )?;
    let rows = stmt
        .query_map(
            params![
                session_id,
                EventType::ToolInvoked.as_str(),
                EventType::AgentStarted.as_str()
            ],
            TaskHistory::from_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The user's number of tasks in the session (its turns), from the task counters.
pub(crate) fn count_turns(c: &Connection, session_id: &str, user: &str) -> Result<u32> {
    Ok(c.query_row(
        "SELECT coalesce(sum(n), 0) FROM task_counts WHERE session_id = ?1 AND user_id = ?2",
        params![session_id, user],
        |r| r.get(0),
    )?)
}

/// A page of the session's tasks as turns, oldest first.
pub(crate) fn list_turns(
    c: &Connection,
    session_id: &str,
    limit: u32,
    offset: u32,
) -> Result<Vec<TurnRow>> {
    let rows = c
        .prepare_cached(
            "SELECT id, workflow_id, query, result, coalesce(started_at, created_at), total_tokens, duration_ms
                         FROM tasks WHERE session_id = ?1 ORDER BY coalesce(started_at, created_at), rowid LIMIT ?2 OFFSET ?3",
        )?
        .query_map(params![session_id, limit, offset], TurnRow::from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Sets a session's title (column and `context.title`).
pub(crate) fn rename(tx: &Transaction<'_>, id: &str, title: &str, now: &str) -> Result<()> {
    tx.execute(
        "UPDATE sessions SET title = ?2, context = json_set(context, '$.title', ?2), updated_at = ?3 WHERE id = ?1",
        params![id, title, now],
    )?;
    Ok(())
}

/// The ids of the user's sessions with this id or external id, deleted ones included.
pub(crate) fn find_ids_any(c: &Connection, user: &str, id: &str) -> Result<Vec<String>> {
    let mut stmt = c.prepare_cached(
        "SELECT id FROM sessions WHERE user_id = ?1 AND (id = ?2 OR external_id = ?2)",
    )?;
    let rows = stmt.query_map(params![user, id], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Soft-deletes the user's sessions with this id or external id (already deleted ones keep their stamp).
pub(crate) fn soft_delete(tx: &Transaction<'_>, user: &str, id: &str, now: &str) -> Result<()> {
    tx.execute(
        "UPDATE sessions SET deleted_at = coalesce(deleted_at, ?3), deleted_by = coalesce(deleted_by, ?1)
                     WHERE user_id = ?1 AND (id = ?2 OR external_id = ?2)",
        params![user, id, now],
    )?;
    Ok(())
}
