//! The Tauri plugin: builder options, start-up (the configuration and the core opened in the
//! background, the listener started when configured), exit (an orderly shutdown) and the bridge from
//! core notifications to typed Tauri events.

use std::path::PathBuf;
use std::sync::Mutex;

use tauri::plugin::{Builder as PluginBuilder, TauriPlugin};
use tauri::{AppHandle, Manager, Runtime};
use tauri_specta::Event;
use tokio::sync::OnceCell;

use crate::config::{PluginConfigUpdate, PortRange, signed};
use crate::core::error::ShannonError;
use crate::core::tools::app::AppTool;
use crate::core::{CoreEvent, KeyStorage};
use crate::ipc;
use crate::state::{DesktopOptions, PLUGIN_NAME, Shannon, ShannonExt};

/// Plugin options. `tauri_plugin_shannon::init()` is `Builder::new().build()`. The runtime `R`
/// is the app's (inferred where the plugin is added); the app's tools get an `AppHandle<R>`.
pub struct Builder<R: Runtime> {
    data_dir: Option<PathBuf>,
    config: PluginConfigUpdate,
    key_storage: KeyStorage,
    desktop: DesktopOptions,
    tools: Vec<AppTool<AppHandle<R>>>,
}

impl<R: Runtime> Clone for Builder<R> {
    fn clone(&self) -> Self {
        Self {
            data_dir: self.data_dir.clone(),
            config: self.config.clone(),
            key_storage: self.key_storage,
            desktop: self.desktop.clone(),
            tools: self.tools.clone(),
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Builder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("data_dir", &self.data_dir)
            .field("config", &self.config)
            .field("key_storage", &self.key_storage)
            .field("desktop", &self.desktop)
            .field("tools", &self.tools)
            .finish()
    }
}

impl<R: Runtime> Default for Builder<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Runtime> Builder<R> {
    /// The defaults: no data dir override, the master key in the OS keychain when one answers
    /// ([`KeyStorage::Auto`]), no configuration of its own, desktop mode off, no app tools.
    pub fn new() -> Self {
        Self {
            data_dir: None,
            config: PluginConfigUpdate::default(),
            key_storage: KeyStorage::Auto,
            desktop: DesktopOptions::default(),
            tools: Vec::new(),
        }
    }

    /// A tool of the app that agents may call like a built-in one: offered to the model within
    /// the user's and the task's allow and block lists, asking first when it is dangerous, its
    /// calls in the task's events and journal, listed by `list_tools` with source `app`. Its
    /// handler gets the call's arguments and the app's [`AppHandle`], to read the app's state.
    /// A bad name or schema keeps the core from opening, with the reason in the log.
    ///
    /// ```no_run
    /// # fn plugin<R: tauri::Runtime>() -> tauri_plugin_shannon::Builder<R> {
    /// use tauri_plugin_shannon::AppTool;
    /// tauri_plugin_shannon::Builder::new().tool(
    ///     AppTool::new("app_name", "Returns the app's name", |_args, app: tauri::AppHandle<R>| async move {
    ///         Ok(app.package_info().name.clone().into())
    ///     }),
    /// )
    /// # }
    /// ```
    pub fn tool(mut self, tool: AppTool<AppHandle<R>>) -> Self {
        self.tools.push(tool);
        self
    }

    /// Desktop mode, for the Shannon desktop frontend: the HTTP listener starts with the app on the
    /// first free port of 1906–1915 (see [`Builder::desktop_ports`]), answers `GET /ready`, emits
    /// `server-port-selected`, `server-ready` and `server-state-change`, and the app's own webview
    /// receives the per-launch token (as the frontend's `shannon_api_key`) through an init script.
    /// Requests without that token, a JWT or an API key are still refused.
    pub fn desktop_mode(mut self, enabled: bool) -> Self {
        self.desktop.enabled = enabled;
        self
    }

    /// Ports desktop mode tries, in order. Wins over the configured `desktop_ports`.
    pub fn desktop_ports(mut self, ports: std::ops::RangeInclusive<u16>) -> Self {
        self.desktop.ports = Some(PortRange {
            first: *ports.start(),
            last: *ports.end(),
        });
        self
    }

    /// An origin (e.g. a dev server `http://localhost:3000`) the listener accepts and, in desktop
    /// mode, the init script hands the token to, besides the webview's own origins.
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.desktop.origins.push(origin.into());
        self
    }

    /// Keeps the database and master key in `dir` instead of the app's local data dir (tests,
    /// portable installs). Wins over the persisted `data_dir` configuration.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Configuration from Rust (MCP servers, the listener, the default provider…): wins over
    /// `plugins.shannon` in `tauri.conf.json` and over what `set_plugin_config` saved. Fields left
    /// `None` keep those.
    pub fn config(mut self, config: PluginConfigUpdate) -> Self {
        self.config = config;
        self
    }

    /// Where the master key (and the configuration file's key) live: [`KeyStorage::Auto`] (the
    /// default) keeps them in the OS keychain (Secret Service, macOS Keychain, Windows Credential
    /// Manager) when one answers within a few seconds, else in 0600 files; `Keychain` requires the
    /// keychain; `File` always uses files. In the keychain, a `master.key` file found at start-up is
    /// moved in (and removed once the keychain reads it back).
    pub fn master_key_storage(mut self, storage: KeyStorage) -> Self {
        self.key_storage = storage;
        self
    }

    /// `SHANNON_DESKTOP_MODE=1` (with an optional `SHANNON_DESKTOP_PORTS=first-last`) turns desktop
    /// mode on without a code change: to serve the desktop frontend from an existing app, and for tests.
    fn desktop_from_env(mut self) -> Self {
        if std::env::var("SHANNON_DESKTOP_MODE").is_ok_and(|v| v == "1" || v == "true") {
            self.desktop.enabled = true;
        }
        if let Ok(ports) = std::env::var("SHANNON_DESKTOP_PORTS") {
            let parsed = ports
                .split_once('-')
                .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
                .map(|(first, last)| PortRange { first, last }.validate());
            match parsed {
                Some(Ok(range)) => self.desktop.ports = Some(range),
                _ => {
                    tracing::warn!(%ports, "SHANNON_DESKTOP_PORTS must be first-last, e.g. 1906-1915")
                }
            }
        }
        self
    }

    /// The plugin to pass to `tauri::Builder::plugin`. `SHANNON_DESKTOP_MODE=1` (and
    /// `SHANNON_DESKTOP_PORTS=first-last`) in the environment turn desktop mode on here.
    pub fn build(self) -> TauriPlugin<R, Option<PluginConfigUpdate>> {
        self.desktop_from_env().build_plugin()
    }

    fn build_plugin(self) -> TauriPlugin<R, Option<PluginConfigUpdate>> {
        let specta = ipc::specta_builder::<R>();
        let launch_token = crate::http::new_token();
        // `plugins.shannon` in tauri.conf.json: optional, typed, unknown fields refused.
        let mut plugin = PluginBuilder::<R, Option<PluginConfigUpdate>>::new(PLUGIN_NAME);
        if self.desktop.enabled {
            let mut origins: Vec<String> = crate::http::WEBVIEW_ORIGINS
                .iter()
                .map(|o| o.to_string())
                .collect();
            origins.extend(self.desktop.origins.iter().cloned());
            plugin = plugin.js_init_script(crate::desktop::init_script(&launch_token, &origins));
        }
        plugin
            .invoke_handler(specta.invoke_handler())
            .setup(move |app, api| {
                specta.mount_events(app);
                let events = app.clone();
                signed::warn_about_legacy_file(&app.path().app_data_dir()?);
                app.manage(Shannon {
                    data_dir_override: self.data_dir.clone(),
                    default_data_dir: app.path().app_local_data_dir()?,
                    conf_layer: api.config().clone().unwrap_or_default(),
                    builder_layer: self.config.clone(),
                    config_dir: app.path().app_config_dir()?,
                    key_storage: self.key_storage,
                    config: OnceCell::new(),
                    core: OnceCell::new(),
                    signed_in: Mutex::new(None),
                    listener: tokio::sync::Mutex::new(None),
                    launch_token: launch_token.clone(),
                    desktop: self.desktop.clone(),
                    subscriptions: Default::default(),
                    app_tools: self
                        .tools
                        .iter()
                        .map(|t| t.clone().bind(app.clone()))
                        .collect(),
                    on_open: Box::new(move |core| {
                        let rx = core.subscribe_events();
                        tauri::async_runtime::spawn(forward_events(events.clone(), rx));
                    }),
                });
                // Open the database off the main thread now, so the first command finds it ready.
                let app = app.clone();
                tauri::async_runtime::spawn(async move {
                    let shannon = app.shannon();
                    let opened = shannon.core().await;
                    if let Err(e) = &opened {
                        tracing::error!(error = %e, "the Shannon core failed to open");
                    }
                    if shannon.desktop_mode().await {
                        // Reports a core that did not open as a failed start.
                        crate::desktop::start(app.clone()).await;
                    } else if opened.is_ok()
                        && shannon.config().await.is_ok_and(|c| c.listener_enabled)
                        && let Err(e) = shannon.start_listener(None).await
                    {
                        tracing::error!(error = %e, "the Shannon listener could not start");
                    }
                });
                Ok(())
            })
            .on_event(|app, event| {
                if let tauri::RunEvent::Exit = event {
                    // An orderly stop within 5 s: the listener lets open requests finish and
                    // removes its token file while running tasks stop at their next checkpoint
                    // (resumable at the next start), their events stored.
                    tauri::async_runtime::block_on(async {
                        let core = app.shannon().opened_core();
                        tokio::join!(crate::desktop::stop(app), async {
                            if let Some(core) = core {
                                core.shutdown(std::time::Duration::from_secs(4)).await;
                            }
                        });
                    });
                }
            })
            .build()
    }
}

/// Re-emits core notifications as typed Tauri events until the core is dropped.
async fn forward_events<R: Runtime>(
    app: tauri::AppHandle<R>,
    mut rx: tokio::sync::broadcast::Receiver<CoreEvent>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let result = match rx.recv().await {
            Ok(CoreEvent::SettingsChanged(e)) => e.emit(&app),
            Ok(CoreEvent::ProviderKeysChanged(e)) => e.emit(&app),
            Ok(CoreEvent::TaskStatusChanged(e)) => e.emit(&app),
            Ok(CoreEvent::RemoteStatusChanged(e)) => e.emit(&app),
            Ok(CoreEvent::HistoryProgress(e)) => e.emit(&app),
            Err(RecvError::Lagged(n)) => {
                tracing::debug!(skipped = n, "core notifications lagged");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not emit a Shannon event");
        }
    }
}

impl From<tauri::Error> for ShannonError {
    fn from(e: tauri::Error) -> Self {
        ShannonError::Internal(e.to_string())
    }
}
