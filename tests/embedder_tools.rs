//! Tools of the embedding app (`AppTool`) used by agents like built-in ones, against a scripted
//! fake provider: offered to the model and their output reaching the answer, with TOOL_INVOKED and
//! TOOL_OBSERVATION; a dangerous one asking first (approved runs it, denied does not); listed by
//! the catalogue with source `app`, over the core and through the plugin builder's IPC; the block
//! list keeping it from the model and refusing its call; and a completed call not run again when
//! the task resumes after a shutdown.

mod common;
#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/rig.rs"]
mod rig;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fake_provider::{FakeProvider, Reply, Scripted};
use rig::{Rig, rig_with};
use serde_json::{Value, json};
use tauri::Manager;
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::crypto::SecretString;
use tauri_plugin_shannon::core::hitl::approvals::ApprovalDecision;
use tauri_plugin_shannon::core::streams::{TaskEvent, TaskSubscription};
use tauri_plugin_shannon::{AppTool, Core, CoreConfig};

/// The app's notes, and how many times the tool read them.
#[derive(Clone, Default)]
struct Notes {
    reads: Arc<AtomicUsize>,
}

fn read_note(notes: &Notes) -> AppTool {
    let reads = notes.reads.clone();
    AppTool::new(
        "read_note",
        "Reads one of the user's notes",
        move |args, ()| {
            let reads = reads.clone();
            async move {
                reads.fetch_add(1, Ordering::SeqCst);
                match args["title"].as_str() {
                    Some("groceries") => Ok("eggs, milk, saffron".into()),
                    Some(other) => Err(format!("no note titled {other:?}")),
                    None => Err("missing \"title\"".into()),
                }
            }
        },
    )
    .parameters(
        json!({"type": "object", "properties": {"title": {"type": "string"}},
                       "required": ["title"]}),
    )
}

/// A dangerous tool that records what it deleted.
fn delete_note(deleted: Arc<Mutex<Vec<String>>>) -> AppTool {
    AppTool::new("delete_note", "Deletes a note", move |args, ()| {
        let deleted = deleted.clone();
        async move {
            let title = args["title"].as_str().unwrap_or_default().to_string();
            deleted.lock().unwrap().push(title.clone());
            Ok(json!({"deleted": title}))
        }
    })
    .parameters(json!({"type": "object", "properties": {"title": {"type": "string"}}}))
    .dangerous(true)
}

fn calls(tool: &str, title: &str) -> Scripted {
    Scripted::Stream(Reply::text(["Looking."]).tool_call(
        "c1",
        tool,
        [json!({"title": title}).to_string()],
    ))
}

fn answer(text: &str) -> Scripted {
    Scripted::Stream(Reply::text([text]))
}

fn standard(query: &str) -> Value {
    json!({"query": query, "mode": "standard", "provider_override": "openai"})
}

/// The tool names a model request offered.
fn offered(request: &Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str().map(str::to_string))
        .collect()
}

async fn until(sub: &mut TaskSubscription, t: &str) -> TaskEvent {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let e = sub.next().await.expect("the stream ended first");
            if e.event_type == t {
                return e;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {t}"))
}

impl Rig {
    async fn stream(&self, body: Value) -> (String, TaskSubscription) {
        let id = self.submit_body(body).await;
        let sub = self
            .core
            .subscribe_task(&self.me, &id, None, None)
            .await
            .unwrap();
        (id, sub)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_calls_the_apps_tool_and_its_output_reaches_the_answer() {
    let notes = Notes::default();
    let r = rig_with("openai", |c| c.tools = vec![read_note(&notes)]).await;
    r.fake
        .push(calls("read_note", "groceries"))
        .push(answer("Buy eggs, milk and saffron."));
    let (id, mut sub) = r.stream(standard("What is on my grocery list?")).await;
    let events = Rig::rest(&mut sub).await;

    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.result, "Buy eggs, milk and saffron.");
    assert_eq!(notes.reads.load(Ordering::SeqCst), 1);
    let requests = r.fake.requests();
    // Offered beside the built-ins, with its own description and schema.
    assert!(offered(&requests[0].body).contains(&"read_note".to_string()));
    let spec = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["function"]["name"] == "read_note")
        .unwrap()
        .clone();
    assert_eq!(
        spec["function"]["description"],
        "Reads one of the user's notes"
    );
    assert_eq!(spec["function"]["parameters"]["required"], json!(["title"]));
    // Its output goes back to the model.
    assert!(requests[1].body.to_string().contains("eggs, milk, saffron"));
    let invoked = events
        .iter()
        .find(|e| e.event_type == "TOOL_INVOKED")
        .unwrap();
    assert_eq!(invoked.payload.as_ref().unwrap()["tool"], "read_note");
    let observed = events
        .iter()
        .find(|e| e.event_type == "TOOL_OBSERVATION")
        .unwrap();
    assert_eq!(observed.message.as_deref(), Some("eggs, milk, saffron"));
    assert!(events.iter().all(|e| e.event_type != "TOOL_ERROR"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dangerous_app_tool_asks_first_approved_runs_denied_does_not() {
    let deleted = Arc::new(Mutex::new(Vec::new()));
    let r = rig_with("openai", |c| c.tools = vec![delete_note(deleted.clone())]).await;
    let decide = |wf: &str, asked: &TaskEvent, approved: bool| ApprovalDecision {
        workflow_id: wf.into(),
        approval_id: asked.payload.as_ref().unwrap()["approval_id"]
            .as_str()
            .unwrap()
            .into(),
        approved,
        ..ApprovalDecision::default()
    };

    r.fake
        .push(calls("delete_note", "old"))
        .push(answer("Deleted."));
    let (id, mut sub) = r.stream(standard("Delete my old note")).await;
    let asked = until(&mut sub, "APPROVAL_REQUESTED").await;
    let p = asked.payload.as_ref().unwrap();
    assert_eq!(
        (p["kind"].as_str(), p["tool"].as_str()),
        (Some("tool"), Some("delete_note"))
    );
    assert_eq!(p["arguments"], json!({"title": "old"}));
    assert!(
        deleted.lock().unwrap().is_empty(),
        "nothing runs before the answer"
    );
    r.core
        .decide_approval(&r.me, decide(&id, &asked, true))
        .await
        .unwrap();
    Rig::rest(&mut sub).await;
    assert_eq!(*deleted.lock().unwrap(), ["old"]);
    assert_eq!(
        r.core.get_task(&r.me, &id).await.unwrap().result,
        "Deleted."
    );

    r.fake
        .push(calls("delete_note", "taxes"))
        .push(answer("I was not allowed to."));
    let (id, mut sub) = r.stream(standard("Delete my tax note")).await;
    let asked = until(&mut sub, "APPROVAL_REQUESTED").await;
    r.core
        .decide_approval(&r.me, decide(&id, &asked, false))
        .await
        .unwrap();
    let events = Rig::rest(&mut sub).await;
    assert_eq!(
        *deleted.lock().unwrap(),
        ["old"],
        "a denied call does not run"
    );
    assert!(events.iter().any(|e| e.event_type == "TOOL_ERROR"));
    let last = r.fake.requests().last().unwrap().body.to_string();
    assert!(
        last.contains("The user denied this call to delete_note"),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_catalogue_lists_app_tools_and_the_block_list_keeps_them_out() {
    let notes = Notes::default();
    let deleted = Arc::new(Mutex::new(Vec::new()));
    let r = rig_with("openai", |c| {
        c.tools = vec![read_note(&notes), delete_note(deleted.clone())]
    })
    .await;
    let listed = r.core.list_tools(&r.me, None, true).await.unwrap();
    let info = listed.iter().find(|t| t.name == "read_note").unwrap();
    let info = serde_json::to_value(info).unwrap();
    assert_eq!(
        (
            &info["source"],
            &info["category"],
            &info["dangerous"],
            &info["available"]
        ),
        (&json!("app"), &json!("app"), &json!(false), &json!(true))
    );
    assert_eq!(info["timeout_seconds"], 30);
    let calc = listed.iter().find(|t| t.name == "calculator").unwrap();
    assert_eq!(serde_json::to_value(calc).unwrap()["source"], "builtin");
    // Dangerous ones only when asked for, as the built-ins.
    let safe = r.core.list_tools(&r.me, None, false).await.unwrap();
    assert!(safe.iter().any(|t| t.name == "read_note"));
    assert!(safe.iter().all(|t| t.name != "delete_note"));
    let got = r.core.get_tool(&r.me, "delete_note").await.unwrap();
    assert!(got.dangerous);

    // Blocked: listed as unavailable, not offered to the model, and a call is refused unrun.
    r.core
        .set_setting(&r.me, "tools.block", r#"["read_note"]"#)
        .await
        .unwrap();
    let got = r.core.get_tool(&r.me, "read_note").await.unwrap();
    assert!(!got.available);
    r.fake
        .push(calls("read_note", "groceries"))
        .push(answer("I cannot read it."));
    let (id, mut sub) = r.stream(standard("What is on my grocery list?")).await;
    let events = Rig::rest(&mut sub).await;
    assert_eq!(notes.reads.load(Ordering::SeqCst), 0);
    let first = &r.fake.requests()[0].body;
    assert!(!offered(first).contains(&"read_note".to_string()));
    assert!(offered(first).contains(&"calculator".to_string()));
    let error = events
        .iter()
        .find(|e| e.event_type == "TOOL_ERROR")
        .unwrap();
    assert!(
        error.message.as_deref().unwrap().contains("not allowed"),
        "{error:?}"
    );
    assert_eq!(
        r.core.get_task(&r.me, &id).await.unwrap().status,
        "TASK_STATUS_COMPLETED"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_completed_app_tool_call_is_not_run_again_when_the_task_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let notes = Notes::default();
    let me = Caller::embedded();
    let open = || {
        let mut config = CoreConfig::new(dir.path());
        config.tools = vec![read_note(&notes)];
        async move { Core::open(config).await.unwrap() }
    };
    let fake = FakeProvider::start().await;
    let core = open().await;
    core.set_provider_endpoint(&me, "openai", Some(&fake.base_url()))
        .await
        .unwrap();
    core.set_provider_key(&me, "openai", &SecretString::new(rig::KEY))
        .await
        .unwrap();
    // The call after the tool hangs, so the shutdown finds the task mid-run.
    fake.push(calls("read_note", "groceries"))
        .push(Scripted::Delayed(
            Duration::from_secs(120),
            Box::new(answer("too late")),
        ));
    let req = serde_json::from_value(standard("What is on my grocery list?")).unwrap();
    let id = core.submit_task(&me, req, None).await.unwrap().task_id;
    tokio::time::timeout(Duration::from_secs(30), async {
        while fake.request_count() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the second model call never came");
    assert_eq!(notes.reads.load(Ordering::SeqCst), 1);
    core.shutdown(Duration::from_secs(10)).await;
    drop(core);

    fake.push(answer("Eggs, milk and saffron."));
    let core = open().await;
    let mut sub = core.subscribe_task(&me, &id, None, None).await.unwrap();
    Rig::rest(&mut sub).await;
    let task = core.get_task(&me, &id).await.unwrap();
    assert_eq!(task.result, "Eggs, milk and saffron.");
    assert_eq!(
        notes.reads.load(Ordering::SeqCst),
        1,
        "the journal answered"
    );
    // Only the unfinished model call was made again.
    assert_eq!(fake.request_count(), 3);
    let last = fake.requests().last().unwrap().body.to_string();
    assert!(last.contains("eggs, milk, saffron"), "{last}");
}

/// The plugin builder's tools get the AppHandle: this one reads the app's managed state.
#[test]
fn through_the_plugin_builder_a_tool_reads_the_apps_state() {
    struct Greeting(&'static str);
    let t = common::TestApp::with_builder(tauri_plugin_shannon::ipc::COMMANDS, |b| {
        b.tool(AppTool::new(
            "greeting",
            "The app's greeting",
            |_args, app: tauri::AppHandle<_>| async move {
                let greeting = app.try_state::<Greeting>().ok_or("no greeting yet")?;
                Ok(greeting.0.into())
            },
        ))
    });
    t.app.manage(Greeting("hello from the app"));
    let listed = t.ok("list_tools", json!({}));
    let info = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "greeting")
        .unwrap();
    assert_eq!(
        (&info["source"], &info["available"]),
        (&json!("app"), &json!(true))
    );
    let ran = t.ok("execute_tool", json!({"name": "greeting", "args": {}}));
    assert_eq!(
        (&ran["success"], &ran["text"]),
        (&json!(true), &json!("hello from the app"))
    );
}
