//! Desktop mode: the listener as the backend of the existing Shannon desktop frontend. It starts with
//! the app on the first free port of a range (1906–1915 by default), reports its life cycle with the
//! Tauri events the frontend listens to, and hands the per-launch token to the app's own webview
//! through an init script, so the frontend authenticates without the user typing anything.

use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Emitter, Runtime};

use crate::state::ShannonExt;

/// `server-ready`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ServerReady {
    /// The API's base URL, `http://localhost:{port}`.
    pub url: String,
    /// The port the listener bound, from the desktop range.
    pub port: u16,
}

/// `server-state-change`: lower-case life-cycle states (`idle`, `starting`, `port-discovery`,
/// `ready`, `failed`, `stopping`, `stopped`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ServerStateChange {
    /// The state left.
    pub from: String,
    /// The state entered.
    pub to: String,
    /// The bound port; only on the change to `ready`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Why the listener could not start; only on the change to `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it changed: RFC 3339 UTC with microseconds.
    pub timestamp: String,
}

/// `server-log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ServerLog {
    /// `info` or `error`.
    pub level: String,
    /// The human-readable line.
    pub message: String,
    /// Always `shannon`.
    pub component: String,
    /// When it was logged: RFC 3339 UTC with microseconds.
    pub timestamp: String,
}

/// Event names the desktop frontend listens to (app-wide, not plugin-prefixed).
pub mod event_names {
    /// Payload: the bound port (a number), as soon as the listener binds.
    pub const SERVER_PORT_SELECTED: &str = "server-port-selected";
    /// Payload: [`ServerReady`](super::ServerReady), once the API accepts requests.
    pub const SERVER_READY: &str = "server-ready";
    /// Payload: [`ServerStateChange`](super::ServerStateChange), at each life-cycle step.
    pub const SERVER_STATE_CHANGE: &str = "server-state-change";
    /// Payload: [`ServerLog`](super::ServerLog), a line for the frontend's log view.
    pub const SERVER_LOG: &str = "server-log";
}

/// localStorage key the desktop frontend reads its API key from.
const FRONTEND_API_KEY: &str = "shannon_api_key";
/// Where the init script remembers which key it wrote, so a stale launch token is replaced while a
/// key the user configured is left alone.
const LAUNCH_KEY_MARK: &str = "shannon_embedded_launch_token";

/// The init script that gives the launch token to the app's own pages only: top frame, and an origin
/// of the app (never a page the webview navigated to).
pub(crate) fn init_script(token: &str, origins: &[String]) -> String {
    let origins = serde_json::to_string(origins).unwrap_or_else(|_| "[]".into());
    let token = serde_json::to_string(token).unwrap_or_else(|_| "\"\"".into());
    format!(
        r#"(function () {{
  if (window.top !== window.self) return;
  if ({origins}.indexOf(window.location.origin) < 0) return;
  var token = {token};
  try {{
    var current = window.localStorage.getItem("{FRONTEND_API_KEY}");
    var mark = window.localStorage.getItem("{LAUNCH_KEY_MARK}");
    if (!current || current === mark) {{
      window.localStorage.setItem("{FRONTEND_API_KEY}", token);
      window.localStorage.setItem("{LAUNCH_KEY_MARK}", token);
    }}
  }} catch (e) {{}}
  Object.defineProperty(window, "__SHANNON_EMBEDDED_TOKEN__", {{ value: token, configurable: false, writable: false }});
}})();"#
    )
}

fn now() -> String {
    crate::core::time::now()
}

fn state_change<R: Runtime>(
    app: &AppHandle<R>,
    from: &str,
    to: &str,
    port: Option<u16>,
    error: Option<String>,
) {
    let payload = ServerStateChange {
        from: from.into(),
        to: to.into(),
        port,
        error,
        timestamp: now(),
    };
    if let Err(e) = app.emit(event_names::SERVER_STATE_CHANGE, payload) {
        tracing::warn!(error = %e, "could not emit server-state-change");
    }
}

fn log<R: Runtime>(app: &AppHandle<R>, level: &str, message: String) {
    let payload = ServerLog {
        level: level.into(),
        message,
        component: "shannon".into(),
        timestamp: now(),
    };
    let _ = app.emit(event_names::SERVER_LOG, payload);
}

/// Starts the listener on the desktop port range and announces each step. A failure (every port
/// taken, the core not opening) becomes a `failed` state change and a log line, never a panic.
pub(crate) async fn start<R: Runtime>(app: AppHandle<R>) {
    let shannon = app.shannon();
    state_change(&app, "idle", "starting", None, None);
    let range = match shannon.config().await {
        Ok(c) => shannon.desktop_ports_or(c.desktop_ports),
        Err(e) => {
            fail(&app, "starting", e.to_string());
            return;
        }
    };
    state_change(&app, "starting", "port-discovery", None, None);
    match shannon.start_listener_on(range.first..=range.last).await {
        Ok(status) => {
            let port = status.port.unwrap_or_default();
            let _ = app.emit(event_names::SERVER_PORT_SELECTED, port);
            let url = format!("http://localhost:{port}");
            tracing::info!(%url, "Shannon desktop API ready");
            log(&app, "info", format!("Shannon API listening on {url}"));
            state_change(&app, "port-discovery", "ready", Some(port), None);
            if let Err(e) = app.emit(event_names::SERVER_READY, ServerReady { url, port }) {
                tracing::warn!(error = %e, "could not emit server-ready");
            }
        }
        Err(e) => fail(&app, "port-discovery", e.to_string()),
    }
}

fn fail<R: Runtime>(app: &AppHandle<R>, from: &str, error: String) {
    tracing::error!(error = %error, "the Shannon desktop API could not start");
    log(
        app,
        "error",
        format!("the Shannon API could not start: {error}"),
    );
    state_change(app, from, "failed", None, Some(error));
}

/// Stops the listener at exit, announcing it.
pub(crate) async fn stop<R: Runtime>(app: &AppHandle<R>) {
    let shannon = app.shannon();
    if !shannon.listener_status().await.running {
        return;
    }
    state_change(app, "ready", "stopping", None, None);
    shannon.stop_listener().await;
    state_change(app, "stopping", "stopped", None, None);
}

/// App command the desktop frontend polls: the API's base URL once it listens, else `null`.
/// Register it in the app: `.invoke_handler(tauri::generate_handler![
/// tauri_plugin_shannon::desktop::get_embedded_api_url,
/// tauri_plugin_shannon::desktop::is_embedded_api_running])`.
#[tauri::command]
pub async fn get_embedded_api_url<R: Runtime>(app: AppHandle<R>) -> Option<String> {
    let status = app.shannon().listener_status().await;
    (status.running)
        .then(|| status.port.map(|p| format!("http://localhost:{p}")))
        .flatten()
}

/// App command the desktop frontend polls: whether the API listens.
#[tauri::command]
pub async fn is_embedded_api_running<R: Runtime>(app: AppHandle<R>) -> bool {
    app.shannon().listener_status().await.running
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_init_script_embeds_the_token_and_origins_as_json_literals() {
        let s = init_script("ab\"c", &["tauri://localhost".to_string()]);
        assert!(s.contains(r#"var token = "ab\"c";"#));
        assert!(s.contains(r#"["tauri://localhost"].indexOf(window.location.origin)"#));
        assert!(s.contains("window.top !== window.self"));
    }
}
