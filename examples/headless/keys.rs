//! `keys set|list|delete`: provider API keys, AES-256-GCM at rest. A key is read from stdin (never
//! from the command line, where `ps` and the shell history would see it) and only its masked form
//! is ever printed.

use std::io::{IsTerminal, Read};

use clap::Subcommand;
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::crypto::SecretString;
use tauri_plugin_shannon::{RecoveryPolicy, ShannonError};
use zeroize::Zeroize;

use crate::setup;
use crate::{Done, Global};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Store a provider's key, read from stdin (e.g. `printf %s "$KEY" | headless keys set openai`)
    Set {
        /// The provider, e.g. openai, anthropic, groq, tavily
        provider: String,
        /// Send the key to this endpoint instead of the provider's default (an OpenAI-compatible
        /// server of yours); the key is bound to it
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
    },
    /// Stored keys, masked
    List,
    /// Delete a provider's key
    Delete {
        /// The provider
        provider: String,
    },
}

const NO_KEYS: &str = "no keys stored (add one with `keys set PROVIDER`)";

pub async fn run(global: &Global, cmd: KeysCommand) -> Result<Done, ShannonError> {
    // Read before the core opens, so a missing key fails without touching the data dir.
    let secret = match &cmd {
        KeysCommand::Set { provider, .. } => Some(read_key(provider)?),
        _ => None,
    };
    // Only `set` may create the data dir; a list or delete on none finds nothing.
    let core = match (&cmd, setup::open_existing(global).await?) {
        (_, Some(core)) => core,
        (KeysCommand::Set { .. }, None) => setup::open(global, RecoveryPolicy::Fail).await?,
        (KeysCommand::List, None) => {
            eprintln!("{NO_KEYS}");
            return Ok(Done::Ok);
        }
        (KeysCommand::Delete { provider }, None) => {
            return Err(setup::no_data(global, &format!("no {provider} key")));
        }
    };
    let me = Caller::embedded();
    let result = async {
        match cmd {
            KeysCommand::Set { provider, base_url } => {
                // The endpoint first: a key is bound to the endpoint it is stored for.
                if let Some(url) = &base_url {
                    core.set_provider_endpoint(&me, &provider, Some(url))
                        .await?;
                }
                let secret = secret.unwrap_or_else(|| SecretString::new(String::new()));
                let info = core.set_provider_key(&me, &provider, &secret).await?;
                println!(
                    "stored the {} key {} (for {})",
                    info.provider,
                    info.masked_key,
                    info.origin.as_deref().unwrap_or("its default endpoint")
                );
            }
            KeysCommand::List => {
                let keys = core.list_provider_keys(&me).await?;
                if keys.is_empty() {
                    eprintln!("{NO_KEYS}");
                }
                for k in keys {
                    println!(
                        "{:<12} {:<20} {}",
                        k.provider,
                        k.masked_key,
                        k.origin.as_deref().unwrap_or("")
                    );
                }
            }
            KeysCommand::Delete { provider } => {
                core.delete_provider_key(&me, &provider).await?;
                println!("deleted the {provider} key");
            }
        }
        Ok(())
    }
    .await;
    setup::close(&core).await;
    result.map(|()| Done::Ok)
}

/// The key from stdin: its first line, surrounding spaces trimmed.
fn read_key(provider: &str) -> Result<SecretString, ShannonError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("paste the {provider} key, then Enter and Ctrl-D:");
    }
    let mut raw = String::new();
    stdin
        .lock()
        .take(64 * 1024)
        .read_to_string(&mut raw)
        .map_err(|e| ShannonError::Io(format!("cannot read the key from stdin: {e}")))?;
    let key = raw.lines().next().unwrap_or("").trim().to_string();
    raw.zeroize();
    if key.is_empty() {
        return Err(ShannonError::InvalidRequest(
            "no key on stdin: pipe it in, e.g. printf %s \"$KEY\" | headless keys set PROVIDER"
                .into(),
        ));
    }
    Ok(SecretString::new(key))
}
