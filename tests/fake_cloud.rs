//! The fake Shannon cloud (tests/support/fake_cloud) against plain reqwest: the quirks of
//! remote-mode.md §2 a remote-mode client must meet, its fault injection and its emission log.

#[path = "support/fake_cloud/mod.rs"]
mod fake_cloud;

use std::time::{Duration, Instant};

use fake_cloud::{FakeCloud, FakeConfig, Fault, Script, Step, TEST_KEY};
use futures_util::StreamExt;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn http() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new()
}

async fn call(c: &Client, method: Method, url: String, body: Option<Value>) -> reqwest::Response {
    let mut r = c.request(method, url).header("X-API-Key", TEST_KEY);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.unwrap()
}

async fn submit(
    c: &Client,
    base: &str,
    body: Value,
) -> (String, reqwest::header::HeaderMap, Value) {
    let r = call(c, Method::POST, format!("{base}/api/v1/tasks"), Some(body)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let headers = r.headers().clone();
    let v: Value = r.json().await.unwrap();
    (v["task_id"].as_str().unwrap().to_string(), headers, v)
}

/// One SSE frame, or a comment line.
#[derive(Debug, Clone)]
enum Sse {
    Comment(String),
    Frame {
        id: String,
        event: String,
        data: String,
    },
}

impl Sse {
    fn frame(&self) -> Option<(&str, &str, &str)> {
        match self {
            Sse::Frame { id, event, data } => Some((id, event, data)),
            Sse::Comment(_) => None,
        }
    }
}

/// Reads an SSE response until it ends (Ok) or breaks (Err), or `limit` passes (Ok).
async fn read_sse(resp: reqwest::Response, limit: Duration) -> (Vec<Sse>, Result<(), String>) {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut body = resp.bytes_stream();
    let deadline = tokio::time::Instant::now() + limit;
    let end = loop {
        let chunk = match tokio::time::timeout_at(deadline, body.next()).await {
            Err(_) => break Ok(()),
            Ok(None) => break Ok(()),
            Ok(Some(Err(e))) => break Err(e.to_string()),
            Ok(Some(Ok(b))) => b,
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(at) = buf.find("\n\n") {
            let block: String = buf.drain(..at + 2).collect();
            let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
            for line in block.lines() {
                if let Some(c) = line.strip_prefix(": ") {
                    out.push(Sse::Comment(c.to_string()));
                } else if let Some(v) = line.strip_prefix("id: ") {
                    id = v.into();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    event = v.into();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = v.into();
                }
            }
            if !event.is_empty() {
                out.push(Sse::Frame { id, event, data });
            }
        }
    };
    (out, end)
}

async fn open_sse(c: &Client, base: &str, wf: &str, last: Option<&str>) -> reqwest::Response {
    let mut url = format!("{base}/api/v1/stream/sse?workflow_id={wf}");
    if let Some(l) = last {
        url.push_str(&format!("&last_event_id={l}"));
    }
    let r = c
        .get(url)
        .header("X-API-Key", TEST_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r
}

/// The cloud `seq` of a frame: in the data, or (`done`) from the log by stream id.
/// Waits (bounded) until the fake has published an event of this type for the workflow: the tests
/// act at a known point of a run instead of after a guessed sleep.
async fn published(cloud: &FakeCloud, wf: &str, event_type: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cloud.emitted(wf).iter().any(|e| e.event_type == event_type) {
        assert!(
            Instant::now() < deadline,
            "{event_type} was never published"
        );
        tokio::time::sleep(ms(5)).await;
    }
}

fn seq_of(data: &str) -> Option<u64> {
    serde_json::from_str::<Value>(data)
        .ok()?
        .get("seq")?
        .as_u64()
}

#[tokio::test]
async fn auth_sources_normalisation_and_401() {
    let cloud = fake_cloud::start(FakeConfig::default()).await;
    let (c, base) = (http(), cloud.url());
    let me = format!("{base}/api/v1/auth/me");

    let r = c.get(&me).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"Shannon API\""
    );
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "Authentication required"})
    );
    let r = c
        .get(&me)
        .header("X-API-Key", "sk_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "Invalid token");

    for (name, value) in [
        ("X-API-Key", TEST_KEY.to_string()),
        ("Authorization", format!("Bearer {TEST_KEY}")),
        ("Authorization", format!("bearer {TEST_KEY}")),
        ("X-API-Key", TEST_KEY.replacen("sk_", "sk-shannon-", 1)),
    ] {
        let r = c.get(&me).header(name, &value).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{name}: {value}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["tier"], "free");
        assert_eq!(v["rate_limits"]["minute"]["limit"], 60);
    }
    // X-API-Key wins over a bad Bearer.
    let r = c
        .get(&me)
        .header("X-API-Key", TEST_KEY)
        .header("Authorization", "Bearer nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Query tokens only on the stream routes.
    let r = c
        .get(format!("{base}/api/v1/tasks?api_key={TEST_KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (wf, _, _) = submit(&c, &base, json!({"query": "hi"})).await;
    for q in ["api_key", "token"] {
        let r = c
            .get(format!(
                "{base}/api/v1/stream/sse?workflow_id={wf}&{q}={TEST_KEY}"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{q}");
    }

    let h: Value = c
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (h["status"].as_str(), h["version"].as_str()),
        (Some("healthy"), Some("0.1.0"))
    );
    assert_eq!(
        c.get(format!("{base}/readiness"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    cloud.stop().await;

    // Auth off: `/auth/me` answers 200 without credentials, as the seeded dev user.
    let open = fake_cloud::start(FakeConfig {
        auth_enabled: false,
        ..Default::default()
    })
    .await;
    let r = c
        .get(format!("{}/api/v1/auth/me", open.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap()["user_id"],
        "00000000-0000-0000-0000-000000000002"
    );
    open.stop().await;
}

#[tokio::test]
async fn jwt_access_expires_and_refresh_issues_a_new_one() {
    let cloud = fake_cloud::start(FakeConfig {
        access_ttl: Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    let (c, base) = (http(), cloud.url());
    let me = format!("{base}/api/v1/auth/me");
    let pair = cloud.issue_tokens();
    assert_eq!(pair.expires_in, 1);
    let r = c
        .get(&me)
        .bearer_auth(&pair.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A refresh token is not an access token.
    assert_eq!(
        c.get(&me)
            .bearer_auth(&pair.refresh_token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    tokio::time::sleep(ms(2100)).await;
    let r = c
        .get(&me)
        .bearer_auth(&pair.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the access token expired"
    );
    assert!(r.headers().contains_key("www-authenticate"));

    let refresh = format!("{base}/api/v1/auth/refresh");
    let r = c
        .post(&refresh)
        .json(&json!({"refresh_token": pair.refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let fresh: Value = r.json().await.unwrap();
    assert_eq!(fresh["expires_in"], 1);
    let access = fresh["access_token"].as_str().unwrap();
    assert_eq!(
        c.get(&me)
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    let r = c
        .post(&refresh)
        .json(&json!({"refresh_token": access}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "invalid_refresh_token"
    );
    let r = c.post(&refresh).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    cloud.stop().await;
}

#[tokio::test]
async fn submit_status_list_and_stored_events() {
    let cloud = fake_cloud::start(FakeConfig::default()).await;
    let (c, base) = (http(), cloud.url());

    let (wf, h, body) = submit(
        &c,
        &base,
        json!({"query": "What is 2+2?", "session_id": "my-chat"}),
    )
    .await;
    // The ids travel only in the headers.
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["created_at", "message", "status", "task_id"]);
    assert_eq!(body["status"], "STATUS_CODE_OK");
    assert_eq!(h["x-workflow-id"], wf.as_str());
    assert_eq!(h["x-session-id"], "my-chat");
    assert!(wf.starts_with("task-"), "{wf}");

    let r = call(
        &c,
        Method::POST,
        format!("{base}/api/v1/tasks/stream"),
        Some(json!({"query": "q2"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let wf2 = r.headers()["x-workflow-id"].to_str().unwrap().to_string();
    assert!(r.headers()["link"].to_str().unwrap().contains("rel=stream"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["stream_url"],
        format!("/api/v1/stream/sse?workflow_id={wf2}")
    );

    for bad in [
        json!({"query": "x", "provider_override": "openrouter"}),
        json!({}),
        json!({"query": "x", "mode": "turbo"}),
    ] {
        let r = call(
            &c,
            Method::POST,
            format!("{base}/api/v1/tasks"),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = call(
        &c,
        Method::POST,
        format!("{base}/api/v1/tasks"),
        Some(json!({"query": "x", "provider_override": "Anthropic"})),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "a cloud provider, case-insensitive"
    );

    assert_eq!(
        cloud.wait_terminal(&wf, Duration::from_secs(5)).await,
        "COMPLETED"
    );
    let r = call(&c, Method::GET, format!("{base}/api/v1/tasks/{wf}"), None).await;
    assert_eq!(r.headers()["x-workflow-id"], wf.as_str());
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["status"], "TASK_STATUS_COMPLETED");
    assert_eq!(s["result"], "Hello from the fake Shannon cloud.");
    assert_eq!(s["usage"]["total_tokens"], 150);
    assert_eq!(s["metadata"]["model_breakdown"][0]["model"], "gpt-5-mini");
    assert!(s["metadata"]["citations"].is_array() && s["metadata"]["agent_usages"].is_array());
    let r = call(
        &c,
        Method::GET,
        format!("{base}/api/v1/tasks/task-nope"),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let list: Value = call(
        &c,
        Method::GET,
        format!("{base}/api/v1/tasks?limit=2"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(list["total_count"], 3);
    assert_eq!(list["tasks"].as_array().unwrap().len(), 2);
    assert!(
        list["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("session_id").is_none())
    );
    for q in ["limit=0", "limit=101", "status=PAUSED"] {
        let r = call(&c, Method::GET, format!("{base}/api/v1/tasks?{q}"), None).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{q}");
    }
    let done: Value = call(
        &c,
        Method::GET,
        format!("{base}/api/v1/tasks?status=completed&session_id=my-chat"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(done["total_count"], 1);

    // Stored events: no deltas, no prompt; `count` is this page.
    let ev: Value = call(
        &c,
        Method::GET,
        format!("{base}/api/v1/tasks/{wf}/events"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let types: Vec<&str> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "WORKFLOW_STARTED",
            "AGENT_STARTED",
            "LLM_OUTPUT",
            "WORKFLOW_COMPLETED",
            "STREAM_END"
        ]
    );
    assert_eq!(ev["count"], 5);
    let seqs: Vec<u64> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        [1, 2, 9, 10, 11],
        "deltas and the prompt took seqs 3..8"
    );
    let page: Value = call(
        &c,
        Method::GET,
        format!("{base}/api/v1/tasks/{wf}/events?limit=2&offset=2"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(page["count"], 2);
    let r = call(
        &c,
        Method::GET,
        format!("{base}/api/v1/tasks/{wf}/events?limit=201"),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    cloud.stop().await;
}

#[tokio::test]
async fn sessions_and_schedules() {
    let cloud = fake_cloud::start(FakeConfig::default()).await;
    let (c, base) = (http(), cloud.url());
    let (wf, _, _) = submit(&c, &base, json!({"query": "first", "session_id": "chat-1"})).await;
    cloud.wait_terminal(&wf, Duration::from_secs(5)).await;

    let list: Value = call(
        &c,
        Method::GET,
        format!("{base}/api/v1/sessions?limit=9999"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let s = &list["sessions"][0];
    let uuid = s["session_id"].as_str().unwrap().to_string();
    assert_ne!(uuid, "chat-1", "list returns the internal UUID");
    assert_eq!(s["context"]["external_id"], "chat-1");
    assert_eq!(s["latest_task_status"], "COMPLETED");
    for id in ["chat-1", uuid.as_str()] {
        let r = call(
            &c,
            Method::GET,
            format!("{base}/api/v1/sessions/{id}"),
            None,
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK, "{id}");
    }
    let hist: Value = call(
        &c,
        Method::GET,
        format!("{base}/api/v1/sessions/chat-1/history"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(hist["tasks"][0]["workflow_id"], wf.as_str());
    assert_ne!(
        hist["tasks"][0]["task_id"],
        wf.as_str(),
        "history's task_id is the DB id"
    );
    let ev: Value = call(
        &c,
        Method::GET,
        format!("{base}/api/v1/sessions/chat-1/events?include_payload=true"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let started = &ev["turns"][0]["events"][0];
    assert_eq!(started["type"], "WORKFLOW_STARTED");
    assert!(
        started["payload"].is_string(),
        "payload is a JSON string here: {started}"
    );
    assert_eq!(
        ev["turns"][0]["final_output"],
        "Hello from the fake Shannon cloud."
    );

    let r = call(
        &c,
        Method::PATCH,
        format!("{base}/api/v1/sessions/chat-1"),
        Some(json!({"title": "  Renamed\u{7} "})),
    )
    .await;
    assert_eq!(r.json::<Value>().await.unwrap()["title"], "Renamed");
    let r = call(
        &c,
        Method::PATCH,
        format!("{base}/api/v1/sessions/chat-1"),
        Some(json!({"title": "x".repeat(61)})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    for _ in 0..2 {
        let r = call(
            &c,
            Method::DELETE,
            format!("{base}/api/v1/sessions/chat-1"),
            None,
        )
        .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "deleting twice is fine");
    }
    assert_eq!(
        call(
            &c,
            Method::GET,
            format!("{base}/api/v1/sessions/chat-1"),
            None
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(
            &c,
            Method::DELETE,
            format!("{base}/api/v1/sessions/never"),
            None
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );

    // Schedules: omitempty on an empty list, the cloud's limits, CRUD.
    let empty: Value = call(&c, Method::GET, format!("{base}/api/v1/schedules"), None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        empty.get("schedules").is_none() && empty.get("total_count").is_none(),
        "{empty}"
    );
    let url = format!("{base}/api/v1/schedules");
    let ok = json!({"name": "nightly", "cron_expression": "0 3 * * *", "task_query": "digest"});
    for (bad, why) in [
        (
            json!({"cron_expression": "*/5 * * * *"}),
            "cron interval too short",
        ),
        (
            json!({"cron_expression": "0 0 3 * * *"}),
            "invalid cron expression",
        ),
        (
            json!({"max_budget_per_run_usd": 11.0}),
            "budget exceeds limit",
        ),
        (json!({"timezone": "Mars/Olympus"}), "invalid timezone"),
    ] {
        let mut body = ok.clone();
        body.as_object_mut()
            .unwrap()
            .extend(bad.as_object().unwrap().clone());
        let r = call(&c, Method::POST, url.clone(), Some(body)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(
            r.json::<Value>().await.unwrap()["error"]
                .as_str()
                .unwrap()
                .contains(why),
            "{why}"
        );
    }
    let r = call(&c, Method::POST, url.clone(), Some(ok.clone())).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["schedule_id"]
        .as_str()
        .unwrap()
        .to_string();
    let one: Value = call(&c, Method::GET, format!("{url}/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (one["status"].as_str(), one["name"].as_str()),
        (Some("ACTIVE"), Some("nightly"))
    );
    assert!(one["next_run_at"].is_string());
    let r = call(
        &c,
        Method::PUT,
        format!("{url}/{id}"),
        Some(json!({"name": "renamed"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = call(
        &c,
        Method::POST,
        format!("{url}/{id}/pause"),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let one: Value = call(&c, Method::GET, format!("{url}/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (one["status"].as_str(), one["name"].as_str()),
        (Some("PAUSED"), Some("renamed"))
    );
    assert!(
        one.get("next_run_at").is_none(),
        "a paused schedule has no next run"
    );
    assert_eq!(
        call(&c, Method::GET, format!("{url}/not-a-uuid"), None)
            .await
            .status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        call(&c, Method::DELETE, format!("{url}/{id}"), None)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        call(&c, Method::GET, format!("{url}/{id}"), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    let m: Value = call(&c, Method::GET, format!("{base}/v1/llm-models"), None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        m["models"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["id"].is_string() && m["tier"].is_string())
    );
    cloud.stop().await;
}

#[tokio::test]
async fn sse_frames_names_seq_and_the_emission_log() {
    let cloud = fake_cloud::start(FakeConfig::default()).await;
    let (c, base) = (http(), cloud.url());
    cloud.set_script(Script::answer("abcdefgh", 4, ms(10)).with_approval_request());
    let (wf, _, _) = submit(&c, &base, json!({"query": "q"})).await;
    let (frames, end) =
        read_sse(open_sse(&c, &base, &wf, None).await, Duration::from_secs(5)).await;
    assert!(end.is_ok());
    assert!(matches!(&frames[0], Sse::Comment(t) if *t == format!("connected to workflow {wf}")));
    let got: Vec<(&str, &str, &str)> = frames.iter().filter_map(Sse::frame).collect();
    let names: Vec<&str> = got.iter().map(|f| f.1).collect();
    assert_eq!(
        names,
        [
            "WORKFLOW_STARTED",
            "AGENT_STARTED",
            "LLM_PROMPT",
            "thread.message.delta",
            "thread.message.delta",
            "thread.message.delta",
            "thread.message.delta",
            "APPROVAL_REQUESTED",
            "thread.message.completed",
            "WORKFLOW_COMPLETED",
            "done",
        ]
    );
    let deltas: String = got
        .iter()
        .filter(|f| f.1 == "thread.message.delta")
        .map(|f| {
            serde_json::from_str::<Value>(f.2).unwrap()["delta"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(deltas, "abcdefgh");
    assert_eq!(got.last().unwrap().2, "[DONE]");
    let approval: Value = serde_json::from_str(got[7].2).unwrap();
    assert!(
        approval.get("payload").is_none() && !approval.to_string().contains("approval_id"),
        "{approval}"
    );

    // Every frame's id is a Redis stream id, increasing, and matches the log; seq counts partials.
    let log = cloud.emitted(&wf);
    assert_eq!(log.len(), got.len());
    for (i, (f, e)) in got.iter().zip(&log).enumerate() {
        assert_eq!(f.0, e.stream_id, "frame {i}");
        assert_eq!(e.seq, i as u64 + 1);
        let (ms_part, n) = e.stream_id.split_once('-').unwrap();
        assert!(ms_part.parse::<u64>().unwrap() > 1_600_000_000_000 && n.parse::<u64>().is_ok());
        if f.1 != "done" {
            assert_eq!(seq_of(f.2), Some(e.seq));
        }
    }
    assert!(
        log.iter()
            .filter(|e| e.event_type == "LLM_PARTIAL")
            .all(|e| !e.persisted)
    );

    // A types filter uses the internal names; it still ends on STREAM_END.
    let r = c
        .get(format!(
            "{base}/api/v1/stream/sse?workflow_id={wf}&types=LLM_OUTPUT"
        ))
        .header("X-API-Key", TEST_KEY)
        .send()
        .await
        .unwrap();
    let (frames, _) = read_sse(r, Duration::from_secs(2)).await;
    let names: Vec<&str> = frames.iter().filter_map(Sse::frame).map(|f| f.1).collect();
    assert_eq!(names, ["thread.message.completed"]);

    // Resume after a stream id and after a numeric seq; a bad id is 400; an unknown workflow errors.
    let (frames, _) = read_sse(
        open_sse(&c, &base, &wf, Some(&log[8].stream_id)).await,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(frames.iter().filter_map(Sse::frame).count(), 2);
    let (frames, _) = read_sse(
        open_sse(&c, &base, &wf, Some("10")).await,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(
        frames
            .iter()
            .filter_map(Sse::frame)
            .map(|f| f.1)
            .collect::<Vec<_>>(),
        ["done"]
    );
    let r = c
        .get(format!(
            "{base}/api/v1/stream/sse?workflow_id={wf}&last_event_id=abc"
        ))
        .header("X-API-Key", TEST_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (frames, _) = read_sse(
        open_sse(&c, &base, "task-unknown", None).await,
        Duration::from_secs(2),
    )
    .await;
    assert!(
        matches!(frames.last(), Some(Sse::Frame { event, data, .. }) if event == "ERROR_OCCURRED" && data.contains("Workflow not found"))
    );
    cloud.stop().await;
}

#[tokio::test]
async fn idle_streams_ping_and_a_trimmed_ring_skips_silently() {
    let cloud = fake_cloud::start(FakeConfig {
        ping_interval: ms(100),
        ring_capacity: 5,
        ..Default::default()
    })
    .await;
    let (c, base) = (http(), cloud.url());
    cloud.set_script(Script::answer(
        "one two three four five six seven eight nine ten",
        10,
        ms(150),
    ));
    let (wf, _, _) = submit(&c, &base, json!({"query": "q"})).await;
    let (frames, _) = read_sse(open_sse(&c, &base, &wf, None).await, ms(700)).await;
    assert!(
        frames
            .iter()
            .any(|f| matches!(f, Sse::Comment(t) if t == "ping")),
        "{frames:?}"
    );
    cloud.wait_terminal(&wf, Duration::from_secs(10)).await;

    // Resuming from the first event: the ring kept only the last 5, the rest is silently gone.
    let log = cloud.emitted(&wf);
    assert_eq!(log.len(), 16);
    let (frames, _) = read_sse(
        open_sse(&c, &base, &wf, Some(&log[0].stream_id)).await,
        Duration::from_secs(2),
    )
    .await;
    let ids: Vec<&str> = frames.iter().filter_map(Sse::frame).map(|f| f.0).collect();
    let tail: Vec<&str> = log[11..].iter().map(|e| e.stream_id.as_str()).collect();
    assert_eq!(ids, tail, "a jump from seq 1 to seq 12 with no error");
    cloud.stop().await;
}

#[tokio::test]
async fn pause_resume_cancel_at_checkpoints() {
    let cloud = fake_cloud::start(FakeConfig::default()).await;
    let (c, base) = (http(), cloud.url());
    cloud.set_script(Script::answer("a slow answer in many parts", 20, ms(60)));
    let (wf, _, _) = submit(&c, &base, json!({"query": "q"})).await;
    // Connected before the pause, so the stream shows every control event.
    let connected = open_sse(&c, &base, &wf, None).await;
    let stream = tokio::spawn(read_sse(connected, Duration::from_secs(10)));
    published(&cloud, &wf, "LLM_PARTIAL").await;
    let task = format!("{base}/api/v1/tasks/{wf}");

    let r = call(
        &c,
        Method::POST,
        format!("{task}/pause"),
        Some(json!({"reason": "lunch"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(
        r.json::<Value>().await.unwrap()["message"],
        "Pause signal sent"
    );
    let r = call(&c, Method::POST, format!("{task}/pause"), None).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "task is already paused"})
    );
    // Blocked at its next checkpoint.
    published(&cloud, &wf, "WORKFLOW_PAUSED").await;
    let cs: Value = call(&c, Method::GET, format!("{task}/control-state"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (cs["is_paused"].as_bool(), cs["pause_reason"].as_str()),
        (Some(true), Some("lunch"))
    );
    assert!(cs["paused_at"].as_str().unwrap().ends_with('Z'));
    let st: Value = call(&c, Method::GET, task.clone(), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(st["status"], "TASK_STATUS_PAUSED");
    let frozen = cloud.emitted(&wf).len();
    // A window in which a run that ignored the pause would publish (one event every 60 ms).
    tokio::time::sleep(ms(200)).await;
    assert_eq!(
        cloud.emitted(&wf).len(),
        frozen,
        "nothing is published while paused"
    );

    let r = call(&c, Method::POST, format!("{task}/resume"), None).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = call(&c, Method::POST, format!("{task}/resume"), None).await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "task is not paused"})
    );
    published(&cloud, &wf, "WORKFLOW_RESUMED").await;
    let r = call(
        &c,
        Method::POST,
        format!("{task}/cancel"),
        Some(json!({"reason": "enough"})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.json::<Value>().await.unwrap()["success"], true);
    assert_eq!(
        cloud.wait_terminal(&wf, Duration::from_secs(5)).await,
        "CANCELLED"
    );

    let r = call(&c, Method::POST, format!("{task}/pause"), None).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "cannot pause cancelled task"})
    );
    let r = call(&c, Method::POST, format!("{task}/cancel"), None).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.json::<Value>().await.unwrap()["success"], false);
    let cs: Value = call(&c, Method::GET, format!("{task}/control-state"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            cs["is_paused"].as_bool(),
            cs["is_cancelled"].as_bool(),
            cs["paused_at"].as_str()
        ),
        (Some(false), Some(false), Some(""))
    );

    let (frames, _) = stream.await.unwrap();
    let names: Vec<&str> = frames
        .iter()
        .filter_map(Sse::frame)
        .map(|f| f.1)
        .filter(|n| n.starts_with("workflow.") || *n == "done")
        .collect();
    assert_eq!(
        names,
        [
            "workflow.pausing",
            "workflow.paused",
            "workflow.resumed",
            "workflow.cancelling",
            "workflow.cancelled",
            "done"
        ]
    );
    let paused = frames
        .iter()
        .filter_map(Sse::frame)
        .find(|f| f.1 == "workflow.paused")
        .unwrap();
    assert!(
        serde_json::from_str::<Value>(paused.2).unwrap()["checkpoint"]
            .as_str()
            .unwrap()
            .starts_with("pre_step_")
    );
    cloud.stop().await;
}

#[tokio::test]
async fn rate_limits_apply_to_the_limited_routes_only() {
    let other = "sk_ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    let cfg = FakeConfig {
        rate_limit: 3,
        api_keys: vec![TEST_KEY.into(), other.into()],
        ..Default::default()
    };
    let cloud = fake_cloud::start(cfg).await;
    let (c, base) = (http(), cloud.url());
    let (wf, _, _) = submit(&c, &base, json!({"query": "q"})).await; // 1
    for _ in 0..2 {
        assert_eq!(
            call(&c, Method::GET, format!("{base}/api/v1/tasks"), None)
                .await
                .status(),
            StatusCode::OK
        );
    }
    let r = call(&c, Method::GET, format!("{base}/api/v1/sessions"), None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["error"].as_str(), body["window"].as_str()),
        (Some("Rate limit exceeded"), Some("minute"))
    );
    for limited in [format!("/api/v1/tasks/{wf}/events"), "/api/v1/tasks".into()] {
        let r = call(&c, Method::GET, format!("{base}{limited}"), None).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{limited}");
    }
    let r = call(
        &c,
        Method::POST,
        format!("{base}/api/v1/tasks/{wf}/pause"),
        None,
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "control is limited"
    );
    // Not limited: status, the stream, health, me.
    for open in [
        format!("/api/v1/tasks/{wf}"),
        "/api/v1/auth/me".into(),
        "/health".into(),
    ] {
        assert_eq!(
            call(&c, Method::GET, format!("{base}{open}"), None)
                .await
                .status(),
            StatusCode::OK,
            "{open}"
        );
    }
    let _ = open_sse(&c, &base, &wf, None).await;
    // Each key has its own window.
    let r = c
        .get(format!("{base}/api/v1/tasks"))
        .header("X-API-Key", other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    cloud.stop().await;
}

#[tokio::test]
async fn idempotency_replays_only_2xx_and_has_no_in_flight_lock() {
    let cloud = fake_cloud::start(FakeConfig::default()).await;
    let (c, base) = (http(), cloud.url());
    let post = |key: &'static str, body: Value| {
        let (c, base) = (c.clone(), base.clone());
        async move {
            c.post(format!("{base}/api/v1/tasks"))
                .header("X-API-Key", TEST_KEY)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let first = post("k1", json!({"query": "once"})).await;
    assert!(first.headers().get("x-idempotency-cached").is_none());
    let wf = first.headers()["x-workflow-id"]
        .to_str()
        .unwrap()
        .to_string();
    let again = post("k1", json!({"query": "once"})).await;
    assert_eq!(again.headers()["x-idempotency-cached"], "true");
    assert_eq!(again.headers()["x-workflow-id"], wf.as_str());
    assert_eq!(cloud.workflows().len(), 1, "the replay ran nothing");
    // A different body with the same key is another request.
    let other = post("k1", json!({"query": "twice"})).await;
    assert!(other.headers().get("x-idempotency-cached").is_none());
    // Only 2xx is cached.
    for _ in 0..2 {
        let r = post("k2", json!({})).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.headers().get("x-idempotency-cached").is_none());
    }
    // No in-flight lock: two concurrent first attempts both submit.
    cloud.inject(Fault::Latency {
        method: Some("POST".into()),
        path: "/api/v1/tasks".into(),
        ms: 300,
    });
    let (a, b) = tokio::join!(
        post("k3", json!({"query": "race"})),
        post("k3", json!({"query": "race"}))
    );
    assert_ne!(a.headers()["x-workflow-id"], b.headers()["x-workflow-id"]);
    assert_eq!(cloud.workflows().len(), 4);
    cloud.stop().await;
}

#[tokio::test]
async fn injected_status_latency_and_stream_reset_with_a_gapless_resume() {
    let cloud = fake_cloud::start(FakeConfig::default()).await;
    let (c, base) = (http(), cloud.url());
    cloud.inject(Fault::Status {
        method: Some("GET".into()),
        path: "/api/v1/tasks/*".into(),
        status: 503,
        body: None,
        times: Some(1),
    });
    cloud.inject(Fault::Latency {
        method: None,
        path: "/readiness".into(),
        ms: 250,
    });
    let t0 = Instant::now();
    assert_eq!(
        c.get(format!("{base}/readiness"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert!(t0.elapsed() >= ms(250));
    let r = call(
        &c,
        Method::GET,
        format!("{base}/api/v1/tasks/anything"),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "injected fault");
    let r = call(
        &c,
        Method::GET,
        format!("{base}/api/v1/tasks/anything"),
        None,
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "the override was for one request"
    );

    cloud.set_script(Script::answer("0123456789", 10, ms(15)));
    cloud.inject(Fault::ResetStreamAfter {
        events: 4,
        connections: None,
    });
    let (wf, _, _) = submit(&c, &base, json!({"query": "q"})).await;
    let (first, end) = read_sse(open_sse(&c, &base, &wf, None).await, Duration::from_secs(5)).await;
    assert!(end.is_err(), "the stream was cut: {end:?}");
    let first: Vec<(String, String)> = first
        .iter()
        .filter_map(Sse::frame)
        .map(|f| (f.0.to_string(), f.1.to_string()))
        .collect();
    assert_eq!(first.len(), 4);
    let (rest, end) = read_sse(
        open_sse(&c, &base, &wf, Some(&first[3].0)).await,
        Duration::from_secs(5),
    )
    .await;
    assert!(end.is_ok());
    let ids: Vec<String> = first
        .iter()
        .map(|f| f.0.clone())
        .chain(rest.iter().filter_map(Sse::frame).map(|f| f.0.to_string()))
        .collect();
    let logged: Vec<String> = cloud
        .emitted(&wf)
        .iter()
        .map(|e| e.stream_id.clone())
        .collect();
    assert_eq!(
        ids, logged,
        "reconnecting with the last id loses nothing and repeats nothing"
    );
    cloud.stop().await;
}

#[tokio::test]
async fn no_stream_end_failures_and_slow_reader_drops() {
    let cloud = fake_cloud::start(FakeConfig {
        linger_after_end: ms(300),
        ..Default::default()
    })
    .await;
    let (c, base) = (http(), cloud.url());

    // A finished task with no STREAM_END: the stream closes after the linger without `done`.
    cloud.inject(Fault::NoStreamEnd);
    cloud.set_script(Script::answer("abc", 3, ms(10)));
    let (wf, _, _) = submit(&c, &base, json!({"query": "q"})).await;
    let t0 = Instant::now();
    let (frames, end) =
        read_sse(open_sse(&c, &base, &wf, None).await, Duration::from_secs(5)).await;
    assert!(end.is_ok() && t0.elapsed() < Duration::from_secs(4));
    let names: Vec<&str> = frames.iter().filter_map(Sse::frame).map(|f| f.1).collect();
    assert_eq!(names.last(), Some(&"WORKFLOW_COMPLETED"));
    assert!(
        !cloud
            .emitted(&wf)
            .iter()
            .any(|e| e.event_type == "STREAM_END")
    );
    cloud.clear_faults();

    // A failure: ERROR_OCCURRED, no WORKFLOW_FAILED, no STREAM_END; only the status says FAILED.
    cloud.set_script(Script::failing("provider exploded", ms(10)));
    let (wf, _, _) = submit(&c, &base, json!({"query": "q"})).await;
    let (frames, _) = read_sse(open_sse(&c, &base, &wf, None).await, Duration::from_secs(5)).await;
    let names: Vec<&str> = frames.iter().filter_map(Sse::frame).map(|f| f.1).collect();
    assert_eq!(names, ["WORKFLOW_STARTED", "AGENT_STARTED", "error"]);
    let st: Value = call(&c, Method::GET, format!("{base}/api/v1/tasks/{wf}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (st["status"].as_str(), st["error"].as_str()),
        (Some("TASK_STATUS_FAILED"), Some("provider exploded"))
    );

    // A slow reader loses live events silently: a seq jump, shown in the log; the stored events
    // back-fill all but the deltas.
    cloud.set_script(
        Script::answer("abcdef", 6, ms(80)).insert_before_output(Step::new(
            "PROGRESS",
            "orchestrator",
            "halfway",
        )),
    );
    let (wf, _, _) = submit(&c, &base, json!({"query": "q"})).await;
    let reader = tokio::spawn({
        let (c, base, wf) = (c.clone(), base.clone(), wf.clone());
        async move { read_sse(open_sse(&c, &base, &wf, None).await, Duration::from_secs(5)).await }
    });
    // After the first delta, the other five, the PROGRESS and the LLM_OUTPUT are lost live.
    while cloud.emitted(&wf).len() < 4 {
        tokio::time::sleep(ms(5)).await;
    }
    cloud.inject(Fault::DropLive { events: 7 });
    let (frames, _) = reader.await.unwrap();
    let seqs: Vec<u64> = frames
        .iter()
        .filter_map(Sse::frame)
        .filter_map(|f| seq_of(f.2))
        .collect();
    let log = cloud.emitted(&wf);
    let dropped: Vec<u64> = log
        .iter()
        .filter(|e| e.dropped_for > 0)
        .map(|e| e.seq)
        .collect();
    assert_eq!(dropped.len(), 7, "{log:?}");
    assert!(
        dropped.iter().all(|s| !seqs.contains(s)),
        "{seqs:?} vs {dropped:?}"
    );
    assert!(
        seqs.windows(2).any(|w| w[1] > w[0] + 1),
        "the client sees a jump: {seqs:?}"
    );
    let stored: Value = call(
        &c,
        Method::GET,
        format!("{base}/api/v1/tasks/{wf}/events?limit=200"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let stored: Vec<u64> = stored["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    for e in log.iter().filter(|e| e.dropped_for > 0) {
        assert_eq!(
            stored.contains(&e.seq),
            e.event_type != "LLM_PARTIAL",
            "{}",
            e.event_type
        );
    }
    cloud.stop().await;
}

#[tokio::test]
async fn a_stopped_cloud_refuses_connections_and_comes_back_on_the_same_port() {
    let cloud = fake_cloud::start(FakeConfig::default()).await;
    let (c, base) = (http(), cloud.url());
    cloud.set_script(Script::answer(
        "still running while the gateway is down",
        8,
        ms(100),
    ));
    let (wf, _, _) = submit(&c, &base, json!({"query": "q"})).await;
    let connected = open_sse(&c, &base, &wf, None).await;
    let reader = tokio::spawn(read_sse(connected, Duration::from_secs(10)));
    // Stopped mid-answer: after its first delta, well before its last.
    published(&cloud, &wf, "LLM_PARTIAL").await;
    cloud.stop().await;
    let (frames, end) = reader.await.unwrap();
    assert!(end.is_err(), "the open stream was cut");
    assert!(
        http()
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap_err()
            .is_connect()
    );
    // Down for a while, as a restarting gateway is.
    tokio::time::sleep(ms(300)).await;
    cloud.restart().await;
    assert_eq!(cloud.url(), base);
    let last = frames
        .iter()
        .filter_map(Sse::frame)
        .next_back()
        .unwrap()
        .0
        .to_string();
    let (rest, _) = read_sse(
        open_sse(&c, &base, &wf, Some(&last)).await,
        Duration::from_secs(10),
    )
    .await;
    let names: Vec<&str> = rest.iter().filter_map(Sse::frame).map(|f| f.1).collect();
    assert_eq!(
        names.last(),
        Some(&"done"),
        "the task went on while the gateway was down"
    );
    let got = frames.iter().chain(&rest).filter_map(Sse::frame).count();
    assert_eq!(got, cloud.emitted(&wf).len());
    cloud.stop().await;
}
