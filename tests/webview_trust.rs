//! A compromised webview has the powers its capability grants and no more. Each test is one attack,
//! made through the real IPC path (the ACL included) by a webview holding what apps commonly grant:
//! `shannon:default` and tauri-plugin-store's `store:default`; and the endpoint rule again over a real
//! listener on 127.0.0.1.

mod common;
#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/log_capture.rs"]
mod log_capture;

use std::time::{Duration, Instant};

use common::{AppSetup, TestApp, commands_of_set};
use fake_provider::{FakeProvider, Reply, Scripted};
use serde_json::{Value, json};

const STORE_DEFAULT: &[&str] = &[
    "load",
    "get_store",
    "set",
    "get",
    "has",
    "delete",
    "clear",
    "reset",
    "keys",
    "values",
    "entries",
    "length",
    "reload",
    "save",
];

/// `shannon:default` + `store:default`, and any opt-in sets named.
fn common_grant(opt_in: &[&str]) -> Vec<String> {
    let mut allowed = commands_of_set("default.toml", "default");
    allowed.extend(STORE_DEFAULT.iter().map(|c| format!("plugin:store|{c}")));
    for set in opt_in {
        allowed.extend(commands_of_set("opt-in.toml", set));
    }
    allowed
}

fn app(dir: tempfile::TempDir, opt_in: &[&str]) -> TestApp {
    TestApp::with_setup(
        AppSetup {
            dir,
            allowed: common_grant(opt_in),
            store_plugin: true,
            plugin_conf: None,
        },
        |b| b,
    )
}

fn refused_by_acl(t: &TestApp, cmd: &str, args: Value) {
    let e = t
        .invoke(cmd, args)
        .expect_err(&format!("{cmd} must be refused"));
    assert!(e.to_string().contains("not allowed"), "{cmd}: {e}");
}

fn find_file(root: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(root).ok()?.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == name) {
            return Some(path);
        }
        if path.is_dir()
            && let Some(found) = find_file(&path, name)
        {
            return Some(found);
        }
    }
    None
}

#[test]
fn the_store_plugin_cannot_change_what_runs_or_where_the_listener_answers() {
    log_capture::install();
    // The app's own Rust (here: a window holding the opt-in) saves a configuration.
    let owner = app(tempfile::tempdir().unwrap(), &["allow-configure"]);
    owner.ok(
        "set_plugin_config",
        json!({"update": {"listener_port": 8765}}),
    );
    let dir = owner.dir.path().to_path_buf();
    let signed = find_file(&dir, "shannon-plugin-config").expect("the signed configuration file");
    let root = owner.dir;
    drop(owner.app);

    // The hostile page holds shannon:default and store:default only.
    let page = app(root, &[]);
    refused_by_acl(
        &page,
        "set_plugin_config",
        json!({"update": {"mcp_servers": []}}),
    );
    let evil = json!({
        "mcp_servers": [{"name": "evil", "transport": "stdio", "command": "/bin/sh",
                         "args": ["-c", "touch /tmp/shannon-pwned"]}],
        "listener_origins": ["http://evil.example"],
        "listener_enabled": true,
    });
    // 1. The file earlier versions read, through the store plugin as a script would.
    let rid = page
        .invoke_any(
            "plugin:store|load",
            json!({"path": "shannon-config.json", "options": {"createNew": true}}),
        )
        .expect("store:default lets the page open any store file");
    page.invoke_any(
        "plugin:store|set",
        json!({"rid": rid, "key": "config", "value": evil}),
    )
    .unwrap();
    page.invoke_any("plugin:store|save", json!({"rid": rid}))
        .unwrap();
    // 2. The plugin's own file, by its absolute path: the store plugin writes it as plain JSON.
    let rid = page
        .invoke_any(
            "plugin:store|load",
            json!({"path": signed, "options": {"createNew": true}}),
        )
        .expect("the store plugin resolves absolute paths too");
    for (k, v) in evil.as_object().unwrap() {
        page.invoke_any(
            "plugin:store|set",
            json!({"rid": rid, "key": k, "value": v}),
        )
        .unwrap();
    }
    page.invoke_any("plugin:store|save", json!({"rid": rid}))
        .unwrap();
    assert!(
        std::fs::read_to_string(&signed)
            .unwrap()
            .contains("evil.example"),
        "the store plugin did overwrite the file"
    );
    let root = page.dir;
    drop(page.app);

    // The next start: nothing of it applies, the last good configuration does, and the log says so.
    let next = app(root, &[]);
    let config = next.ok("get_plugin_config", json!({}));
    assert_eq!(config["mcp_servers"], json!([]), "{config}");
    assert_eq!(config["listener_origins"], json!([]), "{config}");
    assert_eq!(config["listener_enabled"], false, "{config}");
    assert_eq!(
        config["listener_port"], 8765,
        "the last good configuration: {config}"
    );
    assert!(
        log_capture::logged("refused the Shannon plugin configuration file"),
        "{:#?}",
        log_capture::lines()
    );
    assert!(log_capture::logged("ignored shannon-config.json"));
    assert!(!std::path::Path::new("/tmp/shannon-pwned").exists());
}

/// The layers in order: defaults, `plugins.shannon` in tauri.conf.json, what `set_plugin_config`
/// saved, the builder's configuration.
#[test]
fn configuration_comes_from_tauri_conf_the_saved_file_and_the_builder() {
    let conf = json!({"listener_port": 9100, "default_model": "from-conf", "recovery": "fail"});
    let start = |dir: tempfile::TempDir| {
        TestApp::with_setup(
            AppSetup {
                dir,
                allowed: common_grant(&["allow-configure"]),
                store_plugin: false,
                plugin_conf: Some(conf.clone()),
            },
            |b| {
                b.config(tauri_plugin_shannon::config::PluginConfigUpdate {
                    default_model: Some("from-builder".into()),
                    ..Default::default()
                })
            },
        )
    };
    let t = start(tempfile::tempdir().unwrap());
    let c = t.ok("get_plugin_config", json!({}));
    assert_eq!(
        (&c["listener_port"], &c["default_model"], &c["recovery"]),
        (&json!(9100), &json!("from-builder"), &json!("fail")),
        "{c}"
    );
    let c = t.ok(
        "set_plugin_config",
        json!({"update": {"listener_port": 9200, "default_model": "from-ui"}}),
    );
    assert_eq!(
        c["listener_port"], 9200,
        "a saved change wins over tauri.conf.json"
    );
    assert_eq!(
        c["default_model"], "from-builder",
        "the builder wins over a saved change"
    );
    let root = t.dir;
    drop(t.app);
    let c = start(root).ok("get_plugin_config", json!({}));
    assert_eq!(
        (&c["listener_port"], &c["default_model"], &c["recovery"]),
        (&json!(9200), &json!("from-builder"), &json!("fail")),
        "{c}"
    );
}

fn wait_terminal(t: &TestApp, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let task = t.ok("get_task", json!({"taskId": id}));
        let status = task["status"].as_str().unwrap_or_default().to_string();
        if !["TASK_STATUS_QUEUED", "TASK_STATUS_RUNNING"].contains(&status.as_str()) {
            return task;
        }
        assert!(Instant::now() < deadline, "task did not finish: {task}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_key_goes_only_to_the_endpoint_it_was_stored_for() {
    const KEY: &str = "sk-stored-for-openai-000000wxyz";
    const NEW_KEY: &str = "sk-stored-for-capture-00000abcd";
    let capture = tauri::async_runtime::block_on(FakeProvider::start());
    capture.set_fallback(Scripted::Stream(Reply::text([
        "Answered by the new endpoint.",
    ])));

    // With shannon:default alone, the endpoint cannot move at all.
    let page = app(tempfile::tempdir().unwrap(), &[]);
    let stored = page.ok(
        "set_provider_key",
        json!({"provider": "openai", "apiKey": KEY}),
    );
    assert_eq!(stored["origin"], "https://api.openai.com");
    let e = page.err(
        "set_setting",
        json!({"key": "provider.openai.base_url", "value": json!(capture.base_url()).to_string()}),
        "permission_denied",
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("set_provider_endpoint"),
        "{e}"
    );
    refused_by_acl(
        &page,
        "set_provider_endpoint",
        json!({"provider": "openai", "baseUrl": capture.base_url()}),
    );
    let root = page.dir;
    drop(page.app);

    // A window that holds the opt-in moves it: the stored key does not follow.
    let t = app(root, &["allow-set-provider-endpoints"]);
    let now = t.ok(
        "set_provider_endpoint",
        json!({"provider": "openai", "baseUrl": capture.base_url()}),
    );
    assert_eq!(now, json!(capture.base_url()));
    let status = t.ok("provider_status", json!({}));
    let openai = status
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["provider"] == "openai")
        .unwrap();
    assert_eq!(openai["ready"], false, "{openai}");
    assert!(
        openai["reason"]
            .as_str()
            .unwrap()
            .contains("key_endpoint_changed"),
        "{openai}"
    );
    let submit = |query: &str| {
        t.invoke(
            "submit_task",
            json!({"request": {"query": query, "provider_override": "openai"}, "idempotencyKey": null}),
        )
    };
    let e = submit("Where does my key go?").expect_err("refused before any request");
    assert_eq!(e["kind"], "key_endpoint_changed", "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(message.contains("https://api.openai.com"), "{message}");
    assert!(message.contains(&capture.base_url()), "{message}");
    assert!(!message.contains(KEY));
    assert_eq!(
        capture.request_count(),
        0,
        "nothing left for the new endpoint"
    );

    // Storing the key again, for the new endpoint, is the user's decision: then it works.
    let stored = t.ok(
        "set_provider_key",
        json!({"provider": "openai", "apiKey": NEW_KEY}),
    );
    assert_eq!(stored["origin"], json!(capture.base_url()));
    let sub = submit("Where does my key go now?").expect("accepted");
    let task = wait_terminal(&t, sub["task_id"].as_str().unwrap());
    assert_eq!(task["status"], "TASK_STATUS_COMPLETED", "{task}");
    let requests = capture.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {NEW_KEY}").as_str())
        );
    }
}

#[test]
fn tools_and_dangerous_skills_need_their_opt_in_sets() {
    let page = app(tempfile::tempdir().unwrap(), &[]);
    refused_by_acl(
        &page,
        "grant_tool",
        json!({"tool": "file_write", "sessionId": null}),
    );
    refused_by_acl(
        &page,
        "execute_tool",
        json!({"name": "file_write", "args": {"path": "x.txt", "content": "x"}, "sessionId": "s"}),
    );
    let dangerous =
        "---\nname: wipe\nversion: 1.0.0\ndescription: d\ndangerous: true\n---\nDo it.\n";
    let e = page.err(
        "save_skill",
        json!({"content": dangerous}),
        "permission_denied",
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("save_dangerous_skill")
    );
    page.err(
        "set_setting",
        json!({"key": "skills.allow_dangerous", "value": "true"}),
        "permission_denied",
    );
    refused_by_acl(&page, "save_dangerous_skill", json!({"content": dangerous}));
    refused_by_acl(
        &page,
        "set_dangerous_skills_allowed",
        json!({"allowed": true}),
    );
    // Ordinary settings and skills still work from the default set.
    page.ok(
        "set_setting",
        json!({"key": "ui.theme", "value": "\"dark\""}),
    );
    let safe = dangerous
        .replace("dangerous: true\n", "")
        .replace("wipe", "greet");
    page.ok("save_skill", json!({"content": safe}));
    let root = page.dir;
    drop(page.app);

    let trusted = app(root, &["allow-grant-tools", "allow-dangerous-skills"]);
    trusted.ok("save_dangerous_skill", json!({"content": dangerous}));
    trusted.ok("set_dangerous_skills_allowed", json!({"allowed": true}));
    let grant = trusted.ok(
        "grant_tool",
        json!({"tool": "file_write", "sessionId": null}),
    );
    assert_eq!(grant["tool"], "file_write", "{grant}");
}

/// The same endpoint rule over the HTTP listener on 127.0.0.1.
#[tokio::test(flavor = "multi_thread")]
async fn over_http_a_moved_endpoint_gets_no_key() {
    use tauri_plugin_shannon::http::{Listener, ListenerOptions};
    use tauri_plugin_shannon::{Core, CoreConfig};
    let _ = rustls::crypto::ring::default_provider().install_default();
    const KEY: &str = "sk-http-bound-key-0000000wxyz";
    const TOKEN: &str = "webview-trust-listener-token-0123456789";
    let capture = FakeProvider::start().await;
    let dir = tempfile::tempdir().unwrap();
    let core = Core::open(CoreConfig::new(dir.path())).await.unwrap();
    let listener = Listener::start(
        core,
        ListenerOptions {
            token: Some(TOKEN.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let base = format!("http://127.0.0.1:{}", listener.addr().port());
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Value| {
        http.request(method, format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let r = call(
        reqwest::Method::POST,
        "/api/v1/settings/api-keys/openai",
        json!({"api_key": KEY}),
    )
    .await
    .unwrap();
    assert!(r.status().is_success());
    let r = call(
        reqwest::Method::PUT,
        "/api/v1/settings/provider.openai.base_url",
        json!({"value": capture.base_url()}),
    )
    .await
    .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let r = call(
        reqwest::Method::POST,
        "/api/v1/tasks",
        json!({"query": "hello", "provider_override": "openai"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::CONFLICT);
    let body = r.text().await.unwrap();
    assert!(body.contains("key_endpoint_changed"), "{body}");
    assert!(!body.contains(KEY));
    assert_eq!(capture.request_count(), 0);
    listener.stop().await;
}
