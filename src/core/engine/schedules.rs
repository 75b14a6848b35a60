//! Cron schedules (contract §8): 5-field cron expressions in an IANA time zone, each firing a task
//! with the schedule's query and context. A scheduler loop in the core fires the schedules that are
//! due; a run missed while the app was closed fires once at the next start.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::core::auth::Caller;
use crate::core::engine::SubmitTaskRequest;
use crate::core::error::{Result, ShannonError};
use crate::core::{Core, time};

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

/// `POST /api/v1/schedules` (and, all optional, `PUT /api/v1/schedules/{id}`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct ScheduleRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Five fields: minute, hour, day of month, month, day of week.
    pub cron_expression: Option<String>,
    /// IANA name; default `UTC`.
    pub timezone: Option<String>,
    pub task_query: Option<String>,
    /// The runs' task context. Values may be strings carrying `"\u0000json:"` + JSON, as the cloud's
    /// clients send non-string values.
    pub task_context: Option<Map<String, Value>>,
    pub max_budget_per_run_usd: Option<f64>,
    pub timeout_seconds: Option<u32>,
    /// PUT only: an empty `task_context` clears the context only with this set.
    pub clear_task_context: bool,
}

/// `201` body of a create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ScheduleCreated {
    pub schedule_id: String,
    pub message: String,
    /// RFC 3339, or empty when there is no next run.
    pub next_run_at: String,
}

/// Update, pause, resume and delete acknowledgements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ScheduleAck {
    pub success: bool,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<String>,
}

/// A schedule. As the cloud's Go encoding, empty and zero fields are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ScheduleInfo {
    pub schedule_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub cron_expression: String,
    pub timezone: String,
    pub task_query: String,
    /// Values as text (the cloud's `map<string,string>`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub task_context: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub max_budget_per_run_usd: f64,
    pub timeout_seconds: u32,
    /// `ACTIVE | PAUSED`.
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<String>,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub total_runs: u32,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub successful_runs: u32,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub failed_runs: u32,
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// `GET /api/v1/schedules` (an empty list leaves `schedules` and `total_count` out, as the cloud).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ScheduleList {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<ScheduleInfo>,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub total_count: u32,
    pub page: u32,
    pub page_size: u32,
}

/// One run of a schedule: the task it started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ScheduleRun {
    pub workflow_id: String,
    pub query: String,
    /// The task's status (`RUNNING`, `COMPLETED`, …), or `UNKNOWN` when no task started.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_used: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub total_tokens: u32,
    pub total_cost_usd: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u32>,
    pub triggered_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ScheduleRunList {
    pub runs: Vec<ScheduleRun>,
    pub total_count: u32,
    pub page: u32,
    pub page_size: u32,
}

/// Prefix the cloud's clients put before JSON-encoded non-string context values.
const JSON_PREFIX: &str = "\u{0}json:";

/// A parsed, validated cron expression in its time zone.
struct CronIn {
    cron: Cron,
    tz: chrono_tz::Tz,
}

impl CronIn {
    fn parse(expression: &str, timezone: &str) -> Result<Self> {
        let tz = chrono_tz::Tz::from_str(timezone.trim())
            .map_err(|_| ShannonError::invalid(format!("invalid timezone: {timezone}")))?;
        let fields = expression.split_whitespace().count();
        if fields != 5 || expression.contains('@') {
            return Err(ShannonError::invalid(format!(
                "invalid cron expression: expected 5 fields (minute hour day-of-month month day-of-week), got {expression:?}"
            )));
        }
        let cron = Cron::new(expression.trim())
            .parse()
            .map_err(|e| ShannonError::invalid(format!("invalid cron expression: {e}")))?;
        Ok(Self { cron, tz })
    }

    /// The first fire time strictly after `after`.
    fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&after.with_timezone(&self.tz), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Refuses schedules firing more often than `min`: the gap between the next two fire times.
    fn check_interval(&self, min: Duration, now: DateTime<Utc>) -> Result<()> {
        let first = self.next_after(now);
        let second = first.and_then(|f| self.next_after(f));
        if let (Some(a), Some(b)) = (first, second)
            && (b - a).num_seconds() < min.as_secs() as i64
        {
            return Err(ShannonError::invalid(format!(
                "cron interval too short: must be at least {} minutes",
                min.as_secs() / 60
            )));
        }
        Ok(())
    }
}

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

/// A schedule whose next run is due, as the scheduler reads it.
struct DueSchedule {
    id: String,
    user_id: String,
    tenant_id: String,
    cron_expression: String,
    timezone: String,
    query: String,
    budget: f64,
    timeout_seconds: u32,
    context: String,
}

/// The run counters are counted from `schedule_runs` and the tasks they started (the table's own
/// counter columns are left unused), so they cannot drift from the runs.
const COLUMNS: &str = "s.id, s.name, s.description, s.cron_expression, s.timezone, s.task_query, s.task_context,
     s.max_budget_per_run_usd, s.timeout_seconds, s.status, s.created_at, s.updated_at, s.last_run_at, s.next_run_at,
     (SELECT count(*) FROM schedule_runs r WHERE r.schedule_id = s.id),
     (SELECT count(*) FROM schedule_runs r JOIN tasks t ON t.workflow_id = r.workflow_id
        WHERE r.schedule_id = s.id AND t.status = 'COMPLETED'),
     (SELECT count(*) FROM schedule_runs r LEFT JOIN tasks t ON t.workflow_id = r.workflow_id
        WHERE r.schedule_id = s.id AND (t.status IN ('FAILED', 'CANCELLED', 'TIMEOUT') OR r.error IS NOT NULL))";

fn read_info(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScheduleInfo> {
    Ok(ScheduleInfo {
        schedule_id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        cron_expression: r.get(3)?,
        timezone: r.get(4)?,
        task_query: r.get(5)?,
        task_context: context_as_text(&r.get::<_, String>(6)?),
        max_budget_per_run_usd: r.get(7)?,
        timeout_seconds: r.get(8)?,
        status: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
        last_run_at: r.get(12)?,
        next_run_at: r.get(13)?,
        total_runs: r.get(14)?,
        successful_runs: r.get(15)?,
        failed_runs: r.get(16)?,
    })
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
        self.engine().schedule_limits
    }

    pub async fn create_schedule(
        &self,
        caller: &Caller,
        req: ScheduleRequest,
    ) -> Result<ScheduleCreated> {
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
                let count: u32 = tx.query_row(
                    "SELECT count(*) FROM schedules WHERE user_id = ?1 AND status != 'DELETED'",
                    [&user],
                    |r| r.get(0),
                )?;
                if count >= limits.max_per_user {
                    return Err(ShannonError::RateLimited(format!(
                        "schedule limit reached: at most {} schedules per user",
                        limits.max_per_user
                    )));
                }
                tx.execute(
                    "INSERT INTO schedules (id, user_id, name, description, cron_expression, timezone, task_query,
                        task_context, max_budget_per_run_usd, timeout_seconds, status, created_at, updated_at, next_run_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'ACTIVE', ?11, ?11, ?12)",
                    params![row_id, user, name, description, expression, timezone, query,
                            context.to_string(), budget, timeout, stamp, next_at],
                )?;
                Ok(())
            })
            .await?;
        self.engine().scheduler_wake.notify_one();
        Ok(ScheduleCreated {
            schedule_id: id,
            message: "Schedule created successfully".into(),
            next_run_at: next.unwrap_or_default(),
        })
    }

    pub async fn get_schedule(&self, caller: &Caller, id: &str) -> Result<ScheduleInfo> {
        validate_id(id)?;
        let (user, id) = (caller.user_id.clone(), id.to_string());
        self.store()
            .read(move |c| {
                c.query_row(
                    &format!(
                        "SELECT {COLUMNS} FROM schedules s WHERE s.id = ?1 AND s.user_id = ?2 AND s.status != 'DELETED'"
                    ),
                    params![id, user],
                    read_info,
                )
                .optional()?
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
            .filter(|s| s == "ACTIVE" || s == "PAUSED");
        let user = caller.user_id.clone();
        self.store()
            .read(move |c| {
                let filter = "FROM schedules s WHERE s.user_id = ?1 AND s.status != 'DELETED' AND (?2 IS NULL OR s.status = ?2)";
                let total: u32 = c.query_row(
                    &format!("SELECT count(*) {filter}"),
                    params![user, status],
                    |r| r.get(0),
                )?;
                let mut stmt = c.prepare(&format!(
                    "SELECT {COLUMNS} {filter} ORDER BY s.created_at DESC, s.id LIMIT ?3 OFFSET ?4"
                ))?;
                let schedules = stmt
                    .query_map(
                        params![user, status, page_size, (page - 1) * page_size],
                        read_info,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(ScheduleList {
                    schedules,
                    total_count: total,
                    page,
                    page_size,
                })
            })
            .await
    }

    pub async fn update_schedule(
        &self,
        caller: &Caller,
        id: &str,
        req: ScheduleRequest,
    ) -> Result<ScheduleAck> {
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
        let active = current.status == "ACTIVE";
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
                tx.execute(
                    "UPDATE schedules SET name = ?3, description = ?4, cron_expression = ?5, timezone = ?6,
                        task_query = ?7, task_context = coalesce(?8, task_context), max_budget_per_run_usd = ?9,
                        timeout_seconds = ?10, updated_at = ?11, next_run_at = ?12
                     WHERE id = ?1 AND user_id = ?2 AND status != 'DELETED'",
                    params![id, user, name, description, expression, timezone, query, context,
                            budget, timeout, stamp, next_at],
                )?;
                Ok(())
            })
            .await?;
        self.engine().scheduler_wake.notify_one();
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
        let next = if status == "ACTIVE" {
            CronIn::parse(&current.cron_expression, &current.timezone)?
                .next_after(Utc::now())
                .map(time::format)
        } else {
            None
        };
        let (user, id, next_at) = (caller.user_id.clone(), id.to_string(), next.clone());
        self.store()
            .write(move |tx| {
                tx.execute(
                    "UPDATE schedules SET status = ?3, next_run_at = ?4, updated_at = ?5
                     WHERE id = ?1 AND user_id = ?2 AND status != 'DELETED'",
                    params![id, user, status, next_at, time::now()],
                )?;
                Ok(())
            })
            .await?;
        self.engine().scheduler_wake.notify_one();
        Ok(next)
    }

    pub async fn pause_schedule(&self, caller: &Caller, id: &str) -> Result<ScheduleAck> {
        self.set_schedule_status(caller, id, "PAUSED").await?;
        Ok(ScheduleAck {
            success: true,
            message: "Schedule paused".into(),
            next_run_at: None,
        })
    }

    pub async fn resume_schedule(&self, caller: &Caller, id: &str) -> Result<ScheduleAck> {
        let next = self.set_schedule_status(caller, id, "ACTIVE").await?;
        Ok(ScheduleAck {
            success: true,
            message: "Schedule resumed".into(),
            next_run_at: next,
        })
    }

    /// Soft delete: the schedule stops and disappears; its runs' tasks stay in the task list.
    pub async fn delete_schedule(&self, caller: &Caller, id: &str) -> Result<ScheduleAck> {
        self.set_schedule_status(caller, id, "DELETED").await?;
        Ok(ScheduleAck {
            success: true,
            message: "Schedule deleted successfully".into(),
            next_run_at: None,
        })
    }

    pub async fn schedule_runs(
        &self,
        caller: &Caller,
        id: &str,
        page: Option<u32>,
        page_size: Option<u32>,
    ) -> Result<ScheduleRunList> {
        self.get_schedule(caller, id).await?;
        let (page, page_size) = page_of(page, page_size, 20);
        let id = id.to_string();
        self.store()
            .read(move |c| {
                let total: u32 = c.query_row(
                    "SELECT count(*) FROM schedule_runs WHERE schedule_id = ?1",
                    [&id],
                    |r| r.get(0),
                )?;
                let mut stmt = c.prepare(
                    "SELECT coalesce(r.workflow_id, ''), coalesce(t.query, s.task_query), coalesce(t.status, 'UNKNOWN'),
                            t.result, coalesce(t.error_message, r.error), t.model_used, t.provider,
                            coalesce(t.total_tokens, 0), coalesce(t.cost_usd, 0), t.duration_ms,
                            r.triggered_at, t.started_at, t.completed_at
                     FROM schedule_runs r JOIN schedules s ON s.id = r.schedule_id
                     LEFT JOIN tasks t ON t.workflow_id = r.workflow_id
                     WHERE r.schedule_id = ?1 ORDER BY r.triggered_at DESC, r.rowid DESC LIMIT ?2 OFFSET ?3",
                )?;
                let runs = stmt
                    .query_map(params![id, page_size, (page - 1) * page_size], |r| {
                        Ok(ScheduleRun {
                            workflow_id: r.get(0)?,
                            query: r.get(1)?,
                            status: r.get(2)?,
                            result: r.get(3)?,
                            error_message: r.get(4)?,
                            model_used: r.get(5)?,
                            provider: r.get(6)?,
                            total_tokens: r.get(7)?,
                            total_cost_usd: r.get(8)?,
                            duration_ms: r.get(9)?,
                            triggered_at: r.get(10)?,
                            started_at: r.get(11)?,
                            completed_at: r.get(12)?,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(ScheduleRunList {
                    runs,
                    total_count: total,
                    page,
                    page_size,
                })
            })
            .await
    }

    /// Fires every active schedule whose next run is due, and moves its next run on. Returns the
    /// time of the nearest next run, for the loop to sleep until.
    async fn fire_due_schedules(&self) -> Result<Option<DateTime<Utc>>> {
        let now = Utc::now();
        let stamp = time::format(now);
        let due: Vec<DueSchedule> = self
            .store()
            .read(move |c| {
                let mut stmt = c.prepare(
                    "SELECT s.id, s.user_id, coalesce(u.tenant_id, ''), s.cron_expression, s.timezone, s.task_query,
                            s.max_budget_per_run_usd, s.timeout_seconds, s.task_context
                     FROM schedules s LEFT JOIN users u ON u.id = s.user_id
                     WHERE s.status = 'ACTIVE' AND s.next_run_at IS NOT NULL AND s.next_run_at <= ?1",
                )?;
                let rows = stmt
                    .query_map([stamp], |r| {
                        Ok(DueSchedule {
                            id: r.get(0)?,
                            user_id: r.get(1)?,
                            tenant_id: r.get(2)?,
                            cron_expression: r.get(3)?,
                            timezone: r.get(4)?,
                            query: r.get(5)?,
                            budget: r.get(6)?,
                            timeout_seconds: r.get(7)?,
                            context: r.get(8)?,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .await?;
        for DueSchedule {
            id,
            user_id: user,
            tenant_id: tenant,
            cron_expression: expression,
            timezone: tz,
            query,
            budget,
            timeout_seconds: timeout,
            context,
        } in due
        {
            let next = CronIn::parse(&expression, &tz)
                .ok()
                .and_then(|c| c.next_after(now))
                .map(time::format);
            let caller = Caller {
                user_id: user,
                tenant_id: tenant,
                method: crate::core::auth::AuthMethod::Embedded,
            };
            let mut ctx: Map<String, Value> = serde_json::from_str(&context).unwrap_or_default();
            ctx.insert("trigger_type".into(), "schedule".into());
            ctx.insert("schedule_id".into(), id.clone().into());
            if budget > 0.0 {
                ctx.insert("max_budget_usd".into(), budget.into());
            }
            // The run is recorded and the schedule moved on before the task starts, so a crash in
            // between leaves an UNKNOWN run rather than firing the same time twice.
            let (run_id, fired_at) = (uuid::Uuid::new_v4().to_string(), time::format(now));
            let (schedule_id, run) = (id.clone(), run_id.clone());
            self.store()
                .write(move |tx| {
                    tx.execute(
                        "INSERT INTO schedule_runs (id, schedule_id, status, triggered_at)
                         VALUES (?1, ?2, 'UNKNOWN', ?3)",
                        params![run, schedule_id, fired_at],
                    )?;
                    tx.execute(
                        "UPDATE schedules SET last_run_at = ?2, next_run_at = ?3 WHERE id = ?1",
                        params![schedule_id, fired_at, next],
                    )?;
                    Ok(())
                })
                .await?;
            let submitted = self
                .submit_task(
                    &caller,
                    SubmitTaskRequest {
                        query,
                        context: ctx,
                        ..SubmitTaskRequest::default()
                    },
                    None,
                )
                .await;
            let (workflow_id, error) = match &submitted {
                Ok(r) => (Some(r.workflow_id.clone()), None),
                Err(e) => {
                    tracing::warn!(schedule_id = %id, error = %e, "a scheduled run could not start");
                    (None, Some(e.to_string()))
                }
            };
            let (schedule_id, wf) = (id.clone(), workflow_id.clone());
            self.store()
                .write(move |tx| {
                    tx.execute(
                        "UPDATE schedule_runs SET workflow_id = ?2, status = ?3, started_at = ?4, error = ?5
                         WHERE id = ?1",
                        params![run_id, wf, if error.is_some() { "FAILED" } else { "RUNNING" },
                                time::now(), error],
                    )?;
                    if wf.is_some() {
                        tx.execute(
                            "UPDATE tasks SET trigger_type = 'schedule', schedule_id = ?2 WHERE workflow_id = ?1",
                            params![wf, schedule_id],
                        )?;
                    }
                    Ok(())
                })
                .await?;
            if let Some(wf) = workflow_id {
                self.cancel_after_timeout(caller, wf, Duration::from_secs(u64::from(timeout)));
            }
        }
        let nearest: Option<String> = self
            .store()
            .read(|c| {
                Ok(c.query_row(
                    "SELECT min(next_run_at) FROM schedules WHERE status = 'ACTIVE'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await?;
        Ok(nearest.and_then(|t| {
            DateTime::parse_from_rfc3339(&t)
                .ok()
                .map(|d| d.with_timezone(&Utc))
        }))
    }

    /// A run that outlives its schedule's `timeout_seconds` is cancelled.
    fn cancel_after_timeout(&self, caller: Caller, workflow_id: String, timeout: Duration) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let Some(inner) = weak.upgrade() else { return };
            let core = Core { inner };
            let running = core
                .get_task(&caller, &workflow_id)
                .await
                .is_ok_and(|t| t.completed_at.is_none());
            if running {
                let reason = format!("schedule timeout after {} s", timeout.as_secs());
                let _ = core.cancel_task(&caller, &workflow_id, Some(reason)).await;
            }
        });
    }

    /// Starts the scheduler loop; it ends when the core is dropped.
    pub(crate) fn start_scheduler(&self) {
        spawn_scheduler(Arc::downgrade(&self.inner));
    }
}

fn spawn_scheduler(weak: Weak<super::super::Inner>) {
    tokio::spawn(async move {
        loop {
            let Some(inner) = weak.upgrade() else { return };
            let core = Core { inner };
            let poll = core.schedule_limits().poll;
            let wait = match core.fire_due_schedules().await {
                Ok(Some(next)) => (next - Utc::now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .min(poll),
                Ok(None) => poll,
                Err(e) => {
                    tracing::warn!(error = %e, "the scheduler could not read the due schedules");
                    poll
                }
            };
            let engine_wake = core.engine().scheduler_wake.clone();
            drop(core); // Hold only the weak reference while sleeping.
            tokio::select! {
                _ = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
                _ = engine_wake.notified() => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn five_fields_in_a_time_zone_with_sunday_as_zero() {
        let c = CronIn::parse("30 9 * * 1-5", "Europe/Paris").unwrap();
        // Saturday 2026-11-28 → Monday 09:30 in Paris (08:30 UTC in winter).
        assert_eq!(
            c.next_after(at("2026-11-28T12:00:00Z")),
            Some(at("2026-11-30T08:30:00Z"))
        );
        let sunday = CronIn::parse("0 12 * * 0", "UTC").unwrap();
        assert_eq!(
            sunday.next_after(at("2026-11-25T00:00:00Z")),
            Some(at("2026-11-29T12:00:00Z"))
        );
    }

    #[test]
    fn seconds_descriptors_bad_zones_and_short_intervals_are_refused() {
        for bad in ["0 * * * * *", "@daily", "* * *", "61 * * * *"] {
            let e = CronIn::parse(bad, "UTC").err().unwrap();
            assert!(
                e.to_string().contains("invalid cron expression"),
                "{bad}: {e}"
            );
        }
        let e = CronIn::parse("0 * * * *", "Mars/Olympus").err().unwrap();
        assert!(e.to_string().contains("invalid timezone: Mars/Olympus"));
        let every_5 = CronIn::parse("*/5 * * * *", "UTC").unwrap();
        let e = every_5
            .check_interval(Duration::from_secs(3600), Utc::now())
            .unwrap_err();
        assert!(e.to_string().contains("at least 60 minutes"));
        let hourly = CronIn::parse("0 * * * *", "UTC").unwrap();
        hourly
            .check_interval(Duration::from_secs(3600), Utc::now())
            .unwrap();
    }

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
