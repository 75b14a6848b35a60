//! Agents (see docs/upstream.md#catalogues-workspaces-and-memory): deterministic single-tool
//! agents. Each names one tool and the JSON Schema its input must match; executing one validates
//! the input (with the `jsonschema` crate) and submits a task with context `{agent, agent_input}`,
//! which calls the tool once with that input and answers with its output, without a model. A
//! built-in set covers the built-in tools; `<data dir>/agents.yaml` adds or replaces agents in the
//! cloud's file shape (`agents: {<id>: {name, description, category, tool, input_schema,
//! cost_per_call, timeout_seconds}}`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::core::Core;
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::tasks::SubmitTaskRequest;

/// One agent, as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct AgentInfo {
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub tool: String,
    pub input_schema: Value,
    pub cost_per_call: f64,
    pub timeout_seconds: u32,
}

/// `GET /api/v1/agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct AgentList {
    pub agents: Vec<AgentInfo>,
    pub count: usize,
    /// Why `agents.yaml` was not read, if it was not (its agents are then missing).
    pub error: Option<String>,
}

/// `POST /api/v1/agents/{id}` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct AgentExecuteRequest {
    pub input: Value,
    pub session_id: Option<String>,
    /// Accepted for the cloud's clients; the task streams like any other.
    pub stream: bool,
}

/// The 202 answer: the task that runs the agent (headers carry its workflow and session).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct AgentExecuteResponse {
    pub task_id: String,
    pub workflow_id: String,
    pub session_id: String,
    pub agent_id: String,
    pub status: String,
    pub created_at: String,
}

#[derive(Deserialize)]
struct AgentsFile {
    #[serde(default)]
    agents: BTreeMap<String, AgentEntry>,
}

#[derive(Deserialize)]
struct AgentEntry {
    name: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    category: Option<String>,
    tool: String,
    #[serde(default)]
    input_schema: Option<Value>,
    #[serde(default)]
    cost_per_call: f64,
    #[serde(default)]
    timeout_seconds: Option<u32>,
}

fn builtin() -> Vec<AgentInfo> {
    let agent =
        |id: &str, name: &str, description: &str, category: &str, tool: &str, schema: Value| {
            AgentInfo {
                id: id.into(),
                name: name.into(),
                description: description.into(),
                category: category.into(),
                tool: tool.into(),
                input_schema: schema,
                cost_per_call: 0.0,
                timeout_seconds: 30,
            }
        };
    vec![
        agent(
            "calculator",
            "Calculator",
            "Evaluates an arithmetic expression exactly.",
            "math",
            "calculator",
            json!({"type": "object", "required": ["expression"], "additionalProperties": false,
                   "properties": {"expression": {"type": "string", "minLength": 1, "maxLength": 1000}}}),
        ),
        agent(
            "clock",
            "Clock",
            "The current date and time in a time zone.",
            "utility",
            "clock",
            json!({"type": "object", "additionalProperties": false,
                   "properties": {"timezone": {"type": "string"}}}),
        ),
        agent(
            "web_search",
            "Web search",
            "The top web results for a query, through the search API the user set up.",
            "search",
            "web_search",
            json!({"type": "object", "required": ["query"], "additionalProperties": false,
                   "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 500},
                                  "max_results": {"type": "integer", "minimum": 1, "maximum": 10}}}),
        ),
        agent(
            "page_reader",
            "Page reader",
            "A web page's title and readable text.",
            "retrieval",
            "web_fetch",
            json!({"type": "object", "required": ["url"], "additionalProperties": false,
                   "properties": {"url": {"type": "string", "pattern": "^https?://"}}}),
        ),
    ]
}

/// The built-in agents with the file's added or replacing them, and why the file did not read.
fn load(core: &Core) -> (Vec<AgentInfo>, Option<String>) {
    let mut agents = builtin();
    let path = core.data_dir().join("agents.yaml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return (agents, None);
    };
    let file: AgentsFile = match serde_yaml_ng::from_str(&text) {
        Ok(f) => f,
        Err(e) => return (agents, Some(format!("agents.yaml: {e}"))),
    };
    let mut error = None;
    for (id, e) in file.agents {
        let valid_id = !id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let schema = e.input_schema.unwrap_or_else(|| json!({"type": "object"}));
        if !valid_id {
            error = Some(format!(
                "agents.yaml: agent id {id:?} must be a-z A-Z 0-9 - _"
            ));
            continue;
        }
        if let Err(why) = jsonschema::validator_for(&schema) {
            error = Some(format!("agents.yaml: {id}.input_schema: {why}"));
            continue;
        }
        agents.retain(|a| a.id != id);
        agents.push(AgentInfo {
            name: e.name.unwrap_or_else(|| id.clone()),
            id,
            description: e.description,
            category: e.category.unwrap_or_else(|| "general".into()),
            tool: e.tool,
            input_schema: schema,
            cost_per_call: e.cost_per_call,
            timeout_seconds: e.timeout_seconds.unwrap_or(120),
        });
    }
    agents.sort_by(|a, b| a.id.cmp(&b.id));
    (agents, error)
}

/// Why `input` does not match `schema`: every violation, with where it is.
pub fn check_input(schema: &Value, input: &Value) -> Result<()> {
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| ShannonError::Internal(format!("the agent's input_schema: {e}")))?;
    let problems: Vec<String> = validator
        .iter_errors(input)
        .take(10)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                format!("input: {e}")
            } else {
                format!("input{at}: {e}")
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ShannonError::invalid(problems.join("; ")))
    }
}

impl Core {
    /// The built-in agents and those of `<data dir>/agents.yaml` (the same for every user); a file
    /// that does not read is reported in `error`, not as a failure.
    pub async fn list_agents(&self, _caller: &Caller) -> Result<AgentList> {
        let (agents, error) = load(self);
        Ok(AgentList {
            count: agents.len(),
            agents,
            error,
        })
    }

    /// One agent by id; `not_found` if there is none.
    pub async fn get_agent(&self, _caller: &Caller, id: &str) -> Result<AgentInfo> {
        self.agent_by_id(id)
    }

    /// Agents are the same for every user of a data dir.
    pub(crate) fn agent_by_id(&self, id: &str) -> Result<AgentInfo> {
        load(self)
            .0
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| ShannonError::NotFound(format!("agent {id}")))
    }

    /// Validates the input and submits the task that runs the agent.
    pub async fn execute_agent(
        &self,
        caller: &Caller,
        id: &str,
        req: AgentExecuteRequest,
    ) -> Result<AgentExecuteResponse> {
        let agent = self.get_agent(caller, id).await?;
        let input = match req.input {
            Value::Null => Value::Object(Map::new()),
            v => v,
        };
        check_input(&agent.input_schema, &input)?;
        // As the cloud's: the session id the client sent comes back (it names the same session).
        let asked_session = req.session_id.clone().filter(|s| !s.trim().is_empty());
        let mut context = Map::new();
        context.insert("agent".into(), Value::String(agent.id.clone()));
        context.insert("agent_input".into(), input.clone());
        let submitted = self
            .submit_task(
                caller,
                SubmitTaskRequest {
                    query: format!("Execute agent {}: {input}", agent.id),
                    session_id: req.session_id,
                    context,
                    mode: Some("simple".into()),
                    target: Some(crate::core::remote::LOCAL.into()),
                    ..SubmitTaskRequest::default()
                },
                None,
            )
            .await?;
        Ok(AgentExecuteResponse {
            task_id: submitted.task_id,
            workflow_id: submitted.workflow_id,
            session_id: asked_session.unwrap_or(submitted.session_id),
            agent_id: agent.id,
            status: "TASK_STATUS_QUEUED".into(),
            created_at: submitted.created_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked_against_the_schema_with_where_they_fail() {
        let calc = &builtin()[0].input_schema;
        check_input(calc, &json!({"expression": "1+1"})).unwrap();
        let e = check_input(calc, &json!({"expression": 5}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("input/expression"), "{e}");
        let e = check_input(calc, &json!({})).unwrap_err().to_string();
        assert!(e.contains("expression"), "{e}");
        let e = check_input(calc, &json!({"expression": "1", "extra": true}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("extra"), "{e}");
        for a in builtin() {
            jsonschema::validator_for(&a.input_schema).unwrap();
        }
    }
}
