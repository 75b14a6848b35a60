//! A full disk mid-run: the headless server's data dir is on a small tmpfs; while a task streams
//! from a slow fake provider the disk is filled to the last byte. What an SSE client sees must all
//! be stored later (durable before visible); a new submission is refused with a 5xx JSON error
//! with a code; once space returns the task ends FAILED (its step could not be stored), with
//! WORKFLOW_FAILED and STREAM_END stored after contiguous seqs, and the provider was called once.
//!
//! Needs root (mount); prints SKIP and passes otherwise.

#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/sse.rs"]
mod sse;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_provider::{FakeProvider, Reply, Scripted};
use serde_json::{Value, json};
use serve::{ServeOptions, Server, TOKEN, serve};
use sse::{End, Frame};

/// Kills the server and lazily unmounts the tmpfs, also when the test panics.
struct Guard {
    mount: PathBuf,
    server: Option<Server>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut s) = self.server.take() {
            s.kill();
        }
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

/// Writes `path` in `chunk`-sized pieces until the disk refuses; returns the bytes written.
fn fill(path: &Path, chunk: usize) -> u64 {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let buf = vec![0xA5u8; chunk];
    let mut written = 0u64;
    loop {
        match f.write(&buf) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) => {
                assert_eq!(
                    e.raw_os_error(),
                    Some(28),
                    "filling {} stopped with {e}, not ENOSPC",
                    path.display()
                );
                break;
            }
        }
    }
    let _ = f.sync_all();
    written
}

fn available(mount: &Path) -> String {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(mount)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap_or("?")
        .trim()
        .to_string()
}

fn deltas(frames: &Mutex<Vec<Frame>>) -> usize {
    frames
        .lock()
        .unwrap()
        .iter()
        .filter(|f| f.event == "thread.message.delta")
        .count()
}

/// The feature's bound: every read of the running task answers within this while the disk is full.
const READ_BOUND: Duration = Duration::from_secs(2);

/// `GET url` with the token, and how long it took to answer (its headers).
async fn timed_get(http: &reqwest::Client, url: String) -> (reqwest::Response, Duration) {
    timed(http.get(url).bearer_auth(TOKEN)).await
}

/// Sends `req` and how long it took to answer (its headers).
async fn timed(req: reqwest::RequestBuilder) -> (reqwest::Response, Duration) {
    let started = Instant::now();
    let resp = req.timeout(Duration::from_secs(30)).send().await.unwrap();
    (resp, started.elapsed())
}

/// While the disk is full, the running task's reads answer within [`READ_BOUND`]: the task, its
/// stored events (saying more are pending), an SSE replay from the start and a resume, and every
/// other read of the task, its session and the server (what is stored, or a 503/507 with a code).
async fn reads_answer_while_full(
    http: &reqwest::Client,
    url: &str,
    task_id: &str,
    wf: &str,
    api_key: &str,
) {
    let (task, took) = timed_get(http, format!("{url}/api/v1/tasks/{task_id}")).await;
    let status = task.status().as_u16();
    let task: Value = task.json().await.unwrap_or(Value::Null);
    println!(
        "GET task while full: {status} in {took:?}: {}",
        task["status"]
    );
    assert_eq!(status, 200, "{task}");
    assert!(
        took < READ_BOUND,
        "GET task took {took:?} while the disk is full"
    );

    let (events, took) = timed_get(
        http,
        format!("{url}/api/v1/tasks/{task_id}/events?limit=200"),
    )
    .await;
    let status = events.status().as_u16();
    let pending = events
        .headers()
        .get("x-shannon-events-pending")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    let page: Value = events.json().await.unwrap_or(Value::Null);
    let seqs: Vec<u64> = page["events"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["seq"].as_u64()).collect())
        .unwrap_or_default();
    println!(
        "GET events while full: {status} in {took:?}, pending header {pending:?}, body pending {}, seqs {seqs:?}",
        page["pending"]
    );
    assert_eq!(status, 200, "{page}");
    assert!(
        took < READ_BOUND,
        "GET events took {took:?} while the disk is full"
    );
    assert!(!seqs.is_empty(), "the stored events are answered: {page}");
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    // The run is still streaming into a writer that cannot store: events are waiting.
    assert_eq!(pending.as_deref(), Some("true"), "pending header; {page}");
    assert_eq!(page["pending"], true, "{page}");

    let started = Instant::now();
    let sink = Arc::new(Mutex::new(Vec::new()));
    let replay = {
        let (h, u, w, sink) = (http.clone(), url.to_string(), wf.to_string(), sink.clone());
        tokio::spawn(async move { sse::read_sse(&h, &u, &w, None, READ_BOUND * 5, sink).await })
    };
    while sink.lock().unwrap().is_empty() && started.elapsed() < READ_BOUND * 5 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    let first = sink.lock().unwrap().first().cloned();
    replay.abort();
    println!("SSE replay while full: first frame {first:?} after {took:?}");
    assert!(
        took < READ_BOUND,
        "the SSE replay's first event took {took:?}"
    );
    assert_eq!(first.and_then(|f| f.id).as_deref(), Some("1"));

    // A resume from a stored id answers with the next one as quickly.
    let started = Instant::now();
    let sink = Arc::new(Mutex::new(Vec::new()));
    let resume = {
        let (h, u, w, sink) = (http.clone(), url.to_string(), wf.to_string(), sink.clone());
        tokio::spawn(
            async move { sse::read_sse(&h, &u, &w, Some("2"), READ_BOUND * 5, sink).await },
        )
    };
    while sink.lock().unwrap().is_empty() && started.elapsed() < READ_BOUND * 5 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    let first = sink.lock().unwrap().first().cloned();
    resume.abort();
    println!("SSE resume after 2 while full: first frame {first:?} after {took:?}");
    assert!(
        took < READ_BOUND,
        "the SSE resume's first event took {took:?}"
    );
    assert_eq!(first.and_then(|f| f.id).as_deref(), Some("3"));

    // The WebSocket stream replays as quickly.
    let ws = url.replacen("http://", "ws://", 1);
    let started = Instant::now();
    let first = tokio::time::timeout(READ_BOUND * 5, async {
        use futures_util::StreamExt;
        let (mut socket, _) = tokio_tungstenite::connect_async(format!(
            "{ws}/api/v1/stream/ws?workflow_id={wf}&token={TOKEN}"
        ))
        .await
        .unwrap();
        loop {
            match socket.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(frame))) => {
                    break serde_json::from_str::<Value>(&frame).unwrap();
                }
                Some(Ok(_)) => continue,
                other => panic!("the WebSocket ended before its first event: {other:?}"),
            }
        }
    })
    .await;
    let took = started.elapsed();
    println!("WebSocket replay while full: first event {first:?} after {took:?}");
    assert!(
        took < READ_BOUND,
        "the WebSocket's first event took {took:?}"
    );
    assert_eq!(first.unwrap()["seq"], 1);

    // Every other read of the task, its session and the server: an answer within the bound,
    // either what is stored or a 503/507 with a stable code, never a wait on the failing writer.
    let session = task["session_id"].as_str().unwrap_or_default().to_string();
    assert!(!session.is_empty(), "the task names its session: {task}");
    let reads = [
        "/api/v1/tasks?limit=20".to_string(),
        format!("/api/v1/tasks/{task_id}/progress"),
        format!("/api/v1/tasks/{task_id}/output"),
        format!("/api/v1/tasks/{task_id}/timeline"),
        format!("/api/v1/tasks/{task_id}/control-state"),
        "/api/v1/sessions".to_string(),
        format!("/api/v1/sessions/{session}"),
        format!("/api/v1/sessions/{session}/history"),
        format!("/api/v1/sessions/{session}/events"),
        "/metrics".to_string(),
    ];
    for path in reads {
        let (resp, took) = timed_get(http, format!("{url}{path}")).await;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        println!(
            "GET {path} while full: {status} in {took:?}: {}",
            text.chars().take(160).collect::<String>()
        );
        assert!(
            took < READ_BOUND,
            "GET {path} took {took:?} while the disk is full"
        );
        match status {
            200 => {}
            503 | 507 => {
                let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                assert!(
                    body["code"].is_string(),
                    "GET {path}: {status} without a code: {text}"
                );
            }
            _ => panic!("GET {path} while the disk is full: {status} {text}"),
        }
    }

    // The same reads as an SDK client makes them, with a Shannon API key (`X-API-Key`): the key
    // is checked against what is stored, and a full disk is no reason to refuse it.
    for path in [
        format!("/api/v1/tasks/{task_id}"),
        format!("/api/v1/tasks/{task_id}/events"),
        format!("/api/v1/sessions/{session}/history"),
    ] {
        let (resp, took) = timed(
            http.get(format!("{url}{path}"))
                .header("x-api-key", api_key),
        )
        .await;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        println!(
            "GET {path} with an API key while full: {status} in {took:?}: {}",
            text.chars().take(120).collect::<String>()
        );
        assert!(
            took < READ_BOUND,
            "GET {path} took {took:?} with an API key"
        );
        assert_eq!(status, 200, "GET {path} with an API key while full: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_running_when_the_disk_fills_ends_failed_once_space_returns() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("mnt");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&mount).unwrap();
    std::fs::create_dir_all(&logs).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&mount)
        .output();
    match mounted {
        Ok(o) if o.status.success() => {}
        other => {
            println!("SKIP: needs root to mount tmpfs ({other:?})");
            return;
        }
    }
    let mut guard = Guard {
        mount: mount.clone(),
        server: None,
    };
    let data = mount.join("data");
    std::fs::create_dir_all(&data).unwrap();

    // 200 words, 20 ms apart: about 4 s of streaming.
    let fake = FakeProvider::start().await;
    let words: Vec<String> = (0..200).map(|i| format!("word{i} ")).collect();
    fake.push(Scripted::Slow(
        Reply::text(words),
        Duration::from_millis(20),
    ));
    let opts = ServeOptions::openai(&format!("{}/v1", fake.base_url())).logs_in(&logs);
    guard.server = Some(serve(&data, &opts));
    let url = guard.server.as_ref().unwrap().url.clone();
    let http = reqwest::Client::new();

    // A Shannon API key of the app's user, as SDK clients authenticate.
    let key: Value = http
        .post(format!("{url}/api/v1/auth/api-keys"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "sdk"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_key = key["api_key"]
        .as_str()
        .unwrap_or_else(|| panic!("no API key: {key}"))
        .to_string();

    let body = serve::submit(
        &http,
        &url,
        &json!({"query": "Tell me a long story about disks."}),
    )
    .await;
    let task_id = body["task_id"].as_str().unwrap().to_string();
    let wf = body["workflow_id"].as_str().unwrap_or(&task_id).to_string();

    let frames = Arc::new(Mutex::new(Vec::new()));
    let client = {
        let (h, u, w, sink) = (http.clone(), url.clone(), wf.clone(), frames.clone());
        tokio::spawn(async move {
            sse::read_sse(&h, &u, &w, None, Duration::from_secs(120), sink).await
        })
    };

    // Once deltas flow, fill the disk to the last byte.
    let deadline = Instant::now() + Duration::from_secs(30);
    while deltas(&frames) < 10 {
        assert!(
            Instant::now() < deadline,
            "no deltas within 30 s: {:?}; log: {}",
            frames.lock().unwrap(),
            guard.server.as_ref().unwrap().log_text()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let free_before = available(&mount);
    let filled_at = Instant::now();
    let mut filled = fill(&mount.join("filler"), 64 * 1024);
    for chunk in [4096, 512, 1] {
        filled += fill(&mount.join(format!("filler-{chunk}")), chunk);
    }
    let seen_at_fill = frames.lock().unwrap().len();
    let deltas_at_fill = deltas(&frames);
    println!(
        "disk filled after {deltas_at_fill} deltas ({seen_at_fill} frames): {filled} bytes of filler, free before {free_before} B, now {} B, in {:?}",
        available(&mount),
        filled_at.elapsed()
    );

    // While the disk is full: a new task is refused with a 5xx JSON error with a code.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = http
        .post(format!("{url}/api/v1/tasks"))
        .bearer_auth(TOKEN)
        .json(&json!({"query": "A second task while the disk is full"}))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    let refused_status = refused.status().as_u16();
    let refused_body: Value = refused.json().await.unwrap_or(Value::Null);
    println!("submit while the disk is full: {refused_status} {refused_body}");
    assert!(
        (500..600).contains(&refused_status),
        "a submit while the disk is full must fail with a 5xx, got {refused_status} {refused_body}"
    );
    let refused_code = refused_body["code"]
        .as_str()
        .unwrap_or_else(|| panic!("the 5xx carries no JSON code: {refused_body}"))
        .to_string();
    // The server stays ready (reads work) and says its event store is failing.
    let ready: Value = http
        .get(format!("{url}/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["checks"]["event_store"], "failing", "{ready}");
    reads_answer_while_full(&http, &url, &task_id, &wf, &api_key).await;

    // Keep the disk full until the provider has sent the whole answer and a little longer, so the
    // step's result is produced while nothing can be stored.
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake.streams_sent() < 1 {
        assert!(
            Instant::now() < deadline,
            "the provider stream did not finish within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stream_done_after = filled_at.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status_while_full = serve::task_status(&http, &url, &task_id).await;
    let during: Vec<Frame> = frames.lock().unwrap()[seen_at_fill..].to_vec();
    let during_stored: Vec<String> = during
        .iter()
        .filter(|f| sse::stored_view(f).is_some())
        .filter_map(|f| f.id.clone())
        .collect();
    println!("the provider finished its stream {stream_done_after:?} after the disk filled");
    println!(
        "while full ({:.1} s): {} frames reached the client ({} deltas, stored ids {during_stored:?}); task {status_while_full:?}; provider streams sent {}",
        filled_at.elapsed().as_secs_f64(),
        during.len(),
        during
            .iter()
            .filter(|f| f.event == "thread.message.delta")
            .count(),
        fake.streams_sent()
    );

    // Space returns: the task must end FAILED within 30 s.
    for f in ["filler", "filler-4096", "filler-512", "filler-1"] {
        std::fs::remove_file(mount.join(f)).unwrap();
    }
    let freed_at = Instant::now();
    let deadline = freed_at + Duration::from_secs(30);
    let final_status = loop {
        let s = serve::task_status(&http, &url, &task_id)
            .await
            .unwrap_or_default();
        if !s.is_empty() && !s.ends_with("RUNNING") && !s.ends_with("QUEUED") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the task is still {s:?} 30 s after space returned; log: {}",
            guard.server.as_ref().unwrap().log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let settle_time = freed_at.elapsed();
    let end = tokio::time::timeout(Duration::from_secs(30), client)
        .await
        .map(|r| r.unwrap())
        .unwrap_or(End::Timeout);
    let frames = frames.lock().unwrap().clone();

    let db = sse::open_read_only(&data);
    let rows = sse::stored_rows(&db, &wf);
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    println!(
        "space returned: task {final_status} after {settle_time:?}; the client ended {end:?} after {} frames; stored {} events: {kinds:?}",
        frames.len(),
        rows.len()
    );
    println!(
        "provider requests: {}; refused submit: {refused_status} {refused_code}",
        fake.requests().len()
    );

    assert!(
        sse::contiguous(&rows),
        "seqs not contiguous: {:?}",
        rows.iter().map(|r| r.seq).collect::<Vec<_>>()
    );
    let verified = sse::verify_frames(&rows, &frames)
        .unwrap_or_else(|e| panic!("the SSE client saw what was never stored: {e}"));
    let deltas = sse::verify_deltas(&db, &wf, &frames)
        .unwrap_or_else(|e| panic!("the SSE client saw a delta that was never stored: {e}"));
    println!("verified {deltas} delta frames against the store");
    let mut expect = 1;
    for f in &frames {
        if let Some((seq, _, _)) = sse::stored_view(f) {
            assert_eq!(seq, expect, "the client skipped or repeated a stored id");
            expect += 1;
        }
    }
    assert_eq!(end, End::Done, "the client's stream ends with done");
    // The deltas the client got add up to the streamed answer, none lost or repeated.
    let streamed: String = frames
        .iter()
        .filter(|f| f.event == "thread.message.delta")
        .map(|f| {
            let v: Value = serde_json::from_str(&f.data).unwrap();
            v["delta"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    let delta_ids: Vec<String> = frames
        .iter()
        .filter(|f| f.event == "thread.message.delta")
        .filter_map(|f| f.id.clone())
        .collect();
    println!(
        "the client got {} delta frames, {} bytes of text (ids {delta_ids:?})",
        delta_ids.len(),
        streamed.len()
    );
    let answer = (0..200).map(|i| format!("word{i} ")).collect::<String>();
    assert_eq!(
        streamed.trim_end(),
        answer.trim_end(),
        "the deltas the client saw are not the streamed answer"
    );
    assert_eq!(
        fake.requests().len(),
        1,
        "the provider is not called again for a step that could not be stored"
    );
    assert_eq!(sse::integrity(&db), "ok");
    println!(
        "verified {verified} stored events the client saw; refused submit code {refused_code}"
    );
    // Last, so a failure here means everything above held: the outcome of a step produced while
    // nothing could be stored.
    assert_eq!(
        final_status, "TASK_STATUS_FAILED",
        "a task whose step could not be stored must end FAILED"
    );
    assert_eq!(
        kinds
            .iter()
            .rev()
            .take(2)
            .rev()
            .copied()
            .collect::<Vec<_>>(),
        ["WORKFLOW_FAILED", "STREAM_END"],
        "the stored events end with WORKFLOW_FAILED, STREAM_END"
    );
    drop(db);
    drop(guard);
}
