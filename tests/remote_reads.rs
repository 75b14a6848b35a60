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
