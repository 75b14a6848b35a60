//! The generated TypeScript bindings, the command list and the permission files agree with the code.

use std::path::Path;

use tauri_plugin_shannon::ipc::{COMMANDS, export_bindings};

const BINDINGS: &str = "guest-js/bindings.ts";

fn export_to_string() -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bindings.ts");
    export_bindings::<tauri::test::MockRuntime>(&path).expect("bindings export");
    std::fs::read_to_string(path).unwrap()
}

/// Fails when the committed bindings differ from the code, after rewriting them, so that committing
/// the regenerated file is all it takes to fix.
#[test]
fn bindings_are_up_to_date() {
    let fresh = export_to_string();
    let committed = std::fs::read_to_string(BINDINGS).unwrap_or_default();
    if fresh != committed {
        std::fs::write(BINDINGS, &fresh).unwrap();
        panic!("{BINDINGS} was stale and has been regenerated: review and commit it");
    }
}

/// The HTTP door's OpenAPI document, committed as the reference (`docs/reference/openapi.json`):
/// a change to a route or a type shows up in review, and the file is rewritten when stale.
#[test]
fn openapi_reference_is_up_to_date() {
    const OPENAPI: &str = "docs/reference/openapi.json";
    let doc = tauri_plugin_shannon::http::openapi_document()
        .as_ref()
        .expect("the OpenAPI document builds");
    let fresh = serde_json::to_string_pretty(doc).unwrap() + "\n";
    let committed = std::fs::read_to_string(OPENAPI).unwrap_or_default();
    if fresh != committed {
        std::fs::create_dir_all("docs/reference").unwrap();
        std::fs::write(OPENAPI, &fresh).unwrap();
        panic!("{OPENAPI} was stale and has been regenerated: review and commit it");
    }
}

#[test]
fn every_command_is_in_the_bindings_once() {
    let text = export_to_string();
    for cmd in COMMANDS {
        let needle = format!("\"plugin:shannon|{cmd}\"");
        assert_eq!(text.matches(&needle).count(), 1, "{cmd} in bindings");
    }
    assert_eq!(text.matches("\"plugin:shannon|").count(), COMMANDS.len());
}

fn permission_ids(file: &str) -> String {
    std::fs::read_to_string(Path::new("permissions").join(file)).unwrap()
}

/// Every command is granted somewhere; those that reveal or destroy secrets, reconfigure the plugin,
/// send prompts or keys elsewhere, or run tools with no person asked only in named opt-in sets,
/// never in `default`.
#[test]
fn default_permissions_hold_only_the_safe_set() {
    let default = permission_ids("default.toml");
    let opt_in = permission_ids("opt-in.toml");
    let dangerous = [
        "delete_provider_key",
        "create_api_key",
        "revoke_api_key",
        "rotate_master_key",
        "set_plugin_config",
        "listener_start",
        "listener_stop",
        "listener_status",
        "grant_tool",
        "execute_tool",
        "set_provider_endpoint",
        "save_dangerous_skill",
        "set_dangerous_skills_allowed",
        "save_remote_profile",
        "delete_remote_profile",
        "set_remote_credential",
        "set_remote_config",
        "export_history",
        "import_history",
    ];
    for cmd in COMMANDS {
        let id = format!("\"allow-{}\"", cmd.replace('_', "-"));
        if dangerous.contains(cmd) {
            assert!(!default.contains(&id), "{cmd} must not be in default");
            assert!(opt_in.contains(&id), "{cmd} must be in an opt-in set");
        } else {
            assert!(default.contains(&id), "{cmd} missing from default");
        }
    }
}
