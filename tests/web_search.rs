//! web_search against fake servers that speak each search API's documented wire format (real HTTP
//! on 127.0.0.1): the request each API expects (method, path, auth header, query or body), its
//! response read into the normalised results, and the errors: a refused key, a rate limit waited
//! out (Retry-After) or reported, a server error retried, a body that is not JSON. Then the keys:
//! stored like provider keys (encrypted, masked, listed on the keys page), and the one stored is
//! the one a task's agents search with.

#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/rig.rs"]
mod rig;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use fake_provider::{Reply, Scripted};
use rig::rig;
use serde_json::{Value, json};
use tauri_plugin_shannon::core::crypto::SecretString;
use tauri_plugin_shannon::core::tools::web_search::{SearchApi, SearchError, SearchTarget, search};

/// One request as the fake saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Value,
}

type Answer = Arc<dyn Fn(usize, &Seen) -> Response + Send + Sync>;

/// A server that records every request and answers the n-th with `answer(n, request)`.
async fn fake(answer: Answer) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let app = Router::new().fallback(any(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (log, answer) = (log.clone(), answer.clone());
            async move {
                let req = Seen {
                    method,
                    uri,
                    headers,
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                };
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push(req.clone());
                    log.len() - 1
                };
                answer(n, &req)
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

fn ok(body: Value) -> Response {
    axum::Json(body).into_response()
}

fn header<'a>(req: &'a Seen, name: &str) -> &'a str {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn query_param(req: &Seen, name: &str) -> Option<String> {
    let url = reqwest::Url::parse(&format!("http://fake{}", req.uri)).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.to_string())
}

fn target(api: SearchApi, base: &str, key: Option<&str>) -> SearchTarget {
    SearchTarget::new(api, base.to_string(), key.map(SecretString::new))
}

/// What a request must look like: `Err(what is wrong)` otherwise.
type Expect = fn(&Seen) -> Result<(), String>;

/// Each API: what the request must look like, and the response it answers with.
fn case(api: SearchApi) -> (Expect, Value) {
    match api {
        SearchApi::Tavily => (
            |r| {
                check(
                    r.method == Method::POST && r.uri.path() == "/search",
                    "POST /search",
                )?;
                check(
                    header(r, "authorization") == "Bearer tvly-key",
                    "Bearer key",
                )?;
                check(
                    r.body["query"] == "tidal power" && r.body["max_results"] == 3,
                    "body",
                )
            },
            json!({"query": "tidal power", "results": [
                {"title": "Rance Tidal Power Station", "url": "https://en.wikipedia.org/wiki/Rance", "content": "A tidal plant in Brittany.", "score": 0.9, "published_date": "2025-03-01"},
                {"title": "Sihwa Lake", "url": "https://sihwa.example/", "content": "The largest.", "score": 0.8}]}),
        ),
        SearchApi::Exa => (
            |r| {
                check(
                    r.method == Method::POST && r.uri.path() == "/search",
                    "POST /search",
                )?;
                check(header(r, "x-api-key") == "exa-key", "x-api-key")?;
                check(
                    r.body["query"] == "tidal power" && r.body["numResults"] == 3,
                    "body",
                )
            },
            json!({"requestId": "r1", "results": [
                {"id": "1", "title": "Rance Tidal Power Station", "url": "https://en.wikipedia.org/wiki/Rance", "publishedDate": "2025-03-01T00:00:00.000Z", "author": null, "text": "A tidal plant in Brittany."},
                {"id": "2", "title": "Sihwa Lake", "url": "https://sihwa.example/", "text": "The largest."}]}),
        ),
        SearchApi::Brave => (
            |r| {
                check(
                    r.method == Method::GET && r.uri.path() == "/res/v1/web/search",
                    "GET path",
                )?;
                check(
                    header(r, "x-subscription-token") == "brave-key",
                    "token header",
                )?;
                check(query_param(r, "q").as_deref() == Some("tidal power"), "q")?;
                check(query_param(r, "count").as_deref() == Some("3"), "count")
            },
            json!({"type": "search", "query": {"original": "tidal power"}, "web": {"type": "search", "results": [
                {"title": "Rance Tidal Power Station", "url": "https://en.wikipedia.org/wiki/Rance", "description": "A <strong>tidal</strong> plant in Brittany.", "page_age": "2025-03-01T00:00:00"},
                {"title": "Sihwa Lake", "url": "https://sihwa.example/", "description": "The largest.", "age": "March 1, 2025"}]}}),
        ),
        SearchApi::Serper => (
            |r| {
                check(
                    r.method == Method::POST && r.uri.path() == "/search",
                    "POST /search",
                )?;
                check(header(r, "x-api-key") == "serper-key", "X-API-KEY")?;
                check(r.body["q"] == "tidal power" && r.body["num"] == 3, "body")
            },
            json!({"searchParameters": {"q": "tidal power"}, "organic": [
                {"title": "Rance Tidal Power Station", "link": "https://en.wikipedia.org/wiki/Rance", "snippet": "A tidal plant in Brittany.", "date": "Mar 1, 2025", "position": 1},
                {"title": "Sihwa Lake", "link": "https://sihwa.example/", "snippet": "The largest.", "position": 2}]}),
        ),
        SearchApi::Searxng => (
            |r| {
                check(
                    r.method == Method::GET && r.uri.path() == "/searx/search",
                    "GET under the base path",
                )?;
                check(
                    query_param(r, "format").as_deref() == Some("json"),
                    "format=json",
                )?;
                check(query_param(r, "q").as_deref() == Some("tidal power"), "q")?;
                check(r.headers.get("authorization").is_none(), "keyless")
            },
            json!({"query": "tidal power", "number_of_results": 2, "results": [
                {"title": "Rance Tidal Power Station", "url": "https://en.wikipedia.org/wiki/Rance", "content": "A tidal plant in Brittany.", "engine": "duckduckgo", "publishedDate": "2025-03-01T00:00:00"},
                {"title": "Sihwa Lake", "url": "https://sihwa.example/", "content": "The largest.", "engine": "bing"},
                {"title": "A third", "url": "https://third.example/", "content": "cut by max"},
                {"title": "A fourth", "url": "https://fourth.example/", "content": "cut by max"}]}),
        ),
    }
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.to_string()) }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_api_gets_its_own_request_and_its_answer_is_normalised() {
    for (api, key) in [
        (SearchApi::Tavily, Some("tvly-key")),
        (SearchApi::Exa, Some("exa-key")),
        (SearchApi::Brave, Some("brave-key")),
        (SearchApi::Serper, Some("serper-key")),
        (SearchApi::Searxng, None),
    ] {
        let (expect, body) = case(api);
        let (base, seen) = fake(Arc::new(move |_, req| match expect(req) {
            Ok(()) => ok(body.clone()),
            Err(what) => {
                (StatusCode::BAD_REQUEST, format!("wrong request: {what}")).into_response()
            }
        }))
        .await;
        let base = if api == SearchApi::Searxng {
            format!("{base}/searx")
        } else {
            base
        };
        let hits = search(&target(api, &base, key), "tidal power", 3)
            .await
            .unwrap_or_else(|e| panic!("{api:?}: {e}"));
        assert_eq!(seen.lock().unwrap().len(), 1, "{api:?}: one request");
        // SearXNG takes no result count: the engine cuts its answer to the number asked.
        let expected = if api == SearchApi::Searxng { 3 } else { 2 };
        assert_eq!(hits.len(), expected, "{api:?}: {hits:?}");
        let first = &hits[0];
        assert_eq!(first.title, "Rance Tidal Power Station", "{api:?}");
        assert_eq!(first.url, "https://en.wikipedia.org/wiki/Rance", "{api:?}");
        assert_eq!(first.snippet, "A tidal plant in Brittany.", "{api:?}");
        assert_eq!(first.source, api.id());
        assert!(
            first
                .published_date
                .as_deref()
                .is_some_and(|d| d.contains("2025")),
            "{api:?}: {first:?}"
        );
        assert_eq!(hits[1].url, "https://sihwa.example/", "{api:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_rate_limit_is_waited_out_and_a_long_one_reported() {
    let body = case(SearchApi::Brave).1;
    let (base, seen) = fake(Arc::new(move |n, _| match n {
        0 => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "slow down",
        )
            .into_response(),
        _ => ok(body.clone()),
    }))
    .await;
    let started = Instant::now();
    let hits = search(
        &target(SearchApi::Brave, &base, Some("k")),
        "tidal power",
        3,
    )
    .await
    .unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(seen.lock().unwrap().len(), 2, "retried once");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited as Retry-After said"
    );

    let (base, seen) = fake(Arc::new(|_, _| {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "120")],
            "{}",
        )
            .into_response()
    }))
    .await;
    let err = search(&target(SearchApi::Tavily, &base, Some("k")), "q", 3)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SearchError::RateLimited {
            api: "tavily",
            retry_after: Some(120)
        }
    );
    assert!(err.to_string().contains("retry after 120 s"));
    assert_eq!(seen.lock().unwrap().len(), 1, "a long wait is not waited");
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_keys_server_errors_and_bad_bodies_are_clear_errors() {
    let key = "serper-secret-key-123456";
    let (base, _) = fake(Arc::new(|_, _| {
        (StatusCode::UNAUTHORIZED, "bad key").into_response()
    }))
    .await;
    let err = search(&target(SearchApi::Serper, &base, Some(key)), "q", 3)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("serper refused the API key (HTTP 401)"),
        "{err}"
    );
    assert!(!err.to_string().contains(key));

    let body = case(SearchApi::Exa).1;
    let (base, seen) = fake(Arc::new(move |n, _| match n {
        0 => (StatusCode::BAD_GATEWAY, "upstream down").into_response(),
        _ => ok(body.clone()),
    }))
    .await;
    let hits = search(&target(SearchApi::Exa, &base, Some("k")), "tidal power", 3)
        .await
        .unwrap();
    assert_eq!((hits.len(), seen.lock().unwrap().len()), (2, 2));

    let (base, _) = fake(Arc::new(|_, _| "<html>not json</html>".into_response())).await;
    let err = search(&target(SearchApi::Tavily, &base, Some("k")), "q", 3)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unreadable JSON"), "{err}");

    let (base, _) = fake(Arc::new(|_, _| ok(json!({"error": "no"})))).await;
    let err = search(&target(SearchApi::Serper, &base, Some("k")), "q", 3)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("without a result list"), "{err}");

    let (base, _) = fake(Arc::new(|_, _| (StatusCode::FORBIDDEN, "").into_response())).await;
    let err = search(&target(SearchApi::Searxng, &base, None), "q", 3)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("search.formats"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stored_search_key_is_masked_and_used_by_the_agents() {
    let (search_base, seen) = fake(Arc::new(|_, _| ok(case(SearchApi::Brave).1))).await;
    let r = rig("openai").await;
    let key = "BSAbrave-subscription-token-0042";
    // The endpoint first: a key is bound to the endpoint it is stored for.
    r.core
        .set_provider_endpoint(&r.me, "brave", Some(&search_base))
        .await
        .unwrap();
    r.core
        .set_provider_key(&r.me, "brave", &SecretString::new(key))
        .await
        .unwrap();
    let status = r.core.provider_status(&r.me).await.unwrap();
    let brave = status.iter().find(|s| s.provider == "brave").unwrap();
    assert!(brave.web_search && brave.ready && brave.is_configured);
    assert_ne!(brave.masked_key.as_deref(), Some(key));
    assert!(brave.masked_key.as_deref().unwrap().ends_with("0042"));
    let searxng = status.iter().find(|s| s.provider == "searxng").unwrap();
    assert!(!searxng.ready, "SearXNG needs its base URL");
    // A search API is not a model provider.
    let err = r
        .core
        .submit_task(
            &r.me,
            serde_json::from_value(json!({"query": "q", "provider_override": "brave"})).unwrap(),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_request", "{err}");

    r.fake
        .push(Scripted::Stream(Reply::text(["Searching."]).tool_call(
            "s1",
            "web_search",
            [json!({"query": "tidal power", "max_results": 3}).to_string()],
        )))
        .push(Scripted::Stream(Reply::text(["Rance, in Brittany."])));
    let (_, events) = r
        .run_in(
            "standard",
            "Where is the Rance plant?",
            json!({"tools_to_use": ["web_search"]}),
        )
        .await;
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(header(&seen[0], "x-subscription-token"), key);
    }
    let observed = events
        .iter()
        .find(|e| e.event_type == "TOOL_OBSERVATION")
        .unwrap();
    assert!(
        observed
            .message
            .as_deref()
            .unwrap()
            .contains("en.wikipedia.org/wiki/Rance")
    );
    let offered = r.fake.requests()[0].body.to_string();
    assert!(offered.contains("\"web_search\""), "the tool was offered");
    for e in &events {
        assert!(
            !serde_json::to_string(e).unwrap().contains(key),
            "the key leaked into {e:?}"
        );
    }

    // Pointed elsewhere, the search API gets no key: the tool call fails with key_endpoint_changed
    // and nothing reaches the new endpoint.
    let (moved_base, moved_seen) = fake(Arc::new(|_, _| ok(case(SearchApi::Brave).1))).await;
    r.core
        .set_provider_endpoint(&r.me, "brave", Some(&moved_base))
        .await
        .unwrap();
    r.fake
        .push(Scripted::Stream(Reply::text(["Searching."]).tool_call(
            "s2",
            "web_search",
            [json!({"query": "tidal power"}).to_string()],
        )))
        .push(Scripted::Stream(Reply::text(["No search today."])));
    let (_, events) = r
        .run_in(
            "standard",
            "Search again?",
            json!({"tools_to_use": ["web_search"]}),
        )
        .await;
    let failed = events
        .iter()
        .filter_map(|e| serde_json::to_string(e).ok())
        .find(|e| e.contains("key_endpoint_changed"));
    assert!(failed.is_some(), "the tool call says why: {events:?}");
    assert!(moved_seen.lock().unwrap().is_empty());
    assert_eq!(seen.lock().unwrap().len(), 1);
}
