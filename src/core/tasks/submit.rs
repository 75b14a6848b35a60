//! Submission: validation into a plan, the provider and model it runs on, the stored task row, the
//! idempotency replay, and the run's start.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::Executor;
use super::request::{self, SubmitTaskRequest, TaskPlan};
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::llm::models::model_for_tier;
use crate::core::remote::Target;
use crate::core::run::lifecycle::{EventType, TaskStatus};
use crate::core::run::runner;
use crate::core::run::setup::RunSpec;
use crate::core::sessions::ensure_session;
use crate::core::settings::providers;
use crate::core::store;
use crate::core::{Core, time};

/// Submit response (see docs/upstream.md#tasks-and-submission). `workflow_id` and `session_id` are
/// also sent as headers by HTTP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SubmitTaskResponse {
    /// The task's id (the same as `workflow_id`).
    pub task_id: String,
    /// The workflow id its events stream under.
    pub workflow_id: String,
    /// The session the task joined or started.
    pub session_id: String,
    /// `STATUS_CODE_OK`.
    pub status: String,
    /// `Task submitted successfully. Session: {session_id}`.
    pub message: String,
    /// When it was submitted: RFC 3339 UTC with microseconds.
    pub created_at: String,
    /// True when an `Idempotency-Key` matched an earlier submission and this is its replay.
    pub idempotent_replay: bool,
    /// Where the task's events stream (the HTTP door's SSE route).
    pub stream_url: String,
    /// Where it runs: `local`, or `remote:<profile id>` (a task mirrored from a Shannon cloud).
    #[serde(default = "local_executor")]
    pub executor: String,
}

fn local_executor() -> String {
    Executor::Local.db()
}

/// The SSE URL of a workflow's events.
pub fn stream_url(workflow_id: &str) -> String {
    format!("/api/v1/stream/sse?workflow_id={workflow_id}")
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
                    .and_then(crate::core::llm::models::provider_for_model)
            })
            .flatten()
            .map(str::to_string);
        let explicit = plan.provider.is_some() || inferred.is_some();
        let wanted = plan
            .provider
            .clone()
            .or(inferred)
            .unwrap_or(defaults.provider.clone());
        let spec = providers::lookup_model(&wanted)?;
        // A key whose endpoint changed refuses the task outright (no fallback to the demo): the user
        // has a key, it may just not go to the new endpoint.
        self.provider_key(caller, spec.id).await?;
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
            let why = match status.iter().find(|s| s.provider == spec.id) {
                Some(s) if !spec.requires_key && s.reason.is_some() => {
                    s.reason.clone().unwrap_or_default()
                }
                _ => format!("No API key is configured for {}", spec.display_name),
            };
            let note = format!(
                "{why}: answering with the offline demo provider (canned text, no model is called)."
            );
            ("demo".to_string(), Some(note))
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
                .read(move |c| store::task_reads::idempotent_body(c, &key, &user, &time::now()))
                .await?;
            if let Some(body) = cached {
                let unreadable = |e: serde_json::Error| {
                    ShannonError::Internal(format!("stored idempotent response: {e}"))
                };
                let mut stored: Map<String, Value> =
                    serde_json::from_slice(&body).map_err(unreadable)?;
                // Responses stored before `stream_url` existed get it now.
                if let Some(wf) = stored.get("workflow_id").and_then(Value::as_str) {
                    let url = stream_url(wf);
                    stored.entry("stream_url").or_insert(url.into());
                }
                let mut resp: SubmitTaskResponse =
                    serde_json::from_value(Value::Object(stored)).map_err(unreadable)?;
                resp.idempotent_replay = true;
                return Ok(resp);
            }
        }

        let mut req = req;
        let skill = req
            .skill
            .clone()
            .or_else(|| request::str_of(&req.context, "skill").map(str::to_string))
            .filter(|s| !s.trim().is_empty());
        if let Some(name) = skill {
            let version = request::str_of(&req.context, "skill_version").map(str::to_string);
            let skill = self
                .skill_for_task(caller, name.trim(), version.as_deref())
                .await?;
            crate::core::catalog::skills::apply(&skill, &mut req.context);
        }
        if let Target::Remote(profile) = self.target_of(caller, &req).await? {
            let response = self.submit_remote(caller, req, &profile).await?;
            self.remember_submission(caller, cache_key, &response)
                .await?;
            return Ok(response);
        }
        let plan = req.into_plan()?;
        // Backpressure: a writer that has fallen behind slows new tasks, then refuses them (429).
        self.engine().hub.admit().await?;
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
                let local = Executor::Local.db();
                if store::remote::session_has_tasks(tx, &session)? {
                    let on = store::remote::session_executor(tx, &session)?.unwrap_or_default();
                    if on != local {
                        return Err(Executor::session_elsewhere(&session, &on));
                    }
                }
                store::tasks::insert(
                    tx,
                    &store::tasks::NewTask {
                        id: &task_id,
                        workflow_id: &workflow_id,
                        user_id: &user,
                        session_id: Some(&session),
                        query: &plan.query,
                        mode: plan.requested_mode.as_str(),
                        status: TaskStatus::Queued,
                        context: &Value::Object(plan.context.clone()).to_string(),
                        metadata: &metadata,
                        now: &now,
                        executor: &local,
                        strategy: &plan.strategy.to_json(),
                    },
                )?;
                store::tasks::insert_control(tx, &workflow_id, &now)?;
                Ok(session)
            })
            .await?;
        let hub = &self.engine().hub;
        hub.open_stream(&workflow_id, 0);
        hub.emit(
            &workflow_id,
            EventType::DataProcessing,
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
            stream_url: stream_url(&workflow_id),
            executor: Executor::Local.db(),
        };
        self.remember_submission(caller, cache_key, &response)
            .await?;
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
                resuming: false,
                start_paused: false,
            },
        );
        Ok(response)
    }

    /// Stores a submission's response under its idempotency key for 24 h.
    async fn remember_submission(
        &self,
        caller: &Caller,
        cache_key: Option<String>,
        response: &SubmitTaskResponse,
    ) -> Result<()> {
        let Some(key) = cache_key else {
            return Ok(());
        };
        let body = serde_json::to_vec(response)?;
        let user = caller.user_id.clone();
        let expires = time::format(chrono::Utc::now() + chrono::Duration::hours(24));
        self.store()
            .write(move |tx| {
                store::tasks::delete_expired_idempotency(tx, &time::now())?;
                store::tasks::put_submit_idempotency(
                    tx,
                    &key,
                    &user,
                    &body,
                    &time::now(),
                    &expires,
                )?;
                Ok(())
            })
            .await
    }

    /// Changes the provider and model used when a submission names none.
    pub fn set_engine_defaults(&self, provider: &str, model: Option<String>) -> Result<()> {
        let spec = providers::lookup_model(provider)?;
        *self
            .engine()
            .defaults
            .write()
            .unwrap_or_else(|p| p.into_inner()) = crate::core::run::EngineDefaults {
            provider: spec.id.to_string(),
            model,
        };
        Ok(())
    }
}
