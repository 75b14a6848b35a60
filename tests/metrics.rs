//! `GET /metrics` over real HTTP on 127.0.0.1: the Prometheus text parses (checked line by line
//! against the exposition grammar), it needs the token, and its counters move with a demo task.
//! Plus a scrape over 100k tasks and 300k usage rows: right totals, and a second scrape counts no
//! row twice (its cost against history is measured by `cargo bench --bench history`,
//! `metrics/100k` against `metrics/1k`).

#[path = "support/listener.rs"]
mod listener;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tauri_plugin_shannon::core::store::DATABASE_FILE;
use tauri_plugin_shannon::{Caller, Core, CoreConfig};

const TOKEN: &str = "metrics-launch-token-0123456789abcdef0123456789";

/// One sample: name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// Parses the text exposition format 0.0.4 strictly: every line is a HELP or TYPE comment, blank,
/// or a sample of a family whose TYPE came before it; label values are unescaped.
fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let ident = |s: &str| {
        !s.is_empty()
            && s.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    let mut typed: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name, tail) = (parts.next(), parts.next(), parts.next());
            let name = name
                .filter(|n| ident(n))
                .ok_or(format!("bad comment: {line}"))?;
            match kw {
                Some("HELP") => {}
                Some("TYPE") => {
                    let kind = tail.unwrap_or_default();
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(format!("bad type: {line}"));
                    }
                    if typed.insert(name.to_string(), kind.to_string()).is_some() {
                        return Err(format!("TYPE twice: {line}"));
                    }
                }
                _ => return Err(format!("bad comment: {line}")),
            }
            continue;
        }
        let (head, value) = line.rsplit_once(' ').ok_or(format!("no value: {line}"))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| format!("bad value: {line}"))?,
        };
        let (name, labels) = match head.split_once('{') {
            None => (head, Vec::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').ok_or(format!("unclosed: {line}"))?;
                (name, labels(body).ok_or(format!("bad labels: {line}"))?)
            }
        };
        if !ident(name) || !typed.contains_key(name) {
            return Err(format!("sample of no typed family: {line}"));
        }
        samples.push((name.to_string(), labels, value));
    }
    Ok(samples)
}

fn labels(mut body: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let (key, rest) = body.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    _ => return None,
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        out.push((key.to_string(), value));
        body = &rest[end + 1..];
        body = body.strip_prefix(',').unwrap_or(body);
    }
    Some(out)
}

fn value(samples: &[Sample], name: &str, label: Option<(&str, &str)>) -> f64 {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name && label.is_none_or(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .unwrap_or_else(|| panic!("no sample {name} {label:?}"))
        .2
}

async fn scrape(http: &reqwest::Client, base: &str) -> Vec<Sample> {
    let resp = http
        .get(format!("{base}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ct = resp.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .unwrap();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = resp.text().await.unwrap();
    parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_need_the_token_and_move_with_a_task() {
    let (listener, _dir) = listener::start(TOKEN).await;
    let base = format!("http://127.0.0.1:{}", listener.addr().port());
    let http = reqwest::Client::new();

    let anonymous = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let wrong = http
        .get(format!("{base}/metrics"))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let before = scrape(&http, &base).await;
    let version = before
        .iter()
        .find(|(n, _, _)| n == "shannon_build_info")
        .map(|(_, l, _)| l.clone())
        .unwrap();
    assert_eq!(
        version,
        [("version".into(), env!("CARGO_PKG_VERSION").into())]
    );
    assert_eq!(
        value(&before, "shannon_tasks", Some(("status", "completed"))),
        0.0
    );
    assert_eq!(value(&before, "shannon_event_store_failing", None), 0.0);
    #[cfg(target_os = "linux")]
    assert!(value(&before, "process_resident_memory_bytes", None) > 1e6);

    let submitted: Value = http
        .post(format!("{base}/api/v1/tasks"))
        .bearer_auth(TOKEN)
        .json(&json!({"query": "Count me in the metrics"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = submitted["task_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t: Value = http
            .get(format!("{base}/api/v1/tasks/{id}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if t["status"] == "TASK_STATUS_COMPLETED" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the demo task did not complete: {t}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let after = scrape(&http, &base).await;
    assert_eq!(
        value(&after, "shannon_tasks", Some(("status", "completed"))),
        1.0
    );
    assert_eq!(
        value(&after, "shannon_tasks", Some(("status", "running"))),
        0.0
    );
    let events = |s: &[Sample]| value(s, "shannon_events_total", None);
    assert!(
        events(&after) > events(&before),
        "events_total did not move"
    );
    let input = |s: &[Sample]| value(s, "shannon_tokens_total", Some(("direction", "input")));
    assert!(
        input(&after) > input(&before),
        "the demo run's tokens are counted"
    );
    // Scraped again with nothing new: the running totals do not count a row twice.
    let again = scrape(&http, &base).await;
    assert_eq!(input(&again), input(&after));
    assert_eq!(
        value(&again, "shannon_cost_usd_total", None),
        value(&after, "shannon_cost_usd_total", None)
    );
    drop(listener);
}

/// 100k tasks of one user in 1k sessions, three usage rows each: the first scrape sums the usage
/// rows once, the next ones read only rows added since (the same totals) and the task counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_over_100k_tasks_counts_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let user = Caller::embedded().user_id;
    drop(Core::open(CoreConfig::new(dir.path())).await.unwrap());
    let seeded = Instant::now();
    let mut db = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    db.execute_batch("PRAGMA synchronous = OFF;").unwrap();
    let tx = db.transaction().unwrap();
    {
        let mut session = tx
            .prepare("INSERT INTO sessions (id, user_id, context, created_at, updated_at) VALUES (?1, ?2, '{}', 'x', 'x')")
            .unwrap();
        let mut task = tx
            .prepare(
                "INSERT INTO tasks (id, workflow_id, user_id, session_id, query, status, created_at, updated_at)
                 VALUES (?1, ?1, ?2, ?3, 'q', ?4, 'x', 'x')",
            )
            .unwrap();
        let mut usage = tx
            .prepare(
                "INSERT INTO token_usage (task_id, provider, model, input_tokens, output_tokens, total_tokens, cost_usd, created_at)
                 VALUES (?1, 'p', 'm', 10, 5, 15, 0.001, 'x')",
            )
            .unwrap();
        for i in 0..100_000u32 {
            let sid = format!("s-{}", i / 100);
            if i % 100 == 0 {
                session.execute(rusqlite::params![sid, user]).unwrap();
            }
            let status = if i % 10 == 0 { "FAILED" } else { "COMPLETED" };
            let id = format!("t-{i}");
            task.execute(rusqlite::params![id, user, sid, status])
                .unwrap();
            for _ in 0..3 {
                usage.execute([&id]).unwrap();
            }
        }
    }
    tx.commit().unwrap();
    drop(db);
    println!("seeded in {:?}", seeded.elapsed());

    let core = Core::open(CoreConfig::new(dir.path())).await.unwrap();
    let caller = Caller::embedded();
    let first = core.metrics(&caller).await.unwrap();
    let text = core.metrics(&caller).await.unwrap();
    let samples = parse(&text).unwrap();
    // The second scrape reads no usage row again: same totals (memory may differ).
    let stable = |t: &str| -> String {
        t.lines()
            .filter(|l| !l.contains("process_resident_memory_bytes"))
            .collect()
    };
    assert_eq!(stable(&first), stable(&text));
    assert_eq!(
        value(&samples, "shannon_tasks", Some(("status", "completed"))),
        90_000.0
    );
    assert_eq!(
        value(&samples, "shannon_tasks", Some(("status", "failed"))),
        10_000.0
    );
    assert_eq!(
        value(
            &samples,
            "shannon_tokens_total",
            Some(("direction", "input"))
        ),
        3_000_000.0
    );
}

#[test]
fn the_parser_rejects_what_prometheus_rejects() {
    assert!(parse("m 1\n").is_err(), "no TYPE");
    assert!(parse("# TYPE m gauge\nm{a=\"x} 1\n").is_err());
    assert!(parse("# TYPE m gauge\nm one\n").is_err());
    let ok = parse("# TYPE m gauge\nm{a=\"q\\\"\\n\",b=\"\"} 2\n").unwrap();
    assert_eq!(
        ok[0].1,
        [("a".into(), "q\"\n".into()), ("b".into(), String::new())]
    );
}
