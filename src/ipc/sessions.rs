//! Sessions: list, read, history, turns with their events, rename, delete.

use tauri::State;

use super::Res;
use crate::core::sessions::{
    SessionHistory, SessionList, SessionRenamed, SessionSummary, SessionTurns,
};
use crate::state::Shannon;

#[tauri::command]
#[specta::specta]
pub async fn list_sessions(
    state: State<'_, Shannon>,
    limit: Option<u32>,
    offset: Option<u32>,
) -> Res<SessionList> {
    let (core, caller) = state.resolve().await?;
    core.list_sessions(&caller, limit, offset).await
}

/// By internal UUID or the client's own session id.
#[tauri::command]
#[specta::specta]
pub async fn get_session(state: State<'_, Shannon>, session_id: String) -> Res<SessionSummary> {
    let (core, caller) = state.resolve().await?;
    core.get_session(&caller, &session_id).await
}

#[tauri::command]
#[specta::specta]
pub async fn get_session_history(
    state: State<'_, Shannon>,
    session_id: String,
) -> Res<SessionHistory> {
    let (core, caller) = state.resolve().await?;
    core.get_session_history(&caller, &session_id).await
}

/// Turns with their events (`limit` 1..100 turns, default 10).
#[tauri::command]
#[specta::specta]
pub async fn get_session_events(
    state: State<'_, Shannon>,
    session_id: String,
    limit: Option<u32>,
    offset: Option<u32>,
    include_payload: Option<bool>,
) -> Res<SessionTurns> {
    let (core, caller) = state.resolve().await?;
    core.get_session_events(
        &caller,
        &session_id,
        limit,
        offset,
        include_payload.unwrap_or(false),
    )
    .await
}

#[tauri::command]
#[specta::specta]
pub async fn rename_session(
    state: State<'_, Shannon>,
    session_id: String,
    title: String,
) -> Res<SessionRenamed> {
    let (core, caller) = state.resolve().await?;
    core.rename_session(&caller, &session_id, &title).await
}

/// Soft delete; deleting twice succeeds.
#[tauri::command]
#[specta::specta]
pub async fn delete_session(state: State<'_, Shannon>, session_id: String) -> Res<()> {
    let (core, caller) = state.resolve().await?;
    core.delete_session(&caller, &session_id).await
}
