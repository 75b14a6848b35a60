//! The stored forms of a task's stream: `task_events` (stored events, contiguous seqs) and
//! `task_transient_events` (deltas and prompts, one compact row per seq, agent and type: the texts
//! concatenated plus their boundaries, so every delta and its stream id comes back exactly).

use std::collections::HashMap;

use rusqlite::params;

use super::{StreamPos, TaskEvent};
use crate::core::error::Result;

/// Inserts stored events in one transaction (also the benchmark's subject).
pub fn insert_events<'a>(
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

/// Stores transient events compactly: one row per (task, seq, agent, type) in this commit, whatever
/// the number of deltas in it.
pub(super) fn insert_transient(
    tx: &rusqlite::Transaction<'_>,
    events: &[(StreamPos, &TaskEvent)],
) -> Result<()> {
    type Key<'a> = (&'a str, u32, &'a str, &'a str);
    struct Run<'a> {
        first_n: u32,
        text: String,
        chunks: String,
        first: &'a TaskEvent,
    }
    let mut runs: Vec<(Key<'_>, Run<'_>)> = Vec::new();
    let mut index: HashMap<Key<'_>, usize> = HashMap::new();
    for (pos, e) in events {
        let key = (
            e.workflow_id.as_str(),
            pos.seq,
            e.agent_id.as_deref().unwrap_or(""),
            e.event_type.as_str(),
        );
        let text = e.message.as_deref().unwrap_or("");
        let i = *index.entry(key).or_insert_with(|| {
            let run = Run {
                first_n: pos.n,
                text: String::new(),
                chunks: String::new(),
                first: e,
            };
            runs.push((key, run));
            runs.len() - 1
        });
        let run = &mut runs[i].1;
        run.text.push_str(text);
        if !run.chunks.is_empty() {
            run.chunks.push(',');
        }
        run.chunks.push_str(&format!("{}:{}", pos.n, text.len()));
    }
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO task_transient_events
            (workflow_id, seq, first_n, agent_id, type, text, chunks, payload, timestamp)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for ((wf, seq, agent, ty), run) in runs {
        stmt.execute(params![
            wf,
            seq,
            run.first_n,
            agent,
            ty,
            run.text,
            run.chunks,
            run.first.payload.as_ref().map(|p| p.to_string()),
            run.first.timestamp,
        ])?;
    }
    Ok(())
}

/// A message ended (its LLM_OUTPUT at `output_seq` is being stored): merges the rows its deltas
/// took, one per commit while it streamed, into one (for the deltas right before the output).
pub(super) fn compact_deltas(
    tx: &rusqlite::Transaction<'_>,
    workflow_id: &str,
    agent_id: &str,
    output_seq: u32,
) -> Result<()> {
    let Some(seq) = output_seq.checked_sub(1) else {
        return Ok(());
    };
    let rows: Vec<(u32, String, String)> = tx
        .prepare_cached(
            "SELECT first_n, text, chunks FROM task_transient_events
             WHERE workflow_id = ?1 AND seq = ?2 AND agent_id = ?3 AND type = 'LLM_PARTIAL'
             ORDER BY first_n",
        )?
        .query_map(params![workflow_id, seq, agent_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    if rows.len() < 2 {
        return Ok(());
    }
    let first_n = rows[0].0;
    let text: String = rows.iter().map(|r| r.1.as_str()).collect();
    let chunks = rows
        .iter()
        .map(|r| r.2.as_str())
        .collect::<Vec<_>>()
        .join(",");
    tx.prepare_cached(
        "DELETE FROM task_transient_events
         WHERE workflow_id = ?1 AND seq = ?2 AND agent_id = ?3 AND type = 'LLM_PARTIAL' AND first_n > ?4",
    )?
    .execute(params![workflow_id, seq, agent_id, first_n])?;
    tx.prepare_cached(
        "UPDATE task_transient_events SET text = ?5, chunks = ?6
         WHERE workflow_id = ?1 AND seq = ?2 AND first_n = ?3 AND agent_id = ?4",
    )?
    .execute(params![workflow_id, seq, first_n, agent_id, text, chunks])?;
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

/// Reads stored events of a task in seq order.
pub fn read_events(
    conn: &rusqlite::Connection,
    workflow_id: &str,
    after_seq: u32,
    limit: u32,
    offset: u32,
) -> Result<Vec<TaskEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT workflow_id, type, agent_id, message, payload, timestamp, seq FROM task_events
         WHERE workflow_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3 OFFSET ?4",
    )?;
    let rows = stmt.query_map(
        params![workflow_id, after_seq, limit, offset],
        event_from_row,
    )?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The whole stream after `after` as a subscriber sees it, stored and transient events in order:
/// up to `limit` stored events, with the transient events among and after them.
pub fn read_stream(
    conn: &rusqlite::Connection,
    workflow_id: &str,
    after: StreamPos,
    limit: u32,
) -> Result<Vec<TaskEvent>> {
    let stored = read_events(conn, workflow_id, after.seq, limit, 0)?;
    // A full page ends at its last seq; the transient events after it belong to this page too.
    let upto = match stored.last() {
        Some(last) if stored.len() as u32 == limit => last.seq,
        _ => u32::MAX,
    };
    let mut out: Vec<(StreamPos, TaskEvent)> = stored.into_iter().map(|e| (e.pos(), e)).collect();
    let mut stmt = conn.prepare_cached(
        "SELECT agent_id, type, text, chunks, payload, timestamp, seq FROM task_transient_events
         WHERE workflow_id = ?1 AND seq >= ?2 AND seq <= ?3",
    )?;
    let rows = stmt.query_map(params![workflow_id, after.seq, upto], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, u32>(6)?,
        ))
    })?;
    for row in rows {
        let (agent, ty, text, chunks, payload, timestamp, seq) = row?;
        let payload = payload.and_then(|p| serde_json::from_str(&p).ok());
        let mut offset = 0usize;
        for chunk in chunks.split(',').filter(|c| !c.is_empty()) {
            let Some((n, len)) = chunk.split_once(':') else {
                continue;
            };
            let (Ok(n), Ok(len)) = (n.parse::<u32>(), len.parse::<usize>()) else {
                continue;
            };
            let piece = text
                .get(offset..offset + len)
                .unwrap_or_default()
                .to_string();
            offset += len;
            let pos = StreamPos { seq, n };
            if pos <= after {
                continue;
            }
            out.push((
                pos,
                TaskEvent {
                    workflow_id: workflow_id.to_string(),
                    event_type: ty.clone(),
                    agent_id: (!agent.is_empty()).then(|| agent.clone()),
                    message: Some(piece),
                    payload: payload.clone(),
                    timestamp: timestamp.clone(),
                    seq,
                    stream_id: Some(pos.id()),
                },
            ));
        }
    }
    out.sort_by_key(|(p, _)| *p);
    Ok(out.into_iter().map(|(_, e)| e).collect())
}
