//! Schedules that live on a Shannon cloud: created there with `target` (they fire on Temporal
//! while the laptop sleeps), changed there, and listed beside the local ones from the copy last read
//! (`remote_schedules`), refreshed whenever the cloud answers. They never fire here.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};

use super::client::{CloudClient, urlenc};
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::schedules::{
    ScheduleAck, ScheduleCreated, ScheduleInfo, ScheduleRequest, ScheduleRunList,
};
use crate::core::store::remote_mirror::{self as mirror, RemoteScheduleRow};
use crate::core::{Core, time};

/// A change made to a cloud schedule.
pub(crate) enum ScheduleChange {
    Update(Box<ScheduleRequest>),
    Pause,
    Resume,
    Delete,
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn num(v: &Value, key: &str) -> u32 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0) as u32
}

fn opt(v: &Value, key: &str) -> Option<String> {
    Some(text(v, key)).filter(|s| !s.is_empty())
}

/// A schedule as the cloud describes it (empty fields left out, as its Go encoding does).
fn info_of(v: &Value, profile: &str) -> ScheduleInfo {
    let context: BTreeMap<String, String> = v
        .get("task_context")
        .and_then(Value::as_object)
        .map(|m| {
            m.keys()
                .map(|k| (k.clone(), text(&Value::Object(m.clone()), k)))
                .collect()
        })
        .unwrap_or_default();
    ScheduleInfo {
        schedule_id: text(v, "schedule_id"),
        name: text(v, "name"),
        description: text(v, "description"),
        cron_expression: text(v, "cron_expression"),
        timezone: opt(v, "timezone").unwrap_or_else(|| "UTC".into()),
        task_query: text(v, "task_query"),
        task_context: context,
        max_budget_per_run_usd: v
            .get("max_budget_per_run_usd")
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
        timeout_seconds: num(v, "timeout_seconds"),
        status: text(v, "status"),
        created_at: text(v, "created_at"),
        updated_at: text(v, "updated_at"),
        last_run_at: opt(v, "last_run_at"),
        next_run_at: opt(v, "next_run_at"),
        total_runs: num(v, "total_runs"),
        successful_runs: num(v, "successful_runs"),
        failed_runs: num(v, "failed_runs"),
        source: profile.to_string(),
    }
}

/// The body the cloud takes: the request without what only the plugin knows.
fn cloud_body(req: &ScheduleRequest) -> Value {
    let mut v = serde_json::to_value(req).unwrap_or_else(|_| json!({}));
    if let Some(m) = v.as_object_mut() {
        m.remove("target");
        m.remove("clear_task_context");
        m.retain(|_, v| !v.is_null());
    }
    v
}

fn ack(v: &Value, fallback: &str) -> ScheduleAck {
    ScheduleAck {
        success: v.get("success").and_then(Value::as_bool).unwrap_or(true),
        message: opt(v, "message").unwrap_or_else(|| fallback.into()),
        next_run_at: opt(v, "next_run_at"),
    }
}

impl Core {
    /// Creates the schedule on the cloud `profile` and keeps its copy.
    pub(crate) async fn create_remote_schedule(
        &self,
        caller: &Caller,
        profile: &str,
        req: ScheduleRequest,
    ) -> Result<ScheduleCreated> {
        let cloud = self.cloud(profile).await?;
        let key = [("Idempotency-Key", uuid::Uuid::new_v4().to_string())];
        let body = cloud_body(&req);
        let v = match cloud
            .json(self, Method::POST, "/api/v1/schedules", Some(&body), &key)
            .await?
        {
            Ok((v, _)) => v,
            Err(r) => return Err(cloud.refused("create the schedule", r)),
        };
        let id = text(&v, "schedule_id");
        if id.is_empty() {
            return Err(cloud.unreachable("its answer to a new schedule had no schedule_id"));
        }
        // The copy: the cloud's own description when it gives one, else what was sent.
        let snapshot = self
            .fetch_remote_schedule(&cloud, &id)
            .await
            .unwrap_or_else(|_| {
                let mut s = body.clone();
                s["schedule_id"] = json!(id);
                s["status"] = json!("ACTIVE");
                s["next_run_at"] = v.get("next_run_at").cloned().unwrap_or(Value::Null);
                s
            });
        self.keep_remote_schedule(caller, profile, &id, &snapshot)
            .await?;
        Ok(ScheduleCreated {
            schedule_id: id,
            message: opt(&v, "message").unwrap_or_else(|| "Schedule created successfully".into()),
            next_run_at: text(&v, "next_run_at"),
        })
    }

    /// The caller's schedule `id` when it lives on a cloud.
    pub(crate) async fn remote_schedule(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Option<RemoteScheduleRow>> {
        let (user, id) = (caller.user_id.clone(), id.to_string());
        self.store()
            .read(move |c| mirror::get_schedule(c, &user, &id))
            .await
    }

    /// A cloud schedule as the cloud has it now, else (offline) as last read.
    pub(crate) async fn get_remote_schedule(
        &self,
        caller: &Caller,
        row: &RemoteScheduleRow,
    ) -> Result<ScheduleInfo> {
        let fresh = match self.cloud(&row.profile_id).await {
            Ok(cloud) => match self.fetch_remote_schedule(&cloud, &row.id).await {
                Ok(v) => {
                    self.keep_remote_schedule(caller, &row.profile_id, &row.id, &v)
                        .await?;
                    Some(v)
                }
                Err(e @ ShannonError::NotFound(_)) => return Err(e),
                Err(_) => None,
            },
            Err(_) => None,
        };
        let v = fresh.unwrap_or_else(|| serde_json::from_str(&row.snapshot).unwrap_or(json!({})));
        Ok(info_of(&v, &row.profile_id))
    }

    /// The caller's cloud schedules (fresh where the cloud answers), filtered by status.
    pub(crate) async fn list_remote_schedules(
        &self,
        caller: &Caller,
        status: Option<&str>,
    ) -> Result<Vec<ScheduleInfo>> {
        let user = caller.user_id.clone();
        let rows = self
            .store()
            .read(move |c| mirror::list_schedules(c, &user))
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            match self.get_remote_schedule(caller, &row).await {
                Ok(info) if status.is_none_or(|s| info.status == s) => out.push(info),
                Ok(_) => {}
                // Gone on the cloud: the copy goes too.
                Err(ShannonError::NotFound(_)) => self.forget_remote_schedule(&row.id).await?,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Updates, pauses, resumes or deletes a cloud schedule there, then refreshes the copy.
    pub(crate) async fn change_remote_schedule(
        &self,
        caller: &Caller,
        row: &RemoteScheduleRow,
        change: ScheduleChange,
    ) -> Result<ScheduleAck> {
        let cloud = self.cloud(&row.profile_id).await?;
        let base = format!("/api/v1/schedules/{}", urlenc(&row.id));
        let key = [("Idempotency-Key", uuid::Uuid::new_v4().to_string())];
        let (method, path, body, what, done) = match &change {
            ScheduleChange::Update(req) => (
                Method::PUT,
                base,
                Some(cloud_body(req)),
                "update the schedule",
                "Schedule updated",
            ),
            ScheduleChange::Pause => (
                Method::POST,
                format!("{base}/pause"),
                None,
                "pause the schedule",
                "Schedule paused",
            ),
            ScheduleChange::Resume => (
                Method::POST,
                format!("{base}/resume"),
                None,
                "resume the schedule",
                "Schedule resumed",
            ),
            ScheduleChange::Delete => (
                Method::DELETE,
                base,
                None,
                "delete the schedule",
                "Schedule deleted successfully",
            ),
        };
        let v = match cloud.json(self, method, &path, body.as_ref(), &key).await? {
            Ok((v, _)) => v,
            Err(r) if r.status == reqwest::StatusCode::NOT_FOUND => {
                self.forget_remote_schedule(&row.id).await?;
                return Err(cloud.refused(what, r));
            }
            Err(r) => return Err(cloud.refused(what, r)),
        };
        if matches!(change, ScheduleChange::Delete) {
            self.forget_remote_schedule(&row.id).await?;
        } else if let Ok(fresh) = self.fetch_remote_schedule(&cloud, &row.id).await {
            self.keep_remote_schedule(caller, &row.profile_id, &row.id, &fresh)
                .await?;
        }
        Ok(ack(&v, done))
    }

    /// The runs of a cloud schedule, as the cloud lists them.
    pub(crate) async fn remote_schedule_runs(
        &self,
        row: &RemoteScheduleRow,
        page: Option<u32>,
        page_size: Option<u32>,
    ) -> Result<ScheduleRunList> {
        let cloud = self.cloud(&row.profile_id).await?;
        let path = format!(
            "/api/v1/schedules/{}/runs?page={}&page_size={}",
            urlenc(&row.id),
            page.unwrap_or(1),
            page_size.unwrap_or(20)
        );
        match cloud.json(self, Method::GET, &path, None, &[]).await? {
            Ok((v, _)) => Ok(ScheduleRunList {
                runs: v
                    .get("runs")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|r| serde_json::from_value(r.clone()).ok())
                            .collect()
                    })
                    .unwrap_or_default(),
                total_count: num(&v, "total_count"),
                page: num(&v, "page").max(1),
                page_size: num(&v, "page_size").max(1),
            }),
            Err(r) => Err(cloud.refused("list the schedule's runs", r)),
        }
    }

    async fn fetch_remote_schedule(&self, cloud: &CloudClient, id: &str) -> Result<Value> {
        let path = format!("/api/v1/schedules/{}", urlenc(id));
        match cloud.json(self, Method::GET, &path, None, &[]).await? {
            Ok((v, _)) => Ok(v),
            Err(r) => Err(cloud.refused("show the schedule", r)),
        }
    }

    async fn keep_remote_schedule(
        &self,
        caller: &Caller,
        profile: &str,
        id: &str,
        snapshot: &Value,
    ) -> Result<()> {
        let user = caller.user_id.clone();
        let row = RemoteScheduleRow {
            id: id.to_string(),
            profile_id: profile.to_string(),
            snapshot: snapshot.to_string(),
            synced_at: time::now(),
        };
        self.store()
            .write(move |tx| mirror::put_schedule(tx, &user, &row))
            .await
    }

    async fn forget_remote_schedule(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.store()
            .write(move |tx| mirror::delete_schedule(tx, &id))
            .await
    }
}
