//! Shared test harness: a MockRuntime app with the plugin on a temporary data directory, and a
//! helper that invokes commands through the real IPC path (ACL, deserialization, error mapping).
#![allow(dead_code)]

use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets,
};
use tauri::utils::acl::ExecutionContext;
use tauri::utils::config::AppDirectoriesOverride;
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow, WebviewWindowBuilder};
use tempfile::TempDir;

pub struct TestApp {
    pub app: App<MockRuntime>,
    pub webview: WebviewWindow<MockRuntime>,
    pub dir: TempDir,
    /// Every message sent on a `Channel`, as (channel id, JSON body), in send order.
    pub channel_messages: std::sync::mpsc::Receiver<(u32, Value)>,
    /// The desktop-mode app events (`server-*`), as (name, payload), in emit order.
    pub server_events: std::sync::mpsc::Receiver<(String, Value)>,
}

/// App-wide events desktop mode emits.
pub const SERVER_EVENTS: &[&str] = &[
    "server-port-selected",
    "server-ready",
    "server-state-change",
    "server-log",
];

impl TestApp {
    /// An app whose webview may call every plugin command.
    pub fn new() -> Self {
        Self::with_allowed(tauri_plugin_shannon::ipc::COMMANDS)
    }

    /// An app whose webview may call only `allowed` (the rest fail the ACL check).
    pub fn with_allowed(allowed: &[&str]) -> Self {
        Self::with_builder(allowed, |b| b)
    }

    /// An app whose plugin is configured by `configure` (on top of the temporary data dir and the
    /// master key in a file: no test writes into the keychain of the machine it runs on unless it
    /// asks for it with `master_key_storage`).
    pub fn with_builder(
        allowed: &[&str],
        configure: impl FnOnce(tauri_plugin_shannon::Builder) -> tauri_plugin_shannon::Builder,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut ctx = mock_context(noop_assets());
        ctx.config_mut().identifier = "dev.shannon.test".into();
        ctx.config_mut().app.app_directories_override =
            Some(AppDirectoriesOverride::Root(dir.path().join("app")));
        for cmd in allowed {
            ctx.runtime_authority_mut()
                .__allow_command(format!("plugin:shannon|{cmd}"), ExecutionContext::Local);
        }
        let (tx, channel_messages) = std::sync::mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let (event_tx, server_events) = std::sync::mpsc::channel();
        // A plugin registered first listens before the Shannon plugin's setup starts any work (the
        // app's own setup hook would run too late, at `run`).
        let recorder = tauri::plugin::Builder::<MockRuntime>::new("test-event-recorder")
            .setup(move |app, _api| {
                use tauri::Listener;
                for name in SERVER_EVENTS {
                    let tx = event_tx.clone();
                    app.listen_any(*name, move |e| {
                        let payload = serde_json::from_str(e.payload()).unwrap_or(Value::Null);
                        let _ = tx.send((name.to_string(), payload));
                    });
                }
                Ok(())
            })
            .build();
        let app = mock_builder()
            .plugin(recorder)
            .channel_interceptor(move |_webview, callback, _index, body| {
                let json: Value = match body {
                    tauri::ipc::InvokeResponseBody::Json(s) => serde_json::from_str(s).unwrap(),
                    tauri::ipc::InvokeResponseBody::Raw(b) => serde_json::from_slice(b).unwrap(),
                };
                let _ = tx.lock().unwrap().send((callback.0, json));
                true
            })
            .plugin(
                configure(
                    tauri_plugin_shannon::Builder::new()
                        .data_dir(dir.path().join("data"))
                        .master_key_storage(tauri_plugin_shannon::KeyStorage::File),
                )
                .build(),
            )
            .build(ctx)
            .unwrap();
        let webview = WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .unwrap();
        Self {
            app,
            webview,
            dir,
            channel_messages,
            server_events,
        }
    }

    /// Invokes `plugin:shannon|<cmd>` with JSON arguments (camelCase names, as the webview sends).
    pub fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let res = get_ipc_response(
            &self.webview,
            InvokeRequest {
                cmd: format!("plugin:shannon|{cmd}"),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().unwrap(),
                body: InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        );
        res.map(|body| body.deserialize::<Value>().unwrap())
    }

    pub fn ok(&self, cmd: &str, args: Value) -> Value {
        self.invoke(cmd, args)
            .unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }

    /// Asserts the command fails with error kind `kind`; returns the error body.
    pub fn err(&self, cmd: &str, args: Value, kind: &str) -> Value {
        let e = self
            .invoke(cmd, args)
            .expect_err(&format!("{cmd} should fail with {kind}"));
        assert_eq!(e["kind"], json!(kind), "{cmd}: unexpected error {e}");
        e
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }
}
