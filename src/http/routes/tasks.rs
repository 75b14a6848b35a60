//! Tasks: submit (the cloud's body or the desktop frontend's legacy one), list, read, control.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;

use super::{App, Params, page};
use crate::core::ShannonError;
use crate::core::tasks::SubmitTaskRequest;
use crate::core::tasks::control::{ControlResponse, ControlState};
use crate::core::tasks::progress::{TaskOutput, TaskProgress};
use crate::core::tasks::read::{ListTasksQuery, TaskDetails, TaskEventsPage, TaskList};
use crate::core::tasks::submit::{SubmitTaskResponse, stream_url};
use crate::http::ApiError;
use crate::http::dto::{ControlRequest, LegacySubmitRequest, TaskStreamStarted};
use crate::http::extract::{
    ApiJson, ApiPath, ApiQuery, Authed, BodyRejection, JsonOrDefault, from_value,
};

/// A submission body: the cloud's, or the desktop frontend's legacy alias mapped onto it.
pub(super) struct Submission(SubmitTaskRequest);

impl<S: Send + Sync> FromRequest<S> for Submission {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ApiJson(raw) = ApiJson::<Value>::from_request(req, state)
            .await
            .map_err(BodyRejection::into_response)?;
        let task = if LegacySubmitRequest::matches(&raw) {
            from_value::<LegacySubmitRequest>(raw).map(LegacySubmitRequest::into_cloud)
        } else {
            from_value(raw)
        };
        // The listener never forwards to a Shannon cloud: its tasks run here.
        task.and_then(|t| t.here_only().map_err(ApiError::from))
            .map(Submission)
            .map_err(ApiError::into_response)
    }
}

/// The `{id}` of a task route. One that is not UTF-8 once percent-decoded (`%FF%FE`) fails the id
/// rule like any other malformed id (see docs/upstream.md#tasks-and-submission), not with the
/// generic path error.
pub(super) struct TaskId(pub(super) String);

impl<S: Send + Sync> FromRequestParts<S> for TaskId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match ApiPath::<String>::from_request_parts(parts, state).await {
            Ok(ApiPath(id)) => Ok(TaskId(id)),
            Err(e) if e.status() == StatusCode::BAD_REQUEST => {
                Err(ShannonError::invalid("Invalid task ID format").into())
            }
            Err(e) => Err(e),
        }
    }
}

fn idempotency_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
}

/// `X-Workflow-ID`, `X-Session-ID` (and its Shannon alias), and `X-Idempotency-Cached` on a replay.
fn with_task_headers(mut resp: Response, submitted: &SubmitTaskResponse) -> Response {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&submitted.workflow_id) {
        h.insert("x-workflow-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&submitted.session_id) {
        h.insert("x-session-id", v.clone());
        h.insert("x-shannon-session-id", v);
    }
    if submitted.idempotent_replay {
        h.insert("x-idempotency-cached", HeaderValue::from_static("true"));
    }
    resp
}

pub(super) async fn submit(
    State(app): App,
    Authed(who): Authed,
    headers: HeaderMap,
    Submission(req): Submission,
) -> Result<Response, ApiError> {
    let submitted = app
        .core
        .submit_task(&who, req, idempotency_key(&headers))
        .await?;
    Ok(with_task_headers(
        Json(&submitted).into_response(),
        &submitted,
    ))
}

/// As `submit`, answered 201 with the stream URL (also as `Link: <…>; rel=stream`).
pub(super) async fn submit_stream(
    State(app): App,
    Authed(who): Authed,
    headers: HeaderMap,
    Submission(req): Submission,
) -> Result<Response, ApiError> {
    let submitted = app
        .core
        .submit_task(&who, req, idempotency_key(&headers))
        .await?;
    let started = TaskStreamStarted {
        workflow_id: submitted.workflow_id.clone(),
        task_id: submitted.task_id.clone(),
        stream_url: submitted.stream_url.clone(),
    };
    let mut resp = with_task_headers(
        (StatusCode::CREATED, Json(started)).into_response(),
        &submitted,
    );
    if let Ok(v) = HeaderValue::from_str(&format!("<{}>; rel=stream", submitted.stream_url)) {
        resp.headers_mut().insert(header::LINK, v);
    }
    Ok(resp)
}

pub(super) async fn list(
    State(app): App,
    Authed(who): Authed,
    ApiQuery(q): Params,
) -> Result<Json<TaskList>, ApiError> {
    let (limit, offset) = page(&q, 20, 100)?;
    let query = ListTasksQuery {
        limit: Some(limit),
        offset: Some(offset),
        session_id: q.get("session_id").cloned(),
        status: q.get("status").cloned(),
    };
    Ok(Json(app.core.list_tasks(&who, query).await?))
}

pub(super) async fn get(
    State(app): App,
    Authed(who): Authed,
    TaskId(id): TaskId,
) -> Result<Response, ApiError> {
    let task: TaskDetails = app.core.get_task(&who, &id).await?;
    let workflow = HeaderValue::from_str(&task.workflow_id).ok();
    let mut resp = Json(task).into_response();
    if let Some(v) = workflow {
        resp.headers_mut().insert("x-workflow-id", v);
    }
    Ok(resp)
}

pub(super) async fn events(
    State(app): App,
    Authed(who): Authed,
    TaskId(id): TaskId,
    ApiQuery(q): Params,
) -> Result<Response, ApiError> {
    let (limit, offset) = page(&q, 50, 200)?;
    let events: TaskEventsPage = app
        .core
        .get_task_events(&who, &id, Some(limit), Some(offset))
        .await?;
    let pending = events.pending;
    let mut resp = Json(events).into_response();
    if pending {
        // The page's `pending` field, for clients that look at headers only.
        resp.headers_mut()
            .insert(EVENTS_PENDING, HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// Set on an events page when some of the task's emitted events are not stored yet.
const EVENTS_PENDING: &str = "x-shannon-events-pending";

/// Redirects to the task's SSE URL, passing `types` and `last_event_id` on (sanitized).
pub(super) async fn stream_redirect(
    State(app): App,
    Authed(who): Authed,
    TaskId(id): TaskId,
    ApiQuery(q): Params,
) -> Result<Redirect, ApiError> {
    let task = app.core.get_task(&who, &id).await?;
    let mut url = stream_url(&task.workflow_id);
    for key in ["types", "last_event_id"] {
        if let Some(v) = q.get(key) {
            let v: String = v
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, ',' | '_' | '-'))
                .collect();
            url.push_str(&format!("&{key}={v}"));
        }
    }
    Ok(Redirect::temporary(&url))
}

type Accepted = Result<(StatusCode, Json<ControlResponse>), ApiError>;

pub(super) async fn pause(
    State(app): App,
    Authed(who): Authed,
    TaskId(id): TaskId,
    JsonOrDefault(body): JsonOrDefault<ControlRequest>,
) -> Accepted {
    let r = app.core.pause_task(&who, &id, body.reason).await?;
    Ok((StatusCode::ACCEPTED, Json(r)))
}

pub(super) async fn resume(
    State(app): App,
    Authed(who): Authed,
    TaskId(id): TaskId,
    JsonOrDefault(body): JsonOrDefault<ControlRequest>,
) -> Accepted {
    let r = app.core.resume_task(&who, &id, body.reason).await?;
    Ok((StatusCode::ACCEPTED, Json(r)))
}

pub(super) async fn cancel(
    State(app): App,
    Authed(who): Authed,
    TaskId(id): TaskId,
    JsonOrDefault(body): JsonOrDefault<ControlRequest>,
) -> Accepted {
    let r = app.core.cancel_task(&who, &id, body.reason).await?;
    Ok((StatusCode::ACCEPTED, Json(r)))
}

pub(super) async fn control_state(
    State(app): App,
    Authed(who): Authed,
    TaskId(id): TaskId,
) -> Result<Json<ControlState>, ApiError> {
    Ok(Json(app.core.get_control_state(&who, &id).await?))
}

pub(super) async fn progress(
    State(app): App,
    Authed(who): Authed,
    TaskId(id): TaskId,
) -> Result<Json<TaskProgress>, ApiError> {
    Ok(Json(app.core.get_task_progress(&who, &id).await?))
}

pub(super) async fn output(
    State(app): App,
    Authed(who): Authed,
    TaskId(id): TaskId,
) -> Result<Json<TaskOutput>, ApiError> {
    Ok(Json(app.core.get_task_output(&who, &id).await?))
}

pub(super) async fn timeline(
    State(app): App,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): Params,
) -> Result<Json<crate::core::tasks::timeline::Timeline>, ApiError> {
    let mode = q.get("mode").map(String::as_str);
    let payloads = q.get("include_payloads").is_some_and(|v| v == "true");
    Ok(Json(
        app.core.task_timeline(&who, &id, mode, payloads).await?,
    ))
}
