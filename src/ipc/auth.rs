//! Users and credentials: register, log in, refresh, the signed-in user, and Shannon API keys.

use tauri::State;

use super::Res;
use crate::core::auth::api_keys::{ApiKeyCreated, ApiKeyList, CreateApiKeyRequest};
use crate::core::auth::{AuthResponse, LoginRequest, RegisterRequest, TokenPair, UserProfile};
use crate::core::crypto::SecretString;
use crate::state::Shannon;

/// Creates a user and signs the webview in as it.
#[tauri::command]
#[specta::specta]
pub async fn register(state: State<'_, Shannon>, request: RegisterRequest) -> Res<AuthResponse> {
    let res = state.core().await?.register(request).await?;
    state.set_signed_in(Some(SecretString::new(res.access_token.clone())));
    Ok(res)
}

/// Checks a password and signs the webview in.
#[tauri::command]
#[specta::specta]
pub async fn login(state: State<'_, Shannon>, request: LoginRequest) -> Res<AuthResponse> {
    let res = state.core().await?.login(request).await?;
    state.set_signed_in(Some(SecretString::new(res.access_token.clone())));
    Ok(res)
}

/// Rotates a refresh token; the webview then acts with the new access token.
#[tauri::command]
#[specta::specta]
pub async fn refresh_token(
    state: State<'_, Shannon>,
    refresh_token: SecretString,
) -> Res<TokenPair> {
    let pair = state.core().await?.refresh_token(&refresh_token).await?;
    state.set_signed_in(Some(SecretString::new(pair.access_token.clone())));
    Ok(pair)
}

#[tauri::command]
#[specta::specta]
pub async fn me(state: State<'_, Shannon>) -> Res<UserProfile> {
    let (core, caller) = state.resolve().await?;
    core.me(&caller).await
}

/// Acts as the owner of `token` (JWT access token or Shannon API key) from now on; it is checked first.
#[tauri::command]
#[specta::specta]
pub async fn sign_in(state: State<'_, Shannon>, token: SecretString) -> Res<UserProfile> {
    let core = state.core().await?;
    let caller = core.authenticate(token.expose()).await?;
    let profile = core.me(&caller).await?;
    state.set_signed_in(Some(token));
    Ok(profile)
}

/// Back to the local embedded user.
#[tauri::command]
#[specta::specta]
pub async fn sign_out(state: State<'_, Shannon>) -> Res<()> {
    state.set_signed_in(None);
    Ok(())
}

/// Creates a Shannon API key for HTTP clients; the key is in this response only
/// (opt-in permission `shannon:allow-manage-api-keys`).
#[tauri::command]
#[specta::specta]
pub async fn create_api_key(
    state: State<'_, Shannon>,
    request: CreateApiKeyRequest,
) -> Res<ApiKeyCreated> {
    let (core, caller) = state.resolve().await?;
    core.create_api_key(&caller, request).await
}

#[tauri::command]
#[specta::specta]
pub async fn list_api_keys(state: State<'_, Shannon>) -> Res<ApiKeyList> {
    let (core, caller) = state.resolve().await?;
    core.list_api_keys(&caller).await
}

/// (opt-in permission `shannon:allow-manage-api-keys`)
#[tauri::command]
#[specta::specta]
pub async fn revoke_api_key(state: State<'_, Shannon>, id: String) -> Res<()> {
    let (core, caller) = state.resolve().await?;
    core.revoke_api_key(&caller, &id).await
}
