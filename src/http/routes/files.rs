//! Files: a session's workspace and the user's memory folder, listed and read (text raw, anything
//! else base64, as the cloud returns them).

use axum::Json;
use axum::extract::State;

use super::{App, Params};
use crate::core::files::{FileContent, FileList};
use crate::http::ApiError;
use crate::http::extract::{ApiPath, ApiQuery, Authed};

pub(super) async fn files(
    State(app): App,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): Params,
) -> Result<Json<FileList>, ApiError> {
    let path = q.get("path").cloned();
    Ok(Json(app.core.list_session_files(&who, &id, path).await?))
}

pub(super) async fn memory_files(
    State(app): App,
    Authed(who): Authed,
    ApiQuery(q): Params,
) -> Result<Json<FileList>, ApiError> {
    let path = q.get("path").cloned();
    Ok(Json(app.core.list_memory_files(&who, path, None).await?))
}

pub(super) async fn memory_file(
    State(app): App,
    Authed(who): Authed,
    ApiPath(path): ApiPath<String>,
) -> Result<Json<FileContent>, ApiError> {
    Ok(Json(app.core.read_memory_file(&who, &path, None).await?))
}

pub(super) async fn file(
    State(app): App,
    Authed(who): Authed,
    ApiPath((id, path)): ApiPath<(String, String)>,
) -> Result<Json<FileContent>, ApiError> {
    Ok(Json(app.core.read_session_file(&who, &id, &path).await?))
}
