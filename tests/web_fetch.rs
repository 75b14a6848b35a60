//! web_fetch against a local server (real HTTP on 127.0.0.1, which the test allows): pages become
//! readable text without their scripts and styles, the size cap truncates, the redirect cap stops a
//! loop; and by default loopback, private, link-local and non-http URLs are refused before any
//! connection. Then the tool in a task: the agent reads a page.

#[path = "support/fake_provider.rs"]
mod fake_provider;
#[path = "support/rig.rs"]
mod rig;

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::get;
use fake_provider::{Reply, Scripted};
use rig::rig;
use serde_json::json;
use tauri_plugin_shannon::core::tools::web_fetch::{FetchLimits, fetch, tool};

const ARTICLE: &str = include_str!("fixtures/pages/article.html");
const DOCS: &str = include_str!("fixtures/pages/docs.html");

async fn pages() -> String {
    let app = Router::new()
        .route("/article", get(|| async { Html(ARTICLE) }))
        .route("/docs", get(|| async { Html(DOCS) }))
        .route(
            "/big",
            get(|| async {
                Html(format!(
                    "<html><body><p>{}</p></body></html>",
                    "word ".repeat(400_000)
                ))
            }),
        )
        .route(
            "/loop/{n}",
            get(|Path(n): Path<u32>| async move {
                Redirect::temporary(&format!("/loop/{}", n + 1)).into_response()
            }),
        )
        .route("/hop", get(|| async { Redirect::temporary("/article") }))
        .route(
            "/to-file",
            get(|| async { Redirect::temporary("file:///etc/passwd") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn local() -> FetchLimits {
    FetchLimits {
        allow_private: true,
        ..FetchLimits::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_become_readable_text_within_the_limits() {
    let base = pages().await;
    let page = fetch(&format!("{base}/article"), &local()).await.unwrap();
    assert_eq!(
        page.title,
        "Tidal power plant opens on the Rance estuary | Coastal News"
    );
    assert!(
        page.text
            .contains("will produce **240 megawatts** at peak tide")
            || page.text.contains("240 megawatts"),
        "{}",
        page.text
    );
    assert!(
        page.text
            .contains("Unlike wind and sun, the tides follow the moon")
    );
    assert!(page.text.contains("Tidal range: up to 13.5 m"));
    for gone in ["gtag(", "dataLayer", "font-family", "querySelectorAll"] {
        assert!(!page.text.contains(gone), "{gone} left in the text");
    }
    let docs = fetch(&format!("{base}/docs"), &local()).await.unwrap();
    assert_eq!(docs.title, "Configuration — widgetd 3.2 documentation");
    assert!(docs.text.contains("port = 8080") && docs.text.contains("The TCP port to listen on."));
    assert!(!docs.text.contains("searchtools"));

    let big = fetch(
        &format!("{base}/big"),
        &FetchLimits {
            max_bytes: 100_000,
            ..local()
        },
    )
    .await
    .unwrap();
    assert!(big.truncated);
    assert!(big.text.len() <= 100_000);
    let hop = fetch(&format!("{base}/hop"), &local()).await.unwrap();
    assert!(hop.url.ends_with("/article"));
    let looped = fetch(&format!("{base}/loop/0"), &local())
        .await
        .unwrap_err();
    assert!(looped.contains("more than 5 redirects"), "{looped}");
    let to_file = fetch(&format!("{base}/to-file"), &local())
        .await
        .unwrap_err();
    assert!(to_file.contains("redirect refused"), "{to_file}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_network_and_other_schemes_are_refused_by_default() {
    let base = pages().await;
    let limits = FetchLimits::default();
    for url in [
        format!("{base}/article"),
        "http://127.0.0.1/".into(),
        "http://10.0.0.1/".into(),
        "http://169.254.169.254/latest/meta-data/".into(),
        "http://[::1]/".into(),
        "http://localhost/".into(),
        "file:///etc/passwd".into(),
    ] {
        let started = std::time::Instant::now();
        let err = fetch(&url, &limits).await.unwrap_err();
        assert!(
            err.contains("private or loopback")
                || err.contains("only http and https")
                || err.contains("local machine"),
            "{url}: {err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "refused before connecting: {url}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_reads_a_page_with_web_fetch() {
    let base = pages().await;
    let r = rig("openai").await;
    // This user runs a local wiki: the local network is allowed for them.
    r.core
        .set_setting(&r.me, "web_fetch.allow_private_network", "true")
        .await
        .unwrap();
    r.fake
        .push(Scripted::Stream(Reply::text(["Reading."]).tool_call(
            "w1",
            "web_fetch",
            [json!({"url": format!("{base}/article")}).to_string()],
        )))
        .push(Scripted::Stream(Reply::text(["240 MW at peak tide."])));
    let (id, events) = r
        .run_in(
            "standard",
            "How much power does the Rance plant make?",
            json!({"tools_to_use": ["web_fetch"]}),
        )
        .await;
    let seen = events
        .iter()
        .find(|e| e.event_type == "TOOL_OBSERVATION")
        .unwrap();
    assert!(
        seen.message.as_deref().unwrap().contains("Rance estuary"),
        "{seen:?}"
    );
    let second = r.fake.requests()[1].body.to_string();
    assert!(
        second.contains("240 megawatts"),
        "the page reached the model"
    );
    assert_eq!(
        r.core.get_task(&r.me, &id).await.unwrap().result,
        "240 MW at peak tide."
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn several_pages_in_one_call_each_with_its_text_or_its_error() {
    let base = pages().await;
    let args =
        json!({"urls": [format!("{base}/article"), format!("{base}/docs"), "file:///etc/passwd"]});
    let (ok, out) = tool(&args, &FetchLimits::default()).await;
    // By default even the fake's loopback pages are refused, each in its place.
    assert!(!ok, "{out}");
    let (ok, out) = tool(&args, &local()).await;
    assert!(ok, "{out}");
    let pages: serde_json::Value = serde_json::from_str(&out).unwrap();
    let pages = pages["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 3);
    assert!(pages[0]["title"].as_str().unwrap().contains("Rance"));
    assert_eq!(
        pages[1]["title"],
        "Configuration — widgetd 3.2 documentation"
    );
    assert!(
        pages[2]["error"]
            .as_str()
            .unwrap()
            .contains("only http and https")
    );
    let too_many = json!({"urls": vec![format!("{base}/article"); 6]});
    assert!(!tool(&too_many, &local()).await.0);
}
