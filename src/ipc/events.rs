//! Low-rate, app-wide Tauri events (`plugin:shannon:<kebab-name>`), typed through tauri-specta.

use serde::{Deserialize, Serialize};

/// A user setting was written or deleted.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct SettingsChanged {
    pub user_id: String,
    pub key: String,
}

/// A provider API key was stored or deleted (the key itself is never sent).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct ProviderKeysChanged {
    pub user_id: String,
    pub provider: String,
}

/// A task's status changed (`TASK_STATUS_*`): for task lists and badges without a stream open.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct TaskStatusChanged {
    pub user_id: String,
    pub task_id: String,
    pub status: String,
}
