//! Durable before visible, across real crashes: the headless server in serve mode (offline demo
//! provider) is SIGKILLed at random moments while SSE clients stream its tasks, twenty times on one
//! data dir. After every restart each stored-event id any client ever received must be in
//! `task_events` with the same seq, type and message; each client's stored ids are contiguous from
//! where it started; seqs per task are contiguous 1..N; every task settles (none stays QUEUED or
//! RUNNING); the database passes `PRAGMA integrity_check`.

#[path = "support/lcg.rs"]
mod lcg;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/sse.rs"]
mod sse;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lcg::Lcg;
use serde_json::json;
use serve::{ServeOptions, Server, serve};
use sse::{End, Frame};

const ROUNDS: usize = 20;
const SEED: u64 = 0x5EED_2026_0001;

struct Task {
    task_id: String,
    workflow_id: String,
}

struct Client {
    workflow_id: String,
    /// The Last-Event-ID it resumed from.
    resumed_from: Option<String>,
    frames: Arc<Mutex<Vec<Frame>>>,
    end: Option<End>,
    round: usize,
}

impl Client {
    fn frames(&self) -> Vec<Frame> {
        self.frames.lock().unwrap().clone()
    }
}

async fn submit(http: &reqwest::Client, url: &str, query: &str) -> Task {
    let body = serve::submit(http, url, &json!({"query": query})).await;
    Task {
        task_id: body["task_id"].as_str().unwrap().to_string(),
        workflow_id: body["workflow_id"]
            .as_str()
            .or(body["task_id"].as_str())
            .unwrap()
            .to_string(),
    }
}

/// Waits until no task is QUEUED or RUNNING; returns each task's final status.
async fn settle(http: &reqwest::Client, url: &str, tasks: &[Task]) -> HashMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut settled = HashMap::new();
    loop {
        let mut pending = Vec::new();
        for t in tasks {
            if settled.contains_key(&t.workflow_id) {
                continue;
            }
            match serve::task_status(http, url, &t.task_id).await {
                Some(s) if !s.ends_with("QUEUED") && !s.ends_with("RUNNING") => {
                    settled.insert(t.workflow_id.clone(), s);
                }
                s => pending.push(format!("{} {s:?}", t.workflow_id)),
            }
        }
        if pending.is_empty() {
            return settled;
        }
        assert!(
            Instant::now() < deadline,
            "tasks did not settle within 45 s after the restart: {pending:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn spawn_client(
    http: &reqwest::Client,
    url: &str,
    workflow_id: &str,
    resume: Option<String>,
    round: usize,
    limit: Duration,
) -> (Client, tokio::task::JoinHandle<End>) {
    let frames = Arc::new(Mutex::new(Vec::new()));
    let (h, u, w, r, sink) = (
        http.clone(),
        url.to_string(),
        workflow_id.to_string(),
        resume.clone(),
        frames.clone(),
    );
    let handle =
        tokio::spawn(async move { sse::read_sse(&h, &u, &w, r.as_deref(), limit, sink).await });
    (
        Client {
            workflow_id: workflow_id.to_string(),
            resumed_from: resume,
            frames,
            end: None,
            round,
        },
        handle,
    )
}

/// The stored seq a resume id continues after (`7` and `7-3` both: after stored event 7).
fn resume_seq(id: &str) -> u32 {
    id.split('-').next().unwrap().parse().unwrap()
}

/// Everything clients saw is stored as they saw it; each client's stored ids are contiguous from
/// where it started. Returns the number of frames verified.
fn verify_clients(data: &Path, clients: &[Client], when: &str) -> usize {
    let db = sse::open_read_only(data);
    let mut verified = 0;
    for c in clients {
        let rows = sse::stored_rows(&db, &c.workflow_id);
        let frames = c.frames();
        verified += sse::verify_deltas(&db, &c.workflow_id, &frames).unwrap_or_else(|e| {
            panic!(
                "{when}: client of round {} on {}: {e}",
                c.round, c.workflow_id
            )
        });
        verified += sse::verify_frames(&rows, &frames).unwrap_or_else(|e| {
            panic!(
                "{when}: client of round {} on {} (resumed from {:?}, ended {:?}): {e}",
                c.round, c.workflow_id, c.resumed_from, c.end
            )
        });
        let mut expect = c.resumed_from.as_deref().map_or(0, resume_seq) + 1;
        for f in &frames {
            if let Some((seq, _, _)) = sse::stored_view(f) {
                assert_eq!(
                    seq, expect,
                    "{when}: client of round {} on {} (resumed from {:?}) skipped or repeated a stored id",
                    c.round, c.workflow_id, c.resumed_from
                );
                expect += 1;
            }
        }
    }
    verified
}

/// Seqs per task contiguous 1..N, and the database intact.
fn verify_store(data: &Path, tasks: &[Task], when: &str) -> usize {
    let db = sse::open_read_only(data);
    let mut events = 0;
    for t in tasks {
        let rows = sse::stored_rows(&db, &t.workflow_id);
        assert!(
            sse::contiguous(&rows),
            "{when}: {} has non-contiguous seqs {:?}",
            t.workflow_id,
            rows.iter().map(|r| r.seq).collect::<Vec<_>>()
        );
        events += rows.len();
    }
    assert_eq!(sse::integrity(&db), "ok", "{when}: integrity_check");
    events
}

async fn finish_clients(
    clients: &mut [Client],
    handles: Vec<(usize, tokio::task::JoinHandle<End>)>,
) {
    for (i, h) in handles {
        clients[i].end = Some(
            tokio::time::timeout(Duration::from_secs(10), h)
                .await
                .map(|r| r.unwrap())
                .unwrap_or(End::Timeout),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_sigkills_lose_nothing_a_client_saw() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let opts = ServeOptions::default().logs_in(&logs);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    // PIPELINE_SEED replays another sequence of kill points.
    let seed = std::env::var("PIPELINE_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(SEED);
    let mut rng = Lcg(seed);
    let mut tasks: Vec<Task> = Vec::new();
    let mut clients: Vec<Client> = Vec::new();
    let mut verified = 0;
    let mut resumes = 0;
    let mut resumes_done = 0;
    let mut kill_points = Vec::new();
    let mut statuses = HashMap::new();

    for round in 0..=ROUNDS {
        let mut server: Server = serve(&data, &opts);
        let url = server.url.clone();
        let when = format!("after restart {round}");
        // What the clients saw before the kill is stored, before anything settles.
        verify_clients(&data, &clients, &when);

        // Resume the streams of the last round (and one older task) where their clients stopped.
        let mut handles = Vec::new();
        // (client, resume id): a cut stream from where it stopped (as an EventSource would), and a
        // random earlier stream from a random id it saw before its end.
        let mut resume_targets: Vec<(usize, Option<String>)> = clients
            .iter()
            .enumerate()
            .filter(|(_, c)| c.round + 1 == round && c.end != Some(End::Done))
            .map(|(i, c)| {
                let last = c.frames().iter().rev().find_map(|f| f.id.clone());
                (i, last.or(c.resumed_from.clone()))
            })
            .collect();
        if !clients.is_empty() {
            let i = rng.next(clients.len() as u64) as usize;
            let ids: Vec<String> = clients[i]
                .frames()
                .iter()
                .filter(|f| f.event != "done")
                .filter_map(|f| f.id.clone())
                .collect();
            let from = match ids.len() {
                0 => clients[i].resumed_from.clone(),
                n => Some(ids[rng.next(n as u64) as usize].clone()),
            };
            resume_targets.push((i, from));
        }
        for (i, last) in resume_targets {
            let (c, h) = spawn_client(
                &http,
                &url,
                &clients[i].workflow_id.clone(),
                last,
                round,
                Duration::from_secs(40),
            );
            handles.push((clients.len(), h));
            clients.push(c);
            resumes += 1;
        }
        statuses = settle(&http, &url, &tasks).await;
        let first_resume = clients.len() - handles.len();
        finish_clients(&mut clients, handles).await;
        for c in &clients[first_resume..] {
            if c.end != Some(End::Done) {
                let db = sse::open_read_only(&data);
                let rows = sse::stored_rows(&db, &c.workflow_id);
                let earlier: Vec<Vec<(Option<String>, String)>> = clients
                    .iter()
                    .filter(|e| e.workflow_id == c.workflow_id)
                    .map(|e| {
                        e.frames()
                            .iter()
                            .map(|f| (f.id.clone(), f.event.clone()))
                            .collect()
                    })
                    .collect();
                panic!(
                    "{when}: a resumed stream of settled task {} (status {:?}, from {:?}) did not reach done: it ended {:?} after {:?}\nstored: {:?}\nall clients of that task saw: {earlier:?}",
                    c.workflow_id,
                    statuses.get(&c.workflow_id),
                    c.resumed_from,
                    c.end,
                    c.frames()
                        .iter()
                        .map(|f| (f.id.clone(), f.event.clone()))
                        .collect::<Vec<_>>(),
                    rows.iter()
                        .map(|r| (r.seq, r.kind.clone()))
                        .collect::<Vec<_>>(),
                );
            }
            resumes_done += 1;
        }
        verified = verify_clients(&data, &clients, &when);
        verify_store(&data, &tasks, &when);
        if round == ROUNDS {
            server.kill();
            break;
        }

        // New tasks, each streamed from the start, then SIGKILL at a random moment.
        let k = 3 + rng.next(3) as usize;
        let mut handles = Vec::new();
        for j in 0..k {
            let t = submit(
                &http,
                &url,
                &format!("Round {round} task {j}: why is the sky blue?"),
            )
            .await;
            let (c, h) = spawn_client(
                &http,
                &url,
                &t.workflow_id,
                None,
                round,
                Duration::from_secs(30),
            );
            handles.push((clients.len(), h));
            clients.push(c);
            tasks.push(t);
        }
        let wait = 50 + rng.next(751);
        kill_points.push(wait);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.kill();
        finish_clients(&mut clients, handles).await;
    }

    // After the final kill: the store read-only, with nothing running.
    let events = verify_store(&data, &tasks, "after the final kill");
    let final_verified = verify_clients(&data, &clients, "after the final kill");
    let db = sse::open_read_only(&data);
    let mut by_status: HashMap<String, usize> = HashMap::new();
    for t in &tasks {
        let s = sse::stored_status(&db, &t.workflow_id).unwrap_or_default();
        assert!(
            s != "RUNNING" && s != "QUEUED",
            "{} is still {s} after the final restart settled",
            t.workflow_id
        );
        *by_status.entry(s).or_default() += 1;
    }
    let received: usize = clients.iter().map(|c| c.frames().len()).sum();
    let received_stored: usize = clients
        .iter()
        .map(|c| {
            c.frames()
                .iter()
                .filter(|f| sse::stored_view(f).is_some())
                .count()
        })
        .sum();
    let interrupted = clients
        .iter()
        .filter(|c| c.resumed_from.is_none() && c.end != Some(End::Done))
        .count();
    println!("seed {seed:#x} (PIPELINE_SEED to replay); kill points (ms): {kill_points:?}");
    println!(
        "rounds {ROUNDS} (+ final restart), tasks {}, clients {} ({} cut by a kill, {resumes} resumed, {resumes_done} resumed to done)",
        tasks.len(),
        clients.len(),
        interrupted
    );
    println!(
        "frames received by clients {received} ({received_stored} stored events), events verified against the store (stored events and deltas) {final_verified} (last in-run check {verified}), events in task_events {events}"
    );
    println!("final task statuses (API {:?}; store {by_status:?})", {
        let mut c: HashMap<&str, usize> = HashMap::new();
        for s in statuses.values() {
            *c.entry(s.as_str()).or_default() += 1;
        }
        c
    });
    println!("runtime {:.1} s", started.elapsed().as_secs_f64());
}
