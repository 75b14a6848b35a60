//! The scientific strategy (see docs/upstream.md#strategies): hypotheses (agent `cot-reasoner`), a
//! debate in which each hypothesis has an advocate (agents `debater-<n>-hypothesis_<n>_advocate`,
//! all of a round at once), a moderator that judges it, the implications of the winner explored as
//! a small tree of thoughts, and a report. Where the cloud scores positions by keywords and its
//! moderator is a string template, the moderator here is a model call that scores each position;
//! and the task's answer is the report itself (the cloud's final event carries other text than its
//! result). Settings: `scientific_max_hypotheses` (3, 2–5), `scientific_max_iterations` (debate
//! rounds, 2, 1–4).

use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::agent::member_prompt;
use super::tot::{self, Params};
use super::{Halt, Outcome, Team, reflection};
use crate::core::llm::{ChatMessage, Role};
use crate::core::run::journal::StepKey;
use crate::core::run::lifecycle::EventType;
use crate::core::streams::clip;

/// The moderator's verdict.
#[derive(Debug, PartialEq)]
struct Verdict {
    /// Index of the winning position.
    winner: usize,
    scores: Vec<f64>,
    consensus: bool,
    summary: String,
}

pub(crate) async fn run(team: &Team, query: &str) -> Result<Outcome, Halt> {
    let max = team.setting("scientific_max_hypotheses", 3, 2, 5) as usize;
    let rounds = team.setting("scientific_max_iterations", 2, 1, 4) as usize;
    let mut tokens = 0;

    let answer = team
        .ask(
            "cot-reasoner",
            &StepKey::named("hypotheses"),
            member_prompt(team, &hypotheses_prompt(max)),
            query.to_string(),
            true,
        )
        .await?;
    tokens += answer.usage.total_tokens;
    let hypotheses: Vec<String> = parse_hypotheses(&answer.text)
        .into_iter()
        .take(max)
        .collect();
    if hypotheses.is_empty() {
        return Err(Halt::Failed("the reasoner proposed no hypothesis".into()));
    }
    team.emit(
        EventType::Progress,
        "scientific",
        format!("Testing {} hypotheses", hypotheses.len()),
        Some(json!({"hypotheses": hypotheses})),
    );

    let mut positions: Vec<String> = vec![String::new(); hypotheses.len()];
    for round in 0..rounds {
        team.checkpoint().await?;
        let mut running = JoinSet::new();
        for (n, h) in hypotheses.iter().enumerate() {
            let agent = format!("debater-{}-hypothesis_{}_advocate", n + 1, n + 1);
            let mut brief = format!(
                "Question: {query}\n\nYou advocate hypothesis {}: {h}\n",
                n + 1
            );
            if round == 0 {
                brief.push_str(
                    "\nGive your position: the evidence and reasoning for it, and its weak points.",
                );
            } else {
                brief.push_str(&format!("\nRound {}: consider these other positions, answer their strongest points, and restate yours.\n", round + 1));
                for (m, p) in positions.iter().enumerate().filter(|(m, _)| *m != n) {
                    brief.push_str(&format!("\nPosition {}: {}\n", m + 1, clip(p, 3000)));
                }
            }
            let messages = vec![
                ChatMessage::new(Role::System, member_prompt(team, DEBATER_PROMPT)),
                ChatMessage::new(Role::User, brief),
            ];
            let key = StepKey::new("debate", round + 1).then("position", n + 1);
            let team = team.clone();
            running.spawn(async move {
                let a = team
                    .call(&agent, &key, messages, Vec::new(), false, true)
                    .await;
                (n, a)
            });
        }
        while let Some(joined) = running.join_next().await {
            let (n, answer) =
                joined.map_err(|e| Halt::Failed(format!("a debater crashed: {e}")))?;
            match answer {
                Ok(a) => {
                    tokens += a.usage.total_tokens;
                    positions[n] = a.text;
                }
                // A debater that fails keeps its last position.
                Err(Halt::Failed(e)) if !positions[n].is_empty() => {
                    tracing::warn!(error = %e, "a debater failed; keeping its last position")
                }
                Err(Halt::Failed(e)) => positions[n] = format!("(no position: {e})"),
                Err(stop) => {
                    running.abort_all();
                    return Err(stop);
                }
            }
        }
        team.emit(
            EventType::Progress,
            "scientific",
            format!("Debate round {} of {rounds} done", round + 1),
            Some(json!({"round": round + 1})),
        );
    }

    let mut brief = format!("Question: {query}\n");
    for (n, (h, p)) in hypotheses.iter().zip(&positions).enumerate() {
        brief.push_str(&format!(
            "\nHypothesis {}: {h}\nPosition: {}\n",
            n + 1,
            clip(p, 4000)
        ));
    }
    let verdict = match team
        .ask(
            "moderator",
            &StepKey::named("moderator"),
            MODERATOR_PROMPT,
            brief,
            true,
        )
        .await
    {
        Ok(a) => {
            tokens += a.usage.total_tokens;
            parse_verdict(&a.text, hypotheses.len())
        }
        Err(Halt::Failed(_)) => None,
        Err(stop) => return Err(stop),
    }
    .unwrap_or_else(|| Verdict {
        winner: 0,
        scores: vec![0.5; hypotheses.len()],
        consensus: false,
        summary: "The moderator gave no verdict; the first hypothesis is carried forward.".into(),
    });
    let winning = &hypotheses[verdict.winner];
    team.emit(
        EventType::Progress,
        "moderator",
        format!("Strongest position: hypothesis {}", verdict.winner + 1),
        Some(json!({"winner": verdict.winner + 1, "scores": verdict.scores, "consensus": verdict.consensus})),
    );

    let implications = tot::explore(
        team,
        &format!("Based on the winning hypothesis: {winning}\nWhat are the implications for the question: {query}"),
        Params { depth: 2, branching: 2, budget: 3, prune_below: 0.25 },
        "implications",
    )
    .await?;
    tokens += implications.tokens;

    let mut notes = format!(
        "Question: {query}\nWinning hypothesis: {winning}\nModerator: {}\n",
        verdict.summary
    );
    for step in &implications.path {
        notes.push_str(&format!("Implication: {step}\n"));
    }
    let synthesis = team
        .ask(
            "synthesis",
            &StepKey::named("scientific-synthesis"),
            member_prompt(team, SYNTH_PROMPT),
            notes,
            false,
        )
        .await?;
    tokens += synthesis.usage.total_tokens;

    let confidence = verdict.scores.get(verdict.winner).copied().unwrap_or(0.5);
    let report = report(
        query,
        &hypotheses,
        &verdict,
        rounds,
        &implications.path,
        &synthesis.text,
        confidence,
    );
    let mut outcome = Outcome {
        answer: report,
        tokens,
        model: synthesis.model,
        ..Outcome::default()
    };
    reflection::refine(team, query, &mut outcome).await?;
    let mut patterns = vec!["chain_of_thought", "debate", "tree_of_thoughts"];
    if outcome.metadata.contains_key("had_reflection") {
        patterns.push("reflection");
    }
    let m = &mut outcome.metadata;
    m.insert("workflow_type".into(), json!("scientific"));
    m.insert("patterns_used".into(), json!(patterns));
    m.insert("hypotheses_count".into(), json!(hypotheses.len()));
    m.insert("consensus_reached".into(), json!(verdict.consensus));
    m.insert("final_confidence".into(), json!(confidence));
    m.insert("debate_rounds".into(), json!(rounds));
    m.insert("exploration_depth".into(), json!(implications.depth));
    m.insert("execution_mode".into(), json!("scientific"));
    m.insert("agent_count".into(), json!(hypotheses.len() + 3));
    Ok(outcome)
}

fn report(
    query: &str,
    hypotheses: &[String],
    verdict: &Verdict,
    rounds: usize,
    implications: &[String],
    synthesis: &str,
    confidence: f64,
) -> String {
    let mut r = format!(
        "# Scientific Investigation Report\n\n## Research Question\n{query}\n\n## Hypotheses Tested\n"
    );
    for (n, h) in hypotheses.iter().enumerate() {
        let score = verdict.scores.get(n).copied().unwrap_or(0.0);
        r.push_str(&format!("{}. {h} (score {score:.2})\n", n + 1));
    }
    r.push_str(&format!(
        "\n## Winning Hypothesis\n{}\n\n## Consensus\n{}\n\n## Debate Rounds\n{rounds}\n\n## Implications\n",
        hypotheses[verdict.winner],
        if verdict.consensus { format!("Reached. {}", verdict.summary) } else { format!("Not reached. {}", verdict.summary) }
    ));
    for i in implications {
        r.push_str(&format!("- {i}\n"));
    }
    r.push_str(&format!(
        "\n## Final Synthesis\n{}\n\n## Confidence\n{confidence:.2}\n",
        synthesis.trim()
    ));
    r
}

/// `{"hypotheses": ["...", ...]}`, or lines that name a hypothesis, or numbered lines.
fn parse_hypotheses(text: &str) -> Vec<String> {
    let v = super::plan::read_json(text);
    if let Some(items) = v
        .as_ref()
        .and_then(|v| v.get("hypotheses"))
        .and_then(Value::as_array)
    {
        let read: Vec<String> = items
            .iter()
            .filter_map(|h| h.as_str().or(h.get("text").and_then(Value::as_str)))
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .collect();
        if !read.is_empty() {
            return read;
        }
    }
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let named: Vec<String> = lines
        .iter()
        .filter(|l| l.to_lowercase().contains("hypothesis"))
        .map(|l| l.split_once(':').map_or(*l, |(_, h)| h).trim().to_string())
        .filter(|h| !h.is_empty())
        .collect();
    if !named.is_empty() {
        return named;
    }
    lines
        .iter()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| {
            l.trim_start_matches(|c: char| c.is_ascii_digit() || ".) ".contains(c))
                .to_string()
        })
        .collect()
}

/// `{"winner": n (1-based), "scores": [...], "consensus": bool, "summary": "..."}`.
fn parse_verdict(text: &str, n: usize) -> Option<Verdict> {
    let v = super::plan::read_json(text)?;
    let mut scores: Vec<f64> = v
        .get("scores")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|s| s.as_f64().unwrap_or(0.0).clamp(0.0, 1.0))
                .collect()
        })
        .unwrap_or_default();
    scores.resize(n, 0.0);
    let winner = match v.get("winner").and_then(Value::as_u64) {
        Some(w) if (1..=n as u64).contains(&w) => w as usize - 1,
        _ => (0..n).max_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(b.cmp(&a)))?,
    };
    Some(Verdict {
        winner,
        scores,
        consensus: v.get("consensus").and_then(Value::as_bool).unwrap_or(false),
        summary: v
            .get("summary")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

fn hypotheses_prompt(h: usize) -> String {
    format!(
        "You are a scientist. Generate exactly {h} distinct, testable hypotheses that could answer \
         the question. Reply with one JSON object only: {{\"hypotheses\": [\"...\", ...]}}."
    )
}

const DEBATER_PROMPT: &str = "You argue for one hypothesis in a structured debate. Argue from \
evidence and reasoning, concede what is weak, and be concise.";

const MODERATOR_PROMPT: &str = "You moderate a debate between hypotheses. Judge each position by \
its evidence, its reasoning and how well it answered the others. Reply with one JSON object only: \
{\"winner\": n, \"scores\": [0.0-1.0 for each hypothesis, in order], \"consensus\": true|false, \
\"summary\": \"the key arguments, briefly\"}.";

const SYNTH_PROMPT: &str = "Write the final synthesis of an investigation: answer the question \
from the winning hypothesis and its implications, say how sure the answer is and why, in the user's \
language.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypotheses_and_verdicts_are_read_tolerantly() {
        assert_eq!(
            parse_hypotheses(r#"{"hypotheses": ["a", "b"]}"#),
            vec!["a", "b"]
        );
        assert_eq!(
            parse_hypotheses("Hypothesis 1: heat\nHypothesis 2: light\nnoise"),
            vec!["heat", "light"]
        );
        assert_eq!(parse_hypotheses("1. heat\n2) light"), vec!["heat", "light"]);
        let v = parse_verdict(r#"{"scores": [0.2, 0.9, 0.4]}"#, 3).unwrap();
        assert_eq!(v.winner, 1);
        let v = parse_verdict(r#"{"winner": 3, "scores": [0.2], "consensus": true}"#, 3).unwrap();
        assert_eq!((v.winner, v.consensus, v.scores.len()), (2, true, 3));
        assert_eq!(parse_verdict("no idea", 2), None);
    }
}
