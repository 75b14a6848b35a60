//! A deterministic agent's task (the cloud's router: docs/upstream.md#routing-and-planning):
//! `context.agent` names an agent of the catalogue, and the task calls its one tool once with
//! `context.agent_input` (validated when the agent was executed), with no model call. The tool call
//! is an ordinary tool step: journaled, and asking first when the tool is dangerous. Its output is
//! the answer; a failed call fails the task with the tool's error.

use serde_json::{Value, json};

use super::{Halt, Outcome, Team, agent};
use crate::core::llm::ToolCall;
use crate::core::run::journal::StepKey;
use crate::core::run::lifecycle::EventType;

pub(crate) async fn run(team: &Team, agent_id: &str, input: &Value) -> Result<Outcome, Halt> {
    let spec = team.core.agent_by_id(agent_id)?;
    team.emit(
        EventType::AgentStarted,
        agent_id,
        format!("Running agent {}", spec.name),
        Some(json!({"tool": spec.tool, "agent_input": input})),
    );
    let mut toolbox = team.tools.narrowed(Some(std::slice::from_ref(&spec.tool)));
    let call = ToolCall {
        id: format!("{agent_id}-1"),
        name: spec.tool.clone(),
        arguments: input.to_string(),
    };
    let key = StepKey::named("agent").then("tool", 0);
    let run = agent::tool_step(team, agent_id, &key, &mut toolbox, &call).await?;
    if !run.success {
        return Err(Halt::Failed(run.output));
    }
    team.emit(
        EventType::AgentCompleted,
        agent_id,
        format!("{} is done", spec.name),
        Some(json!({"tool": spec.tool})),
    );
    let mut metadata = serde_json::Map::new();
    metadata.insert("agent_id".into(), json!(agent_id));
    metadata.insert("tool".into(), json!(spec.tool));
    metadata.insert("execution_mode".into(), json!("agent"));
    metadata.insert("cost_usd".into(), json!(spec.cost_per_call));
    Ok(Outcome {
        answer: run.output,
        tokens: 0,
        model: String::new(),
        metadata,
    })
}
