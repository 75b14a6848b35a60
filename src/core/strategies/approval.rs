//! Asking the user (see docs/upstream.md#human-in-the-loop): the plan gate before a task runs its
//! plan, and the question before an agent calls a dangerous tool. A request is stored with its
//! deadline and announced with its `approval_id` (APPROVAL_REQUESTED); the run waits for the
//! decision, the deadline or a cancel; the decision is journaled with APPROVAL_DECISION. A resumed
//! run finds its stored request and goes on waiting until the same deadline.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::plan::Plan;
use super::{Halt, Team};
use crate::core::hitl::approvals::{ApprovalScope, NewApproval};
use crate::core::run::journal::{StepKey, StepKind};
use crate::core::run::lifecycle::EventType;
use crate::core::streams::NewEvent;
use crate::core::time;

/// The user's answer, as journaled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Decision {
    pub approval_id: String,
    pub approved: bool,
    /// The user's feedback, or "approval timeout".
    pub feedback: Option<String>,
    pub reason: String,
    pub scope: Option<ApprovalScope>,
}

impl Decision {
    /// The task's error when the plan was not approved.
    pub fn denial(&self) -> String {
        format!(
            "approval denied: {}",
            self.feedback.as_deref().unwrap_or(&self.reason)
        )
    }
}

/// Asks before the plan runs when the task asks for it (`context.require_approval`) or the policy
/// says so (its complexity threshold, a dangerous tool in the plan). A denial or a timeout stops
/// the task with "approval denied: <feedback or reason>".
pub(crate) async fn plan_gate(team: &Team, query: &str, plan: Option<&Plan>) -> Result<(), Halt> {
    let policy = team.core.engine().approval_policy();
    let asked = team.flag("require_approval");
    let mut tools: Vec<&str> = plan
        .into_iter()
        .flat_map(|p| &p.subtasks)
        .flat_map(|s| s.suggested_tools.iter().map(String::as_str))
        .collect();
    tools.sort_unstable();
    tools.dedup();
    let complexity = plan.map(|p| p.complexity_score);
    let reason = match (policy.complexity_threshold, complexity) {
        _ if asked => "the task asks for approval before it runs".to_string(),
        (Some(t), Some(c)) if c >= t => format!("Complexity score {c:.2} exceeds threshold {t:.2}"),
        _ => match tools.iter().find(|t| team.core.tool_is_dangerous(t)) {
            Some(tool) => format!("Tool '{tool}' requires approval"),
            None => return Ok(()),
        },
    };
    let steps = match plan {
        Some(p) => p.progress_payload()["plan"].clone(),
        None => json!([{"id": "task-1", "name": query, "type": ""}]),
    };
    let payload = json!({"plan": steps, "tools": tools, "complexity": complexity});
    let message = if asked {
        "Needs your approval".to_string()
    } else {
        format!("Needs approval: {reason}")
    };
    let key = StepKey::named("approval");
    let decision = team
        .ask_approval(&key, "plan", "orchestrator", &reason, &message, payload)
        .await?;
    if decision.approved {
        Ok(())
    } else {
        Err(Halt::Failed(decision.denial()))
    }
}

impl Team {
    /// Asks the user and waits for the answer (see the module's doc).
    pub(crate) async fn ask_approval(
        &self,
        key: &StepKey,
        kind: &str,
        agent: &str,
        reason: &str,
        message: &str,
        payload: Value,
    ) -> Result<Decision, Halt> {
        if let Some(done) = self.take::<Decision>(key)? {
            return Ok(done);
        }
        let timeout = self.setting(
            "approval_timeout",
            self.core.engine().approval_policy().timeout_secs,
            1,
            7 * 24 * 3600,
        );
        let expires_at = time::format(Utc::now() + chrono::Duration::seconds(timeout as i64));
        let (request, fresh) = self
            .core
            .open_approval(NewApproval {
                workflow_id: &self.workflow_id,
                user_id: &self.user_id,
                step_key: key.as_str(),
                kind,
                reason,
                payload: &payload,
                expires_at,
            })
            .await?;
        if fresh {
            let mut shown = json!({"approval_id": request.approval_id, "kind": kind,
                                   "reason": reason, "expires_at": request.expires_at});
            if let (Some(all), Value::Object(extra)) = (shown.as_object_mut(), payload) {
                all.extend(extra);
            }
            // The id in the text too, as `id=<uuid>`: the official SDK's `Event` drops the payload
            // and its approval example reads the id from the message.
            let message = format!("{message} (id={})", request.approval_id);
            self.emit(EventType::ApprovalRequested, agent, message, Some(shown));
        }
        let row = self.wait_for(&request.approval_id).await?;
        let decision = Decision {
            approval_id: row.approval_id.clone(),
            approved: row.status == "approved",
            feedback: row.feedback.clone(),
            reason: reason.to_string(),
            scope: row.scope,
        };
        let said = if decision.approved {
            "Approved — continuing"
        } else {
            "Denied — stopping"
        };
        let event = NewEvent::new(EventType::ApprovalDecision, agent, said).with_payload(json!({
            "approval_id": decision.approval_id, "approved": decision.approved,
            "status": row.status, "feedback": decision.feedback, "scope": decision.scope,
        }));
        self.record(key, StepKind::Approval, &decision, vec![event], None)
            .await?;
        Ok(decision)
    }

    /// Waits until the approval is decided or its deadline passes; a cancel stops the wait.
    async fn wait_for(
        &self,
        approval_id: &str,
    ) -> Result<crate::core::hitl::approvals::Approval, Halt> {
        let mut tick = self.core.engine().watch_answers();
        loop {
            let row = self.core.approval(approval_id).await?;
            if row.status != "pending" {
                return Ok(row);
            }
            let deadline = DateTime::parse_from_rfc3339(&row.expires_at)
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_else(|_| Utc::now());
            let left = (deadline - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            if left.is_zero() {
                return Ok(self.core.expire_approval(approval_id).await?);
            }
            tokio::select! {
                _ = tick.changed() => {}
                _ = tokio::time::sleep(left) => {}
                _ = self.cancel.cancelled() => return Err(self.halted()),
            }
        }
    }
}
