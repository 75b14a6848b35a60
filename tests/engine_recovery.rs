//! A process killed with SIGKILL mid-task: on the next start the task is resumed or failed by the
//! configured policy, its stored events stay intact and contiguous, and the database is sound.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rusqlite::Connection;
use serde_json::json;
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::run::RecoveryPolicy;
use tauri_plugin_shannon::core::store::DATABASE_FILE;
use tauri_plugin_shannon::core::tasks::SubmitTaskRequest;
use tauri_plugin_shannon::{Core, CoreConfig};

const DIR_ENV: &str = "SHANNON_RECOVERY_CHILD_DIR";

/// Child: submits a long demo task, reports its id once it streams, then waits to be killed.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "child process of the recovery tests"]
async fn recovery_child() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let core = Core::open(CoreConfig::new(&dir)).await.unwrap();
    let me = Caller::embedded();
    let query = "Please write a very long answer. ".repeat(20);
    let req: SubmitTaskRequest =
        serde_json::from_value(json!({"query": query, "session_id": "crash"})).unwrap();
    let sub = core.submit_task(&me, req, None).await.unwrap();
    let mut rx = core.live_events(&me, &sub.task_id).await.unwrap();
    let mut partials = 0;
    while partials < 10 {
        if rx.next().await.unwrap().event_type == "LLM_PARTIAL" {
            partials += 1;
        }
    }
    println!("TASK {}", sub.task_id);
    tokio::time::sleep(Duration::from_secs(600)).await;
}

fn crash_mid_task(dir: &Path) -> String {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "recovery_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut task = None;
    for line in lines {
        // The test harness prints "test recovery_child ... " on the same line first.
        let line = line.unwrap();
        if let Some((_, id)) = line.split_once("TASK ") {
            task = Some(id.trim().to_string());
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    task.expect("the child never reported its task")
}

fn assert_sound(dir: &Path, task: &str) -> Vec<(u32, String)> {
    let conn = Connection::open(dir.join(DATABASE_FILE)).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let events: Vec<(u32, String)> = conn
        .prepare("SELECT seq, type FROM task_events WHERE workflow_id = ?1 ORDER BY seq")
        .unwrap()
        .query_map([task], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let seqs: Vec<u32> = events.iter().map(|e| e.0).collect();
    assert_eq!(
        seqs,
        (1..=events.len() as u32).collect::<Vec<_>>(),
        "contiguous seq"
    );
    events
}

async fn wait_terminal(core: &Core, task: &str) -> String {
    let me = Caller::embedded();
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let status = core.get_task(&me, task).await.unwrap().status;
            if !matches!(
                status.as_str(),
                "TASK_STATUS_RUNNING" | "TASK_STATUS_QUEUED" | "TASK_STATUS_PAUSED"
            ) {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the recovered task never finished")
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_mid_task_then_resumed_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let task = crash_mid_task(dir.path());
    let before = assert_sound(dir.path(), &task);
    assert!(before.iter().any(|e| e.1 == "WORKFLOW_STARTED"));
    assert!(!before.iter().any(|e| e.1 == "STREAM_END"));

    let core = Core::open(CoreConfig::new(dir.path())).await.unwrap();
    assert_eq!(wait_terminal(&core, &task).await, "TASK_STATUS_COMPLETED");
    let t = core.get_task(&Caller::embedded(), &task).await.unwrap();
    assert!(t.result.contains("very long answer"), "{}", t.result);
    drop(core);
    let after = assert_sound(dir.path(), &task);
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "events stored before the crash are intact"
    );
    let types: Vec<&str> = after.iter().map(|e| e.1.as_str()).collect();
    assert!(types.contains(&"ERROR_RECOVERY"));
    assert_eq!(types.last(), Some(&"STREAM_END"));
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_mid_task_then_failed_by_policy() {
    let dir = tempfile::tempdir().unwrap();
    let task = crash_mid_task(dir.path());
    let before = assert_sound(dir.path(), &task);
    let mut config = CoreConfig::new(dir.path());
    config.recovery = RecoveryPolicy::Fail;
    let core = Core::open(config).await.unwrap();
    let t = core.get_task(&Caller::embedded(), &task).await.unwrap();
    assert_eq!(t.status, "TASK_STATUS_FAILED");
    assert!(t.error.unwrap().contains("interrupted"));
    drop(core);
    let after = assert_sound(dir.path(), &task);
    assert_eq!(&after[..before.len()], &before[..]);
    let types: Vec<&str> = after[before.len()..].iter().map(|e| e.1.as_str()).collect();
    assert_eq!(types, ["ERROR_OCCURRED", "WORKFLOW_FAILED", "STREAM_END"]);
}
