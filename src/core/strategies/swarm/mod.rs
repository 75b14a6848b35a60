//! The swarm (see docs/upstream.md#strategies, `context.force_swarm`): a lead that decides in
//! rounds, and agents that work in their own loops. Each round the lead reads what happened (the
//! agents' reports, their messages to it, the user's messages) and answers with actions from the
//! cloud's set (`revise_plan`, `spawn_agent`, `assign_task`, `send_message`, `broadcast`,
//! `shutdown_agent`, `interim_reply`, `noop`, `reply`/`done`, `synthesize`); then every agent with
//! a task takes its turn, all at once. The board (tasks, agents, mailboxes, workspace, budgets) is
//! journaled after each round and every decision with the user messages it read, so a restarted
//! swarm goes on from its last round. Unlike the cloud's event loop, a round ends when all its
//! agents have reported, which keeps a resumed swarm deterministic.
//!
//! Settings: `swarm_max_agents` (10), `swarm_max_rounds` (12), `swarm_agent_steps` (6),
//! `swarm_max_llm_calls` (200), `swarm_max_minutes` (30).

mod board;
mod member;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use self::board::{Board, Member, Message, SwarmTask};
use self::member::{TurnResult, View};
use super::plan::{agent_name, read_json};
use super::{Halt, Outcome, Team, citations, next_done};
use crate::core::run::journal::{StepKey, StepKind};
use crate::core::run::lifecycle::EventType;
use crate::core::streams::{NewEvent, clip};
use crate::core::time;

/// Spawned agents' names start here in the station list (the cloud reserves 300+ for swarms).
const NAME_BASE: usize = 300;

/// The lead's answer of one round, as journaled.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LeadStep {
    summary: String,
    actions: Vec<Value>,
    /// The last user message it read.
    human_upto: i64,
}

/// How the swarm ends.
enum Finish {
    Reply(String),
    Synthesize(&'static str),
}

struct Limits {
    agents: usize,
    rounds: u32,
    steps: u32,
    llm_calls: u64,
    minutes: u64,
}

pub(crate) async fn run(team: &Team, query: &str) -> Result<Outcome, Halt> {
    let limits = Limits {
        agents: team.setting("swarm_max_agents", 10, 1, 10) as usize,
        rounds: team.setting("swarm_max_rounds", 12, 1, 50) as u32,
        steps: team.setting("swarm_agent_steps", 6, 1, 25) as u32,
        llm_calls: team.setting("swarm_max_llm_calls", 200, 1, 1000),
        minutes: team.setting("swarm_max_minutes", 30, 1, 240),
    };
    let mut board = restore(team)?;
    if board.round == 0 {
        team.emit(
            EventType::Progress,
            "swarm-lead",
            "Thinking about the approach...",
            None,
        );
    }
    let mut idle_rounds = 0;
    let mut runs = Vec::new();
    let finish = loop {
        let round = board.round + 1;
        let event = last_event(&board, query);
        let step = decide(team, query, &mut board, round, event).await?;
        if let Some(finish) = apply(team, &mut board, &step, &limits) {
            break finish;
        }
        let working: Vec<Member> = board.working().cloned().collect();
        idle_rounds = if working.is_empty() {
            idle_rounds + 1
        } else {
            0
        };
        if idle_rounds >= 2 {
            break Finish::Synthesize("the lead gave the agents nothing more to do");
        }
        let results = work_round(team, query, &board, round, working, limits.steps).await?;
        for r in &results {
            runs.extend(r.tools.iter().map(|t| (r.agent.clone(), t.clone())));
        }
        merge(team, &mut board, results);
        board.round = round;
        team.record(
            &StepKey::new("swarm-board", round),
            StepKind::Plan,
            &board,
            Vec::new(),
            None,
        )
        .await?;
        if let Some(why) = over_budget(&board, &limits) {
            break Finish::Synthesize(why);
        }
    };
    close(team, query, &board, finish, &runs).await
}

/// The board after the last round an earlier run completed, or a new one.
fn restore(team: &Team) -> Result<Board, Halt> {
    let mut board = None;
    for round in 1.. {
        match team.take::<Board>(&StepKey::new("swarm-board", round))? {
            Some(b) => board = Some(b),
            None => break,
        }
    }
    Ok(board.unwrap_or_else(|| Board {
        started_at: time::now(),
        ..Board::default()
    }))
}

/// What the lead reacts to: the request at first, then the round's reports.
fn last_event(board: &Board, query: &str) -> Value {
    if board.round == 0 {
        return json!({"type": "initial_plan", "result_summary": query});
    }
    let reports: Vec<Value> = board
        .members
        .iter()
        .filter(|m| m.status == "idle")
        .map(|m| json!({"agent_id": m.id, "result_summary": m.result}))
        .collect();
    json!({"type": "agents_idle", "reports": reports})
}

/// The lead's decision for this round: journaled, or one JSON call with the user's new messages.
async fn decide(
    team: &Team,
    query: &str,
    board: &mut Board,
    round: u32,
    event: Value,
) -> Result<LeadStep, Halt> {
    let key = StepKey::new("swarm", round).then_named("lead");
    board.llm_calls += 1;
    if let Some(step) = team.take::<LeadStep>(&key)? {
        board.human_seen = step.human_upto;
        board.lead_inbox.clear();
        return Ok(step);
    }
    let human = team
        .core
        .swarm_messages_after(&team.workflow_id, board.human_seen)
        .await?;
    let elapsed = elapsed_secs(board);
    let brief = json!({
        "event": event, "original_query": query, "task_list": board.tasks,
        "agent_states": board.agent_states(), "messages": board.lead_inbox,
        "hitl_messages": human.iter().map(|(_, m)| m).collect::<Vec<_>>(),
        "workspace": board.workspace.iter().map(|e| json!({"topic": e.topic, "author": e.author,
                                                          "snippet": clip(&e.content, 800)})).collect::<Vec<_>>(),
        "budget": {"total_llm_calls": board.llm_calls, "elapsed_seconds": elapsed},
    });
    let answer = team
        .ask(
            "swarm-lead",
            &key.then("call", 1),
            LEAD_PROMPT,
            brief.to_string(),
            true,
        )
        .await?;
    let decision = read_json(&answer.text).unwrap_or(Value::Null);
    let text = |k: &str| {
        decision
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let summary = Some(text("user_summary"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| text("decision_summary"));
    let actions = decision
        .get("actions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let step = LeadStep {
        summary: if summary.is_empty() {
            "Deciding the next step".into()
        } else {
            summary
        },
        actions,
        human_upto: human.last().map_or(board.human_seen, |(seq, _)| *seq),
    };
    let event_type = event["type"].as_str().unwrap_or_default().to_string();
    let mut events = Vec::new();
    if !human.is_empty() {
        let messages: Vec<&String> = human.iter().map(|(_, m)| m).collect();
        events.push(
            NewEvent::new(EventType::HitlResponse, "swarm-lead", "Read your message")
                .with_payload(json!({"messages": messages})),
        );
    }
    events.push(
        NewEvent::new(EventType::LeadDecision, "swarm-lead", step.summary.clone()).with_payload(
            json!({
                "event_type": if human.is_empty() { event_type } else { "human_input".into() },
                "actions": step.actions.len(), "round": round,
            }),
        ),
    );
    team.record(&key, StepKind::Plan, &step, events, None)
        .await?;
    board.human_seen = step.human_upto;
    board.lead_inbox.clear();
    Ok(step)
}

/// Applies the lead's actions to the board, announcing each change. Returns how the swarm ends, if
/// the lead said so.
fn apply(team: &Team, board: &mut Board, step: &LeadStep, limits: &Limits) -> Option<Finish> {
    let mut board_changed = false;
    let mut finish = None;
    for action in &step.actions {
        let s = |k: &str| {
            action
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        match s("type").as_str() {
            "revise_plan" => {
                for t in action
                    .get("create")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let id = t
                        .get("id")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| board.next_task_id());
                    if board.task(&id).is_some() {
                        continue;
                    }
                    let depends_on = t
                        .get("depends_on")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|d| d.as_str().map(str::to_string))
                        .collect();
                    let description = t
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    board.tasks.push(SwarmTask {
                        id,
                        description,
                        status: "pending".into(),
                        owner: None,
                        created_by: "lead".into(),
                        depends_on,
                    });
                    board_changed = true;
                }
                for id in action
                    .get("cancel")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if let Some(t) = board.tasks.iter_mut().find(|t| t.id == id) {
                        t.status = "completed".into();
                        board_changed = true;
                    }
                }
                for u in action
                    .get("update")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let id = u.get("id").and_then(Value::as_str).unwrap_or_default();
                    if let (Some(t), Some(d)) = (
                        board.tasks.iter_mut().find(|t| t.id == id),
                        u.get("description").and_then(Value::as_str),
                    ) {
                        t.description = d.to_string();
                        board_changed = true;
                    }
                }
            }
            "spawn_agent" => {
                if board.members.len() >= limits.agents {
                    continue;
                }
                let Some(task) = take_task(board, &s("task_id"), &s("task_description")) else {
                    continue;
                };
                let id = agent_name(&team.workflow_id, NAME_BASE + board.members.len());
                let role = Some(s("role"))
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| "generalist".into());
                start_task(board, &id, &task);
                board.members.push(Member {
                    id: id.clone(),
                    role: role.clone(),
                    status: "running".into(),
                    task_id: Some(task),
                    iterations: 0,
                    result: None,
                    notes: Vec::new(),
                    inbox: Vec::new(),
                });
                team.emit(
                    EventType::AgentStarted,
                    &id,
                    format!("{id} is on it"),
                    Some(json!({"role": role})),
                );
                board_changed = true;
            }
            "assign_task" => {
                let agent = s("agent_id");
                let idle = board
                    .members
                    .iter()
                    .any(|m| m.id == agent && m.status == "idle");
                if !idle {
                    continue;
                }
                let Some(task) = take_task(board, &s("task_id"), &s("task_description")) else {
                    continue;
                };
                start_task(board, &agent, &task);
                if let Some(m) = board.member_mut(&agent) {
                    m.status = "running".into();
                    m.task_id = Some(task);
                    let role = m.role.clone();
                    team.emit(
                        EventType::AgentStarted,
                        &agent,
                        format!("{agent} got a new task"),
                        Some(json!({"role": role})),
                    );
                }
                board_changed = true;
            }
            "send_message" | "broadcast" => {
                let to: Vec<String> = if s("type") == "broadcast" {
                    board
                        .members
                        .iter()
                        .filter(|m| m.status != "completed")
                        .map(|m| m.id.clone())
                        .collect()
                } else {
                    vec![s("to")]
                };
                for to in to {
                    deliver(
                        team,
                        board,
                        Message {
                            from: "lead".into(),
                            to,
                            content: s("content"),
                        },
                    );
                }
            }
            "shutdown_agent" => {
                let agent = s("agent_id");
                if let Some(m) = board.member_mut(&agent).filter(|m| m.status != "completed") {
                    m.status = "completed".into();
                    team.emit(
                        EventType::AgentCompleted,
                        &agent,
                        format!("{agent} is done"),
                        None,
                    );
                }
            }
            "interim_reply" => team.emit(
                EventType::LlmOutput,
                "swarm-lead",
                s("content"),
                Some(json!({"role": "lead", "interim": true})),
            ),
            "reply" | "done" if !s("content").trim().is_empty() => {
                finish = Some(Finish::Reply(s("content")));
            }
            "reply" | "done" | "synthesize" => {
                finish = Some(Finish::Synthesize("the lead is done"))
            }
            _ => {}
        }
    }
    if board_changed {
        team.emit(
            EventType::TaskListUpdated,
            "lead",
            format!("{} tasks on the board", board.tasks.len()),
            Some(board.task_list()),
        );
    }
    if board.round == 0 && finish.is_none() && board.members.is_empty() {
        return Some(Finish::Synthesize("the lead spawned no agents"));
    }
    if board.round == 0 && !board.members.is_empty() {
        let n = board.members.len();
        let said = if n == 1 {
            "1 agent is on it".to_string()
        } else {
            format!("{n} agents are on it")
        };
        team.emit(EventType::Progress, "swarm-lead", said, None);
    }
    finish
}

/// The task an agent takes: a pending one whose dependencies are done, or a new one from a
/// description.
fn take_task(board: &mut Board, task_id: &str, description: &str) -> Option<String> {
    if let Some(t) = board.task(task_id) {
        return (t.status == "pending" && board.ready(t)).then(|| t.id.clone());
    }
    if description.trim().is_empty() {
        return None;
    }
    let id = if task_id.is_empty() {
        board.next_task_id()
    } else {
        task_id.to_string()
    };
    board.tasks.push(SwarmTask {
        id: id.clone(),
        description: description.to_string(),
        status: "pending".into(),
        owner: None,
        created_by: "lead".into(),
        depends_on: Vec::new(),
    });
    Some(id)
}

fn start_task(board: &mut Board, agent: &str, task_id: &str) {
    if let Some(t) = board.tasks.iter_mut().find(|t| t.id == task_id) {
        t.status = "in_progress".into();
        t.owner = Some(agent.to_string());
    }
}

fn deliver(team: &Team, board: &mut Board, message: Message) {
    team.emit(
        EventType::MessageReceived,
        &message.to,
        clip(&message.content, 200),
        Some(json!({"from": message.from, "to": message.to})),
    );
    if message.to == "lead" {
        board.lead_inbox.push(message);
    } else if let Some(m) = board.member_mut(&message.to) {
        m.inbox.push(message);
    }
}

/// Every working agent's turn, at once.
async fn work_round(
    team: &Team,
    query: &str,
    board: &Board,
    round: u32,
    working: Vec<Member>,
    steps: u32,
) -> Result<Vec<TurnResult>, Halt> {
    let roster: Vec<(String, String)> = board
        .members
        .iter()
        .map(|m| (m.id.clone(), m.role.clone()))
        .collect();
    let mut running = JoinSet::new();
    for member in working {
        let Some(task) = member
            .task_id
            .as_deref()
            .and_then(|t| board.task(t))
            .cloned()
        else {
            continue;
        };
        let view = View {
            query: query.to_string(),
            round,
            roster: roster.clone(),
            workspace: board.workspace.clone(),
        };
        let team = team.clone();
        running.spawn(async move { member::work(&team, member, task, view, steps).await });
    }
    let mut results = Vec::new();
    while let Some(r) = next_done(&mut running).await? {
        results.push(r);
    }
    // In the board's order, whatever order they finished in.
    results.sort_by_key(|r| board.members.iter().position(|m| m.id == r.agent));
    Ok(results)
}

/// The round's results into the board: reports, tasks done, messages delivered, the workspace.
fn merge(team: &Team, board: &mut Board, results: Vec<TurnResult>) {
    let mut board_changed = false;
    for r in results {
        let task = board.member_mut(&r.agent).and_then(|m| {
            m.iterations += r.steps;
            m.notes = r.notes.clone();
            m.inbox.clear();
            m.result = r.report.clone();
            m.status = "idle".into();
            m.task_id.take()
        });
        board.llm_calls += u64::from(r.steps);
        if let Some(t) = task.and_then(|t| board.tasks.iter_mut().find(|x| x.id == t)) {
            t.status = "completed".into();
            board_changed = true;
        }
        team.emit(
            EventType::AgentCompleted,
            &r.agent,
            format!("{} is done", r.agent),
            Some(json!({"report": r.report.as_deref().map(|s| clip(s, 500))})),
        );
        for m in r.sent {
            deliver(team, board, m);
        }
        board.workspace.extend(r.published);
    }
    if board_changed {
        team.emit(
            EventType::TaskListUpdated,
            "tasklist",
            "Tasks updated",
            Some(board.task_list()),
        );
    }
}

fn elapsed_secs(board: &Board) -> i64 {
    DateTime::parse_from_rfc3339(&board.started_at)
        .map(|t| (Utc::now() - t.with_timezone(&Utc)).num_seconds())
        .unwrap_or(0)
}

fn over_budget(board: &Board, limits: &Limits) -> Option<&'static str> {
    if board.llm_calls >= limits.llm_calls {
        Some("the swarm used its model calls")
    } else if elapsed_secs(board) >= (limits.minutes * 60) as i64 {
        Some("the swarm ran out of time")
    } else if board.round >= limits.rounds {
        Some("the swarm used its rounds")
    } else {
        None
    }
}

/// The answer: the lead's reply when it gave one, else a synthesis of the agents' reports.
async fn close(
    team: &Team,
    query: &str,
    board: &Board,
    finish: Finish,
    runs: &[(String, super::agent::ToolRun)],
) -> Result<Outcome, Halt> {
    let reports: Vec<&Member> = board
        .members
        .iter()
        .filter(|m| m.result.is_some())
        .collect();
    let n = board.members.len();
    team.emit(
        EventType::Progress,
        "swarm-supervisor",
        format!("Combining findings from {n} agents"),
        None,
    );
    let (answer, tokens, model) = match finish {
        Finish::Reply(text) => (text, 0, team.model.clone()),
        Finish::Synthesize(why) => {
            if reports.is_empty() {
                return Err(Halt::Failed(format!(
                    "the swarm produced no findings ({why})"
                )));
            }
            let mut brief = format!("Question: {query}\n\nThe team's findings:");
            for m in &reports {
                brief.push_str(&format!(
                    "\n\n[{} — {}]\n{}",
                    m.id,
                    m.role,
                    m.result.clone().unwrap_or_default()
                ));
            }
            for e in &board.workspace {
                brief.push_str(&format!(
                    "\n\n[workspace: {} by {}]\n{}",
                    e.topic,
                    e.author,
                    clip(&e.content, 2000)
                ));
            }
            let a = team
                .ask(
                    "swarm-synthesis",
                    &StepKey::named("swarm-synthesis"),
                    SYNTHESIS_PROMPT,
                    brief,
                    false,
                )
                .await?;
            (a.text, a.usage.total_tokens, a.model)
        }
    };
    let pairs: Vec<(&str, &super::agent::ToolRun)> =
        runs.iter().map(|(a, r)| (a.as_str(), r)).collect();
    let mut metadata = citations::tool_metadata(&pairs);
    let done = board
        .tasks
        .iter()
        .filter(|t| t.status == "completed")
        .count();
    for (k, v) in [
        ("workflow_type", json!("swarm")),
        ("execution_mode", json!("swarm")),
        ("total_agents", json!(n)),
        ("num_agents", json!(n)),
        ("agent_count", json!(n)),
        ("rounds", json!(board.round)),
        (
            "tasks",
            json!({"total": board.tasks.len(), "completed": done}),
        ),
    ] {
        metadata.insert(k.into(), v);
    }
    Ok(Outcome {
        answer,
        tokens,
        model,
        metadata,
    })
}

const LEAD_PROMPT: &str = "You lead a team of agents working on the user's request. You get the \
event that just happened, the task board, the agents' states and reports, messages for you and from \
the user, and the budget. Reply with one JSON object only: {\"decision_summary\": \"...\", \
\"user_summary\": \"one line for the user\", \"actions\": [...]}. Actions: \
{\"type\": \"revise_plan\", \"create\": [{\"id\": \"t-1\", \"description\": \"...\", \"depends_on\": []}], \
\"cancel\": [ids], \"update\": [{\"id\", \"description\"}]}; \
{\"type\": \"spawn_agent\", \"role\": \"researcher|analyst|writer|critic|coder|generalist\", \"task_id\": \"t-1\"}; \
{\"type\": \"assign_task\", \"agent_id\": \"...\", \"task_id\": \"...\"}; \
{\"type\": \"send_message\", \"to\": \"agent id\", \"content\": \"...\"}; {\"type\": \"broadcast\", \"content\": \"...\"}; \
{\"type\": \"shutdown_agent\", \"agent_id\": \"...\"}; {\"type\": \"interim_reply\", \"content\": \"...\"}; \
{\"type\": \"noop\"}; {\"type\": \"reply\", \"content\": \"the final answer\"} (only when it is complete); \
{\"type\": \"synthesize\"} (combine the agents' reports into the answer). Start by creating tasks and \
spawning one agent per independent task; a task whose dependencies are not done cannot start. Follow \
the user's messages.";

const SYNTHESIS_PROMPT: &str = "You combine the findings of a team of agents into one complete answer \
to the user's question. Answer directly, in the user's language; do not describe the team.";
