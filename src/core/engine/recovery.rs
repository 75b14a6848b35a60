//! Start-up recovery: nothing a crash or exit left QUEUED, RUNNING or PAUSED stays that way. By the
//! policy, a task resumes from its journal (a paused one comes back paused) or ends FAILED; one that
//! was being cancelled ends CANCELLED.

use rusqlite::params;
use serde_json::{Map, Value};

use super::lifecycle::{self, Outcome, TaskEnd, TaskStatus};
use super::run_setup::RunSpec;
use super::runner;
use super::{RecoveryPolicy, SubmitTaskRequest};
use crate::core::Core;
use crate::core::auth::{AuthMethod, Caller};
use crate::core::error::Result;

/// The reason a task that cannot resume fails with.
pub const INTERRUPTED: &str = "interrupted: the app exited while the task was running";

struct Orphan {
    task_id: String,
    workflow_id: String,
    user_id: String,
    tenant_id: String,
    session_id: Option<String>,
    query: String,
    mode: String,
    context: String,
    metadata: String,
    is_paused: bool,
    is_cancelled: bool,
}

/// Settles every unfinished task; returns how many there were.
pub(crate) async fn recover(core: &Core, policy: RecoveryPolicy) -> Result<u32> {
    let orphans = unfinished(core).await?;
    let count = orphans.len() as u32;
    for o in orphans {
        let end = TaskEnd {
            workflow_id: o.workflow_id.clone(),
            user_id: o.user_id.clone(),
            ..Default::default()
        };
        if o.is_cancelled {
            let cancelled = Outcome::Cancelled {
                checkpoint: "not_running".into(),
                was_paused: None,
            };
            settle(core, &end, cancelled).await;
            continue;
        }
        let plan = serde_json::from_str::<Map<String, Value>>(&o.context)
            .ok()
            .map(|context| SubmitTaskRequest {
                query: o.query.clone(),
                context,
                mode: Some(o.mode.clone()),
                ..Default::default()
            })
            .and_then(|r| r.into_plan().ok());
        let (Some(plan), Some(session_id), RecoveryPolicy::Resume) = (plan, o.session_id, policy)
        else {
            let failed = Outcome::Failed {
                message: INTERRUPTED.into(),
            };
            settle(core, &end, failed).await;
            continue;
        };
        let metadata: Value = serde_json::from_str(&o.metadata).unwrap_or(Value::Null);
        let text = |k: &str| metadata.get(k).and_then(Value::as_str).map(str::to_string);
        tracing::info!(workflow_id = %o.workflow_id, paused = o.is_paused, "resuming a task interrupted by an exit");
        runner::spawn(
            core.clone(),
            RunSpec {
                caller: Caller {
                    user_id: o.user_id,
                    tenant_id: o.tenant_id,
                    method: AuthMethod::Embedded,
                },
                task_id: o.task_id,
                workflow_id: o.workflow_id,
                session_id,
                plan,
                provider: text("requested_provider").unwrap_or_else(|| "demo".into()),
                model: text("requested_model").unwrap_or_else(|| "shannon-demo".into()),
                fallback_note: None,
                resuming: true,
                start_paused: o.is_paused,
            },
        );
    }
    Ok(count)
}

/// Ends an orphan. A store that fails here (a full disk) must not keep the app from starting: the
/// task stays unfinished and the next start tries again.
async fn settle(core: &Core, end: &TaskEnd, outcome: Outcome) {
    if let Err(e) = lifecycle::finish(core, end, outcome).await {
        tracing::error!(workflow_id = %end.workflow_id, error = %e,
            "could not settle a task interrupted by an exit; the next start will try again");
        core.engine().hub.close_stream(&end.workflow_id);
    }
}

async fn unfinished(core: &Core) -> Result<Vec<Orphan>> {
    let sql = format!(
        "SELECT t.id, t.workflow_id, t.user_id, u.tenant_id, t.session_id, t.query, t.mode, t.context, t.metadata,
                coalesce(w.is_paused, 0), coalesce(w.is_cancelled, 0),
                (SELECT coalesce(max(seq), 0) FROM task_events e WHERE e.workflow_id = t.workflow_id)
         FROM tasks t JOIN users u ON u.id = t.user_id
         LEFT JOIN workflow_control w ON w.workflow_id = t.workflow_id
         WHERE t.status IN ({}) ORDER BY t.created_at",
        TaskStatus::sql_list(TaskStatus::UNFINISHED)
    );
    let rows: Vec<(Orphan, u32)> = core
        .store()
        .read(move |c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(params![], |r| {
                Ok((
                    Orphan {
                        task_id: r.get(0)?,
                        workflow_id: r.get(1)?,
                        user_id: r.get(2)?,
                        tenant_id: r.get(3)?,
                        session_id: r.get(4)?,
                        query: r.get(5)?,
                        mode: r.get(6)?,
                        context: r.get(7)?,
                        metadata: r.get(8)?,
                        is_paused: r.get(9)?,
                        is_cancelled: r.get(10)?,
                    },
                    r.get(11)?,
                ))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await?;
    // Each stream continues after its stored events.
    let hub = &core.engine().hub;
    Ok(rows
        .into_iter()
        .map(|(o, last_seq)| {
            hub.open_stream(&o.workflow_id, last_seq);
            o
        })
        .collect())
}
