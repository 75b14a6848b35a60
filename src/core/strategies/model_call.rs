//! One model call of an agent: from the journal when an earlier run made it, else streamed from
//! the provider (LLM_PROMPT, LLM_PARTIAL under the agent's id) and journaled with its LLM_OUTPUT
//! and token usage before anyone acts on it. A call stopped mid-stream still leaves an estimate of
//! what it cost.

use std::time::Instant;

use serde_json::json;

use super::{Answer, Halt, Team};
use crate::core::llm::models::{cost_usd, price_of};
use crate::core::llm::{ChatMessage, ChatRequest, LlmError, Role, ToolSpec, Usage};
use crate::core::run::journal::{StepKey, StepKind};
use crate::core::run::lifecycle::EventType;
use crate::core::streams::{NewEvent, UsageRow, clip, insert_usage};

impl Team {
    /// One call of `agent` with a system prompt and a request, no tools: a streamed text answer, or
    /// (`json`) a JSON object in JSON mode, whose deltas stay unseen.
    pub async fn ask(
        &self,
        agent: &str,
        key: &StepKey,
        system: impl Into<String>,
        user: impl Into<String>,
        json: bool,
    ) -> Result<Answer, Halt> {
        let messages = vec![
            ChatMessage::new(Role::System, system),
            ChatMessage::new(Role::User, user),
        ];
        self.call(agent, key, messages, Vec::new(), json, !json)
            .await
    }

    /// One model call as `agent`. `stream_text` false keeps the deltas to itself (a JSON answer).
    pub async fn call(
        &self,
        agent: &str,
        key: &StepKey,
        messages: Vec<ChatMessage>,
        tools: Vec<ToolSpec>,
        json_mode: bool,
        stream_text: bool,
    ) -> Result<Answer, Halt> {
        if let Some(done) = self.take::<Answer>(key)? {
            // A resumed run counts what it already spent (its warnings are stored already).
            self.spend(agent, &done.usage, done.cost_usd, false)?;
            return Ok(done);
        }
        self.set_at("pre_llm_call");
        self.checkpoint().await?;
        let request = ChatRequest {
            model: self.model.clone(),
            messages,
            tools,
            temperature: self.temperature,
            max_tokens: self.max_tokens,
            json_mode,
        };
        let prompt = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| clip(&m.content, 5000))
            .unwrap_or_default();
        let payload = json!({"provider": self.provider, "model": request.model, "role": agent});
        self.emit(EventType::LlmPrompt, agent, prompt, Some(payload));
        let hub = self.core.engine().hub.clone();
        let mut streamed_chars = 0usize;
        let mut on_delta = |delta: &str| {
            streamed_chars += delta.chars().count();
            if stream_text {
                let text = Some(delta.to_string());
                hub.emit(
                    &self.workflow_id,
                    EventType::LlmPartial,
                    Some(agent),
                    text,
                    None,
                );
            }
        };
        let started = Instant::now();
        self.set_at("llm_stream");
        let result = self
            .client
            .stream_chat(&request, &mut on_delta, &self.cancel)
            .await;
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                if streamed_chars > 0 {
                    self.record_stopped_call(key, agent, &request, streamed_chars)
                        .await;
                }
                return Err(match e {
                    LlmError::Cancelled => self.halted(),
                    other => Halt::Failed(format!("{} call failed: {other}", self.provider)),
                });
            }
        };
        let usage = response.settled_usage();
        let model = response.model_or(&request.model);
        let price = price_of(&model, self.pricing.as_deref());
        let cost = cost_usd(&usage, price);
        let output = NewEvent::new(EventType::LlmOutput, agent, clip(&response.text, 10_000))
            .with_payload(json!({
                "tokens_used": usage.total_tokens, "model_used": model, "provider": self.provider,
                "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens, "cost_usd": cost,
                "duration_ms": started.elapsed().as_millis() as u64, "role": agent,
                "cache_read_tokens": usage.cache_read_tokens,
                "cache_creation_tokens": usage.cache_creation_tokens, "priced": price.is_some(),
            }));
        let answer = Answer {
            text: response.text,
            tool_calls: response.tool_calls,
            usage,
            model: model.clone(),
            cost_usd: cost,
        };
        let row = UsageRow {
            agent_id: agent.to_string(),
            provider: self.provider.clone(),
            model,
            usage,
            cost_usd: cost,
        };
        let events = if stream_text {
            vec![output]
        } else {
            Vec::new()
        };
        self.record(key, StepKind::ModelCall, &answer, events, Some(row))
            .await?;
        self.spend(agent, &answer.usage, cost, true)?;
        Ok(answer)
    }

    /// A call stopped mid-stream (cancelled, or the provider failed) reports no usage, yet the
    /// provider bills what it streamed: record an estimate (about four characters a token) under
    /// `<call>/stopped`, so the task's totals and model show it.
    async fn record_stopped_call(
        &self,
        key: &StepKey,
        agent: &str,
        request: &ChatRequest,
        streamed_chars: usize,
    ) {
        let prompt_chars: usize = request
            .messages
            .iter()
            .map(|m| m.content.chars().count())
            .sum();
        let estimate = |chars: usize| chars.div_ceil(4) as u64;
        let mut usage = Usage {
            input_tokens: estimate(prompt_chars),
            output_tokens: estimate(streamed_chars),
            ..Usage::default()
        };
        usage.total_tokens = usage.input_tokens + usage.output_tokens;
        let price = price_of(&request.model, self.pricing.as_deref());
        let row = UsageRow {
            agent_id: agent.to_string(),
            provider: self.provider.clone(),
            model: request.model.clone(),
            usage,
            cost_usd: cost_usd(&usage, price),
        };
        let (task_id, step_key) = (self.task_id.clone(), key.then_named("stopped"));
        let written = self
            .core
            .store()
            .write(move |tx| insert_usage(tx, &task_id, step_key.as_str(), &row))
            .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "could not record the usage of a stopped model call");
        }
    }
}
