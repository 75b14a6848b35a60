//! One configured MCP server: connecting to it (a child process over stdio, in its own process
//! group; or streamable HTTP with the configured headers) through the official Rust SDK, its
//! tools, and reconnecting when it died, with backoff between failed attempts.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::{CallToolRequestParams, Tool};
use rmcp::service::{Peer, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{ConfigureCommandExt, StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceError, ServiceExt};
use tokio::io::AsyncBufReadExt;

use super::{McpServerConfig, McpServerState, McpTransport};

/// The longest wait between attempts to reach a server that keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

struct Live {
    peer: Peer<RoleClient>,
    /// Kept to shut the connection (and its child) down.
    service: RunningService<RoleClient, ()>,
    tools: Vec<Tool>,
    pid: Option<u32>,
}

#[derive(Default)]
struct Health {
    state: McpServerState,
    error: Option<String>,
    failures: u32,
    retry_at: Option<Instant>,
    restarts: u32,
    pid: Option<u32>,
    tools: Vec<String>,
}

pub(super) struct Server {
    pub config: McpServerConfig,
    live: tokio::sync::Mutex<Option<Live>>,
    health: Mutex<Health>,
}

/// What a call to a server's tool came to.
pub(super) enum Called {
    Done {
        is_error: bool,
        text: String,
    },
    /// The server is gone (or cannot be reached now).
    Unavailable(String),
}

impl Server {
    pub fn new(config: McpServerConfig) -> Self {
        Self {
            config,
            live: tokio::sync::Mutex::new(None),
            health: Mutex::default(),
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn status(&self) -> super::McpServerStatus {
        let h = self.health();
        super::McpServerStatus {
            name: self.config.name.clone(),
            transport: match self.config.transport {
                McpTransport::Stdio { .. } => "stdio".into(),
                McpTransport::Http { .. } => "http".into(),
            },
            state: h.state,
            error: h.error.clone(),
            restarts: h.restarts,
            pid: h.pid,
            tools: h.tools.clone(),
        }
    }

    /// The server's tools, connecting first if it is not connected (or died) and the backoff
    /// allows; `None` while it cannot be reached.
    pub async fn tools(&self) -> Option<Vec<Tool>> {
        let mut live = self.live.lock().await;
        self.ensure(&mut live).await.ok()?;
        live.as_ref().map(|l| l.tools.clone())
    }

    /// Calls one of its tools; a server found dead is restarted and the call tried once more.
    pub async fn call(
        &self,
        tool: &str,
        arguments: serde_json::Map<String, serde_json::Value>,
    ) -> Called {
        for attempt in 0..2 {
            let peer = {
                let mut live = self.live.lock().await;
                if let Err(why) = self.ensure(&mut live).await {
                    return Called::Unavailable(why);
                }
                match live.as_ref() {
                    Some(l) => l.peer.clone(),
                    None => return Called::Unavailable("not connected".into()),
                }
            };
            let params =
                CallToolRequestParams::new(tool.to_string()).with_arguments(arguments.clone());
            match peer.call_tool(params).await {
                Ok(result) => {
                    let text: Vec<String> = result
                        .content
                        .iter()
                        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                        .collect();
                    let mut text = text.join("\n");
                    if text.is_empty()
                        && let Some(structured) = &result.structured_content
                    {
                        text = structured.to_string();
                    }
                    return Called::Done {
                        is_error: result.is_error == Some(true),
                        text,
                    };
                }
                Err(ServiceError::TransportClosed | ServiceError::TransportSend(_))
                    if attempt == 0 =>
                {
                    tracing::warn!(server = %self.config.name, "an MCP server went away; restarting it");
                    // The next round's `ensure` finds the transport closed and reconnects at once
                    // (a death is not a failed attempt), counting the restart: dropping the
                    // connection here lost that count when the call noticed the death first.
                }
                Err(e) => return Called::Unavailable(e.to_string()),
            }
        }
        Called::Unavailable("the server closed the connection again".into())
    }

    /// Connected, or connects: at once after a death, else not before the backoff ends.
    async fn ensure(&self, live: &mut Option<Live>) -> Result<(), String> {
        if let Some(l) = live.as_ref() {
            if !l.peer.is_transport_closed() {
                return Ok(());
            }
            let old = live.take();
            self.health().restarts += 1;
            if let Some(old) = old {
                // Its child is gone already; end the service loop.
                tokio::spawn(async move {
                    let _ = old.service.cancel().await;
                });
            }
        }
        {
            let h = self.health();
            if let Some(at) = h.retry_at
                && Instant::now() < at
            {
                return Err(h.error.clone().unwrap_or_else(|| "waiting to retry".into()));
            }
        }
        self.health().state = McpServerState::Starting;
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, connect(&self.config))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())));
        match connected {
            Ok(l) => {
                let mut h = self.health();
                h.state = McpServerState::Running;
                h.error = None;
                h.failures = 0;
                h.retry_at = None;
                h.pid = l.pid;
                h.tools = l
                    .tools
                    .iter()
                    .map(|t| t.name.to_string())
                    .filter(|t| self.config.offers(t))
                    .collect();
                drop(h);
                tracing::info!(server = %self.config.name, tools = l.tools.len(), "connected to an MCP server");
                *live = Some(l);
                Ok(())
            }
            Err(why) => {
                let mut h = self.health();
                h.failures += 1;
                let wait = Duration::from_millis(500 * 2u64.saturating_pow(h.failures.min(8)));
                h.retry_at = Some(Instant::now() + wait.min(MAX_BACKOFF));
                h.state = McpServerState::Failed;
                h.error = Some(why.clone());
                h.pid = None;
                tracing::warn!(server = %self.config.name, error = %why, "cannot reach an MCP server");
                Err(why)
            }
        }
    }

    pub async fn shutdown(&self) {
        if let Some(l) = self.live.lock().await.take() {
            let _ = l.service.cancel().await;
        }
        self.health().state = McpServerState::Stopped;
    }
}

async fn connect(config: &McpServerConfig) -> Result<Live, String> {
    let (service, pid) = match &config.transport {
        McpTransport::Stdio { command, args, env } => {
            let cmd = tokio::process::Command::new(command).configure(|c| {
                c.args(args).envs(env);
            });
            let mut wrapped = process_wrap::tokio::CommandWrap::from(cmd);
            #[cfg(unix)]
            wrapped.wrap(process_wrap::tokio::ProcessGroup::leader());
            let (transport, stderr) = TokioChildProcess::builder(wrapped)
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start {command}: {e}"))?;
            let pid = transport.id();
            if let Some(stderr) = stderr {
                // A full pipe would block the server: its stderr goes to the log, line by line.
                let name = config.name.clone();
                tokio::spawn(async move {
                    let mut lines = tokio::io::BufReader::new(stderr).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        tracing::debug!(server = %name, "{line}");
                    }
                });
            }
            let service = ()
                .serve(transport)
                .await
                .map_err(|e| format!("the server did not initialize: {e}"))?;
            (service, pid)
        }
        McpTransport::Http { url, headers } => {
            crate::core::llm::install_crypto_provider();
            let mut custom = HashMap::new();
            for (k, v) in headers {
                let name = HeaderName::try_from(k.as_str())
                    .map_err(|_| format!("header name {k:?} is not valid"))?;
                let value = HeaderValue::try_from(v.as_str())
                    .map_err(|_| format!("the value of header {k} is not valid"))?;
                custom.insert(name, value);
            }
            let cfg =
                StreamableHttpClientTransportConfig::with_uri(url.clone()).custom_headers(custom);
            let transport = StreamableHttpClientTransport::from_config(cfg);
            let service = ()
                .serve(transport)
                .await
                .map_err(|e| format!("the server did not initialize: {e}"))?;
            (service, None)
        }
    };
    let peer = service.peer().clone();
    let tools = peer
        .list_all_tools()
        .await
        .map_err(|e| format!("cannot list its tools: {e}"))?;
    Ok(Live {
        peer,
        service,
        tools,
        pid,
    })
}
