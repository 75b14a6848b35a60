//! Master key life cycle against the database: a check value that proves the key file matches the
//! database, the JWT signing secret, and master key rotation that survives a crash at any point.

use std::path::Path;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::core::Core;
use crate::core::auth::jwt::JwtKeys;
use crate::core::crypto::{KeyManager, MasterKey, key_paths, provider_key_aad, secret_aad};
use crate::core::error::{Result, ShannonError};
use crate::core::settings::providers::{self, base_url_setting};
use crate::core::settings::read_cache::Invalidate;
use crate::core::store::{self, Store, blocking};
use crate::core::time;

const CHECK_NAME: &str = "master_key_check";
const CHECK_PLAINTEXT: &[u8] = b"shannon master key check v1";
const JWT_SECRET_NAME: &str = "jwt_secret";

/// Stores a sealed secret, stamped now.
fn upsert_secret(tx: &rusqlite::Transaction<'_>, name: &str, blob: &[u8]) -> Result<()> {
    store::secrets::upsert(tx, name, blob, &time::now())
}

fn key_matches(km: &KeyManager, check: &[u8]) -> bool {
    km.open(check, &secret_aad(CHECK_NAME))
        .is_ok_and(|p| p.as_slice() == CHECK_PLAINTEXT)
}

/// Loads the master key for `store`, creating it (and the check value) on first run, and finishing a
/// rotation that a crash interrupted.
pub(crate) async fn load_key_manager(store: &Store, data_dir: &Path) -> Result<Arc<KeyManager>> {
    let (current_path, next_path) = key_paths(data_dir);
    let check = store
        .read(|conn| store::secrets::get(conn, CHECK_NAME))
        .await?;
    let store = store.clone();
    blocking(move || {
        let current = MasterKey::load_or_create(&current_path)?;
        let km = KeyManager::new(&current);
        let Some(check) = check else {
            // Fresh database: bind it to this key.
            let blob = km.seal(CHECK_PLAINTEXT, &secret_aad(CHECK_NAME))?;
            store.write_blocking(|tx| upsert_secret(tx, CHECK_NAME, &blob))?;
            return Ok(Arc::new(km));
        };
        if key_matches(&km, &check) {
            if next_path.exists() {
                // A rotation wrote its new key but its transaction never committed: discard it.
                std::fs::remove_file(&next_path)?;
            }
            return Ok(Arc::new(km));
        }
        if next_path.exists() {
            let next = MasterKey::read(&next_path)?;
            let next_km = KeyManager::new(&next);
            if key_matches(&next_km, &check) {
                // The rotation committed but the key file was not swapped yet: finish it now.
                std::fs::rename(&next_path, &current_path)?;
                tracing::warn!("finished an interrupted master key rotation");
                return Ok(Arc::new(next_km));
            }
        }
        Err(ShannonError::MasterKey(format!(
            "{} does not match this database (was the key file replaced or the database copied from \
             another machine?); stored secrets cannot be read",
            current_path.display()
        )))
    })
    .await
}

/// Loads the HS256 signing secret, generating and sealing one on first run.
pub(crate) async fn load_or_create_jwt_secret(
    store: &Store,
    keys: &Arc<KeyManager>,
) -> Result<JwtKeys> {
    let keys = keys.clone();
    store
        .write(move |tx| {
            let aad = secret_aad(JWT_SECRET_NAME);
            let secret = match store::secrets::get(tx, JWT_SECRET_NAME)? {
                Some(blob) => keys.open(&blob, &aad)?,
                None => {
                    let mut fresh = Zeroizing::new(vec![0u8; 64]);
                    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, fresh.as_mut_slice());
                    upsert_secret(tx, JWT_SECRET_NAME, &keys.seal(&fresh, &aad)?)?;
                    fresh
                }
            };
            Ok(JwtKeys::new(&secret))
        })
        .await
}

/// Binds every provider key stored before keys were bound to their endpoint to the endpoint its
/// provider has now (the user's base URL setting, else the default), in one transaction.
pub(crate) async fn bind_unbound_provider_keys(
    store: &Store,
    keys: &Arc<KeyManager>,
) -> Result<()> {
    let keys = keys.clone();
    let bound = store
        .write(move |tx| {
            let mut bound = 0u32;
            for row in store::settings::list_all_provider_keys(tx)? {
                if row.origin.is_some() {
                    continue;
                }
                let endpoint =
                    store::settings::get(tx, &row.user_id, &base_url_setting(&row.provider))?
                        .and_then(|s| serde_json::from_str::<String>(&s.value).ok())
                        .or_else(|| {
                            providers::lookup(&row.provider)
                                .ok()
                                .and_then(|spec| spec.default_base_url.map(str::to_string))
                        });
                let origin = providers::origin_of(endpoint.as_deref());
                let plain = keys.open(
                    &row.ciphertext,
                    &provider_key_aad(&row.user_id, &row.provider, None),
                )?;
                let aad = provider_key_aad(&row.user_id, &row.provider, Some(&origin));
                store::settings::set_provider_key_ciphertext(
                    tx,
                    &row.user_id,
                    &row.provider,
                    Some(&origin),
                    &keys.seal(&plain, &aad)?,
                )?;
                bound += 1;
            }
            Ok(bound)
        })
        .await?;
    if bound > 0 {
        tracing::info!(
            keys = bound,
            "bound stored provider keys to their endpoints"
        );
    }
    Ok(())
}

/// Outcome of a rotation.
#[derive(Debug, Clone, serde::Serialize, specta::Type)]
pub struct RotationReport {
    /// Provider keys re-encrypted under the new master key.
    pub provider_keys: u32,
    /// Plugin-wide secrets re-encrypted (JWT secret, check value).
    pub secrets: u32,
}

impl Core {
    /// Replaces the master key and re-encrypts every stored secret in one transaction.
    ///
    /// Order makes a crash at any point recoverable: the new key is written to `master.key.next`
    /// first, then the transaction commits, then the file is moved over `master.key`. Start-up uses
    /// the check value to tell which of the two keys the database is sealed under.
    pub async fn rotate_master_key(&self) -> Result<RotationReport> {
        let _exclusive = self.secrets_exclusive().await;
        let (current_path, next_path) = key_paths(self.data_dir());
        let old = self.keys();
        let new_key = MasterKey::generate();
        let new_km = Arc::new(KeyManager::new(&new_key));
        {
            let next_path = next_path.clone();
            blocking(move || new_key.write(&next_path, true)).await?;
        }
        let new_for_tx = new_km.clone();
        // Plaintexts do not change, but every cached key was opened under the old master key: forget
        // them all once the re-sealing commits.
        let stale = Invalidate::all_provider_keys(self.read_cache());
        let report = self
            .store()
            .write(move |tx| {
                let mut report = RotationReport {
                    provider_keys: 0,
                    secrets: 0,
                };
                let rows = store::settings::list_all_provider_keys(tx)?;
                for row in rows {
                    let aad = provider_key_aad(&row.user_id, &row.provider, row.origin.as_deref());
                    let plain = old.open(&row.ciphertext, &aad)?;
                    store::settings::set_provider_key_ciphertext(
                        tx,
                        &row.user_id,
                        &row.provider,
                        row.origin.as_deref(),
                        &new_for_tx.seal(&plain, &aad)?,
                    )?;
                    report.provider_keys += 1;
                }
                let secrets = store::secrets::list_all(tx)?;
                for secret in secrets {
                    let aad = secret_aad(&secret.name);
                    let plain = old.open(&secret.ciphertext, &aad)?;
                    upsert_secret(tx, &secret.name, &new_for_tx.seal(&plain, &aad)?)?;
                    report.secrets += 1;
                }
                Ok((report, stale))
            })
            .await;
        let report = match report {
            Ok((r, stale)) => {
                drop(stale);
                r
            }
            Err(e) => {
                let _ = std::fs::remove_file(&next_path);
                return Err(e);
            }
        };
        blocking(move || {
            std::fs::rename(&next_path, &current_path)?;
            if let Some(dir) = current_path.parent()
                && let Ok(d) = std::fs::File::open(dir)
            {
                let _ = d.sync_all();
            }
            Ok(())
        })
        .await?;
        self.set_keys(new_km);
        tracing::info!(
            provider_keys = report.provider_keys,
            secrets = report.secrets,
            "rotated the Shannon master key"
        );
        Ok(report)
    }
}
