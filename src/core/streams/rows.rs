//! The stored forms of a task's stream: `task_events` (stored events, contiguous seqs) and
//! `task_transient_events` (deltas and prompts, one compact row per seq, agent and type: the texts
//! concatenated plus their boundaries, so every delta and its stream id comes back exactly).

use std::collections::HashMap;

use super::{StreamPos, TaskEvent};
use crate::core::error::Result;
use crate::core::store;

/// Inserts stored events in one transaction (also the benchmark's subject).
pub fn insert_events<'a>(
    tx: &rusqlite::Transaction<'_>,
    events: impl IntoIterator<Item = &'a TaskEvent>,
) -> Result<()> {
    store::events::insert(tx, events)
}

/// Stores transient events compactly: one row per (task, seq, agent, type) in this commit, whatever
/// the number of deltas in it.
pub(crate) fn insert_transient(
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
    store::events::insert_transient(
        tx,
        runs.into_iter()
            .map(|((wf, seq, agent, ty), run)| store::events::NewTransient {
                workflow_id: wf,
                seq,
                first_n: run.first_n,
                agent_id: agent,
                event_type: ty,
                text: run.text,
                chunks: run.chunks,
                payload: run.first.payload.as_ref().map(|p| p.to_string()),
                timestamp: &run.first.timestamp,
            }),
    )
}

/// A message ended (its LLM_OUTPUT at `output_seq` is being stored): merges the rows its deltas
/// took, one per commit while it streamed, into one (for the deltas right before the output).
pub(crate) fn compact_deltas(
    tx: &rusqlite::Transaction<'_>,
    workflow_id: &str,
    agent_id: &str,
    output_seq: u32,
) -> Result<()> {
    let Some(seq) = output_seq.checked_sub(1) else {
        return Ok(());
    };
    let rows = store::events::list_deltas(tx, workflow_id, seq, agent_id)?;
    if rows.len() < 2 {
        return Ok(());
    }
    let first_n = rows[0].first_n;
    let text: String = rows.iter().map(|r| r.text.as_str()).collect();
    let chunks = rows
        .iter()
        .map(|r| r.chunks.as_str())
        .collect::<Vec<_>>()
        .join(",");
    store::events::delete_deltas_after(tx, workflow_id, seq, agent_id, first_n)?;
    store::events::set_transient_text(tx, workflow_id, seq, first_n, agent_id, &text, &chunks)?;
    Ok(())
}

/// Reads stored events of a task in seq order.
pub fn read_events(
    conn: &rusqlite::Connection,
    workflow_id: &str,
    after_seq: u32,
    limit: u32,
    offset: u32,
) -> Result<Vec<TaskEvent>> {
    store::events::list_after(conn, workflow_id, after_seq, limit, offset)
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
    for row in store::events::list_transient(conn, workflow_id, after.seq, upto)? {
        let store::events::TransientRow {
            agent_id: agent,
            event_type: ty,
            text,
            chunks,
            payload,
            timestamp,
            seq,
        } = row;
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
