//! The router's part of a team's strategies (see docs/upstream.md#routing-and-planning; the task's
//! `Strategy` is decided at submission and dispatched by the runner): the swarm's and research's
//! delegation, and for a planned task the cognitive strategy the request names outright (unlike the
//! cloud, where only a planner that volunteers the field reaches one), or else what the planner's
//! plan decides: its own `cognitive_strategy`, the simple route for a trivial plan, or the DAG. The
//! decision is journaled with its DELEGATION event, so a resumed task keeps it.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::agent::member_prompt;
use super::plan::Plan;
use super::{
    Halt, Outcome, Team, approval, dag, delegation, react, research, review, scientific, simple,
    swarm, tot,
};
use crate::core::llm::{ChatMessage, Role};
use crate::core::tasks::strategy::Cognitive;

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

/// The swarm: no decomposition, the lead plans (as the cloud's router).
pub(crate) async fn run_swarm(team: &Team, query: &str) -> Result<Outcome, Halt> {
    let payload = json!({"effective_mode": "swarm"});
    delegation(team, "route", "Assembling the team", payload).await?;
    swarm::run(team, query).await
}

/// A planned task: the cognitive strategy the request named (`asked`), or else the route the
/// planner's plan decides (journaled).
pub(crate) async fn run_planned(
    team: &Team,
    query: &str,
    concurrency: usize,
    asked: Option<Cognitive>,
) -> Result<Outcome, Halt> {
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

/// Research plans its own subtasks, no general planner first (as the cloud's router). A reviewed
/// task runs with the plan the user confirmed.
pub(crate) async fn run_research(team: &Team, query: &str, review: bool) -> Result<Outcome, Halt> {
    let original = query;
    let reviewed;
    let query = if review {
        let plan = review::confirmed_plan(team, query).await?;
        reviewed = format!("{query}\n\nThe research plan the user confirmed:\n{plan}");
        reviewed.as_str()
    } else {
        query
    };
    approval::plan_gate(team, query, None).await?;
    delegate(team, Route::Cognitive(Cognitive::Research)).await?;
    let mut outcome = research::run(team, query, original).await?;
    outcome
        .metadata
        .entry("strategy")
        .or_insert(json!("research"));
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
