//! `GET /metrics`: the core's Prometheus exposition, behind the listener's token.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::App;
use crate::core::metrics::CONTENT_TYPE;
use crate::http::ApiError;
use crate::http::extract::Authed;

pub(super) async fn metrics(
    State(app): App,
    Authed(who): Authed,
) -> Result<impl IntoResponse, ApiError> {
    let text = app.core.metrics(&who).await?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text))
}
