//! Start-up recovery: nothing a crash or exit left QUEUED, RUNNING or PAUSED stays that way. By the
//! policy, a task resumes from its journal (a paused one comes back paused) or ends FAILED; one that
//! was being cancelled ends CANCELLED.

use serde_json::{Map, Value};

use super::RecoveryPolicy;
use super::lifecycle::{self, Outcome, TaskEnd};
use super::runner;
use crate::core::Core;
use crate::core::auth::{AuthMethod, Caller};
use crate::core::error::Result;
use crate::core::run::setup::RunSpec;
use crate::core::store;
use crate::core::store::task_reads::UnfinishedTask as Orphan;
use crate::core::tasks::SubmitTaskRequest;
use crate::core::tasks::{Executor, Strategy};

/// The reason a task that cannot resume fails with.
pub const INTERRUPTED: &str = "interrupted: the app exited while the task was running";

/// Settles every unfinished task; returns how many there were.
pub(crate) async fn recover(core: &Core, policy: RecoveryPolicy) -> Result<u32> {
    let orphans = unfinished(core).await?;
    let count = orphans.len() as u32;
    for o in orphans {
        // Only the embedded engine's tasks run here: a remote task's pump re-attaches (see
        // `Core::reattach_remote_tasks`), and one on an executor this build does not know is left
        // as it is, never run locally by accident.
        match Executor::from_db(&o.executor) {
            Ok(Executor::Local) => {}
            Ok(Executor::Remote(_)) => continue,
            Err(e) => {
                tracing::warn!(workflow_id = %o.workflow_id, error = %e, "not recovering a task");
                continue;
            }
        }
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
            .and_then(|r| r.into_plan().ok())
            .map(|mut plan| {
                plan.strategy = Strategy::of_stored(o.strategy.as_deref(), &o.mode, &o.context);
                plan
            });
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
    let rows = core
        .store()
        .read(store::task_reads::list_unfinished)
        .await?;
    // Each stream continues after its stored events.
    let hub = &core.engine().hub;
    Ok(rows
        .into_iter()
        .inspect(|o| hub.open_stream(&o.workflow_id, o.last_seq))
        .collect())
}
