//! Payloads of a run's own events: its life cycle and control, its agents, model calls, tools,
//! budgets and recovery.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// WORKFLOW_STARTED: the task has begun its first run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct WorkflowStartedPayload {
    /// The task's context as submitted (free-form keys the caller chose).
    pub task_context: Map<String, Value>,
}

/// WORKFLOW_PAUSED: the run stopped at a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct WorkflowPausedPayload {
    /// The checkpoint it holds at (`pre_execution`, `llm_stream`, …).
    pub checkpoint: String,
}

/// WORKFLOW_CANCELLED: the task ended by a cancel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct WorkflowCancelledPayload {
    /// The checkpoint the run stopped at.
    pub checkpoint: String,
    /// Present (true) when it was paused when cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was_paused: Option<bool>,
}

/// ERROR_OCCURRED: what went wrong (the task's failure, when it ends the task).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct ErrorOccurredPayload {
    /// The error text.
    pub error: String,
}

/// ERROR_RECOVERY: a run resumed after a restart, or a supervisor's agent retries its subtask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct ErrorRecoveryPayload {
    /// Resume: the steps already done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<u32>,
    /// Resume: journaled steps the run will replay instead of repeating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journaled_steps: Option<u32>,
    /// Retry: the subtask retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtask_id: Option<String>,
    /// Retry: the attempt about to start (2 or more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Retry: why the previous attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// WARNING: something the run works around (today: research without a search provider).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct WarningPayload {
    /// A stable reason code (`no_search_provider`).
    pub reason: String,
    /// The answer will cite no sources.
    pub unsourced: bool,
}

/// WAITING: a supervisor's subtask waits on others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct WaitingPayload {
    /// The waiting subtask.
    pub subtask_id: String,
    /// The subtasks it still waits for.
    pub waiting_for: Vec<String>,
}

/// AGENT_STARTED: an agent begins (a subtask, a ReAct step, a swarm member, an agent tool).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct AgentStartedPayload {
    /// The agent's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The plan's subtask it works on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtask_id: Option<String>,
    /// ReAct: the step number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<u32>,
    /// ReAct actor: the action it takes (clipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// An agent run as a tool: that tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// An agent run as a tool: its input (the tool's arguments, free-form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_input: Option<Value>,
}

/// AGENT_COMPLETED: an agent is done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct AgentCompletedPayload {
    /// The plan's subtask it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtask_id: Option<String>,
    /// ReAct: the step number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<u32>,
    /// ReAct reasoner: whether it judged the task done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<bool>,
    /// An agent run as a tool: that tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// A swarm member: its report (clipped), null when it gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

/// AGENT_FAILED: an agent's subtask failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct AgentFailedPayload {
    /// The failed subtask.
    pub subtask_id: String,
    /// Supervisor: the attempts made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
}

/// AGENT_THINKING with a payload: a ReAct reasoner's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct AgentThinkingPayload {
    /// The step number.
    pub iteration: u32,
    /// The action it chose (clipped).
    pub action: String,
}

/// LLM_PROMPT: a model call starts (the message is the prompt, clipped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct LlmPromptPayload {
    /// The provider called.
    pub provider: String,
    /// The model asked for.
    pub model: String,
    /// The agent calling.
    pub role: String,
}

/// LLM_OUTPUT: a model's answer (the message), or the task's final answer (agent `final_output`),
/// or a swarm lead's interim reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct LlmOutputPayload {
    /// All tokens of the call (of the task, for the final answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_used: Option<u64>,
    /// Prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Completion tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Prompt tokens read from the provider's cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_tokens: Option<u64>,
    /// Prompt tokens written to the provider's cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_tokens: Option<u64>,
    /// The model that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_used: Option<String>,
    /// The provider that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The call's cost in USD (0 when the model has no known price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Whether the model has a known price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priced: Option<bool>,
    /// How long the call took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The agent that called (`lead` for a swarm lead's interim reply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// A swarm lead's interim reply, not the final answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interim: Option<bool>,
}

/// TOOL_INVOKED: a tool call starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct ToolInvokedPayload {
    /// The tool.
    pub tool: String,
    /// Its arguments (free-form; strings clipped to 500 characters).
    pub params: Value,
    /// The agent calling.
    pub role: String,
}

/// TOOL_OBSERVATION: a tool call's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct ToolObservationPayload {
    /// The tool.
    pub tool: String,
    /// Whether it succeeded.
    pub success: bool,
    /// Its output (clipped to 2000 characters).
    pub output: String,
    /// Whether the result came from the task's tool cache.
    pub cached: bool,
}

/// TOOL_ERROR: a tool call failed or was denied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct ToolErrorPayload {
    /// The tool.
    pub tool: String,
    /// The error (clipped).
    pub error: String,
    /// Present (true) when the user denied the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied: Option<bool>,
}

/// BUDGET_THRESHOLD: a budget crossed its warning threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct BudgetThresholdPayload {
    /// `task` (tokens) or `cost` (USD).
    pub budget_type: String,
    /// The share of the budget used, in percent.
    pub usage_percent: f64,
    /// The warning threshold, in percent.
    pub threshold_percent: f64,
    /// `warning`.
    pub level: String,
    /// Token budget: tokens used so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_used: Option<u64>,
    /// Token budget: the budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_budget: Option<u64>,
    /// Cost budget: USD spent so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Cost budget: the budget in USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_budget_usd: Option<f64>,
}

/// SYNTHESIS: a tool-using agent answered from its tool results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct SynthesisPayload {
    /// Rounds of tool calls before the answer.
    pub tool_rounds: u32,
    /// The model call that answered.
    pub iteration: u32,
}

/// REFLECTION: a judge scored the answer, or an agent reflects on tool results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct ReflectionPayload {
    /// Judge: the answer's score, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Judge: the score that passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Judge: what to improve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
    /// Judge: the round, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<u32>,
    /// Judge: whether the score passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
    /// Tool use: the tool results reflected on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observations: Option<u32>,
    /// Tool use: the model call it follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<u32>,
}
