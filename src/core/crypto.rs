//! Secrets at rest: AES-256-GCM under a master key kept in the OS keychain or a 0600 file beside the
//! database (see `core::keystore`).
//!
//! Ciphertext format v1: `0x01 ‖ nonce (12 bytes, fresh from the OS RNG per seal) ‖ ciphertext ‖ tag`.
//! The associated data names what the secret is, whom it belongs to and, for a provider key, the
//! endpoint origin it may be sent to, so a ciphertext copied to another row, user or endpoint fails
//! to open.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use rand::rngs::OsRng;
use zeroize::{Zeroize, Zeroizing};

use crate::core::error::{Result, ShannonError};

pub const MASTER_KEY_FILE: &str = "master.key";
/// A rotation writes the new key here first; see [`KeyManager::rotate`] in `core::secrets`.
pub const NEXT_MASTER_KEY_FILE: &str = "master.key.next";
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A string that must not leak: redacted in `Debug`, never `Display`ed or serialized, wiped on drop.
#[derive(Clone, Default, serde::Deserialize, specta::Type, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself; call sites are few and reviewed.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString(***)")
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Shows a short prefix and the last four characters (`sk-p****wxyz`); short keys show nothing.
pub fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 12 {
        return "****".to_string();
    }
    let prefix: String = chars[..4].iter().collect();
    let suffix: String = chars[chars.len() - 4..].iter().collect();
    format!("{prefix}****{suffix}")
}

/// The 256-bit master key. Never printed.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(k.as_mut());
        Self(k)
    }

    /// A key from its 64 hex characters (surrounding whitespace ignored); `None` if malformed.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), bytes.as_mut()).ok()?;
        Some(Self(bytes))
    }

    /// The key as 64 lowercase hex characters, wiped on drop.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_ref()))
    }

    /// A key for one purpose derived from this one: HMAC-SHA256(master key, purpose). Distinct
    /// purposes give independent keys, and none of them reveals the master key.
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(self.0.as_ref())
            .expect("HMAC takes a key of any length");
        mac.update(purpose.as_bytes());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }

    /// Reads a key file (64 hex characters), repairing group/other permissions loudly.
    pub fn read(path: &Path) -> Result<Self> {
        secure_permissions(path)?;
        let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| {
            ShannonError::MasterKey(format!("cannot read {}: {e}", path.display()))
        })?);
        Self::from_hex(&text).ok_or_else(|| {
            ShannonError::MasterKey(format!(
                "{} is not a valid key file (expected 64 hex characters)",
                path.display()
            ))
        })
    }

    /// Writes the key to `path` atomically with mode 0600: a temporary file is written and synced,
    /// then moved into place. With `replace = false` an existing file is never overwritten.
    pub fn write(&self, path: &Path, replace: bool) -> Result<()> {
        let dir = path
            .parent()
            .ok_or_else(|| ShannonError::MasterKey("key path has no parent directory".into()))?;
        let mut suffix = [0u8; 8];
        OsRng.fill_bytes(&mut suffix);
        let tmp = dir.join(format!(".master.key.{}.tmp", hex::encode(suffix)));
        let result = (|| -> Result<()> {
            let mut opts = OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut file = opts.open(&tmp)?;
            let text = self.to_hex();
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            if replace {
                fs::rename(&tmp, path)?;
            } else {
                // hard_link fails if the target exists: two processes racing to create the key agree on
                // whichever landed first.
                fs::hard_link(&tmp, path)?;
                fs::remove_file(&tmp)?;
            }
            sync_dir(dir);
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Loads the key at `path`, creating it on first run.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        if path.exists() {
            return Self::read(path);
        }
        let key = Self::generate();
        match key.write(path, false) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "created a new Shannon master key");
                Ok(key)
            }
            Err(ShannonError::Io(_)) if path.exists() => Self::read(path),
            Err(e) => Err(e),
        }
    }
}

#[cfg(unix)]
fn secure_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(path)
        .map_err(|e| ShannonError::MasterKey(format!("cannot stat {}: {e}", path.display())))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::error!(
            path = %path.display(),
            mode = format!("{mode:o}"),
            "the Shannon master key file was readable by other users; restricting it to 0600. \
             Treat the stored provider keys as exposed and rotate them."
        );
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|e| {
            ShannonError::MasterKey(format!(
                "{} is readable by other users and could not be restricted: {e}",
                path.display()
            ))
        })?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn secure_permissions(_path: &Path) -> Result<()> {
    Ok(())
}

fn sync_dir(dir: &Path) {
    // Persist the rename itself; best effort (not all platforms can open a directory).
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Constant-time comparison: whether two keys are the same never shows in timing.
impl PartialEq for MasterKey {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_ref().ct_eq(other.0.as_ref()).into()
    }
}

impl Eq for MasterKey {}

/// Seals and opens secrets under one master key.
pub struct KeyManager {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyManager(***)")
    }
}

impl KeyManager {
    pub fn new(key: &MasterKey) -> Self {
        Self {
            cipher: Aes256Gcm::new_from_slice(key.0.as_ref()).expect("32-byte key"),
        }
    }

    /// Encrypts `plaintext` bound to `aad` with a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8], aad: &str) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| ShannonError::Internal("encryption failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypts a v1 blob; any tampering, truncation, wrong `aad` or wrong key is an error.
    pub fn open(&self, blob: &[u8], aad: &str) -> Result<Zeroizing<Vec<u8>>> {
        match blob.first() {
            Some(&FORMAT_V1) => {}
            Some(v) => {
                return Err(ShannonError::Decryption(format!(
                    "unsupported ciphertext format version {v}"
                )));
            }
            None => return Err(ShannonError::Decryption("empty ciphertext".into())),
        }
        if blob.len() < 1 + NONCE_LEN + TAG_LEN {
            return Err(ShannonError::Decryption("ciphertext is truncated".into()));
        }
        let (nonce, ct) = blob[1..].split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                ShannonError::Decryption(
                    "ciphertext failed authentication (tampered, or sealed under another key)"
                        .into(),
                )
            })
    }

    /// Opens a blob and returns its contents as a UTF-8 secret.
    pub fn open_string(&self, blob: &[u8], aad: &str) -> Result<SecretString> {
        let bytes = self.open(blob, aad)?;
        let s = std::str::from_utf8(&bytes)
            .map_err(|_| ShannonError::Decryption("secret is not UTF-8".into()))?;
        Ok(SecretString::new(s))
    }
}

/// Paths of the master key files inside a data directory.
pub fn key_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    (
        data_dir.join(MASTER_KEY_FILE),
        data_dir.join(NEXT_MASTER_KEY_FILE),
    )
}

/// Associated data for a provider key: whose key, for which provider, and the endpoint origin it may
/// be sent to (`None` only for a key stored before keys were bound to their endpoint).
pub fn provider_key_aad(user_id: &str, provider: &str, origin: Option<&str>) -> String {
    match origin {
        Some(origin) => format!("shannon/provider-key/{user_id}/{provider}/origin={origin}"),
        None => format!("shannon/provider-key/{user_id}/{provider}"),
    }
}

/// Associated data for a plugin-wide secret.
pub fn secret_aad(name: &str) -> String {
    format!("shannon/secret/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn km() -> KeyManager {
        KeyManager::new(&MasterKey::generate())
    }

    #[test]
    fn seal_open_roundtrip_and_fresh_nonces() {
        let k = km();
        let a = k.seal(b"sk-secret", "aad").unwrap();
        let b = k.seal(b"sk-secret", "aad").unwrap();
        assert_ne!(a, b, "same plaintext twice must give different ciphertexts");
        assert_eq!(&*k.open(&a, "aad").unwrap(), b"sk-secret");
    }

    #[test]
    fn tampering_wrong_aad_wrong_key_and_truncation_fail_cleanly() {
        let k = km();
        let blob = k
            .seal(b"sk-secret", "shannon/provider-key/u/openai")
            .unwrap();
        for i in 0..blob.len() {
            let mut t = blob.clone();
            t[i] ^= 0x01;
            let err = k.open(&t, "shannon/provider-key/u/openai").unwrap_err();
            assert!(
                matches!(err, ShannonError::Decryption(_)),
                "byte {i}: {err:?}"
            );
        }
        assert_eq!(
            k.open(&blob, "shannon/provider-key/u/anthropic")
                .unwrap_err()
                .code(),
            "decryption"
        );
        assert_eq!(
            km().open(&blob, "shannon/provider-key/u/openai")
                .unwrap_err()
                .code(),
            "decryption"
        );
        assert_eq!(k.open(&blob[..10], "x").unwrap_err().code(), "decryption");
        assert_eq!(k.open(&[], "x").unwrap_err().code(), "decryption");
    }

    #[test]
    fn derived_keys_are_stable_distinct_and_not_the_master_key() {
        let master = MasterKey::generate();
        let config = master.derive("config");
        assert_eq!(*config, *master.derive("config"));
        assert_ne!(*config, *master.derive("other"));
        assert_ne!(*config, *master.0);
        assert_ne!(*config, *MasterKey::generate().derive("config"));
        // A fixed vector (computed with Python's hmac module): HMAC-SHA256(bytes 0..32, "config").
        let fixed = MasterKey::from_hex(&hex::encode((0u8..32).collect::<Vec<_>>())).unwrap();
        assert_eq!(
            hex::encode(*fixed.derive("config")),
            "03054eca8764a901606ba05a9b2fbb511cda459858b4074d4427464f5e9eaab3"
        );
    }

    #[test]
    fn hex_roundtrip_and_constant_time_equality() {
        let k = MasterKey::generate();
        let back = MasterKey::from_hex(&format!(" {}\n", k.to_hex().as_str())).unwrap();
        assert!(k == back);
        assert!(k != MasterKey::generate());
        assert!(MasterKey::from_hex("not hex").is_none());
        assert!(MasterKey::from_hex(&"ab".repeat(31)).is_none());
    }

    #[test]
    fn mask_shows_prefix_and_last_four_only() {
        assert_eq!(mask_key("sk-proj-abcdefghijklmnop1234"), "sk-p****1234");
        assert_eq!(mask_key("short"), "****");
    }

    #[test]
    fn secret_string_is_redacted() {
        let s = SecretString::new("sk-live-abcdef");
        assert_eq!(format!("{s:?}"), "SecretString(***)");
        assert_eq!(format!("{:?}", MasterKey::generate()), "MasterKey(***)");
    }
}
