//! The core's read cache of settings and decrypted provider keys: every completed write is seen by
//! the next read (set, delete, rotation, another user's write, a write whose caller gave up), and
//! reads racing writes never return a value older than the last write that completed before them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use tauri_plugin_shannon::core::auth::{Caller, RegisterRequest};
use tauri_plugin_shannon::core::crypto::SecretString;
use tauri_plugin_shannon::core::store::DATABASE_FILE;
use tauri_plugin_shannon::{Core, CoreConfig};

async fn open(dir: &std::path::Path) -> Core {
    Core::open(CoreConfig::new(dir.to_path_buf()))
        .await
        .unwrap()
}

async fn value(core: &Core, me: &Caller, key: &str) -> Option<String> {
    match core.get_setting(me, key).await {
        Ok(s) => Some(s.value),
        Err(e) if e.code() == "not_found" => None,
        Err(e) => panic!("{e}"),
    }
}

async fn key(core: &Core, me: &Caller, provider: &str) -> Option<String> {
    core.provider_key(me, provider)
        .await
        .unwrap()
        .map(|k| k.expose().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_setting_write_or_delete_is_seen_by_the_next_read() {
    let dir = tempfile::tempdir().unwrap();
    let core = open(dir.path()).await;
    let me = Caller::embedded();
    // An absence is cached too: the first write must replace it.
    assert_eq!(value(&core, &me, "ui.theme").await, None);
    assert_eq!(value(&core, &me, "ui.theme").await, None);
    core.set_setting(&me, "ui.theme", "\"dark\"").await.unwrap();
    assert_eq!(
        value(&core, &me, "ui.theme").await.as_deref(),
        Some("\"dark\"")
    );
    assert_eq!(
        value(&core, &me, "ui.theme").await.as_deref(),
        Some("\"dark\"")
    );
    let set = core
        .set_setting(&me, "ui.theme", "\"light\"")
        .await
        .unwrap();
    let got = core.get_setting(&me, "ui.theme").await.unwrap();
    assert_eq!(got, set, "value and updated_at of the last write");
    core.delete_setting(&me, "ui.theme").await.unwrap();
    assert_eq!(value(&core, &me, "ui.theme").await, None);
    assert_eq!(
        core.delete_setting(&me, "ui.theme")
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );
    core.set_setting(&me, "ui.theme", "\"blue\"").await.unwrap();
    assert_eq!(
        value(&core, &me, "ui.theme").await.as_deref(),
        Some("\"blue\"")
    );

    // A value too large for the cache is read from the store each time, and as fresh.
    let big = format!("\"{}\"", "x".repeat(20_000));
    core.set_setting(&me, "big", &big).await.unwrap();
    assert_eq!(
        value(&core, &me, "big").await.as_deref(),
        Some(big.as_str())
    );
    core.set_setting(&me, "big", "1").await.unwrap();
    assert_eq!(value(&core, &me, "big").await.as_deref(), Some("1"));
    assert_eq!(
        core.list_settings(&me).await.unwrap().len(),
        2,
        "lists still come from the store"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_key_write_or_delete_is_seen_by_the_next_read() {
    let dir = tempfile::tempdir().unwrap();
    let core = open(dir.path()).await;
    let me = Caller::embedded();
    assert_eq!(key(&core, &me, "openai").await, None);
    assert_eq!(key(&core, &me, "openai").await, None);
    core.set_provider_key(
        &me,
        "openai",
        &SecretString::new("sk-first-000000000000aaaa"),
    )
    .await
    .unwrap();
    assert_eq!(
        key(&core, &me, "openai").await.as_deref(),
        Some("sk-first-000000000000aaaa")
    );
    core.set_provider_key(
        &me,
        "OpenAI ",
        &SecretString::new("sk-second-00000000000bbbb"),
    )
    .await
    .unwrap();
    assert_eq!(
        key(&core, &me, "openai").await.as_deref(),
        Some("sk-second-00000000000bbbb"),
        "the id is normalized before the cache is consulted"
    );
    // Marking a key used changes no field the cache holds; the key reads the same.
    core.mark_provider_key_used(&me, "openai").await.unwrap();
    assert_eq!(
        key(&core, &me, "openai").await.as_deref(),
        Some("sk-second-00000000000bbbb")
    );
    core.delete_provider_key(&me, "openai").await.unwrap();
    assert_eq!(key(&core, &me, "openai").await, None);
    assert_eq!(key(&core, &me, "groq").await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn users_do_not_share_entries() {
    let dir = tempfile::tempdir().unwrap();
    let core = open(dir.path()).await;
    let me = Caller::embedded();
    let auth = core
        .register(RegisterRequest {
            email: "other@example.com".into(),
            username: None,
            password: SecretString::new("correct horse battery"),
            full_name: None,
        })
        .await
        .unwrap();
    let other = core.authenticate(&auth.access_token).await.unwrap();
    core.set_setting(&me, "ui.theme", "\"dark\"").await.unwrap();
    core.set_provider_key(
        &me,
        "openai",
        &SecretString::new("sk-mine-0000000000000aaaa"),
    )
    .await
    .unwrap();
    assert_eq!(
        value(&core, &me, "ui.theme").await.as_deref(),
        Some("\"dark\"")
    );
    assert_eq!(value(&core, &other, "ui.theme").await, None);
    assert_eq!(key(&core, &other, "openai").await, None);
    core.set_setting(&other, "ui.theme", "\"light\"")
        .await
        .unwrap();
    assert_eq!(
        value(&core, &me, "ui.theme").await.as_deref(),
        Some("\"dark\"")
    );
    assert_eq!(
        value(&core, &other, "ui.theme").await.as_deref(),
        Some("\"light\"")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_keeps_key_reads_correct() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "sk-rotate-canary-000000000000cccc";
    {
        let core = open(dir.path()).await;
        let me = Caller::embedded();
        core.set_provider_key(&me, "anthropic", &SecretString::new(secret))
            .await
            .unwrap();
        assert_eq!(key(&core, &me, "anthropic").await.as_deref(), Some(secret));
        assert_eq!(key(&core, &me, "openai").await, None);
        // The cache holds the decrypted key now; Debug output of the core must not show it.
        let debug = format!("{core:?}");
        assert!(!debug.contains(secret), "{debug}");

        core.rotate_master_key().await.unwrap();
        assert_eq!(key(&core, &me, "anthropic").await.as_deref(), Some(secret));
        assert_eq!(key(&core, &me, "openai").await, None);
        core.set_provider_key(
            &me,
            "openai",
            &SecretString::new("sk-after-000000000000dddd"),
        )
        .await
        .unwrap();
        assert_eq!(
            key(&core, &me, "openai").await.as_deref(),
            Some("sk-after-000000000000dddd")
        );
        core.rotate_master_key().await.unwrap();
        assert_eq!(key(&core, &me, "anthropic").await.as_deref(), Some(secret));
        assert_eq!(
            core.list_provider_keys(&me).await.unwrap().len(),
            2,
            "the store opens under the new master key"
        );
    }
    // Restarted (empty cache): the store itself holds the same keys under the new master key.
    let core = open(dir.path()).await;
    let me = Caller::embedded();
    assert_eq!(key(&core, &me, "anthropic").await.as_deref(), Some(secret));
    assert_eq!(
        key(&core, &me, "openai").await.as_deref(),
        Some("sk-after-000000000000dddd")
    );
}

/// A write whose caller stopped waiting (a dropped HTTP request, a timeout) still commits on the
/// blocking pool; the cache must not keep the value it replaced.
#[tokio::test(flavor = "multi_thread")]
async fn an_abandoned_write_still_invalidates() {
    let dir = tempfile::tempdir().unwrap();
    let core = open(dir.path()).await;
    let me = Caller::embedded();
    core.set_setting(&me, "k", "1").await.unwrap();
    core.set_provider_key(
        &me,
        "openai",
        &SecretString::new("sk-before-0000000000aaaa"),
    )
    .await
    .unwrap();
    assert_eq!(value(&core, &me, "k").await.as_deref(), Some("1"));
    assert_eq!(
        key(&core, &me, "openai").await.as_deref(),
        Some("sk-before-0000000000aaaa")
    );
    // Polled once (the write is handed to the blocking pool), then dropped.
    assert!(
        core.set_setting(&me, "k", "2").now_or_never().is_none(),
        "the write should still be in flight"
    );
    let new_key = SecretString::new("sk-after-00000000000bbbb");
    assert!(
        core.set_provider_key(&me, "openai", &new_key)
            .now_or_never()
            .is_none(),
        "the write should still be in flight"
    );

    let db = dir.path().join(DATABASE_FILE);
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let committed: String = rusqlite::Connection::open(&db)
                .unwrap()
                .query_row("SELECT value FROM user_settings WHERE key = 'k'", [], |r| {
                    r.get(0)
                })
                .unwrap();
            if committed == "2"
                && value(&core, &me, "k").await.as_deref() == Some("2")
                && key(&core, &me, "openai").await.as_deref() == Some("sk-after-00000000000bbbb")
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the cache kept values an abandoned write had replaced");
}

/// One writer stores 1, 2, 3, … (a setting and a provider key); readers check that each read
/// returns at least the last value whose write had returned before the read began.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reads_never_see_a_value_older_than_the_last_completed_write() {
    const WRITES: u64 = 200;
    const READERS: usize = 6;
    let dir = tempfile::tempdir().unwrap();
    let core = open(dir.path()).await;
    let me = Caller::embedded();
    let secret = |n: u64| format!("sk-race-{n:020}");
    let parse = |k: &str| k.strip_prefix("sk-race-").unwrap().parse::<u64>().unwrap();
    core.set_setting(&me, "n", "0").await.unwrap();
    core.set_provider_key(&me, "openai", &SecretString::new(secret(0)))
        .await
        .unwrap();
    let completed = Arc::new(AtomicU64::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let mut readers = Vec::new();
    for r in 0..READERS {
        let (core, me, completed, done) =
            (core.clone(), me.clone(), completed.clone(), done.clone());
        readers.push(tokio::spawn(async move {
            let mut reads = 0u64;
            while !done.load(Ordering::SeqCst) {
                let floor = completed.load(Ordering::SeqCst);
                if r % 2 == 0 {
                    let v: u64 = value(&core, &me, "n").await.unwrap().parse().unwrap();
                    assert!(v >= floor, "setting read {v} after write {floor} completed");
                } else {
                    let k = key(&core, &me, "openai").await.unwrap();
                    let v = parse(&k);
                    assert!(v >= floor, "key read {v} after write {floor} completed");
                }
                reads += 1;
                tokio::task::yield_now().await;
            }
            reads
        }));
    }
    for n in 1..=WRITES {
        core.set_setting(&me, "n", &n.to_string()).await.unwrap();
        core.set_provider_key(&me, "openai", &SecretString::new(secret(n)))
            .await
            .unwrap();
        completed.store(n, Ordering::SeqCst);
        if n % 50 == 0 {
            // A rotation in the middle of the race as well.
            core.rotate_master_key().await.unwrap();
        }
    }
    done.store(true, Ordering::SeqCst);
    let mut total = 0;
    for r in readers {
        total += r.await.unwrap();
    }
    assert!(
        total > WRITES,
        "the readers raced the writer ({total} reads)"
    );
    assert_eq!(
        value(&core, &me, "n").await.as_deref(),
        Some(WRITES.to_string().as_str())
    );
    assert_eq!(key(&core, &me, "openai").await, Some(secret(WRITES)));
}
