//! Research plan review (`GET|POST /api/v1/tasks/{wf}/review`, ETag and If-Match), as the cloud's
//! `H/review.go` answers. A test opens a review on a task with [`Cloud::open_review`]; feedback
//! revises the plan at once (the cloud asks a model), approval starts the research.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::Cloud;
use super::auth::{Identity, error};
use super::events::rfc3339;

pub struct Review {
    pub user_id: String,
    pub status: &'static str,
    pub round: i64,
    pub version: i64,
    pub current_plan: String,
    pub rounds: Vec<Value>,
    pub query: String,
}

impl Cloud {
    /// Opens a review on a task the fake knows, with a first plan for its query.
    pub fn open_review(&self, workflow_id: &str) {
        let mut st = self.state.lock().unwrap();
        let task = &st.tasks[workflow_id];
        let plan = format!(
            "1. Survey sources on: {}\n2. Compare them\n3. Write it up",
            task.query
        );
        let review = Review {
            user_id: task.user_id.clone(),
            status: "reviewing",
            round: 1,
            version: 1,
            rounds: vec![
                json!({"role": "assistant", "message": plan, "timestamp": rfc3339(Utc::now())}),
            ],
            current_plan: plan,
            query: task.query.clone(),
        };
        st.reviews.insert(workflow_id.to_string(), review);
    }
}

fn with_etag(body: Value, version: i64) -> Response {
    let mut r = Json(body).into_response();
    r.headers_mut()
        .insert("ETag", HeaderValue::from_str(&version.to_string()).unwrap());
    r
}

macro_rules! review_of {
    ($st:expr, $who:expr, $wf:expr) => {
        match $st.reviews.get_mut(&$wf) {
            None => return error(StatusCode::NOT_FOUND, "Review not found or expired"),
            Some(r) if r.user_id != $who.user_id => {
                return error(StatusCode::FORBIDDEN, "Forbidden");
            }
            Some(r) => r,
        }
    };
}

pub async fn get_review(
    State(c): State<Arc<Cloud>>,
    Extension(who): Extension<Identity>,
    Path(wf): Path<String>,
) -> Response {
    let mut st = c.state.lock().unwrap();
    let r = review_of!(st, who, wf);
    let body = json!({"status": r.status, "round": r.round, "version": r.version,
        "current_plan": r.current_plan, "rounds": r.rounds, "query": r.query});
    with_etag(body, r.version)
}

pub async fn post_review(
    State(c): State<Arc<Cloud>>,
    Extension(who): Extension<Identity>,
    Path(wf): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut st = c.state.lock().unwrap();
    let r = review_of!(st, who, wf);
    let stale = headers
        .get("If-Match")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_matches('"') != r.version.to_string());
    if stale {
        return error(
            StatusCode::CONFLICT,
            "Conflict: plan has been updated. Please review the latest version.",
        );
    }
    let message = body["message"].as_str().unwrap_or("").trim().to_string();
    match body["action"].as_str() {
        Some("approve") => {
            r.status = "approved";
            Json(json!({"status": "approved", "message": "Research started"})).into_response()
        }
        Some("feedback") if message.is_empty() => {
            error(StatusCode::BAD_REQUEST, "message is required for feedback")
        }
        Some("feedback") => {
            let now = rfc3339(Utc::now());
            r.round += 1;
            r.version += 1;
            r.current_plan = format!("{}\n4. Also: {message}", r.current_plan);
            r.rounds
                .push(json!({"role": "user", "message": message, "timestamp": now}));
            r.rounds
                .push(json!({"role": "assistant", "message": r.current_plan, "timestamp": now}));
            let plan = json!({"message": r.current_plan, "round": r.round,
                "version": r.version, "intent": "feedback"});
            with_etag(json!({"status": "reviewing", "plan": plan}), r.version)
        }
        _ => error(
            StatusCode::BAD_REQUEST,
            "action must be feedback or approve",
        ),
    }
}
