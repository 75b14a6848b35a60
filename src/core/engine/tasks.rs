//! Task operations: submit (with idempotency), get, list, events, control state, pause/resume/cancel.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::events::read_events;
use super::models::model_for_tier;
use super::request::{Mode, SubmitTaskRequest, TaskPlan};
use super::runner::{self, RunSpec};
use super::sessions::ensure_session;
use super::{RunControl, TaskEvent};
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::providers;
use crate::core::{Core, time};

/// Submit response (contract §3.3). `workflow_id` and `session_id` are also sent as headers by HTTP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SubmitTaskResponse {
    pub task_id: String,
    pub workflow_id: String,
    pub session_id: String,
    /// `STATUS_CODE_OK`.
    pub status: String,
    pub message: String,
    pub created_at: String,
    /// True when an `Idempotency-Key` matched an earlier submission and this is its replay.
    pub idempotent_replay: bool,
}

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

/// `GET /api/v1/tasks/{id}` (contract §3.3). Unlike the cloud, `created_at`/`updated_at` are real.
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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct TokenUsageSummary {
    pub total_tokens: u32,
    pub cost_usd: f64,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct TaskSummary {
    pub task_id: String,
    pub query: String,
    pub status: String,
    /// `EXECUTION_MODE_*` (supervisor maps to STANDARD, as the cloud).
    pub mode: String,
    pub session_id: Option<String>,
    pub created_at: Option<String>,
    pub completed_at: Option<String>,
    pub total_token_usage: Option<TokenUsageSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct TaskList {
    pub tasks: Vec<TaskSummary>,
    pub total_count: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct ListTasksQuery {
    /// 1..100, default 20.
    pub limit: Option<u32>,
    pub offset: Option<u32>,
    pub session_id: Option<String>,
    /// QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED (or CANCELED), TIMEOUT; case-insensitive.
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct TaskEventsPage {
    pub events: Vec<TaskEvent>,
    /// Number of events in this page.
    pub count: u32,
}

/// `GET /api/v1/tasks/{id}/control-state`: every key always present, strings possibly empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ControlState {
    pub is_paused: bool,
    pub is_cancelled: bool,
    pub paused_at: String,
    pub pause_reason: String,
    pub paused_by: String,
    pub cancel_reason: String,
    pub cancelled_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ControlResponse {
    pub success: bool,
    pub message: String,
    pub task_id: String,
}

/// The cloud's id rule for task ids and workflow ids (contract §1.3).
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

fn api_status(db: &str) -> String {
    format!("TASK_STATUS_{db}")
}

fn is_terminal(db: &str) -> bool {
    matches!(db, "COMPLETED" | "FAILED" | "CANCELLED" | "TIMEOUT")
}

fn state_word(db: &str) -> &'static str {
    match db {
        "COMPLETED" => "completed",
        "FAILED" => "failed",
        "CANCELLED" => "cancelled",
        "TIMEOUT" => "timed out",
        _ => "running",
    }
}

/// Which provider and model a plan runs on, and why.
pub(crate) struct ProviderChoice {
    pub provider: String,
    pub model: String,
    /// Set when the default provider had no key and the offline demo was used instead.
    pub fallback_note: Option<String>,
}

impl Core {
    pub(crate) async fn choose_provider(
        &self,
        caller: &Caller,
        plan: &TaskPlan,
    ) -> Result<ProviderChoice> {
        let defaults = self
            .engine()
            .defaults
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        // A model named without a provider runs on that model's provider.
        let inferred = plan
            .provider
            .is_none()
            .then(|| {
                plan.model_override
                    .as_deref()
                    .and_then(super::models::provider_for_model)
            })
            .flatten()
            .map(str::to_string);
        let explicit = plan.provider.is_some() || inferred.is_some();
        let wanted = plan
            .provider
            .clone()
            .or(inferred)
            .unwrap_or(defaults.provider.clone());
        let spec = providers::lookup(&wanted)?;
        let status = self.provider_status(caller).await?;
        let ready = status
            .iter()
            .find(|s| s.provider == spec.id)
            .is_some_and(|s| s.ready);
        let (provider, fallback_note) = if ready {
            (spec.id.to_string(), None)
        } else if explicit {
            return Err(ShannonError::ProviderNotReady(
                status
                    .iter()
                    .find(|s| s.provider == spec.id)
                    .and_then(|s| s.reason.clone())
                    .unwrap_or_else(|| format!("{} is not configured", spec.id)),
            ));
        } else {
            (
                "demo".to_string(),
                Some(format!(
                    "No API key is configured for {}: answering with the offline demo provider (canned text, no model is called).",
                    spec.display_name
                )),
            )
        };
        let model = if provider == "demo" {
            model_for_tier("demo", "medium").to_string()
        } else if let Some(m) = &plan.model_override {
            m.clone()
        } else if let Some(tier) = &plan.model_tier {
            model_for_tier(&provider, tier).to_string()
        } else if provider == defaults.provider
            && let Some(m) = defaults.model
        {
            m
        } else {
            model_for_tier(&provider, "medium").to_string()
        };
        Ok(ProviderChoice {
            provider,
            model,
            fallback_note,
        })
    }

    /// Submits a task and starts it. With an idempotency key, a repeat of the same submission by the
    /// same user within 24 h returns the first response instead of starting another task.
    pub async fn submit_task(
        &self,
        caller: &Caller,
        req: SubmitTaskRequest,
        idempotency_key: Option<&str>,
    ) -> Result<SubmitTaskResponse> {
        let cache_key = idempotency_key.map(|k| {
            let body = serde_json::to_string(&req).unwrap_or_default();
            let digest = Sha256::digest(format!("{k}\n{}\nsubmit_task\n{body}", caller.user_id));
            hex::encode(&digest[..16])
        });
        if let Some(key) = cache_key.clone() {
            let user = caller.user_id.clone();
            let cached: Option<Vec<u8>> = self
                .store()
                .read(move |c| {
                    Ok(c.query_row(
                        "SELECT body FROM idempotency_records WHERE cache_key = ?1 AND user_id = ?2 AND expires_at > ?3",
                        params![key, user, time::now()],
                        |r| r.get(0),
                    )
                    .optional()?)
                })
                .await?;
            if let Some(body) = cached {
                let mut resp: SubmitTaskResponse = serde_json::from_slice(&body).map_err(|e| {
                    ShannonError::Internal(format!("stored idempotent response: {e}"))
                })?;
                resp.idempotent_replay = true;
                return Ok(resp);
            }
        }

        let plan = req.into_plan()?;
        let choice = self.choose_provider(caller, &plan).await?;
        let task_id = uuid::Uuid::new_v4().to_string();
        let workflow_id = format!(
            "task-{}-{}-{}",
            caller.user_id,
            time::unix_now(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let now = time::now();
        let mut metadata = Map::new();
        metadata.insert("task_context".into(), Value::Object(plan.context.clone()));
        metadata.insert("requested_provider".into(), json!(choice.provider));
        metadata.insert("requested_model".into(), json!(choice.model));
        let row = (
            task_id.clone(),
            workflow_id.clone(),
            caller.user_id.clone(),
            plan.clone(),
            now.clone(),
            Value::Object(metadata).to_string(),
        );
        let session_id = self
            .store()
            .write(move |tx| {
                let (task_id, workflow_id, user, plan, now, metadata) = row;
                let session = ensure_session(tx, &user, plan.session_id.as_deref(), &plan, &now)?;
                tx.execute(
                    "INSERT INTO tasks (id, workflow_id, user_id, session_id, query, mode, status, context, metadata, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'QUEUED', ?7, ?8, ?9, ?9)",
                    params![
                        task_id,
                        workflow_id,
                        user,
                        session,
                        plan.query,
                        plan.requested_mode.as_str(),
                        Value::Object(plan.context.clone()).to_string(),
                        metadata,
                        now
                    ],
                )?;
                tx.execute(
                    "INSERT INTO workflow_control (workflow_id, updated_at) VALUES (?1, ?2)",
                    params![workflow_id, now],
                )?;
                Ok(session)
            })
            .await?;
        let hub = &self.engine().hub;
        hub.open_stream(&workflow_id, 0);
        hub.emit(
            &workflow_id,
            "DATA_PROCESSING",
            Some("orchestrator"),
            Some("Gathering context".into()),
            None,
        );
        let response = SubmitTaskResponse {
            task_id: workflow_id.clone(),
            workflow_id: workflow_id.clone(),
            session_id: session_id.clone(),
            status: "STATUS_CODE_OK".into(),
            message: format!("Task submitted successfully. Session: {session_id}"),
            created_at: now.clone(),
            idempotent_replay: false,
        };
        if let Some(key) = cache_key {
            let body = serde_json::to_vec(&response)?;
            let user = caller.user_id.clone();
            let expires = time::format(chrono::Utc::now() + chrono::Duration::hours(24));
            self.store()
                .write(move |tx| {
                    tx.execute("DELETE FROM idempotency_records WHERE expires_at <= ?1", [time::now()])?;
                    tx.execute(
                        "INSERT OR REPLACE INTO idempotency_records (cache_key, user_id, method, path, status_code, body, created_at, expires_at)
                         VALUES (?1, ?2, 'CALL', 'submit_task', 200, ?3, ?4, ?5)",
                        params![key, user, body, time::now(), expires],
                    )?;
                    Ok(())
                })
                .await?;
        }
        runner::spawn(
            self.clone(),
            RunSpec {
                caller: caller.clone(),
                task_id,
                workflow_id,
                session_id,
                plan,
                provider: choice.provider,
                model: choice.model,
                fallback_note: choice.fallback_note,
                resume: None,
                start_paused: false,
            },
        );
        Ok(response)
    }

    /// Loads a task row the caller owns (`not_found` otherwise, as the cloud's 404).
    pub(crate) async fn owned_task(&self, caller: &Caller, id: &str) -> Result<TaskRow> {
        validate_task_id(id)?;
        let (user, id) = (caller.user_id.clone(), id.to_string());
        self.store()
            .read(move |c| {
                c.query_row(
                    &format!(
                        "SELECT {TASK_COLUMNS} FROM tasks WHERE workflow_id = ?1 AND user_id = ?2"
                    ),
                    params![id, user],
                    TaskRow::read,
                )
                .optional()?
                .ok_or_else(|| ShannonError::NotFound("Task not found".into()))
            })
            .await
    }

    pub async fn get_task(&self, caller: &Caller, id: &str) -> Result<TaskDetails> {
        let row = self.owned_task(caller, id).await?;
        let task_uuid = row.id.clone();
        let breakdown = self
            .store()
            .read(move |c| model_breakdown(c, &task_uuid))
            .await?;
        Ok(row.into_details(breakdown))
    }

    pub async fn list_tasks(&self, caller: &Caller, q: ListTasksQuery) -> Result<TaskList> {
        let limit = q.limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(ShannonError::invalid("limit must be between 1 and 100"));
        }
        let offset = q.offset.unwrap_or(0);
        let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => {
                let s = s.to_ascii_uppercase();
                let s = s.strip_prefix("TASK_STATUS_").unwrap_or(&s).to_string();
                match s.as_str() {
                    "QUEUED" | "RUNNING" | "COMPLETED" | "FAILED" | "CANCELLED" | "TIMEOUT" => {
                        Some(s)
                    }
                    "CANCELED" => Some("CANCELLED".to_string()),
                    _ => return Err(ShannonError::invalid("Invalid status value")),
                }
            }
        };
        let session = q.session_id.filter(|s| !s.is_empty());
        if let Some(s) = &session {
            validate_task_id(s).map_err(|_| ShannonError::invalid("Invalid session_id format"))?;
        }
        let user = caller.user_id.clone();
        self.store()
            .read(move |c| {
                // A session filter accepts the internal UUID or the client's external id.
                let filter = "FROM tasks t LEFT JOIN sessions s ON s.id = t.session_id
                     WHERE t.user_id = ?1 AND (?2 IS NULL OR t.status = ?2)
                       AND (?3 IS NULL OR s.id = ?3 OR s.external_id = ?3)";
                let total: u32 = c.query_row(
                    &format!("SELECT count(*) {filter}"),
                    params![user, status, session],
                    |r| r.get(0),
                )?;
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT t.workflow_id, t.query, t.status, t.mode, t.session_id, coalesce(t.started_at, t.created_at),
                            t.completed_at, t.total_tokens, t.cost_usd, t.input_tokens, t.output_tokens
                     {filter} ORDER BY t.created_at DESC, t.rowid DESC LIMIT ?4 OFFSET ?5"
                ))?;
                let tasks = stmt
                    .query_map(params![user, status, session, limit, offset], |r| {
                        let mode: String = r.get(3)?;
                        let total_tokens: u32 = r.get(7)?;
                        let cost: f64 = r.get(8)?;
                        Ok(TaskSummary {
                            task_id: r.get(0)?,
                            query: r.get(1)?,
                            status: api_status(&r.get::<_, String>(2)?),
                            mode: format!(
                                "EXECUTION_MODE_{}",
                                match mode.as_str() {
                                    "simple" => "SIMPLE",
                                    "complex" => "COMPLEX",
                                    _ => "STANDARD",
                                }
                            ),
                            session_id: r.get(4)?,
                            created_at: r.get(5)?,
                            completed_at: r.get(6)?,
                            total_token_usage: (total_tokens > 0 || cost > 0.0).then(|| TokenUsageSummary {
                                total_tokens,
                                cost_usd: cost,
                                prompt_tokens: r.get(9).unwrap_or(0),
                                completion_tokens: r.get(10).unwrap_or(0),
                            }),
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(TaskList {
                    tasks,
                    total_count: total,
                })
            })
            .await
    }

    /// Stored events, ascending by seq: `limit` 1..200 (default 50), `offset` ≥ 0.
    pub async fn task_events(
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
        // Read-your-writes: whatever was emitted before this call is stored first.
        self.engine().hub.flush().await;
        let wf = row.workflow_id;
        let events = self
            .store()
            .read(move |c| read_events(c, &wf, 0, limit, offset.unwrap_or(0)))
            .await?;
        Ok(TaskEventsPage {
            count: events.len() as u32,
            events,
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
        self.engine().hub.flush().await;
        let wf = row.workflow_id;
        self.store()
            .read(move |c| read_events(c, &wf, after_seq, u32::MAX, 0))
            .await
    }

    /// Live events of a task the caller owns, from now on. For a task whose run has ended the
    /// receiver is already closed (its events are all stored: see [`Core::stream_task`] to replay).
    pub async fn subscribe_task(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<tokio::sync::broadcast::Receiver<TaskEvent>> {
        let row = self.owned_task(caller, id).await?;
        Ok(self
            .engine()
            .hub
            .subscribe_existing(&row.workflow_id)
            .unwrap_or_else(|| tokio::sync::broadcast::channel(1).1))
    }

    pub async fn control_state(&self, caller: &Caller, id: &str) -> Result<ControlState> {
        let row = self.owned_task(caller, id).await?;
        let wf = row.workflow_id;
        self.store()
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT is_paused, is_cancelled, paused_at, pause_reason, paused_by, cancel_reason, cancelled_by
                     FROM workflow_control WHERE workflow_id = ?1",
                    [wf],
                    |r| {
                        Ok(ControlState {
                            is_paused: r.get(0)?,
                            is_cancelled: r.get(1)?,
                            paused_at: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                            pause_reason: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                            paused_by: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                            cancel_reason: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                            cancelled_by: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                        })
                    },
                )
                .optional()?
                .unwrap_or_default())
            })
            .await
    }

    /// Asks a running task to pause at its next checkpoint.
    pub async fn pause_task(
        &self,
        caller: &Caller,
        id: &str,
        reason: Option<String>,
    ) -> Result<ControlResponse> {
        self.set_paused(caller, id, true, reason).await
    }

    pub async fn resume_task(
        &self,
        caller: &Caller,
        id: &str,
        reason: Option<String>,
    ) -> Result<ControlResponse> {
        self.set_paused(caller, id, false, reason).await
    }

    /// Pause and resume: the contract's state checks, the persisted control state and task status,
    /// the announcing event, then the signal to the run.
    async fn set_paused(
        &self,
        caller: &Caller,
        id: &str,
        pause: bool,
        reason: Option<String>,
    ) -> Result<ControlResponse> {
        let verb = if pause { "pause" } else { "resume" };
        let row = self.owned_task(caller, id).await?;
        if is_terminal(&row.status) {
            return Err(ShannonError::InvalidState(format!(
                "cannot {verb} {} task",
                state_word(&row.status)
            )));
        }
        let control = self.run_control_or_err(&row.workflow_id)?;
        match (pause, *control.pause.borrow()) {
            (true, true) => {
                return Err(ShannonError::InvalidState("task is already paused".into()));
            }
            (false, false) => return Err(ShannonError::InvalidState("task is not paused".into())),
            _ => {}
        }
        let reason = clean_reason(reason);
        let (wf, by, r) = (
            row.workflow_id.clone(),
            caller.user_id.clone(),
            reason.clone(),
        );
        self.store()
            .write(move |tx| {
                let now = time::now();
                if pause {
                    tx.execute(
                        "UPDATE workflow_control SET is_paused = 1, paused_at = ?2, pause_reason = ?3, paused_by = ?4, updated_at = ?2 WHERE workflow_id = ?1",
                        params![wf, now, r, by],
                    )?;
                    tx.execute("UPDATE tasks SET status = 'PAUSED', updated_at = ?2 WHERE workflow_id = ?1 AND status IN ('QUEUED','RUNNING')", params![wf, now])?;
                } else {
                    tx.execute(
                        "UPDATE workflow_control SET is_paused = 0, updated_at = ?2 WHERE workflow_id = ?1",
                        params![wf, now],
                    )?;
                    tx.execute("UPDATE tasks SET status = 'RUNNING', updated_at = ?2 WHERE workflow_id = ?1 AND status = 'PAUSED'", params![wf, now])?;
                }
                Ok(())
            })
            .await?;
        let (event, text, message) = if pause {
            ("WORKFLOW_PAUSING", "Pausing", "Pause signal sent")
        } else {
            ("WORKFLOW_RESUMED", "Resuming", "Resume signal sent")
        };
        self.engine().hub.emit(
            &row.workflow_id,
            event,
            Some("orchestrator"),
            Some(with_reason(text, &reason)),
            None,
        );
        control.pause.send_replace(pause);
        self.notify_task_status(
            &caller.user_id,
            &row.workflow_id,
            if pause { "PAUSED" } else { "RUNNING" },
        );
        Ok(ControlResponse {
            success: true,
            message: message.into(),
            task_id: row.workflow_id,
        })
    }

    /// Cancels a running or paused task; it stops at its next checkpoint or between streamed chunks.
    /// A finished task is left alone and the answer says so (`success: false`), as the cloud.
    pub async fn cancel_task(
        &self,
        caller: &Caller,
        id: &str,
        reason: Option<String>,
    ) -> Result<ControlResponse> {
        let row = self.owned_task(caller, id).await?;
        if is_terminal(&row.status) {
            return Ok(ControlResponse {
                success: false,
                message: format!(
                    "Failed to cancel task: task is already {}",
                    state_word(&row.status)
                ),
                task_id: row.workflow_id,
            });
        }
        let reason = clean_reason(reason);
        let (wf, by, r) = (
            row.workflow_id.clone(),
            caller.user_id.clone(),
            reason.clone(),
        );
        self.store()
            .write(move |tx| {
                tx.execute(
                    "UPDATE workflow_control SET is_cancelled = 1, cancel_reason = ?2, cancelled_by = ?3, updated_at = ?4 WHERE workflow_id = ?1",
                    params![wf, r, by, time::now()],
                )?;
                Ok(())
            })
            .await?;
        match self.engine().run_control(&row.workflow_id) {
            Some(control) => {
                self.engine().hub.emit(
                    &row.workflow_id,
                    "WORKFLOW_CANCELLING",
                    Some("orchestrator"),
                    Some(with_reason("Cancelling", &reason)),
                    None,
                );
                control.cancel.cancel();
            }
            None => {
                // No live run (it ended just now, or never restarted): settle the row directly.
                runner::finish_cancelled_without_run(self, &row.workflow_id, &reason).await?;
            }
        }
        Ok(ControlResponse {
            success: true,
            message: "Task cancelled successfully".into(),
            task_id: row.workflow_id,
        })
    }

    fn run_control_or_err(&self, workflow_id: &str) -> Result<RunControl> {
        self.engine()
            .run_control(workflow_id)
            .ok_or_else(|| ShannonError::InvalidState("task is not running in this process".into()))
    }

    /// Changes the provider and model used when a submission names none.
    pub fn set_engine_defaults(&self, provider: &str, model: Option<String>) -> Result<()> {
        let spec = providers::lookup(provider)?;
        *self
            .engine()
            .defaults
            .write()
            .unwrap_or_else(|p| p.into_inner()) = super::EngineDefaults {
            provider: spec.id.to_string(),
            model,
        };
        Ok(())
    }
}

fn clean_reason(reason: Option<String>) -> String {
    reason
        .map(|r| r.trim().chars().take(500).collect())
        .unwrap_or_default()
}

fn with_reason(verb: &str, reason: &str) -> String {
    if reason.is_empty() {
        verb.to_string()
    } else {
        format!("{verb}: {reason}")
    }
}

pub(crate) const TASK_COLUMNS: &str = "id, workflow_id, session_id, query, mode, status, result, error_message, context, metadata,
     model_used, provider, input_tokens, output_tokens, total_tokens, cache_read_tokens, cache_creation_tokens, cost_usd,
     created_at, started_at, completed_at, updated_at, duration_ms";

pub(crate) struct TaskRow {
    pub id: String,
    pub workflow_id: String,
    pub session_id: Option<String>,
    pub query: String,
    pub mode: String,
    pub status: String,
    pub result: Option<String>,
    pub error_message: Option<String>,
    pub context: String,
    pub metadata: String,
    pub model_used: Option<String>,
    pub provider: Option<String>,
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub total_tokens: u32,
    pub cache_read_tokens: u32,
    pub cache_creation_tokens: u32,
    pub cost_usd: f64,
    pub created_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub updated_at: String,
    pub duration_ms: Option<u32>,
}

impl TaskRow {
    pub fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            workflow_id: r.get(1)?,
            session_id: r.get(2)?,
            query: r.get(3)?,
            mode: r.get(4)?,
            status: r.get(5)?,
            result: r.get(6)?,
            error_message: r.get(7)?,
            context: r.get(8)?,
            metadata: r.get(9)?,
            model_used: r.get(10)?,
            provider: r.get(11)?,
            input_tokens: r.get(12)?,
            output_tokens: r.get(13)?,
            total_tokens: r.get(14)?,
            cache_read_tokens: r.get(15)?,
            cache_creation_tokens: r.get(16)?,
            cost_usd: r.get(17)?,
            created_at: r.get(18)?,
            started_at: r.get(19)?,
            completed_at: r.get(20)?,
            updated_at: r.get(21)?,
            duration_ms: r.get(22)?,
        })
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
        let status = api_status(&self.status);
        let unified_response = is_terminal(&self.status).then(|| {
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
                "stop_reason": self.status.to_ascii_lowercase(),
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
        }
    }
}

/// `metadata.model_breakdown`: one entry per (provider, model), by cost descending.
fn model_breakdown(c: &rusqlite::Connection, task_uuid: &str) -> Result<Vec<Value>> {
    let mut stmt = c.prepare_cached(
        "SELECT provider, model, count(*), sum(total_tokens), sum(cost_usd), sum(cache_read_tokens), sum(cache_creation_tokens)
         FROM token_usage WHERE task_id = ?1 GROUP BY provider, model ORDER BY sum(cost_usd) DESC, sum(total_tokens) DESC",
    )?;
    let rows: Vec<(String, String, u32, u32, f64, u32, u32)> = stmt
        .query_map([task_uuid], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    let total_cost: f64 = rows.iter().map(|r| r.4).sum();
    Ok(rows
        .into_iter()
        .map(|(provider, model, executions, tokens, cost, cache_read, cache_creation)| {
            let mut v = json!({
                "model": model, "provider": provider, "executions": executions, "tokens": tokens,
                "cost_usd": cost,
                "percentage": if total_cost > 0.0 { (cost / total_cost * 100.0).round() as u32 } else { 0 },
            });
            if cache_read > 0 {
                v["cache_read_tokens"] = cache_read.into();
            }
            if cache_creation > 0 {
                v["cache_creation_tokens"] = cache_creation.into();
            }
            v
        })
        .collect())
}
