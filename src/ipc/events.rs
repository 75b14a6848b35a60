//! Low-rate, app-wide Tauri events (`plugin:shannon:<kebab-name>`), typed through tauri-specta. The
//! payloads are the core's notification types; this door only names them as events.

pub use crate::core::{ProviderKeysChanged, SettingsChanged, TaskStatusChanged};

impl tauri_specta::Event for SettingsChanged {
    const NAME: &'static str = "settings-changed";
}

impl tauri_specta::Event for ProviderKeysChanged {
    const NAME: &'static str = "provider-keys-changed";
}

impl tauri_specta::Event for TaskStatusChanged {
    const NAME: &'static str = "task-status-changed";
}

pub use crate::core::remote::RemoteStatusChanged;

impl tauri_specta::Event for RemoteStatusChanged {
    const NAME: &'static str = "remote-status-changed";
}

pub use crate::core::history::HistoryProgress;

impl tauri_specta::Event for HistoryProgress {
    const NAME: &'static str = "history-progress";
}
