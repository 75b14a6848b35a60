//! Sessions: created on first use, owned by a user, addressed by internal UUID or the client's id.

use std::sync::LazyLock;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::events::read_events;
use super::lifecycle::{EventType, TaskStatus};
use super::request::TaskPlan;
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::{Core, time};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SessionSummary {
    pub session_id: String,
    pub user_id: String,
    pub title: Option<String>,
    pub task_count: u32,
    pub tokens_used: u32,
    pub token_budget: u32,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub expires_at: Option<String>,
    pub context: Value,
    pub last_activity_at: Option<String>,
    pub is_active: bool,
    pub successful_tasks: u32,
    pub failed_tasks: u32,
    pub success_rate: Option<f64>,
    pub total_cost_usd: f64,
    pub average_cost_per_task: Option<f64>,
    pub budget_utilization: Option<f64>,
    pub budget_remaining: Option<u32>,
    pub is_near_budget_limit: bool,
    pub latest_task_query: Option<String>,
    /// Unprefixed: `RUNNING`, `COMPLETED`, … (as the cloud's session list).
    pub latest_task_status: Option<String>,
    pub is_research_session: bool,
    pub first_task_mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SessionList {
    pub sessions: Vec<SessionSummary>,
    pub total_count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct TaskHistory {
    /// Internal task UUID (as the cloud).
    pub task_id: String,
    pub workflow_id: String,
    pub query: String,
    pub status: String,
    pub mode: Option<String>,
    pub result: Option<String>,
    pub error_message: Option<String>,
    pub total_tokens: u32,
    pub total_cost_usd: f64,
    pub duration_ms: Option<u32>,
    pub agents_used: u32,
    pub tools_invoked: u32,
    pub started_at: String,
    pub completed_at: Option<String>,
    pub metadata: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SessionHistory {
    pub session_id: String,
    pub tasks: Vec<TaskHistory>,
    pub total: u32,
}

/// An event inside a turn: `payload` is JSON text, present only when asked for (as the cloud).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct TurnEvent {
    pub workflow_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub agent_id: Option<String>,
    pub message: Option<String>,
    pub timestamp: String,
    pub seq: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct Turn {
    pub turn: u32,
    pub task_id: String,
    pub user_query: String,
    pub final_output: Option<String>,
    pub timestamp: String,
    pub events: Vec<TurnEvent>,
    pub metadata: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SessionTurns {
    pub session_id: String,
    /// Total number of turns in the session.
    pub count: u32,
    pub turns: Vec<Turn>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SessionRenamed {
    pub session_id: String,
    pub title: String,
}

/// (task uuid, workflow id, query, result, started, tokens, duration) of one turn.
type TurnRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    u32,
    Option<u32>,
);

/// Finds the caller's live session by UUID or external id, or creates it (contract §1.3, §4.1).
pub(crate) fn ensure_session(
    tx: &rusqlite::Transaction<'_>,
    user: &str,
    requested: Option<&str>,
    plan: &TaskPlan,
    now: &str,
) -> Result<String> {
    if let Some(id) = requested
        && let Some(found) = tx
            .query_row(
                "SELECT id FROM sessions WHERE user_id = ?1 AND deleted_at IS NULL AND (id = ?2 OR external_id = ?2)
                 ORDER BY created_at DESC LIMIT 1",
                params![user, id],
                |r| r.get::<_, String>(0),
            )
            .optional()?
    {
        tx.execute("UPDATE sessions SET updated_at = ?2 WHERE id = ?1", params![found, now])?;
        return Ok(found);
    }
    let (id, external) = match requested {
        None => (uuid::Uuid::new_v4().to_string(), None),
        Some(r) => {
            let taken: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM sessions WHERE id = ?1)",
                [r],
                |x| x.get(0),
            )?;
            if uuid::Uuid::parse_str(r).is_ok() && !taken {
                (r.to_string(), None)
            } else {
                (uuid::Uuid::new_v4().to_string(), Some(r.to_string()))
            }
        }
    };
    let ctx = &plan.context;
    let mut context = json!({
        "created_from": "task",
        "first_task_mode": plan.requested_mode.as_str(),
    });
    if let Some(e) = &external {
        context["external_id"] = json!(e);
    }
    for key in ["role", "research_strategy", "force_research"] {
        if let Some(v) = ctx.get(key) {
            context[key] = v.clone();
        }
    }
    tx.execute(
        "INSERT INTO sessions (id, user_id, external_id, context, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![id, user, external, context.to_string(), now],
    )?;
    Ok(id)
}

/// A title from the first question: one line, control characters dropped, at most 60 characters.
pub fn title_from(text: &str) -> String {
    let line: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control() && !is_zero_width(*c))
        .collect();
    if line.chars().count() <= 60 {
        line
    } else {
        let cut: String = line.chars().take(57).collect();
        format!("{}...", cut.trim_end())
    }
}

fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}')
}

static SUMMARY_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "
SELECT s.id, s.user_id, s.title, s.token_budget, s.tokens_used, s.total_cost_usd, s.created_at, s.updated_at,
       s.expires_at, s.context,
       (SELECT coalesce(sum(c.n), 0) FROM task_counts c WHERE c.user_id = s.user_id AND c.session_id = s.id),
       (SELECT coalesce(sum(c.n), 0) FROM task_counts c WHERE c.user_id = s.user_id AND c.session_id = s.id
           AND c.status = '{completed}'),
       (SELECT coalesce(sum(c.n), 0) FROM task_counts c WHERE c.user_id = s.user_id AND c.session_id = s.id
           AND c.status IN ({failed})),
       (SELECT max(t.completed_at) FROM tasks t WHERE t.session_id = s.id),
       (SELECT t.query FROM tasks t WHERE t.session_id = s.id ORDER BY t.created_at DESC LIMIT 1),
       (SELECT t.status FROM tasks t WHERE t.session_id = s.id ORDER BY t.created_at DESC LIMIT 1)
FROM sessions s",
        completed = TaskStatus::Completed.db(),
        failed = TaskStatus::sql_list([TaskStatus::Failed, TaskStatus::Timeout]),
    )
});

fn read_summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionSummary> {
    let token_budget: u32 = r.get(3)?;
    let tokens_used: u32 = r.get(4)?;
    let total_cost: f64 = r.get(5)?;
    let context: Value =
        serde_json::from_str(&r.get::<_, String>(9)?).unwrap_or_else(|_| json!({}));
    let task_count: u32 = r.get(10)?;
    let successful: u32 = r.get(11)?;
    let failed: u32 = r.get(12)?;
    let last_activity: Option<String> = r.get(13)?;
    let is_active = last_activity
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| chrono::Utc::now().signed_duration_since(t) < chrono::Duration::hours(24));
    let utilization = (token_budget > 0).then(|| f64::from(tokens_used) / f64::from(token_budget));
    let finished = successful + failed;
    Ok(SessionSummary {
        session_id: r.get(0)?,
        user_id: r.get(1)?,
        title: r.get(2)?,
        task_count,
        tokens_used,
        token_budget,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
        expires_at: r.get(8)?,
        is_research_session: context.get("research_strategy").is_some()
            || context.get("force_research").and_then(Value::as_bool) == Some(true),
        first_task_mode: context
            .get("first_task_mode")
            .and_then(Value::as_str)
            .map(str::to_string),
        context,
        last_activity_at: last_activity,
        is_active,
        successful_tasks: successful,
        failed_tasks: failed,
        success_rate: (finished > 0).then(|| f64::from(successful) / f64::from(finished)),
        total_cost_usd: total_cost,
        average_cost_per_task: (task_count > 0).then(|| total_cost / f64::from(task_count)),
        budget_utilization: utilization,
        budget_remaining: (token_budget > 0).then(|| token_budget.saturating_sub(tokens_used)),
        is_near_budget_limit: utilization.is_some_and(|u| u > 0.9),
        latest_task_query: r.get(14)?,
        latest_task_status: r.get(15)?,
    })
}

/// Validates a session id as the cloud does.
fn validate_session_id(id: &str) -> Result<()> {
    super::tasks::validate_task_id(id)
        .map_err(|_| ShannonError::invalid("Invalid session_id format"))
}

impl Core {
    /// Newest first; `limit` 1..100 (invalid values fall back to 20, as the cloud).
    pub async fn list_sessions(
        &self,
        caller: &Caller,
        limit: Option<u32>,
        offset: Option<u32>,
    ) -> Result<SessionList> {
        let limit = limit.filter(|l| (1..=100).contains(l)).unwrap_or(20);
        let offset = offset.unwrap_or(0);
        let user = caller.user_id.clone();
        self.store()
            .read(move |c| {
                // A counter the database maintains (migration 05), not a scan of every session.
                let total: u32 = c.query_row(
                    "SELECT coalesce((SELECT n FROM session_counts WHERE user_id = ?1), 0)",
                    [&user],
                    |r| r.get(0),
                )?;
                let mut stmt = c.prepare_cached(&format!(
                    "{} WHERE s.user_id = ?1 AND s.deleted_at IS NULL
                     ORDER BY s.created_at DESC, s.rowid DESC LIMIT ?2 OFFSET ?3",
                    *SUMMARY_SQL
                ))?;
                let sessions = stmt
                    .query_map(params![user, limit, offset], read_summary)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(SessionList {
                    sessions,
                    total_count: total,
                })
            })
            .await
    }

    /// One live session of the caller, by UUID or external id.
    pub async fn get_session(&self, caller: &Caller, id: &str) -> Result<SessionSummary> {
        validate_session_id(id)?;
        let (user, id) = (caller.user_id.clone(), id.to_string());
        self.store()
            .read(move |c| {
                c.query_row(
                    &format!(
                        "{} WHERE s.user_id = ?1 AND s.deleted_at IS NULL AND (s.id = ?2 OR s.external_id = ?2)
                         ORDER BY s.created_at DESC LIMIT 1",
                        *SUMMARY_SQL
                    ),
                    params![user, id],
                    read_summary,
                )
                .optional()?
                .ok_or_else(|| ShannonError::NotFound("Session not found".into()))
            })
            .await
    }

    /// Every task of the session, oldest first.
    pub async fn get_session_history(&self, caller: &Caller, id: &str) -> Result<SessionHistory> {
        let session = self.get_session(caller, id).await?;
        let sid = session.session_id.clone();
        let tasks = self
            .store()
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT t.id, t.workflow_id, t.query, t.status, t.mode, t.result, t.error_message, t.total_tokens,
                            t.cost_usd, t.duration_ms, coalesce(t.started_at, t.created_at), t.completed_at, t.metadata,
                            (SELECT count(*) FROM task_events e WHERE e.workflow_id = t.workflow_id AND e.type = ?2),
                            (SELECT count(DISTINCT e.agent_id) FROM task_events e WHERE e.workflow_id = t.workflow_id
                               AND e.type = ?3)
                     FROM tasks t WHERE t.session_id = ?1 ORDER BY coalesce(t.started_at, t.created_at), t.rowid",
                )?;
                let rows = stmt.query_map(
                    params![sid, EventType::ToolInvoked.as_str(), EventType::AgentStarted.as_str()],
                    |r| {
                    let mut metadata: Value =
                        serde_json::from_str(&r.get::<_, String>(12)?).unwrap_or_else(|_| json!({}));
                    if let Some(m) = metadata.as_object_mut() {
                        m.remove("resume_state");
                    }
                    Ok(TaskHistory {
                        task_id: r.get(0)?,
                        workflow_id: r.get(1)?,
                        query: r.get(2)?,
                        status: r.get(3)?,
                        mode: r.get(4)?,
                        result: r.get(5)?,
                        error_message: r.get(6)?,
                        total_tokens: r.get(7)?,
                        total_cost_usd: r.get(8)?,
                        duration_ms: r.get(9)?,
                        started_at: r.get(10)?,
                        completed_at: r.get(11)?,
                        metadata: Some(metadata),
                        tools_invoked: r.get(13)?,
                        agents_used: r.get(14)?,
                    })
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        Ok(SessionHistory {
            session_id: id.to_string(),
            total: tasks.len() as u32,
            tasks,
        })
    }

    /// Turns (one per task) with their events; `limit` 1..100 turns (default 10).
    pub async fn get_session_events(
        &self,
        caller: &Caller,
        id: &str,
        limit: Option<u32>,
        offset: Option<u32>,
        include_payload: bool,
    ) -> Result<SessionTurns> {
        let limit = limit.unwrap_or(10);
        if !(1..=100).contains(&limit) {
            return Err(ShannonError::invalid("limit must be between 1 and 100"));
        }
        let offset = offset.unwrap_or(0);
        let session = self.get_session(caller, id).await?;
        let (sid, user) = (session.session_id.clone(), caller.user_id.clone());
        let (count, turns) = self
            .store()
            .read(move |c| {
                let count: u32 = c.query_row(
                    "SELECT coalesce(sum(n), 0) FROM task_counts WHERE session_id = ?1 AND user_id = ?2",
                    params![sid, user],
                    |r| r.get(0),
                )?;
                let tasks: Vec<TurnRow> = c
                    .prepare_cached(
                        "SELECT id, workflow_id, query, result, coalesce(started_at, created_at), total_tokens, duration_ms
                         FROM tasks WHERE session_id = ?1 ORDER BY coalesce(started_at, created_at), rowid LIMIT ?2 OFFSET ?3",
                    )?
                    .query_map(params![sid, limit, offset], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
                    })?
                    .collect::<Result<_, _>>()?;
                let mut turns = Vec::with_capacity(tasks.len());
                for (i, (task_id, wf, query, result, started, tokens, duration)) in tasks.into_iter().enumerate() {
                    let events = read_events(c, &wf, 0, u32::MAX, 0)?;
                    let fallback = events
                        .iter()
                        .find(|e| {
                            e.is(EventType::LlmOutput) && e.agent_id.as_deref() != Some("title_generator")
                        })
                        .and_then(|e| e.message.clone());
                    let mut agents: Vec<String> = events.iter().filter_map(|e| e.agent_id.clone()).collect();
                    agents.sort();
                    agents.dedup();
                    turns.push(Turn {
                        turn: offset + 1 + i as u32,
                        task_id,
                        user_query: query,
                        final_output: result.filter(|r| !r.is_empty()).or(fallback),
                        timestamp: started,
                        events: events
                            .into_iter()
                            .map(|e| TurnEvent {
                                workflow_id: e.workflow_id,
                                event_type: e.event_type,
                                agent_id: e.agent_id,
                                message: e.message,
                                timestamp: e.timestamp,
                                seq: e.seq,
                                payload: if include_payload {
                                    e.payload.map(|p| p.to_string())
                                } else {
                                    None
                                },
                            })
                            .collect(),
                        metadata: json!({"tokens_used": tokens, "execution_time_ms": duration, "agents_involved": agents}),
                    });
                }
                Ok((count, turns))
            })
            .await?;
        Ok(SessionTurns {
            session_id: id.to_string(),
            count,
            turns,
        })
    }

    /// Renames a session: trimmed, control and zero-width characters removed, 1..60 characters.
    pub async fn rename_session(
        &self,
        caller: &Caller,
        id: &str,
        title: &str,
    ) -> Result<SessionRenamed> {
        let clean: String = title
            .trim()
            .chars()
            .filter(|c| !c.is_control() && !is_zero_width(*c))
            .collect::<String>()
            .trim()
            .to_string();
        if clean.is_empty() {
            return Err(ShannonError::invalid("Title cannot be empty"));
        }
        if clean.chars().count() > 60 {
            return Err(ShannonError::invalid("Title must be 60 characters or less"));
        }
        let session = self.get_session(caller, id).await?;
        let (sid, t) = (session.session_id.clone(), clean.clone());
        self.store()
            .write(move |tx| {
                tx.execute(
                    "UPDATE sessions SET title = ?2, context = json_set(context, '$.title', ?2), updated_at = ?3 WHERE id = ?1",
                    params![sid, t, time::now()],
                )?;
                Ok(())
            })
            .await?;
        Ok(SessionRenamed {
            session_id: session.session_id,
            title: clean,
        })
    }

    /// Soft-deletes a session and removes its workspace; deleting it again succeeds too.
    /// `not_found` only if the caller never had such a session.
    pub async fn delete_session(&self, caller: &Caller, id: &str) -> Result<()> {
        validate_session_id(id)?;
        let (user, id) = (caller.user_id.clone(), id.to_string());
        let ids: Vec<String> = self
            .store()
            .write(move |tx| {
                let ids = {
                    let mut stmt = tx.prepare_cached(
                        "SELECT id FROM sessions WHERE user_id = ?1 AND (id = ?2 OR external_id = ?2)",
                    )?;
                    let rows = stmt.query_map(params![user, id], |r| r.get::<_, String>(0))?;
                    rows.collect::<rusqlite::Result<Vec<_>>>()?
                };
                tx.execute(
                    "UPDATE sessions SET deleted_at = coalesce(deleted_at, ?3), deleted_by = coalesce(deleted_by, ?1)
                     WHERE user_id = ?1 AND (id = ?2 OR external_id = ?2)",
                    params![user, id, time::now()],
                )?;
                Ok(ids)
            })
            .await?;
        if ids.is_empty() {
            return Err(ShannonError::NotFound("Session not found".into()));
        }
        for session in ids {
            let Ok(ws) = super::workspace::Workspace::of_session(self.data_dir(), &session) else {
                continue;
            };
            let root = ws.root().to_path_buf();
            if let Err(e) =
                crate::core::store::blocking(move || match std::fs::remove_dir_all(&root) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        Err(ShannonError::Io(e.to_string()))
                    }
                    _ => Ok(()),
                })
                .await
            {
                tracing::warn!(error = %e, "could not remove a deleted session's workspace");
            }
        }
        Ok(())
    }

    /// The stored id of one of the caller's live sessions, by id or external id (404 otherwise).
    pub(crate) async fn owned_session_id(&self, caller: &Caller, id: &str) -> Result<String> {
        validate_session_id(id)?;
        let (user, id) = (caller.user_id.clone(), id.to_string());
        self.store()
            .read(move |c| {
                c.query_row(
                    "SELECT id FROM sessions WHERE user_id = ?1 AND deleted_at IS NULL AND (id = ?2 OR external_id = ?2)
                     ORDER BY created_at DESC LIMIT 1",
                    params![user, id],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
                .ok_or_else(|| ShannonError::NotFound("Session not found".into()))
            })
            .await
    }
}
