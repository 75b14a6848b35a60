//! The loopback HTTP listener (opt-in permission `shannon:allow-listener`): start, stop, status.

use tauri::State;

use super::Res;
use crate::http::ListenerStatus;
use crate::state::Shannon;

/// Starts the loopback HTTP listener on `port` (default: the configured one; 0 picks a free port).
/// The status carries the per-launch token.
#[tauri::command]
#[specta::specta]
pub async fn listener_start(state: State<'_, Shannon>, port: Option<u16>) -> Res<ListenerStatus> {
    state.start_listener(port).await
}

#[tauri::command]
#[specta::specta]
pub async fn listener_stop(state: State<'_, Shannon>) -> Res<()> {
    state.stop_listener().await;
    Ok(())
}

#[tauri::command]
#[specta::specta]
pub async fn listener_status(state: State<'_, Shannon>) -> Res<ListenerStatus> {
    Ok(state.listener_status().await)
}
