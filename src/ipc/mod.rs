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
pub mod history;
pub mod hitl;
pub mod listener;
pub mod mcp;
pub mod remote;
pub mod schedules;
pub mod sessions;
pub mod settings;
pub mod streams;
pub mod tasks;

use tauri::Runtime;

pub use command_names::COMMANDS;

use crate::core::error::ShannonError;
use crate::core::streams::payloads;
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
            remote::list_remote_profiles,
            remote::save_remote_profile,
            remote::delete_remote_profile,
            remote::set_remote_credential,
            remote::verify_remote_profile,
            remote::remote_status,
            remote::set_remote_config,
            remote::fork_session,
            remote::remote_catalog,
            remote::sync_remote_sessions,
            remote::push_schedules,
            history::export_history,
            history::import_history,
            history::pull_history,
        ])
        .events(tauri_specta::collect_events![
            events::SettingsChanged,
            events::ProviderKeysChanged,
            events::TaskStatusChanged,
            events::RemoteStatusChanged,
            events::HistoryProgress
        ])
        // Each event type's payload, which the `TaskEvent` union of [`export_bindings`] names.
        .types(&payloads::types())
}

/// The header of the generated bindings.
const BINDINGS_HEADER: &str = "// Generated by `cargo test --test bindings`: do not edit.\n";

/// Writes the TypeScript bindings (`guest-js/bindings.ts`) to `path`: specta's export, with the
/// struct `TaskEvent` (whose `type` is any string) split into `TaskEventBase`, its other fields,
/// and the union over the event catalogue that [`payloads::typescript_union`] writes. The only
/// export path, so every copy of the bindings has the union.
pub fn export_bindings<R: Runtime>(path: &std::path::Path) -> Result<(), String> {
    specta_builder::<R>()
        .export(
            specta_typescript::Typescript::default().header(BINDINGS_HEADER),
            path,
        )
        .map_err(|e| format!("bindings export: {e}"))?;
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let text = with_event_union(&text)?;
    std::fs::write(path, text).map_err(|e| e.to_string())
}

/// `text` with its `TaskEvent` declaration replaced (see [`export_bindings`]).
fn with_event_union(text: &str) -> Result<String, String> {
    const START: &str = "export type TaskEvent = {\n";
    let missing =
        |what: &str| format!("the exported TaskEvent has no {what}: has its Rust type changed?");
    let start = text.find(START).ok_or_else(|| missing("declaration"))?;
    let end = start + text[start..].find("\n};\n").ok_or_else(|| missing("end"))? + 4;
    // Its doc comment, which the union takes over.
    let doc_start = text[..start]
        .rfind("/**")
        .filter(|&d| !text[d..start].contains("*/\n\n"))
        .unwrap_or(start);
    let body = &text[start + START.len()..end - 3];
    let mut base =
        String::from("/**  The fields every event has. */\nexport type TaskEventBase = {\n");
    let (mut saw_type, mut saw_payload) = (false, false);
    for line in body.lines() {
        match line.trim() {
            "type: string," => saw_type = true,
            "payload?: Value | null," => saw_payload = true,
            _ => {
                base.push_str(line);
                base.push('\n');
            }
        }
    }
    if !(saw_type && saw_payload) {
        return Err(missing("`type: string` and `payload?: Value | null`"));
    }
    base.push_str("};\n\n");
    base.push_str(&payloads::typescript_union());
    Ok(format!("{}{base}{}", &text[..doc_start], &text[end..]))
}
