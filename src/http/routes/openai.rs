//! OpenAI-compatible `GET /v1/models[/{model}]` and `POST /v1/chat/completions` (plain and
//! streamed), backed by tasks, so any OpenAI SDK can talk to the embedded engine; and the cloud's
//! `POST /v1/completions`, one model call in its llm-service shape.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::core::ShannonError;
use crate::core::auth::Caller;
use crate::core::llm::completions::CompletionRequest;
use crate::core::run::{EventType, TaskStatus};
use crate::core::streams::TaskSubscription;
use crate::core::tasks::SubmitTaskRequest;
use crate::http::AppState;
use crate::http::error::status_code_name;
use crate::http::extract::{ApiJson, Authed, BodyRejection, unreadable};

/// The cloud's model ids (`config/openai_models.yaml`): the research preset each runs, and what
/// `X-Model-Description` says of it. Anything else is passed on as `model_override`.
const MODELS: &[(&str, Option<&str>, &str)] = &[
    (
        "shannon-chat",
        None,
        "General chat: one agent, the session's history",
    ),
    (
        "shannon-quick-research",
        Some("quick"),
        "Quick research with sources",
    ),
    (
        "shannon-standard-research",
        Some("standard"),
        "Research with sources and a coverage check",
    ),
    (
        "shannon-deep-research",
        Some("deep"),
        "Deep research: more agents, more rounds",
    ),
    (
        "shannon-academic-research",
        Some("academic"),
        "Academic research: the widest preset",
    ),
    ("shannon-complex", None, "A planned team of agents"),
];

/// The ids of earlier releases, still accepted.
const ALIASES: &[(&str, &str)] = &[
    ("shannon-quick", "shannon-quick-research"),
    ("shannon-standard", "shannon-standard-research"),
    ("shannon-deep", "shannon-deep-research"),
];

fn known(model: &str) -> Option<&'static (&'static str, Option<&'static str>, &'static str)> {
    let id = ALIASES
        .iter()
        .find(|(alias, _)| *alias == model)
        .map_or(model, |(_, id)| *id);
    MODELS.iter().find(|(m, ..)| *m == id)
}

fn unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// OpenAI's error shape; `code` is the core error's, else named after the status.
fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    coded(status, kind, status_code_name(status), message)
}

fn coded(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"message": message, "type": kind, "code": code}})),
    )
        .into_response()
}

fn from_core(e: ShannonError) -> Response {
    let (status, kind) = match &e {
        ShannonError::InvalidRequest(_)
        | ShannonError::InvalidJson(_)
        | ShannonError::ProviderNotReady(_) => (StatusCode::BAD_REQUEST, "invalid_request_error"),
        ShannonError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found_error"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
    };
    coded(status, kind, e.code(), &e.to_string())
}

pub(super) async fn models() -> Response {
    let created = unix();
    let data: Vec<Value> = MODELS
        .iter()
        .map(|(id, ..)| json!({"id": id, "object": "model", "created": created, "owned_by": "shannon"}))
        .collect();
    Json(json!({"object": "list", "data": data})).into_response()
}

/// One model id; its description in `X-Model-Description`, as the cloud sends it.
pub(super) async fn model(
    _: Authed,
    crate::http::extract::ApiPath(id): crate::http::extract::ApiPath<String>,
) -> Response {
    let Some((id, _, description)) = known(&id) else {
        return coded(
            StatusCode::NOT_FOUND,
            "not_found_error",
            "model_not_found",
            &format!("Model '{id}' not found"),
        );
    };
    let mut resp =
        Json(json!({"id": id, "object": "model", "created": unix(), "owned_by": "shannon"}))
            .into_response();
    if let Ok(v) = HeaderValue::from_str(description) {
        resp.headers_mut().insert("x-model-description", v);
    }
    resp
}

/// `POST /v1/completions`: the answer whole, or streamed as `content_delta` events, then `done`
/// with the whole text and usage (or `error`), then `[DONE]`.
pub(super) async fn completions(
    State(state): State<Arc<AppState>>,
    Authed(caller): Authed,
    body: Result<ApiJson<CompletionRequest>, BodyRejection>,
) -> Response {
    let req = match body {
        Ok(ApiJson(b)) => b,
        Err(BodyRejection::Invalid(e)) => {
            let msg = format!("invalid body: {e}");
            return error(StatusCode::BAD_REQUEST, "invalid_request_error", &msg);
        }
        Err(BodyRejection::Unreadable(r)) => {
            let e = unreadable(&r);
            return error(e.status(), "invalid_request_error", &e.message());
        }
    };
    let cancel = CancellationToken::new();
    if !req.stream {
        return match state
            .core
            .complete(&caller, req, &mut |_| {}, &cancel)
            .await
        {
            Ok(done) => Json(done).into_response(),
            Err(e) => from_core(e),
        };
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    // The call stops when the client goes away (the receiver is dropped with the response).
    let guard = cancel.clone().drop_guard();
    tokio::spawn(async move {
        let sender = tx.clone();
        let mut on_delta = move |text: &str| {
            let _ = sender.send(json!({"type": "content_delta", "text": text}));
        };
        let last = match state
            .core
            .complete(&caller, req, &mut on_delta, &cancel)
            .await
        {
            Ok(done) => {
                let mut v = serde_json::to_value(done).unwrap_or_default();
                v["type"] = json!("done");
                v
            }
            Err(e) => json!({"type": "error", "message": e.to_string()}),
        };
        let _ = tx.send(last);
    });
    let events = stream::unfold(
        (rx, Some(guard), false),
        |(mut rx, guard, ended)| async move {
            if ended {
                return None;
            }
            match rx.recv().await {
                Some(v) => Some((
                    Ok::<_, std::convert::Infallible>(Event::default().data(v.to_string())),
                    (rx, guard, false),
                )),
                None => Some((Ok(Event::default().data("[DONE]")), (rx, None, true))),
            }
        },
    );
    Sse::new(events).into_response()
}

/// `POST /v1/chat/completions` body (the OpenAI shape; `shannon_options` go to the task's context).
#[derive(Deserialize, specta::Type)]
pub(in crate::http) struct ChatBody {
    #[serde(default)]
    model: Option<String>,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    stream: bool,
    max_tokens: Option<u32>,
    temperature: Option<f64>,
    stream_options: Option<StreamOptions>,
    shannon_options: Option<Map<String, Value>>,
}

#[derive(Deserialize, specta::Type)]
pub(super) struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize, specta::Type)]
pub(super) struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Value,
}

/// `content` as text: a string, or the text parts of a parts array.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The task for a chat request: the last user message is the query; system messages become the
/// system prompt, and earlier turns are given to the model as a transcript.
fn to_task(body: &ChatBody, session: Option<String>) -> Option<SubmitTaskRequest> {
    let last_user = body.messages.iter().rposition(|m| m.role == "user")?;
    let mut context = body
        .shannon_options
        .as_ref()
        .and_then(|o| o.get("context"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut system: Vec<String> = body
        .messages
        .iter()
        .filter(|m| m.role == "system" || m.role == "developer")
        .map(|m| text_of(&m.content))
        .collect();
    let transcript: Vec<String> = body.messages[..last_user]
        .iter()
        .filter(|m| m.role == "user" || m.role == "assistant")
        .map(|m| format!("{}: {}", m.role, text_of(&m.content)))
        .collect();
    if !transcript.is_empty() {
        system.push(format!("Conversation so far:\n{}", transcript.join("\n")));
    }
    if !system.is_empty() {
        context.insert("system_prompt".into(), json!(system.join("\n\n")));
    }
    if let Some(t) = body.temperature {
        context.insert("temperature".into(), json!(t));
    }
    if let Some(n) = body.max_tokens {
        context.insert("max_tokens".into(), json!(n));
    }
    let model = body.model.clone().unwrap_or_else(|| "shannon-chat".into());
    let (model_override, strategy, id) = match known(&model) {
        Some((id, strategy, _)) => (None, strategy.map(str::to_string), *id),
        None => (Some(model), None, ""),
    };
    if strategy.is_some() {
        context.entry("force_research").or_insert(json!(true));
    }
    for key in [
        "agent",
        "agent_input",
        "role",
        "research_strategy",
        "model_tier",
    ] {
        if let Some(v) = body.shannon_options.as_ref().and_then(|o| o.get(key)) {
            context.entry(key).or_insert(v.clone());
        }
    }
    Some(SubmitTaskRequest {
        query: text_of(&body.messages[last_user].content),
        session_id: session,
        context,
        mode: (id == "shannon-complex").then(|| "complex".to_string()),
        model_override,
        research_strategy: strategy,
        ..Default::default()
    })
}

pub(super) async fn chat_completions(
    State(state): State<Arc<AppState>>,
    Authed(caller): Authed,
    headers: HeaderMap,
    body: Result<ApiJson<ChatBody>, BodyRejection>,
) -> Response {
    // Bad bodies get OpenAI's error shape here, not the cloud's.
    let body = match body {
        Ok(ApiJson(b)) => b,
        Err(BodyRejection::Invalid(e)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("invalid body: {e}"),
            );
        }
        Err(BodyRejection::Unreadable(r)) => {
            let e = unreadable(&r);
            return error(e.status(), "invalid_request_error", &e.message());
        }
    };
    let session = headers
        .get("x-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Some(req) = to_task(&body, session) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "messages must contain a user message",
        );
    };
    let req = SubmitTaskRequest {
        target: Some(crate::core::remote::LOCAL.into()),
        ..req
    };
    let submitted = match state.core.submit_task(&caller, req, None).await {
        Ok(s) => s,
        Err(e) => return from_core(e),
    };
    let sub = match state
        .core
        .subscribe_task(&caller, &submitted.task_id, None, None)
        .await
    {
        Ok(s) => s,
        Err(e) => return from_core(e),
    };
    let id = format!("chatcmpl-{}", &submitted.task_id);
    let model = body.model.clone().unwrap_or_else(|| "shannon-chat".into());
    let mut resp = if body.stream {
        let include_usage = body
            .stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage);
        // A team's agents all stream; only a one-agent task's text is the answer as it comes.
        let partials = known(&model)
            .is_none_or(|(id, strategy, _)| strategy.is_none() && *id != "shannon-complex");
        let opts = StreamOptionsSet {
            include_usage,
            partials,
        };
        stream_response(state, caller, sub, id, model, opts).into_response()
    } else {
        complete(&state, &caller, sub, id, model).await
    };
    if let Ok(v) = HeaderValue::from_str(&submitted.session_id) {
        resp.headers_mut().insert("x-session-id", v.clone());
        resp.headers_mut().insert("x-shannon-session-id", v);
    }
    resp
}

/// Waits for the task's end and answers with one `chat.completion`.
async fn complete(
    state: &AppState,
    caller: &Caller,
    mut sub: TaskSubscription,
    id: String,
    model: String,
) -> Response {
    while sub.next().await.is_some() {}
    let task = match state.core.get_task(caller, sub.workflow_id()).await {
        Ok(t) => t,
        Err(e) => return from_core(e),
    };
    if task.status != TaskStatus::Completed.api() {
        let msg = task
            .error
            .unwrap_or_else(|| format!("the task ended with {}", task.status));
        return error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &msg);
    }
    let usage = task.usage.unwrap_or_default();
    Json(json!({
        "id": id, "object": "chat.completion", "created": unix(), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": task.result}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": usage.input_tokens.unwrap_or(0), "completion_tokens": usage.output_tokens.unwrap_or(0),
                  "total_tokens": usage.total_tokens.unwrap_or(0)},
    }))
    .into_response()
}

/// How a chat stream is told.
struct StreamOptionsSet {
    include_usage: bool,
    /// Stream the task's text deltas as content (else only its final answer).
    partials: bool,
}

struct StreamState {
    state: Arc<AppState>,
    caller: Caller,
    sub: Option<TaskSubscription>,
    id: String,
    model: String,
    include_usage: bool,
    partials: bool,
    sent_role: bool,
    streamed_text: bool,
    queue: Vec<Value>,
}

impl StreamState {
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({"id": self.id, "object": "chat.completion.chunk", "created": unix(), "model": self.model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    }
}

/// `chat.completion.chunk` events from the task's deltas, then the finish chunk, usage, `[DONE]`.
fn stream_response(
    state: Arc<AppState>,
    caller: Caller,
    sub: TaskSubscription,
    id: String,
    model: String,
    opts: StreamOptionsSet,
) -> Sse<impl futures_util::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let st = StreamState {
        state,
        caller,
        sub: Some(sub),
        id,
        model,
        include_usage: opts.include_usage,
        partials: opts.partials,
        sent_role: false,
        streamed_text: false,
        queue: Vec::new(),
    };
    let s = stream::unfold(st, |mut st| async move {
        loop {
            if !st.queue.is_empty() {
                let v = st.queue.remove(0);
                let data = if v == Value::Null {
                    "[DONE]".to_string()
                } else {
                    v.to_string()
                };
                return Some((Ok(Event::default().data(data)), st));
            }
            let sub = st.sub.as_mut()?;
            match sub.next().await {
                Some(e) if e.is(EventType::LlmPartial) && st.partials => {
                    let mut delta = json!({"content": e.message.unwrap_or_default()});
                    if !st.sent_role {
                        st.sent_role = true;
                        delta["role"] = json!("assistant");
                    }
                    st.streamed_text = true;
                    st.queue.push(st.chunk(delta, None));
                }
                Some(e)
                    if e.is(EventType::LlmOutput)
                        && e.agent_id.as_deref() == Some("final_output")
                        && !st.streamed_text =>
                {
                    let delta =
                        json!({"role": "assistant", "content": e.message.unwrap_or_default()});
                    st.queue.push(st.chunk(delta, None));
                }
                // The task's other events ride along as `shannon_events`, as the cloud's chunks carry them.
                Some(e) if !e.is(EventType::LlmPartial) && !e.is(EventType::LlmPrompt) => {
                    let at = chrono::DateTime::parse_from_rfc3339(&e.timestamp)
                        .map_or(0, |t| t.timestamp());
                    let mut chunk = st.chunk(json!({}), None);
                    chunk["shannon_events"] = json!([{"type": e.event_type, "agent_id": e.agent_id,
                        "message": e.message, "timestamp": at, "payload": e.payload}]);
                    st.queue.push(chunk);
                }
                Some(_) => {}
                None => {
                    let wf = sub.workflow_id().to_string();
                    st.sub = None;
                    let task = st.state.core.get_task(&st.caller, &wf).await.ok();
                    let ok = task
                        .as_ref()
                        .is_some_and(|t| t.status == TaskStatus::Completed.api());
                    if !ok {
                        let msg = task
                            .and_then(|t| t.error)
                            .unwrap_or_else(|| "the task did not complete".into());
                        st.queue
                            .push(json!({"error": {"message": msg, "type": "server_error"}}));
                    } else {
                        st.queue.push(st.chunk(json!({}), Some("stop")));
                        if st.include_usage {
                            let u = task.and_then(|t| t.usage).unwrap_or_default();
                            st.queue.push(json!({"id": st.id, "object": "chat.completion.chunk", "created": unix(), "model": st.model, "choices": [],
                                "usage": {"prompt_tokens": u.input_tokens.unwrap_or(0), "completion_tokens": u.output_tokens.unwrap_or(0),
                                          "total_tokens": u.total_tokens.unwrap_or(0)}}));
                        }
                    }
                    st.queue.push(Value::Null);
                }
            }
        }
    });
    Sse::new(s)
}
