//! Task events: the cloud's event object, per-task sequence numbers, live fan-out and batched
//! persistence (never one transaction per token).
//!
//! Persisted events get `seq` 1, 2, 3… per task with no gap. Transient events (LLM_PARTIAL,
//! LLM_PROMPT) are broadcast live only and carry the seq of the last persisted event before them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::params;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::core::error::Result;
use crate::core::store::Store;
use crate::core::time;

/// Event types that are streamed live but never stored (as the cloud).
pub fn is_transient(event_type: &str) -> bool {
    matches!(
        event_type,
        "LLM_PARTIAL" | "LLM_PROMPT" | "HEARTBEAT" | "PING"
    )
}

/// One event, in the cloud's shape (contract §5.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct TaskEvent {
    pub workflow_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
    pub timestamp: String,
    pub seq: u32,
}

impl TaskEvent {
    pub fn is_transient(&self) -> bool {
        is_transient(&self.event_type)
    }
}

const BATCH_MAX: usize = 256;
const BATCH_INTERVAL: Duration = Duration::from_millis(50);
const LIVE_CAPACITY: usize = 4096;

enum PersistMsg {
    Event(TaskEvent),
    Flush(oneshot::Sender<()>),
}

struct TaskStream {
    last_seq: u32,
    live: broadcast::Sender<TaskEvent>,
}

/// Assigns sequence numbers, fans events out to live subscribers and hands persisted ones to a
/// background writer that batches them into few transactions.
pub struct EventHub {
    streams: Mutex<HashMap<String, TaskStream>>,
    persist: mpsc::UnboundedSender<PersistMsg>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventHub")
    }
}

impl EventHub {
    pub fn new(store: Store) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(persist_loop(store, rx));
        Arc::new(Self {
            streams: Mutex::new(HashMap::new()),
            persist: tx,
        })
    }

    /// Registers a task whose stored stream ends at `last_seq` (0 for a new task).
    pub fn open_stream(&self, workflow_id: &str, last_seq: u32) {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        streams
            .entry(workflow_id.to_string())
            .or_insert_with(|| TaskStream {
                last_seq,
                live: broadcast::channel(LIVE_CAPACITY).0,
            });
    }

    /// Emits an event: numbered, broadcast, and queued for storage unless transient.
    pub fn emit(
        &self,
        workflow_id: &str,
        event_type: &str,
        agent_id: Option<&str>,
        message: Option<String>,
        payload: Option<serde_json::Value>,
    ) -> TaskEvent {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let stream = streams
            .entry(workflow_id.to_string())
            .or_insert_with(|| TaskStream {
                last_seq: 0,
                live: broadcast::channel(LIVE_CAPACITY).0,
            });
        let transient = is_transient(event_type);
        if !transient {
            stream.last_seq += 1;
        }
        let event = TaskEvent {
            workflow_id: workflow_id.to_string(),
            event_type: event_type.to_string(),
            agent_id: agent_id.map(str::to_string),
            message,
            payload,
            timestamp: time::now(),
            seq: stream.last_seq,
        };
        if !transient {
            // The writer outlives every emitter; a send error only happens during shutdown.
            let _ = self.persist.send(PersistMsg::Event(event.clone()));
        }
        // Sent under the lock so live subscribers see events in seq order.
        let _ = stream.live.send(event.clone());
        event
    }

    /// Live events of a task from now on.
    pub fn subscribe(&self, workflow_id: &str) -> broadcast::Receiver<TaskEvent> {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        streams
            .entry(workflow_id.to_string())
            .or_insert_with(|| TaskStream {
                last_seq: 0,
                live: broadcast::channel(LIVE_CAPACITY).0,
            })
            .live
            .subscribe()
    }

    /// Live events of a task whose run is in this process; `None` once it has ended (its events are
    /// then all stored).
    pub fn subscribe_existing(&self, workflow_id: &str) -> Option<broadcast::Receiver<TaskEvent>> {
        self.streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(workflow_id)
            .map(|s| s.live.subscribe())
    }

    /// Forgets a finished task's in-memory stream (its events stay in the database).
    pub fn close_stream(&self, workflow_id: &str) {
        self.streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(workflow_id);
    }

    /// Waits until every event emitted so far is stored.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.persist.send(PersistMsg::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

async fn persist_loop(store: Store, mut rx: mpsc::UnboundedReceiver<PersistMsg>) {
    let mut batch: Vec<TaskEvent> = Vec::new();
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        let first = match rx.recv().await {
            Some(m) => m,
            None => return,
        };
        let deadline = tokio::time::Instant::now() + BATCH_INTERVAL;
        let mut next = Some(first);
        // Gather until the batch is full, a flush is asked for, or the interval ends.
        loop {
            match next.take() {
                Some(PersistMsg::Event(e)) => batch.push(e),
                Some(PersistMsg::Flush(w)) => {
                    waiters.push(w);
                    break;
                }
                None => {}
            }
            if batch.len() >= BATCH_MAX {
                break;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(m)) => next = Some(m),
                Ok(None) | Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let events = std::mem::take(&mut batch);
            let n = events.len();
            if let Err(e) = store.write(move |tx| insert_events(tx, &events)).await {
                tracing::error!(error = %e, events = n, "could not store task events");
            }
        }
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

/// Inserts events in one transaction (also the benchmark's subject).
pub fn insert_events(tx: &rusqlite::Transaction<'_>, events: &[TaskEvent]) -> Result<()> {
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
    let rows = stmt.query_map(params![workflow_id, after_seq, limit, offset], |r| {
        let payload: Option<String> = r.get(4)?;
        Ok(TaskEvent {
            workflow_id: r.get(0)?,
            event_type: r.get(1)?,
            agent_id: r.get(2)?,
            message: r.get(3)?,
            payload: payload.and_then(|p| serde_json::from_str(&p).ok()),
            timestamp: r.get(5)?,
            seq: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}
