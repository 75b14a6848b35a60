//! Files: a session's workspace and the user's memory folder, listed and read.

use tauri::State;

use super::Res;
use crate::core::files::{FileContent, FileList};
use crate::state::Shannon;

/// One level of a session's workspace (`path` relative to it; default its top).
#[tauri::command]
#[specta::specta]
pub async fn list_session_files(
    state: State<'_, Shannon>,
    session_id: String,
    path: Option<String>,
) -> Res<FileList> {
    let (core, caller) = state.resolve().await?;
    core.list_session_files(&caller, &session_id, path).await
}

/// A file of a session's workspace: text raw, anything else base64.
#[tauri::command]
#[specta::specta]
pub async fn read_session_file(
    state: State<'_, Shannon>,
    session_id: String,
    path: String,
) -> Res<FileContent> {
    let (core, caller) = state.resolve().await?;
    core.read_session_file(&caller, &session_id, &path).await
}

/// One level of the user's memory folder; `source` a Shannon cloud profile's id for the remote
/// user's memory there (default: here).
#[tauri::command]
#[specta::specta]
pub async fn list_memory_files(
    state: State<'_, Shannon>,
    path: Option<String>,
    source: Option<String>,
) -> Res<FileList> {
    let (core, caller) = state.resolve().await?;
    core.list_memory_files(&caller, path, source.as_deref())
        .await
}

/// A file of the user's memory folder (here, or on the cloud profile `source`): text raw,
/// anything else base64.
#[tauri::command]
#[specta::specta]
pub async fn read_memory_file(
    state: State<'_, Shannon>,
    path: String,
    source: Option<String>,
) -> Res<FileContent> {
    let (core, caller) = state.resolve().await?;
    core.read_memory_file(&caller, &path, source.as_deref())
        .await
}
