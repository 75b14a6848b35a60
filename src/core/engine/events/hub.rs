//! The hub: numbers events per task, fans them out to live subscribers, keeps recent stored events
//! in memory for replay, and hands stored events and completed steps to the writer.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc, oneshot};

use super::writer::{PersistMsg, StepRecord, persist_loop};
use super::{EventType, NewEvent, TaskEvent};
use crate::core::error::{Result, ShannonError};
use crate::core::store::Store;
use crate::core::time;

const LIVE_CAPACITY: usize = 4096;

/// Sends an event to the task's live subscribers (under the streams lock, so in seq order).
fn broadcast(s: &Streams, event: &TaskEvent) {
    if let Some(stream) = s.live.get(&event.workflow_id) {
        // No subscriber is fine.
        let _ = stream.live.send(event.clone());
    }
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
        event_type: EventType,
        agent_id: Option<&str>,
        message: Option<String>,
        payload: Option<serde_json::Value>,
    ) -> TaskEvent {
        let new = NewEvent {
            event_type,
            agent_id: agent_id.map(str::to_string),
            message,
            payload,
        };
        let mut guard = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let event = self.number(&mut guard, workflow_id, new);
        if !event_type.is_transient() {
            // The writer outlives every emitter; a send error only happens during shutdown.
            let _ = self.persist.send(PersistMsg::Event(event.clone()));
        }
        // Queued for the writer before anyone sees it: a subscriber that flushes after receiving
        // an event finds it stored.
        broadcast(&guard, &event);
        event
    }

    /// Emits a completed step's events and hands them to the writer together with the step's journal
    /// record, and returns once all of them are stored in one transaction.
    pub(crate) async fn commit_step(
        &self,
        workflow_id: &str,
        events: Vec<NewEvent>,
        step: StepRecord,
    ) -> Result<()> {
        let (done, committed) = oneshot::channel();
        {
            let mut guard = self.streams.lock().unwrap_or_else(|p| p.into_inner());
            let events: Vec<TaskEvent> = events
                .into_iter()
                .map(|e| self.number(&mut guard, workflow_id, e))
                .collect();
            // Sent under the lock, so the writer sees them in seq order with every other event.
            let stored = events
                .iter()
                .filter(|e| !e.is_transient())
                .cloned()
                .collect();
            self.persist
                .send(PersistMsg::Step {
                    events: stored,
                    step: Box::new(step),
                    done,
                })
                .map_err(|_| ShannonError::Internal("the event writer has stopped".into()))?;
            for e in &events {
                broadcast(&guard, e);
            }
        }
        committed
            .await
            .map_err(|_| ShannonError::Internal("the event writer has stopped".into()))?
    }

    /// Numbers an event and keeps it in the task's ring when stored. Runs under the streams lock,
    /// so seqs and broadcasts follow one order.
    fn number(&self, s: &mut Streams, workflow_id: &str, new: NewEvent) -> TaskEvent {
        let stream = s
            .live
            .entry(workflow_id.to_string())
            .or_insert_with(|| Self::new_stream(0));
        let transient = new.event_type.is_transient();
        if !transient {
            stream.last_seq += 1;
        }
        let event = TaskEvent {
            workflow_id: workflow_id.to_string(),
            event_type: new.event_type.as_str().to_string(),
            agent_id: new.agent_id,
            message: new.message,
            payload: new.payload,
            timestamp: time::now(),
            seq: stream.last_seq,
        };
        if !transient {
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
            hub.emit(
                "w1",
                EventType::Progress,
                Some("a"),
                Some("step".into()),
                None,
            );
        }
        hub.emit(
            "w1",
            EventType::LlmPartial,
            Some("a"),
            Some("x".into()),
            None,
        );
        assert_eq!(seqs(hub.replay_after("w1", 2)), None, "seq 3 was evicted");
        assert_eq!(seqs(hub.replay_after("w1", 3)), Some(vec![4, 5, 6, 7, 8]));
        assert_eq!(seqs(hub.replay_after("w1", 8)), Some(vec![]));
        hub.close_stream("w1");
        assert_eq!(
            seqs(hub.replay_after("w1", 6)),
            Some(vec![7, 8]),
            "kept after the run"
        );
        hub.emit("w2", EventType::Progress, None, None, None);
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
            hub.emit("w3", EventType::Progress, None, Some("x".repeat(100)), None);
        }
        let kept = seqs(hub.replay_after("w3", 49)).unwrap();
        assert_eq!(kept, vec![50]);
        assert!(hub.replay_after("w3", 0).is_none());
    }
}
