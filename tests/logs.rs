//! The plugin's log lines reach an app's `log` logger (what tauri-plugin-log installs) when no
//! tracing subscriber is set: this process installs only a `log` logger, as such an app does.

use std::sync::Mutex;

use tauri_plugin_shannon::{Core, CoreConfig};

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {} {}", record.level(), record.target(), record.args());
        LINES.lock().unwrap().push(line);
    }

    fn flush(&self) {}
}

#[tokio::test(flavor = "multi_thread")]
async fn the_plugins_lines_reach_the_apps_log_logger() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let dir = tempfile::tempdir().unwrap();
    let core = Core::open(CoreConfig::new(dir.path())).await.unwrap();
    core.shutdown(std::time::Duration::from_secs(4)).await;
    let lines = LINES.lock().unwrap().clone();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("INFO tauri_plugin_shannon") && l.contains("shut down")),
        "{lines:#?}"
    );
}
