//! Resumable task subscriptions. A subscriber is a cursor, not a queue: it reads what is visible
//! after its position from the hub's ring, or from the database when the ring no longer reaches back
//! that far, and waits on the task's watch for more. So it never loses an event however slowly it
//! reads, and costs no memory while it lags.

use std::collections::{HashSet, VecDeque};

use tokio::sync::watch;

use crate::core::Core;
use crate::core::auth::Caller;
use crate::core::error::Result;
use crate::core::run::lifecycle::EventType;
use crate::core::streams::TaskEvent;
use crate::core::streams::{StreamPos, Visible, read_stream};

/// Events read per step, from memory or the database.
const PAGE: usize = 512;

/// A task's events for one subscriber. `next` returns `None` after STREAM_END (or when the task has
/// ended and everything stored was delivered).
pub struct TaskSubscription {
    core: Core,
    workflow_id: String,
    watch: Option<watch::Receiver<Visible>>,
    pending: VecDeque<TaskEvent>,
    /// The last position handed out (or skipped by the type filter).
    cursor: StreamPos,
    types: Option<HashSet<String>>,
    ended: bool,
}

impl std::fmt::Debug for TaskSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskSubscription")
            .field("workflow_id", &self.workflow_id)
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl Core {
    /// Events of a task the caller owns, after `after` (a stored seq, or a transient event's
    /// position; `None` = from the start), optionally only of `types`.
    pub async fn subscribe_task(
        &self,
        caller: &Caller,
        id: &str,
        after: Option<StreamPos>,
        types: Option<Vec<String>>,
    ) -> Result<TaskSubscription> {
        let details = self.get_task(caller, id).await?;
        let wf = details.workflow_id;
        let watch = self.engine().hub.watch(&wf);
        // Counted until dropped (see the `Drop` below).
        self.engine().hub.count_subscription(true);
        Ok(TaskSubscription {
            core: self.clone(),
            workflow_id: wf,
            watch,
            pending: VecDeque::new(),
            cursor: after.unwrap_or(StreamPos::START),
            types: types
                .map(|t| {
                    t.into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<HashSet<_>>()
                })
                .filter(|t| !t.is_empty()),
            ended: false,
        })
    }

    /// Events of a task the caller owns from now on (what becomes visible after this call).
    pub async fn live_events(&self, caller: &Caller, id: &str) -> Result<TaskSubscription> {
        let mut sub = self.subscribe_task(caller, id, None, None).await?;
        sub.cursor = match self.engine().hub.visible(&sub.workflow_id) {
            Some(pos) => pos,
            // Not running here: only what a later run adds would be new.
            None => StreamPos {
                seq: u32::MAX,
                n: 0,
            },
        };
        Ok(sub)
    }
}

impl Drop for TaskSubscription {
    fn drop(&mut self) {
        self.core.engine().hub.count_subscription(false);
    }
}

impl TaskSubscription {
    /// The workflow whose events this subscription receives.
    pub fn workflow_id(&self) -> &str {
        &self.workflow_id
    }

    /// The position after which this subscription continues (its resume id).
    pub fn position(&self) -> StreamPos {
        self.cursor
    }

    /// Loads the next page after the cursor; returns whether the stream has ended (nothing more
    /// will become visible).
    async fn fill(&mut self) -> Result<bool> {
        let hub = &self.core.engine().hub;
        let (events, closed) = match hub.read_after(&self.workflow_id, self.cursor, PAGE) {
            Some(found) => found,
            None => {
                let (wf, after) = (self.workflow_id.clone(), self.cursor);
                let stored = self
                    .core
                    .store()
                    .read(move |c| read_stream(c, &wf, after, PAGE as u32))
                    .await?;
                // A live stream only reveals what is stored, so the database has all it showed.
                let closed = stored.is_empty() && hub.watch(&self.workflow_id).is_none();
                (stored, closed)
            }
        };
        if let Some(last) = events.last() {
            self.cursor = last.pos();
        }
        let done = events.is_empty() && closed;
        self.pending.extend(events);
        Ok(done)
    }

    fn wanted(&self, e: &TaskEvent) -> bool {
        self.types
            .as_ref()
            .is_none_or(|t| t.contains(&e.event_type))
    }

    /// The next event, or `None` once the stream has ended.
    pub async fn next(&mut self) -> Option<TaskEvent> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                if e.is(EventType::StreamEnd) {
                    self.ended = true;
                    self.pending.clear();
                }
                if self.wanted(&e) {
                    return Some(e);
                }
                continue;
            }
            if self.ended {
                return None;
            }
            // Mark the current state seen before reading, so a commit in between wakes us.
            if let Some(w) = self.watch.as_mut() {
                w.borrow_and_update();
            }
            match self.fill().await {
                Err(_) | Ok(true) => {
                    self.ended = true;
                    continue;
                }
                Ok(false) if !self.pending.is_empty() => continue,
                Ok(false) => {}
            }
            match self.watch.as_mut() {
                Some(w) => {
                    if w.changed().await.is_err() {
                        // The stream closed: read what remains, then end.
                        self.watch = None;
                    }
                }
                // No live stream and nothing more stored: the task ended before we came.
                None => self.ended = true,
            }
        }
    }
}
