//! The IPC door: typed Tauri commands (registered through tauri-specta) and typed app-wide events.
//! Commands only parse, call the core and return its errors.

pub mod catalog;
mod command_names;
pub mod commands;
pub mod events;
pub mod hitl;

use tauri::Runtime;

pub use command_names::COMMANDS;

use crate::plugin::PLUGIN_NAME;

/// The tauri-specta builder with every command and event; also used to export `guest-js/bindings.ts`.
pub fn specta_builder<R: Runtime>() -> tauri_specta::Builder<R> {
    tauri_specta::Builder::<R>::new()
        .plugin_name(PLUGIN_NAME)
        // One TS type per Rust type: the same shapes go in and out.
        .disable_serde_phases()
        // IPC payloads are JSON, which JavaScript reads as f64 whatever the Rust type: this only
        // lets `serde_json::Value` (task context, event payloads) export as `JsonValue`.
        .dangerously_cast_bigints_to_number()
        .commands(tauri_specta::collect_commands![
            commands::get_setting,
            commands::list_settings,
            commands::set_setting,
            commands::delete_setting,
            commands::set_provider_key,
            commands::get_provider_key,
            commands::list_provider_keys,
            commands::delete_provider_key,
            commands::mark_provider_key_used,
            commands::provider_status,
            commands::register,
            commands::login,
            commands::refresh_token,
            commands::me,
            commands::sign_in,
            commands::sign_out,
            commands::create_api_key,
            commands::list_api_keys,
            commands::revoke_api_key,
            commands::rotate_master_key,
            commands::get_plugin_config,
            commands::set_plugin_config,
            commands::submit_task,
            commands::get_task,
            commands::list_tasks,
            commands::get_task_events,
            commands::get_control_state,
            commands::pause_task,
            commands::resume_task,
            commands::cancel_task,
            commands::get_task_progress,
            commands::get_task_output,
            commands::subscribe_task,
            hitl::decide_approval,
            hitl::list_approvals,
            hitl::list_tool_grants,
            hitl::grant_tool,
            hitl::revoke_tool_grant,
            hitl::send_swarm_message,
            hitl::get_research_review,
            hitl::review_research_plan,
            commands::create_schedule,
            commands::list_schedules,
            commands::get_schedule,
            commands::update_schedule,
            commands::pause_schedule,
            commands::resume_schedule,
            commands::delete_schedule,
            commands::get_schedule_runs,
            commands::listener_start,
            commands::listener_stop,
            commands::listener_status,
            commands::list_sessions,
            commands::get_session,
            commands::get_session_history,
            commands::get_session_events,
            commands::rename_session,
            commands::delete_session,
            commands::list_session_files,
            commands::read_session_file,
            commands::list_memory_files,
            commands::read_memory_file,
            catalog::list_skills,
            catalog::get_skill,
            catalog::skill_versions,
            catalog::save_skill,
            catalog::delete_skill,
            catalog::list_agents,
            catalog::get_agent,
            catalog::execute_agent,
            catalog::list_tools,
            catalog::get_tool,
            catalog::execute_tool,
            catalog::task_timeline,
            catalog::mcp_status,
        ])
        .events(tauri_specta::collect_events![
            events::SettingsChanged,
            events::ProviderKeysChanged,
            events::TaskStatusChanged
        ])
}
