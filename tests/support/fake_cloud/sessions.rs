//! Sessions (made implicitly by submit; found by UUID or the client's own id), schedules with the
//! cloud's limits, and the small routes: health, readiness, `auth/me`, `/v1/llm-models`.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Cloud;
use super::auth::{Identity, Limited, error};
use super::events::rfc3339;
use super::tasks::{Task, page};

pub struct Session {
    /// The internal UUID (what list/get return as `session_id`).
    pub id: String,
    /// The client's id when it was not a UUID (kept in `context.external_id`).
    pub external_id: Option<String>,
    pub user_id: String,
    pub title: Option<String>,
    pub created_at: DateTime<Utc>,
    pub deleted: bool,
}

impl Session {
    pub fn new(key: &str, user_id: &str, first_query: &str) -> Self {
        let is_uuid = uuid::Uuid::parse_str(key).is_ok();
        Self {
            id: if is_uuid {
                key.to_string()
            } else {
                uuid::Uuid::new_v4().to_string()
            },
            external_id: (!is_uuid).then(|| key.to_string()),
            user_id: user_id.to_string(),
            // The cloud's title activity names a session after its first query.
            title: Some(first_query.chars().take(60).collect()),
            created_at: Utc::now(),
            deleted: false,
        }
    }
}

/// A live session of `user` whose UUID or external id is `key`.
pub fn find_session(sessions: &[Session], user: &str, key: &str) -> Option<usize> {
    sessions.iter().position(|s| {
        !s.deleted && s.user_id == user && (s.id == key || s.external_id.as_deref() == Some(key))
    })
}

fn tasks_of<'a>(st: &'a super::State, session_uuid: &str) -> Vec<&'a Task> {
    st.order
        .iter()
        .map(|wf| &st.tasks[wf])
        .filter(|t| t.session_uuid == session_uuid)
        .collect()
}

fn context_of(s: &Session) -> Value {
    let mut c = json!({});
    if let Some(e) = &s.external_id {
        c["external_id"] = json!(e);
    }
    if let Some(t) = &s.title {
        c["title"] = json!(t);
    }
    c
}

fn summary(st: &super::State, s: &Session) -> Value {
    let tasks = tasks_of(st, &s.id);
    let ok = tasks.iter().filter(|t| t.status == "COMPLETED").count();
    let failed = tasks.iter().filter(|t| t.status == "FAILED").count();
    let tokens = ok * 150;
    let latest = tasks.last();
    let last_activity = tasks.iter().filter_map(|t| t.completed_at).max();
    let mut v = json!({
        "session_id": s.id,
        "user_id": s.user_id,
        "task_count": tasks.len(),
        "tokens_used": tokens,
        "token_budget": 10000,
        "created_at": rfc3339(s.created_at),
        "updated_at": rfc3339(last_activity.unwrap_or(s.created_at)),
        "context": context_of(s),
        "is_active": true,
        "successful_tasks": ok,
        "failed_tasks": failed,
        "total_cost_usd": ok as f64 * 0.00042,
        "is_near_budget_limit": false,
        "is_research_session": false,
    });
    if let Some(t) = &s.title {
        v["title"] = json!(t);
    }
    if let Some(t) = latest {
        v["latest_task_query"] = json!(t.query);
        v["latest_task_status"] = json!(t.status); // unprefixed, unlike the task routes
    }
    if let Some(at) = last_activity {
        v["last_activity_at"] = json!(rfc3339(at));
    }
    v
}

/// `GET /api/v1/sessions`: invalid paging silently falls back to the defaults (unlike tasks).
pub async fn list(
    State(c): State<Arc<Cloud>>,
    _: Limited,
    Extension(who): Extension<Identity>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let limit = q
        .get("limit")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| (1..=100).contains(n))
        .unwrap_or(20);
    let offset = q
        .get("offset")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let st = c.state.lock().unwrap();
    let mine: Vec<&Session> = st
        .sessions
        .iter()
        .rev()
        .filter(|s| !s.deleted && s.user_id == who.user_id)
        .collect();
    let page: Vec<Value> = mine
        .iter()
        .skip(offset)
        .take(limit)
        .map(|s| summary(&st, s))
        .collect();
    Json(json!({"sessions": page, "total_count": mine.len()})).into_response()
}

macro_rules! session_or_404 {
    ($st:expr, $who:expr, $id:expr) => {
        match find_session(&$st.sessions, &$who.user_id, &$id) {
            Some(i) => &$st.sessions[i],
            None => return error(StatusCode::NOT_FOUND, "Session not found"),
        }
    };
}

/// `GET /api/v1/sessions/{id}` (UUID or external id); no top-level title: it is `context.title`.
pub async fn get_one(
    State(c): State<Arc<Cloud>>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    let st = c.state.lock().unwrap();
    let s = session_or_404!(st, who, id);
    let tasks = tasks_of(&st, &s.id);
    Json(json!({
        "session_id": s.id,
        "user_id": s.user_id,
        "context": context_of(s),
        "token_budget": 10000,
        "tokens_used": tasks.iter().filter(|t| t.status == "COMPLETED").count() * 150,
        "task_count": tasks.len(),
        "created_at": rfc3339(s.created_at),
        "is_research_session": false,
    }))
    .into_response()
}

/// `GET …/history`: every task, ascending, `task_id` being the DB UUID and statuses unprefixed.
pub async fn history(
    State(c): State<Arc<Cloud>>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    let st = c.state.lock().unwrap();
    let s = session_or_404!(st, who, id);
    let tasks: Vec<Value> = tasks_of(&st, &s.id)
        .iter()
        .map(|t| {
            let mut v = json!({
                "task_id": t.db_id,
                "workflow_id": t.workflow_id,
                "query": t.query,
                "status": t.status,
                "mode": t.mode,
                "total_tokens": if t.status == "COMPLETED" { 150 } else { 0 },
                "total_cost_usd": if t.status == "COMPLETED" { 0.00042 } else { 0.0 },
                "agents_used": 1,
                "tools_invoked": 0,
                "started_at": rfc3339(t.created_at),
            });
            if !t.result.is_empty() {
                v["result"] = json!(t.result);
            }
            if let Some(e) = &t.error {
                v["error_message"] = json!(e);
            }
            if let Some(done) = t.completed_at {
                v["completed_at"] = json!(rfc3339(done));
                v["duration_ms"] = json!((done - t.created_at).num_milliseconds());
            }
            v
        })
        .collect();
    Json(json!({"session_id": id, "total": tasks.len(), "tasks": tasks})).into_response()
}

/// `GET …/events`: pages of turns; `payload` is a JSON **string** (with `include_payload=true`).
pub async fn session_events(
    State(c): State<Arc<Cloud>>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (limit, offset) = match page(&q, 10, 100) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let with_payload = q.get("include_payload").is_some_and(|v| v == "true");
    let st = c.state.lock().unwrap();
    let s = session_or_404!(st, who, id);
    let tasks = tasks_of(&st, &s.id);
    let stored = |t: &Task| {
        st.streams
            .get(&t.workflow_id)
            .map(|s| s.persisted.clone())
            .unwrap_or_default()
    };
    if tasks.iter().map(|t| stored(t).len()).sum::<usize>() > 5000 {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "Session has too many events");
    }
    let turns: Vec<Value> = tasks
        .iter()
        .enumerate()
        .skip(offset)
        .take(limit)
        .map(|(i, t)| {
            let events: Vec<Value> = stored(t)
                .iter()
                .map(|e| {
                    let mut v = e.to_json();
                    match v.as_object_mut().unwrap().remove("payload") {
                        Some(p) if with_payload => v["payload"] = json!(p.to_string()),
                        _ => {}
                    }
                    v
                })
                .collect();
            json!({
                "turn": i + 1,
                "task_id": t.db_id,
                "user_query": t.query,
                "final_output": t.result,
                "timestamp": rfc3339(t.created_at),
                "events": events,
                "metadata": {"tokens_used": 150, "execution_time_ms": 0, "agents_involved": ["simple-agent"]},
            })
        })
        .collect();
    Json(json!({"session_id": id, "count": tasks.len(), "turns": turns})).into_response()
}

/// `PATCH …{title}`: trimmed, control characters stripped, 1..60 characters.
pub async fn rename(
    State(c): State<Arc<Cloud>>,
    _: Limited,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    let title: String = v
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let title = title.trim().to_string();
    if title.is_empty() {
        return error(StatusCode::BAD_REQUEST, "Title cannot be empty");
    }
    if title.chars().count() > 60 {
        return error(
            StatusCode::BAD_REQUEST,
            "Title must be 60 characters or less",
        );
    }
    let mut st = c.state.lock().unwrap();
    let Some(i) = find_session(&st.sessions, &who.user_id, &id) else {
        return error(StatusCode::NOT_FOUND, "Session not found");
    };
    st.sessions[i].title = Some(title.clone());
    Json(json!({"session_id": st.sessions[i].id, "title": title})).into_response()
}

/// `DELETE`: 204, also for an already deleted session; 404 only if it never existed.
pub async fn delete(
    State(c): State<Arc<Cloud>>,
    _: Limited,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    let mut st = c.state.lock().unwrap();
    let mut found = false;
    for s in st.sessions.iter_mut().filter(|s| s.user_id == who.user_id) {
        if s.id == id || s.external_id.as_deref() == Some(id.as_str()) {
            s.deleted = true;
            found = true;
        }
    }
    if found {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(StatusCode::NOT_FOUND, "Session not found")
    }
}

pub struct Schedule {
    pub id: String,
    pub user_id: String,
    pub body: Value,
    pub status: &'static str,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The next fire time, after checking the 5-field cron, the zone and the minimum interval.
fn next_run(c: &Cloud, cron: &str, tz: &str) -> Result<Option<DateTime<Utc>>, String> {
    let zone = chrono_tz::Tz::from_str(tz).map_err(|_| format!("invalid timezone: {tz}"))?;
    if cron.split_whitespace().count() != 5 || cron.contains('@') {
        return Err(format!(
            "invalid cron expression: expected 5 fields, got {cron:?}"
        ));
    }
    let parsed = croner::Cron::new(cron)
        .parse()
        .map_err(|e| format!("invalid cron expression: {e}"))?;
    let after = |t: DateTime<Utc>| {
        parsed
            .find_next_occurrence(&t.with_timezone(&zone), false)
            .ok()
            .map(|x| x.with_timezone(&Utc))
    };
    let first = after(Utc::now());
    if let Some(second) = first.and_then(after)
        && (second - first.unwrap()).num_minutes() < c.cfg.schedule_min_interval_mins
    {
        return Err(format!(
            "cron interval too short: must be at least {} minutes",
            c.cfg.schedule_min_interval_mins
        ));
    }
    Ok(first)
}

fn check_budget(c: &Cloud, v: &Value) -> Result<(), String> {
    match v.get("max_budget_per_run_usd").and_then(Value::as_f64) {
        Some(b) if !(0.0..=c.cfg.schedule_max_budget_usd).contains(&b) => Err(format!(
            "budget exceeds limit: max ${:.2} per run",
            c.cfg.schedule_max_budget_usd
        )),
        _ => Ok(()),
    }
}

fn info(c: &Cloud, s: &Schedule) -> Value {
    let mut v = json!({
        "schedule_id": s.id,
        "status": s.status,
        "created_at": s.created_at.to_rfc3339(),
        "updated_at": s.updated_at.to_rfc3339(),
        "timezone": "UTC",
        "timeout_seconds": 3600,
    });
    for (k, x) in s.body.as_object().unwrap() {
        v[k] = x.clone();
    }
    let (cron, tz) = (
        v["cron_expression"].as_str().unwrap_or(""),
        v["timezone"].as_str().unwrap_or("UTC"),
    );
    if let (Ok(Some(next)), "ACTIVE") = (next_run(c, cron, tz), s.status) {
        v["next_run_at"] = json!(next.to_rfc3339());
    }
    // Go's omitempty: zero and empty values are left out.
    v.as_object_mut()
        .unwrap()
        .retain(|_, x| !(x.is_null() || *x == json!("") || *x == json!(0) || *x == json!({})));
    v
}

pub async fn create_schedule(
    State(c): State<Arc<Cloud>>,
    _: Limited,
    Extension(who): Extension<Identity>,
    body: Bytes,
) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Invalid request body");
    };
    let text = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    if text("name").is_empty() {
        return error(StatusCode::BAD_REQUEST, "schedule name required");
    }
    if text("task_query").is_empty() {
        return error(StatusCode::BAD_REQUEST, "task query required");
    }
    let tz = Some(text("timezone"))
        .filter(|t| !t.is_empty())
        .unwrap_or("UTC".into());
    let next = match next_run(&c, &text("cron_expression"), &tz)
        .and_then(|n| check_budget(&c, &v).map(|_| n))
    {
        Ok(n) => n,
        Err(m) => return error(StatusCode::BAD_REQUEST, &m),
    };
    let mut st = c.state.lock().unwrap();
    if st
        .schedules
        .iter()
        .filter(|s| s.user_id == who.user_id)
        .count()
        >= c.cfg.schedule_max_per_user
    {
        let m = format!(
            "schedule limit reached: max {} schedules per user",
            c.cfg.schedule_max_per_user
        );
        return error(StatusCode::TOO_MANY_REQUESTS, &m);
    }
    let id = uuid::Uuid::new_v4().to_string();
    let mut body = v.clone();
    body["timezone"] = json!(tz);
    let now = Utc::now();
    st.schedules.push(Schedule {
        id: id.clone(),
        user_id: who.user_id.clone(),
        body,
        status: "ACTIVE",
        created_at: now,
        updated_at: now,
    });
    let next = next.map(|n| n.to_rfc3339()).unwrap_or_default();
    (StatusCode::CREATED, Json(json!({"schedule_id": id, "message": "Schedule created successfully", "next_run_at": next})))
        .into_response()
}

pub async fn list_schedules(
    State(c): State<Arc<Cloud>>,
    _: Limited,
    Extension(who): Extension<Identity>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let page = q
        .get("page")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(1);
    let size = q
        .get("page_size")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| (1..=100).contains(n))
        .unwrap_or(50);
    let want = q
        .get("status")
        .map(|s| s.to_uppercase())
        .filter(|s| s == "ACTIVE" || s == "PAUSED");
    let st = c.state.lock().unwrap();
    let mine: Vec<Value> = st
        .schedules
        .iter()
        .filter(|s| s.user_id == who.user_id && want.as_deref().is_none_or(|w| w == s.status))
        .map(|s| info(&c, s))
        .collect();
    let total = mine.len();
    let items: Vec<Value> = mine
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .collect();
    // omitempty: an empty list leaves out `schedules` and `total_count`.
    let mut v = json!({"page": page, "page_size": size});
    if !items.is_empty() {
        v["schedules"] = json!(items);
    }
    if total > 0 {
        v["total_count"] = json!(total);
    }
    Json(v).into_response()
}

/// Finds the caller's schedule; a non-UUID id is a 500 (`invalid schedule ID`) as in the cloud.
fn schedule_index(st: &super::State, who: &Identity, id: &str) -> Result<usize, Response> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "invalid schedule ID",
        ));
    }
    st.schedules
        .iter()
        .position(|s| s.id == id && s.user_id == who.user_id)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "Schedule not found"))
}

pub async fn get_schedule(
    State(c): State<Arc<Cloud>>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    let st = c.state.lock().unwrap();
    match schedule_index(&st, &who, &id) {
        Ok(i) => Json(info(&c, &st.schedules[i])).into_response(),
        Err(r) => r,
    }
}

pub async fn update_schedule(
    State(c): State<Arc<Cloud>>,
    _: Limited,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(patch) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Invalid request body");
    };
    let mut st = c.state.lock().unwrap();
    let i = match schedule_index(&st, &who, &id) {
        Ok(i) => i,
        Err(r) if r.status() == StatusCode::INTERNAL_SERVER_ERROR => {
            return error(StatusCode::BAD_REQUEST, "invalid schedule ID");
        }
        Err(r) => return r,
    };
    let mut merged = st.schedules[i].body.clone();
    for (k, v) in patch.as_object().into_iter().flatten() {
        match k.as_str() {
            "clear_task_context" if v == &json!(true) => merged["task_context"] = json!({}),
            "task_context" if v.as_object().is_some_and(|o| o.is_empty()) => {}
            "timezone" if v == &json!("") => {
                return error(StatusCode::BAD_REQUEST, "invalid timezone: ");
            }
            _ => merged[k] = v.clone(),
        }
    }
    let (cron, tz) = (
        merged["cron_expression"].as_str().unwrap_or(""),
        merged["timezone"].as_str().unwrap_or("UTC"),
    );
    let next = match next_run(&c, cron, tz).and_then(|n| check_budget(&c, &merged).map(|_| n)) {
        Ok(n) => n,
        Err(m) => return error(StatusCode::BAD_REQUEST, &m),
    };
    st.schedules[i].body = merged;
    st.schedules[i].updated_at = Utc::now();
    let mut v = json!({"success": true, "message": "Schedule updated successfully"});
    if let Some(n) = next {
        v["next_run_at"] = json!(n.to_rfc3339());
    }
    Json(v).into_response()
}

fn set_status(
    c: &Cloud,
    who: &Identity,
    id: &str,
    status: &'static str,
    message: &str,
) -> Response {
    let mut st = c.state.lock().unwrap();
    match schedule_index(&st, who, id) {
        Ok(i) => {
            st.schedules[i].status = status;
            Json(json!({"success": true, "message": message})).into_response()
        }
        Err(r) => r,
    }
}

pub async fn pause_schedule(
    State(c): State<Arc<Cloud>>,
    _: Limited,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    set_status(&c, &who, &id, "PAUSED", "Schedule paused")
}

pub async fn resume_schedule(
    State(c): State<Arc<Cloud>>,
    _: Limited,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    set_status(&c, &who, &id, "ACTIVE", "Schedule resumed")
}

pub async fn delete_schedule(
    State(c): State<Arc<Cloud>>,
    _: Limited,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    let mut st = c.state.lock().unwrap();
    match schedule_index(&st, &who, &id) {
        Ok(i) => {
            st.schedules.remove(i);
            Json(json!({"success": true, "message": "Schedule deleted successfully"}))
                .into_response()
        }
        Err(r) => r,
    }
}

/// No run ever fires in the fake (no Temporal): an empty history.
pub async fn schedule_runs(
    State(c): State<Arc<Cloud>>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let st = c.state.lock().unwrap();
    if let Err(r) = schedule_index(&st, &who, &id) {
        return r;
    }
    let page = q
        .get("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1);
    Json(json!({"runs": [], "total_count": 0, "page": page, "page_size": 20})).into_response()
}

pub async fn health() -> Response {
    // Always 0.1.0: the version tells a client nothing about what the server can do.
    Json(json!({"status": "healthy", "version": "0.1.0", "time": rfc3339(Utc::now()), "checks": {"gateway": "ok"}}))
        .into_response()
}

pub async fn readiness() -> Response {
    Json(json!({"status": "ready", "version": "0.1.0", "time": rfc3339(Utc::now()), "checks": {"orchestrator": "ok"}}))
        .into_response()
}

pub async fn me(State(c): State<Arc<Cloud>>, Extension(who): Extension<Identity>) -> Response {
    let limit = c.cfg.rate_limit;
    Json(json!({
        "user_id": who.user_id,
        "tenant_id": who.tenant_id,
        "email": "dev@fake.shannon.local",
        "username": "fake-dev",
        "name": "Fake Cloud User",
        "tier": "free",
        "quotas": {"monthly_tokens": 1_000_000, "monthly_usage": 0, "rate_limit_minute": limit, "rate_limit_hour": 1000},
        "rate_limits": {"minute": {"limit": limit, "remaining": limit}, "hour": {"limit": 1000, "remaining": 1000}},
    }))
    .into_response()
}

pub async fn llm_models(Query(q): Query<HashMap<String, String>>) -> Response {
    let all = [
        ("gpt-5-mini", "openai", "small", 1),
        ("claude-sonnet-4-5", "anthropic", "medium", 1),
        ("gpt-5", "openai", "large", 1),
    ];
    let models: Vec<Value> = all
        .iter()
        .filter(|m| q.get("tier").is_none_or(|t| t == m.2))
        .map(|(id, p, tier, prio)| json!({"id": id, "provider": p, "tier": tier, "priority": prio}))
        .collect();
    Json(json!({"models": models})).into_response()
}
