//! `serve`: the loopback HTTP listener in the foreground (for scripts, SDKs and tests), until Ctrl-C
//! or SIGTERM. Tasks still running then stop at their next checkpoint and resume at the next
//! `serve` on the same data dir.

use std::io::Write;
use std::time::Duration;

use clap::Args;
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::crypto::SecretString;
use tauri_plugin_shannon::{RecoveryPolicy, ShannonError};

use crate::setup::{self, KEY_VARS, env};
use crate::{Done, Global};

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (0 picks a free one) [default: $SHANNON_PORT, else 0]
    #[arg(long)]
    pub port: Option<u16>,
    /// The bearer token clients send [default: $SHANNON_TOKEN, else a random one, written to the
    /// token file]
    #[arg(long)]
    pub token: Option<String>,
    /// The default provider for tasks that name none [default: $SHANNON_PROVIDER, else demo]
    #[arg(long)]
    pub provider: Option<String>,
    /// That provider's base URL [default: $SHANNON_PROVIDER_BASE_URL]
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
}

pub async fn run(global: &Global, args: ServeArgs) -> Result<Done, ShannonError> {
    let port = match (args.port, env("SHANNON_PORT")) {
        (Some(p), _) => p,
        (None, Some(p)) => p
            .trim()
            .parse()
            .map_err(|_| ShannonError::Config(format!("SHANNON_PORT is not a port: {p:?}")))?,
        (None, None) => 0,
    };
    let token = args.token.or_else(|| env("SHANNON_TOKEN"));
    let provider = args.provider.or_else(|| env("SHANNON_PROVIDER"));
    // SHANNON_BASE_URL is the cloud's address to the SDK and the CLI; the provider's own endpoint
    // has a name of its own.
    let base_url = args.base_url.or_else(|| env("SHANNON_PROVIDER_BASE_URL"));

    let core = setup::open(global, RecoveryPolicy::Resume).await?;
    let me = Caller::embedded();
    // The endpoint first: a key is bound to the endpoint it is stored for.
    if let Some(provider) = &provider {
        core.set_engine_defaults(provider, None)?;
        if let Some(url) = &base_url {
            core.set_provider_endpoint(&me, provider, Some(url)).await?;
        }
    }
    for (provider, var) in KEY_VARS {
        if let Some(value) = env(var) {
            core.set_provider_key(&me, provider, &SecretString::new(value))
                .await?;
        }
    }
    let listener = tauri_plugin_shannon::http::Listener::start(
        core.clone(),
        tauri_plugin_shannon::http::ListenerOptions {
            port,
            token,
            ..Default::default()
        },
    )
    .await?;
    let status = listener.status();
    println!("Shannon listening on {}", status.url.unwrap_or_default());
    println!("token file {}", status.token_file.unwrap_or_default());
    println!(
        "provider {}",
        provider.as_deref().unwrap_or("demo (offline)")
    );
    let _ = std::io::stdout().flush();
    let signal = stop_signal().await;
    // An orderly stop within 5 s: the listener takes no new request while running tasks stop at
    // their next checkpoint (resumable at the next start) and what they emitted is stored.
    println!("{signal}: stopping");
    tokio::join!(
        listener.stop_within(Duration::from_secs(2)),
        core.shutdown(Duration::from_secs(4)),
    );
    Ok(Done::Ok)
}

/// Waits for Ctrl-C or, on Unix, SIGTERM (what service managers and `kill` send).
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "interrupted",
                _ = term.recv() => "terminated",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "interrupted"
}
