//! Pull: a user's history on a Shannon cloud brought into this data dir with the cloud's read
//! routes (contract: docs/guides/history.md), one session at a time, each written like an import
//! (one transaction, idempotent, the importing user). The rate-limited routes (the session list and
//! a task's event pages) are paced under the cloud's limit, and a 429 is waited out for its
//! `Retry-After`. A session already whole here is not fetched again, so an interrupted pull resumes
//! where it stopped. What the cloud never keeps (deltas, prompts, attachments, review rounds,
//! per-call token rows) cannot be pulled and is reported so.

use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::import::{Unit, write_unit};
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::remote::client::{CloudClient, urlenc, wait_hint};
use crate::core::remote::wire::{self, Mapped};
use crate::core::run::EventType;
use crate::core::store::history::{self as rows, Row};
use crate::core::store::remote_mirror as mirror;
use crate::core::tasks::Executor;
use crate::core::{Core, time};

/// What the cloud never keeps, so no pull brings it.
const NEVER_KEPT: &str = "streamed deltas, prompts, attachments, review rounds and per-call token rows are not kept by the cloud";
/// A 429 is waited out at most this many times per request.
const RATE_RETRIES: u32 = 5;
const EVENT_PAGE: u32 = 200;

/// How fast a pull may go on the cloud's rate-limited routes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct PullOptions {
    /// Requests per window on the limited routes; default: the remote user's minute limit
    /// (`/api/v1/auth/me`), else 60.
    pub rate_limit: Option<u32>,
    /// The window in seconds; default 60 (the cloud's).
    pub rate_window_secs: Option<u32>,
}

/// What a pull did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct PullReport {
    pub profile_id: String,
    /// Sessions the cloud listed.
    pub sessions_seen: u32,
    pub sessions_added: u32,
    /// Sessions already whole here (an earlier pull, or made here), not fetched again.
    pub sessions_present: u32,
    pub tasks_added: u32,
    pub events_added: u64,
    /// Requests made to the cloud, and how many of them were on its rate-limited routes.
    pub requests: u32,
    pub limited_requests: u32,
    /// Sessions that could not be had, each with why (pull again to retry them).
    pub failed: Vec<String>,
    /// What no pull can bring.
    pub lost: Vec<String>,
}

/// Spaces the limited requests `window / limit` apart, so no window ever holds more than `limit`
/// (the slots are the profile's, shared with every other pull of it).
struct Pacer {
    gap: Duration,
}

impl Pacer {
    fn new(limit: u32, window: Duration) -> Self {
        Self {
            gap: window / limit.max(1),
        }
    }
}

/// One pull's connection: the client, the pacer and the counts.
struct Puller<'a> {
    core: &'a Core,
    cloud: CloudClient,
    pacer: Pacer,
    report: PullReport,
}

impl Puller<'_> {
    /// `GET path`, paced when the route is limited, a 429 waited out.
    async fn get(&mut self, path: &str, limited: bool, what: &str) -> Result<Value> {
        for _ in 0..=RATE_RETRIES {
            if limited {
                let at =
                    (self.core.remote()).reserve_limited(self.cloud.profile_id(), self.pacer.gap);
                tokio::time::sleep_until(at).await;
                self.report.limited_requests += 1;
            }
            self.report.requests += 1;
            match self
                .cloud
                .json(self.core, Method::GET, path, None, &[])
                .await
            {
                Ok(Ok((v, _))) => return Ok(v),
                Ok(Err(r)) => return Err(self.cloud.refused(what, r)),
                Err(e) => match wait_hint(&e) {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => return Err(e),
                },
            }
        }
        Err(ShannonError::RateLimited(format!(
            "Shannon cloud ({}) kept refusing to {what}: rate limited",
            self.cloud.host()
        )))
    }

    /// The stored events of a session's tasks, by the cloud's task id (`task_executions.id`): the
    /// session's turns, or, when the cloud finds them too many (413), each task's event pages.
    async fn events_of(&mut self, remote_id: &str, tasks: &[Value]) -> Result<Map<String, Value>> {
        let mut by_task = Map::new();
        let mut offset = 0;
        loop {
            let path = format!(
                "/api/v1/sessions/{}/events?limit=100&offset={offset}&include_payload=true",
                urlenc(remote_id)
            );
            let page = match self.get(&path, false, "list the session's events").await {
                Ok(p) => p,
                Err(ShannonError::PayloadTooLarge(_)) => return self.events_per_task(tasks).await,
                Err(e) => return Err(e),
            };
            let turns = page
                .get("turns")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for t in &turns {
                let id = t.get("task_id").and_then(Value::as_str).unwrap_or_default();
                by_task.insert(id.into(), t.get("events").cloned().unwrap_or(json!([])));
            }
            offset += turns.len();
            let total = page.get("count").and_then(Value::as_u64).unwrap_or(0) as usize;
            if turns.is_empty() || offset >= total {
                return Ok(by_task);
            }
        }
    }

    async fn events_per_task(&mut self, tasks: &[Value]) -> Result<Map<String, Value>> {
        let mut by_task = Map::new();
        for t in tasks {
            let (id, wf) = (text(t, "task_id"), text(t, "workflow_id"));
            let mut all = Vec::new();
            loop {
                let path = format!(
                    "/api/v1/tasks/{}/events?limit={EVENT_PAGE}&offset={}",
                    urlenc(&wf),
                    all.len()
                );
                let page = self.get(&path, true, "list the task's events").await?;
                let got = page
                    .get("events")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let n = got.len();
                all.extend(got);
                if n < EVENT_PAGE as usize {
                    break;
                }
            }
            by_task.insert(id, Value::Array(all));
        }
        Ok(by_task)
    }
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The local rows of one cloud task's stored events: the cloud's types mapped back, payloads
/// the catalogue cannot read kept as WARNINGs, contiguous seqs, and the end every local stream has.
fn event_rows(workflow_id: &str, events: &Value, ended_at: &str) -> Vec<Row> {
    let mut out = Vec::new();
    let mut push = |event_type: EventType,
                    agent: Option<String>,
                    message: Option<String>,
                    payload: Option<Value>,
                    at: String| {
        let mut r = Row::new();
        r.insert("workflow_id".into(), json!(workflow_id));
        r.insert("seq".into(), json!(out.len() + 1));
        r.insert("type".into(), json!(event_type.as_str()));
        r.insert("agent_id".into(), json!(agent));
        r.insert("message".into(), json!(message));
        r.insert(
            "payload".into(),
            payload.map_or(Value::Null, |p| json!(p.to_string())),
        );
        r.insert("timestamp".into(), json!(at));
        out.push(r);
    };
    for e in events.as_array().into_iter().flatten() {
        let at = text(e, "timestamp");
        match wire::map_stored(e).event {
            Mapped::Event(ev)
                if !ev.event_type.is_transient() && ev.event_type != EventType::StreamEnd =>
            {
                push(ev.event_type, ev.agent_id, ev.message, ev.payload, at)
            }
            _ => {}
        }
    }
    push(
        EventType::StreamEnd,
        Some("remote".into()),
        Some("Pulled from the Shannon cloud".into()),
        None,
        ended_at.to_string(),
    );
    out
}

/// A cloud task of a session's history as a local row.
fn task_row(t: &Value, session_id: &str, executor: &str) -> Row {
    let status = text(t, "status")
        .trim_start_matches("TASK_STATUS_")
        .to_string();
    let started = text(t, "started_at");
    let completed = t
        .get("completed_at")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut r = Row::new();
    let mut set = |k: &str, v: Value| {
        r.insert(k.into(), v);
    };
    set("id", json!(text(t, "task_id")));
    set("workflow_id", json!(text(t, "workflow_id")));
    set("user_id", json!(""));
    set("session_id", json!(session_id));
    set("query", json!(text(t, "query")));
    set(
        "mode",
        t.get("mode")
            .filter(|m| m.is_string())
            .cloned()
            .unwrap_or(json!("standard")),
    );
    set("status", json!(status));
    set("result", t.get("result").cloned().unwrap_or(Value::Null));
    set(
        "error_message",
        t.get("error_message").cloned().unwrap_or(Value::Null),
    );
    set("context", json!("{}"));
    set(
        "metadata",
        json!(
            t.get("metadata")
                .filter(|m| m.is_object())
                .cloned()
                .unwrap_or(json!({}))
                .to_string()
        ),
    );
    set(
        "total_tokens",
        t.get("total_tokens").cloned().unwrap_or(json!(0)),
    );
    set(
        "cost_usd",
        t.get("total_cost_usd").cloned().unwrap_or(json!(0.0)),
    );
    set(
        "duration_ms",
        t.get("duration_ms").cloned().unwrap_or(Value::Null),
    );
    set("created_at", json!(started));
    set("started_at", json!(started));
    set("completed_at", json!(completed));
    set("updated_at", json!(completed.clone().unwrap_or(started)));
    set("executor", json!(executor));
    r
}

impl Core {
    /// Brings the caller's history on the cloud `profile_id` into this data dir: every session the
    /// cloud lists, with its finished tasks and their stored events, as sessions of that backend.
    pub async fn pull_history(
        &self,
        caller: &Caller,
        profile_id: &str,
        options: PullOptions,
    ) -> Result<PullReport> {
        let cloud = self.cloud(profile_id).await?;
        let mut p = Puller {
            core: self,
            cloud,
            pacer: Pacer::new(60, Duration::from_secs(60)),
            report: PullReport {
                profile_id: profile_id.into(),
                lost: vec![NEVER_KEPT.into()],
                ..Default::default()
            },
        };
        let me = p.get("/api/v1/auth/me", false, "say who you are").await?;
        let advertised = me
            .pointer("/rate_limits/minute/limit")
            .and_then(Value::as_u64)
            .map(|l| l as u32);
        let limit = options.rate_limit.or(advertised).unwrap_or(60);
        let window = Duration::from_secs(options.rate_window_secs.unwrap_or(60).max(1) as u64);
        p.pacer = Pacer::new(limit, window);
        let executor = Executor::Remote(profile_id.to_string()).db();
        let mut offset = 0;
        loop {
            let path = format!("/api/v1/sessions?limit=100&offset={offset}");
            let page = p.get(&path, true, "list the sessions").await?;
            let listed = page
                .get("sessions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let total = page.get("total_count").and_then(Value::as_u64).unwrap_or(0) as usize;
            for s in &listed {
                p.report.sessions_seen += 1;
                let id = text(s, "session_id");
                if let Err(e) = self.pull_session(&mut p, caller, &executor, s).await {
                    p.report.failed.push(format!("session {id}: {e}"));
                }
                let done = p.report.sessions_seen as u64;
                self.history_progress(&caller.user_id, "pull", "sessions", done, total as u64);
            }
            offset += listed.len();
            if listed.is_empty() || offset >= total {
                break;
            }
        }
        Ok(p.report)
    }

    async fn pull_session(
        &self,
        p: &mut Puller<'_>,
        caller: &Caller,
        executor: &str,
        s: &Value,
    ) -> Result<()> {
        let remote_id = text(s, "session_id");
        let listed_tasks = s.get("task_count").and_then(Value::as_u64).unwrap_or(0) as u32;
        let (user, ex, rid) = (
            caller.user_id.clone(),
            executor.to_string(),
            remote_id.clone(),
        );
        let here = self
            .store()
            .read(move |c| {
                let local = mirror::session_by_remote_id(c, &user, &ex, &rid)?;
                let count = match &local {
                    Some(id) => rows::count_tasks_of_session(c, id)?,
                    None => 0,
                };
                Ok((local, count))
            })
            .await?;
        if here.0.is_some() && here.1 >= listed_tasks {
            p.report.sessions_present += 1;
            return Ok(());
        }
        let path = format!("/api/v1/sessions/{}/history", urlenc(&remote_id));
        let history = p.get(&path, false, "show the session's history").await?;
        let tasks: Vec<Value> = history
            .get("tasks")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|t| {
                let st = text(t, "status");
                ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"]
                    .iter()
                    .any(|s| st.ends_with(s))
            })
            .collect();
        // A task this device submitted is here already, under its own ids.
        let wfs: Vec<String> = tasks.iter().map(|t| text(t, "workflow_id")).collect();
        let mirrored = self
            .store()
            .read(move |c| {
                wfs.iter()
                    .map(|wf| mirror::is_mirrored(c, wf))
                    .collect::<Result<Vec<bool>>>()
            })
            .await?;
        let tasks: Vec<Value> = tasks
            .into_iter()
            .zip(mirrored)
            .filter_map(|(t, m)| (!m).then_some(t))
            .collect();
        let events = p.events_of(&remote_id, &tasks).await?;
        let local_id = here.0.clone().unwrap_or_else(|| remote_id.clone());
        let mut session = Row::new();
        let context = s.get("context").cloned().unwrap_or(json!({}));
        let created = s
            .get("created_at")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(time::now);
        let title = s
            .get("title")
            .cloned()
            .or_else(|| context.get("title").cloned())
            .unwrap_or(Value::Null);
        for (k, v) in [
            ("id", json!(local_id)),
            ("user_id", json!("")),
            ("title", title),
            ("context", json!(context.to_string())),
            ("created_at", json!(created)),
            (
                "updated_at",
                s.get("updated_at").cloned().unwrap_or(json!(created)),
            ),
            ("executor", json!(executor)),
            ("remote_id", json!(remote_id)),
            (
                "tokens_used",
                s.get("tokens_used").cloned().unwrap_or(json!(0)),
            ),
            (
                "total_cost_usd",
                s.get("total_cost_usd").cloned().unwrap_or(json!(0.0)),
            ),
        ] {
            session.insert(k.into(), v);
        }
        let mut unit = Unit {
            session: Some(session),
            tasks: Vec::new(),
            events: Vec::new(),
            deltas: Vec::new(),
            usage: Vec::new(),
        };
        for t in &tasks {
            let row = task_row(t, &local_id, executor);
            let ended = row["updated_at"].as_str().unwrap_or_default().to_string();
            let wf = text(t, "workflow_id");
            unit.events.push(event_rows(
                &wf,
                events.get(&text(t, "task_id")).unwrap_or(&json!([])),
                &ended,
            ));
            unit.deltas.push(Vec::new());
            unit.usage.push(Vec::new());
            unit.tasks.push(row);
        }
        let user = caller.user_id.clone();
        let added = self
            .store()
            .write(move |tx| write_unit(tx, unit, &user))
            .await?;
        if let Some(other) = added.refused {
            return Err(ShannonError::Conflict(format!(
                "session {other} belongs to another user here"
            )));
        }
        if added.session == Some(true) {
            p.report.sessions_added += 1;
        } else {
            p.report.sessions_present += 1;
        }
        p.report.tasks_added += added.tasks;
        p.report.events_added += added.events;
        if added.tasks > 0 {
            self.engine().answers_changed();
        }
        Ok(())
    }
}
