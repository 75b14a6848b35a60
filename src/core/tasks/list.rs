//! Task lists that stay fast as history grows: each filter combination reads through its own
//! index, newest first without a sort, and `total_count` comes from counters the database maintains
//! (migration 05), never from a scan of the user's tasks.

use serde::{Deserialize, Serialize};

use crate::core::Core;
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::run::lifecycle::TaskStatus;
use crate::core::store;
use crate::core::store::task_reads::ListFilter;
use crate::core::tasks::read::{stored_status, validate_task_id};

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
    /// Where it runs: `local`, or `remote:<profile id>` (mirrored from a Shannon cloud).
    pub executor: String,
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

fn execution_mode(mode: &str) -> &'static str {
    match mode {
        "simple" => "EXECUTION_MODE_SIMPLE",
        "complex" => "EXECUTION_MODE_COMPLEX",
        _ => "EXECUTION_MODE_STANDARD",
    }
}

impl Core {
    /// The caller's tasks, newest first, filtered by session (its id or the client's external id)
    /// and status; `total_count` counts every match, not just this page.
    pub async fn list_tasks(&self, caller: &Caller, q: ListTasksQuery) -> Result<TaskList> {
        let limit = q.limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(ShannonError::invalid("limit must be between 1 and 100"));
        }
        let offset = q.offset.unwrap_or(0);
        let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(
                TaskStatus::parse_filter(s)
                    .filter(|s| *s != TaskStatus::Paused)
                    .ok_or_else(|| ShannonError::invalid("Invalid status value"))?
                    .db(),
            ),
        };
        let session = q.session_id.filter(|s| !s.is_empty());
        if let Some(s) = &session {
            validate_task_id(s).map_err(|_| ShannonError::invalid("Invalid session_id format"))?;
        }
        let user = caller.user_id.clone();
        self.store()
            .read(move |c| {
                // A session filter accepts the internal UUID or the client's external id.
                let sessions = match session {
                    None => None,
                    Some(s) => Some(store::task_reads::matching_session_ids(c, &user, &s)?),
                };
                if sessions.as_ref().is_some_and(Vec::is_empty) {
                    return Ok(TaskList {
                        tasks: Vec::new(),
                        total_count: 0,
                    });
                }
                let filter = ListFilter {
                    user,
                    sessions,
                    status,
                };
                let tasks = store::task_reads::list_page(c, &filter, limit, offset)?
                    .into_iter()
                    .map(|r| TaskSummary {
                        task_id: r.workflow_id,
                        query: r.query,
                        status: stored_status(&r.status).api().to_string(),
                        mode: execution_mode(&r.mode).to_string(),
                        session_id: r.session_id,
                        created_at: r.created_at,
                        completed_at: r.completed_at,
                        executor: r.executor,
                        total_token_usage: (r.total_tokens > 0 || r.cost_usd > 0.0).then_some({
                            TokenUsageSummary {
                                total_tokens: r.total_tokens,
                                cost_usd: r.cost_usd,
                                prompt_tokens: r.input_tokens,
                                completion_tokens: r.output_tokens,
                            }
                        }),
                    })
                    .collect();
                Ok(TaskList {
                    tasks,
                    total_count: store::task_reads::count_listed(c, &filter)?,
                })
            })
            .await
    }
}
