//! The master key in a real OS keychain: a Secret Service (gnome-keyring) on a throwaway session bus,
//! started by `scripts/keychain-test.sh`, which sets `SHANNON_KEYCHAIN_TEST=1`. With that variable a
//! missing Secret Service fails these tests; without it they say why they skip and pass, so a plain
//! `cargo test` never writes into the keychain of the machine it runs on.
//!
//! The fallback with no keychain needs none and always runs (in a child process, so the bus address
//! it breaks is its own).

mod common;
#[path = "support/log_capture.rs"]
mod log_capture;

use std::path::Path;
use std::process::Command;

use serde_json::json;

use tauri_plugin_shannon::core::crypto::{MasterKey, SecretString};
use tauri_plugin_shannon::core::keystore::{
    KEYCHAIN_SERVICE, KeyStorage, KeyStore, MASTER_SLOT, NEXT_MASTER_SLOT,
};
use tauri_plugin_shannon::{Caller, Core, CoreConfig};

const OPENAI_KEY: &str = "sk-keychain-test-0000111122223333";

/// Whether the keychain tests run here; panics when they must and no Secret Service answers.
fn keychain_available(test: &str) -> bool {
    if std::env::var("SHANNON_KEYCHAIN_TEST").as_deref() != Ok("1") {
        eprintln!(
            "{test}: skipped, SHANNON_KEYCHAIN_TEST is not 1 (scripts/keychain-test.sh runs it \
             against a throwaway gnome-keyring; plain cargo test never touches a real keychain)"
        );
        return false;
    }
    let probe = tempfile::tempdir().unwrap();
    assert_eq!(
        KeyStore::new(KeyStorage::Auto, probe.path()).backend(),
        KeyStorage::Keychain,
        "SHANNON_KEYCHAIN_TEST=1 but no Secret Service answered on the session bus"
    );
    true
}

async fn open(dir: &Path, storage: KeyStorage) -> tauri_plugin_shannon::Result<Core> {
    let mut config = CoreConfig::new(dir.to_path_buf());
    config.key_storage = storage;
    Core::open(config).await
}

async fn store_provider_key(core: &Core) {
    core.set_provider_key(
        &Caller::embedded(),
        "openai",
        &SecretString::new(OPENAI_KEY),
    )
    .await
    .unwrap();
}

async fn assert_provider_key_readable(core: &Core) {
    let key = core
        .provider_key(&Caller::embedded(), "openai")
        .await
        .unwrap()
        .expect("the stored provider key");
    assert_eq!(key.expose(), OPENAI_KEY);
}

fn keychain(dir: &Path) -> KeyStore {
    KeyStore::new(KeyStorage::Keychain, dir)
}

/// What an outside Secret Service client (libsecret's `secret-tool`) finds for a slot.
fn secret_tool_lookup(dir: &Path, slot: &str) -> Option<String> {
    let out = Command::new("secret-tool")
        .args(["lookup", "service", KEYCHAIN_SERVICE, "username"])
        .arg(keychain(dir).account(slot))
        .output()
        .expect("secret-tool (libsecret-tools) runs");
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap().trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Removes a test's entries, so a run against a real session's keychain leaves nothing behind.
fn clean_up(dir: &Path) {
    let store = keychain(dir);
    for slot in [MASTER_SLOT, NEXT_MASTER_SLOT] {
        let _ = store.remove(slot);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_core_keeps_its_master_key_in_the_keychain_only() {
    if !keychain_available("a_fresh_core_keeps_its_master_key_in_the_keychain_only") {
        return;
    }
    for storage in [KeyStorage::Keychain, KeyStorage::Auto] {
        let dir = tempfile::tempdir().unwrap();
        let core = open(dir.path(), storage).await.unwrap();
        assert_eq!(core.key_storage(), KeyStorage::Keychain, "{storage:?}");
        store_provider_key(&core).await;
        drop(core);
        assert!(
            !dir.path().join("master.key").exists(),
            "{storage:?}: no key file beside the database"
        );
        let stored = keychain(dir.path())
            .load(MASTER_SLOT)
            .unwrap()
            .expect("a keychain entry");

        // An outside client sees the entry under the plugin's service and the dir's account.
        let seen = secret_tool_lookup(dir.path(), MASTER_SLOT).expect("secret-tool finds it");
        assert_eq!(seen.len(), 64);
        assert!(MasterKey::from_hex(&seen) == Some(stored));
        let search = Command::new("secret-tool")
            .args(["search", "--all", "service", KEYCHAIN_SERVICE])
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&search.stdout).to_string()
            + &String::from_utf8_lossy(&search.stderr);
        assert!(
            listing.contains(&keychain(dir.path()).account(MASTER_SLOT)),
            "{listing}"
        );

        let core = open(dir.path(), storage).await.unwrap();
        assert_provider_key_readable(&core).await;
        drop(core);
        assert!(!dir.path().join("master.key").exists());
        clean_up(dir.path());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_data_dirs_never_share_an_entry() {
    if !keychain_available("two_data_dirs_never_share_an_entry") {
        return;
    }
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    drop(open(a.path(), KeyStorage::Keychain).await.unwrap());
    drop(open(b.path(), KeyStorage::Keychain).await.unwrap());
    let ka = keychain(a.path()).load(MASTER_SLOT).unwrap().unwrap();
    let kb = keychain(b.path()).load(MASTER_SLOT).unwrap().unwrap();
    assert!(ka != kb);
    clean_up(a.path());
    clean_up(b.path());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_key_moves_into_the_keychain_on_first_start() {
    if !keychain_available("a_file_key_moves_into_the_keychain_on_first_start") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("master.key");
    let core = open(dir.path(), KeyStorage::File).await.unwrap();
    assert_eq!(core.key_storage(), KeyStorage::File);
    store_provider_key(&core).await;
    drop(core);
    let file_key = MasterKey::read(&key_file).unwrap();
    assert!(keychain(dir.path()).load(MASTER_SLOT).unwrap().is_none());

    let core = open(dir.path(), KeyStorage::Auto).await.unwrap();
    assert_eq!(core.key_storage(), KeyStorage::Keychain);
    assert!(
        !key_file.exists(),
        "the file is removed once the keychain holds the key"
    );
    let in_keychain = keychain(dir.path()).load(MASTER_SLOT).unwrap().unwrap();
    assert!(in_keychain == file_key, "the keychain holds the same key");
    assert_provider_key_readable(&core).await;
    drop(core);

    // And from then on, without the file.
    let core = open(dir.path(), KeyStorage::Auto).await.unwrap();
    assert_provider_key_readable(&core).await;
    drop(core);
    clean_up(dir.path());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_file_and_a_differing_keychain_entry_resolve_by_the_database() {
    if !keychain_available("a_stale_file_and_a_differing_keychain_entry_resolve_by_the_database") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("master.key");

    // The file holds the database's key, the keychain a stale one: the file's wins and moves in.
    let core = open(dir.path(), KeyStorage::File).await.unwrap();
    store_provider_key(&core).await;
    drop(core);
    let file_key = MasterKey::read(&key_file).unwrap();
    keychain(dir.path())
        .store(MASTER_SLOT, &MasterKey::generate())
        .unwrap();
    let core = open(dir.path(), KeyStorage::Keychain).await.unwrap();
    assert_provider_key_readable(&core).await;
    drop(core);
    assert!(!key_file.exists());
    assert!(keychain(dir.path()).load(MASTER_SLOT).unwrap().unwrap() == file_key);

    // The keychain holds the database's key, the file a stale one: the file is removed.
    MasterKey::generate().write(&key_file, true).unwrap();
    let core = open(dir.path(), KeyStorage::Keychain).await.unwrap();
    assert_provider_key_readable(&core).await;
    drop(core);
    assert!(!key_file.exists());
    assert!(keychain(dir.path()).load(MASTER_SLOT).unwrap().unwrap() == file_key);
    clean_up(dir.path());
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_in_the_keychain_keeps_secrets_and_retires_the_old_key() {
    if !keychain_available("rotation_in_the_keychain_keeps_secrets_and_retires_the_old_key") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = keychain(dir.path());
    let core = open(dir.path(), KeyStorage::Keychain).await.unwrap();
    store_provider_key(&core).await;
    let old = store.load(MASTER_SLOT).unwrap().unwrap();
    let report = core.rotate_master_key().await.unwrap();
    assert_eq!(report.provider_keys, 1);
    assert_provider_key_readable(&core).await;
    drop(core);

    let new = store.load(MASTER_SLOT).unwrap().unwrap();
    assert!(new != old, "the keychain holds a new key");
    assert!(store.load(NEXT_MASTER_SLOT).unwrap().is_none());
    assert!(!dir.path().join("master.key").exists());
    assert!(!dir.path().join("master.key.next").exists());

    let core = open(dir.path(), KeyStorage::Keychain).await.unwrap();
    assert_provider_key_readable(&core).await;
    drop(core);

    // The old key no longer opens this database.
    store.store(MASTER_SLOT, &old).unwrap();
    let err = open(dir.path(), KeyStorage::Keychain).await.unwrap_err();
    assert_eq!(err.code(), "master_key");
    assert!(err.to_string().contains("does not match"), "{err}");
    let hex = old.to_hex();
    assert!(
        !err.to_string().contains(hex.as_str()),
        "no key in the error"
    );

    // A rotation that committed but died before its key became current: the new key waits in the
    // next slot, and start-up finishes the rotation.
    store.store(NEXT_MASTER_SLOT, &new).unwrap();
    let core = open(dir.path(), KeyStorage::Keychain).await.unwrap();
    assert_provider_key_readable(&core).await;
    drop(core);
    assert!(store.load(MASTER_SLOT).unwrap().unwrap() == new);
    assert!(store.load(NEXT_MASTER_SLOT).unwrap().is_none());

    // A rotation that wrote its next key and died before committing: the stray key is discarded.
    store
        .store(NEXT_MASTER_SLOT, &MasterKey::generate())
        .unwrap();
    let core = open(dir.path(), KeyStorage::Keychain).await.unwrap();
    assert_provider_key_readable(&core).await;
    drop(core);
    assert!(store.load(NEXT_MASTER_SLOT).unwrap().is_none());
    assert!(store.load(MASTER_SLOT).unwrap().unwrap() == new);
    clean_up(dir.path());
}

#[test]
fn the_plugin_keeps_the_key_in_the_keychain_through_ipc() {
    if !keychain_available("the_plugin_keeps_the_key_in_the_keychain_through_ipc") {
        return;
    }
    // The harness asks for the file; an app's builder default (Auto) is what this sets back.
    let t = common::TestApp::with_builder(tauri_plugin_shannon::ipc::COMMANDS, |b| {
        b.master_key_storage(KeyStorage::Auto)
    });
    t.ok(
        "set_provider_key",
        json!({"provider": "openai", "apiKey": OPENAI_KEY}),
    );
    let data = t.data_dir();
    assert!(!data.join("master.key").exists());
    let before = keychain(&data)
        .load(MASTER_SLOT)
        .unwrap()
        .expect("an entry");
    let report = t.ok("rotate_master_key", json!({}));
    assert_eq!(report["provider_keys"], 1);
    let after = keychain(&data).load(MASTER_SLOT).unwrap().unwrap();
    assert!(before != after);
    assert!(!data.join("master.key").exists());
    assert!(!data.join("master.key.next").exists());
    assert_eq!(
        t.ok("get_provider_key", json!({"provider": "openai"}))["masked_key"],
        "sk-k****3333"
    );
    clean_up(&data);
}

/// Runs `no_keychain_child` in a child process of this test binary whose session bus address is
/// `bus`, so that only the child's environment is broken.
fn run_no_keychain_child(bus: &str, kind: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "no_keychain_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SHANNON_NO_KEYCHAIN_CHILD", kind)
        .env("DBUS_SESSION_BUS_ADDRESS", bus)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the child ran its test: {text}");
}

/// The fallback with no keychain: a session bus address that leads nowhere. Runs everywhere.
#[test]
fn without_a_keychain_auto_falls_back_to_the_file_and_keychain_fails_clearly() {
    run_no_keychain_child("unix:path=/nonexistent/shannon-test/bus", "missing");
}

/// A Secret Service that never answers (here a bus socket that accepts and never speaks) holds
/// start-up for the keychain timeout only, then Auto falls back to the file. Runs everywhere.
#[cfg(unix)]
#[test]
fn a_keychain_that_never_answers_does_not_hold_up_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("bus");
    let _silent = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    run_no_keychain_child(&format!("unix:path={}", socket.display()), "hung");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_keychain_child() {
    let Ok(kind) = std::env::var("SHANNON_NO_KEYCHAIN_CHILD") else {
        return; // Only as the child of the tests above.
    };
    let logs = log_capture::Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let core = open(dir.path(), KeyStorage::Auto).await.unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "a missing keychain does not hold up start-up"
    );
    assert_eq!(core.key_storage(), KeyStorage::File);
    store_provider_key(&core).await;
    drop(core);
    let key_file = dir.path().join("master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let key = MasterKey::read(&key_file).unwrap();
    let text = logs.text();
    assert!(
        text.contains("no OS keychain answered") && text.contains("0600 file"),
        "one log line says where the key went: {text}"
    );
    if kind == "hung" {
        assert!(text.contains("did not answer within 3 s"), "{text}");
    }
    assert_eq!(text.matches("no OS keychain answered").count(), 1, "{text}");
    assert!(!text.contains(key.to_hex().as_str()), "no key in the logs");

    // Reopened in Auto, the file key is used as it is.
    let core = open(dir.path(), KeyStorage::Auto).await.unwrap();
    assert_provider_key_readable(&core).await;
    drop(core);

    // Explicit keychain storage: a clear error, no file written.
    let other = tempfile::tempdir().unwrap();
    let err = open(other.path(), KeyStorage::Keychain).await.unwrap_err();
    assert_eq!(err.code(), "master_key", "{err}");
    assert!(err.to_string().contains("OS keychain"), "{err}");
    assert!(!other.path().join("master.key").exists());
}
