//! Local providers (no key, a base URL: Ollama, LM Studio, custom) are ready only while something
//! answers HTTP at their endpoint; the probe's outcome is reused briefly.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use tauri_plugin_shannon::core::auth::Caller;
use tauri_plugin_shannon::core::settings::ProviderStatus;
use tauri_plugin_shannon::{Core, CoreConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A port nothing listens on (bound, then released).
async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// A minimal HTTP server on 127.0.0.1 answering every request 404; counts requests and keeps the
/// first request line.
async fn listener() -> (u16, Arc<AtomicUsize>, Arc<std::sync::Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (h, seen) = (hits.clone(), lines.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = l.accept().await else {
                return;
            };
            let (h, seen) = (h.clone(), seen.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]);
                seen.lock()
                    .unwrap()
                    .push(head.lines().next().unwrap_or_default().to_string());
                h.fetch_add(1, Ordering::SeqCst);
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    )
                    .await;
            });
        }
    });
    (port, hits, lines)
}

async fn status_of(core: &Core, me: &Caller, id: &str) -> ProviderStatus {
    core.provider_status(me)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.provider == id)
        .unwrap()
}

async fn set_base_url(core: &Core, me: &Caller, id: &str, url: &str) {
    core.set_setting(
        me,
        &format!("provider.{id}.base_url"),
        &json!(url).to_string(),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_local_provider_with_nothing_listening_is_not_ready_and_names_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let core = Core::open(CoreConfig::new(dir.path())).await.unwrap();
    let me = Caller::embedded();
    for id in ["ollama", "lmstudio", "custom"] {
        let url = format!("http://127.0.0.1:{}/v1", closed_port().await);
        set_base_url(&core, &me, id, &url).await;
        let s = status_of(&core, &me, id).await;
        assert!(!s.ready, "{id}: {s:?}");
        assert!(!s.is_active);
        assert_eq!(s.base_url.as_deref(), Some(url.as_str()));
        let reason = s.reason.unwrap();
        assert!(reason.contains("not running"), "{id}: {reason}");
        assert!(reason.contains(&format!("{url}/models")), "{id}: {reason}");
    }
    // A submission naming it is refused with that reason.
    let req = serde_json::from_value(json!({"query": "q", "provider_override": "ollama"})).unwrap();
    let err = core.submit_task(&me, req, None).await.unwrap_err();
    assert_eq!(err.code(), "provider_not_ready");
    assert!(err.to_string().contains("not running"), "{err}");

    set_base_url(&core, &me, "custom", "not a url").await;
    let s = status_of(&core, &me, "custom").await;
    assert!(!s.ready);
    assert!(s.reason.unwrap().contains("not an http"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_local_provider_that_answers_is_ready_and_the_probe_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let core = Core::open(CoreConfig::new(dir.path())).await.unwrap();
    let me = Caller::embedded();
    let (port, hits, lines) = listener().await;
    let url = format!("http://127.0.0.1:{port}/v1/");
    set_base_url(&core, &me, "ollama", &url).await;
    let s = status_of(&core, &me, "ollama").await;
    assert!(s.ready, "{s:?}");
    assert_eq!(s.reason, None);
    assert!(!s.is_configured, "no key is stored, none is needed");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(lines.lock().unwrap()[0], "GET /v1/models HTTP/1.1");
    // Within the reuse window, status asks no second time.
    for _ in 0..5 {
        assert!(status_of(&core, &me, "ollama").await.ready);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // Another local provider on the same server: probed once too, and ready.
    set_base_url(
        &core,
        &me,
        "lmstudio",
        &format!("http://localhost:{port}/api"),
    )
    .await;
    assert!(status_of(&core, &me, "lmstudio").await.ready);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert_eq!(lines.lock().unwrap()[1], "GET /api/models HTTP/1.1");
}
