//! `GET /api/v1/stream/sse?workflow_id=&types=&last_event_id=` as the orchestrator serves it:
//! `: connected to workflow <wf>`, `id:`/`event:`/`data:` frames with the cloud's renames, `: ping`,
//! replay from the (trimmed) ring, `done` on STREAM_END, a linger close after the end otherwise,
//! and the injected stream resets.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::{Instant, interval_at, sleep_until};

use super::Cloud;
use super::auth::error;
use super::events::{CloudEvent, Resume, Subscription, parse_stream_id};
use super::faults::Fault;

type Chunk = Result<Bytes, std::io::Error>;

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || ":_-.".contains(c))
}

/// Takes one connection's worth of a pending [`Fault::ResetStreamAfter`].
fn take_reset(c: &Cloud) -> Option<u32> {
    let mut st = c.state.lock().unwrap();
    let at = st
        .faults
        .iter()
        .position(|f| matches!(f, Fault::ResetStreamAfter { .. }))?;
    let Fault::ResetStreamAfter {
        events,
        connections,
    } = st.faults[at].clone()
    else {
        unreachable!()
    };
    let left = connections.unwrap_or(1).saturating_sub(1);
    if left == 0 {
        st.faults.remove(at);
    } else {
        st.faults[at] = Fault::ResetStreamAfter {
            events,
            connections: Some(left),
        };
    }
    Some(events)
}

pub async fn stream(
    State(c): State<Arc<Cloud>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(wf) = q.get("workflow_id").filter(|w| valid_id(w)).cloned() else {
        return error(StatusCode::BAD_REQUEST, "Invalid or missing workflow_id");
    };
    // The Last-Event-ID header wins over the query; `<ms>-<n>` is a stream id, digits a seq.
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| q.get("last_event_id").cloned())
        .filter(|s| !s.is_empty());
    let resume = match last.as_deref() {
        None => Resume::All,
        Some(s) => match (parse_stream_id(s), s.parse::<u64>()) {
            (Some(id), _) => Resume::AfterStreamId(id),
            (None, Ok(n)) => Resume::AfterSeq(n),
            _ => return error(StatusCode::BAD_REQUEST, "Invalid last_event_id"),
        },
    };
    let types: Option<HashSet<String>> = q
        .get("types")
        .filter(|t| !t.is_empty())
        .map(|t| t.split(',').map(|s| s.trim().to_string()).collect());
    let sub = {
        let mut st = c.state.lock().unwrap();
        st.tasks.contains_key(&wf).then(|| {
            let s = st.streams.entry(wf.clone()).or_default();
            s.subscribe(&resume, c.cfg.subscriber_buffer)
        })
    };
    let reset_after = take_reset(&c);
    let (tx, rx) = mpsc::channel::<Chunk>(64);
    tokio::spawn(write(c.clone(), wf, sub, types, reset_after, tx));
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(
        "Content-Type",
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert("Cache-Control", HeaderValue::from_static("no-cache"));
    h.insert("Connection", HeaderValue::from_static("keep-alive"));
    h.insert("X-Accel-Buffering", HeaderValue::from_static("no"));
    r
}

enum Next {
    Go,
    Close,
}

struct Writer {
    tx: mpsc::Sender<Chunk>,
    types: Option<HashSet<String>>,
    frames: u32,
    reset_after: Option<u32>,
    linger_until: Option<Instant>,
    linger: std::time::Duration,
}

impl Writer {
    async fn send(&self, text: String) -> Next {
        if self.tx.send(Ok(Bytes::from(text))).await.is_err() {
            Next::Close
        } else {
            Next::Go
        }
    }

    async fn event(&mut self, e: &CloudEvent) -> Next {
        let wanted = self
            .types
            .as_ref()
            .is_none_or(|t| t.contains(&e.event_type));
        if wanted {
            let (name, data) = e.sse_name_and_data();
            let frame = format!("id: {}\nevent: {name}\ndata: {data}\n\n", e.stream_id);
            if let Next::Close = self.send(frame).await {
                return Next::Close;
            }
            self.frames += 1;
            if self.reset_after.is_some_and(|n| self.frames >= n) {
                // An aborted chunked body: the client sees the connection reset mid-stream. The
                // pause lets the last frame leave first (an abort drops what is still buffered).
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                let _ = self
                    .tx
                    .send(Err(std::io::Error::other("injected reset")))
                    .await;
                return Next::Close;
            }
        }
        match e.event_type.as_str() {
            // A filter that excludes STREAM_END still ends the stream, without sending it.
            "STREAM_END" => Next::Close,
            "WORKFLOW_COMPLETED" => {
                self.linger_until = Some(Instant::now() + self.linger);
                Next::Go
            }
            _ => {
                if self.linger_until.is_some() {
                    self.linger_until = Some(Instant::now() + self.linger);
                }
                Next::Go
            }
        }
    }
}

async fn write(
    c: Arc<Cloud>,
    wf: String,
    sub: Option<Subscription>,
    types: Option<HashSet<String>>,
    reset_after: Option<u32>,
    tx: mpsc::Sender<Chunk>,
) {
    let mut w = Writer {
        tx,
        types,
        frames: 0,
        reset_after,
        linger_until: None,
        linger: c.cfg.linger_after_end,
    };
    if let Next::Close = w.send(format!(": connected to workflow {wf}\n\n")).await {
        return;
    }
    let Some(Subscription {
        replay,
        mut live,
        mut ended,
    }) = sub
    else {
        // The cloud waits 30 s for a first event, then asks Temporal; the fake knows at once.
        let data =
            json!({"workflow_id": wf, "type": "ERROR_OCCURRED", "message": "Workflow not found"});
        let _ = w
            .send(format!("event: ERROR_OCCURRED\ndata: {data}\n\n"))
            .await;
        return;
    };
    for e in &replay {
        if let Next::Close = w.event(e).await {
            return;
        }
    }
    let mut kill = c.kill_streams.subscribe();
    let ping = c.cfg.ping_interval;
    let mut pings = interval_at(Instant::now() + ping, ping);
    loop {
        if *ended.borrow_and_update() && w.linger_until.is_none() {
            w.linger_until = Some(Instant::now() + w.linger);
        }
        let linger = w.linger_until;
        tokio::select! {
            e = live.recv() => match e {
                Some(e) => if let Next::Close = w.event(&e).await { return },
                None => return,
            },
            _ = pings.tick() => if let Next::Close = w.send(": ping\n\n".into()).await { return },
            _ = ended.changed() => {}
            _ = sleep_until(linger.unwrap_or_else(Instant::now)), if linger.is_some() => return,
            _ = kill.changed() => {
                let _ = w.tx.send(Err(std::io::Error::other("server stopped"))).await;
                return;
            }
        }
    }
}
