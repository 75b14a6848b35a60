//! `standard`: one agent in a loop of model and tool calls. Each round the model may call tools;
//! their results go back to it (REFLECTION), and the last allowed round has no tools, so the model
//! must answer (SYNTHESIS when tools were used). Every call and tool result is journaled.

use serde_json::json;

use super::{Halt, Outcome, Team, agent, simple};
use crate::core::llm::{ChatMessage, Role};
use crate::core::run::journal::StepKey;
use crate::core::run::lifecycle::EventType;

pub(crate) const AGENT: &str = "react-agent";

pub(crate) async fn run(
    team: &Team,
    query: &str,
    mut messages: Vec<ChatMessage>,
    max_calls: u32,
) -> Result<Outcome, Halt> {
    simple::started(team, AGENT, query);
    let toolbox = &mut team.tools.narrowed(None);
    let use_tools = !toolbox.is_empty();
    let (mut tokens, mut tool_rounds) = (0, 0);
    let mut round = 0;
    let answer = loop {
        round += 1;
        let last_round = round >= max_calls;
        let tools = if use_tools && !last_round {
            toolbox.specs()
        } else {
            Vec::new()
        };
        let key = StepKey::new("call", round);
        let step = team
            .call(AGENT, &key, messages.clone(), tools, false, true)
            .await?;
        tokens += step.usage.total_tokens;
        if step.tool_calls.is_empty() || !use_tools || last_round {
            if tool_rounds > 0 {
                team.emit(
                    EventType::Synthesis,
                    AGENT,
                    format!("Synthesized the answer from {tool_rounds} round(s) of tool results"),
                    Some(json!({"tool_rounds": tool_rounds, "iteration": round})),
                );
            }
            break step;
        }
        let mut assistant = ChatMessage::new(Role::Assistant, step.text.clone());
        assistant.tool_calls = step.tool_calls.clone();
        messages.push(assistant);
        for (i, call) in step.tool_calls.iter().enumerate() {
            let run = agent::tool_step(team, AGENT, &key.then("tool", i), toolbox, call).await?;
            let mut msg = ChatMessage::new(Role::Tool, run.output);
            msg.tool_call_id = Some(call.id.clone());
            messages.push(msg);
        }
        tool_rounds += 1;
        // The observations go back to the model, which reflects on them before its next step.
        team.emit(
            EventType::Reflection,
            AGENT,
            format!(
                "Reflecting on {} tool result(s) before the next step",
                step.tool_calls.len()
            ),
            Some(json!({"observations": step.tool_calls.len(), "iteration": round})),
        );
    };
    team.emit(EventType::AgentCompleted, AGENT, "Agent finished", None);
    Ok(Outcome {
        answer: answer.text,
        tokens,
        model: answer.model,
        ..Outcome::default()
    })
}
