//! The catalogues: skills, agents and tools (cloud API §3.6).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{App, Params};
use crate::core::catalog::agents::{AgentExecuteRequest, AgentInfo, AgentList};
use crate::core::catalog::llm_models::LlmModels;
use crate::core::catalog::skills::{SkillDetail, SkillList, SkillVersions};
use crate::core::catalog::tools::{ToolExecuteRequest, ToolExecution, ToolInfo};
use crate::http::ApiError;
use crate::http::dto::SaveSkillRequest;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, Authed};

pub(super) async fn skills(
    State(app): App,
    Authed(who): Authed,
    ApiQuery(q): Params,
) -> Result<Json<SkillList>, ApiError> {
    let category = q
        .get("category")
        .map(String::as_str)
        .filter(|c| !c.is_empty());
    Ok(Json(app.core.list_skills(&who, category).await?))
}

pub(super) async fn skill(
    State(app): App,
    Authed(who): Authed,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): Params,
) -> Result<Json<SkillDetail>, ApiError> {
    let version = q.get("version").map(String::as_str);
    Ok(Json(app.core.get_skill(&who, &name, version).await?))
}

pub(super) async fn skill_versions(
    State(app): App,
    Authed(who): Authed,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<SkillVersions>, ApiError> {
    Ok(Json(app.core.skill_versions(&who, &name).await?))
}

pub(super) async fn save_skill(
    State(app): App,
    Authed(who): Authed,
    ApiJson(body): ApiJson<SaveSkillRequest>,
) -> Result<Json<SkillDetail>, ApiError> {
    Ok(Json(app.core.save_skill(&who, &body.content).await?))
}

pub(super) async fn delete_skill(
    State(app): App,
    Authed(who): Authed,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): Params,
) -> Result<StatusCode, ApiError> {
    let version = q.get("version").map(String::as_str);
    app.core.delete_skill(&who, &name, version).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn agents(
    State(app): App,
    Authed(who): Authed,
) -> Result<Json<AgentList>, ApiError> {
    Ok(Json(app.core.list_agents(&who).await?))
}

pub(super) async fn agent(
    State(app): App,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AgentInfo>, ApiError> {
    Ok(Json(app.core.get_agent(&who, &id).await?))
}

/// 202 with the task, and `X-Workflow-ID` / `X-Session-ID` as the cloud's clients read them.
pub(super) async fn execute_agent(
    State(app): App,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AgentExecuteRequest>,
) -> Result<Response, ApiError> {
    let started = app.core.execute_agent(&who, &id, body).await?;
    let mut resp = (StatusCode::ACCEPTED, Json(&started)).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&started.workflow_id) {
        h.insert("x-workflow-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&started.session_id) {
        h.insert("x-session-id", v.clone());
        h.insert("x-shannon-session-id", v);
    }
    Ok(resp)
}

/// A bare array, as the cloud's tool listing is; dangerous tools only with `include_dangerous=true`.
pub(super) async fn tools(
    State(app): App,
    Authed(who): Authed,
    ApiQuery(q): Params,
) -> Result<Json<Vec<ToolInfo>>, ApiError> {
    let category = q
        .get("category")
        .map(String::as_str)
        .filter(|c| !c.is_empty());
    let dangerous = q.get("include_dangerous").is_some_and(|v| v == "true");
    Ok(Json(app.core.list_tools(&who, category, dangerous).await?))
}

pub(super) async fn tool(
    State(app): App,
    Authed(who): Authed,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ToolInfo>, ApiError> {
    Ok(Json(app.core.get_tool(&who, &name).await?))
}

pub(super) async fn execute_tool(
    State(app): App,
    Authed(who): Authed,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<ToolExecuteRequest>,
) -> Result<Json<ToolExecution>, ApiError> {
    Ok(Json(app.core.execute_tool(&who, &name, body).await?))
}

/// `GET /v1/llm-models?tier=`: the configured providers' models by tier, as the cloud's gateway.
pub(super) async fn llm_models(
    State(app): App,
    Authed(who): Authed,
    ApiQuery(q): Params,
) -> Result<Json<LlmModels>, ApiError> {
    let tier = q.get("tier").map(String::as_str);
    Ok(Json(app.core.llm_models(&who, tier).await?))
}
