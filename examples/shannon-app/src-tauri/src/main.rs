//! Desktop example: the whole Rust side of a chat app on tauri-plugin-shannon. The UI is in `../ui`
//! (TypeScript on the guest-js package), bundled to `../dist` and embedded in the binary.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use tauri_plugin_log::{Target, TargetKind, log};

mod notes;

fn main() {
    tauri::Builder::default()
        // First, so the Shannon plugin's lines from its own setup (opening the core) are kept too.
        .plugin(logger())
        .plugin(opener())
        .plugin(stay_in_app())
        // The app's own tool: agents may list and read the user's notes (src/notes.rs).
        .plugin(
            tauri_plugin_shannon::Builder::new()
                .tool(notes::tool())
                .build(),
        )
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

/// Called by the UI for http(s) links only (the capability's scope says so too). Its own click hook
/// stays off: it would let a javascript: link through, and the UI decides about every link.
fn opener() -> impl tauri::plugin::Plugin<tauri::Wry> {
    tauri_plugin_opener::Builder::new()
        .open_js_links_on_click(false)
        .build()
}

/// The window shows the app's own pages only: a navigation elsewhere (a link the UI did not catch, a
/// script setting `location`) is refused. Links open outside, through the opener, from the UI.
fn stay_in_app() -> tauri::plugin::TauriPlugin<tauri::Wry> {
    tauri::plugin::Builder::new("stay-in-app")
        .on_navigation(|_, url| {
            // tauri://localhost on Linux and macOS, http(s)://tauri.localhost on Windows and Android.
            let ours = url.scheme() == "tauri" || url.host_str() == Some("tauri.localhost");
            if !ours {
                log::warn!(
                    "refused a navigation of the window to a {}: URL",
                    url.scheme()
                );
            }
            ours
        })
        .build()
}
