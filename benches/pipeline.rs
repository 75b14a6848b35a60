//! Emit → subscriber latency (p50/p99) of the event pipeline: an event emitted every 0.5 ms (19
//! deltas, then a stored event), measured until a subscriber reads it, which now means until it is
//! committed (fsync included). Baseline in the same run: a raw broadcast hand-off.
//! `cargo bench --bench pipeline`
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tauri_plugin_shannon::core::run::EventType;
use tauri_plugin_shannon::core::store::Store;
use tauri_plugin_shannon::core::streams::{EventHub, StreamPos};

const EVENTS: usize = 4000;

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p) as usize]
}

fn report(name: &str, v: Vec<Duration>) {
    println!(
        "{name}: n={} p50={:?} p99={:?}",
        v.len(),
        pct(v.clone(), 0.5),
        pct(v, 0.99)
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rt
        .block_on(Store::open_async(dir.path().join("bench.sqlite3")))
        .unwrap();
    store.write_blocking(|tx| { tx.execute_batch(
        "INSERT INTO tasks (id, workflow_id, user_id, query, status, created_at, updated_at)
         VALUES ('t1', 'task-bench', '00000000-0000-0000-0000-000000000002', 'q', 'RUNNING', 'x', 'x');")?; Ok(()) }).unwrap();
    rt.block_on(async {
        // Baseline: a raw broadcast channel.
        let (tx, mut rx) = tokio::sync::broadcast::channel::<(usize, Instant)>(4096);
        let h = tokio::spawn(async move {
            let mut lat = Vec::new();
            while let Ok((_, at)) = rx.recv().await {
                lat.push(at.elapsed());
            }
            lat
        });
        for i in 0..EVENTS {
            tx.send((i, Instant::now())).unwrap();
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        drop(tx);
        report("baseline/raw_broadcast", h.await.unwrap());

        let hub = EventHub::new(store.clone());
        let sent: Arc<Mutex<Vec<Instant>>> = Arc::default();
        hub.open_stream("task-bench", 0);
        let mut watch = hub.watch("task-bench").unwrap();
        let s2 = sent.clone();
        let reader = hub.clone();
        // A subscriber as `TaskSubscription` reads: wait for the watch, then read the ring after its cursor.
        let h = tokio::spawn(async move {
            let (mut partial, mut stored) = (Vec::new(), Vec::new());
            let mut cursor = StreamPos::START;
            loop {
                watch.borrow_and_update();
                let (seen, _) = reader.read_after("task-bench", cursor, 512).unwrap();
                for e in &seen {
                    // Merged deltas carry the index of their first part.
                    let i: usize = e
                        .message
                        .as_deref()
                        .unwrap()
                        .split(',')
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap();
                    let d = s2.lock().unwrap()[i].elapsed();
                    if e.is_transient() {
                        partial.push(d)
                    } else {
                        stored.push(d)
                    }
                }
                if let Some(last) = seen.last() {
                    cursor = last.pos();
                }
                if seen.iter().any(|e| {
                    e.message
                        .as_deref()
                        .unwrap()
                        .split(',')
                        .any(|p| p == (EVENTS - 1).to_string())
                }) {
                    break;
                }
                if seen.is_empty() {
                    watch.changed().await.unwrap();
                }
            }
            (partial, stored)
        });
        for i in 0..EVENTS {
            sent.lock().unwrap().push(Instant::now());
            let t = if i % 20 == 19 {
                EventType::DataProcessing
            } else {
                EventType::LlmPartial
            };
            let text = if t == EventType::LlmPartial {
                format!("{i},")
            } else {
                i.to_string()
            };
            hub.emit("task-bench", t, Some("agent"), Some(text), None);
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        let (p, s) = h.await.unwrap();
        report("engine/emit_to_subscriber/LLM_PARTIAL", p);
        report("engine/emit_to_subscriber/stored", s);
    });
}
