//! The cloud's task submission body (see docs/upstream.md#tasks-and-submission) and its validation
//! into a plan the runner executes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use super::strategy::Mode;
use super::strategy::Strategy;
pub(crate) use super::strategy::{str_of, truthy};
use crate::core::error::{Result, ShannonError};

/// `POST /api/v1/tasks` body. Unknown fields are ignored, as the cloud does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct SubmitTaskRequest {
    /// The user's request, at most 100 000 characters (`payload_too_large` beyond); may be empty
    /// only with `context.attachments`.
    pub query: String,
    /// The session to continue; `None` (or an unknown id) starts a new one.
    pub session_id: Option<String>,
    /// Free-form options, as the cloud's (`role`, `system_prompt`, `tools_to_use`, `temperature`,
    /// `attachments`, ...); stored and echoed with the task.
    pub context: Map<String, Value>,
    /// `simple | standard | complex | supervisor`.
    pub mode: Option<String>,
    /// `small | medium | large`: picks the provider's model of that size.
    pub model_tier: Option<String>,
    /// A model id to use instead of the provider's default.
    pub model_override: Option<String>,
    /// A provider id to use instead of the configured default (`openai`, `anthropic`, ...).
    pub provider_override: Option<String>,
    /// `quick | standard | deep | academic`.
    pub research_strategy: Option<String>,
    /// Tool-loop iterations, 1..=50 (default 6; `context.react_max_iterations` wins).
    pub max_iterations: Option<i32>,
    /// Agents run at once in multi-agent modes, 1..=20.
    pub max_concurrent_agents: Option<i32>,
    /// Whether a research workflow verifies its findings; `None` = the `research_strategy`
    /// preset's choice (off without one).
    pub enable_verification: Option<bool>,
    /// A skill of the catalogue to apply (its newest enabled version, or `context.skill_version`).
    pub skill: Option<String>,
    /// Where a new session runs: `local` or a remote profile id (remote mode). A task continuing
    /// a session runs where the session does; naming the other backend is
    /// `session_on_other_backend`. Absent: the session's backend, else the configured default.
    /// Not a cloud field: the HTTP listener accepts only `local`.
    pub target: Option<String>,
}

/// Providers the cloud accepts as `provider_override` (see docs/upstream.md#tasks-and-submission).
pub(crate) const CLOUD_PROVIDERS: &[&str] = &[
    "openai",
    "anthropic",
    "google",
    "groq",
    "xai",
    "deepseek",
    "qwen",
    "zai",
    "kimi",
    "minimax",
    "ollama",
    "mistral",
    "cohere",
];

/// Providers only the embedded engine has (a remote submission naming one is refused).
pub(crate) const LOCAL_ONLY_PROVIDERS: &[&str] = &["openrouter", "lmstudio", "custom", "demo"];

/// Seeds for `research_strategy` presets: only absent keys are filled (see
/// docs/upstream.md#tasks-and-submission).
fn preset(strategy: &str) -> Option<Value> {
    let v = match strategy {
        "quick" => {
            serde_json::json!({"max_concurrent_agents": 3, "react_max_iterations": 2, "enable_verification": false, "gap_filling_enabled": false, "iterative_research_enabled": false, "model_tier": "small"})
        }
        "standard" => {
            serde_json::json!({"max_concurrent_agents": 4, "react_max_iterations": 2, "enable_verification": true, "gap_filling_enabled": true, "gap_filling_max_gaps": 2, "gap_filling_max_iterations": 1, "iterative_research_enabled": true, "iterative_max_iterations": 1, "model_tier": "small"})
        }
        "deep" => {
            serde_json::json!({"max_concurrent_agents": 5, "react_max_iterations": 3, "enable_verification": true, "gap_filling_enabled": true, "gap_filling_max_gaps": 3, "gap_filling_max_iterations": 2, "iterative_research_enabled": true, "iterative_max_iterations": 2, "model_tier": "medium"})
        }
        "academic" => {
            serde_json::json!({"max_concurrent_agents": 6, "react_max_iterations": 3, "enable_verification": true, "gap_filling_enabled": true, "gap_filling_max_gaps": 4, "gap_filling_max_iterations": 3, "iterative_research_enabled": true, "iterative_max_iterations": 2, "model_tier": "medium", "budget_agent_min": 30000})
        }
        _ => return None,
    };
    Some(v)
}

/// Role presets: a system prompt per role (the cloud's single-agent roles).
fn role_prompt(role: &str) -> Option<&'static str> {
    Some(match role {
        "generalist" => "You are a helpful, precise assistant. Answer clearly and concisely.",
        "analysis" => {
            "You are an analyst. Break the problem down, reason step by step, and state conclusions with their evidence."
        }
        "research" => {
            "You are a research assistant. Gather the relevant facts, note uncertainty, and cite what you rely on."
        }
        "writer" => {
            "You are a skilled writer. Produce clear, well-structured prose in the requested style."
        }
        "developer" => {
            "You are a senior software engineer. Give correct, idiomatic code and explain the important decisions."
        }
        "critic" => {
            "You are a critical reviewer. Find weaknesses, errors and missing cases, and suggest fixes."
        }
        _ => return None,
    })
}

fn num_of(ctx: &Map<String, Value>, key: &str) -> Option<f64> {
    match ctx.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn list_of(ctx: &Map<String, Value>, key: &str) -> Option<Vec<String>> {
    match ctx.get(key)? {
        Value::Array(a) => Some(
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        ),
        Value::String(s) => Some(
            s.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect(),
        ),
        _ => None,
    }
}

/// Fills `${name}` from `params`; unknown names stay as written.
pub fn fill_template(template: &str, params: Option<&Map<String, Value>>) -> String {
    let Some(params) = params else {
        return template.to_string();
    };
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match params.get(name) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(other) => out.push_str(&other.to_string()),
                    None => out.push_str(&rest[start..start + 3 + end]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The validated submission: what the runner needs, with every default applied.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskPlan {
    pub query: String,
    pub session_id: Option<String>,
    pub requested_mode: Mode,
    /// How the task runs, decided here once (see [`Strategy::decide`]).
    pub strategy: Strategy,
    /// The context as stored and echoed (presets applied, secrets never present).
    pub context: Map<String, Value>,
    /// Explicit provider (top-level or context); `None` = the configured default.
    pub provider: Option<String>,
    pub model_override: Option<String>,
    pub model_tier: Option<String>,
    pub system_prompt: Option<String>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    /// Earlier messages of the session to include (5..200, default 50).
    pub history_window: u32,
    pub max_iterations: u32,
    pub token_budget: Option<u64>,
    pub cost_budget_usd: Option<f64>,
    pub tools_allow: Option<Vec<String>>,
    pub tools_block: Vec<String>,
}

/// Largest accepted query, in characters.
pub const MAX_QUERY_CHARS: usize = 100_000;

impl SubmitTaskRequest {
    /// Validates as the cloud does (its messages: docs/upstream.md#tasks-and-submission) and
    /// applies presets and defaults.
    pub fn into_plan(self) -> Result<TaskPlan> {
        let mut ctx = self.context;
        let has_attachments = ctx
            .get("attachments")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        let mut query = self.query.trim().to_string();
        if query.is_empty() {
            if has_attachments {
                query = "[User sent file attachments]".into();
            } else {
                return Err(ShannonError::invalid("Query is required"));
            }
        }
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(ShannonError::PayloadTooLarge(format!(
                "query is longer than {MAX_QUERY_CHARS} characters"
            )));
        }
        let mode_text = self
            .mode
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty());
        let explicit_mode = match mode_text {
            None => None,
            Some(m) => Some(Mode::parse(&m.to_ascii_lowercase()).ok_or_else(|| {
                ShannonError::invalid(
                    "Invalid mode (allowed: simple, standard, complex, supervisor)",
                )
            })?),
        };
        if let Some(tier) = &self.model_tier {
            let t = tier.trim().to_ascii_lowercase();
            if !matches!(t.as_str(), "small" | "medium" | "large") {
                return Err(ShannonError::invalid(
                    "Invalid model_tier (allowed: small, medium, large)",
                ));
            }
            ctx.insert("model_tier".into(), Value::String(t));
        }
        if let Some(m) = self
            .model_override
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
        {
            ctx.insert("model_override".into(), Value::String(m.to_string()));
        }
        if let Some(p) = &self.provider_override {
            let p = p.trim().to_ascii_lowercase();
            if !CLOUD_PROVIDERS.contains(&p.as_str()) && !LOCAL_ONLY_PROVIDERS.contains(&p.as_str())
            {
                return Err(ShannonError::invalid(format!(
                    "Invalid provider_override (allowed: {})",
                    [CLOUD_PROVIDERS, LOCAL_ONLY_PROVIDERS].concat().join(", ")
                )));
            }
            ctx.insert("provider_override".into(), Value::String(p));
        }
        if let Some(n) = self.max_iterations
            && !(1..=50).contains(&n)
        {
            return Err(ShannonError::invalid("max_iterations out of range (1..50)"));
        }
        if let Some(n) = self.max_concurrent_agents {
            if !(1..=20).contains(&n) {
                return Err(ShannonError::invalid(
                    "max_concurrent_agents out of range (1..20)",
                ));
            }
            ctx.insert("max_concurrent_agents".into(), n.into());
        }
        if let Some(v) = self.enable_verification {
            ctx.insert("enable_verification".into(), v.into());
        }
        if truthy(ctx.get("disable_ai"))
            && ["model_tier", "model_override", "provider_override"]
                .iter()
                .any(|k| ctx.contains_key(*k))
        {
            return Err(ShannonError::invalid(
                "disable_ai=true conflicts with model_tier/model_override",
            ));
        }
        if let Some(s) = str_of(&ctx, "cognitive_strategy")
            && super::strategy::Cognitive::parse(s).is_none()
            && !matches!(s.trim(), "" | "decompose" | "direct")
        {
            return Err(ShannonError::invalid(
                "Invalid cognitive_strategy (allowed: react, exploratory, scientific, research, decompose)",
            ));
        }
        if let Some(t) = ctx.get("template_name").cloned() {
            ctx.entry("template").or_insert(t);
        }
        let mut strategy = self
            .research_strategy
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty());
        if let Some(s) = &strategy
            && preset(s).is_none()
        {
            return Err(ShannonError::invalid(
                "Invalid research_strategy (allowed: quick, standard, deep, academic)",
            ));
        }
        if strategy.is_none() {
            strategy = str_of(&ctx, "research_strategy").map(str::to_ascii_lowercase);
        }
        if strategy.is_none() && truthy(ctx.get("force_research")) {
            strategy = Some("standard".into());
        }
        if let Some(s) = strategy
            && let Some(Value::Object(seed)) = preset(&s)
        {
            ctx.insert("research_strategy".into(), Value::String(s));
            for (k, v) in seed {
                ctx.entry(k).or_insert(v);
            }
        }

        let tools_allow = list_of(&ctx, "tools_to_use").or_else(|| list_of(&ctx, "allowed_tools"));
        let wants_tools = tools_allow.as_ref().is_some_and(|t| !t.is_empty())
            || truthy(ctx.get("force_tools"))
            || list_of(&ctx, "suggested_tools").is_some_and(|t| !t.is_empty());
        // Without an explicit mode: tools wanted → the tool loop, else a single call.
        let requested_mode = explicit_mode.unwrap_or(if wants_tools {
            Mode::Standard
        } else {
            Mode::Simple
        });

        let role_text = str_of(&ctx, "role").and_then(role_prompt);
        let params = ctx.get("prompt_params").and_then(Value::as_object).cloned();
        let system_prompt = str_of(&ctx, "system_prompt")
            .map(|t| fill_template(t, params.as_ref()))
            .or_else(|| role_text.map(str::to_string));
        let history_window = num_of(&ctx, "history_window_size")
            .map(|n| n as i64)
            .or_else(|| (str_of(&ctx, "use_case_preset") == Some("debugging")).then_some(75))
            .unwrap_or(50)
            .clamp(5, 200) as u32;
        let max_iterations = num_of(&ctx, "react_max_iterations")
            .map(|n| n as i64)
            .or(self.max_iterations.map(i64::from))
            .unwrap_or(6)
            .clamp(1, 50) as u32;
        let temperature = num_of(&ctx, "temperature").map(|t| t as f32);
        if temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
            return Err(ShannonError::invalid("temperature must be between 0 and 2"));
        }
        let max_tokens = num_of(&ctx, "max_tokens").map(|t| t as i64);
        if max_tokens.is_some_and(|t| !(1..=1_000_000).contains(&t)) {
            return Err(ShannonError::invalid(
                "max_tokens must be between 1 and 1000000",
            ));
        }
        let token_budget = [
            "token_budget",
            "budget_total_max",
            "budget_agent_max",
            "budget_max",
        ]
        .iter()
        .find_map(|k| num_of(&ctx, k))
        .filter(|n| *n > 0.0)
        .map(|n| n as u64);
        let cost_budget_usd = ["max_budget_usd", "cost_budget_usd"]
            .iter()
            .find_map(|k| num_of(&ctx, k))
            .filter(|n| *n > 0.0);
        let strategy = Strategy::decide(requested_mode, &ctx);
        Ok(TaskPlan {
            query,
            session_id: self
                .session_id
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            requested_mode,
            strategy,
            provider: str_of(&ctx, "provider_override").map(str::to_ascii_lowercase),
            model_override: str_of(&ctx, "model_override").map(str::to_string),
            model_tier: str_of(&ctx, "model_tier").map(str::to_ascii_lowercase),
            system_prompt,
            temperature,
            max_tokens: max_tokens.map(|t| t as u32),
            history_window,
            max_iterations,
            token_budget,
            cost_budget_usd,
            tools_allow,
            tools_block: list_of(&ctx, "tools_blocked").unwrap_or_default(),
            context: ctx,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(v: Value) -> Result<TaskPlan> {
        serde_json::from_value::<SubmitTaskRequest>(v)
            .unwrap()
            .into_plan()
    }

    #[test]
    fn validation_messages_match_the_contract() {
        let msg = |v| req(v).unwrap_err().to_string();
        assert!(msg(json!({"query": "  "})).contains("Query is required"));
        assert!(msg(json!({"query": "q", "mode": "turbo"})).contains("Invalid mode"));
        assert!(msg(json!({"query": "q", "model_tier": "huge"})).contains("model_tier"));
        assert!(
            msg(json!({"query": "q", "provider_override": "acme"})).contains("provider_override")
        );
        assert!(
            msg(json!({"query": "q", "max_iterations": 51}))
                .contains("max_iterations out of range (1..50)")
        );
        assert!(
            msg(json!({"query": "q", "research_strategy": "wide"})).contains("research_strategy")
        );
        assert!(
            msg(json!({"query": "q", "model_tier": "small", "context": {"disable_ai": true}}))
                .contains("disable_ai=true conflicts")
        );
        assert!(
            req(json!({"query": "", "context": {"attachments": [{"media_type": "text/plain"}]}}))
                .is_ok()
        );
    }

    #[test]
    fn presets_templates_and_defaults() {
        let p = req(json!({"query": "q", "research_strategy": "deep", "context": {"react_max_iterations": 9}})).unwrap();
        assert_eq!(p.context["model_tier"], "medium");
        assert_eq!(
            p.context["react_max_iterations"], 9,
            "presets fill only absent keys"
        );
        assert_eq!(p.max_iterations, 9);
        let p = req(json!({"query": "q", "context": {"force_research": true}})).unwrap();
        assert_eq!(p.context["research_strategy"], "standard");
        let p = req(json!({"query": "q", "context": {"system_prompt": "Hi ${name}, ${missing}", "prompt_params": {"name": "Ada"}}})).unwrap();
        assert_eq!(p.system_prompt.as_deref(), Some("Hi Ada, ${missing}"));
        let p = req(json!({"query": "q", "context": {"history_window_size": 1000}})).unwrap();
        assert_eq!(p.history_window, 200);
        let p = req(json!({"query": "q", "provider_override": "Anthropic", "model_tier": "LARGE"}))
            .unwrap();
        assert_eq!(p.provider.as_deref(), Some("anthropic"));
        assert_eq!(p.model_tier.as_deref(), Some("large"));
        assert_eq!(p.requested_mode, Mode::Simple);
        let p = req(json!({"query": "q", "context": {"tools_to_use": ["calculator"]}})).unwrap();
        assert_eq!(p.requested_mode, Mode::Standard);
    }
}
