//! Real tasks through the engine against a fake provider on 127.0.0.1 speaking the OpenAI and
//! Anthropic streaming wire formats: answers, tool calls, retries, failures, broken streams, control
//! mid-stream and budgets.

#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/rig.rs"]
mod rig;

use std::time::Duration;

use fake_provider::{FakeUsage, Reply, Scripted};
use rig::{Rig, rig};
use serde_json::json;
use tauri_plugin_shannon::core::streams::{TaskEvent, TaskSubscription};

use rig::KEY;

impl Rig {
    /// The stored stream once it ended (polled; bounded so a bug fails instead of hanging).
    async fn finished(&self, id: &str) -> Vec<TaskEvent> {
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let events = self
                    .core
                    .get_task_events(&self.me, id, Some(200), None)
                    .await
                    .unwrap()
                    .events;
                if events.last().is_some_and(|e| e.event_type == "STREAM_END") {
                    return events;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the task did not finish in time")
    }

    async fn status(&self, id: &str) -> String {
        self.core.get_task(&self.me, id).await.unwrap().status
    }
}

async fn wait_for(rx: &mut TaskSubscription, ty: &str) -> TaskEvent {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let e = rx.next().await.expect("stream closed");
            if e.event_type == ty {
                return e;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {ty}"))
}

fn types(events: &[TaskEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_plain_answer_with_usage_cost_and_wire_details() {
    let r = rig("openai").await;
    r.fake.push(Scripted::Stream(
        Reply::text(["Hello", ", ", "world", "!"])
            .model("gpt-4.1-mini")
            .usage(FakeUsage::new(1_000_000, 500_000)),
    ));
    let id = r
        .submit_body(json!({"query": "Say hello", "provider_override": "openai", "model_override": "gpt-4.1-mini",
                       "context": {"system_prompt": "You are ${who}.", "prompt_params": {"who": "terse"}, "temperature": 0.2}}))
        .await;
    let events = r.finished(&id).await;
    assert_eq!(types(&events).last(), Some(&"STREAM_END"));
    let t = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(t.status, "TASK_STATUS_COMPLETED");
    assert_eq!(t.result, "Hello, world!");
    assert_eq!(t.provider.as_deref(), Some("openai"));
    assert_eq!(t.model_used.as_deref(), Some("gpt-4.1-mini"));
    let usage = t.usage.unwrap();
    assert_eq!(usage.total_tokens, Some(1_500_000));
    // gpt-4.1-mini: $0.40 / M input + $1.60 / M output.
    assert!((usage.estimated_cost.unwrap() - 1.2).abs() < 1e-9);
    assert_eq!(t.metadata["model_breakdown"][0]["provider"], "openai");
    assert_eq!(t.metadata["model_breakdown"][0]["percentage"], 100);
    let req = &r.fake.requests()[0];
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(req.body["stream_options"]["include_usage"], true);
    assert_eq!(
        req.body["messages"][0],
        json!({"role": "system", "content": "You are terse."})
    );
    assert!((req.body["temperature"].as_f64().unwrap() - 0.2).abs() < 1e-6);
    // The key was used, and the session's totals include the task.
    assert!(
        r.core
            .get_provider_key(&r.me, "openai")
            .await
            .unwrap()
            .last_used_at
            .is_some()
    );
    let s = r
        .core
        .get_session(&r.me, t.session_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(s.tokens_used, 1_500_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_answer_with_cache_tokens() {
    let r = rig("anthropic").await;
    r.fake.push(Scripted::Stream(
        Reply::text(["Bonjour", " à tous"])
            .model("claude-sonnet-4-5")
            .usage(FakeUsage::new(100, 20).cached(1000, 50)),
    ));
    let id = r
        .submit_body(
            json!({"query": "Greet", "provider_override": "anthropic", "model_tier": "medium"}),
        )
        .await;
    r.finished(&id).await;
    let t = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(t.status, "TASK_STATUS_COMPLETED", "{:?}", t.error);
    assert_eq!(t.result, "Bonjour à tous");
    assert_eq!(t.metadata["cache_read_tokens"], 1000);
    assert_eq!(t.metadata["cache_creation_tokens"], 50);
    assert_eq!(t.usage.unwrap().total_tokens, Some(1170));
    let req = &r.fake.requests()[0];
    assert_eq!(req.header("x-api-key"), Some(KEY));
    assert_eq!(req.body["model"], "claude-sonnet-4-5");
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_calls_run_through_the_registry_on_both_protocols() {
    for provider in ["openai", "anthropic"] {
        let r = rig(provider).await;
        r.fake.push(Scripted::Stream(
            Reply::text(["Let me compute."]).tool_call(
                "call_1",
                "calculator",
                ["{\"expression\":", " \"6 * 7\"}"],
            ),
        ));
        r.fake
            .push(Scripted::Stream(Reply::text(["The answer is ", "42."])));
        let id = r
            .submit_body(
                json!({"query": "What is 6 times 7?", "provider_override": provider,
                           "context": {"tools_to_use": ["calculator"]}}),
            )
            .await;
        let events = r.finished(&id).await;
        let t = r.core.get_task(&r.me, &id).await.unwrap();
        assert_eq!(
            t.status, "TASK_STATUS_COMPLETED",
            "{provider}: {:?}",
            t.error
        );
        assert_eq!(t.result, "The answer is 42.");
        let invoked = events
            .iter()
            .find(|e| e.event_type == "TOOL_INVOKED")
            .unwrap();
        assert_eq!(invoked.payload.as_ref().unwrap()["tool"], "calculator");
        assert_eq!(
            invoked.payload.as_ref().unwrap()["params"]["expression"],
            "6 * 7"
        );
        let observed = events
            .iter()
            .find(|e| e.event_type == "TOOL_OBSERVATION")
            .unwrap();
        assert_eq!(observed.payload.as_ref().unwrap()["success"], true);
        assert_eq!(observed.message.as_deref(), Some("42"));
        let reqs = r.fake.requests();
        assert_eq!(reqs.len(), 2);
        assert!(
            reqs[0].body["tools"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t.to_string().contains("calculator"))
        );
        // The tool's result went back to the model.
        assert!(
            reqs[1].body["messages"].to_string().contains("42"),
            "{provider}"
        );
        assert_eq!(t.metadata["model_breakdown"][0]["executions"], 2);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_then_success_is_retried() {
    let r = rig("openai").await;
    r.fake.push(Scripted::Status(429, Some("0".into())));
    r.fake.push(Scripted::Stream(Reply::text(["ok"])));
    let id = r
        .submit_body(json!({"query": "q", "provider_override": "openai"}))
        .await;
    r.finished(&id).await;
    assert_eq!(r.status(&id).await, "TASK_STATUS_COMPLETED");
    assert_eq!(r.fake.request_count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storm_of_500s_fails_cleanly() {
    let r = rig("openai").await;
    r.fake.push_n(Scripted::Status(500, Some("0".into())), 10);
    let id = r
        .submit_body(json!({"query": "q", "provider_override": "openai"}))
        .await;
    let events = r.finished(&id).await;
    let t = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(t.status, "TASK_STATUS_FAILED");
    assert!(
        t.error.as_deref().unwrap().contains("after 4 attempts"),
        "{:?}",
        t.error
    );
    assert!(!t.error.as_deref().unwrap().contains(KEY));
    let ty = types(&events);
    assert_eq!(
        &ty[ty.len() - 3..],
        ["ERROR_OCCURRED", "WORKFLOW_FAILED", "STREAM_END"]
    );
    assert_eq!(r.fake.request_count(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_chunks_and_resets_fail_the_task_without_retrying() {
    let r = rig("openai").await;
    r.fake.push(Scripted::Malformed);
    let id = r
        .submit_body(json!({"query": "q", "provider_override": "openai"}))
        .await;
    r.finished(&id).await;
    let t = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(t.status, "TASK_STATUS_FAILED");
    assert!(t.error.unwrap().contains("malformed"));

    r.fake.push(Scripted::ResetMidStream(Reply::text([
        "partial ", "answer",
    ])));
    let id = r
        .submit_body(json!({"query": "q2", "provider_override": "openai"}))
        .await;
    r.finished(&id).await;
    let t = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(t.status, "TASK_STATUS_FAILED");
    assert_eq!(r.fake.request_count(), 2, "a broken stream is not retried");
    // "partial answer" was streamed before the reset: its estimate (4 characters a token) is counted.
    assert_eq!(t.usage.unwrap().output_tokens, Some(4));
}

fn slow_reply() -> Scripted {
    let words: Vec<String> = (0..40).map(|i| format!("word{i} ")).collect();
    Scripted::Slow(Reply::text(words), Duration::from_millis(25))
}

/// A task on a slow 40-word stream, once its first delta has arrived, with its live events.
async fn streaming_slowly() -> (Rig, String, TaskSubscription) {
    let r = rig("openai").await;
    r.fake.push(slow_reply());
    let id = r
        .submit_body(json!({"query": "q", "provider_override": "openai"}))
        .await;
    let mut rx = r.core.live_events(&r.me, &id).await.unwrap();
    wait_for(&mut rx, "LLM_PARTIAL").await;
    (r, id, rx)
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_in_the_middle_of_a_slow_stream() {
    let (r, id, mut rx) = streaming_slowly().await;
    r.core.cancel_task(&r.me, &id, None).await.unwrap();
    let cancelled = wait_for(&mut rx, "WORKFLOW_CANCELLED").await;
    assert_eq!(cancelled.payload.unwrap()["checkpoint"], "llm_stream");
    r.finished(&id).await;
    let t = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(t.status, "TASK_STATUS_CANCELLED");
    assert!(!t.result.contains("word39"), "the stream was cut off");
    // The provider billed what it streamed before the cancel: the task shows it.
    let usage = t.usage.expect("the streamed tokens are counted");
    assert!(usage.output_tokens.unwrap_or(0) > 0, "{usage:?}");
    assert!(t.model_used.is_some());
    assert_eq!(t.metadata["model_breakdown"][0]["executions"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_past_its_time_limit_ends_timeout() {
    let (r, id, _live) = streaming_slowly().await;
    r.core
        .time_out_task(&r.me, &id, Duration::from_secs(1))
        .await
        .unwrap();
    let events = r.finished(&id).await;
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert!(
        types.ends_with(&["ERROR_OCCURRED", "WORKFLOW_FAILED", "STREAM_END"]),
        "{types:?}"
    );
    let t = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(t.status, "TASK_STATUS_TIMEOUT");
    assert_eq!(
        t.error.as_deref(),
        Some("timeout: the run exceeded its 1 s limit")
    );
    // Timing out a finished task changes nothing.
    r.core
        .time_out_task(&r.me, &id, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(r.status(&id).await, "TASK_STATUS_TIMEOUT");
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_mid_answer_holds_the_text_at_once_and_resume_releases_it_first() {
    let r = rig("anthropic").await;
    let words: Vec<String> = (0..80).map(|i| format!("word{i} ")).collect();
    let answer: String = words.concat();
    r.fake.push(Scripted::Slow(
        Reply::text(words),
        Duration::from_millis(25),
    ));
    let id = r
        .submit_body(json!({"query": "q", "provider_override": "anthropic"}))
        .await;
    let mut rx = r.core.subscribe_task(&r.me, &id, None, None).await.unwrap();
    let mut seen = vec![wait_for(&mut rx, "LLM_PARTIAL").await];
    r.core.pause_task(&r.me, &id, None).await.unwrap();
    // Whatever was visible when the pause answered; nothing after it may arrive until the resume.
    let at_pause = r.core.live_events(&r.me, &id).await.unwrap().position();
    let paused = loop {
        let e = rx.next().await.expect("stream closed");
        if e.event_type == "LLM_PARTIAL" {
            assert!(e.pos() <= at_pause, "a delta after the pause: {e:?}");
        }
        seen.push(e.clone());
        if e.event_type == "WORKFLOW_PAUSED" {
            break e;
        }
    };
    assert_eq!(paused.payload.unwrap()["checkpoint"], "llm_stream");
    assert_eq!(
        r.fake.streams_sent(),
        0,
        "WORKFLOW_PAUSED arrives while the provider is still streaming"
    );
    assert_eq!(r.status(&id).await, "TASK_STATUS_PAUSED");
    // The provider finishes its answer into the hold; the subscriber hears nothing of it.
    tokio::time::timeout(Duration::from_secs(30), async {
        while r.fake.streams_sent() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the provider's stream ended");
    let quiet = tokio::time::timeout(Duration::from_millis(300), rx.next()).await;
    assert!(quiet.is_err(), "nothing arrives while paused: {quiet:?}");

    r.core.resume_task(&r.me, &id, None).await.unwrap();
    let mut rest = Vec::new();
    while let Some(e) = rx.next().await {
        rest.push(e);
    }
    let types: Vec<&str> = rest.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types[..2], ["WORKFLOW_RESUMED", "LLM_PARTIAL"], "{types:?}");
    seen.extend(rest);
    let streamed: String = seen
        .iter()
        .filter(|e| e.event_type == "LLM_PARTIAL")
        .filter_map(|e| e.message.clone())
        .collect();
    assert_eq!(streamed, answer, "the held text is released whole");
    let t = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(t.status, "TASK_STATUS_COMPLETED");
    assert_eq!(t.result, answer);
    assert_eq!(r.fake.requests().len(), 1, "the provider was called once");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_while_paused_mid_answer() {
    let r = rig("anthropic").await;
    r.fake.push(slow_reply());
    let id = r
        .submit_body(json!({"query": "q", "provider_override": "anthropic"}))
        .await;
    let mut rx = r.core.live_events(&r.me, &id).await.unwrap();
    wait_for(&mut rx, "LLM_PARTIAL").await;
    r.core.pause_task(&r.me, &id, None).await.unwrap();
    wait_for(&mut rx, "WORKFLOW_PAUSED").await;
    r.core
        .cancel_task(&r.me, &id, Some("no longer needed".into()))
        .await
        .unwrap();
    let cancelled = wait_for(&mut rx, "WORKFLOW_CANCELLED").await;
    assert_eq!(cancelled.payload.unwrap()["was_paused"], true);
    r.finished(&id).await;
    assert_eq!(r.status(&id).await, "TASK_STATUS_CANCELLED");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_budget_overrun_warns_then_stops_the_task() {
    let r = rig("openai").await;
    r.fake.push(Scripted::Stream(
        Reply::text(["Let me check."])
            .tool_call("c1", "clock", ["{}"])
            .usage(FakeUsage::new(70, 15)),
    ));
    r.fake.push(Scripted::Stream(
        Reply::text(["It is late."]).usage(FakeUsage::new(90, 10)),
    ));
    let id = r
        .submit_body(
            json!({"query": "What time is it?", "provider_override": "openai",
                       "context": {"tools_to_use": ["clock"], "token_budget": 100}}),
        )
        .await;
    let events = r.finished(&id).await;
    let warning = events
        .iter()
        .find(|e| e.event_type == "BUDGET_THRESHOLD")
        .expect("a warning first");
    let p = warning.payload.as_ref().unwrap();
    assert_eq!(p["level"], "warning");
    assert_eq!(p["tokens_budget"], 100);
    assert_eq!(p["tokens_used"], 85);
    let t = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(t.status, "TASK_STATUS_FAILED");
    assert!(t.error.unwrap().contains("token budget exceeded"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_fails_with_a_clear_error() {
    let r = rig("openai").await;
    r.fake.push(Scripted::Status(401, None));
    let id = r
        .submit_body(json!({"query": "q", "provider_override": "openai"}))
        .await;
    r.finished(&id).await;
    let t = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(t.status, "TASK_STATUS_FAILED");
    assert!(t.error.as_deref().unwrap().contains("401"), "{:?}", t.error);
    assert_eq!(r.fake.request_count(), 1);
}
