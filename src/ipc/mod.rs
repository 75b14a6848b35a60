//! The IPC door: typed Tauri commands (registered through tauri-specta) and typed app-wide events.
//! Commands only parse, call the core and return its errors.

// Unused items in a build without `unstable-internals`: see src/core/mod.rs.
#![cfg_attr(not(feature = "unstable-internals"), allow(dead_code, unused_imports))]

pub mod auth;
pub mod catalog;
mod command_names;
pub mod config;
pub mod events;
pub mod files;
pub mod hitl;
pub mod listener;
pub mod mcp;
pub mod schedules;
pub mod sessions;
pub mod settings;
pub mod streams;
pub mod tasks;

use tauri::Runtime;

pub use command_names::COMMANDS;

use crate::core::error::ShannonError;
use crate::state::PLUGIN_NAME;

/// What every command returns: the core's value, or its error as `{kind, message}`.
type Res<T> = Result<T, ShannonError>;

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
            settings::get_setting,
            settings::list_settings,
            settings::set_setting,
            settings::set_provider_endpoint,
            settings::set_dangerous_skills_allowed,
            settings::delete_setting,
            settings::set_provider_key,
            settings::get_provider_key,
            settings::list_provider_keys,
            settings::delete_provider_key,
            settings::mark_provider_key_used,
            settings::provider_status,
            auth::register,
            auth::login,
            auth::refresh_token,
            auth::me,
            auth::sign_in,
            auth::sign_out,
            auth::create_api_key,
            auth::list_api_keys,
            auth::revoke_api_key,
            settings::rotate_master_key,
            config::get_plugin_config,
            config::set_plugin_config,
            tasks::submit_task,
            tasks::get_task,
            tasks::list_tasks,
            streams::get_task_events,
            tasks::get_control_state,
            tasks::pause_task,
            tasks::resume_task,
            tasks::cancel_task,
            tasks::get_task_progress,
            tasks::get_task_output,
            streams::subscribe_task,
            streams::unsubscribe_task,
            hitl::decide_approval,
            hitl::list_approvals,
            hitl::list_tool_grants,
            hitl::grant_tool,
            hitl::revoke_tool_grant,
            hitl::send_swarm_message,
            hitl::get_research_review,
            hitl::review_research_plan,
            schedules::create_schedule,
            schedules::list_schedules,
            schedules::get_schedule,
            schedules::update_schedule,
            schedules::pause_schedule,
            schedules::resume_schedule,
            schedules::delete_schedule,
            schedules::get_schedule_runs,
            listener::listener_start,
            listener::listener_stop,
            listener::listener_status,
            sessions::list_sessions,
            sessions::get_session,
            sessions::get_session_history,
            sessions::get_session_events,
            sessions::rename_session,
            sessions::delete_session,
            files::list_session_files,
            files::read_session_file,
            files::list_memory_files,
            files::read_memory_file,
            catalog::list_skills,
            catalog::get_skill,
            catalog::skill_versions,
            catalog::save_skill,
            catalog::save_dangerous_skill,
            catalog::list_llm_models,
            catalog::delete_skill,
            catalog::list_agents,
            catalog::get_agent,
            catalog::execute_agent,
            catalog::list_tools,
            catalog::get_tool,
            catalog::execute_tool,
            tasks::task_timeline,
            mcp::mcp_status,
        ])
        .events(tauri_specta::collect_events![
            events::SettingsChanged,
            events::ProviderKeysChanged,
            events::TaskStatusChanged
        ])
}
