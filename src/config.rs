//! Plugin configuration: how the plugin itself runs on this machine (where its data lives, the default
//! provider and model, the HTTP listener). Persisted with tauri-plugin-store in `shannon-config.json`
//! under the app's data dir. User data (settings, keys, tasks) lives in SQLite, never here.

use serde::{Deserialize, Serialize};

use crate::core::error::{Result, ShannonError};
use crate::core::hitl::approvals::ApprovalPolicy;
use crate::core::mcp::{McpHub, McpServerConfig};
use crate::core::run::RecoveryPolicy;
use crate::core::settings::providers;

/// Store file (relative to the app data dir) that holds [`PluginConfig`].
pub const CONFIG_STORE_FILE: &str = "shannon-config.json";
const CONFIG_KEY: &str = "config";

/// The persisted plugin configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct PluginConfig {
    /// Data directory override; `None` = the app's local data dir. Takes effect at the next start.
    pub data_dir: Option<String>,
    /// Provider used when a task names none.
    pub default_provider: String,
    /// Model used when a task names none; `None` = the provider's default.
    pub default_model: Option<String>,
    /// Start the loopback HTTP listener with the app.
    pub listener_enabled: bool,
    /// Listener port on 127.0.0.1; 0 picks a free one.
    pub listener_port: u16,
    /// Origins allowed to call the listener besides the webview's, e.g. a dev server
    /// `http://localhost:1420`. Never `*`.
    pub listener_origins: Vec<String>,
    /// What start-up does with tasks the last exit interrupted: `resume` them from their last
    /// completed step (default) or mark them `fail`ed.
    pub recovery: RecoveryPolicy,
    /// Desktop mode: the listener starts with the app on the first free port of `desktop_ports`,
    /// for the Shannon desktop frontend (see `Builder::desktop_mode`).
    pub desktop_mode: bool,
    /// Ports desktop mode tries, in order (the desktop frontend scans 1906–1915).
    pub desktop_ports: PortRange,
    /// When tasks ask the user first: a complexity threshold for plans, the dangerous tools (asked
    /// before each call), and how long a task waits for the answer.
    pub approvals: ApprovalPolicy,
    /// MCP servers whose tools join every task's: `{name, transport: "stdio", command, args, env}`
    /// or `{name, transport: "http", url, headers}`, with `allow`, `block` and `dangerous`.
    pub mcp_servers: Vec<McpServerConfig>,
}

/// An inclusive port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    /// The ports the Shannon desktop frontend scans.
    pub const DESKTOP: PortRange = PortRange {
        first: 1906,
        last: 1915,
    };

    pub fn validate(self) -> Result<Self> {
        if self.first < 1024 || self.first > self.last || self.last - self.first > 1000 {
            return Err(ShannonError::invalid(
                "desktop_ports must be 1024..65535 with first <= last, at most 1000 ports",
            ));
        }
        Ok(self)
    }
}

impl Default for PluginConfig {
    fn default() -> Self {
        Self {
            data_dir: None,
            default_provider: "demo".into(),
            default_model: None,
            listener_enabled: false,
            listener_port: 0,
            listener_origins: Vec::new(),
            recovery: RecoveryPolicy::Resume,
            desktop_mode: false,
            desktop_ports: PortRange::DESKTOP,
            approvals: ApprovalPolicy::default(),
            mcp_servers: Vec::new(),
        }
    }
}

/// A partial update: only the fields present change. `data_dir: ""` clears the override.
#[derive(Debug, Clone, Default, Deserialize, specta::Type)]
#[serde(default)]
pub struct PluginConfigUpdate {
    pub data_dir: Option<String>,
    pub default_provider: Option<String>,
    pub default_model: Option<String>,
    pub listener_enabled: Option<bool>,
    pub listener_port: Option<u16>,
    pub listener_origins: Option<Vec<String>>,
    pub recovery: Option<RecoveryPolicy>,
    pub desktop_mode: Option<bool>,
    pub desktop_ports: Option<PortRange>,
    pub approvals: Option<ApprovalPolicy>,
    pub mcp_servers: Option<Vec<McpServerConfig>>,
}

impl PluginConfig {
    /// Applies `update`, validating every field first (nothing changes on error).
    pub fn apply(&self, update: PluginConfigUpdate) -> Result<Self> {
        let mut next = self.clone();
        if let Some(dir) = update.data_dir {
            let dir = dir.trim().to_string();
            if dir.is_empty() {
                next.data_dir = None;
            } else if !std::path::Path::new(&dir).is_absolute() {
                return Err(ShannonError::invalid("data_dir must be an absolute path"));
            } else {
                next.data_dir = Some(dir);
            }
        }
        if let Some(p) = update.default_provider {
            next.default_provider = providers::lookup_model(&p)?.id.to_string();
        }
        if let Some(m) = update.default_model {
            let m = m.trim().to_string();
            if m.len() > 200 {
                return Err(ShannonError::invalid("default_model is too long"));
            }
            next.default_model = (!m.is_empty()).then_some(m);
        }
        if let Some(on) = update.listener_enabled {
            next.listener_enabled = on;
        }
        if let Some(origins) = update.listener_origins {
            for o in &origins {
                let ok = (o.starts_with("http://")
                    || o.starts_with("https://")
                    || o.starts_with("tauri://"))
                    && !o.ends_with('/')
                    && !o.contains('*')
                    && o.split("://")
                        .nth(1)
                        .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
                if !ok {
                    return Err(ShannonError::invalid(format!(
                        "listener origin {o:?} must look like http://host[:port], without a path or wildcard"
                    )));
                }
            }
            next.listener_origins = origins;
        }
        if let Some(r) = update.recovery {
            next.recovery = r;
        }
        if let Some(on) = update.desktop_mode {
            next.desktop_mode = on;
        }
        if let Some(policy) = update.approvals {
            next.approvals = policy.validate()?;
        }
        if let Some(servers) = update.mcp_servers {
            McpHub::validate(&servers)?;
            next.mcp_servers = servers;
        }
        if let Some(range) = update.desktop_ports {
            next.desktop_ports = range.validate()?;
        }
        if let Some(port) = update.listener_port {
            if port != 0 && port < 1024 {
                return Err(ShannonError::invalid(
                    "listener_port must be 0 (any free port) or 1024..65535",
                ));
            }
            next.listener_port = port;
        }
        Ok(next)
    }
}

/// Reads and writes [`PluginConfig`] through tauri-plugin-store.
pub(crate) mod persisted {
    use super::*;
    use tauri::Runtime;
    use tauri_plugin_store::StoreExt;

    pub fn load<R: Runtime>(app: &tauri::AppHandle<R>) -> Result<PluginConfig> {
        let store = app
            .store(CONFIG_STORE_FILE)
            .map_err(|e| ShannonError::Config(format!("cannot open {CONFIG_STORE_FILE}: {e}")))?;
        let Some(stored) = store.get(CONFIG_KEY) else {
            return Ok(PluginConfig::default());
        };
        // Fields a newer or older version did not write keep their defaults.
        let mut merged = serde_json::to_value(PluginConfig::default())?;
        if let (Some(into), serde_json::Value::Object(from)) = (merged.as_object_mut(), stored) {
            into.extend(from);
        }
        serde_json::from_value(merged)
            .map_err(|e| ShannonError::Config(format!("{CONFIG_STORE_FILE} is malformed: {e}")))
    }

    pub fn save<R: Runtime>(app: &tauri::AppHandle<R>, config: &PluginConfig) -> Result<()> {
        let store = app
            .store(CONFIG_STORE_FILE)
            .map_err(|e| ShannonError::Config(format!("cannot open {CONFIG_STORE_FILE}: {e}")))?;
        store.set(CONFIG_KEY, serde_json::to_value(config)?);
        store
            .save()
            .map_err(|e| ShannonError::Config(format!("cannot save {CONFIG_STORE_FILE}: {e}")))
    }
}
