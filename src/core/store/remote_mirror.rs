//! What remote mode mirrors besides tasks (migration 14): sessions made on a cloud by other
//! clients (`sessions.remote_id`), and the schedules created on a cloud (`remote_schedules`, with
//! the last copy read from it).

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::core::error::Result;

/// The local id of a session the mirror knows by its cloud's id, on that backend.
pub(crate) fn session_by_remote_id(
    c: &Connection,
    user: &str,
    executor: &str,
    remote_id: &str,
) -> Result<Option<String>> {
    Ok(c.query_row(
        "SELECT id FROM sessions WHERE user_id = ?1 AND executor = ?2 AND remote_id = ?3
         UNION ALL
         SELECT t.session_id FROM remote_tasks r JOIN tasks t ON t.id = r.task_id
         WHERE t.user_id = ?1 AND ?2 = 'remote:' || r.profile_id AND r.remote_session_id = ?3
           AND t.session_id IS NOT NULL
         LIMIT 1",
        params![user, executor, remote_id],
        |r| r.get(0),
    )
    .optional()?)
}

/// A session made on a cloud by another client, as its list describes it.
pub(crate) struct MirroredSession<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub executor: &'a str,
    pub remote_id: &'a str,
    pub title: Option<&'a str>,
    pub context: &'a str,
    pub created_at: &'a str,
    pub updated_at: &'a str,
}

pub(crate) fn insert_session(tx: &Transaction<'_>, s: &MirroredSession<'_>) -> Result<()> {
    super::sessions::insert(tx, s.id, s.user_id, None, s.context, s.created_at)?;
    tx.execute(
        "UPDATE sessions SET executor = ?2, remote_id = ?3, title = ?4, updated_at = ?5
         WHERE id = ?1",
        params![s.id, s.executor, s.remote_id, s.title, s.updated_at],
    )?;
    Ok(())
}

/// A schedule living on a cloud.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RemoteScheduleRow {
    pub id: String,
    pub profile_id: String,
    /// JSON: the schedule as the cloud last described it.
    pub snapshot: String,
    pub synced_at: String,
}

fn schedule(r: &rusqlite::Row<'_>) -> rusqlite::Result<RemoteScheduleRow> {
    Ok(RemoteScheduleRow {
        id: r.get(0)?,
        profile_id: r.get(1)?,
        snapshot: r.get(2)?,
        synced_at: r.get(3)?,
    })
}

/// Records (or refreshes) the copy of a cloud schedule.
pub(crate) fn put_schedule(
    tx: &Transaction<'_>,
    user: &str,
    row: &RemoteScheduleRow,
) -> Result<()> {
    tx.execute(
        "INSERT INTO remote_schedules (id, user_id, profile_id, snapshot, synced_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(id) DO UPDATE SET snapshot = excluded.snapshot, synced_at = excluded.synced_at",
        params![row.id, user, row.profile_id, row.snapshot, row.synced_at],
    )?;
    Ok(())
}

pub(crate) fn get_schedule(
    c: &Connection,
    user: &str,
    id: &str,
) -> Result<Option<RemoteScheduleRow>> {
    Ok(c.query_row(
        "SELECT id, profile_id, snapshot, synced_at FROM remote_schedules
         WHERE user_id = ?1 AND id = ?2",
        params![user, id],
        schedule,
    )
    .optional()?)
}

/// The user's cloud schedules, oldest first.
pub(crate) fn list_schedules(c: &Connection, user: &str) -> Result<Vec<RemoteScheduleRow>> {
    Ok(c.prepare(
        "SELECT id, profile_id, snapshot, synced_at FROM remote_schedules
         WHERE user_id = ?1 ORDER BY rowid",
    )?
    .query_map([user], schedule)?
    .collect::<Result<Vec<_>, _>>()?)
}

pub(crate) fn delete_schedule(tx: &Transaction<'_>, id: &str) -> Result<()> {
    tx.execute("DELETE FROM remote_schedules WHERE id = ?1", [id])?;
    Ok(())
}

/// Whether a mirrored task holds an approval request the cloud gave an id (v0.5.1 gives none).
pub(crate) fn has_approval_request(
    c: &Connection,
    workflow_id: &str,
    approval_id: &str,
) -> Result<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM task_events WHERE workflow_id = ?1
             AND type = 'APPROVAL_REQUESTED' AND json_extract(payload, '$.approval_id') = ?2)",
        params![workflow_id, approval_id],
        |r| r.get(0),
    )?)
}

/// Whether a cloud workflow is already mirrored here as a task this device submitted.
pub(crate) fn is_mirrored(c: &Connection, remote_workflow_id: &str) -> Result<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM remote_tasks WHERE remote_workflow_id = ?1)",
        [remote_workflow_id],
        |r| r.get(0),
    )?)
}
