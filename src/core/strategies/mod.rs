//! Multi-agent strategies (see docs/upstream.md#strategies). Each is written against [`Team`], the
//! small run context every agent of a task shares: emit an event, call the model as an agent, call
//! a tool, take or record a journal step, check control. The strategies never touch SQL.
//!
//! - [`simple`], [`standard`]: one agent, one call or a loop of model and tool calls;
//! - [`route`]: which strategy answers a multi-agent task (the cloud's router:
//!   docs/upstream.md#routing-and-planning);
//! - [`plan`]: the planner's answer, validated, and agent names;
//! - [`model_call`]: an agent's model call; [`agent`]: one agent's turn of model and tool calls;
//! - [`dag`]: decomposition, subtasks in parallel, in sequence or by dependency, then synthesis;
//! - [`supervisor`]: a team with roles, hand-offs, retries and plan revision;
//! - [`react`], [`tot`], [`scientific`]: the cognitive strategies;
//! - [`swarm`]: a lead deciding in rounds, agents in their own loops, a task board;
//! - [`research`]: web research with a coverage loop and numbered sources;
//! - [`reflection`], [`citations`]: a judge of the answer, and the sources tools produced;
//! - [`agent_call`]: a catalogue agent's one tool call, without a model;
//! - [`approval`]: asking the user before a plan runs or a dangerous tool is called;
//! - [`review`]: agreeing on a research plan with the user before the research runs;
//! - [`memory_note`]: what a long task leaves in the user's memory folder.

pub(crate) mod agent;
pub(crate) mod agent_call;
pub(crate) mod approval;
pub(crate) mod citations;
pub(crate) mod dag;
pub(crate) mod memory_note;
mod model_call;
pub mod plan;
pub(crate) mod react;
pub(crate) mod reflection;
pub(crate) mod research;
pub(crate) mod review;
pub(crate) mod route;
pub(crate) mod scientific;
pub(crate) mod simple;
pub(crate) mod standard;
pub(crate) mod supervisor;
pub(crate) mod swarm;
pub(crate) mod tot;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::tools::ToolBox;
use crate::core::Core;
use crate::core::error::{Result, ShannonError};
use crate::core::llm::{ProviderClient, ToolCall, Usage};
use crate::core::run::budget::Budgets;
use crate::core::run::journal::{StepKey, StepKind, step_record};
use crate::core::run::lifecycle::EventType;
use crate::core::streams::{NewEvent, UsageRow};

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
    /// The task's owner, and its session (tool approvals may hold for the session).
    pub user_id: String,
    pub session_id: Option<String>,
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
    /// The tools the task may use (its allow and block lists and the user's settings); each agent
    /// gets its own narrowed copy.
    pub tools: Arc<ToolBox>,
    /// `context.budget_agent_max`: the tokens one agent may use over its turns.
    pub agent_budget: Option<u64>,
    /// One agent whose steps come in a fixed order (`simple`, `standard`): the first step not in
    /// the journal ends the replay, and nothing is emitted while steps remain to be retraced
    /// (their events are stored already).
    pub sequential: bool,
    /// Where the run is (`pre_llm_call`, `llm_stream`, `pre_tool_call`), for WORKFLOW_PAUSED and
    /// WORKFLOW_CANCELLED of a one-agent run.
    at: Arc<Mutex<&'static str>>,
}

#[derive(Debug, Default)]
struct Spend {
    budgets: Budgets,
    tokens: u64,
    usage: Usage,
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
        control: &crate::core::run::RunControl,
        journal: HashMap<String, Value>,
        pricing: Option<Value>,
    ) -> Self {
        Self {
            core,
            task_id,
            workflow_id,
            user_id: String::new(),
            session_id: None,
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
            tools: Arc::new(ToolBox::new(None, &[])),
            agent_budget: None,
            sequential: false,
            at: Arc::new(Mutex::new("pre_llm_call")),
        }
    }

    /// The task's token and cost budgets, which all its agents share.
    pub fn with_budgets(self, budgets: Budgets) -> Self {
        self.spend.lock().unwrap_or_else(|p| p.into_inner()).budgets = budgets;
        self
    }

    /// What every call of the run used so far.
    pub fn usage(&self) -> Usage {
        self.spend.lock().unwrap_or_else(|p| p.into_inner()).usage
    }

    /// Where a one-agent run is (see [`Team::sequential`]).
    pub fn at(&self) -> &'static str {
        *self.at.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_at(&self, place: &'static str) {
        *self.at.lock().unwrap_or_else(|p| p.into_inner()) = place;
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
        crate::core::tasks::request::truthy(self.context.get(key))
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
            s.usage.add(usage);
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
        if self.sequential
            && !self
                .journal
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
        {
            return;
        }
        self.core.engine().hub.emit(
            &self.workflow_id,
            t,
            Some(agent),
            Some(message.into()),
            payload,
        );
    }

    /// A step an earlier run completed, if any (taken: it is not found twice). In a sequential run
    /// a step not found ends the replay: the run is live from there.
    pub fn take<T: DeserializeOwned>(&self, key: &StepKey) -> Result<Option<T>> {
        let found = {
            let mut journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
            let found = journal.remove(key.as_str());
            if found.is_none() && self.sequential {
                journal.clear();
            }
            found
        };
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
}

/// A DELEGATION event (the router's, the supervisor's) under `key`, journaled so a resumed task does not announce it twice.
pub(crate) async fn delegation(
    team: &Team,
    key: &str,
    message: &str,
    payload: serde_json::Value,
) -> Result<(), Halt> {
    let key = crate::core::run::journal::StepKey::named(key);
    if team.take::<serde_json::Value>(&key)?.is_some() {
        return Ok(());
    }
    let event = crate::core::streams::NewEvent::new(
        crate::core::run::EventType::Delegation,
        "orchestrator",
        message,
    )
    .with_payload(payload);
    team.record(
        &key,
        crate::core::run::journal::StepKind::Plan,
        &true,
        vec![event],
        None,
    )
    .await?;
    Ok(())
}
