//! Fault injection, set from a test through [`super::FakeCloud::inject`] or, for the example binary,
//! through `POST /__fake/faults` (JSON, `{"kind": "status", ...}`), and the other admin routes
//! under `/__fake/` (no auth, never rate limited, never faulted).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Cloud;
use super::script::Script;

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Fault {
    /// Answer matching requests with `status` (and `body`, default `{"error":"injected fault"}`)
    /// for `times` requests (forever when absent). `path` matches segment by segment,
    /// `*` standing for one segment (`/api/v1/tasks/*/pause`).
    Status {
        #[serde(default)]
        method: Option<String>,
        path: String,
        status: u16,
        #[serde(default)]
        body: Option<Value>,
        #[serde(default)]
        times: Option<u32>,
    },
    /// Delay matching requests (then answer normally).
    Latency {
        #[serde(default)]
        method: Option<String>,
        path: String,
        ms: u64,
    },
    /// The next `connections` SSE connections (default 1) are cut (an aborted chunked body) after
    /// `events` event frames.
    ResetStreamAfter {
        events: u32,
        #[serde(default)]
        connections: Option<u32>,
    },
    /// Tasks finishing while this is set publish no STREAM_END (many cloud failure paths).
    NoStreamEnd,
    /// The next `events` published events reach no live subscriber (a slow reader's silent loss);
    /// they stay in the ring and, unless deltas, in the persisted rows.
    DropLive { events: u32 },
}

/// `*` matches one segment; otherwise segments compare equal.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let q: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    p.len() == q.len() && p.iter().zip(&q).all(|(a, b)| *a == "*" || a == b)
}

fn method_matches(m: &Option<String>, method: &str) -> bool {
    m.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
}

/// Injected latency, then an injected status (after auth on the `/api` and `/v1` routes).
pub async fn inject_faults(State(cloud): State<Arc<Cloud>>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let (delay, answer) = {
        let mut st = cloud.state.lock().unwrap();
        let mut delay = Duration::ZERO;
        let mut answer = None;
        for f in st.faults.iter_mut() {
            match f {
                Fault::Latency {
                    method: m,
                    path: p,
                    ms,
                } if method_matches(m, &method) && path_matches(p, &path) => {
                    delay += Duration::from_millis(*ms);
                }
                Fault::Status {
                    method: m,
                    path: p,
                    status,
                    body,
                    times,
                } if answer.is_none()
                    && method_matches(m, &method)
                    && path_matches(p, &path)
                    && times.is_none_or(|t| t > 0) =>
                {
                    if let Some(t) = times {
                        *t -= 1;
                    }
                    answer = Some((*status, body.clone()));
                }
                _ => {}
            }
        }
        st.faults
            .retain(|f| !matches!(f, Fault::Status { times: Some(0), .. }));
        (delay, answer)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some((status, body)) = answer {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (
            status,
            Json(body.unwrap_or_else(|| json!({"error": "injected fault"}))),
        )
            .into_response();
    }
    next.run(req).await
}

#[derive(Deserialize)]
struct LogQuery {
    workflow_id: String,
}

#[derive(Deserialize)]
struct DownFor {
    #[serde(default)]
    down_ms: u64,
}

/// `/__fake/…`: what a test process outside Rust (Python, the e2e) needs.
pub fn admin_routes() -> axum::Router<Arc<Cloud>> {
    axum::Router::new()
        .route(
            "/__fake/faults",
            post(
                |State(c): State<Arc<Cloud>>, Json(f): Json<Fault>| async move {
                    c.inject(f);
                    StatusCode::NO_CONTENT
                },
            )
            .delete(|State(c): State<Arc<Cloud>>| async move {
                c.clear_faults();
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/__fake/script",
            post(
                |State(c): State<Arc<Cloud>>, Json(s): Json<Script>| async move {
                    c.set_script(s);
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .route(
            "/__fake/log",
            get(
                |State(c): State<Arc<Cloud>>, Query(q): Query<LogQuery>| async move {
                    Json(json!({"workflow_id": q.workflow_id, "events": c.emitted(&q.workflow_id)}))
                },
            ),
        )
        .route(
            "/__fake/tokens",
            post(|State(c): State<Arc<Cloud>>| async move { Json(c.issue_tokens()) }),
        )
        .route(
            // Stop the listener (every connection and stream cut) and bring it back on the same port
            // after `down_ms`: the only way a process outside Rust can see a dead cloud.
            "/__fake/restart",
            post(
                |State(c): State<Arc<Cloud>>, Json(d): Json<DownFor>| async move {
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        c.stop().await;
                        tokio::time::sleep(Duration::from_millis(d.down_ms)).await;
                        c.restart().await;
                    });
                    StatusCode::ACCEPTED
                },
            ),
        )
}
