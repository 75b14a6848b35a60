//! The step journal: before the engine acts on a step's result it stores that result, keyed by the
//! step's place in the task, in the same transaction as the step's events and token usage. A resumed
//! run takes completed steps from here instead of calling the provider or the tool again, so a crash
//! repeats at most the one step that was in flight.
//!
//! Step keys are paths, so nested work has room: `context`, `call/1`, `call/1/tool/0`, and for the
//! multi-agent strategies `plan`, `subtask/task-2/call/3`, `subtask/task-2/call/3/tool/1`,
//! `synthesis/call/1`, `approval/plan`.

use std::collections::HashMap;
use std::fmt::Display;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::core::Core;
use crate::core::error::{Result, ShannonError};
use crate::core::store;
use crate::core::streams::{NewEvent, StepRecord, UsageRow};

/// Where a step sits in its task: a `/`-separated path of names and indices.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StepKey(String);

impl StepKey {
    /// A top-level step without an index (`context`, `plan`).
    pub fn named(name: &str) -> Self {
        Self(name.to_string())
    }

    /// A top-level indexed step (`call/3`, `subtask/task-2`).
    pub fn new(name: &str, index: impl Display) -> Self {
        Self(format!("{name}/{index}"))
    }

    /// A step inside this one (`call/3` then `tool/0` is `call/3/tool/0`).
    pub fn then(&self, name: &str, index: impl Display) -> Self {
        Self(format!("{}/{name}/{index}", self.0))
    }

    /// A named step inside this one without an index (`call/3` then `stopped` is `call/3/stopped`).
    pub fn then_named(&self, name: &str) -> Self {
        Self(format!("{}/{name}", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Display for StepKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of work a step did; stored with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Context,
    ModelCall,
    ToolCall,
    /// A multi-agent task's plan.
    Plan,
    /// A subtask's finished result (its calls are journaled inside it).
    Subtask,
    /// The user's answer to an approval request.
    Approval,
}

impl StepKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            StepKind::Context => "context",
            StepKind::ModelCall => "model_call",
            StepKind::ToolCall => "tool_call",
            StepKind::Plan => "plan",
            StepKind::Subtask => "subtask",
            StepKind::Approval => "approval",
        }
    }
}

/// The completed steps of one task, loaded when its run starts.
#[derive(Debug, Default)]
pub(crate) struct Journal {
    task_id: String,
    workflow_id: String,
    done: HashMap<String, (String, Value)>,
}

impl Journal {
    pub async fn load(core: &Core, task_id: &str, workflow_id: &str) -> Result<Self> {
        let id = task_id.to_string();
        let done = core
            .store()
            .read(move |c| {
                let mut done = HashMap::new();
                for row in store::steps::list_for_task(c, &id)? {
                    let key = row.step_key;
                    let value = serde_json::from_str(&row.result).map_err(|e| {
                        ShannonError::Database(format!("journal step {key} is unreadable: {e}"))
                    })?;
                    done.insert(key, (row.kind, value));
                }
                Ok(done)
            })
            .await?;
        Ok(Self {
            task_id: task_id.to_string(),
            workflow_id: workflow_id.to_string(),
            done,
        })
    }

    /// Steps completed before this run and not yet taken back.
    pub fn pending(&self) -> usize {
        self.done.len()
    }

    /// True while the run is retracing steps an earlier run completed: their events are stored
    /// already, so nothing is emitted again.
    pub fn is_replaying(&self) -> bool {
        !self.done.is_empty()
    }

    /// How many completed steps of `kind` the journal holds (and not yet taken back).
    pub fn count(&self, kind: StepKind) -> usize {
        self.done
            .values()
            .filter(|(k, _)| k == kind.as_str())
            .count()
    }

    /// Takes back a step an earlier run completed. The first step not found ends the replay: the
    /// run is live from there, and steps it would only reach by another path are forgotten.
    pub fn replay<T: DeserializeOwned>(&mut self, key: &StepKey) -> Result<Option<T>> {
        match self.done.remove(key.as_str()) {
            None => {
                self.done.clear();
                Ok(None)
            }
            Some((_, value)) => serde_json::from_value(value).map(Some).map_err(|e| {
                ShannonError::Database(format!("journal step {key} does not fit this build: {e}"))
            }),
        }
    }

    /// Hands the remaining steps over to a strategy whose agents take them by key, in any order.
    pub fn into_steps(self) -> HashMap<String, Value> {
        self.done.into_iter().map(|(k, (_, v))| (k, v)).collect()
    }

    /// Stores a completed step with its events and token usage, in one transaction, and returns once
    /// it is durable.
    pub async fn record<T: Serialize>(
        &self,
        core: &Core,
        key: &StepKey,
        kind: StepKind,
        result: &T,
        events: Vec<NewEvent>,
        usage: Option<UsageRow>,
    ) -> Result<()> {
        let step = step_record(&self.task_id, key, kind, result, usage)?;
        core.engine()
            .hub
            .commit_step(&self.workflow_id, events, step)
            .await
    }
}

/// A completed step as the writer stores it.
pub(crate) fn step_record<T: Serialize>(
    task_id: &str,
    key: &StepKey,
    kind: StepKind,
    result: &T,
    usage: Option<UsageRow>,
) -> Result<StepRecord> {
    Ok(StepRecord {
        task_id: task_id.to_string(),
        step_key: key.as_str().to_string(),
        kind: kind.as_str(),
        result: serde_json::to_value(result)?,
        usage,
    })
}

#[cfg(test)]
mod tests {
    use super::StepKey;

    #[test]
    fn keys_nest_as_paths() {
        let call = StepKey::new("call", 3);
        assert_eq!(call.as_str(), "call/3");
        assert_eq!(call.then("tool", 0).as_str(), "call/3/tool/0");
        let sub = StepKey::new("subtask", "task-2").then("call", 3);
        assert_eq!(sub.as_str(), "subtask/task-2/call/3");
        assert_eq!(StepKey::named("plan").as_str(), "plan");
    }
}
