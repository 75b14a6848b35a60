//! The plugin's log lines, captured two ways: as an app's `log` logger (what tauri-plugin-log
//! installs) receives them with no tracing subscriber in the process ([`install`]), and as the text a
//! tracing subscriber writes ([`Captured`]). Include it from a test file with
//! `#[path = "support/log_capture.rs"] mod log_capture;`.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A tracing subscriber's writer that keeps what it is given: `.with_writer(move || c.clone())`.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

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
