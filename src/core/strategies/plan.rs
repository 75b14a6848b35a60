//! The task plan (see docs/upstream.md#routing-and-planning): parsed tolerantly from the planner's
//! answer, validated (known dependencies, no cycle, unique ids), with the fallback plan for a
//! planner that fails, the execution pattern it implies, and the stable agent names of a task's
//! subtasks.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One subtask of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subtask {
    pub id: String,
    pub description: String,
    #[serde(default)]
    pub dependencies: Vec<String>,
    #[serde(default)]
    pub suggested_tools: Vec<String>,
    #[serde(default)]
    pub task_type: String,
    /// The agent's role (`agent_types[i]` of the plan, or the subtask's own `role`); may be empty.
    #[serde(default)]
    pub role: String,
}

/// How the subtasks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    /// All at once (up to the concurrency limit).
    Parallel,
    /// One after another, each seeing the earlier results.
    Sequential,
    /// Each as soon as its dependencies are done.
    Hybrid,
}

/// A validated plan, as journaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub complexity_score: f64,
    pub subtasks: Vec<Subtask>,
    /// The plan's `execution_strategy` (reported as `metadata.execution_mode`).
    pub execution_strategy: String,
    pub concurrency_limit: usize,
    pub cognitive_strategy: String,
    /// The planner failed and this is the one-subtask fallback ("Handling this directly").
    pub fallback: bool,
}

impl Plan {
    /// The one-subtask plan used when the planner's call or its answer fails.
    pub fn fallback(query: &str, concurrency: usize) -> Self {
        Self {
            complexity_score: 0.1,
            subtasks: vec![Subtask {
                id: "task-1".into(),
                description: query.chars().take(2000).collect(),
                dependencies: Vec::new(),
                suggested_tools: Vec::new(),
                task_type: "generic".into(),
                role: String::new(),
            }],
            execution_strategy: "parallel".into(),
            concurrency_limit: concurrency,
            cognitive_strategy: "decompose".into(),
            fallback: true,
        }
    }

    /// One subtask, the whole request (a role's plan).
    pub fn single(query: &str, concurrency: usize) -> Self {
        Self {
            complexity_score: 0.5,
            fallback: false,
            ..Self::fallback(query, concurrency)
        }
    }

    /// Any dependency makes the plan hybrid; else `sequential` if asked; else parallel (unlike the
    /// cloud's planner, an omitted strategy means parallel).
    pub fn pattern(&self) -> Pattern {
        if self.subtasks.iter().any(|s| !s.dependencies.is_empty()) {
            Pattern::Hybrid
        } else if self.execution_strategy == "sequential" {
            Pattern::Sequential
        } else {
            Pattern::Parallel
        }
    }

    /// The cloud's simple route (complexity under `simple_threshold`, 0.3): one subtask that needs
    /// no tools and no other step's output is answered in one call, without a team.
    pub fn is_simple(&self) -> bool {
        const SIMPLE_THRESHOLD: f64 = 0.3;
        self.complexity_score < SIMPLE_THRESHOLD
            && self.subtasks.len() == 1
            && self
                .subtasks
                .iter()
                .all(|s| s.suggested_tools.is_empty() && s.dependencies.is_empty())
    }

    /// The planner's PROGRESS "Got a plan — N steps", with the steps and dependency edges.
    pub(crate) fn got_event(&self) -> crate::core::streams::NewEvent {
        let n = self.subtasks.len();
        let message = if n == 1 {
            "Got a plan — 1 step".to_string()
        } else {
            format!("Got a plan — {n} steps")
        };
        crate::core::streams::NewEvent::new(
            crate::core::run::lifecycle::EventType::Progress,
            "planner",
            message,
        )
        .with_payload(self.progress_payload())
    }

    /// The PROGRESS payload of "Got a plan": steps and dependency edges.
    pub fn progress_payload(&self) -> Value {
        let plan: Vec<Value> = self
            .subtasks
            .iter()
            .map(|s| serde_json::json!({"id": s.id, "name": s.description, "type": s.task_type}))
            .collect();
        let deps: Vec<Value> = self
            .subtasks
            .iter()
            .flat_map(|s| {
                s.dependencies
                    .iter()
                    .map(move |d| serde_json::json!({"from": d, "to": s.id}))
            })
            .collect();
        serde_json::json!({"plan": plan, "deps": deps, "execution_strategy": self.execution_strategy,
                           "concurrency_limit": self.concurrency_limit})
    }
}

/// A model's JSON answer: the text itself, or the outermost `{…}` in a chatty one.
pub(crate) fn read_json(text: &str) -> Option<Value> {
    serde_json::from_str(text.trim()).ok().or_else(|| {
        let (start, end) = (text.find('{')?, text.rfind('}')?);
        serde_json::from_str(text.get(start..=end)?).ok()
    })
}

/// Parses the planner's answer (see [`read_json`]). `None` when no object can be read (the caller
/// falls back); `Err` when it reads but is not a valid plan.
pub fn parse(text: &str, query: &str, max_concurrency: usize) -> Option<Result<Plan, String>> {
    let value = read_json(text)?;
    let obj = value.as_object()?;
    let text_of = |k: &str| obj.get(k).and_then(Value::as_str).unwrap_or_default();
    let agent_types: Vec<&str> = obj
        .get("agent_types")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_str().unwrap_or_default()).collect())
        .unwrap_or_default();
    let mut subtasks = Vec::new();
    for (i, raw) in obj
        .get("subtasks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(o) = raw.as_object() else { continue };
        let strings = |k: &str| -> Vec<String> {
            o.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let description = o
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_string();
        if description.is_empty() {
            continue;
        }
        let id = o
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("task-{}", i + 1));
        subtasks.push(Subtask {
            id,
            description,
            dependencies: strings("dependencies"),
            suggested_tools: strings("suggested_tools"),
            task_type: o
                .get("task_type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            role: ["role", "agent_type"]
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_str))
                .or(agent_types.get(i).copied())
                .unwrap_or_default()
                .trim()
                .to_string(),
        });
    }
    let complexity_score = obj
        .get("complexity_score")
        .and_then(Value::as_f64)
        .unwrap_or(0.5)
        .clamp(0.0, 1.0);
    if subtasks.is_empty() {
        // The cloud's rule: no subtasks means one, the query itself.
        subtasks.push(Plan::fallback(query, 1).subtasks.remove(0));
    }
    // Unlike the cloud, an omitted limit means the configured maximum, not 1.
    let concurrency_limit = obj
        .get("concurrency_limit")
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
        .map_or(max_concurrency, |n| (n as usize).min(max_concurrency));
    let plan = Plan {
        complexity_score,
        subtasks,
        execution_strategy: match text_of("execution_strategy") {
            "" => "parallel".into(),
            s => s.to_string(),
        },
        concurrency_limit,
        cognitive_strategy: match text_of("cognitive_strategy") {
            "" => "decompose".into(),
            s => s.to_string(),
        },
        fallback: false,
    };
    Some(validate(&plan).map(|()| plan))
}

/// Unique ids, known dependencies, no cycle.
pub fn validate(plan: &Plan) -> Result<(), String> {
    let mut ids = HashSet::new();
    for s in &plan.subtasks {
        if !ids.insert(s.id.as_str()) {
            return Err(format!("duplicate subtask id {:?}", s.id));
        }
    }
    for s in &plan.subtasks {
        for d in &s.dependencies {
            if !ids.contains(d.as_str()) {
                return Err(format!("{} depends on unknown subtask {d:?}", s.id));
            }
        }
    }
    // Kahn's algorithm: whatever never becomes ready sits on a cycle.
    let mut waiting: HashMap<&str, usize> = plan
        .subtasks
        .iter()
        .map(|s| (s.id.as_str(), s.dependencies.len()))
        .collect();
    let mut ready: Vec<&str> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(id, _)| *id)
        .collect();
    let mut done = 0;
    while let Some(id) = ready.pop() {
        done += 1;
        for s in plan
            .subtasks
            .iter()
            .filter(|s| s.dependencies.iter().any(|d| d == id))
        {
            let n = waiting.get_mut(s.id.as_str()).expect("every id is counted");
            *n -= 1;
            if *n == 0 {
                ready.push(&s.id);
            }
        }
    }
    if done < plan.subtasks.len() {
        let mut stuck: Vec<&str> = waiting
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(id, _)| *id)
            .collect();
        stuck.sort_unstable();
        return Err(format!("dependency cycle among {}", stuck.join(", ")));
    }
    Ok(())
}

/// Agent names, as the cloud's (a fixed list of station names, picked by a hash of the task id and
/// the subtask's index), so a task's agents have stable, distinct, human names.
const STATIONS: &[&str] = &[
    "Ebisu",
    "Gora",
    "Ome",
    "Kamakura",
    "Hakone",
    "Nikko",
    "Atami",
    "Zushi",
    "Hayama",
    "Odawara",
    "Mito",
    "Kofu",
    "Matsumoto",
    "Nagano",
    "Takasaki",
    "Maebashi",
    "Utsunomiya",
    "Chichibu",
    "Okutama",
    "Mitake",
    "Takao",
    "Hachioji",
    "Tachikawa",
    "Kichijoji",
    "Ogikubo",
    "Nakano",
    "Shinjuku",
    "Yoyogi",
    "Harajuku",
    "Shibuya",
    "Meguro",
    "Gotanda",
    "Osaki",
    "Shinagawa",
    "Tamachi",
    "Hamamatsucho",
    "Shimbashi",
    "Yurakucho",
    "Kanda",
    "Akihabara",
    "Okachimachi",
    "Ueno",
    "Uguisudani",
    "Nippori",
    "Tabata",
    "Komagome",
    "Sugamo",
    "Otsuka",
    "Ikebukuro",
    "Mejiro",
    "Takadanobaba",
    "Shinokubo",
    "Sendagaya",
    "Shinanomachi",
    "Yotsuya",
    "Ichigaya",
    "Iidabashi",
    "Suidobashi",
    "Ochanomizu",
    "Ryogoku",
    "Kinshicho",
    "Kameido",
    "Hirai",
    "Koiwa",
    "Ichikawa",
    "Funabashi",
    "Tsudanuma",
    "Chiba",
    "Soga",
    "Kisarazu",
    "Tateyama",
    "Choshi",
    "Narita",
    "Sakura",
    "Kuragano",
];

/// The name of a task's `index`-th subtask agent.
pub fn agent_name(workflow_id: &str, index: usize) -> String {
    // FNV-1a, 32 bits.
    let mut h: u32 = 0x811c_9dc5;
    for b in workflow_id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let i = (h as usize).wrapping_add(index) % STATIONS.len();
    STATIONS[i].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(json: &str) -> Option<Result<Plan, String>> {
        parse(json, "the query", 5)
    }

    #[test]
    fn parses_tolerantly_with_the_embedded_defaults() {
        let p = plan(
            r#"Here you go: {"complexity_score": 0.7, "subtasks": [
            {"id": "a", "description": "Find A"}, {"description": "Find B", "dependencies": ["a"]},
            {"id": "c", "description": "  "}]} thanks"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.subtasks.len(), 2, "the empty one is dropped");
        assert_eq!(p.subtasks[1].id, "task-2");
        assert_eq!(p.execution_strategy, "parallel");
        assert_eq!(
            p.concurrency_limit, 5,
            "an omitted limit is the configured maximum"
        );
        assert_eq!(p.pattern(), Pattern::Hybrid);
        let p = plan(
            r#"{"subtasks": [], "concurrency_limit": 50, "execution_strategy": "sequential"}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.subtasks[0].description, "the query");
        assert_eq!((p.concurrency_limit, p.pattern()), (5, Pattern::Sequential));
        assert!(plan("no json here").is_none());
        assert!(plan("[1, 2]").is_none());
    }

    #[test]
    fn rejects_cycles_unknown_dependencies_and_duplicates() {
        let cyc = plan(
            r#"{"subtasks": [{"id": "a", "description": "x", "dependencies": ["b"]},
            {"id": "b", "description": "y", "dependencies": ["a"]}, {"id": "c", "description": "z"}]}"#,
        );
        assert_eq!(cyc.unwrap().unwrap_err(), "dependency cycle among a, b");
        let unknown =
            plan(r#"{"subtasks": [{"id": "a", "description": "x", "dependencies": ["q"]}]}"#);
        assert_eq!(
            unknown.unwrap().unwrap_err(),
            "a depends on unknown subtask \"q\""
        );
        let dup = plan(
            r#"{"subtasks": [{"id": "a", "description": "x"}, {"id": "a", "description": "y"}]}"#,
        );
        assert!(dup.unwrap().unwrap_err().contains("duplicate"));
    }

    #[test]
    fn agent_names_are_stable_and_distinct_within_a_task() {
        let names: Vec<String> = (0..5).map(|i| agent_name("task-x", i)).collect();
        assert_eq!(
            names,
            (0..5).map(|i| agent_name("task-x", i)).collect::<Vec<_>>()
        );
        let unique: HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), 5);
    }
}
