//! Tree of thoughts (see docs/upstream.md#strategies, `exploratory`): expand the most promising
//! thought first, each expansion one generator call (agent `tot-generator-<node>`) proposing K next
//! steps, prune the weak ones, and answer from the best path. Where the cloud scores thoughts by
//! keywords ("therefore" +0.2, "maybe" −0.1 …), the generator scores its own proposals (JSON), with
//! the keyword score only as the fallback for an answer that does not read. Settings in the
//! context: `tot_max_depth` (3), `tot_branching` (3, at most 4), `tot_budget` (expansions, 6).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::agent::member_prompt;
use super::{Halt, Outcome, Team};
use crate::core::llm::{ChatMessage, Role};
use crate::core::run::journal::StepKey;
use crate::core::run::lifecycle::EventType;
use crate::core::streams::clip;

/// How far and wide to explore.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    pub depth: usize,
    pub branching: usize,
    pub budget: usize,
    /// Thoughts scoring under this are dropped.
    pub prune_below: f64,
}

impl Params {
    pub fn from_context(team: &Team) -> Self {
        Self {
            depth: team.setting("tot_max_depth", 3, 1, 6) as usize,
            branching: team.setting("tot_branching", 3, 2, 4) as usize,
            budget: team.setting("tot_budget", 6, 1, 20) as usize,
            prune_below: 0.15,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Node {
    id: String,
    text: String,
    score: f64,
    depth: usize,
    parent: Option<usize>,
    terminal: bool,
    expanded: bool,
}

/// What an exploration found.
pub(crate) struct Exploration {
    /// The best path's thoughts, root first (the root, the problem itself, left out).
    pub path: Vec<String>,
    pub confidence: f64,
    pub total_thoughts: usize,
    pub depth: usize,
    pub tokens: u64,
}

pub(crate) async fn run(team: &Team, query: &str) -> Result<Outcome, Halt> {
    let found = explore(team, query, Params::from_context(team), "tot").await?;
    let mut brief = format!("Problem: {query}\n\nReasoning path:\n");
    for (n, step) in found.path.iter().enumerate() {
        brief.push_str(&format!("{}. {step}\n", n + 1));
    }
    let answer = team
        .ask(
            "tot-synthesizer",
            &StepKey::named("tot-answer"),
            member_prompt(team, ANSWER_PROMPT),
            brief,
            false,
        )
        .await?;
    let mut outcome = Outcome {
        answer: answer.text,
        tokens: found.tokens + answer.usage.total_tokens,
        model: answer.model,
        ..Outcome::default()
    };
    let m = &mut outcome.metadata;
    m.insert("workflow_type".into(), json!("exploratory"));
    m.insert("pattern_used".into(), json!("tree_of_thoughts"));
    m.insert("total_thoughts".into(), json!(found.total_thoughts));
    m.insert("tree_depth".into(), json!(found.depth));
    m.insert("final_confidence".into(), json!(found.confidence));
    m.insert("best_path".into(), json!(found.path));
    m.insert("execution_mode".into(), json!("exploratory"));
    Ok(outcome)
}

/// Best-first exploration of `problem`; `prefix` keeps the journal keys of two explorations of one
/// task apart.
pub(crate) async fn explore(
    team: &Team,
    problem: &str,
    params: Params,
    prefix: &str,
) -> Result<Exploration, Halt> {
    let mut tree = vec![Node {
        id: "root".into(),
        text: problem.to_string(),
        score: 1.0,
        depth: 0,
        parent: None,
        terminal: false,
        expanded: false,
    }];
    let mut tokens = 0;
    for _ in 0..params.budget {
        let Some(at) = next_to_expand(&tree, params.depth) else {
            break;
        };
        tree[at].expanded = true;
        let node = tree[at].clone();
        let agent = format!("tot-generator-{}", node.id);
        let messages = vec![
            ChatMessage::new(
                Role::System,
                member_prompt(team, &generator_prompt(params.branching)),
            ),
            ChatMessage::new(Role::User, brief(&tree, at)),
        ];
        let key = StepKey::named(prefix).then_named(&node.id);
        let answer = match team
            .call(&agent, &key, messages, Vec::new(), true, false)
            .await
        {
            Ok(a) => a,
            // A failed branch is a dead end; the others go on.
            Err(Halt::Failed(_)) => continue,
            Err(stop) => return Err(stop),
        };
        tokens += answer.usage.total_tokens;
        let mut children = Vec::new();
        for (i, (text, score, terminal)) in parse_thoughts(&answer.text)
            .into_iter()
            .take(params.branching)
            .enumerate()
        {
            if score < params.prune_below {
                continue;
            }
            let id = if node.parent.is_none() {
                format!("{}", i + 1)
            } else {
                format!("{}-{}", node.id, i + 1)
            };
            children.push(json!({"id": id, "score": score, "thought": clip(&text, 300)}));
            tree.push(Node {
                id,
                text,
                score,
                depth: node.depth + 1,
                parent: Some(at),
                terminal: terminal || node.depth + 1 >= params.depth,
                expanded: false,
            });
        }
        team.emit(
            EventType::Progress,
            "exploratory",
            format!("Explored {} ways forward from {}", children.len(), node.id),
            Some(json!({"node": node.id, "depth": node.depth, "children": children})),
        );
    }
    let (path, confidence) = best_path(&tree);
    Ok(Exploration {
        depth: path.len(),
        path: path.iter().map(|&i| tree[i].text.clone()).collect(),
        confidence,
        total_thoughts: tree.len() - 1,
        tokens,
    })
}

/// The most promising open thought: highest score, then the deeper (it is closer to an answer).
fn next_to_expand(tree: &[Node], max_depth: usize) -> Option<usize> {
    (0..tree.len())
        .filter(|&i| !tree[i].expanded && !tree[i].terminal && tree[i].depth < max_depth)
        .max_by(|&a, &b| {
            tree[a]
                .score
                .total_cmp(&tree[b].score)
                .then(tree[a].depth.cmp(&tree[b].depth))
                .then(b.cmp(&a))
        })
}

/// The path from the root whose thoughts score best on average, a finished path (one that reached
/// an answer or the depth limit) ahead of any open one, and that average.
fn best_path(tree: &[Node]) -> (Vec<usize>, f64) {
    let path_to = |mut i: usize| {
        let mut path = Vec::new();
        while let Some(parent) = tree[i].parent {
            path.push(i);
            i = parent;
        }
        path.reverse();
        path
    };
    (1..tree.len())
        .map(|i| {
            let path = path_to(i);
            let avg = path.iter().map(|&n| tree[n].score).sum::<f64>() / path.len() as f64;
            let finished = tree[i].terminal as u8;
            (path, avg, finished)
        })
        .max_by(|a, b| {
            a.2.cmp(&b.2)
                .then(a.1.total_cmp(&b.1))
                .then(b.0.len().cmp(&a.0.len()))
        })
        .map_or((Vec::new(), 0.0), |(p, avg, _)| (p, avg))
}

fn brief(tree: &[Node], at: usize) -> String {
    let mut chain = Vec::new();
    let mut i = at;
    while let Some(parent) = tree[i].parent {
        chain.push(tree[i].text.as_str());
        i = parent;
    }
    chain.reverse();
    let mut brief = format!("Problem: {}\n", tree[0].text);
    if chain.is_empty() {
        brief.push_str("\nNo steps yet.");
    } else {
        brief.push_str("\nReasoning so far:\n");
        for (n, step) in chain.iter().enumerate() {
            brief.push_str(&format!("{}. {step}\n", n + 1));
        }
    }
    brief
}

/// `{"thoughts": [{"text", "score", "final"}]}`; else numbered or bulleted lines, scored by the
/// cloud's keyword heuristic.
fn parse_thoughts(text: &str) -> Vec<(String, f64, bool)> {
    let v = super::plan::read_json(text);
    if let Some(items) = v
        .as_ref()
        .and_then(|v| v.get("thoughts"))
        .and_then(Value::as_array)
    {
        let read: Vec<(String, f64, bool)> = items
            .iter()
            .filter_map(|t| {
                let text = t
                    .get("text")
                    .or(t.get("thought"))
                    .and_then(Value::as_str)?
                    .trim();
                let score = t
                    .get("score")
                    .and_then(Value::as_f64)
                    .unwrap_or_else(|| keyword_score(text));
                let done = t
                    .get("final")
                    .or(t.get("terminal"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                (!text.is_empty()).then(|| (text.to_string(), score.clamp(0.0, 1.0), done))
            })
            .collect();
        if !read.is_empty() {
            return read;
        }
    }
    text.lines()
        .map(|l| {
            l.trim()
                .trim_start_matches(|c: char| c.is_ascii_digit() || "-*.) ".contains(c))
                .trim()
        })
        .filter(|l| l.chars().count() > 10)
        .map(|l| {
            let lower = l.to_lowercase();
            let done = [
                "the answer is",
                "therefore",
                "in conclusion",
                "final answer",
            ]
            .iter()
            .any(|k| lower.contains(k));
            (l.to_string(), keyword_score(l), done)
        })
        .collect()
}

/// The cloud's heuristic: 0.5, up for reasoning words, down for hedges.
fn keyword_score(text: &str) -> f64 {
    let t = text.to_lowercase();
    let has = |ws: &[&str]| ws.iter().any(|w| t.contains(w));
    let mut s = 0.5;
    if has(&["therefore", "solution", "answer"]) {
        s += 0.2;
    }
    if has(&["because", "since", "thus"]) {
        s += 0.1;
    }
    if has(&["step", "first", "next"]) {
        s += 0.1;
    }
    if has(&["maybe", "perhaps", "might"]) {
        s -= 0.1;
    }
    f64::clamp(s, 0.0, 1.0)
}

fn generator_prompt(k: usize) -> String {
    format!(
        "You explore ways to solve a problem. Given the reasoning so far, propose {k} different \
         next steps, each a short, concrete thought that moves toward the answer. Score each from \
         0.0 (a dead end) to 1.0 (certainly right), honestly. Reply with one JSON object only: \
         {{\"thoughts\": [{{\"text\": \"...\", \"score\": 0.0-1.0, \"final\": true|false}}]}}; \
         final means the thought states the answer."
    )
}

const ANSWER_PROMPT: &str = "Answer the problem using the reasoning path below, which was chosen as \
the most promising of several explored. State the answer first, then the reasoning that supports \
it, briefly; answer in the user's language.";

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, score: f64, depth: usize, parent: Option<usize>, terminal: bool) -> Node {
        Node {
            id: id.into(),
            text: id.into(),
            score,
            depth,
            parent,
            terminal,
            expanded: false,
        }
    }

    #[test]
    fn thoughts_are_read_from_json_or_lines() {
        let t = parse_thoughts(
            r#"{"thoughts": [{"text": "split the sum", "score": 0.8}, {"text": "guess", "score": 3, "final": true}]}"#,
        );
        assert_eq!(
            t,
            vec![
                ("split the sum".into(), 0.8, false),
                ("guess".into(), 1.0, true)
            ]
        );
        let t = parse_thoughts("1. First, factor the number\n2. maybe try random values\nok");
        assert_eq!(t.len(), 2);
        assert!(t[0].1 > t[1].1);
    }

    #[test]
    fn the_best_path_is_the_best_average_and_expansion_is_best_first() {
        let mut tree = vec![node("root", 1.0, 0, None, false)];
        tree.push(node("1", 0.9, 1, Some(0), false));
        tree.push(node("2", 0.6, 1, Some(0), false));
        tree.push(node("1-1", 0.2, 2, Some(1), true));
        tree.push(node("2-1", 0.95, 2, Some(2), true));
        tree[0].expanded = true;
        assert_eq!(next_to_expand(&tree, 3), Some(1));
        let (path, avg) = best_path(&tree);
        assert_eq!(path, vec![2, 4]);
        assert!((avg - 0.775).abs() < 1e-9);
    }
}
