//! The plugin configuration (listener, MCP servers, data dir): read, and changed behind an opt-in.

use tauri::State;

use super::Res;
use crate::config::{PluginConfig, PluginConfigUpdate};
use crate::state::Shannon;

#[tauri::command]
#[specta::specta]
pub async fn get_plugin_config(state: State<'_, Shannon>) -> Res<PluginConfig> {
    state.config().await
}

/// Changes the plugin configuration (opt-in `shannon:allow-configure`); `data_dir` applies at the
/// next start.
#[tauri::command]
#[specta::specta]
pub async fn set_plugin_config(
    state: State<'_, Shannon>,
    update: PluginConfigUpdate,
) -> Res<PluginConfig> {
    state.update_config(update).await
}
