//! Approvals against a scripted fake provider: the plan gate (approve by the id read from the
//! stream, deny, time out, another user's 404, a second decision's 409), over the core and over
//! real HTTP; and tool-call approval (the arguments shown, "for this session" letting the next call
//! through, a denial reaching the model as a tool error).

#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/rig.rs"]
mod rig;

use std::time::Duration;

use fake_provider::{Reply, Scripted};
use rig::{Rig, rig};
use serde_json::{Value, json};
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::hitl::approvals::{
    ApprovalDecision, ApprovalPolicy, ApprovalScope,
};
use tauri_plugin_shannon::core::streams::{TaskEvent, TaskSubscription};

const TOKEN: &str = "approvals-test-token-0123456789abcdef012345";

fn answer(text: &str) -> Scripted {
    Scripted::Stream(Reply::text([text]))
}

fn plan() -> Scripted {
    let plan = json!({"complexity_score": 0.6, "subtasks": [
        {"id": "a", "description": "Look at alpha"}, {"id": "b", "description": "Look at beta"}]});
    Scripted::Stream(Reply::text([plan.to_string()]))
}

/// Events until the first of type `t` (bounded).
async fn until(sub: &mut TaskSubscription, t: &str) -> TaskEvent {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let e = sub.next().await.expect("the stream ended first");
            if e.event_type == t {
                return e;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {t}"))
}

fn decision(wf: &str, id: &str, approved: bool) -> ApprovalDecision {
    ApprovalDecision {
        workflow_id: wf.into(),
        approval_id: id.into(),
        approved,
        ..ApprovalDecision::default()
    }
}

impl Rig {
    async fn waiting(
        &self,
        mode: &str,
        query: &str,
        ctx: Value,
    ) -> (String, TaskSubscription, Value) {
        let id = self.submit_in(mode, query, ctx).await;
        let mut sub = self
            .core
            .subscribe_task(&self.me, &id, None, None)
            .await
            .unwrap();
        let asked = until(&mut sub, "APPROVAL_REQUESTED").await;
        (id, sub, asked.payload.unwrap())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_waits_for_its_approval_and_runs_once_approved() {
    let r = rig("openai").await;
    r.fake.route("planning assistant", plan());
    r.fake.route("Look at alpha", answer("alpha "));
    r.fake.route("Look at beta", answer("beta "));
    r.fake
        .route("Results of the team", answer("alpha and beta "));
    let (id, mut sub, asked) = r
        .waiting(
            "complex",
            "Alpha and beta?",
            json!({"require_approval": true}),
        )
        .await;
    // The payload lets a client answer from the stream.
    let approval_id = asked["approval_id"].as_str().unwrap().to_string();
    assert_eq!(asked["kind"], "plan");
    assert_eq!(asked["plan"].as_array().unwrap().len(), 2);
    assert!(asked["expires_at"].as_str().is_some());
    // Nothing ran yet (the agents start only after the gate), and the approval is listed as pending.
    assert!(
        r.fake
            .requests()
            .iter()
            .all(|q| !q.body.to_string().contains("Look at"))
    );
    let pending = r.core.list_approvals(&r.me, None).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].approval_id, approval_id);

    // Another user's decision is a 404; the owner's goes through; a second one is a 409.
    let stranger = Caller {
        user_id: "someone-else".into(),
        ..Caller::embedded()
    };
    let err = r
        .core
        .decide_approval(&stranger, decision(&id, &approval_id, true))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    let sent = r
        .core
        .decide_approval(&r.me, decision(&id, &approval_id, true))
        .await
        .unwrap();
    assert_eq!((sent.status.as_str(), sent.success), ("sent", true));
    let err = r
        .core
        .decide_approval(&r.me, decision(&id, &approval_id, false))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "conflict");

    let said = until(&mut sub, "APPROVAL_DECISION").await;
    assert_eq!(said.message.as_deref(), Some("Approved — continuing"));
    let rest = Rig::rest(&mut sub).await;
    assert!(rest.iter().any(|e| e.event_type == "WORKFLOW_COMPLETED"));
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.result, "alpha and beta ");
    assert!(r.core.list_approvals(&r.me, None).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_or_unanswered_plan_fails_with_the_reason() {
    let r = rig("openai").await;
    r.fake.route("planning assistant", plan());
    let (id, mut sub, asked) = r
        .waiting(
            "complex",
            "Alpha and beta?",
            json!({"require_approval": true}),
        )
        .await;
    let mut no = decision(&id, asked["approval_id"].as_str().unwrap(), false);
    no.feedback = Some("not today".into());
    r.core.decide_approval(&r.me, no).await.unwrap();
    Rig::rest(&mut sub).await;
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_FAILED");
    assert_eq!(task.error.as_deref(), Some("approval denied: not today"));

    // A one-agent task asks too, and gives up when nobody answers in time.
    let (id, mut sub, _) = r
        .waiting(
            "simple",
            "Hello?",
            json!({"require_approval": true, "approval_timeout": 1}),
        )
        .await;
    let said = until(&mut sub, "APPROVAL_DECISION").await;
    assert_eq!(said.payload.unwrap()["status"], "expired");
    Rig::rest(&mut sub).await;
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_FAILED");
    assert_eq!(
        task.error.as_deref(),
        Some("approval denied: approval timeout")
    );
    let expired = r
        .core
        .list_approvals(&r.me, Some("expired".into()))
        .await
        .unwrap();
    assert_eq!(expired.len(), 1);
    assert!(
        r.fake
            .requests()
            .iter()
            .all(|q| !q.body.to_string().contains("Hello?"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dangerous_tool_call_asks_and_a_session_grant_lets_the_next_through() {
    let r = rig("openai").await;
    r.core
        .set_approval_policy(ApprovalPolicy {
            dangerous_tools: vec!["calculator".into()],
            ..ApprovalPolicy::default()
        })
        .unwrap();
    let calc = |expr: &str| {
        Scripted::Stream(Reply::text(["Computing."]).tool_call(
            "c1",
            "calculator",
            [json!({"expression": expr}).to_string()],
        ))
    };
    r.fake.push(calc("6*7")).push(answer("It is 42."));
    let ctx = json!({"tools_to_use": ["calculator"]});
    let body = |q: &str, session: &str| {
        json!({"query": q, "mode": "standard", "provider_override": "openai",
               "session_id": session, "context": ctx})
    };
    let id = r.submit_body(body("What is 6*7?", "s-1")).await;
    let mut sub = r.core.subscribe_task(&r.me, &id, None, None).await.unwrap();
    let asked = until(&mut sub, "APPROVAL_REQUESTED").await;
    assert_eq!(asked.agent_id.as_deref(), Some("react-agent"));
    let p = asked.payload.unwrap();
    assert_eq!(
        (p["kind"].as_str(), p["tool"].as_str()),
        (Some("tool"), Some("calculator"))
    );
    assert_eq!(p["arguments"], json!({"expression": "6*7"}));
    let mut yes = decision(&id, p["approval_id"].as_str().unwrap(), true);
    yes.scope = Some(ApprovalScope::Session);
    r.core.decide_approval(&r.me, yes).await.unwrap();
    let rest = Rig::rest(&mut sub).await;
    let observed = rest
        .iter()
        .find(|e| e.event_type == "TOOL_OBSERVATION")
        .unwrap();
    assert_eq!(observed.message.as_deref(), Some("42"));
    assert_eq!(
        r.core.get_task(&r.me, &id).await.unwrap().result,
        "It is 42."
    );
    let session = r.core.get_task(&r.me, &id).await.unwrap().session_id;
    let grants = r.core.list_tool_grants(&r.me).await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(
        (grants[0].tool.as_str(), &grants[0].session_id),
        ("calculator", &session)
    );

    // The same session: no question. Another session: asked again, and denied.
    r.fake.push(calc("2+2")).push(answer("It is 4."));
    let (id, events) = {
        let id = r.submit_body(body("What is 2+2?", "s-1")).await;
        let mut sub = r.core.subscribe_task(&r.me, &id, None, None).await.unwrap();
        (id.clone(), Rig::rest(&mut sub).await)
    };
    assert!(events.iter().all(|e| e.event_type != "APPROVAL_REQUESTED"));
    assert_eq!(
        r.core.get_task(&r.me, &id).await.unwrap().result,
        "It is 4."
    );

    r.fake
        .push(calc("9*9"))
        .push(answer("I was not allowed to compute it."));
    let id = r.submit_body(body("What is 9*9?", "s-2")).await;
    let mut sub = r.core.subscribe_task(&r.me, &id, None, None).await.unwrap();
    let p = until(&mut sub, "APPROVAL_REQUESTED").await.payload.unwrap();
    let mut no = decision(&id, p["approval_id"].as_str().unwrap(), false);
    no.feedback = Some("no arithmetic today".into());
    r.core.decide_approval(&r.me, no).await.unwrap();
    Rig::rest(&mut sub).await;
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_COMPLETED", "the run goes on");
    let last = r.fake.requests().last().unwrap().body.to_string();
    assert!(
        last.contains("The user denied this call to calculator: no arithmetic today"),
        "{last}"
    );

    r.core
        .revoke_tool_grant(&r.me, "calculator", session)
        .await
        .unwrap();
    assert!(r.core.list_tool_grants(&r.me).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn over_http_a_client_approves_by_the_id_in_the_sse_stream() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let r = rig("openai").await;
    r.fake.route("planning assistant", plan());
    r.fake.route("Look at alpha", answer("alpha "));
    r.fake.route("Look at beta", answer("beta "));
    r.fake.route("Results of the team", answer("both "));
    let listener = r.listen(TOKEN).await;
    let url = format!("http://{}", listener.addr());
    let http = reqwest::Client::new();
    let submitted: Value = http
        .post(format!("{url}/api/v1/tasks"))
        .bearer_auth(TOKEN)
        .json(
            &json!({"query": "Alpha and beta?", "mode": "complex", "provider_override": "openai",
                      "context": {"require_approval": true}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wf = submitted["workflow_id"].as_str().unwrap().to_string();
    // Read the SSE stream until the request, as a client would.
    let mut sse = http
        .get(format!("{url}/api/v1/stream/sse?workflow_id={wf}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    let approval_id = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            text.push_str(&String::from_utf8_lossy(
                &sse.chunk().await.unwrap().unwrap(),
            ));
            if let Some(line) = text
                .lines()
                .find(|l| l.starts_with("data:") && l.contains("APPROVAL_REQUESTED"))
            {
                let e: Value =
                    serde_json::from_str(line.trim_start_matches("data:").trim()).unwrap();
                let id = e["payload"]["approval_id"].as_str().unwrap().to_string();
                // The payload is kept, and the message names the same id as `id=<uuid>`, the
                // form the official SDK's approval example reads (its `Event` has no payload).
                let message = e["message"].as_str().unwrap();
                assert!(message.starts_with("Needs "), "{message}");
                assert!(message.ends_with(&format!("(id={id})")), "{message}");
                assert_eq!(id.len(), 36, "a hyphenated UUID: {id}");
                assert!(
                    id.chars()
                        .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)),
                    "lower-case hex, as the example's pattern id=([a-f0-9-]{{36}}): {id}"
                );
                return id;
            }
        }
    })
    .await
    .unwrap();
    let pending = Rig::get_json(&format!("{url}/api/v1/approvals"), TOKEN).await;
    assert_eq!(pending[0]["approval_id"], approval_id.as_str());
    let post = |body: Value| {
        http.post(format!("{url}/api/v1/approvals/decision"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let body = json!({"workflow_id": wf, "approval_id": approval_id, "approved": true});
    let ok = post(body.clone()).await.unwrap();
    assert_eq!(ok.status(), 200);
    let ok: Value = ok.json().await.unwrap();
    assert_eq!(
        (ok["status"].as_str(), ok["approval_id"].as_str()),
        (Some("sent"), Some(approval_id.as_str()))
    );
    assert_eq!(post(body).await.unwrap().status(), 409);
    let unknown = json!({"workflow_id": wf, "approval_id": "nope", "approved": true});
    assert_eq!(post(unknown).await.unwrap().status(), 404);
    assert_eq!(
        post(json!({"workflow_id": wf, "approved": true}))
            .await
            .unwrap()
            .status(),
        400
    );
    // The task completes: its stream ends, and the route shows the answer.
    let mut sub = r.core.subscribe_task(&r.me, &wf, None, None).await.unwrap();
    Rig::rest(&mut sub).await;
    let task = Rig::get_json(&format!("{url}/api/v1/tasks/{wf}"), TOKEN).await;
    assert_eq!(task["status"], "TASK_STATUS_COMPLETED");
    assert_eq!(task["result"], "both ");
}
