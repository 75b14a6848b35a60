//! Desktop mode, as the existing Shannon desktop frontend uses it (contract/desktop-frontend.md):
//! discovery on the port range through `/ready` and the `server-*` events, the embedded-only routes
//! and shapes, the legacy submission body, the stream fields it reads, and refusal of other clients.

mod common;
#[path = "support/fake_provider.rs"]
mod fake_provider;

use std::net::TcpListener;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use common::TestApp;
use fake_provider::{FakeProvider, FakeUsage, Reply, Scripted};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Picks a block of 10 ports and occupies its first two, as other programs would.
fn range_with_first_two_taken() -> (u16, u16, Vec<TcpListener>) {
    for attempt in 0..200u16 {
        let base = 20_000 + (std::process::id() as u16 % 2000) * 10 + attempt * 97 % 20_000;
        let taken: Vec<TcpListener> = (base..base + 2)
            .filter_map(|p| TcpListener::bind(("127.0.0.1", p)).ok())
            .collect();
        let rest_free = (base + 2..base + 10).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok());
        if taken.len() == 2 && rest_free {
            return (base, base + 9, taken);
        }
    }
    panic!("no free block of 10 ports");
}

/// Waits for the app event `name`, returning its payload and the events seen before it.
fn wait_event(rx: &Receiver<(String, Value)>, name: &str) -> (Value, Vec<(String, Value)>) {
    let mut seen = Vec::new();
    loop {
        let (n, payload) = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no {name} event; saw {seen:?}"));
        if n == name {
            return (payload, seen);
        }
        seen.push((n, payload));
    }
}

fn client() -> reqwest::Client {
    // reqwest is built without a bundled crypto provider (the plugin picks ring).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// What the frontend does: `GET /ready` on each port of the range with a 1 s timeout; the first
/// answer that is OK with `status` `ready` or `ok` wins.
async fn discover(http: &reqwest::Client, first: u16, last: u16) -> Option<u16> {
    for port in first..=last {
        let resp = http
            .get(format!("http://localhost:{port}/ready"))
            .timeout(Duration::from_secs(1))
            .send()
            .await;
        if let Ok(r) = resp
            && r.status().is_success()
            && let Ok(v) = r.json::<Value>().await
            && (v["status"] == "ready" || v["status"] == "ok")
        {
            return Some(port);
        }
    }
    None
}

struct Frontend {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Frontend {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-API-Key", &self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
    async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Reads `EventSource(<base>/api/v1/stream/sse?workflow_id=…&api_key=…)` to its end.
    async fn stream(&self, workflow_id: &str) -> Vec<(String, Value)> {
        let url = format!(
            "{}/api/v1/stream/sse?workflow_id={workflow_id}&api_key={}",
            self.base, self.key
        );
        let body = tokio::time::timeout(Duration::from_secs(60), async {
            self.http
                .get(url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
        .await
        .expect("the stream did not end");
        body.split("\n\n")
            .filter_map(|block| {
                let mut name = "message".to_string();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = n.to_string();
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    }
                }
                (!data.is_empty()).then(|| {
                    let v = serde_json::from_str(&data).unwrap_or(Value::String(data));
                    (name, v)
                })
            })
            .collect()
    }

    /// Submits the legacy body on OpenAI and waits until the task runs.
    async fn submit_running(&self, prompt: &str) -> String {
        let (_, sub) = self
            .post(
                "/api/v1/tasks",
                json!({"prompt": prompt, "model": "gpt-4.1-mini"}),
            )
            .await;
        let id = sub["task_id"].as_str().unwrap().to_string();
        self.wait_status(&id, "TASK_STATUS_RUNNING").await;
        id
    }

    async fn wait_status(&self, id: &str, wanted: &str) -> Value {
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let (_, t) = self.get(&format!("/api/v1/tasks/{id}")).await;
                if t["status"] == wanted {
                    return t;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("task {id} never reached {wanted}"))
    }

    /// The frontend's fallback after three SSE failures: poll `/progress` until its `status` is one of
    /// `TaskProgress.status`'s final values. Any value outside that vocabulary fails the test (the
    /// frontend would poll forever).
    async fn poll_progress_until_final(&self, id: &str) -> Value {
        const VOCABULARY: [&str; 5] = ["pending", "running", "completed", "failed", "cancelled"];
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let (s, p) = self.get(&format!("/api/v1/tasks/{id}/progress")).await;
                assert_eq!(s, 200, "{p}");
                let status = p["status"].as_str().unwrap_or_default();
                assert!(
                    VOCABULARY.contains(&status),
                    "outside the frontend's vocabulary: {p}"
                );
                if matches!(status, "completed" | "failed" | "cancelled") {
                    return p;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the progress poller never saw task {id} end"))
    }
}

/// Waits for `server-ready` and returns a client with the launch token the app's webview receives.
fn frontend_of(app: &TestApp) -> Frontend {
    let (ready, _) = wait_event(&app.server_events, "server-ready");
    let key = app.ok("listener_status", json!({}))["token"]
        .as_str()
        .unwrap()
        .to_string();
    Frontend {
        http: client(),
        base: ready["url"].as_str().unwrap().to_string(),
        key,
    }
}

/// Starts an app in desktop mode on a range whose first two ports are taken, and finds the server
/// the way the frontend does.
fn desktop_app() -> (TestApp, u16, u16, Vec<TcpListener>) {
    let (first, last, taken) = range_with_first_two_taken();
    let app = TestApp::with_builder(tauri_plugin_shannon::ipc::COMMANDS, |b| {
        b.desktop_mode(true).desktop_ports(first..=last)
    });
    (app, first, last, taken)
}

#[test]
fn desktop_mode_starts_on_the_first_free_port_and_announces_it() {
    let (app, first, last, _taken) = desktop_app();
    let (ready, before) = wait_event(&app.server_events, "server-ready");
    let port = ready["port"].as_u64().unwrap() as u16;
    assert_eq!(port, first + 2, "the first two ports are taken");
    assert_eq!(ready["url"], format!("http://localhost:{port}"));
    let selected: Vec<&Value> = before
        .iter()
        .filter(|(n, _)| n == "server-port-selected")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(selected, vec![&json!(port)]);
    let states: Vec<(String, String)> = before
        .iter()
        .filter(|(n, _)| n == "server-state-change")
        .map(|(_, v)| {
            (
                v["from"].as_str().unwrap().to_string(),
                v["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let pairs: Vec<(&str, &str)> = states
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("idle", "starting"),
            ("starting", "port-discovery"),
            ("port-discovery", "ready")
        ]
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = client();
        assert_eq!(discover(&http, first, last).await, Some(port));
        let base = format!("http://localhost:{port}");
        // The app commands the frontend polls.
        let handle = app.app.handle().clone();
        assert_eq!(
            tauri_plugin_shannon::desktop::get_embedded_api_url(handle.clone()).await,
            Some(base.clone())
        );
        assert!(tauri_plugin_shannon::desktop::is_embedded_api_running(handle).await);

        // Another local client without credentials, or with a wrong one, is refused.
        let r = http
            .get(format!("{base}/api/v1/tasks"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().contains_key("www-authenticate"));
        let r = http
            .get(format!("{base}/api/v1/settings/api-keys"))
            .header("X-API-Key", "sk-guess-0000000000000000000000000000")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = http
            .get(format!("{base}/api/v1/stream/sse?workflow_id=task-x"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // A web page in a browser is refused by its Origin, even with no credentials to try.
        let r = http
            .get(format!("{base}/ready"))
            .header("Origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        // The launch token the webview receives works.
        let status = app.ok("listener_status", json!({}));
        let token = status["token"].as_str().unwrap();
        let r = http
            .get(format!("{base}/api/v1/tasks"))
            .header("X-API-Key", token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        // Stopped and started again from the webview, it comes back on the range with the same token.
        app.ok("listener_stop", json!({}));
        assert!(
            !tauri_plugin_shannon::desktop::is_embedded_api_running(app.app.handle().clone()).await
        );
        let again = app.ok("listener_start", json!({"port": null}));
        assert_eq!(again["port"], json!(port));
        assert_eq!(again["token"], json!(token));
    });
}

#[test]
fn a_range_with_every_port_taken_is_reported_not_panicked() {
    let (first, _last, taken) = range_with_first_two_taken();
    let app = TestApp::with_builder(tauri_plugin_shannon::ipc::COMMANDS, |b| {
        b.desktop_mode(true).desktop_ports(first..=first + 1)
    });
    let mut seen = Vec::new();
    let failed = loop {
        let (change, before) = wait_event(&app.server_events, "server-state-change");
        seen.extend(before);
        if change["to"] == "failed" {
            break change;
        }
    };
    assert_eq!(failed["from"], "port-discovery");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains(&first.to_string()), "{error}");
    let log = seen
        .iter()
        .find(|(n, _)| n == "server-log")
        .map(|(_, v)| v)
        .expect("a server-log line");
    assert_eq!(log["level"], "error");
    assert!(!seen.iter().any(|(n, _)| n == "server-ready"), "{seen:?}");
    assert_eq!(app.ok("listener_status", json!({}))["running"], false);
    drop(taken);
}

#[test]
fn the_desktop_frontend_sequence_streams_renders_and_controls_tasks() {
    let (app, first, last, _taken) = desktop_app();
    let fe = frontend_of(&app);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let port = discover(&fe.http, first, last).await.expect("discovered");
        assert_eq!(fe.base, format!("http://localhost:{port}"));
        let fake = FakeProvider::start().await;

        // Settings page: point OpenAI at the fake and store a key; the list is a bare array.
        let (s, _) = fe
            .post(
                "/api/v1/settings/provider.openai.base_url",
                json!({"value": fake.base_url()}),
            )
            .await;
        assert_eq!(s, 200);
        let (s, saved) = fe
            .post(
                "/api/v1/settings/api-keys/openai",
                json!({"api_key": "sk-desktop-1234567890abcdef"}),
            )
            .await;
        assert_eq!(s, 200);
        assert_eq!(saved["provider"], "openai");
        assert_eq!(saved["message"], "API key saved");
        let masked = saved["masked_key"].as_str().unwrap();
        assert!(!masked.contains("1234567890"), "{masked}");
        let (_, keys) = fe.get("/api/v1/settings/api-keys").await;
        let openai = keys
            .as_array()
            .expect("a bare array")
            .iter()
            .find(|k| k["provider"] == "openai")
            .unwrap();
        assert_eq!(openai["is_configured"], true);
        assert_eq!(openai["masked_key"], masked);

        // Submit the legacy body: a tool call, then the answer.
        fake.push(Scripted::Stream(
            Reply::text(["Let me compute."])
                .model("gpt-4.1-mini")
                .tool_call("call_1", "calculator", ["{\"expression\": \"6 * 7\"}"])
                .usage(FakeUsage::new(30, 5)),
        ));
        fake.push(Scripted::Stream(
            Reply::text(["The answer ", "is ", "42."])
                .model("gpt-4.1-mini")
                .usage(FakeUsage::new(40, 6)),
        ));
        let (s, sub) = fe
            .post(
                "/api/v1/tasks",
                json!({"prompt": "What is 6 times 7?", "task_type": "chat", "model": "gpt-4.1-mini",
                       "max_tokens": 300, "temperature": 0.2, "system_prompt": "Be brief.",
                       "tools": ["calculator"], "metadata": {"source": "desktop"}}),
            )
            .await;
        assert_eq!(s, 200, "{sub}");
        let id = sub["task_id"].as_str().unwrap().to_string();
        assert_eq!(sub["workflow_id"], id.as_str());
        assert!(sub["status"].is_string() && sub["created_at"].is_string());
        assert_eq!(
            sub["stream_url"],
            format!("/api/v1/stream/sse?workflow_id={id}")
        );

        let events = fe.stream(&id).await;
        for (name, data) in &events {
            if name == "done" {
                continue;
            }
            assert_eq!(data["workflow_id"], id.as_str(), "{name}: {data}");
            assert!(data.get("agent_id").is_some(), "{name} has no agent_id");
        }
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.last(), Some(&"done"));
        for wanted in [
            "WORKFLOW_STARTED",
            "AGENT_STARTED",
            "LLM_PROMPT",
            "TOOL_INVOKED",
            "TOOL_OBSERVATION",
            "REFLECTION",
            "SYNTHESIS",
            "thread.message.completed",
            "WORKFLOW_COMPLETED",
        ] {
            assert!(names.contains(&wanted), "no {wanted} in {names:?}");
        }
        let deltas: String = events
            .iter()
            .filter(|(n, _)| n == "thread.message.delta")
            .map(|(_, d)| d["delta"].as_str().unwrap())
            .collect();
        assert!(deltas.ends_with("The answer is 42."), "{deltas}");
        let tool = &events.iter().find(|(n, _)| n == "TOOL_INVOKED").unwrap().1;
        assert_eq!(tool["payload"]["tool"], "calculator");
        assert_eq!(tool["payload"]["params"]["expression"], "6 * 7");
        let observed = &events
            .iter()
            .find(|(n, _)| n == "TOOL_OBSERVATION")
            .unwrap()
            .1;
        assert_eq!(observed["payload"]["tool"], "calculator");
        assert_eq!(observed["payload"]["success"], true);
        // Each model call completes a message; the last one is the final answer.
        let done = &events
            .iter()
            .rev()
            .find(|(n, _)| n == "thread.message.completed")
            .unwrap()
            .1;
        assert_eq!(done["response"], "The answer is 42.");
        assert_eq!(done["model"], "gpt-4.1-mini");
        assert_eq!(done["provider"], "openai");
        assert_eq!(done["metadata"]["usage"]["total_tokens"], 81);
        assert_eq!(done["metadata"]["usage"]["input_tokens"], 70);
        assert_eq!(done["metadata"]["usage"]["output_tokens"], 11);

        // The legacy fields reached the model.
        let first_call = &fake.requests()[0];
        assert_eq!(first_call.body["model"], "gpt-4.1-mini");
        assert_eq!(first_call.body["max_tokens"], 300);
        assert_eq!(first_call.body["messages"][0]["content"], "Be brief.");

        // The result is rendered once the status is COMPLETED.
        let t = fe.wait_status(&id, "TASK_STATUS_COMPLETED").await;
        assert_eq!(t["result"], "The answer is 42.");
        let (s, p) = fe.get(&format!("/api/v1/tasks/{id}/progress")).await;
        assert_eq!(s, 200);
        assert_eq!(p["task_id"], id.as_str());
        assert_eq!(p["workflow_id"], id.as_str());
        assert_eq!(
            p["status"], "completed",
            "the frontend's vocabulary, not TASK_STATUS_*"
        );
        assert_eq!(p["progress_percent"], 100.0);
        assert_eq!(p["completed_steps"], p["total_steps"]);
        assert_eq!(p["tokens_used"], 81);
        assert!(p["cost_usd"].as_f64().unwrap() > 0.0);
        assert!(p["elapsed_time_ms"].is_u64() && p["last_updated"].is_string());
        let steps: Vec<&str> = p["subtasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["description"].as_str().unwrap())
            .collect();
        assert_eq!(
            steps,
            vec![
                "Gather context",
                "Model call 1",
                "Call calculator",
                "Model call 2",
                "Final answer",
                "Complete"
            ]
        );
        assert_eq!(p["current_agent"], "react-agent");
        let (s, o) = fe.get(&format!("/api/v1/tasks/{id}/output")).await;
        assert_eq!(s, 200);
        assert_eq!(
            o,
            json!({"task_id": id, "output": "The answer is 42.", "status": "TASK_STATUS_COMPLETED",
                   "tokens_used": 81, "cost_usd": o["cost_usd"], "completed_at": t["completed_at"]})
        );

        // Pause and resume a slow task; cancel another.
        fake.set_fallback(Scripted::Stream(
            Reply::text(vec!["word "; 60]).delay(Duration::from_millis(40)),
        ));
        let a = fe.submit_running("Write a long answer").await;
        let (s, r) = fe
            .post(
                &format!("/api/v1/tasks/{a}/pause"),
                json!({"reason": "coffee"}),
            )
            .await;
        assert_eq!(s, 202);
        assert_eq!(r["success"], true);
        assert_eq!(r["task_id"], a.as_str());
        let (_, cs) = fe.get(&format!("/api/v1/tasks/{a}/control-state")).await;
        assert_eq!(cs["is_paused"], true);
        assert_eq!(cs["pause_reason"], "coffee");
        // The run stops at its next checkpoint, after the streaming model call.
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let (_, ev) = fe.get(&format!("/api/v1/tasks/{a}/events?limit=200")).await;
                let paused = ev["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["type"] == "WORKFLOW_PAUSED");
                if paused {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the task never reached a checkpoint while paused");
        let (s, r) = fe
            .post(&format!("/api/v1/tasks/{a}/resume"), json!({}))
            .await;
        assert_eq!(s, 202, "{r}");
        let b = fe.submit_running("Write another long answer").await;
        let (_, running) = fe.get(&format!("/api/v1/tasks/{b}/progress")).await;
        assert_eq!(running["status"], "running");
        let (s, _) = fe
            .post(&format!("/api/v1/tasks/{b}/cancel"), json!({}))
            .await;
        assert_eq!(s, 202);
        let polled = fe.poll_progress_until_final(&b).await;
        assert_eq!(polled["status"], "cancelled");
        fe.wait_status(&b, "TASK_STATUS_CANCELLED").await;
        let (_, out) = fe.get(&format!("/api/v1/tasks/{b}/output")).await;
        assert_eq!(out["status"], "TASK_STATUS_CANCELLED");
        assert_eq!(out["output"], "");
        let polled = fe.poll_progress_until_final(&a).await;
        assert_eq!(polled["status"], "completed");
        let done = fe.wait_status(&a, "TASK_STATUS_COMPLETED").await;
        assert!(done["result"].as_str().unwrap().starts_with("word word"));
        // Its stream, replayed from the start, shows the pause with its checkpoint and the resume.
        let replay = fe.stream(&a).await;
        let names: Vec<&str> = replay.iter().map(|(n, _)| n.as_str()).collect();
        let paused = &replay
            .iter()
            .find(|(n, _)| n == "workflow.paused")
            .unwrap_or_else(|| panic!("no workflow.paused in {names:?}"))
            .1;
        assert!(paused["checkpoint"].is_string(), "{paused}");
        assert_eq!(paused["workflow_id"], a.as_str());
        for wanted in ["workflow.pausing", "workflow.resumed", "done"] {
            assert!(names.contains(&wanted), "no {wanted} in {names:?}");
        }
        let (_, list) = fe.get("/api/v1/tasks?limit=10&offset=0").await;
        assert_eq!(list["total_count"], 3);
    });
}

#[test]
fn a_model_without_a_key_blocks_the_submission_with_a_clear_error() {
    let (app, _first, _last, _taken) = desktop_app();
    let fe = frontend_of(&app);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (s, e) = fe
            .post(
                "/api/v1/tasks",
                json!({"prompt": "Hello", "model": "claude-sonnet-4-5"}),
            )
            .await;
        assert_eq!(s, 400, "{e}");
        assert_eq!(e["code"], "provider_not_ready");
        // Without a model, the embedded default answers (the offline demo provider here).
        let (s, ok) = fe.post("/api/v1/tasks", json!({"prompt": "Hello"})).await;
        assert_eq!(s, 200);
        let id = ok["task_id"].as_str().unwrap();
        let t = fe.wait_status(id, "TASK_STATUS_COMPLETED").await;
        assert_eq!(t["provider"], "demo");
    });
}

#[test]
fn every_route_of_the_frontend_table_answers_in_its_shape() {
    let (app, _first, _last, _taken) = desktop_app();
    let fe = frontend_of(&app);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let base = fe.base.clone();

        // A task in a session, then the session routes.
        let (_, sub) = fe
            .post(
                "/api/v1/tasks",
                json!({"prompt": "Hello", "session_id": "desk-1"}),
            )
            .await;
        let id = sub["task_id"].as_str().unwrap().to_string();
        fe.wait_status(&id, "TASK_STATUS_COMPLETED").await;
        let (s, list) = fe.get("/api/v1/tasks?limit=5&offset=0").await;
        assert_eq!(s, 200);
        assert_eq!(list["total_count"], 1);
        assert_eq!(list["tasks"][0]["task_id"], id.as_str());
        let (s, sessions) = fe.get("/api/v1/sessions?limit=20&offset=0").await;
        assert_eq!(s, 200);
        let session_id = sessions["sessions"][0]["session_id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(sessions["total_count"], 1);
        let (s, one) = fe.get(&format!("/api/v1/sessions/{session_id}")).await;
        assert_eq!((s, one["session_id"].as_str()), (200, Some(session_id.as_str())));
        let (s, history) = fe
            .get(&format!("/api/v1/sessions/{session_id}/history"))
            .await;
        assert_eq!(s, 200);
        assert_eq!(history["tasks"][0]["workflow_id"], id.as_str());
        let (s, turns) = fe
            .get(&format!(
                "/api/v1/sessions/{session_id}/events?limit=10&offset=0&include_payload=true"
            ))
            .await;
        assert_eq!(s, 200);
        let events = turns["turns"][0]["events"].as_array().unwrap();
        let with_payload = events
            .iter()
            .find(|e| e.get("payload").is_some())
            .expect("an event with its payload");
        assert!(
            with_payload["payload"].is_string(),
            "payload is a JSON string: {with_payload}"
        );

        // Settings: POST, GET one, list, DELETE; API keys: POST, list, DELETE.
        let (s, _) = fe
            .post(
                "/api/v1/settings",
                json!({"key": "default_model", "value": "gpt-4.1", "setting_type": "string"}),
            )
            .await;
        assert_eq!(s, 200);
        let (_, got) = fe.get("/api/v1/settings/default_model").await;
        assert_eq!(got["setting_value"], "gpt-4.1");
        let (s, _) = fe.delete("/api/v1/settings/default_model").await;
        assert_eq!(s, 204);
        let (s, _) = fe.get("/api/v1/settings/default_model").await;
        assert_eq!(s, 404);
        let (s, _) = fe
            .post(
                "/api/v1/settings/api-keys/anthropic",
                json!({"api_key": "sk-ant-0000000000000000abcd"}),
            )
            .await;
        assert_eq!(s, 200);
        let (_, keys) = fe.get("/api/v1/settings/api-keys").await;
        let anthropic = keys
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["provider"] == "anthropic")
            .unwrap();
        assert_eq!(anthropic["is_configured"], true);
        assert_eq!(anthropic["is_active"], true);
        assert!(anthropic["created_at"].is_string());
        assert!(anthropic.get("last_used_at").is_some());
        let (s, _) = fe.delete("/api/v1/settings/api-keys/anthropic").await;
        assert_eq!(s, 204);

        // Schedules: every cloud route.
        let (s, created) = fe
            .post(
                "/api/v1/schedules",
                json!({"name": "Daily brief", "cron_expression": "0 9 * * 1-5",
                       "timezone": "Europe/Paris", "task_query": "Brief me",
                       "task_context": {"role": "analysis"}}),
            )
            .await;
        assert_eq!(s, 201, "{created}");
        assert_eq!(created["message"], "Schedule created successfully");
        let sid = created["schedule_id"].as_str().unwrap().to_string();
        let (s, listed) = fe.get("/api/v1/schedules?page=1&page_size=10").await;
        assert_eq!(s, 200);
        assert_eq!(listed["total_count"], 1);
        assert_eq!(listed["schedules"][0]["schedule_id"], sid.as_str());
        let (s, info) = fe.get(&format!("/api/v1/schedules/{sid}")).await;
        assert_eq!(s, 200);
        assert_eq!(info["status"], "ACTIVE");
        assert_eq!(info["next_run_at"], created["next_run_at"]);
        let (s, updated) = fe
            .call(
                reqwest::Method::PUT,
                &format!("/api/v1/schedules/{sid}"),
                Some(json!({"name": "Weekday brief"})),
            )
            .await;
        assert_eq!((s, updated["success"].as_bool()), (200, Some(true)));
        let (s, _) = fe
            .call(
                reqwest::Method::PUT,
                &format!("/api/v1/schedules/{sid}"),
                Some(json!({"timezone": ""})),
            )
            .await;
        assert_eq!(s, 400);
        let (s, _) = fe
            .call(
                reqwest::Method::PUT,
                &format!("/api/v1/schedules/{sid}"),
                Some(json!({"cron_expression": "*/5 * * * *"})),
            )
            .await;
        assert_eq!(s, 400, "every 5 minutes is under the 60-minute minimum");
        let (_, info) = fe.get(&format!("/api/v1/schedules/{sid}")).await;
        assert_eq!(info["name"], "Weekday brief");
        assert_eq!(info["cron_expression"], "0 9 * * 1-5", "a refused update changes nothing");
        let (s, paused) = fe
            .post(&format!("/api/v1/schedules/{sid}/pause"), json!({}))
            .await;
        assert_eq!((s, paused["message"].as_str()), (200, Some("Schedule paused")));
        let (s, resumed) = fe
            .post(&format!("/api/v1/schedules/{sid}/resume"), json!({}))
            .await;
        assert_eq!(s, 200);
        assert!(resumed["next_run_at"].is_string());
        let (s, runs) = fe.get(&format!("/api/v1/schedules/{sid}/runs")).await;
        assert_eq!((s, runs["total_count"].as_u64()), (200, Some(0)));
        let (s, e) = fe.get("/api/v1/schedules/not-a-uuid").await;
        assert_eq!(s, 400, "{e}");

        // Auth: register, login, refresh, me; another user sees none of the above.
        let reg = fe
            .http
            .post(format!("{base}/api/v1/auth/register"))
            .json(&json!({"email": "ada@example.com", "username": "ada", "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        assert_eq!(reg.status(), StatusCode::CREATED);
        let login: Value = fe
            .http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": "ada@example.com", "password": "correct horse battery"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let access = login["access_token"].as_str().unwrap().to_string();
        let refreshed: Value = fe
            .http
            .post(format!("{base}/api/v1/auth/refresh"))
            .json(&json!({"refresh_token": login["refresh_token"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(refreshed["access_token"].is_string());
        let ada = |path: &str| {
            fe.http
                .get(format!("{base}{path}"))
                .bearer_auth(&access)
        };
        let me: Value = ada("/api/v1/auth/me").send().await.unwrap().json().await.unwrap();
        assert_eq!(me["username"], "ada");
        for path in [
            format!("/api/v1/schedules/{sid}"),
            format!("/api/v1/tasks/{id}"),
            format!("/api/v1/tasks/{id}/progress"),
            format!("/api/v1/tasks/{id}/output"),
            format!("/api/v1/sessions/{session_id}"),
        ] {
            let r = ada(&path).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        }

        let (s, deleted) = fe.delete(&format!("/api/v1/schedules/{sid}")).await;
        assert_eq!((s, deleted["message"].as_str()), (200, Some("Schedule deleted successfully")));
        let (s, _) = fe.get(&format!("/api/v1/schedules/{sid}")).await;
        assert_eq!(s, 404);
        let (_, empty) = fe.get("/api/v1/schedules").await;
        assert!(empty.get("schedules").is_none(), "omitempty: {empty}");
    });
}
