//! MCP over HTTP: the configured MCP servers' status, and `/mcp`, the engine as an MCP server
//! (streamable HTTP, through the official Rust SDK) behind the listener's own token, Host and Origin checks, so any MCP client (a desktop assistant, an editor)
//! can use the local engine: submit a task and wait for its answer, read tasks and sessions, and
//! answer an approval. Each tool calls the core as the authenticated caller.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use axum::Json;
use axum::extract::State;

use crate::core::Core;
use crate::core::auth::Caller;
use crate::core::error::ShannonError;
use crate::core::hitl::approvals::ApprovalDecision;
use crate::core::tasks::SubmitTaskRequest;
use crate::core::tasks::read::ListTasksQuery;

/// How long `submit_task` waits for the answer unless told otherwise.
const DEFAULT_WAIT: Duration = Duration::from_secs(300);

#[derive(Clone)]
pub(crate) struct ShannonMcp {
    core: Core,
}

/// The service mounted at `/mcp`; it ends its sessions when `shutdown` is cancelled.
pub(crate) fn service(
    core: Core,
    shutdown: CancellationToken,
) -> StreamableHttpService<ShannonMcp, LocalSessionManager> {
    let handler = ShannonMcp { core };
    StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        // The listener's own layers check Host and Origin (and the token) before this runs.
        StreamableHttpServerConfig::default()
            .disable_allowed_hosts()
            .with_cancellation_token(shutdown),
    )
}

fn schema(v: Value) -> JsonObject {
    match v {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

fn tools() -> Vec<Tool> {
    let tool = |name: &'static str, description: &'static str, params: Value| {
        Tool::new(name, description, schema(params))
    };
    vec![
        tool(
            "submit_task",
            "Runs a task on the local Shannon engine and, unless wait is false, waits for its answer.",
            json!({"type": "object", "required": ["query"], "properties": {
                "query": {"type": "string", "description": "What to do or answer"},
                "mode": {"type": "string", "enum": ["simple", "standard", "complex", "supervisor"]},
                "session_id": {"type": "string", "description": "Continue this session"},
                "context": {"type": "object", "description": "Task context (force_research, role, …)"},
                "wait": {"type": "boolean", "description": "Wait for the answer (default true)"},
                "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 3600}}}),
        ),
        tool(
            "get_task",
            "A task's status, result, usage and metadata.",
            json!({"type": "object", "required": ["task_id"], "properties": {"task_id": {"type": "string"}}}),
        ),
        tool(
            "list_tasks",
            "The most recent tasks.",
            json!({"type": "object", "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 100}}}),
        ),
        tool(
            "list_sessions",
            "The most recent sessions.",
            json!({"type": "object", "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 100}}}),
        ),
        tool(
            "get_session_history",
            "A session's tasks, oldest first, with their answers.",
            json!({"type": "object", "required": ["session_id"], "properties": {"session_id": {"type": "string"}}}),
        ),
        tool(
            "list_approvals",
            "Approvals waiting for an answer.",
            json!({"type": "object", "properties": {}}),
        ),
        tool(
            "decide_approval",
            "Approves or denies what a task asked for.",
            json!({"type": "object", "required": ["workflow_id", "approval_id", "approved"], "properties": {
                "workflow_id": {"type": "string"}, "approval_id": {"type": "string"},
                "approved": {"type": "boolean"}, "feedback": {"type": "string"}}}),
        ),
    ]
}

impl ServerHandler for ShannonMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("shannon", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "The local Shannon engine: submit_task runs a task (one agent, a team, research) and \
                 returns its answer; the other tools read tasks and sessions and answer approvals.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // The listener's auth layer put the caller on the HTTP request.
        let caller = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|p| p.extensions.get::<Caller>().cloned())
            .ok_or_else(|| ErrorData::internal_error("no authenticated caller", None))?;
        let args = Value::Object(request.arguments.unwrap_or_default());
        let Some(outcome) = self.dispatch(&caller, request.name.as_ref(), &args).await else {
            let name = request.name.to_string();
            return Err(ErrorData::invalid_params(
                format!("unknown tool: {name}"),
                None,
            ));
        };
        Ok(match outcome {
            Ok(value) => CallToolResult::success(vec![ContentBlock::text(value)]),
            Err(e) => CallToolResult::error(vec![ContentBlock::text(e)]),
        }
        .into())
    }
}

impl ShannonMcp {
    /// One tool call; `None` for a tool this server does not have.
    async fn dispatch(
        &self,
        caller: &Caller,
        name: &str,
        args: &Value,
    ) -> Option<Result<String, String>> {
        let core = &self.core;
        let arg = |key: &str| text(args, key);
        Some(match name {
            "submit_task" => self.submit(caller, args).await,
            "get_task" => match arg("task_id") {
                Ok(id) => json_of(core.get_task(caller, &id).await),
                Err(e) => Err(e),
            },
            "list_tasks" => {
                let query = ListTasksQuery {
                    limit: Some(number(args, "limit", 20)),
                    ..Default::default()
                };
                json_of(core.list_tasks(caller, query).await)
            }
            "list_sessions" => {
                let limit = Some(number(args, "limit", 20));
                json_of(core.list_sessions(caller, limit, None).await)
            }
            "get_session_history" => match arg("session_id") {
                Ok(id) => json_of(core.get_session_history(caller, &id).await),
                Err(e) => Err(e),
            },
            "list_approvals" => json_of(core.list_approvals(caller, None).await),
            "decide_approval" => match (arg("workflow_id"), arg("approval_id")) {
                (Ok(workflow_id), Ok(approval_id)) => {
                    let decision = ApprovalDecision {
                        workflow_id,
                        approval_id,
                        approved: args["approved"].as_bool().unwrap_or(false),
                        feedback: args["feedback"].as_str().map(str::to_string),
                        ..Default::default()
                    };
                    json_of(core.decide_approval(caller, decision).await)
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            },
            _ => return None,
        })
    }

    /// Submits, then (by default) follows the task to its end and answers with its result.
    async fn submit(&self, caller: &Caller, args: &Value) -> Result<String, String> {
        let req = SubmitTaskRequest {
            query: text(args, "query")?,
            mode: args["mode"].as_str().map(str::to_string),
            session_id: args["session_id"].as_str().map(str::to_string),
            context: args["context"].as_object().cloned().unwrap_or_default(),
            ..SubmitTaskRequest::default()
        }
        .here_only()
        .map_err(|e| e.to_string())?;
        let submitted = self
            .core
            .submit_task(caller, req, None)
            .await
            .map_err(|e| e.to_string())?;
        if args["wait"].as_bool() == Some(false) {
            return Ok(
                json!({"task_id": submitted.task_id, "session_id": submitted.session_id,
                             "status": "TASK_STATUS_QUEUED"})
                .to_string(),
            );
        }
        let wait = args["timeout_seconds"]
            .as_u64()
            .map_or(DEFAULT_WAIT, |s| Duration::from_secs(s.clamp(1, 3600)));
        let mut sub = self
            .core
            .subscribe_task(caller, &submitted.task_id, None, None)
            .await
            .map_err(|e| e.to_string())?;
        let ended = tokio::time::timeout(wait, async { while sub.next().await.is_some() {} }).await;
        let task = self
            .core
            .get_task(caller, &submitted.task_id)
            .await
            .map_err(|e| e.to_string())?;
        if ended.is_err() {
            return Ok(json!({"task_id": task.task_id, "session_id": task.session_id,
                             "status": task.status, "note": "still running; read it later with get_task"})
            .to_string());
        }
        if let Some(error) = task.error.filter(|_| task.result.is_empty()) {
            return Err(format!("the task ended with {}: {error}", task.status));
        }
        Ok(task.result)
    }
}

fn text(args: &Value, key: &str) -> Result<String, String> {
    args[key]
        .as_str()
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string)
        .ok_or_else(|| format!("missing string argument {key:?}"))
}

fn number(args: &Value, key: &str, default: u32) -> u32 {
    args[key]
        .as_u64()
        .map_or(default, |n| n.clamp(1, 100) as u32)
}

fn json_of<T: serde::Serialize>(r: Result<T, ShannonError>) -> Result<String, String> {
    r.map_err(|e| e.to_string())
        .and_then(|v| serde_json::to_string_pretty(&v).map_err(|e| e.to_string()))
}

/// The configured MCP servers (the client side): state, error and tools of each.
pub(super) async fn mcp_servers(
    State(app): super::App,
    _: crate::http::extract::Authed,
) -> Json<Vec<crate::core::mcp::McpServerStatus>> {
    Json(app.core.mcp_status())
}
