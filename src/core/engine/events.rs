//! Task events: the cloud's event object, per-task sequence numbers, live fan-out and batched
//! persistence (never one transaction per token).
//!
//! Persisted events get `seq` 1, 2, 3… per task with no gap. Transient events (LLM_PARTIAL,
//! LLM_PROMPT) are broadcast live only and carry the seq of the last persisted event before them.

use std::collections::{HashMap, VecDeque};
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

/// Limits of the in-memory replay rings (stored events only; partials are never replayed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingConfig {
    /// Most recent stored events kept per task.
    pub events_per_task: usize,
    /// All rings together (live tasks and recently finished ones), approximately.
    pub memory_cap_bytes: usize,
    /// Finished tasks whose rings are kept, least recently used dropped first.
    pub finished_tasks: usize,
}

impl Default for RingConfig {
    fn default() -> Self {
        Self {
            events_per_task: 1024,
            memory_cap_bytes: 32 * 1024 * 1024,
            finished_tasks: 256,
        }
    }
}

#[derive(Default)]
struct Ring {
    events: VecDeque<TaskEvent>,
    bytes: usize,
}

fn approx_bytes(e: &TaskEvent) -> usize {
    // The struct, its strings and the payload's JSON text, roughly.
    160 + e.workflow_id.len()
        + e.event_type.len()
        + e.message.as_ref().map_or(0, String::len)
        + e.payload.as_ref().map_or(0, |p| p.to_string().len())
}

impl Ring {
    /// Stored events after `after`, if the ring still holds all of them.
    fn after(&self, after: u32, last_seq: u32) -> Option<Vec<TaskEvent>> {
        match self.events.front() {
            None => (after >= last_seq).then(Vec::new),
            Some(first) if first.seq <= after.saturating_add(1) => Some(
                self.events
                    .iter()
                    .filter(|e| e.seq > after)
                    .cloned()
                    .collect(),
            ),
            Some(_) => None,
        }
    }

    fn pop_front(&mut self) -> usize {
        let freed = self.events.pop_front().map_or(0, |e| approx_bytes(&e));
        self.bytes -= freed;
        freed
    }
}

struct TaskStream {
    last_seq: u32,
    live: broadcast::Sender<TaskEvent>,
    ring: Ring,
}

struct Streams {
    live: HashMap<String, TaskStream>,
    /// Rings of finished tasks with their last seq, least recently used first in `order`.
    finished: HashMap<String, (Ring, u32)>,
    order: VecDeque<String>,
    bytes: usize,
}

/// Assigns sequence numbers, fans events out to live subscribers, keeps recent stored events in
/// memory for replay, and hands stored events to a background writer that batches them into few
/// transactions.
pub struct EventHub {
    streams: Mutex<Streams>,
    persist: mpsc::UnboundedSender<PersistMsg>,
    rings: RingConfig,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventHub")
    }
}

impl EventHub {
    pub fn new(store: Store) -> Arc<Self> {
        Self::with_rings(store, RingConfig::default())
    }

    pub fn with_rings(store: Store, rings: RingConfig) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(persist_loop(store, rx));
        Arc::new(Self {
            streams: Mutex::new(Streams {
                live: HashMap::new(),
                finished: HashMap::new(),
                order: VecDeque::new(),
                bytes: 0,
            }),
            persist: tx,
            rings,
        })
    }

    fn new_stream(last_seq: u32) -> TaskStream {
        TaskStream {
            last_seq,
            live: broadcast::channel(LIVE_CAPACITY).0,
            ring: Ring::default(),
        }
    }

    /// Stored events of a task after `after`, from memory; `None` when the ring no longer holds them
    /// all (read the database then).
    pub fn replay_after(&self, workflow_id: &str, after: u32) -> Option<Vec<TaskEvent>> {
        let mut s = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(stream) = s.live.get(workflow_id) {
            return stream.ring.after(after, stream.last_seq);
        }
        let found = s
            .finished
            .get(workflow_id)
            .and_then(|(ring, last)| ring.after(after, *last));
        if found.is_some() {
            // Recently used: move to the back of the eviction order.
            s.order.retain(|w| w != workflow_id);
            s.order.push_back(workflow_id.to_string());
        }
        found
    }

    /// Registers a task whose stored stream ends at `last_seq` (0 for a new task).
    pub fn open_stream(&self, workflow_id: &str, last_seq: u32) {
        let mut s = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        // A recovered task continues after its stored stream; an old ring would not cover it.
        if let Some((ring, _)) = s.finished.remove(workflow_id) {
            s.bytes -= ring.bytes;
            s.order.retain(|w| w != workflow_id);
        }
        s.live
            .entry(workflow_id.to_string())
            .or_insert_with(|| Self::new_stream(last_seq));
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
        let mut guard = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let s = &mut *guard;
        let stream = s
            .live
            .entry(workflow_id.to_string())
            .or_insert_with(|| Self::new_stream(0));
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
            let size = approx_bytes(&event);
            stream.ring.events.push_back(event.clone());
            stream.ring.bytes += size;
            s.bytes += size;
            if stream.ring.events.len() > self.rings.events_per_task {
                s.bytes -= stream.ring.pop_front();
            }
            // Over the memory cap: drop finished tasks' rings first, then this ring's oldest.
            while s.bytes > self.rings.memory_cap_bytes {
                if let Some(old) = s.order.pop_front() {
                    if let Some((ring, _)) = s.finished.remove(&old) {
                        s.bytes -= ring.bytes;
                    }
                } else if !stream.ring.events.is_empty() {
                    s.bytes -= stream.ring.pop_front();
                } else {
                    break;
                }
            }
        }
        // Sent under the lock so live subscribers see events in seq order.
        let _ = stream.live.send(event.clone());
        event
    }

    /// Live events of a task from now on.
    pub fn subscribe(&self, workflow_id: &str) -> broadcast::Receiver<TaskEvent> {
        let mut s = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        s.live
            .entry(workflow_id.to_string())
            .or_insert_with(|| Self::new_stream(0))
            .live
            .subscribe()
    }

    /// Live events of a task whose run is in this process; `None` once it has ended (its events are
    /// then all stored).
    pub fn subscribe_existing(&self, workflow_id: &str) -> Option<broadcast::Receiver<TaskEvent>> {
        self.streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .live
            .get(workflow_id)
            .map(|s| s.live.subscribe())
    }

    /// Ends a finished task's live stream (subscribers see it close); its ring stays for replay
    /// among the recently finished tasks, and its events stay in the database.
    pub fn close_stream(&self, workflow_id: &str) {
        let mut s = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let Some(stream) = s.live.remove(workflow_id) else {
            return;
        };
        s.finished
            .insert(workflow_id.to_string(), (stream.ring, stream.last_seq));
        s.order.push_back(workflow_id.to_string());
        while s.order.len() > self.rings.finished_tasks {
            if let Some(old) = s.order.pop_front()
                && let Some((ring, _)) = s.finished.remove(&old)
            {
                s.bytes -= ring.bytes;
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(events: Option<Vec<TaskEvent>>) -> Option<Vec<u32>> {
        events.map(|v| v.iter().map(|e| e.seq).collect())
    }

    #[tokio::test]
    async fn rings_replay_from_memory_and_give_way_when_evicted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_async(dir.path().join("db.sqlite3"))
            .await
            .unwrap();
        let rings = RingConfig {
            events_per_task: 5,
            memory_cap_bytes: 1 << 20,
            finished_tasks: 1,
        };
        let hub = EventHub::with_rings(store, rings);
        for _ in 0..8 {
            hub.emit("w1", "PROGRESS", Some("a"), Some("step".into()), None);
        }
        hub.emit("w1", "LLM_PARTIAL", Some("a"), Some("x".into()), None);
        assert_eq!(seqs(hub.replay_after("w1", 2)), None, "seq 3 was evicted");
        assert_eq!(seqs(hub.replay_after("w1", 3)), Some(vec![4, 5, 6, 7, 8]));
        assert_eq!(seqs(hub.replay_after("w1", 8)), Some(vec![]));
        hub.close_stream("w1");
        assert_eq!(
            seqs(hub.replay_after("w1", 6)),
            Some(vec![7, 8]),
            "kept after the run"
        );
        hub.emit("w2", "PROGRESS", None, None, None);
        hub.close_stream("w2");
        assert_eq!(
            seqs(hub.replay_after("w1", 6)),
            None,
            "least recently used ring dropped"
        );
        assert_eq!(seqs(hub.replay_after("w2", 0)), Some(vec![1]));

        // A tiny memory cap keeps only what fits.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_async(dir.path().join("db.sqlite3"))
            .await
            .unwrap();
        let hub = EventHub::with_rings(
            store,
            RingConfig {
                events_per_task: 1000,
                memory_cap_bytes: 1000,
                finished_tasks: 10,
            },
        );
        for _ in 0..50 {
            hub.emit("w3", "PROGRESS", None, Some("x".repeat(100)), None);
        }
        let kept = seqs(hub.replay_after("w3", 49)).unwrap();
        assert_eq!(kept, vec![50]);
        assert!(hub.replay_after("w3", 0).is_none());
    }
}
