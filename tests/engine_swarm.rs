//! The swarm against a scripted fake lead and agents: a task board the lead creates, two agents in
//! their own loops (a tool, a message to the lead, a workspace entry), a user message sent over HTTP
//! mid-run that reaches the lead's next decision, and the synthesis.

#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/rig.rs"]
mod rig;

use std::time::Duration;

use fake_provider::{Reply, Scripted};
use rig::{Rig, rig};
use serde_json::{Value, json};
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::streams::TaskEvent;

const TOKEN: &str = "swarm-test-token-0123456789abcdef0123456789";

fn reply(v: Value) -> Scripted {
    Scripted::Stream(Reply::text([v.to_string()]))
}

fn of<'a>(events: &'a [TaskEvent], t: &str) -> Vec<&'a TaskEvent> {
    events.iter().filter(|e| e.event_type == t).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_swarm_plans_a_board_runs_two_agents_hears_the_user_and_synthesizes() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let r = rig("openai").await;
    r.fake.route(
        "You lead a team",
        reply(
            json!({"decision_summary": "two lookups", "user_summary": "Splitting the work in two",
            "actions": [
                {"type": "revise_plan", "create": [
                    {"id": "t-1", "description": "Find the capital of France"},
                    {"id": "t-2", "description": "Find the capital of Spain"}]},
                {"type": "spawn_agent", "role": "researcher", "task_id": "t-1"},
                {"type": "spawn_agent", "role": "analyst", "task_id": "t-2"}]}),
        ),
    );
    r.fake.route(
        "Your task [t-1]",
        reply(json!({"action": "publish_data", "topic": "france", "content": "Paris"})),
    );
    r.fake.route(
        "Your task [t-1]",
        reply(json!({"action": "done", "summary": "The capital of France is Paris."})),
    );
    // The second agent is slow, so the user's message arrives while the round runs.
    r.fake.route(
        "Your task [t-2]",
        Scripted::Delayed(
            Duration::from_millis(800),
            Box::new(reply(json!({"action": "tool_call", "tool": "calculator",
                                  "tool_params": {"expression": "2+2"}, "thought": "check the count"}))),
        ),
    );
    r.fake.route(
        "Your task [t-2]",
        reply(
            json!({"action": "send_message", "to": "lead", "content": "Madrid, almost certainly"}),
        ),
    );
    r.fake.route(
        "Your task [t-2]",
        reply(json!({"action": "done", "summary": "The capital of Spain is Madrid."})),
    );
    r.fake.route(
        "You lead a team",
        reply(json!({"decision_summary": "both done", "actions": [{"type": "synthesize"}]})),
    );
    r.fake.route(
        "combine the findings",
        Scripted::Stream(Reply::text(["Paris and Madrid."])),
    );
    let listener = r.listen(TOKEN).await;
    let url = format!("http://{}", listener.addr());

    let id = r
        .submit_in(
            "standard",
            "Capitals of France and Spain?",
            json!({"force_swarm": true}),
        )
        .await;
    let mut sub = r.core.subscribe_task(&r.me, &id, None, None).await.unwrap();
    let mut events = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(e) = sub.next().await {
            let started = e.event_type == "AGENT_STARTED";
            events.push(e);
            if started && of(&events, "AGENT_STARTED").len() == 2 {
                break;
            }
        }
    })
    .await
    .unwrap();
    let sent = reqwest::Client::new()
        .post(format!("{url}/api/v1/swarm/{id}/message"))
        .bearer_auth(TOKEN)
        .json(&json!({"message": "Mention the rivers too"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    assert_eq!(sent.json::<Value>().await.unwrap()["status"], "sent");
    events.extend(Rig::rest(&mut sub).await);

    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_COMPLETED", "{:?}", task.error);
    assert_eq!(task.result, "Paris and Madrid.");
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert!(events.iter().any(
        |e| e.event_type == "DELEGATION" && e.message.as_deref() == Some("Assembling the team")
    ));
    // The board: created, then both tasks completed; every update carries the whole list.
    let boards = of(&events, "TASKLIST_UPDATED");
    let last = boards.last().unwrap().payload.as_ref().unwrap()["tasks"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(last.len(), 2);
    assert!(last.iter().all(|t| t["status"] == "completed"), "{last:?}");
    assert!(
        boards[0].payload.as_ref().unwrap()["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "in_progress")
    );
    // The agents worked in their loops.
    let agents: Vec<&str> = of(&events, "AGENT_STARTED")
        .iter()
        .filter_map(|e| e.agent_id.as_deref())
        .collect();
    assert_eq!(agents.len(), 2);
    assert_ne!(agents[0], agents[1]);
    assert_eq!(of(&events, "WORKSPACE_UPDATED").len(), 1);
    assert_eq!(
        of(&events, "TOOL_OBSERVATION")[0].message.as_deref(),
        Some("4")
    );
    let to_lead = of(&events, "MESSAGE_RECEIVED");
    assert!(
        to_lead
            .iter()
            .any(|e| e.agent_id.as_deref() == Some("lead"))
    );
    assert_eq!(of(&events, "LEAD_DECISION").len(), 2, "{types:?}");
    let heard = of(&events, "HITL_RESPONSE");
    assert_eq!(heard.len(), 1);
    assert_eq!(
        heard[0].payload.as_ref().unwrap()["messages"],
        json!(["Mention the rivers too"])
    );
    // The lead's second decision saw the user's message and the agent's.
    let leads: Vec<String> = r
        .fake
        .requests()
        .iter()
        .map(|q| q.body.to_string())
        .filter(|b| b.contains("You lead a team"))
        .collect();
    assert_eq!(leads.len(), 2);
    assert!(
        leads[1].contains("Mention the rivers too")
            && leads[1].contains("Madrid, almost certainly")
    );
    assert!(!leads[0].contains("Mention the rivers too"));
    let synthesis: Vec<String> = r
        .fake
        .requests()
        .iter()
        .map(|q| q.body.to_string())
        .filter(|b| b.contains("combine the findings"))
        .collect();
    assert!(
        synthesis[0].contains("The capital of France is Paris.")
            && synthesis[0].contains("Madrid.")
    );
    assert_eq!(task.metadata["workflow_type"], "swarm");
    assert_eq!(task.metadata["total_agents"], 2);
    assert_eq!(task.metadata["tasks"]["completed"], 2);

    // The user's message is part of the session's history: the next turn sees it.
    r.fake
        .route("Anything else?", Scripted::Stream(Reply::text(["No."])));
    let session = task.session_id.clone().unwrap();
    let next = r
        .submit_body(
            json!({"query": "Anything else?", "mode": "simple", "provider_override": "openai",
                            "session_id": session}),
        )
        .await;
    let mut sub = r
        .core
        .subscribe_task(&r.me, &next, None, None)
        .await
        .unwrap();
    Rig::rest(&mut sub).await;
    let body = r.fake.requests().last().unwrap().body.to_string();
    assert!(
        body.contains("Capitals of France and Spain?") && body.contains("Mention the rivers too"),
        "{body}"
    );

    // The route refuses another user's task and a task that is not a running swarm.
    let stranger = Caller {
        user_id: "someone-else".into(),
        ..Caller::embedded()
    };
    assert_eq!(
        r.core
            .send_swarm_message(&stranger, &id, "hi")
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );
    assert_eq!(
        r.core
            .send_swarm_message(&r.me, &id, "hi")
            .await
            .unwrap_err()
            .code(),
        "conflict"
    );
    assert_eq!(
        r.core
            .send_swarm_message(&r.me, &id, " ")
            .await
            .unwrap_err()
            .code(),
        "invalid_request"
    );
}
