//! Resumable task subscriptions: replay the stored stream after `last_event_id`, then continue live
//! with no gap and no duplicate. A subscriber that falls behind the live channel catches up from the
//! database instead of losing events.

use std::collections::{HashSet, VecDeque};

use tokio::sync::broadcast::{self, error::RecvError};

use super::TaskEvent;
use super::events::read_events;
use super::lifecycle::EventType;
use crate::core::Core;
use crate::core::auth::Caller;
use crate::core::error::Result;

/// A task's events for one subscriber. `next` returns `None` after STREAM_END (or when the task has
/// ended and everything stored was delivered).
pub struct TaskSubscription {
    core: Core,
    workflow_id: String,
    live: Option<broadcast::Receiver<TaskEvent>>,
    pending: VecDeque<TaskEvent>,
    /// The last stored seq handed out (or skipped by the type filter).
    last_seq: u32,
    types: Option<HashSet<String>>,
    ended: bool,
}

impl std::fmt::Debug for TaskSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskSubscription")
            .field("workflow_id", &self.workflow_id)
            .field("last_seq", &self.last_seq)
            .finish_non_exhaustive()
    }
}

impl Core {
    /// Events of a task the caller owns, from after `last_event_id` (a stored `seq`; `None` = from the
    /// start), optionally only of `types`.
    pub async fn subscribe_task(
        &self,
        caller: &Caller,
        id: &str,
        last_event_id: Option<u32>,
        types: Option<Vec<String>>,
    ) -> Result<TaskSubscription> {
        let details = self.get_task(caller, id).await?;
        let wf = details.workflow_id;
        // Live first, then the stored replay: anything emitted in between shows up in both and is
        // dropped from the live side by its seq.
        let live = self.engine().hub.subscribe_existing(&wf);
        let mut sub = TaskSubscription {
            core: self.clone(),
            workflow_id: wf,
            live,
            pending: VecDeque::new(),
            last_seq: last_event_id.unwrap_or(0),
            types: types
                .map(|t| {
                    t.into_iter()
                        .filter(|s| !s.is_empty())
                        .collect::<HashSet<_>>()
                })
                .filter(|t| !t.is_empty()),
            ended: false,
        };
        sub.catch_up().await?;
        Ok(sub)
    }
}

impl TaskSubscription {
    pub fn workflow_id(&self) -> &str {
        &self.workflow_id
    }

    /// Loads stored events after `last_seq` into the queue: from the in-memory ring when it still
    /// holds them, else from the database (flushing the writer first).
    async fn catch_up(&mut self) -> Result<()> {
        let hub = &self.core.engine().hub;
        if let Some(events) = hub.replay_after(&self.workflow_id, self.last_seq) {
            if let Some(last) = events.last() {
                self.last_seq = last.seq;
            }
            self.pending.extend(events);
            return Ok(());
        }
        hub.flush().await;
        let (wf, after) = (self.workflow_id.clone(), self.last_seq);
        let stored = self
            .core
            .store()
            .read(move |c| read_events(c, &wf, after, u32::MAX, 0))
            .await?;
        if let Some(last) = stored.last() {
            self.last_seq = last.seq;
        }
        self.pending.extend(stored);
        Ok(())
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
            let Some(live) = self.live.as_mut() else {
                // No live stream: the task ended before we came; everything stored was replayed.
                self.ended = true;
                return None;
            };
            match live.recv().await {
                Ok(e) if e.is_transient() => {
                    // Live-only events belong after the stored event whose seq they carry.
                    if e.seq >= self.last_seq && self.wanted(&e) {
                        return Some(e);
                    }
                }
                Ok(e) if e.seq <= self.last_seq => {} // already replayed
                Ok(e) if e.seq == self.last_seq + 1 => {
                    self.last_seq = e.seq;
                    self.pending.push_back(e);
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    // A gap: fetch what was missed from the database (it holds every stored event).
                    if self.catch_up().await.is_err() {
                        self.ended = true;
                    }
                }
                Err(RecvError::Closed) => {
                    // The run ended and closed its live stream: deliver the stored rest, then stop.
                    self.live = None;
                    if self.catch_up().await.is_err() || self.pending.is_empty() {
                        self.ended = true;
                    }
                }
            }
        }
    }
}
