//! Core errors as the contract's HTTP status codes and bodies (`{"error": "<message>"}`; auth routes
//! use `{"error": "<code>", "message": "<text>"}`).

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

impl ApiError {
    pub fn plain(status: StatusCode, message: &str) -> Self {
        Self {
            status,
            body: json!({"error": message}),
            www_authenticate: false,
        }
    }

    pub fn unauthorized(message: &str) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            body: json!({"error": message}),
            www_authenticate: true,
        }
    }

    /// An auth-shaped error with an explicit code.
    pub fn auth_code(status: StatusCode, code: &str, message: &str) -> Self {
        Self {
            status,
            body: json!({"error": code, "message": message}),
            www_authenticate: status == StatusCode::UNAUTHORIZED,
        }
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
        Self {
            status,
            body: json!({"error": code, "message": message_of(&e)}),
            www_authenticate: status == StatusCode::UNAUTHORIZED,
        }
    }
}

fn status_of(e: &ShannonError) -> StatusCode {
    match e {
        ShannonError::InvalidRequest(_)
        | ShannonError::InvalidJson(_)
        | ShannonError::UnknownProvider(_)
        | ShannonError::ProviderNotReady(_) => StatusCode::BAD_REQUEST,
        ShannonError::NotFound(_) => StatusCode::NOT_FOUND,
        ShannonError::Conflict(_) => StatusCode::CONFLICT,
        ShannonError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        ShannonError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        ShannonError::InvalidCredentials
        | ShannonError::InvalidToken
        | ShannonError::TokenExpired
        | ShannonError::InvalidRefreshToken => StatusCode::UNAUTHORIZED,
        ShannonError::PermissionDenied(_) => StatusCode::FORBIDDEN,
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
        let status = status_of(&e);
        let mut body = json!({"error": message_of(&e)});
        if matches!(e, ShannonError::ProviderNotReady(_)) {
            body["code"] = json!(e.code());
        }
        Self {
            status,
            body,
            www_authenticate: status == StatusCode::UNAUTHORIZED,
        }
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
        resp
    }
}
