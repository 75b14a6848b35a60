//! Cron schedules: create, list, read, update, pause, resume, delete, and their runs.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::{App, Params};
use crate::core::schedules::{
    ScheduleAck, ScheduleCreated, ScheduleInfo, ScheduleList, ScheduleRequest, ScheduleRunList,
};
use crate::http::ApiError;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Authed};

/// `page`/`page_size` as numbers; anything invalid falls back to the defaults, as the cloud.
fn schedule_page(q: &HashMap<String, String>) -> (Option<u32>, Option<u32>) {
    (
        q.get("page").and_then(|v| v.parse().ok()),
        q.get("page_size").and_then(|v| v.parse().ok()),
    )
}

pub(super) async fn create(
    State(app): App,
    Authed(who): Authed,
    ApiJson(req): ApiJson<ScheduleRequest>,
) -> Result<(StatusCode, Json<ScheduleCreated>), ApiError> {
    let created = app.core.create_schedule(&who, req.here_only()?).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub(super) async fn list(
    State(app): App,
    Authed(who): Authed,
    ApiQuery(q): Params,
) -> Result<Json<ScheduleList>, ApiError> {
    let (page, size) = schedule_page(&q);
    let status = q.get("status").cloned();
    Ok(Json(
        app.core.list_schedules(&who, page, size, status).await?,
    ))
}

pub(super) async fn get(
    State(app): App,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ScheduleInfo>, ApiError> {
    Ok(Json(app.core.get_schedule(&who, &id).await?))
}

pub(super) async fn update(
    State(app): App,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ScheduleRequest>,
) -> Result<Json<ScheduleAck>, ApiError> {
    Ok(Json(app.core.update_schedule(&who, &id, req).await?))
}

pub(super) async fn pause(
    State(app): App,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ScheduleAck>, ApiError> {
    Ok(Json(app.core.pause_schedule(&who, &id).await?))
}

pub(super) async fn resume(
    State(app): App,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ScheduleAck>, ApiError> {
    Ok(Json(app.core.resume_schedule(&who, &id).await?))
}

pub(super) async fn delete(
    State(app): App,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ScheduleAck>, ApiError> {
    Ok(Json(app.core.delete_schedule(&who, &id).await?))
}

pub(super) async fn runs(
    State(app): App,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): Params,
) -> Result<Json<ScheduleRunList>, ApiError> {
    let (page, size) = schedule_page(&q);
    Ok(Json(
        app.core.get_schedule_runs(&who, &id, page, size).await?,
    ))
}
