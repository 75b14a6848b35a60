//! Schedules in the core: validation as the cloud, and the scheduler firing a due schedule into a
//! task (with the schedule's context), pausing and resuming it.

use std::time::Duration;

use serde_json::{Map, Value, json};
use tauri_plugin_shannon::core::schedules::{ScheduleLimits, ScheduleRequest, ScheduleRun};
use tauri_plugin_shannon::core::{Caller, ShannonError};
use tauri_plugin_shannon::{Core, CoreConfig};

async fn core(dir: &tempfile::TempDir) -> Core {
    let mut config = CoreConfig::new(dir.path());
    config.schedules = ScheduleLimits {
        min_interval: Duration::from_secs(120),
        max_per_user: 2,
        poll: Duration::from_millis(50),
        ..ScheduleLimits::default()
    };
    Core::open(config).await.unwrap()
}

fn request(cron: &str) -> ScheduleRequest {
    let mut ctx = Map::new();
    ctx.insert("role".into(), json!("analysis"));
    ctx.insert("force_research".into(), json!("\u{0}json:false"));
    ScheduleRequest {
        name: Some("Morning brief".into()),
        cron_expression: Some(cron.into()),
        timezone: Some("Europe/Paris".into()),
        task_query: Some("Summarise the news".into()),
        task_context: Some(ctx),
        max_budget_per_run_usd: Some(0.5),
        ..ScheduleRequest::default()
    }
}

/// Makes the schedule due now, as if its time had come while the app was closed.
async fn make_due(core: &Core, id: &str) {
    let id = id.to_string();
    core.store()
        .write(move |tx| {
            tx.execute(
                "UPDATE schedules SET next_run_at = '2000-01-01T00:00:00Z' WHERE id = ?1",
                [id],
            )?;
            Ok(())
        })
        .await
        .unwrap();
}

/// Waits (bounded) for the schedule's latest run to complete, polling its run list.
async fn completed_run(core: &Core, me: &Caller, id: &str) -> ScheduleRun {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let runs = core.get_schedule_runs(me, id, None, None).await.unwrap();
            if let Some(r) = runs.runs.first()
                && r.status == "COMPLETED"
            {
                return r.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the due schedule never ran to completion")
}

/// The run counters as counted from the runs and their tasks (what the triggers keep up to date).
async fn recount(core: &Core, id: &str) -> (u32, u32, u32) {
    let id = id.to_string();
    core.store()
        .read(move |c| {
            Ok(c.query_row(
                "SELECT count(*),
                        count(*) FILTER (WHERE t.status = 'COMPLETED'),
                        count(*) FILTER (WHERE t.status IN ('FAILED', 'CANCELLED', 'TIMEOUT') OR r.error IS NOT NULL)
                 FROM schedule_runs r LEFT JOIN tasks t ON t.workflow_id = r.workflow_id WHERE r.schedule_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_due_schedule_fires_a_task_and_pausing_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let core = core(&dir).await;
    let me = Caller::embedded();
    let created = core
        .create_schedule(&me, request("*/5 * * * *"))
        .await
        .unwrap();
    assert!(!created.next_run_at.is_empty());
    let id = created.schedule_id;
    make_due(&core, &id).await;

    let run = completed_run(&core, &me, &id).await;
    assert_eq!(run.query, "Summarise the news");
    let task = core.get_task(&me, &run.workflow_id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_COMPLETED");
    let ctx = task.context.unwrap();
    assert_eq!(ctx["trigger_type"], "schedule");
    assert_eq!(ctx["schedule_id"], json!(id));
    assert_eq!(ctx["max_budget_usd"], 0.5);
    assert_eq!(ctx["force_research"], false, "JSON-prefixed values decoded");

    let info = core.get_schedule(&me, &id).await.unwrap();
    assert_eq!((info.total_runs, info.successful_runs), (1, 1));
    assert!(info.last_run_at.is_some());
    let next = info.next_run_at.unwrap();
    assert!(next.as_str() > "2026", "moved on to a future run: {next}");
    assert_eq!(info.task_context["force_research"], "false");

    // Paused: a due time does not fire it. An active witness made due at the same moment fires in
    // the same pass of the scheduler, so once it has run the paused one has been passed over.
    core.pause_schedule(&me, &id).await.unwrap();
    let witness = core
        .create_schedule(&me, request("*/10 * * * *"))
        .await
        .unwrap()
        .schedule_id;
    make_due(&core, &id).await;
    make_due(&core, &witness).await;
    completed_run(&core, &me, &witness).await;
    let w = core.get_schedule(&me, &witness).await.unwrap();
    assert_eq!((w.total_runs, w.successful_runs, w.failed_runs), (1, 1, 0));
    assert_eq!(
        recount(&core, &witness).await,
        (1, 1, 0),
        "the counters match the runs"
    );
    let paused = core.get_schedule(&me, &id).await.unwrap();
    assert_eq!(paused.status, "PAUSED");
    assert_eq!(paused.total_runs, 1);
    let resumed = core.resume_schedule(&me, &id).await.unwrap();
    assert!(resumed.next_run_at.is_some());
    // Deleted: gone for its owner.
    core.delete_schedule(&me, &id).await.unwrap();
    assert!(matches!(
        core.get_schedule(&me, &id).await,
        Err(ShannonError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn validation_and_limits_follow_the_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let core = core(&dir).await;
    let me = Caller::embedded();
    let msg = |e: ShannonError| e.to_string();
    let e = core
        .create_schedule(&me, request("* * * * *"))
        .await
        .map_err(msg)
        .unwrap_err();
    assert!(e.contains("at least 2 minutes"), "{e}");
    let e = core
        .create_schedule(&me, request("0 9 * * * *"))
        .await
        .map_err(msg)
        .unwrap_err();
    assert!(e.contains("invalid cron expression"), "{e}");
    let mut over_budget = request("0 9 * * 1-5");
    over_budget.max_budget_per_run_usd = Some(11.0);
    let e = core
        .create_schedule(&me, over_budget)
        .await
        .map_err(msg)
        .unwrap_err();
    assert!(e.contains("budget exceeds limit"), "{e}");
    let mut nameless = request("0 9 * * 1-5");
    nameless.name = None;
    let e = core
        .create_schedule(&me, nameless)
        .await
        .map_err(msg)
        .unwrap_err();
    assert!(e.contains("schedule name required"), "{e}");
    // The per-user limit (2 here).
    for _ in 0..2 {
        core.create_schedule(&me, request("0 9 * * 1-5"))
            .await
            .unwrap();
    }
    assert!(matches!(
        core.create_schedule(&me, request("0 9 * * 1-5")).await,
        Err(ShannonError::RateLimited(_))
    ));
    let list = core.list_schedules(&me, None, None, None).await.unwrap();
    assert_eq!(list.total_count, 2);
    let as_json: Value = serde_json::to_value(&list.schedules[0]).unwrap();
    // Go's omitempty: zero counters are left out.
    assert!(as_json.get("total_runs").is_none(), "{as_json}");
    assert_eq!(as_json["status"], "ACTIVE");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_counters_follow_runs_and_their_tasks_in_either_order() {
    let dir = tempfile::tempdir().unwrap();
    let core = core(&dir).await;
    let me = Caller::embedded();
    let id = core
        .create_schedule(&me, request("0 9 * * 1-5"))
        .await
        .unwrap()
        .schedule_id;
    let sql = |statements: String| {
        let core = core.clone();
        async move {
            core.store()
                .write(move |tx| {
                    tx.execute_batch(&statements)?;
                    Ok(())
                })
                .await
                .unwrap()
        }
    };
    let task = |wf: &str, status: &str| {
        format!(
            "INSERT INTO tasks (id, workflow_id, user_id, query, mode, status, context, metadata, created_at, updated_at)
             VALUES ('{wf}-id', '{wf}', '{}', 'q', 'simple', '{status}', '{{}}', '{{}}', 'now', 'now');",
            me.user_id
        )
    };
    let run = |run: &str, wf: &str| {
        format!(
            "INSERT INTO schedule_runs (id, schedule_id, triggered_at) VALUES ('{run}', '{id}', 'now');
             UPDATE schedule_runs SET workflow_id = '{wf}' WHERE id = '{run}';"
        )
    };
    // Linked while running, then the task fails; linked after the task completed; no task at all.
    sql(task("wf-a", "RUNNING") + &run("r1", "wf-a")).await;
    sql("UPDATE tasks SET status = 'FAILED' WHERE workflow_id = 'wf-a';".into()).await;
    sql(task("wf-b", "COMPLETED") + &run("r2", "wf-b")).await;
    sql(format!(
        "INSERT INTO schedule_runs (id, schedule_id, triggered_at) VALUES ('r3', '{id}', 'now');
         UPDATE schedule_runs SET error = 'could not start' WHERE id = 'r3';"
    ))
    .await;
    let s = core.get_schedule(&me, &id).await.unwrap();
    assert_eq!((s.total_runs, s.successful_runs, s.failed_runs), (3, 1, 2));
    assert_eq!(recount(&core, &id).await, (3, 1, 2));
    let runs = core.get_schedule_runs(&me, &id, None, None).await.unwrap();
    assert_eq!(runs.total_count, 3);
}
