//! The tool registry: tools the `standard` loop may call, an allow/block list, and a per-task cache
//! of results (the same call with the same arguments runs once).

pub mod app;
pub(crate) mod file_tools;
pub mod web_fetch;
pub mod web_search;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::core::files::Workspace;
use crate::core::llm::ToolSpec;
use crate::core::mcp::{McpHub, McpTool};
use app::AppTools;
use web_fetch::FetchLimits;
use web_search::SearchTarget;

/// A tool's output; `success = false` carries an error text the model can read and recover from.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    pub success: bool,
    pub output: String,
}

type ToolFn = fn(&Value) -> ToolOutcome;

struct Tool {
    spec: fn() -> ToolSpec,
    run: ToolFn,
}

const TOOLS: &[(&str, Tool)] = &[
    (
        "calculator",
        Tool {
            spec: calculator_spec,
            run: calculator,
        },
    ),
    (
        "clock",
        Tool {
            spec: clock_spec,
            run: clock,
        },
    ),
];

/// Names of every built-in tool (the file tools among them, offered when a task has a workspace).
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    TOOLS
        .iter()
        .map(|(n, _)| *n)
        .chain(file_tools::FILE_TOOLS.iter().map(|(n, ..)| *n))
        .chain([WEB_FETCH, WEB_SEARCH])
}

const WEB_FETCH: &str = "web_fetch";
const WEB_SEARCH: &str = "web_search";

/// The spec of any built-in tool, offered to a task or not (the tool catalogue's).
pub fn spec_of(name: &str) -> Option<ToolSpec> {
    if let Some((_, tool)) = TOOLS.iter().find(|(n, _)| *n == name) {
        return Some((tool.spec)());
    }
    match name {
        WEB_FETCH => Some(web_fetch::spec()),
        WEB_SEARCH => Some(web_search::spec()),
        n if is_file_tool(n) => file_tools::spec(n),
        _ => None,
    }
}

fn is_file_tool(name: &str) -> bool {
    file_tools::FILE_TOOLS.iter().any(|(n, ..)| *n == name)
}

/// The tools one task may use, with its result cache.
#[derive(Clone)]
pub struct ToolBox {
    allowed: Vec<&'static str>,
    /// The lists `allowed` came from, for tools that join later (MCP servers').
    allow: Option<Vec<String>>,
    block: Vec<String>,
    /// MCP servers' tools this task may use, and the hub that calls them.
    mcp: Vec<McpTool>,
    hub: Option<Arc<McpHub>>,
    /// The app's tools, and the names of those this task may use.
    apps: Arc<AppTools>,
    app_allowed: Vec<String>,
    cache: HashMap<(String, String), ToolOutcome>,
    /// The session's workspace, where the file tools work; without one they are not offered.
    workspace: Option<Workspace>,
    /// The user's memory folder, which the reading file tools see as `/memory/`.
    memory: Option<Workspace>,
    /// How `web_fetch` may reach the web; without it the tool is not offered.
    web: Option<FetchLimits>,
    /// The search API `web_search` uses; without one the tool is not offered.
    search: Option<SearchTarget>,
}

impl ToolBox {
    /// `allow`: if set, only these; `block`: never these.
    pub fn new(allow: Option<&[String]>, block: &[String]) -> Self {
        let allowed = builtin_names()
            .filter(|n| allow.is_none_or(|a| a.iter().any(|x| x == n)))
            .filter(|n| !block.iter().any(|x| x == n))
            .collect();
        Self {
            allowed,
            allow: allow.map(<[String]>::to_vec),
            block: block.to_vec(),
            mcp: Vec::new(),
            hub: None,
            apps: Arc::default(),
            app_allowed: Vec::new(),
            cache: HashMap::new(),
            workspace: None,
            memory: None,
            web: None,
            search: None,
        }
    }

    /// MCP servers' tools join, within the same allow and block lists.
    pub fn with_mcp(mut self, hub: Arc<McpHub>, tools: Vec<McpTool>) -> Self {
        self.mcp = tools
            .into_iter()
            .filter(|t| self.allow.as_ref().is_none_or(|a| a.contains(&t.name)))
            .filter(|t| !self.block.contains(&t.name))
            .collect();
        self.hub = Some(hub);
        self
    }

    /// The embedding app's tools join, within the same allow and block lists.
    pub(crate) fn with_apps(mut self, apps: Arc<AppTools>) -> Self {
        self.app_allowed = apps
            .all()
            .iter()
            .map(|t| t.name().to_string())
            .filter(|n| self.allow.as_ref().is_none_or(|a| a.contains(n)))
            .filter(|n| !self.block.contains(n))
            .collect();
        self.apps = apps;
        self
    }

    fn mcp_tool(&self, name: &str) -> Option<&McpTool> {
        self.mcp.iter().find(|t| t.name == name)
    }

    /// `web_search` searches through this API.
    pub fn with_search(mut self, target: SearchTarget) -> Self {
        self.search = Some(target);
        self
    }

    /// Whether `web_search` is offered (a search API is set up and the tool allowed).
    pub fn can_search(&self) -> bool {
        self.offered(WEB_SEARCH)
    }

    /// The reading file tools see this folder as `/memory/` (read-only for agents).
    pub fn with_memory(mut self, memory: Workspace) -> Self {
        self.memory = Some(memory);
        self
    }

    /// `web_fetch` fetches pages within these limits.
    pub fn with_web(mut self, limits: FetchLimits) -> Self {
        self.web = Some(limits);
        self
    }

    /// Runs a tool call, awaiting the tools that go to the network (`web_fetch`, `web_search`).
    /// Returns `(outcome, from_cache)`.
    pub async fn run(&mut self, name: &str, arguments: &str) -> (ToolOutcome, bool) {
        // A server's or the app's tool may act on the world: never answered from the cache.
        if let (Some(tool), Some(hub)) = (self.mcp_tool(name), &self.hub) {
            return match object_args(arguments) {
                Ok(args) => {
                    let (success, output) = hub.call(tool, args).await;
                    (ToolOutcome { success, output }, false)
                }
                Err(refused) => (refused, false),
            };
        }
        if let Some(tool) = self.apps.get(name) {
            let outcome = if !self.app_allowed.iter().any(|n| n == name) {
                ToolOutcome {
                    success: false,
                    output: format!("tool {name:?} is not allowed for this task"),
                }
            } else {
                match object_args(arguments) {
                    Ok(args) => tool.call(Value::Object(args)).await,
                    Err(refused) => refused,
                }
            };
            return (outcome, false);
        }
        if !matches!(name, WEB_FETCH | WEB_SEARCH) || !self.offered(name) {
            return self.call(name, arguments);
        }
        let key = (name.to_string(), arguments.trim().to_string());
        if let Some(hit) = self.cache.get(&key) {
            return (hit.clone(), true);
        }
        let args = serde_json::from_str::<Value>(arguments).unwrap_or(Value::Null);
        let (success, output) = match (&self.web, &self.search) {
            (Some(limits), _) if name == WEB_FETCH => web_fetch::tool(&args, limits).await,
            (_, Some(target)) => web_search::tool(&args, target).await,
            _ => (false, format!("{name} is not available to this task")),
        };
        let outcome = ToolOutcome { success, output };
        // A failed search (a rate limit) may work later: only successes are kept.
        if outcome.success {
            self.cache.insert(key, outcome.clone());
        }
        (outcome, false)
    }

    /// The file tools work in this workspace.
    pub fn with_workspace(mut self, workspace: Workspace) -> Self {
        self.workspace = Some(workspace);
        self
    }

    /// Whether `name` is offered: allowed, and a file tool only with a workspace.
    pub fn offered(&self, name: &str) -> bool {
        if self.mcp_tool(name).is_some() || self.app_allowed.iter().any(|n| n == name) {
            return true;
        }
        self.allowed.contains(&name)
            && (self.workspace.is_some() || !is_file_tool(name))
            && (self.web.is_some() || name != WEB_FETCH)
            && (self.search.is_some() || name != WEB_SEARCH)
    }

    /// These tools, only those in `only` if given, with a cache of their own (one agent's).
    pub fn narrowed(&self, only: Option<&[String]>) -> Self {
        Self {
            allowed: self
                .allowed
                .iter()
                .copied()
                .filter(|n| only.is_none_or(|o| o.iter().any(|x| x == n)))
                .collect(),
            allow: self.allow.clone(),
            block: self.block.clone(),
            mcp: self
                .mcp
                .iter()
                .filter(|t| only.is_none_or(|o| o.contains(&t.name)))
                .cloned()
                .collect(),
            hub: self.hub.clone(),
            apps: self.apps.clone(),
            app_allowed: self
                .app_allowed
                .iter()
                .filter(|n| only.is_none_or(|o| o.contains(n)))
                .cloned()
                .collect(),
            cache: HashMap::new(),
            workspace: self.workspace.clone(),
            memory: self.memory.clone(),
            web: self.web.clone(),
            search: self.search.clone(),
        }
    }

    pub fn specs(&self) -> Vec<ToolSpec> {
        let builtin = TOOLS
            .iter()
            .filter(|(n, _)| self.offered(n))
            .map(|(_, t)| (t.spec)());
        let files = file_tools::FILE_TOOLS
            .iter()
            .filter(|(n, ..)| self.offered(n))
            .filter_map(|(n, ..)| file_tools::spec(n));
        let web = self.offered(WEB_FETCH).then(web_fetch::spec);
        let search = self.offered(WEB_SEARCH).then(web_search::spec);
        let mcp = self.mcp.iter().map(|t| t.spec.clone());
        let apps = self
            .app_allowed
            .iter()
            .filter_map(|n| self.apps.get(n))
            .map(|t| t.spec().clone());
        builtin
            .chain(files)
            .chain(search)
            .chain(web)
            .chain(mcp)
            .chain(apps)
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.mcp.is_empty()
            && self.app_allowed.is_empty()
            && !self.allowed.iter().any(|n| self.offered(n))
    }

    /// The MCP tools offered.
    pub fn mcp_tools(&self) -> &[McpTool] {
        &self.mcp
    }

    /// Runs a tool call. Returns `(outcome, from_cache)`.
    pub fn call(&mut self, name: &str, arguments: &str) -> (ToolOutcome, bool) {
        let key = (name.to_string(), arguments.trim().to_string());
        if let Some(hit) = self.cache.get(&key) {
            return (hit.clone(), true);
        }
        if let Some(ws) = self
            .workspace
            .as_ref()
            .filter(|_| is_file_tool(name) && self.allowed.contains(&name))
        {
            // File tools act on the workspace: never answered from the cache.
            let mut args = serde_json::from_str::<Value>(arguments).unwrap_or(Value::Null);
            let path = args.get("path").and_then(Value::as_str).unwrap_or_default();
            let ws = match path.strip_prefix("/memory") {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                    if !matches!(name, "file_read" | "file_list") {
                        let output = "/memory/ is read-only for agents".to_string();
                        return (
                            ToolOutcome {
                                success: false,
                                output,
                            },
                            false,
                        );
                    }
                    let rest = rest.trim_start_matches('/').to_string();
                    args["path"] = Value::String(rest);
                    match &self.memory {
                        Some(memory) => memory,
                        None => {
                            let output = "this task has no memory folder".to_string();
                            return (
                                ToolOutcome {
                                    success: false,
                                    output,
                                },
                                false,
                            );
                        }
                    }
                }
                _ => ws,
            };
            let outcome = file_tools::run(name, ws, &args).unwrap_or(ToolOutcome {
                success: false,
                output: format!("unknown tool {name:?}"),
            });
            return (outcome, false);
        }
        let outcome = match TOOLS.iter().find(|(n, _)| *n == name) {
            None if name == WEB_FETCH => ToolOutcome {
                success: false,
                output: "web_fetch is not available to this task".into(),
            },
            None if name == WEB_SEARCH => ToolOutcome {
                success: false,
                output: "web_search is not available: no search API is set up (add a Tavily, \
                         Exa, Brave or Serper key, or a SearXNG base URL)"
                    .into(),
            },
            None if is_file_tool(name) => ToolOutcome {
                success: false,
                output: format!("tool {name:?} needs a session workspace"),
            },
            None => ToolOutcome {
                success: false,
                output: format!("unknown tool {name:?}"),
            },
            Some(_) if !self.allowed.contains(&name) => ToolOutcome {
                success: false,
                output: format!("tool {name:?} is not allowed for this task"),
            },
            Some((_, tool)) => match serde_json::from_str::<Value>(if arguments.trim().is_empty() {
                "{}"
            } else {
                arguments
            }) {
                Ok(args) => (tool.run)(&args),
                Err(e) => ToolOutcome {
                    success: false,
                    output: format!("arguments are not valid JSON: {e}"),
                },
            },
        };
        self.cache.insert(key, outcome.clone());
        (outcome, false)
    }
}

/// A call's arguments as a JSON object (empty text is `{}`), or the error the model gets.
fn object_args(arguments: &str) -> Result<serde_json::Map<String, Value>, ToolOutcome> {
    let text = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ToolOutcome {
            success: false,
            output: "arguments must be a JSON object".to_string(),
        }),
    }
}

fn calculator_spec() -> ToolSpec {
    ToolSpec {
        name: "calculator".into(),
        description: "Evaluates an arithmetic expression exactly, e.g. \"(17 + 5) * 3 / 4\" or \"math::sqrt(2)\".".into(),
        parameters: json!({
            "type": "object",
            "properties": {"expression": {"type": "string", "description": "The expression to evaluate"}},
            "required": ["expression"]
        }),
    }
}

fn calculator(args: &Value) -> ToolOutcome {
    let Some(expr) = args.get("expression").and_then(Value::as_str) else {
        return ToolOutcome {
            success: false,
            output: "missing string argument \"expression\"".into(),
        };
    };
    if expr.len() > 1000 {
        return ToolOutcome {
            success: false,
            output: "expression is longer than 1000 characters".into(),
        };
    }
    // Pure evaluation: no variables can be assigned, no context is shared between calls.
    match evalexpr::eval(expr) {
        Ok(v) => ToolOutcome {
            success: true,
            output: v.to_string(),
        },
        Err(e) => ToolOutcome {
            success: false,
            output: format!("cannot evaluate {expr:?}: {e}"),
        },
    }
}

fn clock_spec() -> ToolSpec {
    ToolSpec {
        name: "clock".into(),
        description: "Returns the current date and time, in UTC or in an IANA time zone such as \"Europe/Paris\".".into(),
        parameters: json!({
            "type": "object",
            "properties": {"timezone": {"type": "string", "description": "IANA time zone name; default UTC"}}
        }),
    }
}

fn clock(args: &Value) -> ToolOutcome {
    let now = chrono::Utc::now();
    let tz = args
        .get("timezone")
        .and_then(Value::as_str)
        .unwrap_or("UTC");
    match tz.parse::<chrono_tz::Tz>() {
        Ok(zone) => {
            let local = now.with_timezone(&zone);
            ToolOutcome {
                success: true,
                output: format!("{} ({tz}, {})", local.to_rfc3339(), local.format("%A")),
            }
        }
        Err(_) => ToolOutcome {
            success: false,
            output: format!("unknown time zone {tz:?}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calculator_clock_allow_block_and_cache() {
        let mut tb = ToolBox::new(None, &[]);
        assert_eq!(tb.specs().len(), 2);
        let (o, cached) = tb.call("calculator", r#"{"expression": "(17 + 5) * 3"}"#);
        assert_eq!((o.success, o.output.as_str(), cached), (true, "66", false));
        assert!(tb.call("calculator", r#"{"expression": "(17 + 5) * 3"}"#).1);
        assert!(!tb.call("calculator", r#"{"expression": "1 +"}"#).0.success);
        assert!(!tb.call("calculator", "not json").0.success);
        assert!(
            tb.call("clock", r#"{"timezone": "Europe/Paris"}"#)
                .0
                .success
        );
        assert!(!tb.call("clock", r#"{"timezone": "Mars/Base"}"#).0.success);
        assert!(!tb.call("nosuch", "{}").0.success);

        let mut blocked = ToolBox::new(None, &["clock".to_string()]);
        assert_eq!(blocked.specs().len(), 1);
        assert!(!blocked.call("clock", "{}").0.success);
        let only = ToolBox::new(Some(&["clock".to_string()]), &[]);
        assert_eq!(only.specs()[0].name, "clock");
    }
}
