//! Opening the core for a command, provider keys from the environment, which provider answers, the
//! `--remote` profile, and Ctrl-C.

use std::time::Duration;

use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::crypto::SecretString;
use tauri_plugin_shannon::core::store::DATABASE_FILE;
use tauri_plugin_shannon::{Core, CoreConfig, RecoveryPolicy, ShannonError};

use crate::Global;

/// Environment variables provider keys are read from.
pub const KEY_VARS: &[(&str, &str)] = &[
    ("openai", "OPENAI_API_KEY"),
    ("anthropic", "ANTHROPIC_API_KEY"),
    ("google", "GOOGLE_API_KEY"),
    ("groq", "GROQ_API_KEY"),
    ("deepseek", "DEEPSEEK_API_KEY"),
    ("xai", "XAI_API_KEY"),
    ("mistral", "MISTRAL_API_KEY"),
    ("openrouter", "OPENROUTER_API_KEY"),
];

/// Local providers, tried in this order when no key is stored.
const LOCAL: &[&str] = &["ollama", "lmstudio", "custom"];

pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Opens the data dir. Only `serve` resumes tasks an earlier process left running: a command-line
/// run that died was abandoned with it, so every other command ends such tasks FAILED
/// ("interrupted") instead of continuing (and billing) them in the background of an unrelated
/// command that is about to exit.
pub async fn open(global: &Global, recovery: RecoveryPolicy) -> Result<Core, ShannonError> {
    let mut config = CoreConfig::new(global.data_dir());
    config.key_storage = global.key_storage();
    config.recovery = recovery;
    Core::open(config).await
}

/// The core of a data dir that already has a database, for the commands that only read or delete:
/// `None` when there is none, so such a command creates nothing.
pub async fn open_existing(global: &Global) -> Result<Option<Core>, ShannonError> {
    let database = global.data_dir().join(DATABASE_FILE);
    if !database.exists() {
        return Ok(None);
    }
    open(global, RecoveryPolicy::Fail).await.map(Some)
}

/// What a read of a data dir with no database answers.
pub fn no_data(global: &Global, what: &str) -> ShannonError {
    ShannonError::NotFound(format!(
        "{what}: no Shannon data in {} yet",
        global.data_dir().display()
    ))
}

/// An orderly end: what the tasks emitted is stored, MCP servers stop.
pub async fn close(core: &Core) {
    core.shutdown(Duration::from_secs(5)).await;
}

/// Stores the keys found in the environment (encrypted; announced masked on stderr). A key equal to
/// the one already stored is not written again.
pub async fn keys_from_env(core: &Core, me: &Caller) -> Result<(), ShannonError> {
    for (provider, var) in KEY_VARS {
        let Some(value) = env(var) else { continue };
        match core.provider_key(me, provider).await {
            Ok(Some(k)) if k.expose() == value.trim() => continue,
            Ok(_) => {}
            // The stored key is bound to an endpoint the provider no longer has: the environment
            // does not rebind it (the task says key_endpoint_changed; `keys set` decides).
            Err(_) => continue,
        }
        let info = core
            .set_provider_key(me, provider, &SecretString::new(value))
            .await?;
        eprintln!(
            "stored {var} as the {provider} key ({}); `keys delete {provider}` removes it",
            info.masked_key
        );
    }
    Ok(())
}

/// What a question runs on when the user named neither provider nor model.
pub struct Choice {
    pub provider: String,
    pub model: Option<String>,
    /// For the user, on stderr.
    pub why: String,
}

/// The first provider with a stored key, else a running local provider (Ollama, LM Studio, a custom
/// endpoint) with the first model it offers, else the offline demo.
pub async fn choose(core: &Core, me: &Caller) -> Result<Choice, ShannonError> {
    let status = core.provider_status(me).await?;
    if let Some(p) = status
        .iter()
        .find(|p| p.ready && p.requires_key && !p.web_search)
    {
        return Ok(Choice {
            provider: p.provider.clone(),
            model: None,
            why: format!(
                "answering on {} (key {})",
                p.display_name,
                p.masked_key.as_deref().unwrap_or("")
            ),
        });
    }
    for id in LOCAL {
        let Some(p) = status.iter().find(|p| p.provider == *id && p.ready) else {
            continue;
        };
        let base_url = p.base_url.clone().unwrap_or_default();
        let model = local_model(core, me, id).await?;
        return Ok(Choice {
            provider: p.provider.clone(),
            why: format!(
                "answering on {} at {base_url}{} (no provider key is stored)",
                p.display_name,
                model
                    .as_deref()
                    .map(|m| format!(", model {m}"))
                    .unwrap_or_default()
            ),
            model,
        });
    }
    Ok(Choice {
        provider: "demo".into(),
        model: None,
        why: "answering on the OFFLINE DEMO provider (canned text, no network): no provider key \
              is stored and no local provider is running"
            .into(),
    })
}

/// For a local provider (Ollama, LM Studio, custom), the first model its server lists; `None` for
/// any other provider, or when the server lists none (the provider's default model is used then).
pub async fn local_model(
    core: &Core,
    me: &Caller,
    provider: &str,
) -> Result<Option<String>, ShannonError> {
    let provider = provider.trim().to_ascii_lowercase();
    if !LOCAL.contains(&provider.as_str()) {
        return Ok(None);
    }
    let status = core.provider_status(me).await?;
    let base_url = status
        .iter()
        .find(|p| p.provider == provider)
        .and_then(|p| p.base_url.clone());
    Ok(match base_url {
        Some(url) => first_listed_model(&url).await,
        None => None,
    })
}

/// The first model an OpenAI-compatible server lists at `GET {base_url}/models`.
async fn first_listed_model(base_url: &str) -> Option<String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .no_proxy()
        .build()
        .ok()?;
    let url = format!("{}/models", base_url.trim_end_matches('/'));
    let body: serde_json::Value = client
        .get(url)
        .send()
        .await
        .ok()?
        .error_for_status()
        .ok()?
        .json()
        .await
        .ok()?;
    body["data"]
        .as_array()?
        .iter()
        .find_map(|m| m["id"].as_str())
        .map(str::to_string)
}

/// The profile `cli` for `--remote URL`, with the credential the official SDK and CLI read
/// (`SHANNON_API_KEY`, else `SHANNON_BEARER_TOKEN`, else none); verified before use.
pub async fn remote_profile(core: &Core, url: &str) -> Result<String, ShannonError> {
    use tauri_plugin_shannon::core::remote::{RemoteAuthKind, RemoteCredential, SaveRemoteProfile};
    let (auth, credential) = match (env("SHANNON_API_KEY"), env("SHANNON_BEARER_TOKEN")) {
        (Some(api_key), _) => (
            RemoteAuthKind::ApiKey,
            Some(RemoteCredential::ApiKey { api_key }),
        ),
        (None, Some(access_token)) => (
            RemoteAuthKind::Bearer,
            Some(RemoteCredential::Bearer {
                access_token,
                refresh_token: env("SHANNON_REFRESH_TOKEN"),
            }),
        ),
        (None, None) => (RemoteAuthKind::None, None),
    };
    let profile = core
        .save_remote_profile(SaveRemoteProfile {
            id: Some("cli".into()),
            name: "Shannon cloud (--remote)".into(),
            base_url: url.into(),
            auth: Some(auth),
            ..Default::default()
        })
        .await?;
    if credential.is_some() {
        core.set_remote_credential(&profile.id, credential).await?;
    }
    let report = core.verify_remote_profile(&profile.id, true).await?;
    eprintln!(
        "answering on Shannon cloud ({}): auth {:?}, {} ms{}",
        report.host,
        report.auth,
        report.latency_ms.unwrap_or(0),
        report
            .problem
            .as_deref()
            .map(|p| format!(", {p}"))
            .unwrap_or_default()
    );
    Ok(profile.id)
}

/// Ctrl-C (SIGINT) as a stream, held for the whole command so no press between two waits is lost.
pub struct Interrupts {
    #[cfg(unix)]
    inner: tokio::signal::unix::Signal,
    #[cfg(windows)]
    inner: tokio::signal::windows::CtrlC,
}

impl Interrupts {
    pub fn new() -> Result<Self, ShannonError> {
        let failed = |e: std::io::Error| ShannonError::Io(format!("cannot watch for Ctrl-C: {e}"));
        #[cfg(unix)]
        let inner = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .map_err(failed)?;
        #[cfg(windows)]
        let inner = tokio::signal::windows::ctrl_c().map_err(failed)?;
        Ok(Self { inner })
    }

    pub async fn recv(&mut self) {
        self.inner.recv().await;
    }
}
