//! The pump: mirrors one cloud workflow's stream into the local event hub
//! (docs/guides/remote-mode.md).
//!
//! Subscribe (after the last cloud stream id taken) → map names → drop frames at or before the
//! cursor → on a seq jump back-fill the stored events from `GET /tasks/{id}/events` → store the
//! batch and the cursor in one transaction → when the stream closes without `done`, or after
//! [`IDLE`] without a byte, poll `GET /tasks/{id}`: a terminal status ends the local task, else
//! reconnect with backoff. Subscribers see one contiguous local stream throughout.

use std::collections::HashSet;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::{FutureExt, StreamExt};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::client::CloudClient;
use super::wire::{self, CloudStatus, Frame, Mapped, stream_pos};
use crate::core::Core;
use crate::core::error::{Result, ShannonError};
use crate::core::llm::Usage;
use crate::core::run::lifecycle::{self, EventType, Outcome, TaskEnd, TaskStatus};
use crate::core::store;
use crate::core::streams::{CURSOR_KIND, NewEvent, StepRecord, UsageRow};
use crate::core::time;

/// A stream silent this long (the cloud pings every 10 s) is treated as lost.
pub const IDLE: Duration = Duration::from_secs(60);
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(15);
/// 429s a back-fill waits out before it gives up (and the pump reconnects later).
const RATE_LIMIT_WAITS: u32 = 5;
/// Page size of a back-fill (the cloud's maximum).
const PAGE: usize = 200;
/// The journal key of the cursor.
pub(crate) const CURSOR_KEY: &str = "remote/cursor";
/// The step key of the usage the cloud reports for the whole task.
const USAGE_KEY: &str = "remote/usage";

/// How far the mirror has read, stored with the events it covers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cursor {
    /// The last cloud stream id taken.
    pub stream_id: Option<String>,
    /// The last cloud seq taken.
    pub seq: u64,
    /// Stream ids taken after `seq` whose frames carried no seq (renamed control frames): each
    /// used one seq, so they explain a jump, and a back-fill skips them.
    pub unnumbered: Vec<String>,
}

impl Cursor {
    fn is_after(&self, id: Option<&str>) -> bool {
        match (
            id.and_then(stream_pos),
            self.stream_id.as_deref().and_then(stream_pos),
        ) {
            (Some(new), Some(last)) => new > last,
            _ => true,
        }
    }

    fn take(&mut self, f: &Frame) {
        if let Some(id) = &f.stream_id {
            self.stream_id = Some(id.clone());
        }
        match f.seq {
            Some(s) => {
                self.seq = self.seq.max(s);
                self.unnumbered.clear();
            }
            None => {
                if let Some(id) = &f.stream_id {
                    self.unnumbered.push(id.clone());
                }
            }
        }
    }

    /// Seqs missing before `seq`, once the unnumbered frames are counted.
    fn gap_before(&self, seq: u64) -> bool {
        seq > self.seq + 1 + self.unnumbered.len() as u64
    }
}

/// One mirrored task.
#[derive(Clone)]
pub(crate) struct PumpTask {
    pub task_id: String,
    pub workflow_id: String,
    pub user_id: String,
    pub remote_workflow_id: String,
}

enum Read {
    /// The cloud said `done` or a terminal event: settle from its status.
    Ended,
    /// The stream closed, failed or went silent.
    Lost(Option<ShannonError>),
    Stopped,
}

/// Runs until the task ends locally or the pump is cancelled (app exit, remote mode off).
pub(crate) async fn run(core: Core, cloud: CloudClient, task: PumpTask, stop: CancellationToken) {
    let mut cursor = load_cursor(&core, &task.task_id).await;
    // The first reconnect after a read that made progress is immediate (the cloud's ring is
    // short); repeated failures back off.
    let mut backoff = Duration::ZERO;
    let mut warned = false;
    loop {
        let before = cursor.clone();
        let read = tokio::select! {
            r = follow(&core, &cloud, &task, &mut cursor) => r,
            _ = stop.cancelled() => Read::Stopped,
        };
        let mut failure = match read {
            Read::Stopped => break,
            Read::Ended => None,
            Read::Lost(e) => e,
        };
        if cursor != before {
            backoff = Duration::ZERO;
            warned = false;
        }
        // The stream is over: the cloud's status says whether the task is.
        match settle_if_ended(&core, &cloud, &task).await {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => failure = Some(e),
        }
        let mut wait = backoff;
        if let Some(e) = &failure {
            if !warned {
                warned = true;
                warn(&core, &task, &cloud, e);
            }
            wait = super::client::wait_hint(e).unwrap_or(wait);
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.cancelled() => break,
        }
        backoff = if backoff.is_zero() {
            BACKOFF_FIRST
        } else {
            (backoff * 2).min(BACKOFF_MAX)
        };
    }
    core.remote().end_pump(&task.workflow_id);
}

/// A WARNING on the local stream: the connection to the cloud was lost (once per outage).
fn warn(core: &Core, task: &PumpTask, cloud: &CloudClient, e: &ShannonError) {
    tracing::info!(workflow_id = %task.workflow_id, host = cloud.host(), error = %e, "lost the Shannon cloud stream");
    core.engine().hub.emit(
        &task.workflow_id,
        EventType::Warning,
        Some("remote"),
        Some(format!(
            "Connection to Shannon cloud ({}) lost; the answer continues when it is back. {e}",
            cloud.host()
        )),
        Some(json!({"reason": "remote_connection_lost", "unsourced": false})),
    );
}

/// Reads one connection of the stream, storing what it brings. One commit stays in flight while
/// the next frames arrive; they are gathered into the next commit once it is stored, so a fast
/// stream costs one commit per batch, not per event.
async fn follow(core: &Core, cloud: &CloudClient, task: &PumpTask, cursor: &mut Cursor) -> Read {
    let resp = match cloud
        .open_stream(core, &task.remote_workflow_id, cursor.stream_id.as_deref())
        .await
    {
        Ok(r) => r,
        Err(e) => return Read::Lost(Some(e)),
    };
    let mut frames = resp.bytes_stream().eventsource();
    let mut mirror = Mirror::default();
    let read = loop {
        let first = match tokio::time::timeout(IDLE, frames.next()).await {
            Err(_) => break Read::Lost(Some(cloud.unreachable("its stream went silent"))),
            Ok(None) => break Read::Lost(None),
            Ok(Some(Err(e))) => {
                break Read::Lost(Some(cloud.unreachable(format!("its stream broke: {e}"))));
            }
            Ok(Some(Ok(ev))) => ev,
        };
        let mut batch = vec![first];
        // What arrived while the previous commit was being stored joins this one.
        if let Err(e) = mirror.stored().await {
            break Read::Lost(Some(e));
        }
        // After the batch: `Some(None)` the stream closed, `Some(Some(e))` it broke.
        let mut after: Option<Option<ShannonError>> = None;
        while let Some(next) = frames.next().now_or_never() {
            match next {
                Some(Ok(ev)) => batch.push(ev),
                Some(Err(e)) => {
                    after = Some(Some(cloud.unreachable(format!("its stream broke: {e}"))));
                    break;
                }
                None => {
                    after = Some(None);
                    break;
                }
            }
        }
        let mapped: Vec<Frame> = batch
            .iter()
            .filter(|e| !e.event.is_empty() || !e.data.is_empty())
            .map(|e| {
                let name = if e.event.is_empty() {
                    "message"
                } else {
                    &e.event
                };
                wire::map_frame(name, &e.data, Some(e.id.as_str()))
            })
            .collect();
        let ended = match take(core, cloud, task, cursor, mapped).await {
            Ok(Some((events, next, ended))) => {
                if let Err(e) = mirror.queue(core, task, events, &next).await {
                    break Read::Lost(Some(e));
                }
                *cursor = next;
                ended
            }
            Ok(None) => false,
            Err(e) => break Read::Lost(Some(e)),
        };
        if ended {
            break Read::Ended;
        }
        if let Some(end) = after {
            break Read::Lost(end);
        }
    };
    // Whatever happens next (a reconnect, the end) starts from what is stored.
    match mirror.stored().await {
        Ok(()) => read,
        Err(e) => Read::Lost(Some(e)),
    }
}

/// The pump's writes: the commit in flight, and when the task's sync time was last written.
#[derive(Default)]
struct Mirror {
    inflight: Option<std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send>>>,
    touched: Option<std::time::Instant>,
}

/// How often a mirrored task's `last_sync_at` is written (reads show the time of the last sync).
const TOUCH_EVERY: Duration = Duration::from_secs(2);

impl Mirror {
    /// Waits for the commit in flight.
    async fn stored(&mut self) -> Result<()> {
        match self.inflight.take() {
            Some(commit) => commit.await,
            None => Ok(()),
        }
    }

    /// Queues the events with the cursor (one transaction, after the one in flight). A pause or
    /// resume among them is mirrored into the local status once they are stored.
    async fn queue(
        &mut self,
        core: &Core,
        task: &PumpTask,
        events: Vec<NewEvent>,
        cursor: &Cursor,
    ) -> Result<()> {
        let paused = events.iter().rev().find_map(|e| match e.event_type {
            EventType::WorkflowPaused => Some(true),
            EventType::WorkflowResumed => Some(false),
            _ => None,
        });
        let step = StepRecord {
            task_id: task.task_id.clone(),
            step_key: CURSOR_KEY.into(),
            kind: CURSOR_KIND,
            result: serde_json::to_value(cursor)?,
            usage: None,
        };
        self.inflight = Some(Box::pin(core.engine().hub.queue_step(
            &task.workflow_id,
            events,
            step,
        )));
        let touch = self.touched.is_none_or(|t| t.elapsed() >= TOUCH_EVERY);
        if paused.is_none() && !touch {
            return Ok(());
        }
        self.stored().await?;
        self.touched = Some(std::time::Instant::now());
        mirror_state(core, task, paused).await
    }
}

/// Dedupes and back-fills a batch of frames: the events to store, the cursor after them, and
/// whether the cloud said the task ended (`None`: nothing new).
async fn take(
    core: &Core,
    cloud: &CloudClient,
    task: &PumpTask,
    cursor: &Cursor,
    frames: Vec<Frame>,
) -> Result<Option<(Vec<NewEvent>, Cursor, bool)>> {
    let mut out: Vec<NewEvent> = Vec::new();
    let mut ended = false;
    let mut next = cursor.clone();
    for f in frames {
        // Dedupe by the stream id, which orders every frame; by the seq only without one (a
        // listener's deltas share the seq of the event before them).
        match f.stream_id.as_deref().and_then(stream_pos) {
            Some(_) if !next.is_after(f.stream_id.as_deref()) => continue,
            None if f.seq.is_some_and(|s| s <= next.seq) => continue,
            _ => {}
        }
        if let Some(seq) = f.seq.filter(|&s| next.gap_before(s)) {
            let filled = backfill(core, cloud, task, &next, seq).await?;
            let lost_deltas =
                seq - next.seq - 1 - next.unnumbered.len() as u64 > filled.len() as u64;
            for g in filled {
                ended |= push(&mut out, g.event.clone());
                next.take(&g);
            }
            if lost_deltas {
                out.push(NewEvent {
                    event_type: EventType::Warning,
                    agent_id: Some("remote".into()),
                    message: Some(format!(
                        "Shannon cloud ({}) dropped part of the stream; stored events were recovered, streamed text in the gap was not (the cloud keeps no deltas).",
                        cloud.host()
                    )),
                    payload: Some(json!({"reason": "remote_deltas_lost", "unsourced": false})),
                });
            }
        }
        next.take(&f);
        ended |= push(&mut out, f.event);
    }
    if out.is_empty() && next == *cursor {
        return Ok(ended.then(|| (Vec::new(), next, true)));
    }
    Ok(Some((out, next, ended)))
}

/// Adds a mapped frame's event. The cloud's own end events are not mirrored: the local end
/// ([`lifecycle::finish`]) writes them once, with the status the cloud reports. Returns whether
/// the frame announced the end.
fn push(out: &mut Vec<NewEvent>, m: Mapped) -> bool {
    match m {
        Mapped::Done => true,
        Mapped::Unknown(t) => {
            tracing::debug!(event = %t, "a remote event of a type this build does not know");
            false
        }
        Mapped::Event(e) => match e.event_type {
            EventType::WorkflowCompleted
            | EventType::WorkflowCancelled
            | EventType::WorkflowFailed
            | EventType::StreamEnd => true,
            _ => {
                out.push(e);
                false
            }
        },
    }
}

/// The stored cloud events between the cursor and `before` (exclusive), oldest first, except
/// those already taken.
async fn backfill(
    core: &Core,
    cloud: &CloudClient,
    task: &PumpTask,
    cursor: &Cursor,
    before: u64,
) -> Result<Vec<Frame>> {
    let taken: HashSet<&str> = cursor.unnumbered.iter().map(String::as_str).collect();
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let path = format!(
            "/api/v1/tasks/{}/events?limit={PAGE}&offset={offset}",
            super::client::urlenc(&task.remote_workflow_id)
        );
        // A limited route: a 429 is waited out (its Retry-After), never hammered.
        let mut limited = 0;
        let page = loop {
            match cloud.json(core, Method::GET, &path, None, &[]).await {
                Ok(Ok((v, _))) => break v,
                Ok(Err(r)) => return Err(cloud.refused("list the task's events", r)),
                Err(e) if limited < RATE_LIMIT_WAITS => {
                    let Some(wait) = super::client::wait_hint(&e) else {
                        return Err(e);
                    };
                    limited += 1;
                    tracing::debug!(wait_s = wait.as_secs(), "back-fill rate limited; waiting");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        };
        let rows = page
            .get("events")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let n = rows.len();
        for row in &rows {
            let f = wire::map_stored(row);
            let Some(seq) = f.seq else { continue };
            if seq > cursor.seq
                && seq < before
                && !f.stream_id.as_deref().is_some_and(|id| taken.contains(id))
            {
                out.push(f);
            }
        }
        let past = rows
            .last()
            .and_then(|r| r.get("seq"))
            .and_then(Value::as_u64)
            .is_some_and(|s| s >= before);
        if n < PAGE || past {
            break;
        }
        offset += n;
    }
    out.sort_by_key(|f| f.seq);
    Ok(out)
}

/// Writes the mirror's sync time, and a pause or resume the cloud reported into the local status.
async fn mirror_state(core: &Core, task: &PumpTask, paused: Option<bool>) -> Result<()> {
    let (wf, id) = (task.workflow_id.clone(), task.task_id.clone());
    core.store()
        .write(move |tx| {
            let now = time::now();
            store::remote::touch_task(tx, &id, &now)?;
            let (from, to) = match paused {
                Some(true) => (TaskStatus::Running, TaskStatus::Paused),
                Some(false) => (TaskStatus::Paused, TaskStatus::Running),
                None => return Ok(()),
            };
            lifecycle::move_status(tx, &wf, &[from], to, &now)?;
            Ok(())
        })
        .await?;
    if let Some(p) = paused {
        let status = if p {
            TaskStatus::Paused
        } else {
            TaskStatus::Running
        };
        core.notify_task_status(&task.user_id, &task.workflow_id, status);
    }
    Ok(())
}

async fn load_cursor(core: &Core, task_id: &str) -> Cursor {
    let id = task_id.to_string();
    core.store()
        .read(move |c| {
            Ok(store::steps::list_for_task(c, &id)?
                .into_iter()
                .find(|s| s.step_key == CURSOR_KEY)
                .and_then(|s| serde_json::from_str(&s.result).ok())
                .unwrap_or_default())
        })
        .await
        .unwrap_or_default()
}

/// The cloud task's status.
pub(crate) async fn cloud_status(
    core: &Core,
    cloud: &CloudClient,
    remote_workflow_id: &str,
) -> Result<std::result::Result<CloudStatus, super::client::Refused>> {
    let path = format!(
        "/api/v1/tasks/{}",
        super::client::urlenc(remote_workflow_id)
    );
    Ok(cloud
        .json(core, Method::GET, &path, None, &[])
        .await?
        .map(|(v, _)| wire::parse_status(&v)))
}

/// Ends the local task when the cloud's status is terminal; returns whether it ended.
async fn settle_if_ended(core: &Core, cloud: &CloudClient, task: &PumpTask) -> Result<bool> {
    let status = match cloud_status(core, cloud, &task.remote_workflow_id).await? {
        Ok(s) => s,
        Err(r) if r.status == reqwest::StatusCode::NOT_FOUND => CloudStatus {
            status: Some(TaskStatus::Failed),
            error: Some(format!(
                "Shannon cloud ({}) no longer knows this task",
                cloud.host()
            )),
            ..Default::default()
        },
        Err(r) => return Err(cloud.refused("report the task's status", r)),
    };
    let Some(st) = status.status.filter(|s| s.is_terminal()) else {
        return Ok(false);
    };
    end_locally(core, task, st, status).await?;
    Ok(true)
}

/// Writes the cloud's end: its usage as one usage row, then the local end (terminal row, events,
/// STREAM_END) through the one way a task ends.
pub(crate) async fn end_locally(
    core: &Core,
    task: &PumpTask,
    st: TaskStatus,
    status: CloudStatus,
) -> Result<()> {
    if status.input_tokens + status.output_tokens > 0 {
        let usage = UsageRow {
            agent_id: "remote".into(),
            provider: status.provider.clone().unwrap_or_else(|| "remote".into()),
            model: status.model.clone().unwrap_or_else(|| "remote".into()),
            usage: Usage {
                input_tokens: status.input_tokens,
                output_tokens: status.output_tokens,
                total_tokens: status.input_tokens + status.output_tokens,
                ..Default::default()
            },
            cost_usd: status.cost_usd,
        };
        let id = task.task_id.clone();
        // Once: a restart between this and the end finds the row already there.
        core.store()
            .write(move |tx| {
                if !store::steps::has_usage(tx, &id, USAGE_KEY)? {
                    crate::core::streams::insert_usage(tx, &id, USAGE_KEY, &usage)?;
                }
                Ok(())
            })
            .await?;
    }
    let outcome = match st {
        TaskStatus::Completed => Outcome::Completed {
            answer: status.result,
        },
        TaskStatus::Cancelled => Outcome::Cancelled {
            checkpoint: "remote".into(),
            was_paused: None,
        },
        TaskStatus::Timeout => Outcome::TimedOut {
            message: status
                .error
                .unwrap_or_else(|| "timed out on the Shannon cloud".into()),
        },
        _ => Outcome::Failed {
            message: status
                .error
                .unwrap_or_else(|| "failed on the Shannon cloud".into()),
        },
    };
    let end = TaskEnd {
        workflow_id: task.workflow_id.clone(),
        user_id: task.user_id.clone(),
        provider: status.provider,
        model: status.model,
        ..Default::default()
    };
    lifecycle::finish(core, &end, outcome).await?;
    Ok(())
}
