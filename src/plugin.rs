//! The Tauri plugin: builder options, managed state, start-up and the bridge from core notifications
//! to typed Tauri events.

use std::path::PathBuf;
use std::sync::Mutex;

use tauri::plugin::{Builder as PluginBuilder, TauriPlugin};
use tauri::{Manager, Runtime};
use tauri_specta::Event;
use tokio::sync::{OnceCell, watch};

use crate::config::{PluginConfig, PluginConfigUpdate, PortRange, persisted};
use crate::core::auth::Caller;
use crate::core::crypto::SecretString;
use crate::core::engine::EngineDefaults;
use crate::core::error::{Result, ShannonError};
use crate::core::{Core, CoreConfig, CoreEvent};
use crate::ipc;

/// The runtime name: commands are `plugin:shannon|<name>`, permissions `shannon:<id>`.
pub const PLUGIN_NAME: &str = "shannon";

type LoadConfig = dyn Fn() -> Result<PluginConfig> + Send + Sync;
type SaveConfig = dyn Fn(&PluginConfig) -> Result<()> + Send + Sync;
type OnOpen = dyn Fn(&Core) + Send + Sync;

/// Managed state: the configuration and the core, both loaded in the background at start-up, and the
/// door's session.
pub struct Shannon {
    /// Builder override of the data dir, else the configured one, else this default.
    data_dir_override: Option<PathBuf>,
    default_data_dir: PathBuf,
    /// Becomes true once tauri-plugin-store is registered (the plugin registers it after its own
    /// setup, since a plugin cannot register another while it is being set up).
    store_ready: watch::Receiver<bool>,
    config: OnceCell<Mutex<PluginConfig>>,
    core: OnceCell<Core>,
    /// Credential the webview signed in with; `None` = the local embedded user.
    signed_in: Mutex<Option<SecretString>>,
    load_config: Box<LoadConfig>,
    save_config: Box<SaveConfig>,
    /// Runs once when the core opens, before any command can use it (event forwarding starts here,
    /// so no notification is missed).
    on_open: Box<OnOpen>,
    /// The loopback HTTP listener, when running.
    listener: tokio::sync::Mutex<Option<crate::http::Listener>>,
    /// The listener's token for this launch (the desktop init script hands it to the webview, so it
    /// stays the same across listener restarts).
    launch_token: String,
    /// Builder options for the listener, merged with the configuration.
    desktop: DesktopOptions,
}

#[derive(Debug, Clone, Default)]
struct DesktopOptions {
    enabled: bool,
    ports: Option<PortRange>,
    origins: Vec<String>,
}

impl Shannon {
    async fn config_cell(&self) -> Result<&Mutex<PluginConfig>> {
        self.config
            .get_or_try_init(|| async {
                let mut ready = self.store_ready.clone();
                ready
                    .wait_for(|r| *r)
                    .await
                    .map_err(|_| ShannonError::Config("the store plugin never started".into()))?;
                let config = (self.load_config)().unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "using the default Shannon plugin configuration");
                    PluginConfig::default()
                });
                Ok(Mutex::new(config))
            })
            .await
    }

    /// The current plugin configuration.
    pub async fn config(&self) -> Result<PluginConfig> {
        Ok(self
            .config_cell()
            .await?
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone())
    }

    /// Validates, persists and applies a configuration change.
    pub(crate) async fn update_config(&self, update: PluginConfigUpdate) -> Result<PluginConfig> {
        let cell = self.config_cell().await?;
        let (next, mcp_changed) = {
            let current = cell.lock().unwrap_or_else(|p| p.into_inner());
            let next = current.apply(update)?;
            let changed = next.mcp_servers != current.mcp_servers;
            (next, changed)
        };
        (self.save_config)(&next)?;
        *cell.lock().unwrap_or_else(|p| p.into_inner()) = next.clone();
        if let Some(core) = self.core.get() {
            core.set_engine_defaults(&next.default_provider, next.default_model.clone())?;
            core.set_approval_policy(next.approvals.clone())?;
            if mcp_changed {
                // Only a changed list restarts the servers.
                core.set_mcp_servers(next.mcp_servers.clone())?;
            }
        }
        Ok(next)
    }

    /// Where the database and master key live.
    pub async fn data_dir(&self) -> Result<PathBuf> {
        if let Some(dir) = &self.data_dir_override {
            return Ok(dir.clone());
        }
        Ok(self
            .config()
            .await?
            .data_dir
            .map(PathBuf::from)
            .unwrap_or_else(|| self.default_data_dir.clone()))
    }

    /// The core, opening it on first use. A failed open is retried by the next call, and its error
    /// (a newer database, a mismatched master key, a full disk) is returned to every caller meanwhile.
    pub async fn core(&self) -> Result<&Core> {
        self.core
            .get_or_try_init(|| async {
                let config = self.config().await?;
                let mut core_config = CoreConfig::new(self.data_dir().await?);
                core_config.defaults = EngineDefaults {
                    provider: config.default_provider,
                    model: config.default_model,
                };
                core_config.recovery = config.recovery;
                core_config.approvals = config.approvals;
                core_config.mcp_servers = config.mcp_servers;
                let core = Core::open(core_config).await?;
                (self.on_open)(&core);
                Ok(core)
            })
            .await
    }

    /// The core and the identity the webview currently acts as.
    pub(crate) async fn resolve(&self) -> Result<(&Core, Caller)> {
        let core = self.core().await?;
        let token = self
            .signed_in
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let caller = match token {
            None => Caller::embedded(),
            Some(t) => core.authenticate(t.expose()).await?,
        };
        Ok((core, caller))
    }

    /// Starts the loopback listener (or returns the running one's status).
    /// Without a port, desktop mode uses its port range and otherwise the configured port.
    pub async fn start_listener(&self, port: Option<u16>) -> Result<crate::http::ListenerStatus> {
        let config = self.config().await?;
        match port {
            Some(p) => self.start_listener_with(p, None).await,
            None if self.desktop_mode().await => {
                let range = self.desktop_ports_or(config.desktop_ports);
                self.start_listener_on(range.first..=range.last).await
            }
            None => self.start_listener_with(config.listener_port, None).await,
        }
    }

    /// Starts the listener on the first free port of `ports` (desktop mode).
    pub async fn start_listener_on(
        &self,
        ports: std::ops::RangeInclusive<u16>,
    ) -> Result<crate::http::ListenerStatus> {
        self.start_listener_with(0, Some(ports)).await
    }

    /// Whether desktop mode is on (the builder option or the configuration).
    pub async fn desktop_mode(&self) -> bool {
        self.desktop.enabled || self.config().await.is_ok_and(|c| c.desktop_mode)
    }

    /// The builder's desktop port range, else the configured one.
    pub(crate) fn desktop_ports_or(&self, configured: PortRange) -> PortRange {
        self.desktop.ports.unwrap_or(configured)
    }

    async fn start_listener_with(
        &self,
        port: u16,
        port_range: Option<std::ops::RangeInclusive<u16>>,
    ) -> Result<crate::http::ListenerStatus> {
        let mut slot = self.listener.lock().await;
        if let Some(l) = slot.as_ref() {
            return Ok(l.status());
        }
        let config = self.config().await?;
        let core = self.core().await?.clone();
        let mut extra_origins = config.listener_origins;
        extra_origins.extend(self.desktop.origins.iter().cloned());
        let listener = crate::http::Listener::start(
            core,
            crate::http::ListenerOptions {
                port,
                port_range,
                extra_origins,
                token: Some(self.launch_token.clone()),
            },
        )
        .await?;
        let status = listener.status();
        *slot = Some(listener);
        Ok(status)
    }

    /// Stops the listener gracefully; a no-op when it is not running.
    pub async fn stop_listener(&self) {
        if let Some(l) = self.listener.lock().await.take() {
            l.stop().await;
        }
    }

    pub async fn listener_status(&self) -> crate::http::ListenerStatus {
        match self.listener.lock().await.as_ref() {
            Some(l) => l.status(),
            None => crate::http::ListenerStatus {
                running: false,
                url: None,
                port: None,
                token: None,
                token_file: None,
            },
        }
    }

    pub(crate) fn set_signed_in(&self, token: Option<SecretString>) {
        *self.signed_in.lock().unwrap_or_else(|p| p.into_inner()) = token;
    }
}

/// Access to the plugin from Rust: `app.shannon().core().await?`.
pub trait ShannonExt<R: Runtime> {
    fn shannon(&self) -> &Shannon;
}

impl<R: Runtime, T: Manager<R>> ShannonExt<R> for T {
    fn shannon(&self) -> &Shannon {
        self.state::<Shannon>().inner()
    }
}

/// Plugin options. `tauri_plugin_shannon::init()` is `Builder::new().build()`.
#[derive(Debug, Clone)]
pub struct Builder {
    data_dir: Option<PathBuf>,
    register_store_plugin: bool,
    desktop: DesktopOptions,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    pub fn new() -> Self {
        Self {
            data_dir: None,
            register_store_plugin: true,
            desktop: DesktopOptions::default(),
        }
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

    /// The plugin registers tauri-plugin-store itself unless told the app already did (pass `false`
    /// when the app registers the store plugin with its own options, before this one).
    pub fn register_store_plugin(mut self, register: bool) -> Self {
        self.register_store_plugin = register;
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

    pub fn build<R: Runtime>(self) -> TauriPlugin<R> {
        self.desktop_from_env().build_plugin()
    }

    fn build_plugin<R: Runtime>(self) -> TauriPlugin<R> {
        let specta = ipc::specta_builder::<R>();
        let launch_token = crate::http::new_token();
        let mut plugin = PluginBuilder::new(PLUGIN_NAME);
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
            .setup(move |app, _api| {
                specta.mount_events(app);
                let (store_ready_tx, store_ready) = watch::channel(!self.register_store_plugin);
                if self.register_store_plugin {
                    // Plugins are registered under a lock that is held during this setup, so the
                    // store plugin is added from another thread once setup has returned.
                    let handle = app.clone();
                    std::thread::spawn(move || {
                        match handle.plugin(tauri_plugin_store::Builder::default().build()) {
                            Ok(()) => {
                                let _ = store_ready_tx.send(true);
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "could not register tauri-plugin-store")
                            }
                        }
                    });
                }
                let (load, save, events) = (app.clone(), app.clone(), app.clone());
                app.manage(Shannon {
                    data_dir_override: self.data_dir.clone(),
                    default_data_dir: app.path().app_local_data_dir()?,
                    store_ready,
                    config: OnceCell::new(),
                    core: OnceCell::new(),
                    signed_in: Mutex::new(None),
                    load_config: Box::new(move || persisted::load(&load)),
                    save_config: Box::new(move |c| persisted::save(&save, c)),
                    listener: tokio::sync::Mutex::new(None),
                    launch_token: launch_token.clone(),
                    desktop: self.desktop.clone(),
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
                    // Let open requests finish and remove the token file.
                    tauri::async_runtime::block_on(crate::desktop::stop(app));
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
