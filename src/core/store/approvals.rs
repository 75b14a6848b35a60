//! Tables `approvals` (the decisions tasks wait on) and `tool_grants` (tools let through without
//! asking).

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::error::Result;

/// What a tool approval lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalScope {
    /// This call only.
    Once,
    /// Every call of this tool in the task's session.
    Session,
    /// Every call of this tool, until revoked.
    Always,
}

/// A tool a user let through without asking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ToolGrant {
    pub tool: String,
    /// The session it holds for; `None`: always.
    pub session_id: Option<String>,
    pub created_at: String,
}

/// An approval a task asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct Approval {
    pub approval_id: String,
    pub workflow_id: String,
    /// `plan` or `tool`.
    pub kind: String,
    pub reason: String,
    /// What is to be approved: `{plan, tools}` or `{tool, arguments, agent_id}`.
    pub payload: Value,
    /// `pending`, `approved`, `denied` or `expired`.
    pub status: String,
    pub feedback: Option<String>,
    pub scope: Option<ApprovalScope>,
    pub decided_by: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    pub decided_at: Option<String>,
}

const COLUMNS: &str = "approval_id, workflow_id, kind, reason, payload, status, feedback, scope, \
                       decided_by, created_at, expires_at, decided_at";

/// Maps a row selected with `COLUMNS` to an [`Approval`].
fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Approval> {
    let payload: String = r.get(4)?;
    let scope: Option<String> = r.get(7)?;
    Ok(Approval {
        approval_id: r.get(0)?,
        workflow_id: r.get(1)?,
        kind: r.get(2)?,
        reason: r.get(3)?,
        payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
        status: r.get(5)?,
        feedback: r.get(6)?,
        scope: scope.and_then(|s| serde_json::from_value(Value::String(s)).ok()),
        decided_by: r.get(8)?,
        created_at: r.get(9)?,
        expires_at: r.get(10)?,
        decided_at: r.get(11)?,
    })
}

/// A new approval row (`status` and the decision columns take their defaults).
pub(crate) struct NewApprovalRow<'a> {
    pub approval_id: &'a str,
    pub workflow_id: &'a str,
    pub user_id: &'a str,
    pub step_key: &'a str,
    pub kind: &'a str,
    pub reason: &'a str,
    pub payload: &'a str,
    pub created_at: &'a str,
    pub expires_at: &'a str,
}

/// What a decision needs to know of the approval it answers.
pub(crate) struct DecisionTarget {
    pub status: String,
    pub kind: String,
    /// The session of the approval's task.
    pub session_id: Option<String>,
}

impl DecisionTarget {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            status: r.get(0)?,
            kind: r.get(1)?,
            session_id: r.get(2)?,
        })
    }
}

/// The user's approval of that workflow, joined with its task's session; `None` if there is none.
pub(crate) fn get_for_decision(
    c: &Connection,
    approval_id: &str,
    workflow_id: &str,
    user_id: &str,
) -> Result<Option<DecisionTarget>> {
    Ok(c.query_row(
        "SELECT a.status, a.kind, t.session_id FROM approvals a
                         JOIN tasks t ON t.workflow_id = a.workflow_id
                         WHERE a.approval_id = ?1 AND a.workflow_id = ?2 AND a.user_id = ?3",
        params![approval_id, workflow_id, user_id],
        DecisionTarget::from_row,
    )
    .optional()?)
}

/// Records a decision (`status` `approved` or `denied`) on an approval.
pub(crate) fn mark_decided(
    tx: &Transaction<'_>,
    approval_id: &str,
    status: &str,
    feedback: Option<&str>,
    scope: Option<&str>,
    decided_by: &str,
    now: &str,
) -> Result<usize> {
    Ok(tx.execute(
        "UPDATE approvals SET status = ?2, feedback = ?3, scope = ?4, decided_by = ?5,
                     decided_at = ?6 WHERE approval_id = ?1",
        params![approval_id, status, feedback, scope, decided_by, now],
    )?)
}

/// The tool a tool approval is about (its payload's `tool`).
pub(crate) fn tool_of(c: &Connection, approval_id: &str) -> Result<String> {
    Ok(c.query_row(
        "SELECT json_extract(payload, '$.tool') FROM approvals WHERE approval_id = ?1",
        [approval_id],
        |r| r.get(0),
    )?)
}

/// The user's approvals of one status (or `all`), newest first, at most 200.
pub(crate) fn list_for_user(c: &Connection, user_id: &str, status: &str) -> Result<Vec<Approval>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM approvals WHERE user_id = ?1 AND (?2 = 'all' OR status = ?2)
                     ORDER BY created_at DESC LIMIT 200"
    ))?;
    let rows = stmt.query_map(params![user_id, status], read_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Inserts an approval unless its workflow already has one for that step; returns the rows inserted.
pub(crate) fn insert(tx: &Transaction<'_>, new: &NewApprovalRow<'_>) -> Result<usize> {
    Ok(tx.execute(
        "INSERT OR IGNORE INTO approvals (approval_id, workflow_id, user_id, step_key, kind,
                     reason, payload, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            new.approval_id,
            new.workflow_id,
            new.user_id,
            new.step_key,
            new.kind,
            new.reason,
            new.payload,
            new.created_at,
            new.expires_at
        ],
    )?)
}

/// The approval of a workflow's step.
pub(crate) fn get_by_step(c: &Connection, workflow_id: &str, step_key: &str) -> Result<Approval> {
    Ok(c.query_row(
        &format!("SELECT {COLUMNS} FROM approvals WHERE workflow_id = ?1 AND step_key = ?2"),
        params![workflow_id, step_key],
        read_row,
    )?)
}

/// One approval by id.
pub(crate) fn get(c: &Connection, approval_id: &str) -> Result<Approval> {
    Ok(c.query_row(
        &format!("SELECT {COLUMNS} FROM approvals WHERE approval_id = ?1"),
        [approval_id],
        read_row,
    )?)
}

/// Marks an approval expired if it is still pending; returns the rows changed.
pub(crate) fn mark_expired(tx: &Transaction<'_>, approval_id: &str, now: &str) -> Result<usize> {
    Ok(tx.execute(
        "UPDATE approvals SET status = 'expired', feedback = 'approval timeout',
                     decided_at = ?2 WHERE approval_id = ?1 AND status = 'pending'",
        params![approval_id, now],
    )?)
}

/// A tool let through without asking (`session` empty: always); a repeated grant is kept once.
pub(crate) fn insert_grant(
    tx: &Transaction<'_>,
    user_id: &str,
    session_id: &str,
    tool: &str,
    now: &str,
) -> Result<usize> {
    Ok(tx.execute(
        "INSERT OR IGNORE INTO tool_grants (user_id, session_id, tool, created_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![user_id, session_id, tool, now],
    )?)
}

/// The user's tool grants, oldest first.
pub(crate) fn list_grants_for_user(c: &Connection, user_id: &str) -> Result<Vec<ToolGrant>> {
    let mut stmt = c.prepare_cached(
        "SELECT tool, session_id, created_at FROM tool_grants WHERE user_id = ?1
                     ORDER BY created_at",
    )?;
    let rows = stmt.query_map([user_id], |r| {
        let session: String = r.get(1)?;
        Ok(ToolGrant {
            tool: r.get(0)?,
            session_id: (!session.is_empty()).then_some(session),
            created_at: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Deletes a grant (`session_id` empty: the "always" one); returns the rows deleted.
pub(crate) fn delete_grant(
    tx: &Transaction<'_>,
    user_id: &str,
    session_id: &str,
    tool: &str,
) -> Result<usize> {
    Ok(tx.execute(
        "DELETE FROM tool_grants WHERE user_id = ?1 AND session_id = ?2 AND tool = ?3",
        params![user_id, session_id, tool],
    )?)
}

/// Whether the user granted `tool` always or for this session (`session_id` empty: none).
pub(crate) fn grant_exists(
    c: &Connection,
    user_id: &str,
    session_id: &str,
    tool: &str,
) -> Result<bool> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM tool_grants WHERE user_id = ?1 AND tool = ?3
                     AND (session_id = '' OR (session_id = ?2 AND ?2 != '')))",
        params![user_id, session_id, tool],
        |r| r.get(0),
    )?)
}
