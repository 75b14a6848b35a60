//! Research plan review of a remote task, made on its cloud (`GET|POST /api/v1/tasks/{wf}/review`
//! with the cloud's ETag as the version): the plan lives where the research runs.

use reqwest::Method;
use serde_json::{Value, json};

use super::client::urlenc;
use crate::core::Core;
use crate::core::error::{Result, ShannonError};
use crate::core::hitl::reviews::{ReviewAction, ReviewPlan, ReviewResponse, ReviewState};
use crate::core::tasks::read::TaskRow;

fn int(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

/// The version an answer carries: its ETag, else the body's.
fn version_of(head: &reqwest::header::HeaderMap, fallback: i64) -> i64 {
    head.get("etag")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_matches('"').parse().ok())
        .unwrap_or(fallback)
}

impl Core {
    /// The review of a remote task as its cloud holds it.
    pub(crate) async fn get_remote_review(
        &self,
        row: &TaskRow,
        profile: &str,
    ) -> Result<ReviewState> {
        let path = format!(
            "/api/v1/tasks/{}/review",
            urlenc(&self.remote_workflow_of(row).await?)
        );
        let cloud = self.cloud(profile).await?;
        match cloud.json(self, Method::GET, &path, None, &[]).await? {
            Ok((v, head)) => Ok(ReviewState {
                status: text(&v, "status"),
                round: int(&v, "round"),
                version: version_of(&head, int(&v, "version")),
                current_plan: text(&v, "current_plan"),
                rounds: v.get("rounds").cloned().unwrap_or_else(|| json!([])),
                query: text(&v, "query"),
            }),
            Err(r) => Err(cloud.refused("show the review", r)),
        }
    }

    /// Feedback or approval of a remote task's plan, sent to its cloud with the version the user
    /// saw (`If-Match`); the answer in both the cloud's shape and the flat one.
    pub(crate) async fn post_remote_review(
        &self,
        row: &TaskRow,
        profile: &str,
        action: ReviewAction,
        if_match: Option<&str>,
    ) -> Result<ReviewResponse> {
        if !matches!(action.action.as_str(), "feedback" | "approve") {
            return Err(ShannonError::invalid("action must be feedback or approve"));
        }
        let path = format!(
            "/api/v1/tasks/{}/review",
            urlenc(&self.remote_workflow_of(row).await?)
        );
        let cloud = self.cloud(profile).await?;
        let body = json!({"action": action.action, "message": action.message.unwrap_or_default()});
        let headers: Vec<(&str, String)> = if_match
            .map(|v| ("If-Match", v.trim().to_string()))
            .into_iter()
            .collect();
        let (v, head) = match cloud
            .json(self, Method::POST, &path, Some(&body), &headers)
            .await?
        {
            Ok(answer) => answer,
            Err(r) => return Err(cloud.refused("take the review", r)),
        };
        let plan = v.get("plan").filter(|p| p.is_object()).map(|p| ReviewPlan {
            message: text(p, "message"),
            round: int(p, "round"),
            version: int(p, "version"),
            intent: text(p, "intent"),
        });
        let version = version_of(&head, plan.as_ref().map_or(0, |p| p.version));
        Ok(ReviewResponse {
            status: text(&v, "status"),
            round: plan.as_ref().map(|p| p.round),
            current_plan: plan.as_ref().map(|p| p.message.clone()),
            message: v.get("message").and_then(Value::as_str).map(str::to_string),
            plan,
            version,
            rounds: None,
            query: None,
        })
    }
}
