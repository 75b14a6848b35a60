//! `GET /api/v1/stream/sse`: the cloud's SSE framing (named events, `id:` lines, a ping comment every
//! 10 s, resume with `Last-Event-ID` or `last_event_id`, a `types` filter, close after STREAM_END).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream::{self, Stream};
use serde_json::{Value, json};

use crate::core::auth::Caller;
use crate::core::run::EventType;
use crate::core::streams::StreamPos;
use crate::core::streams::{TaskEvent, TaskSubscription};
use crate::core::tasks::read::validate_task_id;
use crate::http::extract::{ApiQuery, Authed};
use crate::http::{ApiError, AppState};

/// The SSE `event:` name and `data:` of one event (see docs/upstream.md#streaming-and-events).
pub fn frame(e: &TaskEvent) -> (String, String) {
    let base = |extra: Value| {
        let mut v =
            json!({"workflow_id": e.workflow_id, "agent_id": e.agent_id, "message": e.message});
        if let (Some(o), Value::Object(x)) = (v.as_object_mut(), extra) {
            o.extend(x);
        }
        v.to_string()
    };
    let payload = |k: &str| e.payload.as_ref().and_then(|p| p.get(k)).cloned();
    let Some(kind) = e.kind() else {
        return (e.event_type.clone(), with_agent(e));
    };
    let data = match kind {
        EventType::LlmPartial => {
            json!({"delta": e.message, "workflow_id": e.workflow_id, "agent_id": e.agent_id, "seq": e.seq, "stream_id": e.stream_id}).to_string()
        }
        EventType::LlmOutput => {
            let mut v = json!({"response": e.message, "workflow_id": e.workflow_id, "agent_id": e.agent_id, "seq": e.seq});
            if let Some(p) = &e.payload {
                v["metadata"] = p.clone();
                // Fields the desktop frontend reads directly.
                v["model"] = p.get("model_used").cloned().unwrap_or(Value::Null);
                v["provider"] = p.get("provider").cloned().unwrap_or(Value::Null);
                v["metadata"]["usage"] = json!({
                    "total_tokens": p.get("tokens_used"), "input_tokens": p.get("input_tokens"),
                    "output_tokens": p.get("output_tokens"),
                });
            }
            v.to_string()
        }
        EventType::StreamEnd => "[DONE]".into(),
        EventType::WorkflowPausing | EventType::WorkflowResumed | EventType::WorkflowCancelling => {
            base(json!({}))
        }
        EventType::WorkflowPaused => base(json!({"checkpoint": payload("checkpoint")})),
        EventType::WorkflowCancelled => base(
            json!({"checkpoint": payload("checkpoint"), "was_paused": payload("was_paused").unwrap_or(json!(false))}),
        ),
        _ => with_agent(e),
    };
    (kind.sse_name().to_string(), data)
}

/// The event as stored, with `agent_id` always present (the desktop frontend reads it on every event).
fn with_agent(e: &TaskEvent) -> String {
    if e.agent_id.is_some() {
        // The common case, serialized straight to text (this runs once per event per subscriber).
        return serde_json::to_string(e).unwrap_or_default();
    }
    let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.entry("agent_id").or_insert(Value::Null);
    }
    v.to_string()
}

/// Validates `workflow_id`, the resume id (`header_id` first, then `last_event_id`) and `types`, and
/// opens the subscription.
async fn subscribe(
    state: &AppState,
    caller: &Caller,
    q: &HashMap<String, String>,
    header_id: Option<&str>,
) -> Result<(String, TaskSubscription), Box<Response>> {
    let bad = |msg: &str| Box::new(ApiError::plain(StatusCode::BAD_REQUEST, msg).into_response());
    let wf = q
        .get("workflow_id")
        .filter(|w| validate_task_id(w).is_ok())
        .ok_or_else(|| bad("Invalid or missing workflow_id"))?;
    let raw_id = header_id
        .or_else(|| q.get("last_event_id").map(String::as_str))
        .filter(|s| !s.is_empty());
    let last = match raw_id.map(StreamPos::parse) {
        None => None,
        Some(Some(n)) => Some(n),
        Some(None) => return Err(bad("Invalid last_event_id")),
    };
    let types = q.get("types").map(|t| {
        t.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let sub = state
        .core
        .subscribe_task(caller, wf, last, types)
        .await
        .map_err(|e| Box::new(ApiError::from(e).into_response()))?;
    Ok((wf.clone(), sub))
}

pub(super) async fn sse(
    State(state): State<Arc<AppState>>,
    Authed(caller): Authed,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<HashMap<String, String>>,
) -> Response {
    // The header wins over the query, as the cloud.
    let header_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let (wf, sub) = match subscribe(&state, &caller, &q, header_id).await {
        Ok(found) => found,
        Err(resp) => return *resp,
    };
    let preamble = Event::default().comment(format!("connected to workflow {wf}"));
    Sse::new(events(sub, preamble))
        .keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(10))
                .text("ping"),
        )
        .into_response()
}

fn events(sub: TaskSubscription, preamble: Event) -> impl Stream<Item = Result<Event, Infallible>> {
    let head = stream::once(async move { Ok(preamble) });
    let body = stream::unfold(Some(sub), |state| async move {
        let mut sub = state?;
        let e = sub.next().await?;
        let (name, data) = frame(&e);
        // Every event has a resume id: the seq, or `<seq>-<n>` for a delta, so a reconnecting
        // EventSource misses nothing and repeats nothing.
        let id = e.stream_id.clone().unwrap_or_else(|| e.seq.to_string());
        let event = Event::default().event(name).data(data).id(id);
        // After STREAM_END (sent as `done`) the response ends.
        let next = (!e.is(EventType::StreamEnd)).then_some(sub);
        Some((Ok(event), next))
    });
    head.chain(body)
}

/// `GET /api/v1/stream/ws`: raw event JSON per text frame (no SSE name mapping), resume with the
/// `last_event_id` query, a ping every 20 s; client messages are ignored. As the cloud, the socket
/// stays open after STREAM_END until the client closes it.
pub(super) async fn ws(
    State(state): State<Arc<AppState>>,
    Authed(caller): Authed,
    ApiQuery(q): ApiQuery<HashMap<String, String>>,
    ws: Result<axum::extract::ws::WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    // A plain GET (no `Connection: upgrade`, no key…) is told why, in JSON; so is a HEAD (405).
    let ws = match ws {
        Ok(ws) => ws,
        Err(r) => {
            let mut resp =
                ApiError::coded(r.status(), "websocket_upgrade_required", &r.body_text())
                    .into_response();
            if r.status() == StatusCode::METHOD_NOT_ALLOWED {
                resp.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET"));
            }
            return resp;
        }
    };
    // WebSocket resume uses the query only, as the cloud.
    let sub = match subscribe(&state, &caller, &q, None).await {
        Ok((_, sub)) => sub,
        Err(resp) => return *resp,
    };
    ws.max_message_size(512)
        .on_upgrade(move |socket| pump_ws(socket, sub))
}

async fn pump_ws(mut socket: axum::extract::ws::WebSocket, mut sub: TaskSubscription) {
    use axum::extract::ws::Message;
    let mut ping = tokio::time::interval(Duration::from_secs(20));
    ping.tick().await;
    let mut live = true;
    loop {
        tokio::select! {
            next = sub.next(), if live => match next {
                Some(e) => {
                    let text = serde_json::to_string(&e).unwrap_or_default();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                None => live = false,
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
            }
        }
    }
}
