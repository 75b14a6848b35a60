//! History at scale: the reads that grow with history (task list, its count, status and session
//! filters, a deep page, a task's events, the session list, a `/metrics` scrape), through the core,
//! on a database seeded with 1,000 tasks and on one with 100,000 tasks (and 1,000,000 events and
//! 100,000 usage rows), in the same run. The ratio of each read at 100k to the same read at 1k is
//! the figure that matters (target: under 3).
//!
//! `cargo bench --bench history`; compare each `<read>/100k` with its `<read>/1k` twin.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::{Connection, params};
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::store::DATABASE_FILE;
use tauri_plugin_shannon::core::tasks::read::ListTasksQuery;
use tauri_plugin_shannon::{Core, CoreConfig};

const EVENTS_PER_TASK: u32 = 10;
const TASKS_PER_SESSION: u32 = 100;

/// Seeds `tasks` finished tasks of the embedded user in sessions of 100, with 10 events and one
/// usage row each.
fn seed(data: &Path, user: &str, tasks: u32) {
    let mut db = Connection::open(data.join(DATABASE_FILE)).unwrap();
    db.execute_batch("PRAGMA synchronous = OFF; PRAGMA foreign_keys = ON;")
        .unwrap();
    let tx = db.transaction().unwrap();
    {
        let mut session = tx
            .prepare(
                "INSERT INTO sessions (id, user_id, context, created_at, updated_at) VALUES (?1, ?2, '{}', ?3, ?3)",
            )
            .unwrap();
        let mut task = tx
            .prepare(
                "INSERT INTO tasks (id, workflow_id, user_id, session_id, query, mode, status, result, context, metadata,
                    total_tokens, cost_usd, created_at, updated_at, completed_at)
                 VALUES (?1, ?2, ?3, ?4, 'a question', 'simple', ?5, 'an answer', '{}', '{}', 42, 0.001, ?6, ?6, ?6)",
            )
            .unwrap();
        let mut event = tx
            .prepare(
                "INSERT INTO task_events (workflow_id, seq, type, agent_id, message, payload, timestamp)
                 VALUES (?1, ?2, 'PROGRESS', 'orchestrator', 'a step of the task', NULL, ?3)",
            )
            .unwrap();
        let mut usage = tx
            .prepare(
                "INSERT INTO token_usage (task_id, provider, model, input_tokens, output_tokens, total_tokens, cost_usd, created_at)
                 VALUES (?1, 'openai', 'gpt-4.1-mini', 30, 12, 42, 0.001, ?2)",
            )
            .unwrap();
        for i in 0..tasks {
            let at = format!("2026-01-01T00:00:00.{:09}Z", i);
            let sid = format!("session-{}", i / TASKS_PER_SESSION);
            if i % TASKS_PER_SESSION == 0 {
                session.execute(params![sid, user, at]).unwrap();
            }
            let status = match i % 50 {
                0 => "CANCELLED",
                n if n % 10 == 0 => "FAILED",
                _ => "COMPLETED",
            };
            let wf = format!("task-bench-{i}");
            task.execute(params![format!("id-{i}"), wf, user, sid, status, at])
                .unwrap();
            usage.execute(params![format!("id-{i}"), at]).unwrap();
            for seq in 1..=EVENTS_PER_TASK {
                event.execute(params![wf, seq, at]).unwrap();
            }
        }
    }
    tx.commit().unwrap();
}

fn bench_history(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let me = Caller::embedded();
    let mut g = c.benchmark_group("history");
    g.sample_size(30);
    for (label, tasks) in [("1k", 1_000u32), ("100k", 100_000)] {
        let dir = tempfile::tempdir().unwrap();
        let core = rt
            .block_on(Core::open(CoreConfig::new(dir.path().to_path_buf())))
            .unwrap();
        seed(dir.path(), &me.user_id, tasks);
        let query = |status: Option<&str>, session: Option<&str>, offset: u32| ListTasksQuery {
            limit: Some(20),
            offset: Some(offset),
            session_id: session.map(str::to_string),
            status: status.map(str::to_string),
        };
        let list = rt
            .block_on(core.list_tasks(&me, query(None, None, 0)))
            .unwrap();
        assert_eq!(
            list.total_count, tasks,
            "the counters match the seeded rows"
        );
        let middle = format!("task-bench-{}", tasks / 2);
        let session = format!("session-{}", tasks / TASKS_PER_SESSION / 2);
        g.bench_function(format!("list/{label}"), |b| {
            b.iter(|| {
                black_box(
                    rt.block_on(core.list_tasks(&me, query(None, None, 0)))
                        .unwrap(),
                )
            })
        });
        g.bench_function(format!("filter_status/{label}"), |b| {
            b.iter(|| {
                black_box(rt.block_on(core.list_tasks(&me, query(Some("FAILED"), None, 0))))
                    .unwrap()
            })
        });
        g.bench_function(format!("filter_session/{label}"), |b| {
            b.iter(|| {
                black_box(rt.block_on(core.list_tasks(&me, query(None, Some(&session), 0))))
                    .unwrap()
            })
        });
        g.bench_function(format!("page_500/{label}"), |b| {
            b.iter(|| {
                black_box(
                    rt.block_on(core.list_tasks(&me, query(None, None, 500)))
                        .unwrap(),
                )
            })
        });
        g.bench_function(format!("events/{label}"), |b| {
            b.iter(|| {
                black_box(rt.block_on(core.get_task_events(&me, &middle, Some(50), Some(0))))
                    .unwrap()
            })
        });
        g.bench_function(format!("sessions/{label}"), |b| {
            b.iter(|| black_box(rt.block_on(core.list_sessions(&me, Some(20), Some(0)))).unwrap())
        });
        // A scrape after the first (which sums the usage rows once): counts by index, usage rows
        // added since the last scrape only.
        let first = rt.block_on(core.metrics(&me)).unwrap();
        assert!(
            first.contains(&format!(
                "shannon_tokens_total{{direction=\"input\"}} {}",
                30 * tasks
            )),
            "the scrape counts the seeded usage"
        );
        g.bench_function(format!("metrics/{label}"), |b| {
            b.iter(|| black_box(rt.block_on(core.metrics(&me))).unwrap())
        });
        drop(core);
    }
    g.finish();
}

criterion_group!(benches, bench_history);
criterion_main!(benches);
