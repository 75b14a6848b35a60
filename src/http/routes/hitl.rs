//! The human in the loop: the cloud's approval decision, research plan review and swarm message
//! routes, and ours to list what waits and the tools let through.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::tasks::TaskId;
use super::{App, Params};
use crate::core::hitl::approvals::{
    Approval, ApprovalDecision, ApprovalDecisionResponse, ToolGrant,
};
use crate::core::hitl::reviews::ReviewAction;
use crate::core::hitl::swarm_messages::SwarmMessageSent;
use crate::http::ApiError;
use crate::http::dto::{Ack, GrantToolRequest, SwarmMessageRequest};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Authed};

pub(super) async fn decide(
    State(app): App,
    Authed(who): Authed,
    ApiJson(decision): ApiJson<ApprovalDecision>,
) -> Result<Json<ApprovalDecisionResponse>, ApiError> {
    Ok(Json(app.core.decide_approval(&who, decision).await?))
}

pub(super) async fn list(
    State(app): App,
    Authed(who): Authed,
    ApiQuery(q): Params,
) -> Result<Json<Vec<Approval>>, ApiError> {
    let status = q.get("status").cloned();
    Ok(Json(app.core.list_approvals(&who, status).await?))
}

pub(super) async fn swarm_message(
    State(app): App,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<SwarmMessageRequest>,
) -> Result<Json<SwarmMessageSent>, ApiError> {
    Ok(Json(
        app.core
            .send_swarm_message(&who, &id, &body.message)
            .await?,
    ))
}

/// `ETag: <version>` on review answers.
fn with_etag<T: serde::Serialize>(body: T, version: i64) -> Response {
    let mut resp = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&version.to_string()) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

pub(super) async fn get_review(
    State(app): App,
    Authed(who): Authed,
    TaskId(id): TaskId,
) -> Result<Response, ApiError> {
    let state = app.core.get_review(&who, &id).await?;
    let version = state.version;
    Ok(with_etag(state, version))
}

pub(super) async fn post_review(
    State(app): App,
    Authed(who): Authed,
    TaskId(id): TaskId,
    headers: HeaderMap,
    ApiJson(action): ApiJson<ReviewAction>,
) -> Result<Response, ApiError> {
    let if_match = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok());
    let answer = app.core.post_review(&who, &id, action, if_match).await?;
    let version = answer.version;
    Ok(with_etag(answer, version))
}

pub(super) async fn grants(
    State(app): App,
    Authed(who): Authed,
) -> Result<Json<Vec<ToolGrant>>, ApiError> {
    Ok(Json(app.core.list_tool_grants(&who).await?))
}

pub(super) async fn grant(
    State(app): App,
    Authed(who): Authed,
    ApiJson(body): ApiJson<GrantToolRequest>,
) -> Result<Json<ToolGrant>, ApiError> {
    Ok(Json(
        app.core
            .grant_tool(&who, &body.tool, body.session_id)
            .await?,
    ))
}

pub(super) async fn revoke_grant(
    State(app): App,
    Authed(who): Authed,
    ApiPath(tool): ApiPath<String>,
    ApiQuery(q): Params,
) -> Result<Json<Ack>, ApiError> {
    let session = q.get("session_id").cloned().filter(|s| !s.is_empty());
    app.core.revoke_tool_grant(&who, &tool, session).await?;
    Ok(Json(Ack {
        success: true,
        message: "Grant revoked".into(),
    }))
}
