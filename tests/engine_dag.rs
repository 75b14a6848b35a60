//! `mode: complex` against a scripted fake provider: the planner's JSON plan, agents that run at
//! once (and their tools), dependants that see their dependencies' answers, synthesis, the
//! contract's events and metadata; a cyclic plan fails with its reason, an unreadable one falls back.

#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/rig.rs"]
mod rig;

use std::collections::HashSet;
use std::time::Duration;

use fake_provider::{FakeUsage, Reply, Scripted};
use rig::{Rig, rig};
use serde_json::{Value, json};
use tauri_plugin_shannon::core::streams::TaskEvent;

const TOKEN: &str = "dag-test-token-0123456789abcdef0123456789";

fn plan(subtasks: Value) -> Scripted {
    let plan = json!({"complexity_score": 0.7, "subtasks": subtasks}).to_string();
    Scripted::Stream(Reply::text([plan]))
}

fn answer(text: &str) -> Scripted {
    let words: Vec<String> = text.split_inclusive(' ').map(str::to_string).collect();
    Scripted::Slow(Reply::text(words), Duration::from_millis(60))
}

fn of<'a>(events: &'a [TaskEvent], t: &str) -> Vec<&'a TaskEvent> {
    events.iter().filter(|e| e.event_type == t).collect()
}

fn position(events: &[TaskEvent], t: &str, agent: &str) -> usize {
    events
        .iter()
        .position(|e| e.event_type == t && e.agent_id.as_deref() == Some(agent))
        .unwrap_or_else(|| panic!("no {t} from {agent}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_complex_task_plans_runs_three_agents_at_once_and_synthesizes() {
    let r = rig("openai").await;
    r.fake.route(
        "planning assistant",
        plan(json!([
            {"id": "task-1", "description": "Research alpha"},
            {"id": "task-2", "description": "Research beta"},
            {"id": "task-3", "description": "Compute gamma", "suggested_tools": ["calculator"]},
        ])),
    );
    r.fake
        .route("Research alpha", answer("alpha is the first letter "));
    r.fake
        .route("Research beta", answer("beta is the second letter "));
    r.fake.route(
        "Compute gamma",
        Scripted::Stream(Reply::text(["Computing."]).tool_call(
            "c1",
            "calculator",
            [r#"{"expression": "6*7"}"#],
        )),
    );
    r.fake
        .route("\"tool\"", answer("gamma is 42 by the calculator "));
    r.fake.route(
        "Results of the team",
        answer("All three: alpha, beta and gamma = 42. "),
    );
    let (id, events) = r.run("Tell me about alpha, beta and gamma").await;

    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    // The planner, then the team.
    let got = of(&events, "PROGRESS");
    assert_eq!(
        got[0].message.as_deref(),
        Some("Understanding your request")
    );
    assert_eq!(got[1].message.as_deref(), Some("Got a plan — 3 steps"));
    assert_eq!(
        got[1].payload.as_ref().unwrap()["plan"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        of(&events, "DELEGATION")[0].message.as_deref(),
        Some("Running team plan")
    );
    let started: Vec<&str> = of(&events, "AGENT_STARTED")
        .iter()
        .map(|e| e.agent_id.as_deref().unwrap())
        .collect();
    assert_eq!(started.len(), 3, "{types:?}");
    assert_eq!(
        started.iter().collect::<HashSet<_>>().len(),
        3,
        "distinct agents: {started:?}"
    );
    for agent in &started {
        // Each agent's own stream: its prompt, deltas and answer under its id, then its end.
        let output = position(&events, "LLM_OUTPUT", agent);
        assert!(position(&events, "AGENT_STARTED", agent) < output);
        assert!(output < position(&events, "AGENT_COMPLETED", agent));
        assert!(
            events
                .iter()
                .any(|e| e.event_type == "LLM_PARTIAL" && e.agent_id.as_deref() == Some(*agent))
        );
    }
    assert_eq!(of(&events, "TOOL_INVOKED").len(), 1);
    assert_eq!(
        of(&events, "TOOL_OBSERVATION")[0].message.as_deref(),
        Some("42")
    );
    // Then the synthesis and the final answer.
    let pulling = events
        .iter()
        .position(|e| e.message.as_deref() == Some("Pulling it all together"))
        .unwrap();
    assert!(
        started
            .iter()
            .all(|a| position(&events, "AGENT_COMPLETED", a) < pulling)
    );
    let synthesis = position(&events, "LLM_OUTPUT", "synthesis");
    let ready = events
        .iter()
        .position(|e| e.message.as_deref() == Some("Answer ready"))
        .unwrap();
    let final_output = position(&events, "LLM_OUTPUT", "final_output");
    assert!(
        pulling < synthesis && synthesis < ready && ready < final_output,
        "{types:?}"
    );
    assert_eq!(
        events[final_output].message.as_deref(),
        Some("All three: alpha, beta and gamma = 42. ")
    );
    assert!(
        types.ends_with(&["WORKFLOW_COMPLETED", "STREAM_END"]),
        "{types:?}"
    );

    // The agents ran at once, and the planner asked for JSON.
    assert!(
        r.fake.max_in_flight() >= 3,
        "at most {} at once",
        r.fake.max_in_flight()
    );
    let requests = r.fake.requests();
    assert_eq!(
        requests[0].body["response_format"],
        json!({"type": "json_object"})
    );
    assert_eq!(
        requests.len(),
        6,
        "plan, three agents, the tool round, synthesis"
    );

    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_COMPLETED");
    assert_eq!(task.result, "All three: alpha, beta and gamma = 42. ");
    assert_eq!(task.metadata["execution_mode"], "parallel");
    assert_eq!(task.metadata["agent_count"], 3);
    assert_eq!(task.metadata["model_breakdown"][0]["executions"], 6);
    let agents: Vec<&str> = task.metadata["agent_usages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agent_id"].as_str().unwrap())
        .collect();
    assert_eq!(agents.len(), 5, "{agents:?}");
    assert_eq!((agents[0], agents[4]), ("decompose", "synthesis"));

    // What the official clients see over HTTP: the stream and the task.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = r.listen(TOKEN).await;
    let base = format!("http://{}", listener.addr());
    let http = reqwest::Client::new();
    let sse = http
        .get(format!("{base}/api/v1/stream/sse?workflow_id={id}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let frames: Vec<(&str, Value)> = sse
        .split("\n\n")
        .filter_map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name, serde_json::from_str(data).unwrap_or(Value::Null)))
        })
        .collect();
    let named = |n: &str| {
        frames
            .iter()
            .filter(|(name, _)| *name == n)
            .map(|(_, d)| d)
            .collect::<Vec<_>>()
    };
    assert!(
        named("PROGRESS")
            .iter()
            .any(|d| d["message"] == "Got a plan — 3 steps")
    );
    let agents: HashSet<&str> = named("AGENT_STARTED")
        .iter()
        .map(|d| d["agent_id"].as_str().unwrap())
        .collect();
    assert_eq!(agents.len(), 3);
    assert!(
        named("thread.message.completed")
            .iter()
            .any(|d| d["agent_id"] == "final_output"
                && d["response"] == "All three: alpha, beta and gamma = 42. ")
    );
    assert_eq!(named("WORKFLOW_COMPLETED").len(), 1);
    let task = Rig::get_json(&format!("{base}/api/v1/tasks/{id}"), TOKEN).await;
    assert_eq!(
        task["metadata"]["agent_usages"].as_array().unwrap().len(),
        5
    );
    assert_eq!(task["metadata"]["model_breakdown"][0]["executions"], 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn dependants_see_their_dependencies_answers_and_failures() {
    let r = rig("openai").await;
    r.fake.route(
        "planning assistant",
        plan(json!([
            {"id": "a", "description": "Find the first number"},
            {"id": "b", "description": "Use the first number", "dependencies": ["a"]},
            {"id": "c", "description": "Fetch the broken source"},
            {"id": "d", "description": "Read the broken source", "dependencies": ["c"]},
        ])),
    );
    r.fake
        .route("Find the first number", answer("FIRST-RESULT-123 "));
    r.fake.route("Use the first number", answer("used it "));
    r.fake
        .route("Fetch the broken source", Scripted::Status(400, None));
    r.fake
        .route("Read the broken source", answer("worked around it "));
    r.fake.route("Results of the team", answer("done "));
    let (_, events) = r.run("A plan with dependencies").await;

    let requests = r.fake.requests();
    let body_of = |needle: &str| -> String {
        requests
            .iter()
            .map(|q| q.body.to_string())
            .find(|b| {
                b.contains(needle)
                    && !b.contains("planning assistant")
                    && !b.contains("Results of the team")
            })
            .unwrap_or_else(|| panic!("no request for {needle}"))
    };
    assert!(
        body_of("Use the first number").contains("FIRST-RESULT-123"),
        "the dependant got its input"
    );
    assert!(
        body_of("Read the broken source").contains("(this subtask failed"),
        "a failed dependency is named, not left out"
    );
    // A dependant starts only after its dependency ended.
    let agent_of = |needle: &str| -> String {
        of(&events, "AGENT_STARTED")
            .iter()
            .find(|e| e.message.as_deref().unwrap_or_default().contains(needle))
            .and_then(|e| e.agent_id.clone())
            .unwrap()
    };
    let (a, b) = (agent_of("Find the first"), agent_of("Use the first"));
    assert!(position(&events, "AGENT_COMPLETED", &a) < position(&events, "AGENT_STARTED", &b));
    let c = agent_of("Fetch the broken");
    assert!(
        position(&events, "AGENT_FAILED", &c)
            < position(&events, "AGENT_STARTED", &agent_of("Read the broken"))
    );
    let synthesis = requests.last().unwrap().body.to_string();
    assert!(
        synthesis.contains("(failed:"),
        "the synthesis hears of the failure"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cyclic_plan_fails_and_an_unreadable_one_is_handled_directly() {
    let r = rig("openai").await;
    r.fake.route(
        "planning assistant",
        plan(json!([
            {"id": "a", "description": "x", "dependencies": ["b"]},
            {"id": "b", "description": "y", "dependencies": ["a"]},
        ])),
    );
    let (id, events) = r.run("A circular plan").await;
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_FAILED");
    assert_eq!(
        task.error.as_deref(),
        Some("Invalid task plan: dependency cycle among a, b")
    );
    assert!(of(&events, "AGENT_STARTED").is_empty());

    r.fake.route(
        "planning assistant",
        Scripted::Stream(Reply::text(["I would rather chat."])),
    );
    r.fake
        .route("One plain question", answer("the direct answer "));
    let (id, events) = r.run("One plain question").await;
    let progress: Vec<_> = of(&events, "PROGRESS")
        .iter()
        .filter_map(|e| e.message.clone())
        .collect();
    assert!(
        progress.contains(&"Handling this directly".to_string()),
        "{progress:?}"
    );
    assert!(
        progress.contains(&"Got a plan — 1 step".to_string()),
        "{progress:?}"
    );
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_COMPLETED");
    // One result: no synthesis call, the agent's answer is the task's.
    assert_eq!(task.result, "the direct answer ");
    assert!(
        of(&events, "LLM_OUTPUT")
            .iter()
            .all(|e| e.agent_id.as_deref() != Some("synthesis"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_mid_dag_closes_every_agent_stream() {
    let r = rig("openai").await;
    r.fake.route(
        "planning assistant",
        plan(json!([
            {"id": "task-1", "description": "Slow alpha"},
            {"id": "task-2", "description": "Slow beta"},
            {"id": "task-3", "description": "Slow gamma"},
        ])),
    );
    let slow = || {
        let words: Vec<String> = (0..40).map(|i| format!("w{i} ")).collect();
        Scripted::Slow(Reply::text(words), Duration::from_millis(100))
    };
    for needle in ["Slow alpha", "Slow beta", "Slow gamma"] {
        r.fake.route(needle, slow());
    }
    let id = r.submit("Three slow things", json!({})).await;
    tokio::time::timeout(Duration::from_secs(30), async {
        while r.fake.in_flight() < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("three agents streaming at once");
    r.core.cancel_task(&r.me, &id, None).await.unwrap();
    let mut sub = r.core.subscribe_task(&r.me, &id, None, None).await.unwrap();
    let events = Rig::rest(&mut sub).await;
    let cancelled = of(&events, "WORKFLOW_CANCELLED");
    assert_eq!(
        cancelled[0].payload.as_ref().unwrap()["checkpoint"],
        "agents"
    );
    assert_eq!(
        r.core.get_task(&r.me, &id).await.unwrap().status,
        "TASK_STATUS_CANCELLED"
    );
    assert!(of(&events, "AGENT_COMPLETED").is_empty());
    // Every agent's request was dropped: the fake stops sending within a chunk and finished none.
    tokio::time::timeout(Duration::from_secs(5), async {
        while r.fake.in_flight() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the agents' streams were closed");
    assert_eq!(
        r.fake.streams_sent(),
        1,
        "only the plan was streamed to its end"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_holds_every_agent_and_resume_completes_the_run() {
    let r = rig("openai").await;
    r.fake.route(
        "planning assistant",
        plan(json!([
            {"id": "task-1", "description": "Paced alpha"},
            {"id": "task-2", "description": "Paced beta"},
        ])),
    );
    let paced = |tag: &str| {
        let words: Vec<String> = (0..20).map(|i| format!("{tag}{i} ")).collect();
        Scripted::Slow(Reply::text(words), Duration::from_millis(50))
    };
    r.fake.route("Paced alpha", paced("a"));
    r.fake.route("Paced beta", paced("b"));
    r.fake
        .route("Results of the team", answer("both paced answers "));
    let id = r.submit("Two paced things", json!({})).await;
    let mut sub = r.core.subscribe_task(&r.me, &id, None, None).await.unwrap();
    let mut events = Vec::new();
    while let Some(e) = sub.next().await {
        let delta = e.event_type == "LLM_PARTIAL";
        events.push(e);
        if delta {
            break;
        }
    }
    r.core.pause_task(&r.me, &id, None).await.unwrap();
    let at_pause = r.core.live_events(&r.me, &id).await.unwrap().position();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(30), sub.next())
            .await
            .unwrap()
            .unwrap();
        if e.event_type == "LLM_PARTIAL" {
            assert!(e.pos() <= at_pause, "a delta after the pause: {e:?}");
        }
        let paused = e.event_type == "WORKFLOW_PAUSED";
        events.push(e);
        if paused {
            break;
        }
    }
    assert_eq!(
        events.last().unwrap().payload.as_ref().unwrap()["checkpoint"],
        "agents"
    );
    assert_eq!(
        r.core.get_task(&r.me, &id).await.unwrap().status,
        "TASK_STATUS_PAUSED"
    );
    r.core.resume_task(&r.me, &id, None).await.unwrap();
    events.extend(Rig::rest(&mut sub).await);
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_COMPLETED");
    // Each agent's streamed text is whole across the pause.
    for (tag, needle) in [("a", "Paced alpha"), ("b", "Paced beta")] {
        let agent = of(&events, "AGENT_STARTED")
            .iter()
            .find(|e| e.message.as_deref().unwrap_or_default().contains(needle))
            .and_then(|e| e.agent_id.clone())
            .unwrap();
        let text: String = events
            .iter()
            .filter(|e| {
                e.event_type == "LLM_PARTIAL" && e.agent_id.as_deref() == Some(agent.as_str())
            })
            .filter_map(|e| e.message.clone())
            .collect();
        let expected: String = (0..20).map(|i| format!("{tag}{i} ")).collect();
        assert_eq!(text, expected, "{agent}'s text");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_task_budget_covers_all_agents_together() {
    let r = rig("openai").await;
    let planned = json!({"complexity_score": 0.7, "subtasks": [
        {"id": "task-1", "description": "Quick alpha"},
        {"id": "task-2", "description": "Slow beta"},
    ]})
    .to_string();
    // The plan costs 60 tokens, alpha 50 more: over the task's 100 while beta still streams.
    r.fake.route(
        "planning assistant",
        Scripted::Stream(Reply::text([planned]).usage(FakeUsage::new(40, 20))),
    );
    r.fake.route(
        "Quick alpha",
        Scripted::Stream(Reply::text(["alpha"]).usage(FakeUsage::new(30, 20))),
    );
    let words: Vec<String> = (0..100).map(|i| format!("b{i} ")).collect();
    r.fake.route(
        "Slow beta",
        Scripted::Slow(Reply::text(words), Duration::from_millis(50)),
    );
    let (id, events) = r
        .run_with("Two things on a budget", json!({"token_budget": 100}))
        .await;
    let warned = of(&events, "BUDGET_THRESHOLD");
    assert_eq!(warned.len(), 1, "one warning for the whole task");
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_FAILED");
    assert_eq!(
        task.error.as_deref(),
        Some("token budget exceeded: the task used 110 tokens of its 100-token budget")
    );
    // The other agent was stopped mid-answer, not left to finish.
    tokio::time::timeout(Duration::from_secs(5), async {
        while r.fake.in_flight() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("beta's stream was closed");
    assert_eq!(r.fake.streams_sent(), 2, "the plan and alpha only");
    assert!(
        of(&events, "LLM_OUTPUT")
            .iter()
            .all(|e| e.agent_id.as_deref() != Some("final_output"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_is_one_agent_without_a_planner_and_skip_synthesis_is_one_call() {
    let r = rig("openai").await;
    r.fake
        .set_fallback(Scripted::Stream(Reply::text(["the analyst's answer"])));
    let run = |context: Value| r.run_with("Weigh the options", context);

    let (id, events) = run(json!({"role": "analysis"})).await;
    let role = &of(&events, "ROLE_ASSIGNED")[0];
    assert_eq!(
        (role.agent_id.as_deref(), role.message.as_deref()),
        (Some("analysis"), Some("Ready as analysis"))
    );
    let requests = r.fake.requests();
    assert_eq!(
        requests.len(),
        1,
        "no planner: one agent on the whole request"
    );
    assert!(
        requests[0].body.to_string().contains("You are an analyst"),
        "the role's prompt reaches the agent"
    );
    assert_eq!(of(&events, "AGENT_STARTED").len(), 1);
    assert_eq!(
        r.core.get_task(&r.me, &id).await.unwrap().result,
        "the analyst's answer"
    );

    let (id, events) = run(json!({"skip_synthesis": true})).await;
    let delegation = &of(&events, "DELEGATION")[0];
    assert_eq!(delegation.message.as_deref(), Some("Processing"));
    assert!(
        of(&events, "PROGRESS")
            .iter()
            .all(|e| e.agent_id.as_deref() != Some("planner"))
    );
    assert_eq!(r.fake.requests().len(), 2, "one plain call");
    assert_eq!(
        r.core.get_task(&r.me, &id).await.unwrap().status,
        "TASK_STATUS_COMPLETED"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn budget_agent_max_is_each_agents_own() {
    let r = rig("openai").await;
    r.fake.route(
        "planning assistant",
        plan(json!([
            {"id": "task-1", "description": "Count the apples", "suggested_tools": ["calculator"]},
            {"id": "task-2", "description": "Name a fruit"},
        ])),
    );
    r.fake.route(
        "Count the apples",
        Scripted::Stream(
            Reply::text(["Counting."])
                .tool_call("c1", "calculator", [r#"{"expression": "3+4"}"#])
                .usage(FakeUsage::new(30, 10)),
        ),
    );
    r.fake.route(
        "Name a fruit",
        Scripted::Stream(Reply::text(["A pear. "]).usage(FakeUsage::new(5, 5))),
    );
    r.fake.route(
        "Results of the team",
        answer("A pear; the apples are uncounted. "),
    );
    let (id, events) = r
        .run_with("Apples and fruit", json!({"budget_agent_max": 30}))
        .await;
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    // One agent ran out; the team went on without it.
    assert_eq!(task.status, "TASK_STATUS_COMPLETED", "{:?}", task.error);
    assert_eq!(task.result, "A pear; the apples are uncounted. ");
    let failed = of(&events, "AGENT_FAILED");
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .message
            .as_deref()
            .unwrap()
            .contains("used its token budget (40 of 30 tokens)"),
        "{:?}",
        failed[0].message
    );
    assert_eq!(
        r.fake.requests().len(),
        4,
        "plan, the apples' first round only, the fruit, synthesis"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tasks_blocked_tools_stay_blocked_for_every_agent() {
    let r = rig("openai").await;
    r.fake.route(
        "planning assistant",
        plan(json!([
            {"id": "task-1", "description": "Add the numbers", "suggested_tools": ["calculator", "clock"]},
            {"id": "task-2", "description": "Say the time", "suggested_tools": ["clock"]},
        ])),
    );
    r.fake.route("Add the numbers", answer("7 "));
    r.fake.route("Say the time", answer("noon "));
    r.fake.route("Results of the team", answer("7 at noon "));
    let (id, _) = r
        .run_with(
            "Add and tell the time",
            json!({"tools_blocked": ["calculator"]}),
        )
        .await;
    assert_eq!(
        r.core.get_task(&r.me, &id).await.unwrap().status,
        "TASK_STATUS_COMPLETED"
    );
    let tools_of = |needle: &str| -> Vec<String> {
        let request = r
            .fake
            .requests()
            .into_iter()
            .find(|q| q.body.to_string().contains(needle))
            .unwrap();
        request.body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["function"]["name"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(tools_of("Add the numbers"), ["clock"]);
    assert_eq!(tools_of("Say the time"), ["clock"]);
}
