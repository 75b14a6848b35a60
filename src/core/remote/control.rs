//! Control of a remote task: pause, resume and cancel forwarded to its cloud (the local status
//! follows the cloud's own WORKFLOW_* events through the pump), and messages to its swarm's lead.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::hitl::swarm_messages::SwarmMessageSent;
use crate::core::store;
use crate::core::tasks::control::{ControlResponse, clean_reason};
use crate::core::tasks::read::TaskRow;
use crate::core::{Core, time};

impl Core {
    /// Pause, resume or cancel, forwarded to the cloud (202 accepted; its 502 for a wrong state is
    /// `invalid_state`). The local status follows the cloud's events.
    pub(crate) async fn control_remote(
        &self,
        caller: &Caller,
        row: &TaskRow,
        profile: &str,
        verb: &str,
        reason: Option<String>,
    ) -> Result<ControlResponse> {
        if row.status.is_terminal() {
            if verb == "cancel" {
                return Ok(ControlResponse {
                    success: false,
                    message: format!(
                        "Failed to cancel task: task is already {}",
                        row.status.word()
                    ),
                    task_id: row.workflow_id.clone(),
                });
            }
            return Err(ShannonError::InvalidState(format!(
                "cannot {verb} {} task",
                row.status.word()
            )));
        }
        let link = self.remote_workflow_of(row).await?;
        let cloud = self.cloud(profile).await?;
        let reason = clean_reason(reason);
        let body = json!({"reason": reason});
        let path = format!("/api/v1/tasks/{}/{verb}", super::client::urlenc(&link));
        let answer = cloud
            .json(self, Method::POST, &path, Some(&body), &[])
            .await?;
        let (value, _) = match answer {
            Ok(ok) => ok,
            Err(r) if r.status == StatusCode::BAD_GATEWAY => {
                return Err(ShannonError::InvalidState(format!(
                    "Shannon cloud ({}) said: {}",
                    cloud.host(),
                    r.said
                )));
            }
            Err(r) => return Err(cloud.refused(verb, r)),
        };
        let success = value
            .get("success")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let (w, by, r) = (
            row.workflow_id.clone(),
            caller.user_id.clone(),
            reason.clone(),
        );
        let verb2 = verb.to_string();
        if success {
            self.store()
                .write(move |tx| {
                    let now = time::now();
                    match verb2.as_str() {
                        "pause" => store::tasks::mark_paused(tx, &w, &now, &r, &by)?,
                        "resume" => store::tasks::clear_paused(tx, &w, &now)?,
                        _ => store::tasks::mark_cancelled(tx, &w, &r, &by, &now)?,
                    }
                    Ok(())
                })
                .await?;
        }
        let message = value
            .get("message")
            .and_then(Value::as_str)
            .map(super::client::quote)
            .unwrap_or_else(|| format!("{verb} sent to Shannon cloud ({})", cloud.host()));
        Ok(ControlResponse {
            success,
            message,
            task_id: row.workflow_id.clone(),
        })
    }

    /// The cloud's workflow id of a mirrored task (`invalid_state` before the cloud confirmed it).
    pub(crate) async fn remote_workflow_of(&self, row: &TaskRow) -> Result<String> {
        let wf = row.workflow_id.clone();
        self.store()
            .read(move |c| store::remote::task_by_workflow(c, &wf))
            .await?
            .and_then(|l| l.remote_workflow_id)
            .ok_or_else(|| {
                ShannonError::InvalidState("the task has not reached the cloud yet".into())
            })
    }

    /// A message to the lead of a remote swarm (`POST /api/v1/swarm/{id}/message`).
    pub(crate) async fn send_remote_swarm_message(
        &self,
        row: &TaskRow,
        profile: &str,
        message: &str,
    ) -> Result<SwarmMessageSent> {
        if row.status.is_terminal() {
            return Err(ShannonError::Conflict(
                "the task is not a running swarm".into(),
            ));
        }
        let link = self.remote_workflow_of(row).await?;
        let cloud = self.cloud(profile).await?;
        let path = format!("/api/v1/swarm/{}/message", super::client::urlenc(&link));
        let body = json!({"message": message});
        match cloud
            .json(self, Method::POST, &path, Some(&body), &[])
            .await?
        {
            Ok((v, _)) => Ok(SwarmMessageSent {
                success: v.get("success").and_then(Value::as_bool).unwrap_or(true),
                status: v
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("sent")
                    .to_string(),
            }),
            Err(r) => Err(cloud.refused("pass the message to the swarm", r)),
        }
    }
}
