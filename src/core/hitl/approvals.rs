//! Approvals (see docs/upstream.md#human-in-the-loop): a task asks before it runs its plan, or
//! before an agent calls a dangerous tool, and waits for the user's decision. Unlike the cloud's,
//! the request carries its `approval_id` in the APPROVAL_REQUESTED payload, so a client answers
//! from the stream; the wait is stored (its deadline too), so it survives a restart; and a decision
//! is taken once (a second one is a 409). Tool approvals may let the tool through for the session
//! or always (`tool_grants`, revocable).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::store::approvals as store;
pub use crate::core::store::approvals::Approval;
pub use crate::core::store::approvals::ApprovalScope;
pub use crate::core::store::approvals::ToolGrant;
use crate::core::{Core, time};

/// When tasks ask for approval (plugin configuration; the cloud's `workflows.approval`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct ApprovalPolicy {
    /// Ask before running any plan whose complexity reaches this (0–1); `None`: only when the task
    /// asks (`context.require_approval`).
    pub complexity_threshold: Option<f64>,
    /// Tools that need approval, before a plan that suggests them runs and before each call.
    pub dangerous_tools: Vec<String>,
    /// How long a task waits for a decision when it names no `approval_timeout`.
    pub timeout_secs: u64,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        Self {
            complexity_threshold: None,
            dangerous_tools: [
                "file_write",
                "file_edit",
                "file_delete",
                "shell",
                "bash",
                "code_execution",
                "python_executor",
            ]
            .map(String::from)
            .to_vec(),
            timeout_secs: 30 * 60,
        }
    }
}

impl ApprovalPolicy {
    /// The policy itself if `complexity_threshold` is within 0..=1 and `timeout_secs` within
    /// 10..=604800 (a week), else `invalid_request`.
    pub fn validate(self) -> Result<Self> {
        if self
            .complexity_threshold
            .is_some_and(|t| !(0.0..=1.0).contains(&t))
        {
            return Err(ShannonError::invalid(
                "complexity_threshold must be between 0 and 1",
            ));
        }
        if !(10..=7 * 24 * 3600).contains(&self.timeout_secs) {
            return Err(ShannonError::invalid(
                "approval timeout_secs must be between 10 and 604800",
            ));
        }
        Ok(self)
    }

    /// Whether `tool` is one of the dangerous tools, asked about before each call.
    pub fn is_dangerous(&self, tool: &str) -> bool {
        self.dangerous_tools.iter().any(|t| t == tool)
    }
}

/// `POST /api/v1/approvals/decision` (the cloud's body; `scope` is ours, for tool calls).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ApprovalDecision {
    pub workflow_id: String,
    #[serde(default)]
    pub run_id: Option<String>,
    pub approval_id: String,
    pub approved: bool,
    #[serde(default)]
    pub feedback: Option<String>,
    /// Accepted and ignored, as by the cloud.
    #[serde(default)]
    pub modified_action: Option<Value>,
    #[serde(default)]
    pub approved_by: Option<String>,
    #[serde(default)]
    pub scope: Option<ApprovalScope>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ApprovalDecisionResponse {
    pub status: String,
    pub success: bool,
    pub message: String,
    pub workflow_id: String,
    pub run_id: String,
    pub approval_id: String,
}

fn scope_word(scope: ApprovalScope) -> &'static str {
    match scope {
        ApprovalScope::Once => "once",
        ApprovalScope::Session => "session",
        ApprovalScope::Always => "always",
    }
}

/// A request a run is about to wait on.
pub(crate) struct NewApproval<'a> {
    pub workflow_id: &'a str,
    pub user_id: &'a str,
    pub step_key: &'a str,
    pub kind: &'a str,
    pub reason: &'a str,
    pub payload: &'a Value,
    pub expires_at: String,
}

impl Core {
    /// Replaces the approval policy (tasks that start later use it).
    pub fn set_approval_policy(&self, policy: ApprovalPolicy) -> Result<()> {
        let policy = policy.validate()?;
        *self
            .engine()
            .approval_policy
            .write()
            .unwrap_or_else(|p| p.into_inner()) = policy;
        Ok(())
    }

    /// The approval policy in effect.
    pub fn approval_policy(&self) -> ApprovalPolicy {
        self.engine().approval_policy()
    }

    /// Answers an approval of one of the caller's tasks. Another user's, or an unknown id: 404; one
    /// already decided (or expired): 409.
    pub async fn decide_approval(
        &self,
        caller: &Caller,
        decision: ApprovalDecision,
    ) -> Result<ApprovalDecisionResponse> {
        let (wf, id) = (
            decision.workflow_id.trim().to_string(),
            decision.approval_id.trim().to_string(),
        );
        if wf.is_empty() || id.is_empty() {
            return Err(ShannonError::invalid(
                "workflow_id and approval_id are required",
            ));
        }
        // A remote task's approvals belong to its cloud.
        if let Ok(row) = self.owned_task(caller, &wf).await
            && let Ok(crate::core::tasks::Executor::Remote(profile)) = row.executor()
        {
            return self.decide_remote_approval(&row, &profile, &decision).await;
        }
        let feedback = decision
            .feedback
            .map(|f| f.trim().chars().take(4000).collect::<String>())
            .filter(|f| !f.is_empty());
        let by = decision
            .approved_by
            .filter(|b| !b.trim().is_empty())
            .unwrap_or_else(|| caller.user_id.clone());
        let user = caller.user_id.clone();
        let (approved, scope) = (decision.approved, decision.scope);
        let (wf_q, id_q) = (wf.clone(), id.clone());
        self.store()
            .write(move |tx| {
                let found = store::get_for_decision(tx, &id_q, &wf_q, &user)?;
                let Some(store::DecisionTarget {
                    status,
                    kind,
                    session_id: session,
                }) = found
                else {
                    return Err(ShannonError::NotFound("Approval not found".into()));
                };
                if status != "pending" {
                    return Err(ShannonError::Conflict(format!("approval already {status}")));
                }
                let scope = scope.filter(|_| approved && kind == "tool");
                let now = time::now();
                store::mark_decided(
                    tx,
                    &id_q,
                    if approved { "approved" } else { "denied" },
                    feedback.as_deref(),
                    scope.map(scope_word),
                    &by,
                    &now,
                )?;
                let grant_session = match scope {
                    Some(ApprovalScope::Session) => session,
                    Some(ApprovalScope::Always) => Some(String::new()),
                    _ => None,
                };
                if let Some(session) = grant_session {
                    let tool = store::tool_of(tx, &id_q)?;
                    store::insert_grant(tx, &user, &session, &tool, &now)?;
                }
                Ok(())
            })
            .await?;
        self.engine().answers_changed();
        Ok(ApprovalDecisionResponse {
            status: "sent".into(),
            success: true,
            message: if approved {
                "Approval sent".into()
            } else {
                "Denial sent".into()
            },
            workflow_id: wf,
            run_id: decision.run_id.unwrap_or_default(),
            approval_id: id,
        })
    }

    /// The caller's approvals, newest first: pending ones by default (what an app shows after a
    /// restart), or those of one status, or (`all`) every one.
    pub async fn list_approvals(
        &self,
        caller: &Caller,
        status: Option<String>,
    ) -> Result<Vec<Approval>> {
        let status = status.unwrap_or_else(|| "pending".into());
        if !["pending", "approved", "denied", "expired", "all"].contains(&status.as_str()) {
            return Err(ShannonError::invalid(
                "status must be pending, approved, denied, expired or all",
            ));
        }
        let user = caller.user_id.clone();
        self.store()
            .read(move |c| store::list_for_user(c, &user, &status))
            .await
    }

    /// The tools the caller let through without asking.
    pub async fn list_tool_grants(&self, caller: &Caller) -> Result<Vec<ToolGrant>> {
        let user = caller.user_id.clone();
        self.store()
            .read(move |c| store::list_grants_for_user(c, &user))
            .await
    }

    /// Lets a tool through without asking, for one session or (`session_id` `None`) always: what
    /// an approval with that scope stores, given ahead of time (a settings page's "always allow").
    pub async fn grant_tool(
        &self,
        caller: &Caller,
        tool: &str,
        session_id: Option<String>,
    ) -> Result<ToolGrant> {
        let tool = tool.trim().to_string();
        if tool.is_empty() || tool.len() > 128 || tool.chars().any(char::is_control) {
            return Err(ShannonError::invalid("tool must be a tool name"));
        }
        // A session named by its external id is stored under its own.
        let session_id = match session_id {
            Some(id) => Some(self.get_session(caller, &id).await?.session_id),
            None => None,
        };
        let (user, now) = (caller.user_id.clone(), time::now());
        let (t, s) = (tool.clone(), session_id.clone().unwrap_or_default());
        self.store()
            .write(move |tx| store::insert_grant(tx, &user, &s, &t, &now))
            .await?;
        self.list_tool_grants(caller)
            .await?
            .into_iter()
            .find(|g| g.tool == tool && g.session_id == session_id)
            .ok_or_else(|| ShannonError::Internal("the grant was not stored".into()))
    }

    /// Takes a grant back (`session_id` `None`: the "always" one). Unknown: 404.
    pub async fn revoke_tool_grant(
        &self,
        caller: &Caller,
        tool: &str,
        session_id: Option<String>,
    ) -> Result<()> {
        let (user, tool) = (caller.user_id.clone(), tool.to_string());
        let removed = self
            .store()
            .write(move |tx| store::delete_grant(tx, &user, &session_id.unwrap_or_default(), &tool))
            .await?;
        if removed == 0 {
            return Err(ShannonError::NotFound("Tool grant not found".into()));
        }
        Ok(())
    }

    /// The request a run waits on: the stored one (a resumed run finds its own), else a new one.
    pub(crate) async fn open_approval(&self, new: NewApproval<'_>) -> Result<(Approval, bool)> {
        let id = uuid::Uuid::new_v4().to_string();
        let (wf, user, key, kind, reason) = (
            new.workflow_id.to_string(),
            new.user_id.to_string(),
            new.step_key.to_string(),
            new.kind.to_string(),
            new.reason.to_string(),
        );
        let payload = new.payload.to_string();
        let expires = new.expires_at;
        self.store()
            .write(move |tx| {
                let inserted = store::insert(
                    tx,
                    &store::NewApprovalRow {
                        approval_id: &id,
                        workflow_id: &wf,
                        user_id: &user,
                        step_key: &key,
                        kind: &kind,
                        reason: &reason,
                        payload: &payload,
                        created_at: &time::now(),
                        expires_at: &expires,
                    },
                )?;
                let row = store::get_by_step(tx, &wf, &key)?;
                Ok((row, inserted == 1))
            })
            .await
    }

    pub(crate) async fn approval(&self, approval_id: &str) -> Result<Approval> {
        let id = approval_id.to_string();
        self.store().read(move |c| store::get(c, &id)).await
    }

    /// Marks a pending approval expired; returns the row as it stands (a decision that came first
    /// wins).
    pub(crate) async fn expire_approval(&self, approval_id: &str) -> Result<Approval> {
        let id = approval_id.to_string();
        self.store()
            .write(move |tx| {
                store::mark_expired(tx, &id, &time::now())?;
                store::get(tx, &id)
            })
            .await
    }

    /// Whether `tool` is granted to the user for this session or always.
    pub(crate) async fn tool_granted(
        &self,
        user_id: &str,
        session_id: Option<&str>,
        tool: &str,
    ) -> Result<bool> {
        let (user, session, tool) = (
            user_id.to_string(),
            session_id.unwrap_or_default().to_string(),
            tool.to_string(),
        );
        self.store()
            .read(move |c| store::grant_exists(c, &user, &session, &tool))
            .await
    }
}
