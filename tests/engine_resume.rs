//! Lossless resume: a subscriber that disconnects at many random points and reconnects with its last
//! stored id receives exactly the stored stream, with no gap and no duplicate.

#[path = "support/lcg.rs"]
mod lcg;

use std::time::Duration;

use lcg::Lcg;
use serde_json::json;
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::engine::SubmitTaskRequest;
use tauri_plugin_shannon::{Core, CoreConfig};

#[tokio::test(flavor = "multi_thread")]
async fn reconnecting_at_100_random_points_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let core = Core::open(CoreConfig::new(dir.path())).await.unwrap();
    let me = Caller::embedded();
    let query =
        "Tell me everything, slowly and at length, about resumable event streams. ".repeat(20);
    let req: SubmitTaskRequest = serde_json::from_value(json!({"query": query})).unwrap();
    let id = core.submit_task(&me, req, None).await.unwrap().task_id;

    let mut rng = Lcg(0x5eed);
    let mut received = Vec::new();
    let mut last: Option<u32> = None;
    let mut reconnects = 0;
    let done = tokio::time::timeout(Duration::from_secs(120), async {
        'outer: loop {
            let mut sub = core.subscribe_task(&me, &id, last, None).await.unwrap();
            reconnects += 1;
            // Take a few events (partials included), then drop the subscription.
            let take = 1 + rng.next(3);
            for _ in 0..take {
                let Some(e) = sub.next().await else {
                    break 'outer;
                };
                if !e.is_transient() {
                    last = Some(e.seq);
                    let end = e.event_type == "STREAM_END";
                    received.push(e);
                    if end {
                        break 'outer;
                    }
                }
            }
        }
    })
    .await;
    assert!(done.is_ok(), "the stream never ended");
    assert!(reconnects >= 100, "only {reconnects} reconnects");
    let stored = core
        .get_task_events(&me, &id, Some(200), None)
        .await
        .unwrap()
        .events;
    assert_eq!(received, stored);
}
