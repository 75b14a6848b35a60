//! The research report: the synthesis of the original question from the findings, with inline
//! `[n]` markers that number the sources, a `## Sources` section the engine writes itself (so its
//! links are the tools' URLs, never the model's inventions), and `metadata.citations` in the same
//! order; the optional check of the answer against the findings; and the unsourced answer when
//! no search API is set up.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::super::citations::{self, Citation};
use super::super::dag::SubtaskResult;
use super::super::{Halt, Outcome, Team};
use crate::core::run::journal::{StepKey, StepKind};
use crate::core::run::lifecycle::EventType;
use crate::core::strategies::plan;
use crate::core::streams::{NewEvent, clip};

/// Sources offered to the synthesis (the most credible first).
const MAX_SOURCES: usize = 30;
/// Characters of each finding the synthesis reads.
const FINDING_CHARS: usize = 8000;

pub(crate) const UNSOURCED_NOTE: &str = "> **Unsourced:** no web search is set up, so this answer \
comes from the model's own knowledge and cites no sources. Add a search key (Tavily, Exa, Brave, \
Serper) or a SearXNG address to research with sources.";

/// The answer from the model alone, labelled, after a WARNING that says why.
pub(crate) async fn unsourced(team: &Team, query: &str) -> Result<Outcome, Halt> {
    let key = StepKey::named("no_search");
    if team.take::<bool>(&key)?.is_none() {
        let warning = NewEvent::new(
            EventType::Warning,
            "research",
            "No web search is set up: answering from the model alone, without sources",
        )
        .with_payload(json!({"reason": "no_search_provider", "unsourced": true}));
        team.record(&key, StepKind::Plan, &true, vec![warning], None)
            .await?;
    }
    let answer = team
        .ask(
            "research-agent",
            &StepKey::named("unsourced").then("call", 1),
            UNSOURCED_PROMPT,
            query.to_string(),
            false,
        )
        .await?;
    let mut metadata = serde_json::Map::new();
    metadata.insert("unsourced".into(), json!(true));
    metadata.insert("citations".into(), json!([]));
    metadata.insert("agent_count".into(), json!(1));
    Ok(Outcome {
        answer: format!("{UNSOURCED_NOTE}\n\n{}", answer.text.trim()),
        tokens: answer.usage.total_tokens,
        model: answer.model,
        metadata,
    })
}

/// The synthesis (agent `synthesis`) of the original question over every finding, its markers
/// made to match the sources, and the sources section.
pub(crate) async fn synthesize(
    team: &Team,
    query: &str,
    results: &[SubtaskResult],
) -> Result<Outcome, Halt> {
    let succeeded = super::super::dag::succeeded(results, "research agent")?;
    let mut sources = citations::collect(results.iter().flat_map(|r| r.tools.iter()));
    sources.truncate(MAX_SOURCES);
    let mut brief = format!("Question: {query}\n\nResearch findings:");
    for r in &succeeded {
        brief.push_str(&format!(
            "\n\n[{}]\n{}",
            r.id,
            clip(&r.response, FINDING_CHARS)
        ));
    }
    if sources.is_empty() {
        brief.push_str("\n\nThe research found no sources; say so where it matters.");
    } else {
        brief.push_str("\n\nSources (cite them by number):");
        for (i, s) in sources.iter().enumerate() {
            brief.push_str(&format!("\n[{}] {} — {}", i + 1, s.title, s.url));
        }
    }
    let agent = "synthesis";
    team.emit(
        EventType::DataProcessing,
        agent,
        "Pulling it all together",
        None,
    );
    let answer = team
        .ask(
            agent,
            &StepKey::named(agent).then("call", 1),
            SYNTHESIS_PROMPT,
            brief,
            false,
        )
        .await?;
    team.emit(EventType::DataProcessing, agent, "Answer ready", None);
    let (text, cited) = cite(&answer.text, &sources);
    let mut metadata = serde_json::Map::new();
    metadata.insert(
        "citations".into(),
        cited.iter().map(Citation::to_json).collect(),
    );
    metadata.insert("sources_found".into(), json!(sources.len()));
    if sources.is_empty() {
        metadata.insert("unsourced".into(), json!(true));
    }
    Ok(Outcome {
        answer: text,
        tokens: answer.usage.total_tokens,
        model: answer.model,
        metadata,
    })
}

/// The answer with its `[n]` markers renumbered in the order the answer first cites them (markers
/// that name no source dropped), the model's own sources section replaced by the engine's, and
/// the sources in marker order (then those it did not cite, which the section leaves out).
pub(crate) fn cite(text: &str, sources: &[Citation]) -> (String, Vec<Citation>) {
    let body = without_sources_section(text);
    let mut order: Vec<usize> = Vec::new();
    let mut renumbered = HashMap::new();
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        // `[3]`, or a list such as `[1, 2]`.
        let inner = after.find(']').map(|close| &after[..close]).filter(|d| {
            !d.is_empty()
                && d.len() <= 24
                && d.bytes().any(|b| b.is_ascii_digit())
                && d.bytes()
                    .all(|b| b.is_ascii_digit() || b == b',' || b == b' ')
        });
        match inner {
            Some(list) => {
                let mut marks = String::new();
                for n in list
                    .split(',')
                    .filter_map(|n| n.trim().parse::<usize>().ok())
                {
                    if (1..=sources.len()).contains(&n) {
                        let k = *renumbered.entry(n).or_insert_with(|| {
                            order.push(n - 1);
                            order.len()
                        });
                        marks.push_str(&format!("[{k}]"));
                    }
                }
                if marks.is_empty() {
                    // A marker without a source: dropped with the space before it.
                    let trimmed = out.trim_end_matches(' ').len();
                    out.truncate(trimmed);
                }
                out.push_str(&marks);
                rest = &after[list.len() + 1..];
            }
            None => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    let mut text = out.trim_end().to_string();
    let cited: Vec<Citation> = order.iter().map(|&i| sources[i].clone()).collect();
    let listed = if cited.is_empty() {
        sources
    } else {
        &cited[..]
    };
    if !listed.is_empty() {
        text.push_str(if cited.is_empty() {
            "\n\n## Sources consulted\n"
        } else {
            "\n\n## Sources\n"
        });
        for (i, s) in listed.iter().enumerate() {
            text.push_str(&format!(
                "\n[{}] [{}]({})",
                i + 1,
                s.title.replace(['[', ']'], ""),
                s.url
            ));
        }
        text.push('\n');
    }
    let uncited = sources
        .iter()
        .enumerate()
        .filter(|(i, _)| !order.contains(i))
        .map(|(_, s)| s.clone());
    (text, cited.iter().cloned().chain(uncited).collect())
}

/// The text before a trailing "Sources" / "References" heading the model wrote.
fn without_sources_section(text: &str) -> &str {
    let mut cut = text.len();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let head = line
            .trim()
            .trim_start_matches('#')
            .trim()
            .trim_matches('*')
            .trim_end_matches(':')
            .to_ascii_lowercase();
        if offset > 0 && matches!(head.as_str(), "sources" | "references" | "citations") {
            cut = offset;
        }
        offset += line.len();
    }
    &text[..cut]
}

/// The check of the answer against the findings (agent `verifier`): `metadata.verification`.
pub(crate) async fn verify(
    team: &Team,
    query: &str,
    outcome: &mut Outcome,
    results: &[SubtaskResult],
) -> Result<(), Halt> {
    let agent = "verifier";
    let mut brief = format!(
        "Question: {query}\n\nAnswer to check:\n{}\n\nFindings:",
        outcome.answer
    );
    for r in results.iter().filter(|r| r.success) {
        brief.push_str(&format!("\n\n[{}]\n{}", r.id, clip(&r.response, 4000)));
    }
    let key = StepKey::named("verification").then("call", 1);
    let answer = match team.ask(agent, &key, VERIFY_PROMPT, brief, true).await {
        Ok(a) => a,
        // The answer stands without its check.
        Err(Halt::Failed(_)) => return Ok(()),
        Err(stop) => return Err(stop),
    };
    outcome.tokens += answer.usage.total_tokens;
    let Some(v) = plan::read_json(&answer.text) else {
        return Ok(());
    };
    let unsupported: Vec<Value> = v["unsupported_claims"]
        .as_array()
        .map(|a| a.iter().take(20).cloned().collect())
        .unwrap_or_default();
    let verification = json!({
        "verified": v["verified"].as_bool().unwrap_or(unsupported.is_empty()),
        "confidence": v["confidence"].as_f64().unwrap_or(0.0).clamp(0.0, 1.0),
        "unsupported_claims": unsupported,
    });
    let message = match unsupported.len() {
        0 => "Checked the answer against its sources: every claim is supported".to_string(),
        n => format!("Checked the answer against its sources: {n} claims lack support"),
    };
    team.emit(
        EventType::Progress,
        agent,
        message,
        Some(verification.clone()),
    );
    outcome.metadata.insert("verification".into(), verification);
    Ok(())
}

const UNSOURCED_PROMPT: &str = "You answer research questions from your own knowledge: no web \
search is available. Answer thoroughly, say where your knowledge may be dated or uncertain, and \
do not cite or invent URLs.";

const SYNTHESIS_PROMPT: &str = "You write the answer to a research question from the research \
team's findings. Answer the question directly and completely, in the user's language, in \
markdown. Cite sources inline with their numbers in square brackets, like [1] or [2][3], right \
after the claim they support; cite only the numbered sources you are given, never URLs from \
memory. Do not write a sources or references section: it is added for you. Do not mention the \
team, the agents or the subtasks.";

const VERIFY_PROMPT: &str = "You check a research answer against the findings it was written \
from. Answer with one JSON object only: {\"verified\": true|false, \"confidence\": 0.0-1.0, \
\"unsupported_claims\": [\"each claim of the answer the findings do not support\"]}.";

#[cfg(test)]
mod tests {
    use super::*;

    fn source(url: &str) -> Citation {
        Citation {
            url: url.into(),
            title: format!("Title of {url}"),
            source: "example".into(),
            credibility_score: 0.6,
            quality_score: 0.9,
        }
    }

    #[test]
    fn markers_are_renumbered_in_citation_order_and_strays_dropped() {
        let sources = [
            source("https://a/"),
            source("https://b/"),
            source("https://c/"),
        ];
        let text = "B is true [2]. A too [1][2]. Nine [9]. Both [1, 3]. Arrays [x] stay.\n\n## Sources\n1. https://made.up/\n";
        let (out, cited) = cite(text, &sources);
        assert!(
            out.starts_with("B is true [1]. A too [2][1]. Nine. Both [2][3]. Arrays [x] stay."),
            "{out}"
        );
        assert!(!out.contains("made.up"));
        assert!(out.contains("## Sources\n\n[1] [Title of https://b/](https://b/)\n[2] [Title of https://a/](https://a/)"), "{out}");
        let urls: Vec<&str> = cited.iter().map(|c| c.url.as_str()).collect();
        assert_eq!(urls, ["https://b/", "https://a/", "https://c/"]);
        assert!(out.contains("[3] [Title of https://c/](https://c/)"));
        let (out, _) = cite("No markers.", &sources);
        assert!(out.contains("## Sources consulted"));
        assert_eq!(cite("Nothing.", &[]).0, "Nothing.");
    }
}
