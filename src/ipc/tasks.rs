//! Tasks: submit, read, list, control (pause, resume, cancel), progress, output and timeline.

use tauri::State;

use super::Res;
use crate::core::tasks::SubmitTaskRequest;
use crate::core::tasks::control::{ControlResponse, ControlState};
use crate::core::tasks::progress::{TaskOutput, TaskProgress};
use crate::core::tasks::read::{ListTasksQuery, TaskDetails, TaskList};
use crate::core::tasks::submit::SubmitTaskResponse;
use crate::state::Shannon;

use crate::core::tasks::timeline::Timeline;

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

/// A task's history in the cloud's timeline vocabulary (`summary` or `full`).
#[tauri::command]
#[specta::specta]
pub async fn task_timeline(
    state: State<'_, Shannon>,
    id: String,
    mode: Option<String>,
    include_payloads: Option<bool>,
) -> Res<Timeline> {
    let (core, caller) = state.resolve().await?;
    core.task_timeline(
        &caller,
        &id,
        mode.as_deref(),
        include_payloads.unwrap_or(false),
    )
    .await
}
