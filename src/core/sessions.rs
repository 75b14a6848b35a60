//! Sessions: created on first use, owned by a user, addressed by internal UUID or the client's id.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::run::lifecycle::EventType;
pub use crate::core::store::sessions::TaskHistory;
use crate::core::store::sessions::{self as store, SummaryRow};
use crate::core::streams::read_events;
use crate::core::tasks::Executor;
use crate::core::tasks::request::TaskPlan;
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
    /// Where the session runs: `local`, or `remote:<profile id>` (mirrored from a Shannon cloud).
    pub executor: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SessionList {
    pub sessions: Vec<SessionSummary>,
    pub total_count: u32,
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

/// Finds the caller's live session by UUID or external id, or creates it (see
/// docs/upstream.md#tasks-and-submission).
pub(crate) fn ensure_session(
    tx: &rusqlite::Transaction<'_>,
    user: &str,
    requested: Option<&str>,
    plan: &TaskPlan,
    now: &str,
) -> Result<String> {
    if let Some(id) = requested
        && let Some(found) = store::find_live_id(tx, user, id)?
    {
        store::touch(tx, &found, now)?;
        return Ok(found);
    }
    let (id, external) = match requested {
        None => (uuid::Uuid::new_v4().to_string(), None),
        Some(r) => {
            let taken = store::id_taken(tx, r)?;
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
    store::insert(
        tx,
        &id,
        user,
        external.as_deref(),
        &context.to_string(),
        now,
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

/// A session's summary from its row: the context parsed, the rates and budget figures derived.
fn summary_of(row: SummaryRow) -> SessionSummary {
    let SummaryRow {
        id,
        user_id,
        title,
        token_budget,
        tokens_used,
        total_cost_usd: total_cost,
        created_at,
        updated_at,
        expires_at,
        context,
        task_count,
        successful_tasks: successful,
        failed_tasks: failed,
        last_activity_at: last_activity,
        latest_task_query,
        latest_task_status,
        executor,
    } = row;
    let context: Value = serde_json::from_str(&context).unwrap_or_else(|_| json!({}));
    let is_active = last_activity
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| chrono::Utc::now().signed_duration_since(t) < chrono::Duration::hours(24));
    let utilization = (token_budget > 0).then(|| f64::from(tokens_used) / f64::from(token_budget));
    let finished = successful + failed;
    SessionSummary {
        session_id: id,
        user_id,
        title,
        task_count,
        tokens_used,
        token_budget,
        created_at,
        updated_at,
        expires_at,
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
        latest_task_query,
        latest_task_status,
        executor,
    }
}

/// A history entry from its row: the metadata parsed, without the engine's resume state.
/// A task of the history as the cloud shows it: without the run's internal resume state.
fn history_of(mut task: TaskHistory) -> TaskHistory {
    if let Some(m) = task.metadata.as_mut().and_then(Value::as_object_mut) {
        m.remove("resume_state");
    }
    task
}

/// Validates a session id as the cloud does.
fn validate_session_id(id: &str) -> Result<()> {
    crate::core::tasks::read::validate_task_id(id)
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
                let total = store::count_for_user(c, &user)?;
                let sessions = store::list_for_user(c, &user, limit, offset)?
                    .into_iter()
                    .map(summary_of)
                    .collect();
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
                store::get_live(c, &user, &id)?
                    .map(summary_of)
                    .ok_or_else(|| ShannonError::NotFound("Session not found".into()))
            })
            .await
    }

    /// Every task of the session, oldest first.
    pub async fn get_session_history(&self, caller: &Caller, id: &str) -> Result<SessionHistory> {
        let session = self.get_session(caller, id).await?;
        let sid = session.session_id.clone();
        let mut tasks = self
            .store()
            .read(move |c| {
                Ok(store::list_history(c, &sid)?
                    .into_iter()
                    .map(history_of)
                    .collect::<Vec<_>>())
            })
            .await?;
        // A session made on a cloud by another client: its tasks are there until pulled.
        if tasks.is_empty()
            && let Ok(Executor::Remote(profile)) = Executor::from_db(&session.executor)
            && let Some(remote) = self.remote_history_of(&session.session_id, &profile).await
        {
            tasks = remote;
        }
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
                let count = store::count_turns(c, &sid, &user)?;
                let tasks = store::list_turns(c, &sid, limit, offset)?;
                let mut turns = Vec::with_capacity(tasks.len());
                for (i, row) in tasks.into_iter().enumerate() {
                    let store::TurnRow {
                        task_id,
                        workflow_id: wf,
                        query,
                        result,
                        started_at: started,
                        total_tokens: tokens,
                        duration_ms: duration,
                    } = row;
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
        self.change_remote_session(
            &session.session_id,
            crate::core::remote::sessions::SessionChange::Rename(&clean),
        )
        .await?;
        let (sid, t) = (session.session_id.clone(), clean.clone());
        self.store()
            .write(move |tx| {
                store::rename(tx, &sid, &t, &time::now())?;
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
        // A remote session is deleted on its cloud first (deleting twice succeeds, as here).
        if let Ok(session) = self.get_session(caller, id).await {
            self.change_remote_session(
                &session.session_id,
                crate::core::remote::sessions::SessionChange::Delete,
            )
            .await?;
        }
        let (user, id) = (caller.user_id.clone(), id.to_string());
        let ids: Vec<String> = self
            .store()
            .write(move |tx| {
                let ids = store::find_ids_any(tx, &user, &id)?;
                store::soft_delete(tx, &user, &id, &time::now())?;
                Ok(ids)
            })
            .await?;
        if ids.is_empty() {
            return Err(ShannonError::NotFound("Session not found".into()));
        }
        for session in ids {
            let Ok(ws) = crate::core::files::Workspace::of_session(self.data_dir(), &session)
            else {
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
                store::find_live_id(c, &user, &id)?
                    .ok_or_else(|| ShannonError::NotFound("Session not found".into()))
            })
            .await
    }
}
