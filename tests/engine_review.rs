//! Research plan review against a scripted fake provider, over real HTTP: the plan is ready, a
//! feedback round revises it (round and version grow, the ETag changes), a stale If-Match is a 409,
//! approving the current version runs the research with the confirmed plan; the 11th round, an
//! empty plan, another user's task and a review nobody answers are refused or fail as documented.

#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/rig.rs"]
mod rig;

use std::time::Duration;

use fake_provider::{Reply, Scripted};
use rig::{Rig, rig};
use serde_json::{Value, json};
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::hitl::reviews::ReviewAction;
use tauri_plugin_shannon::core::streams::TaskSubscription;

const TOKEN: &str = "review-test-token-0123456789abcdef0123456789";

fn answer(text: &str) -> Scripted {
    Scripted::Stream(Reply::text([text]))
}

async fn until(sub: &mut TaskSubscription, t: &str) {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if sub.next().await.expect("the stream ended first").event_type == t {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {t}"));
}

fn research() -> Value {
    json!({"force_research": true, "require_review": true})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reviewed_plan_is_revised_then_approved_and_the_research_uses_it() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let r = rig("openai").await;
    r.fake.route(
        "intake analyst",
        answer("Plan v1: look at solar. [INTENT:ready]"),
    );
    r.fake.route(
        "intake analyst",
        answer("Plan v2: solar and wind. [INTENT:ready]"),
    );
    // No search API is set up: the research answers from the model, with the confirmed plan.
    r.fake.route(
        "no web search is available",
        answer("Solar and wind both help. "),
    );
    let listener = r.listen(TOKEN).await;
    let url = format!("http://{}", listener.addr());
    let http = reqwest::Client::new();

    let id = r.submit_in("standard", "Renewables?", research()).await;
    let mut sub = r.core.subscribe_task(&r.me, &id, None, None).await.unwrap();
    until(&mut sub, "RESEARCH_PLAN_READY").await;
    let review = format!("{url}/api/v1/tasks/{id}/review");
    let got = http.get(&review).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(got.headers()["etag"], "1");
    let state: Value = got.json().await.unwrap();
    assert_eq!(
        (
            state["status"].as_str(),
            state["round"].as_i64(),
            state["version"].as_i64()
        ),
        (Some("reviewing"), Some(1), Some(1))
    );
    assert_eq!(state["current_plan"], "Plan v1: look at solar.");
    assert_eq!(state["query"], "Renewables?");

    let post = |body: Value, if_match: &str| {
        http.post(&review)
            .bearer_auth(TOKEN)
            .header("If-Match", if_match)
            .json(&body)
            .send()
    };
    let revised = post(json!({"action": "feedback", "message": "Add wind"}), "1")
        .await
        .unwrap();
    assert_eq!(revised.status(), 200);
    assert_eq!(revised.headers()["etag"], "2");
    let revised: Value = revised.json().await.unwrap();
    assert_eq!(revised["status"], "reviewing");
    assert_eq!(revised["plan"]["message"], "Plan v2: solar and wind.");
    assert_eq!(
        (
            revised["plan"]["round"].as_i64(),
            revised["plan"]["version"].as_i64()
        ),
        (Some(2), Some(2))
    );
    // And flat, as the official SDK's `submit_review_feedback` reads it.
    assert_eq!(revised["current_plan"], "Plan v2: solar and wind.");
    assert_eq!(
        (revised["round"].as_i64(), revised["version"].as_i64()),
        (Some(2), Some(2))
    );
    let rounds = revised["rounds"].as_array().unwrap();
    assert_eq!(rounds.last().unwrap()["role"], "assistant", "{rounds:?}");
    assert!(
        rounds
            .iter()
            .any(|r| r["role"] == "user" && r["message"] == "Add wind")
    );
    // A client that saw version 1 cannot approve what it did not read.
    let stale = post(json!({"action": "approve"}), "1").await.unwrap();
    assert_eq!(stale.status(), 409);
    assert_eq!(
        post(json!({"action": "dance"}), "2")
            .await
            .unwrap()
            .status(),
        400
    );
    let ok = post(json!({"action": "approve"}), "2").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.json::<Value>().await.unwrap()["message"],
        "Research started"
    );

    let rest = Rig::rest(&mut sub).await;
    let types: Vec<&str> = rest.iter().map(|e| e.event_type.as_str()).collect();
    let at = |t: &str| {
        types
            .iter()
            .position(|x| *x == t)
            .unwrap_or_else(|| panic!("{t} in {types:?}"))
    };
    assert!(at("REVIEW_USER_FEEDBACK") < at("RESEARCH_PLAN_UPDATED"));
    assert!(at("RESEARCH_PLAN_UPDATED") < at("RESEARCH_PLAN_APPROVED"));
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert!(
        task.result.ends_with("Solar and wind both help."),
        "{}",
        task.result
    );
    // The research followed the confirmed plan.
    let researcher = r
        .fake
        .requests()
        .into_iter()
        .map(|q| q.body.to_string())
        .find(|b| b.contains("no web search is available"))
        .unwrap();
    assert!(
        researcher.contains("Plan v2: solar and wind."),
        "{researcher}"
    );
    // The revision saw the conversation so far.
    let second = r
        .fake
        .requests()
        .into_iter()
        .map(|q| q.body.to_string())
        .filter(|b| b.contains("intake analyst"))
        .nth(1)
        .unwrap();
    assert!(
        second.contains("Plan v1: look at solar.")
            && second.contains("Add wind")
            && second.contains("round 2 of 10")
    );
    // Another user's task is not found.
    let stranger = Caller {
        user_id: "someone-else".into(),
        ..Caller::embedded()
    };
    assert_eq!(
        r.core.get_review(&stranger, &id).await.unwrap_err().code(),
        "not_found"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reviews_have_ten_rounds_need_a_plan_and_time_out() {
    let r = rig("openai").await;
    r.fake
        .set_fallback(answer("Another question? [INTENT:feedback]"));
    let id = r.submit_in("complex", "Batteries?", research()).await;
    let mut sub = r.core.subscribe_task(&r.me, &id, None, None).await.unwrap();
    until(&mut sub, "RESEARCH_PLAN_READY").await;
    let feedback = |n: usize| ReviewAction {
        action: "feedback".into(),
        message: Some(format!("more {n}")),
    };
    for n in 2..=10 {
        let v = r
            .core
            .post_review(&r.me, &id, feedback(n), None)
            .await
            .unwrap();
        assert_eq!(v.plan.unwrap().round, n as i64);
    }
    let state = r.core.get_review(&r.me, &id).await.unwrap();
    assert_eq!((state.round, state.version), (10, 10));
    assert_eq!(state.rounds.as_array().unwrap().len(), 19);
    let err = r
        .core
        .post_review(&r.me, &id, feedback(11), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "conflict");
    assert!(err.to_string().contains("Maximum review rounds"), "{err}");
    r.core.cancel_task(&r.me, &id, None).await.unwrap();

    // A plan that says nothing cannot be approved; a review nobody answers fails the task.
    r.fake.route("intake analyst", answer("[INTENT:feedback]"));
    let ctx = json!({"force_research": true, "review_plan": "manual", "review_timeout": 1});
    let id = r.submit_in("complex", "Hydrogen?", ctx).await;
    let mut sub = r.core.subscribe_task(&r.me, &id, None, None).await.unwrap();
    until(&mut sub, "RESEARCH_PLAN_READY").await;
    let approve = ReviewAction {
        action: "approve".into(),
        message: None,
    };
    assert_eq!(
        r.core
            .post_review(&r.me, &id, approve, None)
            .await
            .unwrap_err()
            .code(),
        "invalid_request"
    );
    Rig::rest(&mut sub).await;
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_FAILED");
    assert_eq!(
        task.error.as_deref(),
        Some("research plan review timed out")
    );
    assert_eq!(
        r.core.get_review(&r.me, &id).await.unwrap().status,
        "expired"
    );
}
