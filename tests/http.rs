//! The loopback listener with a real HTTP client against 127.0.0.1:0: security layers, the cloud's
//! routes and status codes, SSE framing and resume.

#[path = "support/lcg.rs"]
mod lcg;

#[path = "support/listener.rs"]
mod listener;

use std::time::Duration;

use lcg::Lcg;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tauri_plugin_shannon::http::Listener;

const TOKEN: &str = "test-launch-token-0123456789abcdef0123456789";

struct Server {
    listener: Option<Listener>,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    let (listener, dir) = listener::start(TOKEN).await;
    let base = format!("http://127.0.0.1:{}", listener.addr().port());
    Server {
        listener: Some(listener),
        base,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        _dir: dir,
    }
}

impl Server {
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
    }
    fn post(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(&body)
    }
    async fn json(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    async fn wait_done(&self, id: &str) -> Value {
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let (_, t) = self.json(self.get(&format!("/api/v1/tasks/{id}"))).await;
                if t["status"] != "TASK_STATUS_RUNNING" && t["status"] != "TASK_STATUS_QUEUED" {
                    return t;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("task did not finish")
    }
}

/// Reads an SSE body into (event, id, data) frames.
fn frames(body: &str) -> Vec<(String, Option<String>, String)> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut event = String::from("message");
            let mut id = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line
                    .strip_prefix("event: ")
                    .or_else(|| line.strip_prefix("event:"))
                {
                    event = v.trim().to_string();
                } else if let Some(v) = line
                    .strip_prefix("id: ")
                    .or_else(|| line.strip_prefix("id:"))
                {
                    id = Some(v.trim().to_string());
                } else if let Some(v) = line
                    .strip_prefix("data: ")
                    .or_else(|| line.strip_prefix("data:"))
                {
                    data.push(v.to_string());
                }
            }
            (!data.is_empty()).then(|| (event, id, data.join("\n")))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn security_layers() {
    let s = server().await;
    let (status, body) = s.json(s.http.get(format!("{}/health", s.base))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "healthy");

    // No credentials: 401 with WWW-Authenticate.
    let resp = s
        .http
        .get(format!("{}/api/v1/tasks", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer realm=\"Shannon API\""
    );
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "Authentication required"
    );
    let (status, body) = s
        .json(
            s.http
                .get(format!("{}/api/v1/tasks", s.base))
                .bearer_auth("nope"),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("Invalid token"))
    );
    // Unknown paths and methods answer 401 before 404 or 405, except on public paths.
    let unknown =
        |method: reqwest::Method, path: &str| s.http.request(method, format!("{}{path}", s.base));
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/nope"),
        (reqwest::Method::DELETE, "/api/v1/tasks"),
    ] {
        let resp = unknown(method.clone(), path).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    let resp = unknown(reqwest::Method::GET, "/api/v1/nope")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = unknown(reqwest::Method::DELETE, "/api/v1/tasks")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let resp = unknown(reqwest::Method::POST, "/health")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    // ?token= works only on stream routes.
    let (status, _) = s
        .json(s.http.get(format!("{}/api/v1/tasks?token={TOKEN}", s.base)))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // DNS rebinding: a foreign Host is refused even with the token.
    let (status, body) = s
        .json(s.get("/api/v1/tasks").header("host", "evil.example:80"))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("Host not allowed"))
    );
    let port = s.listener.as_ref().unwrap().addr().port();
    let (status, _) = s
        .json(
            s.get("/api/v1/tasks")
                .header("host", format!("localhost:{port}")),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Origin: allowed ones get their own origin back (never *), others are refused.
    let resp = s
        .get("/api/v1/tasks")
        .header("origin", "tauri://localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "tauri://localhost"
    );
    let resp = s
        .get("/api/v1/tasks")
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    let pre = s
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/api/v1/tasks", s.base))
        .header("origin", "http://localhost:1420")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        pre.headers()["access-control-allow-origin"],
        "http://localhost:1420"
    );

    // Oversized and malformed bodies.
    // Oversized: announce a 41 MiB body; the server answers 413 before reading it (a client still
    // writing would see the connection close, so only the headers are sent here).
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let port = s.listener.as_ref().unwrap().addr().port();
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let head = format!(
            "POST /api/v1/tasks HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{{\"query\":\"",
            41 * 1024 * 1024
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        let mut response = vec![0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut response))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&response[..n]);
        assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    }
    let (status, body) = s
        .json(
            s.http
                .post(format!("{}/api/v1/tasks", s.base))
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("Invalid request body")
    );
    let (status, body) = s.json(s.post("/api/v1/tasks", json!({"query": ""}))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Query is required"))
    );
    let (status, body) = s.json(s.get("/api/v1/tasks/bad%20id")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("Invalid task ID format"))
    );
    let (status, _) = s.json(s.get("/api/v1/tasks?limit=0")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let listener = s.listener.unwrap();
    let token_file = listener.status().token_file.unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    listener.stop().await;
    assert!(!std::path::Path::new(&token_file).exists());
    assert!(
        s.http
            .get(format!("{}/health", s.base))
            .send()
            .await
            .is_err(),
        "stopped"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tasks_control_and_sse_as_the_cloud() {
    let s = server().await;
    let resp = s
        .post(
            "/api/v1/tasks",
            json!({"query": "Hello over HTTP", "session_id": "http-1"}),
        )
        .header("idempotency-key", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let wf = resp.headers()["x-workflow-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(resp.headers().contains_key("x-session-id"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["task_id"], json!(wf));
    assert_eq!(body["status"], "STATUS_CODE_OK");
    // Beyond the cloud's body, the fields the desktop frontend reads (contract/desktop-frontend.md).
    assert_eq!(body["workflow_id"], json!(wf));
    assert_eq!(
        body["stream_url"],
        json!(format!("/api/v1/stream/sse?workflow_id={wf}"))
    );
    let replay = s
        .post(
            "/api/v1/tasks",
            json!({"query": "Hello over HTTP", "session_id": "http-1"}),
        )
        .header("idempotency-key", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(replay.headers()["x-idempotency-cached"], "true");
    assert_eq!(replay.headers()["x-workflow-id"].to_str().unwrap(), wf);

    // The whole stream over SSE, closed after STREAM_END.
    let sse = s
        .get(&format!("/api/v1/stream/sse?workflow_id={wf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
    let text = tokio::time::timeout(Duration::from_secs(60), sse.text())
        .await
        .unwrap()
        .unwrap();
    assert!(text.starts_with(&format!(": connected to workflow {wf}")));
    let all = frames(&text);
    let names: Vec<&str> = all.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(names.first(), Some(&"DATA_PROCESSING"));
    assert_eq!(names.last(), Some(&"done"));
    assert_eq!(all.last().unwrap().2, "[DONE]");
    assert!(names.contains(&"thread.message.completed"));
    let completed: Value = serde_json::from_str(
        &all.iter()
            .find(|f| f.0 == "thread.message.completed")
            .unwrap()
            .2,
    )
    .unwrap();
    assert!(
        completed["response"]
            .as_str()
            .unwrap()
            .contains("Hello over HTTP")
    );
    assert!(completed["workflow_id"].is_string() && completed["agent_id"].is_string());
    let t = s.wait_done(&wf).await;
    assert_eq!(t["status"], "TASK_STATUS_COMPLETED");

    // Resume after id 5 (header wins over query): exactly the stored rest.
    let (_, events) = s
        .json(s.get(&format!("/api/v1/tasks/{wf}/events?limit=200")))
        .await;
    let stored = events["events"].as_array().unwrap();
    let resumed = s
        .get(&format!(
            "/api/v1/stream/sse?workflow_id={wf}&last_event_id=1"
        ))
        .header("last-event-id", "5")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ids: Vec<u64> = frames(&resumed)
        .iter()
        .filter_map(|f| f.1.as_ref()?.parse().ok())
        .collect();
    let expected: Vec<u64> = stored
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .filter(|s| *s > 5)
        .collect();
    assert_eq!(ids, expected);
    let (status, _) = s
        .json(s.get(&format!(
            "/api/v1/stream/sse?workflow_id={wf}&last_event_id=x"
        )))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = s.json(s.get("/api/v1/stream/sse")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // ?token= is accepted on stream routes.
    let q = s
        .http
        .get(format!(
            "{}/api/v1/stream/sse?workflow_id={wf}&types=STREAM_END&token={TOKEN}",
            s.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(q.status(), StatusCode::OK);
    assert_eq!(
        frames(&q.text().await.unwrap())
            .iter()
            .map(|f| f.0.clone())
            .collect::<Vec<_>>(),
        ["done"]
    );

    // /tasks/stream: 201, stream_url and Link; /tasks/{id}/stream redirects.
    let resp = s
        .post("/api/v1/tasks/stream", json!({"query": "Second"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(
        resp.headers()["link"]
            .to_str()
            .unwrap()
            .ends_with("rel=stream")
    );
    let b: Value = resp.json().await.unwrap();
    let second = b["workflow_id"].as_str().unwrap().to_string();
    assert_eq!(
        b["stream_url"],
        json!(format!("/api/v1/stream/sse?workflow_id={second}"))
    );
    let redirect = s
        .get(&format!("/api/v1/tasks/{second}/stream?types=STREAM_END"))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        redirect.headers()["location"],
        format!("/api/v1/stream/sse?workflow_id={second}&types=STREAM_END").as_str()
    );
    // Control: pause and resume (202), and the contract's 502 on a finished task.
    let (status, body) = s
        .json(s.post(
            &format!("/api/v1/tasks/{second}/pause"),
            json!({"reason": "wait"}),
        ))
        .await;
    if status == StatusCode::ACCEPTED {
        assert_eq!(body["message"], "Pause signal sent");
        let (_, state) = s
            .json(s.get(&format!("/api/v1/tasks/{second}/control-state")))
            .await;
        assert_eq!(state["pause_reason"], "wait");
        let (status, body) = s
            .json(s.post(&format!("/api/v1/tasks/{second}/resume"), json!({})))
            .await;
        // A pause that lands after the run's last checkpoint cannot hold it: the task completes and
        // the resume is refused as the contract says. Otherwise the resume is accepted.
        let finished = body["error"] == "cannot resume completed task";
        assert!(
            status == StatusCode::ACCEPTED || (status == StatusCode::BAD_GATEWAY && finished),
            "{status} {body}"
        );
    }
    s.wait_done(&second).await;
    let (status, body) = s
        .json(s.post(&format!("/api/v1/tasks/{second}/pause"), json!({})))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("cannot pause completed task"))
    );
    let (status, body) = s
        .json(s.post(&format!("/api/v1/tasks/{second}/cancel"), json!({})))
        .await;
    assert_eq!(
        (status, body["success"].as_bool()),
        (StatusCode::ACCEPTED, Some(false))
    );

    let (status, list) = s
        .json(s.get("/api/v1/tasks?limit=10&status=completed"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total_count"], 2);
    let (status, _) = s.json(s.get("/api/v1/tasks?status=PAUSED")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Sessions.
    let (status, sessions) = s.json(s.get("/api/v1/sessions")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sessions["total_count"], 2);
    let (status, _) = s.json(s.get("/api/v1/sessions/http-1/history")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, turns) = s
        .json(s.get("/api/v1/sessions/http-1/events?include_payload=true"))
        .await;
    assert_eq!(turns["count"], 1);
    let (status, renamed) = s
        .json(
            s.http
                .patch(format!("{}/api/v1/sessions/http-1", s.base))
                .bearer_auth(TOKEN)
                .json(&json!({"title": "Hi"})),
        )
        .await;
    assert_eq!(
        (status, renamed["title"].as_str()),
        (StatusCode::OK, Some("Hi"))
    );
    let del = s
        .http
        .delete(format!("{}/api/v1/sessions/http-1", s.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    let (status, body) = s.json(s.get("/api/v1/sessions/http-1")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("Session not found"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn users_keys_settings_and_ownership() {
    let s = server().await;
    let (status, reg) = s
        .json(s.post(
            "/api/v1/auth/register",
            json!({"email": "ada@example.com", "password": "correct horse"}),
        ))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let access = reg["access_token"].as_str().unwrap().to_string();
    let (status, body) = s
        .json(s.post(
            "/api/v1/auth/register",
            json!({"email": "ada@example.com", "password": "correct horse"}),
        ))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("email_exists"))
    );
    let (status, body) = s
        .json(s.post(
            "/api/v1/auth/login",
            json!({"email": "ada@example.com", "password": "wrong horse"}),
        ))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    let (status, pair) = s
        .json(s.post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": reg["refresh_token"]}),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(pair["access_token"].is_string());

    let as_ada = |path: &str| s.http.get(format!("{}{path}", s.base)).bearer_auth(&access);
    let (status, me) = s.json(as_ada("/api/v1/auth/me")).await;
    assert_eq!(
        (status, me["email"].as_str()),
        (StatusCode::OK, Some("ada@example.com"))
    );

    // An API key for Ada authenticates by X-API-Key; revoked, it stops working.
    let (status, key) = s
        .json(
            s.http
                .post(format!("{}/api/v1/auth/api-keys", s.base))
                .bearer_auth(&access)
                .json(&json!({"name": "cli"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let api_key = key["api_key"].as_str().unwrap().to_string();
    let (status, me) = s
        .json(
            s.http
                .get(format!("{}/api/v1/auth/me", s.base))
                .header("x-api-key", &api_key),
        )
        .await;
    assert_eq!(
        (status, me["email"].as_str()),
        (StatusCode::OK, Some("ada@example.com"))
    );

    // Ownership: the embedded user's task is invisible to Ada (404), and its stream too.
    let (_, sub) = s
        .json(s.post("/api/v1/tasks", json!({"query": "mine"})))
        .await;
    let wf = sub["task_id"].as_str().unwrap().to_string();
    let (status, body) = s.json(as_ada(&format!("/api/v1/tasks/{wf}"))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("Task not found"))
    );
    let (status, _) = s
        .json(as_ada(&format!("/api/v1/stream/sse?workflow_id={wf}")))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.json(as_ada(&format!("/api/v1/tasks/{wf}/events"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // refresh-key: only with API-key auth; the old key stops working, the new one works.
    let (status, body) = s
        .json(
            s.http
                .post(format!("{}/api/v1/auth/refresh-key", s.base))
                .bearer_auth(&access),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("api_key_required"))
    );
    let (status, fresh) = s
        .json(
            s.http
                .post(format!("{}/api/v1/auth/refresh-key", s.base))
                .header("x-api-key", &api_key),
        )
        .await;
    assert_eq!(
        (status, fresh["previous_key_revoked"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let (status, _) = s
        .json(
            s.http
                .get(format!("{}/api/v1/auth/me", s.base))
                .header("x-api-key", &api_key),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let api_key = fresh["api_key"].as_str().unwrap().to_string();
    let (_, keys) = s.json(as_ada("/api/v1/auth/api-keys")).await;
    let key = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["is_active"] == true)
        .unwrap()
        .clone();
    let (status, me) = s
        .json(
            s.http
                .get(format!("{}/api/v1/auth/me", s.base))
                .header("x-api-key", &api_key),
        )
        .await;
    assert_eq!(
        (status, me["email"].as_str()),
        (StatusCode::OK, Some("ada@example.com"))
    );

    let id = key["id"].as_str().unwrap();
    let del = s
        .http
        .delete(format!("{}/api/v1/auth/api-keys/{id}", s.base))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::OK);
    let (status, _) = s
        .json(
            s.http
                .get(format!("{}/api/v1/auth/me", s.base))
                .header("x-api-key", &api_key),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Settings and provider keys (masked).
    let (status, saved) = s
        .json(s.post(
            "/api/v1/settings/ui.theme",
            json!({"value": {"mode": "dark"}}),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(saved["setting_key"], "ui.theme");
    assert_eq!(saved["setting_type"], "json");
    assert_eq!(saved["encrypted"], false);
    let (_, got) = s.json(s.get("/api/v1/settings/ui.theme")).await;
    assert_eq!(
        serde_json::from_str::<Value>(got["setting_value"].as_str().unwrap()).unwrap(),
        json!({"mode": "dark"})
    );
    // The desktop frontend's form: value as text with its type; the list is a bare array.
    for (key, value, kind) in [
        ("ui.font_size", "14", "number"),
        ("ui.compact", "true", "boolean"),
        ("ui.language", "en", "string"),
    ] {
        let (status, saved) = s
            .json(s.post(
                "/api/v1/settings",
                json!({"key": key, "value": value, "setting_type": kind}),
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{saved}");
        assert_eq!(
            (
                saved["setting_value"].as_str(),
                saved["setting_type"].as_str()
            ),
            (Some(value), Some(kind))
        );
    }
    let (_, all) = s.json(s.get("/api/v1/settings")).await;
    let keys: Vec<&str> = all
        .as_array()
        .expect("a bare array")
        .iter()
        .map(|x| x["setting_key"].as_str().unwrap())
        .collect();
    for key in ["ui.theme", "ui.font_size", "ui.compact", "ui.language"] {
        assert!(keys.contains(&key), "{keys:?}");
    }
    let (status, e) = s
        .json(s.post(
            "/api/v1/settings",
            json!({"key": "ui.font_size", "value": "large", "setting_type": "number"}),
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let (_, kept) = s.json(s.get("/api/v1/settings/ui.font_size")).await;
    assert_eq!(
        kept["setting_value"], "14",
        "a refused write changes nothing"
    );
    let (status, _) = s
        .json(s.post(
            "/api/v1/settings",
            json!({"key": "secret", "value": "x", "encrypted": true}),
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, saved) = s
        .json(s.post(
            "/api/v1/settings/api-keys/openai",
            json!({"api_key": "sk-http-key-000000000000wxyz"}),
        ))
        .await;
    assert_eq!(
        (status, saved["masked_key"].as_str()),
        (StatusCode::OK, Some("sk-h****wxyz"))
    );
    let (_, keys) = s.json(s.get("/api/v1/settings/api-keys")).await;
    let openai = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["provider"] == "openai")
        .unwrap();
    assert_eq!(openai["is_configured"], true);
    assert!(!keys.to_string().contains("000000000000wxyz"));
    let (status, _) = s
        .json(s.post("/api/v1/settings/api-keys/nosuch", json!({"api_key": "x"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let del = s
        .http
        .delete(format!("{}/api/v1/settings/api-keys/openai", s.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_sse_subscribers_across_twenty_tasks_get_every_event_in_order() {
    let s = server().await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (_, b) = s
            .json(s.post(
                "/api/v1/tasks",
                json!({"query": format!("Concurrent task number {i}")}),
            ))
            .await;
        tasks.push(b["task_id"].as_str().unwrap().to_string());
    }
    let mut readers = Vec::new();
    for i in 0..200 {
        let wf = tasks[i % 20].clone();
        let req = s.get(&format!("/api/v1/stream/sse?workflow_id={wf}"));
        readers.push(tokio::spawn(async move {
            let text = req.send().await.unwrap().text().await.unwrap();
            (wf, frames(&text))
        }));
    }
    for r in readers {
        let (wf, got) = tokio::time::timeout(Duration::from_secs(120), r)
            .await
            .unwrap()
            .unwrap();
        let ids: Vec<u64> = got
            .iter()
            .filter_map(|f| f.1.as_ref()?.parse().ok())
            .collect();
        assert_eq!(
            ids,
            (1..=ids.len() as u64).collect::<Vec<_>>(),
            "{wf}: every stored event, in order"
        );
        assert_eq!(got.last().map(|f| f.0.as_str()), Some("done"), "{wf}");
        let (_, stored) = s
            .json(s.get(&format!("/api/v1/tasks/{wf}/events?limit=200")))
            .await;
        assert_eq!(
            ids.len(),
            stored["events"].as_array().unwrap().len(),
            "{wf}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_compatible_routes() {
    let s = server().await;
    let (status, models) = s.json(s.get("/v1/models")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(models["object"], "list");
    let (status, reply) = s
        .json(s.post("/v1/chat/completions", json!({"model": "shannon-chat", "messages": [{"role": "user", "content": "Plain please"}]})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply["object"], "chat.completion");
    assert!(
        reply["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("Plain please")
    );
    let streamed = s
        .post(
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "Stream please"}], "stream": true}),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let datas: Vec<String> = frames(&streamed).into_iter().map(|f| f.2).collect();
    assert_eq!(datas.last().map(String::as_str), Some("[DONE]"));
    let text: String = datas
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert!(text.contains("Stream please"), "{text}");
    let (status, body) = s
        .json(s.post("/v1/chat/completions", json!({"messages": []})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["type"], "invalid_request_error");
}

async fn long_task(s: &Server) -> String {
    let query = "Explain resumable streams over SSE and WebSocket in great detail. ".repeat(20);
    let (_, b) = s
        .json(s.post("/api/v1/tasks", json!({"query": query})))
        .await;
    b["task_id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn sse_reconnects_at_100_random_points_lose_and_repeat_nothing() {
    let s = server().await;
    let wf = long_task(&s).await;
    let mut rng = Lcg(0xa11ce);
    // Every frame has an id (a delta's is `<seq>-<n>`): resuming after any of them, mid-answer
    // included, must give exactly the rest.
    let (mut ids, mut text, mut last, mut reconnects) =
        (Vec::<u64>::new(), String::new(), None::<String>, 0);
    tokio::time::timeout(Duration::from_secs(120), async {
        'outer: loop {
            let mut req = s.get(&format!("/api/v1/stream/sse?workflow_id={wf}"));
            if let Some(l) = &last {
                req = req.header("last-event-id", l.as_str());
            }
            let mut resp = req.send().await.unwrap();
            reconnects += 1;
            let (mut buf, mut frames_seen, take) = (String::new(), 0, 1 + rng.next(3));
            while let Some(chunk) = resp.chunk().await.unwrap() {
                buf.push_str(std::str::from_utf8(&chunk).unwrap());
                while let Some(end) = buf.find("\n\n") {
                    let block: String = buf.drain(..end + 2).collect();
                    let Some((name, id, data)) = frames(&block).into_iter().next() else {
                        continue;
                    };
                    let id = id.expect("every event frame has an id");
                    if name == "thread.message.delta" {
                        let d: Value = serde_json::from_str(&data).unwrap();
                        assert_eq!(d["stream_id"], id.as_str());
                        text.push_str(d["delta"].as_str().unwrap());
                    } else if !id.contains('-') {
                        // A stored event (LLM_PROMPT, the other transient type, has `<seq>-<n>`).
                        ids.push(id.parse().unwrap());
                    }
                    last = Some(id);
                    if name == "done" {
                        break 'outer;
                    }
                    frames_seen += 1;
                    if frames_seen >= take {
                        continue 'outer; // drop the connection mid-stream
                    }
                }
            }
        }
    })
    .await
    .expect("the stream never ended");
    assert!(reconnects >= 100, "only {reconnects} reconnects");
    let (_, stored) = s
        .json(s.get(&format!("/api/v1/tasks/{wf}/events?limit=200")))
        .await;
    let expected: Vec<u64> = stored["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, expected);
    let (_, task) = s.json(s.get(&format!("/api/v1/tasks/{wf}"))).await;
    assert_eq!(text, task["result"].as_str().unwrap(), "the streamed text");
}

#[tokio::test(flavor = "multi_thread")]
async fn ws_reconnects_at_100_random_points_lose_and_repeat_nothing() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let s = server().await;
    let wf = long_task(&s).await;
    let port = s.listener.as_ref().unwrap().addr().port();
    let mut rng = Lcg(0xbee);
    let (mut received, mut text, mut last, mut reconnects) =
        (Vec::<Value>::new(), String::new(), None::<String>, 0);
    tokio::time::timeout(Duration::from_secs(120), async {
        'outer: loop {
            let mut url =
                format!("ws://127.0.0.1:{port}/api/v1/stream/ws?workflow_id={wf}&token={TOKEN}");
            if let Some(l) = &last {
                url.push_str(&format!("&last_event_id={l}"));
            }
            let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
            reconnects += 1;
            let take = 1 + rng.next(3);
            let mut seen = 0;
            while let Some(msg) = socket.next().await {
                let Message::Text(frame) = msg.unwrap() else {
                    continue;
                };
                let e: Value = serde_json::from_str(&frame).unwrap();
                // The resume id: a delta's stream id, else the seq.
                last = Some(match e["stream_id"].as_str() {
                    Some(id) => id.to_string(),
                    None => e["seq"].to_string(),
                });
                if e["type"] == "LLM_PARTIAL" {
                    text.push_str(e["message"].as_str().unwrap());
                } else if e["type"] != "LLM_PROMPT" {
                    let end = e["type"] == "STREAM_END";
                    received.push(e);
                    if end {
                        break 'outer;
                    }
                }
                seen += 1;
                if seen >= take {
                    continue 'outer;
                }
            }
        }
    })
    .await
    .expect("the stream never ended");
    assert!(reconnects >= 100, "only {reconnects} reconnects");
    let (_, stored) = s
        .json(s.get(&format!("/api/v1/tasks/{wf}/events?limit=200")))
        .await;
    assert_eq!(Value::Array(received), stored["events"]);
    let (_, task) = s.json(s.get(&format!("/api/v1/tasks/{wf}"))).await;
    assert_eq!(text, task["result"].as_str().unwrap(), "the streamed text");
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_document_covers_every_route_with_generated_schemas() {
    let s = server().await;
    // Public, like /health: clients fetch it before they have credentials.
    let resp = s
        .http
        .get(format!("{}/openapi.json", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let doc: Value = resp.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    // Every route the router serves is documented with its method, and the table of routes is what
    // the router serves: each one answers (its handler's answer, not the router's 404/405).
    let routed = tauri_plugin_shannon::http::route_paths();
    assert!(routed.len() > 40, "{routed:?}");
    for (method, path) in &routed {
        let documented = paths
            .get(*path)
            .and_then(|p| p.get(method.to_lowercase()))
            .is_some();
        assert!(documented, "{method} {path} is not in /openapi.json");
        let url = format!(
            "{}{}",
            s.base,
            path.replace("{id}", "x").replace("{key}", "x")
        );
        let url = url.replace("{provider}", "x");
        let req = s
            .http
            .request(method.parse().unwrap(), url)
            .bearer_auth(TOKEN);
        let req = if *method == "GET" || *method == "DELETE" {
            req
        } else {
            req.json(&json!({}))
        };
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED && body["code"] != "route_not_found",
            "{method} {path} is not routed ({status})"
        );
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, routed.len(), "operations without a route");
    assert!(paths["/api/v1/tasks"].get("post").is_some());
    assert!(paths["/api/v1/tasks"].get("get").is_some());
    assert!(paths["/api/v1/sessions/{id}"].get("patch").is_some());
    // Bodies are the Rust types, as schemas.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "SubmitTaskRequest",
        "TaskDetails",
        "TaskProgress",
        "TaskOutput",
        "ControlState",
    ] {
        assert!(
            schemas.keys().any(|k| k.ends_with(name)),
            "no {name} schema in {:?}",
            schemas.keys().collect::<Vec<_>>()
        );
    }
    let submit = schemas
        .iter()
        .find(|(k, _)| k.ends_with("SubmitTaskRequest"))
        .unwrap()
        .1;
    assert!(submit["properties"].get("query").is_some());
    // The document is served to the same Origin rules as every route.
    let r = s
        .http
        .get(format!("{}/openapi.json", s.base))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
