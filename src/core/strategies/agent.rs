//! One agent's turn, shared by every strategy: a few rounds of model call and tool calls under the
//! agent's own id, each call and each tool result journaled, so a resumed run repeats nothing.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Halt, Team};
use crate::core::llm::{ChatMessage, Role, ToolCall};
use crate::core::run::journal::{StepKey, StepKind};
use crate::core::run::lifecycle::EventType;
use crate::core::streams::{NewEvent, clip, clip_params};
use crate::core::tools::ToolBox;

/// A tool call an agent made, as the task's metadata reports it (`tool_errors`, `citations`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ToolRun {
    pub tool: String,
    pub success: bool,
    pub output: String,
}

/// A journaled tool step: its run, or as journals of earlier versions hold it (a one-agent run's
/// output and success, a subtask's output alone).
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredToolStep {
    Run(ToolRun),
    Step { output: String, success: bool },
    Output(String),
}

/// What an agent's turn produced.
#[derive(Debug, Clone, Default)]
pub(crate) struct Turn {
    pub text: String,
    pub tokens: u64,
    pub model: String,
    pub tools: Vec<ToolRun>,
}

/// Up to `rounds` model calls as `agent`, running the tools it asks for in between; the last round
/// has no tools, so the agent must answer. `Ok(Err(why))` when the agent's own call failed or it
/// used its token budget (its work fails, the task may go on); `Err` when the task must stop.
pub(crate) async fn turn(
    team: &Team,
    agent: &str,
    key: &StepKey,
    mut messages: Vec<ChatMessage>,
    toolbox: &mut ToolBox,
    rounds: u32,
) -> Result<Result<Turn, String>, Halt> {
    let mut turn = Turn::default();
    for round in 1..=rounds {
        if let Some(why) = team.agent_over_budget(agent) {
            return Ok(Err(why));
        }
        let call = key.then("call", round);
        let tools = if round < rounds && !toolbox.is_empty() {
            toolbox.specs()
        } else {
            Vec::new()
        };
        let answer = match team
            .call(agent, &call, messages.clone(), tools, false, true)
            .await
        {
            Ok(a) => a,
            Err(Halt::Failed(e)) => return Ok(Err(e)),
            Err(stop) => return Err(stop),
        };
        turn.tokens += answer.usage.total_tokens;
        turn.model = answer.model.clone();
        if answer.tool_calls.is_empty() || toolbox.is_empty() || round == rounds {
            turn.text = answer.text;
            return Ok(Ok(turn));
        }
        let mut assistant = ChatMessage::new(Role::Assistant, answer.text.clone());
        assistant.tool_calls = answer.tool_calls.clone();
        messages.push(assistant);
        for (i, tool_call) in answer.tool_calls.iter().enumerate() {
            let run = tool_step(team, agent, &call.then("tool", i), toolbox, tool_call).await?;
            let mut msg = ChatMessage::new(Role::Tool, run.output.clone());
            msg.tool_call_id = Some(tool_call.id.clone());
            messages.push(msg);
            turn.tools.push(run);
        }
    }
    Ok(Err("no answer".into()))
}

/// A tool call of an agent: TOOL_INVOKED, then its observation journaled with the result.
pub(crate) async fn tool_step(
    team: &Team,
    agent: &str,
    key: &StepKey,
    toolbox: &mut ToolBox,
    call: &ToolCall,
) -> Result<ToolRun, Halt> {
    if let Some(done) = team.take::<StoredToolStep>(key)? {
        return Ok(match done {
            StoredToolStep::Run(run) => run,
            StoredToolStep::Step { output, success } => ToolRun {
                tool: call.name.clone(),
                success,
                output,
            },
            StoredToolStep::Output(output) => ToolRun {
                tool: call.name.clone(),
                success: true,
                output,
            },
        });
    }
    team.set_at("pre_tool_call");
    team.checkpoint().await?;
    let params: Value =
        serde_json::from_str(&call.arguments).unwrap_or(Value::String(call.arguments.clone()));
    if let Some(denied) = tool_approval(team, agent, key, call, &params).await? {
        let events = vec![
            NewEvent::new(EventType::ToolError, agent, denied.clone())
                .with_payload(json!({"tool": call.name, "error": denied, "denied": true})),
        ];
        let run = ToolRun {
            tool: call.name.clone(),
            success: false,
            output: denied,
        };
        team.record(key, StepKind::ToolCall, &run, events, None)
            .await?;
        return Ok(run);
    }
    team.emit(
        EventType::ToolInvoked,
        agent,
        format!("Calling {} with {}", call.name, clip(&call.arguments, 200)),
        Some(json!({"tool": call.name, "params": clip_params(&params), "role": agent})),
    );
    let (outcome, cached) = toolbox.run(&call.name, &call.arguments).await;
    let shown = clip(&outcome.output, 2000);
    let mut events = vec![NewEvent::new(EventType::ToolObservation, agent, shown.clone())
        .with_payload(json!({"tool": call.name, "success": outcome.success, "output": shown, "cached": cached}))];
    if !outcome.success {
        events.push(
            NewEvent::new(EventType::ToolError, agent, clip(&outcome.output, 500))
                .with_payload(json!({"tool": call.name, "error": clip(&outcome.output, 500)})),
        );
    }
    let run = ToolRun {
        tool: call.name.clone(),
        success: outcome.success,
        output: outcome.output,
    };
    team.record(key, StepKind::ToolCall, &run, events, None)
        .await?;
    Ok(run)
}

/// A dangerous tool (the approval policy's list) asks the user first, unless the user let it
/// through for this session or always. Returns the tool error the model gets when denied.
async fn tool_approval(
    team: &Team,
    agent: &str,
    key: &StepKey,
    call: &ToolCall,
    params: &Value,
) -> Result<Option<String>, Halt> {
    if !team.core.tool_is_dangerous(&call.name)
        || team
            .core
            .tool_granted(&team.user_id, team.session_id.as_deref(), &call.name)
            .await?
    {
        return Ok(None);
    }
    let reason = format!("Tool '{}' requires approval", call.name);
    let payload = json!({"tool": call.name, "arguments": params, "agent_id": agent});
    let decision = team
        .ask_approval(
            &key.then_named("approval"),
            "tool",
            agent,
            &reason,
            &format!("Needs approval: {reason}"),
            payload,
        )
        .await?;
    Ok((!decision.approved).then(|| match &decision.feedback {
        Some(why) => format!("The user denied this call to {}: {why}", call.name),
        None => format!("The user denied this call to {}", call.name),
    }))
}

/// The system prompt of a team member: the task's own prompt first, then who it is.
pub(crate) fn member_prompt(team: &Team, intro: &str) -> String {
    match &team.system_prompt {
        Some(own) => format!("{own}\n\n{intro}"),
        None => intro.to_string(),
    }
}
