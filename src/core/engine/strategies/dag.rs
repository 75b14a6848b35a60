//! The DAG strategy (contract §3.1), top to bottom: plan the task in one model call, run its
//! subtasks as agents (all at once up to the concurrency limit, one after another, or each once
//! its dependencies are done), then combine their results. Every step is journaled first, so a
//! resumed task keeps its plan and runs only the subtasks that had not finished.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::task::JoinSet;

use super::plan::{self, Pattern, Plan, Subtask};
use super::{Halt, Team};
use crate::core::engine::events::{NewEvent, clip};
use crate::core::engine::journal::{StepKey, StepKind};
use crate::core::engine::lifecycle::EventType;
use crate::core::engine::tools::ToolBox;
use crate::core::llm::{ChatMessage, Role};

/// Tool rounds an agent may take before it must answer.
const AGENT_ROUNDS: u32 = 3;
/// Characters of a dependency's answer passed to its dependants.
const DEPENDENCY_CHARS: usize = 8000;

/// What one subtask's agent produced, as journaled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SubtaskResult {
    pub id: String,
    pub agent: String,
    pub response: String,
    pub success: bool,
    pub error: Option<String>,
    pub tokens: u64,
}

/// The strategy's answer and what the task's metadata reports of it.
pub(crate) struct DagOutcome {
    pub answer: String,
    pub plan: Plan,
    pub results: Vec<SubtaskResult>,
    pub tokens: u64,
    pub model: String,
}

pub(crate) async fn run(
    team: &Team,
    query: &str,
    max_concurrency: usize,
) -> Result<DagOutcome, Halt> {
    let plan = make_plan(team, query, max_concurrency).await?;
    let results = run_subtasks(team, query, &plan).await?;
    let (answer, synthesis_tokens, model) = synthesize(team, query, &plan, &results).await?;
    let tokens = results.iter().map(|r| r.tokens).sum::<u64>() + synthesis_tokens;
    Ok(DagOutcome {
        answer,
        plan,
        results,
        tokens,
        model,
    })
}

/// The plan: journaled, or asked of the model (agent `decompose`, JSON mode). A call or answer that
/// fails falls back to one subtask; an answer that reads but is invalid fails the task.
async fn make_plan(team: &Team, query: &str, max_concurrency: usize) -> Result<Plan, Halt> {
    let key = StepKey::named("plan");
    if let Some(plan) = team.take::<Plan>(&key)? {
        return Ok(plan);
    }
    if let Some(role) = &team.role {
        // As the cloud's router: a role means one agent on the whole request, no planner.
        let plan = Plan::single(query, max_concurrency);
        let events = vec![
            NewEvent::new(EventType::RoleAssigned, role, format!("Ready as {role}"))
                .with_payload(json!({"role": role, "tools": [], "tool_count": 0})),
            NewEvent::new(EventType::Progress, "planner", "Got a plan — 1 step")
                .with_payload(plan.progress_payload()),
        ];
        team.record(&key, StepKind::Plan, &plan, events, None)
            .await?;
        return Ok(plan);
    }
    team.emit(
        EventType::Progress,
        "planner",
        "Understanding your request",
        None,
    );
    let messages = vec![
        ChatMessage::new(Role::System, PLANNER_PROMPT),
        ChatMessage::new(Role::User, format!("Query: {query}")),
    ];
    let answer = team
        .call(
            "decompose",
            &key.then("call", 1),
            messages,
            Vec::new(),
            true,
            false,
        )
        .await;
    let parsed = match answer {
        Ok(a) => plan::parse(&a.text, query, max_concurrency),
        Err(Halt::Failed(e)) => {
            tracing::warn!(workflow_id = %team.workflow_id, error = %e, "the planner failed; handling the task directly");
            None
        }
        Err(stop) => return Err(stop),
    };
    let plan = match parsed {
        Some(Ok(plan)) => plan,
        Some(Err(why)) => return Err(Halt::Failed(format!("Invalid task plan: {why}"))),
        None => {
            team.emit(
                EventType::Progress,
                "planner",
                "Handling this directly",
                None,
            );
            Plan::fallback(query, max_concurrency)
        }
    };
    let n = plan.subtasks.len();
    let got = if n == 1 {
        "Got a plan — 1 step".to_string()
    } else {
        format!("Got a plan — {n} steps")
    };
    let events = vec![
        NewEvent::new(EventType::Progress, "planner", got).with_payload(plan.progress_payload()),
        NewEvent::new(EventType::Delegation, "orchestrator", "Running team plan"),
    ];
    team.record(&key, StepKind::Plan, &plan, events, None)
        .await?;
    Ok(plan)
}

/// Runs every subtask once, as the plan's pattern allows, and returns the results in plan order.
async fn run_subtasks(team: &Team, query: &str, plan: &Plan) -> Result<Vec<SubtaskResult>, Halt> {
    let pattern = plan.pattern();
    let limit = match pattern {
        Pattern::Sequential => 1,
        _ => plan.concurrency_limit.max(1),
    };
    let mut done: HashMap<String, SubtaskResult> = HashMap::new();
    let mut started: HashSet<&str> = HashSet::new();
    let mut running = JoinSet::new();
    loop {
        for (index, sub) in plan.subtasks.iter().enumerate() {
            if running.len() >= limit {
                break;
            }
            let ready = match pattern {
                Pattern::Sequential => done.len() == index,
                _ => sub.dependencies.iter().all(|d| done.contains_key(d)),
            };
            if started.contains(sub.id.as_str()) || !ready {
                continue;
            }
            started.insert(&sub.id);
            let inputs = match pattern {
                // Every earlier result, as `previous_results`.
                Pattern::Sequential => plan.subtasks[..index]
                    .iter()
                    .filter_map(|s| done.get(&s.id))
                    .cloned()
                    .collect(),
                _ => sub
                    .dependencies
                    .iter()
                    .filter_map(|d| done.get(d))
                    .cloned()
                    .collect(),
            };
            let (team, query, sub) = (team.clone(), query.to_string(), sub.clone());
            running.spawn(async move { run_subtask(&team, &query, index, &sub, inputs).await });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        match joined {
            Ok(Ok(result)) => {
                done.insert(result.id.clone(), result);
            }
            Ok(Err(halt)) => {
                running.abort_all();
                return Err(halt);
            }
            Err(e) => {
                running.abort_all();
                return Err(Halt::Failed(format!("a subtask agent crashed: {e}")));
            }
        }
    }
    Ok(plan
        .subtasks
        .iter()
        .filter_map(|s| done.remove(&s.id))
        .collect())
}

/// One subtask's agent: a short model and tool loop under its own name, journaled as a whole when
/// it ends (a failure too, so a resumed task does not retry what an uninterrupted one would not).
async fn run_subtask(
    team: &Team,
    query: &str,
    index: usize,
    sub: &Subtask,
    inputs: Vec<SubtaskResult>,
) -> Result<SubtaskResult, Halt> {
    let key = StepKey::new("subtask", &sub.id);
    if let Some(done) = team.take::<SubtaskResult>(&key)? {
        return Ok(done);
    }
    let agent = plan::agent_name(&team.workflow_id, index);
    team.emit(
        EventType::AgentStarted,
        &agent,
        format!("{agent} is on it: {}", clip(&sub.description, 200)),
        Some(json!({"subtask_id": sub.id, "role": "agent"})),
    );
    let mut system = match &team.system_prompt {
        Some(own) => format!("{own}\n\n"),
        None => String::new(),
    };
    system.push_str(&format!(
        "You are {agent}, one agent of a team answering this request: {query}\n\
         Do only your own subtask, thoroughly; another step combines the team's results."
    ));
    if !inputs.is_empty() {
        system.push_str("\n\nResults of the subtasks yours depends on:");
        for r in &inputs {
            let body = if r.success {
                clip(&r.response, DEPENDENCY_CHARS)
            } else {
                format!(
                    "(this subtask failed: {})",
                    r.error.clone().unwrap_or_default()
                )
            };
            system.push_str(&format!("\n[{}]\n{body}", r.id));
        }
    }
    let mut messages = vec![
        ChatMessage::new(Role::System, system),
        ChatMessage::new(Role::User, sub.description.clone()),
    ];
    let mut toolbox = ToolBox::new(Some(&sub.suggested_tools), &[]);
    let mut tokens = 0;
    let mut outcome: Result<String, String> = Err("no answer".into());
    for round in 1..=AGENT_ROUNDS {
        let call = key.then("call", round);
        let tools = if round < AGENT_ROUNDS && !toolbox.is_empty() {
            toolbox.specs()
        } else {
            Vec::new()
        };
        let answer = match team
            .call(&agent, &call, messages.clone(), tools, false, true)
            .await
        {
            Ok(a) => a,
            Err(Halt::Failed(e)) => {
                outcome = Err(e);
                break;
            }
            Err(cancelled) => return Err(cancelled),
        };
        tokens += answer.usage.total_tokens;
        if answer.tool_calls.is_empty() || toolbox.is_empty() || round == AGENT_ROUNDS {
            outcome = Ok(answer.text);
            break;
        }
        let mut assistant = ChatMessage::new(Role::Assistant, answer.text.clone());
        assistant.tool_calls = answer.tool_calls.clone();
        messages.push(assistant);
        for (i, tool_call) in answer.tool_calls.iter().enumerate() {
            let output =
                tool_step(team, &agent, &call.then("tool", i), &mut toolbox, tool_call).await?;
            let mut msg = ChatMessage::new(Role::Tool, output);
            msg.tool_call_id = Some(tool_call.id.clone());
            messages.push(msg);
        }
    }
    let (result, events) = match outcome {
        Ok(response) => (
            SubtaskResult {
                id: sub.id.clone(),
                agent: agent.clone(),
                response,
                success: true,
                error: None,
                tokens,
            },
            vec![
                NewEvent::new(
                    EventType::AgentCompleted,
                    &agent,
                    format!("{agent} is done"),
                )
                .with_payload(json!({"subtask_id": sub.id})),
            ],
        ),
        Err(error) => (
            SubtaskResult {
                id: sub.id.clone(),
                agent: agent.clone(),
                response: String::new(),
                success: false,
                error: Some(error.clone()),
                tokens,
            },
            vec![
                NewEvent::new(EventType::ErrorOccurred, &agent, error.clone()),
                NewEvent::new(EventType::AgentFailed, &agent, error)
                    .with_payload(json!({"subtask_id": sub.id})),
            ],
        ),
    };
    team.record(&key, StepKind::Subtask, &result, events, None)
        .await?;
    Ok(result)
}

/// A tool call of an agent: journaled with its observation.
async fn tool_step(
    team: &Team,
    agent: &str,
    key: &StepKey,
    toolbox: &mut ToolBox,
    call: &crate::core::llm::ToolCall,
) -> Result<String, Halt> {
    if let Some(output) = team.take::<String>(key)? {
        return Ok(output);
    }
    team.checkpoint().await?;
    team.emit(
        EventType::ToolInvoked,
        agent,
        format!("Calling {} with {}", call.name, clip(&call.arguments, 200)),
        Some(json!({"tool": call.name, "role": agent})),
    );
    let (outcome, cached) = toolbox.call(&call.name, &call.arguments);
    let shown = clip(&outcome.output, 2000);
    let mut events = vec![NewEvent::new(EventType::ToolObservation, agent, shown.clone())
        .with_payload(json!({"tool": call.name, "success": outcome.success, "output": shown, "cached": cached}))];
    if !outcome.success {
        events.push(
            NewEvent::new(EventType::ToolError, agent, clip(&outcome.output, 500))
                .with_payload(json!({"tool": call.name, "error": clip(&outcome.output, 500)})),
        );
    }
    team.record(key, StepKind::ToolCall, &outcome.output, events, None)
        .await?;
    Ok(outcome.output)
}

/// The answer: the one result as it is when the plan had one subtask, else one synthesis call
/// over every result (failures named, not left out). Returns the answer, the synthesis's tokens
/// and the model that wrote it.
async fn synthesize(
    team: &Team,
    query: &str,
    plan: &Plan,
    results: &[SubtaskResult],
) -> Result<(String, u64, String), Halt> {
    let succeeded: Vec<&SubtaskResult> = results.iter().filter(|r| r.success).collect();
    if succeeded.is_empty() {
        let why = results
            .iter()
            .find_map(|r| r.error.clone())
            .unwrap_or_else(|| "no subtask ran".into());
        return Err(Halt::Failed(format!("every subtask failed: {why}")));
    }
    if plan.subtasks.len() == 1 {
        return Ok((succeeded[0].response.clone(), 0, team.model.clone()));
    }
    let key = StepKey::named("synthesis").then("call", 1);
    let mut brief = format!("Question: {query}\n\nResults of the team's subtasks:");
    for (sub, r) in plan.subtasks.iter().zip(results) {
        let body = if r.success {
            r.response.clone()
        } else {
            format!("(failed: {})", r.error.clone().unwrap_or_default())
        };
        brief.push_str(&format!("\n\n[{}] {}\n{body}", sub.id, sub.description));
    }
    let messages = vec![
        ChatMessage::new(Role::System, SYNTHESIS_PROMPT),
        ChatMessage::new(Role::User, brief),
    ];
    team.emit(
        EventType::DataProcessing,
        "synthesis",
        "Pulling it all together",
        None,
    );
    let answer = team
        .call("synthesis", &key, messages, Vec::new(), false, true)
        .await?;
    team.emit(EventType::DataProcessing, "synthesis", "Answer ready", None);
    Ok((answer.text, answer.usage.total_tokens, answer.model))
}

const PLANNER_PROMPT: &str = "You are a planning assistant. Split the user's request into subtasks \
that independent agents can work on, and answer with one JSON object only: \
{\"complexity_score\": 0.0-1.0, \"execution_strategy\": \"parallel\"|\"sequential\", \
\"concurrency_limit\": n, \"subtasks\": [{\"id\": \"task-1\", \"description\": \"...\", \
\"dependencies\": [\"task-N\", ...], \"suggested_tools\": [\"calculator\", ...], \"task_type\": \"...\"}]}. \
A simple request (complexity below 0.3) is one subtask. Prefer 3 to 5 broad subtasks, at most 8. \
Give a dependency only when a subtask needs another's concrete output. Never add a subtask that \
summarizes or combines the others: the system does that.";

const SYNTHESIS_PROMPT: &str = "You combine the results of a team's subtasks into one complete answer \
to the user's question. Answer the question directly, in the user's language; do not mention the team, \
the agents or the subtasks. Where a subtask failed, work with what the others found.";
