//! The HTTP door: an optional loopback listener serving the Shannon cloud's routes (axum). Here:
//! the loopback bind, the per-launch token, graceful shutdown. In front of the routes, `layers`: a
//! Host allowlist (DNS rebinding), an Origin allowlist with strict CORS (never `*`), body limits,
//! authentication. `routes` holds the one route table the router, `/openapi.json` and the auth
//! rule come from; its handlers only parse, call the core and map errors.

// Unused items in a build without `unstable-internals`: see src/core/mod.rs.
#![cfg_attr(not(feature = "unstable-internals"), allow(dead_code, unused_imports))]

mod dto;
mod error;
mod extract;
mod layers;
mod openapi;
mod routes;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use rand::RngCore;
use serde::Serialize;
use tokio::sync::watch;

use crate::core::{Core, Result, ShannonError};

pub use error::{ApiError, status_code_name};
pub use openapi::document as openapi_document;
pub use routes::route_paths;

/// File (in the data dir, mode 0600) holding the listener's per-launch token for local CLI clients.
pub const TOKEN_FILE: &str = "listener.token";
/// Largest accepted request body (the cloud allows 40 MiB for task submissions with attachments).
pub const MAX_BODY_BYTES: usize = 40 * 1024 * 1024;

/// Origins of Tauri webviews on each platform.
pub const WEBVIEW_ORIGINS: &[&str] = &[
    "tauri://localhost",
    "http://tauri.localhost",
    "https://tauri.localhost",
];

/// How [`Listener::start`] binds and whom it lets in. The default: any free port, the webview
/// origins only, a random token.
#[derive(Debug, Clone, Default)]
pub struct ListenerOptions {
    /// 0 picks a free port.
    pub port: u16,
    /// Try these ports in order and take the first free one (desktop mode); overrides `port`.
    pub port_range: Option<std::ops::RangeInclusive<u16>>,
    /// Origins allowed besides the webview's (e.g. a dev server `http://localhost:1420`).
    pub extra_origins: Vec<String>,
    /// Use this token instead of a random one (tests, scripts); at least 32 characters.
    pub token: Option<String>,
}

/// What `listener_status` reports.
#[derive(Clone, Serialize, specta::Type, PartialEq)]
pub struct ListenerStatus {
    /// Whether the listener serves requests.
    pub running: bool,
    /// Its base URL, `http://127.0.0.1:{port}`; `None` when no listener was started.
    pub url: Option<String>,
    /// The bound port; `None` when no listener was started.
    pub port: Option<u16>,
    /// The per-launch token (send as `Authorization: Bearer …`); also in `token_file`.
    pub token: Option<String>,
    /// Path of the file holding the token (`listener.token` in the data dir, mode 0600).
    pub token_file: Option<String>,
}

impl std::fmt::Debug for ListenerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerStatus")
            .field("running", &self.running)
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

pub(crate) struct AppState {
    pub core: Core,
    /// Cancelled when the listener stops: ends the MCP sessions' open streams.
    pub shutdown: tokio_util::sync::CancellationToken,
    token: String,
    port: u16,
    origins: Vec<String>,
}

/// A running listener; dropping it does not stop it, [`Listener::stop`] does (gracefully).
pub struct Listener {
    addr: SocketAddr,
    token: String,
    token_file: PathBuf,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Listener {
    /// Binds 127.0.0.1 and serves until stopped.
    pub async fn start(core: Core, options: ListenerOptions) -> Result<Self> {
        let token = match options.token {
            Some(t) if t.len() >= 32 => t,
            Some(_) => {
                return Err(ShannonError::invalid(
                    "a listener token needs at least 32 characters",
                ));
            }
            None => new_token(),
        };
        let listener = match options.port_range {
            Some(range) => bind_first_free(range).await?,
            None => tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, options.port))
                .await
                .map_err(|e| {
                    ShannonError::Io(format!("cannot listen on 127.0.0.1:{}: {e}", options.port))
                })?,
        };
        let addr = listener.local_addr()?;
        // Every MCP server's tools are listed before the listener says it is ready, so a client
        // never sees them appear late.
        core.mcp().ensure_started().await;
        let token_file = core.data_dir().join(TOKEN_FILE);
        write_private(&token_file, &token).await?;
        let mut origins: Vec<String> = WEBVIEW_ORIGINS.iter().map(|s| s.to_string()).collect();
        origins.extend(options.extra_origins);
        let mcp_shutdown = tokio_util::sync::CancellationToken::new();
        let state = Arc::new(AppState {
            core,
            shutdown: mcp_shutdown.clone(),
            token: token.clone(),
            port: addr.port(),
            origins,
        });
        let app = routes::router(state);
        let (shutdown, mut rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            // Small writes (an SSE frame, a response body after its headers) must leave at once:
            // with Nagle's algorithm each waited for the client's delayed ACK, about 40 ms.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "TCP_NODELAY not set on a listener connection");
                }
            });
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.wait_for(|stop| *stop).await;
                mcp_shutdown.cancel();
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "the Shannon listener failed");
            }
        });
        tracing::info!(%addr, "Shannon listener started");
        Ok(Self {
            addr,
            token,
            token_file,
            shutdown,
            task,
        })
    }

    /// The bound address, on 127.0.0.1.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its status: running until stopped or its server task fails.
    pub fn status(&self) -> ListenerStatus {
        ListenerStatus {
            running: !self.task.is_finished(),
            url: Some(format!("http://{}", self.addr)),
            port: Some(self.addr.port()),
            token: Some(self.token.clone()),
            token_file: Some(self.token_file.display().to_string()),
        }
    }

    /// Stops accepting, lets requests in flight finish (streams end), removes the token file.
    pub async fn stop(self) {
        self.stop_within(std::time::Duration::from_secs(5)).await;
    }

    /// [`Listener::stop`], giving requests in flight at most `within` (open event streams of running
    /// tasks would keep a graceful shutdown waiting); then their connections are dropped.
    pub async fn stop_within(mut self, within: std::time::Duration) {
        let _ = self.shutdown.send(true);
        if tokio::time::timeout(within, &mut self.task).await.is_err() {
            tracing::warn!(
                "the Shannon listener did not stop within {within:?}; closing its connections"
            );
            self.task.abort();
        }
        let _ = tokio::fs::remove_file(&self.token_file).await;
        tracing::info!("Shannon listener stopped");
    }
}

/// A random 256-bit token, hex-encoded.
pub fn new_token() -> String {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    hex::encode(raw)
}

/// Binds the first port of `range` that is free on 127.0.0.1.
async fn bind_first_free(range: std::ops::RangeInclusive<u16>) -> Result<tokio::net::TcpListener> {
    let (first, last) = (*range.start(), *range.end());
    let mut last_error = None;
    for port in range {
        match tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
            Ok(l) => return Ok(l),
            Err(e) => {
                tracing::debug!(port, error = %e, "port taken, trying the next");
                last_error = Some(e);
            }
        }
    }
    Err(ShannonError::Io(format!(
        "no free port on 127.0.0.1 in {first}-{last}{}",
        last_error
            .map(|e| format!(" (last: {e})"))
            .unwrap_or_default()
    )))
}

async fn write_private(path: &std::path::Path, text: &str) -> Result<()> {
    let (path, text) = (path.to_path_buf(), text.to_string());
    crate::core::store::blocking(move || {
        use std::io::Write;
        let tmp = path.with_extension("tmp");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    })
    .await
}
