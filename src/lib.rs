//! tauri-plugin-shannon: the Shannon multi-agent AI platform embedded in a Tauri v2 app.
//!
//! Add it with `.plugin(tauri_plugin_shannon::init())` (or [`Builder`] for options); the webview
//! then calls its typed IPC commands, and [`ShannonExt`] gives Rust code in the app the same
//! [`Core`]. Without a window, [`Core::open`] runs the engine on its own (the headless example),
//! and [`Listener`] serves its loopback HTTP API. [`desktop`] holds the commands the Shannon desktop
//! frontend polls.
//!
//! The API is what the crate root exports. The engine's modules (`core`, `ipc`, `http`) are
//! internal; the `unstable-internals` feature opens them for this crate's tests, benchmarks and
//! examples, with no stability promise. How the crate is laid out: `docs/architecture.md`.

// Every item of the public facade is documented. The internal modules the `unstable-internals`
// feature opens are not held to it.
#![cfg_attr(not(feature = "unstable-internals"), warn(missing_docs))]

pub mod config;
#[cfg(feature = "unstable-internals")]
pub mod core;
#[cfg(not(feature = "unstable-internals"))]
mod core;
pub mod desktop;
#[cfg(feature = "unstable-internals")]
pub mod http;
#[cfg(not(feature = "unstable-internals"))]
mod http;
#[cfg(feature = "unstable-internals")]
pub mod ipc;
#[cfg(not(feature = "unstable-internals"))]
mod ipc;
mod plugin;
mod state;

use tauri::Runtime;
use tauri::plugin::TauriPlugin;

pub use crate::core::auth::{AuthMethod, Caller};
pub use crate::core::crypto::SecretString;
pub use crate::core::hitl::approvals::ApprovalPolicy;
pub use crate::core::mcp::McpServerConfig;
pub use crate::core::run::{EngineDefaults, EventType, RecoveryPolicy, TaskStatus};
pub use crate::core::streams::{TaskEvent, TaskSubscription};
pub use crate::core::tasks::SubmitTaskRequest;
pub use crate::core::tasks::submit::SubmitTaskResponse;
pub use crate::core::tools::app::{AppTool, AppToolResult};
pub use crate::core::{
    Core, CoreConfig, CoreEvent, KeyStorage, ProviderKeysChanged, Result, SettingsChanged,
    ShannonError, TaskStatusChanged,
};
pub use crate::http::{Listener, ListenerOptions, ListenerStatus};
pub use plugin::Builder;
pub use state::{PLUGIN_NAME, Shannon, ShannonExt};

/// The plugin with default options: data in the app's local data dir.
pub fn init<R: Runtime>() -> TauriPlugin<R, Option<config::PluginConfigUpdate>> {
    Builder::new().build()
}
