//! Model choice per provider and tier, and the bundled price table (USD per million tokens).
//! A user setting `pricing` (`{"<model>": {"input": x, "output": y, "cache_read": z}}`) overrides it.

use serde::Deserialize;

use crate::core::llm::Usage;

/// The provider a model name belongs to, for a task that names a model but no provider (as the
/// cloud's LLM service routes by model). `None` when the name is not recognisably one provider's.
pub fn provider_for_model(model: &str) -> Option<&'static str> {
    let m = model.trim().to_ascii_lowercase();
    if m.contains('/') {
        return None; // OpenRouter-style `vendor/model` names go to the configured provider.
    }
    let by_prefix: &[(&str, &str)] = &[
        ("gpt-", "openai"),
        ("chatgpt-", "openai"),
        ("o1", "openai"),
        ("o3", "openai"),
        ("o4", "openai"),
        ("claude-", "anthropic"),
        ("gemini-", "google"),
        ("grok-", "xai"),
        ("deepseek-", "deepseek"),
        ("mistral-", "mistral"),
        ("qwen-", "qwen"),
        ("glm-", "zai"),
        ("kimi-", "kimi"),
        ("shannon-demo", "demo"),
    ];
    by_prefix
        .iter()
        .find(|(prefix, _)| m.starts_with(prefix))
        .map(|(_, provider)| *provider)
}

/// `small | medium | large`, as the cloud's `model_tier`.
pub fn model_for_tier(provider: &str, tier: &str) -> &'static str {
    let (small, medium, large) = match provider {
        "openai" => ("gpt-4.1-mini", "gpt-4.1", "gpt-5"),
        "anthropic" => ("claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-1"),
        "google" => (
            "gemini-2.5-flash-lite",
            "gemini-2.5-flash",
            "gemini-2.5-pro",
        ),
        "groq" => (
            "llama-3.1-8b-instant",
            "llama-3.3-70b-versatile",
            "llama-3.3-70b-versatile",
        ),
        "xai" => ("grok-3-mini", "grok-4", "grok-4"),
        "deepseek" => ("deepseek-chat", "deepseek-chat", "deepseek-reasoner"),
        "mistral" => (
            "mistral-small-latest",
            "mistral-medium-latest",
            "mistral-large-latest",
        ),
        "openrouter" => (
            "openai/gpt-4.1-mini",
            "openai/gpt-4.1",
            "anthropic/claude-sonnet-4.5",
        ),
        "qwen" => ("qwen-turbo", "qwen-plus", "qwen-max"),
        "zai" => ("glm-4.5-air", "glm-4.5", "glm-4.5"),
        "kimi" => (
            "kimi-k2-turbo-preview",
            "kimi-k2-0905-preview",
            "kimi-k2-0905-preview",
        ),
        "minimax" => ("MiniMax-M3", "MiniMax-M3", "MiniMax-M3"),
        "cohere" => ("command-r7b-12-2024", "command-r-plus", "command-a-03-2025"),
        "ollama" => ("llama3.2", "llama3.1", "llama3.1:70b"),
        "lmstudio" | "custom" => ("local-model", "local-model", "local-model"),
        _ => ("shannon-demo", "shannon-demo", "shannon-demo"),
    };
    match tier {
        "small" => small,
        "large" => large,
        _ => medium,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    #[serde(default)]
    pub cache_read: Option<f64>,
}

const fn price(input: f64, output: f64, cache_read: f64) -> Price {
    Price {
        input,
        output,
        cache_read: Some(cache_read),
    }
}

/// Bundled list prices (USD per 1M tokens), matched by model-name prefix, longest first.
const PRICES: &[(&str, Price)] = &[
    ("gpt-4.1-mini", price(0.40, 1.60, 0.10)),
    ("gpt-4.1-nano", price(0.10, 0.40, 0.025)),
    ("gpt-4.1", price(2.00, 8.00, 0.50)),
    ("gpt-4o-mini", price(0.15, 0.60, 0.075)),
    ("gpt-4o", price(2.50, 10.00, 1.25)),
    ("gpt-5-mini", price(0.25, 2.00, 0.025)),
    ("gpt-5-nano", price(0.05, 0.40, 0.005)),
    ("gpt-5", price(1.25, 10.00, 0.125)),
    ("o4-mini", price(1.10, 4.40, 0.275)),
    ("o3", price(2.00, 8.00, 0.50)),
    ("claude-haiku-4-5", price(1.00, 5.00, 0.10)),
    ("claude-3-5-haiku", price(0.80, 4.00, 0.08)),
    ("claude-sonnet-4", price(3.00, 15.00, 0.30)),
    ("claude-3-7-sonnet", price(3.00, 15.00, 0.30)),
    ("claude-opus-4", price(15.00, 75.00, 1.50)),
    ("gemini-2.5-flash-lite", price(0.10, 0.40, 0.025)),
    ("gemini-2.5-flash", price(0.30, 2.50, 0.075)),
    ("gemini-2.5-pro", price(1.25, 10.00, 0.31)),
    ("llama-3.1-8b-instant", price(0.05, 0.08, 0.05)),
    ("llama-3.3-70b-versatile", price(0.59, 0.79, 0.59)),
    ("grok-3-mini", price(0.30, 0.50, 0.075)),
    ("grok-4", price(3.00, 15.00, 0.75)),
    ("deepseek-chat", price(0.27, 1.10, 0.07)),
    ("deepseek-reasoner", price(0.55, 2.19, 0.14)),
    ("mistral-small", price(0.10, 0.30, 0.10)),
    ("mistral-medium", price(0.40, 2.00, 0.40)),
    ("mistral-large", price(2.00, 6.00, 2.00)),
    ("shannon-demo", price(0.0, 0.0, 0.0)),
];

/// The price of `model`: the user's override, else the bundled table; `None` when unknown.
pub fn price_of(model: &str, overrides: Option<&serde_json::Value>) -> Option<Price> {
    if let Some(p) = overrides
        .and_then(|o| o.get(model))
        .and_then(|v| serde_json::from_value::<Price>(v.clone()).ok())
    {
        return Some(p);
    }
    let name = model.rsplit('/').next().unwrap_or(model);
    PRICES
        .iter()
        .filter(|(prefix, _)| name.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, p)| *p)
}

/// Cost in USD of one call's usage. Cached input is billed at the cache-read price when known.
pub fn cost_usd(usage: &Usage, price: Option<Price>) -> f64 {
    let Some(p) = price else { return 0.0 };
    let cached = usage.cache_read_tokens.min(usage.input_tokens) as f64;
    let fresh = usage.input_tokens as f64 - cached;
    let per = 1_000_000.0;
    (fresh * p.input
        + cached * p.cache_read.unwrap_or(p.input)
        + usage.output_tokens as f64 * p.output)
        / per
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_overrides_apply() {
        assert_eq!(
            price_of("gpt-4.1-mini-2025-04-14", None).unwrap().input,
            0.40
        );
        assert_eq!(price_of("gpt-4.1-2025-04-14", None).unwrap().input, 2.00);
        assert_eq!(price_of("openai/gpt-4.1-mini", None).unwrap().input, 0.40);
        assert!(price_of("unknown-model", None).is_none());
        let o = serde_json::json!({"unknown-model": {"input": 1.0, "output": 2.0}});
        assert_eq!(price_of("unknown-model", Some(&o)).unwrap().output, 2.0);
        let u = Usage {
            input_tokens: 1_000_000,
            output_tokens: 1_000_000,
            total_tokens: 2_000_000,
            cache_read_tokens: 0,
            cache_creation_tokens: 0,
        };
        assert!((cost_usd(&u, price_of("gpt-4.1", None)) - 10.0).abs() < 1e-9);
    }

    #[test]
    fn a_tier_picks_the_providers_current_model() {
        // Upstream's MiniMax default is MiniMax-M3 for every tier.
        for tier in ["small", "medium", "large"] {
            assert_eq!(model_for_tier("minimax", tier), "MiniMax-M3");
        }
        assert_eq!(model_for_tier("ollama", "small"), "llama3.2");
        assert_eq!(model_for_tier("unknown", "large"), "shannon-demo");
    }
}
