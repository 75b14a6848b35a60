//! Remote mode through the IPC door, against the project's fake Shannon cloud
//! (tests/support/fake_cloud): profiles and verify, a remote task streamed, controlled and ended
//! like a local one, the pump's reconnect, back-fill and missing STREAM_END, sessions kept on one
//! backend, the offline paths, JWT refresh, a restart that re-attaches, and the credential kept out
//! of the database, the WAL, the logs and every IPC answer.

mod common;
#[path = "support/fake_cloud/mod.rs"]
mod fake_cloud;
#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/log_capture.rs"]
mod log_capture;
#[path = "support/remote_app.rs"]
mod remote_app;
#[path = "support/rig.rs"]
mod rig;
#[path = "support/serve.rs"]
mod serve;

use std::time::{Duration, Instant};

use common::TestApp;
use fake_cloud::{FakeConfig, Fault, Script, TEST_KEY};
use remote_app::{Cloud, add_profile, app_on, logs, stream, submit, submitted, wait_status};
use serde_json::{Value, json};
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::remote::{RemoteCredential, SaveRemoteProfile};
use tauri_plugin_shannon::core::tasks::SubmitTaskRequest;
use tauri_plugin_shannon::core::{Core, CoreConfig};

/// Waits until the cloud's newest task has published at least `n` events (mid-answer).
fn wait_published(cloud: &Cloud, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while cloud
        .fake
        .workflows()
        .last()
        .is_none_or(|wf| cloud.fake.emitted(wf).len() < n)
    {
        assert!(
            Instant::now() < deadline,
            "the cloud task never got {n} events in"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until `remote_status` shows a profile in `state`.
fn wait_profile_state(t: &TestApp, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = t.ok("remote_status", json!({}));
        if status["profiles"].to_string().contains(state) {
            return status;
        }
        assert!(Instant::now() < deadline, "never {state}: {status}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What the local stream of a remote task holds for the cloud's log: every event the cloud
/// emitted, in order, except its end (the local end writes its own) and its prompts.
fn expected_from(log: &[fake_cloud::Emitted]) -> Vec<(String, String)> {
    log.iter()
        .filter(|e| {
            !matches!(
                e.event_type.as_str(),
                "WORKFLOW_COMPLETED" | "STREAM_END" | "LLM_PROMPT" | "WORKFLOW_CANCELLED"
            )
        })
        .map(|e| (e.event_type.clone(), e.message.clone()))
        .collect()
}

/// The local stream holds every event the cloud stored, once and in order (deltas aside: a gap
/// can lose them for good).
fn assert_stored_once(events: &[Value], log: &[fake_cloud::Emitted], why: &str) {
    let stored = |v: Vec<(String, String)>| -> Vec<(String, String)> {
        v.into_iter()
            .filter(|(ty, _)| ty != "LLM_PARTIAL")
            .collect()
    };
    assert_eq!(stored(pairs(events)), stored(expected_from(log)), "{why}");
}

/// Consecutive deltas as one (the hub merges deltas that waited for the same commit before anyone
/// saw them, so their count may differ from the cloud's; their text and place may not).
fn merged(v: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (ty, text) in v {
        match out.last_mut() {
            Some((last, acc)) if ty == "LLM_PARTIAL" && last == "LLM_PARTIAL" => {
                acc.push_str(&text)
            }
            _ => out.push((ty, text)),
        }
    }
    out
}

/// The local stream is the cloud's, every event once and in order (deltas merged as above).
fn assert_same_stream(events: &[Value], log: &[fake_cloud::Emitted], why: &str) {
    assert_eq!(merged(pairs(events)), merged(expected_from(log)), "{why}");
}

fn pairs(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| {
            !matches!(
                e["type"].as_str(),
                Some("WORKFLOW_COMPLETED" | "STREAM_END" | "WORKFLOW_CANCELLED" | "WARNING")
            )
        })
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn remote_workflow(cloud: &Cloud) -> String {
    cloud
        .fake
        .workflows()
        .last()
        .cloned()
        .expect("a cloud task")
}

fn seqs_are_contiguous(events: &[Value]) {
    let stored: Vec<u64> = events
        .iter()
        .filter(|e| e["type"] != "LLM_PARTIAL" && e["type"] != "LLM_PROMPT")
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    let want: Vec<u64> = (1..=stored.len() as u64).collect();
    assert_eq!(stored, want, "one contiguous local stream");
}

#[test]
fn profiles_are_checked_verified_and_never_show_their_secret() {
    let cloud = Cloud::quick("hi", 2, 5);
    let t = TestApp::new();
    // https is required except to loopback, unless the profile opts in.
    let e = t.err(
        "save_remote_profile",
        json!({"profile": {"name": "x", "base_url": "http://cloud.example.com"}}),
        "invalid_request",
    );
    assert!(e["message"].as_str().unwrap().contains("https"), "{e}");
    t.ok(
        "save_remote_profile",
        json!({"profile": {"id": "lan", "name": "x", "base_url": "http://cloud.example.com", "allow_insecure_http": true}}),
    );
    t.err(
        "save_remote_profile",
        json!({"profile": {"name": "x", "base_url": "https://user:pw@cloud.example.com"}}),
        "invalid_request",
    );
    t.err(
        "save_remote_profile",
        json!({"profile": {"id": "local", "name": "x", "base_url": "https://a.example.com"}}),
        "invalid_request",
    );
    t.err(
        "save_remote_profile",
        json!({"profile": {"name": "x", "base_url": "https://a.example.com", "ca_cert_pem": "not a cert"}}),
        "invalid_request",
    );

    let saved = add_profile(&t, &cloud, json!({}));
    assert_eq!(saved["has_credential"], false, "stored after the save");
    let listed = t.ok("list_remote_profiles", json!({}));
    let team = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "team")
        .unwrap();
    assert_eq!(team["has_credential"], true);
    assert!(!listed.to_string().contains(TEST_KEY));

    let report = t.ok(
        "verify_remote_profile",
        json!({"profileId": "team", "fresh": true}),
    );
    assert_eq!(report["reachable"], true, "{report}");
    assert_eq!(report["ready"], true);
    assert_eq!(report["auth"], "ok");
    assert_eq!(report["tier"], "free");
    assert!(report["user_id"].as_str().is_some());
    assert_eq!(report["rate_limit_minute"]["limit"], 60);
    assert!(report["latency_ms"].as_u64().is_some());
    let caps = report["capabilities"].to_string();
    for c in ["tasks", "sessions", "llm_models"] {
        assert!(caps.contains(c), "{c} in {caps}");
    }
    assert!(report["models"].to_string().contains("gpt-5-mini"));
    let status = t.ok("remote_status", json!({}));
    assert_eq!(status["enabled"], true);
    assert!(
        status["profiles"].to_string().contains("online"),
        "{status}"
    );

    // A wrong key: auth invalid, and a submission says remote_auth naming the host.
    t.ok(
        "set_remote_credential",
        json!({"profileId": "team", "credential": {"kind": "api_key", "api_key": "sk_wrong"}}),
    );
    let report = t.ok(
        "verify_remote_profile",
        json!({"profileId": "team", "fresh": true}),
    );
    assert_eq!(report["auth"], "invalid");
    let e = t.err(
        "submit_task",
        json!({"request": {"query": "hi", "target": "team"}, "idempotencyKey": null}),
        "remote_auth",
    );
    assert!(e["message"].as_str().unwrap().contains("127.0.0.1"), "{e}");

    // Moving the profile to another host drops the credential stored for the old one.
    t.ok(
        "set_remote_credential",
        json!({"profileId": "team", "credential": {"kind": "api_key", "api_key": TEST_KEY}}),
    );
    let moved = t.ok(
        "save_remote_profile",
        json!({"profile": {"id": "team", "name": "Team", "base_url": "https://elsewhere.example.com"}}),
    );
    assert_eq!(moved["has_credential"], false, "never sent to the new host");

    // An unreachable server: a report, quickly, not an error and not a hang.
    let started = Instant::now();
    let report = t.ok(
        "verify_remote_profile",
        json!({"profileId": "lan", "fresh": true}),
    );
    assert_eq!(report["reachable"], false);
    assert!(started.elapsed() < Duration::from_secs(10));

    t.ok("delete_remote_profile", json!({"profileId": "lan"}));
    t.err(
        "delete_remote_profile",
        json!({"profileId": "lan"}),
        "not_found",
    );

    // The global switch turns every remote feature off.
    t.ok(
        "set_remote_config",
        json!({"config": {"enabled": false, "default_target": "local"}}),
    );
    t.err("list_remote_profiles", json!({}), "unsupported_by_remote");
    t.err(
        "submit_task",
        json!({"request": {"query": "hi", "target": "team"}, "idempotencyKey": null}),
        "unsupported_by_remote",
    );
}

#[test]
fn managing_profiles_is_opt_in_for_the_webview() {
    let t = TestApp::with_setup(
        common::AppSetup {
            dir: tempfile::tempdir().unwrap(),
            allowed: common::commands_of_set("default.toml", "default"),
            store_plugin: false,
            plugin_conf: None,
        },
        |b| b,
    );
    t.ok("list_remote_profiles", json!({}));
    t.ok("remote_status", json!({}));
    for (cmd, args) in [
        (
            "save_remote_profile",
            json!({"profile": {"name": "evil", "base_url": "https://evil.example.com"}}),
        ),
        (
            "set_remote_credential",
            json!({"profileId": "x", "credential": null}),
        ),
        ("delete_remote_profile", json!({"profileId": "x"})),
        (
            "set_remote_config",
            json!({"config": {"enabled": true, "default_target": "x"}}),
        ),
    ] {
        assert!(t.invoke(cmd, args).is_err(), "{cmd} needs the opt-in set");
    }
}

#[test]
fn a_remote_task_streams_and_ends_like_a_local_one() {
    let answer = "The cloud says hello, in several pieces.";
    let cloud = Cloud::quick(answer, 6, 15);
    let t = app_on(&cloud);
    let sub = submit(
        &t,
        json!({"query": "Say hello", "target": "team", "session_id": "trip"}),
    );
    assert_eq!(sub["executor"], "remote:team");
    let task = sub["task_id"].as_str().unwrap().to_string();
    let events = stream(&t, &task, 1, None);
    let wf = remote_workflow(&cloud);
    let log = cloud.fake.emitted(&wf);
    assert_eq!(
        pairs(&events),
        expected_from(&log),
        "every cloud event once, in order"
    );
    seqs_are_contiguous(&events);
    let n = events.len();
    assert_eq!(events[n - 2]["type"], "WORKFLOW_COMPLETED");
    assert_eq!(events[n - 1]["type"], "STREAM_END");

    let done = t.ok("get_task", json!({"taskId": task}));
    assert_eq!(done["status"], "TASK_STATUS_COMPLETED");
    assert_eq!(done["result"], answer);
    assert_eq!(done["executor"], "remote:team");
    assert_eq!(
        done["usage"]["total_tokens"], 150,
        "the cloud's usage: {done}"
    );
    // The stored stream is the one the channel carried; a resume replays from it.
    let again = stream(&t, &task, 2, Some(3));
    assert_eq!(
        again,
        events
            .iter()
            .filter(|e| e["type"] != "LLM_PARTIAL" && e["seq"].as_u64().unwrap() > 3)
            .cloned()
            .collect::<Vec<_>>()
    );

    // The session lives on the cloud: the next turn goes there without naming it; naming this
    // device is refused with a hint to fork.
    let sessions = t.ok("list_sessions", json!({"limit": 10, "offset": null}));
    assert!(sessions.to_string().contains("remote:team"), "{sessions}");
    let session = sub["session_id"].as_str().unwrap();
    let next = submit(&t, json!({"query": "And again", "session_id": session}));
    assert_eq!(next["executor"], "remote:team");
    stream(&t, next["task_id"].as_str().unwrap(), 3, None);
    let e = t.err(
        "submit_task",
        json!({"request": {"query": "here", "session_id": session, "target": "local"}, "idempotencyKey": null}),
        "session_on_other_backend",
    );
    assert!(e["message"].as_str().unwrap().contains("fork"), "{e}");

    // Approvals of a remote task belong to its cloud.
    t.err(
        "decide_approval",
        json!({"decision": {"workflow_id": task, "approval_id": "x", "approved": true,
               "run_id": null, "feedback": null, "modified_action": null, "approved_by": null, "scope": null}}),
        "unsupported_by_remote",
    );
    // A rename is made on the cloud, then here.
    t.ok(
        "rename_session",
        json!({"sessionId": session, "title": "Trip plans"}),
    );
    let on_cloud = cloud.rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/api/v1/sessions/{session}", cloud.fake.url()))
            .header("X-API-Key", TEST_KEY)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    assert_eq!(on_cloud["context"]["title"], "Trip plans", "{on_cloud}");

    // A fork continues it here, with its turns as memory.
    let fork = t.ok("fork_session", json!({"sessionId": session}));
    assert_eq!(fork["turns"], 2);
    let local = submit(
        &t,
        json!({"query": "offline now", "session_id": fork["session_id"]}),
    );
    assert_eq!(local["executor"], "local");
    stream(&t, local["task_id"].as_str().unwrap(), 4, None);
    let history = t.ok(
        "get_session_history",
        json!({"sessionId": fork["session_id"]}),
    );
    assert_eq!(history["total"], 3, "{history}");
    // Deleting the remote session deletes it on the cloud too.
    t.ok("delete_session", json!({"sessionId": session}));
    let status = cloud.rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/api/v1/sessions/{session}", cloud.fake.url()))
            .header("X-API-Key", TEST_KEY)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 404);
}

#[test]
fn a_remote_task_fails_and_is_controlled_through_the_cloud() {
    let cloud = Cloud::quick("slow answer in many pieces", 30, 60);
    let t = app_on(&cloud);
    let task = submitted(&t, json!({"query": "slow", "target": "team"}));
    wait_published(&cloud, 4);
    // A message for the lead of a swarm goes to the cloud's task.
    let sent = t.ok(
        "send_swarm_message",
        json!({"taskId": task, "message": "focus on the cost"}),
    );
    assert_eq!(sent["success"], true, "{sent}");
    let got = cloud.fake.state.lock().unwrap().swarm_messages.clone();
    assert_eq!(
        got,
        vec![(remote_workflow(&cloud), "focus on the cost".to_string())]
    );
    let paused = t.ok("pause_task", json!({"taskId": task, "reason": "lunch"}));
    assert_eq!(paused["success"], true, "{paused}");
    wait_status(&t, &task, "TASK_STATUS_PAUSED");
    let state = t.ok("get_control_state", json!({"taskId": task}));
    assert_eq!(state["is_paused"], true);
    assert_eq!(state["pause_reason"], "lunch");
    // The cloud's refusal (502) is invalid_state.
    t.err(
        "pause_task",
        json!({"taskId": task, "reason": null}),
        "invalid_state",
    );
    t.ok("resume_task", json!({"taskId": task, "reason": null}));
    wait_status(&t, &task, "TASK_STATUS_RUNNING");
    let cancelled = t.ok("cancel_task", json!({"taskId": task, "reason": "enough"}));
    assert_eq!(cancelled["success"], true);
    let events = stream(&t, &task, 1, None);
    seqs_are_contiguous(&events);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for t in ["WORKFLOW_PAUSED", "WORKFLOW_RESUMED", "WORKFLOW_CANCELLED"] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    wait_status(&t, &task, "TASK_STATUS_CANCELLED");
    let again = t.ok("cancel_task", json!({"taskId": task, "reason": null}));
    assert_eq!(
        again["success"], false,
        "a finished task: accepted, not cancelled"
    );

    // A cloud failure (ERROR_OCCURRED and then nothing, as v0.5.1) ends the local task FAILED.
    cloud.fake.set_script(Script::failing(
        "the model fell over",
        Duration::from_millis(10),
    ));
    let failed = submitted(&t, json!({"query": "fail", "target": "team"}));
    let events = stream(&t, &failed, 2, None);
    assert!(events.iter().any(|e| e["type"] == "ERROR_OCCURRED"));
    let row = wait_status(&t, &failed, "TASK_STATUS_FAILED");
    assert!(
        row["error"].as_str().unwrap().contains("fell over"),
        "{row}"
    );
}

#[test]
fn the_pump_survives_resets_gaps_and_a_missing_stream_end() {
    let script = Script::answer(
        "a long answer that keeps on coming for a while",
        12,
        Duration::from_millis(25),
    );
    let cloud = Cloud::start(FakeConfig {
        script: script.clone(),
        linger_after_end: Duration::from_millis(300),
        ..FakeConfig::default()
    });
    let t = app_on(&cloud);

    // Reset mid-answer twice: no event lost or twice against the fake's log.
    cloud.fake.inject(Fault::ResetStreamAfter {
        events: 4,
        connections: Some(2),
    });
    let task = submitted(&t, json!({"query": "reset me", "target": "team"}));
    let events = stream(&t, &task, 1, None);
    let log = cloud.fake.emitted(&remote_workflow(&cloud));
    assert_same_stream(&events, &log, "no event lost or twice across the resets");
    seqs_are_contiguous(&events);

    // Events the live stream never delivered (a slow reader's loss) past a ring that trimmed
    // them: the stored ones come back from the cloud's event rows; the lost deltas are said.
    let cloud = Cloud::start(FakeConfig {
        script,
        linger_after_end: Duration::from_millis(300),
        ring_capacity: 4,
        ..FakeConfig::default()
    });
    let t = app_on(&cloud);
    cloud.fake.inject(Fault::DropLive { events: 7 });
    let task = submitted(&t, json!({"query": "gap", "target": "team"}));
    let events = stream(&t, &task, 2, None);
    let log = cloud.fake.emitted(&remote_workflow(&cloud));
    assert_stored_once(&events, &log, "every stored cloud event, once");
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "WARNING" && e["payload"]["reason"] == "remote_deltas_lost"),
        "the lost deltas are reported"
    );
    seqs_are_contiguous(&events);
    let done = wait_status(&t, &task, "TASK_STATUS_COMPLETED");
    assert_eq!(
        done["result"],
        "a long answer that keeps on coming for a while"
    );

    // No STREAM_END: the stream closes after the linger, the status says COMPLETED, the local
    // task ends with its own STREAM_END.
    cloud.fake.inject(Fault::NoStreamEnd);
    let task = submitted(&t, json!({"query": "no end", "target": "team"}));
    let events = stream(&t, &task, 3, None);
    assert_eq!(events.last().unwrap()["type"], "STREAM_END");
    wait_status(&t, &task, "TASK_STATUS_COMPLETED");
}

#[test]
fn offline_submissions_fail_fast_or_fall_back_and_live_streams_resume() {
    let cloud = Cloud::quick("one two three four five six seven eight", 16, 80);
    let t = app_on(&cloud);

    // The connection drops mid-answer: a WARNING, then the answer completes once it is back.
    let task = submitted(&t, json!({"query": "keep going", "target": "team"}));
    wait_published(&cloud, 5);
    cloud.stop();
    // The pump notices the cut stream and says so.
    wait_profile_state(&t, "offline");
    // Reads answer from the mirror meanwhile.
    let row = t.ok("get_task", json!({"taskId": task}));
    assert_eq!(row["status"], "TASK_STATUS_RUNNING");

    // A submission while it is down fails fast, naming the host.
    let started = Instant::now();
    let e = t.err(
        "submit_task",
        json!({"request": {"query": "now?", "target": "team"}, "idempotencyKey": null}),
        "remote_unreachable",
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(e["message"].as_str().unwrap().contains("127.0.0.1"), "{e}");
    let listed = t.ok("list_tasks", json!({"query": {"limit": 50}}));
    assert_eq!(
        listed["total_count"], 1,
        "a refused submission leaves no task behind: {listed}"
    );

    cloud.restart();
    let events = stream(&t, &task, 1, None);
    let log = cloud.fake.emitted(&remote_workflow(&cloud));
    let warning = events
        .iter()
        .position(|e| e["type"] == "WARNING" && e["payload"]["reason"] == "remote_connection_lost")
        .expect("a WARNING on the loss");
    assert!(warning > 0);
    assert_stored_once(&events, &log, "no gap once it answers again");
    wait_status(&t, &task, "TASK_STATUS_COMPLETED");

    // A profile that allows it runs a new session's first task here when the cloud is down,
    // and says so.
    add_profile(&t, &cloud, json!({"fallback_local": true}));
    cloud.stop();
    let sub = submit(&t, json!({"query": "fallback please", "target": "team"}));
    assert_eq!(sub["executor"], "local");
    assert!(
        sub["message"].as_str().unwrap().contains("this device"),
        "{sub}"
    );
    let events = stream(&t, sub["task_id"].as_str().unwrap(), 2, None);
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "PROGRESS" && e["message"].as_str().unwrap().contains("instead")),
    );
}

#[test]
fn local_only_things_are_refused_before_anything_is_sent() {
    let cloud = Cloud::quick("x", 1, 5);
    let t = app_on(&cloud);
    for (request, why) in [
        (
            json!({"query": "q", "target": "team", "provider_override": "demo"}),
            "demo",
        ),
        (
            json!({"query": "q", "target": "team", "provider_override": "lmstudio"}),
            "lmstudio",
        ),
        (
            json!({"query": "q", "target": "team", "context": {"tools_to_use": ["mcp__files__read"]}}),
            "mcp__files__read",
        ),
    ] {
        let e = t.err(
            "submit_task",
            json!({"request": request, "idempotencyKey": null}),
            "unsupported_by_remote",
        );
        assert!(e["message"].as_str().unwrap().contains(why), "{e}");
    }
    assert!(
        cloud.fake.workflows().is_empty(),
        "nothing reached the cloud"
    );
    t.err(
        "submit_task",
        json!({"request": {"query": "q", "target": "nope"}, "idempotencyKey": null}),
        "not_found",
    );
}

#[test]
fn an_expired_jwt_is_refreshed_and_the_new_one_sealed() {
    let cloud = Cloud::start(FakeConfig {
        access_ttl: Duration::from_secs(1),
        script: Script::answer("fresh", 2, Duration::from_millis(5)),
        linger_after_end: Duration::from_millis(300),
        ..FakeConfig::default()
    });
    let pair = cloud.fake.issue_tokens();
    let t = TestApp::new();
    add_profile(&t, &cloud, json!({"auth": "bearer"}));
    t.ok(
        "set_remote_credential",
        json!({"profileId": "team", "credential": {"kind": "bearer",
               "access_token": pair.access_token, "refresh_token": pair.refresh_token}}),
    );
    // Past the access token's 1 s life (the fake checks expiry in whole seconds).
    std::thread::sleep(Duration::from_millis(2100));
    let sub = submit(&t, json!({"query": "after expiry", "target": "team"}));
    let events = stream(&t, sub["task_id"].as_str().unwrap(), 1, None);
    assert_eq!(events.last().unwrap()["type"], "STREAM_END");
    wait_status(
        &t,
        sub["task_id"].as_str().unwrap(),
        "TASK_STATUS_COMPLETED",
    );
    assert_no_secret(&t, &[&pair.access_token, &pair.refresh_token]);
}

/// The core on `dir` with the profile `team` on the fake (what the plugin opens at start-up).
async fn open_core(dir: &std::path::Path) -> Core {
    Core::open(CoreConfig::new(dir)).await.unwrap()
}

#[test]
fn a_restarted_app_reattaches_and_finishes_the_remote_task() {
    let cloud = Cloud::quick("survives a restart of the app", 14, 70);
    let dir = tempfile::tempdir().unwrap();
    let me = Caller::embedded();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let task = rt.block_on(async {
        let core = open_core(dir.path()).await;
        core.save_remote_profile(SaveRemoteProfile {
            id: Some("team".into()),
            name: "Team".into(),
            base_url: cloud.fake.url(),
            ..Default::default()
        })
        .await
        .unwrap();
        core.set_remote_credential(
            "team",
            Some(RemoteCredential::ApiKey {
                api_key: TEST_KEY.into(),
            }),
        )
        .await
        .unwrap();
        let sub = core
            .submit_task(
                &me,
                SubmitTaskRequest {
                    query: "long".into(),
                    target: Some("team".into()),
                    ..Default::default()
                },
                None,
            )
            .await
            .unwrap();
        let mid_answer = cloud.fake.workflows().last().cloned().unwrap();
        while cloud.fake.emitted(&mid_answer).len() < 5 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The app exits mid-answer; the cloud goes on.
        core.shutdown(Duration::from_secs(3)).await;
        sub.task_id
    });
    drop(rt);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (events, done) = rt.block_on(async {
        let core = open_core(dir.path()).await;
        let mut sub = core.subscribe_task(&me, &task, None, None).await.unwrap();
        let mut events = Vec::new();
        while let Some(e) = tokio::time::timeout(Duration::from_secs(30), sub.next())
            .await
            .expect("the re-attached stream goes on")
        {
            events.push(serde_json::to_value(&e).unwrap());
        }
        let done = core.get_task(&me, &task).await.unwrap();
        core.shutdown(Duration::from_secs(3)).await;
        (events, done)
    });
    let log = cloud.fake.emitted(&remote_workflow(&cloud));
    assert_stored_once(&events, &log, "nothing lost or repeated across the restart");
    seqs_are_contiguous(&events);
    assert_eq!(done.status, "TASK_STATUS_COMPLETED");
    assert_eq!(done.result, "survives a restart of the app");
    assert_eq!(
        cloud.fake.workflows().len(),
        1,
        "re-attached, never submitted again or run locally"
    );
}

#[test]
fn the_credential_never_reaches_the_database_wal_logs_or_answers() {
    let cloud = Cloud::quick("scan me", 3, 5);
    let t = app_on(&cloud);
    let sub = submit(&t, json!({"query": "scan", "target": "team"}));
    let task = sub["task_id"].as_str().unwrap().to_string();
    let events = stream(&t, &task, 1, None);
    t.ok(
        "verify_remote_profile",
        json!({"profileId": "team", "fresh": true}),
    );
    let mut answers = serde_json::to_string(&events).unwrap();
    for (cmd, args) in [
        ("list_remote_profiles", json!({})),
        ("remote_status", json!({})),
        ("get_task", json!({"taskId": task})),
        ("list_sessions", json!({"limit": 10, "offset": null})),
    ] {
        answers.push_str(&t.ok(cmd, args).to_string());
    }
    assert!(!answers.contains(TEST_KEY));
    assert_no_secret(&t, &[TEST_KEY]);
}

/// Neither the database, its WAL nor the captured logs hold any of `secrets` in plain text.
fn assert_no_secret(t: &TestApp, secrets: &[&str]) {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(t.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            files.push(path);
        }
    }
    assert!(
        files.iter().any(|f| f.to_string_lossy().ends_with("-wal")),
        "{files:?}"
    );
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        for s in secrets {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "{} holds a secret",
                f.display()
            );
        }
    }
    let text = logs().text();
    assert!(!text.is_empty(), "logs were captured");
    for s in secrets {
        assert!(!text.contains(s), "the logs hold a secret");
    }
}

#[test]
fn a_rate_limited_backfill_waits_out_retry_after() {
    // One request per 2 s window: the submission takes it, so the back-fill a gap needs is
    // answered 429 until the window turns.
    let cloud = Cloud::start(FakeConfig {
        script: Script::answer(
            "paced under the cloud's limits",
            6,
            Duration::from_millis(20),
        ),
        linger_after_end: Duration::from_millis(300),
        ring_capacity: 3,
        rate_limit: 1,
        rate_window: Duration::from_secs(2),
        ..FakeConfig::default()
    });
    let t = app_on(&cloud);
    cloud.fake.inject(Fault::DropLive { events: 6 });
    let task = submitted(&t, json!({"query": "paced", "target": "team"}));
    let events = stream(&t, &task, 1, None);
    let log = cloud.fake.emitted(&remote_workflow(&cloud));
    assert_stored_once(&events, &log, "the gap was filled once the limit allowed");
    assert!(
        !events
            .iter()
            .any(|e| e["payload"]["reason"] == "remote_connection_lost"),
        "a 429 is waited out, not reported as an outage"
    );
    wait_status(&t, &task, "TASK_STATUS_COMPLETED");
}

/// The headless example asks a question on the fake cloud (`--remote`, the key from
/// SHANNON_API_KEY as the SDK reads it) and is killed with SIGKILL mid-answer; the same data dir
/// served again re-attaches to the cloud task, which completes with every stored cloud event once.
#[test]
fn sigkill_mid_answer_then_restart_reattaches_the_remote_task() {
    let cloud = Cloud::quick("an answer that outlives its process", 20, 60);
    let data = tempfile::tempdir().unwrap();
    let out = data.path().join("ask.log");
    let mut ask = std::process::Command::new(serve::headless_binary())
        .arg("--data-dir")
        .arg(data.path())
        .args(["ask", "--remote", &cloud.fake.url(), "outlive me"])
        .env("SHANNON_API_KEY", TEST_KEY)
        .env_remove("SHANNON_BEARER_TOKEN")
        .env_remove("OPENAI_API_KEY")
        // The answer goes to stdout; the task's id, with the rest of the run's notes, to stderr.
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&out).unwrap())
        .spawn()
        .unwrap();
    // Killed once the cloud has published part of the answer.
    let deadline = Instant::now() + Duration::from_secs(60);
    let task = loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let published = cloud
            .fake
            .workflows()
            .last()
            .map_or(0, |wf| cloud.fake.emitted(wf).len());
        if let Some(id) = text
            .lines()
            .find_map(|l| l.strip_prefix("task ")?.split_whitespace().next())
            && published >= 8
        {
            break id.trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the question never started: {text}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    ask.kill().unwrap();
    ask.wait().unwrap();
    let wf = remote_workflow(&cloud);
    assert_ne!(
        cloud.fake.task_status(&wf).as_deref(),
        Some("COMPLETED"),
        "killed mid-answer"
    );

    let server = serve::serve(data.path(), &serve::ServeOptions::default());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let (status, events) = cloud.rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = serve::task_status(&http, &server.url, &task).await;
            if s.as_deref() == Some("TASK_STATUS_COMPLETED") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "still {s:?}: {}",
                server.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let events: Value = http
            .get(format!(
                "{}/api/v1/tasks/{task}/events?limit=200",
                server.url
            ))
            .bearer_auth(serve::TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let task: Value = http
            .get(format!("{}/api/v1/tasks/{task}", server.url))
            .bearer_auth(serve::TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (task, events["events"].as_array().unwrap().clone())
    });
    assert_eq!(status["result"], "an answer that outlives its process");
    let log = cloud.fake.emitted(&wf);
    assert_stored_once(&events, &log, "every stored cloud event once");
    seqs_are_contiguous(&events);
    assert_eq!(cloud.fake.workflows().len(), 1, "never submitted twice");
}

/// Two plugins: B runs a session on A through A's loopback listener, which serves the cloud's
/// routes, with a Shannon API key A issued: a real multi-agent task (A plans two subtasks on its
/// provider, runs two agents and synthesizes) streams to B and ends there with A's answer.
#[test]
fn one_plugin_runs_a_multi_agent_task_on_another_plugins_listener() {
    use fake_provider::{Reply, Scripted};
    logs();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let me = Caller::embedded();
        let a = rig::rig("openai").await;
        let plan = json!({"complexity_score": 0.7, "subtasks": [
            {"id": "task-1", "description": "Research alpha"},
            {"id": "task-2", "description": "Research beta"},
        ]});
        a.fake.route(
            "planning assistant",
            Scripted::Stream(Reply::text([plan.to_string()])),
        );
        let words =
            |t: &str| Scripted::Stream(Reply::text(t.split_inclusive(' ').map(str::to_string)));
        a.fake
            .route("Research alpha", words("alpha is the first letter "));
        a.fake
            .route("Research beta", words("beta is the second letter "));
        a.fake.route(
            "Results of the team",
            words("Both: alpha first, beta second. "),
        );
        let key = a
            .core
            .create_api_key(
                &me,
                tauri_plugin_shannon::core::auth::api_keys::CreateApiKeyRequest {
                    name: "for plugin B".into(),
                    description: None,
                },
            )
            .await
            .unwrap();
        let listener = tauri_plugin_shannon::http::Listener::start(
            a.core.clone(),
            tauri_plugin_shannon::http::ListenerOptions::default(),
        )
        .await
        .unwrap();
        let url = listener.status().url.unwrap();

        let dir_b = tempfile::tempdir().unwrap();
        let b = open_core(dir_b.path()).await;
        b.save_remote_profile(SaveRemoteProfile {
            id: Some("a".into()),
            name: "Plugin A".into(),
            base_url: url.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
        b.set_remote_credential(
            "a",
            Some(RemoteCredential::ApiKey {
                api_key: key.api_key.clone(),
            }),
        )
        .await
        .unwrap();
        let report = b.verify_remote_profile("a", true).await.unwrap();
        assert_eq!(
            report.auth,
            tauri_plugin_shannon::core::remote::RemoteAuthState::Ok,
            "{report:?}"
        );

        let sub = b
            .submit_task(
                &me,
                SubmitTaskRequest {
                    query: "Tell me about alpha and beta".into(),
                    mode: Some("complex".into()),
                    provider_override: Some("openai".into()),
                    target: Some("a".into()),
                    ..Default::default()
                },
                None,
            )
            .await
            .unwrap();
        let mut stream = b
            .subscribe_task(&me, &sub.task_id, None, None)
            .await
            .unwrap();
        let mut mirrored = Vec::new();
        while let Some(e) = tokio::time::timeout(Duration::from_secs(60), stream.next())
            .await
            .expect("the mirrored stream goes on")
        {
            mirrored.push(serde_json::to_value(&e).unwrap());
        }
        let on_b = b.get_task(&me, &sub.task_id).await.unwrap();
        assert_eq!(on_b.status, "TASK_STATUS_COMPLETED", "{on_b:?}");
        // A ran it, as the key's user: the same answer, every stored event once and in order
        // (its end replaced by B's own), two agents.
        let as_key = a.core.authenticate(&key.api_key).await.unwrap();
        let listed = a
            .core
            .list_tasks(&as_key, Default::default())
            .await
            .unwrap();
        let on_a = a
            .core
            .get_task(&as_key, &listed.tasks[0].task_id)
            .await
            .unwrap();
        assert_eq!(on_b.result, on_a.result);
        assert!(on_a.result.contains("alpha first"), "{}", on_a.result);
        let on_a_events: Vec<Value> = a
            .core
            .task_events_after(&as_key, &on_a.task_id, 0)
            .await
            .unwrap()
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect();
        let a_pairs = pairs(&on_a_events);
        let b_pairs: Vec<_> = pairs(&mirrored)
            .into_iter()
            .filter(|(t, _)| t != "LLM_PARTIAL" && t != "LLM_PROMPT")
            .collect();
        assert_eq!(b_pairs, a_pairs);
        assert!(
            !mirrored
                .iter()
                .any(|e| e["payload"]["reason"] == "remote_event_unreadable"),
            "every payload A sent fits the typed catalogue"
        );
        let agents: std::collections::HashSet<_> = a_pairs
            .iter()
            .zip(&on_a_events)
            .filter(|((t, _), _)| t == "AGENT_STARTED")
            .map(|(_, e)| e["agent_id"].clone())
            .collect();
        assert!(agents.len() >= 2, "a multi-agent run: {a_pairs:?}");
        seqs_are_contiguous(&mirrored);
        listener.stop_within(Duration::from_secs(2)).await;
        b.shutdown(Duration::from_secs(3)).await;
    });
}

/// A TLS terminator on 127.0.0.1 in front of the fake cloud, with the test CA's server
/// certificate (tests/fixtures/tls); its `https://127.0.0.1:<port>` URL.
async fn tls_front(plain: &str) -> String {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let certs = CertificateDer::pem_file_iter("tests/fixtures/tls/server.pem")
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file("tests/fixtures/tls/server.key").unwrap();
    let config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let backend = plain.trim_start_matches("http://").to_string();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, backend) = (acceptor.clone(), backend.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake here.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut up) = tokio::net::TcpStream::connect(&backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    format!("https://127.0.0.1:{port}")
}

#[test]
fn tls_to_a_test_ca_is_accepted_only_with_its_certificate() {
    let cloud = Cloud::quick("over TLS", 3, 5);
    let url = cloud.rt.block_on(tls_front(&cloud.fake.url()));
    let ca = std::fs::read_to_string("tests/fixtures/tls/ca.pem").unwrap();
    let other = std::fs::read_to_string("tests/fixtures/tls/other-ca.pem").unwrap();
    let t = TestApp::new();
    let profile = |id: &str, ca: Option<&str>| {
        t.ok(
            "save_remote_profile",
            json!({"profile": {"id": id, "name": id, "base_url": url, "ca_cert_pem": ca}}),
        );
        t.ok(
            "set_remote_credential",
            json!({"profileId": id, "credential": {"kind": "api_key", "api_key": TEST_KEY}}),
        );
        t.ok(
            "verify_remote_profile",
            json!({"profileId": id, "fresh": true}),
        )
    };
    let trusted = profile("private", Some(&ca));
    assert_eq!(trusted["reachable"], true, "{trusted}");
    assert_eq!(trusted["auth"], "ok");
    let sub = submit(&t, json!({"query": "secure?", "target": "private"}));
    let events = stream(&t, sub["task_id"].as_str().unwrap(), 1, None);
    assert_eq!(events.last().unwrap()["type"], "STREAM_END");
    wait_status(
        &t,
        sub["task_id"].as_str().unwrap(),
        "TASK_STATUS_COMPLETED",
    );

    // The system's roots do not know the test CA; another CA is not it.
    for (id, ca) in [("system-roots", None), ("wrong-ca", Some(other.as_str()))] {
        let report = profile(id, ca);
        assert_eq!(report["reachable"], false, "{id}: {report}");
        let e = t.err(
            "submit_task",
            json!({"request": {"query": "q", "target": id}, "idempotencyKey": null}),
            "remote_unreachable",
        );
        assert!(e["message"].as_str().unwrap().contains("TLS"), "{id}: {e}");
    }
}
