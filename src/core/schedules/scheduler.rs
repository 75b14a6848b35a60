//! The scheduler loop: fires every due schedule as a task, moves its next run on, and cancels a run
//! that outlives its timeout. It holds the core only through a weak handle, so it ends with the core.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::cron::CronIn;
use crate::core::auth::{AuthMethod, Caller};
use crate::core::error::Result;
use crate::core::run::TaskStatus;
use crate::core::store::schedules::{self as store, DueSchedule};
use crate::core::tasks::SubmitTaskRequest;
use crate::core::{Core, WeakCore, time};

impl Core {
    /// Fires every active schedule whose next run is due, and moves its next run on. Returns the
    /// time of the nearest next run, for the loop to sleep until.
    pub(super) async fn fire_due_schedules(&self) -> Result<Option<DateTime<Utc>>> {
        let now = Utc::now();
        let stamp = time::format(now);
        let due: Vec<DueSchedule> = self
            .store()
            .read(move |c| store::list_due(c, &stamp))
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
                method: AuthMethod::Embedded,
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
                    store::insert_run(tx, &run, &schedule_id, super::RUN_NOT_STARTED, &fired_at)?;
                    store::mark_fired(tx, &schedule_id, &fired_at, next.as_deref())?;
                    Ok(())
                })
                .await?;
            let submitted = self
                .submit_task(
                    &caller,
                    SubmitTaskRequest {
                        query,
                        context: ctx,
                        // A local schedule fires here (a remote schedule lives in its cloud).
                        target: Some(crate::core::remote::LOCAL.into()),
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
                    let status = if error.is_some() {
                        TaskStatus::Failed.db()
                    } else {
                        TaskStatus::Running.db()
                    };
                    store::mark_run_started(
                        tx,
                        &run_id,
                        wf.as_deref(),
                        status,
                        &time::now(),
                        error.as_deref(),
                    )?;
                    if let Some(wf) = &wf {
                        store::tag_task(tx, wf, &schedule_id)?;
                    }
                    Ok(())
                })
                .await?;
            if let Some(wf) = workflow_id {
                self.time_out_after(caller, wf, Duration::from_secs(u64::from(timeout)));
            }
        }
        let nearest: Option<String> = self.store().read(store::nearest_next_run).await?;
        Ok(nearest.and_then(|t| {
            DateTime::parse_from_rfc3339(&t)
                .ok()
                .map(|d| d.with_timezone(&Utc))
        }))
    }

    /// A run that outlives its schedule's `timeout_seconds` ends TIMEOUT.
    fn time_out_after(&self, caller: Caller, workflow_id: String, timeout: Duration) {
        let weak = self.downgrade();
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let Some(core) = weak.upgrade() else { return };
            if let Err(e) = core.time_out_task(&caller, &workflow_id, timeout).await {
                tracing::warn!(workflow_id = %workflow_id, error = %e, "could not time out a scheduled run");
            }
        });
    }

    /// Starts the scheduler loop; it ends when the core is dropped.
    /// Starts the scheduler loop; it ends when the core is dropped.
    pub(crate) fn start_scheduler(&self) {
        spawn_scheduler(self.downgrade());
    }
}

fn spawn_scheduler(weak: WeakCore) {
    tokio::spawn(async move {
        loop {
            let Some(core) = weak.upgrade() else { return };
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
            let wake = core.scheduler().wake.clone();
            drop(core); // Hold only the weak reference while sleeping.
            tokio::select! {
                _ = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
                _ = wake.notified() => {}
            }
        }
    });
}
