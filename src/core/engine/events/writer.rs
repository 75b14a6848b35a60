//! The background writer: stored events and completed steps, batched into few transactions. A step's
//! journal row, its token-usage row and its events always share one transaction, so after a crash
//! either all of them exist or none does.

use std::time::Duration;

use rusqlite::params;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::TaskEvent;
use crate::core::error::Result;
use crate::core::llm::Usage;
use crate::core::store::Store;
use crate::core::time;

const BATCH_MAX: usize = 256;
const BATCH_INTERVAL: Duration = Duration::from_millis(50);

/// What one model call cost, stored once per step (`token_usage` is unique per step key).
#[derive(Debug, Clone)]
pub(crate) struct UsageRow {
    pub agent_id: String,
    pub provider: String,
    pub model: String,
    pub usage: Usage,
    pub cost_usd: f64,
}

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

pub(super) enum PersistMsg {
    Event(TaskEvent),
    Step {
        events: Vec<TaskEvent>,
        step: Box<StepRecord>,
        done: oneshot::Sender<Result<()>>,
    },
    Flush(oneshot::Sender<()>),
}

#[derive(Default)]
struct Batch {
    events: Vec<TaskEvent>,
    steps: Vec<StepRecord>,
    step_waiters: Vec<oneshot::Sender<Result<()>>>,
    flush_waiters: Vec<oneshot::Sender<()>>,
}

impl Batch {
    fn take(&mut self, msg: PersistMsg) {
        match msg {
            PersistMsg::Event(e) => self.events.push(e),
            PersistMsg::Step { events, step, done } => {
                self.events.extend(events);
                self.steps.push(*step);
                self.step_waiters.push(done);
            }
            PersistMsg::Flush(w) => self.flush_waiters.push(w),
        }
    }

    fn is_full(&self) -> bool {
        self.events.len() + self.steps.len() >= BATCH_MAX
    }

    /// A flush or a step waits: commit now rather than at the end of the interval.
    fn is_awaited(&self) -> bool {
        !self.flush_waiters.is_empty() || !self.step_waiters.is_empty()
    }
}

pub(super) async fn persist_loop(store: Store, mut rx: mpsc::UnboundedReceiver<PersistMsg>) {
    while let Some(first) = rx.recv().await {
        let deadline = tokio::time::Instant::now() + BATCH_INTERVAL;
        let mut batch = Batch::default();
        batch.take(first);
        // Gather until the batch is full, someone waits for it, or the interval ends.
        while !batch.is_full() && !batch.is_awaited() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(m)) => batch.take(m),
                Ok(None) | Err(_) => break,
            }
        }
        let Batch {
            events,
            steps,
            step_waiters,
            flush_waiters,
        } = batch;
        let result = if events.is_empty() && steps.is_empty() {
            Ok(())
        } else {
            let n = events.len();
            let r = store
                .write(move |tx| {
                    insert_events(tx, &events)?;
                    steps.iter().try_for_each(|s| insert_step(tx, s))
                })
                .await;
            if let Err(e) = &r {
                tracing::error!(error = %e, events = n, "could not store task events");
            }
            r
        };
        for w in step_waiters {
            let _ = w.send(result.clone());
        }
        for w in flush_waiters {
            let _ = w.send(());
        }
    }
}

fn insert_step(tx: &rusqlite::Transaction<'_>, s: &StepRecord) -> Result<()> {
    let now = time::now();
    tx.prepare_cached(
        "INSERT INTO task_steps (task_id, step_key, kind, result, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![s.task_id, s.step_key, s.kind, s.result.to_string(), now])?;
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
    tx.prepare_cached(
        "INSERT INTO token_usage (task_id, step_key, agent_id, provider, model, input_tokens, output_tokens,
            total_tokens, cache_read_tokens, cache_creation_tokens, cost_usd, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        task_id,
        step_key,
        u.agent_id,
        u.provider,
        u.model,
        u.usage.input_tokens as i64,
        u.usage.output_tokens as i64,
        u.usage.total_tokens as i64,
        u.usage.cache_read_tokens as i64,
        u.usage.cache_creation_tokens as i64,
        u.cost_usd,
        time::now()
    ])?;
    Ok(())
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
