//! Store benchmarks: the core's settings get/set and decrypted provider key reads, each against a raw
//! rusqlite baseline on the same row, with the same pragmas, in the same run.
//!
//! `cargo bench --bench store`; compare each `core/*` time with its `baseline/*` twin. The core's
//! setting get and decrypted key read are served by its read cache from the second iteration on (the
//! common read: no write in between), so they measure the cached path against the raw select.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::{Connection, OpenFlags, params};
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::crypto::SecretString;
use tauri_plugin_shannon::core::store::DATABASE_FILE;
use tauri_plugin_shannon::{Core, CoreConfig};

const USER: &str = "00000000-0000-0000-0000-000000000002";

fn bench_store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let core = rt
        .block_on(Core::open(CoreConfig::new(dir.path().to_path_buf())))
        .unwrap();
    let me = Caller::embedded();
    rt.block_on(async {
        core.set_setting(&me, "bench.value", "{\"theme\":\"dark\",\"size\":14}")
            .await
            .unwrap();
        core.set_provider_key(
            &me,
            "openai",
            &SecretString::new("sk-bench-0000000000000000abcd"),
        )
        .await
        .unwrap();
    });

    // Baseline connections with the pragmas the store uses.
    let db = dir.path().join(DATABASE_FILE);
    let reader = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    reader
        .busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    let mut writer = Connection::open(&db).unwrap();
    writer
        .execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
        )
        .unwrap();

    let mut g = c.benchmark_group("settings_get");
    g.bench_function("baseline/raw_rusqlite_select", |b| {
        b.iter(|| {
            let v: String = reader
                .prepare_cached("SELECT value FROM user_settings WHERE user_id = ?1 AND key = ?2")
                .unwrap()
                .query_row(params![USER, "bench.value"], |r| r.get(0))
                .unwrap();
            black_box(v)
        })
    });
    g.bench_function("core/get_setting", |b| {
        b.iter(|| black_box(rt.block_on(core.get_setting(&me, "bench.value")).unwrap()))
    });
    g.finish();

    let mut g = c.benchmark_group("settings_set");
    g.bench_function("baseline/raw_rusqlite_upsert_tx", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            let tx = writer
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .unwrap();
            tx.prepare_cached(
                "INSERT INTO user_settings (user_id, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(user_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .unwrap()
            .execute(params![USER, "bench.raw", i.to_string(), "2026-11-24T00:00:00Z"])
            .unwrap();
            tx.commit().unwrap();
        })
    });
    g.bench_function("core/set_setting", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            rt.block_on(core.set_setting(&me, "bench.core", &i.to_string()))
                .unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("provider_key_read");
    g.bench_function("baseline/raw_rusqlite_select_ciphertext", |b| {
        b.iter(|| {
            let v: Vec<u8> = reader
                .prepare_cached(
                    "SELECT ciphertext FROM provider_api_keys WHERE user_id = ?1 AND provider = ?2",
                )
                .unwrap()
                .query_row(params![USER, "openai"], |r| r.get(0))
                .unwrap();
            black_box(v)
        })
    });
    g.bench_function("core/provider_key_decrypted", |b| {
        b.iter(|| black_box(rt.block_on(core.provider_key(&me, "openai")).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench_store);
criterion_main!(benches);
