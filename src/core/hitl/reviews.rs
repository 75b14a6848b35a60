//! Research plan review (see docs/upstream.md#human-in-the-loop): a research task with
//! `require_review` (or `review_plan: "manual"`) proposes a plan and waits; the user reads it (`GET
//! …/review`, its `version` as the ETag), gives feedback (the task answers with a revised plan) or
//! approves it, and the research runs with the confirmed plan. The revisions are model calls of the
//! task itself, so they are journaled and billed like every other; a feedback request waits for its
//! revision.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::store::reviews as store;
pub(crate) use crate::core::store::reviews::ReviewRow;
pub use crate::core::store::reviews::ReviewState;
use crate::core::tasks::Executor;
use crate::core::{Core, time};

/// Feedback rounds a review allows (the cloud's).
pub const MAX_ROUNDS: i64 = 10;
const MAX_FEEDBACK_BYTES: usize = 10 * 1024;
/// How long a feedback request waits for the task's revised plan.
const REVISION_WAIT: Duration = Duration::from_secs(90);

/// `POST /api/v1/tasks/{id}/review`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ReviewAction {
    /// `feedback` or `approve`.
    pub action: String,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ReviewPlan {
    pub message: String,
    pub round: i64,
    pub version: i64,
    pub intent: String,
}

/// The answer to a review action: `{status:"reviewing", plan}` after feedback, `{status:
/// "approved", message}` after approval. After feedback the revised plan is also given flat
/// (`round`, `current_plan`, `rounds`, `query`): the cloud nests it under `plan`, while the official
/// SDK's `submit_review_feedback` reads the review state's flat fields, so both find it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ReviewResponse {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<ReviewPlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The new version (the ETag).
    pub version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_plan: Option<String>,
    /// `[{role: "assistant"|"user", message, timestamp}]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rounds: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

fn stale(if_match: Option<&str>, version: i64) -> bool {
    if_match
        .map(|v| v.trim().trim_matches('"'))
        .is_some_and(|v| v != version.to_string())
}

impl Core {
    /// The review of one of the caller's tasks (404 for none, or another user's task).
    pub async fn get_review(&self, caller: &Caller, id: &str) -> Result<ReviewState> {
        let task = self.owned_task(caller, id).await?;
        if let Executor::Remote(profile) = task.executor()? {
            return self.get_remote_review(&task, &profile).await;
        }
        Ok(self.review_row(&task.workflow_id).await?.state)
    }

    /// Feedback (the task answers with a revised plan; this waits for it) or approval. `if_match`
    /// is the version the client saw: a stale one is a 409.
    pub async fn post_review(
        &self,
        caller: &Caller,
        id: &str,
        action: ReviewAction,
        if_match: Option<&str>,
    ) -> Result<ReviewResponse> {
        let task = self.owned_task(caller, id).await?;
        if let Executor::Remote(profile) = task.executor()? {
            return self
                .post_remote_review(&task, &profile, action, if_match)
                .await;
        }
        let wf = task.workflow_id;
        let row = self.review_row(&wf).await?;
        let s = &row.state;
        match action.action.as_str() {
            "approve" => {
                if s.status == "approved" {
                    return Ok(approved(s.version));
                }
                if stale(if_match, s.version) {
                    return Err(ShannonError::Conflict(
                        "Conflict: plan has been updated. Please review the latest version.".into(),
                    ));
                }
                if s.status == "revising" {
                    return Err(in_progress());
                }
                if s.current_plan.trim().is_empty() {
                    return Err(ShannonError::invalid("There is no plan to approve"));
                }
                let (wf_q, version) = (wf.clone(), s.version);
                let changed = self
                    .store()
                    .write(move |tx| store::mark_approved(tx, &wf_q, version, &time::now()))
                    .await?;
                if changed == 0 {
                    return Err(in_progress());
                }
                self.engine().answers_changed();
                Ok(approved(s.version))
            }
            "feedback" => {
                let message = action.message.unwrap_or_default().trim().to_string();
                if message.is_empty() {
                    return Err(ShannonError::invalid("message is required"));
                }
                if message.len() > MAX_FEEDBACK_BYTES {
                    return Err(ShannonError::invalid("message is longer than 10 KB"));
                }
                if s.status == "approved" {
                    return Err(ShannonError::Conflict(
                        "The plan is already approved".into(),
                    ));
                }
                if stale(if_match, s.version) {
                    return Err(ShannonError::Conflict(
                        "Conflict: state has been modified".into(),
                    ));
                }
                if s.status == "revising" {
                    return Err(in_progress());
                }
                if s.round + 1 > MAX_ROUNDS {
                    return Err(ShannonError::Conflict(
                        "Maximum review rounds reached. Please approve the plan.".into(),
                    ));
                }
                let (wf_q, version) = (wf.clone(), s.version);
                let changed = self
                    .store()
                    .write(move |tx| {
                        store::mark_revising(tx, &wf_q, version, &message, &time::now())
                    })
                    .await?;
                if changed == 0 {
                    return Err(in_progress());
                }
                self.engine().answers_changed();
                self.revised(&wf, s.version).await
            }
            _ => Err(ShannonError::invalid(
                "action must be \"feedback\" or \"approve\"",
            )),
        }
    }

    /// Waits until the task answered the feedback with a plan newer than `version`.
    async fn revised(&self, wf: &str, version: i64) -> Result<ReviewResponse> {
        let mut tick = self.engine().watch_answers();
        let deadline = tokio::time::Instant::now() + REVISION_WAIT;
        loop {
            let row = self.review_row(wf).await?;
            let s = &row.state;
            if s.version > version && s.status != "revising" {
                return Ok(ReviewResponse {
                    status: "reviewing".into(),
                    plan: Some(ReviewPlan {
                        message: s.current_plan.clone(),
                        round: s.round,
                        version: s.version,
                        intent: row.intent.clone(),
                    }),
                    message: None,
                    version: s.version,
                    round: Some(s.round),
                    current_plan: Some(s.current_plan.clone()),
                    rounds: Some(s.rounds.clone()),
                    query: Some(s.query.clone()),
                });
            }
            if let Some(e) = row.revision_error.filter(|_| s.status == "reviewing") {
                return Err(ShannonError::InvalidState(format!(
                    "the task could not revise its plan: {e}"
                )));
            }
            tokio::select! {
                _ = tick.changed() => {}
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(ShannonError::InvalidState("the task did not revise its plan in time".into()));
                }
            }
        }
    }

    pub(crate) async fn review_row(&self, wf: &str) -> Result<ReviewRow> {
        let wf = wf.to_string();
        self.store()
            .read(move |c| {
                store::get(c, &wf)?.ok_or_else(|| {
                    ShannonError::NotFound("Review session not found or expired".into())
                })
            })
            .await
    }

    /// Opens the review with the first plan, unless a resumed task finds it open already.
    pub(crate) async fn open_review(
        &self,
        wf: &str,
        user_id: &str,
        query: &str,
        plan: &str,
        intent: &str,
        expires_at: &str,
    ) -> Result<bool> {
        let rounds =
            serde_json::json!([{"role": "assistant", "message": plan, "timestamp": time::now()}]);
        let (wf, user, query, plan, intent, expires) = (
            wf.to_string(),
            user_id.to_string(),
            query.to_string(),
            plan.to_string(),
            intent.to_string(),
            expires_at.to_string(),
        );
        self.store()
            .write(move |tx| {
                let now = time::now();
                let rounds = rounds.to_string();
                Ok(store::insert(
                    tx,
                    &store::NewReviewRow {
                        workflow_id: &wf,
                        user_id: &user,
                        query: &query,
                        plan: &plan,
                        intent: &intent,
                        rounds: &rounds,
                        expires_at: &expires,
                        now: &now,
                    },
                )? == 1)
            })
            .await
    }

    /// Stores the task's answer to the pending feedback (or why it could not answer).
    pub(crate) async fn store_revision(
        &self,
        wf: &str,
        feedback: &str,
        outcome: std::result::Result<(String, String), String>,
    ) -> Result<()> {
        let (wf, feedback) = (wf.to_string(), feedback.to_string());
        self.store()
            .write(move |tx| {
                let now = time::now();
                match outcome {
                    Ok((plan, intent)) => {
                        let rounds = store::get_rounds(tx, &wf)?;
                        let mut rounds: Vec<Value> = serde_json::from_str(&rounds).unwrap_or_default();
                        rounds.push(serde_json::json!({"role": "user", "message": feedback, "timestamp": now}));
                        rounds.push(serde_json::json!({"role": "assistant", "message": plan, "timestamp": now}));
                        let rounds = serde_json::to_string(&rounds)?;
                        store::apply_revision(tx, &wf, &plan, &intent, &rounds, &now)?;
                    }
                    Err(e) => {
                        store::mark_revision_failed(tx, &wf, &e, &now)?;
                    }
                }
                Ok(())
            })
            .await?;
        self.engine().answers_changed();
        Ok(())
    }

    pub(crate) async fn expire_review(&self, wf: &str) -> Result<ReviewRow> {
        let wf_q = wf.to_string();
        self.store()
            .write(move |tx| {
                store::mark_expired(tx, &wf_q, &time::now())?;
                Ok(())
            })
            .await?;
        self.review_row(wf).await
    }
}

fn approved(version: i64) -> ReviewResponse {
    ReviewResponse {
        status: "approved".into(),
        plan: None,
        message: Some("Research started".into()),
        version,
        round: None,
        current_plan: None,
        rounds: None,
        query: None,
    }
}

fn in_progress() -> ShannonError {
    ShannonError::Conflict("Another feedback request is in progress. Please wait.".into())
}
