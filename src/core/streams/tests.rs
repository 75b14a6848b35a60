//! The pipeline's promises, against a real database: nothing visible before it is stored, holds,
//! rings, a failing writer that keeps and retries everything, and admission under backlog.

use std::sync::Arc;

use super::*;
use crate::core::run::lifecycle::TaskStatus;
use crate::core::store::{self, Store};
use crate::core::tasks::{Executor, Strategy};

fn seqs(events: Option<(Vec<TaskEvent>, bool)>) -> Option<Vec<u32>> {
    events.map(|(v, _)| v.iter().map(|e| e.seq).collect())
}

async fn hub_and_store(rings: RingConfig) -> (tempfile::TempDir, Arc<EventHub>, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_async(dir.path().join("db.sqlite3"))
        .await
        .unwrap();
    store
        .write(|tx| {
            for wf in ["w1", "w2", "w3"] {
                let task = store::tasks::NewTask {
                    id: wf,
                    workflow_id: wf,
                    user_id: "00000000-0000-0000-0000-000000000002",
                    session_id: None,
                    query: "q",
                    mode: "standard",
                    status: TaskStatus::Running,
                    context: "{}",
                    metadata: "{}",
                    now: "x",
                    executor: &Executor::Local.db(),
                    strategy: &Strategy::Standard.to_json(),
                };
                store::tasks::insert(tx, &task)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let hub = EventHub::with_rings(store.clone(), rings);
    (dir, hub, store)
}

async fn hub_with(rings: RingConfig) -> (tempfile::TempDir, Arc<EventHub>) {
    let (dir, hub, _) = hub_and_store(rings).await;
    (dir, hub)
}

/// The funnel checks payloads in debug builds: an event whose payload is not its declared type
/// stops the test that emits it.
#[cfg(debug_assertions)]
#[tokio::test]
#[should_panic(expected = "event payload does not match its declared type: WORKFLOW_PAUSED")]
async fn a_payload_not_of_its_declared_type_panics_in_debug_builds() {
    let (_dir, hub) = hub_with(RingConfig::default()).await;
    hub.open_stream("w1", 0);
    let misspelt = serde_json::json!({"checkpiont": "llm_stream"});
    hub.emit(
        "w1",
        EventType::WorkflowPaused,
        Some("o"),
        None,
        Some(misspelt),
    );
}

#[tokio::test]
async fn rings_replay_from_memory_and_give_way_when_evicted() {
    let rings = RingConfig {
        events_per_task: 5,
        memory_cap_bytes: 1 << 20,
        finished_tasks: 1,
        ..RingConfig::default()
    };
    let (_dir, hub) = hub_with(rings).await;
    for _ in 0..8 {
        hub.emit(
            "w1",
            EventType::Progress,
            Some("a"),
            Some("step".into()),
            None,
        );
    }
    hub.settle("w1").await;
    let at = |seq| StreamPos::stored(seq);
    assert_eq!(
        seqs(hub.read_after("w1", at(2), 100)),
        None,
        "seq 3 was evicted"
    );
    assert_eq!(
        seqs(hub.read_after("w1", at(3), 100)),
        Some(vec![4, 5, 6, 7, 8])
    );
    assert_eq!(seqs(hub.read_after("w1", at(8), 100)), Some(vec![]));
    hub.close_stream("w1");
    assert_eq!(
        seqs(hub.read_after("w1", at(6), 100)),
        Some(vec![7, 8]),
        "kept after the run"
    );
    hub.emit("w2", EventType::Progress, None, None, None);
    hub.close_stream("w2");
    hub.flush().await;
    assert_eq!(
        seqs(hub.read_after("w1", at(6), 100)),
        None,
        "least recently used ring dropped"
    );
    assert_eq!(seqs(hub.read_after("w2", at(0), 100)), Some(vec![1]));

    // A tiny memory cap keeps only what fits.
    let (_dir, hub) = hub_with(RingConfig {
        events_per_task: 1000,
        memory_cap_bytes: 1000,
        finished_tasks: 10,
        ..RingConfig::default()
    })
    .await;
    for _ in 0..50 {
        hub.emit("w3", EventType::Progress, None, Some("x".repeat(100)), None);
    }
    hub.settle("w3").await;
    let kept = seqs(hub.read_after("w3", at(49), 100)).unwrap();
    assert_eq!(kept, vec![50]);
    assert!(hub.read_after("w3", at(0), 100).is_none());
}

#[tokio::test]
async fn nothing_is_visible_before_it_is_stored_and_held_events_wait() {
    let (_dir, hub) = hub_with(RingConfig::default()).await;
    hub.open_stream("w1", 0);
    let watch = hub.watch("w1").unwrap();
    hub.emit(
        "w1",
        EventType::Progress,
        Some("a"),
        Some("one".into()),
        None,
    );
    // Not yet committed: invisible.
    assert_eq!(watch.borrow().pos, StreamPos::START);
    hub.settle("w1").await;
    assert_eq!(watch.borrow().pos, StreamPos::stored(1));

    hub.hold("w1");
    hub.emit(
        "w1",
        EventType::LlmPartial,
        Some("a"),
        Some("held".into()),
        None,
    );
    let paused = serde_json::json!({"checkpoint": "llm_stream"});
    hub.emit(
        "w1",
        EventType::WorkflowPaused,
        Some("o"),
        None,
        Some(paused),
    );
    hub.settle("w1").await;
    let (seen, _) = hub.read_after("w1", StreamPos::stored(1), 10).unwrap();
    let types: Vec<_> = seen.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["WORKFLOW_PAUSED"], "the delta is held");
    hub.release("w1");
    hub.settle("w1").await;
    let (seen, _) = hub.read_after("w1", StreamPos::stored(2), 10).unwrap();
    assert_eq!(seen[0].message.as_deref(), Some("held"));
    assert_eq!(seen[0].stream_id.as_deref(), Some("2-1"));
}

fn stored_seqs(store: &Store, wf: &str) -> Vec<u32> {
    store
        .read_blocking(|c| read_events(c, wf, 0, 1000, 0))
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_writer_keeps_everything_and_stores_it_in_order_when_storage_returns() {
    let (_dir, hub, store) = hub_and_store(RingConfig::default()).await;
    // A trigger stands in for a full disk: every insert of an event fails while the switch is on.
    store
        .write(|tx| {
            tx.execute_batch(
                "CREATE TABLE fail_switch (x); INSERT INTO fail_switch VALUES (1);
                 CREATE TRIGGER refuse BEFORE INSERT ON task_events WHEN EXISTS (SELECT 1 FROM fail_switch)
                 BEGIN SELECT RAISE(ABORT, 'simulated full disk'); END;",
            )?;
            Ok(())
        })
        .await
        .unwrap();
    hub.open_stream("w1", 0);
    let watch = hub.watch("w1").unwrap();
    for i in 0..10 {
        hub.emit(
            "w1",
            EventType::Progress,
            Some("a"),
            Some(format!("e{i}")),
            None,
        );
    }
    let step = StepRecord {
        task_id: "w1".into(),
        step_key: "call/1".into(),
        kind: "model_call",
        result: serde_json::json!({"text": "x"}),
        usage: None,
    };
    let committing = {
        let hub = hub.clone();
        tokio::spawn(async move { hub.commit_step("w1", Vec::new(), step).await })
    };
    // The run waiting on its step hears of the failure; nothing became visible; new work is refused.
    let told = tokio::time::timeout(std::time::Duration::from_secs(10), committing)
        .await
        .expect("the step's waiter is told")
        .unwrap();
    assert!(told.is_err(), "{told:?}");
    assert_eq!(watch.borrow().pos, StreamPos::START, "nothing visible");
    assert!(hub.backlog().failing);
    let refused = hub.admit().await.unwrap_err();
    assert_eq!(refused.code(), "storage_unavailable");
    assert!(stored_seqs(&store, "w1").is_empty());

    // Space returns: the same batch is stored, in order, and becomes visible.
    store
        .write(|tx| {
            tx.execute("DELETE FROM fail_switch", [])?;
            Ok(())
        })
        .await
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), hub.settle("w1"))
        .await
        .expect("stored once storage works");
    assert_eq!(stored_seqs(&store, "w1"), (1..=10).collect::<Vec<_>>());
    assert_eq!(watch.borrow().pos, StreamPos::stored(10));
    let steps = store
        .read_blocking(|c| store::steps::list_for_task(c, "w1"))
        .unwrap();
    assert_eq!(steps.len(), 1, "the step was kept and stored too");
    assert!(!hub.backlog().failing);
    hub.admit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn admission_waits_then_refuses_while_the_writer_is_behind() {
    let rings = RingConfig {
        backlog_max_bytes: 1000,
        ..RingConfig::default()
    };
    let (_dir, hub, store) = hub_and_store(rings).await;
    hub.open_stream("w1", 0);
    // Something else holds the database's writer for a while (a long migration, a slow disk).
    let (held, holding) = std::sync::mpsc::channel();
    let blocker = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            store.write_blocking(|_| {
                held.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(1500));
                Ok(())
            })
        })
    };
    holding.recv().unwrap();
    for _ in 0..20 {
        hub.emit("w1", EventType::Progress, None, Some("x".repeat(200)), None);
    }
    assert!(hub.backlog().bytes > 1000);
    let refused = hub.admit().await.unwrap_err();
    assert_eq!(refused.code(), "rate_limited");
    blocker.await.unwrap().unwrap();
    hub.settle("w1").await;
    hub.admit().await.unwrap();
    assert_eq!(stored_seqs(&store, "w1").len(), 20);
}
