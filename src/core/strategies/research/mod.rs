//! The research strategy (see docs/upstream.md#strategies), top to bottom: refine the question into
//! research areas, plan research subtasks, run research agents in parallel with `web_search` and
//! `web_fetch`, then the coverage loop (find the gaps, search for them, keep only results that
//! bring new sources), a synthesis of the original question with inline `[n]` citations and a `##
//! Sources` section, and an optional check of the answer against the findings. Every model call and
//! agent is journaled, so a resumed research task repeats nothing that finished.
//!
//! Without a search API set up, research says so (WARNING) and answers from the model alone,
//! labelled as unsourced.

mod coverage;
mod report;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::dag::{self, Brief, SubtaskResult};
use super::plan::{self, Plan};
use super::{Halt, Outcome, Team, citations};
use crate::core::run::journal::{StepKey, StepKind};
use crate::core::run::lifecycle::EventType;
use crate::core::streams::{NewEvent, clip};

/// The tools every research agent gets, whatever its subtask suggested.
const RESEARCH_TOOLS: [&str; 2] = ["web_search", "web_fetch"];

/// The settings of a research run: the preset's (seeded into the context at submission, as the
/// cloud's presets: docs/upstream.md#strategies) as the context overrides them.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub strategy: String,
    pub concurrency: usize,
    /// Tool rounds of a research agent before it must report.
    pub iterations: u32,
    pub verification: bool,
    pub iterative: bool,
    pub max_iterations: u32,
    /// How many subtasks the planner is asked for.
    pub subtasks: (usize, usize),
}

impl Settings {
    fn of(team: &Team) -> Self {
        let strategy = crate::core::tasks::request::str_of(&team.context, "research_strategy")
            .unwrap_or("standard")
            .to_ascii_lowercase();
        let quick = strategy == "quick";
        let explicit = |key: &str| team.context.get(key).is_some();
        Self {
            concurrency: team.setting("max_concurrent_agents", 5, 1, 20) as usize,
            iterations: team.setting("react_max_iterations", if quick { 2 } else { 3 }, 2, 8)
                as u32,
            verification: team.flag("enable_verification"),
            iterative: if explicit("iterative_research_enabled") {
                team.flag("iterative_research_enabled")
            } else {
                !quick
            },
            max_iterations: team.setting("iterative_max_iterations", 3, 1, 5) as u32,
            subtasks: match strategy.as_str() {
                "quick" => (1, 3),
                "deep" => (5, 8),
                "academic" => (8, 12),
                _ => (3, 5),
            },
            strategy,
        }
    }
}

/// What the refiner made of the question, as journaled.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Refined {
    refined_query: String,
    research_areas: Vec<String>,
    rationale: String,
}

/// Research on `query` (which may carry a plan the user confirmed); `original` is what the user
/// asked, which the synthesis answers.
pub(crate) async fn run(team: &Team, query: &str, original: &str) -> Result<Outcome, Halt> {
    let settings = Settings::of(team);
    if !team.tools.can_search() {
        // With the plan the user confirmed, if any.
        return report::unsourced(team, query).await;
    }
    let refined = refine(team, query).await?;
    let plan = research_plan(team, query, &refined, &settings).await?;
    let brief = Brief {
        instructions: AGENT_BRIEF.into(),
        rounds: settings.iterations + 1,
    };
    let mut results = dag::run_subtasks(team, query, &plan, &brief).await?;
    let mut agent_count = results.len();
    let found = coverage::fill_gaps(team, original, &plan, &mut results, &settings, &brief).await?;
    agent_count += found.agents;
    let mut outcome = report::synthesize(team, original, &results).await?;
    if settings.verification {
        report::verify(team, original, &mut outcome, &results).await?;
    }
    outcome.tokens += results.iter().map(|r| r.tokens).sum::<u64>();
    let tool_meta = dag::team_metadata(&results);
    let m = &mut outcome.metadata;
    if let Some(errors) = tool_meta.get("tool_errors") {
        m.insert("tool_errors".into(), errors.clone());
    }
    m.insert("version".into(), json!("v2"));
    m.insert("research_strategy".into(), json!(settings.strategy));
    m.insert("research_areas".into(), json!(refined.research_areas));
    m.insert("refined_query".into(), json!(refined.refined_query));
    m.insert("agent_count".into(), json!(agent_count));
    m.insert("complexity".into(), json!(plan.complexity_score));
    m.insert("iterations".into(), json!(found.iterations));
    m.insert("gap_results_accepted".into(), json!(found.accepted));
    m.insert(
        "patterns_used".into(),
        json!(["react", "parallel", "coverage_loop"]),
    );
    Ok(outcome)
}

/// The refiner's call (agent `research-refiner`): the question sharpened and split into research
/// areas. A refiner that fails is skipped, as in the cloud.
async fn refine(team: &Team, query: &str) -> Result<Refined, Halt> {
    let key = StepKey::named("refine");
    if let Some(done) = team.take::<Refined>(&key)? {
        return Ok(done);
    }
    let agent = "research-refiner";
    team.emit(
        EventType::AgentThinking,
        agent,
        "Refining research query",
        None,
    );
    let asked = team
        .ask(
            agent,
            &key.then("call", 1),
            REFINE_PROMPT,
            format!("Question: {query}"),
            true,
        )
        .await;
    let read = match asked {
        Ok(a) => plan::read_json(&a.text),
        Err(Halt::Failed(_)) => None,
        Err(stop) => return Err(stop),
    };
    let refined = read.map(|v| Refined {
        refined_query: v["refined_query"]
            .as_str()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or(query)
            .to_string(),
        research_areas: strings(&v["research_areas"], 8),
        rationale: v["rationale"].as_str().unwrap_or_default().to_string(),
    });
    let (refined, event) = match refined {
        Some(r) => {
            let n = r.research_areas.len();
            let message = format!("Expanded query into {n} research dimensions");
            let payload = json!({"refined_query": r.refined_query, "research_areas": r.research_areas,
                                 "refinement_rationale": r.rationale, "original_query": query});
            let event = NewEvent::new(EventType::Progress, agent, message).with_payload(payload);
            (r, event)
        }
        None => (
            Refined {
                refined_query: query.to_string(),
                ..Refined::default()
            },
            NewEvent::new(
                EventType::Progress,
                agent,
                "Query refinement skipped, proceeding with original query",
            ),
        ),
    };
    team.record(&key, StepKind::Plan, &refined, vec![event], None)
        .await?;
    Ok(refined)
}

/// The research plan (agent `decompose`): subtasks per research area, each with the research
/// tools. A planner that fails leaves one subtask: the refined question.
async fn research_plan(
    team: &Team,
    query: &str,
    refined: &Refined,
    settings: &Settings,
) -> Result<Plan, Halt> {
    let key = StepKey::named("plan");
    if let Some(plan) = team.take::<Plan>(&key)? {
        return Ok(plan);
    }
    team.emit(
        EventType::Progress,
        "planner",
        "Understanding your request",
        None,
    );
    let (min, max) = settings.subtasks;
    let system = format!(
        "{RESEARCH_PLANNER_PROMPT} Plan {min} to {max} research subtasks for this question."
    );
    let mut brief = format!(
        "Query: {query}\nRefined question: {}",
        refined.refined_query
    );
    if !refined.research_areas.is_empty() {
        brief.push_str(&format!(
            "\nResearch areas: {}",
            refined.research_areas.join("; ")
        ));
    }
    let asked = team
        .ask("decompose", &key.then("call", 1), system, brief, true)
        .await;
    let parsed = match asked {
        Ok(a) => plan::parse(&a.text, &refined.refined_query, settings.concurrency),
        Err(Halt::Failed(_)) => None,
        Err(stop) => return Err(stop),
    };
    let mut plan = match parsed {
        Some(Ok(plan)) => plan,
        Some(Err(why)) => return Err(Halt::Failed(format!("Invalid research plan: {why}"))),
        None => Plan::single(&refined.refined_query, settings.concurrency),
    };
    plan.subtasks.truncate(max.max(1));
    plan.concurrency_limit = settings.concurrency;
    let role = if settings.strategy == "quick" {
        "quick_research_agent"
    } else {
        "deep_research_agent"
    };
    for sub in &mut plan.subtasks {
        for tool in RESEARCH_TOOLS {
            if !sub.suggested_tools.iter().any(|t| t == tool) {
                sub.suggested_tools.push(tool.to_string());
            }
        }
        if sub.role.is_empty() {
            sub.role = role.to_string();
        }
    }
    plan::validate(&plan).map_err(|why| Halt::Failed(format!("Invalid research plan: {why}")))?;
    team.record(&key, StepKind::Plan, &plan, vec![plan.got_event()], None)
        .await?;
    Ok(plan)
}

/// The distinct source URLs of these results' tool calls.
pub(crate) fn source_urls(results: &[SubtaskResult]) -> Vec<String> {
    citations::collect(results.iter().flat_map(|r| r.tools.iter()))
        .into_iter()
        .map(|c| c.url)
        .collect()
}

/// Up to `max` non-empty strings of a JSON array.
fn strings(v: &Value, max: usize) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().or_else(|| s.get("dimension")?.as_str()))
                .map(|s| clip(s.trim(), 300))
                .filter(|s| !s.is_empty())
                .take(max)
                .collect()
        })
        .unwrap_or_default()
}

const REFINE_PROMPT: &str = "You refine research questions. Answer with one JSON object only: \
{\"refined_query\": \"the question made precise and self-contained\", \"research_areas\": \
[\"2 to 6 distinct areas the research must cover\"], \"rationale\": \"one sentence\"}. Keep the \
user's language and intent; do not answer the question.";

const RESEARCH_PLANNER_PROMPT: &str = "You are a research supervisor. Split the research question \
into subtasks that independent research agents can work on with web search and page reading, and \
answer with one JSON object only: {\"complexity_score\": 0.0-1.0, \"execution_strategy\": \
\"parallel\", \"subtasks\": [{\"id\": \"task-1\", \"description\": \"what to find out, and where \
to look\", \"dependencies\": [], \"suggested_tools\": [\"web_search\", \"web_fetch\"], \
\"task_type\": \"research\"}]}. Cover every research area; give a dependency only when a subtask \
needs another's concrete output (such as URLs); never add a subtask that summarizes the others.";

const AGENT_BRIEF: &str = "Research your subtask on the web: search with web_search, then read the \
most promising pages with web_fetch. Report what you found as concrete facts, each with the URL of \
the page it came from. Never invent a source; say what you could not find.";
