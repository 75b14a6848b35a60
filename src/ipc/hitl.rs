//! IPC commands of the human in the loop: approvals and tool grants, research plan review, and
//! messages to a running swarm.

use tauri::State;

use super::Res;
use crate::core::hitl::approvals::{
    Approval, ApprovalDecision, ApprovalDecisionResponse, ToolGrant,
};
use crate::core::hitl::reviews::{ReviewAction, ReviewResponse, ReviewState};
use crate::core::hitl::swarm_messages::SwarmMessageSent;
use crate::state::Shannon;

/// Answers an approval a task waits for (its `approval_id` is in APPROVAL_REQUESTED).
#[tauri::command]
#[specta::specta]
pub async fn decide_approval(
    state: State<'_, Shannon>,
    decision: ApprovalDecision,
) -> Res<ApprovalDecisionResponse> {
    let (core, caller) = state.resolve().await?;
    core.decide_approval(&caller, decision).await
}

/// The user's approvals, newest first: pending ones unless `status` says otherwise (`all` too).
#[tauri::command]
#[specta::specta]
pub async fn list_approvals(
    state: State<'_, Shannon>,
    status: Option<String>,
) -> Res<Vec<Approval>> {
    let (core, caller) = state.resolve().await?;
    core.list_approvals(&caller, status).await
}

/// A research task's plan under review.
#[tauri::command]
#[specta::specta]
pub async fn get_research_review(state: State<'_, Shannon>, task_id: String) -> Res<ReviewState> {
    let (core, caller) = state.resolve().await?;
    core.get_review(&caller, &task_id).await
}

/// Feedback on a research plan (answered with a revised one) or its approval; `if_match` is the
/// version the app shows (a stale one is refused).
#[tauri::command]
#[specta::specta]
pub async fn review_research_plan(
    state: State<'_, Shannon>,
    task_id: String,
    action: ReviewAction,
    if_match: Option<i64>,
) -> Res<ReviewResponse> {
    let (core, caller) = state.resolve().await?;
    let version = if_match.map(|v| v.to_string());
    core.post_review(&caller, &task_id, action, version.as_deref())
        .await
}

/// A message to a running swarm's lead, read at its next decision.
#[tauri::command]
#[specta::specta]
pub async fn send_swarm_message(
    state: State<'_, Shannon>,
    task_id: String,
    message: String,
) -> Res<SwarmMessageSent> {
    let (core, caller) = state.resolve().await?;
    core.send_swarm_message(&caller, &task_id, &message).await
}

/// Tools the user let through without asking (for a session, or always).
#[tauri::command]
#[specta::specta]
pub async fn list_tool_grants(state: State<'_, Shannon>) -> Res<Vec<ToolGrant>> {
    let (core, caller) = state.resolve().await?;
    core.list_tool_grants(&caller).await
}

/// Lets a tool through without asking, for a session or (`session_id` absent) always.
#[tauri::command]
#[specta::specta]
pub async fn grant_tool(
    state: State<'_, Shannon>,
    tool: String,
    session_id: Option<String>,
) -> Res<ToolGrant> {
    let (core, caller) = state.resolve().await?;
    core.grant_tool(&caller, &tool, session_id).await
}

/// Takes a tool grant back (`session_id` absent: the "always" one).
#[tauri::command]
#[specta::specta]
pub async fn revoke_tool_grant(
    state: State<'_, Shannon>,
    tool: String,
    session_id: Option<String>,
) -> Res<()> {
    let (core, caller) = state.resolve().await?;
    core.revoke_tool_grant(&caller, &tool, session_id).await
}
