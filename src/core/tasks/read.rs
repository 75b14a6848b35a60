//! Reading tasks: one task with its usage, lists with filters, stored events, live events.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::request::Mode;
use crate::core::Core;
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::store;
pub(crate) use crate::core::store::task_reads::TaskRow;
pub(crate) use crate::core::store::task_reads::stored_status;
use crate::core::streams::TaskEvent;
use crate::core::streams::read_events;
pub use crate::core::tasks::list::{ListTasksQuery, TaskList, TaskSummary, TokenUsageSummary};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct TaskUsage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_cost: Option<f64>,
}

/// `GET /api/v1/tasks/{id}` (see docs/upstream.md#tasks-and-submission). Unlike the cloud,
/// `created_at`/`updated_at` are real.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct TaskDetails {
    pub task_id: String,
    pub workflow_id: String,
    /// `TASK_STATUS_*`.
    pub status: String,
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub query: String,
    pub session_id: Option<String>,
    pub mode: String,
    pub context: Option<Value>,
    pub model_used: Option<String>,
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<TaskUsage>,
    pub metadata: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unified_response: Option<Value>,
    /// Where it runs: `local`, or `remote:<profile id>` (mirrored from a Shannon cloud).
    pub executor: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct TaskEventsPage {
    pub events: Vec<TaskEvent>,
    /// Number of events in this page.
    pub count: u32,
    /// Events this task emitted are not stored yet (the writer is behind, or storage is failing):
    /// this page has what is stored, and a later read may find more. The HTTP door also says so
    /// in the `X-Shannon-Events-Pending: true` header. Absent when everything emitted is stored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

/// How long a read waits for a task's emitted events to be stored before answering with what is
/// (reads answer within 2 s even while the disk is full; see [`EventHub::settle_for_read`]).
///
/// [`EventHub::settle_for_read`]: crate::core::streams::EventHub::settle_for_read
pub(crate) const READ_SETTLE: Duration = Duration::from_millis(500);

/// The cloud's id rule for task ids and workflow ids (see docs/upstream.md#tasks-and-submission).
pub fn validate_task_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ShannonError::invalid("Invalid task ID format"))
    }
}

impl Core {
    /// The event writer's backlog and whether its commits are failing (readiness reports it).
    pub fn event_backlog(&self) -> crate::core::streams::Backlog {
        self.engine().hub.backlog()
    }

    pub(crate) async fn owned_task(&self, caller: &Caller, id: &str) -> Result<TaskRow> {
        validate_task_id(id)?;
        let (user, id) = (caller.user_id.clone(), id.to_string());
        self.store()
            .read(move |c| {
                store::task_reads::get_owned(c, &id, &user)?
                    .ok_or_else(|| ShannonError::NotFound("Task not found".into()))
            })
            .await
    }

    /// The caller's task with its result, usage and model breakdown; `not_found` for an unknown or
    /// another user's task.
    pub async fn get_task(&self, caller: &Caller, id: &str) -> Result<TaskDetails> {
        let row = self.owned_task(caller, id).await?;
        let task_uuid = row.id.clone();
        let (breakdown, agents) = self
            .store()
            .read(move |c| {
                Ok((
                    model_breakdown(c, &task_uuid)?,
                    agent_usages(c, &task_uuid)?,
                ))
            })
            .await?;
        let mut details = row.into_details(breakdown);
        // Per agent, as the cloud's (deprecated but read) `agent_usages`; only for multi-agent runs.
        if agents.len() > 1
            && let Some(m) = details.metadata.as_object_mut()
        {
            m.insert("agent_usages".into(), Value::Array(agents));
        }
        Ok(details)
    }

    /// Stored events, ascending by seq: `limit` 1..200 (default 50), `offset` ≥ 0.
    pub async fn get_task_events(
        &self,
        caller: &Caller,
        id: &str,
        limit: Option<u32>,
        offset: Option<u32>,
    ) -> Result<TaskEventsPage> {
        let limit = limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(ShannonError::invalid("limit must be between 1 and 200"));
        }
        let row = self.owned_task(caller, id).await?;
        // Whatever this task emitted before the call is stored first, within a bound (a finished
        // task has nothing waiting: its read never queues behind other tasks' events). Waiting
        // without one made a read of a running task hang as long as a full disk lasted.
        let settled = self
            .engine()
            .hub
            .settle_for_read(&row.workflow_id, READ_SETTLE)
            .await;
        let wf = row.workflow_id;
        let events = self
            .store()
            .read(move |c| read_events(c, &wf, 0, limit, offset.unwrap_or(0)))
            .await?;
        Ok(TaskEventsPage {
            count: events.len() as u32,
            events,
            pending: !settled,
        })
    }

    /// Stored events with `seq > after_seq`, for resuming subscribers.
    pub async fn task_events_after(
        &self,
        caller: &Caller,
        id: &str,
        after_seq: u32,
    ) -> Result<Vec<TaskEvent>> {
        let row = self.owned_task(caller, id).await?;
        // Bounded, as above: a timeline of a running task shows what is stored so far.
        self.engine()
            .hub
            .settle_for_read(&row.workflow_id, READ_SETTLE)
            .await;
        let wf = row.workflow_id;
        self.store()
            .read(move |c| read_events(c, &wf, after_seq, u32::MAX, 0))
            .await
    }
}

impl TaskRow {
    /// Where the task runs; one this build does not know is a clear error, never a local run.
    pub fn executor(&self) -> Result<super::Executor> {
        super::Executor::from_db(&self.executor)
    }

    /// How the task runs: as stored, or as its mode and context decide for an older task.
    pub fn strategy(&self) -> super::Strategy {
        super::Strategy::of_stored(self.strategy.as_deref(), &self.mode, &self.context)
    }

    fn into_details(self, breakdown: Vec<Value>) -> TaskDetails {
        let result = self.result.clone().unwrap_or_default();
        let response = serde_json::from_str::<Value>(&result)
            .ok()
            .filter(|v| v.is_object() || v.is_array());
        let mut metadata =
            serde_json::from_str::<Value>(&self.metadata).unwrap_or_else(|_| json!({}));
        if let Some(m) = metadata.as_object_mut() {
            m.remove("resume_state");
            m.insert("model_breakdown".into(), Value::Array(breakdown));
            if self.total_tokens > 0 {
                m.insert("input_tokens".into(), self.input_tokens.into());
                m.insert("output_tokens".into(), self.output_tokens.into());
                m.insert("total_tokens".into(), self.total_tokens.into());
                m.insert("cost_usd".into(), json!(self.cost_usd));
                m.insert("cache_read_tokens".into(), self.cache_read_tokens.into());
                m.insert(
                    "cache_creation_tokens".into(),
                    self.cache_creation_tokens.into(),
                );
            }
            if let Some(model) = &self.model_used {
                m.insert("model_used".into(), json!(model));
                m.insert("model".into(), json!(model));
            }
            if let Some(p) = &self.provider {
                m.insert("provider".into(), json!(p));
            }
        }
        let positive = |n: u32| (n > 0).then_some(n);
        let usage = (self.total_tokens > 0).then(|| TaskUsage {
            total_tokens: positive(self.total_tokens),
            input_tokens: positive(self.input_tokens),
            output_tokens: positive(self.output_tokens),
            estimated_cost: (self.cost_usd > 0.0).then_some(self.cost_usd),
        });
        let status = self.status.api().to_string();
        let unified_response = self.status.is_terminal().then(|| {
            json!({
                "task_id": self.workflow_id,
                "session_id": self.session_id,
                "status": status,
                "result": result,
                "metadata": {"model": self.model_used, "execution_mode": self.mode, "agents_used": 1},
                "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                          "total_tokens": self.total_tokens, "cost_usd": self.cost_usd,
                          "cache_read_tokens": self.cache_read_tokens, "cache_creation_tokens": self.cache_creation_tokens},
                "performance": {"execution_time_ms": self.duration_ms},
                "stop_reason": self.status.db().to_ascii_lowercase(),
                "error": self.error_message,
                "timestamp": self.completed_at,
            })
        });
        TaskDetails {
            task_id: self.workflow_id.clone(),
            workflow_id: self.workflow_id,
            status,
            result,
            response,
            error: self.error_message,
            created_at: self.created_at,
            updated_at: self.updated_at,
            started_at: self.started_at,
            completed_at: self.completed_at,
            query: self.query,
            session_id: self.session_id,
            mode: Mode::parse(&self.mode)
                .unwrap_or(Mode::Standard)
                .as_str()
                .to_string(),
            context: serde_json::from_str(&self.context).ok(),
            model_used: self.model_used,
            provider: self.provider,
            usage,
            metadata,
            unified_response,
            executor: self.executor,
        }
    }
}

/// `metadata.agent_usages`: one entry per (agent, model, provider), in order of first use.
fn agent_usages(c: &rusqlite::Connection, task_uuid: &str) -> Result<Vec<Value>> {
    Ok(store::steps::usage_by_agent(c, task_uuid)?
        .into_iter()
        .map(|u| {
            json!({
                "agent_id": u.agent_id, "model": u.model,
                "provider": u.provider, "input_tokens": u.input_tokens,
                "output_tokens": u.output_tokens, "total_tokens": u.total_tokens,
                "cost_usd": u.cost_usd,
            })
        })
        .collect())
}

/// `metadata.model_breakdown`: one entry per (provider, model), by cost descending.
fn model_breakdown(c: &rusqlite::Connection, task_uuid: &str) -> Result<Vec<Value>> {
    let rows = store::steps::usage_by_model(c, task_uuid)?;
    let total_cost: f64 = rows.iter().map(|r| r.cost_usd).sum();
    Ok(rows
        .into_iter()
        .map(|r| {
            let cost = r.cost_usd;
            let mut v = json!({
                "model": r.model, "provider": r.provider, "executions": r.executions, "tokens": r.total_tokens,
                "cost_usd": cost,
                "percentage": if total_cost > 0.0 { (cost / total_cost * 100.0).round() as u32 } else { 0 },
            });
            if r.cache_read_tokens > 0 {
                v["cache_read_tokens"] = r.cache_read_tokens.into();
            }
            if r.cache_creation_tokens > 0 {
                v["cache_creation_tokens"] = r.cache_creation_tokens.into();
            }
            v
        })
        .collect())
}
