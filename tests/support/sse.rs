//! A streaming SSE client for the pipeline tests: reads `GET /api/v1/stream/sse` frame by frame,
//! recording each complete frame (id, event name, data) as it arrives so a test that kills the
//! server mid-stream knows exactly what the client saw; plus the mapping of a frame back to the
//! stored row it shows (seq, type, message), and reads of `task_events` with rusqlite.
//!
//! Include it with `#[path = "support/sse.rs"] mod sse;` (it uses `serve::TOKEN`, so include
//! `support/serve.rs` as `mod serve;` too).
#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

use crate::serve::TOKEN;

/// One dispatched SSE frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

/// How a stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Received `done` (STREAM_END).
    Done,
    /// The body ended cleanly without `done`.
    Closed,
    /// The connection failed (e.g. the server was killed).
    Error(String),
    /// The time limit passed first.
    Timeout,
    /// The request was answered with this status (not 200).
    Status(u16, String),
}

/// Parses one SSE block (the text between blank lines); comments-only blocks give `None`.
pub fn parse_block(block: &str) -> Option<Frame> {
    let mut event = String::from("message");
    let mut id = None;
    let mut data: Vec<&str> = Vec::new();
    for line in block.lines() {
        let field = |name: &str| {
            line.strip_prefix(name)
                .map(|v| v.strip_prefix(' ').unwrap_or(v))
        };
        if let Some(v) = field("event:") {
            event = v.to_string();
        } else if let Some(v) = field("id:") {
            id = Some(v.to_string());
        } else if let Some(v) = field("data:") {
            data.push(v);
        }
    }
    (!data.is_empty()).then(|| Frame {
        id,
        event,
        data: data.join("\n"),
    })
}

/// Streams a task's SSE into `sink` (frame by frame, as they are dispatched) until `done`, the end
/// of the body, an error, or `limit`.
pub async fn read_sse(
    client: &reqwest::Client,
    base: &str,
    workflow_id: &str,
    last_event_id: Option<&str>,
    limit: Duration,
    sink: Arc<Mutex<Vec<Frame>>>,
) -> End {
    let run = async {
        let mut req = client
            .get(format!(
                "{base}/api/v1/stream/sse?workflow_id={workflow_id}"
            ))
            .bearer_auth(TOKEN);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return End::Error(format!("connect: {e}")),
        };
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            return End::Status(status, resp.text().await.unwrap_or_default());
        }
        let mut body = resp.bytes_stream();
        let mut buf: Vec<u8> = Vec::new();
        loop {
            match body.next().await {
                None => return End::Closed,
                Some(Err(e)) => return End::Error(e.to_string()),
                Some(Ok(chunk)) => {
                    buf.extend_from_slice(&chunk);
                    // Dispatch every complete block (terminated by a blank line).
                    while let Some(at) = find_blank_line(&buf) {
                        let block = String::from_utf8_lossy(&buf[..at.0]).replace("\r\n", "\n");
                        buf.drain(..at.1);
                        if let Some(f) = parse_block(&block) {
                            let done = f.event == "done";
                            sink.lock().unwrap().push(f);
                            if done {
                                return End::Done;
                            }
                        }
                    }
                }
            }
        }
    };
    tokio::time::timeout(limit, run)
        .await
        .unwrap_or(End::Timeout)
}

/// (end of block, start of the next) for the first `\n\n` or `\r\n\r\n`.
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// What a frame shows of a stored event: (seq, type, message); `None` for deltas (`<seq>-<n>`) and
/// frames without an id. The message is `None` where the frame does not carry it (`done`).
pub fn stored_view(f: &Frame) -> Option<(u32, String, Option<String>)> {
    let id = f.id.as_deref()?;
    if id.contains('-') {
        return None;
    }
    let seq: u32 = id.parse().ok()?;
    let data: Value = serde_json::from_str(&f.data).unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().map(str::to_string);
    let (kind, message) = match f.event.as_str() {
        "done" => ("STREAM_END".to_string(), None),
        "thread.message.completed" => ("LLM_OUTPUT".to_string(), text(&data["response"])),
        "error" => ("ERROR_OCCURRED".to_string(), text(&data["message"])),
        name if name.starts_with("workflow.") => (
            name.trim_start_matches("workflow.").to_uppercase(),
            text(&data["message"]),
        ),
        name => (
            data["type"].as_str().unwrap_or(name).to_string(),
            text(&data["message"]),
        ),
    };
    let kind = match kind.as_str() {
        "PAUSING" | "PAUSED" | "RESUMED" | "CANCELLING" | "CANCELLED" => format!("WORKFLOW_{kind}"),
        _ => kind,
    };
    Some((seq, kind, message))
}

/// A stored event row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub seq: u32,
    pub kind: String,
    pub message: Option<String>,
}

/// Opens the data dir's database read-only.
pub fn open_read_only(data: &Path) -> Connection {
    let path = data.join(tauri_plugin_shannon::core::store::DATABASE_FILE);
    let db = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap_or_else(|e| panic!("open {} read-only: {e}", path.display()));
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    db
}

/// A task's stored events in seq order.
pub fn stored_rows(db: &Connection, workflow_id: &str) -> Vec<Row> {
    db.prepare_cached(
        "SELECT seq, type, message FROM task_events WHERE workflow_id = ?1 ORDER BY seq",
    )
    .unwrap()
    .query_map([workflow_id], |r| {
        Ok(Row {
            seq: r.get(0)?,
            kind: r.get(1)?,
            message: r.get(2)?,
        })
    })
    .unwrap()
    .collect::<Result<Vec<_>, _>>()
    .unwrap()
}

/// A task's status column (unprefixed: COMPLETED, RUNNING…).
pub fn stored_status(db: &Connection, workflow_id: &str) -> Option<String> {
    db.query_row(
        "SELECT status FROM tasks WHERE workflow_id = ?1",
        [workflow_id],
        |r| r.get(0),
    )
    .ok()
}

pub fn integrity(db: &Connection) -> String {
    db.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// Checks every stored-event frame against the rows: the seq exists with the same type and message.
/// Returns the number of frames verified, or the first mismatch.
pub fn verify_frames(rows: &[Row], frames: &[Frame]) -> Result<usize, String> {
    let mut n = 0;
    for f in frames {
        let Some((seq, kind, message)) = stored_view(f) else {
            continue;
        };
        let Some(row) = rows.iter().find(|r| r.seq == seq) else {
            return Err(format!(
                "a client saw id {seq} ({kind}) which is not stored (stored seqs 1..={})",
                rows.len()
            ));
        };
        if row.kind != kind || (message.is_some() && message != row.message) {
            return Err(format!(
                "id {seq}: the client saw {kind} {message:?}, stored is {} {:?}",
                row.kind, row.message
            ));
        }
        n += 1;
    }
    Ok(n)
}

/// Checks every delta frame (`thread.message.delta`, id `<seq>-<n>`) against the stored transient
/// events: the same id with the same text. Returns the number verified, or the first mismatch.
pub fn verify_deltas(
    db: &Connection,
    workflow_id: &str,
    frames: &[Frame],
) -> Result<usize, String> {
    use tauri_plugin_shannon::core::streams::{StreamPos, read_stream};
    let stored =
        read_stream(db, workflow_id, StreamPos::START, u32::MAX).map_err(|e| e.to_string())?;
    let mut n = 0;
    for f in frames.iter().filter(|f| f.event == "thread.message.delta") {
        let id = f.id.as_deref().unwrap_or_default();
        let data: Value = serde_json::from_str(&f.data).unwrap_or(Value::Null);
        let delta = data["delta"].as_str().unwrap_or_default();
        let Some(e) = stored.iter().find(|e| e.stream_id.as_deref() == Some(id)) else {
            return Err(format!("a client saw delta {id} which is not stored"));
        };
        if e.message.as_deref() != Some(delta) {
            return Err(format!(
                "delta {id}: the client saw {delta:?}, stored is {:?}",
                e.message
            ));
        }
        n += 1;
    }
    Ok(n)
}

/// Whether the rows' seqs are exactly 1..=N.
pub fn contiguous(rows: &[Row]) -> bool {
    rows.iter()
        .enumerate()
        .all(|(i, r)| r.seq as usize == i + 1)
}
