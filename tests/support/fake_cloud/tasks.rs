//! Tasks: submit (ids only in headers), status, list, stored events, control with checkpoints, and
//! the runner that publishes a task's scripted events.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::auth::{Identity, Limited, error, unix_now};
use super::events::rfc3339;
use super::script::{Outcome, Script};
use super::sessions::{Session, find_session};
use super::{Cloud, events};

pub const PROVIDERS: &[&str] = &[
    "openai",
    "anthropic",
    "google",
    "groq",
    "xai",
    "deepseek",
    "qwen",
    "zai",
    "kimi",
    "minimax",
    "ollama",
    "mistral",
    "cohere",
];

#[derive(Clone, Debug, Default)]
pub struct Control {
    pub pause: bool,
    pub paused_at: Option<DateTime<Utc>>,
    pub pause_reason: String,
    pub paused_by: String,
    pub cancel: bool,
    pub cancel_reason: String,
    pub cancelled_by: String,
}

pub struct Task {
    pub workflow_id: String,
    /// `task_executions.id`: what session history and turns call `task_id`.
    pub db_id: String,
    pub user_id: String,
    pub session_uuid: String,
    pub query: String,
    pub mode: String,
    pub context: Value,
    /// Unprefixed: RUNNING, PAUSED, COMPLETED, FAILED, CANCELLED.
    pub status: &'static str,
    pub result: String,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub ctl: Control,
    /// Bumped on every control signal so a runner blocked at a checkpoint looks again.
    pub wake: watch::Sender<u64>,
}

pub fn is_terminal(status: &str) -> bool {
    matches!(status, "COMPLETED" | "FAILED" | "CANCELLED" | "TIMEOUT")
}

fn with_text(reason: &str, what: &str) -> String {
    if reason.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {reason}")
    }
}

/// `POST /api/v1/tasks`: **200** `{task_id, status, message, created_at}`; workflow and session ids
/// only in `X-Workflow-ID` / `X-Session-ID`.
pub async fn submit(
    State(c): State<Arc<Cloud>>,
    _: Limited,
    Extension(who): Extension<Identity>,
    body: Bytes,
) -> Response {
    let (wf, session, created) = match start_task(&c, &who, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let body = json!({
        "task_id": wf,
        "status": "STATUS_CODE_OK",
        "message": format!("Task submitted successfully. Session: {session}"),
        "created_at": rfc3339(created),
    });
    id_headers(
        (StatusCode::OK, Json(body)).into_response(),
        &wf,
        Some(&session),
    )
}

/// `POST /api/v1/tasks/stream`: **201** with a *relative* `stream_url` and a `Link` header.
pub async fn submit_stream(
    State(c): State<Arc<Cloud>>,
    _: Limited,
    Extension(who): Extension<Identity>,
    body: Bytes,
) -> Response {
    let (wf, session, _) = match start_task(&c, &who, &body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let url = format!("/api/v1/stream/sse?workflow_id={wf}");
    let mut r = (
        StatusCode::CREATED,
        Json(json!({"workflow_id": wf, "task_id": wf, "stream_url": url})),
    )
        .into_response();
    r.headers_mut().insert(
        "Link",
        HeaderValue::from_str(&format!("<{url}>; rel=stream")).unwrap(),
    );
    id_headers(r, &wf, Some(&session))
}

fn id_headers(mut r: Response, wf: &str, session: Option<&str>) -> Response {
    if let Ok(v) = HeaderValue::from_str(wf) {
        r.headers_mut().insert("X-Workflow-ID", v);
    }
    if let Some(v) = session.and_then(|s| HeaderValue::from_str(s).ok()) {
        r.headers_mut().insert("X-Session-ID", v);
    }
    r
}

/// Validates as the gateway does, records the task and its session, and starts its runner.
fn start_task(
    c: &Arc<Cloud>,
    who: &Identity,
    body: &[u8],
) -> Result<(String, String, DateTime<Utc>), Response> {
    let bad = |m: String| error(StatusCode::BAD_REQUEST, &m);
    let req: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("Invalid request body: {e}")))?;
    let text = |k: &str| req.get(k).and_then(Value::as_str).map(str::to_string);
    let mut context = req.get("context").cloned().unwrap_or(json!({}));
    let has_attachments = context
        .get("attachments")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let query = match text("query").filter(|q| !q.trim().is_empty()) {
        Some(q) => q,
        None if has_attachments => "[User sent file attachments]".into(),
        None => return Err(bad("Query is required".into())),
    };
    let mode = text("mode").unwrap_or_default();
    if !mode.is_empty() && !["simple", "standard", "complex", "supervisor"].contains(&mode.as_str())
    {
        return Err(bad(
            "Invalid mode (allowed: simple, standard, complex, supervisor)".into(),
        ));
    }
    if let Some(t) = text("model_tier")
        && !["small", "medium", "large"].contains(&t.to_lowercase().as_str())
    {
        return Err(bad(format!(
            "Invalid model_tier: {t} (allowed: small, medium, large)"
        )));
    }
    if let Some(p) = text("provider_override") {
        let p = p.to_lowercase();
        if !PROVIDERS.contains(&p.as_str()) {
            return Err(bad(format!(
                "Invalid provider_override: {p} (allowed: {})",
                PROVIDERS.join(", ")
            )));
        }
        context["provider_override"] = json!(p);
    }
    if let Some(s) = text("research_strategy")
        && !["quick", "standard", "deep", "academic"].contains(&s.as_str())
    {
        return Err(bad(format!("Invalid research_strategy: {s}")));
    }
    if let Some(n) = req.get("max_concurrent_agents").and_then(Value::as_i64)
        && !(1..=20).contains(&n)
    {
        return Err(bad("max_concurrent_agents out of range (1..20)".into()));
    }
    let given_session = text("session_id").filter(|s| !s.is_empty());
    let now = Utc::now();

    let mut st = c.state.lock().unwrap();
    let session_key = given_session
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let session_uuid = match find_session(&st.sessions, &who.user_id, &session_key) {
        Some(i) => st.sessions[i].id.clone(),
        None => {
            let s = Session::new(&session_key, &who.user_id, &query);
            let id = s.id.clone();
            st.sessions.push(s);
            id
        }
    };
    // `task-<user>-<unix seconds>`, made unique within a second.
    let base = format!("task-{}-{}", who.user_id, unix_now());
    let mut wf = base.clone();
    let mut n = 1;
    while st.tasks.contains_key(&wf) {
        n += 1;
        wf = format!("{base}-{n}");
    }
    let script = st.script.clone().unwrap_or_else(|| c.cfg.script.clone());
    let (wake, wake_rx) = watch::channel(0);
    st.tasks.insert(
        wf.clone(),
        Task {
            workflow_id: wf.clone(),
            db_id: uuid::Uuid::new_v4().to_string(),
            user_id: who.user_id.clone(),
            session_uuid,
            query,
            mode: if mode.is_empty() {
                "simple".into()
            } else {
                mode
            },
            context,
            status: "RUNNING",
            result: String::new(),
            error: None,
            created_at: now,
            completed_at: None,
            ctl: Control::default(),
            wake,
        },
    );
    st.order.push(wf.clone());
    st.streams.entry(wf.clone()).or_default();
    drop(st);
    tokio::spawn(run(c.clone(), wf.clone(), script, wake_rx));
    Ok((wf, session_key, now))
}

/// Publishes the script's events one by one, a pause/cancel checkpoint before each.
async fn run(c: Arc<Cloud>, wf: String, script: Script, mut wake: watch::Receiver<u64>) {
    for (i, step) in script.steps.iter().enumerate() {
        // A zero delay publishes at full speed (a sleep, even of zero, waits for the timer's
        // next millisecond tick).
        if script.delay.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(script.delay).await;
        }
        if !checkpoint(&c, &wf, &format!("pre_step_{}", i + 1), &mut wake).await {
            return;
        }
        if step.event_type == "STREAM_END" && c.no_stream_end() {
            continue;
        }
        if step.event_type == "WORKFLOW_COMPLETED" && script.outcome == Outcome::Completed {
            // The status is terminal by the time a client sees the event and polls.
            finish(&c, &wf, "COMPLETED", &script.result(), None);
        }
        c.publish(
            &wf,
            &step.event_type,
            step.agent_id.as_deref(),
            &step.message,
            step.payload.clone(),
        );
    }
    match &script.outcome {
        Outcome::Completed => finish(&c, &wf, "COMPLETED", &script.result(), None),
        Outcome::Failed { error } => finish(&c, &wf, "FAILED", "", Some(error)),
    }
    mark_ended(&c, &wf);
}

/// Cancel stops here; pause blocks here (WORKFLOW_PAUSED once) until resumed or cancelled.
async fn checkpoint(c: &Arc<Cloud>, wf: &str, name: &str, wake: &mut watch::Receiver<u64>) -> bool {
    let mut blocked = false;
    loop {
        let ctl = c.state.lock().unwrap().tasks[wf].ctl.clone();
        if ctl.cancel {
            finish(c, wf, "CANCELLED", "", None);
            let payload = json!({"checkpoint": name, "was_paused": blocked});
            let message = with_text(&ctl.cancel_reason, "Cancelled");
            c.publish(
                wf,
                "WORKFLOW_CANCELLED",
                Some("orchestrator"),
                &message,
                Some(payload),
            );
            if !c.no_stream_end() {
                c.publish(wf, "STREAM_END", Some("orchestrator"), "Done", None);
            }
            mark_ended(c, wf);
            return false;
        }
        if !ctl.pause {
            return true;
        }
        if !blocked {
            c.publish(
                wf,
                "WORKFLOW_PAUSED",
                Some("orchestrator"),
                "Paused",
                Some(json!({"checkpoint": name})),
            );
            blocked = true;
        }
        if wake.changed().await.is_err() {
            return false;
        }
    }
}

fn finish(c: &Cloud, wf: &str, status: &'static str, result: &str, err: Option<&str>) {
    let mut st = c.state.lock().unwrap();
    let t = st.tasks.get_mut(wf).unwrap();
    if is_terminal(t.status) {
        return;
    }
    t.status = status;
    t.result = result.to_string();
    t.error = err.map(str::to_string);
    t.completed_at = Some(Utc::now());
    t.ctl.pause = false;
}

fn mark_ended(c: &Cloud, wf: &str) {
    if let Some(s) = c.state.lock().unwrap().streams.get(wf) {
        s.mark_ended();
    }
}

fn usage_of(t: &Task) -> Option<Value> {
    (t.status == "COMPLETED")
        .then(|| json!({"total_tokens": 150, "input_tokens": 100, "output_tokens": 50, "estimated_cost": 0.00042}))
}

/// `GET /api/v1/tasks/{id}`: `created_at`/`updated_at` are the request time, as in the cloud.
pub async fn status(
    State(c): State<Arc<Cloud>>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    let st = c.state.lock().unwrap();
    let Some(t) = st.tasks.get(&id).filter(|t| t.user_id == who.user_id) else {
        return error(StatusCode::NOT_FOUND, "Task not found");
    };
    let session = st.sessions.iter().find(|s| s.id == t.session_uuid);
    let now = rfc3339(Utc::now());
    let mut body = json!({
        "task_id": t.workflow_id,
        "workflow_id": t.workflow_id,
        "status": format!("TASK_STATUS_{}", t.status),
        "result": t.result,
        "created_at": now,
        "updated_at": now,
        "query": t.query,
        "session_id": session.map(|s| s.external_id.clone().unwrap_or(s.id.clone())),
        "mode": t.mode,
        "context": t.context,
        "metadata": {"task_context": t.context, "citations": [], "model_breakdown": [], "agent_usages": []},
    });
    if let Some(e) = &t.error {
        body["error"] = json!(e);
    }
    if let Some(u) = usage_of(t) {
        body["usage"] = u;
        body["model_used"] = json!("gpt-5-mini");
        body["provider"] = json!("openai");
        body["metadata"]["model_breakdown"] = json!([{
            "model": "gpt-5-mini", "provider": "openai", "executions": 1, "tokens": 150,
            "cost_usd": 0.00042, "percentage": 100,
        }]);
        body["metadata"]["agent_usages"] = json!([{
            "agent_id": "simple-agent", "model": "gpt-5-mini", "input_tokens": 100, "output_tokens": 50,
            "total_tokens": 150, "cache_aware_total_tokens": 150, "cost_usd": 0.00042,
        }]);
    }
    id_headers(Json(body).into_response(), &t.workflow_id, None)
}

/// `limit`/`offset` as the validation middleware checks them: out of range → 400.
pub fn page(
    q: &HashMap<String, String>,
    default: usize,
    max: usize,
) -> Result<(usize, usize), Response> {
    let limit = match q.get("limit") {
        None => default,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    &format!("Invalid limit parameter (must be 1..{max})"),
                )
            })?,
    };
    let offset = match q.get("offset") {
        None => 0,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| error(StatusCode::BAD_REQUEST, "Invalid offset parameter"))?,
    };
    Ok((limit, offset))
}

/// `GET /api/v1/tasks`: newest first, summaries **without** `session_id`; `status=PAUSED` → 400.
pub async fn list(
    State(c): State<Arc<Cloud>>,
    _: Limited,
    Extension(who): Extension<Identity>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (limit, offset) = match page(&q, 20, 100) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let status = match q.get("status").map(|s| s.to_uppercase()) {
        None => None,
        Some(s)
            if [
                "QUEUED",
                "RUNNING",
                "COMPLETED",
                "FAILED",
                "CANCELLED",
                "TIMEOUT",
            ]
            .contains(&s.as_str()) =>
        {
            Some(s)
        }
        Some(s) if s == "CANCELED" => Some("CANCELLED".into()),
        Some(_) => return error(StatusCode::BAD_REQUEST, "Invalid status value"),
    };
    let st = c.state.lock().unwrap();
    let session = q
        .get("session_id")
        .map(|k| find_session(&st.sessions, &who.user_id, k).map(|i| st.sessions[i].id.clone()));
    let all: Vec<&Task> = st
        .order
        .iter()
        .rev()
        .map(|wf| &st.tasks[wf])
        .filter(|t| t.user_id == who.user_id)
        .filter(|t| status.as_deref().is_none_or(|s| s == t.status))
        .filter(|t| {
            session
                .as_ref()
                .is_none_or(|s| s.as_deref() == Some(t.session_uuid.as_str()))
        })
        .collect();
    let tasks: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|t| {
            let mut v = json!({
                "task_id": t.workflow_id,
                "query": t.query,
                "status": format!("TASK_STATUS_{}", t.status),
                "mode": match t.mode.as_str() {
                    "complex" => "EXECUTION_MODE_COMPLEX",
                    "simple" => "EXECUTION_MODE_SIMPLE",
                    _ => "EXECUTION_MODE_STANDARD",
                },
                "created_at": rfc3339(t.created_at),
            });
            if let Some(done) = t.completed_at {
                v["completed_at"] = json!(rfc3339(done));
            }
            if usage_of(t).is_some() {
                v["total_token_usage"] =
                    json!({"total_tokens": 150, "cost_usd": 0.00042, "prompt_tokens": 0, "completion_tokens": 0});
            }
            v
        })
        .collect();
    Json(json!({"tasks": tasks, "total_count": all.len()})).into_response()
}

/// `GET /api/v1/tasks/{id}/events`: the persisted rows only (no deltas, no prompts), pages ≤ 200,
/// `count` = this page; no ownership check (as in the cloud).
pub async fn events(
    State(c): State<Arc<Cloud>>,
    _: Limited,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (limit, offset) = match page(&q, 50, 200) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let st = c.state.lock().unwrap();
    let rows: Vec<Value> = st
        .streams
        .get(&id)
        .map(|s| {
            s.persisted
                .iter()
                .skip(offset)
                .take(limit)
                .map(events::CloudEvent::to_json)
                .collect()
        })
        .unwrap_or_default();
    Json(json!({"count": rows.len(), "events": rows})).into_response()
}

/// `GET /api/v1/tasks/{id}/stream` → 307 to the SSE route (only `types`/`last_event_id` kept).
pub async fn redirect_to_stream(
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut url = format!("/api/v1/stream/sse?workflow_id={id}");
    for k in ["types", "last_event_id"] {
        if let Some(v) = q.get(k) {
            url.push_str(&format!("&{k}={v}"));
        }
    }
    Redirect::temporary(&url).into_response()
}

fn reason_of(body: &Bytes) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("reason").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default()
}

fn state_word(status: &str) -> &'static str {
    match status {
        "COMPLETED" => "completed",
        "FAILED" => "failed",
        "CANCELLED" => "cancelled",
        _ => "timed out",
    }
}

/// Looks up the caller's task and applies `f` under the lock; 404 when absent or not theirs.
fn control<F>(c: &Cloud, who: &Identity, id: &str, f: F) -> Result<Response, Response>
where
    F: FnOnce(&mut Task) -> Result<(Response, Option<(&'static str, String)>), Response>,
{
    let mut st = c.state.lock().unwrap();
    let Some(t) = st.tasks.get_mut(id).filter(|t| t.user_id == who.user_id) else {
        return Err(error(StatusCode::NOT_FOUND, "Task not found"));
    };
    let (resp, event) = f(t)?;
    t.wake.send_modify(|n| *n += 1);
    drop(st);
    if let Some((kind, message)) = event {
        c.publish(id, kind, Some("orchestrator"), &message, None);
    }
    Ok(resp)
}

fn accepted(body: Value) -> Response {
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// `POST …/pause` → 202; a finished or paused task → **502** (the orchestrator's FailedPrecondition).
pub async fn pause(
    State(c): State<Arc<Cloud>>,
    _: Limited,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let reason = reason_of(&body);
    control(&c, &who, &id, |t| {
        if is_terminal(t.status) {
            return Err(error(
                StatusCode::BAD_GATEWAY,
                &format!("cannot pause {} task", state_word(t.status)),
            ));
        }
        if t.ctl.pause {
            return Err(error(StatusCode::BAD_GATEWAY, "task is already paused"));
        }
        t.ctl.pause = true;
        t.ctl.paused_at = Some(Utc::now());
        t.ctl.pause_reason = reason.clone();
        t.ctl.paused_by = who.user_id.clone();
        t.status = "PAUSED";
        let body =
            json!({"success": true, "message": "Pause signal sent", "task_id": t.workflow_id});
        Ok((
            accepted(body),
            Some(("WORKFLOW_PAUSING", with_text(&reason, "Pausing"))),
        ))
    })
    .unwrap_or_else(|r| r)
}

pub async fn resume(
    State(c): State<Arc<Cloud>>,
    _: Limited,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let reason = reason_of(&body);
    control(&c, &who, &id, |t| {
        if is_terminal(t.status) {
            return Err(error(
                StatusCode::BAD_GATEWAY,
                &format!("cannot resume {} task", state_word(t.status)),
            ));
        }
        if !t.ctl.pause {
            return Err(error(StatusCode::BAD_GATEWAY, "task is not paused"));
        }
        t.ctl.pause = false;
        t.ctl.paused_at = None;
        t.status = "RUNNING";
        let body =
            json!({"success": true, "message": "Resume signal sent", "task_id": t.workflow_id});
        Ok((
            accepted(body),
            Some(("WORKFLOW_RESUMED", with_text(&reason, "Resuming"))),
        ))
    })
    .unwrap_or_else(|r| r)
}

/// `POST …/cancel` → 202; a finished task is still 202 with `success:false`.
pub async fn cancel(
    State(c): State<Arc<Cloud>>,
    _: Limited,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let reason = reason_of(&body);
    control(&c, &who, &id, |t| {
        if is_terminal(t.status) {
            let body = json!({"success": false, "message": "Failed to cancel task: workflow execution already completed"});
            return Ok((accepted(body), None));
        }
        let first = !t.ctl.cancel;
        t.ctl.cancel = true;
        t.ctl.cancel_reason = reason.clone();
        t.ctl.cancelled_by = who.user_id.clone();
        let event = first.then(|| ("WORKFLOW_CANCELLING", with_text(&reason, "Cancelling")));
        Ok((accepted(json!({"success": true, "message": "Task cancelled successfully"})), event))
    })
    .unwrap_or_else(|r| r)
}

/// `GET …/control-state`: every key always present; a finished workflow answers the defaults.
pub async fn control_state(
    State(c): State<Arc<Cloud>>,
    _: Limited,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    let st = c.state.lock().unwrap();
    let Some(t) = st.tasks.get(&id).filter(|t| t.user_id == who.user_id) else {
        return error(StatusCode::NOT_FOUND, "Task not found");
    };
    let ctl = if is_terminal(t.status) {
        Control::default()
    } else {
        t.ctl.clone()
    };
    Json(json!({
        "is_paused": ctl.pause,
        "is_cancelled": ctl.cancel,
        "paused_at": ctl.paused_at.map(rfc3339).unwrap_or_default(),
        "pause_reason": ctl.pause_reason,
        "paused_by": ctl.paused_by,
        "cancel_reason": ctl.cancel_reason,
        "cancelled_by": ctl.cancelled_by,
    }))
    .into_response()
}

/// `POST /api/v1/swarm/{id}/message` `{message}`: kept for the lead of a running task of the
/// caller's (the fake runs no swarm; it records what it was sent); a finished one is 409.
pub async fn swarm_message(
    State(c): State<Arc<Cloud>>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let message = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    if message.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, "message is required");
    }
    let mut st = c.state.lock().unwrap();
    let Some(t) = st.tasks.get(&id).filter(|t| t.user_id == who.user_id) else {
        return error(StatusCode::NOT_FOUND, "Task not found");
    };
    if is_terminal(t.status) {
        return error(StatusCode::CONFLICT, "the task is not a running swarm");
    }
    st.swarm_messages.push((id, message));
    Json(json!({"success": true, "status": "sent"})).into_response()
}

/// `POST /api/v1/approvals/decision`: the cloud's APPROVAL_REQUESTED carries no id, so no id a
/// client could send matches anything.
pub async fn approval_decision(
    State(c): State<Arc<Cloud>>,
    _: Limited,
    Extension(who): Extension<Identity>,
    body: Bytes,
) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (wf, id) = (field("workflow_id"), field("approval_id"));
    if wf.is_empty() || id.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "workflow_id and approval_id are required",
        );
    }
    // v0.5.1 never emits an id; a build that does answers for the ids it emitted.
    let mine = c
        .state
        .lock()
        .unwrap()
        .tasks
        .get(&wf)
        .is_some_and(|t| t.user_id == who.user_id);
    let asked = mine
        && c.emitted(&wf).iter().any(|e| {
            e.event_type == "APPROVAL_REQUESTED"
                && e.payload.as_ref().and_then(|p| p.get("approval_id")) == Some(&json!(id))
        });
    if !asked {
        return error(StatusCode::NOT_FOUND, "Workflow or approval not found");
    }
    let approved = v.get("approved").and_then(Value::as_bool).unwrap_or(false);
    c.state
        .lock()
        .unwrap()
        .approval_decisions
        .push((wf.clone(), id.clone(), approved));
    Json(
        json!({"status": "sent", "success": true, "message": "Approval decision sent",
        "workflow_id": wf, "run_id": "", "approval_id": id}),
    )
    .into_response()
}
