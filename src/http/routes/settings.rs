//! Embedded-only settings and provider keys, in the shapes the desktop frontend reads.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;

use super::App;
use crate::core::crypto::SecretString;
use crate::core::settings::ProviderStatus;
use crate::http::ApiError;
use crate::http::dto::{ProviderKeySaved, SetProviderKeyRequest, SetSettingRequest, UserSetting};
use crate::http::extract::{ApiJson, ApiPath, Authed};

/// A bare array, as the desktop frontend reads it.
pub(super) async fn list(
    State(app): App,
    Authed(who): Authed,
) -> Result<Json<Vec<UserSetting>>, ApiError> {
    let settings = app.core.list_settings(&who).await?;
    Ok(Json(
        settings
            .into_iter()
            .map(|s| UserSetting::new(&who.user_id, s))
            .collect(),
    ))
}

pub(super) async fn get(
    State(app): App,
    Authed(who): Authed,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<UserSetting>, ApiError> {
    let setting = app.core.get_setting(&who, &key).await?;
    Ok(Json(UserSetting::new(&who.user_id, setting)))
}

/// Body `{"value": <any JSON>}` (or the bare JSON value).
pub(super) async fn set(
    State(app): App,
    Authed(who): Authed,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<UserSetting>, ApiError> {
    let value = match body {
        Value::Object(mut o) if o.len() == 1 && o.contains_key("value") => {
            o.remove("value").unwrap_or(Value::Null)
        }
        other => other,
    };
    let saved = app.core.set_setting(&who, &key, &value.to_string()).await?;
    Ok(Json(UserSetting::new(&who.user_id, saved)))
}

/// The desktop frontend's `POST /api/v1/settings {key, value, setting_type?, encrypted?}`.
pub(super) async fn set_typed(
    State(app): App,
    Authed(who): Authed,
    ApiJson(req): ApiJson<SetSettingRequest>,
) -> Result<Json<UserSetting>, ApiError> {
    if req.encrypted {
        return Err(ApiError::plain(
            StatusCode::BAD_REQUEST,
            "encrypted settings are not supported: store provider keys with POST /api/v1/settings/api-keys/{provider}",
        ));
    }
    let value = req
        .json_value()
        .map_err(|e| ApiError::plain(StatusCode::BAD_REQUEST, &e))?;
    let saved = app
        .core
        .set_setting(&who, &req.key, &value.to_string())
        .await?;
    Ok(Json(UserSetting::new(&who.user_id, saved)))
}

pub(super) async fn delete(
    State(app): App,
    Authed(who): Authed,
    ApiPath(key): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.core.delete_setting(&who, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every provider with its key (masked) and status; a bare array, as the desktop frontend reads it.
pub(super) async fn list_provider_keys(
    State(app): App,
    Authed(who): Authed,
) -> Result<Json<Vec<ProviderStatus>>, ApiError> {
    Ok(Json(app.core.provider_status(&who).await?))
}

pub(super) async fn set_provider_key(
    State(app): App,
    Authed(who): Authed,
    ApiPath(provider): ApiPath<String>,
    ApiJson(req): ApiJson<SetProviderKeyRequest>,
) -> Result<Json<ProviderKeySaved>, ApiError> {
    let info = app
        .core
        .set_provider_key(&who, &provider, &SecretString::new(req.api_key))
        .await?;
    Ok(Json(ProviderKeySaved {
        provider: info.provider,
        masked_key: info.masked_key,
        message: "API key saved".into(),
    }))
}

pub(super) async fn delete_provider_key(
    State(app): App,
    Authed(who): Authed,
    ApiPath(provider): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.core.delete_provider_key(&who, &provider).await?;
    Ok(StatusCode::NO_CONTENT)
}
