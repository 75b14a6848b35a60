//! Payloads of the human in the loop: approvals and research plan reviews.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::team::EventPlanStep;
use crate::core::hitl::approvals::ApprovalScope;

/// APPROVAL_REQUESTED: the run waits for the user's answer (`approve`/`deny` with `approval_id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequestedPayload {
    /// The id to answer with.
    pub approval_id: String,
    /// `plan` (before a plan runs) or `tool` (before a dangerous tool call).
    pub kind: String,
    /// Why it asks.
    pub reason: String,
    /// When an unanswered request is denied (RFC 3339).
    pub expires_at: String,
    /// Plan: its steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<EventPlanStep>>,
    /// Plan: the tools its steps suggest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// Plan: the planner's complexity score (null when there is no plan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complexity: Option<f64>,
    /// Tool: the tool to call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Tool: its arguments (free-form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    /// Tool: the agent calling it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
}

/// APPROVAL_DECISION: the answer the run got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecisionPayload {
    /// The request answered.
    pub approval_id: String,
    /// Whether the run goes on.
    pub approved: bool,
    /// The request's final status (`approved`, `denied`, `expired`).
    pub status: String,
    /// The user's feedback, or why it was denied without one.
    pub feedback: Option<String>,
    /// A tool approval: what it lets through.
    pub scope: Option<ApprovalScope>,
}

/// RESEARCH_PLAN_READY: a research plan waits for review (the message is the plan).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct ResearchPlanReadyPayload {
    /// The review round (1).
    pub round: u32,
    /// The plan's version (1).
    pub version: u32,
    /// What the planner means the plan as (`feedback`, `ready`, …).
    pub intent: String,
    /// When the review times out (RFC 3339).
    pub expires_at: String,
}

/// RESEARCH_PLAN_UPDATED: the plan revised after feedback (the message is the plan).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct ResearchPlanUpdatedPayload {
    /// The review round.
    pub round: u32,
    /// The plan's new version.
    pub version: u32,
    /// What the planner means the plan as.
    pub intent: String,
}

/// RESEARCH_PLAN_APPROVED and REVIEW_USER_FEEDBACK: where the review stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(deny_unknown_fields)]
pub struct ReviewRoundPayload {
    /// The review round.
    pub round: u32,
    /// The plan's version.
    pub version: u32,
}
