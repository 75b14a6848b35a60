//! Storage and crypto guarantees of the core: secrets at rest, the key file, migrations, crashes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use rusqlite::Connection;
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::crypto::{MasterKey, SecretString};
use tauri_plugin_shannon::core::store::{DATABASE_FILE, SCHEMA_VERSION, migrations};
use tauri_plugin_shannon::{Core, CoreConfig};

async fn open(dir: &Path) -> Result<Core, tauri_plugin_shannon::ShannonError> {
    Core::open(CoreConfig::new(dir.to_path_buf())).await
}

fn raw(dir: &Path) -> Connection {
    Connection::open(dir.join(DATABASE_FILE)).unwrap()
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread")]
async fn database_and_wal_hold_no_plaintext_provider_key() {
    let dir = tempfile::tempdir().unwrap();
    let core = open(dir.path()).await.unwrap();
    let me = Caller::embedded();
    let secret = "sk-plaintext-canary-7f3a9c1e5b2d4f60";
    core.set_provider_key(&me, "openai", &SecretString::new(secret))
        .await
        .unwrap();
    core.set_provider_key(&me, "groq", &SecretString::new(secret))
        .await
        .unwrap();
    // The key is readable by the core...
    let back = core.provider_key(&me, "openai").await.unwrap().unwrap();
    assert_eq!(back.expose(), secret);
    // ...but neither the database nor its WAL holds it (or a long piece of it), before and after a
    // checkpoint.
    let db = dir.path().join(DATABASE_FILE);
    let wal = dir.path().join(format!("{DATABASE_FILE}-wal"));
    assert!(
        !file_bytes(&wal).is_empty(),
        "the write should still be in the WAL"
    );
    for bytes in [file_bytes(&db), file_bytes(&wal)] {
        assert!(!contains(&bytes, secret.as_bytes()));
        assert!(!contains(&bytes, &secret.as_bytes()[4..20]));
    }
    drop(core);
    raw(dir.path())
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    assert!(!contains(&file_bytes(&db), secret.as_bytes()));
}

#[tokio::test(flavor = "multi_thread")]
async fn same_key_twice_gives_two_ciphertexts() {
    let dir = tempfile::tempdir().unwrap();
    let core = open(dir.path()).await.unwrap();
    let me = Caller::embedded();
    let read_blob = || -> Vec<u8> {
        raw(dir.path())
            .query_row(
                "SELECT ciphertext FROM provider_api_keys WHERE provider = 'openai'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    let key = SecretString::new("sk-same-key-twice-000000001234");
    core.set_provider_key(&me, "openai", &key).await.unwrap();
    let first = read_blob();
    core.set_provider_key(&me, "openai", &key).await.unwrap();
    let second = read_blob();
    assert_ne!(first, second);
    assert_eq!(first[0], 1, "versioned format");
    assert_ne!(first[1..13], second[1..13], "fresh nonce per write");
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_ciphertext_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let core = open(dir.path()).await.unwrap();
    let me = Caller::embedded();
    core.set_provider_key(
        &me,
        "openai",
        &SecretString::new("sk-tamper-test-000000005678"),
    )
    .await
    .unwrap();
    let conn = raw(dir.path());
    let mut blob: Vec<u8> = conn
        .query_row(
            "SELECT ciphertext FROM provider_api_keys WHERE provider = 'openai'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    blob[20] ^= 0x40;
    conn.execute(
        "UPDATE provider_api_keys SET ciphertext = ?1 WHERE provider = 'openai'",
        [&blob],
    )
    .unwrap();
    let err = core.provider_key(&me, "openai").await.unwrap_err();
    assert_eq!(err.code(), "decryption");
    assert_eq!(
        core.list_provider_keys(&me).await.unwrap_err().code(),
        "decryption"
    );
    // A ciphertext moved to another provider's row fails too (associated data binds the provider).
    core.set_provider_key(
        &me,
        "groq",
        &SecretString::new("sk-groq-key-0000000000009999"),
    )
    .await
    .unwrap();
    raw(dir.path())
        .execute(
            "UPDATE provider_api_keys SET ciphertext = (SELECT ciphertext FROM provider_api_keys WHERE provider = 'groq') WHERE provider = 'openai'",
            [],
        )
        .unwrap();
    assert_eq!(
        core.provider_key(&me, "openai").await.unwrap_err().code(),
        "decryption"
    );
    // Other keys are unaffected.
    assert!(core.provider_key(&me, "groq").await.unwrap().is_some());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn master_key_file_is_0600_and_loose_modes_are_repaired() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let core = open(dir.path()).await.unwrap();
    let path = dir.path().join("master.key");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    core.set_provider_key(
        &Caller::embedded(),
        "xai",
        &SecretString::new("xai-key-0000000000004321"),
    )
    .await
    .unwrap();
    drop(core);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let core = open(dir.path()).await.unwrap();
    assert_eq!(
        mode(&path),
        0o600,
        "a world-readable key file is restricted on open"
    );
    assert!(
        core.provider_key(&Caller::embedded(), "xai")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_master_key_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()).await.unwrap());
    MasterKey::generate()
        .write(&dir.path().join("master.key"), true)
        .unwrap();
    let err = open(dir.path()).await.unwrap_err();
    assert_eq!(err.code(), "master_key");
    assert!(err.to_string().contains("does not match"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_uncommitted_rotation_is_discarded_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let core = open(dir.path()).await.unwrap();
    core.set_provider_key(
        &Caller::embedded(),
        "openai",
        &SecretString::new("sk-before-rotation-00001111"),
    )
    .await
    .unwrap();
    drop(core);
    // A rotation that wrote its next key and then died before committing.
    MasterKey::generate()
        .write(&dir.path().join("master.key.next"), true)
        .unwrap();
    let core = open(dir.path()).await.unwrap();
    assert!(!dir.path().join("master.key.next").exists());
    let key = core
        .provider_key(&Caller::embedded(), "openai")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(key.expose(), "sk-before-rotation-00001111");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_migration_database_opens_after_all_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut conn = raw(dir.path());
        migrations().to_version(&mut conn, 1).unwrap();
        conn.execute(
            "INSERT INTO user_settings (user_id, key, value, updated_at)
             VALUES ('00000000-0000-0000-0000-000000000002', 'kept', '\"from v1\"', '2026-01-01T00:00:00Z')",
            [],
        )
        .unwrap();
        let v: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 1);
    }
    let core = open(dir.path()).await.unwrap();
    let s = core.get_setting(&Caller::embedded(), "kept").await.unwrap();
    assert_eq!(s.value, "\"from v1\"");
    let conn = raw(dir.path());
    let v: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, *SCHEMA_VERSION);
    for table in [
        "tasks",
        "task_events",
        "sessions",
        "workflow_control",
        "schedules",
        "schedule_runs",
        "idempotency_records",
    ] {
        let n: u32 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "{table} exists after migrating");
    }
    drop(core);
    // Opening again is a no-op.
    let core = open(dir.path()).await.unwrap();
    assert_eq!(
        core.list_settings(&Caller::embedded()).await.unwrap().len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_newer_than_the_code_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()).await.unwrap());
    let newer = *SCHEMA_VERSION + 1;
    raw(dir.path())
        .execute_batch(&format!("PRAGMA user_version = {newer};"))
        .unwrap();
    let err = open(dir.path()).await.unwrap_err();
    assert_eq!(err.code(), "database_too_new");
    assert!(err.to_string().contains("newer"), "{err}");
    // Nothing was changed by the refusal.
    let v: u32 = raw(dir.path())
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, newer);
}

const CRASH_DIR_ENV: &str = "SHANNON_CRASH_CHILD_DIR";

/// The child side of the SIGKILL test: writes settings as fast as it can and prints each index once
/// its transaction committed. Run only by `sigkill_mid_write_burst_loses_nothing_committed`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "child process of the SIGKILL test"]
async fn crash_child_writer() {
    let Ok(dir) = std::env::var(CRASH_DIR_ENV) else {
        return;
    };
    let core = open(Path::new(&dir)).await.unwrap();
    let me = Caller::embedded();
    let key = SecretString::new("sk-crash-child-0000000000000000");
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for i in 0u64.. {
        if i % 50 == 0 {
            core.set_provider_key(&me, "openai", &key).await.unwrap();
        }
        core.set_setting(&me, &format!("k{i}"), &format!("{{\"i\":{i}}}"))
            .await
            .unwrap();
        writeln!(out, "{i}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_mid_write_burst_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "crash_child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_DIR_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acknowledged = Vec::new();
    // Let a few hundred writes land, then kill the writer in the middle of its burst.
    for line in lines.by_ref() {
        // The harness prints "test crash_child_writer ... " before the first index, on its line.
        if let Some(Ok(i)) = line
            .unwrap()
            .split_whitespace()
            .last()
            .map(str::parse::<u64>)
        {
            acknowledged.push(i);
            if acknowledged.len() >= 300 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL on unix
    child.wait().unwrap();
    // Lines already in the pipe were acknowledged before the kill.
    acknowledged.extend(
        lines
            .map_while(Result::ok)
            .filter_map(|l| l.trim().parse::<u64>().ok()),
    );
    assert!(acknowledged.len() >= 300, "the child wrote too little");

    let conn = raw(dir.path());
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    for i in &acknowledged {
        let v: String = conn
            .query_row(
                "SELECT value FROM user_settings WHERE key = ?1",
                [format!("k{i}")],
                |r| r.get(0),
            )
            .unwrap_or_else(|_| panic!("committed write k{i} is missing"));
        assert_eq!(v, format!("{{\"i\":{i}}}"));
    }
    // And the core opens it, secrets included.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let core = open(dir.path()).await.unwrap();
        assert!(
            core.provider_key(&Caller::embedded(), "openai")
                .await
                .unwrap()
                .is_some()
        );
    });
}
