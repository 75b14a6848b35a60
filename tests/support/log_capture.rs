//! The plugin's log lines as an app's `log` logger (what tauri-plugin-log installs) receives them,
//! with no tracing subscriber in the process. Include it from a test file with
//! `#[path = "support/log_capture.rs"] mod log_capture;`.
#![allow(dead_code)]

use std::sync::Mutex;

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

/// Makes the capture this process's `log` logger (the first call does; later ones keep it).
pub fn install() {
    if log::set_logger(&Capture).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
}

/// Every line so far, as `LEVEL target message`.
pub fn lines() -> Vec<String> {
    LINES.lock().unwrap().clone()
}

/// Whether a line so far contains `needle`.
pub fn logged(needle: &str) -> bool {
    LINES.lock().unwrap().iter().any(|l| l.contains(needle))
}
