//! SSE fan-out: events per second delivered to N local clients by the listener's
//! `/api/v1/stream/sse` (a stored stream, replayed), against a bare axum SSE endpoint streaming the
//! same pre-built events, in the same run.
//!
//! `cargo bench --bench sse`

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, Sse};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::stream;
use tauri_plugin_shannon::core::streams::{TaskEvent, insert_events};
use tauri_plugin_shannon::http::{Listener, ListenerOptions};
use tauri_plugin_shannon::{Core, CoreConfig};

const EVENTS: u32 = 1000;
const CLIENTS: usize = 10;
const TOKEN: &str = "bench-token-0123456789abcdef0123456789abcdef";
const WF: &str = "task-bench-sse";

fn event(seq: u32) -> TaskEvent {
    TaskEvent {
        workflow_id: WF.into(),
        event_type: if seq == EVENTS {
            "STREAM_END".into()
        } else {
            "TOOL_OBSERVATION".into()
        },
        agent_id: Some("react-agent".into()),
        message: Some(format!("observation number {seq} with a little text")),
        payload: Some(serde_json::json!({"tool": "calculator", "success": true})),
        timestamp: "2026-11-24T00:00:00.000000Z".into(),
        seq,
        stream_id: None,
    }
}

async fn fetch_all(client: &reqwest::Client, url: &str, auth: bool) -> usize {
    let mut handles = Vec::new();
    for _ in 0..CLIENTS {
        let mut req = client.get(url);
        if auth {
            req = req.bearer_auth(TOKEN);
        }
        handles.push(tokio::spawn(async move {
            req.send().await.unwrap().text().await.unwrap().len()
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    total
}

fn bench_sse(c: &mut Criterion) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (listener, bare_url) = rt.block_on(async {
        let core = Core::open(CoreConfig::new(dir.path())).await.unwrap();
        core.store()
            .write(|tx| {
                tx.execute(
                    "INSERT INTO tasks (id, workflow_id, user_id, query, status, created_at, updated_at)
                     VALUES ('bench', ?1, '00000000-0000-0000-0000-000000000002', 'q', 'COMPLETED', 'x', 'x')",
                    [WF],
                )?;
                let events: Vec<TaskEvent> = (1..=EVENTS).map(event).collect();
                insert_events(tx, &events)
            })
            .await
            .unwrap();
        let listener = Listener::start(
            core,
            ListenerOptions {
                token: Some(TOKEN.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        // The baseline: the same events, framed the same way, from memory, by a bare axum route.
        let frames: Vec<(String, String, String)> = (1..=EVENTS)
            .map(|s| {
                let e = event(s);
                (e.event_type.clone(), s.to_string(), serde_json::to_string(&e).unwrap())
            })
            .collect();
        let app = axum::Router::new().route(
            "/sse",
            axum::routing::get(move || {
                let frames = frames.clone();
                async move {
                    Sse::new(stream::iter(frames.into_iter().map(|(name, id, data)| {
                        Ok::<_, Infallible>(Event::default().event(name).id(id).data(data))
                    })))
                }
            }),
        );
        let bare = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/sse", bare.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(bare, app).await.unwrap() });
        (listener, url)
    });
    let engine_url = format!(
        "http://{}/api/v1/stream/sse?workflow_id={WF}",
        listener.addr()
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    let mut g = c.benchmark_group("sse_fanout");
    g.throughput(Throughput::Elements(u64::from(EVENTS) * CLIENTS as u64));
    g.sample_size(20);
    g.bench_function("baseline/bare_axum_sse", |b| {
        b.iter(|| rt.block_on(fetch_all(&client, &bare_url, false)))
    });
    g.bench_function("engine/listener_sse_replay", |b| {
        b.iter(|| rt.block_on(fetch_all(&client, &engine_url, true)))
    });
    g.finish();
    rt.block_on(listener.stop());
}

criterion_group!(benches, bench_sse);
criterion_main!(benches);
