//! Desktop example: the whole Rust side of a chat app on tauri-plugin-shannon. The UI is in `../ui`
//! (TypeScript on the guest-js package), bundled to `../dist` and embedded in the binary.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    tauri::Builder::default()
        .plugin(tauri_plugin_shannon::init())
        .run(tauri::generate_context!())
        .expect("error while running tauri application");
}
