//! The plugin's managed state ([`Shannon`]): the configuration and the core, both loaded in the
//! background at start-up, the webview's signed-in credential and the HTTP listener; and
//! [`ShannonExt`], which gives Rust code in the app the same state. The IPC commands read it.

use std::path::PathBuf;
use std::sync::Mutex;

use tauri::{Manager, Runtime};
use tokio::sync::OnceCell;

use crate::config::signed::SignedConfig;
use crate::config::{PluginConfig, PluginConfigUpdate, PortRange, layered};
use crate::core::auth::Caller;
use crate::core::crypto::SecretString;
use crate::core::error::{Result, ShannonError};
use crate::core::run::EngineDefaults;
use crate::core::{Core, CoreConfig, KeyStorage};

/// The runtime name: commands are `plugin:shannon|<name>`, permissions `shannon:<id>`.
pub const PLUGIN_NAME: &str = "shannon";

pub(crate) type OnOpen = dyn Fn(&Core) + Send + Sync;

/// Managed state: the configuration and the core, both loaded in the background at start-up, and the
/// door's session.
pub struct Shannon {
    /// Builder override of the data dir, else the configured one, else this default.
    pub(crate) data_dir_override: Option<PathBuf>,
    pub(crate) default_data_dir: PathBuf,
    /// The configuration's layers besides the saved one: `plugins.shannon` in tauri.conf.json and
    /// the builder's (see `crate::config`).
    pub(crate) conf_layer: PluginConfigUpdate,
    pub(crate) builder_layer: PluginConfigUpdate,
    /// Where the signed configuration file and its key live: the app's config dir.
    pub(crate) config_dir: PathBuf,
    /// Where keys live: the OS keychain (Auto, Keychain) or 0600 files.
    pub(crate) key_storage: KeyStorage,
    pub(crate) config: OnceCell<Mutex<ConfigState>>,
    pub(crate) core: OnceCell<Core>,
    /// Credential the webview signed in with; `None` = the local embedded user.
    pub(crate) signed_in: Mutex<Option<SecretString>>,
    /// Runs once when the core opens, before any command can use it (event forwarding starts here,
    /// so no notification is missed).
    pub(crate) on_open: Box<OnOpen>,
    /// The loopback HTTP listener, when running.
    pub(crate) listener: tokio::sync::Mutex<Option<crate::http::Listener>>,
    /// The listener's token for this launch (the desktop init script hands it to the webview, so it
    /// stays the same across listener restarts).
    pub(crate) launch_token: String,
    /// Builder options for the listener, merged with the configuration.
    pub(crate) desktop: DesktopOptions,
    /// Live `subscribe_task` forwards by the id of their Channel, so `unsubscribe_task` can end one
    /// in the core: the webview dropping a Channel does not make its sends fail.
    pub(crate) subscriptions: Subscriptions,
    /// The app's tools, bound to its AppHandle, for the core.
    pub(crate) app_tools: Vec<crate::core::tools::app::AppTool>,
}

/// The forwarding tasks of live subscriptions, by Channel id.
pub(crate) type Subscriptions = std::sync::Arc<
    std::sync::Mutex<std::collections::HashMap<u32, tauri::async_runtime::JoinHandle<()>>>,
>;

/// The saved layer, its file and the configuration in effect.
pub(crate) struct ConfigState {
    saved: PluginConfigUpdate,
    /// `None` when the file's key could not be loaded: changes cannot be saved then.
    file: Option<SignedConfig>,
    effective: PluginConfig,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct DesktopOptions {
    pub(crate) enabled: bool,
    pub(crate) ports: Option<PortRange>,
    pub(crate) origins: Vec<String>,
}

impl Shannon {
    async fn config_cell(&self) -> Result<&Mutex<ConfigState>> {
        self.config
            .get_or_try_init(|| async {
                let (dir, storage) = (self.config_dir.clone(), self.key_storage);
                // File and keychain access: off the async threads.
                let file = tokio::task::spawn_blocking(move || SignedConfig::open(&dir, storage))
                    .await
                    .map_err(|e| ShannonError::Internal(e.to_string()))?;
                let file = file
                    .inspect_err(|e| {
                        tracing::error!(error = %e, "cannot open the Shannon plugin configuration file; using the configuration without it")
                    })
                    .ok();
                let saved = file.as_ref().map(SignedConfig::load).unwrap_or_default();
                let effective = layered(&self.conf_layer, &saved, &self.builder_layer);
                Ok(Mutex::new(ConfigState {
                    saved,
                    file,
                    effective,
                }))
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
            .effective
            .clone())
    }

    /// Validates, saves (signed) and applies a configuration change. The builder's options still win
    /// over a saved change.
    pub(crate) async fn update_config(&self, update: PluginConfigUpdate) -> Result<PluginConfig> {
        let cell = self.config_cell().await?;
        let (next, mcp_changed) = {
            let mut state = cell.lock().unwrap_or_else(|p| p.into_inner());
            // Refuses an invalid update with its error; nothing changes then.
            state.effective.apply(update.clone())?;
            let saved = state.saved.merged(&update)?;
            let next = layered(&self.conf_layer, &saved, &self.builder_layer);
            let file = state.file.as_ref().ok_or_else(|| {
                ShannonError::Config(
                    "the plugin configuration file could not be opened at start-up; see the log"
                        .into(),
                )
            })?;
            file.save(&saved)?;
            let mcp_changed = next.mcp_servers != state.effective.mcp_servers;
            state.saved = saved;
            state.effective = next.clone();
            (next, mcp_changed)
        };
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

    /// The core if it is open (never opens it).
    pub(crate) fn opened_core(&self) -> Option<Core> {
        self.core.get().cloned()
    }

    /// The core, opening it on first use. A failed open is retried by the next call, and its error
    /// (a newer database, a mismatched master key, a full disk) is returned to every caller meanwhile.
    pub async fn core(&self) -> Result<&Core> {
        self.core
            .get_or_try_init(|| async {
                let config = self.config().await?;
                let mut core_config = CoreConfig::new(self.data_dir().await?);
                core_config.key_storage = self.key_storage;
                core_config.defaults = EngineDefaults {
                    provider: config.default_provider,
                    model: config.default_model,
                };
                core_config.recovery = config.recovery;
                core_config.approvals = config.approvals;
                core_config.mcp_servers = config.mcp_servers;
                core_config.tools = self.app_tools.clone();
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

    /// The listener's status; not running, all `None`, when none was started.
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
    /// The plugin's state, managed by the app once the plugin is added.
    fn shannon(&self) -> &Shannon;
}

impl<R: Runtime, T: Manager<R>> ShannonExt<R> for T {
    fn shannon(&self) -> &Shannon {
        self.state::<Shannon>().inner()
    }
}
