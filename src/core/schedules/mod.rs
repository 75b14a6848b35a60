//! Cron schedules (see docs/upstream.md#schedules): 5-field cron expressions in an IANA time zone,
//! each firing a task with the schedule's query and context. A scheduler loop in the core fires the
//! schedules that are due; a run missed while the app was closed fires once at the next start.
//!
//! [`types`] holds the bodies, [`cron`] the expressions, the operations live here, and
//! [`scheduler`] is the loop that fires due runs; it holds the core only through a weak handle.

mod cron;
mod scheduler;
pub mod types;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Map, Value};

use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::remote::Target;
use crate::core::remote::schedules::ScheduleChange;
pub(crate) use crate::core::store::schedules::RUN_NOT_STARTED;
use crate::core::store::schedules::{self as store, NewSchedule, ScheduleRow, ScheduleUpdate};
use crate::core::{Core, time};
use cron::CronIn;
pub use types::*;

/// Limits from the cloud's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScheduleLimits {
    /// Shortest allowed gap between two runs (`SCHEDULE_MIN_INTERVAL_MINS`).
    pub min_interval: Duration,
    /// Schedules per user (`SCHEDULE_MAX_PER_USER`).
    pub max_per_user: u32,
    /// Largest `max_budget_per_run_usd` (`SCHEDULE_MAX_BUDGET_USD`).
    pub max_budget_usd: f64,
    /// Longest wait between two looks at the due schedules (a change wakes the loop at once).
    pub poll: Duration,
}

impl Default for ScheduleLimits {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(60 * 60),
            max_per_user: 50,
            max_budget_usd: 10.0,
            poll: Duration::from_secs(30),
        }
    }
}

/// The scheduler's shared state: its limits and the bell that wakes it when a schedule changes.
#[derive(Debug, Default)]
pub(crate) struct SchedulerState {
    pub limits: ScheduleLimits,
    pub wake: Arc<tokio::sync::Notify>,
}

/// A schedule's status: firing, paused, or soft-deleted.
pub(crate) const ACTIVE: &str = "ACTIVE";
pub(crate) const PAUSED: &str = "PAUSED";
pub(crate) const DELETED: &str = "DELETED";

/// Prefix the cloud's clients put before JSON-encoded non-string context values.
const JSON_PREFIX: &str = "\u{0}json:";

/// Decodes the clients' `"\u0000json:"` strings back to JSON values.
fn decode_context(ctx: Map<String, Value>) -> Map<String, Value> {
    ctx.into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) if s.starts_with(JSON_PREFIX) => {
                    serde_json::from_str(&s[JSON_PREFIX.len()..]).unwrap_or(Value::String(s))
                }
                other => other,
            };
            (k, v)
        })
        .collect()
}

fn context_as_text(ctx: &str) -> BTreeMap<String, String> {
    let map: Map<String, Value> = serde_json::from_str(ctx).unwrap_or_default();
    map.into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, text)
        })
        .collect()
}

fn validate_budget(budget: f64, limits: &ScheduleLimits) -> Result<f64> {
    if !(0.0..=limits.max_budget_usd).contains(&budget) || budget.is_nan() {
        return Err(ShannonError::invalid(format!(
            "budget exceeds limit: max_budget_per_run_usd must be between 0 and {}",
            limits.max_budget_usd
        )));
    }
    Ok(budget)
}

fn validate_id(id: &str) -> Result<()> {
    uuid::Uuid::parse_str(id)
        .map(|_| ())
        .map_err(|_| ShannonError::invalid("invalid schedule ID"))
}

fn not_found() -> ShannonError {
    ShannonError::NotFound("Schedule not found".into())
}

/// A schedule from its row, the context's values as text.
fn info_of(row: ScheduleRow) -> ScheduleInfo {
    ScheduleInfo {
        schedule_id: row.id,
        name: row.name,
        description: row.description,
        cron_expression: row.cron_expression,
        timezone: row.timezone,
        task_query: row.task_query,
        task_context: context_as_text(&row.task_context),
        max_budget_per_run_usd: row.max_budget_per_run_usd,
        timeout_seconds: row.timeout_seconds,
        status: row.status,
        created_at: row.created_at,
        updated_at: row.updated_at,
        last_run_at: row.last_run_at,
        next_run_at: row.next_run_at,
        total_runs: row.total_runs,
        successful_runs: row.successful_runs,
        failed_runs: row.failed_runs,
        source: crate::core::remote::LOCAL.into(),
    }
}

fn page_of(page: Option<u32>, page_size: Option<u32>, default: u32) -> (u32, u32) {
    // Invalid values fall back to the defaults, as the cloud.
    let page = page.filter(|p| *p >= 1).unwrap_or(1);
    let size = page_size
        .filter(|s| (1..=100).contains(s))
        .unwrap_or(default);
    (page, size)
}

impl Core {
    pub(crate) fn schedule_limits(&self) -> ScheduleLimits {
        self.scheduler().limits
    }

    /// Creates an active schedule. Name, query and a 5-field cron (in `timezone`, default UTC) are
    /// required; runs must be `min_interval` apart and the budget at most `max_budget_usd`
    /// ([`CoreConfig::schedules`](crate::core::CoreConfig::schedules)); `timeout_seconds` defaults
    /// to 3600. `rate_limited` once the user has `max_per_user` schedules.
    pub async fn create_schedule(
        &self,
        caller: &Caller,
        req: ScheduleRequest,
    ) -> Result<ScheduleCreated> {
        if let Target::Remote(profile) = Target::parse(req.target.as_deref().unwrap_or_default()) {
            return self.create_remote_schedule(caller, &profile, req).await;
        }
        let limits = self.schedule_limits();
        let name = req.name.unwrap_or_default().trim().to_string();
        if name.is_empty() {
            return Err(ShannonError::invalid("schedule name required"));
        }
        let query = req.task_query.unwrap_or_default().trim().to_string();
        if query.is_empty() {
            return Err(ShannonError::invalid("task query required"));
        }
        let expression = req.cron_expression.unwrap_or_default().trim().to_string();
        let timezone = req.timezone.unwrap_or_else(|| "UTC".into());
        let cron = CronIn::parse(&expression, &timezone)?;
        let now = Utc::now();
        cron.check_interval(limits.min_interval, now)?;
        let budget = validate_budget(req.max_budget_per_run_usd.unwrap_or(0.0), &limits)?;
        let timeout = req.timeout_seconds.filter(|t| *t > 0).unwrap_or(3600);
        let context = Value::Object(decode_context(req.task_context.unwrap_or_default()));
        let next = cron.next_after(now).map(time::format);
        let id = uuid::Uuid::new_v4().to_string();
        let (user, stamp, description) = (
            caller.user_id.clone(),
            time::format(now),
            req.description.unwrap_or_default(),
        );
        let (row_id, next_at) = (id.clone(), next.clone());
        self.store()
            .write(move |tx| {
                let count = store::count_live_for_user(tx, &user)?;
                if count >= limits.max_per_user {
                    return Err(ShannonError::RateLimited(format!(
                        "schedule limit reached: at most {} schedules per user",
                        limits.max_per_user
                    )));
                }
                store::insert(
                    tx,
                    &NewSchedule {
                        id: &row_id,
                        user_id: &user,
                        name: &name,
                        description: &description,
                        cron_expression: &expression,
                        timezone: &timezone,
                        task_query: &query,
                        task_context: &context.to_string(),
                        max_budget_per_run_usd: budget,
                        timeout_seconds: timeout,
                        now: &stamp,
                        next_run_at: next_at.as_deref(),
                    },
                )?;
                Ok(())
            })
            .await?;
        self.scheduler().wake.notify_one();
        Ok(ScheduleCreated {
            schedule_id: id,
            message: "Schedule created successfully".into(),
            next_run_at: next.unwrap_or_default(),
        })
    }

    /// One of the caller's schedules; `invalid_request` for an id that is not a UUID, `not_found`
    /// for a deleted or another user's one.
    pub async fn get_schedule(&self, caller: &Caller, id: &str) -> Result<ScheduleInfo> {
        validate_id(id)?;
        if let Some(row) = self.remote_schedule(caller, id).await? {
            return self.get_remote_schedule(caller, &row).await;
        }
        let (user, id) = (caller.user_id.clone(), id.to_string());
        self.store()
            .read(move |c| {
                store::get_live(c, &id, &user)?
                    .map(info_of)
                    .ok_or_else(not_found)
            })
            .await
    }

    /// `status`: `ACTIVE`, `PAUSED`, anything else means all.
    pub async fn list_schedules(
        &self,
        caller: &Caller,
        page: Option<u32>,
        page_size: Option<u32>,
        status: Option<String>,
    ) -> Result<ScheduleList> {
        let (page, page_size) = page_of(page, page_size, 50);
        let status = status
            .map(|s| s.to_ascii_uppercase())
            .filter(|s| s == ACTIVE || s == PAUSED);
        let (user, wanted) = (caller.user_id.clone(), status.clone());
        let mut list = self
            .store()
            .read(move |c| {
                let total = store::count_for_user(c, &user, status.as_deref())?;
                let schedules = store::list_for_user(
                    c,
                    &user,
                    status.as_deref(),
                    page_size,
                    (page - 1) * page_size,
                )?
                .into_iter()
                .map(info_of)
                .collect();
                Ok(ScheduleList {
                    schedules,
                    total_count: total,
                    page,
                    page_size,
                })
            })
            .await?;
        // The cloud's schedules follow the local ones, on the first page.
        if self.remote_enabled() {
            let remote = self
                .list_remote_schedules(caller, wanted.as_deref())
                .await?;
            list.total_count += remote.len() as u32;
            if page == 1 {
                list.schedules.extend(remote);
            }
        }
        Ok(list)
    }

    /// A page of 100 of the caller's schedules kept here (never the cloud's), of `status`.
    pub(crate) async fn list_local_schedules(
        &self,
        caller: &Caller,
        page: u32,
        status: Option<String>,
    ) -> Result<Vec<ScheduleInfo>> {
        let user = caller.user_id.clone();
        self.store()
            .read(move |c| {
                Ok(
                    store::list_for_user(c, &user, status.as_deref(), 100, (page - 1) * 100)?
                        .into_iter()
                        .map(info_of)
                        .collect(),
                )
            })
            .await
    }

    /// Changes the fields `req` carries, validated as on creation; the rest stay. An empty
    /// `task_context` clears it only with `clear_task_context`. The next run is recomputed while
    /// the schedule is active.
    pub async fn update_schedule(
        &self,
        caller: &Caller,
        id: &str,
        req: ScheduleRequest,
    ) -> Result<ScheduleAck> {
        if let Some(row) = self.remote_schedule(caller, id).await? {
            return self
                .change_remote_schedule(caller, &row, ScheduleChange::Update(Box::new(req)))
                .await;
        }
        let current = self.get_schedule(caller, id).await?;
        let limits = self.schedule_limits();
        if req.timezone.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(ShannonError::invalid("invalid timezone: empty"));
        }
        let name = match req.name {
            Some(n) if n.trim().is_empty() => {
                return Err(ShannonError::invalid("schedule name required"));
            }
            Some(n) => n.trim().to_string(),
            None => current.name,
        };
        let query = match req.task_query {
            Some(q) if q.trim().is_empty() => {
                return Err(ShannonError::invalid("task query required"));
            }
            Some(q) => q.trim().to_string(),
            None => current.task_query,
        };
        let expression = req
            .cron_expression
            .map(|e| e.trim().to_string())
            .unwrap_or(current.cron_expression);
        let timezone = req.timezone.unwrap_or(current.timezone);
        let cron = CronIn::parse(&expression, &timezone)?;
        let now = Utc::now();
        cron.check_interval(limits.min_interval, now)?;
        let budget = validate_budget(
            req.max_budget_per_run_usd
                .unwrap_or(current.max_budget_per_run_usd),
            &limits,
        )?;
        let timeout = req
            .timeout_seconds
            .filter(|t| *t > 0)
            .unwrap_or(current.timeout_seconds);
        let description = req.description.unwrap_or(current.description);
        // A non-empty context replaces; an empty one clears only with clear_task_context.
        let context = match req.task_context {
            Some(c) if !c.is_empty() => Some(Value::Object(decode_context(c)).to_string()),
            _ if req.clear_task_context => Some("{}".to_string()),
            _ => None,
        };
        let active = current.status == ACTIVE;
        let next = active
            .then(|| cron.next_after(now))
            .flatten()
            .map(time::format);
        let (user, id, stamp, next_at) = (
            caller.user_id.clone(),
            id.to_string(),
            time::format(now),
            next.clone(),
        );
        self.store()
            .write(move |tx| {
                store::update(
                    tx,
                    &ScheduleUpdate {
                        id: &id,
                        user_id: &user,
                        name: &name,
                        description: &description,
                        cron_expression: &expression,
                        timezone: &timezone,
                        task_query: &query,
                        task_context: context.as_deref(),
                        max_budget_per_run_usd: budget,
                        timeout_seconds: timeout,
                        now: &stamp,
                        next_run_at: next_at.as_deref(),
                    },
                )?;
                Ok(())
            })
            .await?;
        self.scheduler().wake.notify_one();
        Ok(ScheduleAck {
            success: true,
            message: "Schedule updated successfully".into(),
            next_run_at: next,
        })
    }

    async fn set_schedule_status(
        &self,
        caller: &Caller,
        id: &str,
        status: &'static str,
    ) -> Result<Option<String>> {
        let current = self.get_schedule(caller, id).await?;
        let next = if status == ACTIVE {
            CronIn::parse(&current.cron_expression, &current.timezone)?
                .next_after(Utc::now())
                .map(time::format)
        } else {
            None
        };
        let (user, id, next_at) = (caller.user_id.clone(), id.to_string(), next.clone());
        self.store()
            .write(move |tx| {
                store::set_status(tx, &id, &user, status, next_at.as_deref(), &time::now())?;
                Ok(())
            })
            .await?;
        self.scheduler().wake.notify_one();
        Ok(next)
    }

    /// Stops the schedule's runs until [`Core::resume_schedule`]; `next_run_at` becomes `None`.
    pub async fn pause_schedule(&self, caller: &Caller, id: &str) -> Result<ScheduleAck> {
        if let Some(row) = self.remote_schedule(caller, id).await? {
            return self
                .change_remote_schedule(caller, &row, ScheduleChange::Pause)
                .await;
        }
        self.set_schedule_status(caller, id, PAUSED).await?;
        Ok(ScheduleAck {
            success: true,
            message: "Schedule paused".into(),
            next_run_at: None,
        })
    }

    /// Makes a schedule active again, answering its next run time from now.
    pub async fn resume_schedule(&self, caller: &Caller, id: &str) -> Result<ScheduleAck> {
        if let Some(row) = self.remote_schedule(caller, id).await? {
            return self
                .change_remote_schedule(caller, &row, ScheduleChange::Resume)
                .await;
        }
        let next = self.set_schedule_status(caller, id, ACTIVE).await?;
        Ok(ScheduleAck {
            success: true,
            message: "Schedule resumed".into(),
            next_run_at: next,
        })
    }

    /// Soft delete: the schedule stops and disappears; its runs' tasks stay in the task list.
    pub async fn delete_schedule(&self, caller: &Caller, id: &str) -> Result<ScheduleAck> {
        if let Some(row) = self.remote_schedule(caller, id).await? {
            return self
                .change_remote_schedule(caller, &row, ScheduleChange::Delete)
                .await;
        }
        self.set_schedule_status(caller, id, DELETED).await?;
        Ok(ScheduleAck {
            success: true,
            message: "Schedule deleted successfully".into(),
            next_run_at: None,
        })
    }

    /// A page of a schedule's runs, newest first (page from 1, 1..=100 per page, default 20), with
    /// their tasks' status and result.
    pub async fn get_schedule_runs(
        &self,
        caller: &Caller,
        id: &str,
        page: Option<u32>,
        page_size: Option<u32>,
    ) -> Result<ScheduleRunList> {
        if let Some(row) = self.remote_schedule(caller, id).await? {
            return self.remote_schedule_runs(&row, page, page_size).await;
        }
        self.get_schedule(caller, id).await?;
        let (page, page_size) = page_of(page, page_size, 20);
        let id = id.to_string();
        self.store()
            .read(move |c| {
                let total = store::total_runs(c, &id)?;
                let runs = store::list_runs(c, &id, page_size, (page - 1) * page_size)?;
                Ok(ScheduleRunList {
                    runs,
                    total_count: total,
                    page,
                    page_size,
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_prefixed_context_values_are_decoded() {
        let mut ctx = Map::new();
        ctx.insert("force_research".into(), "\u{0}json:true".into());
        ctx.insert("role".into(), "analysis".into());
        let d = decode_context(ctx);
        assert_eq!(d["force_research"], Value::Bool(true));
        assert_eq!(d["role"], "analysis");
    }
}
