//! `GET /api/v1/tasks/{id}/timeline` (see docs/upstream.md#tasks-and-submission): a task's history
//! in the cloud's timeline vocabulary, built deterministically from its stored events (the cloud
//! reads Temporal's history): the life cycle as `WF_*`, agents and tool calls as `ACT_*`, control
//! and approvals as `SIG_*`, and, in `full` mode, every other stored event as `EVENT`. Streamed
//! text (LLM_PARTIAL, LLM_PROMPT) never appears: it is not history.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::Core;
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::streams::TaskEvent;

/// One timeline entry, in the cloud's shape (`id` and `created_at` are its zero values there too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct TimelineEvent {
    pub id: String,
    pub workflow_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub agent_id: Option<String>,
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    pub timestamp: String,
    pub seq: u32,
    /// The stored event it comes from.
    pub source_type: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct TimelineStats {
    pub total: usize,
    pub mode: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct Timeline {
    pub workflow_id: String,
    pub events: Vec<TimelineEvent>,
    pub stats: TimelineStats,
}

/// The timeline type of a stored event; `None` for what a summary leaves out.
fn kind(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "WORKFLOW_STARTED" => "WF_STARTED",
        "WORKFLOW_COMPLETED" => "WF_COMPLETED",
        "WORKFLOW_FAILED" => "WF_FAILED",
        "WORKFLOW_CANCELLED" => "WF_CANCELLED",
        "AGENT_STARTED" | "TOOL_INVOKED" | "DELEGATION" => "ACT_STARTED",
        "AGENT_COMPLETED" | "TOOL_OBSERVATION" => "ACT_COMPLETED",
        "AGENT_FAILED" | "TOOL_ERROR" => "ACT_FAILED",
        "WORKFLOW_PAUSED"
        | "WORKFLOW_RESUMED"
        | "WORKFLOW_CANCELLING"
        | "APPROVAL_DECISION"
        | "HITL_RESPONSE"
        | "REVIEW_USER_FEEDBACK" => "SIG_RECEIVED",
        "APPROVAL_REQUESTED" => "TIMER_STARTED",
        "LLM_OUTPUT" => "MARKER_RECORDED",
        _ => return None,
    })
}

impl Core {
    /// `mode` is `summary` (the default) or `full`; payloads only with `include_payloads`.
    pub async fn task_timeline(
        &self,
        caller: &Caller,
        id: &str,
        mode: Option<&str>,
        include_payloads: bool,
    ) -> Result<Timeline> {
        let full = match mode.unwrap_or("summary") {
            "summary" => false,
            "full" => true,
            other => {
                return Err(ShannonError::invalid(format!(
                    "mode must be summary or full, not {other:?}"
                )));
            }
        };
        let events = self.task_events_after(caller, id, 0).await?;
        let workflow_id = events
            .first()
            .map(|e| e.workflow_id.clone())
            .unwrap_or_else(|| id.to_string());
        let entries: Vec<TimelineEvent> = events
            .into_iter()
            .filter(|e| !matches!(e.event_type.as_str(), "LLM_PARTIAL" | "LLM_PROMPT"))
            .filter_map(|e| {
                let kind = kind(&e.event_type).or(full.then_some("EVENT"))?;
                Some(entry(e, kind, include_payloads))
            })
            .collect();
        Ok(Timeline {
            workflow_id,
            stats: TimelineStats {
                total: entries.len(),
                mode: if full { "full" } else { "summary" }.into(),
            },
            events: entries,
        })
    }
}

fn entry(e: TaskEvent, kind: &str, include_payloads: bool) -> TimelineEvent {
    TimelineEvent {
        id: format!("{}-{}", e.workflow_id, e.seq),
        workflow_id: e.workflow_id,
        event_type: kind.to_string(),
        agent_id: e.agent_id,
        message: e.message,
        payload: e.payload.filter(|_| include_payloads),
        created_at: e.timestamp.clone(),
        timestamp: e.timestamp,
        seq: e.seq,
        source_type: e.event_type,
    }
}
