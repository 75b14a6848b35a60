//! Per-user settings (JSON values) and provider API keys.

pub mod providers;
pub(crate) mod read_cache;
pub mod secrets;

use futures_util::future::join_all;
use serde::Serialize;

use crate::core::auth::Caller;
use crate::core::crypto::{SecretString, mask_key, provider_key_aad};
use crate::core::error::{Result, ShannonError};
use crate::core::store;
pub use crate::core::store::settings::Setting;
use crate::core::{Core, CoreEvent, time};
use providers::{PROVIDERS, ProviderProtocol};
use read_cache::{BoundKey, CACHED_SETTING_MAX_BYTES, Invalidate, Lookup};

/// Largest accepted settings value (JSON text), and API key.
pub const MAX_SETTING_BYTES: usize = 64 * 1024;
pub const MAX_PROVIDER_KEY_BYTES: usize = 4 * 1024;

/// A stored provider key, masked.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct ProviderKeyInfo {
    pub provider: String,
    pub masked_key: String,
    /// The endpoint origin the key is bound to: it is sent nowhere else.
    pub origin: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub last_used_at: Option<String>,
}

/// Whether a provider can take a task now, for the frontend's key page and submit guard.
#[derive(Debug, Clone, PartialEq, Serialize, specta::Type)]
pub struct ProviderStatus {
    pub provider: String,
    pub display_name: String,
    pub protocol: ProviderProtocol,
    pub requires_key: bool,
    /// A key is stored for this provider.
    pub is_configured: bool,
    /// A task on this provider can be submitted (a key is stored, or none is needed).
    pub ready: bool,
    pub masked_key: Option<String>,
    /// A key is stored and the provider can take tasks (the desktop frontend's `is_active`).
    pub is_active: bool,
    pub created_at: Option<String>,
    pub last_used_at: Option<String>,
    pub base_url: Option<String>,
    /// The offline demo provider: canned text, no network.
    pub offline_demo: bool,
    /// A web search API for research (`web_search`), not a model provider.
    pub web_search: bool,
    /// Why the provider is not ready, for the UI to show.
    pub reason: Option<String>,
}

/// Setting keys: short, printable, no spaces.
fn validate_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(ShannonError::invalid(
            "setting key must be 1..128 characters of A-Z a-z 0-9 _ - . :",
        ))
    }
}

/// A setting the engine reads, for the generated settings reference (`docs/reference/settings.md`).
#[derive(Debug, Clone, Copy)]
pub struct KnownSetting {
    /// The key (`provider.<id>.base_url` stands for one key per provider).
    pub key: &'static str,
    /// The JSON value it takes.
    pub value: &'static str,
    /// What it means when absent.
    pub default: &'static str,
    /// What it changes.
    pub effect: &'static str,
}

/// Every setting the engine reads. Any other key is stored and returned but changes nothing.
/// `tests/reference.rs` fails when the core reads a key that is not listed here.
pub const KNOWN_SETTINGS: &[KnownSetting] = &[
    KnownSetting {
        key: "provider.<id>.base_url",
        value: "string (a URL) or null",
        default: "the provider's default endpoint",
        effect: "Points a model or search provider elsewhere (a local server, a proxy, SearXNG). Set only through `set_provider_endpoint` (opt-in `shannon:allow-set-provider-endpoints`); a stored key stays bound to the endpoint it was stored for.",
    },
    KnownSetting {
        key: "tools.allow",
        value: "array of tool names",
        default: "every tool",
        effect: "The tools offered to the model when a task names none (`context.tools_to_use` wins).",
    },
    KnownSetting {
        key: "tools.block",
        value: "array of tool names",
        default: "none",
        effect: "Tools never offered to the model, added to the task's `context.tools_blocked`.",
    },
    KnownSetting {
        key: "web_fetch.allow_private_network",
        value: "boolean",
        default: "false",
        effect: "Lets `web_fetch` reach loopback, private and link-local addresses (local services).",
    },
    KnownSetting {
        key: "web_search.provider",
        value: "string (a search provider id)",
        default: "the first search API set up, in catalogue order",
        effect: "Which search API `web_search` uses.",
    },
    KnownSetting {
        key: "memory.enabled",
        value: "boolean",
        default: "false",
        effect: "A long task ends with a call that may write a memory note in the user's memory folder.",
    },
    KnownSetting {
        key: "pricing",
        value: "object `{\"<model>\": {\"input\": usd_per_million, \"output\": …, \"cache_read\": …}}`",
        default: "the bundled price table",
        effect: "Overrides the price of the models it names, for task and completion costs.",
    },
    KnownSetting {
        key: ALLOW_DANGEROUS_SKILLS,
        value: "boolean",
        default: "false",
        effect: "Lets tasks use skills marked dangerous. Set only through `set_dangerous_skills_allowed` (opt-in `shannon:allow-dangerous-skills`).",
    },
];

/// The setting that lets tasks use skills marked dangerous.
pub const ALLOW_DANGEROUS_SKILLS: &str = "skills.allow_dangerous";

/// Settings a webview changes only through an opt-in command, because they decide where requests (and
/// the user's conversations) go or what runs: `None` for an ordinary setting, else what to call
/// instead. The IPC door's `set_setting` and `delete_setting` refuse these.
pub fn opt_in_command_for(key: &str) -> Option<&'static str> {
    let is_endpoint = key
        .strip_prefix("provider.")
        .and_then(|rest| rest.strip_suffix(".base_url"))
        .is_some_and(|id| !id.is_empty());
    if is_endpoint {
        Some("set_provider_endpoint (permission shannon:allow-set-provider-endpoints)")
    } else if key == ALLOW_DANGEROUS_SKILLS {
        Some("set_dangerous_skills_allowed (permission shannon:allow-dangerous-skills)")
    } else {
        None
    }
}

/// Parses and re-serializes a JSON value (canonical compact form), enforcing the size limit.
pub fn normalize_json(value: &str) -> Result<String> {
    if value.len() > MAX_SETTING_BYTES {
        return Err(ShannonError::PayloadTooLarge(format!(
            "setting value is {} bytes; the limit is {MAX_SETTING_BYTES}",
            value.len()
        )));
    }
    let parsed: serde_json::Value = serde_json::from_str(value)?;
    Ok(parsed.to_string())
}

impl Core {
    /// One setting; served from the read cache when it holds the row (or its absence).
    pub async fn get_setting(&self, caller: &Caller, key: &str) -> Result<Setting> {
        validate_key(key)?;
        let id = (caller.user_id.clone(), key.to_string());
        let cache = self.read_cache();
        let found = match cache.settings.get(&id) {
            Lookup::Hit(found) => found,
            Lookup::Miss(seen) => {
                let (user, k) = id.clone();
                let found = self
                    .store()
                    .read(move |c| store::settings::get(c, &user, &k))
                    .await?;
                if found
                    .as_ref()
                    .is_none_or(|s| s.value.len() <= CACHED_SETTING_MAX_BYTES)
                {
                    cache.settings.fill(id, found.clone(), seen);
                }
                found
            }
        };
        found.ok_or_else(|| ShannonError::NotFound(format!("setting {key}")))
    }

    /// All the caller's settings, by key.
    pub async fn list_settings(&self, caller: &Caller) -> Result<Vec<Setting>> {
        let user = caller.user_id.clone();
        self.store()
            .read(move |c| store::settings::list_for_user(c, &user))
            .await
    }

    /// Stores `value` (JSON text) under `key`, replacing any earlier value.
    pub async fn set_setting(&self, caller: &Caller, key: &str, value: &str) -> Result<Setting> {
        validate_key(key)?;
        let value = normalize_json(value)?;
        let setting = Setting {
            key: key.to_string(),
            value,
            updated_at: time::now(),
        };
        let (user, row) = (caller.user_id.clone(), setting.clone());
        let stale = Invalidate::setting(self.read_cache(), &user, key);
        let stale = self
            .store()
            .write(move |tx| {
                store::settings::upsert(tx, &user, &row)?;
                Ok(stale)
            })
            .await?;
        drop(stale);
        self.notify(CoreEvent::SettingsChanged(crate::core::SettingsChanged {
            user_id: caller.user_id.clone(),
            key: key.to_string(),
        }));
        Ok(setting)
    }

    /// Deletes a setting; `not_found` when it is not set.
    pub async fn delete_setting(&self, caller: &Caller, key: &str) -> Result<()> {
        validate_key(key)?;
        let (user, k) = (caller.user_id.clone(), key.to_string());
        let stale = Invalidate::setting(self.read_cache(), &user, key);
        let (n, stale) = self
            .store()
            .write(move |tx| {
                let n = store::settings::delete(tx, &user, &k)?;
                Ok((n, stale))
            })
            .await?;
        drop(stale);
        if n == 0 {
            return Err(ShannonError::NotFound(format!("setting {key}")));
        }
        self.notify(CoreEvent::SettingsChanged(crate::core::SettingsChanged {
            user_id: caller.user_id.clone(),
            key: key.to_string(),
        }));
        Ok(())
    }

    /// Points a provider at `base_url` (an http(s) URL), or back at its default with `None`. The
    /// provider's stored key stays bound to the origin it was stored for: after a change of origin
    /// it is not sent until it is stored again.
    pub async fn set_provider_endpoint(
        &self,
        caller: &Caller,
        provider: &str,
        base_url: Option<&str>,
    ) -> Result<Option<String>> {
        let spec = providers::lookup(provider)?;
        let key = providers::base_url_setting(spec.id);
        match base_url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => {
                let parsed = reqwest::Url::parse(url)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
                if parsed.is_none() || url.len() > 2048 {
                    return Err(ShannonError::invalid(format!(
                        "the base URL for {} must be an http:// or https:// URL",
                        spec.display_name
                    )));
                }
                self.set_setting(caller, &key, &serde_json::json!(url).to_string())
                    .await?;
            }
            None => match self.delete_setting(caller, &key).await {
                Ok(()) | Err(ShannonError::NotFound(_)) => {}
                Err(e) => return Err(e),
            },
        }
        Ok(self.provider_endpoint(caller, spec).await)
    }

    /// Encrypts and stores a provider key, replacing any earlier one. Returns the masked form.
    pub async fn set_provider_key(
        &self,
        caller: &Caller,
        provider: &str,
        api_key: &SecretString,
    ) -> Result<ProviderKeyInfo> {
        let spec = providers::lookup(provider)?;
        let key = api_key.expose().trim();
        if key.is_empty() {
            return Err(ShannonError::invalid("api_key must not be empty"));
        }
        if key.len() > MAX_PROVIDER_KEY_BYTES || key.chars().any(char::is_control) {
            return Err(ShannonError::invalid(
                "api_key must be at most 4 KiB with no control characters",
            ));
        }
        if spec.protocol == ProviderProtocol::OfflineDemo {
            return Err(ShannonError::invalid(
                "the offline demo provider takes no key",
            ));
        }
        // Bound to the endpoint the provider has now: the key is sent to that origin only.
        let origin = providers::origin_of(self.provider_endpoint(caller, spec).await.as_deref());
        let _shared = self.secrets_shared().await;
        let user = caller.user_id.clone();
        let blob = self.keys().seal(
            key.as_bytes(),
            &provider_key_aad(&user, spec.id, Some(&origin)),
        )?;
        let masked = mask_key(key);
        let now = time::now();
        let stale = Invalidate::provider_key(self.read_cache(), &user, spec.id);
        let (info, stale) = self
            .store()
            .write(move |tx| {
                store::settings::upsert_provider_key(tx, &user, spec.id, &origin, &blob, &now)?;
                let times = store::settings::provider_key_times(tx, &user, spec.id)?;
                let info = ProviderKeyInfo {
                    provider: spec.id.to_string(),
                    masked_key: masked,
                    origin: Some(origin),
                    created_at: times.created_at,
                    updated_at: times.updated_at,
                    last_used_at: times.last_used_at,
                };
                Ok((info, stale))
            })
            .await?;
        drop(stale);
        tracing::info!(provider = spec.id, "stored a provider API key");
        self.notify(CoreEvent::ProviderKeysChanged(
            crate::core::ProviderKeysChanged {
                user_id: caller.user_id.clone(),
                provider: spec.id.to_string(),
            },
        ));
        Ok(info)
    }

    /// The masked key for one provider.
    pub async fn get_provider_key(
        &self,
        caller: &Caller,
        provider: &str,
    ) -> Result<ProviderKeyInfo> {
        let spec = providers::lookup(provider)?;
        self.list_provider_keys(caller)
            .await?
            .into_iter()
            .find(|k| k.provider == spec.id)
            .ok_or_else(|| ShannonError::NotFound(format!("no API key stored for {}", spec.id)))
    }

    /// Every stored key, masked (decrypted only long enough to mask it).
    pub async fn list_provider_keys(&self, caller: &Caller) -> Result<Vec<ProviderKeyInfo>> {
        let _shared = self.secrets_shared().await;
        let keys = self.keys();
        let user = caller.user_id.clone();
        self.store()
            .read(move |c| {
                let rows = store::settings::list_provider_keys(c, &user)?;
                let mut out = Vec::new();
                for row in rows {
                    let aad = provider_key_aad(&user, &row.provider, row.origin.as_deref());
                    let plain = keys.open_string(&row.ciphertext, &aad)?;
                    out.push(ProviderKeyInfo {
                        masked_key: mask_key(plain.expose()),
                        provider: row.provider,
                        origin: row.origin,
                        created_at: row.created_at,
                        updated_at: row.updated_at,
                        last_used_at: row.last_used_at,
                    });
                }
                Ok(out)
            })
            .await
    }

    /// Deletes the caller's stored key for `provider`; `unknown_provider` for a name outside the
    /// catalogue, `not_found` when no key is stored.
    pub async fn delete_provider_key(&self, caller: &Caller, provider: &str) -> Result<()> {
        let spec = providers::lookup(provider)?;
        let user = caller.user_id.clone();
        let stale = Invalidate::provider_key(self.read_cache(), &user, spec.id);
        let (n, stale) = self
            .store()
            .write(move |tx| {
                let n = store::settings::delete_provider_key(tx, &user, spec.id)?;
                Ok((n, stale))
            })
            .await?;
        drop(stale);
        if n == 0 {
            return Err(ShannonError::NotFound(format!(
                "no API key stored for {}",
                spec.id
            )));
        }
        tracing::info!(provider = spec.id, "deleted a provider API key");
        self.notify(CoreEvent::ProviderKeysChanged(
            crate::core::ProviderKeysChanged {
                user_id: caller.user_id.clone(),
                provider: spec.id.to_string(),
            },
        ));
        Ok(())
    }

    /// Records that the engine used a provider key now. The read cache holds only the decrypted key,
    /// which this does not change, so nothing is invalidated.
    pub async fn mark_provider_key_used(&self, caller: &Caller, provider: &str) -> Result<()> {
        let spec = providers::lookup(provider)?;
        let user = caller.user_id.clone();
        let n = self
            .store()
            .write(move |tx| {
                store::settings::mark_provider_key_used(tx, &user, spec.id, &time::now())
            })
            .await?;
        if n == 0 {
            return Err(ShannonError::NotFound(format!(
                "no API key stored for {}",
                spec.id
            )));
        }
        Ok(())
    }

    /// The endpoint this user's requests to a provider go to: their `provider.<id>.base_url`, else
    /// the catalogue's default.
    pub async fn provider_endpoint(
        &self,
        caller: &Caller,
        spec: &providers::ProviderSpec,
    ) -> Option<String> {
        match self
            .get_setting(caller, &providers::base_url_setting(spec.id))
            .await
        {
            Ok(s) => serde_json::from_str::<String>(&s.value).ok(),
            Err(_) => None,
        }
        .or_else(|| spec.default_base_url.map(str::to_string))
    }

    /// The decrypted key, for the engine's provider clients only: no door exposes it. A key is
    /// returned only while the provider's endpoint has the origin the key was stored for; otherwise
    /// `key_endpoint_changed`, before any request is made. Served from the read cache when it holds
    /// the key (or its absence); a hit opens no ciphertext, so it needs no master key and takes no
    /// secrets lock.
    pub async fn provider_key(
        &self,
        caller: &Caller,
        provider: &str,
    ) -> Result<Option<SecretString>> {
        let spec = providers::lookup(provider)?;
        let current = providers::origin_of(self.provider_endpoint(caller, spec).await.as_deref());
        let bound = self.bound_provider_key(caller, spec.id).await?;
        match bound {
            None => Ok(None),
            Some(b) if b.origin == current => Ok(Some(b.key)),
            Some(b) => Err(ShannonError::key_endpoint_changed(
                spec.display_name,
                &b.origin,
                &current,
            )),
        }
    }

    /// The stored key and the origin it is bound to, through the read cache.
    async fn bound_provider_key(
        &self,
        caller: &Caller,
        provider: &'static str,
    ) -> Result<Option<BoundKey>> {
        let id = (caller.user_id.clone(), provider);
        let cache = self.read_cache();
        let seen = match cache.provider_keys.get(&id) {
            Lookup::Hit(found) => return Ok(found),
            Lookup::Miss(seen) => seen,
        };
        let _shared = self.secrets_shared().await;
        let keys = self.keys();
        let user = caller.user_id.clone();
        let found = self
            .store()
            .read(move |c| {
                let Some((origin, blob)) =
                    store::settings::provider_key_ciphertext(c, &user, provider)?
                else {
                    return Ok(None);
                };
                let aad = provider_key_aad(&user, provider, origin.as_deref());
                Ok(Some(BoundKey {
                    key: keys.open_string(&blob, &aad)?,
                    // Start-up binds every older key; one still unbound goes nowhere.
                    origin: origin.unwrap_or_else(|| "an unrecorded endpoint".into()),
                }))
            })
            .await?;
        cache.provider_keys.fill(id, found.clone(), seen);
        Ok(found)
    }

    /// Readiness of every provider in the catalogue for this user. A local provider (no key, a base
    /// URL) is ready only while its endpoint answers a short probe (reused for a few seconds).
    pub async fn provider_status(&self, caller: &Caller) -> Result<Vec<ProviderStatus>> {
        let stored = self.list_provider_keys(caller).await?;
        let settings = self.list_settings(caller).await?;
        let base_url_of = |id: &str| -> Option<String> {
            let key = providers::base_url_setting(id);
            settings
                .iter()
                .find(|s| s.key == key)
                .and_then(|s| serde_json::from_str::<String>(&s.value).ok())
        };
        let base_urls: Vec<Option<String>> = PROVIDERS
            .iter()
            .map(|spec| base_url_of(spec.id).or_else(|| spec.default_base_url.map(str::to_string)))
            .collect();
        // The local providers' probes run at once: one slow endpoint costs one timeout, not several.
        let probes = join_all(PROVIDERS.iter().zip(&base_urls).map(
            |(spec, base_url)| async move {
                match base_url {
                    Some(url) if spec.is_local() => {
                        self.local_probes().not_ready_reason(spec, url).await
                    }
                    _ => None,
                }
            },
        ))
        .await;
        Ok(PROVIDERS
            .iter()
            .zip(base_urls)
            .zip(probes)
            .map(|((spec, base_url), not_running)| {
                let key = stored.iter().find(|k| k.provider == spec.id);
                let current_origin = providers::origin_of(base_url.as_deref());
                let reason = if spec.requires_key && key.is_none() {
                    Some(format!("add an API key for {}", spec.display_name))
                } else if let Some(bound) = key
                    .and_then(|k| k.origin.as_deref())
                    .filter(|o| *o != current_origin)
                {
                    Some(
                        ShannonError::key_endpoint_changed(
                            spec.display_name,
                            bound,
                            &current_origin,
                        )
                        .to_string(),
                    )
                } else if base_url.is_none() && spec.protocol != ProviderProtocol::OfflineDemo {
                    Some(format!(
                        "set the base URL in the setting {}",
                        providers::base_url_setting(spec.id)
                    ))
                } else {
                    not_running
                };
                ProviderStatus {
                    provider: spec.id.to_string(),
                    display_name: spec.display_name.to_string(),
                    protocol: spec.protocol,
                    requires_key: spec.requires_key,
                    is_configured: key.is_some(),
                    ready: reason.is_none(),
                    masked_key: key.map(|k| k.masked_key.clone()),
                    is_active: key.is_some() && reason.is_none(),
                    created_at: key.map(|k| k.created_at.clone()),
                    last_used_at: key.and_then(|k| k.last_used_at.clone()),
                    base_url,
                    offline_demo: spec.protocol == ProviderProtocol::OfflineDemo,
                    web_search: spec.is_search(),
                    reason,
                }
            })
            .collect())
    }
}
