//! Desktop example: the whole Rust side of a chat app on tauri-plugin-shannon. The UI is in `../ui`
//! (TypeScript on the guest-js package), bundled to `../dist` and embedded in the binary.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use tauri_plugin_log::{Target, TargetKind, log};

fn main() {
    tauri::Builder::default()
        // First, so the Shannon plugin's lines from its own setup (opening the core) are kept too.
        .plugin(logger())
        .plugin(tauri_plugin_shannon::init())
        .run(tauri::generate_context!())
        .expect("error while running tauri application");
}

/// Stdout and a file in the app's log dir (on Linux `~/.local/share/dev.shannon.example-app/logs`),
/// at info: the plugin logs through `tracing`, whose events are also `log` records.
fn logger() -> tauri::plugin::TauriPlugin<tauri::Wry> {
    tauri_plugin_log::Builder::new()
        .targets([
            Target::new(TargetKind::Stdout),
            Target::new(TargetKind::LogDir { file_name: None }),
        ])
        .level(log::LevelFilter::Info)
        .max_file_size(1_000_000)
        .rotation_strategy(tauri_plugin_log::RotationStrategy::KeepSome(3))
        .build()
}
