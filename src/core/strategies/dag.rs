//! The DAG strategy (see docs/upstream.md#strategies), top to bottom: plan the task in one model
//! call, run its subtasks as agents (all at once up to the concurrency limit, one after another, or
//! each once its dependencies are done), then combine their results. Every step is journaled first,
//! so a resumed task keeps its plan and runs only the subtasks that had not finished.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;

use super::agent::{self, ToolRun, Turn, member_prompt};
use super::plan::{self, Pattern, Plan, Subtask};
use super::{Halt, Outcome, Team, citations, next_done, reflection};
use crate::core::llm::{ChatMessage, Role};
use crate::core::run::journal::{StepKey, StepKind};
use crate::core::run::lifecycle::EventType;
use crate::core::streams::{NewEvent, clip};

/// Tool rounds an agent may take before it must answer.
const AGENT_ROUNDS: u32 = 3;
/// Characters of a dependency's answer passed to its dependants.
const DEPENDENCY_CHARS: usize = 8000;

/// How a strategy briefs its subtask agents beyond the team's prompt, and how many rounds of model
/// and tool calls each may take.
#[derive(Debug, Clone)]
pub(crate) struct Brief {
    pub instructions: String,
    pub rounds: u32,
}

impl Default for Brief {
    fn default() -> Self {
        Self {
            instructions: String::new(),
            rounds: AGENT_ROUNDS,
        }
    }
}

/// What one subtask's agent produced, as journaled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SubtaskResult {
    pub id: String,
    pub agent: String,
    pub response: String,
    pub success: bool,
    pub error: Option<String>,
    pub tokens: u64,
    /// The tools the agent called (for `tool_errors` and `citations`).
    #[serde(default)]
    pub tools: Vec<ToolRun>,
}

impl SubtaskResult {
    pub fn new(sub: &Subtask, agent: &str, turn: Result<Turn, String>, tokens: u64) -> Self {
        let (response, error, tools) = match turn {
            Ok(t) => (t.text, None, t.tools),
            Err(e) => (String::new(), Some(e), Vec::new()),
        };
        Self {
            id: sub.id.clone(),
            agent: agent.to_string(),
            success: error.is_none(),
            response,
            error,
            tokens,
            tools,
        }
    }
}

/// The DAG over a plan: its subtasks, then one answer from their results.
pub(crate) async fn run(team: &Team, query: &str, plan: Plan) -> Result<Outcome, Halt> {
    let results = run_subtasks(team, query, &plan, &Brief::default()).await?;
    let (answer, synthesis_tokens, model) =
        synthesize(team, query, &plan, &results, "synthesis").await?;
    let mut outcome = Outcome {
        answer,
        tokens: results.iter().map(|r| r.tokens).sum::<u64>() + synthesis_tokens,
        model,
        metadata: team_metadata(&results),
    };
    reflection::refine(team, query, &mut outcome).await?;
    let m = &mut outcome.metadata;
    m.insert("execution_mode".into(), json!(plan.execution_strategy));
    m.insert("agent_count".into(), json!(results.len()));
    m.insert("complexity".into(), json!(plan.complexity_score));
    m.insert("plan_fallback".into(), json!(plan.fallback));
    Ok(outcome)
}

/// `tool_errors` and `citations` of a team's results.
pub(crate) fn team_metadata(results: &[SubtaskResult]) -> Map<String, Value> {
    let runs: Vec<(&str, &ToolRun)> = results
        .iter()
        .flat_map(|r| r.tools.iter().map(move |t| (r.agent.as_str(), t)))
        .collect();
    citations::tool_metadata(&runs)
}

/// The plan: journaled, or asked of the model (agent `decompose`, JSON mode). A call or answer that
/// fails falls back to one subtask; an answer that reads but is invalid fails the task.
pub(crate) async fn make_plan(
    team: &Team,
    query: &str,
    max_concurrency: usize,
) -> Result<Plan, Halt> {
    let key = StepKey::named("plan");
    if let Some(plan) = team.take::<Plan>(&key)? {
        return Ok(plan);
    }
    if let Some(role) = &team.role {
        // As the cloud's router: a role means one agent on the whole request, no planner.
        let mut plan = Plan::single(query, max_concurrency);
        plan.subtasks[0].role = role.clone();
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
    let answer = team
        .ask(
            "decompose",
            &key.then("call", 1),
            PLANNER_PROMPT,
            format!("Query: {query}"),
            true,
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
    team.record(&key, StepKind::Plan, &plan, vec![plan.got_event()], None)
        .await?;
    Ok(plan)
}

/// Runs every subtask once, as the plan's pattern allows, and returns the results in plan order.
pub(crate) async fn run_subtasks(
    team: &Team,
    query: &str,
    plan: &Plan,
    brief: &Brief,
) -> Result<Vec<SubtaskResult>, Halt> {
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
            let brief = brief.clone();
            running.spawn(
                async move { run_subtask(&team, &query, index, &sub, inputs, &brief).await },
            );
        }
        let Some(result) = next_done(&mut running).await? else {
            break;
        };
        done.insert(result.id.clone(), result);
    }
    Ok(plan
        .subtasks
        .iter()
        .filter_map(|s| done.remove(&s.id))
        .collect())
}

/// One subtask's agent under its station name, journaled as a whole when it ends (a failure too,
/// so a resumed task does not retry what an uninterrupted one would not).
pub(crate) async fn run_subtask(
    team: &Team,
    query: &str,
    index: usize,
    sub: &Subtask,
    inputs: Vec<SubtaskResult>,
    brief: &Brief,
) -> Result<SubtaskResult, Halt> {
    let key = StepKey::new("subtask", &sub.id);
    if let Some(done) = team.take::<SubtaskResult>(&key)? {
        return Ok(done);
    }
    let agent = plan::agent_name(&team.workflow_id, index);
    let role = role_of(team, sub);
    team.emit(
        EventType::AgentStarted,
        &agent,
        format!("{agent} is on it: {}", clip(&sub.description, 200)),
        Some(json!({"subtask_id": sub.id, "role": role})),
    );
    let (turn, tokens) = subtask_turn(team, query, &agent, sub, &inputs, &key, brief).await?;
    let result = SubtaskResult::new(sub, &agent, turn, tokens);
    let events = match &result.error {
        None => vec![
            NewEvent::new(
                EventType::AgentCompleted,
                &agent,
                format!("{agent} is done"),
            )
            .with_payload(json!({"subtask_id": sub.id})),
        ],
        Some(error) => vec![
            NewEvent::new(EventType::ErrorOccurred, &agent, error.clone()),
            NewEvent::new(EventType::AgentFailed, &agent, error.clone())
                .with_payload(json!({"subtask_id": sub.id})),
        ],
    };
    team.record(&key, StepKind::Subtask, &result, events, None)
        .await?;
    Ok(result)
}

/// A subtask's role: the plan's, the task's, or `agent`.
pub(crate) fn role_of(team: &Team, sub: &Subtask) -> String {
    Some(sub.role.as_str())
        .filter(|r| !r.is_empty())
        .or(team.role.as_deref())
        .unwrap_or("agent")
        .to_string()
}

/// A subtask agent's turn: its prompt (the request, its role, the results it depends on) and a
/// short model and tool loop. Returns the turn (or why it failed) and the tokens it used.
pub(crate) async fn subtask_turn(
    team: &Team,
    query: &str,
    agent: &str,
    sub: &Subtask,
    inputs: &[SubtaskResult],
    key: &StepKey,
    brief: &Brief,
) -> Result<(Result<Turn, String>, u64), Halt> {
    let role = role_of(team, sub);
    let mut system = member_prompt(
        team,
        &format!(
            "You are {agent}, one agent of a team answering this request: {query}\n\
             Your role: {role}. Do only your own subtask, thoroughly; another step combines the \
             team's results."
        ),
    );
    if !brief.instructions.is_empty() {
        system.push_str("\n\n");
        system.push_str(&brief.instructions);
    }
    if !inputs.is_empty() {
        system.push_str("\n\nResults of the subtasks yours depends on:");
        for r in inputs {
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
    let messages = vec![
        ChatMessage::new(Role::System, system),
        ChatMessage::new(Role::User, sub.description.clone()),
    ];
    let mut toolbox = team.tools.narrowed(Some(&sub.suggested_tools));
    let turn = agent::turn(team, agent, key, messages, &mut toolbox, brief.rounds).await?;
    // What a failed turn spent before it failed is counted by the budgets, not here.
    let tokens = turn.as_ref().map_or(0, |t| t.tokens);
    Ok((turn, tokens))
}

/// The answer: the one result as it is when the plan had one subtask, else one synthesis call
/// over every result (failures named, not left out). Returns the answer, the synthesis's tokens
/// and the model that wrote it.
pub(crate) async fn synthesize(
    team: &Team,
    query: &str,
    plan: &Plan,
    results: &[SubtaskResult],
    agent: &str,
) -> Result<(String, u64, String), Halt> {
    let succeeded = succeeded(results, "subtask")?;
    if plan.subtasks.len() == 1 {
        return Ok((succeeded[0].response.clone(), 0, team.model.clone()));
    }
    let key = StepKey::named(agent).then("call", 1);
    let mut brief = format!("Question: {query}\n\nResults of the team's subtasks:");
    for (sub, r) in plan.subtasks.iter().zip(results) {
        let body = if r.success {
            r.response.clone()
        } else {
            format!("(failed: {})", r.error.clone().unwrap_or_default())
        };
        brief.push_str(&format!("\n\n[{}] {}\n{body}", sub.id, sub.description));
    }
    team.emit(
        EventType::DataProcessing,
        agent,
        "Pulling it all together",
        None,
    );
    let answer = team
        .ask(agent, &key, SYNTHESIS_PROMPT, brief, false)
        .await?;
    team.emit(EventType::DataProcessing, agent, "Answer ready", None);
    Ok((answer.text, answer.usage.total_tokens, answer.model))
}

/// The results that succeeded, or the task's failure when none did (`who`: what the agents are).
pub(crate) fn succeeded<'a>(
    results: &'a [SubtaskResult],
    who: &str,
) -> Result<Vec<&'a SubtaskResult>, Halt> {
    let ok: Vec<&SubtaskResult> = results.iter().filter(|r| r.success).collect();
    if ok.is_empty() {
        let why = results
            .iter()
            .find_map(|r| r.error.clone())
            .unwrap_or_else(|| format!("no {who} ran"));
        return Err(Halt::Failed(format!("every {who} failed: {why}")));
    }
    Ok(ok)
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
