//! What a fake task "does": a scripted list of events published one by one with a delay, with a
//! pause/cancel checkpoint before each, and how it ends.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

/// One event the task publishes.
#[derive(Clone, Debug, Deserialize)]
pub struct Step {
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub payload: Option<Value>,
}

impl Step {
    pub fn new(event_type: &str, agent_id: &str, message: &str) -> Self {
        Self {
            event_type: event_type.into(),
            agent_id: Some(agent_id.into()).filter(|a: &String| !a.is_empty()),
            message: message.into(),
            payload: None,
        }
    }

    pub fn with_payload(mut self, payload: Value) -> Self {
        self.payload = Some(payload);
        self
    }
}

/// How the task ends once its steps are out.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Outcome {
    Completed,
    /// `TASK_STATUS_FAILED` with this error; the cloud emits no WORKFLOW_FAILED.
    Failed {
        error: String,
    },
}

#[derive(Clone, Debug, Deserialize)]
pub struct Script {
    pub steps: Vec<Step>,
    /// Pause before each step (and its checkpoint).
    #[serde(rename = "delay_ms", deserialize_with = "millis")]
    pub delay: Duration,
    pub outcome: Outcome,
}

fn millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

impl Script {
    /// A simple task's answer: WORKFLOW_STARTED, AGENT_STARTED, LLM_PROMPT, `deltas` LLM_PARTIAL
    /// chunks of `answer`, LLM_OUTPUT (agent `final_output`), WORKFLOW_COMPLETED, STREAM_END.
    pub fn answer(answer: &str, deltas: usize, delay: Duration) -> Self {
        let mut steps = vec![
            Step::new("WORKFLOW_STARTED", "orchestrator", "Starting up")
                .with_payload(json!({"task_context": {}})),
            Step::new("AGENT_STARTED", "simple-agent", "Agent started"),
            Step::new("LLM_PROMPT", "simple-agent", "the prompt (never persisted)"),
        ];
        for chunk in split_into(answer, deltas) {
            steps.push(Step::new("LLM_PARTIAL", "simple-agent", &chunk));
        }
        steps.push(
            Step::new("LLM_OUTPUT", "final_output", answer)
                .with_payload(json!({"tokens_used": 150, "model_used": "gpt-5-mini"})),
        );
        steps.push(Step::new("WORKFLOW_COMPLETED", "orchestrator", "All done"));
        steps.push(Step::new("STREAM_END", "orchestrator", "Done"));
        Self {
            steps,
            delay,
            outcome: Outcome::Completed,
        }
    }

    /// A failure as the cloud shows one: ERROR_OCCURRED, then nothing (no WORKFLOW_FAILED, no
    /// STREAM_END); only `GET /tasks/{id}` says FAILED.
    pub fn failing(error: &str, delay: Duration) -> Self {
        Self {
            steps: vec![
                Step::new("WORKFLOW_STARTED", "orchestrator", "Starting up"),
                Step::new("AGENT_STARTED", "simple-agent", "Agent started"),
                Step::new("ERROR_OCCURRED", "simple-agent", error),
            ],
            delay,
            outcome: Outcome::Failed {
                error: error.into(),
            },
        }
    }

    /// Inserts a step before the final LLM_OUTPUT (or at the end).
    pub fn insert_before_output(mut self, step: Step) -> Self {
        let at = self
            .steps
            .iter()
            .position(|s| s.event_type == "LLM_OUTPUT")
            .unwrap_or(self.steps.len());
        self.steps.insert(at, step);
        self
    }

    /// The approval gate as v0.5.1 emits it: a message, **no approval id**.
    pub fn with_approval_request(self) -> Self {
        self.insert_before_output(Step::new(
            "APPROVAL_REQUESTED",
            "orchestrator",
            "Needs approval: the plan calls a paid tool",
        ))
    }

    /// The final answer: the `final_output` LLM_OUTPUT, else the deltas joined.
    pub fn result(&self) -> String {
        if let Some(s) = self.steps.iter().find(|s| s.event_type == "LLM_OUTPUT") {
            return s.message.clone();
        }
        self.steps
            .iter()
            .filter(|s| s.event_type == "LLM_PARTIAL")
            .map(|s| s.message.as_str())
            .collect()
    }
}

/// Splits `text` into exactly `n` non-empty chunks at char boundaries (fewer only if it is shorter).
fn split_into(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let n = n.clamp(1, chars.len().max(1));
    let (base, extra) = (chars.len() / n, chars.len() % n);
    let mut out = Vec::with_capacity(n);
    let mut at = 0;
    for i in 0..n {
        let len = base + usize::from(i < extra);
        out.push(chars[at..at + len].iter().collect());
        at += len;
    }
    out
}
