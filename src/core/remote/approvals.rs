//! Approvals of a remote task, answered on its cloud (`POST /api/v1/approvals/decision`) when the
//! cloud's APPROVAL_REQUESTED gave the request an id. The cloud's v0.5.1 gives none, so those are
//! `unsupported_by_remote`: there is nothing this device could name in its answer.

use reqwest::Method;
use serde_json::{Value, json};

use crate::core::Core;
use crate::core::error::{Result, ShannonError};
use crate::core::hitl::approvals::{ApprovalDecision, ApprovalDecisionResponse};
use crate::core::store::remote_mirror as mirror;
use crate::core::tasks::read::TaskRow;

impl Core {
    pub(crate) async fn decide_remote_approval(
        &self,
        row: &TaskRow,
        profile: &str,
        decision: &ApprovalDecision,
    ) -> Result<ApprovalDecisionResponse> {
        let (wf, id) = (
            row.workflow_id.clone(),
            decision.approval_id.trim().to_string(),
        );
        let id_q = id.clone();
        let known = self
            .store()
            .read(move |c| mirror::has_approval_request(c, &wf, &id_q))
            .await?;
        if !known {
            return Err(ShannonError::UnsupportedByRemote(format!(
                "the task runs on the Shannon cloud profile {profile:?}, and no approval request with id {:?} came from it (the cloud's requests carry no id before v0.5.2); decide it in the cloud",
                super::client::quote(&id)
            )));
        }
        let remote_wf = self.remote_workflow_of(row).await?;
        let cloud = self.cloud(profile).await?;
        let body = json!({
            "workflow_id": remote_wf,
            "approval_id": id,
            "approved": decision.approved,
            "feedback": decision.feedback,
        });
        match cloud
            .json(
                self,
                Method::POST,
                "/api/v1/approvals/decision",
                Some(&body),
                &[],
            )
            .await?
        {
            Ok((v, _)) => Ok(ApprovalDecisionResponse {
                status: text(&v, "status", "sent"),
                success: v.get("success").and_then(Value::as_bool).unwrap_or(true),
                message: text(&v, "message", "Decision sent to the Shannon cloud"),
                workflow_id: row.workflow_id.clone(),
                run_id: text(&v, "run_id", ""),
                approval_id: id,
            }),
            Err(r) => Err(cloud.refused("take the approval decision", r)),
        }
    }
}

fn text(v: &Value, key: &str, default: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or(default)
        .to_string()
}
