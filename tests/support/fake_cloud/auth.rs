//! The gateway's middleware as a client meets it: auth (X-API-Key, then Bearer, query tokens only on
//! the stream routes, `sk-shannon-` normalised, short-lived JWTs with refresh, or auth off), fixed
//! window rate limits on the limited routes only, and idempotency that caches only 2xx with no
//! in-flight lock.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Cloud;

/// The seeded dev identity the cloud uses when auth is off.
pub const DEV_USER: &str = "00000000-0000-0000-0000-000000000002";
pub const DEV_TENANT: &str = "00000000-0000-0000-0000-000000000001";

/// Who made a request (a request extension set by [`authenticate`]).
#[derive(Clone, Debug)]
pub struct Identity {
    pub user_id: String,
    pub tenant_id: String,
    /// The rate limiter's bucket: `key:<api key>` or `user:<id>` (JWT, auth off).
    pub limit_key: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    tenant_id: String,
    typ: String,
    jti: String,
    iat: u64,
    exp: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The user an API key belongs to: one per configured key, so each has its own rate window.
pub fn user_of_key(index: usize) -> String {
    format!("00000000-0000-0000-0000-{:012x}", 0x100 + index)
}

pub fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

fn unauthorized(message: &str) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, message);
    r.headers_mut().insert(
        "WWW-Authenticate",
        HeaderValue::from_static("Bearer realm=\"Shannon API\""),
    );
    r
}

impl Cloud {
    fn sign(&self, user: &str, typ: &str, ttl: Duration) -> String {
        let iat = unix_now();
        let claims = Claims {
            sub: user.into(),
            tenant_id: DEV_TENANT.into(),
            typ: typ.into(),
            jti: uuid::Uuid::new_v4().to_string(),
            iat,
            exp: iat + ttl.as_secs().max(1),
        };
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(self.cfg.jwt_secret.as_bytes()),
        )
        .expect("sign a JWT")
    }

    /// An access/refresh pair for the first key's user (the cloud hands them out at OAuth register).
    pub fn issue_tokens(&self) -> TokenPair {
        let user = user_of_key(0);
        TokenPair {
            access_token: self.sign(&user, "access", self.cfg.access_ttl),
            refresh_token: self.sign(&user, "refresh", self.cfg.refresh_ttl),
            token_type: "Bearer",
            expires_in: self.cfg.access_ttl.as_secs().max(1),
        }
    }

    fn verify(&self, token: &str, typ: &str) -> Option<Claims> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0; // short test lifetimes must really expire
        let key = DecodingKey::from_secret(self.cfg.jwt_secret.as_bytes());
        decode::<Claims>(token, &key, &v)
            .ok()
            .map(|d| d.claims)
            .filter(|c| c.typ == typ)
    }

    fn identify(&self, token: &str) -> Option<Identity> {
        if let Some(c) = self.verify(token, "access") {
            return Some(Identity {
                limit_key: format!("user:{}", c.sub),
                user_id: c.sub,
                tenant_id: c.tenant_id,
            });
        }
        // `sk-shannon-X` is the same key as `sk_X`.
        let key = match token.strip_prefix("sk-shannon-") {
            Some(rest) => format!("sk_{rest}"),
            None => token.to_string(),
        };
        let index = self.cfg.api_keys.iter().position(|k| *k == key)?;
        Some(Identity {
            user_id: user_of_key(index),
            tenant_id: DEV_TENANT.into(),
            limit_key: format!("key:{key}"),
        })
    }
}

fn query_token(uri: &axum::http::Uri) -> Option<String> {
    let q = axum::extract::Query::<std::collections::HashMap<String, String>>::try_from_uri(uri)
        .ok()?
        .0;
    let find = |name: &str| q.get(name).filter(|v| !v.is_empty()).cloned();
    find("api_key").or_else(|| find("token"))
}

/// Auth middleware (`MW/auth.go`): header sources first, query tokens only for the stream routes.
pub async fn authenticate(
    State(cloud): State<Arc<Cloud>>,
    mut req: Request,
    next: Next,
) -> Response {
    if !cloud.cfg.auth_enabled {
        req.extensions_mut().insert(Identity {
            user_id: DEV_USER.into(),
            tenant_id: DEV_TENANT.into(),
            limit_key: format!("user:{DEV_USER}"),
        });
        return next.run(req).await;
    }
    let headers = req.headers();
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let bearer = header("authorization").and_then(|v| {
        let (scheme, rest) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim().to_string())
    });
    let on_stream = req.uri().path().starts_with("/api/v1/stream/");
    let token = header("x-api-key")
        .map(str::to_string)
        .or(bearer)
        .or_else(|| {
            if on_stream {
                query_token(req.uri())
            } else {
                None
            }
        });
    let Some(token) = token else {
        return unauthorized("Authentication required");
    };
    let Some(identity) = cloud.identify(&token) else {
        return unauthorized("Invalid token");
    };
    req.extensions_mut().insert(identity);
    next.run(req).await
}

#[derive(Deserialize)]
pub struct RefreshBody {
    #[serde(default)]
    refresh_token: String,
}

/// `POST /api/v1/auth/refresh {refresh_token}` → a new pair (auth handlers use `{error, message}`).
pub async fn refresh(State(cloud): State<Arc<Cloud>>, body: Option<Json<RefreshBody>>) -> Response {
    let token = body.map(|b| b.0.refresh_token).unwrap_or_default();
    if token.is_empty() {
        let body = json!({"error": "invalid_request", "message": "refresh_token is required"});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    match cloud.verify(&token, "refresh") {
        Some(c) => Json(json!({
            "access_token": cloud.sign(&c.sub, "access", cloud.cfg.access_ttl),
            "refresh_token": cloud.sign(&c.sub, "refresh", cloud.cfg.refresh_ttl),
            "expires_in": cloud.cfg.access_ttl.as_secs().max(1),
        }))
        .into_response(),
        None => {
            let body = json!({"error": "invalid_refresh_token", "message": "Invalid or expired refresh token"});
            (StatusCode::UNAUTHORIZED, Json(body)).into_response()
        }
    }
}

/// An extractor on the limited routes only: a fixed window per key, 429 with `Retry-After`.
pub struct Limited;

impl FromRequestParts<Arc<Cloud>> for Limited {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, cloud: &Arc<Cloud>) -> Result<Self, Response> {
        let Some(id) = parts.extensions.get::<Identity>() else {
            return Err(error(StatusCode::UNAUTHORIZED, "Unauthorized"));
        };
        let window = cloud.cfg.rate_window.as_secs().max(1);
        let now = unix_now();
        let start = now - now % window;
        let mut st = cloud.state.lock().unwrap();
        let slot = st.rate.entry(id.limit_key.clone()).or_insert((start, 0));
        if slot.0 != start {
            *slot = (start, 0);
        }
        slot.1 += 1;
        if slot.1 <= cloud.cfg.rate_limit {
            return Ok(Limited);
        }
        st.rate_refused += 1;
        let retry = (start + window - now).max(1);
        let body = json!({
            "error": "Rate limit exceeded",
            "message": format!("Too many requests. minute limit exceeded. Try again in {retry} seconds."),
            "window": "minute",
        });
        let mut r = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
        let h = r.headers_mut();
        h.insert("Retry-After", retry.into());
        h.insert("X-RateLimit-Limit-Minute", cloud.cfg.rate_limit.into());
        h.insert("X-RateLimit-Remaining-Minute", 0.into());
        h.insert("X-RateLimit-Reset", (start + window).into());
        Err(r)
    }
}

/// A cached 2xx response.
#[derive(Clone)]
pub struct Cached {
    status: StatusCode,
    headers: HeaderMap,
    body: axum::body::Bytes,
}

/// The routes the gateway wraps with the idempotency middleware (all POST).
fn idempotent_route(path: &str) -> bool {
    let p: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    matches!(
        p.as_slice(),
        ["", "api", "v1", "tasks"]
            | ["", "api", "v1", "tasks", "stream"]
            | ["", "api", "v1", "tasks", _, "cancel" | "pause" | "resume"]
            | ["", "api", "v1", "approvals", "decision"]
            | ["", "api", "v1", "schedules"]
            | ["", "api", "v1", "schedules", _, "pause" | "resume"]
            | ["", "api", "v1", "agents", _]
    )
}

/// `Idempotency-Key`: replays a cached 2xx with `X-Idempotency-Cached: true`; caches only 2xx; and
/// has **no in-flight lock**, so two concurrent first attempts both run.
pub async fn idempotency(State(cloud): State<Arc<Cloud>>, req: Request, next: Next) -> Response {
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (Some(key), true) = (
        key,
        req.method() == "POST" && idempotent_route(req.uri().path()),
    ) else {
        return next.run(req).await;
    };
    let user = req
        .extensions()
        .get::<Identity>()
        .map(|i| i.user_id.clone())
        .unwrap_or_default();
    let path = req.uri().path().to_string();
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, 40 << 20).await else {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
    };
    let digest =
        Sha256::digest([key.as_bytes(), user.as_bytes(), path.as_bytes(), &bytes[..]].concat());
    let cache_key = format!("idempotency:{}", &hex::encode(digest)[..16]);
    let hit = cloud
        .state
        .lock()
        .unwrap()
        .idempotency
        .get(&cache_key)
        .cloned();
    if let Some(c) = hit {
        let mut r = Response::new(Body::from(c.body));
        *r.status_mut() = c.status;
        *r.headers_mut() = c.headers;
        r.headers_mut()
            .insert("X-Idempotency-Cached", HeaderValue::from_static("true"));
        if let Ok(v) = HeaderValue::from_str(&key) {
            r.headers_mut().insert("X-Idempotency-Key", v);
        }
        return r;
    }
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if !resp.status().is_success() {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(body) = to_bytes(body, 40 << 20).await else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "response too large");
    };
    let cached = Cached {
        status: parts.status,
        headers: parts.headers.clone(),
        body: body.clone(),
    };
    cloud
        .state
        .lock()
        .unwrap()
        .idempotency
        .insert(cache_key, cached);
    Response::from_parts(parts, Body::from(body))
}
