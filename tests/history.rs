//! History bundles: 1,000 tasks with 100,000 events exported and imported into an empty data dir
//! give the same rows (the user remapped) and the same answers over the HTTP listener; importing
//! twice adds nothing; a truncated, altered or newer bundle is refused with the database unchanged.

use std::path::Path;

use rusqlite::{Connection, params};
use serde_json::Value;
use tauri_plugin_shannon::core::auth::{Caller, RegisterRequest};
use tauri_plugin_shannon::core::crypto::SecretString;
use tauri_plugin_shannon::core::files::Workspace;
use tauri_plugin_shannon::core::store::DATABASE_FILE;
use tauri_plugin_shannon::http::{Listener, ListenerOptions};
use tauri_plugin_shannon::{Core, CoreConfig};

const TASKS: u32 = 1_000;
const EVENTS_PER_TASK: u32 = 100;
const TOKEN: &str = "history-test-token-000000000000000000";

/// Seeds `TASKS` finished tasks of `user` (in sessions of 50, with usage rows) straight into the
/// database of a migrated data dir.
fn seed(data: &Path, user: &str) {
    let mut db = Connection::open(data.join(DATABASE_FILE)).unwrap();
    let tx = db.transaction().unwrap();
    for i in 0..TASKS {
        let at = format!("2026-03-01T00:00:{:02}.{:06}Z", i / 100, i);
        let sid = format!("11111111-0000-4000-8000-{:012}", i / 50);
        if i % 50 == 0 {
            tx.execute(
                "INSERT INTO sessions (id, user_id, title, context, created_at, updated_at)
                 VALUES (?1, ?2, ?3, '{}', ?4, ?4)",
                params![sid, user, format!("Session {}", i / 50), at],
            )
            .unwrap();
        }
        let (id, wf) = (format!("id-{i}"), format!("task-seeded-{i}"));
        tx.execute(
            "INSERT INTO tasks (id, workflow_id, user_id, session_id, query, mode, status, result,
                context, metadata, total_tokens, cost_usd, created_at, updated_at, completed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'simple', 'COMPLETED', ?6, '{}', '{\"model\":\"m\"}', 42,
                0.001, ?7, ?7, ?7)",
            params![
                id,
                wf,
                user,
                sid,
                format!("question {i}"),
                format!("answer {i}"),
                at
            ],
        )
        .unwrap();
        for seq in 1..=EVENTS_PER_TASK {
            tx.execute(
                "INSERT INTO task_events (workflow_id, seq, type, agent_id, message, payload, timestamp)
                 VALUES (?1, ?2, 'PROGRESS', 'orchestrator', ?3, '{\"step\":1}', ?4)",
                params![wf, seq, format!("step {seq} of task {i}"), at],
            )
            .unwrap();
        }
        tx.execute(
            "INSERT INTO token_usage (task_id, agent_id, provider, model, input_tokens, output_tokens,
                total_tokens, cost_usd, created_at) VALUES (?1, 'a', 'openai', 'm', 30, 12, 42, 0.001, ?2)",
            params![id, at],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

/// Every row of a table as text, ordered, with `user_id` replaced by `USER` and `drop` left out.
fn dump(data: &Path, sql: &str, user: &str) -> Vec<String> {
    let db = Connection::open(data.join(DATABASE_FILE)).unwrap();
    let mut stmt = db.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        let cells: Vec<String> = (0..n)
            .map(|i| {
                let v: rusqlite::types::Value = r.get(i).unwrap();
                format!("{v:?}")
            })
            .collect();
        Ok(cells.join("|").replace(user, "USER"))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn all_rows(data: &Path, user: &str) -> Vec<Vec<String>> {
    [
        "SELECT * FROM sessions ORDER BY id",
        "SELECT * FROM tasks ORDER BY id",
        "SELECT * FROM task_events ORDER BY workflow_id, seq",
        // Usage row ids are each database's own.
        "SELECT task_id, agent_id, provider, model, input_tokens, output_tokens, total_tokens, cost_usd, created_at
         FROM token_usage ORDER BY task_id, created_at",
    ]
    .iter()
    .map(|sql| dump(data, sql, user))
    .collect()
}

async fn open(dir: &Path) -> Core {
    Core::open(CoreConfig::new(dir)).await.unwrap()
}

async fn get(listener: &Listener, path: &str) -> Value {
    let resp = reqwest::Client::new()
        .get(format!("http://{}{path}", listener.addr()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap()
}

async fn listen(core: &Core) -> Listener {
    Listener::start(
        core.clone(),
        ListenerOptions {
            token: Some(TOKEN.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_history_moves_whole_once_and_a_damaged_bundle_moves_nothing() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let me = Caller::embedded();
    let (from, to, bundles) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    open(from.path())
        .await
        .shutdown(std::time::Duration::from_secs(3))
        .await;
    seed(from.path(), &me.user_id);
    let source = open(from.path()).await;
    let ws =
        Workspace::of_session(source.data_dir(), "11111111-0000-4000-8000-000000000003").unwrap();
    ws.write("notes/brief.md", b"# Brief").unwrap();
    Workspace::of_user_memory(source.data_dir(), &me.user_id)
        .unwrap()
        .write("prefs.md", b"short answers")
        .unwrap();

    let out = bundles.path().join("mine");
    let exported = source
        .export_history(&me, out.to_str().unwrap(), false)
        .await
        .unwrap();
    assert_eq!(exported.counts.tasks, TASKS);
    assert_eq!(exported.counts.events, (TASKS * EVENTS_PER_TASK) as u64);
    assert_eq!(exported.counts.files, 2);
    // An export never writes into a folder that holds something.
    let again = source
        .export_history(&me, out.to_str().unwrap(), false)
        .await;
    assert_eq!(again.unwrap_err().code(), "invalid_request");
    // Nothing secret travels: the bundle holds no key, token or password table.
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.contains("secret") && !n.contains("key")),
        "{names:?}"
    );

    // Damaged bundles first, into the empty install: each is refused and nothing is written.
    let target = open(to.path()).await;
    let user = target
        .register(RegisterRequest {
            email: "importer@example.com".into(),
            username: None,
            password: SecretString::new("a long enough password"),
            full_name: None,
        })
        .await
        .unwrap()
        .user_id;
    let importer = Caller {
        user_id: user.clone(),
        ..Caller::embedded()
    };
    let damage = |name: &str, change: &dyn Fn(&mut Vec<u8>)| {
        let copy = bundles.path().join(name);
        copy_dir(&out, &copy);
        let file = copy.join(if name == "newer" {
            "manifest.json"
        } else {
            name
        });
        let mut bytes = std::fs::read(&file).unwrap();
        change(&mut bytes);
        std::fs::write(&file, bytes).unwrap();
        copy
    };
    let truncated = damage("events.jsonl", &|b| b.truncate(b.len() / 2));
    let altered = damage("tasks.jsonl", &|b| {
        let at = b.len() / 3;
        b[at] = if b[at] == b'7' { b'8' } else { b'7' };
    });
    let newer = damage("newer", &|b| {
        let text = String::from_utf8(b.clone())
            .unwrap()
            .replace("\"version\": 1", "\"version\": 2");
        *b = text.into_bytes();
    });
    for (bad, says) in [
        (&truncated, "damaged"),
        (&altered, "damaged"),
        (&newer, "newer"),
    ] {
        let e = target
            .import_history(&importer, bad.to_str().unwrap())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        assert!(e.to_string().contains(says), "{e}");
    }
    assert!(
        all_rows(to.path(), &user).iter().all(Vec::is_empty),
        "a refused bundle wrote nothing"
    );

    let report = target
        .import_history(&importer, out.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (report.tasks_added, report.sessions_added),
        (TASKS, TASKS / 50)
    );
    assert_eq!(report.events_added, (TASKS * EVENTS_PER_TASK) as u64);
    assert_eq!(report.files_added, 2);
    assert_eq!(
        all_rows(to.path(), &user),
        all_rows(from.path(), &me.user_id),
        "the same rows, user remapped"
    );
    let twice = target
        .import_history(&importer, out.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (twice.tasks_added, twice.sessions_added, twice.events_added),
        (0, 0, 0)
    );
    assert_eq!(twice.tasks_present, TASKS);
    assert_eq!(
        all_rows(to.path(), &user),
        all_rows(from.path(), &me.user_id),
        "a second import adds nothing"
    );
    let brief = target.read_session_file(
        &importer,
        "11111111-0000-4000-8000-000000000003",
        "notes/brief.md",
    );
    assert_eq!(brief.await.unwrap().content, "# Brief");

    // The same answers over the HTTP listener: the embedded user imports into a third install.
    let third = tempfile::tempdir().unwrap();
    let mirror = open(third.path()).await;
    mirror
        .import_history(&me, out.to_str().unwrap())
        .await
        .unwrap();
    let (a, b) = (listen(&source).await, listen(&mirror).await);
    for path in [
        "/api/v1/tasks?limit=100".to_string(),
        "/api/v1/sessions?limit=100".to_string(),
        "/api/v1/tasks/task-seeded-7".to_string(),
        "/api/v1/tasks/task-seeded-999/events?limit=200".to_string(),
        "/api/v1/sessions/11111111-0000-4000-8000-000000000019/history".to_string(),
    ] {
        assert_eq!(get(&a, &path).await, get(&b, &path).await, "{path}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
