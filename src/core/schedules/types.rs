//! The schedule routes' bodies (see docs/upstream.md#schedules), in the cloud's shapes.

use std::collections::BTreeMap;

pub use crate::core::store::schedules::ScheduleRun;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
    /// Create only: `local` (the default) or a Shannon cloud profile's id, where the schedule is
    /// created and fires (while the laptop sleeps). Not sent by the cloud's own clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
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
    /// Where it fires: `local`, or the Shannon cloud profile it lives on (its copy as last read).
    #[serde(default = "local_source")]
    pub source: String,
}

fn local_source() -> String {
    crate::core::remote::LOCAL.to_string()
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ScheduleRunList {
    pub runs: Vec<ScheduleRun>,
    pub total_count: u32,
    pub page: u32,
    pub page_size: u32,
}
