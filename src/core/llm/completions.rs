//! `POST /v1/completions`: one model call outside any task, in the shape of the cloud's
//! llm-service passthrough (`{messages, model_tier, specific_model, temperature, max_tokens,
//! stream}` → `{provider, model, output_text, usage, finish_reason}`), on the provider and model a
//! task with the same tier or model would use. It is priced like a task's call, but leaves no task
//! behind.

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::models::{cost_usd, price_of};
use crate::core::Core;
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::llm::{ChatMessage, ChatRequest, LlmError, Role};
use crate::core::run::setup;
use crate::core::tasks::request::SubmitTaskRequest;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct CompletionRequest {
    pub messages: Vec<CompletionMessage>,
    /// `small | medium | large`.
    pub model_tier: Option<String>,
    pub specific_model: Option<String>,
    /// A provider of the catalogue (beyond the cloud's body).
    pub provider: Option<String>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    pub stream: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct CompletionMessage {
    pub role: String,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct CompletionUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct Completion {
    pub provider: String,
    pub model: String,
    pub output_text: String,
    pub usage: CompletionUsage,
    pub finish_reason: Option<String>,
}

impl Core {
    /// Runs the call, handing each piece of text to `on_delta` as it streams in.
    pub async fn complete(
        &self,
        caller: &Caller,
        req: CompletionRequest,
        on_delta: &mut (dyn FnMut(&str) + Send),
        cancel: &CancellationToken,
    ) -> Result<Completion> {
        if req.messages.is_empty() {
            return Err(ShannonError::invalid("messages must not be empty"));
        }
        let mut messages = Vec::with_capacity(req.messages.len());
        for m in &req.messages {
            let role = match m.role.as_str() {
                "system" | "developer" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                other => {
                    return Err(ShannonError::invalid(format!(
                        "message role must be system, user or assistant, not {other:?}"
                    )));
                }
            };
            messages.push(ChatMessage::new(role, m.content.clone()));
        }
        let query = req
            .messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(|m| m.content.clone())
            .unwrap_or_else(|| "completion".into());
        // The same provider and model choice as a task's (tier, explicit model, default).
        let plan = SubmitTaskRequest {
            query,
            model_tier: req.model_tier.clone(),
            model_override: req.specific_model.clone(),
            provider_override: req.provider.clone(),
            ..SubmitTaskRequest::default()
        }
        .into_plan()?;
        let choice = self.choose_provider(caller, &plan).await?;
        let client = setup::provider_client_for(self, caller, &choice.provider).await?;
        let request = ChatRequest {
            model: choice.model.clone(),
            messages,
            tools: Vec::new(),
            temperature: req.temperature,
            max_tokens: req.max_tokens,
            json_mode: false,
        };
        let answer = client
            .stream_chat(&request, on_delta, cancel)
            .await
            .map_err(|e| match e {
                LlmError::Cancelled => {
                    ShannonError::InvalidState("the completion was cancelled".into())
                }
                other => ShannonError::InvalidState(other.to_string()),
            })?;
        let usage = answer.settled_usage();
        let pricing = self
            .get_setting(caller, "pricing")
            .await
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s.value).ok());
        let cost = cost_usd(&usage, price_of(&answer.model, pricing.as_ref()));
        Ok(Completion {
            provider: choice.provider,
            model: answer.model,
            output_text: answer.text,
            usage: CompletionUsage {
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                total_tokens: usage.total_tokens,
                cost_usd: cost,
            },
            finish_reason: answer.finish_reason,
        })
    }
}
