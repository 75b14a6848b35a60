//! Table `swarm_messages`: the user's messages to a running swarm's lead, numbered per workflow.

use rusqlite::{Connection, Transaction, params};

use crate::core::error::Result;

/// A stored message to a swarm's lead.
pub(crate) struct SwarmMessageRow {
    pub seq: i64,
    pub message: String,
}

impl SwarmMessageRow {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            seq: r.get(0)?,
            message: r.get(1)?,
        })
    }
}

/// Appends a message to the workflow's, numbered after the last.
pub(crate) fn insert(
    tx: &Transaction<'_>,
    workflow_id: &str,
    user_id: &str,
    message: &str,
    now: &str,
) -> Result<usize> {
    Ok(tx.execute(
        "INSERT INTO swarm_messages (workflow_id, seq, user_id, message, created_at)
                     VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM swarm_messages WHERE workflow_id = ?1),
                             ?2, ?3, ?4)",
        params![workflow_id, user_id, message, now],
    )?)
}

/// The workflow's messages after `seq`, oldest first.
pub(crate) fn list_after(
    c: &Connection,
    workflow_id: &str,
    seq: i64,
) -> Result<Vec<SwarmMessageRow>> {
    let mut stmt = c.prepare_cached(
        "SELECT seq, message FROM swarm_messages WHERE workflow_id = ?1 AND seq > ?2 ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![workflow_id, seq], SwarmMessageRow::from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}
