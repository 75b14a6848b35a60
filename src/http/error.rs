//! Core errors as the cloud's HTTP status codes and bodies (`{"error": "<message>"}`; auth routes
//! use `{"error": "<code>", "message": "<text>"}`). Every body also carries a stable machine `code`
//! (the core error's, else one named after the status), so a client can match errors without
//! parsing messages.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::core::ShannonError;

/// An HTTP error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: serde_json::Value,
    www_authenticate: bool,
}

/// The code of an error that has no more precise one, named after its status. These names are part
/// of the API: clients match on them.
pub fn status_code_name(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        406 => "not_acceptable",
        408 => "request_timeout",
        409 => "conflict",
        411 => "length_required",
        413 => "payload_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        422 => "unprocessable_entity",
        426 => "upgrade_required",
        429 => "rate_limit_exceeded",
        431 => "headers_too_large",
        500 => "internal_error",
        501 => "not_implemented",
        502 => "bad_gateway",
        503 => "service_unavailable",
        504 => "gateway_timeout",
        _ if status.is_client_error() => "client_error",
        _ => "server_error",
    }
}

impl ApiError {
    /// `{"error": message, "code": …}` with the code named after the status.
    pub fn plain(status: StatusCode, message: &str) -> Self {
        Self::coded(status, status_code_name(status), message)
    }

    /// `{"error": message, "code": code}`.
    pub fn coded(status: StatusCode, code: &str, message: &str) -> Self {
        Self {
            status,
            body: json!({"error": message, "code": code}),
            www_authenticate: status == StatusCode::UNAUTHORIZED,
        }
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::plain(StatusCode::UNAUTHORIZED, message)
    }

    /// An auth-shaped error with an explicit code (in `error`, as the cloud, and in `code`).
    pub fn auth_code(status: StatusCode, code: &str, message: &str) -> Self {
        Self {
            status,
            body: json!({"error": code, "message": message, "code": code}),
            www_authenticate: status == StatusCode::UNAUTHORIZED,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The human text (`message` in the auth shape, else `error`).
    pub fn message(&self) -> String {
        self.body
            .get("message")
            .or_else(|| self.body.get("error"))
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_string()
    }

    /// The auth handlers' shape: a machine code and a message.
    pub fn auth(e: ShannonError) -> Self {
        let status = status_of(&e);
        let code = match &e {
            ShannonError::InvalidRequest(_) | ShannonError::InvalidJson(_) => "invalid_request",
            ShannonError::Conflict(_) => "email_exists",
            ShannonError::InvalidCredentials => "invalid_credentials",
            ShannonError::InvalidRefreshToken => "invalid_refresh_token",
            ShannonError::InvalidToken | ShannonError::TokenExpired => "invalid_token",
            ShannonError::NotFound(_) => "not_found",
            other => other.code(),
        };
        Self::auth_code(status, code, &message_of(&e))
    }
}

fn status_of(e: &ShannonError) -> StatusCode {
    match e {
        ShannonError::InvalidRequest(_)
        | ShannonError::InvalidJson(_)
        | ShannonError::UnknownProvider(_)
        | ShannonError::ProviderNotReady(_) => StatusCode::BAD_REQUEST,
        ShannonError::NotFound(_) => StatusCode::NOT_FOUND,
        ShannonError::Conflict(_) | ShannonError::KeyEndpointChanged(_) => StatusCode::CONFLICT,
        ShannonError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        ShannonError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        ShannonError::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
        ShannonError::StorageUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        ShannonError::InvalidCredentials
        | ShannonError::InvalidToken
        | ShannonError::TokenExpired
        | ShannonError::InvalidRefreshToken => StatusCode::UNAUTHORIZED,
        ShannonError::PermissionDenied(_) => StatusCode::FORBIDDEN,
        ShannonError::SessionOnOtherBackend(_) => StatusCode::CONFLICT,
        ShannonError::UnsupportedByRemote(_) => StatusCode::BAD_REQUEST,
        ShannonError::RemoteUnreachable(_) | ShannonError::RemoteAuth(_) => StatusCode::BAD_GATEWAY,
        // The cloud answers a refused pause/resume with 502 and the orchestrator's message.
        ShannonError::InvalidState(_) => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The human message without the variant's prefix ("Query is required", "Task not found").
fn message_of(e: &ShannonError) -> String {
    match e {
        ShannonError::InvalidRequest(m)
        | ShannonError::NotFound(m)
        | ShannonError::InvalidState(m)
        | ShannonError::Conflict(m) => m.clone(),
        other => other.to_string(),
    }
}

impl From<ShannonError> for ApiError {
    fn from(e: ShannonError) -> Self {
        Self::coded(status_of(&e), e.code(), &message_of(&e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.body)).into_response();
        if self.www_authenticate {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"Shannon API\""),
            );
        }
        // Backpressure and storage outages are temporary: tell clients when to try again.
        if matches!(
            self.status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}
