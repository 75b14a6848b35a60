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

/// How [`TestApp::with_setup`] builds an app.
pub struct AppSetup {
    pub dir: TempDir,
    /// Full command names (`plugin:shannon|submit_task`, `plugin:store|load`) the webview may call.
    pub allowed: Vec<String>,
    /// Register tauri-plugin-store too, as many apps do.
    pub store_plugin: bool,
    /// `plugins.shannon` in the app's tauri.conf.json.
    pub plugin_conf: Option<Value>,
}

/// The commands a permission set in `permissions/<file>` grants (`[default]` or one `[[set]]`).
pub fn commands_of_set(file: &str, set: &str) -> Vec<String> {
    let text = std::fs::read_to_string(std::path::Path::new("permissions").join(file)).unwrap();
    let section = if set == "default" {
        text.split("[default]").nth(1).unwrap().to_string()
    } else {
        let marker = format!("identifier = \"{set}\"");
        let start = text.find(&marker).unwrap_or_else(|| panic!("no set {set}"));
        text[start..].split("[[set]]").next().unwrap().to_string()
    };
    let list = section.split("permissions").nth(1).unwrap();
    let list = &list[..list.find(']').unwrap()];
    list.split('"')
        .filter_map(|p| p.strip_prefix("allow-"))
        .map(|p| format!("plugin:shannon|{}", p.replace('-', "_")))
        .collect()
}

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
        configure: impl FnOnce(
            tauri_plugin_shannon::Builder<MockRuntime>,
        ) -> tauri_plugin_shannon::Builder<MockRuntime>,
    ) -> Self {
        let allowed = allowed
            .iter()
            .map(|cmd| format!("plugin:shannon|{cmd}"))
            .collect();
        Self::with_setup(
            AppSetup {
                dir: tempfile::tempdir().unwrap(),
                allowed,
                store_plugin: false,
                plugin_conf: None,
            },
            configure,
        )
    }

    /// An app on `setup.dir` (a restart reuses it) whose webview may call `setup.allowed`.
    pub fn with_setup(
        setup: AppSetup,
        configure: impl FnOnce(
            tauri_plugin_shannon::Builder<MockRuntime>,
        ) -> tauri_plugin_shannon::Builder<MockRuntime>,
    ) -> Self {
        let AppSetup {
            dir,
            allowed,
            store_plugin,
            plugin_conf,
        } = setup;
        let mut ctx = mock_context(noop_assets());
        ctx.config_mut().identifier = "dev.shannon.test".into();
        if let Some(conf) = plugin_conf {
            ctx.config_mut().plugins.0.insert("shannon".into(), conf);
        }
        ctx.config_mut().app.app_directories_override =
            Some(AppDirectoriesOverride::Root(dir.path().join("app")));
        for cmd in allowed {
            ctx.runtime_authority_mut()
                .__allow_command(cmd, ExecutionContext::Local);
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
        let mut builder = mock_builder();
        if store_plugin {
            builder = builder.plugin(tauri_plugin_store::Builder::default().build());
        }
        let app = builder
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
        self.invoke_any(&format!("plugin:shannon|{cmd}"), args)
    }

    /// Invokes any command by its full name (`plugin:store|load`).
    pub fn invoke_any(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let res = get_ipc_response(
            &self.webview,
            InvokeRequest {
                cmd: cmd.to_string(),
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
