//! A swarm's state, journaled whole after every round: the task board, the agents with their
//! mailboxes and results, the shared workspace, the lead's inbox, and the budget counters.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// One entry of the task board (the cloud's `SwarmTask`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SwarmTask {
    pub id: String,
    pub description: String,
    /// `pending`, `in_progress` or `completed`.
    pub status: String,
    pub owner: Option<String>,
    pub created_by: String,
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// A message between the lead and the agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Message {
    pub from: String,
    pub to: String,
    pub content: String,
}

/// What an agent shared with the team (WORKSPACE_UPDATED).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub topic: String,
    pub author: String,
    pub content: String,
}

/// One agent of the swarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Member {
    pub id: String,
    pub role: String,
    /// `running` (it has a task), `idle` (waiting for one) or `completed` (shut down).
    pub status: String,
    pub task_id: Option<String>,
    pub iterations: u32,
    /// What it reported when it last finished a task.
    pub result: Option<String>,
    /// Its earlier steps, briefly, so its next turn goes on from them.
    pub notes: Vec<String>,
    /// Messages not yet read.
    pub inbox: Vec<Message>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Board {
    pub round: u32,
    pub tasks: Vec<SwarmTask>,
    pub members: Vec<Member>,
    pub workspace: Vec<Entry>,
    pub lead_inbox: Vec<Message>,
    /// Human messages the lead has read (by their seq).
    pub human_seen: i64,
    pub llm_calls: u64,
    /// When the swarm started (RFC 3339), for the wall-clock budget.
    pub started_at: String,
}

impl Board {
    pub fn task(&self, id: &str) -> Option<&SwarmTask> {
        self.tasks.iter().find(|t| t.id == id)
    }

    pub fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    /// A new task id (`t-<n>`) not on the board yet.
    pub fn next_task_id(&self) -> String {
        (self.tasks.len() + 1..)
            .map(|n| format!("t-{n}"))
            .find(|id| self.task(id).is_none())
            .unwrap_or_default()
    }

    /// Whether every task this one depends on is completed.
    pub fn ready(&self, task: &SwarmTask) -> bool {
        task.depends_on
            .iter()
            .all(|d| self.task(d).is_none_or(|t| t.status == "completed"))
    }

    /// The TASKLIST_UPDATED payload: the whole list.
    pub fn task_list(&self) -> Value {
        json!({"tasks": self.tasks})
    }

    /// What the lead sees of the agents.
    pub fn agent_states(&self) -> Value {
        self.members
            .iter()
            .map(|m| {
                json!({"agent_id": m.id, "role": m.role, "status": m.status, "current_task": m.task_id,
                       "iterations_used": m.iterations, "result": m.result})
            })
            .collect()
    }

    pub fn working(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.status == "running")
    }
}
