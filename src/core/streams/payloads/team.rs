//! Payloads of planning and teams: PROGRESS (plans, research, reasoning strategies), delegation,
//! the supervisor's and the swarm's agents, their messages and board.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One step of a plan, as events show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct EventPlanStep {
    /// The subtask's id (`task-1`).
    pub id: String,
    /// What it does.
    pub name: String,
    /// The planner's task type (may be empty).
    #[serde(rename = "type")]
    pub task_type: String,
}

/// A dependency between two plan steps: `to` needs `from`'s output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct EventPlanEdge {
    /// The step depended on.
    pub from: String,
    /// The step that waits for it.
    pub to: String,
}

/// A research gap the coverage judge found, with the search that should fill it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct CoverageGap {
    /// What is missing.
    pub gap: String,
    /// The search for it.
    pub query: String,
}

/// A tree-of-thoughts branch explored from a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct ThoughtBranch {
    /// The node's id (`1`, `1-2`, …).
    pub id: String,
    /// Its score, 0 to 1.
    pub score: f64,
    /// The thought (clipped).
    pub thought: String,
}

/// PROGRESS: one shape for every progress report; which fields are present says which report
/// it is (a plan, a revision, a research or reasoning step, a saved memory note, the demo note).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct ProgressPayload {
    /// A plan ("Got a plan", a revision): its steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<EventPlanStep>>,
    /// A plan: its dependency edges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deps: Option<Vec<EventPlanEdge>>,
    /// A plan: how its steps run (`parallel`, `sequential`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_strategy: Option<String>,
    /// A plan: at most this many steps at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_limit: Option<u32>,
    /// A supervisor's revised plan: the revision round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u32>,
    /// The offline demo provider answers: `demo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The offline demo provider answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_demo: Option<bool>,
    /// A saved memory note: its path (`/memory/<file>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A saved memory note: its title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// ReAct step, or research coverage round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<u32>,
    /// ReAct: the most steps it takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u32>,
    /// ReAct finished: the steps taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u32>,
    /// Research refinement: the refined question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refined_query: Option<String>,
    /// Research refinement: the dimensions to research.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub research_areas: Option<Vec<String>>,
    /// Research refinement: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refinement_rationale: Option<String>,
    /// Research refinement: the question as asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_query: Option<String>,
    /// Research coverage: the judge's score, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage_score: Option<f64>,
    /// Research coverage: the gaps to research next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gaps: Option<Vec<CoverageGap>>,
    /// Gap research: searches that brought new sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<u32>,
    /// Gap research: searches made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub searched: Option<u32>,
    /// Gap research: new source URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_urls: Option<u32>,
    /// Gap research: new source domains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_domains: Option<u32>,
    /// Gap research stopped: why (`no_new_sources`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Research verification: whether every claim is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// Research verification: the verifier's confidence, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// Research verification: the claims it found unsupported (as the verifier gave them: free-form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsupported_claims: Option<Vec<Value>>,
    /// Scientific debate: the hypotheses tested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hypotheses: Option<Vec<String>>,
    /// Scientific debate: the round done, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<u32>,
    /// Scientific debate: the winning hypothesis, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub winner: Option<u32>,
    /// Scientific debate: each hypothesis's score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<Vec<f64>>,
    /// Scientific debate: whether the positions agree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consensus: Option<bool>,
    /// Tree of thoughts: the node explored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Tree of thoughts: its depth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    /// Tree of thoughts: the branches kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<ThoughtBranch>>,
}

/// DELEGATION: the router's choice of how the task runs, or a supervisor's assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct DelegationPayload {
    /// Router: how the task runs (`simple`, `complex`, `swarm`, `supervisor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_mode: Option<String>,
    /// Router: the mode asked for, when it differs (`complex`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_mode: Option<String>,
    /// Router: the cognitive strategy chosen (`react`, `research`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Supervisor: the agent assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Supervisor: the subtask assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtask_id: Option<String>,
    /// Supervisor: the agent's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Supervisor: the subtask's description (clipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// ROLE_ASSIGNED: an agent takes a role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct RoleAssignedPayload {
    /// The role.
    pub role: String,
    /// Supervisor: the subtask it has the role for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtask_id: Option<String>,
    /// A task's own role: the tools the role brings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// A task's own role: how many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_count: Option<u32>,
}

/// TEAM_RECRUITED: a supervisor adds an agent for a subtask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct TeamRecruitedPayload {
    /// The agent.
    pub agent_id: String,
    /// Its role.
    pub role: String,
    /// Its subtask.
    pub subtask_id: String,
}

/// TEAM_RETIRED: a supervisor's agent is done with its subtask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct TeamRetiredPayload {
    /// The agent.
    pub agent_id: String,
    /// Its subtask.
    pub subtask_id: String,
    /// Whether the subtask succeeded.
    pub success: bool,
}

/// MESSAGE_SENT and MESSAGE_RECEIVED: a message between agents (the message text is the event's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct AgentMessagePayload {
    /// The sender.
    pub from: String,
    /// The receiver.
    pub to: String,
    /// Supervisor: the subtask whose output is handed over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtask_id: Option<String>,
}

/// WORKSPACE_UPDATED: a swarm member shared something with the team.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceUpdatedPayload {
    /// What it is about.
    pub topic: String,
    /// The member who shared it.
    pub author: String,
    /// Its content (clipped).
    pub preview: String,
}

/// One task of a swarm's board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct BoardTask {
    /// The task's id (`t-1`).
    pub id: String,
    /// What it is.
    pub description: String,
    /// `pending`, `in_progress` or `completed`.
    pub status: String,
    /// The member working on it, if any.
    pub owner: Option<String>,
    /// Who put it on the board.
    pub created_by: String,
    /// Tasks it needs done first.
    pub depends_on: Vec<String>,
}

/// TASKLIST_UPDATED: a swarm's whole board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct TaskListUpdatedPayload {
    /// Every task on the board.
    pub tasks: Vec<BoardTask>,
}

/// LEAD_DECISION: a swarm lead decided its next actions (the message is its summary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct LeadDecisionPayload {
    /// What woke the lead (`human_input`, an agent's report, …).
    pub event_type: String,
    /// How many actions it took.
    pub actions: u32,
    /// The swarm's round.
    pub round: u32,
}

/// HITL_RESPONSE: a swarm lead read the user's messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct HitlResponsePayload {
    /// The messages read.
    pub messages: Vec<String>,
}

/// DEPENDENCY_SATISFIED: a supervisor's waiting subtask can start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct DependencySatisfiedPayload {
    /// The subtask.
    pub subtask_id: String,
    /// The subtasks it waited for.
    pub dependencies: Vec<String>,
}
