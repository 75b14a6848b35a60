//! Extractors: JSON bodies answered with the contract's 400, and the caller the auth layer found.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
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
            Self::Unreadable(r) => r.into_response(),
            Self::Invalid(e) => invalid_body(&e).into_response(),
        }
    }
}

fn invalid_body(e: &serde_json::Error) -> ApiError {
    ApiError::plain(
        StatusCode::BAD_REQUEST,
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
    type Rejection = BytesRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await?;
        Ok(JsonOrDefault(parse(&bytes).unwrap_or_default()))
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
