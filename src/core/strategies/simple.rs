//! `simple` (the cloud's SimpleTaskWorkflow): one agent answers in one model call, over the
//! conversation it is given (the session's history and the request).

use super::{Halt, Outcome, Team};
use crate::core::llm::ChatMessage;
use crate::core::run::journal::StepKey;
use crate::core::run::lifecycle::EventType;
use crate::core::streams::clip;

pub(crate) const AGENT: &str = "simple-agent";

pub(crate) async fn run(
    team: &Team,
    query: &str,
    messages: Vec<ChatMessage>,
) -> Result<Outcome, Halt> {
    started(team, AGENT, query);
    let key = StepKey::new("call", 1);
    let answer = team
        .call(AGENT, &key, messages, Vec::new(), false, true)
        .await?;
    team.emit(EventType::AgentCompleted, AGENT, "Agent finished", None);
    Ok(Outcome {
        answer: answer.text,
        tokens: answer.usage.total_tokens,
        model: answer.model,
        ..Outcome::default()
    })
}

/// AGENT_STARTED and AGENT_THINKING of a one-agent run.
pub(crate) fn started(team: &Team, agent: &str, query: &str) {
    team.emit(EventType::AgentStarted, agent, "Agent started", None);
    let thinking = format!("Thinking: {}", clip(query, 200));
    team.emit(EventType::AgentThinking, agent, thinking, None);
}
