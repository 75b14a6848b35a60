//! The path a client of the HTTP door sees, against its floor in the same run: the same SSE reader
//! reading the same fake provider directly.
//! - first token: submit (`POST /api/v1/tasks`) then `GET /api/v1/stream/sse` until the first
//!   `thread.message.delta`, against a streamed chat completion until its first delta;
//! - throughput: a 2,000-token answer, tokens per second from the first delta to the last;
//! - the same first token through the core's subscription (what the IPC door forwards to a Channel).
//!
//! `cargo bench --bench first_token` prints p50/p99 and the ratios.

#[path = "../tests/support/fake_provider.rs"]
mod fake_provider;
#[path = "../tests/support/rig.rs"]
mod rig;

use std::time::{Duration, Instant};

use fake_provider::{Reply, Scripted};
use futures_util::StreamExt;
use serde_json::json;
use tauri_plugin_shannon::core::run::EventType;
use tauri_plugin_shannon::core::tasks::SubmitTaskRequest;

const RUNS: usize = 40;
const LONG: usize = 2000;
const TOKEN: &str = "bench-token-0123456789abcdef0123456789";

/// What one streamed read saw: when its first matching frame arrived, when the end frame did, and
/// how many matching frames there were (the engine may carry several provider chunks in one delta).
struct Read {
    first: Duration,
    end: Duration,
    frames: usize,
}

/// Reads an SSE response frame by frame, timing the frames `wanted` picks, until a frame containing
/// `end` (or the body ends). Both sides use this one reader.
async fn read_sse(
    resp: reqwest::Response,
    started: Instant,
    wanted: fn(&str) -> bool,
    end_marker: &str,
) -> Read {
    let mut body = resp.bytes_stream();
    let mut buf = String::new();
    let (mut first, mut end, mut frames) = (None, Duration::ZERO, 0);
    'read: while let Some(chunk) = body.next().await {
        buf.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        while let Some(at) = buf.find("\n\n") {
            let frame: String = buf.drain(..at + 2).collect();
            if wanted(&frame) {
                first.get_or_insert(started.elapsed());
                frames += 1;
            }
            if frame.contains(end_marker) {
                end = started.elapsed();
                break 'read;
            }
        }
    }
    Read {
        first: first.expect("a matching frame"),
        end,
        frames,
    }
}

/// A chunk of the provider's answer with text (its first chunk carries the role and no text).
fn text_delta(frame: &str) -> bool {
    frame.contains("\"content\":\"") && !frame.contains("\"content\":\"\"")
}

fn engine_delta(frame: &str) -> bool {
    frame.contains("event: thread.message.delta")
}

fn pct(v: &[Duration], p: f64) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn line(name: &str, v: &[Duration]) -> Duration {
    let p50 = pct(v, 0.5);
    println!("{name:<44} p50 {p50:>10.3?}  p99 {:>10.3?}", pct(v, 0.99));
    p50
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let rig = rig::rig("openai").await;
    let listener = rig.listen(TOKEN).await;
    let base = format!("http://{}", listener.addr());
    let http = reqwest::Client::new();
    let words: Vec<String> = (0..LONG).map(|i| format!("w{i} ")).collect();
    // The long answer starts 100 ms after the request, so the SSE client is connected before its
    // first delta (a zero-latency answer would be over, and its deltas merged, before it connects).
    // A route answers once: set before each request.
    let route_long = || {
        let long = Scripted::Delayed(
            Duration::from_millis(100),
            Box::new(Scripted::Stream(Reply::text(words.clone()))),
        );
        rig.fake.route("long answer", long);
    };
    rig.fake
        .set_fallback(Scripted::Stream(Reply::text(["Hello", " there", "."])));

    // The floor: the fake's own stream for this query, read by the same reader.
    let floor = |query: &'static str| {
        let (http, url) = (
            http.clone(),
            format!("{}/v1/chat/completions", rig.fake.base_url()),
        );
        async move {
            let started = Instant::now();
            let resp = http
                .post(url)
                .json(&json!({"model": "gpt-4o-mini", "stream": true,
                              "messages": [{"role": "user", "content": query}]}))
                .send()
                .await
                .unwrap();
            read_sse(resp, started, text_delta, "[DONE]").await
        }
    };
    let (mut floor_first, mut floor_tps) = (Vec::new(), Vec::new());
    let (mut http_first, mut http_tps, mut core_first) = (Vec::new(), Vec::new(), Vec::new());
    let mut http_frames = Vec::new();
    for i in 0..RUNS + 3 {
        let warm = i < 3;
        let r = floor("short").await;
        route_long();
        let long = floor("long answer").await;
        assert_eq!(long.frames, LONG);

        // Ours over HTTP: submit, then the stream.
        let submit = |query: &str| {
            http.post(format!("{base}/api/v1/tasks"))
                .bearer_auth(TOKEN)
                .json(&json!({"query": query, "mode": "simple", "provider_override": "openai"}))
        };
        let started = Instant::now();
        let task: serde_json::Value = submit("short").send().await.unwrap().json().await.unwrap();
        let id = task["task_id"].as_str().unwrap().to_string();
        let resp = http
            .get(format!("{base}/api/v1/stream/sse?workflow_id={id}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let ours = read_sse(resp, started, engine_delta, "event: done").await;
        route_long();
        let started = Instant::now();
        let task: serde_json::Value = submit("long answer")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = task["task_id"].as_str().unwrap().to_string();
        let resp = http
            .get(format!("{base}/api/v1/stream/sse?workflow_id={id}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let ours_long = read_sse(resp, started, engine_delta, "event: done").await;
        assert!(ours_long.frames >= 1 && ours_long.end > ours_long.first);

        // Ours through the core's subscription (the IPC door forwards these to a Channel).
        let started = Instant::now();
        let req: SubmitTaskRequest = serde_json::from_value(
            json!({"query": "short", "mode": "simple", "provider_override": "openai"}),
        )
        .unwrap();
        let id = rig
            .core
            .submit_task(&rig.me, req, None)
            .await
            .unwrap()
            .task_id;
        let mut sub = rig
            .core
            .subscribe_task(&rig.me, &id, None, None)
            .await
            .unwrap();
        let mut first = None;
        while let Some(e) = sub.next().await {
            if first.is_none() && e.is(EventType::LlmPartial) {
                first = Some(started.elapsed());
            }
        }
        if warm {
            continue;
        }
        floor_first.push(r.first);
        floor_tps.push(long.end - long.first);
        http_first.push(ours.first);
        http_tps.push(ours_long.end - ours_long.first);
        http_frames.push(ours_long.frames);
        core_first.push(first.expect("a delta"));
    }
    println!("{RUNS} runs each, same process, zero-latency fake provider");
    let f = line("floor: first delta from the fake", &floor_first);
    let h = line("http: submit + SSE until first delta", &http_first);
    let c = line("core: submit + subscription until first delta", &core_first);
    let ft = line("floor: 2,000 tokens, first delta to [DONE]", &floor_tps);
    let ht = line("http: 2,000 tokens, first delta to done", &http_tps);
    http_frames.sort();
    println!(
        "http: the 2,000 tokens arrived in {} delta frames (median)",
        http_frames[http_frames.len() / 2]
    );
    let tps = |d: Duration| LONG as f64 / d.as_secs_f64();
    println!(
        "first token over HTTP/SSE: {:.2}x the floor",
        h.as_secs_f64() / f.as_secs_f64()
    );
    println!(
        "first token through the core: {:.2}x the floor",
        c.as_secs_f64() / f.as_secs_f64()
    );
    println!(
        "throughput: {:.0} tokens/s against {:.0} = {:.2} of the floor",
        tps(ht),
        tps(ft),
        tps(ht) / tps(ft)
    );
}
