//! A minute of load on the headless server (offline demo provider): 20 submitters posting tasks as
//! fast as they are accepted (backing off on 429), 200 SSE subscribers streaming recent tasks to
//! `done`, and a reader of a finished task's events every 100 ms. The server's memory stays
//! bounded during the load and comes back down after it; nothing answers 5xx; every stream that
//! reached `done` showed contiguous stored ids. Latencies and counts are printed, not asserted.

#[path = "support/lcg.rs"]
mod lcg;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/sse.rs"]
mod sse;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lcg::Lcg;
use serde_json::{Value, json};
use serve::{ServeOptions, TOKEN, rss_kib, serve};
use sse::End;

const SUBMITTERS: usize = 20;
const SUBSCRIBERS: usize = 200;

#[derive(Default)]
struct Stats {
    submitted: AtomicU64,
    rate_limited: AtomicU64,
    other_refusals: AtomicU64,
    server_errors: AtomicU64,
    transport_errors: AtomicU64,
    events: AtomicU64,
    streams_done: AtomicU64,
    streams_cut: AtomicU64,
    /// Samples of what went wrong (5xx bodies, gaps), a few of each.
    problems: Mutex<Vec<String>>,
    gaps: Mutex<Vec<String>>,
    recent: Mutex<VecDeque<String>>,
}

impl Stats {
    fn problem(&self, p: String) {
        let mut v = self.problems.lock().unwrap();
        if v.len() < 20 {
            v.push(p);
        }
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

async fn submitter(
    http: reqwest::Client,
    url: String,
    n: usize,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
) {
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let r = http
            .post(format!("{url}/api/v1/tasks"))
            .bearer_auth(TOKEN)
            .json(&json!({"query": format!("Load {n}/{i}: what is an event pipeline?")}))
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        let resp = match r {
            Ok(r) => r,
            Err(e) => {
                stats.transport_errors.fetch_add(1, Ordering::Relaxed);
                stats.problem(format!("submit: {e}"));
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        match status {
            200..=299 => {
                stats.submitted.fetch_add(1, Ordering::Relaxed);
                if let Some(wf) = body["workflow_id"].as_str().or(body["task_id"].as_str()) {
                    let mut r = stats.recent.lock().unwrap();
                    r.push_back(wf.to_string());
                    if r.len() > 100 {
                        r.pop_front();
                    }
                }
            }
            429 => {
                stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                let wait = retry_after.map_or(Duration::from_millis(200), Duration::from_secs);
                tokio::time::sleep(wait).await;
            }
            500..=599 => {
                stats.server_errors.fetch_add(1, Ordering::Relaxed);
                stats.problem(format!("submit: {status} {body}"));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ => {
                stats.other_refusals.fetch_add(1, Ordering::Relaxed);
                stats.problem(format!("submit: {status} {body}"));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

async fn subscriber(http: reqwest::Client, url: String, n: usize, stats: Arc<Stats>) {
    let mut rng = Lcg(0x10AD_0000 + n as u64);
    loop {
        let pick = {
            let r = stats.recent.lock().unwrap();
            // One of the 50 most recent.
            let len = r.len();
            (len > 0).then(|| r[len - 1 - rng.next(len.min(50) as u64) as usize].clone())
        };
        let Some(wf) = pick else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let frames = Arc::new(Mutex::new(Vec::new()));
        let end = sse::read_sse(
            &http,
            &url,
            &wf,
            None,
            Duration::from_secs(30),
            frames.clone(),
        )
        .await;
        let frames = std::mem::take(&mut *frames.lock().unwrap());
        stats
            .events
            .fetch_add(frames.len() as u64, Ordering::Relaxed);
        match end {
            End::Done => {
                stats.streams_done.fetch_add(1, Ordering::Relaxed);
                let ids: Vec<u32> = frames
                    .iter()
                    .filter_map(|f| sse::stored_view(f).map(|v| v.0))
                    .collect();
                if ids.iter().enumerate().any(|(i, s)| *s as usize != i + 1) {
                    let mut g = stats.gaps.lock().unwrap();
                    if g.len() < 10 {
                        g.push(format!("{wf}: stored ids {ids:?}"));
                    }
                }
            }
            End::Status(s, body) if s >= 500 => {
                stats.server_errors.fetch_add(1, Ordering::Relaxed);
                stats.problem(format!("sse {wf}: {s} {body}"));
            }
            End::Status(s, body) => {
                stats.other_refusals.fetch_add(1, Ordering::Relaxed);
                stats.problem(format!("sse {wf}: {s} {body}"));
            }
            End::Error(e) => {
                stats.transport_errors.fetch_add(1, Ordering::Relaxed);
                stats.problem(format!("sse {wf}: {e}"));
            }
            End::Closed | End::Timeout => {
                stats.streams_cut.fetch_add(1, Ordering::Relaxed);
                stats.problem(format!("sse {wf}: {end:?} after {} frames", frames.len()));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_seconds_of_load_keep_memory_bounded_and_reads_fast() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let load_secs: u64 = std::env::var("PIPELINE_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&logs).unwrap();
    let mut server = serve(&data, &ServeOptions::default().logs_in(&logs));
    let url = server.url.clone();
    let pid = server.pid();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .unwrap();

    // A task finished before the load, for the reader.
    let body = serve::submit(
        &http,
        &url,
        &json!({"query": "A task finished before the load"}),
    )
    .await;
    let reader_task = body["task_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = serve::task_status(&http, &url, &reader_task).await;
        if status.as_deref() == Some("TASK_STATUS_COMPLETED") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first task did not complete: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_start = rss_kib(pid);

    let stats = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut submitters = Vec::new();
    for n in 0..SUBMITTERS {
        submitters.push(tokio::spawn(submitter(
            http.clone(),
            url.clone(),
            n,
            stats.clone(),
            stop.clone(),
        )));
    }
    let subscribers: Vec<_> = (0..SUBSCRIBERS)
        .map(|n| tokio::spawn(subscriber(http.clone(), url.clone(), n, stats.clone())))
        .collect();
    let reader = {
        let (http, url, stats, stop, id) = (
            http.clone(),
            url.clone(),
            stats.clone(),
            stop.clone(),
            reader_task.clone(),
        );
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let t0 = Instant::now();
                let r = http
                    .get(format!("{url}/api/v1/tasks/{id}/events?limit=200"))
                    .bearer_auth(TOKEN)
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await;
                match r {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let body: Value = resp.json().await.unwrap_or(Value::Null);
                        latencies.push(t0.elapsed());
                        if status >= 500 {
                            stats.server_errors.fetch_add(1, Ordering::Relaxed);
                            stats.problem(format!("events read: {status} {body}"));
                        } else if status != 200
                            || body["events"].as_array().is_none_or(Vec::is_empty)
                        {
                            stats.other_refusals.fetch_add(1, Ordering::Relaxed);
                            stats.problem(format!("events read: {status} {body}"));
                        }
                    }
                    Err(e) => {
                        stats.transport_errors.fetch_add(1, Ordering::Relaxed);
                        stats.problem(format!("events read: {e}"));
                    }
                }
            }
            latencies
        })
    };

    // RSS every second during the load.
    let mut series: Vec<(u64, u64)> = Vec::new();
    while started.elapsed() < Duration::from_secs(load_secs) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        series.push((started.elapsed().as_secs(), rss_kib(pid)));
        assert!(
            server.alive(),
            "the server died under load: {}",
            server.log_text()
        );
    }
    stop.store(true, Ordering::Relaxed);
    for s in &subscribers {
        s.abort();
    }
    for s in submitters {
        let _ = tokio::time::timeout(Duration::from_secs(35), s).await;
    }
    let mut latencies = tokio::time::timeout(Duration::from_secs(35), reader)
        .await
        .expect("the reader did not stop")
        .unwrap();
    for s in subscribers {
        let _ = s.await;
    }
    let load_time = started.elapsed();
    let rss_max = series.iter().map(|s| s.1).max().unwrap_or(0);

    // 20 s after the load.
    let stopped = Instant::now();
    let mut after: Vec<(u64, u64)> = Vec::new();
    while stopped.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        after.push((stopped.elapsed().as_secs(), rss_kib(pid)));
    }
    let rss_end = rss_kib(pid);
    server.kill();

    latencies.sort();
    let ld = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!(
        "load {:.1} s: {SUBMITTERS} submitters, {SUBSCRIBERS} subscribers, 1 reader",
        load_time.as_secs_f64()
    );
    println!(
        "tasks submitted {}, 429s {}, other 4xx {}, 5xx {}, transport errors {}",
        stats.submitted.load(Ordering::Relaxed),
        stats.rate_limited.load(Ordering::Relaxed),
        stats.other_refusals.load(Ordering::Relaxed),
        stats.server_errors.load(Ordering::Relaxed),
        stats.transport_errors.load(Ordering::Relaxed),
    );
    println!(
        "SSE: {} events delivered, {} streams to done, {} cut short (closed or 30 s limit)",
        stats.events.load(Ordering::Relaxed),
        stats.streams_done.load(Ordering::Relaxed),
        stats.streams_cut.load(Ordering::Relaxed),
    );
    println!(
        "events?limit=200 reads: {} — p50 {}, p99 {}, max {}",
        latencies.len(),
        ld(pct(&latencies, 0.5)),
        ld(pct(&latencies, 0.99)),
        ld(latencies.last().copied().unwrap_or_default())
    );
    // After the load the engine gives back its caches and the allocator's free memory: well below
    // the peak, within 64 MB of the start (the client's idle keep-alive connections stay open).
    let end_limit = (rss_start + 64 * 1024).min(rss_max * 9 / 10);
    println!(
        "RSS start {:.1} MB, max during load {:.1} MB, 20 s after {:.1} MB (limit {:.1} MB)",
        mb(rss_start),
        mb(rss_max),
        mb(rss_end),
        mb(end_limit)
    );
    let show = |s: &[(u64, u64)]| {
        s.iter()
            .map(|(t, r)| format!("{t}s:{:.0}", mb(*r)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("RSS during load (MB): {}", show(&series));
    println!("RSS after load (MB): {}", show(&after));
    let problems = stats.problems.lock().unwrap().clone();
    if !problems.is_empty() {
        println!("problems (first {}): {problems:#?}", problems.len());
    }

    assert!(
        rss_max < 300 * 1024,
        "RSS reached {:.1} MB under load",
        mb(rss_max)
    );
    assert!(
        rss_end < end_limit,
        "RSS 20 s after the load is {:.1} MB (start {:.1} MB, peak {:.1} MB)",
        mb(rss_end),
        mb(rss_start),
        mb(rss_max)
    );
    assert_eq!(
        stats.server_errors.load(Ordering::Relaxed),
        0,
        "5xx responses: {problems:#?}"
    );
    let gaps = stats.gaps.lock().unwrap().clone();
    assert!(
        gaps.is_empty(),
        "streams with gaps in their stored ids: {gaps:#?}"
    );
    assert!(
        stats.streams_done.load(Ordering::Relaxed) > 0
            && stats.submitted.load(Ordering::Relaxed) > 0,
        "no load happened"
    );
}
