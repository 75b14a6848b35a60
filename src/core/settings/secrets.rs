//! Master key life cycle against the database: a check value that proves the stored key matches the
//! database, the JWT signing secret, the move of a file key into the OS keychain, and master key
//! rotation that survives a crash at any point, in either backend ([`KeyStore`]).

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::core::Core;
use crate::core::auth::jwt::JwtKeys;
use crate::core::crypto::{KeyManager, MasterKey, provider_key_aad, secret_aad};
use crate::core::error::{Result, ShannonError};
use crate::core::keystore::{
    KeyStorage, KeyStore, MASTER_SLOT, NEXT_MASTER_SLOT, is_keychain_error,
};
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

/// Loads the master key for `store` from `keys`, creating it (and the check value) on first run,
/// moving a file key into the keychain, and finishing a rotation that a crash interrupted. Returns
/// the store actually used: with [`KeyStorage::Auto`], a keychain that fails here gives way to the
/// file, with a warning.
pub(crate) async fn load_key_manager(
    store: &Store,
    keys: KeyStore,
) -> Result<(Arc<KeyManager>, KeyStore)> {
    let check = store
        .read(|conn| store::secrets::get(conn, CHECK_NAME))
        .await?;
    let store = store.clone();
    blocking(move || {
        if keys.backend() == KeyStorage::File {
            let km = load_from(&store, &keys, check.as_deref())?;
            return Ok((km, keys));
        }
        let loaded = migrate_file_keys(&keys, check.as_deref())
            .and_then(|()| load_from(&store, &keys, check.as_deref()));
        match loaded {
            Ok(km) => Ok((km, keys)),
            Err(e) if keys.requested() == KeyStorage::Auto && is_keychain_error(&e) => {
                tracing::warn!(
                    error = %e,
                    "the OS keychain failed; the Shannon master key is kept in a 0600 file in the data dir"
                );
                let file = keys.file_store();
                let km = load_from(&store, &file, check.as_deref())?;
                Ok((km, file))
            }
            Err(e) => Err(e),
        }
    })
    .await
}

/// The master key in `keys` checked against the database's check value (blocking).
fn load_from(store: &Store, keys: &KeyStore, check: Option<&[u8]>) -> Result<Arc<KeyManager>> {
    let Some(check) = check else {
        // Fresh database: bind it to this key.
        let km = KeyManager::new(&keys.load_or_create(MASTER_SLOT)?);
        let blob = km.seal(CHECK_PLAINTEXT, &secret_aad(CHECK_NAME))?;
        store.write_blocking(|tx| upsert_secret(tx, CHECK_NAME, &blob))?;
        return Ok(Arc::new(km));
    };
    let current = keys.load(MASTER_SLOT)?;
    if let Some(current) = &current {
        let km = KeyManager::new(current);
        if key_matches(&km, check) {
            // A rotation that wrote its new key but never committed leaves it behind: discard it.
            keys.remove(NEXT_MASTER_SLOT)?;
            return Ok(Arc::new(km));
        }
    }
    if let Some(next) = keys.load(NEXT_MASTER_SLOT)? {
        let next_km = KeyManager::new(&next);
        if key_matches(&next_km, check) {
            // The rotation committed but its key did not become current yet: finish it now.
            keys.promote(NEXT_MASTER_SLOT, MASTER_SLOT)?;
            tracing::warn!("finished an interrupted master key rotation");
            return Ok(Arc::new(next_km));
        }
    }
    Err(ShannonError::MasterKey(match current {
        Some(_) => format!(
            "{} does not match this database (was the key file replaced or the database copied from \
             another machine?); stored secrets cannot be read",
            keys.describe(MASTER_SLOT)
        ),
        None => format!(
            "this database has stored secrets but there is no master key in {} (was the key \
             removed, or is it kept in the other storage, keychain or file?); stored secrets cannot \
             be read",
            keys.describe(MASTER_SLOT)
        ),
    }))
}

/// Moves `master.key` (and a rotation's `master.key.next`) from the data dir into the keychain
/// `keys` uses (blocking). A file is removed only once the keychain reads back the same key. When
/// both hold a key and they differ, the one that opens the database's check value wins, loudly.
fn migrate_file_keys(keys: &KeyStore, check: Option<&[u8]>) -> Result<()> {
    let file = keys.file_store();
    for slot in [NEXT_MASTER_SLOT, MASTER_SLOT] {
        let Some(file_key) = file.load(slot)? else {
            continue;
        };
        let path = file.slot_path(slot).display().to_string();
        let opens_db = |k: &MasterKey| check.is_some_and(|c| key_matches(&KeyManager::new(k), c));
        match keys.load(slot)? {
            None => {
                copy_into_keychain(keys, &file, slot, &file_key)?;
                tracing::info!(
                    from = %path,
                    to = %keys.describe(slot),
                    "moved the Shannon master key into the OS keychain"
                );
            }
            Some(in_keychain) if in_keychain == file_key => {
                // A move that stopped before removing the file.
                file.remove(slot)?;
                tracing::info!(file = %path, "removed a key file the OS keychain already holds");
            }
            Some(in_keychain) => match (opens_db(&file_key), opens_db(&in_keychain)) {
                (true, false) => {
                    tracing::warn!(
                        file = %path,
                        entry = %keys.describe(slot),
                        "the key file and the OS keychain hold different master keys; the file's \
                         matches the database and replaces the keychain's"
                    );
                    copy_into_keychain(keys, &file, slot, &file_key)?;
                }
                (false, true) => {
                    tracing::warn!(
                        file = %path,
                        entry = %keys.describe(slot),
                        "the key file and the OS keychain hold different master keys; the keychain's \
                         matches the database, the stale file is removed"
                    );
                    file.remove(slot)?;
                }
                _ => {
                    tracing::warn!(
                        file = %path,
                        entry = %keys.describe(slot),
                        "the key file and the OS keychain hold different master keys and neither is \
                         known to match the database; keeping both and using the keychain's"
                    );
                }
            },
        }
    }
    Ok(())
}

/// Stores `key` in the keychain and removes the file once the keychain reads it back.
fn copy_into_keychain(keys: &KeyStore, file: &KeyStore, slot: &str, key: &MasterKey) -> Result<()> {
    keys.store(slot, key)?;
    match keys.load(slot)? {
        Some(back) if back == *key => file.remove(slot),
        _ => Err(keys.error(
            slot,
            &format!(
                "it did not read back the key just stored; {} is kept",
                file.slot_path(slot).display()
            ),
        )),
    }
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
    /// Order makes a crash at any point recoverable, in the keychain as in the file: the new key is
    /// written to the `master.next` slot (`master.key.next`) first, then the transaction commits,
    /// then the new key becomes the `master` slot's. Start-up uses the check value to tell which of
    /// the two keys the database is sealed under.
    pub async fn rotate_master_key(&self) -> Result<RotationReport> {
        let _exclusive = self.secrets_exclusive().await;
        let keys = self.key_store().clone();
        let old = self.keys();
        let new_key = MasterKey::generate();
        let new_km = Arc::new(KeyManager::new(&new_key));
        {
            let keys = keys.clone();
            blocking(move || keys.store(NEXT_MASTER_SLOT, &new_key)).await?;
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
                let keys = keys.clone();
                let _ = blocking(move || keys.remove(NEXT_MASTER_SLOT)).await;
                return Err(e);
            }
        };
        // Committed: the database is sealed under the new key from here on.
        self.set_keys(new_km);
        if let Err(e) = blocking(move || keys.promote(NEXT_MASTER_SLOT, MASTER_SLOT)).await {
            // The new key is kept in the next slot and matches the database: the next start
            // finishes the rotation, as after a crash at this point.
            tracing::warn!(
                error = %e,
                "the rotated master key could not become current yet; the next start finishes it"
            );
        }
        tracing::info!(
            provider_keys = report.provider_keys,
            secrets = report.secrets,
            "rotated the Shannon master key"
        );
        Ok(report)
    }
}
