//! Engine benchmarks, each against a baseline measured in the same run:
//! - cost per streamed token: `EventHub::emit` of an LLM_PARTIAL until it is stored and a subscriber
//!   has read it, against a raw tokio broadcast hand-off of the same event (which stores nothing);
//! - events persisted per second: emitting stored events through the hub until they are flushed,
//!   against raw batched rusqlite inserts of the same rows (same pragmas, same batch size).
//!
//! `cargo bench --bench engine`

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tauri_plugin_shannon::core::run::EventType;
use tauri_plugin_shannon::core::store::Store;
use tauri_plugin_shannon::core::streams::{EventHub, TaskEvent, insert_events};
use tokio::sync::broadcast;

const TOKENS: usize = 1000;
const EVENTS: usize = 1000;

fn partial(seq: u32) -> TaskEvent {
    TaskEvent {
        workflow_id: "task-bench".into(),
        event_type: "LLM_PARTIAL".into(),
        agent_id: Some("simple-agent".into()),
        message: Some("token ".into()),
        payload: None,
        timestamp: "2026-11-24T00:00:00.000000Z".into(),
        seq,
        stream_id: None,
    }
}

fn bench_engine(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rt
        .block_on(Store::open_async(dir.path().join("bench.sqlite3")))
        .unwrap();
    // Events need their task row (foreign key); one task per benchmark family.
    store
        .write_blocking(|tx| {
            tx.execute_batch(
                "INSERT INTO tasks (id, workflow_id, user_id, query, status, created_at, updated_at)
                 VALUES ('t1', 'task-bench', '00000000-0000-0000-0000-000000000002', 'q', 'RUNNING', 'x', 'x'),
                        ('t2', 'task-raw', '00000000-0000-0000-0000-000000000002', 'q', 'RUNNING', 'x', 'x');",
            )?;
            Ok(())
        })
        .unwrap();
    let hub = rt.block_on(async { EventHub::new(store.clone()) });

    let mut g = c.benchmark_group("per_token");
    g.throughput(Throughput::Elements(TOKENS as u64));
    g.bench_function("baseline/raw_broadcast_handoff", |b| {
        let (tx, mut rx) = broadcast::channel::<TaskEvent>(4096);
        b.iter(|| {
            for i in 0..TOKENS {
                tx.send(partial(i as u32)).unwrap();
            }
            for _ in 0..TOKENS {
                black_box(rx.try_recv().unwrap());
            }
        })
    });
    g.bench_function("engine/hub_emit_llm_partial_until_visible", |b| {
        // Emitted, stored (merged while the writer is busy), then read by a subscriber's cursor.
        hub.open_stream("task-bench", 0);
        b.iter(|| {
            let from = hub.visible("task-bench").unwrap();
            for _ in 0..TOKENS {
                hub.emit(
                    "task-bench",
                    EventType::LlmPartial,
                    Some("simple-agent"),
                    Some("token ".into()),
                    None,
                );
            }
            rt.block_on(hub.settle("task-bench"));
            let (seen, _) = hub.read_after("task-bench", from, usize::MAX).unwrap();
            black_box(seen);
        })
    });
    g.finish();

    let mut g = c.benchmark_group("events_persisted");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.sample_size(20);
    let mut raw_seq = 0u32;
    g.bench_function("baseline/raw_batched_rusqlite_insert", |b| {
        b.iter_batched(
            || {
                (0..EVENTS)
                    .map(|_| {
                        raw_seq += 1;
                        let mut e = partial(raw_seq);
                        e.workflow_id = "task-raw".into();
                        e.event_type = "TOOL_OBSERVATION".into();
                        e
                    })
                    .collect::<Vec<_>>()
            },
            |events| {
                // Same batch size as the hub's writer (256), one transaction per batch.
                for chunk in events.chunks(256) {
                    store.write_blocking(|tx| insert_events(tx, chunk)).unwrap();
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("engine/hub_emit_until_flushed", |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..EVENTS {
                    hub.emit(
                        "task-bench",
                        EventType::DataProcessing,
                        Some("react-agent"),
                        Some("token ".into()),
                        None,
                    );
                }
                hub.flush().await;
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench_engine);
criterion_main!(benches);
