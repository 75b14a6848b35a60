//! The supervisor (see docs/upstream.md#strategies, `mode=supervisor`): a team recruited from the
//! plan, one agent per subtask in its role. The supervisor runs the team in rounds: every subtask
//! whose dependencies are done starts (up to the concurrency limit), the round's agents hand their
//! results on to the agents that wait for them, a failed subtask is tried again up to 3 times, and
//! the task stops once most subtasks have failed. Beyond the cloud, whose supervisor runs strictly
//! one subtask after another, independent subtasks of a round run at once, and after each round the
//! supervisor may revise the subtasks not yet started in one model call (`context.plan_revision:
//! false` turns this off). Each round's results and each revision are journaled, so a resumed task
//! replays the same rounds.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::dag::{self, SubtaskResult, role_of, subtask_turn};
use super::plan::{self, Pattern, Plan, Subtask};
use super::{Halt, Outcome, Team, approval, next_done, reflection};
use crate::core::run::journal::{StepKey, StepKind};
use crate::core::run::lifecycle::EventType;
use crate::core::streams::{NewEvent, clip};

const ATTEMPTS: u32 = 3;
/// A revision may grow the plan to at most this many subtasks.
const MAX_SUBTASKS: usize = 12;

/// The team: the plan as it stands and the agent of each subtask.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Roster {
    plan: Plan,
    /// Subtask id → agent name (stable across revisions).
    agents: HashMap<String, String>,
    next_index: usize,
}

impl Roster {
    fn new(plan: Plan, workflow_id: &str) -> Self {
        let agents = plan
            .subtasks
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), plan::agent_name(workflow_id, i)))
            .collect();
        let next_index = plan.subtasks.len();
        Self {
            plan,
            agents,
            next_index,
        }
    }

    fn agent(&self, id: &str) -> &str {
        self.agents.get(id).map_or("agent", String::as_str)
    }
}

pub(crate) async fn run(team: &Team, query: &str, concurrency: usize) -> Result<Outcome, Halt> {
    let payload = json!({"effective_mode": "supervisor"});
    super::delegation(team, "supervisor", "Coordinating agents", payload).await?;
    let plan = dag::make_plan(team, query, concurrency).await?;
    approval::plan_gate(team, query, Some(&plan)).await?;
    let mut roster = recruit(team, plan).await?;
    let mut done: HashMap<String, SubtaskResult> = HashMap::new();
    let mut waiting: HashSet<String> = HashSet::new();
    let mut revisions = 0;
    for round in 1.. {
        let ready = ready_subtasks(&roster.plan, &done);
        if ready.is_empty() {
            break;
        }
        for s in &roster.plan.subtasks {
            // Waiting on a dependency, not on a free slot.
            if s.dependencies.iter().any(|d| !done.contains_key(d)) && waiting.insert(s.id.clone())
            {
                let pending: Vec<&String> = s
                    .dependencies
                    .iter()
                    .filter(|d| !done.contains_key(*d))
                    .collect();
                team.emit(
                    EventType::Waiting,
                    roster.agent(&s.id),
                    "Waiting on a previous step",
                    Some(json!({"subtask_id": s.id, "waiting_for": pending})),
                );
            }
        }
        let mut running = JoinSet::new();
        for sub in ready {
            let inputs = inputs_of(&roster.plan, &sub, &done);
            let step = roster
                .plan
                .subtasks
                .iter()
                .position(|s| s.id == sub.id)
                .unwrap_or(0)
                + 1;
            let member = Member {
                agent: roster.agent(&sub.id).to_string(),
                step,
                of: roster.plan.subtasks.len(),
                waited: waiting.contains(&sub.id),
                sub,
                inputs,
            };
            let (team, query) = (team.clone(), query.to_string());
            running.spawn(async move { member.work(&team, &query).await });
        }
        while let Some(result) = next_done(&mut running).await? {
            done.insert(result.id.clone(), result);
        }
        let n = roster.plan.subtasks.len();
        let failures = done.values().filter(|r| !r.success).count();
        if failures > n / 2 {
            return Err(Halt::Failed(format!(
                "Too many subtask failures ({failures}/{n})"
            )));
        }
        let unstarted = roster
            .plan
            .subtasks
            .iter()
            .any(|s| !done.contains_key(&s.id));
        if unstarted
            && !team
                .context
                .get("plan_revision")
                .is_some_and(|v| v == &json!(false))
            && revise(team, query, &mut roster, &done, round).await?
        {
            revisions += 1;
        }
    }
    let results: Vec<SubtaskResult> = roster
        .plan
        .subtasks
        .iter()
        .filter_map(|s| done.remove(&s.id))
        .collect();
    if results.len() > 1 {
        team.emit(
            EventType::DataProcessing,
            "supervisor",
            "Combining results",
            None,
        );
    }
    let (answer, synthesis_tokens, model) =
        dag::synthesize(team, query, &roster.plan, &results, "supervisor_synthesis").await?;
    let mut outcome = Outcome {
        answer,
        tokens: results.iter().map(|r| r.tokens).sum::<u64>() + synthesis_tokens,
        model,
        metadata: dag::team_metadata(&results),
    };
    reflection::refine(team, query, &mut outcome).await?;
    let m = &mut outcome.metadata;
    m.insert("execution_mode".into(), json!("supervisor"));
    m.insert("agent_count".into(), json!(results.len()));
    m.insert("num_children".into(), json!(results.len()));
    m.insert("plan_revisions".into(), json!(revisions));
    m.insert("complexity".into(), json!(roster.plan.complexity_score));
    m.insert("plan_fallback".into(), json!(roster.plan.fallback));
    Ok(outcome)
}

/// TEAM_STATUS and one TEAM_RECRUITED per subtask, journaled with the roster.
async fn recruit(team: &Team, plan: Plan) -> Result<Roster, Halt> {
    let key = StepKey::named("team");
    if let Some(roster) = team.take::<Roster>(&key)? {
        // Revisions replay in their rounds (`revise` takes each from the journal).
        return Ok(roster);
    }
    let roster = Roster::new(plan, &team.workflow_id);
    let n = roster.plan.subtasks.len();
    let mut events = Vec::new();
    if n > 1 {
        events.push(NewEvent::new(
            EventType::TeamStatus,
            "supervisor",
            format!("Coordinating {n} agents to handle subtasks"),
        ));
    }
    for s in &roster.plan.subtasks {
        events.push(recruited(team, &roster, s));
    }
    team.record(&key, StepKind::Plan, &roster, events, None)
        .await?;
    Ok(roster)
}

fn recruited(team: &Team, roster: &Roster, s: &Subtask) -> NewEvent {
    let agent = roster.agent(&s.id);
    let role = role_of(team, s);
    NewEvent::new(
        EventType::TeamRecruited,
        agent,
        format!("{role}: {}", clip(&s.description, 200)),
    )
    .with_payload(json!({"agent_id": agent, "role": role, "subtask_id": s.id}))
}

/// The subtasks whose dependencies are done (a failed one counts: its failure is passed on),
/// in plan order, up to the concurrency limit.
fn ready_subtasks(plan: &Plan, done: &HashMap<String, SubtaskResult>) -> Vec<Subtask> {
    let limit = match plan.pattern() {
        Pattern::Sequential => 1,
        _ => plan.concurrency_limit.max(1),
    };
    plan.subtasks
        .iter()
        .filter(|s| !done.contains_key(&s.id))
        .filter(|s| s.dependencies.iter().all(|d| done.contains_key(d)))
        .take(limit)
        .cloned()
        .collect()
}

/// What an agent is handed: its dependencies' results, or in a sequential plan every earlier one.
fn inputs_of(
    plan: &Plan,
    sub: &Subtask,
    done: &HashMap<String, SubtaskResult>,
) -> Vec<SubtaskResult> {
    let ids: Vec<&String> = if plan.pattern() == Pattern::Sequential {
        plan.subtasks
            .iter()
            .take_while(|s| s.id != sub.id)
            .map(|s| &s.id)
            .collect()
    } else {
        sub.dependencies.iter().collect()
    };
    ids.into_iter()
        .filter_map(|id| done.get(id))
        .cloned()
        .collect()
}

/// One team member on its subtask.
struct Member {
    agent: String,
    sub: Subtask,
    step: usize,
    of: usize,
    waited: bool,
    inputs: Vec<SubtaskResult>,
}

impl Member {
    /// Hand-offs in, the role, up to [`ATTEMPTS`] tries, then the result back to the supervisor;
    /// journaled as a whole with the events that close it.
    async fn work(self, team: &Team, query: &str) -> Result<SubtaskResult, Halt> {
        let key = StepKey::new("subtask", &self.sub.id);
        if let Some(done) = team.take::<SubtaskResult>(&key)? {
            return Ok(done);
        }
        let (agent, sub) = (self.agent.as_str(), &self.sub);
        let role = role_of(team, sub);
        if self.waited {
            team.emit(
                EventType::DependencySatisfied,
                agent,
                "Previous step completed",
                Some(json!({"subtask_id": sub.id, "dependencies": sub.dependencies})),
            );
        }
        for input in &self.inputs {
            team.emit(
                EventType::MessageSent,
                &input.agent,
                format!("Handing {} over to {agent}", input.id),
                Some(json!({"from": input.agent, "to": agent, "subtask_id": input.id})),
            );
            team.emit(
                EventType::MessageReceived,
                agent,
                format!("Received {} from {}", input.id, input.agent),
                Some(json!({"from": input.agent, "to": agent, "subtask_id": input.id})),
            );
        }
        team.emit(
            EventType::Delegation,
            "supervisor",
            format!("Assigning {} to {agent}", sub.id),
            Some(json!({"to": agent, "subtask_id": sub.id, "role": role, "description": clip(&sub.description, 500)})),
        );
        team.emit(
            EventType::RoleAssigned,
            agent,
            role.clone(),
            Some(json!({"role": role, "subtask_id": sub.id})),
        );
        team.emit(
            EventType::Progress,
            agent,
            format!("Working on step {} of {}", self.step, self.of),
            None,
        );
        team.emit(
            EventType::AgentStarted,
            agent,
            format!("{agent} is on it: {}", clip(&sub.description, 200)),
            Some(json!({"subtask_id": sub.id, "role": role})),
        );
        let mut tokens = 0;
        let mut turn = Err(String::new());
        for attempt in 1..=ATTEMPTS {
            let attempt_key = if attempt == 1 {
                key.clone()
            } else {
                key.then("attempt", attempt)
            };
            let (t, used) = subtask_turn(
                team,
                query,
                agent,
                sub,
                &self.inputs,
                &attempt_key,
                &Default::default(),
            )
            .await?;
            tokens += used;
            turn = t;
            match &turn {
                Ok(_) => break,
                Err(e) if attempt < ATTEMPTS => team.emit(
                    EventType::ErrorRecovery,
                    agent,
                    format!("Retrying (attempt {} of {ATTEMPTS}): {}", attempt + 1, clip(e, 300)),
                    Some(json!({"subtask_id": sub.id, "attempt": attempt + 1, "error": clip(e, 500)})),
                ),
                Err(_) => {}
            }
        }
        let result = SubtaskResult::new(sub, agent, turn, tokens);
        let mut events = match &result.error {
            None => vec![
                NewEvent::new(EventType::AgentCompleted, agent, format!("{agent} is done"))
                    .with_payload(json!({"subtask_id": sub.id})),
                NewEvent::new(EventType::MessageSent, agent, "Reporting back")
                    .with_payload(json!({"from": agent, "to": "supervisor", "subtask_id": sub.id})),
                NewEvent::new(
                    EventType::MessageReceived,
                    "supervisor",
                    format!("{agent} reported back on {}", sub.id),
                )
                .with_payload(json!({"from": agent, "to": "supervisor", "subtask_id": sub.id})),
            ],
            Some(error) => vec![
                NewEvent::new(EventType::ErrorOccurred, agent, error.clone()),
                NewEvent::new(EventType::AgentFailed, agent, error.clone())
                    .with_payload(json!({"subtask_id": sub.id, "attempts": ATTEMPTS})),
            ],
        };
        events.push(
            NewEvent::new(EventType::TeamRetired, agent, format!("{agent} is done")).with_payload(
                json!({"agent_id": agent, "subtask_id": sub.id, "success": result.success}),
            ),
        );
        team.record(&key, StepKind::Subtask, &result, events, None)
            .await?;
        Ok(result)
    }
}

/// After a round, the supervisor may rewrite the subtasks not yet started (one JSON call). Returns
/// whether the plan changed. A revision that does not read or is not a valid plan keeps the plan.
async fn revise(
    team: &Team,
    query: &str,
    roster: &mut Roster,
    done: &HashMap<String, SubtaskResult>,
    round: usize,
) -> Result<bool, Halt> {
    let key = StepKey::new("revision", round);
    if let Some(stored) = team.take::<Option<Roster>>(&key)? {
        let changed = stored.is_some();
        if let Some(r) = stored {
            *roster = r;
        }
        return Ok(changed);
    }
    let mut brief = format!("Request: {query}\n\nThe plan so far:");
    for s in &roster.plan.subtasks {
        let state = match done.get(&s.id) {
            Some(r) if r.success => format!("done:\n{}", clip(&r.response, 1500)),
            Some(r) => format!("failed: {}", r.error.clone().unwrap_or_default()),
            None => "not started".into(),
        };
        let deps = if s.dependencies.is_empty() {
            String::new()
        } else {
            format!(" (after {})", s.dependencies.join(", "))
        };
        brief.push_str(&format!("\n\n[{}] {}{deps} — {state}", s.id, s.description));
    }
    let answer = match team
        .ask(
            "supervisor",
            &key.then("call", 1),
            REVISE_PROMPT,
            brief,
            true,
        )
        .await
    {
        Ok(a) => Some(a.text),
        Err(Halt::Failed(_)) => None,
        Err(stop) => return Err(stop),
    };
    let revised = answer.and_then(|text| revised_roster(team, roster, done, &text));
    let events = match &revised {
        Some(r) => {
            let left = r
                .plan
                .subtasks
                .iter()
                .filter(|s| !done.contains_key(&s.id))
                .count();
            let mut payload = r.plan.progress_payload();
            payload["revision"] = json!(round);
            let mut events = vec![
                NewEvent::new(
                    EventType::Progress,
                    "supervisor",
                    match left {
                        1 => "Revised the plan — 1 step left".to_string(),
                        n => format!("Revised the plan — {n} steps left"),
                    },
                )
                .with_payload(payload),
            ];
            for s in r
                .plan
                .subtasks
                .iter()
                .filter(|s| !roster.agents.contains_key(&s.id))
            {
                events.push(recruited(team, r, s));
            }
            events
        }
        None => Vec::new(),
    };
    team.record(&key, StepKind::Plan, &revised, events, None)
        .await?;
    let changed = revised.is_some();
    if let Some(r) = revised {
        *roster = r;
    }
    Ok(changed)
}

/// `{"action": "revise", "subtasks": [...]}` read as the new list of subtasks not yet started;
/// `None` for "keep", an unreadable answer, or a plan that would not be valid.
fn revised_roster(
    team: &Team,
    roster: &Roster,
    done: &HashMap<String, SubtaskResult>,
    text: &str,
) -> Option<Roster> {
    let value = super::plan::read_json(text)?;
    if value.get("action").and_then(Value::as_str) != Some("revise") {
        return None;
    }
    let proposed = value.get("subtasks")?.as_array()?;
    // The finished subtasks stay as they were; the proposal replaces the rest.
    let kept: Vec<&Subtask> = roster
        .plan
        .subtasks
        .iter()
        .filter(|s| done.contains_key(&s.id))
        .collect();
    let mut listed: Vec<Value> = kept.iter().map(|s| json!(s)).collect();
    listed.extend(
        proposed
            .iter()
            .filter(|p| {
                p.get("id")
                    .and_then(Value::as_str)
                    .is_none_or(|id| !done.contains_key(id))
            })
            .cloned(),
    );
    if listed.len() == kept.len() {
        return None;
    }
    let parsed = plan::parse(
        &json!({"subtasks": listed}).to_string(),
        "",
        roster.plan.concurrency_limit,
    )?
    .ok()?;
    let mut next = roster.clone();
    next.plan.subtasks = parsed.subtasks;
    for s in next.plan.subtasks.iter_mut().filter(|s| s.role.is_empty()) {
        // A step the revision keeps keeps its role.
        if let Some(before) = roster.plan.subtasks.iter().find(|b| b.id == s.id) {
            s.role = before.role.clone();
        }
    }
    for s in &next.plan.subtasks {
        if !next.agents.contains_key(&s.id) {
            next.agents.insert(
                s.id.clone(),
                plan::agent_name(&team.workflow_id, next.next_index),
            );
            next.next_index += 1;
        }
    }
    let unchanged = next.plan.subtasks == roster.plan.subtasks;
    (next.plan.subtasks.len() <= MAX_SUBTASKS && !unchanged).then_some(next)
}

const REVISE_PROMPT: &str = "You supervise a team working through a plan. Given the request and \
the results so far, decide whether the steps not yet started still fit. Answer with one JSON \
object only: {\"action\": \"keep\"} when they do, or {\"action\": \"revise\", \"reason\": \"...\", \
\"subtasks\": [{\"id\": \"...\", \"description\": \"...\", \"dependencies\": [...], \
\"suggested_tools\": [...]}]} listing every step still to do (keep an unchanged step's id; a step may \
depend on finished steps). Revise only when the results show a step is missing, wrong or no longer \
needed.";
