//! Extractors: JSON bodies answered with the cloud's 400, path and query parameters whose
//! rejections are JSON errors too, and the caller the auth layer found. No axum rejection (plain
//! text) reaches a client from here.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::core::auth::Caller;

/// A JSON body of type `T`. Any content type is read, and an empty or blank body counts as `{}`,
/// as the cloud does; a body that is not a `T` is a 400 `Invalid request body: …`.
pub struct ApiJson<T>(pub T);

/// Why a body was refused.
pub enum BodyRejection {
    /// It could not be read (over the size limit, or cut off): axum's own answer.
    Unreadable(BytesRejection),
    /// It is not the JSON the route takes.
    Invalid(serde_json::Error),
}

impl IntoResponse for BodyRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Unreadable(r) => unreadable(&r).into_response(),
            Self::Invalid(e) => invalid_body(&e).into_response(),
        }
    }
}

/// A body that could not be read: over [`super::MAX_BODY_BYTES`] (sent without a length, so only
/// reading found out) is the same 413 as an announced one; anything else (cut off) is a 400.
pub fn unreadable(r: &BytesRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::plain(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
    }
    ApiError::coded(
        r.status(),
        "invalid_body",
        &format!("Could not read the request body: {}", r.body_text()),
    )
}

fn invalid_body(e: &serde_json::Error) -> ApiError {
    ApiError::coded(
        StatusCode::BAD_REQUEST,
        "invalid_body",
        &format!("Invalid request body: {e}"),
    )
}

/// Reads an already-parsed body as a `T`, with the same 400 as [`ApiJson`] (for bodies that are
/// inspected before their type is known).
pub fn from_value<T: DeserializeOwned>(v: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| invalid_body(&e))
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    let text = if bytes.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        bytes
    };
    serde_json::from_slice(text)
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = BodyRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(BodyRejection::Unreadable)?;
        parse(&bytes).map(ApiJson).map_err(BodyRejection::Invalid)
    }
}

/// A JSON body of type `T`, or `T::default()` when it is empty or not a `T`: pause, resume and
/// cancel ignore such bodies, as the cloud does. A body that cannot be read is still refused.
pub struct JsonOrDefault<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for JsonOrDefault<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| unreadable(&r))?;
        Ok(JsonOrDefault(parse(&bytes).unwrap_or_default()))
    }
}

/// Path parameters; one that cannot be read (not UTF-8 once percent-decoded, e.g. `%FF%FE`) is a
/// 400 `invalid_path`.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(r) => Err(ApiError::coded(r.status(), "invalid_path", &r.body_text())),
        }
    }
}

/// A query string; one that cannot be read as a `T` is a 400 `invalid_query`.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(r) => Err(ApiError::coded(r.status(), "invalid_query", &r.body_text())),
        }
    }
}

/// The authenticated caller, put in the request by the auth layer. Public routes do not take one;
/// a route that does but was mounted without the auth layer answers 401 rather than run as nobody.
pub struct Authed(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .map(Authed)
            .ok_or_else(|| ApiError::unauthorized("Authentication required"))
    }
}
