//! How a task runs, decided once: [`Strategy::decide`] reads the request's mode and its routing
//! flags (`force_swarm`, `force_research`, `cognitive_strategy`, `skip_synthesis`, `agent`, review)
//! at submission, the value is stored with the task (`tasks.strategy`), and the runner dispatches
//! on it in one place. Nothing after submission reads those flags from the raw context. The
//! planner's own choice for [`Strategy::Planned`] stays a journaled step of the run.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Simple,
    Standard,
    Complex,
    Supervisor,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Simple => "simple",
            Mode::Standard => "standard",
            Mode::Complex => "complex",
            Mode::Supervisor => "supervisor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "simple" => Some(Mode::Simple),
            "standard" => Some(Mode::Standard),
            "complex" => Some(Mode::Complex),
            "supervisor" => Some(Mode::Supervisor),
            _ => None,
        }
    }
}

pub(crate) fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "yes"),
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    }
}

pub(crate) fn str_of<'a>(ctx: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    ctx.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The cognitive strategies (see docs/upstream.md#strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cognitive {
    /// Reason, act, observe, in a loop (ReAct).
    React,
    /// Tree of thoughts: branches scored and explored best first.
    Exploratory,
    /// Hypotheses, a debate between them, and their implications.
    Scientific,
    /// Web research with sources (also `force_research`).
    Research,
}

impl Cognitive {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "react" => Some(Self::React),
            "exploratory" | "tree_of_thoughts" => Some(Self::Exploratory),
            "scientific" => Some(Self::Scientific),
            "research" | "deep_research" => Some(Self::Research),
            _ => None,
        }
    }
}

/// What answers a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Strategy {
    /// A deterministic agent of the catalogue (`context.agent`): its tool, no model. `team` when
    /// the request's mode plans: the run then starts without the session's history and without
    /// asking for approval before it starts, as a team does.
    Agent { name: String, team: bool },
    /// One model call.
    Simple,
    /// The model/tool loop.
    Standard,
    /// A planner decides during the run (journaled): the DAG of its subtasks, the simple route, or
    /// the cognitive strategy its plan names.
    Planned,
    /// A cognitive strategy the request names outright (`cognitive_strategy`).
    Cognitive { strategy: Cognitive },
    /// Web research with sources (`force_research`, or `cognitive_strategy: research`); with
    /// `review`, the user confirms the research plan first.
    Research { review: bool },
    /// A lead and its agents in rounds, with a task board (`force_swarm`).
    Swarm,
    /// The supervisor's team (`mode: supervisor`).
    Supervisor,
}

impl Strategy {
    /// The strategy of a validated request: `requested` is its mode (explicit, or the default the
    /// request implies), `ctx` its context with presets applied.
    pub fn decide(requested: Mode, ctx: &Map<String, Value>) -> Self {
        let flag = |key: &str| truthy(ctx.get(key));
        let asked = str_of(ctx, "cognitive_strategy").and_then(Cognitive::parse);
        let mode = match requested {
            // As the cloud's router: `skip_synthesis` answers in one call, without a plan.
            Mode::Complex if flag("skip_synthesis") => Mode::Simple,
            // A swarm, research, or a named cognitive strategy is a team's work in any mode that
            // plans.
            Mode::Standard | Mode::Simple if flag("force_swarm") || flag("force_research") => {
                Mode::Complex
            }
            Mode::Standard if asked.is_some() => Mode::Complex,
            mode => mode,
        };
        if let Some(name) = str_of(ctx, "agent") {
            return Self::Agent {
                name: name.to_string(),
                team: !matches!(mode, Mode::Simple | Mode::Standard),
            };
        }
        match mode {
            Mode::Simple => Self::Simple,
            Mode::Standard => Self::Standard,
            Mode::Supervisor => Self::Supervisor,
            Mode::Complex if flag("force_swarm") => Self::Swarm,
            Mode::Complex if flag("force_research") || asked == Some(Cognitive::Research) => {
                let manual =
                    str_of(ctx, "review_plan").is_some_and(|v| v.eq_ignore_ascii_case("manual"));
                Self::Research {
                    review: flag("force_research") && (flag("require_review") || manual),
                }
            }
            Mode::Complex => match asked {
                Some(strategy) => Self::Cognitive { strategy },
                None => Self::Planned,
            },
        }
    }

    /// One agent answering in the session's conversation (not a team).
    pub fn is_one_agent(&self) -> bool {
        matches!(
            self,
            Self::Simple | Self::Standard | Self::Agent { team: false, .. }
        )
    }

    /// A stored task's strategy: the stored value, or for a task stored before strategies were,
    /// what its stored mode and context decide.
    pub fn of_stored(stored: Option<&str>, mode: &str, context: &str) -> Self {
        Self::from_json(stored).unwrap_or_else(|| {
            let ctx = serde_json::from_str::<Map<String, Value>>(context).unwrap_or_default();
            Self::decide(Mode::parse(mode).unwrap_or(Mode::Simple), &ctx)
        })
    }

    /// Stored form (`tasks.strategy`).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the stored form; `None` for a task stored before strategies were (its context decides).
    pub fn from_json(text: Option<&str>) -> Option<Self> {
        text.and_then(|t| serde_json::from_str(t).ok())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn decide(mode: Mode, ctx: Value) -> Strategy {
        Strategy::decide(mode, ctx.as_object().unwrap())
    }

    #[test]
    fn modes_and_flags_pick_one_strategy() {
        assert_eq!(decide(Mode::Simple, json!({})), Strategy::Simple);
        assert_eq!(decide(Mode::Standard, json!({})), Strategy::Standard);
        assert_eq!(decide(Mode::Complex, json!({})), Strategy::Planned);
        assert_eq!(
            decide(Mode::Supervisor, json!({"force_swarm": true})),
            Strategy::Supervisor
        );
        assert_eq!(
            decide(Mode::Simple, json!({"force_swarm": "true"})),
            Strategy::Swarm
        );
        assert_eq!(
            decide(
                Mode::Complex,
                json!({"skip_synthesis": true, "force_swarm": true})
            ),
            Strategy::Simple
        );
        assert_eq!(
            decide(
                Mode::Standard,
                json!({"cognitive_strategy": "tree_of_thoughts"})
            ),
            Strategy::Cognitive {
                strategy: Cognitive::Exploratory
            }
        );
        // A simple request keeps its one call even when it names a cognitive strategy.
        assert_eq!(
            decide(Mode::Simple, json!({"cognitive_strategy": "react"})),
            Strategy::Simple
        );
    }

    #[test]
    fn research_and_its_review() {
        assert_eq!(
            decide(Mode::Simple, json!({"force_research": true})),
            Strategy::Research { review: false }
        );
        assert_eq!(
            decide(
                Mode::Complex,
                json!({"force_research": 1, "review_plan": "Manual"})
            ),
            Strategy::Research { review: true }
        );
        // Only a forced research task is reviewed, as the cloud does.
        assert_eq!(
            decide(
                Mode::Complex,
                json!({"cognitive_strategy": "research", "require_review": true})
            ),
            Strategy::Research { review: false }
        );
    }

    #[test]
    fn an_agent_runs_alone_or_as_a_team_and_round_trips() {
        let s = decide(Mode::Standard, json!({"agent": "calc"}));
        assert_eq!(
            s,
            Strategy::Agent {
                name: "calc".into(),
                team: false
            }
        );
        assert!(s.is_one_agent());
        let t = decide(Mode::Complex, json!({"agent": "calc"}));
        assert!(!t.is_one_agent());
        assert_eq!(Strategy::from_json(Some(&t.to_json())), Some(t));
        assert_eq!(Strategy::from_json(None), None);
    }
}
