//! Schedules: cron schedules that submit a task at each fire time, and their runs.

use tauri::State;

use super::Res;
use crate::core::schedules::{
    ScheduleAck, ScheduleCreated, ScheduleInfo, ScheduleList, ScheduleRequest, ScheduleRunList,
};
use crate::state::Shannon;

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
