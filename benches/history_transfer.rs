//! History bundles against their floor, in the same run: exporting and importing 1,000 finished
//! tasks with 100,000 stored events (and a usage row each), against raw batched inserts of the same
//! rows into a fresh database (one transaction, prepared statements). Goal: both ≥ 0.5× raw, in
//! events per second.
//!
//! `cargo bench --bench history_transfer`; compare `export`, `import` with `raw_insert`.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::{Connection, params};
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::store::DATABASE_FILE;
use tauri_plugin_shannon::{Core, CoreConfig};

const TASKS: u32 = 1_000;
const EVENTS_PER_TASK: u32 = 100;

/// The rows a bundle of this size holds, inserted in one transaction (the floor, and the seed).
fn insert_rows(db: &mut Connection, user: &str) {
    let tx = db.transaction().unwrap();
    {
        let mut session = tx
            .prepare("INSERT INTO sessions (id, user_id, context, created_at, updated_at) VALUES (?1, ?2, '{}', ?3, ?3)")
            .unwrap();
        let mut task = tx
            .prepare(
                "INSERT INTO tasks (id, workflow_id, user_id, session_id, query, mode, status, result, context,
                    metadata, total_tokens, cost_usd, created_at, updated_at, completed_at)
                 VALUES (?1, ?2, ?3, ?4, 'a question', 'simple', 'COMPLETED', 'an answer', '{}', '{}', 42, 0.001, ?5, ?5, ?5)",
            )
            .unwrap();
        let mut event = tx
            .prepare(
                "INSERT INTO task_events (workflow_id, seq, type, agent_id, message, payload, timestamp)
                 VALUES (?1, ?2, 'PROGRESS', 'orchestrator', 'a step of the task', '{\"step\":1}', ?3)",
            )
            .unwrap();
        let mut usage = tx
            .prepare(
                "INSERT INTO token_usage (task_id, provider, model, total_tokens, cost_usd, created_at)
                 VALUES (?1, 'openai', 'm', 42, 0.001, ?2)",
            )
            .unwrap();
        for i in 0..TASKS {
            let at = format!("2026-03-01T00:00:00.{i:09}Z");
            let sid = format!("session-{}", i / 50);
            if i % 50 == 0 {
                session.execute(params![sid, user, at]).unwrap();
            }
            let (id, wf) = (format!("id-{i}"), format!("task-bench-{i}"));
            task.execute(params![id, wf, user, sid, at]).unwrap();
            for seq in 1..=EVENTS_PER_TASK {
                event.execute(params![wf, seq, at]).unwrap();
            }
            usage.execute(params![id, at]).unwrap();
        }
    }
    tx.commit().unwrap();
}

/// A migrated, empty data dir.
async fn fresh(dir: &Path) {
    Core::open(CoreConfig::new(dir))
        .await
        .unwrap()
        .shutdown(Duration::from_secs(3))
        .await;
}

fn transfer(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let me = Caller::embedded();
    let source = tempfile::tempdir().unwrap();
    rt.block_on(fresh(source.path()));
    insert_rows(
        &mut Connection::open(source.path().join(DATABASE_FILE)).unwrap(),
        &me.user_id,
    );
    let core = rt
        .block_on(Core::open(CoreConfig::new(source.path())))
        .unwrap();
    let bundles = tempfile::tempdir().unwrap();
    let bundle = bundles.path().join("bundle");
    rt.block_on(core.export_history(&me, bundle.to_str().unwrap(), false))
        .unwrap();

    let mut group = c.benchmark_group("history_transfer");
    group
        .sample_size(10)
        .throughput(Throughput::Elements((TASKS * EVENTS_PER_TASK) as u64));
    group.bench_function("raw_insert", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                rt.block_on(fresh(dir.path()));
                let mut db = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
                let started = Instant::now();
                insert_rows(&mut db, &me.user_id);
                total += started.elapsed();
            }
            total
        })
    });
    group.bench_function("export", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for n in 0..iters {
                let out = bundles
                    .path()
                    .join(format!("out-{n}-{}", uuid::Uuid::new_v4()));
                let started = Instant::now();
                rt.block_on(core.export_history(&me, out.to_str().unwrap(), false))
                    .unwrap();
                total += started.elapsed();
                std::fs::remove_dir_all(out).unwrap();
            }
            total
        })
    });
    group.bench_function("import", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let target = rt
                    .block_on(Core::open(CoreConfig::new(dir.path())))
                    .unwrap();
                let started = Instant::now();
                rt.block_on(target.import_history(&me, bundle.to_str().unwrap()))
                    .unwrap();
                total += started.elapsed();
                rt.block_on(target.shutdown(Duration::from_secs(3)));
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, transfer);
criterion_main!(benches);
