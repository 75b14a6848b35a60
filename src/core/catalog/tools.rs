//! The tool catalogue (see docs/upstream.md#catalogues-workspaces-and-memory): every tool
//! (built-in, an MCP server's, the embedding app's) with its parameters as JSON Schema, its
//! category, timeout and cost, whether it is dangerous and whether it is set up for this user; and
//! running one tool directly, outside a task, as `POST /tools/{name}/execute` does. A dangerous
//! tool runs directly only when the user let it through without asking (a tool grant for the
//! session or always); otherwise it is refused (403), as in the cloud.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::core::Core;
use crate::core::auth::Caller;
use crate::core::error::{Result, ShannonError};
use crate::core::run::setup;
use crate::core::tools::app::AppTool;
use crate::core::tools::{ToolBox, builtin_names, spec_of};

/// One tool, as `GET /api/v1/tools/{name}` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ToolInfo {
    pub name: String,
    pub description: String,
    pub category: String,
    pub version: String,
    /// JSON Schema of the arguments.
    pub parameters: Value,
    pub dangerous: bool,
    pub timeout_seconds: u32,
    pub cost_per_use: f64,
    /// Set up for this user now (web_search needs a search API, the file tools a session; a
    /// blocked tool is not).
    pub available: bool,
    /// Where the tool comes from.
    pub source: ToolSource,
}

/// Where a tool comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ToolSource {
    /// Built into the engine.
    Builtin,
    /// A configured MCP server.
    Mcp,
    /// The embedding app, registered in Rust.
    App,
}

/// `POST /api/v1/tools/{name}/execute` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct ToolExecuteRequest {
    pub arguments: Map<String, Value>,
    pub session_id: Option<String>,
}

/// What a direct tool call returned. A tool that fails still answers (`success: false`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct ToolExecution {
    pub success: bool,
    /// The output as JSON when it is JSON, else as text.
    pub output: Value,
    pub text: String,
    pub error: Option<String>,
    pub metadata: Map<String, Value>,
    pub execution_time_ms: u64,
}

/// Category and timeout of each built-in tool (the cloud's categories and timeouts).
fn traits(name: &str) -> (&'static str, u32) {
    match name {
        "calculator" => ("math", 5),
        "clock" => ("utility", 5),
        "web_search" => ("search", 20),
        "web_fetch" => ("retrieval", 15),
        _ => ("file", 10),
    }
}

/// An MCP server's tool in the catalogue.
fn mcp_info(t: &crate::core::mcp::McpTool) -> ToolInfo {
    ToolInfo {
        name: t.name.clone(),
        description: t.spec.description.clone(),
        category: "mcp".into(),
        version: "1.0.0".into(),
        parameters: t.spec.parameters.clone(),
        dangerous: t.dangerous,
        timeout_seconds: 60,
        cost_per_use: 0.0,
        available: true,
        source: ToolSource::Mcp,
    }
}

/// One of the app's tools in the catalogue; available when this user's lists let it through.
fn app_info(t: &AppTool, tools: &ToolBox) -> ToolInfo {
    let spec = t.spec();
    ToolInfo {
        name: spec.name.clone(),
        description: spec.description.clone(),
        category: "app".into(),
        version: "1.0.0".into(),
        parameters: spec.parameters.clone(),
        dangerous: t.is_dangerous(),
        timeout_seconds: t.timeout_secs(),
        cost_per_use: 0.0,
        available: tools.offered(&spec.name),
        source: ToolSource::App,
    }
}

impl Core {
    /// Every tool, optionally of one category; dangerous ones only with `include_dangerous`.
    pub async fn list_tools(
        &self,
        caller: &Caller,
        category: Option<&str>,
        include_dangerous: bool,
    ) -> Result<Vec<ToolInfo>> {
        let tools = setup::toolbox_for(self, caller, None, None, &[]).await;
        let mut out: Vec<ToolInfo> = builtin_names()
            .filter_map(|name| self.builtin_info(name, &tools))
            .collect();
        out.extend(tools.mcp_tools().iter().map(mcp_info));
        let apps = self.app_tools().all().iter();
        out.extend(apps.map(|t| app_info(t, &tools)));
        out.retain(|info| {
            (include_dangerous || !info.dangerous)
                && category.is_none_or(|c| info.category.eq_ignore_ascii_case(c))
        });
        Ok(out)
    }

    /// One tool the caller's tasks can use, built-in or from an MCP server; `not_found` otherwise.
    pub async fn get_tool(&self, caller: &Caller, name: &str) -> Result<ToolInfo> {
        let tools = setup::toolbox_for(self, caller, None, None, &[]).await;
        self.builtin_info(name, &tools)
            .or_else(|| {
                tools
                    .mcp_tools()
                    .iter()
                    .find(|t| t.name == name)
                    .map(mcp_info)
            })
            .or_else(|| self.app_tools().get(name).map(|t| app_info(t, &tools)))
            .ok_or_else(|| ShannonError::NotFound(format!("tool {name}")))
    }

    /// A built-in tool as this user's tools have it.
    fn builtin_info(&self, name: &str, tools: &ToolBox) -> Option<ToolInfo> {
        let spec = spec_of(name)?;
        let (category, timeout_seconds) = traits(name);
        // The file tools work in any session's workspace; the others as the user's settings say.
        let available = category == "file" || tools.offered(name);
        Some(ToolInfo {
            name: spec.name,
            description: spec.description,
            category: category.into(),
            version: "1.0.0".into(),
            parameters: spec.parameters,
            dangerous: self.tool_is_dangerous(name),
            timeout_seconds,
            cost_per_use: 0.0,
            available,
            source: ToolSource::Builtin,
        })
    }

    /// Runs one tool now. The file tools work in `session_id`'s workspace (one of the caller's).
    pub async fn execute_tool(
        &self,
        caller: &Caller,
        name: &str,
        req: ToolExecuteRequest,
    ) -> Result<ToolExecution> {
        let info = self.get_tool(caller, name).await?;
        let session = match &req.session_id {
            Some(id) => Some(self.get_session(caller, id).await?.session_id),
            None => None,
        };
        if info.dangerous
            && !self
                .tool_granted(&caller.user_id, session.as_deref(), name)
                .await?
        {
            return Err(ShannonError::PermissionDenied(format!(
                "{name} is a dangerous tool: allow it first (a tool grant for the session or always)"
            )));
        }
        let mut tools = setup::toolbox_for(self, caller, session.as_deref(), None, &[]).await;
        let started = Instant::now();
        let arguments = Value::Object(req.arguments).to_string();
        let (outcome, _) = tools.run(name, &arguments).await;
        let execution_time_ms = started.elapsed().as_millis() as u64;
        let output = serde_json::from_str::<Value>(&outcome.output)
            .ok()
            .filter(|v| v.is_object() || v.is_array())
            .unwrap_or_else(|| Value::String(outcome.output.clone()));
        let mut metadata = Map::new();
        metadata.insert("tool".into(), Value::String(name.into()));
        Ok(ToolExecution {
            success: outcome.success,
            error: (!outcome.success).then(|| outcome.output.clone()),
            text: outcome.output,
            output,
            metadata,
            execution_time_ms,
        })
    }
}
