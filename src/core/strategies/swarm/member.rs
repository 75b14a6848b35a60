//! One swarm agent's turn in a round: its own loop of steps, each a JSON decision (call a tool,
//! message a teammate or the lead, publish to the shared workspace, or report the task done). Its
//! messages and workspace entries reach the others at the end of the round.

use serde_json::{Value, json};

use super::board::{Entry, Member, Message, SwarmTask};
use crate::core::llm::ToolCall;
use crate::core::run::journal::StepKey;
use crate::core::run::lifecycle::EventType;
use crate::core::strategies::agent::{self, ToolRun, member_prompt};
use crate::core::strategies::plan::read_json;
use crate::core::strategies::{Halt, Team};
use crate::core::streams::clip;

/// What the turn produced.
#[derive(Debug, Default)]
pub(crate) struct TurnResult {
    pub agent: String,
    /// The report, once the agent says its task is done (or runs out of steps).
    pub report: Option<String>,
    pub notes: Vec<String>,
    pub sent: Vec<Message>,
    pub published: Vec<Entry>,
    pub steps: u32,
    pub tools: Vec<ToolRun>,
}

/// What the agent sees of the team.
pub(crate) struct View {
    pub query: String,
    pub round: u32,
    pub roster: Vec<(String, String)>,
    pub workspace: Vec<Entry>,
}

pub(crate) async fn work(
    team: &Team,
    member: Member,
    task: SwarmTask,
    view: View,
    max_steps: u32,
) -> Result<TurnResult, Halt> {
    let id = member.id.clone();
    let mut toolbox = team.tools.narrowed(None);
    let tools: Vec<String> = toolbox.specs().into_iter().map(|s| s.name).collect();
    let system = member_prompt(team, &protocol(&member.role, &tools));
    let mut result = TurnResult {
        agent: id.clone(),
        notes: member.notes.clone(),
        ..TurnResult::default()
    };
    for step in 1..=max_steps {
        result.steps = step;
        let key = StepKey::new("swarm", view.round)
            .then_named(&id)
            .then("step", step);
        let brief = brief(&member, &task, &view, &result.notes, step, max_steps);
        let answer = match team.ask(&id, &key, system.clone(), brief, true).await {
            Ok(a) => a,
            Err(Halt::Failed(e)) => {
                result.report = Some(format!("(could not go on: {e})"));
                break;
            }
            Err(stop) => return Err(stop),
        };
        let action = read_json(&answer.text)
            .unwrap_or_else(|| json!({"action": "done", "summary": answer.text}));
        let word = |k: &str| {
            action
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        if let Some(thought) = action.get("thought").and_then(Value::as_str) {
            team.emit(EventType::AgentThinking, &id, clip(thought, 500), None);
        }
        let doing = match word("action").as_str() {
            "tool_call" => "researching",
            "send_message" => "coordinating with team",
            "publish_data" => "reporting back",
            _ => "wrapping up",
        };
        team.emit(
            EventType::Progress,
            &id,
            format!("{id} — {doing} ({step}/{max_steps})"),
            None,
        );
        match word("action").as_str() {
            "tool_call" => {
                let params = action.get("tool_params").cloned().unwrap_or(json!({}));
                let call = ToolCall {
                    id: format!("{id}-{}-{step}", view.round),
                    name: word("tool"),
                    arguments: params.to_string(),
                };
                let run = agent::tool_step(team, &id, &key.then_named("tool"), &mut toolbox, &call)
                    .await?;
                result.notes.push(format!(
                    "called {} {} → {}",
                    call.name,
                    call.arguments,
                    clip(&run.output, 600)
                ));
                result.tools.push(run);
            }
            "send_message" => {
                let to = word("to");
                let message = Message {
                    from: id.clone(),
                    to: to.clone(),
                    content: word("content"),
                };
                team.emit(
                    EventType::MessageSent,
                    &id,
                    clip(&message.content, 200),
                    Some(json!({"from": id, "to": to})),
                );
                result
                    .notes
                    .push(format!("told {to}: {}", clip(&message.content, 300)));
                result.sent.push(message);
            }
            "publish_data" => {
                let entry = Entry {
                    topic: word("topic"),
                    author: id.clone(),
                    content: word("content"),
                };
                team.emit(
                    EventType::WorkspaceUpdated,
                    "workspace",
                    format!("{id} published {}", entry.topic),
                    Some(json!({"topic": entry.topic, "author": id, "preview": clip(&entry.content, 800)})),
                );
                result.notes.push(format!("published {}", entry.topic));
                result.published.push(entry);
            }
            _ => {
                let summary = word("summary");
                result.report = Some(if summary.is_empty() {
                    word("content")
                } else {
                    summary
                });
                break;
            }
        }
    }
    if result.report.is_none() {
        // Out of steps: what it did is its report.
        result.report = Some(format!("(ran out of steps) {}", result.notes.join("; ")));
    }
    Ok(result)
}

fn brief(
    member: &Member,
    task: &SwarmTask,
    view: &View,
    notes: &[String],
    step: u32,
    max: u32,
) -> String {
    let roster: Vec<String> = view
        .roster
        .iter()
        .map(|(id, role)| format!("{id} ({role})"))
        .collect();
    let mut b = format!(
        "The team's request: {}\nYour task [{}]: {}\nTeam: {}, and the lead (send_message to \"lead\").\nStep {step} of {max}.\n",
        view.query,
        task.id,
        task.description,
        roster.join(", ")
    );
    if !member.inbox.is_empty() {
        b.push_str("\nMessages for you:\n");
        for m in &member.inbox {
            b.push_str(&format!("- from {}: {}\n", m.from, clip(&m.content, 2000)));
        }
    }
    if !view.workspace.is_empty() {
        b.push_str("\nShared workspace:\n");
        for e in view.workspace.iter().rev().take(5) {
            b.push_str(&format!(
                "- {} (by {}): {}\n",
                e.topic,
                e.author,
                clip(&e.content, 800)
            ));
        }
    }
    if !notes.is_empty() {
        b.push_str("\nWhat you did so far:\n");
        for n in notes {
            b.push_str(&format!("- {n}\n"));
        }
    }
    b
}

fn protocol(role: &str, tools: &[String]) -> String {
    format!(
        "You are a {role} in a team of agents led by a lead agent. Work on your task one step at a \
         time. Reply with one JSON object only, one of: \
         {{\"action\": \"tool_call\", \"tool\": \"<one of: {}>\", \"tool_params\": {{...}}, \"thought\": \"...\"}}; \
         {{\"action\": \"send_message\", \"to\": \"<agent id or lead>\", \"content\": \"...\"}}; \
         {{\"action\": \"publish_data\", \"topic\": \"...\", \"content\": \"...\"}} (share a finding with the team); \
         {{\"action\": \"done\", \"summary\": \"your findings, complete\"}} when your task is done.",
        if tools.is_empty() {
            "none available".to_string()
        } else {
            tools.join(", ")
        }
    )
}
