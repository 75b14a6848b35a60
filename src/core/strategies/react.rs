//! ReAct (see docs/upstream.md#strategies): reason about the next action, act (with tools),
//! observe, repeat; then one synthesis over the thoughts, actions and observations. Each step is
//! its own agent: the reasoner and the actor of iteration i are station names 2i and 2i+1. Where
//! the cloud decides "done" by keywords in free text ("task complete", "finished" …), the reasoner
//! here answers in JSON with an explicit `done`, honoured only once an observation exists; the loop
//! also stops when an action observes nothing new. `context.react_max_iterations` bounds it
//! (default 10).

use std::collections::HashSet;

use serde_json::{Value, json};

use super::agent::{self, ToolRun, member_prompt};
use super::plan::agent_name;
use super::{Halt, Outcome, Team, citations};
use crate::core::llm::{ChatMessage, Role};
use crate::core::run::journal::StepKey;
use crate::core::run::lifecycle::EventType;
use crate::core::streams::clip;

const DEFAULT_ITERATIONS: u64 = 10;
/// Observations the reasoner sees (the most recent).
const WINDOW: usize = 3;
/// Rounds of the actor's turn (a tool round, then its report).
const ACT_ROUNDS: u32 = 2;

/// The reasoner's decision.
#[derive(Debug, PartialEq)]
struct Decision {
    thought: String,
    action: String,
    done: bool,
}

pub(crate) async fn run(team: &Team, query: &str) -> Result<Outcome, Halt> {
    let max = team.setting("react_max_iterations", DEFAULT_ITERATIONS, 1, 50) as usize;
    let mut toolbox = team.tools.narrowed(None);
    let (mut thoughts, mut actions, mut observations) = (Vec::new(), Vec::new(), Vec::new());
    let mut runs: Vec<(String, ToolRun)> = Vec::new();
    let mut tokens = 0;
    let mut iterations = 0;
    for i in 1..=max {
        team.checkpoint().await?;
        iterations = i;
        let step = StepKey::new("react", i);
        team.emit(
            EventType::Progress,
            "react",
            format!("Thinking step {i} of {max}"),
            Some(json!({"iteration": i, "max_iterations": max})),
        );
        let reasoner = agent_name(&team.workflow_id, 2 * (i - 1));
        team.emit(
            EventType::AgentStarted,
            &reasoner,
            "Reflecting on progress",
            Some(json!({"role": "reasoner", "iteration": i})),
        );
        let brief = reasoning_brief(query, &thoughts, &actions, &observations);
        let answer = team
            .ask(
                &reasoner,
                &step.then_named("reason"),
                member_prompt(team, REASON_PROMPT),
                brief,
                true,
            )
            .await?;
        tokens += answer.usage.total_tokens;
        let decision = parse_decision(&answer.text);
        team.emit(
            EventType::AgentThinking,
            &reasoner,
            clip(&decision.thought, 2000),
            Some(json!({"iteration": i, "action": clip(&decision.action, 500)})),
        );
        team.emit(
            EventType::AgentCompleted,
            &reasoner,
            "Decided next step",
            Some(json!({"iteration": i, "done": decision.done})),
        );
        thoughts.push(decision.thought.clone());
        if decision.done && !observations.is_empty() {
            break;
        }
        let actor = agent_name(&team.workflow_id, 2 * (i - 1) + 1);
        team.emit(
            EventType::AgentStarted,
            &actor,
            "Taking action",
            Some(json!({"role": "actor", "iteration": i, "action": clip(&decision.action, 500)})),
        );
        let messages = vec![
            ChatMessage::new(
                Role::System,
                member_prompt(
                    team,
                    &format!(
                        "You carry out one step of a larger piece of work on this request: {query}\n\
                 Do exactly this step, using a tool when one helps, and report what you found."
                    ),
                ),
            ),
            ChatMessage::new(Role::User, decision.action.clone()),
        ];
        let turn = agent::turn(
            team,
            &actor,
            &step.then_named("act"),
            messages,
            &mut toolbox,
            ACT_ROUNDS,
        )
        .await?;
        let observation = match turn {
            Ok(t) => {
                tokens += t.tokens;
                let mut seen: Vec<String> = t
                    .tools
                    .iter()
                    .map(|r| format!("{}: {}", r.tool, clip(&r.output, 1000)))
                    .collect();
                seen.push(t.text);
                runs.extend(t.tools.into_iter().map(|r| (actor.clone(), r)));
                format!("Action result: {}", clip(&seen.join("\n"), 3000))
            }
            Err(e) => format!("Action failed: {e}"),
        };
        team.emit(
            EventType::AgentCompleted,
            &actor,
            "Action done",
            Some(json!({"iteration": i})),
        );
        actions.push(decision.action);
        let repeated = observations
            .last()
            .is_some_and(|last| similar(last, &observation));
        observations.push(observation);
        if repeated && i >= 2 {
            break;
        }
    }
    team.emit(
        EventType::Progress,
        "react",
        "Finished thinking",
        Some(json!({"iterations": iterations})),
    );
    let mut brief = format!("Synthesize the final answer for: {query}\n");
    for (title, items) in [
        ("Thoughts", &thoughts),
        ("Actions", &actions),
        ("Observations", &observations),
    ] {
        brief.push_str(&format!("\n{title}:\n"));
        for (n, item) in items.iter().enumerate() {
            brief.push_str(&format!("{}. {}\n", n + 1, clip(item, 3000)));
        }
    }
    let answer = team
        .ask(
            "react-synthesizer",
            &StepKey::named("react-synthesis"),
            member_prompt(team, SYNTH_PROMPT),
            brief,
            false,
        )
        .await?;
    let pairs: Vec<(&str, &ToolRun)> = runs.iter().map(|(a, r)| (a.as_str(), r)).collect();
    let mut metadata = citations::tool_metadata(&pairs);
    metadata.insert("version".into(), json!("v2"));
    metadata.insert("iterations".into(), json!(iterations));
    metadata.insert("thoughts".into(), json!(thoughts.len()));
    metadata.insert("actions".into(), json!(actions.len()));
    metadata.insert("observations".into(), json!(observations.len()));
    metadata.insert("execution_mode".into(), json!("react"));
    metadata.insert(
        "agent_count".into(),
        json!(thoughts.len() + actions.len() + 1),
    );
    Ok(Outcome {
        answer: answer.text,
        tokens: tokens + answer.usage.total_tokens,
        model: answer.model,
        metadata,
    })
}

fn reasoning_brief(
    query: &str,
    thoughts: &[String],
    actions: &[String],
    observations: &[String],
) -> String {
    let mut brief = format!("Request: {query}\nIteration: {}\n", thoughts.len() + 1);
    if thoughts.is_empty() {
        brief.push_str("\nNothing has been done yet.\n");
    }
    for (n, (t, a)) in thoughts.iter().zip(actions).enumerate() {
        brief.push_str(&format!(
            "\nStep {}: thought: {}\n  action: {}\n",
            n + 1,
            clip(t, 1000),
            clip(a, 1000)
        ));
    }
    let from = observations.len().saturating_sub(WINDOW);
    for (n, o) in observations.iter().enumerate().skip(from) {
        brief.push_str(&format!("\nObservation {}: {}\n", n + 1, clip(o, 3000)));
    }
    brief
}

/// `{"thought", "action", "done"}`; a free-text answer is the thought and the action at once,
/// done only if it says so plainly.
fn parse_decision(text: &str) -> Decision {
    let v = super::plan::read_json(text);
    let field = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default()
            .to_string()
    };
    match v {
        Some(v) if v.is_object() => {
            let thought = field(&v, "thought");
            let action = field(&v, "action");
            Decision {
                action: if action.is_empty() {
                    thought.clone()
                } else {
                    action
                },
                thought,
                done: v.get("done").and_then(Value::as_bool).unwrap_or(false),
            }
        }
        _ => {
            let lower = text.to_lowercase();
            Decision {
                thought: text.trim().to_string(),
                action: text.trim().to_string(),
                done: ["task complete", "final answer", "i am done"]
                    .iter()
                    .any(|k| lower.contains(k)),
            }
        }
    }
}

/// Two observations that share nearly all their words add nothing new.
fn similar(a: &str, b: &str) -> bool {
    let words =
        |s: &str| -> HashSet<String> { s.split_whitespace().map(|w| w.to_lowercase()).collect() };
    let (x, y) = (words(a), words(b));
    if x.is_empty() || y.is_empty() {
        return x.is_empty() && y.is_empty();
    }
    let shared = x.intersection(&y).count() as f64;
    shared / x.union(&y).count() as f64 >= 0.9
}

const REASON_PROMPT: &str = "You reason step by step toward an answer, one action at a time. \
Given the request and what has been observed so far, REASON (1-2 sentences) about the single next \
action that gets closest to a complete answer. Reply with one JSON object only: {\"thought\": \"...\", \
\"action\": \"the one next step, concretely (a calculation, a lookup, a piece of analysis)\", \
\"done\": true|false}. Set done to true only when the observations already hold everything the \
answer needs.";

const SYNTH_PROMPT: &str = "Write the final answer to the request from the reasoning below. Use \
the observations as facts; answer directly, in the user's language; do not describe the process.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_read_json_or_plain_text() {
        assert_eq!(
            parse_decision(r#"{"thought": "need 6*7", "action": "compute 6*7", "done": false}"#),
            Decision {
                thought: "need 6*7".into(),
                action: "compute 6*7".into(),
                done: false
            }
        );
        let d = parse_decision("Sure: {\"thought\": \"have it\", \"done\": true}");
        assert!(d.done);
        assert_eq!(d.action, "have it");
        assert!(parse_decision("Task complete, the answer is 42").done);
        assert!(!parse_decision("look up the population").done);
    }

    #[test]
    fn near_duplicate_observations_are_similar() {
        assert!(similar(
            "Action result: 42 apples",
            "action result: 42 APPLES"
        ));
        assert!(!similar(
            "Action result: 42",
            "Action result: the clock says noon"
        ));
    }
}
