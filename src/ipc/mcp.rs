//! MCP: the configured MCP servers' state and tools.

use tauri::State;

use super::Res;
use crate::core::mcp::McpServerStatus;
use crate::state::Shannon;

/// Every configured MCP server: its state, last error, restarts and tools.
#[tauri::command]
#[specta::specta]
pub async fn mcp_status(state: State<'_, Shannon>) -> Res<Vec<McpServerStatus>> {
    let (core, _) = state.resolve().await?;
    Ok(core.mcp_status())
}
