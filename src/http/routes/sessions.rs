//! Sessions: list, read, rename, delete, and their tasks and turns.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::{App, Params, page};
use crate::core::sessions::{
    SessionHistory, SessionList, SessionRenamed, SessionSummary, SessionTurns,
};
use crate::http::ApiError;
use crate::http::dto::RenameSessionRequest;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Authed};

pub(super) async fn list(
    State(app): App,
    Authed(who): Authed,
    ApiQuery(q): Params,
) -> Result<Json<SessionList>, ApiError> {
    // Invalid paging silently falls back to the defaults here, as the cloud.
    let limit = q.get("limit").and_then(|v| v.parse().ok());
    let offset = q.get("offset").and_then(|v| v.parse().ok());
    Ok(Json(app.core.list_sessions(&who, limit, offset).await?))
}

pub(super) async fn get(
    State(app): App,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SessionSummary>, ApiError> {
    Ok(Json(app.core.get_session(&who, &id).await?))
}

pub(super) async fn history(
    State(app): App,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SessionHistory>, ApiError> {
    Ok(Json(app.core.get_session_history(&who, &id).await?))
}

pub(super) async fn turns(
    State(app): App,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): Params,
) -> Result<Json<SessionTurns>, ApiError> {
    let (limit, offset) = page(&q, 10, 100)?;
    let payload = q.get("include_payload").is_some_and(|v| v == "true");
    let turns = app
        .core
        .get_session_events(&who, &id, Some(limit), Some(offset), payload)
        .await?;
    Ok(Json(turns))
}

pub(super) async fn rename(
    State(app): App,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RenameSessionRequest>,
) -> Result<Json<SessionRenamed>, ApiError> {
    Ok(Json(app.core.rename_session(&who, &id, &req.title).await?))
}

pub(super) async fn delete(
    State(app): App,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.core.delete_session(&who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
