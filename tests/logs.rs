//! The plugin's log lines reach an app's `log` logger (what tauri-plugin-log installs) when no
//! tracing subscriber is set: this process installs only a `log` logger, as such an app does.

#[path = "support/log_capture.rs"]
mod log_capture;

use tauri_plugin_shannon::{Core, CoreConfig};

#[tokio::test(flavor = "multi_thread")]
async fn the_plugins_lines_reach_the_apps_log_logger() {
    log_capture::install();
    let dir = tempfile::tempdir().unwrap();
    let core = Core::open(CoreConfig::new(dir.path())).await.unwrap();
    core.shutdown(std::time::Duration::from_secs(4)).await;
    let lines = log_capture::lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("INFO tauri_plugin_shannon") && l.contains("shut down")),
        "{lines:#?}"
    );
}
