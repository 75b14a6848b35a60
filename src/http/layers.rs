//! The door's middleware, one concern each. `routes::router` applies them in this order: Host,
//! Origin, announced body size, CORS, then authentication on the routes that need it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState, MAX_BODY_BYTES};
use crate::core::auth::{AuthMethod, Caller};

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
        HeaderValue::from_static("X-Workflow-ID, X-Session-ID, X-Shannon-Session-ID, Link"),
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
