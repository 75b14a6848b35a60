//! Remote tasks: where a submission runs (its session's backend), the submission to the cloud,
//! and the pumps re-attached at start-up.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::client::CloudClient;
use super::pump::{self, PumpTask};
use super::{LOCAL, Target};
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::run::lifecycle::{self, EventType, TaskStatus};
use crate::core::sessions::ensure_session;
use crate::core::store;
use crate::core::tasks::Executor;
use crate::core::tasks::request::{CLOUD_PROVIDERS, SubmitTaskRequest};
use crate::core::tasks::submit::{SubmitTaskResponse, stream_url};
use crate::core::{Core, time};

/// Submission attempts when the cloud cannot be reached (one at a time, same idempotency key).
const SUBMIT_ATTEMPTS: u32 = 2;
const SUBMIT_RETRY_WAIT: Duration = Duration::from_millis(300);

impl Core {
    /// Where a submission runs: its `target`; else the backend of the session it continues; else
    /// the configured default.
    pub(crate) async fn target_of(
        &self,
        caller: &Caller,
        req: &SubmitTaskRequest,
    ) -> Result<Target> {
        let session_backend = match req.session_id.as_deref() {
            None => None,
            Some(s) => {
                let (user, s) = (caller.user_id.clone(), s.to_string());
                self.store()
                    .read(move |c| {
                        let Some(id) = store::sessions::find_live_id(c, &user, &s)? else {
                            return Ok(None);
                        };
                        if !store::remote::session_has_tasks(c, &id)? {
                            return Ok(None);
                        }
                        Ok(store::remote::session_executor(c, &id)?.map(|e| (id, e)))
                    })
                    .await?
            }
        };
        let asked = req.target.as_deref().map(Target::parse);
        match (asked, session_backend) {
            (Some(t), Some((id, on))) => {
                let wanted = match &t {
                    Target::Local => Executor::Local.db(),
                    Target::Remote(p) => Executor::Remote(p.clone()).db(),
                };
                if wanted != on {
                    return Err(Executor::session_elsewhere(&id, &on));
                }
                Ok(t)
            }
            (Some(t), None) => Ok(t),
            (None, Some((_, on))) => Ok(match Executor::from_db(&on)? {
                Executor::Local => Target::Local,
                Executor::Remote(p) => Target::Remote(p),
            }),
            (None, None) => Ok(Target::parse(&self.remote().default_target())),
        }
    }

    /// Refuses what exists only on this device before anything is sent: a local-only provider,
    /// an MCP or app tool. (A skill was applied into the context already: it travels inline.)
    fn refuse_local_only(&self, req: &SubmitTaskRequest, host: &str) -> Result<()> {
        if let Some(p) = req.provider_override.as_deref().filter(|p| !p.is_empty())
            && !CLOUD_PROVIDERS.contains(&p)
        {
            return Err(ShannonError::UnsupportedByRemote(format!(
                "provider {p:?} exists only on this device; Shannon cloud ({host}) accepts {}",
                CLOUD_PROVIDERS.join(", ")
            )));
        }
        for key in ["tools_to_use", "allowed_tools"] {
            let Some(Value::Array(tools)) = req.context.get(key) else {
                continue;
            };
            for t in tools.iter().filter_map(Value::as_str) {
                if t.starts_with("mcp__") || self.app_tools().get(t).is_some() {
                    return Err(ShannonError::UnsupportedByRemote(format!(
                        "tool {t:?} runs only on this device (an MCP or app tool); Shannon cloud ({host}) cannot call it"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Submits a task to a cloud profile: the local mirror row first (with the idempotency key a
    /// retry reuses), then the cloud's submit, then the pump. When the cloud cannot be reached the
    /// mirror row is removed and the error returned, or, when the profile allows it and the session
    /// is new, the task runs locally and the response says so.
    pub(crate) async fn submit_remote(
        &self,
        caller: &Caller,
        req: SubmitTaskRequest,
        profile: &str,
    ) -> Result<SubmitTaskResponse> {
        let cloud = self.cloud(profile).await?;
        let row = self.profile_row(profile).await?;
        self.refuse_local_only(&req, cloud.host())?;
        let plan = req.clone().into_plan()?;
        self.engine().hub.admit().await?;
        let executor = Executor::Remote(profile.to_string()).db();
        let task_id = uuid::Uuid::new_v4().to_string();
        let workflow_id = format!(
            "task-{}-{}-{}",
            caller.user_id,
            time::unix_now(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let key = uuid::Uuid::new_v4().to_string();
        let now = time::now();
        let metadata = json!({
            "task_context": Value::Object(plan.context.clone()),
            "remote_profile": profile,
            "remote_host": cloud.host(),
        })
        .to_string();
        let (t, w, u, p, n, k, ex) = (
            task_id.clone(),
            workflow_id.clone(),
            caller.user_id.clone(),
            plan.clone(),
            now.clone(),
            key.clone(),
            executor.clone(),
        );
        let (session_id, new_session) = self
            .store()
            .write(move |tx| {
                let session = ensure_session(tx, &u, p.session_id.as_deref(), &p, &n)?;
                let started = store::remote::session_has_tasks(tx, &session)?;
                let on = store::remote::session_executor(tx, &session)?.unwrap_or_default();
                if started && on != ex {
                    return Err(Executor::session_elsewhere(&session, &on));
                }
                store::remote::set_session_executor(tx, &session, &ex)?;
                store::tasks::insert(
                    tx,
                    &store::tasks::NewTask {
                        id: &t,
                        workflow_id: &w,
                        user_id: &u,
                        session_id: Some(&session),
                        query: &p.query,
                        mode: p.requested_mode.as_str(),
                        status: TaskStatus::Queued,
                        context: &Value::Object(p.context.clone()).to_string(),
                        metadata: &metadata,
                        now: &n,
                        executor: &ex,
                        strategy: &p.strategy.to_json(),
                    },
                )?;
                store::tasks::insert_control(tx, &w, &n)?;
                store::remote::insert_task(tx, &t, &ex["remote:".len()..], &k)?;
                Ok((session, !started))
            })
            .await?;
        self.engine().hub.open_stream(&workflow_id, 0);
        let body = cloud_body(&req, &session_id);
        let sent = send_submit(self, &cloud, &body, &key).await;
        let (remote_wf, remote_session) = match sent {
            Ok(ids) => ids,
            Err(e) => {
                let (t, s) = (task_id.clone(), session_id.clone());
                let drop_session = new_session.then_some(s);
                self.store()
                    .write(move |tx| {
                        store::remote::delete_unsent_task(tx, &t, drop_session.as_deref())
                    })
                    .await?;
                self.engine().hub.close_stream(&workflow_id);
                if row.fallback_local
                    && new_session
                    && matches!(e, ShannonError::RemoteUnreachable(_))
                {
                    return self.fall_back_locally(caller, req, &e).await;
                }
                return Err(e);
            }
        };
        let (t, w, rw, rs) = (
            task_id.clone(),
            workflow_id.clone(),
            remote_wf.clone(),
            remote_session.clone(),
        );
        self.store()
            .write(move |tx| {
                let now = time::now();
                store::remote::set_submitted(tx, &t, &rw, rs.as_deref(), &now)?;
                lifecycle::begin_run(tx, &w, &now)?;
                Ok(())
            })
            .await?;
        self.notify_task_status(&caller.user_id, &workflow_id, TaskStatus::Running);
        self.start_pump(
            cloud,
            PumpTask {
                task_id,
                workflow_id: workflow_id.clone(),
                user_id: caller.user_id.clone(),
                remote_workflow_id: remote_wf,
            },
        );
        Ok(SubmitTaskResponse {
            task_id: workflow_id.clone(),
            workflow_id: workflow_id.clone(),
            session_id: session_id.clone(),
            status: "STATUS_CODE_OK".into(),
            message: format!("Task submitted successfully. Session: {session_id}"),
            created_at: now,
            idempotent_replay: false,
            stream_url: stream_url(&workflow_id),
            executor: executor.clone(),
        })
    }

    /// A new session's first task when its cloud is unreachable and its profile allows it: run it
    /// here, and say so in the response and on the task's stream.
    async fn fall_back_locally(
        &self,
        caller: &Caller,
        mut req: SubmitTaskRequest,
        why: &ShannonError,
    ) -> Result<SubmitTaskResponse> {
        req.target = Some(LOCAL.into());
        let mut resp = Box::pin(self.submit_task(caller, req, None)).await?;
        let note = format!("Running on this device instead: {why}");
        self.engine().hub.emit(
            &resp.workflow_id,
            EventType::Progress,
            Some("remote"),
            Some(note.clone()),
            None,
        );
        resp.message = format!("{} ({note})", resp.message);
        Ok(resp)
    }

    pub(crate) fn start_pump(&self, cloud: CloudClient, task: PumpTask) {
        let Some(stop) = self.remote().start_pump(&task.workflow_id) else {
            return;
        };
        tokio::spawn(pump::run(self.clone(), cloud, task, stop));
    }

    /// Re-attaches a pump to every remote task that has not ended (start-up, remote mode turned
    /// back on). A task whose submission never got an answer is sent again with its key.
    pub(crate) async fn reattach_remote_tasks(&self) -> Result<u32> {
        if !self.remote().enabled() {
            return Ok(0);
        }
        let rows = self.store().read(store::remote::unfinished_tasks).await?;
        let mut n = 0;
        for r in rows {
            self.engine().hub.open_stream(&r.workflow_id, r.last_seq);
            let cloud = match self.cloud(&r.profile_id).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(workflow_id = %r.workflow_id, error = %e, "cannot re-attach a remote task yet");
                    continue;
                }
            };
            let Some(remote_wf) = r.remote_workflow_id.clone() else {
                tracing::warn!(workflow_id = %r.workflow_id, "a remote submission never got an answer; it is not sent again");
                let end = lifecycle::TaskEnd {
                    workflow_id: r.workflow_id.clone(),
                    user_id: r.user_id.clone(),
                    ..Default::default()
                };
                let failed = lifecycle::Outcome::Failed {
                    message: format!(
                        "interrupted: the app exited before Shannon cloud ({}) confirmed the submission",
                        cloud.host()
                    ),
                };
                lifecycle::finish(self, &end, failed).await?;
                continue;
            };
            n += 1;
            self.start_pump(
                cloud,
                PumpTask {
                    task_id: r.task_id,
                    workflow_id: r.workflow_id,
                    user_id: r.user_id,
                    remote_workflow_id: remote_wf,
                },
            );
        }
        Ok(n)
    }
}

/// The cloud's submit body: the request's fields, with the local session id as the cloud's
/// `session_id` (the cloud keeps a non-UUID id as its external id) and no `skill` (already applied
/// into the context, as the cloud applies one).
fn cloud_body(req: &SubmitTaskRequest, session_id: &str) -> Value {
    let mut body = Map::new();
    body.insert("query".into(), json!(req.query));
    body.insert("session_id".into(), json!(session_id));
    if !req.context.is_empty() {
        body.insert("context".into(), Value::Object(req.context.clone()));
    }
    let opt = |b: &mut Map<String, Value>, k: &str, v: Option<Value>| {
        if let Some(v) = v {
            b.insert(k.into(), v);
        }
    };
    opt(&mut body, "mode", req.mode.clone().map(Value::from));
    opt(
        &mut body,
        "model_tier",
        req.model_tier.clone().map(Value::from),
    );
    opt(
        &mut body,
        "model_override",
        req.model_override.clone().map(Value::from),
    );
    opt(
        &mut body,
        "provider_override",
        req.provider_override.clone().map(Value::from),
    );
    opt(
        &mut body,
        "research_strategy",
        req.research_strategy.clone().map(Value::from),
    );
    opt(
        &mut body,
        "max_concurrent_agents",
        req.max_concurrent_agents.map(Value::from),
    );
    opt(
        &mut body,
        "enable_verification",
        req.enable_verification.map(Value::from),
    );
    Value::Object(body)
}

/// Sends the submission, retrying an unreachable cloud once with the same key (never in
/// parallel: the cloud's idempotency has no in-flight lock). Returns the cloud's workflow and
/// session ids (from its headers, as the cloud sends them).
async fn send_submit(
    core: &Core,
    cloud: &CloudClient,
    body: &Value,
    key: &str,
) -> Result<(String, Option<String>)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let headers = [("Idempotency-Key", key.to_string())];
        match cloud
            .json(core, Method::POST, "/api/v1/tasks", Some(body), &headers)
            .await
        {
            Ok(Ok((v, head))) => {
                let header = |k: &str| {
                    head.get(k)
                        .and_then(|h| h.to_str().ok())
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                };
                let wf = header("x-workflow-id")
                    .or_else(|| {
                        v.get("workflow_id")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .or_else(|| v.get("task_id").and_then(Value::as_str).map(str::to_string))
                    .ok_or_else(|| cloud.unreachable("its submit answer carried no workflow id"))?;
                return Ok((wf, header("x-session-id")));
            }
            Ok(Err(r)) => return Err(cloud.refused("submit the task", r)),
            Err(e @ ShannonError::RemoteUnreachable(_)) if attempt < SUBMIT_ATTEMPTS => {
                tracing::debug!(error = %e, "retrying a remote submission");
                tokio::time::sleep(SUBMIT_RETRY_WAIT).await;
            }
            Err(e) => return Err(e),
        }
    }
}
