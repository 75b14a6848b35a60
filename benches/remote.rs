//! Remote mode against its floor, in the same run, on the project's fake Shannon cloud:
//! - first token: a client of the cloud (`POST /api/v1/tasks`, then its SSE stream until the first
//!   `thread.message.delta`, as the official SDK does) against the plugin (a remote submission,
//!   then the core's subscription, what the IPC door forwards to a Channel, until the first
//!   LLM_PARTIAL), both on a zero-delay answer;
//! - the pump's cost per event: a 2,000-delta answer read to its end by that client, against the
//!   same answer mirrored by the pump (stored under local seqs, visible once durable) and read from
//!   the subscription to STREAM_END.
//!
//! `cargo bench --bench remote` prints p50/p99 and the ratios.

#[path = "../tests/support/fake_cloud/mod.rs"]
mod fake_cloud;

use std::time::{Duration, Instant};

use fake_cloud::{FakeConfig, Script, TEST_KEY};
use futures_util::StreamExt;
use serde_json::json;
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::remote::{RemoteCredential, SaveRemoteProfile};
use tauri_plugin_shannon::core::run::EventType;
use tauri_plugin_shannon::core::tasks::SubmitTaskRequest;
use tauri_plugin_shannon::{Core, CoreConfig};

const RUNS: usize = 30;
const LONG: usize = 2000;

fn pct(v: &[Duration], p: f64) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn line(name: &str, v: &[Duration]) -> Duration {
    let p50 = pct(v, 0.5);
    println!("{name:<52} p50 {p50:>10.3?}  p99 {:>10.3?}", pct(v, 0.99));
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

/// The floor: the cloud's own client. Submits, opens the stream, and returns (first delta, end).
async fn direct(http: &reqwest::Client, base: &str, query: &str) -> (Duration, Duration, usize) {
    let started = Instant::now();
    let resp = http
        .post(format!("{base}/api/v1/tasks"))
        .header("X-API-Key", TEST_KEY)
        .json(&json!({"query": query}))
        .send()
        .await
        .unwrap();
    let wf = resp.headers()["x-workflow-id"]
        .to_str()
        .unwrap()
        .to_string();
    let resp = http
        .get(format!("{base}/api/v1/stream/sse?workflow_id={wf}"))
        .header("X-API-Key", TEST_KEY)
        .send()
        .await
        .unwrap();
    let mut body = resp.bytes_stream();
    let mut buf = String::new();
    let (mut first, mut deltas) = (None, 0);
    while let Some(chunk) = body.next().await {
        buf.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        while let Some(at) = buf.find("\n\n") {
            let frame: String = buf.drain(..at + 2).collect();
            if frame.contains("event: thread.message.delta") {
                first.get_or_insert(started.elapsed());
                deltas += 1;
            }
            if frame.contains("event: done") {
                return (first.unwrap(), started.elapsed(), deltas);
            }
        }
    }
    panic!("the stream ended without done");
}

/// Ours: a remote submission, then the subscription to STREAM_END; the streamed text (deltas that
/// waited for the same commit arrive merged, so their count may be lower than the cloud's).
async fn mirrored(core: &Core, query: &str) -> (Duration, Duration, String) {
    let me = Caller::embedded();
    let started = Instant::now();
    let req = SubmitTaskRequest {
        query: query.into(),
        target: Some("cloud".into()),
        ..Default::default()
    };
    let id = core.submit_task(&me, req, None).await.unwrap().task_id;
    let mut sub = core.subscribe_task(&me, &id, None, None).await.unwrap();
    let (mut first, mut text) = (None, String::new());
    while let Some(e) = sub.next().await {
        if e.is(EventType::LlmPartial) {
            first.get_or_insert(started.elapsed());
            text.push_str(e.message.as_deref().unwrap_or_default());
        }
        if e.is(EventType::StreamEnd) {
            break;
        }
    }
    (first.unwrap(), started.elapsed(), text)
}

async fn run() {
    let short = Script::answer("Hello there.", 3, Duration::ZERO);
    let words: String = (0..LONG).map(|i| format!("w{i:04} ")).collect();
    let long = Script::answer(&words, LONG, Duration::ZERO);
    let cloud = fake_cloud::start(FakeConfig {
        script: short.clone(),
        // Room for the whole answer, and no window in the way: the floor reads the same stream.
        ring_capacity: 10 * LONG,
        subscriber_buffer: 10 * LONG,
        rate_limit: u32::MAX,
        linger_after_end: Duration::from_millis(200),
        ..FakeConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let core = Core::open(CoreConfig::new(dir.path())).await.unwrap();
    core.save_remote_profile(SaveRemoteProfile {
        id: Some("cloud".into()),
        name: "fake".into(),
        base_url: cloud.url(),
        ..Default::default()
    })
    .await
    .unwrap();
    core.set_remote_credential(
        "cloud",
        Some(RemoteCredential::ApiKey {
            api_key: TEST_KEY.into(),
        }),
    )
    .await
    .unwrap();
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let base = cloud.url();

    let (mut floor_first, mut ours_first) = (Vec::new(), Vec::new());
    let (mut floor_event, mut ours_event) = (Vec::new(), Vec::new());
    for i in 0..RUNS + 3 {
        let warm = i < 3;
        cloud.set_script(short.clone());
        let (f, ..) = direct(&http, &base, "short").await;
        let (o, ..) = mirrored(&core, "short").await;
        cloud.set_script(long.clone());
        let (lf, lend, ln) = direct(&http, &base, "long").await;
        let (of, oend, on) = mirrored(&core, "long").await;
        assert_eq!(ln, LONG);
        assert_eq!(on, words, "every delta's text mirrored");
        if !warm {
            floor_first.push(f);
            ours_first.push(o);
            floor_event.push((lend - lf) / LONG as u32);
            ours_event.push((oend - of) / LONG as u32);
        }
    }
    println!("remote mode on the fake Shannon cloud, {RUNS} runs each");
    let ff = line("first token: cloud client directly (floor)", &floor_first);
    let of = line(
        "first token: plugin, remote submit + subscription",
        &ours_first,
    );
    let fe = line(
        "per event, 2,000 deltas: cloud client's SSE read",
        &floor_event,
    );
    let oe = line(
        "per event, 2,000 deltas: pump + store + subscription",
        &ours_event,
    );
    println!(
        "ratios (p50): first token {:.2}x (goal <= 1.1x), pump per event {:.2}x (goal <= 1.5x)",
        of.as_secs_f64() / ff.as_secs_f64(),
        oe.as_secs_f64() / fe.as_secs_f64()
    );
    core.shutdown(Duration::from_secs(3)).await;
}
