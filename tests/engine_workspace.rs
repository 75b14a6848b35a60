//! Session workspaces: a task writes a file through the file tools (after approval: writes are
//! dangerous by default), the file is listed and downloaded over HTTP; paths that try to leave the
//! workspace (`../`, absolute, a symlink, `%2e%2e`) are refused, to the model and to clients; and
//! deleting the session removes its folder.

#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/rig.rs"]
mod rig;

use std::time::Duration;

use fake_provider::{Reply, Scripted};
use rig::{Rig, rig};
use serde_json::{Value, json};
use tauri_plugin_shannon::core::hitl::approvals::{ApprovalDecision, ApprovalPolicy};

const TOKEN: &str = "workspace-test-token-0123456789abcdef0123456";

fn call(tool: &str, args: Value) -> Scripted {
    Scripted::Stream(Reply::text(["On it."]).tool_call("c1", tool, [args.to_string()]))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_writes_a_file_that_clients_list_and_download_and_nothing_leaves_the_workspace() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let r = rig("openai").await;
    r.fake
        .push(call(
            "file_write",
            json!({"path": "notes/plan.md", "content": "# Plan\nStep one."}),
        ))
        .push(Scripted::Stream(Reply::text(["Saved the plan."])));
    let body = |q: &str| {
        json!({"query": q, "mode": "standard", "provider_override": "openai", "session_id": "w-1",
               "context": {"tools_to_use": ["file_write", "file_read", "file_list"]}})
    };
    let id = r.submit_body(body("Write the plan down")).await;
    let mut sub = r.core.subscribe_task(&r.me, &id, None, None).await.unwrap();
    let asked = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let e = sub.next().await.unwrap();
            if e.event_type == "APPROVAL_REQUESTED" {
                return e.payload.unwrap();
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(asked["tool"], "file_write");
    assert_eq!(asked["arguments"]["path"], "notes/plan.md");
    r.core
        .decide_approval(
            &r.me,
            ApprovalDecision {
                workflow_id: id.clone(),
                approval_id: asked["approval_id"].as_str().unwrap().into(),
                approved: true,
                ..ApprovalDecision::default()
            },
        )
        .await
        .unwrap();
    Rig::rest(&mut sub).await;
    assert_eq!(
        r.core.get_task(&r.me, &id).await.unwrap().result,
        "Saved the plan."
    );

    // The model's own attempts to leave the workspace are tool errors.
    r.fake
        .push(call("file_read", json!({"path": "../../../../etc/passwd"})))
        .push(Scripted::Stream(Reply::text(["I could not read it."])));
    let id2 = r.submit_body(body("Read the password file")).await;
    let mut sub = r
        .core
        .subscribe_task(&r.me, &id2, None, None)
        .await
        .unwrap();
    let events = Rig::rest(&mut sub).await;
    let error = events
        .iter()
        .find(|e| e.event_type == "TOOL_ERROR")
        .unwrap();
    assert!(
        error
            .message
            .as_deref()
            .unwrap()
            .contains("leaves the workspace"),
        "{error:?}"
    );

    let listener = r.listen(TOKEN).await;
    let base = format!("http://{}/api/v1/sessions/w-1/files", listener.addr());
    let http = reqwest::Client::new();
    let get = |url: String| http.get(url).bearer_auth(TOKEN).send();
    let top: Value = get(base.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(
        top["files"],
        json!([{"name": "notes", "path": "notes", "is_dir": true, "size_bytes": 0}])
    );
    let notes: Value = get(format!("{base}?path=notes"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(notes["files"][0]["path"], "notes/plan.md");
    let file: Value = get(format!("{base}/notes/plan.md"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            file["content"].as_str(),
            file["content_type"].as_str(),
            file["size_bytes"].as_u64()
        ),
        (Some("# Plan\nStep one."), Some("text/markdown"), Some(16))
    );
    assert_eq!(
        get(format!("{base}/notes")).await.unwrap().status(),
        400,
        "a directory"
    );
    assert_eq!(
        get(format!("{base}/missing.md")).await.unwrap().status(),
        404
    );
    // A symlink that leads out, planted in the folder, is not followed.
    let session = r
        .core
        .get_task(&r.me, &id)
        .await
        .unwrap()
        .session_id
        .unwrap();
    let root = r.core.data_dir().join("workspaces").join(&session);
    std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
    for bad in [
        format!("{base}/%2e%2e/%2e%2e/etc/passwd"),
        format!("{base}/out/passwd"),
        format!("{base}?path=..%2F.."),
        format!("{base}/notes/%2E%2E%2F%2E%2E%2Fsecret"),
    ] {
        let status = get(bad.clone()).await.unwrap().status();
        assert!(status == 400 || status == 404, "{bad}: {status}");
        assert_ne!(status, 200, "{bad}");
    }
    // Another user's session is not found.
    let other = reqwest::Client::new()
        .get(base.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 401);

    // Deleting the session removes its folder.
    assert!(root.exists());
    r.core.delete_session(&r.me, "w-1").await.unwrap();
    assert!(!root.exists());
    assert_eq!(
        r.core
            .list_session_files(&r.me, "w-1", None)
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_read_the_users_memory_folder_which_clients_list() {
    let r = rig("openai").await;
    // This user lets file writes through without asking.
    r.core
        .set_approval_policy(ApprovalPolicy {
            dangerous_tools: Vec::new(),
            ..ApprovalPolicy::default()
        })
        .unwrap();
    let memory = r.core.data_dir().join("memory").join(&r.me.user_id);
    std::fs::create_dir_all(&memory).unwrap();
    std::fs::write(memory.join("MEMORY.md"), "- prefers metric units").unwrap();
    r.fake
        .push(call("file_read", json!({"path": "/memory/MEMORY.md"})))
        .push(call(
            "file_write",
            json!({"path": "/memory/evil.md", "content": "x"}),
        ))
        .push(Scripted::Stream(Reply::text(["In metric units, then."])));
    let (id, events) = r
        .run_in(
            "standard",
            "How tall is the tower?",
            json!({"tools_to_use": ["file_read", "file_write"]}),
        )
        .await;
    let seen: Vec<&str> = events
        .iter()
        .filter(|e| e.event_type == "TOOL_OBSERVATION")
        .filter_map(|e| e.message.as_deref())
        .collect();
    assert_eq!(seen[0], "- prefers metric units");
    assert!(seen[1].contains("read-only"), "{seen:?}");
    assert!(!memory.join("evil.md").exists());
    assert_eq!(
        r.core.get_task(&r.me, &id).await.unwrap().result,
        "In metric units, then."
    );

    let listener = r.listen(TOKEN).await;
    let base = format!("http://{}/api/v1/memory/files", listener.addr());
    let http = reqwest::Client::new();
    let list = Rig::get_json(&base, TOKEN).await;
    assert_eq!(list["files"][0]["path"], "MEMORY.md");
    let file = Rig::get_json(&format!("{base}/MEMORY.md"), TOKEN).await;
    assert_eq!(file["content"], "- prefers metric units");
    let out = http
        .get(format!("{base}/%2e%2e/%2e%2e/etc/passwd"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_ne!(out.status(), 200);
}
