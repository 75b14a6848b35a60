//! A task's stream as stored: `task_events` (stored events, contiguous seqs) and
//! `task_transient_events` (deltas and prompts, one compact row per seq, agent and type).

use rusqlite::{Connection, params};

use crate::core::error::Result;
use crate::core::streams::TaskEvent;

/// Inserts stored events (an event already stored is left as it is).
pub(crate) fn insert<'a>(
    tx: &rusqlite::Transaction<'_>,
    events: impl IntoIterator<Item = &'a TaskEvent>,
) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO task_events (workflow_id, seq, type, agent_id, message, payload, timestamp)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for e in events {
        stmt.execute(params![
            e.workflow_id,
            e.seq,
            e.event_type,
            e.agent_id,
            e.message,
            e.payload.as_ref().map(|p| p.to_string()),
            e.timestamp,
        ])?;
    }
    Ok(())
}

fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TaskEvent> {
    let payload: Option<String> = r.get(4)?;
    Ok(TaskEvent {
        workflow_id: r.get(0)?,
        event_type: r.get(1)?,
        agent_id: r.get(2)?,
        message: r.get(3)?,
        payload: payload.and_then(|p| serde_json::from_str(&p).ok()),
        timestamp: r.get(5)?,
        seq: r.get(6)?,
        stream_id: None,
    })
}

/// Stored events of a task with `seq > after_seq`, in seq order, paged.
pub(crate) fn list_after(
    c: &Connection,
    workflow_id: &str,
    after_seq: u32,
    limit: u32,
    offset: u32,
) -> Result<Vec<TaskEvent>> {
    let mut stmt = c.prepare_cached(
        "SELECT workflow_id, type, agent_id, message, payload, timestamp, seq FROM task_events
         WHERE workflow_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3 OFFSET ?4",
    )?;
    let rows = stmt.query_map(
        params![workflow_id, after_seq, limit, offset],
        event_from_row,
    )?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// One compact row of transient events to store: the texts of a run concatenated, and their
/// boundaries (`"n:len,…"`).
pub(crate) struct NewTransient<'a> {
    pub workflow_id: &'a str,
    pub seq: u32,
    pub first_n: u32,
    pub agent_id: &'a str,
    pub event_type: &'a str,
    pub text: String,
    pub chunks: String,
    pub payload: Option<String>,
    pub timestamp: &'a str,
}

/// Inserts compact transient rows (a row already stored is left as it is).
pub(crate) fn insert_transient<'a>(
    tx: &rusqlite::Transaction<'_>,
    rows: impl IntoIterator<Item = NewTransient<'a>>,
) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO task_transient_events
            (workflow_id, seq, first_n, agent_id, type, text, chunks, payload, timestamp)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for r in rows {
        stmt.execute(params![
            r.workflow_id,
            r.seq,
            r.first_n,
            r.agent_id,
            r.event_type,
            r.text,
            r.chunks,
            r.payload,
            r.timestamp,
        ])?;
    }
    Ok(())
}

/// A stored row of an agent's deltas (`LLM_PARTIAL`) at one seq.
pub(crate) struct DeltaRow {
    pub first_n: u32,
    pub text: String,
    pub chunks: String,
}

/// The rows of an agent's deltas at `seq`, in order.
pub(crate) fn list_deltas(
    c: &Connection,
    workflow_id: &str,
    seq: u32,
    agent_id: &str,
) -> Result<Vec<DeltaRow>> {
    Ok(c.prepare_cached(
        "SELECT first_n, text, chunks FROM task_transient_events
             WHERE workflow_id = ?1 AND seq = ?2 AND agent_id = ?3 AND type = 'LLM_PARTIAL'
             ORDER BY first_n",
    )?
    .query_map(params![workflow_id, seq, agent_id], |r| {
        Ok(DeltaRow {
            first_n: r.get(0)?,
            text: r.get(1)?,
            chunks: r.get(2)?,
        })
    })?
    .collect::<Result<_, _>>()?)
}

/// Deletes the rows of an agent's deltas at `seq` after the one starting at `first_n`.
pub(crate) fn delete_deltas_after(
    tx: &rusqlite::Transaction<'_>,
    workflow_id: &str,
    seq: u32,
    agent_id: &str,
    first_n: u32,
) -> Result<()> {
    tx.prepare_cached(
        "DELETE FROM task_transient_events
         WHERE workflow_id = ?1 AND seq = ?2 AND agent_id = ?3 AND type = 'LLM_PARTIAL' AND first_n > ?4",
    )?
    .execute(params![workflow_id, seq, agent_id, first_n])?;
    Ok(())
}

/// Replaces the text and boundaries of one transient row.
pub(crate) fn set_transient_text(
    tx: &rusqlite::Transaction<'_>,
    workflow_id: &str,
    seq: u32,
    first_n: u32,
    agent_id: &str,
    text: &str,
    chunks: &str,
) -> Result<()> {
    tx.prepare_cached(
        "UPDATE task_transient_events SET text = ?5, chunks = ?6
         WHERE workflow_id = ?1 AND seq = ?2 AND first_n = ?3 AND agent_id = ?4",
    )?
    .execute(params![workflow_id, seq, first_n, agent_id, text, chunks])?;
    Ok(())
}

/// A stored row of transient events, as read back.
pub(crate) struct TransientRow {
    /// Empty when the events had no agent.
    pub agent_id: String,
    pub event_type: String,
    pub text: String,
    pub chunks: String,
    pub payload: Option<String>,
    pub timestamp: String,
    pub seq: u32,
}

/// The transient rows of a task with `from_seq <= seq <= upto_seq`.
pub(crate) fn list_transient(
    c: &Connection,
    workflow_id: &str,
    from_seq: u32,
    upto_seq: u32,
) -> Result<Vec<TransientRow>> {
    let mut stmt = c.prepare_cached(
        "SELECT agent_id, type, text, chunks, payload, timestamp, seq FROM task_transient_events
         WHERE workflow_id = ?1 AND seq >= ?2 AND seq <= ?3",
    )?;
    let rows = stmt.query_map(params![workflow_id, from_seq, upto_seq], |r| {
        Ok(TransientRow {
            agent_id: r.get(0)?,
            event_type: r.get(1)?,
            text: r.get(2)?,
            chunks: r.get(3)?,
            payload: r.get(4)?,
            timestamp: r.get(5)?,
            seq: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
