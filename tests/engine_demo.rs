//! The task engine on the offline demo provider: event order, sessions and memory, control at
//! checkpoints, validation, idempotency. Provider wire formats are covered in engine_providers.rs.

use std::time::Duration;

use serde_json::json;
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::streams::{TaskEvent, TaskSubscription};
use tauri_plugin_shannon::core::tasks::SubmitTaskRequest;
use tauri_plugin_shannon::core::tasks::read::ListTasksQuery;
use tauri_plugin_shannon::{Core, CoreConfig};

async fn core(dir: &std::path::Path) -> Core {
    Core::open(CoreConfig::new(dir)).await.unwrap()
}

fn request(v: serde_json::Value) -> SubmitTaskRequest {
    serde_json::from_value(v).unwrap()
}

/// Collects live events until STREAM_END (bounded, so a bug cannot hang the suite).
async fn until_end(rx: &mut TaskSubscription) -> Vec<TaskEvent> {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let e = rx.next().await.expect("event stream closed early");
            let end = e.event_type == "STREAM_END";
            out.push(e);
            if end {
                break;
            }
        }
    })
    .await
    .expect("the task did not finish in time");
    out
}

async fn wait_for(rx: &mut TaskSubscription, ty: &str) -> TaskEvent {
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let e = rx.next().await.expect("event stream closed early");
            if e.event_type == ty {
                return e;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {ty} event"))
}

fn types(events: &[TaskEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn simple_task_follows_the_contract_order_with_contiguous_seq() {
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path()).await;
    let me = Caller::embedded();
    let sub = core
        .submit_task(&me, request(json!({"query": "What is Shannon?"})), None)
        .await
        .unwrap();
    assert_eq!(sub.status, "STATUS_CODE_OK");
    assert!(
        sub.task_id
            .starts_with("task-00000000-0000-0000-0000-000000000002-")
    );
    let mut rx = core.live_events(&me, &sub.task_id).await.unwrap();
    let live = until_end(&mut rx).await;
    assert!(
        live.iter()
            .filter(|e| e.event_type == "LLM_PARTIAL")
            .count()
            > 5,
        "streams word by word"
    );

    let stored = core
        .get_task_events(&me, &sub.task_id, Some(200), None)
        .await
        .unwrap()
        .events;
    let seqs: Vec<u32> = stored.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=stored.len() as u32).collect::<Vec<_>>(),
        "contiguous seq"
    );
    assert_eq!(
        types(&stored),
        [
            "DATA_PROCESSING",
            "WORKFLOW_STARTED",
            "AGENT_STARTED",
            "AGENT_THINKING",
            "LLM_OUTPUT",
            "AGENT_COMPLETED",
            "LLM_OUTPUT",
            "WORKFLOW_COMPLETED",
            "STREAM_END"
        ]
    );
    assert_eq!(stored[6].agent_id.as_deref(), Some("final_output"));
    // Live: the prompt and the partials come between AGENT_THINKING and the agent's LLM_OUTPUT.
    let live_types = types(&live);
    let prompt = live_types.iter().position(|t| *t == "LLM_PROMPT").unwrap();
    let first_partial = live_types.iter().position(|t| *t == "LLM_PARTIAL").unwrap();
    let output = live_types.iter().position(|t| *t == "LLM_OUTPUT").unwrap();
    assert!(prompt < first_partial && first_partial < output);
    let streamed: String = live
        .iter()
        .filter(|e| e.event_type == "LLM_PARTIAL")
        .map(|e| e.message.clone().unwrap())
        .collect();

    let task = core.get_task(&me, &sub.task_id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_COMPLETED");
    assert_eq!(task.result, streamed, "the result is exactly what streamed");
    assert!(task.result.contains("Offline demo"));
    assert_eq!(task.provider.as_deref(), Some("demo"));
    assert_eq!(task.model_used.as_deref(), Some("shannon-demo"));
    assert!(task.usage.unwrap().total_tokens.unwrap() > 0);
    let breakdown = &task.metadata["model_breakdown"];
    assert_eq!(breakdown[0]["model"], "shannon-demo");
    assert_eq!(breakdown[0]["executions"], 1);
    assert_eq!(task.mode, "simple");
    assert!(task.completed_at.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_remember_earlier_turns_and_get_a_title() {
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path()).await;
    let me = Caller::embedded();
    let first = core
        .submit_task(
            &me,
            request(json!({"query": "My name is Ada.", "session_id": "chat-1"})),
            None,
        )
        .await
        .unwrap();
    let mut rx = core.live_events(&me, &first.task_id).await.unwrap();
    until_end(&mut rx).await;
    let second = core
        .submit_task(
            &me,
            request(json!({"query": "What is my name?", "session_id": "chat-1"})),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        first.session_id, second.session_id,
        "same session by external id"
    );
    let mut rx = core.live_events(&me, &second.task_id).await.unwrap();
    until_end(&mut rx).await;
    // The demo provider reports how many earlier messages it was given.
    let t2 = core.get_task(&me, &second.task_id).await.unwrap();
    assert!(t2.result.contains("2 earlier messages"), "{}", t2.result);

    let s = core.get_session(&me, "chat-1").await.unwrap();
    assert_eq!(s.session_id, first.session_id);
    assert_eq!(s.task_count, 2);
    assert_eq!(s.successful_tasks, 2);
    assert_eq!(s.title.as_deref(), Some("My name is Ada."));
    assert_eq!(s.context["external_id"], "chat-1");
    assert!(s.tokens_used > 0);
    let h = core.get_session_history(&me, &s.session_id).await.unwrap();
    assert_eq!(h.total, 2);
    assert_eq!(h.tasks[0].query, "My name is Ada.");
    let turns = core
        .get_session_events(&me, "chat-1", None, None, true)
        .await
        .unwrap();
    assert_eq!(turns.count, 2);
    assert!(turns.turns[0].final_output.is_some());
    assert!(
        turns.turns[0]
            .events
            .iter()
            .all(|e| e.event_type != "LLM_PARTIAL")
    );
    assert!(turns.turns[0].events.iter().any(|e| e.payload.is_some()));

    let renamed = core
        .rename_session(&me, "chat-1", "  Ada\u{200B} chat \u{7}")
        .await
        .unwrap();
    assert_eq!(renamed.title, "Ada chat");
    assert_eq!(
        core.rename_session(&me, "chat-1", "   ")
            .await
            .unwrap_err()
            .code(),
        "invalid_request"
    );
    assert!(
        core.rename_session(&me, "chat-1", &"x".repeat(61))
            .await
            .unwrap_err()
            .to_string()
            .contains("60")
    );
    let list = core.list_sessions(&me, None, None).await.unwrap();
    assert_eq!(list.total_count, 1);
    assert_eq!(list.sessions[0].title.as_deref(), Some("Ada chat"));

    core.delete_session(&me, "chat-1").await.unwrap();
    core.delete_session(&me, "chat-1").await.unwrap(); // idempotent
    assert_eq!(
        core.get_session(&me, "chat-1").await.unwrap_err().code(),
        "not_found"
    );
    assert_eq!(
        core.delete_session(&me, "never-existed")
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );
    assert_eq!(
        core.list_sessions(&me, None, None)
            .await
            .unwrap()
            .total_count,
        0
    );
    // Another user cannot see the task.
    let other = Caller {
        user_id: "someone-else".into(),
        ..Caller::embedded()
    };
    assert_eq!(
        core.get_task(&other, &first.task_id)
            .await
            .unwrap_err()
            .code(),
        "not_found"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_resume_and_cancel_at_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path()).await;
    let me = Caller::embedded();
    let sub = core
        .submit_task(
            &me,
            request(json!({"query": "Tell me a long story about pausing."})),
            None,
        )
        .await
        .unwrap();
    let mut rx = core.live_events(&me, &sub.task_id).await.unwrap();
    wait_for(&mut rx, "LLM_PARTIAL").await;
    core.pause_task(&me, &sub.task_id, Some("coffee".into()))
        .await
        .unwrap();
    assert_eq!(
        core.pause_task(&me, &sub.task_id, None)
            .await
            .unwrap_err()
            .to_string(),
        "task is already paused"
    );
    let state = core.get_control_state(&me, &sub.task_id).await.unwrap();
    assert!(state.is_paused && !state.is_cancelled);
    assert_eq!(state.pause_reason, "coffee");
    assert_eq!(state.paused_by, me.user_id);
    assert!(!state.paused_at.is_empty());
    assert_eq!(
        core.get_task(&me, &sub.task_id).await.unwrap().status,
        "TASK_STATUS_PAUSED"
    );
    // The pause takes effect in the middle of the answer.
    let paused = wait_for(&mut rx, "WORKFLOW_PAUSED").await;
    assert_eq!(paused.payload.unwrap()["checkpoint"], "llm_stream");
    core.resume_task(&me, &sub.task_id, None).await.unwrap();
    assert_eq!(
        core.resume_task(&me, &sub.task_id, None)
            .await
            .unwrap_err()
            .to_string(),
        "task is not paused"
    );
    let rest = until_end(&mut rx).await;
    assert!(types(&rest).contains(&"WORKFLOW_COMPLETED"));
    assert_eq!(
        core.get_task(&me, &sub.task_id).await.unwrap().status,
        "TASK_STATUS_COMPLETED"
    );
    assert_eq!(
        core.pause_task(&me, &sub.task_id, None)
            .await
            .unwrap_err()
            .to_string(),
        "cannot pause completed task"
    );
    assert_eq!(
        core.resume_task(&me, &sub.task_id, None)
            .await
            .unwrap_err()
            .to_string(),
        "cannot resume completed task"
    );
    let late = core.cancel_task(&me, &sub.task_id, None).await.unwrap();
    assert!(!late.success);

    // Cancel between streamed chunks.
    let sub = core
        .submit_task(
            &me,
            request(json!({"query": "Another long answer to cancel midway."})),
            None,
        )
        .await
        .unwrap();
    let mut rx = core.live_events(&me, &sub.task_id).await.unwrap();
    wait_for(&mut rx, "LLM_PARTIAL").await;
    let c = core
        .cancel_task(&me, &sub.task_id, Some("changed my mind".into()))
        .await
        .unwrap();
    assert!(c.success);
    let rest = until_end(&mut rx).await;
    let t = types(&rest);
    let cancelling = t.iter().position(|x| *x == "WORKFLOW_CANCELLING").unwrap();
    let cancelled = t.iter().position(|x| *x == "WORKFLOW_CANCELLED").unwrap();
    assert!(cancelling < cancelled);
    assert_eq!(
        rest[cancelled].payload.as_ref().unwrap()["checkpoint"],
        "llm_stream"
    );
    assert_eq!(
        rest[cancelled].message.as_deref(),
        Some("Cancelled: changed my mind")
    );
    let task = core.get_task(&me, &sub.task_id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_CANCELLED");
    let state = core.get_control_state(&me, &sub.task_id).await.unwrap();
    assert!(state.is_cancelled);
    assert_eq!(state.cancel_reason, "changed my mind");

    // Cancel while paused.
    let sub = core
        .submit_task(
            &me,
            request(json!({"query": "A third answer, paused then cancelled."})),
            None,
        )
        .await
        .unwrap();
    let mut rx = core.live_events(&me, &sub.task_id).await.unwrap();
    wait_for(&mut rx, "LLM_PARTIAL").await;
    core.pause_task(&me, &sub.task_id, None).await.unwrap();
    wait_for(&mut rx, "WORKFLOW_PAUSED").await;
    core.cancel_task(&me, &sub.task_id, None).await.unwrap();
    let cancelled = wait_for(&mut rx, "WORKFLOW_CANCELLED").await;
    assert_eq!(cancelled.payload.unwrap()["was_paused"], true);
    wait_for(&mut rx, "STREAM_END").await;
    assert_eq!(
        core.get_task(&me, &sub.task_id).await.unwrap().status,
        "TASK_STATUS_CANCELLED"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn submission_validation_idempotency_and_listing() {
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path()).await;
    let me = Caller::embedded();
    let err = core
        .submit_task(&me, request(json!({"query": ""})), None)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "invalid request: Query is required");
    let err = core
        .submit_task(
            &me,
            request(json!({"query": "q", "provider_override": "openai"})),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        "provider_not_ready",
        "an explicit provider without a key is refused"
    );

    let a = core
        .submit_task(
            &me,
            request(json!({"query": "once", "session_id": "s-idem"})),
            Some("key-1"),
        )
        .await
        .unwrap();
    let b = core
        .submit_task(
            &me,
            request(json!({"query": "once", "session_id": "s-idem"})),
            Some("key-1"),
        )
        .await
        .unwrap();
    assert_eq!(a.task_id, b.task_id);
    assert!(b.idempotent_replay && !a.idempotent_replay);
    let c = core
        .submit_task(
            &me,
            request(json!({"query": "once", "session_id": "s-idem"})),
            Some("key-2"),
        )
        .await
        .unwrap();
    assert_ne!(a.task_id, c.task_id);
    for id in [&a.task_id, &c.task_id] {
        let mut rx = core.live_events(&me, id).await.unwrap();
        // The task may already be done; then the stored stream shows it.
        let done = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                if core.get_task(&me, id).await.unwrap().status == "TASK_STATUS_COMPLETED" {
                    break;
                }
                let _ = tokio::time::timeout(Duration::from_millis(200), rx.next()).await;
            }
        })
        .await;
        assert!(done.is_ok());
    }
    let list = core
        .list_tasks(&me, ListTasksQuery::default())
        .await
        .unwrap();
    assert_eq!(list.total_count, 2);
    assert_eq!(list.tasks[0].task_id, c.task_id, "newest first");
    assert_eq!(list.tasks[0].mode, "EXECUTION_MODE_SIMPLE");
    let q = |status: &str| ListTasksQuery {
        status: Some(status.into()),
        ..Default::default()
    };
    assert_eq!(
        core.list_tasks(&me, q("completed"))
            .await
            .unwrap()
            .total_count,
        2
    );
    assert_eq!(
        core.list_tasks(&me, q("FAILED")).await.unwrap().total_count,
        0
    );
    assert_eq!(
        core.list_tasks(&me, q("PAUSED"))
            .await
            .unwrap_err()
            .to_string(),
        "invalid request: Invalid status value"
    );
    let by_session = ListTasksQuery {
        session_id: Some("s-idem".into()),
        limit: Some(1),
        ..Default::default()
    };
    let page = core.list_tasks(&me, by_session).await.unwrap();
    assert_eq!((page.total_count, page.tasks.len()), (2, 1));
    let bad = ListTasksQuery {
        limit: Some(101),
        ..Default::default()
    };
    assert_eq!(
        core.list_tasks(&me, bad).await.unwrap_err().code(),
        "invalid_request"
    );
    assert_eq!(
        core.get_task(&me, "bad id!").await.unwrap_err().to_string(),
        "invalid request: Invalid task ID format"
    );
    assert_eq!(
        core.get_task(&me, "task-nope").await.unwrap_err().code(),
        "not_found"
    );
    let page = core
        .get_task_events(&me, &a.task_id, Some(2), Some(1))
        .await
        .unwrap();
    assert_eq!(page.count, 2);
    assert_eq!(page.events[0].seq, 2);
    assert_eq!(
        core.get_task_events(&me, &a.task_id, Some(201), None)
            .await
            .unwrap_err()
            .code(),
        "invalid_request"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn supervisor_mode_offline_coordinates_a_team_of_one() {
    // The demo provider answers the planner in prose: the supervisor's team is one agent.
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path()).await;
    let me = Caller::embedded();
    let sub = core
        .submit_task(
            &me,
            request(json!({"query": "Plan a trip", "mode": "supervisor"})),
            None,
        )
        .await
        .unwrap();
    // Subscribed from the start: the run may be ahead, its stream is replayed first.
    let mut rx = core
        .subscribe_task(&me, &sub.task_id, None, None)
        .await
        .unwrap();
    let events = until_end(&mut rx).await;
    let has = |t: &str, message: Option<&str>| {
        events
            .iter()
            .any(|e| e.event_type == t && (message.is_none() || e.message.as_deref() == message))
    };
    assert!(has("DELEGATION", Some("Coordinating agents")));
    assert!(has("TEAM_RECRUITED", None));
    assert!(has("TEAM_RETIRED", None));
    let task = core.get_task(&me, &sub.task_id).await.unwrap();
    assert_eq!(task.mode, "supervisor");
    assert_eq!(task.status, "TASK_STATUS_COMPLETED");
    assert_eq!(task.metadata["execution_mode"], "supervisor");
}

#[tokio::test(flavor = "multi_thread")]
async fn complex_mode_offline_plans_and_answers_directly() {
    // The demo provider answers the planner in prose, so the plan falls back to one subtask.
    let dir = tempfile::tempdir().unwrap();
    let core = core(dir.path()).await;
    let me = Caller::embedded();
    let sub = core
        .submit_task(
            &me,
            request(json!({"query": "Plan a trip", "mode": "complex"})),
            None,
        )
        .await
        .unwrap();
    let mut rx = core
        .subscribe_task(&me, &sub.task_id, None, None)
        .await
        .unwrap();
    let events = until_end(&mut rx).await;
    let progress: Vec<_> = events
        .iter()
        .filter(|e| e.event_type == "PROGRESS")
        .filter_map(|e| e.message.as_deref())
        .collect();
    assert_eq!(
        progress,
        [
            "Understanding your request",
            "Handling this directly",
            "Got a plan — 1 step"
        ]
    );
    let agents = events
        .iter()
        .filter(|e| e.event_type == "AGENT_STARTED")
        .count();
    assert_eq!(agents, 1);
    let task = core.get_task(&me, &sub.task_id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_COMPLETED");
    assert!(!task.result.is_empty());
    assert_eq!(task.metadata["plan_fallback"], true);
}
