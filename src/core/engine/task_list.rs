//! Task lists that stay fast as history grows: each filter combination reads through its own
//! index, newest first without a sort, and `total_count` comes from counters the database maintains
//! (migration 05), never from a scan of the user's tasks.

use rusqlite::{Connection, params_from_iter, types::Value as Sql};
use serde::{Deserialize, Serialize};

use super::lifecycle::TaskStatus;
use super::tasks::{stored_status, validate_task_id};
use crate::core::Core;
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};

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

/// The filters of a list, resolved: the user, their session ids (internal), a stored status.
struct Filter {
    user: String,
    sessions: Option<Vec<String>>,
    status: Option<&'static str>,
}

impl Filter {
    /// The `WHERE` clause and its parameters; the leading column of an index comes first.
    fn clause(&self) -> (String, Vec<Sql>) {
        let mut sql = String::from("t.user_id = ?");
        let mut args = vec![Sql::Text(self.user.clone())];
        if let Some(ids) = &self.sessions {
            sql = format!("t.session_id IN ({}) AND {sql}", placeholders(ids.len()));
            args = ids.iter().cloned().map(Sql::Text).chain(args).collect();
        }
        if let Some(status) = self.status {
            sql.push_str(" AND t.status = ?");
            args.push(Sql::Text(status.into()));
        }
        (sql, args)
    }

    /// From the maintained counters: at most one row per status and session.
    fn count(&self, c: &Connection) -> Result<u32> {
        let mut sql = String::from("SELECT coalesce(sum(n), 0) FROM task_counts WHERE user_id = ?");
        let mut args = vec![Sql::Text(self.user.clone())];
        match &self.sessions {
            None => sql.push_str(" AND session_id = ''"),
            Some(ids) => {
                sql.push_str(&format!(" AND session_id IN ({})", placeholders(ids.len())));
                args.extend(ids.iter().cloned().map(Sql::Text));
            }
        }
        if let Some(status) = self.status {
            sql.push_str(" AND status = ?");
            args.push(Sql::Text(status.into()));
        }
        Ok(c.prepare_cached(&sql)?
            .query_row(params_from_iter(args), |r| r.get(0))?)
    }
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

fn execution_mode(mode: &str) -> &'static str {
    match mode {
        "simple" => "EXECUTION_MODE_SIMPLE",
        "complex" => "EXECUTION_MODE_COMPLEX",
        _ => "EXECUTION_MODE_STANDARD",
    }
}

impl Core {
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
                    Some(s) => Some(
                        c.prepare_cached(
                            "SELECT id FROM sessions WHERE user_id = ?1 AND id = ?2
                             UNION SELECT id FROM sessions WHERE user_id = ?1 AND external_id = ?2",
                        )?
                        .query_map(rusqlite::params![user, s], |r| r.get(0))?
                        .collect::<Result<Vec<String>, _>>()?,
                    ),
                };
                if sessions.as_ref().is_some_and(Vec::is_empty) {
                    return Ok(TaskList {
                        tasks: Vec::new(),
                        total_count: 0,
                    });
                }
                let filter = Filter {
                    user,
                    sessions,
                    status,
                };
                let (clause, mut args) = filter.clause();
                args.extend([Sql::Integer(limit.into()), Sql::Integer(offset.into())]);
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT t.workflow_id, t.query, t.status, t.mode, t.session_id, coalesce(t.started_at, t.created_at),
                            t.completed_at, t.total_tokens, t.cost_usd, t.input_tokens, t.output_tokens
                     FROM tasks t WHERE {clause} ORDER BY t.created_at DESC, t.rowid DESC LIMIT ? OFFSET ?"
                ))?;
                let tasks = stmt
                    .query_map(params_from_iter(args), |r| {
                        let total_tokens: u32 = r.get(7)?;
                        let cost: f64 = r.get(8)?;
                        Ok(TaskSummary {
                            task_id: r.get(0)?,
                            query: r.get(1)?,
                            status: stored_status(&r.get::<_, String>(2)?).api().to_string(),
                            mode: execution_mode(&r.get::<_, String>(3)?).to_string(),
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
                    total_count: filter.count(c)?,
                })
            })
            .await
    }
}
