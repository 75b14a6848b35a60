//! The read side of the task family: `tasks` rows (one task, lists, unfinished ones, a session's
//! turns), `task_counts`, `workflow_control` and `idempotency_records`. Writes are in [`super::tasks`].

use rusqlite::{Connection, OptionalExtension, params, params_from_iter, types::Value as Sql};
use serde::{Deserialize, Serialize};

use super::tasks::status_list;
use crate::core::error::Result;
use crate::core::run::lifecycle::status::TaskStatus;

/// A stored status; one this build does not know (a newer version wrote it) reads as FAILED rather
/// than making the task unreadable.
pub(crate) fn stored_status(s: &str) -> TaskStatus {
    TaskStatus::from_db(s).unwrap_or(TaskStatus::Failed)
}

/// `GET /api/v1/tasks/{id}/control-state`: every key always present, strings possibly empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ControlState {
    pub is_paused: bool,
    pub is_cancelled: bool,
    pub paused_at: String,
    pub pause_reason: String,
    pub paused_by: String,
    pub cancel_reason: String,
    pub cancelled_by: String,
}

pub(crate) const TASK_COLUMNS: &str = "id, workflow_id, session_id, query, mode, status, result, error_message, context, metadata,
     model_used, provider, input_tokens, output_tokens, total_tokens, cache_read_tokens, cache_creation_tokens, cost_usd,
     created_at, started_at, completed_at, updated_at, duration_ms, executor, strategy";

/// A task row as [`TASK_COLUMNS`] reads it.
pub(crate) struct TaskRow {
    pub id: String,
    pub workflow_id: String,
    pub session_id: Option<String>,
    pub query: String,
    pub mode: String,
    pub status: TaskStatus,
    pub result: Option<String>,
    pub error_message: Option<String>,
    pub context: String,
    pub metadata: String,
    pub model_used: Option<String>,
    pub provider: Option<String>,
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub total_tokens: u32,
    pub cache_read_tokens: u32,
    pub cache_creation_tokens: u32,
    pub cost_usd: f64,
    pub created_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub updated_at: String,
    pub duration_ms: Option<u32>,
    /// Stored form of the task's [`crate::core::tasks::Executor`] (see [`TaskRow::executor`]).
    pub executor: String,
    /// Stored form of the task's [`crate::core::tasks::Strategy`] (NULL before it was stored).
    pub strategy: Option<String>,
}

impl TaskRow {
    /// Maps a row selected with [`TASK_COLUMNS`].
    pub fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            workflow_id: r.get(1)?,
            session_id: r.get(2)?,
            query: r.get(3)?,
            mode: r.get(4)?,
            status: stored_status(&r.get::<_, String>(5)?),
            result: r.get(6)?,
            error_message: r.get(7)?,
            context: r.get(8)?,
            metadata: r.get(9)?,
            model_used: r.get(10)?,
            provider: r.get(11)?,
            input_tokens: r.get(12)?,
            output_tokens: r.get(13)?,
            total_tokens: r.get(14)?,
            cache_read_tokens: r.get(15)?,
            cache_creation_tokens: r.get(16)?,
            cost_usd: r.get(17)?,
            created_at: r.get(18)?,
            started_at: r.get(19)?,
            completed_at: r.get(20)?,
            updated_at: r.get(21)?,
            duration_ms: r.get(22)?,
            executor: r.get(23)?,
            strategy: r.get(24)?,
        })
    }
}

/// The task with this workflow id, if the user owns it.
pub(crate) fn get_owned(
    c: &Connection,
    workflow_id: &str,
    user_id: &str,
) -> Result<Option<TaskRow>> {
    Ok(c.query_row(
        &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE workflow_id = ?1 AND user_id = ?2"),
        params![workflow_id, user_id],
        TaskRow::read,
    )
    .optional()?)
}

/// The stored status text of a task (an error when there is no such task).
pub(crate) fn get_status(c: &Connection, workflow_id: &str) -> Result<String> {
    Ok(c.query_row(
        "SELECT status FROM tasks WHERE workflow_id = ?1",
        [workflow_id],
        |r| r.get(0),
    )?)
}

/// What ending a task needs of its stored state.
pub(crate) struct EndState {
    pub task_id: String,
    pub status: String,
    pub session_id: Option<String>,
    /// Empty when none was given.
    pub cancel_reason: String,
    /// The last stored event's seq (0 when none).
    pub last_seq: u32,
}

/// The task's id, status, session, cancel reason and last stored seq, if the task exists.
pub(crate) fn end_state(c: &Connection, workflow_id: &str) -> Result<Option<EndState>> {
    Ok(c.query_row(
        "SELECT t.id, t.status, t.session_id, coalesce(w.cancel_reason, ''),
                (SELECT coalesce(max(seq), 0) FROM task_events e WHERE e.workflow_id = t.workflow_id)
         FROM tasks t LEFT JOIN workflow_control w ON w.workflow_id = t.workflow_id
         WHERE t.workflow_id = ?1",
        [workflow_id],
        |r| {
            Ok(EndState {
                task_id: r.get(0)?,
                status: r.get(1)?,
                session_id: r.get(2)?,
                cancel_reason: r.get(3)?,
                last_seq: r.get(4)?,
            })
        },
    )
    .optional()?)
}

/// A task start-up recovery finds unfinished, with its control flags and owner's tenant.
pub(crate) struct UnfinishedTask {
    pub task_id: String,
    pub workflow_id: String,
    pub user_id: String,
    pub tenant_id: String,
    pub session_id: Option<String>,
    pub query: String,
    pub mode: String,
    pub context: String,
    pub metadata: String,
    pub is_paused: bool,
    pub is_cancelled: bool,
    /// The last stored event's seq (0 when none).
    pub last_seq: u32,
    pub executor: String,
    pub strategy: Option<String>,
}

/// Every QUEUED, RUNNING or PAUSED task, oldest first.
pub(crate) fn list_unfinished(c: &Connection) -> Result<Vec<UnfinishedTask>> {
    let sql = format!(
        "SELECT t.id, t.workflow_id, t.user_id, u.tenant_id, t.session_id, t.query, t.mode, t.context, t.metadata,
                coalesce(w.is_paused, 0), coalesce(w.is_cancelled, 0),
                (SELECT coalesce(max(seq), 0) FROM task_events e WHERE e.workflow_id = t.workflow_id),
                t.executor, t.strategy
         FROM tasks t JOIN users u ON u.id = t.user_id
         LEFT JOIN workflow_control w ON w.workflow_id = t.workflow_id
         WHERE t.status IN ({}) ORDER BY t.created_at",
        status_list(TaskStatus::UNFINISHED)
    );
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt.query_map(params![], |r| {
        Ok(UnfinishedTask {
            task_id: r.get(0)?,
            workflow_id: r.get(1)?,
            user_id: r.get(2)?,
            tenant_id: r.get(3)?,
            session_id: r.get(4)?,
            query: r.get(5)?,
            mode: r.get(6)?,
            context: r.get(7)?,
            metadata: r.get(8)?,
            is_paused: r.get(9)?,
            is_cancelled: r.get(10)?,
            last_seq: r.get(11)?,
            executor: r.get(12)?,
            strategy: r.get(13)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// A session's latest completed turns other than `workflow_id`, newest first: (request with what
/// the user told a swarm during it, answer).
pub(crate) fn completed_turns(
    c: &Connection,
    session_id: &str,
    workflow_id: &str,
    limit: u32,
) -> Result<Vec<(String, String)>> {
    let mut stmt = c.prepare_cached(
        "SELECT query || coalesce((SELECT char(10) || char(10) || group_concat(m.message, char(10))
                                   FROM swarm_messages m WHERE m.workflow_id = tasks.workflow_id), ''),
                result
         FROM tasks WHERE session_id = ?1 AND workflow_id != ?2
           AND status = ?4 AND result IS NOT NULL
         ORDER BY created_at DESC, rowid DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        params![session_id, workflow_id, limit, TaskStatus::Completed.db()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The stored control state of a task, if it has one.
pub(crate) fn control_state(c: &Connection, workflow_id: &str) -> Result<Option<ControlState>> {
    Ok(c.query_row(
        "SELECT is_paused, is_cancelled, paused_at, pause_reason, paused_by, cancel_reason, cancelled_by
         FROM workflow_control WHERE workflow_id = ?1",
        [workflow_id],
        |r| {
            Ok(ControlState {
                is_paused: r.get(0)?,
                is_cancelled: r.get(1)?,
                paused_at: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                pause_reason: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                paused_by: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                cancel_reason: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                cancelled_by: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
            })
        },
    )
    .optional()?)
}

/// The stored response body of an idempotent call by this user, unless it expired before `now`.
pub(crate) fn idempotent_body(
    c: &Connection,
    cache_key: &str,
    user_id: &str,
    now: &str,
) -> Result<Option<Vec<u8>>> {
    Ok(c.query_row(
        "SELECT body FROM idempotency_records WHERE cache_key = ?1 AND user_id = ?2 AND expires_at > ?3",
        params![cache_key, user_id, now],
        |r| r.get(0),
    )
    .optional()?)
}

/// The user's session ids a list filter names: the internal UUID or the client's external id.
pub(crate) fn matching_session_ids(
    c: &Connection,
    user_id: &str,
    session: &str,
) -> Result<Vec<String>> {
    Ok(c.prepare_cached(
        "SELECT id FROM sessions WHERE user_id = ?1 AND id = ?2
                             UNION SELECT id FROM sessions WHERE user_id = ?1 AND external_id = ?2",
    )?
    .query_map(params![user_id, session], |r| r.get(0))?
    .collect::<Result<Vec<String>, _>>()?)
}

/// The filters of a task list, resolved: the user, their session ids (internal), a stored status.
pub(crate) struct ListFilter {
    pub user: String,
    pub sessions: Option<Vec<String>>,
    pub status: Option<&'static str>,
}

impl ListFilter {
    /// The `WHERE` clause and its parameters; the leading column of an index comes first.
    fn clause(&self) -> (String, Vec<Sql>) {
        let mut sql = String::from("t.user_id = ?");
        let mut args = vec![Sql::Text(self.user.clone())];
        if let Some(ids) = &self.sessions {
            sql = format!("t.session_id IN ({}) AND {sql}", placeholders(ids.len()));
            args = ids.iter().cloned().map(Sql::Text).chain(args).collect();
        }
        if let Some(status) = self.status {
            sql.push_str(" AND t.status = ?");
            args.push(Sql::Text(status.into()));
        }
        (sql, args)
    }
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

/// One task of a list page.
pub(crate) struct TaskListRow {
    pub workflow_id: String,
    pub query: String,
    pub status: String,
    pub mode: String,
    pub session_id: Option<String>,
    /// When it started, else when it was created.
    pub created_at: Option<String>,
    pub completed_at: Option<String>,
    pub total_tokens: u32,
    pub cost_usd: f64,
    /// 0 when unreadable.
    pub input_tokens: u32,
    /// 0 when unreadable.
    pub output_tokens: u32,
    pub executor: String,
}

/// A page of the filtered tasks, newest first.
pub(crate) fn list_page(
    c: &Connection,
    filter: &ListFilter,
    limit: u32,
    offset: u32,
) -> Result<Vec<TaskListRow>> {
    let (clause, mut args) = filter.clause();
    args.extend([Sql::Integer(limit.into()), Sql::Integer(offset.into())]);
    let mut stmt = c.prepare_cached(&format!(
        "SELECT t.workflow_id, t.query, t.status, t.mode, t.session_id, coalesce(t.started_at, t.created_at),
                            t.completed_at, t.total_tokens, t.cost_usd, t.input_tokens, t.output_tokens, t.executor
                     FROM tasks t WHERE {clause} ORDER BY t.created_at DESC, t.rowid DESC LIMIT ? OFFSET ?"
    ))?;
    let rows = stmt
        .query_map(params_from_iter(args), |r| {
            Ok(TaskListRow {
                workflow_id: r.get(0)?,
                query: r.get(1)?,
                status: r.get(2)?,
                mode: r.get(3)?,
                session_id: r.get(4)?,
                created_at: r.get(5)?,
                completed_at: r.get(6)?,
                total_tokens: r.get(7)?,
                cost_usd: r.get(8)?,
                input_tokens: r.get(9).unwrap_or(0),
                output_tokens: r.get(10).unwrap_or(0),
                executor: r.get(11)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// How many tasks the filter matches, from the maintained counters (`task_counts`): at most one
/// row per status and session.
pub(crate) fn count_listed(c: &Connection, filter: &ListFilter) -> Result<u32> {
    let mut sql = String::from("SELECT coalesce(sum(n), 0) FROM task_counts WHERE user_id = ?");
    let mut args = vec![Sql::Text(filter.user.clone())];
    match &filter.sessions {
        None => sql.push_str(" AND session_id = ''"),
        Some(ids) => {
            sql.push_str(&format!(" AND session_id IN ({})", placeholders(ids.len())));
            args.extend(ids.iter().cloned().map(Sql::Text));
        }
    }
    if let Some(status) = filter.status {
        sql.push_str(" AND status = ?");
        args.push(Sql::Text(status.into()));
    }
    Ok(c.prepare_cached(&sql)?
        .query_row(params_from_iter(args), |r| r.get(0))?)
}

/// Tasks of every user by stored status (`RUNNING`…), from the per-user totals of `task_counts`
/// (`session_id = ''`). The users are found by a skip-scan of the primary key (one seek per user),
/// so the cost grows with users, not with tasks or sessions.
pub(crate) fn counts_by_status(c: &Connection) -> Result<Vec<(String, i64)>> {
    let mut stmt = c.prepare_cached(
        "WITH RECURSIVE users(id) AS (
             SELECT min(user_id) FROM task_counts
             UNION ALL
             SELECT (SELECT min(user_id) FROM task_counts WHERE user_id > users.id)
               FROM users WHERE users.id IS NOT NULL
         )
         SELECT c.status, sum(c.n) FROM users
           JOIN task_counts c ON c.user_id = users.id AND c.session_id = ''
          GROUP BY c.status",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
