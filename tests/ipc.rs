//! Every IPC command through the real Tauri IPC path (MockRuntime): success and error cases.

mod common;
#[path = "support/lcg.rs"]
mod lcg;

use common::TestApp;
use serde_json::json;

const EMBEDDED_USER: &str = "00000000-0000-0000-0000-000000000002";

#[test]
fn settings_roundtrip_and_errors() {
    let t = TestApp::new();
    assert_eq!(t.ok("list_settings", json!({})), json!([]));

    let s = t.ok(
        "set_setting",
        json!({"key": "ui.theme", "value": "\"dark\""}),
    );
    assert_eq!(s["key"], "ui.theme");
    assert_eq!(s["value"], "\"dark\"");
    t.ok(
        "set_setting",
        json!({"key": "limits", "value": "{ \"max\" : 3 }"}),
    );
    // Values come back as canonical JSON text.
    assert_eq!(
        t.ok("get_setting", json!({"key": "limits"}))["value"],
        "{\"max\":3}"
    );
    let all = t.ok("list_settings", json!({}));
    assert_eq!(all.as_array().unwrap().len(), 2);
    // Overwrite keeps one row.
    t.ok(
        "set_setting",
        json!({"key": "ui.theme", "value": "\"light\""}),
    );
    assert_eq!(
        t.ok("get_setting", json!({"key": "ui.theme"}))["value"],
        "\"light\""
    );

    t.err(
        "set_setting",
        json!({"key": "ui.theme", "value": "{not json"}),
        "invalid_json",
    );
    t.err(
        "set_setting",
        json!({"key": "bad key!", "value": "1"}),
        "invalid_request",
    );
    let huge = format!("\"{}\"", "x".repeat(70 * 1024));
    t.err(
        "set_setting",
        json!({"key": "big", "value": huge}),
        "payload_too_large",
    );
    t.err("get_setting", json!({"key": "missing"}), "not_found");

    t.ok("delete_setting", json!({"key": "ui.theme"}));
    t.err("get_setting", json!({"key": "ui.theme"}), "not_found");
    t.err("delete_setting", json!({"key": "ui.theme"}), "not_found");
    // The invalid write did not clobber anything.
    assert_eq!(
        t.ok("get_setting", json!({"key": "limits"}))["value"],
        "{\"max\":3}"
    );
}

#[test]
fn provider_keys_masked_lifecycle() {
    let t = TestApp::new();
    let secret = "sk-proj-ABCDEFGHIJKLMNOPQRSTUV9876";
    let info = t.ok(
        "set_provider_key",
        json!({"provider": "OpenAI", "apiKey": secret}),
    );
    assert_eq!(info["provider"], "openai");
    assert_eq!(info["masked_key"], "sk-p****9876");
    assert!(!info.to_string().contains(secret));

    let got = t.ok("get_provider_key", json!({"provider": "openai"}));
    assert_eq!(got["masked_key"], "sk-p****9876");
    assert_eq!(got["last_used_at"], json!(null));
    t.ok("mark_provider_key_used", json!({"provider": "openai"}));
    assert!(t.ok("get_provider_key", json!({"provider": "openai"}))["last_used_at"].is_string());

    let list = t.ok("list_provider_keys", json!({}));
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(secret));

    t.err(
        "set_provider_key",
        json!({"provider": "nosuch", "apiKey": "x"}),
        "unknown_provider",
    );
    t.err(
        "get_provider_key",
        json!({"provider": "nosuch"}),
        "unknown_provider",
    );
    t.err(
        "set_provider_key",
        json!({"provider": "anthropic", "apiKey": "  "}),
        "invalid_request",
    );
    t.err(
        "get_provider_key",
        json!({"provider": "anthropic"}),
        "not_found",
    );
    t.err(
        "mark_provider_key_used",
        json!({"provider": "anthropic"}),
        "not_found",
    );
    // An unknown provider name that looks like a pasted key is not echoed back.
    let e = t.err(
        "set_provider_key",
        json!({"provider": "sk-ant-api03-verysecretvalue-0000", "apiKey": "x"}),
        "unknown_provider",
    );
    assert!(!e.to_string().contains("verysecret"));

    t.ok("delete_provider_key", json!({"provider": "openai"}));
    t.err(
        "delete_provider_key",
        json!({"provider": "openai"}),
        "not_found",
    );
    t.err(
        "delete_provider_key",
        json!({"provider": "nosuch"}),
        "unknown_provider",
    );
    assert_eq!(t.ok("list_provider_keys", json!({})), json!([]));
}

#[test]
fn provider_status_tells_what_is_ready() {
    let t = TestApp::new();
    let status = t.ok("provider_status", json!({}));
    let find = |s: &serde_json::Value, id: &str| {
        s.as_array()
            .unwrap()
            .iter()
            .find(|p| p["provider"] == id)
            .cloned()
            .unwrap()
    };
    let openai = find(&status, "openai");
    assert_eq!(openai["ready"], false);
    assert_eq!(openai["is_configured"], false);
    assert!(openai["reason"].as_str().unwrap().contains("API key"));
    let demo = find(&status, "demo");
    assert_eq!(demo["ready"], true);
    assert_eq!(demo["offline_demo"], true);
    assert_eq!(find(&status, "custom")["ready"], false);

    t.ok(
        "set_provider_key",
        json!({"provider": "openai", "apiKey": "sk-test-000000000000abcd"}),
    );
    // A base URL with nothing listening there is not enough: a local provider must answer.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}/v1");
    t.ok(
        "set_provider_endpoint",
        json!({"provider": "custom", "baseUrl": url}),
    );
    let status = t.ok("provider_status", json!({}));
    let openai = find(&status, "openai");
    assert_eq!(openai["ready"], true);
    assert_eq!(openai["masked_key"], "sk-t****abcd");
    let custom = find(&status, "custom");
    assert_eq!(custom["ready"], false);
    assert_eq!(custom["base_url"], json!(url));
    let reason = custom["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("not running at {url}/models")),
        "{reason}"
    );

    // With an HTTP server answering there (any status counts), it is ready.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", server.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut sock in server.incoming().flatten() {
            let _ = sock.read(&mut [0u8; 4096]);
            let _ = sock.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        }
    });
    t.ok(
        "set_provider_endpoint",
        json!({"provider": "custom", "baseUrl": url}),
    );
    let custom = find(&t.ok("provider_status", json!({})), "custom");
    assert_eq!(custom["ready"], true, "{custom}");
    assert_eq!(custom["base_url"], json!(url));
}

#[test]
fn register_login_me_refresh_and_sign_out() {
    let t = TestApp::new();
    assert_eq!(t.ok("me", json!({}))["user_id"], EMBEDDED_USER);
    assert_eq!(t.ok("me", json!({}))["auth_method"]["kind"], "embedded");

    let reg = t.ok(
        "register",
        json!({"request": {"email": "Ada@Example.com", "username": null, "password": "correct horse", "full_name": "Ada"}}),
    );
    assert_eq!(reg["is_new_user"], true);
    assert_eq!(reg["expires_in"], 3600);
    assert_eq!(reg["user"]["email"], "ada@example.com");
    assert_eq!(reg["user"]["username"], "ada");
    let user_id = reg["user_id"].as_str().unwrap().to_string();
    // Registering signs the webview in as the new user.
    assert_eq!(t.ok("me", json!({}))["user_id"], json!(user_id));
    assert_eq!(t.ok("me", json!({}))["auth_method"]["kind"], "jwt");

    t.err(
        "register",
        json!({"request": {"email": "ada@example.com", "username": "ada2", "password": "correct horse", "full_name": null}}),
        "conflict",
    );
    t.err(
        "register",
        json!({"request": {"email": "not-an-email", "username": null, "password": "correct horse", "full_name": null}}),
        "invalid_request",
    );
    t.err(
        "register",
        json!({"request": {"email": "bob@example.com", "username": null, "password": "short", "full_name": null}}),
        "invalid_request",
    );

    t.ok("sign_out", json!({}));
    assert_eq!(t.ok("me", json!({}))["user_id"], EMBEDDED_USER);

    t.err(
        "login",
        json!({"request": {"email": "ada@example.com", "password": "wrong horse"}}),
        "invalid_credentials",
    );
    t.err(
        "login",
        json!({"request": {"email": "nobody@example.com", "password": "correct horse"}}),
        "invalid_credentials",
    );
    // The embedded user has no password and cannot be logged into.
    t.err(
        "login",
        json!({"request": {"email": "embedded_user", "password": "anything-at-all"}}),
        "invalid_credentials",
    );
    let login = t.ok(
        "login",
        json!({"request": {"email": "ADA", "password": "correct horse"}}),
    );
    assert_eq!(login["is_new_user"], false);
    assert_eq!(login["user_id"], json!(user_id));

    // Settings are per user: Ada does not see the embedded user's.
    t.ok("sign_out", json!({}));
    t.ok(
        "set_setting",
        json!({"key": "who", "value": "\"embedded\""}),
    );
    t.ok("sign_in", json!({"token": login["access_token"]}));
    t.err("get_setting", json!({"key": "who"}), "not_found");

    // Refresh rotates: the new pair works, the old refresh token is dead afterwards.
    let refresh = login["refresh_token"].clone();
    let pair = t.ok("refresh_token", json!({"refreshToken": refresh}));
    assert_ne!(pair["refresh_token"], refresh);
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(t.ok("me", json!({}))["user_id"], json!(user_id));
    t.err(
        "refresh_token",
        json!({"refreshToken": refresh}),
        "invalid_refresh_token",
    );
    // Reusing the old token revoked the whole family, the newest token included.
    t.err(
        "refresh_token",
        json!({"refreshToken": pair["refresh_token"]}),
        "invalid_refresh_token",
    );
    // An access token is not a refresh token.
    t.err(
        "refresh_token",
        json!({"refreshToken": pair["access_token"]}),
        "invalid_refresh_token",
    );
}

#[test]
fn bad_tokens_are_rejected() {
    let t = TestApp::new();
    let reg = t.ok(
        "register",
        json!({"request": {"email": "eve@example.com", "username": null, "password": "long enough", "full_name": null}}),
    );
    let access = reg["access_token"].as_str().unwrap().to_string();
    t.ok("sign_out", json!({}));

    // Tampered payload (signature no longer matches).
    let parts: Vec<&str> = access.split('.').collect();
    let mut payload = parts[1].to_string();
    let last = payload.pop().unwrap();
    payload.push(if last == 'A' { 'B' } else { 'A' });
    let tampered = format!("{}.{}.{}", parts[0], payload, parts[2]);
    t.err("sign_in", json!({"token": tampered}), "invalid_token");

    // alg "none" with no signature.
    use base64_like::encode;
    let header = encode(br#"{"alg":"none","typ":"JWT"}"#);
    let none = format!("{header}.{}.", parts[1]);
    t.err("sign_in", json!({"token": none}), "invalid_token");

    // Expired, but signed with the real key.
    let core = futures_lite_block_on(async {
        use tauri::Manager;
        let shannon = t.app.state::<tauri_plugin_shannon::Shannon>();
        shannon.core().await.unwrap().clone()
    });
    let expired = core
        .sign_access_token_expiring_at(
            reg["user_id"].as_str().unwrap(),
            reg["tenant_id"].as_str().unwrap(),
            chrono_now() - 10,
        )
        .unwrap();
    t.err("sign_in", json!({"token": expired}), "token_expired");

    t.err("sign_in", json!({"token": "garbage"}), "invalid_token");
    // A failed sign-in leaves the webview as it was.
    assert_eq!(t.ok("me", json!({}))["user_id"], EMBEDDED_USER);
}

#[test]
fn api_keys_create_list_revoke_and_sign_in() {
    let t = TestApp::new();
    let created = t.ok(
        "create_api_key",
        json!({"request": {"name": "CLI", "description": "laptop"}}),
    );
    let key = created["api_key"].as_str().unwrap().to_string();
    assert!(key.starts_with("sk_") && key.len() == 67, "{key}");
    assert_eq!(created["key_prefix"], json!(&key[..8]));

    let list = t.ok("list_api_keys", json!({}));
    assert_eq!(list["total"], 1);
    assert_eq!(list["keys"][0]["is_active"], true);
    assert!(
        !list.to_string().contains(&key),
        "the key is shown only once"
    );

    // A key authenticates (also in the cloud's sk-shannon- spelling) and records its use.
    let profile = t.ok("sign_in", json!({"token": key}));
    assert_eq!(profile["auth_method"]["kind"], "api_key");
    t.ok("sign_out", json!({}));
    t.ok(
        "sign_in",
        json!({"token": key.replacen("sk_", "sk-shannon-", 1)}),
    );
    t.ok("sign_out", json!({}));
    assert!(t.ok("list_api_keys", json!({}))["keys"][0]["last_used_at"].is_string());

    t.err(
        "create_api_key",
        json!({"request": {"name": " ", "description": null}}),
        "invalid_request",
    );
    t.err(
        "revoke_api_key",
        json!({"id": "not-a-uuid"}),
        "invalid_request",
    );
    t.err(
        "revoke_api_key",
        json!({"id": "8d4f7c7e-1c1f-4c1e-9c1e-1c1e1c1e1c1e"}),
        "not_found",
    );

    let id = created["id"].clone();
    t.ok("revoke_api_key", json!({"id": id}));
    t.err("revoke_api_key", json!({"id": id}), "not_found");
    assert_eq!(
        t.ok("list_api_keys", json!({}))["keys"][0]["is_active"],
        false
    );
    // A revoked key no longer authenticates.
    t.err("sign_in", json!({"token": key}), "invalid_token");
    let mut wrong = key.clone();
    wrong.replace_range(66..67, if key.ends_with('0') { "1" } else { "0" });
    t.err("sign_in", json!({"token": wrong}), "invalid_token");
}

#[test]
fn master_key_rotation_keeps_every_secret_readable() {
    let t = TestApp::new();
    t.ok(
        "set_provider_key",
        json!({"provider": "anthropic", "apiKey": "sk-ant-api03-rotate-me-0000abcd"}),
    );
    let old_key = std::fs::read_to_string(t.data_dir().join("master.key")).unwrap();
    let report = t.ok("rotate_master_key", json!({}));
    assert_eq!(report["provider_keys"], 1);
    assert!(report["secrets"].as_u64().unwrap() >= 2, "{report}");
    let new_key = std::fs::read_to_string(t.data_dir().join("master.key")).unwrap();
    assert_ne!(old_key, new_key);
    assert!(!t.data_dir().join("master.key.next").exists());
    assert_eq!(
        t.ok("get_provider_key", json!({"provider": "anthropic"}))["masked_key"],
        "sk-a****abcd"
    );
    // Tokens signed before the rotation still verify (the JWT secret was re-encrypted, not replaced).
    let reg = t.ok(
        "register",
        json!({"request": {"email": "rot@example.com", "username": null, "password": "long enough", "full_name": null}}),
    );
    t.ok("rotate_master_key", json!({}));
    t.ok("sign_in", json!({"token": reg["access_token"]}));
}

#[test]
fn plugin_config_get_set_and_validate() {
    let t = TestApp::new();
    let c = t.ok("get_plugin_config", json!({}));
    assert_eq!(c["default_provider"], "demo");
    assert_eq!(c["listener_enabled"], false);
    let c = t.ok(
        "set_plugin_config",
        json!({"update": {"default_provider": "Anthropic", "default_model": "claude-sonnet-4-5", "listener_enabled": true, "listener_port": 8765, "data_dir": null}}),
    );
    assert_eq!(c["default_provider"], "anthropic");
    assert_eq!(c["listener_port"], 8765);
    t.err(
        "set_plugin_config",
        json!({"update": {"default_provider": "nosuch"}}),
        "unknown_provider",
    );
    t.err(
        "set_plugin_config",
        json!({"update": {"listener_port": 80}}),
        "invalid_request",
    );
    t.err(
        "set_plugin_config",
        json!({"update": {"data_dir": "relative/dir"}}),
        "invalid_request",
    );
    // Failed updates changed nothing; the good one is saved in the plugin's signed file, as the
    // update (a header line with the MAC, then the JSON).
    assert_eq!(t.ok("get_plugin_config", json!({}))["listener_port"], 8765);
    let file = t
        .dir
        .path()
        .join("app")
        .read_dir()
        .unwrap()
        .flatten()
        .map(|e| e.path().join("shannon-plugin-config"))
        .chain([t.dir.path().join("app").join("shannon-plugin-config")])
        .find(|p| p.exists())
        .expect("the saved configuration");
    let text = std::fs::read_to_string(&file).unwrap();
    let (header, body) = text.split_once('\n').unwrap();
    assert!(header.starts_with("shannon-plugin-config v1 hmac-sha256="));
    let saved: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(saved["default_model"], "claude-sonnet-4-5");
}

#[test]
fn commands_outside_the_granted_set_are_refused() {
    let t = TestApp::with_allowed(&["list_settings"]);
    t.ok("list_settings", json!({}));
    let e = t.invoke("rotate_master_key", json!({})).unwrap_err();
    assert!(e.to_string().contains("not allowed"), "{e}");
}

#[test]
fn malformed_arguments_are_refused() {
    let t = TestApp::new();
    let e = t.invoke("set_setting", json!({"key": 5})).unwrap_err();
    assert!(e.is_string(), "{e}");
}

/// Minimal helpers so the test needs no extra crates.
mod base64_like {
    pub fn encode(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
}

fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    tauri::async_runtime::block_on(f)
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn settings_and_key_changes_are_announced_as_typed_events() {
    use tauri::Listener;
    let t = TestApp::new();
    let (tx, rx) = std::sync::mpsc::channel::<(String, serde_json::Value)>();
    for name in [
        "plugin:shannon:settings-changed",
        "plugin:shannon:provider-keys-changed",
    ] {
        let tx = tx.clone();
        t.app.listen_any(name, move |e| {
            let payload = serde_json::from_str(e.payload()).unwrap();
            tx.send((name.to_string(), payload)).unwrap();
        });
    }
    t.ok("set_setting", json!({"key": "ui.lang", "value": "\"en\""}));
    let secret = "sk-event-test-00000000000009999";
    t.ok(
        "set_provider_key",
        json!({"provider": "groq", "apiKey": secret}),
    );
    let wait = std::time::Duration::from_secs(10);
    let (name, payload) = rx.recv_timeout(wait).expect("settings event");
    assert_eq!(name, "plugin:shannon:settings-changed");
    assert_eq!(payload, json!({"user_id": EMBEDDED_USER, "key": "ui.lang"}));
    let (name, payload) = rx.recv_timeout(wait).expect("provider key event");
    assert_eq!(name, "plugin:shannon:provider-keys-changed");
    assert_eq!(
        payload,
        json!({"user_id": EMBEDDED_USER, "provider": "groq"})
    );
    assert!(!payload.to_string().contains(secret));
}

#[test]
fn tasks_and_sessions_through_ipc() {
    let t = TestApp::new();
    t.err(
        "submit_task",
        json!({"request": {"query": " "}, "idempotencyKey": null}),
        "invalid_request",
    );
    t.err(
        "submit_task",
        json!({"request": {"query": "q", "provider_override": "anthropic"}, "idempotencyKey": null}),
        "provider_not_ready",
    );
    let sub = t.ok(
        "submit_task",
        json!({"request": {"query": "Hello over IPC", "session_id": "ipc-chat"}, "idempotencyKey": "k1"}),
    );
    let id = sub["task_id"].as_str().unwrap().to_string();
    let again = t.ok(
        "submit_task",
        json!({"request": {"query": "Hello over IPC", "session_id": "ipc-chat"}, "idempotencyKey": "k1"}),
    );
    assert_eq!(again["task_id"], json!(id));
    assert_eq!(again["idempotent_replay"], true);

    // Wait (bounded) for the demo run to finish.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let task = loop {
        let task = t.ok("get_task", json!({"taskId": id}));
        if task["status"] == "TASK_STATUS_COMPLETED" {
            break task;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "task did not finish: {task}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(task["result"].as_str().unwrap().contains("Hello over IPC"));
    assert_eq!(task["provider"], "demo");
    let progress = t.ok("get_task_progress", json!({"taskId": id}));
    assert_eq!(progress["progress_percent"], 100.0);
    assert_eq!(progress["completed_steps"], progress["total_steps"]);
    let output = t.ok("get_task_output", json!({"taskId": id}));
    assert_eq!(output["output"], task["result"]);
    assert_eq!(output["status"], "TASK_STATUS_COMPLETED");

    let list = t.ok("list_tasks", json!({"query": {"limit": 10}}));
    assert_eq!(list["total_count"], 1);
    t.err(
        "list_tasks",
        json!({"query": {"status": "PAUSED"}}),
        "invalid_request",
    );
    let events = t.ok(
        "get_task_events",
        json!({"taskId": id, "limit": 50, "offset": null}),
    );
    assert_eq!(events["events"][0]["type"], "DATA_PROCESSING");
    assert_eq!(events["events"][0]["seq"], 1);
    let state = t.ok("get_control_state", json!({"taskId": id}));
    assert_eq!(state["is_paused"], false);
    assert_eq!(state["paused_at"], "");
    let e = t.err(
        "pause_task",
        json!({"taskId": id, "reason": null}),
        "invalid_state",
    );
    assert_eq!(e["message"], "cannot pause completed task");
    t.err(
        "resume_task",
        json!({"taskId": id, "reason": null}),
        "invalid_state",
    );
    assert_eq!(
        t.ok("cancel_task", json!({"taskId": id, "reason": null}))["success"],
        false
    );
    t.err("get_task", json!({"taskId": "task-missing"}), "not_found");
    t.err("get_task", json!({"taskId": "../etc"}), "invalid_request");

    let sessions = t.ok("list_sessions", json!({"limit": null, "offset": null}));
    assert_eq!(sessions["total_count"], 1);
    let session = t.ok("get_session", json!({"sessionId": "ipc-chat"}));
    assert_eq!(session["task_count"], 1);
    let history = t.ok("get_session_history", json!({"sessionId": "ipc-chat"}));
    assert_eq!(history["tasks"][0]["workflow_id"], json!(id));
    let turns = t.ok(
        "get_session_events",
        json!({"sessionId": "ipc-chat", "limit": null, "offset": null, "includePayload": true}),
    );
    assert_eq!(turns["count"], 1);
    assert!(
        turns["turns"][0]["events"][1]["payload"].is_string(),
        "payloads are JSON text"
    );
    let renamed = t.ok(
        "rename_session",
        json!({"sessionId": "ipc-chat", "title": "Greeting"}),
    );
    assert_eq!(renamed["title"], "Greeting");
    t.err(
        "rename_session",
        json!({"sessionId": "ipc-chat", "title": ""}),
        "invalid_request",
    );
    t.ok("delete_session", json!({"sessionId": "ipc-chat"}));
    t.ok("delete_session", json!({"sessionId": "ipc-chat"}));
    t.err("get_session", json!({"sessionId": "ipc-chat"}), "not_found");
}

#[test]
fn subscribe_task_streams_over_a_channel_and_resumes() {
    let t = TestApp::new();
    let sub = t.ok(
        "submit_task",
        json!({"request": {"query": "Stream me over a channel"}, "idempotencyKey": null}),
    );
    let id = sub["task_id"].as_str().unwrap().to_string();
    t.ok(
        "subscribe_task",
        json!({"taskId": id, "lastEventId": null, "types": null, "coalesce": true, "onEvent": "__CHANNEL__:7"}),
    );
    let wait = std::time::Duration::from_secs(60);
    let mut received = Vec::new();
    loop {
        let (channel, event) = t
            .channel_messages
            .recv_timeout(wait)
            .expect("channel message");
        assert_eq!(channel, 7);
        let end = event["type"] == "STREAM_END";
        received.push(event);
        if end {
            break;
        }
    }
    let stored = t.ok(
        "get_task_events",
        json!({"taskId": id, "limit": 200, "offset": null}),
    )["events"]
        .as_array()
        .unwrap()
        .clone();
    let persisted: Vec<_> = received
        .iter()
        .filter(|e| e["type"] != "LLM_PARTIAL" && e["type"] != "LLM_PROMPT")
        .cloned()
        .collect();
    assert_eq!(
        persisted, stored,
        "the channel carried the stored stream exactly, in order"
    );
    let text: String = received
        .iter()
        .filter(|e| e["type"] == "LLM_PARTIAL")
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    let result = t.ok("get_task", json!({"taskId": id}))["result"].clone();
    assert_eq!(
        json!(text),
        result,
        "coalesced deltas still add up to the answer"
    );

    // Resuming after seq 3 with a type filter replays only what follows.
    t.ok(
        "subscribe_task",
        json!({"taskId": id, "lastEventId": 3, "types": ["LLM_OUTPUT", "STREAM_END"], "coalesce": null, "onEvent": "__CHANNEL__:8"}),
    );
    let mut replay = Vec::new();
    loop {
        let (_, event) = t
            .channel_messages
            .recv_timeout(wait)
            .expect("replayed message");
        let end = event["type"] == "STREAM_END";
        replay.push(event);
        if end {
            break;
        }
    }
    let expected: Vec<_> = stored
        .iter()
        .filter(|e| {
            e["seq"].as_u64().unwrap() > 3
                && (e["type"] == "LLM_OUTPUT" || e["type"] == "STREAM_END")
        })
        .cloned()
        .collect();
    assert_eq!(replay, expected);
    t.err(
        "subscribe_task",
        json!({"taskId": "task-missing", "lastEventId": null, "types": null, "coalesce": null, "onEvent": "__CHANNEL__:9"}),
        "not_found",
    );
    t.err(
        "subscribe_task",
        json!({"taskId": id, "lastStreamId": "3-x", "types": null, "coalesce": null, "onEvent": "__CHANNEL__:10"}),
        "invalid_request",
    );
}

/// `unsubscribe_task` ends a subscription in the core: after it, the task goes on (an approval is
/// decided, the answer streams) and not one more message reaches the Channel.
#[test]
fn unsubscribe_task_stops_the_sends() {
    let t = TestApp::new();
    let sub = t.ok(
        "submit_task",
        json!({"request": {"query": "Wait for me", "context": {"require_approval": true}}, "idempotencyKey": null}),
    );
    let id = sub["task_id"].as_str().unwrap().to_string();
    t.ok(
        "subscribe_task",
        json!({"taskId": id, "lastEventId": null, "types": null, "coalesce": null, "onEvent": "__CHANNEL__:21"}),
    );
    let wait = std::time::Duration::from_secs(60);
    let approval_id = loop {
        let (channel, event) = t.channel_messages.recv_timeout(wait).expect("an event");
        assert_eq!(channel, 21);
        if event["type"] == "APPROVAL_REQUESTED" {
            break event["payload"]["approval_id"]
                .as_str()
                .unwrap()
                .to_string();
        }
    };
    t.ok("unsubscribe_task", json!({"channelId": 21}));
    // Idempotent: the page's close() and its AbortSignal may both call it.
    t.ok("unsubscribe_task", json!({"channelId": 21}));
    let received_before = {
        let mut n = 0;
        while t.channel_messages.try_recv().is_ok() {
            n += 1;
        }
        n
    };
    t.ok(
        "decide_approval",
        json!({"decision": {"workflow_id": id, "approval_id": approval_id, "approved": true}}),
    );
    let deadline = std::time::Instant::now() + wait;
    while t.ok("get_task", json!({"taskId": id}))["status"] != "TASK_STATUS_COMPLETED" {
        assert!(std::time::Instant::now() < deadline, "the task completes");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let stored = t.ok(
        "get_task_events",
        json!({"taskId": id, "limit": 200, "offset": null}),
    )["count"]
        .as_u64()
        .unwrap();
    assert!(
        stored > 3,
        "the task went on after the unsubscribe ({stored} events)"
    );
    let late: Vec<_> = t
        .channel_messages
        .recv_timeout(std::time::Duration::from_millis(500))
        .into_iter()
        .collect();
    assert!(
        late.is_empty(),
        "no send after unsubscribe_task ({received_before} in flight before it): {late:?}"
    );
}

#[test]
fn listener_start_status_stop() {
    let t = TestApp::new();
    assert_eq!(t.ok("listener_status", json!({}))["running"], false);
    let status = t.ok("listener_start", json!({"port": 0}));
    assert_eq!(status["running"], true);
    let token = status["token"].as_str().unwrap().to_string();
    assert!(token.len() >= 32, "at least 128 bits");
    let port = status["port"].as_u64().unwrap();
    // A plain HTTP/1.1 request with the token reaches the cloud routes.
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port as u16)).unwrap();
    write!(
        conn,
        "GET /api/v1/auth/me HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("embedded_user"));
    // Starting again returns the running listener.
    assert_eq!(
        t.ok("listener_start", json!({"port": null}))["port"],
        json!(port)
    );
    t.ok("listener_stop", json!({}));
    assert_eq!(t.ok("listener_status", json!({}))["running"], false);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port as u16)).is_err());
}

#[test]
fn task_status_changes_are_announced_as_typed_events() {
    use tauri::Listener;
    let t = TestApp::new();
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    t.app
        .listen_any("plugin:shannon:task-status-changed", move |e| {
            tx.send(serde_json::from_str(e.payload()).unwrap()).unwrap();
        });
    let sub = t.ok(
        "submit_task",
        json!({"request": {"query": "status events please"}, "idempotencyKey": null}),
    );
    let id = sub["task_id"].clone();
    let mut seen = Vec::new();
    while seen.last() != Some(&json!("TASK_STATUS_COMPLETED")) {
        let e = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("a status event");
        assert_eq!(e["task_id"], id);
        assert_eq!(e["user_id"], EMBEDDED_USER);
        seen.push(e["status"].clone());
    }
    assert_eq!(
        seen,
        [json!("TASK_STATUS_RUNNING"), json!("TASK_STATUS_COMPLETED")]
    );
}

#[test]
fn channel_resubscribes_at_100_random_points_lose_and_repeat_nothing() {
    let t = TestApp::new();
    let query = "Explain resumable Tauri channels in great detail, please. ".repeat(20);
    let sub = t.ok(
        "submit_task",
        json!({"request": {"query": query}, "idempotencyKey": null}),
    );
    let id = sub["task_id"].as_str().unwrap().to_string();
    let mut rng = lcg::Lcg(0x0c4a);
    let (mut received, mut text, mut last, mut channel) = (
        Vec::<serde_json::Value>::new(),
        String::new(),
        None::<String>,
        100u32,
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    'outer: loop {
        channel += 1;
        t.ok(
            "subscribe_task",
            json!({"taskId": id, "lastEventId": null, "lastStreamId": last, "types": null,
                   "coalesce": null, "onEvent": format!("__CHANNEL__:{channel}")}),
        );
        // Read a few events from this channel, then abandon it (as a reloaded page would).
        let (take, mut seen) = (1 + rng.next(3), 0);
        while seen < take {
            assert!(
                std::time::Instant::now() < deadline,
                "the stream never ended"
            );
            let (from, event) = t
                .channel_messages
                .recv_timeout(std::time::Duration::from_secs(60))
                .expect("a channel message");
            if from != channel {
                continue; // an abandoned subscription still delivering
            }
            seen += 1;
            // Resume after exactly this event, mid-answer included.
            last = Some(match event["stream_id"].as_str() {
                Some(id) => id.to_string(),
                None => event["seq"].to_string(),
            });
            if event["type"] == "LLM_PARTIAL" {
                text.push_str(event["message"].as_str().unwrap());
            } else if event["type"] != "LLM_PROMPT" {
                let end = event["type"] == "STREAM_END";
                received.push(event);
                if end {
                    break 'outer;
                }
            }
        }
    }
    assert!(channel - 100 >= 100, "only {} subscriptions", channel - 100);
    let stored = t.ok(
        "get_task_events",
        json!({"taskId": id, "limit": 200, "offset": null}),
    );
    assert_eq!(serde_json::Value::Array(received), stored["events"]);
    let task = t.ok("get_task", json!({"taskId": id}));
    assert_eq!(text, task["result"].as_str().unwrap(), "the streamed text");
}

#[test]
fn schedules_through_ipc() {
    let t = TestApp::new();
    let e = t.err(
        "create_schedule",
        json!({"request": {"name": "n", "cron_expression": "*/5 * * * *", "task_query": "q"}}),
        "invalid_request",
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("at least 60 minutes")
    );
    let created = t.ok(
        "create_schedule",
        json!({"request": {"name": "Weekly digest", "cron_expression": "0 8 * * 1",
                           "timezone": "America/New_York", "task_query": "Digest the week"}}),
    );
    let id = created["schedule_id"].as_str().unwrap().to_string();
    assert!(!created["next_run_at"].as_str().unwrap().is_empty());
    let list = t.ok(
        "list_schedules",
        json!({"page": null, "pageSize": null, "status": "ACTIVE"}),
    );
    assert_eq!(list["total_count"], 1);
    let updated = t.ok(
        "update_schedule",
        json!({"scheduleId": id, "request": {"task_query": "Digest the month"}}),
    );
    assert_eq!(updated["success"], true);
    let info = t.ok("get_schedule", json!({"scheduleId": id}));
    assert_eq!(info["task_query"], "Digest the month");
    assert_eq!(info["timezone"], "America/New_York");
    t.ok("pause_schedule", json!({"scheduleId": id}));
    assert_eq!(
        t.ok("get_schedule", json!({"scheduleId": id}))["status"],
        "PAUSED"
    );
    let resumed = t.ok("resume_schedule", json!({"scheduleId": id}));
    assert!(resumed["next_run_at"].is_string());
    let runs = t.ok(
        "get_schedule_runs",
        json!({"scheduleId": id, "page": null, "pageSize": null}),
    );
    assert_eq!(runs["total_count"], 0);
    t.ok("delete_schedule", json!({"scheduleId": id}));
    t.err("get_schedule", json!({"scheduleId": id}), "not_found");
}

#[test]
fn approvals_through_ipc() {
    let t = TestApp::new();
    let sub = t.ok(
        "submit_task",
        json!({"request": {"query": "Ask me first", "context": {"require_approval": true}}, "idempotencyKey": null}),
    );
    let id = sub["task_id"].as_str().unwrap().to_string();
    // What an app shows after a restart: the pending approvals, with their ids.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let pending = loop {
        let list = t.ok("list_approvals", json!({"status": null}));
        if let Some(first) = list.as_array().and_then(|l| l.first()) {
            break first.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no approval asked");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(pending["workflow_id"], json!(id));
    assert_eq!(pending["kind"], "plan");
    let approval_id = pending["approval_id"].as_str().unwrap();
    let decide = |approved: bool, approval: &str| json!({"decision": {"workflow_id": id, "approval_id": approval, "approved": approved}});
    t.err(
        "decide_approval",
        decide(true, "no-such-approval"),
        "not_found",
    );
    t.err(
        "decide_approval",
        json!({"decision": {"workflow_id": "", "approval_id": "", "approved": true}}),
        "invalid_request",
    );
    let sent = t.ok("decide_approval", decide(true, approval_id));
    assert_eq!(sent["status"], "sent");
    t.err("decide_approval", decide(false, approval_id), "conflict");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let task = t.ok("get_task", json!({"taskId": id}));
        if task["status"] == "TASK_STATUS_COMPLETED" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{task}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let decided = t.ok("list_approvals", json!({"status": "approved"}));
    assert_eq!(decided[0]["approval_id"], approval_id);
    assert_eq!(t.ok("list_tool_grants", json!({})), json!([]));
    t.err(
        "revoke_tool_grant",
        json!({"tool": "calculator", "sessionId": null}),
        "not_found",
    );
}

#[test]
fn research_plan_review_through_ipc() {
    let t = TestApp::new();
    let sub = t.ok(
        "submit_task",
        json!({"request": {"query": "Review my research", "context": {"force_research": true, "require_review": true}},
               "idempotencyKey": null}),
    );
    let id = sub["task_id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let review = loop {
        if let Ok(r) = t.invoke("get_research_review", json!({"taskId": id})) {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "no review opened");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(review["status"], "reviewing");
    let version = review["version"].as_i64().unwrap();
    t.err(
        "review_research_plan",
        json!({"taskId": id, "action": {"action": "approve", "message": null}, "ifMatch": version + 1}),
        "conflict",
    );
    let approved = t.ok(
        "review_research_plan",
        json!({"taskId": id, "action": {"action": "approve", "message": null}, "ifMatch": version}),
    );
    assert_eq!(approved["status"], "approved");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let task = t.ok("get_task", json!({"taskId": id}));
        if task["status"] == "TASK_STATUS_COMPLETED" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{task}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    t.err(
        "get_research_review",
        json!({"taskId": "task-missing"}),
        "not_found",
    );
}

#[test]
fn session_files_through_ipc() {
    let t = TestApp::new();
    let sub = t.ok(
        "submit_task",
        json!({"request": {"query": "Hello files", "session_id": "ipc-files"}, "idempotencyKey": null}),
    );
    let session = sub["session_id"].as_str().unwrap().to_string();
    // What an agent's file_write leaves in the session's folder.
    let root = t.data_dir().join("workspaces").join(&session);
    std::fs::create_dir_all(root.join("out")).unwrap();
    std::fs::write(root.join("out/report.md"), "# Report").unwrap();
    std::fs::write(root.join("out/logo.png"), [0x89, b'P', b'N', b'G', 0xff]).unwrap();
    let list = t.ok(
        "list_session_files",
        json!({"sessionId": "ipc-files", "path": "out"}),
    );
    assert_eq!(list["files"].as_array().unwrap().len(), 2);
    let md = t.ok(
        "read_session_file",
        json!({"sessionId": "ipc-files", "path": "out/report.md"}),
    );
    assert_eq!(
        (md["content"].as_str(), md["base64"].as_bool()),
        (Some("# Report"), Some(false))
    );
    let png = t.ok(
        "read_session_file",
        json!({"sessionId": "ipc-files", "path": "out/logo.png"}),
    );
    assert_eq!(
        (png["content"].as_str(), png["base64"].as_bool()),
        (Some("iVBOR/8="), Some(true))
    );
    t.err(
        "read_session_file",
        json!({"sessionId": "ipc-files", "path": "../x"}),
        "invalid_request",
    );
    t.err(
        "read_session_file",
        json!({"sessionId": "ipc-files", "path": "out/none.md"}),
        "not_found",
    );
    t.err(
        "list_session_files",
        json!({"sessionId": "nobody", "path": null}),
        "not_found",
    );
}
