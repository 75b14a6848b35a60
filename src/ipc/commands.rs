//! IPC commands. Each one resolves the caller (the local embedded user unless the webview signed in),
//! calls the core once and returns its result or error (`{kind, message}`).

use tauri::State;
use tauri::ipc::Channel;

use crate::config::{PluginConfig, PluginConfigUpdate};
use crate::core::auth::api_keys::{ApiKeyCreated, ApiKeyList, CreateApiKeyRequest};
use crate::core::auth::{AuthResponse, LoginRequest, RegisterRequest, TokenPair, UserProfile};
use crate::core::crypto::SecretString;
use crate::core::engine::control::{ControlResponse, ControlState};
use crate::core::engine::events::StreamPos;
use crate::core::engine::progress::{TaskOutput, TaskProgress};
use crate::core::engine::sessions::{
    SessionHistory, SessionList, SessionRenamed, SessionSummary, SessionTurns,
};
use crate::core::engine::submit::SubmitTaskResponse;
use crate::core::engine::tasks::{ListTasksQuery, TaskDetails, TaskEventsPage, TaskList};
use crate::core::engine::workspace::{FileContent, FileList};
use crate::core::engine::{EventType, SubmitTaskRequest, TaskEvent, TaskSubscription};
use crate::core::error::ShannonError;
use crate::core::schedules::{
    ScheduleAck, ScheduleCreated, ScheduleInfo, ScheduleList, ScheduleRequest, ScheduleRunList,
};
use crate::core::secrets::RotationReport;
use crate::core::settings::{ProviderKeyInfo, ProviderStatus, Setting};
use crate::http::ListenerStatus;
use crate::plugin::Shannon;

type Res<T> = Result<T, ShannonError>;

/// One setting; `value` is JSON text.
#[tauri::command]
#[specta::specta]
pub async fn get_setting(state: State<'_, Shannon>, key: String) -> Res<Setting> {
    let (core, caller) = state.resolve().await?;
    core.get_setting(&caller, &key).await
}

#[tauri::command]
#[specta::specta]
pub async fn list_settings(state: State<'_, Shannon>) -> Res<Vec<Setting>> {
    let (core, caller) = state.resolve().await?;
    core.list_settings(&caller).await
}

/// Stores `value`, which must be JSON text (`"\"dark\""`, `"42"`, `"{\"a\":1}"`).
#[tauri::command]
#[specta::specta]
pub async fn set_setting(state: State<'_, Shannon>, key: String, value: String) -> Res<Setting> {
    let (core, caller) = state.resolve().await?;
    core.set_setting(&caller, &key, &value).await
}

#[tauri::command]
#[specta::specta]
pub async fn delete_setting(state: State<'_, Shannon>, key: String) -> Res<()> {
    let (core, caller) = state.resolve().await?;
    core.delete_setting(&caller, &key).await
}

/// Encrypts and stores a provider key; returns it masked.
#[tauri::command]
#[specta::specta]
pub async fn set_provider_key(
    state: State<'_, Shannon>,
    provider: String,
    api_key: SecretString,
) -> Res<ProviderKeyInfo> {
    let (core, caller) = state.resolve().await?;
    core.set_provider_key(&caller, &provider, &api_key).await
}

#[tauri::command]
#[specta::specta]
pub async fn get_provider_key(state: State<'_, Shannon>, provider: String) -> Res<ProviderKeyInfo> {
    let (core, caller) = state.resolve().await?;
    core.get_provider_key(&caller, &provider).await
}

#[tauri::command]
#[specta::specta]
pub async fn list_provider_keys(state: State<'_, Shannon>) -> Res<Vec<ProviderKeyInfo>> {
    let (core, caller) = state.resolve().await?;
    core.list_provider_keys(&caller).await
}

/// Destroys a stored provider key (opt-in permission `shannon:allow-delete-provider-keys`).
#[tauri::command]
#[specta::specta]
pub async fn delete_provider_key(state: State<'_, Shannon>, provider: String) -> Res<()> {
    let (core, caller) = state.resolve().await?;
    core.delete_provider_key(&caller, &provider).await
}

#[tauri::command]
#[specta::specta]
pub async fn mark_provider_key_used(state: State<'_, Shannon>, provider: String) -> Res<()> {
    let (core, caller) = state.resolve().await?;
    core.mark_provider_key_used(&caller, &provider).await
}

/// Which providers can take a task now, and why not.
#[tauri::command]
#[specta::specta]
pub async fn provider_status(state: State<'_, Shannon>) -> Res<Vec<ProviderStatus>> {
    let (core, caller) = state.resolve().await?;
    core.provider_status(&caller).await
}

/// Creates a user and signs the webview in as it.
#[tauri::command]
#[specta::specta]
pub async fn register(state: State<'_, Shannon>, request: RegisterRequest) -> Res<AuthResponse> {
    let res = state.core().await?.register(request).await?;
    state.set_signed_in(Some(SecretString::new(res.access_token.clone())));
    Ok(res)
}

/// Checks a password and signs the webview in.
#[tauri::command]
#[specta::specta]
pub async fn login(state: State<'_, Shannon>, request: LoginRequest) -> Res<AuthResponse> {
    let res = state.core().await?.login(request).await?;
    state.set_signed_in(Some(SecretString::new(res.access_token.clone())));
    Ok(res)
}

/// Rotates a refresh token; the webview then acts with the new access token.
#[tauri::command]
#[specta::specta]
pub async fn refresh_token(
    state: State<'_, Shannon>,
    refresh_token: SecretString,
) -> Res<TokenPair> {
    let pair = state.core().await?.refresh_token(&refresh_token).await?;
    state.set_signed_in(Some(SecretString::new(pair.access_token.clone())));
    Ok(pair)
}

#[tauri::command]
#[specta::specta]
pub async fn me(state: State<'_, Shannon>) -> Res<UserProfile> {
    let (core, caller) = state.resolve().await?;
    core.me(&caller).await
}

/// Acts as the owner of `token` (JWT access token or Shannon API key) from now on; it is checked first.
#[tauri::command]
#[specta::specta]
pub async fn sign_in(state: State<'_, Shannon>, token: SecretString) -> Res<UserProfile> {
    let core = state.core().await?;
    let caller = core.authenticate(token.expose()).await?;
    let profile = core.me(&caller).await?;
    state.set_signed_in(Some(token));
    Ok(profile)
}

/// Back to the local embedded user.
#[tauri::command]
#[specta::specta]
pub async fn sign_out(state: State<'_, Shannon>) -> Res<()> {
    state.set_signed_in(None);
    Ok(())
}

/// Creates a Shannon API key for HTTP clients; the key is in this response only
/// (opt-in permission `shannon:allow-manage-api-keys`).
#[tauri::command]
#[specta::specta]
pub async fn create_api_key(
    state: State<'_, Shannon>,
    request: CreateApiKeyRequest,
) -> Res<ApiKeyCreated> {
    let (core, caller) = state.resolve().await?;
    core.create_api_key(&caller, request).await
}

#[tauri::command]
#[specta::specta]
pub async fn list_api_keys(state: State<'_, Shannon>) -> Res<ApiKeyList> {
    let (core, caller) = state.resolve().await?;
    core.list_api_keys(&caller).await
}

/// (opt-in permission `shannon:allow-manage-api-keys`)
#[tauri::command]
#[specta::specta]
pub async fn revoke_api_key(state: State<'_, Shannon>, id: String) -> Res<()> {
    let (core, caller) = state.resolve().await?;
    core.revoke_api_key(&caller, &id).await
}

/// Re-encrypts every stored secret under a new master key (opt-in `shannon:allow-rotate-master-key`).
#[tauri::command]
#[specta::specta]
pub async fn rotate_master_key(state: State<'_, Shannon>) -> Res<RotationReport> {
    state.core().await?.rotate_master_key().await
}

#[tauri::command]
#[specta::specta]
pub async fn get_plugin_config(state: State<'_, Shannon>) -> Res<PluginConfig> {
    state.config().await
}

/// Changes the plugin configuration (opt-in `shannon:allow-configure`); `data_dir` applies at the
/// next start.
#[tauri::command]
#[specta::specta]
pub async fn set_plugin_config(
    state: State<'_, Shannon>,
    update: PluginConfigUpdate,
) -> Res<PluginConfig> {
    state.update_config(update).await
}

// ---- tasks -------------------------------------------------------------------------------------

/// Submits a task (the cloud's body) and starts it. With `idempotency_key`, a repeat returns the
/// first submission's response instead of starting another task.
#[tauri::command]
#[specta::specta]
pub async fn submit_task(
    state: State<'_, Shannon>,
    request: SubmitTaskRequest,
    idempotency_key: Option<String>,
) -> Res<SubmitTaskResponse> {
    let (core, caller) = state.resolve().await?;
    core.submit_task(&caller, request, idempotency_key.as_deref())
        .await
}

#[tauri::command]
#[specta::specta]
pub async fn get_task(state: State<'_, Shannon>, task_id: String) -> Res<TaskDetails> {
    let (core, caller) = state.resolve().await?;
    core.get_task(&caller, &task_id).await
}

#[tauri::command]
#[specta::specta]
pub async fn list_tasks(state: State<'_, Shannon>, query: ListTasksQuery) -> Res<TaskList> {
    let (core, caller) = state.resolve().await?;
    core.list_tasks(&caller, query).await
}

/// Stored events of a task, ascending by `seq` (`limit` 1..200, default 50).
#[tauri::command]
#[specta::specta]
pub async fn get_task_events(
    state: State<'_, Shannon>,
    task_id: String,
    limit: Option<u32>,
    offset: Option<u32>,
) -> Res<TaskEventsPage> {
    let (core, caller) = state.resolve().await?;
    core.get_task_events(&caller, &task_id, limit, offset).await
}

#[tauri::command]
#[specta::specta]
pub async fn get_control_state(state: State<'_, Shannon>, task_id: String) -> Res<ControlState> {
    let (core, caller) = state.resolve().await?;
    core.get_control_state(&caller, &task_id).await
}

#[tauri::command]
#[specta::specta]
pub async fn pause_task(
    state: State<'_, Shannon>,
    task_id: String,
    reason: Option<String>,
) -> Res<ControlResponse> {
    let (core, caller) = state.resolve().await?;
    core.pause_task(&caller, &task_id, reason).await
}

#[tauri::command]
#[specta::specta]
pub async fn resume_task(
    state: State<'_, Shannon>,
    task_id: String,
    reason: Option<String>,
) -> Res<ControlResponse> {
    let (core, caller) = state.resolve().await?;
    core.resume_task(&caller, &task_id, reason).await
}

#[tauri::command]
#[specta::specta]
pub async fn cancel_task(
    state: State<'_, Shannon>,
    task_id: String,
    reason: Option<String>,
) -> Res<ControlResponse> {
    let (core, caller) = state.resolve().await?;
    core.cancel_task(&caller, &task_id, reason).await
}

/// One level of a session's workspace (`path` relative to it; default its top).
#[tauri::command]
#[specta::specta]
pub async fn list_session_files(
    state: State<'_, Shannon>,
    session_id: String,
    path: Option<String>,
) -> Res<FileList> {
    let (core, caller) = state.resolve().await?;
    core.list_session_files(&caller, &session_id, path).await
}

/// A file of a session's workspace: text raw, anything else base64.
#[tauri::command]
#[specta::specta]
pub async fn read_session_file(
    state: State<'_, Shannon>,
    session_id: String,
    path: String,
) -> Res<FileContent> {
    let (core, caller) = state.resolve().await?;
    core.read_session_file(&caller, &session_id, &path).await
}

/// One level of the user's memory folder.
#[tauri::command]
#[specta::specta]
pub async fn list_memory_files(state: State<'_, Shannon>, path: Option<String>) -> Res<FileList> {
    let (core, caller) = state.resolve().await?;
    core.list_memory_files(&caller, path).await
}

/// A file of the user's memory folder: text raw, anything else base64.
#[tauri::command]
#[specta::specta]
pub async fn read_memory_file(state: State<'_, Shannon>, path: String) -> Res<FileContent> {
    let (core, caller) = state.resolve().await?;
    core.read_memory_file(&caller, &path).await
}

/// Steps derived from the task's events, with tokens, cost, elapsed and estimated remaining time.
#[tauri::command]
#[specta::specta]
pub async fn get_task_progress(state: State<'_, Shannon>, task_id: String) -> Res<TaskProgress> {
    let (core, caller) = state.resolve().await?;
    core.get_task_progress(&caller, &task_id).await
}

/// The answer (empty until the task completes), tokens and cost.
#[tauri::command]
#[specta::specta]
pub async fn get_task_output(state: State<'_, Shannon>, task_id: String) -> Res<TaskOutput> {
    let (core, caller) = state.resolve().await?;
    core.get_task_output(&caller, &task_id).await
}

// ---- schedules ---------------------------------------------------------------------------------

/// A cron schedule (5 fields, IANA time zone) that submits `task_query` at each fire time.
#[tauri::command]
#[specta::specta]
pub async fn create_schedule(
    state: State<'_, Shannon>,
    request: ScheduleRequest,
) -> Res<ScheduleCreated> {
    let (core, caller) = state.resolve().await?;
    core.create_schedule(&caller, request).await
}

/// `status`: `ACTIVE`, `PAUSED`, or anything else for all.
#[tauri::command]
#[specta::specta]
pub async fn list_schedules(
    state: State<'_, Shannon>,
    page: Option<u32>,
    page_size: Option<u32>,
    status: Option<String>,
) -> Res<ScheduleList> {
    let (core, caller) = state.resolve().await?;
    core.list_schedules(&caller, page, page_size, status).await
}

#[tauri::command]
#[specta::specta]
pub async fn get_schedule(state: State<'_, Shannon>, schedule_id: String) -> Res<ScheduleInfo> {
    let (core, caller) = state.resolve().await?;
    core.get_schedule(&caller, &schedule_id).await
}

/// Changes only the fields sent.
#[tauri::command]
#[specta::specta]
pub async fn update_schedule(
    state: State<'_, Shannon>,
    schedule_id: String,
    request: ScheduleRequest,
) -> Res<ScheduleAck> {
    let (core, caller) = state.resolve().await?;
    core.update_schedule(&caller, &schedule_id, request).await
}

#[tauri::command]
#[specta::specta]
pub async fn pause_schedule(state: State<'_, Shannon>, schedule_id: String) -> Res<ScheduleAck> {
    let (core, caller) = state.resolve().await?;
    core.pause_schedule(&caller, &schedule_id).await
}

#[tauri::command]
#[specta::specta]
pub async fn resume_schedule(state: State<'_, Shannon>, schedule_id: String) -> Res<ScheduleAck> {
    let (core, caller) = state.resolve().await?;
    core.resume_schedule(&caller, &schedule_id).await
}

#[tauri::command]
#[specta::specta]
pub async fn delete_schedule(state: State<'_, Shannon>, schedule_id: String) -> Res<ScheduleAck> {
    let (core, caller) = state.resolve().await?;
    core.delete_schedule(&caller, &schedule_id).await
}

/// The tasks a schedule started, newest first.
#[tauri::command]
#[specta::specta]
pub async fn get_schedule_runs(
    state: State<'_, Shannon>,
    schedule_id: String,
    page: Option<u32>,
    page_size: Option<u32>,
) -> Res<ScheduleRunList> {
    let (core, caller) = state.resolve().await?;
    core.get_schedule_runs(&caller, &schedule_id, page, page_size)
        .await
}

// ---- sessions ----------------------------------------------------------------------------------

#[tauri::command]
#[specta::specta]
pub async fn list_sessions(
    state: State<'_, Shannon>,
    limit: Option<u32>,
    offset: Option<u32>,
) -> Res<SessionList> {
    let (core, caller) = state.resolve().await?;
    core.list_sessions(&caller, limit, offset).await
}

/// By internal UUID or the client's own session id.
#[tauri::command]
#[specta::specta]
pub async fn get_session(state: State<'_, Shannon>, session_id: String) -> Res<SessionSummary> {
    let (core, caller) = state.resolve().await?;
    core.get_session(&caller, &session_id).await
}

#[tauri::command]
#[specta::specta]
pub async fn get_session_history(
    state: State<'_, Shannon>,
    session_id: String,
) -> Res<SessionHistory> {
    let (core, caller) = state.resolve().await?;
    core.get_session_history(&caller, &session_id).await
}

/// Turns with their events (`limit` 1..100 turns, default 10).
#[tauri::command]
#[specta::specta]
pub async fn get_session_events(
    state: State<'_, Shannon>,
    session_id: String,
    limit: Option<u32>,
    offset: Option<u32>,
    include_payload: Option<bool>,
) -> Res<SessionTurns> {
    let (core, caller) = state.resolve().await?;
    core.get_session_events(
        &caller,
        &session_id,
        limit,
        offset,
        include_payload.unwrap_or(false),
    )
    .await
}

#[tauri::command]
#[specta::specta]
pub async fn rename_session(
    state: State<'_, Shannon>,
    session_id: String,
    title: String,
) -> Res<SessionRenamed> {
    let (core, caller) = state.resolve().await?;
    core.rename_session(&caller, &session_id, &title).await
}

/// Soft delete; deleting twice succeeds.
#[tauri::command]
#[specta::specta]
pub async fn delete_session(state: State<'_, Shannon>, session_id: String) -> Res<()> {
    let (core, caller) = state.resolve().await?;
    core.delete_session(&caller, &session_id).await
}

// ---- streaming -------------------------------------------------------------------------------

/// Streams a task's events into `on_event` (ordered): the events after `last_event_id` (a stored seq)
/// or `last_stream_id` (a delta's `stream_id`, which wins), then live ones until STREAM_END. `types` keeps only those event types; `coalesce` merges consecutive
/// LLM_PARTIAL deltas arriving within one frame (16 ms) into one message. Stops when the channel is
/// dropped on the JavaScript side.
#[tauri::command]
#[specta::specta]
pub async fn subscribe_task(
    state: State<'_, Shannon>,
    task_id: String,
    last_event_id: Option<u32>,
    last_stream_id: Option<String>,
    types: Option<Vec<String>>,
    coalesce: Option<bool>,
    on_event: Channel<TaskEvent>,
) -> Res<()> {
    let (core, caller) = state.resolve().await?;
    let after =
        match last_stream_id.as_deref() {
            Some(id) => Some(StreamPos::parse(id).ok_or_else(|| {
                ShannonError::invalid("last_stream_id must be <seq> or <seq>-<n>")
            })?),
            None => last_event_id.map(StreamPos::stored),
        };
    let sub = core.subscribe_task(&caller, &task_id, after, types).await?;
    tauri::async_runtime::spawn(forward(sub, on_event, coalesce.unwrap_or(false)));
    Ok(())
}

async fn forward(mut sub: TaskSubscription, channel: Channel<TaskEvent>, coalesce: bool) {
    const FRAME: std::time::Duration = std::time::Duration::from_millis(16);
    let mut held: Option<TaskEvent> = None;
    // A held partial goes out at the latest one frame after the first delta it merges.
    let mut deadline = tokio::time::Instant::now();
    loop {
        let next = match (&held, coalesce) {
            (Some(_), true) => match tokio::time::timeout_at(deadline, sub.next()).await {
                Ok(e) => e,
                Err(_) => {
                    if channel.send(held.take().expect("held")).is_err() {
                        return;
                    }
                    continue;
                }
            },
            _ => sub.next().await,
        };
        let Some(event) = next else { break };
        if coalesce && event.is(EventType::LlmPartial) {
            match held.as_mut() {
                Some(h) if h.agent_id == event.agent_id => {
                    let more = event.message.unwrap_or_default();
                    h.message.get_or_insert_with(String::new).push_str(&more);
                    // The merged delta resumes after its last part.
                    h.stream_id = event.stream_id;
                }
                _ => {
                    deadline = tokio::time::Instant::now() + FRAME;
                    if let Some(h) = held.replace(event)
                        && channel.send(h).is_err()
                    {
                        return;
                    }
                }
            }
            continue;
        }
        if let Some(h) = held.take()
            && channel.send(h).is_err()
        {
            return;
        }
        if channel.send(event).is_err() {
            // The webview dropped the channel (unsubscribed or reloaded).
            return;
        }
    }
    if let Some(h) = held.take() {
        let _ = channel.send(h);
    }
}

// ---- HTTP listener (opt-in permission `shannon:allow-listener`) ----------------------------------

/// Starts the loopback HTTP listener on `port` (default: the configured one; 0 picks a free port).
/// The status carries the per-launch token.
#[tauri::command]
#[specta::specta]
pub async fn listener_start(state: State<'_, Shannon>, port: Option<u16>) -> Res<ListenerStatus> {
    state.start_listener(port).await
}

#[tauri::command]
#[specta::specta]
pub async fn listener_stop(state: State<'_, Shannon>) -> Res<()> {
    state.stop_listener().await;
    Ok(())
}

#[tauri::command]
#[specta::specta]
pub async fn listener_status(state: State<'_, Shannon>) -> Res<ListenerStatus> {
    Ok(state.listener_status().await)
}
