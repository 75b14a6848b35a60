//! Multi-agent strategies (contract §3). Each is written against [`Team`], the small run context
//! every agent of a task shares: emit an event, call the model as an agent, call a tool, take or
//! record a journal step, check control. The strategies never touch SQL.
//!
//! - [`route`]: which strategy answers a task (the cloud's router, contract §1);
//! - [`plan`]: the planner's answer, validated, and agent names;
//! - [`agent`]: one agent's turn of model and tool calls;
//! - [`dag`]: decomposition, subtasks in parallel, in sequence or by dependency, then synthesis;
//! - [`supervisor`]: a team with roles, hand-offs, retries and plan revision;
//! - [`react`], [`tot`], [`scientific`]: the cognitive strategies;
//! - [`reflection`], [`citations`]: a judge of the answer, and the sources tools produced.

pub(crate) mod agent;
pub(crate) mod citations;
pub(crate) mod dag;
pub mod plan;
pub(crate) mod react;
pub(crate) mod reflection;
pub(crate) mod route;
pub(crate) mod scientific;
pub(crate) mod supervisor;
pub(crate) mod tot;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::budget::Budgets;
use super::events::{NewEvent, UsageRow, clip};
use super::journal::{StepKey, StepKind, step_record};
use super::lifecycle::EventType;
use super::models::{cost_usd, price_of};
use crate::core::Core;
use crate::core::error::{Result, ShannonError};
use crate::core::llm::{
    ChatMessage, ChatRequest, LlmError, ProviderClient, ToolCall, ToolSpec, Usage,
};

/// Why an agent stopped early.
#[derive(Debug)]
pub(crate) enum Halt {
    Cancelled,
    /// This agent's work failed (its subtask fails; the others go on).
    Failed(String),
    /// The whole task must stop with this reason (a budget of the task is exceeded).
    Stopped(String),
}

impl From<ShannonError> for Halt {
    fn from(e: ShannonError) -> Self {
        Halt::Failed(e.to_string())
    }
}

/// The next agent of `running` to finish, `None` once all have. A stop or a crash of one aborts
/// the others.
pub(crate) async fn next_done<T: 'static>(
    running: &mut tokio::task::JoinSet<std::result::Result<T, Halt>>,
) -> std::result::Result<Option<T>, Halt> {
    let failed = match running.join_next().await {
        None => return Ok(None),
        Some(Ok(Ok(done))) => return Ok(Some(done)),
        Some(Ok(Err(halt))) => halt,
        Some(Err(e)) => Halt::Failed(format!("an agent crashed: {e}")),
    };
    running.abort_all();
    Err(failed)
}

/// A completed model call of an agent, as journaled.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Answer {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    pub model: String,
    #[serde(default)]
    pub cost_usd: f64,
}

/// A strategy's answer and what the task's metadata reports of it.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub answer: String,
    /// Tokens of every call that made the answer.
    pub tokens: u64,
    /// The model that wrote the answer.
    pub model: String,
    /// The strategy's own metadata fields (`execution_mode`, `agent_count`, …).
    pub metadata: serde_json::Map<String, Value>,
}

/// The run context every agent of a task shares (cheap to clone).
#[derive(Clone)]
pub(crate) struct Team {
    pub core: Core,
    pub task_id: String,
    pub workflow_id: String,
    pub provider: String,
    pub model: String,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    /// The task's own system prompt (its `system_prompt` or role), which every agent keeps.
    pub system_prompt: Option<String>,
    /// `context.role`: the team is one agent in that role, without a planner.
    pub role: Option<String>,
    /// The task's context (strategy settings such as `react_max_iterations`).
    pub context: Arc<serde_json::Map<String, Value>>,
    pub client: Arc<ProviderClient>,
    pub cancel: CancellationToken,
    pub pause: watch::Receiver<bool>,
    /// Journaled steps of an earlier run, taken by key (agents run in any order).
    journal: Arc<Mutex<HashMap<String, Value>>>,
    /// Price overrides, read once per run.
    pricing: Option<Arc<Value>>,
    /// The task's budgets and what all agents used so far.
    spend: Arc<Mutex<Spend>>,
    /// Set once a budget is exceeded: every agent stops (its request in flight aborted) with it.
    over_budget: Arc<OnceLock<String>>,
    /// `context.budget_agent_max`: the tokens one agent may use over its turns.
    pub agent_budget: Option<u64>,
}

#[derive(Debug, Default)]
struct Spend {
    budgets: Budgets,
    tokens: u64,
    cost_usd: f64,
    /// Tokens per agent id, for `budget_agent_max`.
    by_agent: HashMap<String, u64>,
}

impl Team {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        core: Core,
        task_id: String,
        workflow_id: String,
        provider: String,
        model: String,
        client: Arc<ProviderClient>,
        control: &super::RunControl,
        journal: HashMap<String, Value>,
        pricing: Option<Value>,
    ) -> Self {
        Self {
            core,
            task_id,
            workflow_id,
            provider,
            model,
            temperature: None,
            max_tokens: None,
            system_prompt: None,
            role: None,
            context: Arc::default(),
            client,
            // A child of the run's: a budget stop ends the agents without cancelling the task.
            cancel: control.cancel.child_token(),
            pause: control.pause.subscribe(),
            journal: Arc::new(Mutex::new(journal)),
            pricing: pricing.map(Arc::new),
            spend: Arc::default(),
            over_budget: Arc::default(),
            agent_budget: None,
        }
    }

    /// The task's token and cost budgets, which all its agents share.
    pub fn with_budgets(self, budgets: Budgets) -> Self {
        self.spend.lock().unwrap_or_else(|p| p.into_inner()).budgets = budgets;
        self
    }

    /// Why `agent` may not make another call: it used its `budget_agent_max`.
    pub fn agent_over_budget(&self, agent: &str) -> Option<String> {
        let max = self.agent_budget?;
        let used = *self
            .spend
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_agent
            .get(agent)?;
        (used >= max).then(|| {
            format!("{agent} used its token budget ({used} of {max} tokens) before it could answer")
        })
    }

    /// A whole-number strategy setting of the task's context, clamped; `default` when absent.
    pub fn setting(&self, key: &str, default: u64, min: u64, max: u64) -> u64 {
        let value = self.context.get(key);
        value
            .and_then(Value::as_u64)
            .or_else(|| {
                value
                    .and_then(Value::as_str)
                    .and_then(|s| s.trim().parse().ok())
            })
            .unwrap_or(default)
            .clamp(min, max)
    }

    /// A yes/no setting of the task's context (`true` or `"true"`).
    pub fn flag(&self, key: &str) -> bool {
        crate::core::engine::request::truthy(self.context.get(key))
    }

    /// Why work stopped: a budget, or the task was cancelled.
    fn halted(&self) -> Halt {
        match self.over_budget.get() {
            Some(reason) => Halt::Stopped(reason.clone()),
            None => Halt::Cancelled,
        }
    }

    /// Counts a call's usage against the task's budgets: warns once past 80 %, and stops every
    /// agent once over.
    fn spend(
        &self,
        agent: &str,
        usage: &Usage,
        cost: f64,
        announce: bool,
    ) -> std::result::Result<(), Halt> {
        let decision = {
            let mut s = self.spend.lock().unwrap_or_else(|p| p.into_inner());
            s.tokens += usage.total_tokens;
            *s.by_agent.entry(agent.to_string()).or_default() += usage.total_tokens;
            s.cost_usd += cost;
            let (tokens, spent) = (s.tokens, s.cost_usd);
            s.budgets.check(tokens, spent)
        };
        for w in decision.warnings.into_iter().filter(|_| announce) {
            self.emit(
                EventType::BudgetThreshold,
                "budget-manager",
                w.message,
                Some(w.payload),
            );
        }
        match decision.exceeded {
            Some(reason) => {
                let _ = self.over_budget.set(reason);
                self.cancel.cancel();
                Err(self.halted())
            }
            None => Ok(()),
        }
    }

    pub fn emit(
        &self,
        t: EventType,
        agent: &str,
        message: impl Into<String>,
        payload: Option<Value>,
    ) {
        self.core.engine().hub.emit(
            &self.workflow_id,
            t,
            Some(agent),
            Some(message.into()),
            payload,
        );
    }

    /// A step an earlier run completed, if any (taken: it is not found twice).
    pub fn take<T: DeserializeOwned>(&self, key: &StepKey) -> Result<Option<T>> {
        let found = self
            .journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key.as_str());
        found
            .map(|v| {
                serde_json::from_value(v).map_err(|e| {
                    ShannonError::Database(format!(
                        "journal step {key} does not fit this build: {e}"
                    ))
                })
            })
            .transpose()
    }

    /// Stores a completed step with its events and usage in one transaction.
    pub async fn record<T: Serialize>(
        &self,
        key: &StepKey,
        kind: StepKind,
        result: &T,
        events: Vec<NewEvent>,
        usage: Option<UsageRow>,
    ) -> Result<()> {
        let step = step_record(&self.task_id, key, kind, result, usage)?;
        self.core
            .engine()
            .hub
            .commit_step(&self.workflow_id, events, step)
            .await
    }

    /// Stops when cancelled; waits while paused.
    pub async fn checkpoint(&self) -> std::result::Result<(), Halt> {
        let mut pause = self.pause.clone();
        loop {
            if self.cancel.is_cancelled() {
                return Err(self.halted());
            }
            if !*pause.borrow_and_update() {
                return Ok(());
            }
            tokio::select! {
                _ = self.cancel.cancelled() => return Err(self.halted()),
                changed = pause.changed() => if changed.is_err() { return Ok(()) },
            }
        }
    }

    /// One call of `agent` with a system prompt and a request, no tools: a streamed text answer, or
    /// (`json`) a JSON object in JSON mode, whose deltas stay unseen.
    pub async fn ask(
        &self,
        agent: &str,
        key: &StepKey,
        system: impl Into<String>,
        user: impl Into<String>,
        json: bool,
    ) -> std::result::Result<Answer, Halt> {
        let messages = vec![
            ChatMessage::new(crate::core::llm::Role::System, system),
            ChatMessage::new(crate::core::llm::Role::User, user),
        ];
        self.call(agent, key, messages, Vec::new(), json, !json)
            .await
    }

    /// One model call as `agent`: from the journal, or streamed (LLM_PROMPT, LLM_PARTIAL under the
    /// agent's id) and journaled with its LLM_OUTPUT and token usage. `stream_text` false keeps the
    /// deltas to itself (the planner's JSON).
    pub async fn call(
        &self,
        agent: &str,
        key: &StepKey,
        messages: Vec<ChatMessage>,
        tools: Vec<ToolSpec>,
        json_mode: bool,
        stream_text: bool,
    ) -> std::result::Result<Answer, Halt> {
        if let Some(done) = self.take::<Answer>(key)? {
            // A resumed run counts what it already spent (its warnings are stored already).
            self.spend(agent, &done.usage, done.cost_usd, false)?;
            return Ok(done);
        }
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
            .last()
            .map(|m| clip(&m.content, 5000))
            .unwrap_or_default();
        let payload = json!({"provider": self.provider, "model": request.model, "role": agent});
        self.emit(EventType::LlmPrompt, agent, prompt, Some(payload));
        let hub = self.core.engine().hub.clone();
        let mut on_delta = |delta: &str| {
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
        let response = match self
            .client
            .stream_chat(&request, &mut on_delta, &self.cancel)
            .await
        {
            Ok(r) => r,
            Err(LlmError::Cancelled) => return Err(self.halted()),
            Err(e) => return Err(Halt::Failed(format!("{} call failed: {e}", self.provider))),
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
}
