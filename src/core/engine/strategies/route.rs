//! Which strategy answers a multi-agent task, as the cloud's router decides (contract §1.2):
//! `mode=supervisor` is the supervisor's; `context.cognitive_strategy` names a cognitive strategy
//! outright (unlike the cloud, where only a planner that volunteers the field reaches one); else the
//! planner's plan decides: its own `cognitive_strategy`, the simple route for a trivial plan, or
//! the DAG. The decision is journaled with its DELEGATION event, so a resumed task keeps it.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::agent::member_prompt;
use super::plan::Plan;
use super::{
    Halt, Outcome, Team, approval, dag, react, research, review, scientific, simple, supervisor,
    swarm, tot,
};
use crate::core::engine::events::NewEvent;
use crate::core::engine::journal::{StepKey, StepKind};
use crate::core::engine::lifecycle::EventType;
use crate::core::llm::{ChatMessage, Role};

/// The cognitive strategies (contract §3.4–3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cognitive {
    /// Reason, act, observe, in a loop (ReAct).
    React,
    /// Tree of thoughts: branches scored and explored best first.
    Exploratory,
    /// Hypotheses, a debate between them, and their implications.
    Scientific,
    /// Web research with sources (also `force_research`).
    Research,
}

impl Cognitive {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "react" => Some(Self::React),
            "exploratory" | "tree_of_thoughts" => Some(Self::Exploratory),
            "scientific" => Some(Self::Scientific),
            "research" | "deep_research" => Some(Self::Research),
            _ => None,
        }
    }
}

/// Where a planned task goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "route", content = "strategy")]
enum Route {
    /// One call, no team ("Processing").
    Simple,
    /// The plan's subtasks as a DAG ("Running team plan").
    Dag,
    /// A cognitive strategy on the whole request ("Planning the approach").
    Cognitive(Cognitive),
}

pub(crate) async fn run(
    team: &Team,
    query: &str,
    concurrency: usize,
    supervised: bool,
) -> Result<Outcome, Halt> {
    if supervised {
        return supervisor::run(team, query, concurrency).await;
    }
    if team.flag("force_swarm") {
        // As the cloud's router: no decomposition, the lead plans.
        let payload = json!({"effective_mode": "swarm"});
        delegation(team, "route", "Assembling the team", payload).await?;
        return swarm::run(team, query).await;
    }
    // A research task under review runs with the plan the user confirmed.
    let original = query;
    let reviewed;
    let query = if review::wanted(team) {
        let plan = review::confirmed_plan(team, query).await?;
        reviewed = format!("{query}\n\nThe research plan the user confirmed:\n{plan}");
        reviewed.as_str()
    } else {
        query
    };
    let asked = crate::core::engine::request::str_of(&team.context, "cognitive_strategy")
        .and_then(Cognitive::parse);
    if team.flag("force_research") || asked == Some(Cognitive::Research) {
        // As the cloud's router: research plans its own subtasks, no general planner first.
        approval::plan_gate(team, query, None).await?;
        delegate(team, Route::Cognitive(Cognitive::Research)).await?;
        let mut outcome = research::run(team, query, original).await?;
        outcome
            .metadata
            .entry("strategy")
            .or_insert(json!("research"));
        return Ok(outcome);
    }
    let (route, plan) = match asked {
        Some(c) => (Route::Cognitive(c), None),
        None => {
            let plan = dag::make_plan(team, query, concurrency).await?;
            (route_of(team, &plan), Some(plan))
        }
    };
    approval::plan_gate(team, query, plan.as_ref()).await?;
    delegate(team, route).await?;
    let planned = plan.as_ref().map(|p| (p.complexity_score, p.fallback));
    let mut outcome = match (route, plan) {
        (Route::Cognitive(c), _) => cognitive(team, query, c).await?,
        (Route::Dag, Some(plan)) => dag::run(team, query, plan).await?,
        // The DAG route always comes with its plan.
        (Route::Simple | Route::Dag, _) => simple(team, query).await?,
    };
    let strategy = match route {
        Route::Simple => "simple",
        Route::Dag => "dag",
        Route::Cognitive(Cognitive::React) => "react",
        Route::Cognitive(Cognitive::Exploratory) => "exploratory",
        Route::Cognitive(Cognitive::Scientific) => "scientific",
        Route::Cognitive(Cognitive::Research) => "research",
    };
    let m = &mut outcome.metadata;
    m.entry("strategy").or_insert(json!(strategy));
    if let Some((complexity, fallback)) = planned {
        m.entry("complexity").or_insert(json!(complexity));
        m.entry("plan_fallback").or_insert(json!(fallback));
    }
    Ok(outcome)
}

fn route_of(team: &Team, plan: &Plan) -> Route {
    if let Some(c) = Cognitive::parse(&plan.cognitive_strategy) {
        return Route::Cognitive(c);
    }
    // A role keeps its one agent (and its ROLE_ASSIGNED), as the cloud's `needsTools` rule does.
    if team.role.is_none() && (plan.is_simple() || plan.cognitive_strategy == "simple") {
        return Route::Simple;
    }
    Route::Dag
}

/// The router's DELEGATION, journaled with the decision.
async fn delegate(team: &Team, route: Route) -> Result<(), Halt> {
    let (message, payload) = match route {
        Route::Simple => ("Processing", json!({"effective_mode": "simple"})),
        Route::Dag => ("Running team plan", json!({"effective_mode": "complex"})),
        Route::Cognitive(c) => ("Planning the approach", json!({"strategy": c})),
    };
    delegation(team, "route", message, payload).await
}

/// The router's DELEGATION under `key`, journaled so a resumed task does not announce it twice.
pub(crate) async fn delegation(
    team: &Team,
    key: &str,
    message: &str,
    payload: serde_json::Value,
) -> Result<(), Halt> {
    let key = StepKey::named(key);
    if team.take::<serde_json::Value>(&key)?.is_some() {
        return Ok(());
    }
    let event = NewEvent::new(EventType::Delegation, "orchestrator", message).with_payload(payload);
    team.record(&key, StepKind::Plan, &true, vec![event], None)
        .await?;
    Ok(())
}

async fn cognitive(team: &Team, query: &str, c: Cognitive) -> Result<Outcome, Halt> {
    match c {
        Cognitive::React => react::run(team, query).await,
        Cognitive::Exploratory => tot::run(team, query).await,
        Cognitive::Scientific => scientific::run(team, query).await,
        Cognitive::Research => research::run(team, query, query).await,
    }
}

/// The simple route: one agent, one call.
async fn simple(team: &Team, query: &str) -> Result<Outcome, Halt> {
    let messages = vec![
        ChatMessage::new(
            Role::System,
            member_prompt(team, "Answer the user's request directly and completely."),
        ),
        ChatMessage::new(Role::User, query.to_string()),
    ];
    let mut outcome = simple::run(team, query, messages).await?;
    outcome
        .metadata
        .insert("execution_mode".into(), json!("simple"));
    outcome.metadata.insert("agent_count".into(), json!(1));
    Ok(outcome)
}
