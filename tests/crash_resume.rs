//! The step journal across a real crash: the headless example in serve mode runs a standard task
//! with three tool rounds against a fake provider that counts requests; the process is killed with
//! SIGKILL while its third model call is in flight, restarted on the same data dir, and the task
//! finishes with the provider seeing only the calls not yet journaled (the one in flight, repeated,
//! and the last one). The answer, token totals and model breakdown equal an uninterrupted run's; no
//! token-usage row is duplicated and event seqs stay contiguous. The same for a `complex` task
//! killed mid-DAG: after the restart only the unfinished subtask and the synthesis are asked for;
//! for a `supervisor` task killed in its second round, whose plan revision is not asked again; and
//! for a task killed while it waits for approval, which after the restart waits for the same request
//! (same id, same deadline) and runs once approved; and for a swarm killed in its second round,
//! which goes on from its journaled board without asking the lead or the first agent again.

#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/serve.rs"]
mod serve;

use std::path::Path;
use std::time::{Duration, Instant};

use fake_provider::{FakeProvider, FakeUsage, Reply, Scripted};
use rusqlite::Connection;
use serde_json::{Value, json};
use serve::{ServeOptions, Server, TOKEN};
use tauri_plugin_shannon::core::store::DATABASE_FILE;

/// The headless server on a data dir with the fake provider as its default, and its URL.
fn serve(data: &Path, provider_url: &str) -> (Server, String) {
    let server = serve::serve(data, &ServeOptions::openai(provider_url));
    let url = server.url.clone();
    (server, url)
}

fn tool_round(n: u64, expression: &str) -> Scripted {
    Scripted::Stream(
        Reply::text([format!("Let me compute step {n}.")])
            .tool_call(
                &format!("call_{n}"),
                "calculator",
                [json!({"expression": expression}).to_string()],
            )
            .usage(FakeUsage::new(100 * n, 10 * n)),
    )
}

fn final_answer() -> Scripted {
    Scripted::Stream(
        Reply::text(["The results are ", "4, 9 and 6."]).usage(FakeUsage::new(400, 40)),
    )
}

async fn submit(client: &reqwest::Client, url: &str) -> String {
    let body = json!({"query": "Compute 2+2, 3*3 and 10-4 with the calculator, one at a time.", "mode": "standard"});
    serve::submit(client, url, &body).await["task_id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn wait_completed(client: &reqwest::Client, url: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(resp) = client
            .get(format!("{url}/api/v1/tasks/{id}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            && let Ok(task) = resp.json::<Value>().await
        {
            let status = task["status"].as_str().unwrap_or_default();
            if status == "TASK_STATUS_COMPLETED" {
                return task;
            }
            assert!(
                !status.ends_with("FAILED") && !status.ends_with("CANCELLED"),
                "{task}"
            );
        }
        assert!(Instant::now() < deadline, "the task did not complete");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn wait_requests(fake: &FakeProvider, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while fake.requests().len() < n {
        assert!(
            Instant::now() < deadline,
            "the provider saw {} requests",
            fake.requests().len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What must match between the crashed and the uninterrupted run.
fn outcome(task: &Value) -> Value {
    json!({
        "result": task["result"],
        "usage": task["usage"],
        "total_tokens": task["metadata"]["total_tokens"],
        "model_breakdown": task["metadata"]["model_breakdown"],
    })
}

fn stored(data: &Path, workflow_id: &str) -> (Vec<u32>, Vec<String>) {
    let db = Connection::open(data.join(DATABASE_FILE)).unwrap();
    let seqs = db
        .prepare("SELECT seq FROM task_events WHERE workflow_id = ?1 ORDER BY seq")
        .unwrap()
        .query_map([workflow_id], |r| r.get(0))
        .unwrap()
        .collect::<Result<Vec<u32>, _>>()
        .unwrap();
    let usage_steps = db
        .prepare(
            "SELECT u.step_key FROM token_usage u JOIN tasks t ON t.id = u.task_id
             WHERE t.workflow_id = ?1 ORDER BY u.id",
        )
        .unwrap()
        .query_map([workflow_id], |r| r.get(0))
        .unwrap()
        .collect::<Result<Vec<String>, _>>()
        .unwrap();
    (seqs, usage_steps)
}

/// The provider of the three-round task, whose third call hangs until the process stops; after a
/// restart it answers that call again and the last one.
async fn hanging_third_call() -> FakeProvider {
    let fake = FakeProvider::start().await;
    fake.push(tool_round(1, "2+2")).push(tool_round(2, "3*3"));
    fake.push(Scripted::Delayed(
        Duration::from_secs(600),
        Box::new(tool_round(3, "10-4")),
    ));
    fake.push(tool_round(3, "10-4")).push(final_answer());
    fake
}

/// A task stopped with its third call in flight and completed after a restart: the provider saw
/// the two calls before the stop, the one in flight, it again with the same conversation, and the
/// last; no tool ran twice; event seqs are contiguous and each model call has one usage row.
fn assert_resumed_from_the_journal(fake: &FakeProvider, data: &Path, id: &str, task: &Value) {
    let requests = fake.requests();
    assert_eq!(
        requests.len(),
        5,
        "two calls before the stop, the one in flight, then it again and the last one"
    );
    assert_eq!(
        requests[3].body["messages"], requests[2].body["messages"],
        "after the restart the provider sees the call that was in flight, with the same conversation"
    );
    let tool_results = |i: usize| {
        requests[i].body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "tool")
            .count()
    };
    assert_eq!(
        (tool_results(3), tool_results(4)),
        (2, 3),
        "no tool ran twice"
    );
    assert_eq!(task["metadata"]["total_tokens"], 1100);
    let (seqs, usage_steps) = stored(data, id);
    assert_eq!(
        seqs,
        (1..=seqs.len() as u32).collect::<Vec<_>>(),
        "contiguous event seqs"
    );
    assert_eq!(
        usage_steps,
        ["call/1", "call/2", "call/3", "call/4"],
        "one usage row per model call"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_killed_mid_call_resumes_from_its_journal_without_repeating_finished_steps() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();

    // The uninterrupted run, for comparison.
    let calm = FakeProvider::start().await;
    for s in [
        tool_round(1, "2+2"),
        tool_round(2, "3*3"),
        tool_round(3, "10-4"),
        final_answer(),
    ] {
        calm.push(s);
    }
    let calm_dir = tempfile::tempdir().unwrap();
    let (server, url) = serve(calm_dir.path(), &format!("{}/v1", calm.base_url()));
    let id = submit(&client, &url).await;
    let expected = outcome(&wait_completed(&client, &url, &id).await);
    drop(server);
    assert_eq!(calm.requests().len(), 4);

    // The crashed run: the third call hangs until the process is killed.
    let fake = hanging_third_call().await;
    let dir = tempfile::tempdir().unwrap();
    let provider_url = format!("{}/v1", fake.base_url());
    let (server, url) = serve(dir.path(), &provider_url);
    let id = submit(&client, &url).await;
    wait_requests(&fake, 3).await;
    drop(server); // SIGKILL, with the third model call in flight

    let (server, url) = serve(dir.path(), &provider_url);
    let task = wait_completed(&client, &url, &id).await;
    drop(server);

    assert_resumed_from_the_journal(&fake, dir.path(), &id, &task);
    assert_eq!(
        outcome(&task),
        expected,
        "the same answer, totals and breakdown as without the crash"
    );
}

/// A three-subtask plan whose third agent hangs (`gamma` says how), and the synthesis.
fn dag_script(fake: &FakeProvider, gamma: Scripted) {
    let plan = json!({"complexity_score": 0.7, "subtasks": [
        {"id": "task-1", "description": "Research alpha"},
        {"id": "task-2", "description": "Research beta"},
        {"id": "task-3", "description": "Research gamma"},
    ]});
    fake.route(
        "planning assistant",
        Scripted::Stream(Reply::text([plan.to_string()])),
    );
    fake.route(
        "Research alpha",
        Scripted::Stream(Reply::text(["alpha answer"])),
    );
    fake.route(
        "Research beta",
        Scripted::Stream(Reply::text(["beta answer"])),
    );
    fake.route("Research gamma", gamma);
    fake.route(
        "Results of the team",
        Scripted::Stream(Reply::text(["the combined answer"])),
    );
}

async fn submit_complex(client: &reqwest::Client, url: &str) -> String {
    let body = json!({"query": "Tell me about alpha, beta and gamma", "mode": "complex"});
    serve::submit(client, url, &body).await["task_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn subtasks_done(data: &Path) -> u32 {
    let db = Connection::open(data.join(DATABASE_FILE)).unwrap();
    db.query_row(
        "SELECT count(*) FROM task_steps WHERE step_key LIKE 'subtask/%' AND kind = 'subtask'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_complex_task_killed_mid_dag_runs_only_the_unfinished_subtasks() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();

    let calm = FakeProvider::start().await;
    dag_script(&calm, Scripted::Stream(Reply::text(["gamma answer"])));
    let calm_dir = tempfile::tempdir().unwrap();
    let (server, url) = serve(calm_dir.path(), &format!("{}/v1", calm.base_url()));
    let id = submit_complex(&client, &url).await;
    let expected = wait_completed(&client, &url, &id).await;
    drop(server);
    assert_eq!(calm.requests().len(), 5, "plan, three agents, synthesis");

    let fake = FakeProvider::start().await;
    let hang = Scripted::Delayed(
        Duration::from_secs(600),
        Box::new(Scripted::Stream(Reply::text(["never"]))),
    );
    dag_script(&fake, hang);
    let dir = tempfile::tempdir().unwrap();
    let provider_url = format!("{}/v1", fake.base_url());
    let (server, url) = serve(dir.path(), &provider_url);
    let id = submit_complex(&client, &url).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while subtasks_done(dir.path()) < 2 {
        assert!(Instant::now() < deadline, "two subtasks never finished");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(server); // SIGKILL, with the third agent's call in flight
    assert_eq!(fake.requests().len(), 4);

    fake.route(
        "Research gamma",
        Scripted::Stream(Reply::text(["gamma answer"])),
    );
    let (server, url) = serve(dir.path(), &provider_url);
    let task = wait_completed(&client, &url, &id).await;
    drop(server);
    let after: Vec<String> = fake.requests()[4..]
        .iter()
        .map(|r| r.body.to_string())
        .collect();
    assert_eq!(
        after.len(),
        2,
        "only the unfinished subtask and the synthesis: {after:?}"
    );
    assert!(after[0].contains("Research gamma"));
    assert!(
        after[1].contains("alpha answer") && after[1].contains("beta answer"),
        "the synthesis gets the journaled results"
    );
    assert_eq!(
        outcome(&task),
        outcome(&expected),
        "the same answer, totals and breakdown"
    );
    assert_eq!(task["metadata"]["agent_count"], 3);

    let (seqs, usage_steps) = stored(dir.path(), &id);
    assert_eq!(
        seqs,
        (1..=seqs.len() as u32).collect::<Vec<_>>(),
        "contiguous event seqs"
    );
    assert_eq!(
        usage_steps.len(),
        5,
        "one usage row per model call: {usage_steps:?}"
    );
    let db = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    let completed: u32 = db
        .query_row(
            "SELECT count(*) FROM task_events WHERE workflow_id = ?1 AND type = 'AGENT_COMPLETED'",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(completed, 3, "no AGENT_COMPLETED repeats");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_supervised_task_killed_in_its_second_round_keeps_its_rounds_and_revision() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let fake = FakeProvider::start().await;
    let plan = json!({"complexity_score": 0.7, "subtasks": [
        {"id": "task-1", "description": "Research alpha"},
        {"id": "task-2", "description": "Research beta"},
        {"id": "task-3", "description": "Compare them", "dependencies": ["task-1", "task-2"]},
    ]});
    let text = |t: &str| Scripted::Stream(Reply::text([t.to_string()]));
    fake.route("planning assistant", text(&plan.to_string()));
    fake.route("Research alpha", text("alpha answer"));
    fake.route("Research beta", text("beta answer"));
    fake.route("supervise a team", text(r#"{"action": "keep"}"#));
    fake.route(
        "Compare them",
        Scripted::Delayed(Duration::from_secs(600), Box::new(text("never"))),
    );
    let dir = tempfile::tempdir().unwrap();
    let provider_url = format!("{}/v1", fake.base_url());
    let (server, url) = serve(dir.path(), &provider_url);
    let body = json!({"query": "Compare alpha and beta", "mode": "supervisor"});
    let id = serve::submit(&client, &url, &body).await["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_requests(&fake, 5).await;
    drop(server); // SIGKILL, with the third agent's call in flight

    fake.route("Compare them", text("alpha beats beta"));
    fake.route("Results of the team", text("alpha, then beta"));
    let (server, url) = serve(dir.path(), &provider_url);
    let task = wait_completed(&client, &url, &id).await;
    drop(server);
    let after: Vec<String> = fake.requests()[5..]
        .iter()
        .map(|r| r.body.to_string())
        .collect();
    assert_eq!(
        after.len(),
        2,
        "the third agent and the synthesis: {after:?}"
    );
    assert!(after[0].contains("Compare them") && after[0].contains("alpha answer"));
    assert!(after[1].contains("Results of the team"));
    assert_eq!(task["result"], "alpha, then beta");
    assert_eq!(task["metadata"]["execution_mode"], "supervisor");
    let (seqs, _) = stored(dir.path(), &id);
    assert_eq!(seqs, (1..=seqs.len() as u32).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_waiting_for_approval_keeps_waiting_across_a_restart() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let fake = FakeProvider::start().await;
    fake.push(Scripted::Stream(Reply::text(["answered after approval"])));
    let dir = tempfile::tempdir().unwrap();
    let provider_url = format!("{}/v1", fake.base_url());
    let (server, url) = serve(dir.path(), &provider_url);
    let body = json!({"query": "Ask first", "context": {"require_approval": true}});
    let id = serve::submit(&client, &url, &body).await["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let pending = |url: String| {
        let client = client.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let list: Value = client
                    .get(format!("{url}/api/v1/approvals"))
                    .bearer_auth(TOKEN)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if let Some(first) = list.as_array().and_then(|l| l.first()) {
                    return first.clone();
                }
                assert!(Instant::now() < deadline, "no pending approval");
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    };
    let before = pending(url.clone()).await;
    drop(server); // SIGKILL while the task waits

    let (server, url) = serve(dir.path(), &provider_url);
    let after = pending(url.clone()).await;
    assert_eq!(
        after["approval_id"], before["approval_id"],
        "the same request"
    );
    assert_eq!(
        after["expires_at"], before["expires_at"],
        "the same deadline"
    );
    assert_eq!(fake.requests().len(), 0, "nothing ran before the decision");
    let decision =
        json!({"workflow_id": id, "approval_id": after["approval_id"], "approved": true});
    let sent = client
        .post(format!("{url}/api/v1/approvals/decision"))
        .bearer_auth(TOKEN)
        .json(&decision)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let task = wait_completed(&client, &url, &id).await;
    drop(server);
    assert_eq!(task["result"], "answered after approval");
    let db = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    let requested: u32 = db
        .query_row(
            "SELECT count(*) FROM task_events WHERE workflow_id = ?1 AND type = 'APPROVAL_REQUESTED'",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(requested, 1, "asked once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_swarm_killed_in_its_second_round_goes_on_from_its_journaled_board() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let fake = FakeProvider::start().await;
    let text = |v: Value| Scripted::Stream(Reply::text([v.to_string()]));
    fake.route(
        "You lead a team",
        text(json!({"actions": [
            {"type": "revise_plan", "create": [{"id": "t-1", "description": "Count the apples"},
                                               {"id": "t-2", "description": "Count the pears",
                                                "depends_on": ["t-1"]}]},
            {"type": "spawn_agent", "role": "analyst", "task_id": "t-1"}]})),
    );
    fake.route(
        "Your task [t-1]",
        text(json!({"action": "done", "summary": "Three apples."})),
    );
    fake.route(
        "You lead a team",
        text(json!({"actions": [{"type": "spawn_agent", "role": "analyst", "task_id": "t-2"}]})),
    );
    fake.route(
        "Your task [t-2]",
        Scripted::Delayed(
            Duration::from_secs(600),
            Box::new(text(json!({"action": "done"}))),
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let provider_url = format!("{}/v1", fake.base_url());
    let (server, url) = serve(dir.path(), &provider_url);
    let body =
        json!({"query": "Count the fruit", "mode": "complex", "context": {"force_swarm": true}});
    let id = serve::submit(&client, &url, &body).await["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_requests(&fake, 4).await;
    drop(server); // SIGKILL, with the second agent's step in flight

    fake.route(
        "Your task [t-2]",
        text(json!({"action": "done", "summary": "Two pears."})),
    );
    fake.route(
        "You lead a team",
        text(json!({"actions": [{"type": "synthesize"}]})),
    );
    fake.route(
        "combine the findings",
        Scripted::Stream(Reply::text(["Three apples and two pears."])),
    );
    let (server, url) = serve(dir.path(), &provider_url);
    let task = wait_completed(&client, &url, &id).await;
    drop(server);
    let after: Vec<String> = fake.requests()[4..]
        .iter()
        .map(|r| r.body.to_string())
        .collect();
    assert_eq!(
        after.len(),
        3,
        "the second agent, the lead's next round, the synthesis: {after:?}"
    );
    assert!(after[0].contains("Your task [t-2]"));
    assert!(after[1].contains("You lead a team") && after[1].contains("Two pears."));
    assert!(after[2].contains("Three apples.") && after[2].contains("Two pears."));
    assert_eq!(task["result"], "Three apples and two pears.");
    assert_eq!(task["metadata"]["tasks"]["completed"], 2);
}

/// SIGTERM to `serve` while a model call is in flight: the process stops in order within 5 s and
/// leaves the task unfinished (not cancelled, not failed), its events stored; the next start
/// completes it, asking the provider again only for the call that was in flight.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_answer_stops_within_five_seconds_and_the_task_resumes() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let fake = hanging_third_call().await;
    let dir = tempfile::tempdir().unwrap();
    let provider_url = format!("{}/v1", fake.base_url());
    let (mut server, url) = serve(dir.path(), &provider_url);
    let id = submit(&client, &url).await;
    wait_requests(&fake, 3).await;

    let sent = Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    while server.alive() {
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "serve did not exit within 5 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        server.log_text().contains("terminated: stopping"),
        "{}",
        server.log_text()
    );
    let db = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    let status: String = db
        .query_row(
            "SELECT status FROM tasks WHERE workflow_id = ?1",
            [&id],
            |r| r.get(0),
        )
        .unwrap();
    drop(db);
    assert_eq!(status, "RUNNING", "the task stays resumable");
    let (seqs, _) = stored(dir.path(), &id);
    assert!(
        !seqs.is_empty(),
        "what the task emitted before the stop is stored"
    );

    let (server, url) = serve(dir.path(), &provider_url);
    let task = wait_completed(&client, &url, &id).await;
    drop(server);
    assert_resumed_from_the_journal(&fake, dir.path(), &id, &task);
}
