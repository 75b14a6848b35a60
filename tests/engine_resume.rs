//! Exact resume: subscribers that connect late, reconnect at random points mid-answer with the id of
//! the last event they got (a delta's `<seq>-<n>` included), or read slowly, all end with the stored
//! stream and with streamed text identical to the provider's answer: no gap, no duplicate.

#[path = "support/lcg.rs"]
mod lcg;

use std::time::Duration;

use lcg::Lcg;
use serde_json::json;
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::store::DATABASE_FILE;
use tauri_plugin_shannon::core::streams::StreamPos;
use tauri_plugin_shannon::core::streams::{TaskEvent, TaskSubscription};
use tauri_plugin_shannon::core::tasks::SubmitTaskRequest;
use tauri_plugin_shannon::{Core, CoreConfig};

async fn long_task(core: &Core, me: &Caller) -> String {
    let query =
        "Tell me everything, slowly and at length, about resumable event streams. ".repeat(20);
    let req: SubmitTaskRequest = serde_json::from_value(json!({"query": query})).unwrap();
    core.submit_task(me, req, None).await.unwrap().task_id
}

/// The streamed text: every delta, in order.
fn text_of(events: &[TaskEvent]) -> String {
    events
        .iter()
        .filter(|e| e.event_type == "LLM_PARTIAL")
        .filter_map(|e| e.message.clone())
        .collect()
}

async fn drain(sub: &mut TaskSubscription, pause_per_event: Duration) -> Vec<TaskEvent> {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(e) = sub.next().await {
            out.push(e);
            tokio::time::sleep(pause_per_event).await;
        }
    })
    .await
    .expect("the stream never ended");
    out
}

/// What the provider answered (the task's result), and the stored events.
async fn truth(core: &Core, me: &Caller, id: &str) -> (String, Vec<TaskEvent>) {
    let task = core.get_task(me, id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_COMPLETED");
    let stored = core
        .get_task_events(me, id, Some(200), None)
        .await
        .unwrap()
        .events;
    (task.result, stored)
}

fn assert_strictly_ordered(events: &[TaskEvent]) {
    for w in events.windows(2) {
        assert!(
            w[0].pos() < w[1].pos(),
            "out of order or repeated: {:?} then {:?}",
            w[0].pos(),
            w[1].pos()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reconnecting_at_100_random_points_mid_answer_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let core = Core::open(CoreConfig::new(dir.path())).await.unwrap();
    let me = Caller::embedded();
    let id = long_task(&core, &me).await;

    let mut rng = Lcg(0x5eed);
    let mut received: Vec<TaskEvent> = Vec::new();
    let mut last: Option<StreamPos> = None;
    let mut reconnects = 0;
    let mut mid_answer = 0;
    let done = tokio::time::timeout(Duration::from_secs(120), async {
        'outer: loop {
            let mut sub = core.subscribe_task(&me, &id, last, None).await.unwrap();
            reconnects += 1;
            // Take a few events, then drop the subscription: the resume id is the last one's.
            let take = 1 + rng.next(3);
            for _ in 0..take {
                let Some(e) = sub.next().await else {
                    break 'outer;
                };
                last = Some(e.pos());
                let end = e.event_type == "STREAM_END";
                if e.event_type == "LLM_PARTIAL" {
                    mid_answer += 1;
                }
                received.push(e);
                if end {
                    break 'outer;
                }
            }
        }
    })
    .await;
    assert!(done.is_ok(), "the stream never ended");
    assert!(reconnects >= 100, "only {reconnects} reconnects");
    assert!(mid_answer >= 50, "only {mid_answer} deltas");
    assert_strictly_ordered(&received);
    let (answer, stored) = truth(&core, &me, &id).await;
    let stored_seen: Vec<_> = received
        .iter()
        .filter(|e| !e.is_transient())
        .cloned()
        .collect();
    assert_eq!(stored_seen, stored);
    assert_eq!(text_of(&received), answer);
}

#[tokio::test(flavor = "multi_thread")]
async fn late_and_slow_subscribers_get_every_delta() {
    let dir = tempfile::tempdir().unwrap();
    let core = Core::open(CoreConfig::new(dir.path())).await.unwrap();
    let me = Caller::embedded();
    let id = long_task(&core, &me).await;

    // One reader keeps pace; one reads slowly (far behind a 15 ms-per-delta stream); one joins
    // once half the answer has streamed.
    let mut prompt = core.subscribe_task(&me, &id, None, None).await.unwrap();
    let mut slow = core.subscribe_task(&me, &id, None, None).await.unwrap();
    let (core2, me2, id2) = (core.clone(), me.clone(), id.clone());
    let slow = tokio::spawn(async move { drain(&mut slow, Duration::from_millis(40)).await });
    let mut seen = 0;
    let mut events = Vec::new();
    while let Some(e) = prompt.next().await {
        seen += usize::from(e.event_type == "LLM_PARTIAL");
        events.push(e);
        if seen == 20 {
            break;
        }
    }
    let late = tokio::spawn(async move {
        let mut late = core2.subscribe_task(&me2, &id2, None, None).await.unwrap();
        drain(&mut late, Duration::ZERO).await
    });
    events.extend(drain(&mut prompt, Duration::ZERO).await);
    let (answer, stored) = truth(&core, &me, &id).await;
    for (name, got) in [
        ("prompt", events),
        ("slow", slow.await.unwrap()),
        ("late", late.await.unwrap()),
    ] {
        assert_strictly_ordered(&got);
        assert_eq!(text_of(&got), answer, "{name} reader's text");
        let stored_seen: Vec<_> = got.into_iter().filter(|e| !e.is_transient()).collect();
        assert_eq!(stored_seen, stored, "{name} reader's stored events");
    }

    // Stored compactly: the answer's deltas, one row per commit while it streamed, are one row now.
    let db = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    let rows: u32 = db
        .query_row(
            "SELECT count(*) FROM task_transient_events WHERE workflow_id = ?1 AND type = 'LLM_PARTIAL'",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 1, "one row for the answer's deltas");
    drop(db);

    // After the run, from the database (a fresh core has no rings): the same deltas, the same ids.
    drop(core);
    let core = Core::open(CoreConfig::new(dir.path())).await.unwrap();
    let mut again = core.subscribe_task(&me, &id, None, None).await.unwrap();
    let replayed = drain(&mut again, Duration::ZERO).await;
    assert_eq!(text_of(&replayed), answer);
    let mid = replayed
        .iter()
        .filter(|e| e.event_type == "LLM_PARTIAL")
        .nth(5)
        .unwrap()
        .clone();
    let mut resumed = core
        .subscribe_task(&me, &id, Some(mid.pos()), None)
        .await
        .unwrap();
    let rest = drain(&mut resumed, Duration::ZERO).await;
    let before: Vec<_> = replayed
        .iter()
        .take_while(|e| e.pos() <= mid.pos())
        .cloned()
        .collect();
    assert_eq!(text_of(&before) + &text_of(&rest), answer);
}
