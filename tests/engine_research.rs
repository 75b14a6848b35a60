//! The research strategy over a fake search API (Tavily's wire format) and fake pages, both real
//! HTTP on 127.0.0.1, with a scripted fake model: the refined question, the research plan,
//! research agents in parallel calling web_search and web_fetch, the coverage loop (a gap that
//! brings a new source is kept; a round that brings none ends the loop), the synthesis with `[n]`
//! markers that match `metadata.citations` and a `## Sources` section of the tools' URLs, and the
//! check of the answer. Submitted with the desktop frontend's legacy body (`task_type: research`).
//! Then research with no search set up, and the memory note a long task leaves.

#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/rig.rs"]
mod rig;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::response::Html;
use axum::routing::{get, post};
use fake_provider::{Reply, Scripted};
use rig::{Rig, rig};
use serde_json::{Value, json};
use tauri_plugin_shannon::core::crypto::SecretString;
use tauri_plugin_shannon::core::streams::TaskEvent;

const ARTICLE: &str = include_str!("fixtures/pages/article.html");

/// Pages and a Tavily-shaped search API on one local server; the searches it was asked, with
/// their auth header.
async fn web() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let asked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let log = asked.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let site = base.clone();
    let app = Router::new()
        .route("/rance", get(|| async { Html(ARTICLE) }))
        .route(
            "/search",
            post(move |headers: HeaderMap, body: axum::Json<Value>| {
                let (log, site) = (log.clone(), site.clone());
                async move {
                    let q = body["query"].as_str().unwrap_or_default().to_string();
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    log.lock().unwrap().push((q.clone(), auth));
                    let hit = |title: &str, url: String| json!({"title": title, "url": url, "content": format!("About {title}."), "score": 0.8});
                    let results = match q.as_str() {
                        "tidal power France" => vec![
                            hit("Rance tidal plant", format!("{site}/rance")),
                            hit("Tidal power in France", "https://energy.example.fr/tidal".into()),
                        ],
                        "tidal power Korea" => {
                            vec![hit("Sihwa Lake station", "https://sihwa.example.kr/".into())]
                        }
                        "tidal power cost per MWh" => {
                            vec![hit("Tidal costs", "https://costs.example.org/tidal".into())]
                        }
                        // Nothing the research does not have already.
                        _ => vec![hit("Rance tidal plant", format!("{site}/rance"))],
                    };
                    axum::Json(json!({"query": q, "results": results}))
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, asked)
}

fn json_reply(v: Value) -> Scripted {
    Scripted::Stream(Reply::text([v.to_string()]))
}

fn text(t: &str) -> Scripted {
    Scripted::Stream(Reply::text([t]))
}

fn search_call(id: &str, query: &str) -> Scripted {
    Scripted::Stream(
        Reply::text(["Searching."])
            .tool_call(id, "web_search", [json!({"query": query}).to_string()])
            .delay(Duration::from_millis(150)),
    )
}

async fn with_search(r: &Rig, base: &str) {
    // The endpoint first: a key is bound to the endpoint it is stored for.
    r.core
        .set_provider_endpoint(&r.me, "tavily", Some(base))
        .await
        .unwrap();
    r.core
        .set_provider_key(&r.me, "tavily", &SecretString::new("tvly-test-key-77"))
        .await
        .unwrap();
    // The fake pages are on 127.0.0.1.
    r.core
        .set_setting(&r.me, "web_fetch.allow_private_network", "true")
        .await
        .unwrap();
}

fn of<'a>(events: &'a [TaskEvent], t: &str) -> Vec<&'a TaskEvent> {
    events.iter().filter(|e| e.event_type == t).collect()
}

fn said(events: &[TaskEvent], t: &str, needle: &str) -> bool {
    events
        .iter()
        .any(|e| e.event_type == t && e.message.as_deref().is_some_and(|m| m.contains(needle)))
}

#[tokio::test(flavor = "multi_thread")]
async fn research_cites_its_sources_and_stops_when_no_new_sources_arrive() {
    // This test's own HTTP client needs the crypto provider the engine installs on its first
    // request; do not depend on another test's task having made one first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (base, asked) = web().await;
    let r = rig("openai").await;
    with_search(&r, &base).await;
    let f = &r.fake;
    f.route(
        "You refine research questions",
        json_reply(
            json!({"refined_query": "Which tidal power plants are largest, and what do they cost?",
                          "research_areas": ["France", "Korea"], "rationale": "two sites"}),
        ),
    );
    f.route(
        "research supervisor",
        json_reply(json!({"complexity_score": 0.6, "subtasks": [
            {"id": "task-1", "description": "Find the French tidal plant", "suggested_tools": ["web_search"]},
            {"id": "task-2", "description": "Find the Korean tidal plant"}]})),
    );
    f.route(
        "Find the French tidal plant",
        search_call("a1", "tidal power France"),
    );
    f.route(
        "Find the French tidal plant",
        Scripted::Stream(Reply::text(["Reading."]).tool_call(
            "a2",
            "web_fetch",
            [json!({"url": format!("{base}/rance")}).to_string()],
        )),
    );
    f.route(
        "Find the French tidal plant",
        text("The Rance plant makes 240 MW at peak tide."),
    );
    f.route(
        "Find the Korean tidal plant",
        search_call("b1", "tidal power Korea"),
    );
    f.route(
        "Find the Korean tidal plant",
        text("Sihwa Lake makes 254 MW."),
    );
    f.route(
        "You judge whether research findings",
        json_reply(json!({"coverage_score": 0.6, "should_continue": true,
                          "gaps": [{"gap": "cost", "query": "tidal power cost per MWh"}]})),
    );
    f.route(
        "Search for: tidal power cost per MWh",
        search_call("c1", "tidal power cost per MWh"),
    );
    f.route(
        "Search for: tidal power cost per MWh",
        text("Tidal power costs about 200 per MWh."),
    );
    f.route(
        "You judge whether research findings",
        json_reply(json!({"coverage_score": 0.8, "should_continue": true,
                          "gaps": [{"gap": "environment", "query": "tidal environmental impact"}]})),
    );
    f.route(
        "Search for: tidal environmental impact",
        search_call("d1", "tidal environmental impact"),
    );
    f.route(
        "Search for: tidal environmental impact",
        text("Nothing new about the environment."),
    );
    f.route(
        "You write the answer to a research question",
        text(
            "Sihwa Lake is the largest at 254 MW [3], ahead of the Rance at 240 MW [1][2]. \
              Costs run near 200 per MWh [4]. A claim [9].\n\n## References\n1. https://made.up/\n",
        ),
    );
    f.route(
        "You check a research answer",
        json_reply(json!({"verified": true, "confidence": 0.9, "unsupported_claims": []})),
    );

    // The desktop frontend's legacy body, over the listener.
    let listener = r.listen("research-token-0123456789abcdef0123").await;
    let created: Value = reqwest::Client::new()
        .post(format!("http://{}/api/v1/tasks", listener.addr()))
        .bearer_auth("research-token-0123456789abcdef0123")
        .json(
            &json!({"prompt": "Which tidal plants are largest?", "task_type": "research",
                      "metadata": {"research_strategy": "standard", "iterative_max_iterations": 3,
                                   "provider": "openai"}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["task_id"].as_str().expect("a task id").to_string();
    let mut sub = r.core.subscribe_task(&r.me, &id, None, None).await.unwrap();
    let events = Rig::rest(&mut sub).await;
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert_eq!(task.status, "TASK_STATUS_COMPLETED", "{:?}", task.error);
    let (m, result) = (task.metadata.clone(), task.result.clone());

    // The route, the refinement and the plan.
    let delegated = of(&events, "DELEGATION");
    assert_eq!(
        delegated[0].payload.as_ref().unwrap()["strategy"],
        "research"
    );
    assert!(said(
        &events,
        "PROGRESS",
        "Expanded query into 2 research dimensions"
    ));
    assert!(said(&events, "PROGRESS", "Got a plan — 2 steps"));
    // Two planned agents at once, then one per gap.
    assert_eq!(of(&events, "AGENT_STARTED").len(), 4);
    assert!(
        r.fake.max_in_flight() >= 2,
        "the research agents ran in parallel"
    );
    let searches: Vec<String> = asked
        .lock()
        .unwrap()
        .iter()
        .map(|(q, _)| q.clone())
        .collect();
    assert_eq!(searches.len(), 4, "{searches:?}");
    assert!(
        asked
            .lock()
            .unwrap()
            .iter()
            .all(|(_, auth)| auth == "Bearer tvly-test-key-77")
    );
    // The page was read and reached the agent.
    assert!(r.fake.requests().iter().any(|q| {
        q.body
            .to_string()
            .contains("Unlike wind and sun, the tides follow the moon")
    }));

    // The coverage loop: the cost gap brought a source and was kept; the environment gap brought
    // none, which ended the loop before its third round.
    let judged = r
        .fake
        .requests()
        .iter()
        .filter(|q| {
            q.body
                .to_string()
                .contains("You judge whether research findings")
        })
        .count();
    assert_eq!(judged, 2);
    assert!(said(
        &events,
        "PROGRESS",
        "1 of 1 searches brought new sources"
    ));
    assert!(said(&events, "PROGRESS", "No new sources"));
    assert_eq!(m["iterations"], 2);
    assert_eq!(m["gap_results_accepted"], 1);
    assert_eq!(m["strategy"], "research");
    assert_eq!(m["verification"]["verified"], true);

    // Markers and sources agree with metadata.citations.
    assert!(
        !result.contains("[9]") && !result.contains("made.up"),
        "{result}"
    );
    let citations = m["citations"].as_array().unwrap();
    let (body, sources) = result
        .split_once("\n## Sources\n")
        .expect("a sources section");
    let lines: Vec<&str> = sources.lines().filter(|l| !l.trim().is_empty()).collect();
    let markers: Vec<usize> = (1..=9)
        .filter(|n| body.contains(&format!("[{n}]")))
        .collect();
    assert_eq!(markers, vec![1, 2, 3, 4], "{result}");
    assert_eq!(lines.len(), 4, "{sources}");
    for (i, line) in lines.iter().enumerate() {
        let c = &citations[i];
        let url = c["url"].as_str().unwrap();
        assert!(line.starts_with(&format!("[{}] [", i + 1)), "{line}");
        assert!(line.contains(&format!("]({url})")), "{line} vs {c}");
        for field in ["title", "source", "credibility_score", "quality_score"] {
            assert!(c.get(field).is_some(), "{field} in {c}");
        }
    }
    // The synthesis answered the question the user asked, with the numbered sources.
    let synthesis = r
        .fake
        .requests()
        .into_iter()
        .find(|q| {
            q.body
                .to_string()
                .contains("You write the answer to a research question")
        })
        .unwrap()
        .body
        .to_string();
    assert!(synthesis.contains("Question: Which tidal plants are largest?"));
    assert!(synthesis.contains("https://costs.example.org/tidal"));
    // Memory is off by default: no note was asked for.
    assert!(
        !r.fake
            .requests()
            .iter()
            .any(|q| q.body.to_string().contains("long-term memory"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn research_without_search_says_so_and_a_long_task_leaves_a_memory_note() {
    let r = rig("openai").await;
    r.core
        .set_setting(&r.me, "memory.enabled", "true")
        .await
        .unwrap();
    let long = "Tidal plants turn the tides into power. ".repeat(20);
    r.fake.route("no web search is available", text(&long));
    r.fake.route(
        "long-term memory",
        json_reply(json!({"worth_remembering": true, "title": "Tidal power basics",
            "filename": "../tidal power", "summary": "The user studies tidal power plants.",
            "content": "- The user asked about tidal power plants and their output.\n- Follow up next time with the costs per MWh and the environmental record of each plant."})),
    );
    let (id, events) = r
        .run_in(
            "standard",
            "Tell me about tidal power",
            json!({"force_research": true}),
        )
        .await;
    let warning = of(&events, "WARNING");
    assert_eq!(warning.len(), 1);
    assert!(
        warning[0]
            .message
            .as_deref()
            .unwrap()
            .contains("No web search is set up")
    );
    let task = r.core.get_task(&r.me, &id).await.unwrap();
    assert!(
        task.result.starts_with("> **Unsourced:**"),
        "{}",
        task.result
    );
    assert_eq!(task.metadata["unsourced"], true);
    let asked = r
        .fake
        .requests()
        .into_iter()
        .find(|q| q.body.to_string().contains("no web search is available"))
        .unwrap();
    assert!(
        asked.body.get("tools").is_none(),
        "no search tool offered: {}",
        asked.body
    );

    // The note, flat in the memory folder, and its index.
    assert!(
        said(
            &events,
            "PROGRESS",
            "Saved a memory note: Tidal power basics"
        ),
        "{:#?}",
        events
            .iter()
            .map(|e| (&e.event_type, &e.message))
            .collect::<Vec<_>>()
    );
    let files = r.core.list_memory_files(&r.me, None, None).await.unwrap();
    let names: Vec<&str> = files.files.iter().map(|f| f.name.as_str()).collect();
    assert!(
        names.contains(&"tidal-power.md") && names.contains(&"MEMORY.md"),
        "{names:?}"
    );
    let note = r
        .core
        .read_memory_file(&r.me, "tidal-power.md", None)
        .await
        .unwrap();
    assert!(
        note.content
            .starts_with("# Tidal power basics\n\n- The user asked")
    );
    let index = r
        .core
        .read_memory_file(&r.me, "MEMORY.md", None)
        .await
        .unwrap();
    assert!(
        index
            .content
            .contains("- [Tidal power basics](tidal-power.md) — The user studies")
    );
}
