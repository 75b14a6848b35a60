//! Shannon API keys for HTTP clients: `sk_` + 64 hex characters, shown once, stored as SHA-256.

use chrono::Utc;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::core::auth::{AuthMethod, Caller};
use crate::core::error::{Result, ShannonError};
pub use crate::core::store::api_keys::ApiKeyInfo;
use crate::core::store::{self, api_keys::NewApiKey};
use crate::core::{Core, time};

/// Length of the stored lookup prefix (`sk_` + 5 hex), as the cloud.
pub const KEY_PREFIX_LEN: usize = 8;

/// How stale an API key's `last_used_at` may get: a client polling many times a second costs one
/// write a minute, not one per request.
const LAST_USED_EVERY: chrono::Duration = chrono::Duration::seconds(60);

#[derive(Debug, Clone, Deserialize, specta::Type)]
pub struct CreateApiKeyRequest {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// The one response that carries the key itself.
#[derive(Clone, Serialize, specta::Type)]
pub struct ApiKeyCreated {
    pub id: String,
    pub name: String,
    pub api_key: String,
    pub key_prefix: String,
    pub created_at: String,
    pub warning: String,
}

impl std::fmt::Debug for ApiKeyCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyCreated")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("api_key", &"***")
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct ApiKeyList {
    pub keys: Vec<ApiKeyInfo>,
    pub total: u32,
}

fn hash_key(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// Accepts the cloud's alternate spelling `sk-shannon-…`.
fn normalize(key: &str) -> String {
    match key.strip_prefix("sk-shannon-") {
        Some(rest) => format!("sk_{rest}"),
        None => key.to_string(),
    }
}

fn is_well_formed(key: &str) -> bool {
    key.len() == 67 && key.starts_with("sk_") && key[3..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl Core {
    /// Creates an API key for the caller: name 1..=100 characters, description cut to 500. The
    /// answer is the only place the key appears; only its SHA-256 is stored.
    pub async fn create_api_key(
        &self,
        caller: &Caller,
        req: CreateApiKeyRequest,
    ) -> Result<ApiKeyCreated> {
        let name = req.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ShannonError::invalid("name must be 1..100 characters"));
        }
        let description = req
            .description
            .map(|d| d.trim().chars().take(500).collect::<String>())
            .filter(|d| !d.is_empty());
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let key = format!("sk_{}", hex::encode(raw));
        let created = ApiKeyCreated {
            id: uuid::Uuid::new_v4().to_string(),
            name,
            key_prefix: key[..KEY_PREFIX_LEN].to_string(),
            api_key: key,
            created_at: time::now(),
            warning: "Store this key now: it is shown only once.".into(),
        };
        let row = (
            created.id.clone(),
            caller.user_id.clone(),
            created.name.clone(),
            description,
            created.key_prefix.clone(),
            hash_key(&created.api_key),
            created.created_at.clone(),
        );
        self.store()
            .write(move |tx| {
                store::api_keys::insert(
                    tx,
                    &NewApiKey {
                        id: &row.0,
                        user_id: &row.1,
                        name: &row.2,
                        description: row.3.as_deref(),
                        key_prefix: &row.4,
                        key_hash: &row.5,
                        created_at: &row.6,
                    },
                )
            })
            .await?;
        tracing::info!(key_id = %created.id, "created a Shannon API key");
        Ok(created)
    }

    /// The caller's API keys, newest first, revoked ones included (prefix and metadata, never the
    /// key).
    pub async fn list_api_keys(&self, caller: &Caller) -> Result<ApiKeyList> {
        let user = caller.user_id.clone();
        let keys = self
            .store()
            .read(move |c| store::api_keys::list_for_user(c, &user))
            .await?;
        Ok(ApiKeyList {
            total: keys.len() as u32,
            keys,
        })
    }

    /// Revokes a key; a missing or already revoked key is `not_found`.
    pub async fn revoke_api_key(&self, caller: &Caller, id: &str) -> Result<()> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(ShannonError::invalid("API key id must be a UUID"));
        }
        let (user, id) = (caller.user_id.clone(), id.to_string());
        let n = self
            .store()
            .write(move |tx| store::api_keys::revoke(tx, &id, &user, &time::now()))
            .await?;
        if n == 0 {
            return Err(ShannonError::NotFound("API key not found".into()));
        }
        Ok(())
    }

    /// Replaces the API key the caller authenticated with: a new key with the same name and
    /// description, the old one revoked, in one transaction. Needs API-key authentication.
    pub async fn refresh_api_key(&self, caller: &Caller) -> Result<ApiKeyCreated> {
        let AuthMethod::ApiKey { key_id } = &caller.method else {
            return Err(ShannonError::invalid(
                "api_key_required: authenticate with the API key to refresh",
            ));
        };
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let key = format!("sk_{}", hex::encode(raw));
        let (old, user, new_id) = (
            key_id.clone(),
            caller.user_id.clone(),
            uuid::Uuid::new_v4().to_string(),
        );
        let (prefix, digest, now) = (
            key[..KEY_PREFIX_LEN].to_string(),
            hash_key(&key),
            time::now(),
        );
        let (id, now2) = (new_id.clone(), now.clone());
        let name = self
            .store()
            .write(move |tx| {
                let n = store::api_keys::revoke(tx, &old, &user, &now)?;
                if n == 0 {
                    return Err(ShannonError::InvalidToken);
                }
                store::api_keys::insert_replacement(tx, &old, &id, &prefix, &digest, &now)?;
                store::api_keys::name(tx, &id)
            })
            .await?;
        tracing::info!(key_id = %new_id, "refreshed a Shannon API key");
        Ok(ApiKeyCreated {
            id: new_id,
            name,
            key_prefix: key[..KEY_PREFIX_LEN].to_string(),
            api_key: key,
            created_at: now2,
            warning: "Store this key now: it is shown only once. The previous key is revoked."
                .into(),
        })
    }

    /// Resolves an API key to its owner from what is stored (a read: a key is honoured while the
    /// disk is full or the writer is busy), then records its use, at most once per
    /// [`LAST_USED_EVERY`] and only as far as storage allows: a use that cannot be recorded never
    /// refuses the key.
    pub(crate) async fn authenticate_api_key(&self, token: &str) -> Result<Caller> {
        let key = normalize(token);
        if !is_well_formed(&key) {
            return Err(ShannonError::InvalidToken);
        }
        let digest = hash_key(&key);
        let prefix = key[..KEY_PREFIX_LEN].to_string();
        let found = self
            .store()
            .read(move |c| {
                let candidates = store::api_keys::active_candidates_by_prefix(c, &prefix)?;
                candidates
                    .into_iter()
                    .find(|c| bool::from(c.key_hash.ct_eq(&digest)))
                    .ok_or(ShannonError::InvalidToken)
            })
            .await?;
        let now = Utc::now();
        let due = time::format(now - LAST_USED_EVERY);
        // Timestamps sort lexically (see `time`).
        if found
            .last_used_at
            .as_deref()
            .is_none_or(|at| at < due.as_str())
        {
            let (id, at) = (found.id.clone(), time::format(now));
            let touched = self
                .store()
                .write(move |tx| store::api_keys::touch_last_used(tx, &id, &at))
                .await;
            if let Err(e) = touched {
                tracing::debug!(key_id = %found.id, code = e.code(), "could not record an API key's use");
            }
        }
        Ok(Caller {
            user_id: found.user_id,
            tenant_id: found.tenant_id,
            method: AuthMethod::ApiKey { key_id: found.id },
        })
    }
}
