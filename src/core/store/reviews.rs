//! Table `research_reviews`: a research task's plan under review, its rounds and its version (the
//! ETag).

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::error::Result;

/// A stored review, as the engine reads it.
#[derive(Debug, Clone)]
pub(crate) struct ReviewRow {
    pub state: ReviewState,
    pub intent: String,
    pub pending_feedback: Option<String>,
    pub revision_error: Option<String>,
    pub expires_at: String,
}

/// `GET /api/v1/tasks/{id}/review`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ReviewState {
    pub status: String,
    pub round: i64,
    pub version: i64,
    pub current_plan: String,
    /// `[{role: "assistant"|"user", message, timestamp}]`.
    pub rounds: Value,
    pub query: String,
}

const COLUMNS: &str = "status, round, version, current_plan, intent, query, rounds, pending_feedback, \
                       revision_error, expires_at";

/// Maps a row selected with `COLUMNS` to a [`ReviewRow`].
fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReviewRow> {
    let rounds: String = r.get(6)?;
    Ok(ReviewRow {
        state: ReviewState {
            status: r.get(0)?,
            round: r.get(1)?,
            version: r.get(2)?,
            current_plan: r.get(3)?,
            rounds: serde_json::from_str(&rounds).unwrap_or(Value::Array(Vec::new())),
            query: r.get(5)?,
        },
        intent: r.get(4)?,
        pending_feedback: r.get(7)?,
        revision_error: r.get(8)?,
        expires_at: r.get(9)?,
    })
}

/// A new review, opened with the task's first plan.
pub(crate) struct NewReviewRow<'a> {
    pub workflow_id: &'a str,
    pub user_id: &'a str,
    pub query: &'a str,
    pub plan: &'a str,
    pub intent: &'a str,
    /// The rounds as JSON text.
    pub rounds: &'a str,
    pub expires_at: &'a str,
    pub now: &'a str,
}

/// The review of a workflow; `None` if there is none.
pub(crate) fn get(c: &Connection, workflow_id: &str) -> Result<Option<ReviewRow>> {
    Ok(c.query_row(
        &format!("SELECT {COLUMNS} FROM research_reviews WHERE workflow_id = ?1"),
        [workflow_id],
        read_row,
    )
    .optional()?)
}

/// Approves the plan of that version if it is under review; returns the rows changed.
pub(crate) fn mark_approved(
    tx: &Transaction<'_>,
    workflow_id: &str,
    version: i64,
    now: &str,
) -> Result<usize> {
    Ok(tx.execute(
        "UPDATE research_reviews SET status = 'approved', updated_at = ?3
                             WHERE workflow_id = ?1 AND version = ?2 AND status = 'reviewing'",
        params![workflow_id, version, now],
    )?)
}

/// Hands feedback on the plan of that version to the task, if it is under review; returns the
/// rows changed.
pub(crate) fn mark_revising(
    tx: &Transaction<'_>,
    workflow_id: &str,
    version: i64,
    feedback: &str,
    now: &str,
) -> Result<usize> {
    Ok(tx.execute(
        "UPDATE research_reviews SET status = 'revising', pending_feedback = ?3,
                             revision_error = NULL, updated_at = ?4
                             WHERE workflow_id = ?1 AND version = ?2 AND status = 'reviewing'",
        params![workflow_id, version, feedback, now],
    )?)
}

/// Inserts a review unless the workflow has one; returns the rows inserted.
pub(crate) fn insert(tx: &Transaction<'_>, new: &NewReviewRow<'_>) -> Result<usize> {
    Ok(tx.execute(
        "INSERT OR IGNORE INTO research_reviews (workflow_id, user_id, query, status, round,
                     version, current_plan, intent, rounds, expires_at, created_at, updated_at)
                     VALUES (?1, ?2, ?3, 'reviewing', 1, 1, ?4, ?5, ?6, ?7, ?8, ?8)",
        params![
            new.workflow_id,
            new.user_id,
            new.query,
            new.plan,
            new.intent,
            new.rounds,
            new.expires_at,
            new.now
        ],
    )?)
}

/// The review's rounds, as JSON text.
pub(crate) fn get_rounds(c: &Connection, workflow_id: &str) -> Result<String> {
    Ok(c.query_row(
        "SELECT rounds FROM research_reviews WHERE workflow_id = ?1",
        [workflow_id],
        |r| r.get(0),
    )?)
}

/// Stores the revised plan as the next round and version, back under review.
pub(crate) fn apply_revision(
    tx: &Transaction<'_>,
    workflow_id: &str,
    plan: &str,
    intent: &str,
    rounds: &str,
    now: &str,
) -> Result<usize> {
    Ok(tx.execute(
        "UPDATE research_reviews SET status = 'reviewing', round = round + 1,
                             version = version + 1, current_plan = ?2, intent = ?3, rounds = ?4,
                             pending_feedback = NULL, updated_at = ?5 WHERE workflow_id = ?1",
        params![workflow_id, plan, intent, rounds, now],
    )?)
}

/// Puts the review back under review with why the task could not revise its plan.
pub(crate) fn mark_revision_failed(
    tx: &Transaction<'_>,
    workflow_id: &str,
    error: &str,
    now: &str,
) -> Result<usize> {
    Ok(tx.execute(
        "UPDATE research_reviews SET status = 'reviewing', pending_feedback = NULL,
                             revision_error = ?2, updated_at = ?3 WHERE workflow_id = ?1",
        params![workflow_id, error, now],
    )?)
}

/// Marks the review expired if it is still open; returns the rows changed.
pub(crate) fn mark_expired(tx: &Transaction<'_>, workflow_id: &str, now: &str) -> Result<usize> {
    Ok(tx.execute(
        "UPDATE research_reviews SET status = 'expired', updated_at = ?2
                     WHERE workflow_id = ?1 AND status IN ('reviewing', 'revising')",
        params![workflow_id, now],
    )?)
}
