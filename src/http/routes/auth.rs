//! Local users and API keys. These routes answer errors in the auth shape
//! (`{"error": "<code>", "message": …}`), hence `ApiError::auth`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::App;
use crate::core::ShannonError;
use crate::core::auth::api_keys::{ApiKeyCreated, ApiKeyList, CreateApiKeyRequest};
use crate::core::auth::{AuthResponse, LoginRequest, RegisterRequest, TokenPair, UserProfile};
use crate::core::crypto::SecretString;
use crate::http::ApiError;
use crate::http::dto::{Ack, RefreshRequest, RefreshedApiKey};
use crate::http::extract::{ApiJson, ApiPath, Authed};

pub(super) async fn register(
    State(app): App,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<AuthResponse>), ApiError> {
    let registered = app.core.register(req).await.map_err(ApiError::auth)?;
    Ok((StatusCode::CREATED, Json(registered)))
}

pub(super) async fn login(
    State(app): App,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<AuthResponse>, ApiError> {
    Ok(Json(app.core.login(req).await.map_err(ApiError::auth)?))
}

pub(super) async fn refresh(
    State(app): App,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    if req.refresh_token.is_empty() {
        return Err(ApiError::auth(ShannonError::invalid(
            "refresh_token is required",
        )));
    }
    let pair = app
        .core
        .refresh_token(&SecretString::new(req.refresh_token))
        .await
        .map_err(ApiError::auth)?;
    Ok(Json(pair))
}

pub(super) async fn me(
    State(app): App,
    Authed(who): Authed,
) -> Result<Json<UserProfile>, ApiError> {
    Ok(Json(app.core.me(&who).await.map_err(ApiError::auth)?))
}

/// Replaces the API key the caller authenticated with (the launch token or a JWT has none).
pub(super) async fn refresh_key(
    State(app): App,
    Authed(who): Authed,
) -> Result<Json<RefreshedApiKey>, ApiError> {
    let created = app.core.refresh_api_key(&who).await.map_err(|e| match e {
        ShannonError::InvalidRequest(_) => ApiError::auth_code(
            StatusCode::BAD_REQUEST,
            "api_key_required",
            "authenticate with the API key to refresh",
        ),
        other => ApiError::auth(other),
    })?;
    Ok(Json(RefreshedApiKey {
        api_key: created.api_key,
        previous_key_revoked: true,
    }))
}

pub(super) async fn list_keys(
    State(app): App,
    Authed(who): Authed,
) -> Result<Json<ApiKeyList>, ApiError> {
    Ok(Json(
        app.core.list_api_keys(&who).await.map_err(ApiError::auth)?,
    ))
}

pub(super) async fn create_key(
    State(app): App,
    Authed(who): Authed,
    ApiJson(req): ApiJson<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), ApiError> {
    let created = app
        .core
        .create_api_key(&who, req)
        .await
        .map_err(ApiError::auth)?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub(super) async fn revoke_key(
    State(app): App,
    Authed(who): Authed,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Ack>, ApiError> {
    app.core
        .revoke_api_key(&who, &id)
        .await
        .map_err(ApiError::auth)?;
    Ok(Json(Ack {
        success: true,
        message: "API key revoked".into(),
    }))
}
