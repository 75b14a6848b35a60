//! tauri-plugin-shannon: the Shannon multi-agent AI platform embedded in a Tauri v2 app.
//!
//! One core ([`core`], no Tauri import) and thin doors: typed IPC commands ([`ipc`]) and a loopback
//! HTTP listener ([`http`]), which [`desktop`] mode starts for the Shannon desktop frontend. Add it with `.plugin(tauri_plugin_shannon::init())`.

pub mod config;
pub mod core;
pub mod desktop;
pub mod http;
pub mod ipc;
mod plugin;

use tauri::Runtime;
use tauri::plugin::TauriPlugin;

pub use crate::core::{Core, CoreConfig, Result, ShannonError};
pub use plugin::{Builder, PLUGIN_NAME, Shannon, ShannonExt};

/// The plugin with default options: data in the app's local data dir.
pub fn init<R: Runtime>() -> TauriPlugin<R> {
    Builder::new().build()
}
