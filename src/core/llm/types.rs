//! Provider-neutral chat types shared by the engine and the provider adapters.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// A tool call requested by the model. `arguments` is JSON text as the model produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// One conversation message. Assistant messages may carry tool calls; tool messages answer one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

/// A tool the model may call; `parameters` is a JSON Schema object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub tools: Vec<ToolSpec>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    /// Ask for one JSON object as the answer: OpenAI-compatible `response_format: json_object`, a
    /// JSON-only instruction on Anthropic (which has no such mode).
    pub json_mode: bool,
}

/// Token counts of one model call, as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_creation_tokens: u64,
}

impl Usage {
    /// Adds another call's usage to this total.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.total_tokens += other.total_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_creation_tokens += other.cache_creation_tokens;
    }
}

/// The complete result of one streamed model call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatResponse {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    /// The model that answered (the provider's echo, else the requested one).
    pub model: String,
    /// `stop`, `tool_calls`, `length`, … as the provider said.
    pub finish_reason: Option<String>,
}

impl ChatResponse {
    /// The usage with its total filled in when the provider gave only the parts.
    pub fn settled_usage(&self) -> Usage {
        let mut usage = self.usage;
        if usage.total_tokens == 0 {
            usage.total_tokens = usage.input_tokens + usage.output_tokens;
        }
        usage
    }

    /// The model that answered, or the requested one when the provider did not say.
    pub fn model_or(&self, requested: &str) -> String {
        if self.model.is_empty() {
            requested.to_string()
        } else {
            self.model.clone()
        }
    }
}

/// Why a model call failed. Messages never include API keys or request headers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// The call was cancelled through its cancellation token.
    #[error("cancelled")]
    Cancelled,
    /// 401/403: the key is missing or refused.
    #[error("the provider refused the credentials (HTTP {status})")]
    Auth { status: u16 },
    /// 4xx other than 401/403/408/429: the request itself is wrong; not retried.
    #[error("the provider rejected the request (HTTP {status}): {message}")]
    BadRequest { status: u16, message: String },
    /// 429/5xx/connect/timeout errors that persisted through every retry.
    #[error("the provider is unavailable after {attempts} attempts: {message}")]
    Unavailable { attempts: u32, message: String },
    /// The stream broke or carried data we cannot parse.
    #[error("the provider's stream was malformed or interrupted: {0}")]
    Stream(String),
}
