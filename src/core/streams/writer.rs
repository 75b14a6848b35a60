//! The background writer: group commits. It takes everything the hub queued since its last commit
//! and stores it in one transaction (a step's journal row, token usage and events always together),
//! then tells the hub, which makes those events visible. No batching window: under light load an
//! event is visible one commit after it was emitted, under heavy load the batches grow.
//!
//! A failed commit (full disk, busy or broken database) is never dropped: the same batch is retried
//! with backoff until it is stored, and a run waiting for its step learns of the failure meanwhile.

use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, oneshot};

use super::hub::EventHub;
use super::rows::{compact_deltas, insert_events, insert_transient};
use super::{EventType, StreamPos, TaskEvent};
use crate::core::error::{Result, ShannonError};
pub(crate) use crate::core::store::steps::UsageRow;
use crate::core::store::{self, Store};
use crate::core::time;

/// Failed attempts after which a run waiting for its step is told (the batch is still retried).
const TELL_WAITERS_AFTER: u32 = 3;
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// A completed step for the journal (see `engine::journal`).
#[derive(Debug, Clone)]
pub(crate) struct StepRecord {
    /// The task's internal id (`tasks.id`).
    pub task_id: String,
    pub step_key: String,
    pub kind: &'static str,
    pub result: Value,
    pub usage: Option<UsageRow>,
}

/// One entry of the hub's queue to the writer, in emission order.
pub(crate) enum Outgoing {
    Event(Queued),
    /// Stored with the events queued before it (the step's own events come right before it).
    Step {
        step: Box<StepRecord>,
        done: oneshot::Sender<Result<()>>,
    },
    /// Answered once everything queued before it is stored.
    Barrier(oneshot::Sender<()>),
}

/// An event waiting for the writer: its position and approximate size (measured once).
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    pub pos: StreamPos,
    pub event: TaskEvent,
    pub bytes: usize,
}

/// What one commit stores, shared with each retry.
#[derive(Default)]
struct Rows {
    events: Vec<Queued>,
    steps: Vec<StepRecord>,
}

pub(crate) async fn persist_loop(store: Store, hub: Weak<EventHub>, wake: Arc<Notify>) {
    loop {
        let batch = match hub.upgrade() {
            Some(h) => h.take_batch(),
            None => return,
        };
        if batch.is_empty() {
            wake.notified().await;
            continue;
        }
        let mut rows = Rows::default();
        let mut step_waiters = Vec::new();
        let mut barriers = Vec::new();
        sort_into(batch, &mut rows, &mut step_waiters, &mut barriers);
        let mut rows = Arc::new(rows);
        let mut attempt = 0u32;
        let mut backoff = BACKOFF_FIRST;
        loop {
            let r = rows.clone();
            let Err(e) = store.write(move |tx| write_rows(tx, &r)).await else {
                break;
            };
            attempt += 1;
            match hub.upgrade() {
                Some(h) => h.set_failing(true),
                None => return,
            }
            if attempt == 1 || attempt.is_multiple_of(30) {
                tracing::error!(error = %e, attempt, events = rows.events.len(),
                    "could not store task events; keeping them and retrying");
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
            // What was queued meanwhile joins the retry, after what came before it, so runs waiting
            // on later steps hear of the failure too and everything is stored at once when it works.
            let Some(h) = hub.upgrade() else { return };
            let mut owned = Arc::try_unwrap(rows).unwrap_or_else(|shared| Rows {
                events: shared.events.clone(),
                steps: shared.steps.clone(),
            });
            sort_into(h.take_batch(), &mut owned, &mut step_waiters, &mut barriers);
            rows = Arc::new(owned);
            if attempt >= TELL_WAITERS_AFTER || matches!(e, ShannonError::StorageFull(_)) {
                for w in step_waiters.drain(..) {
                    let _ = w.send(Err(e.clone()));
                }
            }
        }
        if attempt > 0 {
            tracing::info!(
                attempt,
                "stored the task events that were waiting for the database"
            );
        }
        if let Some(h) = hub.upgrade() {
            // The retry closure is done with them: the events move into the rings, uncopied.
            let events = match Arc::try_unwrap(rows) {
                Ok(rows) => rows.events,
                Err(shared) => shared.events.clone(),
            };
            h.committed(events);
        }
        for w in step_waiters {
            let _ = w.send(Ok(()));
        }
        for w in barriers {
            let _ = w.send(());
        }
    }
}

fn sort_into(
    batch: Vec<Outgoing>,
    rows: &mut Rows,
    step_waiters: &mut Vec<oneshot::Sender<Result<()>>>,
    barriers: &mut Vec<oneshot::Sender<()>>,
) {
    for item in batch {
        match item {
            Outgoing::Event(queued) => rows.events.push(queued),
            Outgoing::Step { step, done } => {
                rows.steps.push(*step);
                step_waiters.push(done);
            }
            Outgoing::Barrier(w) => barriers.push(w),
        }
    }
}

fn write_rows(tx: &rusqlite::Transaction<'_>, rows: &Rows) -> Result<()> {
    let (transient, stored): (Vec<&Queued>, Vec<&Queued>) =
        rows.events.iter().partition(|q| q.event.is_transient());
    insert_events(tx, stored.iter().map(|q| &q.event))?;
    let transient: Vec<(StreamPos, &TaskEvent)> =
        transient.iter().map(|q| (q.pos, &q.event)).collect();
    insert_transient(tx, &transient)?;
    for e in stored
        .iter()
        .map(|q| &q.event)
        .filter(|e| e.is(EventType::LlmOutput))
    {
        compact_deltas(
            tx,
            &e.workflow_id,
            e.agent_id.as_deref().unwrap_or(""),
            e.seq,
        )?;
    }
    rows.steps.iter().try_for_each(|s| insert_step(tx, s))
}

/// The kind of a step that replaces its earlier record (a remote stream's cursor, stored with the
/// events it covers); every other step is written once.
pub(crate) const CURSOR_KIND: &str = "remote_cursor";

fn insert_step(tx: &rusqlite::Transaction<'_>, s: &StepRecord) -> Result<()> {
    let now = time::now();
    let write = if s.kind == CURSOR_KIND {
        store::steps::replace
    } else {
        store::steps::insert
    };
    write(
        tx,
        &s.task_id,
        &s.step_key,
        s.kind,
        &s.result.to_string(),
        &now,
    )?;
    if let Some(u) = &s.usage {
        insert_usage(tx, &s.task_id, &s.step_key, u)?;
    }
    Ok(())
}

/// Stores one model call's token usage under its step key (unique: a step never counts twice).
pub(crate) fn insert_usage(
    tx: &rusqlite::Transaction<'_>,
    task_id: &str,
    step_key: &str,
    u: &UsageRow,
) -> Result<()> {
    store::steps::insert_usage(tx, task_id, step_key, u, &time::now())
}
