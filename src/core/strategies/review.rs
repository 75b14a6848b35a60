//! The task's side of research plan review (see docs/upstream.md#human-in-the-loop): propose a plan
//! (agent `research-planner`, RESEARCH_PLAN_READY), answer each feedback round with a revised plan
//! (REVIEW_USER_FEEDBACK, RESEARCH_PLAN_UPDATED), and go on once the user approves
//! (RESEARCH_PLAN_APPROVED) with the confirmed plan, or stop when the review times out
//! (`context.review_timeout` seconds, at most and by default 15 minutes). Each plan is a journaled
//! model call; the review's state is stored, so a restarted task goes on waiting.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Halt, Team};
use crate::core::error::ShannonError;
use crate::core::hitl::reviews::{MAX_ROUNDS, ReviewRow};
use crate::core::llm::{ChatMessage, Role};
use crate::core::run::journal::{StepKey, StepKind};
use crate::core::run::lifecycle::EventType;
use crate::core::streams::NewEvent;
use crate::core::time;

const MAX_TIMEOUT_SECS: u64 = 15 * 60;

/// The plan the user confirmed.
pub(crate) async fn confirmed_plan(team: &Team, query: &str) -> Result<String, Halt> {
    let key = StepKey::named("review");
    if let Some(plan) = team.take::<String>(&key)? {
        return Ok(plan);
    }
    let wf = team.workflow_id.clone();
    let mut row = match team.core.review_row(&wf).await {
        Ok(row) => row,
        Err(ShannonError::NotFound(_)) => open(team, query).await?,
        Err(e) => return Err(e.into()),
    };
    let mut tick = team.core.engine().watch_answers();
    loop {
        match row.state.status.as_str() {
            "approved" => break,
            "expired" => return Err(timed_out(team)),
            "revising" => revise(team, query, &row).await?,
            _ => {
                let deadline = DateTime::parse_from_rfc3339(&row.expires_at)
                    .map(|d| d.with_timezone(&Utc))
                    .unwrap_or_else(|_| Utc::now());
                let left = (deadline - Utc::now()).to_std().unwrap_or_default();
                if left.is_zero() {
                    team.core.expire_review(&wf).await?;
                    return Err(timed_out(team));
                }
                tokio::select! {
                    _ = tick.changed() => {}
                    _ = tokio::time::sleep(left) => {}
                    _ = team.cancel.cancelled() => return Err(team.halted()),
                }
            }
        }
        row = team.core.review_row(&wf).await?;
    }
    let plan = row.state.current_plan;
    let event = NewEvent::new(
        EventType::ResearchPlanApproved,
        "planner",
        "Got it — starting research",
    )
    .with_payload(json!({"round": row.state.round, "version": row.state.version}));
    team.record(&key, StepKind::Plan, &plan, vec![event], None)
        .await?;
    Ok(plan)
}

fn timed_out(team: &Team) -> Halt {
    team.emit(
        EventType::ErrorOccurred,
        "planner",
        "Review timed out",
        None,
    );
    Halt::Failed("research plan review timed out".into())
}

/// The first plan, and the review opened with it.
async fn open(team: &Team, query: &str) -> Result<ReviewRow, Halt> {
    let messages = vec![
        ChatMessage::new(Role::System, prompt(1)),
        ChatMessage::new(Role::User, query.to_string()),
    ];
    let answer = team
        .call(
            "research-planner",
            &StepKey::new("review", 1),
            messages,
            Vec::new(),
            false,
            false,
        )
        .await?;
    let (plan, intent) = split_intent(&answer.text, 1);
    let timeout = team.setting("review_timeout", MAX_TIMEOUT_SECS, 1, MAX_TIMEOUT_SECS);
    let expires = time::format(Utc::now() + chrono::Duration::seconds(timeout as i64));
    let fresh = team
        .core
        .open_review(
            &team.workflow_id,
            &team.user_id,
            query,
            &plan,
            &intent,
            &expires,
        )
        .await?;
    if fresh {
        team.emit(
            EventType::ResearchPlanReady,
            "planner",
            plan.clone(),
            Some(json!({"round": 1, "version": 1, "intent": intent, "expires_at": expires})),
        );
    }
    Ok(team.core.review_row(&team.workflow_id).await?)
}

/// Answers the pending feedback with a revised plan (or stores why it could not).
async fn revise(team: &Team, query: &str, row: &ReviewRow) -> Result<(), Halt> {
    let feedback = row.pending_feedback.clone().unwrap_or_default();
    let round = row.state.round + 1;
    let mut messages = vec![
        ChatMessage::new(Role::System, prompt(round)),
        ChatMessage::new(Role::User, query.to_string()),
    ];
    for r in row.state.rounds.as_array().into_iter().flatten() {
        let role = if r["role"] == "user" {
            Role::User
        } else {
            Role::Assistant
        };
        messages.push(ChatMessage::new(
            role,
            r["message"].as_str().unwrap_or_default(),
        ));
    }
    messages.push(ChatMessage::new(Role::User, feedback.clone()));
    let key = StepKey::new("review", round);
    let outcome = match team
        .call("research-planner", &key, messages, Vec::new(), false, false)
        .await
    {
        Ok(a) => Ok(split_intent(&a.text, round)),
        Err(Halt::Failed(e)) => Err(e),
        Err(stop) => return Err(stop),
    };
    let version = row.state.version + 1;
    if let Ok((plan, intent)) = &outcome {
        team.emit(
            EventType::ReviewUserFeedback,
            "user",
            feedback.clone(),
            Some(json!({"round": round, "version": version})),
        );
        team.emit(
            EventType::ResearchPlanUpdated,
            "research-planner",
            plan.clone(),
            Some(json!({"round": round, "version": version, "intent": intent})),
        );
    }
    team.core
        .store_revision(&team.workflow_id, &feedback, outcome)
        .await?;
    Ok(())
}

/// The plan without its closing `[INTENT:x]` tag, and the intent (`ready` on the last round).
fn split_intent(text: &str, round: i64) -> (String, String) {
    let mut intent = "feedback".to_string();
    let mut plan = text.to_string();
    if let Some(start) = text.rfind("[INTENT:")
        && let Some(len) = text[start..].find(']')
    {
        intent = text[start + 8..start + len].trim().to_ascii_lowercase();
        plan = format!("{}{}", &text[..start], &text[start + len + 1..]);
    }
    if round >= MAX_ROUNDS {
        intent = "ready".into();
    }
    (plan.trim().to_string(), intent)
}

fn prompt(round: i64) -> String {
    let last = if round >= MAX_ROUNDS {
        " This is the last round: propose the final plan."
    } else {
        ""
    };
    format!(
        "You are the intake analyst of a research team. This is round {round} of {MAX_ROUNDS} of \
         agreeing on a research plan with the user.{last} Either ask 1-3 short questions that \
         would change the research, and end with [INTENT:feedback]; or propose a concrete research \
         direction (under 300 words: the questions to answer, the sources to look at, what the \
         report will cover), end with \"You can approve to start, or tell me what to adjust.\" and \
         [INTENT:ready]; or, when the user clearly approves, confirm briefly and end with \
         [INTENT:execute]. End with exactly one such tag."
    )
}

#[cfg(test)]
mod tests {
    use super::split_intent;

    #[test]
    fn the_intent_tag_is_read_and_removed() {
        assert_eq!(
            split_intent("Plan: look at A.\n[INTENT:ready]", 1),
            ("Plan: look at A.".into(), "ready".into())
        );
        assert_eq!(split_intent("Which region?", 2).1, "feedback");
        assert_eq!(split_intent("Plan [INTENT:feedback]", 10).1, "ready");
    }
}
