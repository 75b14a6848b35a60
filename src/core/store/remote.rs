//! Remote mode's tables: `remote_profiles` (Shannon cloud deployments, without secrets), the backend
//! a session lives on (`sessions.executor`), and `remote_tasks` (which cloud workflow a mirrored
//! task is, and its submission's idempotency key).

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::core::error::Result;

/// A stored profile.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProfileRow {
    pub id: String,
    pub name: String,
    pub base_url: String,
    pub auth: String,
    pub ca_cert_pem: Option<String>,
    pub allow_insecure_http: bool,
    pub fallback_local: bool,
    pub connect_timeout_ms: u32,
    pub request_timeout_ms: u32,
    pub created_at: String,
    pub updated_at: String,
}

const PROFILE_COLUMNS: &str =
    "id, name, base_url, auth, ca_cert_pem, allow_insecure_http, fallback_local,
     connect_timeout_ms, request_timeout_ms, created_at, updated_at";

fn profile(r: &rusqlite::Row<'_>) -> rusqlite::Result<ProfileRow> {
    Ok(ProfileRow {
        id: r.get(0)?,
        name: r.get(1)?,
        base_url: r.get(2)?,
        auth: r.get(3)?,
        ca_cert_pem: r.get(4)?,
        allow_insecure_http: r.get(5)?,
        fallback_local: r.get(6)?,
        connect_timeout_ms: r.get(7)?,
        request_timeout_ms: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

pub(crate) fn list_profiles(c: &Connection) -> Result<Vec<ProfileRow>> {
    let sql = format!("SELECT {PROFILE_COLUMNS} FROM remote_profiles ORDER BY created_at, id");
    Ok(c.prepare(&sql)?
        .query_map([], profile)?
        .collect::<Result<Vec<_>, _>>()?)
}

pub(crate) fn get_profile(c: &Connection, id: &str) -> Result<Option<ProfileRow>> {
    let sql = format!("SELECT {PROFILE_COLUMNS} FROM remote_profiles WHERE id = ?1");
    Ok(c.query_row(&sql, [id], profile).optional()?)
}

/// Inserts or replaces a profile (its `created_at` is kept on replace).
pub(crate) fn put_profile(tx: &Transaction<'_>, p: &ProfileRow) -> Result<()> {
    tx.execute(
        "INSERT INTO remote_profiles (id, name, base_url, auth, ca_cert_pem, allow_insecure_http, fallback_local,
             connect_timeout_ms, request_timeout_ms, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, base_url = excluded.base_url,
             auth = excluded.auth, ca_cert_pem = excluded.ca_cert_pem,
             allow_insecure_http = excluded.allow_insecure_http, fallback_local = excluded.fallback_local,
             connect_timeout_ms = excluded.connect_timeout_ms,
             request_timeout_ms = excluded.request_timeout_ms, updated_at = excluded.updated_at",
        params![
            p.id,
            p.name,
            p.base_url,
            p.auth,
            p.ca_cert_pem,
            p.allow_insecure_http,
            p.fallback_local,
            p.connect_timeout_ms,
            p.request_timeout_ms,
            p.created_at,
            p.updated_at
        ],
    )?;
    Ok(())
}

/// Deletes a profile; returns whether it existed.
pub(crate) fn delete_profile(tx: &Transaction<'_>, id: &str) -> Result<bool> {
    Ok(tx.execute("DELETE FROM remote_profiles WHERE id = ?1", [id])? > 0)
}

/// Deletes every sealed credential of a profile (any origin); returns how many.
pub(crate) fn delete_credentials(tx: &Transaction<'_>, profile_id: &str) -> Result<usize> {
    Ok(tx.execute(
        "DELETE FROM secrets WHERE substr(name, 1, length(?1)) = ?1",
        [format!("remote/{profile_id}/")],
    )?)
}

/// The names of a profile's sealed credentials (one per origin it was stored for).
pub(crate) fn credential_names(c: &Connection, profile_id: &str) -> Result<Vec<String>> {
    Ok(
        c.prepare("SELECT name FROM secrets WHERE substr(name, 1, length(?1)) = ?1")?
            .query_map([format!("remote/{profile_id}/")], |r| r.get(0))?
            .collect::<Result<Vec<_>, _>>()?,
    )
}

/// The backend a session lives on, or `None` when the session does not exist.
pub(crate) fn session_executor(c: &Connection, session_id: &str) -> Result<Option<String>> {
    Ok(c.query_row(
        "SELECT executor FROM sessions WHERE id = ?1",
        [session_id],
        |r| r.get(0),
    )
    .optional()?)
}

/// Whether the session has any task yet (a session with none has not started).
pub(crate) fn session_has_tasks(c: &Connection, session_id: &str) -> Result<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM tasks WHERE session_id = ?1)",
        [session_id],
        |r| r.get(0),
    )?)
}

pub(crate) fn set_session_executor(
    tx: &Transaction<'_>,
    session_id: &str,
    executor: &str,
) -> Result<()> {
    tx.execute(
        "UPDATE sessions SET executor = ?2 WHERE id = ?1",
        params![session_id, executor],
    )?;
    Ok(())
}

/// A mirrored task's link to its cloud workflow.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RemoteTaskRow {
    pub task_id: String,
    pub workflow_id: String,
    pub user_id: String,
    pub profile_id: String,
    pub idempotency_key: String,
    pub remote_workflow_id: Option<String>,
    pub remote_session_id: Option<String>,
    pub last_sync_at: Option<String>,
    pub status: String,
    pub last_seq: u32,
}

const REMOTE_TASK_SQL: &str =
    "SELECT r.task_id, t.workflow_id, t.user_id, r.profile_id, r.idempotency_key,
            r.remote_workflow_id, r.remote_session_id, r.last_sync_at, t.status,
            (SELECT coalesce(max(seq), 0) FROM task_events e WHERE e.workflow_id = t.workflow_id)
     FROM remote_tasks r JOIN tasks t ON t.id = r.task_id";

fn remote_task(r: &rusqlite::Row<'_>) -> rusqlite::Result<RemoteTaskRow> {
    Ok(RemoteTaskRow {
        task_id: r.get(0)?,
        workflow_id: r.get(1)?,
        user_id: r.get(2)?,
        profile_id: r.get(3)?,
        idempotency_key: r.get(4)?,
        remote_workflow_id: r.get(5)?,
        remote_session_id: r.get(6)?,
        last_sync_at: r.get(7)?,
        status: r.get(8)?,
        last_seq: r.get(9)?,
    })
}

pub(crate) fn insert_task(
    tx: &Transaction<'_>,
    task_id: &str,
    profile_id: &str,
    idempotency_key: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO remote_tasks (task_id, profile_id, idempotency_key) VALUES (?1, ?2, ?3)",
        params![task_id, profile_id, idempotency_key],
    )?;
    Ok(())
}

/// Records what the cloud answered a submission with.
pub(crate) fn set_submitted(
    tx: &Transaction<'_>,
    task_id: &str,
    remote_workflow_id: &str,
    remote_session_id: Option<&str>,
    now: &str,
) -> Result<()> {
    tx.execute(
        "UPDATE remote_tasks SET remote_workflow_id = ?2, remote_session_id = ?3, last_sync_at = ?4
         WHERE task_id = ?1",
        params![task_id, remote_workflow_id, remote_session_id, now],
    )?;
    if remote_session_id.is_some() {
        tx.execute(
            "UPDATE sessions SET remote_id = ?2
             WHERE id = (SELECT session_id FROM tasks WHERE id = ?1) AND remote_id IS NULL",
            params![task_id, remote_session_id],
        )?;
    }
    Ok(())
}

pub(crate) fn touch_task(tx: &Transaction<'_>, task_id: &str, now: &str) -> Result<()> {
    tx.execute(
        "UPDATE remote_tasks SET last_sync_at = ?2 WHERE task_id = ?1",
        params![task_id, now],
    )?;
    Ok(())
}

/// The remote link of a task by its public workflow id.
pub(crate) fn task_by_workflow(c: &Connection, workflow_id: &str) -> Result<Option<RemoteTaskRow>> {
    let sql = format!("{REMOTE_TASK_SQL} WHERE t.workflow_id = ?1");
    Ok(c.query_row(&sql, [workflow_id], remote_task).optional()?)
}

/// Mirrored tasks that have not ended (their pumps re-attach at start-up).
pub(crate) fn unfinished_tasks(c: &Connection) -> Result<Vec<RemoteTaskRow>> {
    let sql = format!(
        "{REMOTE_TASK_SQL} WHERE t.status IN ({}) ORDER BY t.created_at",
        super::tasks::status_list(crate::core::run::lifecycle::TaskStatus::UNFINISHED)
    );
    Ok(c.prepare(&sql)?
        .query_map([], remote_task)?
        .collect::<Result<Vec<_>, _>>()?)
}

/// Deletes a mirrored task whose submission the cloud never accepted (and its session when this
/// submission started it and it holds nothing else).
pub(crate) fn delete_unsent_task(
    tx: &Transaction<'_>,
    task_id: &str,
    session_id: Option<&str>,
) -> Result<()> {
    tx.execute("DELETE FROM tasks WHERE id = ?1", [task_id])?;
    if let Some(s) = session_id {
        tx.execute(
            "DELETE FROM sessions WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM tasks WHERE session_id = ?1)",
            [s],
        )?;
    }
    Ok(())
}

/// The completed turns of a session, oldest first: `(workflow id)`.
pub(crate) fn completed_turns(c: &Connection, session_id: &str) -> Result<Vec<String>> {
    Ok(c.prepare(
        "SELECT workflow_id FROM tasks WHERE session_id = ?1 AND status = 'COMPLETED'
         ORDER BY created_at, rowid",
    )?
    .query_map([session_id], |r| r.get(0))?
    .collect::<Result<Vec<_>, _>>()?)
}

/// Copies one completed task into another session as a finished local task (a fork's turn):
/// query, answer, usage and times, with `metadata.forked_from` naming the original.
pub(crate) fn copy_turn(
    tx: &Transaction<'_>,
    from_workflow: &str,
    to_session: &str,
    new_id: &str,
    new_workflow: &str,
    now: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO tasks (id, workflow_id, user_id, session_id, query, mode, status, result, context, metadata,
                            model_used, provider, input_tokens, output_tokens, total_tokens, cost_usd,
                            created_at, started_at, completed_at, updated_at, duration_ms, executor, strategy)
         SELECT ?3, ?4, user_id, ?2, query, mode, status, result, context,
                json_set(CASE WHEN json_valid(metadata) THEN metadata ELSE '{}' END, '$.forked_from', workflow_id),
                model_used, provider, input_tokens, output_tokens, total_tokens, cost_usd,
                created_at, started_at, completed_at, ?5, duration_ms, 'local', strategy
         FROM tasks WHERE workflow_id = ?1",
        params![from_workflow, to_session, new_id, new_workflow, now],
    )?;
    tx.execute(
        "INSERT INTO workflow_control (workflow_id, updated_at) VALUES (?1, ?2)",
        params![new_workflow, now],
    )?;
    Ok(())
}

/// The cloud's id of a session mirrored from it (what its submissions' `X-Session-ID` said).
pub(crate) fn remote_session_id(c: &Connection, session_id: &str) -> Result<Option<String>> {
    Ok(c.query_row(
        "SELECT coalesce((SELECT remote_id FROM sessions WHERE id = ?1),
            (SELECT r.remote_session_id FROM remote_tasks r JOIN tasks t ON t.id = r.task_id
             WHERE t.session_id = ?1 AND r.remote_session_id IS NOT NULL
             ORDER BY t.created_at DESC LIMIT 1))",
        [session_id],
        |r| r.get(0),
    )?)
}
