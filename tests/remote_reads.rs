//! Remote mode beyond tasks, through the IPC door against the fake Shannon cloud: files and memory
//! read where they live and listed with their source, research plan review made on the cloud,
//! schedules created and changed there (never firing here), sessions made on the cloud by another
//! client brought into the list, and the cloud's catalogues.

mod common;
#[path = "support/fake_cloud/mod.rs"]
mod fake_cloud;
#[path = "support/log_capture.rs"]
mod log_capture;
#[path = "support/remote_app.rs"]
mod remote_app;

use remote_app::{Cloud, app_on, submitted, wait_status};
use serde_json::{Value, json};

/// A completed remote task; returns (local task id, its session id, the cloud's workflow id).
fn remote_turn(t: &common::TestApp, cloud: &Cloud, session: &str) -> (String, String, String) {
    let task = submitted(
        t,
        json!({"query": "Brief me on tidal power", "session_id": session, "target": "team"}),
    );
    let done = wait_status(t, &task, "TASK_STATUS_COMPLETED");
    let wf = cloud.fake.workflows().last().cloned().unwrap();
    (task, done["session_id"].as_str().unwrap().to_string(), wf)
}

fn names(list: &Value) -> Vec<String> {
    list["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn files_and_memory_are_read_where_they_live_and_listed_with_their_source() {
    let cloud = Cloud::quick("Tidal power is predictable.", 2, 0);
    let t = app_on(&cloud);
    let (_, session, wf) = remote_turn(&t, &cloud, "tidal-notes");
    let there = cloud.fake.session_of(&wf);
    cloud
        .fake
        .put_session_file(&there, "notes/sites.md", "# Sites\nSwansea Bay");
    cloud.fake.put_session_file(&there, "summary.txt", "short");

    let top = t.ok(
        "list_session_files",
        json!({"sessionId": session, "path": null}),
    );
    assert_eq!(top["source"], "team", "{top}");
    assert_eq!(names(&top), ["notes", "summary.txt"]);
    let sub = t.ok(
        "list_session_files",
        json!({"sessionId": session, "path": "notes"}),
    );
    assert_eq!(names(&sub), ["notes/sites.md"]);
    let file = t.ok(
        "read_session_file",
        json!({"sessionId": session, "path": "notes/sites.md"}),
    );
    assert_eq!(file["content"], "# Sites\nSwansea Bay");
    assert_eq!(file["base64"], false);
    // A path leaving the workspace is refused here, before anything is sent.
    t.err(
        "read_session_file",
        json!({"sessionId": session, "path": "../other/secret"}),
        "invalid_request",
    );
    t.err(
        "read_session_file",
        json!({"sessionId": session, "path": "missing.md"}),
        "not_found",
    );

    let user = fake_cloud::auth::user_of_key(0);
    cloud
        .fake
        .put_memory_file(&user, "prefs.md", "Prefers short answers");
    let remote = t.ok("list_memory_files", json!({"path": null, "source": "team"}));
    assert_eq!(
        (remote["source"].clone(), names(&remote)),
        (json!("team"), vec!["prefs.md".to_string()])
    );
    let prefs = t.ok(
        "read_memory_file",
        json!({"path": "prefs.md", "source": "team"}),
    );
    assert_eq!(prefs["content"], "Prefers short answers");
    let here = t.ok("list_memory_files", json!({"path": null, "source": null}));
    assert_eq!(here["source"], "local");
    assert!(!names(&here).contains(&"prefs.md".to_string()), "{here}");

    // Offline: a clear error naming the host, never a local folder in its place.
    cloud.stop();
    let e = t.err(
        "list_session_files",
        json!({"sessionId": session, "path": null}),
        "remote_unreachable",
    );
    assert!(e["message"].as_str().unwrap().contains("127.0.0.1"), "{e}");
}

#[test]
fn a_remote_research_plan_is_reviewed_on_its_cloud() {
    let cloud = Cloud::quick("The research is done.", 2, 0);
    let t = app_on(&cloud);
    let (task, _, wf) = remote_turn(&t, &cloud, "review-me");
    cloud.fake.open_review(&wf);

    let review = t.ok("get_research_review", json!({"taskId": task}));
    assert_eq!(
        (review["status"].clone(), review["version"].clone()),
        (json!("reviewing"), json!(1))
    );
    assert!(
        review["current_plan"]
            .as_str()
            .unwrap()
            .contains("tidal power"),
        "{review}"
    );

    let revised = t.ok(
        "review_research_plan",
        json!({"taskId": task, "action": {"action": "feedback", "message": "cover costs"}, "ifMatch": 1}),
    );
    assert_eq!(revised["status"], "reviewing");
    assert_eq!(
        (revised["version"].clone(), revised["round"].clone()),
        (json!(2), json!(2))
    );
    assert!(
        revised["current_plan"]
            .as_str()
            .unwrap()
            .contains("cover costs"),
        "{revised}"
    );
    assert_eq!(revised["plan"]["message"], revised["current_plan"]);

    // The version the user saw is checked by the cloud: an old one is a conflict.
    t.err(
        "review_research_plan",
        json!({"taskId": task, "action": {"action": "approve", "message": null}, "ifMatch": 1}),
        "conflict",
    );
    let approved = t.ok(
        "review_research_plan",
        json!({"taskId": task, "action": {"action": "approve", "message": null}, "ifMatch": 2}),
    );
    assert_eq!(approved["status"], "approved");
    let state = t.ok("get_research_review", json!({"taskId": task}));
    assert_eq!(state["status"], "approved");
}

#[test]
fn a_schedule_with_a_target_lives_and_fires_on_the_cloud() {
    let cloud = Cloud::quick("ok", 1, 0);
    let t = app_on(&cloud);
    let local = t.ok(
        "create_schedule",
        json!({"request": {"name": "here", "cron_expression": "0 7 * * *", "task_query": "local digest"}}),
    )["schedule_id"]
        .clone();
    let created = t.ok(
        "create_schedule",
        json!({"request": {"name": "Nightly digest", "cron_expression": "0 2 * * *",
            "timezone": "Europe/London", "task_query": "Summarise the day's news", "target": "team"}}),
    );
    let id = created["schedule_id"].as_str().unwrap().to_string();
    assert!(
        !created["next_run_at"].as_str().unwrap().is_empty(),
        "{created}"
    );
    {
        let st = cloud.fake.state.lock().unwrap();
        let on_cloud: Vec<&str> = st.schedules.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            on_cloud,
            [id.as_str()],
            "only the targeted schedule reaches the cloud"
        );
        assert!(
            st.schedules[0].body.get("target").is_none(),
            "the plugin's field stays here"
        );
    }

    let list = t.ok(
        "list_schedules",
        json!({"page": null, "pageSize": null, "status": null}),
    );
    let seen: Vec<(Value, Value)> = list["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["schedule_id"].clone(), s["source"].clone()))
        .collect();
    assert_eq!(
        seen,
        [(local.clone(), json!("local")), (json!(id), json!("team"))]
    );
    assert_eq!(list["total_count"], 2);

    t.ok("pause_schedule", json!({"scheduleId": id}));
    assert_eq!(
        cloud.fake.state.lock().unwrap().schedules[0].status,
        "PAUSED"
    );
    let paused = t.ok("get_schedule", json!({"scheduleId": id}));
    assert_eq!(
        (paused["status"].clone(), paused["source"].clone()),
        (json!("PAUSED"), json!("team"))
    );

    // Offline, the list still shows the copy last read.
    cloud.stop();
    let offline = t.ok(
        "list_schedules",
        json!({"page": null, "pageSize": null, "status": "PAUSED"}),
    );
    assert_eq!(
        offline["schedules"][0]["schedule_id"],
        json!(id),
        "{offline}"
    );
    cloud.restart();

    t.ok("delete_schedule", json!({"scheduleId": id}));
    assert!(
        cloud
            .fake
            .state
            .lock()
            .unwrap()
            .schedules
            .iter()
            .all(|s| s.id != id)
    );
    t.err("get_schedule", json!({"scheduleId": id}), "not_found");
    let after = t.ok(
        "list_schedules",
        json!({"page": null, "pageSize": null, "status": null}),
    );
    assert_eq!(after["total_count"], 1);
}

#[test]
fn sessions_made_on_the_cloud_join_the_list_and_the_catalogues_show_their_source() {
    let cloud = Cloud::quick("From the team's cloud.", 2, 0);
    let t = app_on(&cloud);
    let (_, mine, _) = remote_turn(&t, &cloud, "made-here");
    // Another client (the team's web UI, the SDK) starts a session on the cloud.
    cloud.rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{}/api/v1/tasks", cloud.fake.url()))
            .header("X-API-Key", fake_cloud::TEST_KEY)
            .json(&json!({"query": "Quarterly plan", "session_id": "team-planning"}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while cloud
        .fake
        .task_status(cloud.fake.workflows().last().unwrap())
        .as_deref()
        != Some("COMPLETED")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the cloud task never completed"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }

    let synced = t.ok(
        "sync_remote_sessions",
        json!({"profileId": "team", "offset": null}),
    );
    assert_eq!(
        (synced["seen"].clone(), synced["added"].clone()),
        (json!(2), json!(1)),
        "{synced}"
    );
    let again = t.ok(
        "sync_remote_sessions",
        json!({"profileId": "team", "offset": null}),
    );
    assert_eq!(again["added"], 0, "a second sync adds nothing");

    let list = t.ok("list_sessions", json!({"limit": null, "offset": null}));
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{list}");
    let theirs = sessions
        .iter()
        .find(|s| s["session_id"] != json!(mine))
        .unwrap();
    assert_eq!(theirs["executor"], "remote:team");
    assert_eq!(theirs["title"], "Quarterly plan");
    let id = theirs["session_id"].as_str().unwrap();
    let on_cloud = cloud
        .fake
        .session_of(cloud.fake.workflows().last().unwrap());
    assert_eq!(id, on_cloud, "listed under the cloud's own id");
    let history = t.ok("get_session_history", json!({"sessionId": id}));
    assert_eq!(history["tasks"][0]["query"], "Quarterly plan", "{history}");
    assert_eq!(history["tasks"][0]["result"], "From the team's cloud.");

    let catalog = t.ok("remote_catalog", json!({"profileId": "team"}));
    assert_eq!(catalog["source"], "team");
    assert_eq!(catalog["skills"][0]["name"], "cloud-market-brief");
    assert_eq!(catalog["agents"][0]["name"], "ticker-lookup");
    let tools: Vec<&str> = catalog["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["web_search", "calculator"]);
    assert_eq!(catalog["unavailable"], json!([]));
}

#[test]
fn a_remote_approval_is_answered_on_the_cloud_only_when_it_came_with_an_id() {
    use fake_cloud::{Outcome, Script, Step};
    let cloud = Cloud::quick("unused", 1, 0);
    cloud.fake.set_script(Script {
        steps: vec![
            Step::new("WORKFLOW_STARTED", "orchestrator", "Starting up"),
            Step::new(
                "APPROVAL_REQUESTED",
                "orchestrator",
                "Needs approval: send the email",
            )
            .with_payload(json!({"approval_id": "appr-7", "kind": "tool",
                    "reason": "send the email", "expires_at": "2099-01-01T00:00:00Z"})),
            // v0.5.1's shape: a message and no id.
            Step::new(
                "APPROVAL_REQUESTED",
                "orchestrator",
                "Needs approval: delete the file",
            ),
            Step::new("LLM_OUTPUT", "final_output", "Sent."),
            Step::new("WORKFLOW_COMPLETED", "orchestrator", "All done"),
            Step::new("STREAM_END", "orchestrator", "Done"),
        ],
        delay: std::time::Duration::ZERO,
        outcome: Outcome::Completed,
    });
    let t = app_on(&cloud);
    let (task, _, wf) = remote_turn(&t, &cloud, "mail");
    let decided = t.ok(
        "decide_approval",
        json!({"decision": {"workflow_id": task, "approval_id": "appr-7", "approved": true}}),
    );
    assert_eq!(decided["success"], true, "{decided}");
    assert_eq!(
        cloud.fake.state.lock().unwrap().approval_decisions,
        [(wf, "appr-7".to_string(), true)],
        "the decision reached the cloud under its own workflow id"
    );
    let e = t.err(
        "decide_approval",
        json!({"decision": {"workflow_id": task, "approval_id": "made-up", "approved": false}}),
        "unsupported_by_remote",
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("decide it in the cloud"),
        "{e}"
    );
}

/// Submits `query` in the cloud session `session` as another client would, waiting out a 429.
fn submit_on_cloud(cloud: &Cloud, session: &str, query: &str) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    cloud.rt.block_on(async {
        loop {
            let r = reqwest::Client::new()
                .post(format!("{}/api/v1/tasks", cloud.fake.url()))
                .header("X-API-Key", fake_cloud::TEST_KEY)
                .json(&json!({"query": query, "session_id": session}))
                .send()
                .await
                .unwrap();
            if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
            assert!(r.status().is_success(), "{}", r.status());
            return;
        }
    });
}

#[test]
fn a_pull_brings_the_cloud_history_under_its_rate_limit_and_resumes_without_duplicates() {
    use fake_cloud::{FakeConfig, Fault, Script};
    use std::time::Duration;
    let cloud = Cloud::start(FakeConfig {
        script: Script::answer("From the cloud.", 2, Duration::ZERO),
        linger_after_end: Duration::from_millis(300),
        rate_limit: 4,
        rate_window: Duration::from_secs(1),
        ..FakeConfig::default()
    });
    for s in 0..4 {
        for q in 0..3 {
            submit_on_cloud(&cloud, &format!("team-{s}"), &format!("question {s}.{q}"));
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while cloud
        .fake
        .workflows()
        .iter()
        .any(|wf| cloud.fake.task_status(wf).as_deref() != Some("COMPLETED"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the cloud tasks never completed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The submissions above spent this key's window; the pull starts on a fresh one.
    std::thread::sleep(Duration::from_millis(1100));
    let refused_before = cloud.fake.state.lock().unwrap().rate_refused;
    let broken = {
        let st = cloud.fake.state.lock().unwrap();
        st.sessions
            .iter()
            .find(|s| s.external_id.as_deref() == Some("team-1"))
            .unwrap()
            .id
            .clone()
    };
    // Too many events for the session route: every task's events come from the limited route.
    let too_large = || Fault::Status {
        method: None,
        path: "/api/v1/sessions/*/events".into(),
        status: 413,
        body: Some(json!({"error": "Session has too many events"})),
        times: None,
    };
    cloud.fake.inject(too_large());
    // The pull is interrupted for one session (its history does not answer).
    cloud.fake.inject(Fault::Status {
        method: None,
        path: format!("/api/v1/sessions/{broken}/history"),
        status: 500,
        body: None,
        times: None,
    });
    let t = app_on(&cloud);
    let pace = json!({"rate_limit": 4, "rate_window_secs": 1});
    let first = t.ok(
        "pull_history",
        json!({"profileId": "team", "options": pace}),
    );
    assert_eq!(
        (
            first["sessions_added"].clone(),
            first["tasks_added"].clone()
        ),
        (json!(3), json!(9)),
        "{first}"
    );
    assert_eq!(first["failed"].as_array().unwrap().len(), 1, "{first}");
    assert_eq!(
        first["limited_requests"],
        1 + 9,
        "the list and one event page per task"
    );

    cloud.fake.clear_faults();
    cloud.fake.inject(too_large());
    let second = t.ok(
        "pull_history",
        json!({"profileId": "team", "options": pace}),
    );
    assert_eq!(
        (
            second["sessions_added"].clone(),
            second["sessions_present"].clone(),
            second["tasks_added"].clone()
        ),
        (json!(1), json!(3), json!(3)),
        "{second}"
    );
    assert_eq!(second["failed"], json!([]));
    assert_eq!(
        cloud.fake.state.lock().unwrap().rate_refused,
        refused_before,
        "no request beyond the cloud's limit"
    );

    let sessions = t.ok("list_sessions", json!({"limit": null, "offset": null}));
    let counts: Vec<(Value, Value)> = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["task_count"].clone(), s["executor"].clone()))
        .collect();
    assert_eq!(
        counts,
        vec![(json!(3), json!("remote:team")); 4],
        "every task once"
    );
    let third = t.ok(
        "pull_history",
        json!({"profileId": "team", "options": pace}),
    );
    assert_eq!(
        (
            third["sessions_present"].clone(),
            third["tasks_added"].clone()
        ),
        (json!(4), json!(0))
    );

    // A pulled task reads like any other: its stored events, ending with STREAM_END.
    let wf = cloud.fake.workflows()[0].clone();
    let events = t.ok(
        "get_task_events",
        json!({"taskId": wf, "limit": null, "offset": null}),
    );
    let types: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"LLM_OUTPUT") && types.last() == Some(&"STREAM_END"),
        "{types:?}"
    );
    let task = t.ok("get_task", json!({"taskId": wf}));
    assert_eq!(
        (task["status"].clone(), task["result"].clone()),
        (json!("TASK_STATUS_COMPLETED"), json!("From the cloud."))
    );
}

#[test]
fn pushed_schedules_fire_on_the_cloud_and_their_local_copies_pause() {
    use fake_cloud::FakeConfig;
    let cloud = Cloud::start(FakeConfig {
        schedule_max_per_user: 1,
        ..FakeConfig::default()
    });
    let t = app_on(&cloud);
    for (name, cron) in [
        ("Morning brief", "0 7 * * *"),
        ("Weekly review", "0 9 * * 1"),
    ] {
        t.ok(
            "create_schedule",
            json!({"request": {"name": name, "cron_expression": cron, "task_query": name,
                "timezone": "Europe/Paris", "max_budget_per_run_usd": 0.5}}),
        );
    }
    let push = t.ok("push_schedules", json!({"profileId": "team"}));
    // The cloud takes one schedule per user here: the other stays active locally, with its reason.
    assert_eq!(push["pushed"].as_array().unwrap().len(), 1, "{push}");
    assert_eq!(push["refused"].as_array().unwrap().len(), 1, "{push}");
    assert!(
        push["refused"][0]
            .as_str()
            .unwrap()
            .contains("schedule limit"),
        "{push}"
    );
    let moved = &push["pushed"][0];
    {
        let st = cloud.fake.state.lock().unwrap();
        assert_eq!(st.schedules[0].body["timezone"], "Europe/Paris");
        assert_eq!(st.schedules[0].body["task_query"], moved["name"]);
    }
    let list = t.ok(
        "list_schedules",
        json!({"page": null, "pageSize": null, "status": null}),
    );
    let states: Vec<(Value, Value)> = list["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].clone(), json!([s["status"], s["source"]])))
        .collect();
    let local_copy = states
        .iter()
        .find(|(n, st)| n == &moved["name"] && st[1] == "local")
        .unwrap();
    assert_eq!(
        local_copy.1[0], "PAUSED",
        "the local copy no longer fires: {states:?}"
    );
    let active_here = states
        .iter()
        .filter(|(_, st)| st[0] == "ACTIVE" && st[1] == "local")
        .count();
    assert_eq!(
        active_here, 1,
        "the refused one still fires here: {states:?}"
    );
    assert!(
        states
            .iter()
            .any(|(n, st)| n == &moved["name"] && st[1] == "team")
    );
}
