// Every IPC command, for build.rs (ACL permissions) and the specta builder. A test checks that this
// list and the registered commands agree. Included by build.rs, so no `use` items here.

/// The plugin's IPC commands.
pub const COMMANDS: &[&str] = &[
    // settings
    "get_setting",
    "list_settings",
    "set_setting",
    "delete_setting",
    // provider keys
    "set_provider_key",
    "get_provider_key",
    "list_provider_keys",
    "delete_provider_key",
    "mark_provider_key_used",
    "provider_status",
    // users and tokens
    "register",
    "login",
    "refresh_token",
    "me",
    "sign_in",
    "sign_out",
    // Shannon API keys
    "create_api_key",
    "list_api_keys",
    "revoke_api_key",
    // secrets and configuration
    "rotate_master_key",
    "get_plugin_config",
    "set_plugin_config",
    // tasks
    "submit_task",
    "get_task",
    "list_tasks",
    "get_task_events",
    "get_control_state",
    "pause_task",
    "resume_task",
    "cancel_task",
    "get_task_progress",
    "get_task_output",
    "subscribe_task",
    // approvals
    "decide_approval",
    "list_approvals",
    "list_tool_grants",
    "revoke_tool_grant",
    "send_swarm_message",
    "get_research_review",
    "review_research_plan",
    // schedules
    "create_schedule",
    "list_schedules",
    "get_schedule",
    "update_schedule",
    "pause_schedule",
    "resume_schedule",
    "delete_schedule",
    "get_schedule_runs",
    // HTTP listener
    "listener_start",
    "listener_stop",
    "listener_status",
    // sessions
    "list_sessions",
    "get_session",
    "get_session_history",
    "get_session_events",
    "rename_session",
    "delete_session",
    "list_session_files",
    "read_session_file",
    "list_memory_files",
    "read_memory_file",
];
