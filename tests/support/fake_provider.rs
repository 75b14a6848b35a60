//! A fake LLM provider on 127.0.0.1 that speaks the real wire formats (OpenAI chat-completions SSE
//! and Anthropic Messages SSE) from a queue of scripted replies, records every request, and injects
//! faults (error statuses with Retry-After, malformed chunks, connection resets, slow streams).
//!
//! Include it from a test file with
//! `#[path = "support/fake_provider.rs"] mod fake_provider;`
//!
//! ```ignore
//! let fake = FakeProvider::start().await;
//! fake.push(Scripted::Status(429, Some("1".into())))
//!     .push(Scripted::Stream(Reply::text(["Hel", "lo"]).usage(FakeUsage::new(10, 2))));
//! // base_url() is the server root: POST …/chat/completions answers in OpenAI's format,
//! // POST …/messages (e.g. /v1/messages) in Anthropic's.
//! let url = fake.base_url();
//! assert_eq!(fake.requests().len(), 2);
//! ```
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

/// Which wire format a request asked for (by its path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// `…/chat/completions`
    OpenAi,
    /// `…/messages`
    Anthropic,
}

/// Token counts the fake reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FakeUsage {
    pub input: u64,
    pub output: u64,
    /// OpenAI: `prompt_tokens_details.cached_tokens` (part of `input`).
    /// Anthropic: `cache_read_input_tokens` (apart from `input`, as Anthropic counts them).
    pub cache_read: u64,
    /// Anthropic only: `cache_creation_input_tokens`.
    pub cache_creation: u64,
}

impl FakeUsage {
    pub fn new(input: u64, output: u64) -> Self {
        Self {
            input,
            output,
            ..Self::default()
        }
    }

    pub fn cached(mut self, read: u64, creation: u64) -> Self {
        self.cache_read = read;
        self.cache_creation = creation;
        self
    }
}

/// A tool call the fake streams: id and name first, then the arguments in pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeToolCall {
    pub id: String,
    pub name: String,
    pub argument_pieces: Vec<String>,
}

/// One streamed answer, rendered in whichever wire format the request asked for.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    /// Echoed `model`; default `fake-model`.
    pub model: Option<String>,
    /// Text deltas, one event each.
    pub chunks: Vec<String>,
    pub tool_calls: Vec<FakeToolCall>,
    /// Reported usage (OpenAI: the final `include_usage` chunk; Anthropic: message_start/delta).
    pub usage: Option<FakeUsage>,
    /// Wait before each text or tool-argument event.
    pub delay_per_chunk: Duration,
    /// Default: `stop` / `end_turn`, or `tool_calls` / `tool_use` when there are tool calls.
    pub finish_reason: Option<String>,
}

impl Reply {
    pub fn text<S: Into<String>>(chunks: impl IntoIterator<Item = S>) -> Self {
        Self {
            chunks: chunks.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    pub fn tool_call<S: Into<String>>(
        mut self,
        id: &str,
        name: &str,
        argument_pieces: impl IntoIterator<Item = S>,
    ) -> Self {
        self.tool_calls.push(FakeToolCall {
            id: id.into(),
            name: name.into(),
            argument_pieces: argument_pieces.into_iter().map(Into::into).collect(),
        });
        self
    }

    pub fn usage(mut self, usage: FakeUsage) -> Self {
        self.usage = Some(usage);
        self
    }

    pub fn model(mut self, model: &str) -> Self {
        self.model = Some(model.into());
        self
    }

    pub fn delay(mut self, per_chunk: Duration) -> Self {
        self.delay_per_chunk = per_chunk;
        self
    }

    pub fn finish_reason(mut self, reason: &str) -> Self {
        self.finish_reason = Some(reason.into());
        self
    }
}

/// One scripted answer to one request.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// An error status with a JSON error body in the request's wire format and, if given, a
    /// `Retry-After` header (seconds or an HTTP date).
    Status(u16, Option<String>),
    /// A status with this exact body.
    StatusWithBody(u16, String),
    /// A complete streamed answer.
    Stream(Reply),
    /// A 200 stream: one valid text delta, then a chunk of invalid JSON.
    Malformed,
    /// A 200 stream that sends the reply's events (text and tool calls, no end marker) and then
    /// drops the connection.
    ResetMidStream(Reply),
    /// A 200 stream with the reply's text, then the provider's in-stream error
    /// (Anthropic `event: error`, OpenAI `data: {"error": …}`).
    StreamError(Reply, String),
    /// A streamed answer with `delay` before each chunk (the same as `Stream(reply.delay(delay))`).
    Slow(Reply, Duration),
    /// Waits this long before answering at all (no headers), then plays the inner script.
    Delayed(Duration, Box<Scripted>),
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Lower-case header names.
    pub headers: HashMap<String, String>,
    /// The JSON body (`Null` when it was not JSON).
    pub body: Value,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<Scripted>,
    fallback: Option<Scripted>,
    requests: Vec<RecordedRequest>,
    /// Streamed bodies sent to the end.
    streams_sent: usize,
    /// Replies for requests whose body contains a text, taken before the queue (parallel agents ask
    /// in any order).
    routes: Vec<(String, Scripted)>,
    /// Streams being sent now, and the most at once.
    in_flight: usize,
    max_in_flight: usize,
}

/// The fake server. Stops when dropped.
pub struct FakeProvider {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeProvider {
    /// Binds 127.0.0.1:0 and serves until dropped.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake provider");
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback({
            let state = state.clone();
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { handle(state, method, uri, headers, body).await }
            }
        });
        // As real provider front ends do: each SSE chunk leaves at once instead of waiting (Nagle)
        // for the client's delayed ACK of the one before, which put 40 ms stalls into timings.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            state,
            server,
        }
    }

    /// `http://127.0.0.1:<port>`: use it as the base URL of either protocol.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many streamed answers were sent to their last chunk.
    pub fn streams_sent(&self) -> usize {
        self.state.lock().unwrap().streams_sent
    }

    /// Answers the next request whose body contains `needle` (JSON-escaped as sent) with `reply`,
    /// whatever the queue holds.
    pub fn route(&self, needle: &str, reply: Scripted) -> &Self {
        self.state
            .lock()
            .unwrap()
            .routes
            .push((needle.to_string(), reply));
        self
    }

    /// Streamed answers being sent now.
    pub fn in_flight(&self) -> usize {
        self.state.lock().unwrap().in_flight
    }

    /// The most streamed answers that were being sent at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }

    /// Queues one reply (answered in order, one per request).
    pub fn push(&self, reply: Scripted) -> &Self {
        self.state.lock().unwrap().queue.push_back(reply);
        self
    }

    /// Queues the same reply `n` times.
    pub fn push_n(&self, reply: Scripted, n: usize) -> &Self {
        let mut s = self.state.lock().unwrap();
        for _ in 0..n {
            s.queue.push_back(reply.clone());
        }
        drop(s);
        self
    }

    /// The reply once the queue is empty (default: a 500 saying the script ran out).
    pub fn set_fallback(&self, reply: Scripted) -> &Self {
        self.state.lock().unwrap().fallback = Some(reply);
        self
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn request_count(&self) -> usize {
        self.state.lock().unwrap().requests.len()
    }

    /// Replies still queued.
    pub fn pending(&self) -> usize {
        self.state.lock().unwrap().queue.len()
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let wire = if path.ends_with("/chat/completions") {
        Wire::OpenAi
    } else if path.ends_with("/messages") {
        Wire::Anthropic
    } else {
        return error_response(Wire::OpenAi, 404, None, &format!("no route {path}"));
    };
    let script = {
        let mut s = state.lock().unwrap();
        s.requests.push(RecordedRequest {
            method: method.to_string(),
            path,
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_ascii_lowercase(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        let text = String::from_utf8_lossy(&body).into_owned();
        match s
            .routes
            .iter()
            .position(|(needle, _)| text.contains(needle.as_str()))
        {
            Some(i) => Some(s.routes.remove(i).1),
            None => s.queue.pop_front().or_else(|| s.fallback.clone()),
        }
    };
    let Some(mut script) = script else {
        return error_response(wire, 500, None, "fake provider: no scripted reply is left");
    };
    while let Scripted::Delayed(wait, inner) = script {
        tokio::time::sleep(wait).await;
        script = *inner;
    }
    match script {
        Scripted::Status(code, retry_after) => {
            let msg = format!("scripted HTTP {code}");
            error_response(wire, code, retry_after.as_deref(), &msg)
        }
        Scripted::StatusWithBody(code, body) => Response::builder()
            .status(code)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap(),
        Scripted::Stream(reply) => sse(events(wire, &reply, Ending::Complete), false, &state),
        Scripted::Slow(reply, delay) => sse(
            events(wire, &reply.delay(delay), Ending::Complete),
            false,
            &state,
        ),
        Scripted::ResetMidStream(reply) => sse(events(wire, &reply, Ending::None), true, &state),
        Scripted::StreamError(reply, message) => {
            sse(events(wire, &reply, Ending::Error(message)), false, &state)
        }
        Scripted::Malformed => {
            let mut evs = events(wire, &Reply::text(["ok"]), Ending::None);
            evs.push(Event::now(match wire {
                Wire::OpenAi => "data: {\"choices\": [{\"delta\": {\"content\": \"x\"\n\n".into(),
                Wire::Anthropic => {
                    "event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": \n\n"
                        .into()
                }
            }));
            // A well-formed end follows, so only the bad chunk can explain a failure.
            evs.extend(ending(wire, &Reply::default()));
            sse(evs, false, &state)
        }
        Scripted::Delayed(..) => unreachable!(),
    }
}

fn error_response(wire: Wire, code: u16, retry_after: Option<&str>, message: &str) -> Response {
    let body = match wire {
        Wire::OpenAi => {
            json!({"error": {"message": message, "type": "fake_error", "param": null, "code": code}})
        }
        Wire::Anthropic => {
            json!({"type": "error", "error": {"type": "fake_error", "message": message}})
        }
    };
    let mut b = Response::builder()
        .status(StatusCode::from_u16(code).expect("a valid status code"))
        .header("content-type", "application/json");
    if let Some(after) = retry_after {
        b = b.header("retry-after", after);
    }
    b.body(Body::from(body.to_string())).unwrap()
}

/// One SSE frame and the wait before it.
struct Event {
    delay: Duration,
    frame: String,
}

impl Event {
    fn now(frame: String) -> Self {
        Self {
            delay: Duration::ZERO,
            frame,
        }
    }
}

enum Ending {
    Complete,
    Error(String),
    None,
}

fn data(v: Value) -> String {
    format!("data: {v}\n\n")
}

fn named(event: &str, v: Value) -> String {
    format!("event: {event}\ndata: {v}\n\n")
}

fn model_of(reply: &Reply) -> String {
    reply.model.clone().unwrap_or_else(|| "fake-model".into())
}

/// The frames of a reply in `wire`'s format, up to (and, per `end`, including) the end.
fn events(wire: Wire, reply: &Reply, end: Ending) -> Vec<Event> {
    let model = model_of(reply);
    let slow = |frame: String| Event {
        delay: reply.delay_per_chunk,
        frame,
    };
    let mut out = Vec::new();
    match wire {
        Wire::OpenAi => {
            let chunk = |delta: Value, finish: Value| {
                json!({
                    "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                })
            };
            out.push(Event::now(data(chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            ))));
            for c in &reply.chunks {
                out.push(slow(data(chunk(json!({"content": c}), Value::Null))));
            }
            for (i, t) in reply.tool_calls.iter().enumerate() {
                out.push(slow(data(chunk(
                    json!({"tool_calls": [{"index": i, "id": t.id, "type": "function",
                        "function": {"name": t.name, "arguments": ""}}]}),
                    Value::Null,
                ))));
                for p in &t.argument_pieces {
                    out.push(slow(data(chunk(
                        json!({"tool_calls": [{"index": i, "function": {"arguments": p}}]}),
                        Value::Null,
                    ))));
                }
            }
        }
        Wire::Anthropic => {
            let u = reply.usage.unwrap_or_default();
            out.push(Event::now(named(
                "message_start",
                json!({"type": "message_start", "message": {
                    "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": u.input, "cache_read_input_tokens": u.cache_read,
                              "cache_creation_input_tokens": u.cache_creation, "output_tokens": 1},
                }}),
            )));
            out.push(Event::now(named("ping", json!({"type": "ping"}))));
            let mut index = 0;
            if !reply.chunks.is_empty() {
                out.push(Event::now(named(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": index,
                           "content_block": {"type": "text", "text": ""}}),
                )));
                for c in &reply.chunks {
                    out.push(slow(named(
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": index,
                               "delta": {"type": "text_delta", "text": c}}),
                    )));
                }
                out.push(Event::now(named(
                    "content_block_stop",
                    json!({"type": "content_block_stop", "index": index}),
                )));
                index += 1;
            }
            for t in &reply.tool_calls {
                out.push(slow(named(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": index,
                           "content_block": {"type": "tool_use", "id": t.id, "name": t.name, "input": {}}}),
                )));
                for p in &t.argument_pieces {
                    out.push(slow(named(
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": index,
                               "delta": {"type": "input_json_delta", "partial_json": p}}),
                    )));
                }
                out.push(Event::now(named(
                    "content_block_stop",
                    json!({"type": "content_block_stop", "index": index}),
                )));
                index += 1;
            }
        }
    }
    match end {
        Ending::Complete => out.extend(ending(wire, reply)),
        Ending::Error(message) => out.push(Event::now(match wire {
            Wire::OpenAi => data(json!({"error": {"message": message, "type": "server_error"}})),
            Wire::Anthropic => named(
                "error",
                json!({"type": "error", "error": {"type": "overloaded_error", "message": message}}),
            ),
        })),
        Ending::None => {}
    }
    out
}

/// Finish reason, usage and the end marker.
fn ending(wire: Wire, reply: &Reply) -> Vec<Event> {
    let tools = !reply.tool_calls.is_empty();
    let u = reply.usage;
    match wire {
        Wire::OpenAi => {
            let reason = reply
                .finish_reason
                .clone()
                .unwrap_or_else(|| if tools { "tool_calls" } else { "stop" }.into());
            let mut out = vec![Event::now(data(json!({
                "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                "model": model_of(reply),
                "choices": [{"index": 0, "delta": {}, "finish_reason": reason}],
            })))];
            if let Some(u) = u {
                out.push(Event::now(data(json!({
                    "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                    "model": model_of(reply), "choices": [],
                    "usage": {"prompt_tokens": u.input, "completion_tokens": u.output,
                              "total_tokens": u.input + u.output,
                              "prompt_tokens_details": {"cached_tokens": u.cache_read}},
                }))));
            }
            out.push(Event::now("data: [DONE]\n\n".into()));
            out
        }
        Wire::Anthropic => {
            let reason = reply
                .finish_reason
                .clone()
                .unwrap_or_else(|| if tools { "tool_use" } else { "end_turn" }.into());
            vec![
                Event::now(named(
                    "message_delta",
                    json!({"type": "message_delta",
                           "delta": {"stop_reason": reason, "stop_sequence": null},
                           "usage": {"output_tokens": u.map_or(0, |u| u.output)}}),
                )),
                Event::now(named("message_stop", json!({"type": "message_stop"}))),
            ]
        }
    }
}

/// A `text/event-stream` response that plays `events` with their delays; with `reset`, the
/// connection is dropped after the last one instead of ending the body.
fn sse(events: Vec<Event>, reset: bool, state: &Arc<Mutex<State>>) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    let state = state.clone();
    {
        let mut s = state.lock().unwrap();
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
    }
    tokio::spawn(async move {
        // Counted out however the stream ends (sent, reset, or the client went away).
        struct Out(Arc<Mutex<State>>);
        impl Drop for Out {
            fn drop(&mut self) {
                self.0.lock().unwrap().in_flight -= 1;
            }
        }
        let _out = Out(state.clone());
        for e in events {
            if !e.delay.is_zero() {
                tokio::time::sleep(e.delay).await;
            }
            if tx.send(Ok(Bytes::from(e.frame))).await.is_err() {
                return; // The client went away.
            }
        }
        state.lock().unwrap().streams_sent += 1;
        if reset {
            // Give the client a moment to read what was sent, then fail the body: hyper aborts the
            // connection without the chunked terminator.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = tx
                .send(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "scripted reset",
                )))
                .await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(stream))
        .unwrap()
}
