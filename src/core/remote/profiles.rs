//! Profiles: the Shannon cloud deployments an app may run sessions on, and their credentials.
//!
//! A profile holds no secret. Its credential is sealed under the master key in `secrets` as
//! `remote/<profile id>/<origin>`: the name is the associated data, so the credential opens only
//! for that profile and that endpoint (a profile moved to another host needs its credential again),
//! and master-key rotation re-seals it with every other secret.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{ConnectionState, LOCAL};
use crate::core::Core;
use crate::core::crypto::{SecretString, secret_aad};
use crate::core::error::{Result, ShannonError};
use crate::core::settings::providers::is_loopback;
use crate::core::store::{self, remote::ProfileRow};
use crate::core::time;

/// How the plugin authenticates to a cloud (as the cloud takes them: `X-API-Key`, or a bearer JWT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum RemoteAuthKind {
    /// An API key (`sk_…`), sent as `X-API-Key`.
    ApiKey,
    /// A JWT access token sent as `Authorization: Bearer`, refreshed with its refresh token.
    Bearer,
    /// No credential (a deployment with auth turned off: everyone on it shares one history).
    None,
}

impl RemoteAuthKind {
    fn db(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::Bearer => "bearer",
            Self::None => "none",
        }
    }

    fn from_db(s: &str) -> Self {
        match s {
            "api_key" => Self::ApiKey,
            "bearer" => Self::Bearer,
            _ => Self::None,
        }
    }
}

/// A profile as the doors show it (never with its credential).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct RemoteProfile {
    /// Stable id, used as a submission's `target`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The gateway's base URL, e.g. `https://shannon.example.com`.
    pub base_url: String,
    /// How the plugin authenticates.
    pub auth: RemoteAuthKind,
    /// Whether a credential for this profile's current endpoint is stored.
    pub has_credential: bool,
    /// A CA certificate (PEM) the server's certificate must chain to, instead of the system's.
    pub ca_cert_pem: Option<String>,
    /// Whether plain `http` is allowed to a host other than loopback.
    pub allow_insecure_http: bool,
    /// Whether a new session's first task runs locally when the cloud cannot be reached.
    pub fallback_local: bool,
    /// TCP and TLS connect timeout.
    pub connect_timeout_ms: u32,
    /// Timeout of one request (streams: of their first byte).
    pub request_timeout_ms: u32,
    /// The connection state last seen.
    pub state: ConnectionState,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// A profile to create (`id` absent or new) or replace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(default)]
pub struct SaveRemoteProfile {
    /// The profile to replace; absent: a new id is chosen. Letters, digits, `-` and `_`.
    pub id: Option<String>,
    pub name: String,
    pub base_url: String,
    pub auth: Option<RemoteAuthKind>,
    pub ca_cert_pem: Option<String>,
    pub allow_insecure_http: bool,
    pub fallback_local: bool,
    /// Default 5 000 (1..=60 000).
    pub connect_timeout_ms: Option<u32>,
    /// Default 30 000 (1..=600 000).
    pub request_timeout_ms: Option<u32>,
}

/// A credential to store for a profile. Never returned by any command.
#[derive(Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RemoteCredential {
    /// A Shannon API key.
    ApiKey {
        /// `sk_…` (or `sk-shannon-…`).
        api_key: String,
    },
    /// A JWT pair from the cloud's login or refresh.
    Bearer {
        access_token: String,
        /// Used to get a new access token when the old one expires (the cloud's last 30 days).
        refresh_token: Option<String>,
    },
}

impl std::fmt::Debug for RemoteCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ApiKey { .. } => f.write_str("ApiKey(<redacted>)"),
            Self::Bearer { .. } => f.write_str("Bearer(<redacted>)"),
        }
    }
}

pub(crate) const DEFAULT_CONNECT_MS: u32 = 5_000;
pub(crate) const DEFAULT_REQUEST_MS: u32 = 30_000;
const MAX_CA_PEM: usize = 64 * 1024;
const MAX_SECRET: usize = 16 * 1024;

/// The secrets-table name of a profile's credential for an endpoint.
pub(crate) fn credential_name(profile_id: &str, base_url: &str) -> String {
    format!(
        "remote/{profile_id}/{}",
        crate::core::settings::providers::origin_of(Some(base_url))
    )
}

/// The host a message names ("Shannon cloud (team.example.com)").
pub(crate) fn host_of(base_url: &str) -> String {
    reqwest::Url::parse(base_url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| u.port().map_or(h.to_string(), |p| format!("{h}:{p}")))
        })
        .unwrap_or_else(|| "an invalid URL".into())
}

/// Parses a PEM CA certificate (one or more).
pub(crate) fn parse_ca(pem: &str) -> Result<Vec<reqwest::Certificate>> {
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(ShannonError::invalid(
            "ca_cert_pem holds no PEM certificate",
        ));
    }
    reqwest::Certificate::from_pem_bundle(pem.as_bytes())
        .map_err(|_| ShannonError::invalid("ca_cert_pem is not a valid PEM certificate"))
}

/// Checks and normalises a base URL: http(s), no credentials, query or fragment, no trailing
/// slash; plain http only to loopback unless `allow_insecure`.
pub(crate) fn check_base_url(raw: &str, allow_insecure: bool) -> Result<String> {
    let url = reqwest::Url::parse(raw.trim())
        .map_err(|e| ShannonError::invalid(format!("base_url is not a URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ShannonError::invalid(
            "base_url must not carry credentials; store them with set_remote_credential",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ShannonError::invalid(
            "base_url must not have a query or fragment",
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure || is_loopback(&url) => {}
        "http" => {
            return Err(ShannonError::invalid(format!(
                "base_url must use https for {} (plain http is allowed to loopback, or with allow_insecure_http)",
                host_of(raw)
            )));
        }
        other => {
            return Err(ShannonError::invalid(format!(
                "base_url must be http or https, not {other}"
            )));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ShannonError::invalid("base_url has no host"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && id != LOCAL;
    if ok {
        Ok(())
    } else {
        Err(ShannonError::invalid(
            "profile id: 1 to 64 letters, digits, '-' or '_', and not 'local'",
        ))
    }
}

fn bounded(v: Option<u32>, default: u32, max: u32, what: &str) -> Result<u32> {
    match v {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ShannonError::invalid(format!(
            "{what} must be 1..={max} ms, got {n}"
        ))),
    }
}

/// The credential as stored (sealed JSON), with the tokens a refresh replaced.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredCredential {
    pub kind: RemoteAuthKind,
    pub secret: String,
    pub refresh_token: Option<String>,
}

impl Drop for StoredCredential {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.secret.zeroize();
        if let Some(r) = self.refresh_token.as_mut() {
            r.zeroize();
        }
    }
}

impl ProfileRow {
    pub(crate) fn auth(&self) -> RemoteAuthKind {
        RemoteAuthKind::from_db(&self.auth)
    }
}

impl Core {
    pub(crate) async fn profile_row(&self, id: &str) -> Result<ProfileRow> {
        let id2 = id.to_string();
        self.store()
            .read(move |c| store::remote::get_profile(c, &id2))
            .await?
            .ok_or_else(|| ShannonError::NotFound(format!("no remote profile {id:?}")))
    }

    fn profile_view(&self, row: ProfileRow, has_credential: bool) -> RemoteProfile {
        RemoteProfile {
            state: self.remote().state_of(&row.id),
            auth: row.auth(),
            id: row.id,
            name: row.name,
            base_url: row.base_url,
            has_credential,
            ca_cert_pem: row.ca_cert_pem,
            allow_insecure_http: row.allow_insecure_http,
            fallback_local: row.fallback_local,
            connect_timeout_ms: row.connect_timeout_ms,
            request_timeout_ms: row.request_timeout_ms,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }

    /// Every profile, oldest first, with whether its credential is stored and its last state.
    pub async fn list_remote_profiles(&self) -> Result<Vec<RemoteProfile>> {
        self.require_remote_enabled()?;
        let rows = self
            .store()
            .read(|c| {
                let mut out = Vec::new();
                for row in store::remote::list_profiles(c)? {
                    let name = credential_name(&row.id, &row.base_url);
                    let has = store::secrets::get(c, &name)?.is_some();
                    out.push((row, has));
                }
                Ok(out)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(row, has)| self.profile_view(row, has))
            .collect())
    }

    /// Creates or replaces a profile. A changed endpoint drops the credential stored for the old
    /// one (it is never sent to the new host).
    pub async fn save_remote_profile(&self, req: SaveRemoteProfile) -> Result<RemoteProfile> {
        self.require_remote_enabled()?;
        let id = match req.id.as_deref().map(str::trim) {
            Some(id) => {
                check_id(id)?;
                id.to_string()
            }
            None => uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
        };
        let name = req.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ShannonError::invalid("name: 1 to 100 characters"));
        }
        let base_url = check_base_url(&req.base_url, req.allow_insecure_http)?;
        let ca_cert_pem = match req.ca_cert_pem.filter(|p| !p.trim().is_empty()) {
            Some(pem) if pem.len() > MAX_CA_PEM => {
                return Err(ShannonError::PayloadTooLarge(
                    "ca_cert_pem is over 64 KiB".into(),
                ));
            }
            Some(pem) => {
                parse_ca(&pem)?;
                Some(pem)
            }
            None => None,
        };
        let now = time::now();
        let row = ProfileRow {
            id: id.clone(),
            name,
            base_url: base_url.clone(),
            auth: req.auth.unwrap_or(RemoteAuthKind::ApiKey).db().into(),
            ca_cert_pem,
            allow_insecure_http: req.allow_insecure_http,
            fallback_local: req.fallback_local,
            connect_timeout_ms: bounded(
                req.connect_timeout_ms,
                DEFAULT_CONNECT_MS,
                60_000,
                "connect_timeout_ms",
            )?,
            request_timeout_ms: bounded(
                req.request_timeout_ms,
                DEFAULT_REQUEST_MS,
                600_000,
                "request_timeout_ms",
            )?,
            created_at: now.clone(),
            updated_at: now,
        };
        let keep = credential_name(&id, &base_url);
        let stored = row.clone();
        let (saved, has) = self
            .store()
            .write(move |tx| {
                store::remote::put_profile(tx, &stored)?;
                let mut has = false;
                for name in store::remote::credential_names(tx, &stored.id)? {
                    if name == keep {
                        has = true;
                    } else {
                        store::secrets::delete(tx, &name)?;
                    }
                }
                let saved = store::remote::get_profile(tx, &stored.id)?
                    .ok_or_else(|| ShannonError::Internal("profile vanished".into()))?;
                Ok((saved, has))
            })
            .await?;
        self.remote().forget_client(&id);
        Ok(self.profile_view(saved, has))
    }

    /// Deletes a profile and its credential. Refused while a task on it is unfinished (cancel it
    /// first); sessions and tasks mirrored from it stay readable.
    pub async fn delete_remote_profile(&self, id: &str) -> Result<()> {
        self.require_remote_enabled()?;
        let id2 = id.to_string();
        let running = self
            .store()
            .read(move |c| {
                Ok(store::remote::unfinished_tasks(c)?
                    .into_iter()
                    .filter(|t| t.profile_id == id2)
                    .count())
            })
            .await?;
        if running > 0 {
            return Err(ShannonError::InvalidState(format!(
                "{running} task(s) on this profile have not ended; cancel them first"
            )));
        }
        let id2 = id.to_string();
        let existed = self
            .store()
            .write(move |tx| {
                store::remote::delete_credentials(tx, &id2)?;
                store::remote::delete_profile(tx, &id2)
            })
            .await?;
        self.remote().forget_client(id);
        if !existed {
            return Err(ShannonError::NotFound(format!("no remote profile {id:?}")));
        }
        if self.remote().default_target() == id {
            self.set_default_target(LOCAL).await?;
        }
        Ok(())
    }

    /// Stores (or with `None` deletes) a profile's credential, sealed for its current endpoint.
    pub async fn set_remote_credential(
        &self,
        id: &str,
        credential: Option<RemoteCredential>,
    ) -> Result<()> {
        self.require_remote_enabled()?;
        let row = self.profile_row(id).await?;
        let name = credential_name(&row.id, &row.base_url);
        let stored = match credential {
            None => None,
            Some(RemoteCredential::ApiKey { api_key }) => Some(StoredCredential {
                kind: RemoteAuthKind::ApiKey,
                secret: api_key.trim().to_string(),
                refresh_token: None,
            }),
            Some(RemoteCredential::Bearer {
                access_token,
                refresh_token,
            }) => Some(StoredCredential {
                kind: RemoteAuthKind::Bearer,
                secret: access_token.trim().to_string(),
                refresh_token: refresh_token
                    .map(|r| r.trim().to_string())
                    .filter(|r| !r.is_empty()),
            }),
        };
        if let Some(s) = &stored {
            if s.kind != row.auth() {
                return Err(ShannonError::invalid(format!(
                    "the profile authenticates with {:?}; this credential is another kind",
                    row.auth()
                )));
            }
            if s.secret.is_empty() || s.secret.len() > MAX_SECRET {
                return Err(ShannonError::invalid(
                    "the credential is empty or over 16 KiB",
                ));
            }
            if s.secret.chars().any(|c| c.is_control() || c == ' ') {
                return Err(ShannonError::invalid(
                    "the credential holds spaces or control characters",
                ));
            }
        }
        match stored {
            Some(s) => self.seal_credential(&name, &s).await?,
            None => {
                let id2 = row.id.clone();
                self.store()
                    .write(move |tx| store::remote::delete_credentials(tx, &id2).map(|_| ()))
                    .await?;
            }
        }
        self.remote().forget_client(id);
        Ok(())
    }

    pub(crate) async fn seal_credential(&self, name: &str, cred: &StoredCredential) -> Result<()> {
        let _shared = self.secrets_shared().await;
        let plain = Zeroizing::new(serde_json::to_vec(cred)?);
        let blob = self.keys().seal(&plain, &secret_aad(name))?;
        let name = name.to_string();
        self.store()
            .write(move |tx| store::secrets::upsert(tx, &name, &blob, &time::now()))
            .await
    }

    /// The profile's credential for its current endpoint, opened.
    pub(crate) async fn open_credential(
        &self,
        row: &ProfileRow,
    ) -> Result<Option<StoredCredential>> {
        if row.auth() == RemoteAuthKind::None {
            return Ok(None);
        }
        let _shared = self.secrets_shared().await;
        let name = credential_name(&row.id, &row.base_url);
        let name2 = name.clone();
        let Some(blob) = self
            .store()
            .read(move |c| store::secrets::get(c, &name2))
            .await?
        else {
            return Ok(None);
        };
        let plain: SecretString = self.keys().open_string(&blob, &secret_aad(&name))?;
        let cred: StoredCredential = serde_json::from_str(plain.expose()).map_err(|_| {
            ShannonError::Decryption("a stored remote credential is unreadable".into())
        })?;
        Ok(Some(cred))
    }
}
