//! Schedules: the `schedules` table and its `schedule_runs`, plus the scheduler's reads of the
//! owners' tenants (`users`) and its tagging of the tasks a run started (`tasks`).

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::core::error::Result;

/// A run's status before its task started (or when none could start), as the cloud's.
pub(crate) const RUN_NOT_STARTED: &str = "UNKNOWN";

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

/// The run counters are kept by triggers on runs and their tasks (migration 06), so a list does not
/// count every run of every schedule.
const COLUMNS: &str = "s.id, s.name, s.description, s.cron_expression, s.timezone, s.task_query, s.task_context,
     s.max_budget_per_run_usd, s.timeout_seconds, s.status, s.created_at, s.updated_at, s.last_run_at, s.next_run_at,
     s.total_runs, s.successful_runs, s.failed_runs";

/// A schedule as stored; `task_context` is JSON text.
#[derive(Debug, Clone)]
pub(crate) struct ScheduleRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub cron_expression: String,
    pub timezone: String,
    pub task_query: String,
    pub task_context: String,
    pub max_budget_per_run_usd: f64,
    pub timeout_seconds: u32,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    pub last_run_at: Option<String>,
    pub next_run_at: Option<String>,
    pub total_runs: u32,
    pub successful_runs: u32,
    pub failed_runs: u32,
}

impl ScheduleRow {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            name: r.get(1)?,
            description: r.get(2)?,
            cron_expression: r.get(3)?,
            timezone: r.get(4)?,
            task_query: r.get(5)?,
            task_context: r.get(6)?,
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
}

/// A new schedule's columns (it starts `ACTIVE`, created and updated at `now`).
pub(crate) struct NewSchedule<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub cron_expression: &'a str,
    pub timezone: &'a str,
    pub task_query: &'a str,
    /// JSON text.
    pub task_context: &'a str,
    pub max_budget_per_run_usd: f64,
    pub timeout_seconds: u32,
    pub now: &'a str,
    pub next_run_at: Option<&'a str>,
}

/// The columns an update sets; `task_context: None` keeps the stored context.
pub(crate) struct ScheduleUpdate<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub cron_expression: &'a str,
    pub timezone: &'a str,
    pub task_query: &'a str,
    /// JSON text.
    pub task_context: Option<&'a str>,
    pub max_budget_per_run_usd: f64,
    pub timeout_seconds: u32,
    pub now: &'a str,
    pub next_run_at: Option<&'a str>,
}

/// A schedule whose next run is due, as the scheduler reads it.
pub(crate) struct DueSchedule {
    pub id: String,
    pub user_id: String,
    pub tenant_id: String,
    pub cron_expression: String,
    pub timezone: String,
    pub query: String,
    pub budget: f64,
    pub timeout_seconds: u32,
    /// JSON text.
    pub context: String,
}

/// The user's number of schedules that are not deleted.
pub(crate) fn count_live_for_user(c: &Connection, user: &str) -> Result<u32> {
    Ok(c.query_row(
        "SELECT count(*) FROM schedules WHERE user_id = ?1 AND status != 'DELETED'",
        [user],
        |r| r.get(0),
    )?)
}

/// Inserts a new active schedule.
pub(crate) fn insert(tx: &Transaction<'_>, s: &NewSchedule<'_>) -> Result<()> {
    tx.execute(
        "INSERT INTO schedules (id, user_id, name, description, cron_expression, timezone, task_query,
                        task_context, max_budget_per_run_usd, timeout_seconds, status, created_at, updated_at, next_run_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'ACTIVE', ?11, ?11, ?12)",
        params![
            s.id,
            s.user_id,
            s.name,
            s.description,
            s.cron_expression,
            s.timezone,
            s.task_query,
            s.task_context,
            s.max_budget_per_run_usd,
            s.timeout_seconds,
            s.now,
            s.next_run_at
        ],
    )?;
    Ok(())
}

/// One of the user's schedules that is not deleted.
pub(crate) fn get_live(c: &Connection, id: &str, user: &str) -> Result<Option<ScheduleRow>> {
    Ok(c.query_row(
        &format!(
            "SELECT {} FROM schedules s WHERE s.id = ?1 AND s.user_id = ?2 AND s.status != 'DELETED'",
            COLUMNS
        ),
        params![id, user],
        ScheduleRow::from_row,
    )
    .optional()?)
}

/// The user's schedules that are not deleted, optionally only those with this status.
const LIST_FILTER: &str = "FROM schedules s WHERE s.user_id = ?1 AND s.status != 'DELETED' AND (?2 IS NULL OR s.status = ?2)";

/// How many schedules [`list_for_user`] pages through.
pub(crate) fn count_for_user(c: &Connection, user: &str, status: Option<&str>) -> Result<u32> {
    Ok(c.query_row(
        &format!("SELECT count(*) {LIST_FILTER}"),
        params![user, status],
        |r| r.get(0),
    )?)
}

/// A page of the user's schedules that are not deleted (optionally of one status), newest first.
pub(crate) fn list_for_user(
    c: &Connection,
    user: &str,
    status: Option<&str>,
    limit: u32,
    offset: u32,
) -> Result<Vec<ScheduleRow>> {
    let mut stmt = c.prepare(&format!(
        "SELECT {} {LIST_FILTER} ORDER BY s.created_at DESC, s.id LIMIT ?3 OFFSET ?4",
        COLUMNS
    ))?;
    let rows = stmt
        .query_map(params![user, status, limit, offset], ScheduleRow::from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Updates one of the user's schedules that is not deleted.
pub(crate) fn update(tx: &Transaction<'_>, u: &ScheduleUpdate<'_>) -> Result<()> {
    tx.execute(
        "UPDATE schedules SET name = ?3, description = ?4, cron_expression = ?5, timezone = ?6,
                        task_query = ?7, task_context = coalesce(?8, task_context), max_budget_per_run_usd = ?9,
                        timeout_seconds = ?10, updated_at = ?11, next_run_at = ?12
                     WHERE id = ?1 AND user_id = ?2 AND status != 'DELETED'",
        params![
            u.id,
            u.user_id,
            u.name,
            u.description,
            u.cron_expression,
            u.timezone,
            u.task_query,
            u.task_context,
            u.max_budget_per_run_usd,
            u.timeout_seconds,
            u.now,
            u.next_run_at
        ],
    )?;
    Ok(())
}

/// Sets the status and next run of one of the user's schedules that is not deleted.
pub(crate) fn set_status(
    tx: &Transaction<'_>,
    id: &str,
    user: &str,
    status: &str,
    next_run_at: Option<&str>,
    now: &str,
) -> Result<()> {
    tx.execute(
        "UPDATE schedules SET status = ?3, next_run_at = ?4, updated_at = ?5
                     WHERE id = ?1 AND user_id = ?2 AND status != 'DELETED'",
        params![id, user, status, next_run_at, now],
    )?;
    Ok(())
}

/// The schedule's run counter.
pub(crate) fn total_runs(c: &Connection, id: &str) -> Result<u32> {
    Ok(c.query_row(
        "SELECT total_runs FROM schedules WHERE id = ?1",
        [id],
        |r| r.get(0),
    )?)
}

/// A page of the schedule's runs with their tasks, newest first.
pub(crate) fn list_runs(
    c: &Connection,
    id: &str,
    limit: u32,
    offset: u32,
) -> Result<Vec<ScheduleRun>> {
    let mut stmt = c.prepare(
        "SELECT coalesce(r.workflow_id, ''), coalesce(t.query, s.task_query), coalesce(t.status, ?4),
                            t.result, coalesce(t.error_message, r.error), t.model_used, t.provider,
                            coalesce(t.total_tokens, 0), coalesce(t.cost_usd, 0), t.duration_ms,
                            r.triggered_at, t.started_at, t.completed_at
                     FROM schedule_runs r JOIN schedules s ON s.id = r.schedule_id
                     LEFT JOIN tasks t ON t.workflow_id = r.workflow_id
                     WHERE r.schedule_id = ?1 ORDER BY r.triggered_at DESC, r.rowid DESC LIMIT ?2 OFFSET ?3",
    )?;
    let runs = stmt
        .query_map(params![id, limit, offset, RUN_NOT_STARTED], |r| {
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
    Ok(runs)
}

/// The active schedules whose next run is at or before `now`, with their owners' tenants.
pub(crate) fn list_due(c: &Connection, now: &str) -> Result<Vec<DueSchedule>> {
    let mut stmt = c.prepare(
        "SELECT s.id, s.user_id, coalesce(u.tenant_id, ''), s.cron_expression, s.timezone, s.task_query,
                            s.max_budget_per_run_usd, s.timeout_seconds, s.task_context
                     FROM schedules s LEFT JOIN users u ON u.id = s.user_id
                     WHERE s.status = 'ACTIVE' AND s.next_run_at IS NOT NULL AND s.next_run_at <= ?1",
    )?;
    let rows = stmt
        .query_map([now], |r| {
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
}

/// Records a fired run, before its task starts.
pub(crate) fn insert_run(
    tx: &Transaction<'_>,
    id: &str,
    schedule_id: &str,
    status: &str,
    triggered_at: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO schedule_runs (id, schedule_id, status, triggered_at)
                         VALUES (?1, ?2, ?4, ?3)",
        params![id, schedule_id, triggered_at, status],
    )?;
    Ok(())
}

/// Stamps the schedule's last run and moves its next run on.
pub(crate) fn mark_fired(
    tx: &Transaction<'_>,
    id: &str,
    last_run_at: &str,
    next_run_at: Option<&str>,
) -> Result<()> {
    tx.execute(
        "UPDATE schedules SET last_run_at = ?2, next_run_at = ?3 WHERE id = ?1",
        params![id, last_run_at, next_run_at],
    )?;
    Ok(())
}

/// Records how a run's task started: its workflow, or the error that kept it from starting.
pub(crate) fn mark_run_started(
    tx: &Transaction<'_>,
    id: &str,
    workflow_id: Option<&str>,
    status: &str,
    started_at: &str,
    error: Option<&str>,
) -> Result<()> {
    tx.execute(
        "UPDATE schedule_runs SET workflow_id = ?2, status = ?3, started_at = ?4, error = ?5
                         WHERE id = ?1",
        params![id, workflow_id, status, started_at, error],
    )?;
    Ok(())
}

/// Marks the task a run started as triggered by the schedule.
pub(crate) fn tag_task(tx: &Transaction<'_>, workflow_id: &str, schedule_id: &str) -> Result<()> {
    tx.execute(
        "UPDATE tasks SET trigger_type = 'schedule', schedule_id = ?2 WHERE workflow_id = ?1",
        params![workflow_id, schedule_id],
    )?;
    Ok(())
}

/// The nearest next run of the active schedules.
pub(crate) fn nearest_next_run(c: &Connection) -> Result<Option<String>> {
    Ok(c.query_row(
        "SELECT min(next_run_at) FROM schedules WHERE status = 'ACTIVE'",
        [],
        |r| r.get(0),
    )?)
}
