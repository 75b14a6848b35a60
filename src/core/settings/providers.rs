//! The catalogue of LLM providers the plugin knows, and which of them are ready to use.

use std::collections::HashMap;
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::core::error::{Result, ShannonError};

/// How the engine talks to a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ProviderProtocol {
    /// OpenAI chat completions (most providers, local servers included).
    OpenaiCompatible,
    /// Anthropic Messages API.
    Anthropic,
    /// The offline demo provider: deterministic text, no key, no network.
    OfflineDemo,
    /// A web search API for the `web_search` tool, not a model provider (each has its own wire
    /// format: `core::engine::web_search`).
    WebSearch,
}

/// One entry of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct ProviderSpec {
    pub id: &'static str,
    pub display_name: &'static str,
    pub protocol: ProviderProtocol,
    /// Whether a call needs an API key (local servers and the demo do not).
    pub requires_key: bool,
    /// Default endpoint; a user setting `provider.<id>.base_url` overrides it.
    pub default_base_url: Option<&'static str>,
}

impl ProviderSpec {
    /// A local server (Ollama, LM Studio, a custom endpoint): no key needed, reached at a base URL.
    /// It is ready only while its endpoint answers (see [`LocalProbes`]).
    pub fn is_local(&self) -> bool {
        !self.requires_key
            && !matches!(
                self.protocol,
                ProviderProtocol::OfflineDemo | ProviderProtocol::WebSearch
            )
    }

    /// A web search API rather than a model provider.
    pub fn is_search(&self) -> bool {
        self.protocol == ProviderProtocol::WebSearch
    }
}

const fn p(
    id: &'static str,
    display_name: &'static str,
    protocol: ProviderProtocol,
    requires_key: bool,
    default_base_url: Option<&'static str>,
) -> ProviderSpec {
    ProviderSpec {
        id,
        display_name,
        protocol,
        requires_key,
        default_base_url,
    }
}

use ProviderProtocol::{Anthropic, OfflineDemo, OpenaiCompatible as Oai, WebSearch};

/// Every provider, in the order the UI lists them.
pub const PROVIDERS: &[ProviderSpec] = &[
    p(
        "openai",
        "OpenAI",
        Oai,
        true,
        Some("https://api.openai.com/v1"),
    ),
    p(
        "anthropic",
        "Anthropic",
        Anthropic,
        true,
        Some("https://api.anthropic.com"),
    ),
    p(
        "google",
        "Google Gemini",
        Oai,
        true,
        Some("https://generativelanguage.googleapis.com/v1beta/openai"),
    ),
    p(
        "groq",
        "Groq",
        Oai,
        true,
        Some("https://api.groq.com/openai/v1"),
    ),
    p("xai", "xAI", Oai, true, Some("https://api.x.ai/v1")),
    p(
        "deepseek",
        "DeepSeek",
        Oai,
        true,
        Some("https://api.deepseek.com/v1"),
    ),
    p(
        "mistral",
        "Mistral",
        Oai,
        true,
        Some("https://api.mistral.ai/v1"),
    ),
    p(
        "openrouter",
        "OpenRouter",
        Oai,
        true,
        Some("https://openrouter.ai/api/v1"),
    ),
    p(
        "qwen",
        "Qwen",
        Oai,
        true,
        Some("https://dashscope-intl.aliyuncs.com/compatible-mode/v1"),
    ),
    p(
        "zai",
        "Z.ai",
        Oai,
        true,
        Some("https://api.z.ai/api/paas/v4"),
    ),
    p(
        "kimi",
        "Kimi",
        Oai,
        true,
        Some("https://api.moonshot.ai/v1"),
    ),
    p(
        "minimax",
        "MiniMax",
        Oai,
        true,
        Some("https://api.minimax.io/v1"),
    ),
    p(
        "cohere",
        "Cohere",
        Oai,
        true,
        Some("https://api.cohere.ai/compatibility/v1"),
    ),
    p(
        "ollama",
        "Ollama (local)",
        Oai,
        false,
        Some("http://127.0.0.1:11434/v1"),
    ),
    p(
        "lmstudio",
        "LM Studio (local)",
        Oai,
        false,
        Some("http://127.0.0.1:1234/v1"),
    ),
    p("custom", "Custom OpenAI-compatible", Oai, false, None),
    p(
        "demo",
        "Offline demo (canned answers, no network)",
        OfflineDemo,
        false,
        None,
    ),
    // Web search for research, in the order the engine prefers them when several are set up.
    p(
        "tavily",
        "Tavily (web search)",
        WebSearch,
        true,
        Some("https://api.tavily.com"),
    ),
    p(
        "exa",
        "Exa (web search)",
        WebSearch,
        true,
        Some("https://api.exa.ai"),
    ),
    p(
        "brave",
        "Brave Search (web search)",
        WebSearch,
        true,
        Some("https://api.search.brave.com"),
    ),
    p(
        "serper",
        "Serper (web search)",
        WebSearch,
        true,
        Some("https://google.serper.dev"),
    ),
    // Self-hosted and keyless: reached at the base URL the user sets.
    p(
        "searxng",
        "SearXNG (self-hosted web search)",
        WebSearch,
        false,
        None,
    ),
];

/// Looks a provider up by id (case-insensitive, surrounding spaces ignored).
pub fn lookup(provider: &str) -> Result<&'static ProviderSpec> {
    let id = provider.trim().to_ascii_lowercase();
    PROVIDERS
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ShannonError::UnknownProvider(truncate_for_message(provider)))
}

/// Echoes user input in an error without letting a pasted key or a huge string through whole.
fn truncate_for_message(s: &str) -> String {
    let s: String = s.chars().take(32).collect();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && s.len() <= 24
    {
        s
    } else {
        "(unrecognised name)".to_string()
    }
}

/// Looks up a provider that answers model calls: a search API named as a model provider is refused.
pub fn lookup_model(provider: &str) -> Result<&'static ProviderSpec> {
    let spec = lookup(provider)?;
    if spec.is_search() {
        return Err(ShannonError::invalid(format!(
            "{} is a web search API, not a model provider",
            spec.display_name
        )));
    }
    Ok(spec)
}

/// The origin (`scheme://host[:port]`) of a provider endpoint, which its stored key is bound to:
/// `none` when the provider has no endpoint, `invalid` when the URL does not parse.
pub fn origin_of(base_url: Option<&str>) -> String {
    match base_url.map(|u| reqwest::Url::parse(u.trim())) {
        None => "none".into(),
        Some(Ok(url)) => url.origin().ascii_serialization(),
        Some(Err(_)) => "invalid".into(),
    }
}

/// The user setting that overrides a provider's base URL.
pub fn base_url_setting(provider: &str) -> String {
    format!("provider.{provider}.base_url")
}

/// How long a local provider's readiness probe waits for an answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a probe's outcome is reused, so `provider_status` stays cheap.
pub const PROBE_TTL: Duration = Duration::from_secs(3);
/// Most probe outcomes kept (one per URL probed).
const PROBES_KEPT: usize = 64;

/// What a readiness probe requests: `<base_url>/models`, which OpenAI-compatible servers serve.
pub fn probe_url(base_url: &str) -> String {
    format!("{}/models", base_url.trim().trim_end_matches('/'))
}

/// Readiness probes of local providers: any HTTP answer from `GET <base_url>/models` within
/// [`PROBE_TIMEOUT`] means the server runs. Outcomes are reused for [`PROBE_TTL`].
#[derive(Default)]
pub(crate) struct LocalProbes {
    /// (loopback client without proxy, client honouring the proxy settings), built on first use.
    clients: OnceLock<Option<(reqwest::Client, reqwest::Client)>>,
    recent: Mutex<HashMap<String, (Instant, bool)>>,
}

impl std::fmt::Debug for LocalProbes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let recent = self.recent.lock().map_or(0, |r| r.len());
        f.debug_struct("LocalProbes")
            .field("recent", &recent)
            .finish()
    }
}

static RUSTLS_PROVIDER: Once = Once::new();

impl LocalProbes {
    /// `None` when the local provider at `base_url` answers, else why it is not ready.
    pub(crate) async fn not_ready_reason(
        &self,
        spec: &ProviderSpec,
        base_url: &str,
    ) -> Option<String> {
        let url = probe_url(base_url);
        let Ok(parsed) = reqwest::Url::parse(&url) else {
            return Some(invalid_url(spec, base_url));
        };
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Some(invalid_url(spec, base_url));
        }
        let running = match self.recent(&url) {
            Some(running) => running,
            None => {
                let running = self.probe(&parsed).await;
                self.remember(url.clone(), running);
                running
            }
        };
        (!running).then(|| format!("{} is not running at {url}", spec.display_name))
    }

    fn recent(&self, url: &str) -> Option<bool> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent
            .get(url)
            .filter(|(at, _)| at.elapsed() < PROBE_TTL)
            .map(|&(_, running)| running)
    }

    fn remember(&self, url: String, running: bool) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() >= PROBES_KEPT {
            recent.retain(|_, (at, _)| at.elapsed() < PROBE_TTL);
            if recent.len() >= PROBES_KEPT {
                recent.clear();
            }
        }
        recent.insert(url, (Instant::now(), running));
    }

    async fn probe(&self, url: &reqwest::Url) -> bool {
        let Some((local, proxied)) = self.clients.get_or_init(build_clients) else {
            return false;
        };
        let client = if is_loopback(url) { local } else { proxied };
        match client.get(url.clone()).send().await {
            // Any status (404, 401, …) is an answer: something serves HTTP there.
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(
                    timeout = e.is_timeout(),
                    connect = e.is_connect(),
                    "a local provider's readiness probe got no answer"
                );
                false
            }
        }
    }
}

fn invalid_url(spec: &ProviderSpec, base_url: &str) -> String {
    format!(
        "the base URL {base_url:?} set for {} is not an http:// or https:// URL",
        spec.display_name
    )
}

fn build_clients() -> Option<(reqwest::Client, reqwest::Client)> {
    // reqwest is built without a bundled crypto provider (as in `core::llm`): install ring once,
    // keeping any provider the application installed first.
    RUSTLS_PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    let builder = || {
        reqwest::Client::builder()
            .connect_timeout(PROBE_TIMEOUT)
            .timeout(PROBE_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tauri-plugin-shannon/", env!("CARGO_PKG_VERSION")))
    };
    match (builder().no_proxy().build(), builder().build()) {
        (Ok(local), Ok(proxied)) => Some((local, proxied)),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "cannot build the HTTP client for readiness probes");
            None
        }
    }
}

/// A local model server is never reached through a proxy.
pub(crate) fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
