//! Executes one task: the `simple` call or the `standard` model/tool loop, with checkpoints before every
//! model and tool call, streaming deltas as LLM_PARTIAL, usage and budgets, and the terminal events.
//! Also start-up recovery of tasks a crash left behind.

use std::sync::Arc;
use std::time::Instant;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::models::{cost_usd, price_of};
use super::request::{Mode, SubmitTaskRequest, TaskPlan};
use super::sessions::title_from;
use super::tools::ToolBox;
use super::{RecoveryPolicy, RunControl};
use crate::core::auth::{AuthMethod, Caller};
use crate::core::error::{Result, ShannonError};
use crate::core::llm::{
    ChatMessage, ChatRequest, ChatResponse, LlmError, ProviderClient, ProviderTarget, Role, Usage,
};
use crate::core::providers;
use crate::core::{Core, time};

/// Everything a run needs; built by submit or by recovery.
pub(crate) struct RunSpec {
    pub caller: Caller,
    pub task_id: String,
    pub workflow_id: String,
    pub session_id: String,
    pub plan: TaskPlan,
    pub provider: String,
    pub model: String,
    pub fallback_note: Option<String>,
    pub resume: Option<ResumeState>,
    pub start_paused: bool,
}

/// The last completed step, saved after every model call and tool result so a restarted app can
/// continue from there.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ResumeState {
    pub messages: Vec<ChatMessage>,
    pub iteration: u32,
    pub usage: Usage,
    pub cost_usd: f64,
    pub warned_tokens: bool,
    pub warned_cost: bool,
    pub model_used: Option<String>,
    /// Tool rounds so far (states saved before this field existed read as 0).
    #[serde(default)]
    pub tool_rounds: u32,
}

enum Stop {
    Cancelled {
        checkpoint: String,
        was_paused: bool,
    },
    Failed(String),
}

impl From<ShannonError> for Stop {
    fn from(e: ShannonError) -> Self {
        Stop::Failed(e.to_string())
    }
}

const BUDGET_WARNING_PERCENT: f64 = 80.0;

pub(crate) fn spawn(core: Core, spec: RunSpec) {
    let control = RunControl {
        cancel: CancellationToken::new(),
        pause: Arc::new(watch::channel(spec.start_paused).0),
    };
    core.engine()
        .runs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(spec.workflow_id.clone(), control.clone());
    tokio::spawn(async move {
        let wf = spec.workflow_id.clone();
        let mut run = Run::new(core.clone(), spec, control);
        run.run().await;
        core.engine()
            .runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&wf);
        core.engine().hub.flush().await;
        core.engine().hub.close_stream(&wf);
    });
}

struct Run {
    core: Core,
    spec: RunSpec,
    control: RunControl,
    pause_rx: watch::Receiver<bool>,
    state: ResumeState,
    started: Instant,
}

impl Run {
    fn new(core: Core, spec: RunSpec, control: RunControl) -> Self {
        let pause_rx = control.pause.subscribe();
        let state = spec.resume.clone().unwrap_or_default();
        Self {
            core,
            spec,
            control,
            pause_rx,
            state,
            started: Instant::now(),
        }
    }

    fn emit(&self, event_type: &str, agent: &str, message: Option<String>, payload: Option<Value>) {
        self.core.engine().hub.emit(
            &self.spec.workflow_id,
            event_type,
            Some(agent),
            message,
            payload,
        );
    }

    async fn run(&mut self) {
        let outcome = self.execute().await;
        let wf = self.spec.workflow_id.clone();
        match outcome {
            Ok(answer) => {
                if let Err(e) = self.store_completion(&answer).await {
                    tracing::error!(workflow_id = %wf, error = %e, "could not store a task's result");
                }
                self.core
                    .notify_task_status(&self.spec.caller.user_id, &wf, "COMPLETED");
                self.emit(
                    "WORKFLOW_COMPLETED",
                    "orchestrator",
                    Some("All done".into()),
                    None,
                );
            }
            Err(Stop::Cancelled {
                checkpoint,
                was_paused,
            }) => {
                let _ = self.store_end("CANCELLED", None).await;
                self.core
                    .notify_task_status(&self.spec.caller.user_id, &wf, "CANCELLED");
                let mut payload = json!({"checkpoint": checkpoint});
                if was_paused {
                    payload["was_paused"] = json!(true);
                }
                let reason = self.cancel_reason().await;
                let message = if reason.is_empty() {
                    "Cancelled".to_string()
                } else {
                    format!("Cancelled: {reason}")
                };
                self.emit(
                    "WORKFLOW_CANCELLED",
                    "orchestrator",
                    Some(message),
                    Some(payload),
                );
            }
            Err(Stop::Failed(message)) => {
                tracing::warn!(workflow_id = %wf, error = %message, "task failed");
                let _ = self.store_end("FAILED", Some(&message)).await;
                self.core
                    .notify_task_status(&self.spec.caller.user_id, &wf, "FAILED");
                self.emit(
                    "ERROR_OCCURRED",
                    "orchestrator",
                    Some(message.clone()),
                    Some(json!({"error": message})),
                );
                self.emit("WORKFLOW_FAILED", "orchestrator", Some(message), None);
            }
        }
        self.emit("STREAM_END", "orchestrator", Some("Done".into()), None);
    }

    async fn cancel_reason(&self) -> String {
        let wf = self.spec.workflow_id.clone();
        self.core
            .store()
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT coalesce(cancel_reason, '') FROM workflow_control WHERE workflow_id = ?1",
                    [wf],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or_default())
            })
            .await
            .unwrap_or_default()
    }

    /// Stops here when cancelled; waits here while paused (announcing WORKFLOW_PAUSED once).
    async fn checkpoint(&mut self, name: &str) -> Result<(), Stop> {
        if self.control.cancel.is_cancelled() {
            return Err(Stop::Cancelled {
                checkpoint: name.into(),
                was_paused: false,
            });
        }
        if !*self.pause_rx.borrow_and_update() {
            return Ok(());
        }
        self.emit(
            "WORKFLOW_PAUSED",
            "orchestrator",
            Some("Paused".into()),
            Some(json!({"checkpoint": name})),
        );
        loop {
            tokio::select! {
                _ = self.control.cancel.cancelled() => {
                    return Err(Stop::Cancelled { checkpoint: name.into(), was_paused: true });
                }
                changed = self.pause_rx.changed() => {
                    if changed.is_err() || !*self.pause_rx.borrow_and_update() {
                        return Ok(());
                    }
                }
            }
        }
    }

    async fn execute(&mut self) -> Result<String, Stop> {
        let resuming = self.spec.resume.is_some();
        self.mark_running().await?;
        if resuming {
            self.emit(
                "ERROR_RECOVERY",
                "orchestrator",
                Some(format!(
                    "Resuming after the app restarted, from step {}",
                    self.state.iteration + 1
                )),
                Some(json!({"iteration": self.state.iteration})),
            );
        } else {
            self.emit(
                "WORKFLOW_STARTED",
                "orchestrator",
                Some("Starting up".into()),
                Some(json!({"task_context": self.spec.plan.context})),
            );
        }
        if let Some(note) = self.spec.fallback_note.clone() {
            self.emit(
                "PROGRESS",
                "orchestrator",
                Some(note),
                Some(json!({"provider": "demo", "offline_demo": true})),
            );
        }
        let requested = self.spec.plan.requested_mode;
        let mode = match requested {
            Mode::Simple => Mode::Simple,
            Mode::Standard => Mode::Standard,
            Mode::Complex | Mode::Supervisor => {
                self.emit(
                    "PROGRESS",
                    "orchestrator",
                    Some(format!(
                        "The {} strategy is not available in the embedded engine yet; running as standard",
                        requested.as_str()
                    )),
                    Some(json!({"requested_mode": requested.as_str(), "effective_mode": "standard"})),
                );
                Mode::Standard
            }
        };
        let client = self.client().await?;
        self.checkpoint("pre_execution").await?;
        let agent = if mode == Mode::Simple {
            "simple-agent"
        } else {
            "react-agent"
        };
        self.emit("AGENT_STARTED", agent, Some("Agent started".into()), None);
        self.emit(
            "AGENT_THINKING",
            agent,
            Some(format!(
                "Thinking: {}",
                truncate(&self.spec.plan.query, 200)
            )),
            None,
        );
        if self.state.messages.is_empty() {
            self.state.messages = self.initial_messages().await?;
        }
        let mut toolbox = self.toolbox().await;
        let use_tools = mode == Mode::Standard && !toolbox.is_empty();
        let max_iterations = if mode == Mode::Simple {
            1
        } else {
            self.spec.plan.max_iterations
        };
        let answer = loop {
            let last_round = self.state.iteration + 1 >= max_iterations;
            self.checkpoint("pre_llm_call").await?;
            let request = ChatRequest {
                model: self.spec.model.clone(),
                messages: self.state.messages.clone(),
                // The last allowed round gets no tools, so the model has to answer.
                tools: if use_tools && !last_round {
                    toolbox.specs()
                } else {
                    Vec::new()
                },
                temperature: self.spec.plan.temperature,
                max_tokens: self.spec.plan.max_tokens,
            };
            let response = self.call_model(&client, agent, &request).await?;
            self.state.iteration += 1;
            if response.tool_calls.is_empty() || !use_tools || last_round {
                if self.state.tool_rounds > 0 {
                    // This answer was written from the tools' observations.
                    self.emit(
                        "SYNTHESIS",
                        agent,
                        Some(format!(
                            "Synthesized the answer from {} round(s) of tool results",
                            self.state.tool_rounds
                        )),
                        Some(json!({"tool_rounds": self.state.tool_rounds, "iteration": self.state.iteration})),
                    );
                }
                break response.text;
            }
            let mut assistant = ChatMessage::new(Role::Assistant, response.text.clone());
            assistant.tool_calls = response.tool_calls.clone();
            self.state.messages.push(assistant);
            for call in &response.tool_calls {
                self.checkpoint("pre_tool_call").await?;
                let params: Value = serde_json::from_str(&call.arguments)
                    .unwrap_or(Value::String(call.arguments.clone()));
                self.emit(
                    "TOOL_INVOKED",
                    agent,
                    Some(format!(
                        "Calling {} with {}",
                        call.name,
                        truncate(&call.arguments, 200)
                    )),
                    Some(json!({"tool": call.name, "params": sanitize(&params), "role": agent})),
                );
                let (outcome, cached) = toolbox.call(&call.name, &call.arguments);
                self.emit(
                    "TOOL_OBSERVATION",
                    agent,
                    Some(truncate(&outcome.output, 2000)),
                    Some(json!({"tool": call.name, "success": outcome.success, "output": truncate(&outcome.output, 2000), "cached": cached})),
                );
                if !outcome.success {
                    self.emit(
                        "TOOL_ERROR",
                        agent,
                        Some(truncate(&outcome.output, 500)),
                        Some(json!({"tool": call.name, "error": truncate(&outcome.output, 500)})),
                    );
                }
                let mut msg = ChatMessage::new(Role::Tool, outcome.output);
                msg.tool_call_id = Some(call.id.clone());
                self.state.messages.push(msg);
            }
            self.state.tool_rounds += 1;
            // The observations go back to the model, which reflects on them before its next step.
            self.emit(
                "REFLECTION",
                agent,
                Some(format!(
                    "Reflecting on {} tool result(s) before the next step",
                    response.tool_calls.len()
                )),
                Some(json!({"observations": response.tool_calls.len(), "iteration": self.state.iteration})),
            );
            self.save_resume_state().await?;
        };
        self.emit(
            "AGENT_COMPLETED",
            agent,
            Some("Agent finished".into()),
            None,
        );
        self.checkpoint("pre_completion").await?;
        self.emit(
            "LLM_OUTPUT",
            "final_output",
            Some(answer.clone()),
            Some(json!({
                "tokens_used": self.state.usage.total_tokens,
                "input_tokens": self.state.usage.input_tokens,
                "output_tokens": self.state.usage.output_tokens,
                "model_used": self.state.model_used.clone().unwrap_or_else(|| self.spec.model.clone()),
                "provider": self.spec.provider,
            })),
        );
        Ok(answer)
    }

    async fn mark_running(&self) -> Result<(), Stop> {
        let (wf, now) = (self.spec.workflow_id.clone(), time::now());
        self.core
            .store()
            .write(move |tx| {
                tx.execute(
                    "UPDATE tasks SET status = CASE WHEN status = 'PAUSED' THEN 'PAUSED' ELSE 'RUNNING' END,
                            started_at = coalesce(started_at, ?2), updated_at = ?2
                     WHERE workflow_id = ?1",
                    params![wf, now],
                )?;
                Ok(())
            })
            .await?;
        let status = if *self.pause_rx.borrow() {
            "PAUSED"
        } else {
            "RUNNING"
        };
        self.core
            .notify_task_status(&self.spec.caller.user_id, &self.spec.workflow_id, status);
        Ok(())
    }

    async fn client(&self) -> Result<ProviderClient, Stop> {
        let spec = providers::lookup(&self.spec.provider)?;
        let caller = &self.spec.caller;
        let api_key = self.core.provider_key(caller, spec.id).await?;
        if spec.requires_key && api_key.is_none() {
            return Err(Stop::Failed(format!(
                "no API key is configured for {}; add one and submit again",
                spec.display_name
            )));
        }
        if api_key.is_some() {
            let _ = self.core.mark_provider_key_used(caller, spec.id).await;
        }
        let base_url = match self
            .core
            .get_setting(caller, &providers::base_url_setting(spec.id))
            .await
        {
            Ok(s) => serde_json::from_str::<String>(&s.value).ok(),
            Err(_) => None,
        }
        .or_else(|| spec.default_base_url.map(str::to_string))
        .unwrap_or_default();
        ProviderClient::new(ProviderTarget {
            provider: spec.id.to_string(),
            protocol: spec.protocol,
            base_url,
            api_key,
            retry: Default::default(),
            timeouts: Default::default(),
        })
        .map_err(|e| Stop::Failed(e.to_string()))
    }

    async fn initial_messages(&self) -> Result<Vec<ChatMessage>, Stop> {
        let mut messages = Vec::new();
        if let Some(system) = &self.spec.plan.system_prompt {
            messages.push(ChatMessage::new(Role::System, system.clone()));
        }
        let (session, wf, window) = (
            self.spec.session_id.clone(),
            self.spec.workflow_id.clone(),
            self.spec.plan.history_window as usize,
        );
        // Earlier completed turns of the session, newest last, within the history window.
        let history: Vec<(String, String)> = self
            .core
            .store()
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT query, result FROM tasks WHERE session_id = ?1 AND workflow_id != ?2
                       AND status = 'COMPLETED' AND result IS NOT NULL
                     ORDER BY created_at DESC, rowid DESC LIMIT ?3",
                )?;
                let rows = stmt
                    .query_map(params![session, wf, window.div_ceil(2) as u32], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        let mut turns: Vec<ChatMessage> = history
            .into_iter()
            .rev()
            .flat_map(|(q, a)| {
                [
                    ChatMessage::new(Role::User, q),
                    ChatMessage::new(Role::Assistant, a),
                ]
            })
            .collect();
        if turns.len() > window {
            turns.drain(..turns.len() - window);
        }
        messages.extend(turns);
        messages.push(ChatMessage::new(Role::User, self.spec.plan.query.clone()));
        Ok(messages)
    }

    async fn toolbox(&self) -> ToolBox {
        let caller = &self.spec.caller;
        let from_setting = |value: Option<String>| -> Vec<String> {
            value
                .and_then(|v| serde_json::from_str::<Vec<String>>(&v).ok())
                .unwrap_or_default()
        };
        let allow = self
            .core
            .get_setting(caller, "tools.allow")
            .await
            .ok()
            .map(|s| s.value);
        let block = self
            .core
            .get_setting(caller, "tools.block")
            .await
            .ok()
            .map(|s| s.value);
        let mut blocked = from_setting(block);
        blocked.extend(self.spec.plan.tools_block.iter().cloned());
        let allowed = self
            .spec
            .plan
            .tools_allow
            .clone()
            .or_else(|| allow.map(|a| from_setting(Some(a))));
        ToolBox::new(allowed.as_deref(), &blocked)
    }

    async fn call_model(
        &mut self,
        client: &ProviderClient,
        agent: &str,
        request: &ChatRequest,
    ) -> Result<ChatResponse, Stop> {
        let prompt = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| truncate(&m.content, 5000))
            .unwrap_or_default();
        self.emit(
            "LLM_PROMPT",
            agent,
            Some(prompt),
            Some(json!({"provider": self.spec.provider, "model": request.model})),
        );
        let hub = self.core.engine().hub.clone();
        let (wf, agent_id) = (self.spec.workflow_id.clone(), agent.to_string());
        let mut on_delta = |delta: &str| {
            hub.emit(
                &wf,
                "LLM_PARTIAL",
                Some(&agent_id),
                Some(delta.to_string()),
                None,
            );
        };
        let started = Instant::now();
        let response = client
            .stream_chat(request, &mut on_delta, &self.control.cancel)
            .await
            .map_err(|e| match e {
                LlmError::Cancelled => Stop::Cancelled {
                    checkpoint: "llm_stream".into(),
                    was_paused: false,
                },
                other => Stop::Failed(format!("{} call failed: {other}", self.spec.provider)),
            })?;
        let duration_ms = started.elapsed().as_millis() as u64;
        let mut usage = response.usage;
        if usage.total_tokens == 0 {
            usage.total_tokens = usage.input_tokens + usage.output_tokens;
        }
        let model = if response.model.is_empty() {
            request.model.clone()
        } else {
            response.model.clone()
        };
        let overrides = self
            .core
            .get_setting(&self.spec.caller, "pricing")
            .await
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(&s.value).ok());
        let price = price_of(&model, overrides.as_ref());
        let cost = cost_usd(&usage, price);
        self.record_usage(agent, &model, &usage, cost).await?;
        self.emit(
            "LLM_OUTPUT",
            agent,
            Some(truncate(&response.text, 10_000)),
            Some(json!({
                "tokens_used": usage.total_tokens, "model_used": model, "provider": self.spec.provider,
                "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens, "cost_usd": cost,
                "duration_ms": duration_ms, "role": agent, "cache_read_tokens": usage.cache_read_tokens,
                "cache_creation_tokens": usage.cache_creation_tokens, "priced": price.is_some(),
            })),
        );
        self.state.model_used = Some(model);
        self.check_budgets()?;
        Ok(response)
    }

    async fn record_usage(
        &mut self,
        agent: &str,
        model: &str,
        usage: &Usage,
        cost: f64,
    ) -> Result<(), Stop> {
        let s = &mut self.state;
        s.usage.input_tokens += usage.input_tokens;
        s.usage.output_tokens += usage.output_tokens;
        s.usage.total_tokens += usage.total_tokens;
        s.usage.cache_read_tokens += usage.cache_read_tokens;
        s.usage.cache_creation_tokens += usage.cache_creation_tokens;
        s.cost_usd += cost;
        let row = (
            self.spec.task_id.clone(),
            agent.to_string(),
            self.spec.provider.clone(),
            model.to_string(),
            *usage,
            cost,
        );
        self.core
            .store()
            .write(move |tx| {
                let (task, agent, provider, model, u, cost) = row;
                tx.execute(
                    "INSERT INTO token_usage (task_id, agent_id, provider, model, input_tokens, output_tokens, total_tokens,
                        cache_read_tokens, cache_creation_tokens, cost_usd, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        task, agent, provider, model, u.input_tokens as i64, u.output_tokens as i64,
                        u.total_tokens as i64, u.cache_read_tokens as i64, u.cache_creation_tokens as i64,
                        cost, time::now()
                    ],
                )?;
                Ok(())
            })
            .await?;
        self.save_resume_state().await
    }

    /// BUDGET_THRESHOLD once past 80 %; a clear failure once over the budget.
    fn check_budgets(&mut self) -> Result<(), Stop> {
        let used = self.state.usage.total_tokens;
        if let Some(budget) = self.spec.plan.token_budget {
            let pct = used as f64 * 100.0 / budget as f64;
            if pct >= BUDGET_WARNING_PERCENT && !self.state.warned_tokens {
                self.state.warned_tokens = true;
                self.emit(
                    "BUDGET_THRESHOLD",
                    "budget-manager",
                    Some(format!("Task budget at {pct:.1}% (threshold: {BUDGET_WARNING_PERCENT}%)")),
                    Some(json!({"usage_percent": pct, "threshold_percent": BUDGET_WARNING_PERCENT, "tokens_used": used,
                                "tokens_budget": budget, "level": "warning", "budget_type": "task"})),
                );
            }
            if used > budget {
                return Err(Stop::Failed(format!(
                    "token budget exceeded: the task used {used} tokens of its {budget}-token budget"
                )));
            }
        }
        if let Some(budget) = self.spec.plan.cost_budget_usd {
            let cost = self.state.cost_usd;
            let pct = cost * 100.0 / budget;
            if pct >= BUDGET_WARNING_PERCENT && !self.state.warned_cost {
                self.state.warned_cost = true;
                self.emit(
                    "BUDGET_THRESHOLD",
                    "budget-manager",
                    Some(format!("Task cost budget at {pct:.1}% (threshold: {BUDGET_WARNING_PERCENT}%)")),
                    Some(json!({"usage_percent": pct, "threshold_percent": BUDGET_WARNING_PERCENT, "cost_usd": cost,
                                "cost_budget_usd": budget, "level": "warning", "budget_type": "cost"})),
                );
            }
            if cost > budget {
                return Err(Stop::Failed(format!(
                    "cost budget exceeded: the task cost ${cost:.4} of its ${budget:.4} budget"
                )));
            }
        }
        Ok(())
    }

    async fn save_resume_state(&self) -> Result<(), Stop> {
        let state = serde_json::to_value(&self.state).map_err(ShannonError::from)?;
        let wf = self.spec.workflow_id.clone();
        self.core
            .store()
            .write(move |tx| {
                tx.execute(
                    "UPDATE tasks SET metadata = json_set(metadata, '$.resume_state', json(?2)),
                            last_checkpoint = ?3, updated_at = ?4 WHERE workflow_id = ?1",
                    params![
                        wf,
                        state.to_string(),
                        format!("iteration {}", state["iteration"]),
                        time::now()
                    ],
                )?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn store_completion(&self, answer: &str) -> Result<()> {
        let s = self.state.clone();
        let spec = (
            self.spec.workflow_id.clone(),
            self.spec.session_id.clone(),
            self.spec.plan.query.clone(),
            self.spec.provider.clone(),
            s.model_used
                .clone()
                .unwrap_or_else(|| self.spec.model.clone()),
            answer.to_string(),
            self.started.elapsed().as_millis() as i64,
        );
        self.core
            .store()
            .write(move |tx| {
                let (wf, session, query, provider, model, answer, ms) = spec;
                let now = time::now();
                tx.execute(
                    "UPDATE tasks SET status = 'COMPLETED', result = ?2, model_used = ?3, provider = ?4,
                        input_tokens = ?5, output_tokens = ?6, total_tokens = ?7, cache_read_tokens = ?8,
                        cache_creation_tokens = ?9, cost_usd = ?10, completed_at = ?11, updated_at = ?11,
                        duration_ms = ?12, metadata = json_remove(metadata, '$.resume_state')
                     WHERE workflow_id = ?1",
                    params![
                        wf, answer, model, provider, s.usage.input_tokens as i64, s.usage.output_tokens as i64,
                        s.usage.total_tokens as i64, s.usage.cache_read_tokens as i64,
                        s.usage.cache_creation_tokens as i64, s.cost_usd, now, ms
                    ],
                )?;
                let title = title_from(&query);
                tx.execute(
                    "UPDATE sessions SET tokens_used = tokens_used + ?2, total_cost_usd = total_cost_usd + ?3,
                        updated_at = ?4,
                        title = coalesce(title, ?5),
                        context = CASE WHEN json_extract(context, '$.title') IS NULL
                                       THEN json_set(context, '$.title', ?5) ELSE context END
                     WHERE id = ?1",
                    params![session, s.usage.total_tokens as i64, s.cost_usd, now, title],
                )?;
                Ok(())
            })
            .await
    }

    async fn store_end(&self, status: &'static str, error: Option<&str>) -> Result<()> {
        let s = self.state.clone();
        let args = (
            self.spec.workflow_id.clone(),
            self.spec.session_id.clone(),
            error.map(str::to_string),
            self.spec.provider.clone(),
            s.model_used.clone(),
            self.started.elapsed().as_millis() as i64,
        );
        self.core
            .store()
            .write(move |tx| {
                let (wf, session, error, provider, model, ms) = args;
                let now = time::now();
                tx.execute(
                    "UPDATE tasks SET status = ?2, error_message = ?3, provider = ?4, model_used = ?5,
                        input_tokens = ?6, output_tokens = ?7, total_tokens = ?8, cost_usd = ?9,
                        completed_at = ?10, updated_at = ?10, duration_ms = ?11,
                        metadata = json_remove(metadata, '$.resume_state')
                     WHERE workflow_id = ?1",
                    params![
                        wf, status, error, provider, model, s.usage.input_tokens as i64,
                        s.usage.output_tokens as i64, s.usage.total_tokens as i64, s.cost_usd, now, ms
                    ],
                )?;
                tx.execute(
                    "UPDATE workflow_control SET is_paused = 0, updated_at = ?2 WHERE workflow_id = ?1",
                    params![wf, now],
                )?;
                tx.execute(
                    "UPDATE sessions SET tokens_used = tokens_used + ?2, total_cost_usd = total_cost_usd + ?3, updated_at = ?4 WHERE id = ?1",
                    params![session, s.usage.total_tokens as i64, s.cost_usd, now],
                )?;
                Ok(())
            })
            .await
    }
}

/// Settles a cancel for a task with no live run in this process.
pub(crate) async fn finish_cancelled_without_run(
    core: &Core,
    workflow_id: &str,
    reason: &str,
) -> Result<()> {
    let wf = workflow_id.to_string();
    let (last_seq, was_paused) = core
        .store()
        .write(move |tx| {
            let now = time::now();
            let was_paused: bool = tx
                .query_row("SELECT status = 'PAUSED' FROM tasks WHERE workflow_id = ?1", [&wf], |r| r.get(0))
                .optional()?
                .unwrap_or(false);
            tx.execute(
                "UPDATE tasks SET status = 'CANCELLED', completed_at = ?2, updated_at = ?2
                 WHERE workflow_id = ?1 AND status NOT IN ('COMPLETED','FAILED','CANCELLED','TIMEOUT')",
                params![wf, now],
            )?;
            let seq: u32 = tx.query_row(
                "SELECT coalesce(max(seq), 0) FROM task_events WHERE workflow_id = ?1",
                [&wf],
                |r| r.get(0),
            )?;
            Ok((seq, was_paused))
        })
        .await?;
    let hub = &core.engine().hub;
    hub.open_stream(workflow_id, last_seq);
    let message = if reason.is_empty() {
        "Cancelled".to_string()
    } else {
        format!("Cancelled: {reason}")
    };
    let mut payload = json!({"checkpoint": "not_running"});
    if was_paused {
        payload["was_paused"] = json!(true);
    }
    hub.emit(
        workflow_id,
        "WORKFLOW_CANCELLED",
        Some("orchestrator"),
        Some(message),
        Some(payload),
    );
    hub.emit(
        workflow_id,
        "STREAM_END",
        Some("orchestrator"),
        Some("Done".into()),
        None,
    );
    hub.flush().await;
    hub.close_stream(workflow_id);
    Ok(())
}

/// Start-up recovery: nothing a crash left RUNNING, QUEUED or PAUSED stays that way.
pub(crate) async fn recover(core: &Core, policy: RecoveryPolicy) -> Result<u32> {
    struct Orphan {
        task_id: String,
        workflow_id: String,
        user_id: String,
        tenant_id: String,
        session_id: Option<String>,
        query: String,
        mode: String,
        context: String,
        metadata: String,
        is_paused: bool,
        is_cancelled: bool,
        last_seq: u32,
    }
    let orphans: Vec<Orphan> = core
        .store()
        .read(|c| {
            let mut stmt = c.prepare(
                "SELECT t.id, t.workflow_id, t.user_id, u.tenant_id, t.session_id, t.query, t.mode, t.context, t.metadata,
                        coalesce(w.is_paused, 0), coalesce(w.is_cancelled, 0),
                        (SELECT coalesce(max(seq), 0) FROM task_events e WHERE e.workflow_id = t.workflow_id)
                 FROM tasks t JOIN users u ON u.id = t.user_id
                 LEFT JOIN workflow_control w ON w.workflow_id = t.workflow_id
                 WHERE t.status IN ('QUEUED', 'RUNNING', 'PAUSED') ORDER BY t.created_at",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Orphan {
                    task_id: r.get(0)?,
                    workflow_id: r.get(1)?,
                    user_id: r.get(2)?,
                    tenant_id: r.get(3)?,
                    session_id: r.get(4)?,
                    query: r.get(5)?,
                    mode: r.get(6)?,
                    context: r.get(7)?,
                    metadata: r.get(8)?,
                    is_paused: r.get(9)?,
                    is_cancelled: r.get(10)?,
                    last_seq: r.get(11)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await?;
    let count = orphans.len() as u32;
    for o in orphans {
        let hub = &core.engine().hub;
        hub.open_stream(&o.workflow_id, o.last_seq);
        if o.is_cancelled {
            finish_cancelled_without_run(core, &o.workflow_id, "").await?;
            continue;
        }
        let metadata: Value = serde_json::from_str(&o.metadata).unwrap_or_else(|_| json!({}));
        let plan = serde_json::from_str::<serde_json::Map<String, Value>>(&o.context)
            .ok()
            .map(|context| SubmitTaskRequest {
                query: o.query.clone(),
                context,
                mode: Some(o.mode.clone()),
                ..Default::default()
            })
            .and_then(|r| r.into_plan().ok());
        let resumable =
            policy == RecoveryPolicy::Resume && plan.is_some() && o.session_id.is_some();
        if !resumable {
            let reason = "interrupted: the app exited while the task was running".to_string();
            let (wf, r) = (o.workflow_id.clone(), reason.clone());
            core.store()
                .write(move |tx| {
                    let now = time::now();
                    tx.execute(
                        "UPDATE tasks SET status = 'FAILED', error_message = ?2, completed_at = ?3, updated_at = ?3,
                            metadata = json_remove(metadata, '$.resume_state') WHERE workflow_id = ?1",
                        params![wf, r, now],
                    )?;
                    Ok(())
                })
                .await?;
            hub.emit(
                &o.workflow_id,
                "ERROR_OCCURRED",
                Some("orchestrator"),
                Some(reason.clone()),
                Some(json!({"error": reason})),
            );
            hub.emit(
                &o.workflow_id,
                "WORKFLOW_FAILED",
                Some("orchestrator"),
                Some(reason),
                None,
            );
            hub.emit(
                &o.workflow_id,
                "STREAM_END",
                Some("orchestrator"),
                Some("Done".into()),
                None,
            );
            hub.flush().await;
            hub.close_stream(&o.workflow_id);
            continue;
        }
        let resume: Option<ResumeState> = metadata
            .get("resume_state")
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let text = |k: &str| metadata.get(k).and_then(Value::as_str).map(str::to_string);
        tracing::info!(workflow_id = %o.workflow_id, paused = o.is_paused, "resuming a task interrupted by an exit");
        spawn(
            core.clone(),
            RunSpec {
                caller: Caller {
                    user_id: o.user_id,
                    tenant_id: o.tenant_id,
                    method: AuthMethod::Embedded,
                },
                task_id: o.task_id,
                workflow_id: o.workflow_id,
                session_id: o.session_id.unwrap_or_default(),
                plan: plan.expect("checked above"),
                provider: text("requested_provider").unwrap_or_else(|| "demo".into()),
                model: text("requested_model").unwrap_or_else(|| "shannon-demo".into()),
                fallback_note: None,
                resume: Some(resume.unwrap_or_default()),
                start_paused: o.is_paused,
            },
        );
    }
    Ok(count)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// Tool parameters for events: strings capped at 500 characters, as the cloud.
fn sanitize(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(truncate(s, 500)),
        Value::Array(a) => Value::Array(a.iter().map(sanitize).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), sanitize(v))).collect())
        }
        other => other.clone(),
    }
}
