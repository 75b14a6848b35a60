//! The hub: numbers events per task, queues them for the writer, and makes them visible (ring and
//! subscribers' watch) only once the writer has committed them, so whatever a client receives
//! survives any crash with the same position and content.
//!
//! Memory stays bounded: subscribers hold a cursor, not a queue (they read the ring, or the database
//! when the ring no longer reaches back far enough); deltas still waiting for the writer merge into
//! one; the rings have a size cap; and new tasks are refused while the writer's backlog is over its
//! limit ([`EventHub::admit`]).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, oneshot, watch};

use super::ring::{Ring, approx_bytes};
use super::writer::{Outgoing, Queued, StepRecord, persist_loop};
use super::{EventType, NewEvent, StreamPos, TaskEvent};
use crate::core::error::{Result, ShannonError};
use crate::core::store::Store;
use crate::core::time;

/// Limits of the in-memory rings and of the writer's backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingConfig {
    /// Most recent visible events kept per task.
    pub events_per_task: usize,
    /// All rings together (live tasks and recently finished ones), approximately.
    pub memory_cap_bytes: usize,
    /// Finished tasks whose rings are kept, least recently used dropped first.
    pub finished_tasks: usize,
    /// Events waiting for the writer above which new tasks are refused (`rate_limited`).
    pub backlog_max_bytes: usize,
}

impl Default for RingConfig {
    fn default() -> Self {
        Self {
            events_per_task: 4096,
            memory_cap_bytes: 32 * 1024 * 1024,
            finished_tasks: 256,
            backlog_max_bytes: 16 * 1024 * 1024,
        }
    }
}

/// What a task's subscribers watch: the last visible (committed) position, and whether the stream
/// has ended (everything is then visible, and the ring moves to the recently finished).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visible {
    pub pos: StreamPos,
    pub closed: bool,
}

/// Events handed to the writer and not yet committed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub events: usize,
    pub bytes: usize,
    /// The last commit failed (a full disk, a broken database); the writer keeps retrying.
    pub failing: bool,
}

/// Events that pass a hold: the control events that report the hold itself and how it ends.
fn passes_hold(t: EventType) -> bool {
    matches!(
        t,
        EventType::WorkflowPausing
            | EventType::WorkflowPaused
            | EventType::WorkflowResumed
            | EventType::WorkflowCancelling
            | EventType::WorkflowCancelled
            | EventType::ErrorRecovery
    )
}

struct TaskStream {
    /// The newest position handed out.
    assigned: StreamPos,
    visible: watch::Sender<Visible>,
    ring: Ring,
    /// This task's newest queued delta, as (outbox generation, index): a following delta of the same
    /// agent joins it while the writer has not taken it yet.
    open_delta: Option<(u64, usize)>,
    /// While paused: events held back, numbered when released.
    held: Option<Vec<NewEvent>>,
    /// The run has ended: close once everything is visible.
    closing: bool,
    /// The task is being ended: its end is numbered and stored with the terminal row (see
    /// `lifecycle::finish`), so nothing else may take a number.
    sealed: bool,
}

impl TaskStream {
    fn new(after: StreamPos, floor: StreamPos) -> Self {
        Self {
            assigned: after,
            visible: watch::channel(Visible {
                pos: after,
                closed: false,
            })
            .0,
            ring: Ring::starting_after(floor),
            open_delta: None,
            held: None,
            closing: false,
            sealed: false,
        }
    }

    fn settled(&self) -> bool {
        self.visible.borrow().pos >= self.assigned
    }
}

#[derive(Default)]
struct Streams {
    live: HashMap<String, TaskStream>,
    /// Rings of finished tasks, least recently used first in `order`.
    finished: HashMap<String, Ring>,
    order: VecDeque<String>,
    ring_bytes: usize,
    outbox: Vec<Outgoing>,
    outbox_bytes: usize,
    outbox_events: usize,
    /// Bumped whenever the writer takes the outbox (indexes into it are then stale).
    generation: u64,
    in_flight: Backlog,
    /// Streams closed so far (finished tasks), for the idle memory release.
    closed: u64,
}

/// Numbers, queues for storage, and reveals events once stored; see the module documentation.
pub struct EventHub {
    streams: Mutex<Streams>,
    wake_writer: Arc<Notify>,
    /// Woken after every commit, for [`EventHub::admit`].
    drained: Notify,
    rings: RingConfig,
    /// Events emitted since start (every one numbered or merged into a queued delta), for metrics.
    emitted: AtomicU64,
    /// Open [`super::TaskSubscription`]s, for metrics.
    subscriptions: AtomicUsize,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventHub")
    }
}

impl Drop for EventHub {
    fn drop(&mut self) {
        // The writer holds only a weak reference; wake it so it notices and exits.
        self.wake_writer.notify_one();
    }
}

impl EventHub {
    pub fn new(store: Store) -> Arc<Self> {
        Self::with_rings(store, RingConfig::default())
    }

    pub fn with_rings(store: Store, rings: RingConfig) -> Arc<Self> {
        let wake_writer = Arc::new(Notify::new());
        let hub = Arc::new(Self {
            streams: Mutex::new(Streams::default()),
            wake_writer: wake_writer.clone(),
            drained: Notify::new(),
            rings,
            emitted: AtomicU64::new(0),
            subscriptions: AtomicUsize::new(0),
        });
        tokio::spawn(persist_loop(store, Arc::downgrade(&hub), wake_writer));
        hub
    }

    fn lock(&self) -> MutexGuard<'_, Streams> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a task whose stored stream ends at `last_seq` (0 for a new task).
    pub fn open_stream(&self, workflow_id: &str, last_seq: u32) {
        let mut s = self.lock();
        // A recovered task continues after its stored stream; an old ring would not cover it.
        if let Some(ring) = s.finished.remove(workflow_id) {
            s.ring_bytes -= ring.bytes;
            s.order.retain(|w| w != workflow_id);
        }
        let after = StreamPos::stored(last_seq);
        // Transient events after the last stored one are in the database only.
        let floor = StreamPos {
            seq: last_seq,
            n: if last_seq == 0 { 0 } else { u32::MAX },
        };
        s.live
            .entry(workflow_id.to_string())
            .or_insert_with(|| TaskStream::new(after, floor));
    }

    /// Emits an event: numbered and queued for storage; subscribers see it once it is stored. While
    /// the task is held (paused), it waits in the hold instead.
    pub fn emit(
        &self,
        workflow_id: &str,
        event_type: EventType,
        agent_id: Option<&str>,
        message: Option<String>,
        payload: Option<serde_json::Value>,
    ) {
        let new = NewEvent {
            event_type,
            agent_id: agent_id.map(str::to_string),
            message,
            payload,
        };
        self.accept(&mut self.lock(), workflow_id, new);
        self.wake_writer.notify_one();
    }

    /// Emits a completed step's events and hands the writer the step's journal record with them;
    /// returns once all of them are stored in one transaction. While the task is held its events wait
    /// in the hold, but the step itself is stored now, so a restart does not repeat it.
    pub(crate) async fn commit_step(
        &self,
        workflow_id: &str,
        events: Vec<NewEvent>,
        step: StepRecord,
    ) -> Result<()> {
        self.queue_step(workflow_id, events, step).await
    }

    /// As [`EventHub::commit_step`], queued now: the returned future resolves once the step and
    /// its events are stored. A caller that reads on meanwhile (a remote task's pump) keeps one
    /// commit in flight while it gathers the next batch.
    pub(crate) fn queue_step(
        &self,
        workflow_id: &str,
        events: Vec<NewEvent>,
        step: StepRecord,
    ) -> impl std::future::Future<Output = Result<()>> + use<> {
        let (done, committed) = oneshot::channel();
        {
            let mut s = self.lock();
            for e in events {
                self.accept(&mut s, workflow_id, e);
            }
            s.outbox.push(Outgoing::Step {
                step: Box::new(step),
                done,
            });
        }
        self.wake_writer.notify_one();
        async move {
            committed
                .await
                .map_err(|_| ShannonError::Internal("the event writer has stopped".into()))?
        }
    }

    fn accept(&self, s: &mut Streams, workflow_id: &str, new: NewEvent) {
        if !s.live.contains_key(workflow_id) && s.finished.contains_key(workflow_id) {
            // A late event of an ended stream (a cancel racing the run's end): its numbering has
            // ended with it, and a fresh count from 1 would reuse seqs.
            tracing::debug!(
                workflow_id,
                event = new.event_type.as_str(),
                "event after the stream ended; dropped"
            );
            return;
        }
        // Per token: look up first, allocate the key only for a new stream.
        if !s.live.contains_key(workflow_id) {
            let fresh = TaskStream::new(StreamPos::START, StreamPos::START);
            s.live.insert(workflow_id.to_string(), fresh);
        }
        let stream = s.live.get_mut(workflow_id).expect("inserted above");
        if stream.sealed {
            tracing::debug!(
                workflow_id,
                event = new.event_type.as_str(),
                "event while the task ends; dropped"
            );
            return;
        }
        self.emitted.fetch_add(1, Ordering::Relaxed);
        if let Some(held) = stream.held.as_mut()
            && !passes_hold(new.event_type)
        {
            held.push(new);
            return;
        }
        queue(s, workflow_id, new);
    }

    /// Holds the task's events from now on (a pause): nothing but control events reaches
    /// subscribers until [`EventHub::release`].
    pub fn hold(&self, workflow_id: &str) {
        if let Some(stream) = self.lock().live.get_mut(workflow_id) {
            stream.held.get_or_insert_with(Vec::new);
        }
    }

    /// Ends a hold: the held events are queued in order, ahead of anything emitted after.
    pub fn release(&self, workflow_id: &str) {
        let mut s = self.lock();
        let Some(held) = s.live.get_mut(workflow_id).and_then(|t| t.held.take()) else {
            return;
        };
        for e in held {
            queue(&mut s, workflow_id, e);
        }
        drop(s);
        self.wake_writer.notify_one();
    }

    /// Up to `max` visible events of a task after `after`, from memory, and whether its stream has
    /// ended; `None` when memory no longer holds them all (or never did): read the database then.
    pub fn read_after(
        &self,
        workflow_id: &str,
        after: StreamPos,
        max: usize,
    ) -> Option<(Vec<TaskEvent>, bool)> {
        let mut s = self.lock();
        if let Some(stream) = s.live.get(workflow_id) {
            return stream.ring.after(after, max).map(|e| (e, false));
        }
        let found = s.finished.get(workflow_id)?.after(after, max)?;
        // Recently used: move to the back of the eviction order.
        s.order.retain(|w| w != workflow_id);
        s.order.push_back(workflow_id.to_string());
        Some((found, true))
    }

    /// Watches a task whose stream is live in this process; `None` once it has ended.
    pub fn watch(&self, workflow_id: &str) -> Option<watch::Receiver<Visible>> {
        self.lock()
            .live
            .get(workflow_id)
            .map(|s| s.visible.subscribe())
    }

    /// The last visible position of a live stream.
    pub fn visible(&self, workflow_id: &str) -> Option<StreamPos> {
        self.lock()
            .live
            .get(workflow_id)
            .map(|s| s.visible.borrow().pos)
    }

    /// No further event of this task takes a number (its end is being written).
    pub(crate) fn seal(&self, workflow_id: &str) {
        if let Some(stream) = self.lock().live.get_mut(workflow_id) {
            stream.sealed = true;
        }
    }

    /// Events stored by someone else (a task's end, with its terminal row): they become visible,
    /// and the stream closes after them.
    pub(crate) fn adopt(&self, workflow_id: &str, last_seq: u32, events: Vec<TaskEvent>) {
        self.open_stream(workflow_id, last_seq);
        let mut s = self.lock();
        self.emitted
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        for event in events {
            let (pos, bytes) = (event.pos(), approx_bytes(&event));
            self.keep_in_ring(&mut s, Queued { pos, event, bytes });
            if let Some(stream) = s.live.get_mut(workflow_id) {
                stream.assigned = stream.assigned.max(pos);
                stream.visible.send_modify(|v| v.pos = v.pos.max(pos));
            }
        }
        self.close_now(&mut s, workflow_id);
    }

    /// Ends a finished task's live stream once everything emitted is stored (held events are
    /// released first); its ring stays for replay among the recently finished tasks.
    pub fn close_stream(&self, workflow_id: &str) {
        self.release(workflow_id);
        let mut s = self.lock();
        let Some(stream) = s.live.get_mut(workflow_id) else {
            return;
        };
        stream.closing = true;
        if stream.settled() {
            self.close_now(&mut s, workflow_id);
        }
    }

    fn close_now(&self, s: &mut Streams, workflow_id: &str) {
        let Some(stream) = s.live.remove(workflow_id) else {
            return;
        };
        let pos = stream.visible.borrow().pos;
        stream.visible.send_replace(Visible { pos, closed: true });
        s.closed += 1;
        s.finished.insert(workflow_id.to_string(), stream.ring);
        s.order.push_back(workflow_id.to_string());
        while s.order.len() > self.rings.finished_tasks {
            if let Some(old) = s.order.pop_front()
                && let Some(ring) = s.finished.remove(&old)
            {
                s.ring_bytes -= ring.bytes;
            }
        }
    }

    /// Waits until everything emitted so far for this task is stored (however long the writer
    /// retries), without waiting for other tasks' events beyond what precedes them in the queue.
    pub async fn settle(&self, workflow_id: &str) {
        loop {
            let mut rx = {
                let s = self.lock();
                match s.live.get(workflow_id) {
                    Some(stream) if !stream.settled() => stream.visible.subscribe(),
                    _ => return,
                }
            };
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// As [`EventHub::settle`], for reads: waits at most `bound`, and not at all while commits fail
    /// (a full disk can last minutes; a read answers with what is stored). Returns whether the
    /// task's emitted events are all stored (`false`: some are still pending).
    pub async fn settle_for_read(&self, workflow_id: &str, bound: Duration) -> bool {
        let bound = if self.backlog().failing {
            Duration::ZERO
        } else {
            bound
        };
        // `timeout` polls the wait once before looking at the clock, so a settled task is `true`
        // even with a zero bound.
        tokio::time::timeout(bound, self.settle(workflow_id))
            .await
            .is_ok()
    }

    /// Waits until every event emitted so far is stored.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        self.lock().outbox.push(Outgoing::Barrier(tx));
        self.wake_writer.notify_one();
        let _ = rx.await;
    }

    /// Drops the rings of finished tasks (an idle app gives its caches back; replays read the
    /// database).
    pub(crate) fn drop_finished_rings(&self) {
        let mut s = self.lock();
        let freed: usize = s.finished.values().map(|r| r.bytes).sum();
        s.ring_bytes -= freed;
        s.finished = HashMap::new();
        s.order = VecDeque::new();
    }

    /// How many streams have closed (tasks ended) since the hub started.
    pub fn streams_closed(&self) -> u64 {
        self.lock().closed
    }

    /// Events emitted since the hub started (stored, pending or held; dropped ones not counted).
    pub fn events_emitted(&self) -> u64 {
        self.emitted.load(Ordering::Relaxed)
    }

    /// Tasks streaming now (running, or ending with events still to store).
    pub fn live_streams(&self) -> usize {
        self.lock().live.len()
    }

    /// Open subscriptions (SSE, WebSocket, IPC channels, in-process readers).
    pub fn subscriptions(&self) -> usize {
        self.subscriptions.load(Ordering::Relaxed)
    }

    /// A subscription opened (`true`) or ended (`false`).
    pub(crate) fn count_subscription(&self, opened: bool) {
        if opened {
            self.subscriptions.fetch_add(1, Ordering::Relaxed);
        } else {
            self.subscriptions.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// No task is streaming and nothing waits for the writer.
    pub fn is_idle(&self) -> bool {
        let s = self.lock();
        s.live.is_empty() && s.outbox.is_empty() && s.in_flight.events == 0
    }

    /// Events waiting for the writer (queued and in flight).
    pub fn backlog(&self) -> Backlog {
        let s = self.lock();
        Backlog {
            events: s.outbox_events + s.in_flight.events,
            bytes: s.outbox_bytes + s.in_flight.bytes,
            failing: s.in_flight.failing,
        }
    }

    /// Admission for new work: waits up to a second for a writer that has fallen behind, then refuses
    /// with `rate_limited` (429) rather than let the queue grow; `storage_unavailable` while commits
    /// fail.
    pub async fn admit(&self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        loop {
            let drained = self.drained.notified();
            let backlog = self.backlog();
            if backlog.failing {
                return Err(ShannonError::StorageUnavailable(
                    "the database cannot store events right now (is the disk full?)".into(),
                ));
            }
            if backlog.bytes <= self.rings.backlog_max_bytes {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, drained).await.is_err() {
                return Err(ShannonError::RateLimited(
                    "the engine is storing events slower than they arrive; retry shortly".into(),
                ));
            }
        }
    }

    /// The writer takes everything queued (empty: nothing to do).
    pub(crate) fn take_batch(&self) -> Vec<Outgoing> {
        let mut s = self.lock();
        if s.outbox.is_empty() {
            return Vec::new();
        }
        s.generation += 1;
        // Added: a retried batch takes in what was queued meanwhile.
        s.in_flight.events += std::mem::take(&mut s.outbox_events);
        s.in_flight.bytes += std::mem::take(&mut s.outbox_bytes);
        std::mem::take(&mut s.outbox)
    }

    /// The writer's report of a failed commit (kept for retry) or of recovery.
    pub(crate) fn set_failing(&self, failing: bool) {
        self.lock().in_flight.failing = failing;
    }

    /// The writer committed these events (in queue order): they become visible.
    pub(crate) fn committed(&self, events: Vec<Queued>) {
        let mut s = self.lock();
        s.in_flight = Backlog::default();
        // Subscribers wake once per task per commit, at its last position.
        let mut last: HashMap<String, StreamPos> = HashMap::new();
        for q in events {
            let wf = q.event.workflow_id.as_str();
            if !s.live.contains_key(wf) {
                continue;
            }
            match last.get_mut(wf) {
                Some(pos) => *pos = q.pos,
                None => {
                    last.insert(wf.to_string(), q.pos);
                }
            }
            self.keep_in_ring(&mut s, q);
        }
        for (wf, pos) in last {
            let Some(stream) = s.live.get_mut(&wf) else {
                continue;
            };
            stream.visible.send_modify(|v| v.pos = v.pos.max(pos));
            if stream.closing && stream.settled() {
                self.close_now(&mut s, &wf);
            }
        }
        drop(s);
        self.drained.notify_waiters();
    }

    fn keep_in_ring(&self, s: &mut Streams, q: Queued) {
        let Streams {
            live,
            finished,
            order,
            ring_bytes,
            ..
        } = s;
        let Some(stream) = live.get_mut(q.event.workflow_id.as_str()) else {
            return;
        };
        *ring_bytes += q.bytes;
        stream.ring.push(q.pos, q.event, q.bytes);
        if stream.ring.len() > self.rings.events_per_task {
            *ring_bytes -= stream.ring.pop_front();
        }
        // Over the memory cap: drop finished tasks' rings first, then this ring's oldest.
        while *ring_bytes > self.rings.memory_cap_bytes {
            if let Some(old) = order.pop_front() {
                if let Some(ring) = finished.remove(&old) {
                    *ring_bytes -= ring.bytes;
                }
            } else if stream.ring.len() > 0 {
                *ring_bytes -= stream.ring.pop_front();
            } else {
                break;
            }
        }
    }
}

/// Numbers an event and queues it for the writer; a delta joins the task's previous queued delta
/// when nothing came between and the writer has not taken it (no one has seen either yet).
fn queue(s: &mut Streams, workflow_id: &str, new: NewEvent) {
    let Streams {
        live,
        outbox,
        outbox_bytes,
        outbox_events,
        generation,
        ..
    } = s;
    let Some(stream) = live.get_mut(workflow_id) else {
        return;
    };
    let is_delta = new.event_type == EventType::LlmPartial;
    if is_delta
        && let Some((g, i)) = stream.open_delta
        && g == *generation
        && let Some(Outgoing::Event(Queued { event, bytes, .. })) = outbox.get_mut(i)
        && event.agent_id == new.agent_id
    {
        let more = new.message.unwrap_or_default();
        *outbox_bytes += more.len();
        *bytes += more.len();
        event
            .message
            .get_or_insert_with(String::new)
            .push_str(&more);
        return;
    }
    let transient = new.event_type.is_transient();
    stream.assigned = if transient {
        StreamPos {
            seq: stream.assigned.seq,
            n: stream.assigned.n + 1,
        }
    } else {
        StreamPos::stored(stream.assigned.seq + 1)
    };
    let pos = stream.assigned;
    let event = new.into_event(
        workflow_id,
        pos.seq,
        transient.then(|| pos.id()),
        time::now(),
    );
    let bytes = approx_bytes(&event);
    *outbox_bytes += bytes;
    *outbox_events += 1;
    stream.open_delta = is_delta.then_some((*generation, outbox.len()));
    outbox.push(Outgoing::Event(Queued { pos, event, bytes }));
}
