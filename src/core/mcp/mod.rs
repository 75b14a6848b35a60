//! MCP servers as tool sources. Servers are configured in the plugin configuration (a command with
//! arguments and environment for stdio, or a streamable-HTTP URL with headers); they start lazily,
//! the first time a task, the tool catalogue or the listener needs the tool list, and one found
//! dead is restarted (at once after a death; with backoff while it keeps failing). Their tools
//! join every task's tools as `mcp__<server>__<tool>`, filtered by the server's allow and block
//! lists, and are dangerous (they ask before each call) unless the server is marked otherwise.

mod connection;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use connection::{Called, Server};

use crate::core::error::{Result, ShannonError};
use crate::core::llm::ToolSpec;

/// One MCP server of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct McpServerConfig {
    /// Short and unique; part of its tools' names.
    pub name: String,
    /// How to reach it (`transport: "stdio"` or `"http"`, with its fields beside `name`).
    #[serde(flatten)]
    pub transport: McpTransport,
    /// Only these of its tools (by their own names), if set.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// Never these.
    #[serde(default)]
    pub block: Vec<String>,
    /// Whether its tools ask before each call (default true: a server's tools can do anything).
    #[serde(default = "yes")]
    pub dangerous: bool,
}

fn yes() -> bool {
    true
}

impl McpServerConfig {
    /// Whether its tool `tool` (its own name) passes the allow and block lists.
    pub fn offers(&self, tool: &str) -> bool {
        self.allow
            .as_ref()
            .is_none_or(|a| a.iter().any(|t| t == tool))
            && !self.block.iter().any(|t| t == tool)
    }
}

#[derive(Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(tag = "transport", rename_all = "snake_case")]
pub enum McpTransport {
    /// A child process speaking MCP on stdin/stdout.
    Stdio {
        command: String,
        #[serde(default)]
        args: Vec<String>,
        #[serde(default)]
        env: BTreeMap<String, String>,
    },
    /// A streamable-HTTP endpoint.
    Http {
        url: String,
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
}

/// Environment values and headers may hold tokens: their values stay out of logs.
impl std::fmt::Debug for McpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stdio { command, args, env } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("args", args)
                .field("env", &env.keys().collect::<Vec<_>>())
                .finish(),
            Self::Http { url, headers } => f
                .debug_struct("Http")
                .field("url", url)
                .field("headers", &headers.keys().collect::<Vec<_>>())
                .finish(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum McpServerState {
    /// Not needed yet.
    #[default]
    NotStarted,
    Starting,
    Running,
    /// The last attempt failed; the next waits for the backoff.
    Failed,
    Stopped,
}

/// A server as the settings page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct McpServerStatus {
    pub name: String,
    pub transport: String,
    pub state: McpServerState,
    pub error: Option<String>,
    /// Times it was found dead and started again.
    pub restarts: u32,
    pub pid: Option<u32>,
    /// The tools it offers (its own names, after the allow and block lists), as last listed.
    pub tools: Vec<String>,
}

/// One of a server's tools, as a task sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct McpTool {
    /// `mcp__<server>__<tool>`.
    pub name: String,
    pub server: String,
    pub tool: String,
    pub spec: ToolSpec,
    pub dangerous: bool,
}

/// Tool names a model accepts: `[A-Za-z0-9_-]`, at most 64 characters.
fn tool_name(server: &str, tool: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let mut name = format!("mcp__{}__{}", clean(server), clean(tool));
    name.truncate(64);
    name
}

/// Every configured server.
#[derive(Default)]
pub struct McpHub {
    servers: RwLock<Vec<Arc<Server>>>,
}

impl std::fmt::Debug for McpHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.read().iter().map(|s| s.config.name.clone()).collect();
        f.debug_struct("McpHub").field("servers", &names).finish()
    }
}

impl McpHub {
    pub fn new(configs: Vec<McpServerConfig>) -> Result<Self> {
        let hub = Self::default();
        hub.replace(configs)?;
        Ok(hub)
    }

    /// Checks a configuration: names unique and usable, a command or URL given.
    pub fn validate(configs: &[McpServerConfig]) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for c in configs {
            let ok = !c.name.is_empty()
                && c.name.len() <= 32
                && c.name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
            if !ok {
                return Err(ShannonError::Config(format!(
                    "MCP server name {:?} must be 1 to 32 characters of a-z A-Z 0-9 - _",
                    c.name
                )));
            }
            if !seen.insert(c.name.as_str()) {
                return Err(ShannonError::Config(format!(
                    "two MCP servers are named {}",
                    c.name
                )));
            }
            match &c.transport {
                McpTransport::Stdio { command, .. } if command.trim().is_empty() => {
                    return Err(ShannonError::Config(format!(
                        "MCP server {}: command is empty",
                        c.name
                    )));
                }
                McpTransport::Http { url, .. } if reqwest::Url::parse(url).is_err() => {
                    return Err(ShannonError::Config(format!(
                        "MCP server {}: {url:?} is not a URL",
                        c.name
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A new configuration: the servers that went are shut down.
    pub fn replace(&self, configs: Vec<McpServerConfig>) -> Result<()> {
        Self::validate(&configs)?;
        let next: Vec<Arc<Server>> = configs
            .into_iter()
            .map(|c| Arc::new(Server::new(c)))
            .collect();
        let old = std::mem::replace(&mut *self.write(), next);
        if !old.is_empty() {
            tokio::spawn(async move {
                for s in old {
                    s.shutdown().await;
                }
            });
        }
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Server>>> {
        self.servers.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<Server>>> {
        self.servers.write().unwrap_or_else(|p| p.into_inner())
    }

    fn all(&self) -> Vec<Arc<Server>> {
        self.read().clone()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Every server's tools (connecting the servers that need it, all at once), filtered by their
    /// allow and block lists.
    pub async fn tools(&self) -> Vec<McpTool> {
        let servers = self.all();
        let lists = futures_util::future::join_all(servers.iter().map(|s| s.tools())).await;
        let mut out = Vec::new();
        for (server, tools) in servers.iter().zip(lists) {
            let c = &server.config;
            for t in tools.unwrap_or_default() {
                let own = t.name.to_string();
                let allowed =
                    c.allow.as_ref().is_none_or(|a| a.contains(&own)) && !c.block.contains(&own);
                if !allowed {
                    continue;
                }
                out.push(McpTool {
                    name: tool_name(&c.name, &own),
                    server: c.name.clone(),
                    spec: ToolSpec {
                        name: tool_name(&c.name, &own),
                        description: t.description.as_deref().unwrap_or_default().to_string(),
                        parameters: Value::Object((*t.input_schema).clone()),
                    },
                    tool: own,
                    dangerous: c.dangerous,
                });
            }
        }
        out
    }

    /// Starts every server that is not running (what the listener waits for before it is ready).
    pub async fn ensure_started(&self) {
        let _ = self.tools().await;
    }

    /// Whether `name` is a dangerous MCP tool (a tool of a server not marked safe).
    pub fn is_dangerous(&self, name: &str) -> bool {
        name.starts_with("mcp__")
            && self
                .read()
                .iter()
                .find(|s| name.starts_with(&format!("mcp__{}__", s.config.name)))
                .is_none_or(|s| s.config.dangerous)
    }

    /// Runs one of the servers' tools: `(success, output)`.
    pub async fn call(&self, tool: &McpTool, arguments: Map<String, Value>) -> (bool, String) {
        let server = self
            .read()
            .iter()
            .find(|s| s.config.name == tool.server)
            .cloned();
        let Some(server) = server else {
            return (
                false,
                format!("MCP server {} is no longer configured", tool.server),
            );
        };
        match server.call(&tool.tool, arguments).await {
            Called::Done { is_error, text } => (!is_error, text),
            Called::Unavailable(why) => (
                false,
                format!("MCP server {} is unavailable: {why}", tool.server),
            ),
        }
    }

    pub fn status(&self) -> Vec<McpServerStatus> {
        self.read().iter().map(|s| s.status()).collect()
    }

    pub async fn shutdown(&self) {
        for s in self.all() {
            s.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_namespaced_and_safe_for_models() {
        assert_eq!(
            tool_name("everything", "get-sum"),
            "mcp__everything__get-sum"
        );
        assert_eq!(tool_name("fs", "read file/x"), "mcp__fs__read_file_x");
        assert!(tool_name("s", &"x".repeat(100)).len() <= 64);
    }

    #[test]
    fn configurations_are_checked() {
        let stdio: McpServerConfig = serde_json::from_value(serde_json::json!(
            {"name": "everything", "transport": "stdio", "command": "node", "args": ["x.js"]}
        ))
        .unwrap();
        assert!(stdio.dangerous);
        assert!(McpHub::validate(std::slice::from_ref(&stdio)).is_ok());
        assert!(McpHub::validate(&[stdio.clone(), stdio.clone()]).is_err());
        let bad: McpServerConfig = serde_json::from_value(serde_json::json!(
            {"name": "web", "transport": "http", "url": "not a url"}
        ))
        .unwrap();
        assert!(McpHub::validate(&[bad]).is_err());
    }
}
