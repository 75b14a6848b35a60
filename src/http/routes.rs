//! The cloud's routes (contract §2–§3, §7) plus the embedded-only settings routes. Each handler parses,
//! calls the core once and maps the result.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use super::dto::{
    Ack, ControlRequest, Health, HealthChecks, LegacySubmitRequest, ProviderKeySaved, Readiness,
    ReadinessChecks, RefreshRequest, RefreshedApiKey, RenameSessionRequest, SetProviderKeyRequest,
    SetSettingRequest, TaskStreamStarted, UserSetting,
};
use super::extract::{ApiJson, Authed, JsonOrDefault, from_value};
use super::{ApiError, AppState, MAX_BODY_BYTES, layers, openapi, sse};
use crate::core::auth::api_keys::CreateApiKeyRequest;
use crate::core::auth::{Caller, LoginRequest, RegisterRequest};
use crate::core::crypto::SecretString;
use crate::core::engine::SubmitTaskRequest;
use crate::core::engine::submit::stream_url;
use crate::core::engine::tasks::ListTasksQuery;
use crate::core::schedules::ScheduleRequest;
use crate::core::time;

type S = State<Arc<AppState>>;
type Q = Query<HashMap<String, String>>;
type ApiResult = Result<Response, ApiError>;

/// The routes inside the door's layers. A request meets the layers in the order listed (axum runs
/// the last `.layer` first): Host, Origin, announced body size, CORS, then authentication.
pub(super) fn router(state: Arc<AppState>) -> Router {
    let public = Router::new()
        .route("/health", get(health))
        .route("/readiness", get(readiness))
        // The desktop frontend discovers the server by this route on its port range.
        .route("/ready", get(readiness))
        .route("/openapi.json", get(openapi::serve))
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh));
    let streams = Router::new()
        .route("/api/v1/stream/sse", get(sse::stream_sse))
        .route("/api/v1/stream/ws", get(sse::stream_ws));
    let authed = Router::new()
        .route("/api/v1/tasks", post(submit).get(list_tasks))
        .route("/api/v1/tasks/stream", post(submit_stream))
        .route("/api/v1/tasks/{id}", get(get_task))
        .route("/api/v1/tasks/{id}/events", get(task_events))
        .route("/api/v1/tasks/{id}/stream", get(task_stream_redirect))
        .route("/api/v1/tasks/{id}/pause", post(pause))
        .route("/api/v1/tasks/{id}/resume", post(resume))
        .route("/api/v1/tasks/{id}/cancel", post(cancel))
        .route("/api/v1/tasks/{id}/control-state", get(control_state))
        .route("/api/v1/tasks/{id}/progress", get(progress))
        .route("/api/v1/tasks/{id}/output", get(output))
        .route("/api/v1/sessions", get(list_sessions))
        .route(
            "/api/v1/sessions/{id}",
            get(get_session)
                .patch(rename_session)
                .delete(delete_session),
        )
        .route("/api/v1/sessions/{id}/history", get(session_history))
        .route("/api/v1/sessions/{id}/events", get(session_events))
        .route(
            "/api/v1/schedules",
            post(create_schedule).get(list_schedules),
        )
        .route(
            "/api/v1/schedules/{id}",
            get(get_schedule)
                .put(update_schedule)
                .delete(delete_schedule),
        )
        .route("/api/v1/schedules/{id}/runs", get(schedule_runs))
        .route("/api/v1/schedules/{id}/pause", post(pause_schedule))
        .route("/api/v1/schedules/{id}/resume", post(resume_schedule))
        .route("/api/v1/auth/me", get(me))
        .route("/api/v1/auth/refresh-key", post(refresh_key))
        .route(
            "/api/v1/auth/api-keys",
            get(list_api_keys).post(create_api_key),
        )
        .route(
            "/api/v1/auth/api-keys/{id}",
            axum::routing::delete(revoke_api_key),
        )
        .route(
            "/api/v1/settings",
            get(list_settings).post(set_setting_body),
        )
        .route(
            "/api/v1/settings/{key}",
            get(get_setting)
                .post(set_setting)
                .put(set_setting)
                .delete(delete_setting),
        )
        .route("/api/v1/settings/api-keys", get(list_provider_keys))
        .route(
            "/api/v1/settings/api-keys/{provider}",
            post(set_provider_key).delete(delete_provider_key),
        )
        .route("/v1/models", get(super::openai::models))
        .route(
            "/v1/chat/completions",
            post(super::openai::chat_completions),
        )
        // Unknown paths and methods answer like protected routes: 401 before 404 or 405.
        .fallback(|| async { StatusCode::NOT_FOUND });
    public
        .merge(authed.layer(from_fn_with_state(
            state.clone(),
            layers::require_credentials,
        )))
        .merge(streams.layer(from_fn_with_state(
            state.clone(),
            layers::require_credentials_or_query_token,
        )))
        .with_state(state.clone())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn(layers::cors))
        .layer(from_fn(layers::refuse_announced_oversize))
        .layer(from_fn_with_state(state.clone(), layers::origin_allowlist))
        .layer(from_fn_with_state(state, layers::host_allowlist))
}

fn json_ok(status: StatusCode, v: impl serde::Serialize) -> Response {
    (status, Json(v)).into_response()
}

/// `limit`/`offset` as numbers within range, else 400 (as the cloud's validation middleware).
fn page(q: &HashMap<String, String>, default: u32, max: u32) -> Result<(u32, u32), ApiError> {
    let limit = match q.get("limit") {
        None => default,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=max).contains(l))
            .ok_or_else(|| {
                ApiError::plain(
                    StatusCode::BAD_REQUEST,
                    &format!("limit must be between 1 and {max}"),
                )
            })?,
    };
    let offset = match q.get("offset") {
        None => 0,
        Some(v) => v.parse::<u32>().map_err(|_| {
            ApiError::plain(
                StatusCode::BAD_REQUEST,
                "offset must be a non-negative integer",
            )
        })?,
    };
    Ok((limit, offset))
}

async fn health() -> Response {
    json_ok(
        StatusCode::OK,
        Health {
            status: "healthy".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            time: time::now(),
            checks: HealthChecks {
                gateway: "ok".into(),
            },
        },
    )
}

async fn readiness(State(s): S) -> Response {
    let ok = s
        .core
        .store()
        .read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i32>(0))?))
        .await
        .is_ok();
    let (status, word, check) = if ok {
        (StatusCode::OK, "ready", "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready", "failed")
    };
    json_ok(
        status,
        Readiness {
            status: word.into(),
            time: time::now(),
            checks: ReadinessChecks {
                database: check.into(),
            },
        },
    )
}

async fn submit_inner(
    s: &AppState,
    who: &Caller,
    headers: &HeaderMap,
    raw: Value,
) -> Result<crate::core::engine::submit::SubmitTaskResponse, ApiError> {
    // The desktop frontend's legacy body is an alias of the cloud's, mapped onto the same task.
    let req: SubmitTaskRequest = if LegacySubmitRequest::matches(&raw) {
        from_value::<LegacySubmitRequest>(raw)?.into_cloud()
    } else {
        from_value(raw)?
    };
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty());
    Ok(s.core.submit_task(who, req, key).await?)
}

fn task_headers(resp: &mut Response, workflow: &str, session: &str, replay: bool) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(workflow) {
        h.insert("x-workflow-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(session) {
        h.insert("x-session-id", v.clone());
        h.insert("x-shannon-session-id", v);
    }
    if replay {
        h.insert("x-idempotency-cached", HeaderValue::from_static("true"));
    }
}

async fn submit(
    State(s): S,
    Authed(who): Authed,
    headers: HeaderMap,
    ApiJson(raw): ApiJson<Value>,
) -> ApiResult {
    let r = submit_inner(&s, &who, &headers, raw).await?;
    let mut resp = json_ok(StatusCode::OK, &r);
    task_headers(
        &mut resp,
        &r.workflow_id,
        &r.session_id,
        r.idempotent_replay,
    );
    Ok(resp)
}

async fn submit_stream(
    State(s): S,
    Authed(who): Authed,
    headers: HeaderMap,
    ApiJson(raw): ApiJson<Value>,
) -> ApiResult {
    let r = submit_inner(&s, &who, &headers, raw).await?;
    let url = r.stream_url.clone();
    let mut resp = json_ok(
        StatusCode::CREATED,
        TaskStreamStarted {
            workflow_id: r.workflow_id.clone(),
            task_id: r.task_id,
            stream_url: r.stream_url,
        },
    );
    task_headers(
        &mut resp,
        &r.workflow_id,
        &r.session_id,
        r.idempotent_replay,
    );
    if let Ok(v) = HeaderValue::from_str(&format!("<{url}>; rel=stream")) {
        resp.headers_mut().insert(header::LINK, v);
    }
    Ok(resp)
}

async fn list_tasks(State(s): S, Authed(who): Authed, Query(q): Q) -> ApiResult {
    let (limit, offset) = page(&q, 20, 100)?;
    let query = ListTasksQuery {
        limit: Some(limit),
        offset: Some(offset),
        session_id: q.get("session_id").cloned(),
        status: q.get("status").cloned(),
    };
    Ok(json_ok(
        StatusCode::OK,
        s.core.list_tasks(&who, query).await?,
    ))
}

async fn get_task(State(s): S, Authed(who): Authed, Path(id): Path<String>) -> ApiResult {
    let t = s.core.get_task(&who, &id).await?;
    let wf = t.workflow_id.clone();
    let mut resp = json_ok(StatusCode::OK, t);
    task_headers(&mut resp, &wf, "", false);
    resp.headers_mut().remove("x-session-id");
    resp.headers_mut().remove("x-shannon-session-id");
    Ok(resp)
}

async fn task_events(
    State(s): S,
    Authed(who): Authed,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let (limit, offset) = page(&q, 50, 200)?;
    Ok(json_ok(
        StatusCode::OK,
        s.core
            .get_task_events(&who, &id, Some(limit), Some(offset))
            .await?,
    ))
}

async fn task_stream_redirect(
    State(s): S,
    Authed(who): Authed,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let t = s.core.get_task(&who, &id).await?;
    let mut url = stream_url(&t.workflow_id);
    for key in ["types", "last_event_id"] {
        if let Some(v) = q.get(key) {
            let v: String = v
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, ',' | '_' | '-'))
                .collect();
            url.push_str(&format!("&{key}={v}"));
        }
    }
    Ok(Redirect::temporary(&url).into_response())
}

async fn pause(
    State(s): S,
    Authed(who): Authed,
    Path(id): Path<String>,
    JsonOrDefault(control): JsonOrDefault<ControlRequest>,
) -> ApiResult {
    Ok(json_ok(
        StatusCode::ACCEPTED,
        s.core.pause_task(&who, &id, control.reason).await?,
    ))
}

async fn resume(
    State(s): S,
    Authed(who): Authed,
    Path(id): Path<String>,
    JsonOrDefault(control): JsonOrDefault<ControlRequest>,
) -> ApiResult {
    Ok(json_ok(
        StatusCode::ACCEPTED,
        s.core.resume_task(&who, &id, control.reason).await?,
    ))
}

async fn cancel(
    State(s): S,
    Authed(who): Authed,
    Path(id): Path<String>,
    JsonOrDefault(control): JsonOrDefault<ControlRequest>,
) -> ApiResult {
    Ok(json_ok(
        StatusCode::ACCEPTED,
        s.core.cancel_task(&who, &id, control.reason).await?,
    ))
}

async fn control_state(State(s): S, Authed(who): Authed, Path(id): Path<String>) -> ApiResult {
    Ok(json_ok(
        StatusCode::OK,
        s.core.get_control_state(&who, &id).await?,
    ))
}

async fn progress(State(s): S, Authed(who): Authed, Path(id): Path<String>) -> ApiResult {
    Ok(json_ok(
        StatusCode::OK,
        s.core.get_task_progress(&who, &id).await?,
    ))
}

async fn output(State(s): S, Authed(who): Authed, Path(id): Path<String>) -> ApiResult {
    Ok(json_ok(
        StatusCode::OK,
        s.core.get_task_output(&who, &id).await?,
    ))
}

async fn list_sessions(State(s): S, Authed(who): Authed, Query(q): Q) -> ApiResult {
    // Invalid paging silently falls back to the defaults here, as the cloud.
    let limit = q.get("limit").and_then(|v| v.parse().ok());
    let offset = q.get("offset").and_then(|v| v.parse().ok());
    Ok(json_ok(
        StatusCode::OK,
        s.core.list_sessions(&who, limit, offset).await?,
    ))
}

async fn get_session(State(s): S, Authed(who): Authed, Path(id): Path<String>) -> ApiResult {
    Ok(json_ok(
        StatusCode::OK,
        s.core.get_session(&who, &id).await?,
    ))
}

async fn session_history(State(s): S, Authed(who): Authed, Path(id): Path<String>) -> ApiResult {
    Ok(json_ok(
        StatusCode::OK,
        s.core.get_session_history(&who, &id).await?,
    ))
}

async fn session_events(
    State(s): S,
    Authed(who): Authed,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let (limit, offset) = page(&q, 10, 100)?;
    let payload = q.get("include_payload").is_some_and(|v| v == "true");
    Ok(json_ok(
        StatusCode::OK,
        s.core
            .get_session_events(&who, &id, Some(limit), Some(offset), payload)
            .await?,
    ))
}

async fn rename_session(
    State(s): S,
    Authed(who): Authed,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RenameSessionRequest>,
) -> ApiResult {
    Ok(json_ok(
        StatusCode::OK,
        s.core.rename_session(&who, &id, &req.title).await?,
    ))
}

async fn delete_session(State(s): S, Authed(who): Authed, Path(id): Path<String>) -> ApiResult {
    s.core.delete_session(&who, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `page`/`page_size` as numbers; anything invalid falls back to the defaults, as the cloud.
fn schedule_page(q: &HashMap<String, String>) -> (Option<u32>, Option<u32>) {
    (
        q.get("page").and_then(|v| v.parse().ok()),
        q.get("page_size").and_then(|v| v.parse().ok()),
    )
}

async fn create_schedule(
    State(s): S,
    Authed(who): Authed,
    ApiJson(req): ApiJson<ScheduleRequest>,
) -> ApiResult {
    Ok(json_ok(
        StatusCode::CREATED,
        s.core.create_schedule(&who, req).await?,
    ))
}

async fn list_schedules(State(s): S, Authed(who): Authed, Query(q): Q) -> ApiResult {
    let (page, size) = schedule_page(&q);
    Ok(json_ok(
        StatusCode::OK,
        s.core
            .list_schedules(&who, page, size, q.get("status").cloned())
            .await?,
    ))
}

async fn get_schedule(State(s): S, Authed(who): Authed, Path(id): Path<String>) -> ApiResult {
    Ok(json_ok(
        StatusCode::OK,
        s.core.get_schedule(&who, &id).await?,
    ))
}

async fn update_schedule(
    State(s): S,
    Authed(who): Authed,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ScheduleRequest>,
) -> ApiResult {
    Ok(json_ok(
        StatusCode::OK,
        s.core.update_schedule(&who, &id, req).await?,
    ))
}

async fn pause_schedule(State(s): S, Authed(who): Authed, Path(id): Path<String>) -> ApiResult {
    Ok(json_ok(
        StatusCode::OK,
        s.core.pause_schedule(&who, &id).await?,
    ))
}

async fn resume_schedule(State(s): S, Authed(who): Authed, Path(id): Path<String>) -> ApiResult {
    Ok(json_ok(
        StatusCode::OK,
        s.core.resume_schedule(&who, &id).await?,
    ))
}

async fn delete_schedule(State(s): S, Authed(who): Authed, Path(id): Path<String>) -> ApiResult {
    Ok(json_ok(
        StatusCode::OK,
        s.core.delete_schedule(&who, &id).await?,
    ))
}

async fn schedule_runs(
    State(s): S,
    Authed(who): Authed,
    Path(id): Path<String>,
    Query(q): Q,
) -> ApiResult {
    let (page, size) = schedule_page(&q);
    Ok(json_ok(
        StatusCode::OK,
        s.core.get_schedule_runs(&who, &id, page, size).await?,
    ))
}

async fn register(State(s): S, ApiJson(req): ApiJson<RegisterRequest>) -> ApiResult {
    let r = s.core.register(req).await.map_err(ApiError::auth)?;
    Ok(json_ok(StatusCode::CREATED, r))
}

async fn login(State(s): S, ApiJson(req): ApiJson<LoginRequest>) -> ApiResult {
    Ok(json_ok(
        StatusCode::OK,
        s.core.login(req).await.map_err(ApiError::auth)?,
    ))
}

async fn refresh(State(s): S, ApiJson(req): ApiJson<RefreshRequest>) -> ApiResult {
    let token = req.refresh_token.as_str();
    if token.is_empty() {
        return Err(ApiError::auth(crate::core::ShannonError::invalid(
            "refresh_token is required",
        )));
    }
    let pair = s
        .core
        .refresh_token(&SecretString::new(token))
        .await
        .map_err(ApiError::auth)?;
    Ok(json_ok(StatusCode::OK, pair))
}

async fn me(State(s): S, Authed(who): Authed) -> ApiResult {
    Ok(json_ok(
        StatusCode::OK,
        s.core.me(&who).await.map_err(ApiError::auth)?,
    ))
}

async fn refresh_key(State(s): S, Authed(who): Authed) -> ApiResult {
    let created = s.core.refresh_api_key(&who).await.map_err(|e| match e {
        crate::core::ShannonError::InvalidRequest(_) => ApiError::auth_code(
            StatusCode::BAD_REQUEST,
            "api_key_required",
            "authenticate with the API key to refresh",
        ),
        other => ApiError::auth(other),
    })?;
    Ok(json_ok(
        StatusCode::OK,
        RefreshedApiKey {
            api_key: created.api_key,
            previous_key_revoked: true,
        },
    ))
}

async fn list_api_keys(State(s): S, Authed(who): Authed) -> ApiResult {
    Ok(json_ok(
        StatusCode::OK,
        s.core.list_api_keys(&who).await.map_err(ApiError::auth)?,
    ))
}

async fn create_api_key(
    State(s): S,
    Authed(who): Authed,
    ApiJson(req): ApiJson<CreateApiKeyRequest>,
) -> ApiResult {
    Ok(json_ok(
        StatusCode::CREATED,
        s.core
            .create_api_key(&who, req)
            .await
            .map_err(ApiError::auth)?,
    ))
}

async fn revoke_api_key(State(s): S, Authed(who): Authed, Path(id): Path<String>) -> ApiResult {
    s.core
        .revoke_api_key(&who, &id)
        .await
        .map_err(ApiError::auth)?;
    Ok(json_ok(
        StatusCode::OK,
        Ack {
            success: true,
            message: "API key revoked".into(),
        },
    ))
}

async fn list_settings(State(s): S, Authed(who): Authed) -> ApiResult {
    // A bare array, as the desktop frontend reads it.
    let settings: Vec<UserSetting> = s
        .core
        .list_settings(&who)
        .await?
        .into_iter()
        .map(|x| UserSetting::new(&who.user_id, x))
        .collect();
    Ok(json_ok(StatusCode::OK, settings))
}

async fn get_setting(State(s): S, Authed(who): Authed, Path(key): Path<String>) -> ApiResult {
    Ok(json_ok(
        StatusCode::OK,
        UserSetting::new(&who.user_id, s.core.get_setting(&who, &key).await?),
    ))
}

/// Body `{"value": <any JSON>}` (or the bare JSON value).
async fn set_setting(
    State(s): S,
    Authed(who): Authed,
    Path(key): Path<String>,
    ApiJson(v): ApiJson<Value>,
) -> ApiResult {
    let value = match v {
        Value::Object(mut o) if o.len() == 1 && o.contains_key("value") => {
            o.remove("value").unwrap_or(Value::Null)
        }
        other => other,
    };
    let saved = s.core.set_setting(&who, &key, &value.to_string()).await?;
    Ok(json_ok(
        StatusCode::OK,
        UserSetting::new(&who.user_id, saved),
    ))
}

/// The desktop frontend's `POST /api/v1/settings {key, value, setting_type?, encrypted?}`.
async fn set_setting_body(
    State(s): S,
    Authed(who): Authed,
    ApiJson(req): ApiJson<SetSettingRequest>,
) -> ApiResult {
    if req.encrypted {
        return Err(ApiError::plain(
            StatusCode::BAD_REQUEST,
            "encrypted settings are not supported: store provider keys with POST /api/v1/settings/api-keys/{provider}",
        ));
    }
    let value = req
        .json_value()
        .map_err(|e| ApiError::plain(StatusCode::BAD_REQUEST, &e))?;
    let saved = s
        .core
        .set_setting(&who, &req.key, &value.to_string())
        .await?;
    Ok(json_ok(
        StatusCode::OK,
        UserSetting::new(&who.user_id, saved),
    ))
}

async fn delete_setting(State(s): S, Authed(who): Authed, Path(key): Path<String>) -> ApiResult {
    s.core.delete_setting(&who, &key).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A bare array, as the desktop frontend reads it.
async fn list_provider_keys(State(s): S, Authed(who): Authed) -> ApiResult {
    Ok(json_ok(StatusCode::OK, s.core.provider_status(&who).await?))
}

async fn set_provider_key(
    State(s): S,
    Authed(who): Authed,
    Path(provider): Path<String>,
    ApiJson(req): ApiJson<SetProviderKeyRequest>,
) -> ApiResult {
    let info = s
        .core
        .set_provider_key(&who, &provider, &SecretString::new(req.api_key))
        .await?;
    Ok(json_ok(
        StatusCode::OK,
        ProviderKeySaved {
            provider: info.provider,
            masked_key: info.masked_key,
            message: "API key saved".into(),
        },
    ))
}

async fn delete_provider_key(
    State(s): S,
    Authed(who): Authed,
    Path(provider): Path<String>,
) -> ApiResult {
    s.core.delete_provider_key(&who, &provider).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
