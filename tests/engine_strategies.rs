//! The strategies beyond the DAG, against a scripted fake provider: the supervisor's team (roles,
//! hand-offs, retries, the abort rule, plan revision), ReAct, tree of thoughts, scientific, the
//! simple route and reflection. Each test checks the contract's events (types, agent ids, order),
//! the metadata and the result.

#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/rig.rs"]
mod rig;

use fake_provider::{Reply, Scripted};
use rig::rig;
use serde_json::{Value, json};
use tauri_plugin_shannon::core::streams::TaskEvent;
use tauri_plugin_shannon::core::tasks::SubmitTaskRequest;

fn reply(v: Value) -> Scripted {
    Scripted::Stream(Reply::text([v.to_string()]))
}

fn answer(text: &str) -> Scripted {
    Scripted::Stream(Reply::text([text]))
}

fn of<'a>(events: &'a [TaskEvent], t: &str) -> Vec<&'a TaskEvent> {
    events.iter().filter(|e| e.event_type == t).collect()
}

fn agent_of(e: &TaskEvent) -> &str {
    e.agent_id.as_deref().unwrap_or_default()
}

/// Where the first event of type `t` by `agent` (any agent when empty) with this message is.
fn find(events: &[TaskEvent], t: &str, agent: &str, message: &str) -> usize {
    events
        .iter()
        .position(|e| {
            e.event_type == t
                && (agent.is_empty() || agent_of(e) == agent)
                && (message.is_empty() || e.message.as_deref() == Some(message))
        })
        .unwrap_or_else(|| panic!("no {t} by {agent:?} saying {message:?}"))
}

fn bodies_with(r: &rig::Rig, needle: &str) -> Vec<String> {
    r.fake
        .requests()
        .iter()
        .map(|q| q.body.to_string())
        .filter(|b| b.contains(needle))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_supervised_team_hands_off_retries_and_revises_its_plan() {
    let r = rig("openai").await;
    r.fake.route(
        "planning assistant",
        reply(json!({"complexity_score": 0.7, "agent_types": ["scout", "accountant", "planner"],
            "subtasks": [
            {"id": "task-1", "description": "Survey the venues"},
            {"id": "task-2", "description": "Price the catering"},
            {"id": "task-3", "description": "Draft the schedule", "dependencies": ["task-1", "task-2"]},
        ]})),
    );
    r.fake
        .route("Survey the venues", answer("The hall seats 80. "));
    // The accountant's first try fails; the supervisor tries again.
    r.fake
        .route("Price the catering", Scripted::Status(400, None));
    r.fake
        .route("Price the catering", answer("Catering is 20 per head. "));
    r.fake.route(
        "supervise a team",
        reply(
            json!({"action": "revise", "reason": "prices are known", "subtasks": [
            {"id": "task-3", "description": "Draft the schedule with the prices",
             "dependencies": ["task-1", "task-2"]}]}),
        ),
    );
    r.fake.route(
        "Draft the schedule with the prices",
        answer("Dinner at 7 in the hall, 20 per head. "),
    );
    r.fake.route(
        "Results of the team",
        answer("The evening: hall, 7 pm, 20 per head. "),
    );
    let (id, events) = r
        .run_in("supervisor", "Plan the team dinner", json!({}))
        .await;
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_COMPLETED", "{:?}", task.error);
    assert_eq!(task.result, "The evening: hall, 7 pm, 20 per head. ");

    let coordinating = find(&events, "DELEGATION", "orchestrator", "Coordinating agents");
    let status = find(
        &events,
        "TEAM_STATUS",
        "supervisor",
        "Coordinating 3 agents to handle subtasks",
    );
    assert!(coordinating < status);
    let recruited = of(&events, "TEAM_RECRUITED");
    assert_eq!(recruited.len(), 3);
    let agent = |sub: &str| -> String {
        recruited
            .iter()
            .find(|e| e.payload.as_ref().unwrap()["subtask_id"] == sub)
            .map(|e| agent_of(e).to_string())
            .unwrap()
    };
    let (scout, accountant, planner) = (agent("task-1"), agent("task-2"), agent("task-3"));
    assert_eq!(
        [&scout, &accountant, &planner]
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        3
    );
    let roles: Vec<&str> = of(&events, "ROLE_ASSIGNED")
        .iter()
        .filter_map(|e| e.message.as_deref())
        .collect();
    // The first round's two agents start in either order; the planner's role comes last.
    assert_eq!(roles.len(), 3);
    assert!(roles[..2].contains(&"scout") && roles[..2].contains(&"accountant"));
    assert_eq!(roles[2], "planner");
    // The retry, then the accountant's success.
    let retry = find(&events, "ERROR_RECOVERY", &accountant, "");
    assert!(
        events[retry]
            .message
            .as_deref()
            .unwrap()
            .starts_with("Retrying (attempt 2 of 3)")
    );
    assert!(retry < find(&events, "AGENT_COMPLETED", &accountant, ""));
    // The planner waits, its dependencies hand over, and it starts.
    let waiting = find(&events, "WAITING", &planner, "Waiting on a previous step");
    let satisfied = find(
        &events,
        "DEPENDENCY_SATISFIED",
        &planner,
        "Previous step completed",
    );
    let handed = find(
        &events,
        "MESSAGE_SENT",
        &scout,
        &format!("Handing task-1 over to {planner}"),
    );
    let received = find(
        &events,
        "MESSAGE_RECEIVED",
        &planner,
        &format!("Received task-1 from {scout}"),
    );
    let started = find(&events, "AGENT_STARTED", &planner, "");
    assert!(waiting < satisfied && satisfied < handed && handed < received && received < started);
    assert!(find(&events, "AGENT_COMPLETED", &scout, "") < satisfied);
    // The revision came between the rounds and reached the planner.
    let revised = find(
        &events,
        "PROGRESS",
        "supervisor",
        "Revised the plan — 1 step left",
    );
    assert!(find(&events, "AGENT_COMPLETED", &accountant, "") < revised && revised < started);
    assert_eq!(
        events[revised].payload.as_ref().unwrap()["plan"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let schedule = bodies_with(&r, "Draft the schedule with the prices");
    assert!(schedule[0].contains("The hall seats 80.") && schedule[0].contains("20 per head"));
    assert_eq!(of(&events, "TEAM_RETIRED").len(), 3);
    let combining = find(
        &events,
        "DATA_PROCESSING",
        "supervisor",
        "Combining results",
    );
    assert!(find(&events, "AGENT_COMPLETED", &planner, "") < combining);
    assert!(combining < find(&events, "LLM_OUTPUT", "final_output", ""));

    assert_eq!(task.metadata["execution_mode"], "supervisor");
    assert_eq!(task.metadata["plan_revisions"], 1);
    assert_eq!(task.metadata["agent_count"], 3);
    let usages: Vec<&str> = task.metadata["agent_usages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["agent_id"].as_str())
        .collect();
    for a in [
        "decompose",
        "supervisor",
        "supervisor_synthesis",
        &scout,
        &accountant,
        &planner,
    ] {
        assert!(usages.contains(&a), "{a} in {usages:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_supervisor_stops_when_most_subtasks_fail() {
    let r = rig("openai").await;
    r.fake.route(
        "planning assistant",
        reply(json!({"complexity_score": 0.6, "subtasks": [
            {"id": "a", "description": "Fetch alpha"},
            {"id": "b", "description": "Fetch beta"},
            {"id": "c", "description": "Fetch gamma"},
        ]})),
    );
    r.fake.route("Fetch alpha", answer("alpha "));
    for _ in 0..3 {
        r.fake.route("Fetch beta", Scripted::Status(400, None));
        r.fake.route("Fetch gamma", Scripted::Status(400, None));
    }
    let (id, events) = r
        .run_in("supervisor", "Fetch three things", json!({}))
        .await;
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_FAILED");
    assert_eq!(
        task.error.as_deref(),
        Some("Too many subtask failures (2/3)")
    );
    assert_eq!(of(&events, "AGENT_FAILED").len(), 2);
    assert_eq!(
        of(&events, "ERROR_RECOVERY")
            .iter()
            .filter(|e| agent_of(e) != "orchestrator")
            .count(),
        4
    );
    assert_eq!(bodies_with(&r, "Fetch beta").len(), 3, "three tries each");
    assert!(
        bodies_with(&r, "Results of the team").is_empty(),
        "no synthesis"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn react_reasons_acts_with_tools_observes_and_synthesizes() {
    let r = rig("openai").await;
    // "done" before anything was observed does not end the loop.
    r.fake.route(
        "REASON",
        reply(json!({"thought": "I need 6*7", "action": "compute 6*7 with the calculator", "done": true})),
    );
    r.fake.route(
        "carry out one step",
        Scripted::Stream(
            Reply::text(["Calculating."])
                .tool_call("c1", "calculator", [r#"{"expression": "6*7"}"#])
                .tool_call("c2", "calculator", [r#"{"expression": "6*"}"#]),
        ),
    );
    r.fake
        .route("carry out one step", answer("The product is 42."));
    r.fake.route(
        "REASON",
        reply(json!({"thought": "The observation holds the answer", "action": "", "done": true})),
    );
    r.fake
        .route("Synthesize the final answer", answer("6 times 7 is 42."));
    let (id, events) = r
        .run_with("What is 6 times 7?", json!({"cognitive_strategy": "react"}))
        .await;
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_COMPLETED", "{:?}", task.error);
    assert_eq!(task.result, "6 times 7 is 42.");
    // No planner: the strategy was asked for.
    assert!(bodies_with(&r, "planning assistant").is_empty());
    assert_eq!(
        events[find(
            &events,
            "DELEGATION",
            "orchestrator",
            "Planning the approach"
        )]
        .payload
        .as_ref()
        .unwrap()["strategy"],
        "react"
    );
    let reasoner =
        agent_of(&events[find(&events, "AGENT_STARTED", "", "Reflecting on progress")]).to_string();
    let actor = agent_of(&events[find(&events, "AGENT_STARTED", "", "Taking action")]).to_string();
    assert_ne!(reasoner, actor);
    let order = [
        find(&events, "PROGRESS", "react", "Thinking step 1 of 10"),
        find(&events, "AGENT_COMPLETED", &reasoner, "Decided next step"),
        find(&events, "AGENT_STARTED", &actor, "Taking action"),
        find(&events, "TOOL_INVOKED", &actor, ""),
        find(&events, "AGENT_COMPLETED", &actor, "Action done"),
        find(&events, "PROGRESS", "react", "Thinking step 2 of 10"),
        find(&events, "PROGRESS", "react", "Finished thinking"),
        find(&events, "LLM_OUTPUT", "react-synthesizer", ""),
        find(&events, "LLM_OUTPUT", "final_output", ""),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert_eq!(
        of(&events, "AGENT_STARTED")
            .iter()
            .filter(|e| e.message.as_deref() == Some("Taking action"))
            .count(),
        1
    );
    // The second reasoning saw the observation; the synthesis saw everything.
    assert!(bodies_with(&r, "REASON")[1].contains("Action result"));
    let synth = &bodies_with(&r, "Synthesize the final answer")[0];
    assert!(synth.contains("calculator: 42") && synth.contains("The product is 42."));

    assert_eq!(task.metadata["strategy"], "react");
    assert_eq!(task.metadata["iterations"], 2);
    assert_eq!(task.metadata["thoughts"], 2);
    assert_eq!(task.metadata["actions"], 1);
    assert_eq!(task.metadata["observations"], 1);
    let errors = task.metadata["tool_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["agent_id"], actor);
    assert_eq!(errors[0]["tool"], "calculator");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_plans_strategy_explores_a_tree_of_thoughts_best_first() {
    let r = rig("openai").await;
    // The planner names the strategy itself.
    r.fake.route(
        "planning assistant",
        reply(
            json!({"complexity_score": 0.6, "cognitive_strategy": "exploratory",
            "subtasks": [{"id": "task-1", "description": "Factor 91"}]}),
        ),
    );
    r.fake.route(
        "explore ways to solve",
        reply(json!({"thoughts": [
            {"text": "Try small prime factors", "score": 0.9},
            {"text": "Guess randomly", "score": 0.1}]})),
    );
    r.fake.route(
        "explore ways to solve",
        reply(json!({"thoughts": [
            {"text": "91 = 7 x 13", "score": 0.95, "final": true},
            {"text": "Check whether 91 is prime", "score": 0.5}]})),
    );
    r.fake.route("most promising", answer("91 is 7 times 13."));
    let ctx = json!({"tot_max_depth": 2, "tot_branching": 2, "tot_budget": 4});
    let (id, events) = r.run_with("Factor 91", ctx).await;
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_COMPLETED", "{:?}", task.error);
    assert_eq!(task.result, "91 is 7 times 13.");
    let delegation = find(
        &events,
        "DELEGATION",
        "orchestrator",
        "Planning the approach",
    );
    assert!(find(&events, "PROGRESS", "planner", "Got a plan — 1 step") < delegation);
    // The root, then its best child (the weak branch was pruned, and is never expanded).
    let prompts: Vec<&str> = of(&events, "LLM_PROMPT")
        .iter()
        .map(|e| agent_of(e))
        .collect();
    assert_eq!(
        prompts,
        [
            "decompose",
            "tot-generator-root",
            "tot-generator-1",
            "tot-synthesizer"
        ]
    );
    let explored = of(&events, "PROGRESS")
        .into_iter()
        .filter(|e| agent_of(e) == "exploratory")
        .count();
    assert_eq!(explored, 2);
    assert!(bodies_with(&r, "most promising")[0].contains("91 = 7 x 13"));
    assert_eq!(task.metadata["strategy"], "exploratory");
    assert_eq!(task.metadata["pattern_used"], "tree_of_thoughts");
    assert_eq!(task.metadata["total_thoughts"], 3);
    assert_eq!(task.metadata["tree_depth"], 2);
    assert_eq!(
        task.metadata["best_path"],
        json!(["Try small prime factors", "91 = 7 x 13"])
    );
    assert!((task.metadata["final_confidence"].as_f64().unwrap() - 0.925).abs() < 1e-9);
}

#[tokio::test(flavor = "multi_thread")]
async fn scientific_tests_hypotheses_in_a_debate_and_reports() {
    let r = rig("openai").await;
    r.fake.route(
        "exactly 2 distinct",
        reply(json!({"hypotheses": ["Heat expands the rails", "Load bends the rails"]})),
    );
    r.fake.route(
        "advocate hypothesis 1",
        answer("Steel grows 12 micrometres per metre per degree. "),
    );
    r.fake.route(
        "advocate hypothesis 2",
        answer("Trains weigh hundreds of tonnes. "),
    );
    r.fake.route(
        "advocate hypothesis 1",
        answer("Load cannot open a gap; heat can. "),
    );
    r.fake.route(
        "advocate hypothesis 2",
        answer("Load matters less than heat, I concede. "),
    );
    r.fake.route(
        "moderate a debate",
        reply(
            json!({"winner": 1, "scores": [0.8, 0.4], "consensus": false,
                     "summary": "Thermal expansion explains the gaps"}),
        ),
    );
    r.fake.route(
        "explore ways to solve",
        reply(json!({"thoughts": [{"text": "Rails need expansion joints", "score": 0.9, "final": true}]})),
    );
    r.fake.route(
        "final synthesis of an investigation",
        answer("Rails have gaps so that they can expand in the heat."),
    );
    let ctx = json!({"cognitive_strategy": "scientific", "scientific_max_hypotheses": 2,
                     "scientific_max_iterations": 2});
    let (id, events) = r.run_with("Why do rails have gaps?", ctx).await;
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_COMPLETED", "{:?}", task.error);
    assert!(
        task.result.starts_with("# Scientific Investigation Report"),
        "{}",
        task.result
    );
    assert!(
        task.result
            .contains("## Winning Hypothesis\nHeat expands the rails")
    );
    assert!(task.result.contains("- Rails need expansion joints"));
    assert!(
        task.result
            .contains("Rails have gaps so that they can expand in the heat.")
    );
    // Unlike the cloud, the final answer event carries the result itself.
    let final_output = &events[find(&events, "LLM_OUTPUT", "final_output", "")];
    assert_eq!(final_output.message.as_deref(), Some(task.result.as_str()));
    // Each round's debaters ran at once; the second round saw the other's position.
    let advocate = "debater-1-hypothesis_1_advocate";
    assert_eq!(
        of(&events, "LLM_OUTPUT")
            .iter()
            .filter(|e| agent_of(e) == advocate)
            .count(),
        2
    );
    let second = &bodies_with(&r, "advocate hypothesis 1")[1];
    assert!(second.contains("Round 2") && second.contains("Trains weigh hundreds of tonnes."));
    let order = [
        find(&events, "LLM_PROMPT", "cot-reasoner", ""),
        find(&events, "PROGRESS", "scientific", "Testing 2 hypotheses"),
        find(
            &events,
            "PROGRESS",
            "scientific",
            "Debate round 2 of 2 done",
        ),
        find(
            &events,
            "PROGRESS",
            "moderator",
            "Strongest position: hypothesis 1",
        ),
        find(&events, "LLM_PROMPT", "tot-generator-root", ""),
        find(&events, "LLM_OUTPUT", "synthesis", ""),
        find(&events, "LLM_OUTPUT", "final_output", ""),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    let m = &task.metadata;
    assert_eq!(m["workflow_type"], "scientific");
    assert_eq!(m["hypotheses_count"], 2);
    assert_eq!(m["debate_rounds"], 2);
    assert_eq!(m["consensus_reached"], false);
    assert_eq!(m["final_confidence"], 0.8);
    assert_eq!(
        m["patterns_used"],
        json!(["chain_of_thought", "debate", "tree_of_thoughts"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trivial_plan_takes_the_simple_route_and_reflection_rewrites_a_weak_answer() {
    let r = rig("openai").await;
    r.fake.route(
        "planning assistant",
        reply(json!({"complexity_score": 0.1, "subtasks": [{"id": "task-1", "description": "Say hello"}]})),
    );
    r.fake.route("Say hello", answer("Hello! "));
    let (id, events) = r.run("Say hello").await;
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.result, "Hello! ");
    assert!(
        find(&events, "PROGRESS", "planner", "Got a plan — 1 step")
            < find(&events, "DELEGATION", "orchestrator", "Processing")
    );
    let started: Vec<&str> = of(&events, "AGENT_STARTED")
        .iter()
        .map(|e| agent_of(e))
        .collect();
    assert_eq!(started, ["simple-agent"]);
    assert_eq!(task.metadata["execution_mode"], "simple");

    // Two subtasks, then a judge that finds the answer weak once.
    r.fake.route(
        "planning assistant",
        reply(json!({"complexity_score": 0.6, "subtasks": [
            {"id": "a", "description": "Name the day"}, {"id": "b", "description": "Name the month"}]})),
    );
    r.fake.route("Name the day", answer("Tuesday. "));
    r.fake.route("Name the month", answer("December. "));
    r.fake
        .route("Results of the team", answer("It is a day in a month."));
    r.fake.route(
        "You review answers",
        reply(json!({"score": 0.3, "feedback": "Name the day and the month"})),
    );
    r.fake
        .route("Rewrite the answer", answer("Tuesday in December."));
    r.fake.route(
        "You review answers",
        reply(json!({"score": 0.9, "feedback": ""})),
    );
    let (id, events) = r
        .run_with(
            "What day and month is it?",
            json!({"enable_reflection": true}),
        )
        .await;
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.result, "Tuesday in December.");
    let scores: Vec<f64> = of(&events, "REFLECTION")
        .iter()
        .map(|e| e.payload.as_ref().unwrap()["score"].as_f64().unwrap())
        .collect();
    assert_eq!(scores, [0.3, 0.9]);
    assert!(bodies_with(&r, "Rewrite the answer")[0].contains("Name the day and the month"));
    assert_eq!(task.metadata["had_reflection"], true);
    assert_eq!(task.metadata["quality_score"], 0.9);
    let rewrite = find(&events, "LLM_OUTPUT", "reflection-synth", "");
    assert!(
        rewrite
            < find(
                &events,
                "LLM_OUTPUT",
                "final_output",
                "Tuesday in December."
            )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_cognitive_strategy_is_refused() {
    let r = rig("openai").await;
    let req: SubmitTaskRequest = serde_json::from_value(json!({
        "query": "q", "mode": "complex", "context": {"cognitive_strategy": "astrology"},
    }))
    .unwrap();
    let err = r.core.submit_task(&r.me, req, None).await.unwrap_err();
    assert_eq!(err.code(), "invalid_request");
    assert!(err.to_string().contains("cognitive_strategy"), "{err}");
}
