//! The catalogue of LLM providers the plugin knows, and which of them are ready to use.

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

use ProviderProtocol::{Anthropic, OfflineDemo, OpenaiCompatible as Oai};

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

/// The user setting that overrides a provider's base URL.
pub fn base_url_setting(provider: &str) -> String {
    format!("provider.{provider}.base_url")
}
