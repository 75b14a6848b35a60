//! The coverage loop (Deep Research 2.0; see docs/upstream.md#strategies): a judge
//! (`coverage_evaluator`) reads the findings and names the gaps with a search for each; gap agents
//! research them in parallel; a result is kept only when it brings sources the research did not
//! have. The loop ends when the judge is satisfied, when no gap is left, when a round brings no new
//! source, or after `iterative_max_iterations` rounds. Unlike the cloud, one call both judges the
//! coverage and writes the sub-queries (the cloud makes two).

use std::collections::HashSet;

use reqwest::Url;
use serde_json::json;
use tokio::task::JoinSet;

use super::{Settings, source_urls};
use crate::core::run::journal::StepKey;
use crate::core::run::lifecycle::EventType;
use crate::core::strategies::dag::{self, Brief, SubtaskResult};
use crate::core::strategies::plan::{self, Plan, Subtask};
use crate::core::strategies::{Halt, Team, next_done};
use crate::core::streams::clip;

/// Gaps researched per round.
const MAX_GAPS: usize = 3;
/// A round that brings this many new domains or URLs stops taking more of its results.
const ENOUGH_NEW_DOMAINS: usize = 5;
const ENOUGH_NEW_URLS: usize = 15;
/// Characters of each finding the judge reads.
const FINDING_CHARS: usize = 3000;

/// What the loop did.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub iterations: u32,
    pub agents: usize,
    pub accepted: usize,
}

pub(crate) async fn fill_gaps(
    team: &Team,
    query: &str,
    plan: &Plan,
    results: &mut Vec<SubtaskResult>,
    settings: &Settings,
    brief: &Brief,
) -> Result<Found, Halt> {
    let mut found = Found::default();
    if !settings.iterative {
        return Ok(found);
    }
    let mut next_index = plan.subtasks.len();
    for round in 1..=settings.max_iterations {
        let gaps = evaluate(team, query, results, round).await?;
        found.iterations = round;
        if gaps.is_empty() {
            break;
        }
        let known: HashSet<String> = source_urls(results).into_iter().collect();
        let gap_results = research_gaps(team, query, &gaps, round, next_index, brief).await?;
        next_index += gap_results.len();
        found.agents += gap_results.len();
        let (kept, new_urls, new_domains) = keep_new(gap_results, &known);
        let accepted = kept.len();
        team.emit(
            EventType::Progress,
            "coverage_evaluator",
            format!(
                "Gap research round {round}: {accepted} of {} searches brought new sources ({new_urls} new)",
                gaps.len()
            ),
            Some(json!({"iteration": round, "accepted": accepted, "searched": gaps.len(),
                        "new_urls": new_urls, "new_domains": new_domains})),
        );
        found.accepted += accepted;
        results.extend(kept);
        if accepted == 0 {
            team.emit(
                EventType::Progress,
                "coverage_evaluator",
                "No new sources: the research is as complete as the web allows",
                Some(json!({"iteration": round, "reason": "no_new_sources"})),
            );
            break;
        }
    }
    Ok(found)
}

/// The judge's call: the gaps to research, each a description and a search (none when covered).
async fn evaluate(
    team: &Team,
    query: &str,
    results: &[SubtaskResult],
    round: u32,
) -> Result<Vec<(String, String)>, Halt> {
    let agent = "coverage_evaluator";
    let mut brief = format!("Question: {query}\n\nFindings so far:");
    for r in results.iter().filter(|r| r.success) {
        brief.push_str(&format!(
            "\n\n[{}]\n{}",
            r.id,
            clip(&r.response, FINDING_CHARS)
        ));
    }
    let sources = source_urls(results);
    brief.push_str(&format!("\n\nSources found ({}):", sources.len()));
    for url in sources.iter().take(60) {
        brief.push_str(&format!("\n- {url}"));
    }
    team.emit(
        EventType::AgentThinking,
        agent,
        format!("Checking what the research still misses (round {round})"),
        None,
    );
    let key = StepKey::new("coverage", round.to_string()).then("call", 1);
    let answer = match team.ask(agent, &key, COVERAGE_PROMPT, brief, true).await {
        Ok(a) => a,
        // A judge that fails ends the loop; the research so far still answers.
        Err(Halt::Failed(_)) => return Ok(Vec::new()),
        Err(stop) => return Err(stop),
    };
    let Some(v) = plan::read_json(&answer.text) else {
        return Ok(Vec::new());
    };
    let score = v["coverage_score"].as_f64().unwrap_or(0.0);
    let go_on = v["should_continue"].as_bool().unwrap_or(true)
        && v["recommended_action"].as_str() != Some("complete");
    let gaps: Vec<(String, String)> = v["gaps"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|g| {
                    let query = g["query"].as_str()?.trim();
                    let what = g["gap"]
                        .as_str()
                        .or(g["description"].as_str())
                        .unwrap_or(query);
                    (!query.is_empty()).then(|| (clip(what, 300), clip(query, 300)))
                })
                .take(MAX_GAPS)
                .collect()
        })
        .unwrap_or_default();
    let gaps = if go_on { gaps } else { Vec::new() };
    let message = if gaps.is_empty() {
        format!("Coverage {score:.2}: nothing left to research")
    } else {
        format!("Coverage {score:.2}: {} gaps to research", gaps.len())
    };
    team.emit(
        EventType::Progress,
        agent,
        message,
        Some(json!({"iteration": round, "coverage_score": score,
                    "gaps": gaps.iter().map(|(g, q)| json!({"gap": g, "query": q})).collect::<Vec<_>>()})),
    );
    Ok(gaps)
}

/// One research agent per gap, all at once, in gap order.
async fn research_gaps(
    team: &Team,
    query: &str,
    gaps: &[(String, String)],
    round: u32,
    first_index: usize,
    brief: &Brief,
) -> Result<Vec<SubtaskResult>, Halt> {
    let mut running = JoinSet::new();
    for (i, (gap, search)) in gaps.iter().enumerate() {
        let sub = Subtask {
            id: format!("gap-{round}-{}", i + 1),
            description: format!("{gap}\nSearch for: {search}"),
            dependencies: Vec::new(),
            suggested_tools: super::RESEARCH_TOOLS.map(String::from).to_vec(),
            task_type: "gap_fill".into(),
            role: "gap_filler".into(),
        };
        let (team, query, brief) = (team.clone(), query.to_string(), brief.clone());
        let index = first_index + i;
        running.spawn(async move {
            let r = dag::run_subtask(&team, &query, index, &sub, Vec::new(), &brief).await;
            r.map(|r| (i, r))
        });
    }
    let mut done = Vec::new();
    while let Some(r) = next_done(&mut running).await? {
        done.push(r);
    }
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, r)| r).collect())
}

/// The results that bring URLs the research did not have, until a round has brought enough.
/// Returns them with the counts of new URLs and new domains.
fn keep_new(
    results: Vec<SubtaskResult>,
    known: &HashSet<String>,
) -> (Vec<SubtaskResult>, usize, usize) {
    let domain = |u: &str| Url::parse(u).ok()?.host_str().map(str::to_string);
    let known_domains: HashSet<String> = known.iter().filter_map(|u| domain(u)).collect();
    let mut new_urls: HashSet<String> = HashSet::new();
    let mut new_domains: HashSet<String> = HashSet::new();
    let mut kept = Vec::new();
    for r in results {
        if new_domains.len() >= ENOUGH_NEW_DOMAINS || new_urls.len() >= ENOUGH_NEW_URLS {
            break;
        }
        let fresh: Vec<String> = source_urls(std::slice::from_ref(&r))
            .into_iter()
            .filter(|u| !known.contains(u) && !new_urls.contains(u))
            .collect();
        if !r.success || fresh.is_empty() {
            continue;
        }
        for u in fresh {
            if let Some(d) = domain(&u).filter(|d| !known_domains.contains(d)) {
                new_domains.insert(d);
            }
            new_urls.insert(u);
        }
        kept.push(r);
    }
    (kept, new_urls.len(), new_domains.len())
}

const COVERAGE_PROMPT: &str = "You judge whether research findings answer a question completely. \
Answer with one JSON object only: {\"coverage_score\": 0.0-1.0, \"should_continue\": true|false, \
\"gaps\": [{\"gap\": \"what is missing\", \"query\": \"a web search that would find it\"}]}. Name \
at most 3 gaps, only ones that matter for the question; when the findings suffice, answer \
should_continue false with no gaps.";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::strategies::agent::ToolRun;

    fn result(id: &str, urls: &[&str]) -> SubtaskResult {
        let results: Vec<_> = urls
            .iter()
            .map(|u| json!({"title": "t", "url": u, "snippet": "s"}))
            .collect();
        SubtaskResult {
            id: id.into(),
            agent: "a".into(),
            response: "r".into(),
            success: true,
            error: None,
            tokens: 0,
            tools: vec![ToolRun {
                tool: "web_search".into(),
                success: true,
                output: json!({"results": results}).to_string(),
            }],
        }
    }

    #[test]
    fn only_results_with_new_sources_are_kept() {
        let known: HashSet<String> = ["https://a.example/1".to_string()].into();
        let (kept, urls, domains) = keep_new(
            vec![
                result("old", &["https://a.example/1"]),
                result("new", &["https://a.example/1", "https://b.example/2"]),
                result("same-again", &["https://b.example/2"]),
            ],
            &known,
        );
        let ids: Vec<&str> = kept.iter().map(|r| r.id.as_str()).collect();
        assert_eq!((ids, urls, domains), (vec!["new"], 1, 1));
    }
}
