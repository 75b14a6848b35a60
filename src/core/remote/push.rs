//! Local schedules moved to a Shannon cloud, where they fire while the laptop sleeps: each active
//! local schedule is created on the cloud, then its local copy paused, so one schedule never fires
//! in two places. A schedule the cloud refuses (its limits: 5-field cron, 60 minutes apart, $10 a
//! run, 50 per user) stays active here and is reported with the cloud's reason.

use serde::{Deserialize, Serialize};

use crate::core::Core;
use crate::core::auth::Caller;
use crate::core::error::Result;
use crate::core::schedules::{ScheduleInfo, ScheduleRequest};

/// One schedule moved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct PushedSchedule {
    pub local_id: String,
    /// Its id on the cloud (now listed with `source` the profile).
    pub remote_id: String,
    pub name: String,
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct SchedulePush {
    pub profile_id: String,
    /// Created on the cloud; their local copies are paused.
    pub pushed: Vec<PushedSchedule>,
    /// Left active here, each with the cloud's reason.
    pub refused: Vec<String>,
}

fn request_of(s: &ScheduleInfo) -> ScheduleRequest {
    ScheduleRequest {
        name: Some(s.name.clone()),
        description: Some(s.description.clone()).filter(|d| !d.is_empty()),
        cron_expression: Some(s.cron_expression.clone()),
        timezone: Some(s.timezone.clone()),
        task_query: Some(s.task_query.clone()),
        task_context: Some(
            s.task_context
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        ),
        max_budget_per_run_usd: Some(s.max_budget_per_run_usd),
        timeout_seconds: Some(s.timeout_seconds),
        ..Default::default()
    }
}

impl Core {
    /// Moves the caller's active local schedules to the cloud `profile_id`.
    pub async fn push_schedules(&self, caller: &Caller, profile_id: &str) -> Result<SchedulePush> {
        self.cloud(profile_id).await?;
        let mut report = SchedulePush {
            profile_id: profile_id.into(),
            ..Default::default()
        };
        let mut page = 1;
        let mut local = Vec::new();
        loop {
            let list = self
                .list_local_schedules(caller, page, Some("ACTIVE".into()))
                .await?;
            let n = list.len();
            local.extend(list);
            if n < 100 {
                break;
            }
            page += 1;
        }
        for s in local {
            let mut created = self
                .create_remote_schedule(caller, profile_id, request_of(&s))
                .await;
            // The cloud's schedule writes are rate-limited: wait out a 429 for its Retry-After.
            for _ in 0..3 {
                let Some(wait) = created.as_ref().err().and_then(super::client::wait_hint) else {
                    break;
                };
                tokio::time::sleep(wait).await;
                created = self
                    .create_remote_schedule(caller, profile_id, request_of(&s))
                    .await;
            }
            match created {
                Ok(created) => {
                    self.pause_schedule(caller, &s.schedule_id).await?;
                    report.pushed.push(PushedSchedule {
                        local_id: s.schedule_id,
                        remote_id: created.schedule_id,
                        name: s.name,
                    });
                }
                Err(e) => report
                    .refused
                    .push(format!("{} ({}): {e}", s.name, s.schedule_id)),
            }
        }
        Ok(report)
    }
}
