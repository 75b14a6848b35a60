//! The door's middleware, one concern each. `routes::router` applies them in this order: JSON
//! errors, Host, Origin, announced body size, CORS, then authentication on the routes that need it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState, MAX_BODY_BYTES};
use crate::core::ShannonError;
use crate::core::auth::{AuthMethod, Caller};

/// The longest plain-text error body kept as the message of its JSON replacement.
const MAX_TEXT_MESSAGE: usize = 1024;

/// The outermost layer: any error answer (status ≥ 400) that is not JSON, whichever layer,
/// extractor or fallback produced it, becomes `{"error": <message>, "code": <from the status>}`.
/// Its headers (`Allow`, `WWW-Authenticate`, CORS…) are kept; a short plain-text body becomes the
/// message, anything else the status's reason. Routes already answering JSON are left alone.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if resp.status().as_u16() < 400 || is_json(resp.headers()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let plain_text = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().starts_with("text/plain"));
    let text = if plain_text {
        axum::body::to_bytes(body, MAX_TEXT_MESSAGE)
            .await
            .ok()
            .and_then(|b| String::from_utf8(b.to_vec()).ok())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    } else {
        None
    };
    let message = text.unwrap_or_else(|| {
        parts
            .status
            .canonical_reason()
            .unwrap_or("Error")
            .to_string()
    });
    let (json_parts, json_body) = ApiError::plain(parts.status, &message)
        .into_response()
        .into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::TRANSFER_ENCODING);
    for (name, value) in &json_parts.headers {
        parts.headers.insert(name, value.clone());
    }
    Response::from_parts(parts, json_body)
}

/// `application/json`, or any `application/…+json`.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .is_some_and(|e| {
            e == "application/json" || (e.starts_with("application/") && e.ends_with("+json"))
        })
}

/// DNS rebinding: only loopback names with our port.
pub async fn host_allowlist(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let port = state.port;
    let allowed = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|host| {
            [
                format!("127.0.0.1:{port}"),
                format!("localhost:{port}"),
                format!("[::1]:{port}"),
            ]
            .iter()
            .any(|a| host.eq_ignore_ascii_case(a))
        });
    if !allowed {
        return ApiError::plain(StatusCode::FORBIDDEN, "Host not allowed").into_response();
    }
    next.run(req).await
}

fn origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|o| o.to_str().ok())
}

/// A request from a browser page must come from an allowed origin (no Origin: not a browser page).
pub async fn origin_allowlist(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(o) = origin(req.headers())
        && !state.origins.iter().any(|a| a == o)
    {
        return ApiError::plain(StatusCode::FORBIDDEN, "Origin not allowed").into_response();
    }
    next.run(req).await
}

/// Refuses an announced oversized body at once instead of reading it first (`DefaultBodyLimit`
/// catches bodies that do not announce their length).
pub async fn refuse_announced_oversize(req: Request, next: Next) -> Response {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return ApiError::plain(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
            .into_response();
    }
    next.run(req).await
}

/// Answers preflights (204) and echoes the request's origin on every answer, never `*`. Runs inside
/// `origin_allowlist`, so any origin seen here is allowed.
pub async fn cors(req: Request, next: Next) -> Response {
    let origin = origin(req.headers()).and_then(|o| HeaderValue::from_str(o).ok());
    let preflight = req.method() == Method::OPTIONS;
    let mut resp = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    if let Some(origin) = origin {
        add_cors_headers(resp.headers_mut(), origin, preflight);
    }
    resp
}

fn add_cors_headers(headers: &mut HeaderMap, origin: HeaderValue, preflight: bool) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(
            "X-Workflow-ID, X-Session-ID, X-Shannon-Session-ID, X-Shannon-Events-Pending, Link",
        ),
    );
    if preflight {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PATCH, PUT, DELETE, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(
                "Content-Type, Authorization, X-API-Key, Idempotency-Key, Last-Event-ID, Cache-Control",
            ),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("3600"),
        );
    }
}

/// Credentials in a header: `X-API-Key`, else `Authorization: Bearer`.
pub async fn require_credentials(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    authenticate(&state, req, next, false).await
}

/// As [`require_credentials`], or `?api_key=` / `?token=` (as the cloud, on stream routes only:
/// EventSource and WebSocket clients cannot set headers).
pub async fn require_credentials_or_query_token(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    authenticate(&state, req, next, true).await
}

/// The per-launch token acts as the embedded user; anything else must be a valid JWT or Shannon
/// API key. The caller goes into the request for [`super::extract::Authed`].
async fn authenticate(state: &AppState, mut req: Request, next: Next, query_ok: bool) -> Response {
    let token = header_token(req.headers())
        .or_else(|| query_ok.then(|| query_token(req.uri())).flatten())
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return ApiError::unauthorized("Authentication required").into_response();
    };
    let caller = if bool::from(token.as_bytes().ct_eq(state.token.as_bytes())) {
        Caller {
            method: AuthMethod::LaunchToken,
            ..Caller::embedded()
        }
    } else {
        match state.core.authenticate(&token).await {
            Ok(caller) => caller,
            // Storage that cannot answer is said as such (503 with its code), not blamed on the
            // credential: a client would drop a good key.
            Err(
                e @ (ShannonError::StorageUnavailable(_)
                | ShannonError::StorageFull(_)
                | ShannonError::Database(_)
                | ShannonError::Internal(_)),
            ) => return ApiError::from(e).into_response(),
            Err(_) => return ApiError::unauthorized("Invalid token").into_response(),
        }
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

fn header_token(headers: &HeaderMap) -> Option<String> {
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(key.to_string());
    }
    let (scheme, rest) = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim().to_string())
}

fn query_token(uri: &Uri) -> Option<String> {
    let Query(q) = Query::<HashMap<String, String>>::try_from_uri(uri).ok()?;
    q.get("api_key").or_else(|| q.get("token")).cloned()
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::middleware::from_fn;
    use axum::response::{Html, IntoResponse};
    use axum::routing::get;
    use serde_json::{Value, json};

    /// The safety net on its own: answers no route of the door gives any more (plain text, no
    /// body, HTML) still reach the client as JSON with a code, headers kept; JSON and successes are
    /// left as they are.
    #[tokio::test]
    async fn non_json_errors_become_json_with_a_code() {
        let app = Router::new()
            .route(
                "/text",
                get(|| async { (StatusCode::IM_A_TEAPOT, "short and plain") }),
            )
            .route(
                "/bare",
                get(|| async {
                    let mut resp = StatusCode::METHOD_NOT_ALLOWED.into_response();
                    resp.headers_mut()
                        .insert(header::ALLOW, HeaderValue::from_static("GET"));
                    resp
                }),
            )
            .route(
                "/long",
                get(|| async { (StatusCode::BAD_REQUEST, "x".repeat(5000)) }),
            )
            .route(
                "/html",
                get(|| async { (StatusCode::FORBIDDEN, Html("<h1>no</h1>")) }),
            )
            .route(
                "/json",
                get(|| async {
                    (
                        StatusCode::CONFLICT,
                        [(header::CONTENT_TYPE, "application/problem+json")],
                        r#"{"error":"kept"}"#,
                    )
                }),
            )
            .route("/ok", get(|| async { "fine" }))
            .layer(from_fn(super::json_errors));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let fetch = |path: &'static str| {
            let (http, url) = (http.clone(), format!("{base}{path}"));
            async move {
                let resp = http.get(url).send().await.unwrap();
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let text = resp.text().await.unwrap();
                (status, headers, text)
            }
        };
        let json_of = |text: &str| serde_json::from_str::<Value>(text).unwrap();

        let (status, headers, text) = fetch("/text").await;
        assert_eq!(status, 418);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            json_of(&text),
            json!({"error": "short and plain", "code": "client_error"})
        );
        let (status, headers, text) = fetch("/bare").await;
        assert_eq!(
            (status, &headers[header::ALLOW]),
            (405, &"GET".parse().unwrap())
        );
        assert_eq!(
            json_of(&text),
            json!({"error": "Method Not Allowed", "code": "method_not_allowed"})
        );
        let (status, _, text) = fetch("/long").await;
        assert_eq!(status, 400);
        assert_eq!(
            json_of(&text),
            json!({"error": "Bad Request", "code": "invalid_request"})
        );
        let (_, _, text) = fetch("/html").await;
        assert_eq!(
            json_of(&text),
            json!({"error": "Forbidden", "code": "forbidden"})
        );
        let (status, _, text) = fetch("/json").await;
        assert_eq!((status, text.as_str()), (409, r#"{"error":"kept"}"#));
        let (status, _, text) = fetch("/ok").await;
        assert_eq!((status, text.as_str()), (200, "fine"));
        server.abort();
    }
}
