//! A task's progress and output for the desktop frontend (`/tasks/{id}/progress`, `/output`): steps
//! derived from the task's stored events, with tokens, cost and time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::Core;
use crate::core::auth::Caller;
use crate::core::error::Result;
use crate::core::run::lifecycle::{EventType, TaskStatus};
use crate::core::store;
use crate::core::streams::{TaskEvent, read_events};
use crate::core::tasks::read::TaskRow;

/// One step of a task, as the frontend's `subtasks` list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ProgressStep {
    pub id: String,
    pub description: String,
    /// `pending | running | completed | failed | cancelled`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
}

/// `GET /api/v1/tasks/{id}/progress`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct TaskProgress {
    pub task_id: String,
    pub workflow_id: String,
    /// The desktop frontend's `TaskProgress.status`: `pending | running | completed | failed |
    /// cancelled` (a paused task is `running`, a timed-out one `failed`). The cloud routes keep
    /// `TASK_STATUS_*`; the frontend's poller stops only on these words.
    pub status: String,
    pub progress_percent: f64,
    pub current_step: String,
    pub total_steps: u32,
    pub completed_steps: u32,
    pub elapsed_time_ms: u32,
    /// From the average pace of the completed steps; absent once the task has ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_remaining_ms: Option<u32>,
    pub subtasks: Vec<ProgressStep>,
    pub tokens_used: u32,
    pub cost_usd: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_agent: Option<String>,
    pub last_updated: String,
}

/// `GET /api/v1/tasks/{id}/output`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct TaskOutput {
    pub task_id: String,
    /// The answer; empty until the task completes.
    pub output: String,
    /// `TASK_STATUS_*`.
    pub status: String,
    pub tokens_used: u32,
    pub cost_usd: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
}

/// Stored events read for a progress report; a task past this is summarised from its first events.
const MAX_EVENTS: u32 = 20_000;

/// Agents that stand for the engine rather than a worker.
fn is_worker(agent: &str) -> bool {
    !matches!(agent, "orchestrator" | "final_output" | "title_generator")
}

fn step(id: String, description: String, status: &str, agent: Option<&str>) -> ProgressStep {
    ProgressStep {
        id,
        description,
        status: status.into(),
        agent_id: agent.map(str::to_string),
    }
}

/// Builds the step list from the events, in order: context, one step per model call and tool call,
/// the final answer, completion. Steps not reached yet are listed as pending.
fn steps_of(events: &[TaskEvent], status: TaskStatus) -> Vec<ProgressStep> {
    let ended = status.is_terminal();
    let finish = |s: &mut ProgressStep| {
        if s.status == "running" {
            s.status = "completed".into();
        }
    };
    let mut steps = vec![step(
        "context".into(),
        "Gather context".into(),
        "running",
        None,
    )];
    let (mut calls, mut tools) = (0u32, 0u32);
    let mut answered = false;
    let model_call = |steps: &mut Vec<ProgressStep>, calls: &mut u32, status: &str, agent| {
        *calls += 1;
        steps.push(step(
            format!("llm-{calls}"),
            format!("Model call {calls}"),
            status,
            agent,
        ));
    };
    let calling = |steps: &[ProgressStep]| {
        steps
            .last()
            .is_some_and(|s| s.id.starts_with("llm-") && s.status == "running")
    };
    // LLM_PROMPT is live-only, so a model call is known to start when the agent starts or has
    // reflected on tool results, and to end with its LLM_OUTPUT.
    for e in events {
        let agent = e.agent_id.as_deref();
        let Some(kind) = e.kind() else { continue };
        match kind {
            EventType::WorkflowStarted | EventType::ErrorRecovery => finish(&mut steps[0]),
            EventType::AgentStarted | EventType::Reflection | EventType::LlmPrompt
                if !calling(&steps) =>
            {
                finish(&mut steps[0]);
                model_call(&mut steps, &mut calls, "running", agent);
            }
            EventType::LlmOutput if agent == Some("final_output") => answered = true,
            EventType::LlmOutput => {
                if calling(&steps) {
                    let last = steps.len() - 1;
                    finish(&mut steps[last]);
                } else {
                    model_call(&mut steps, &mut calls, "completed", agent);
                }
            }
            EventType::ToolInvoked => {
                tools += 1;
                let tool = e
                    .payload
                    .as_ref()
                    .and_then(|p| p.get("tool"))
                    .and_then(|t| t.as_str())
                    .unwrap_or("tool");
                steps.push(step(
                    format!("tool-{tools}"),
                    format!("Call {tool}"),
                    "running",
                    agent,
                ));
            }
            EventType::ToolObservation => {
                let ok = e
                    .payload
                    .as_ref()
                    .and_then(|p| p.get("success"))
                    .and_then(|s| s.as_bool())
                    .unwrap_or(true);
                if let Some(s) = steps.iter_mut().rev().find(|s| s.id.starts_with("tool-")) {
                    s.status = if ok { "completed" } else { "failed" }.into();
                }
            }
            _ => {}
        }
    }
    let answer_status = if answered { "completed" } else { "pending" };
    steps.push(step(
        "answer".into(),
        "Final answer".into(),
        answer_status,
        None,
    ));
    let done_status = match status {
        TaskStatus::Completed => "completed",
        TaskStatus::Failed | TaskStatus::Timeout => "failed",
        TaskStatus::Cancelled => "cancelled",
        TaskStatus::Queued | TaskStatus::Running | TaskStatus::Paused => "pending",
    };
    steps.push(step(
        "complete".into(),
        "Complete".into(),
        done_status,
        None,
    ));
    if ended {
        for s in &mut steps {
            if s.status == "running" || s.status == "pending" {
                s.status = if status == TaskStatus::Completed {
                    "completed".into()
                } else {
                    "cancelled".into()
                };
            }
        }
    } else if matches!(status, TaskStatus::Running | TaskStatus::Paused) {
        // The first step not finished is the one in progress.
        if let Some(s) = steps
            .iter_mut()
            .find(|s| s.status == "pending" || s.status == "running")
        {
            s.status = "running".into();
        }
    }
    steps
}

fn parse(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn millis(ms: i64) -> u32 {
    ms.clamp(0, i64::from(u32::MAX)) as u32
}

/// The progress report of a task from its row and stored events, at `now`.
pub(crate) fn progress_of(
    row: &TaskRow,
    events: &[TaskEvent],
    usage: (u32, f64),
    now: DateTime<Utc>,
) -> TaskProgress {
    let subtasks = steps_of(events, row.status);
    let total = subtasks.len() as u32;
    let completed = subtasks.iter().filter(|s| s.status == "completed").count() as u32;
    let ended = row.completed_at.is_some();
    let start = row
        .started_at
        .as_deref()
        .and_then(parse)
        .or_else(|| parse(&row.created_at));
    let end = row.completed_at.as_deref().and_then(parse).unwrap_or(now);
    let elapsed = start.map_or(0, |s| (end - s).num_milliseconds());
    let percent = if row.status == TaskStatus::Completed {
        100.0
    } else if total == 0 {
        0.0
    } else {
        (f64::from(completed) * 1000.0 / f64::from(total)).round() / 10.0
    };
    let estimated_remaining_ms = (!ended && completed > 0)
        .then(|| millis(elapsed / i64::from(completed) * i64::from(total - completed)));
    let current_step = subtasks
        .iter()
        .find(|s| s.status == "running")
        .or_else(|| subtasks.iter().rev().find(|s| s.status != "pending"))
        .map(|s| s.description.clone())
        .unwrap_or_default();
    let current_agent = events
        .iter()
        .rev()
        .filter_map(|e| e.agent_id.as_deref())
        .find(|a| is_worker(a))
        .map(str::to_string);
    let last_updated = events
        .last()
        .map(|e| e.timestamp.clone())
        .unwrap_or_else(|| row.updated_at.clone());
    TaskProgress {
        task_id: row.workflow_id.clone(),
        workflow_id: row.workflow_id.clone(),
        status: row.status.desktop().to_string(),
        progress_percent: percent,
        current_step,
        total_steps: total,
        completed_steps: completed,
        elapsed_time_ms: millis(elapsed),
        estimated_remaining_ms,
        subtasks,
        tokens_used: usage.0,
        cost_usd: usage.1,
        current_agent,
        last_updated,
    }
}

impl Core {
    /// Tokens and cost so far: the per-call rows while running, the task's totals once stored.
    async fn usage_so_far(&self, row: &TaskRow) -> Result<(u32, f64)> {
        let id = row.id.clone();
        let (calls, cost): (u32, f64) = self
            .store()
            .read(move |c| store::steps::tokens_and_cost(c, &id))
            .await?;
        Ok((calls.max(row.total_tokens), cost.max(row.cost_usd)))
    }

    /// The task's progress in the desktop frontend's shape: steps, elapsed and estimated time,
    /// tokens and cost so far.
    pub async fn get_task_progress(&self, caller: &Caller, id: &str) -> Result<TaskProgress> {
        let row = self.owned_task(caller, id).await?;
        // Bounded (see `read::READ_SETTLE`): progress of a running task is computed from what is
        // stored, also while storage fails.
        self.engine()
            .hub
            .settle_for_read(&row.workflow_id, super::read::READ_SETTLE)
            .await;
        let wf = row.workflow_id.clone();
        let events = self
            .store()
            .read(move |c| read_events(c, &wf, 0, MAX_EVENTS, 0))
            .await?;
        let usage = self.usage_so_far(&row).await?;
        Ok(progress_of(&row, &events, usage, Utc::now()))
    }

    /// The task's answer (empty until it completes), its `TASK_STATUS_*`, tokens and cost.
    pub async fn get_task_output(&self, caller: &Caller, id: &str) -> Result<TaskOutput> {
        let row = self.owned_task(caller, id).await?;
        let (tokens_used, cost_usd) = self.usage_so_far(&row).await?;
        Ok(TaskOutput {
            task_id: row.workflow_id.clone(),
            output: if row.status == TaskStatus::Completed {
                row.result.clone().unwrap_or_default()
            } else {
                String::new()
            },
            status: row.status.api().to_string(),
            tokens_used,
            cost_usd,
            completed_at: row.completed_at.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::time;

    fn ev(seq: u32, t: &str, agent: &str, payload: Option<serde_json::Value>) -> TaskEvent {
        TaskEvent {
            workflow_id: "task-x".into(),
            event_type: t.into(),
            agent_id: Some(agent.into()),
            message: None,
            payload,
            timestamp: time::now(),
            seq,
            stream_id: None,
        }
    }

    fn statuses(steps: &[ProgressStep]) -> Vec<(&str, &str)> {
        steps
            .iter()
            .map(|s| (s.id.as_str(), s.status.as_str()))
            .collect()
    }

    #[test]
    fn a_running_tool_loop_shows_each_call_and_the_step_in_progress() {
        let events = vec![
            ev(1, "DATA_PROCESSING", "orchestrator", None),
            ev(2, "WORKFLOW_STARTED", "orchestrator", None),
            ev(3, "AGENT_STARTED", "react-agent", None),
            ev(4, "LLM_OUTPUT", "react-agent", None),
            ev(
                5,
                "TOOL_INVOKED",
                "react-agent",
                Some(serde_json::json!({"tool": "calculator"})),
            ),
            ev(
                6,
                "TOOL_OBSERVATION",
                "react-agent",
                Some(serde_json::json!({"tool": "calculator", "success": false})),
            ),
            ev(7, "REFLECTION", "react-agent", None),
        ];
        let steps = steps_of(&events, TaskStatus::Running);
        assert_eq!(
            statuses(&steps),
            vec![
                ("context", "completed"),
                ("llm-1", "completed"),
                ("tool-1", "failed"),
                ("llm-2", "running"),
                ("answer", "pending"),
                ("complete", "pending"),
            ]
        );
        assert_eq!(steps[2].description, "Call calculator");
        assert_eq!(steps[3].agent_id.as_deref(), Some("react-agent"));
    }

    #[test]
    fn an_ended_task_has_no_step_left_running() {
        let events = vec![
            ev(1, "WORKFLOW_STARTED", "orchestrator", None),
            ev(2, "AGENT_STARTED", "simple-agent", None),
        ];
        let cancelled = steps_of(&events, TaskStatus::Cancelled);
        assert!(
            cancelled
                .iter()
                .all(|s| s.status == "completed" || s.status == "cancelled")
        );
        assert_eq!(cancelled.last().unwrap().status, "cancelled");
        let done = steps_of(&events, TaskStatus::Completed);
        assert!(done.iter().all(|s| s.status == "completed"));
    }
}
