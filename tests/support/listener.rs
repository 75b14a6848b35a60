//! A loopback listener on a fresh data dir, as the HTTP tests start it: the given launch token and
//! the dev origin `http://localhost:1420` allowed.
//!
//! Include it from a test file with `#[path = "support/listener.rs"] mod listener;`.
#![allow(dead_code)]

use tauri_plugin_shannon::http::{Listener, ListenerOptions};
use tauri_plugin_shannon::{Core, CoreConfig};

/// The listener and the data dir it lives on (dropped with it).
pub async fn start(token: &str) -> (Listener, tempfile::TempDir) {
    // reqwest is built without a bundled crypto provider (the plugin picks ring).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let core = Core::open(CoreConfig::new(dir.path())).await.unwrap();
    let listener = Listener::start(
        core,
        ListenerOptions {
            token: Some(token.into()),
            extra_origins: vec!["http://localhost:1420".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    (listener, dir)
}
