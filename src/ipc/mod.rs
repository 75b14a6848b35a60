//! The IPC door: typed Tauri commands (registered through tauri-specta) and typed app-wide events.
//! Commands only parse, call the core and return its errors.

mod command_names;
pub mod commands;
pub mod events;

use tauri::Runtime;

pub use command_names::COMMANDS;

use crate::plugin::PLUGIN_NAME;

/// The tauri-specta builder with every command and event; also used to export `guest-js/bindings.ts`.
pub fn specta_builder<R: Runtime>() -> tauri_specta::Builder<R> {
    tauri_specta::Builder::<R>::new()
        .plugin_name(PLUGIN_NAME)
        // One TS type per Rust type: the same shapes go in and out.
        .disable_serde_phases()
        .commands(tauri_specta::collect_commands![
            commands::get_setting,
            commands::list_settings,
            commands::set_setting,
            commands::delete_setting,
            commands::set_provider_key,
            commands::get_provider_key,
            commands::list_provider_keys,
            commands::delete_provider_key,
            commands::mark_provider_key_used,
            commands::provider_status,
            commands::register,
            commands::login,
            commands::refresh_token,
            commands::me,
            commands::sign_in,
            commands::sign_out,
            commands::create_api_key,
            commands::list_api_keys,
            commands::revoke_api_key,
            commands::rotate_master_key,
            commands::get_plugin_config,
            commands::set_plugin_config,
        ])
        .events(tauri_specta::collect_events![
            events::SettingsChanged,
            events::ProviderKeysChanged
        ])
}
