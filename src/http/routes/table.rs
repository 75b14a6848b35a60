//! Every route the listener serves, once: path, access, and per method the handler with its
//! OpenAPI operation. Credentials, the 401 answer and the tag are added by [`Route`] itself.

use serde_json::Value;
use specta_openapi::{Operation, Param};

use super::{
    Route, auth, catalog, files, health, hitl, mcp, metrics, openai, schedules, sessions, settings,
    streams, tasks,
};
use crate::core::auth::api_keys::{ApiKeyCreated, ApiKeyList, CreateApiKeyRequest};
use crate::core::auth::{AuthResponse, LoginRequest, RegisterRequest, TokenPair, UserProfile};
use crate::core::catalog::agents::{
    AgentExecuteRequest, AgentExecuteResponse, AgentInfo, AgentList,
};
use crate::core::catalog::llm_models::LlmModels;
use crate::core::catalog::skills::{SkillDetail, SkillList, SkillVersions};
use crate::core::catalog::tools::{ToolExecuteRequest, ToolExecution, ToolInfo};
use crate::core::files::{FileContent, FileList};
use crate::core::hitl::approvals::{
    Approval, ApprovalDecision, ApprovalDecisionResponse, ToolGrant,
};
use crate::core::hitl::reviews::{ReviewAction, ReviewResponse, ReviewState};
use crate::core::hitl::swarm_messages::SwarmMessageSent;
use crate::core::llm::completions::CompletionRequest;
use crate::core::mcp::McpServerStatus;
use crate::core::schedules::{
    ScheduleAck, ScheduleCreated, ScheduleInfo, ScheduleList, ScheduleRequest, ScheduleRunList,
};
use crate::core::sessions::{
    SessionHistory, SessionList, SessionRenamed, SessionSummary, SessionTurns,
};
use crate::core::settings::ProviderStatus;
use crate::core::streams::TaskEvent;
use crate::core::tasks::SubmitTaskRequest;
use crate::core::tasks::control::{ControlResponse, ControlState};
use crate::core::tasks::progress::{TaskOutput, TaskProgress};
use crate::core::tasks::read::{TaskDetails, TaskEventsPage, TaskList};
use crate::core::tasks::submit::SubmitTaskResponse;
use crate::core::tasks::timeline::Timeline;
use crate::http::dto::*;

fn paged(op: Operation) -> Operation {
    op.query_param::<u32>("limit").query_param::<u32>("offset")
}

fn task(op: Operation) -> Operation {
    op.path_param::<String>("id")
        .response::<ErrorBody>(404, "No such task for this user")
}

fn schedule(op: Operation) -> Operation {
    op.path_param::<String>("id")
        .response::<ErrorBody>(404, "No such schedule for this user")
}

fn session(op: Operation) -> Operation {
    op.path_param::<String>("id")
}

fn control(op: Operation, verb: &'static str) -> Operation {
    task(op)
        .summary(format!("{verb} a task"))
        .request_body::<ControlRequest>()
        .response::<ControlResponse>(202, "Accepted")
        .response::<ErrorBody>(409, "Not possible in the task's state")
}

fn readiness(op: Operation) -> Operation {
    op.response::<Readiness>(200, "Ready")
        .response::<Readiness>(503, "The database does not answer")
}

fn setting(op: Operation) -> Operation {
    op.path_param::<String>("key")
}

fn provider(op: Operation) -> Operation {
    op.path_param::<String>("provider")
}

pub(super) fn table() -> Vec<Route> {
    vec![
        Route::public("health", "/health").get(health::health, |op| {
            op.summary("Liveness").response::<Health>(200, "Alive")
        }),
        Route::public("health", "/readiness").get(health::readiness, |op| {
            readiness(op).summary("Readiness (the database answers)")
        }),
        Route::public("health", "/ready").get(health::readiness, |op| {
            readiness(op).summary("Readiness, as the desktop frontend discovers the server")
        }),
        Route::public("health", "/openapi.json").get(crate::http::openapi::serve, |op| {
            op.summary("This document")
                .response::<Value>(200, "OpenAPI 3.1 document")
        }),
        // Behind the token, unlike the cloud's: the counts describe this machine's tasks.
        Route::authed("metrics", "/metrics").get(metrics::metrics, |op| {
            op.summary("Prometheus metrics (text exposition format 0.0.4)")
                .response_as::<String>(200, "Metrics", crate::core::metrics::CONTENT_TYPE)
                .response::<ErrorBody>(403, "Not the app's own user")
        }),
        // Tasks.
        Route::authed("tasks", "/api/v1/tasks")
            .post(tasks::submit, |op| {
                op.summary("Submit a task (the cloud body, or the desktop frontend's legacy body with `prompt`)")
                    .header_param::<String>("Idempotency-Key")
                    .request_body::<SubmitTaskRequest>()
                    .response::<SubmitTaskResponse>(200, "Submitted; headers X-Workflow-ID and X-Session-ID")
                    .response::<ErrorBody>(400, "Invalid body")
            })
            .get(tasks::list, |op| {
                paged(op.summary("List tasks"))
                    .query_param::<String>("session_id")
                    .query_param::<String>("status")
                    .response::<TaskList>(200, "A page of tasks")
            }),
        Route::authed("tasks", "/api/v1/tasks/stream").post(tasks::submit_stream, |op| {
            op.summary("Submit a task and get its stream URL")
                .request_body::<SubmitTaskRequest>()
                .response::<TaskStreamStarted>(201, "Submitted; Link header rel=stream")
        }),
        Route::authed("tasks", "/api/v1/tasks/{id}").get(tasks::get, |op| {
            task(op).summary("Get a task").response::<TaskDetails>(200, "The task")
        }),
        Route::authed("tasks", "/api/v1/tasks/{id}/events").get(tasks::events, |op| {
            paged(task(op).summary("Stored events of a task"))
                .response::<TaskEventsPage>(200, "A page of events")
        }),
        Route::authed("tasks", "/api/v1/tasks/{id}/stream").get(tasks::stream_redirect, |op| {
            task(op)
                .summary("Redirect to the task's SSE stream")
                .empty_response(307, "Location: the SSE URL")
        }),
        Route::authed("tasks", "/api/v1/tasks/{id}/progress").get(tasks::progress, |op| {
            task(op)
                .summary("Progress computed from the task's events")
                .response::<TaskProgress>(200, "Progress")
        }),
        Route::authed("tasks", "/api/v1/tasks/{id}/output").get(tasks::output, |op| {
            task(op).summary("The task's output").response::<TaskOutput>(200, "Output")
        }),
        Route::authed("tasks", "/api/v1/tasks/{id}/pause")
            .post(tasks::pause, |op| control(op, "pause")),
        Route::authed("tasks", "/api/v1/tasks/{id}/resume")
            .post(tasks::resume, |op| control(op, "resume")),
        Route::authed("tasks", "/api/v1/tasks/{id}/cancel")
            .post(tasks::cancel, |op| control(op, "cancel")),
        Route::authed("tasks", "/api/v1/tasks/{id}/control-state").get(tasks::control_state, |op| {
            task(op)
                .summary("Pause and cancel state")
                .response::<ControlState>(200, "Control state")
        }),
        // Approvals.
        Route::authed("approvals", "/api/v1/approvals/decision").post(hitl::decide, |op| {
            op.summary("Answer an approval (its approval_id is in APPROVAL_REQUESTED)")
                .request_body::<ApprovalDecision>()
                .response::<ApprovalDecisionResponse>(200, "Sent")
                .response::<ErrorBody>(404, "No such approval for this user")
                .response::<ErrorBody>(409, "Already decided or expired")
        }),
        Route::authed("tasks", "/api/v1/tasks/{id}/review")
            .get(hitl::get_review, |op| {
                task(op)
                    .summary("A research task's plan under review (ETag: its version)")
                    .response::<ReviewState>(200, "The review")
            })
            .post(hitl::post_review, |op| {
                task(op)
                    .summary("Feedback on the plan (answered with a revised one) or its approval")
                    .header_param::<String>("If-Match")
                    .request_body::<ReviewAction>()
                    .response::<ReviewResponse>(200, "Revised or approved (ETag: the new version)")
                    .response::<ErrorBody>(400, "No plan, no message, or an unknown action")
                    .response::<ErrorBody>(409, "A stale If-Match, a round in progress, or too many rounds")
                    .response::<ErrorBody>(502, "The task could not revise its plan")
            }),
        Route::authed("swarm", "/api/v1/swarm/{id}/message").post(hitl::swarm_message, |op| {
            task(op)
                .summary("A message to a running swarm's lead (read at its next decision)")
                .request_body::<SwarmMessageRequest>()
                .response::<SwarmMessageSent>(200, "Sent")
                .response::<ErrorBody>(409, "Not a running swarm")
        }),
        Route::authed("approvals", "/api/v1/approvals").get(hitl::list, |op| {
            op.summary("The user's approvals (pending by default)")
                .query_param::<String>("status")
                .response::<Vec<Approval>>(200, "Newest first")
        }),
        Route::authed("approvals", "/api/v1/approvals/grants")
            .get(hitl::grants, |op| {
                op.summary("Tools let through without asking")
                    .response::<Vec<ToolGrant>>(200, "Grants")
            })
            .post(hitl::grant, |op| {
                op.summary("Let a tool through without asking (a session's, or always)")
                    .request_body::<GrantToolRequest>()
                    .response::<ToolGrant>(200, "The grant")
                    .response::<ErrorBody>(404, "No such session")
            }),
        Route::authed("approvals", "/api/v1/approvals/grants/{tool}").delete(
            hitl::revoke_grant,
            |op| {
                op.path_param::<String>("tool")
                    .query_param::<String>("session_id")
                    .summary("Revoke a tool grant (without session_id: the \"always\" one)")
                    .response::<Ack>(200, "Revoked")
                    .response::<ErrorBody>(404, "No such grant")
            },
        ),
        // Streams.
        Route::stream("streams", "/api/v1/stream/sse").get(streams::sse, |op| {
            op.summary("Server-sent events of a workflow (also ?token= or ?api_key=)")
                .parameter(Param::query::<String>("workflow_id").required())
                .query_param::<String>("types")
                .query_param::<String>("last_event_id")
                .header_param::<String>("Last-Event-ID")
                .response_as::<TaskEvent>(200, "An event stream", "text/event-stream")
        }),
        Route::stream("streams", "/api/v1/stream/ws").get(streams::ws, |op| {
            op.summary("The same events over a WebSocket")
                .parameter(Param::query::<String>("workflow_id").required())
                .empty_response(101, "Switching protocols")
        }),
        // Sessions.
        Route::authed("sessions", "/api/v1/sessions").get(sessions::list, |op| {
            paged(op.summary("List sessions")).response::<SessionList>(200, "Sessions")
        }),
        Route::authed("sessions", "/api/v1/sessions/{id}")
            .get(sessions::get, |op| {
                session(op)
                    .summary("Get a session")
                    .response::<SessionSummary>(200, "The session")
                    .response::<ErrorBody>(404, "No such session")
            })
            .patch(sessions::rename, |op| {
                session(op)
                    .summary("Rename a session")
                    .request_body::<RenameSessionRequest>()
                    .response::<SessionRenamed>(200, "Renamed")
            })
            .delete(sessions::delete, |op| {
                session(op).summary("Delete a session").empty_response(204, "Deleted")
            }),
        Route::authed("sessions", "/api/v1/sessions/{id}/history").get(sessions::history, |op| {
            session(op)
                .summary("A session's tasks")
                .response::<SessionHistory>(200, "History")
        }),
        Route::authed("sessions", "/api/v1/sessions/{id}/events").get(sessions::turns, |op| {
            paged(session(op).summary("A session's turns with their events"))
                .query_param::<bool>("include_payload")
                .response::<SessionTurns>(200, "Turns")
        }),
        Route::authed("sessions", "/api/v1/sessions/{id}/files").get(files::files, |op| {
            session(op)
                .summary("One level of the session's workspace")
                .query_param::<String>("path")
                .response::<FileList>(200, "Entries (a missing directory is empty)")
                .response::<ErrorBody>(400, "A path that leaves the workspace")
        }),
        Route::authed("sessions", "/api/v1/sessions/{id}/files/{*path}").get(files::file, |op| {
            session(op)
                .path_param::<String>("path")
                .summary("A file of the session's workspace (text raw, else base64)")
                .response::<FileContent>(200, "The file")
                .response::<ErrorBody>(400, "A directory, or a path that leaves the workspace")
                .response::<ErrorBody>(404, "No such file")
        }),
        Route::authed("memory", "/api/v1/memory/files").get(files::memory_files, |op| {
            op.summary("One level of the user's memory folder")
                .query_param::<String>("path")
                .response::<FileList>(200, "Entries (a missing directory is empty)")
        }),
        Route::authed("memory", "/api/v1/memory/files/{*path}").get(files::memory_file, |op| {
            op.path_param::<String>("path")
                .summary("A file of the user's memory folder (text raw, else base64)")
                .response::<FileContent>(200, "The file")
                .response::<ErrorBody>(404, "No such file")
        }),
        // Catalogues.
        Route::authed("skills", "/api/v1/skills")
            .get(catalog::skills, |op| {
                op.summary("Every skill's newest version")
                    .query_param::<String>("category")
                    .response::<SkillList>(200, "Skills, their categories, and files that do not read")
            })
            .post(catalog::save_skill, |op| {
                op.summary("Add a skill version (or replace the same version of a user skill)")
                    .request_body::<SaveSkillRequest>()
                    .response::<SkillDetail>(200, "The saved version")
                    .response::<ErrorBody>(400, "The file does not read (its field is named)")
            }),
        Route::authed("skills", "/api/v1/skills/{name}")
            .get(catalog::skill, |op| {
                op.path_param::<String>("name")
                    .query_param::<String>("version")
                    .summary("A skill, whole (its newest version, or `version`)")
                    .response::<SkillDetail>(200, "The skill and where it comes from")
                    .response::<ErrorBody>(404, "No such skill")
            })
            .delete(catalog::delete_skill, |op| {
                op.path_param::<String>("name")
                    .query_param::<String>("version")
                    .summary("Remove a user skill (one version, or all)")
                    .empty_response(204, "Removed")
                    .response::<ErrorBody>(409, "A built-in skill")
            }),
        Route::authed("skills", "/api/v1/skills/{name}/versions").get(catalog::skill_versions, |op| {
            op.path_param::<String>("name")
                .summary("Every version of a skill, newest first")
                .response::<SkillVersions>(200, "Versions")
                .response::<ErrorBody>(404, "No such skill")
        }),
        Route::authed("agents", "/api/v1/agents").get(catalog::agents, |op| {
            op.summary("The deterministic single-tool agents")
                .response::<AgentList>(200, "Agents")
        }),
        Route::authed("agents", "/api/v1/agents/{id}")
            .get(catalog::agent, |op| {
                op.path_param::<String>("id")
                    .summary("One agent")
                    .response::<AgentInfo>(200, "The agent")
                    .response::<ErrorBody>(404, "No such agent")
            })
            .post(catalog::execute_agent, |op| {
                op.path_param::<String>("id")
                    .summary("Run an agent: its input checked against input_schema, then a task")
                    .request_body::<AgentExecuteRequest>()
                    .response::<AgentExecuteResponse>(202, "The task; headers X-Workflow-ID and X-Session-ID")
                    .response::<ErrorBody>(400, "The input does not match input_schema")
                    .response::<ErrorBody>(404, "No such agent")
            }),
        Route::authed("tools", "/api/v1/tools").get(catalog::tools, |op| {
            op.summary("The tools (a bare array, as the cloud's)")
                .query_param::<String>("category")
                .query_param::<bool>("include_dangerous")
                .response::<Vec<ToolInfo>>(200, "Tools")
        }),
        Route::authed("tools", "/api/v1/tools/{name}").get(catalog::tool, |op| {
            op.path_param::<String>("name")
                .summary("One tool: parameters as JSON Schema, category, timeout, cost")
                .response::<ToolInfo>(200, "The tool")
                .response::<ErrorBody>(404, "No such tool")
        }),
        Route::authed("tools", "/api/v1/tools/{name}/execute").post(catalog::execute_tool, |op| {
            op.path_param::<String>("name")
                .summary("Run one tool now, outside a task")
                .request_body::<ToolExecuteRequest>()
                .response::<ToolExecution>(200, "What it returned (a failing tool too)")
                .response::<ErrorBody>(403, "A dangerous tool the user has not allowed")
                .response::<ErrorBody>(404, "No such tool")
        }),
        Route::authed("mcp", "/api/v1/mcp/servers").get(mcp::mcp_servers, |op| {
            op.summary("The configured MCP servers: state, last error, restarts, tools")
                .response::<Vec<McpServerStatus>>(200, "Servers")
        }),
        Route::authed("tasks", "/api/v1/tasks/{id}/timeline").get(tasks::timeline, |op| {
            task(op)
                .summary("The task's history in the cloud's timeline vocabulary")
                .query_param::<String>("mode")
                .query_param::<bool>("include_payloads")
                .response::<Timeline>(200, "Timeline")
        }),
        // Schedules.
        Route::authed("schedules", "/api/v1/schedules")
            .post(schedules::create, |op| {
                op.summary("Create a cron schedule (5 fields, IANA time zone)")
                    .request_body::<ScheduleRequest>()
                    .response::<ScheduleCreated>(201, "Created, ACTIVE")
                    .response::<ErrorBody>(400, "Invalid cron, time zone, budget or interval")
                    .response::<ErrorBody>(429, "Schedule limit reached")
            })
            .get(schedules::list, |op| {
                op.summary("List schedules")
                    .query_param::<u32>("page")
                    .query_param::<u32>("page_size")
                    .query_param::<String>("status")
                    .response::<ScheduleList>(200, "A page of schedules")
            }),
        Route::authed("schedules", "/api/v1/schedules/{id}")
            .get(schedules::get, |op| {
                schedule(op)
                    .summary("Get a schedule")
                    .response::<ScheduleInfo>(200, "The schedule")
            })
            .put(schedules::update, |op| {
                schedule(op)
                    .summary("Update the fields sent")
                    .request_body::<ScheduleRequest>()
                    .response::<ScheduleAck>(200, "Updated")
            })
            .delete(schedules::delete, |op| {
                schedule(op)
                    .summary("Delete a schedule")
                    .response::<ScheduleAck>(200, "Deleted")
            }),
        Route::authed("schedules", "/api/v1/schedules/{id}/runs").get(schedules::runs, |op| {
            schedule(op)
                .summary("Runs of a schedule, newest first")
                .query_param::<u32>("page")
                .query_param::<u32>("page_size")
                .response::<ScheduleRunList>(200, "A page of runs")
        }),
        Route::authed("schedules", "/api/v1/schedules/{id}/pause").post(schedules::pause, |op| {
            schedule(op)
                .summary("Pause a schedule")
                .request_body::<ControlRequest>()
                .response::<ScheduleAck>(200, "Paused")
        }),
        Route::authed("schedules", "/api/v1/schedules/{id}/resume").post(schedules::resume, |op| {
            schedule(op)
                .summary("Resume a schedule")
                .request_body::<ControlRequest>()
                .response::<ScheduleAck>(200, "Resumed, with the next run")
        }),
        // Users and API keys.
        Route::public("auth", "/api/v1/auth/register").post(auth::register, |op| {
            op.summary("Create a local user")
                .request_body::<RegisterRequest>()
                .response::<AuthResponse>(201, "Registered")
                .response::<ErrorBody>(400, "Invalid")
                .response::<ErrorBody>(409, "Taken")
        }),
        Route::public("auth", "/api/v1/auth/login").post(auth::login, |op| {
            op.summary("Sign in")
                .request_body::<LoginRequest>()
                .response::<AuthResponse>(200, "Signed in")
                .response::<ErrorBody>(401, "Wrong credentials")
        }),
        Route::public("auth", "/api/v1/auth/refresh").post(auth::refresh, |op| {
            op.summary("Exchange a refresh token")
                .request_body::<RefreshRequest>()
                .response::<TokenPair>(200, "New tokens")
                .response::<ErrorBody>(401, "Invalid refresh token")
        }),
        Route::authed("auth", "/api/v1/auth/me").get(auth::me, |op| {
            op.summary("The current user").response::<UserProfile>(200, "Profile")
        }),
        Route::authed("auth", "/api/v1/auth/refresh-key").post(auth::refresh_key, |op| {
            op.summary("Replace the API key used to authenticate")
                .response::<RefreshedApiKey>(200, "The new key, shown once")
        }),
        Route::authed("auth", "/api/v1/auth/api-keys")
            .get(auth::list_keys, |op| {
                op.summary("List API keys")
                    .response::<ApiKeyList>(200, "Keys (prefixes only)")
            })
            .post(auth::create_key, |op| {
                op.summary("Create an API key")
                    .request_body::<CreateApiKeyRequest>()
                    .response::<ApiKeyCreated>(201, "The key, shown once")
            }),
        Route::authed("auth", "/api/v1/auth/api-keys/{id}").delete(auth::revoke_key, |op| {
            op.path_param::<String>("id")
                .summary("Revoke an API key")
                .response::<Ack>(200, "Revoked")
        }),
        // Settings and provider keys.
        Route::authed("settings", "/api/v1/settings")
            .get(settings::list, |op| {
                op.summary("List settings")
                    .response::<Vec<UserSetting>>(200, "A bare array")
            })
            .post(settings::set_typed, |op| {
                op.summary("Set a setting (the desktop frontend's body)")
                    .request_body::<SetSettingRequest>()
                    .response::<UserSetting>(200, "Saved")
                    .response::<ErrorBody>(400, "A value that is not its type, or `encrypted: true`")
            }),
        Route::authed("settings", "/api/v1/settings/{key}")
            .get(settings::get, |op| {
                setting(op)
                    .summary("Get a setting")
                    .response::<UserSetting>(200, "The setting")
                    .response::<ErrorBody>(404, "Unset")
            })
            .post(settings::set, |op| {
                setting(op)
                    .summary("Set a setting")
                    .request_body::<SetSettingValue>()
                    .response::<UserSetting>(200, "Saved")
            })
            .put(settings::set, |op| {
                setting(op)
                    .summary("Set a setting")
                    .request_body::<SetSettingValue>()
                    .response::<UserSetting>(200, "Saved")
            })
            .delete(settings::delete, |op| {
                setting(op)
                    .summary("Delete a setting")
                    .empty_response(204, "Deleted")
            }),
        Route::authed("settings", "/api/v1/settings/api-keys").get(settings::list_provider_keys, |op| {
            op.summary("Provider keys, masked, with each provider's status")
                .response::<Vec<ProviderStatus>>(200, "A bare array")
        }),
        Route::authed("settings", "/api/v1/settings/api-keys/{provider}")
            .post(settings::set_provider_key, |op| {
                provider(op)
                    .summary("Store a provider key (encrypted at rest)")
                    .request_body::<SetProviderKeyRequest>()
                    .response::<ProviderKeySaved>(200, "Saved, masked")
            })
            .delete(settings::delete_provider_key, |op| {
                provider(op)
                    .summary("Delete a provider key")
                    .empty_response(204, "Deleted")
            }),
        Route::authed("models", "/v1/llm-models").get(catalog::llm_models, |op| {
            op.query_param::<String>("tier")
                .summary("The configured providers' models by tier (small, medium, large)")
                .response::<LlmModels>(200, "`{models: [{id, provider, tier, priority}]}`")
                .response::<ErrorBody>(400, "An unknown tier")
        }),
        // OpenAI-compatible.
        Route::authed("openai", "/v1/models").get(openai::models, |op| {
            op.summary("OpenAI-compatible model list")
                .response::<Value>(200, "`{object: list, data: [...]}`")
        }),
        Route::authed("openai", "/v1/models/{model}").get(openai::model, |op| {
            op.path_param::<String>("model")
                .summary("One model id, with its description in X-Model-Description")
                .response::<Value>(200, "`{id, object: model, created, owned_by}`")
                .response::<Value>(404, "model_not_found")
        }),
        Route::authed("openai", "/v1/completions").post(openai::completions, |op| {
            op.summary("One model call outside any task (the cloud's llm-service shape)")
                .request_body::<CompletionRequest>()
                .response::<Value>(
                    200,
                    "`{provider, model, output_text, usage, finish_reason}`, or when streamed content_delta / done events and [DONE]",
                )
        }),
        Route::authed("openai", "/v1/chat/completions").post(openai::chat_completions, |op| {
            op.summary("OpenAI-compatible chat completion, backed by a task")
                .request_body::<openai::ChatBody>()
                .response::<Value>(
                    200,
                    "A chat.completion, or chat.completion.chunk events when streamed",
                )
        }),
    ]
}
