//! The two kinds of step a run takes, each journaled before the run acts on it: a model call
//! (streamed as LLM_PARTIAL, stored with its LLM_OUTPUT and token usage) and a tool call (stored
//! with its observation). A step an earlier run completed is taken from the journal instead.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Run, Stop};
use crate::core::engine::events::{NewEvent, UsageRow, clip, clip_params, insert_usage};
use crate::core::engine::journal::{StepKey, StepKind};
use crate::core::engine::lifecycle::EventType;
use crate::core::engine::models::{cost_usd, price_of};
use crate::core::engine::tools::ToolBox;
use crate::core::llm::{ChatRequest, LlmError, ProviderClient, Role, ToolCall, ToolSpec, Usage};

/// A completed model call, as journaled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ModelStep {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    pub model: String,
    pub cost_usd: f64,
}

/// A completed tool call, as journaled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ToolStep {
    pub output: String,
    pub success: bool,
}

impl Run {
    /// One model call: from the journal when an earlier run completed it, else streamed from the
    /// provider and journaled with its LLM_OUTPUT event and token usage before it is acted on.
    pub(super) async fn model_step(
        &mut self,
        client: &ProviderClient,
        agent: &str,
        key: &StepKey,
        tools: Vec<ToolSpec>,
    ) -> Result<ModelStep, Stop> {
        let step = match self.journal.replay::<ModelStep>(key)? {
            Some(step) => step,
            None => self.call_model(client, agent, key, tools).await?,
        };
        self.calls += 1;
        self.usage.add(&step.usage);
        self.cost_usd += step.cost_usd;
        self.model_used = Some(step.model.clone());
        let decision = self.budgets.check(self.usage.total_tokens, self.cost_usd);
        for w in decision.warnings {
            self.emit(
                EventType::BudgetThreshold,
                "budget-manager",
                w.message,
                Some(w.payload),
            );
        }
        match decision.exceeded {
            Some(reason) => Err(Stop::Failed(reason)),
            None => Ok(step),
        }
    }

    async fn call_model(
        &mut self,
        client: &ProviderClient,
        agent: &str,
        key: &StepKey,
        tools: Vec<ToolSpec>,
    ) -> Result<ModelStep, Stop> {
        let request = ChatRequest {
            model: self.spec.model.clone(),
            messages: self.messages.clone(),
            tools,
            temperature: self.spec.plan.temperature,
            max_tokens: self.spec.plan.max_tokens,
            json_mode: false,
        };
        let prompt = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| clip(&m.content, 5000))
            .unwrap_or_default();
        let payload = json!({"provider": self.spec.provider, "model": request.model});
        self.emit(EventType::LlmPrompt, agent, prompt, Some(payload));
        let hub = self.core.engine().hub.clone();
        let (wf, agent_id) = (self.spec.workflow_id.clone(), agent.to_string());
        let mut streamed_chars = 0usize;
        let mut on_delta = |delta: &str| {
            streamed_chars += delta.chars().count();
            let text = Some(delta.to_string());
            hub.emit(&wf, EventType::LlmPartial, Some(&agent_id), text, None);
        };
        let started = Instant::now();
        // A pause takes effect mid-answer: the hub holds the deltas (see `Core::pause_task`) and
        // WORKFLOW_PAUSED goes out now, while the provider keeps streaming into the hold.
        let stream = client.stream_chat(&request, &mut on_delta, &self.control.cancel);
        let (result, announced) = self.announcing_pause(stream, "llm_stream").await;
        self.paused_announced = announced;
        let response = match result {
            Ok(response) => response,
            Err(e) => {
                if streamed_chars > 0 {
                    self.record_stopped_call(key, agent, &request, streamed_chars)
                        .await;
                }
                return Err(match e {
                    LlmError::Cancelled => Stop::Cancelled {
                        checkpoint: "llm_stream".into(),
                        was_paused: *self.control.pause.borrow(),
                    },
                    other => Stop::Failed(format!("{} call failed: {other}", self.spec.provider)),
                });
            }
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        let usage = response.settled_usage();
        let model = response.model_or(&request.model);
        let (cost, priced) = self.cost_of(&model, &usage).await;
        let output = NewEvent::new(EventType::LlmOutput, agent, clip(&response.text, 10_000))
            .with_payload(json!({
                "tokens_used": usage.total_tokens, "model_used": model, "provider": self.spec.provider,
                "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens, "cost_usd": cost,
                "duration_ms": duration_ms, "role": agent, "cache_read_tokens": usage.cache_read_tokens,
                "cache_creation_tokens": usage.cache_creation_tokens, "priced": priced,
            }));
        let step = ModelStep {
            text: response.text,
            tool_calls: response.tool_calls,
            usage,
            model: model.clone(),
            cost_usd: cost,
        };
        let row = UsageRow {
            agent_id: agent.to_string(),
            provider: self.spec.provider.clone(),
            model,
            usage,
            cost_usd: cost,
        };
        self.journal
            .record(
                &self.core,
                key,
                StepKind::ModelCall,
                &step,
                vec![output],
                Some(row),
            )
            .await?;
        Ok(step)
    }

    /// One tool call: from the journal, else run and journaled with its observation events.
    pub(super) async fn tool_step(
        &mut self,
        toolbox: &mut ToolBox,
        agent: &str,
        key: &StepKey,
        call: &ToolCall,
    ) -> Result<ToolStep, Stop> {
        if let Some(step) = self.journal.replay::<ToolStep>(key)? {
            return Ok(step);
        }
        let params: Value =
            serde_json::from_str(&call.arguments).unwrap_or(Value::String(call.arguments.clone()));
        self.emit(
            EventType::ToolInvoked,
            agent,
            format!("Calling {} with {}", call.name, clip(&call.arguments, 200)),
            Some(json!({"tool": call.name, "params": clip_params(&params), "role": agent})),
        );
        let (outcome, cached) = toolbox.call(&call.name, &call.arguments);
        let shown = clip(&outcome.output, 2000);
        let mut events = vec![NewEvent::new(EventType::ToolObservation, agent, shown.clone())
            .with_payload(json!({"tool": call.name, "success": outcome.success, "output": shown, "cached": cached}))];
        if !outcome.success {
            let error = clip(&outcome.output, 500);
            events.push(
                NewEvent::new(EventType::ToolError, agent, error.clone())
                    .with_payload(json!({"tool": call.name, "error": error})),
            );
        }
        let step = ToolStep {
            output: outcome.output,
            success: outcome.success,
        };
        self.journal
            .record(&self.core, key, StepKind::ToolCall, &step, events, None)
            .await?;
        Ok(step)
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
        let (cost, _) = self.cost_of(&request.model, &usage).await;
        let row = UsageRow {
            agent_id: agent.to_string(),
            provider: self.spec.provider.clone(),
            model: request.model.clone(),
            usage,
            cost_usd: cost,
        };
        let (task_id, step_key) = (self.spec.task_id.clone(), key.then_named("stopped"));
        let written = self
            .core
            .store()
            .write(move |tx| insert_usage(tx, &task_id, step_key.as_str(), &row))
            .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "could not record the usage of a stopped model call");
        }
    }

    /// The cost of a call's usage from the price table and the user's `pricing` overrides (read once
    /// per model call, never per token), and whether the model has a price at all.
    async fn cost_of(&self, model: &str, usage: &Usage) -> (f64, bool) {
        let overrides = self
            .core
            .get_setting(&self.spec.caller, "pricing")
            .await
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(&s.value).ok());
        let price = price_of(model, overrides.as_ref());
        (cost_usd(usage, price), price.is_some())
    }
}
