//! Plugin configuration: how the plugin itself runs on this machine (where its data lives, the default
//! provider and model, the HTTP listener, the MCP servers). Layered: the defaults, then
//! `plugins.shannon` in `tauri.conf.json`, then what `set_plugin_config` saved (opt-in permission) in
//! the plugin's own integrity-protected file ([`signed`]), then the builder's options. The webview
//! cannot write any of these: tauri-plugin-store can reach any file, so the saved file carries an
//! HMAC under a key the webview cannot read, and a file changed by anything else is refused.
//! User data (settings, keys, tasks) lives in SQLite, never here.

use serde::{Deserialize, Serialize};

use crate::core::error::{Result, ShannonError};
use crate::core::hitl::approvals::ApprovalPolicy;
use crate::core::mcp::{McpHub, McpServerConfig};
use crate::core::run::RecoveryPolicy;
use crate::core::settings::providers;

pub mod signed;

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
    /// The first port tried (at least 1024).
    pub first: u16,
    /// The last port tried, included (at most 1000 ports after `first`).
    pub last: u16,
}

impl PortRange {
    /// The ports the Shannon desktop frontend scans.
    pub const DESKTOP: PortRange = PortRange {
        first: 1906,
        last: 1915,
    };

    /// The range itself if `1024 <= first <= last` and it spans at most 1000 ports, else
    /// `invalid_request`.
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

/// A partial update: only the fields present change. `data_dir: ""` clears the override. Also the
/// shape of `plugins.shannon` in `tauri.conf.json`, and of what the plugin's file keeps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(default, deny_unknown_fields)]
pub struct PluginConfigUpdate {
    /// An absolute path overriding [`PluginConfig::data_dir`]; `""` clears the override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<String>,
    /// [`PluginConfig::default_provider`]; a known model provider, not a search API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_provider: Option<String>,
    /// [`PluginConfig::default_model`], at most 200 bytes; `""` clears it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_model: Option<String>,
    /// [`PluginConfig::listener_enabled`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener_enabled: Option<bool>,
    /// [`PluginConfig::listener_port`]: 0 or 1024..65535.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener_port: Option<u16>,
    /// [`PluginConfig::listener_origins`], each `scheme://host[:port]` (http, https or tauri)
    /// without a path or wildcard; replaces the whole list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener_origins: Option<Vec<String>>,
    /// [`PluginConfig::recovery`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryPolicy>,
    /// [`PluginConfig::desktop_mode`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desktop_mode: Option<bool>,
    /// [`PluginConfig::desktop_ports`], checked by [`PortRange::validate`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desktop_ports: Option<PortRange>,
    /// [`PluginConfig::approvals`], replaced whole and validated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approvals: Option<ApprovalPolicy>,
    /// [`PluginConfig::mcp_servers`]; replaces the whole list.
    #[serde(skip_serializing_if = "Option::is_none")]
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

impl PluginConfigUpdate {
    /// This update with `later`'s fields on top.
    pub fn merged(&self, later: &PluginConfigUpdate) -> Result<PluginConfigUpdate> {
        let mut base = serde_json::to_value(self)?;
        if let (Some(into), serde_json::Value::Object(from)) =
            (base.as_object_mut(), serde_json::to_value(later)?)
        {
            into.extend(from);
        }
        Ok(serde_json::from_value(base)?)
    }
}

/// The configuration in effect: the defaults, then `tauri.conf.json`, then what was saved, then the
/// builder's options. A layer that does not validate is logged and left out, so one bad layer never
/// keeps the app from starting.
pub fn layered(
    conf: &PluginConfigUpdate,
    saved: &PluginConfigUpdate,
    builder: &PluginConfigUpdate,
) -> PluginConfig {
    let mut config = PluginConfig::default();
    for (layer, update) in [
        ("plugins.shannon in tauri.conf.json", conf),
        ("the saved plugin configuration", saved),
        ("the plugin builder's configuration", builder),
    ] {
        match config.apply(update.clone()) {
            Ok(next) => config = next,
            Err(e) => {
                tracing::error!(%layer, error = %e, "ignored an invalid Shannon configuration layer")
            }
        }
    }
    config
}
