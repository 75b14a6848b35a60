//! History bundles: the user's history exported to a folder and imported from one (opt-in
//! `shannon:allow-history-transfer`: both touch files outside the data dir).

use tauri::State;

use super::Res;
use crate::core::history::{ExportReport, ImportReport, PullOptions, PullReport};
use crate::state::Shannon;

/// Exports the user's history to `dir` (absolute; new or empty): sessions, finished tasks with their
/// stored events (deltas with `includeDeltas`), usage, schedules, workspaces and memory.
#[tauri::command]
#[specta::specta]
pub async fn export_history(
    state: State<'_, Shannon>,
    dir: String,
    include_deltas: Option<bool>,
) -> Res<ExportReport> {
    let (core, caller) = state.resolve().await?;
    core.export_history(&caller, &dir, include_deltas.unwrap_or(false))
        .await
}

/// Imports a `shannon-history` bundle from `dir` into the user's history (checked whole first;
/// importing it again adds nothing).
#[tauri::command]
#[specta::specta]
pub async fn import_history(state: State<'_, Shannon>, dir: String) -> Res<ImportReport> {
    let (core, caller) = state.resolve().await?;
    core.import_history(&caller, &dir).await
}

/// Brings the user's history on a Shannon cloud profile into this device: its sessions, finished
/// tasks and stored events, paced under the cloud's rate limit (pull again to resume).
#[tauri::command]
#[specta::specta]
pub async fn pull_history(
    state: State<'_, Shannon>,
    profile_id: String,
    options: Option<PullOptions>,
) -> Res<PullReport> {
    let (core, caller) = state.resolve().await?;
    core.pull_history(&caller, &profile_id, options.unwrap_or_default())
        .await
}
